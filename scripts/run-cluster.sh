#!/usr/bin/env bash
# Start a local 3-node Prism cluster on loopback with embedded defaults, and
# the backends it provisions on: a throwaway PostgreSQL
# (scripts/local-postgres.sh, 127.0.0.1:$PG_PORT, default 15432) and a
# Kafka-protocol dev broker (bin/prism-devbroker, $KAFKA_ADDR, default
# 127.0.0.1:19092). node1 uses the default ports (gRPC 7400, HTTP 7700,
# raft 7500, gossip 7600); node2 and node3 use the next ports up. Data and
# logs go to ./data/ (Postgres in ./data/postgres, the broker's topics in
# ./data/kafka).
# Ctrl-C or SIGTERM stops the nodes (each gets SIGTERM: it hands over
# leadership first), then the broker and the Postgres it started, says so,
# and exits 0.
#
# --backends-only (make backends) starts only Postgres and the broker.
#
# TLS=1 (make run-secure) runs the nodes with TLS and ACLs (--acl): on
# first use it makes a CA, a certificate per node and a client certificate
# (user/admin) in $DATA/tls with prismctl tls, and a gossip key
# ($DATA/tls/gossip.key); once the cluster is up it mints the bootstrap
# token (prismctl acl bootstrap) into $DATA/tls/admin.token (0600); later
# runs reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-./bin}
DATA=${DATA:-./data}
export DATA
PG_PORT=${PG_PORT:-15432}
PG_DB=${PG_DB:-prism}
export PG_PORT PG_DB
KAFKA_ADDR=${KAFKA_ADDR:-127.0.0.1:19092}
nodes=1
case "${1:-}" in
  "") ;;
  --backends-only) nodes="" ;;
  *) echo "usage: $0 [--backends-only]" >&2; exit 2 ;;
esac
mkdir -p "$DATA"
pids=()
broker_pid=""
pg_started=""

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
# stop_backends: after the nodes, so that none is cut off mid-call.
stop_backends() {
  if [ -n "$broker_pid" ]; then
    kill -TERM "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
    broker_pid=""
  fi
  if [ -n "$pg_started" ]; then
    ./scripts/local-postgres.sh stop || true
    pg_started=""
  fi
}
stop_all() { stop_nodes; stop_backends; }
# Any other exit (an error) still stops everything and gives the terminal back.
trap 'restore_tty; stop_all' EXIT
what=${nodes:+cluster}
what=${what:-backends}
stop() {
  trap - INT TERM
  echo; echo "stopping $what..."
  stop_all
  restore_tty
  echo "$what stopped"
  exit 0
}
trap stop INT TERM

# Postgres: started here unless it already runs (then it is left running).
if ! ./scripts/local-postgres.sh status; then pg_started=1; fi
./scripts/local-postgres.sh start
PG_URL=$(./scripts/local-postgres.sh url)

# Children run in sessions of their own (setsid): a SIGINT to this
# script's process group reaches only the script, which stops them in
# order (nodes, then backends). The broker writes its address to the ready
# file once it listens.
ready="$DATA/devbroker.addr"
rm -f "$ready"
setsid "$BIN/prism-devbroker" --addr "$KAFKA_ADDR" --data-dir "$DATA/kafka" --ready-file "$ready" \
  >>"$DATA/devbroker.log" 2>&1 </dev/null &
broker_pid=$!
deadline=$((SECONDS + 15))
until [ -s "$ready" ]; do
  if ! kill -0 "$broker_pid" 2>/dev/null; then
    broker_pid=""
    echo "prism-devbroker exited at start; its log ($DATA/devbroker.log) ends with:" >&2
    tail -n 5 "$DATA/devbroker.log" >&2
    exit 1
  fi
  [ $SECONDS -lt $deadline ] || { echo "prism-devbroker did not listen within 15 s; see $DATA/devbroker.log" >&2; exit 1; }
  sleep 0.05
done
KAFKA_BROKERS=$(cat "$ready")

# The flags that point prismd at these backends.
# The same Postgres keeps the archive (schema prism_archive).
PRISMD_BACKEND_FLAGS=${PRISMD_BACKEND_FLAGS-"--postgres-url $PG_URL --kafka-brokers $KAFKA_BROKERS --archive-url $PG_URL"}

backends_msg() {
  cat <<MSG
Backends:
  Postgres  $PG_URL   (log in $DATA/postgres/server.log)
            psql -h 127.0.0.1 -p $PG_PORT -U postgres $PG_DB -c '\\dt'
  Kafka     $KAFKA_BROKERS   (prism-devbroker, for make run and tests only; log in $DATA/devbroker.log)
  Archive   $PG_URL, schema prism_archive   (prismctl archive status, prismctl history NAME)
  prismd flags for them: $PRISMD_BACKEND_FLAGS
MSG
}

# alive PID...: some of them still run.
alive() {
  for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done
  return 1
}
# running: the broker runs and (unless --backends-only) some node does.
running() {
  kill -0 "$broker_pid" 2>/dev/null || return 1
  [ -z "$nodes" ] || alive "${pids[@]}"
}

# tls_setup: with TLS=1, the certificates and gossip key in $DATA/tls
# (made once), and the client settings every prismctl here uses.
TLS_DIR="$DATA/tls"
scheme=http
curl_tls=()
tls_env=""
tls_setup() {
  [ "${TLS:-}" = 1 ] || return 0
  if [ ! -f "$TLS_DIR/prism-ca.pem" ]; then
    "$BIN/prismctl" tls ca create --dir "$TLS_DIR" >/dev/null
    for id in node1 node2 node3; do "$BIN/prismctl" tls cert create --node "$id" --dir "$TLS_DIR" >/dev/null; done
    "$BIN/prismctl" tls cert create --client user/admin --dir "$TLS_DIR" >/dev/null
    echo "made a CA, certificates for node1..3 and user/admin in $TLS_DIR (prismctl tls)"
  fi
  if [ ! -f "$TLS_DIR/gossip.key" ]; then
    (umask 077; head -c 32 /dev/urandom | base64 >"$TLS_DIR/gossip.key")
  fi
  export PRISM_CACERT="$TLS_DIR/prism-ca.pem" PRISM_CERT="$TLS_DIR/user-admin.pem" PRISM_KEY="$TLS_DIR/user-admin-key.pem"
  scheme=https
  curl_tls=(--cacert "$PRISM_CACERT")
  tls_env="  export PRISM_CACERT=$PRISM_CACERT PRISM_CERT=$PRISM_CERT PRISM_KEY=$PRISM_KEY
"
}
# tls_flags ID: prismd's TLS flags for node ID (none without TLS=1).
tls_flags() {
  [ "${TLS:-}" = 1 ] || return 0
  echo "--gossip-key $(cat "$TLS_DIR/gossip.key") --tls-cert $TLS_DIR/node-$1.pem --tls-key $TLS_DIR/node-$1-key.pem --tls-ca $TLS_DIR/prism-ca.pem --acl"
}
# acl_setup: with TLS=1, the bootstrap token (minted once, kept in
# $DATA/tls/admin.token) for every prismctl here.
acl_setup() {
  [ "${TLS:-}" = 1 ] || return 0
  if [ ! -s "$TLS_DIR/admin.token" ]; then
    (umask 077; "$BIN/prismctl" acl bootstrap -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' >"$TLS_DIR/admin.token.new") &&
      mv "$TLS_DIR/admin.token.new" "$TLS_DIR/admin.token" &&
      echo "minted the bootstrap token (prismctl acl bootstrap) into $TLS_DIR/admin.token"
  fi
  if [ -s "$TLS_DIR/admin.token" ]; then
    PRISM_TOKEN=$(cat "$TLS_DIR/admin.token")
    export PRISM_TOKEN
    tls_env="  export PRISM_CACERT=$PRISM_CACERT PRISM_CERT=$PRISM_CERT PRISM_KEY=$PRISM_KEY
  export PRISM_TOKEN=\$(cat $TLS_DIR/admin.token)   # role admin: make others with prismctl acl token create
"
  fi
}

if [ -n "$nodes" ]; then
  tls_setup
  node_backend_flags=$PRISMD_BACKEND_FLAGS
  for i in 0 1 2; do
    id="node$((i + 1))"
    # shellcheck disable=SC2086 # the flag variables are word lists
    setsid "$BIN/prismd" --node-id "$id" --data-dir "$DATA/$id" \
      --grpc-addr "127.0.0.1:$((7400 + i))" --http-addr "127.0.0.1:$((7700 + i))" \
      --raft-addr "127.0.0.1:$((7500 + i))" --gossip-addr "127.0.0.1:$((7600 + i))" \
      --bootstrap-expect 3 $node_backend_flags $(tls_flags "$id") ${PRISMD_EXTRA:-} --join "127.0.0.1:7600,127.0.0.1:7601,127.0.0.1:7602" \
      >>"$DATA/$id.log" 2>&1 </dev/null &
    pids+=($!)
  done
  export PRISM_ENDPOINTS=127.0.0.1:7400,127.0.0.1:7401,127.0.0.1:7402
  for _ in $(seq 1 100); do
    if curl -fsS "${curl_tls[@]}" $scheme://127.0.0.1:7700/readyz >/dev/null 2>&1 && \
       curl -fsS "${curl_tls[@]}" $scheme://127.0.0.1:7701/readyz >/dev/null 2>&1 && \
       curl -fsS "${curl_tls[@]}" $scheme://127.0.0.1:7702/readyz >/dev/null 2>&1; then
      break
    fi
    sleep 0.2
  done
  acl_setup
  "$BIN/prismctl" cluster status || true
  discovery="curl -s http://127.0.0.1:7701/v1/namespaces/user-profiles"
  if [ "$scheme" = https ]; then
    discovery="curl -s --cacert $PRISM_CACERT -H \"Authorization: Bearer \$PRISM_TOKEN\" https://127.0.0.1:7701/v1/namespaces/user-profiles"
  fi
  cat <<MSG

Prism cluster is up (pids ${pids[*]}; logs in $DATA/node{1,2,3}.log${tls_env:+; TLS, certificates in $TLS_DIR}). In another shell:

  export PRISM_ENDPOINTS=$PRISM_ENDPOINTS
$tls_env  ./bin/prismctl namespace apply -f examples/user-profiles.yaml -f examples/video-events.yaml
  ./bin/prismctl namespace apply -f examples/
  ./bin/prismctl namespace get user-profiles -o json
  ./bin/prismctl cluster status
  $discovery

$(backends_msg)

Ctrl-C stops the cluster and the backends; \`make clean\` removes their data.
MSG
else
  cat <<MSG

$(backends_msg)

Ctrl-C stops them; \`make clean\` removes their data.
MSG
fi

if [ -n "$saved_tty" ]; then
  # No signals from keys, and a read returns after 1 s without input (so
  # SIGTERM's trap runs promptly). dd, not read -n: bash's read turns
  # signal keys back on.
  stty -isig -icanon -echo min 0 time 10
  while running; do
    key=$(dd bs=1 count=1 2>/dev/null || true)
    if [ "$key" = $'\x03' ] || [ "$key" = $'\x1c' ]; then # Ctrl-C, Ctrl-\
      stop
    fi
  done
else
  # wait returns at once when a trapped signal arrives.
  while running; do wait -n "$broker_pid" "${pids[@]}" 2>/dev/null || true; done
fi
if ! kill -0 "$broker_pid" 2>/dev/null; then
  echo "prism-devbroker exited by itself; see $DATA/devbroker.log" >&2
else
  echo "every node exited by itself; see $DATA/node{1,2,3}.log" >&2
fi
exit 1
