#!/usr/bin/env bash
# The main job: converge the demo inventory (site.yml) on a local systemd container with the CPU profile and
# show it working: a real chat answer, an embedding length and rerank scores from three vLLM services.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"
NAME=llmops-demo
IMAGE="${LLMOPS_DEMO_IMAGE:-localtest/debian12-systemd:latest}"
T0=$SECONDS
read -r WHEELHOUSE MODELS < <(bash scripts/cpu-assets.sh)
mkdir -p .cache
if [[ ! -s .cache/demo-secrets.yml ]]; then
  (umask 077; printf 'demo_vllm_api_key: "%s"\n' "$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')" > .cache/demo-secrets.yml)
fi
if [[ "$(docker inspect -f '{{.State.Running}}' "$NAME" 2>/dev/null)" != "true" ]]; then
  docker rm -f "$NAME" >/dev/null 2>&1 || true
  docker run -d --name "$NAME" --hostname "$NAME" \
    --cap-add SYS_ADMIN --cap-add NET_ADMIN --security-opt seccomp=unconfined --cgroupns=host \
    -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock --shm-size 1g \
    -v "$WHEELHOUSE:/opt/llmops/wheelhouse:ro" -v "$MODELS:/srv/models:ro" \
    "$IMAGE" /sbin/init >/dev/null
  for _ in $(seq 1 30); do
    state="$(docker exec "$NAME" systemctl is-system-running 2>/dev/null || true)"
    [[ "$state" == running || "$state" == degraded ]] && break; sleep 1
  done
fi
ansible-playbook -i inventories/demo/hosts.yml site.yml -e @.cache/demo-secrets.yml "$@"
# seed 000's concurrency table, on the tiny chat model: CSV + PNG under benchmark-results/llmops-demo/
ansible-playbook -i inventories/demo/hosts.yml playbooks/benchmark.yml -e @.cache/demo-secrets.yml \
  -e '{"benchmark_concurrency": [1, 2, 4], "benchmark_requests_per_level": 8, "benchmark_max_tokens": 32}' \
  | sed -n '/Show the results/,/PLAY RECAP/p'
echo "demo: converged and validated in $((SECONDS - T0)) s; report: stack-report.json"
echo "      container $NAME (remove with: docker rm -f $NAME); API key in .cache/demo-secrets.yml"
