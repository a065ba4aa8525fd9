#!/usr/bin/env bash
# TLS on the client port (tls-port) and on the Raft peer port
# (tls-replication), driven with the stock redis-cli / redis-benchmark --tls.
# A throwaway CA, a second unrelated CA and their certificates are generated
# into the test's temp dir at run time (no key is ever committed).
source "$(dirname "$0")/lib.sh"

# This test takes many ports before any is listened on, and its many
# short connections use ephemeral ports: every port it takes is lib.sh's
# unique_port (below the ephemeral range, never handed out twice).
free_port() { unique_port; }

PKI="$TEST_TMP/pki"
mkdir -p "$PKI"
# new_ca NAME / new_cert NAME CA: RSA keys, valid for a day.
new_ca() {
  openssl req -x509 -new -nodes -newkey rsa:2048 -days 1 -subj "/CN=$1" \
    -keyout "$PKI/$1.key" -out "$PKI/$1.crt" 2>/dev/null
}
new_cert() {
  openssl req -new -nodes -newkey rsa:2048 -subj "/CN=$1" \
    -keyout "$PKI/$1.key" -out "$PKI/$1.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$2.crt" -CAkey "$PKI/$2.key" \
    -CAcreateserial -days 1 -out "$PKI/$1.crt" 2>/dev/null
}
new_ca ca
new_ca otherca
new_cert server ca
new_cert client ca
new_cert rogue otherca

SERVER_TLS=(--tls-cert-file "$PKI/server.crt" --tls-key-file "$PKI/server.key"
  --tls-ca-cert-file "$PKI/ca.crt")
CLI_TLS=(--tls --cacert "$PKI/ca.crt" --cert "$PKI/client.crt" --key "$PKI/client.key")

# tls_cli PORT args...: redis-cli over TLS with the good client certificate.
tls_cli() {
  local port=$1; shift
  timeout 10 redis-cli "${CLI_TLS[@]}" -p "$port" "$@" 2>&1
}

# raw_reply PORT FILE: sends FILE's bytes to PORT over plain TCP and prints
# what comes back until the server closes (or 5 s pass: "TIMEOUT").
raw_reply() {
  local out rc=0
  exec 3<>"/dev/tcp/127.0.0.1/$1"
  cat "$2" >&3 || true
  out=$(timeout 5 cat <&3 | od -An -c | tr -s ' \n' ' ') || rc=$?
  exec 3<&- 3>&-
  if [ "$rc" -eq 124 ]; then echo TIMEOUT; else echo "$out"; fi
}

# ------------------------------------------------------------ one node
T=$(free_port)
start_server a --tls-port "$T" "${SERVER_TLS[@]}" --loglevel verbose
P=$PORT_a

expect "tls ping" "$(tls_cli "$T" ping)" "PONG"
expect "tls set" "$(tls_cli "$T" set greeting hello)" "OK"
expect "tls get" "$(tls_cli "$T" get greeting)" "hello"
expect "plain port still serves" "$(redis-cli -p "$P" get greeting)" "hello"

# A 2 MB value crosses many TLS records in both directions.
head -c 1500000 /dev/urandom | base64 -w0 >"$TEST_TMP/big"
expect "tls big set" "$(tls_cli "$T" -x set big <"$TEST_TMP/big")" "OK"
expect "tls big get" "$(tls_cli "$T" get big | md5sum)" "$( (cat "$TEST_TMP/big"; echo) | md5sum)"

# Pipelined: redis-benchmark over TLS, 16 requests per round trip.
bench=$(timeout 120 redis-benchmark "${CLI_TLS[@]}" -p "$T" -t set,get -n 20000 -c 10 -P 16 -q 2>&1)
expect "tls benchmark ran" "$(echo "$bench" | grep -c 'requests per second')" "2"
expect "tls benchmark no errors" "$(echo "$bench" | grep -ci 'error')" "0"

# tls-auth-clients yes (the default): no certificate, or one from another CA, is refused.
out=$(timeout 10 redis-cli --tls --cacert "$PKI/ca.crt" -p "$T" ping 2>&1 || true)
expect "no client cert refused" "$(echo "$out" | grep -c PONG)" "0"
out=$(timeout 10 redis-cli --tls --cacert "$PKI/ca.crt" --cert "$PKI/rogue.crt" \
  --key "$PKI/rogue.key" -p "$T" ping 2>&1 || true)
expect "client cert of another CA refused" "$(echo "$out" | grep -c PONG)" "0"
# The client also checks the server: a client trusting only the other CA gives up.
out=$(timeout 10 redis-cli --tls --cacert "$PKI/otherca.crt" --cert "$PKI/client.crt" \
  --key "$PKI/client.key" -p "$T" ping 2>&1 || true)
expect "server cert checked by client" "$(echo "$out" | grep -c PONG)" "0"

# Plain RESP and garbage on the TLS port: the connection is closed at once,
# nothing is answered in clear, and the server keeps serving.
printf '*1\r\n$4\r\nPING\r\n' >"$TEST_TMP/plain.resp"
out=$(raw_reply "$T" "$TEST_TMP/plain.resp")
expect "plain text on tls port closed" "$(echo "$out" | grep -c -e PONG -e TIMEOUT)" "0"
head -c 8192 /dev/urandom >"$TEST_TMP/garbage"
out=$(raw_reply "$T" "$TEST_TMP/garbage")
expect "garbage on tls port closed" "$(echo "$out" | grep -c TIMEOUT)" "0"
# A truncated ClientHello followed by a hang-up.
printf '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' >"$TEST_TMP/hello"
raw_reply "$T" "$TEST_TMP/hello" >/dev/null
expect "tls serves after bad clients" "$(tls_cli "$T" get greeting)" "hello"
expect "plain serves after bad clients" "$(redis-cli -p "$P" ping)" "PONG"
# One line per refused connection (no cert, other CA, untrusted server, plain, garbage).
logged=$(grep -c 'Closing TLS client.*TLS handshake failed' "$TEST_TMP/a/server.log" || true)
expect "failures logged once each" "$([ "$logged" -ge 5 ] && [ "$logged" -le 6 ] && echo yes)" "yes"

# tls-auth-clients no / optional.
T2=$(free_port)
start_server b --tls-port "$T2" "${SERVER_TLS[@]}" --tls-auth-clients no
expect "auth-clients no: no cert ok" \
  "$(timeout 10 redis-cli --tls --cacert "$PKI/ca.crt" -p "$T2" ping 2>&1)" "PONG"
T3=$(free_port)
start_server c --tls-port "$T3" "${SERVER_TLS[@]}" --tls-auth-clients optional
expect "auth-clients optional: no cert ok" \
  "$(timeout 10 redis-cli --tls --cacert "$PKI/ca.crt" -p "$T3" ping 2>&1)" "PONG"
expect "auth-clients optional: good cert ok" "$(tls_cli "$T3" ping)" "PONG"
out=$(timeout 10 redis-cli --tls --cacert "$PKI/ca.crt" --cert "$PKI/rogue.crt" \
  --key "$PKI/rogue.key" -p "$T3" ping 2>&1 || true)
expect "auth-clients optional: bad cert refused" "$(echo "$out" | grep -c PONG)" "0"

# Over maxclients, a TLS connection is closed without a clear-text error.
T5=$(free_port)
start_server m --tls-port "$T5" "${SERVER_TLS[@]}" --maxclients 1
exec 4<>"/dev/tcp/127.0.0.1/$PORT_m"
: >"$TEST_TMP/empty"
expect "maxclients on tls port: closed, nothing in clear" "$(raw_reply "$T5" "$TEST_TMP/empty")" ""
exec 4<&- 4>&-

# port 0: TLS only, nothing listens in clear.
T4=$(free_port)
mkdir -p "$TEST_TMP/d"
"$KVRAFT_SERVER_BIN" --port 0 --raft-port "$(free_port)" --tls-port "$T4" "${SERVER_TLS[@]}" \
  --dir "$TEST_TMP/d" >"$TEST_TMP/d/server.log" 2>&1 &
TEST_PIDS+=($!)
for _ in $(seq 1 100); do
  [ "$(tls_cli "$T4" ping)" == "PONG" ] && break
  sleep 0.1
done
expect "tls-only node serves" "$(tls_cli "$T4" ping)" "PONG"
expect "tls-only node has no plain listener" "$(grep -c 'Client port 0' "$TEST_TMP/d/server.log")" "1"

# Configuration errors stop the server at startup with a clear message.
mkdir -p "$TEST_TMP/e"
out=$("$KVRAFT_SERVER_BIN" --port "$(free_port)" --tls-port "$(free_port)" --dir "$TEST_TMP/e" \
  --tls-cert-file "$PKI/server.crt" --tls-key-file "$PKI/client.key" \
  --tls-ca-cert-file "$PKI/ca.crt" 2>&1 || true)
expect "mismatched key refused" "$(echo "$out" | grep -c "cannot load private key.*key values mismatch")" "1"
out=$("$KVRAFT_SERVER_BIN" --port "$(free_port)" --tls-port "$(free_port)" --dir "$TEST_TMP/e" \
  --tls-cert-file "$PKI/server.crt" --tls-key-file "$PKI/server.key" 2>&1 || true)
expect "missing CA refused" "$(echo "$out" | grep -c 'needs tls-ca-cert-file')" "1"
out=$("$KVRAFT_SERVER_BIN" --port "$(free_port)" --tls-port "$(free_port)" --dir "$TEST_TMP/e" \
  "${SERVER_TLS[@]}" --tls-protocols "TLSv9" 2>&1 || true)
expect "bad protocol refused" "$(echo "$out" | grep -c "unknown protocol 'TLSv9'")" "1"
out=$("$KVRAFT_SERVER_BIN" --port 0 --dir "$TEST_TMP/e" 2>&1 || true)
expect "no listener refused" "$(echo "$out" | grep -c 'not listen anywhere')" "1"

# ------------------------------------------------------------ 3-node cluster
# Every node presents server.crt on both ends of its peer connections and
# requires the other end's certificate to chain to ca.crt.
declare -a CP RP
for i in 1 2 3; do
  CP[$i]=$(free_port)
  RP[$i]=$(free_port)
done
PEERS="1@127.0.0.1:${RP[1]}:${CP[1]},2@127.0.0.1:${RP[2]}:${CP[2]},3@127.0.0.1:${RP[3]}:${CP[3]}"
declare -a NODE_PID
# start_node I [args...]: (re)starts cluster node I with tls-replication.
start_node() {
  local i=$1; shift
  mkdir -p "$TEST_TMP/n$i"
  "$KVRAFT_SERVER_BIN" --port "${CP[$i]}" --dir "$TEST_TMP/n$i" --node-id "$i" \
    --cluster-peers "$PEERS" --tls-replication yes --loglevel verbose "$@" \
    >>"$TEST_TMP/n$i/server.log" 2>&1 &
  NODE_PID[$i]=$!
  TEST_PIDS+=($!)
}
# leader_port NODE...: prints the client port of the first NODE that says it leads.
leader_port() {
  for i in "$@"; do
    if redis-cli -p "${CP[$i]}" info replication 2>/dev/null | grep -q 'role:master'; then
      echo "${CP[$i]}"
      return 0
    fi
  done
  return 1
}
wait_leader() {
  for _ in $(seq 1 150); do
    leader_port "$@" && return 0
    sleep 0.1
  done
  echo none
}
# write_keys FROM TO NODE...: SET key:i on whichever of NODEs leads, retrying
# through a leader change, so every key is committed exactly as asked.
write_keys() {
  local from=$1 to=$2 k l; shift 2
  for k in $(seq "$from" "$to"); do
    for _ in $(seq 1 100); do
      l=$(wait_leader "$@")
      [ "$(redis-cli -p "$l" set "key:$k" "value:$k" 2>/dev/null)" == "OK" ] && break
      sleep 0.1
    done
  done
}
digest() { redis-cli -p "$1" raft.digest 2>/dev/null | tr '\n' ' '; }
# wait_equal_digest PORT...: polls until every node reports the same digest.
wait_equal_digest() {
  local first d same
  for _ in $(seq 1 100); do
    first=$(digest "$1")
    same=1
    for p in "$@"; do
      d=$(digest "$p")
      [ "$d" == "$first" ] || same=0
    done
    [ "$same" == 1 ] && { echo equal; return 0; }
    sleep 0.1
  done
  for p in "$@"; do echo "$p: $(digest "$p")" >&2; done
  echo different
}

for i in 1 2 3; do start_node "$i" "${SERVER_TLS[@]}"; done
L=$(wait_leader 1 2 3)
expect "tls cluster elects a leader" "$([ "$L" != none ] && echo yes)" "yes"
write_keys 1 50 1 2 3
expect "tls cluster write" "$(redis-cli -p "$(wait_leader 1 2 3)" incr counter)" "1"
expect "tls cluster replicates" "$(wait_equal_digest "${CP[1]}" "${CP[2]}" "${CP[3]}")" "equal"
expect "peer links are TLS" "$(grep -c 'TLS with mutual authentication' "$TEST_TMP/n1/server.log")" "1"

# Node 3 comes back with a certificate from another CA: the others refuse
# it, it falls behind while nodes 1 and 2 keep committing.
kill -9 "${NODE_PID[3]}"
wait "${NODE_PID[3]}" 2>/dev/null || true
start_node 3 --tls-cert-file "$PKI/rogue.crt" --tls-key-file "$PKI/rogue.key" \
  --tls-ca-cert-file "$PKI/ca.crt"
for _ in $(seq 1 50); do redis-cli -p "${CP[3]}" ping >/dev/null 2>&1 && break; sleep 0.1; done
write_keys 51 100 1 2
expect "good nodes replicate" "$(wait_equal_digest "${CP[1]}" "${CP[2]}")" "equal"
sleep 1
keys1=$(redis-cli -p "${CP[1]}" raft.digest | sed -n 2p)
keys3=$(redis-cli -p "${CP[3]}" raft.digest | sed -n 2p)
expect "good nodes have every key" "$keys1" "101"
expect "rogue node gets nothing new" "$([ "${keys3:-0}" -le 51 ] && echo yes)" "yes"
refused=$(cat "$TEST_TMP/n1/server.log" "$TEST_TMP/n2/server.log" |
  grep -c 'TLS: TLS handshake failed.*certificate verify failed' || true)
expect "rogue peer refused and logged" "$([ "$refused" -ge 1 ] && echo yes)" "yes"

finish
