#!/usr/bin/env bash
# Measure write unavailability after kill -9 of the leader, N times, on a
# throwaway 3-node cluster (ports 17400..). Prints a line per kill and a JSON
# summary. Usage: scripts/failover.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10}
BASE_PORT=17400
DIR=$(mktemp -d /tmp/prism-failover.XXXX)
source scripts/lib.sh
trap 'stop_all; rm -rf "$DIR"' EXIT
for i in 0 1 2; do start_node $i; done
wait_ready
spec() { printf 'namespace: failover\nabstraction: keyvalue\nbackend: postgres\ncapacity:\n  estimated_read_rps: %d\n' "$1"; }
spec 0 | "$BIN/prismctl" --endpoints "$EPS" namespace apply -f - >/dev/null
results=()
for k in $(seq 1 "$N"); do
  leader=$("$BIN/prismctl" --endpoints "$EPS" cluster status -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["leader_id"])')
  t0=$(date +%s%N)
  kill -9 "${pid[$leader]}"
  wait "${pid[$leader]}" 2>/dev/null || true
  # Write until one is acknowledged (each attempt has its own deadline).
  until spec "$k" | "$BIN/prismctl" --endpoints "$EPS" --timeout 5s namespace apply -f - >/dev/null 2>&1; do :; done
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  results+=("$ms")
  echo "kill $k: leader $leader, first acknowledged write after ${ms} ms"
  start_node $(( ${leader#node} - 1 ))
  wait_ready
  sleep 1
done
printf '%s\n' "${results[@]}" | sort -n | python3 -c '
import json,sys
v=[int(x) for x in sys.stdin.read().split()]
print(json.dumps({"kills":len(v),"median_ms":v[len(v)//2],"p90_ms":v[min(len(v)-1,len(v)*9//10)],"max_ms":v[-1]}))'
