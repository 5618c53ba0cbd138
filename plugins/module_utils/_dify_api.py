# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Headless Dify bootstrap over the console API: admin setup, login, plugin install, model credentials, defaults.

Pure Python on the standard library (urllib + http.cookiejar): nothing to install on the managed host.

The routes, payloads and auth rules follow Dify's own source (langgenius/dify, api/):
  controllers/console/setup.py        GET/POST /console/api/setup  (password rule from libs/password.py)
  controllers/console/init_validate.py GET/POST /console/api/init  (only when INIT_PASSWORD is set)
  controllers/console/auth/login.py   POST /console/api/login, password Base64-encoded (@decrypt_password_field)
  libs/token.py                       access_token / refresh_token / csrf_token cookies ("__Host-" prefix under
                                      https); every @login_required call needs header X-CSRF-Token == the
                                      csrf_token cookie, GET included
  controllers/console/workspace/plugin.py  plugin/list, install/marketplace, upload/pkg, install/pkg, tasks/<id>
  controllers/console/workspace/models.py  model-providers/<provider>/models/credentials (GET/POST/PUT),
                                           default-model (GET/POST)
  core/helper/encrypter.py            obfuscated_token(): how secret credential values come back from GET
"""
from __future__ import annotations

import base64
import http.cookiejar
import json
import re
import time
import uuid
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, HTTPSHandler, Request, build_opener

# libs/password.py
PASSWORD_PATTERN = r"^(?=.*[a-zA-Z])(?=.*\d).{8,}$"
PASSWORD_RULE = "at least 8 characters with at least one letter and one digit (Dify's rule ^(?=.*[a-zA-Z])(?=.*\\d).{8,}$)"
MODEL_TYPES = ("llm", "text-embedding", "rerank", "speech2text", "tts", "moderation")
DEFAULT_PROVIDER = "langgenius/openai_api_compatible/openai_api_compatible"
DEFAULT_PLUGIN_ID = "langgenius/openai_api_compatible"

# vllm_services[].task -> Dify model type
TASK_TO_MODEL_TYPE = {
    "chat": "llm", "generate": "llm", "llm": "llm", "completion": "llm",
    "embed": "text-embedding", "embedding": "text-embedding", "text-embedding": "text-embedding",
    "score": "rerank", "rerank": "rerank",
}
_WILDCARD_BINDS = ("", "0.0.0.0", "::", "[::]")
_LOOPBACK_BINDS = ("127.0.0.1", "localhost", "::1", "[::1]")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class DifyError(Exception):
    """An HTTP call answered with an error (or not at all)."""

    def __init__(self, method: str, path: str, status: int | None, code: str = "", message: str = ""):
        self.method, self.path, self.status, self.code, self.message = method, path, status, code, message
        super().__init__(f"{method} {path} -> {status if status is not None else 'no answer'}"
                         f"{' ' + code if code else ''}: {message}")


class InputError(ValueError):
    """The requested configuration cannot work; raised before any request is made."""


# --------------------------------------------------------------------------------------------- pure helpers
def password_problem(password: str) -> str | None:
    if not isinstance(password, str) or re.match(PASSWORD_PATTERN, password) is None:
        return f"the password does not satisfy {PASSWORD_RULE}"
    return None


def obfuscated_token(token: str) -> str:
    """core/helper/encrypter.py: how Dify returns secret-input credential values."""
    if not token:
        return token
    if len(token) <= 8:
        return "*" * 20
    return token[:6] + "*" * 12 + token[-2:]


def credentials_match(current: dict, desired: dict, secret_fields=("api_key",)) -> bool:
    """True when every desired key is stored with the same value (secrets compared in obfuscated form)."""
    for key, value in desired.items():
        have = (current or {}).get(key)
        if key in secret_fields:
            if have not in (value, obfuscated_token(value)):
                return False
        elif have is None or str(have) != str(value):
            return False
    return True


def _str(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def resolve_models(models: list, services: list, endpoint_host: str = "", api_key: str = "",
                   labels: dict | None = None) -> list[dict]:
    """Turn ``dify_models`` entries (which name a vLLM service) into credential payloads.

    Each entry: ``service`` (a vllm_services[].name, required), optional ``model`` (name in Dify; default the
    service's served_model_name, else its name), ``model_type`` (default from the service's task),
    ``endpoint_url`` (default http://<endpoint_host>:<port>/v1, or the service's bind address when it is a
    specific one), ``api_key`` (default the
    service's api_key, else ``api_key``), ``context_size`` (default the service's max_model_len),
    ``max_tokens``/``max_chunks``/``mode``, ``credentials`` (extra plugin credential keys), ``credential_name``.
    Raises InputError listing every problem; messages use the names in ``labels``
    (``{"models": "dify_models", "services": "vllm_services"}``).
    """
    labels = labels or {}
    m_name, s_name = labels.get("models", "models"), labels.get("services", "services")
    problems: list[str] = []
    by_name = {}
    for i, svc in enumerate(services or []):
        if not isinstance(svc, dict) or not svc.get("name"):
            problems.append(f"{s_name}[{i}] has no name")
            continue
        by_name[str(svc["name"])] = svc
    out, seen = [], set()
    for i, entry in enumerate(models or []):
        where = f"{m_name}[{i}]"
        if not isinstance(entry, dict) or not entry.get("service"):
            problems.append(f"{where} needs 'service': the name of an entry in {s_name}")
            continue
        svc = by_name.get(str(entry["service"]))
        if svc is None:
            known = ", ".join(sorted(by_name)) or "none"
            problems.append(f"{where}.service '{entry['service']}' is not a service defined in {s_name} "
                            f"(defined: {known})")
            continue
        model_type = entry.get("model_type") or TASK_TO_MODEL_TYPE.get(str(svc.get("task", "chat")))
        if model_type not in MODEL_TYPES:
            problems.append(f"{where}: cannot tell the Dify model type of service '{svc['name']}' "
                            f"(task {svc.get('task')!r}); set {where}.model_type to one of {', '.join(MODEL_TYPES[:3])}")
            continue
        # vllm_services[].host is the address vLLM binds: a wildcard means "reach it at endpoint_host"
        bind = str(svc.get("host") or "")
        host = endpoint_host if bind in _WILDCARD_BINDS else bind
        endpoint = entry.get("endpoint_url")
        if not endpoint and bind in _LOOPBACK_BINDS:
            problems.append(f"{where}: service '{svc['name']}' listens on {bind} only, which Dify's containers "
                            f"cannot reach; bind it to 0.0.0.0 or the host's address, or set {where}.endpoint_url")
            continue
        if not endpoint:
            if not host or not svc.get("port"):
                problems.append(f"{where}: service '{svc['name']}' has no host/port to build endpoint_url from; "
                                f"set the service's port and the endpoint host, or {where}.endpoint_url")
                continue
            endpoint = f"http://{host}:{svc['port']}/v1"
        elif not re.match(r"^https?://[^/\s]+", str(endpoint)):
            problems.append(f"{where}.endpoint_url {endpoint!r} is not an http(s) URL")
            continue
        model = str(entry.get("model") or svc.get("served_model_name") or svc["name"])
        key = (model, model_type)
        if key in seen:
            problems.append(f"{where}: model '{model}' ({model_type}) is listed twice")
            continue
        seen.add(key)
        context = entry.get("context_size") or svc.get("max_model_len") or 4096
        creds = {"endpoint_url": str(endpoint)}
        secret = entry.get("api_key") or svc.get("api_key") or api_key
        if secret:
            creds["api_key"] = str(secret)
        served = svc.get("served_model_name") or svc["name"]
        if str(served) != model:
            creds["endpoint_model_name"] = str(served)
        creds["context_size"] = _str(context)
        if model_type == "llm":
            creds["mode"] = str(entry.get("mode", "chat"))
            creds["max_tokens_to_sample"] = _str(entry.get("max_tokens", min(int(context), 4096)))
        elif model_type == "text-embedding":
            creds["max_chunks"] = _str(entry.get("max_chunks", 32))
        for extra_key, extra_value in (entry.get("credentials") or {}).items():
            creds[str(extra_key)] = _str(extra_value)
        name = entry.get("credential_name")
        if name and len(str(name)) > 30:
            problems.append(f"{where}.credential_name is longer than Dify's 30 characters")
            continue
        out.append({"model": model, "model_type": model_type, "credentials": creds, "service": str(svc["name"]),
                    "credential_name": str(name) if name else None})
    if problems:
        raise InputError("; ".join(problems))
    return out


def default_models_for(resolved: list, requested: dict | None) -> dict:
    """``{model_type: model}``: the requested defaults, else the first registered model of each type."""
    if requested:
        known = {(m["model"], m["model_type"]) for m in resolved}
        bad = [f"{t}={m}" for t, m in requested.items() if (m, t) not in known]
        if bad:
            raise InputError(f"default models {', '.join(bad)} are not in the registered models "
                             f"({', '.join(sorted(f'{t}={m}' for m, t in known)) or 'none'})")
        return dict(requested)
    defaults: dict = {}
    for m in resolved:
        if m["model_type"] in ("llm", "text-embedding", "rerank"):
            defaults.setdefault(m["model_type"], m["model"])
    return defaults


# --------------------------------------------------------------------------------------------- HTTP client
def _multipart(field: str, filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class DifyClient:
    """Console API client with a cookie jar (Dify returns its tokens as cookies)."""

    def __init__(self, base_url: str, timeout: float = 30.0, ssl_context=None):
        self.base = base_url.rstrip("/")
        if not re.match(r"^https?://", self.base):
            raise InputError(f"url {base_url!r} is not an http(s) URL")
        self.timeout = timeout
        self.jar = http.cookiejar.CookieJar()
        handlers = [HTTPCookieProcessor(self.jar)]
        if ssl_context is not None:
            handlers.append(HTTPSHandler(context=ssl_context))
        self.opener = build_opener(*handlers)
        self.calls: list[str] = []

    # -- transport
    def csrf_token(self) -> str | None:
        for cookie in self.jar:
            if cookie.name in ("csrf_token", "__Host-csrf_token"):
                return cookie.value
        return None

    def call(self, method: str, path: str, body=None, query: dict | None = None, upload: tuple | None = None):
        url = f"{self.base}/console/api{path}"
        if query:
            url += "?" + urlencode(query)
        headers = {"Accept": "application/json"}
        data = None
        if upload is not None:
            data, headers["Content-Type"] = _multipart(*upload)
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        token = self.csrf_token()
        if token:
            headers["X-CSRF-Token"] = token
        self.calls.append(f"{method} {path}")
        request = Request(url, data=data, headers=headers, method=method)
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return response.status, _json(response.read())
        except HTTPError as exc:
            payload = _json(exc.read())
            code = payload.get("code", "") if isinstance(payload, dict) else ""
            message = payload.get("message", "") if isinstance(payload, dict) else str(payload)
            raise DifyError(method, path, exc.code, code, message or exc.reason) from None
        except (URLError, OSError) as exc:
            raise DifyError(method, path, None, "", str(getattr(exc, "reason", exc))) from None

    # -- setup / auth
    def setup_step(self) -> str:
        return self.call("GET", "/setup")[1].get("step", "")

    def init_status(self) -> str:
        return self.call("GET", "/init")[1].get("status", "")

    def init_validate(self, password: str) -> None:
        self.call("POST", "/init", {"password": password})

    def setup(self, email: str, name: str, password: str, language: str | None = None) -> None:
        body = {"email": email, "name": name, "password": password}
        if language:
            body["language"] = language
        self.call("POST", "/setup", body)

    def login(self, email: str, password: str) -> None:
        encoded = base64.b64encode(password.encode("utf-8")).decode("ascii")
        _status, payload = self.call("POST", "/login", {"email": email, "password": encoded, "remember_me": True})
        if payload.get("result") != "success":
            raise DifyError("POST", "/login", 200, "login_failed", str(payload.get("data") or payload))
        if not self.csrf_token():
            raise DifyError("POST", "/login", 200, "no_csrf_cookie",
                            "login answered without a csrf_token cookie (is this Dify >= 1.9 behind its nginx?)")

    # -- plugins
    def plugins(self) -> list:
        return self.call("GET", "/workspaces/current/plugin/list", query={"page": 1, "page_size": 256})[1].get(
            "plugins", [])

    def install_from_marketplace(self, identifier: str) -> dict:
        return self.call("POST", "/workspaces/current/plugin/install/marketplace",
                         {"plugin_unique_identifiers": [identifier]})[1]

    def upload_package(self, filename: str, content: bytes) -> dict:
        return self.call("POST", "/workspaces/current/plugin/upload/pkg", upload=("pkg", filename, content))[1]

    def install_from_package(self, identifier: str) -> dict:
        return self.call("POST", "/workspaces/current/plugin/install/pkg",
                         {"plugin_unique_identifiers": [identifier]})[1]

    def task(self, task_id: str) -> dict:
        return self.call("GET", f"/workspaces/current/plugin/tasks/{task_id}")[1].get("task", {})

    # -- models
    def model_credentials(self, provider: str, model: str, model_type: str) -> dict:
        return self.call("GET", f"/workspaces/current/model-providers/{provider}/models/credentials",
                         query={"model": model, "model_type": model_type})[1]

    def create_model_credential(self, provider: str, model: str, model_type: str, credentials: dict,
                                name: str | None) -> None:
        body = {"model": model, "model_type": model_type, "credentials": credentials}
        if name:
            body["name"] = name
        self.call("POST", f"/workspaces/current/model-providers/{provider}/models/credentials", body)

    def update_model_credential(self, provider: str, model: str, model_type: str, credential_id: str,
                                credentials: dict, name: str | None) -> None:
        body = {"model": model, "model_type": model_type, "credential_id": credential_id,
                "credentials": credentials}
        if name:
            body["name"] = name
        self.call("PUT", f"/workspaces/current/model-providers/{provider}/models/credentials", body)

    def default_model(self, model_type: str) -> dict | None:
        return self.call("GET", "/workspaces/current/default-model", query={"model_type": model_type})[1].get("data")

    def set_default_models(self, settings: list) -> None:
        self.call("POST", "/workspaces/current/default-model", {"model_settings": settings})


def _json(raw: bytes):
    if not raw:
        return {}
    try:
        return json.loads(raw.decode("utf-8"))
    except ValueError:
        return {"message": raw.decode("utf-8", "replace")[:500]}


# --------------------------------------------------------------------------------------------- the bootstrap
def _retrying(action, retry_timeout: float, sleep=time.sleep, clock=time.monotonic):
    """Retry while the plugin runtime is still starting ("plugin runtime not found", "no available node")."""
    deadline = clock() + retry_timeout
    delay = 2.0
    while True:
        try:
            return action()
        except DifyError as exc:
            transient = exc.status in (None, 502, 503, 504) or (
                exc.status in (400, 500) and re.search(r"runtime not found|no available node|not ready|"
                                                       r"PluginDaemon(Internal|Unavailable)", exc.message or ""))
            if not transient or clock() + delay > deadline:
                raise
            sleep(delay)
            delay = min(delay * 2, 15.0)


def _plugin_installed(plugins: list, plugin_id: str) -> dict | None:
    for plugin in plugins:
        if plugin.get("plugin_id") == plugin_id:
            return plugin
    return None


def _wait_task(client: DifyClient, task_id: str, timeout: float, sleep, clock) -> dict:
    deadline = clock() + timeout
    while True:
        task = client.task(task_id)
        status = task.get("status")
        if status == "success":
            return task
        if status == "failed":
            messages = "; ".join(p.get("message", "") for p in task.get("plugins", []) if p.get("message"))
            raise DifyError("GET", f"/workspaces/current/plugin/tasks/{task_id}", 200, "plugin_install_failed",
                            messages or "the plugin daemon reported the install as failed")
        if clock() > deadline:
            raise DifyError("GET", f"/workspaces/current/plugin/tasks/{task_id}", 200, "timeout",
                            f"plugin install still {status!r} after {timeout:.0f} s")
        sleep(2.0)


def bootstrap(client: DifyClient, *, admin_email: str, admin_password: str, admin_name: str = "admin",
              language: str | None = None, init_password: str = "", plugin_id: str = DEFAULT_PLUGIN_ID,
              plugin_identifier: str = "", plugin_package: tuple | None = None,
              provider: str = DEFAULT_PROVIDER, models: list | None = None, default_models: dict | None = None,
              manage_defaults: bool = True, secret_fields=("api_key",), check_mode: bool = False, plugin_timeout: float = 600.0,
              retry_timeout: float = 300.0, sleep=time.sleep, clock=time.monotonic) -> dict:
    """Converge a Dify instance; returns ``{"changed", "actions", "models", "default_models"}``.

    ``models`` are resolve_models() output. ``plugin_package`` is ``(filename, bytes)`` of a .difypkg for
    offline installs; else ``plugin_identifier`` (marketplace ``org/name:version@sha256``) is installed.
    In check mode nothing is written; what would change is reported.
    """
    if password_problem(admin_password):
        raise InputError(f"admin_password: {password_problem(admin_password)}")
    if not _EMAIL_RE.match(admin_email or ""):
        raise InputError(f"admin_email {admin_email!r} is not an email address")
    models = models or []
    defaults = default_models_for(models, default_models) if manage_defaults else {}
    actions: list[str] = []
    result = {"changed": False, "actions": actions, "models": [], "default_models": defaults}

    step = client.setup_step()
    if step != "finished":
        actions.append(f"create the admin account {admin_email}")
        if check_mode:
            # a fresh instance: everything below would be done, nothing can be read before the admin exists
            actions.append(f"install plugin {plugin_id}")
            result["models"] = [{"model": m["model"], "model_type": m["model_type"], "action": "create"}
                                for m in models]
            actions += [f"register {m['model_type']} model {m['model']}" for m in models]
            if defaults:
                actions.append("set default models " + ", ".join(f"{t}={m}" for t, m in defaults.items()))
            result["changed"] = True
            return result
        if init_password and client.init_status() != "finished":
            client.init_validate(init_password)
        try:
            client.setup(admin_email, admin_name, admin_password, language)
        except DifyError as exc:
            if exc.code != "already_setup":
                raise
            actions.pop()
        result["changed"] = True

    client.login(admin_email, admin_password)

    # plugin
    if models:
        if _plugin_installed(client.plugins(), plugin_id) is None:
            actions.append(f"install plugin {plugin_id}")
            result["changed"] = True
            if not check_mode:
                if plugin_package is not None:
                    decoded = client.upload_package(*plugin_package)
                    started = client.install_from_package(decoded["unique_identifier"])
                elif plugin_identifier:
                    started = client.install_from_marketplace(plugin_identifier)
                else:
                    raise InputError(f"plugin {plugin_id} is not installed and neither a marketplace identifier "
                                     f"nor a .difypkg package was given")
                if not started.get("all_installed"):
                    _wait_task(client, started["task_id"], plugin_timeout, sleep, clock)
                if _plugin_installed(client.plugins(), plugin_id) is None:
                    raise DifyError("GET", "/workspaces/current/plugin/list", 200, "plugin_missing",
                                    f"{plugin_id} is not listed after its install task succeeded; is the "
                                    f"package really {plugin_id}?")

    # models
    plugin_pending = check_mode and any(a.startswith("install plugin") for a in actions)
    for m in models:
        entry = {"model": m["model"], "model_type": m["model_type"], "service": m.get("service")}
        current = {} if plugin_pending else _retrying(
            lambda m=m: client.model_credentials(provider, m["model"], m["model_type"]), retry_timeout, sleep, clock)
        credential_id = current.get("current_credential_id")
        if not credential_id:
            entry["action"] = "create"
            if not check_mode:
                _retrying(lambda m=m: client.create_model_credential(
                    provider, m["model"], m["model_type"], m["credentials"], m.get("credential_name")),
                    retry_timeout, sleep, clock)
        elif not credentials_match(current.get("credentials") or {}, m["credentials"], secret_fields):
            entry["action"] = "update"
            if not check_mode:
                _retrying(lambda m=m, cid=credential_id: client.update_model_credential(
                    provider, m["model"], m["model_type"], cid, m["credentials"], m.get("credential_name")),
                    retry_timeout, sleep, clock)
        else:
            entry["action"] = "unchanged"
        if entry["action"] != "unchanged":
            actions.append(f"{entry['action']} {m['model_type']} model {m['model']}")
            result["changed"] = True
        result["models"].append(entry)

    # workspace defaults
    wanted = []
    for model_type, model in defaults.items():
        current = None if plugin_pending else client.default_model(model_type)
        have_model = (current or {}).get("model")
        have_provider = ((current or {}).get("provider") or {})
        have_provider = have_provider.get("provider") if isinstance(have_provider, dict) else have_provider
        if have_model != model or have_provider != provider:
            wanted.append({"model_type": model_type, "provider": provider, "model": model})
    if wanted:
        actions.append("set default models " + ", ".join(f"{w['model_type']}={w['model']}" for w in wanted))
        result["changed"] = True
        if not check_mode:
            client.set_default_models(wanted)
    return result
