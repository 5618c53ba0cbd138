#!/usr/bin/env bash
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# GPU proof for the ray role on ONE GPU host (two GPU hosts are needed for the real multi-node case; see
# roles/ray/README.md): a Ray 2.48.0 head started the way ray-head.service starts it (--block in the background,
# --node-ip-address, --temp-dir outside /tmp, --num-gpus, fixed ports), then vLLM 0.20.0 with
# --distributed-executor-backend ray that finds the cluster ONLY through RAY_ADDRESS (as the role's vLLM drop-in
# does) while its own TMPDIR is elsewhere (the units' PrivateTmp). It proves: this ray version passes vLLM's Ray
# executor (compiled graph check), vLLM places its worker as a Ray actor on the head's GPU, VLLM_HOST_IP and
# NCCL_SOCKET_IFNAME from the node's environment reach it, and the server answers a chat completion.
#
# Needs vllm 0.20.0 and ray 2.48.0 importable by python3 (e.g. carried wheels unpacked to /tmp/site as for
# tests/device/run_proofs.sh; ray's wheel is 70 MB, carry it in two parts). Run from the repo root:
#   PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH bash tests/device/ray_vllm_single_node.sh OUTDIR
set -uo pipefail
out="${1:?usage: ray_vllm_single_node.sh OUTDIR}"
mkdir -p "$out"
model="${MODEL:-tests/device/models/qwen3-0.6b}"
iface="$(ip -o -4 route show to default | awk '{print $5; exit}')"
ip="$(ip -o -4 addr show dev "$iface" | awk '{print $4}' | cut -d/ -f1 | head -1)"
work="$(mktemp -d /var/tmp/llmops-ray-proof.XXXXXX)"
export VLLM_HOST_IP="$ip" RAY_NODE_IP_ADDRESS="$ip" NCCL_SOCKET_IFNAME="$iface" GLOO_SOCKET_IFNAME="$iface"
export RAY_USAGE_STATS_ENABLED=0 HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
{ echo "interface=$iface ip=$ip"; python3 -c 'import ray, vllm; print("ray", ray.__version__, "vllm", vllm.__version__)'; } \
  | tee "$out/versions.txt"

python3 -m ray.scripts.scripts start --block --head --node-ip-address="$ip" --port=6379 \
  --dashboard-host=127.0.0.1 --temp-dir="$work/ray" --num-gpus=1 --node-manager-port=6380 \
  --object-manager-port=6381 --disable-usage-stats >"$out/ray-head.log" 2>&1 &
ray_pid=$!
for _ in $(seq 60); do
  python3 -m ray.scripts.scripts status --address "$ip:6379" >"$out/ray-status.txt" 2>&1 && grep -q " node_" "$out/ray-status.txt" && break
  sleep 2
done
cat "$out/ray-status.txt"

# The vLLM "unit": another TMPDIR, the cluster only through RAY_ADDRESS.
mkdir -p "$work/vllm-tmp"
TMPDIR="$work/vllm-tmp" RAY_ADDRESS="$ip:6379" CUDA_VISIBLE_DEVICES=0 \
  python3 -m vllm.entrypoints.openai.api_server --model "$model" --served-model-name tiny --load-format dummy \
  --host 127.0.0.1 --port 8011 --max-model-len 2048 --gpu-memory-utilization 0.3 --enforce-eager \
  --distributed-executor-backend ray >"$out/vllm.log" 2>&1 &
vllm_pid=$!
ok=0
for _ in $(seq 180); do
  if curl -sf http://127.0.0.1:8011/health >/dev/null; then ok=1; break; fi
  kill -0 "$vllm_pid" 2>/dev/null || break
  sleep 2
done
if [[ $ok == 1 ]]; then
  curl -s http://127.0.0.1:8011/v1/chat/completions -H 'Content-Type: application/json' \
    -d '{"model":"tiny","messages":[{"role":"user","content":"Say hello."}],"max_tokens":8}' | tee "$out/chat.json"
  echo
  python3 -m ray.scripts.scripts status --address "$ip:6379" >"$out/ray-status-serving.txt" 2>&1
fi
grep -hE "Ray|ray|placement group|VLLM_HOST_IP|NCCL_SOCKET_IFNAME|Copying the following|Using ray" "$out/vllm.log" \
  | tail -40 >"$out/vllm-ray-lines.txt"
kill "$vllm_pid" 2>/dev/null; wait "$vllm_pid" 2>/dev/null
kill "$ray_pid" 2>/dev/null; wait "$ray_pid" 2>/dev/null
echo "served=$ok" | tee "$out/result.txt"
[[ $ok == 1 ]] && grep -q '"content"' "$out/chat.json"
