# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Download a model snapshot from Hugging Face or ModelScope into a directory, idempotently.

Pure Python (no Ansible import): the ``model_download`` module is a thin adapter around :func:`sync`.

How a run goes (what the tests pin down):

1. **List** the repository at the requested revision through the real client's API (Hugging Face:
   ``HfApi.model_info(files_metadata=True)``, which also resolves a branch or tag to its commit; ModelScope:
   ``modelscope_hub.HubApi.list_repo_files``, which gives size and SHA-256 per file) and select files with the
   same glob rules the client applies to ``allow_patterns`` / ``ignore_patterns`` (:func:`select_files`).
2. **Plan** against ``<local_dir>/.llmops_manifest.json`` (written by the previous successful run) and the files
   on disk (:func:`plan_sync`). A file is good when it exists with the listed size and

   * it is recorded in the manifest with the same remote identity (SHA-256 of LFS / ModelScope files, git blob
     id of small Hugging Face files) -- with ``verify=size`` nothing is read; with ``verify=full`` its content
     is hashed and compared again;
   * or it is not recorded yet (an earlier run was interrupted, or the directory was seeded by hand): it is
     hashed once and compared with the hash the hub publishes, then adopted into the manifest.

   Every other selected file is fetched; those that were present but wrong are also listed as ``refetched``.
3. **Disk preflight**: the bytes to fetch plus ``min_free_bytes`` must fit in the free space of ``local_dir``'s
   filesystem (measured on its nearest existing parent).
4. **Fetch** only the planned files with the real client's ``snapshot_download`` (``allow_patterns`` set to the
   exact escaped paths, so neither client re-hashes or HEADs the files that are already good), pinned to the
   resolved commit on Hugging Face. Bad local copies are removed first, because the Hugging Face client trusts
   a present file whose ``.cache/huggingface`` metadata names the same commit.
5. **Verify** every fetched file (size, then the hub's SHA-256 or git blob id; the Hugging Face client itself
   checks sizes only) and write the manifest atomically, only when its content changes.

A run that finds everything in place asks the hub for the file list once and transfers no file content; its
manifest is unchanged, so ``changed`` is false. ``offline=true`` never contacts a hub: the directory is checked
against its manifest (or, without one, against the shard list of ``*.index.json`` files).
"""
from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field

SOURCES = ("huggingface", "modelscope")
DEFAULT_REVISION = {"huggingface": "main", "modelscope": "master"}
CLIENT_PACKAGE = {"huggingface": "huggingface_hub", "modelscope": "modelscope"}
MANIFEST_NAME = ".llmops_manifest.json"
MANIFEST_FORMAT = 1
VERIFY_MODES = ("size", "full")
DEFAULT_MIN_FREE_BYTES = 1 << 30
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 8 << 20
# Local files the clients keep for themselves; never part of a snapshot.
_CLIENT_DIRS = (".cache",)


class HubError(Exception):
    """A download or verification that cannot go on; the message says what, why and what to change."""


class MissingClient(HubError):
    """The Python client for a source is not importable in this interpreter."""

    def __init__(self, package, error):
        super().__init__(f"Python package {package} is not importable: {error}")
        self.package = package


@dataclass
class RemoteFile:
    """One file of a repository listing. ``sha256`` is the content hash the hub publishes (LFS files on Hugging
    Face, every file on ModelScope); ``oid`` is the git blob id of a small Hugging Face file (sha1 of
    ``b"blob <size>\\0" + content``), which identifies its content just as well."""

    path: str
    size: int
    sha256: str | None = None
    oid: str | None = None


@dataclass
class Snapshot:
    source: str
    repo_id: str
    revision: str
    commit: str | None
    endpoint: str | None
    files: list = field(default_factory=list)


@dataclass
class Plan:
    entries: dict = field(default_factory=dict)  # path -> manifest entry, files already good
    to_fetch: list = field(default_factory=list)  # RemoteFile
    refetch: list = field(default_factory=list)  # paths present locally but wrong
    reasons: dict = field(default_factory=dict)  # path -> why it is fetched
    adopted: list = field(default_factory=list)  # paths hashed and accepted without a manifest record

    @property
    def bytes_to_fetch(self):
        return sum(f.size for f in self.to_fetch)


# --------------------------------------------------------------------------------------------------------------
# Small pure helpers
# --------------------------------------------------------------------------------------------------------------
def is_commit_hash(revision):
    return bool(revision) and bool(_COMMIT_RE.match(revision))


def human_bytes(value):
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{value} B"  # pragma: no cover


def _normalize_patterns(source, patterns):
    """The pattern list exactly as the client will apply it."""
    if not patterns:
        return []
    out = []
    for pattern in patterns:
        if source == "modelscope":
            # modelscope_hub.utils.patterns.normalize_patterns: every item is also split on commas.
            out.extend(part.strip() for part in pattern.split(",") if part.strip())
        else:
            # huggingface_hub.utils._paths: backslashes are separators, "dir/" means "dir/*".
            pattern = pattern.replace("\\", "/")
            out.append(pattern + "*" if pattern.endswith("/") else pattern)
    return out


def _matches(source, path, patterns):
    for pattern in patterns:
        if source == "modelscope":
            # modelscope_hub._download._matches_patterns: fnmatch, plus legacy regex-ish ".*" read as "*".
            if fnmatch.fnmatch(path, pattern) or (".*" in pattern and fnmatch.fnmatch(path, pattern.replace(".*", "*"))):
                return True
        elif fnmatch.fnmatchcase(path, pattern):
            return True
    return False


def select_files(source, paths, allow_patterns=None, ignore_patterns=None):
    """Filter repository paths the way the client for ``source`` filters them (``*`` crosses ``/`` in both)."""
    allow = _normalize_patterns(source, allow_patterns)
    ignore = _normalize_patterns(source, ignore_patterns)
    selected = []
    for path in paths:
        if allow and not _matches(source, path, allow):
            continue
        if ignore and _matches(source, path, ignore):
            continue
        selected.append(path)
    return selected


def literal_pattern(path):
    """A glob that matches exactly ``path`` under fnmatch (``*``, ``?`` and ``[`` are bracketed)."""
    return "".join(f"[{char}]" if char in "*?[" else char for char in path)


def file_digests(path):
    """(sha256, git blob sha1) of a file, in one read."""
    sha256 = hashlib.sha256()
    blob = hashlib.sha1()  # noqa: S324 - git's object id, not a security hash
    blob.update(b"blob %d\0" % os.path.getsize(path))
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            if not chunk:
                break
            sha256.update(chunk)
            blob.update(chunk)
    return sha256.hexdigest(), blob.hexdigest()


def nearest_existing_dir(path):
    path = os.path.abspath(path)
    while not os.path.isdir(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def disk_problem(local_dir, bytes_needed, min_free_bytes, bytes_freed=0, disk_usage=None):
    """None when ``bytes_needed`` fits, else the message to fail with (names local_dir and the numbers)."""
    if bytes_needed <= 0:
        return None
    probe = nearest_existing_dir(local_dir)
    free = (disk_usage or shutil.disk_usage)(probe).free
    available = free + bytes_freed
    if available - bytes_needed >= min_free_bytes:
        return None
    freed = f" (+{human_bytes(bytes_freed)} from bad copies removed first)" if bytes_freed else ""
    return (
        f"not enough disk space for local_dir={local_dir}: the files to fetch need {human_bytes(bytes_needed)} "
        f"({bytes_needed} bytes) and min_free_bytes={min_free_bytes} ({human_bytes(min_free_bytes)}) must stay free, "
        f"but the filesystem of {probe} has {human_bytes(free)} ({free} bytes) free{freed}"
    )


def resolve_revision(source, revision, offline=False):
    """(revision, warnings). No revision means the default branch, which moves: say so."""
    if revision:
        return revision, []
    if offline:
        return None, []
    default = DEFAULT_REVISION[source]
    return default, [
        f"revision is not set: using the {source} default branch '{default}', which moves. Pin revision to a "
        f"commit or tag so that every host gets the same files."
    ]


# --------------------------------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------------------------------
def manifest_path(local_dir):
    return os.path.join(local_dir, MANIFEST_NAME)


def read_manifest(local_dir):
    """The manifest as a dict, None when absent; a file that is not a manifest reads as None too."""
    path = manifest_path(local_dir)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        return None
    return data


def build_manifest(snapshot, entries, allow_patterns, ignore_patterns):
    return {
        "format": MANIFEST_FORMAT,
        "source": snapshot.source,
        "repo_id": snapshot.repo_id,
        "revision": snapshot.revision,
        "commit": snapshot.commit,
        "endpoint": snapshot.endpoint,
        "allow_patterns": list(allow_patterns or []),
        "ignore_patterns": list(ignore_patterns or []),
        "files": {path: dict(entries[path]) for path in sorted(entries)},
    }


def write_manifest(local_dir, manifest):
    """Write atomically; False (and nothing written) when the content on disk is already the same."""
    if read_manifest(local_dir) == manifest:
        return False
    os.makedirs(local_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".llmops_manifest.", suffix=".tmp", dir=local_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, manifest_path(local_dir))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return True


def _entry(remote, sha256):
    entry = {"size": remote.size, "sha256": sha256}
    if remote.oid:
        entry["oid"] = remote.oid
    return entry


def _same_remote(record, remote):
    """Does the manifest record describe the same remote content as the listing?"""
    if record.get("size") != remote.size:
        return False
    if remote.sha256:
        return record.get("sha256") == remote.sha256
    if remote.oid:
        return record.get("oid") == remote.oid
    return True


def _content_problem(remote, sha256, oid, record=None):
    """None when the local hashes match what the hub (or, lacking that, the manifest) says."""
    if remote.sha256:
        return None if sha256 == remote.sha256 else f"sha256 {sha256[:12]}… differs from the hub's {remote.sha256[:12]}…"
    if remote.oid:
        return None if oid == remote.oid else f"git blob id {oid[:12]}… differs from the hub's {remote.oid[:12]}…"
    if record and record.get("sha256"):
        return None if sha256 == record["sha256"] else f"sha256 {sha256[:12]}… differs from the manifest"
    return None


def recorded_files(manifest, source, repo_id):
    """Manifest file records, only when the manifest is about this repository."""
    if not manifest or manifest.get("source") != source or manifest.get("repo_id") != repo_id:
        return {}
    return manifest.get("files") or {}


def plan_sync(snapshot, local_dir, manifest, verify="size", hash_file=file_digests):
    """Decide, for every selected remote file, whether it is good on disk or must be fetched."""
    records = recorded_files(manifest, snapshot.source, snapshot.repo_id)
    plan = Plan()
    for remote in snapshot.files:
        local = os.path.join(local_dir, remote.path)
        if not os.path.isfile(local):
            plan.to_fetch.append(remote)
            plan.reasons[remote.path] = "missing"
            continue
        size = os.path.getsize(local)
        if size != remote.size:
            plan.to_fetch.append(remote)
            plan.refetch.append(remote.path)
            plan.reasons[remote.path] = f"size {size} bytes, the hub lists {remote.size}"
            continue
        record = records.get(remote.path)
        trusted = record is not None and _same_remote(record, remote)
        if trusted and verify == "size":
            plan.entries[remote.path] = dict(record)
            continue
        sha256, oid = hash_file(local)
        problem = _content_problem(remote, sha256, oid, record if trusted else None)
        if problem:
            plan.to_fetch.append(remote)
            plan.refetch.append(remote.path)
            plan.reasons[remote.path] = problem
            continue
        plan.entries[remote.path] = _entry(remote, sha256)
        if not trusted:
            plan.adopted.append(remote.path)
    return plan


def verify_fetched(local_dir, files, hash_file=file_digests):
    """(entries, problems) for files just fetched: present, listed size, hub hash."""
    entries, problems = {}, {}
    for remote in files:
        local = os.path.join(local_dir, remote.path)
        if not os.path.isfile(local):
            problems[remote.path] = "missing after the download"
            continue
        size = os.path.getsize(local)
        if size != remote.size:
            problems[remote.path] = f"size {size} bytes, the hub lists {remote.size}"
            continue
        sha256, oid = hash_file(local)
        problem = _content_problem(remote, sha256, oid)
        if problem:
            problems[remote.path] = problem
            continue
        entries[remote.path] = _entry(remote, sha256)
    return entries, problems


def index_shards(local_dir):
    """{index file: [shard paths]} for every ``*.index.json`` with a ``weight_map`` at the top of local_dir."""
    found = {}
    try:
        names = sorted(os.listdir(local_dir))
    except OSError:
        return found
    for name in names:
        if not name.endswith(".index.json"):
            continue
        try:
            with open(os.path.join(local_dir, name), encoding="utf-8") as handle:
                weight_map = json.load(handle).get("weight_map") or {}
        except (OSError, ValueError, AttributeError):
            found[name] = None
            continue
        found[name] = sorted(set(weight_map.values()))
    return found


def _partial_files(local_dir):
    partial = []
    for root, dirs, files in os.walk(local_dir):
        dirs[:] = [d for d in dirs if d not in _CLIENT_DIRS]
        partial.extend(os.path.relpath(os.path.join(root, f), local_dir) for f in files if f.endswith(".incomplete"))
    return sorted(partial)


def verify_offline(local_dir, source, repo_id, revision, verify="size", hash_file=file_digests):
    """(manifest or None, entries, problems, how) for a pre-seeded directory, without any network call."""
    if not os.path.isdir(local_dir):
        return None, {}, {local_dir: "local_dir does not exist"}, "none"
    manifest = read_manifest(local_dir)
    problems = {}
    if manifest is not None:
        if manifest.get("source") != source or manifest.get("repo_id") != repo_id:
            return manifest, {}, {
                MANIFEST_NAME: f"records {manifest.get('source')}:{manifest.get('repo_id')}, not {source}:{repo_id}"
            }, "manifest"
        if revision and revision not in (manifest.get("revision"), manifest.get("commit")):
            return manifest, {}, {
                MANIFEST_NAME: f"records revision {manifest.get('revision')} (commit {manifest.get('commit')}), "
                f"not {revision}"
            }, "manifest"
        entries = {}
        for path, record in sorted(manifest["files"].items()):
            local = os.path.join(local_dir, path)
            if not os.path.isfile(local):
                problems[path] = "missing"
                continue
            size = os.path.getsize(local)
            if size != record.get("size"):
                problems[path] = f"size {size} bytes, the manifest records {record.get('size')}"
                continue
            if verify == "full":
                sha256, _oid = hash_file(local)
                if sha256 != record.get("sha256"):
                    problems[path] = "sha256 differs from the manifest"
                    continue
            entries[path] = dict(record)
        return manifest, entries, problems, "manifest"
    files = {}
    for root, dirs, names in os.walk(local_dir):
        dirs[:] = [d for d in dirs if d not in _CLIENT_DIRS]
        for name in names:
            local = os.path.join(root, name)
            files[os.path.relpath(local, local_dir)] = {"size": os.path.getsize(local)}
    if not files:
        problems[local_dir] = "local_dir is empty"
    for path in _partial_files(local_dir):
        problems[path] = "partial download left behind"
    for index, shards in index_shards(local_dir).items():
        if shards is None:
            problems[index] = "unreadable index"
            continue
        for shard in shards:
            if shard not in files:
                problems[shard] = f"listed in {index} but missing"
    return None, files, problems, "index"


# --------------------------------------------------------------------------------------------------------------
# Clients: the real huggingface_hub / modelscope packages, imported lazily
# --------------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet_stdout():
    """Progress bars and prints of the clients must not reach a module's stdout (it carries the JSON result)."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def client_environment(source, offline=False, disable_xet=False):
    """Environment the client reads at import time; the module sets it before the first import."""
    env = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "TQDM_DISABLE": "1"}
    if source == "huggingface" and disable_xet:
        env["HF_HUB_DISABLE_XET"] = "1"
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    return env


class HuggingFaceClient:
    source = "huggingface"

    def __init__(self, endpoint=None, token=None):
        try:
            import huggingface_hub  # pylint: disable=import-outside-toplevel
        except ImportError as exc:
            raise MissingClient(CLIENT_PACKAGE[self.source], exc) from exc
        self._hf = huggingface_hub
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.token = token or None
        self.version = huggingface_hub.__version__

    def snapshot(self, repo_id, revision):
        api = self._hf.HfApi(endpoint=self.endpoint, token=self.token)
        with _quiet_stdout():
            info = api.model_info(repo_id, revision=revision, files_metadata=True)
        files = []
        for sibling in info.siblings or []:
            if sibling.lfs is not None:
                files.append(RemoteFile(sibling.rfilename, int(sibling.lfs.size), sha256=sibling.lfs.sha256))
            else:
                files.append(RemoteFile(sibling.rfilename, int(sibling.size or 0), oid=sibling.blob_id))
        return Snapshot(self.source, repo_id, revision, info.sha, self.endpoint or api.endpoint, files)

    def download(self, snapshot, local_dir, paths, max_workers=8):
        with _quiet_stdout():
            self._hf.snapshot_download(
                snapshot.repo_id,
                revision=snapshot.commit or snapshot.revision,
                local_dir=local_dir,
                cache_dir=os.path.join(local_dir, ".cache", "huggingface", "hub"),
                allow_patterns=[literal_pattern(p) for p in paths],
                max_workers=max_workers,
                token=self.token,
                endpoint=self.endpoint,
            )


class ModelScopeClient:
    source = "modelscope"

    def __init__(self, endpoint=None, token=None):
        try:
            import modelscope  # pylint: disable=import-outside-toplevel
            from modelscope.hub.snapshot_download import snapshot_download  # pylint: disable=import-outside-toplevel
            from modelscope_hub import HubApi  # pylint: disable=import-outside-toplevel
        except ImportError as exc:
            raise MissingClient(CLIENT_PACKAGE[self.source], exc) from exc
        self._snapshot_download = snapshot_download
        self._api = HubApi(endpoint=endpoint, token=token or None)
        self.token = token or None
        self._endpoint = endpoint.rstrip("/") if endpoint else None
        self.version = modelscope.__version__

    @property
    def endpoint(self):
        return self._endpoint

    def snapshot(self, repo_id, revision):
        with _quiet_stdout():
            if self._endpoint is None:
                # Same probe snapshot_download does (modelscope.cn, then modelscope.ai); pin the answer so the
                # listing and the download talk to one site.
                self._endpoint = self._api.resolve_endpoint_for_read(repo_id, repo_type="model")
                self._api = type(self._api)(endpoint=self._endpoint, token=self.token)
            listing = self._api.list_repo_files(repo_id, "model", revision=revision, recursive=True)
        files = [
            RemoteFile(f.path, int(f.size or 0), sha256=(f.sha256 or "").lower() or None)
            for f in listing
            if f.type != "tree" and f.path
        ]
        for remote in files:
            if remote.sha256 and not _SHA256_RE.match(remote.sha256):
                remote.sha256 = None
        commit = revision if is_commit_hash(revision) else None
        return Snapshot(self.source, repo_id, revision, commit, self._endpoint, files)

    def download(self, snapshot, local_dir, paths, max_workers=8):
        if any("," in p for p in paths):
            # The client splits every pattern on commas, so a literal path with a comma cannot be expressed.
            raise HubError(
                f"Downloading {snapshot.repo_id} from ModelScope: the selected paths "
                f"{', '.join(p for p in paths if ',' in p)} contain a comma, which ModelScope's allow_patterns cannot "
                f"express — leave them out with ignore_patterns"
            )
        with _quiet_stdout():
            self._snapshot_download(
                repo_id=snapshot.repo_id,
                revision=snapshot.revision,
                local_dir=local_dir,
                cache_dir=os.path.join(local_dir, ".cache", "modelscope"),
                allow_patterns=[literal_pattern(p) for p in paths],
                max_workers=max_workers,
                token=self.token,
                endpoint=self._endpoint,
            )


CLIENTS = {"huggingface": HuggingFaceClient, "modelscope": ModelScopeClient}


def make_client(source, endpoint=None, token=None):
    return CLIENTS[source](endpoint=endpoint, token=token)


# --------------------------------------------------------------------------------------------------------------
# The whole run
# --------------------------------------------------------------------------------------------------------------
def _remove_partials(local_dir, paths):
    """Drop leftovers of earlier interrupted downloads (resume=false)."""
    removed = []
    for path in paths:
        partial = os.path.join(local_dir, path + ".incomplete")  # modelscope: <file>.incomplete next to it
        if os.path.exists(partial):
            os.unlink(partial)
            removed.append(partial)
    hf_download = os.path.join(local_dir, ".cache", "huggingface", "download")
    for root, _dirs, files in os.walk(hf_download):
        for name in files:
            if name.endswith(".incomplete"):
                os.unlink(os.path.join(root, name))
                removed.append(os.path.join(root, name))
    return removed


def _problem_list(problems, limit=10):
    items = [f"{path}: {why}" for path, why in sorted(problems.items())]
    more = f"; … {len(items) - limit} more" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


def _where(params, snapshot=None):
    revision = params.get("revision") or (snapshot.revision if snapshot else None) or "?"
    return f"{params['source']}:{params['repo_id']}@{revision}"


def sync(params, check_mode=False, client=None, disk_usage=None, hash_file=file_digests):
    """Run one download; returns the module result (without ``changed`` bookkeeping of ownership).

    ``params`` keys: source, repo_id, revision, allow_patterns, ignore_patterns, local_dir, endpoint, token,
    offline, resume, max_workers, verify, min_free_bytes, disk_check. ``client`` defaults to the real one.
    Raises HubError with a message for the user.
    """
    source = params["source"]
    if source not in SOURCES:
        raise HubError(f"source={source} is not one of {', '.join(SOURCES)}")
    repo_id = params["repo_id"]
    local_dir = os.path.abspath(params["local_dir"])
    verify = params.get("verify") or "size"
    allow = list(params.get("allow_patterns") or [])
    ignore = list(params.get("ignore_patterns") or [])
    revision, warnings = resolve_revision(source, params.get("revision"), params.get("offline"))
    result = {
        "changed": False,
        "source": source,
        "repo_id": repo_id,
        "revision": revision,
        "commit": None,
        "local_dir": local_dir,
        "manifest": manifest_path(local_dir),
        "offline": bool(params.get("offline")),
        "files": 0,
        "bytes_total": 0,
        "to_fetch": [],
        "bytes_to_fetch": 0,
        "downloaded": [],
        "bytes_downloaded": 0,
        "refetched": [],
        "adopted": [],
        "verified_against": None,
        "manifest_changed": False,
        "warnings": warnings,
    }

    if params.get("offline"):
        manifest, entries, problems, how = verify_offline(local_dir, source, repo_id, revision, verify, hash_file)
        result["verified_against"] = how
        if manifest:
            result["commit"] = manifest.get("commit")
            result["revision"] = revision or manifest.get("revision")
        if problems:
            raise HubError(
                f"Checking the pre-seeded local_dir={local_dir} for {_where(params)} (offline=true, verified against "
                f"the {how}): {_problem_list(problems)} — copy the complete model into local_dir (with its "
                f"{MANIFEST_NAME} from a host that downloaded it), or run with offline=false"
            )
        result["files"] = len(entries)
        result["bytes_total"] = sum(e.get("size", 0) for e in entries.values())
        return result

    if client is None:
        client = make_client(source, params.get("endpoint"), params.get("token"))
    try:
        snapshot = client.snapshot(repo_id, revision)
    except HubError:
        raise
    except Exception as exc:  # pylint: disable=broad-exception-caught
        raise HubError(
            f"Listing the files of {_where(params)} on {params.get('endpoint') or 'the default ' + source + ' endpoint'}:"
            f" {type(exc).__name__}: {exc} — check repo_id, revision, endpoint and token (a private or gated repo"
            f" needs a token)"
        ) from exc
    result["client"] = f"{CLIENT_PACKAGE[source]} {getattr(client, 'version', '?')}"
    remote_paths = [f.path for f in snapshot.files]
    selected = set(select_files(source, remote_paths, allow, ignore))
    snapshot.files = [f for f in snapshot.files if f.path in selected]
    result["commit"] = snapshot.commit
    result["files"] = len(snapshot.files)
    result["bytes_total"] = sum(f.size for f in snapshot.files)
    if not snapshot.files:
        raise HubError(
            f"Selecting files of {_where(params, snapshot)}: none of its {len(remote_paths)} files matches "
            f"allow_patterns={allow} / ignore_patterns={ignore} — fix the patterns (globs, '*' also matches '/')"
        )

    manifest = read_manifest(local_dir)
    if manifest and recorded_files(manifest, source, repo_id) == {} and manifest.get("files"):
        warnings.append(
            f"{manifest_path(local_dir)} records {manifest.get('source')}:{manifest.get('repo_id')}; files in "
            f"local_dir are checked by content before they are kept"
        )
    plan = plan_sync(snapshot, local_dir, manifest, verify, hash_file)
    result["verified_against"] = "manifest" if manifest else "hub"
    result["to_fetch"] = [f.path for f in plan.to_fetch]
    result["bytes_to_fetch"] = plan.bytes_to_fetch
    result["refetched"] = list(plan.refetch)
    result["adopted"] = list(plan.adopted)
    result["reasons"] = dict(plan.reasons)

    if params.get("disk_check", True):
        freed = sum(os.path.getsize(os.path.join(local_dir, p)) for p in plan.refetch
                    if os.path.isfile(os.path.join(local_dir, p)))
        problem = disk_problem(local_dir, plan.bytes_to_fetch, int(params.get("min_free_bytes", DEFAULT_MIN_FREE_BYTES)),
                               freed, disk_usage)
        if problem:
            raise HubError(
                f"Downloading {len(plan.to_fetch)} files of {_where(params, snapshot)}: {problem} — free space, "
                f"choose another local_dir, narrow allow_patterns, or lower min_free_bytes"
            )

    if check_mode:
        new_manifest = build_manifest(snapshot, plan.entries, allow, ignore)
        result["manifest_changed"] = read_manifest(local_dir) != new_manifest
        result["changed"] = bool(plan.to_fetch) or result["manifest_changed"]
        return result

    entries = dict(plan.entries)
    if plan.to_fetch:
        os.makedirs(local_dir, exist_ok=True)
        for path in plan.refetch:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(local_dir, path))
        if not params.get("resume", True):
            _remove_partials(local_dir, [f.path for f in plan.to_fetch])
        try:
            client.download(snapshot, local_dir, [f.path for f in plan.to_fetch], int(params.get("max_workers") or 8))
        except HubError:
            raise
        except Exception as exc:  # pylint: disable=broad-exception-caught
            raise HubError(
                f"Downloading {len(plan.to_fetch)} files ({human_bytes(plan.bytes_to_fetch)}) of "
                f"{_where(params, snapshot)} into local_dir={local_dir}: {type(exc).__name__}: {exc} — files that "
                f"completed are kept and a re-run fetches only the rest; check the endpoint, token and network"
            ) from exc
        fetched, problems = verify_fetched(local_dir, plan.to_fetch, hash_file)
        if problems:
            raise HubError(
                f"Verifying the files just downloaded from {_where(params, snapshot)} into local_dir={local_dir}: "
                f"{_problem_list(problems)} — the hub or a mirror served content that does not match its own "
                f"listing; re-run, or use another endpoint"
            )
        entries.update(fetched)
        result["downloaded"] = [f.path for f in plan.to_fetch]
        result["bytes_downloaded"] = plan.bytes_to_fetch
        result["changed"] = True
    if write_manifest(local_dir, build_manifest(snapshot, entries, allow, ignore)):
        result["changed"] = True
        result["manifest_changed"] = True
    return result
