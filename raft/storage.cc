// raft/storage.cc — MemoryStorage.
#include "raft/storage.h"

#include <stdexcept>
#include <string>

namespace kvraft::raft {

std::optional<Term> MemoryStorage::term(Index i) const {
  if (i == snapshot_meta_.index) return snapshot_meta_.term;
  if (i < snapshot_meta_.index || i > last_index()) return std::nullopt;
  return entries_[i - snapshot_meta_.index - 1].term;
}

std::vector<Entry> MemoryStorage::entries(Index lo, Index hi, uint64_t max_bytes) const {
  if (lo < first_index() || hi > last_index() + 1 || lo > hi) {
    throw std::out_of_range("MemoryStorage::entries [" + std::to_string(lo) + "," +
                            std::to_string(hi) + ") outside [" + std::to_string(first_index()) +
                            "," + std::to_string(last_index() + 1) + ")");
  }
  std::vector<Entry> out;
  uint64_t bytes = 0;
  for (Index i = lo; i < hi; ++i) {
    const Entry& e = entries_[i - snapshot_meta_.index - 1];
    bytes += e.data.size() + 24;
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

bool MemoryStorage::read_snapshot_chunk(const SnapshotMeta& meta, uint64_t offset,
                                        uint64_t max_bytes, std::string* data,
                                        uint64_t* total_size) const {
  if (!(meta == snapshot_meta_) || offset > snapshot_data_.size()) return false;
  *data = snapshot_data_.substr(offset, max_bytes);
  *total_size = snapshot_data_.size();
  return true;
}

void MemoryStorage::append(const std::vector<Entry>& ents) {
  if (ents.empty()) return;
  Index first = ents.front().index;
  if (first < first_index() || first > last_index() + 1) {
    throw std::out_of_range("MemoryStorage::append at " + std::to_string(first) + " outside [" +
                            std::to_string(first_index()) + "," + std::to_string(last_index() + 1) +
                            "]");
  }
  entries_.resize(first - first_index());
  for (const Entry& e : ents) {
    if (e.index != snapshot_meta_.index + entries_.size() + 1) {
      throw std::invalid_argument("MemoryStorage::append: entries not consecutive at " +
                                  std::to_string(e.index));
    }
    entries_.push_back(e);
  }
}

void MemoryStorage::write_snapshot_chunk(const SnapshotMeta& meta, uint64_t offset,
                                         const std::string& data) {
  if (offset == 0) {
    incoming_meta_ = meta;
    incoming_data_.clear();
  }
  if (!(incoming_meta_ == meta) || offset != incoming_data_.size()) {
    throw std::invalid_argument("MemoryStorage::write_snapshot_chunk: chunk of snapshot " +
                                std::to_string(meta.index) + " at offset " +
                                std::to_string(offset) + " does not continue buffer of " +
                                std::to_string(incoming_meta_.index) + " with " +
                                std::to_string(incoming_data_.size()) + " bytes");
  }
  incoming_data_ += data;
}

void MemoryStorage::install_received_snapshot(const SnapshotMeta& meta) {
  if (!(incoming_meta_ == meta)) {
    throw std::invalid_argument("MemoryStorage::install_received_snapshot: snapshot " +
                                std::to_string(meta.index) + " was not received (incoming is " +
                                std::to_string(incoming_meta_.index) + ")");
  }
  snapshot_meta_ = meta;
  snapshot_data_ = std::move(incoming_data_);
  incoming_data_.clear();
  incoming_meta_ = SnapshotMeta{};
  entries_.clear();
}

void MemoryStorage::create_snapshot(const SnapshotMeta& meta, std::string data) {
  if (meta.index < snapshot_meta_.index || meta.index > last_index() ||
      term(meta.index) != meta.term) {
    throw std::invalid_argument("MemoryStorage::create_snapshot at " + std::to_string(meta.index) +
                                "/t" + std::to_string(meta.term) + " outside stored log [" +
                                std::to_string(snapshot_meta_.index) + "," +
                                std::to_string(last_index()) + "]");
  }
  entries_.erase(entries_.begin(), entries_.begin() + (meta.index - snapshot_meta_.index));
  snapshot_meta_ = meta;
  snapshot_data_ = std::move(data);
}

}  // namespace kvraft::raft
