"""Multi-node Ray + vLLM plans: checks across nodes, `ray status` parsing, interface addresses, ray start argv."""
import copy
import json
import os
import shlex

import pytest

from ansible_collections.llmops.vllm_stack.plugins.module_utils import _multinode as mn
from ansible_collections.llmops.vllm_stack.plugins.module_utils._vllm_service import systemd_quote

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(HERE))))
RAY_STATUS_DIR = os.path.join(ROOT, "tests", "unit", "fixtures", "ray_status")


def seed004_service(**over):
    """Seed 004: DeepSeek-R1-Distill-Llama-70B on two A100 80GB nodes, TP 1 inside a node x PP 2 across nodes."""
    svc = {"name": "r1-70b", "model": "/data/models/DeepSeek-R1-Distill-Llama-70B", "port": 8000, "gpus": [0],
           "tensor_parallel_size": 1, "pipeline_parallel_size": 2, "nodes": 2,
           "distributed_executor_backend": "ray", "max_model_len": 16384, "gpu_memory_utilization": 0.92}
    svc.update(over)
    return svc


def node(host, address, gpus=(0,), iface="ens1f0", services=None, **over):
    entry = {"host": host, "interface": iface, "address": address, "available": [iface],
             "nccl_socket_ifname": iface, "gpu_indices": list(gpus),
             "gpu_names": ["NVIDIA A100-SXM4-80GB"] * len(gpus), "ray_version": "2.48.0",
             "vllm_version": "0.20.0", "python_version": "3.11", "services": services or []}
    entry.update(over)
    return entry


def seed004(head_services=None, head=None, worker=None):
    entries = [node("gpu-a", "10.10.0.11", services=[seed004_service()] if head_services is None else head_services),
               node("gpu-b", "10.10.0.12")]
    if head:
        entries[0].update(head)
    if worker:
        entries[1].update(worker)
    return mn.complete_nodes(entries, ["gpu-a"], ["gpu-b"])


def variables(result):
    return [p["variable"] for p in result["problems"]]


# ------------------------------------------------------------------------------------------ check_cluster
def test_seed004_plan_passes_with_one_gpu_per_node():
    result = mn.check_cluster(seed004())
    assert result["ok"], result["problems"]
    assert result["warnings"] == []
    assert (result["head"], result["head_address"], result["size"], result["gpus_per_node"]) == \
        ("gpu-a", "10.10.0.11", 2, 1)


def test_two_nodes_of_eight_gpus_want_tp8_pp2():
    """The seed's 2 x 8 A100 example: TP 8 inside each node, PP 2 across."""
    eight = list(range(8))
    svc = seed004_service(gpus=eight, tensor_parallel_size=8)
    ok = mn.check_cluster(seed004([svc], head={"gpu_indices": eight}, worker={"gpu_indices": eight}))
    assert ok["ok"] and ok["gpus_per_node"] == 8
    # the seed's quiz: TP 16 without PP asks for 16 GPUs per pipeline stage -> more than the cluster gives
    svc16 = seed004_service(gpus=eight, tensor_parallel_size=16, pipeline_parallel_size=1)
    bad = mn.check_cluster(seed004([svc16], head={"gpu_indices": eight}, worker={"gpu_indices": eight}))
    assert variables(bad) == []  # 16 x 1 == 2 x 8: allowed, but tensor parallel crosses the network
    assert "puts tensor parallelism across nodes" in bad["warnings"][0]
    assert "tensor_parallel_size: 8 and vllm_services[0].pipeline_parallel_size: 2" in bad["warnings"][0]


@pytest.mark.parametrize("tp,pp,word", [(2, 2, "waits up to 30 min"), (1, 1, "1 of the cluster's GPUs stay idle")])
def test_world_size_must_equal_the_cluster_gpus(tp, pp, word):
    result = mn.check_cluster(seed004([seed004_service(tensor_parallel_size=tp, pipeline_parallel_size=pp)]))
    assert variables(result) == ["vllm_services[0].tensor_parallel_size"]
    assert word in result["problems"][0]["message"]
    assert "tensor_parallel_size: 1 and vllm_services[0].pipeline_parallel_size: 2" in result["problems"][0]["fix"]


def test_nodes_and_backend_must_match_the_cluster():
    svc = seed004_service(nodes=3, distributed_executor_backend="mp")
    result = mn.check_cluster(seed004([svc]))
    assert variables(result) == ["vllm_services[0].distributed_executor_backend", "vllm_services[0].nodes"]
    assert "the Ray cluster has 2" in result["problems"][1]["message"]
    assert "nodes: 2" in result["problems"][1]["fix"]


def test_nodes_as_a_host_list_must_name_the_head():
    result = mn.check_cluster(seed004([seed004_service(nodes=["gpu-b", "gpu-c"])]))
    assert variables(result) == ["vllm_services[0].nodes"]
    assert "without the head gpu-a" in result["problems"][0]["message"]


def test_service_gpus_must_be_the_gpus_ray_has_on_the_head():
    result = mn.check_cluster(seed004([seed004_service(gpus=[1])]))
    assert variables(result) == ["vllm_services[0].gpus"]
    assert "not the service's CUDA_VISIBLE_DEVICES" in result["problems"][0]["message"]


def test_uneven_gpu_counts_are_refused():
    result = mn.check_cluster(seed004(worker={"gpu_indices": [0, 1]}))
    assert "ray_gpus" in variables(result)
    problem = result["problems"][variables(result).index("ray_gpus")]
    assert "1 on gpu-a; 2 on gpu-b" in problem["message"]
    assert "at most 1" in problem["fix"]


def test_node_without_gpu_and_mixed_models():
    result = mn.check_cluster(seed004(worker={"gpu_indices": [], "gpu_names": []}))
    assert "ray_gpus" in variables(result) and "gives Ray no GPU" in result["problems"][0]["message"]
    mixed = mn.check_cluster(seed004(worker={"gpu_names": ["NVIDIA A100-PCIE-40GB"]}))
    assert mixed["ok"] and "different GPU models" in mixed["warnings"][0]


def test_missing_or_shared_addresses():
    result = mn.check_cluster(seed004(worker={"address": None, "available": ["eth0"]}))
    assert variables(result) == ["ray_interface"]
    assert "interface ens1f0 has no IPv4 address on gpu-b (interfaces with one: eth0)" in \
        result["problems"][0]["message"]
    same = mn.check_cluster(seed004(worker={"address": "10.10.0.11"}))
    assert variables(same) == ["ray_node_ip"]
    assert "refuses nodes that share an IP address" in same["problems"][0]["message"]


@pytest.mark.parametrize("key", ["ray_version", "python_version", "vllm_version"])
def test_versions_must_match(key):
    result = mn.check_cluster(seed004(worker={key: "9.9"}))
    assert variables(result) == [key]
    assert "9.9 on gpu-b" in result["problems"][0]["message"]


@pytest.mark.parametrize("head_value,worker_iface,ok", [
    ("ens1f0", "ens1f0", True),
    ("ens1f0", "ens2f0", False),      # vLLM copies the head's NCCL_* to the workers
    ("ens", "ens2f0", True),          # NCCL matches prefixes
    ("ens1f0,ens2f0", "ens2f0", True),
    ("=ens1f0", "ens1f0np0", False),  # '=' means the exact name
    ("^docker,lo", "ens2f0", True),   # exclusions are not checked
])
def test_nccl_interface_of_the_head_must_fit_every_node(head_value, worker_iface, ok):
    result = mn.check_cluster(seed004(head={"nccl_socket_ifname": head_value},
                                      worker={"interface": worker_iface}))
    assert result["ok"] is ok
    if not ok:
        assert variables(result) == ["ray_nccl_socket_ifname"]
        assert "copies the head's NCCL_SOCKET_IFNAME=%s" % head_value in result["problems"][0]["message"]


def test_ray_services_belong_on_the_head_only():
    result = mn.check_cluster(seed004(worker={"services": [seed004_service()]}))
    assert variables(result) == ["vllm_services[0]"]
    assert result["problems"][0]["host"] == "gpu-b"
    idle = mn.check_cluster(seed004(head_services=[]))
    assert idle["ok"] and "the workers sit idle" in idle["warnings"][0]


def test_group_mistakes():
    none = mn.check_cluster(mn.complete_nodes([], [], ["gpu-b"]))
    assert "ray_head" in variables(none)
    twice = mn.check_cluster(mn.complete_nodes([node("gpu-a", "10.0.0.1")], ["gpu-a"], ["gpu-a"]))
    assert "ray_workers" in variables(twice)


def test_hosts_outside_the_run_are_warned_not_checked():
    nodes = mn.complete_nodes([node("gpu-a", "10.10.0.11", services=[seed004_service()])], ["gpu-a"], ["gpu-b"])
    assert nodes[1] == {"host": "gpu-b", "in_play": False, "role": "worker"}
    result = mn.check_cluster(nodes)
    assert result["ok"] and "not in this run, so not checked: gpu-b" in result["warnings"][0]


def test_cpu_profile_skips_gpu_checks():
    nodes = seed004(head={"gpu_indices": [], "gpu_names": []}, worker={"gpu_indices": [], "gpu_names": []})
    assert mn.check_cluster(nodes, "cpu")["ok"]
    assert not mn.check_cluster(copy.deepcopy(nodes), "gpu")["ok"]


def test_ray_services_selects_backend_or_several_nodes():
    services = [{"name": "a"}, {"name": "b", "distributed_executor_backend": "ray"}, {"name": "c", "nodes": 2},
                {"name": "d", "nodes": 1}, "junk"]
    assert [i for i, dummy in mn.ray_services(services)] == [1, 2]


# ------------------------------------------------------------------------------------------ ray status
def _status_files():
    return sorted(f for f in os.listdir(RAY_STATUS_DIR) if f.endswith(".txt"))


@pytest.mark.parametrize("name", _status_files())
def test_ray_status_outputs(name):
    """Real `ray status` outputs (captured from the molecule cluster) with the expected reading next to them."""
    with open(os.path.join(RAY_STATUS_DIR, name), encoding="utf-8") as handle:
        text = handle.read()
    with open(os.path.join(RAY_STATUS_DIR, name[:-4] + ".json"), encoding="utf-8") as handle:
        want = json.load(handle)
    got = mn.parse_ray_status(text)
    for key, value in want.items():
        assert got[key] == value, key


def test_ray_status_before_the_cluster_reports():
    got = mn.parse_ray_status("No cluster status. It may take a few seconds for the Ray internal services to start.")
    assert got["ok"] is False and got["total_nodes"] == 0


def test_ray_status_counts_grouped_and_idle_nodes():
    text = "\n".join([
        "======== Autoscaler status: 2026-11-29 02:30:00 ========", "Node status",
        "---------------------------------------------------------------", "Active:", " 2 node_group_gpu",
        "Idle:", " 1 node_abc", "Pending:", " 10.0.0.9: gpu, launching", "Recent failures:", " (no failures)", "",
        "Resources", "---------------------------------------------------------------", "Total Usage:",
        " 2.0/24.0 CPU", " 1.0/3.0 GPU", " 0B/300.00GiB memory", "Total Demands:", " (no resource demands)"])
    got = mn.parse_ray_status(text)
    assert (got["active_nodes"], got["idle_nodes"], got["total_nodes"], got["pending_nodes"]) == (2, 1, 3, 1)
    assert got["nodes"] == ["node_group_gpu", "node_group_gpu", "node_abc"]
    assert got["resources"] == {"CPU": 24.0, "GPU": 3.0}


# ------------------------------------------------------------------------------------------ facts
FACTS = {
    "interfaces": ["lo", "eth0", "ib0", "br-3f2a", "ens1f0.100"],
    "default_ipv4": {"interface": "eth0", "address": "192.0.2.2"},
    "lo": {"device": "lo", "ipv4": {"address": "127.0.0.1"}},
    "eth0": {"device": "eth0", "ipv4": {"address": "192.0.2.2"}},
    "ib0": {"device": "ib0"},
    "br_3f2a": {"device": "br-3f2a", "ipv4": {"address": "172.18.0.1"}},
    "ens1f0.100": {"device": "ens1f0.100", "ipv4": {"address": "10.10.0.11"}},
}


@pytest.mark.parametrize("iface,address", [
    ("", "192.0.2.2"), ("eth0", "192.0.2.2"), ("br-3f2a", "172.18.0.1"), ("ens1f0.100", "10.10.0.11"),
    ("ib0", None), ("nope", None)])
def test_interface_ipv4(iface, address):
    got = mn.interface_ipv4(FACTS, iface)
    assert got["address"] == address
    assert got["interface"] == (iface or "eth0")
    assert got["available"] == ["br-3f2a", "ens1f0.100", "eth0"]


# ------------------------------------------------------------------------------------------ ray start
def test_head_and_worker_argv():
    ports = {"node_manager": 6380, "object_manager": 6381, "min_worker": 10002, "max_worker": 19999,
             "dashboard": 8265}
    head = mn.ray_start_argv("/opt/llmops/venv/bin/ray", "head", "10.10.0.11", 6379, num_gpus=1,
                             temp_dir="/var/lib/vllm/ray", ports=ports, object_store_memory=104857600)
    assert head[:8] == ["/opt/llmops/venv/bin/ray", "start", "--block", "--head", "--node-ip-address=10.10.0.11",
                        "--port=6379", "--dashboard-host=127.0.0.1", "--temp-dir=/var/lib/vllm/ray"]
    assert "--num-gpus=1" in head and "--object-store-memory=104857600" in head
    assert "--node-manager-port=6380" in head and "--dashboard-port=8265" in head
    assert head[-1] == "--disable-usage-stats"
    worker = mn.ray_start_argv("/opt/llmops/venv/bin/ray", "worker", "10.10.0.12", 6379,
                               head_address="10.10.0.11:6379", num_gpus=0, temp_dir="/ignored", ports=ports,
                               extra_args={"num-cpus": 4, "include-log-monitor": False, "no-monitor": True})
    assert worker[3:5] == ["--address=10.10.0.11:6379", "--node-ip-address=10.10.0.12"]
    assert "--num-gpus=0" in worker and "--no-monitor" in worker and "--num-cpus=4" in worker
    assert not any(a.startswith(("--temp-dir", "--head", "--dashboard-port", "--port=")) for a in worker)
    assert "--include-log-monitor" not in " ".join(worker)
    # systemd's ExecStart= takes it unchanged (no characters to quote)
    assert shlex.split(systemd_quote(worker)) == worker


@pytest.mark.parametrize("kwargs,msg", [
    ({"role": "boss", "node_ip": "1.2.3.4"}, "role must be head or worker"),
    ({"role": "head", "node_ip": ""}, "node_ip is empty"),
    ({"role": "worker", "node_ip": "1.2.3.4"}, "needs head_address"),
])
def test_argv_refuses_incomplete_settings(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        mn.ray_start_argv("ray", **kwargs)
