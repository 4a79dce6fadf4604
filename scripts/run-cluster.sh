#!/usr/bin/env bash
# Start a local 3-node Prism cluster on loopback with embedded defaults.
# node1 uses the default ports (gRPC 7400, HTTP 7700, raft 7500, gossip 7600);
# node2 and node3 use the next ports up. Data and logs go to ./data/.
# Ctrl-C stops all three (SIGTERM: each hands over leadership first).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-./bin}
DATA=${DATA:-./data}
mkdir -p "$DATA"
pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "stopping cluster..."
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT
for i in 0 1 2; do
  id="node$((i + 1))"
  "$BIN/prismd" --node-id "$id" --data-dir "$DATA/$id" \
    --grpc-addr "127.0.0.1:$((7400 + i))" --http-addr "127.0.0.1:$((7700 + i))" \
    --raft-addr "127.0.0.1:$((7500 + i))" --gossip-addr "127.0.0.1:$((7600 + i))" \
    --bootstrap-expect 3 ${PRISMD_EXTRA:-} --join "127.0.0.1:7600,127.0.0.1:7601,127.0.0.1:7602" \
    >>"$DATA/$id.log" 2>&1 &
  pids+=($!)
done
export PRISM_ENDPOINTS=127.0.0.1:7400,127.0.0.1:7401,127.0.0.1:7402
for _ in $(seq 1 100); do
  if curl -fsS http://127.0.0.1:7700/readyz >/dev/null 2>&1 && \
     curl -fsS http://127.0.0.1:7701/readyz >/dev/null 2>&1 && \
     curl -fsS http://127.0.0.1:7702/readyz >/dev/null 2>&1; then
    break
  fi
  sleep 0.2
done
"$BIN/prismctl" cluster status || true
cat <<MSG

Prism cluster is up (pids ${pids[*]}; logs in $DATA/node{1,2,3}.log). In another shell:

  export PRISM_ENDPOINTS=$PRISM_ENDPOINTS
  ./bin/prismctl namespace apply -f examples/user-profiles.yaml
  ./bin/prismctl namespace get user-profiles -o json
  ./bin/prismctl cluster status
  curl -s http://127.0.0.1:7701/v1/namespaces/user-profiles

Ctrl-C stops the cluster; \`make clean\` removes its data.
MSG
wait
