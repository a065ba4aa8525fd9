#!/usr/bin/env bash
# A follower's leader proxy and -MOVED in clusters with tls-port and
# tls-replication (src/leader_proxy.h, Replication::follower_route):
#  - a TLS-only cluster (plain client port 0 everywhere; cluster-peers names
#    each member's tls-port) proxies writes from a follower to the leader's
#    tls-port, as the client's ACL user;
#  - in follower-mode redirect, -MOVED (and CLUSTER SLOTS) name the
#    leader's tls-port to a client on TLS and its plain port to a plain one.
# A throwaway CA and certificates are generated into the temp dir at run time.
source "$(dirname "$0")/lib.sh"

PKI="$TEST_TMP/pki"
mkdir -p "$PKI"
openssl req -x509 -new -nodes -newkey rsa:2048 -days 1 -subj "/CN=ca" \
  -keyout "$PKI/ca.key" -out "$PKI/ca.crt" 2>/dev/null
for name in server client; do
  openssl req -new -nodes -newkey rsa:2048 -subj "/CN=$name" \
    -keyout "$PKI/$name.key" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
    -CAcreateserial -days 1 -out "$PKI/$name.crt" 2>/dev/null
done
SERVER_TLS=(--tls-cert-file "$PKI/server.crt" --tls-key-file "$PKI/server.key"
  --tls-ca-cert-file "$PKI/ca.crt" --tls-replication yes --cluster-secret tls-proxy-secret)
CLI_TLS=(--tls --cacert "$PKI/ca.crt" --cert "$PKI/client.crt" --key "$PKI/client.key")

# tls_cli PORT args...: redis-cli over TLS with the client certificate.
tls_cli() {
  local port=$1; shift
  timeout 10 redis-cli "${CLI_TLS[@]}" -p "$port" "$@" 2>&1
}

declare -a CP RP TP
# start_cluster PREFIX PLAIN(yes|no) [args...]: three nodes with tls-port;
# with PLAIN=no the plain client port is 0 and cluster-peers says so.
start_cluster() {
  local prefix=$1 plain=$2 peers="" i client; shift 2
  for i in 1 2 3; do
    CP[$i]=0
    [ "$plain" == yes ] && CP[$i]=$(unique_port)
    RP[$i]=$(unique_port)
    TP[$i]=$(unique_port)
    peers+="${peers:+,}$i@127.0.0.1:${RP[$i]}:${CP[$i]}:${TP[$i]}"
  done
  for i in 1 2 3; do
    mkdir -p "$TEST_TMP/$prefix$i"
    "$KVRAFT_SERVER_BIN" --port "${CP[$i]}" --tls-port "${TP[$i]}" --dir "$TEST_TMP/$prefix$i" \
      --node-id "$i" --cluster-peers "$peers" "${SERVER_TLS[@]}" "$@" \
      >>"$TEST_TMP/$prefix$i/server.log" 2>&1 &
    TEST_PIDS+=($!)
  done
}
# wait_leader: the node number (1..3) that says it leads, asked over TLS.
wait_leader() {
  local i
  for _ in $(seq 1 200); do
    for i in 1 2 3; do
      if tls_cli "${TP[$i]}" raft.info 2>/dev/null | grep -qx leader; then
        echo "$i"
        return 0
      fi
    done
    sleep 0.1
  done
  echo none
}

# ------------------------------------------------- TLS only, proxy mode
start_cluster t no
L=$(wait_leader)
expect "tls-only cluster elects a leader" "$([ "$L" != none ] && echo yes)" "yes"
if [ "$L" == none ]; then
  tail -5 "$TEST_TMP"/t*/server.log
  finish
  exit 1
fi
F=$(((L % 3) + 1))
expect "admin user" "$(tls_cli "${TP[$L]}" acl setuser alice on '>pw' '~foo*' +set +strlen)" "OK"
# The follower's write reaches the leader over TLS (nothing listens in clear).
out=""
for _ in $(seq 1 50); do
  out=$(tls_cli "${TP[$F]}" set greeting hello)
  [ "$out" == OK ] && break
  sleep 0.2
done
expect "follower proxies a write over tls" "$out" "OK"
expect "the leader has it" "$(tls_cli "${TP[$L]}" get greeting)" "hello"
expect "follower proxies a read over tls" "$(tls_cli "${TP[$F]}" get greeting)" "hello"
# As the client's own user: allowed and refused as on the leader.
expect "alice allowed via follower" \
  "$(tls_cli "${TP[$F]}" --user alice --pass pw --no-auth-warning set foo1 v)" "OK"
expect "alice refused via follower" \
  "$(tls_cli "${TP[$F]}" --user alice --pass pw --no-auth-warning set bar v)" \
  "NOPERM No permissions to access a key"
expect "alice's write on the leader" "$(tls_cli "${TP[$L]}" get foo1)" "v"
expect "a RESP3 client's write via follower" \
  "$(tls_cli "${TP[$F]}" -3 --user alice --pass pw --no-auth-warning set foo2 w)" "OK"
expect "RESP3 reply relayed" \
  "$(tls_cli "${TP[$F]}" -3 --user alice --pass pw --no-auth-warning strlen foo2)" "1"
proxied=$(grep -c 'Leader proxy' "$TEST_TMP/t$F/server.log" || true)
expect "no proxy errors logged" "$proxied" "0"

# ------------------------------------------------- TLS + plain, redirect mode
start_cluster r yes --follower-mode redirect
L=$(wait_leader)
expect "redirect cluster elects a leader" "$([ "$L" != none ] && echo yes)" "yes"
[ "$L" == none ] && { finish; exit 1; }
F=$(((L % 3) + 1))
# 12182 is the slot of "foo" (CRC16 mod 16384).
out=""
for _ in $(seq 1 50); do
  out=$(tls_cli "${TP[$F]}" set foo bar)
  [[ "$out" == MOVED* ]] && break
  sleep 0.2
done
expect "MOVED over tls names the tls port" "$out" "MOVED 12182 127.0.0.1:${TP[$L]}"
expect "MOVED in clear names the plain port" "$(redis-cli -p "${CP[$F]}" set foo bar 2>&1)" \
  "MOVED 12182 127.0.0.1:${CP[$L]}"
# CLUSTER SLOTS names the leader's port of the client's kind first.
expect "CLUSTER SLOTS over tls" "$(tls_cli "${TP[$F]}" cluster slots | sed -n 4p)" "${TP[$L]}"
expect "CLUSTER SLOTS in clear" "$(redis-cli -p "${CP[$F]}" cluster slots | sed -n 4p)" "${CP[$L]}"
# A cluster-aware client follows the redirect over TLS.
expect "redis-cli -c follows over tls" "$(tls_cli "${TP[$F]}" -c set foo bar)" "OK"
expect "the leader has it" "$(tls_cli "${TP[$L]}" get foo)" "bar"

# A node that joins advertises its tls-port the way it does its client port.
P4=$(unique_port)
T4=$(unique_port)
mkdir -p "$TEST_TMP/r4"
"$KVRAFT_SERVER_BIN" --port "$P4" --tls-port "$T4" --raft-port "$(unique_port)" \
  --dir "$TEST_TMP/r4" --node-id 4 --join "127.0.0.1:${CP[$L]}" "${SERVER_TLS[@]}" \
  --follower-mode redirect >>"$TEST_TMP/r4/server.log" 2>&1 &
TEST_PIDS+=($!)
seen=no
for _ in $(seq 1 100); do
  if tls_cli "${TP[$L]}" cluster nodes | grep -q " 127.0.0.1:$T4@"; then
    seen=yes
    break
  fi
  sleep 0.2
done
expect "joined node's tls-port known to the leader" "$seen" "yes"
expect "joined node's plain port to plain clients" \
  "$(redis-cli -p "${CP[$L]}" cluster nodes | grep -c " 127.0.0.1:$P4@")" "1"

finish
