// src/peer_transport.cc — connections, handshakes, queues and flushing of
// the Raft peer transport (see peer_transport.h for the protocol).
//
// Lifetime rule for every libuv handle here: each lives in its own heap
// block that its close callback frees, and close callbacks touch nothing
// else. So the transport (or a removed Peer) may go away while handles are
// still closing, and a callback for a handle that is closing never reaches
// transport state (they check Conn::closing first).
#include "src/peer_transport.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cassert>
#include <cctype>
#include <deque>
#include <stdexcept>
#include <utility>

#include "src/log.h"
#include "src/peer_auth.h"
#include "src/source_address.h"
#include "src/tls.h"

namespace kvraft {

namespace {

using raft::NodeId;
namespace wire = raft::wire;

// Bytes read per read callback.
constexpr size_t kReadBufferSize = 64 * 1024;
// Before its handshake is verified a connection may buffer no more than
// this (a handshake is a few hundred bytes): an unauthenticated sender can
// never make us hold a large frame.
constexpr size_t kMaxUnverifiedBytes = 64 * 1024;
// Our outbound connections only ever receive the peer's handshake.
constexpr size_t kOutboundMaxFrameSize = 64 * 1024;
// A decoder that has held a frame larger than this is replaced once it is
// empty, so the buffer that held one huge frame (a 512 MiB entry) goes back
// to the allocator; below it the buffer is kept, so a stream of ordinary
// frames (1 MiB snapshot chunks) does not regrow it each time.
constexpr uint64_t kDecoderRecycleBytes = 4u << 20;
// One uv_write carries at most this many frames (IOV_MAX on Linux) and
// about this many bytes; the rest goes in the next write.
constexpr size_t kMaxBatchFrames = 1024;
constexpr size_t kMaxBatchBytes = 16u << 20;
constexpr int kListenBacklog = 128;

template <typename Handle>
void close_and_delete(Handle* handle) {
  uv_close(reinterpret_cast<uv_handle_t*>(handle),
           [](uv_handle_t* h) { delete reinterpret_cast<Handle*>(h); });
}

std::string sockaddr_to_string(const sockaddr_storage& ss) {
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
    port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
    port = ntohs(in6->sin6_port);
  }
  return std::string(ip) + ":" + std::to_string(port);
}

// Numeric addresses only (see PeerAddress); false if `host` is not one.
bool parse_address(const std::string& host, int port, sockaddr_storage* out) {
  const std::string h = host == "localhost" ? "127.0.0.1" : host;
  if (port < 0 || port > 65535) return false;
  if (h.find(':') != std::string::npos)
    return uv_ip6_addr(h.c_str(), port, reinterpret_cast<sockaddr_in6*>(out)) == 0;
  return uv_ip4_addr(h.c_str(), port, reinterpret_cast<sockaddr_in*>(out)) == 0;
}

// Untrusted strings (a remote cluster id) in a log line: bounded, and
// non-printable bytes escaped.
std::string printable(const std::string& s) {
  constexpr size_t kMax = 64;
  std::string out;
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (std::isprint(c) && c != '\'') {
      out += static_cast<char>(c);
    } else {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (s.size() > kMax) out += "...";
  return out;
}

}  // namespace

// One TCP connection to or from a peer.
struct PeerTransport::Conn {
  Conn(PeerTransport* t, bool in, size_t max_frame)
      : transport(t), inbound(in), decoder(max_frame), read_buf(new char[kReadBufferSize]) {
    tcp.data = this;
    connect_req.data = this;
    write_req.data = this;
  }

  // Valid while !closing (the transport closes every connection in close()).
  PeerTransport* transport;
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  uv_write_t write_req;
  // Deadline for connecting and handshaking; closed (and freed by its close
  // callback) once the remote's handshake is verified.
  uv_timer_t* timer = nullptr;
  const bool inbound;
  bool closing = false;
  bool connected = false;       // outbound: TCP connect completed
  bool verified = false;        // the remote's handshake passed check_handshake
  bool handshake_sent = false;  // outbound: ours is written or in flight
  bool writing = false;         // write_req is in flight with in_flight's buffers
  // Outbound: the peer dialled. Inbound: the verified sender. Null before
  // verification (inbound) and once closing.
  Peer* peer = nullptr;
  std::string addr;  // remote "ip:port"
  wire::FrameDecoder decoder;
  uint64_t largest_frame = 0;  // since the decoder was last replaced
  std::unique_ptr<char[]> read_buf;
  // Buffers libuv is writing; owned here until on_write_done.
  std::vector<std::string> in_flight;
  // The queued messages inside in_flight (not our handshake). Counted in
  // the peer's queue_bytes until the write completes or fails.
  uint64_t in_flight_messages = 0;
  uint64_t in_flight_bytes = 0;
  // tls-replication: frames are plaintext inside it; the socket carries TLS.
  std::unique_ptr<TlsSession> tls;
  // The handshake's nonces (src/peer_auth.h). Outbound: remote_nonce is
  // empty until the acceptor's challenge arrived; nothing is sent before.
  std::string local_nonce = make_peer_nonce();
  std::string remote_nonce;
  // Inbound handshake frames waiting for the write in flight.
  std::vector<std::string> pending_out;
};

struct PeerTransport::Peer {
  PeerTransport* transport = nullptr;
  PeerAddress address;
  std::string addr_text;  // "host:port" for logs and stats
  Conn* out = nullptr;    // our connection to it (invariant: out->peer == this)
  Conn* in = nullptr;     // its verified connection to us (invariant: in->peer == this)
  uv_timer_t* reconnect_timer = nullptr;  // heap; freed by its close callback
  std::deque<std::string> queue;          // encoded frames not yet handed to libuv
  // Invariant: queue_bytes == sum of queue sizes + out->in_flight_bytes.
  uint64_t queue_bytes = 0;
  bool dirty = false;     // listed in PeerTransport::dirty_
  uint32_t failures = 0;  // attempts since the peer last answered our handshake
  bool attempted = false;
  // When the peer became unreachable (creation, or loss of a connection);
  // meaningful while there is no connected outbound connection.
  uint64_t down_since_ms = 0;
  PeerStats stats;
};

PeerTransport::PeerTransport(uv_loop_t* loop, TransportOptions options, OnMessage on_message)
    : loop_(loop), options_(std::move(options)), on_message_(std::move(on_message)) {
  rng_.seed(static_cast<uint32_t>(uv_hrtime() ^ (options_.self * 0x9e3779b97f4a7c15ull)));
  // Flush before the loop may block (sends from timers and idle work) and
  // right after I/O callbacks (sends in response to received messages).
  flush_prepare_ = new uv_prepare_t;
  uv_prepare_init(loop_, flush_prepare_);
  flush_prepare_->data = this;
  uv_prepare_start(flush_prepare_, on_flush_prepare);
  uv_unref(reinterpret_cast<uv_handle_t*>(flush_prepare_));
  flush_check_ = new uv_check_t;
  uv_check_init(loop_, flush_check_);
  flush_check_->data = this;
  uv_check_start(flush_check_, on_flush_check);
  uv_unref(reinterpret_cast<uv_handle_t*>(flush_check_));
}

PeerTransport::~PeerTransport() {
  close();
}

bool PeerTransport::listen(std::string* error) {
  if (closed_ || listener_ != nullptr) {
    *error = closed_ ? "peer transport is closed" : "peer transport is already listening";
    return false;
  }
  const std::string where = options_.bind_host + ":" + std::to_string(options_.port);
  sockaddr_storage addr{};
  if (!parse_address(options_.bind_host, options_.port, &addr)) {
    *error = "invalid raft bind address '" + where + "'";
    return false;
  }
  auto* tcp = new uv_tcp_t;
  uv_tcp_init(loop_, tcp);
  tcp->data = this;
  int rc = uv_tcp_bind(tcp, reinterpret_cast<sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(tcp), kListenBacklog, on_connection);
  if (rc != 0) {
    *error = "Could not listen on raft port " + where + ": " + uv_strerror(rc);
    close_and_delete(tcp);
    return false;
  }
  sockaddr_storage bound{};
  int len = sizeof bound;
  if (uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&bound), &len) == 0) {
    bound_port_ = bound.ss_family == AF_INET6
                      ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                      : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  listener_ = tcp;
  return true;
}

uint64_t PeerTransport::now_ms() {
  // The loop's cached time is stale when the owner did long work between
  // iterations (or calls us outside the loop); deadlines must start now.
  uv_update_time(loop_);
  return uv_now(loop_);
}

PeerTransport::Peer* PeerTransport::find_peer(NodeId id) {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : it->second.get();
}

std::string PeerTransport::handshake_frame(const std::string& nonce,
                                           const std::string& proof) const {
  wire::Handshake hs;
  hs.cluster_id = options_.cluster_id;
  hs.node_id = options_.self;
  hs.protocol_version = wire::kWireVersion;
  hs.nonce = nonce;
  hs.proof = proof;
  std::string out;
  wire::encode_handshake(hs, &out);
  return out;
}

std::string PeerTransport::proof_for(const Conn* c, NodeId remote, bool prover_is_connector) const {
  // Outbound: we connect; inbound: the remote does.
  NodeId connector = c->inbound ? remote : options_.self;
  NodeId acceptor = c->inbound ? options_.self : remote;
  const std::string& connector_nonce = c->inbound ? c->remote_nonce : c->local_nonce;
  const std::string& acceptor_nonce = c->inbound ? c->local_nonce : c->remote_nonce;
  return peer_proof(options_.secret, options_.cluster_id,
                    prover_is_connector ? PeerRole::kConnector : PeerRole::kAcceptor, connector,
                    acceptor, connector_nonce, acceptor_nonce);
}

void PeerTransport::write_or_queue(Conn* c, std::string frame) {
  if (c->writing) {
    c->pending_out.push_back(std::move(frame));
    return;
  }
  std::vector<std::string> frames;
  frames.push_back(std::move(frame));
  write_frames(c, std::move(frames));
}

void PeerTransport::set_peers(std::vector<PeerAddress> peers) {
  if (closed_) return;
  std::unordered_map<NodeId, PeerAddress> wanted;
  for (PeerAddress& p : peers)
    if (p.id != raft::kNoNode && p.id != options_.self) wanted[p.id] = std::move(p);

  std::vector<NodeId> gone;
  for (auto& [id, peer] : peers_)
    if (!wanted.count(id)) gone.push_back(id);
  for (NodeId id : gone)
    remove_peer(id);

  for (auto& [id, address] : wanted) {
    if (Peer* p = find_peer(id)) {
      if (p->address == address) continue;
      KV_LOG_NOTICE("Raft peer %llu moved from %s to %s:%d", static_cast<unsigned long long>(id),
                    p->addr_text.c_str(), address.host.c_str(), address.port);
      p->address = address;
      p->addr_text = address.host + ":" + std::to_string(address.port);
      p->stats.address = p->addr_text;
      p->failures = 0;
      if (p->out != nullptr) {
        close_conn(p->out, "peer address changed", LogLevel::kVerbose);  // reconnects
      } else {
        uv_timer_stop(p->reconnect_timer);
        start_connect(*p);
      }
      continue;
    }
    auto peer = std::make_unique<Peer>();
    Peer* p = peer.get();
    p->transport = this;
    p->address = address;
    p->addr_text = address.host + ":" + std::to_string(address.port);
    p->down_since_ms = now_ms();
    p->stats.id = id;
    p->stats.address = p->addr_text;
    p->reconnect_timer = new uv_timer_t;
    uv_timer_init(loop_, p->reconnect_timer);
    p->reconnect_timer->data = p;
    peers_.emplace(id, std::move(peer));
    KV_LOG_VERBOSE("Raft peer %llu at %s added", static_cast<unsigned long long>(id),
                   p->addr_text.c_str());
    start_connect(*p);
  }
}

void PeerTransport::remove_peer(NodeId id) {
  auto it = peers_.find(id);
  if (it == peers_.end()) return;
  Peer* p = it->second.get();
  KV_LOG_VERBOSE("Raft peer %llu at %s removed", static_cast<unsigned long long>(id),
                 p->addr_text.c_str());
  // Detach first so closing does not schedule a reconnect or touch the Peer.
  for (Conn* c : {p->out, p->in}) {
    if (c == nullptr) continue;
    c->peer = nullptr;
    close_conn(c, "", LogLevel::kVerbose);
  }
  p->out = p->in = nullptr;
  uv_timer_stop(p->reconnect_timer);
  close_and_delete(p->reconnect_timer);
  p->reconnect_timer = nullptr;
  p->dirty = false;  // a stale id in dirty_ is simply not found
  peers_.erase(it);
}

void PeerTransport::start_connect(Peer& peer) {
  if (closed_ || peer.out != nullptr) return;
  if (peer.attempted) peer.stats.reconnects++;
  peer.attempted = true;
  sockaddr_storage addr{};
  if (!parse_address(peer.address.host, peer.address.port, &addr)) {
    std::string reason = "invalid address '" + peer.addr_text + "' (numeric IP required)";
    if (reason != peer.stats.last_error)
      KV_LOG_WARNING("Raft peer %llu: %s", static_cast<unsigned long long>(peer.address.id),
                     reason.c_str());
    peer.stats.last_error = reason;
    schedule_reconnect(peer);
    return;
  }
  Conn* c = new Conn(this, /*in=*/false, kOutboundMaxFrameSize);
  uv_tcp_init(loop_, &c->tcp);
  if (options_.tls)
    c->tls =
        std::make_unique<TlsSession>(*options_.tls, TlsSession::Role::kClient, TlsVerify::kRequire);
  c->peer = &peer;
  c->addr = peer.addr_text;
  peer.out = c;
  c->timer = new uv_timer_t;
  uv_timer_init(loop_, c->timer);
  c->timer->data = c;
  now_ms();
  uv_timer_start(c->timer, on_conn_timeout, options_.handshake_timeout_ms, 0);
  // Leave from our own raft address, so peers (and firewalls) see who calls.
  int rc = bind_source_address(&c->tcp, options_.bind_host, reinterpret_cast<sockaddr*>(&addr));
  if (rc == 0)
    rc = uv_tcp_connect(&c->connect_req, &c->tcp, reinterpret_cast<sockaddr*>(&addr), on_connect);
  if (rc != 0) close_conn(c, std::string("connect: ") + uv_strerror(rc), LogLevel::kWarning);
}

void PeerTransport::schedule_reconnect(Peer& peer) {
  if (closed_) return;
  // A peer that stays unreachable must not hold memory for messages Raft
  // will have re-sent in newer form by the time it is back.
  if (now_ms() - peer.down_since_ms >= options_.drop_when_down_ms) drop_queue(peer);
  const uint32_t shift = std::min<uint32_t>(peer.failures, 20);
  uint64_t delay = std::min(options_.reconnect_max_ms, options_.reconnect_min_ms << shift);
  peer.failures++;
  std::uniform_int_distribution<uint64_t> jitter(delay / 2, std::max<uint64_t>(delay, 1));
  uv_timer_start(peer.reconnect_timer, on_reconnect_timer, jitter(rng_), 0);
}

void PeerTransport::on_reconnect_timer(uv_timer_t* timer) {
  auto* peer = static_cast<Peer*>(timer->data);
  peer->transport->start_connect(*peer);
}

void PeerTransport::drop_queue(Peer& peer) {
  for (const std::string& frame : peer.queue)
    peer.queue_bytes -= frame.size();
  peer.stats.dropped += peer.queue.size();
  std::deque<std::string>().swap(peer.queue);
}

void PeerTransport::close_conn(Conn* c, const std::string& reason, LogLevel level) {
  if (c->closing) return;
  Peer* p = c->peer;
  if (!reason.empty()) {
    if (c->inbound) {
      std::string who = p ? " (node " + std::to_string(p->address.id) + ")" : "";
      log_line(level, "Raft peer connection from %s%s closed: %s", c->addr.c_str(), who.c_str(),
               reason.c_str());
    } else if (p != nullptr) {
      // A peer that stays down fails the same way on every retry: say so once.
      if (reason == p->stats.last_error && level > LogLevel::kVerbose) level = LogLevel::kVerbose;
      log_line(level, "Raft connection to node %llu at %s closed: %s",
               static_cast<unsigned long long>(p->address.id), c->addr.c_str(), reason.c_str());
    }
  }
  c->closing = true;
  c->peer = nullptr;
  pending_inbound_.erase(c);
  if (c->timer != nullptr) {
    uv_timer_stop(c->timer);
    close_and_delete(c->timer);
    c->timer = nullptr;
  }
  // Cancels a pending connect or write: their callbacks run (seeing
  // `closing`) before this close callback frees the Conn.
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp),
           [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
  if (p == nullptr) return;
  if (c->inbound) {
    if (p->in == c) {
      p->in = nullptr;
      p->stats.inbound = false;
    }
    return;
  }
  if (p->out != c) return;
  p->out = nullptr;
  if (c->connected) p->down_since_ms = now_ms();
  p->stats.connected = false;
  if (!reason.empty()) p->stats.last_error = reason;
  // What was being written may or may not have arrived; Raft re-sends.
  p->stats.dropped += c->in_flight_messages;
  p->queue_bytes -= c->in_flight_bytes;
  c->in_flight_messages = c->in_flight_bytes = 0;
  schedule_reconnect(*p);
}

void PeerTransport::on_connect(uv_connect_t* req, int status) {
  auto* c = static_cast<Conn*>(req->data);
  if (c->closing) return;
  PeerTransport* t = c->transport;
  if (status < 0) {
    t->close_conn(c, std::string("connect: ") + uv_strerror(status), LogLevel::kWarning);
    return;
  }
  c->connected = true;
  uv_tcp_nodelay(&c->tcp, 1);
  uv_tcp_keepalive(&c->tcp, 1, 60);
  int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), on_alloc, on_read);
  if (rc != 0) {
    t->close_conn(c, std::string("read: ") + uv_strerror(rc), LogLevel::kWarning);
    return;
  }
  // TLS: our ClientHello goes first; the acceptor's challenge comes inside
  // the finished session.
  if (c->tls) {
    if (!c->tls->start()) {
      t->close_conn(c, "TLS: " + c->tls->error(), LogLevel::kWarning);
      return;
    }
    t->write_frames(c, {});
    return;
  }
  // Send the handshake and whatever queued while we were away right now;
  // the peer's answering handshake is checked when it arrives.
  t->flush_peer(*c->peer);
}

void PeerTransport::on_connection(uv_stream_t* listener, int status) {
  auto* t = static_cast<PeerTransport*>(listener->data);
  if (status < 0) {
    KV_LOG_WARNING("Accepting raft peer connection: %s", uv_strerror(status));
    return;
  }
  Conn* c = new Conn(t, /*in=*/true, t->options_.max_frame_size);
  uv_tcp_init(t->loop_, &c->tcp);
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    c->closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp),
             [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
    return;
  }
  if (t->options_.tls)
    c->tls = std::make_unique<TlsSession>(*t->options_.tls, TlsSession::Role::kServer,
                                          TlsVerify::kRequire);
  sockaddr_storage ss{};
  int len = sizeof ss;
  c->addr = uv_tcp_getpeername(&c->tcp, reinterpret_cast<sockaddr*>(&ss), &len) == 0
                ? sockaddr_to_string(ss)
                : "?";
  if (t->pending_inbound_.size() >= t->options_.max_pending_inbound) {
    t->close_conn(c,
                  "too many connections awaiting their handshake (" +
                      std::to_string(t->pending_inbound_.size()) + ")",
                  LogLevel::kWarning);
    return;
  }
  t->pending_inbound_.insert(c);
  c->timer = new uv_timer_t;
  uv_timer_init(t->loop_, c->timer);
  c->timer->data = c;
  t->now_ms();
  uv_timer_start(c->timer, on_conn_timeout, t->options_.handshake_timeout_ms, 0);
  uv_tcp_nodelay(&c->tcp, 1);
  uv_tcp_keepalive(&c->tcp, 1, 60);
  int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), on_alloc, on_read);
  if (rc != 0) {
    t->close_conn(c, std::string("read: ") + uv_strerror(rc), LogLevel::kWarning);
    return;
  }
  // The challenge: our nonce, which the connector's proof must cover.
  t->write_or_queue(c, t->handshake_frame(c->local_nonce, ""));
}

void PeerTransport::on_conn_timeout(uv_timer_t* timer) {
  auto* c = static_cast<Conn*>(timer->data);
  if (c->closing || c->verified) return;
  PeerTransport* t = c->transport;
  const std::string ms = std::to_string(t->options_.handshake_timeout_ms);
  t->close_conn(c,
                c->inbound ? "no handshake within " + ms + " ms"
                           : (c->connected ? "no handshake answer within " + ms + " ms"
                                           : "connect timed out after " + ms + " ms"),
                LogLevel::kWarning);
}

void PeerTransport::on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* c = static_cast<Conn*>(handle->data);
  buf->base = c->read_buf.get();
  buf->len = kReadBufferSize;
}

void PeerTransport::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Conn*>(stream->data);
  if (c->closing) return;
  PeerTransport* t = c->transport;
  if (nread < 0) {
    // A peer restarting or leaving closes its connections: not a warning.
    if (nread == UV_EOF || nread == UV_ECONNRESET)
      t->close_conn(c, nread == UV_EOF ? "closed by the peer" : "connection reset by the peer",
                    LogLevel::kVerbose);
    else
      t->close_conn(c, std::string("read: ") + uv_strerror(static_cast<int>(nread)),
                    LogLevel::kWarning);
    return;
  }
  if (nread == 0) return;
  if (c->tls) {
    std::string plain;
    bool ok = c->tls->decrypt(std::string_view(buf->base, static_cast<size_t>(nread)), &plain);
    // Handshake records or an alert telling the remote why it is refused.
    if (c->tls->has_output() && !c->writing) t->write_frames(c, {});
    if (!ok) t->close_conn(c, "TLS: " + c->tls->error(), LogLevel::kWarning);
    if (c->closing) return;
    c->decoder.feed(plain);
  } else {
    c->decoder.feed(std::string_view(buf->base, static_cast<size_t>(nread)));
  }
  t->handle_input(c);
}

void PeerTransport::handle_input(Conn* c) {
  for (;;) {
    wire::Frame frame;
    const uint64_t before = c->decoder.stream_offset();
    wire::FrameDecoder::Status status = c->decoder.next(&frame);
    if (status == wire::FrameDecoder::Status::kNeedMore) break;
    if (status == wire::FrameDecoder::Status::kError) {
      close_conn(c, c->decoder.error(), LogLevel::kWarning);
      return;
    }
    const uint64_t size = c->decoder.stream_offset() - before;
    c->largest_frame = std::max(c->largest_frame, size);
    if (c->peer != nullptr && c->inbound) c->peer->stats.bytes_received += size;
    if (!handle_frame(c, std::move(frame)) || c->closing) return;
  }
  if (!c->verified && c->decoder.buffered() > kMaxUnverifiedBytes) {
    close_conn(
        c,
        "more than " + std::to_string(kMaxUnverifiedBytes) + " bytes without a complete handshake",
        LogLevel::kWarning);
    return;
  }
  if (c->decoder.buffered() == 0 && c->largest_frame > kDecoderRecycleBytes) {
    c->decoder = wire::FrameDecoder(c->decoder.max_frame_size());
    c->largest_frame = 0;
  }
}

std::string PeerTransport::check_handshake(const wire::Handshake& hs, NodeId expected) const {
  if (hs.protocol_version < wire::kWireVersion)
    return "peer speaks protocol version " + std::to_string(hs.protocol_version) +
           ", this node needs " + std::to_string(wire::kWireVersion);
  if (hs.cluster_id != options_.cluster_id)
    return "wrong cluster id '" + printable(hs.cluster_id) + "' (this node is in '" +
           printable(options_.cluster_id) + "')";
  if (hs.nonce.size() != kPeerNonceSize)
    return "handshake nonce of " + std::to_string(hs.nonce.size()) + " bytes";
  if (hs.node_id == raft::kNoNode) return "handshake carries no node id";
  if (hs.node_id == options_.self)
    return "peer claims this node's own id " + std::to_string(hs.node_id);
  if (expected != raft::kNoNode && hs.node_id != expected)
    return "answered as node " + std::to_string(hs.node_id) + ", expected node " +
           std::to_string(expected);
  if (peers_.find(hs.node_id) == peers_.end())
    return "unknown node id " + std::to_string(hs.node_id);
  return "";
}

bool PeerTransport::handle_frame(Conn* c, wire::Frame&& frame) {
  if (auto* hs = std::get_if<wire::Handshake>(&frame)) {
    if (c->verified) {
      close_conn(c, "second handshake on one connection", LogLevel::kWarning);
      return false;
    }
    const NodeId expected = c->inbound ? raft::kNoNode : c->peer->address.id;
    std::string why = check_handshake(*hs, expected);
    const bool challenge = !c->inbound && c->remote_nonce.empty();
    if (why.empty() && !challenge && !c->inbound && hs->nonce != c->remote_nonce)
      why = "the handshake answer changed the nonce of the challenge";
    if (why.empty()) c->remote_nonce = hs->nonce;
    // The challenge carries no proof; every later handshake must prove the
    // secret (the connector's proof for the acceptor, and vice versa).
    if (why.empty() && challenge && !hs->proof.empty()) why = "a proof in the challenge";
    if (why.empty() && !challenge &&
        !peer_proof_matches(proof_for(c, hs->node_id, /*prover_is_connector=*/c->inbound),
                            hs->proof))
      why = "wrong shared secret (the peer's proof does not verify)";
    if (!why.empty()) {
      close_conn(c, why, LogLevel::kWarning);
      return false;
    }
    if (challenge) {
      flush_peer(*c->peer);  // sends our handshake with its proof
      return !c->closing;
    }
    c->verified = true;
    if (c->timer != nullptr) {
      uv_timer_stop(c->timer);
      close_and_delete(c->timer);
      c->timer = nullptr;
    }
    if (!c->inbound) {
      c->peer->failures = 0;  // a healthy peer reconnects fast next time
      c->peer->stats.connected = true;
      KV_LOG_VERBOSE("Raft connection to node %llu at %s established",
                     static_cast<unsigned long long>(hs->node_id), c->addr.c_str());
      flush_peer(*c->peer);  // what queued while we proved ourselves
      return !c->closing;
    }
    pending_inbound_.erase(c);
    Peer* p = find_peer(hs->node_id);  // non-null: check_handshake
    if (p->in != nullptr) {
      // The peer reconnected (it restarted, or the old connection is
      // half-open): the newest connection is the live one.
      close_conn(p->in, "replaced by a newer connection from the same node", LogLevel::kVerbose);
    }
    p->in = c;
    c->peer = p;
    p->stats.inbound = true;
    KV_LOG_VERBOSE("Raft peer connection from %s (node %llu) accepted", c->addr.c_str(),
                   static_cast<unsigned long long>(hs->node_id));
    write_or_queue(c, handshake_frame(c->local_nonce,
                                      proof_for(c, hs->node_id, /*prover_is_connector=*/false)));
    return !c->closing;
  }

  raft::Message& m = std::get<raft::Message>(frame);
  if (!c->inbound) {
    close_conn(c, "peer sent a message on our outbound connection", LogLevel::kWarning);
    return false;
  }
  if (!c->verified) {
    close_conn(c, std::string("message ") + raft::to_string(m.type) + " before the handshake",
               LogLevel::kWarning);
    return false;
  }
  Peer* p = c->peer;
  if (m.from != p->address.id) {
    close_conn(c,
               "message from node " + std::to_string(m.from) + " on node " +
                   std::to_string(p->address.id) + "'s connection",
               LogLevel::kWarning);
    return false;
  }
  if (m.to != options_.self) {
    close_conn(c,
               "message addressed to node " + std::to_string(m.to) + ", this is node " +
                   std::to_string(options_.self),
               LogLevel::kWarning);
    return false;
  }
  p->stats.messages_received++;
  on_message_(std::move(m));
  return !c->closing && !closed_;
}

void PeerTransport::send(const raft::Message& message) {
  assert(message.to != options_.self && "the driver sent a message to this node itself");
  if (closed_ || message.to == options_.self) {
    dropped_unknown_++;
    return;
  }
  Peer* p = find_peer(message.to);
  if (p == nullptr) {
    dropped_unknown_++;
    return;
  }
  const bool up = p->out != nullptr && p->out->connected;
  if (!up && now_ms() - p->down_since_ms >= options_.drop_when_down_ms) {
    p->stats.dropped++;
    return;
  }
  std::string frame;
  try {
    wire::encode_message(message, &frame);
  } catch (const std::length_error&) {
    frame.clear();
  }
  if (frame.empty() || frame.size() > options_.max_frame_size) {
    KV_LOG_WARNING("Raft message %s to node %llu not sent: its frame exceeds the %zu byte limit",
                   raft::describe(message).c_str(), static_cast<unsigned long long>(message.to),
                   options_.max_frame_size);
    p->stats.dropped++;
    return;
  }
  if (p->queue_bytes > 0 && p->queue_bytes + frame.size() > options_.max_queue_bytes) {
    p->stats.dropped++;
    return;
  }
  p->queue_bytes += frame.size();
  p->queue.push_back(std::move(frame));
  if (!p->dirty) {
    p->dirty = true;
    dirty_.push_back(message.to);
  }
}

void PeerTransport::on_flush_prepare(uv_prepare_t* handle) {
  static_cast<PeerTransport*>(handle->data)->flush_dirty();
}

void PeerTransport::on_flush_check(uv_check_t* handle) {
  static_cast<PeerTransport*>(handle->data)->flush_dirty();
}

void PeerTransport::flush_dirty() {
  if (dirty_.empty()) return;
  std::vector<NodeId> batch;
  batch.swap(dirty_);
  for (NodeId id : batch) {
    Peer* p = find_peer(id);
    if (p == nullptr || !p->dirty) continue;
    p->dirty = false;
    flush_peer(*p);
  }
}

void PeerTransport::flush_peer(Peer& peer) {
  Conn* c = peer.out;
  // Not connected: the queue waits for on_connect. Writing: on_write_done
  // sends the rest in one batch.
  // Before the acceptor's challenge nothing is sent; before its proof
  // verified, only our handshake.
  if (c == nullptr || c->closing || !c->connected || c->writing || c->remote_nonce.empty()) return;
  // With TLS the challenge only arrives once the TLS handshake is done.
  if ((peer.queue.empty() || !c->verified) && c->handshake_sent) return;
  std::vector<std::string> batch;
  if (!c->handshake_sent) {
    batch.push_back(handshake_frame(c->local_nonce,
                                    proof_for(c, peer.address.id, /*prover_is_connector=*/true)));
    c->handshake_sent = true;
    if (!c->verified) {
      write_frames(c, std::move(batch));
      return;
    }
  }
  uint64_t messages = 0;
  uint64_t bytes = 0;
  while (!peer.queue.empty() && batch.size() < kMaxBatchFrames && bytes < kMaxBatchBytes) {
    bytes += peer.queue.front().size();
    batch.push_back(std::move(peer.queue.front()));
    peer.queue.pop_front();
    messages++;
  }
  c->in_flight_messages = messages;
  c->in_flight_bytes = bytes;
  peer.stats.writes++;
  write_frames(c, std::move(batch));
}

void PeerTransport::write_frames(Conn* c, std::vector<std::string> frames) {
  if (c->tls) {
    // Encrypt now; the ciphertext waits in the session while a write is in
    // flight (on_write_done sends it).
    for (const std::string& f : frames)
      if (!c->tls->write(f)) {
        close_conn(c, "TLS: " + c->tls->error(), LogLevel::kWarning);
        return;
      }
    if (c->writing || !c->tls->has_output()) return;
    frames.assign(1, c->tls->take_output());
  }
  assert(!c->writing);
  c->in_flight = std::move(frames);
  std::vector<uv_buf_t> bufs;
  bufs.reserve(c->in_flight.size());
  for (std::string& f : c->in_flight)
    bufs.push_back(uv_buf_init(f.data(), static_cast<unsigned>(f.size())));
  c->writing = true;
  // libuv copies the buffer array and writes as much as it can at once.
  int rc = uv_write(&c->write_req, reinterpret_cast<uv_stream_t*>(&c->tcp), bufs.data(),
                    static_cast<unsigned>(bufs.size()), on_write_done);
  if (rc != 0) {
    c->writing = false;
    close_conn(c, std::string("write: ") + uv_strerror(rc), LogLevel::kWarning);
  }
}

void PeerTransport::on_write_done(uv_write_t* req, int status) {
  auto* c = static_cast<Conn*>(req->data);
  c->writing = false;
  if (c->closing) {
    std::vector<std::string>().swap(c->in_flight);
    return;
  }
  PeerTransport* t = c->transport;
  if (status < 0) {
    t->close_conn(c, std::string("write: ") + uv_strerror(status), LogLevel::kWarning);
    std::vector<std::string>().swap(c->in_flight);
    return;
  }
  std::vector<std::string>().swap(c->in_flight);
  if (c->inbound && !c->pending_out.empty()) {
    t->write_frames(c, std::exchange(c->pending_out, {}));
    return;
  }
  if (c->tls && c->tls->has_output()) t->write_frames(c, {});
  Peer* p = c->peer;
  if (p == nullptr || c->inbound) return;
  p->queue_bytes -= c->in_flight_bytes;
  p->stats.messages_sent += c->in_flight_messages;
  p->stats.bytes_sent += c->in_flight_bytes;
  c->in_flight_messages = c->in_flight_bytes = 0;
  if (!p->queue.empty()) t->flush_peer(*p);
}

uint64_t PeerTransport::buffer_bytes() const {
  uint64_t n = 0;
  for (const auto& [id, p] : peers_) {
    n += p->queue_bytes;
    for (const Conn* c : {p->out, p->in})
      if (c) n += c->decoder.heap_bytes() + kReadBufferSize;
  }
  return n;
}

std::vector<PeerStats> PeerTransport::stats() const {
  std::vector<PeerStats> out;
  out.reserve(peers_.size());
  for (const auto& [id, p] : peers_) {
    out.push_back(p->stats);
    out.back().queue_bytes = p->queue_bytes;
  }
  std::sort(out.begin(), out.end(),
            [](const PeerStats& a, const PeerStats& b) { return a.id < b.id; });
  return out;
}

void PeerTransport::close() {
  if (closed_) return;
  closed_ = true;
  if (listener_ != nullptr) {
    close_and_delete(listener_);
    listener_ = nullptr;
  }
  uv_prepare_stop(flush_prepare_);
  close_and_delete(flush_prepare_);
  flush_prepare_ = nullptr;
  uv_check_stop(flush_check_);
  close_and_delete(flush_check_);
  flush_check_ = nullptr;
  std::vector<Conn*> pending(pending_inbound_.begin(), pending_inbound_.end());
  for (Conn* c : pending)
    close_conn(c, "", LogLevel::kVerbose);
  std::vector<NodeId> ids;
  for (const auto& [id, p] : peers_)
    ids.push_back(id);
  for (NodeId id : ids)
    remove_peer(id);
  dirty_.clear();
}

}  // namespace kvraft
