// storage/raft_storage.h — the durable raft::Storage of a server node: the
// Raft log (storage/raft_log.h), the hard-state file (storage/hard_state.h)
// and the RDB snapshot files of one node directory, behind the interface the
// Raft core reads (raft/storage.h), plus the write side the server's
// replication driver calls once per Ready batch.
//
// Why a separate class: the core never writes storage; the driver turns each
// raft::Ready into file operations. Doing those on a disk thread while the
// event loop keeps serving needs a clear line between what the disk thread
// writes and what the core reads. That line is the Batch: prepare() on the
// loop thread, persist() on the disk thread, publish() on the loop thread.
//
// THREADING CONTRACT
//   * Loop thread only: open() (before the disk thread exists), every
//     raft::Storage read method, prepare(), publish(), install_local_snapshot(),
//     and the accessors that say "loop thread". They read and write the
//     in-memory mirror of the log and the published metadata, and nothing
//     else touches those, so they need no lock.
//   * Disk thread only: persist(). It touches only the RaftLog, the
//     HardStateFile, the incoming-snapshot file and snapshot files in the
//     directory, plus its own bookkeeping of what it has written.
//   * A Batch is handed from one thread to the other with a happens-before
//     edge (a queue with a mutex, a uv_async_send). One batch at a time: the
//     next prepare() comes after the previous publish() (the Ready protocol
//     already orders it so: no ready() before advance()).
//     failed()/failure() may be called from either thread.
//   * Between persist(b) and publish(b) the read methods still show the state
//     before b: they only ever reflect durable data, which is exactly what the
//     core requires (raft/node.h: messages that promise durability go out
//     after publish).
//
// FILES in the node directory (besides the log's and the hard state's):
//   snapshot-<20-digit index>-<20-digit term>.rdb
//       a complete snapshot: a Redis RDB file whose aux fields carry the raft
//       index, term and membership (storage/rdb.h). Only ever created by a
//       rename of a complete, fsynced file, so its presence means it is whole.
//   snapshot-local.tmp, snapshot-<...>.rdb.tmp.<pid>
//       a local snapshot being written by the fork()ed child
//       (snapshot_temp_path(), or write_rdb_file_atomically's temp name).
//   snapshot-incoming.tmp
//       an InstallSnapshot transfer being received.
//   Any "snapshot-*" name containing ".tmp" is a leftover of a crash and is
//   deleted by open(). A snapshot renamed aside by repair ends in ".corrupt"
//   and is then ignored.
//
// SNAPSHOTS AND THE NO-GAP RULE. The on-disk log is never shortened before
// the snapshot that covers what is removed is durable:
//   * local: the child fsyncs the file, renames it into place and fsyncs the
//     directory before install_local_snapshot() is called; the log prefix is
//     dropped by a later persist() (Batch::compact_up_to), oldest segment
//     first, so a crash leaves a suffix that the snapshot still reaches.
//   * received: persist() fsyncs the incoming file, checks that it reads back
//     as an RDB file with the announced meta, renames it into place, fsyncs
//     the directory and only then truncates the whole log, newest segment
//     first, so a crash leaves a prefix of the old log (see open() for how
//     such a log is reconciled with the newer snapshot).
//
// RETAINED ENTRIES. install_local_snapshot() keeps up to
// keep_entries_after_snapshot entries at or below the snapshot index in the
// mirror (and on disk), so first_index() may be <= snapshot_meta().index.
// This deliberately widens raft::Storage's "first_index() ==
// snapshot_meta().index + 1": the core decides between AppendEntries and
// InstallSnapshot by first_index(), so a follower a few entries behind the
// newest snapshot still gets entries, not the whole keyspace. The core reads
// those entries through term()/entries() like any other (raft/log.cc does
// not assume the equality at run time). open() and a received snapshot
// always start with first_index() == snapshot_meta().index + 1, because the
// core replays the stored entries' membership changes on top of the
// snapshot's membership when it is constructed, and must not see changes the
// snapshot already contains.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "raft/node.h"
#include "raft/storage.h"
#include "raft/types.h"
#include "storage/file_util.h"
#include "storage/hard_state.h"
#include "storage/raft_log.h"

namespace kvraft::storage {

struct RaftStorageOptions {
  std::string dir;                      // the node's data directory, created (one level) if missing
  uint64_t segment_size = 64ull << 20;  // see RaftLogOptions
  bool preallocate = false;             // see RaftLogOptions (the server sets it)
  FsyncMode fsync_mode = FsyncMode::kAlways;
  // Let open() cut or drop damaged state instead of refusing to start: a
  // corrupt log is truncated at the damage (RaftLogOptions::repair), a
  // corrupt newest snapshot is renamed aside (".corrupt") and the next older
  // one used, a log that does not reach the snapshot is dropped, a stored
  // commit index beyond the log is lowered. Every such step is a warning.
  // Repair can lose acknowledged entries: for an operator who decided to.
  bool repair = false;
  // How many entries at or below a local snapshot's index stay readable (see
  // RETAINED ENTRIES in the file comment). 1000 covers a follower that is a
  // moment behind at tens of thousands of writes per second, and costs at
  // most 1000 entries of memory next to a snapshot threshold that is
  // normally far larger. 0 compacts exactly to the snapshot.
  uint64_t keep_entries_after_snapshot = 1000;
  // ...and at most this many payload bytes of them (large values would
  // otherwise make the retained window expensive).
  uint64_t keep_bytes_after_snapshot = 64ull << 20;
  // Read the whole newest snapshot in open(), so that a damaged file is
  // refused (or, with repair, set aside) before anything else happens. It
  // costs a full read of the file (1.5 s for 1M keys / 20 MB on the test
  // VM) ahead of the caller's own load. false stops after the aux fields:
  // open() is then fast, and damage in the body surfaces as the RdbError of
  // the caller's load of RecoveryInfo::snapshot_path instead. A received
  // snapshot is always read whole before it is installed.
  bool verify_snapshot = true;
  // Files a compaction makes obsolete (log segments a snapshot covers, older
  // snapshot files) are not unlinked inside persist() but queued for
  // remove_obsolete_files(), which the caller runs on another thread. On
  // ext4 unlinking a 64 MB segment takes tens of ms (strace on the test VM:
  // 20-70 ms, plus a directory fsync), and inside persist() that is added
  // to the fdatasync of the batch it rides on, so every write waiting for
  // that batch paid it once per snapshot. Off by default (tests that look at
  // the directory after persist() see the files gone); the server sets it.
  bool defer_file_removal = false;
  // Tests only: fails chosen operations (see file_util.h); passed on to the
  // log and the hard-state file.
  FaultHook fault_hook;
};

// What open() found, for the caller to log and act on.
struct RecoveryInfo {
  // One line each: torn tail cut, temp files removed, log discarded because
  // a newer snapshot supersedes it, repairs.
  std::vector<std::string> warnings;
  // The snapshot to load into the keyspace ("" if none), and its meta.
  std::string snapshot_path;
  raft::SnapshotMeta snapshot_meta;
  uint64_t snapshot_bytes = 0;
  raft::HardState hard_state;
  // The log entries loaded into memory (after the snapshot).
  uint64_t entries = 0;
  uint64_t entry_bytes = 0;  // payload bytes
  raft::Index first_index = 0;
  raft::Index last_index = 0;
  // Log segments wholly below the snapshot that open() did not read (a
  // crash came before the compaction after the snapshot); the first batch
  // (prepare() or prepare_compaction()) deletes them.
  uint64_t segments_skipped = 0;
  // Wall time open() took, in microseconds.
  uint64_t micros = 0;
};

class RaftStorage final : public raft::Storage {
 public:
  // The name of a complete snapshot file (see FILES above).
  static std::string snapshot_file_name(raft::Index index, raft::Term term);
  // Parses a snapshot_file_name(); false for any other name.
  static bool parse_snapshot_file_name(const std::string& name, raft::Index* index,
                                       raft::Term* term);
  static constexpr const char* kLocalTempName = "snapshot-local.tmp";
  static constexpr const char* kIncomingTempName = "snapshot-incoming.tmp";

  // One Ready's worth of work. The loop thread fills the inputs (prepare()
  // plus optional fields), the disk thread runs persist() and fills the
  // outputs, the loop thread publish()es it.
  struct Batch {
    // --- inputs -----------------------------------------------------------
    // Received InstallSnapshot chunks, consecutive (Ready::snapshot_chunks).
    std::vector<raft::SnapshotChunk> snapshot_chunks;
    // A fully received snapshot to install (Ready::snapshot).
    std::optional<raft::SnapshotMeta> snapshot;
    // Entries to append, truncating the stored suffix from front().index
    // (Ready::entries).
    std::vector<raft::Entry> entries;
    // The core's hard state if it changed (Ready::hard_state).
    std::optional<raft::HardState> hard_state;
    // The membership in force, if the driver wants it kept in the hard-state
    // file (e.g. Node::conf_state() after a membership change).
    std::optional<raft::ConfState> conf;
    // Save the hard state even if only the commit index changed (the driver
    // sets this now and then and at shutdown; see hard_state_save_required).
    bool save_commit = false;
    // Set by prepare(): drop log segments wholly at or below this index
    // (after install_local_snapshot), and delete snapshot files older than
    // snapshot_floor.
    raft::Index compact_up_to = 0;
    raft::Index snapshot_floor = 0;

    // --- outputs (persist) --------------------------------------------------
    bool persisted = false;
    // The state written to the hard-state file by this batch, if any.
    std::optional<PersistentState> saved_state;
    // Path of the received snapshot installed by this batch ("" if none):
    // the driver loads it into a fresh keyspace after publish().
    std::string installed_snapshot_path;
    // An open descriptor of that file, handed to the read side by publish().
    std::shared_ptr<Fd> installed_snapshot_fd;
    uint64_t installed_snapshot_size = 0;
    // Where this batch's entries went (set when it appended any), and a
    // read-only descriptor of that segment for publish()'s disk index.
    std::optional<RaftLog::Extent> extent;
    std::shared_ptr<Fd> extent_fd;
    // Figures for INFO.
    uint64_t bytes_written = 0;
    uint64_t syncs = 0;
  };

  // Opens the node directory: takes the log's lock, removes leftover temp
  // files, picks the newest snapshot (see RaftStorageOptions::repair for a
  // corrupt one: without repair a corrupt newest snapshot is an IoError
  // naming the file, never a silent fall back), loads the hard state and the
  // log, and reconciles the log with the snapshot:
  //   * entries at or below the snapshot index are not loaded (they stay in
  //     partly covered segments until a later compaction); segments wholly
  //     below it are not even read (RaftLogOptions::skip_below) and are
  //     deleted by the first batch;
  //   * if the log ends before the snapshot index, holds the snapshot index
  //     with another term, or holds an entry after it with a lower term than
  //     the snapshot's, no stored entry can continue the snapshot
  //     (entries up to its index are committed and in it; ours disagree at
  //     or before it, so by Log Matching none after it was ever committed):
  //     the whole log is truncated on disk, with a warning. This is the state
  //     a crash between installing a received snapshot and dropping the log
  //     leaves.
  //   * if the log starts after snapshot index + 1 (entries are missing), that
  //     is damage: an IoError, or with repair the log is dropped.
  // A stored commit index beyond the resulting last index is an IoError
  // (repair lowers it). Throws IoError with file/offset/index on corruption
  // or I/O failure; `info` may be null.
  static std::unique_ptr<RaftStorage> open(const RaftStorageOptions& options, RecoveryInfo* info);

  ~RaftStorage() override;
  RaftStorage(const RaftStorage&) = delete;
  RaftStorage& operator=(const RaftStorage&) = delete;

  // --- raft::Storage (loop thread; published state only) ----------------
  raft::HardState hard_state() const override { return state_.hard; }
  raft::SnapshotMeta snapshot_meta() const override { return snap_meta_; }
  raft::Index first_index() const override { return offset_; }
  // Heap bytes held by the in-memory mirror of the log (loop thread): the
  // memory maxmemory leaves out, since evicting keys does not give it back.
  uint64_t mirror_bytes() const { return mirror_bytes_; }
  raft::Index last_index() const override { return mem_first_ + mirror_.size() - 1; }
  // Loop thread: lets the mirror forget entries with index <= up_to (capped
  // at last_index()): the caller applied them and needs them no more in
  // memory. They stay readable (term(), entries()) from the segment files
  // until a snapshot compacts them, so the memory the log holds is that of
  // the entries not yet applied plus what the caller keeps for slow peers,
  // whatever the snapshot policy.
  void release_applied(raft::Index up_to);
  // Loop thread: the first entry still held in memory (last_index() + 1 if
  // none); entries below it are read back from disk.
  raft::Index memory_first_index() const { return mem_first_; }
  // Loop thread: size in bytes of the current snapshot file (0 if none).
  uint64_t snapshot_size() const { return snap_size_; }
  // Heap bytes of the log writer's retained encode buffer (any thread).
  uint64_t write_buffer_bytes() const;
  // Microseconds the log has spent in fdatasync (RaftLog::sync_usec; any thread).
  uint64_t log_sync_usec() const;
  // Term of entry i for first_index() - 1 <= i <= last_index(), and the
  // snapshot's own term at its index; nullopt otherwise.
  std::optional<raft::Term> term(raft::Index i) const override;
  // Throws std::out_of_range outside [first_index(), last_index() + 1].
  std::vector<raft::Entry> entries(raft::Index lo, raft::Index hi,
                                   uint64_t max_bytes) const override;
  // Reads through a descriptor held open on the current snapshot file, so
  // the file being replaced or unlinked does not disturb it. False when
  // `meta` is not snapshot_meta() or offset is past the end; an I/O error
  // reading our own file throws IoError.
  bool read_snapshot_chunk(const raft::SnapshotMeta& meta, uint64_t offset, uint64_t max_bytes,
                           std::string* data, uint64_t* total_size) const override;

  // --- write side --------------------------------------------------------
  // Loop thread: a Batch carrying what `rd` asks to persist, plus the
  // compaction and snapshot-file cleanup pending from install_local_snapshot.
  // Checks the entries against the published log (std::invalid_argument on a
  // caller bug: a gap, non-consecutive entries, a truncation at or below the
  // snapshot index).
  Batch prepare(const raft::Ready& rd);
  // The same, but moves rd.entries into the batch instead of copying them
  // (the hot path: the host reads nothing of rd.entries afterwards, and
  // raft::Node::advance does not need them).
  Batch prepare_taking_entries(raft::Ready& rd);

  // Loop thread: true while install_local_snapshot() has left on-disk work
  // (log compaction, removal of older snapshot files) that no batch carried.
  bool compaction_pending() const { return pending_compact_ > 0 || pending_floor_ > 0; }
  // Loop thread: a Batch carrying only that pending work, for a driver that
  // has no Ready to persist (a node idle after a snapshot), so disk space is
  // freed without waiting for the next write. persist() and publish() as
  // for prepare()'s batches, one batch at a time.
  Batch prepare_compaction();

  // Disk thread: does every file operation of `batch`, in this order:
  //   1. snapshot chunks written into the incoming file (not synced: open()
  //      deletes a partial incoming file anyway, since the core does not
  //      resume a transfer across a restart);
  //   2. a received snapshot: the incoming file fsynced, read back as RDB
  //      and its aux meta compared with the announced one, renamed into
  //      place, the directory fsynced, then the whole log truncated;
  //   3. the hard state saved if hard_state_save_required() says so (or
  //      save_commit), its commit index capped at the durable entries that
  //      stay (below the first entry of this batch), so that a crash before
  //      step 4 can neither leave a commit beyond the log (the core refuses
  //      to start from that) nor mark old entries that this batch replaces
  //      as committed; term and vote thus reach the disk before any entry
  //      of that term (a received snapshot's term may still be ahead of the
  //      saved term after a crash between steps 2 and 3, which is harmless:
  //      the core simply starts in an older term);
  //   4. the conflicting suffix truncated, the entries appended, one
  //      fdatasync;
  //   5. compaction (compact_up_to), removal of snapshot files below
  //      snapshot_floor;
  //   6. with save_commit, the hard state again if the cap held it back.
  // Any exception (IoError for I/O; IoError too for a received snapshot
  // that is not valid RDB with the announced meta — the old snapshot and log
  // stay; std::invalid_argument for chunks that do not continue the
  // incoming file or an install of a snapshot not received) marks the
  // storage failed: the batch may be half done, so every later persist()
  // throws at once, and only a reopen (which re-verifies the files) is safe.
  // On success sets batch.persisted and the output fields.
  void persist(Batch& batch);

  // Loop thread: makes a persisted batch visible through the read methods
  // (moving the entries out of `batch`). Requires batch.persisted
  // (std::logic_error otherwise). After a received snapshot the driver loads
  // batch.installed_snapshot_path into a fresh keyspace.
  void publish(Batch& batch);

  // Loop thread: the local snapshot `meta` is complete at
  // snapshot_path(meta) (written, fsynced, renamed, directory fsynced). It
  // becomes snapshot_meta(); mirror entries are dropped up to meta.index
  // except the retained window; the next prepare() carries the on-disk
  // compaction and the removal of older snapshot files. Requires
  // first_index() - 1 <= meta.index <= last_index() and term(meta.index) ==
  // meta.term when meta.index is newer (std::invalid_argument otherwise).
  // Returns false, changing nothing but scheduling the file's removal, if
  // meta.index <= snapshot_meta().index (a received snapshot overtook it).
  // Throws IoError if the file cannot be opened.
  bool install_local_snapshot(const raft::SnapshotMeta& meta);

  // Where a local snapshot's child writes before renaming to
  // snapshot_path(meta). Any thread.
  std::string snapshot_temp_path() const { return dir_ + "/" + kLocalTempName; }
  std::string snapshot_path(const raft::SnapshotMeta& meta) const;
  // Loop thread: the published snapshot's file ("" if none).
  const std::string& current_snapshot_path() const { return snap_path_; }
  // Loop thread: the membership last saved in the hard-state file.
  const raft::ConfState& saved_conf() const { return state_.conf; }
  const std::string& dir() const { return dir_; }

  // Any thread: true while files queued by defer_file_removal wait for
  // remove_obsolete_files().
  bool has_obsolete_files() const;
  // Any thread, concurrently with persist() (a worker that is not the disk
  // thread): unlinks the files queued by defer_file_removal (one already
  // gone is fine), then fsyncs the directory once (FsyncMode::kAlways).
  // Returns the number of files removed. Throws IoError naming the first
  // file that could not be removed; that one is given up (reported once),
  // the ones after it stay queued for the next call. A failure here never
  // fails the storage: a leftover file
  // only costs disk space (open() skips covered segments, and the next
  // compaction drops older snapshot files again).
  size_t remove_obsolete_files();

  // Any thread. Once failed, persist() throws at once.
  bool failed() const;
  std::string failure() const;

 private:
  explicit RaftStorage(const RaftStorageOptions& options);
  const FaultHook* hook() const { return options_.fault_hook ? &options_.fault_hook : nullptr; }
  bool sync_enabled() const { return options_.fsync_mode == FsyncMode::kAlways; }
  void write_chunks(Batch& batch);
  void install_received(Batch& batch);
  void save_state(Batch& batch, const PersistentState& next);
  void remove_snapshots_below(raft::Index floor);
  // Disk thread: adds `paths` to obsolete_files_ (defer_file_removal).
  void queue_obsolete_files(std::vector<std::string> paths);
  // Debug builds: throws std::logic_error with the values if an invariant of
  // the loop-thread state below is broken.
  void check_invariants() const;

  const RaftStorageOptions options_;
  const std::string dir_;

  // ---- loop-thread state (published, durable) ----
  PersistentState state_;
  raft::SnapshotMeta snap_meta_;
  std::string snap_path_;  // "" iff snap_meta_.index == 0
  std::shared_ptr<Fd> snap_fd_;
  uint64_t snap_size_ = 0;
  // The log is [offset_, last_index()]; mirror_[k] is the entry at index
  // mem_first_ + k, entries [offset_, mem_first_) are on disk only (released
  // by release_applied) and read back through spans_. Invariants:
  // offset_ <= mem_first_ <= last_index() + 1; the mirror is consecutive;
  // offset_ <= snap_meta_.index + 1; when offset_ <= snap_meta_.index the
  // log reaches snap_meta_.index and holds it with snap_meta_.term
  // (retained entries); every entry is also in the on-disk log.
  std::deque<raft::Entry> mirror_;
  raft::Index mem_first_ = 1;
  // Where the entries of [offset_, last_index()] lie on disk, oldest first,
  // consecutive (spans_[k+1].first == spans_[k].last + 1), each holding its
  // segment open (a compacted file stays readable until its span goes).
  struct DiskSpan {
    raft::Index first = 0;
    raft::Index last = 0;
    uint64_t start = 0;  // byte offset of record `first` in the segment
    std::shared_ptr<Fd> fd;
    std::string path;
  };
  std::deque<DiskSpan> spans_;
  // A span grows by whole batches up to this many entries, so a read of
  // one old entry parses at most about that many records.
  static constexpr raft::Index kSpanEntries = 1024;
  // (first index, term) of each run of equal terms in [offset_,
  // last_index()], ascending: term() of a released entry.
  std::vector<std::pair<raft::Index, raft::Term>> term_runs_;
  void add_span(const RaftLog::Extent& x, std::shared_ptr<Fd> fd);
  void cut_spans_from(raft::Index f);    // forget spans/runs at >= f
  void drop_spans_below(raft::Index i);  // forget spans/runs wholly below i
  // Entries [lo, hi) from disk, appended to *out within the byte budget;
  // false once the budget stopped the read.
  bool read_released(raft::Index lo, raft::Index hi, uint64_t max_bytes, uint64_t* bytes,
                     std::vector<raft::Entry>* out) const;
  // Invariant: the sum of mirror_entry_bytes() over mirror_.
  uint64_t mirror_bytes_ = 0;
  static uint64_t mirror_entry_bytes(const raft::Entry& e) {
    // The deque slot, the payload's glibc chunk (none for SSO strings) and
    // ~16 bytes for the entry's offset in the RaftLog's segment index (a
    // growing vector of 8-byte offsets, hence the slack).
    return raft::entry_heap_bytes(e) + 16;
  }
  raft::Index offset_ = 1;
  // Term of the entry at offset_ - 1 (the snapshot's term when that is the
  // snapshot index; 0 for index 0).
  raft::Term base_term_ = 0;
  // prepare()'s work once the entries are in the batch.
  Batch prepare_batch(const raft::Ready& rd, std::vector<raft::Entry> entries);
  // Work install_local_snapshot() leaves for the next prepare().
  raft::Index pending_compact_ = 0;
  raft::Index pending_floor_ = 0;

  // ---- disk-thread state ----
  std::unique_ptr<RaftLog> log_;
  HardStateFile hs_file_;
  PersistentState saved_;   // what the hard-state file holds
  PersistentState wanted_;  // the newest state the core asked for
  // The InstallSnapshot transfer being received. Invariant: incoming_fd_
  // is open iff incoming_meta_ is set; incoming_size_ bytes are written.
  std::optional<raft::SnapshotMeta> incoming_meta_;
  Fd incoming_fd_;
  uint64_t incoming_size_ = 0;
  raft::Index disk_snap_index_ = 0;  // newest snapshot file installed on disk
  // A read-only descriptor of the segment last appended to, for Batch::extent_fd.
  std::shared_ptr<Fd> read_fd_;
  std::string read_fd_path_;

  // ---- shared ----
  // Paths persist() queued for remove_obsolete_files() (defer_file_removal).
  mutable std::mutex obsolete_mu_;
  std::vector<std::string> obsolete_files_;  // guarded by obsolete_mu_
  mutable std::mutex failure_mu_;
  std::string failure_;  // guarded by failure_mu_; non-empty once failed
};

}  // namespace kvraft::storage
