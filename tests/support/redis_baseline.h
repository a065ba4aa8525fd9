// tests/support/redis_baseline.h — the stock Redis programs tests compare
// kvraft with: finding them on PATH (redis-check-rdb, redis-server), and the
// reference redis-server that differential integration tests
// (tests/integration/*_commands_test.cc) send the same commands to as
// kvraft-server, started one way: loopback only, no persistence, its own
// directory, killed with the test.
#pragma once

#include <string>

#include "tests/support/test_support.h"

namespace kvraft::test {

// Where Debian's redis-tools/redis-server package installs the reference.
inline constexpr const char* kRedisServerBin = "/usr/bin/redis-server";

// Absolute path of the executable `name` in $PATH (execv needs one), or ""
// if it is not installed.
std::string find_on_path(const std::string& name);

// Whether the reference redis-server is installed; differential tests skip
// (with a message) when it is not.
bool redis_server_available();

// A running reference redis-server on a free port of 127.0.0.1. The
// constructor returns once the port accepts connections and throws (failing
// the test) if it does not within 5 s. The process is killed on destruction.
class RedisBaseline {
 public:
  RedisBaseline();
  int port() const { return port_; }

 private:
  TempDir dir_;
  int port_;
  ChildProcess process_;
};

}  // namespace kvraft::test
