// Unit tests of src/acl.*: ACL rules as Redis 7 parses and shows them, the
// permission check (commands, categories, subcommands, key patterns), the
// snapshot round trip of the users, and the protected-mode decision.
#include "src/acl.h"

#include <doctest/doctest.h>

#include <vector>

#include "src/client.h"
#include "src/command.h"
#include "src/config.h"
#include "src/server.h"

using namespace kvraft;

namespace {

std::string set_user(Acl& acl, std::string_view name, std::vector<std::string_view> rules) {
  return acl.set_user(name, rules);
}

std::string run_check(const Acl& acl, Client& client, std::vector<std::string_view> argv,
                      const std::string& requirepass = "") {
  const CommandSpec* spec = command_table().find(argv[0]);
  REQUIRE(spec);
  AclVerdict v = acl.check(client, requirepass, *spec, argv);
  if (v.kind == AclVerdict::kDisconnect) return "disconnect";
  return v.kind == AclVerdict::kAllowed ? "ok" : v.error;
}

}  // namespace

TEST_CASE("passwords are stored as Redis's SHA-256 hex digests") {
  // Redis 7.0.15: ACL SETUSER alice >pw shows this digest.
  CHECK(acl_hash_password("pw") ==
        "30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4");
}

TEST_CASE("ACL LIST lines match Redis 7 for the default and fresh users") {
  Acl acl;
  CHECK(acl.list() == std::vector<std::string>{"user default on nopass ~* &* +@all"});
  CHECK(set_user(acl, "alice", {}) == "");
  CHECK(acl.find("alice")->describe() == "user alice off resetchannels -@all");
  CHECK(set_user(acl, "alice", {"on", ">pw", "~foo*", "%R~bar*", "+@read", "+set", "-get"}) == "");
  CHECK(acl.find("alice")->describe() ==
        "user alice on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~foo* "
        "%R~bar* resetchannels -@all +@read +set -get");
  CHECK(set_user(acl, "d", {"reset"}) == "");
  CHECK(acl.find("d")->describe() == "user d off sanitize-payload resetchannels -@all");
  CHECK(set_user(acl, "c", {"on", "nopass", "~k*", "+get"}) == "");
  CHECK(acl.find("c")->describe() == "user c on nopass ~k* resetchannels -@all +get");
}

TEST_CASE("ACL SETUSER errors carry Redis's texts and change nothing") {
  Acl acl;
  CHECK(set_user(acl, "bob", {"on", "bogus"}) ==
        "ERR Error in ACL SETUSER modifier 'bogus': Syntax error");
  CHECK(acl.find("bob") == nullptr);  // all or nothing
  CHECK(set_user(acl, "bob", {"#abc"}) ==
        "ERR Error in ACL SETUSER modifier '#abc': The password hash must be exactly 64 "
        "characters and contain only lowercase hexadecimal characters");
  CHECK(set_user(acl, "bob", {"<nop"}) ==
        "ERR Error in ACL SETUSER modifier '<nop': The password you are trying to remove from the "
        "user does not exist");
  CHECK(set_user(acl, "bob", {"+nosuch"}) ==
        "ERR Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL");
  CHECK(set_user(acl, "bob", {"-@nosuch"}) ==
        "ERR Error in ACL SETUSER modifier '-@nosuch': Unknown command or category name in ACL");
  CHECK(set_user(acl, "bob", {"allkeys", "~x"}) ==
        "ERR Error in ACL SETUSER modifier '~x': Adding a pattern after the * pattern (or the "
        "'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start "
        "with an empty list of patterns");
  CHECK(set_user(acl, "a b", {}) == "ERR Usernames can't contain spaces or null characters");
  CHECK(acl.users().size() == 1);
}

TEST_CASE("passwords: add, remove, nopass and resetpass") {
  Acl acl;
  REQUIRE(set_user(acl, "u", {"on", ">one", ">two"}) == "");
  CHECK(acl.authenticate("u", "one", "") != nullptr);
  CHECK(acl.authenticate("u", "two", "") != nullptr);
  CHECK(acl.authenticate("u", "three", "") == nullptr);
  REQUIRE(set_user(acl, "u", {"<one"}) == "");
  CHECK(acl.authenticate("u", "one", "") == nullptr);
  REQUIRE(set_user(acl, "u", {"off"}) == "");
  CHECK(acl.authenticate("u", "two", "") == nullptr);  // disabled
  REQUIRE(set_user(acl, "u", {"on", "nopass"}) == "");
  CHECK(acl.authenticate("u", "anything", "") != nullptr);
  REQUIRE(set_user(acl, "u", {"resetpass"}) == "");
  CHECK(acl.authenticate("u", "anything", "") == nullptr);
  CHECK(acl.authenticate("nobody", "x", "") == nullptr);
}

TEST_CASE("requirepass is the default user's password on this node") {
  Acl acl;
  CHECK_FALSE(acl.default_needs_auth(""));
  CHECK(acl.default_needs_auth("s3cret"));
  CHECK(acl.authenticate("default", "s3cret", "s3cret") != nullptr);
  CHECK(acl.authenticate("default", "other", "s3cret") == nullptr);
  // Without requirepass, a password set through the ACL protects it.
  REQUIRE(set_user(acl, "default", {">pw"}) == "");
  CHECK(acl.default_needs_auth(""));
  CHECK(acl.authenticate("default", "pw", "") != nullptr);
}

TEST_CASE("the permission check: commands, categories, subcommands and key patterns") {
  Config config;
  Server server(config);
  Client client(&server, 1);
  Acl& acl = server.acl();
  REQUIRE(set_user(acl, "alice",
                   {"on", ">pw", "~foo*", "%R~bar*", "+@read", "+set", "-get", "+acl|whoami"}) ==
          "");
  client.authenticated = true;
  client.user = "alice";
  CHECK(run_check(acl, client, {"SET", "foo1", "x"}) == "ok");
  CHECK(run_check(acl, client, {"set", "zz", "x"}) == "NOPERM No permissions to access a key");
  CHECK(run_check(acl, client, {"SET", "bar1", "x"}) == "NOPERM No permissions to access a key");
  CHECK(run_check(acl, client, {"STRLEN", "bar1"}) == "ok");
  CHECK(run_check(acl, client, {"GET", "foo1"}) ==
        "NOPERM User alice has no permissions to run the 'get' command");
  CHECK(run_check(acl, client, {"DEL", "foo1"}) ==
        "NOPERM User alice has no permissions to run the 'del' command");
  // Every key of a multi-key command is checked.
  CHECK(run_check(acl, client, {"MGET", "foo1", "bar2"}) == "ok");
  CHECK(run_check(acl, client, {"MGET", "foo1", "zz"}) == "NOPERM No permissions to access a key");
  CHECK(run_check(acl, client, {"ACL", "WHOAMI"}) == "ok");
  CHECK(run_check(acl, client, {"ACL", "LIST"}) ==
        "NOPERM User alice has no permissions to run the 'acl|list' command");
  // AUTH, HELLO and QUIT are open to every user, as in Redis.
  CHECK(run_check(acl, client, {"AUTH", "x", "y"}) == "ok");
  // A deleted or disabled user's connection is dropped.
  REQUIRE(set_user(acl, "alice", {"off"}) == "");
  CHECK(run_check(acl, client, {"STRLEN", "foo"}) == "disconnect");
  std::vector<std::string_view> names = {"alice"};
  CHECK(acl.delete_users(names) == 1);
  CHECK(run_check(acl, client, {"STRLEN", "foo"}) == "disconnect");
}

TEST_CASE("unauthenticated connections: NOAUTH only when the default user needs a password") {
  Config config;
  Server server(config);
  Client client(&server, 1);
  Acl& acl = server.acl();
  CHECK(run_check(acl, client, {"GET", "k"}) == "ok");
  CHECK(run_check(acl, client, {"GET", "k"}, "s3cret") == "NOAUTH Authentication required.");
  CHECK(run_check(acl, client, {"AUTH", "s3cret"}, "s3cret") == "ok");
  REQUIRE(set_user(acl, "default", {"-@write"}) == "");
  CHECK(run_check(acl, client, {"SET", "k", "v"}) ==
        "NOPERM User default has no permissions to run the 'set' command");
  REQUIRE(set_user(acl, "default", {"off"}) == "");
  CHECK(run_check(acl, client, {"GET", "k"}) == "NOAUTH Authentication required.");
}

TEST_CASE("categories are derived from the command table") {
  const CommandTable& t = command_table();
  auto in = [&](std::string_view cmd, std::string_view cat) {
    return acl_command_in_category(*t.find(cmd), nullptr, cat);
  };
  CHECK(in("get", "read"));
  CHECK(in("get", "string"));
  CHECK(in("get", "fast"));
  CHECK_FALSE(in("get", "write"));
  CHECK(in("set", "write"));
  CHECK(in("lpush", "list"));
  CHECK(in("hset", "hash"));
  CHECK(in("sadd", "set"));
  CHECK(in("zadd", "sortedset"));
  CHECK(in("del", "keyspace"));
  CHECK(in("keys", "dangerous"));
  CHECK(in("flushall", "dangerous"));
  CHECK(in("ping", "connection"));
  CHECK(in("keys", "slow"));
  CHECK_FALSE(in("keys", "fast"));
  Acl acl;
  REQUIRE(set_user(acl, "w", {"+@all", "-@dangerous"}) == "");
  std::vector<std::string_view> flushall = {"FLUSHALL"}, get = {"GET", "k"};
  CHECK_FALSE(acl.find("w")->may_run(*t.find("flushall"), flushall));
  CHECK(acl.find("w")->may_run(*t.find("get"), get));
}

TEST_CASE("the users survive serialize/restore (the snapshot's kvraft-acl field)") {
  Acl acl;
  REQUIRE(set_user(acl, "alice", {"on", ">pw", "~foo*", "%W~w*", "&ch", "+@read", "-strlen"}) ==
          "");
  REQUIRE(set_user(acl, "default", {"resetpass", ">dpw"}) == "");
  std::string text = acl.serialize();
  Acl copy;
  copy.restore(text);
  CHECK(copy.list() == acl.list());
  CHECK(copy.authenticate("alice", "pw", "") != nullptr);
  std::vector<std::string_view> strlen_argv = {"STRLEN", "foo"};
  CHECK_FALSE(copy.find("alice")->may_run(*command_table().find("strlen"), strlen_argv));
  // No aux field: only the default user, as on a fresh node.
  copy.restore_from_aux({});
  CHECK(copy.list() == std::vector<std::string>{"user default on nopass ~* &* +@all"});
  copy.restore_from_aux({{std::string(kAuxAcl), text}});
  CHECK(copy.list() == acl.list());
  // A corrupt field is refused and leaves the state as it was.
  CHECK_THROWS_AS(copy.restore("user alice bogus"), std::runtime_error);
  CHECK_THROWS_AS(copy.restore("nonsense"), std::runtime_error);
  CHECK(copy.list() == acl.list());
}

TEST_CASE("protected mode refuses only non-loopback clients of an open, exposed server") {
  std::vector<std::string> loopback = {"127.0.0.1", "::1"}, any = {"0.0.0.0"};
  CHECK(protected_mode_refuses(true, false, any, "10.1.2.3"));
  CHECK(protected_mode_refuses(true, false, any, "::ffff:192.168.1.1"));
  CHECK_FALSE(protected_mode_refuses(true, false, any, "127.0.0.1"));
  CHECK_FALSE(protected_mode_refuses(true, false, any, "::1"));
  CHECK_FALSE(protected_mode_refuses(true, false, any, "::ffff:127.0.0.1"));
  CHECK_FALSE(protected_mode_refuses(false, false, any, "10.1.2.3"));  // protected-mode no
  CHECK_FALSE(protected_mode_refuses(true, true, any, "10.1.2.3"));    // a password is set
  CHECK_FALSE(protected_mode_refuses(true, false, loopback, "10.1.2.3"));
  CHECK(
      kErrDenied.starts_with("DENIED Redis is running in protected mode because protected mode "
                             "is enabled and no password is set for the default user."));
}
