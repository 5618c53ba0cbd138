# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""model_download through main(), the way Ansible runs it, against tests/support/fake_hub.py."""
import collections
import grp
import json
import os
import pwd
import shutil
import sys

import pytest
from ansible.module_utils.common import warnings as ansible_warnings

pytest.importorskip("huggingface_hub", reason="pip install -r requirements-model-download.txt")
pytest.importorskip("modelscope", reason="pip install -r requirements-model-download.txt")
pytest.importorskip("safetensors", reason="pip install -r requirements-model-download.txt")

from ansible_collections.llmops.vllm_stack.plugins.modules import model_download  # noqa: E402

from ansible_module_runner import run_module as _run  # noqa: E402

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "support")))
from fake_hub import FakeHub, tiny_model_files  # noqa: E402  pylint: disable=wrong-import-position

FILES = tiny_model_files()
TOKEN = "hf_module_test_token_abcdef123456"
CLIENT_ENV = ("HF_HUB_DISABLE_PROGRESS_BARS", "HF_HUB_DISABLE_TELEMETRY", "TQDM_DISABLE", "HF_HUB_DISABLE_XET",
              "HF_HUB_OFFLINE")


@pytest.fixture(scope="module")
def hub():
    with FakeHub() as server:
        server.add_repo("acme/tiny", FILES, "main")
        server.add_repo("acme/tiny-ms", FILES, "master")
        yield server


@pytest.fixture(autouse=True)
def _isolate(hub, monkeypatch):
    hub.reset_log()
    hub.token = None
    # AnsibleModule collects warnings process-wide; one module run per process is what Ansible does.
    monkeypatch.setattr(ansible_warnings, "_global_warnings", {})
    saved = {key: os.environ.get(key) for key in CLIENT_ENV}
    yield
    for key, value in saved.items():  # main() sets these for the clients; keep them out of the other tests
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def run(args, check_mode=False):
    return _run(model_download.main, args, check_mode=check_mode)


def warning_texts(result):
    """ansible-core 2.19 returns warnings as WarningSummary dicts, older cores as strings."""
    return [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]


def hf_args(hub, local_dir, **extra):
    args = {"source": "huggingface", "repo_id": "acme/tiny", "revision": "main", "local_dir": str(local_dir),
            "endpoint": hub.url, "min_free_bytes": 0}
    args.update(extra)
    return args


def test_download_then_rerun_is_unchanged_and_the_token_never_shows(hub, tmp_path):
    hub.token = TOKEN
    local_dir = tmp_path / "tiny"
    first = run(hf_args(hub, local_dir, token=TOKEN))
    assert first.get("failed") is not True, first
    assert first["changed"] is True and first["files"] == len(FILES)
    assert sorted(first["downloaded"]) == sorted(FILES)
    assert first["commit"] == hub.repos["acme/tiny"].branches["main"]
    assert all((local_dir / p).read_bytes() == d for p, d in FILES.items())
    hub.reset_log()
    second = run(hf_args(hub, local_dir, token=TOKEN))
    assert second["changed"] is False and second["downloaded"] == [] and second["bytes_downloaded"] == 0
    assert hub.content_requests() == []
    for result in (first, second):
        assert TOKEN not in json.dumps(result)
        assert "token" not in result


def test_modelscope_download_through_the_module(hub, tmp_path):
    result = run({"source": "modelscope", "repo_id": "acme/tiny-ms", "revision": "master",
                  "local_dir": str(tmp_path / "ms"), "endpoint": hub.url, "min_free_bytes": 0,
                  "ignore_patterns": ["original/*"]})
    assert result["changed"] is True and result["commit"] is None
    assert sorted(result["downloaded"]) == sorted(p for p in FILES if not p.startswith("original/"))
    assert not (tmp_path / "ms" / "original").exists()


def test_check_mode_reports_bytes_and_writes_nothing(hub, tmp_path):
    local_dir = tmp_path / "tiny"
    result = run(hf_args(hub, local_dir, allow_patterns=["*.safetensors"]), check_mode=True)
    shards = sorted(p for p in FILES if p.endswith(".safetensors"))
    assert result["changed"] is True and sorted(result["to_fetch"]) == shards
    assert result["bytes_to_fetch"] == sum(len(FILES[p]) for p in shards)
    assert result["downloaded"] == [] and not local_dir.exists() and hub.content_requests() == []


def test_unpinned_revision_warns(hub, tmp_path, capfd):
    args = hf_args(hub, tmp_path / "tiny", allow_patterns=["config.json"])
    del args["revision"]
    result = run(args)
    assert result["revision"] == "main"
    # In a real run the warning comes back in the result. In this test process, once any controller-side ansible
    # module has been imported (e.g. by a filter plugin test), ansible-core prints module warnings straight to
    # stderr instead, so look in both places.
    texts = warning_texts(result) + capfd.readouterr().err.splitlines()
    assert any("revision is not set" in w and "Pin revision" in w for w in texts)


def test_missing_client_fails_with_missing_required_lib(hub, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    result = run(hf_args(hub, tmp_path / "tiny"))
    assert result["failed"] is True
    assert "Failed to import the required Python library (huggingface_hub)" in result["msg"]
    assert "ansible_python_interpreter" in result["msg"]
    assert hub.requests == []


def test_disk_refusal_fails_with_local_dir_and_numbers(hub, tmp_path, monkeypatch):
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 ** 6, 10 ** 6 - 4096, 4096))
    local_dir = tmp_path / "tiny"
    result = run(hf_args(hub, local_dir, min_free_bytes=1024))
    assert result["failed"] is True
    total = sum(len(d) for d in FILES.values())
    assert f"local_dir={local_dir}" in result["msg"] and f"({total} bytes)" in result["msg"]
    assert "min_free_bytes=1024" in result["msg"] and "4096 bytes" in result["msg"]
    assert hub.content_requests() == [] and not local_dir.exists()


def test_offline_seeded_dir_passes_and_a_missing_shard_fails_clearly(hub, tmp_path):
    online = tmp_path / "online"
    run(hf_args(hub, online))
    seeded = tmp_path / "seeded"
    shutil.copytree(online, seeded)
    hub.reset_log()
    offline = {"source": "huggingface", "repo_id": "acme/tiny", "local_dir": str(seeded), "offline": True,
               "verify": "full"}
    result = run(offline)
    assert result["changed"] is False and result["verified_against"] == "manifest" and warning_texts(result) == []
    (seeded / "model-00002-of-00002.safetensors").unlink()
    failed = run(offline)
    assert failed["failed"] is True
    assert "model-00002-of-00002.safetensors: missing" in failed["msg"] and f"local_dir={seeded}" in failed["msg"]
    assert hub.requests == []


def test_owner_and_group_are_applied_and_idempotent(hub, tmp_path):
    me = pwd.getpwuid(os.getuid()).pw_name
    my_group = grp.getgrgid(os.getgid()).gr_name
    local_dir = tmp_path / "tiny"
    run(hf_args(hub, local_dir, allow_patterns=["*.json"]))
    result = run(hf_args(hub, local_dir, allow_patterns=["*.json"], owner=me, group=my_group))
    assert result["changed"] is False
    bad = run(hf_args(hub, local_dir, allow_patterns=["*.json"], owner="no-such-user-llmops"))
    assert bad["failed"] is True and "no-such-user-llmops" in bad["msg"]


@pytest.mark.parametrize("args,needle", [
    ({"max_workers": 0}, "max_workers=0"),
    ({"min_free_bytes": -1}, "min_free_bytes is negative"),
    ({"source": "github"}, "value of source must be one of"),
    ({"verify": "sometimes"}, "value of verify must be one of"),
])
def test_bad_arguments_fail_before_any_request(hub, tmp_path, args, needle):
    result = run(hf_args(hub, tmp_path / "tiny", **args))
    assert result["failed"] is True and needle in result["msg"]
    assert hub.requests == []
