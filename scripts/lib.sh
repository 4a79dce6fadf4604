# Shared by the scripts that start a throwaway 3-node cluster on loopback.
# Set BASE_PORT (gRPC of node1; HTTP +300, raft +100, gossip +200) and DIR first;
# NODE_FLAGS (optional) are added to every node's flags ("{id}" in them
# becomes the node's id). With TLS nodes, READY_SCHEME=https and CURL_OPTS
# (say --cacert FILE) are how wait_ready asks for /readyz.
BIN=${BIN:-./bin}
declare -A pid
EPS="127.0.0.1:$BASE_PORT,127.0.0.1:$((BASE_PORT + 1)),127.0.0.1:$((BASE_PORT + 2))"
JOIN="127.0.0.1:$((BASE_PORT + 200)),127.0.0.1:$((BASE_PORT + 201)),127.0.0.1:$((BASE_PORT + 202))"

# start_node I: start node I (0..2) in the background; its pid goes to pid[nodeI+1].
start_node() {
  local i=$1 id="node$(( $1 + 1 ))" flags=${NODE_FLAGS:-}
  "$BIN/prismd" --node-id "$id" --data-dir "$DIR/$id" \
    --grpc-addr "127.0.0.1:$((BASE_PORT + i))" --http-addr "127.0.0.1:$((BASE_PORT + 300 + i))" \
    --raft-addr "127.0.0.1:$((BASE_PORT + 100 + i))" --gossip-addr "127.0.0.1:$((BASE_PORT + 200 + i))" \
    --bootstrap-expect 3 --join "$JOIN" ${flags//\{id\}/$id} >>"$DIR/$id.log" 2>&1 &
  pid[$id]=$!
}

stop_all() { for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }

# wait_ready: until every node answers /readyz (bounded: 30 s).
wait_ready() {
  local deadline=$((SECONDS + 30))
  for i in 0 1 2; do
    # shellcheck disable=SC2086 # CURL_OPTS is a word list
    until curl -fsS ${CURL_OPTS:-} "${READY_SCHEME:-http}://127.0.0.1:$((BASE_PORT + 300 + i))/readyz" >/dev/null 2>&1; do
      [ $SECONDS -lt $deadline ] || { echo "cluster not ready; logs in $DIR" >&2; return 1; }
      sleep 0.05
    done
  done
}
