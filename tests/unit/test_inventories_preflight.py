# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployment inventories (inventories/seed-*) against their hardware, with the real playbooks and modules.

Every directory ``inventories/seed-*`` is picked up, so inventories added later are tested without editing this
file. An inventory names the saved gpu_info result that describes its GPUs in ``preflight_fixture.txt`` (first line
that is not a comment: a file name under tests/fixtures/gpu_info, with or without ``.json``; Ansible ignores
``*.txt`` in an inventory directory). Each host of the inventory is then planned against that fixture:

    ansible-playbook -i inventories/<name> playbooks/preflight.yml -e llmops_gpu_info_fixture=<fixture> \
        -e ansible_connection=local -e ansible_become=false -e ansible_python_interpreter=<this python>

Inventories without the file are skipped by the preflight tests and still get the syntax, tag and consistency
checks. Secrets are never needed: the inventories reference vault variables that preflight does not read.
"""
import functools
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from ansible_collections.llmops.vllm_stack.plugins.module_utils import _dify_api
from ansible_collections.llmops.vllm_stack.plugins.module_utils import _vllm_service

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INVENTORIES = os.path.join(ROOT, "inventories")
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "gpu_info")
PREFLIGHT = os.path.join(ROOT, "playbooks", "preflight.yml")
SITE = os.path.join(ROOT, "site.yml")
SEED000 = "seed-000-4xA10-dify"
SEED000_AS_WRITTEN = os.path.join(ROOT, "tests", "integration", "preflight", "seed000-as-written", "hosts.yml")
BIN = os.path.dirname(sys.executable)
ANSIBLE_PLAYBOOK = os.path.join(BIN, "ansible-playbook")
ANSIBLE_INVENTORY = os.path.join(BIN, "ansible-inventory")
if not os.path.exists(ANSIBLE_PLAYBOOK):
    ANSIBLE_PLAYBOOK = shutil.which("ansible-playbook")
    ANSIBLE_INVENTORY = shutil.which("ansible-inventory")

pytestmark = pytest.mark.skipif(not ANSIBLE_PLAYBOOK, reason="ansible-playbook is not installed")

# Overrides that plan a remote host from the controller: no SSH, no sudo, the test's own Python.
LOCAL = ["-e", "ansible_connection=local", "-e", "ansible_become=false",
         "-e", "ansible_python_interpreter=%s" % sys.executable]
ROLE_TAGS = ["preflight", "os_baseline", "nouveau", "nvidia_driver", "cuda_toolkit", "conda", "model_download",
             "docker", "nvidia_container_toolkit", "vllm", "dify", "validate"]
# inventory keys that hold secrets (word match: max_num_batched_tokens is not a token)
SECRET_KEY = re.compile(r"(^|_)(password|passwd|api_key|token|secret|secret_key)($|_)")
VAULT_REF = re.compile(r"^\{\{\s*vault_[A-Za-z0-9_]+\s*\}\}$")
PLACEHOLDER_KEY = "k" * 24


def seed_inventories():
    if not os.path.isdir(INVENTORIES):
        return []
    return sorted(name for name in os.listdir(INVENTORIES)
                  if name.startswith("seed-") and os.path.isdir(os.path.join(INVENTORIES, name)))


SEEDS = seed_inventories()


def fixture_of(name):
    """Path of the gpu_info fixture an inventory names in preflight_fixture.txt, or None."""
    path = os.path.join(INVENTORIES, name, "preflight_fixture.txt")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        lines = [line.strip() for line in handle if line.strip() and not line.lstrip().startswith("#")]
    assert lines, "%s names no fixture" % path
    fixture = lines[0] if lines[0].endswith(".json") else lines[0] + ".json"
    fixture = os.path.join(FIXTURES, fixture)
    assert os.path.exists(fixture), "%s names %s, which does not exist" % (path, fixture)
    return fixture


def run(tool, *args):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", PY_COLORS="0", ANSIBLE_LOCALHOST_WARNING="0")
    proc = subprocess.run([tool] + list(args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    return proc.returncode, proc.stdout + proc.stderr


def preflight(name, *extra):
    fixture = fixture_of(name)
    if fixture is None:
        pytest.skip("inventories/%s has no preflight_fixture.txt" % name)
    return run(ANSIBLE_PLAYBOOK, "-i", os.path.join(INVENTORIES, name), PREFLIGHT,
               "-e", "llmops_gpu_info_fixture=%s" % fixture, *(LOCAL + list(extra)))


@functools.lru_cache(maxsize=None)
def hostvars(name):
    """{host: variables} as the inventory defines them (templates unrendered)."""
    rc, out = run(ANSIBLE_INVENTORY, "-i", os.path.join(INVENTORIES, name), "--list")
    assert rc == 0, out
    return json.loads(out[out.index("{"):])["_meta"]["hostvars"]


def resolved(hvars, value):
    """A value that is only "{{ other_var }}" is that variable (as Ansible would render it); else the value."""
    match = re.match(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$", value) if isinstance(value, str) else None
    return hvars.get(match.group(1), value) if match else value


def services_of(hvars):
    return resolved(hvars, hvars.get("vllm_services", []))


def gpu_rows(out):
    """{index: line} of the per-GPU table lines in the playbook output."""
    rows = {}
    for line in out.splitlines():
        match = re.match(r"^\s+(\d+)  \S.*\s\d+\.\d\d\s", line)
        if match:
            rows[int(match.group(1))] = line.strip()
    return rows


# --------------------------------------------------------------------------------------------- preflight
@pytest.mark.parametrize("name", SEEDS)
def test_inventory_passes_preflight_on_its_hardware_and_prints_the_gpu_table(name):
    rc, out = preflight(name)
    assert rc == 0, out
    with open(fixture_of(name), encoding="utf-8") as handle:
        gpus = json.load(handle)["gpus"]
    assert "GPU  NAME" in out and "SUM+USED+CTX  HEADROOM GiB" in out
    rows = gpu_rows(out)
    for gpu in gpus:
        assert gpu["index"] in rows and gpu["name"] in rows[gpu["index"]], out
    for host, hvars in hostvars(name).items():
        assert re.search(r"^%s\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0" % re.escape(host), out, re.M), out
        # single-node services are budgeted on their GPUs (multi-node ones are checked across the Ray nodes)
        for svc in services_of(hvars):
            if int(svc.get("nodes") or 1) > 1:
                continue
            for index in svc.get("gpus", []):
                assert svc["name"] in rows[index], "%s not on GPU %s:\n%s" % (svc["name"], index, out)


def test_seed000_as_the_blog_writes_it_is_refused_naming_tensor_parallel_size():
    """The blog's services (TP=3 on GPUs 0-2, embeddings 0.75 + 0.20 on GPU 3) in the real seed-000 inventory."""
    with open(SEED000_AS_WRITTEN, encoding="utf-8") as handle:
        as_written = yaml.safe_load(handle)["all"]["hosts"]["seed000-a10x4"]["vllm_services"]
    assert [s["tensor_parallel_size"] for s in as_written if "tensor_parallel_size" in s] == [3]
    rc, out = preflight(SEED000, "-e", json.dumps({"vllm_services": as_written}))
    assert rc != 0
    assert "The vLLM plan of llm-a10-01 has 1 problem(s); nothing was changed." in out
    assert ("- vllm_services[0].tensor_parallel_size (deepseek-r1-32b): Total number of attention heads (40) must "
            "be divisible by tensor parallel size (3).") in out
    assert "use a tensor_parallel_size the model allows (1, 2, 4)" in out
    assert re.search(r"llm-a10-01\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=1", out), out


def test_seed000_alternative_tp2_fp8_plan_fits_and_leaves_gpu2_free():
    hvars = hostvars(SEED000)["llm-a10-01"]
    alternative = hvars["seed000_vllm_services_tp2_fp8"]
    assert alternative[0]["tensor_parallel_size"] == 2 and alternative[0]["quantization"] == "fp8"
    rc, out = preflight(SEED000, "-e", json.dumps({"vllm_services": "{{ seed000_vllm_services_tp2_fp8 }}"}))
    assert rc == 0, out
    rows = gpu_rows(out)
    assert "deepseek-r1-32b 0.95" in rows[0] and "deepseek-r1-32b 0.95" in rows[1]
    assert re.search(r"\s-\s+-\s+22\.19$", rows[2]), rows[2]
    assert "bge-m3 0.07, bge-reranker 0.07" in rows[3]


# --------------------------------------------------------------------------------------------- site.yml
@pytest.mark.parametrize("name", SEEDS)
def test_site_syntax_check(name):
    rc, out = run(ANSIBLE_PLAYBOOK, "-i", os.path.join(INVENTORIES, name), SITE, "--syntax-check")
    assert rc == 0, out


@pytest.mark.parametrize("name", SEEDS)
def test_site_lists_a_tag_per_role(name):
    rc, out = run(ANSIBLE_PLAYBOOK, "-i", os.path.join(INVENTORIES, name), SITE, "--list-tags")
    assert rc == 0, out
    tags = set(re.findall(r"[A-Za-z0-9_]+", " ".join(re.findall(r"TAGS: \[([^\]]*)\]", out))))
    assert set(ROLE_TAGS) <= tags, sorted(set(ROLE_TAGS) - tags)


# --------------------------------------------------------------------------------------------- consistency
def _walk(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, "%s.%s" % (path, key) if path else str(key))
            yield path, key, value
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, "%s[%d]" % (path, index))


@pytest.mark.parametrize("name", SEEDS)
def test_secrets_are_only_vault_references(name):
    found = 0
    for folder, dummy, files in os.walk(os.path.join(INVENTORIES, name)):
        for file_name in files:
            if not file_name.endswith((".yml", ".yaml")):
                continue
            path = os.path.join(folder, file_name)
            with open(path, encoding="utf-8") as handle:
                data = yaml.safe_load(handle)
            for where, key, value in _walk(data):
                if isinstance(key, str) and SECRET_KEY.search(key) and not isinstance(value, (dict, list)):
                    found += 1
                    assert value in ("", None) or (isinstance(value, str) and VAULT_REF.match(value)), (
                        "%s: %s.%s holds a literal; reference a vault variable instead" % (path, where, key))
    # every deployment inventory guards its vLLM services with an API key at least
    assert found > 0, "inventories/%s sets no secret at all (vllm_api_key?)" % name


@pytest.mark.parametrize("name", SEEDS)
def test_services_models_and_dify_agree(name):
    """What the vllm, model_download and dify roles check at run time, checked on the inventory itself."""
    for host, hvars in hostvars(name).items():
        if not hvars.get("vllm_enabled", True):
            continue
        services = services_of(hvars)
        api_key = hvars.get("vllm_api_key", "")
        api_key = PLACEHOLDER_KEY if isinstance(api_key, str) and VAULT_REF.match(api_key) else api_key
        problems = _vllm_service.problems(services, profile=hvars.get("vllm_profile", "gpu"), default_api_key=api_key)
        assert problems == [], "%s: %s" % (host, problems)
        if hvars.get("model_download_enabled", True) and hvars.get("model_download_models"):
            downloads = {m["local_dir"]: m for m in hvars["model_download_models"]}
            for svc in services:
                if not svc["model"].startswith("/"):
                    continue
                assert svc["model"] in downloads, "%s: %s is not a model_download_models local_dir" % (
                    host, svc["model"])
                repo = (svc.get("download") or {}).get("repo_id")
                assert repo in (None, downloads[svc["model"]]["repo_id"]), (host, svc["name"], repo)
        if hvars.get("dify_enabled") and hvars.get("dify_models"):
            models = _dify_api.resolve_models(hvars["dify_models"], services,
                                              endpoint_host=hvars.get("ansible_host", "192.0.2.1"),
                                              api_key=PLACEHOLDER_KEY)
            _dify_api.default_models_for(models, hvars.get("dify_default_models") or {})


def test_seed000_dify_registers_the_llm_the_embedder_and_the_reranker():
    hvars = hostvars(SEED000)["llm-a10-01"]
    models = _dify_api.resolve_models(hvars["dify_models"], hvars["vllm_services"],
                                      endpoint_host=hvars["ansible_host"], api_key=PLACEHOLDER_KEY)
    assert [(m["model"], m["model_type"], m["credentials"]["endpoint_url"]) for m in models] == [
        ("deepseek-r1-distill-qwen-32b", "llm", "http://192.0.2.10:8000/v1"),
        ("bge-m3", "text-embedding", "http://192.0.2.10:8001/v1"),
        ("bge-reranker-v2-m3", "rerank", "http://192.0.2.10:8002/v1"),
    ]
    assert models[0]["credentials"]["context_size"] == "16384"
    # the GPU chain and Dify both run on the one server; the container toolkit is not needed there
    assert hvars["nvidia_driver_enabled"] and hvars["vllm_enabled"] and hvars["dify_enabled"]
    assert not hvars["nvidia_container_toolkit_enabled"]
