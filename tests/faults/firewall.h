// tests/faults/firewall.h — network partitions between loopback addresses
// with iptables, for the fault harness.
//
// Every node of a harness cluster has its own loopback address and its
// outgoing connections leave from it (src/source_address.h), so dropping
// the packets "from A to B" in the INPUT chain cuts exactly the traffic node
// A sends node B (loopback packets cross INPUT on the receiving side). The
// clients of the harness talk from 127.0.0.1 and are never cut off.
//
// Every rule carries the comment `kvraft-faults-<tag>`; heal() removes this
// harness's rules and remove_tagged("kvraft-faults") removes every rule any
// harness left behind (tests/faults/cleanup). Rules must never outlive a
// run: faults_main.cc calls heal() on every exit path, including signals and
// a crashed worker.
#pragma once

#include <string>
#include <vector>

namespace kvraft::faults {

// Runs argv[0] (searched in PATH) with its output captured; returns the
// exit status (-1 if it could not run). Used for iptables only.
int run_program(const std::vector<std::string>& argv, std::string* output);

class Firewall {
 public:
  // `tag` becomes the rule comment "kvraft-faults-<tag>".
  explicit Firewall(std::string tag);

  // True if iptables can be run and changed here (root, iptables present).
  // When false, `why` says what is missing.
  static bool available(std::string* why);

  // Drops every packet from `from` to `to` (one direction). Throws
  // std::runtime_error if iptables refuses.
  void drop(const std::string& from, const std::string& to);

  // Removes every rule with this firewall's tag. Returns the number removed.
  int heal();

  // Removes every INPUT rule whose comment starts with `prefix`.
  static int remove_tagged(const std::string& prefix);

  const std::string& comment() const { return comment_; }
  // Rules added since the last heal().
  int active() const { return active_; }

 private:
  std::string comment_;
  int active_ = 0;
};

}  // namespace kvraft::faults
