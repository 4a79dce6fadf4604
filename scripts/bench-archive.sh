#!/usr/bin/env bash
# Archive benchmark (issue 11): throwaway 3-node clusters (ports 18400..)
# and a throwaway Postgres (port 18532). Prints one JSON line each:
#   1. `bench put --clients 16 --value-size 512` on a cluster without the
#      archive, then on one with --archive-url, ROUNDS (default 5) times
#      alternating (fresh data dirs each time), and the archive lag during
#      each archived run (p50 and p99 of prism_archive_delay_seconds: per
#      transaction, how long after its oldest change committed it landed;
#      bucket upper bounds);
#   2. an outage: under the same load, Postgres crashes (pg_ctl -m
#      immediate) for OUTAGE (default 60s) and comes back; the time until the
#      lag is under 1 s again, and how (the epochs the archive opened);
#   3. a rebuild: KEYS (default 100000) namespaces loaded and archived, then
#      the time of `prismctl snapshot from-archive`.
# DURATION (default 15s) is the length of each put run. The last line of
# part 1 is the summary: medians, and their ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_PORT=18400
DIR=$(mktemp -d /tmp/prism-bench-archive.XXXX)
chmod 755 "$DIR" # the postgres user runs the server under it
D=${DURATION:-15s}
ROUNDS=${ROUNDS:-5}
OUTAGE=${OUTAGE:-60}
KEYS=${KEYS:-100000}
export DATA=$DIR PG_DIR=$DIR/postgres PG_PORT=18532 PG_DB=prism
./scripts/local-postgres.sh start >/dev/null 2>&1
ARCHIVE_URL=$(./scripts/local-postgres.sh url)${ARCHIVE_URL_PARAMS:+?$ARCHIVE_URL_PARAMS}
source scripts/lib.sh
cleanup() { stop_all; ./scripts/local-postgres.sh stop >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
ctl() { "$BIN/prismctl" --endpoints "$EPS" "$@"; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# fresh ARCHIVE: a new 3-node cluster on new data dirs, with the archive
# when ARCHIVE is 1 (every cluster has its own id, so they share the database).
fresh() {
  stop_all
  pid=()
  rm -rf "$DIR"/node*
  NODE_FLAGS="--provisioning=false"
  [ "$1" = 1 ] && NODE_FLAGS="$NODE_FLAGS --archive-url $ARCHIVE_URL"
  for i in 0 1 2; do start_node $i; done
  wait_ready
}

# lag KIND: the largest prism_archive_lag_KIND (seconds or revisions) over
# the nodes (followers say 0). curl and awk only: the sampler must cost the
# cluster next to nothing.
lag() {
  for i in 0 1 2; do
    curl -fsS --max-time 1 "http://127.0.0.1:$((BASE_PORT + 300 + i))/metrics" 2>/dev/null || true
  done | awk -v k="prism_archive_lag_$1" '$1==k && $2+0 > m {m = $2+0} END {print m+0}'
}

# scrape FILE: every node's archive delay histogram into FILE (two scrapes
# per run, so measuring costs the cluster nothing).
scrape() {
  for i in 0 1 2; do
    curl -fsS --max-time 2 "http://127.0.0.1:$((BASE_PORT + 300 + i))/metrics" 2>/dev/null | grep '^prism_archive_delay_seconds_bucket' || true
  done >"$1"
}

# delays BEFORE AFTER: p50/p99 of the archive delay (commit → archived, per
# transaction's oldest change) between two scrapes, from the histogram.
delays() {
  python3 - "$1" "$2" <<'PY'
import json, re, sys
def read(path):
    out = {}
    for line in open(path):
        m = re.match(r'prism_archive_delay_seconds_bucket\{le="([^"]+)"\} (\S+)', line)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0) + float(m.group(2))
    return out
a, b = read(sys.argv[1]), read(sys.argv[2])
les = sorted((float(k) if k != "+Inf" else float("inf"), b[k] - a.get(k, 0)) for k in b)
n = les[-1][1] if les else 0
def q(p):
    for le, c in les:
        if c >= p * n:
            return le
    return None
print(json.dumps({"archive_transactions": int(n), "delay_p50_s_at_most": q(0.5), "delay_p99_s_at_most": q(0.99)}))
PY
}

for r in $(seq "$ROUNDS"); do
  for a in 0 1; do
    fresh $a
    ctl bench put --clients 16 --duration 3s -o json >/dev/null # create the put names, warm up
    [ $a = 1 ] && scrape "$DIR/before.txt"
    out=$(ctl bench put --clients 16 --duration "$D" --value-size 512 -o json)
    if [ $a = 1 ]; then
      scrape "$DIR/after.txt"
      echo "{\"round\": $r, \"archive\": true, \"put\": $out, \"lag\": $(delays "$DIR/before.txt" "$DIR/after.txt")}" | tee -a "$DIR/rounds.json"
    else
      echo "{\"round\": $r, \"archive\": false, \"put\": $out}" | tee -a "$DIR/rounds.json"
    fi
  done
done
# The summary: medians over the rounds (this machine is shared and noisy:
# single runs vary by more than the archive costs), and the ratio.
python3 - "$DIR/rounds.json" <<'PY'
import json, statistics, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
off = [r["put"]["ops_per_sec"] for r in rs if not r["archive"]]
on = [r["put"]["ops_per_sec"] for r in rs if r["archive"]]
ratios = [b / a for a, b in zip(off, on)]
print(json.dumps({"put_median_without": round(statistics.median(off)), "put_median_with": round(statistics.median(on)),
                  "ratio_of_medians": round(statistics.median(on) / statistics.median(off), 3),
                  "ratio_per_round": [round(x, 3) for x in ratios],
                  "lag_p99_s_at_most_worst": max(r["lag"]["delay_p99_s_at_most"] or 0 for r in rs if r["archive"])}))
PY

# The outage, under the same load.
fresh 1
ctl bench put --clients 16 --duration 3s -o json >/dev/null
ctl --timeout 30m bench put --clients 16 --duration "$((OUTAGE + 60))s" --value-size 512 -o json >"$DIR/outage-put.json" &
load=$!
sleep 5
./scripts/local-postgres.sh crash >/dev/null 2>&1
sleep "$OUTAGE"
behind=$(lag revisions)
./scripts/local-postgres.sh start >/dev/null 2>&1
t=$(date +%s%N)
# Caught up: under a second behind, and fewer revisions behind than one
# second of the load.
until awk -v l="$(lag seconds)" -v r="$(lag revisions)" 'BEGIN {exit !(l < 1 && r < 3000)}'; do
  [ $(( ($(date +%s%N) - t) / 1000000000 )) -lt 120 ] || { echo '{"outage": "the archive did not catch up in 120 s"}'; break; }
  sleep 0.1
done
caught=$(ms $t)
st=$(ctl archive status -o json)
wait "$load"
OUTAGE=$OUTAGE python3 - "$caught" "$behind" "$st" "$DIR/outage-put.json" <<'PY'
import json, os, sys
st = json.loads(sys.argv[3])
print(json.dumps({"outage_s": int(os.environ["OUTAGE"]), "behind_revisions_at_restart": float(sys.argv[2]),
                  "caught_up_ms": int(sys.argv[1]), "epoch_after": st["epoch"], "put_during": json.load(open(sys.argv[4]))}))
PY

# The rebuild: KEYS namespaces, archived, then rebuilt from the archive.
ctl --timeout 60m bench put --clients 32 --keys "$KEYS" --sequential --duration 60m --value-size 512 -o json >/dev/null
until [ "$(lag revisions)" = 0 ]; do sleep 0.5; done
id=$(ctl archive status -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["cluster_id"])')
t=$(date +%s%N)
"$BIN/prismctl" --timeout 10m snapshot from-archive --archive-url "$ARCHIVE_URL" --cluster-id "$id" "$DIR/rebuilt.snap" -o json >"$DIR/rebuilt.json"
took=$(ms $t)
python3 - "$took" "$DIR/rebuilt.json" <<'PY'
import json, sys
info = json.load(open(sys.argv[2]))
print(json.dumps({"rebuild_ms": int(sys.argv[1]), "namespaces": info["counts"].get("namespaces"), "revision": info["revision"], "bytes": info["bytes"]}))
PY
