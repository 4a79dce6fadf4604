#!/usr/bin/env bash
# Start a local 3-node Prism cluster on loopback with embedded defaults.
# node1 uses the default ports (gRPC 7400, HTTP 7700, raft 7500, gossip 7600);
# node2 and node3 use the next ports up. Data and logs go to ./data/.
# Ctrl-C or SIGTERM stops all three (each gets SIGTERM: it hands over
# leadership first), says so, and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-./bin}
DATA=${DATA:-./data}
mkdir -p "$DATA"
pids=()

# On a terminal, Ctrl-C is read as a key instead of raising SIGINT: the
# terminal would send SIGINT to make too, and make, even when this script
# exits 0, dies of it and exits 130.
saved_tty=""
if [ -t 0 ]; then saved_tty=$(stty -g 2>/dev/null || true); fi
restore_tty() { if [ -n "$saved_tty" ]; then stty "$saved_tty" 2>/dev/null || true; fi; }

stop_nodes() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
# Any other exit (an error) still stops the nodes and gives the terminal back.
trap 'restore_tty; stop_nodes' EXIT
stop() {
  trap - INT TERM
  echo; echo "stopping cluster..."
  stop_nodes
  restore_tty
  echo "cluster stopped"
  exit 0
}
trap stop INT TERM

for i in 0 1 2; do
  id="node$((i + 1))"
  "$BIN/prismd" --node-id "$id" --data-dir "$DATA/$id" \
    --grpc-addr "127.0.0.1:$((7400 + i))" --http-addr "127.0.0.1:$((7700 + i))" \
    --raft-addr "127.0.0.1:$((7500 + i))" --gossip-addr "127.0.0.1:$((7600 + i))" \
    --bootstrap-expect 3 ${PRISMD_EXTRA:-} --join "127.0.0.1:7600,127.0.0.1:7601,127.0.0.1:7602" \
    >>"$DATA/$id.log" 2>&1 </dev/null &
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
  ./bin/prismctl namespace apply -f examples/user-profiles.yaml -f examples/video-events.yaml
  ./bin/prismctl namespace apply -f examples/
  ./bin/prismctl namespace get user-profiles -o json
  ./bin/prismctl cluster status
  curl -s http://127.0.0.1:7701/v1/namespaces/user-profiles

Ctrl-C stops the cluster; \`make clean\` removes its data.
MSG

# nodes_gone: every node has exited by itself.
nodes_gone() {
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 1; done
  return 0
}
if [ -n "$saved_tty" ]; then
  # No signals from keys, and a read returns after 1 s without input (so
  # SIGTERM's trap runs promptly). dd, not read -n: bash's read turns
  # signal keys back on.
  stty -isig -icanon -echo min 0 time 10
  while ! nodes_gone; do
    key=$(dd bs=1 count=1 2>/dev/null || true)
    if [ "$key" = $'\x03' ] || [ "$key" = $'\x1c' ]; then # Ctrl-C, Ctrl-\
      stop
    fi
  done
else
  # wait returns at once when a trapped signal arrives.
  while ! nodes_gone; do wait -n "${pids[@]}" 2>/dev/null || true; done
fi
echo "every node exited by itself; see $DATA/node{1,2,3}.log" >&2
exit 1
