# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vllm_plan_check run the way Ansible runs it, on the seed inventories and gpu_info fixtures."""
import json
import os

import pytest
import yaml

from ansible_collections.llmops.vllm_stack.plugins.module_utils import _model_catalog
from ansible_collections.llmops.vllm_stack.plugins.modules import vllm_plan_check

from ansible_module_runner import run_module

TESTS = os.path.join(os.path.dirname(__file__), "..", "..", "..")
SEEDS = os.path.join(TESTS, "integration", "preflight")


def gpu_info(name):
    with open(os.path.join(TESTS, "fixtures", "gpu_info", name + ".json"), encoding="utf-8") as handle:
        return json.load(handle)


def seed_args(name):
    with open(os.path.join(SEEDS, name, "hosts.yml"), encoding="utf-8") as handle:
        (host,) = yaml.safe_load(handle)["all"]["hosts"].values()
    fixture = os.path.basename(host["llmops_gpu_info_fixture"])[:-len(".json")]
    return {"services": host["vllm_services"], "gpu_info": gpu_info(fixture), "vllm_version": host["vllm_version"],
            "host_label": name}


@pytest.mark.parametrize("name, ok, variables", [
    ("seed000-as-written", False, ["vllm_services[0].tensor_parallel_size"]),
    ("seed000-fixed", True, []),
    ("seed002-as-written", False, ["vllm_services[0].max_model_len", "vllm_services[0].gpu_memory_utilization"]),
    ("seed002-fixed", True, []),
])
@pytest.mark.parametrize("check_mode", [False, True])
def test_seed_plans_are_judged_and_nothing_changes(name, ok, variables, check_mode):
    result = run_module(vllm_plan_check.main, seed_args(name), check_mode=check_mode)
    assert result["changed"] is False and "failed" not in result
    assert result["ok"] is ok
    assert [p["variable"] for p in result["problems"]] == variables
    assert all(set(p) == {"service", "variable", "message", "fix"} and p["fix"] for p in result["problems"])
    assert result["gpu_table_text"].splitlines()[0].startswith("GPU  NAME")
    assert len(result["gpu_table"]) == len(seed_args(name)["gpu_info"]["gpus"])


def test_messages_name_the_host_label():
    args = seed_args("seed000-as-written")
    args["services"][1]["gpus"] = [7]
    result = run_module(vllm_plan_check.main, args)
    assert "GPU 7 does not exist on seed000-as-written: it has GPUs 0-3" in [p["message"] for p in result["problems"]]


def test_api_keys_never_leave_the_module():
    args = seed_args("seed002-fixed")
    args["services"][0]["api_key"] = "sk-secret-value-0123456789"
    result = run_module(vllm_plan_check.main, args)
    assert result["ok"] is True
    assert "sk-secret-value-0123456789" not in json.dumps(result)


def test_model_directory_on_the_host_is_read(tmp_path):
    model = tmp_path / "Qwen3-32B"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(_model_catalog.lookup("Qwen/Qwen3-32B")["config"]))
    (model / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": 65524246528}}))
    services = [{"name": "qwen3", "model": str(model), "port": 8000, "gpus": [0, 1], "tensor_parallel_size": 2,
                 "max_model_len": 32768}]
    result = run_module(vllm_plan_check.main, {"services": services, "gpu_info": gpu_info("h100x8")})
    assert result["ok"] is True
    (svc,) = result["services"]
    assert svc["model_source"] == "%s/config.json" % model and svc["weights_bytes"] == 65524246528
    assert svc["fit"]["fits"] and svc["fit"]["tensor_parallel_size"] == 2
    off = run_module(vllm_plan_check.main, {"services": services, "gpu_info": gpu_info("h100x8"),
                                            "read_model_configs": False})
    assert off["services"][0]["model_source"] == "catalogue:Qwen/Qwen3-32B"  # by directory name
    assert any("matched by directory name" in w for w in off["plan_warnings"])


def test_ports_already_listening_are_reported_when_asked(tmp_path):
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "tcp").write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 991 1 0 100 0 0 10 0\n")
    args = dict(seed_args("seed002-fixed"), check_ports_free=True, proc_path=str(tmp_path))
    result = run_module(vllm_plan_check.main, args)
    assert result["ok"] is False
    (problem,) = result["problems"]
    assert problem["variable"] == "vllm_services[0].port"
    assert "port 8000 is already in use" in problem["message"]
    args["check_ports_free"] = False
    assert run_module(vllm_plan_check.main, args)["ok"] is True


def test_larger_cuda_context_estimate_tightens_shared_gpus():
    args = seed_args("seed000-as-written")
    args["services"] = args["services"][1:]  # the two services sharing GPU 3 (0.95 + contexts = 0.995)
    assert run_module(vllm_plan_check.main, args)["ok"] is True
    result = run_module(vllm_plan_check.main, dict(args, cuda_context_mib=700))
    assert result["ok"] is False
    assert result["problems"][0]["variable"] == ("vllm_services[0].gpu_memory_utilization, "
                                                 "vllm_services[1].gpu_memory_utilization")
