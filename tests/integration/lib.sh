# tests/integration/lib.sh — shared by the shell integration tests: start a
# kvraft-server on a free loopback port with a private directory, and always
# clean up (processes and temp dirs) on exit, whatever happened.
set -euo pipefail

: "${KVRAFT_SERVER_BIN:?KVRAFT_SERVER_BIN must point at kvraft-server}"
TEST_TMP=$(mktemp -d /tmp/kvraft-shtest-XXXXXX)
TEST_PIDS=()
failures=0
passes=0

cleanup() {
  for p in "${TEST_PIDS[@]}"; do
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$TEST_TMP"
}
trap cleanup EXIT INT TERM

free_port() {
  local p
  for _ in $(seq 1 100); do
    # Below the kernel's ephemeral range (32768-), which outgoing connections
    # use, and so is the default raft port 10000 above it.
    p=$((10000 + RANDOM % 12000))
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo "$p"; return 0; }
  done
  echo "no free port found" >&2
  return 1
}

# unique_port: like free_port, for tests that take many ports before any is
# listened on: below the ephemeral range (32768+), and never the same one
# twice in a test (remembered in a file, as callers run it in $(...)).
unique_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    grep -qx "$p" "$TEST_TMP/ports" 2>/dev/null && continue
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
    echo "$p" >>"$TEST_TMP/ports"
    echo "$p"
    return 0
  done
  echo "no free port found" >&2
  return 1
}

# start_server NAME [args...]: sets PORT_<NAME>.
start_server() {
  local name=$1; shift
  local port dir
  port=$(free_port)
  dir="$TEST_TMP/$name"
  mkdir -p "$dir"
  "$KVRAFT_SERVER_BIN" --port "$port" --dir "$dir" "$@" >"$dir/server.log" 2>&1 &
  TEST_PIDS+=($!)
  for _ in $(seq 1 200); do
    if redis-cli -p "$port" ping >/dev/null 2>&1; then
      printf -v "PORT_$name" '%s' "$port"
      return 0
    fi
    sleep 0.05
  done
  echo "server $name did not start; log:" >&2
  cat "$dir/server.log" >&2
  exit 1
}

# expect NAME ACTUAL EXPECTED
expect() {
  if [ "$2" == "$3" ]; then
    passes=$((passes + 1))
  else
    failures=$((failures + 1))
    printf 'FAIL %s\n  expected: %q\n  actual:   %q\n' "$1" "$3" "$2"
  fi
}

finish() {
  echo "$passes passed, $failures failed"
  [ "$failures" -eq 0 ]
}
