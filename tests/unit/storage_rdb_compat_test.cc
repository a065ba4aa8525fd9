// tests/unit/storage_rdb_compat_test.cc — RDB compatibility with the real
// thing: redis-check-rdb accepts our files, a stock redis-server loads them
// with the same keys, values and expiry times, and we read the dump.rdb a
// stock redis-server writes — for strings and for lists, sets, hashes and
// sorted sets in each encoding redis-server 7.0 uses. redis-server, redis-check-rdb and redis-cli
// come from PATH (Debian's redis-server 7.0 and redis-tools).
//
// The storage_ unit tests link only kvraft_storage, not hiredis, so this file
// talks RESP over a socket itself (a few dozen lines, below).
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "storage/rdb.h"
#include "tests/support/redis_baseline.h"
#include "tests/support/test_support.h"

using namespace kvraft::storage;
using kvraft::test::ChildProcess;
using kvraft::test::TempDir;

namespace {

// Absolute path of `name` on PATH (execv needs one); throws if absent.
std::string require_on_path(const std::string& name) {
  std::string found = kvraft::test::find_on_path(name);
  if (found.empty()) throw std::runtime_error(name + " not found on PATH");
  return found;
}

// One RESP reply: '+', '-', ':', '$' (nil if is_nil), '*'.
struct Reply {
  char type = 0;
  std::string str;
  long long integer = 0;
  bool is_nil = false;
  std::vector<Reply> elements;
};

// A blocking RESP2 connection to 127.0.0.1:port.
class RedisConn {
 public:
  explicit RedisConn(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("connect to redis-server on port " + std::to_string(port) +
                               " failed: " + std::strerror(errno));
  }
  ~RedisConn() { ::close(fd_); }
  RedisConn(const RedisConn&) = delete;
  RedisConn& operator=(const RedisConn&) = delete;

  Reply command(const std::vector<std::string>& args) {
    std::string req = "*" + std::to_string(args.size()) + "\r\n";
    for (auto& a : args)
      req += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    size_t done = 0;
    while (done < req.size()) {
      ssize_t n = ::write(fd_, req.data() + done, req.size() - done);
      if (n <= 0) throw std::runtime_error("write to redis-server failed");
      done += static_cast<size_t>(n);
    }
    return read_reply();
  }
  // A command that must answer +OK (or any status reply).
  void ok(const std::vector<std::string>& args) {
    Reply r = command(args);
    if (r.type != '+') throw std::runtime_error(args[0] + " failed: " + r.str);
  }

 private:
  char get() {
    if (pos_ == buf_.size()) {
      char tmp[65536];
      ssize_t n = ::read(fd_, tmp, sizeof tmp);
      if (n <= 0) throw std::runtime_error("redis-server closed the connection");
      buf_.assign(tmp, static_cast<size_t>(n));
      pos_ = 0;
    }
    return buf_[pos_++];
  }
  std::string line() {
    std::string s;
    while (true) {
      char c = get();
      if (c == '\r') {
        get();  // '\n'
        return s;
      }
      s += c;
    }
  }
  Reply read_reply() {
    Reply r;
    r.type = get();
    std::string head = line();
    switch (r.type) {
      case '+':
      case '-':
        r.str = head;
        break;
      case ':':
        r.integer = std::stoll(head);
        break;
      case '$': {
        long long n = std::stoll(head);
        if (n < 0) {
          r.is_nil = true;
          break;
        }
        for (long long i = 0; i < n; ++i)
          r.str += get();
        get();
        get();
        break;
      }
      case '*': {
        long long n = std::stoll(head);
        for (long long i = 0; i < n; ++i)
          r.elements.push_back(read_reply());
        break;
      }
      default:
        throw std::runtime_error(std::string("bad reply type ") + r.type);
    }
    return r;
  }

  int fd_ = -1;
  std::string buf_;
  size_t pos_ = 0;
};

// A stock redis-server on a free port, persisting to dir/dbfilename only on
// SAVE. Killed (and reaped) when destroyed.
class RedisServer {
 public:
  RedisServer(const std::string& dir, const std::string& dbfilename)
      : port_(kvraft::test::free_port()),
        child_({require_on_path("redis-server"), "--port", std::to_string(port_), "--bind",
                "127.0.0.1", "--dir", dir, "--dbfilename", dbfilename, "--save", "", "--appendonly",
                "no", "--daemonize", "no", "--logfile", ""},
               dir + "/redis-" + std::to_string(port_) + ".log") {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!kvraft::test::port_open(port_)) {
      if (!child_.running() || std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("redis-server did not start; log:\n" +
                                 kvraft::test::read_file(child_.log_path()));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // Loading happens before listening, but be sure it finished.
    RedisConn c(port_);
    while (c.command({"PING"}).type != '+')
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  int port() const { return port_; }
  std::string log() const { return kvraft::test::read_file(child_.log_path()); }

 private:
  int port_;
  ChildProcess child_;
};

struct Entry {
  uint64_t db;
  std::string key;
  std::string value;
  int64_t expire_at_ms;
  bool operator==(const Entry&) const = default;
};

struct Collector : RdbVisitor {
  std::map<std::string, std::string> aux;
  std::map<std::pair<uint64_t, std::string>, Entry> entries;
  void on_aux(std::string_view n, std::string_view v) override { aux[std::string(n)] = v; }
  void on_string(uint64_t db, std::string_view k, std::string_view v, int64_t e) override {
    entries[{db, std::string(k)}] = Entry{db, std::string(k), std::string(v), e};
  }
};

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Runs redis-check-rdb on `path`; returns its exit status (or -1) and output.
std::pair<int, std::string> check_rdb(const TempDir& dir, const std::string& path) {
  std::string log = dir.file("check-rdb.log");
  ::unlink(log.c_str());
  ChildProcess p({require_on_path("redis-check-rdb"), path}, log);
  int status = p.wait(std::chrono::seconds(60));
  int code = status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return {code, kvraft::test::read_file(log)};
}

// A varied data set: small integers in every encoding width, numbers Redis
// keeps as text, long compressible text, incompressible binary with NULs
// and CRLFs, keys with expiry (one already expired), three dbs.
std::vector<Entry> sample_entries(int64_t base_ms) {
  std::mt19937_64 rng(7);
  auto random_bytes = [&](size_t n) {
    std::string s(n, '\0');
    for (auto& c : s)
      c = static_cast<char>(rng());
    return s;
  };
  std::vector<Entry> e;
  const char* numbers[] = {"0",           "-1",    "127",         "-128",       "300",
                           "-40000",      "70000", "-2147483648", "2147483647", "2147483648",
                           "12345678901", "007",   "-0",          "3.14"};
  for (size_t i = 0; i < std::size(numbers); ++i)
    e.push_back({0, "num:" + std::to_string(i), numbers[i], kNoExpiry});
  e.push_back({0, "12", "integer-looking key", kNoExpiry});
  e.push_back({0, "empty", "", kNoExpiry});
  std::string text;
  while (text.size() < 5000)
    text += "the quick brown fox jumps over the lazy dog ";
  e.push_back({0, "text", text, kNoExpiry});
  e.push_back({0, "binary", random_bytes(3000), kNoExpiry});
  e.push_back({0, std::string("bin\0key\r\n", 9), std::string("\0\r\n\xff", 4), kNoExpiry});
  e.push_back({0, "ttl:soon", "v1", base_ms + 3600 * 1000 + 123});
  e.push_back({0, "ttl:far", text.substr(0, 100), base_ms + 86400LL * 1000 * 365});
  for (int i = 0; i < 300; ++i)
    e.push_back({3, "many:" + std::to_string(i), std::to_string(i * 7919),
                 i % 3 == 0 ? base_ms + 600000 + i : kNoExpiry});
  e.push_back({15, "last-db", "x", kNoExpiry});
  e.push_back({15, "ttl:ms", random_bytes(40), base_ms + 7200 * 1000 + 999});
  return e;
}

std::string write_entries(const std::vector<Entry>& entries, const std::string& path,
                          const Entry* expired = nullptr) {
  RdbSnapshotInfo info;
  info.meta.index = 77;
  info.meta.term = 3;
  info.meta.conf.voters = {1, 2, 3};
  info.meta.conf.learners = {9};
  write_rdb_file_atomically(path, info, [&](RdbWriter& w) {
    std::map<uint64_t, std::vector<const Entry*>> by_db;
    for (auto& e : entries)
      by_db[e.db].push_back(&e);
    if (expired != nullptr) by_db[expired->db].push_back(expired);
    for (auto& [db, list] : by_db) {
      uint64_t expires = 0;
      for (auto* e : list)
        expires += e->expire_at_ms != kNoExpiry;
      w.select_db(db, list.size(), expires);
      for (auto* e : list)
        w.write_string(e->key, e->value, e->expire_at_ms);
    }
  });
  return path;
}

}  // namespace

TEST_CASE("redis-check-rdb accepts our files and rejects a corrupted one") {
  TempDir dir("rdb-compat");
  std::string path = write_entries(sample_entries(now_ms()), dir.file("ours.rdb"));
  auto [code, out] = check_rdb(dir, path);
  CHECK_MESSAGE(code == 0, out);
  CHECK_MESSAGE(out.find("RDB looks OK") != std::string::npos, out);
  CHECK(out.find("kvraft-membership") != std::string::npos);  // aux fields are printed

  // The check is not vacuous: one flipped byte in the middle fails it.
  std::string bytes = kvraft::test::read_file(path);
  bytes[bytes.size() / 2] ^= 0x01;
  std::string bad = dir.file("bad.rdb");
  {
    FILE* f = std::fopen(bad.c_str(), "wb");
    REQUIRE(f != nullptr);
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  auto [bad_code, bad_out] = check_rdb(dir, bad);
  CHECK_MESSAGE(bad_code != 0, bad_out);
}

TEST_CASE("stock redis-server loads our file with the same keys, values and expiry times") {
  TempDir dir("rdb-compat");
  int64_t base = now_ms();
  std::vector<Entry> entries = sample_entries(base);
  Entry expired{3, "ttl:past", "gone", base - 60000};
  write_entries(entries, dir.file("ours.rdb"), &expired);

  RedisServer server(dir.path(), "ours.rdb");
  RedisConn c(server.port());
  std::map<uint64_t, long long> per_db;
  for (auto& e : entries)
    ++per_db[e.db];
  for (auto& [db, count] : per_db) {
    c.ok({"SELECT", std::to_string(db)});
    CAPTURE(db);
    CHECK(c.command({"DBSIZE"}).integer == count);  // the expired key was not loaded
  }
  for (auto& e : entries) {
    CAPTURE(e.key);
    c.ok({"SELECT", std::to_string(e.db)});
    Reply v = c.command({"GET", e.key});
    REQUIRE(v.type == '$');
    CHECK_FALSE(v.is_nil);
    CHECK(v.str == e.value);
    Reply pttl = c.command({"PTTL", e.key});
    if (e.expire_at_ms == kNoExpiry) {
      CHECK(pttl.integer == -1);
    } else {
      CHECK(pttl.integer > 0);
      CHECK(pttl.integer <= e.expire_at_ms - base);
      CHECK(c.command({"PEXPIRETIME", e.key}).integer == e.expire_at_ms);
    }
  }
  c.ok({"SELECT", "3"});
  CHECK(c.command({"EXISTS", "ttl:past"}).integer == 0);

  // What redis-server saves from our data reads back the same.
  c.ok({"SAVE"});
  Collector back;
  RdbReadResult r = read_rdb_file(dir.file("ours.rdb"), back);
  CHECK(r.version == 10);
  CHECK(r.checksum_verified);
  CHECK(back.entries.size() == entries.size());
  for (auto& e : entries)
    CHECK(back.entries[{e.db, e.key}] == e);
}

TEST_CASE("we read the dump.rdb a stock redis-server writes") {
  TempDir dir("rdb-compat");
  int64_t base = now_ms();
  std::vector<Entry> entries = sample_entries(base);
  {
    RedisServer server(dir.path(), "dump.rdb");
    RedisConn c(server.port());
    for (auto& e : entries) {
      c.ok({"SELECT", std::to_string(e.db)});
      c.ok({"SET", e.key, e.value});
      if (e.expire_at_ms != kNoExpiry)
        CHECK(c.command({"PEXPIREAT", e.key, std::to_string(e.expire_at_ms)}).integer == 1);
    }
    // A relative TTL, stored as an absolute time.
    c.ok({"SELECT", "0"});
    c.ok({"SET", "ex", "100s", "EX", "100"});
    c.ok({"SAVE"});
  }
  Collector got;
  RdbReadResult r = read_rdb_file(dir.file("dump.rdb"), got);
  CHECK(r.version == 10);
  CHECK(r.checksum_verified);
  CHECK(r.keys == entries.size() + 1);
  CHECK(got.aux["redis-ver"] == "7.0.15");
  CHECK(got.aux["redis-bits"] == "64");
  for (auto& e : entries) {
    CAPTURE(e.key);
    auto it = got.entries.find({e.db, e.key});
    REQUIRE(it != got.entries.end());
    CHECK(it->second == e);
  }
  Entry ex = got.entries[{0, "ex"}];
  CHECK(ex.value == "100s");
  CHECK(ex.expire_at_ms >= base + 100000);
  CHECK(ex.expire_at_ms <= now_ms() + 100000);
}

// ------------------------------------------------------------ collections

namespace {

// A collection's contents in a canonical form: list elements in order, set
// members and hash "field\0value" pairs sorted, zset (member, score) in rank
// order.
struct Coll {
  RdbVisitor::Collection kind;
  std::vector<std::string> elems;
  std::vector<std::pair<std::string, double>> scored;
  int64_t expire_at_ms = kNoExpiry;
  bool operator==(const Coll& o) const {
    return kind == o.kind && elems == o.elems && scored == o.scored;
  }
};

// A hash field and value as one sortable string: "<field length>:<field><value>".
std::string pair_key(std::string_view f, std::string_view v) {
  return std::to_string(f.size()) + ":" + std::string(f) + std::string(v);
}
std::pair<std::string_view, std::string_view> split_pair(std::string_view p) {
  size_t colon = p.find(':');
  size_t n = std::stoul(std::string(p.substr(0, colon)));
  return {p.substr(colon + 1, n), p.substr(colon + 1 + n)};
}

void canonicalize(Coll& c) {
  using K = RdbVisitor::Collection;
  if (c.kind == K::kSet || c.kind == K::kHash) std::sort(c.elems.begin(), c.elems.end());
  if (c.kind == K::kZset)
    std::sort(c.scored.begin(), c.scored.end(), [](auto& a, auto& b) {
      return a.second != b.second ? a.second < b.second : a.first < b.first;
    });
}

struct CollCollector : RdbVisitor {
  std::map<std::string, Coll> colls;
  std::string open;
  void on_string(uint64_t, std::string_view, std::string_view, int64_t) override {}
  void on_collection_begin(uint64_t, std::string_view key, Collection kind, uint64_t,
                           int64_t expire) override {
    open = std::string(key);
    colls[open] = Coll{kind, {}, {}, expire};
  }
  void on_list_element(std::string_view e) override { colls[open].elems.emplace_back(e); }
  void on_set_member(std::string_view e) override { colls[open].elems.emplace_back(e); }
  void on_hash_field(std::string_view f, std::string_view v) override {
    colls[open].elems.push_back(pair_key(f, v));
  }
  void on_zset_member(std::string_view m, double s) override {
    colls[open].scored.emplace_back(m, s);
  }
  void on_collection_end() override { canonicalize(colls[open]); }
};

// Small and large values of every type, so that redis-server 7.0 holds
// each in each of its encodings: listpack / quicklist lists, intset /
// hashtable sets, listpack / hashtable hashes, listpack / skiplist zsets.
// Members: binary, empty, integer-looking; scores with inf, -inf, fractions.
std::map<std::string, Coll> sample_collections() {
  using K = RdbVisitor::Collection;
  std::mt19937_64 rng(11);
  auto random_bytes = [&](size_t n) {
    std::string s(n, '\0');
    for (auto& c : s)
      c = static_cast<char>(rng());
    return s;
  };
  std::map<std::string, Coll> m;
  const std::vector<std::string> tricky = {
      "", "0", "-1", "127", "-32768", "9223372036854775807", "007", std::string("\0\r\n\xff", 4)};
  for (size_t n : {size_t{8}, size_t{2000}}) {
    std::string tag = n < 100 ? ":small" : ":large";
    Coll list{K::kList, {}, {}};
    Coll set{K::kSet, {}, {}};
    Coll ints{K::kSet, {}, {}};
    Coll hash{K::kHash, {}, {}};
    Coll zset{K::kZset, {}, {}};
    for (size_t i = 0; i < n; ++i) {
      std::string member =
          i < tricky.size() ? tricky[i] : "m" + std::to_string(i) + random_bytes(i % 11);
      list.elems.push_back(i % 400 == 399 ? random_bytes(9000) : member);
      set.elems.push_back(member);
      // At most 512 integers keep a set an intset (set-max-intset-entries).
      if (i < 500) ints.elems.push_back(std::to_string(static_cast<int64_t>(i) * 100003 - 5000000));
      hash.elems.push_back(pair_key(member, i % 5 == 0 ? std::to_string(i) : random_bytes(i % 80)));
      double score = i == 0 ? std::numeric_limits<double>::infinity()
                     : i == 1
                         ? -std::numeric_limits<double>::infinity()
                         : static_cast<double>(static_cast<int64_t>(rng() % 200001) - 100000) / 8;
      zset.scored.emplace_back(member, score);
    }
    m["list" + tag] = list;
    m["set" + tag] = set;
    m["intset" + tag] = ints;
    m["hash" + tag] = hash;
    m["zset" + tag] = zset;
  }
  for (auto& [k, c] : m)
    canonicalize(c);
  return m;
}

std::string fmt_score(double d) {
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

// Reads collection `key` back from a live redis-server (LRANGE, SMEMBERS,
// HGETALL, ZRANGE WITHSCORES), canonicalized.
Coll fetch(RedisConn& c, const std::string& key) {
  std::string type = c.command({"TYPE", key}).str;
  Coll got{};
  if (type == "list") {
    got.kind = RdbVisitor::Collection::kList;
    for (auto& r : c.command({"LRANGE", key, "0", "-1"}).elements)
      got.elems.push_back(r.str);
  } else if (type == "set") {
    got.kind = RdbVisitor::Collection::kSet;
    for (auto& r : c.command({"SMEMBERS", key}).elements)
      got.elems.push_back(r.str);
  } else if (type == "hash") {
    got.kind = RdbVisitor::Collection::kHash;
    auto r = c.command({"HGETALL", key}).elements;
    for (size_t i = 0; i + 1 < r.size(); i += 2)
      got.elems.push_back(pair_key(r[i].str, r[i + 1].str));
  } else if (type == "zset") {
    got.kind = RdbVisitor::Collection::kZset;
    auto r = c.command({"ZRANGE", key, "0", "-1", "WITHSCORES"}).elements;
    for (size_t i = 0; i + 1 < r.size(); i += 2)
      got.scored.emplace_back(r[i].str, std::strtod(r[i + 1].str.c_str(), nullptr));
  } else {
    FAIL("key '", key, "' has type '", type, "'");
  }
  canonicalize(got);
  return got;
}

}  // namespace

TEST_CASE(
    "our file with every collection type passes redis-check-rdb and loads into redis-server") {
  using K = RdbVisitor::Collection;
  TempDir dir("rdb-compat");
  std::map<std::string, Coll> want = sample_collections();
  int64_t expire = now_ms() + 3'600'000;
  std::string path = dir.file("colls.rdb");
  write_rdb_file_atomically(path, RdbSnapshotInfo{}, [&](RdbWriter& w) {
    w.select_db(0, want.size(), 1);
    for (auto& [key, c] : want) {
      int64_t e = key == "hash:small" ? expire : kNoExpiry;
      if (c.kind == K::kZset) {
        w.write_zset(
            key, c.scored.size(),
            [&](const RdbWriter::ScoredFn& fn) {
              for (auto& [m, sc] : c.scored)
                fn(m, sc);
            },
            e);
      } else if (c.kind == K::kHash) {
        w.write_hash(
            key, c.elems.size(),
            [&](const RdbWriter::PairFn& fn) {
              for (auto& fv : c.elems) {
                auto [f, v] = split_pair(fv);
                fn(f, v);
              }
            },
            e);
      } else {
        auto gen = [&](const RdbWriter::ElementFn& fn) {
          for (auto& x : c.elems)
            fn(x);
        };
        if (c.kind == K::kList)
          w.write_list(key, c.elems.size(), gen, e);
        else
          w.write_set(key, c.elems.size(), gen, e);
      }
    }
  });
  auto [code, out] = check_rdb(dir, path);
  CHECK_MESSAGE(code == 0, out);
  CHECK_MESSAGE(out.find("RDB looks OK") != std::string::npos, out);

  RedisServer server(dir.path(), "colls.rdb");
  RedisConn c(server.port());
  CHECK(c.command({"DBSIZE"}).integer == static_cast<long long>(want.size()));
  for (auto& [key, w] : want) {
    CAPTURE(key);
    Coll got = fetch(c, key);
    CHECK(got.kind == w.kind);
    CHECK(got.elems == w.elems);
    REQUIRE(got.scored.size() == w.scored.size());
    for (size_t i = 0; i < w.scored.size(); ++i) {
      CHECK(got.scored[i].first == w.scored[i].first);
      CHECK(got.scored[i].second == w.scored[i].second);
    }
  }
  CHECK(c.command({"PEXPIRETIME", "hash:small"}).integer == expire);
  // redis-server re-encodes what it loaded as it would its own values.
  CHECK(c.command({"OBJECT", "ENCODING", "list:large"}).str == "quicklist");
  CHECK(c.command({"OBJECT", "ENCODING", "intset:small"}).str == "intset");
  CHECK(c.command({"OBJECT", "ENCODING", "zset:small"}).str == "listpack");
}

TEST_CASE("we read a redis-server dump holding every type in every encoding") {
  TempDir dir("rdb-compat");
  std::map<std::string, Coll> want = sample_collections();
  std::map<std::string, std::string> encodings;
  {
    RedisServer server(dir.path(), "dump.rdb");
    RedisConn c(server.port());
    for (auto& [key, w] : want) {
      // Batches of 100 elements per command.
      for (size_t start = 0; start < std::max(w.elems.size(), w.scored.size()); start += 100) {
        std::vector<std::string> cmd;
        switch (w.kind) {
          case RdbVisitor::Collection::kList:
            cmd = {"RPUSH", key};
            for (size_t i = start; i < w.elems.size() && i < start + 100; ++i)
              cmd.push_back(w.elems[i]);
            break;
          case RdbVisitor::Collection::kSet:
            cmd = {"SADD", key};
            for (size_t i = start; i < w.elems.size() && i < start + 100; ++i)
              cmd.push_back(w.elems[i]);
            break;
          case RdbVisitor::Collection::kHash:
            cmd = {"HSET", key};
            for (size_t i = start; i < w.elems.size() && i < start + 100; ++i) {
              auto [f, v] = split_pair(w.elems[i]);
              cmd.emplace_back(f);
              cmd.emplace_back(v);
            }
            break;
          case RdbVisitor::Collection::kZset:
            cmd = {"ZADD", key};
            for (size_t i = start; i < w.scored.size() && i < start + 100; ++i) {
              cmd.push_back(fmt_score(w.scored[i].second));
              cmd.push_back(w.scored[i].first);
            }
            break;
        }
        REQUIRE(c.command(cmd).type == ':');
      }
      encodings[key] = c.command({"OBJECT", "ENCODING", key}).str;
    }
    c.ok({"SAVE"});
  }
  // Every encoding redis-server 7.0 has for these types was in the dump.
  CHECK(encodings["list:small"] == "quicklist");  // 7.0: one listpack node
  CHECK(encodings["list:large"] == "quicklist");
  CHECK(encodings["intset:small"] == "intset");
  CHECK(encodings["intset:large"] == "intset");
  CHECK(encodings["set:large"] == "hashtable");
  CHECK(encodings["hash:small"] == "listpack");
  CHECK(encodings["hash:large"] == "hashtable");
  CHECK(encodings["zset:small"] == "listpack");
  CHECK(encodings["zset:large"] == "skiplist");

  CollCollector got;
  RdbReadResult r = read_rdb_file(dir.file("dump.rdb"), got);
  CHECK(r.checksum_verified);
  CHECK(r.keys == want.size());
  for (auto& [key, w] : want) {
    CAPTURE(key);
    REQUIRE(got.colls.count(key) == 1);
    CHECK(got.colls[key] == w);
  }
}
