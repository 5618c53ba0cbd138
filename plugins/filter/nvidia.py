# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that expose plugins/module_utils/_nvidia.py to the nouveau, nvidia_driver and cuda_toolkit roles.

Each filter is documented in the YAML file of the same name next to this one.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmops.vllm_stack.plugins.module_utils import _nvidia


def _plain(value):
    """Templated containers arrive as Ansible's own dict/list subclasses; hand plain ones to the pure code."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def nvidia_gpu_state(gpu_info):
    return _nvidia.gpu_state(_plain(gpu_info))


def nvidia_gpus_visible(state):
    return _nvidia.gpus_visible(_plain(state))


def nvidia_driver_plan(params):
    if not isinstance(params, dict):
        raise AnsibleFilterError("nvidia_driver_plan expects a dict of the role's inputs")
    return _nvidia.driver_plan(_plain(params))


def cuda_toolkit_plan(params):
    if not isinstance(params, dict):
        raise AnsibleFilterError("cuda_toolkit_plan expects a dict of the role's inputs")
    return _nvidia.toolkit_plan(_plain(params))


def nvidia_kernels_to_check(installed, running):
    return _nvidia.kernels_to_check(_plain(installed), str(running))


def nvidia_nvcc_version(text):
    return _nvidia.parse_nvcc_version(str(text or ""))


class FilterModule:
    """NVIDIA driver and CUDA toolkit decisions."""

    def filters(self):
        return {
            "nvidia_gpu_state": nvidia_gpu_state,
            "nvidia_gpus_visible": nvidia_gpus_visible,
            "nvidia_driver_plan": nvidia_driver_plan,
            "cuda_toolkit_plan": cuda_toolkit_plan,
            "nvidia_nvcc_version": nvidia_nvcc_version,
            "nvidia_kernels_to_check": nvidia_kernels_to_check,
        }
