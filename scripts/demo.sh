#!/usr/bin/env bash
# The main job: converge the demo inventory on a local systemd container (CPU profile) and show it working.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"
NAME=llmops-demo
IMAGE="${LLMOPS_DEMO_IMAGE:-localtest/debian12-systemd:latest}"
T0=$SECONDS
if [[ "$(docker inspect -f '{{.State.Running}}' "$NAME" 2>/dev/null)" != "true" ]]; then
  docker rm -f "$NAME" >/dev/null 2>&1 || true
  docker run -d --name "$NAME" --hostname "$NAME" \
    --cap-add SYS_ADMIN --cap-add NET_ADMIN --security-opt seccomp=unconfined --cgroupns=host \
    -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock \
    "$IMAGE" /sbin/init >/dev/null
  for _ in $(seq 1 30); do
    state="$(docker exec "$NAME" systemctl is-system-running 2>/dev/null || true)"
    [[ "$state" == running || "$state" == degraded ]] && break; sleep 1
  done
fi
ansible-playbook -i inventories/demo/hosts.yml site.yml "$@"
echo "demo: converged in $((SECONDS - T0)) s (container $NAME; remove with: docker rm -f $NAME)"
