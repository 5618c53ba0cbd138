# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
import csv
import json
import os
import re

import pytest

from ansible_collections.llmops.vllm_stack.plugins.module_utils import _model_config as mc
from ansible_collections.llmops.vllm_stack.plugins.module_utils import _vllm_memory as vm

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
SHARED = os.environ.get("LLMOPS_SHARED_DIR", os.path.join(os.path.dirname(ROOT), "shared"))
MEMORY = os.path.join(SHARED, "fixtures", "memory")
with open(os.path.join(MEMORY, "hf_configs.json"), encoding="utf-8") as _handle:
    HF = {name: entry["config"] for name, entry in json.load(_handle).items()}
with open(os.path.join(SHARED, "fixtures", "nvml", "h200x2.json"), encoding="utf-8") as _handle:
    H200 = json.load(_handle)["devices"][0]

GiB = 1 << 30
H100 = int(79.19 * GiB)  # what vLLM prints as the total of an H100 80GB
A10 = int(22.06 * GiB)  # nvidia-smi 23028 MiB minus what the driver keeps
RTX4060 = 8188 * (1 << 20)
RTX3090 = int(23.58 * GiB)

LLAMA_8B = HF["meta-llama/Llama-3.1-8B-Instruct"]

# DeepSeek-R1-Distill-Qwen-32B and -1.5B config.json (Qwen2 architecture), the two seed cases
R1_QWEN_32B = {
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 5120, "intermediate_size": 27648,
    "num_hidden_layers": 64, "num_attention_heads": 40, "num_key_value_heads": 8, "vocab_size": 152064,
    "max_position_embeddings": 131072, "max_window_layers": 64, "rope_theta": 1000000.0, "sliding_window": 131072,
    "use_sliding_window": False, "tie_word_embeddings": False, "torch_dtype": "bfloat16"}
R1_QWEN_15B = {
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 1536, "intermediate_size": 8960,
    "num_hidden_layers": 28, "num_attention_heads": 12, "num_key_value_heads": 2, "vocab_size": 151936,
    "max_position_embeddings": 131072, "max_window_layers": 21, "rope_theta": 10000, "sliding_window": 4096,
    "use_sliding_window": False, "tie_word_embeddings": False, "torch_dtype": "bfloat16"}
BGE_M3 = {"architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta", "hidden_size": 1024,
          "intermediate_size": 4096, "num_hidden_layers": 24, "num_attention_heads": 16, "vocab_size": 250002,
          "max_position_embeddings": 8194, "torch_dtype": "float32", "type_vocab_size": 1}


def _num(text):
    match = re.search(r"-?\d+(?:\.\d+)?", text or "")
    return float(match.group(0)) if match else None


def calibration_rows():
    rows = []
    with open(os.path.join(MEMORY, "calibration.csv"), encoding="utf-8") as handle:
        for raw in csv.DictReader(handle):
            if raw["model"] not in HF or _num(raw["kv_cache_gib"]) is None or _num(raw["weights_gib"]) is None:
                continue
            notes = raw["notes"]
            breakdown = re.search(r"activation ([\d.]+) GiB, non-torch ([\d.]+)", notes)
            if breakdown:  # rows whose own figures do not add up at their utilization are data errors
                total = (_num(raw["gpu_total_gib"]) or 79.19)
                implied = (_num(raw["weights_gib"]) + float(breakdown.group(1)) + float(breakdown.group(2)) +
                           _num(raw["kv_cache_gib"])) / total
                if abs(implied - _num(raw["gpu_memory_utilization"])) > 0.01:
                    continue
            version = re.search(r"(\d+\.\d+(?:\.\d+)?)", raw["vllm_version"])
            rows.append(pytest.param(raw, version.group(1), id=f"{raw['model'].split('/')[-1]}-{raw['vllm_version'][:7]}"
                                     f"-tp{raw['tp']}-{raw['max_model_len'][:6]}"))
    return rows


@pytest.mark.parametrize("raw,version", calibration_rows())
def test_kv_cache_matches_real_vllm_logs_when_the_checkpoint_size_is_known(raw, version):
    tp, pp = int(raw["tp"]), int(raw["pp"])
    dtype = raw["dtype"] if raw["dtype"] in ("bfloat16", "float16", "float32") else "auto"
    kwargs = dict(gpu_memory_bytes=int((_num(raw["gpu_total_gib"]) or 79.19) * GiB), tensor_parallel_size=tp,
                  pipeline_parallel_size=pp, gpu_memory_utilization=_num(raw["gpu_memory_utilization"]),
                  max_model_len=int(_num(raw["max_model_len"])), dtype=dtype, vllm_version=version,
                  block_size=int(_num(raw["block_size"])) if _num(raw["block_size"]) else None,
                  gpu_name="NVIDIA H100 80GB HBM3")
    # the log has the loaded size; the checkpoint on disk differs by the load transformations (fp32 run of a bf16
    # checkpoint, MXFP4 padding): map it back with the engine's own on-disk / loaded ratio
    arch = mc.normalize(HF[raw["model"]])
    disk = mc.checkpoint_bytes_estimate(arch, mc.DTYPE_BYTES[arch.config_dtype or "bfloat16"])
    loaded = sum(s["weights_bytes"] for s in vm.estimate(HF[raw["model"]], **kwargs)["stages"]) * tp
    size = _num(raw["weights_gib"]) * tp * pp * GiB * disk / loaded
    res = vm.estimate(HF[raw["model"]], weights_bytes=int(size), **kwargs)
    assert res["kv_cache_bytes"] / GiB == pytest.approx(_num(raw["kv_cache_gib"]), abs=0.5)


# ---- the seed cases --------------------------------------------------------------------------------------------

def test_seed_32b_on_three_a10s_fails_on_attention_heads_with_vllms_message():
    res = vm.estimate(R1_QWEN_32B, gpu_memory_bytes=A10, tensor_parallel_size=3, gpu_memory_utilization=0.95,
                      max_model_len=32768, dtype="bfloat16", gpu_name="NVIDIA A10")
    assert res["fits"] is False
    assert res["reasons"][0] == "Total number of attention heads (40) must be divisible by tensor parallel size (3)."
    tp = res["suggested"].get("tensor_parallel_size")
    assert tp is None or (40 % tp == 0 and 8 % tp == 0)


def test_seed_15b_on_an_8gb_4060_needs_a_shorter_context():
    res = vm.estimate(R1_QWEN_15B, gpu_memory_bytes=RTX4060, gpu_name="NVIDIA GeForce RTX 4060")
    assert res["fits"] is False and res["max_model_len"] == 131072
    reason = res["reasons"][0]
    assert reason.startswith("To serve at least one request with the models's max seq len (131072), (3.5 GiB KV "
                             "cache is needed, which is larger than the available KV cache memory (")
    fit = res["max_model_len_fit"]
    assert 8192 < fit < 131072
    assert f"the estimated maximum model length is {fit}." in reason
    assert res["suggested"]["max_model_len"] <= fit
    assert any(s.startswith(f"max_model_len={res['suggested']['max_model_len']}") for s in res["suggestions"])
    again = vm.estimate(R1_QWEN_15B, gpu_memory_bytes=RTX4060, gpu_name="NVIDIA GeForce RTX 4060",
                        max_model_len=res["suggested"]["max_model_len"])
    assert again["fits"] is True
    short = vm.estimate(R1_QWEN_15B, gpu_memory_bytes=RTX4060, max_model_len=8192, gpu_name="NVIDIA GeForce RTX 4060")
    assert short["fits"] is True and short["reasons"] == []
    assert short["kv_cache_bytes_per_token"] == 28 * 2 * 2 * 128 * 2  # layers x K,V x kv heads x head_dim x bf16
    assert short["max_concurrency"] > 1


def test_seed_15b_blog_settings_fit_on_the_4060():
    res = vm.estimate(R1_QWEN_15B, gpu_memory_bytes=RTX4060, gpu_memory_utilization=0.85, dtype="bfloat16",
                      max_model_len=2048, gpu_name="NVIDIA GeForce RTX 4060")
    assert res["fits"] is True


# ---- parallel layout -------------------------------------------------------------------------------------------

def test_qwen3_14b_at_tp5_fails_on_the_padded_vocabulary_first():
    res = vm.estimate(HF["Qwen/Qwen3-14B"], gpu_memory_bytes=H100, tensor_parallel_size=5)
    assert res["fits"] is False
    assert res["reasons"][0].startswith("151936 is not divisible by 5")
    assert any(r.startswith("8 is not divisible by 5") for r in res["reasons"])


def test_vocab_is_padded_to_64_before_the_tp_split():
    granite_like = dict(LLAMA_8B, vocab_size=49155)  # 49155 -> 49216 = 64 x 769
    assert vm.estimate(granite_like, gpu_memory_bytes=H100, tensor_parallel_size=4)["fits"] is True
    assert 128256 % 3 == 0  # 64 x 2004: Llama 3's vocabulary splits over 3 ranks
    res = vm.estimate(dict(LLAMA_8B, num_attention_heads=48, num_key_value_heads=48, head_dim=128, vocab_size=32000,
                           intermediate_size=14400), gpu_memory_bytes=H100, tensor_parallel_size=3)
    assert res["reasons"] == ["32000 is not divisible by 3 (AssertionError in VocabParallelEmbedding: the vocabulary "
                              "of 32000, padded to a multiple of 64, cannot be split over tensor_parallel_size=3)."]


def test_kv_heads_replicate_beyond_their_count_but_must_divide_tp():
    tp8 = vm.estimate(LLAMA_8B, gpu_memory_bytes=H100, tensor_parallel_size=8)
    tp16 = vm.estimate(LLAMA_8B, gpu_memory_bytes=H100, tensor_parallel_size=16)
    assert tp8["kv_cache_bytes_per_token"] == tp16["kv_cache_bytes_per_token"] == 32 * 2 * 1 * 128 * 2
    odd = vm.estimate(dict(LLAMA_8B, num_attention_heads=48, head_dim=128), gpu_memory_bytes=H100,
                      tensor_parallel_size=6)
    assert any(r.startswith("8 is not divisible by 6") for r in odd["reasons"])
    few = vm.estimate(dict(LLAMA_8B, num_key_value_heads=3, num_attention_heads=24, head_dim=128),
                      gpu_memory_bytes=H100, tensor_parallel_size=4)
    assert any(r.startswith("4 is not divisible by 3") for r in few["reasons"])


def test_pipeline_stages_split_layers_like_get_pp_indices():
    res = vm.estimate(HF["Qwen/Qwen3-30B-A3B"], gpu_memory_bytes=H100, pipeline_parallel_size=5)
    assert [s["layers"] for s in res["stages"]] == [[0, 9], [9, 19], [19, 29], [29, 39], [39, 48]]
    # the first stage holds the embedding, the last the lm_head and the sampler's activation peak
    assert res["stages"][-1]["activation_bytes"] > res["stages"][1]["activation_bytes"]
    whole = vm.estimate(HF["Qwen/Qwen3-30B-A3B"], gpu_memory_bytes=H100)["weights_bytes_per_gpu"]
    assert sum(s["weights_bytes"] for s in res["stages"]) == pytest.approx(whole, rel=0.01)
    too_many = vm.estimate(HF["Qwen/Qwen3-0.6B"], gpu_memory_bytes=H100, pipeline_parallel_size=29)
    assert any("pipeline_parallel_size (29)" in r for r in too_many["reasons"])


def test_mla_latent_is_one_head_on_every_rank():
    deepseek = HF["deepseek-ai/DeepSeek-V2-Lite-Chat"]
    tp1 = vm.estimate(deepseek, gpu_memory_bytes=H100)
    tp4 = vm.estimate(deepseek, gpu_memory_bytes=H100, tensor_parallel_size=4)
    assert tp1["kv_cache_bytes_per_token"] == tp4["kv_cache_bytes_per_token"] == 27 * 576 * 2


# ---- checks and messages ---------------------------------------------------------------------------------------

def test_no_kv_room_uses_vllms_message():
    res = vm.estimate(HF["RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic"], gpu_memory_bytes=int(79.18 * GiB),
                      gpu_memory_utilization=0.9, max_model_len=16000, vllm_version="0.11.0",
                      weights_bytes=int(67.72 * GiB))
    assert res["fits"] is False
    assert res["reasons"] == ["No available memory for the cache blocks. Try increasing `gpu_memory_utilization` "
                              "when initializing the engine. See https://docs.vllm.ai/en/latest/configuration/"
                              "conserving_memory/ for more details."]
    assert res["kv_cache_bytes"] / GiB == pytest.approx(-1.44, abs=0.1)
    assert res["suggested"]["tensor_parallel_size"] == 2


def test_v0_reports_the_old_max_seq_len_message():
    res = vm.estimate(LLAMA_8B, gpu_memory_bytes=RTX3090, gpu_memory_utilization=0.9, max_model_len=29000,
                      vllm_version="0.6.4", weights_bytes=int(14.9888 * GiB))
    assert res["engine"] == "v0" and res["fits"] is False
    match = re.fullmatch(r"The model's max seq len \(29000\) is larger than the maximum number of tokens that can be "
                         r"stored in KV cache \((\d+)\)\. Try increasing `gpu_memory_utilization` or decreasing "
                         r"`max_model_len` when initializing the engine\.", res["reasons"][0])
    assert match and int(match.group(1)) == pytest.approx(23648, rel=0.02)  # the real log: 23648
    ok = vm.estimate(LLAMA_8B, gpu_memory_bytes=RTX3090, gpu_memory_utilization=0.9, max_model_len=20000,
                     vllm_version="0.6.4")
    assert ok["fits"] is True


def test_free_memory_below_requested_fails_like_request_memory():
    res = vm.estimate(HF["Qwen/Qwen3-0.6B"], gpu_memory_bytes=H100, gpu_memory_utilization=0.95,
                      free_memory_bytes=int(60.87 * GiB), vllm_version="0.19.0")
    assert res["reasons"][0] == ("Free memory on device cuda:0 (60.87/79.19 GiB) on startup is less than desired GPU "
                                 "memory utilization (0.95, 75.23 GiB). Decrease GPU memory utilization or reduce GPU "
                                 "memory used by other processes.")
    assert res["suggested"]["gpu_memory_utilization"] == 0.76
    older = vm.estimate(HF["Qwen/Qwen3-0.6B"], gpu_memory_bytes=H100, gpu_memory_utilization=0.95,
                        free_memory_bytes=int(60.87 * GiB), vllm_version="0.11.0")
    assert older["reasons"][0].startswith("Free memory on device (60.87/79.19 GiB)")
    enough = vm.estimate(HF["Qwen/Qwen3-0.6B"], gpu_memory_bytes=H100, free_memory_bytes=H100 - GiB)
    assert enough["fits"] is True


def test_max_model_len_above_the_derived_maximum_is_refused():
    res = vm.estimate(HF["microsoft/phi-2"], gpu_memory_bytes=H100, max_model_len=8192)
    assert res["fits"] is False
    assert res["reasons"][0].startswith("User-specified max_model_len (8192) is greater than the derived max_model_len "
                                        "(n_positions=2048 or model_max_length=None in model's config.json). To allow "
                                        "overriding this maximum, set the env var VLLM_ALLOW_LONG_MAX_MODEL_LEN=1.")
    assert res["suggested"]["max_model_len"] == 2048


def test_cuda_graphs_outside_the_budget_up_to_0_19():
    cfg = HF["Qwen/Qwen3-30B-A3B"]
    risky = vm.estimate(cfg, gpu_memory_bytes=H100, gpu_memory_utilization=0.99, max_model_len=8192,
                        vllm_version="0.19.0")
    assert risky["fits"] is False and risky["cudagraph_applied"] is False
    assert any(r.startswith("CUDA graphs (about") and "torch.OutOfMemoryError" in r for r in risky["reasons"])
    assert "enforce_eager=true" in " ".join(risky["suggestions"])
    eager = vm.estimate(cfg, gpu_memory_bytes=H100, gpu_memory_utilization=0.99, max_model_len=8192,
                        vllm_version="0.19.0", enforce_eager=True)
    assert eager["fits"] is True and eager["cudagraph_bytes"] == 0
    budgeted = vm.estimate(cfg, gpu_memory_bytes=H100, gpu_memory_utilization=0.99, max_model_len=8192,
                           vllm_version="0.20.0")
    assert budgeted["fits"] is True and budgeted["cudagraph_applied"] is True


def test_0_20_subtracts_the_cudagraph_estimate_and_raises_the_default_util():
    old = vm.estimate(LLAMA_8B, gpu_memory_bytes=H100, max_model_len=8192, vllm_version="0.19.0")
    new = vm.estimate(LLAMA_8B, gpu_memory_bytes=H100, max_model_len=8192, vllm_version="0.20.0")
    assert (old["gpu_memory_utilization"], new["gpu_memory_utilization"]) == (0.9, 0.92)
    same_util = vm.estimate(LLAMA_8B, gpu_memory_bytes=H100, max_model_len=8192, vllm_version="0.20.0",
                            gpu_memory_utilization=0.9)
    assert old["kv_cache_bytes"] - same_util["kv_cache_bytes"] == new["cudagraph_bytes"]
    assert 0.3 * GiB < new["cudagraph_bytes"] < 1.5 * GiB


# ---- vLLM 0.20 on an H200: the subtracted CUDA-graph estimate (tests/benchmarks/h200_vllm020.csv, real logs) ----

H200_CSV = os.path.join(ROOT, "tests", "benchmarks", "h200_vllm020.csv")
H200_NAME = "NVIDIA H200"


def h200_rows(with_estimate=False):
    with open(H200_CSV, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [pytest.param(raw, id=f"{raw['model'].split('/')[-1]}-u{raw['gpu_memory_utilization']}-"
                                 f"{raw['max_model_len']}{'-eager' if 'enforce_eager=True' in raw['notes'] else ''}")
            for raw in rows if not with_estimate or "est CUDA graph" in raw["notes"]]


def _h200_estimate(raw, **changes):
    notes = raw["notes"]
    kwargs = dict(gpu_memory_bytes=int(float(raw["gpu_total_gib"]) * GiB),
                  gpu_memory_utilization=float(raw["gpu_memory_utilization"]),
                  max_model_len=int(raw["max_model_len"]), vllm_version=raw["vllm_version"], gpu_name=H200_NAME,
                  max_num_seqs=int(re.search(r"max_num_seqs=(\d+)", notes).group(1)),
                  max_num_batched_tokens=int(re.search(r"max_num_batched_tokens=(\d+)", notes).group(1)),
                  enforce_eager="enforce_eager=True" in notes)
    kwargs.update(changes)
    return vm.estimate(HF[raw["model"]], **kwargs)


@pytest.mark.parametrize("raw", h200_rows(with_estimate=True))
def test_0_20_cudagraph_estimate_matches_what_vllm_logged_on_the_h200(raw):
    logged = float(re.search(r"est CUDA graph ([\d.]+) GiB", raw["notes"]).group(1))
    res = _h200_estimate(raw)
    assert res["cudagraph_applied"] is True
    assert res["cudagraph_bytes"] / GiB == pytest.approx(logged, abs=0.15)


@pytest.mark.parametrize("raw", h200_rows())
def test_0_20_kv_cache_and_verdict_match_the_h200_logs(raw):
    res = _h200_estimate(raw)
    # dummy weights are laid out from config.json, so the loaded size is the config's
    assert res["weights_bytes_per_gpu"] / GiB == pytest.approx(float(raw["weights_gib"]), abs=0.05)
    assert res["kv_cache_bytes"] / GiB == pytest.approx(float(raw["kv_cache_gib"]), abs=0.3)
    assert res["fits"] is ("FAILED" not in raw["notes"])
    if "enforce_eager=True" in raw["notes"]:
        assert res["cudagraph_bytes"] == 0


def test_first_full_capture_holds_fa3_split_kv_buffers_that_tp_divides():
    # FA3 mha_fwd allocates out_accum + softmax_lse_accum: splits x heads x tokens x (head_dim_v + 1) fp32, for the
    # largest decode graph; the per-graph part depends on the layers only, which TP does not change
    raw = next(p.values[0] for p in h200_rows() if p.values[0]["model"] == "Qwen/Qwen3-32B")
    tp1 = _h200_estimate(raw)["cudagraph_bytes"]
    tp2 = _h200_estimate(raw, tensor_parallel_size=2)["cudagraph_bytes"]
    arch = mc.normalize(HF["Qwen/Qwen3-32B"])
    buffers = vm.CG_MAX_NUM_SPLITS * arch.num_attention_heads * 512 * (arch.head_dim + 1) * 4
    assert tp1 - tp2 == pytest.approx(buffers / 2, rel=0.01)


def test_split_kv_buffers_only_on_hopper_where_fa3_runs():
    settings = dict(gpu_memory_bytes=H100, max_model_len=8192, max_num_seqs=1024, max_num_batched_tokens=8192,
                    vllm_version="0.20.0")
    hopper = vm.estimate(LLAMA_8B, gpu_name="NVIDIA H100 80GB HBM3", **settings)["cudagraph_bytes"]
    ampere = vm.estimate(LLAMA_8B, gpu_name="NVIDIA A100-SXM4-80GB", **settings)["cudagraph_bytes"]
    assert hopper >= vm.CG_MAX_NUM_SPLITS * 32 * 512 * 128 * 4  # Llama-3.1-8B: 32 heads x 128
    assert 0 < ampere < hopper


def test_fewer_capture_sizes_mean_fewer_extrapolated_graphs():
    small = vm.estimate(LLAMA_8B, gpu_memory_bytes=H100, max_model_len=8192, max_num_seqs=16,
                        gpu_name="NVIDIA H100 80GB HBM3")
    big = vm.estimate(LLAMA_8B, gpu_memory_bytes=H100, max_model_len=8192, max_num_seqs=1024,
                      gpu_name="NVIDIA H100 80GB HBM3")
    assert 0 < small["cudagraph_bytes"] < big["cudagraph_bytes"] / 2


def _llm_d_0_19_estimates():
    out = []
    with open(os.path.join(MEMORY, "calibration.csv"), encoding="utf-8") as handle:
        for raw in csv.DictReader(handle):
            logged = re.search(r"est CUDA graph ([\d.]+) GiB", raw["notes"])
            if logged and raw["model"] in HF and raw["vllm_version"].startswith("0.19"):
                res = vm.estimate(HF[raw["model"]], gpu_memory_bytes=int((_num(raw["gpu_total_gib"]) or 79.19) * GiB),
                                  tensor_parallel_size=int(raw["tp"]),
                                  gpu_memory_utilization=_num(raw["gpu_memory_utilization"]),
                                  max_model_len=int(_num(raw["max_model_len"])),
                                  dtype=raw["dtype"] if raw["dtype"] in ("bfloat16", "float16", "float32") else "auto",
                                  vllm_version="0.19.0", gpu_name="NVIDIA H100 80GB HBM3")
                out.append(abs(res["cudagraph_bytes"] / GiB - float(logged.group(1))))
    return out


def test_0_19_runs_the_same_profiler_and_its_estimate_matches_the_llm_d_logs():
    errors = sorted(_llm_d_0_19_estimates())
    assert len(errors) >= 10
    assert errors[len(errors) // 2] <= 0.1  # median; single graphs read 0-26 MiB, so single rows stray


def test_token_count_formula_changes_at_0_21():
    before = vm.estimate(LLAMA_8B, gpu_memory_bytes=H100, max_model_len=10000, vllm_version="0.20.0")
    after = vm.estimate(LLAMA_8B, gpu_memory_bytes=H100, max_model_len=10000, vllm_version="0.21.0")
    assert before["kv_cache_tokens"] == before["num_gpu_blocks"] * 16
    assert after["kv_cache_tokens"] == int(after["num_gpu_blocks"] / 625 * 10000)  # 625 = cdiv(10000, 16)


@pytest.mark.parametrize("total,name,version,expected", [
    (H100, "NVIDIA H100 80GB HBM3", "0.20.0", (1024, 8192)),
    (int(79.15 * GiB), "NVIDIA A100-SXM4-80GB", "0.20.0", (256, 2048)),
    (A10, "NVIDIA A10", "0.20.0", (256, 2048)),
    (H100, "NVIDIA H100 80GB HBM3", "0.8.5", (256, 2048)),
])
def test_scheduler_defaults_by_gpu_size_and_the_a100_exception(total, name, version, expected):
    res = vm.estimate(HF["Qwen/Qwen3-0.6B"], gpu_memory_bytes=total, gpu_name=name, vllm_version=version)
    assert (res["max_num_seqs"], res["max_num_batched_tokens"]) == expected


def test_explicit_scheduler_settings_are_kept_and_drive_the_activation_peak():
    small = vm.estimate(LLAMA_8B, gpu_memory_bytes=H100, max_num_seqs=64, max_num_batched_tokens=4096)
    big = vm.estimate(LLAMA_8B, gpu_memory_bytes=H100, max_num_seqs=1024, max_num_batched_tokens=16384)
    assert (small["max_num_seqs"], small["max_num_batched_tokens"]) == (64, 4096)
    assert small["activation_bytes"] < big["activation_bytes"]
    # the sampler over max_num_seqs x vocab logits dominates: 1024 x 128256 x ~14.4 bytes ~ 1.77 GiB
    assert big["activation_bytes"] / GiB == pytest.approx(1.9, abs=0.25)


def test_sampler_peak_is_larger_before_0_17():
    new = vm.estimate(LLAMA_8B, gpu_memory_bytes=H100, vllm_version="0.19.0", max_model_len=8192)
    old = vm.estimate(LLAMA_8B, gpu_memory_bytes=H100, vllm_version="0.16.0", max_model_len=8192)
    assert new["activation_bytes"] / GiB == pytest.approx(1.89, abs=0.1)  # llm-d log 0.19
    assert old["activation_bytes"] / GiB == pytest.approx(4.76, abs=0.1)  # llm-d-benchmark 0.11


def test_fp8_kv_cache_halves_bytes_per_token_and_doubles_tokens():
    auto = vm.estimate(LLAMA_8B, gpu_memory_bytes=H100, max_model_len=8192)
    fp8 = vm.estimate(LLAMA_8B, gpu_memory_bytes=H100, max_model_len=8192, kv_cache_dtype="fp8")
    assert fp8["kv_cache_bytes_per_token"] * 2 == auto["kv_cache_bytes_per_token"]
    assert fp8["kv_cache_tokens"] == pytest.approx(2 * auto["kv_cache_tokens"], abs=32)


def test_sliding_window_layers_need_only_the_window_plus_a_batch():
    res = vm.estimate(HF["openai/gpt-oss-20b"], gpu_memory_bytes=H100, gpu_memory_utilization=0.95,
                      max_model_len=8192, vllm_version="0.19.0")
    assert res["approximate"] is True
    # one full group (512 blocks) + one sliding group (cdiv(min(127 + 8192, 8192), 16) + 1 = 513 blocks)
    assert res["max_concurrency"] == pytest.approx(res["num_gpu_blocks"] / 1025, abs=0.01)
    assert res["kv_cache_tokens"] == res["num_gpu_blocks"] // 2 * 16
    assert res["max_concurrency"] == pytest.approx(155.75, abs=0.5)  # llm-d log


def test_hybrid_model_longer_context_fits_more_than_a_full_attention_model_would():
    gemma = HF["google/gemma-2-27b-it"]
    res = vm.estimate(gemma, gpu_memory_bytes=H100, gpu_memory_utilization=0.95, vllm_version="0.19.0")
    assert res["fits"] and res["max_concurrency"] == pytest.approx(7.16, abs=0.1)  # llm-d log


def test_encoder_only_pooling_model_needs_no_kv_cache():
    res = vm.estimate(BGE_M3, gpu_memory_bytes=A10, gpu_memory_utilization=0.75, max_model_len=8192)
    assert res["fits"] is True and res["runner"] == "pooling"
    assert res["kv_cache_bytes"] == 0 and res["kv_cache_tokens"] == 0 and res["num_gpu_blocks"] == 0
    assert res["dtype"] == "float16"  # pooling models prefer fp16 when the config says float32
    assert any("no KV cache" in n for n in res["notes"])
    tiny = vm.estimate(BGE_M3, gpu_memory_bytes=int(1.5 * GiB), gpu_memory_utilization=0.5, max_model_len=8192)
    assert tiny["fits"] is False and "exceed the requested memory" in tiny["reasons"][0]


def test_decoder_reranker_keeps_its_kv_cache():
    reranker = dict(HF["Qwen/Qwen3-0.6B"], architectures=["Qwen3ForSequenceClassification"])
    res = vm.estimate(reranker, gpu_memory_bytes=A10)
    assert res["runner"] == "pooling" and res["kv_cache_bytes"] > 0 and res["num_gpu_blocks"] > 0


def test_nvml_total_with_reserved_equals_the_cuda_total():
    memory = H200["memory_v2"]
    assert vm.cuda_visible_total(memory) == 150109880320
    via_nvml = vm.estimate(LLAMA_8B, gpu_memory_bytes=memory["total"], gpu_reserved_bytes=memory["reserved"])
    via_cuda = vm.estimate(LLAMA_8B, gpu_memory_bytes=150109880320)
    assert via_nvml["requested_memory_bytes"] == via_cuda["requested_memory_bytes"]
    assert via_nvml["kv_cache_bytes"] == via_cuda["kv_cache_bytes"]


def test_online_fp8_quantization_halves_linear_weights():
    bf16 = vm.estimate(LLAMA_8B, gpu_memory_bytes=H100)["weights_bytes_per_gpu"]
    fp8 = vm.estimate(LLAMA_8B, gpu_memory_bytes=H100, quantization="fp8")["weights_bytes_per_gpu"]
    # 6.98B linear parameters go to 1 byte, embeddings and lm_head (1.05B) stay bf16
    assert fp8 / GiB == pytest.approx((6.98e9 + 2 * 1.05e9) / GiB, rel=0.02)
    assert fp8 < bf16
    res = vm.estimate(LLAMA_8B, gpu_memory_bytes=H100, quantization="awq")
    assert res["fits"] is False and "needs the checkpoint's quantization_config" in res["reasons"][0]


def test_checkpoint_size_overrides_what_the_config_implies():
    base = HF["redhatai/Llama-3.3-70B-Instruct-quantized.w8a8"]  # base-model config, the checkpoint is int8
    guessed = vm.estimate(base, gpu_memory_bytes=H100, tensor_parallel_size=2)
    measured = vm.estimate(base, gpu_memory_bytes=H100, tensor_parallel_size=2, weights_bytes=72_700_000_000)
    assert guessed["weights_bytes_per_gpu"] / GiB == pytest.approx(65.7, abs=0.5)
    assert measured["weights_bytes_per_gpu"] / GiB == pytest.approx(33.9, abs=0.3)
    assert measured["weights_source"] == "checkpoint"


@pytest.mark.parametrize("kwargs,message", [
    ({"gpu_memory_bytes": 0}, "gpu_memory_bytes"),
    ({"gpu_memory_bytes": H100, "gpu_memory_utilization": 1.5}, "gpu_memory_utilization"),
    ({"gpu_memory_bytes": H100, "tensor_parallel_size": 0}, "tensor_parallel_size"),
    ({"gpu_memory_bytes": H100, "dtype": "int3"}, "dtype"),
    ({"gpu_memory_bytes": H100, "vllm_version": "latest"}, "vllm_version"),
    ({"gpu_memory_bytes": H100, "runner": "embed"}, "runner"),
    ({"gpu_memory_bytes": H100, "kv_cache_dtype": "int3"}, "kv_cache_dtype"),
    ({"gpu_memory_bytes": H100, "max_model_len": "long"}, "max_model_len"),
    ({"gpu_memory_bytes": H100, "gpu_reserved_bytes": 2 * H100}, "gpu_reserved_bytes"),
])
def test_malformed_input_raises_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        vm.estimate(LLAMA_8B, **kwargs)


def test_plans_that_cannot_work_never_raise():
    res = vm.estimate(HF["openai/gpt-oss-120b"], gpu_memory_bytes=RTX4060, tensor_parallel_size=7)
    assert res["fits"] is False and len(res["reasons"]) >= 1


def test_defaults_reported_and_version_parsing():
    res = vm.estimate(LLAMA_8B, gpu_memory_bytes=H100)
    assert res["vllm_version"] == vm.DEFAULT_VLLM_VERSION == "0.20.0"
    assert (res["block_size"], res["max_model_len"]) == (16, 131072)
    assert vm.parse_version("v0.6.4.post1") == (0, 6, 4)
    assert vm.parse_version("0.11.0rc2") == (0, 11, 0)


def test_graphs_that_crowd_the_headroom_get_a_risk_note_up_to_0_19():
    res = vm.estimate(HF["openai/gpt-oss-20b"], gpu_memory_bytes=H100, gpu_memory_utilization=0.95,
                      max_model_len=8192, vllm_version="0.19.0")
    assert res["fits"] is True
    assert any(n.startswith("CUDA-graph OOM risk") for n in res["notes"])
    assert res["cudagraph_headroom_bytes"] == H100 - res["requested_memory_bytes"] - vm.CUDA_CONTEXT_BYTES
    calm = vm.estimate(HF["openai/gpt-oss-20b"], gpu_memory_bytes=H100, gpu_memory_utilization=0.9,
                       max_model_len=8192, vllm_version="0.19.0")
    assert not any(n.startswith("CUDA-graph OOM risk") for n in calm["notes"])


def test_versions_newer_than_the_replayed_accounting_are_flagged():
    res = vm.estimate(LLAMA_8B, gpu_memory_bytes=H100, vllm_version="0.33.0")
    assert any("newer than the accounting replayed" in n for n in res["notes"])
    assert not any("newer" in n for n in vm.estimate(LLAMA_8B, gpu_memory_bytes=H100)["notes"])


QWEN3_NEXT = {
    "architectures": ["Qwen3NextForCausalLM"], "model_type": "qwen3_next", "hidden_size": 2048,
    "num_hidden_layers": 48, "num_attention_heads": 16, "num_key_value_heads": 2, "head_dim": 256,
    "vocab_size": 151936, "max_position_embeddings": 262144, "intermediate_size": 5120, "moe_intermediate_size": 512,
    "shared_expert_intermediate_size": 512, "num_experts": 512, "num_experts_per_tok": 10, "decoder_sparse_step": 1,
    "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128, "linear_num_key_heads": 16,
    "linear_num_value_heads": 32, "linear_value_head_dim": 128,
    "layer_types": (["linear_attention"] * 3 + ["full_attention"]) * 12, "torch_dtype": "bfloat16",
    "tie_word_embeddings": False}


@pytest.mark.parametrize("tp", [1, 2])
def test_hybrid_mamba_model_grows_the_attention_block_to_the_state_size(tp):
    # vLLM logs "Setting attention block size to 544 tokens" for Qwen3-Next: the gated-delta-net state
    # (32 heads x 128 x 128 + conv) fits in 544 tokens x 2 KV x (2 / tp) heads x 256 x 2 bytes
    res = vm.estimate(QWEN3_NEXT, gpu_memory_bytes=int(139.8 * GiB), tensor_parallel_size=tp, max_model_len=32768)
    assert res["block_size"] == 544 and res["approximate"] is True
    assert res["model"]["params"] == pytest.approx(80e9, rel=0.02)
    assert any("Mamba/linear-attention" in n for n in res["notes"])
    if tp == 2:
        assert res["fits"] is True and res["max_concurrency"] > 1


def test_checkpoint_size_on_disk_maps_to_the_padded_loaded_size():
    gpt_oss = HF["openai/gpt-oss-20b"]
    disk = mc.checkpoint_bytes_estimate(mc.normalize(gpt_oss), 2)
    assert disk / GiB == pytest.approx(12.82, abs=0.05)  # the MXFP4 safetensors of gpt-oss-20b: 13.8 GB
    res = vm.estimate(gpt_oss, gpu_memory_bytes=H100, weights_bytes=disk)
    # experts padded to 3072 on load: the loaded size vLLM logs (13.47 GiB, llm-d-benchmark 0.11)
    assert res["weights_bytes_per_gpu"] / GiB == pytest.approx(13.47, abs=0.05)
