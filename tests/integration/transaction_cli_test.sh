#!/usr/bin/env bash
# redis-cli against a real kvraft-server for MULTI/EXEC/DISCARD/WATCH: the
# same command script piped through redis-cli gives byte-identical output
# from kvraft and from a stock redis-server (when one is installed), and
# the key results are checked on their own.
source "$(dirname "$0")/lib.sh"
start_server a
p=$PORT_a

script='MULTI
MULTI
SET a 1
NOSUCHCMD x
GET
WATCH x
SAVE
EXEC
EXEC
DISCARD
MULTI
SET a x
INCR a
PING
ECHO hi
SELECT 99
SELECT 1
SET b 2
EXEC
GET b
SELECT 0
DEL n
MULTI
INCR n
INCR n
EXEC
WATCH n
MULTI
INCR n
EXEC
WATCH n
UNWATCH
MULTI
EXEC
MULTI
SET d 1
UNWATCH
DISCARD
MULTI
UNWATCH
GET d
EXEC
EXISTS d'

kv_out=$(printf '%s\n' "$script" | redis-cli --no-raw -p "$p" 2>&1)
expect "MULTI/INCR/INCR/EXEC" "$(echo "$kv_out" | grep -A2 '^1) (integer) 1$' | head -2 | tr '\n' ' ')" \
  "1) (integer) 1 2) (integer) 2 "
expect "EXECABORT" "$(echo "$kv_out" | grep -c 'EXECABORT Transaction discarded because of previous errors.')" "1"
expect "runtime error element" "$(echo "$kv_out" | grep -c '2) (error) ERR value is not an integer or out of range')" "1"

if command -v redis-server >/dev/null 2>&1; then
  rport=$(free_port)
  redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$TEST_TMP" >"$TEST_TMP/redis.log" 2>&1 &
  TEST_PIDS+=($!)
  for _ in $(seq 1 200); do
    redis-cli -p "$rport" ping >/dev/null 2>&1 && break
    sleep 0.05
  done
  redis_out=$(printf '%s\n' "$script" | redis-cli --no-raw -p "$rport" 2>&1)
  expect "same output as redis-server" "$kv_out" "$redis_out"
fi

finish
