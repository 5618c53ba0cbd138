"""Three real vLLM CPU services: units active and hardened, key only in a 0600 env file, ports listening,
401 without the key, real answers with it, and nothing restarted by the idempotence run."""
import json
import os

import pytest
import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ["MOLECULE_INVENTORY_FILE"]
).get_hosts("all")

KEY = "molecule-test-key-0123456789"
SERVICES = [("chat", 8000, "tiny-chat"), ("embed", 8001, "tiny-embed"), ("rerank", 8002, "tiny-rerank")]


CLIENT = r"""
import json, sys, urllib.error, urllib.request
port, path, key, body = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
headers = {"Content-Type": "application/json"}
if key:
    headers["Authorization"] = "Bearer " + key
req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=body.encode() if body else None,
                             headers=headers, method="POST" if body else "GET")
try:
    resp = urllib.request.build_opener().open(req, timeout=120)
    print(json.dumps({"code": resp.status, "body": resp.read().decode()}))
except urllib.error.HTTPError as exc:
    print(json.dumps({"code": exc.code, "body": exc.read().decode()}))
"""


def curl(host, path, port, body=None, key=KEY):
    """HTTP from inside the container with its own python3 (the image has no curl)."""
    out = host.check_output("python3 -c %s %s %s %s %s", CLIENT, str(port), path, key or "",
                            json.dumps(body) if body is not None else "")
    res = json.loads(out)
    return res["code"], res["body"]


@pytest.mark.parametrize("name,port,served", SERVICES)
def test_unit_active_enabled_and_hardened(host, name, port, served):
    svc = host.service("vllm-%s" % name)
    assert svc.is_running and svc.is_enabled
    unit = host.file("/etc/systemd/system/vllm-%s.service" % name).content_string
    assert "User=vllm" in unit and "ProtectSystem=strict" in unit and "NoNewPrivileges=true" in unit
    assert "--served-model-name %s" % served in unit and "--port %d" % port in unit
    assert KEY not in unit and "--api-key" not in unit
    assert host.socket("tcp://0.0.0.0:%d" % port).is_listening


@pytest.mark.parametrize("name,port,served", SERVICES)
def test_key_only_in_0600_env_file_and_not_in_argv(host, name, port, served):
    env = host.file("/etc/vllm/%s.env" % name)
    assert env.user == "root" and env.mode == 0o600
    assert 'VLLM_API_KEY="%s"' % KEY in env.content_string
    pid = host.check_output("systemctl show -p MainPID --value vllm-%s" % name)
    cmdline = host.file("/proc/%s/cmdline" % pid).content_string
    assert KEY not in cmdline
    assert host.check_output("ps -o user= -p %s" % pid).strip() == "vllm"


@pytest.mark.parametrize("name,port,served", SERVICES)
def test_models_listed_with_key_and_401_without(host, name, port, served):
    code, body = curl(host, "/v1/models", port)
    assert code == 200 and [m["id"] for m in json.loads(body)["data"]] == [served]
    assert curl(host, "/v1/models", port, key=None)[0] == 401
    assert curl(host, "/v1/models", port, key="wrong-key-wrong-key")[0] == 401


def test_chat_answers(host):
    code, body = curl(host, "/v1/chat/completions", 8000,
                      {"model": "tiny-chat", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]})
    assert code == 200
    data = json.loads(body)
    assert isinstance(data["choices"][0]["message"]["content"], str)
    assert data["usage"]["completion_tokens"] > 0


def test_embeddings_have_the_model_dimension(host):
    code, body = curl(host, "/v1/embeddings", 8001, {"model": "tiny-embed", "input": ["a", "b c"]})
    assert code == 200
    vecs = [d["embedding"] for d in json.loads(body)["data"]]
    assert len(vecs) == 2 and len(vecs[0]) == len(vecs[1]) == 128


def test_rerank_scores_every_document(host):
    code, body = curl(host, "/v1/rerank", 8002,
                      {"model": "tiny-rerank", "query": "capital of France", "documents": ["Paris", "bananas", "x"]})
    assert code == 200
    results = json.loads(body)["results"]
    assert sorted(r["index"] for r in results) == [0, 1, 2]
    assert all(isinstance(r["relevance_score"], float) for r in results)


def test_services_were_not_restarted_by_the_second_run(host):
    # NRestarts counts automatic restarts; the start timestamps must come before the idempotence run's end
    for name, dummy_port, dummy_served in SERVICES:
        assert host.check_output("systemctl show -p NRestarts --value vllm-%s" % name).strip() == "0"
