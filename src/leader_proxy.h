// src/leader_proxy.h — a follower forwarding client commands to the leader.
//
// In `follower-mode proxy` a client may talk to any node: a follower sends
// each command that needs the leader over a pooled connection to the
// leader's client port and relays the leader's reply bytes verbatim, in
// order. One pipelined connection per protocol version (RESP2/RESP3) carries
// every forwarded command.
//
// Identity (src/proxy_auth.h): with a cluster-secret, a connection first
// proves it belongs to a member (KVRAFT.PROXY-AUTH challenge-response) and
// then precedes each command whose client's user or database differs from
// the previous one with KVRAFT.PROXY-AS <user> <db>, so the leader checks
// and runs every command as the user the client authenticated as here.
// Commands wait (unwritten) until the leader accepted the proof. Without a
// cluster-secret the connection authenticates as `default` (requirepass),
// prefixes SELECT when the database differs, and only commands of clients
// acting as `default` are forwarded; others get an error saying why.
//
// TLS: when the caller asks for it (tls-replication, or a leader without a
// plain port), the connection goes to the leader's tls-port over TLS
// (src/tls.h, the node's certificate as the client certificate).
//
// Exactly once: a command is written to the leader at most once. If the
// connection fails before the reply arrives, a command that was never
// written gets -TRYAGAIN (it did not run) — or the leader's reason, when it
// refused the connection's proof; one that was written gets an error saying
// its outcome is unknown — never a retry that could apply a write twice.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "resp/parser.h"

namespace kvraft {

struct Config;
class TlsContext;

class LeaderProxy {
 public:
  // The client name a proxy connection announces, so a node that is not the
  // leader answers -TRYAGAIN instead of forwarding again (no loops).
  static constexpr std::string_view kClientName = "kvraft-proxy";

  // Delivers a reply (or an error) for (client id, reply slot).
  using Deliver = std::function<void(uint64_t client, uint64_t slot, std::string_view bytes)>;

  LeaderProxy(uv_loop_t* loop, const Config& config, Deliver deliver);
  ~LeaderProxy();
  LeaderProxy(const LeaderProxy&) = delete;
  LeaderProxy& operator=(const LeaderProxy&) = delete;

  // Forwards `argv` (run in database `db` as ACL user `user`) to the leader
  // at `address` ("host:port"; over TLS if `tls`). The reply reaches
  // `deliver` exactly once.
  void forward(const std::string& address, bool tls, uint64_t client, uint64_t slot, int db,
               int protocol, std::string_view user, const resp::Argv& argv);

  // Closes every connection; outstanding commands get their errors.
  void close();

  uint64_t forwarded() const { return forwarded_; }

  // Connections opened from now on leave from `host` (this node's own
  // address; see src/source_address.h). Empty: the kernel chooses.
  void set_source_host(std::string host) { source_host_ = std::move(host); }

  // The TLS configuration connections with `tls` use (tls-replication);
  // without one they fail with an error.
  void set_tls_context(std::shared_ptr<TlsContext> tls) { tls_ = std::move(tls); }

 private:
  struct Conn;
  static void on_connect(uv_connect_t* req, int status);
  static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);

  Conn* connection(const std::string& address, bool tls, int protocol);
  void open(Conn* conn);
  void flush(Conn* conn);
  // Closes `conn`; commands never written get `never_ran` (or -TRYAGAIN).
  void fail(Conn* conn, const std::string& why, const std::string& never_ran = {});
  void handle_input(Conn* conn);
  // The leader's reply to the connection's challenge / proof (secret mode).
  bool on_challenge(Conn* conn, std::string_view reply);
  bool on_proof(Conn* conn, std::string_view reply);

  uv_loop_t* loop_;
  const Config& config_;
  Deliver deliver_;
  std::vector<std::unique_ptr<Conn>> conns_;
  uint64_t forwarded_ = 0;
  bool closed_ = false;
  std::string source_host_;
  std::shared_ptr<TlsContext> tls_;
};

}  // namespace kvraft
