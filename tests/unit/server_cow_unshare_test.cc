// tests/unit/server_cow_unshare_test.cc — unshare_resident_private_memory()
// and unshare_after_exit_async() (src/cow_unshare.h): after a fork()ed child
// exits, writes to the parent's memory must no longer take a page fault each.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include "src/cow_unshare.h"

namespace kvraft {
namespace {

constexpr size_t kBufferBytes = 32u << 20;  // 8192 pages of 4 KiB

long minor_faults() {
  struct rusage ru;
  ::getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_minflt;
}

// Writes one byte per page of buf; returns the minor faults it took.
long write_every_page(char* buf, size_t bytes, char value) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  long before = minor_faults();
  for (size_t i = 0; i < bytes; i += page)
    buf[i] = value;
  return minor_faults() - before;
}

pid_t fork_short_child() {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  REQUIRE(pid > 0);
  return pid;
}

}  // namespace

TEST_CASE(
    "after a fork()ed child exits, writing every page faults once per page; "
    "after unshare_resident_private_memory it does not fault") {
  auto buf = std::make_unique<char[]>(kBufferBytes);
  std::memset(buf.get(), 1, kBufferBytes);  // resident
  const long pages = static_cast<long>(kBufferBytes / static_cast<size_t>(::sysconf(_SC_PAGESIZE)));

  // The cost this is about: without help, each page faults after the fork.
  pid_t child = fork_short_child();
  REQUIRE(::waitpid(child, nullptr, 0) == child);
  CHECK(write_every_page(buf.get(), kBufferBytes, 2) >= pages * 9 / 10);

  child = fork_short_child();
  REQUIRE(::waitpid(child, nullptr, 0) == child);
  UnshareStats stats = unshare_resident_private_memory();
  REQUIRE(stats.error == 0);  // needs Linux >= 5.14 (MADV_POPULATE_WRITE)
  CHECK(stats.mappings > 0);
  CHECK(static_cast<long>(stats.pages) >= pages);
  CHECK(write_every_page(buf.get(), kBufferBytes, 3) < pages / 10);
}

TEST_CASE(
    "unshare_after_exit_async waits for the child's exit, leaves it to be reaped, and "
    "unshares") {
  auto buf = std::make_unique<char[]>(kBufferBytes);
  std::memset(buf.get(), 1, kBufferBytes);
  const long pages = static_cast<long>(kBufferBytes / static_cast<size_t>(::sysconf(_SC_PAGESIZE)));
  int gate[2];
  REQUIRE(::pipe(gate) == 0);
  pid_t child = ::fork();
  if (child == 0) {
    char c;
    ::close(gate[1]);
    while (::read(gate[0], &c, 1) < 0) {
    }
    ::_exit(7);
  }
  REQUIRE(child > 0);
  ::close(gate[0]);
  REQUIRE(unshare_after_exit_async(child));
  // The child still runs: nothing may have been populated (that would copy
  // every page the child shares), so the parent's writes still fault.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(write_every_page(buf.get(), kBufferBytes / 2, 2) >= pages / 2 * 9 / 10);
  ::close(gate[1]);  // let the child exit
  // The helper unshares after the exit; the second half then takes no faults.
  long faults = 0;
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    faults = write_every_page(buf.get() + kBufferBytes / 2, kBufferBytes / 2, 3);
    if (faults < pages / 2 / 10) break;
  }
  CHECK(faults < pages / 2 / 10);
  // The exit status is still the parent's to collect.
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 7);
}

}  // namespace kvraft
