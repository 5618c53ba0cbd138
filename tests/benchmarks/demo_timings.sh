#!/usr/bin/env bash
# Benchmark of the README's main command on this machine (prints numbers, asserts nothing):
#  - wall time of `./stack demo` from a fresh demo container to the validated first answers,
#  - per vLLM unit: time from the unit's start to its first healthy /health, and resident memory,
#  - a second site.yml run on the same container: wall time and changed count,
#  - `--tags vllm`: which roles' tasks ran.
# FRESH=1 also removes the venv stamp and CPU assets first (a fresh-clone measurement); default keeps them.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"
docker rm -f llmops-demo >/dev/null 2>&1 || true
if [[ "${FRESH:-0}" == 1 ]]; then rm -rf .venv .cache/modelgen-venv /var/cache/llmops; fi
t0=$(date +%s)
./stack demo > /tmp/demo-bench.log 2>&1
rc=$?
t1=$(date +%s)
echo "first run: ./stack demo rc=$rc wall $((t1 - t0)) s (log /tmp/demo-bench.log)"
for unit in chat embed rerank; do
  start=$(docker exec llmops-demo systemctl show -p ExecMainStartTimestampMonotonic --value "vllm-$unit")
  # first line vLLM prints once the server is up, from the unit's journal (monotonic microseconds)
  ready=$(docker exec llmops-demo journalctl -u "vllm-$unit" -o short-monotonic --no-pager \
          | grep -m1 "Application startup complete" | sed -E 's/^\[ *([0-9.]+)\].*/\1/')
  pid=$(docker exec llmops-demo systemctl show -p MainPID --value "vllm-$unit")
  rss_kib=$(docker exec llmops-demo sh -c "ps -o rss= --ppid $pid; ps -o rss= -p $pid" | awk '{s+=$1} END {print s}')
  python3 - "$unit" "$start" "$ready" "$rss_kib" <<'PY'
import sys
unit, start, ready, rss = sys.argv[1], int(sys.argv[2] or 0), float(sys.argv[3] or 0), int(sys.argv[4] or 0)
print("vllm-%-6s time to healthy %6.1f s   resident memory %7.0f MiB (main process + children)"
      % (unit, ready - start / 1e6 if ready else float('nan'), rss / 1024))
PY
done
t2=$(date +%s)
ansible-playbook -i inventories/demo/hosts.yml site.yml -e @.cache/demo-secrets.yml > /tmp/demo-second.log 2>&1
t3=$(date +%s)
echo "second run: wall $((t3 - t2)) s, $(grep -A1 'PLAY RECAP' /tmp/demo-second.log | tail -1 | grep -o 'changed=[0-9]*')"
ansible-playbook -i inventories/demo/hosts.yml site.yml -e @.cache/demo-secrets.yml --tags vllm -v > /tmp/demo-tags.log 2>&1
echo "--tags vllm: tasks that ran (not skipped), per role:"
awk '/^TASK \[/{t=$0} /^(ok|changed):/{print t}' /tmp/demo-tags.log | grep -oE 'TASK \[[^]:]*' \
  | sed -E 's/TASK \[(llmops\.vllm_stack\.)?//' | sort | uniq -c | sed 's/^/             /'
echo "             $(grep -A1 'PLAY RECAP' /tmp/demo-tags.log | tail -1 | grep -o 'changed=[0-9]*')"
