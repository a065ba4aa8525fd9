#!/usr/bin/env bash
# bench/restart_snapshot.sh — restart and snapshot figures for a large
# keyspace (issue #4's closing note), measured in one run:
#   1. load:   redis-benchmark -t set -n N -r N -P 16 into one kvraft node
#              (raft-fsync always, no automatic snapshot);
#   2. restart from the log alone (kill -9, time until PING answers);
#   3. BGSAVE: its duration, latest_fork_usec, and the slowest GET of a
#              client issuing back-to-back GETs while it ran;
#   4. restart from the snapshot with the covered log still on disk (the
#              state a crash between the snapshot and its compaction leaves),
#              and from the snapshot after compaction;
#   5. redis-server started on that same snapshot file (an RDB), time until
#              PING answers.
# With --old "COMMAND" the restarts of 2 and 4 are also timed with that
# command (a binary and optional flags): a build from before covered
# segments were skipped, or "PATH --raft-repair yes", which on an undamaged
# directory differs only in reading every segment (repair disables the skip).
#
# Usage: bench/restart_snapshot.sh --server PATH [--old "COMMAND"] [--requests N]
set -euo pipefail
server="" old="" requests=1000000
while [ $# -gt 0 ]; do
  case "$1" in
    --server) server=$2; shift 2 ;;
    --old) old=$2; shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$server" ] || { echo "--server PATH is required" >&2; exit 2; }
read -ra oldcmd <<< "$old"

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/kvraft-restart-bench-XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
args=(--port "$port" --dir "$work/data" --snapshot-log-entries 1000000000 --snapshot-log-bytes 100gb)

now_ms() { date +%s%3N; }
# Starts "$@" in the background (pid in $pid) and sets $elapsed to the ms
# until PING answers PONG. Not in a $(...) subshell: $pid must survive.
start_and_time() {
  local t0
  t0=$(now_ms)
  "$@" > "$work/server.log" 2>&1 &
  pid=$!
  until [ "$(redis-cli -p "$port" ping 2>/dev/null)" = "PONG" ]; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.01
  done
  elapsed=$(($(now_ms) - t0))
}
kill9() {
  kill -9 "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
}
info() { redis-cli -p "$port" info "$1" | tr -d '\r' | sed -n "s/^$2://p"; }
restore_covered_log() { cp -a "$work/covered"/log-*.seg "$work/data/"; }

echo "# kvraft restart and snapshot figures ($(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg))"
mkdir -p "$work/data"
start_and_time "$server" "${args[@]}"
t0=$(now_ms)
redis-benchmark -p "$port" -t set -n "$requests" -r "$requests" -P 16 -q | tr '\r' '\n' | grep "per second" | tail -1
echo "load: $(($(now_ms) - t0)) ms; keys: $(redis-cli -p "$port" dbsize); dir: $(du -sh "$work/data" | cut -f1)"

kill9
start_and_time "$server" "${args[@]}"
echo "restart from the log alone (new): $elapsed ms"
if [ -n "$old" ]; then
  kill9
  start_and_time "${oldcmd[@]}" "${args[@]}"
  echo "restart from the log alone (old): $elapsed ms"
fi

# The log as it is right before the snapshot (no write comes in meanwhile;
# each restart above appended a leader's entry) is put back below: the
# state a crash between the snapshot and its compaction leaves.
mkdir -p "$work/covered"
cp -a "$work/data"/log-*.seg "$work/covered/"
# BGSAVE while a client issues GETs back to back.
python3 "$here/latency_probe.py" "$port" "$work/stop" > "$work/latency.txt" &
probe=$!
until [ -e "$work/stop.ready" ]; do sleep 0.05; done
sleep 1
t0=$(now_ms)
redis-cli -p "$port" bgsave > /dev/null
sleep 0.1
while [ "$(info persistence rdb_bgsave_in_progress)" != "0" ]; do sleep 0.05; done
t1=$(now_ms)
sleep 1
touch "$work/stop"
wait "$probe" || true
echo "BGSAVE: $((t1 - t0)) ms (status $(info persistence rdb_last_bgsave_status)); latest_fork_usec: $(info persistence latest_fork_usec)"
echo "client doing GETs from 1 s before BGSAVE to 1 s after: $(cat "$work/latency.txt")"
snap=$(ls "$work/data"/snapshot-*.rdb)
echo "snapshot: $(du -h "$snap" | cut -f1); log segments left after the idle compaction: $(ls "$work/data"/log-*.seg 2>/dev/null | wc -l)"

kill9
restore_covered_log
start_and_time "$server" "${args[@]}"
echo "restart from snapshot + uncompacted log (new): $elapsed ms ($(grep -o '[0-9]* covered segment(s) skipped' "$work/server.log"))"
if [ -n "$old" ]; then
  kill9
  restore_covered_log
  start_and_time "${oldcmd[@]}" "${args[@]}"
  echo "restart from snapshot + uncompacted log (old): $elapsed ms"
fi
kill9
start_and_time "$server" "${args[@]}" # its idle compaction drops the covered log
sleep 1
kill9
start_and_time "$server" "${args[@]}"
echo "restart from snapshot + compacted log (new): $elapsed ms"
kill9
mkdir -p "$work/redis"
cp "$snap" "$work/redis/dump.rdb"
start_and_time redis-server --port "$port" --dir "$work/redis" --dbfilename dump.rdb --save '' --appendonly no
echo "redis-server $(redis-server --version | grep -o 'v=[0-9.]*') loading the same RDB: $elapsed ms"
kill9
