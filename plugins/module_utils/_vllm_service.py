# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vLLM service entries (the inventory's ``vllm_services``) -> normalized dicts, argv, environment, problems.

Pure Python, no ansible import. One entry becomes one systemd unit (or one container) running
``python -m vllm.entrypoints.openai.api_server``. The API key never goes into argv: vLLM reads ``VLLM_API_KEY``
from its environment, which the role writes to a 0600 EnvironmentFile.
"""
from __future__ import annotations

import ipaddress
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


# ---------------------------------------------------------------------------------------------------------------
# vllm_runtime: container — the same entries as vllm/vllm-openai containers (community.docker.docker_container)

# What the image runs: the module of the systemd unit's ExecStart, with the image's python3. Set explicitly
# (the image's own ENTRYPOINT changed from this to `vllm serve` over releases) so the flags stay identical.
CONTAINER_ENTRYPOINT = ("python3", "-m", "vllm.entrypoints.openai.api_server")
CONTAINER_LABEL_PREFIX = "llmops.vllm_stack."
NETWORK_MODES = ("bridge", "host")
GPU_REQUESTS = ("nvidia", "cdi")
_WILDCARDS = ("", "0.0.0.0", "::")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SHM_SIZE = re.compile(r"^[0-9]+[bBkKmMgGtTpP]?$")

CONTAINER_DEFAULTS = {
    "image": "vllm/vllm-openai:latest",
    "entrypoint": list(CONTAINER_ENTRYPOINT),
    "env_dir": "/etc/vllm",
    "gpu_request": "nvidia",
    "network_mode": "bridge",
    "ipc_mode": "host",
    "shm_size": "16G",
    "restart_policy": "unless-stopped",
    "health_start_period": 1800,
    "stop_timeout": 90,
    "home": "/var/lib/vllm",
    "read_write_paths": [],
    "read_only_paths": [],
    "user": "",
    "hardening": True,
}


def _container_options(options) -> dict:
    opts = dict(CONTAINER_DEFAULTS)
    opts.update({k: v for k, v in (options or {}).items() if v is not None})
    return opts


def container_args(service: dict, profile: str = "gpu", network_mode: str = "bridge") -> list[str]:
    """The container's command: argv() without the ``python -m vllm.entrypoints.openai.api_server`` prefix
    (CONTAINER_ENTRYPOINT runs it). With host networking the flags are identical to the systemd ExecStart; on a
    bridge network vLLM listens on 0.0.0.0 inside the container and the entry's ``host`` becomes the address the
    port is published on (container_params), so only the ``--host`` value differs. No secret is ever in it."""
    args = argv(service, CONTAINER_ENTRYPOINT[0], profile)[len(CONTAINER_ENTRYPOINT):]
    if network_mode != "host":
        args[args.index("--host") + 1] = "0.0.0.0"
    return args


def container_environment(service: dict, profile: str = "gpu", api_key: str = "", base_env=None,
                          user: str = "") -> dict:
    """environment() for a container: no CUDA_VISIBLE_DEVICES (the device request hands the container exactly
    the entry's GPUs, renumbered from 0), and USER/LOGNAME when it runs as a uid the image's /etc/passwd lacks
    (torch resolves the user name through getpass, which fails without them)."""
    env = environment(dict(service, gpus=[]), profile, api_key, base_env)
    if user:
        env.setdefault("USER", "vllm")
        env.setdefault("LOGNAME", env["USER"])
    return env


def docker_env_file(env: dict) -> str:
    """Text for docker_container's ``env_file``: ``NAME=value`` lines taken literally (no quoting, no escapes:
    community.docker splits each line at the first '='). Values that format cannot carry raise ValueError."""
    lines = []
    for name in sorted(env):
        value = str(env[name])
        if not _ENV_NAME.match(name):
            raise ValueError("environment variable name %r is not NAME=[A-Za-z_][A-Za-z0-9_]*" % (name,))
        if "\n" in value or "\r" in value or value != value.strip():
            raise ValueError("environment variable %s has a line break or surrounding whitespace, which a Docker "
                             "env file cannot hold" % name)
        lines.append("%s=%s" % (name, value))
    return "\n".join(lines) + "\n"


def _url_host(host: str) -> str:
    """Where to reach a server bound to ``host`` from the same machine."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return "[%s]" % host if ":" in host else host


def container_params(service: dict, profile: str = "gpu", options=None) -> dict:
    """community.docker.docker_container parameters for one entry (plus ``health_url`` for the role's wait).

    ``options``: CONTAINER_DEFAULTS keys (image, entrypoint, env_dir, gpu_request nvidia|cdi, network_mode
    bridge|host, ipc_mode, shm_size, restart_policy, health_start_period, stop_timeout, home, read_write_paths,
    read_only_paths, user, hardening). The API key is only in the env file, never in command, labels or here.
    """
    svc = normalize(service)
    opts = _container_options(options)
    network = opts["network_mode"]
    host, port = str(svc["host"]), svc["port"]

    device_requests = []
    if profile == "gpu" and svc["gpus"]:
        if opts["gpu_request"] == "cdi":
            device_requests = [{"driver": "cdi", "device_ids": ["nvidia.com/gpu=%d" % g for g in svc["gpus"]]}]
        else:
            device_requests = [{"driver": "nvidia", "device_ids": [str(g) for g in svc["gpus"]],
                                "capabilities": [["gpu"]]}]

    mounts, targets = [], set()
    wanted = [(svc.get("model"), True)] + [(opts["home"], False)] \
        + [(p, False) for p in opts["read_write_paths"]] + [(p, True) for p in opts["read_only_paths"]]
    for path, read_only in wanted:
        if isinstance(path, str) and path.startswith("/") and path.rstrip("/") not in targets:
            path = path.rstrip("/") or "/"
            targets.add(path)
            mounts.append({"type": "bind", "source": path, "target": path, "read_only": read_only})

    if network == "host":
        published, inner = [], host
    else:
        bind = "[%s]" % host if ":" in host else host
        published = ["%s:%d:%d" % (bind, port, port) if host else "%d:%d" % (port, port)]
        inner = "0.0.0.0"
    probe_host = _url_host(inner).strip("[]")
    health_test = ["CMD", "python3", "-c",
                   "import http.client,sys; c=http.client.HTTPConnection(%r, %d, timeout=5); "
                   "c.request('GET', '/health'); sys.exit(0 if c.getresponse().status == 200 else 1)"
                   % (probe_host, port)]

    ipc = opts["ipc_mode"] or None
    return {
        "name": "vllm-%s" % svc["name"],
        "image": svc.get("image") or opts["image"],
        "entrypoint": list(opts["entrypoint"]),
        "command": container_args(svc, profile, network),
        "env_file": "%s/%s.env" % (opts["env_dir"].rstrip("/"), svc["name"]),
        "device_requests": device_requests,
        "mounts": mounts,
        "network_mode": network,
        "published_ports": published,
        "ipc_mode": ipc,
        # /dev/shm is the host's with ipc host; the size only applies to a private IPC namespace
        "shm_size": None if ipc == "host" else opts["shm_size"],
        "healthcheck": {"test": health_test, "interval": "30s", "timeout": "10s", "retries": 3,
                        "start_period": "%ds" % int(opts["health_start_period"])},
        "restart_policy": opts["restart_policy"],
        "stop_timeout": int(opts["stop_timeout"]),
        "labels": {CONTAINER_LABEL_PREFIX + "service": svc["name"],
                   CONTAINER_LABEL_PREFIX + "served_model_name": str(svc["served_model_name"]),
                   CONTAINER_LABEL_PREFIX + "port": str(port)},
        "user": opts["user"] or None,
        "security_opts": ["no-new-privileges:true"] if opts["hardening"] else [],
        "health_url": "http://%s:%d/health" % (_url_host(host), port),
    }


def container_problems(services, options=None) -> list[dict]:
    """What only the container runtime cannot do with an otherwise valid list (problems() checks the rest)."""
    out = []
    opts = _container_options(options)

    def add(var, msg, fix):
        out.append({"variable": var, "message": msg, "fix": fix})

    if opts["network_mode"] not in NETWORK_MODES:
        add("vllm_container_network_mode", "%r is not one of %s" % (opts["network_mode"], ", ".join(NETWORK_MODES)),
            "use bridge (ports published per service) or host")
    if opts["gpu_request"] not in GPU_REQUESTS:
        add("vllm_container_gpu_request", "%r is not one of %s" % (opts["gpu_request"], ", ".join(GPU_REQUESTS)),
            "use nvidia (docker --gpus) or cdi (needs the CDI spec of the nvidia_container_toolkit role)")
    if opts["ipc_mode"] != "host" and not _SHM_SIZE.match(str(opts["shm_size"])):
        add("vllm_container_shm_size", "%r is not a size such as 16G" % (opts["shm_size"],),
            "use <number>[B|K|M|G|T|P]; tensor parallelism needs several GiB of /dev/shm (or ipc host)")
    if not isinstance(services, list):
        return out
    for i, raw in enumerate(services):
        if not isinstance(raw, dict):
            continue
        var = "vllm_services[%d]" % i
        model = raw.get("model")
        if isinstance(model, str) and model and not model.startswith("/"):
            add(var + ".model", "%r is not a directory on the host; the container only sees the model directory "
                "mounted read-only (and the hub is offline)" % model,
                "download it first (model_download_models with a local_dir) and set model to that absolute path")
        host = str(raw.get("host", "0.0.0.0"))
        if opts["network_mode"] == "bridge" and host not in _WILDCARDS:
            try:
                ipaddress.ip_address(host)
            except ValueError:
                add(var + ".host", "%r is not an IP address; Docker publishes ports on IP addresses only" % host,
                    "use the host's IP address (or 0.0.0.0), or vllm_container_network_mode: host")
        image = raw.get("image")
        if image is not None and (not isinstance(image, str) or not image or any(c.isspace() for c in image)):
            add(var + ".image", "%r is not an image reference" % (image,),
                "use e.g. registry.example.com/vllm/vllm-openai:v0.20.0, or leave it out for vllm_container_image")
    return out
