# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dify deployment files from data: secrets kept across runs, the .env, the compose override (image rewrite).

Pure Python, no Ansible import; the dify role reaches it through the filters in plugins/filter/dify_deploy.py.
We never edit Dify's own files: `.env` = the release's `.env.example` with our keys set (so a human running
`docker compose` in that directory gets the same configuration), `docker-compose.override.yaml` = ours.
"""
from __future__ import annotations

import re
import secrets
import string

_ALNUM = string.ascii_letters + string.digits
# base64url characters whose low two bits are zero: a valid last character of a 43-character unpadded
# base64url string (32 bytes), as DIFY_AGENT_SERVER_SECRET_KEY requires
_B64URL_LAST = "AEIMQUYcgkosw048"

# name -> (length, kind). Generated once, stored 0600 on the host, reused on every run.
SECRET_SPEC = {
    "SECRET_KEY": (56, "alnum"),                   # openssl rand -base64 42 in Dify's docs: 56 characters
    "DB_PASSWORD": (32, "alnum"),
    "REDIS_PASSWORD": (32, "alnum"),
    "PLUGIN_DAEMON_KEY": (48, "alnum"),
    "PLUGIN_DIFY_INNER_API_KEY": (48, "alnum"),
    "SANDBOX_API_KEY": (48, "alnum"),
    "WEAVIATE_API_KEY": (36, "alnum"),
    "INIT_PASSWORD": (24, "alnum"),                # Dify allows at most 30 characters
    "DIFY_AGENT_SERVER_SECRET_KEY": (43, "b64url32"),
}

_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_./:@,+=%*-]*$")
_KEY_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


def _generate(length: int, kind: str) -> str:
    if kind == "b64url32":
        body = "".join(secrets.choice(_ALNUM + "-_") for _i in range(42))
        return body + secrets.choice(_B64URL_LAST)
    return "".join(secrets.choice(_ALNUM) for _i in range(length))


def ensure_secrets(existing: dict | None, names=None) -> dict:
    """Existing secrets are kept byte for byte; only missing (or empty) ones are generated."""
    result = dict(existing or {})
    for name in names if names is not None else SECRET_SPEC:
        if not result.get(name):
            length, kind = SECRET_SPEC.get(name, (32, "alnum"))
            result[name] = _generate(length, kind)
    return result


def env_overrides(secret_values: dict, settings: dict | None = None, extra: dict | None = None) -> dict:
    """The .env keys we own. ``settings``: ports, mirrors and URLs; ``extra``: the user's dify_env (wins)."""
    s = settings or {}
    redis_host = (extra or {}).get("REDIS_HOST", "redis")
    env = {
        "SECRET_KEY": secret_values["SECRET_KEY"],
        "INIT_PASSWORD": secret_values.get("INIT_PASSWORD", "") if s.get("init_password_enabled", True) else "",
        "DB_PASSWORD": secret_values["DB_PASSWORD"],
        "POSTGRES_PASSWORD": secret_values["DB_PASSWORD"],
        "REDIS_PASSWORD": secret_values["REDIS_PASSWORD"],
        # the broker URL embeds the Redis password: it must follow it
        "CELERY_BROKER_URL": f"redis://:{secret_values['REDIS_PASSWORD']}@{redis_host}:6379/1",
        "PLUGIN_DAEMON_KEY": secret_values["PLUGIN_DAEMON_KEY"],
        "PLUGIN_DIFY_INNER_API_KEY": secret_values["PLUGIN_DIFY_INNER_API_KEY"],
        "INNER_API_KEY_FOR_PLUGIN": secret_values["PLUGIN_DIFY_INNER_API_KEY"],
        "SANDBOX_API_KEY": secret_values["SANDBOX_API_KEY"],
        "CODE_EXECUTION_API_KEY": secret_values["SANDBOX_API_KEY"],
        "WEAVIATE_API_KEY": secret_values["WEAVIATE_API_KEY"],
        "WEAVIATE_AUTHENTICATION_APIKEY_ALLOWED_KEYS": secret_values["WEAVIATE_API_KEY"],
        "DIFY_AGENT_SERVER_SECRET_KEY": secret_values["DIFY_AGENT_SERVER_SECRET_KEY"],
    }
    for key, env_key in (("expose_port", "EXPOSE_NGINX_PORT"), ("expose_ssl_port", "EXPOSE_NGINX_SSL_PORT"),
                         ("pip_mirror_url", "PIP_MIRROR_URL"), ("console_url", "CONSOLE_WEB_URL"),
                         ("console_url", "CONSOLE_API_URL"), ("console_url", "APP_WEB_URL"),
                         ("console_url", "SERVICE_API_URL"), ("console_url", "APP_API_URL"),
                         ("marketplace_enabled", "MARKETPLACE_ENABLED"),
                         ("check_update_url", "CHECK_UPDATE_URL"), ("compose_profiles", "COMPOSE_PROFILES")):
        value = s.get(key)
        if value is None or value == "":
            continue
        env[env_key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    for key, value in (extra or {}).items():
        env[str(key)] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return env


def _quote(value: str) -> str:
    if _PLAIN_VALUE.match(value):
        return value
    if "'" not in value:
        return f"'{value}'"  # single quotes: literal in Compose env files, no interpolation
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def merge_dotenv(example_text: str, overrides: dict, header: str = "") -> str:
    """``.env.example`` with each overridden key's value replaced in place; keys it lacks are appended."""
    lines = (example_text or "").splitlines()
    done = set()
    out = []
    for line in lines:
        match = _KEY_LINE.match(line)
        if match and match.group(1) in overrides:
            key = match.group(1)
            if key in done:
                continue  # a key listed twice in the example: keep one, ours
            out.append(f"{key}={_quote(str(overrides[key]))}")
            done.add(key)
        else:
            out.append(line)
    missing = [k for k in overrides if k not in done]
    if missing:
        out.append("")
        out.append(header or "# Set by llmops.vllm_stack (not in the release's .env.example)")
        out.extend(f"{k}={_quote(str(overrides[k]))}" for k in missing)
    return "\n".join(out) + "\n"


def rewrite_image(image: str, registry: str, library_prefix: bool = True) -> str:
    """``postgres:15-alpine`` -> ``<registry>/library/postgres:15-alpine``; ``langgenius/dify-api:1.17.1`` ->
    ``<registry>/langgenius/dify-api:1.17.1``; ``ghcr.io/org/x:1`` -> ``<registry>/org/x:1``."""
    if not registry or not image or "${" in image:
        return image
    first, _sep, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        image = rest  # drop the source registry host
    elif not rest and library_prefix:
        image = f"library/{image}"
    return f"{registry.rstrip('/')}/{image}"


def compose_override(compose: dict, registry: str = "", library_prefix: bool = True,
                     image_overrides: dict | None = None, extra: dict | None = None) -> dict:
    """The docker-compose.override.yaml content: image rewrites for every service of the release's compose file,
    explicit per-service images, then the user's extra override (deep-merged)."""
    services = {}
    for name, spec in ((compose or {}).get("services") or {}).items():
        image = (spec or {}).get("image")
        new = (image_overrides or {}).get(name) or rewrite_image(image, registry, library_prefix)
        if image and new != image:
            services[name] = {"image": new}
    for name, image in (image_overrides or {}).items():
        services.setdefault(name, {"image": image})
    result = {"services": services} if services else {}
    return _deep_merge(result, extra or {})


def _deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
