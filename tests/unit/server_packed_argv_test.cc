// tests/unit/server_packed_argv_test.cc — the packed copy of a waiting
// read's arguments gives back exactly what it was given: binary bytes,
// empty arguments, and commands longer than its on-stack view array.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "src/packed_argv.h"

using kvraft::PackedArgv;

namespace {
std::vector<std::string> unpack(const PackedArgv& p) {
  return p.with_views([](std::span<const std::string_view> argv) {
    return std::vector<std::string>(argv.begin(), argv.end());
  });
}
}  // namespace

TEST_CASE("packed arguments come back byte for byte, empty and binary ones included") {
  std::string binary("a\0b\r\n", 5);
  std::vector<std::string_view> argv = {"GET", "", binary, "key:000000012345"};
  PackedArgv p;
  p.assign(argv);
  CHECK(p.size() == 4);
  CHECK(unpack(p) == std::vector<std::string>{"GET", "", binary, "key:000000012345"});
}

TEST_CASE("a command longer than the on-stack view array and a reassigned one unpack whole") {
  std::vector<std::string> long_command = {"MGET"};
  for (int i = 0; i < 20; ++i)
    long_command.push_back("k" + std::to_string(i));
  std::vector<std::string_view> views(long_command.begin(), long_command.end());
  PackedArgv p;
  p.assign(views);
  CHECK(unpack(p) == long_command);
  std::vector<std::string_view> short_command = {"EXISTS", "x"};
  p.assign(short_command);
  CHECK(unpack(p) == std::vector<std::string>{"EXISTS", "x"});
}
