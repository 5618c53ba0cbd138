# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merge settings into Docker's daemon.json without clobbering keys that others own.

Pure Python (no Ansible import) so the docker role, the nvidia_container_toolkit role and a container-runtime
vLLM role all share one implementation through the ``docker_daemon_config`` module.

Rules (what the tests pin down):

* dict values merge recursively; keys we do not set are kept untouched (an admin's ``"debug": true``, a
  ``runtimes`` entry another tool wrote, ...).
* list values merge as an ordered union: existing entries first, ours appended, duplicates dropped. Registry
  URLs compare without a trailing slash. ``exec-opts`` entries are ``name=value`` options: ours replace an
  existing option with the same name (``native.cgroupdriver=systemd`` replaces ``...=cgroupfs``).
* scalar values: ours win.
* ``remove`` paths (``"default-runtime"``, ``"runtimes.nvidia"``) delete keys we used to own.
* nothing is written when the merged document equals the parsed existing one (formatting is not "a change").
"""
from __future__ import annotations

import copy
import json
import re
from urllib.parse import urlsplit

# dockerd graph drivers, plus the containerd snapshotters that `storage-driver` names when the containerd
# image store is on (the default for fresh installs since Docker 29).
KNOWN_STORAGE_DRIVERS = (
    "overlay2", "fuse-overlayfs", "btrfs", "zfs", "vfs",
    "overlayfs", "native", "stargz",
)
KNOWN_LOG_DRIVERS = (
    "json-file", "local", "journald", "syslog", "none", "fluentd", "gelf", "awslogs", "splunk", "etwlogs",
    "gcplogs", "logentries",
)
KNOWN_CGROUP_DRIVERS = ("systemd", "cgroupfs")

_SIZE_RE = re.compile(r"^[0-9]+[kmgKMG]?$")
_HOSTPORT_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$")
_CIDR_RE = re.compile(r"^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$")

# keys whose lists hold registry URLs (compared without a trailing slash)
_URL_LIST_KEYS = ("registry-mirrors",)
# keys whose lists hold name=value options (ours replace the same name)
_OPTION_LIST_KEYS = ("exec-opts",)


class DaemonJsonError(ValueError):
    """The existing file or the requested settings cannot be used."""


def parse(text: str | None) -> dict:
    """Parse the text of an existing daemon.json; an empty or missing file is ``{}``."""
    if text is None or not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise DaemonJsonError(f"the existing file is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DaemonJsonError(f"the existing file holds a JSON {type(data).__name__}, not an object")
    return data


def render(config: dict) -> str:
    """Serialise like ``nvidia-ctk runtime configure`` does (4-space indent), with a final newline."""
    return json.dumps(config, indent=4, ensure_ascii=False) + "\n"


def _label(key: str, labels: dict | None) -> str:
    if labels and key in labels:
        return f"{labels[key]} (daemon.json key '{key}')"
    return f"daemon.json key '{key}'"


def _check_registry_url(value, where: str) -> list[str]:
    if not isinstance(value, str):
        return [f"{where}: {value!r} is not a string; a registry mirror is an http(s) URL like https://mirror.example.com"]
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return [f"{where}: {value!r} is not an http(s) URL; a registry mirror looks like https://mirror.example.com"]
    if " " in value or parts.query or parts.fragment or parts.path not in ("", "/"):
        return [f"{where}: {value!r} has a path, query or fragment; Docker only accepts a registry mirror at the "
                f"root of a host (https://mirror.example.com), see docs.docker.com/docker-hub/image-library/mirror"]
    try:
        port = parts.port
    except ValueError:
        return [f"{where}: {value!r} has an invalid port"]
    if port is not None and not 0 < port < 65536:
        return [f"{where}: {value!r} has an invalid port"]
    return []


def _check_str_list(value, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return [f"{where}: must be a list of strings, got {value!r}"]
    return []


def validate(config: dict, labels: dict | None = None) -> list[str]:
    """Return human-readable problems with the settings we were asked to write (empty list: fine)."""
    if not isinstance(config, dict):
        return [f"the settings must be a mapping of daemon.json keys, got {type(config).__name__}"]
    problems: list[str] = []
    for key, value in config.items():
        where = _label(key, labels)
        if key in ("registry-mirrors",):
            problems += _check_str_list(value, where) or [
                p for i, v in enumerate(value) for p in _check_registry_url(v, f"{where}[{i}]")]
        elif key == "insecure-registries":
            problems += _check_str_list(value, where) or [
                f"{where}[{i}]: {v!r} is not a host[:port], a CIDR or an http(s) URL"
                for i, v in enumerate(value)
                if not (_HOSTPORT_RE.match(v) or _CIDR_RE.match(v) or not _check_registry_url(v, ""))]
        elif key == "storage-driver":
            if value not in KNOWN_STORAGE_DRIVERS:
                problems.append(f"{where}: unknown storage driver {value!r}; known: {', '.join(KNOWN_STORAGE_DRIVERS)}")
        elif key == "log-driver":
            if value not in KNOWN_LOG_DRIVERS:
                problems.append(f"{where}: unknown log driver {value!r}; known: {', '.join(KNOWN_LOG_DRIVERS)}")
        elif key == "log-opts":
            problems += _validate_log_opts(value, where)
        elif key == "data-root":
            if not isinstance(value, str) or not value.startswith("/"):
                problems.append(f"{where}: {value!r} is not an absolute path")
        elif key == "exec-opts":
            problems += _check_str_list(value, where) or [
                f"{where}[{i}]: {v!r} is not a name=value option" for i, v in enumerate(value) if "=" not in v]
            for v in value if isinstance(value, list) else []:
                if isinstance(v, str) and v.startswith("native.cgroupdriver="):
                    driver = v.split("=", 1)[1]
                    if driver not in KNOWN_CGROUP_DRIVERS:
                        problems.append(f"{where}: cgroup driver {driver!r} is not one of {', '.join(KNOWN_CGROUP_DRIVERS)}")
        elif key == "runtimes":
            problems += _validate_runtimes(value, where)
        elif key == "default-runtime":
            if not isinstance(value, str) or not value:
                problems.append(f"{where}: must be a runtime name, got {value!r}")
        elif key == "features":
            if not isinstance(value, dict) or not all(isinstance(v, bool) for v in value.values()):
                problems.append(f"{where}: must map feature names to true/false, got {value!r}")
        elif key in ("live-restore", "debug", "experimental", "ipv6", "iptables", "userland-proxy"):
            if not isinstance(value, bool):
                problems.append(f"{where}: must be true or false, got {value!r}")
    return problems


def _validate_log_opts(value, where: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: must be a mapping of option -> string, got {value!r}"]
    problems = []
    for opt, val in value.items():
        if not isinstance(val, str):
            # dockerd refuses to start: "json: cannot unmarshal number into Go struct field ... of type string"
            problems.append(f"{where}['{opt}']: {val!r} must be a string (dockerd rejects numbers here); "
                            f"write it quoted, e.g. \"{val}\"")
            continue
        if opt == "max-size" and not _SIZE_RE.match(val):
            problems.append(f"{where}['max-size']: {val!r} is not a size like 100m, 1g or 512k")
        if opt == "max-file" and not (val.isdigit() and int(val) >= 1):
            problems.append(f"{where}['max-file']: {val!r} is not a whole number >= 1")
    return problems


def _validate_runtimes(value, where: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: must map runtime names to {{path, args}}, got {value!r}"]
    problems = []
    for name, spec in value.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("path"), str) or not spec.get("path"):
            problems.append(f"{where}['{name}']: needs a 'path' string (e.g. nvidia-container-runtime)")
            continue
        if "args" in spec and _check_str_list(spec["args"], ""):
            problems.append(f"{where}['{name}'].args: must be a list of strings")
    return problems


def _norm_url(value):
    return value.rstrip("/") if isinstance(value, str) else value


def _merge_list(key: str, existing: list, ours: list) -> list:
    if key in _OPTION_LIST_KEYS:
        ours_names = {str(v).split("=", 1)[0] for v in ours}
        kept = [v for v in existing if str(v).split("=", 1)[0] not in ours_names]
        result = kept + [v for v in ours if v not in kept]
    else:
        result = list(existing)
        norm = _norm_url if key in _URL_LIST_KEYS else (lambda v: v)
        seen = [norm(v) for v in result]
        for v in ours:
            if norm(v) not in seen:
                result.append(v)
                seen.append(norm(v))
    # drop duplicates that were already in the admin's list too (docker refuses duplicate mirrors)
    out, seen_final = [], []
    for v in result:
        n = _norm_url(v) if key in _URL_LIST_KEYS else json.dumps(v, sort_keys=True)
        if n not in seen_final:
            out.append(v)
            seen_final.append(n)
    return out


def _merge(existing, ours, key: str = "", list_mode: str = "merge"):
    if isinstance(existing, dict) and isinstance(ours, dict):
        result = dict(existing)
        for k, v in ours.items():
            if k in existing:
                result[k] = _merge(existing[k], v, k, list_mode)
            elif isinstance(v, list):
                result[k] = _merge_list(k, [], v)
            else:
                result[k] = copy.deepcopy(v)
        return result
    if isinstance(existing, list) and isinstance(ours, list) and list_mode == "merge":
        return _merge_list(key, existing, ours)
    return copy.deepcopy(ours)


def _remove(config: dict, path: str) -> None:
    parts = path.split(".")
    node = config
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict):
        node.pop(parts[-1], None)


def merge(existing: dict, ours: dict, remove: list | tuple = (), list_mode: str = "merge") -> dict:
    """Return a new dict: ``existing`` with ``ours`` merged in and ``remove`` paths deleted.

    ``list_mode="replace"`` makes our lists replace existing ones (for a key we fully own).
    """
    if list_mode not in ("merge", "replace"):
        raise DaemonJsonError(f"list_mode must be merge or replace, got {list_mode!r}")
    result = _merge(copy.deepcopy(existing), ours, "", list_mode)
    for path in remove:
        _remove(result, path)
    return result


def check_consistency(config: dict) -> list[str]:
    """Problems of the merged document as a whole (dockerd would refuse to start)."""
    problems = []
    default_runtime = config.get("default-runtime")
    if default_runtime and default_runtime not in ("runc", "io.containerd.runc.v2"):
        if default_runtime not in (config.get("runtimes") or {}):
            problems.append(f"default-runtime {default_runtime!r} is not defined under 'runtimes'")
    return problems


def changed_keys(before: dict, after: dict) -> list[str]:
    """Top-level keys whose values differ (for the module's result and for humans)."""
    keys = list(before) + [k for k in after if k not in before]
    return [k for k in keys if before.get(k, _MISSING) != after.get(k, _MISSING)]


_MISSING = object()


def plan(existing_text: str | None, ours: dict, remove: list | tuple = (), list_mode: str = "merge",
         labels: dict | None = None) -> dict:
    """Everything the module needs: ``{"before", "after", "changed", "changed_keys", "text"}``.

    Raises DaemonJsonError (with every problem listed) when the request or the existing file is unusable.
    """
    problems = validate(ours, labels)
    if problems:
        raise DaemonJsonError("; ".join(problems))
    before = parse(existing_text)
    after = merge(before, ours, remove, list_mode)
    problems = check_consistency(after)
    if problems:
        raise DaemonJsonError("; ".join(problems))
    changed = after != before
    return {
        "before": before,
        "after": after,
        "changed": changed,
        "changed_keys": changed_keys(before, after),
        "text": render(after),
    }
