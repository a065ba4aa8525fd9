// storage/raft_log.h — the Raft log on disk: segmented, append-only files of
// checksummed records, written in group-commit batches from the server's disk
// thread and read back whole when the node starts.
//
// The Raft core keeps its log in memory and only tells the server what to
// persist: "append these entries (after truncating from index i)" and "drop
// everything a snapshot covers". This class turns that into files so that a
// crash at any instant leaves a log that either loads exactly, or loads with
// a torn final record cut off (reported), and so that damage anywhere else is
// a loud error naming the file, byte offset and index — never a silent load.
//
// Files. The log lives in `dir` as segment files named
// `log-<first index, 20 decimal digits>.seg`; they hold consecutive indices,
// and the name order is the log order. `raftlog.lock` is held with flock()
// while a RaftLog is open, so a second opener (say, a server started twice
// on one directory) is refused. Other files in `dir` are ignored.
// Every segment on disk holds at least one record (empty ones are removed).
//
// Segment header (32 bytes), then records back to back:
//
//    0          8          12         16                   24                 32
//    +----------+----------+----------+--------------------+------------------+
//    | magic    | version  | flags    | first index        | header checksum  |
//    | "KVRFTLOG"| u32 = 1 | u32      | u64                | u64 XXH3-64 of   |
//    |          |          |          |                    | bytes [0, 24)    |
//    +----------+----------+----------+--------------------+------------------+
//    flags: 0, or kPreallocated (1): the file was zero-filled to its full
//    size before any record was written (see Preallocation below). Any other
//    bit is an unsupported format.
//
// Record (36 + n bytes for an n-byte payload):
//
//    0        4          12         20     21         24          28
//    +--------+----------+----------+------+----------+-----------+---------+----------+
//    | length | index    | term     | type | reserved | head check| payload | checksum |
//    | u32 n  | u64      | u64      | u8   | 3 x 0    | u32       | n bytes | u64      |
//    +--------+----------+----------+------+----------+-----------+---------+----------+
//    head check = low 32 bits of XXH3-64 of bytes [0, 24) of the record
//    checksum   = XXH3-64 of bytes [0, 28 + n) of the record
//
// All integers are little-endian and fixed width. The head check is what lets
// recovery trust a record's length before reading that far: without it a bit
// flip in the length of a record in the middle of the last segment would look
// exactly like a torn tail and silently swallow every record after it.
//
// Recovery rules (open()):
//  * The final segment may end in a torn write — a crash while a batch was
//    being written. A failure at offset X of the last segment (fewer bytes
//    than a record header, a bad head check, a record that runs past the end
//    of the file, a checksum mismatch) is a torn tail if no valid record
//    starts anywhere after X; it is cut off (ftruncate to X, or the file is
//    removed if nothing valid is left in it) and reported in
//    LogRecovery::torn_tail for the caller to log.
//  * Anything else — the same damage with a valid record after it, damage
//    in an earlier segment, a valid record with the wrong index or a term
//    lower than its predecessor's, a length above the configured maximum, a
//    bad segment header — makes open() throw IoError naming the file, byte
//    offset and expected index, unless RaftLogOptions::repair is set. Repair
//    truncates the log at that point (later segments are deleted) and
//    reports what it dropped in LogRecovery::repaired.
//  * The rule errs towards refusing: if a crash lets the kernel write back a
//    later page of an unsynced batch but not an earlier one, the valid
//    records after the hole make it look like damage in the middle, and
//    open() refuses rather than guess (repair then drops that batch, which
//    was never reported durable).
//
// Writes. append() encodes a whole batch and hands it to the kernel in one
// pwrite; sync() then does one fdatasync for the batch (and an fsync of the
// directory only if a segment was created since the last sync). A segment
// rolls when a batch starts while it is at or above segment_size bytes, so a
// batch never spans two files and a segment may exceed the limit by one
// batch. truncate_suffix() and drop_prefix() are rare (conflicts, snapshots)
// and make their own changes durable before returning, so that deleted or
// cut-off entries cannot come back after a crash next to newer ones.
//
// Preallocation (RaftLogOptions::preallocate, FsyncMode::kAlways only). A
// segment file that grows with every batch makes every fdatasync also commit
// the new file size (a journal commit on ext4), which costs about as much as
// the data write (on the 2-core test VM, 4 KB batches: fdatasync p50 0.29 ms
// on a growing file, 0.16 ms inside a zero-filled one). So, like etcd's and LogCabin's WALs, the
// next segment is prepared ahead of need: the disk thread zero-fills a spare file
// (`log-spare.tmp`, never read as a segment) a step after each sync, paced
// at twice the bytes appended so it is complete long before the active
// segment fills, and fsyncs it once, size and blocks included. A roll (at
// segment_size, or as soon as a spare is ready while the active segment is
// one that grows: a new log's first, or one cut by a truncation) then
// renames the spare to the new segment's name and overwrites its beginning;
// later batches overwrite zeros inside the file's size, so their fdatasync
// writes data only. Such a segment carries the kPreallocated header flag,
// and recovery reads it as records followed by a zero tail: the valid
// records end where the bytes up to the end of the file are all zero, which
// is a clean end, not a torn write. Everything else is unchanged — a record
// that fails to parse before that point is a torn tail only if no valid
// record follows it (the zero tail holds none), and damage with a valid
// record after it is still an error. A segment without the flag must end
// exactly at its last record, as before. truncate_suffix() and a torn-tail
// cut still ftruncate (atomic, unlike zeroing), giving up the rest of that
// segment's preallocation. A failure to prepare the spare costs only the
// optimisation: the spare is dropped, preallocation stops for this RaftLog,
// and preallocation_error() says why. A stale spare found by open() (a crash
// while filling) is deleted.
//
// Failure. Any write, sync, truncate or unlink error puts the log in a failed
// state: the error is thrown as IoError (with file and offset), a partially
// written batch is cut back to the last good record boundary first, and every
// later mutating call throws an IoError repeating the original cause. After a
// failed fsync the kernel may have dropped dirty pages, so only reopening
// (which re-reads and re-verifies the files) is a safe way back.
//
// Threading: a RaftLog is not thread-safe and needs no locking; the server
// calls it from its one disk thread only (or hands it between threads with a
// happens-before edge).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "raft/types.h"
#include "storage/file_util.h"

namespace kvraft::storage {

struct RaftLogOptions {
  std::string dir;  // created (one level) if missing
  // A segment rolls when a batch starts and the current one is this big.
  uint64_t segment_size = 64ull << 20;
  FsyncMode fsync_mode = FsyncMode::kAlways;
  // Largest payload append() accepts; on open, a record claiming more is
  // corrupt. Must be below 4 GiB (the length field is 32 bits).
  uint32_t max_entry_size = 1u << 30;
  // Truncate the log at the first corruption instead of refusing to open.
  // Loses the entries from there on; for an operator who has decided to.
  bool repair = false;
  // Segments whose every index is below this one (the next segment starts
  // at or below it) are not read: open() checks only their header and keeps
  // them as unread segments until drop_prefix() deletes them. RaftStorage
  // passes its snapshot index, so a restart that comes before the log was
  // compacted (a crash right after a snapshot) does not read, checksum and
  // copy a log the snapshot already covers. 0 reads every segment. Ignored
  // with repair (an unreadable snapshot may need the older entries).
  raft::Index skip_below = 0;
  // Zero-fill the next segment ahead of need so that fdatasync after a batch
  // does not also commit a file size change (see Preallocation above).
  // Ignored in FsyncMode::kNever. Off by default: tests that count syncs or
  // file sizes see the plain layout; the server turns it on.
  bool preallocate = false;
  // Tests only: fails chosen operations (see file_util.h).
  FaultHook fault_hook;
};

// A place where recovery cut the log, for the caller to log.
struct LogCut {
  std::string path;              // the segment where the cut happened
  uint64_t offset = 0;           // byte offset of the cut in that file
  raft::Index index = 0;         // index the record at `offset` should have had
  std::string reason;            // e.g. "checksum mismatch"
  uint64_t records_dropped = 0;  // records recognised in the dropped bytes
  uint64_t bytes_dropped = 0;    // bytes removed, later segments included
  uint64_t files_removed = 0;    // segment files deleted

  // One line: what was cut where, and how much.
  std::string describe() const;
};

// Everything open() read back.
struct LogRecovery {
  std::vector<raft::Entry> entries;  // in index order, consecutive
  raft::Index first_index = 0;       // 0 if the log is empty
  raft::Index last_index = 0;        // 0 if the log is empty
  std::optional<LogCut> torn_tail;   // a torn final write that was cut off
  std::optional<LogCut> repaired;    // corruption truncated (repair only)
  // Segments left unread (RaftLogOptions::skip_below); `entries` then starts
  // after them, at entries.front().index > first_index.
  uint64_t skipped_segments = 0;
  std::vector<std::string> warnings;  // one line each, for the log
};

class RaftLog {
 public:
  // Size of the segment header and of a record without its payload.
  static constexpr uint64_t kSegmentHeaderSize = 32;
  static constexpr uint64_t kRecordOverhead = 36;
  // Segment header flag: the file was zero-filled before records went in.
  static constexpr uint32_t kPreallocated = 1;
  // Name of the spare segment being zero-filled in `dir` (Preallocation).
  static constexpr const char* kSpareFileName = "log-spare.tmp";

  // Opens (creating if needed) the log in options.dir, verifies every
  // segment and fills `*recovery` (which must not be null) with the entries.
  // Throws IoError on corruption (see the header comment) or I/O failure.
  static std::unique_ptr<RaftLog> open(RaftLogOptions options, LogRecovery* recovery);

  ~RaftLog();
  RaftLog(const RaftLog&) = delete;
  RaftLog& operator=(const RaftLog&) = delete;

  // Appends a batch with one write. Requires: entries consecutive, the first
  // one at last_index() + 1 (any index >= 1 if the log is empty), terms not
  // below last_term() and non-decreasing, payloads <= max_entry_size —
  // violations are caller bugs and throw std::invalid_argument without
  // touching the disk. Not durable until sync(). Throws IoError on I/O error
  // (failed state).
  void append(const std::vector<raft::Entry>& entries);
  // Heap bytes of the encode buffer append() keeps between batches (up to
  // kMaxRetainedBuffer): the AOF-buffer-like memory maxmemory leaves out.
  // Any thread may read it while another appends.
  uint64_t buffer_bytes() const { return buffer_bytes_.load(std::memory_order_relaxed); }
  // Microseconds spent so far in sync()'s fdatasync and directory fsync (not
  // in preparing the spare): with the count of syncs, the fsync latency the
  // writes see. Any thread may read it.
  uint64_t sync_usec() const { return sync_usec_.load(std::memory_order_relaxed); }

  // Makes every append so far durable: one fdatasync, plus a directory fsync
  // if a segment was created since the last sync. A no-op in FsyncMode::kNever.
  // Throws IoError (failed state). With preallocation, then takes one step
  // of zero-filling the spare segment (which never fails the log).
  void sync();

  // Bytes of the spare segment zero-filled so far, and whether it is
  // complete and durable (the next roll will use it). For tests.
  uint64_t spare_filled() const { return spare_filled_; }
  bool spare_ready() const { return spare_ready_; }
  // Why preallocation stopped for this RaftLog ("" while it works or is off).
  const std::string& preallocation_error() const { return preallocation_error_; }

  // Removes every entry with index >= from_index (from_index >= 1): segments
  // that start at or after it are deleted, the one containing it is cut at
  // that record's boundary (std::logic_error if that one is unread: see
  // RaftLogOptions::skip_below). Durable on return (FsyncMode::kAlways). A
  // from_index past the end is a no-op. Throws IoError (failed state).
  void truncate_suffix(raft::Index from_index);

  // Deletes the segments whose every entry is <= up_to_index (a snapshot
  // covers them); entries in a partly covered segment stay, so first_index()
  // may remain <= up_to_index. Dropping everything leaves an empty log that
  // accepts any next index. Durable on return (FsyncMode::kAlways). Returns
  // the number of segments deleted. Throws IoError (failed state).
  //
  // With `unlink_later`, the segments leave the log the same way but their
  // files are not deleted here: their paths are appended to *unlink_later
  // for the caller to unlink on another thread, so that deleting a 64 MB
  // file (tens of ms on ext4, freeing extents and discarding them) does not
  // delay the next append's fdatasync. Until then a crash leaves them on
  // disk, which is safe: they hold only entries a durable snapshot covers,
  // and open() skips such segments (RaftLogOptions::skip_below) for the
  // next compaction to drop. Their names never come back (a new segment is
  // named after an index above up_to_index).
  size_t drop_prefix(raft::Index up_to_index, std::vector<std::string>* unlink_later = nullptr);

  // Reads entries [lo, hi] back from disk (re-verifying checksums), e.g. for a
  // core that keeps only a window in memory. Requires first_index() <= lo <=
  // hi <= last_index() and no unread segment in the range (std::logic_error).
  // Throws IoError on a read error or damage.
  std::vector<raft::Entry> read(raft::Index lo, raft::Index hi) const;

  // Where a run of consecutive records lies, for a reader that keeps only
  // some entries in memory and reads the others back through its own
  // descriptor (RaftStorage). The records of indices first..last start at
  // byte `start` of the segment file `path`; `new_segment` says the file was
  // created for them (its name may have been used by a deleted segment).
  struct Extent {
    raft::Index first = 0;
    raft::Index last = 0;
    std::string path;
    uint64_t start = 0;
    bool new_segment = false;
  };
  // The records of the last append() (one extent: a batch never spans two
  // segments). Requires a successful append() since the last truncation.
  Extent last_append_extent() const;
  // Extents covering every record from index `from` to last_index() (none
  // if from > last_index()), at most `max_entries` records each. Requires no
  // unread segment at or after `from` (std::logic_error).
  std::vector<Extent> extents_from(raft::Index from, size_t max_entries) const;
  // Reads records first, first+1, ... from `fd` (the segment file `path`),
  // the record `first` starting at byte `start`, verifying each checksum,
  // and hands those with index >= lo to `take` until it returns false or
  // index `hi` was handed over. Any thread (only pread on `fd`). Throws
  // IoError on a read error, a short file or damage.
  static void read_extent(int fd, const std::string& path, uint64_t start, raft::Index first,
                          raft::Index lo, raft::Index hi, uint32_t max_entry_size,
                          const std::function<bool(raft::Entry&&)>& take);

  bool empty() const { return segments_.empty(); }
  raft::Index first_index() const { return empty() ? 0 : segments_.front().first_index; }
  raft::Index last_index() const { return last_index_; }
  raft::Term last_term() const { return last_term_; }
  size_t segment_count() const { return segments_.size(); }
  // Paths of the segment files, oldest first.
  std::vector<std::string> segment_paths() const;

  bool failed() const { return !failure_.empty(); }
  // The first error's message ("" while healthy).
  const std::string& failure() const { return failure_; }

 private:
  struct Segment {
    raft::Index first_index = 0;
    std::string path;
    // ends[i] is the byte offset just past the record of index first_index+i.
    // Invariant: non-empty, strictly increasing, ends[0] > kSegmentHeaderSize,
    // and ends.back() is the file's size (nothing after it on disk), or for a
    // preallocated segment only zeros follow it — except for an unread
    // segment, whose ends is empty.
    std::vector<uint64_t> ends;
    // Non-zero for a segment open() did not read (skip_below): its last
    // index, known from the next segment's first. Invariant: never the last
    // segment (so never the one appended to); only drop_prefix() and whole-
    // segment truncate_suffix() touch it.
    raft::Index unread_last = 0;
    // Only zeros follow ends.back() up to the file's end (a kPreallocated
    // segment not cut since): appends there do not change the file's size.
    bool preallocated = false;

    raft::Index last_index() const {
      return unread_last != 0 ? unread_last : first_index + ends.size() - 1;
    }
    uint64_t size() const { return ends.back(); }
  };

  explicit RaftLog(RaftLogOptions options);
  void recover(LogRecovery* recovery);
  const FaultHook* hook() const { return options_.fault_hook ? &options_.fault_hook : nullptr; }
  std::string segment_path(raft::Index first_index) const;
  void check_healthy() const;
  [[noreturn]] void fail(const IoError& e);
  void open_active();
  // Reads an unread segment after all (it became the last one): fills its
  // ends, appends its entries to *entries, returns its last term. Damage
  // anywhere in it throws IoError.
  raft::Term read_unread_segment(Segment& seg, std::vector<raft::Entry>* entries);
  void reload_last_term();
  std::string spare_path() const;
  // One step of zero-filling the spare segment, sized to stay ahead of
  // `appended` bytes just written; fsyncs it once complete. On error drops
  // the spare and stops preallocating (never throws).
  void fill_spare(uint64_t appended);

  RaftLogOptions options_;
  // Invariant: consecutive — segments_[k+1].first_index ==
  // segments_[k].last_index() + 1.
  std::vector<Segment> segments_;
  // Open for writing on segments_.back(); invalid iff segments_ is empty.
  Fd lock_;  // holds an exclusive fcntl record lock on `dir`/raftlog.lock while open
  // (device, inode) of the lock file while this object holds it; {0,0} when not.
  std::pair<uint64_t, uint64_t> lock_id_{0, 0};
  void release_lock_id();
  // Empties encode_buf_ with room for `need` bytes, keeping buffer_bytes_'s
  // invariant while it reallocates.
  void reserve_encode_buffer(size_t need);
  static std::set<std::pair<uint64_t, uint64_t>>& locked_logs();
  static std::mutex& locked_logs_mutex();
  Fd active_;
  raft::Index last_index_ = 0;  // == segments_.back().last_index(), 0 if empty
  raft::Term last_term_ = 0;    // term of last_index_, 0 if empty
  bool unsynced_ = false;       // active_ has writes not yet fdatasync'd
  bool dir_unsynced_ = false;   // a segment was created since the last sync
  // Records of the last append() at the end of segments_.back(); 0 after a
  // truncation (see last_append_extent).
  size_t last_batch_records_ = 0;
  std::string encode_buf_;  // reused by append() to avoid reallocating
  // raft::string_heap_bytes(encode_buf_) as of the end of the last append().
  // Invariant: at every moment at least the heap encode_buf_ holds
  // (reserve_encode_buffer), since another thread reads it.
  std::atomic<uint64_t> buffer_bytes_{0};
  std::atomic<uint64_t> sync_usec_{0};  // see sync_usec()
  std::string failure_;                 // non-empty once failed; sticky
  // The spare segment (Preallocation). Invariant: spare_filled_ <=
  // options_.segment_size; spare_ready_ implies spare_ is open, filled to
  // segment_size and fsynced; spare_flushed_ <= spare_filled_ is how much
  // was handed to writeback early (so the final fsync has little to wait for).
  Fd spare_;
  uint64_t spare_filled_ = 0;
  uint64_t spare_flushed_ = 0;
  bool spare_ready_ = false;
  uint64_t appended_since_sync_ = 0;  // bytes append() wrote since the last sync()
  std::string preallocation_error_;   // sticky; preallocation is off once set
};

}  // namespace kvraft::storage
