#!/bin/sh
# Builds a signed, flat apt repository laid out like NVIDIA's CUDA repository (…/repos/<distro>/<arch>/) with small
# test packages named like NVIDIA's, so install, branch pin and hold happen for real in molecule/gpu_host.
# Usage: build-test-repo.sh <mirror root> <distro> <arch>. Writes <mirror root>/key.fpr (the signing key's
# fingerprint).
set -eu
root=$1 distro=$2 arch=$3
repo="$root/compute/cuda/repos/$distro/$arch"
work=$(mktemp -d)
mkdir -p "$repo"

# pkg NAME VERSION "Depends" [postinst script] — files to ship are staged under $work/NAME_VERSION/ first
pkg() {
  name=$1 version=$2 depends=$3 postinst=${4:-}
  dir="$work/${name}_$version"
  mkdir -p "$dir/DEBIAN"
  {
    echo "Package: $name"
    echo "Version: $version"
    echo "Architecture: all"
    echo "Maintainer: llmops.vllm_stack tests <tests@example.invalid>"
    [ -n "$depends" ] && echo "Depends: $depends"
    echo "Description: test stand-in for NVIDIA's $name"
  } > "$dir/DEBIAN/control"
  if [ -n "$postinst" ]; then
    printf '#!/bin/sh\nset -e\n%s\n' "$postinst" > "$dir/DEBIAN/postinst"
    chmod 0755 "$dir/DEBIAN/postinst"
  fi
  dpkg-deb --root-owner-group --build "$dir" "$repo/${name}_${version}_all.deb" >/dev/null
}
stage() {  # stage NAME_VERSION PATH CONTENT [MODE]
  mkdir -p "$(dirname "$work/$1$2")"
  printf '%s\n' "$3" > "$work/$1$2"
  chmod "${4:-0644}" "$work/$1$2"
}

lib=/usr/lib/x86_64-linux-gnu
stage libnvidia-compute-580_580.95.05-1 "$lib/libnvidia-ml.so.580.95.05" "fake libnvidia-ml 580.95.05"
pkg libnvidia-compute-580 580.95.05-1 ""

unit='[Unit]
Description=NVIDIA Persistence Daemon (test stand-in)
[Service]
ExecStart=/usr/bin/nvidia-persistenced
[Install]
WantedBy=multi-user.target'
for v in 580.95.05-1 590.44.01-1; do   # 590 is the decoy the branch pin must keep out
  stage "nvidia-persistenced_$v" /usr/bin/nvidia-persistenced '#!/bin/sh
exec sleep infinity' 0755
  stage "nvidia-persistenced_$v" /usr/lib/systemd/system/nvidia-persistenced.service "$unit"
  pkg nvidia-persistenced "$v" ""
done

# the driver metapackage; its postinst does what DKMS does: a module for the running kernel
# shellcheck disable=SC2016  # expanded by the postinst, not here
pkg nvidia-open-580 580.95.05-1 "libnvidia-compute-580 (= 580.95.05-1), nvidia-persistenced (>= 580)" \
  'mkdir -p "/lib/modules/$(uname -r)/updates/dkms" && echo "fake nvidia.ko 580.95.05" > "/lib/modules/$(uname -r)/updates/dkms/nvidia.ko"'

stage nvidia-fabricmanager-580_580.95.05-1 /usr/bin/nv-fabricmanager '#!/bin/sh
exec sleep infinity' 0755
stage nvidia-fabricmanager-580_580.95.05-1 /usr/lib/systemd/system/nvidia-fabricmanager.service '[Unit]
Description=NVIDIA fabric manager (test stand-in)
[Service]
ExecStart=/usr/bin/nv-fabricmanager
[Install]
WantedBy=multi-user.target'
pkg nvidia-fabricmanager-580 580.95.05-1 ""

stage cuda-toolkit-13-0_13.0.2-1 /usr/local/cuda-13.0/bin/nvcc '#!/bin/sh
echo "nvcc: NVIDIA (R) Cuda compiler driver"
echo "Cuda compilation tools, release 13.0, V13.0.88"
echo "Build cuda_13.0.r13.0/compiler.36424714_0"' 0755
stage cuda-toolkit-13-0_13.0.2-1 /usr/local/cuda-13.0/lib64/README "test stand-in"
pkg cuda-toolkit-13-0 13.0.2-1 ""

# sign it like NVIDIA's: InRelease + Release.gpg, key published as <repo>/3bf863cc.pub
export GNUPGHOME="$work/gnupg"
mkdir -m 0700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key "llmops test CUDA repository <tests@example.invalid>" rsa2048 sign never
gpg --batch --armor --export > "$repo/3bf863cc.pub"
gpg --batch --with-colons --list-keys | awk -F: '$1 == "fpr" {print $10; exit}' > "$root/key.fpr"
cd "$repo"
apt-ftparchive packages . > Packages
apt-ftparchive release . > Release
gpg --batch --yes --clearsign -o InRelease Release
gpg --batch --yes -abs -o Release.gpg Release
rm -rf "$work"
echo "test repository: $repo ($(find "$repo" -name '*.deb' | wc -l) packages)"
