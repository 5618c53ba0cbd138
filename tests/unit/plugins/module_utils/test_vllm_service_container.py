# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vllm_runtime: container — the same vllm_services entries as vllm/vllm-openai containers: the command is the
systemd ExecStart's flags, GPUs are a device request, the key lives only in the env file."""
import json
import shlex

import pytest

from ansible_collections.llmops.vllm_stack.plugins.filter.vllm_service import FilterModule
from ansible_collections.llmops.vllm_stack.plugins.module_utils import _vllm_service as s

KEY = "sk-" + "7f3a9c" * 5
PY = "/opt/llmops/venv/bin/python"
FILTERS = FilterModule().filters()


def seed003():
    """Seed 003: a 70B model, TP=8 on an 8-GPU host, published on 18005, API key."""
    return {"name": "llama-70b", "model": "/data/models/Llama-3.3-70B-Instruct",
            "served_model_name": "Llama-3.3-70B-Instruct", "port": 18005, "gpus": list(range(8)),
            "tensor_parallel_size": 8, "gpu_memory_utilization": 0.9, "max_model_len": 30000, "dtype": "bfloat16",
            "api_key": KEY}


def seed000():
    return [
        {"name": "chat", "model": "/data/models/DeepSeek-R1-Distill-Qwen-32B", "served_model_name": "deepseek-r1",
         "port": 8000, "host": "10.0.0.5", "gpus": [0, 1], "tensor_parallel_size": 2, "gpu_memory_utilization": 0.9,
         "max_model_len": 16384, "extra_args": {"reasoning-parser": "deepseek_r1",
                                                "hf-overrides": {"rope_scaling": {"factor": 4.0}}}},
        {"name": "embed", "model": "/data/models/bge-m3", "task": "embed", "port": 8001, "gpus": [3],
         "gpu_memory_utilization": 0.3},
        {"name": "rerank", "model": "/data/models/bge-reranker-v2-m3", "task": "score", "port": 8002, "gpus": [3],
         "gpu_memory_utilization": 0.3, "enforce_eager": True},
    ]


def execstart_argv(service, profile="gpu"):
    """The argv systemd runs for the unit (the role's ExecStart= line, unquoted the way systemd does)."""
    line = FILTERS["vllm_service_execstart"](service, PY, profile)
    return shlex.split(line.replace("%%", "%").replace("$$", "$"))


@pytest.mark.parametrize("service", [seed003()] + seed000(), ids=lambda svc: svc["name"])
def test_host_network_command_is_the_systemd_execstart_minus_the_python_prefix(service):
    systemd = execstart_argv(service)
    assert systemd[:3] == [PY, "-m", "vllm.entrypoints.openai.api_server"]
    assert s.container_args(service, "gpu", "host") == systemd[3:]
    params = s.container_params(service, "gpu", {"network_mode": "host"})
    assert params["entrypoint"] == ["python3", "-m", "vllm.entrypoints.openai.api_server"]
    assert params["entrypoint"] + params["command"] == ["python3"] + systemd[1:]


@pytest.mark.parametrize("service", [seed003()] + seed000(), ids=lambda svc: svc["name"])
def test_bridge_command_differs_from_execstart_only_in_the_listen_address(service):
    systemd = execstart_argv(service)[3:]
    args = s.container_args(service, "gpu", "bridge")
    assert len(args) == len(systemd)
    diff = [(a, b) for a, b in zip(args, systemd) if a != b]
    host = service.get("host", "0.0.0.0")
    assert diff == ([] if host == "0.0.0.0" else [("0.0.0.0", host)])
    assert args[args.index("--host") + 1] == "0.0.0.0"


def test_cpu_profile_command_matches_cpu_execstart_and_has_no_device_request():
    svc = dict(seed000()[0], host="0.0.0.0")
    assert s.container_args(svc, "cpu", "host") == execstart_argv(svc, "cpu")[3:]
    assert s.container_params(svc, "cpu")["device_requests"] == []


@pytest.mark.parametrize("network", ["bridge", "host"])
def test_api_key_is_in_no_parameter_only_in_the_env_file(network):
    svc = seed003()
    params = s.container_params(svc, "gpu", {"network_mode": network, "image": "vllm/vllm-openai:v0.20.0"})
    assert KEY not in json.dumps(params)
    assert not any("api-key" in a or "api_key" in a for a in params["command"])
    assert not any("key" in k.lower() for k in params["labels"])
    text = FILTERS["vllm_service_container_env"](svc, "gpu", "", {"HOME": "/var/lib/vllm"})
    assert "VLLM_API_KEY=%s\n" % KEY in text
    # the default key applies when the entry has none
    svc.pop("api_key")
    assert "VLLM_API_KEY=%s\n" % KEY in FILTERS["vllm_service_container_env"](svc, "gpu", KEY, {})


def test_seed003_parameters():
    params = s.container_params(seed003(), "gpu", {"image": "vllm/vllm-openai:v0.20.0", "env_dir": "/etc/vllm/",
                                                   "health_start_period": 3600})
    assert params["name"] == "vllm-llama-70b"
    assert params["image"] == "vllm/vllm-openai:v0.20.0"
    assert params["device_requests"] == [{"driver": "nvidia", "device_ids": ["0", "1", "2", "3", "4", "5", "6", "7"],
                                          "capabilities": [["gpu"]]}]
    assert params["mounts"][0] == {"type": "bind", "source": "/data/models/Llama-3.3-70B-Instruct",
                                   "target": "/data/models/Llama-3.3-70B-Instruct", "read_only": True}
    assert {"type": "bind", "source": "/var/lib/vllm", "target": "/var/lib/vllm", "read_only": False} \
        in params["mounts"]
    assert params["env_file"] == "/etc/vllm/llama-70b.env"
    assert params["published_ports"] == ["0.0.0.0:18005:18005"]
    assert params["network_mode"] == "bridge"
    assert params["ipc_mode"] == "host" and params["shm_size"] is None
    assert params["restart_policy"] == "unless-stopped"
    assert params["healthcheck"]["start_period"] == "3600s"
    assert params["healthcheck"]["test"][:3] == ["CMD", "python3", "-c"]
    assert "('127.0.0.1', 18005" in params["healthcheck"]["test"][3]
    assert params["health_url"] == "http://127.0.0.1:18005/health"
    assert params["command"][params["command"].index("--tensor-parallel-size") + 1] == "8"
    assert params["security_opts"] == ["no-new-privileges:true"]
    assert params["user"] is None


def test_health_check_script_runs_and_fails_when_nothing_listens():
    """The check is real Python: run it (no server on that port -> exit status 1, not a syntax error)."""
    import subprocess
    import sys
    params = s.container_params(dict(seed003(), port=1), "gpu")
    proc = subprocess.run([sys.executable, "-c", params["healthcheck"]["test"][3]], capture_output=True,
                          text=True, timeout=30, check=False)
    assert proc.returncode == 1 and "ConnectionRefusedError" in proc.stderr


def test_cdi_devices_when_the_toolkit_uses_cdi():
    params = s.container_params(seed000()[0], "gpu", {"gpu_request": "cdi"})
    assert params["device_requests"] == [{"driver": "cdi", "device_ids": ["nvidia.com/gpu=0", "nvidia.com/gpu=1"]}]


@pytest.mark.parametrize("host, published, health", [
    ("0.0.0.0", "0.0.0.0:8000:8000", "http://127.0.0.1:8000/health"),
    ("127.0.0.1", "127.0.0.1:8000:8000", "http://127.0.0.1:8000/health"),
    ("10.0.0.5", "10.0.0.5:8000:8000", "http://10.0.0.5:8000/health"),
    ("::", "[::]:8000:8000", "http://[::1]:8000/health"),
    ("fd00::5", "[fd00::5]:8000:8000", "http://[fd00::5]:8000/health"),
])
def test_bridge_publishes_on_the_entry_host(host, published, health):
    params = s.container_params({"name": "x", "model": "/m", "port": 8000, "host": host, "gpus": [0]})
    assert params["published_ports"] == [published]
    assert params["health_url"] == health
    assert params["command"][params["command"].index("--host") + 1] == "0.0.0.0"


def test_host_network_publishes_nothing_and_checks_the_bound_address():
    params = s.container_params({"name": "x", "model": "/m", "port": 8000, "host": "10.0.0.5", "gpus": [0]},
                                "gpu", {"network_mode": "host"})
    assert params["published_ports"] == []
    assert params["command"][params["command"].index("--host") + 1] == "10.0.0.5"
    assert "('10.0.0.5', 8000" in params["healthcheck"]["test"][3]


def test_private_ipc_gets_the_shm_size():
    params = s.container_params(seed003(), "gpu", {"ipc_mode": "private", "shm_size": "32G"})
    assert params["ipc_mode"] == "private" and params["shm_size"] == "32G"


def test_mounts_are_deduplicated_and_extra_paths_keep_their_mode():
    svc = dict(seed003(), model="/var/lib/vllm/models/x/")
    params = s.container_params(svc, "gpu", {"home": "/var/lib/vllm", "read_write_paths": ["/var/lib/vllm", "/scratch"],
                                             "read_only_paths": ["/etc/vllm-templates"]})
    assert [(m["target"], m["read_only"]) for m in params["mounts"]] == [
        ("/var/lib/vllm/models/x", True), ("/var/lib/vllm", False), ("/scratch", False),
        ("/etc/vllm-templates", True)]


def test_per_service_image_and_user():
    params = s.container_params(dict(seed003(), image="registry.local/vllm/vllm-openai:v0.20.0"), "gpu",
                                {"image": "vllm/vllm-openai:v0.20.0", "user": "998:998", "hardening": False})
    assert params["image"] == "registry.local/vllm/vllm-openai:v0.20.0"
    assert params["user"] == "998:998" and params["security_opts"] == []


def test_container_env_drops_cuda_visible_devices_keeps_the_rest():
    svc = dict(seed000()[0], env={"NCCL_SOCKET_IFNAME": "eth0"})
    systemd = s.environment(svc, "gpu", KEY, {"HOME": "/var/lib/vllm"})
    container = s.container_environment(svc, "gpu", KEY, {"HOME": "/var/lib/vllm"})
    assert systemd["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert "CUDA_VISIBLE_DEVICES" not in container
    assert {k: v for k, v in systemd.items() if not k.startswith("CUDA_")} == container
    assert "USER" not in container
    as_user = s.container_environment(svc, "gpu", KEY, {}, user="998:998")
    assert as_user["USER"] == "vllm" and as_user["LOGNAME"] == "vllm"


def test_docker_env_file_is_literal_and_parses_back_like_community_docker():
    env = {"VLLM_API_KEY": 'a"b\\c=d', "HF_HUB_OFFLINE": "1", "X": ""}
    text = s.docker_env_file(env)
    assert text == 'HF_HUB_OFFLINE=1\nVLLM_API_KEY=a"b\\c=d\nX=\n'
    # community.docker's parse_env_file: split each stripped line at the first '='
    parsed = dict(line.strip().split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    assert parsed == env


@pytest.mark.parametrize("env", [{"A": "x\ny"}, {"A": "x "}, {"1A": "x"}, {"A-B": "x"}])
def test_docker_env_file_refuses_what_it_cannot_hold(env):
    with pytest.raises(ValueError):
        s.docker_env_file(env)


def test_env_filter_error_names_the_variable_not_the_value():
    from ansible.errors import AnsibleFilterError
    svc = dict(seed003(), api_key=KEY + "\n")
    with pytest.raises(AnsibleFilterError) as err:
        FILTERS["vllm_service_container_env"](svc, "gpu", "", {})
    assert "VLLM_API_KEY" in str(err.value) and KEY not in str(err.value)


def _vars(problems):
    return sorted(p["variable"] for p in problems)


def test_seed_plans_have_no_container_problems():
    assert s.container_problems([seed003()]) == []
    assert s.container_problems(seed000()) == []


def test_container_problems_all_at_once():
    plan = seed000()
    plan[0]["model"] = "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"   # hub id: nothing to mount
    plan[1]["host"] = "gpu01.example.com"                           # docker publishes on IPs only
    plan[2]["image"] = "vllm/vllm-openai: v0.20.0"
    probs = s.container_problems(plan, {"ipc_mode": "private", "shm_size": "lots", "network_mode": "bridge"})
    assert _vars(probs) == ["vllm_container_shm_size", "vllm_services[0].model", "vllm_services[1].host",
                            "vllm_services[2].image"]
    by_var = {p["variable"]: p for p in probs}
    assert "model_download_models" in by_var["vllm_services[0].model"]["fix"]
    assert "vllm_container_network_mode: host" in by_var["vllm_services[1].host"]["fix"]


def test_host_network_accepts_host_names_and_shm_size_is_ignored_with_ipc_host():
    plan = [dict(seed003(), host="gpu01.example.com")]
    assert s.container_problems(plan, {"network_mode": "host", "ipc_mode": "host", "shm_size": "lots"}) == []


def test_bad_container_options_are_named():
    probs = s.container_problems([], {"network_mode": "macvlan", "gpu_request": "amd"})
    assert _vars(probs) == ["vllm_container_gpu_request", "vllm_container_network_mode"]
