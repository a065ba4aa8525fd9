// Unit tests of src/acl_log.* (ACL LOG's grouping, bound, reset and entry
// ids) and src/acl_file.* (parsing the aclfile with Redis 7.0.15's error
// texts, all or nothing; saving it atomically and reading it back).
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "src/acl.h"
#include "src/acl_file.h"
#include "src/acl_log.h"
#include "storage/file_util.h"

using namespace kvraft;

namespace {

void add(AclLog& log, std::string_view object, int64_t now_ms, int64_t max_len = 128,
         std::string_view reason = "key", std::string_view user = "alice") {
  log.add(reason, "toplevel", object, user, "id=1 cmd=get", now_ms, max_len);
}

// A private directory under /tmp, removed at the end of the test.
struct ScratchDir {
  std::string path;
  ScratchDir() {
    char tmpl[] = "/tmp/kvraft-aclfile-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~ScratchDir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("ACL LOG groups the same reason, context, object and user within 60 s") {
  AclLog log;
  add(log, "k1", 1000);
  add(log, "k2", 2000);
  add(log, "k1", 3000);  // joins the first entry, which moves to the front
  REQUIRE(log.entries().size() == 2);
  const AclLogEntry& e = log.entries().front();
  CHECK(e.object == "k1");
  CHECK(e.count == 2);
  CHECK(e.entry_id == 0);
  CHECK(e.created_ms == 1000);
  CHECK(e.updated_ms == 3000);
  CHECK(log.entries()[1].object == "k2");

  // The window counts from the entry's last event, not its first.
  add(log, "k1", 3000 + AclLog::kGroupingWindowMs);
  CHECK(log.entries().size() == 2);
  CHECK(log.entries().front().count == 3);
  add(log, "k1", 3000 + 2 * AclLog::kGroupingWindowMs + 1);
  REQUIRE(log.entries().size() == 3);
  CHECK(log.entries().front().count == 1);
  CHECK(log.entries().front().entry_id == 2);

  // Any differing field makes a new entry.
  add(log, "k1", 200000, 128, "command");
  add(log, "k1", 200000, 128, "command", "bob");
  log.add("command", "multi", "k1", "bob", "", 200000, 128);
  CHECK(log.entries().size() == 6);
}

TEST_CASE("ACL LOG looks for a duplicate among the 10 newest entries only") {
  AclLog log;
  add(log, "old", 0);
  for (int i = 0; i < 10; ++i)
    add(log, "k" + std::to_string(i), 1);
  add(log, "old", 2);  // 11th newest: not found, a new entry
  CHECK(log.entries().size() == 12);
  CHECK(log.entries().front().count == 1);
  add(log, "k1", 3);  // within the 10 newest: grouped
  CHECK(log.entries().size() == 12);
  CHECK(log.entries().front().object == "k1");
  CHECK(log.entries().front().count == 2);
}

TEST_CASE("acllog-max-len bounds the log, dropping the oldest entries; RESET keeps ids growing") {
  AclLog log;
  for (int i = 0; i < 5; ++i)
    add(log, "k" + std::to_string(i), i, 3);
  REQUIRE(log.entries().size() == 3);
  CHECK(log.entries().front().object == "k4");
  CHECK(log.entries().back().object == "k2");
  add(log, "x", 10, 0);
  CHECK(log.entries().empty());
  log.reset();
  add(log, "y", 11);
  REQUIRE(log.entries().size() == 1);
  CHECK(log.entries().front().entry_id == 6);
}

TEST_CASE("ACL LIST lines write resetchannels before a channel list, as Redis 7.0 does") {
  Acl acl;
  std::vector<std::string_view> rules = {"on", "&ch1", "&ch2", "+get"};
  CHECK(acl.set_user("bob", rules) == "");
  CHECK(acl.find("bob")->describe() == "user bob on resetchannels &ch1 &ch2 -@all +get");
  // The line reads back to the same user (snapshots and ACL LOAD rely on it).
  Acl copy;
  copy.restore(acl.serialize());
  CHECK(copy.list() == acl.list());
}

TEST_CASE("an aclfile parses to the users' canonical lines") {
  std::string users;
  CHECK(parse_acl_file("  user alice on >pw ~foo* &ch +get\r\n\n\tuser zed\n"
                       "user default on nopass ~* &* +@all",
                       "f.acl", &users) == "");
  CHECK(users ==
        "user alice on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~foo* "
        "resetchannels &ch -@all +get\n"
        "user default on nopass ~* &* +@all\n"
        "user zed off resetchannels -@all");
  CHECK(parse_acl_file("", "f.acl", &users) == "");
  CHECK(users == "");
  Acl acl;
  acl.restore(users);  // an empty file leaves Redis's default user
  CHECK(acl.list() == std::vector<std::string>{"user default on nopass ~* &* +@all"});
}

TEST_CASE("aclfile errors: every bad line with Redis 7.0.15's texts, and nothing loaded") {
  // The file and expected text are what redis-server 7.0.15 answers to ACL
  // LOAD for the same file.
  std::string users = "unchanged";
  std::string err = parse_acl_file(
      "user alice on >pw ~foo* +get\n\n  user bob off +nosuch\nfoo bar\nuser carol bogus ~x\n"
      "user alice on\nuser dan #abc\n",
      "/x/bad.acl", &users);
  CHECK(err ==
        "/x/bad.acl:3: Error in applying operation '+nosuch': Unknown command or category name "
        "in ACL. /x/bad.acl:4 should start with user keyword followed by the username. "
        "/x/bad.acl:5: Syntax error. WARNING: Duplicate user 'alice' found on line 6. "
        "/x/bad.acl:7: The password hash must be exactly 64 characters and contain only "
        "lowercase hexadecimal characters. WARNING: ACL errors detected, no change to the "
        "previously active ACL rules was performed");
  CHECK(users == "unchanged");
  // Redis 7.0.15: a tab in a name is refused; two spaces between rules are
  // harmless.
  CHECK(parse_acl_file("user a\tb on\nuser c  on\n", "t.acl", &users) ==
        "'t.acl:1: username 'a\tb' contains invalid characters. "
        "WARNING: ACL errors detected, no change to the previously active ACL rules was "
        "performed");
  CHECK(parse_acl_file("user c  on  +get\n", "t.acl", &users) == "");
  CHECK(users == "user c on resetchannels -@all +get");
  // Two spaces before the name make it empty: Redis then fails on the name
  // as a rule; kvraft (which cannot list a nameless user) refuses the name.
  CHECK(parse_acl_file("user  c on\n", "t.acl", &users) ==
        "'t.acl:1: username '' contains invalid characters. WARNING: ACL errors detected, no "
        "change to the previously active ACL rules was performed");
  // Of errors other than unknown commands, only a line's first is reported.
  CHECK(parse_acl_file("user a bogus1 +nosuch bogus2\n", "t.acl", &users) ==
        "t.acl:1: Syntax error. t.acl:1: Error in applying operation '+nosuch': Unknown "
        "command or category name in ACL. WARNING: ACL errors detected, no change to the "
        "previously active ACL rules was performed");
}

TEST_CASE("ACL SAVE's file reads back as the same users; a missing file is Redis's error") {
  ScratchDir dir;
  std::string path = dir.path + "/users.acl";
  Acl acl;
  std::vector<std::string_view> rules = {"on", ">pw", "%R~r*", "&c", "+@read", "-keys"};
  REQUIRE(acl.set_user("alice", rules) == "");
  REQUIRE(save_acl_file(path, acl.list()) == "");
  CHECK(read_all(path) == acl.serialize() + "\n");
  CHECK(storage::list_dir(dir.path) == std::vector<std::string>{"users.acl"});  // no temp left
  std::string users;
  REQUIRE(load_acl_file(path, &users) == "");
  CHECK(users == acl.serialize());

  CHECK(load_acl_file(dir.path + "/nope.acl", &users) ==
        "Error loading ACLs, opening file '" + dir.path + "/nope.acl': No such file or directory");
  // A directory that does not exist: the save fails and says where.
  std::string err = save_acl_file(dir.path + "/no/such/dir/users.acl", acl.list());
  CHECK(err.find(dir.path + "/no/such/dir/users.acl") != std::string::npos);
}

TEST_CASE("command rules are shown as Redis 7.0.15 shows them: no rule that changes nothing") {
  // Each pair: the SETUSER rules after "reset", and redis-server 7.0.15's
  // ACL GETUSER "commands" for them.
  const std::vector<std::pair<std::vector<std::string_view>, std::string>> cases = {
      {{"+get", "-get"}, "-@all"},
      {{"+get", "+set", "-get"}, "-@all +set"},
      {{"+@read", "+set", "-get"}, "-@all +@read +set -get"},
      {{"+acl", "-acl|whoami"}, "-@all +acl -acl|whoami"},
      {{"+acl|whoami", "+acl"}, "-@all +acl"},
      {{"+@all", "-get", "+get"}, "+@all"},
      {{"+@read", "-get", "+get"}, "-@all +@read"},
      {{"+@read", "+@read"}, "-@all +@read"},
      {{"+config", "-config|get", "+config|get"}, "-@all +config"},
      {{"+get", "+config|get", "-config"}, "-@all +get"},
      {{"-get"}, "-@all"},
  };
  for (const auto& [rules, expected] : cases) {
    Acl acl;
    std::vector<std::string_view> all = {"reset"};
    all.insert(all.end(), rules.begin(), rules.end());
    REQUIRE(acl.set_user("t", all) == "");
    CHECK(acl.find("t")->command_rules == expected);
  }
}
