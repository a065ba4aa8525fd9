#!/usr/bin/env bash
# redis-cli and redis-benchmark against a real kvraft-server: what a user
# sees from the stock tools, including mass insertion with --pipe.
source "$(dirname "$0")/lib.sh"
start_server a
p=$PORT_a

expect "set" "$(redis-cli -p "$p" set greeting hello)" "OK"
expect "get" "$(redis-cli -p "$p" get greeting)" "hello"
expect "missing key" "$(redis-cli -p "$p" get nosuch)" ""
expect "unknown command" "$(redis-cli --no-raw -p "$p" nosuch a 2>&1)" \
  "(error) ERR unknown command 'nosuch', with args beginning with: 'a' "
expect "wrong arity" "$(redis-cli --no-raw -p "$p" get 2>&1)" \
  "(error) ERR wrong number of arguments for 'get' command"
expect "resp3 hello" "$(redis-cli --no-raw -3 -p "$p" hello 3 | head -2 | tr '\n' ' ')" "1# \"server\" => \"redis\" 2# \"version\" => \"7.0.0\" "
expect "incr" "$(redis-cli -p "$p" incr counter)" "1"
expect "ttl" "$(redis-cli -p "$p" set t v ex 100 >/dev/null; redis-cli -p "$p" ttl t)" "100"

# Mass insertion, the way the Redis docs teach it.
awk 'BEGIN { for (i = 0; i < 100000; i++) { k = "mass:" i; v = "v" i;
  printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v } }' >"$TEST_TMP/mass.resp"
out=$(redis-cli -p "$p" --pipe <"$TEST_TMP/mass.resp" | tail -1)
expect "--pipe summary" "$out" "errors: 0, replies: 100000"
expect "--pipe landed" "$(redis-cli -p "$p" get mass:99999)" "v99999"

# redis-benchmark completes with no errors (it asks CONFIG GET save/appendonly).
bench=$(redis-benchmark -p "$p" -t set,get,incr,mset -n 20000 -c 20 -P 16 -q 2>&1)
expect "benchmark ran every test" "$(echo "$bench" | grep -c 'requests per second')" "4"
expect "benchmark no errors" "$(echo "$bench" | grep -ci 'error')" "0"

finish
