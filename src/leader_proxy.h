// src/leader_proxy.h — a follower forwarding client commands to the leader.
//
// In `follower-mode proxy` a client may talk to any node: a follower sends
// each command that needs the leader over a pooled connection to the
// leader's client port and relays the leader's reply bytes verbatim, in
// order. One pipelined connection per protocol version (RESP2/RESP3) carries
// every forwarded command; the follower prefixes SELECT when the client's
// database differs from the connection's, and AUTH/HELLO when it opens.
//
// Exactly once: a command is written to the leader at most once. If the
// connection fails before the reply arrives, a command that was never
// written gets -TRYAGAIN (it did not run); one that was written gets an
// error saying its outcome is unknown — never a retry that could apply a
// write twice.
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

  // Forwards `argv` (run in database `db`) to the leader at `address`
  // ("host:port"). The reply reaches `deliver` exactly once.
  void forward(const std::string& address, uint64_t client, uint64_t slot, int db, int protocol,
               const resp::Argv& argv);

  // Closes every connection; outstanding commands get their errors.
  void close();

  uint64_t forwarded() const { return forwarded_; }

  // Connections opened from now on leave from `host` (this node's own
  // address; see src/source_address.h). Empty: the kernel chooses.
  void set_source_host(std::string host) { source_host_ = std::move(host); }

 private:
  struct Conn;
  static void on_connect(uv_connect_t* req, int status);
  static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);

  Conn* connection(const std::string& address, int protocol);
  void open(Conn* conn);
  void flush(Conn* conn);
  void fail(Conn* conn, const std::string& why);
  void handle_input(Conn* conn);

  uv_loop_t* loop_;
  const Config& config_;
  Deliver deliver_;
  std::vector<std::unique_ptr<Conn>> conns_;
  uint64_t forwarded_ = 0;
  bool closed_ = false;
  std::string source_host_;
};

}  // namespace kvraft
