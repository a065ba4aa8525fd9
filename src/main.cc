// src/main.cc — kvraft-server's entry point: parse the configuration the way
// redis-server does (config file, then --directive value overrides), then
// run the server until it is asked to stop.
#include <cstdio>

#include "src/config.h"
#include "src/log.h"
#include "src/server.h"

int main(int argc, char** argv) {
  kvraft::Config config;
  std::string message;
  bool exit_now = false;
  if (!kvraft::parse_command_line(config, argc, argv, &message, &exit_now)) {
    std::fprintf(stderr, "\n*** FATAL CONFIG FILE ERROR ***\n%s\n", message.c_str());
    return 1;
  }
  if (exit_now) {
    std::printf("%s\n", message.c_str());
    return 0;
  }
  kvraft::Server server(std::move(config));
  return server.run();
}
