#!/usr/bin/env bash
# bench/single_node.sh — kvraft-server (single node) against a stock
# redis-server without persistence, measured in the same run.
#
# Starts both on free loopback ports, runs the same
#   redis-benchmark -t set,get,incr,mset -c 50 -n N -r 100000 -P {1,16}
# against each for several alternating rounds, and prints a table of medians
# (min-max) with kvraft/redis ratios; then loads 1M keys ("key:%012d" -> 3-byte
# value) into fresh instances and reports used_memory per key.
#
# Usage: bench/single_node.sh [--rounds R] [--requests N] [--keys K] [--server PATH]
# Defaults are bounded (about 3 minutes): R=3, N=200000, K=1000000.
set -euo pipefail
rounds=3 requests=200000 keys=1000000
root=$(cd "$(dirname "$0")/.." && pwd)
server="$root/build/kvraft-server"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --server) server=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$server" ] || { echo "build first: make build ($server missing)" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server (Debian package redis-server) is needed as the baseline" >&2; exit 1; }

work=$(mktemp -d /tmp/kvraft-bench-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null ||
    echo $((20000 + RANDOM % 20000))
}
wait_port() {
  for _ in $(seq 1 200); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "server on port $1 did not start" >&2; exit 1
}
start_kvraft() {  # port dir
  mkdir -p "$2"; "$server" --port "$1" --dir "$2" >"$2/log" 2>&1 & pids+=($!); wait_port "$1"
}
start_redis() {  # port dir
  mkdir -p "$2"; redis-server --port "$1" --dir "$2" --save '' --appendonly no >"$2/log" 2>&1 & pids+=($!); wait_port "$1"
}
stop_port() { redis-cli -p "$1" shutdown nosave >/dev/null 2>&1 || true; sleep 0.2; }

kp=$(free_port); rp=$(free_port)
while [ "$rp" = "$kp" ]; do rp=$(free_port); done
start_kvraft "$kp" "$work/kvraft"
start_redis "$rp" "$work/redis"

results="$work/results.csv"   # system,test,pipeline,round,rps
: >"$results"
tests=set,get,incr,mset
for round in $(seq 1 "$rounds"); do
  for p in 1 16; do
    for sys in kvraft redis; do
      port=$kp; [ $sys = redis ] && port=$rp
      redis-benchmark -p "$port" -t "$tests" -c 50 -n "$requests" -r 100000 -P "$p" --csv 2>/dev/null |
        awk -F'","' -v s=$sys -v p=$p -v r=$round 'NR>1 { gsub(/"/,"",$1); gsub(/"/,"",$2); print s","$1","p","r","$2 }' >>"$results"
    done
  done
done

echo
echo "redis-benchmark -t $tests -c 50 -n $requests -r 100000, $rounds alternating rounds; requests/s median (min-max)"
echo
printf '| %-8s | %-3s | %-28s | %-28s | %-6s |\n' test P kvraft redis-server ratio
printf '|----------|-----|------------------------------|------------------------------|--------|\n'
for t in SET GET INCR "MSET (10 keys)"; do
  for p in 1 16; do
    k=$(awk -F, -v t="$t" -v p=$p '$1=="kvraft" && $2==t && $3==p {print $5}' "$results" | sort -n)
    r=$(awk -F, -v t="$t" -v p=$p '$1=="redis" && $2==t && $3==p {print $5}' "$results" | sort -n)
    [ -z "$k" ] && continue
    med() { echo "$1" | awk '{a[NR]=$1} END {print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
    km=$(med "$k"); rm_=$(med "$r")
    kr="$(echo "$k" | head -1)-$(echo "$k" | tail -1)"; rr="$(echo "$r" | head -1)-$(echo "$r" | tail -1)"
    ratio=$(awk -v a="$km" -v b="$rm_" 'BEGIN { if (b > 0) printf "%.2f", a/b; else print "n/a" }')
    printf '| %-8s | %-3s | %-28s | %-28s | %-6s |\n' "${t%% *}" "$p" "$km ($kr)" "$rm_ ($rr)" "$ratio"
  done
done

# Memory per key: fresh instances, used_memory before and after loading K keys.
stop_port "$kp"; stop_port "$rp"
kp=$(free_port); rp=$(free_port)
start_kvraft "$kp" "$work/kvraft-mem"
start_redis "$rp" "$work/redis-mem"
awk -v n="$keys" 'BEGIN { for (i = 0; i < n; i++) { k = sprintf("key:%012d", i); printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$3\r\nxxx\r\n", length(k), k } }' >"$work/load.resp"
used() { redis-cli -p "$1" info memory | tr -d '\r' | awk -F: '$1=="used_memory" {print $2}'; }
echo
printf '| %-12s | %-14s | %-14s | %-9s |\n' system used_before used_after bytes/key
printf '|--------------|----------------|----------------|-----------|\n'
declare -A per_key
for sys in kvraft redis; do
  port=$kp; [ $sys = redis ] && port=$rp
  before=$(used "$port")
  redis-cli -p "$port" --pipe <"$work/load.resp" >/dev/null
  n=$(redis-cli -p "$port" dbsize)
  after=$(used "$port")
  per_key[$sys]=$(awk -v a="$after" -v b="$before" -v n="$n" 'BEGIN { printf "%.1f", (a-b)/n }')
  printf '| %-12s | %-14s | %-14s | %-9s |\n' "$sys ($n keys)" "$before" "$after" "${per_key[$sys]}"
done
awk -v a="${per_key[kvraft]}" -v b="${per_key[redis]}" 'BEGIN { printf "\nmemory per key, kvraft/redis: %.2f\n", a/b }'
