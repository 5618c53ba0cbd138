"""The benchmark's statistics and stream parsing, with a fake clock and a fake SSE response."""
import io
import json

import pytest

from ansible_collections.llmops.vllm_stack.plugins.module_utils import _loadgen as lg


@pytest.mark.parametrize("values,pct,want", [
    ([1, 2, 3, 4], 50, 2.5), ([1, 2, 3, 4], 99, 3.97), ([5], 99, 5), ([], 50, None), ([3, 1, 2], 0, 1)])
def test_percentile_matches_numpy_linear(values, pct, want):
    got = lg.percentile(values, pct)
    assert got == pytest.approx(want) if want is not None else got is None


def _sse(chunks, usage):
    lines = []
    for text in chunks:
        lines.append(b"data: " + json.dumps({"choices": [{"delta": {"content": text}}]}).encode() + b"\n")
        lines.append(b"\n")
    lines.append(b"data: " + json.dumps({"choices": [], "usage": usage}).encode() + b"\n")
    lines.append(b"data: [DONE]\n")
    lines.append(b"data: {\"never\": \"read\"}\n")
    return io.BytesIO(b"".join(lines))


class FakeClock:
    def __init__(self, ticks):
        self.ticks = list(ticks)

    def __call__(self):
        return self.ticks.pop(0)


def test_one_request_ttft_tpot_from_stream_and_usage():
    # start=0, first token at 0.5 s, end at 2.5 s, 5 tokens -> TPOT = 2.0 / 4
    clock = FakeClock([0.0, 0.5, 2.5])
    sent = {}

    def opener(req, timeout):
        sent["body"] = json.loads(req.data)
        sent["auth"] = req.get_header("Authorization")
        return _sse(["a", "b", "c", "d", "e"], {"completion_tokens": 5, "prompt_tokens": 7})

    r = lg.one_request("http://x/v1/", "k" * 20, "tiny", "hi", 5, clock=clock, opener=opener)
    assert r == {"ok": True, "ttft": 0.5, "tpot": 0.5, "latency": 2.5, "output_tokens": 5, "prompt_tokens": 7}
    assert sent["body"]["stream"] is True and sent["body"]["max_tokens"] == 5
    assert sent["auth"] == "Bearer " + "k" * 20


def test_one_request_error_is_reported_not_raised():
    def opener(req, timeout):
        raise OSError("connection refused")

    r = lg.one_request("http://x/v1", "k", "m", "p", 4, clock=FakeClock([0.0, 1.0]), opener=opener)
    assert r["ok"] is False and "refused" in r["error"]


def test_summarize_throughput_and_failures():
    results = [{"ok": True, "ttft": 0.1, "tpot": 0.01, "latency": 1.0, "output_tokens": 50}] * 3 + [
        {"ok": False, "error": "x", "latency": 0.2}]
    row = lg.summarize(4, results, 2.0)
    assert row["requests"] == 4 and row["failed"] == 1
    assert row["output_throughput_tok_s"] == 75.0
    assert row["request_throughput_rps"] == 1.5
    assert row["ttft_p50_ms"] == 100.0 and row["tpot_p99_ms"] == 10.0


def test_run_level_sends_every_request_once_with_bounded_threads():
    seen = []

    def send(i):
        seen.append(i)
        return {"ok": True, "ttft": 0.0, "tpot": 0.0, "latency": 0.0, "output_tokens": 1}

    row = lg.run_level(3, 10, send)
    assert sorted(seen) == list(range(10))
    assert row["requests"] == 10 and row["concurrency"] == 3
