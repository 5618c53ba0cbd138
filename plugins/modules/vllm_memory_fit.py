#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: vllm_memory_fit
short_description: Predict whether a model starts under vLLM on given GPUs, and with how much KV cache
version_added: 0.1.0
description:
  - Replays vLLM's start-up memory accounting for one node (weights per GPU, activation peak of the profile run,
    non-torch memory, CUDA graphs, KV cache blocks) from the model's C(config.json), without a GPU.
  - Checks what vLLM checks before and during start-up (attention heads, KV heads and vocabulary against the tensor
    parallel size, layers against the pipeline parallel size, O(max_model_len) against the model's derived
    maximum, free memory against the requested memory, the KV cache against one request of O(max_model_len)) and
    reports a plan that cannot work as RV(fits=false) with vLLM's own wording in RV(reasons), never as a failure.
  - Pure computation; nothing on the host changes. The module fails only on malformed input.
author:
  - llmops.vllm_stack maintainers (@llmops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  model_config:
    description:
      - The model's C(config.json) as a mapping. Exactly one of O(model_config) and O(model_path) is required.
    type: dict
  model_path:
    description:
      - A local model directory with C(config.json); the checkpoint size is read from
        C(model.safetensors.index.json) (C(metadata.total_size)) or the C(*.safetensors) file sizes.
    type: path
  weights_bytes:
    description:
      - Size of the checkpoint on disk in bytes (all shards). Improves the per-GPU weight estimate for quantized
        checkpoints. Overrides the size read from O(model_path).
    type: int
  gpu_memory_bytes:
    description:
      - Memory of one GPU in bytes, as CUDA reports it (C(torch.cuda.mem_get_info) total, what vLLM prints).
      - An NVML total is larger by the driver-reserved memory; pass NVML's reserved bytes in O(gpu_reserved_bytes)
        too (the C(gpu_info) module returns both as C(memory_total) and C(memory_reserved)).
    type: int
    required: true
  gpu_reserved_bytes:
    description: Bytes to subtract from O(gpu_memory_bytes) (NVML C(memory_v2.reserved)).
    type: int
  gpu_name:
    description:
      - GPU product name. vLLM uses smaller batch defaults on A100s and GPUs under 70 GiB, and no bfloat16 before
        Ampere.
    type: str
  free_memory_bytes:
    description:
      - Free memory of one GPU in bytes when vLLM starts. vLLM refuses to start when it is below the requested memory.
    type: int
  tensor_parallel_size:
    description: vLLM C(--tensor-parallel-size).
    type: int
    default: 1
  pipeline_parallel_size:
    description: vLLM C(--pipeline-parallel-size).
    type: int
    default: 1
  gpu_memory_utilization:
    description: vLLM C(--gpu-memory-utilization); defaults to vLLM's default for O(vllm_version) (0.9, 0.92 from 0.20).
    type: float
  max_model_len:
    description: vLLM C(--max-model-len); defaults to the length vLLM derives from the config.
    type: int
  max_num_seqs:
    description: vLLM C(--max-num-seqs); defaults to vLLM's default for the GPU and version.
    type: int
  max_num_batched_tokens:
    description: vLLM C(--max-num-batched-tokens); defaults to vLLM's default for the GPU and version.
    type: int
  dtype:
    description: vLLM C(--dtype).
    type: str
    default: auto
  quantization:
    description: vLLM C(--quantization); the checkpoint's C(quantization_config) is used when this is unset.
    type: str
  kv_cache_dtype:
    description: vLLM C(--kv-cache-dtype) (C(auto), C(fp8), C(fp8_e4m3), C(fp8_e5m2), ...).
    type: str
    default: auto
  block_size:
    description: vLLM C(--block-size); 16 by default.
    type: int
  enforce_eager:
    description: vLLM C(--enforce-eager) (no CUDA graphs).
    type: bool
    default: false
  vllm_version:
    description: The vLLM version whose accounting is replayed.
    type: str
    default: 0.20.0
  runner:
    description: vLLM C(--runner); C(auto) follows the architecture (C(*ForCausalLM) generate, C(*Model) pooling).
    type: str
    choices: [auto, generate, pooling]
    default: auto
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
notes:
  - Figures are per GPU. With pipeline parallelism RV(kv_cache_bytes) is stage 0's (what rank 0 logs) and the
    block count is the minimum over stages, as in vLLM.
  - Hybrid, sliding-window, Mamba and multimodal models are estimated approximately (RV(approximate), RV(notes)).
"""

EXAMPLES = r"""
- name: Does DeepSeek-R1-Distill-Qwen-1.5B fit an 8 GB RTX 4060 with its default context?
  llmops.vllm_stack.vllm_memory_fit:
    model_path: /srv/models/DeepSeek-R1-Distill-Qwen-1.5B
    gpu_memory_bytes: 8585740288
    gpu_name: NVIDIA GeForce RTX 4060
  register: fit

- name: Refuse a plan that cannot start
  ansible.builtin.assert:
    that: fit.fits
    fail_msg: "{{ fit.reasons | join(' ') }} Suggestions: {{ fit.suggestions | join('; ') }}"

- name: Size a plan from NVML figures (total and reserved as gpu_info returns them)
  llmops.vllm_stack.vllm_memory_fit:
    model_config: "{{ lookup('ansible.builtin.file', 'config.json') | from_json }}"
    weights_bytes: 65527752704
    gpu_memory_bytes: "{{ gpu.memory_total }}"
    gpu_reserved_bytes: "{{ gpu.memory_reserved }}"
    tensor_parallel_size: 4
    max_model_len: 32768
"""

RETURN = r"""
fits:
  description: Whether vLLM is expected to start with these settings.
  returned: always
  type: bool
  sample: false
reasons:
  description: Why it would not start, in vLLM's wording where vLLM has one.
  returned: always
  type: list
  elements: str
  sample: ["Total number of attention heads (40) must be divisible by tensor parallel size (3)."]
suggestions:
  description: Changes that would make it fit (largest max_model_len, smallest TP, fp8 KV cache, utilization).
  returned: always
  type: list
  elements: str
suggested:
  description: The same suggestions as option names and values.
  returned: always
  type: dict
  sample: {"max_model_len": 98064, "kv_cache_dtype": "fp8"}
notes:
  description: Caveats of this estimate.
  returned: always
  type: list
  elements: str
approximate:
  description: True for hybrid, sliding-window, Mamba and multimodal models.
  returned: always
  type: bool
weights_bytes_per_gpu:
  description: Model weights on one GPU (what vLLM logs as "Model loading took").
  returned: always
  type: int
activation_bytes:
  description: Peak activation memory of vLLM's profile run on one GPU.
  returned: always
  type: int
non_torch_bytes:
  description: Non-torch memory (cuBLAS, NCCL, all-reduce workspaces) grown during start-up on one GPU.
  returned: always
  type: int
cudagraph_bytes:
  description: Estimated CUDA-graph memory; subtracted from the KV cache from vLLM 0.20 (RV(cudagraph_applied)).
  returned: always
  type: int
cudagraph_applied:
  description: Whether vLLM subtracts RV(cudagraph_bytes) from the KV cache (vLLM 0.20 and later).
  returned: always
  type: bool
requested_memory_bytes:
  description: gpu_memory_utilization x total, the memory vLLM budgets on each GPU.
  returned: always
  type: int
kv_cache_bytes:
  description: KV cache memory per GPU (vLLM's "Available KV cache memory"); 0 for encoder-only pooling models.
  returned: always
  type: int
kv_cache_bytes_per_token:
  description: KV cache bytes per token on one GPU, all attention layers of the stage.
  returned: always
  type: int
kv_cache_tokens:
  description: What vLLM prints as "GPU KV cache size".
  returned: always
  type: int
num_gpu_blocks:
  description: KV cache blocks (minimum over pipeline stages).
  returned: always
  type: int
max_concurrency:
  description: What vLLM prints as "Maximum concurrency for max_model_len tokens per request".
  returned: always
  type: float
max_model_len:
  description: The max_model_len in effect (given or derived from the config).
  returned: always
  type: int
max_model_len_fit:
  description: The largest max_model_len whose KV cache fits (vLLM's estimate_max_model_len).
  returned: always
  type: int
vllm_version:
  description: The vLLM version replayed.
  returned: always
  type: str
gpu_memory_utilization:
  description: The utilization used (given or vLLM's default).
  returned: always
  type: float
max_num_seqs:
  description: The max_num_seqs used (given or vLLM's default).
  returned: always
  type: int
max_num_batched_tokens:
  description: The max_num_batched_tokens used (given or vLLM's default).
  returned: always
  type: int
block_size:
  description: The KV cache block size used.
  returned: always
  type: int
stages:
  description: Per pipeline stage figures (layers, weights, activation, non-torch, CUDA graphs, KV cache, blocks).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.llmops.vllm_stack.plugins.module_utils._model_config import load_model_dir
from ansible_collections.llmops.vllm_stack.plugins.module_utils._vllm_memory import DEFAULT_VLLM_VERSION, estimate

ENGINE_OPTIONS = ("gpu_memory_bytes", "gpu_reserved_bytes", "gpu_name", "free_memory_bytes", "tensor_parallel_size",
                  "pipeline_parallel_size", "gpu_memory_utilization", "max_model_len", "max_num_seqs",
                  "max_num_batched_tokens", "dtype", "quantization", "kv_cache_dtype", "block_size", "enforce_eager",
                  "vllm_version", "runner", "weights_bytes")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            model_config=dict(type="dict"),
            model_path=dict(type="path"),
            weights_bytes=dict(type="int"),
            gpu_memory_bytes=dict(type="int", required=True),
            gpu_reserved_bytes=dict(type="int"),
            gpu_name=dict(type="str"),
            free_memory_bytes=dict(type="int"),
            tensor_parallel_size=dict(type="int", default=1),
            pipeline_parallel_size=dict(type="int", default=1),
            gpu_memory_utilization=dict(type="float"),
            max_model_len=dict(type="int"),
            max_num_seqs=dict(type="int"),
            max_num_batched_tokens=dict(type="int", no_log=False),
            dtype=dict(type="str", default="auto"),
            quantization=dict(type="str"),
            kv_cache_dtype=dict(type="str", default="auto"),
            block_size=dict(type="int"),
            enforce_eager=dict(type="bool", default=False),
            vllm_version=dict(type="str", default=DEFAULT_VLLM_VERSION),
            runner=dict(type="str", choices=["auto", "generate", "pooling"], default="auto"),
        ),
        mutually_exclusive=[("model_config", "model_path")],
        required_one_of=[("model_config", "model_path")],
        supports_check_mode=True,
    )
    params = module.params
    config = params["model_config"]
    kwargs = {name: params[name] for name in ENGINE_OPTIONS}
    if params["model_path"]:
        try:
            config, size = load_model_dir(params["model_path"])
        except ValueError as exc:
            module.fail_json(msg=f"Reading the model at {params['model_path']}: {to_native(exc)} — point model_path "
                                 "at a directory that holds the model's config.json")
        if kwargs["weights_bytes"] is None:
            kwargs["weights_bytes"] = size
    try:
        result = estimate(config, **kwargs)
    except ValueError as exc:
        module.fail_json(msg=f"Estimating vLLM memory: {to_native(exc)} — fix the option or the model's config.json")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
