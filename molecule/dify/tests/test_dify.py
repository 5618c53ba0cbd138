# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""State after the dify role: release files as shipped, secrets kept, .env/override applied, compose config valid,
and what the bootstrap module configured in the STAND-IN console API (not a real Dify)."""
import json
import os
import re

ROOT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.path.join(os.path.dirname(__file__), "..", "..", ".."))
RELEASE = os.path.join(ROOT, "tests", "standins", "dify-release", "docker")


def env_of(host):
    text = host.file("/opt/dify/.env").content_string
    return {m.group(1): m.group(2) for m in re.finditer(r"^([A-Z_][A-Z0-9_]*)=(.*)$", text, re.M)}


def test_release_files_are_deployed_unmodified(host):
    for name in ("docker-compose.yaml", ".env.example"):
        with open(os.path.join(RELEASE, name), encoding="utf-8") as handle:
            assert host.file(f"/opt/dify/{name}").content_string == handle.read()


def test_secrets_file_is_private_and_identical_across_converges(host):
    secrets = host.file("/etc/llmops/dify/secrets.json")
    assert secrets.mode == 0o600 and secrets.user == "root"
    assert host.file("/etc/llmops/dify").mode == 0o700
    assert secrets.sha256sum == host.file("/root/secrets.first.json").sha256sum
    data = json.loads(secrets.content_string)
    assert {"SECRET_KEY", "DB_PASSWORD", "REDIS_PASSWORD", "PLUGIN_DAEMON_KEY", "PLUGIN_DIFY_INNER_API_KEY",
            "SANDBOX_API_KEY", "INIT_PASSWORD"} <= set(data)


def test_env_carries_the_secrets_and_our_settings(host):
    f = host.file("/opt/dify/.env")
    assert f.mode == 0o600 and f.user == "root"
    env = env_of(host)
    secrets = json.loads(host.file("/etc/llmops/dify/secrets.json").content_string)
    assert env["SECRET_KEY"] == secrets["SECRET_KEY"]
    assert env["CELERY_BROKER_URL"] == f"redis://:{secrets['REDIS_PASSWORD']}@redis:6379/1"
    assert env["PIP_MIRROR_URL"] == "https://pypi.tuna.tsinghua.edu.cn/simple"
    assert env["EXPOSE_NGINX_PORT"] == "8080"
    assert "difyai123456" not in f.content_string


def test_compose_config_validates_with_override_and_env(host):
    cfg = json.loads(host.check_output("cd /opt/dify && docker compose config --format json"))
    services = cfg["services"]
    assert services["api"]["image"] == "registry.example.com/dockerhub/langgenius/dify-api:1.17.1"
    assert services["redis"]["image"] == "registry.example.com/dockerhub/library/redis:6-alpine"
    assert "db_postgres" in services and "weaviate" in services  # COMPOSE_PROFILES from .env
    secrets = json.loads(host.file("/etc/llmops/dify/secrets.json").content_string)
    assert services["api"]["environment"]["SECRET_KEY"] == secrets["SECRET_KEY"]
    assert services["db_postgres"]["environment"]["POSTGRES_PASSWORD"] == secrets["DB_PASSWORD"]
    assert services["plugin_daemon"]["environment"]["SERVER_KEY"] == secrets["PLUGIN_DAEMON_KEY"]
    assert services["nginx"]["ports"][0]["published"] == "8080"


def test_standin_received_admin_plugin_models_and_defaults(host):
    state = json.loads(host.check_output("python3 -c \"import urllib.request as u; print(u.urlopen('http://127.0.0.1:5001/_standin/state').read().decode())\""))
    assert state["setup"] is True and state["admin"] == "admin@example.com"
    assert state["plugins"] == ["langgenius/openai_api_compatible"]
    creds = {c["model"]: c for c in state["credentials"]}
    assert creds["qwen3-0.6b"]["model_type"] == "llm"
    assert creds["qwen3-0.6b"]["credentials"]["endpoint_url"] == "http://10.99.0.10:8000/v1"
    assert creds["qwen3-0.6b"]["credentials"]["function_calling_type"] == "tool_call"
    assert creds["bge-m3"]["credentials"]["endpoint_url"] == "http://10.99.0.10:8001/v1"
    assert creds["bge-reranker-v2-m3"]["model_type"] == "rerank"
    assert creds["bge-m3"]["credentials"]["api_key"] == "vllm-d************89"
    assert state["defaults"] == {"llm": "qwen3-0.6b", "text-embedding": "bge-m3", "rerank": "bge-reranker-v2-m3"}
    # the idempotence run only logged in: no setup, install or credential write twice
    writes = state["writes"]
    assert writes.count("POST /console/api/setup") == 1
    assert writes.count("POST /console/api/workspaces/current/plugin/install/marketplace") == 1
