// src/leader_proxy.cc — see leader_proxy.h.
#include "src/leader_proxy.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "resp/reply.h"
#include "resp/reply_scanner.h"
#include "src/config.h"
#include "src/log.h"
#include "src/peer_auth.h"
#include "src/proxy_auth.h"
#include "src/source_address.h"
#include "src/tls.h"

namespace kvraft {

namespace {

void append_command(std::string* out, const std::vector<std::string_view>& argv) {
  *out += '*';
  *out += std::to_string(argv.size());
  *out += "\r\n";
  for (auto a : argv) {
    *out += '$';
    *out += std::to_string(a.size());
    *out += "\r\n";
    out->append(a);
    *out += "\r\n";
  }
}

// The contents of a RESP bulk string reply; false for anything else.
bool bulk_contents(std::string_view reply, std::string_view* out) {
  size_t eol = reply.find("\r\n");
  if (reply.size() < 4 || reply[0] != '$' || eol == std::string_view::npos ||
      reply.size() < eol + 4 || reply.substr(reply.size() - 2) != "\r\n")
    return false;
  *out = reply.substr(eol + 2, reply.size() - eol - 4);
  return true;
}

// An error reply's text without '-' and CRLF (for messages).
std::string error_text(std::string_view reply) {
  if (reply.size() >= 3 && reply[0] == '-') return std::string(reply.substr(1, reply.size() - 3));
  return "an unexpected reply";
}

}  // namespace

struct LeaderProxy::Conn {
  // What a reply in `expected` answers.
  enum class Kind {
    kClient,     // a forwarded command: relayed to its client
    kDiscard,    // our own HELLO / SELECT / KVRAFT.PROXY-AS
    kChallenge,  // KVRAFT.PROXY-AUTH CHALLENGE
    kProof,      // KVRAFT.PROXY-AUTH <id> <nonce> <proof>
  };
  struct Expect {
    uint64_t client = 0;
    uint64_t slot = 0;
    Kind kind = Kind::kClient;
    bool written = false;  // handed to the socket
  };
  LeaderProxy* owner = nullptr;
  std::string address;
  bool use_tls = false;
  int protocol = 2;
  uv_tcp_t* handle = nullptr;
  uv_connect_t connect_req;
  uv_write_t write_req;
  bool connected = false;
  bool dead = false;
  bool writing = false;
  // False until the leader accepted our proof (secret mode): until then only
  // `preamble` is written and forwarded commands wait in `out`.
  bool ready = false;
  int db = 0;             // the database the leader-side connection runs in
  std::string user;       // the user it acts as (secret mode; "" before any)
  std::string preamble;   // authentication and HELLO, written before `out`
  std::string out;        // requests not yet handed to the socket
  std::string in_flight;  // the buffer of the write in progress
  std::string in;         // reply bytes (plaintext) not yet relayed
  std::deque<Expect> expected;
  std::unique_ptr<TlsSession> tls;  // set when use_tls, once connected
};

LeaderProxy::LeaderProxy(uv_loop_t* loop, const Config& config, Deliver deliver)
    : loop_(loop), config_(config), deliver_(std::move(deliver)) {}

LeaderProxy::~LeaderProxy() {
  close();
}

LeaderProxy::Conn* LeaderProxy::connection(const std::string& address, bool tls, int protocol) {
  for (auto& c : conns_)
    if (!c->dead && c->address == address && c->use_tls == tls && c->protocol == protocol)
      return c.get();
  auto conn = std::make_unique<Conn>();
  conn->owner = this;
  conn->address = address;
  conn->use_tls = tls;
  conn->protocol = protocol;
  Conn* raw = conn.get();
  conns_.push_back(std::move(conn));
  open(raw);
  return raw;
}

void LeaderProxy::open(Conn* conn) {
  size_t colon = conn->address.rfind(':');
  int port = 0;
  std::string host = conn->address.substr(0, colon);
  std::string port_text = conn->address.substr(colon + 1);
  std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  sockaddr_storage addr{};
  int rc = host.find(':') != std::string::npos
               ? uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr))
               : uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr));
  conn->handle = new uv_tcp_t;
  uv_tcp_init(loop_, conn->handle);
  conn->handle->data = conn;
  conn->connect_req.data = conn;
  conn->write_req.data = conn;
  std::string protocol = conn->protocol == 3 ? "3" : "2";
  if (!config_.cluster_secret.empty()) {
    // Prove membership first (the proof needs the leader's challenge); the
    // HELLO follows the proof (on_challenge).
    append_command(&conn->preamble, {kProxyAuthCommand, "CHALLENGE"});
    conn->expected.push_back({0, 0, Conn::Kind::kChallenge, false});
  } else {
    // No secret: protocol, authentication as `default` and the name that
    // tells the leader this is a proxy. Its reply is discarded.
    std::vector<std::string_view> hello = {"HELLO", protocol};
    if (!config_.requirepass.empty()) {
      hello.push_back("AUTH");
      hello.push_back("default");
      hello.push_back(config_.requirepass);
    }
    hello.push_back("SETNAME");
    hello.push_back(kClientName);
    append_command(&conn->preamble, hello);
    conn->expected.push_back({0, 0, Conn::Kind::kDiscard, false});
    conn->ready = true;
  }
  if (conn->use_tls && !tls_) {
    fail(conn, "no TLS configuration for the leader's tls-port " + conn->address);
    return;
  }
  // Leave from this node's own address, as Raft traffic does.
  if (rc == 0)
    rc = bind_source_address(conn->handle, source_host_, reinterpret_cast<sockaddr*>(&addr));
  if (rc != 0 || uv_tcp_connect(&conn->connect_req, conn->handle,
                                reinterpret_cast<sockaddr*>(&addr), on_connect) != 0) {
    fail(conn, "invalid leader address " + conn->address);
  }
}

void LeaderProxy::on_connect(uv_connect_t* req, int status) {
  auto* conn = static_cast<Conn*>(req->data);
  if (conn->dead) return;
  LeaderProxy* self = conn->owner;
  if (status < 0) {
    self->fail(conn, std::string("connecting to the leader at ") + conn->address + ": " +
                         uv_strerror(status));
    return;
  }
  conn->connected = true;
  uv_tcp_nodelay(conn->handle, 1);
  if (conn->use_tls) {
    // The node's own certificate is the client certificate; the leader's
    // must chain to the CA (as on the peer port).
    conn->tls =
        std::make_unique<TlsSession>(*self->tls_, TlsSession::Role::kClient, TlsVerify::kRequire);
    if (!conn->tls->start()) {
      self->fail(conn, "TLS to the leader at " + conn->address + ": " + conn->tls->error());
      return;
    }
  }
  uv_read_start(reinterpret_cast<uv_stream_t*>(conn->handle), on_alloc, on_read);
  self->flush(conn);
}

void LeaderProxy::forward(const std::string& address, bool tls, uint64_t client, uint64_t slot,
                          int db, int protocol, std::string_view user, const resp::Argv& argv) {
  if (closed_) {
    deliver_(client, slot, resp::error_reply_bytes("TRYAGAIN the server is shutting down"));
    return;
  }
  bool secret = !config_.cluster_secret.empty();
  if (!secret && user != "default") {
    // Without a secret the leader cannot tell this node from a client, so
    // the connection can only be `default`: refuse rather than run the
    // command as a user the client is not.
    deliver_(
        client, slot,
        resp::error_reply_bytes(
            "ERR this node forwards to the Raft leader only the commands of the "
            "'default' user when no cluster-secret is configured; send the commands "
            "of user '" +
            std::string(user) + "' to the leader at " + address + " or configure cluster-secret"));
    return;
  }
  Conn* conn = connection(address, tls, protocol == 3 ? 3 : 2);
  if (conn->dead) {  // failed while opening
    deliver_(client, slot,
             resp::error_reply_bytes("TRYAGAIN the Raft leader is unreachable; retry"));
    return;
  }
  if (secret && (conn->user != user || conn->db != db)) {
    std::string db_text = std::to_string(db);
    append_command(&conn->out, {kProxyAsCommand, user, db_text});
    conn->expected.push_back({0, 0, Conn::Kind::kDiscard, false});
    conn->user = std::string(user);
    conn->db = db;
  } else if (conn->db != db) {
    std::string db_text = std::to_string(db);
    append_command(&conn->out, {"SELECT", db_text});
    conn->expected.push_back({0, 0, Conn::Kind::kDiscard, false});
    conn->db = db;
  }
  append_command(&conn->out, {argv.begin(), argv.end()});
  conn->expected.push_back({client, slot, Conn::Kind::kClient, false});
  ++forwarded_;
  flush(conn);
}

void LeaderProxy::flush(Conn* conn) {
  if (!conn->connected || conn->dead || conn->writing) return;
  std::string plain;
  plain.swap(conn->preamble);
  if (conn->ready && !conn->out.empty()) {
    plain += conn->out;
    conn->out.clear();
    // Every request queued so far is now on its way: its outcome is no
    // longer "certainly not run" if the connection fails.
    for (auto& e : conn->expected)
      e.written = true;
  }
  std::string wire;
  if (conn->tls) {
    if (!plain.empty() && !conn->tls->write(plain)) {
      fail(conn, "TLS to the leader at " + conn->address + ": " + conn->tls->error());
      return;
    }
    if (conn->tls->has_output()) wire = conn->tls->take_output();
  } else {
    wire.swap(plain);
  }
  if (wire.empty()) return;
  conn->in_flight = std::move(wire);
  uv_buf_t buf = uv_buf_init(conn->in_flight.data(), static_cast<unsigned>(conn->in_flight.size()));
  conn->writing = true;
  if (uv_write(&conn->write_req, reinterpret_cast<uv_stream_t*>(conn->handle), &buf, 1, on_write) !=
      0) {
    conn->writing = false;
    fail(conn, "writing to the leader at " + conn->address);
  }
}

void LeaderProxy::on_write(uv_write_t* req, int status) {
  auto* conn = static_cast<Conn*>(req->data);
  conn->writing = false;
  conn->in_flight.clear();
  if (conn->dead) return;
  if (status < 0) {
    conn->owner->fail(conn, std::string("writing to the leader at ") + conn->address + ": " +
                                uv_strerror(status));
    return;
  }
  conn->owner->flush(conn);
}

void LeaderProxy::on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) {
  auto* conn = static_cast<Conn*>(handle->data);
  if (conn->tls) {  // ciphertext goes to the session's buffer, not `in`
    buf->base = conn->tls->read_buffer();
    buf->len = conn->tls->read_buffer_size();
    return;
  }
  size_t old = conn->in.size();
  size_t want = std::max<size_t>(suggested, 16 * 1024);
  conn->in.resize(old + want);
  buf->base = conn->in.data() + old;
  buf->len = want;
}

void LeaderProxy::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* conn = static_cast<Conn*>(stream->data);
  // on_alloc grew `in` by buf->len; keep only what was read.
  if (!conn->tls)
    conn->in.resize(conn->in.size() - buf->len + static_cast<size_t>(std::max<ssize_t>(nread, 0)));
  if (conn->dead) return;
  LeaderProxy* self = conn->owner;
  if (nread < 0) {
    self->fail(conn, std::string("the leader at ") + conn->address + " closed the connection" +
                         (nread == UV_EOF ? "" : std::string(": ") + uv_strerror(nread)));
    return;
  }
  if (conn->tls) {
    bool ok =
        conn->tls->decrypt(std::string_view(buf->base, static_cast<size_t>(nread)), &conn->in);
    if (!ok) {
      self->fail(conn, "TLS to the leader at " + conn->address + ": " + conn->tls->error());
      return;
    }
    // The handshake may have produced records to send (or released the
    // preamble held until it completed).
    self->flush(conn);
  }
  self->handle_input(conn);
}

void LeaderProxy::handle_input(Conn* conn) {
  size_t pos = 0;
  std::string_view in(conn->in);
  while (pos < in.size() && !conn->dead) {
    resp::ScanResult s = resp::scan_reply(in.substr(pos), 64, 64 * 1024);
    if (s.status == resp::ScanStatus::kIncomplete) break;
    if (s.status == resp::ScanStatus::kError || conn->expected.empty()) {
      fail(conn, "unexpected reply bytes from the leader at " + conn->address);
      return;
    }
    Conn::Expect e = conn->expected.front();
    conn->expected.pop_front();
    std::string_view bytes = in.substr(pos, s.length);
    pos += s.length;
    switch (e.kind) {
      case Conn::Kind::kClient:
        deliver_(e.client, e.slot, bytes);
        break;
      case Conn::Kind::kDiscard:
        if (!bytes.empty() && bytes[0] == '-')
          KV_LOG_WARNING("Leader proxy: the leader at %s refused a connection command: %.*s",
                         conn->address.c_str(), static_cast<int>(bytes.size() - 2), bytes.data());
        break;
      case Conn::Kind::kChallenge:
        if (!on_challenge(conn, bytes)) return;
        break;
      case Conn::Kind::kProof:
        if (!on_proof(conn, bytes)) return;
        break;
    }
  }
  if (!conn->dead) conn->in.erase(0, pos);
}

bool LeaderProxy::on_challenge(Conn* conn, std::string_view reply) {
  std::string_view challenge;
  if (!bulk_contents(reply, &challenge)) {
    std::string why = "the Raft leader at " + conn->address +
                      " refused this node's proxy connection: " + error_text(reply);
    fail(conn, why, resp::error_reply_bytes("ERR " + why));
    return false;
  }
  std::string nonce = hex_encode(make_peer_nonce());
  std::string id = std::to_string(config_.node_id);
  std::string proof =
      hex_encode(proxy_proof(config_.cluster_secret, config_.cluster_id,
                             static_cast<raft::NodeId>(config_.node_id), challenge, nonce));
  // The proof and the HELLO go ahead of every forwarded command, which
  // waits in `out` until the proof is accepted.
  append_command(&conn->preamble, {kProxyAuthCommand, id, nonce, proof});
  append_command(&conn->preamble, {"HELLO", conn->protocol == 3 ? "3" : "2"});
  conn->expected.push_front({0, 0, Conn::Kind::kDiscard, false});
  conn->expected.push_front({0, 0, Conn::Kind::kProof, false});
  flush(conn);
  return !conn->dead;
}

bool LeaderProxy::on_proof(Conn* conn, std::string_view reply) {
  if (reply != "+OK\r\n") {
    std::string why = "the Raft leader at " + conn->address +
                      " refused this node's proxy authentication: " + error_text(reply);
    KV_LOG_WARNING("Leader proxy: %s", why.c_str());
    fail(conn, why, resp::error_reply_bytes("ERR " + why));
    return false;
  }
  conn->ready = true;
  flush(conn);
  return !conn->dead;
}

void LeaderProxy::fail(Conn* conn, const std::string& why, const std::string& never_ran_reply) {
  if (conn->dead) return;
  conn->dead = true;
  KV_LOG_VERBOSE("Leader proxy: %s", why.c_str());
  std::string never_ran =
      never_ran_reply.empty()
          ? resp::error_reply_bytes("TRYAGAIN the Raft leader is unreachable; retry")
          : never_ran_reply;
  std::string unknown = resp::error_reply_bytes(
      "ERR lost the connection to the Raft leader after forwarding the command; its outcome is "
      "unknown");
  for (const auto& e : conn->expected)
    if (e.kind == Conn::Kind::kClient) deliver_(e.client, e.slot, e.written ? unknown : never_ran);
  conn->expected.clear();
  auto it =
      std::find_if(conns_.begin(), conns_.end(), [&](const auto& c) { return c.get() == conn; });
  Conn* owned = it != conns_.end() ? it->release() : conn;
  if (it != conns_.end()) conns_.erase(it);
  // The Conn lives until libuv is done with its handle (pending write
  // callbacks run before the close callback).
  uv_close(reinterpret_cast<uv_handle_t*>(owned->handle), [](uv_handle_t* h) {
    auto* c = static_cast<Conn*>(h->data);
    delete reinterpret_cast<uv_tcp_t*>(h);
    delete c;
  });
}

void LeaderProxy::close() {
  if (closed_) return;
  closed_ = true;
  while (!conns_.empty())
    fail(conns_.back().get(), "shutting down");
}

}  // namespace kvraft
