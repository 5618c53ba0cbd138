"""Real state after the GPU host roles on a fake GPU (nouveau bound, no driver): package host and runfile host."""
import os

import pytest

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

PKG = "llmops-gpu-host-pkg"
RUN = "llmops-gpu-host-run"


def _only(host, name):
    if host.backend.get_hostname() != name:
        pytest.skip("checked on %s" % name)


def test_nouveau_blacklisted_with_modeset_off(host):
    f = host.file("/etc/modprobe.d/blacklist-nouveau.conf")
    assert f.exists and f.user == "root" and f.mode == 0o644
    lines = f.content_string.splitlines()
    assert "blacklist nouveau" in lines and "options nouveau modeset=0" in lines


def test_initramfs_regenerated_once_per_change_not_on_the_idempotent_run(host):
    log = host.file("/var/log/llmops-test-initramfs.log").content_string.splitlines()
    # pkg: after the driver packages and after the blacklist; run: after the installer and after the blacklist
    assert len(log) == 2 and all(line.endswith(" -u") for line in log)


def test_module_exists_for_the_running_kernel(host):
    kernel = host.check_output("uname -r")
    path = {PKG: "updates/dkms/nvidia.ko", RUN: "kernel/drivers/video/nvidia.ko"}[host.backend.get_hostname()]
    assert host.file("/lib/modules/%s/%s" % (kernel, path)).exists


# --- package method ---------------------------------------------------------------------------------------------

def test_cuda_repository_source_and_key(host):
    _only(host, PKG)
    src = host.file("/etc/apt/sources.list.d/cuda-debian12-x86_64.sources").content_string
    assert "URIs: http://127.0.0.1:8080/compute/cuda/repos/debian12/x86_64/" in src
    assert "Suites: /" in src and "Signed-By: /etc/apt/keyrings/cuda-debian12-x86_64.asc" in src
    key = host.file("/etc/apt/keyrings/cuda-debian12-x86_64.asc")
    assert key.exists and "BEGIN PGP PUBLIC KEY BLOCK" in key.content_string


def test_driver_installed_from_the_repository_on_the_pinned_branch(host):
    _only(host, PKG)
    assert host.package("nvidia-open-580").is_installed
    # the repository also has nvidia-persistenced 590.44.01: the branch pin keeps it out
    assert host.package("nvidia-persistenced").version == "580.95.05-1"
    policy = host.check_output("apt-cache policy nvidia-persistenced")
    assert "590.44.01-1" in policy
    pin = host.file("/etc/apt/preferences.d/llmops-nvidia-driver").content_string
    assert "Pin: version 580.*" in pin and "Pin-Priority: 990" in pin


@pytest.mark.parametrize("name", ["nvidia-open-580", "libnvidia-compute-580", "nvidia-persistenced",
                                  "nvidia-fabricmanager-580"])
def test_driver_packages_are_held(host, name):
    _only(host, PKG)
    assert host.check_output("dpkg --get-selections %s" % name).split() == [name, "hold"]


def test_toolkit_is_not_held(host):
    _only(host, PKG)
    assert host.check_output("dpkg --get-selections cuda-toolkit-13-0").split() == ["cuda-toolkit-13-0", "install"]


def test_persistenced_and_fabric_manager_enabled_but_not_started_before_the_reboot(host):
    _only(host, PKG)
    for unit in ("nvidia-persistenced", "nvidia-fabricmanager"):
        svc = host.service(unit)
        assert svc.is_enabled and not svc.is_running


# --- runfile method ---------------------------------------------------------------------------------------------

def test_driver_runfile_ran_once_with_the_data_options(host):
    _only(host, RUN)
    args = host.file("/var/log/llmops-test-nvidia-installer.args").content_string.splitlines()
    # once (idempotence run and the bad-checksum side effect did not run it), nouveau still loaded
    assert args == ["--silent --dkms --kernel-module-type=open --no-nouveau-check"]
    assert host.file("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.580.95.05").exists
    assert host.file("/var/cache/llmops/nvidia/NVIDIA-Linux-x86_64-580.95.05.run").mode == 0o700


def test_bad_checksum_runfile_was_not_kept(host):
    _only(host, RUN)
    assert not host.file("/var/cache/llmops/nvidia-bad/NVIDIA-Linux-x86_64-580.105.08.run").exists


def test_cuda_runfile_toolkit_only(host):
    _only(host, RUN)
    args = host.file("/var/log/llmops-test-cuda-installer.args").content_string.splitlines()
    assert args == ["--toolkit --silent --override --toolkitpath=/usr/local/cuda-13.0"]


def test_runfile_host_has_no_driver_packages_and_no_apt_pin(host):
    _only(host, RUN)
    assert not host.package("nvidia-open-580").is_installed
    assert not host.file("/etc/apt/preferences.d/llmops-nvidia-driver").exists


# --- toolkit (both) ---------------------------------------------------------------------------------------------

def test_nvcc_on_path_for_login_shells(host):
    out = host.check_output("bash -lc 'command -v nvcc && nvcc --version && echo CUDA_HOME=$CUDA_HOME'")
    assert "/usr/local/cuda-13.0/bin/nvcc" in out and "release 13.0" in out
    assert "CUDA_HOME=/usr/local/cuda-13.0" in out


def test_linker_path_for_the_toolkit(host):
    f = host.file("/etc/ld.so.conf.d/cuda-toolkit.conf")
    assert f.mode == 0o644 and "/usr/local/cuda-13.0/lib64" in f.content_string.splitlines()
