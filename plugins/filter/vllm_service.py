# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that expose plugins/module_utils/_vllm_service.py to the vllm role (docs in the .yml files)."""
from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.llmops.vllm_stack.plugins.module_utils import _vllm_service as svcmod


def vllm_service_execstart(service, python, profile="gpu"):
    if not isinstance(service, dict):
        raise AnsibleFilterError("vllm_service_execstart: expected a vllm_services entry (dict)")
    return svcmod.systemd_quote(svcmod.argv(service, python, profile))


def vllm_service_env(service, profile="gpu", api_key="", base_env=None):
    if not isinstance(service, dict):
        raise AnsibleFilterError("vllm_service_env: expected a vllm_services entry (dict)")
    return svcmod.env_file(svcmod.environment(service, profile, api_key, base_env))


def vllm_service_problems(services, profile="gpu", api_key="", model_paths_present=None, downloads=None):
    return svcmod.problems(services, profile, api_key, model_paths_present, set(downloads or []))


def vllm_service_container(service, profile="gpu", options=None):
    if not isinstance(service, dict):
        raise AnsibleFilterError("vllm_service_container: expected a vllm_services entry (dict)")
    return svcmod.container_params(service, profile, options)


def vllm_service_container_env(service, profile="gpu", api_key="", base_env=None, user=""):
    if not isinstance(service, dict):
        raise AnsibleFilterError("vllm_service_container_env: expected a vllm_services entry (dict)")
    try:
        return svcmod.docker_env_file(svcmod.container_environment(service, profile, api_key, base_env, user))
    except ValueError as exc:
        # the message names the variable, never its value (it may be the API key)
        raise AnsibleFilterError("vllm_service_container_env (service %s): %s" % (service.get("name"), exc))


def vllm_service_container_problems(services, options=None):
    return svcmod.container_problems(services, options)


class FilterModule:
    def filters(self):
        return {
            "vllm_service_execstart": vllm_service_execstart,
            "vllm_service_env": vllm_service_env,
            "vllm_service_problems": vllm_service_problems,
            "vllm_service_container": vllm_service_container,
            "vllm_service_container_env": vllm_service_container_env,
            "vllm_service_container_problems": vllm_service_container_problems,
        }
