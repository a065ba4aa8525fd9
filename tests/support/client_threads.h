// tests/support/client_threads.h — a fixed set of client threads running a
// loop body until stopped, the skeleton of the write loads that integration
// tests run against a cluster while they kill nodes or move leadership
// (tests/integration/cluster_test.cc, leader_transfer_test.cc).
#pragma once

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

namespace kvraft::test {

// Starts body(0) .. body(n-1) on n threads; each body loops until
// stopping(). stop(), or the destructor, raises the flag and joins them.
// An owner whose state the bodies touch declares its ClientThreads as its
// LAST member: it is then built after that state and destroyed (joined)
// before it.
class ClientThreads {
 public:
  ClientThreads(int n, const std::function<void(int)>& body) {
    for (int t = 0; t < n; ++t)
      threads_.emplace_back(body, t);
  }
  ~ClientThreads() { stop(); }
  ClientThreads(const ClientThreads&) = delete;
  ClientThreads& operator=(const ClientThreads&) = delete;

  // Idempotent; returns once every body has returned.
  void stop() {
    stop_ = true;
    for (auto& th : threads_)
      if (th.joinable()) th.join();
  }
  bool stopping() const { return stop_; }

 private:
  std::atomic<bool> stop_{false};  // declared before threads_: bodies read it at once
  std::vector<std::thread> threads_;
};

}  // namespace kvraft::test
