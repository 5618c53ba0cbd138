# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vLLM service entries (the inventory's ``vllm_services``) -> normalized dicts, argv, environment, problems.

Pure Python, no ansible import. One entry becomes one systemd unit (or one container) running
``python -m vllm.entrypoints.openai.api_server``. The API key never goes into argv: vLLM reads ``VLLM_API_KEY``
from its environment, which the role writes to a 0600 EnvironmentFile.
"""
from __future__ import annotations

import json
import re

TASKS = ("chat", "generate", "embed", "score")
# What vLLM's --runner / --convert get for each task (vLLM >= 0.10: --task is gone).
TASK_RUNNER = {"chat": None, "generate": None, "embed": "pooling", "score": "pooling"}
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$")
MIN_API_KEY_LEN = 16

# keys of a service entry that map to a vLLM flag; everything else goes through extra_args
FLAG_KEYS = (
    ("tensor_parallel_size", "--tensor-parallel-size"),
    ("pipeline_parallel_size", "--pipeline-parallel-size"),
    ("gpu_memory_utilization", "--gpu-memory-utilization"),
    ("max_model_len", "--max-model-len"),
    ("max_num_seqs", "--max-num-seqs"),
    ("max_num_batched_tokens", "--max-num-batched-tokens"),
    ("dtype", "--dtype"),
    ("quantization", "--quantization"),
    ("kv_cache_dtype", "--kv-cache-dtype"),
    ("block_size", "--block-size"),
    ("distributed_executor_backend", "--distributed-executor-backend"),
)
KNOWN_KEYS = {
    "name", "model", "served_model_name", "task", "port", "host", "gpus", "api_key", "enforce_eager",
    "extra_args", "env", "model_config", "weights_bytes", "download", "nodes", "runner", "convert",
    "trust_remote_code", "image", "enabled",
} | {key for key, flag in FLAG_KEYS}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def normalize(service: dict, index: int = 0) -> dict:
    """Fill the defaults of one entry (no validation beyond types needed to fill them)."""
    svc = dict(service)
    svc.setdefault("task", "chat")
    svc.setdefault("host", "0.0.0.0")
    svc.setdefault("tensor_parallel_size", 1)
    svc.setdefault("pipeline_parallel_size", 1)
    svc.setdefault("gpus", [])
    svc.setdefault("extra_args", {})
    svc.setdefault("env", {})
    svc.setdefault("enforce_eager", False)
    if not svc.get("served_model_name"):
        svc["served_model_name"] = svc.get("name") or "model-%d" % index
    return svc


def problems(services, profile: str = "gpu", default_api_key: str = "", model_paths_present=None,
             downloads=None) -> list[dict]:
    """Everything wrong with the list, all at once. Each problem names the variable and a concrete fix.

    ``model_paths_present``: {path: bool} as seen on the host (None = not checked).
    ``downloads``: set of local directories some model_download entry will fill.
    """
    out = []

    def add(var, msg, fix):
        out.append({"variable": var, "message": msg, "fix": fix})

    if not isinstance(services, list):
        add("vllm_services", "must be a list of service entries, got %s" % type(services).__name__,
            "write vllm_services as a YAML list (- name: chat ...)")
        return out
    seen_names, seen_ports = {}, {}
    for i, raw in enumerate(services):
        var = "vllm_services[%d]" % i
        if not isinstance(raw, dict):
            add(var, "is not a mapping", "each entry needs at least name, model and port")
            continue
        svc = normalize(raw, i)
        name = svc.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            add(var + ".name", "%r is not a valid service name" % (name,),
                "use lowercase letters, digits and '-' (it becomes the unit vllm-<name>.service)")
        elif name in seen_names:
            add(var + ".name", "duplicate name %r (also vllm_services[%d])" % (name, seen_names[name]),
                "give every service its own name")
        else:
            seen_names[name] = i
        unknown = sorted(set(svc) - KNOWN_KEYS)
        if unknown:
            add(var, "unknown keys: %s" % ", ".join(unknown),
                "fix the spelling, or pass vLLM flags through %s.extra_args" % var)
        if svc["task"] not in TASKS:
            add(var + ".task", "unknown task %r" % (svc["task"],),
                "use one of: %s (score = reranker)" % ", ".join(TASKS))
        model = svc.get("model")
        if not isinstance(model, str) or not model:
            add(var + ".model", "is missing", "set the model directory (e.g. /data/models/Qwen3-0.6B)")
        elif model_paths_present is not None and model.startswith("/") and not model_paths_present.get(model, False) \
                and model not in (downloads or set()) and not raw.get("download"):
            add(var + ".model", "%s does not exist on the host and no download is configured for it" % model,
                "download it first (model_download_models with local_dir: %s) or fix the path" % model)
        port = svc.get("port")
        if not _is_int(port) or not 1 <= port <= 65535:
            add(var + ".port", "%r is not a TCP port" % (port,), "use an integer 1-65535")
        elif port in seen_ports:
            add(var + ".port", "port %d is also used by vllm_services[%d]" % (port, seen_ports[port]),
                "give each service its own port, e.g. %d" % (max(seen_ports) + 1))
        else:
            seen_ports[port] = i
        for key in ("tensor_parallel_size", "pipeline_parallel_size"):
            val = svc.get(key)
            if not _is_int(val) or val < 1:
                add("%s.%s" % (var, key), "%r is not a positive integer" % (val,),
                    "use an integer such as 1, 2, 4 or 8")
        util = svc.get("gpu_memory_utilization")
        if util is not None and (isinstance(util, bool) or not isinstance(util, (int, float)) or not 0 < util <= 1):
            add(var + ".gpu_memory_utilization", "%r is not a fraction in (0, 1]" % (util,),
                "use e.g. 0.9 (a fraction of the GPU's total memory, per instance)")
        gpus = svc.get("gpus")
        if not isinstance(gpus, list) or not all(_is_int(g) and g >= 0 for g in gpus):
            add(var + ".gpus", "%r is not a list of GPU indices" % (gpus,), "use e.g. [0, 1]")
        elif profile == "gpu" and not gpus:
            add(var + ".gpus", "no GPUs assigned", "list the GPU indices this service runs on, e.g. [0]")
        key = svc.get("api_key", default_api_key)
        if key is None or key == "":
            add(var + ".api_key", "no API key (and vllm_api_key is empty)",
                "set vllm_api_key (vault) or %s.api_key: at least %d characters" % (var, MIN_API_KEY_LEN))
        elif not isinstance(key, str) or len(key) < MIN_API_KEY_LEN:
            add(var + ".api_key" if "api_key" in raw else "vllm_api_key",
                "API key is shorter than %d characters" % MIN_API_KEY_LEN,
                "use a random key, e.g. `openssl rand -hex 24`, stored with ansible-vault")
        if not isinstance(svc.get("extra_args"), dict):
            add(var + ".extra_args", "must be a mapping of flag -> value", "e.g. {reasoning-parser: deepseek_r1}")
        else:
            for flag in svc["extra_args"]:
                if flag.lstrip("-").replace("_", "-") in ("api-key", "api_key"):
                    add(var + ".extra_args", "the API key must not be passed as a flag (it would show in ps)",
                        "remove it from extra_args and set %s.api_key; it goes to the 0600 environment file" % var)
        if not isinstance(svc.get("env"), dict):
            add(var + ".env", "must be a mapping NAME: value", "e.g. {VLLM_LOGGING_LEVEL: DEBUG}")
    return out


def _flag_value(value) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def argv(service: dict, python: str, profile: str = "gpu") -> list[str]:
    """The command line of one service (no secrets in it)."""
    svc = normalize(service)
    out = [python, "-m", "vllm.entrypoints.openai.api_server",
           "--model", svc["model"],
           "--served-model-name", svc["served_model_name"],
           "--host", str(svc["host"]),
           "--port", str(svc["port"])]
    runner = svc.get("runner") or TASK_RUNNER.get(svc["task"])
    if runner:
        out += ["--runner", runner]
    if svc.get("convert"):
        out += ["--convert", svc["convert"]]
    for key, flag in FLAG_KEYS:
        val = svc.get(key)
        if val is None:
            continue
        if profile == "cpu" and key in ("tensor_parallel_size", "pipeline_parallel_size", "gpu_memory_utilization"):
            continue
        if key in ("tensor_parallel_size", "pipeline_parallel_size") and val == 1:
            continue
        out += [flag, _flag_value(val)]
    if svc.get("enforce_eager"):
        out.append("--enforce-eager")
    if svc.get("trust_remote_code"):
        out.append("--trust-remote-code")
    for flag, val in sorted(svc.get("extra_args", {}).items()):
        name = "--" + flag.lstrip("-")
        if val is True or val is None:
            out.append(name)
        elif val is False:
            continue
        else:
            out += [name, _flag_value(val)]
    return out


_SAFE = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")


def systemd_quote(args: list[str]) -> str:
    """Join argv for a unit file's ExecStart= (systemd word splitting, '%' and '$' escaped)."""
    words = []
    for arg in args:
        arg = arg.replace("%", "%%").replace("$", "$$")
        if _SAFE.match(arg):
            words.append(arg)
        else:
            words.append('"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return " ".join(words)


def environment(service: dict, profile: str = "gpu", api_key: str = "", base_env=None) -> dict:
    """Environment for the EnvironmentFile (mode 0600): API key, offline hub, GPUs, CPU KV space, user env."""
    svc = normalize(service)
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
    env.update({k: str(v) for k, v in (base_env or {}).items()})
    if profile == "gpu" and svc.get("gpus"):
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in svc["gpus"])
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    env.update({k: str(v) for k, v in svc.get("env", {}).items()})
    key = svc.get("api_key", api_key)
    if key:
        env["VLLM_API_KEY"] = key
    return env


def env_file(env: dict) -> str:
    """systemd EnvironmentFile text; values double-quoted with backslash escapes."""
    lines = []
    for k in sorted(env):
        v = str(env[k]).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        lines.append('%s="%s"' % (k, v))
    return "\n".join(lines) + "\n"
