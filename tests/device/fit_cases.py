# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start real vLLM engines (dummy weights) on the GPU machine, one process per case, and write cases.json for
fit_vs_vllm.py, which puts the fit engine's prediction next to each log.

    python3 tests/device/fit_cases.py OUTDIR [first_case last_case]
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = [
    # name, model dir, tp, util, max_model_len, enforce_eager
    ("qwen3-0.6b-u0.9", "qwen3-0.6b", 1, 0.9, 8192, False),
    ("llama-3.1-8b-u0.9-32k", "llama-3.1-8b", 1, 0.9, 32768, False),
    ("qwen3-30b-a3b-u0.9", "qwen3-30b-a3b", 1, 0.9, 8192, False),
    ("qwen3-32b-u0.9", "qwen3-32b", 1, 0.9, 16384, False),
    ("deepseek-v2-lite-u0.9", "deepseek-v2-lite", 1, 0.9, 8192, False),
    ("gemma-2-27b-u0.9", "gemma-2-27b", 1, 0.9, 8192, False),
    ("qwen3-32b-u0.5-40k", "qwen3-32b", 1, 0.5, 40960, True),
    ("qwen3-14b-u0.3-eager", "qwen3-14b", 1, 0.3, 32768, True),
]
SNIPPET = """
import sys
from vllm import LLM
LLM(model=sys.argv[1], load_format="dummy", skip_tokenizer_init=True, tensor_parallel_size=int(sys.argv[2]),
    gpu_memory_utilization=float(sys.argv[3]), max_model_len=int(sys.argv[4]), enforce_eager=sys.argv[5] == "1")
print("ENGINE_STARTED_OK", flush=True)
"""


def main():
    outdir = sys.argv[1]
    lo, hi = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else (0, len(CASES) - 1)
    os.makedirs(outdir, exist_ok=True)
    cases_path = os.path.join(outdir, "cases.json")
    cases = json.load(open(cases_path)) if os.path.exists(cases_path) else []
    for name, model, tp, util, mml, eager in CASES[lo:hi + 1]:
        log = os.path.join(outdir, name + ".log")
        t0 = time.time()
        with open(log, "w") as handle:
            try:
                cmd = [sys.executable, "-c", SNIPPET, os.path.join(HERE, "models", model), str(tp), str(util),
                       str(mml), "1" if eager else "0"]
                env = dict(os.environ, HF_HUB_OFFLINE="1", VLLM_LOGGING_LEVEL="INFO")
                rc = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, timeout=300, env=env,
                                    check=False).returncode
            except subprocess.TimeoutExpired:
                rc = "timeout"
        print("%-28s rc=%s %.0f s" % (name, rc, time.time() - t0), flush=True)
        cases.append({"config_dir": os.path.join(HERE, "models", model), "log": log, "tp": tp, "util": util,
                      "max_model_len": mml, "enforce_eager": eager, "usage": "llm", "vllm_version": "0.20.0"})
        json.dump(cases, open(cases_path, "w"), indent=1)


if __name__ == "__main__":
    main()
