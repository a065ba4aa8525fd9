#!/usr/bin/env bash
# redis-cli against a real kvraft-server for the ACL subcommands whose
# replies are deterministic (GENPASS and LOG carry random bytes, times and
# client ids; acl_commands_test.cc checks those field by field): the same
# script gives byte-identical output from kvraft and from a stock
# redis-server 7.0 (when one is installed), first without an aclfile, then
# with one (ACL LOAD's errors, ACL SAVE's file), the file's path masked.
source "$(dirname "$0")/lib.sh"

# Users both servers start from (the aclfile part).
mkdir -p "$TEST_TMP/files"
initial='user alice on >pw ~foo* &ch +get
user default on nopass ~* &* +@all'
printf '%s\n' "$initial" >"$TEST_TMP/files/kv.acl"
printf '%s\n' "$initial" >"$TEST_TMP/files/redis.acl"

start_server a
start_server b --aclfile "$TEST_TMP/files/kv.acl"

script='ACL SETUSER alice on >pw ~foo* &ch +get
ACL SETUSER bob %R~x* &c1 &c2 -@all +@read +config|get
ACL SETUSER carol on nopass allkeys allchannels +@all -keys
ACL LIST
ACL USERS
ACL USERS x
ACL GETUSER alice
ACL GETUSER bob
ACL GETUSER nosuch
ACL WHOAMI
ACL WHOAMI x
ACL CAT
ACL CAT nosuch
ACL DRYRUN alice get foo
ACL DRYRUN alice GET bar
ACL DRYRUN alice set foo 1
ACL DRYRUN alice mget foo bar
ACL DRYRUN alice config get x
ACL DRYRUN alice config nosuch
ACL DRYRUN alice config
ACL DRYRUN alice nosuch
ACL DRYRUN alice get
ACL DRYRUN alice
ACL DRYRUN bob get foo
ACL DRYRUN nobody get foo
ACL DRYRUN carol keys *
ACL DRYRUN alice auth x y
ACL DRYRUN alice hello
ACL DRYRUN alice quit
ACL DRYRUN alice ping
ACL DRYRUN alice acl whoami
ACL GENPASS 0
ACL GENPASS 4097
ACL GENPASS x
ACL GENPASS 1 2
ACL LOG x
ACL LOG 1 2
ACL LOG RESET
ACL LOG
ACL LOG -1
ACL SAVE x
ACL LOAD x
ACL HELP
ACL NOSUCH
ACL
ACL DELUSER default
ACL DELUSER bob nobody'

file_script='ACL LIST
ACL SETUSER zed on
ACL SAVE
ACL LOAD
ACL LIST'

bad_file='user alice on >pw ~foo* +get

  user bob off +nosuch
foo bar
user carol bogus ~x
user alice on
user dan #abc
user a	b on
user c  on'

run_cli() {  # PORT SCRIPT
  printf '%s\n' "$2" | redis-cli --no-raw -p "$1" 2>&1
}

# The file part: ACL SAVE writes, ACL LOAD reads back, then a bad file.
file_run() {  # PORT FILE
  run_cli "$1" "$file_script"
  echo "--- saved file"
  cat "$2"
  printf '%s\n' "$bad_file" >"$2"
  run_cli "$1" 'ACL LOAD
ACL LIST' | sed "s#$2#ACLFILE#g"
  rm -f "$2"
  run_cli "$1" 'ACL LOAD' | sed "s#$2#ACLFILE#g"
}

kv_out=$(run_cli "$PORT_a" "$script")
kv_file_out=$(file_run "$PORT_b" "$TEST_TMP/files/kv.acl")

expect "DRYRUN key" "$(echo "$kv_out" | grep -c "This user has no permissions to access the 'bar' key")" "1"
expect "NOACLFILE" "$(echo "$kv_out" | grep -c 'not configured to use an ACL file')" "0"
expect "LOAD line errors" \
  "$(echo "$kv_file_out" | grep -c 'ACLFILE:3: Error in applying operation .+nosuch.')" "1"
expect "SAVE wrote zed" "$(echo "$kv_file_out" | grep -c '^user zed on resetchannels -@all$')" "1"

if command -v redis-server >/dev/null 2>&1; then
  start_redis() {  # NAME [args...]: sets RPORT_<NAME>
    local name=$1 port
    shift
    port=$(free_port)
    mkdir -p "$TEST_TMP/redis-$name"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
      --dir "$TEST_TMP/redis-$name" "$@" >"$TEST_TMP/redis-$name.log" 2>&1 &
    TEST_PIDS+=($!)
    for _ in $(seq 1 200); do
      redis-cli -p "$port" ping >/dev/null 2>&1 && break
      sleep 0.05
    done
    printf -v "RPORT_$name" '%s' "$port"
  }
  start_redis a
  start_redis b --aclfile "$TEST_TMP/files/redis.acl"
  redis_out=$(run_cli "$RPORT_a" "$script")
  redis_file_out=$(file_run "$RPORT_b" "$TEST_TMP/files/redis.acl")
  expect "same output as redis-server" "$kv_out" "$redis_out"
  expect "same aclfile output as redis-server" "$kv_file_out" "$redis_file_out"
fi

finish
