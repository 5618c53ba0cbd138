#!/usr/bin/env bash
# Build the local systemd base images used by Molecule (no Docker Hub here).
# Cached by tag: an image that already exists is not rebuilt (FORCE=1 rebuilds).
set -euo pipefail
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
INCLUDE="systemd,systemd-sysv,python3,python3-apt,sudo,iproute2,procps,ca-certificates"
build() {
  local suite="$1" tag="$2"
  if [[ -z "${FORCE:-}" ]] && docker image inspect "$tag" >/dev/null 2>&1; then
    echo "image $tag: cached"; return 0
  fi
  local root
  root="$(mktemp -d "/var/tmp/rootfs-${suite}.XXXXXX")"
  echo "image $tag: debootstrap $suite from $MIRROR"
  local t0=$SECONDS
  debootstrap --variant=minbase --include="$INCLUDE" "$suite" "$root" "$MIRROR" >"/var/tmp/debootstrap-${suite}.log" 2>&1 \
    || { tail -20 "/var/tmp/debootstrap-${suite}.log"; exit 1; }
  # apt inside the container must trust the same CA bundle the host uses (TLS may be intercepted)
  cp /etc/ssl/certs/ca-certificates.crt "$root/usr/local/share/ca-certificates/host-bundle.crt" 2>/dev/null || true
  rm -rf "$root/var/cache/apt/archives/"*.deb
  tar -C "$root" -c . | docker import -c 'CMD ["/sbin/init"]' -c 'ENV container=docker' - "$tag" >/dev/null
  rm -rf "$root"
  echo "image $tag: built in $((SECONDS - t0)) s"
}
build bookworm localtest/debian12-systemd:latest
build trixie localtest/debian13-systemd:latest
