#!/usr/bin/env bash
# A throwaway PostgreSQL server for `make run` and `make backends`: Debian's
# postgresql binaries (/usr/lib/postgresql/*/bin), a cluster in
# $PG_DIR (default ./data/postgres), listening on 127.0.0.1:$PG_PORT only
# (default 15432; no Unix socket), trust authentication (only loopback can
# reach it), and a database $PG_DB (default prism).
# Not for production data.
#
#   scripts/local-postgres.sh start    init the cluster if needed, start it, create the database (idempotent)
#   scripts/local-postgres.sh stop     stop it if it runs (idempotent)
#   scripts/local-postgres.sh crash    stop it as a crash would (pg_ctl -m immediate: WAL replay at the next start)
#   scripts/local-postgres.sh status   exit 0 if it runs
#   scripts/local-postgres.sh url      print the URL for prismd --postgres-url
#   scripts/local-postgres.sh psql ... run psql against the database
#   scripts/local-postgres.sh destroy  stop it and remove $PG_DIR
#
# The server refuses to run as root: as root, it runs as the `postgres`
# user (runuser) and $PG_DIR belongs to that user; otherwise it runs as you.
# Missing binaries are installed (apt-get) when root; otherwise it says how.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-./data}
PG_DIR=${PG_DIR:-$DATA/postgres}
PG_PORT=${PG_PORT:-15432}
PG_DB=${PG_DB:-prism}
PG_USER=postgres # the superuser initdb creates (-U)

PG_DIR=$(realpath -m "$PG_DIR")
CLUSTER=$PG_DIR/data
LOG=$PG_DIR/server.log
URL="postgres://$PG_USER@127.0.0.1:$PG_PORT/$PG_DB"

say() { echo "local-postgres: $*" >&2; }
die() { say "$*"; exit 1; }

# as_owner CMD...: run CMD as the user the server runs as.
if [ "$(id -u)" = 0 ]; then
  as_owner() { runuser -u postgres -- "$@"; }
else
  as_owner() { "$@"; }
fi

# find_bin: the newest installed server's bin directory, or nothing.
find_bin() { { ls -d /usr/lib/postgresql/*/bin 2>/dev/null || true; } | sort -V | tail -1; }

# install_server: as root, install Debian's postgresql without letting the
# package start its own cluster service (a policy-rc.d that says no, kept
# only for the install). Otherwise one line saying how, and fail.
install_server() {
  if [ "$(id -u)" != 0 ]; then
    die "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin; install them with: sudo apt-get install -y postgresql"
  fi
  say "installing Debian's postgresql (apt-get)..."
  local policy=/usr/sbin/policy-rc.d added=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; added=1
  fi
  local rc=0
  { DEBIAN_FRONTEND=noninteractive apt-get update -qq || true; } >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-client >&2 || rc=$?
  if [ -n "$added" ]; then rm -f "$policy"; fi
  [ $rc = 0 ] || die "apt-get install postgresql failed (exit $rc)"
}

# psql_cmd: psql from the server's bin directory if there, else from PATH.
psql_cmd() {
  local bin; bin=$(find_bin)
  if [ -n "$bin" ] && [ -x "$bin/psql" ]; then echo "$bin/psql"; else command -v psql || echo psql; fi
}

running() {
  local bin; bin=$(find_bin)
  [ -n "$bin" ] && [ -f "$CLUSTER/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$CLUSTER" status >/dev/null 2>&1
}

start() {
  local bin; bin=$(find_bin)
  if [ -z "$bin" ]; then install_server; bin=$(find_bin); fi
  [ -n "$bin" ] || die "no /usr/lib/postgresql/*/bin after installing postgresql"
  mkdir -p "$PG_DIR"
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$PG_DIR"
    runuser -u postgres -- test -x "$PG_DIR" ||
      die "the postgres user cannot reach $PG_DIR (a parent directory is not searchable by others); set PG_DIR to a directory it can reach, e.g. PG_DIR=/tmp/prism-postgres"
  fi
  chmod 700 "$PG_DIR"
  if [ ! -f "$CLUSTER/PG_VERSION" ]; then
    say "initdb $CLUSTER ($("$bin/postgres" --version))"
    as_owner "$bin/initdb" -D "$CLUSTER" -U "$PG_USER" -A trust -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 ||
      { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
  fi
  if running; then
    say "already running ($CLUSTER)"
  else
    # -w waits until it accepts connections. pg_ctl puts the server in a
    # session of its own, so a Ctrl-C at the terminal does not reach it.
    as_owner "$bin/pg_ctl" -D "$CLUSTER" -l "$LOG" -w -t 60 \
      -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=''" start >/dev/null ||
      { tail -n 20 "$LOG" >&2 || true; die "could not start the server on 127.0.0.1:$PG_PORT (log: $LOG)"; }
  fi
  local psql; psql=$(psql_cmd)
  local q=(-X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER")
  # A server left running on this port from another data directory would
  # answer too; make sure it is ours.
  local dir
  dir=$("$psql" "${q[@]}" -d postgres -tAc 'show data_directory') ||
    die "the server on 127.0.0.1:$PG_PORT does not answer (log: $LOG)"
  [ "$dir" = "$CLUSTER" ] || die "127.0.0.1:$PG_PORT is served from $dir, not $CLUSTER; stop that server or set PG_PORT"
  if [ -z "$("$psql" "${q[@]}" -d postgres -tAc "select 1 from pg_database where datname = '$PG_DB'")" ]; then
    "$psql" "${q[@]}" -d postgres -c "create database \"$PG_DB\"" >/dev/null
  fi
  say "running on 127.0.0.1:$PG_PORT (data $CLUSTER, log $LOG)"
}

stop() {
  if running; then
    as_owner "$(find_bin)/pg_ctl" -D "$CLUSTER" -m fast -w -t 60 stop >/dev/null
    say "stopped"
  fi
}

crash() {
  if running; then
    as_owner "$(find_bin)/pg_ctl" -D "$CLUSTER" -m immediate -w -t 60 stop >/dev/null
    say "crashed (immediate shutdown)"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  crash) crash ;;
  status) running ;;
  url) echo "$URL" ;;
  psql) shift; exec "$(psql_cmd)" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" "$PG_DB" "$@" ;;
  destroy) stop; rm -rf "$PG_DIR" ;;
  *) echo "usage: $0 start|stop|crash|status|url|psql [ARGS]|destroy   (env: DATA, PG_DIR, PG_PORT, PG_DB)" >&2; exit 2 ;;
esac
