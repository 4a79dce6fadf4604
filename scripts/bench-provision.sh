#!/usr/bin/env bash
# Provisioning benchmark (issue 10): a throwaway 3-node cluster (ports
# 18400..) with its own Postgres (port 18532) and dev broker (18592).
# Prints one JSON line each:
#   1. bench put alone (the baseline),
#   2. bench provision: COUNT (default 1000) namespaces applied at once, half
#      Postgres tables, half Kafka topics: time until all active, p50/p99
#      apply → active, then their deletion,
#   3. bench put again, run while a second bench provision runs.
# DURATION (default 20s) is the length of each put run.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_PORT=18400
DIR=$(mktemp -d /tmp/prism-bench-prov.XXXX)
chmod 755 "$DIR" # the postgres user runs the server under it
D=${DURATION:-20s}
COUNT=${COUNT:-1000}
export DATA=$DIR PG_DIR=$DIR/postgres PG_PORT=18532 PG_DB=prism
BROKER=127.0.0.1:18592
./scripts/local-postgres.sh start >/dev/null
"${BIN:-./bin}/prism-devbroker" --addr "$BROKER" --ready-file "$DIR/broker.addr" >"$DIR/broker.log" 2>&1 &
broker=$!
NODE_FLAGS="--postgres-url $(./scripts/local-postgres.sh url) --kafka-brokers $BROKER ${EXTRA_NODE_FLAGS:-}"
source scripts/lib.sh
# The broker goes first: stop_all waits for every child of this shell.
cleanup() { kill "$broker" 2>/dev/null || true; stop_all; ./scripts/local-postgres.sh stop >/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
until [ -s "$DIR/broker.addr" ]; do sleep 0.05; done
for i in 0 1 2; do start_node $i; done
wait_ready
ctl() { "$BIN/prismctl" --endpoints "$EPS" "$@"; }
ctl bench put --clients 16 --duration 3s -o json >/dev/null # create the put names, warm up
ctl bench put --clients 16 --duration "$D" -o json
ctl --timeout 10m bench provision --count "$COUNT" --clients 32 -o json
ctl --timeout 10m bench provision --count "$COUNT" --clients 32 --prefix bprov2 -o json >"$DIR/prov2.json" &
prov=$!
ctl bench put --clients 16 --duration "$D" -o json
wait "$prov"
cat "$DIR/prov2.json"
