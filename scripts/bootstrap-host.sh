#!/usr/bin/env bash
# Prepare a fresh Debian 12 machine (root, no systemd as PID 1) for the demo and the tests:
# apt packages, a running Docker daemon, and the local systemd base images.
set -euo pipefail
cd "$(dirname "$0")/.."
need_apt=()
command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v rsync >/dev/null 2>&1 || need_apt+=(rsync)
command -v git >/dev/null 2>&1 || need_apt+=(git)
command -v shellcheck >/dev/null 2>&1 || need_apt+=(shellcheck)
if ((${#need_apt[@]})); then
  echo "bootstrap: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    systemctl start docker
  else
    echo "bootstrap: starting dockerd (no systemd on this host)"
    nohup dockerd >/var/log/dockerd.log 2>&1 &
  fi
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "bootstrap: dockerd did not start; see /var/log/dockerd.log" >&2; tail -20 /var/log/dockerd.log >&2; exit 1; }
fi
bash scripts/build-images.sh
