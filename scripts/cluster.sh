#!/usr/bin/env bash
# Starts a local 3-node kvraft cluster in the foreground: client ports
# 7001-7003, raft ports 7101-7103, data under ./data/n1..n3, every node's log
# on this terminal prefixed with its name. Prints which node leads once one
# is elected. Ctrl-C stops all three cleanly.
#
# Usage: scripts/cluster.sh [path/to/kvraft-server] [extra server args...]
set -euo pipefail
server=${1:-build/kvraft-server}
shift || true
[ -x "$server" ] || { echo "cluster: $server not built (run make)" >&2; exit 1; }
root=$(cd "$(dirname "$0")/.." && pwd)
data="$root/data"
nodes=3
peers=""
for i in $(seq 1 $nodes); do
  peers+="${peers:+,}$i@127.0.0.1:$((7100 + i)):$((7000 + i))"
done
for i in $(seq 1 $nodes); do
  if redis-cli -p $((7000 + i)) ping >/dev/null 2>&1; then
    echo "cluster: port $((7000 + i)) is already in use; is a cluster running?" >&2
    exit 1
  fi
done

pids=()
stop() {
  trap - INT TERM EXIT
  echo "cluster: stopping"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  echo "cluster: stopped"
}
trap stop INT TERM EXIT

for i in $(seq 1 $nodes); do
  mkdir -p "$data/n$i"
  "$server" --port $((7000 + i)) --raft-port $((7100 + i)) --node-id "$i" \
    --cluster-peers "$peers" --dir "$data/n$i" "$@" > >(sed -u "s/^/[n$i] /") 2>&1 &
  pids+=($!)
done

leader=""
for _ in $(seq 1 100); do
  for i in $(seq 1 $nodes); do
    # A node not listening yet makes redis-cli fail; under `set -e -o
    # pipefail` that must not end the script (and stop the cluster).
    role=$(redis-cli -p $((7000 + i)) raft.info 2>/dev/null | awk 'prev=="role" {print; exit} {prev=$0}' || true)
    if [ "$role" = "leader" ]; then leader=$i; break 2; fi
  done
  sleep 0.1
done
if [ -n "$leader" ]; then
  echo "cluster: 3 nodes up; node $leader (port $((7000 + leader))) is the leader."
  echo "cluster: try  redis-cli -p 7002 set greeting hello   (any node works; Ctrl-C stops the cluster)"
else
  echo "cluster: no leader elected yet; the logs above say why"
fi
wait
