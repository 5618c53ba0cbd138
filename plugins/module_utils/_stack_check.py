# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only end-to-end checks of a deployed stack (stdlib only): per vLLM service /health, /v1/models with and
without the key, one chat / embedding / rerank answer; Dify's setup endpoint. Returns plain dicts."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request


def http(method, url, body=None, key=None, timeout=120, opener=None):
    """(status, parsed JSON or text, seconds). Network errors give status 0 and the error text."""
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = "Bearer " + key
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    t0 = time.monotonic()
    try:
        resp = (opener or urllib.request.build_opener().open)(req, timeout=timeout)
        status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(getattr(exc, "reason", exc)), time.monotonic() - t0
    try:
        payload = json.loads(raw.decode() or "null")
    except ValueError:
        payload = raw.decode("utf-8", "replace")
    return status, payload, time.monotonic() - t0


def check_service(svc, base_host="127.0.0.1", default_key="", opener=None, timeout=120):
    name = svc.get("name")
    served = svc.get("served_model_name") or name
    key = svc.get("api_key") or default_key
    task = svc.get("task", "chat")
    base = "http://%s:%s" % (base_host, svc.get("port"))
    out = {"name": name, "served_model_name": served, "task": task, "port": svc.get("port"), "problems": []}
    status, dummy, dummy2 = http("GET", base + "/health", opener=opener, timeout=timeout)
    out["health"] = status
    if status != 200:
        out["problems"].append("/health answered %s" % (status or "nothing"))
    status, payload, dummy = http("GET", base + "/v1/models", key=key, opener=opener, timeout=timeout)
    ids = [m.get("id") for m in payload.get("data", [])] if isinstance(payload, dict) else []
    out["models"] = ids
    if served not in ids:
        out["problems"].append("/v1/models (status %s) does not list %s" % (status, served))
    if key:
        status, dummy, dummy2 = http("GET", base + "/v1/models", opener=opener, timeout=timeout)
        out["key_enforced"] = status == 401
        if status != 401:
            out["problems"].append("/v1/models without the key answered %s, not 401" % status)
    if task in ("chat", "generate"):
        body = {"model": served, "max_tokens": 16, "temperature": 0,
                "messages": [{"role": "user", "content": "Say hello."}]}
        status, payload, dummy = http("POST", base + "/v1/chat/completions", key=key, opener=opener,
                                      timeout=timeout, body=body)
        try:
            out["answer"] = payload["choices"][0]["message"]["content"]
        except (TypeError, KeyError, IndexError):
            out["problems"].append("chat completion failed: %s %s" % (status, str(payload)[:200]))
    elif task == "embed":
        body = {"model": served, "input": ["hello world"]}
        status, payload, dummy = http("POST", base + "/v1/embeddings", key=key, opener=opener,
                                      timeout=timeout, body=body)
        try:
            out["embedding_length"] = len(payload["data"][0]["embedding"])
        except (TypeError, KeyError, IndexError):
            out["problems"].append("embedding failed: %s %s" % (status, str(payload)[:200]))
    elif task == "score":
        body = {"model": served, "query": "What is the capital of France?",
                "documents": ["Paris is the capital of France.", "Bananas are yellow."]}
        status, payload, dummy = http("POST", base + "/v1/rerank", key=key, opener=opener,
                                      timeout=timeout, body=body)
        try:
            out["rerank_scores"] = [round(r["relevance_score"], 6) for r in
                                    sorted(payload["results"], key=lambda r: r["index"])]
        except (TypeError, KeyError, IndexError):
            out["problems"].append("rerank failed: %s %s" % (status, str(payload)[:200]))
    out["ok"] = not out["problems"]
    return out


def check_dify(url, opener=None, timeout=30):
    status, payload, dummy = http("GET", url.rstrip("/") + "/console/api/setup", opener=opener, timeout=timeout)
    step = payload.get("step") if isinstance(payload, dict) else None
    return {"url": url, "status": status, "setup_step": step, "ok": status == 200 and step is not None}


def summary_lines(report):
    """A short human summary of one host's report."""
    lines = []
    gpus = report.get("gpus") or []
    lines.append("%s: driver %s, %d GPU(s)%s" % (
        report.get("host"), report.get("driver_version") or "none", len(gpus),
        (" (" + ", ".join(sorted({g.get("name", "?") for g in gpus})) + ")") if gpus else ""))
    for svc in report.get("services", []):
        detail = svc.get("answer") and ("chat: %r" % svc["answer"][:40]) or \
            ("embedding dim %s" % svc["embedding_length"] if "embedding_length" in svc else "") or \
            ("rerank %s" % svc.get("rerank_scores") if "rerank_scores" in svc else "")
        state = "OK" if svc["ok"] else "FAIL"
        lines.append("  %-4s vllm-%s :%s %s %s" % (state, svc["name"], svc["port"], detail, "; ".join(svc["problems"])))
    if report.get("dify"):
        d = report["dify"]
        lines.append("  %-4s dify %s (setup: %s)" % ("OK" if d["ok"] else "FAIL", d["url"], d.get("setup_step")))
    return lines
