#!/usr/bin/env bash
# Run on the lent GPU machine from the repo root, after the wheels were unpacked to /tmp/site:
#   bash tests/device/run_proofs.sh STAGE OUTDIR     (STAGE: probe | service | fit LO HI)
set -uo pipefail
stage="$1"; out="$2"; shift 2
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
export PATH=/tmp/site/bin:$PATH
mkdir -p "$out" .cache/collections/ansible_collections/llmops
[[ -e .cache/collections/ansible_collections/llmops/vllm_stack ]] || ln -s ../../../.. .cache/collections/ansible_collections/llmops/vllm_stack
case "$stage" in
  probe)
    nvidia-smi -L; cat /proc/driver/nvidia/version
    python3 tests/device/gpu_info_vs_nvidia_smi.py 2>&1 | tee "$out/gpu_info_vs_nvidia_smi.txt" ;;
  service)
    mkdir -p /etc/vllm /etc/systemd/system
    envdir="$(python3 -c 'import sys; print(sys.prefix)')"
    PROOF_API_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(16))')" \
      python3 -m ansible.cli.playbook -i localhost, tests/device/vllm_service.yml \
      -e "vllm_env_path=$envdir" --tags vllm_preflight,vllm_configure 2>&1 | tee "$out/role_render.txt"
    ls -l /etc/vllm/ /etc/systemd/system/vllm-chat.service
    python3 tests/device/serve_like_role.py /etc/systemd/system/vllm-chat.service "$out" ;;
  fit)
    python3 tests/device/fit_cases.py /tmp/fitlogs "$@"
    python3 tests/device/fit_vs_vllm.py /tmp/fitlogs/cases.json 2>&1 | tee "$out/fit_vs_vllm.txt"
    for f in /tmp/fitlogs/*.log; do grep -hE "Model loading took|Available KV cache|GPU KV cache size|Maximum concurrency|CUDA graph|Error|error:" "$f" | tail -8 > "$out/$(basename "$f" .log).txt"; done ;;
esac
