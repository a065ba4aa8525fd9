// tests/faults/cluster.cc — see cluster.h.
#include "tests/faults/cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace kvraft::faults {

namespace {

timeval to_timeval(std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  return tv;
}

}  // namespace

Connection::Connection(const std::string& host, int port, std::chrono::milliseconds timeout) {
  ctx_ = redisConnectWithTimeout(host.c_str(), port, to_timeval(timeout));
  if (ctx_ && ctx_->err == 0) redisSetTimeout(ctx_, to_timeval(timeout));
}

Connection::~Connection() {
  close();
}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    close();
    ctx_ = other.ctx_;
    other.ctx_ = nullptr;
  }
  return *this;
}

std::string Connection::error() const {
  if (!ctx_) return "no connection";
  return ctx_->errstr;
}

std::unique_ptr<redisReply, void (*)(void*)> Connection::command(
    const std::vector<std::string>& argv) {
  std::unique_ptr<redisReply, void (*)(void*)> none(nullptr, freeReplyObject);
  if (!ok()) return none;
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const std::string& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  void* r = redisCommandArgv(ctx_, static_cast<int>(args.size()), args.data(), lens.data());
  if (!r) return none;
  return {static_cast<redisReply*>(r), freeReplyObject};
}

void Connection::close() {
  if (ctx_) redisFree(ctx_);
  ctx_ = nullptr;
}

int free_port_on(const std::string& address) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket: " + std::string(strerror(errno)));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  inet_pton(AF_INET, address.c_str(), &sa.sin_addr);
  socklen_t len = sizeof sa;
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    std::string err = strerror(errno);
    ::close(fd);
    throw std::runtime_error("cannot bind " + address + ": " + err);
  }
  ::close(fd);
  return ntohs(sa.sin_port);
}

// The address of id k is <prefix>.(10+k): the last usable one is .254.
constexpr int kMaxNodeId = 244;

FaultCluster::FaultCluster(int nodes, std::string address_prefix, std::string run_dir,
                           std::string server, std::vector<std::string> extra_args)
    : address_prefix_(std::move(address_prefix)),
      run_dir_(std::move(run_dir)),
      server_(std::move(server)),
      extra_args_(std::move(extra_args)) {
  for (int i = 0; i < nodes; ++i) {
    Node n = make_node(i + 1);
    peers_ += (i ? "," : "") + std::to_string(n.id) + "@" + n.address + ":" +
              std::to_string(n.raft_port) + ":" + std::to_string(n.client_port);
    nodes_.push_back(n);
  }
}

FaultCluster::Node FaultCluster::make_node(int id) const {
  if (id > kMaxNodeId)
    throw std::runtime_error("no loopback address left for node " + std::to_string(id));
  Node n;
  n.id = id;
  n.address = address_prefix_ + "." + std::to_string(10 + id);
  n.client_port = free_port_on(n.address);
  n.raft_port = free_port_on(n.address);
  n.dir = run_dir_ + "/n" + std::to_string(id);
  mkdir(n.dir.c_str(), 0755);
  return n;
}

std::vector<int> FaultCluster::members() const {
  std::vector<int> out;
  for (int i = 0; i < size(); ++i)
    if (!nodes_[idx(i)].removed) out.push_back(i);
  return out;
}

int FaultCluster::add_joining_node() {
  int max_id = 0;
  for (const Node& n : nodes_)
    max_id = std::max(max_id, n.id);
  Node n = make_node(max_id + 1);
  n.joiner = true;
  nodes_.push_back(n);
  return size() - 1;
}

void FaultCluster::retire(int i) {
  kill(i);
  nodes_[idx(i)].removed = true;
}

std::optional<std::map<uint64_t, std::string>> FaultCluster::roles(int i) const {
  const Node& n = nodes_[idx(i)];
  if (n.pid <= 0 || n.paused) return std::nullopt;
  Connection c(n.address, n.client_port, std::chrono::milliseconds(2000));
  auto r = c.command({"RAFT.NODES"});
  if (!r || r->type != REDIS_REPLY_ARRAY) return std::nullopt;
  std::map<uint64_t, std::string> out;
  for (size_t k = 0; k < r->elements; ++k) {
    const redisReply* e = r->element[k];
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 4 ||
        e->element[0]->type != REDIS_REPLY_INTEGER || !e->element[3]->str)
      continue;
    out[static_cast<uint64_t>(e->element[0]->integer)] =
        std::string(e->element[3]->str, e->element[3]->len);
  }
  return out;
}

FaultCluster::~FaultCluster() {
  for (int i = 0; i < size(); ++i)
    kill(i);
}

std::string FaultCluster::log_path(int i) const {
  return run_dir_ + "/n" + std::to_string(id(i)) + ".log";
}

void FaultCluster::start(int i, std::chrono::milliseconds timeout) {
  Node& n = nodes_[idx(i)];
  if (n.pid > 0 || n.removed) return;
  // A joiner asks a running member to add it (only while its data is
  // fresh; once it has joined it restarts from its own data).
  std::string join;
  if (n.joiner) {
    int via = -1;
    for (int m : members())
      if (m != i && (via < 0 || (!(running(via) && !paused(via)) && running(m) && !paused(m))))
        via = m;
    if (via < 0)
      throw std::runtime_error("node " + std::to_string(n.id) + " has no member to join");
    join = address(via) + ":" + std::to_string(client_port(via));
  }
  std::vector<std::string> argv = {server_,
                                   "--bind",
                                   n.address,
                                   "--port",
                                   std::to_string(n.client_port),
                                   "--dir",
                                   n.dir,
                                   "--node-id",
                                   std::to_string(n.id),
                                   "--raft-port",
                                   std::to_string(n.raft_port),
                                   n.joiner ? "--join" : "--cluster-peers",
                                   n.joiner ? join : peers_};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  const std::string log = log_path(i);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork: " + std::string(strerror(errno)));
  if (pid == 0) {
    // Die with the harness, whatever kills it.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    setpgid(0, 0);  // the terminal's ^C goes to the harness, which cleans up
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    std::vector<char*> args;
    for (std::string& a : argv)
      args.push_back(a.data());
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  n.pid = pid;
  n.paused = false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    Connection c(n.address, n.client_port, std::chrono::milliseconds(500));
    if (c.ok()) {
      auto r = c.command({"PING"});
      if (r) return;
    }
    std::string how;
    if (reap_exited(i, &how))
      throw std::runtime_error("node " + std::to_string(n.id) + " " + how + " at start; see " +
                               log);
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("node " + std::to_string(n.id) + " did not answer within " +
                               std::to_string(timeout.count()) + " ms; see " + log);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool FaultCluster::reap_exited(int i, std::string* how) {
  Node& n = nodes_[idx(i)];
  if (n.pid <= 0) return false;
  int status = 0;
  if (waitpid(n.pid, &status, WNOHANG) != n.pid) return false;
  *how = WIFSIGNALED(status) ? "died of signal " + std::to_string(WTERMSIG(status))
                             : "exited with status " + std::to_string(WEXITSTATUS(status));
  n.pid = -1;
  n.paused = false;
  return true;
}

void FaultCluster::kill(int i) {
  Node& n = nodes_[idx(i)];
  if (n.pid <= 0) return;
  ::kill(n.pid, SIGKILL);
  int status = 0;
  while (waitpid(n.pid, &status, 0) < 0 && errno == EINTR) {
  }
  n.pid = -1;
  n.paused = false;
}

void FaultCluster::pause(int i) {
  Node& n = nodes_[idx(i)];
  if (n.pid <= 0 || n.paused) return;
  ::kill(n.pid, SIGSTOP);
  n.paused = true;
}

void FaultCluster::resume(int i) {
  Node& n = nodes_[idx(i)];
  if (n.pid <= 0 || !n.paused) return;
  ::kill(n.pid, SIGCONT);
  n.paused = false;
}

NodeInfo FaultCluster::info(int i, std::chrono::milliseconds timeout) const {
  NodeInfo out;
  const Node& n = nodes_[idx(i)];
  if (n.pid <= 0 || n.paused) return out;
  Connection c(n.address, n.client_port, timeout);
  auto r = c.command({"RAFT.INFO"});
  if (!r || r->type != REDIS_REPLY_ARRAY) return out;
  out.answered = true;
  for (size_t k = 0; k + 1 < r->elements; k += 2) {
    const redisReply* key = r->element[k];
    const redisReply* val = r->element[k + 1];
    if (!key->str || !val->str) continue;
    std::string name(key->str, key->len), value(val->str, val->len);
    if (name == "role") out.role = value;
    if (name == "term") out.term = std::stoull(value);
    if (name == "commit_index") out.commit_index = std::stoull(value);
    if (name == "applied_index") out.applied_index = std::stoull(value);
  }
  return out;
}

int FaultCluster::leader() const {
  int best = -1;
  uint64_t best_term = 0;
  for (int i : members()) {
    NodeInfo ni = info(i);
    if (ni.answered && ni.role == "leader" && (best < 0 || ni.term > best_term)) {
      best = i;
      best_term = ni.term;
    }
  }
  return best;
}

std::optional<std::vector<std::string>> FaultCluster::digest(int i) const {
  const Node& n = nodes_[idx(i)];
  if (n.pid <= 0 || n.paused) return std::nullopt;
  Connection c(n.address, n.client_port, std::chrono::milliseconds(2000));
  auto r = c.command({"RAFT.DIGEST"});
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3) return std::nullopt;
  std::vector<std::string> out;
  for (size_t k = 0; k < 3; ++k) {
    const redisReply* e = r->element[k];
    if (e->type == REDIS_REPLY_INTEGER)
      out.push_back(std::to_string(e->integer));
    else if (e->str)
      out.emplace_back(e->str, e->len);
    else
      out.emplace_back();
  }
  return out;
}

}  // namespace kvraft::faults
