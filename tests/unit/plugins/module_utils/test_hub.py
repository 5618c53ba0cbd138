# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_hub: planning, manifest and verification, driven through the REAL huggingface_hub / modelscope clients
against tests/support/fake_hub.py (the real hubs are unreachable here)."""
import collections
import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("huggingface_hub", reason="pip install -r requirements-model-download.txt")
pytest.importorskip("modelscope", reason="pip install -r requirements-model-download.txt")
pytest.importorskip("safetensors", reason="pip install -r requirements-model-download.txt")

from ansible_collections.llmops.vllm_stack.plugins.module_utils import _hub  # noqa: E402

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "support")))
from fake_hub import FakeHub, git_blob_id, tiny_model_files  # noqa: E402  pylint: disable=wrong-import-position

FILES = tiny_model_files()
SHARDS = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
REPO = {"huggingface": "acme/tiny-qwen2", "modelscope": "acme/tiny-qwen2-ms"}
BRANCH = {"huggingface": "main", "modelscope": "master"}
SOURCES = ["huggingface", "modelscope"]


@pytest.fixture(scope="module")
def hub():
    with FakeHub() as server:
        for source in SOURCES:
            server.add_repo(REPO[source], FILES, BRANCH[source])
        yield server


@pytest.fixture(autouse=True)
def _clean_log(hub):
    hub.reset_log()
    hub.token = None
    hub.corrupt.clear()
    yield


@pytest.fixture(autouse=True)
def _no_integrity_backoff(monkeypatch):
    # modelscope retries a hash mismatch after 1 s, 2 s ...; the tests do not need to wait.
    import modelscope_hub._download as ms_download  # pylint: disable=import-outside-toplevel
    monkeypatch.setattr(ms_download, "DOWNLOAD_INTEGRITY_RETRY_BACKOFF", 0.0)


def params(source, local_dir, hub, **extra):
    base = {"source": source, "repo_id": REPO[source], "revision": BRANCH[source], "local_dir": str(local_dir),
            "endpoint": hub.url, "min_free_bytes": 0, "max_workers": 4}
    base.update(extra)
    return base


def disk_files(local_dir):
    out = {}
    for root, dirs, files in os.walk(local_dir):
        dirs[:] = [d for d in dirs if d != ".cache"]
        for name in files:
            if name == _hub.MANIFEST_NAME:
                continue
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                out[os.path.relpath(path, local_dir)] = handle.read()
    return out


# ---------------------------------------------------------------------------------------------------------------
# Pure helpers, checked against the clients' own code where the clients define the behaviour
# ---------------------------------------------------------------------------------------------------------------
PATTERN_CASES = [
    ([], []),
    (["*.json"], []),
    (["*.safetensors", "*.json"], ["original/*"]),
    ([], ["*.pth", "original/*"]),
    (["original/"], []),
    (["extra/*"], []),
    (["*.safetensors,*.json"], []),  # modelscope splits on commas, huggingface_hub does not
    ([".*\\.json"], []),  # legacy regex-ish pattern modelscope still accepts
]


@pytest.mark.parametrize("allow,ignore", PATTERN_CASES)
def test_select_files_agrees_with_huggingface_hub_filter(allow, ignore):
    from huggingface_hub.utils import filter_repo_objects  # pylint: disable=import-outside-toplevel

    expected = list(filter_repo_objects(sorted(FILES), allow_patterns=allow or None, ignore_patterns=ignore or None))
    assert _hub.select_files("huggingface", sorted(FILES), allow, ignore) == expected


@pytest.mark.parametrize("allow,ignore", PATTERN_CASES)
def test_select_files_agrees_with_modelscope_filter(allow, ignore):
    from modelscope_hub._download import _matches_patterns  # pylint: disable=import-outside-toplevel
    from modelscope_hub.utils.patterns import normalize_patterns  # pylint: disable=import-outside-toplevel

    inc, exc = normalize_patterns(allow or None), normalize_patterns(ignore or None)
    expected = [p for p in sorted(FILES)
                if not (inc and not _matches_patterns(p, inc)) and not (exc and _matches_patterns(p, exc))]
    assert _hub.select_files("modelscope", sorted(FILES), allow, ignore) == expected


@pytest.mark.parametrize("path", ["config.json", "extra/notes[1].txt", "odd*name?.bin", "a/b/c.safetensors"])
def test_literal_pattern_matches_only_its_path(path):
    pattern = _hub.literal_pattern(path)
    others = [p for p in list(FILES) + ["odd-name-.bin", "extra/notes1.txt", "a/b/cXsafetensors"] if p != path]
    assert _hub.select_files("huggingface", others + [path], [pattern]) == [path]
    assert _hub.select_files("modelscope", others + [path], [pattern]) == [path]


def test_file_digests_are_sha256_and_the_git_blob_id(tmp_path):
    data = FILES["config.json"]
    path = tmp_path / "config.json"
    path.write_bytes(data)
    sha256, oid = _hub.file_digests(str(path))
    assert sha256 == hashlib.sha256(data).hexdigest()
    assert oid == git_blob_id(data)
    if shutil.which("git"):
        assert oid == subprocess.run(["git", "hash-object", str(path)], check=True, capture_output=True,
                                     text=True).stdout.strip()


@pytest.mark.parametrize("source,revision,offline,expected,warns", [
    ("huggingface", None, False, "main", True),
    ("modelscope", None, False, "master", True),
    ("huggingface", "v1.0", False, "v1.0", False),
    ("modelscope", None, True, None, False),
])
def test_unpinned_revision_uses_the_default_branch_and_warns(source, revision, offline, expected, warns):
    resolved, warnings = _hub.resolve_revision(source, revision, offline)
    assert resolved == expected
    assert bool(warnings) is warns
    if warns:
        assert "not set" in warnings[0] and expected in warnings[0]


class FakeUsage:
    def __init__(self, free):
        self.free = free
        self.asked = []

    def __call__(self, path):
        self.asked.append(path)
        return collections.namedtuple("usage", "total used free")(self.free * 2, self.free, self.free)


def test_disk_problem_measures_the_nearest_existing_parent_and_names_the_numbers(tmp_path):
    usage = FakeUsage(free=5 * 1024 ** 3)
    target = tmp_path / "not" / "yet" / "there"
    assert _hub.disk_problem(str(target), 3 * 1024 ** 3, 1024 ** 3, disk_usage=usage) is None
    assert usage.asked == [str(tmp_path)]
    message = _hub.disk_problem(str(target), 5 * 1024 ** 3, 1024 ** 3, disk_usage=usage)
    assert f"local_dir={target}" in message
    assert str(5 * 1024 ** 3) in message and "min_free_bytes=1073741824" in message and "5.0 GiB" in message
    # bytes of bad copies removed before the download count as free
    assert _hub.disk_problem(str(target), 5 * 1024 ** 3, 1024 ** 3, bytes_freed=1024 ** 3, disk_usage=usage) is None
    assert _hub.disk_problem(str(target), 0, 10 ** 15, disk_usage=usage) is None


def test_manifest_is_written_once_and_not_rewritten_when_equal(tmp_path):
    snap = _hub.Snapshot("huggingface", "a/b", "main", "0" * 40, "http://x", [])
    manifest = _hub.build_manifest(snap, {"config.json": {"size": 3, "sha256": "ab"}}, ["*.json"], [])
    assert _hub.write_manifest(str(tmp_path), manifest) is True
    mtime = os.stat(_hub.manifest_path(str(tmp_path))).st_mtime_ns
    assert _hub.write_manifest(str(tmp_path), manifest) is False
    assert os.stat(_hub.manifest_path(str(tmp_path))).st_mtime_ns == mtime
    assert _hub.read_manifest(str(tmp_path)) == manifest
    assert oct(os.stat(_hub.manifest_path(str(tmp_path))).st_mode & 0o777) == "0o644"
    (tmp_path / _hub.MANIFEST_NAME).write_text("not json")
    assert _hub.read_manifest(str(tmp_path)) is None


def _seed(local_dir, files):
    for path, data in files.items():
        target = local_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _remote(path, lfs):
    data = FILES[path]
    if lfs:
        return _hub.RemoteFile(path, len(data), sha256=hashlib.sha256(data).hexdigest())
    return _hub.RemoteFile(path, len(data), oid=git_blob_id(data))


class CountingHash:
    def __init__(self):
        self.paths = []

    def __call__(self, path):
        self.paths.append(os.path.basename(path))
        return _hub.file_digests(path)


def test_plan_trusts_manifest_sizes_reads_nothing_and_hashes_with_verify_full(tmp_path):
    remote = [_remote("config.json", False), _remote(SHARDS[0], True)]
    _seed(tmp_path, {r.path: FILES[r.path] for r in remote})
    snap = _hub.Snapshot("huggingface", "a/b", "main", "0" * 40, None, remote)
    first = _hub.plan_sync(snap, str(tmp_path), None)
    assert first.to_fetch == [] and sorted(first.adopted) == sorted(r.path for r in remote)
    manifest = _hub.build_manifest(snap, first.entries, [], [])

    counting = CountingHash()
    size_plan = _hub.plan_sync(snap, str(tmp_path), manifest, "size", counting)
    assert size_plan.to_fetch == [] and size_plan.adopted == [] and counting.paths == []

    # same-size corruption: invisible to verify=size, caught by verify=full
    corrupted = bytearray(FILES[SHARDS[0]])
    corrupted[100] ^= 0xFF
    (tmp_path / SHARDS[0]).write_bytes(bytes(corrupted))
    assert _hub.plan_sync(snap, str(tmp_path), manifest, "size").to_fetch == []
    full = _hub.plan_sync(snap, str(tmp_path), manifest, "full", counting)
    assert [f.path for f in full.to_fetch] == [SHARDS[0]] and full.refetch == [SHARDS[0]]
    assert "sha256" in full.reasons[SHARDS[0]]
    assert sorted(counting.paths) == sorted(["config.json", SHARDS[0]])


def test_plan_refetches_truncated_missing_and_wrong_unrecorded_files(tmp_path):
    remote = [_remote("config.json", False), _remote("tokenizer.json", False), _remote(SHARDS[1], True)]
    _seed(tmp_path, {"config.json": FILES["config.json"][:-5], "tokenizer.json": FILES["tokenizer.json"][::-1]})
    snap = _hub.Snapshot("huggingface", "a/b", "main", "0" * 40, None, remote)
    plan = _hub.plan_sync(snap, str(tmp_path), None)
    assert sorted(f.path for f in plan.to_fetch) == sorted(["config.json", "tokenizer.json", SHARDS[1]])
    assert sorted(plan.refetch) == ["config.json", "tokenizer.json"]
    assert plan.reasons[SHARDS[1]] == "missing"
    assert "size" in plan.reasons["config.json"] and "git blob id" in plan.reasons["tokenizer.json"]
    assert plan.bytes_to_fetch == sum(r.size for r in remote)


def test_plan_ignores_a_manifest_of_another_repository(tmp_path):
    remote = [_remote("config.json", False)]
    _seed(tmp_path, {"config.json": FILES["config.json"]})
    snap = _hub.Snapshot("huggingface", "a/b", "main", "0" * 40, None, remote)
    other = {"source": "huggingface", "repo_id": "other/repo", "files": {"config.json": {"size": 1, "sha256": "x"}}}
    plan = _hub.plan_sync(snap, str(tmp_path), other)
    assert plan.adopted == ["config.json"] and plan.to_fetch == []


# ---------------------------------------------------------------------------------------------------------------
# Real clients against the fake hub
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("source", SOURCES)
def test_download_fetches_every_file_verifies_and_writes_the_manifest(source, hub, tmp_path):
    local_dir = tmp_path / "model"
    result = _hub.sync(params(source, local_dir, hub))
    assert result["changed"] is True and result["manifest_changed"] is True
    assert disk_files(local_dir) == FILES
    assert sorted(result["downloaded"]) == sorted(FILES)
    assert result["bytes_downloaded"] == result["bytes_total"] == sum(len(d) for d in FILES.values())
    assert result["files"] == len(FILES) and result["refetched"] == []
    assert sorted(hub.content_paths()) == sorted(FILES)
    manifest = json.loads((local_dir / _hub.MANIFEST_NAME).read_text())
    assert manifest["repo_id"] == REPO[source] and manifest["source"] == source
    assert manifest["revision"] == BRANCH[source]
    repo = hub.repos[REPO[source]]
    assert manifest["commit"] == (repo.branches[BRANCH[source]] if source == "huggingface" else None)
    assert result["commit"] == manifest["commit"]
    assert manifest["files"] == {
        p: dict({"size": len(d), "sha256": hashlib.sha256(d).hexdigest()},
                **({"oid": git_blob_id(d)} if source == "huggingface" and p not in repo.lfs else {}))
        for p, d in FILES.items()}


def test_huggingface_fetches_at_the_resolved_commit_and_lfs_bytes_come_from_the_cdn(hub, tmp_path):
    _hub.sync(params("huggingface", tmp_path / "m", hub))
    commit = hub.repos[REPO["huggingface"]].branches["main"]
    resolves = [r for r in hub.requests if "/resolve/" in r["path"]]
    assert resolves and all(f"/resolve/{commit}/" in r["path"] for r in resolves)
    cdn = [r["file"] for r in hub.content_requests() if r["server"] == "cdn"]
    assert sorted(cdn) == sorted(p for p in FILES if p.endswith((".safetensors", ".pth")))


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("allow,ignore,expected", [
    (["*.json"], [], sorted(p for p in FILES if p.endswith(".json"))),
    ([], ["*.pth", "original/*", "extra/*"], sorted(p for p in FILES if not p.startswith(("original/", "extra/")))),
    (["*.safetensors", "config.json"], [], sorted(SHARDS + ["config.json"])),
    (["extra/*"], [], ["extra/notes[1].txt"]),
])
def test_patterns_select_what_the_client_fetches(source, allow, ignore, expected, hub, tmp_path):
    local_dir = tmp_path / "m"
    result = _hub.sync(params(source, local_dir, hub, allow_patterns=allow, ignore_patterns=ignore))
    assert sorted(disk_files(local_dir)) == expected
    assert sorted(result["downloaded"]) == expected and result["files"] == len(expected)
    assert hub.content_paths() == expected
    manifest = _hub.read_manifest(str(local_dir))
    assert sorted(manifest["files"]) == expected
    assert manifest["allow_patterns"] == allow and manifest["ignore_patterns"] == ignore


@pytest.mark.parametrize("source", SOURCES)
def test_patterns_that_match_nothing_fail_before_any_transfer(source, hub, tmp_path):
    with pytest.raises(_hub.HubError, match="none of its 11 files matches"):
        _hub.sync(params(source, tmp_path / "m", hub, allow_patterns=["*.gguf"]))
    assert hub.content_requests() == [] and not (tmp_path / "m").exists()


@pytest.mark.parametrize("source", SOURCES)
def test_second_run_lists_once_transfers_nothing_and_reads_no_file(source, hub, tmp_path):
    local_dir = tmp_path / "m"
    _hub.sync(params(source, local_dir, hub))
    manifest_mtime = os.stat(_hub.manifest_path(str(local_dir))).st_mtime_ns
    hub.reset_log()
    counting = CountingHash()
    result = _hub.sync(params(source, local_dir, hub), hash_file=counting)
    assert result["changed"] is False and result["manifest_changed"] is False
    assert result["downloaded"] == [] and result["to_fetch"] == [] and result["bytes_downloaded"] == 0
    assert result["verified_against"] == "manifest"
    assert hub.content_requests() == []
    assert [r for r in hub.requests if r["kind"] != "api"] == []  # not even a HEAD
    assert len(hub.requests) == 1  # the one listing
    assert counting.paths == []
    assert os.stat(_hub.manifest_path(str(local_dir))).st_mtime_ns == manifest_mtime


@pytest.mark.parametrize("source", SOURCES)
def test_truncated_file_is_refetched_alone(source, hub, tmp_path):
    local_dir = tmp_path / "m"
    _hub.sync(params(source, local_dir, hub))
    with open(local_dir / SHARDS[1], "r+b") as handle:
        handle.truncate(1000)
    hub.reset_log()
    result = _hub.sync(params(source, local_dir, hub))
    assert result["changed"] is True
    assert result["refetched"] == [SHARDS[1]] and result["downloaded"] == [SHARDS[1]]
    assert result["bytes_downloaded"] == len(FILES[SHARDS[1]])
    assert hub.content_paths() == [SHARDS[1]]
    assert disk_files(local_dir) == FILES


@pytest.mark.parametrize("source", SOURCES)
def test_same_size_corruption_needs_verify_full_and_only_that_file_is_fetched(source, hub, tmp_path):
    local_dir = tmp_path / "m"
    _hub.sync(params(source, local_dir, hub))
    data = bytearray((local_dir / "tokenizer.json").read_bytes())
    data[10] = ord("#")
    (local_dir / "tokenizer.json").write_bytes(bytes(data))
    hub.reset_log()
    assert _hub.sync(params(source, local_dir, hub))["changed"] is False
    result = _hub.sync(params(source, local_dir, hub, verify="full"))
    assert result["refetched"] == ["tokenizer.json"] and hub.content_paths() == ["tokenizer.json"]
    assert disk_files(local_dir) == FILES


@pytest.mark.parametrize("source", SOURCES)
def test_missing_file_is_fetched_and_a_deleted_manifest_is_rebuilt_by_hashing(source, hub, tmp_path):
    local_dir = tmp_path / "m"
    _hub.sync(params(source, local_dir, hub))
    (local_dir / "config.json").unlink()
    (local_dir / _hub.MANIFEST_NAME).unlink()
    hub.reset_log()
    result = _hub.sync(params(source, local_dir, hub))
    assert result["downloaded"] == ["config.json"] and result["refetched"] == []
    assert sorted(result["adopted"]) == sorted(p for p in FILES if p != "config.json")
    assert hub.content_paths() == ["config.json"]
    assert sorted(_hub.read_manifest(str(local_dir))["files"]) == sorted(FILES)


@pytest.mark.parametrize("source", SOURCES)
def test_check_mode_reports_files_and_bytes_and_writes_nothing(source, hub, tmp_path):
    local_dir = tmp_path / "m"
    result = _hub.sync(params(source, local_dir, hub, ignore_patterns=["original/*"]), check_mode=True)
    expected = sorted(p for p in FILES if not p.startswith("original/"))
    assert result["changed"] is True
    assert sorted(result["to_fetch"]) == expected
    assert result["bytes_to_fetch"] == sum(len(FILES[p]) for p in expected) == result["bytes_total"]
    assert result["downloaded"] == [] and result["bytes_downloaded"] == 0
    assert not local_dir.exists()
    assert hub.content_requests() == []
    # after a real run, check mode reports a truncated file and leaves it as it is
    _hub.sync(params(source, local_dir, hub, ignore_patterns=["original/*"]))
    (local_dir / "config.json").write_bytes(b"{}")
    hub.reset_log()
    result = _hub.sync(params(source, local_dir, hub, ignore_patterns=["original/*"]), check_mode=True)
    assert result["changed"] is True and result["to_fetch"] == ["config.json"] and result["refetched"] == ["config.json"]
    assert result["bytes_to_fetch"] == len(FILES["config.json"])
    assert (local_dir / "config.json").read_bytes() == b"{}" and hub.content_requests() == []


def test_huggingface_moved_branch_fetches_only_changed_files_and_a_pinned_commit_stays(hub, tmp_path):
    repo = hub.add_repo("acme/moving", FILES, "main")
    old_commit = repo.branches["main"]
    pinned, moving = tmp_path / "pinned", tmp_path / "moving"
    _hub.sync(params("huggingface", pinned, hub, repo_id="acme/moving", revision=old_commit))
    _hub.sync(params("huggingface", moving, hub, repo_id="acme/moving"))
    new_config = FILES["config.json"].replace(b'"vocab_size": 64', b'"vocab_size": 65')
    new_commit = repo.push(dict(FILES, **{"config.json": new_config}), "main")
    hub.reset_log()
    assert _hub.sync(params("huggingface", pinned, hub, repo_id="acme/moving", revision=old_commit))["changed"] is False
    result = _hub.sync(params("huggingface", moving, hub, repo_id="acme/moving"))
    assert result["changed"] is True and result["commit"] == new_commit
    assert result["downloaded"] == ["config.json"] and result["refetched"] == ["config.json"]
    assert hub.content_paths() == ["config.json"]
    assert (moving / "config.json").read_bytes() == new_config
    assert (pinned / "config.json").read_bytes() == FILES["config.json"]
    assert _hub.read_manifest(str(moving))["commit"] == new_commit


@pytest.mark.parametrize("source", SOURCES)
def test_unknown_revision_fails_with_what_to_change(source, hub, tmp_path):
    with pytest.raises(_hub.HubError) as err:
        _hub.sync(params(source, tmp_path / "m", hub, revision="no-such-tag"))
    assert f"{source}:{REPO[source]}@no-such-tag" in str(err.value)
    assert "check repo_id, revision, endpoint and token" in str(err.value)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("source", SOURCES)
def test_content_that_does_not_match_the_listing_is_rejected(source, hub, tmp_path):
    # huggingface_hub checks only the size, so our verification catches it; modelscope checks SHA-256 itself.
    data = bytearray(FILES[SHARDS[0]])
    data[200] ^= 0xFF
    hub.corrupt[SHARDS[0]] = bytes(data)
    local_dir = tmp_path / "m"
    with pytest.raises(_hub.HubError) as err:
        _hub.sync(params(source, local_dir, hub))
    assert SHARDS[0] in str(err.value)
    assert not (local_dir / _hub.MANIFEST_NAME).exists()
    hub.corrupt.clear()
    hub.reset_log()
    result = _hub.sync(params(source, local_dir, hub))
    assert SHARDS[0] in result["downloaded"] and disk_files(local_dir) == FILES


def test_modelscope_resumes_a_partial_file_with_a_range_request(hub, tmp_path):
    local_dir = tmp_path / "m"
    local_dir.mkdir()
    (local_dir / (SHARDS[0] + ".incomplete")).write_bytes(FILES[SHARDS[0]][:2000])
    _hub.sync(params("modelscope", local_dir, hub, allow_patterns=[SHARDS[0]]))
    ranges = [r["headers"].get("range") for r in hub.content_requests()]
    assert ranges == ["bytes=2000-"]
    assert (local_dir / SHARDS[0]).read_bytes() == FILES[SHARDS[0]]
    assert not (local_dir / (SHARDS[0] + ".incomplete")).exists()


def test_resume_false_discards_partial_files(hub, tmp_path):
    local_dir = tmp_path / "m"
    local_dir.mkdir()
    (local_dir / (SHARDS[0] + ".incomplete")).write_bytes(b"garbage that is not a prefix")
    _hub.sync(params("modelscope", local_dir, hub, allow_patterns=[SHARDS[0]], resume=False))
    assert [r["headers"].get("range") for r in hub.content_requests()] == [None]
    assert (local_dir / SHARDS[0]).read_bytes() == FILES[SHARDS[0]]


@pytest.mark.parametrize("source", SOURCES)
def test_token_reaches_the_hub_but_not_the_cdn_or_the_result(source, hub, tmp_path):
    hub.token = "hf_secret_token_1234567890" if source == "huggingface" else "ms-secret-token-1234567890"
    with pytest.raises(_hub.HubError, match="token"):
        _hub.sync(params(source, tmp_path / "denied", hub))
    hub.reset_log()
    local_dir = tmp_path / "m"
    result = _hub.sync(params(source, local_dir, hub, token=hub.token))
    assert disk_files(local_dir) == FILES
    hub_requests = [r for r in hub.requests if r["server"] == "hub" and "internalAcceleration" not in r["path"]]
    assert hub_requests and all(r["headers"].get("authorization") == f"Bearer {hub.token}" for r in hub_requests)
    assert all("authorization" not in r["headers"] for r in hub.requests if r["server"] == "cdn")
    assert hub.token not in json.dumps(result)
    assert hub.token not in (local_dir / _hub.MANIFEST_NAME).read_text()


@pytest.mark.parametrize("source", SOURCES)
def test_disk_space_refusal_names_local_dir_and_fetches_nothing(source, hub, tmp_path):
    local_dir = tmp_path / "m"
    usage = FakeUsage(free=10000)
    with pytest.raises(_hub.HubError) as err:
        _hub.sync(params(source, local_dir, hub, min_free_bytes=0), disk_usage=usage)
    message = str(err.value)
    assert f"local_dir={local_dir}" in message and str(sum(len(d) for d in FILES.values())) in message
    assert "10000 bytes" in message and "free space" in message
    assert hub.content_requests() == [] and not local_dir.exists()
    # the same plan fits once the margin is small enough and the files are few enough
    result = _hub.sync(params(source, local_dir, hub, allow_patterns=["*.json"]), disk_usage=usage)
    assert result["changed"] is True
    # disk_check=false skips the test
    result = _hub.sync(params(source, local_dir, hub, disk_check=False), disk_usage=FakeUsage(free=0))
    assert sorted(result["downloaded"]) == sorted(p for p in FILES if not p.endswith(".json"))


@pytest.mark.parametrize("source", SOURCES)
def test_offline_verifies_a_seeded_directory_without_any_request(source, hub, tmp_path):
    online = tmp_path / "online"
    _hub.sync(params(source, online, hub))
    seeded = tmp_path / "seeded"
    shutil.copytree(online, seeded)
    hub.reset_log()
    result = _hub.sync(params(source, seeded, hub, offline=True, revision=None))
    assert result["changed"] is False and result["verified_against"] == "manifest"
    assert result["files"] == len(FILES) and result["bytes_total"] == sum(len(d) for d in FILES.values())
    assert result["warnings"] == []
    assert hub.requests == []
    (seeded / SHARDS[0]).unlink()
    with pytest.raises(_hub.HubError) as err:
        _hub.sync(params(source, seeded, hub, offline=True))
    assert f"{SHARDS[0]}: missing" in str(err.value) and "offline=true" in str(err.value)
    assert hub.requests == []


def test_offline_refuses_a_manifest_for_another_revision(hub, tmp_path):
    _hub.sync(params("huggingface", tmp_path / "m", hub))
    with pytest.raises(_hub.HubError, match="records revision main"):
        _hub.sync(params("huggingface", tmp_path / "m", hub, offline=True, revision="v2.0"))
    commit = hub.repos[REPO["huggingface"]].branches["main"]
    assert _hub.sync(params("huggingface", tmp_path / "m", hub, offline=True, revision=commit))["changed"] is False


def test_offline_without_manifest_checks_the_index_shards(tmp_path):
    seeded = tmp_path / "hand-copied"
    _seed(seeded, {p: d for p, d in FILES.items() if p != SHARDS[1]})
    base = {"source": "modelscope", "repo_id": "acme/x", "local_dir": str(seeded), "offline": True}
    with pytest.raises(_hub.HubError) as err:
        _hub.sync(base)
    assert f"{SHARDS[1]}: listed in model.safetensors.index.json but missing" in str(err.value)
    (seeded / SHARDS[1]).write_bytes(FILES[SHARDS[1]])
    (seeded / "config.json.incomplete").write_bytes(b"{")
    with pytest.raises(_hub.HubError, match="partial download left behind"):
        _hub.sync(base)
    (seeded / "config.json.incomplete").unlink()
    result = _hub.sync(base)
    assert result["verified_against"] == "index" and result["files"] == len(FILES)
    with pytest.raises(_hub.HubError, match="does not exist"):
        _hub.sync(dict(base, local_dir=str(tmp_path / "nowhere")))
