"""Benchmark a vLLM chat endpoint at several concurrencies; write CSV and a PNG plot.

  python tools/llmops_bench.py --url http://HOST:PORT/v1 --model NAME --api-key-env VLLM_API_KEY \
      --concurrency 1,2,4,8 --requests-per-level 16 --max-tokens 64 --out-dir DIR --label chat

The API key is read from an environment variable, never from argv.
"""
import argparse
import csv
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "plugins", "module_utils"))
import _loadgen  # noqa: E402  pylint: disable=wrong-import-position,import-error

PROMPT = ("You are benchmarking a private LLM server. Write a short paragraph about GPUs, memory and "
          "throughput, in plain words.")


def plot(rows, path, label):
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

    conc = [r["concurrency"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    axes[0].plot(conc, [r["output_throughput_tok_s"] for r in rows], marker="o")
    axes[0].set_title("output throughput (tok/s)")
    axes[1].plot(conc, [r["ttft_p50_ms"] for r in rows], marker="o", label="p50")
    axes[1].plot(conc, [r["ttft_p99_ms"] for r in rows], marker="x", label="p99")
    axes[1].set_title("TTFT (ms)")
    axes[1].legend()
    axes[2].plot(conc, [r["tpot_p50_ms"] for r in rows], marker="o", label="p50")
    axes[2].plot(conc, [r["tpot_p99_ms"] for r in rows], marker="x", label="p99")
    axes[2].set_title("TPOT (ms)")
    axes[2].legend()
    for ax in axes:
        ax.set_xlabel("concurrency")
        ax.set_xscale("log", base=2)
        ax.grid(True, alpha=0.3)
    fig.suptitle("vLLM benchmark: %s" % label)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--api-key-env", default="VLLM_API_KEY")
    ap.add_argument("--concurrency", default="1,2,4,8")
    ap.add_argument("--requests-per-level", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--label", default="chat")
    args = ap.parse_args()
    key = os.environ.get(args.api_key_env, "")
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    os.makedirs(args.out_dir, exist_ok=True)
    rows = []
    for c in levels:
        n = max(args.requests_per_level, c)
        row = _loadgen.run_level(
            c, n, lambda i: _loadgen.one_request(args.url, key, args.model, PROMPT, args.max_tokens))
        row["service"] = args.label
        rows.append(row)
        print("concurrency %3d: %s" % (c, {k: row[k] for k in _loadgen.CSV_FIELDS[4:]}), flush=True)
    csv_path = os.path.join(args.out_dir, "benchmark-%s.csv" % args.label)
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=_loadgen.CSV_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k) for k in _loadgen.CSV_FIELDS})
    png_path = os.path.join(args.out_dir, "benchmark-%s.png" % args.label)
    plot(rows, png_path, args.label)
    print("wrote %s and %s" % (csv_path, png_path))
    return 1 if any(r["failed"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
