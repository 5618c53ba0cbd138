#!/usr/bin/env bash
# Device proof for vllm_runtime=container (for the lead; run ON a GPU machine from the repository root):
#   VLLM_IMAGE=vllm/vllm-openai:v0.20.0 [VLLM_IMAGE_ARCHIVE=/path/vllm-openai-v0.20.0.tar] \
#     bash tests/device/vllm_container_gpu.sh [OUTDIR]
# Runs the vllm role's container phase and verify phase (tests/integration/vllm_container/converge.yml) twice with
# the REAL image on GPU 0: docker_container with the device request, the model directory mounted read-only,
# dummy weights (--load-format dummy) of tests/device/models/qwen3-0.6b, /health wait, /v1/models with and without
# the key, one chat completion; the second pass must report changed=0. Needs: dockerd, the NVIDIA container
# toolkit (nvidia-container-runtime-hook), the image (or its `docker save` archive), ansible-playbook with
# community.docker and python3-requests. Whatever is missing is reported and the proof is skipped (exit 3).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
out="${1:-${OUT:-/tmp/vllm_container_out}}"
mkdir -p "$out"
image="${VLLM_IMAGE:-vllm/vllm-openai:v0.20.0}"
missing=()
command -v docker >/dev/null && docker info >/dev/null 2>&1 || missing+=("a running dockerd")
command -v nvidia-container-runtime-hook >/dev/null || missing+=("nvidia-container-runtime-hook (toolkit)")
command -v ansible-playbook >/dev/null || missing+=("ansible-playbook")
python3 -c "import requests" 2>/dev/null || missing+=("python3 requests")
ansible-doc -t module community.docker.docker_container >/dev/null 2>&1 || missing+=("community.docker")
if [[ -z "${VLLM_IMAGE_ARCHIVE:-}" ]] && ! docker image inspect "$image" >/dev/null 2>&1; then
  missing+=("the image $image (or VLLM_IMAGE_ARCHIVE)")
fi
if (( ${#missing[@]} )); then
  printf -v joined '%s; ' "${missing[@]}"
  echo "SKIPPED: missing ${joined%; }" | tee "$out/summary.txt"
  exit 3
fi

coll="$(mktemp -d)"
mkdir -p "$coll/ansible_collections/llmops"
ln -s "$PWD" "$coll/ansible_collections/llmops/vllm_stack"
printf '[defaults]\ncollections_path = %s:%s\nretry_files_enabled = false\n' "$coll" \
  "$(python3 -c 'import ansible_collections, os; print(os.path.dirname(list(ansible_collections.__path__)[0]))' 2>/dev/null)" \
  > "$coll/ansible.cfg"
export ANSIBLE_CONFIG="$coll/ansible.cfg" ANSIBLE_NOCOLOR=1

key="$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
python3 - "$coll/vars.json" "$image" "${VLLM_IMAGE_ARCHIVE:-}" "$key" "$coll" <<'PY'
import json, os, sys
path, image, archive, key, tmp = sys.argv[1:]
name, tag = image.rsplit(":", 1)
json.dump({
    "vllm_runtime": "container", "vllm_profile": "gpu", "vllm_api_key": key,
    "vllm_container_image": name, "vllm_container_tag": tag, "vllm_container_pull": "never",
    "vllm_container_image_archive": archive, "vllm_config_dir": tmp + "/etc-vllm", "vllm_home": tmp + "/home",
    "vllm_health_timeout": 900,
    "vllm_services": [{"name": "qwen3-dummy", "model": os.path.abspath("tests/device/models/qwen3-0.6b"),
                       "served_model_name": "qwen3-0.6b", "port": 18005, "gpus": [0],
                       "gpu_memory_utilization": 0.5, "max_model_len": 2048, "enforce_eager": True,
                       "extra_args": {"load-format": "dummy"}}],
}, open(path, "w"))
PY
mkdir -p "$coll/etc-vllm" "$coll/home"
rc=0
for pass in 1 2; do
  ansible-playbook -i localhost, -c local tests/integration/vllm_container/converge.yml -e "@$coll/vars.json" \
    > "$out/pass$pass.log" 2>&1
  echo "pass$pass: rc=$? $(grep -E '^localhost +:' "$out/pass$pass.log")" | tee -a "$out/summary.txt"
done
grep -q 'changed=0' <(grep -E '^localhost +:' "$out/pass2.log") || { echo "pass2 changed something" | tee -a "$out/summary.txt"; rc=1; }
grep -q 'failed=0' <(grep -E '^localhost +:' "$out/pass1.log") || rc=1
docker inspect vllm-qwen3-dummy --format '{{json .HostConfig.DeviceRequests}} {{json .Mounts}}' > "$out/inspect.txt" 2>&1
docker logs --tail 80 vllm-qwen3-dummy > "$out/container.log" 2>&1
grep -c "$key" "$out"/*.log "$out/inspect.txt" | grep -v ':0$' && { echo "API key found in output" | tee -a "$out/summary.txt"; rc=1; }
docker rm -f vllm-qwen3-dummy >/dev/null 2>&1
rm -rf "$coll"
exit $rc
