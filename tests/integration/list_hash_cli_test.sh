#!/usr/bin/env bash
# redis-cli and redis-benchmark against a real kvraft-server for lists and
# hashes: the list/hash tests of redis-benchmark complete with no errors, and
# the data they leave answers like Redis.
source "$(dirname "$0")/lib.sh"
start_server a
p=$PORT_a

expect "rpush" "$(redis-cli -p "$p" rpush l a b c)" "3"
expect "lrange" "$(redis-cli -p "$p" lrange l 0 -1 | tr '\n' ' ')" "a b c "
expect "hset" "$(redis-cli -p "$p" hset h f v)" "1"
expect "hgetall" "$(redis-cli -p "$p" hgetall h | tr '\n' ' ')" "f v "
expect "object encoding" "$(redis-cli -p "$p" object encoding l)" "listpack"
expect "blocking pops are not served" "$(redis-cli --no-raw -p "$p" blpop l 0 2>&1)" \
  "(error) ERR unknown command 'blpop', with args beginning with: 'l' '0' "

bench=$(redis-benchmark -p "$p" -t lpush,rpush,lpop,rpop,hset,lrange -q -n 20000 2>&1)
# lrange adds its own LPUSH fill and lrange_100/300/500/600: 10 lines in all.
expect "benchmark ran every test" "$(echo "$bench" | grep -c 'requests per second')" "10"
expect "benchmark no errors" "$(echo "$bench" | grep -ci 'error')" "0"
expect "benchmark list is a quicklist" "$(redis-cli -p "$p" object encoding mylist)" "quicklist"
expect "benchmark hash" "$(redis-cli -p "$p" type myhash)" "hash"

finish
