// tests/fuzz/server_peer_handshake_fuzz.cc — libFuzzer target for the v2
// authenticated peer handshake as the acceptor runs it: a real PeerTransport
// (src/peer_transport.h, src/peer_auth.h) on a libuv loop in this process,
// fed over a loopback TCP connection.
//
// raft_wire_fuzz covers the frame codec alone; this target covers what the
// transport does with the frames: the challenge, check_handshake, the HMAC
// proof check, the acceptor's answer, and messages before and after
// verification. Per input the harness connects, reads the acceptor's
// challenge (its nonce), then, steered by the first input byte, sends a
// connector handshake it builds (with the correct proof or one taken from
// the input, a known, unknown or own node id, a right or wrong cluster id
// and nonce length) followed by the rest of the input as a raw stream
// (checksums optionally repaired, so mutated messages are decoded).
//
// Oracles, beyond "no crash, no sanitizer report": the transport delivers a
// message only after a handshake that carried the correct proof from the
// configured peer; it answers with its own proof only then, and that proof
// is the one the connector expects; every delivered message is from that
// peer and addressed to this node.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "raft/wire.h"
#include "src/log.h"
#include "src/peer_auth.h"
#include "src/peer_transport.h"
#include "tests/fuzz/wire_fuzz_util.h"

namespace {

using namespace kvraft;
namespace wire = raft::wire;

constexpr raft::NodeId kSelf = 1;
constexpr raft::NodeId kPeer = 2;
constexpr char kClusterId[] = "fuzz-cluster";
constexpr char kSecret[] = "fuzz-secret";
constexpr size_t kMaxFrame = 1 << 16;
constexpr size_t kProofSize = 32;  // HMAC-SHA256

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "server_peer_handshake_fuzz: %s\n", what);
    std::abort();
  }
}

// The acceptor under test, built once per process (a listener per input
// would exhaust ports). Node kPeer's address points at a closed port, so
// the transport's own dialling fails fast and never interferes.
struct Acceptor {
  uv_loop_t loop;
  std::unique_ptr<PeerTransport> transport;
  std::vector<raft::Message> delivered;

  Acceptor() {
    set_log_file("/dev/null");  // every refused handshake logs a warning
    uv_loop_init(&loop);
    TransportOptions o;
    o.self = kSelf;
    o.cluster_id = kClusterId;
    o.secret = kSecret;
    o.max_frame_size = kMaxFrame;
    o.reconnect_min_ms = 60'000;  // dial node kPeer rarely
    o.reconnect_max_ms = 60'000;
    transport = std::make_unique<PeerTransport>(
        &loop, o, [this](raft::Message m) { delivered.push_back(std::move(m)); });
    std::string error;
    check(transport->listen(&error), "listen failed");
    transport->set_peers({PeerAddress{kPeer, "127.0.0.1", 1}});
  }
};

Acceptor& acceptor() {
  static Acceptor* a = new Acceptor();  // never destroyed: the loop stays valid
  return *a;
}

// The harness's end of one connection: what the acceptor sent, decoded.
struct Client {
  int fd = -1;
  bool closed = false;  // the acceptor closed the connection
  wire::FrameDecoder from_acceptor{kMaxFrame};
  std::vector<wire::Handshake> handshakes;
  bool garbage = false;  // the acceptor sent bytes that do not decode

  // Runs the loop and drains the socket until `done()` or nothing happened
  // for a few rounds.
  template <typename Done>
  void pump(Done done) {
    Acceptor& a = acceptor();
    for (int idle = 0, rounds = 0; idle < 4 && rounds < 2000 && !done(); ++rounds) {
      int events = uv_run(&a.loop, UV_RUN_NOWAIT);
      char buf[65536];
      ssize_t n = closed ? 0 : recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        from_acceptor.feed(std::string_view(buf, static_cast<size_t>(n)));
        drain();
        idle = 0;
      } else if (n == 0 && !closed) {
        closed = true;
        idle = 0;
      } else {
        idle += events == 0 || closed ? 1 : 0;
        pollfd p{fd, POLLIN, 0};
        poll(&p, 1, 0);
      }
    }
  }
  void drain() {
    for (;;) {
      wire::Frame f;
      auto st = from_acceptor.next(&f);
      if (st == wire::FrameDecoder::Status::kNeedMore) return;
      if (st == wire::FrameDecoder::Status::kError) {
        garbage = true;
        return;
      }
      if (auto* hs = std::get_if<wire::Handshake>(&f))
        handshakes.push_back(*hs);
      else
        garbage = true;  // an acceptor sends no Message on an inbound connection
    }
  }
  void send_all(std::string_view bytes) {
    size_t off = 0;
    while (off < bytes.size() && !closed) {
      ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        off += static_cast<size_t>(n);
      } else {
        pump([] { return false; });  // let the acceptor read (or close)
        if (closed) return;
      }
    }
  }
};

std::string take(std::string_view& in, size_t n) {
  std::string out(in.substr(0, n));
  in.remove_prefix(std::min(n, in.size()));
  out.resize(n, '\0');
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Acceptor& a = acceptor();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const uint8_t flags = static_cast<uint8_t>(in[0]);
  in.remove_prefix(1);
  const bool build_handshake = flags & 1;
  const bool correct_proof = flags & 2;
  const bool repair = flags & 4;
  const raft::NodeId claimed_ids[] = {kPeer, 3, kSelf, raft::kNoNode};
  const raft::NodeId claimed = claimed_ids[(flags >> 3) & 3];
  const bool wrong_cluster = flags & 32;
  const bool short_nonce = flags & 64;

  Client c;
  c.fd = socket(AF_INET, SOCK_STREAM, 0);
  check(c.fd >= 0, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(a.transport->port()));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  // Hang-ups below reset the connection instead of leaving it in TIME_WAIT:
  // hundreds of inputs a second would otherwise exhaust the local ports.
  linger reset{1, 0};
  setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  check(connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0, "connect");
  a.delivered.clear();

  // The acceptor speaks first: its challenge, a nonce and no proof.
  c.pump([&] { return !c.handshakes.empty() || c.closed; });
  check(!c.handshakes.empty(), "no challenge from the acceptor");
  const wire::Handshake challenge = c.handshakes.front();
  check(challenge.proof.empty() && challenge.nonce.size() == kPeerNonceSize &&
            challenge.node_id == kSelf && challenge.cluster_id == kClusterId,
        "malformed challenge");

  bool authentic = false;  // we proved the secret as the configured peer
  std::string our_nonce;
  if (build_handshake) {
    wire::Handshake hs;
    hs.cluster_id = wrong_cluster ? std::string("other") : std::string(kClusterId);
    hs.node_id = claimed;
    our_nonce = take(in, short_nonce ? kPeerNonceSize - 1 : kPeerNonceSize);
    hs.nonce = our_nonce;
    std::string fuzz_proof = take(in, kProofSize);
    hs.proof = correct_proof ? peer_proof(kSecret, kClusterId, PeerRole::kConnector, claimed, kSelf,
                                          our_nonce, challenge.nonce)
                             : fuzz_proof;
    authentic = correct_proof && claimed == kPeer && !wrong_cluster && !short_nonce;
    std::string frame;
    wire::encode_handshake(hs, &frame);
    c.send_all(frame);
  }
  c.send_all(repair ? fuzz::repair_checksums(in, kMaxFrame) : std::string(in));
  c.pump([] { return false; });

  // Authentication holds whatever the bytes were.
  check(authentic || a.delivered.empty(), "message delivered without a verified handshake");
  check(!c.garbage, "the acceptor sent bytes that are not handshake frames");
  check(c.handshakes.size() <= 2, "more than a challenge and an answer");
  if (c.handshakes.size() == 2) {
    check(authentic, "the acceptor answered an unverified handshake");
    const wire::Handshake& answer = c.handshakes[1];
    check(answer.nonce == challenge.nonce, "the answer changed the acceptor's nonce");
    check(peer_proof_matches(peer_proof(kSecret, kClusterId, PeerRole::kAcceptor, kPeer, kSelf,
                                        our_nonce, challenge.nonce),
                             answer.proof),
          "the acceptor's proof does not verify");
  }
  for (const raft::Message& m : a.delivered)
    check(m.from == kPeer && m.to == kSelf, "delivered a message not from the peer to this node");

  // Hang up and let the acceptor notice, so connections do not pile up.
  close(c.fd);
  c.closed = true;
  for (int i = 0; i < 8; ++i)
    uv_run(&a.loop, UV_RUN_NOWAIT);
  return 0;
}
