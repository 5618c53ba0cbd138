# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host plan check: services x GPUs (gpu_info output of the seed hosts, tests/fixtures/gpu_info)."""
import copy
import json
import os

import pytest

from ansible_collections.llmops.vllm_stack.plugins.module_utils import _model_catalog
from ansible_collections.llmops.vllm_stack.plugins.module_utils import _placement as pl

GIB = 2**30
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "gpu_info")


def gpu_info(name):
    with open(os.path.join(FIXTURES, name + ".json"), encoding="utf-8") as handle:
        return json.load(handle)


def always_fits(config, **kwargs):
    """Stand-in fit engine for the structural checks: everything fits, util resolved like vLLM 0.x."""
    return {"fits": True, "reasons": [], "suggestions": [], "gpu_memory_utilization":
            kwargs["gpu_memory_utilization"] or 0.9, "weights_bytes_per_gpu": 0, "kv_cache_tokens": 1,
            "requested_memory_bytes": 0, "max_model_len_fit": 1, "calls": kwargs}


def svc(name, port, gpus, model="Qwen/Qwen3-0.6B", **kw):
    return dict(name=name, model=model, port=port, gpus=gpus, **kw)


def check(services, host="h100x8", **kw):
    kw.setdefault("estimate", always_fits)
    kw.setdefault("local_models", {})
    return pl.check_plan(services, gpu_info(host), **kw)


def variables(result):
    return [p["variable"] for p in result["problems"]]


# ------------------------------------------------------------------------------------------- structure
def test_a_clean_plan_has_no_problem_and_a_table_row_per_gpu():
    result = check([svc("chat", 8000, [0, 1], model="Qwen/Qwen3-32B", tensor_parallel_size=2),
                    svc("small", 8001, [2])])
    assert result["ok"] and result["problems"] == [] and result["warnings"] == []
    assert [row["index"] for row in result["gpu_table"]] == list(range(8))
    assert [s["name"] for s in result["gpu_table"][0]["services"]] == ["chat"]
    lines = result["gpu_table_text"].splitlines()
    assert len(lines) == 2 + 8 and lines[0].startswith("GPU") and "chat 0.90" in lines[2]


def test_duplicate_ports_name_the_second_entry():
    result = check([svc("a", 8000, [0]), svc("b", 8000, [1])])
    assert not result["ok"]
    (problem,) = result["problems"]
    assert problem["variable"] == "vllm_services[1].port" and problem["service"] == "b"
    assert "8000" in problem["message"] and "vllm_services[0]" in problem["message"]


def test_unknown_gpu_index_says_which_gpus_exist():
    result = check([svc("a", 8000, [3, 4])], host="a10x4")
    (problem,) = result["problems"]
    assert problem["variable"] == "vllm_services[0].gpus"
    assert problem["message"] == "GPU 4 does not exist on this host: it has GPUs 0-3"
    assert "0 to 3" in problem["fix"]


def test_gpu_count_must_equal_tp_times_pp():
    result = check([svc("a", 8000, [0, 1, 2], model="Qwen/Qwen3-32B", tensor_parallel_size=2)])
    (problem,) = result["problems"]
    assert problem["variable"] == "vllm_services[0].gpus"
    assert "3 GPU(s) listed but tensor_parallel_size 2 x pipeline_parallel_size 1 needs 2" in problem["message"]


def test_repeated_gpu_in_one_service():
    result = check([svc("a", 8000, [1, 1], tensor_parallel_size=2)])
    assert variables(result) == ["vllm_services[0].gpus"]
    assert "listed more than once" in result["problems"][0]["message"]


def test_schema_problems_come_from_the_service_checker_all_at_once():
    result = check([svc("Bad_Name", 8000, [0]), svc("b", 8001, [1], task="chatty"),
                    svc("c", 8002, [2], tensor_parallel_size="2")])
    assert set(variables(result)) >= {"vllm_services[0].name", "vllm_services[1].task",
                                      "vllm_services[2].tensor_parallel_size"}
    assert all(p["fix"] for p in result["problems"])


def test_api_keys_are_not_the_plan_checks_business():
    result = check([svc("a", 8000, [0], api_key="short")])
    assert result["ok"]


@pytest.mark.parametrize("model, tp, gpus, message", [
    ("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", 3, [0, 1, 2],
     "Total number of attention heads (40) must be divisible by tensor parallel size (3)."),
    ("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", 3, [0, 1, 2],
     "151936 is not divisible by 3 (AssertionError in VocabParallelEmbedding"),
    ("Qwen/Qwen2.5-72B-Instruct", 6, [0, 1, 2, 3, 4, 5],
     "Total number of attention heads (64) must be divisible by tensor parallel size (6)."),
])
def test_tensor_parallel_size_must_suit_the_model(model, tp, gpus, message):
    """Structural refusals come from the real fit engine, named on tensor_parallel_size, with what would work."""
    result = check([svc("m", 8000, gpus, model=model, tensor_parallel_size=tp)], estimate=None)
    (problem,) = result["problems"]
    assert problem["variable"] == "vllm_services[0].tensor_parallel_size"
    assert problem["message"].startswith(message)
    assert "On this host: tensor_parallel_size 1 " in problem["fix"]
    assert result["services"][0]["fit"] is None  # memory is not judged for a layout vLLM refuses


@pytest.mark.parametrize("model, valid", [
    ("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", [1, 2, 4, 8]),
    ("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", [1, 2, 4]),
    ("meta-llama/Llama-3.3-70B-Instruct", [1, 2, 4, 8]),
    ("Qwen/Qwen3-0.6B", [1, 2, 4, 8]),
])
def test_valid_tensor_parallel_sizes_follow_heads_kv_heads_and_vocabulary(model, valid):
    entry = _model_catalog.lookup(model)
    sizes = pl._valid_tps(pl.fit_estimate, pl.normalize({"name": "m", "model": model}), entry["config"],
                          entry["checkpoint_bytes"], "0.20.0", 8)
    assert sizes == valid


# ---------------------------------------------------------------------------------------- shared GPUs
def test_utilizations_on_a_shared_gpu_over_one_name_every_service_and_fraction():
    result = check([svc("a", 8000, [0], gpu_memory_utilization=0.6),
                    svc("b", 8001, [0], gpu_memory_utilization=0.5)])
    (problem,) = result["problems"]
    assert problem["variable"] == ("vllm_services[0].gpu_memory_utilization, "
                                   "vllm_services[1].gpu_memory_utilization")
    assert problem["service"] == "a, b"
    assert "GPU 0 (NVIDIA H100 80GB HBM3, 79.19 GiB usable): a 0.60 + b 0.50" in problem["message"]
    assert "= 1.113 > 1" in problem["message"]
    assert "at most 0.99" in problem["fix"]
    assert result["gpu_table"][0]["over"] and "OVER" in result["gpu_table_text"]


def test_memory_used_by_other_processes_counts_against_the_gpu():
    info = gpu_info("h100x8")
    gpu = info["gpus"][0]
    other = 20 * GIB
    gpu["memory_used"] += other
    gpu["memory_free"] -= other
    gpu["processes"] = [{"pid": 777, "used_memory": other, "cmdline": "python train.py"}]
    result = pl.check_plan([svc("a", 8000, [0], gpu_memory_utilization=0.9)], info, estimate=always_fits,
                           local_models={})
    (problem,) = result["problems"]
    assert "0.253 already used by other processes (20.00 GiB)" in problem["message"]
    assert result["gpu_table"][0]["used_gib"] == 20.0


def test_memory_of_this_plans_own_running_service_is_not_counted_twice():
    info = gpu_info("h100x8")
    gpu = info["gpus"][0]
    mine = 71 * GIB
    gpu["memory_used"] += mine
    gpu["memory_free"] -= mine
    gpu["processes"] = [{"pid": 4242, "used_memory": mine,
                         "cmdline": "/opt/llmops/venv/bin/python -m vllm.entrypoints.openai.api_server --port 8000"}]
    result = pl.check_plan([svc("a", 8000, [0], gpu_memory_utilization=0.9)], info, estimate=always_fits,
                           local_models={})
    assert result["ok"], result["problems"]
    assert result["gpu_table"][0]["used_gib"] == 0.0


def test_context_of_every_instance_is_counted_next_to_the_budgets():
    # 0.5 + 0.49 = 0.99 of 79.19 GiB leaves 0.79 GiB: not enough for two 0.5 GiB CUDA contexts
    result = check([svc("a", 8000, [0], gpu_memory_utilization=0.5),
                    svc("b", 8001, [0], gpu_memory_utilization=0.49)])
    assert not result["ok"]
    assert "for 2 CUDA context(s)" in result["problems"][0]["message"]
    result = check([svc("a", 8000, [0], gpu_memory_utilization=0.5),
                    svc("b", 8001, [0], gpu_memory_utilization=0.48)])
    assert result["ok"]


def test_default_utilization_follows_the_vllm_version():
    plan = [svc("a", 8000, [0]), svc("b", 8001, [0], gpu_memory_utilization=0.07)]

    def engine_default(config, **kwargs):
        out = always_fits(config, **kwargs)
        out["gpu_memory_utilization"] = kwargs["gpu_memory_utilization"] or pl._default_util(kwargs["vllm_version"])
        return out

    assert check(plan, estimate=engine_default, vllm_version="0.19.1")["ok"]  # 0.90 + 0.07 + contexts
    assert not check(plan, estimate=engine_default, vllm_version="0.20.0")["ok"]  # 0.92 + 0.07 + contexts


# ----------------------------------------------------------------------------------------------- links
def _mixed_topology():
    """4 PCIe GPUs in two NVLink-bridged pairs (0-1, 2-3), pairs joined through the CPUs (SYS)."""
    info = gpu_info("a10x4")
    info["link_matrix"] = [["SELF", "NV4", "SYS", "SYS"], ["NV4", "SELF", "SYS", "SYS"],
                           ["SYS", "SYS", "SELF", "NV4"], ["SYS", "SYS", "NV4", "SELF"]]
    return info


def test_tp_group_across_a_slow_link_gets_a_better_set_suggested():
    result = pl.check_plan([svc("a", 8000, [0, 2], tensor_parallel_size=2)], _mixed_topology(),
                           estimate=always_fits, local_models={})
    assert result["ok"]
    (warning,) = result["warnings"]
    assert "GPUs [0, 2] talk over SYS at worst; GPUs [0, 1] are better connected (NV4)" in warning
    assert "vllm_services[0].gpus: [0, 1]" in warning


def test_better_set_is_only_suggested_among_gpus_other_services_leave_free():
    result = pl.check_plan([svc("a", 8000, [0, 2], tensor_parallel_size=2), svc("b", 8001, [1]),
                            svc("c", 8002, [3])], _mixed_topology(), estimate=always_fits, local_models={})
    assert result["warnings"] == []


@pytest.mark.parametrize("matrix, group, best", [
    ([["SELF", "NV12"], ["NV12", "SELF"]], [0, 1], [0, 1]),
    ([["SELF", "PHB", "PIX"], ["PHB", "SELF", "PHB"], ["PIX", "PHB", "SELF"]], [0, 1], [0, 2]),
    ([["SELF", "NV2", "NV4"], ["NV2", "SELF", "NV4"], ["NV4", "NV4", "SELF"]], [0, 1], [0, 2]),
])
def test_best_group_prefers_more_nvlinks_then_closer_pcie(matrix, group, best):
    assert pl.best_group(matrix, len(group), range(len(matrix))) == best


# ------------------------------------------------------------------------------------------- models
def test_model_config_in_the_entry_wins_over_everything(tmp_path):
    """A directory name the catalogue knows, but the entry's own config (6 heads) decides: TP 4 is refused."""
    config = dict(_model_catalog.lookup("Qwen/Qwen3-0.6B")["config"], num_attention_heads=6, num_key_value_heads=2)
    result = check([svc("a", 8000, [0, 1, 2, 3], model="/data/Qwen3-0.6B", model_config=config,
                        tensor_parallel_size=4, weights_bytes=123)], estimate=None)
    assert result["services"][0]["model_source"] == "vllm_services[0].model_config"
    assert result["services"][0]["weights_bytes"] == 123
    assert variables(result) == ["vllm_services[0].tensor_parallel_size"]
    assert "(6)" in result["problems"][0]["message"]


def test_config_json_on_the_host_is_read_with_the_index_total_size(tmp_path):
    model = tmp_path / "my-model"
    model.mkdir()
    config = _model_catalog.lookup("Qwen/Qwen3-32B")["config"]
    (model / "config.json").write_text(json.dumps(config))
    (model / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": 65524246528}}))
    local = {str(model): pl.read_local_model(str(model))}
    result = check([svc("a", 8000, [0, 1], model=str(model), tensor_parallel_size=2)], local_models=local)
    assert result["ok"]
    assert result["services"][0]["model_source"] == "%s/config.json" % model
    assert result["services"][0]["weights_bytes"] == 65524246528
    calls = result["services"][0]["fit"]["calls"]
    assert calls["weights_bytes"] == 65524246528 and calls["tensor_parallel_size"] == 2
    assert calls["gpu_memory_bytes"] == 81559 * 2**20 - 469 * 2**20


def test_single_file_checkpoint_size_is_summed_when_there_is_no_index(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"num_attention_heads": 2}))
    (tmp_path / "model.safetensors").write_bytes(b"\0" * 1000)
    assert pl.read_local_model(str(tmp_path)) == ({"num_attention_heads": 2}, 1000)
    assert pl.read_local_model(str(tmp_path / "missing")) == (None, None)


def test_catalogue_by_download_repo_id_then_by_directory_name_with_a_warning():
    by_repo = check([svc("a", 8000, [0], model="/data/x", download={"repo_id": "BAAI/bge-m3"}, task="embed")])
    assert by_repo["services"][0]["model_source"] == "catalogue:BAAI/bge-m3" and by_repo["warnings"] == []
    by_dir = check([svc("a", 8000, [0], model="/data/models/bge-reranker-v2-m3", task="score")])
    assert by_dir["services"][0]["model_source"] == "catalogue:BAAI/bge-reranker-v2-m3"
    assert "matched by directory name" in by_dir["warnings"][0]


def test_unknown_model_asks_for_model_config():
    result = check([svc("a", 8000, [0], model="/data/models/secret-model")])
    (problem,) = result["problems"]
    assert problem["variable"] == "vllm_services[0].model_config"
    assert "vllm_services[0].download.repo_id" in problem["fix"] and "Qwen/Qwen3-32B" in problem["fix"]


# ----------------------------------------------------------------------------------------- no driver
def test_before_the_driver_indices_are_checked_and_memory_is_left_for_later(tmp_path):
    info = copy.deepcopy(gpu_info("a10x4"))
    info["gpus"] = []
    info["link_matrix"] = []
    info["nvml"]["available"] = False
    result = pl.check_plan([svc("a", 8000, [0]), svc("b", 8001, [4])], info, estimate=always_fits,
                           local_models={})
    assert variables(result) == ["vllm_services[1].gpus"]
    assert "memory fit not checked" in result["warnings"][0]
    assert result["gpu_table"][0]["usable_gib"] is None


# ---------------------------------------------------------------------------------------------- ports
def test_ports_in_use_are_problems_unless_our_own_vllm_serves_them():
    listening = {8000: {"pid": 1, "cmdline": "nginx: master process"},
                 8001: {"pid": 2, "cmdline": "/opt/venv/bin/python -m vllm.entrypoints.openai.api_server --port 8001"}}
    result = check([svc("a", 8000, [0]), svc("b", 8001, [1])], listening=listening)
    assert variables(result) == ["vllm_services[0].port"]
    assert "nginx" in result["problems"][0]["message"]
    assert "already served by a vLLM process (pid 2)" in result["warnings"][0]


def test_listening_ports_are_read_from_proc_net(tmp_path):
    net = tmp_path / "net"
    net.mkdir()
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    (net / "tcp").write_text(header +
                             "   0: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
                             "5555 1 0000000000000000 100 0 0 10 0\n"
                             "   1: 0100007F:1F41 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 "
                             "6666 1 0000000000000000 100 0 0 10 0\n")
    (net / "tcp6").write_text(header +
                              "   0: 00000000000000000000000000000000:1F42 00000000000000000000000000000000:0000 0A "
                              "00000000:00000000 00:00000000 00000000     0        0 7777 1 0000000000000000 100 0 0 10 0\n")
    fd = tmp_path / "4242" / "fd"
    fd.mkdir(parents=True)
    os.symlink("socket:[5555]", fd / "3")
    (tmp_path / "4242" / "cmdline").write_text("python3\0-m\0vllm.entrypoints.openai.api_server\0--port\08000\0")
    ports = pl.listening_ports(str(tmp_path))
    assert sorted(ports) == [8000, 8002]  # 8001 is an established connection, not a listener
    assert ports[8000] == {"pid": 4242, "cmdline": "python3 -m vllm.entrypoints.openai.api_server --port 8000"}
    assert ports[8002] == {"pid": None, "cmdline": None}


# ------------------------------------------------------------------------------ seeds, with the real fit engine
SEEDS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "integration", "preflight")


def seed(name):
    """(vllm_services, vllm_version, gpu_info) of a seed inventory under tests/integration/preflight."""
    import yaml
    with open(os.path.join(SEEDS, name, "hosts.yml"), encoding="utf-8") as handle:
        (host,) = yaml.safe_load(handle)["all"]["hosts"].values()
    fixture = os.path.basename(host["llmops_gpu_info_fixture"])[:-len(".json")]
    return host["vllm_services"], host["vllm_version"], gpu_info(fixture)


def run_seed(name, first_service=None):
    services, version, info = seed(name)
    services[0].update(first_service or {})
    return pl.check_plan(services, info, vllm_version=version, local_models={})


def test_seed000_as_written_is_refused_on_tp3_for_40_heads():
    result = run_seed("seed000-as-written")
    assert not result["ok"]
    (problem,) = result["problems"]
    assert problem["service"] == "deepseek-r1-32b"
    assert problem["variable"] == "vllm_services[0].tensor_parallel_size"
    assert problem["message"] == "Total number of attention heads (40) must be divisible by tensor parallel size (3)."
    assert "allows (1, 2, 4)" in problem["fix"]
    assert "tensor_parallel_size 2 does not fit (30.55 GiB of weights per GPU, 21.08 GiB requested)" in problem["fix"]
    assert "tensor_parallel_size 4 on GPUs [0, 1, 2, 3] fits only with max_model_len <=" in problem["fix"]


def test_seed000_as_written_gpu3_embedding_and_reranker_fit_side_by_side():
    """0.75 + 0.20 of 22.19 GiB, 1 MiB used, two 0.5 GiB CUDA contexts: 0.995 <= 1, 0.11 GiB to spare."""
    result = run_seed("seed000-as-written")
    gpu3 = result["gpu_table"][3]
    assert [(s["name"], s["util"]) for s in gpu3["services"]] == [("bge-m3", 0.75), ("bge-reranker", 0.2)]
    assert gpu3["usable_gib"] == 22.19 and gpu3["util_sum"] == 0.95
    assert gpu3["total_fraction"] == pytest.approx(0.95 + (1 + 2 * 512) / (23028 - 306), abs=1e-4)
    assert not gpu3["over"] and gpu3["headroom_gib"] == pytest.approx(0.11, abs=0.01)
    fits = {s["name"]: s["fit"] for s in result["services"]}
    for name in ("bge-m3", "bge-reranker"):
        assert fits[name]["fits"] and fits[name]["dtype"] == "float16"  # float32 checkpoint served in fp16
        assert fits[name]["weights_bytes_per_gpu"] / GIB == pytest.approx(1.06, abs=0.01)
        assert fits[name]["weights_bytes_per_gpu"] < fits[name]["requested_memory_bytes"]


def test_seed000_with_tp2_on_gpus_0_1_does_not_fit_an_a10():
    result = run_seed("seed000-as-written", {"gpus": [0, 1], "tensor_parallel_size": 2})
    (problem,) = result["problems"]
    fit = result["services"][0]["fit"]
    assert not fit["fits"]
    assert fit["weights_bytes_per_gpu"] > fit["requested_memory_bytes"]  # 30.55 GiB of bf16 weights > 21.08 GiB
    assert problem["variable"] == "vllm_services[0].gpu_memory_utilization"
    assert "No available memory for the cache blocks" in problem["message"]


def test_seed000_tp2_fits_on_gpus_0_1_only_with_fp8_weights():
    """The other correction: FP8 weight-only (Marlin on Ampere) halves the weights, GPUs 2 and 3 stay free."""
    change = {"gpus": [0, 1], "tensor_parallel_size": 2, "quantization": "fp8", "gpu_memory_utilization": 0.92,
              "max_model_len": 16384, "max_num_batched_tokens": 8192}
    result = run_seed("seed000-as-written", change)
    fit = result["services"][0]["fit"]
    assert fit["fits"] and fit["quantization"] == "fp8"
    assert fit["weights_bytes_per_gpu"] / GIB == pytest.approx(16.0, abs=0.2)
    assert fit["kv_cache_tokens"] >= 16384
    assert result["ok"], result["problems"]


def test_seed000_fixed_tp4_with_embeddings_beside_it_is_accepted():
    result = run_seed("seed000-fixed")
    assert result["ok"], result["problems"]
    fit = result["services"][0]["fit"]
    assert fit["fits"] and fit["tensor_parallel_size"] == 4
    assert fit["weights_bytes_per_gpu"] / GIB == pytest.approx(65527752704 / 4 / GIB, rel=0.01)  # 15.3 GiB
    assert fit["kv_cache_tokens"] >= 2 * 16384
    table = result["gpu_table"]
    assert [row["util_sum"] for row in table] == [0.86, 0.86, 0.93, 0.93]
    assert all(row["total_fraction"] <= 1 for row in table)
    assert "deepseek-r1-32b 0.86, bge-m3 0.07" in result["gpu_table_text"]


def test_seed002_as_written_default_context_and_utilization_are_refused():
    result = run_seed("seed002-as-written")
    assert not result["ok"]
    by_var = {p["variable"]: p for p in result["problems"]}
    assert set(by_var) == {"vllm_services[0].max_model_len", "vllm_services[0].gpu_memory_utilization"}
    too_long = by_var["vllm_services[0].max_model_len"]
    assert "max seq len (131072)" in too_long["message"]
    fit = result["services"][0]["fit"]
    assert fit["max_model_len"] == 131072 and 2048 < fit["max_model_len_fit"] < 131072
    assert "vllm_services[0].max_model_len: " in too_long["fix"]
    # the seed's real error: free 6.92 GiB < 0.9 x 7.75 GiB = 6.98 GiB
    gpu = result["gpu_table"][0]
    assert gpu["usable_gib"] == 7.75 and gpu["util_sum"] == 0.9
    assert gpu["usable_gib"] - gpu["used_gib"] - 0.5 == pytest.approx(6.92, abs=0.01)
    assert gpu["over"] and "= 1.007 > 1" in by_var["vllm_services[0].gpu_memory_utilization"]["message"]


def test_seed002_fixed_short_context_and_085_are_accepted():
    result = run_seed("seed002-fixed")
    assert result["ok"], result["problems"]
    fit = result["services"][0]["fit"]
    assert fit["fits"] and fit["max_model_len"] == 2048 and fit["max_concurrency"] > 1
    assert result["gpu_table"][0]["total_fraction"] == pytest.approx(0.85 + (340 + 512) / (8188 - 252), abs=1e-4)


@pytest.mark.parametrize("host, model, gpus, fits", [
    ("h200x2", "meta-llama/Llama-3.3-70B-Instruct", [0, 1], True),   # 65.7 GiB of weights per 139.8 GiB H200
    ("h200x2", "meta-llama/Llama-3.3-70B-Instruct", [0], False),     # 131.4 GiB on one GPU leaves no KV cache
    ("h100x8", "Qwen/Qwen2.5-72B-Instruct", [0, 1, 2, 3], True),
    ("a100x8", "meta-llama/Llama-3.1-70B", [0, 1, 2, 3, 4, 5, 6, 7], True),
    ("rtx2080ti-22g", "Qwen/Qwen3-0.6B", [0], True),
])
def test_big_models_on_the_real_and_seed_hosts(host, model, gpus, fits):
    plan = [svc("m", 8000, gpus, model=model, tensor_parallel_size=len(gpus), max_model_len=32768,
                dtype="float16" if host == "rtx2080ti-22g" else "auto")]
    result = pl.check_plan(plan, gpu_info(host), vllm_version="0.20.0", local_models={})
    assert result["services"][0]["fit"]["fits"] is fits
    assert result["ok"] is fits
    assert result["warnings"] == []  # NVLink/NVSwitch hosts: every set is equally good
