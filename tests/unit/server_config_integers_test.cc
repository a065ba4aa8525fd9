// tests/unit/server_config_integers_test.cc — the integer directives, whose
// int and int64_t fields share one parser (src/config.cc int_directive):
// range checks and their error text, values beyond 32 bits, CONFIG GET's
// rendering, and refusal of immutable ones at runtime.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "src/config.h"

using kvraft::Config;

namespace {

// CONFIG GET's value of one directive ("" if no directive matches).
std::string get(const Config& c, const std::string& name) {
  std::vector<std::pair<std::string, std::string>> out;
  kvraft::config_get(c, name, &out);
  return out.size() == 1 ? out[0].second : std::string();
}

}  // namespace

TEST_CASE("int directives check their range and name it in the error") {
  Config c;
  CHECK(kvraft::config_set(c, "hz", {"42"}, true).empty());
  CHECK(c.hz == 42);
  CHECK(get(c, "hz") == "42");
  CHECK(kvraft::config_set(c, "hz", {"0"}, true) ==
        "argument must be an integer between 1 and 500");
  CHECK(kvraft::config_set(c, "hz", {"501"}, true) ==
        "argument must be an integer between 1 and 500");
  CHECK(kvraft::config_set(c, "hz", {"4x"}, true) ==
        "argument must be an integer between 1 and 500");
  CHECK(kvraft::config_set(c, "hz", {"1", "2"}, true) == "wrong number of arguments");
  CHECK(c.hz == 42);
}

TEST_CASE("int64 directives hold values beyond 32 bits") {
  Config c;
  CHECK(kvraft::config_set(c, "raft-promote-lag", {"9223372036854775807"}, true).empty());
  CHECK(c.raft_promote_lag == INT64_MAX);
  CHECK(get(c, "raft-promote-lag") == "9223372036854775807");
  CHECK(kvraft::config_set(c, "raft-promote-lag", {"-1"}, true) ==
        "argument must be an integer between 0 and 9223372036854775807");
  CHECK(kvraft::config_set(c, "raft-promote-lag", {"9223372036854775808"}, true) ==
        "argument must be an integer between 0 and 9223372036854775807");
  CHECK(c.raft_promote_lag == INT64_MAX);
  CHECK(kvraft::config_set(c, "node-id", {"5000000000"}, false).empty());
  CHECK(c.node_id == 5000000000);
  CHECK(kvraft::config_set(c, "node-id", {"7"}, true) == "can't set immutable config");
  CHECK(kvraft::config_set(c, "node-id", {"0"}, false) ==
        "argument must be an integer between 1 and 9223372036854775807");
}
