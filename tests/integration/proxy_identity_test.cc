// Integration tests of who a follower's proxied commands run as on the
// leader (src/proxy_auth.h, src/leader_proxy.h), with real 3-node clusters:
// a restricted ACL user on a follower is refused exactly what the leader
// refuses it and allowed what it allows (transactions and WATCH included),
// even when the default user has a password; the leader's own ACL state
// decides for a user the follower still knew; a plain client cannot pass for
// a proxy (wrong, replayed or missing proofs, a borrowed client name); and
// without a cluster-secret a follower refuses, with a clear error, to
// forward the commands of users other than `default`.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "src/peer_auth.h"
#include "tests/support/cluster.h"
#include "tests/support/redis_client.h"

using kvraft::test::eventually;
using kvraft::test::LocalCluster;
using kvraft::test::RedisConnection;

namespace {

const std::string kSecret = "proxy-test-secret";

// Plays a follower's proxy on `c`: asks for a challenge and answers it as
// node `id` with `secret`. Returns the reply to the proof.
std::string proxy_auth(RedisConnection& c, int id, const std::string& secret,
                       std::vector<std::string>* sent = nullptr) {
  kvraft::test::Reply challenge = c.cmd({"KVRAFT.PROXY-AUTH", "CHALLENGE"});
  if (challenge.type != kvraft::test::Reply::Type::kString) return challenge.render();
  std::string nonce = "00112233445566778899aabbccddeeff";
  std::string proof = kvraft::hex_encode(kvraft::proxy_proof(
      secret, "kvraft", static_cast<kvraft::raft::NodeId>(id), challenge.str, nonce));
  std::vector<std::string> argv = {"KVRAFT.PROXY-AUTH", std::to_string(id), nonce, proof};
  if (sent) *sent = argv;
  return c.run(argv);
}

std::string unknown(const std::string& args) {
  return "(error) ERR unknown command 'KVRAFT.PROXY-AS', with args beginning with: " + args;
}

}  // namespace

TEST_CASE("a restricted user on a follower is refused and allowed exactly as on the leader") {
  LocalCluster cluster(3, {"--cluster-secret", kSecret});
  int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  int follower = (leader + 1) % 3;
  {
    RedisConnection setup(cluster.port(leader));
    REQUIRE(setup.run({"ACL", "SETUSER", "alice", "on", ">pw", "~foo*", "%R~ro*", "+@read", "+set",
                       "-get", "+multi", "+exec", "+watch", "+discard"}) == "OK");
    REQUIRE(setup.run({"ACL", "SETUSER", "admin", "on", ">adminpw", "~*", "&*", "+@all"}) == "OK");
    // The default user needs a password from now on: a proxy that logged
    // in as `default` could not work at all.
    REQUIRE(setup.run({"ACL", "SETUSER", "default", "on", "resetpass", ">defaultpw"}) == "OK");
  }
  RedisConnection admin(cluster.port(leader));
  REQUIRE(admin.run({"AUTH", "admin", "adminpw"}) == "OK");
  RedisConnection on_leader(cluster.port(leader));
  REQUIRE(on_leader.run({"AUTH", "alice", "pw"}) == "OK");
  RedisConnection on_follower(cluster.port(follower));
  REQUIRE(eventually([&] { return on_follower.run({"AUTH", "alice", "pw"}) == "OK"; }));
  REQUIRE(eventually([&] {
    RedisConnection c(cluster.port(follower));
    return c.run({"AUTH", "default", "defaultpw"}) == "OK";
  }));

  const std::vector<std::vector<std::string>> commands = {
      {"SET", "foo1", "v"}, {"STRLEN", "foo1"},  {"GET", "foo1"},   {"DEL", "foo1"},
      {"SET", "bar", "v"},  {"SET", "ro1", "v"}, {"STRLEN", "ro1"}, {"LPUSH", "foo2", "x"},
      {"FLUSHALL"},         {"WATCH", "bar"},    {"WATCH", "foo1"}, {"MULTI"},
      {"SET", "foo3", "t"}, {"STRLEN", "foo3"},  {"EXEC"},          {"ACL", "SETUSER", "eve"},
      {"STRLEN", "foo3"},
  };
  for (const auto& cmd : commands) {
    std::string direct = on_leader.run(cmd);
    std::string proxied = on_follower.run(cmd);
    CAPTURE(cmd[0]);
    CAPTURE(direct);
    CHECK(proxied == direct);
  }
  // What was allowed ran on the leader, what was refused did not.
  CHECK(admin.run({"GET", "foo1"}) == "v");
  CHECK(admin.run({"GET", "foo3"}) == "t");
  CHECK(admin.run({"EXISTS", "bar", "ro1", "foo2"}) == "(integer) 0");
  CHECK(admin.run({"ACL", "GETUSER", "eve"}) == "(nil)");
  // Clients of different users and databases take turns on the follower's
  // one proxy connection: each command runs as its own client's user.
  RedisConnection admin_on_follower(cluster.port(follower));
  REQUIRE(admin_on_follower.run({"AUTH", "admin", "adminpw"}) == "OK");
  REQUIRE(admin_on_follower.run({"SELECT", "2"}) == "OK");
  for (int i = 0; i < 3; ++i) {
    CHECK(admin_on_follower.run({"SET", "bar", "x"}) == "OK");
    CHECK(on_follower.run({"SET", "bar", "y"}) == "(error) NOPERM No permissions to access a key");
    CHECK(on_follower.run({"STRLEN", "foo1"}) == "(integer) 1");
    CHECK(admin_on_follower.run({"DEL", "bar"}) == "(integer) 1");
  }
  CHECK(admin_on_follower.run({"SET", "bar", "db2"}) == "OK");
  CHECK(admin.run({"EXISTS", "bar"}) == "(integer) 0");
  CHECK(admin.run({"SELECT", "2"}) == "OK");
  CHECK(admin.run({"GET", "bar"}) == "db2");
  CHECK(admin.run({"SELECT", "0"}) == "OK");
  // An unauthenticated client on the follower needs the default password,
  // and with it runs as `default`.
  RedisConnection anonymous(cluster.port(follower));
  CHECK(anonymous.run({"SET", "foo1", "w"}) == "(error) NOAUTH Authentication required.");
  CHECK(anonymous.run({"AUTH", "defaultpw"}) == "OK");
  CHECK(anonymous.run({"SET", "foo4", "w"}) == "OK");
  CHECK(admin.run({"GET", "foo4"}) == "w");
}

TEST_CASE("the leader checks a proxied command as the user the proxy names, by its own ACL") {
  LocalCluster cluster(3, {"--cluster-secret", kSecret});
  int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  int follower_id = cluster.id((leader + 1) % 3);
  RedisConnection admin(cluster.port(leader));
  REQUIRE(admin.run({"ACL", "SETUSER", "alice", "on", ">pw", "~foo*", "+@read", "+set", "-get",
                     "+exec", "+watch"}) == "OK");

  RedisConnection proxy(cluster.port(leader));
  REQUIRE(proxy_auth(proxy, follower_id, kSecret) == "OK");
  CHECK(proxy.run({"CLIENT", "GETNAME"}) ==
        "(error) NOPERM User  has no permissions to run the "
        "'client|getname' command");
  CHECK(proxy.run({"KVRAFT.PROXY-AS", "alice", "0"}) == "OK");
  CHECK(proxy.run({"SET", "foo1", "v"}) == "OK");
  CHECK(proxy.run({"GET", "foo1"}) ==
        "(error) NOPERM User alice has no permissions to run the 'get' command");
  CHECK(proxy.run({"SET", "bar", "v"}) == "(error) NOPERM No permissions to access a key");
  // WATCH's read and a whole transaction are judged as what they stand for.
  CHECK(proxy.run({"KVRAFT.FINGERPRINT", "bar"}) ==
        "(error) NOPERM No permissions to access a key");
  CHECK(proxy.run({"KVRAFT.FINGERPRINT", "foo1"}).starts_with("["));
  CHECK(proxy.run({"KVRAFT.EXEC", "0", "0", "2", "3", "SET", "foo2", "x", "2", "DEL", "foo1"}) ==
        "(error) NOPERM User alice has no permissions to run the 'del' command");
  CHECK(proxy.run({"KVRAFT.EXEC", "0", "0", "1", "3", "SET", "foo2", "x"}) == "[OK]");
  // The database travels with the user.
  CHECK(proxy.run({"KVRAFT.PROXY-AS", "alice", "3"}) == "OK");
  CHECK(proxy.run({"SET", "foo9", "db3"}) == "OK");
  CHECK(admin.run({"EXISTS", "foo2", "foo9"}) == "(integer) 1");
  CHECK(proxy.run({"KVRAFT.PROXY-AS", "alice", "99"}) == "(error) ERR DB index is out of range");

  // A user the leader does not know (deleted, never replicated): refused
  // with Redis's NOPERM text, and the proxy's connection stays.
  CHECK(proxy.run({"KVRAFT.PROXY-AS", "nobody", "0"}) == "OK");
  CHECK(proxy.run({"SET", "foo1", "w"}) ==
        "(error) NOPERM User nobody has no permissions to run the 'set' command");
  CHECK(admin.run({"ACL", "DELUSER", "alice"}) == "(integer) 1");
  CHECK(proxy.run({"KVRAFT.PROXY-AS", "alice", "0"}) == "OK");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a cron or two
  CHECK(proxy.run({"STRLEN", "foo1"}) ==
        "(error) NOPERM User alice has no permissions to run the 'strlen' command");
  CHECK(proxy.run({"KVRAFT.PROXY-AS", "default", "0"}) == "OK");
  CHECK(proxy.run({"GET", "foo1"}) == "v");
}

TEST_CASE("a plain client cannot pass for a follower's proxy") {
  LocalCluster cluster(3, {"--cluster-secret", kSecret});
  int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  int follower_id = cluster.id((leader + 1) % 3);
  RedisConnection admin(cluster.port(leader));
  // alice may write, but nothing dangerous and no DEL.
  REQUIRE(admin.run({"ACL", "SETUSER", "alice", "on", ">pw", "~foo*", "+@read", "+@write",
                     "-@dangerous", "-del", "+exec"}) == "OK");
  REQUIRE(admin.run({"SET", "foo1", "v"}) == "OK");

  RedisConnection forger(cluster.port(leader));
  CHECK(forger.run({"KVRAFT.PROXY-AS", "default", "0"}) == unknown("'default' '0' "));
  // The name a proxy announces grants nothing by itself.
  CHECK(forger.run({"HELLO", "2", "AUTH", "alice", "pw", "SETNAME", "kvraft-proxy"})
            .starts_with("[server, redis"));
  CHECK(forger.run({"KVRAFT.PROXY-AS", "default", "0"}) == unknown("'default' '0' "));
  CHECK(forger.run({"KVRAFT.EXEC", "0", "0", "1", "1", "FLUSHALL"}) ==
        "(error) NOPERM User alice has no permissions to run the 'flushall' command");
  CHECK(forger.run({"KVRAFT.EXEC", "0", "0", "1", "2", "DEL", "foo1"}) ==
        "(error) NOPERM User alice has no permissions to run the 'del' command");
  CHECK(admin.run({"GET", "foo1"}) == "v");

  // Proofs: none without a challenge, a wrong secret, a non-member's id, a
  // replayed answer: each refused, and the connection stays unprivileged.
  RedisConnection guesser(cluster.port(leader));
  CHECK(guesser.run({"KVRAFT.PROXY-AUTH", std::to_string(follower_id), "00", "00"}) ==
        "(error) ERR no proxy challenge outstanding: send KVRAFT.PROXY-AUTH CHALLENGE first");
  CHECK(proxy_auth(guesser, follower_id, "not-the-secret") ==
        "(error) ERR proxy authentication failed");
  CHECK(proxy_auth(guesser, 9, kSecret) == "(error) ERR proxy authentication failed");
  CHECK(guesser.run({"KVRAFT.PROXY-AS", "default", "0"}) == unknown("'default' '0' "));
  RedisConnection member(cluster.port(leader));
  std::vector<std::string> answer;
  REQUIRE(proxy_auth(member, follower_id, kSecret, &answer) == "OK");
  RedisConnection replayer(cluster.port(leader));
  CHECK(replayer.run({"KVRAFT.PROXY-AUTH", "CHALLENGE"}).size() == 32);
  CHECK(replayer.run(answer) == "(error) ERR proxy authentication failed");
  CHECK(replayer.run({"KVRAFT.PROXY-AS", "default", "0"}) == unknown("'default' '0' "));
  CHECK(cluster.log(leader).find("claiming to be node 9: not a member") != std::string::npos);
}

TEST_CASE("without a cluster-secret a follower forwards only the default user's commands") {
  LocalCluster cluster(3);
  int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  int follower = (leader + 1) % 3;
  RedisConnection admin(cluster.port(leader));
  REQUIRE(admin.run({"ACL", "SETUSER", "alice", "on", ">pw", "~foo*", "+@all"}) == "OK");
  RedisConnection alice(cluster.port(follower));
  REQUIRE(eventually([&] { return alice.run({"AUTH", "alice", "pw"}) == "OK"; }));
  std::string leader_addr = "127.0.0.1:" + std::to_string(cluster.port(leader));
  CHECK(alice.run({"SET", "foo1", "v"}) ==
        "(error) ERR this node forwards to the Raft leader only the commands of the 'default' "
        "user when no cluster-secret is configured; send the commands of user 'alice' to the "
        "leader at " +
            leader_addr + " or configure cluster-secret");
  CHECK(admin.run({"EXISTS", "foo1"}) == "(integer) 0");
  // The default user's commands are forwarded as before.
  RedisConnection plain(cluster.port(follower));
  CHECK(plain.run({"SET", "foo1", "d"}) == "OK");
  CHECK(plain.run({"GET", "foo1"}) == "d");
  CHECK(admin.run({"GET", "foo1"}) == "d");
}
