# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Will this model start under vLLM on these GPUs, and with how much KV cache? Pure Python, no Ansible import.

The engine replays vLLM's own start-up accounting (read in the released wheels 0.16.0, 0.17.0, 0.18.0, 0.19.0 and
0.20.0; older behaviour from ``shared/reference/vllm-memory.md``) instead of a rule of thumb:

1. ``requested = ceil(total * gpu_memory_utilization)`` (``vllm/v1/worker/utils.py::request_memory``), where
   *total* is what ``torch.cuda.mem_get_info()`` reports. NVML's ``memory.total`` is larger by the driver-reserved
   memory (NVML ``memory_v2.reserved``: 0.6 GiB on an H200); pass ``gpu_reserved_bytes`` with an NVML total, or
   pass the CUDA-visible total (what vLLM prints, e.g. 79.19 GiB on an H100 80GB) as ``gpu_memory_bytes``.
2. weights: the model's tensors laid out the way vLLM shards them (``_model_config.tensors``), in the load dtype and
   quantization, plus the RoPE cos/sin cache. With ``weights_bytes`` (the checkpoint size from
   ``model.safetensors.index.json``) the per-GPU share is the checkpoint scaled by the sharding of the config.
3. activation peak of ``profile_run`` (``gpu_model_runner.profile_run``): a forward pass of
   ``max_num_batched_tokens`` tokens, then the dummy sampler on ``min(max_num_seqs, max_num_batched_tokens)``
   rows of full-vocabulary logits (gathered on every TP rank, so not divided by TP). The sampler usually
   dominates: bf16 logits + their fp32 copy + softmax probabilities + the exponential noise of
   ``random_sample`` = 14 bytes per logit from 0.17 (Triton top-k/top-p), about 37.5 bytes per logit before
   (the sort-based top-p keeps sorted values, int64 indices and sort scratch alive). MoE models keep the fused-MoE
   workspace (``WorkspaceManager``, ``modular_kernel._allocate_buffers``) alive from 0.16 on.
4. non-torch memory grown after the init snapshot: cuBLAS/cuDNN workspaces and kernel modules (0.25 GiB from
   0.17, 0.13 GiB before), plus at TP >= 2 the NCCL buffers and the FlashInfer all-reduce fusion workspace that
   0.17+ enables on Hopper/Blackwell (about 1.8-2 GiB per GPU in the H100 logs; 0.4 GiB in 0.11).
5. CUDA graphs: ``profile_cudagraph_memory`` (0.18 on) captures the two largest graphs of each mode and
   extrapolates, ``max(first_PIECEWISE, first_FULL) + (n_PIECEWISE - 1) * per_graph_PIECEWISE + (n_FULL - 1) *
   per_graph_FULL``; the engine replays those terms (``_cudagraph_profile``): the first FULL capture holds FA3's
   split-KV buffers of the largest decode batch (Hopper only), every further graph costs its nodes per decoder layer.
   vLLM subtracts the estimate from 0.20 on (``VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=1``); up to 0.19 graphs live
   outside the budget (before 0.18, which logs no estimate, a per-layer model of the captured pool).
6. ``available_kv = requested - weights - activation_peak - non_torch [- cudagraphs]``; the KV spec per layer
   (``kv_cache_interface``), grouping of hybrid models (``_get_kv_cache_groups_uniform_page_size``), the fit check
   and its binary search for the largest ``max_model_len`` (``_check_enough_kv_cache_memory``), block count,
   "GPU KV cache size" and "Maximum concurrency" as each version prints them.

Constants that cannot be derived from source (non-torch sizes, the sampler's per-logit bytes, CUDA-graph bytes
per captured layer) were read off the llm-d H100 logs in ``shared/fixtures/memory/calibration.csv`` and, for 0.20,
the H200 starts in ``tests/benchmarks/h200_vllm020.csv``, as global per-version values, never per model.
``estimate()`` returns the data; a plan that cannot work is ``fits: false`` with ``reasons`` (vLLM's wording where
vLLM has one) and ``suggestions``; only malformed input raises ValueError.
"""
from __future__ import annotations

import math
import re

from ansible_collections.llmops.vllm_stack.plugins.module_utils import _model_config as mc

__all__ = ["estimate", "DEFAULT_VLLM_VERSION", "parse_version", "cuda_visible_total", "GiB"]

DEFAULT_VLLM_VERSION = "0.20.0"
GiB = 1 << 30
MiB = 1 << 20
KiB = 1 << 10

DEFAULT_BLOCK_SIZE = 16  # CacheConfig.DEFAULT_BLOCK_SIZE

# --- constants read off real logs (shared/fixtures/memory/calibration.csv), global per vLLM version ---------------
# Bytes per logit element of the dummy sampler on top of the model-dtype logits and their fp32 copy.
SAMPLER_EXTRA_BYTES_TRITON = 8.44  # >= 0.17: probs (4) + exponential q (4) + top-k/top-p scratch
SAMPLER_EXTRA_BYTES_SORT = 31.5  # < 0.17: sort values (4) + int64 indices (8) + cub scratch + probs + mask + q
ACT_MISC_BYTES = {"triton": int(0.061 * GiB), "sort": int(0.108 * GiB)}  # attention metadata, compile buffers
NON_TORCH_TP1 = {"v0_6": int(0.35 * GiB), "v0_7": int(0.25 * GiB), "v1_old": int(0.13 * GiB),
                 "v1_new": int(0.25 * GiB)}
COMM_TP_OLD = int(0.42 * GiB)  # 0.8-0.16, TP >= 2 (llm-d-benchmark 0.11 H100 TP2: 0.55 - 0.13)
COMM_TP_NEW_BASE = int(1.75 * GiB)  # >= 0.17, TP >= 2 (llm-d H100: 2.07 GiB at TP2, 2.21 GiB at TP4)
COMM_TP_NEW_PER_RANK = int(0.07 * GiB)
# CUDA-graph memory per captured graph and decoder layer (from vLLM 0.19's own "Estimated CUDA graph memory");
# the model of the captured pool before 0.18, which has no profiler of its own
CG_LAYER_BYTES = {"dense": 190 * KiB, "moe": 290 * KiB, "moe_mxfp4": 510 * KiB}
CG_FIXED_BYTES = int(0.10 * GiB)
# >= 0.18: profile_cudagraph_memory, replayed term by term (see _cudagraph_profile)
CG_MAX_NUM_SPLITS = 32  # attention_config.flash_attn_max_num_splits_for_cuda_graph (FA3 split-KV buffers)
CG_MIN_PER_GRAPH = 1 * MiB  # "Use at least 1 MiB per graph for driver overhead"
CG_CAPTURE_WORKSPACE = 32 * MiB  # cuBLAS workspace of the capture stream, taken by the first capture
# What one more captured graph costs per decoder layer (graph-exec nodes and pool growth; the driver and allocator
# hand it out in 2 MiB steps, so single graphs read 0-6 MiB). Hidden size and batch size do not enter (Qwen3-0.6B and
# Llama-3.1-8B cost the same per graph on the H200). It depends on the torch/CUDA build a vLLM release pins, so it is
# one global value per release line:
#   0.18-0.19 (same profiler code): median per layer of the per-graph samples vLLM 0.19 logs at DEBUG
#     ("Estimated PIECEWISE/FULL CUDA graph memory: F MiB first-capture + (51-1) x P MiB per-graph") in 17 llm-d H100
#     runs of 10 dense models;
#   0.20+ (torch 2.11, CUDA 13): mean per layer of the 4 dense H200 starts (tests/benchmarks/h200_vllm020.csv),
#     after the FA3 buffers.
# MoE and MLA layers launch more kernels and cost the extra share below, from the same 0.19 DEBUG samples (MoE 1.2x:
# Qwen3-30B-A3B, Mixtral; MoE + MLA 1.7x: DeepSeek-V2-Lite, Kimi-VL) and, for MXFP4 MoE (2.5x), the one gpt-oss-20b
# estimate 0.19 logged.
CG_GRAPH_LAYER_BYTES = {(0, 18): 179 * KiB, (0, 20): 83 * KiB}
CG_LAYER_EXTRA = {"moe": 0.2, "moe_mxfp4": 1.5, "mla": 0.5}
HOPPER_TAGS = ("h100", "h200", "h800", "h20", "gh200")
CUDA_CONTEXT_BYTES = int(0.5 * GiB)  # torch CUDA context, outside vLLM's budget (taken before the snapshot)
MXFP4_INTERMEDIATE_ALIGN = 256  # MXFP4 MoE kernels pad the expert intermediate size on load


def parse_version(version):
    """'0.20.0', 'v0.19.1', '0.6.4.post1', '0.11.0rc2' -> (0, 20, 0)."""
    if version is None:
        version = DEFAULT_VLLM_VERSION
    match = re.match(r"^\s*v?(\d+)\.(\d+)(?:\.(\d+))?", str(version))
    if not match:
        raise ValueError(f"vllm_version {version!r} is not a version like 0.20.0")
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def cuda_visible_total(memory):
    """NVML memory info (``memory_v2`` dict with total/reserved, or gpu_info's memory_* keys) -> CUDA total."""
    total = memory.get("total", memory.get("memory_total"))
    reserved = memory.get("reserved", memory.get("memory_reserved"))
    if total is None:
        raise ValueError("memory info has no total")
    return int(total) - int(reserved or 0)


def _gib(value):
    return round(value / GiB, 2)


def _fmt(value):
    """vLLM's format_gib: str(round(bytes / GiB, 2))."""
    return f"{round(value / GiB, 2)}"


def _cdiv(a, b):
    return -(-a // b)


class _Ctx:
    """Resolved settings for one estimate."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


# ------------------------------------------------------------------------------------------------------------------
# defaults that depend on the version and the GPU
# ------------------------------------------------------------------------------------------------------------------

def _default_util(ver):
    return 0.92 if ver >= (0, 20) else 0.9


def _is_big_gpu(total, gpu_name):
    """arg_utils.get_batch_defaults: >= 70 GiB and not an A100 gets the H100-class defaults."""
    return total >= 70 * GiB and "a100" not in (gpu_name or "").lower()


def _is_hopper(gpu_name):
    """FA3 runs on Hopper (sm90); an unnamed GPU is taken as one (the larger CUDA-graph estimate)."""
    name = (gpu_name or "").lower()
    return not name or any(tag in name for tag in HOPPER_TAGS)


def _batch_defaults(ver, total, gpu_name):
    if ver < (0, 8):
        return 256, None
    if ver >= (0, 9) and _is_big_gpu(total, gpu_name):
        return 1024, 8192
    return 256, 2048


def _capture_sizes(max_num_seqs, max_num_batched_tokens):
    """vllm/config/vllm.py: [1, 2, 4] + range(8, 256, 8) + range(256, max + 1, 16), max = min(2 * seqs, 512, T)."""
    top = min(max_num_seqs * 2, 512, max_num_batched_tokens)
    sizes = [i for i in (1, 2, 4) if i <= top]
    if top >= 8:
        sizes += list(range(8, min(top + 1, 256), 8))
    if top >= 256:
        sizes += list(range(256, top + 1, 16))
    return sorted(set(sizes))


def _resolve_dtype(arch, dtype, runner, gpu_name):
    if dtype not in (None, "auto"):
        canon = mc._DTYPE_CANON.get(str(dtype).lower().replace("torch.", ""))
        if canon is None:
            raise ValueError(f"dtype {dtype!r} is not one of auto, bfloat16, float16, float32")
        return canon
    name = (gpu_name or "").lower()
    no_bf16 = any(tag in name for tag in ("t4", "v100", "p100", "p40", "rtx 20", "titan v", "quadro rtx", "gtx"))
    supported = ["float16", "float32"] if no_bf16 else ["bfloat16", "float16", "float32"]
    if arch.model_type in ("gemma2", "gemma3", "gemma3_text", "plamo2", "glm4"):
        supported = [d for d in supported if d != "float16"] or ["float32"]
    preferred = "float16" if runner == "pooling" and "float16" in supported else supported[0]
    config_dtype = arch.config_dtype or "float32"
    if config_dtype == "float32":
        config_dtype = preferred
    return config_dtype if config_dtype in supported else preferred


def _quant_from_arg(quantization, arch):
    """Quantization actually used: the checkpoint's, or an online method given as ``quantization``."""
    cfg_quant = arch.quantization
    if not quantization:
        return cfg_quant, None
    q = str(quantization).lower()
    if cfg_quant:
        return cfg_quant, None
    if q in ("fp8", "fp8_per_tensor", "fp8_per_block", "ptpc_fp8", "fbgemm_fp8", "modelopt", "mxfp8"):
        return {"method": q, "weight_bits": 8, "group_size": None, "scale_bytes_per_group": 0, "zero_point": False,
                "weight_type": "float", "experts_only": False, "ignore": []}, None
    if q in ("int8_per_channel_weight_only", "experts_int8"):
        return {"method": q, "weight_bits": 8, "group_size": None, "scale_bytes_per_group": 0, "zero_point": False,
                "weight_type": "int", "experts_only": q == "experts_int8", "ignore": []}, None
    if q == "bitsandbytes":
        return {"method": q, "weight_bits": 4, "group_size": 64, "scale_bytes_per_group": 4, "zero_point": False,
                "weight_type": "float", "experts_only": False, "ignore": []}, None
    return None, (f"quantization={quantization} needs the checkpoint's quantization_config (config.json has "
                  "none); point the engine at the quantized checkpoint or drop the option")


# ------------------------------------------------------------------------------------------------------------------
# weights
# ------------------------------------------------------------------------------------------------------------------

def _stage_layers(num_layers, pp):
    """vllm/distributed/utils.py::get_pp_indices (extra layers go to the stages before the last)."""
    per = num_layers // pp
    parts = [per] * pp
    rem = num_layers % pp
    for i in range(2, rem + 2):
        parts[-i] += 1
    out, start = [], 0
    for p in parts:
        out.append((start, start + p))
        start += p
    return out


def _tensor_rank_numel(ten, arch, tp):
    out, in_, count = ten["out"], ten["in_"], ten["count"]
    split = ten["split"]
    if split in ("col", "expert"):
        out = _cdiv(out, tp)
    elif split in ("row", "expert_row"):
        in_ = _cdiv(in_, tp) if in_ > 1 else in_
    elif split == "kv":
        per_rank_heads = max(1, arch.num_kv_heads // tp)
        out = out // max(arch.num_kv_heads, 1) * per_rank_heads
    elif split == "vocab":
        out = _cdiv(out, tp)
    return out, in_, count


def _is_quantized(ten, quant):
    if not quant or not ten["quant"] or ten["in_"] <= 1:
        return False
    if quant["experts_only"] and not ten["expert"]:
        return False
    if quant["weight_bits"] >= 16:
        return False
    return True


def _weights_stage_bytes(arch, tp, pp, stage, dtype_bytes, quant):
    """Bytes of one GPU of PP stage ``stage``: (weights, extra buffers such as the RoPE cache)."""
    start, end = _stage_layers(arch.num_layers, pp)[stage]
    first, last = stage == 0, stage == pp - 1
    total = 0.0
    mxfp4 = bool(quant and quant["method"] in ("mxfp4", "gpt_oss_mxfp4"))
    for ten in mc.tensors(arch):
        layer = ten["layer"]
        if layer is not None and not start <= layer < end:
            continue
        if layer is None:
            if ten["stage"] == "first" and not first:
                # tied lm_head with PP: the last stage builds its own ParallelLMHead from the embedding
                if not (last and pp > 1 and arch.tie_word_embeddings and ten["name"] == "embed_tokens"
                        and arch.runner == "generate"):
                    continue
            if ten["stage"] == "last" and not last:
                continue
        ten = dict(ten)
        if mxfp4 and ten["expert"]:
            im = arch.moe_intermediate_size
            pad = _cdiv(im, MXFP4_INTERMEDIATE_ALIGN) * MXFP4_INTERMEDIATE_ALIGN
            if ten["name"] in ("experts_w13", "experts_b13"):
                ten["out"] = ten["out"] // im * pad
            elif ten["name"] == "experts_w2":
                ten["in_"] = pad
        out, in_, count = _tensor_rank_numel(ten, arch, tp)
        numel = out * in_ * count
        if _is_quantized(ten, quant):
            per = quant["weight_bits"] / 8.0
            if quant["group_size"]:
                per += quant["scale_bytes_per_group"] / quant["group_size"]
                if quant.get("zero_point"):
                    per += quant["weight_bits"] / 8.0 / quant["group_size"]
            total += numel * per
            if not quant["group_size"]:
                total += out * count * 4  # per-channel fp32 scales
        else:
            total += numel * dtype_bytes
    buffers = 0
    if arch.rotary_dim and arch.rope_cache_positions and end > start:
        buffers += arch.rope_cache_positions * arch.rotary_dim * dtype_bytes
    if arch.use_mla:
        # W_UK_T / W_UV are split out of kv_b_proj after loading (MLA attention process_weights_after_loading)
        per_layer = _cdiv(arch.num_attention_heads, tp) * arch.kv_lora_rank * (arch.qk_nope_head_dim +
                                                                               arch.o_head_dim)
        buffers += per_layer * dtype_bytes * sum(1 for i in range(start, end) if arch.layer_kinds[i] != "mamba")
    return int(total), int(buffers)


# ------------------------------------------------------------------------------------------------------------------
# activation peak, non-torch memory, CUDA graphs
# ------------------------------------------------------------------------------------------------------------------

def _moe_workspace_bytes(arch, tokens, tp, d, quant):
    """Fused-MoE workspaces for ``tokens`` tokens (TritonExperts.workspace_shapes; mxfp4 kernels allocate inside)."""
    if not arch.num_experts or not arch.num_moe_layers:
        return 0
    if quant and quant["method"] in ("mxfp4", "gpt_oss_mxfp4"):
        return 0
    i_tp = _cdiv(arch.moe_intermediate_size, tp)
    k = arch.hidden_size
    topk = max(arch.experts_per_tok, 1)
    return tokens * topk * (max(i_tp, k) + max(2 * i_tp, k)) * d


def _forward_peak_bytes(arch, tokens, tp, d, quant, layer_range, persistent_ws):
    """Peak of one forward pass: the widest transient of a layer plus the residual/hidden/normed streams."""
    h = arch.hidden_size
    start, end = layer_range
    widest = 0
    kinds = set(arch.layer_kinds[start:end])
    moe_here = any(arch.moe_layers[start:end])
    dense_here = not all(arch.moe_layers[start:end]) if end > start else False
    if dense_here:
        i_tp = _cdiv(arch.intermediate_size, tp)
        widest = max(widest, (2 if arch.gated_mlp else 1) * i_tp + i_tp)
    if moe_here:
        s_tp = _cdiv(arch.shared_expert_intermediate_size, tp) if arch.shared_expert_intermediate_size else 0
        widest = max(widest, 3 * s_tp)
    if kinds & {"full", "sliding", "chunked"}:
        if arch.use_mla:
            heads = _cdiv(arch.num_attention_heads, tp)
            widest = max(widest, heads * (arch.q_head_dim + arch.qk_nope_head_dim + 2 * arch.o_head_dim))
        else:
            heads = _cdiv(arch.num_attention_heads, tp)
            kvh = max(1, arch.num_kv_heads // tp)
            widest = max(widest, 2 * (heads + 2 * kvh) * arch.head_dim)
    peak = tokens * d * (widest + 3 * h)
    if moe_here:
        moe = _moe_workspace_bytes(arch, tokens, tp, d, quant)
        if not persistent_ws and not moe:  # mxfp4 path: kernel-internal buffers ~ the gate/up output
            moe = tokens * max(arch.experts_per_tok, 1) * 2 * _cdiv(arch.moe_intermediate_size, tp) * d
        peak = max(peak, tokens * d * 3 * h + moe)
    return int(peak)


def _sampler_bytes(arch, rows, d, flavour):
    extra = SAMPLER_EXTRA_BYTES_TRITON if flavour == "triton" else SAMPLER_EXTRA_BYTES_SORT
    per = d + (4 if d != 4 else 0) + extra
    return int(rows * arch.vocab_size * per)


def _activation_bytes(ctx, arch, stage):
    """torch peak increase of profile_run on one GPU of ``stage``."""
    tp, pp, d = ctx.tp, ctx.pp, ctx.act_dtype_bytes
    layer_range = _stage_layers(arch.num_layers, pp)[stage]
    last = stage == pp - 1
    tokens = ctx.max_num_batched_tokens
    if ctx.engine == "v0":
        # V0 profiles max_num_seqs sequences of max_num_batched_tokens in total; the forward pass dominates (the
        # RTX 3090 logs: 2.07 GiB at 20000 tokens, 2.99 GiB at 29000 for Llama-3.1-8B, i.e. no sampler term)
        return _forward_peak_bytes(arch, tokens, tp, d, ctx.quant, layer_range, False)
    flavour = "triton" if ctx.ver >= (0, 17) else "sort"
    persistent_ws = ctx.ver >= (0, 16)
    forward = _forward_peak_bytes(arch, tokens, tp, d, ctx.quant, layer_range, persistent_ws)
    retained = tokens * arch.hidden_size * d + ACT_MISC_BYTES[flavour]
    if persistent_ws and any(arch.moe_layers[layer_range[0]:layer_range[1]]):
        retained += _moe_workspace_bytes(arch, tokens, tp, d, ctx.quant)
    peak = forward + ACT_MISC_BYTES[flavour]
    if last and not ctx.pooling:
        rows = min(ctx.max_num_seqs, tokens)
        peak = max(peak, retained + _sampler_bytes(arch, rows, d, flavour))
    return int(peak)


def _non_torch_bytes(ctx):
    ver, tp = ctx.ver, ctx.tp
    if ctx.engine == "v0":
        base = NON_TORCH_TP1["v0_6"] if ver < (0, 7) else NON_TORCH_TP1["v0_7"]
        return base
    if ver >= (0, 17):
        base = NON_TORCH_TP1["v1_new"]
        comm = COMM_TP_NEW_BASE + COMM_TP_NEW_PER_RANK * (tp - 1) if tp >= 2 else 0
    else:
        base = NON_TORCH_TP1["v1_old"]
        comm = COMM_TP_OLD if tp >= 2 else 0
    return base + comm


def _split_kv_buffers(ctx, arch, num_tokens):
    """FA3 split-KV buffers of one attention call at ``num_tokens`` decode tokens (bytes).

    With FULL CUDA graphs the FA3 metadata builders (``flash_attn.py``, ``mla/flashattn_mla.py``) pass
    ``num_splits=flash_attn_max_num_splits_for_cuda_graph`` for every batch up to the largest capture size, and
    FA3's ``mha_fwd`` then allocates ``out_accum [splits, heads, tokens, head_dim_v]`` and ``softmax_lse_accum
    [splits, heads, tokens]`` in fp32 inside the captured graph. Only FA3 (Hopper) does this; FA2 (Ampere/Ada) and
    FlashInfer (Blackwell) keep no such buffer. FA3 MLA takes no fp8 KV cache (FlashMLA then runs, with a
    per-batch accumulator only).
    """
    if not ctx.hopper or not num_tokens:
        return 0
    heads = _cdiv(arch.num_attention_heads, ctx.tp)
    if arch.use_mla:
        head_v = arch.kv_lora_rank
        splits = 1 if str(ctx.kv_cache_dtype or "auto").lower().startswith("fp8") else CG_MAX_NUM_SPLITS
    else:
        head_v = arch.o_head_dim or arch.head_dim
        splits = CG_MAX_NUM_SPLITS
    return splits * heads * num_tokens * (head_v + 1) * 4


def _cudagraph_profile(ctx, arch, stage, sizes):
    """``gpu_model_runner.profile_cudagraph_memory`` (0.18 on; its estimate is subtracted from 0.20).

    For each mode (PIECEWISE for every capture size, FULL for the decode sizes up to ``max_num_seqs``) vLLM
    captures the two largest graphs into a scratch pool and reads ``torch.cuda.mem_get_info`` around each:
    ``first`` is the largest graph, ``per_graph`` the second (at least 1 MiB), and the estimate is
    ``max(first_PIECEWISE, first_FULL) + (n_PIECEWISE - 1) * per_graph_PIECEWISE + (n_FULL - 1) * per_graph_FULL``.

    * first FULL: the attention call runs inside the graph (``force_attention``), so it holds the FA3 split-KV
      buffers of the largest decode batch (``_split_kv_buffers``: 256 MiB for 32 heads x 128 at 512 tokens), plus
      the graph itself; the other activations reuse blocks that the piecewise captures cached.
    * first PIECEWISE: attention runs outside the pieces and is skipped in the dummy run; the warm-up (default
      allocator) and the capture (graph pool) each keep the forward transient of the largest size, plus the capture
      stream's cuBLAS workspace and the graph itself.
    * per graph: a smaller graph reuses the pool blocks of the larger one, so what grows is the graph's own nodes,
      per decoder layer (CG_GRAPH_LAYER_BYTES, more for MoE and MLA layers): neither hidden size nor batch size
      enters.
    """
    start, end = _stage_layers(arch.num_layers, ctx.pp)[stage]
    mxfp4 = bool(ctx.quant and ctx.quant["method"] in ("mxfp4", "gpt_oss_mxfp4"))
    weight = 0.0
    for i in range(start, end):
        weight += 1.0
        if arch.moe_layers[i]:
            weight += CG_LAYER_EXTRA["moe_mxfp4" if mxfp4 else "moe"]
        if arch.use_mla and arch.layer_kinds[i] in ("full", "sliding", "chunked"):
            weight += CG_LAYER_EXTRA["mla"]
    layer_bytes = CG_GRAPH_LAYER_BYTES[(0, 20) if ctx.ver >= (0, 20) else (0, 18)]
    per_graph = max(int(weight * layer_bytes), CG_MIN_PER_GRAPH)
    full_sizes = [s for s in sizes if s <= ctx.max_num_seqs]
    transient = _forward_peak_bytes(arch, sizes[-1], ctx.tp, ctx.act_dtype_bytes, ctx.quant, (start, end),
                                    ctx.ver >= (0, 16))
    first_pw = 2 * transient + CG_CAPTURE_WORKSPACE + per_graph
    first_full = _split_kv_buffers(ctx, arch, full_sizes[-1]) + per_graph if full_sizes else 0
    total = max(first_pw, first_full) + (len(sizes) - 1) * per_graph + max(len(full_sizes) - 1, 0) * per_graph
    return {"first_piecewise": first_pw, "first_full": first_full, "per_graph": per_graph,
            "graphs_piecewise": len(sizes), "graphs_full": len(full_sizes), "total": int(total)}


def _cudagraph_bytes(ctx, arch, stage):
    """CUDA-graph memory of one GPU of ``stage``: from 0.18 vLLM's own estimate (``_cudagraph_profile``; logged
    from 0.18, subtracted from 0.20); before 0.18 a per-layer model of the graphs captured after the KV cache
    (FULL_AND_PIECEWISE: piecewise graphs for every capture size, full graphs for decode sizes up to max_num_seqs)."""
    if ctx.enforce_eager or ctx.engine == "v0" or ctx.pooling_encoder:
        return 0
    sizes = _capture_sizes(ctx.max_num_seqs, ctx.max_num_batched_tokens)
    if not sizes:
        return 0
    if ctx.ver >= (0, 18):
        return _cudagraph_profile(ctx, arch, stage, sizes)["total"]
    n_pw = len(sizes)
    n_full = len([s for s in sizes if s <= ctx.max_num_seqs])
    start, end = _stage_layers(arch.num_layers, ctx.pp)[stage]
    per_graph = 0
    mxfp4 = bool(ctx.quant and ctx.quant["method"] in ("mxfp4", "gpt_oss_mxfp4"))
    for i in range(start, end):
        if arch.moe_layers[i]:
            per_graph += CG_LAYER_BYTES["moe_mxfp4" if mxfp4 else "moe"]
        else:
            per_graph += CG_LAYER_BYTES["dense"]
    first = CG_FIXED_BYTES + _forward_peak_bytes(arch, sizes[-1], ctx.tp, ctx.act_dtype_bytes, ctx.quant,
                                                 (start, end), False)
    return int(first + (n_pw - 1 + max(n_full - 1, 0)) * per_graph)


# ------------------------------------------------------------------------------------------------------------------
# KV cache
# ------------------------------------------------------------------------------------------------------------------

def _kv_dtype_bytes(kv_cache_dtype, model_dtype_bytes):
    kv = str(kv_cache_dtype or "auto").lower()
    if kv == "auto":
        return model_dtype_bytes
    if kv.startswith("fp8") or kv in ("int8", "nvfp4", "fp4"):
        return 1 if not kv.endswith("fp4") else 0.5625
    canon = mc._DTYPE_CANON.get(kv)
    if canon:
        return mc.DTYPE_BYTES[canon]
    raise ValueError(f"kv_cache_dtype {kv_cache_dtype!r} is not auto, fp8, fp8_e4m3, fp8_e5m2, bfloat16, float16")


def _mamba_state_bytes(arch, tp, d):
    """Bytes of one Mamba/linear-attention layer's state for one request on one GPU (conv + temporal state)."""
    m = arch.mamba
    if not m:
        return 0
    conv = _cdiv(m["conv_dim"], tp) * max(m["d_conv"] - 1, 0)
    temporal = _cdiv(m["heads"], tp) * m["state_per_head"]
    return int((conv + temporal) * d)


def _kv_layout(ctx, arch, stage):
    """Per-GPU KV spec of a stage: page bytes per layer, block size, groups, bytes per token (attention layers).

    Hybrid Mamba models (0.20 platforms/interface.py): the attention block grows until one attention page holds
    a Mamba state (block = 16 * cdiv(mamba_page, 16 * attention bytes per token)), and Mamba layers take one page
    per request from the same pool.
    """
    start, end = _stage_layers(arch.num_layers, ctx.pp)[stage]
    kinds = [arch.layer_kinds[i] for i in range(start, end)]
    bs = ctx.block_size
    if arch.use_mla:
        if str(ctx.kv_cache_dtype).lower() == "fp8_ds_mla":
            token_bytes = 656
        else:
            token_bytes = arch.head_dim * ctx.kv_bytes
    else:
        heads = max(1, arch.num_kv_heads // ctx.tp)
        token_bytes = 2 * heads * arch.head_dim * ctx.kv_bytes
    counts = {}
    for k in kinds:
        if k in ("full", "sliding", "chunked"):
            if ctx.engine == "v0":
                k = "full"
            counts[k] = counts.get(k, 0) + 1
    mamba_layers = sum(1 for k in kinds if k in ("mamba", "linear"))
    mamba_page = _mamba_state_bytes(arch, ctx.tp, ctx.act_dtype_bytes) if mamba_layers else 0
    if mamba_page and counts and ctx.engine == "v1":
        align = 16
        bs = max(bs, align * _cdiv(mamba_page, int(align * token_bytes)))
    page = int(math.ceil(bs * token_bytes)) if counts else mamba_page
    if mamba_layers and ctx.engine == "v1":
        counts["mamba"] = mamba_layers
    if not counts:
        return {"page": page, "groups": [], "group_size": 0, "token_bytes": token_bytes, "layers": 0,
                "mamba_layers": mamba_layers, "block_size": bs}
    if len(counts) == 1:
        kind, n = next(iter(counts.items()))
        groups = [{"kind": kind, "layers": n}]
        group_size = n
    else:
        min_n, max_n = min(counts.values()), max(counts.values())
        group_size = max_n if max_n < min_n * 1.5 else min_n
        groups = []
        for kind, n in counts.items():
            groups.extend({"kind": kind, "layers": group_size} for _index in range(_cdiv(n, group_size)))
    attn_layers = sum(n for kind, n in counts.items() if kind != "mamba")
    return {"page": page, "groups": groups, "group_size": group_size, "token_bytes": token_bytes,
            "layers": attn_layers, "mamba_layers": mamba_layers, "block_size": bs}


def _blocks_per_request(ctx, arch, layout, max_len):
    bs = layout["block_size"]
    total = 0
    for group in layout["groups"]:
        if group["kind"] == "mamba":
            total += 1  # one state per request (mamba_cache_mode "none")
        elif group["kind"] == "sliding" and arch.sliding_window:
            total += _cdiv(min(arch.sliding_window - 1 + ctx.max_num_batched_tokens, max_len), bs) + 1
        elif group["kind"] == "chunked" and arch.attention_chunk_size:
            total += _cdiv(min(arch.attention_chunk_size + ctx.max_num_batched_tokens, max_len), bs)
        else:
            total += _cdiv(max_len, bs)
    return total


def _needed_bytes(ctx, arch, layout, max_len):
    """_max_memory_usage_bytes_from_groups: group_size * page * sum(blocks per group)."""
    if not layout["groups"]:
        return 0
    return layout["group_size"] * layout["page"] * _blocks_per_request(ctx, arch, layout, max_len)


def _max_len_fitting(ctx, arch, layout, available, upper):
    """Binary search of vLLM's estimate_max_model_len over [1, upper]."""
    if available <= 0 or not layout["groups"]:
        return 0
    if _needed_bytes(ctx, arch, layout, 1) > available:
        return 0
    lo, hi, best = 1, max(int(upper), 1), 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if _needed_bytes(ctx, arch, layout, mid) <= available:
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    return best


# ------------------------------------------------------------------------------------------------------------------
# parallel-layout checks (vLLM raises these before any memory is touched)
# ------------------------------------------------------------------------------------------------------------------

def _parallel_reasons(arch, tp, pp, quant):
    reasons = []
    heads = arch.num_attention_heads
    if heads % tp:
        # vllm/config/model.py::verify_with_parallel_config
        reasons.append(f"Total number of attention heads ({heads}) must be divisible by tensor parallel size "
                       f"({tp}).")
        return reasons
    # the model's __init__ builds embed_tokens first, so the vocabulary assertion fires before the layers'
    vocab_padded = arch.vocab_size_padded
    if vocab_padded % tp:
        # VocabParallelEmbedding: divide(num_embeddings_padded, tp_size) after padding the vocab to 64
        reasons.append(f"{vocab_padded} is not divisible by {tp} (AssertionError in VocabParallelEmbedding: the "
                       f"vocabulary of {arch.vocab_size}, padded to a multiple of 64, cannot be split over "
                       f"tensor_parallel_size={tp}).")
    if not arch.use_mla and arch.num_attention_layers:
        kv = arch.num_kv_heads
        # model code (llama.py and friends) / QKVParallelLinear: divide(kv, tp) or divide(tp, kv)
        if kv >= tp and kv % tp:
            reasons.append(f"{kv} is not divisible by {tp} (AssertionError in the model's attention layer: "
                           f"{kv} KV heads cannot be split over tensor_parallel_size={tp}).")
        elif kv < tp and tp % kv:
            reasons.append(f"{tp} is not divisible by {kv} (AssertionError in QKVParallelLinear: "
                           f"tensor_parallel_size={tp} cannot replicate {kv} KV heads evenly).")
    if any(not m for m in arch.moe_layers) and arch.intermediate_size % tp:
        reasons.append(f"{arch.intermediate_size} is not divisible by {tp} (AssertionError in "
                       "MergedColumnParallelLinear/RowParallelLinear: intermediate_size cannot be split over "
                       f"tensor_parallel_size={tp}).")
    if arch.num_moe_layers and arch.moe_intermediate_size % tp:
        reasons.append(f"{arch.moe_intermediate_size} is not divisible by {tp} (AssertionError in FusedMoE: "
                       f"moe_intermediate_size cannot be split over tensor_parallel_size={tp}).")
    if quant and quant.get("group_size") and quant["weight_type"] == "int" and quant["weight_bits"] < 8:
        group = quant["group_size"]
        for name, size in (("intermediate_size", arch.intermediate_size),
                           ("moe_intermediate_size", arch.moe_intermediate_size)):
            if size and size % tp == 0 and (size // tp) % group:
                reasons.append("The input size is not aligned with the quantized weight shape. This can be "
                               f"caused by too large tensor parallel size. ({name} {size} / tp {tp} = "
                               f"{size // tp} is not a multiple of the group size {group})")
                break
    if pp > arch.num_layers:
        reasons.append(f"pipeline_parallel_size ({pp}) is larger than the number of hidden layers "
                       f"({arch.num_layers}); some pipeline stages would hold no layer.")
    return reasons


# ------------------------------------------------------------------------------------------------------------------
# the estimate
# ------------------------------------------------------------------------------------------------------------------

def _check_int(name, value, minimum=1, allow_none=True):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def estimate(model_config, *, gpu_memory_bytes, tensor_parallel_size=1, pipeline_parallel_size=1,
             gpu_memory_utilization=None, max_model_len=None, max_num_seqs=None, max_num_batched_tokens=None,
             dtype="auto", quantization=None, kv_cache_dtype="auto", block_size=None, enforce_eager=False,
             vllm_version=None, weights_bytes=None, runner="auto", free_memory_bytes=None, gpu_name=None,
             gpu_reserved_bytes=None, _suggest=True):
    """Predict vLLM's start-up memory plan on one node. See the module docstring for the mechanism.

    ``gpu_memory_bytes`` is the per-GPU total as CUDA reports it (what vLLM logs); when it is NVML's total, pass
    NVML's reserved bytes as ``gpu_reserved_bytes`` and they are subtracted.
    """
    if isinstance(model_config, mc.ModelArch):
        arch = model_config
    else:
        arch = mc.normalize(model_config)
    total = _check_int("gpu_memory_bytes", gpu_memory_bytes, 1, allow_none=False)
    if gpu_reserved_bytes:
        reserved = _check_int("gpu_reserved_bytes", gpu_reserved_bytes, 0)
        if reserved >= total:
            raise ValueError("gpu_reserved_bytes must be smaller than gpu_memory_bytes")
        total -= reserved
    tp = _check_int("tensor_parallel_size", tensor_parallel_size, 1, allow_none=False)
    pp = _check_int("pipeline_parallel_size", pipeline_parallel_size, 1, allow_none=False)
    user_len = _check_int("max_model_len", max_model_len, 1)
    user_seqs = _check_int("max_num_seqs", max_num_seqs, 1)
    user_tokens = _check_int("max_num_batched_tokens", max_num_batched_tokens, 1)
    user_block = _check_int("block_size", block_size, 1)
    _check_int("weights_bytes", weights_bytes, 1)
    _check_int("free_memory_bytes", free_memory_bytes, 0)
    ver = parse_version(vllm_version)[:2]
    version_str = str(vllm_version or DEFAULT_VLLM_VERSION)
    if gpu_memory_utilization is None:
        util = _default_util(ver)
    else:
        if isinstance(gpu_memory_utilization, bool) or not isinstance(gpu_memory_utilization, (int, float)):
            raise ValueError(f"gpu_memory_utilization must be a number, got {gpu_memory_utilization!r}")
        util = float(gpu_memory_utilization)
        if not 0 < util <= 1:
            raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {util}")
    if runner not in ("auto", "generate", "pooling"):
        raise ValueError(f"runner must be auto, generate or pooling, got {runner!r}")
    runner_type = arch.runner if runner == "auto" else runner
    pooling = runner_type == "pooling"
    pooling_encoder = pooling and arch.encoder_only
    engine = "v0" if ver < (0, 8) else "v1"
    if ver > (0, 21):
        later_note = (f"vLLM {version_str} is newer than the accounting replayed here (0.20/0.21); its profiler "
                      "may differ")
    else:
        later_note = None

    reasons, notes, suggestions = [], [], []
    suggested = {}
    approximate = False
    if later_note:
        notes.append(later_note)

    model_dtype = _resolve_dtype(arch, dtype, runner_type, gpu_name)
    d = mc.DTYPE_BYTES[model_dtype]
    quant, quant_reason = _quant_from_arg(quantization, arch)
    if quant_reason:
        reasons.append(quant_reason)
    kv_bytes = _kv_dtype_bytes(kv_cache_dtype, d)

    # max_model_len as vLLM derives and verifies it
    derived = arch.derived_max_model_len
    if user_len is None:
        eff_len = arch.default_max_model_len
    else:
        eff_len = user_len
        if arch.max_len_key is not None and user_len > derived:
            reasons.append(
                f"User-specified max_model_len ({user_len}) is greater than the derived max_model_len "
                f"({arch.max_len_key}={derived} or model_max_length=None in model's config.json). To allow "
                "overriding this maximum, set the env var VLLM_ALLOW_LONG_MAX_MODEL_LEN=1. VLLM_ALLOW_LONG_MAX_MODEL_LEN "
                "must be used with extreme caution. If the model uses relative position encoding (RoPE), positions "
                "exceeding derived_max_model_len lead to nan. If the model uses absolute position encoding, "
                "positions exceeding derived_max_model_len will cause a CUDA array out-of-bounds error.")
            suggested.setdefault("max_model_len", derived)
    if arch.max_len_key is None:
        derived = eff_len
        notes.append("config.json has no max_position_embeddings (or alias): vLLM assumes 2048 unless "
                     "max_model_len is given")

    # scheduler defaults (arg_utils._set_default_max_num_seqs_and_batched_tokens_args)
    def_seqs, def_tokens = _batch_defaults(ver, total, gpu_name)
    seqs = user_seqs or def_seqs
    if engine == "v0":
        if user_tokens:
            tokens = user_tokens
        elif eff_len > 32768 and not pooling:
            tokens = 2048 if ver >= (0, 7) else 512  # V0 turns on chunked prefill for long contexts
        else:
            tokens = max(eff_len, 2048)
    else:
        chunked = not pooling_encoder
        if user_tokens:
            tokens = user_tokens
        else:
            tokens = def_tokens
            if not chunked:
                tokens = max(eff_len, tokens)
            tokens = min(seqs * eff_len, tokens)
        if not user_seqs:
            seqs = min(seqs, tokens)
    bs = user_block or DEFAULT_BLOCK_SIZE
    blackwell = any(tag in (gpu_name or "").lower() for tag in ("b200", "gb200", "b100", "b300"))
    if user_block is None and arch.use_mla and blackwell:
        bs = 64  # Blackwell MLA backends (FlashInfer MLA / CUTLASS MLA) prefer 64-token blocks

    ctx = _Ctx(ver=ver, engine=engine, tp=tp, pp=pp, util=util, total=total, quant=quant, pooling=pooling,
               pooling_encoder=pooling_encoder, max_num_seqs=seqs, max_num_batched_tokens=tokens, block_size=bs,
               kv_bytes=kv_bytes, kv_cache_dtype=kv_cache_dtype, act_dtype_bytes=d, enforce_eager=enforce_eager,
               hopper=_is_hopper(gpu_name))

    reasons.extend(_parallel_reasons(arch, tp, pp, quant))
    layout_ok = not any("attention heads" in r or "pipeline_parallel_size" in r for r in reasons)

    # requested memory and the free-memory check (request_memory)
    requested = int(math.ceil(total * util)) if engine == "v1" else int(total * util)
    if free_memory_bytes is not None and engine == "v1" and free_memory_bytes < requested:
        device = "cuda:0 " if ver >= (0, 19) else ""
        reasons.append(
            f"Free memory on device {device}({_fmt(free_memory_bytes)}/{_fmt(total)} GiB) on startup is less than "
            f"desired GPU memory utilization ({util}, {_fmt(requested)} GiB). Decrease GPU memory utilization or "
            "reduce GPU memory used by other processes.")
        suggested.setdefault("gpu_memory_utilization", math.floor(free_memory_bytes / total * 100) / 100)

    # weights per GPU per stage
    disk_bytes = mc.DTYPE_BYTES.get(arch.config_dtype or "bfloat16", 2)
    stages = []
    # the on-disk layout: unpadded vocabulary and experts, the checkpoint's own quantization (not an online one)
    est_ckpt = mc.checkpoint_bytes_estimate(arch, disk_bytes)
    scale = (weights_bytes / est_ckpt) if weights_bytes and est_ckpt else 1.0
    if weights_bytes and not 0.4 < scale < 2.5:
        notes.append(f"the given checkpoint size is {scale:.2f}x what config.json implies; the per-GPU weights "
                     "follow the checkpoint size")
    pp_eff = min(pp, arch.num_layers)
    for stage in range(pp_eff):
        w, buf = _weights_stage_bytes(arch, tp, pp_eff, stage, d, quant)
        if weights_bytes:
            # measured checkpoint / config-implied checkpoint corrects what config.json does not say
            # (quantized checkpoints described by a base config, extra tensors); the load dtype stays d
            w = int(w * scale)
        weights = w + buf
        act = _activation_bytes(ctx, arch, stage)
        non_torch = _non_torch_bytes(ctx)
        cg = _cudagraph_bytes(ctx, arch, stage)
        cg_applied = cg if (engine == "v1" and ver >= (0, 20)) else 0
        avail = requested - weights - act - non_torch - cg_applied
        stages.append({"stage": stage, "layers": list(_stage_layers(arch.num_layers, pp_eff)[stage]),
                       "weights_bytes": weights, "activation_bytes": act, "non_torch_bytes": non_torch,
                       "cudagraph_bytes": cg, "cudagraph_applied": bool(cg_applied),
                       "kv_cache_bytes": avail})

    rank0 = stages[0]
    result = {
        "fits": True, "reasons": reasons, "suggestions": suggestions, "suggested": suggested, "notes": notes,
        "approximate": False,
        "vllm_version": version_str, "engine": engine,
        "gpu_memory_bytes": total, "gpu_memory_utilization": util, "requested_memory_bytes": requested,
        "tensor_parallel_size": tp, "pipeline_parallel_size": pp,
        "dtype": model_dtype, "kv_cache_dtype": str(kv_cache_dtype or "auto"),
        "quantization": (quant or {}).get("method"),
        "runner": runner_type,
        "max_num_seqs": seqs, "max_num_batched_tokens": tokens, "block_size": bs,
        "weights_bytes_per_gpu": max(s["weights_bytes"] for s in stages),
        "weights_source": "checkpoint" if weights_bytes else "config",
        "activation_bytes": max(s["activation_bytes"] for s in stages),
        "non_torch_bytes": rank0["non_torch_bytes"],
        "cudagraph_bytes": max(s["cudagraph_bytes"] for s in stages),
        "cudagraph_applied": rank0["cudagraph_applied"],
        "kv_cache_bytes": rank0["kv_cache_bytes"],
        "max_model_len": eff_len,
        "derived_max_model_len": derived,
        "stages": stages,
        "model": {"architectures": arch.architectures, "model_type": arch.model_type,
                  "num_layers": arch.num_layers, "num_attention_layers": arch.num_attention_layers,
                  "num_kv_heads": arch.num_kv_heads, "head_dim": arch.head_dim, "use_mla": arch.use_mla,
                  "num_experts": arch.num_experts, "params": mc.param_count(arch)},
    }

    if pooling_encoder:
        for s in stages:
            s["kv_cache_bytes_per_token"] = 0
        result.update(kv_cache_bytes_per_token=0, kv_cache_tokens=0, num_gpu_blocks=0, max_concurrency=None,
                      max_model_len_fit=eff_len)
        notes.append("encoder-only pooling model: vLLM V1 allocates no KV cache; it starts when weights, "
                     "activations and non-torch memory fit in the requested memory (kv fields are not applicable)")
        slack = min(s["kv_cache_bytes"] for s in stages)
        if slack <= 0:
            reasons.append(f"weights ({_fmt(result['weights_bytes_per_gpu'])} GiB), activations "
                           f"({_fmt(result['activation_bytes'])} GiB) and non-torch memory "
                           f"({_fmt(result['non_torch_bytes'])} GiB) exceed the requested memory "
                           f"({_fmt(requested)} GiB = {util} x {_fmt(total)} GiB) by {_fmt(-slack)} GiB.")
        result["kv_cache_bytes"] = 0
        result["headroom_bytes"] = slack
        _finish(result, arch, ctx, _suggest, dict(
            model_config=arch, gpu_memory_bytes=total, tensor_parallel_size=tp, pipeline_parallel_size=pp,
            gpu_memory_utilization=gpu_memory_utilization, max_model_len=user_len, max_num_seqs=user_seqs,
            max_num_batched_tokens=user_tokens, dtype=dtype, quantization=quantization,
            kv_cache_dtype=kv_cache_dtype, block_size=user_block, enforce_eager=enforce_eager,
            vllm_version=vllm_version, weights_bytes=weights_bytes, runner=runner,
            free_memory_bytes=free_memory_bytes, gpu_name=gpu_name))
        return result

    if arch.is_multimodal:
        approximate = True
        notes.append("multimodal model: the vision/audio encoder's profiling (encoder cache at its maximum budget) "
                     "is not modelled; activation memory may be underestimated")
    if pooling:
        notes.append("decoder-based pooling model: causal attention still uses a KV cache")

    # KV layout, blocks and the fit check per worker
    min_blocks = None
    layouts = []
    for s in stages:
        layout = _kv_layout(ctx, arch, s["stage"])
        layouts.append(layout)
        s["kv_cache_bytes_per_token"] = int(layout["token_bytes"] * layout["layers"])
        if not layout["groups"]:
            s["num_blocks"] = 0
            continue
        if layout["mamba_layers"]:
            approximate = True
        if engine == "v0":
            blocks = int(max(s["kv_cache_bytes"], 0) // (bs * layout["token_bytes"] * layout["layers"]))
        else:
            blocks = int(max(s["kv_cache_bytes"], 0) // layout["page"] // layout["group_size"])
        s["num_blocks"] = blocks
        min_blocks = blocks if min_blocks is None else min(min_blocks, blocks)
    if any(len(lay["groups"]) > 1 for lay in layouts) or any(k == "sliding" for k in arch.layer_kinds):
        approximate = True
        notes.append("hybrid/sliding-window model: 'GPU KV cache size' counts num_blocks // groups * block_size and "
                     "sliding layers keep only the window, so tokens are not bytes / (bytes per token)")
    if any(lay["mamba_layers"] for lay in layouts):
        notes.append("Mamba/linear-attention layers keep a fixed state per request that is not modelled here; the "
                     "attention block size may also be enlarged to match the Mamba page size")
    if tp >= 2 and engine == "v1":
        notes.append("TP >= 2: non-torch memory (NCCL buffers, custom/FlashInfer all-reduce workspaces) is taken "
                     "from H100 NVLink logs; hosts without NVLink SHARP or on PCIe may use less")

    layout0 = layouts[0]
    per_token = stages[0]["kv_cache_bytes_per_token"]
    result["kv_cache_bytes_per_token"] = per_token
    num_blocks = min_blocks or 0
    result["num_gpu_blocks"] = num_blocks
    n_groups = max(len(layout0["groups"]), 1)
    blocks_req = _blocks_per_request(ctx, arch, layout0, eff_len) if layout0["groups"] else 0
    if engine == "v0":
        tokens_cap = num_blocks * bs
        concurrency = tokens_cap / eff_len if eff_len else 0.0
    else:
        concurrency = num_blocks / blocks_req if blocks_req else 0.0
        if ver >= (0, 21):
            tokens_cap = int(concurrency * eff_len)
        else:
            tokens_cap = num_blocks // n_groups * layout0["block_size"]
        result["block_size"] = layout0["block_size"]
    result["kv_cache_tokens"] = tokens_cap
    result["max_concurrency"] = round(concurrency, 2)

    # fit checks: per worker, like get_kv_cache_configs
    fit_len = None
    for s, layout in zip(stages, layouts):
        if not layout["groups"]:
            continue
        avail = s["kv_cache_bytes"]
        this_fit = _max_len_fitting(ctx, arch, layout, avail, derived)
        if engine == "v0":
            cap = s["num_blocks"] * bs
            this_fit = min(cap, derived) if cap > 0 else 0
        fit_len = this_fit if fit_len is None else min(fit_len, this_fit)
    result["max_model_len_fit"] = fit_len or 0

    binding = min(stages, key=lambda st: st["kv_cache_bytes"])
    avail = binding["kv_cache_bytes"]
    lay = layouts[binding["stage"]]
    if engine == "v0":
        cap = binding["num_blocks"] * bs
        if binding["num_blocks"] <= 0:
            reasons.append("No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when "
                           "initializing the engine.")
        elif eff_len > cap:
            reasons.append(f"The model's max seq len ({eff_len}) is larger than the maximum number of tokens that can "
                           f"be stored in KV cache ({cap}). Try increasing `gpu_memory_utilization` or decreasing "
                           "`max_model_len` when initializing the engine.")
    elif lay["groups"]:
        if avail <= 0:
            reasons.append("No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when "
                           "initializing the engine. See https://docs.vllm.ai/en/latest/configuration/"
                           "conserving_memory/ for more details.")
        else:
            needed = _needed_bytes(ctx, arch, lay, eff_len)
            if needed > avail:
                est = _max_len_fitting(ctx, arch, lay, avail, eff_len)
                est_msg = (f"Based on the available memory, the estimated maximum model length is {est}. "
                           if est > 0 else "")
                reasons.append(
                    f"To serve at least one request with the models's max seq len ({eff_len}), ({_fmt(needed)} GiB "
                    f"KV cache is needed, which is larger than the available KV cache memory ({_fmt(avail)} GiB). "
                    f"{est_msg}Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when "
                    "initializing the engine. See https://docs.vllm.ai/en/latest/configuration/conserving_memory/ "
                    "for more details.")

    # CUDA graphs outside the budget (<= 0.19): they must fit in total - requested - CUDA context
    if engine == "v1" and ver < (0, 20) and not enforce_eager:
        cg = result["cudagraph_bytes"]
        outside = total - requested - CUDA_CONTEXT_BYTES
        if free_memory_bytes is not None:
            outside = min(outside, free_memory_bytes - requested)
        result["cudagraph_headroom_bytes"] = outside
        if cg > outside:
            reasons.append(
                f"CUDA graphs (about {_fmt(cg)} GiB) are captured after the KV cache is allocated and vLLM "
                f"{version_str} does not budget them: only {_fmt(max(outside, 0))} GiB stay outside "
                f"gpu_memory_utilization={util}, so capture is expected to fail with torch.OutOfMemoryError: CUDA "
                "out of memory. Lower gpu_memory_utilization, set enforce_eager, or use vLLM >= 0.20 (which "
                "subtracts the CUDA-graph estimate).")
            room = (total - CUDA_CONTEXT_BYTES - cg) / total
            suggested.setdefault("gpu_memory_utilization", math.floor(room * 100) / 100)
        elif cg > 0.35 * outside:
            notes.append(f"CUDA-graph OOM risk: graphs (about {_gib(cg)} GiB; the real capture can be 40 % larger "
                         f"than the estimate) must fit in the {_gib(outside)} GiB left outside "
                         f"gpu_memory_utilization={util} in vLLM {version_str}, together with the sampler warm-up "
                         "and anything else on the GPU; lower the utilization if other processes share it")

    if not layout_ok:
        notes.append("the parallel layout is invalid, memory figures assume it were allowed")
    result["approximate"] = approximate
    _finish(result, arch, ctx, _suggest, dict(
        model_config=arch, gpu_memory_bytes=total, tensor_parallel_size=tp, pipeline_parallel_size=pp,
        gpu_memory_utilization=gpu_memory_utilization, max_model_len=user_len, max_num_seqs=user_seqs,
        max_num_batched_tokens=user_tokens, dtype=dtype, quantization=quantization,
        kv_cache_dtype=kv_cache_dtype, block_size=user_block, enforce_eager=enforce_eager,
        vllm_version=vllm_version, weights_bytes=weights_bytes, runner=runner,
        free_memory_bytes=free_memory_bytes, gpu_name=gpu_name))
    return result


def _valid_tps(arch, up_to=16):
    out = []
    for tp in range(1, up_to + 1):
        if not _parallel_reasons(arch, tp, 1, arch.quantization):
            out.append(tp)
    return out


def _finish(result, arch, ctx, suggest, args):
    """Set fits, and when it does not fit, what would."""
    result["fits"] = not result["reasons"]
    if result["fits"] or not suggest:
        return
    sugg, suggested = result["suggestions"], result["suggested"]

    def fits_with(**changes):
        call = dict(args, **changes)
        call["_suggest"] = False
        try:
            return estimate(call.pop("model_config"), **call)
        except ValueError:
            return None

    structural = any("divisible" in r or "aligned" in r for r in result["reasons"])
    fit_len = result.get("max_model_len_fit") or 0
    only_len = all(r.startswith("To serve at least one request") or r.startswith("The model's max seq len")
                   or r.startswith("User-specified max_model_len") for r in result["reasons"])
    if fit_len and only_len and not structural:
        block = ctx.block_size
        candidate = fit_len if fit_len < 1024 else (fit_len // block) * block
        suggested["max_model_len"] = candidate
        sugg.append(f"max_model_len={candidate}: the largest context that fits with these settings "
                    f"(the model allows {result['derived_max_model_len']})")
    elif "max_model_len" in suggested and only_len:
        sugg.append(f"max_model_len={suggested['max_model_len']}: the longest context the model's config allows")
    # smallest valid TP that fits, same GPU
    for tp in _valid_tps(arch):
        if tp <= ctx.tp and not structural:
            continue
        trial = fits_with(tensor_parallel_size=tp)
        if trial and trial["fits"]:
            suggested["tensor_parallel_size"] = tp
            sugg.append(f"tensor_parallel_size={tp}: the smallest TP that divides the model and fits")
            break
    if str(ctx.kv_cache_dtype or "auto") == "auto" and not structural and not arch.use_mla:
        trial = fits_with(kv_cache_dtype="fp8")
        if trial and trial["fits"]:
            suggested["kv_cache_dtype"] = "fp8"
            sugg.append("kv_cache_dtype=fp8: halves the KV bytes per token and fits")
    if not structural and ctx.util < 0.95 and not any(r.startswith("Free memory") for r in result["reasons"]):
        for util in (0.92, 0.95):
            if util <= ctx.util:
                continue
            trial = fits_with(gpu_memory_utilization=util)
            if trial and trial["fits"]:
                suggested.setdefault("gpu_memory_utilization", util)
                sugg.append(f"gpu_memory_utilization={util}: more of each GPU for the KV cache")
                break
    if any(r.startswith("Free memory") or r.startswith("CUDA graphs") for r in result["reasons"]) \
            and "gpu_memory_utilization" in suggested:
        util = suggested["gpu_memory_utilization"]
        trial = fits_with(gpu_memory_utilization=util)
        if trial and trial["fits"]:
            sugg.append(f"gpu_memory_utilization={util}: leaves room for what else uses the GPU")
        else:
            sugg.append(f"gpu_memory_utilization={util} avoids this error but then the model does not fit; free "
                        "the GPU or use more GPUs")
    if any(r.startswith("CUDA graphs") for r in result["reasons"]):
        trial = fits_with(enforce_eager=True)
        if trial and trial["fits"]:
            sugg.append("enforce_eager=true: no CUDA graphs, slower decode")
