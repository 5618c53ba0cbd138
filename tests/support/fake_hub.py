# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A local stand-in for the Hugging Face Hub and ModelScope, good enough for their real Python clients.

The hubs are unreachable from CI, so the tests point ``huggingface_hub`` and ``modelscope`` at this server
(``endpoint=hub.url``). It implements only the routes those clients call for a snapshot download, with the
response shapes read from the clients' source (huggingface_hub 2.4.0, modelscope 1.40.2 / modelscope-hub 0.5.1):

Hugging Face (``HfApi`` / ``snapshot_download`` / ``hf_hub_download``):
  GET  /api/models/{repo}/revision/{rev}[?blobs=True]  model info: ``id``, ``sha`` (commit), ``siblings``
                                                         (``rfilename``, ``size``, ``blobId``, ``lfs``)
  GET  /api/models/{repo}/tree/{rev}[/{path}]           tree listing: ``type``, ``path``, ``size``, ``oid``, ``lfs``
  HEAD /{repo}/resolve/{rev}/{path}                     small files: 200 + ``ETag`` (git blob id) +
                                                         ``Content-Length``; LFS files: 302 to the CDN server
                                                         (another origin, so the client stops there, takes
                                                         ``X-Linked-Etag`` / ``X-Linked-Size`` from the 302 and
                                                         drops the Authorization header); ``X-Repo-Commit`` always
  GET  /{repo}/resolve/{rev}/{path}                     the bytes of a small file (Range honoured)
  GET  <cdn>/lfs/{sha256}                               the bytes of an LFS file (Range honoured)
  Errors carry ``X-Error-Code`` (RepoNotFound, RevisionNotFound, EntryNotFound) like the Hub.
  No ``X-Xet-Hash`` header and no ``xetHash`` in the tree: the client uses plain HTTP (as with
  HF_HUB_DISABLE_XET=1).

ModelScope (``modelscope_hub`` LegacyClient, reached through ``modelscope.snapshot_download`` and ``HubApi``):
  GET  /api/v1/models/{repo}/repo/files?Revision=&Recursive=&Root=   ``{"Code": 200, "Data": {"Files": [...]},
                                                         "Success": true}``; entries ``Name``, ``Path``, ``Type``
                                                         (blob/tree), ``Size``, ``Sha256``, ``IsLFS``, ``Revision``
  GET  /api/v1/models/{repo}/repo?Revision=&FilePath=  the bytes (Range honoured; the client resumes
                                                         ``<file>.incomplete`` with ``Range: bytes=N-``)
  GET  /api/v1/models/{repo}/revisions                  ``RevisionMap`` with ``Branches`` / ``Tags``
  GET  /api/v1/models/{repo}                            repo info
  GET  /api/v1/repos/internalAccelerationInfo           404 (the client probes it for Alibaba Cloud regions)

Every request is recorded (method, path, query, headers) so that tests can count what the clients asked for.
"""
from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt", ".gguf", ".onnx")


def git_blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git object id


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def tiny_model_files():
    """A small but real model directory: Qwen2-style config, tokenizer, two safetensors shards + index."""
    import numpy as np  # pylint: disable=import-outside-toplevel
    from safetensors.numpy import save  # pylint: disable=import-outside-toplevel

    rng = np.random.default_rng(0)
    shard1 = {
        "model.embed_tokens.weight": rng.standard_normal((64, 16)).astype(np.float32),
        "model.layers.0.self_attn.q_proj.weight": rng.standard_normal((16, 16)).astype(np.float32),
    }
    shard2 = {
        "model.layers.0.mlp.up_proj.weight": rng.standard_normal((32, 16)).astype(np.float32),
        "model.norm.weight": np.ones((16,), dtype=np.float32),
    }
    weight_map = {name: "model-00001-of-00002.safetensors" for name in shard1}
    weight_map.update({name: "model-00002-of-00002.safetensors" for name in shard2})
    config = {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 16, "intermediate_size": 32,
        "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 64,
        "max_position_embeddings": 512, "torch_dtype": "float32", "tie_word_embeddings": True,
    }
    vocab = {f"tok{i}": i for i in range(64)}
    tokenizer = {"version": "1.0", "model": {"type": "BPE", "vocab": vocab, "merges": []}, "added_tokens": []}
    files = {
        ".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.pth filter=lfs diff=lfs merge=lfs -text\n",
        "README.md": b"# tiny-qwen2\n\nA fake model for tests.\n",
        "config.json": json.dumps(config, indent=2).encode(),
        "generation_config.json": json.dumps({"eos_token_id": 2, "max_new_tokens": 16}).encode(),
        "tokenizer.json": json.dumps(tokenizer).encode(),
        "tokenizer_config.json": json.dumps({"model_max_length": 512, "eos_token": "tok2"}).encode(),
        "model-00001-of-00002.safetensors": save(shard1),
        "model-00002-of-00002.safetensors": save(shard2),
        "model.safetensors.index.json": json.dumps(
            {"metadata": {"total_size": sum(a.nbytes for a in {**shard1, **shard2}.values())},
             "weight_map": weight_map}, indent=2).encode(),
        "original/consolidated.pth": rng.bytes(6000),
        "extra/notes[1].txt": b"a file name with glob characters\n",
    }
    return files


class Repo:
    def __init__(self, repo_id, files, branch):
        self.repo_id = repo_id
        self.branches = {}
        self.tags = {}
        self.commits = {}
        self.lfs = {p for p in files if p.endswith(LFS_SUFFIXES)}
        self.push(files, branch)

    def push(self, files, branch):
        digest = hashlib.sha1()  # noqa: S324 - a fake commit id
        for path in sorted(files):
            digest.update(path.encode() + b"\0" + files[path])
        digest.update(str(len(self.commits)).encode())
        commit = digest.hexdigest()
        self.commits[commit] = dict(files)
        self.branches[branch] = commit
        return commit

    def resolve(self, revision):
        if revision in self.commits:
            return revision
        return self.branches.get(revision) or self.tags.get(revision)


class FakeHub:
    """Start with ``with FakeHub() as hub:``; ``hub.url`` is the endpoint for both clients."""

    def __init__(self, token=None):
        self.repos = {}
        self.requests = []
        self.token = token  # when set, every API and hub-file request must carry it
        self.corrupt = {}  # path -> bytes served instead of the real content (same for every repo)
        self._lock = threading.Lock()
        self._servers = []
        self.url = None
        self.cdn_url = None

    # ---------------------------------------------------------------- setup
    def add_repo(self, repo_id, files, branch="main"):
        self.repos[repo_id] = Repo(repo_id, files, branch)
        return self.repos[repo_id]

    def start(self):
        hub = self

        class Handler(_Handler):
            state = hub

        for dummy in range(2):
            server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            server.daemon_threads = True
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            self._servers.append(server)
        self.url = f"http://127.0.0.1:{self._servers[0].server_address[1]}"
        self.cdn_url = f"http://127.0.0.1:{self._servers[1].server_address[1]}"
        return self

    def stop(self):
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---------------------------------------------------------------- what the clients asked for
    def log(self, entry):
        with self._lock:
            self.requests.append(entry)

    def reset_log(self):
        with self._lock:
            self.requests = []

    def content_requests(self):
        """GET requests that transfer file bytes (HF resolve/CDN, ModelScope repo?FilePath=)."""
        return [r for r in self.requests if r["method"] == "GET" and r["kind"] == "content"]

    def content_paths(self):
        return sorted(r["file"] for r in self.content_requests())


class _Handler(BaseHTTPRequestHandler):
    state = None  # FakeHub, set by the subclass made in FakeHub.start
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - silence the default stderr logging
        return

    # ---------------------------------------------------------------- plumbing
    def _record(self, kind, file=None):
        parts = urlsplit(self.path)
        self.state.log({
            "method": self.command, "path": unquote(parts.path), "query": parse_qs(parts.query),
            "headers": {k.lower(): v for k, v in self.headers.items()}, "kind": kind, "file": file,
            "server": "cdn" if self.server.server_address[1] != int(self.state.url.rsplit(":", 1)[1]) else "hub",
        })

    def _send(self, status, body=b"", headers=None, content_type="application/json"):
        self.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Content-Type", content_type)
        if "Content-Length" not in headers:
            headers["Content-Length"] = str(len(body))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _json(self, status, payload, headers=None):
        self._send(status, json.dumps(payload).encode(), headers)

    def _authorized(self):
        token = self.state.token
        if not token:
            return True
        if self.headers.get("Authorization") == f"Bearer {token}":
            return True
        return f"m_session_id={token}" in (self.headers.get("Cookie") or "")

    def _send_bytes(self, data, headers):
        """200 with the whole body, or 206 for ``Range: bytes=a-[b]``."""
        headers = dict(headers)
        headers["Accept-Ranges"] = "bytes"
        wanted = self.headers.get("Range")
        if wanted and wanted.startswith("bytes="):
            start_text, dummy, end_text = wanted[6:].partition("-")
            start = int(start_text or 0)
            end = int(end_text) if end_text else len(data) - 1
            if start >= len(data):
                headers["Content-Range"] = f"bytes */{len(data)}"
                self._send(416, b"", headers, "application/octet-stream")
                return
            end = min(end, len(data) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            self._send(206, data[start:end + 1], headers, "application/octet-stream")
            return
        self._send(200, data, headers, "application/octet-stream")

    def do_HEAD(self):  # noqa: N802 - http.server naming
        self.do_GET()

    def do_GET(self):  # noqa: N802 - http.server naming
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if self.server.server_address[1] == int(self.state.cdn_url.rsplit(":", 1)[1]):
            return self._cdn(path)
        if path.startswith("/api/v1/"):
            return self._modelscope(path[len("/api/v1/"):], query)
        if path.startswith("/api/models/"):
            return self._hf_api(path[len("/api/models/"):], query)
        if "/resolve/" in path:
            return self._hf_resolve(path.lstrip("/"))
        self._record("other")
        return self._json(404, {"error": "not found"})

    # ---------------------------------------------------------------- Hugging Face
    def _hf_repo(self, rest):
        """(repo, remainder) for 'owner/name/...'."""
        pieces = rest.split("/", 2)
        if len(pieces) < 2:
            return None, ""
        repo = self.state.repos.get("/".join(pieces[:2]))
        return repo, pieces[2] if len(pieces) > 2 else ""

    def _hf_error(self, code, message, status=404, commit=None):
        headers = {"X-Error-Code": code, "X-Error-Message": message}
        if commit:
            headers["X-Repo-Commit"] = commit
        self._json(status, {"error": message}, headers)

    def _hf_api(self, rest, query):
        self._record("api")
        if not self._authorized():
            return self._hf_error("RepoNotFound", "Invalid credentials in Authorization header", 401)
        repo, remainder = self._hf_repo(rest)
        if repo is None:
            return self._hf_error("RepoNotFound", "Repository not found", 401)
        action, dummy, tail = remainder.partition("/")
        if action in ("revision", ""):
            revision = unquote(tail) if action else "main"
            commit = repo.resolve(revision)
            if commit is None:
                return self._hf_error("RevisionNotFound", f"Invalid rev id: {revision}")
            files = repo.commits[commit]
            siblings = []
            for name in sorted(files):
                sibling = {"rfilename": name}
                if query.get("blobs") in ("True", "true", "1"):
                    sibling["size"] = len(files[name])
                    sibling["blobId"] = git_blob_id(files[name])
                    if name in repo.lfs:
                        sibling["lfs"] = {"size": len(files[name]), "sha256": sha256(files[name]), "pointerSize": 134}
                siblings.append(sibling)
            return self._json(200, {"id": repo.repo_id, "modelId": repo.repo_id, "sha": commit, "private": False,
                                    "siblings": siblings, "tags": [], "lastModified": "2025-01-01T00:00:00.000Z"})
        if action == "tree":
            revision, dummy, sub = tail.partition("/")
            commit = repo.resolve(unquote(revision))
            if commit is None:
                return self._hf_error("RevisionNotFound", f"Invalid rev id: {revision}")
            files = repo.commits[commit]
            entries, dirs = [], set()
            for name in sorted(files):
                if sub and not name.startswith(sub.rstrip("/") + "/"):
                    continue
                parent = name.rsplit("/", 1)[0] if "/" in name else ""
                while parent and parent not in dirs:
                    dirs.add(parent)
                    entries.append({"type": "directory", "oid": git_blob_id(parent.encode()), "size": 0,
                                    "path": parent})
                    parent = parent.rsplit("/", 1)[0] if "/" in parent else ""
                entry = {"type": "file", "oid": git_blob_id(files[name]), "size": len(files[name]), "path": name}
                if name in repo.lfs:
                    entry["lfs"] = {"oid": sha256(files[name]), "size": len(files[name]), "pointerSize": 134}
                entries.append(entry)
            return self._json(200, entries)
        return self._hf_error("EntryNotFound", f"unknown route {action}")

    def _hf_resolve(self, rest):
        repo, remainder = self._hf_repo(rest)
        revision_path = remainder[len("resolve/"):] if remainder.startswith("resolve/") else ""
        revision, dummy, file_path = revision_path.partition("/")
        self._record("content" if self.command == "GET" else "metadata", file_path)
        if not self._authorized():
            return self._hf_error("RepoNotFound", "Invalid credentials in Authorization header", 401)
        if repo is None:
            return self._hf_error("RepoNotFound", "Repository not found", 401)
        commit = repo.resolve(revision)
        if commit is None:
            return self._hf_error("RevisionNotFound", f"Invalid rev id: {revision}")
        files = repo.commits[commit]
        if file_path not in files:
            return self._hf_error("EntryNotFound", f"{file_path} does not exist", 404, commit)
        data = self.state.corrupt.get(file_path, files[file_path])
        headers = {"X-Repo-Commit": commit}
        if file_path in repo.lfs:
            digest = sha256(files[file_path])
            headers.update({
                "Location": f"{self.state.cdn_url}/lfs/{digest}?file={quote(file_path)}",
                "X-Linked-Etag": f'"{digest}"', "X-Linked-Size": str(len(files[file_path])),
                "ETag": f'"{git_blob_id(b"pointer " + digest.encode())}"',
            })
            return self._send(302, b"", headers, "text/plain")
        headers["ETag"] = f'"{git_blob_id(files[file_path])}"'
        return self._send_bytes(data, headers)

    def _cdn(self, path):
        digest = path.rsplit("/", 1)[-1]
        for repo in self.state.repos.values():
            for files in repo.commits.values():
                for name, data in files.items():
                    if sha256(data) == digest:
                        self._record("content" if self.command == "GET" else "metadata", name)
                        return self._send_bytes(self.state.corrupt.get(name, data), {"ETag": f'"{digest}"'})
        self._record("content")
        return self._send(404, b"NoSuchKey", content_type="text/plain")

    # ---------------------------------------------------------------- ModelScope
    def _ms_error(self, status, code, message):
        self._json(status, {"Code": code, "Message": message, "Success": False, "RequestId": "fake"})

    def _modelscope(self, rest, query):
        if rest == "repos/internalAccelerationInfo":
            self._record("api")
            return self._ms_error(404, 10010205001, "not on Alibaba Cloud")
        if not rest.startswith("models/"):
            self._record("api")
            return self._ms_error(404, 10010205001, "unknown route")
        pieces = rest[len("models/"):].split("/", 2)
        repo = self.state.repos.get("/".join(pieces[:2])) if len(pieces) >= 2 else None
        action = pieces[2] if len(pieces) > 2 else ""
        is_content = action == "repo" and "FilePath" in query
        self._record("content" if is_content else "api", query.get("FilePath") if is_content else None)
        if not self._authorized():
            return self._ms_error(401, 10010101001, "Unauthorized: invalid token")
        if repo is None:
            return self._ms_error(404, 10010205001, "model not found")
        if action == "":
            owner, name = repo.repo_id.split("/")
            return self._json(200, {"Code": 200, "Success": True, "Data": {"Path": owner, "Name": name}})
        if action == "revisions":
            branches = [{"Revision": name, "CreatedAt": 1735689600} for name in repo.branches]
            tags = [{"Revision": name, "CreatedAt": 1735689600} for name in repo.tags]
            return self._json(200, {"Code": 200, "Success": True,
                                    "Data": {"RevisionMap": {"Branches": branches, "Tags": tags}}})
        revision = query.get("Revision") or "master"
        commit = repo.resolve(revision)
        if commit is None:
            return self._ms_error(404, 10010205001, f"revision {revision} not found")
        files = repo.commits[commit]
        if action == "repo/files":
            root = (query.get("Root") or "").strip("/")
            entries, dirs = [], set()
            for name in sorted(files):
                if root and not name.startswith(root + "/"):
                    continue
                parent = name.rsplit("/", 1)[0] if "/" in name else ""
                while parent and parent not in dirs and parent != root:
                    dirs.add(parent)
                    entries.append({"Name": parent.rsplit("/", 1)[-1], "Path": parent, "Type": "tree", "Size": 0,
                                    "Revision": commit})
                    parent = parent.rsplit("/", 1)[0] if "/" in parent else ""
                entries.append({
                    "Name": name.rsplit("/", 1)[-1], "Path": name, "Type": "blob", "Size": len(files[name]),
                    "Sha256": sha256(files[name]), "IsLFS": name in repo.lfs, "Revision": commit,
                    "CommitMessage": "upload", "CommittedDate": 1735689600, "Mode": "33188",
                })
            return self._json(200, {"Code": 200, "Success": True, "Message": "success", "RequestId": "fake",
                                    "Data": {"Files": entries, "LatestCommitter": None}})
        if action == "repo" and "FilePath" in query:
            file_path = query["FilePath"]
            if file_path not in files:
                return self._ms_error(404, 10010205001, f"file {file_path} not found")
            data = self.state.corrupt.get(file_path, files[file_path])
            return self._send_bytes(data, {"ETag": f'"{sha256(files[file_path])}"'})
        return self._ms_error(404, 10010205001, f"unknown route {action}")
