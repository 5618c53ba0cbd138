# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_dify_api against the STAND-IN console API (tests/standins/dify_console_standin.py), not a real Dify."""
import base64
import os
import sys
import threading

import pytest

from ansible_collections.llmops.vllm_stack.plugins.module_utils import _dify_api as api

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "standins"))
import dify_console_standin as standin  # noqa: E402  pylint: disable=wrong-import-position

ADMIN = dict(admin_email="admin@example.com", admin_password="Sup3rSecret", admin_name="admin")
MARKET_ID = "langgenius/openai_api_compatible:0.0.63@" + "a" * 64
# vllm_services as the seed-000 plan describes them (chat on GPUs 0-1, bge-m3 + reranker sharing GPU 3)
SERVICES = [
    {"name": "chat", "port": 8000, "served_model_name": "deepseek-r1-distill-qwen-32b", "task": "chat",
     "max_model_len": 32768},
    {"name": "embed", "port": 8001, "served_model_name": "bge-m3", "task": "embed", "max_model_len": 8192},
    {"name": "rerank", "port": 8002, "served_model_name": "bge-reranker-v2-m3", "task": "score",
     "max_model_len": 8192},
]
DIFY_MODELS = [{"service": "chat", "credentials": {"function_calling_type": "tool_call"}},
               {"service": "embed"}, {"service": "rerank"}]


@pytest.fixture
def server():
    srv = standin.make_server(task_polls=2)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def make_client(srv):
    return api.DifyClient(f"http://127.0.0.1:{srv.server_address[1]}", timeout=5)


def models():
    return api.resolve_models(DIFY_MODELS, SERVICES, endpoint_host="10.0.0.5", api_key="vllm-key-0123456789")


def no_sleep(_seconds):
    return None


def run(srv, check_mode=False, **overrides):
    kwargs = dict(ADMIN, plugin_identifier=MARKET_ID, models=models(), check_mode=check_mode, sleep=no_sleep)
    kwargs.update(overrides)
    return api.bootstrap(make_client(srv), **kwargs)


# ------------------------------------------------------------------------------------------ pure helpers
@pytest.mark.parametrize("password, ok", [
    ("Sup3rSecret", True), ("abcdefg1", True), ("pässwört1", True),
    ("short1a", False), ("alllettersonly", False), ("1234567890", False), ("", False),
])
def test_password_rule_is_difys(password, ok):
    assert (api.password_problem(password) is None) is ok


@pytest.mark.parametrize("token, shown", [
    ("sk-0123456789abcdef", "sk-012************ef"), ("short", "*" * 20), ("", ""),
])
def test_obfuscated_token_matches_dify_encrypter(token, shown):
    assert api.obfuscated_token(token) == shown


def test_resolve_models_builds_string_credentials_from_vllm_services():
    resolved = {m["model"]: m for m in models()}
    chat = resolved["deepseek-r1-distill-qwen-32b"]
    assert chat["model_type"] == "llm"
    assert chat["credentials"] == {
        "endpoint_url": "http://10.0.0.5:8000/v1", "api_key": "vllm-key-0123456789", "context_size": "32768",
        "mode": "chat", "max_tokens_to_sample": "4096", "function_calling_type": "tool_call"}
    assert resolved["bge-m3"]["model_type"] == "text-embedding"
    assert resolved["bge-m3"]["credentials"]["max_chunks"] == "32"
    assert resolved["bge-reranker-v2-m3"]["model_type"] == "rerank"
    assert all(isinstance(v, str) for m in resolved.values() for v in m["credentials"].values())


def test_resolve_models_dify_name_differs_from_served_name():
    resolved = api.resolve_models([{"service": "chat", "model": "r1-32b"}], SERVICES, endpoint_host="h")
    assert resolved[0]["model"] == "r1-32b"
    assert resolved[0]["credentials"]["endpoint_model_name"] == "deepseek-r1-distill-qwen-32b"
    assert "api_key" not in resolved[0]["credentials"]


@pytest.mark.parametrize("dify_models, fragment", [
    ([{"service": "chat2"}], "dify_models[0].service 'chat2' is not a service defined in vllm_services "
                             "(defined: chat, embed, rerank)"),
    ([{"model": "x"}], "dify_models[0] needs 'service'"),
    ([{"service": "chat"}, {"service": "chat"}], "dify_models[1]: model 'deepseek-r1-distill-qwen-32b' (llm) is "
                                                 "listed twice"),
    ([{"service": "chat", "endpoint_url": "10.0.0.5:8000"}], "is not an http(s) URL"),
])
def test_resolve_models_refuses_bad_references_naming_the_variable(dify_models, fragment):
    with pytest.raises(api.InputError) as err:
        api.resolve_models(dify_models, SERVICES, endpoint_host="h",
                           labels={"models": "dify_models", "services": "vllm_services"})
    assert fragment in str(err.value)


@pytest.mark.parametrize("bind, endpoint", [
    ("0.0.0.0", "http://10.0.0.5:8000/v1"),   # the vllm role's default bind: reach it at the host address
    ("::", "http://10.0.0.5:8000/v1"),
    ("192.168.10.7", "http://192.168.10.7:8000/v1"),
])
def test_endpoint_host_follows_the_vllm_bind_address(bind, endpoint):
    services = [dict(SERVICES[0], host=bind)]
    assert api.resolve_models([{"service": "chat"}], services, endpoint_host="10.0.0.5")[0]["credentials"][
        "endpoint_url"] == endpoint


def test_service_bound_to_loopback_is_refused():
    services = [dict(SERVICES[0], host="127.0.0.1")]
    with pytest.raises(api.InputError, match="listens on 127.0.0.1 only"):
        api.resolve_models([{"service": "chat"}], services, endpoint_host="10.0.0.5")


def test_unknown_task_needs_an_explicit_model_type():
    with pytest.raises(api.InputError, match="set models\\[0\\].model_type"):
        api.resolve_models([{"service": "x"}], [{"name": "x", "port": 1, "task": "classify"}], endpoint_host="h")


def test_credentials_match_compares_secrets_obfuscated():
    stored = {"endpoint_url": "http://h:8000/v1", "api_key": api.obfuscated_token("vllm-key-0123456789"),
              "mode": "chat", "function_calling_type": "no_call"}
    assert api.credentials_match(stored, {"endpoint_url": "http://h:8000/v1", "api_key": "vllm-key-0123456789"})
    assert not api.credentials_match(stored, {"api_key": "other-key-0123456789"})
    assert not api.credentials_match(stored, {"endpoint_url": "http://h:9000/v1"})
    assert not api.credentials_match(stored, {"context_size": "4096"})


# ------------------------------------------------------------------------------------------ against the stand-in
def test_standin_fresh_instance_full_bootstrap_then_rerun_changes_nothing(server):
    first = run(server)
    assert first["changed"] is True
    assert [m["action"] for m in first["models"]] == ["create", "create", "create"]
    assert first["default_models"] == {"llm": "deepseek-r1-distill-qwen-32b", "text-embedding": "bge-m3",
                                       "rerank": "bge-reranker-v2-m3"}
    state = server.RequestHandlerClass.state
    assert state.account["email"] == "admin@example.com"
    assert "langgenius/openai_api_compatible" in state.plugins
    stored = state.credentials[(api.DEFAULT_PROVIDER, "bge-m3", "text-embedding")]["credentials"]
    assert stored["endpoint_url"] == "http://10.0.0.5:8001/v1" and stored["api_key"] == "vllm-key-0123456789"
    assert state.defaults["rerank"]["model"] == "bge-reranker-v2-m3"

    writes_before = [c for c in state.log if not c.startswith("GET")]
    second = run(server)
    assert second["changed"] is False, second["actions"]
    assert [m["action"] for m in second["models"]] == ["unchanged"] * 3
    writes_after = [c for c in state.log if not c.startswith("GET")]
    assert writes_after[len(writes_before):] == ["POST /console/api/login"]


def test_standin_check_mode_on_fresh_instance_reports_and_writes_nothing(server):
    result = run(server, check_mode=True)
    assert result["changed"] is True
    assert result["actions"][0] == "create the admin account admin@example.com"
    state = server.RequestHandlerClass.state
    assert state.setup_at is None and not state.plugins
    assert state.log == ["GET /console/api/setup"]


def test_standin_check_mode_after_setup_sees_a_changed_endpoint(server):
    run(server)
    changed = [{"service": "chat", "endpoint_url": "http://10.0.0.6:8000/v1"}]
    state = server.RequestHandlerClass.state
    before = dict(state.credentials[(api.DEFAULT_PROVIDER, "deepseek-r1-distill-qwen-32b", "llm")]["credentials"])
    result = run(server, check_mode=True, models=api.resolve_models(changed, SERVICES, endpoint_host="h"),
                 default_models={"llm": "deepseek-r1-distill-qwen-32b"})
    assert result["changed"] is True and result["models"][0]["action"] == "update"
    assert state.credentials[(api.DEFAULT_PROVIDER, "deepseek-r1-distill-qwen-32b", "llm")]["credentials"] == before
    # and for real: the update lands, the API key is kept (obfuscated round trip), a rerun is clean
    assert run(server, models=api.resolve_models(changed, SERVICES, endpoint_host="h"),
               default_models={"llm": "deepseek-r1-distill-qwen-32b"})["changed"] is True
    stored = state.credentials[(api.DEFAULT_PROVIDER, "deepseek-r1-distill-qwen-32b", "llm")]["credentials"]
    assert stored["endpoint_url"] == "http://10.0.0.6:8000/v1"


def test_standin_api_key_rotation_is_detected(server):
    run(server)
    rotated = api.resolve_models(DIFY_MODELS, SERVICES, endpoint_host="10.0.0.5", api_key="new-key-9876543210")
    result = run(server, models=rotated)
    assert [m["action"] for m in result["models"]] == ["update"] * 3
    stored = server.RequestHandlerClass.state.credentials[(api.DEFAULT_PROVIDER, "bge-m3", "text-embedding")]
    assert stored["credentials"]["api_key"] == "new-key-9876543210"


def test_standin_offline_package_upload(server):
    result = run(server, plugin_identifier="", plugin_package=("openai_api_compatible.difypkg", b"PK\x03\x04fake"))
    assert result["changed"] is True
    log = server.RequestHandlerClass.state.log
    assert "POST /console/api/workspaces/current/plugin/upload/pkg" in log
    assert "POST /console/api/workspaces/current/plugin/install/pkg" in log


def test_standin_credential_writes_retry_while_plugin_runtime_starts():
    srv = standin.make_server(warmup_failures=2)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        slept = []
        result = run(srv, sleep=slept.append)
        assert [m["action"] for m in result["models"]] == ["create"] * 3
        # one wait while the plugin install task runs, then two retries with back-off
        assert slept == [2.0, 2.0, 4.0]
    finally:
        srv.shutdown()
        srv.server_close()


def test_standin_init_password_and_host_prefixed_cookies():
    srv = standin.make_server(init_password="init-pass-1", host_prefix=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        with pytest.raises(api.DifyError) as err:
            run(srv)
        assert err.value.code == "not_init_validated"
        result = run(srv, init_password="init-pass-1")
        assert result["changed"] is True
        assert run(srv, init_password="init-pass-1")["changed"] is False
    finally:
        srv.shutdown()
        srv.server_close()


def test_standin_csrf_header_is_required_even_for_get(server):
    run(server)
    client = make_client(server)
    client.login(ADMIN["admin_email"], ADMIN["admin_password"])
    original = client.csrf_token
    client.csrf_token = lambda: None
    with pytest.raises(api.DifyError) as err:
        client.plugins()
    assert err.value.status == 401 and "CSRF" in err.value.message
    client.csrf_token = original
    assert client.plugins()


def test_standin_login_sends_base64_and_wrong_password_fails(server):
    run(server)
    client = make_client(server)
    with pytest.raises(api.DifyError) as err:
        client.login(ADMIN["admin_email"], "Wr0ngPassword")
    assert err.value.code == "authentication_failed"
    # a plain (not Base64) password is what Dify >= 1.11 rejects as "Invalid encrypted data"
    with pytest.raises(api.DifyError) as err:
        client.call("POST", "/login", {"email": ADMIN["admin_email"], "password": "Sup3r Secret!",
                                       "remember_me": True})
    assert err.value.message == "Invalid encrypted data"
    assert base64.b64decode(base64.b64encode(b"Sup3rSecret")) == b"Sup3rSecret"


def test_weak_admin_password_is_refused_before_any_request(server):
    with pytest.raises(api.InputError, match="admin_password"):
        run(server, admin_password="password")
    assert server.RequestHandlerClass.state.log == []


def test_unreachable_dify_is_a_clear_error():
    client = api.DifyClient("http://127.0.0.1:9", timeout=2)
    with pytest.raises(api.DifyError) as err:
        client.setup_step()
    assert err.value.status is None and "GET /setup" in str(err.value)
