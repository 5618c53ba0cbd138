# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The model catalogue: configs agree with ../shared/fixtures/memory/hf_configs.json where both exist, and every
checkpoint size agrees with the parameter count computed from the config."""
import json
import os

import pytest

from ansible_collections.llmops.vllm_stack.plugins.module_utils import _model_catalog as cat

from conftest import SHARED


def params(config, lm_head_stored=None):
    """Parameter count of a Qwen2/Qwen3/Llama decoder or an XLM-RoBERTa encoder from its config.json."""
    h, layers, vocab = config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]
    inter, heads = config["intermediate_size"], config["num_attention_heads"]
    if config["model_type"] == "xlm-roberta":
        layer = 4 * (h * h + h) + (h * inter + inter) + (inter * h + h) + 4 * h
        emb = (vocab + config["max_position_embeddings"] + config["type_vocab_size"]) * h + 2 * h
        if config["architectures"] == ["XLMRobertaModel"]:
            head = h * h + h  # pooler
        else:
            head = h * h + h + h * len(config.get("id2label", {"0": 0})) + len(config.get("id2label", {"0": 0}))
        return layers * layer + emb + head
    head_dim = config.get("head_dim") or h // heads
    kv = config["num_key_value_heads"]
    bias = config["model_type"] == "qwen2"
    attn = h * heads * head_dim * 2 + h * kv * head_dim * 2 + ((heads + 2 * kv) * head_dim if bias else 0)
    qk_norm = 2 * head_dim if config["model_type"] == "qwen3" else 0
    layer = attn + 3 * h * inter + 2 * h + qk_norm
    tied = config.get("tie_word_embeddings") and not lm_head_stored
    return layers * layer + vocab * h * (1 if tied else 2) + h


@pytest.mark.parametrize("repo_id", cat.known_ids())
def test_checkpoint_size_matches_the_parameter_count(repo_id):
    entry = cat.lookup(repo_id)
    config = entry["config"]
    count = params(config)
    assert count == entry["params"]
    bytes_per = 4 if config["torch_dtype"] == "float32" else 2
    if entry.get("checkpoint_file"):
        # single file: tensor bytes + header (+ pickle overhead for .bin); Qwen3-0.6B also stores lm_head
        stored = params(config, lm_head_stored=True) * bytes_per
        assert 0 <= entry["checkpoint_bytes"] - stored < 200_000, (entry["checkpoint_bytes"], stored)
    else:
        assert entry["checkpoint_bytes"] == count * bytes_per


@pytest.mark.parametrize("repo_id", ["Qwen/Qwen3-0.6B", "Qwen/Qwen3-32B"])
def test_configs_agree_with_the_shared_copies(repo_id):
    with open(os.path.join(SHARED, "fixtures", "memory", "hf_configs.json"), encoding="utf-8") as handle:
        shared = json.load(handle)[repo_id]["config"]
    assert cat.lookup(repo_id)["config"] == shared


@pytest.mark.parametrize("query, key", [
    ("deepseek-ai/deepseek-r1-distill-qwen-32b", "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"),
    ("LLM-Research/Llama-3.3-70B-Instruct", "meta-llama/Llama-3.3-70B-Instruct"),
    ("meta-llama/Meta-Llama-3.1-70B-Instruct", "meta-llama/Llama-3.1-70B-Instruct"),
    ("Qwen/Qwen3-8B", None),
    (None, None),
])
def test_lookup_ignores_case_and_knows_modelscope_names(query, key):
    entry = cat.lookup(query)
    assert (entry["repo_id"] if entry else None) == key


@pytest.mark.parametrize("path, key", [
    ("/root/soft/models/DeepSeek-R1-Distill-Qwen-32B", "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"),
    ("/data/models/bge-m3/", "BAAI/bge-m3"),
    ("/data/models/Meta-Llama-3.1-70B-Instruct", "meta-llama/Llama-3.1-70B-Instruct"),
    ("/data/models/deepseek-70b", None),
])
def test_lookup_by_directory_name(path, key):
    entry = cat.lookup_by_dirname(path)
    assert (entry["repo_id"] if entry else None) == key
