# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
import json
import os

import pytest

from ansible_collections.llmops.vllm_stack.plugins.modules import vllm_memory_fit

from ansible_module_runner import run_module as _run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
SHARED = os.environ.get("LLMOPS_SHARED_DIR", os.path.join(os.path.dirname(ROOT), "shared"))
with open(os.path.join(SHARED, "fixtures", "memory", "hf_configs.json"), encoding="utf-8") as _handle:
    HF = {name: entry["config"] for name, entry in json.load(_handle).items()}
with open(os.path.join(SHARED, "fixtures", "nvml", "h200x2.json"), encoding="utf-8") as _handle:
    H200 = json.load(_handle)["devices"][0]["memory_v2"]

GiB = 1 << 30
H100 = int(79.19 * GiB)
LLAMA_8B = HF["meta-llama/Llama-3.1-8B-Instruct"]


def run_module(args, check_mode=False):
    return _run(vllm_memory_fit.main, args, check_mode=check_mode)


@pytest.fixture
def model_dir(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(HF["Qwen/Qwen3-32B"]))
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": 65524246528}}))
    return tmp_path


def test_fitting_plan_reports_memory_and_changes_nothing():
    result = run_module({"model_config": LLAMA_8B, "gpu_memory_bytes": H100, "max_model_len": 8192,
                         "vllm_version": "0.19.0", "gpu_memory_utilization": 0.95})
    assert result["changed"] is False and result["fits"] is True and result["reasons"] == []
    assert result["kv_cache_bytes"] / GiB == pytest.approx(58.11, abs=0.3)  # llm-d log, H100, vLLM 0.19
    assert result["weights_bytes_per_gpu"] / GiB == pytest.approx(14.99, abs=0.05)
    assert result["max_num_batched_tokens"] == 8192 and result["max_num_seqs"] == 1024


def test_plan_that_cannot_work_is_data_not_a_failure():
    result = run_module({"model_config": HF["Qwen/Qwen3-32B"], "gpu_memory_bytes": H100, "tensor_parallel_size": 3})
    assert "failed" not in result
    assert result["fits"] is False
    assert result["reasons"][0] == "Total number of attention heads (64) must be divisible by tensor parallel size (3)."


def test_model_path_reads_config_and_checkpoint_size(model_dir):
    result = run_module({"model_path": str(model_dir), "gpu_memory_bytes": H100, "tensor_parallel_size": 2})
    assert result["weights_source"] == "checkpoint"
    assert result["weights_bytes_per_gpu"] / GiB == pytest.approx(30.59, abs=0.1)  # llm-d-benchmark log, TP2
    explicit = run_module({"model_path": str(model_dir), "gpu_memory_bytes": H100, "tensor_parallel_size": 2,
                           "weights_bytes": 2 * 65524246528})
    assert explicit["weights_bytes_per_gpu"] > 1.9 * result["weights_bytes_per_gpu"]


def test_check_mode_gives_the_same_answer(model_dir):
    args = {"model_path": str(model_dir), "gpu_memory_bytes": H100}
    assert run_module(args, check_mode=True)["kv_cache_bytes"] == run_module(args)["kv_cache_bytes"]


def test_nvml_total_and_reserved_from_gpu_info():
    result = run_module({"model_config": LLAMA_8B, "gpu_memory_bytes": H200["total"],
                         "gpu_reserved_bytes": H200["reserved"]})
    assert result["gpu_memory_bytes"] == 150109880320
    assert result["requested_memory_bytes"] == -(-150109880320 * 92 // 100)


def test_malformed_input_fails_with_what_to_change(tmp_path):
    result = run_module({"model_config": {"architectures": ["X"]}, "gpu_memory_bytes": H100})
    assert result["failed"] is True
    assert result["msg"].startswith("Estimating vLLM memory: config.json has no hidden_size")
    missing = run_module({"model_path": str(tmp_path), "gpu_memory_bytes": H100})
    assert missing["failed"] is True and "has no config.json" in missing["msg"]
    bad_util = run_module({"model_config": LLAMA_8B, "gpu_memory_bytes": H100, "gpu_memory_utilization": 2.0})
    assert bad_util["failed"] is True and "gpu_memory_utilization" in bad_util["msg"]


def test_model_config_and_model_path_are_exclusive(model_dir):
    both = run_module({"model_config": LLAMA_8B, "model_path": str(model_dir), "gpu_memory_bytes": H100})
    assert both["failed"] is True and "mutually exclusive" in both["msg"]
    neither = run_module({"gpu_memory_bytes": H100})
    assert neither["failed"] is True and "one of the following is required" in neither["msg"]


def test_runner_choice_is_validated():
    result = run_module({"model_config": LLAMA_8B, "gpu_memory_bytes": H100, "runner": "embed"})
    assert result["failed"] is True and "runner" in result["msg"]
