# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print the fit engine's prediction next to what a real vLLM start logged. Run on the GPU machine after the starts.

    python3 tests/device/fit_vs_vllm.py cases.json

cases.json is a list of objects, one per vLLM start:
    {"config_dir": "/tmp/m/qwen3-8b", "log": "/tmp/logs/qwen3-8b-tp1.log", "tp": 1, "util": 0.9,
     "max_model_len": 8192, "enforce_eager": false,
     "usage": "llm"|"serve", "max_num_seqs": null, "max_num_batched_tokens": null, "dtype": "auto",
     "kv_cache_dtype": "auto", "vllm_version": "0.20.0", "gpu_memory_bytes": null}
Only config_dir and log are required. ``usage`` "llm" (default) applies the defaults of vLLM's LLM class (16384
batched tokens on GPUs of 70 GiB or more, 8192 otherwise), "serve" those of ``vllm serve`` (8192 / 2048).
gpu_memory_bytes defaults to torch.cuda.mem_get_info()[1] on this machine. The checkpoint size comes from the
directory (index metadata or *.safetensors); with load_format="dummy" and no weights, give none and the engine
sizes the weights from config.json.
Exit status 0 always: this prints numbers for a person to read.
"""
from __future__ import annotations

import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLL = os.path.join(ROOT, ".cache", "collections")
LINK = os.path.join(COLL, "ansible_collections", "llmops", "vllm_stack")
if not os.path.lexists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(os.path.join("..", "..", "..", ".."), LINK)
sys.path.insert(0, COLL)

from ansible_collections.llmops.vllm_stack.plugins.module_utils._model_config import load_model_dir  # noqa: E402
from ansible_collections.llmops.vllm_stack.plugins.module_utils._vllm_memory import estimate  # noqa: E402

GiB = 1 << 30
PATTERNS = {
    "weights_gib": r"Model loading took ([\d.]+) GiB",
    "kv_gib": r"Available KV cache memory: (-?[\d.]+) GiB",
    "kv_tokens": r"GPU KV cache size: ([\d,]+) tokens",
    "concurrency": r"Maximum concurrency for [\d,]+ tokens per request: ([\d.]+)x",
    "cudagraph_est_gib": r"Estimated CUDA graph memory: ([\d.]+) GiB",
    "cudagraph_actual_gib": r"CUDA graph pool memory: ([\d.]+) GiB \(actual\)",
}
ERRORS = r"((?:ValueError|AssertionError|RuntimeError|NotImplementedError|torch\.OutOfMemoryError|" \
         r"torch\.cuda\.OutOfMemoryError): .*)"


def parse_log(path):
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    found = {}
    for key, pattern in PATTERNS.items():
        matches = re.findall(pattern, text)
        if matches:
            value = matches[0].replace(",", "")
            found[key] = float(value) if "." in value or key.endswith("gib") else int(value)
    errors = re.findall(ERRORS, text)
    found["error"] = errors[-1][:200] if errors else None
    found["started"] = "kv_gib" in found and found["error"] is None
    return found


def cuda_total():
    try:
        import torch  # pylint: disable=import-outside-toplevel
        return int(torch.cuda.mem_get_info()[1])
    except Exception:  # pylint: disable=broad-except
        return None


def predict(case, total):
    config, size = load_model_dir(case["config_dir"])
    name = ""
    try:
        import torch  # pylint: disable=import-outside-toplevel
        name = torch.cuda.get_device_name(0)
    except Exception:  # pylint: disable=broad-except
        pass
    seqs, tokens = case.get("max_num_seqs"), case.get("max_num_batched_tokens")
    if case.get("usage", "llm") == "llm":
        big = total >= 70 * GiB and "a100" not in name.lower()
        seqs = seqs or (1024 if big else 256)
        if tokens is None:
            tokens = 16384 if big else 8192
            if case.get("max_model_len"):
                tokens = min(tokens, seqs * case["max_model_len"])
    return estimate(config, gpu_memory_bytes=total, tensor_parallel_size=case.get("tp", 1),
                    pipeline_parallel_size=case.get("pp", 1), gpu_memory_utilization=case.get("util"),
                    max_model_len=case.get("max_model_len"), max_num_seqs=seqs, max_num_batched_tokens=tokens,
                    dtype=case.get("dtype", "auto"), kv_cache_dtype=case.get("kv_cache_dtype", "auto"),
                    enforce_eager=bool(case.get("enforce_eager")), vllm_version=case.get("vllm_version", "0.20.0"),
                    weights_bytes=case.get("weights_bytes", size), gpu_name=name or None)


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 0
    with open(argv[1], encoding="utf-8") as handle:
        cases = json.load(handle)
    total_here = cuda_total()
    kv_errors = []
    for case in cases:
        total = case.get("gpu_memory_bytes") or total_here
        label = (f"{os.path.basename(case['config_dir'].rstrip('/'))} tp{case.get('tp', 1)} util {case.get('util')} "
                 f"len {case.get('max_model_len')} eager {bool(case.get('enforce_eager'))}")
        print(f"== {label}")
        if not total:
            print("   no GPU total: set gpu_memory_bytes in the case")
            continue
        res = predict(case, total)
        log = parse_log(case["log"])
        rows = [
            ("started", res["fits"], log["started"]),
            ("weights GiB", round(res["weights_bytes_per_gpu"] / GiB, 2), log.get("weights_gib")),
            ("KV cache GiB", round(res["kv_cache_bytes"] / GiB, 2), log.get("kv_gib")),
            ("KV tokens", res["kv_cache_tokens"], log.get("kv_tokens")),
            ("concurrency", res["max_concurrency"], log.get("concurrency")),
            ("CUDA graph GiB (est)", round(res["cudagraph_bytes"] / GiB, 2), log.get("cudagraph_est_gib")),
            ("CUDA graph GiB (actual)", "", log.get("cudagraph_actual_gib")),
            ("activation GiB", round(res["activation_bytes"] / GiB, 2), ""),
            ("non-torch GiB", round(res["non_torch_bytes"] / GiB, 2), ""),
        ]
        print(f"   {'':24} {'engine':>12} {'vLLM log':>12}")
        for key, mine, theirs in rows:
            print(f"   {key:24} {mine!s:>12} {theirs if theirs is not None else '-'!s:>12}")
        if res["reasons"]:
            print(f"   engine reasons: {res['reasons']}")
        if log["error"]:
            print(f"   vLLM error: {log['error']}")
        if log.get("kv_gib") is not None:
            kv_errors.append(abs(res["kv_cache_bytes"] / GiB - log["kv_gib"]))
    if kv_errors:
        kv_errors.sort()
        print(f"KV abs error over {len(kv_errors)} starts: median {kv_errors[len(kv_errors) // 2]:.3f} GiB, "
              f"max {kv_errors[-1]:.3f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
