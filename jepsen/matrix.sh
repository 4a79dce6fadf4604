#!/usr/bin/env bash
# The full Jepsen matrix: every nemesis alone and combined, on 3 and 5 nodes,
# several seeds, every workload, 3 shard agents (a dedicated shard plus two
# shared ones, so placed namespaces can move), then one --secure run (TLS,
# ACLs, the acl workload, every fault at once) and one run with a backends
# host (Postgres and prism-devbroker) and the provision workload. Stops at
# the first violation (its report dir is printed).
# Usage: jepsen/matrix.sh [SEEDS] [TIME]   (defaults: 3 seeds, 60s per run)
# SEED_OFFSET=N shifts every seed (new schedules; default 0).
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${1:-3}
TIME=${2:-60s}
PRISMD=${PRISMD:-./bin/prismd}
PRISM_SHARD=${PRISM_SHARD:-./bin/prism-shard}
PRISM_DEVBROKER=${PRISM_DEVBROKER:-./bin/prism-devbroker}
go build -o /tmp/prism-jepsen-bin ./jepsen
runs=0
for nodes in 3 5; do
  for nem in partition kill pause leader-kill membership agent-kill clock garbage partition,kill,pause,leader-kill,membership,agent-kill,clock,garbage; do
    for s in $(seq 1 "$SEEDS"); do
      seed=$((${SEED_OFFSET:-0} + nodes * 1000 + s * 37 + ${#nem}))
      echo "=== nodes=$nodes nemesis=$nem seed=$seed"
      /tmp/prism-jepsen-bin --nodes "$nodes" --time "$TIME" --nemesis "$nem" \
        --workload register,set,watch,shards --shards 3 --seed "$seed" \
        --prismd "$PRISMD" --prism-shard "$PRISM_SHARD" | tail -n 1
      runs=$((runs + 1))
    done
  done
done
# Secured: TLS, ACLs and the acl workload under every fault at once.
seed=$((${SEED_OFFSET:-0} + 7001))
echo "=== nodes=3 secure nemesis=partition,kill,pause,leader-kill,membership,agent-kill,clock,garbage seed=$seed"
/tmp/prism-jepsen-bin --nodes 3 --time "$TIME" --secure --nemesis partition,kill,pause,leader-kill,membership,agent-kill,clock,garbage \
  --workload register,set,watch,shards,acl --shards 3 --seed "$seed" \
  --prismd "$PRISMD" --prism-shard "$PRISM_SHARD" | tail -n 1
runs=$((runs + 1))
# Provisioning on real backends: a backends host, the provision workload
# and every backend fault with the metadata faults (make jepsen-provision).
seed=$((${SEED_OFFSET:-0} + 9001))
echo "=== nodes=3 backends nemesis=backend-partition,partition,kill,leader-kill,postgres-kill seed=$seed"
/tmp/prism-jepsen-bin --nodes 3 --time "$TIME" --backends --workload provision,register \
  --nemesis backend-partition,partition,kill,leader-kill,postgres-kill --seed "$seed" \
  --prismd "$PRISMD" --prism-devbroker "$PRISM_DEVBROKER" | tail -n 1
runs=$((runs + 1))
echo "jepsen matrix: $runs runs, no violation"
