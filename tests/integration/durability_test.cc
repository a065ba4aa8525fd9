// Integration tests of durability on a real kvraft-server process: kill -9
// in the middle of a pipelined write load loses no acknowledged write;
// snapshots under load and restart from snapshot + log; our snapshot files
// pass redis-check-rdb and load into a stock redis-server.
#include <doctest/doctest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <thread>

#include "tests/support/cluster.h"
#include "tests/support/redis_client.h"
#include "tests/support/test_support.h"

using kvraft::test::info_field;
using kvraft::test::RedisConnection;
using kvraft::test::Reply;
using kvraft::test::ServerProcess;

namespace {

std::vector<std::string> snapshot_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (name.rfind("snapshot-", 0) == 0 && name.size() > 4 &&
        name.substr(name.size() - 4) == ".rdb")
      out.push_back(e.path().string());
  }
  return out;
}

}  // namespace

TEST_CASE("kill -9 during a pipelined write load loses no acknowledged write") {
  ServerProcess server;
  std::map<std::string, std::string> acked;
  std::atomic<bool> killed{false};
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    server.process().signal(SIGKILL);
    killed = true;
  });
  try {
    RedisConnection c(server.port());
    for (int round = 0; !killed; ++round) {
      // Pipelines of 200 writes; a reply counts only once read.
      for (int i = 0; i < 200; ++i)
        c.append({"SET", "k:" + std::to_string(round) + ":" + std::to_string(i),
                  std::to_string(round * 1000 + i)});
      for (int i = 0; i < 200; ++i) {
        Reply r = c.read();
        if (r.type == Reply::Type::kStatus && r.str == "OK")
          acked["k:" + std::to_string(round) + ":" + std::to_string(i)] =
              std::to_string(round * 1000 + i);
      }
    }
  } catch (const std::exception&) {
    // The connection died with the server.
  }
  killer.join();
  MESSAGE("acknowledged before kill -9: " << acked.size());
  REQUIRE(acked.size() > 200);
  server.restart_after_kill();
  RedisConnection c(server.port());
  size_t missing = 0;
  for (const auto& [k, v] : acked)
    c.append({"GET", k});
  for (const auto& [k, v] : acked)
    if (c.read().str != v) ++missing;
  CHECK(missing == 0);
}

TEST_CASE("snapshots under load, then a restart from snapshot + log") {
  ServerProcess server({"--snapshot-log-entries", "2000"});
  {
    RedisConnection c(server.port());
    for (int i = 0; i < 10000; ++i) {
      c.append({"SET", "s:" + std::to_string(i), "v" + std::to_string(i)});
      if (i % 3 == 0) c.append({"PEXPIRE", "s:" + std::to_string(i), "3600000"});
    }
    for (int i = 0; i < 10000; ++i) {
      REQUIRE(c.read().str == "OK");
      if (i % 3 == 0) REQUIRE(c.read().integer == 1);
    }
    // Wait for a background snapshot to have completed.
    bool snapped = false;
    for (int i = 0; i < 300 && !snapped; ++i) {
      snapped = std::stoull("0" + info_field(c, "persistence", "raft_snapshot_index")) > 0;
      if (!snapped) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    REQUIRE(snapped);
    CHECK(info_field(c, "persistence", "rdb_last_bgsave_status") == "ok");
    CHECK(std::stoll(info_field(c, "persistence", "latest_fork_usec")) > 0);
    // More writes after the snapshot live only in the log.
    CHECK(c.run({"SET", "after", "snapshot"}) == "OK");
    CHECK(c.run({"DEL", "s:1"}) == "(integer) 1");
  }
  REQUIRE(!snapshot_files(server.dir()).empty());
  server.restart_after_kill();
  RedisConnection c(server.port());
  CHECK(c.run({"GET", "after"}) == "snapshot");
  CHECK(c.run({"GET", "s:1"}) == "(nil)");
  CHECK(c.run({"GET", "s:9999"}) == "v9999");
  CHECK(c.run({"DBSIZE"}) == "(integer) 10000");
  Reply ttl = c.cmd({"PTTL", "s:3"});
  CHECK(ttl.integer > 3000000);
  CHECK(c.cmd({"PTTL", "s:4"}).integer == -1);
}

TEST_CASE("SAVE writes a snapshot that redis-check-rdb accepts and redis-server loads") {
  ServerProcess server;
  RedisConnection c(server.port());
  CHECK(c.run({"SET", "plain", "value"}) == "OK");
  CHECK(c.run({"SET", "number", "12345"}) == "OK");
  CHECK(c.run({"SET", "ttl", "x", "EX", "1000"}) == "OK");
  CHECK(c.run({"SELECT", "5"}) == "OK");
  CHECK(c.run({"SET", "in-db-5", std::string(100, 'z')}) == "OK");
  long long before = c.cmd({"LASTSAVE"}).integer;
  CHECK(c.run({"SAVE"}) == "OK");
  CHECK(c.cmd({"LASTSAVE"}).integer >= before);
  auto files = snapshot_files(server.dir());
  REQUIRE(files.size() == 1);
  kvraft::test::TempDir tmp;
  std::string check_log = tmp.file("check.log");
  {
    kvraft::test::ChildProcess check({"/usr/bin/redis-check-rdb", files[0]}, check_log);
    int status = check.wait(std::chrono::seconds(30));
    REQUIRE(status != -1);
    CHECK(WEXITSTATUS(status) == 0);
  }
  CHECK(kvraft::test::read_file(check_log).find("RDB looks OK") != std::string::npos);
  // A stock redis-server started on the file has the same data.
  std::filesystem::copy_file(files[0], tmp.file("dump.rdb"));
  int port = kvraft::test::free_port();
  kvraft::test::ChildProcess redis(
      {"/usr/bin/redis-server", "--port", std::to_string(port), "--dir", tmp.path(), "--dbfilename",
       "dump.rdb", "--save", "", "--appendonly", "no"},
      tmp.file("redis.log"));
  for (int i = 0; i < 300 && !kvraft::test::port_open(port); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  RedisConnection r(port);
  CHECK(r.run({"GET", "plain"}) == "value");
  CHECK(r.run({"GET", "number"}) == "12345");
  CHECK(r.cmd({"TTL", "ttl"}).integer > 990);
  CHECK(r.run({"SELECT", "5"}) == "OK");
  CHECK(r.run({"GET", "in-db-5"}) == std::string(100, 'z'));
  // `redis` (a ChildProcess) kills the server when the test ends.
}

TEST_CASE("BGSAVE runs in a child and reports in INFO persistence") {
  ServerProcess server;
  RedisConnection c(server.port());
  for (int i = 0; i < 1000; ++i)
    c.append({"SET", "b:" + std::to_string(i), "v"});
  for (int i = 0; i < 1000; ++i)
    REQUIRE(c.read().str == "OK");
  CHECK(c.run({"BGSAVE"}) == "Background saving started");
  bool done = false;
  for (int i = 0; i < 300 && !done; ++i) {
    done = info_field(c, "persistence", "rdb_bgsave_in_progress") == "0" &&
           info_field(c, "persistence", "raft_snapshot_index") != "0";
    if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(done);
  CHECK(info_field(c, "persistence", "rdb_last_bgsave_status") == "ok");
  CHECK(c.run({"BGSAVE"}).rfind("(error) ERR nothing new to snapshot", 0) == 0);
}

TEST_CASE("import-rdb starts a new node from a stock redis-server dump") {
  kvraft::test::TempDir tmp;
  int port = kvraft::test::free_port();
  {
    kvraft::test::ChildProcess redis({"/usr/bin/redis-server", "--port", std::to_string(port),
                                      "--dir", tmp.path(), "--save", "", "--appendonly", "no"},
                                     tmp.file("redis.log"));
    for (int i = 0; i < 300 && !kvraft::test::port_open(port); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    RedisConnection r(port);
    CHECK(r.run({"SET", "migrated", "yes"}) == "OK");
    CHECK(r.run({"SET", "counter", "41"}) == "OK");
    CHECK(r.run({"SET", "long", std::string(500, 'a')}) == "OK");  // LZF-compressed
    CHECK(r.run({"SET", "ttl", "v", "EX", "5000"}) == "OK");
    CHECK(r.run({"SELECT", "2"}) == "OK");
    CHECK(r.run({"SET", "db2", "there"}) == "OK");
    CHECK(r.run({"SAVE"}) == "OK");
  }  // the ChildProcess guard kills redis-server; dump.rdb was written by SAVE
  ServerProcess server({"--import-rdb", tmp.file("dump.rdb")});
  RedisConnection c(server.port());
  CHECK(c.run({"GET", "migrated"}) == "yes");
  CHECK(c.run({"INCR", "counter"}) == "(integer) 42");
  CHECK(c.run({"GET", "long"}) == std::string(500, 'a'));
  CHECK(c.cmd({"TTL", "ttl"}).integer > 4900);
  CHECK(c.run({"SELECT", "2"}) == "OK");
  CHECK(c.run({"GET", "db2"}) == "there");
  // The imported state is durable: it survives kill -9 with the writes after it.
  server.restart_after_kill();
  RedisConnection d(server.port());
  CHECK(d.run({"GET", "counter"}) == "42");
  CHECK(d.run({"GET", "migrated"}) == "yes");
}

TEST_CASE("import-rdb of a corrupt file refuses to start and names the file") {
  kvraft::test::TempDir tmp;
  {
    FILE* f = fopen(tmp.file("dump.rdb").c_str(), "w");
    fputs("REDIS0010garbage", f);
    fclose(f);
  }
  kvraft::test::TempDir data;
  kvraft::test::ChildProcess p(
      {kvraft::test::server_binary(), "--port", std::to_string(kvraft::test::free_port()), "--dir",
       data.path(), "--import-rdb", tmp.file("dump.rdb")},
      data.file("log"));
  int status = p.wait(std::chrono::seconds(10));
  REQUIRE(status != -1);
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(kvraft::test::read_file(data.file("log")).find("dump.rdb") != std::string::npos);
}

TEST_CASE("raft-fsync never: small batches are written on the loop thread, large ones off it") {
  ServerProcess server({"--raft-fsync", "never"});
  {
    RedisConnection c(server.port());
    auto batches = [&](const char* field) { return std::stoull(info_field(c, "raft", field)); };
    const uint64_t loop_before = batches("loop_thread_batches");
    const uint64_t all_before = batches("batches");
    for (int i = 0; i < 50; ++i)
      REQUIRE(c.run({"SET", "small:" + std::to_string(i), "v"}) == "OK");
    // One at a time: every write is its own small batch, none leaves the loop.
    CHECK(batches("loop_thread_batches") >= loop_before + 50);
    // A pipeline of ~1 MB is written by the disk thread (it may be split
    // over several batches, but not all of them can be small).
    const std::string big(20000, 'x');
    for (int i = 0; i < 50; ++i)
      c.append({"SET", "big:" + std::to_string(i), big});
    for (int i = 0; i < 50; ++i)
      REQUIRE(c.read().str == "OK");
    const uint64_t loop_after = batches("loop_thread_batches");
    const uint64_t all_after = batches("batches");
    CHECK(all_after - all_before > loop_after - loop_before);
  }
  // Both kinds of batch are in the log.
  server.restart_after_kill();
  RedisConnection c(server.port());
  CHECK(c.run({"GET", "small:49"}) == "v");
  CHECK(c.run({"STRLEN", "big:49"}) == "(integer) 20000");
  CHECK(c.run({"DBSIZE"}) == "(integer) 100");
}

TEST_CASE("raft-fsync always: a lone voter writes and fsyncs its batches on the loop thread") {
  ServerProcess server({"--raft-fsync", "always"});
  {
    RedisConnection c(server.port());
    auto field = [&](const char* name) { return std::stoull(info_field(c, "raft", name)); };
    const uint64_t loop_before = field("loop_thread_batches");
    const uint64_t fsyncs_before = field("fsyncs");
    for (int i = 0; i < 50; ++i)
      REQUIRE(c.run({"SET", "k:" + std::to_string(i), std::to_string(i)}) == "OK");
    // One write at a time: each is its own batch, written and made durable
    // by the loop before its reply (no hand-off to the disk thread).
    CHECK(field("loop_thread_batches") >= loop_before + 50);
    CHECK(field("fsyncs") >= fsyncs_before + 50);
  }
  // Acknowledged means durable: every write survives kill -9.
  server.restart_after_kill();
  RedisConnection c(server.port());
  for (int i = 0; i < 50; ++i)
    CHECK(c.run({"GET", "k:" + std::to_string(i)}) == std::to_string(i));
}

TEST_CASE("raft-fsync always: a leader fsyncs off the loop thread, its followers on it") {
  // The leader's fsync overlaps sending the entries to the followers and
  // their fsyncs; a follower's (and a lone voter's) has nothing to overlap
  // with.
  kvraft::test::LocalCluster cluster(3, {"--raft-fsync", "always"});
  const int leader = cluster.wait_for_leader();
  RedisConnection c(cluster.port(leader));
  // Before it led, it saved its term and vote as a candidate, on the loop.
  const std::string leader_loop_batches = info_field(c, "raft", "loop_thread_batches");
  for (int i = 0; i < 20; ++i)
    REQUIRE(c.run({"SET", "k:" + std::to_string(i), "v"}) == "OK");
  CHECK(info_field(c, "raft", "loop_thread_batches") == leader_loop_batches);
  CHECK(std::stoull(info_field(c, "raft", "fsyncs")) >= 20);
  for (int i = 0; i < cluster.size(); ++i) {
    if (i == leader) continue;
    RedisConnection f(cluster.port(i));
    // One batch per SET (each waited for the previous one's commit).
    CHECK(std::stoull(info_field(f, "raft", "loop_thread_batches")) >= 10);
  }
}
