# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The seed-004 inventory (two A100 nodes, TP 1 x PP 2 on Ray) through the ray role's preflight and the vLLM plan
check, and the cluster mistakes the ray role refuses before any change, each naming the variable.

Both inventory hosts run on this machine (local connection, --check); a saved gpu_info result stands in for
their GPUs and ray_node_ip gives each its own cluster address."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
INVENTORY = os.path.join(ROOT, "inventories", "seed-004-multinode")
PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ray_preflight.yml")
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "gpu_info", "a100x8.json")
BIN = os.path.join(ROOT, ".venv", "bin")
ADDRESSES = "{{ {'gpu-node-a': '198.51.100.11', 'gpu-node-b': '198.51.100.12'}[inventory_hostname] }}"


def run(playbook, **extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", ANSIBLE_LOCALHOST_WARNING="0")
    extra_vars = dict({"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                       "llmops_gpu_info_fixture": FIXTURE, "ray_node_ip": ADDRESSES}, **extra)
    exe = os.path.join(BIN, "ansible-playbook") if os.path.exists(BIN) else "ansible-playbook"
    proc = subprocess.run([exe, "-i", INVENTORY, "--check", playbook, "-e", json.dumps(extra_vars)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())


def head_only(service_overrides):
    """vllm_services as the inventory has it on the head, with some keys changed; [] on the worker."""
    with open(os.path.join(INVENTORY, "group_vars", "ray_head", "vllm.yml"), encoding="utf-8") as handle:
        import yaml  # ansible-core brings PyYAML
        svc = yaml.safe_load(handle)["vllm_services"][0]
    svc.update(service_overrides)
    return "{{ %s if inventory_hostname == 'gpu-node-a' else [] }}" % json.dumps([svc])


def test_seed004_inventory_passes_the_ray_preflight():
    rc, out = run(PLAYBOOK)
    assert rc == 0, out[-3000:]
    assert "ok=" in out and "failed=0" in out
    assert "problem(s)" not in out and "WARNING:" not in out


def test_seed004_inventory_passes_the_vllm_plan_check():
    rc, out = run(os.path.join(ROOT, "playbooks", "preflight.yml"))
    assert rc == 0, out[-3000:]
    # the head plans its half of the model on its A100; the worker has no service of its own
    assert "r1-distill-llama-70b 0.92" in out
    assert "failed=0" in out


def test_tensor_parallel_across_nodes_is_allowed_with_a_warning():
    rc, out = run(PLAYBOOK, vllm_services=head_only({"tensor_parallel_size": 2, "pipeline_parallel_size": 1}))
    assert rc == 0, out[-3000:]
    assert "WARNING: r1-distill-llama-70b: tensor_parallel_size 2 with 1 GPUs per node puts tensor parallelism " \
           "across nodes" in out


@pytest.mark.parametrize("extra, expected", [
    ({"vllm_services": head_only({"pipeline_parallel_size": 4})},
     ["vllm_services[0].tensor_parallel_size (gpu-node-a)", "= 4 GPUs, but the cluster has 2 nodes x 1 GPUs = 2",
      "waits up to 30 min for a placement group"]),
    ({"vllm_services": head_only({"nodes": 3, "distributed_executor_backend": "mp"})},
     ["vllm_services[0].distributed_executor_backend (gpu-node-a)", "vllm_services[0].nodes (gpu-node-a)",
      "the Ray cluster has 2 (ray_head + ray_workers)"]),
    ({"ray_gpus": "{{ [0, 1] if inventory_hostname == 'gpu-node-b' else [0] }}"},
     ["ray_gpus (gpu-node-a, gpu-node-b)", "1 on gpu-node-a; 2 on gpu-node-b"]),
    ({"ray_interface": "{{ 'ens1f0' if inventory_hostname == 'gpu-node-a' else 'ens2f0' }}"},
     ["ray_nccl_socket_ifname (gpu-node-b)", "NCCL_SOCKET_IFNAME=ens1f0 to every Ray worker"]),
])
def test_cluster_mistakes_are_refused_naming_the_variable(extra, expected):
    rc, out = run(PLAYBOOK, **extra)
    assert rc != 0, out[-3000:]
    assert "nothing was changed" in out
    for fragment in expected:
        assert fragment in out, out[-3000:]
