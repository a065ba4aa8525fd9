// src/cow_unshare.cc — see cow_unshare.h: after a snapshot child exits, make
// the parent's write-protected pages writable in bulk, off the loop thread.
#include "src/cow_unshare.h"

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14 uapi value, for older headers
#endif

namespace kvraft {
namespace {

// A mapping fork() write-protects and that nothing else shares: private,
// writable, not backed by a file ("[heap]", "[stack]", unnamed anonymous
// memory, "[anon:name]").
bool is_private_anonymous_writable(const char* perms, uint64_t inode, const char* path) {
  if (std::strncmp(perms, "rw-p", 4) != 0 || inode != 0) return false;
  return path[0] == '\0' || path[0] == '[';
}

// Populates the resident runs of [start, end); adds to stats. Returns false
// on a failure that will repeat for every range (no MADV_POPULATE_WRITE).
bool unshare_range(uintptr_t start, uintptr_t end, size_t page, std::vector<unsigned char>& vec,
                   UnshareStats* stats) {
  // mincore's vector is one byte per page: bound it by stepping 64K pages.
  constexpr size_t kStepPages = size_t{1} << 16;
  for (uintptr_t at = start; at < end;) {
    const size_t pages = std::min(kStepPages, static_cast<size_t>((end - at) / page));
    vec.assign(pages, 0);
    if (::mincore(reinterpret_cast<void*>(at), pages * page, vec.data()) != 0)
      return true;  // unmapped meanwhile (ENOMEM): nothing to do here
    for (size_t i = 0; i < pages;) {
      if ((vec[i] & 1) == 0) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < pages && (vec[j] & 1) != 0)
        ++j;
      void* run = reinterpret_cast<void*>(at + i * page);
      if (::madvise(run, (j - i) * page, MADV_POPULATE_WRITE) == 0) {
        stats->pages += j - i;
      } else if (errno == EINVAL) {
        stats->error = EINVAL;  // an older kernel: no point going on
        return false;
      }
      // Other errors (ENOMEM: unmapped meanwhile; EFAULT: a guard page made
      // inaccessible) concern this run only.
      i = j;
    }
    at += pages * page;
  }
  return true;
}

}  // namespace

UnshareStats unshare_resident_private_memory() {
  UnshareStats stats;
  std::FILE* maps = std::fopen("/proc/self/maps", "re");
  if (maps == nullptr) {
    stats.error = errno;
    return stats;
  }
  // The list first, the work after: populating while reading the file could
  // change what the next lines say.
  struct Range {
    uintptr_t start, end;
  };
  std::vector<Range> ranges;
  char line[512];
  while (std::fgets(line, sizeof line, maps) != nullptr) {
    uintptr_t start = 0, end = 0;
    char perms[8] = {};
    uint64_t offset = 0, inode = 0;
    unsigned dev_major = 0, dev_minor = 0;
    int path_at = 0;
    if (std::sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s %" SCNx64 " %x:%x %" SCNu64 " %n", &start,
                    &end, perms, &offset, &dev_major, &dev_minor, &inode, &path_at) < 7)
      continue;
    char* path = line + path_at;
    path[std::strcspn(path, "\n")] = '\0';
    if (is_private_anonymous_writable(perms, inode, path)) ranges.push_back({start, end});
  }
  std::fclose(maps);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  // A mapping larger than the machine's memory is a reservation, not a heap
  // (a sanitizer's shadow memory is terabytes): walking it with mincore
  // would take seconds for nothing resident worth it.
  const uint64_t ram = static_cast<uint64_t>(::sysconf(_SC_PHYS_PAGES)) * page;
  std::vector<unsigned char> vec;
  for (const Range& r : ranges) {
    if (r.end - r.start > ram) continue;
    ++stats.mappings;
    if (!unshare_range(r.start, r.end, page, vec, &stats)) break;
  }
  return stats;
}

bool unshare_after_exit_async(pid_t child) {
  try {
    std::thread([child] {
      siginfo_t info;
      // ECHILD: already reaped by its parent, so it has exited too.
      while (::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT) != 0 &&
             errno == EINTR) {
      }
      unshare_resident_private_memory();
    }).detach();
  } catch (const std::system_error&) {
    return false;
  }
  return true;
}

}  // namespace kvraft
