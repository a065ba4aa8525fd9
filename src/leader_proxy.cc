// src/leader_proxy.cc — see leader_proxy.h.
#include "src/leader_proxy.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "resp/reply.h"
#include "resp/reply_scanner.h"
#include "src/config.h"
#include "src/log.h"
#include "src/source_address.h"

namespace kvraft {

namespace {

std::string error_bytes(std::string_view message) {
  resp::ReplyWriter w;
  w.error(message);
  return std::string(w.buffer());
}

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

}  // namespace

struct LeaderProxy::Conn {
  struct Expect {
    uint64_t client = 0;
    uint64_t slot = 0;
    bool discard = false;  // a reply to our own SELECT/HELLO
    bool written = false;  // handed to the socket
  };
  LeaderProxy* owner = nullptr;
  std::string address;
  int protocol = 2;
  uv_tcp_t* handle = nullptr;
  uv_connect_t connect_req;
  uv_write_t write_req;
  bool connected = false;
  bool dead = false;
  bool writing = false;
  int db = 0;             // the database the leader-side connection has selected
  std::string out;        // requests not yet handed to the socket
  std::string in_flight;  // the buffer of the write in progress
  std::string in;         // reply bytes not yet relayed
  std::deque<Expect> expected;
};

LeaderProxy::LeaderProxy(uv_loop_t* loop, const Config& config, Deliver deliver)
    : loop_(loop), config_(config), deliver_(std::move(deliver)) {}

LeaderProxy::~LeaderProxy() {
  close();
}

LeaderProxy::Conn* LeaderProxy::connection(const std::string& address, int protocol) {
  for (auto& c : conns_)
    if (!c->dead && c->address == address && c->protocol == protocol) return c.get();
  auto conn = std::make_unique<Conn>();
  conn->owner = this;
  conn->address = address;
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
  // The connection's preamble: protocol, authentication and the name that
  // tells the leader this is a proxy. Its reply is discarded.
  std::vector<std::string_view> hello = {"HELLO", conn->protocol == 3 ? "3" : "2"};
  if (!config_.requirepass.empty()) {
    hello.push_back("AUTH");
    hello.push_back("default");
    hello.push_back(config_.requirepass);
  }
  hello.push_back("SETNAME");
  hello.push_back(kClientName);
  append_command(&conn->out, hello);
  conn->expected.push_back({0, 0, true, false});
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
  uv_read_start(reinterpret_cast<uv_stream_t*>(conn->handle), on_alloc, on_read);
  self->flush(conn);
}

void LeaderProxy::forward(const std::string& address, uint64_t client, uint64_t slot, int db,
                          int protocol, const resp::Argv& argv) {
  if (closed_) {
    deliver_(client, slot, error_bytes("TRYAGAIN the server is shutting down"));
    return;
  }
  Conn* conn = connection(address, protocol == 3 ? 3 : 2);
  if (conn->dead) {  // failed while opening
    deliver_(client, slot, error_bytes("TRYAGAIN the Raft leader is unreachable; retry"));
    return;
  }
  if (conn->db != db) {
    std::string db_text = std::to_string(db);
    append_command(&conn->out, {"SELECT", db_text});
    conn->expected.push_back({0, 0, true, false});
    conn->db = db;
  }
  append_command(&conn->out, {argv.begin(), argv.end()});
  conn->expected.push_back({client, slot, false, false});
  ++forwarded_;
  flush(conn);
}

void LeaderProxy::flush(Conn* conn) {
  if (!conn->connected || conn->dead || conn->writing || conn->out.empty()) return;
  conn->in_flight.swap(conn->out);
  conn->out.clear();
  // Every request queued so far is now on its way: its outcome is no longer
  // "certainly not run" if the connection fails.
  for (auto& e : conn->expected)
    e.written = true;
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
  size_t old = conn->in.size();
  size_t want = std::max<size_t>(suggested, 16 * 1024);
  conn->in.resize(old + want);
  buf->base = conn->in.data() + old;
  buf->len = want;
}

void LeaderProxy::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* conn = static_cast<Conn*>(stream->data);
  // on_alloc grew `in` by buf->len; keep only what was read.
  conn->in.resize(conn->in.size() - buf->len + static_cast<size_t>(std::max<ssize_t>(nread, 0)));
  if (conn->dead) return;
  if (nread < 0) {
    conn->owner->fail(conn, std::string("the leader at ") + conn->address +
                                " closed the connection" +
                                (nread == UV_EOF ? "" : std::string(": ") + uv_strerror(nread)));
    return;
  }
  conn->owner->handle_input(conn);
}

void LeaderProxy::handle_input(Conn* conn) {
  size_t pos = 0;
  std::string_view in(conn->in);
  while (pos < in.size()) {
    resp::ScanResult s = resp::scan_reply(in.substr(pos), 64, 64 * 1024);
    if (s.status == resp::ScanStatus::kIncomplete) break;
    if (s.status == resp::ScanStatus::kError || conn->expected.empty()) {
      fail(conn, "unexpected reply bytes from the leader at " + conn->address);
      return;
    }
    Conn::Expect e = conn->expected.front();
    conn->expected.pop_front();
    std::string_view bytes = in.substr(pos, s.length);
    if (!e.discard)
      deliver_(e.client, e.slot, bytes);
    else if (!bytes.empty() && bytes[0] == '-')
      KV_LOG_WARNING("Leader proxy: the leader at %s refused a connection command: %.*s",
                     conn->address.c_str(), static_cast<int>(bytes.size() - 2), bytes.data());
    pos += s.length;
  }
  conn->in.erase(0, pos);
}

void LeaderProxy::fail(Conn* conn, const std::string& why) {
  if (conn->dead) return;
  conn->dead = true;
  KV_LOG_VERBOSE("Leader proxy: %s", why.c_str());
  std::string never_ran = error_bytes("TRYAGAIN the Raft leader is unreachable; retry");
  std::string unknown = error_bytes(
      "ERR lost the connection to the Raft leader after forwarding the command; its outcome is "
      "unknown");
  for (const auto& e : conn->expected)
    if (!e.discard) deliver_(e.client, e.slot, e.written ? unknown : never_ran);
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
