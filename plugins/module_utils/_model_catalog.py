# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""config.json and checkpoint sizes of the models the seed plans use, so a plan can be checked before download.

Each entry holds the model's real ``config.json`` (the keys the fit engine reads, values as published) and
the checkpoint size in bytes:

* ``checkpoint_bytes``: ``metadata.total_size`` of ``model.safetensors.index.json`` (tensor bytes), or the size
  of the single weights file when the repository has no index (``checkpoint_file``);
* ``checkpoint_estimated``: true where no published size was found and the number is parameters x dtype bytes
  (``params`` is the exact count from the config; for every model below the same formula reproduces the
  published sizes, e.g. Qwen3-32B 65,524,246,528 and Llama-3.x-70B 141,107,412,992).

ModelScope mirrors these repositories under the same ids, except Meta's models (``LLM-Research/...``), listed
in ``ALIASES``. Look-ups ignore case.
"""
from __future__ import annotations

import os

_QWEN2_COMMON = {
    "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "hidden_act": "silu",
    "initializer_range": 0.02, "model_type": "qwen2", "use_cache": True, "use_sliding_window": False,
}
_QWEN3_COMMON = {
    "architectures": ["Qwen3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu",
    "initializer_range": 0.02, "model_type": "qwen3", "rms_norm_eps": 1e-06, "rope_scaling": None,
    "rope_theta": 1000000, "sliding_window": None, "torch_dtype": "bfloat16", "transformers_version": "4.51.0",
    "use_cache": True, "use_sliding_window": False, "vocab_size": 151936,
}
_LLAMA_70B = {
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 128000, "hidden_act": "silu", "hidden_size": 8192, "initializer_range": 0.02,
    "intermediate_size": 28672, "max_position_embeddings": 131072, "mlp_bias": False, "model_type": "llama",
    "num_attention_heads": 64, "num_hidden_layers": 80, "num_key_value_heads": 8, "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16", "use_cache": True,
    "vocab_size": 128256,
}
_XLMR_LARGE = {
    "attention_probs_dropout_prob": 0.1, "bos_token_id": 0, "classifier_dropout": None, "eos_token_id": 2,
    "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 1024, "initializer_range": 0.02,
    "intermediate_size": 4096, "layer_norm_eps": 1e-05, "max_position_embeddings": 8194,
    "model_type": "xlm-roberta", "num_attention_heads": 16, "num_hidden_layers": 24, "output_past": True,
    "pad_token_id": 1, "position_embedding_type": "absolute", "torch_dtype": "float32", "type_vocab_size": 1,
    "use_cache": True, "vocab_size": 250002,
}

_LLAMA_INDEX = "model.safetensors.index.json total_size (70,553,706,496 params x 2 bytes)"

MODELS = {
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B": {
        "config": dict(_QWEN2_COMMON, bos_token_id=151643, eos_token_id=151643, hidden_size=5120,
                       intermediate_size=27648, max_position_embeddings=131072, max_window_layers=64,
                       num_attention_heads=40, num_hidden_layers=64, num_key_value_heads=8, rms_norm_eps=1e-05,
                       rope_theta=1000000.0, sliding_window=131072, tie_word_embeddings=False,
                       torch_dtype="bfloat16", transformers_version="4.43.1", vocab_size=152064),
        "params": 32763876352,
        "checkpoint_bytes": 65527752704,
        "checkpoint_estimated": False,
        "checkpoint_source": "model.safetensors.index.json total_size of the Qwen2.5-32B architecture "
                             "(32,763,876,352 params x 2 bytes)",
    },
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B": {
        "config": dict(_QWEN2_COMMON, bos_token_id=151643, eos_token_id=151643, hidden_size=1536,
                       intermediate_size=8960, max_position_embeddings=131072, max_window_layers=21,
                       num_attention_heads=12, num_hidden_layers=28, num_key_value_heads=2, rms_norm_eps=1e-06,
                       rope_theta=10000, sliding_window=4096, tie_word_embeddings=False, torch_dtype="bfloat16",
                       transformers_version="4.44.0", use_mrope=False, vocab_size=151936),
        "params": 1777088000,
        "checkpoint_bytes": 3554176000,
        "checkpoint_estimated": True,
        "checkpoint_file": "model.safetensors",
        "checkpoint_source": "1,777,088,000 params x 2 bytes (untied lm_head); the single model.safetensors "
                             "file adds its header (~3.55 GB)",
    },
    "BAAI/bge-m3": {
        "config": dict(_XLMR_LARGE, architectures=["XLMRobertaModel"], transformers_version="4.33.0"),
        "params": 567754752,
        "checkpoint_bytes": 2271145830,
        "checkpoint_estimated": False,
        "checkpoint_file": "pytorch_model.bin",
        "checkpoint_source": "size of pytorch_model.bin (float32)",
    },
    "BAAI/bge-reranker-v2-m3": {
        "config": dict(_XLMR_LARGE, architectures=["XLMRobertaForSequenceClassification"],
                       id2label={"0": "LABEL_0"}, label2id={"LABEL_0": 0}, transformers_version="4.38.1"),
        "params": 567755777,
        "checkpoint_bytes": 2271071852,
        "checkpoint_estimated": False,
        "checkpoint_file": "model.safetensors",
        "checkpoint_source": "size of model.safetensors (float32)",
    },
    "Qwen/Qwen3-0.6B": {
        "config": dict(_QWEN3_COMMON, hidden_size=1024, intermediate_size=3072, max_position_embeddings=40960,
                       max_window_layers=28, num_attention_heads=16, num_hidden_layers=28, num_key_value_heads=8,
                       tie_word_embeddings=True),
        "params": 596049920,
        "checkpoint_bytes": 1503300328,
        "checkpoint_estimated": False,
        "checkpoint_file": "model.safetensors",
        "checkpoint_source": "size of model.safetensors; it stores lm_head although the embeddings are tied "
                             "(1,503,264,768 tensor bytes), vLLM loads 1,192,099,840",
    },
    "Qwen/Qwen3-32B": {
        "config": dict(_QWEN3_COMMON, hidden_size=5120, intermediate_size=25600, max_position_embeddings=40960,
                       max_window_layers=64, num_attention_heads=64, num_hidden_layers=64, num_key_value_heads=8,
                       tie_word_embeddings=False),
        "params": 32762123264,
        "checkpoint_bytes": 65524246528,
        "checkpoint_estimated": False,
        "checkpoint_source": "model.safetensors.index.json total_size",
    },
    "meta-llama/Llama-3.3-70B-Instruct": {
        "config": dict(_LLAMA_70B, eos_token_id=[128001, 128008, 128009], transformers_version="4.47.0.dev0"),
        "params": 70553706496,
        "checkpoint_bytes": 141107412992,
        "checkpoint_estimated": False,
        "checkpoint_source": _LLAMA_INDEX,
    },
    "meta-llama/Llama-3.1-70B-Instruct": {
        "config": dict(_LLAMA_70B, eos_token_id=[128001, 128008, 128009], transformers_version="4.42.3"),
        "params": 70553706496,
        "checkpoint_bytes": 141107412992,
        "checkpoint_estimated": False,
        "checkpoint_source": _LLAMA_INDEX,
    },
    "meta-llama/Llama-3.1-70B": {
        "config": dict(_LLAMA_70B, eos_token_id=128001, transformers_version="4.43.0.dev0"),
        "params": 70553706496,
        "checkpoint_bytes": 141107412992,
        "checkpoint_estimated": False,
        "checkpoint_source": _LLAMA_INDEX,
    },
    "Qwen/Qwen2.5-72B-Instruct": {
        "config": dict(_QWEN2_COMMON, bos_token_id=151643, eos_token_id=151645, hidden_size=8192,
                       intermediate_size=29568, max_position_embeddings=32768, max_window_layers=70,
                       num_attention_heads=64, num_hidden_layers=80, num_key_value_heads=8, rms_norm_eps=1e-06,
                       rope_theta=1000000.0, sliding_window=131072, tie_word_embeddings=False,
                       torch_dtype="bfloat16", transformers_version="4.43.1", vocab_size=152064),
        "params": 72706203648,
        "checkpoint_bytes": 145412407296,
        "checkpoint_estimated": False,
        "checkpoint_source": "model.safetensors.index.json total_size",
    },
}

# Other ids for the same checkpoints (ModelScope names, older Hugging Face names).
ALIASES = {
    "LLM-Research/Llama-3.3-70B-Instruct": "meta-llama/Llama-3.3-70B-Instruct",
    "LLM-Research/Meta-Llama-3.1-70B-Instruct": "meta-llama/Llama-3.1-70B-Instruct",
    "meta-llama/Meta-Llama-3.1-70B-Instruct": "meta-llama/Llama-3.1-70B-Instruct",
    "LLM-Research/Meta-Llama-3.1-70B": "meta-llama/Llama-3.1-70B",
    "meta-llama/Meta-Llama-3.1-70B": "meta-llama/Llama-3.1-70B",
}

_BY_LOWER = {key.lower(): key for key in MODELS}
_BY_LOWER.update({alias.lower(): target for alias, target in ALIASES.items()})


def canonical_id(repo_id):
    """The catalogue key for a repo id (any case, aliases resolved), or None."""
    if not isinstance(repo_id, str):
        return None
    return _BY_LOWER.get(repo_id.strip().strip("/").lower())


def lookup(repo_id):
    """Catalogue entry (with ``repo_id`` added) for a repo id, or None."""
    key = canonical_id(repo_id)
    if key is None:
        return None
    return dict(MODELS[key], repo_id=key)


def lookup_by_dirname(path):
    """Entry whose repository name equals the last component of a local model path (e.g.
    ``/data/models/DeepSeek-R1-Distill-Qwen-32B``); None when none or several match."""
    if not isinstance(path, str) or not path:
        return None
    base = os.path.basename(path.rstrip("/")).lower()
    hits = {target for name, target in list(_BY_LOWER.items()) if name.split("/")[-1] == base}
    if len(hits) != 1:
        return None
    return lookup(hits.pop())


def known_ids():
    return sorted(MODELS)
