// src/peer_transport.h — the Raft peer transport: TCP connections between
// the nodes of a cluster on the raft port, carrying raft::Message frames
// (raft/wire.h) on the server's single libuv loop.
//
// One connection per direction per peer (DESIGN.md "Peer protocol"): this
// node sends only on the connection it opened to a peer (outbound) and
// receives only on connections peers opened to it (inbound). The connecting
// side sends its Handshake first; the acceptor checks it (cluster id, wire
// version, shared secret, a known node id other than its own) and answers
// with its own Handshake, which the connector checks the same way (so a
// misconfigured address or cluster is noticed on both ends). Anything wrong
// closes the connection with one warning naming the remote address and the
// reason.
//
// Sending never blocks: send() encodes and queues the frame for its peer,
// and the queue is flushed at most once per loop phase (a prepare and a
// check handle), writing every queued frame in one uv_write (one writev), so
// a Ready with many messages costs a few syscalls. Raft tolerates loss, so a
// message that cannot be delivered soon (unknown peer, peer down for long,
// queue over its byte bound) is dropped and counted rather than buffered
// without bound.
//
// Peer authentication (src/peer_auth.h): the acceptor first sends a
// challenge (its nonce); the connector answers with its Handshake carrying
// its nonce and an HMAC proof of the shared secret over both nonces; the
// acceptor verifies it, then answers with its own proof, which the connector
// verifies before it sends any Message. The secret never crosses the
// network; a peer that fails is refused with one warning naming its address.
// With tls-replication (TransportOptions::tls) every connection is also TLS
// with certificates verified both ways before the handshake frame is sent.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "raft/message.h"
#include "raft/types.h"
#include "raft/wire.h"
#include "src/log.h"

namespace kvraft {

class TlsContext;

// Where a peer's raft port is. `host` is a numeric IPv4/IPv6 address (or
// "localhost"); names are not resolved, so a slow DNS can never stall the loop.
struct PeerAddress {
  raft::NodeId id = raft::kNoNode;
  std::string host;
  int port = 0;

  bool operator==(const PeerAddress&) const = default;
};

struct TransportOptions {
  raft::NodeId self = raft::kNoNode;  // this node's id; must not be kNoNode
  std::string cluster_id;             // every member must configure the same
  std::string secret;                 // empty: none; otherwise all members share it
  // Non-null (tls-replication): every connection is TLS, each side
  // presenting its certificate and requiring the other's to chain to the CA.
  std::shared_ptr<TlsContext> tls;
  std::string bind_host = "127.0.0.1";
  int port = 0;  // raft port to listen on (0: any free port, see PeerTransport::port())
  // Bound on one frame, sent or received. A message whose frame would exceed
  // it is dropped on send (the receiver would refuse it anyway).
  size_t max_frame_size = raft::wire::kDefaultMaxFrameSize;
  // Bound on the bytes queued (and being written) for one peer. A message
  // that would exceed it is dropped, except into an empty queue, so one
  // large message (a big entry) can always make progress.
  size_t max_queue_bytes = size_t{64} << 20;
  // Reconnect delay: starts at the minimum, doubles per failed attempt up to
  // the maximum; each delay is drawn uniformly from [delay/2, delay] so
  // nodes that lost each other at once do not retry in lockstep.
  uint64_t reconnect_min_ms = 50;
  uint64_t reconnect_max_ms = 1000;
  // An inbound connection must complete its handshake within this time; an
  // outbound one must be connected and answered within it.
  uint64_t handshake_timeout_ms = 2000;
  // Once a peer has been unreachable this long, its queue is dropped and new
  // messages to it are dropped until it is connected again (stale Raft
  // messages are worthless; the core retries).
  uint64_t drop_when_down_ms = 5000;
  // Bound on inbound connections that have not completed the handshake.
  size_t max_pending_inbound = 64;
};

// Per-peer counters for INFO. `connected` describes the outbound connection
// (the one we send on).
struct PeerStats {
  raft::NodeId id = raft::kNoNode;
  std::string address;         // "host:port"
  bool connected = false;      // outbound connection up, peer handshake verified
  bool inbound = false;        // the peer currently has a verified connection to us
  std::string last_error;      // most recent connection failure, "" if none
  uint64_t messages_sent = 0;  // frames the kernel accepted
  uint64_t bytes_sent = 0;
  uint64_t messages_received = 0;  // delivered to the callback
  uint64_t bytes_received = 0;     // on verified inbound connections
  uint64_t dropped = 0;            // messages to this peer that were never written
  uint64_t queue_bytes = 0;        // queued plus being written
  uint64_t reconnects = 0;         // outbound connection attempts after the first
  uint64_t writes = 0;             // uv_write calls (each carries a batch of frames)
};

class PeerTransport {
 public:
  // Called on the loop thread for every message received from a verified
  // peer, in the order that peer sent them. The callback may call send(),
  // set_peers() and close() on this transport, but must not destroy it.
  using OnMessage = std::function<void(raft::Message message)>;

  // `loop` must outlive the transport and be run until its handles close
  // after close() (as src/server.cc does at shutdown).
  PeerTransport(uv_loop_t* loop, TransportOptions options, OnMessage on_message);
  // Calls close(). Destroying the transport before the loop has run the
  // close callbacks is safe: those callbacks only free their own handles.
  ~PeerTransport();
  PeerTransport(const PeerTransport&) = delete;
  PeerTransport& operator=(const PeerTransport&) = delete;

  // Binds bind_host:port and accepts peer connections. Returns false with a
  // message naming the address on failure (nothing is left open).
  bool listen(std::string* error);
  // The bound raft port after listen() (useful with options.port = 0).
  int port() const { return bound_port_; }

  // Replaces the set of peers. New peers are connected to at once; removed
  // peers lose their queue and both connections; a peer whose address
  // changed is reconnected. An entry for this node itself is ignored, so
  // the driver may pass the whole membership. Inbound connections are
  // accepted only from node ids in this set.
  void set_peers(std::vector<PeerAddress> peers);

  // Queues `message` for message.to and returns at once. Dropped (and
  // counted) when the peer is unknown, has been down longer than
  // drop_when_down_ms, its queue is full, or the frame exceeds
  // max_frame_size. A message to this node itself is a caller bug: asserts
  // in debug builds, dropped in release builds.
  void send(const raft::Message& message);

  // One entry per configured peer, ordered by node id.
  std::vector<PeerStats> stats() const;
  // Heap bytes of the connections' buffers: frames queued or being written
  // to all peers and received bytes held by the frame decoders (maxmemory
  // leaves them out, as Redis leaves out its replica buffers).
  uint64_t buffer_bytes() const;
  // Messages dropped because their recipient was not a configured peer (or
  // was this node, or the transport was closed).
  uint64_t dropped_unknown() const { return dropped_unknown_; }

  // Closes the listener and every connection and timer. Queued messages are
  // dropped. Idempotent; after it, send() drops and set_peers() does nothing.
  void close();

 private:
  struct Conn;
  struct Peer;

  static void on_connection(uv_stream_t* listener, int status);
  static void on_connect(uv_connect_t* req, int status);
  static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write_done(uv_write_t* req, int status);
  static void on_conn_timeout(uv_timer_t* timer);
  static void on_reconnect_timer(uv_timer_t* timer);
  static void on_flush_prepare(uv_prepare_t* handle);
  static void on_flush_check(uv_check_t* handle);

  void start_connect(Peer& peer);
  void schedule_reconnect(Peer& peer);
  // Closes `conn` (idempotent). Logs `reason` as one line at `level` when
  // not empty; an outbound connection's peer is scheduled for reconnection.
  void close_conn(Conn* conn, const std::string& reason, LogLevel level);
  void handle_input(Conn* conn);
  bool handle_frame(Conn* conn, raft::wire::Frame&& frame);
  // Empty when acceptable, otherwise why not.
  std::string check_handshake(const raft::wire::Handshake& hs, raft::NodeId expected) const;
  void mark_dirty(Peer& peer);
  void flush_dirty();
  void flush_peer(Peer& peer);
  // Hands `frames` to one uv_write; requires !conn->writing.
  void write_frames(Conn* conn, std::vector<std::string> frames);
  void drop_queue(Peer& peer);
  void remove_peer(raft::NodeId id);
  Peer* find_peer(raft::NodeId id);
  // Current loop time in ms, refreshed first (also before starting timers).
  uint64_t now_ms();
  // A Handshake frame from this node carrying `nonce` and `proof`.
  std::string handshake_frame(const std::string& nonce, const std::string& proof) const;
  // The proof `prover` owes on `conn` (src/peer_auth.h); both nonces known.
  std::string proof_for(const Conn* conn, raft::NodeId remote, bool prover_is_connector) const;
  // write_frames, or behind the write in flight (inbound handshake frames).
  void write_or_queue(Conn* conn, std::string frame);

  uv_loop_t* loop_;
  TransportOptions options_;
  OnMessage on_message_;
  // Heap-allocated handles are freed by their own close callbacks (so the
  // transport can be destroyed before the loop runs them).
  uv_tcp_t* listener_ = nullptr;
  uv_prepare_t* flush_prepare_ = nullptr;
  uv_check_t* flush_check_ = nullptr;
  int bound_port_ = 0;
  bool closed_ = false;
  std::unordered_map<raft::NodeId, std::unique_ptr<Peer>> peers_;
  // Inbound connections that have not completed the handshake yet.
  std::unordered_set<Conn*> pending_inbound_;
  // Peers with frames queued since the last flush (ids, so a removed peer
  // is simply not found).
  std::vector<raft::NodeId> dirty_;
  uint64_t dropped_unknown_ = 0;
  std::minstd_rand rng_;
};

}  // namespace kvraft
