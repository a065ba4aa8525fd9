// Integration tests of reply delivery while leadership moves: clients on
// one node pipeline writes (SET, INCR), linearizable reads (GET) and
// immediate commands (ECHO) at a fixed rate, open loop, while the test
// moves leadership between the nodes (RAFT.TRANSFER-LEADER, SIGSTOP and
// SIGCONT of the leader, kill -9 and restart of another node). Every
// request must get a reply — any reply, errors included — within a bound,
// and the replies must come in request order. A reply slot reserved and
// never filled shows up as a request that never gets its reply (and holds
// back every later reply of its connection); one filled twice, or filled
// with another request's reply, as replies out of order.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <hiredis/read.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/client_threads.h"
#include "tests/support/cluster.h"

using kvraft::test::ClientThreads;
using kvraft::test::LocalCluster;
using kvraft::test::RedisConnection;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// What a request expects back: the type of its reply says which request a
// reply answers (ECHO's even which one exactly), so a reply delivered to
// the wrong request shows up as a mismatch.
enum class Kind { kSet, kIncr, kGet, kEcho };

struct Outstanding {
  Kind kind;
  uint64_t seq;  // the connection's request number (ECHO's tag)
  Clock::time_point sent;
};

// One pipelining connection on a non-blocking raw socket, driven by the
// load thread: requests are appended to `out` and written when the socket
// takes them; replies are parsed with hiredis's reader and matched, in
// order, against `outstanding`.
struct PipelinedConnection {
  int fd = -1;
  int index = 0;
  redisReader* reader = nullptr;
  std::string out;
  std::deque<Outstanding> outstanding;
  uint64_t next_seq = 0;
  long long last_incr = 0;                 // the newest INCR result: they must increase
  bool broken = false;                     // the server closed the connection
  std::map<std::string, uint64_t> errors;  // error replies by their beginning

  PipelinedConnection(int port, int index_) : index(index_) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("connect to port " + std::to_string(port) + " failed");
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    reader = redisReaderCreate();
  }
  ~PipelinedConnection() {
    if (fd >= 0) close(fd);
    if (reader) redisReaderFree(reader);
  }
  PipelinedConnection(const PipelinedConnection&) = delete;
  PipelinedConnection& operator=(const PipelinedConnection&) = delete;

  void append(const std::vector<std::string>& argv) {
    out += "*" + std::to_string(argv.size()) + "\r\n";
    for (const auto& a : argv)
      out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  }

  void send_request(Kind kind, uint64_t key_space, std::mt19937_64& rng) {
    uint64_t seq = next_seq++;
    std::string key = "rd:" + std::to_string(index) + ":" + std::to_string(rng() % key_space);
    switch (kind) {
      case Kind::kSet:
        append({"SET", key, "value-" + std::to_string(seq)});
        break;
      case Kind::kIncr:
        append({"INCR", "rd:counter:" + std::to_string(index)});
        break;
      case Kind::kGet:
        append({"GET", key});
        break;
      case Kind::kEcho:
        append({"ECHO", "tag-" + std::to_string(seq)});
        break;
    }
    outstanding.push_back({kind, seq, Clock::now()});
  }

  void write_some() {
    while (!out.empty()) {
      ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
      if (n <= 0) return;  // EAGAIN, or a broken connection the read notices
      out.erase(0, static_cast<size_t>(n));
    }
  }

  // Reads what arrived and checks each reply against the request it
  // answers; a problem is appended to *problems.
  void read_some(std::vector<std::string>* problems) {
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        broken = true;
        return;
      }
      if (n < 0) break;
      redisReaderFeed(reader, buf, static_cast<size_t>(n));
    }
    for (;;) {
      void* raw = nullptr;
      if (redisReaderGetReply(reader, &raw) != REDIS_OK) {
        problems->push_back("connection " + std::to_string(index) + ": unparsable reply bytes");
        broken = true;
        return;
      }
      if (!raw) break;
      check(static_cast<redisReply*>(raw), problems);
      freeReplyObject(raw);
    }
  }

  // Writes everything queued and reads replies until none is outstanding
  // or `timeout` passes; false on a timeout or a closed connection.
  bool await_replies(std::chrono::milliseconds timeout, std::vector<std::string>* problems) {
    Clock::time_point deadline = Clock::now() + timeout;
    while (!outstanding.empty() && !broken && Clock::now() < deadline) {
      write_some();
      pollfd p{fd, static_cast<short>(POLLIN | (out.empty() ? 0 : POLLOUT)), 0};
      poll(&p, 1, 10);
      read_some(problems);
    }
    return outstanding.empty();
  }

  void check(const redisReply* r, std::vector<std::string>* problems) {
    std::string where = "connection " + std::to_string(index);
    if (outstanding.empty()) {
      problems->push_back(where + ": a reply nobody asked for");
      return;
    }
    Outstanding o = outstanding.front();
    outstanding.pop_front();
    where += " request " + std::to_string(o.seq);
    std::string text = r->str ? std::string(r->str, r->len) : std::string();
    bool error = r->type == REDIS_REPLY_ERROR;
    if (error) ++errors[text.substr(0, 48)];
    bool ok = false;
    switch (o.kind) {
      case Kind::kSet:
        ok = error || (r->type == REDIS_REPLY_STATUS && text == "OK");
        break;
      case Kind::kIncr:
        ok = error || r->type == REDIS_REPLY_INTEGER;
        if (r->type == REDIS_REPLY_INTEGER) {
          if (r->integer <= last_incr)
            problems->push_back(where + ": INCR answered " + std::to_string(r->integer) +
                                " after " + std::to_string(last_incr));
          last_incr = r->integer;
        }
        break;
      case Kind::kGet:
        ok = error || r->type == REDIS_REPLY_NIL ||
             (r->type == REDIS_REPLY_STRING && text.rfind("value-", 0) == 0);
        break;
      case Kind::kEcho:
        ok = r->type == REDIS_REPLY_STRING && text == "tag-" + std::to_string(o.seq);
        break;
    }
    if (!ok)
      problems->push_back(where + ": reply of the wrong kind (type " + std::to_string(r->type) +
                          " '" + text.substr(0, 80) + "'): replies out of order");
  }
};

// Open-loop pipelined load on `connections` connections to one port, at
// `rate` requests per second in total, on one thread (poll). Stops sending
// at stop(); finish() then waits for every outstanding reply.
class PipelinedLoad {
 public:
  PipelinedLoad(int port, int connections, double rate) : rate_(rate) {
    for (int i = 0; i < connections; ++i)
      conns_.push_back(std::make_unique<PipelinedConnection>(port, i));
    thread_ = std::thread([this] { run(); });
  }
  ~PipelinedLoad() { finish(std::chrono::seconds(0)); }

  // Stops sending and waits up to `drain` for the outstanding replies.
  // Returns the problems found: replies out of order, connections the
  // server closed, requests still without a reply.
  std::vector<std::string> finish(std::chrono::milliseconds drain) {
    if (thread_.joinable()) {
      drain_ = drain;
      stop_ = true;
      thread_.join();
    }
    return problems_;
  }

  uint64_t sent() const { return sent_; }
  uint64_t replies() const { return replies_; }
  // Error replies by their beginning, over all connections (after finish()).
  std::map<std::string, uint64_t> errors() const {
    std::map<std::string, uint64_t> all;
    for (const auto& c : conns_)
      for (const auto& [text, n] : c->errors)
        all[text] += n;
    return all;
  }
  // Seconds the oldest outstanding request has waited (0 if none).
  double oldest_wait() const { return oldest_wait_; }

 private:
  void run() {
    std::mt19937_64 rng(42);
    Clock::time_point start = Clock::now();
    uint64_t scheduled = 0;
    size_t next = 0;
    Clock::time_point drain_until{};
    for (;;) {
      Clock::time_point now = Clock::now();
      const bool stopping = stop_;  // one view per round: drain_until is set before it is used
      if (!stopping) {
        uint64_t due = static_cast<uint64_t>(seconds_between(start, now) * rate_);
        while (scheduled < due) {
          ++scheduled;
          PipelinedConnection& c = *conns_[next++ % conns_.size()];
          if (c.broken) continue;
          uint64_t pick = rng() % 100;
          Kind kind = pick < 55   ? Kind::kSet
                      : pick < 80 ? Kind::kIncr
                      : pick < 90 ? Kind::kGet
                                  : Kind::kEcho;
          c.send_request(kind, 1000, rng);
          ++sent_;
        }
      } else if (drain_until == Clock::time_point{}) {
        drain_until = now + drain_;
      }
      std::vector<pollfd> fds;
      for (auto& c : conns_)
        fds.push_back({c->fd, static_cast<short>(POLLIN | (c->out.empty() ? 0 : POLLOUT)), 0});
      poll(fds.data(), fds.size(), 1);
      size_t outstanding = 0;
      double oldest = 0;
      for (auto& c : conns_) {
        if (c->broken) continue;
        c->write_some();
        size_t before = c->outstanding.size();
        c->read_some(&problems_);
        replies_ += before - c->outstanding.size();
        if (c->broken) {
          problems_.push_back("connection " + std::to_string(c->index) +
                              " closed by the server with " +
                              std::to_string(c->outstanding.size()) + " requests unanswered");
          continue;
        }
        outstanding += c->outstanding.size();
        if (!c->outstanding.empty())
          oldest = std::max(oldest, seconds_between(c->outstanding.front().sent, now));
      }
      oldest_wait_ = oldest;
      if (stopping && (outstanding == 0 || now >= drain_until)) {
        for (auto& c : conns_)
          if (!c->broken && !c->outstanding.empty()) {
            const Outstanding& o = c->outstanding.front();
            problems_.push_back("connection " + std::to_string(c->index) + ": request " +
                                std::to_string(o.seq) + " (and " +
                                std::to_string(c->outstanding.size() - 1) +
                                " after it) never answered; sent " +
                                std::to_string(seconds_between(o.sent, now)) + " s ago");
          }
        return;
      }
    }
  }

  double rate_;
  std::vector<std::unique_ptr<PipelinedConnection>> conns_;
  std::vector<std::string> problems_;
  std::atomic<bool> stop_{false};
  std::chrono::milliseconds drain_{0};
  std::atomic<uint64_t> sent_{0}, replies_{0};
  std::atomic<double> oldest_wait_{0};
  std::thread thread_;
};

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

// The node every running node's leader, or -1 (briefly, during elections).
int current_leader(LocalCluster& cluster) {
  for (int i = 0; i < cluster.size(); ++i)
    if (cluster.running(i) && cluster.raft_field(i, "role") == "leader") return i;
  return -1;
}

// Asks the leader to hand leadership to node index `target` (nothing if
// it leads already or no leader is known; a refusal is fine too).
void transfer_to(LocalCluster& cluster, int target) {
  int leader = current_leader(cluster);
  if (leader < 0 || leader == target) return;
  try {
    RedisConnection c(cluster.port(leader));
    c.cmd({"RAFT.TRANSFER-LEADER", std::to_string(target + 1)});
  } catch (const std::exception&) {
  }
}

// Moves leadership once, by the `step`th of a fixed cycle of ways, so that
// the node the clients are on (`home`) goes through every role change:
// leader frozen and deposed with writes in flight, then leader again with
// those old-term writes still unresolved; follower proxying to a leader
// that freezes (home may be elected meanwhile) or dies.
void move_leadership(LocalCluster& cluster, int home, int step) {
  int other = (home + 1 + step / 6 % 2) % 3;
  switch (step % 6) {
    case 0:
    case 2:  // home leads (case 2: wins back with its deposed term's writes pending)
      transfer_to(cluster, home);
      break;
    case 3:  // home follows and proxies
      transfer_to(cluster, other);
      break;
    case 1:
    case 4: {  // the leader freezes for a second (a CPU-starved machine)
      int leader = current_leader(cluster);
      if (leader < 0) break;
      cluster.pause(leader);
      std::this_thread::sleep_for(std::chrono::milliseconds(1000));
      cluster.resume(leader);
      break;
    }
    case 5: {  // a node other than home dies and comes back
      int leader = current_leader(cluster);
      int victim = leader >= 0 && leader != home ? leader : other;
      cluster.kill(victim);
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      cluster.start(victim);
      break;
    }
  }
}

// The load on the node the clients are on (the leader when `on_leader`,
// else a follower) while move_leadership() runs its cycle. The environment
// can make it a longer soak: KVRAFT_REPLY_TEST_SECONDS (of moves, default
// 8), KVRAFT_REPLY_TEST_RATE (requests/s, 4000), KVRAFT_REPLY_TEST_CONNS (20).
// The bound on a reply, 10 s, is well above the longest legitimate wait:
// a leader frozen for 1 s, then a deposed leader's ten election timeouts
// (3 s) before it calls a write's outcome unknown.
void run_reply_delivery(bool on_leader) {
  int seconds = env_int("KVRAFT_REPLY_TEST_SECONDS", 8);
  int rate = env_int("KVRAFT_REPLY_TEST_RATE", 4000);
  int conns = env_int("KVRAFT_REPLY_TEST_CONNS", 20);
  LocalCluster cluster(3, {"--election-timeout", "300", "--heartbeat-interval", "50"});
  int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  int home = on_leader ? leader : (leader + 1) % 3;
  // Every node must know the leader before the clients start.
  REQUIRE(kvraft::test::eventually([&] {
    for (int i = 0; i < 3; ++i)
      if (cluster.raft_field(i, "leader_id").empty() || cluster.raft_field(i, "leader_id") == "0")
        return false;
    return true;
  }));
  PipelinedLoad load(cluster.port(home), conns, rate);
  Clock::time_point end = Clock::now() + std::chrono::seconds(seconds);
  int step = 0;
  double worst_wait = 0;
  while (Clock::now() < end) {
    move_leadership(cluster, home, step++);
    for (int i = 0; i < 10; ++i) {
      worst_wait = std::max(worst_wait, load.oldest_wait());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  std::vector<std::string> problems = load.finish(std::chrono::seconds(10));
  MESSAGE("sent " << load.sent() << " requests, " << load.replies() << " replies, " << step
                  << " leadership moves, longest wait " << worst_wait << " s");
  for (const auto& [text, n] : load.errors())
    MESSAGE(n << " x -" << text);
  for (size_t i = 0; i < problems.size() && i < 10; ++i)
    MESSAGE(problems[i]);
  CHECK(problems.empty());
  CHECK(worst_wait < 10.0);
}

}  // namespace

TEST_CASE("pipelined clients on a leader get every reply, in order, while leadership moves") {
  run_reply_delivery(true);
}

TEST_CASE("pipelined clients on a follower get every reply, in order, while leadership moves") {
  run_reply_delivery(false);
}

// A leader deposed with writes its followers never received, then elected
// again: those writes can never commit (the new leader's log replaced
// them), and their clients must hear so as soon as the new term's first
// entry is applied — even when nothing else is written, which is when a
// pipelining client that waits for its whole batch would otherwise wait
// forever (before the fix, only a later write's index passing theirs
// answered them on a leader; 18 of these 20 never were). The followers are down while the
// leader takes the batch, so none of it is replicated (frozen ones would
// still find it in their sockets' buffers when they resume); the leader is
// frozen while they come back and elect one of them, whose log therefore
// lacks the batch.
TEST_CASE("a leader elected again answers the writes its earlier term could not commit") {
  // Elections slow enough that the writes stay unresolved while the
  // leadership moves (a deposed node gives up on them after ten election
  // timeouts) and the frozen leader is not deposed before it is frozen.
  LocalCluster cluster(3, {"--election-timeout", "1000", "--heartbeat-interval", "100"});
  int home = cluster.wait_for_leader();
  REQUIRE(home >= 0);
  int a = (home + 1) % 3, b = (home + 2) % 3;
  RedisConnection client(cluster.port(home));
  REQUIRE(client.run({"SET", "before", "1"}) == "OK");
  REQUIRE(kvraft::test::eventually([&] {
    return cluster.raft_field(a, "leader_id") == std::to_string(home + 1) &&
           cluster.raft_field(b, "leader_id") == std::to_string(home + 1);
  }));

  cluster.kill(a);
  cluster.kill(b);
  constexpr int kBatch = 20;
  PipelinedConnection batch(cluster.port(home), 0);
  std::mt19937_64 rng(1);
  for (int i = 0; i < kBatch; ++i)
    batch.send_request(Kind::kSet, 1000, rng);
  batch.write_some();
  REQUIRE(batch.out.empty());
  // Proposed: the connection's reply slots wait (CLIENT LIST's oll).
  REQUIRE(kvraft::test::eventually([&] {
    return client.run({"CLIENT", "LIST"}).find(" oll=" + std::to_string(kBatch) + " ") !=
           std::string::npos;
  }));
  cluster.pause(home);
  cluster.start(a);
  cluster.start(b);
  int other_leader = -1;
  REQUIRE(kvraft::test::eventually(
      [&] {
        for (int i : {a, b})
          if (cluster.raft_field(i, "role") == "leader") other_leader = i;
        return other_leader >= 0;
      },
      std::chrono::seconds(15)));
  cluster.resume(home);
  REQUIRE(kvraft::test::eventually(
      [&] { return cluster.raft_field(home, "leader_id") == std::to_string(other_leader + 1); }));
  RedisConnection admin(cluster.port(other_leader));
  REQUIRE(admin.run({"RAFT.TRANSFER-LEADER", std::to_string(home + 1)}) == "OK");
  REQUIRE(cluster.raft_field(home, "role") == "leader");

  // Every write of the batch gets its answer — here "not committed", as
  // none of them reached another node — without any further traffic.
  Clock::time_point t0 = Clock::now();
  std::vector<std::string> problems;
  bool answered = batch.await_replies(std::chrono::seconds(5), &problems);
  INFO(batch.outstanding.size() << " of " << kBatch << " writes unanswered after "
                                << seconds_between(t0, Clock::now()) << " s");
  CHECK(answered);
  CHECK(problems.empty());
  CHECK(batch.errors.size() == 1);
  CHECK(batch.errors.begin()->first.rfind("TRYAGAIN", 0) == 0);
  CHECK(batch.errors.begin()->second == kBatch);
  CHECK(client.run({"GET", "before"}) == "1");
}
