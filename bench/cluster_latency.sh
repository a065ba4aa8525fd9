#!/usr/bin/env bash
# bench/cluster_latency.sh — one open-loop SET latency probe against a fresh
# 3-node cluster (raft-fsync always, client on the leader), with what is
# needed to explain its tail: the probe's per-100 ms timeline
# (bench/latency.cc -w), each node's CPU time, and the nodes' snapshot and
# leadership log lines with their wall-clock times. bench/run's latency
# table gives the percentiles; this is the shorter run to find out why.
#
# Usage: bench/cluster_latency.sh [--server PATH] [--rate R] [--seconds S]
#                                 [--port-base P] [--keep] [-- server args...]
# Defaults: build-release/kvraft-server (its kvraft-latency beside it),
# R=50000, S=25, ports P+1..P+3 (clients) and P+101..P+103 (raft) with
# P=31000. --keep leaves the data, logs and timeline in the printed folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
server="$root/build-release/kvraft-server" rate=50000 seconds=25 base=31000 keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --server) server=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --port-base) base=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --) shift; break ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
probe="$(dirname "$server")/kvraft-latency"
for bin in "$server" "$probe"; do
  [ -x "$bin" ] || { echo "$bin is missing (cmake --build ... --target kvraft-server kvraft-latency)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/kvraft-cluster-latency-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$keep" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM

peers=""
for i in 1 2 3; do peers+="${peers:+,}$i@127.0.0.1:$((base + 100 + i)):$((base + i))"; done
for i in 1 2 3; do
  mkdir -p "$work/n$i"
  "$server" --port $((base + i)) --raft-port $((base + 100 + i)) --node-id "$i" \
    --cluster-peers "$peers" --dir "$work/n$i" "$@" >"$work/n$i.log" 2>&1 &
  pids+=($!)
done
leader=0
for _ in $(seq 1 200); do
  for i in 1 2 3; do
    role=$(redis-cli -p $((base + i)) raft.info 2>/dev/null | awk 'prev=="role" {print; exit} {prev=$0}')
    [ "$role" = leader ] && { leader=$i; break 2; }
  done
  sleep 0.05
done
[ "$leader" != 0 ] || { echo "no leader elected; see $work/n*.log" >&2; keep=1; exit 1; }

# utime + stime of each node, in clock ticks.
cpu_ticks() { for p in "${pids[@]}"; do awk '{printf "%d ", $14 + $15}' "/proc/$p/stat"; done; }
read -r -a before <<<"$(cpu_ticks)"
# The probe waits for every reply; a reply the cluster never sends would
# hang it, so it gets a deadline.
timeout -s KILL $((seconds + 60)) "$probe" -p $((base + leader)) -t set -r "$rate" -d "$seconds" \
  -c 50 -w "$work/timeline.txt" || echo "the probe failed or timed out (replies lost?)"
read -r -a after <<<"$(cpu_ticks)"
hz=$(getconf CLK_TCK)
printf 'leader: node %d; CPU seconds per node during the probe:' "$leader"
for i in 0 1 2; do printf ' n%d=%s' $((i + 1)) "$(awk -v a="${after[$i]}" -v b="${before[$i]}" -v hz="$hz" 'BEGIN { printf "%.2f", (a - b) / hz }')"; done
echo
start_ms=$(awk 'NR==1 {print $NF}' "$work/timeline.txt" 2>/dev/null || echo 0)
echo "node log lines (t = seconds since the probe started):"
for i in 1 2 3; do
  { grep -hE "Background snapshot started|Snapshot at|leader for term|no leader known" \
    "$work/n$i.log" || true; } |
    while IFS= read -r line; do
      ts=$(sed -E 's/^[0-9]+:[A-Z] ([0-9]+ [A-Za-z]+ [0-9]+ [0-9:.]+) .*/\1/' <<<"$line")
      ms=$(date -d "$ts" +%s%3N 2>/dev/null || echo 0)  # the server logs local time
      printf '  t=%7.3f n%d %s\n' "$(awk -v a="$ms" -v b="$start_ms" 'BEGIN { print (a - b) / 1000 }')" \
        "$i" "${line#* \* }"
    done
done | sort -t= -k2 -n
[ -f "$work/timeline.txt" ] || exit 1
echo "100 ms windows whose slowest reply took over 100 ms (t: p50/max ms):"
awk 'NR > 1 && $4 > 100 { printf "  %s: %d/%d", $1, $3, $4; if (++n % 6 == 0) print "" } END { print "" }' \
  "$work/timeline.txt"
