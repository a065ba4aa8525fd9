// storage/raft_storage.cc — RaftStorage; see raft_storage.h for the files,
// the threading contract and the crash-safety argument.
#include "storage/raft_storage.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "storage/rdb.h"

namespace kvraft::storage {

using raft::Entry;
using raft::Index;
using raft::SnapshotMeta;
using raft::Term;

namespace {

constexpr const char* kSnapshotPrefix = "snapshot-";
constexpr const char* kSnapshotSuffix = ".rdb";
constexpr size_t kIndexDigits = 20;
// Bytes MemoryStorage counts per entry besides its payload; entries() must
// cut batches exactly where MemoryStorage does.
constexpr uint64_t kEntryOverhead = 24;

std::string describe_meta(const SnapshotMeta& m) {
  return std::to_string(m.index) + "/t" + std::to_string(m.term) + " (" +
         encode_membership(m.conf) + ")";
}

// Thrown by MetaVisitor to stop the reader after the aux fields. The reader
// passes an RdbError from a visitor through unchanged, so it arrives here
// with its type and is told apart from a real error.
class StopAfterAux : public RdbError {
 public:
  StopAfterAux() : RdbError("", 0, "", "stopped after the aux fields") {}
};

// Collects the kvraft aux fields of a snapshot file. With `whole_file` the
// keys are read too (read_rdb verifies their encoding and the checksum);
// otherwise the read stops at the first record after the aux fields.
class MetaVisitor : public RdbVisitor {
 public:
  explicit MetaVisitor(bool whole_file) : whole_file_(whole_file) {}
  void on_aux(std::string_view name, std::string_view value) override {
    if (name == kAuxRaftIndex) saw_index = true;
    if (name == kAuxRaftTerm) saw_term = true;
    apply_kvraft_aux(name, value, &meta);
  }
  void on_select_db(uint64_t) override { stop(); }
  void on_resize_db(uint64_t, uint64_t) override { stop(); }
  void on_string(uint64_t, std::string_view, std::string_view, int64_t) override { stop(); }

  SnapshotMeta meta;
  bool saw_index = false;
  bool saw_term = false;

 private:
  void stop() const {
    if (!whole_file_) throw StopAfterAux();
  }
  bool whole_file_;
};

// Reads the snapshot file at `path` (whole, or up to the end of its aux
// fields) and returns its meta. Throws RdbError on a malformed file,
// std::runtime_error if the kvraft aux fields are missing.
SnapshotMeta read_snapshot_meta(const std::string& path, bool whole_file) {
  MetaVisitor v(whole_file);
  try {
    read_rdb_file(path, v);
  } catch (const StopAfterAux&) {
  }
  if (!v.saw_index || !v.saw_term) {
    throw std::runtime_error(path + ": no " + std::string(kAuxRaftIndex) + "/" +
                             std::string(kAuxRaftTerm) + " aux fields");
  }
  return v.meta;
}

bool starts_with(const std::string& s, const char* prefix) {
  return s.compare(0, std::strlen(prefix), prefix) == 0;
}

bool parse_digits(const std::string& s, size_t pos, uint64_t* out) {
  uint64_t v = 0;
  for (size_t i = pos; i < pos + kIndexDigits; ++i) {
    char c = s[i];
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

uint64_t file_size(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) throw IoError("fstat", path, IoError::kNoOffset, errno);
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace

// ------------------------------------------------------------------ names

std::string RaftStorage::snapshot_file_name(Index index, Term term) {
  char buf[80];
  std::snprintf(buf, sizeof buf, "%s%020" PRIu64 "-%020" PRIu64 "%s", kSnapshotPrefix, index, term,
                kSnapshotSuffix);
  return buf;
}

bool RaftStorage::parse_snapshot_file_name(const std::string& name, Index* index, Term* term) {
  const size_t plen = std::strlen(kSnapshotPrefix);
  const size_t slen = std::strlen(kSnapshotSuffix);
  if (name.size() != plen + kIndexDigits + 1 + kIndexDigits + slen) return false;
  if (!starts_with(name, kSnapshotPrefix)) return false;
  if (name[plen + kIndexDigits] != '-') return false;
  if (name.compare(name.size() - slen, slen, kSnapshotSuffix) != 0) return false;
  return parse_digits(name, plen, index) && parse_digits(name, plen + kIndexDigits + 1, term);
}

std::string RaftStorage::snapshot_path(const SnapshotMeta& meta) const {
  return dir_ + "/" + snapshot_file_name(meta.index, meta.term);
}

// ------------------------------------------------------------------ open

RaftStorage::RaftStorage(const RaftStorageOptions& options)
    : options_(options),
      dir_(options.dir),
      hs_file_(options.dir, HardStateOptions{options.fsync_mode, options.fault_hook}) {}

RaftStorage::~RaftStorage() = default;

uint64_t RaftStorage::write_buffer_bytes() const {
  // log_ is set once in open(), before any batch runs on the disk thread.
  return log_ ? log_->buffer_bytes() : 0;
}

uint64_t RaftStorage::log_sync_usec() const {
  return log_ ? log_->sync_usec() : 0;
}

std::unique_ptr<RaftStorage> RaftStorage::open(const RaftStorageOptions& options,
                                               RecoveryInfo* info_out) {
  const auto start = std::chrono::steady_clock::now();
  RecoveryInfo info;
  ensure_dir(options.dir);
  std::unique_ptr<RaftStorage> s(new RaftStorage(options));
  const std::string& dir = s->dir_;
  const bool repair = options.repair;

  // The log first: it takes the directory lock, so a second opener is
  // refused before anything here is touched.
  RaftLogOptions lo;
  lo.dir = dir;
  lo.segment_size = options.segment_size;
  lo.preallocate = options.preallocate;
  lo.fsync_mode = options.fsync_mode;
  lo.repair = repair;
  lo.fault_hook = options.fault_hook;
  // Segments wholly below the newest snapshot are not read (only checked
  // and then deleted below), so a restart before compaction caught up does
  // not read the whole covered log. By name only: if that snapshot turns
  // out unreadable, open() refuses below (repair disables the skip).
  for (const std::string& name : list_dir(dir)) {
    Index index = 0;
    Term term = 0;
    if (parse_snapshot_file_name(name, &index, &term))
      lo.skip_below = std::max(lo.skip_below, index);
  }
  LogRecovery rec;
  s->log_ = RaftLog::open(lo, &rec);
  info.warnings = rec.warnings;

  if (auto loaded = s->hs_file_.load()) s->saved_ = *loaded;

  // Leftover temp files, and the snapshot files, newest first.
  std::vector<std::pair<Index, Term>> snaps;
  bool removed = false;
  for (const std::string& name : list_dir(dir)) {
    Index index = 0;
    Term term = 0;
    if (starts_with(name, kSnapshotPrefix) && name.find(".tmp") != std::string::npos) {
      remove_file(dir + "/" + name, s->hook());
      removed = true;
      info.warnings.push_back("raft storage: removed unfinished snapshot file " + dir + "/" + name);
    } else if (parse_snapshot_file_name(name, &index, &term)) {
      snaps.emplace_back(index, term);
    }
  }
  std::sort(snaps.begin(), snaps.end(), std::greater<>());

  SnapshotMeta meta;
  size_t chosen = snaps.size();
  for (size_t k = 0; k < snaps.size(); ++k) {
    const std::string path = dir + "/" + snapshot_file_name(snaps[k].first, snaps[k].second);
    std::string problem;
    try {
      SnapshotMeta m = read_snapshot_meta(path, options.verify_snapshot);
      if (m.index != snaps[k].first || m.term != snaps[k].second) {
        problem = "its aux fields say " + describe_meta(m) + ", its name says " +
                  std::to_string(snaps[k].first) + "/t" + std::to_string(snaps[k].second);
      } else {
        meta = m;
      }
    } catch (const std::exception& e) {
      problem = e.what();
    }
    if (problem.empty()) {
      chosen = k;
      break;
    }
    if (!repair) {
      throw IoError("raft storage: newest snapshot " + path + " is unreadable: " + problem +
                        "; refusing to fall back to an older snapshot (start with repair to "
                        "set it aside)",
                    path);
    }
    rename_file(path, path + ".corrupt", s->hook());
    removed = true;
    info.warnings.push_back("raft storage: REPAIR: set aside unreadable snapshot " + path + " as " +
                            path + ".corrupt (" + problem + "), trying an older one");
  }
  for (size_t k = chosen + 1; k < snaps.size(); ++k) {
    const std::string path = dir + "/" + snapshot_file_name(snaps[k].first, snaps[k].second);
    remove_file(path, s->hook());
    removed = true;
    info.warnings.push_back("raft storage: removed superseded snapshot " + path);
  }
  if (removed && s->sync_enabled()) sync_dir(dir, s->hook());

  // Reconcile the log with the snapshot (see open() in the header for why
  // dropping the log is safe in exactly these cases).
  const Index si = meta.index;
  const Index lf = rec.first_index;
  const Index ll = rec.last_index;
  // Term of stored entry i; requires i in the read part of the log (every
  // unread segment ends below the snapshot index, so si and si+1 are read).
  auto stored_term = [&rec](Index i) { return rec.entries[i - rec.entries.front().index].term; };
  std::string discard_reason;
  if (!s->log_->empty()) {
    if (lf > si + 1) {
      const std::string what = "raft log starts at index " + std::to_string(lf) +
                               " but the snapshot ends at " + std::to_string(si) + ": entries " +
                               std::to_string(si + 1) + ".." + std::to_string(lf - 1) +
                               " are missing";
      if (!repair) {
        throw IoError("raft storage: " + what, s->log_->segment_paths().front());
      }
      discard_reason = "REPAIR: " + what;
    } else if (ll < si) {
      discard_reason = "raft log " + std::to_string(lf) + ".." + std::to_string(ll) +
                       " ends before snapshot " + std::to_string(si) + ", which supersedes it";
    } else if (si >= lf && stored_term(si) != meta.term) {
      discard_reason = "raft log holds index " + std::to_string(si) + " with term " +
                       std::to_string(stored_term(si)) + " but snapshot " + std::to_string(si) +
                       " has term " + std::to_string(meta.term) +
                       ": no stored entry continues the snapshot";
    } else if (ll > si && stored_term(si + 1) < meta.term) {
      // Terms never decrease along a log, so an entry after the snapshot
      // with a lower term belongs to another history (a prefix drop that a
      // crash left half done, say) and cannot continue it.
      discard_reason = "raft log entry " + std::to_string(si + 1) + " has term " +
                       std::to_string(stored_term(si + 1)) + ", below snapshot " +
                       std::to_string(si) + "'s term " + std::to_string(meta.term) +
                       ": it cannot continue the snapshot";
    }
  }
  if (!discard_reason.empty()) {
    s->log_->truncate_suffix(lf);
    info.warnings.push_back("raft storage: discarded log " + std::to_string(lf) + ".." +
                            std::to_string(ll) + ": " + discard_reason);
  } else {
    for (Entry& e : rec.entries) {
      if (e.index <= si) continue;
      info.entry_bytes += e.data.size();
      s->mirror_.push_back(std::move(e));
      s->mirror_bytes_ += mirror_entry_bytes(s->mirror_.back());
    }
    // The unread segments hold only entries below the snapshot: what the
    // compaction after it would have dropped. The first batch drops them,
    // once the caller has loaded (and so verified) the snapshot.
    if (rec.skipped_segments > 0) s->pending_compact_ = si - 1;
    info.segments_skipped = rec.skipped_segments;
  }
  rec.entries.clear();
  s->snap_meta_ = meta;
  s->offset_ = si + 1;
  s->mem_first_ = si + 1;
  s->base_term_ = meta.term;
  s->disk_snap_index_ = si;
  if (!s->mirror_.empty()) {
    std::shared_ptr<Fd> fd;
    for (const RaftLog::Extent& x : s->log_->extents_from(si + 1, kSpanEntries)) {
      if (!fd || x.path != s->spans_.back().path)
        fd = std::make_shared<Fd>(open_file(x.path, O_RDONLY, 0, nullptr));
      s->add_span(x, fd);
    }
    for (const Entry& e : s->mirror_)
      if (s->term_runs_.empty() || s->term_runs_.back().second != e.term)
        s->term_runs_.emplace_back(e.index, e.term);
  }

  PersistentState state = s->saved_;
  const Index last = s->last_index();
  if (state.hard.commit > last) {
    const std::string what = "hard state commit index " + std::to_string(state.hard.commit) +
                             " is beyond the last stored index " + std::to_string(last);
    if (!repair) throw IoError("raft storage: " + what, s->hs_file_.path());
    info.warnings.push_back("raft storage: REPAIR: " + what + "; lowered to " +
                            std::to_string(last));
    state.hard.commit = last;
  }
  if (!s->mirror_.empty() && s->mirror_.back().term > state.hard.term) {
    info.warnings.push_back("raft storage: last log term " +
                            std::to_string(s->mirror_.back().term) + " is above the stored term " +
                            std::to_string(state.hard.term));
  }
  s->state_ = state;
  s->wanted_ = state;

  if (si > 0) {
    s->snap_path_ = s->snapshot_path(meta);
    auto fd = std::make_shared<Fd>(open_file(s->snap_path_, O_RDONLY, 0, nullptr));
    s->snap_size_ = file_size(fd->get(), s->snap_path_);
    s->snap_fd_ = std::move(fd);
  }

  s->check_invariants();
  info.snapshot_path = s->snap_path_;
  info.snapshot_meta = meta;
  info.snapshot_bytes = s->snap_size_;
  info.hard_state = state.hard;
  info.entries = s->mirror_.size();
  info.first_index = s->first_index();
  info.last_index = s->last_index();
  info.micros = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                          std::chrono::steady_clock::now() - start)
                                          .count());
  if (info_out != nullptr) *info_out = std::move(info);
  return s;
}

void RaftStorage::check_invariants() const {
#ifndef NDEBUG
  auto broken = [&](const char* what) {
    throw std::logic_error(std::string("RaftStorage invariant broken: ") + what + " (offset " +
                           std::to_string(offset_) + ", entries " + std::to_string(mirror_.size()) +
                           ", snapshot " + describe_meta(snap_meta_) + ", path '" + snap_path_ +
                           "')");
  };
  if (offset_ == 0 || offset_ > snap_meta_.index + 1) broken("offset_ beyond snapshot index + 1");
  if (mem_first_ < offset_ || mem_first_ > last_index() + 1) broken("mem_first_ outside the log");
  if (!mirror_.empty() &&
      (mirror_.front().index != mem_first_ || mirror_.back().index != last_index())) {
    broken("mirror not consecutive from mem_first_");
  }
  if (offset_ <= snap_meta_.index && snap_meta_.index >= mem_first_ &&
      mirror_[snap_meta_.index - mem_first_].term != snap_meta_.term)
    broken("retained entry at the snapshot index has another term");
  if (offset_ <= last_index() &&
      (spans_.empty() || spans_.front().first > offset_ || spans_.back().last != last_index() ||
       term_runs_.empty() || term_runs_.front().first > offset_))
    broken("disk spans or term runs do not cover the log");
  if (snap_path_.empty() != (snap_meta_.index == 0) || snap_path_.empty() != !snap_fd_)
    broken("snapshot path/descriptor without a snapshot, or the reverse");
  if (offset_ == snap_meta_.index + 1 && base_term_ != snap_meta_.term)
    broken("base term differs from the snapshot term");
#endif
}

// ------------------------------------------------------------------ reads

std::optional<Term> RaftStorage::term(Index i) const {
  if (i == snap_meta_.index) return snap_meta_.term;
  if (i + 1 == offset_) return base_term_;
  if (i < offset_ || i > last_index()) return std::nullopt;
  if (i >= mem_first_) return mirror_[i - mem_first_].term;
  auto it = std::upper_bound(term_runs_.begin(), term_runs_.end(), i,
                             [](Index v, const std::pair<Index, Term>& r) { return v < r.first; });
  if (it == term_runs_.begin()) return std::nullopt;  // not reached: runs cover offset_
  return std::prev(it)->second;
}

std::vector<Entry> RaftStorage::entries(Index lo, Index hi, uint64_t max_bytes) const {
  if (lo < first_index() || hi > last_index() + 1 || lo > hi) {
    throw std::out_of_range("RaftStorage::entries [" + std::to_string(lo) + "," +
                            std::to_string(hi) + ") outside [" + std::to_string(first_index()) +
                            "," + std::to_string(last_index() + 1) + ")");
  }
  std::vector<Entry> out;
  uint64_t bytes = 0;
  // Released entries come back from the segment files (a peer far behind).
  if (lo < mem_first_ && !read_released(lo, std::min(hi, mem_first_), max_bytes, &bytes, &out))
    return out;
  for (Index i = std::max(lo, mem_first_); i < hi; ++i) {
    const Entry& e = mirror_[i - mem_first_];
    bytes += e.data.size() + kEntryOverhead;
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

bool RaftStorage::read_snapshot_chunk(const SnapshotMeta& meta, uint64_t offset, uint64_t max_bytes,
                                      std::string* data, uint64_t* total_size) const {
  if (!(meta == snap_meta_)) return false;
  if (!snap_fd_) {  // no snapshot yet: the empty one, as MemoryStorage has
    if (offset > 0) return false;
    data->clear();
    *total_size = 0;
    return true;
  }
  if (offset > snap_size_) return false;
  const uint64_t n = std::min(max_bytes, snap_size_ - offset);
  data->resize(static_cast<size_t>(n));
  size_t done = 0;
  while (done < n) {
    ssize_t r =
        ::pread(snap_fd_->get(), data->data() + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      throw IoError(r < 0 ? "read snapshot" : "read snapshot: file shrank", snap_path_,
                    offset + done, r < 0 ? errno : 0);
    }
    done += static_cast<size_t>(r);
  }
  *total_size = snap_size_;
  return true;
}

// ------------------------------------------------------------------ prepare / publish

RaftStorage::Batch RaftStorage::prepare(const raft::Ready& rd) {
  return prepare_batch(rd, rd.entries);
}

RaftStorage::Batch RaftStorage::prepare_taking_entries(raft::Ready& rd) {
  return prepare_batch(rd, std::move(rd.entries));
}

RaftStorage::Batch RaftStorage::prepare_batch(const raft::Ready& rd,
                                              std::vector<raft::Entry> entries) {
  Batch b;
  b.snapshot_chunks = rd.snapshot_chunks;
  b.snapshot = rd.snapshot;
  b.entries = std::move(entries);
  b.hard_state = rd.hard_state;
  if (!b.entries.empty()) {
    const Index f = b.entries.front().index;
    // After a received snapshot the entries must continue it; otherwise they
    // may replace stored entries above the snapshot, never at or below it.
    const Index lo = b.snapshot ? b.snapshot->index + 1 : std::max(offset_, snap_meta_.index + 1);
    const Index hi = b.snapshot ? b.snapshot->index + 1 : last_index() + 1;
    if (f < lo || f > hi) {
      throw std::invalid_argument("RaftStorage::prepare: entries start at " + std::to_string(f) +
                                  ", outside [" + std::to_string(lo) + "," + std::to_string(hi) +
                                  "]");
    }
    for (size_t k = 0; k < b.entries.size(); ++k) {
      if (b.entries[k].index != f + k) {
        throw std::invalid_argument("RaftStorage::prepare: entries not consecutive at " +
                                    std::to_string(b.entries[k].index));
      }
    }
  }
  b.compact_up_to = std::exchange(pending_compact_, 0);
  b.snapshot_floor = std::exchange(pending_floor_, 0);
  return b;
}

RaftStorage::Batch RaftStorage::prepare_compaction() {
  Batch b;
  b.compact_up_to = std::exchange(pending_compact_, 0);
  b.snapshot_floor = std::exchange(pending_floor_, 0);
  return b;
}

void RaftStorage::publish(Batch& b) {
  if (!b.persisted) throw std::logic_error("RaftStorage::publish: batch was not persisted");
  if (b.saved_state) state_ = *b.saved_state;
  if (!b.installed_snapshot_path.empty()) {
    snap_meta_ = *b.snapshot;
    snap_path_ = b.installed_snapshot_path;
    snap_fd_ = b.installed_snapshot_fd;
    snap_size_ = b.installed_snapshot_size;
    mirror_.clear();
    mirror_bytes_ = 0;
    offset_ = snap_meta_.index + 1;
    mem_first_ = offset_;
    spans_.clear();
    term_runs_.clear();
    base_term_ = snap_meta_.term;
    // The older snapshot files go with the next batch, after any transfer
    // still reading them through an old descriptor has moved on.
    pending_floor_ = std::max(pending_floor_, snap_meta_.index);
  }
  if (!b.entries.empty()) {
    const Index f = b.entries.front().index;
    if (f < offset_ || f > last_index() + 1 || f <= snap_meta_.index) {
      throw std::logic_error("RaftStorage::publish: entries at " + std::to_string(f) +
                             " do not fit the log [" + std::to_string(first_index()) + "," +
                             std::to_string(last_index()) + "] after snapshot " +
                             std::to_string(snap_meta_.index));
    }
    // Only entries not yet applied can be replaced, and those are in memory.
    if (f < mem_first_ || !b.extent) {
      throw std::logic_error("RaftStorage::publish: entries at " + std::to_string(f) +
                             " replace released entries (memory starts at " +
                             std::to_string(mem_first_) + ") or have no extent");
    }
    for (size_t k = static_cast<size_t>(f - mem_first_); k < mirror_.size(); ++k)
      mirror_bytes_ -= mirror_entry_bytes(mirror_[k]);
    mirror_.resize(static_cast<size_t>(f - mem_first_));
    cut_spans_from(f);
    for (Entry& e : b.entries) {
      if (term_runs_.empty() || term_runs_.back().second != e.term)
        term_runs_.emplace_back(e.index, e.term);
      mirror_.push_back(std::move(e));
      mirror_bytes_ += mirror_entry_bytes(mirror_.back());
    }
    b.entries.clear();
    add_span(*b.extent, std::move(b.extent_fd));
  }
  check_invariants();
}

void RaftStorage::release_applied(Index up_to) {
  up_to = std::min(up_to, last_index());
  if (up_to < mem_first_) return;
  const size_t n = static_cast<size_t>(up_to + 1 - mem_first_);
  for (size_t k = 0; k < n; ++k)
    mirror_bytes_ -= mirror_entry_bytes(mirror_[k]);
  mirror_.erase(mirror_.begin(), mirror_.begin() + static_cast<ptrdiff_t>(n));
  mem_first_ = up_to + 1;
  check_invariants();
}

void RaftStorage::add_span(const RaftLog::Extent& x, std::shared_ptr<Fd> fd) {
  if (!spans_.empty()) {
    DiskSpan& back = spans_.back();
    // The same file and the next index: the records follow on in the file.
    if (back.fd == fd && back.last + 1 == x.first && back.last + 1 - back.first < kSpanEntries) {
      back.last = x.last;
      return;
    }
  }
  spans_.push_back(DiskSpan{x.first, x.last, x.start, std::move(fd), x.path});
}

void RaftStorage::cut_spans_from(Index f) {
  while (!spans_.empty() && spans_.back().first >= f)
    spans_.pop_back();
  if (!spans_.empty() && spans_.back().last >= f) spans_.back().last = f - 1;
  while (!term_runs_.empty() && term_runs_.back().first >= f)
    term_runs_.pop_back();
}

void RaftStorage::drop_spans_below(Index i) {
  while (!spans_.empty() && spans_.front().last < i)
    spans_.pop_front();
  size_t n = 0;
  while (n + 1 < term_runs_.size() && term_runs_[n + 1].first <= i)
    ++n;
  term_runs_.erase(term_runs_.begin(), term_runs_.begin() + static_cast<ptrdiff_t>(n));
}

bool RaftStorage::read_released(Index lo, Index hi, uint64_t max_bytes, uint64_t* bytes,
                                std::vector<Entry>* out) const {
  auto it = std::upper_bound(spans_.begin(), spans_.end(), lo,
                             [](Index v, const DiskSpan& sp) { return v < sp.first; });
  if (it == spans_.begin()) {
    throw std::logic_error("RaftStorage: no disk span holds released entry " + std::to_string(lo));
  }
  --it;
  bool full = false;
  const uint32_t max_entry_size = RaftLogOptions{}.max_entry_size;
  for (; it != spans_.end() && lo < hi && !full; ++it) {
    const Index last = std::min(it->last, hi - 1);
    RaftLog::read_extent(it->fd->get(), it->path, it->start, it->first, lo, last, max_entry_size,
                         [&](Entry&& e) {
                           *bytes += e.data.size() + kEntryOverhead;
                           if (!out->empty() && *bytes > max_bytes) {
                             full = true;
                             return false;
                           }
                           out->push_back(std::move(e));
                           return true;
                         });
    lo = last + 1;
  }
  return !full;
}

bool RaftStorage::install_local_snapshot(const SnapshotMeta& meta) {
  if (meta.index <= snap_meta_.index) {
    // Overtaken (e.g. by a received snapshot): its file goes with the next
    // batch's cleanup of everything older than the current snapshot.
    pending_floor_ = std::max(pending_floor_, snap_meta_.index);
    return false;
  }
  if (meta.index > last_index() || term(meta.index) != meta.term) {
    throw std::invalid_argument("RaftStorage::install_local_snapshot at " + describe_meta(meta) +
                                " does not match the stored log [" + std::to_string(first_index()) +
                                "," + std::to_string(last_index()) + "]");
  }
  const std::string path = snapshot_path(meta);
  auto fd = std::make_shared<Fd>(open_file(path, O_RDONLY, 0, nullptr));
  const uint64_t size = file_size(fd->get(), path);

  // The retained window: walk back from the snapshot index while the count
  // and byte budgets allow.
  Index keep_from = meta.index + 1;
  uint64_t kept = 0;
  uint64_t kept_bytes = 0;
  // (Released entries cost no memory: only the count limits them.)
  while (keep_from > offset_ && kept < options_.keep_entries_after_snapshot) {
    if (keep_from - 1 >= mem_first_) {
      const Entry& e = mirror_[keep_from - 1 - mem_first_];
      if (kept_bytes + e.data.size() > options_.keep_bytes_after_snapshot) break;
      kept_bytes += e.data.size();
    }
    ++kept;
    --keep_from;
  }
  if (keep_from > offset_) {
    base_term_ = *term(keep_from - 1);
    if (keep_from > mem_first_) {
      const size_t n = static_cast<size_t>(keep_from - mem_first_);
      for (size_t k = 0; k < n; ++k)
        mirror_bytes_ -= mirror_entry_bytes(mirror_[k]);
      mirror_.erase(mirror_.begin(), mirror_.begin() + static_cast<ptrdiff_t>(n));
      mem_first_ = keep_from;
    }
    offset_ = keep_from;
    drop_spans_below(offset_);
  }
  snap_meta_ = meta;
  snap_path_ = path;
  snap_fd_ = std::move(fd);
  snap_size_ = size;
  pending_compact_ = std::max(pending_compact_, keep_from - 1);
  pending_floor_ = std::max(pending_floor_, meta.index);
  check_invariants();
  return true;
}

// ------------------------------------------------------------------ persist

bool RaftStorage::failed() const {
  std::lock_guard<std::mutex> lock(failure_mu_);
  return !failure_.empty();
}

std::string RaftStorage::failure() const {
  std::lock_guard<std::mutex> lock(failure_mu_);
  return failure_;
}

void RaftStorage::persist(Batch& b) {
  {
    std::lock_guard<std::mutex> lock(failure_mu_);
    if (!failure_.empty()) {
      throw IoError("raft storage failed earlier: " + failure_, dir_);
    }
  }
  try {
    write_chunks(b);
    if (b.snapshot) install_received(b);

    if (b.hard_state) wanted_.hard = *b.hard_state;
    if (b.conf) wanted_.conf = *b.conf;
    // The commit index saved never exceeds the durable entries that are
    // the core's own: before this batch's entries are synced that is the
    // log up to where they start (the stored entries from there on are a
    // suffix they replace: a commit covering those would, after a crash,
    // mark the old conflicting entries committed), so a crash between the
    // save and the sync leaves a state that is both loadable and true.
    auto capped = [&](Index agreeing_last) {
      PersistentState c = wanted_;
      c.hard.commit = std::min(c.hard.commit, agreeing_last);
      return c;
    };
    const Index durable_last = std::max(disk_snap_index_, log_->last_index());
    // Term and vote before the entries: a log never holds a term the
    // hard state has not reached.
    PersistentState next = capped(b.entries.empty() ? durable_last : b.entries.front().index - 1);
    if (hard_state_save_required(saved_, next) || (b.save_commit && !(next == saved_))) {
      save_state(b, next);
    }

    if (!b.entries.empty()) {
      const Index f = b.entries.front().index;
      if (!log_->empty() && f <= log_->last_index()) log_->truncate_suffix(f);
      log_->append(b.entries);
      RaftLog::Extent x = log_->last_append_extent();
      if (!read_fd_ || x.new_segment || x.path != read_fd_path_) {
        read_fd_ = std::make_shared<Fd>(open_file(x.path, O_RDONLY, 0, nullptr));
        read_fd_path_ = x.path;
      }
      b.extent = std::move(x);
      b.extent_fd = read_fd_;
      log_->sync();
      if (sync_enabled()) ++b.syncs;
      for (const Entry& e : b.entries)
        b.bytes_written += e.data.size() + RaftLog::kRecordOverhead;
    }
    if (b.compact_up_to > 0) {
      std::vector<std::string> obsolete;
      log_->drop_prefix(b.compact_up_to, options_.defer_file_removal ? &obsolete : nullptr);
      queue_obsolete_files(std::move(obsolete));
    }
    if (b.snapshot_floor > 0) {
      remove_snapshots_below(b.snapshot_floor);
      disk_snap_index_ = std::max(disk_snap_index_, b.snapshot_floor);
    }

    if (b.save_commit) {
      next = capped(std::max(disk_snap_index_, log_->last_index()));
      if (!(next == saved_)) save_state(b, next);
    }
    b.persisted = true;
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lock(failure_mu_);
    if (failure_.empty()) failure_ = e.what();
    throw;
  }
}

void RaftStorage::save_state(Batch& b, const PersistentState& next) {
  hs_file_.save(next);
  saved_ = next;
  b.saved_state = next;
  if (sync_enabled()) b.syncs += 2;
}

void RaftStorage::write_chunks(Batch& b) {
  if (b.snapshot_chunks.empty()) return;
  // Check the whole sequence before writing anything: a chunk that does not
  // continue the incoming file is a bug of the caller.
  {
    std::optional<SnapshotMeta> meta = incoming_meta_;
    uint64_t size = incoming_size_;
    for (const raft::SnapshotChunk& c : b.snapshot_chunks) {
      if (c.offset == 0) {
        meta = c.meta;
        size = 0;
      }
      if (!meta || !(*meta == c.meta) || c.offset != size ||
          c.data.size() > c.total_size - std::min(c.total_size, c.offset)) {
        throw std::invalid_argument(
            "RaftStorage: snapshot chunk of " + describe_meta(c.meta) + " at offset " +
            std::to_string(c.offset) + " (" + std::to_string(c.data.size()) + " of " +
            std::to_string(c.total_size) + " bytes) does not continue the incoming " +
            (meta ? describe_meta(*meta) : std::string("(none)")) + " with " +
            std::to_string(size) + " bytes");
      }
      size += c.data.size();
    }
  }
  const std::string tmp = dir_ + "/" + kIncomingTempName;
  for (const raft::SnapshotChunk& c : b.snapshot_chunks) {
    if (c.offset == 0) {
      incoming_meta_.reset();
      incoming_fd_ = open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644, hook());
      incoming_meta_ = c.meta;
      incoming_size_ = 0;
    }
    write_at(incoming_fd_.get(), tmp, c.offset, c.data, hook());
    incoming_size_ += c.data.size();
    b.bytes_written += c.data.size();
  }
  // No fdatasync per chunk: open() deletes a partial incoming file anyway
  // (the core does not resume a transfer across restarts), so the file only
  // needs to be durable once, when it is installed.
}

void RaftStorage::install_received(Batch& b) {
  const SnapshotMeta& meta = *b.snapshot;
  if (!incoming_meta_ || !(*incoming_meta_ == meta)) {
    throw std::invalid_argument("RaftStorage: install of snapshot " + describe_meta(meta) +
                                " that was not received (incoming: " +
                                (incoming_meta_ ? describe_meta(*incoming_meta_) : "none") + ")");
  }
  const std::string tmp = dir_ + "/" + kIncomingTempName;
  const std::string path = snapshot_path(meta);
  if (sync_enabled()) {
    sync_file(incoming_fd_.get(), tmp, /*data_only=*/false, hook());
    ++b.syncs;
  }
  // Never drop the log for a file that cannot be loaded: check it reads back
  // as RDB and describes the snapshot the leader announced.
  SnapshotMeta found;
  try {
    found = read_snapshot_meta(tmp, /*whole_file=*/true);
  } catch (const std::exception& e) {
    throw IoError("raft storage: received snapshot " + describe_meta(meta) +
                      " is not a valid snapshot file: " + e.what(),
                  tmp);
  }
  if (!(found == meta)) {
    throw IoError("raft storage: received snapshot announced as " + describe_meta(meta) +
                      " but its aux fields say " + describe_meta(found),
                  tmp);
  }
  auto fd = std::make_shared<Fd>(open_file(tmp, O_RDONLY, 0, hook()));
  rename_file(tmp, path, hook());
  if (sync_enabled()) {
    sync_dir(dir_, hook());
    ++b.syncs;
  }
  // Only now, with the snapshot durable, the log goes; newest segment first
  // (truncate_suffix), so a crash part-way leaves a prefix open() discards.
  if (!log_->empty()) log_->truncate_suffix(log_->first_index());
  disk_snap_index_ = meta.index;
  b.installed_snapshot_path = path;
  b.installed_snapshot_fd = std::move(fd);
  b.installed_snapshot_size = incoming_size_;
  incoming_fd_.reset();
  incoming_meta_.reset();
  incoming_size_ = 0;
}

void RaftStorage::remove_snapshots_below(Index floor) {
  bool removed = false;
  std::vector<std::string> obsolete;
  for (const std::string& name : list_dir(dir_)) {
    Index index = 0;
    Term term = 0;
    if (parse_snapshot_file_name(name, &index, &term) && index < floor) {
      if (options_.defer_file_removal) {
        obsolete.push_back(dir_ + "/" + name);
        continue;
      }
      remove_file(dir_ + "/" + name, hook());
      removed = true;
    }
  }
  queue_obsolete_files(std::move(obsolete));
  if (removed && sync_enabled()) sync_dir(dir_, hook());
}

void RaftStorage::queue_obsolete_files(std::vector<std::string> paths) {
  if (paths.empty()) return;
  std::lock_guard<std::mutex> lock(obsolete_mu_);
  for (std::string& p : paths)
    obsolete_files_.push_back(std::move(p));
}

bool RaftStorage::has_obsolete_files() const {
  std::lock_guard<std::mutex> lock(obsolete_mu_);
  return !obsolete_files_.empty();
}

size_t RaftStorage::remove_obsolete_files() {
  std::vector<std::string> paths;
  {
    std::lock_guard<std::mutex> lock(obsolete_mu_);
    paths.swap(obsolete_files_);
  }
  size_t removed = 0;
  try {
    for (; removed < paths.size(); ++removed)
      remove_file(paths[removed], hook());  // ENOENT is not an error
    if (removed > 0 && sync_enabled()) sync_dir(dir_, hook());
  } catch (...) {
    // Requeue the files after the one that failed (ahead of anything queued
    // meanwhile). The failed one is given up, so a file that can never be
    // removed is reported once, not on every later call.
    std::lock_guard<std::mutex> lock(obsolete_mu_);
    const size_t next = std::min(removed + 1, paths.size());
    obsolete_files_.insert(obsolete_files_.begin(),
                           std::make_move_iterator(paths.begin() + static_cast<ptrdiff_t>(next)),
                           std::make_move_iterator(paths.end()));
    throw;
  }
  return removed;
}

}  // namespace kvraft::storage
