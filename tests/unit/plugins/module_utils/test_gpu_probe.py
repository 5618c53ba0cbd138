# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The GPU probe against real host snapshots: ../shared/fixtures/host/h200-fc (sysfs, procfs, nvidia-smi -q -x,
nvidia-smi --query-gpu) and ../shared/fixtures/nvml/h200x2.json (NVML calls of a 2xH200 host)."""
import copy
import csv
import io
import json
import os
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.llmops.vllm_stack.plugins.module_utils import _gpu_probe as gp
from ansible_collections.llmops.vllm_stack.tests.unit.fixtures import sysroot
from ansible_collections.llmops.vllm_stack.tests.unit.fixtures.fake_pynvml import FakeNVML

from conftest import SHARED

HOST = os.path.join(SHARED, "fixtures", "host", "h200-fc")
NVML_H200X2 = os.path.join(SHARED, "fixtures", "nvml", "h200x2.json")


def _snapshot():
    with open(NVML_H200X2, encoding="utf-8") as handle:
        return json.load(handle)


def _smi_xml():
    return ET.parse(os.path.join(HOST, "nvidia-smi-q.xml")).getroot()


def _smi_query_csv():
    with open(os.path.join(HOST, "nvidia-smi-query.csv"), encoding="utf-8") as handle:
        rows = list(csv.reader(handle, skipinitialspace=True))
    return dict(zip(rows[0], rows[1]))


def _h200x2_sysroot(tmp_path, snap):
    """sysfs/procfs of the 2xH200 host, built from what its NVML snapshot recorded."""
    files, links = {}, {}
    for dev in snap["devices"]:
        bus = gp.normalize_bus_id(dev["pci"]["busId"])
        f, lnk = sysroot.pci_function(bus, "0x%04x" % (dev["pci"]["pciDeviceId"] >> 16), "0x030200",
                                      "0x10de:0x%04x" % (dev["pci"]["pciSubSystemId"] >> 16), -1, "nvidia")
        files.update(f)
        links.update(lnk)
    files["proc/driver/nvidia/version"] = snap["proc_driver_version"]
    files["proc/modules"] = "nvidia_uvm 1 0 - Live 0x0\nnvidia 1 0 - Live 0x0\n"
    return sysroot.build({"files": files, "symlinks": links}, tmp_path)


@pytest.fixture
def h200_fc(tmp_path):
    return sysroot.build(sysroot.from_host_txt(os.path.join(HOST, "host.txt")), tmp_path)


# ------------------------------------------------------------------------------------------------ sysfs
def test_sysfs_probe_agrees_with_nvidia_smi_on_the_h200_host(h200_fc):
    sys_path, proc_path = h200_fc
    xml = _smi_xml()
    gpu = xml.find("gpu")
    result = gp.probe_system(sys_path, proc_path)

    (dev,) = result["pci_devices"]
    assert dev["kind"] == "gpu" and dev["index"] == 0
    assert dev["bus_id"] == gp.normalize_bus_id(gpu.findtext("pci/pci_bus_id"))
    assert dev["device_id"] == "0x" + gpu.findtext("pci/pci_device_id")[:4].lower()
    assert dev["subsystem_id"] == "0x10de:0x" + gpu.findtext("pci/pci_sub_system_id")[:4].lower()
    assert dev["class_id"] == "0x%02x%02x" % (int(gpu.findtext("pci/pci_base_class")),
                                              int(gpu.findtext("pci/pci_sub_class")))
    assert dev["link_width"] == int(gpu.findtext("pci/pci_gpu_link_info/link_widths/max_link_width").rstrip("x"))
    assert dev["driver"] == "nvidia" and dev["numa_node"] is None
    assert result["kernel_driver"]["version"] == xml.findtext("driver_version") == "580.159.04"
    assert result["kernel_driver"]["kernel_module"] == "open"
    assert result["kernel"]["release"] == "6.18.44-fc-v657-gpu"
    assert result["secure_boot"] == "unsupported"  # host.txt: no /sys/firmware/efi
    (info,) = result["driver_gpus"]
    assert info["uuid"] == gpu.findtext("uuid") == _smi_query_csv()["uuid"]
    assert info["model"] == gpu.findtext("product_name") == _smi_query_csv()["name"]
    assert info["minor_number"] == int(gpu.findtext("minor_number"))
    assert result["nvidia_driver_loaded"] and not result["nouveau_loaded"]
    assert not result["nvswitch_present"]


def test_geforce_before_the_driver_reports_nouveau_every_function_and_secure_boot(tmp_path):
    sys_path, proc_path = sysroot.build(sysroot.load_spec("rtx2080ti-nouveau"), tmp_path)
    fake = FakeNVML.from_file(NVML_H200X2)
    result = gp.collect(sys_path, proc_path, nvml=fake)
    kinds = {dev["bus_id"]: (dev["kind"], dev["driver"]) for dev in result["pci_devices"]}
    assert kinds == {"0000:01:00.0": ("gpu", "nouveau"), "0000:01:00.1": ("audio", "snd_hda_intel"),
                     "0000:01:00.2": ("usb", "xhci_hcd"), "0000:01:00.3": ("serial_bus", "nvidia-gpu")}
    assert result["gpu_count"] == 1 and result["nvidia_gpu_present"]
    assert result["nouveau_loaded"] and not result["nvidia_driver_loaded"]
    assert result["gpus_bound_to"] == ["nouveau"]
    assert result["secure_boot"] == "enabled"
    assert result["driver_version"] is None
    assert result["nvml"]["available"] is False
    assert "not loaded" in result["nvml"]["reason"]
    assert fake.calls == []  # auto mode never touches NVML without the driver


def test_hgx_baseboard_reports_nvswitches_proprietary_module_and_numa(tmp_path):
    sys_path, proc_path = sysroot.build(sysroot.load_spec("hgx-h100-nvswitch"), tmp_path)
    result = gp.collect(sys_path, proc_path, nvml=None, nvml_import_error="No module named 'pynvml'")
    gpus = [d for d in result["pci_devices"] if d["kind"] == "gpu"]
    assert [g["index"] for g in gpus] == list(range(8))
    assert [g["bus_id"] for g in gpus] == sorted(g["bus_id"] for g in gpus)
    assert [g["numa_node"] for g in gpus] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert result["nvswitch_present"] and result["nvswitch_count"] == 4
    assert result["kernel_driver"] == {
        "version": "535.230.02", "kernel_module": "proprietary",
        "nvrm": "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.230.02  Fri Nov 29 20:34:46 UTC 2024",
        "gcc": "gcc version 11.4.0 (Ubuntu 11.4.0-1ubuntu1~22.04)"}
    assert result["secure_boot"] == "disabled"
    assert result["gpu_count"] == 8
    assert "not importable" in result["nvml"]["reason"]
    assert result["kernel_modules"]["nvidia_peermem"] is True


def test_gpu_bound_to_vfio_is_reported_without_a_driver(tmp_path):
    sys_path, proc_path = sysroot.build(sysroot.load_spec("a100-vfio"), tmp_path)
    result = gp.probe_system(sys_path, proc_path)
    assert result["gpus_bound_to"] == ["vfio-pci"]
    assert result["kernel_modules"]["vfio_pci"] and not result["nvidia_driver_loaded"]
    assert result["pci_devices"][0]["numa_node"] == 2


@pytest.mark.parametrize("data, state", [("0600000001", "enabled"), ("0600000000", "disabled"),
                                         (None, "unknown")])
def test_secure_boot_is_the_last_byte_of_the_efi_variable(tmp_path, data, state):
    spec = {"dirs": ["sys/firmware/efi/efivars"]}
    if data:
        spec["hex_files"] = {"sys/firmware/efi/efivars/" + gp.SECURE_BOOT_VAR: data}
    sys_path, _proc = sysroot.build(spec, tmp_path)
    assert gp.secure_boot_state(sys_path) == state


def test_no_efi_means_secure_boot_unsupported(tmp_path):
    sys_path, _proc = sysroot.build({}, tmp_path)
    assert gp.secure_boot_state(sys_path) == "unsupported"


@pytest.mark.parametrize("text, version, module", [
    (_snapshot()["proc_driver_version"], "580.159.04", "open"),
    ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.144.03  Mon Dec 30 17:44:08 UTC 2024\n", "550.144.03",
     "proprietary"),
    ("NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  570.86.15  Release Build  "
     "(dvs-builder@U16-I3-B03-4-3)  Thu Jan 23 00:47:06 UTC 2025\n", "570.86.15", "open"),
    ("NVRM version: NVIDIA UNIX aarch64 Kernel Module  535.161.08  Tue Mar  5 22:38:10 UTC 2024\n", "535.161.08",
     "proprietary"),
    ("", None, None),
])
def test_proc_driver_version_tells_open_from_proprietary(text, version, module):
    parsed = gp.parse_nvidia_version(text)
    assert (parsed["version"], parsed["kernel_module"]) == (version, module)


@pytest.mark.parametrize("raw, norm", [
    ("00000000:0F:00.0", "0000:0f:00.0"), ("0000:0f:00.0", "0000:0f:00.0"), (b"00000000:DB:00.0", "0000:db:00.0"),
    ("FFFFFFFF:FF:FF.0", None), ("0f:00.0", "0000:0f:00.0"), ("garbage", None), (None, None),
])
def test_bus_ids_from_nvml_and_sysfs_compare_equal(raw, norm):
    assert gp.normalize_bus_id(raw) == norm


@pytest.mark.parametrize("value, text", [(13000, "13.0"), (12040, "12.4"), (12020, "12.2"), (11080, "11.8"),
                                         (None, None)])
def test_cuda_driver_version_as_nvidia_smi_prints_it(value, text):
    assert gp.cuda_version_string(value) == text


# ------------------------------------------------------------------------------------------------- NVML
def test_nvml_probe_of_2xh200_matches_the_hosts_nvidia_smi(tmp_path):
    snap = _snapshot()
    sys_path, proc_path = _h200x2_sysroot(tmp_path, snap)
    result = gp.collect(sys_path, proc_path, nvml_mode="required", nvml=FakeNVML(snap))
    smi = list(csv.reader(io.StringIO(snap["nvidia_smi_csv"]), skipinitialspace=True))
    assert result["gpu_count"] == len(smi) == 2
    assert result["driver_version"] == "580.159.04" and result["cuda_driver_version"] == "13.0"
    for gpu, row in zip(result["gpus"], smi):
        index, name, uuid, total, used, free, driver, cap, bus = row
        assert (gpu["index"], gpu["name"], gpu["uuid"]) == (int(index), name, uuid)
        assert (gpu["memory_total_mib"], gpu["memory_used_mib"], gpu["memory_free_mib"]) == \
            (int(total), int(used), int(free))
        assert gpu["compute_capability"] == cap and gpu["pci_bus_id"] == bus
        assert gpu["memory_reserved"] == 644939776 and gpu["memory_api"] == "v2"
        assert gpu["pci_device_id"] == "0x2335"
        assert gpu["nvlink_active"] == 18
        assert gpu["numa_node"] is None  # NVML said NotSupported
    assert result["nvml"]["nvml_version"] == "13.580.159.04"


def test_nvml_device_fields_match_nvidia_smi_q_of_the_same_gpu_model(tmp_path):
    """Same GPU model, same driver: the modes, power limit and memory total nvidia-smi -q printed on h200-fc."""
    snap = _snapshot()
    sys_path, proc_path = _h200x2_sysroot(tmp_path, snap)
    gpu = gp.collect(sys_path, proc_path, nvml=FakeNVML(snap))["gpus"][0]
    xml = _smi_xml().find("gpu")
    query = _smi_query_csv()
    assert gpu["memory_total_mib"] == int(xml.findtext("fb_memory_usage/total").split()[0])
    assert gpu["persistence_mode"] == xml.findtext("persistence_mode").lower()
    assert gpu["mig_mode_current"] == xml.findtext("mig_mode/current_mig").lower()
    assert gpu["mig_mode_pending"] == xml.findtext("mig_mode/pending_mig").lower()
    assert gpu["ecc_mode_current"] == xml.findtext("ecc_mode/current_ecc").lower()
    assert gpu["ecc_mode_pending"] == xml.findtext("ecc_mode/pending_ecc").lower()
    assert gpu["power_limit_w"] == float(xml.findtext("gpu_power_readings/current_power_limit").split()[0])
    assert gpu["power_limit_w"] == float(query["power.limit [W]"].split()[0])
    assert gpu["compute_capability"] == query["compute_cap"]
    assert gpu["architecture"] == xml.findtext("product_architecture").lower()
    assert gpu["memory_used_mib"] == int(xml.findtext("fb_memory_usage/used").split()[0])


def test_link_matrix_matches_nvidia_smi_topo(tmp_path):
    snap = _snapshot()
    sys_path, proc_path = _h200x2_sysroot(tmp_path, snap)
    result = gp.collect(sys_path, proc_path, nvml=FakeNVML(snap))
    topo = [line.split("\t") for line in snap["nvidia_smi_topo"].splitlines() if line.startswith("GPU")]
    expected = [[cell.strip() if cell.strip() != "X" else "SELF" for cell in row[1:3]] for row in topo]
    assert result["link_matrix"] == expected == [["SELF", "NV18"], ["NV18", "SELF"]]


def test_memory_v1_api_counts_reserved_as_used(tmp_path):
    snap = _snapshot()
    sys_path, proc_path = _h200x2_sysroot(tmp_path, snap)
    gpu = gp.collect(sys_path, proc_path, nvml=FakeNVML(snap, memory_v2=False))["gpus"][0]
    assert gpu["memory_api"] == "v1"
    assert gpu["memory_used"] == 644939776 and gpu["memory_reserved"] is None
    assert gpu["memory_total"] - gpu["memory_free"] == gpu["memory_used"]


@pytest.mark.parametrize("level, label", [(10, "PIX"), (20, "PXB"), (30, "PHB"), (40, "NODE"), (50, "SYS")])
def test_pcie_topology_levels_without_nvlink(tmp_path, level, label):
    snap = _snapshot()
    for i, dev in enumerate(snap["devices"]):
        dev["nvlink"] = {"error": "NVMLError_NotSupported"}
        dev["topology"] = {str(1 - i): level}
    sys_path, proc_path = _h200x2_sysroot(tmp_path, snap)
    result = gp.collect(sys_path, proc_path, nvml=FakeNVML(snap))
    assert result["link_matrix"] == [["SELF", label], [label, "SELF"]]
    assert [g["nvlink_active"] for g in result["gpus"]] == [0, 0]


def test_nvlink_bridge_counts_links_that_end_on_the_other_gpu(tmp_path):
    """A PCIe pair joined by an NVLink bridge: 4 of 12 links active, remote bus id = the partner GPU."""
    snap = _snapshot()
    for i, dev in enumerate(snap["devices"]):
        partner = snap["devices"][1 - i]["pci"]["busId"]
        dev["nvlink"] = [{"link": n, "state": 1 if n < 4 else 0, "remote_bus_id": partner} for n in range(12)]
        dev["p2p_nvlink"] = {str(1 - i): 0}
        dev["topology"] = {str(1 - i): 50}
    sys_path, proc_path = _h200x2_sysroot(tmp_path, snap)
    result = gp.collect(sys_path, proc_path, nvml=FakeNVML(snap))
    assert result["link_matrix"] == [["SELF", "NV4"], ["NV4", "SELF"]]


def test_running_processes_come_with_memory_and_command_line(tmp_path):
    snap = _snapshot()
    snap["devices"][1]["compute_processes"] = [{"pid": 4242, "used_memory": 70 * 2**30, "name": "python3"}]
    sys_path, proc_path = _h200x2_sysroot(tmp_path, snap)
    cmd = ["python3", "-m", "vllm.entrypoints.openai.api_server", "--port", "8000"]
    sysroot.build({"files": {"proc/4242/cmdline": "\x00".join(cmd) + "\x00"}}, tmp_path)
    gpus = gp.collect(sys_path, proc_path, nvml=FakeNVML(snap))["gpus"]
    assert gpus[0]["processes"] == []
    assert gpus[1]["processes"] == [{"pid": 4242, "used_memory": 70 * 2**30, "used_memory_mib": 71680,
                                     "name": "python3", "cmdline": " ".join(cmd)}]


def test_nvml_init_failure_is_reported_in_auto_and_raised_when_required(tmp_path):
    snap = _snapshot()
    sys_path, proc_path = _h200x2_sysroot(tmp_path, snap)
    result = gp.collect(sys_path, proc_path, nvml=FakeNVML(snap, init_error="NVMLError_DriverNotLoaded"))
    assert result["nvml"]["available"] is False
    assert "DriverNotLoaded" in result["nvml"]["reason"]
    assert result["gpu_count"] == 2  # from PCI
    assert result["driver_version"] == "580.159.04"  # from /proc/driver/nvidia/version
    with pytest.raises(gp.NvmlUnavailable, match="DriverNotLoaded"):
        gp.collect(sys_path, proc_path, nvml_mode="required",
                   nvml=FakeNVML(snap, init_error="NVMLError_DriverNotLoaded"))


def test_nvml_skip_reads_sysfs_only(tmp_path):
    snap = _snapshot()
    sys_path, proc_path = _h200x2_sysroot(tmp_path, snap)
    fake = FakeNVML(snap)
    result = gp.collect(sys_path, proc_path, nvml_mode="skip", nvml=fake)
    assert fake.calls == [] and result["gpus"] == [] and result["gpu_count"] == 2


def test_required_nvml_without_driver_raises(tmp_path):
    """required asks NVML even when /proc/modules lacks nvidia (NVML decides), and fails with its answer."""
    sys_path, proc_path = sysroot.build(sysroot.load_spec("rtx2080ti-nouveau"), tmp_path)
    fake = FakeNVML.from_file(NVML_H200X2, init_error="NVMLError_DriverNotLoaded")
    with pytest.raises(gp.NvmlUnavailable, match="DriverNotLoaded"):
        gp.collect(sys_path, proc_path, nvml_mode="required", nvml=fake)
    assert fake.calls == ["nvmlInit"]


def test_nvml_is_shut_down_after_probing(tmp_path):
    snap = copy.deepcopy(_snapshot())
    sys_path, proc_path = _h200x2_sysroot(tmp_path, snap)
    fake = FakeNVML(snap)
    gp.collect(sys_path, proc_path, nvml=fake)
    assert fake.calls[0] == "nvmlInit" and fake.calls[-1] == "nvmlShutdown" and not fake.initialised


# ------------------------------------------------------------------------------ gpu_info output fixtures
def _make_fixtures():
    import importlib.util
    path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "gpu_info", "make_fixtures.py")
    spec = importlib.util.spec_from_file_location("make_gpu_info_fixtures", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_gpu_info_fixtures_are_what_the_probe_returns():
    """tests/fixtures/gpu_info/*.json are regenerated through the probe; rerun make_fixtures.py after a change."""
    make = _make_fixtures()
    for name, data in make.all_fixtures().items():
        with open(os.path.join(make.HERE, name + ".json"), encoding="utf-8") as handle:
            assert handle.read() == make.dumps(data), name


@pytest.mark.parametrize("name, count, model, total_mib, usable_gib, link", [
    ("a10x4", 4, "NVIDIA A10", 23028, 22.19, "PHB"),
    ("rtx2080ti-22g", 1, "NVIDIA GeForce RTX 2080 Ti", 22528, 21.60, None),
    ("rtx4060-8g", 1, "NVIDIA GeForce RTX 4060", 8188, 7.75, None),
    ("a100x8", 8, "NVIDIA A100-SXM4-80GB", 81920, 79.25, "NV12"),
    ("h100x8", 8, "NVIDIA H100 80GB HBM3", 81559, 79.19, "NV18"),
    ("h200x2", 2, "NVIDIA H200", 143771, 139.80, "NV18"),
])
def test_seed_host_fixtures_carry_the_real_memory_totals(name, count, model, total_mib, usable_gib, link):
    make = _make_fixtures()
    with open(os.path.join(make.HERE, name + ".json"), encoding="utf-8") as handle:
        data = json.load(handle)
    assert data["gpu_count"] == count == len(data["gpus"]) == data["pci_gpu_count"]
    for gpu in data["gpus"]:
        assert gpu["name"] == model and gpu["memory_total_mib"] == total_mib
        assert round((gpu["memory_total"] - gpu["memory_reserved"]) / 2**30, 2) == usable_gib
        assert gpu["memory_total"] == gpu["memory_free"] + gpu["memory_used"] + gpu["memory_reserved"]
    assert data["link_matrix"][0][-1] == (link or "SELF")
    assert data["nvswitch_present"] == (link in ("NV12",) or name == "h100x8")
