// raft/check.h — invariant checks for the Raft core.
//
// A broken invariant in the core is a bug that could lose acknowledged
// writes, so it is fatal in every build type (the checks are cheap): the
// process prints the condition and the values that broke it, then aborts,
// which the simulator reports together with the seed that replays it.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

namespace kvraft::raft::detail {
[[noreturn]] inline void check_failed(const char* file, int line, const char* cond,
                                      const std::string& values) {
  std::fprintf(stderr, "%s:%d: raft invariant broken: %s (%s)\n", file, line, cond, values.c_str());
  std::fflush(stderr);
  std::abort();
}
}  // namespace kvraft::raft::detail

// RAFT_CHECK(cond, a << b << c): if cond is false, print the streamed values.
#define RAFT_CHECK(cond, values)                                                              \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      std::ostringstream raft_check_out_;                                                     \
      raft_check_out_ << values;                                                              \
      ::kvraft::raft::detail::check_failed(__FILE__, __LINE__, #cond, raft_check_out_.str()); \
    }                                                                                         \
  } while (0)
