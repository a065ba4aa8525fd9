// Unit tests of the follower's leader proxy (src/leader_proxy.h) against a
// scripted fake leader on a loopback socket: with a cluster-secret nothing a
// client sent is written before the leader accepted the proof, and a leader
// that refuses the challenge or the proof gives the waiting clients an error
// saying so (not a silent downgrade); without a secret only `default`'s
// commands are forwarded.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <uv.h>

#include <functional>
#include <string>
#include <vector>

#include "src/config.h"
#include "src/leader_proxy.h"

using namespace kvraft;

namespace {

// A one-connection TCP server that records what it receives and answers
// each chunk with `respond(all bytes so far)` (empty: nothing).
class FakeLeader {
 public:
  FakeLeader(uv_loop_t* loop, std::function<std::string(const std::string&)> respond)
      : respond_(std::move(respond)) {
    uv_tcp_init(loop, &listener_);
    listener_.data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    REQUIRE(uv_tcp_bind(&listener_, reinterpret_cast<sockaddr*>(&addr), 0) == 0);
    REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 4, on_connection) == 0);
    int len = sizeof addr;
    uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    uv_tcp_init(loop, &conn_);
    conn_.data = this;
  }
  void close() {
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&conn_), nullptr);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& received() const { return received_; }

 private:
  static void on_connection(uv_stream_t* s, int status) {
    auto* self = static_cast<FakeLeader*>(s->data);
    if (status < 0 || uv_accept(s, reinterpret_cast<uv_stream_t*>(&self->conn_)) != 0) return;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&self->conn_),
        [](uv_handle_t*, size_t, uv_buf_t* buf) {
          static char mem[65536];
          *buf = uv_buf_init(mem, sizeof mem);
        },
        on_read);
  }
  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
    auto* self = static_cast<FakeLeader*>(s->data);
    if (n <= 0) return;
    self->received_.append(buf->base, static_cast<size_t>(n));
    std::string reply = self->respond_(self->received_);
    if (reply.empty()) return;
    auto* req = new uv_write_t;
    auto* bytes = new std::string(std::move(reply));
    req->data = bytes;
    uv_buf_t out = uv_buf_init(bytes->data(), static_cast<unsigned>(bytes->size()));
    uv_write(req, s, &out, 1, [](uv_write_t* r, int) {
      delete static_cast<std::string*>(r->data);
      delete r;
    });
  }

  std::function<std::string(const std::string&)> respond_;
  uv_tcp_t listener_;
  uv_tcp_t conn_;
  int port_ = 0;
  std::string received_;
};

// Forwards SET k v as `user` through a LeaderProxy to a fake leader scripted
// by `respond`, runs the loop until the reply arrives (or 5 s pass), and
// returns it; *received gets what the fake leader was sent.
std::string forward_once(const Config& config, const std::string& user,
                         std::function<std::string(const std::string&)> respond,
                         std::string* received) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  FakeLeader leader(&loop, std::move(respond));
  std::string reply;
  LeaderProxy proxy(&loop, config, [&](uint64_t, uint64_t, std::string_view bytes) {
    reply = std::string(bytes);
    uv_stop(&loop);
  });
  uv_timer_t timeout;
  uv_timer_init(&loop, &timeout);
  timeout.data = &loop;
  uv_timer_start(
      &timeout, [](uv_timer_t* t) { uv_stop(static_cast<uv_loop_t*>(t->data)); }, 5000, 0);
  std::vector<std::string_view> argv = {"SET", "k", "v"};
  proxy.forward(leader.address(), false, 1, 1, 0, 2, user, resp::Argv(argv.begin(), argv.end()));
  if (reply.empty()) uv_run(&loop, UV_RUN_DEFAULT);
  *received = leader.received();
  proxy.close();
  leader.close();
  uv_close(reinterpret_cast<uv_handle_t*>(&timeout), nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return reply;
}

Config secret_config() {
  Config c;
  c.node_id = 2;
  c.cluster_secret = "s3cret";
  return c;
}

}  // namespace

TEST_CASE("a leader that refuses the challenge: the waiting command never went out") {
  std::string received;
  std::string reply = forward_once(
      secret_config(), "alice",
      [](const std::string& in) {
        return in.find("CHALLENGE") != std::string::npos
                   ? std::string("-ERR unknown command 'KVRAFT.PROXY-AUTH'\r\n")
                   : std::string();
      },
      &received);
  CHECK(reply.starts_with("-ERR the Raft leader at 127.0.0.1:"));
  CHECK(reply.find(" refused this node's proxy connection: ERR unknown command "
                   "'KVRAFT.PROXY-AUTH'\r\n") != std::string::npos);
  CHECK(received == "*2\r\n$17\r\nKVRAFT.PROXY-AUTH\r\n$9\r\nCHALLENGE\r\n");
}

TEST_CASE("a leader that refuses the proof: the command never went out, the client is told") {
  std::string received;
  std::string reply = forward_once(
      secret_config(), "alice",
      [](const std::string& in) {
        if (in.find("CHALLENGE") != std::string::npos &&
            in.find("$1\r\n2\r\n") == std::string::npos)
          return std::string("$4\r\nabcd\r\n");
        if (in.find("$1\r\n2\r\n") != std::string::npos)  // the proof names node 2
          return std::string("-ERR proxy authentication failed\r\n+HELLO-ignored\r\n");
        return std::string();
      },
      &received);
  CHECK(reply.find("refused this node's proxy authentication: ERR proxy authentication "
                   "failed") != std::string::npos);
  CHECK(received.find("SET") == std::string::npos);
  CHECK(received.find("KVRAFT.PROXY-AS") == std::string::npos);
}

TEST_CASE("an accepted proof: PROXY-AS names the client's user and database, then the command") {
  std::string received;
  std::string reply = forward_once(
      secret_config(), "alice",
      [](const std::string& in) -> std::string {
        if (in.find("$3\r\nSET\r\n") != std::string::npos) return "+OK\r\n+OK\r\n";
        if (in.find("HELLO") != std::string::npos) return "+OK\r\n+OK\r\n";
        if (in.find("CHALLENGE") != std::string::npos) return "$4\r\nabcd\r\n";
        return {};
      },
      &received);
  CHECK(reply == "+OK\r\n");
  size_t as = received.find("*3\r\n$15\r\nKVRAFT.PROXY-AS\r\n$5\r\nalice\r\n$1\r\n0\r\n");
  size_t set = received.find("*3\r\n$3\r\nSET\r\n");
  CHECK(as != std::string::npos);
  CHECK(set != std::string::npos);
  CHECK(as < set);
}

TEST_CASE("without a secret only the default user's commands are forwarded") {
  Config config;
  std::string received;
  std::string reply = forward_once(
      config, "alice", [](const std::string&) { return std::string(); }, &received);
  CHECK(
      reply.starts_with("-ERR this node forwards to the Raft leader only the commands of the "
                        "'default' user when no cluster-secret is configured"));
  CHECK(received.empty());
}
