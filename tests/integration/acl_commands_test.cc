// Integration tests of the ACL command surface against real kvraft-server
// processes: DRYRUN, GENPASS, USERS, WHOAMI, CAT, GETUSER, LIST and HELP;
// the node-local ACL LOG (reasons, contexts, grouping, acllog-max-len,
// RESET); the aclfile (bootstrap users, ACL SAVE, ACL LOAD all or nothing,
// not reloaded at restart); and, on a 3-node cluster, ACL LOAD sent to a
// follower replacing the users on every node while ACL LOG stays per node.
// Expected texts are redis-server 7.0.15's (tests/integration/acl_cli_test.sh
// compares the deterministic replies byte for byte).
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "tests/support/cluster.h"
#include "tests/support/redis_client.h"
#include "tests/support/test_support.h"

using kvraft::test::LocalCluster;
using kvraft::test::RedisConnection;
using kvraft::test::Reply;
using kvraft::test::ServerProcess;
using kvraft::test::TempDir;

namespace {

const std::string kNoAclFile =
    "(error) ERR This Redis instance is not configured to use an ACL file. You may want to "
    "specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you "
    "have a Redis configuration file set) in order to store users in the Redis configuration.";

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

// ACL LOG's entries as name -> reply maps, newest first.
std::vector<std::map<std::string, Reply>> acl_log(RedisConnection& c,
                                                  std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {"ACL", "LOG"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Reply r = c.cmd(argv);
  REQUIRE(!r.is_error());
  std::vector<std::map<std::string, Reply>> out;
  for (const Reply& e : r.elements) {
    std::map<std::string, Reply> m;
    for (size_t k = 0; k + 1 < e.elements.size(); k += 2)
      m[e.elements[k].str] = e.elements[k + 1];
    out.push_back(std::move(m));
  }
  return out;
}

// Retries `fn` until it holds or 20 s pass (replication takes a moment and
// the machine is shared).
template <typename Fn>
bool within_20s(Fn fn) {
  for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
       std::chrono::steady_clock::now() < end;
       std::this_thread::sleep_for(std::chrono::milliseconds(50))) {
    try {
      if (fn()) return true;
    } catch (const std::exception&) {
    }
  }
  return false;
}

// A user with keys foo* and only GET, as in the Redis comparisons.
void add_alice(RedisConnection& admin) {
  REQUIRE(admin.run({"ACL", "SETUSER", "alice", "on", ">pw", "~foo*", "&ch", "+get"}) == "OK");
}

}  // namespace

TEST_CASE("ACL DRYRUN answers as Redis 7.0 without running the command") {
  ServerProcess server;
  RedisConnection c(server.port());
  add_alice(c);
  CHECK(c.run({"ACL", "DRYRUN", "alice", "get", "foo"}) == "OK");
  CHECK(c.run({"ACL", "DRYRUN", "alice", "GET", "bar"}) ==
        "This user has no permissions to access the 'bar' key");
  CHECK(c.run({"ACL", "DRYRUN", "alice", "set", "foo", "1"}) ==
        "This user has no permissions to run the 'set' command");
  CHECK(c.run({"ACL", "DRYRUN", "alice", "config", "get", "x"}) ==
        "This user has no permissions to run the 'config|get' command");
  CHECK(c.run({"ACL", "DRYRUN", "default", "set", "foo", "1"}) == "OK");
  CHECK(c.run({"ACL", "DRYRUN", "alice", "auth", "x", "y"}) == "OK");  // AUTH is for everyone
  CHECK(c.run({"ACL", "DRYRUN", "bob", "get", "foo"}) == "(error) ERR User 'bob' not found");
  CHECK(c.run({"ACL", "DRYRUN", "alice", "nosuch"}) == "(error) ERR Command 'nosuch' not found");
  CHECK(c.run({"ACL", "DRYRUN", "alice", "config", "nosuch"}) ==
        "(error) ERR Command 'config' not found");
  CHECK(c.run({"ACL", "DRYRUN", "alice", "get"}) ==
        "(error) ERR wrong number of arguments for 'get' command");
  CHECK(c.run({"ACL", "DRYRUN", "alice"}) ==
        "(error) ERR wrong number of arguments for 'acl|dryrun' command");
  // Nothing ran, and nothing was logged.
  CHECK(c.run({"EXISTS", "foo"}) == "(integer) 0");
  CHECK(acl_log(c).empty());
}

TEST_CASE("ACL GENPASS returns random hex of the asked bit length") {
  ServerProcess server;
  RedisConnection c(server.port());
  std::string a = c.run({"ACL", "GENPASS"}), b = c.run({"ACL", "GENPASS"});
  CHECK(a.size() == 64);
  CHECK(a.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(a != b);
  CHECK(c.run({"ACL", "GENPASS", "5"}).size() == 2);
  CHECK(c.run({"ACL", "GENPASS", "4096"}).size() == 1024);
  const std::string kBits =
      "(error) ERR ACL GENPASS argument must be the number of bits for the output password, a "
      "positive number up to 4096";
  CHECK(c.run({"ACL", "GENPASS", "0"}) == kBits);
  CHECK(c.run({"ACL", "GENPASS", "4097"}) == kBits);
  CHECK(c.run({"ACL", "GENPASS", "x"}) == "(error) ERR value is not an integer or out of range");
  CHECK(c.run({"ACL", "GENPASS", "1", "2"}) ==
        "(error) ERR unknown subcommand or wrong number of arguments for 'GENPASS'. Try ACL "
        "HELP.");
}

TEST_CASE("ACL USERS, WHOAMI, CAT, GETUSER, LIST and HELP") {
  ServerProcess server;
  RedisConnection c(server.port());
  add_alice(c);
  CHECK(c.run({"ACL", "SETUSER", "bob", "%R~x*", "&c1", "&c2", "-@all", "+config|get"}) == "OK");
  CHECK(c.run({"ACL", "USERS"}) == "[alice, bob, default]");
  CHECK(c.run({"ACL", "USERS", "x"}) ==
        "(error) ERR wrong number of arguments for 'acl|users' command");
  CHECK(c.run({"ACL", "WHOAMI"}) == "default");
  CHECK(c.run({"ACL", "CAT", "nosuch"}) == "(error) ERR Unknown category 'nosuch'");
  std::string cats = c.run({"ACL", "CAT"});
  CHECK(cats.rfind("[keyspace, read, write, set, sortedset, list, hash, string, bitmap, ", 0) == 0);
  std::string reads = c.run({"ACL", "CAT", "read"});
  CHECK(reads.find("get") != std::string::npos);
  CHECK(reads.find("set,") == std::string::npos);
  CHECK(c.run({"ACL", "GETUSER", "bob"}) ==
        "[flags, [off], passwords, [], commands, -@all +config|get, keys, %R~x*, channels, &c1 "
        "&c2, selectors, []]");
  CHECK(c.run({"ACL", "LIST"}) ==
        "[user alice on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~foo* "
        "resetchannels &ch -@all +get, user bob off %R~x* resetchannels &c1 &c2 -@all "
        "+config|get, user default on nopass ~* &* +@all]");
  Reply help = c.cmd({"ACL", "HELP"});
  REQUIRE(help.elements.size() == 29);
  CHECK(help.elements[6].str == "DRYRUN <username> <command> [<arg> ...]");
  CHECK(help.elements.back().str == "    Prints this help.");

  RedisConnection alice(server.port());
  CHECK(alice.run({"AUTH", "alice", "pw"}) == "OK");
  CHECK(c.run({"ACL", "SETUSER", "alice", "+acl|whoami"}) == "OK");
  CHECK(alice.run({"ACL", "WHOAMI"}) == "alice");
}

TEST_CASE("ACL LOG records denied keys, commands and AUTH failures, grouped like Redis") {
  ServerProcess server;
  RedisConnection admin(server.port());
  add_alice(admin);
  RedisConnection alice(server.port());
  CHECK(alice.run({"AUTH", "alice", "pw"}) == "OK");
  CHECK(alice.run({"GET", "bar"}).rfind("(error) NOPERM", 0) == 0);
  CHECK(alice.run({"SET", "foo", "1"}).rfind("(error) NOPERM", 0) == 0);
  RedisConnection stranger(server.port());
  CHECK(stranger.run({"AUTH", "alice", "wrong"}).rfind("(error) WRONGPASS", 0) == 0);

  auto log = acl_log(admin);
  REQUIRE(log.size() == 3);
  CHECK(log[0]["reason"].str == "auth");
  CHECK(log[0]["object"].str == "AUTH");  // argv[0] as the client sent it
  CHECK(log[0]["username"].str == "alice");
  CHECK(log[0]["client-info"].str.find(" cmd=auth user=default ") != std::string::npos);
  CHECK(log[1]["reason"].str == "command");
  CHECK(log[1]["object"].str == "set");
  CHECK(log[2]["reason"].str == "key");
  CHECK(log[2]["object"].str == "bar");
  CHECK(log[2]["context"].str == "toplevel");
  CHECK(log[2]["username"].str == "alice");
  CHECK(log[2]["count"].integer == 1);
  CHECK(log[2]["client-info"].str.find(" cmd=get user=alice ") != std::string::npos);
  CHECK(log[2]["entry-id"].integer == 0);
  CHECK(log[0]["entry-id"].integer == 2);
  double age = std::stod(log[2]["age-seconds"].str);
  CHECK(age >= 0);
  CHECK(age < 60);
  int64_t created = log[2]["timestamp-created"].integer;
  CHECK(log[2]["timestamp-last-updated"].integer == created);

  // The same denial again joins the entry and moves it to the front.
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(alice.run({"GET", "bar"}).rfind("(error) NOPERM", 0) == 0);
  log = acl_log(admin);
  REQUIRE(log.size() == 3);
  CHECK(log[0]["object"].str == "bar");
  CHECK(log[0]["count"].integer == 2);
  CHECK(log[0]["entry-id"].integer == 0);
  CHECK(log[0]["timestamp-created"].integer == created);
  CHECK(log[0]["timestamp-last-updated"].integer > created);

  // Inside MULTI the context is "multi"; a subcommand is named in full.
  CHECK(alice.run({"MULTI"}).rfind("(error) NOPERM", 0) == 0);  // MULTI itself is denied
  CHECK(admin.run({"ACL", "SETUSER", "alice", "+multi", "+discard"}) == "OK");
  CHECK(alice.run({"MULTI"}) == "OK");
  CHECK(alice.run({"CONFIG", "GET", "x"}).rfind("(error) NOPERM", 0) == 0);
  CHECK(alice.run({"DISCARD"}).rfind("(error) EXECABORT", 0) != 0);
  log = acl_log(admin);
  REQUIRE(log.size() == 5);
  CHECK(log[0]["object"].str == "config|get");
  CHECK(log[0]["context"].str == "multi");
  CHECK(log[1]["object"].str == "multi");

  // HELLO AUTH failures are logged with HELLO's name; NOAUTH is not logged.
  RedisConnection other(server.port());
  CHECK(other.run({"HELLO", "2", "AUTH", "nobody", "x"}).rfind("(error) WRONGPASS", 0) == 0);
  log = acl_log(admin);
  REQUIRE(log.size() == 6);
  CHECK(log[0]["object"].str == "HELLO");
  CHECK(log[0]["username"].str == "nobody");

  // count, bad arguments, RESET.
  CHECK(acl_log(admin, {"2"}).size() == 2);
  CHECK(acl_log(admin, {"0"}).empty());
  CHECK(acl_log(admin, {"-1"}).empty());
  CHECK(admin.run({"ACL", "LOG", "x"}) == "(error) ERR value is not an integer or out of range");
  CHECK(admin.run({"ACL", "LOG", "1", "2"}) ==
        "(error) ERR unknown subcommand or wrong number of arguments for 'LOG'. Try ACL HELP.");
  CHECK(admin.run({"ACL", "LOG", "reset"}) == "OK");
  CHECK(acl_log(admin).empty());
  CHECK(alice.run({"GET", "bar2"}).rfind("(error) NOPERM", 0) == 0);
  log = acl_log(admin);
  REQUIRE(log.size() == 1);
  CHECK(log[0]["entry-id"].integer == 6);  // ids keep growing after RESET
}

TEST_CASE("acllog-max-len: CONFIG GET/SET, and the log keeps at most that many entries") {
  ServerProcess server;
  RedisConnection admin(server.port());
  CHECK(admin.run({"CONFIG", "GET", "acllog-max-len"}) == "[acllog-max-len, 128]");
  CHECK(admin.run({"CONFIG", "SET", "acllog-max-len", "2"}) == "OK");
  CHECK(admin.run({"CONFIG", "SET", "acllog-max-len", "-1"}).rfind("(error) ERR CONFIG SET", 0) ==
        0);
  add_alice(admin);
  RedisConnection alice(server.port());
  CHECK(alice.run({"AUTH", "alice", "pw"}) == "OK");
  for (std::string key : {"k1", "k2", "k3"})
    CHECK(alice.run({"GET", key}).rfind("(error) NOPERM", 0) == 0);
  auto log = acl_log(admin);
  REQUIRE(log.size() == 2);
  CHECK(log[0]["object"].str == "k3");
  CHECK(log[1]["object"].str == "k2");
  CHECK(admin.run({"CONFIG", "SET", "acllog-max-len", "0"}) == "OK");
  CHECK(alice.run({"GET", "k4"}).rfind("(error) NOPERM", 0) == 0);
  CHECK(acl_log(admin).empty());
}

TEST_CASE("ACL SAVE and ACL LOAD without an aclfile give Redis's error") {
  ServerProcess server;
  RedisConnection c(server.port());
  CHECK(c.run({"CONFIG", "GET", "aclfile"}) == "[aclfile, ]");
  CHECK(c.run({"ACL", "SAVE"}) == kNoAclFile);
  CHECK(c.run({"ACL", "LOAD"}) == kNoAclFile);
  CHECK(c.run({"ACL", "SAVE", "x"}) ==
        "(error) ERR wrong number of arguments for 'acl|save' command");
}

TEST_CASE("aclfile: bootstrap users, ACL SAVE, ACL LOAD all or nothing, no reload at restart") {
  TempDir files("kvraft-aclfile");
  std::string path = files.file("users.acl");
  write_text(path, "user alice on >pw ~foo* +get\nuser default on nopass ~* &* +@all\n");
  ServerProcess server({"--aclfile", path});
  RedisConnection admin(server.port());
  CHECK(admin.run({"CONFIG", "GET", "aclfile"}) == "[aclfile, " + path + "]");
  CHECK(admin.run({"CONFIG", "SET", "aclfile", "/tmp/x"}) ==
        "(error) ERR CONFIG SET failed (possibly related to argument 'aclfile') - can't set "
        "immutable config");
  CHECK(admin.run({"ACL", "USERS"}) == "[alice, default]");

  // ACL SAVE writes the ACL LIST lines.
  CHECK(admin.run({"ACL", "SETUSER", "bob", "on", "nopass", "~*", "+@all"}) == "OK");
  CHECK(admin.run({"ACL", "SAVE"}) == "OK");
  std::string list = admin.run({"ACL", "LIST"});
  std::string saved = kvraft::test::read_file(path);
  std::string expected;
  for (const Reply& l : admin.cmd({"ACL", "LIST"}).elements)
    expected += l.str + "\n";
  CHECK(saved == expected);

  // A bad file: every error with its line, and nothing changes.
  write_text(path, "user carol on\nuser dave +nosuch\nbogus\n");
  CHECK(admin.run({"ACL", "LOAD"}) ==
        "(error) ERR " + path + ":2: Error in applying operation '+nosuch': Unknown command or " +
            "category name in ACL. " + path +
            ":3 should start with user keyword followed by the username. WARNING: ACL errors "
            "detected, no change to the previously active ACL rules was performed");
  CHECK(admin.run({"ACL", "LIST"}) == list);

  // A good file replaces every user; bob's connection goes with bob.
  RedisConnection bob(server.port());
  CHECK(bob.run({"AUTH", "bob", "x"}) == "OK");
  write_text(path, "user carol on >c ~* +@read\n");
  CHECK(admin.run({"ACL", "LOAD"}) == "OK");
  CHECK(admin.run({"ACL", "USERS"}) == "[carol, default]");
  CHECK(within_20s([&] {
    try {
      bob.run({"PING"});
      return false;
    } catch (const std::exception&) {
      return true;  // closed by the server
    }
  }));

  // The users are the replicated state's: a restart does not read the file.
  list = admin.run({"ACL", "LIST"});
  write_text(path, "user zed on\n");
  server.restart_after_kill();
  RedisConnection again(server.port());
  // (ACL LIST reads local state: wait until the log is replayed.)
  CHECK(within_20s([&] { return again.run({"ACL", "LIST"}) == list; }));
  CHECK(server.log().find("aclfile " + path + " not loaded") != std::string::npos);
  std::remove(path.c_str());
  CHECK(again.run({"ACL", "LOAD"}) ==
        "(error) ERR Error loading ACLs, opening file '" + path + "': No such file or directory");
}

TEST_CASE("a brand-new node refuses to start with a broken aclfile and persists nothing") {
  TempDir files("kvraft-aclfile");
  std::string path = files.file("users.acl");
  write_text(path, "user a bogus\n");
  std::string dir = files.file("data");
  kvraft::test::ChildProcess server(
      {kvraft::test::server_binary(), "--port", std::to_string(kvraft::test::free_port()), "--dir",
       dir, "--aclfile", path},
      files.file("server.log"));
  int status = server.wait(std::chrono::seconds(20));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(kvraft::test::read_file(files.file("server.log"))
            .find("Aborting startup because of ACL errors: " + path + ":1: Syntax error.") !=
        std::string::npos);
  // No Raft state (only the lock file): once the file is fixed, the node
  // still bootstraps with it.
  std::vector<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    left.push_back(entry.path().filename().string());
  CHECK(left == std::vector<std::string>{"raftlog.lock"});
  write_text(path, "user a on\n");
  ServerProcess fixed({"--aclfile", path});
  RedisConnection c(fixed.port());
  CHECK(c.run({"ACL", "USERS"}) == "[a, default]");
}

TEST_CASE("3-node cluster: ACL LOAD on a follower sets the same users on every node") {
  TempDir files("kvraft-aclfile");
  std::string path = files.file("users.acl");
  write_text(path, "user alice on >pw ~foo* +get\n");
  LocalCluster cluster(3, {"--aclfile", path});
  int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  int f1 = (leader + 1) % 3;
  // Every initial member bootstrapped with the file's users.
  for (int i = 0; i < 3; ++i) {
    RedisConnection c(cluster.port(i));
    CHECK(c.run({"ACL", "USERS"}) == "[alice, default]");
  }

  RedisConnection on_f1(cluster.port(f1));
  write_text(path, "user bob on >b ~* +@all\nuser carol off\n");
  CHECK(on_f1.run({"ACL", "LOAD"}) == "OK");  // forwarded to the leader as one write
  // The leader answered once it applied the write; the others follow.
  RedisConnection on_leader(cluster.port(leader));
  std::string list = on_leader.run({"ACL", "LIST"});
  CHECK(list.find("user bob on") != std::string::npos);
  CHECK(list.find("alice") == std::string::npos);
  for (int i = 0; i < 3; ++i) {
    RedisConnection c(cluster.port(i));
    CHECK(within_20s([&] { return c.run({"ACL", "LIST"}) == list; }));
  }

  // A bad file changes nothing anywhere.
  write_text(path, "user dave on\nnot a user line\n");
  CHECK(on_f1.run({"ACL", "LOAD"}).find(path + ":2 should start with user keyword") !=
        std::string::npos);
  CHECK(on_leader.run({"ACL", "LIST"}) == list);

  // ACL LOG is per node: a denial on f1 is not in the leader's log.
  RedisConnection carol_try(cluster.port(f1));
  CHECK(carol_try.run({"AUTH", "carol", "x"}).rfind("(error) WRONGPASS", 0) == 0);
  CHECK(acl_log(on_f1).size() == 1);
  CHECK(acl_log(on_leader).empty());
}

TEST_CASE("3-node cluster in redirect mode: a follower sends ACL LOAD to the leader") {
  TempDir files("kvraft-aclfile");
  std::string path = files.file("users.acl");
  write_text(path, "user alice on\n");
  LocalCluster cluster(3, {"--aclfile", path, "--follower-mode", "redirect"});
  int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  RedisConnection follower(cluster.port((leader + 1) % 3));
  write_text(path, "user erin on\n");
  CHECK(follower.run({"ACL", "LOAD"}) ==
        "(error) MOVED 0 127.0.0.1:" + std::to_string(cluster.port(leader)));
  RedisConnection on_leader(cluster.port(leader));
  CHECK(on_leader.run({"ACL", "USERS"}) == "[alice, default]");
  CHECK(on_leader.run({"ACL", "LOAD"}) == "OK");
  CHECK(within_20s([&] { return follower.run({"ACL", "USERS"}) == "[default, erin]"; }));
}
