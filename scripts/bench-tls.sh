#!/usr/bin/env bash
# TLS benchmark (issue 12): throwaway 3-node clusters (ports 18400..),
# ROUNDS (default 5) times alternating a cluster without TLS and one with
# it (fresh data dirs each time; both with the same gossip key, so the
# difference is TLS alone), each running
#   bench put --clients 16 --value-size 512   (writes)
#   bench get --clients 16                    (linearizable reads)
# for DURATION (default 10s) after a 3 s warm-up. One JSON line per run,
# then the medians and their ratios (this machine is shared and noisy).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_PORT=18400
DIR=$(mktemp -d /tmp/prism-bench-tls.XXXX)
D=${DURATION:-10s}
ROUNDS=${ROUNDS:-5}
source scripts/lib.sh
trap 'stop_all; rm -rf "$DIR"' EXIT
T=$DIR/tls
"$BIN/prismctl" tls ca create --dir "$T" >/dev/null
for id in node1 node2 node3; do "$BIN/prismctl" tls cert create --node "$id" --dir "$T" >/dev/null; done
"$BIN/prismctl" tls cert create --client user/bench --dir "$T" >/dev/null
KEY=$(head -c 32 /dev/urandom | base64)
TLS_NODE="--tls-cert $T/node-{id}.pem --tls-key $T/node-{id}-key.pem --tls-ca $T/prism-ca.pem"
TLS_CTL=(--cacert "$T/prism-ca.pem" --cert "$T/user-bench.pem" --key "$T/user-bench-key.pem")

# fresh TLS: a new cluster on new data dirs, with TLS when TLS is 1.
fresh() {
  stop_all
  pid=()
  rm -rf "$DIR"/node*
  NODE_FLAGS="--provisioning=false --gossip-key $KEY"
  READY_SCHEME=http CURL_OPTS=""
  if [ "$1" = 1 ]; then
    NODE_FLAGS="$NODE_FLAGS $TLS_NODE"
    READY_SCHEME=https CURL_OPTS="--cacert $T/prism-ca.pem"
  fi
  for i in 0 1 2; do start_node $i; done
  wait_ready
}

for r in $(seq "$ROUNDS"); do
  for tls in 0 1; do
    fresh $tls
    flags=()
    [ $tls = 1 ] && flags=("${TLS_CTL[@]}")
    ctl() { "$BIN/prismctl" --endpoints "$EPS" "${flags[@]}" "$@"; }
    ctl bench put --clients 16 --duration 3s -o json >/dev/null # create the names, warm up
    put=$(ctl bench put --clients 16 --duration "$D" --value-size 512 -o json)
    get=$(ctl bench get --clients 16 --duration "$D" -o json)
    echo "{\"round\": $r, \"tls\": $([ $tls = 1 ] && echo true || echo false), \"put\": $put, \"get\": $get}" | tee -a "$DIR/rounds.json"
  done
done
python3 - "$DIR/rounds.json" <<'PY'
import json, statistics, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
out = {}
for op in ("put", "get"):
    off = [r[op]["ops_per_sec"] for r in rs if not r["tls"]]
    on = [r[op]["ops_per_sec"] for r in rs if r["tls"]]
    out[op + "_median_without"] = round(statistics.median(off))
    out[op + "_median_with"] = round(statistics.median(on))
    out[op + "_ratio_of_medians"] = round(statistics.median(on) / statistics.median(off), 3)
    out[op + "_ratio_per_round"] = [round(b / a, 3) for a, b in zip(off, on)]
    out[op + "_p99_ms_median_without"] = statistics.median(r[op]["p99_ms"] for r in rs if not r["tls"])
    out[op + "_p99_ms_median_with"] = statistics.median(r[op]["p99_ms"] for r in rs if r["tls"])
    out[op + "_errors"] = sum(r[op]["errors"] for r in rs)
print(json.dumps(out))
PY
