# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""inventories/seed-003-8gpu-70b-container: a 70B model, TP=8, in the vllm/vllm-openai container with an API key.

playbooks/preflight.yml runs on the inventory with a saved gpu_info result and the local connection (the real
gpu_info/vllm_plan_check modules and fit engine), on both 8 x 80 GB fixtures the seed's hardware table points at;
the inventory's service then renders to the container the vllm role would run (same filter as the role).
"""
import json
import os
import re
import shlex
import subprocess
import sys

import pytest
import yaml

from ansible_collections.llmops.vllm_stack.plugins.module_utils import _vllm_service

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INVENTORY = os.path.join(ROOT, "inventories", "seed-003-8gpu-70b-container")
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "gpu_info")
BIN = os.path.dirname(sys.executable)


def run(*args):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", ANSIBLE_LOCALHOST_WARNING="0")
    proc = subprocess.run(list(args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def group_vars():
    with open(os.path.join(INVENTORY, "group_vars", "all", "main.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.mark.parametrize("fixture, gpu_name", [("a100x8", "NVIDIA A100-SXM4-80GB"),
                                               ("h100x8", "NVIDIA H100 80GB HBM3")])
def test_seed003_passes_preflight_on_eight_80gb_gpus(fixture, gpu_name):
    rc, out = run(os.path.join(BIN, "ansible-playbook"), "-i", INVENTORY,
                  os.path.join(ROOT, "playbooks", "preflight.yml"),
                  "-e", "llmops_gpu_info_fixture=%s" % os.path.join(FIXTURES, fixture + ".json"),
                  "-e", "ansible_connection=local", "-e", "ansible_become=false",
                  "-e", "ansible_python_interpreter=%s" % sys.executable)
    assert rc == 0, out
    assert re.search(r"seed003-gpu8\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", out), out
    rows = [line for line in out.splitlines() if re.match(r"^\s+[0-7]  NVIDIA", line)]
    assert len(rows) == 8, out
    for row in rows:   # the one service holds 0.90 of every GPU
        assert gpu_name in row and "llama-70b 0.90" in row, row


def test_seed003_inventory_is_the_container_runtime_with_a_vault_key():
    gvars = group_vars()
    assert gvars["vllm_runtime"] == "container"
    assert gvars["docker_enabled"] and gvars["nvidia_container_toolkit_enabled"]
    assert gvars["vllm_api_key"] == "{{ vault_vllm_api_key }}"
    assert _vllm_service.problems(gvars["vllm_services"], "gpu", "k" * 24) == []
    assert _vllm_service.container_problems(gvars["vllm_services"]) == []
    # no literal key anywhere in the inventory
    for folder, dummy, files in os.walk(INVENTORY):
        for name in files:
            with open(os.path.join(folder, name), encoding="utf-8") as handle:
                text = handle.read()
            assert "token-abc123" not in text and not re.search(r"api[_-]key:\s*['\"]?[A-Za-z0-9-]{8,}", text)


def test_seed003_renders_to_the_seed_container_without_the_key():
    """The seed's `docker run --gpus all --ipc=host -p 18005:... vllm/vllm-openai ... -tp 8 --api-key ...`."""
    svc = group_vars()["vllm_services"][0]
    params = _vllm_service.container_params(dict(svc, api_key="k" * 24), "gpu",
                                            {"image": "vllm/vllm-openai:v0.20.0"})
    assert params["device_requests"][0]["device_ids"] == [str(i) for i in range(8)]
    assert params["ipc_mode"] == "host"
    assert params["published_ports"] == ["0.0.0.0:18005:18005"]
    cmd = params["command"]
    assert cmd[cmd.index("--tensor-parallel-size") + 1] == "8"
    assert cmd[cmd.index("--max-model-len") + 1] == "30000"
    assert cmd[cmd.index("--dtype") + 1] == "bfloat16"
    assert "--api-key" not in cmd and "k" * 24 not in json.dumps(params)
    assert {"type": "bind", "source": svc["model"], "target": svc["model"], "read_only": True} in params["mounts"]
    # identical to what the systemd runtime would run (host 0.0.0.0 on both sides)
    systemd = shlex.split(_vllm_service.systemd_quote(_vllm_service.argv(svc, "/venv/bin/python")))
    assert cmd == systemd[3:]
