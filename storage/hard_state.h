// storage/hard_state.h — the node's Raft "persistent state" file: current
// term, voted-for, commit index and the membership (ConfState).
//
// Raft must never forget a vote or go back to an older term after a crash, so
// this file is replaced atomically: the new contents go to `hardstate.tmp`,
// which is fsynced, renamed over `hardstate`, and the directory fsynced. A
// crash leaves the old file or the new one, never a mix. A checksum catches
// a file damaged on disk; it is reported, never loaded.
//
// File format (little-endian fixed-width integers):
//
//    0        8        12       16
//    +--------+--------+--------+-----------------------------------+--------+
//    | magic  | version| body   | body (body-length bytes)          | xxh3   |
//    | 8 B    | u32 =1 | length |                                   | u64    |
//    +--------+--------+--------+-----------------------------------+--------+
//    magic = "KVRFTHS\0"; xxh3 = XXH3-64 of every byte before it.
//
//    body:  u64 term | u64 vote | u64 commit
//         | u32 voter count   n | n x u64 voter id
//         | u32 learner count m | m x u64 learner id
//
// Threading: one HardStateFile is used by one thread at a time (the server's
// disk thread); it has no internal locking.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "raft/types.h"
#include "storage/file_util.h"

namespace kvraft::storage {

// Everything the hard-state file holds.
struct PersistentState {
  raft::HardState hard;
  raft::ConfState conf;

  bool operator==(const PersistentState&) const = default;
};

struct HardStateOptions {
  FsyncMode fsync_mode = FsyncMode::kAlways;
  // Tests only: fails chosen operations (see file_util.h).
  FaultHook fault_hook;
};

// Serialises `state` in the format above.
std::string encode_persistent_state(const PersistentState& state);

// Parses a whole hard-state file image. Throws IoError naming `path` and the
// byte offset of the first inconsistency (bad magic, unknown version, a length
// or count that does not fit, checksum mismatch, trailing bytes).
PersistentState decode_persistent_state(std::string_view bytes, const std::string& path);

// True if going from `prev` to `next` changes what Raft's safety rests on —
// the term, the vote or the membership — so `next` must be saved before the
// node sends any message or reply that depends on it. A change of the commit
// index alone returns false: commit can be relearned from the leader after a
// restart, so the caller may save it lazily (e.g. together with the next
// required save, or on a timer) and spare the two fsyncs save() costs per
// call. Each group-commit batch would otherwise pay for them.
bool hard_state_save_required(const PersistentState& prev, const PersistentState& next);

// The hard-state file of one node directory.
class HardStateFile {
 public:
  static constexpr const char* kFileName = "hardstate";
  // A real file is a few hundred bytes; anything past this is not ours.
  static constexpr size_t kMaxFileSize = 1 << 20;

  // `dir` must exist. Nothing is read or written until load()/save().
  explicit HardStateFile(std::string dir, HardStateOptions options = {});

  // The saved state, or nullopt if none was ever saved (a new node). A stale
  // temp file from a crash mid-save is ignored (the rename never happened).
  // Throws IoError if the file exists but cannot be read or is corrupt.
  std::optional<PersistentState> load() const;

  // Makes `state` durable (see the header comment) before returning. Throws
  // IoError with context on failure; the object is then failed and every
  // later save() throws an IoError that repeats the first cause, because
  // after a failed fsync nobody knows what the disk holds. What was on disk
  // before the failed save stays readable.
  void save(const PersistentState& state);

  bool failed() const { return !failure_.empty(); }
  // The first error's message ("" while healthy).
  const std::string& failure() const { return failure_; }
  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
  HardStateOptions options_;
  std::string failure_;  // non-empty once a save failed; sticky
};

}  // namespace kvraft::storage
