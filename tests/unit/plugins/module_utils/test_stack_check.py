"""stack_info's checks against a real local HTTP server that behaves like vLLM's OpenAI server (auth on /v1)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.llmops.vllm_stack.plugins.module_utils import _stack_check as sc

KEY = "k" * 20


class Handler(BaseHTTPRequestHandler):
    served = "tiny"
    enforce_key = True
    broken_chat = False

    def log_message(self, *args):
        pass

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authed(self):
        return not self.enforce_key or self.headers.get("Authorization") == "Bearer " + KEY

    def do_GET(self):
        if self.path == "/health":
            return self._send(200, {})
        if self.path == "/console/api/setup":
            return self._send(200, {"step": "finished"})
        if self.path == "/v1/models":
            if not self._authed():
                return self._send(401, {"error": "Unauthorized"})
            return self._send(200, {"data": [{"id": self.served}]})
        return self._send(404, {})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not self._authed():
            return self._send(401, {"error": "Unauthorized"})
        if self.path == "/v1/chat/completions":
            if self.broken_chat:
                return self._send(500, {"error": "boom"})
            return self._send(200, {"choices": [{"message": {"content": "Hello " + body["model"]}}]})
        if self.path == "/v1/embeddings":
            return self._send(200, {"data": [{"embedding": [0.1] * 32} for dummy in body["input"]]})
        if self.path == "/v1/rerank":
            return self._send(200, {"results": [{"index": 1, "relevance_score": 0.1},
                                                {"index": 0, "relevance_score": 0.9}]})
        return self._send(404, {})


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    Handler.enforce_key, Handler.broken_chat = True, False


@pytest.mark.parametrize("task,field,value", [("chat", "answer", "Hello tiny"), ("embed", "embedding_length", 32),
                                              ("score", "rerank_scores", [0.9, 0.1])])
def test_healthy_service_per_task(server, task, field, value):
    r = sc.check_service({"name": "s", "served_model_name": "tiny", "port": server, "task": task, "api_key": KEY})
    assert r["ok"], r["problems"]
    assert r[field] == value
    assert r["key_enforced"] is True and r["models"] == ["tiny"] and r["health"] == 200


def test_open_endpoint_and_wrong_name_and_failing_chat_are_problems(server):
    Handler.enforce_key, Handler.broken_chat = False, True
    r = sc.check_service({"name": "s", "served_model_name": "other", "port": server, "task": "chat", "api_key": KEY})
    assert not r["ok"]
    text = " | ".join(r["problems"])
    assert "does not list other" in text and "not 401" in text and "chat completion failed: 500" in text


def test_nothing_listening_is_reported():
    r = sc.check_service({"name": "s", "port": 1, "task": "embed"}, default_key=KEY, timeout=2)
    assert not r["ok"] and r["health"] == 0


def test_dify_and_summary(server):
    d = sc.check_dify("http://127.0.0.1:%d" % server)
    assert d == {"url": "http://127.0.0.1:%d" % server, "status": 200, "setup_step": "finished", "ok": True}
    s = sc.check_service({"name": "chat", "served_model_name": "tiny", "port": server, "api_key": KEY})
    lines = sc.summary_lines({"host": "h1", "driver_version": "580.1", "gpus": [{"name": "NVIDIA H200"}] * 2,
                              "services": [s], "dify": d})
    assert lines[0] == "h1: driver 580.1, 2 GPU(s) (NVIDIA H200)"
    assert lines[1].startswith("  OK   vllm-chat :%d chat: 'Hello tiny'" % server)
    assert lines[2].startswith("  OK   dify")
