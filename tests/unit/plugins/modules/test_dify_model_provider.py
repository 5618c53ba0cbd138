# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""dify_model_provider against the STAND-IN console API (tests/standins/dify_console_standin.py), not a real Dify."""
import os
import sys
import threading

import pytest

from ansible_collections.llmops.vllm_stack.plugins.modules import dify_model_provider

from ansible_module_runner import run_module

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "standins"))
import dify_console_standin as standin  # noqa: E402  pylint: disable=wrong-import-position

SERVICES = [
    {"name": "chat", "port": 8000, "served_model_name": "qwen3-32b", "task": "chat", "max_model_len": 32768,
     "api_key": "chat-key-0123456789"},
    {"name": "embed", "port": 8001, "served_model_name": "bge-m3", "task": "embed", "max_model_len": 8192},
]


@pytest.fixture
def server():
    srv = standin.make_server(task_polls=1)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def args(srv, **overrides):
    base = {
        "url": f"http://127.0.0.1:{srv.server_address[1]}" if srv else "http://127.0.0.1:9",
        "admin_email": "admin@example.com", "admin_password": "Sup3rSecret",
        "plugin_identifier": "langgenius/openai_api_compatible:0.0.63@" + "b" * 64,
        "services": SERVICES, "models": [{"service": "chat"}, {"service": "embed"}],
        "endpoint_host": "172.17.0.1", "api_key": "shared-key-0123456789",
        "labels": {"models": "dify_models", "services": "vllm_services", "admin_password": "dify_admin_password"},
    }
    base.update(overrides)
    return base


def test_standin_converge_then_idempotent_rerun(server):
    first = run_module(dify_model_provider.main, args(server))
    assert first["changed"] is True, first
    assert [m["action"] for m in first["models"]] == ["create", "create"]
    state = server.RequestHandlerClass.state
    chat = state.credentials[("langgenius/openai_api_compatible/openai_api_compatible", "qwen3-32b", "llm")]
    assert chat["credentials"]["api_key"] == "chat-key-0123456789"  # the service's own key wins
    assert chat["credentials"]["endpoint_url"] == "http://172.17.0.1:8000/v1"
    second = run_module(dify_model_provider.main, args(server))
    assert second["changed"] is False, second["actions"]
    assert "Sup3rSecret" not in str(second) and "chat-key-0123456789" not in str(second)


def test_standin_check_mode_changes_nothing(server):
    result = run_module(dify_model_provider.main, args(server), check_mode=True)
    assert result["changed"] is True
    assert server.RequestHandlerClass.state.setup_at is None


@pytest.mark.parametrize("overrides, fragment", [
    ({"admin_password": "onlyletters"}, "dify_admin_password (admin_password)"),
    ({"models": [{"service": "rerank"}]}, "dify_models[0].service 'rerank' is not a service defined in "
                                          "vllm_services (defined: chat, embed)"),
    ({"default_models": {"rerank": "bge-reranker-v2-m3"}}, "default models rerank=bge-reranker-v2-m3"),
])
def test_bad_input_is_refused_before_any_request(server, overrides, fragment):
    result = run_module(dify_model_provider.main, args(server, **overrides))
    assert result["failed"] is True
    assert fragment in result["msg"] and "nothing was changed" in result["msg"]
    assert server.RequestHandlerClass.state.log == []


def test_validate_only_makes_no_request():
    result = run_module(dify_model_provider.main, args(None, validate_only=True))
    assert result["changed"] is False
    assert [m["action"] for m in result["models"]] == ["validated", "validated"]
    assert result["default_models"] == {"llm": "qwen3-32b", "text-embedding": "bge-m3"}


def test_unreachable_dify_fails_with_a_clear_message():
    result = run_module(dify_model_provider.main, args(None, timeout=2))
    assert result["failed"] is True
    assert "GET /setup -> no answer" in result["msg"]
