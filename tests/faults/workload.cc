// tests/faults/workload.cc — see workload.h.
#include "tests/faults/workload.h"

#include <random>

#include "tests/linearizability/history.h"

namespace kvraft::faults {

namespace {

using lincheck::KvModel;
using Kind = KvModel::Kind;

const auto kStart = std::chrono::steady_clock::now();

// Keys of one epoch: the key set changes every kEpochUs so that no key's
// history grows long (the checker's search is exponential in the overlap).
constexpr int64_t kEpochUs = 3'000'000;
constexpr int kNumericKeys = 3;
constexpr int kStringKeys = 2;

// True for the error replies with which kvraft promises the command did
// not run (src/replication.cc, src/leader_proxy.cc): retry-safe failures.
bool definitely_not_applied(std::string_view error) {
  return error.starts_with("TRYAGAIN") || error.starts_with("CLUSTERDOWN") ||
         error.starts_with("MOVED");
}

// An operation's request: the Redis command and what the model sees.
struct Request {
  std::vector<std::string> argv;
  KvModel::Input input;
};

Request random_request(std::mt19937_64& rng, int client, uint64_t counter) {
  Request r;
  const std::string epoch = "e" + std::to_string(now_us() / kEpochUs) + ":";
  const bool numeric = rng() % 5 < 3;
  const std::string key = epoch + (numeric ? "n" + std::to_string(rng() % kNumericKeys)
                                           : "s" + std::to_string(rng() % kStringKeys));
  r.input.key = key;
  // Values are unique per operation, so a read names the write it saw.
  const std::string value =
      numeric ? std::to_string(client * 1000000 + counter)
              : "c" + std::to_string(client) + "." + std::to_string(counter) + ";";
  const unsigned roll = static_cast<unsigned>(rng() % 100);
  if (roll < 35) {
    r.input.kind = Kind::kGet;
    r.argv = {"GET", key};
  } else if (roll < 55) {
    r.input.kind = Kind::kSet;
    r.input.arg = value;
    r.argv = {"SET", key, value};
    // A TTL far beyond the run changes nothing the model sees, but takes
    // the expiry path (EX becomes an absolute time in the log record).
    if (rng() % 4 == 0) r.argv.insert(r.argv.end(), {"EX", "3600"});
  } else if (roll < 65) {
    r.input.kind = Kind::kDel;
    r.argv = {"DEL", key};
  } else if (roll < 80) {
    // SET NX is compare-and-set against "absent".
    r.input.kind = Kind::kCas;
    r.input.arg = std::nullopt;
    r.input.arg2 = value;
    r.argv = {"SET", key, value, "NX"};
  } else if (numeric) {
    r.input.kind = Kind::kIncr;
    r.input.delta = static_cast<int64_t>(rng() % 9) + 1;
    r.argv = {"INCRBY", key, std::to_string(r.input.delta)};
  } else {
    r.input.kind = Kind::kAppend;
    r.input.arg = value;
    r.argv = {"APPEND", key, value};
  }
  return r;
}

// Fills `out` from a non-error reply; false if the reply has the wrong shape
// for the operation (recorded as unknown, and the checker stays sound).
bool read_result(Kind kind, const redisReply* r, KvModel::Output* out) {
  switch (kind) {
    case Kind::kGet:
      if (r->type == REDIS_REPLY_NIL) return true;
      if (r->type != REDIS_REPLY_STRING) return false;
      out->value = std::string(r->str, r->len);
      return true;
    case Kind::kSet:
      return r->type == REDIS_REPLY_STATUS && std::string_view(r->str, r->len) == "OK";
    case Kind::kCas:
      if (r->type == REDIS_REPLY_NIL) return true;  // not swapped
      out->ok = r->type == REDIS_REPLY_STATUS && std::string_view(r->str, r->len) == "OK";
      return out->ok;
    case Kind::kDel:
    case Kind::kIncr:
    case Kind::kAppend:
      if (r->type != REDIS_REPLY_INTEGER) return false;
      out->number = r->integer;
      return true;
  }
  return false;
}

}  // namespace

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               kStart)
      .count();
}

Workload::Workload(std::vector<Endpoint> nodes, int clients, uint64_t seed,
                   std::chrono::milliseconds op_timeout)
    : nodes_(std::move(nodes)), op_timeout_(op_timeout), seed_(seed) {
  for (int i = 0; i <= clients; ++i) {
    auto c = std::make_unique<Client>();
    c->id = i + 1;
    clients_.push_back(std::move(c));
  }
}

Workload::~Workload() {
  stop();
}

void Workload::start() {
  std::seed_seq seq{seed_, uint64_t{0x6661756c7473}};
  std::vector<uint64_t> seeds(clients_.size());
  seq.generate(seeds.begin(), seeds.end());
  for (size_t i = 0; i < clients_.size(); ++i) {
    Client* c = clients_[i].get();
    const bool acker = i + 1 == clients_.size();
    c->thread = std::thread(
        [this, c, s = seeds[i], acker] { acker ? run_ack_writer(*c, s) : run_client(*c, s); });
  }
}

void Workload::set_nodes(std::vector<Endpoint> nodes) {
  if (nodes.empty()) return;
  std::lock_guard<std::mutex> lock(nodes_mu_);
  nodes_ = std::move(nodes);
}

Connection Workload::connect_random(std::mt19937_64& rng) {
  Endpoint e;
  {
    std::lock_guard<std::mutex> lock(nodes_mu_);
    e = nodes_[rng() % nodes_.size()];
  }
  return Connection(e.address, e.port, op_timeout_);
}

void Workload::stop() {
  stop_ = true;
  for (auto& c : clients_)
    if (c->thread.joinable()) c->thread.join();
}

bool Workload::ensure_connected(Connection& conn, std::mt19937_64& rng) {
  if (conn.ok()) return true;
  conn = connect_random(rng);
  if (conn.ok()) return true;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // refused: the node is down
  return false;
}

void Workload::run_client(Client& c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Connection conn;
  uint64_t counter = 0;
  while (!stop_) {
    if (!ensure_connected(conn, rng)) continue;  // nothing was sent: no operation
    Request req = random_request(rng, c.id, ++counter);
    KvOp op;
    op.client = "c" + std::to_string(c.id);
    op.input = req.input;
    op.call = now_us();
    auto reply = conn.command(req.argv);
    op.ret = now_us();
    c.stats.ops++;
    if (reply && reply->type == REDIS_REPLY_ERROR &&
        definitely_not_applied(std::string_view(reply->str, reply->len))) {
      c.stats.failed++;
      KvOp failed = op;
      failed.output.unknown = true;
      failed.ret = lincheck::kPendingForever;
      c.notes.push_back("# failed: " + lincheck::to_kvraft_line(failed) + " (" +
                        std::string(reply->str, std::min<size_t>(reply->len, 80)) + ")");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // no leader: do not spin
      continue;
    }
    if (reply && reply->type != REDIS_REPLY_ERROR &&
        read_result(op.input.kind, reply.get(), &op.output)) {
      c.stats.ok++;
    } else {
      // No reply, an error, or a reply we cannot interpret: it may have run.
      c.stats.unknown++;
      op.output = {};
      op.output.unknown = true;
      op.ret = lincheck::kPendingForever;
      // Why, for whoever reads the history of a failing run.
      const std::string why = !reply ? "no reply: " + conn.error()
                              : reply->type == REDIS_REPLY_ERROR
                                  ? std::string(reply->str, std::min<size_t>(reply->len, 120))
                                  : "unexpected reply type " + std::to_string(reply->type);
      c.notes.push_back("# unknown: " + op.client + " @" + std::to_string(op.call) + " (" + why +
                        ")");
      if (!reply)
        conn.close();  // timed out or lost: a late reply must not be read as the next
      else
        conn = connect_random(rng);  // try another node
    }
    c.ops.push_back(std::move(op));
  }
}

void Workload::run_ack_writer(Client& c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Connection conn;
  uint64_t n = 0;
  while (!stop_) {
    if (!ensure_connected(conn, rng)) continue;  // nothing was sent: no operation
    AckWrite w{"ack:" + std::to_string(++n),
               "v" + std::to_string(n) + "." + std::to_string(seed % 1000), Outcome::kUnknown};
    // Keys that expire during the run, on the side: active expiry on the
    // leader deletes them through the log across failovers, and the final
    // digest comparison catches a replica that expires differently.
    if (n % 2 == 0) {
      const std::string ttl_ms = std::to_string(100 + rng() % 2900);
      auto r = conn.command({"SET", "ttl:" + std::to_string(n), "x", "PX", ttl_ms});
      if (!r) conn.close();
      if (!conn.ok()) continue;
    }
    auto reply = conn.command({"SET", w.key, w.value});
    c.stats.ops++;
    if (!reply) {
      conn.close();
    } else if (reply->type == REDIS_REPLY_STATUS &&
               std::string_view(reply->str, reply->len) == "OK") {
      w.outcome = Outcome::kOk;
    } else if (reply->type == REDIS_REPLY_ERROR &&
               definitely_not_applied(std::string_view(reply->str, reply->len))) {
      w.outcome = Outcome::kFailed;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } else {
      conn = connect_random(rng);
    }
    (w.outcome == Outcome::kOk       ? c.stats.ok
     : w.outcome == Outcome::kFailed ? c.stats.failed
                                     : c.stats.unknown)++;
    c.acks.push_back(std::move(w));
  }
}

std::vector<KvOp> Workload::history() const {
  std::vector<KvOp> all;
  for (const auto& c : clients_)
    all.insert(all.end(), c->ops.begin(), c->ops.end());
  return all;
}

std::vector<std::string> Workload::notes() const {
  std::vector<std::string> all;
  for (const auto& c : clients_)
    all.insert(all.end(), c->notes.begin(), c->notes.end());
  return all;
}

ClientStats Workload::stats() const {
  ClientStats s;
  for (const auto& c : clients_)
    s += c->stats;
  return s;
}

std::vector<Workload::AckWrite> Workload::ack_writes() const {
  return clients_.back()->acks;
}

}  // namespace kvraft::faults
