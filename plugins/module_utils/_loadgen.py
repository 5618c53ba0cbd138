# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small load generator for OpenAI-compatible chat endpoints (stdlib only): streaming requests at a fixed
concurrency, measuring time to first token (TTFT), time per output token (TPOT), end-to-end latency and
throughput. Used by playbooks/benchmark.yml (seed 000's concurrency table)."""
from __future__ import annotations

import json
import threading
import time
import urllib.request


def percentile(values, pct):
    """Linear-interpolated percentile (numpy's default), None for no values."""
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    if len(vals) == 1:
        return vals[0]
    rank = (len(vals) - 1) * pct / 100.0
    lo = int(rank)
    hi = min(lo + 1, len(vals) - 1)
    return vals[lo] + (vals[hi] - vals[lo]) * (rank - lo)


def parse_sse_lines(lines):
    """Yield the JSON payloads of an SSE stream ("data: {...}" lines), stopping at [DONE]."""
    for raw in lines:
        line = raw.decode("utf-8", "replace").strip() if isinstance(raw, bytes) else raw.strip()
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        yield json.loads(data)


def one_request(base_url, api_key, model, prompt, max_tokens, timeout=600, clock=time.perf_counter, opener=None):
    """Send one streaming chat completion; return a dict of timings and token counts."""
    body = json.dumps({
        "model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
        "temperature": 0, "stream": True, "stream_options": {"include_usage": True}, "ignore_eos": True,
    }).encode()
    req = urllib.request.Request(base_url.rstrip("/") + "/chat/completions", data=body, method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer " + api_key})
    start = clock()
    first = None
    chunks = 0
    usage = None
    try:
        resp = (opener or urllib.request.build_opener().open)(req, timeout=timeout)
        for event in parse_sse_lines(resp):
            if event.get("usage"):
                usage = event["usage"]
            for choice in event.get("choices") or []:
                delta = choice.get("delta") or {}
                if delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning"):
                    if first is None:
                        first = clock()
                    chunks += 1
        end = clock()
    except Exception as exc:  # pylint: disable=broad-except
        return {"ok": False, "error": str(exc), "latency": clock() - start}
    out_tokens = (usage or {}).get("completion_tokens", chunks)
    ttft = None if first is None else first - start
    tpot = None
    if first is not None and out_tokens > 1:
        tpot = (end - first) / (out_tokens - 1)
    return {"ok": True, "ttft": ttft, "tpot": tpot, "latency": end - start, "output_tokens": out_tokens,
            "prompt_tokens": (usage or {}).get("prompt_tokens")}


def run_level(concurrency, num_requests, send, clock=time.perf_counter):
    """Run num_requests calls of send() with `concurrency` threads; return the summary row."""
    results = []
    lock = threading.Lock()
    counter = iter(range(num_requests))

    def worker():
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            r = send(i)
            with lock:
                results.append(r)

    t0 = clock()
    threads = [threading.Thread(target=worker) for dummy in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = clock() - t0
    return summarize(concurrency, results, wall)


def summarize(concurrency, results, wall):
    ok = [r for r in results if r.get("ok")]
    tokens = sum(r.get("output_tokens") or 0 for r in ok)

    def ms(v):
        return None if v is None else round(v * 1000.0, 2)

    return {
        "concurrency": concurrency,
        "requests": len(results),
        "failed": len(results) - len(ok),
        "duration_s": round(wall, 3),
        "request_throughput_rps": round(len(ok) / wall, 3) if wall > 0 else None,
        "output_throughput_tok_s": round(tokens / wall, 2) if wall > 0 else None,
        "ttft_p50_ms": ms(percentile([r["ttft"] for r in ok], 50)),
        "ttft_p99_ms": ms(percentile([r["ttft"] for r in ok], 99)),
        "tpot_p50_ms": ms(percentile([r["tpot"] for r in ok], 50)),
        "tpot_p99_ms": ms(percentile([r["tpot"] for r in ok], 99)),
        "latency_p50_ms": ms(percentile([r["latency"] for r in ok], 50)),
        "latency_p99_ms": ms(percentile([r["latency"] for r in ok], 99)),
    }


CSV_FIELDS = ["service", "concurrency", "requests", "failed", "duration_s", "request_throughput_rps",
              "output_throughput_tok_s", "ttft_p50_ms", "ttft_p99_ms", "tpot_p50_ms", "tpot_p99_ms",
              "latency_p50_ms", "latency_p99_ms"]
