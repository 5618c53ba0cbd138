#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: vllm_plan_check
short_description: Check a host's vLLM services against its GPUs before anything is installed or started
version_added: 0.1.0
description:
  - Takes the inventory's C(vllm_services) list and the output of M(llmops.vllm_stack.gpu_info) for one host and
    reports every problem at once, each naming the inventory variable to change and a concrete fix.
  - Checks the service entries (names, tasks, ports, integer tensor/pipeline parallel sizes); that GPU indices
    exist and are not repeated; that C(gpus) holds C(tensor_parallel_size x pipeline_parallel_size) GPUs per node;
    that the model's attention heads and KV heads allow the tensor parallel size; that each service fits its GPUs
    (weights, activations and the KV cache for C(max_model_len), from the fit engine); that the services sharing
    a GPU, plus the memory other processes already use and one CUDA context per instance, stay within the GPU
    (vLLM requests total x C(gpu_memory_utilization) on every GPU of every instance); optionally that the ports
    are free; and warns when a tensor-parallel group is not on the best-linked GPUs available.
  - Model architecture comes from, in order, the entry's C(model_config), C(<model>/config.json) on the managed
    host, and a small built-in catalogue of the seed models looked up by C(download.repo_id), C(model), or the
    model directory's name.
  - Pure computation apart from reading model directories and C(/proc/net/tcp*); changes nothing. A plan that
    cannot work is returned as data (RV(ok=false), RV(problems)); the caller decides to fail.
author:
  - llmops.vllm_stack maintainers (@llmops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  services:
    description: The C(vllm_services) list (see the vllm role's README for the keys of an entry).
    type: list
    elements: dict
    required: true
  gpu_info:
    description: The registered result of M(llmops.vllm_stack.gpu_info) for this host (or a saved copy of it).
    type: dict
    required: true
  vllm_version:
    description:
      - vLLM version the services will run; decides defaults such as C(gpu_memory_utilization) (0.9 up to 0.19,
        0.92 from 0.20) and how CUDA graphs are budgeted. Empty means the fit engine's default.
    type: str
    default: ""
  read_model_configs:
    description: Read C(config.json) and the checkpoint size from each service's model directory when it exists.
    type: bool
    default: true
  check_ports_free:
    description:
      - Report ports already listening on the host. A port served by a vLLM process started with the same
        C(--port) is only a warning (the plan is deployed already).
    type: bool
    default: false
  cuda_context_mib:
    description:
      - Memory each vLLM process needs outside its C(gpu_memory_utilization) budget on every GPU it uses (its CUDA
        context). Raise it if services sharing a GPU fail with CUDA out of memory at start.
    type: int
    default: 512
  host_label:
    description: How messages name the host (for example the inventory hostname).
    type: str
    default: this host
  proc_path:
    description: Where procfs is mounted (listening ports).
    type: path
    default: /proc
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
notes:
  - API keys in the service entries are kept out of the module's output.
seealso:
  - module: llmops.vllm_stack.gpu_info
"""

EXAMPLES = r"""
- name: Probe the GPUs
  llmops.vllm_stack.gpu_info:
  register: gpu

- name: Check the plan
  llmops.vllm_stack.vllm_plan_check:
    services: "{{ vllm_services }}"
    gpu_info: "{{ gpu }}"
    vllm_version: "{{ vllm_version }}"
    host_label: "{{ inventory_hostname }}"
  register: plan

- name: Show the per-GPU budget
  ansible.builtin.debug:
    msg: "{{ plan.gpu_table_text.split('\n') }}"

- name: Refuse a plan that cannot work
  ansible.builtin.fail:
    msg: "{{ plan.problems | map(attribute='message') | list }}"
  when: not plan.ok
"""

RETURN = r"""
ok:
  description: Whether the plan has no problem.
  returned: always
  type: bool
problems:
  description: Everything that would make a service fail, each with C(service), C(variable), C(message), C(fix).
  returned: always
  type: list
  elements: dict
  sample:
    - service: deepseek
      variable: vllm_services[0].tensor_parallel_size
      message: "Total number of attention heads (40) must be divisible by tensor parallel size (3): vLLM refuses to start"
      fix: "use a tensor_parallel_size that divides 40 (1, 2, 4, 5, 8, 10) and list that many GPUs"
plan_warnings:
  description:
    - Things that work but deserve a look (links, CUDA-graph headroom, catalogue look-ups by directory name).
    - Named so because Ansible treats a module's C(warnings) as its own.
  returned: always
  type: list
  elements: str
services:
  description: Per service, the GPUs, sizes, where the model's config came from and the fit engine's result (C(fit)).
  returned: always
  type: list
  elements: dict
gpu_table:
  description:
    - Per GPU, C(index), C(name), C(total_gib), C(usable_gib) (what CUDA calls total), C(used_gib) by other
      processes, C(services) (name, util, gib), C(util_sum), C(total_fraction), C(headroom_gib), C(over).
  returned: always
  type: list
  elements: dict
gpu_table_text:
  description: The same table as fixed-width text.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.llmops.vllm_stack.plugins.module_utils._placement import (
    check_plan,
    listening_ports,
    read_local_model,
)


def _secrets(services):
    for entry in services or []:
        if isinstance(entry, dict) and isinstance(entry.get("api_key"), str) and entry["api_key"]:
            yield entry["api_key"]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            services=dict(type="list", elements="dict", required=True),
            gpu_info=dict(type="dict", required=True),
            vllm_version=dict(type="str", default=""),
            read_model_configs=dict(type="bool", default=True),
            check_ports_free=dict(type="bool", default=False),
            cuda_context_mib=dict(type="int", default=512),
            host_label=dict(type="str", default="this host"),
            proc_path=dict(type="path", default="/proc"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    services = params["services"]
    module.no_log_values.update(_secrets(services))

    local_models = None
    if params["read_model_configs"]:
        local_models = {}
        for entry in services:
            model = entry.get("model") if isinstance(entry, dict) else None
            if isinstance(model, str) and model.startswith("/") and model not in local_models:
                local_models[model] = read_local_model(model)
    listening = listening_ports(params["proc_path"]) if params["check_ports_free"] else None
    try:
        result = check_plan(services, params["gpu_info"], vllm_version=params["vllm_version"] or None,
                            local_models=local_models, listening=listening, host=params["host_label"],
                            context_bytes=params["cuda_context_mib"] << 20)
    except ImportError as exc:
        module.fail_json(msg="Checking the vLLM plan: the fit engine could not be loaded (%s) — install the whole "
                             "llmops.vllm_stack collection, not single files" % exc)
    result["plan_warnings"] = result.pop("warnings")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
