#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: gpu_info
short_description: Report NVIDIA GPUs, driver state and GPU links, before and after the driver is installed
version_added: 0.1.0
description:
  - Reads sysfs and procfs, so it works on a bare host before any NVIDIA driver exists; every PCI function of
    vendor 0x10de with its class (GPU, HDMI audio, USB-C, NVSwitch), bus id, NUMA node and bound kernel driver
    (C(nouveau), C(nvidia), C(vfio-pci) or none); whether C(nouveau) and C(nvidia) are loaded; the Secure Boot
    state from the EFI variable (no mokutil needed); the running kernel; the driver version and whether the
    open or the proprietary kernel module is loaded (from C(/proc/driver/nvidia/version)); NVSwitch presence
    (which means nvidia-fabricmanager is needed).
  - Once the driver is loaded it also asks NVML (through nvidia-ml-py) for the driver and CUDA versions and, per
    GPU, the memory (total, free, used and driver-reserved), compute capability, architecture, MIG, persistence
    and ECC modes, power limit and running compute processes, and builds the GPU-to-GPU link matrix
    (C(NV<n>), C(PIX), C(PXB), C(PHB), C(NODE), C(SYS)) that M(llmops.vllm_stack.vllm_plan_check) uses to place
    tensor-parallel groups.
  - Changes nothing.
author:
  - llmops.vllm_stack maintainers (@llmops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
requirements:
  - nvidia-ml-py (C(import pynvml)) on the managed host, for the NVML part only
options:
  nvml:
    description:
      - C(auto) queries NVML when nvidia-ml-py is importable and the C(nvidia) kernel module is loaded, and
        otherwise reports C(nvml.available=false) with the reason.
      - C(required) fails when NVML cannot be queried.
      - C(skip) reads only sysfs and procfs.
    type: str
    choices: [auto, required, skip]
    default: auto
  sys_path:
    description: Where sysfs is mounted (another path is useful to read a copy of a host's tree).
    type: path
    default: /sys
  proc_path:
    description: Where procfs is mounted.
    type: path
    default: /proc
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
notes:
  - GPU indices are NVML's (PCI bus order), the same as nvidia-smi's and as CUDA's with
    C(CUDA_DEVICE_ORDER=PCI_BUS_ID). Before the driver is loaded, the C(index) of each GPU in RV(pci_devices) numbers the GPUs in
    the same order.
  - Memory figures are bytes. C(memory_used) is what nvidia-smi shows as used (NVML v2 API, not counting the
    driver-reserved memory); where only the v1 API exists it includes the reserved memory and
    C(memory_reserved) is null.
"""

EXAMPLES = r"""
- name: Inspect the GPUs
  llmops.vllm_stack.gpu_info:
  register: gpu

- name: Stop when nouveau still holds the GPU
  ansible.builtin.assert:
    that: not gpu.nouveau_loaded
    fail_msg: "nouveau is loaded: blacklist it and reboot before installing the NVIDIA driver"

- name: Fail unless NVML answers (after the driver role)
  llmops.vllm_stack.gpu_info:
    nvml: required
"""

RETURN = r"""
gpu_count:
  description: Number of GPUs (from NVML when available, otherwise from PCI).
  returned: always
  type: int
  sample: 2
nvidia_gpu_present:
  description: Whether any NVIDIA GPU is on the PCI bus.
  returned: always
  type: bool
nouveau_loaded:
  description: Whether the nouveau kernel module is loaded.
  returned: always
  type: bool
nvidia_driver_loaded:
  description: Whether the nvidia kernel module is loaded.
  returned: always
  type: bool
secure_boot:
  description: C(enabled), C(disabled), C(unsupported) (no EFI) or C(unknown).
  returned: always
  type: str
  sample: unsupported
driver_version:
  description: NVIDIA driver version (NVML, else C(/proc/driver/nvidia/version)); null without a driver.
  returned: always
  type: str
  sample: 580.159.04
cuda_driver_version:
  description: Highest CUDA version the driver supports (NVML C(13000) shown as C(13.0)).
  returned: always
  type: str
  sample: "13.0"
kernel:
  description: Running kernel (C(release)).
  returned: always
  type: dict
kernel_driver:
  description: Parsed C(/proc/driver/nvidia/version) (C(version), C(kernel_module) C(open)/C(proprietary), C(nvrm), C(gcc)).
  returned: always
  type: dict
kernel_modules:
  description: Loaded state of nvidia, nvidia_uvm, nvidia_modeset, nvidia_drm, nvidia_peermem, nouveau and vfio_pci.
  returned: always
  type: dict
pci_devices:
  description:
    - Every NVIDIA PCI function, sorted by bus id, with C(bus_id), C(device_id), C(class_id), C(kind)
      (gpu/audio/usb/serial_bus/nvswitch/other), C(numa_node), C(driver), C(link_speed), C(link_width); GPUs
      also get C(index).
  returned: always
  type: list
  elements: dict
pci_gpu_count:
  description: Number of GPU functions on the PCI bus.
  returned: always
  type: int
nvswitch_present:
  description: Whether NVSwitch bridges are present (nvidia-fabricmanager is then required).
  returned: always
  type: bool
nvswitch_count:
  description: Number of NVSwitch bridges.
  returned: always
  type: int
gpus_bound_to:
  description: Kernel drivers bound to the GPU functions (C(none) when unbound).
  returned: always
  type: list
  elements: str
driver_gpus:
  description: C(/proc/driver/nvidia/gpus/*/information) (model, uuid, bus id, minor number, vbios).
  returned: always
  type: list
  elements: dict
nvml:
  description: C(available), C(reason) it is not, C(driver_version), C(nvml_version), C(cuda_driver_version).
  returned: always
  type: dict
gpus:
  description:
    - Per GPU from NVML (empty without NVML). C(index), C(uuid), C(name), C(pci_bus_id), C(memory_total),
      C(memory_free), C(memory_used), C(memory_reserved) (bytes, and the same in MiB as C(*_mib)),
      C(compute_capability), C(architecture), C(mig_mode_current), C(mig_mode_pending), C(persistence_mode),
      C(ecc_mode_current), C(ecc_mode_pending), C(power_limit_w), C(numa_node), C(nvlink_active) and
      C(processes) (C(pid), C(used_memory), C(name), C(cmdline)).
  returned: always
  type: list
  elements: dict
link_matrix:
  description: C(link_matrix[i][j]) is how GPU i reaches GPU j, in nvidia-smi topo -m terms (SELF, NV<n>, PIX, PXB, PHB, NODE, SYS).
  returned: always
  type: list
  elements: list
  sample: [["SELF", "NV18"], ["NV18", "SELF"]]
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.llmops.vllm_stack.plugins.module_utils._gpu_probe import NvmlUnavailable, collect

try:
    import pynvml
except ImportError:
    pynvml = None
    PYNVML_IMPORT_ERROR = traceback.format_exc()
else:
    PYNVML_IMPORT_ERROR = None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            nvml=dict(type="str", choices=["auto", "required", "skip"], default="auto"),
            sys_path=dict(type="path", default="/sys"),
            proc_path=dict(type="path", default="/proc"),
        ),
        supports_check_mode=True,
    )
    mode = module.params["nvml"]
    if mode == "required" and pynvml is None:
        module.fail_json(msg=missing_required_lib("nvidia-ml-py"), exception=PYNVML_IMPORT_ERROR)
    import_error = PYNVML_IMPORT_ERROR.strip().splitlines()[-1] if PYNVML_IMPORT_ERROR else None
    try:
        result = collect(module.params["sys_path"], module.params["proc_path"], nvml_mode=mode, nvml=pynvml,
                         nvml_import_error=import_error)
    except NvmlUnavailable as exc:
        module.fail_json(msg="Querying the GPUs through NVML: %s — load the NVIDIA driver (or reboot after installing "
                             "it), or set nvml=auto to report the host without NVML" % exc)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
