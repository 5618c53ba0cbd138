# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""gpu_info run the way Ansible runs it, against host snapshots and a recorded NVML (../shared/fixtures)."""
import csv
import io
import json
import os
from unittest import mock

import pytest

from ansible_collections.llmops.vllm_stack.plugins.modules import gpu_info
from ansible_collections.llmops.vllm_stack.tests.unit.fixtures import sysroot
from ansible_collections.llmops.vllm_stack.tests.unit.fixtures.fake_pynvml import FakeNVML

from ansible_module_runner import run_module
from conftest import SHARED

NVML_H200X2 = os.path.join(SHARED, "fixtures", "nvml", "h200x2.json")
HOST_TXT = os.path.join(SHARED, "fixtures", "host", "h200-fc", "host.txt")


def _snapshot():
    with open(NVML_H200X2, encoding="utf-8") as handle:
        return json.load(handle)


def _run(args, nvml, check_mode=False):
    with mock.patch.object(gpu_info, "pynvml", nvml), \
            mock.patch.object(gpu_info, "PYNVML_IMPORT_ERROR", None if nvml else "ImportError: No module named pynvml\n"):
        return run_module(gpu_info.main, args, check_mode=check_mode)


@pytest.mark.parametrize("check_mode", [False, True])
def test_reports_two_h200_like_nvidia_smi_and_changes_nothing(tmp_path, check_mode):
    snap = _snapshot()
    files, links = {}, {}
    for dev in snap["devices"]:
        f, lnk = sysroot.pci_function(dev["pci"]["busIdLegacy"].lower(), "0x2335", "0x030200", "0x10de:0x18bf", -1,
                                      "nvidia")
        files.update(f)
        links.update(lnk)
    files["proc/driver/nvidia/version"] = snap["proc_driver_version"]
    files["proc/modules"] = "nvidia 1 0 - Live 0x0\n"
    sys_path, proc_path = sysroot.build({"files": files, "symlinks": links}, tmp_path)

    result = _run({"sys_path": sys_path, "proc_path": proc_path}, FakeNVML(snap), check_mode)

    assert result["changed"] is False and "failed" not in result
    assert result["gpu_count"] == 2 and result["nvidia_gpu_present"] and result["nvidia_driver_loaded"]
    assert result["driver_version"] == "580.159.04" and result["cuda_driver_version"] == "13.0"
    smi = list(csv.reader(io.StringIO(snap["nvidia_smi_csv"]), skipinitialspace=True))
    assert [(g["uuid"], g["memory_total_mib"], g["memory_free_mib"], g["pci_bus_id"]) for g in result["gpus"]] == \
        [(row[2], int(row[3]), int(row[5]), row[8]) for row in smi]
    assert result["link_matrix"] == [["SELF", "NV18"], ["NV18", "SELF"]]
    assert result["kernel_driver"]["kernel_module"] == "open"


def test_without_nvidia_ml_py_auto_mode_reports_the_host_from_sysfs(tmp_path):
    sys_path, proc_path = sysroot.build(sysroot.from_host_txt(HOST_TXT), tmp_path)
    result = _run({"sys_path": sys_path, "proc_path": proc_path}, None)
    assert result["changed"] is False
    assert result["nvml"]["available"] is False and "pynvml" in result["nvml"]["reason"]
    assert result["gpu_count"] == 1 and result["gpus"] == []
    assert result["driver_version"] == "580.159.04"
    assert result["secure_boot"] == "unsupported"


def test_required_nvml_without_nvidia_ml_py_fails_naming_the_package(tmp_path):
    sys_path, proc_path = sysroot.build(sysroot.from_host_txt(HOST_TXT), tmp_path)
    result = _run({"sys_path": sys_path, "proc_path": proc_path, "nvml": "required"}, None)
    assert result["failed"] is True
    assert "nvidia-ml-py" in result["msg"]


def test_required_nvml_before_the_driver_fails_with_what_to_do(tmp_path):
    sys_path, proc_path = sysroot.build(sysroot.load_spec("rtx2080ti-nouveau"), tmp_path)
    fake = FakeNVML(_snapshot(), init_error="NVMLError_DriverNotLoaded")
    result = _run({"sys_path": sys_path, "proc_path": proc_path, "nvml": "required"}, fake)
    assert result["failed"] is True
    assert result["msg"].startswith("Querying the GPUs through NVML: nvmlInit failed")
    assert "load the NVIDIA driver" in result["msg"]


def test_nouveau_host_in_auto_mode_succeeds_and_flags_nouveau(tmp_path):
    sys_path, proc_path = sysroot.build(sysroot.load_spec("rtx2080ti-nouveau"), tmp_path)
    result = _run({"sys_path": sys_path, "proc_path": proc_path}, FakeNVML(_snapshot()))
    assert result["nouveau_loaded"] is True and result["nvidia_driver_loaded"] is False
    assert result["secure_boot"] == "enabled"
    assert [d["kind"] for d in result["pci_devices"]] == ["gpu", "audio", "usb", "serial_bus"]
