# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a host has in NVIDIA hardware and driver state, as plain dicts.

Two sources, so that the probe works before the driver exists:

* sysfs/procfs (``sys_path``/``proc_path`` injectable): every PCI function of vendor 0x10de with its class, bus
  id, NUMA node and bound kernel driver; loaded kernel modules; Secure Boot; kernel release;
  ``/proc/driver/nvidia/version`` and ``/proc/driver/nvidia/gpus/*/information``.
* NVML through nvidia-ml-py (``pynvml``), passed in as a module-like object so tests can inject a fake: driver
  and CUDA versions, per-GPU memory, modes and processes, and the GPU-to-GPU link matrix that placement uses.

No Ansible import here; ``plugins/modules/gpu_info.py`` is the adapter.
"""
from __future__ import annotations

import os
import re

NVIDIA_VENDOR_ID = 0x10DE
SECURE_BOOT_VAR = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"

# PCI base class + subclass (upper 16 bits of the 24-bit class code) -> what the function is.
PCI_CLASS_KINDS = {
    0x0300: "gpu",  # VGA compatible controller (GeForce / workstation cards)
    0x0302: "gpu",  # 3D controller (data-center cards: A10, A100, H100, H200 ...)
    0x0403: "audio",  # HDMI/DP audio function of a GeForce card
    0x0C03: "usb",  # USB-C controller on Turing GeForce cards
    0x0C80: "serial_bus",  # USB-C UCSI controller on Turing GeForce cards
    0x0680: "nvswitch",  # "Bridge: other" = NVSwitch (HGX baseboards); needs nvidia-fabricmanager
}

# nvmlDeviceGetArchitecture -> name (pynvml NVML_DEVICE_ARCH_*)
ARCHITECTURES = {
    2: "kepler", 3: "maxwell", 4: "pascal", 5: "volta", 6: "turing", 7: "ampere", 8: "ada", 9: "hopper",
    10: "blackwell", 13: "rubin",
}

# nvmlDeviceGetTopologyCommonAncestor level -> nvidia-smi topo -m label
TOPOLOGY_LABELS = {0: "PIX", 10: "PIX", 20: "PXB", 30: "PHB", 40: "NODE", 50: "SYS"}

# How good a link is, best first; NV<n> ranks above all PCIe paths (more links = better).
PCIE_RANK = {"PIX": 1, "PXB": 2, "PHB": 3, "NODE": 4, "SYS": 5}

MODULES_OF_INTEREST = ("nvidia", "nvidia_uvm", "nvidia_modeset", "nvidia_drm", "nvidia_peermem", "nouveau",
                       "vfio_pci")

_NVRM_RE = re.compile(
    r"NVRM version:\s+NVIDIA UNIX (?P<open>Open Kernel Module for \S+|\S+ Kernel Module)\s+(?P<version>\d+(?:\.\d+)+)")
_BUS_ID_RE = re.compile(r"^(?:(?P<domain>[0-9a-fA-F]{1,8}):)?(?P<bus>[0-9a-fA-F]{1,2}):(?P<dev>[0-9a-fA-F]{1,2})"
                        r"\.(?P<fn>[0-7])$")


# --------------------------------------------------------------------------------------------------- helpers
def _read(path, default=None):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return default


def _read_int(path, base=0):
    text = _read(path)
    if text is None:
        return None
    try:
        return int(text.strip(), base)
    except ValueError:
        return None


def _text(value):
    """NVML strings come back as bytes from old nvidia-ml-py releases and as str from new ones."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").rstrip("\x00")
    return value


def normalize_bus_id(bus_id):
    """``00000000:0F:00.0`` (NVML) and ``0000:0f:00.0`` (sysfs) -> ``0000:0f:00.0``; None when unparsable."""
    if not bus_id:
        return None
    match = _BUS_ID_RE.match(_text(bus_id).strip())
    if not match:
        return None
    domain = int(match.group("domain") or "0", 16)
    if domain == 0xFFFFFFFF:  # NVML's "FFFFFFFF:FF:FF.0": the remote end is no visible PCI device
        return None
    return "%04x:%02x:%02x.%s" % (domain, int(match.group("bus"), 16), int(match.group("dev"), 16),
                                  match.group("fn"))


def cuda_version_string(value):
    """NVML's integer CUDA driver version (13000, 12040) -> "13.0", "12.4"."""
    if value is None:
        return None
    value = int(value)
    return "%d.%d" % (value // 1000, (value % 1000) // 10)


def mib(value):
    """Bytes -> MiB rounded the way nvidia-smi prints them."""
    if value is None:
        return None
    return int(round(value / 1048576.0))


# --------------------------------------------------------------------------------------------- sysfs/procfs
def scan_pci(sys_path="/sys"):
    """All PCI functions of NVIDIA (vendor 0x10de), sorted by bus id (the order NVML numbers GPUs in)."""
    base = os.path.join(sys_path, "bus", "pci", "devices")
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    devices = []
    for name in names:
        dev = os.path.join(base, name)
        if _read_int(os.path.join(dev, "vendor"), 16) != NVIDIA_VENDOR_ID:
            continue
        pci_class = _read_int(os.path.join(dev, "class"), 16)
        class_id = (pci_class >> 8) if pci_class is not None else None
        device_id = _read_int(os.path.join(dev, "device"), 16)
        sub_vendor = _read_int(os.path.join(dev, "subsystem_vendor"), 16)
        sub_device = _read_int(os.path.join(dev, "subsystem_device"), 16)
        numa = _read_int(os.path.join(dev, "numa_node"), 10)
        driver_link = os.path.join(dev, "driver")
        driver = os.path.basename(os.readlink(driver_link)) if os.path.islink(driver_link) else None
        speed = _read(os.path.join(dev, "current_link_speed"))
        width = _read_int(os.path.join(dev, "current_link_width"), 10)
        devices.append({
            "bus_id": normalize_bus_id(name) or name,
            "vendor_id": "0x%04x" % NVIDIA_VENDOR_ID,
            "device_id": "0x%04x" % device_id if device_id is not None else None,
            "subsystem_id": ("0x%04x:0x%04x" % (sub_vendor, sub_device)
                             if sub_vendor is not None and sub_device is not None else None),
            "class_id": "0x%04x" % class_id if class_id is not None else None,
            "kind": PCI_CLASS_KINDS.get(class_id, "other"),
            "numa_node": numa if numa is not None and numa >= 0 else None,
            "driver": driver,
            "link_speed": speed.strip() if speed else None,
            "link_width": width,
        })
    return devices


def loaded_modules(proc_path="/proc"):
    """Names of loaded kernel modules (``/proc/modules``); None when the file cannot be read."""
    text = _read(os.path.join(proc_path, "modules"))
    if text is None:
        return None
    return sorted({line.split()[0] for line in text.splitlines() if line.strip()})


def secure_boot_state(sys_path="/sys"):
    """``enabled`` / ``disabled`` from the EFI variable; ``unsupported`` without EFI; ``unknown`` otherwise.

    The variable file is 4 bytes of attributes followed by the 1-byte value; no mokutil needed.
    """
    efi = os.path.join(sys_path, "firmware", "efi")
    if not os.path.isdir(efi):
        return "unsupported"
    for var in (os.path.join(efi, "efivars", SECURE_BOOT_VAR), os.path.join(efi, "vars", SECURE_BOOT_VAR, "data")):
        try:
            with open(var, "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        if data:
            return "enabled" if data[-1] == 1 else "disabled"
    return "unknown"


def kernel_release(proc_path="/proc"):
    text = _read(os.path.join(proc_path, "sys", "kernel", "osrelease"))
    if text:
        return text.strip()
    return os.uname().release if proc_path == "/proc" else None


def parse_nvidia_version(text):
    """``/proc/driver/nvidia/version`` -> driver version and open vs proprietary kernel module."""
    if not text:
        return {"version": None, "kernel_module": None, "nvrm": None, "gcc": None}
    nvrm = next((line.strip() for line in text.splitlines() if line.startswith("NVRM version:")), None)
    gcc = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("GCC version:")),
               None)
    match = _NVRM_RE.search(text)
    if not match:
        return {"version": None, "kernel_module": None, "nvrm": nvrm, "gcc": gcc}
    return {
        "version": match.group("version"),
        "kernel_module": "open" if match.group("open").startswith("Open") else "proprietary",
        "nvrm": nvrm,
        "gcc": gcc,
    }


def parse_gpu_information(text):
    """One ``/proc/driver/nvidia/gpus/<bus>/information`` file -> dict (model, uuid, bus id, minor, vbios)."""
    fields = {}
    for line in (text or "").splitlines():
        if ":" not in line:
            continue
        key, value = line.split(":", 1)
        fields[key.strip()] = value.strip()
    minor = fields.get("Device Minor")
    return {
        "model": fields.get("Model"),
        "uuid": fields.get("GPU UUID"),
        "bus_id": normalize_bus_id(fields.get("Bus Location")),
        "minor_number": int(minor) if minor and minor.isdigit() else None,
        "vbios": fields.get("Video BIOS"),
        "bus_type": fields.get("Bus Type"),
        "excluded": fields.get("GPU Excluded", "").lower() == "yes" if "GPU Excluded" in fields else None,
    }


def driver_gpus(proc_path="/proc"):
    base = os.path.join(proc_path, "driver", "nvidia", "gpus")
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    return [parse_gpu_information(_read(os.path.join(base, name, "information"))) for name in names]


def process_cmdline(pid, proc_path="/proc"):
    data = _read(os.path.join(proc_path, str(pid), "cmdline"))
    if not data:
        return None
    return " ".join(part for part in data.split("\x00") if part)


def probe_system(sys_path="/sys", proc_path="/proc"):
    """Everything that does not need the NVIDIA driver."""
    devices = scan_pci(sys_path)
    modules = loaded_modules(proc_path)
    module_set = set(modules or [])
    version = parse_nvidia_version(_read(os.path.join(proc_path, "driver", "nvidia", "version")))
    pci_gpus = [dev for dev in devices if dev["kind"] == "gpu"]
    for index, dev in enumerate(pci_gpus):
        dev["index"] = index  # NVML (and nvidia-smi, CUDA_DEVICE_ORDER=PCI_BUS_ID) number GPUs by bus id
    switches = [dev for dev in devices if dev["kind"] == "nvswitch"]
    nvidia_loaded = "nvidia" in module_set or os.path.isdir(os.path.join(sys_path, "module", "nvidia"))
    return {
        "kernel": {"release": kernel_release(proc_path)},
        "secure_boot": secure_boot_state(sys_path),
        "pci_devices": devices,
        "pci_gpu_count": len(pci_gpus),
        "nvswitch_count": len(switches),
        "nvswitch_present": bool(switches),
        "kernel_modules": {name: name in module_set for name in MODULES_OF_INTEREST},
        "kernel_modules_readable": modules is not None,
        "nouveau_loaded": "nouveau" in module_set,
        "nvidia_driver_loaded": nvidia_loaded,
        "gpus_bound_to": sorted({dev["driver"] or "none" for dev in pci_gpus}),
        "kernel_driver": version,
        "driver_gpus": driver_gpus(proc_path),
    }


# ------------------------------------------------------------------------------------------------------ NVML
class NvmlUnavailable(Exception):
    """NVML could not be initialised (library missing, driver not loaded, version mismatch...)."""


def _error_name(nvml, exc):
    """``NVMLError_NotSupported`` style name of an NVML exception (the class pynvml raises)."""
    return type(exc).__name__ if isinstance(exc, getattr(nvml, "NVMLError", ())) else None


def _call(nvml, name, *args, **kwargs):
    """Call one NVML function; (value, None) or (None, error class name). Missing functions count as errors."""
    func = getattr(nvml, name, None)
    if func is None:
        return None, "FunctionNotInBinding"
    try:
        return func(*args, **kwargs), None
    except Exception as exc:  # pylint: disable=broad-except
        err = _error_name(nvml, exc)
        if err is None:
            raise
        return None, err


def _enabled(value):
    if value is None:
        return None
    return "enabled" if int(value) == 1 else "disabled"


def _pair(nvml, name, handle):
    value, err = _call(nvml, name, handle)
    if err or value is None:
        return None, None
    current, pending = value
    return _enabled(current), _enabled(pending)


def _memory(nvml, handle):
    version = getattr(nvml, "nvmlMemory_v2", None)
    if version is not None:
        info, err = _call(nvml, "nvmlDeviceGetMemoryInfo", handle, version=version)
        if not err and info is not None:
            return {"total": int(info.total), "free": int(info.free), "used": int(info.used),
                    "reserved": int(info.reserved), "api": "v2"}
    info, err = _call(nvml, "nvmlDeviceGetMemoryInfo", handle)
    if err or info is None:
        return {"total": None, "free": None, "used": None, "reserved": None, "api": None}
    # v1 "used" includes the driver-reserved memory; reserved cannot be told apart.
    return {"total": int(info.total), "free": int(info.free), "used": int(info.used), "reserved": None, "api": "v1"}


def _nvlinks(nvml, handle):
    """Active NVLinks of one GPU: list of normalised remote bus ids (None = remote not a visible PCI device)."""
    max_links = int(getattr(nvml, "NVML_NVLINK_MAX_LINKS", 18))
    links = []
    for link in range(max_links):
        state, err = _call(nvml, "nvmlDeviceGetNvLinkState", handle, link)
        if err:
            if link == 0 and err in ("NVMLError_NotSupported", "FunctionNotInBinding"):
                break  # no NVLink on this GPU
            continue
        if int(state) != 1:
            continue
        remote, rerr = _call(nvml, "nvmlDeviceGetNvLinkRemotePciInfo", handle, link)
        links.append(normalize_bus_id(getattr(remote, "busId", None)) if not rerr else None)
    return links


def _processes(nvml, handle, proc_path):
    procs, err = _call(nvml, "nvmlDeviceGetComputeRunningProcesses", handle)
    if err or not procs:
        return []
    result = []
    for proc in procs:
        pid = int(proc.pid)
        used = getattr(proc, "usedGpuMemory", None)
        name, _err = _call(nvml, "nvmlSystemGetProcessName", pid)
        result.append({
            "pid": pid,
            "used_memory": int(used) if used is not None else None,
            "used_memory_mib": mib(used) if used is not None else None,
            "name": _text(name),
            "cmdline": process_cmdline(pid, proc_path),
        })
    return result


def link_label(nv_links, topology_level):
    if nv_links:
        return "NV%d" % nv_links
    return TOPOLOGY_LABELS.get(topology_level)


def link_rank(label):
    """Sort key for a matrix label: lower is better. NV18 < NV4 < PIX < PXB < PHB < NODE < SYS < unknown."""
    if label == "SELF":
        return (0, 0)
    if label and label.startswith("NV"):
        return (1, -int(label[2:]))
    return (2, PCIE_RANK.get(label, 9))


def _link_matrix(nvml, handles, bus_ids, links):
    count = len(handles)
    p2p_index = getattr(nvml, "NVML_P2P_CAPS_INDEX_NVLINK", 2)
    p2p_ok = getattr(nvml, "NVML_P2P_STATUS_OK", 0)
    matrix = [["SELF"] * count for dummy in range(count)]
    for i in range(count):
        for j in range(count):
            if i == j:
                continue
            direct = sum(1 for remote in links[i] if remote and remote == bus_ids[j])
            if not direct and links[i]:
                # NVSwitch fabric: links end on switches (remote not a GPU); every GPU pair that NVML says can do
                # P2P over NVLink gets all of them (nvidia-smi shows NV18 on HGX H100/H200).
                status, err = _call(nvml, "nvmlDeviceGetP2PStatus", handles[i], handles[j], p2p_index)
                if not err and status == p2p_ok:
                    direct = sum(1 for remote in links[i] if remote not in bus_ids)
            level, err = _call(nvml, "nvmlDeviceGetTopologyCommonAncestor", handles[i], handles[j])
            matrix[i][j] = link_label(direct, None if err else int(level)) or "unknown"
    return matrix


def probe_nvml(nvml, proc_path="/proc"):
    """Query NVML (an initialised-or-not pynvml-like module). Raises NvmlUnavailable when nvmlInit fails."""
    try:
        nvml.nvmlInit()
    except Exception as exc:  # pylint: disable=broad-except
        if _error_name(nvml, exc) is None:
            raise
        raise NvmlUnavailable("nvmlInit failed: %s (%s)" % (exc, type(exc).__name__))
    try:
        driver, _err = _call(nvml, "nvmlSystemGetDriverVersion")
        cuda, err = _call(nvml, "nvmlSystemGetCudaDriverVersion_v2")
        if err:
            cuda, _err = _call(nvml, "nvmlSystemGetCudaDriverVersion")
        nvml_version, _err = _call(nvml, "nvmlSystemGetNVMLVersion")
        count, _err = _call(nvml, "nvmlDeviceGetCount")
        handles, gpus, bus_ids, links = [], [], [], []
        for index in range(int(count or 0)):
            handle, err = _call(nvml, "nvmlDeviceGetHandleByIndex", index)
            if err:
                continue
            handles.append(handle)
            gpus.append(_probe_device(nvml, handle, index, proc_path))
            bus_ids.append(normalize_bus_id(gpus[-1]["pci_bus_id"]))
            links.append(_nvlinks(nvml, handle))
        for gpu, gpu_links in zip(gpus, links):
            gpu["nvlink_active"] = len(gpu_links)
        matrix = _link_matrix(nvml, handles, bus_ids, links)
    finally:
        _call(nvml, "nvmlShutdown")
    return {
        "available": True,
        "reason": None,
        "driver_version": _text(driver),
        "nvml_version": _text(nvml_version),
        "cuda_driver_version": cuda_version_string(cuda),
        "cuda_driver_version_int": int(cuda) if cuda is not None else None,
        "gpus": gpus,
        "link_matrix": matrix,
    }


def _probe_device(nvml, handle, index, proc_path):
    name, _err = _call(nvml, "nvmlDeviceGetName", handle)
    uuid, _err = _call(nvml, "nvmlDeviceGetUUID", handle)
    pci, _err = _call(nvml, "nvmlDeviceGetPciInfo", handle)
    memory = _memory(nvml, handle)
    capability, _err = _call(nvml, "nvmlDeviceGetCudaComputeCapability", handle)
    arch, _err = _call(nvml, "nvmlDeviceGetArchitecture", handle)
    mig_current, mig_pending = _pair(nvml, "nvmlDeviceGetMigMode", handle)
    ecc_current, ecc_pending = _pair(nvml, "nvmlDeviceGetEccMode", handle)
    persistence, _err = _call(nvml, "nvmlDeviceGetPersistenceMode", handle)
    power, err = _call(nvml, "nvmlDeviceGetEnforcedPowerLimit", handle)
    if err:
        power, _err = _call(nvml, "nvmlDeviceGetPowerManagementLimit", handle)
    numa, _err = _call(nvml, "nvmlDeviceGetNumaNodeId", handle)
    minor, _err = _call(nvml, "nvmlDeviceGetMinorNumber", handle)
    pci_device_id = getattr(pci, "pciDeviceId", None)
    return {
        "index": index,
        "uuid": _text(uuid),
        "name": _text(name),
        "pci_bus_id": _text(getattr(pci, "busId", None)),
        "pci_device_id": "0x%04x" % (int(pci_device_id) >> 16) if pci_device_id is not None else None,
        "minor_number": minor,
        "numa_node": numa if numa is not None and numa >= 0 else None,
        "memory_total": memory["total"],
        "memory_free": memory["free"],
        "memory_used": memory["used"],
        "memory_reserved": memory["reserved"],
        "memory_api": memory["api"],
        "memory_total_mib": mib(memory["total"]),
        "memory_free_mib": mib(memory["free"]),
        "memory_used_mib": mib(memory["used"]),
        "memory_reserved_mib": mib(memory["reserved"]),
        "compute_capability": "%d.%d" % tuple(capability) if capability else None,
        "architecture": ARCHITECTURES.get(arch, "unknown") if arch is not None else None,
        "mig_mode_current": mig_current,
        "mig_mode_pending": mig_pending,
        "persistence_mode": _enabled(persistence),
        "ecc_mode_current": ecc_current,
        "ecc_mode_pending": ecc_pending,
        "power_limit_w": round(power / 1000.0, 2) if power is not None else None,
        "processes": _processes(nvml, handle, proc_path),
    }


# ---------------------------------------------------------------------------------------------- everything
def collect(sys_path="/sys", proc_path="/proc", nvml_mode="auto", nvml=None, nvml_import_error=None):
    """The whole gpu_info result.

    ``nvml`` is the pynvml module (or a fake); None with ``nvml_import_error`` set when it could not be imported.
    ``nvml_mode``: ``auto`` uses NVML when importable and the driver is loaded, ``required`` raises
    NvmlUnavailable instead of reporting it, ``skip`` never touches NVML.
    """
    result = probe_system(sys_path, proc_path)
    nvml_result = {"available": False, "reason": None, "driver_version": None, "nvml_version": None,
                   "cuda_driver_version": None, "cuda_driver_version_int": None, "gpus": [], "link_matrix": []}
    if nvml_mode == "skip":
        nvml_result["reason"] = "skipped (nvml=skip)"
    elif nvml is None:
        nvml_result["reason"] = "nvidia-ml-py (pynvml) is not importable: %s" % (nvml_import_error or "not installed")
    elif nvml_mode == "auto" and result["kernel_modules_readable"] and not result["nvidia_driver_loaded"]:
        nvml_result["reason"] = "the nvidia kernel module is not loaded"
    else:
        try:
            nvml_result = probe_nvml(nvml, proc_path)
        except NvmlUnavailable as exc:
            if nvml_mode == "required":
                raise
            nvml_result["reason"] = str(exc)
    if nvml_mode == "required" and not nvml_result["available"]:
        raise NvmlUnavailable(nvml_result["reason"])
    gpus = nvml_result.pop("gpus")
    matrix = nvml_result.pop("link_matrix")
    result.update({
        "nvml": nvml_result,
        "gpus": gpus,
        "link_matrix": matrix,
        "gpu_count": len(gpus) if nvml_result["available"] else result["pci_gpu_count"],
        "nvidia_gpu_present": bool(gpus) or result["pci_gpu_count"] > 0,
        "driver_version": nvml_result["driver_version"] or result["kernel_driver"]["version"],
        "cuda_driver_version": nvml_result["cuda_driver_version"],
    })
    return result
