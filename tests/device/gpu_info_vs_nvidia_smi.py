#!/usr/bin/env python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""On a real GPU machine: run gpu_info's probe and compare it with nvidia-smi, field by field.

    pip install nvidia-ml-py            # the probe's only dependency
    python3 tests/device/gpu_info_vs_nvidia_smi.py [--json OUT.json]

Prints a side-by-side table (probe | nvidia-smi | ok) per GPU, the link matrix next to `nvidia-smi topo -m`,
and exits 1 on any mismatch (2 when it cannot run: no nvidia-smi or no pynvml). memory.used/free may move a few
MiB between the two reads on a busy GPU; they are compared with a tolerance (--mem-tolerance-mib, default 4).
"""
import argparse
import csv
import io
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLL_PARENT = os.path.join(ROOT, ".cache", "collections")
LINK = os.path.join(COLL_PARENT, "ansible_collections", "llmops", "vllm_stack")
if not os.path.lexists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(os.path.join("..", "..", "..", ".."), LINK)
sys.path.insert(0, COLL_PARENT)

from ansible_collections.llmops.vllm_stack.plugins.module_utils import _gpu_probe  # noqa: E402

FIELDS = ["index", "uuid", "name", "pci.bus_id", "memory.total", "memory.used", "memory.free", "driver_version",
          "compute_cap", "persistence_mode", "power.limit", "mig.mode.current"]


def smi(args):
    return subprocess.run(["nvidia-smi"] + args, check=True, capture_output=True, text=True).stdout


def na(value):
    value = value.strip()
    return None if value in ("[N/A]", "N/A", "[Not Supported]", "") else value


def probe_values(gpu, driver):
    return {
        "index": str(gpu["index"]),
        "uuid": gpu["uuid"],
        "name": gpu["name"],
        "pci.bus_id": gpu["pci_bus_id"],
        "memory.total": gpu["memory_total_mib"],
        "memory.used": gpu["memory_used_mib"],
        "memory.free": gpu["memory_free_mib"],
        "driver_version": driver,
        "compute_cap": gpu["compute_capability"],
        "persistence_mode": gpu["persistence_mode"],
        "power.limit": gpu["power_limit_w"],
        "mig.mode.current": gpu["mig_mode_current"],
    }


def same(field, ours, theirs, tol):
    if theirs is None or ours is None:
        return theirs is None and ours is None
    if field in ("memory.total",):
        return int(ours) == int(float(theirs))
    if field in ("memory.used", "memory.free"):
        return abs(int(ours) - int(float(theirs))) <= tol
    if field == "power.limit":
        return abs(float(ours) - float(theirs)) < 0.01
    if field in ("persistence_mode", "mig.mode.current"):
        return str(ours).lower() == theirs.lower()
    return str(ours) == theirs


def topo_matrix(text, count):
    rows = []
    for line in text.splitlines():
        cells = line.replace("\x1b[4m", "").replace("\x1b[0m", "").split("\t")
        if cells and cells[0].startswith("GPU") and cells[0][3:].isdigit():
            rows.append([("SELF" if c.strip() == "X" else c.strip()) for c in cells[1:1 + count]])
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the probe's full output here")
    parser.add_argument("--mem-tolerance-mib", type=int, default=4)
    opts = parser.parse_args()
    try:
        import pynvml
    except ImportError as exc:
        print("cannot run: %s (pip install nvidia-ml-py)" % exc)
        return 2
    try:
        query = smi(["--query-gpu=" + ",".join(FIELDS), "--format=csv,noheader,nounits"])
    except (OSError, subprocess.CalledProcessError) as exc:
        print("cannot run: nvidia-smi failed: %s" % exc)
        return 2
    result = _gpu_probe.collect(nvml_mode="required", nvml=pynvml)
    if opts.json:
        with open(opts.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=1, sort_keys=True)
    rows = [[na(v) for v in row] for row in csv.reader(io.StringIO(query), skipinitialspace=True) if row]
    bad = 0
    print("driver %s  CUDA %s  kernel module %s  kernel %s  secure boot %s  GPUs %d (PCI %d)"
          % (result["driver_version"], result["cuda_driver_version"], result["kernel_driver"]["kernel_module"],
             result["kernel"]["release"], result["secure_boot"], result["gpu_count"], result["pci_gpu_count"]))
    if len(rows) != result["gpu_count"]:
        print("MISMATCH gpu count: probe %d, nvidia-smi %d" % (result["gpu_count"], len(rows)))
        bad += 1
    for gpu, row in zip(result["gpus"], rows):
        ours = probe_values(gpu, result["driver_version"])
        print("\nGPU %s" % gpu["index"])
        print("  %-18s %-42s %-42s %s" % ("field", "gpu_info", "nvidia-smi", "ok"))
        for field, theirs in zip(FIELDS, row):
            ok = same(field, ours[field], theirs, opts.mem_tolerance_mib)
            bad += 0 if ok else 1
            print("  %-18s %-42s %-42s %s" % (field, ours[field], theirs, "ok" if ok else "MISMATCH"))
        print("  %-18s %s MiB reserved (not in nvidia-smi's used), NVLinks %d, NUMA %s, arch %s, ECC %s"
              % ("extra", gpu["memory_reserved_mib"], gpu["nvlink_active"], gpu["numa_node"], gpu["architecture"],
                 gpu["ecc_mode_current"]))
    try:
        expected = topo_matrix(smi(["topo", "-m"]), result["gpu_count"])
    except (OSError, subprocess.CalledProcessError):
        expected = None
    print("\nlink matrix (gpu_info | nvidia-smi topo -m)")
    for i, line in enumerate(result["link_matrix"]):
        theirs = expected[i] if expected and i < len(expected) else None
        ok = theirs is None or theirs == line
        bad += 0 if ok else 1
        print("  GPU%d  %-40s | %-40s %s" % (i, " ".join(line), " ".join(theirs or ["?"]), "ok" if ok else "MISMATCH"))
    print("\n%s" % ("ALL MATCH" if not bad else "%d MISMATCH(ES)" % bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
