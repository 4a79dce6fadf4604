#!/usr/bin/env bash
# TLS and ACL benchmark (issue 12): throwaway 3-node clusters (ports
# 18400..), ROUNDS (default 5) times alternating a cluster without TLS, one
# with TLS, and one with TLS and --acl (calls with a bootstrap token;
# fresh data dirs each time; all with the same gossip key, so the
# differences are TLS and ACLs alone), each running
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

# fresh MODE: a new cluster on new data dirs: 0 plain, 1 TLS, 2 TLS and ACLs.
fresh() {
  stop_all
  pid=()
  rm -rf "$DIR"/node*
  NODE_FLAGS="--provisioning=false --gossip-key $KEY"
  READY_SCHEME=http CURL_OPTS=""
  if [ "$1" != 0 ]; then
    NODE_FLAGS="$NODE_FLAGS $TLS_NODE"
    [ "$1" = 2 ] && NODE_FLAGS="$NODE_FLAGS --acl"
    READY_SCHEME=https CURL_OPTS="--cacert $T/prism-ca.pem"
  fi
  for i in 0 1 2; do start_node $i; done
  wait_ready
}

for r in $(seq "$ROUNDS"); do
  for mode in 0 1 2; do
    fresh $mode
    flags=()
    [ $mode != 0 ] && flags=("${TLS_CTL[@]}")
    ctl() { "$BIN/prismctl" --endpoints "$EPS" "${flags[@]}" "$@"; }
    if [ $mode = 2 ]; then
      tok=$(ctl acl bootstrap -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
      flags+=(--token "$tok")
    fi
    ctl bench put --clients 16 --duration 3s -o json >/dev/null # create the names, warm up
    put=$(ctl bench put --clients 16 --duration "$D" --value-size 512 -o json)
    get=$(ctl bench get --clients 16 --duration "$D" -o json)
    echo "{\"round\": $r, \"mode\": $mode, \"put\": $put, \"get\": $get}" | tee -a "$DIR/rounds.json"
  done
done
python3 - "$DIR/rounds.json" <<'PY'
import json, statistics, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
out = {}
names = {0: "plain", 1: "tls", 2: "tls_acl"}
for op in ("put", "get"):
    by = {m: [r[op]["ops_per_sec"] for r in rs if r["mode"] == m] for m in names}
    for m, n in names.items():
        out[f"{op}_median_{n}"] = round(statistics.median(by[m]))
        out[f"{op}_p99_ms_median_{n}"] = statistics.median(r[op]["p99_ms"] for r in rs if r["mode"] == m)
    for m in (1, 2):
        out[f"{op}_ratio_{names[m]}_vs_plain"] = round(statistics.median(by[m]) / statistics.median(by[0]), 3)
        out[f"{op}_ratio_per_round_{names[m]}"] = [round(b / a, 3) for a, b in zip(by[0], by[m])]
    out[f"{op}_ratio_tls_acl_vs_tls"] = round(statistics.median(by[2]) / statistics.median(by[1]), 3)
    out[op + "_errors"] = sum(r[op]["errors"] for r in rs)
print(json.dumps(out))
PY
