# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
import json
import os

import pytest

from ansible_collections.llmops.vllm_stack.plugins.module_utils import _model_config as mc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
SHARED = os.environ.get("LLMOPS_SHARED_DIR", os.path.join(os.path.dirname(ROOT), "shared"))
with open(os.path.join(SHARED, "fixtures", "memory", "hf_configs.json"), encoding="utf-8") as _handle:
    HF = {name: entry["config"] for name, entry in json.load(_handle).items()}

# Published parameter counts (model cards / safetensors metadata), independent of this code.
PUBLISHED_PARAMS = {
    "meta-llama/Llama-3.1-8B-Instruct": 8.03e9,
    "Qwen/Qwen3-0.6B": 0.596e9,  # 0.6B with tied embeddings
    "Qwen/Qwen3-14B": 14.8e9,
    "Qwen/Qwen3-32B": 32.8e9,
    "Qwen/Qwen3-30B-A3B": 30.5e9,
    "Qwen/Qwen1.5-MoE-A2.7B": 14.3e9,
    "mistralai/Mixtral-8x7B-Instruct-v0.1": 46.7e9,
    "google/gemma-2-27b-it": 27.2e9,
    "microsoft/phi-2": 2.78e9,
    "openai/gpt-oss-20b": 20.9e9,
    "openai/gpt-oss-120b": 116.8e9,
    "deepseek-ai/DeepSeek-V2-Lite-Chat": 15.7e9,
    "RedHatAI/Llama-3.3-70B-Instruct-FP8-dynamic": 70.6e9,
}

LLAMA_8B = HF["meta-llama/Llama-3.1-8B-Instruct"]


def with_(base, **changes):
    cfg = dict(base)
    cfg.update(changes)
    return cfg


@pytest.mark.parametrize("name", sorted(HF))
def test_every_fixture_config_normalizes_to_its_own_dimensions(name):
    cfg = HF[name]
    arch = mc.normalize(cfg)
    assert arch.hidden_size == cfg.get("hidden_size", cfg.get("n_embd"))
    assert arch.num_layers == cfg.get("num_hidden_layers", cfg.get("n_layer"))
    assert arch.num_attention_heads == cfg.get("num_attention_heads", cfg.get("n_head"))
    assert arch.vocab_size == cfg["vocab_size"]
    assert arch.vocab_size_padded % 64 == 0 and arch.vocab_size_padded >= arch.vocab_size
    assert len(arch.layer_kinds) == arch.num_layers


@pytest.mark.parametrize("name,published", sorted(PUBLISHED_PARAMS.items()))
def test_parameter_count_matches_the_published_size(name, published):
    assert mc.param_count(mc.normalize(HF[name])) == pytest.approx(published, rel=0.01)


def test_head_dim_order_mla_first_then_head_dim_then_hidden_over_heads():
    deepseek = mc.normalize(HF["deepseek-ai/DeepSeek-V2-Lite-Chat"])
    assert deepseek.use_mla and deepseek.head_dim == 512 + 64  # kv_lora_rank + qk_rope_head_dim
    gemma = mc.normalize(HF["google/gemma-2-27b-it"])
    assert gemma.head_dim == 128  # head_dim wins over 4608 // 32 = 144
    assert mc.normalize(with_(LLAMA_8B, hidden_size_per_head=96)).head_dim == 96
    assert mc.normalize(LLAMA_8B).head_dim == 4096 // 32
    # MLA only for the model types vLLM lists, and only with kv_lora_rank
    assert not mc.normalize(with_(LLAMA_8B, kv_lora_rank=512)).use_mla


@pytest.mark.parametrize("extra,expected", [
    ({"n_head_kv": 8}, 8),  # Falcon-40B style
    ({"num_kv_heads": 4}, 4),
    ({"multi_query_group_num": 2}, 2),  # ChatGLM
    ({"num_attention_groups": 8}, 8),  # Step3p5
    ({}, 32),  # no alias: MHA, kv heads = attention heads
])
def test_kv_head_aliases(extra, expected):
    base = {k: v for k, v in LLAMA_8B.items() if k != "num_key_value_heads"}
    assert mc.normalize(with_(base, **extra)).num_kv_heads == expected


def test_falcon_multi_query_and_mpt_attn_config_kv_heads():
    falcon7b = {"architectures": ["FalconForCausalLM"], "model_type": "falcon", "hidden_size": 4544,
                "num_hidden_layers": 32, "num_attention_heads": 71, "multi_query": True, "vocab_size": 65024,
                "new_decoder_architecture": False, "parallel_attn": True}
    assert mc.normalize(falcon7b).num_kv_heads == 1
    assert mc.normalize(with_(falcon7b, new_decoder_architecture=True, num_kv_heads=8)).num_kv_heads == 8
    mpt = {"architectures": ["MPTForCausalLM"], "model_type": "mpt", "d_model": 4096, "n_layers": 32, "n_heads": 32,
           "vocab_size": 50432, "max_seq_len": 2048, "attn_config": {"kv_n_heads": 8}}
    arch = mc.normalize(mpt)
    assert (arch.hidden_size, arch.num_layers, arch.num_kv_heads, arch.derived_max_model_len) == (4096, 32, 8, 2048)


def test_old_phi_msft_names_are_mapped():
    arch = mc.normalize(HF["microsoft/phi-2"])
    assert (arch.hidden_size, arch.num_layers, arch.intermediate_size, arch.head_dim) == (2560, 32, 10240, 80)
    assert arch.model_type == "phi" and not arch.gated_mlp and arch.rotary_dim == 32
    assert arch.derived_max_model_len == 2048 and arch.max_len_key == "n_positions"


def test_gpt_oss_alternates_sliding_and_full_layers_and_quantizes_only_experts():
    arch = mc.normalize(HF["openai/gpt-oss-20b"])
    assert arch.layer_kinds.count("sliding") == 12 and arch.layer_kinds.count("full") == 12
    assert arch.sliding_window == 128
    assert arch.num_experts == 32 and arch.experts_per_tok == 4 and arch.moe_intermediate_size == 2880
    assert arch.quantization["method"] == "mxfp4" and arch.quantization["experts_only"]
    assert arch.derived_max_model_len == 131072  # yarn: original 4096 x factor 32


def test_gemma2_even_layers_slide_without_layer_types():
    arch = mc.normalize(HF["google/gemma-2-27b-it"])
    assert arch.layer_kinds[:4] == ["sliding", "full", "sliding", "full"]
    assert arch.layer_kinds.count("full") == 23 and arch.tie_word_embeddings  # Gemma2Config default ties


def test_gemma3_five_sliding_per_global_layer_and_text_config_nesting():
    cfg = {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
           "text_config": {"model_type": "gemma3_text", "hidden_size": 3840, "intermediate_size": 15360,
                           "num_hidden_layers": 48, "num_attention_heads": 16, "num_key_value_heads": 8,
                           "head_dim": 256, "sliding_window": 1024, "vocab_size": 262208,
                           "max_position_embeddings": 131072,
                           "rope_scaling": {"factor": 8.0, "rope_type": "linear"}},
           "vision_config": {"hidden_size": 1152}, "torch_dtype": "bfloat16"}
    arch = mc.normalize(cfg)
    assert arch.is_multimodal and arch.hidden_size == 3840 and arch.config_dtype == "bfloat16"
    assert arch.layer_kinds.count("full") == 8 and arch.layer_kinds[5] == "full"
    assert arch.derived_max_model_len == 131072  # gemma3: RoPE factor not applied again


def test_hybrid_attention_layers_jamba_zamba_minimax_qwen3next():
    jamba = {"architectures": ["JambaForCausalLM"], "model_type": "jamba", "hidden_size": 4096,
             "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 65536,
             "attn_layer_period": 8, "attn_layer_offset": 4, "num_experts": 16, "num_experts_per_tok": 2,
             "expert_layer_period": 2, "expert_layer_offset": 1, "intermediate_size": 14336}
    arch = mc.normalize(jamba)
    assert arch.num_attention_layers == 4 and arch.layer_kinds[4] == "full" and arch.layer_kinds[0] == "mamba"
    assert arch.num_moe_layers == 16 and arch.moe_layers[1] and not arch.moe_layers[0]
    zamba = {"architectures": ["Zamba2ForCausalLM"], "model_type": "zamba2", "hidden_size": 2560,
             "num_hidden_layers": 6, "num_attention_heads": 32, "vocab_size": 32000, "attention_head_dim": 160,
             "layers_block_type": ["mamba", "hybrid", "mamba", "mamba", "hybrid", "mamba"]}
    arch = mc.normalize(zamba)
    assert arch.num_attention_layers == 2 and arch.head_dim == 160
    minimax = {"architectures": ["MiniMaxText01ForCausalLM"], "model_type": "minimax_text_01", "hidden_size": 6144,
               "num_hidden_layers": 8, "num_attention_heads": 64, "num_key_value_heads": 8, "vocab_size": 200064,
               "attn_type_list": [0, 0, 0, 0, 0, 0, 0, 1], "head_dim": 128}
    assert mc.normalize(minimax).num_attention_layers == 1
    qwen3next = {"architectures": ["Qwen3NextForCausalLM"], "model_type": "qwen3_next", "hidden_size": 2048,
                 "num_hidden_layers": 8, "num_attention_heads": 16, "num_key_value_heads": 2, "head_dim": 256,
                 "vocab_size": 151936, "layer_types": ["linear_attention"] * 3 + ["full_attention"] +
                 ["linear_attention"] * 3 + ["full_attention"], "num_experts": 512, "num_experts_per_tok": 10,
                 "moe_intermediate_size": 512, "shared_expert_intermediate_size": 512, "intermediate_size": 5120}
    arch = mc.normalize(qwen3next)
    assert arch.num_attention_layers == 2 and arch.layer_kinds.count("linear") == 6


def test_moe_dense_layers_shared_experts():
    deepseek = mc.normalize(HF["deepseek-ai/DeepSeek-V2-Lite-Chat"])
    assert deepseek.num_moe_layers == 26 and not deepseek.moe_layers[0]  # first_k_dense_replace = 1
    assert deepseek.shared_expert_intermediate_size == 2 * 1408
    qwen15 = mc.normalize(HF["Qwen/Qwen1.5-MoE-A2.7B"])
    assert qwen15.shared_expert_intermediate_size == 5632 and qwen15.num_moe_layers == 24
    qwen3 = mc.normalize(with_(HF["Qwen/Qwen3-30B-A3B"], mlp_only_layers=[0, 1]))
    assert qwen3.num_moe_layers == 46 and not qwen3.moe_layers[1]
    mixtral = mc.normalize(HF["mistralai/Mixtral-8x7B-Instruct-v0.1"])
    assert mixtral.num_experts == 8 and mixtral.moe_intermediate_size == 14336


@pytest.mark.parametrize("rope,max_pos,expected", [
    ({"factor": 8.0, "rope_type": "llama3", "original_max_position_embeddings": 8192}, 131072, 131072),
    ({"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}, 32768, 131072),
    ({"type": "dynamic", "factor": 2.0}, 4096, 8192),
    ({"type": "linear", "factor": 4.0}, 4096, 16384),
    (None, 40960, 40960),
])
def test_derived_max_model_len_follows_rope_scaling(rope, max_pos, expected):
    cfg = with_(LLAMA_8B, rope_scaling=rope, max_position_embeddings=max_pos)
    assert mc.normalize(cfg).derived_max_model_len == expected


def test_longrope_defaults_to_original_length_and_missing_keys_to_2048():
    phi3 = with_(LLAMA_8B, max_position_embeddings=131072, original_max_position_embeddings=4096,
                 rope_scaling={"type": "longrope", "long_factor": [1.0], "short_factor": [1.0]})
    arch = mc.normalize(phi3)
    assert arch.derived_max_model_len == 131072 and arch.default_max_model_len == 4096
    bare = {k: v for k, v in LLAMA_8B.items() if k not in ("max_position_embeddings", "rope_scaling")}
    arch = mc.normalize(bare)
    assert arch.derived_max_model_len == 2048 and arch.max_len_key is None


@pytest.mark.parametrize("quant,bits,group,kind", [
    ({"quant_method": "fp8", "weight_block_size": [128, 128]}, 8, 128 * 128, "float"),
    ({"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True}, 4, 128, "int"),
    ({"quant_method": "gptq", "bits": 4, "group_size": 128, "sym": True}, 4, 128, "int"),
    ({"quant_method": "gptq", "bits": 8, "group_size": -1}, 8, None, "int"),
    ({"quant_method": "bitsandbytes", "load_in_4bit": True}, 4, 64, "float"),
    ({"quant_method": "bitsandbytes", "load_in_8bit": True}, 8, None, "int"),
    ({"quant_method": "compressed-tensors", "config_groups": {"group_0": {"weights": {
        "num_bits": 8, "type": "int", "strategy": "channel", "symmetric": True}}}}, 8, None, "int"),
    ({"quant_method": "compressed-tensors", "config_groups": {"group_0": {"weights": {
        "num_bits": 4, "type": "int", "strategy": "group", "group_size": 128}}}}, 4, 128, "int"),
    ({"quant_method": "compressed_tensors", "config_groups": {"group_0": {"weights": {
        "num_bits": 8, "type": "float", "strategy": "tensor"}}}}, 8, None, "float"),
])
def test_quantization_config_is_summarized(quant, bits, group, kind):
    info = mc.normalize(with_(LLAMA_8B, quantization_config=quant)).quantization
    assert (info["weight_bits"], info["group_size"], info["weight_type"]) == (bits, group, kind)


def test_quantized_checkpoint_size_estimate_shrinks_with_bits():
    bf16 = mc.checkpoint_bytes_estimate(mc.normalize(LLAMA_8B))
    awq = mc.checkpoint_bytes_estimate(mc.normalize(with_(LLAMA_8B, quantization_config={
        "quant_method": "awq", "bits": 4, "group_size": 128})))
    assert bf16 == pytest.approx(8.03e9 * 2, rel=0.01)
    # 4-bit linear layers, bf16 embeddings and lm_head (1.05B params): about 5.7 GB, the size of real AWQ repos
    assert awq == pytest.approx(5.7e9, rel=0.05)


@pytest.mark.parametrize("arch_name,runner,encoder_only", [
    ("XLMRobertaModel", "pooling", True),
    ("XLMRobertaForSequenceClassification", "pooling", True),
    ("BertModel", "pooling", True),
    ("Qwen2ForSequenceClassification", "pooling", False),
    ("LlamaForCausalLM", "generate", False),
])
def test_runner_type_from_architecture_suffix(arch_name, runner, encoder_only):
    model_type = {"XLMRoberta": "xlm-roberta", "Bert": "bert", "Qwen2": "qwen2", "Llama": "llama"}
    mt = next(v for k, v in model_type.items() if arch_name.startswith(k))
    cfg = {"architectures": [arch_name], "model_type": mt, "hidden_size": 1024, "num_hidden_layers": 24,
           "num_attention_heads": 16, "intermediate_size": 4096, "vocab_size": 250002,
           "max_position_embeddings": 8194}
    arch = mc.normalize(cfg)
    assert (arch.runner, arch.encoder_only) == (runner, encoder_only)


def test_malformed_configs_raise_value_error():
    with pytest.raises(ValueError, match="non-empty mapping"):
        mc.normalize([])
    with pytest.raises(ValueError, match="hidden_size"):
        mc.normalize({"num_hidden_layers": 2, "num_attention_heads": 2, "vocab_size": 10})
    with pytest.raises(ValueError, match="integer"):
        mc.normalize(with_(LLAMA_8B, num_hidden_layers="32"))
    with pytest.raises(ValueError, match="quantization_config"):
        mc.normalize(with_(LLAMA_8B, quantization_config="fp8"))


def test_load_model_dir_prefers_index_total_size(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA_8B))
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": 16060522496},
                                                                       "weight_map": {}}))
    (tmp_path / "model-00001-of-00004.safetensors").write_bytes(b"x" * 10)
    config, size = mc.load_model_dir(str(tmp_path))
    assert config["hidden_size"] == 4096 and size == 16060522496


def test_load_model_dir_sums_safetensors_without_index(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA_8B))
    (tmp_path / "a.safetensors").write_bytes(b"x" * 100)
    (tmp_path / "b.safetensors").write_bytes(b"x" * 23)
    assert mc.load_model_dir(str(tmp_path))[1] == 123
    (tmp_path / "a.safetensors").unlink()
    (tmp_path / "b.safetensors").unlink()
    assert mc.load_model_dir(str(tmp_path))[1] is None


def test_load_model_dir_errors(tmp_path):
    with pytest.raises(ValueError, match="not a directory"):
        mc.load_model_dir(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="no config.json"):
        mc.load_model_dir(str(tmp_path))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not readable JSON"):
        mc.load_model_dir(str(tmp_path))


def test_tensors_shard_kinds_cover_the_whole_model():
    arch = mc.normalize(HF["Qwen/Qwen3-32B"])
    splits = {t["split"] for t in mc.tensors(arch)}
    assert {"vocab", "col", "row", "kv", "rep"} <= splits
    moe = mc.normalize(HF["Qwen/Qwen3-30B-A3B"])
    experts = [t for t in mc.tensors(moe) if t["expert"]]
    assert experts and all(t["count"] == 128 for t in experts)


def test_vision_tower_of_a_multimodal_wrapper_is_counted():
    text = {"model_type": "gemma3_text", "hidden_size": 3840, "intermediate_size": 15360, "num_hidden_layers": 48,
            "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 256, "vocab_size": 262208,
            "max_position_embeddings": 131072}
    siglip = {"hidden_size": 1152, "intermediate_size": 4304, "num_hidden_layers": 27, "patch_size": 14,
              "model_type": "siglip_vision_model"}
    bare = mc.normalize({"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
                         "text_config": text})
    full = mc.normalize({"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
                         "text_config": text, "vision_config": siglip})
    # SigLIP-so400m is about 0.4B parameters; Gemma 3 12B is 12.2B in all
    assert (mc.param_count(full) - mc.param_count(bare)) == pytest.approx(0.42e9, rel=0.05)
    assert mc.param_count(full) == pytest.approx(12.19e9, rel=0.01)
