#!/usr/bin/env bash
# STAND-IN for a Miniforge/Miniconda installer (the real ones cannot be downloaded in CI). Same CLI surface the
# role uses: `installer.sh -b -p PREFIX`, then `PREFIX/bin/conda create --yes --quiet --prefix ENV python=X.Y`
# and `conda tos accept ...`. `create` makes a real venv so the env is usable; calls are logged for the tests.
set -euo pipefail
[[ "$1" == "-b" && "$2" == "-p" ]] || { echo "usage: $0 -b -p PREFIX" >&2; exit 2; }
prefix="$3"
mkdir -p "$prefix/bin"
cat > "$prefix/bin/conda" <<'CONDA'
#!/usr/bin/env bash
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
echo "conda $*" >> "$here/conda-calls.log"
case "$1" in
  create)
    shift; env=""; py=""
    while [[ $# -gt 0 ]]; do
      case "$1" in --prefix|-p) env="$2"; shift 2 ;; python=*) py="${1#python=}"; shift ;; *) shift ;; esac
    done
    have="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    [[ "$py" == "$have" ]] || { echo "stand-in can only provide python $have, not $py" >&2; exit 1; }
    python3 -m venv "$env" ;;
  tos) echo "accepted" ;;
  --version) echo "conda 25.3.0 (stand-in)" ;;
  *) echo "stand-in conda: unsupported $1" >&2; exit 2 ;;
esac
CONDA
chmod +x "$prefix/bin/conda"
echo "installer $*" >> "$prefix/conda-calls.log"
