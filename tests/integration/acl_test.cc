// Integration tests of access control against real kvraft-server processes:
// ACL users, AUTH / HELLO AUTH, permission errors with Redis 7's texts, the
// users surviving a restart (snapshot + log), replication of the users to
// every node of a 3-node cluster, and protected mode accepting loopback
// clients.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "tests/support/cluster.h"
#include "tests/support/redis_client.h"
#include "tests/support/test_support.h"

using kvraft::test::eventually;
using kvraft::test::LocalCluster;
using kvraft::test::RedisConnection;
using kvraft::test::ServerProcess;

namespace {

const std::string kWrongPass =
    "(error) WRONGPASS invalid username-password pair or user is disabled.";

// True once `c` is closed by the server (its next command fails).
bool disconnected(RedisConnection& c) {
  try {
    c.run({"PING"});
    return false;
  } catch (const std::exception&) {
    return true;
  }
}

}  // namespace

TEST_CASE("ACL users: SETUSER, AUTH, command and key permissions with Redis's errors") {
  ServerProcess server;
  RedisConnection admin(server.port());
  CHECK(admin.run({"ACL", "LIST"}) == "[user default on nopass ~* &* +@all]");
  CHECK(admin.run({"ACL", "WHOAMI"}) == "default");
  CHECK(admin.run({"ACL", "SETUSER", "alice", "on", ">pw", "~foo*", "%R~bar*", "+@read", "+set",
                   "-get"}) == "OK");
  CHECK(admin.run({"ACL", "SETUSER", "bob", "bogus"}) ==
        "(error) ERR Error in ACL SETUSER modifier 'bogus': Syntax error");
  CHECK(admin.run({"ACL", "USERS"}) == "[alice, default]");
  CHECK(admin.run({"ACL", "GETUSER", "alice"}) ==
        "[flags, [on], passwords, "
        "[30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4], commands, -@all "
        "+@read +set -get, keys, ~foo* %R~bar*, channels, , selectors, []]");
  CHECK(admin.run({"ACL", "GETUSER", "nobody"}) == "(nil)");

  RedisConnection alice(server.port());
  CHECK(alice.run({"AUTH", "alice", "wrong"}) == kWrongPass);
  CHECK(alice.run({"AUTH", "nobody", "pw"}) == kWrongPass);
  CHECK(alice.run({"AUTH", "alice", "pw"}) == "OK");
  CHECK(alice.run({"ACL", "WHOAMI"}) ==
        "(error) NOPERM User alice has no permissions to run the 'acl|whoami' command");
  CHECK(alice.run({"SET", "foo1", "v"}) == "OK");
  CHECK(alice.run({"SET", "other", "v"}) == "(error) NOPERM No permissions to access a key");
  CHECK(alice.run({"SET", "bar1", "v"}) == "(error) NOPERM No permissions to access a key");
  CHECK(alice.run({"STRLEN", "foo1"}) == "(integer) 1");
  CHECK(alice.run({"GET", "foo1"}) ==
        "(error) NOPERM User alice has no permissions to run the 'get' command");
  CHECK(alice.run({"LPUSH", "foo2", "x"}) ==
        "(error) NOPERM User alice has no permissions to run the 'lpush' command");
  // Nothing refused was executed.
  CHECK(admin.run({"EXISTS", "other", "bar1", "foo2"}) == "(integer) 0");

  // Categories: a user who may write but nothing dangerous.
  CHECK(admin.run({"ACL", "SETUSER", "w", "on", "nopass", "allkeys", "+@all", "-@dangerous"}) ==
        "OK");
  // HELLO 3 AUTH (hiredis 0.14 reads no RESP3, so raw bytes).
  std::string hello3 =
      kvraft::test::raw_exchange(server.port(), "HELLO 3 AUTH w any\r\nACL WHOAMI\r\n");
  CHECK(hello3.starts_with("%7\r\n"));
  CHECK(hello3.find("$1\r\nw\r\n") != std::string::npos);
  CHECK(kvraft::test::raw_exchange(server.port(), "HELLO 3 AUTH alice wrong\r\n") ==
        "-" + kWrongPass.substr(8) + "\r\n");
  RedisConnection w(server.port());
  CHECK(w.run({"HELLO", "2", "AUTH", "w", "any"}).find("proto") != std::string::npos);
  CHECK(w.run({"ACL", "WHOAMI"}) == "w");
  CHECK(w.run({"RPUSH", "l", "a"}) == "(integer) 1");
  CHECK(w.run({"FLUSHALL"}) ==
        "(error) NOPERM User w has no permissions to run the 'flushall' command");
  CHECK(w.run({"KEYS", "*"}) ==
        "(error) NOPERM User w has no permissions to run the 'keys' command");
  CHECK(admin.run({"ACL", "CAT", "nosuch"}) == "(error) ERR Unknown category 'nosuch'");
  std::string dangerous = admin.run({"ACL", "CAT", "dangerous"});
  CHECK(dangerous.find("flushall") != std::string::npos);
  CHECK(dangerous.find("keys") != std::string::npos);
  CHECK(dangerous.find("strlen") == std::string::npos);
}

TEST_CASE("ACL DELUSER and off: the user's connections are refused from then on") {
  ServerProcess server;
  RedisConnection admin(server.port());
  CHECK(admin.run({"ACL", "SETUSER", "alice", "on", ">pw", "allkeys", "+@all"}) == "OK");
  CHECK(admin.run({"ACL", "SETUSER", "carol", "on", ">pw", "allkeys", "+@all"}) == "OK");
  RedisConnection alice(server.port());
  RedisConnection carol(server.port());
  CHECK(alice.run({"AUTH", "alice", "pw"}) == "OK");
  CHECK(carol.run({"AUTH", "carol", "pw"}) == "OK");
  CHECK(alice.run({"PING"}) == "PONG");
  CHECK(admin.run({"CLIENT", "LIST"}).find("user=alice") != std::string::npos);
  CHECK(admin.run({"ACL", "DELUSER", "default"}) ==
        "(error) ERR The 'default' user cannot be removed");
  CHECK(admin.run({"ACL", "DELUSER", "alice", "nobody"}) == "(integer) 1");
  // Closed by the server without alice sending anything (as Redis does).
  CHECK(eventually([&] {
    return admin.run({"CLIENT", "LIST"}).find("user=alice") == std::string::npos;
  }));
  CHECK(disconnected(alice));
  CHECK(admin.run({"ACL", "SETUSER", "carol", "off"}) == "OK");
  CHECK(disconnected(carol));
  RedisConnection again(server.port());
  CHECK(again.run({"AUTH", "alice", "pw"}) == kWrongPass);
  CHECK(again.run({"AUTH", "carol", "pw"}) == kWrongPass);
}

TEST_CASE("a password on the default user makes new connections authenticate") {
  ServerProcess server;
  RedisConnection admin(server.port());
  CHECK(admin.run({"AUTH", "pw"}) ==
        "(error) ERR AUTH <password> called without any password configured for the default "
        "user. Are you sure your configuration is correct?");
  CHECK(admin.run({"ACL", "SETUSER", "default", "resetpass", ">pw"}) == "OK");
  RedisConnection c(server.port());
  CHECK(c.run({"GET", "k"}) == "(error) NOAUTH Authentication required.");
  CHECK(c.run({"AUTH", "nope"}) == kWrongPass);
  CHECK(c.run({"AUTH", "pw"}) == "OK");
  CHECK(c.run({"GET", "k"}) == "(nil)");
}

TEST_CASE("ACL users survive a restart from the snapshot plus the log") {
  ServerProcess server;
  {
    RedisConnection c(server.port());
    CHECK(c.run({"ACL", "SETUSER", "snap", "on", ">a", "~s*", "+get"}) == "OK");
    CHECK(c.run({"SAVE"}) == "OK");  // snap is in the snapshot's kvraft-acl field
    CHECK(c.run({"ACL", "SETUSER", "logged", "on", ">b", "~l*", "+set"}) == "OK");  // log only
    CHECK(c.run({"ACL", "SETUSER", "snap", "+strlen"}) == "OK");
  }
  std::string before;
  {
    RedisConnection c(server.port());
    before = c.run({"ACL", "LIST"});
  }
  server.restart_after_kill();
  RedisConnection c(server.port());
  CHECK(eventually([&] { return c.run({"ACL", "LIST"}) == before; }));
  RedisConnection snap(server.port());
  CHECK(snap.run({"AUTH", "snap", "a"}) == "OK");
  CHECK(snap.run({"STRLEN", "s1"}) == "(integer) 0");
  CHECK(snap.run({"SET", "s1", "x"}) ==
        "(error) NOPERM User snap has no permissions to run the 'set' command");
  RedisConnection logged(server.port());
  CHECK(logged.run({"AUTH", "logged", "b"}) == "OK");
  CHECK(eventually([&] { return logged.run({"SET", "l1", "x"}) == "OK"; }));
}

TEST_CASE("requirepass keeps working beside ACL users") {
  ServerProcess server({"--requirepass", "s3cret"});
  RedisConnection c(server.port());
  CHECK(c.run({"PING"}) == "(error) NOAUTH Authentication required.");
  CHECK(c.run({"AUTH", "s3cret"}) == "OK");
  CHECK(c.run({"ACL", "SETUSER", "alice", "on", ">pw", "allkeys", "+@all"}) == "OK");
  RedisConnection a(server.port());
  CHECK(a.run({"AUTH", "alice", "s3cret"}) == kWrongPass);
  CHECK(a.run({"AUTH", "alice", "pw"}) == "OK");
  CHECK(a.run({"SET", "k", "v"}) == "OK");
  CHECK(a.run({"ACL", "WHOAMI"}) == "alice");
}

TEST_CASE("protected mode accepts loopback clients") {
  ServerProcess server({"--protected-mode", "yes"});
  RedisConnection c(server.port());
  CHECK(c.run({"PING"}) == "PONG");
  CHECK(c.run({"CONFIG", "GET", "protected-mode"}) == "[protected-mode, yes]");
  CHECK(c.run({"CONFIG", "SET", "protected-mode", "no"}) == "OK");
  CHECK(c.run({"CONFIG", "GET", "protected-mode"}) == "[protected-mode, no]");
}

TEST_CASE("3-node cluster: ACL users are replicated and enforced on every node") {
  // A follower forwards a user's commands as that user only with a secret.
  LocalCluster cluster(3, {"--cluster-secret", "acl-test-secret"});
  int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  int f1 = (leader + 1) % 3, f2 = (leader + 2) % 3;
  RedisConnection admin(cluster.port(leader));
  CHECK(admin.run({"ACL", "SETUSER", "alice", "on", ">pw", "~foo*", "+@read", "+set"}) == "OK");

  // The user reaches the followers through the log: AUTH there succeeds.
  RedisConnection on_f1(cluster.port(f1));
  CHECK(eventually([&] { return on_f1.run({"AUTH", "alice", "pw"}) == "OK"; }));
  CHECK(on_f1.run({"SET", "foo1", "v"}) == "OK");  // forwarded to the leader
  CHECK(on_f1.run({"SET", "bar", "v"}) == "(error) NOPERM No permissions to access a key");
  CHECK(on_f1.run({"DEL", "foo1"}) ==
        "(error) NOPERM User alice has no permissions to run the 'del' command");
  CHECK(on_f1.run({"GET", "foo1"}) == "v");

  // A SETUSER sent to a follower is forwarded and replicated like any write.
  RedisConnection admin_f2(cluster.port(f2));
  CHECK(admin_f2.run({"ACL", "SETUSER", "bob", "on", ">b", "allkeys", "+get"}) == "OK");
  std::string list = admin.run({"ACL", "LIST"});
  CHECK(list.find("user bob on") != std::string::npos);
  for (int i = 0; i < 3; ++i) {
    RedisConnection c(cluster.port(i));
    CHECK(eventually([&] { return c.run({"ACL", "LIST"}) == list; }));
  }

  // DELUSER on the leader: alice's connection to a follower is refused.
  CHECK(admin.run({"ACL", "DELUSER", "alice"}) == "(integer) 1");
  CHECK(eventually([&] { return disconnected(on_f1); }));
  // A fresh connection per try: one that authenticated as alice before the
  // deletion reached f2 is itself closed when it does.
  CHECK(eventually([&] {
    RedisConnection again(cluster.port(f2));
    return again.run({"AUTH", "alice", "pw"}) == kWrongPass;
  }));
}
