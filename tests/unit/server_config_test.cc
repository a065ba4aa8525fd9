// Unit tests for configuration parsing: files, command lines, CONFIG GET/SET.
#include <doctest/doctest.h>

#include "src/config.h"

using kvraft::Config;

namespace {
bool parse_args(Config& c, std::vector<std::string> args, std::string* msg) {
  args.insert(args.begin(), "kvraft-server");
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  bool exit_now = false;
  return kvraft::parse_command_line(c, static_cast<int>(argv.size()), argv.data(), msg, &exit_now);
}
}  // namespace

TEST_CASE("defaults match redis-server's") {
  Config c;
  CHECK(c.port == 6379);
  CHECK(c.bind == std::vector<std::string>{"127.0.0.1"});
  CHECK(c.databases == 16);
  CHECK(c.proto_max_bulk_len == 512LL * 1024 * 1024);
}

TEST_CASE("memory sizes use Redis's units") {
  int64_t v = 0;
  CHECK(kvraft::parse_memory("100", &v));
  CHECK(v == 100);
  CHECK(kvraft::parse_memory("1k", &v));
  CHECK(v == 1000);
  CHECK(kvraft::parse_memory("1kb", &v));
  CHECK(v == 1024);
  CHECK(kvraft::parse_memory("512mb", &v));
  CHECK(v == 512LL * 1024 * 1024);
  CHECK(kvraft::parse_memory("2GB", &v));
  CHECK(v == 2LL << 30);
  CHECK_FALSE(kvraft::parse_memory("", &v));
  CHECK_FALSE(kvraft::parse_memory("12x", &v));
  CHECK_FALSE(kvraft::parse_memory("-1", &v));
  CHECK_FALSE(kvraft::parse_memory("99999999999gb", &v));
}

TEST_CASE("config files: comments, quoting, errors name file and line") {
  Config c;
  std::string err;
  REQUIRE(
      kvraft::load_config_text(c,
                               "# a comment\n\nport 7001\n  databases 4\r\nrequirepass \"a b\"\n"
                               "bind 127.0.0.1 ::1",
                               "test.conf", &err));
  CHECK(c.port == 7001);
  CHECK(c.databases == 4);
  CHECK(c.requirepass == "a b");
  CHECK(c.bind == std::vector<std::string>{"127.0.0.1", "::1"});
  CHECK_FALSE(kvraft::load_config_text(c, "port 1\nbogus yes\n", "x.conf", &err));
  CHECK(err.find("x.conf:2") == 0);
  CHECK_FALSE(kvraft::load_config_text(c, "port 99999\n", "x.conf", &err));
  CHECK(err.find("x.conf:1") == 0);
  CHECK_FALSE(kvraft::load_config_text(c, "port\n", "x.conf", &err));
  CHECK_FALSE(kvraft::load_config_text(c, "requirepass \"unterminated\n", "x.conf", &err));
}

TEST_CASE("command line: redis-server style --directive value") {
  Config c;
  std::string msg;
  REQUIRE(parse_args(c, {"--port", "7002", "--dir", "./data/n2", "--save", ""}, &msg));
  CHECK(c.port == 7002);
  CHECK(c.dir == "./data/n2");
  CHECK_FALSE(parse_args(c, {"--port", "notaport"}, &msg));
  CHECK_FALSE(parse_args(c, {"--nosuch", "1"}, &msg));
  CHECK_FALSE(parse_args(c, {"/nonexistent/kvraft.conf"}, &msg));
  CHECK(msg.find("can't open config file") != std::string::npos);
}

TEST_CASE("CONFIG GET matches globs; CONFIG SET refuses immutable and fixed values") {
  Config c;
  std::vector<std::pair<std::string, std::string>> out;
  kvraft::config_get(c, "p*", &out);
  bool saw_port = false;
  for (auto& [k, v] : out)
    if (k == "port") saw_port = (v == "6379");
  CHECK(saw_port);
  out.clear();
  kvraft::config_get(c, "SAVE", &out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].second == "");
  CHECK(kvraft::config_set(c, "timeout", {"10"}, true).empty());
  CHECK(c.timeout == 10);
  CHECK(kvraft::config_set(c, "port", {"1"}, true) == "can't set immutable config");
  CHECK_FALSE(kvraft::config_set(c, "appendonly", {"yes"}, true).empty());
  CHECK(kvraft::config_set(c, "appendonly", {"no"}, true).empty());
  CHECK_FALSE(kvraft::config_set(c, "nope", {"1"}, true).empty());
}

TEST_CASE("replication directives validate their values") {
  Config c;
  CHECK(kvraft::config_set(c, "snapshot-log-bytes", {"1mb"}, true).empty());
  CHECK(c.snapshot_log_bytes == 1024 * 1024);
  CHECK(kvraft::config_set(c, "read-consistency", {"lease"}, true).empty());
  CHECK_FALSE(kvraft::config_set(c, "read-consistency", {"eventual"}, true).empty());
  CHECK_FALSE(kvraft::config_set(c, "follower-mode", {"ignore"}, true).empty());
  CHECK_FALSE(kvraft::config_set(c, "raft-fsync", {"sometimes"}, false).empty());
  CHECK(kvraft::config_set(c, "raft-fsync", {"never"}, true) == "can't set immutable config");
  CHECK_FALSE(kvraft::config_set(c, "election-timeout", {"5"}, false).empty());
  CHECK(kvraft::config_set(c, "raft-repair", {"yes"}, false).empty());
  CHECK(c.raft_repair);
}
