// raft/storage.h — what the Raft core reads of the durable state, and an
// in-memory implementation of it.
//
// The core never writes storage itself: it hands the host a Ready batch (see
// raft/node.h) saying what to persist, and reads back only what the host has
// made durable through this interface. That split is what lets the same core
// run over the on-disk log of storage/ in the server and over MemoryStorage
// in the simulator, where a "crash" simply rebuilds the Node from the
// MemoryStorage and so loses everything the host had not persisted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "raft/types.h"

namespace kvraft::raft {

// Durable Raft state as the core sees it. Every method reflects only what is
// durable (fsynced), never data still in flight.
//
// Invariant (the "no gap" rule): the stored entries, if any, are exactly the
// indices snapshot_meta().index + 1 .. last_index(), consecutive. A snapshot
// that is installed replaces the log prefix it covers; entries after it are
// kept only if they continue it.
class Storage {
 public:
  virtual ~Storage() = default;

  // The persisted hard state (zero value on a fresh node).
  virtual HardState hard_state() const = 0;
  // The newest durable snapshot's metadata; index 0 means none.
  virtual SnapshotMeta snapshot_meta() const = 0;
  // Index of the first stored entry: snapshot_meta().index + 1.
  virtual Index first_index() const = 0;
  // Index of the last stored entry, or snapshot_meta().index if none.
  virtual Index last_index() const = 0;
  // Term of entry `i` for snapshot_meta().index <= i <= last_index()
  // (the snapshot's own term at its index); nullopt outside that range.
  virtual std::optional<Term> term(Index i) const = 0;
  // Entries [lo, hi) with first_index() <= lo <= hi <= last_index() + 1.
  // Returns at least one entry when lo < hi, then stops before the total
  // data size would exceed max_bytes.
  virtual std::vector<Entry> entries(Index lo, Index hi, uint64_t max_bytes) const = 0;
  // Reads up to max_bytes of the snapshot described by `meta` from byte
  // `offset` into *data and its total size into *total_size. Returns false
  // if that snapshot is no longer the stored one (a newer one replaced it),
  // so the caller starts over with snapshot_meta(). Lets the server stream
  // from a file instead of loading it into memory.
  virtual bool read_snapshot_chunk(const SnapshotMeta& meta, uint64_t offset, uint64_t max_bytes,
                                   std::string* data, uint64_t* total_size) const = 0;
};

// Storage kept in memory, written by the host as it processes Ready batches.
// Used by the simulator and the unit tests; also a reference for what an
// on-disk implementation must do.
class MemoryStorage final : public Storage {
 public:
  HardState hard_state() const override { return hard_state_; }
  SnapshotMeta snapshot_meta() const override { return snapshot_meta_; }
  Index first_index() const override { return snapshot_meta_.index + 1; }
  Index last_index() const override { return snapshot_meta_.index + entries_.size(); }
  std::optional<Term> term(Index i) const override;
  std::vector<Entry> entries(Index lo, Index hi, uint64_t max_bytes) const override;
  bool read_snapshot_chunk(const SnapshotMeta& meta, uint64_t offset, uint64_t max_bytes,
                           std::string* data, uint64_t* total_size) const override;

  void set_hard_state(const HardState& hs) { hard_state_ = hs; }

  // Appends `ents` (consecutive), first dropping every stored entry at or
  // after ents.front().index. Requires first_index() <= ents.front().index
  // <= last_index() + 1.
  void append(const std::vector<Entry>& ents);

  // Writes one received InstallSnapshot chunk into the incoming snapshot
  // buffer. A chunk at offset 0 starts a new buffer; a chunk of another
  // snapshot or at a wrong offset is a bug of the caller (the core only
  // passes chunks that continue the buffer) and is reported by exception.
  void write_snapshot_chunk(const SnapshotMeta& meta, uint64_t offset, const std::string& data);

  // Installs the fully received incoming snapshot `meta` as the stored one:
  // drops the whole log (the core only installs a snapshot whose last entry
  // it does not hold) and makes `meta` the base. Throws if the incoming
  // buffer is not `meta`.
  void install_received_snapshot(const SnapshotMeta& meta);

  // Installs a snapshot made locally by the state machine at meta.index
  // (which must be within [snapshot_meta().index, last_index()] and hold
  // term meta.term): keeps the entries after it, drops those up to it.
  void create_snapshot(const SnapshotMeta& meta, std::string data);

  // The stored snapshot's bytes (opaque to the core).
  const std::string& snapshot_data() const { return snapshot_data_; }
  // The incoming (partially received) snapshot, for inspection.
  const SnapshotMeta& incoming_meta() const { return incoming_meta_; }
  uint64_t incoming_size() const { return incoming_data_.size(); }
  const std::string& incoming_data() const { return incoming_data_; }

 private:
  HardState hard_state_;
  SnapshotMeta snapshot_meta_;
  std::string snapshot_data_;
  // entries_[k] has index snapshot_meta_.index + 1 + k.
  std::vector<Entry> entries_;
  SnapshotMeta incoming_meta_;
  std::string incoming_data_;
};

}  // namespace kvraft::raft
