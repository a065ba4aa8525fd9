// tests/support/test_support.cc — see test_support.h.
#include "tests/support/test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace kvraft::test {

TempDir::TempDir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp " + tmpl + ": " + strerror(errno));
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {
// The kernel's ephemeral range: ports it hands to outgoing connections. A
// port from there can be taken by any client socket between free_port() and
// the server's bind, which failed tests with "address already in use".
std::pair<int, int> ephemeral_range() {
  int lo = 32768, hi = 60999;
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  in >> lo >> hi;
  return {lo, hi};
}

bool bindable(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket: " + std::string(strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}
}  // namespace

int free_port() {
  // Below the ephemeral range (so no outgoing connection takes it meanwhile,
  // nor the default raft port, 10000 above it),
  // random (so concurrent test processes rarely pick the same one) and never
  // the same twice in one process.
  static std::mutex mu;
  static std::set<int> handed_out;
  static std::mt19937 rng(static_cast<unsigned>(getpid()) * 2654435761u ^
                          static_cast<unsigned>(time(nullptr)));
  std::lock_guard<std::mutex> lock(mu);
  auto [lo, hi] = ephemeral_range();
  // A node's raft port defaults to its client port + 10000: keep both below.
  int top = lo > 22000 ? lo - 1 - 10000 : 55535;
  int bottom = lo > 22000 ? 10000 : hi + 1;
  std::uniform_int_distribution<int> pick(bottom, top);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    int port = pick(rng);
    if (handed_out.count(port) || !bindable(port)) continue;
    handed_out.insert(port);
    return port;
  }
  throw std::runtime_error("free_port: no bindable port in [" + std::to_string(bottom) + "," +
                           std::to_string(top) + "]");
}

bool port_open(int port, const std::string& host) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

void wait_port_closed(int port, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (port_open(port)) {
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("port " + std::to_string(port) +
                               " still accepts connections after its server was killed");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

ChildProcess::ChildProcess(std::vector<std::string> argv, const std::string& log_path)
    : log_path_(log_path) {
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("open " + log_path + ": " + strerror(errno));
  std::vector<char*> cargv;
  for (auto& a : argv)
    cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork: " + std::string(strerror(errno)));
  if (pid_ == 0) {
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  close(log_fd);
}

ChildProcess::~ChildProcess() {
  if (!reaped_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    kill(pid_, SIGCONT);
    int status;
    waitpid(pid_, &status, 0);
  }
}

bool ChildProcess::running() {
  if (reaped_) return false;
  int status;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) reaped_ = true;
  return !reaped_;
}

void ChildProcess::signal(int sig) {
  if (!reaped_) kill(pid_, sig);
}

int ChildProcess::wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

std::string server_binary() {
  if (const char* env = std::getenv("KVRAFT_SERVER_BIN"); env && *env) return env;
#ifdef KVRAFT_SERVER_BIN
  return KVRAFT_SERVER_BIN;
#else
  throw std::runtime_error("KVRAFT_SERVER_BIN is not set");
#endif
}

ServerProcess::ServerProcess(std::vector<std::string> extra_args,
                             std::chrono::milliseconds startup_timeout)
    : dir_("kvraft-server"), port_(free_port()), extra_args_(std::move(extra_args)) {
  start(startup_timeout);
}

ServerProcess::~ServerProcess() {
  delete child_;
}

void ServerProcess::start(std::chrono::milliseconds startup_timeout) {
  std::vector<std::string> argv = {server_binary(), "--port", std::to_string(port_), "--dir",
                                   dir_.path()};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  child_ = new ChildProcess(argv, dir_.file("server.log"));
  auto deadline = std::chrono::steady_clock::now() + startup_timeout;
  while (!port_open(port_)) {
    if (!child_->running())
      throw std::runtime_error("kvraft-server exited during startup; log:\n" + log());
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("kvraft-server did not listen on port " + std::to_string(port_) +
                               "; log:\n" + log());
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void ServerProcess::restart_after_kill(std::chrono::milliseconds startup_timeout) {
  child_->signal(SIGKILL);
  child_->wait(std::chrono::seconds(10));
  delete child_;
  child_ = nullptr;
  wait_port_closed(port_);
  start(startup_timeout);
}

}  // namespace kvraft::test
