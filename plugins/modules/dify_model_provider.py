#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: dify_model_provider
short_description: Bootstrap Dify headlessly and register vLLM services as OpenAI-API-compatible models
version_added: 0.1.0
description:
  - Talks to Dify's console API (C(/console/api)) the way its web UI does, with a cookie jar and the
    C(X-CSRF-Token) header, using only the Python standard library on the managed host.
  - Creates the admin account when Dify is not set up yet (after C(/console/api/init) when O(init_password) is
    set), logs in (Base64 password, as Dify 1.11+ expects), installs the C(langgenius/openai_api_compatible)
    plugin from the marketplace or from a local C(.difypkg), registers one model credential per O(models) entry
    and sets the workspace default models.
  - O(models) entries reference O(services) (the C(vllm_services) list) by name; the endpoint URL
    (C(http://<host>:<port>/v1)), the model type (from the service task), the context size (from
    C(max_model_len)) and the API key come from the service. A reference to a service that is not defined is
    refused before any request is made.
  - Idempotent. A credential is created when the model has none, updated when a value differs (secret values
    are compared in the obfuscated form Dify returns), left alone otherwise.
author:
  - llmops.vllm_stack maintainers (@llmops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  url:
    description: Base URL of Dify (its nginx, e.g. C(http://127.0.0.1)), without C(/console/api).
    type: str
    required: true
  admin_email:
    description: Email of the admin account (created on a fresh instance, used to log in).
    type: str
    required: true
  admin_password:
    description:
      - Password of the admin account. Must satisfy Dify's rule C(^(?=.*[a-zA-Z])(?=.*\d).{8,}$); checked
        before any request.
    type: str
    required: true
  admin_name:
    description: Display name of the admin account (at most 30 characters).
    type: str
    default: admin
  language:
    description: Interface language of the admin account, e.g. C(en-US) or C(zh-Hans).
    type: str
  init_password:
    description: Dify's C(INIT_PASSWORD), when the instance was started with one.
    type: str
    default: ""
  plugin_id:
    description: Plugin that provides O(provider).
    type: str
    default: langgenius/openai_api_compatible
  plugin_identifier:
    description:
      - Marketplace identifier C(org/name:version@sha256) to install when the plugin is missing.
    type: str
    default: ""
  plugin_package:
    description:
      - Path on the managed host of a C(.difypkg) to upload when the plugin is missing (offline installs).
        Takes precedence over O(plugin_identifier).
    type: path
  provider:
    description: Dify provider id of the models.
    type: str
    default: langgenius/openai_api_compatible/openai_api_compatible
  services:
    description:
      - The vLLM services (C(vllm_services)); used keys are C(name), C(port), C(host), C(served_model_name),
        C(task) (chat, embed, score), C(max_model_len) and C(api_key).
    type: list
    elements: dict
    default: []
  models:
    description:
      - Models to register. Each entry has C(service) (a name in O(services)) and optionally C(model) (name in
        Dify, default the served model name), C(model_type) (C(llm), C(text-embedding), C(rerank)),
        C(endpoint_url), C(api_key), C(context_size), C(max_tokens), C(max_chunks), C(mode),
        C(credentials) (more plugin credential keys) and C(credential_name).
    type: list
    elements: dict
    default: []
  endpoint_host:
    description: Host or IP that Dify's containers use to reach a service without its own C(host).
    type: str
    default: ""
  api_key:
    description: vLLM API key used for services that do not carry their own C(api_key).
    type: str
    default: ""
  default_models:
    description:
      - Workspace default model per type (C(llm), C(text-embedding), C(rerank)) as a model name.
        Empty means the first registered model of each type.
    type: dict
    default: {}
  set_default_models:
    description: Manage the workspace default models.
    type: bool
    default: true
  secret_fields:
    description: Credential keys that Dify stores as secrets (returned obfuscated).
    type: list
    elements: str
    default: [api_key]
  validate_only:
    description: Only check the inputs (password rule, model references) and return; no request is made.
    type: bool
    default: false
  labels:
    description:
      - Variable names to use in error messages for options, for example C(models) -> C(dify_models),
        C(services) -> C(vllm_services), C(admin_password) -> C(dify_admin_password).
    type: dict
    default: {}
  timeout:
    description: Seconds to wait for one HTTP answer.
    type: int
    default: 30
  plugin_timeout:
    description: Seconds to wait for the plugin install task (the daemon installs the plugin's Python packages).
    type: int
    default: 900
  retry_timeout:
    description: Seconds to keep retrying credential calls while the plugin runtime starts.
    type: int
    default: 300
  validate_certs:
    description: Verify TLS certificates when O(url) is https.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details: On a fresh instance nothing can be read before the admin exists; every step is reported as a change.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
notes:
  - The credentials are validated by Dify's plugin, which calls the endpoint; the vLLM services must be up and
    reachable from the plugin_daemon container (use the host IP, not 127.0.0.1).
"""

EXAMPLES = r"""
- name: Wire Dify to the vLLM services
  llmops.vllm_stack.dify_model_provider:
    url: http://127.0.0.1
    admin_email: "{{ dify_admin_email }}"
    admin_password: "{{ dify_admin_password }}"
    plugin_identifier: "langgenius/openai_api_compatible:0.0.63@<sha256>"
    services: "{{ vllm_services }}"
    endpoint_host: "{{ ansible_facts['default_ipv4']['address'] }}"
    api_key: "{{ vllm_api_key }}"
    models:
      - service: chat
        credentials: {function_calling_type: tool_call}
      - service: embed
      - service: rerank
  no_log: true
"""

RETURN = r"""
actions:
  description: What was done (or in check mode would be done), in order.
  returned: always
  type: list
  elements: str
  sample: ["create the admin account admin@example.com", "install plugin langgenius/openai_api_compatible"]
models:
  description: One entry per model with C(model), C(model_type), C(service) and C(action) (create, update, unchanged).
  returned: always
  type: list
  elements: dict
default_models:
  description: The workspace default model per type that is managed.
  returned: always
  type: dict
"""

import os
import ssl

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.llmops.vllm_stack.plugins.module_utils._dify_api import (
    DifyClient,
    DifyError,
    InputError,
    bootstrap,
    default_models_for,
    password_problem,
    resolve_models,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            admin_email=dict(type="str", required=True),
            admin_password=dict(type="str", required=True, no_log=True),
            admin_name=dict(type="str", default="admin"),
            language=dict(type="str"),
            init_password=dict(type="str", default="", no_log=True),
            plugin_id=dict(type="str", default="langgenius/openai_api_compatible"),
            plugin_identifier=dict(type="str", default=""),
            plugin_package=dict(type="path"),
            provider=dict(type="str", default="langgenius/openai_api_compatible/openai_api_compatible"),
            services=dict(type="list", elements="dict", default=[]),
            models=dict(type="list", elements="dict", default=[]),
            endpoint_host=dict(type="str", default=""),
            api_key=dict(type="str", default="", no_log=True),
            default_models=dict(type="dict", default={}),
            set_default_models=dict(type="bool", default=True),
            secret_fields=dict(type="list", elements="str", default=["api_key"], no_log=False),
            validate_only=dict(type="bool", default=False),
            labels=dict(type="dict", default={}),
            timeout=dict(type="int", default=30),
            plugin_timeout=dict(type="int", default=900),
            retry_timeout=dict(type="int", default=300),
            validate_certs=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    labels = p["labels"]
    # API keys can sit inside vllm_services / dify_models entries: keep them out of the result and logs too
    for entry in p["services"] + p["models"]:
        if isinstance(entry, dict) and entry.get("api_key"):
            module.no_log_values.add(str(entry["api_key"]))

    def named(option):
        return f"{labels[option]} ({option})" if option in labels else option

    # every input check happens before the first request
    problem = password_problem(p["admin_password"])
    if problem:
        module.fail_json(msg=f"Checking the Dify admin password: {named('admin_password')}: {problem} — "
                             f"choose a password Dify accepts (nothing was changed)")
    try:
        models = resolve_models(p["models"], p["services"], p["endpoint_host"], p["api_key"],
                                labels={"models": labels.get("models", "models"),
                                        "services": labels.get("services", "services")})
        defaults = default_models_for(models, p["default_models"]) if p["set_default_models"] else {}
    except InputError as exc:
        module.fail_json(msg=f"Resolving the Dify model list: {exc} — fix {named('models')} (nothing was changed)")
    if p["plugin_package"] and not p["validate_only"] and not os.path.isfile(p["plugin_package"]):
        module.fail_json(msg=f"Reading the plugin package: {p['plugin_package']} does not exist — copy the "
                             f".difypkg there or set {named('plugin_identifier')} instead")
    if p["validate_only"]:
        module.exit_json(changed=False, actions=[], default_models=defaults,
                         models=[{"model": m["model"], "model_type": m["model_type"], "service": m["service"],
                                  "action": "validated"} for m in models])

    context = None
    if p["url"].startswith("https") and not p["validate_certs"]:
        context = ssl._create_unverified_context()  # pylint: disable=protected-access
    package = None
    if p["plugin_package"]:
        with open(p["plugin_package"], "rb") as handle:
            package = (os.path.basename(p["plugin_package"]), handle.read())
    try:
        client = DifyClient(p["url"], timeout=p["timeout"], ssl_context=context)
        result = bootstrap(
            client, admin_email=p["admin_email"], admin_password=p["admin_password"], admin_name=p["admin_name"],
            language=p["language"], init_password=p["init_password"], plugin_id=p["plugin_id"],
            plugin_identifier=p["plugin_identifier"], plugin_package=package, provider=p["provider"],
            models=models, default_models=p["default_models"], manage_defaults=p["set_default_models"],
            secret_fields=tuple(p["secret_fields"]), check_mode=module.check_mode,
            plugin_timeout=p["plugin_timeout"], retry_timeout=p["retry_timeout"])
    except InputError as exc:
        module.fail_json(msg=f"Bootstrapping Dify at {p['url']}: {exc}")
    except DifyError as exc:
        module.fail_json(msg=f"Bootstrapping Dify at {p['url']}: {exc} — check that Dify is up and the admin "
                             f"credentials are right", status=exc.status, code=exc.code)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
