#!/usr/bin/env bash
# Start a throwaway 3-node cluster (ports 18400..) and print one JSON line per
# load: writes, linearizable reads, stale reads (16 clients, 512-byte specs,
# 1,000 names, through all endpoints). DURATION overrides 10s.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_PORT=18400
DIR=$(mktemp -d /tmp/prism-bench.XXXX)
D=${DURATION:-10s}
source scripts/lib.sh
trap 'stop_all; rm -rf "$DIR"' EXIT
for i in 0 1 2; do start_node $i; done
wait_ready
ctl() { "$BIN/prismctl" --endpoints "$EPS" "$@"; }
ctl bench put --clients 16 --duration 3s -o json >/dev/null   # create the names, warm up
ctl bench put --clients 16 --duration "$D" --value-size 512 -o json
ctl bench get --clients 16 --duration "$D" -o json
ctl --consistency stale bench get --clients 16 --duration "$D" -o json
