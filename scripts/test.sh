#!/usr/bin/env bash
# All tests: unit (pytest), ansible-lint (production profile), ansible-test sanity, collection build+install,
# Molecule scenarios. `scripts/test.sh [stage ...]` runs some stages only; `molecule` may be followed by names.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
export PATH="$ROOT/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"
export LLMOPS_SHARED_DIR="${LLMOPS_SHARED_DIR:-$(cd "$ROOT/.." && pwd)/shared}"
export PY_COLORS=0 ANSIBLE_NOCOLOR=1
RESULTS=()
FAILED=0
PASSED=0

stage() {  # stage NAME CMD...
  local name="$1"; shift
  local t0=$SECONDS
  echo "=== [$name] $*"
  if "$@"; then
    RESULTS+=("PASS  $name  $((SECONDS - t0)) s"); PASSED=$((PASSED + 1))
  else
    RESULTS+=("FAIL  $name  $((SECONDS - t0)) s"); FAILED=$((FAILED + 1))
  fi
}

run_unit() {
  python -m pytest tests/unit -q -p no:cacheprovider
  local rc=$?
  if [[ $rc -eq 5 ]]; then echo "pytest collected no tests: that is a failure here"; return 1; fi
  return $rc
}

run_e2e_model_download() {
  # the model_download role on localhost against the local fake hub: check, download, re-run, corruption, offline
  python tests/support/model_download_role_e2e.py
}

run_lint() {
  ansible-lint --profile production --offline -q
}

sanity_tree() {  # a copy of the tracked + new files at ansible_collections/llmops/vllm_stack
  local dest="$ROOT/.cache/sanity/ansible_collections/llmops/vllm_stack"
  rm -rf "$ROOT/.cache/sanity"; mkdir -p "$dest"
  git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ "$dest/"
  echo "$dest"
}

# ansible-test runs from its own venv (.cache/sanity-venv: ansible-core + the sanity tools it pins, via
# --requirements), so its pinned linters never clash with ansible-lint's in .venv. --venv mode cannot be used
# here: it downloads a pip bootstrap script from a host CI machines cannot reach.
sanity_venv() {
  local v="$ROOT/.cache/sanity-venv"
  if [[ ! -x "$v/bin/ansible-test" ]]; then
    python3 -m venv "$v" && "$v/bin/pip" install -q "$(grep -E '^ansible-core==' "$ROOT/requirements.txt")" || return 1
  fi
  local ver
  ver="$("$v/bin/python" -c 'import re, inspect; from ansible_test._internal import python_requirements as p; print(re.search(r"pip=.([0-9.]+).", inspect.getsource(p.get_venv_packages)).group(1))')" || return 1
  mkdir -p ~/.ansible/test/cache
  cp "$ROOT/scripts/ansible-test-get-pip.py" ~/.ansible/test/cache/"get_pip_${ver//./_}.py"
  echo "$v"
}

run_sanity() {
  local dest v; dest="$(sanity_tree)"; v="$(sanity_venv)" || return 1
  (cd "$dest" && git init -q && git add -A && \
    PATH="$v/bin:$PATH" "$v/bin/ansible-test" sanity --color no --python 3.11 --local --requirements 2>&1 \
      | grep -E '^(ERROR|FATAL|See documentation)|^[a-z0-9-]+$' | head -300
   exit "${PIPESTATUS[0]}")
}

run_build() {
  local out="$ROOT/.cache/build"; rm -rf "$out"; mkdir -p "$out/collections"
  ansible-galaxy collection build --force --output-path "$out" . >/dev/null || return 1
  local tarball; tarball="$(find "$out" -maxdepth 1 -name "llmops-vllm_stack-*.tar.gz" | head -1)"
  echo "built $(basename "$tarball") ($(du -h "$tarball" | cut -f1))"
  # install into an EMPTY collections path (no deps: ansible bundles them) and read a module's docs from it
  ANSIBLE_COLLECTIONS_PATH="$out/collections" ansible-galaxy collection install --no-deps -p "$out/collections" "$tarball" >/dev/null || return 1
  : > "$out/empty.cfg"
  local mods; mods=$(find plugins/modules -maxdepth 1 -name "*.py" -printf "%f\n" 2>/dev/null | sed "s/\.py$//")
  [[ -n "$mods" ]] || { echo "no modules to document"; return 1; }
  for m in $mods; do
    ANSIBLE_CONFIG="$out/empty.cfg" ANSIBLE_COLLECTIONS_PATH="$out/collections:$ROOT/.venv/lib/python3.11/site-packages" \
      ansible-doc "llmops.vllm_stack.$m" | head -2 || return 1
  done
  tar -tzf "$tarball" | grep -E '^(\.venv|\.cache|molecule/.*/\.cache)' && { echo "tarball contains build junk"; return 1; }
  return 0
}

run_molecule() {
  local s rc=0
  for s in "$@"; do
    if [[ "$s" == vllm_cpu ]]; then
      # offline wheelhouse + tiny models on the host, mounted read-only into the container (idempotent)
      read -r LLMOPS_WHEELHOUSE LLMOPS_TINY_MODELS < <(bash scripts/cpu-assets.sh) || return 1
      export LLMOPS_WHEELHOUSE LLMOPS_TINY_MODELS
    fi
    local t0=$SECONDS
    if molecule test -s "$s"; then
      echo "molecule $s: passed in $((SECONDS - t0)) s"
    else
      echo "molecule $s: FAILED after $((SECONDS - t0)) s"; rc=1
    fi
  done
  return $rc
}

all_scenarios() {
  local d; for d in molecule/*/molecule.yml; do basename "$(dirname "$d")"; done
}

STAGES=("$@")
[[ ${#STAGES[@]} -eq 0 ]] && STAGES=(unit lint sanity build e2e molecule)
i=0
while [[ $i -lt ${#STAGES[@]} ]]; do
  s="${STAGES[$i]}"; i=$((i + 1))
  case "$s" in
    unit) stage unit run_unit ;;
    lint) stage ansible-lint run_lint ;;
    sanity) stage sanity run_sanity ;;
    build) stage build-install-doc run_build ;;
    e2e) stage e2e-model-download run_e2e_model_download ;;
    molecule)
      names=()
      while [[ $i -lt ${#STAGES[@]} && ! "${STAGES[$i]}" =~ ^(unit|lint|sanity|build|e2e|molecule)$ ]]; do
        names+=("${STAGES[$i]}"); i=$((i + 1))
      done
      [[ ${#names[@]} -eq 0 ]] && mapfile -t names < <(all_scenarios)
      for n in "${names[@]}"; do stage "molecule:$n" run_molecule "$n"; done ;;
    *) echo "unknown stage $s"; exit 2 ;;
  esac
done

echo "=== summary"
printf '%s\n' "${RESULTS[@]}"
echo "stages: $PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
