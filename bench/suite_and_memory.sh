#!/usr/bin/env bash
# bench/suite_and_memory.sh — two comparisons with a stock redis-server in
# the same run (the figures of issue #8):
#
#   bench/suite_and_memory.sh bench   redis-benchmark -q (the default test
#       list, -n $NREQ, default 10000) against redis-server, a single kvraft
#       node and the leader of a local 3-node kvraft cluster; then the
#       cluster's RAFT.DIGEST on every node (they must agree).
#   bench/suite_and_memory.sh mem     used_memory growth per element when one
#       key receives N (default 1M) list / hash / set / zset elements through
#       redis-cli --pipe in commands of B (default 1000) elements; for kvraft
#       also after SAVE, which drops the Raft log below the snapshot (all but
#       its last 1000 entries), since the in-memory log counts in used_memory.
#
# Ports are free loopback ports; everything runs under one temp dir, removed
# at exit. KVRAFT_SERVER overrides the binary (default build/kvraft-server).
set -uo pipefail
BIN=${KVRAFT_SERVER:-$(cd "$(dirname "$0")/.." && pwd)/build/kvraft-server}
W=$(mktemp -d /tmp/kvraft-suite-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
fp() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 300); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "port $1 down"; exit 1; }
start_kv() { mkdir -p "$2"; $BIN --port "$1" --dir "$2" "${@:3}" >"$2.log" 2>&1 & pids+=($!); }
start_redis() { mkdir -p "$2"; redis-server --port "$1" --bind 127.0.0.1 --dir "$2" --save '' --appendonly no >"$2.log" 2>&1 & pids+=($!); wait_port "$1"; }

mode=${1:-bench}
if [ "$mode" = bench ]; then
  rp=$(fp); start_redis $rp $W/redis
  kp=$(fp); start_kv $kp $W/kv; wait_port $kp
  c1=$(fp); c2=$(fp); c3=$(fp); r1=$(fp); r2=$(fp); r3=$(fp)
  peers="1@127.0.0.1:$r1:$c1,2@127.0.0.1:$r2:$c2,3@127.0.0.1:$r3:$c3"
  i=1; for c in $c1 $c2 $c3; do start_kv $c $W/n$i --node-id $i --raft-port $(eval echo \$r$i) --cluster-peers $peers --election-timeout 1500; i=$((i+1)); done
  for c in $c1 $c2 $c3; do wait_port $c; done
  sleep 4
  leader=""; for c in $c1 $c2 $c3; do [ "$(redis-cli -p $c raft.info | paste - - | awk '$1=="role"{print $2}')" = leader ] && leader=$c; done
  echo "cluster leader port $leader"
  for target in "redis-server:$rp" "kvraft-single:$kp" "kvraft-3node-leader:$leader"; do
    name=${target%%:*}; port=${target##*:}
    echo "=== $name"
    redis-benchmark -p $port -q -n ${NREQ:-10000} 2>&1 | tr "\r" "\n" | grep -E "requests per second|rror"
  done
  for c in $c1 $c2 $c3; do redis-cli -p $c raft.digest | tr '\n' ' '; echo; done
else
  # memory per element: one key holding N elements, loaded with redis-cli --pipe in batches
  N=${N:-1000000}; B=${B:-1000}
  gen() {  # type
    python3 - "$1" "$N" "$B" <<'PY'
import sys
t, n, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = sys.stdout
def cmd(args):
    out.write("*%d\r\n" % len(args))
    for a in args:
        out.write("$%d\r\n%s\r\n" % (len(a), a))
for s in range(0, n, b):
    if t == "list": args = ["RPUSH", "k"] + ["e:%d" % i for i in range(s, s + b)]
    elif t == "set": args = ["SADD", "k"] + ["e:%d" % i for i in range(s, s + b)]
    elif t == "hash":
        args = ["HSET", "k"]
        for i in range(s, s + b): args += ["f:%d" % i, "v:%d" % i]
    else:
        args = ["ZADD", "k"]
        for i in range(s, s + b): args += [str(i), "e:%d" % i]
    cmd(args)
PY
  }
  for t in list hash set zset; do gen $t > $W/$t.resp; done
  printf '| type | redis-server B/elem | kvraft B/elem | kvraft after SAVE B/elem |\n|---|---|---|---|\n'
  for t in list hash set zset; do
    rp=$(fp); start_redis $rp $W/r-$t
    kp=$(fp); start_kv $kp $W/k-$t; wait_port $kp
    um() { redis-cli -p $1 info memory | tr -d '\r' | awk -F: '$1=="used_memory"{print $2}'; }
    r0=$(um $rp); k0=$(um $kp)
    redis-cli -p $rp --pipe < $W/$t.resp >/dev/null; redis-cli -p $kp --pipe < $W/$t.resp >/dev/null
    r1=$(um $rp); k1=$(um $kp)
    redis-cli -p $kp save >/dev/null; sleep 1; k2=$(um $kp)
    printf '| %s | %.1f | %.1f | %.1f |\n' $t $(echo "($r1-$r0)/$N" | bc -l) $(echo "($k1-$k0)/$N" | bc -l) $(echo "($k2-$k0)/$N" | bc -l)
    echo "  ($t: encoding kvraft=$(redis-cli -p $kp object encoding k) redis=$(redis-cli -p $rp object encoding k))" >&2
    redis-cli -p $rp shutdown nosave >/dev/null 2>&1; redis-cli -p $kp shutdown nosave >/dev/null 2>&1
  done
fi
