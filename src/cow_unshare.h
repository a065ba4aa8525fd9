// src/cow_unshare.h — gives the parent back write access to its memory in
// bulk once a fork()ed snapshot child has exited, instead of one page fault
// per page on the loop thread.
//
// Why: fork() write-protects every private page of the parent. After the
// child exits, each of those pages is the parent's alone again, but the
// first write to it still takes a page fault (the kernel finds the page
// exclusive and just makes it writable). On the paravirtualised test VM
// such a fault costs ~26 us (a 128 MB microbenchmark: 0.86 s to write one
// byte per page after the child exited), and the loop thread, applying
// 75k random SETs/s, takes thousands of them: a strace of the leader showed
// its loop inside one iteration for 350 ms after fork(), the child having
// exited after 150 ms, and perf put its samples in do_wp_page under
// Dict::replace. MADV_POPULATE_WRITE (Linux 5.14) does the same work in one
// system call at ~1.4 us per page, on a thread that is not the loop.
//
// While the child still runs, the same call would copy every page (the
// child still shares them): double the memory for nothing, so this waits
// for the child's exit first.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace kvraft {

// What unshare_resident_private_memory() did.
struct UnshareStats {
  size_t mappings = 0;  // private writable anonymous mappings looked at
  size_t pages = 0;     // resident pages made writable (populated)
  int error = 0;        // errno of the first failure that stopped it, 0 if none
};

// Makes every resident page of this process's private, writable, anonymous
// mappings ([heap], malloc arenas, thread stacks, anonymous mmaps) writable
// in the page tables now (MADV_POPULATE_WRITE over each run of resident
// pages found by mincore), so later writes to them take no page fault.
// Pages not resident are left alone (populating them would add memory).
// Safe to call from any thread while other threads run: the kernel changes
// no data, and a range unmapped meanwhile just fails that run (ignored).
// Returns with error EINVAL on kernels without MADV_POPULATE_WRITE.
UnshareStats unshare_resident_private_memory();

// Starts a detached thread that waits for `child` (a direct child of this
// process) to exit without reaping it (waitid WNOWAIT: its parent still
// reaps it and reads its status), then calls
// unshare_resident_private_memory(). Returns false, doing nothing, if the
// thread cannot be started. If the child was already reaped, it unshares at
// once. The thread owns nothing of the caller's, so the caller may forget it.
bool unshare_after_exit_async(pid_t child);

}  // namespace kvraft
