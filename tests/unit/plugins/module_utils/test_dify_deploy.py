# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
import base64
import os
import re

import pytest
import yaml

from ansible_collections.llmops.vllm_stack.plugins.module_utils import _dify_deploy as deploy

# the stand-in release layout (our file, same keys and images as Dify's docker/ directory)
RELEASE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "standins", "dify-release", "docker")


def read(name):
    with open(os.path.join(RELEASE, name), encoding="utf-8") as handle:
        return handle.read()


def parse_env(text):
    return {m.group(1): m.group(2) for m in re.finditer(r"^([A-Z_][A-Z0-9_]*)=(.*)$", text, re.M)}


def test_existing_secrets_are_never_rotated_and_missing_ones_are_generated():
    first = deploy.ensure_secrets({})
    assert set(first) == set(deploy.SECRET_SPEC)
    assert len(first["INIT_PASSWORD"]) <= 30  # Dify's limit
    again = deploy.ensure_secrets(first)
    assert again == first
    partial = dict(first)
    del partial["REDIS_PASSWORD"]
    refilled = deploy.ensure_secrets(partial)
    assert {k: v for k, v in refilled.items() if k != "REDIS_PASSWORD"} == partial
    assert refilled["REDIS_PASSWORD"] and refilled["REDIS_PASSWORD"] != first["REDIS_PASSWORD"]


def test_agent_secret_is_unpadded_base64url_of_32_bytes():
    for _i in range(50):
        key = deploy.ensure_secrets({}, ["DIFY_AGENT_SERVER_SECRET_KEY"])["DIFY_AGENT_SERVER_SECRET_KEY"]
        raw = base64.urlsafe_b64decode(key + "=")
        assert len(key) == 43 and len(raw) == 32
        assert base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == key  # canonical encoding


def test_dotenv_replaces_defaults_in_place_and_broker_follows_redis_password():
    secrets = deploy.ensure_secrets({})
    text = deploy.merge_dotenv(read(".env.example"), deploy.env_overrides(
        secrets, {"expose_port": 8080, "pip_mirror_url": "https://pypi.tuna.tsinghua.edu.cn/simple"},
        {"LOG_LEVEL": "WARNING"}))
    env = parse_env(text)
    assert env["SECRET_KEY"] == secrets["SECRET_KEY"]
    assert env["CELERY_BROKER_URL"] == f"redis://:{secrets['REDIS_PASSWORD']}@redis:6379/1"
    assert env["WEAVIATE_API_KEY"] == env["WEAVIATE_AUTHENTICATION_APIKEY_ALLOWED_KEYS"]
    assert env["SANDBOX_API_KEY"] == env["CODE_EXECUTION_API_KEY"]
    assert env["EXPOSE_NGINX_PORT"] == "8080"
    assert env["PIP_MIRROR_URL"] == "https://pypi.tuna.tsinghua.edu.cn/simple"
    assert env["LOG_LEVEL"] == "WARNING"
    # untouched lines of the example stay as they are, in place
    assert "COMPOSE_PROFILES=${VECTOR_STORE:-weaviate},${DB_TYPE:-postgresql}" in text
    assert text.index("SECRET_KEY=") < text.index("REDIS_PASSWORD=")
    assert "difyai123456" not in text
    assert "dify-sandbox" not in text


def test_dotenv_is_stable_for_the_same_inputs():
    secrets = deploy.ensure_secrets({})
    overrides = deploy.env_overrides(secrets, {"expose_port": 80})
    assert deploy.merge_dotenv(read(".env.example"), overrides) == deploy.merge_dotenv(read(".env.example"), overrides)


def test_dotenv_user_redis_host_moves_the_broker_url():
    env = deploy.env_overrides(deploy.ensure_secrets({}), {}, {"REDIS_HOST": "redis.internal"})
    assert env["CELERY_BROKER_URL"].endswith("@redis.internal:6379/1")


@pytest.mark.parametrize("value, written", [
    ("plain-value_1.2:3", "plain-value_1.2:3"),
    ("has space", "'has space'"),
    ("it's", '"it\'s"'),
])
def test_dotenv_quotes_only_when_needed(value, written):
    assert f"X={written}" in deploy.merge_dotenv("", {"X": value})


@pytest.mark.parametrize("image, registry, expected", [
    ("langgenius/dify-api:1.17.1", "harbor.example.com/dockerhub", "harbor.example.com/dockerhub/langgenius/dify-api:1.17.1"),
    ("postgres:15-alpine", "harbor.example.com/dockerhub", "harbor.example.com/dockerhub/library/postgres:15-alpine"),
    ("ghcr.io/chroma-core/chroma:0.5.20", "registry.local:5000", "registry.local:5000/chroma-core/chroma:0.5.20"),
    ("nginx:latest", "", "nginx:latest"),
])
def test_image_rewrite(image, registry, expected):
    assert deploy.rewrite_image(image, registry) == expected


def test_compose_override_rewrites_every_service_of_the_release():
    compose = yaml.safe_load(read("docker-compose.yaml"))
    override = deploy.compose_override(compose, "mirror.example.com/hub", image_overrides={
        "sandbox": "mirror.example.com/custom/sandbox:0.2.15"}, extra={"services": {"api": {"mem_limit": "4g"}}})
    assert set(override["services"]) == set(compose["services"])
    assert override["services"]["redis"]["image"] == "mirror.example.com/hub/library/redis:6-alpine"
    assert override["services"]["sandbox"]["image"] == "mirror.example.com/custom/sandbox:0.2.15"
    assert override["services"]["api"] == {"image": "mirror.example.com/hub/langgenius/dify-api:1.17.1",
                                           "mem_limit": "4g"}


def test_compose_override_without_registry_is_empty():
    assert deploy.compose_override(yaml.safe_load(read("docker-compose.yaml"))) == {}
