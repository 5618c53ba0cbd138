#!/usr/bin/env bash
# Device proof for the GPU host roles. Run ON the GPU machine from the repository root:
#   bash tests/device/gpu_roles_check.sh [OUTDIR]
# Three passes of tests/device/gpu_roles_check.yml with a local connection: --check, apply, apply again. Writes
# one JSON log per pass and summary.txt to OUTDIR ($OUT or /tmp/gpu_roles_out); exits non-zero when a pass failed,
# when nvidia_driver or nouveau changed anything, or when the third pass changed anything.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
out="${1:-${OUT:-/tmp/gpu_roles_out}}"
mkdir -p "$out"

coll="$(mktemp -d)"
mkdir -p "$coll/ansible_collections/llmops"
ln -s "$PWD" "$coll/ansible_collections/llmops/vllm_stack"
# not the repository's ansible.cfg (its collections path and demo inventory are for the control machine)
# ansible-core has no JSON stdout callback of its own: tests/device/callback_plugins/gpu_roles_log.py
printf '[defaults]\ncollections_path = %s\ncallback_plugins = %s\nstdout_callback = gpu_roles_log\nretry_files_enabled = false\n' \
  "$coll" "$PWD/tests/device/callback_plugins" > "$coll/ansible.cfg"
export ANSIBLE_CONFIG="$coll/ansible.cfg" ANSIBLE_NOCOLOR=1 ANSIBLE_LOCAL_TEMP="$coll/tmp" ANSIBLE_REMOTE_TEMP="$coll/tmp"

# GPU_ROLES_ARGS: extra ansible-playbook arguments, for dry runs of this script elsewhere (e.g. -e @fake_gpu.json)
read -r -a extra <<< "${GPU_ROLES_ARGS:-}"
nvcc="$(command -v nvcc || true)"
[[ -z "$nvcc" ]] && nvcc="$(find /usr/local -maxdepth 3 -path '*/bin/nvcc' 2>/dev/null | sort | tail -1)"
if [[ -n "$nvcc" ]]; then
  home="$(dirname "$(dirname "$(readlink -f "$nvcc")")")"
  extra+=(-e "cuda_toolkit_home=$home")
  echo "nvcc: $nvcc -> cuda_toolkit_home=$home"
fi
echo "ansible-playbook: $(command -v ansible-playbook) ($(ansible-playbook --version 2>/dev/null | sed -n 1p))"

rc=0
run() {  # run NAME [ansible-playbook args...]
  local name="$1"; shift
  local t0=$SECONDS
  ansible-playbook -i tests/device/gpu_roles_inventory.yml tests/device/gpu_roles_check.yml "${extra[@]}" "$@" \
    > "$out/$name.json" 2> "$out/$name.stderr"
  echo "$name: rc=$? in $((SECONDS - t0)) s"
}
run pass1-check --check
run pass2-apply
run pass3-again
python3 tests/device/gpu_roles_summary.py "$out"/pass1-check.json "$out"/pass2-apply.json "$out"/pass3-again.json \
  | tee "$out/summary.txt"
rc=${PIPESTATUS[0]}
rm -rf "$coll"
exit "$rc"
