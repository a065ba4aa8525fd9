// tests/support/redis_baseline.cc — finding Redis's programs and starting
// the reference redis-server of the differential integration tests (see
// redis_baseline.h).
#include "tests/support/redis_baseline.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace kvraft::test {

std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t colon = dirs.find(':', start);
    std::string dir =
        dirs.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return "";
}

bool redis_server_available() {
  return access(kRedisServerBin, X_OK) == 0;
}

RedisBaseline::RedisBaseline()
    : dir_("redis-baseline"),
      port_(free_port()),
      process_({kRedisServerBin, "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save",
                "", "--appendonly", "no", "--dir", dir_.path()},
               dir_.file("redis.log")) {
  for (int i = 0; i < 100 && !port_open(port_); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (!port_open(port_))
    throw std::runtime_error("redis-server did not listen on port " + std::to_string(port_) +
                             "; log:\n" + read_file(process_.log_path()));
}

}  // namespace kvraft::test
