# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Smoke-test one vLLM OpenAI-compatible server: a real answer, the right shapes, or a non-zero exit.

  smoke_vllm.py BASE_URL --served NAME --task chat|embed|score [--api-key-env VLLM_API_KEY]
                [--wait 600] [--check-auth] [--expect-dim N] [--timeout 120] [--json]

BASE_URL is the server root (http://127.0.0.1:8000; a trailing /v1 is accepted). The API key is read from the
environment variable named by --api-key-env, never from argv. Steps:
  --wait S      poll GET /health until 200 (up to S seconds) before the rest
  always        GET /v1/models (with the key): NAME must be listed
  --check-auth  GET /v1/models without a key must answer 401
  chat          POST /v1/chat/completions: prints the answer; it must have a message and >= 1 completion token
  embed         POST /v1/embeddings with 2 inputs: 2 float vectors of one length (= --expect-dim if given)
  score         POST /v1/rerank with 3 documents and POST /v1/score: one finite score per document, the rerank
                results ordered best first
Exit status: 0 all good, 1 a request failed or an answer has the wrong shape, 2 usage error.
Only the standard library is used, so any python3 on the target can run it.
"""
import argparse
import json
import math
import os
import sys
import time
import urllib.error
import urllib.request

QUERY = "What does the GNU General Public License guarantee?"
DOCUMENTS = [
    "The GNU General Public License guarantees your freedom to share and change all versions of a program.",
    "Paris is the capital of France.",
    "A tiny model on a CPU answers with random words.",
]


class SmokeError(Exception):
    """A request failed or an answer does not have the expected shape."""


def request(base, path, api_key=None, payload=None, timeout=120.0):
    """Return (status, parsed JSON or text) of GET (payload None) or POST JSON to base+path."""
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(base + path, data=data, method="GET" if payload is None else "POST")
    req.add_header("Accept", "application/json")
    if payload is not None:
        req.add_header("Content-Type", "application/json")
    if api_key:
        req.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise SmokeError(f"{'POST' if payload is not None else 'GET'} {path}: {getattr(exc, 'reason', exc)}") from exc
    try:
        return status, json.loads(body) if body else None
    except ValueError:
        return status, body.decode(errors="replace")


def expect_ok(what, status, body):
    if status != 200:
        raise SmokeError(f"{what}: HTTP {status}: {str(body)[:300]}")
    if not isinstance(body, dict):
        raise SmokeError(f"{what}: expected a JSON object, got {str(body)[:300]}")
    return body


def wait_healthy(base, seconds, timeout):
    deadline = time.monotonic() + seconds
    last = "no answer"
    while True:
        try:
            status = request(base, "/health", timeout=min(timeout, 10.0))[0]
            if status == 200:
                return
            last = f"HTTP {status}"
        except SmokeError as exc:
            last = str(exc)
        if time.monotonic() >= deadline:
            raise SmokeError(f"GET /health: not healthy after {seconds:.0f} s ({last})")
        time.sleep(2)


def check_models(base, key, served, timeout):
    body = expect_ok("GET /v1/models", *request(base, "/v1/models", key, timeout=timeout))
    ids = [m.get("id") for m in body.get("data", []) if isinstance(m, dict)]
    if served not in ids:
        raise SmokeError(f"GET /v1/models: {served!r} is not served (served: {', '.join(map(str, ids)) or 'none'})")
    return ids


def check_auth(base, timeout):
    status, body = request(base, "/v1/models", None, timeout=timeout)
    if status != 401:
        raise SmokeError(f"GET /v1/models without a key: expected HTTP 401, got {status}: {str(body)[:200]}")
    return status


def _finite(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def smoke_chat(base, key, served, timeout):
    payload = {"model": served, "messages": [{"role": "user", "content": "Say hello in five words."}],
               "max_tokens": 16, "temperature": 1.0, "seed": 1234}
    body = expect_ok("POST /v1/chat/completions",
                     *request(base, "/v1/chat/completions", key, payload, timeout))
    try:
        message = body["choices"][0]["message"]
        content = message.get("content")
        tokens = body["usage"]["completion_tokens"]
    except (KeyError, IndexError, TypeError) as exc:
        raise SmokeError(f"POST /v1/chat/completions: no choices[0].message/usage in {str(body)[:300]}") from exc
    if not isinstance(content, str) or not (isinstance(tokens, int) and tokens >= 1):
        raise SmokeError(f"POST /v1/chat/completions: empty answer ({tokens!r} tokens): {str(body)[:300]}")
    return {"answer": content, "completion_tokens": tokens, "finish_reason": body["choices"][0].get("finish_reason")}


def smoke_embed(base, key, served, timeout, expect_dim=None):
    inputs = [QUERY, DOCUMENTS[0]]
    body = expect_ok("POST /v1/embeddings",
                     *request(base, "/v1/embeddings", key, {"model": served, "input": inputs}, timeout))
    data = body.get("data")
    if not isinstance(data, list) or len(data) != len(inputs):
        raise SmokeError(f"POST /v1/embeddings: expected {len(inputs)} embeddings, got {str(data)[:200]}")
    vectors = [item.get("embedding") if isinstance(item, dict) else None for item in data]
    if not all(isinstance(v, list) and v and all(_finite(x) for x in v) for v in vectors):
        raise SmokeError("POST /v1/embeddings: an embedding is not a non-empty list of finite floats")
    dims = {len(v) for v in vectors}
    if len(dims) != 1:
        raise SmokeError(f"POST /v1/embeddings: embeddings of different lengths {sorted(dims)}")
    dim = dims.pop()
    if expect_dim is not None and dim != expect_dim:
        raise SmokeError(f"POST /v1/embeddings: dimension {dim}, expected {expect_dim}")
    norm = math.sqrt(sum(x * x for x in vectors[0]))
    return {"dimension": dim, "count": len(vectors), "norm": round(norm, 4)}


def smoke_score(base, key, served, timeout):
    body = expect_ok("POST /v1/rerank", *request(base, "/v1/rerank", key, {
        "model": served, "query": QUERY, "documents": DOCUMENTS}, timeout))
    results = body.get("results")
    if not isinstance(results, list) or len(results) != len(DOCUMENTS):
        raise SmokeError(f"POST /v1/rerank: expected {len(DOCUMENTS)} results, got {str(results)[:200]}")
    pairs = [(r.get("index"), r.get("relevance_score")) for r in results if isinstance(r, dict)]
    indexes = [pair[0] for pair in pairs]
    scores = [pair[1] for pair in pairs]
    if sorted(i for i in indexes if isinstance(i, int)) != list(range(len(DOCUMENTS))) or \
            not all(_finite(s) for s in scores):
        raise SmokeError(f"POST /v1/rerank: results need every index once and a finite relevance_score: {pairs}")
    if scores != sorted(scores, reverse=True):
        raise SmokeError(f"POST /v1/rerank: results are not ordered best first: {scores}")

    body = expect_ok("POST /v1/score", *request(base, "/v1/score", key, {
        "model": served, "text_1": QUERY, "text_2": DOCUMENTS}, timeout))
    data = body.get("data")
    if not isinstance(data, list) or len(data) != len(DOCUMENTS) or \
            not all(isinstance(d, dict) and _finite(d.get("score")) for d in data):
        raise SmokeError(f"POST /v1/score: expected {len(DOCUMENTS)} finite scores, got {str(data)[:200]}")
    by_index = {d.get("index", n): d["score"] for n, d in enumerate(data)}
    rerank_by_index = dict(pairs)
    if any(not math.isclose(by_index[i], rerank_by_index[i], rel_tol=1e-3, abs_tol=1e-4) for i in by_index):
        raise SmokeError(f"/v1/score and /v1/rerank disagree: {by_index} vs {rerank_by_index}")
    return {"rerank": [{"index": i, "relevance_score": s} for i, s in pairs],
            "score": [by_index[i] for i in sorted(by_index)]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base_url")
    parser.add_argument("--served", required=True, help="served model name (--served-model-name)")
    parser.add_argument("--task", required=True, choices=["chat", "embed", "score"])
    parser.add_argument("--api-key-env", default=None,
                        help="name of the environment variable holding the API key (none: no key sent)")
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for GET /health first")
    parser.add_argument("--check-auth", action="store_true", help="require 401 from /v1/models without a key")
    parser.add_argument("--expect-dim", type=int, default=None, help="embedding dimension (task embed)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args(argv)

    base = args.base_url.rstrip("/")
    if base.endswith("/v1"):
        base = base[:-3]
    key = None
    if args.api_key_env:
        key = os.environ.get(args.api_key_env)
        if not key:
            parser.error(f"--api-key-env {args.api_key_env}: the variable is not set or empty")
    if args.check_auth and not key:
        parser.error("--check-auth needs --api-key-env (a server without a key answers 200)")

    result = {"base_url": base, "served": args.served, "task": args.task}
    try:
        if args.wait:
            started = time.monotonic()
            wait_healthy(base, args.wait, args.timeout)
            result["waited_s"] = round(time.monotonic() - started, 1)
        result["models"] = check_models(base, key, args.served, args.timeout)
        if args.check_auth:
            result["unauthenticated_status"] = check_auth(base, args.timeout)
        started = time.monotonic()
        if args.task == "chat":
            result.update(smoke_chat(base, key, args.served, args.timeout))
        elif args.task == "embed":
            result.update(smoke_embed(base, key, args.served, args.timeout, args.expect_dim))
        else:
            result.update(smoke_score(base, key, args.served, args.timeout))
        result["request_s"] = round(time.monotonic() - started, 3)
    except SmokeError as exc:
        result["error"] = str(exc)
        print(json.dumps(result) if args.json else f"FAIL {args.served} ({args.task}) at {base}: {exc}",
              file=sys.stdout if args.json else sys.stderr)
        return 1

    if args.json:
        print(json.dumps(result))
    else:
        print(f"OK {args.served} ({args.task}) at {base}: models {', '.join(result['models'])}")
        if "unauthenticated_status" in result:
            print("  /v1/models without a key: HTTP 401")
        if args.task == "chat":
            print(f"  answer ({result['completion_tokens']} tokens, {result['finish_reason']}): {result['answer']!r}")
        elif args.task == "embed":
            print(f"  {result['count']} embeddings of dimension {result['dimension']} (norm {result['norm']})")
        else:
            for item in result["rerank"]:
                print(f"  rerank #{item['index']}: {item['relevance_score']:.6f}  {DOCUMENTS[item['index']][:60]}")
            print(f"  /v1/score: {', '.join(f'{s:.6f}' for s in result['score'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
