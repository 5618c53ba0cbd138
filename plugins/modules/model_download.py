#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: model_download
short_description: Download a model snapshot from Hugging Face or ModelScope into a directory, idempotently
version_added: 0.1.0
description:
  - Lists the repository at O(revision) through the real client (C(huggingface_hub) or C(modelscope)), compares
    the selected files with O(local_dir) and the manifest C(<local_dir>/.llmops_manifest.json) of the previous
    run, and fetches only what is missing or wrong with the client's C(snapshot_download).
  - After a download every fetched file is checked against the size and hash the hub publishes (SHA-256 of LFS
    and ModelScope files, git blob id of small Hugging Face files), then the manifest is written (repo, source,
    revision, resolved commit, size and SHA-256 per file).
  - A run that finds everything in place lists the repository once, transfers no file content and reports
    C(changed=false). A truncated, corrupted or missing file is fetched again and listed in RV(refetched).
  - Before fetching, the bytes still to fetch plus O(min_free_bytes) are compared with the free space of the
    filesystem that holds O(local_dir); the task fails with the numbers when they do not fit.
  - With O(offline=true) no hub is contacted at all; O(local_dir) must already hold the model (for example copied
    from a host that downloaded it) and is checked against its manifest, or, without one, against the shard list
    of its C(*.index.json) files.
author:
  - llmops.vllm_stack maintainers (@llmops)
requirements:
  - huggingface_hub (tested with 2.4.0) for O(source=huggingface)
  - modelscope (tested with 1.40.2, which brings modelscope-hub 0.5.1) for O(source=modelscope)
options:
  source:
    description: Which hub the repository lives on.
    type: str
    required: true
    choices: [huggingface, modelscope]
  repo_id:
    description: Repository id, C(owner/name), for example C(Qwen/Qwen3-8B).
    type: str
    required: true
  revision:
    description:
      - Branch, tag or commit to download. Pin it (a commit hash or a release tag) so that every host gets the
        same files.
      - When unset, the default branch is used (C(main) on Hugging Face, C(master) on ModelScope) and a warning
        says that the result is not reproducible. With O(offline=true) an unset revision is not checked.
      - On Hugging Face a branch or tag is resolved to its commit first and the files are fetched at that commit
        (returned as RV(commit)). ModelScope does not expose the commit of a branch; RV(commit) is then null and
        the per-file SHA-256 in the manifest pins the content.
    type: str
  allow_patterns:
    description:
      - Only files matching at least one of these globs are selected (all files when empty).
      - Globs are matched like the clients do, with C(fnmatch), so C(*) also matches C(/); a pattern ending in
        C(/) selects a whole directory on Hugging Face; ModelScope also splits each pattern on commas.
    type: list
    elements: str
    default: []
  ignore_patterns:
    description: Files matching any of these globs are left out (after O(allow_patterns)).
    type: list
    elements: str
    default: []
  local_dir:
    description:
      - Directory that receives the files, laid out as in the repository. Created when missing.
      - The clients keep their own bookkeeping under C(<local_dir>/.cache/); files that are not selected are
        never deleted.
    type: path
    required: true
  endpoint:
    description:
      - Base URL of the hub or of a mirror, for example C(https://hf-mirror.com) (what C(HF_ENDPOINT) sets) or
        C(https://modelscope.cn) (what C(MODELSCOPE_ENDPOINT) sets).
      - When unset, the client's default applies, including those environment variables; ModelScope then probes
        C(modelscope.cn) first and C(modelscope.ai) second.
    type: str
  token:
    description:
      - Access token for private or gated repositories (Hugging Face C(hf_...), ModelScope SDK token).
      - Sent as an C(Authorization) header to the hub only; never returned, logged or written to the manifest.
        When unset, the clients fall back to C(HF_TOKEN) / C(MODELSCOPE_API_TOKEN) and their stored logins.
    type: str
  offline:
    description:
      - Never contact a hub; only verify a pre-seeded O(local_dir). No file and no manifest is written (O(owner)
        and O(group) still apply).
    type: bool
    default: false
  resume:
    description:
      - Continue partial downloads left by an interrupted run. ModelScope keeps C(<file>.incomplete) and resumes it
        with an HTTP Range request; huggingface_hub 2.x resumes only within one run (it retries a broken transfer
        from the byte it reached).
      - When false, partial files of the files to fetch are removed first, so that they start from byte 0.
    type: bool
    default: true
  max_workers:
    description: Files fetched in parallel.
    type: int
    default: 8
  verify:
    description:
      - How files recorded in the manifest are checked on a later run. C(size) compares sizes (fast, reads no
        data, catches truncated and missing files); C(full) also re-computes the SHA-256 of every file (reads
        the whole model) and catches same-size corruption.
      - Files not recorded in the manifest yet are always hashed and compared with the hub's hash before they are
        kept, whatever this option says.
    type: str
    choices: [size, full]
    default: size
  disk_check:
    description: Refuse to start when the files to fetch do not fit (see O(min_free_bytes)).
    type: bool
    default: true
  min_free_bytes:
    description: Bytes that must remain free on the filesystem of O(local_dir) after the download.
    type: int
    default: 1073741824
  disable_xet:
    description:
      - Set C(HF_HUB_DISABLE_XET=1) so huggingface_hub downloads over plain HTTP instead of the Xet protocol.
        Use it with mirrors that do not proxy Xet storage. Without Xet a single file may not exceed 50 GB.
    type: bool
    default: false
  owner:
    description: Owner of O(local_dir) and everything in it (for example the service user C(vllm)).
    type: str
  group:
    description: Group of O(local_dir) and everything in it.
    type: str
attributes:
  check_mode:
    support: full
    description: Lists the repository and reports RV(to_fetch) and RV(bytes_to_fetch); writes nothing.
  diff_mode:
    support: none
    description: Model files are binary; RV(to_fetch) and RV(reasons) say what changes.
  platform:
    support: full
    platforms: posix
    description: Runs on the host that stores the model.
notes:
  - The module must run with a Python interpreter that has the client installed; set
    C(ansible_python_interpreter) on the task (for example the stack's venv) when that is not the default one.
  - The manifest makes re-runs cheap; do not edit it. Deleting it makes the next run hash every file once.
seealso:
  - name: huggingface_hub snapshot_download
    description: The Hugging Face download API this module drives.
    link: https://huggingface.co/docs/huggingface_hub/guides/download
  - name: ModelScope model download
    description: The ModelScope download API this module drives.
    link: https://modelscope.cn/docs/models/download
"""

EXAMPLES = r"""
- name: Qwen3-8B from ModelScope at a pinned tag, safetensors only, owned by the vllm user
  llmops.vllm_stack.model_download:
    source: modelscope
    repo_id: Qwen/Qwen3-8B
    revision: v1.0.0
    local_dir: /data/models/Qwen3-8B
    ignore_patterns: ["*.pth", "original/*"]
    owner: vllm
    group: vllm
  vars:
    ansible_python_interpreter: /opt/llmops/venv/bin/python

- name: bge-m3 through a Hugging Face mirror, with a token from the vault
  llmops.vllm_stack.model_download:
    source: huggingface
    repo_id: BAAI/bge-m3
    revision: 5617a9f61b028005a4858fdac845db406aefb181
    local_dir: /data/models/bge-m3
    endpoint: https://hf-mirror.com
    disable_xet: true
    token: "{{ vault_hf_token }}"
  no_log: true

- name: Air-gapped host - only check the copy that was carried in
  llmops.vllm_stack.model_download:
    source: modelscope
    repo_id: Qwen/Qwen3-8B
    local_dir: /data/models/Qwen3-8B
    offline: true
    verify: full
"""

RETURN = r"""
local_dir:
  description: Absolute path of the model directory.
  returned: always
  type: str
  sample: /data/models/Qwen3-8B
manifest:
  description: Path of the manifest.
  returned: always
  type: str
  sample: /data/models/Qwen3-8B/.llmops_manifest.json
source:
  description: The hub.
  returned: always
  type: str
  sample: modelscope
repo_id:
  description: The repository.
  returned: always
  type: str
  sample: Qwen/Qwen3-8B
revision:
  description: The revision asked for (the default branch when none was given).
  returned: always
  type: str
  sample: master
commit:
  description: The commit the files were taken from, when the hub tells (Hugging Face), else null.
  returned: always
  type: str
  sample: 5617a9f61b028005a4858fdac845db406aefb181
client:
  description: The Python client and version that talked to the hub.
  returned: unless offline
  type: str
  sample: modelscope 1.40.2
files:
  description: Number of selected files.
  returned: always
  type: int
  sample: 11
bytes_total:
  description: Total size of the selected files.
  returned: always
  type: int
  sample: 16384523776
to_fetch:
  description: Files that were (or, in check mode, would be) fetched.
  returned: always
  type: list
  elements: str
  sample: [model-00002-of-00005.safetensors]
bytes_to_fetch:
  description: Total size of RV(to_fetch).
  returned: always
  type: int
  sample: 3963750880
reasons:
  description: Why each file of RV(to_fetch) is fetched (missing, size or hash mismatch).
  returned: unless offline
  type: dict
  sample: {"model-00002-of-00005.safetensors": "size 1048576 bytes, the hub lists 3963750880"}
downloaded:
  description: Files fetched by this run (empty in check mode and when nothing was needed).
  returned: always
  type: list
  elements: str
  sample: [model-00002-of-00005.safetensors]
bytes_downloaded:
  description: Total size of RV(downloaded) (bytes actually transferred can be fewer when a partial file resumed).
  returned: always
  type: int
  sample: 3963750880
refetched:
  description: Files that were present but truncated, corrupted or outdated, and were (or would be) fetched again.
  returned: always
  type: list
  elements: str
  sample: [model-00002-of-00005.safetensors]
adopted:
  description: Files already present but not in the manifest, accepted after their hash matched the hub's.
  returned: always
  type: list
  elements: str
  sample: [config.json]
verified_against:
  description: What the local files were compared with - C(hub) (no manifest yet), C(manifest), or C(index)
    (offline without a manifest).
  returned: always
  type: str
  sample: manifest
manifest_changed:
  description: Whether the manifest was (or, in check mode, would be) rewritten.
  returned: always
  type: bool
  sample: false
offline:
  description: Whether the run was offline.
  returned: always
  type: bool
  sample: false
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.llmops.vllm_stack.plugins.module_utils._hub import (
    DEFAULT_MIN_FREE_BYTES,
    HubError,
    MissingClient,
    client_environment,
    sync,
)


def _apply_ownership(module, local_dir, owner, group):
    """chown the tree (the clients write as the user running the module); True when anything changed."""
    if not (owner or group) or not os.path.isdir(local_dir):
        return False
    changed = False
    for root, dirs, files in os.walk(local_dir):
        for path in [root] + [os.path.join(root, name) for name in dirs + files]:
            if os.path.islink(path):
                continue
            if owner:
                changed = module.set_owner_if_different(path, owner, changed)
            if group:
                changed = module.set_group_if_different(path, group, changed)
    return changed


def main():
    module = AnsibleModule(
        argument_spec=dict(
            source=dict(type="str", required=True, choices=["huggingface", "modelscope"]),
            repo_id=dict(type="str", required=True),
            revision=dict(type="str"),
            allow_patterns=dict(type="list", elements="str", default=[]),
            ignore_patterns=dict(type="list", elements="str", default=[]),
            local_dir=dict(type="path", required=True),
            endpoint=dict(type="str"),
            token=dict(type="str", no_log=True),
            offline=dict(type="bool", default=False),
            resume=dict(type="bool", default=True),
            max_workers=dict(type="int", default=8),
            verify=dict(type="str", choices=["size", "full"], default="size"),
            disk_check=dict(type="bool", default=True),
            min_free_bytes=dict(type="int", default=DEFAULT_MIN_FREE_BYTES),
            disable_xet=dict(type="bool", default=False),
            owner=dict(type="str"),
            group=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["max_workers"] < 1:
        module.fail_json(msg=f"Downloading {params['repo_id']}: max_workers={params['max_workers']} is below 1 — use 1 or more")
    if params["min_free_bytes"] < 0:
        module.fail_json(msg=f"Downloading {params['repo_id']}: min_free_bytes is negative — use 0 or more")
    # The clients read these when they are first imported, which happens inside sync().
    for key, value in client_environment(params["source"], params["offline"], params["disable_xet"]).items():
        if key == "HF_HUB_DISABLE_XET":
            os.environ[key] = value
        else:
            os.environ.setdefault(key, value)

    try:
        result = sync(params, check_mode=module.check_mode)
    except MissingClient as exc:
        module.fail_json(
            msg=missing_required_lib(exc.package) + f" — install {exc.package} into the Python that runs this task "
            f"(model_download_pip_packages / ansible_python_interpreter); import error: {exc}",
        )
    except HubError as exc:
        module.fail_json(msg=str(exc))

    for warning in result.pop("warnings", []):
        module.warn(warning)
    if _apply_ownership(module, result["local_dir"], params["owner"], params["group"]):
        result["changed"] = True
    module.exit_json(**result)


if __name__ == "__main__":
    main()
