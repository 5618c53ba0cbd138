# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start the unit the vllm role rendered (ExecStart + EnvironmentFile), prove it answers on the GPU, and put the
GPU memory it took next to vllm_memory_fit's prediction for the same service.

    python3 tests/device/serve_like_role.py /etc/systemd/system/vllm-chat.service OUTDIR
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, ".cache", "collections"))
from ansible_collections.llmops.vllm_stack.plugins.module_utils._vllm_memory import estimate  # noqa: E402

GiB = 1 << 30


def unit_command(unit_path):
    text = open(unit_path, encoding="utf-8").read()
    exec_line = re.search(r"^ExecStart=(.*)$", text, re.M).group(1)
    env_file = re.search(r"^EnvironmentFile=(.*)$", text, re.M).group(1)
    argv = shlex.split(exec_line.replace("%%", "%").replace("$$", "$"))
    env = {}
    for line in open(env_file, encoding="utf-8"):
        key, val = line.rstrip("\n").split("=", 1)
        env[key] = json.loads(val) if val.startswith('"') else val
    return text, argv, env, os.stat(env_file).st_mode & 0o777


def call(url, key=None, body=None):
    req = urllib.request.Request(url, method="POST" if body else "GET",
                                 data=json.dumps(body).encode() if body else None,
                                 headers=dict({"Content-Type": "application/json"},
                                              **({"Authorization": "Bearer " + key} if key else {})))
    try:
        resp = urllib.request.build_opener().open(req, timeout=120)
        return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


def gpu_used_mib():
    out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used,memory.total", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, check=True).stdout.split("\n")[0]
    used, total = (int(x) for x in out.split(","))
    return used, total


def main():
    unit, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    text, argv, env, mode = unit_command(unit)
    key = env.get("VLLM_API_KEY", "")
    print("unit file: %s (env file mode %o)" % (unit, mode))
    print("ExecStart argv:", " ".join(argv))
    print("API key in argv:", any(key and key in a for a in argv), "| in unit file:", bool(key) and key in text)
    used0, total = gpu_used_mib()
    log = open(os.path.join(outdir, "vllm-chat.log"), "w")
    t0 = time.time()
    proc = subprocess.Popen(argv, env=dict(os.environ, **env), stdout=log, stderr=subprocess.STDOUT)
    healthy = None
    while time.time() - t0 < 480:
        if proc.poll() is not None:
            break
        try:
            if urllib.request.build_opener().open("http://127.0.0.1:8000/health", timeout=5).status == 200:
                healthy = time.time() - t0
                break
        except OSError:
            pass
        time.sleep(2)
    result = {"healthy_after_s": healthy}
    if healthy:
        used1, total = gpu_used_mib()
        result["gpu_mib_before"], result["gpu_mib_after"], result["gpu_mib_total"] = used0, used1, total
        result["models_status"], models = call("http://127.0.0.1:8000/v1/models", key)
        result["models"] = [m["id"] for m in (models or {}).get("data", [])]
        result["models_without_key_status"] = call("http://127.0.0.1:8000/v1/models")[0]
        st, chat = call("http://127.0.0.1:8000/v1/chat/completions", key,
                        {"model": "qwen3-0.6b", "max_tokens": 16, "temperature": 0,
                         "messages": [{"role": "user", "content": "Hello"}]})
        result["chat_status"] = st
        result["chat_usage"] = (chat or {}).get("usage")
        result["chat_finish_reason"] = ((chat or {}).get("choices") or [{}])[0].get("finish_reason")
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    logtext = open(os.path.join(outdir, "vllm-chat.log"), encoding="utf-8", errors="replace").read()
    for name, pat in {"weights_gib": r"Model loading took ([\d.]+) GiB", "kv_gib": r"Available KV cache memory: ([\d.]+) GiB",
                      "kv_tokens": r"GPU KV cache size: ([\d,]+) tokens",
                      "cudagraph_est_gib": r"Estimated CUDA graph memory: ([\d.]+) GiB"}.items():
        m = re.search(pat, logtext)
        result["log_" + name] = float(m.group(1).replace(",", "")) if m else None
    cfg = json.load(open(os.path.join(ROOT, "tests/device/models/qwen3-0.6b/config.json")))
    import torch  # noqa: E402  pylint: disable=import-outside-toplevel
    torch_total = torch.cuda.mem_get_info()[1]
    est = estimate(cfg, gpu_memory_bytes=torch_total, gpu_memory_utilization=0.5, max_model_len=4096,
                   vllm_version="0.20.0", gpu_name=torch.cuda.get_device_name(0))
    result["predicted"] = {k: (round(est[k] / GiB, 3) if k.endswith("bytes") and est.get(k) is not None else est.get(k))
                           for k in ("fits", "weights_bytes_per_gpu", "activation_bytes", "non_torch_bytes",
                                     "cudagraph_bytes", "kv_cache_bytes", "kv_cache_tokens", "requested_memory_bytes")}
    print(json.dumps(result, indent=1))
    json.dump(result, open(os.path.join(outdir, "serve_result.json"), "w"), indent=1)
    ok = healthy and result.get("models") == ["qwen3-0.6b"] and result.get("models_without_key_status") == 401 \
        and result.get("chat_status") == 200
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
