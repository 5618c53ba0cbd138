# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How close is the fit engine to real vLLM starts? Prints numbers; never asserts; exits 0.

Data: ../shared/fixtures/memory/calibration.csv (one row per real vLLM start, from public logs) and
hf_configs.json (the config.json of those models). Rows whose model has no config are skipped and counted.
A second source, tests/benchmarks/h200_vllm020.csv (same columns), holds the lead's own vLLM 0.20.0 starts on a lent
H200 (dummy weights; the configs are those of tests/device/models, identical to hf_configs.json): it is reported as
its own section, because 0.20 is the first release that subtracts its CUDA-graph estimate from the KV budget and the
llm-d rows stop at 0.19. Its GPU total (139.80 GiB) is NVML's total minus the driver-reserved memory; the logged
"equivalent to --gpu-memory-utilization" lines (util - estimate / total, rounded to 4 places) bound it to
139.44-140.94 GiB.

Three passes over the same rows:
  1. checkpoint size given (logged "Model loading took" x TP x PP, as a preflight reads it from the index):
     error of kv_cache_bytes against the logged "Available KV cache memory", next to two naive baselines
     (constant 1.5 GiB overhead after weights; GPUStack's "weights x 1.2 + 2 GiB");
  2. no size given: weights_bytes_per_gpu from config.json alone against the logged weights;
  3. verdicts: rows that started against rows that FAILED (notes say FAILED).
Extra: CUDA-graph estimate against vLLM 0.19's own logged estimate, where the log has one.
Section 5: the H200 starts (KV, the subtracted CUDA-graph estimate, tokens, verdicts), with the same KV targets.

The log has the loaded size; the index has the on-disk one (equal for plain checkpoints; a bf16 checkpoint run in
fp32 or MXFP4 experts padded on load differ): the size given in pass 1 is the logged size mapped back to disk with
the engine's own on-disk/loaded ratio of config.json.

Inputs are read from the row as the run had them: vLLM version, GPU total, TP/PP, utilization, max_model_len,
dtype, block size, and from the notes max_num_seqs=N, max_num_batched_tokens=N and enforce_eager=True where they
say so; "Free memory on device ... (F/T GiB)" in a FAILED note becomes free_memory_bytes. Three RedHatAI
checkpoints are described in hf_configs.json by their base model's config (no quantization_config); the benchmark
adds the quantization_config those checkpoints ship (compressed-tensors, 8-bit per-channel; FP8 for
"FP8-dynamic", INT8 for "w8a8") so that pass 2 sizes the checkpoint that ran, not the base model.

Run: python tests/benchmarks/fit_accuracy.py   (LLMOPS_SHARED_DIR overrides the shared directory)
"""
from __future__ import annotations

import csv
import json
import os
import re
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("LLMOPS_SHARED_DIR", os.path.join(os.path.dirname(ROOT), "shared"))
COLL = os.path.join(ROOT, ".cache", "collections")
LINK = os.path.join(COLL, "ansible_collections", "llmops", "vllm_stack")
if not os.path.lexists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(os.path.join("..", "..", "..", ".."), LINK)
sys.path.insert(0, COLL)

from ansible_collections.llmops.vllm_stack.plugins.module_utils import _model_config as mc  # noqa: E402
from ansible_collections.llmops.vllm_stack.plugins.module_utils import _vllm_memory as vm  # noqa: E402

GiB = 1 << 30
H100_TOTAL_GIB = 79.19  # what vLLM prints for an H100 80GB (rows that left gpu_total_gib empty ran on H100s)
CALIBRATION = os.path.join(SHARED, "fixtures", "memory", "calibration.csv")
H200_ROWS = os.path.join(ROOT, "tests", "benchmarks", "h200_vllm020.csv")


def _num(text):
    match = re.search(r"-?\d+(?:\.\d+)?", text or "")
    return float(match.group(0)) if match else None


def _version(text):
    if "V0" in text and not re.search(r"\d+\.\d+", text):
        return "0.6.4"
    match = re.search(r"(\d+\.\d+(?:\.\d+)?)", text)
    return match.group(1) if match else vm.DEFAULT_VLLM_VERSION


def _quant_patch(model):
    """The quantization_config the RedHatAI checkpoints ship (absent from their base-model config here)."""
    name = model.lower()
    if "fp8-dynamic" in name or "fp8_dynamic" in name:
        weights = {"num_bits": 8, "type": "float", "strategy": "channel", "symmetric": True}
    elif "w8a8" in name:
        weights = {"num_bits": 8, "type": "int", "strategy": "channel", "symmetric": True}
    elif "w4a16" in name:
        weights = {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 128, "symmetric": True}
    else:
        return None
    fmt = "float-quantized" if weights["type"] == "float" else "int-quantized"
    group = {"targets": ["Linear"], "weights": weights}
    return {"quant_method": "compressed-tensors", "format": fmt, "ignore": ["lm_head"],
            "config_groups": {"group_0": group}}


def load_rows(path=CALIBRATION, gpu_from_column=False):
    """Rows of a calibration CSV. ``gpu_from_column``: name the GPU as the row's ``gpu`` column does (the H200
    file); the llm-d rows keep the rule they were calibrated with ("H100" above 70 GiB, else unnamed)."""
    with open(os.path.join(SHARED, "fixtures", "memory", "hf_configs.json"), encoding="utf-8") as handle:
        configs = json.load(handle)
    rows, skipped = [], []
    with open(path, encoding="utf-8") as handle:
        for raw in csv.DictReader(handle):
            model = raw["model"]
            if model not in configs:
                skipped.append(model)
                continue
            config = dict(configs[model]["config"])
            patch = _quant_patch(model)
            if patch and not config.get("quantization_config"):
                config["quantization_config"] = patch
            notes = raw["notes"]
            failed = "FAILED" in notes
            free = re.search(r"Free memory on device[^(]*\(([\d.]+)/([\d.]+) GiB\)", notes)
            dtype = raw["dtype"].strip()
            row = {
                "model": model, "config": config, "failed": failed, "notes": notes,
                "version": _version(raw["vllm_version"]),
                "total": (_num(raw["gpu_total_gib"]) or H100_TOTAL_GIB) * GiB,
                "tp": int(_num(raw["tp"]) or 1), "pp": int(_num(raw["pp"]) or 1),
                "util": _num(raw["gpu_memory_utilization"]),
                "max_model_len": int(_num(raw["max_model_len"])) if _num(raw["max_model_len"]) else None,
                "dtype": dtype if dtype in ("bfloat16", "float16", "float32") else "auto",
                "block_size": int(_num(raw["block_size"])) if _num(raw["block_size"]) else None,
                "weights": _num(raw["weights_gib"]), "kv": _num(raw["kv_cache_gib"]),
                "tokens": int(_num(raw["kv_cache_tokens"])) if _num(raw["kv_cache_tokens"]) else None,
                "free": float(free.group(1)) * GiB if free else None,
                "version_text": raw["vllm_version"].split(" ")[0],
            }
            seqs = re.search(r"max_num_seqs=(\d+)", notes)
            tokens = re.search(r"max_num_batched_tokens=(\d+)", notes)
            row["max_num_seqs"] = int(seqs.group(1)) if seqs else None
            row["max_num_batched_tokens"] = int(tokens.group(1)) if tokens else None
            row["enforce_eager"] = "enforce_eager=True" in notes
            if gpu_from_column:
                row["gpu_name"] = raw["gpu"] or None
            else:
                row["gpu_name"] = "H100" if row["total"] > 70 * GiB else None
            breakdown = re.search(r"\[non_kv,peak_act,non_torch,weights GiB\]: ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+)",
                                  notes)
            row["logged_act"] = float(breakdown.group(2)) if breakdown else None
            table = re.search(r"activation ([\d.]+) GiB, non-torch ([\d.]+) GiB", notes)
            if table:
                row["logged_act"] = float(table.group(1))
                row["logged_non_torch"] = float(table.group(2))
            elif breakdown:
                row["logged_non_torch"] = float(breakdown.group(3))
            cg = re.search(r"est CUDA graph ([\d.]+) GiB", notes)
            row["logged_cg"] = float(cg.group(1)) if cg else None
            rows.append(row)
    return rows, skipped


def _estimate(row, weights_bytes):
    return vm.estimate(
        row["config"], gpu_memory_bytes=int(row["total"]), tensor_parallel_size=row["tp"],
        pipeline_parallel_size=row["pp"], gpu_memory_utilization=row["util"], max_model_len=row["max_model_len"],
        dtype=row["dtype"], block_size=row["block_size"], vllm_version=row["version"], weights_bytes=weights_bytes,
        free_memory_bytes=int(row["free"]) if row["free"] else None, gpu_name=row["gpu_name"],
        max_num_seqs=row["max_num_seqs"], max_num_batched_tokens=row["max_num_batched_tokens"],
        enforce_eager=row["enforce_eager"])


def run_engine(row, with_size):
    """with_size: give the engine the checkpoint size a preflight would read from the index.

    The log has the loaded size per GPU; the index has the on-disk size. For plain checkpoints they are the same
    bytes; a bf16 checkpoint run in fp32 and MXFP4 experts padded on load differ. The on-disk proxy is the logged
    size x TP x PP x (on-disk / loaded) as the engine's own layout computes them from config.json.
    """
    weights_bytes = None
    if with_size and row["weights"]:
        arch = mc.normalize(row["config"])
        disk_bytes = mc.DTYPE_BYTES.get(arch.config_dtype or "bfloat16", 2)
        disk = mc.checkpoint_bytes_estimate(arch, disk_bytes)
        loaded = _estimate(row, None)
        loaded_total = sum(s["weights_bytes"] for s in loaded["stages"]) * row["tp"]
        weights_bytes = int(row["weights"] * row["tp"] * row["pp"] * GiB * disk / loaded_total)
    return _estimate(row, weights_bytes)


def pct(values, q):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def short(model):
    return model.split("/")[-1][:34]


def main():
    rows, skipped = load_rows()
    print(f"calibration rows with a config: {len(rows)}; skipped (no config in hf_configs.json): {len(skipped)}")
    print("  skipped: " + ", ".join(sorted(set(short(m) for m in skipped))))
    print()

    # ---------------- pass 1: checkpoint size given ----------------
    print("== 1. KV cache per GPU with the checkpoint size given (logged weights x TP x PP) ==")
    head = (f"{'model':34} {'vLLM':7} {'tp':>2} {'util':>4} {'len':>6} | {'logged':>7} {'engine':>7} {'err':>6} "
            f"{'err%':>6} | {'c1.5':>6} {'err':>6} | {'gpustk':>6} {'err':>6} | {'act':>5} {'logact':>6} "
            f"{'tok':>9} {'logtok':>9} | note")
    print(head)
    print("-" * len(head))
    errs, errs_pct, base1, base2 = [], [], [], []
    for row in rows:
        if row["kv"] is None or row["weights"] is None:
            continue
        res = run_engine(row, True)
        kv = res["kv_cache_bytes"] / GiB
        err = kv - row["kv"]
        requested = res["requested_memory_bytes"] / GiB
        c15 = requested - row["weights"] - 1.5
        gpustack = requested - (row["weights"] * 1.2 + 2.0)
        note = []
        if row.get("logged_act") is not None and row.get("logged_non_torch") is not None:
            implied = (row["weights"] + row["logged_act"] + row["logged_non_torch"] + row["kv"]) / (row["total"] / GiB)
            if abs(implied - row["util"]) > 0.01:
                note.append(f"row inconsistent: its figures add up at util {implied:.2f}, not {row['util']}")
        if res["approximate"]:
            note.append("approx")
        errs.append(abs(err))
        errs_pct.append(abs(err) / abs(row["kv"]) * 100 if row["kv"] else 0.0)
        base1.append(abs(c15 - row["kv"]))
        base2.append(abs(gpustack - row["kv"]))
        logact = f"{row['logged_act']:.2f}" if row.get("logged_act") is not None else "-"
        print(f"{short(row['model']):34} {row['version_text'][:7]:7} {row['tp']:>2} {row['util']:>4} "
              f"{row['max_model_len'] or 0:>6} | {row['kv']:>7.2f} {kv:>7.2f} {err:>+6.2f} "
              f"{errs_pct[-1]:>5.1f}% | {c15:>6.2f} {c15 - row['kv']:>+6.2f} | {gpustack:>6.2f} "
              f"{gpustack - row['kv']:>+6.2f} | {res['activation_bytes'] / GiB:>5.2f} {logact:>6} "
              f"{res['kv_cache_tokens']:>9} {row['tokens'] or '-':>9} | {'; '.join(note)}")
    print()
    print(f"  engine        KV abs error: median {statistics.median(errs):.3f} GiB, p90 {pct(errs, 0.9):.3f} GiB "
          f"(median {statistics.median(errs_pct):.2f} %, p90 {pct(errs_pct, 0.9):.2f} %)   "
          f"target median <= 0.3, p90 <= 0.75 GiB")
    print(f"  const 1.5 GiB KV abs error: median {statistics.median(base1):.3f} GiB, p90 {pct(base1, 0.9):.3f} GiB")
    print(f"  GPUStack      KV abs error: median {statistics.median(base2):.3f} GiB, p90 {pct(base2, 0.9):.3f} GiB")
    print(f"  rows: {len(errs)}")
    print()

    # ---------------- pass 2: no size given ----------------
    print("== 2. Weights per GPU from config.json alone (no checkpoint size) ==")
    print(f"{'model':34} {'vLLM':7} {'tp':>2} {'dtype':>8} {'quant':>18} | {'logged':>7} {'engine':>7} {'err%':>6}")
    werrs = []
    for row in rows:
        if row["weights"] is None:
            continue
        res = run_engine(row, False)
        w = res["weights_bytes_per_gpu"] / GiB
        e = (w - row["weights"]) / row["weights"] * 100
        werrs.append(abs(e))
        print(f"{short(row['model']):34} {row['version_text'][:7]:7} {row['tp']:>2} {res['dtype']:>8} "
              f"{str(res['quantization']):>18} | {row['weights']:>7.2f} {w:>7.2f} {e:>+5.2f}%")
    print()
    print(f"  weights-from-config abs error: median {statistics.median(werrs):.2f} %, p90 {pct(werrs, 0.9):.2f} % "
          f"(rows: {len(werrs)})   target median <= 1 %, p90 <= 3 %")
    print()

    # ---------------- pass 3: verdicts ----------------
    print("== 3. Verdicts (started vs FAILED), checkpoint size given ==")
    right = 0
    for row in rows:
        res = run_engine(row, True)
        actual = "FAILED" if row["failed"] else "started"
        predicted = "fits" if res["fits"] else "fails"
        ok = (predicted == "fits") == (actual == "started")
        right += ok
        why = res["reasons"][0][:110] if res["reasons"] else ""
        print(f"{'ok ' if ok else 'XX '} {short(row['model']):34} {row['version_text'][:7]:7} tp{row['tp']} "
              f"util {row['util']} len {row['max_model_len']}: {actual:7} / engine {predicted:5} {why}")
        if not ok and row["failed"]:
            failed_note = row["notes"][row["notes"].find("FAILED"):][:150]
            print(f"      log: {failed_note}")
    print(f"  verdicts right: {right}/{len(rows)}")
    print()

    # ---------------- extra: CUDA-graph estimate ----------------
    print("== 4. CUDA-graph memory: engine vs vLLM 0.19's own logged estimate (applied only from 0.20) ==")
    cg_err = []
    for row in rows:
        if row["logged_cg"] is None:
            continue
        res = run_engine(row, True)
        cg = res["cudagraph_bytes"] / GiB
        cg_err.append(abs(cg - row["logged_cg"]))
        print(f"  {short(row['model']):34} tp{row['tp']}: logged {row['logged_cg']:.2f} engine {cg:.2f} "
              f"({cg - row['logged_cg']:+.2f})")
    if cg_err:
        print(f"  CUDA-graph abs error: median {statistics.median(cg_err):.2f} GiB, p90 {pct(cg_err, 0.9):.2f} GiB "
              f"(rows: {len(cg_err)})")
    print()
    h200_section()
    return 0


def h200_section():
    """Section 5: vLLM 0.20.0 on an H200, where the CUDA-graph estimate is subtracted from the KV budget."""
    rows, skipped = load_rows(H200_ROWS, gpu_from_column=True)
    print("== 5. vLLM 0.20.0 on an H200 (tests/benchmarks/h200_vllm020.csv): KV, subtracted CUDA-graph estimate, "
          "verdicts ==")
    if skipped:
        print(f"  skipped (no config in hf_configs.json): {', '.join(sorted(set(short(m) for m in skipped)))}")
    head = (f"{'model':34} {'util':>4} {'len':>6} {'eager':>5} | {'logged':>7} {'engine':>7} {'err':>6} | "
            f"{'cg log':>6} {'engine':>6} {'err':>6} | {'tok':>8} {'logtok':>8} | verdict")
    print(head)
    print("-" * len(head))
    kv_err, cg_err, right = [], [], 0
    for row in rows:
        res = run_engine(row, True)
        kv = res["kv_cache_bytes"] / GiB
        err = kv - row["kv"]
        kv_err.append(abs(err))
        cg = res["cudagraph_bytes"] / GiB
        if row["logged_cg"] is not None:
            cg_err.append(abs(cg - row["logged_cg"]))
            cg_text = f"{row['logged_cg']:>6.2f} {cg:>6.2f} {cg - row['logged_cg']:>+6.2f}"
        else:
            cg_text = f"{'-':>6} {cg:>6.2f} {'':>6}"
        actual = "FAILED" if row["failed"] else "started"
        predicted = "fits" if res["fits"] else "fails"
        ok = (predicted == "fits") == (actual == "started")
        right += ok
        tokens = res["kv_cache_tokens"] if res["fits"] else "-"
        print(f"{short(row['model']):34} {row['util']:>4} {row['max_model_len']:>6} "
              f"{'yes' if row['enforce_eager'] else 'no':>5} | {row['kv']:>7.2f} {kv:>7.2f} {err:>+6.2f} | "
              f"{cg_text} | {tokens:>8} {row['tokens'] or '-':>8} | {actual} / engine {predicted}"
              f"{'' if ok else '  XX'}")
    print()
    print(f"  engine KV abs error: median {statistics.median(kv_err):.3f} GiB, p90 {pct(kv_err, 0.9):.3f} GiB, "
          f"max {max(kv_err):.3f} GiB (rows: {len(kv_err)})   target median <= 0.3, p90 <= 0.75 GiB")
    if cg_err:
        print(f"  CUDA-graph estimate abs error: median {statistics.median(cg_err):.3f} GiB, max {max(cg_err):.3f} GiB "
              f"(rows: {len(cg_err)})")
    print(f"  verdicts right: {right}/{len(rows)}")


if __name__ == "__main__":
    sys.exit(main())
