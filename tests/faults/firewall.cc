// tests/faults/firewall.cc — see firewall.h.
#include "tests/faults/firewall.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>
#include <stdexcept>

namespace kvraft::faults {

int run_program(const std::vector<std::string>& argv, std::string* output) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    std::vector<char*> args;
    for (const std::string& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (output) *output = std::move(out);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Firewall::Firewall(std::string tag) : comment_("kvraft-faults-" + std::move(tag)) {}

bool Firewall::available(std::string* why) {
  if (geteuid() != 0) {
    *why = "not running as root";
    return false;
  }
  std::string out;
  if (run_program({"iptables", "-w", "-S", "INPUT"}, &out) != 0) {
    *why = "iptables does not work here: " + out.substr(0, 200);
    return false;
  }
  return true;
}

void Firewall::drop(const std::string& from, const std::string& to) {
  std::string out;
  int rc = run_program({"iptables", "-w", "-I", "INPUT", "-s", from, "-d", to, "-m", "comment",
                        "--comment", comment_, "-j", "DROP"},
                       &out);
  if (rc != 0)
    throw std::runtime_error("iptables refused a rule " + from + " -> " + to + ": " + out);
  active_++;
}

int Firewall::heal() {
  active_ = 0;
  return remove_tagged(comment_ + " ");
}

int Firewall::remove_tagged(const std::string& prefix) {
  // `iptables -S` prints each rule as its own -A command; the same words
  // with -D delete it. Comments without spaces are printed unquoted. A
  // prefix ending in a space matches one exact tag.
  std::string listing;
  if (run_program({"iptables", "-w", "-S", "INPUT"}, &listing) != 0) return 0;
  int removed = 0;
  std::istringstream lines(listing);
  std::string line;
  while (std::getline(lines, line)) {
    const std::string key = "--comment " + prefix;
    if (line.rfind("-A INPUT ", 0) != 0 || (line + " ").find(key) == std::string::npos) continue;
    std::vector<std::string> argv = {"iptables", "-w", "-D"};
    std::istringstream words(line.substr(3));
    std::string w;
    while (words >> w)
      argv.push_back(w);
    std::string out;
    if (run_program(argv, &out) == 0) removed++;
  }
  return removed;
}

}  // namespace kvraft::faults
