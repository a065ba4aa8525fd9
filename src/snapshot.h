// src/snapshot.h — snapshots of the keyspace as Redis RDB files, written by
// a fork()ed child while the loop keeps serving, and loaded back into a
// fresh keyspace.
//
// This is the mechanism only. The replication driver (src/replication.*)
// decides when to snapshot and what the snapshot covers (the raft index, term
// and membership of the applied index go in through RdbSnapshotInfo); this
// file turns "this keyspace, this meta, this path" into a durable file, and a
// file back into a keyspace plus its meta.
//
// Why fork(): the child gets a copy-on-write image of the keyspace frozen at
// the applied index, so the parent never pauses to copy or lock it. The cost
// the parent pays is fork() itself (copying page tables, proportional to the
// resident size) and the page copies caused by writes while the child runs;
// both are measured (SnapshotResult::fork_us, tests/unit/server_snapshot_test.cc).
//
// The keyspace <-> RDB glue is one function per value type on each side
// (save_entry / the loader's on_<type>), so adding lists, hashes, sets or
// zsets means adding one writer call and one visitor method.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "raft/types.h"
#include "storage/keyspace.h"
#include "storage/rdb.h"

namespace kvraft {

// "Do not skip expired keys" for SnapshotOptions::now_ms and
// LoadOptions::now_ms.
inline constexpr int64_t kKeepExpiredKeys = -1;

// SnapshotOptions::incremental_fsync_bytes by default: Redis's
// REDIS_AUTOSYNC_BYTES, the step of its rdb-save-incremental-fsync.
inline constexpr uint64_t kSnapshotIncrementalFsyncBytes = uint64_t{4} << 20;

// How a snapshot is written.
struct SnapshotOptions {
  // Keys whose expiry is <= now_ms (absolute Unix ms) are not written, as
  // Redis does not save expired keys; kKeepExpiredKeys writes every key.
  //
  // CAUTION for the replication driver: a key skipped here is gone on a node
  // restored from the file, while on the other replicas it stays until the
  // leader's expiry record deletes it. A log record applied after the
  // snapshot index whose deterministic time is < the key's expiry (a write
  // proposed before the key expired but applied after the snapshot was cut)
  // would then see the key on the other replicas and not on the restored
  // one. Pass a time that no later record can precede (for instance the
  // deterministic time of the applied record, if record times are monotonic
  // across leaders) or kKeepExpiredKeys.
  int64_t now_ms = kKeepExpiredKeys;
  // Long strings are LZF-compressed unless false (Redis's rdbcompression).
  bool compression = true;
  // fdatasync the file each time this many more bytes were written (0:
  // only the final fsync), as Redis's rdb-save-incremental-fsync does, so
  // the final fsync never has to push the whole file to the device at once
  // while the Raft log's fdatasyncs queue behind it (RdbWriter::
  // set_incremental_sync says more).
  uint64_t incremental_fsync_bytes = kSnapshotIncrementalFsyncBytes;

  // Test hooks (never set in production). In the writer, after this many
  // keys have been written:
  //   fail_after_keys: the write fails with an "injected failure" error, as
  //     a full disk would (the writer removes its temp file and reports);
  //   crash_after_keys: the writing process _exit()s at once, leaving its
  //     temp file behind, as a crash would (background snapshots only: the
  //     parent must clean up). 0 means never.
  uint64_t fail_after_keys = 0;
  uint64_t crash_after_keys = 0;
  // The writer sleeps this long after creating its temp file, so tests can
  // observe a snapshot in progress (abort, a second start, the loop running).
  uint32_t delay_ms = 0;
};

// The outcome of one snapshot (background or synchronous).
struct SnapshotResult {
  bool ok = false;
  // One line saying what failed (empty when ok), e.g.
  // "/data/snapshot-1-1.rdb.tmp.4242: offset 65536: write failed: No space left on device".
  std::string error;
  std::string path;  // the final path asked for
  // Background only: the child's exit code (0 on success), or -1 if it was
  // killed by a signal (then term_signal says which).
  int exit_status = 0;
  int term_signal = 0;
  pid_t child_pid = 0;           // background only
  uint64_t bytes = 0;            // size of the file written
  uint64_t keys = 0;             // keys written (on failure: before it failed)
  uint64_t expired_skipped = 0;  // keys not written because expired at now_ms
  int64_t fork_us = 0;           // time fork() took in the parent (background only)
  int64_t write_us = 0;          // time spent writing, fsyncing and renaming the file
  int64_t duration_us = 0;       // start() (or the call) until the result was known
  // fdatasyncs done for SnapshotOptions::incremental_fsync_bytes while the
  // keys were written (the writer's last flush may add one, not counted).
  uint64_t incremental_fsyncs = 0;
};

// Writes `keyspace` as an RDB file at `final_path`, in this process: temp
// file "<final_path>.tmp.<pid>" in the same directory, fsync, rename over
// final_path, fsync of the directory. Never throws for I/O errors: they are
// returned in the result (ok=false), and then final_path is untouched and the
// temp file removed. Blocks the calling thread for the whole write (SAVE).
SnapshotResult write_snapshot_sync(const storage::Keyspace& keyspace,
                                   const storage::RdbSnapshotInfo& info,
                                   const std::string& final_path,
                                   const SnapshotOptions& options = {});

// At most one child writing a snapshot, owned by the loop thread.
//
// The parent learns the child's result without blocking: a pipe carries the
// child's report (sizes, time, error line), a uv_poll_t watches it, and at EOF
// the child is reaped with waitpid(WNOHANG) (retried on a 1 ms timer in the
// short window between the child closing its end and becoming a zombie).
//
// Loop thread only. Handles are allocated per snapshot and freed by their
// close callbacks, so after abort() or destruction the loop must run once
// more (as it does when the server closes all handles at shutdown).
//
// The child runs in a copy of the process holding only the forking thread.
// glibc's fork() resets malloc's locks, so the child may allocate even if a
// disk thread was inside malloc at fork time. ASan builds lack that
// guarantee (GCC 12's libasan predates the sanitizers' fork handlers): a
// child forked while another thread holds ASan's allocator lock could hang,
// and only abort() ends it.
class BackgroundSnapshot {
 public:
  using Callback = std::function<void(const SnapshotResult&)>;

  explicit BackgroundSnapshot(uv_loop_t* loop);
  // Aborts a running child (see abort()).
  ~BackgroundSnapshot();
  BackgroundSnapshot(const BackgroundSnapshot&) = delete;
  BackgroundSnapshot& operator=(const BackgroundSnapshot&) = delete;

  // Forks a child that writes `keyspace` (its copy-on-write image as of this
  // call) to final_path as write_snapshot_sync does, then _exit()s. Returns
  // true once the child runs; `done` is called later, on the loop thread,
  // exactly once, with the result (after the child is reaped and, if it
  // failed, its temp file removed). The snapshot no longer counts as running
  // when `done` is called, so `done` may start the next one.
  //
  // Returns false with *error set, and `done` never called, if a snapshot is
  // already running or pipe()/fork() fail.
  bool start(const storage::Keyspace& keyspace, const storage::RdbSnapshotInfo& info,
             std::string final_path, Callback done, std::string* error,
             const SnapshotOptions& options = {});

  bool running() const { return job_ != nullptr; }
  // The running child's pid, 0 if none.
  pid_t child_pid() const;

  // Kills the running child (SIGKILL), reaps it (blocking: a killed process
  // exits as soon as the system call it is in returns, e.g. an fsync in
  // progress), removes its temp file and drops the callback without calling
  // it. Returns false if nothing was running. For shutdown and for giving up
  // on a snapshot that a newer one replaces.
  bool abort();

 private:
  struct Job;
  static void on_readable(uv_poll_t* handle, int status, int events);
  static void on_reap_timer(uv_timer_t* timer);
  void finish_read(Job* job);
  void try_reap(Job* job);
  void complete(Job* job, int wait_status);
  static void release(Job* job);

  uv_loop_t* loop_;
  // The running snapshot, or null. Invariant: job_ != null iff a child has
  // been forked and not yet reaped.
  Job* job_ = nullptr;
};

// How a snapshot file is loaded.
struct LoadOptions {
  // Keys whose expiry is <= now_ms are not loaded (what a Redis master does
  // when loading); kKeepExpiredKeys loads every key.
  //
  // In kvraft every replica must end up identical after loading the same
  // file, so the driver must not pass its own wall clock: pass
  // kKeepExpiredKeys (expired keys are then deleted by the leader's expiry
  // records like any other), or a time derived from the file itself that
  // every replica computes the same way (LoadedSnapshot::ctime_s * 1000,
  // subject to the caution on SnapshotOptions::now_ms).
  int64_t now_ms = kKeepExpiredKeys;
};

// A snapshot file loaded into a fresh keyspace.
struct LoadedSnapshot {
  std::unique_ptr<storage::Keyspace> keyspace;
  // The kvraft aux fields (raft index, term, membership). has_meta is false
  // for a file without them (a stock redis-server dump); meta is then zero.
  raft::SnapshotMeta meta;
  bool has_meta = false;
  int64_t ctime_s = 0;  // the ctime aux field (Unix seconds), 0 if absent
  std::string members;  // the kvraft-members aux field (src/membership.h), "" if absent
  // Other "kvraft-" aux fields (RdbSnapshotInfo::extra_aux), in file order.
  std::vector<std::pair<std::string, std::string>> extra_aux;
  int rdb_version = 0;
  bool checksum_verified = false;
  uint64_t keys = 0;             // keys loaded
  uint64_t expired_skipped = 0;  // keys in the file skipped as expired at now_ms
  int64_t load_us = 0;
};

// Reads the RDB file at `path` (one written here, or a stock redis-server
// dump.rdb) into a new keyspace of `databases` databases. Throws
// storage::RdbError naming the file and the offset of the bad item if the
// file cannot be read, is malformed, truncated or fails its checksum, holds a
// value type not supported yet, a db index >= databases, a key twice in one
// db, or only some of the kvraft aux fields. Nothing is shared with existing
// state: on an exception the partly filled keyspace is destroyed, so the
// caller swaps the result in only on success.
LoadedSnapshot load_snapshot(const std::string& path, int databases,
                             const LoadOptions& options = {});

}  // namespace kvraft
