# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that expose plugins/module_utils/_multinode.py to the ray role (docs in the .yml files)."""
from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.llmops.vllm_stack.plugins.module_utils import _multinode as mn
from ansible_collections.llmops.vllm_stack.plugins.module_utils._vllm_service import env_file, systemd_quote


def ray_cluster_check(entries, head_hosts, worker_hosts, profile="gpu"):
    return mn.check_cluster(mn.complete_nodes(entries, head_hosts, worker_hosts), profile)


def ray_status(text):
    return mn.parse_ray_status(text if isinstance(text, str) else "")


def ray_interface_ipv4(facts, interface=""):
    if not isinstance(facts, dict):
        raise AnsibleFilterError("ray_interface_ipv4: expected ansible_facts (a dict)")
    return mn.interface_ipv4(facts, interface or "")


def ray_execstart(params):
    if not isinstance(params, dict):
        raise AnsibleFilterError("ray_execstart: expected a dict of ray start settings")
    try:
        return systemd_quote(mn.ray_start_argv(**params))
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("ray_execstart: %s" % exc) from exc


def ray_env_file(env):
    if not isinstance(env, dict):
        raise AnsibleFilterError("ray_env_file: expected a dict NAME -> value")
    return env_file(env)


class FilterModule:
    def filters(self):
        return {
            "ray_cluster_check": ray_cluster_check,
            "ray_status": ray_status,
            "ray_interface_ipv4": ray_interface_ipv4,
            "ray_execstart": ray_execstart,
            "ray_env_file": ray_env_file,
        }
