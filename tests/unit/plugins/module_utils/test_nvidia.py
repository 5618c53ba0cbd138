"""Decisions of the GPU host roles (nouveau, nvidia_driver, cuda_toolkit), fed with real gpu_info results.

The GPU states come from the real host snapshots the gpu_info probe is tested with (../shared/fixtures/host/h200-fc,
tests/unit/fixtures/sysroot/*.json) run through the real probe, so the roles decide on what the module returns.
"""
import os

import pytest

from ansible_collections.llmops.vllm_stack.plugins.module_utils import _gpu_probe as gp
from ansible_collections.llmops.vllm_stack.plugins.module_utils import _nvidia as nv
from ansible_collections.llmops.vllm_stack.tests.unit.fixtures import sysroot

from conftest import SHARED

HOST_TXT = os.path.join(SHARED, "fixtures", "host", "h200-fc", "host.txt")
UPSTREAM = "https://developer.download.nvidia.com/compute/cuda/repos"
UBUNTU_2404 = {"os_family": "Debian", "distribution": "Ubuntu", "distribution_version": "24.04",
               "distribution_major_version": "24", "architecture": "x86_64", "kernel": "6.8.0-45-generic"}
DEBIAN_12 = {"os_family": "Debian", "distribution": "Debian", "distribution_version": "12.8",
             "distribution_major_version": "12", "architecture": "x86_64", "kernel": "6.1.0-28-amd64"}
ROCKY_9 = {"os_family": "RedHat", "distribution": "Rocky", "distribution_version": "9.5",
           "distribution_major_version": "9", "architecture": "x86_64", "kernel": "5.14.0-503.14.1.el9_5.x86_64"}
RHEL_10 = {"os_family": "RedHat", "distribution": "RedHat", "distribution_version": "10.0",
           "distribution_major_version": "10", "architecture": "aarch64", "kernel": "6.12.0-55.el10.aarch64"}
RUNFILE = "https://us.download.nvidia.com/tesla/580.105.08/NVIDIA-Linux-x86_64-580.105.08.run"
SHA = "sha256:" + "ab" * 32


@pytest.fixture
def h200(tmp_path):
    """gpu_info on the H200 Firecracker host: R580 open module loaded, no EFI."""
    sys_path, proc_path = sysroot.build(sysroot.from_host_txt(HOST_TXT), tmp_path)
    return gp.collect(sys_path, proc_path, nvml_mode="skip")


@pytest.fixture
def rtx_nouveau(tmp_path):
    """gpu_info on a GeForce host before the driver: nouveau bound, Secure Boot enabled."""
    sys_path, proc_path = sysroot.build(sysroot.load_spec("rtx2080ti-nouveau"), tmp_path)
    return gp.collect(sys_path, proc_path, nvml_mode="skip")


@pytest.fixture
def hgx(tmp_path):
    """gpu_info on an 8-GPU HGX board: R535 proprietary loaded, 4 NVSwitches."""
    sys_path, proc_path = sysroot.build(sysroot.load_spec("hgx-h100-nvswitch"), tmp_path)
    return gp.collect(sys_path, proc_path, nvml_mode="skip")


def _driver(gpu, host=None, **kw):
    params = dict(host or UBUNTU_2404, branch="580", method="package", module_type="open", build="auto", repo_base_url=UPSTREAM,
                  runfile_options=["--silent", "--dkms"], gpu=gpu)
    params.update(kw)
    return nv.driver_plan(params)


def _toolkit(gpu, host=None, **kw):
    params = dict(host or UBUNTU_2404, version="13.0", method="package", repo_base_url=UPSTREAM, gpu=gpu)
    params.update(kw)
    return nv.toolkit_plan(params)


# --- GPU state from real probes ---------------------------------------------------------------------------------

def test_h200_state_reads_the_loaded_open_r580_driver(h200):
    state = nv.gpu_state(h200)
    assert state["nvidia_gpu_present"] and state["nvidia_driver_loaded"] and state["nvidia_bound"]
    assert (state["driver_version"], state["driver_branch"], state["kernel_module_type"]) == ("580.159.04", 580, "open")
    assert state["secure_boot"] is False  # no EFI on the VM: "unsupported" means no Secure Boot to satisfy
    assert not state["nouveau_loaded"] and not state["nvswitch_present"]
    assert nv.gpus_visible(state)


def test_geforce_state_reads_nouveau_and_secure_boot(rtx_nouveau):
    state = nv.gpu_state(rtx_nouveau)
    assert state["nouveau_loaded"] and not state["nvidia_driver_loaded"]
    assert state["secure_boot"] is True and state["driver_version"] == "" and state["gpus_bound_to"] == ["nouveau"]


def test_hgx_state_reads_nvswitch_and_proprietary_module(hgx):
    state = nv.gpu_state(hgx)
    assert state["nvswitch_present"] and state["gpu_count"] == 8
    assert (state["driver_branch"], state["kernel_module_type"]) == (535, "proprietary")


@pytest.mark.parametrize("value, expected", [("enabled", True), ("disabled", False), ("unsupported", False),
                                             ("unknown", None), (True, True), (None, None)])
def test_secure_boot_states_map_to_true_false_or_unknown(value, expected):
    assert nv.gpu_state({"secure_boot": value, "gpu_count": 1})["secure_boot"] is expected


def test_injected_state_wrapped_under_gpu_info_is_accepted():
    state = nv.gpu_state({"gpu_info": {"nvidia_gpu_present": True, "gpu_count": 2, "nouveau_loaded": True,
                                       "nvidia_driver_loaded": False, "secure_boot": "disabled"}})
    assert state["nouveau_loaded"] and state["gpu_count"] == 2 and state["driver_version"] == ""


@pytest.mark.parametrize("state, visible", [
    ({"pci_gpu_count": 8, "nvml_gpu_count": 8}, True),
    ({"pci_gpu_count": 8, "nvml_gpu_count": 7}, False),     # a GPU fell off the bus
    ({"pci_gpu_count": 0, "gpu_count": 1}, True),            # sysfs hidden (sandbox): the driver's count
    ({"pci_gpu_count": 2, "nvml_gpu_count": None, "gpu_count": 2}, True),
])
def test_every_pci_gpu_must_answer_through_the_driver(state, visible):
    assert nv.gpus_visible(state) is visible


# --- versions and names -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["580", "550", 570, " 590 "])
def test_branch_numbers_are_accepted(value):
    assert nv.branch_error(value) == ""


@pytest.mark.parametrize("value, why", [
    ("580.105.08", "not a driver branch"), ("latest", "not a driver branch"), ("R580", "not a driver branch"),
    ("58", "not a driver branch"), ("", "not a driver branch"), (None, "not a driver branch"),
    (True, "not a driver branch"), ("440", "older than R450"),
])
def test_unknown_branch_formats_are_refused(value, why):
    assert why in nv.branch_error(value)


@pytest.mark.parametrize("url, version", [
    (RUNFILE, "580.105.08"),
    ("file:///srv/NVIDIA-Linux-aarch64-570.195.03.run", "570.195.03"),
    ("https://cn.download.nvidia.com/tesla/550.144.03/NVIDIA-Linux-x86_64-550.144.03.run", "550.144.03"),
    ("https://example.com/driver.run", ""),
])
def test_driver_version_is_read_from_the_runfile_name(url, version):
    assert nv.runfile_driver_version(url) == version


@pytest.mark.parametrize("url, cuda, bundled", [
    ("https://developer.download.nvidia.com/compute/cuda/12.4.0/local_installers/cuda_12.4.0_550.54.14_linux.run",
     "12.4", "550.54.14"),
    ("https://developer.download.nvidia.com/compute/cuda/11.8.0/local_installers/cuda_11.8.0_520.61.05_linux.run",
     "11.8", "520.61.05"),
    ("file:///srv/cuda_13.0.2_580.95.05_linux_sbsa.run", "13.0", "580.95.05"),
])
def test_cuda_version_is_read_from_the_seed_runfile_names(url, cuda, bundled):
    assert nv.runfile_cuda_version(url) == (cuda, bundled)


@pytest.mark.parametrize("text, release", [
    ("nvcc: NVIDIA (R) Cuda compiler driver\nCopyright (c) 2005-2024 NVIDIA Corporation\n"
     "Built on Tue_Feb_27_16:19:38_PST_2024\nCuda compilation tools, release 12.4, V12.4.99\n"
     "Build cuda_12.4.r12.4/compiler.33961263_0", "12.4"),   # seed 000
    ("Cuda compilation tools, release 11.8, V11.8.89\nBuild cuda_11.8.r11.8/compiler.31833905_0", "11.8"),  # seed 001
    ("bash: nvcc: command not found", ""),
])
def test_nvcc_release_is_read_from_its_banner(text, release):
    assert nv.parse_nvcc_version(text) == release


@pytest.mark.parametrize("kernel, flavour", [("6.8.0-45-generic", "generic"), ("6.8.0-1015-nvidia-64k", "nvidia-64k"),
                                             ("6.18.44-fc-v657-gpu", ""), ("5.15.0-125-lowlatency", "lowlatency")])
def test_ubuntu_kernel_flavour(kernel, flavour):
    assert nv.kernel_flavour(kernel) == flavour


@pytest.mark.parametrize("installed, running, expected", [
    (["6.8.0-45-generic", "6.8.0-49-generic"], "6.8.0-45-generic", ["6.8.0-45-generic", "6.8.0-49-generic"]),
    (["6.8.0-45-generic"], "6.8.0-45-generic", ["6.8.0-45-generic"]),
    (["5.14.0-503.14.1.el9_5.x86_64", "5.14.0-427.13.1.el9_4.x86_64"], "5.14.0-503.14.1.el9_5.x86_64",
     ["5.14.0-503.14.1.el9_5.x86_64"]),
    (["6.1.0-28-amd64", "6.1.0-9-amd64", "6.1.0-30-amd64"], "6.1.0-9-amd64", ["6.1.0-9-amd64", "6.1.0-30-amd64"]),
])
def test_module_is_checked_for_the_running_and_the_newer_installed_kernel(installed, running, expected):
    assert nv.kernels_to_check(installed, running) == expected


# --- repositories -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("host, distro, arch, key", [
    (UBUNTU_2404, "ubuntu2404", "x86_64", "3bf863cc.pub"),
    (dict(UBUNTU_2404, distribution_version="22.04"), "ubuntu2204", "x86_64", "3bf863cc.pub"),
    (DEBIAN_12, "debian12", "x86_64", "3bf863cc.pub"),
    (dict(DEBIAN_12, distribution_version="13.1"), "debian13", "x86_64", "3bf863cc.pub"),
    (ROCKY_9, "rhel9", "x86_64", "D42D0685.pub"),
    (RHEL_10, "rhel10", "sbsa", "D42D0685.pub"),
    (dict(ROCKY_9, distribution="AlmaLinux", distribution_version="10.0"), "rhel10", "x86_64", "D42D0685.pub"),
])
def test_cuda_repository_url_per_distribution(host, distro, arch, key):
    repo = nv.cuda_repo(host["distribution"], host["distribution_version"], host["architecture"],
                        UPSTREAM + "/", host["os_family"])
    assert repo["url"] == "%s/%s/%s/" % (UPSTREAM, distro, arch)
    assert repo["key_url"] == repo["url"] + key
    assert repo["name"] == "cuda-%s-%s" % (distro, arch)


@pytest.mark.parametrize("distribution, version, arch, base, why", [
    ("Ubuntu", "20.04", "x86_64", UPSTREAM, "no NVIDIA CUDA repository"),
    ("Debian", "11", "x86_64", UPSTREAM, "no NVIDIA CUDA repository"),
    ("Ubuntu", "24.04", "ppc64le", UPSTREAM, "architecture ppc64le"),
    ("Ubuntu", "24.04", "x86_64", "developer.download.nvidia.com", r"not an http\(s\):// or file://"),
])
def test_hosts_without_a_cuda_repository_are_refused(distribution, version, arch, base, why):
    with pytest.raises(ValueError, match=why):
        nv.cuda_repo(distribution, version, arch, base, "Debian")


# --- driver/CUDA compatibility ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cuda, kw, ok, minimum", [
    ("13.0", {"driver_version": "580.159.04"}, True, "580.65.06"),     # the H200 host
    ("13.0", {"driver_version": "575.64.05"}, False, "580.65.06"),
    ("12.4", {"driver_version": "550.144.03"}, True, "550.54.14"),     # seed 000
    ("12.4", {"driver_version": "550.40.07"}, False, "550.54.14"),     # a 550 older than 12.4's GA driver
    ("12.8", {"driver_version": "550.144.03"}, False, "570.26"),
    ("11.8", {"driver_version": "580.105.08"}, True, "520.61.05"),     # seed 001: old toolkit, new driver
    ("12.8", {"driver_branch": "570"}, True, "570.26"),
    ("13.0", {"driver_branch": "570"}, False, "580.65.06"),
    ("13.0", {"driver_cuda": "12.8"}, False, "580.65.06"),
    ("12.6", {"driver_cuda": "13.0"}, True, "560.28.03"),
])
def test_toolkit_against_driver_uses_the_ga_minimum(cuda, kw, ok, minimum):
    check = nv.cuda_driver_check(cuda, **kw)
    assert (check["ok"], check["minimum_driver"]) == (ok, minimum)
    if not ok:
        assert minimum in check["reason"] and "R%s" % minimum.split(".")[0] in check["reason"]


def test_minor_version_compatibility_accepts_a_newer_minor_on_the_same_major():
    assert nv.cuda_driver_check("12.8", driver_version="550.144.03", policy="minor")["ok"] is True
    check = nv.cuda_driver_check("13.0", driver_version="570.86.15", policy="minor")
    assert check["ok"] is False and check["minimum_driver"] == "580.65.06"


def test_a_minor_newer_than_the_table_needs_at_least_the_newest_known_minimum():
    check = nv.cuda_driver_check("13.2", driver_version="575.51.03")
    assert check["ok"] is False and check["minimum_driver"] == "580.65.06"


def test_unknown_cuda_major_is_refused():
    assert nv.cuda_driver_check("14.0", driver_version="600.1.2")["ok"] is False


def test_no_driver_known_is_not_a_yes():
    assert nv.cuda_driver_check("13.0")["ok"] is None


# --- runfile arguments ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("branch, module_type, nouveau, expected", [
    (580, "open", False, ["--silent", "--dkms", "--kernel-module-type=open"]),
    (580, "proprietary", True, ["--silent", "--dkms", "--kernel-module-type=proprietary", "--no-nouveau-check"]),
    (550, "open", False, ["--silent", "--dkms", "-m=kernel-open"]),     # seed 000's 550.144.03
    (535, "proprietary", False, ["--silent", "--dkms"]),
])
def test_driver_runfile_arguments(branch, module_type, nouveau, expected):
    assert nv.driver_runfile_args(["--silent", "--dkms"], module_type, branch, nouveau_loaded=nouveau) == expected


def test_driver_runfile_signing_options_are_appended():
    args = nv.driver_runfile_args(["--silent"], "open", 580, signing_key="/root/mok.key", signing_cert="/root/mok.der")
    assert args[-2:] == ["--module-signing-secret-key=/root/mok.key", "--module-signing-public-key=/root/mok.der"]


def test_cuda_runfile_toolkit_only_with_path_and_never_the_driver():
    assert nv.cuda_runfile_args(["--toolkit", "--silent", "--override"], "/usr/local/cuda-13.0") == [
        "--toolkit", "--silent", "--override", "--toolkitpath=/usr/local/cuda-13.0"]
    with pytest.raises(ValueError, match="--driver"):
        nv.cuda_runfile_args(["--driver", "--toolkit"])


# --- nvidia_driver plan -----------------------------------------------------------------------------------------

def test_installed_driver_path_on_the_h200_host_changes_nothing(h200):
    plan = _driver(h200)
    assert plan["errors"] == [] and plan["warnings"] == []
    assert (plan["present"], plan["present_source"], plan["action"]) == (True, "loaded", "none")
    assert plan["secure_boot"]["path"] == "off"


def test_a_different_loaded_branch_means_install_and_a_warning(h200):
    plan = _driver(h200, branch="590")
    assert plan["action"] == "install" and plan["other_branch_loaded"]
    assert any("takes effect after a reboot" in w for w in plan["warnings"])
    assert plan["naming"] == "unsuffixed"


def test_exact_version_pin_is_compared_too(h200):
    assert _driver(h200, version="580.159.04")["present"]
    assert _driver(h200, version="580.105.08")["action"] == "install"


def test_loaded_proprietary_driver_when_open_is_wanted_warns_instead_of_reinstalling(hgx):
    plan = _driver(hgx, branch="535")
    assert plan["present"] and any("switching flavours" in w for w in plan["warnings"])


def test_installed_but_not_loaded_counts_as_present(rtx_nouveau):
    plan = _driver(dict(rtx_nouveau, secure_boot="disabled"), installed_version="580.95.05", host=DEBIAN_12)
    assert (plan["present"], plan["present_source"]) == (True, "installed")


@pytest.mark.parametrize("host, kw, flavor, stream, repo", [
    (DEBIAN_12, {}, "open_dkms", "", "debian12"),
    (UBUNTU_2404, {"module_type": "proprietary"}, "proprietary_dkms", "", "ubuntu2404"),
    (ROCKY_9, {}, "open_dkms", "580-open", "rhel9"),
    (ROCKY_9, {"module_type": "proprietary"}, "proprietary_dkms", "580-dkms", "rhel9"),
    (ROCKY_9, {"module_type": "proprietary", "build": "precompiled"}, "proprietary_precompiled", "580", "rhel9"),
    (RHEL_10, {}, "open_dkms", "", "rhel10"),
])
def test_flavor_stream_and_repository_per_distribution(rtx_nouveau, host, kw, flavor, stream, repo):
    plan = _driver(dict(rtx_nouveau, secure_boot="disabled"), host=host, **kw)
    assert plan["errors"] == []
    assert (plan["flavor"], plan["dnf_stream"], plan["repo"]["distro"]) == (flavor, stream, repo)


def test_ubuntu_under_secure_boot_uses_canonical_signed_precompiled_modules(rtx_nouveau):
    plan = _driver(rtx_nouveau)   # Secure Boot enabled in this snapshot
    assert plan["errors"] == []
    assert (plan["build"], plan["flavor"], plan["secure_boot"]["path"]) == ("precompiled", "open_precompiled",
                                                                            "precompiled-signed")
    assert plan["repo"] == {} and plan["flavour"] == "generic"


def test_debian_dkms_under_secure_boot_without_enrolled_key_gives_the_mok_steps(rtx_nouveau):
    plan = _driver(rtx_nouveau, host=DEBIAN_12, mok_key="/var/lib/dkms/mok.pub", mok_enrolled=False)
    assert any("mokutil --import /var/lib/dkms/mok.pub" in e and "Enroll MOK" in e for e in plan["errors"])
    ok = _driver(rtx_nouveau, host=DEBIAN_12, mok_key="/var/lib/dkms/mok.pub", mok_enrolled=True)
    assert ok["errors"] == [] and ok["secure_boot"]["path"] == "dkms-mok"


def test_runfile_with_secure_boot_and_no_signing_key_is_refused_naming_the_variables(rtx_nouveau):
    plan = _driver(rtx_nouveau, method="runfile", runfile_url=RUNFILE, runfile_checksum=SHA)
    assert any("nvidia_driver_runfile_signing_key" in e and "nvidia_driver_method=runfile" in e
               for e in plan["errors"])
    signed = _driver(rtx_nouveau, method="runfile", runfile_url=RUNFILE, runfile_checksum=SHA,
                     runfile_signing_key="/root/mok.key", runfile_signing_cert="/root/mok.der")
    assert signed["errors"] == [] and signed["secure_boot"]["path"] == "runfile-signed"


@pytest.mark.parametrize("kw, needle", [
    ({"branch": "580.105.08"}, "nvidia_driver_branch='580.105.08'"),
    ({"branch": "latest"}, "nvidia_driver_branch='latest'"),
    ({"method": "runfile", "runfile_url": RUNFILE}, "nvidia_driver_runfile_checksum: no checksum"),
    ({"method": "runfile", "runfile_url": RUNFILE, "runfile_checksum": "md5:abc"}, "nvidia_driver_runfile_checksum"),
    ({"method": "runfile", "runfile_checksum": SHA}, "needs nvidia_driver_runfile_url"),
    ({"method": "runfile", "runfile_url": "https://x/driver.run", "runfile_checksum": SHA}, "set nvidia_driver_version"),
    ({"method": "runfile", "runfile_url": RUNFILE, "runfile_checksum": SHA, "branch": "570"},
     "nvidia_driver_version='580.105.08': 580.105.08 is not in branch 570"),
    ({"branch": "470", "module_type": "open"}, "nvidia_driver_kernel_module_type=open"),
    ({"build": "precompiled"}, "nvidia_driver_kernel_module_build=precompiled"),
])
def test_bad_driver_inputs_are_refused_with_the_variable_named(rtx_nouveau, kw, needle):
    plan = _driver(dict(rtx_nouveau, secure_boot="disabled"), host=DEBIAN_12, **kw)
    assert any(needle in e for e in plan["errors"]), plan["errors"]


def test_runfile_plan_builds_arguments_and_adds_no_nouveau_check_while_nouveau_is_loaded(rtx_nouveau):
    plan = _driver(dict(rtx_nouveau, secure_boot="disabled"), host=DEBIAN_12, method="runfile", runfile_url=RUNFILE,
                   runfile_checksum=SHA)
    assert plan["errors"] == []
    assert plan["runfile_args"] == ["--silent", "--dkms", "--kernel-module-type=open", "--no-nouveau-check"]
    assert (plan["runfile_name"], plan["version"], plan["build"]) == ("NVIDIA-Linux-x86_64-580.105.08.run",
                                                                      "580.105.08", "dkms")


# --- cuda_toolkit plan ------------------------------------------------------------------------------------------

def test_toolkit_13_on_the_h200_host_passes_the_driver_check(h200):
    plan = _toolkit(h200, installed_version="13.0")
    assert plan["errors"] == [] and plan["driver_check"]["ok"] and plan["driver_check"]["source"] == "the loaded driver"
    assert (plan["present"], plan["action"], plan["home"]) == (True, "none", "/usr/local/cuda-13.0")


def test_toolkit_newer_than_the_loaded_driver_is_refused_naming_the_minimum(hgx):
    plan = _toolkit(hgx, version="12.8")      # R535 loaded
    assert len(plan["errors"]) == 1
    err = plan["errors"][0]
    assert "cuda_toolkit_version=12.8" in err and "570.26" in err and 'nvidia_driver_branch: "570"' in err


def test_toolkit_checks_against_the_branch_nvidia_driver_just_installed(rtx_nouveau):
    assert _toolkit(rtx_nouveau, planned_driver_branch="580", driver_reboot_pending=True)["errors"] == []
    plan = _toolkit(rtx_nouveau, planned_driver_branch="570", driver_reboot_pending=True)
    assert "580.65.06" in plan["errors"][0]


def test_toolkit_without_any_driver_is_refused_unless_the_check_is_off(rtx_nouveau):
    assert "no NVIDIA driver found" in _toolkit(rtx_nouveau)["errors"][0]
    assert _toolkit(rtx_nouveau, driver_check=False)["errors"] == []


def test_explicit_driver_version_wins_over_the_probe(h200):
    plan = _toolkit(h200, driver_version="570.86.15")
    assert plan["driver_check"]["source"] == "cuda_toolkit_driver_version" and plan["errors"]


@pytest.mark.parametrize("kw, needle", [
    ({"version": "13"}, "cuda_toolkit_version='13'"),
    ({"version": "cuda-13.0"}, "cuda_toolkit_version='cuda-13.0'"),
    ({"method": "runfile", "runfile_url": "https://x/cuda_13.0.2_580.95.05_linux.run"}, "cuda_toolkit_runfile_checksum"),
    ({"method": "runfile", "runfile_checksum": SHA}, "needs cuda_toolkit_runfile_url"),
    ({"method": "runfile", "runfile_url": "https://x/cuda_12.4.0_550.54.14_linux.run", "runfile_checksum": SHA},
     "is CUDA 12.4 but cuda_toolkit_version is 13.0"),
    ({"method": "runfile", "runfile_url": "https://x/cuda_13.0.2_580.95.05_linux.run", "runfile_checksum": SHA,
      "runfile_options": ["--driver", "--silent"]}, "cuda_toolkit_runfile_options"),
])
def test_bad_toolkit_inputs_are_refused_with_the_variable_named(h200, kw, needle):
    plan = _toolkit(h200, **kw)
    assert any(needle in e for e in plan["errors"]), plan["errors"]


def test_toolkit_runfile_plan(h200):
    plan = _toolkit(h200, method="runfile", runfile_url="file:///srv/cuda_13.0.2_580.95.05_linux.run",
                    runfile_checksum=SHA, runfile_options=["--toolkit", "--silent", "--override"])
    assert plan["errors"] == [] and plan["runfile_name"] == "cuda_13.0.2_580.95.05_linux.run"
    assert plan["runfile_args"][-1] == "--toolkitpath=/usr/local/cuda-13.0"


# --- nothing to install: host-dependent checks do not block --------------------------------------------------------

ARCH_LINUX = {"os_family": "Archlinux", "distribution": "Archlinux", "distribution_version": "rolling",
              "distribution_major_version": "rolling", "architecture": "x86_64", "kernel": "6.12.1-arch1-1"}


def test_loaded_driver_on_a_host_without_repository_data_needs_nothing(h200):
    assert _driver(h200, host=ARCH_LINUX)["errors"] == []
    plan = _driver(h200, host=ARCH_LINUX, branch="590")
    assert any("not supported for installs" in e for e in plan["errors"])


def test_input_errors_are_refused_even_when_the_driver_is_present(h200):
    plan = _driver(h200, method="runfile", runfile_url=RUNFILE)
    assert any("nvidia_driver_runfile_checksum" in e for e in plan["errors"])


def test_present_toolkit_with_an_old_driver_is_a_warning_not_an_install_refusal(hgx):
    plan = _toolkit(hgx, version="12.8", installed_version="12.8")
    assert plan["errors"] == [] and any("570.26" in w for w in plan["warnings"])
