// tests/faults/faults_main.cc — kvraft-faults: one fault-injection run
// against a real cluster, judged at the end.
//
//   kvraft-faults [--seed S] [--seconds T] [--nodes 3|5] [--clients K]
//                 [--dir DIR] [--server PATH] [--keep|--discard] [--no-partitions]
//                 [--replace-every N] [--read-consistency linearizable|lease|stale]
//
// Starts the cluster (cluster.h), runs the clients (workload.h) and the
// nemesis (nemesis.h) for T seconds, heals everything, and then checks:
//   1. the cluster converges: every current member (the nemesis may have
//      replaced some) has applied the same index and RAFT.DIGEST agrees on
//      every one (replicas identical);
//   2. no acknowledged write was lost, no write refused with a retry-safe
//      error took effect (the ack:<n> keys);
//   3. the history is linearizable, key by key (tests/linearizability).
// Prints one summary line (`faults: seed=... verdict=...`) and exits 0 if
// all hold; 1 on a violation of any of the three, a server that crashed or
// a cluster that never settled; 2 when the run could not be carried out or
// the checker could not decide; 130 when interrupted.
// The run directory (history, node logs and data) is kept when the run
// fails or with --keep; `kvraft-lincheck DIR/history` re-checks it.
//
// Fault rules never outlive the run: the program forks itself; the worker
// does the run and heals on every exit path it controls (including
// SIGINT/SIGTERM), and the parent, which does nothing else, removes every
// rule tagged with its pid once the worker is gone — even after a crash.
// Servers die with the worker (PR_SET_PDEATHSIG).
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "tests/faults/cluster.h"
#include "tests/faults/firewall.h"
#include "tests/faults/nemesis.h"
#include "tests/faults/workload.h"
#include "tests/linearizability/history.h"

#ifndef KVRAFT_SERVER_BIN
#define KVRAFT_SERVER_BIN "kvraft-server"
#endif

namespace kvraft::faults {
namespace {

using namespace std::chrono_literals;

std::atomic<bool> g_interrupted{false};
pid_t g_worker = -1;

struct Options {
  uint64_t seed = 1;
  int seconds = 30;
  int nodes = 3;
  int clients = 5;
  std::string dir;
  std::string server = KVRAFT_SERVER_BIN;
  bool keep = false;
  bool discard = false;  // remove the run directory even when the run fails
  bool partitions = true;
  int replace_every = 12;                         // one fault in N is a membership change (0: none)
  std::string read_consistency = "linearizable";  // the servers' read-consistency
};

[[noreturn]] void usage(const std::string& error) {
  std::cerr
      << "kvraft-faults: " << error << "\n"
      << "usage: kvraft-faults [--seed S] [--seconds T] [--nodes 3|5] [--clients K]\n"
      << "                     [--dir DIR] [--server PATH] [--keep|--discard] [--no-partitions]\n"
      << "                     [--replace-every N]\n"
      << "                     [--read-consistency linearizable|lease|stale]\n";
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options o;
  if (const char* env = getenv("KVRAFT_SERVER_BIN"); env && *env) o.server = env;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value for " + a);
      return argv[++i];
    };
    auto number = [&](long long lo, long long hi) {
      const std::string v = value();
      char* end = nullptr;
      long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < lo || n > hi) usage("bad value for " + a + ": " + v);
      return n;
    };
    if (a == "--seed")
      o.seed = static_cast<uint64_t>(number(0, INT64_MAX));
    else if (a == "--seconds")
      o.seconds = static_cast<int>(number(1, 86400));
    else if (a == "--nodes")
      o.nodes = static_cast<int>(number(3, 5));
    else if (a == "--clients")
      o.clients = static_cast<int>(number(1, 64));
    else if (a == "--dir")
      o.dir = value();
    else if (a == "--server")
      o.server = value();
    else if (a == "--keep")
      o.keep = true;
    else if (a == "--discard")
      o.discard = true;
    else if (a == "--no-partitions")
      o.partitions = false;
    else if (a == "--replace-every")
      o.replace_every = static_cast<int>(number(0, 1000));
    else if (a == "--read-consistency")
      o.read_consistency = value();
    else
      usage("unknown option " + a);
  }
  if (o.nodes != 3 && o.nodes != 5) usage("--nodes must be 3 or 5");
  // `stale` promises no linearizable reads: a run with it must fail, which
  // is how ctest checks that the harness can see a violation at all.
  if (o.read_consistency != "linearizable" && o.read_consistency != "lease" &&
      o.read_consistency != "stale")
    usage("--read-consistency must be linearizable, lease or stale");
  return o;
}

// A /24 of loopback addresses no other harness on this machine uses now:
// 127.0.<n>.11..  with n from 0, held by a lock file until exit. Two runs
// sharing addresses would cut each other's links.
std::string claim_address_prefix(int* lock_fd) {
  for (int n = 0; n < 250; ++n) {
    const std::string prefix = "127.0." + std::to_string(n);
    const std::string path = "/tmp/kvraft-faults-" + prefix + ".lock";
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) continue;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
      *lock_fd = fd;
      return prefix;
    }
    close(fd);
  }
  throw std::runtime_error("no free loopback /24 (127.0.0-249.x all locked)");
}

std::string counts_text(const std::map<std::string, int>& counts) {
  std::string out;
  int total = 0;
  for (const auto& [k, v] : counts) {
    out += (out.empty() ? "" : ",") + k + ":" + std::to_string(v);
    total += v;
  }
  return std::to_string(total) + (out.empty() ? "" : " (" + out + ")");
}

// Waits until every node answers with the same commit index, has applied
// it, and reports the same applied index in RAFT.DIGEST. Returns "" when the
// digests agree, otherwise what differs (or why it never settled).
std::string check_replicas(FaultCluster& cluster, std::chrono::seconds timeout, uint64_t* index) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last = "no node answered";
  while (std::chrono::steady_clock::now() < deadline && !g_interrupted) {
    std::this_thread::sleep_for(200ms);
    bool settled = true;
    uint64_t commit = 0;
    const std::vector<int> members = cluster.members();
    for (size_t k = 0; k < members.size() && settled; ++k) {
      const int i = members[k];
      NodeInfo ni = cluster.info(i, 2000ms);
      if (!ni.answered || ni.applied_index != ni.commit_index ||
          (k > 0 && ni.commit_index != commit)) {
        settled = false;
        last = "node " + std::to_string(cluster.id(i)) +
               (ni.answered ? " at commit " + std::to_string(ni.commit_index) + " applied " +
                                  std::to_string(ni.applied_index)
                            : " does not answer");
      }
      commit = ni.commit_index;
    }
    if (!settled) continue;
    std::vector<std::vector<std::string>> digests;
    for (int i : members) {
      auto d = cluster.digest(i);
      if (!d) break;
      digests.push_back(*d);
    }
    if (digests.size() != members.size()) continue;
    bool same_index = std::all_of(digests.begin(), digests.end(),
                                  [&](const auto& d) { return d[0] == digests[0][0]; });
    if (!same_index) continue;  // an entry was applied in between: look again
    *index = std::stoull(digests[0][0]);
    for (size_t i = 1; i < digests.size(); ++i) {
      if (digests[i] != digests[0]) {
        return "DIVERGED at applied index " + digests[0][0] + ": node " +
               std::to_string(cluster.id(members[0])) + " has " + digests[0][1] + " keys digest " +
               digests[0][2] + ", node " + std::to_string(cluster.id(members[i])) + " has " +
               digests[i][1] + " keys digest " + digests[i][2];
      }
    }
    return "";
  }
  return "did not converge within " + std::to_string(timeout.count()) + " s: " + last;
}

// Reads every ack:<n> key back through the leader. Returns the problems
// found (empty: none lost, none phantom); `unreadable` if it never could.
std::vector<std::string> check_ack_writes(FaultCluster& cluster,
                                          const std::vector<Workload::AckWrite>& writes,
                                          bool* unreadable) {
  std::vector<std::string> problems;
  *unreadable = false;
  constexpr size_t kBatch = 200;
  for (size_t first = 0; first < writes.size(); first += kBatch) {
    const size_t last = std::min(writes.size(), first + kBatch);
    std::vector<std::string> argv = {"MGET"};
    for (size_t i = first; i < last; ++i)
      argv.push_back(writes[i].key);
    std::unique_ptr<redisReply, void (*)(void*)> reply(nullptr, freeReplyObject);
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline && !g_interrupted) {
      const int leader = cluster.leader();
      if (leader >= 0) {
        Connection c(cluster.address(leader), cluster.client_port(leader), 5000ms);
        reply = c.command(argv);
        if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == last - first) break;
        reply.reset();
      }
      std::this_thread::sleep_for(200ms);
    }
    if (!reply) {
      *unreadable = true;
      problems.push_back("could not read the acknowledged writes back");
      return problems;
    }
    for (size_t i = first; i < last; ++i) {
      const Workload::AckWrite& w = writes[i];
      const redisReply* e = reply->element[i - first];
      const bool present = e->type == REDIS_REPLY_STRING;
      const std::string got = present ? std::string(e->str, e->len) : "(nil)";
      if (w.outcome == Outcome::kOk && got != w.value)
        problems.push_back("LOST acknowledged write " + w.key + "=" + w.value + ": reads " + got);
      if (w.outcome == Outcome::kFailed && present)
        problems.push_back("write " + w.key + " refused as not applied was applied: reads " + got);
      if (w.outcome == Outcome::kUnknown && present && got != w.value)
        problems.push_back("write " + w.key + " reads " + got + ", expected " + w.value +
                           " or nil");
    }
  }
  return problems;
}

void write_history(const std::string& path, const Options& o, const std::vector<KvOp>& ops,
                   const Workload& workload, const Nemesis& nemesis) {
  std::ofstream out(path);
  out << lincheck::kKvraftHistoryHeader << "\n";
  out << "# kvraft-faults seed " << o.seed << ", " << o.seconds << " s, " << o.nodes << " nodes, "
      << o.clients << " clients; times in microseconds\n";
  for (const std::string& e : nemesis.events())
    out << e << "\n";
  for (const std::string& f : workload.notes())
    out << f << "\n";
  for (const KvOp& op : ops)
    out << lincheck::to_kvraft_line(op) << "\n";
}

void on_signal(int) {
  g_interrupted = true;
}

// The run itself, in the worker process. Returns the exit status.
int run(const Options& o, const std::string& tag) {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a killed node's socket must not kill us

  int lock_fd = -1;
  const std::string prefix = claim_address_prefix(&lock_fd);
  std::string dir = o.dir;
  if (dir.empty()) {
    const char* tmp = getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/kvraft-faults-XXXXXX";
    if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
    dir = templ;
  } else {
    std::filesystem::create_directories(dir);
  }
  const std::string head = "seed=" + std::to_string(o.seed);

  std::string why;
  std::unique_ptr<Firewall> firewall;
  if (o.partitions && Firewall::available(&why)) {
    firewall = std::make_unique<Firewall>(tag);
  } else {
    std::cout << "kvraft-faults: " << head << ": partitions SKIPPED ("
              << (o.partitions ? why : "--no-partitions") << "); kill and pause faults still run\n";
  }

  int status = 0;
  std::vector<std::string> problems;
  std::string verdict;
  ClientStats stats;
  std::map<std::string, int> counts;
  size_t lost = 0, acked = 0;
  std::string replicas = "not checked";
  std::string explanation;
  {
    FaultCluster cluster(o.nodes, prefix, dir, o.server,
                         {"--snapshot-log-entries", "2000", "--loglevel", "verbose",
                          "--read-consistency", o.read_consistency});
    for (int i = 0; i < cluster.size(); ++i)
      cluster.start(i);
    const auto start_deadline = std::chrono::steady_clock::now() + 30s;
    while (cluster.leader() < 0) {
      if (std::chrono::steady_clock::now() > start_deadline || g_interrupted)
        throw std::runtime_error("no leader was elected within 30 s");
      std::this_thread::sleep_for(100ms);
    }
    std::vector<Endpoint> endpoints;
    for (int i : cluster.members())
      endpoints.push_back({cluster.address(i), cluster.client_port(i)});
    Workload workload(endpoints, o.clients, o.seed, 3000ms);
    Nemesis nemesis(cluster, firewall.get(), o.seed, o.replace_every);
    nemesis.on_membership_change(
        [&](std::vector<Endpoint> e) { workload.set_nodes(std::move(e)); });
    workload.start();
    try {
      nemesis.run(std::chrono::steady_clock::now() + std::chrono::seconds(o.seconds),
                  g_interrupted);
    } catch (...) {
      nemesis.heal_all();
      workload.stop();
      throw;
    }
    nemesis.heal_all();
    workload.stop();
    counts = nemesis.counts();
    stats = workload.stats();
    problems = nemesis.problems();
    if (g_interrupted) {
      std::cout << "faults: " << head << " result=INTERRUPTED (faults healed; run directory " << dir
                << ")\n";
      return 130;
    }

    uint64_t index = 0;
    std::string diverged = check_replicas(cluster, 60s, &index);
    if (diverged.empty()) {
      replicas = "identical@" + std::to_string(index);
    } else {
      replicas = diverged.starts_with("DIVERGED") ? "DIVERGED" : "unsettled";
      problems.push_back(diverged);
    }
    const auto writes = workload.ack_writes();
    bool unreadable = false;
    for (const auto& w : writes)
      acked += w.outcome == Outcome::kOk;
    for (const std::string& p : check_ack_writes(cluster, writes, &unreadable)) {
      problems.push_back(p);
      lost++;
    }
    if (unreadable) lost = 0;

    std::vector<KvOp> ops = workload.history();
    std::sort(ops.begin(), ops.end(), [](const KvOp& a, const KvOp& b) { return a.call < b.call; });
    write_history(dir + "/history", o, ops, workload, nemesis);
    lincheck::History h;
    h.format = lincheck::Format::kKvraft;
    h.kv_ops = std::move(ops);
    lincheck::CheckOptions copts;
    copts.budget = 120s;
    const auto t0 = std::chrono::steady_clock::now();
    lincheck::CheckResult result = lincheck::check(h, copts);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    switch (result.verdict) {
      case lincheck::Verdict::kLinearizable:
        verdict = "linearizable";
        break;
      case lincheck::Verdict::kNotLinearizable:
        verdict = "NOT-linearizable";
        explanation = lincheck::format_violation(*result.violation, 12);
        break;
      case lincheck::Verdict::kUnknown:
        verdict = "undecided";
        break;
    }
    verdict += "(" + std::to_string(ms) + "ms)";
    // A crash, a cluster that never settles or writes that cannot be read
    // back are failures too; only an undecided history is "could not tell".
    if (result.verdict == lincheck::Verdict::kNotLinearizable || !problems.empty())
      status = 1;
    else if (result.verdict == lincheck::Verdict::kUnknown)
      status = 2;
  }  // the cluster is stopped here
  std::cout << "faults: " << head << " nodes=" << o.nodes << " seconds=" << o.seconds
            << " ops=" << stats.ops << " ok=" << stats.ok << " failed=" << stats.failed
            << " unknown=" << stats.unknown << " faults=" << counts_text(counts)
            << " acked-writes=" << acked << " lost=" << lost << " replicas=" << replicas
            << " verdict=" << verdict << " result=" << (status == 0 ? "PASS" : "FAIL") << "\n";
  constexpr size_t kShownProblems = 20;
  for (size_t i = 0; i < problems.size() && i < kShownProblems; ++i)
    std::cout << "  problem: " << problems[i] << "\n";
  if (problems.size() > kShownProblems)
    std::cout << "  ... and " << problems.size() - kShownProblems << " more problems\n";
  if (!explanation.empty()) std::cout << explanation << "\n";
  if ((status == 0 || o.discard) && !o.keep && o.dir.empty()) {
    std::filesystem::remove_all(dir);
  } else {
    std::cout << "  run directory kept: " << dir << " (history: " << dir << "/history)\n";
  }
  std::cout.flush();
  return status;
}

void forward_signal(int sig) {
  if (g_worker > 0) kill(g_worker, sig);
}

}  // namespace
}  // namespace kvraft::faults

int main(int argc, char** argv) {
  using namespace kvraft::faults;
  const Options o = parse_options(argc, argv);
  const std::string tag = std::to_string(getpid());
  std::cout.flush();
  g_worker = fork();
  if (g_worker < 0) {
    perror("kvraft-faults: fork");
    return 2;
  }
  if (g_worker == 0) {
    int status = 2;
    try {
      status = run(o, tag);
    } catch (const std::exception& e) {
      std::cout << "faults: seed=" << o.seed << " result=FAIL error: " << e.what() << "\n";
      std::cout.flush();
    }
    Firewall(tag).heal();
    std::cout.flush();  // _exit does not flush, and stdout may be a file
    _exit(status);
  }
  // The guardian: forwards signals, waits, and removes the worker's rules
  // whatever happened to it.
  struct sigaction sa {};
  sa.sa_handler = forward_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  int status = 0;
  while (waitpid(g_worker, &status, 0) < 0) {
    if (errno != EINTR) break;
  }
  const int removed = Firewall::remove_tagged("kvraft-faults-" + tag + " ");
  if (WIFSIGNALED(status)) {
    std::cout << "faults: seed=" << o.seed << " result=FAIL the harness died of signal "
              << WTERMSIG(status) << "; " << removed << " leftover fault rules removed\n";
    return 2;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
}
