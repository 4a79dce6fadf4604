#!/usr/bin/env bash
# Issue 3's scale figures on a throwaway 3-node cluster (ports 19400..):
# load 100,000 namespaces of ~512 bytes, then time a snapshot save, a node
# restart until /readyz, a new server catching up from a snapshot, and read
# each server's resident memory. KEYS overrides 100000.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_PORT=19400
DIR=$(mktemp -d /tmp/prism-100k.XXXX)
KEYS=${KEYS:-100000}
source scripts/lib.sh
trap 'stop_all; rm -rf "$DIR"' EXIT
for i in 0 1 2; do start_node $i; done
wait_ready
ctl() { "$BIN/prismctl" --endpoints "$EPS" "$@"; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
echo "loading $KEYS namespaces..."
ctl bench put --clients 32 --keys "$KEYS" --sequential --duration 30m --value-size 512 -o json
# Wait for the lifecycle reconciler to activate every namespace (one more
# revision each), so the measurements below do not race it.
rev() { ctl cluster status -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["revision"])'; }
t=$(date +%s%N); until [ "$(rev)" -ge $((2 * KEYS)) ]; do sleep 0.5; done
echo "{\"all_active_after_load_ms\": $(ms $t)}"
t=$(date +%s%N); ctl --timeout 60s snapshot save "$DIR/s.snap" -o json >/dev/null; echo "{\"snapshot_save_ms\": $(ms $t), \"bytes\": $(stat -c %s "$DIR/s.snap")}"
kib() { awk -v k="$2:" '$1==k{print int($2/1024)}' "/proc/$1/status"; }
for id in node1 node2 node3; do p=${pid[$id]}; echo "{\"node\": \"$id\", \"rss_mib\": $(kib $p VmRSS), \"anon_mib\": $(kib $p RssAnon), \"file_mib\": $(kib $p RssFile), \"raft_db_mib\": $(( $(stat -c %s "$DIR/$id/raft.db") >> 20 ))}"; done
# Restart a follower on its data dir.
f=$(ctl cluster status -o json | python3 -c 'import json,sys; d=json.load(sys.stdin); print([n["id"] for n in d["nodes"] if n["state"]=="follower"][0])')
kill -TERM "${pid[$f]}"; wait "${pid[$f]}" 2>/dev/null || true
i=$(( ${f#node} - 1 ))
t=$(date +%s%N); start_node $i
until curl -fsS "http://127.0.0.1:$((BASE_PORT + 300 + i))/readyz" >/dev/null 2>&1; do sleep 0.02; done
echo "{\"restart_to_ready_ms\": $(ms $t), \"node\": \"$f\"}"
# A new server joins and catches up (snapshot install, then the log tail).
t=$(date +%s%N)
"$BIN/prismd" --node-id node4 --data-dir "$DIR/node4" --grpc-addr "127.0.0.1:$((BASE_PORT + 3))" \
  --http-addr "127.0.0.1:$((BASE_PORT + 303))" --raft-addr "127.0.0.1:$((BASE_PORT + 103))" \
  --gossip-addr "127.0.0.1:$((BASE_PORT + 203))" --join "$JOIN" >>"$DIR/node4.log" 2>&1 &
pid[node4]=$!
want=$((2 * KEYS)) # every namespace created and activated; nothing else writes
rev4() { "$BIN/prismctl" --endpoints "127.0.0.1:$((BASE_PORT + 3))" cluster status -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["revision"])' 2>/dev/null || echo 0; }
until [ "$(rev4)" -ge "$want" ]; do sleep 0.05; done
echo "{\"new_server_caught_up_ms\": $(ms $t), \"revision\": $want}"
