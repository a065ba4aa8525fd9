// tests/support/slow_fsync_shim.h — puts the slow-fsync LD_PRELOAD shim
// (tests/support/preload/slow_fsync.c, KVRAFT_SLOW_FSYNC_LIB) in the
// environment of every process started while a SlowFsyncShim lives, and
// takes it out again. The shim delays the Raft log fsyncs of a node whose
// data directory holds a "slow-fsync-ms" file (the delay, in ms).
#pragma once

#include <stdlib.h>

#include <string>

namespace kvraft::test {

class SlowFsyncShim {
 public:
  SlowFsyncShim() {
    const char* old = ::getenv("LD_PRELOAD");
    saved_ = old ? old : "";
    had_ = old != nullptr;
    std::string value = KVRAFT_SLOW_FSYNC_LIB;
    if (!saved_.empty()) value += ":" + saved_;
    ::setenv("LD_PRELOAD", value.c_str(), 1);
  }
  ~SlowFsyncShim() {
    if (had_)
      ::setenv("LD_PRELOAD", saved_.c_str(), 1);
    else
      ::unsetenv("LD_PRELOAD");
  }
  SlowFsyncShim(const SlowFsyncShim&) = delete;
  SlowFsyncShim& operator=(const SlowFsyncShim&) = delete;

 private:
  std::string saved_;
  bool had_ = false;
};

}  // namespace kvraft::test
