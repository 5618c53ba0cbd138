#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_daemon_config
short_description: Merge settings into Docker's daemon.json without removing keys others own
version_added: 0.1.0
description:
  - Reads C(/etc/docker/daemon.json) (or O(path)), deep-merges O(config) into it and writes it back only when
    the merged document differs from what is there. Keys this module was not asked to set are kept, so the
    settings of an admin, of C(nvidia-ctk runtime configure) or of another role survive.
  - Dicts merge recursively; lists merge as an ordered union (existing entries first, duplicates dropped;
    registry URLs compare without a trailing slash); C(exec-opts) options with the same name are replaced;
    other values are replaced.
  - The requested settings are validated before anything is read or written; registry mirrors must be http(s)
    URLs at the root of a host, C(storage-driver) must be a known driver, C(log-opts) values must be strings.
  - Returns C(changed) so that a handler restarts Docker only when the file really changed.
author:
  - llmops.vllm_stack maintainers (@llmops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  path:
    description: Path of the daemon configuration file.
    type: path
    default: /etc/docker/daemon.json
  config:
    description: daemon.json keys and values to merge in.
    type: dict
    default: {}
  remove:
    description:
      - Keys to delete, as dotted paths such as C(default-runtime) or C(runtimes.nvidia).
      - Use it for settings this collection used to own and no longer wants.
    type: list
    elements: str
    default: []
  list_mode:
    description:
      - C(merge) keeps existing list entries and appends ours; C(replace) makes our lists replace existing ones.
    type: str
    choices: [merge, replace]
    default: merge
  labels:
    description:
      - Maps top-level daemon.json keys to the variable names a user set, so that validation errors name them
        (for example C(registry-mirrors) -> C(docker_registry_mirrors)).
    type: dict
    default: {}
  backup:
    description: Keep a timestamped copy of the previous file when it changes.
    type: bool
    default: false
  owner:
    description: Owner of the file.
    type: str
    default: root
  group:
    description: Group of the file.
    type: str
    default: root
  mode:
    description: Permissions of the file.
    type: raw
    default: "0644"
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    support: full
    platforms: posix
notes:
  - Docker reads daemon.json only at start; notify a handler that restarts Docker when the task changed.
"""

EXAMPLES = r"""
- name: Registry mirror and log rotation, keeping whatever else is in daemon.json
  llmops.vllm_stack.docker_daemon_config:
    config:
      registry-mirrors: [https://mirror.example.com]
      log-driver: json-file
      log-opts: {max-size: 100m, max-file: "3"}
    labels:
      registry-mirrors: docker_registry_mirrors
  notify: Restart docker

- name: NVIDIA runtime (what nvidia-ctk runtime configure writes), without making it the default
  llmops.vllm_stack.docker_daemon_config:
    config:
      runtimes:
        nvidia: {path: nvidia-container-runtime, args: []}
    remove: [default-runtime]
"""

RETURN = r"""
config:
  description: The merged daemon.json content (what is, or in check mode would be, on disk).
  returned: always
  type: dict
  sample: {"registry-mirrors": ["https://mirror.example.com"], "debug": true}
changed_keys:
  description: Top-level keys whose values changed.
  returned: always
  type: list
  elements: str
  sample: [registry-mirrors]
backup_file:
  description: Path of the backup, when O(backup=true) and the file changed.
  returned: changed and backup requested
  type: str
path:
  description: The file that was managed.
  returned: always
  type: str
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.llmops.vllm_stack.plugins.module_utils._daemon_json import DaemonJsonError, plan


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/docker/daemon.json"),
            config=dict(type="dict", default={}),
            remove=dict(type="list", elements="str", default=[]),
            list_mode=dict(type="str", choices=["merge", "replace"], default="merge"),
            labels=dict(type="dict", default={}),
            backup=dict(type="bool", default=False),
            owner=dict(type="str", default="root"),
            group=dict(type="str", default="root"),
            mode=dict(type="raw", default="0644"),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    existing_text = None
    if os.path.exists(path):
        try:
            with open(path, "rb") as handle:
                existing_text = handle.read().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            module.fail_json(msg=f"Reading {path}: {to_native(exc)} — check the file's permissions and encoding")
    try:
        result = plan(existing_text, module.params["config"], module.params["remove"], module.params["list_mode"],
                      module.params["labels"])
    except DaemonJsonError as exc:
        module.fail_json(msg=f"Merging settings into {path}: {exc} — fix the setting named here "
                             f"(nothing was changed)")

    changed = result["changed"]
    out = dict(path=path, config=result["after"], changed_keys=result["changed_keys"])
    if module._diff:
        out["diff"] = dict(
            before_header=path, after_header=path,
            before="" if existing_text is None else existing_text,
            after=result["text"] if changed else ("" if existing_text is None else existing_text),
        )

    if changed and not module.check_mode:
        directory = os.path.dirname(path) or "."
        if not os.path.isdir(directory):
            try:
                os.makedirs(directory, 0o755)
            except OSError as exc:
                module.fail_json(msg=f"Creating {directory}: {to_native(exc)} — create it or choose another path")
        if module.params["backup"] and existing_text is not None:
            out["backup_file"] = module.backup_local(path)
        fd, tmp = tempfile.mkstemp(prefix=".daemon.json.", dir=directory)
        with os.fdopen(fd, "wb") as handle:
            handle.write(to_bytes(result["text"]))
        module.atomic_move(tmp, path)

    if os.path.exists(path):
        file_args = module.load_file_common_arguments(
            dict(path=path, owner=module.params["owner"], group=module.params["group"], mode=module.params["mode"]))
        changed = module.set_fs_attributes_if_different(file_args, changed)
    module.exit_json(changed=changed, **out)


if __name__ == "__main__":
    main()
