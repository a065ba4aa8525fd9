// Integration tests of MULTI / EXEC / DISCARD / WATCH / UNWATCH against real
// kvraft-server processes: a single node, and a 3-node cluster through its
// leader and through a follower (proxy mode; redirect mode answers MOVED).
// The same scenarios run everywhere; texts are Redis 7's.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "tests/support/cluster.h"

using kvraft::test::LocalCluster;
using kvraft::test::RedisConnection;
using kvraft::test::Reply;
using kvraft::test::ServerProcess;

namespace {

void sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// Runs every transaction scenario, one after the other, with a client on
// `port`, a second client on `other_port` making the concurrent changes,
// and keys prefixed `p` (so one server or cluster serves several runs).
void transaction_scenarios(int port, int other_port, const std::string& p) {
  RedisConnection c(port);
  RedisConnection other(other_port);

  {
    INFO("MULTI INCR INCR EXEC returns both replies");
    CHECK(c.run({"MULTI"}) == "OK");
    CHECK(c.run({"INCR", p + "n"}) == "QUEUED");
    CHECK(c.run({"INCR", p + "n"}) == "QUEUED");
    CHECK(c.run({"EXEC"}) == "[(integer) 1, (integer) 2]");
    CHECK(other.run({"GET", p + "n"}) == "2");
  }
  {
    INFO("a queueing error discards the transaction at EXEC");
    CHECK(c.run({"MULTI"}) == "OK");
    CHECK(c.run({"SET", p + "a", "1"}) == "QUEUED");
    CHECK(c.run({"NOSUCHCMD", "x"}) ==
          "(error) ERR unknown command 'NOSUCHCMD', with args beginning with: 'x' ");
    CHECK(c.run({"GET"}) == "(error) ERR wrong number of arguments for 'get' command");
    CHECK(c.run({"SAVE"}) == "(error) ERR Command not allowed inside a transaction");
    CHECK(c.run({"EXEC"}) == "(error) EXECABORT Transaction discarded because of previous errors.");
    CHECK(c.run({"GET", p + "a"}) == "(nil)");
    CHECK(c.run({"EXEC"}) == "(error) ERR EXEC without MULTI");
  }
  {
    INFO("runtime errors are elements of the reply and do not stop the others");
    CHECK(c.run({"SET", p + "s", "text"}) == "OK");
    CHECK(c.run({"MULTI"}) == "OK");
    CHECK(c.run({"INCR", p + "s"}) == "QUEUED");
    CHECK(c.run({"SET", p + "t", "1"}) == "QUEUED");
    CHECK(c.run({"LPUSH", p + "s", "x"}) == "QUEUED");
    CHECK(c.run({"GET", p + "t"}) == "QUEUED");
    CHECK(c.run({"EXEC"}) ==
          "[(error) ERR value is not an integer or out of range, OK, (error) WRONGTYPE "
          "Operation against a key holding the wrong kind of value, 1]");
    CHECK(other.run({"GET", p + "t"}) == "1");
  }
  {
    INFO("DISCARD drops the queue; nested MULTI and WATCH inside MULTI are refused");
    CHECK(c.run({"DISCARD"}) == "(error) ERR DISCARD without MULTI");
    CHECK(c.run({"MULTI"}) == "OK");
    CHECK(c.run({"MULTI"}) == "(error) ERR MULTI calls can not be nested");
    CHECK(c.run({"WATCH", p + "d"}) == "(error) ERR WATCH inside MULTI is not allowed");
    CHECK(c.run({"SET", p + "d", "1"}) == "QUEUED");
    CHECK(c.run({"DISCARD"}) == "OK");
    CHECK(c.run({"GET", p + "d"}) == "(nil)");
    // Neither refusal aborts a transaction, as in Redis.
    CHECK(c.run({"MULTI"}) == "OK");
    CHECK(c.run({"MULTI"}) == "(error) ERR MULTI calls can not be nested");
    CHECK(c.run({"SET", p + "d", "2"}) == "QUEUED");
    CHECK(c.run({"EXEC"}) == "[OK]");
    CHECK(c.run({"MULTI"}) == "OK");
    CHECK(c.run({"EXEC"}) == "[]");
  }
  {
    INFO("PING, ECHO and SELECT inside a transaction");
    CHECK(c.run({"MULTI"}) == "OK");
    CHECK(c.run({"PING"}) == "QUEUED");
    CHECK(c.run({"ECHO", "hi"}) == "QUEUED");
    CHECK(c.run({"SELECT", "99"}) == "QUEUED");
    CHECK(c.run({"SELECT", "3"}) == "QUEUED");
    CHECK(c.run({"SET", p + "db", "three"}) == "QUEUED");
    CHECK(c.run({"EXEC"}) == "[PONG, hi, (error) ERR DB index is out of range, OK, OK]");
    // The connection stays in the database the transaction selected.
    CHECK(c.run({"GET", p + "db"}) == "three");
    CHECK(c.run({"SELECT", "0"}) == "OK");
    CHECK(c.run({"GET", p + "db"}) == "(nil)");
  }
  {
    INFO("WATCH: a change by another connection aborts EXEC with a null reply");
    CHECK(c.run({"SET", p + "w", "1"}) == "OK");
    CHECK(c.run({"WATCH", p + "w"}) == "OK");
    CHECK(other.run({"SET", p + "w", "2"}) == "OK");
    CHECK(c.run({"MULTI"}) == "OK");
    CHECK(c.run({"SET", p + "w", "mine"}) == "QUEUED");
    CHECK(c.run({"EXEC"}) == "(nil)");
    CHECK(c.run({"GET", p + "w"}) == "2");
    // EXEC forgot the watch: the next transaction runs.
    CHECK(c.run({"MULTI"}) == "OK");
    CHECK(c.run({"SET", p + "w", "mine"}) == "QUEUED");
    CHECK(c.run({"EXEC"}) == "[OK]");
  }
  {
    INFO("WATCH: an absent key created by another connection aborts EXEC");
    CHECK(c.run({"WATCH", p + "absent", p + "w2"}) == "OK");
    CHECK(other.run({"HSET", p + "absent", "f", "v"}) == "(integer) 1");
    CHECK(c.run({"MULTI"}) == "OK");
    CHECK(c.run({"SET", p + "w2", "x"}) == "QUEUED");
    CHECK(c.run({"EXEC"}) == "(nil)");
    CHECK(c.run({"EXISTS", p + "w2"}) == "(integer) 0");
  }
  {
    INFO("WATCH without a change executes; UNWATCH and DISCARD forget watches");
    CHECK(c.run({"RPUSH", p + "l", "a", "b"}) == "(integer) 2");
    CHECK(c.run({"WATCH", p + "l", p + "other"}) == "OK");
    CHECK(other.run({"SET", p + "unrelated", "1"}) == "OK");
    CHECK(other.run({"LRANGE", p + "l", "0", "-1"}) == "[a, b]");
    CHECK(c.run({"MULTI"}) == "OK");
    CHECK(c.run({"RPUSH", p + "l", "c"}) == "QUEUED");
    CHECK(c.run({"EXEC"}) == "[(integer) 3]");

    CHECK(c.run({"WATCH", p + "l"}) == "OK");
    CHECK(c.run({"UNWATCH"}) == "OK");
    CHECK(other.run({"RPUSH", p + "l", "d"}) == "(integer) 4");
    CHECK(c.run({"MULTI"}) == "OK");
    CHECK(c.run({"LLEN", p + "l"}) == "QUEUED");
    CHECK(c.run({"EXEC"}) == "[(integer) 4]");

    CHECK(c.run({"WATCH", p + "l"}) == "OK");
    CHECK(c.run({"MULTI"}) == "OK");
    CHECK(c.run({"DISCARD"}) == "OK");
    CHECK(other.run({"RPUSH", p + "l", "e"}) == "(integer) 5");
    CHECK(c.run({"MULTI"}) == "OK");
    CHECK(c.run({"LLEN", p + "l"}) == "QUEUED");
    CHECK(c.run({"EXEC"}) == "[(integer) 5]");
  }
  {
    INFO("WATCH: a key that expires before EXEC aborts; one already expired does not");
    CHECK(c.run({"SET", p + "e1", "v", "PX", "100"}) == "OK");
    sleep_ms(300);
    CHECK(c.run({"WATCH", p + "e1"}) == "OK");
    CHECK(c.run({"MULTI"}) == "OK");
    CHECK(c.run({"SET", p + "e1", "x"}) == "QUEUED");
    CHECK(c.run({"EXEC"}) == "[OK]");

    CHECK(c.run({"SET", p + "e2", "v", "PX", "2000"}) == "OK");
    CHECK(c.run({"WATCH", p + "e2"}) == "OK");
    sleep_ms(3000);
    CHECK(c.run({"MULTI"}) == "OK");
    CHECK(c.run({"SET", p + "e2", "x"}) == "QUEUED");
    CHECK(c.run({"EXEC"}) == "(nil)");
    CHECK(c.run({"GET", p + "e2"}) == "(nil)");
  }
  {
    INFO("a pipelined WATCH ... EXEC keeps request order for what follows");
    for (const auto& cmd : std::vector<std::vector<std::string>>{{"SET", p + "q", "10"},
                                                                 {"WATCH", p + "q"},
                                                                 {"MULTI"},
                                                                 {"INCR", p + "q"},
                                                                 {"EXEC"},
                                                                 {"INCR", p + "q"},
                                                                 {"WATCH", p + "q"},
                                                                 {"MULTI"},
                                                                 {"INCRBY", p + "q", "10"},
                                                                 {"EXEC"},
                                                                 {"GET", p + "q"}})
      c.append(cmd);
    std::string got;
    for (int i = 0; i < 11; ++i)
      got += c.read().render() + ";";
    CHECK(got == "OK;OK;OK;QUEUED;[(integer) 11];(integer) 12;OK;OK;QUEUED;[(integer) 22];22;");
  }
}

}  // namespace

TEST_CASE("transactions on a single node") {
  ServerProcess server;
  transaction_scenarios(server.port(), server.port(), "single:");
}

TEST_CASE("transactions in a 3-node cluster: leader, follower, identical replicas") {
  // A long election timeout: the test machine is loaded and a leader change
  // mid-scenario would turn expected replies into -TRYAGAIN.
  LocalCluster cluster(3, {"--election-timeout", "1500"});
  int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  int follower = (leader + 1) % 3;
  int follower2 = (leader + 2) % 3;
  {
    INFO("through the leader");
    transaction_scenarios(cluster.port(leader), cluster.port(follower), "lead:");
  }
  {
    INFO("through a follower (proxy mode)");
    transaction_scenarios(cluster.port(follower), cluster.port(follower2), "follow:");
  }
  {
    INFO("a follower's WATCH sees a change made through the leader");
    RedisConnection c(cluster.port(follower));
    RedisConnection lead(cluster.port(leader));
    CHECK(c.run({"SET", "fw", "1"}) == "OK");
    CHECK(c.run({"WATCH", "fw"}) == "OK");
    CHECK(lead.run({"APPEND", "fw", "2"}) == "(integer) 2");
    CHECK(c.run({"MULTI"}) == "OK");
    CHECK(c.run({"SET", "fw", "x"}) == "QUEUED");
    CHECK(c.run({"EXEC"}) == "(nil)");
  }
  // Every scenario above went through the log: the replicas must agree.
  CHECK(cluster.wait_converged());
  // The effects of one transaction are on every node (stale reads).
  RedisConnection c(cluster.port(follower));
  CHECK(c.run({"MULTI"}) == "OK");
  CHECK(c.run({"SADD", "everywhere", "a", "b"}) == "QUEUED");
  CHECK(c.run({"HSET", "everywhere:h", "f", "v"}) == "QUEUED");
  CHECK(c.run({"EXEC"}) == "[(integer) 2, (integer) 1]");
  CHECK(cluster.wait_converged());
  for (int i = 0; i < 3; ++i) {
    Reply d = cluster.digest(i);
    REQUIRE(d.elements.size() == 3);
    CHECK(d.elements[1].integer >= 2);
  }
}

TEST_CASE("EXEC on a follower in redirect mode answers MOVED") {
  LocalCluster cluster(3, {"--follower-mode", "redirect", "--election-timeout", "1500"});
  int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  int follower = (leader + 1) % 3;
  RedisConnection c(cluster.port(follower));
  CHECK(c.run({"MULTI"}) == "OK");
  CHECK(c.run({"SET", "k", "v"}) == "QUEUED");
  CHECK(c.run({"EXEC"}) == "(error) MOVED 0 127.0.0.1:" + std::to_string(cluster.port(leader)));
  CHECK(c.run({"EXEC"}) == "(error) ERR EXEC without MULTI");
  RedisConnection l(cluster.port(leader));
  CHECK(l.run({"EXISTS", "k"}) == "(integer) 0");
}
