// tests/unit/server_peer_transport_test.cc — the Raft peer transport
// (src/peer_transport.h) in-process: several PeerTransports on one libuv
// loop talking over loopback, plus raw sockets playing misbehaving peers.
// The loop is driven with UV_RUN_ONCE (a 2 ms ticker keeps it from
// blocking) until a condition holds or a deadline passes.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "raft/message.h"
#include "raft/wire.h"
#include "src/log.h"
#include "src/peer_auth.h"
#include "src/peer_transport.h"
#include "tests/support/test_support.h"

namespace kvraft {
namespace {

using namespace std::chrono_literals;
using raft::Message;
using raft::MessageType;
using raft::NodeId;
namespace wire = raft::wire;

const char kCluster[] = "test-cluster";

class Loop {
 public:
  Loop() {
    uv_loop_init(&loop_);
    uv_timer_init(&loop_, &ticker_);
    uv_timer_start(
        &ticker_, [](uv_timer_t*) {}, 2, 2);
  }
  ~Loop() {
    uv_close(reinterpret_cast<uv_handle_t*>(&ticker_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);  // lets every closed handle finish
    CHECK(uv_loop_close(&loop_) == 0);
  }
  uv_loop_t* get() { return &loop_; }
  bool run_until(const std::function<bool()>& done,
                 std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      uv_run(&loop_, UV_RUN_ONCE);
    }
    return true;
  }
  void run_for(std::chrono::milliseconds d) {
    auto deadline = std::chrono::steady_clock::now() + d;
    run_until([&] { return std::chrono::steady_clock::now() > deadline; }, d + 1s);
  }

 private:
  uv_loop_t loop_;
  uv_timer_t ticker_;
};

TransportOptions options_for(NodeId id, int port) {
  TransportOptions o;
  o.self = id;
  o.cluster_id = kCluster;
  o.secret = "s3cret";
  o.port = port;
  o.reconnect_min_ms = 10;
  o.reconnect_max_ms = 100;
  // Generous: a connection torn down by a deadline loses what was in flight,
  // and tests that count every message must not depend on how busy the
  // machine is. The deadline itself is tested with a short one.
  o.handshake_timeout_ms = 10000;
  return o;
}

// A node: its transport and everything it received.
struct Node {
  Node(Loop& loop, NodeId id, int port,
       const std::function<void(TransportOptions&)>& tweak = nullptr)
      : id(id), port(port) {
    TransportOptions o = options_for(id, port);
    if (tweak) tweak(o);
    transport = std::make_unique<PeerTransport>(loop.get(), o,
                                                [this](Message m) { received.push_back(m); });
    std::string error;
    REQUIRE_MESSAGE(transport->listen(&error), error);
    CHECK(transport->port() == port);
  }
  PeerStats stats_for(NodeId peer) const {
    for (const PeerStats& s : transport->stats())
      if (s.id == peer) return s;
    FAIL("no stats for peer " << peer);
    return {};
  }
  NodeId id;
  int port;
  std::vector<Message> received;
  std::unique_ptr<PeerTransport> transport;
};

std::string describe(const PeerStats& s) {
  return "peer " + std::to_string(s.id) + " connected=" + std::to_string(s.connected) +
         " inbound=" + std::to_string(s.inbound) + " sent=" + std::to_string(s.messages_sent) +
         " received=" + std::to_string(s.messages_received) +
         " dropped=" + std::to_string(s.dropped) + " queue=" + std::to_string(s.queue_bytes) +
         " reconnects=" + std::to_string(s.reconnects) + " last_error='" + s.last_error + "'";
}

PeerAddress addr(const Node& n) {
  return {n.id, "127.0.0.1", n.port};
}

Message heartbeat(NodeId from, NodeId to, uint64_t seq) {
  Message m;
  m.type = MessageType::kHeartbeat;
  m.from = from;
  m.to = to;
  m.term = 7;
  m.commit = seq;
  m.lease_tick = seq;
  return m;
}

// One message of every type with every field it uses set (and some it does
// not: the transport must carry any Message unchanged).
std::vector<Message> every_type(NodeId from, NodeId to) {
  std::vector<Message> out;
  for (int t = 1; t <= 13; ++t) {
    Message m;
    m.type = static_cast<MessageType>(t);
    m.from = from;
    m.to = to;
    m.term = 100 + t;
    m.log_term = 50 + t;
    m.index = 1000 + t;
    m.commit = 900 + t;
    m.reject = t % 2 == 0;
    m.reject_hint = t % 3 == 0 ? 77 : 0;
    m.transfer = t == 3;
    m.context = "ctx-" + std::to_string(t);
    m.lease_tick = 123456789ull * t;
    if (m.type == MessageType::kApp) {
      for (int i = 0; i < 5; ++i) {
        raft::Entry e;
        e.index = 1001 + i;
        e.term = 9;
        e.type = i == 2 ? raft::EntryType::kConfChange : raft::EntryType::kNormal;
        e.data = std::string(static_cast<size_t>(i) * 10, static_cast<char>('a' + i));
        m.entries.push_back(e);
      }
    }
    if (m.type == MessageType::kSnap || m.type == MessageType::kSnapResp) {
      m.snapshot.index = 500;
      m.snapshot.term = 4;
      m.snapshot.conf.voters = {1, 2, 3};
      m.snapshot.conf.learners = {4};
      m.offset = 4096;
      m.snapshot_size = 1 << 20;
      m.data = "chunk";
      m.done = true;
    }
    out.push_back(m);
  }
  return out;
}

// A raw TCP client playing a peer that misbehaves.
class RawPeer {
 public:
  explicit RawPeer(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    REQUIRE(connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  ~RawPeer() { ::close(fd_); }
  void write_all(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        usleep(1000);
        continue;
      }
      if (n <= 0) return;  // closed by the server: fine for these tests
      off += static_cast<size_t>(n);
    }
  }
  // True once the server closed the connection (reads what it sent so far).
  bool closed() {
    char buf[4096];
    for (;;) {
      ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0) return true;
      if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
      received_.append(buf, static_cast<size_t>(n));
    }
  }
  const std::string& received() const { return received_; }

 private:
  int fd_ = -1;
  std::string received_;
};

const std::string kRawNonce = "raw-peer-nonce-!";  // kPeerNonceSize bytes

// The connector's handshake of raw node `id` to node `acceptor`, proving
// `secret` against the acceptor's challenge nonce (a wrong or missing
// challenge nonce gives a proof that does not verify).
std::string handshake(NodeId id, const std::string& cluster = kCluster,
                      const std::string& secret = "s3cret", uint32_t version = wire::kWireVersion,
                      const std::string& acceptor_nonce = "", NodeId acceptor = 1) {
  wire::Handshake hs;
  hs.cluster_id = cluster;
  hs.node_id = id;
  hs.nonce = kRawNonce;
  hs.proof =
      peer_proof(secret, cluster, PeerRole::kConnector, id, acceptor, kRawNonce, acceptor_nonce);
  hs.protocol_version = version;
  std::string out;
  wire::encode_handshake(hs, &out);
  return out;
}

// The handshake frames in `bytes` (as many as are complete).
std::vector<wire::Handshake> handshakes_in(const std::string& bytes) {
  wire::FrameDecoder d;
  d.feed(bytes);
  std::vector<wire::Handshake> out;
  wire::Frame f;
  while (d.next(&f) == wire::FrameDecoder::Status::kFrame)
    if (auto* hs = std::get_if<wire::Handshake>(&f)) out.push_back(*hs);
  return out;
}

std::string frame(const Message& m) {
  std::string out;
  wire::encode_message(m, &out);
  return out;
}

// Routes log lines to a file for the duration of a test.
class CapturedLog {
 public:
  CapturedLog() : path_(dir_.file("log")) { REQUIRE(set_log_file(path_)); }
  ~CapturedLog() { set_log_file(""); }
  std::string text() const { return test::read_file(path_); }
  size_t count(const std::string& needle) const {
    std::string t = text();
    size_t n = 0;
    for (size_t at = t.find(needle); at != std::string::npos; at = t.find(needle, at + 1))
      ++n;
    return n;
  }

 private:
  test::TempDir dir_{"kvraft-transport-log"};
  std::string path_;
};

TEST_CASE("messages of every type arrive intact and in order in both directions") {
  Loop loop;
  Node a(loop, 1, test::free_port());
  Node b(loop, 2, test::free_port());
  a.transport->set_peers({addr(a), addr(b)});  // self is ignored
  b.transport->set_peers({addr(a), addr(b)});
  REQUIRE(a.transport->stats().size() == 1);

  std::vector<Message> a_to_b = every_type(1, 2);
  std::vector<Message> b_to_a = every_type(2, 1);
  // Many small messages, interleaved with the typed ones.
  for (uint64_t i = 0; i < 2000; ++i) {
    a_to_b.push_back(heartbeat(1, 2, i));
    b_to_a.push_back(heartbeat(2, 1, i));
  }
  // Large entries and a 1 MiB snapshot chunk.
  Message big;
  big.type = MessageType::kApp;
  big.from = 1;
  big.to = 2;
  big.term = 3;
  for (int i = 0; i < 8; ++i) {
    raft::Entry e;
    e.index = static_cast<raft::Index>(i + 1);
    e.term = 3;
    e.data = std::string(256 * 1024, static_cast<char>('A' + i));
    big.entries.push_back(e);
  }
  a_to_b.push_back(big);
  Message snap;
  snap.type = MessageType::kSnap;
  snap.from = 2;
  snap.to = 1;
  snap.term = 5;
  snap.snapshot.index = 10;
  snap.snapshot.term = 5;
  snap.snapshot.conf.voters = {1, 2};
  snap.snapshot_size = 1 << 20;
  snap.data.resize(1 << 20);
  for (size_t i = 0; i < snap.data.size(); ++i)
    snap.data[i] = static_cast<char>(i * 131 + 7);
  snap.done = true;
  b_to_a.push_back(snap);

  // Sent before any connection exists: queued, then delivered.
  for (const Message& m : a_to_b)
    a.transport->send(m);
  for (const Message& m : b_to_a)
    b.transport->send(m);
  const bool delivered = loop.run_until(
      [&] { return a.received.size() >= b_to_a.size() && b.received.size() >= a_to_b.size(); });
  if (!delivered) {
    MESSAGE("a: " << describe(a.stats_for(2)) << " got " << a.received.size());
    MESSAGE("b: " << describe(b.stats_for(1)) << " got " << b.received.size());
  }
  REQUIRE(delivered);
  CHECK(b.received == a_to_b);
  CHECK(a.received == b_to_a);

  // Write completions are reported an iteration after the bytes left.
  REQUIRE(loop.run_until([&] { return a.stats_for(2).messages_sent == a_to_b.size(); }));
  PeerStats ab = a.stats_for(2);
  CHECK(ab.connected);
  CHECK(ab.inbound);
  CHECK(ab.messages_sent == a_to_b.size());
  CHECK(ab.messages_received == b_to_a.size());
  CHECK(ab.bytes_received > (1u << 20));
  CHECK(ab.dropped == 0);
  CHECK(ab.queue_bytes == 0);
  CHECK(b.stats_for(1).bytes_received == ab.bytes_sent);

  // Messages sent from inside the receive callback (a reply) go out too.
  b.received.clear();
  a.received.clear();
  b.transport = nullptr;  // rebuilt with an echoing callback
  loop.run_for(50ms);
  TransportOptions bo = options_for(2, b.port);
  PeerTransport* echo = nullptr;
  auto echo_owner = std::make_unique<PeerTransport>(loop.get(), bo, [&](Message m) {
    b.received.push_back(m);
    std::swap(m.from, m.to);
    echo->send(m);
  });
  echo = echo_owner.get();
  std::string error;
  REQUIRE(echo->listen(&error));
  echo->set_peers({addr(a)});
  for (uint64_t i = 0; i < 100; ++i)
    a.transport->send(heartbeat(1, 2, i));
  REQUIRE(loop.run_until([&] { return a.received.size() >= 100; }));
  for (uint64_t i = 0; i < 100; ++i)
    CHECK(a.received[i] == heartbeat(2, 1, i));
}

TEST_CASE("a burst of sends is written with one uv_write") {
  Loop loop;
  Node a(loop, 1, test::free_port());
  Node b(loop, 2, test::free_port());
  a.transport->set_peers({addr(b)});
  b.transport->set_peers({addr(a)});
  a.transport->send(heartbeat(1, 2, 0));
  REQUIRE(loop.run_until([&] { return a.stats_for(2).messages_sent == 1; }));
  const uint64_t writes = a.stats_for(2).writes;
  std::vector<Message> burst = every_type(1, 2);
  for (uint64_t i = 0; burst.size() < 100; ++i)
    burst.push_back(heartbeat(1, 2, i));
  for (const Message& m : burst)
    a.transport->send(m);
  REQUIRE(loop.run_until([&] { return b.received.size() == 101; }));
  CHECK(std::vector<Message>(b.received.begin() + 1, b.received.end()) == burst);
  CHECK(a.stats_for(2).writes == writes + 1);
}

// A peer that completes the handshake and then never reads: what a stuck
// process looks like from the network.
class StalledPeer {
 public:
  explicit StalledPeer(int port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listen_fd_ >= 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    REQUIRE(bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    REQUIRE(::listen(listen_fd_, 4) == 0);
    fcntl(listen_fd_, F_SETFL, fcntl(listen_fd_, F_GETFL) | O_NONBLOCK);
  }
  ~StalledPeer() {
    if (fd_ >= 0) ::close(fd_);
    ::close(listen_fd_);
  }
  // Accepts the connection, challenges it and answers the connector's
  // handshake as node `id` with a valid proof; true once done (call it
  // repeatedly while the loop runs). Never reads anything after that.
  bool accept_and_answer(NodeId id) {
    if (fd_ < 0) fd_ = accept(listen_fd_, nullptr, nullptr);
    if (fd_ < 0) return false;
    wire::Handshake hs;
    hs.cluster_id = kCluster;
    hs.node_id = id;
    hs.nonce = kRawNonce;
    if (!challenged_) {
      std::string out;
      wire::encode_handshake(hs, &out);
      challenged_ = send_bytes(out);
      return false;
    }
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) in_.append(buf, static_cast<size_t>(n));
    std::vector<wire::Handshake> got = handshakes_in(in_);
    if (got.empty()) return false;
    hs.proof = peer_proof("s3cret", kCluster, PeerRole::kAcceptor, got[0].node_id, id, got[0].nonce,
                          kRawNonce);
    std::string out;
    wire::encode_handshake(hs, &out);
    return send_bytes(out);
  }
  bool send_bytes(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }

 private:
  int listen_fd_ = -1;
  int fd_ = -1;
  bool challenged_ = false;
  std::string in_;  // what the connector sent (its handshake)
};

TEST_CASE("a peer that stops reading fills only its own bounded queue") {
  Loop loop;
  const size_t bound = 1 << 20;
  const int stalled_port = test::free_port();
  StalledPeer stalled(stalled_port);
  Node a(loop, 1, test::free_port(), [&](TransportOptions& o) { o.max_queue_bytes = bound; });
  Node c(loop, 3, test::free_port());
  a.transport->set_peers({{2, "127.0.0.1", stalled_port}, addr(c)});
  c.transport->set_peers({addr(a)});
  REQUIRE(loop.run_until([&] { return stalled.accept_and_answer(2); }));
  REQUIRE(loop.run_until([&] { return a.stats_for(2).connected; }));

  Message big = heartbeat(1, 2, 0);
  big.context = std::string(64 * 1024, 'z');
  uint64_t sent_to_c = 0;
  // 64 MiB offered to the stalled peer, far beyond socket buffers and the
  // bound; c keeps receiving all along.
  for (int round = 0; round < 64; ++round) {
    for (int i = 0; i < 16; ++i)
      a.transport->send(big);
    a.transport->send(heartbeat(1, 3, ++sent_to_c));
    REQUIRE(loop.run_until([&] { return c.received.size() == sent_to_c; }, 5s));
  }
  PeerStats s = a.stats_for(2);
  CHECK(s.connected);
  CHECK(s.queue_bytes <= bound + frame(big).size());
  CHECK(s.dropped > 0);
  CHECK(s.messages_sent + s.dropped + s.queue_bytes / frame(big).size() <= 64 * 16);
  CHECK(a.stats_for(3).dropped == 0);
}

TEST_CASE("a peer that sends messages on our outbound connection is disconnected") {
  Loop loop;
  CapturedLog log;
  const int port = test::free_port();
  StalledPeer peer(port);
  Node a(loop, 1, test::free_port());
  a.transport->set_peers({{2, "127.0.0.1", port}});
  REQUIRE(loop.run_until([&] { return peer.accept_and_answer(2); }));
  REQUIRE(loop.run_until([&] { return a.stats_for(2).connected; }));
  REQUIRE(peer.send_bytes(frame(heartbeat(2, 1, 1))));
  REQUIRE(loop.run_until([&] { return !a.stats_for(2).connected; }));
  CHECK(log.count("peer sent a message on our outbound connection") == 1);
  CHECK(a.received.empty());
}

TEST_CASE("a peer that starts later is connected to, and one that restarts is reconnected") {
  Loop loop;
  const int port_b = test::free_port();
  Node a(loop, 1, test::free_port());
  a.transport->set_peers({{2, "127.0.0.1", port_b}});
  for (uint64_t i = 0; i < 10; ++i)
    a.transport->send(heartbeat(1, 2, i));
  // Nobody listens yet: connection attempts fail and are retried.
  REQUIRE(loop.run_until([&] { return a.stats_for(2).reconnects >= 2; }));
  CHECK_FALSE(a.stats_for(2).connected);
  CHECK(a.stats_for(2).last_error.find("connect") != std::string::npos);
  CHECK(a.stats_for(2).queue_bytes > 0);

  auto b = std::make_unique<Node>(loop, 2, port_b);
  b->transport->set_peers({addr(a)});
  REQUIRE(loop.run_until([&] { return b->received.size() >= 10; }));
  for (uint64_t i = 0; i < 10; ++i)
    CHECK(b->received[i] == heartbeat(1, 2, i));
  // "connected" means b's answering handshake was verified too.
  REQUIRE(loop.run_until([&] { return a.stats_for(2).connected; }));

  // Restart b: a notices the closed connection and reconnects.
  b = nullptr;
  REQUIRE(loop.run_until([&] { return !a.stats_for(2).connected; }));
  const uint64_t reconnects = a.stats_for(2).reconnects;
  b = std::make_unique<Node>(loop, 2, port_b);
  b->transport->set_peers({addr(a)});
  REQUIRE(loop.run_until([&] { return a.stats_for(2).connected; }));
  CHECK(a.stats_for(2).reconnects > reconnects);
  // Messages in flight when b went down may be lost; new ones arrive.
  a.transport->send(heartbeat(1, 2, 99));
  REQUIRE(loop.run_until([&] { return !b->received.empty(); }));
  CHECK(b->received.back() == heartbeat(1, 2, 99));
}

TEST_CASE("bad handshakes, garbage and forged senders are refused; good peers keep working") {
  Loop loop;
  CapturedLog log;
  Node a(loop, 1, test::free_port(), [](TransportOptions& o) { o.handshake_timeout_ms = 300; });
  Node b(loop, 2, test::free_port());
  a.transport->set_peers({addr(b), {3, "127.0.0.1", test::free_port()}});
  b.transport->set_peers({addr(a)});

  struct Case {
    const char* name;
    std::string bytes;
    const char* logged;  // the reason in the single log line
  };
  // Node 3 is configured on a (nothing runs there), so raw peers can claim
  // it without disturbing b's connection.
  Message forged = heartbeat(2, 1, 1);  // node 2's message on node 3's connection
  std::string http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string huge = std::string("KVR", 3) + static_cast<char>(wire::kWireVersion) + "\x07" +
                     std::string("\xff\xff\xff\x7f", 4);
  std::string random_bytes;
  for (int i = 0; i < 5000; ++i)
    random_bytes += static_cast<char>((i * 7919 + 13) % 251);
  // The cases of a connection whose challenge carried nonce `n`: the
  // handshakes that should pass the proof check prove the secret against it.
  auto cases_for = [&](const std::string& n) {
    std::string bad_checksum = handshake(2, kCluster, "s3cret", wire::kWireVersion, n);
    bad_checksum.back() ^= 1;
    std::string future_frame = handshake(3, kCluster, "s3cret", wire::kWireVersion, n);
    future_frame[3] = static_cast<char>(wire::kWireVersion + 1);
    auto good = [&](NodeId id) { return handshake(id, kCluster, "s3cret", wire::kWireVersion, n); };
    return std::vector<Case>{
        {"old protocol", handshake(3, kCluster, "s3cret", 0), "peer speaks protocol version 0"},
        {"frame version", future_frame, "unsupported wire version"},
        {"wrong cluster", handshake(2, "other-cluster"), "wrong cluster id 'other-cluster'"},
        {"wrong secret", handshake(2, kCluster, "guess", wire::kWireVersion, n),
         "wrong shared secret"},
        {"no secret", handshake(2, kCluster, "", wire::kWireVersion, n), "wrong shared secret"},
        {"replayed proof", handshake(2), "wrong shared secret"},  // made for another challenge
        {"unknown node", handshake(9), "unknown node id 9"},
        {"own id", handshake(1), "this node's own id 1"},
        {"http request", http, "bad magic"},
        {"random bytes", random_bytes, "bad magic"},
        {"huge length", huge, "frame too large"},
        {"bad checksum", bad_checksum, "checksum mismatch"},
        {"message before handshake", frame(heartbeat(2, 1, 1)), "before the handshake"},
        {"forged sender", good(3) + frame(forged), "message from node 2 on node 3's"},
        {"wrong recipient", good(3) + frame(heartbeat(3, 5, 1)), "addressed to node 5"},
        {"silence", "", "no handshake within 300 ms"},
        {"half a handshake", good(2).substr(0, 10), "no handshake within 300 ms"},
    };
  };
  uint64_t seq = 0;
  for (size_t i = 0; i < cases_for("").size(); ++i) {
    RawPeer raw(a.port);
    // a speaks first: its challenge.
    REQUIRE(loop.run_until([&] { return raw.closed() || !handshakes_in(raw.received()).empty(); }));
    std::vector<wire::Handshake> challenge = handshakes_in(raw.received());
    REQUIRE(challenge.size() == 1);
    CHECK(challenge[0].node_id == 1);
    CHECK(challenge[0].nonce.size() == kPeerNonceSize);
    CHECK(challenge[0].proof.empty());
    const Case c = cases_for(challenge[0].nonce)[i];
    std::string case_name = c.name;
    CAPTURE(case_name);
    const size_t before = log.count(c.logged);
    raw.write_all(c.bytes);
    REQUIRE(loop.run_until([&] { return raw.closed(); }, 5s));
    CHECK(log.count(c.logged) == before + 1);
    CHECK(log.text().find("Raft peer connection from 127.0.0.1:") != std::string::npos);
    // Nothing from the raw peer was delivered, and b still gets through.
    b.transport->send(heartbeat(2, 1, ++seq));
    REQUIRE(loop.run_until([&] { return a.received.size() == seq; }));
    CHECK(a.received.back() == heartbeat(2, 1, seq));
  }

  // A correct handshake is answered with a's own proof, and the secret
  // itself never crosses the wire.
  {
    RawPeer raw(a.port);
    REQUIRE(loop.run_until([&] { return raw.closed() || !handshakes_in(raw.received()).empty(); }));
    std::string nonce = handshakes_in(raw.received())[0].nonce;
    raw.write_all(handshake(3, kCluster, "s3cret", wire::kWireVersion, nonce));
    REQUIRE(loop.run_until(
        [&] { return raw.closed() || handshakes_in(raw.received()).size() == 2; }, 5s));
    std::vector<wire::Handshake> got = handshakes_in(raw.received());
    REQUIRE(got.size() == 2);
    CHECK(got[1].node_id == 1);
    CHECK(got[1].nonce == nonce);
    CHECK(got[1].proof ==
          peer_proof("s3cret", kCluster, PeerRole::kAcceptor, 3, 1, kRawNonce, nonce));
    CHECK(raw.received().find("s3cret") == std::string::npos);
  }
  b.transport->send(heartbeat(2, 1, ++seq));
  REQUIRE(loop.run_until([&] { return a.received.size() == seq; }));
  // The refused connections left no half-open state behind.
  CHECK(a.stats_for(2).inbound);
  CHECK(a.stats_for(2).messages_received == seq);
}

TEST_CASE("an outbound connection is closed when the peer answers as another node") {
  Loop loop;
  CapturedLog log;
  const int port = test::free_port();
  Node a(loop, 1, test::free_port());
  // a believes node 2 lives at `port`, but node 3 does.
  Node c(loop, 3, port);
  c.transport->set_peers({addr(a)});
  a.transport->set_peers({{2, "127.0.0.1", port}});
  a.transport->send(heartbeat(1, 2, 1));
  // a sees it in c's challenge and never sends it anything.
  REQUIRE(loop.run_until([&] { return log.count("answered as node 3, expected node 2") >= 1; }));
  loop.run_for(100ms);
  CHECK(c.received.empty());
  CHECK(a.stats_for(2).last_error.find("node") != std::string::npos);
}

TEST_CASE("a peer of another cluster is refused") {
  Loop loop;
  CapturedLog log;
  Node a(loop, 1, test::free_port());
  Node b(loop, 2, test::free_port(), [](TransportOptions& o) { o.cluster_id = "elsewhere"; });
  a.transport->set_peers({addr(b)});
  b.transport->set_peers({addr(a)});
  a.transport->send(heartbeat(1, 2, 1));
  b.transport->send(heartbeat(2, 1, 1));
  REQUIRE(loop.run_until([&] {
    return log.count("wrong cluster id 'test-cluster' (this node is in 'elsewhere')") >= 1 &&
           log.count("wrong cluster id 'elsewhere' (this node is in 'test-cluster')") >= 1;
  }));
  loop.run_for(100ms);
  CHECK(a.received.empty());
  CHECK(b.received.empty());
  CHECK_FALSE(a.stats_for(2).inbound);
}

TEST_CASE("nodes with different cluster secrets refuse each other; same secret connects") {
  Loop loop;
  CapturedLog log;
  Node a(loop, 1, test::free_port());
  Node b(loop, 2, test::free_port(), [](TransportOptions& o) { o.secret = "other"; });
  Node c(loop, 3, test::free_port());
  a.transport->set_peers({addr(b), addr(c)});
  b.transport->set_peers({addr(a), addr(c)});
  c.transport->set_peers({addr(a), addr(b)});
  a.transport->send(heartbeat(1, 2, 1));
  b.transport->send(heartbeat(2, 1, 1));
  a.transport->send(heartbeat(1, 3, 1));
  REQUIRE(loop.run_until([&] { return c.received.size() == 1; }));
  // Each side refuses the other's proof; nothing crosses.
  REQUIRE(loop.run_until([&] { return log.count("wrong shared secret") >= 2; }));
  loop.run_for(200ms);
  CHECK(a.received.empty());
  CHECK(b.received.empty());
  CHECK_FALSE(a.stats_for(2).connected);
  CHECK(a.stats_for(3).connected);
  // A node without any secret is refused by one with a secret.
  Node d(loop, 4, test::free_port(), [](TransportOptions& o) { o.secret = ""; });
  a.transport->set_peers({addr(b), addr(c), addr(d)});
  d.transport->set_peers({addr(a)});
  d.transport->send(heartbeat(4, 1, 1));
  loop.run_for(300ms);
  CHECK(a.received.empty());
}

TEST_CASE("the proof binds secret, direction, both nodes, both nonces and the cluster") {
  const std::string n1(kPeerNonceSize, 'a'), n2(kPeerNonceSize, 'b');
  std::string p = peer_proof("s", "c", PeerRole::kConnector, 1, 2, n1, n2);
  CHECK(p.size() == 32);  // HMAC-SHA256
  CHECK(peer_proof_matches(p, peer_proof("s", "c", PeerRole::kConnector, 1, 2, n1, n2)));
  CHECK_FALSE(peer_proof_matches(p, peer_proof("t", "c", PeerRole::kConnector, 1, 2, n1, n2)));
  CHECK_FALSE(peer_proof_matches(p, peer_proof("s", "d", PeerRole::kConnector, 1, 2, n1, n2)));
  CHECK_FALSE(peer_proof_matches(p, peer_proof("s", "c", PeerRole::kAcceptor, 1, 2, n1, n2)));
  CHECK_FALSE(peer_proof_matches(p, peer_proof("s", "c", PeerRole::kConnector, 2, 1, n1, n2)));
  CHECK_FALSE(peer_proof_matches(p, peer_proof("s", "c", PeerRole::kConnector, 1, 2, n2, n1)));
  CHECK_FALSE(peer_proof_matches(p, p.substr(0, 31)));
  CHECK_FALSE(peer_proof_matches(p, ""));
  CHECK(make_peer_nonce().size() == kPeerNonceSize);
  CHECK(make_peer_nonce() != make_peer_nonce());
}

TEST_CASE("a dead peer's queue is bounded: excess messages are dropped and counted") {
  Loop loop;
  const size_t bound = 64 * 1024;
  Node a(loop, 1, test::free_port(), [&](TransportOptions& o) {
    o.max_queue_bytes = bound;
    o.drop_when_down_ms = 60000;
  });
  a.transport->set_peers({{2, "127.0.0.1", test::free_port()}});  // nobody there
  Message m = heartbeat(1, 2, 0);
  m.context = std::string(1000, 'x');
  const size_t frame_size = frame(m).size();
  const uint64_t n = 1000;
  for (uint64_t i = 0; i < n; ++i)
    a.transport->send(m);
  loop.run_for(100ms);
  PeerStats s = a.stats_for(2);
  CHECK(s.queue_bytes <= bound);
  CHECK(s.queue_bytes == (bound / frame_size) * frame_size);
  CHECK(s.dropped == n - bound / frame_size);

  // Sends to unknown peers are dropped too.
  a.transport->send(heartbeat(1, 42, 0));
  CHECK(a.transport->dropped_unknown() == 1);
}

TEST_CASE("a peer down for longer than drop_when_down_ms loses its queue") {
  Loop loop;
  Node a(loop, 1, test::free_port(), [](TransportOptions& o) { o.drop_when_down_ms = 200; });
  a.transport->set_peers({{2, "127.0.0.1", test::free_port()}});
  for (uint64_t i = 0; i < 10; ++i)
    a.transport->send(heartbeat(1, 2, i));
  CHECK(a.stats_for(2).queue_bytes > 0);
  REQUIRE(loop.run_until([&] { return a.stats_for(2).queue_bytes == 0; }, 3s));
  CHECK(a.stats_for(2).dropped == 10);
  a.transport->send(heartbeat(1, 2, 11));
  CHECK(a.stats_for(2).dropped == 11);
  CHECK(a.stats_for(2).queue_bytes == 0);
}

TEST_CASE("set_peers removing a peer closes its connections and refuses it afterwards") {
  Loop loop;
  Node a(loop, 1, test::free_port());
  Node b(loop, 2, test::free_port());
  Node c(loop, 3, test::free_port());
  a.transport->set_peers({addr(b), addr(c)});
  b.transport->set_peers({addr(a)});
  c.transport->set_peers({addr(a)});
  a.transport->send(heartbeat(1, 2, 1));
  a.transport->send(heartbeat(1, 3, 1));
  b.transport->send(heartbeat(2, 1, 1));
  REQUIRE(loop.run_until([&] {
    return b.received.size() == 1 && c.received.size() == 1 && a.received.size() == 1 &&
           b.stats_for(1).inbound;
  }));

  a.transport->set_peers({addr(c)});
  REQUIRE(a.transport->stats().size() == 1);
  // b's inbound connection from a and its outbound one to a both close; a
  // now refuses b's reconnections.
  REQUIRE(loop.run_until([&] { return !b.stats_for(1).inbound && !b.stats_for(1).connected; }));
  const uint64_t reconnects = b.stats_for(1).reconnects;
  REQUIRE(loop.run_until([&] { return b.stats_for(1).reconnects > reconnects + 1; }));
  b.transport->send(heartbeat(2, 1, 2));
  loop.run_for(100ms);
  CHECK(a.received.size() == 1);
  a.transport->send(heartbeat(1, 2, 2));
  CHECK(a.transport->dropped_unknown() == 1);

  // c is unaffected.
  a.transport->send(heartbeat(1, 3, 2));
  REQUIRE(loop.run_until([&] { return c.received.size() == 2; }));

  // Adding b back restores both directions.
  a.transport->set_peers({addr(b), addr(c)});
  a.transport->send(heartbeat(1, 2, 3));
  REQUIRE(loop.run_until([&] { return b.received.size() == 2; }));
  CHECK(b.received.back() == heartbeat(1, 2, 3));
  b.transport->send(heartbeat(2, 1, 3));
  // b sends nothing before a's proof verified, so its message from while it
  // was refused waited in its queue instead of being lost in flight.
  REQUIRE(loop.run_until(
      [&] { return a.received.size() >= 2 && a.received.back() == heartbeat(2, 1, 3); }));
  CHECK(a.received.size() <= 3);
}

TEST_CASE("close() releases every handle and makes later calls harmless") {
  Loop loop;
  Node a(loop, 1, test::free_port());
  Node b(loop, 2, test::free_port());
  a.transport->set_peers({addr(b)});
  b.transport->set_peers({addr(a)});
  a.transport->send(heartbeat(1, 2, 1));
  REQUIRE(loop.run_until([&] { return b.received.size() == 1; }));
  a.transport->close();
  a.transport->close();
  a.transport->send(heartbeat(1, 2, 2));
  a.transport->set_peers({addr(b)});
  CHECK(a.transport->stats().empty());
  REQUIRE(loop.run_until([&] { return !b.stats_for(1).inbound; }));
  CHECK_FALSE(test::port_open(a.port));
  // The Loop destructor checks uv_loop_close succeeds: nothing leaked.
}

TEST_CASE("outbound connections leave from the node's own bind address") {
  // Per-address firewall rules (tests/faults) rely on this: node 1 on
  // 127.0.0.21 must reach a peer on 127.0.0.22 from 127.0.0.21, not from
  // the kernel's default loopback source 127.0.0.1.
  Loop loop;
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  REQUIRE(listener >= 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.22", &sa.sin_addr);
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  REQUIRE(::listen(listener, 4) == 0);
  socklen_t len = sizeof sa;
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&sa), &len) == 0);
  Node a(loop, 1, test::free_port(), [](TransportOptions& o) { o.bind_host = "127.0.0.21"; });
  a.transport->set_peers({{2, "127.0.0.22", ntohs(sa.sin_port)}});
  int accepted = -1;
  sockaddr_in from{};
  REQUIRE(loop.run_until([&] {
    socklen_t from_len = sizeof from;
    accepted = ::accept(listener, reinterpret_cast<sockaddr*>(&from), &from_len);
    return accepted >= 0;
  }));
  char ip[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &from.sin_addr, ip, sizeof ip);
  CHECK(std::string(ip) == "127.0.0.21");
  ::close(accepted);
  ::close(listener);
}

}  // namespace
}  // namespace kvraft
