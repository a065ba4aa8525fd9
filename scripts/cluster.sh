#!/usr/bin/env bash
# Starts a local kvraft cluster in the foreground: nodes on 127.0.0.1 with
# client ports 7001.., data under ./data/nN, logs to this terminal; Ctrl-C
# stops every node.
#
# Until replication lands (the cluster issue), this starts ONE node on 7001.
set -euo pipefail
server=${1:-build/kvraft-server}
[ -x "$server" ] || { echo "cluster: $server not built (run make)" >&2; exit 1; }
root=$(cd "$(dirname "$0")/.." && pwd)
data="$root/data"
mkdir -p "$data/n1"

pids=()
stop() {
  trap - INT TERM EXIT
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  echo "cluster: stopped"
}
trap stop INT TERM EXIT

echo "cluster: replication is not built yet; starting one node (client port 7001, data $data/n1)"
"$server" --port 7001 --dir "$data/n1" > >(sed -u 's/^/[n1] /') 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  if redis-cli -p 7001 ping >/dev/null 2>&1; then
    echo "cluster: node 1 is up: redis-cli -p 7001"
    break
  fi
  sleep 0.1
done
wait
