// tests/support/test_support.h — helpers every test binary shares: private
// temporary directories, free loopback ports and real kvraft-server child
// processes that are always cleaned up, even when a test fails.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <exception>
#include <string>
#include <thread>
#include <vector>

namespace kvraft::test {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents when
// the object is destroyed.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "kvraft-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A TCP port on 127.0.0.1 that nothing listens on right now, chosen below
// the kernel's ephemeral range (so no outgoing connection takes it before the
// server binds it) and never returned twice by one process.
int free_port();

// Polls `fn` every 50 ms until it returns true or `timeout` passes (the
// machine is shared); an exception from `fn` (a connection refused while a
// node restarts) counts as "not yet".
template <typename Fn>
bool eventually(Fn fn, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      if (fn()) return true;
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// True if something accepts TCP connections on 127.0.0.1:port.
bool port_open(int port, const std::string& host = "127.0.0.1");
// Waits (up to `timeout`) until nothing accepts connections on `port`. A
// server killed with SIGKILL can leave a fork()ed snapshot child that was
// killed before it closed its inherited descriptors: it holds the listening
// socket while the kernel tears its memory down, and a restart that checks
// port_open() meanwhile would talk to that dying process, not the new one.
void wait_port_closed(int port, std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Reads a whole file; empty string if it does not exist.
std::string read_file(const std::string& path);

// A child process (usually kvraft-server) with stdout+stderr in a log file.
// The destructor kills it (SIGKILL) and reaps it.
class ChildProcess {
 public:
  // Starts `argv[0]` with the arguments; output goes to `log_path`.
  ChildProcess(std::vector<std::string> argv, const std::string& log_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  // Sends `sig` (e.g. SIGKILL, SIGTERM, SIGSTOP).
  void signal(int sig);
  // Waits up to `timeout` for exit; returns the wait status, or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  const std::string& log_path() const { return log_path_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string log_path_;
};

// Path of the kvraft-server binary under test (from the build, or the
// KVRAFT_SERVER_BIN environment variable).
std::string server_binary();

// A kvraft-server on a free port with its own data directory. Waits until
// the port accepts connections (fails the test after `startup_timeout`).
class ServerProcess {
 public:
  explicit ServerProcess(std::vector<std::string> extra_args = {},
                         std::chrono::milliseconds startup_timeout = std::chrono::seconds(10));
  ~ServerProcess();
  int port() const { return port_; }
  const std::string& dir() const { return dir_.path(); }
  ChildProcess& process() { return *child_; }
  std::string log() const { return read_file(child_->log_path()); }
  // Kill -9 and start again with the same port, directory and arguments.
  void restart_after_kill(std::chrono::milliseconds startup_timeout = std::chrono::seconds(10));

 private:
  void start(std::chrono::milliseconds startup_timeout);
  TempDir dir_;
  int port_;
  std::vector<std::string> extra_args_;
  ChildProcess* child_ = nullptr;
};

}  // namespace kvraft::test
