# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that expose plugins/module_utils/_dify_deploy.py to the dify role (docs in the .yml files)."""
from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.llmops.vllm_stack.plugins.module_utils import _dify_deploy as deploy


def dify_secrets(existing, names=None):
    if existing is not None and not isinstance(existing, dict):
        raise AnsibleFilterError("dify_secrets: expected the stored secrets as a dict")
    return deploy.ensure_secrets(existing, names)


def dify_dotenv(example_text, secret_values, settings=None, extra=None):
    if not isinstance(secret_values, dict):
        raise AnsibleFilterError("dify_dotenv: expected the secrets dict")
    return deploy.merge_dotenv(example_text, deploy.env_overrides(secret_values, settings, extra))


def dify_compose_override(compose, registry="", library_prefix=True, image_overrides=None, extra=None):
    if not isinstance(compose, dict):
        raise AnsibleFilterError("dify_compose_override: expected the parsed docker-compose.yaml (dict)")
    return deploy.compose_override(compose, registry, library_prefix, image_overrides, extra)


class FilterModule:
    def filters(self):
        return {
            "dify_secrets": dify_secrets,
            "dify_dotenv": dify_dotenv,
            "dify_compose_override": dify_compose_override,
        }
