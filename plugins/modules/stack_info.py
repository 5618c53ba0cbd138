#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: stack_info
short_description: Check a deployed LLM stack end to end (read-only)
version_added: 0.1.0
description:
  - For each vLLM service, on the host itself - C(/health), C(/v1/models) with the key (lists the served name) and
    without it (expects 401), and one real answer (chat completion, embedding, or rerank, by task).
  - Optionally checks that Dify answers C(/console/api/setup).
  - Never changes anything. Used by C(playbooks/validate.yml) to write the stack report.
author:
  - llmops.vllm_stack maintainers (@llmops)
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing to diff.
  platform:
    support: full
    platforms: posix
    description: Runs on the host where the services listen.
options:
  services:
    description:
      - C(vllm_services) entries (C(name), C(port), C(task), C(served_model_name)); C(api_key) keys in them are
        ignored - give keys in O(api_keys).
    type: list
    elements: dict
    default: []
  api_keys:
    description: Service name -> API key.
    type: dict
    default: {}
  default_api_key:
    description: Key for services without an entry in O(api_keys).
    type: str
    default: ""
  address:
    description: Address the services are reached on.
    type: str
    default: 127.0.0.1
  dify_url:
    description: Base URL of Dify (for example C(http://127.0.0.1)); empty skips the Dify check.
    type: str
    default: ""
  timeout:
    description: Seconds per request.
    type: int
    default: 120
"""

EXAMPLES = r"""
- name: Check every service
  llmops.vllm_stack.stack_info:
    services: "{{ vllm_services | map('dict2items') | map('rejectattr', 'key', 'eq', 'api_key') | map('items2dict') | list }}"
    default_api_key: "{{ vllm_api_key }}"
  register: stack
"""

RETURN = r"""
services:
  description: One result per service.
  returned: always
  type: list
  elements: dict
  sample:
    - name: chat
      health: 200
      models: [tiny-chat]
      key_enforced: true
      answer: Hello
      ok: true
      problems: []
dify:
  description: Dify check (absent when O(dify_url) is empty).
  returned: when dify_url is set
  type: dict
ok:
  description: Whether every check passed.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.llmops.vllm_stack.plugins.module_utils import _stack_check


def main():
    module = AnsibleModule(
        argument_spec=dict(
            services=dict(type="list", elements="dict", default=[]),
            api_keys=dict(type="dict", default={}, no_log=True),
            default_api_key=dict(type="str", default="", no_log=True),
            address=dict(type="str", default="127.0.0.1"),
            dify_url=dict(type="str", default=""),
            timeout=dict(type="int", default=120),
        ),
        supports_check_mode=True,
    )
    p = module.params
    results = []
    for svc in p["services"]:
        svc = {k: v for k, v in svc.items() if k != "api_key"}
        key = p["api_keys"].get(svc.get("name"), p["default_api_key"])
        results.append(_stack_check.check_service(dict(svc, api_key=key), p["address"], timeout=p["timeout"]))
    out = {"changed": False, "services": results}
    ok = all(r["ok"] for r in results)
    if p["dify_url"]:
        out["dify"] = _stack_check.check_dify(p["dify_url"], timeout=p["timeout"])
        ok = ok and out["dify"]["ok"]
    out["ok"] = ok
    module.exit_json(**out)


if __name__ == "__main__":
    main()
