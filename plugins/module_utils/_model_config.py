# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A Hugging Face ``config.json`` (as a dict) -> the architecture facts that vLLM's memory use depends on.

Pure Python, no Ansible import. The rules follow vLLM's own reading of the config (checked against the released
vLLM 0.20.0 wheel):

* ``vllm/transformers_utils/model_arch_config_convertor.py``: head size order (MLA ``kv_lora_rank +
  qk_rope_head_dim``, then ``head_dim``, then ``hidden_size_per_head``, then ``hidden_size // heads``), KV head
  aliases (``n_head_kv``, ``num_kv_heads``, ``num_key_value_heads``, ``multi_query_group_num``,
  ``num_attention_groups``; Falcon ``multi_query`` -> 1; MPT/DBRX ``attn_config.kv_n_heads``), expert count
  aliases, the list of MLA model types, the max-length keys (smallest of ``max_position_embeddings``,
  ``n_positions``, ``max_seq_len``, ``seq_length``, ``model_max_length``, ...).
* ``vllm/config/model.py::_get_and_verify_max_len``: RoPE scaling multiplies the derived maximum (not for
  ``su``/``longrope``/``llama3``; ``yarn`` starts from ``original_max_position_embeddings``; never for gemma3).
* ``vllm/config/model.py::get_num_layers_by_block_type``: attention layers of hybrid models from
  ``layers_block_type`` (Jamba, Zamba2 ``hybrid``), ``attn_type_list`` (MiniMax) or ``layer_types``.
* ``vllm/config/model.py::_SUFFIX_TO_DEFAULTS``: runner type from the architecture suffix.
* ``vllm/model_executor/layers/vocab_parallel_embedding.py``: vocab padded to a multiple of 64.

Old and remote-code configs use other names (GPT-2/phi-msft ``n_embd``/``n_layer``/``n_head``, MPT/DBRX
``d_model``/``n_layers``, ChatGLM ``num_layers``/``padded_vocab_size``/``ffn_hidden_size``); transformers maps them
through ``attribute_map`` before vLLM sees them, so this module maps them too.

``tensors(arch)`` lists the weight matrices the way vLLM shards them (column/row parallel, replicated, vocab
parallel, experts) so that ``_vllm_memory`` can size one GPU's share for any TP/PP split and quantization.
``load_model_dir(path)`` reads a local model directory: config.json plus the checkpoint size.
"""
from __future__ import annotations

import glob
import json
import math
import os

__all__ = [
    "ModelArch",
    "normalize",
    "tensors",
    "param_count",
    "checkpoint_bytes_estimate",
    "load_model_dir",
    "pad_vocab_size",
    "DTYPE_BYTES",
]

DEFAULT_VOCAB_PADDING_SIZE = 64  # vllm/model_executor/layers/vocab_parallel_embedding.py

DTYPE_BYTES = {
    "float32": 4, "float": 4, "fp32": 4,
    "bfloat16": 2, "bf16": 2,
    "float16": 2, "half": 2, "fp16": 2,
    "float8_e4m3fn": 1, "float8_e5m2": 1, "fp8": 1, "int8": 1, "uint8": 1,
}
_DTYPE_CANON = {
    "float": "float32", "fp32": "float32", "float32": "float32",
    "bf16": "bfloat16", "bfloat16": "bfloat16",
    "half": "float16", "fp16": "float16", "float16": "float16",
}

# vllm/transformers_utils/model_arch_config_convertor.py::is_deepseek_mla
MLA_MODEL_TYPES = frozenset({
    "AXK1", "deepseek_v2", "deepseek_v3", "deepseek_v32", "deepseek_v4", "deepseek_mtp", "glm_moe_dsa",
    "glm4_moe_lite", "glm4_moe_lite_mtp", "kimi_k2", "kimi_linear", "longcat_flash", "pangu_ultra_moe",
    "pangu_ultra_moe_mtp", "bailing_hybrid",
})

# vllm/config/model.py::_SUFFIX_TO_DEFAULTS (order matters: first match wins)
_SUFFIX_RUNNER = (
    ("ForCausalLM", "generate"), ("ForConditionalGeneration", "generate"), ("ChatModel", "generate"),
    ("LMHeadModel", "generate"), ("ForTextEncoding", "pooling"), ("EmbeddingModel", "pooling"),
    ("ForSequenceClassification", "pooling"), ("ForTokenClassification", "pooling"),
    ("ForAudioClassification", "pooling"), ("ForImageClassification", "pooling"),
    ("ForVideoClassification", "pooling"), ("ClassificationModel", "pooling"), ("ForRewardModeling", "pooling"),
    ("RewardModel", "pooling"), ("Model", "pooling"),
)

# Bidirectional (encoder-only) families: vLLM V1 runs them without any KV cache (ENCODER_ONLY attention).
ENCODER_ONLY_MODEL_TYPES = frozenset({
    "bert", "roberta", "xlm-roberta", "modernbert", "nomic_bert", "new", "gte", "jina_bert", "distilbert",
    "electra", "deberta", "deberta-v2", "camembert", "ernie", "bge_m3", "mpnet", "e5", "bert_with_rope",
})

# Families whose MLP is a plain up -> act -> down (no gate); everything else is gated (SwiGLU/GeGLU).
NON_GATED_MLP_MODEL_TYPES = frozenset({
    "phi", "phi-msft", "gpt2", "gpt_bigcode", "gpt_neox", "gptj", "opt", "bloom", "falcon", "RefinedWeb",
    "RefinedWebModel", "mpt", "starcoder2", "bert", "roberta", "xlm-roberta", "distilbert", "electra", "nomic_bert",
    "jina_bert", "stablelm_epoch", "persimmon", "codegen", "biogpt", "gpt_oss_dense_placeholder", "modernbert",
})

# transformers' per-class default of tie_word_embeddings when config.json leaves it out.
_TIE_DEFAULT_TRUE = frozenset({
    "gemma", "gemma2", "gemma3", "gemma3_text", "gpt2", "gpt_bigcode", "bloom", "opt", "falcon", "RefinedWeb",
    "RefinedWebModel", "mpt", "starcoder2", "bert", "roberta", "xlm-roberta", "gptj", "phi3small", "qwen2_vl_text",
    "paligemma", "gemma3n", "codegen",
})

# Keys vLLM reads for the derived max length (vllm derive_max_model_len_and_key)
_MAX_LEN_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "model_max_length",
                 "max_target_positions", "max_sequence_length", "max_seq_length", "seq_len")


def _first(cfg, names, default=None):
    for name in names:
        value = cfg.get(name)
        if value is not None:
            return value
    return default


def _as_int(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    return int(value)


def pad_vocab_size(vocab_size, pad_to=DEFAULT_VOCAB_PADDING_SIZE):
    """VocabParallelEmbedding pads the vocabulary to a multiple of 64 before splitting it over TP ranks."""
    return ((vocab_size + pad_to - 1) // pad_to) * pad_to


def _text_config(cfg):
    """Multimodal wrappers (LLaVA, Qwen2-VL, Gemma 3, Mistral 3 ...) keep the language model in a sub-config."""
    for key in ("text_config", "llm_config", "language_config", "thinker_config"):
        sub = cfg.get(key)
        if isinstance(sub, dict) and sub:
            if key == "thinker_config" and isinstance(sub.get("text_config"), dict):
                return sub["text_config"], True
            return sub, True
    return cfg, False


class ModelArch:
    """Normalized architecture. Plain attributes; ``as_dict()`` gives a JSON-safe view."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)

    def as_dict(self):
        out = {}
        for key, value in self.__dict__.items():
            if key.startswith("_"):
                continue
            out[key] = value
        return out

    def __repr__(self):  # pragma: no cover - debugging aid
        return f"ModelArch({self.model_type}, layers={self.num_layers}, hidden={self.hidden_size})"


def _quantization(cfg, text_cfg):
    """Summarize quantization_config (or compression_config) the way weights are stored on the GPU."""
    quant = cfg.get("quantization_config") or cfg.get("compression_config")
    if not quant and text_cfg is not cfg:
        quant = text_cfg.get("quantization_config") or text_cfg.get("compression_config")
    if not quant:
        return None
    if not isinstance(quant, dict):
        raise ValueError("quantization_config must be a mapping")
    method = str(quant.get("quant_method", "")).lower().replace("compressed_tensors", "compressed-tensors")
    producer = (quant.get("producer") or {}).get("name") if isinstance(quant.get("producer"), dict) else None
    if producer == "modelopt" or method == "modelopt":
        algo = str((quant.get("quantization") or {}).get("quant_algo", quant.get("quant_algo", ""))).upper()
        method = "modelopt_fp4" if "FP4" in algo else "modelopt"
    info = {"method": method, "weight_bits": 16, "group_size": None, "scale_bytes_per_group": 0,
            "zero_point": False, "weight_type": "float", "experts_only": False, "ignore": []}
    if method in ("fp8", "fbgemm_fp8", "modelopt", "ptpc_fp8", "fp_quant"):
        info.update(weight_bits=8, weight_type="float")
        block = quant.get("weight_block_size")
        if block:
            info.update(group_size=int(block[0]) * int(block[1]), scale_bytes_per_group=4)
    elif method == "modelopt_fp4":
        info.update(weight_bits=4, weight_type="float", group_size=16, scale_bytes_per_group=1)
    elif method in ("mxfp4",):
        # gpt-oss: only the MoE experts are MXFP4 (e2m1 values + one e8m0 scale per 32); the rest stays bf16.
        info.update(weight_bits=4, weight_type="float", group_size=32, scale_bytes_per_group=1, experts_only=True)
    elif method in ("gptq", "gptq_marlin", "awq", "awq_marlin", "moe_wna16", "gptq_bitblas", "auto-round",
                    "auto_round"):
        bits = int(quant.get("bits", quant.get("w_bit", 4)))
        group = quant.get("group_size", quant.get("q_group_size", 128))
        group = int(group) if group not in (None, -1) else None
        info.update(weight_bits=bits, weight_type="int", group_size=group, scale_bytes_per_group=2,
                    zero_point=bool(quant.get("zero_point", True)) if method.startswith("awq")
                    else not quant.get("sym", True))
    elif method == "bitsandbytes":
        if quant.get("load_in_8bit"):
            info.update(weight_bits=8, weight_type="int")
        else:
            # NF4/FP4 with one absmax per 64 values (double-quantized absmax ~ 1 byte per block)
            info.update(weight_bits=4, weight_type="float", group_size=64,
                        scale_bytes_per_group=1 if quant.get("bnb_4bit_use_double_quant") else 4)
    elif method == "compressed-tensors":
        groups = quant.get("config_groups") or {}
        bits = None
        for group in groups.values():
            weights = (group or {}).get("weights") or {}
            if weights.get("num_bits"):
                bits = int(weights["num_bits"])
                info["weight_type"] = weights.get("type", "int")
                strategy = weights.get("strategy")
                if strategy == "group" and weights.get("group_size"):
                    info.update(group_size=int(weights["group_size"]), scale_bytes_per_group=2)
                elif strategy == "block" and weights.get("block_structure"):
                    blk = weights["block_structure"]
                    info.update(group_size=int(blk[0]) * int(blk[1]), scale_bytes_per_group=4)
                elif strategy == "tensor_group" and weights.get("group_size"):
                    info.update(group_size=int(weights["group_size"]), scale_bytes_per_group=1)
                info["zero_point"] = not weights.get("symmetric", True)
                break
        info["weight_bits"] = bits or 16
        info["ignore"] = list(quant.get("ignore") or [])
        fmt = str(quant.get("format", ""))
        if bits is None and fmt in ("float-quantized", "naive-quantized", "int-quantized"):
            info["weight_bits"] = 8
    elif method in ("experts_int8",):
        info.update(weight_bits=8, weight_type="int", experts_only=True)
    elif method in ("gguf",):
        info.update(weight_bits=4, weight_type="int")
    else:
        bits = quant.get("bits") or quant.get("num_bits")
        if bits:
            info["weight_bits"] = int(bits)
    if method != "compressed-tensors":
        info["ignore"] = list(quant.get("modules_to_not_convert") or quant.get("ignore") or [])
    return info


def _layer_kinds(tcfg, cfg, model_type, num_layers, sliding_window):
    """Per-layer attention kind: full, sliding, chunked, mamba, linear (linear attention / Mamba-like state)."""
    lbt = tcfg.get("layers_block_type")
    if isinstance(lbt, list) and lbt:
        kinds = []
        for value in lbt[:num_layers]:
            if model_type == "zamba2":
                kinds.append("full" if value == "hybrid" else "mamba")
            else:
                kinds.append("full" if value == "attention" else "mamba")
        return kinds
    atl = cfg.get("attn_type_list") or tcfg.get("attn_type_list")
    if isinstance(atl, list) and atl:
        return ["full" if int(t) == 1 else "linear" for t in atl[:num_layers]]
    pattern = tcfg.get("hybrid_override_pattern")
    if isinstance(pattern, str) and pattern:  # NemotronH: M mamba, * attention, - MLP, E MoE
        kinds = []
        for ch in pattern[:num_layers]:
            kinds.append({"*": "full", "M": "mamba"}.get(ch, "none"))
        return kinds
    if model_type == "jamba" and "attn_layer_period" in tcfg:
        period, offset = int(tcfg["attn_layer_period"]), int(tcfg.get("attn_layer_offset", 0))
        return ["full" if i % period == offset else "mamba" for i in range(num_layers)]
    layer_types = tcfg.get("layer_types")
    if isinstance(layer_types, list) and layer_types:
        mapping = {"full_attention": "full", "sliding_attention": "sliding", "chunked_attention": "chunked",
                   "linear_attention": "linear", "mamba": "mamba", "attention": "full", "hybrid": "full"}
        return [mapping.get(str(t), "full") for t in layer_types[:num_layers]]
    if model_type == "gemma2" or (model_type in ("gemma3", "gemma3_text", "cohere2") and sliding_window):
        default_step = 2 if model_type == "gemma2" else (6 if model_type.startswith("gemma3") else 4)
        step = int(tcfg.get("sliding_window_pattern") or default_step)
        # transformers: layer i is sliding unless (i + 1) % pattern == 0 (gemma2: even layers slide)
        return ["full" if (i + 1) % step == 0 else "sliding" for i in range(num_layers)]
    if model_type == "llama4" and tcfg.get("attention_chunk_size"):
        no_rope = tcfg.get("no_rope_layers")
        if isinstance(no_rope, list) and len(no_rope) >= num_layers:
            # no_rope_layers[i] == 0 -> global (NoPE) layer, else chunked local attention
            return ["chunked" if no_rope[i] else "full" for i in range(num_layers)]
        return ["full" if (i + 1) % 4 == 0 else "chunked" for i in range(num_layers)]
    if sliding_window:
        if model_type in ("qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "qwen2_vl", "qwen2_5_vl"):
            if not tcfg.get("use_sliding_window", False):
                return ["full"] * num_layers
            mwl = int(tcfg.get("max_window_layers", num_layers))
            return ["sliding" if i >= mwl else "full" for i in range(num_layers)]
        # Mistral-7B v0.1, Phi-3-small/mini-128k style: every layer slides
        return ["sliding"] * num_layers
    return ["full"] * num_layers


def _moe_layers(tcfg, model_type, num_layers, num_experts):
    if not num_experts:
        return [False] * num_layers
    first_dense = int(tcfg.get("first_k_dense_replace") or 0)
    freq = int(_first(tcfg, ("moe_layer_freq", "decoder_sparse_step", "interleave_moe_layer_step",
                             "expert_layer_period"), 1) or 1)
    offset = int(tcfg.get("expert_layer_offset") or 0)
    mlp_only = set(int(x) for x in (tcfg.get("mlp_only_layers") or []))
    layers = []
    for i in range(num_layers):
        if i < first_dense or i in mlp_only:
            layers.append(False)
        elif model_type == "jamba":
            layers.append(i % freq == offset)
        elif model_type in ("qwen2_moe", "qwen3_moe", "qwen3_next"):
            layers.append((i + 1) % freq == 0)
        elif model_type == "llama4":
            layers.append((i + 1) % freq == 0)
        else:
            layers.append((i - first_dense) % freq == 0 if freq > 1 else True)
    return layers


def _rope(tcfg):
    rope = tcfg.get("rope_parameters")
    if not isinstance(rope, dict) or not rope:
        rope = tcfg.get("rope_scaling")
    if not isinstance(rope, dict) or not rope:
        return None
    if all(isinstance(v, dict) for v in rope.values()):  # transformers v5 per-layer-type nesting
        rope = next(iter(rope.values()))
    rope = dict(rope)
    if "rope_type" not in rope and "type" in rope:  # vLLM patch_rope_parameters
        rope["rope_type"] = rope["type"]
    rope.setdefault("rope_type", "default")
    if rope["rope_type"] in ("su",):
        rope["rope_type"] = "longrope"
    if rope["rope_type"] == "mrope":
        rope["rope_type"] = "default"
    return rope


def _derive_max_len(tcfg, cfg, model_type):
    derived, key = math.inf, None
    for name in _MAX_LEN_KEYS:
        value = tcfg.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if value < derived:
                key = name
            derived = min(derived, value)
    if isinstance(tcfg.get("model_max_length"), (int, float)) and tcfg.get("model_max_length"):
        derived, key = tcfg["model_max_length"], "model_max_length"
    if derived == math.inf:
        derived, key = 2048, None  # vLLM warns and assumes 2048
    rope = _rope(tcfg)
    if rope is not None and "gemma3" not in str(cfg.get("model_type", model_type)):
        factor = 1.0
        rtype = rope.get("rope_type")
        if rtype not in ("su", "longrope", "llama3"):
            factor = rope.get("factor", factor)
            if rtype == "yarn" and rope.get("original_max_position_embeddings"):
                derived = rope["original_max_position_embeddings"]
        if factor is None:
            factor = 1.0
        derived = derived * factor
    default_len = int(derived)
    if rope is not None and rope.get("rope_type") == "longrope":
        default_len = int(tcfg.get("original_max_position_embeddings", derived))
    return int(derived), key, default_len


def normalize(config):
    """config.json (dict) -> ModelArch. Raises ValueError only for malformed input."""
    if not isinstance(config, dict) or not config:
        raise ValueError("model_config must be a non-empty mapping (the model's config.json)")
    cfg = config
    tcfg, nested = _text_config(cfg)
    # remote-code / GPT-2 style names (transformers attribute_map)
    tcfg = dict(tcfg)
    alias_pairs = (("hidden_size", ("n_embd", "d_model", "dim", "model_dim")),
                   ("num_hidden_layers", ("n_layer", "n_layers", "num_layers")),
                   ("num_attention_heads", ("n_head", "n_heads", "num_heads")),
                   ("intermediate_size", ("n_inner", "ffn_hidden_size", "ffn_dim", "inner_hidden_size")),
                   ("vocab_size", ("padded_vocab_size", "n_vocab")))
    for canon, aliases in alias_pairs:
        if tcfg.get(canon) is None:
            value = _first(tcfg, aliases)
            if value is not None:
                tcfg[canon] = value
    if nested:
        for key in ("architectures", "torch_dtype", "dtype", "quantization_config", "tie_word_embeddings"):
            if tcfg.get(key) is None and cfg.get(key) is not None:
                tcfg[key] = cfg[key]

    architectures = list(cfg.get("architectures") or tcfg.get("architectures") or [])
    model_type = str(tcfg.get("model_type") or cfg.get("model_type") or "")
    outer_type = str(cfg.get("model_type") or model_type)
    if model_type == "phi-msft":
        model_type = "phi"

    hidden = tcfg.get("hidden_size")
    layers = tcfg.get("num_hidden_layers")
    heads = tcfg.get("num_attention_heads")
    vocab = tcfg.get("vocab_size")
    for name, value in (("hidden_size", hidden), ("num_hidden_layers", layers), ("num_attention_heads", heads),
                        ("vocab_size", vocab)):
        if value is None:
            raise ValueError(f"config.json has no {name} (nor a known alias); cannot size the model")
    hidden = _as_int(hidden, "hidden_size")
    layers = _as_int(layers, "num_hidden_layers")
    heads = _as_int(heads, "num_attention_heads")
    vocab = _as_int(vocab, "vocab_size")
    if min(hidden, layers, heads, vocab) <= 0:
        raise ValueError("hidden_size, num_hidden_layers, num_attention_heads and vocab_size must be positive")

    # KV heads (model_arch_config_convertor.get_total_num_kv_heads + Falcon/MPT/DBRX overrides)
    attn_cfg = tcfg.get("attn_config") if isinstance(tcfg.get("attn_config"), dict) else {}
    if model_type in ("falcon", "RefinedWeb", "RefinedWebModel") and not tcfg.get("new_decoder_architecture") \
            and tcfg.get("multi_query", model_type != "falcon"):
        kv_heads = 1
    elif model_type in ("mpt", "dbrx") and attn_cfg:
        kv_heads = attn_cfg.get("kv_n_heads", heads)
    else:
        kv_heads = _first(tcfg, ("n_head_kv", "num_kv_heads", "num_key_value_heads", "multi_query_group_num",
                                 "num_attention_groups"), heads)
    kv_heads = _as_int(kv_heads, "num_key_value_heads")

    use_mla = model_type in MLA_MODEL_TYPES and tcfg.get("kv_lora_rank") is not None
    qk_rope = int(tcfg.get("qk_rope_head_dim") or 0)
    qk_nope = int(tcfg.get("qk_nope_head_dim") or 0)
    v_head = int(tcfg.get("v_head_dim") or 0)
    kv_lora = int(tcfg.get("kv_lora_rank") or 0)
    q_lora = tcfg.get("q_lora_rank")
    if use_mla:
        head_dim = kv_lora + qk_rope
    elif tcfg.get("head_dim") is not None:
        head_dim = _as_int(tcfg["head_dim"], "head_dim")
    elif tcfg.get("hidden_size_per_head") is not None:
        head_dim = _as_int(tcfg["hidden_size_per_head"], "hidden_size_per_head")
    elif model_type == "zamba2" and tcfg.get("attention_head_dim"):
        head_dim = int(tcfg["attention_head_dim"])
    elif tcfg.get("kv_channels") is not None:  # ChatGLM
        head_dim = int(tcfg["kv_channels"])
    else:
        head_dim = hidden // heads
    # head size of q/o projections (MLA: nope+rope for q, v_head_dim for o)
    q_head_dim = (qk_nope + qk_rope) if use_mla else head_dim
    o_head_dim = v_head if use_mla and v_head else head_dim
    if model_type == "gemma4" or model_type == "gemma4_text":
        head_dim = max(int(tcfg.get("head_dim") or 0), int(tcfg.get("global_head_dim") or 0)) or head_dim

    # MoE
    num_experts = _first(tcfg, ("num_experts", "moe_num_experts", "n_routed_experts", "num_local_experts"), 0)
    ffn_cfg = tcfg.get("ffn_config") if isinstance(tcfg.get("ffn_config"), dict) else {}
    if not num_experts and ffn_cfg.get("moe_num_experts"):
        num_experts = ffn_cfg["moe_num_experts"]
    if isinstance(num_experts, list):
        num_experts = num_experts[0]
    num_experts = int(num_experts or 0)
    topk = int(_first(tcfg, ("num_experts_per_tok", "experts_per_token", "num_experts_per_token", "moe_top_k",
                             "top_k"), ffn_cfg.get("moe_top_k", 0)) or 0)
    inter = tcfg.get("intermediate_size")
    if inter is None and ffn_cfg.get("ffn_hidden_size"):
        inter = ffn_cfg["ffn_hidden_size"]
    if inter is None:
        inter = 4 * hidden  # GPT-2/phi-msft n_inner=None
    inter = _as_int(inter, "intermediate_size")
    moe_inter = tcfg.get("moe_intermediate_size")
    if isinstance(moe_inter, list):
        moe_inter = moe_inter[0]
    if num_experts and moe_inter is None:
        moe_inter = inter  # Mixtral, gpt-oss, GraniteMoE, PhiMoE, OLMoE, DBRX: intermediate_size is per expert
    moe_inter = int(moe_inter or 0)
    dense_inter = int(tcfg.get("intermediate_size_mlp") or inter)  # Llama 4 keeps a dense size apart
    shared_inter = 0
    if tcfg.get("shared_expert_intermediate_size"):
        shared_inter = int(tcfg["shared_expert_intermediate_size"])
    elif tcfg.get("n_shared_experts"):
        shared_inter = int(tcfg["n_shared_experts"]) * (moe_inter or inter)
    elif tcfg.get("num_shared_experts"):
        shared_inter = int(tcfg["num_shared_experts"]) * (moe_inter or inter)
    elif model_type == "llama4" and num_experts:
        shared_inter = moe_inter
    moe_layers = _moe_layers(tcfg, model_type, layers, num_experts)

    sliding_window = tcfg.get("sliding_window")
    if isinstance(sliding_window, list):  # per-layer windows
        sliding_window = max((w for w in sliding_window if w), default=None)
    if model_type in ("qwen2", "qwen2_moe", "qwen3", "qwen3_moe") and not tcfg.get("use_sliding_window", False) \
            and not isinstance(tcfg.get("layer_types"), list):
        sliding_window = None
    sliding_window = int(sliding_window) if sliding_window else None
    kinds = _layer_kinds(tcfg, cfg, model_type, layers, sliding_window)
    if len(kinds) < layers:
        kinds = kinds + [kinds[-1] if kinds else "full"] * (layers - len(kinds))
    chunk = tcfg.get("attention_chunk_size")

    # dtype
    raw_dtype = _first(cfg, ("torch_dtype", "dtype")) or _first(tcfg, ("torch_dtype", "dtype"))
    if isinstance(raw_dtype, str):
        raw_dtype = raw_dtype.replace("torch.", "")
    config_dtype = _DTYPE_CANON.get(str(raw_dtype), None) if raw_dtype else None

    quant = _quantization(cfg, tcfg)

    tie = tcfg.get("tie_word_embeddings", cfg.get("tie_word_embeddings"))
    if tie is None:
        tie = model_type in _TIE_DEFAULT_TRUE

    runner = "generate"
    for arch in architectures:
        for suffix, default in _SUFFIX_RUNNER:
            if arch.endswith(suffix):
                runner = default
                break
        else:
            continue
        break
    encoder_only = model_type in ENCODER_ONLY_MODEL_TYPES or outer_type in ENCODER_ONLY_MODEL_TYPES or (
        tcfg.get("is_decoder") is False and tcfg.get("is_causal") is False)
    if encoder_only:
        runner = "pooling"
    num_labels = None
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        id2label = tcfg.get("id2label") or cfg.get("id2label")
        num_labels = int(tcfg.get("num_labels") or (len(id2label) if isinstance(id2label, dict) else 1))

    derived, key, default_len = _derive_max_len(tcfg, cfg, outer_type)
    rope = _rope(tcfg)
    partial = tcfg.get("partial_rotary_factor")
    if use_mla:
        rotary_dim = qk_rope
    elif tcfg.get("rotary_dim"):
        rotary_dim = int(tcfg["rotary_dim"])
    elif partial:
        rotary_dim = int(head_dim * float(partial))
    else:
        rotary_dim = head_dim
    uses_rope = not encoder_only and model_type not in ("gpt2", "gpt_bigcode", "opt", "bloom", "mpt")
    rope_positions = int(tcfg.get("max_position_embeddings") or tcfg.get("n_positions") or derived)
    if rope and rope.get("rope_type") in ("yarn", "deepseek_yarn") and rope.get("original_max_position_embeddings"):
        rope_positions = int(rope["original_max_position_embeddings"] * float(rope.get("factor") or 1))

    gated = model_type not in NON_GATED_MLP_MODEL_TYPES
    if str(tcfg.get("hidden_act") or tcfg.get("activation_function") or "") in ("gelu_new", "gelu", "relu") \
            and model_type in ("phi", "gpt2"):
        gated = False

    arch = ModelArch(
        architectures=architectures,
        model_type=model_type,
        outer_model_type=outer_type,
        is_multimodal=nested or any(k in cfg for k in ("vision_config", "audio_config", "vision_tower")),
        runner=runner,
        encoder_only=encoder_only,
        num_labels=num_labels,
        num_layers=layers,
        layer_kinds=kinds,
        num_attention_layers=sum(1 for k in kinds if k in ("full", "sliding", "chunked")),
        sliding_window=sliding_window,
        attention_chunk_size=int(chunk) if chunk else None,
        hidden_size=hidden,
        intermediate_size=dense_inter,
        gated_mlp=gated,
        num_attention_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=head_dim,
        q_head_dim=q_head_dim,
        o_head_dim=o_head_dim,
        use_mla=use_mla,
        kv_lora_rank=kv_lora or None,
        q_lora_rank=int(q_lora) if q_lora else None,
        qk_rope_head_dim=qk_rope or None,
        qk_nope_head_dim=qk_nope or None,
        v_head_dim=v_head or None,
        num_experts=num_experts,
        experts_per_tok=topk,
        moe_intermediate_size=moe_inter,
        shared_expert_intermediate_size=shared_inter,
        moe_layers=moe_layers,
        num_moe_layers=sum(moe_layers),
        vocab_size=vocab,
        vocab_size_padded=pad_vocab_size(vocab),
        tie_word_embeddings=bool(tie),
        config_dtype=config_dtype,
        quantization=quant,
        derived_max_model_len=derived,
        default_max_model_len=default_len,
        max_len_key=key,
        rope_type=(rope or {}).get("rope_type"),
        rotary_dim=rotary_dim if uses_rope else 0,
        rope_cache_positions=rope_positions if uses_rope else 0,
        attention_bias=bool(tcfg.get("attention_bias", tcfg.get("bias", model_type in (
            "qwen2", "qwen2_moe", "qwen2_vl", "qwen2_5_vl", "phi", "gpt2", "gpt_neox", "starcoder2", "gpt_oss",
            "bert", "roberta", "xlm-roberta", "gpt_bigcode", "bloom", "opt")))),
        mlp_bias=bool(tcfg.get("mlp_bias", model_type in ("phi", "gpt2", "gpt_neox", "starcoder2", "bert",
                                                          "roberta", "xlm-roberta", "gpt_bigcode", "bloom", "opt"))),
        qk_norm=model_type in ("qwen3", "qwen3_moe", "qwen3_next", "gemma3", "gemma3_text", "olmo2", "olmoe",
                               "glm4_moe", "gemma4", "gemma4_text"),
        norms_per_layer=4 if model_type in ("gemma2", "gemma3", "gemma3_text", "gemma4", "gemma4_text", "olmo2")
        else (1 if model_type == "phi" else 2),
        layernorm_bias=model_type in ("phi", "gpt2", "gpt_neox", "starcoder2", "bert", "roberta", "xlm-roberta",
                                      "falcon", "gpt_bigcode", "bloom", "opt"),
        mamba=_mamba_dims(tcfg, hidden, model_type, heads, head_dim) if any(k in ("mamba", "linear") for k in kinds)
        else None,
        mtp_layers=int(tcfg.get("num_nextn_predict_layers") or 0),
        vision_params=_vision_params(cfg, hidden),
    )
    return arch


def _vision_params(cfg, text_hidden):
    """Rough size of a multimodal wrapper's vision tower + projector (ViT blocks, patch embedding, 2-layer MLP)."""
    vision = cfg.get("vision_config")
    if not isinstance(vision, dict) or not vision:
        return 0
    h = int(_first(vision, ("hidden_size", "embed_dim", "width", "d_model"), 0) or 0)
    layers = int(_first(vision, ("num_hidden_layers", "depth", "layers", "num_layers"), 0) or 0)
    if not h or not layers:
        return 0
    inter = int(_first(vision, ("intermediate_size", "mlp_dim"), 0) or 0) or int(h * float(vision.get("mlp_ratio", 4)))
    gated = str(vision.get("hidden_act", "")) in ("silu", "swiglu")
    block = 4 * h * h + (3 if gated else 2) * h * inter + 4 * h
    patch = int(vision.get("patch_size") or 14)
    channels = int(vision.get("num_channels") or vision.get("in_channels") or 3)
    temporal = int(vision.get("temporal_patch_size") or 1)
    merge = int(vision.get("spatial_merge_size") or 1)
    out = int(vision.get("out_hidden_size") or text_hidden)
    projector = (h * merge * merge) ** 2 + h * merge * merge * out if merge > 1 else h * out + out * out
    return layers * block + channels * patch * patch * temporal * h + projector


def _mamba_dims(tcfg, hidden, model_type, num_heads, head_dim):
    """State of Mamba / linear-attention layers (vllm/model_executor/layers/mamba/mamba_utils.py state shapes)."""
    d_conv = int(_first(tcfg, ("mamba_d_conv", "conv_kernel", "linear_conv_kernel_dim", "d_conv"), 4))
    if tcfg.get("linear_num_value_heads"):  # Qwen3-Next / Qwen3.5 gated delta net
        kh, kd = int(tcfg.get("linear_num_key_heads") or 0), int(tcfg.get("linear_key_head_dim") or 0)
        vh, vd = int(tcfg["linear_num_value_heads"]), int(tcfg.get("linear_value_head_dim") or 0)
        return {"kind": "gdn", "conv_dim": 2 * kh * kd + vh * vd, "d_conv": d_conv, "heads": vh,
                "state_per_head": vd * kd, "d_inner": vh * vd, "d_state": kd}
    if model_type.startswith("minimax"):  # lightning (linear) attention: heads x head_dim x head_dim
        return {"kind": "linear", "conv_dim": 0, "d_conv": 1, "heads": num_heads,
                "state_per_head": head_dim * head_dim, "d_inner": num_heads * head_dim, "d_state": head_dim}
    expand = float(_first(tcfg, ("mamba_expand", "expand"), 2))
    d_state = int(_first(tcfg, ("mamba_d_state", "ssm_state_size", "state_size", "d_state"), 16))
    heads = int(_first(tcfg, ("mamba_n_heads", "mamba_num_heads"), 0) or 0)
    mhead = int(_first(tcfg, ("mamba_head_dim", "mamba_d_head"), 0) or 0)
    groups = int(_first(tcfg, ("mamba_n_groups", "n_groups", "mamba_ngroups"), 1) or 1)
    inner = int(tcfg.get("mamba_d_ssm") or (heads * mhead if heads and mhead else expand * hidden))
    if heads:  # Mamba2 (NemotronH, Zamba2, Bamba, Falcon-H1, GraniteMoeHybrid)
        return {"kind": "mamba2", "conv_dim": inner + 2 * groups * d_state, "d_conv": d_conv, "heads": heads,
                "state_per_head": (mhead or inner // heads) * d_state, "d_inner": inner, "d_state": d_state}
    # Mamba1 (Jamba): state (d_inner, d_state), conv (d_inner, d_conv - 1)
    return {"kind": "mamba1", "conv_dim": inner, "d_conv": d_conv, "heads": inner, "state_per_head": d_state,
            "d_inner": inner, "d_state": d_state}


def tensors(arch):
    """The model's weight tensors as vLLM lays them out.

    Each entry: ``name``, ``layer`` (index, or None for embeddings/final norm), ``stage`` ("first", "last",
    "layer"), ``out``/``in_`` (matrix dims; vectors have in_=1), ``split``:
      * ``col``: output dim split over TP (ColumnParallelLinear / MergedColumnParallelLinear);
      * ``row``: input dim split over TP (RowParallelLinear);
      * ``kv``: K/V rows of QKVParallelLinear: kv heads split over TP, replicated when TP > kv heads;
      * ``rep``: replicated on every TP rank (norms, routers, MLA kv_a_proj, biases of row layers);
      * ``vocab``: VocabParallelEmbedding / ParallelLMHead (rows padded to 64, split over TP);
      * ``expert``: FusedMoE weights (each expert's intermediate dim split over TP);
    ``quant`` (True when a weight quantization applies to it), ``expert`` (True for routed experts).
    """
    t = []
    H = arch.hidden_size

    def add(name, layer, out, in_, split, quant=False, expert=False, count=1, stage="layer"):
        t.append({"name": name, "layer": layer, "out": int(out), "in_": int(in_), "split": split,
                  "quant": quant, "expert": expert, "count": int(count), "stage": stage})

    add("embed_tokens", None, arch.vocab_size_padded, H, "vocab", stage="first")
    for i in range(arch.num_layers):
        kind = arch.layer_kinds[i]
        if kind in ("full", "sliding", "chunked"):
            if arch.use_mla:
                if arch.q_lora_rank:
                    add("q_a_proj", i, arch.q_lora_rank, H, "rep", True)
                    add("q_a_layernorm", i, arch.q_lora_rank, 1, "rep")
                    add("q_b_proj", i, arch.num_attention_heads * arch.q_head_dim, arch.q_lora_rank, "col", True)
                else:
                    add("q_proj", i, arch.num_attention_heads * arch.q_head_dim, H, "col", True)
                add("kv_a_proj_with_mqa", i, arch.kv_lora_rank + arch.qk_rope_head_dim, H, "rep", True)
                add("kv_a_layernorm", i, arch.kv_lora_rank, 1, "rep")
                add("kv_b_proj", i, arch.num_attention_heads * (arch.qk_nope_head_dim + arch.o_head_dim),
                    arch.kv_lora_rank, "col", True)
                add("o_proj", i, H, arch.num_attention_heads * arch.o_head_dim, "row", True)
            else:
                add("q_proj", i, arch.num_attention_heads * arch.q_head_dim, H, "col", True)
                add("kv_proj", i, 2 * arch.num_kv_heads * arch.head_dim, H, "kv", True)
                add("o_proj", i, H, arch.num_attention_heads * arch.o_head_dim, "row", True)
                if arch.attention_bias:
                    add("q_bias", i, arch.num_attention_heads * arch.q_head_dim, 1, "col")
                    add("kv_bias", i, 2 * arch.num_kv_heads * arch.head_dim, 1, "kv")
                    add("o_bias", i, H, 1, "rep")
                if arch.qk_norm:
                    add("qk_norm", i, 2 * arch.head_dim, 1, "rep")
                if arch.model_type == "gpt_oss":
                    add("sinks", i, arch.num_attention_heads, 1, "col")
        elif kind in ("mamba", "linear") and arch.mamba:
            inner = arch.mamba["d_inner"]
            add("mixer_in_proj", i, 2 * inner + 2 * arch.mamba["d_state"], H, "col", True)
            add("mixer_out_proj", i, H, inner, "row", True)
            add("mixer_conv", i, inner, arch.mamba["d_conv"], "col")
        if arch.moe_layers[i]:
            E, Im = arch.num_experts, arch.moe_intermediate_size
            w13 = (2 if arch.gated_mlp or arch.model_type == "gpt_oss" else 1) * Im
            add("experts_w13", i, w13, H, "expert", True, expert=True, count=E)
            add("experts_w2", i, H, Im, "expert_row", True, expert=True, count=E)
            if arch.model_type == "gpt_oss":
                add("experts_b13", i, w13, 1, "expert", expert=True, count=E)
                add("experts_b2", i, H, 1, "rep", count=E)
            add("router", i, E, H, "rep")
            if arch.shared_expert_intermediate_size:
                S = arch.shared_expert_intermediate_size
                add("shared_gate_up", i, 2 * S, H, "col", True)
                add("shared_down", i, H, S, "row", True)
                if arch.model_type in ("qwen2_moe", "qwen3_next"):
                    add("shared_expert_gate", i, 1, H, "rep")
        elif arch.model_type != "nemotron_h" or kind == "none":
            I = arch.intermediate_size
            add("mlp_up", i, (2 if arch.gated_mlp else 1) * I, H, "col", True)
            add("mlp_down", i, H, I, "row", True)
            if arch.mlp_bias:
                add("mlp_up_bias", i, (2 if arch.gated_mlp else 1) * I, 1, "col")
                add("mlp_down_bias", i, H, 1, "rep")
        add("norms", i, H * arch.norms_per_layer * (2 if arch.layernorm_bias else 1), 1, "rep")
    add("final_norm", None, H * (2 if arch.layernorm_bias else 1), 1, "rep", stage="last")
    if getattr(arch, "vision_params", 0):
        # vision tower + projector, sharded over TP like vLLM's ViT implementations (approximate)
        add("vision_tower", None, arch.vision_params, 1, "col", stage="first")
    if arch.encoder_only or arch.runner == "pooling":
        if arch.num_labels:
            add("classifier", None, arch.num_labels, H, "rep", stage="last")
            add("pooler_dense", None, H, H, "rep", stage="last")
        if arch.encoder_only:
            add("position_embeddings", None, arch.derived_max_model_len + 2, H, "rep", stage="first")
    elif not arch.tie_word_embeddings:
        add("lm_head", None, arch.vocab_size_padded, H, "vocab", stage="last")
        if arch.model_type == "phi":
            add("lm_head_bias", None, arch.vocab_size_padded, 1, "vocab", stage="last")
    return t


def param_count(arch, *, loaded=True):
    """Total parameters (unsharded, unpadded vocab). ``loaded=False`` adds MTP layers kept in the checkpoint."""
    total = 0
    for ten in tensors(arch):
        n = ten["out"] * ten["in_"] * ten["count"]
        if ten["split"] == "vocab":
            n = arch.vocab_size * ten["in_"]
        total += n
    if not loaded and arch.mtp_layers:
        per_layer = total / max(arch.num_layers, 1)
        total += int(per_layer * arch.mtp_layers)
    return int(total)


def checkpoint_bytes_estimate(arch, dtype_bytes=None):
    """Rough size of the safetensors checkpoint from the config alone (used to scale a given checkpoint size)."""
    if dtype_bytes is None:
        dtype_bytes = DTYPE_BYTES.get(arch.config_dtype or "bfloat16", 2)
    quant = arch.quantization
    total = 0.0
    for ten in tensors(arch):
        n = ten["out"] * ten["in_"] * ten["count"]
        if ten["split"] == "vocab":
            n = arch.vocab_size * ten["in_"]
        if quant and ten["quant"] and ten["in_"] > 1 and (ten["expert"] or not quant["experts_only"]):
            bits = quant["weight_bits"]
            per = bits / 8.0
            if quant["group_size"]:
                per += quant["scale_bytes_per_group"] / quant["group_size"]
            total += n * per
        else:
            total += n * dtype_bytes
    return int(total)


def load_model_dir(path):
    """Read a local model directory -> (config dict, checkpoint bytes or None).

    The size is ``metadata.total_size`` of ``model.safetensors.index.json`` when present (what a hub preflight
    knows before downloading), else the sum of ``*.safetensors`` file sizes, else of ``*.bin`` files.
    """
    if not os.path.isdir(path):
        raise ValueError(f"{path} is not a directory")
    cfg_path = os.path.join(path, "config.json")
    if not os.path.isfile(cfg_path):
        raise ValueError(f"{path} has no config.json")
    try:
        with open(cfg_path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{cfg_path} is not readable JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise ValueError(f"{cfg_path} does not hold a JSON object")
    size = None
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index_path = os.path.join(path, index_name)
        if os.path.isfile(index_path):
            try:
                with open(index_path, encoding="utf-8") as handle:
                    index = json.load(handle)
                total = (index.get("metadata") or {}).get("total_size")
                if isinstance(total, (int, float)) and total > 0:
                    size = int(total)
                    break
            except (OSError, ValueError):
                pass
    if size is None:
        for pattern in ("*.safetensors", "*.bin"):
            files = [f for f in glob.glob(os.path.join(path, pattern)) if os.path.isfile(f)
                     and not os.path.basename(f).startswith("training_args")]
            if files:
                size = sum(os.path.getsize(f) for f in files)
                break
    return config, size
