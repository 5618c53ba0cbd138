# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""STAND-IN for Dify's console API (NOT Dify). Used by unit tests and the dify Molecule scenario.

Dify's images cannot be pulled here and its API needs PostgreSQL, Redis and the plugin daemon, so the bootstrap
module is exercised against this small server instead. It reproduces, from Dify's source (langgenius/dify api/),
the routes, payloads, status codes and auth rules the module relies on:

* controllers/console/setup.py: GET /setup -> {"step": "not_started"|"finished", "setup_at"}; POST /setup
  {email, name<=30, password, language?} -> 201 {"result": "success"}; 403 already_setup once set up;
  401 not_init_validated when INIT_PASSWORD is set and /init was not passed in this session.
* controllers/console/init_validate.py: GET /init -> {"status"}; POST /init {password<=30} -> 201, sets the
  session flag (a cookie), 401 init_validate_failed on a wrong password.
* libs/password.py: ^(?=.*[a-zA-Z])(?=.*\\d).{8,}$ -> 400 invalid_param otherwise.
* controllers/console/auth/login.py + wraps.decrypt_password_field: POST /login {email, password=BASE64,
  remember_me} -> {"result": "success"} with cookies access_token, refresh_token (HttpOnly) and csrf_token
  (readable); 401 authentication_failed "Invalid encrypted data" when the password is not Base64; 401 not_setup
  before setup; 429 email_password_login_limit after 5 failures.
* libs/token.py check_csrf_token: every @login_required call (GET included) needs X-CSRF-Token equal to the
  csrf_token cookie -> else 401 unauthorized "CSRF token is missing or invalid.". Cookie names get the
  "__Host-" prefix when Dify runs under https (--host-prefix here, without the Secure flag, plain http).
* controllers/console/workspace/plugin.py: GET plugin/list -> {"plugins":[{plugin_id, plugin_unique_identifier,
  version, ...}], "total"}; POST install/marketplace and install/pkg {"plugin_unique_identifiers": [...]} ->
  {"all_installed": false, "task_id"}; POST upload/pkg (multipart field "pkg") -> {"unique_identifier",
  "manifest", "verification"}; GET tasks/<id> -> {"task": {"status": pending|running|success|failed, "plugins"}}.
* controllers/console/workspace/models.py: GET/POST/PUT model-providers/<provider>/models/credentials,
  GET/POST default-model; credential values must be strings ("Variable context_size should be string"),
  secret inputs come back as core/helper/encrypter.obfuscated_token(); a provider exists only once its plugin
  is installed; the first credential writes after an install can fail with "plugin runtime not found" (the
  plugin daemon still starting), as reported by Dify users.

Differences from the real thing: state is in memory, tokens are random strings instead of JWTs, the plugin
package is not decoded or signature-checked, and credentials are not validated by calling the model endpoint.

Run: python3 dify_console_standin.py --port 5001 [--init-password X] [--host-prefix] [--warmup-failures N]
"""
from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
import secrets
import threading
import time
import uuid
from datetime import datetime, timezone
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PASSWORD_PATTERN = r"^(?=.*[a-zA-Z])(?=.*\d).{8,}$"
MODEL_TYPES = ("llm", "text-embedding", "rerank", "speech2text", "tts", "moderation")
# what the openai_api_compatible plugin's credential schema requires per model type, and the defaults it fills
REQUIRED = {"llm": ("endpoint_url", "mode", "context_size"),
            "text-embedding": ("endpoint_url", "context_size", "max_chunks"),
            "rerank": ("endpoint_url", "context_size")}
DEFAULTS = {"llm": {"function_calling_type": "no_call", "stream_function_calling": "not_supported",
                    "vision_support": "no_support", "stream_mode_delimiter": "\\n\\n"},
            "text-embedding": {"encoding_format": "not_set"}, "rerank": {}}
SECRET_FIELDS = ("api_key",)


def obfuscated_token(token: str) -> str:
    if not token:
        return token
    if len(token) <= 8:
        return "*" * 20
    return token[:6] + "*" * 12 + token[-2:]


class DifyError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class State:
    def __init__(self, init_password: str = "", host_prefix: bool = False, warmup_failures: int = 0,
                 task_polls: int = 2):
        self.lock = threading.Lock()
        self.init_password = init_password
        self.prefix = "__Host-" if host_prefix else ""
        self.warmup_failures = warmup_failures
        self.task_polls = task_polls
        self.setup_at = None
        self.account = None  # {"id", "email", "name", "password"}
        self.init_sessions: set[str] = set()
        self.access: dict[str, str] = {}
        self.csrf: dict[str, tuple[str, float]] = {}
        self.failures: dict[str, int] = {}
        self.plugins: dict[str, dict] = {}
        self.packages: dict[str, dict] = {}
        self.tasks: dict[str, dict] = {}
        self.credentials: dict[tuple, dict] = {}
        self.defaults: dict[str, dict] = {}
        self.log: list[str] = []
        self.runtime_failures_left = 0

    def summary(self) -> dict:
        """For tests only (not a Dify route): what was configured, secrets obfuscated."""
        return {
            "setup": bool(self.setup_at), "admin": (self.account or {}).get("email"),
            "plugins": sorted(self.plugins),
            "credentials": [{"provider": p, "model": m, "model_type": t,
                             "credentials": {k: obfuscated_token(v) if k in SECRET_FIELDS else v
                                             for k, v in rec["credentials"].items()}}
                            for (p, m, t), rec in sorted(self.credentials.items())],
            "defaults": {t: d["model"] for t, d in self.defaults.items()},
            "writes": [line for line in self.log if not line.startswith("GET")],
        }


def _identifier_plugin_id(identifier: str) -> str:
    return identifier.split(":", 1)[0]


class Handler(BaseHTTPRequestHandler):
    state: State = None  # set by make_server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    # -- plumbing
    def _cookies(self) -> dict:
        jar = SimpleCookie()
        jar.load(self.headers.get("Cookie", ""))
        return {k: v.value for k, v in jar.items()}

    def _send(self, status: int, body, cookies: list[str] = ()):
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for cookie in cookies:
            self.send_header("Set-Cookie", cookie)
        self.end_headers()
        self.wfile.write(raw)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            return {"_multipart": raw, "_ctype": ctype}
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise DifyError(400, "bad_request", "The browser (or proxy) sent a request that this server could not "
                                                "understand.") from None

    def _user(self) -> str:
        """@login_required + check_csrf_token."""
        st = self.state
        cookies = self._cookies()
        token = cookies.get(st.prefix + "access_token")
        auth = self.headers.get("Authorization", "")
        if not token and auth.lower().startswith("bearer "):
            token = auth.split(None, 1)[1]
        user_id = st.access.get(token or "")
        if not user_id:
            raise DifyError(401, "unauthorized", "Invalid Authorization token.")
        header = self.headers.get("X-CSRF-Token")
        cookie = cookies.get(st.prefix + "csrf_token")
        if not header or header != cookie or header not in st.csrf:
            raise DifyError(401, "unauthorized", "CSRF token is missing or invalid.")
        owner, exp = st.csrf[header]
        if owner != user_id or exp < time.time():
            raise DifyError(401, "unauthorized", "CSRF token is missing or invalid.")
        return user_id

    def _handle(self, method: str):
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        st = self.state
        with st.lock:
            st.log.append(f"{method} {path}")
        try:
            if path == "/_standin/state" and method == "GET":
                with st.lock:
                    self._send(200, st.summary())
                return
            if not path.startswith("/console/api/"):
                raise DifyError(404, "not_found", "The requested URL was not found on the server.")
            route = path[len("/console/api"):]
            body = self._body() if method in ("POST", "PUT", "PATCH", "DELETE") else {}
            with st.lock:
                status, payload, cookies = self._route(method, route, query, body)
            self._send(status, payload, cookies)
        except DifyError as err:
            self._send(err.status, {"code": err.code, "message": err.message, "status": err.status})

    def do_GET(self):  # noqa: N802
        self._handle("GET")

    def do_POST(self):  # noqa: N802
        self._handle("POST")

    def do_PUT(self):  # noqa: N802
        self._handle("PUT")

    # -- routes
    def _route(self, method, route, query, body):
        st = self.state
        if route == "/setup" and method == "GET":
            if st.setup_at:
                return 200, {"step": "finished", "setup_at": st.setup_at}, []
            return 200, {"step": "not_started"}, []
        if route == "/setup" and method == "POST":
            return self._setup(body)
        if route == "/init" and method == "GET":
            validated = not st.init_password or st.setup_at or self._cookies().get("session") in st.init_sessions
            return 200, {"status": "finished" if validated else "not_started"}, []
        if route == "/init" and method == "POST":
            if st.setup_at:
                raise DifyError(403, "already_setup", "Dify has been successfully installed.")
            password = str(body.get("password", ""))
            if len(password) > 30:
                raise DifyError(400, "invalid_param", "password: String should have at most 30 characters")
            if password != st.init_password:
                raise DifyError(401, "init_validate_failed", "Init validation failed. Please check the password.")
            session = secrets.token_hex(16)
            st.init_sessions.add(session)
            return 201, {"result": "success"}, [f"session={session}; HttpOnly; Path=/"]
        if route == "/login" and method == "POST":
            return self._login(body)

        self._user()
        plugin_prefix = "/workspaces/current/plugin/"
        if route == plugin_prefix + "list" and method == "GET":
            plugins = list(st.plugins.values())
            return 200, {"plugins": plugins, "total": len(plugins)}, []
        if route in (plugin_prefix + "install/marketplace", plugin_prefix + "install/pkg") and method == "POST":
            ids = body.get("plugin_unique_identifiers")
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise DifyError(400, "invalid_param", "plugin_unique_identifiers: Input should be a valid list")
            if route.endswith("/pkg") and any(i not in st.packages for i in ids):
                raise DifyError(400, "plugin_error", "plugin package not found, please upload it first")
            if route.endswith("/marketplace") and any(not re.match(r"^[\w-]+/[\w-]+:[\w.-]+@[0-9a-f]{64}$", i)
                                                      for i in ids):
                raise DifyError(400, "plugin_error", "plugin package not found")
            task_id = str(uuid.uuid4())
            st.tasks[task_id] = {"ids": ids, "polls": 0}
            return 200, {"all_installed": False, "task_id": task_id}, []
        if route == plugin_prefix + "upload/pkg" and method == "POST":
            if "_multipart" not in body or b'name="pkg"' not in body["_multipart"]:
                raise DifyError(400, "bad_request", "400 Bad Request: The browser (or proxy) sent a request that "
                                                    "this server could not understand. KeyError: 'pkg'")
            raw = body["_multipart"]
            digest = uuid.uuid5(uuid.NAMESPACE_OID, raw.hex()).hex + uuid.uuid5(uuid.NAMESPACE_DNS, raw.hex()).hex
            identifier = f"langgenius/openai_api_compatible:0.0.63@{digest}"
            st.packages[identifier] = {"name": "openai_api_compatible", "version": "0.0.63"}
            return 200, {"unique_identifier": identifier, "manifest": st.packages[identifier],
                         "verification": {"authorized_category": "langgenius"}}, []
        match = re.fullmatch(plugin_prefix + r"tasks/([0-9a-f-]+)", route)
        if match and method == "GET":
            task = st.tasks.get(match.group(1))
            if task is None:
                raise DifyError(400, "plugin_error", "task not found")
            task["polls"] += 1
            done = task["polls"] >= st.task_polls
            if done:
                for identifier in task["ids"]:
                    plugin_id = _identifier_plugin_id(identifier)
                    if plugin_id not in st.plugins:
                        st.runtime_failures_left = st.warmup_failures
                    st.plugins[plugin_id] = {
                        "plugin_id": plugin_id, "plugin_unique_identifier": identifier,
                        "version": identifier.split(":", 1)[1].split("@", 1)[0],
                        "installation_id": str(uuid.uuid4()), "name": plugin_id.split("/")[-1]}
            return 200, {"task": {"id": match.group(1), "status": "success" if done else "running",
                                  "total_plugins": len(task["ids"]), "completed_plugins": len(task["ids"]) if done else 0,
                                  "plugins": [{"plugin_unique_identifier": i, "plugin_id": _identifier_plugin_id(i),
                                               "status": "success" if done else "running", "message": ""}
                                              for i in task["ids"]]}}, []
        match = re.fullmatch(r"/workspaces/current/model-providers/(.+)/models/credentials", route)
        if match:
            return self._credentials(method, match.group(1), query, body)
        if route == "/workspaces/current/default-model" and method == "GET":
            model_type = query.get("model_type")
            if model_type not in MODEL_TYPES:
                raise DifyError(400, "invalid_param", "model_type: Input should be 'llm', 'text-embedding', ...")
            return 200, {"data": st.defaults.get(model_type)}, []
        if route == "/workspaces/current/default-model" and method == "POST":
            for setting in body.get("model_settings", []):
                if setting.get("provider") is None:
                    continue
                key = (setting["provider"], setting["model"], setting["model_type"])
                if key not in st.credentials:
                    raise DifyError(400, "invalid_param", f"Model {setting['model']} not exist.")
                st.defaults[setting["model_type"]] = {
                    "model": setting["model"], "model_type": setting["model_type"],
                    "provider": {"provider": setting["provider"], "label": {"en_US": "OpenAI-API-compatible"}}}
            return 200, {"result": "success"}, []
        raise DifyError(404, "not_found", "The requested URL was not found on the server.")

    def _setup(self, body):
        st = self.state
        if st.setup_at:
            raise DifyError(403, "already_setup", "Dify has been successfully installed. Please refresh the page "
                                                  "or return to the dashboard homepage.")
        if st.init_password and self._cookies().get("session") not in st.init_sessions:
            raise DifyError(401, "not_init_validated", "Init validation has not been completed yet. Please proceed "
                                                       "with the init validation process first.")
        email, name, password = body.get("email", ""), body.get("name", ""), body.get("password", "")
        if not re.match(r"^[\w.+-]+@[\w-]+(\.[\w-]+)+$", str(email)):
            raise DifyError(400, "invalid_param", f"{email} is not a valid email.")
        if not name or len(str(name)) > 30:
            raise DifyError(400, "invalid_param", "name: String should have at most 30 characters")
        if not isinstance(password, str) or re.match(PASSWORD_PATTERN, password) is None:
            raise DifyError(400, "invalid_param", "Password must contain letters and numbers, and the length must "
                                                  "be greater than 8.")
        st.account = {"id": str(uuid.uuid4()), "email": email.lower(), "name": name, "password": password}
        st.setup_at = datetime.now(timezone.utc).isoformat()
        return 201, {"result": "success"}, []

    def _login(self, body):
        st = self.state
        if not st.setup_at:
            raise DifyError(401, "not_setup", "Dify has not been initialized and installed yet.")
        email = str(body.get("email", "")).lower()
        if st.failures.get(email, 0) >= 5:
            raise DifyError(429, "email_password_login_limit", "Too many incorrect password attempts.")
        try:
            password = base64.b64decode(str(body.get("password", "")), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise DifyError(401, "authentication_failed", "Invalid encrypted data") from None
        if email != st.account["email"] or password != st.account["password"]:
            st.failures[email] = st.failures.get(email, 0) + 1
            raise DifyError(401, "authentication_failed", "Invalid email or password.")
        st.failures.pop(email, None)
        access, refresh, csrf = (secrets.token_urlsafe(24) for _i in range(3))
        st.access[access] = st.account["id"]
        st.csrf[csrf] = (st.account["id"], time.time() + 3600)
        p = st.prefix
        return 200, {"result": "success"}, [
            f"{p}access_token={access}; HttpOnly; Max-Age=3600; Path=/; SameSite=Lax",
            f"{p}refresh_token={refresh}; HttpOnly; Max-Age=2592000; Path=/; SameSite=Lax",
            f"{p}csrf_token={csrf}; Max-Age=3600; Path=/; SameSite=Lax"]

    def _credentials(self, method, provider, query, body):
        st = self.state
        if _identifier_plugin_id(provider.rsplit("/", 1)[0]) not in st.plugins:
            raise DifyError(400, "invalid_param", f"Provider {provider} does not exist.")
        source = query if method == "GET" else body
        model, model_type = source.get("model"), source.get("model_type")
        if model_type not in MODEL_TYPES:
            raise DifyError(400, "invalid_param", "model_type: Input should be 'llm', 'text-embedding', 'rerank', "
                                                  "'speech2text', 'moderation' or 'tts'")
        key = (provider, model, model_type)
        record = st.credentials.get(key)
        if method == "GET":
            if not record:
                return 200, {"credentials": {}, "current_credential_id": None, "current_credential_name": None,
                             "load_balancing": {"enabled": False, "configs": []}, "available_credentials": []}, []
            shown = {k: obfuscated_token(v) if k in SECRET_FIELDS else v for k, v in record["credentials"].items()}
            return 200, {"credentials": shown, "current_credential_id": record["id"],
                         "current_credential_name": record["name"],
                         "load_balancing": {"enabled": False, "configs": []},
                         "available_credentials": [{"credential_id": record["id"],
                                                    "credential_name": record["name"]}]}, []
        if st.runtime_failures_left > 0:
            st.runtime_failures_left -= 1
            raise DifyError(400, "invalid_param", "PluginDaemonInternalServerError: no available node, "
                                                  "plugin runtime not found")
        name = body.get("name")
        if name is not None and len(str(name)) > 30:
            raise DifyError(400, "invalid_param", "name: String should have at most 30 characters")
        credentials = body.get("credentials")
        if not isinstance(credentials, dict):
            raise DifyError(400, "invalid_param", "credentials: Input should be a valid dictionary")
        for variable, value in credentials.items():
            if not isinstance(value, str):
                raise DifyError(400, "invalid_param", f"Variable {variable} should be string")
        for variable in REQUIRED.get(model_type, ("endpoint_url",)):
            if not credentials.get(variable):
                raise DifyError(400, "invalid_param", f"Variable {variable} is required")
        stored = dict(DEFAULTS.get(model_type, {}))
        stored.update(credentials)
        if method == "POST":
            if record:
                raise DifyError(400, "invalid_param", "Credential with this name already exists")
            st.credentials[key] = {"id": str(uuid.uuid4()), "name": name or "API KEY 1", "credentials": stored}
            return 201, {"result": "success"}, []
        if method == "PUT":
            if not record or body.get("credential_id") != record["id"]:
                raise DifyError(400, "invalid_param", "Credential record not found.")
            secret_kept = {k: record["credentials"][k] for k in SECRET_FIELDS
                           if credentials.get(k) == obfuscated_token(record["credentials"].get(k, ""))}
            stored.update(secret_kept)
            record["credentials"] = stored
            if name:
                record["name"] = name
            return 200, {"result": "success"}, []
        raise DifyError(405, "method_not_allowed", "The method is not allowed for the requested URL.")


def make_server(port: int = 0, host: str = "127.0.0.1", **state_kwargs) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"state": State(**state_kwargs)})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--init-password", default="")
    parser.add_argument("--host-prefix", action="store_true")
    parser.add_argument("--warmup-failures", type=int, default=0)
    args = parser.parse_args()
    server = make_server(args.port, args.host, init_password=args.init_password, host_prefix=args.host_prefix,
                         warmup_failures=args.warmup_failures)
    server.serve_forever()


if __name__ == "__main__":
    main()
