#!/usr/bin/env bash
# GPU-host check for the nvidia_container_toolkit role, read-only (for the lead to run on the device machine).
# 1. merges the nvidia runtime into a COPY of /etc/docker/daemon.json with the collection's _daemon_json code and
#    compares it with what `nvidia-ctk runtime configure --dry-run` would write (both must agree on runtimes.nvidia);
# 2. renders the CDI spec with `nvidia-ctk cdi generate` (stdout) and counts the GPU devices in it;
# 3. when Docker and an image are present, runs `nvidia-smi -L` in a container through the nvidia runtime.
# Nothing on the host is changed. Missing tools are reported and skipped.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
OUT="${OUT:-/tmp/nct-check}"
mkdir -p "$OUT"
echo "== host GPUs"; nvidia-smi -L 2>&1 | tee "$OUT/host-gpus.txt"
src=/etc/docker/daemon.json
[[ -f $src ]] && cp "$src" "$OUT/daemon.json.orig" || echo '{}' > "$OUT/daemon.json.orig"
echo "== merge with _daemon_json (collection code)"
python3 - "$OUT/daemon.json.orig" > "$OUT/daemon.json.merged" <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("dj", "plugins/module_utils/_daemon_json.py")
dj = importlib.util.module_from_spec(spec); spec.loader.exec_module(dj)
text = open(sys.argv[1]).read()
result = dj.plan(text, {"runtimes": {"nvidia": {"path": "nvidia-container-runtime", "args": []}}})
sys.stdout.write(result["text"])
sys.stderr.write(f"changed={result['changed']} keys={result['changed_keys']}\n")
PY
cat "$OUT/daemon.json.merged"
if command -v nvidia-ctk >/dev/null; then
  echo "== nvidia-ctk runtime configure --dry-run (for comparison)"
  cp "$OUT/daemon.json.orig" "$OUT/daemon.json.ctk"
  nvidia-ctk runtime configure --runtime=docker --config="$OUT/daemon.json.ctk" --dry-run 2>&1 | tee "$OUT/ctk-dry-run.txt"
  python3 - "$OUT/daemon.json.merged" "$OUT/ctk-dry-run.txt" <<'PY'
import json, re, sys
ours = json.load(open(sys.argv[1]))["runtimes"]["nvidia"]
text = open(sys.argv[2]).read()
start = text.find("{")
theirs = json.loads(text[start:text.rfind("}") + 1])["runtimes"]["nvidia"] if start >= 0 else None
print("runtimes.nvidia ours:", ours, "nvidia-ctk:", theirs, "AGREE" if ours == theirs else "DIFFER")
PY
  echo "== nvidia-ctk cdi generate (stdout)"
  nvidia-ctk cdi generate 2>"$OUT/cdi.stderr" > "$OUT/nvidia.yaml" && grep -c 'name: "\?[0-9]' "$OUT/nvidia.yaml" | sed 's/^/CDI GPU devices by index: /'
else
  echo "nvidia-ctk not installed: runtime comparison and CDI skipped"
fi
if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  image="${NCT_IMAGE:-$(docker images --format '{{.Repository}}:{{.Tag}}' | head -1)}"
  if [[ -n "$image" ]]; then
    echo "== container on image $image"
    docker run --rm --runtime nvidia --gpus all "$image" nvidia-smi -L 2>&1 | tee "$OUT/container-gpus.txt"
  else
    echo "no local image to run (no registry reachable): container check skipped"
  fi
else
  echo "Docker not running: container check skipped"
fi
