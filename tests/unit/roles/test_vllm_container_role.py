# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vllm role with vllm_runtime=container, run by ansible-playbook on localhost (connection local).

* --check on a "fresh host" (the paths preflight looks for point nowhere, so Docker counts as not installed): the
  role passes, renders each container's docker_container parameters (read here from the JSON callback), writes
  nothing, and the API key appears nowhere in Ansible's output.
* preflight alone (read-only, not in check mode): vllm_runtime=container is refused without Docker / without the
  NVIDIA container toolkit, naming the role to enable; in --check it is not refused when those roles are enabled.
"""
import json
import os
import shlex
import subprocess
import sys

import pytest

from ansible_collections.llmops.vllm_stack.plugins.filter.vllm_service import FilterModule

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(ROOT, ".venv", "bin") if os.path.isdir(os.path.join(ROOT, ".venv")) \
    else os.path.dirname(sys.executable)
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "gpu_info", "a100x8.json")
KEY = "sk-canary-" + "5e1f" * 6
NOWHERE = {"dockerd": ["/nonexistent/usr/bin/dockerd"], "nvidia": "/nonexistent/hook", "cdi": "/nonexistent/ctk"}
SERVICE = {"name": "llama-70b", "model": "/data/models/Llama-3.3-70B-Instruct",
           "download": {"source": "modelscope", "repo_id": "LLM-Research/Llama-3.3-70B-Instruct"},
           "served_model_name": "Llama-3.3-70B-Instruct", "port": 18005, "gpus": list(range(8)),
           "tensor_parallel_size": 8, "gpu_memory_utilization": 0.9, "max_model_len": 30000, "dtype": "bfloat16"}


def play(playbook, extra, check=True, callback=None):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_ROLES_PATH=os.path.join(ROOT, "roles"), ANSIBLE_LOCALHOST_WARNING="0")
    if callback:
        env["ANSIBLE_STDOUT_CALLBACK"] = callback
    cmd = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", playbook,
           "-e", json.dumps(dict(extra, ansible_python_interpreter=sys.executable))]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def role_vars(tmp_path, **over):
    base = {"vllm_runtime": "container", "vllm_profile": "gpu", "vllm_api_key": KEY,
            "llmops_gpu_info_fixture": FIXTURE, "docker_enabled": True, "nvidia_container_toolkit_enabled": True,
            "vllm_config_dir": str(tmp_path / "etc-vllm"), "vllm_home": str(tmp_path / "var-lib-vllm"),
            "__vllm_container_probe_paths": NOWHERE,
            "model_download_models": [{"repo_id": "LLM-Research/Llama-3.3-70B-Instruct",
                                       "local_dir": "/data/models/Llama-3.3-70B-Instruct"}],
            "vllm_services": [SERVICE]}
    base.update(over)
    return base


def task_results(stdout, name_part):
    data = json.loads(stdout[stdout.index("{"):])
    return [task["hosts"]["localhost"] for p in data["plays"] for task in p["tasks"]
            if name_part in task["task"]["name"]]


@pytest.fixture(scope="module")
def fresh_check(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fresh")
    rc, out, err = play(os.path.join(HERE, "vllm_container_check.yml"), role_vars(tmp), callback="ansible.posix.json")
    return tmp, rc, out, err


def test_check_mode_on_a_fresh_host_passes_and_writes_nothing(fresh_check):
    tmp, rc, out, err = fresh_check
    assert rc == 0, (out + err)[-4000:]
    stats = json.loads(out[out.index("{"):])["stats"]["localhost"]
    assert stats["failures"] == 0 and stats["unreachable"] == 0
    assert not (tmp / "etc-vllm").exists() and not (tmp / "var-lib-vllm").exists()
    env_task = task_results(out, "Docker's NAME=value format")[0]
    assert env_task["changed"] is True
    # Docker is "not installed": the docker tasks are skipped with a message, not failed
    assert any("skipped in this --check run" in (r.get("msg") or "")
               for r in task_results(out, "Say what --check skips"))
    assert task_results(out, "Run each container and wait for it")[0].get("skipped") is True


def test_check_mode_renders_the_seed003_container(fresh_check):
    unused, rc, out, err = fresh_check
    assert rc == 0, (out + err)[-4000:]
    facts = task_results(out, "Work out each service's container")[0]["ansible_facts"]["__vllm_containers"]
    assert len(facts) == 1
    ct = facts[0]
    assert ct["name"] == "vllm-llama-70b"
    assert ct["image"] == "vllm/vllm-openai:v0.20.0"          # vllm_container_tag follows vllm_version
    assert ct["entrypoint"] == ["python3", "-m", "vllm.entrypoints.openai.api_server"]
    execstart = FilterModule().filters()["vllm_service_execstart"](SERVICE, "/venv/bin/python", "gpu")
    assert ct["command"] == shlex.split(execstart)[3:]        # host 0.0.0.0: identical flags
    assert ct["device_requests"] == [{"driver": "nvidia", "device_ids": [str(i) for i in range(8)],
                                      "capabilities": [["gpu"]]}]
    assert ct["mounts"][0] == {"type": "bind", "source": SERVICE["model"], "target": SERVICE["model"],
                               "read_only": True}
    assert ct["env_file"].endswith("/etc-vllm/llama-70b.env")
    assert ct["published_ports"] == ["0.0.0.0:18005:18005"]
    assert ct["ipc_mode"] == "host" and ct["restart_policy"] == "unless-stopped"
    assert ct["healthcheck"]["start_period"] == "1800s"


def test_the_api_key_never_reaches_ansible_output(fresh_check):
    unused, rc, out, err = fresh_check
    assert rc == 0
    assert KEY not in out and KEY not in err


def test_cdi_and_a_registry_change_devices_and_image(tmp_path):
    rc, out, err = play(os.path.join(HERE, "vllm_container_check.yml"),
                        role_vars(tmp_path, nvidia_container_toolkit_cdi_enabled=True,
                                  vllm_container_registry="registry.example.com:5000/",
                                  vllm_container_network_mode="host"),
                        callback="ansible.posix.json")
    assert rc == 0, (out + err)[-4000:]
    ct = task_results(out, "Work out each service's container")[0]["ansible_facts"]["__vllm_containers"][0]
    assert ct["image"] == "registry.example.com:5000/vllm/vllm-openai:v0.20.0"
    assert ct["device_requests"] == [{"driver": "cdi", "device_ids": ["nvidia.com/gpu=%d" % i for i in range(8)]}]
    assert ct["network_mode"] == "host" and ct["published_ports"] == []


PREFLIGHT = os.path.join(HERE, "container_roles_preflight.yml")


def preflight(tmp_path, check, **over):
    extra = role_vars(tmp_path, role_under_test="vllm", vllm_plan_check_enabled=False, **over)
    rc, out, err = play(PREFLIGHT, extra, check=check)
    return rc, " ".join((out + err).split())


@pytest.mark.parametrize("check, docker_enabled, refused", [
    (False, True, True),     # a real run: the docker role must have installed Docker already
    (True, False, True),     # --check, and nothing will install Docker
    (True, True, False),     # --check on a fresh host with the docker role enabled
])
def test_container_runtime_without_docker(tmp_path, check, docker_enabled, refused):
    rc, out = preflight(tmp_path, check, docker_enabled=docker_enabled)
    if refused:
        assert rc != 0, out[-3000:]
        assert "vllm_runtime=container runs each vLLM service in Docker, and dockerd is not installed" in out
        assert "enable the docker role first (docker_enabled: true" in out
    else:
        assert rc == 0, out[-3000:]


def test_gpu_containers_without_the_toolkit_are_refused_cpu_ones_are_not(tmp_path):
    present = dict(NOWHERE, dockerd=[sys.executable])   # any existing file stands for dockerd
    rc, out = preflight(tmp_path, False, __vllm_container_probe_paths=present)
    assert rc != 0, out[-3000:]
    assert "hands GPUs to the containers through the NVIDIA container toolkit (/nonexistent/hook, for docker --gpus)" \
        in out
    assert "enable the nvidia_container_toolkit role" in out
    rc, out = preflight(tmp_path, False, __vllm_container_probe_paths=present, vllm_profile="cpu")
    assert rc == 0, out[-3000:]


def test_container_problems_are_refused_with_the_rest_of_the_list(tmp_path):
    services = [dict(SERVICE, model="LLM-Research/Llama-3.3-70B-Instruct", host="gpu01.example.com",
                     port=18005), dict(SERVICE, name="dup", gpus=[0])]
    rc, out = preflight(tmp_path, True, vllm_services=services)
    assert rc != 0, out[-3000:]
    assert "vllm_services has 3 problem(s); nothing was changed" in out
    assert "- vllm_services[1].port: port 18005 is also used by vllm_services[0]" in out
    assert "- vllm_services[0].model: 'LLM-Research/Llama-3.3-70B-Instruct' is not a directory on the host" in out
    assert "- vllm_services[0].host: 'gpu01.example.com' is not an IP address" in out
