// storage/raft_log.cc — see raft_log.h for the format and the rules.
#include "storage/raft_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string_view>

namespace kvraft::storage {

using raft::Entry;
using raft::EntryType;
using raft::Index;
using raft::Payload;
using raft::Term;

namespace {

constexpr char kSegmentMagic[8] = {'K', 'V', 'R', 'F', 'T', 'L', 'O', 'G'};
constexpr uint32_t kSegmentVersion = 1;
constexpr uint64_t kHeaderSize = RaftLog::kSegmentHeaderSize;
constexpr size_t kRecordHeadSize = 28;  // through the head check
constexpr size_t kRecordOverhead = RaftLog::kRecordOverhead;
constexpr const char* kSegmentPrefix = "log-";
constexpr const char* kSegmentSuffix = ".seg";
constexpr const char* kLockFileName = "raftlog.lock";
// append() keeps its encoding buffer between batches, but not a huge one.
constexpr size_t kMaxRetainedBuffer = size_t{16} << 20;
constexpr size_t kIndexDigits = 20;
// Segments are our own files, so their size is not untrusted input; this only
// stops a wild file from exhausting memory before it can be reported.
constexpr size_t kMaxSegmentRead = size_t{1} << 40;
// Zero-filling the spare segment: each sync() writes twice the bytes just
// appended, but at least kMinFillStep (a page), or kGrowingFillStep while the
// active segment grows with each batch (a new log: the sooner it can roll
// into a preallocated segment the better; 128 KB makes the spare of a 64 MB
// segment ready after 512 batches); at most kMaxFillStep (one step must not
// hold a batch's reply back for long); and hands it to writeback early
// every kFillFlushBytes.
constexpr uint64_t kMinFillStep = uint64_t{4} << 10;
constexpr uint64_t kGrowingFillStep = uint64_t{128} << 10;
constexpr uint64_t kMaxFillStep = uint64_t{4} << 20;
constexpr uint64_t kFillFlushBytes = uint64_t{1} << 20;

std::string encode_segment_header(Index first_index, uint32_t flags) {
  std::string h(kSegmentMagic, sizeof kSegmentMagic);
  put_u32(&h, kSegmentVersion);
  put_u32(&h, flags);
  put_u64(&h, first_index);
  put_u64(&h, XXH3_64bits(h.data(), h.size()));
  return h;
}

void encode_record(std::string* out, const Entry& e) {
  const size_t start = out->size();
  put_u32(out, static_cast<uint32_t>(e.data.size()));
  put_u64(out, e.index);
  put_u64(out, e.term);
  out->push_back(static_cast<char>(e.type));
  out->append(3, '\0');
  put_u32(out, static_cast<uint32_t>(XXH3_64bits(out->data() + start, 24)));
  out->append(e.data);
  put_u64(out, XXH3_64bits(out->data() + start, out->size() - start));
}

enum class RecordStatus { kOk, kShortHeader, kBadHeader, kBadLength, kShortRecord, kBadChecksum };

const char* record_status_reason(RecordStatus s) {
  switch (s) {
    case RecordStatus::kOk:
      return "ok";
    case RecordStatus::kShortHeader:
      return "file ends inside a record header";
    case RecordStatus::kBadHeader:
      return "record header check mismatch";
    case RecordStatus::kBadLength:
      return "record length above the maximum entry size";
    case RecordStatus::kShortRecord:
      return "file ends inside a record";
    case RecordStatus::kBadChecksum:
      return "record checksum mismatch";
  }
  return "?";
}

struct RecordView {
  Index index = 0;
  Term term = 0;
  uint8_t type = 0;
  std::string_view payload;
  uint64_t size = 0;  // whole record, overhead included
};

// Parses the record at buf[off]. Never reads outside `buf`, and trusts the
// length field only once the head check has vouched for it.
RecordStatus parse_record(std::string_view buf, size_t off, uint32_t max_len, RecordView* out) {
  const size_t remaining = buf.size() - off;
  if (remaining < kRecordHeadSize) return RecordStatus::kShortHeader;
  const char* p = buf.data() + off;
  if (p[21] != 0 || p[22] != 0 || p[23] != 0 ||
      static_cast<uint32_t>(XXH3_64bits(p, 24)) != get_u32(p + 24)) {
    return RecordStatus::kBadHeader;
  }
  const uint32_t len = get_u32(p);
  if (len > max_len) return RecordStatus::kBadLength;
  const uint64_t size = kRecordOverhead + len;
  if (size > remaining) return RecordStatus::kShortRecord;
  if (XXH3_64bits(p, kRecordHeadSize + len) != get_u64(p + kRecordHeadSize + len)) {
    return RecordStatus::kBadChecksum;
  }
  out->index = get_u64(p + 4);
  out->term = get_u64(p + 12);
  out->type = static_cast<uint8_t>(p[20]);
  out->payload = std::string_view(p + kRecordHeadSize, len);
  out->size = size;
  return RecordStatus::kOk;
}

// One past the last non-zero byte of buf (0 if it is all zeros). In a
// preallocated segment the records end at or before this point, and what
// follows is the zero tail. Word-wise from the end: the tail may be 64 MB.
size_t zero_tail_start(std::string_view buf) {
  size_t end = buf.size();
  while (end % 8 != 0 && buf[end - 1] == 0)
    --end;
  if (end % 8 == 0) {
    while (end >= 8) {
      uint64_t w;
      std::memcpy(&w, buf.data() + end - 8, 8);
      if (w != 0) break;
      end -= 8;
    }
  }
  while (end > 0 && buf[end - 1] == 0)
    --end;
  return end;
}

// The first offset >= from where a complete, valid record starts, or npos.
// Used to tell a torn tail (nothing valid follows) from damage in the middle.
size_t find_valid_record(std::string_view buf, size_t from, uint32_t max_len) {
  RecordView r;
  for (size_t p = from; p + kRecordOverhead <= buf.size(); ++p) {
    if (parse_record(buf, p, max_len, &r) == RecordStatus::kOk) return p;
  }
  return std::string_view::npos;
}

// How many valid records can be recognised in buf[from, end), resyncing past
// garbage. For reports only.
uint64_t count_records(std::string_view buf, size_t from, uint32_t max_len) {
  uint64_t n = 0;
  RecordView r;
  size_t p = from;
  while ((p = find_valid_record(buf, p, max_len)) != std::string_view::npos) {
    parse_record(buf, p, max_len, &r);
    ++n;
    p += r.size;
  }
  return n;
}

// Parses "log-<20 digits>.seg"; false for any other name.
bool parse_segment_name(const std::string& name, Index* first_index) {
  const size_t plen = std::strlen(kSegmentPrefix);
  const size_t slen = std::strlen(kSegmentSuffix);
  if (name.size() != plen + kIndexDigits + slen) return false;
  if (name.compare(0, plen, kSegmentPrefix) != 0) return false;
  if (name.compare(plen + kIndexDigits, slen, kSegmentSuffix) != 0) return false;
  Index v = 0;
  for (size_t i = plen; i < plen + kIndexDigits; ++i) {
    char c = name[i];
    if (c < '0' || c > '9') return false;
    Index d = static_cast<Index>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (v == 0) return false;
  *first_index = v;
  return true;
}

// True if the segment at `path` starts with a valid header for
// `first_index`: enough to leave the rest of it unread (skip_below).
bool skippable_segment(const std::string& path, Index first_index) {
  Fd fd = open_file(path, O_RDONLY | O_CLOEXEC, 0, nullptr);
  char h[kHeaderSize];
  ssize_t n = ::pread(fd.get(), h, sizeof h, 0);
  return n == static_cast<ssize_t>(sizeof h) &&
         std::memcmp(h, kSegmentMagic, sizeof kSegmentMagic) == 0 &&
         XXH3_64bits(h, 24) == get_u64(h + 24) && get_u32(h + 8) == kSegmentVersion &&
         get_u64(h + 16) == first_index;
}

}  // namespace

std::string LogCut::describe() const {
  return reason + " at index " + std::to_string(index) + " (file " + path + ", offset " +
         std::to_string(offset) + "): dropped " + std::to_string(records_dropped) + " record(s), " +
         std::to_string(bytes_dropped) + " byte(s), " + std::to_string(files_removed) + " file(s)";
}

RaftLog::RaftLog(RaftLogOptions options) : options_(std::move(options)) {}

RaftLog::~RaftLog() {
  release_lock_id();
}

std::set<std::pair<uint64_t, uint64_t>>& RaftLog::locked_logs() {
  static std::set<std::pair<uint64_t, uint64_t>> locked;
  return locked;
}

std::mutex& RaftLog::locked_logs_mutex() {
  static std::mutex mu;
  return mu;
}

void RaftLog::release_lock_id() {
  if (lock_id_.second == 0) return;
  std::lock_guard<std::mutex> g(locked_logs_mutex());
  locked_logs().erase(lock_id_);
  lock_id_ = {0, 0};
}

std::unique_ptr<RaftLog> RaftLog::open(RaftLogOptions options, LogRecovery* recovery) {
  if (options.dir.empty()) throw std::invalid_argument("RaftLog::open: empty dir");
  if (options.max_entry_size > UINT32_MAX - kRecordOverhead) {
    throw std::invalid_argument("RaftLog::open: max_entry_size too large");
  }
  std::unique_ptr<RaftLog> log(new RaftLog(std::move(options)));
  *recovery = LogRecovery{};
  log->recover(recovery);
  return log;
}

std::string RaftLog::segment_path(Index first_index) const {
  std::string digits = std::to_string(first_index);
  return options_.dir + "/" + kSegmentPrefix + std::string(kIndexDigits - digits.size(), '0') +
         digits + kSegmentSuffix;
}

std::string RaftLog::spare_path() const {
  return options_.dir + "/" + kSpareFileName;
}

std::vector<std::string> RaftLog::segment_paths() const {
  std::vector<std::string> paths;
  for (const Segment& s : segments_)
    paths.push_back(s.path);
  return paths;
}

void RaftLog::recover(LogRecovery* rec) {
  const bool sync = options_.fsync_mode == FsyncMode::kAlways;
  const uint32_t max_len = options_.max_entry_size;
  ensure_dir(options_.dir);

  // Two writers appending to one log would interleave records; the second
  // one to open is refused. Across processes this is a POSIX record lock
  // (fcntl), not flock: a record lock belongs to the process and is NOT
  // inherited by fork()ed children, so a snapshot child that outlives a
  // kill -9'ed server cannot keep the restarted server from opening its
  // log. Record locks do not exclude a second opener in the same process, so
  // an in-process registry of locked files does that.
  const std::string lock_path = options_.dir + "/" + kLockFileName;
  lock_ = open_file(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644, nullptr);
  struct stat st;
  if (::fstat(lock_.get(), &st) != 0) throw IoError("fstat", lock_path, IoError::kNoOffset, errno);
  lock_id_ = {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
  {
    std::lock_guard<std::mutex> g(locked_logs_mutex());
    if (!locked_logs().insert(lock_id_).second)
      throw IoError("raft log is already open (by another process or object)", lock_path,
                    IoError::kNoOffset, 0);
  }
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (::fcntl(lock_.get(), F_SETLK, &fl) != 0) {
    int err = errno;
    release_lock_id();
    bool busy = err == EACCES || err == EAGAIN;
    throw IoError(busy ? "raft log is already open (by another process or object)" : "fcntl lock",
                  lock_path, IoError::kNoOffset, busy ? 0 : err);
  }

  // A spare segment left by a crash while it was being filled (or by a run
  // that never rolled into it): its contents are unknown, and a new one is
  // cheap to fill. Never a segment, so nothing of the log is lost.
  remove_file(spare_path(), hook());

  std::vector<std::pair<Index, std::string>> files;
  for (const std::string& name : list_dir(options_.dir)) {
    Index first;
    if (parse_segment_name(name, &first)) files.emplace_back(first, options_.dir + "/" + name);
  }
  std::sort(files.begin(), files.end());

  Index expected = 0;  // index the next record must have; 0 before the first segment
  Term prev_term = 0;
  bool dir_changed = false;

  const Index skip_below = options_.repair ? 0 : options_.skip_below;
  for (size_t k = 0; k < files.size(); ++k) {
    const bool last = k + 1 == files.size();
    const std::string& path = files[k].second;
    if (!last && files[k + 1].first <= skip_below && skippable_segment(path, files[k].first) &&
        (expected == 0 || files[k].first == expected) && files[k + 1].first > files[k].first) {
      // Wholly below skip_below: covered by the caller's snapshot, so only
      // its header is checked. A segment whose header is damaged is read
      // like any other, so that the damage is reported as before.
      Segment seg;
      seg.first_index = files[k].first;
      seg.path = path;
      seg.unread_last = files[k + 1].first - 1;
      expected = files[k + 1].first;
      segments_.push_back(std::move(seg));
      ++rec->skipped_segments;
      continue;
    }
    std::string buf;
    if (!read_file(path, kMaxSegmentRead, &buf)) {
      throw IoError("raft log segment vanished during recovery", path);
    }

    Segment seg;
    seg.first_index = files[k].first;
    seg.path = path;
    Index idx = expected == 0 ? seg.first_index : expected;  // expected at the failure point

    // A failure, if any: where, why, whether it may be a torn write, and
    // (for torn-candidate record damage) where a valid record could resume.
    std::string reason;
    uint64_t fail_off = 0;
    bool torn_candidate = false;
    bool fail_record_invalid = false;  // the record at fail_off does not parse
    size_t scan_from = 0;
    // Where the data ends: the file's size, or in a preallocated segment the
    // start of its zero tail (set below once the header vouches for the flag).
    size_t data_end = buf.size();
    // The bytes that can hold a valid record: a record ends with its
    // checksum, so (unless those 8 bytes are all zero, a 2^-64 chance) no
    // record ends more than 8 bytes past the last non-zero byte. Scanning
    // only this far keeps a damaged preallocated segment from costing a
    // byte-by-byte scan of its whole zero tail.
    const std::string_view scan_buf =
        std::string_view(buf).substr(0, std::min(buf.size(), zero_tail_start(buf) + 8));

    if (buf.size() < kHeaderSize) {
      reason = "file ends inside the segment header";
      torn_candidate = true;
      scan_from = buf.size();
    } else if (std::memcmp(buf.data(), kSegmentMagic, sizeof kSegmentMagic) != 0 ||
               XXH3_64bits(buf.data(), 24) != get_u64(buf.data() + 24)) {
      reason = "bad segment header (magic or checksum)";
      torn_candidate = true;
      scan_from = 1;
      // A preallocated segment whose header never reached the disk is all
      // zeros: those are not data dropped.
      data_end = zero_tail_start(buf);
    } else if (uint32_t v = get_u32(buf.data() + 8); v != kSegmentVersion) {
      reason = "unsupported segment format version " + std::to_string(v);
    } else if (uint32_t f = get_u32(buf.data() + 12); (f & ~kPreallocated) != 0) {
      reason = "unsupported segment flags " + std::to_string(f);
    } else if (Index h = get_u64(buf.data() + 16); h != seg.first_index) {
      reason = "segment header says first index " + std::to_string(h) + " but the file name says " +
               std::to_string(seg.first_index);
    } else if (expected != 0 && seg.first_index != expected) {
      reason = "index sequence error: segment starts at index " + std::to_string(seg.first_index) +
               ", expected " + std::to_string(expected);
    } else {
      idx = seg.first_index;
      if (get_u32(buf.data() + 12) & kPreallocated) {
        seg.preallocated = true;
        data_end = std::max<size_t>(zero_tail_start(buf), kHeaderSize);
      }
      uint64_t off = kHeaderSize;
      while (off < data_end) {
        RecordView r;
        RecordStatus st = parse_record(buf, off, max_len, &r);
        if (st != RecordStatus::kOk) {
          reason = record_status_reason(st);
          fail_off = off;
          fail_record_invalid = true;
          torn_candidate = st != RecordStatus::kBadLength;
          if (st == RecordStatus::kShortRecord) {
            scan_from = buf.size();  // its extent is trusted and runs past the end
          } else if (st == RecordStatus::kBadChecksum) {
            // The head check vouched for the length: a valid record right
            // after this one would prove this is not the final write.
            scan_from = off + kRecordOverhead + get_u32(buf.data() + off);
          } else {
            scan_from = off + 1;
          }
          break;
        }
        if (r.index != idx) {
          reason = "index sequence error: record has index " + std::to_string(r.index) +
                   ", expected " + std::to_string(idx);
          fail_off = off;
          break;
        }
        if (r.term < prev_term) {
          reason = "term goes backwards: " + std::to_string(r.term) + " after " +
                   std::to_string(prev_term);
          fail_off = off;
          break;
        }
        rec->entries.push_back(
            Entry{r.index, r.term, static_cast<EntryType>(r.type), Payload(r.payload)});
        prev_term = r.term;
        off += r.size;
        seg.ends.push_back(off);
        ++idx;
      }
    }

    if (reason.empty() && seg.ends.empty() && last) {
      // We write a header only together with records, so a last segment
      // without any is a torn creation.
      reason = "segment has a header but no records";
      fail_off = kHeaderSize;
      torn_candidate = true;
      scan_from = buf.size();
    }
    if (reason.empty()) {
      if (seg.ends.empty()) {
        // Only a header: harmless, but segments on disk hold records.
        remove_file(path, hook());
        dir_changed = true;
        rec->warnings.push_back("raft log: removed empty segment " + path);
        continue;
      }
      expected = seg.last_index() + 1;
      segments_.push_back(std::move(seg));
      continue;
    }

    // Everything from fail_off on (the whole file if the header is bad) and
    // every later segment would be dropped.
    const bool whole_file = seg.ends.empty();
    LogCut cut;
    cut.path = path;
    cut.offset = whole_file ? 0 : fail_off;
    cut.index = idx;
    cut.reason = reason;
    // The zero tail of a preallocated segment is not data.
    cut.bytes_dropped = std::max<uint64_t>(data_end, cut.offset) - cut.offset;
    cut.files_removed = whole_file ? 1 : 0;
    cut.records_dropped =
        (fail_record_invalid ? 1 : 0) + count_records(scan_buf, fail_off, max_len);

    const bool torn = last && torn_candidate &&
                      (scan_from >= scan_buf.size() ||
                       find_valid_record(scan_buf, scan_from, max_len) == std::string_view::npos);
    if (torn) {
      // A torn write holds no complete record; say so rather than count one.
      cut.records_dropped = 0;
    } else {
      for (size_t j = k + 1; j < files.size(); ++j) {
        std::string later;
        if (read_file(files[j].second, kMaxSegmentRead, &later)) {
          const size_t later_data = std::min(later.size(), zero_tail_start(later) + 8);
          cut.bytes_dropped += later_data;
          if (later.size() >= kHeaderSize) {
            cut.records_dropped +=
                count_records(std::string_view(later).substr(0, later_data), kHeaderSize, max_len);
          }
        }
        cut.files_removed += 1;
      }
      if (!options_.repair) {
        throw IoError("raft log corrupt: " + reason + " at index " + std::to_string(idx) +
                          "; opening with repair would truncate the log here, dropping " +
                          std::to_string(cut.records_dropped) + " record(s) and " +
                          std::to_string(cut.bytes_dropped) + " byte(s) in " +
                          std::to_string(files.size() - k) + " file(s)",
                      path, fail_off);
      }
      // Newest first, so a crash part-way leaves a prefix of the old log.
      for (size_t j = files.size(); j-- > k + 1;)
        remove_file(files[j].second, hook());
    }

    if (whole_file) {
      remove_file(path, hook());
    } else {
      Fd fd = open_file(path, O_RDWR, 0, hook());
      truncate_file(fd.get(), path, cut.offset, hook());
      seg.preallocated = false;  // the zero tail went with the cut
      if (sync) sync_file(fd.get(), path, /*data_only=*/false, hook());
      segments_.push_back(std::move(seg));
    }
    dir_changed = dir_changed || cut.files_removed > 0;
    if (torn) {
      rec->warnings.push_back("raft log: cut torn final write: " + cut.describe());
      rec->torn_tail = cut;
    } else {
      rec->warnings.push_back("raft log: REPAIRED corruption: " + cut.describe());
      rec->repaired = cut;
    }
    break;
  }

  if (dir_changed && sync) sync_dir(options_.dir, hook());
  if (!segments_.empty() && segments_.back().unread_last != 0) {
    // The segments after it were a torn creation and are gone: the one
    // appended to next must be read after all.
    prev_term = read_unread_segment(segments_.back(), &rec->entries);
    --rec->skipped_segments;
  }
  if (!segments_.empty()) {
    open_active();
    last_index_ = segments_.back().last_index();
    last_term_ = prev_term;
    rec->first_index = segments_.front().first_index;
    rec->last_index = last_index_;
  }
}

Term RaftLog::read_unread_segment(Segment& seg, std::vector<Entry>* entries) {
  std::string buf;
  if (!read_file(seg.path, kMaxSegmentRead, &buf))
    throw IoError("raft log segment vanished during recovery", seg.path);
  std::vector<uint64_t> ends;
  Term term = 0;
  uint64_t off = kHeaderSize;
  for (Index i = seg.first_index; i <= seg.unread_last; ++i) {
    RecordView r;
    RecordStatus st = parse_record(buf, off, options_.max_entry_size, &r);
    if (st != RecordStatus::kOk || r.index != i || r.term < term) {
      throw IoError(std::string("raft log corrupt: ") +
                        (st != RecordStatus::kOk ? record_status_reason(st)
                                                 : "index or term sequence error") +
                        " at index " + std::to_string(i),
                    seg.path, off);
    }
    entries->push_back(Entry{r.index, r.term, static_cast<EntryType>(r.type), Payload(r.payload)});
    term = r.term;
    off += r.size;
    ends.push_back(off);
  }
  // Only a preallocated segment may go on past its last record, with zeros.
  const bool preallocated = buf.size() >= kHeaderSize && (get_u32(buf.data() + 12) & kPreallocated);
  if (off != buf.size() && !(preallocated && zero_tail_start(buf) <= off))
    throw IoError("raft log corrupt: bytes after the last record", seg.path, off);
  seg.ends = std::move(ends);
  seg.unread_last = 0;
  seg.preallocated = preallocated && off != buf.size();
  return term;
}

void RaftLog::open_active() {
  active_ = open_file(segments_.back().path, O_RDWR, 0, hook());
}

void RaftLog::check_healthy() const {
  if (failed()) {
    throw IoError("raft log is failed after an earlier error (reopen to recover): " + failure_,
                  options_.dir);
  }
}

void RaftLog::fail(const IoError& e) {
  failure_ = e.what();
  throw e;
}

void RaftLog::append(const std::vector<Entry>& entries) {
  check_healthy();
  if (entries.empty()) return;

  // Validate the whole batch before touching the disk.
  Index want = empty() ? entries.front().index : last_index_ + 1;
  Term term = last_term_;
  if (want == 0) throw std::invalid_argument("RaftLog::append: index 0 is not a log index");
  for (const Entry& e : entries) {
    if (e.index != want) {
      throw std::invalid_argument("RaftLog::append: entry index " + std::to_string(e.index) +
                                  ", expected " + std::to_string(want));
    }
    if (e.term < term) {
      throw std::invalid_argument("RaftLog::append: term " + std::to_string(e.term) + " at index " +
                                  std::to_string(e.index) + " is below " + std::to_string(term));
    }
    if (e.data.size() > options_.max_entry_size) {
      throw std::invalid_argument("RaftLog::append: entry " + std::to_string(e.index) + " has " +
                                  std::to_string(e.data.size()) + " bytes, above the maximum " +
                                  std::to_string(options_.max_entry_size));
    }
    term = e.term;
    ++want;
  }

  // Also roll early into a ready spare from a segment that grows with each
  // batch (the first one, or one cut by a truncation): otherwise a new node
  // would pay the size commit on every fdatasync for its first 64 MB.
  const bool roll = empty() || segments_.back().size() >= options_.segment_size ||
                    (spare_ready_ && !segments_.back().preallocated);
  // A roll takes the spare segment when it is complete (zeros durable).
  const bool use_spare = roll && spare_ready_;
  const std::string header =
      roll ? encode_segment_header(entries.front().index, use_spare ? kPreallocated : 0)
           : std::string();
  const uint64_t base = roll ? 0 : segments_.back().size();
  size_t need = header.size();
  for (const Entry& e : entries)
    need += kRecordOverhead + e.data.size();
  reserve_encode_buffer(need);
  encode_buf_.append(header);
  std::vector<uint64_t> ends;
  ends.reserve(entries.size());
  for (const Entry& e : entries) {
    encode_record(&encode_buf_, e);
    ends.push_back(base + encode_buf_.size());
  }

  if (roll) {
    // Seal the old segment first: a torn write may only ever be in the last one.
    if (!empty() && unsynced_ && options_.fsync_mode == FsyncMode::kAlways) {
      try {
        sync_file(active_.get(), segments_.back().path, /*data_only=*/true, hook());
      } catch (const IoError& e) {
        fail(e);
      }
      unsynced_ = false;
    }
    Segment seg;
    seg.first_index = entries.front().index;
    seg.path = segment_path(seg.first_index);
    Fd fd;
    try {
      if (use_spare) {
        // No file has this name: the segments on disk are exactly
        // segments_, and they all end below this index. The rename is made
        // durable by the directory fsync of the next sync(), before which
        // the batch is not reported durable.
        rename_file(spare_path(), seg.path, hook());
        fd = std::move(spare_);
        spare_ready_ = false;
        spare_filled_ = 0;
        spare_flushed_ = 0;
      } else {
        fd = open_file(seg.path, O_RDWR | O_CREAT | O_EXCL, 0644, hook());
      }
      write_at(fd.get(), seg.path, 0, encode_buf_, hook());
    } catch (const IoError& e) {
      if (fd.valid()) {
        // Nothing in the new file is referenced yet: remove it entirely.
        fd.reset();
        try {
          remove_file(seg.path, hook());
        } catch (const IoError& e2) {
          fail(IoError(
              std::string(e.what()) + "; and removing the partial segment failed: " + e2.what(),
              seg.path));
        }
      }
      fail(e);
    }
    seg.ends = std::move(ends);
    seg.preallocated = use_spare;
    segments_.push_back(std::move(seg));
    active_ = std::move(fd);
    dir_unsynced_ = true;
  } else {
    Segment& seg = segments_.back();
    try {
      write_at(active_.get(), seg.path, base, encode_buf_, hook());
    } catch (const IoError& e) {
      // Cut a partial batch back to the last good record boundary so the file
      // stays a valid log even though we stop here.
      try {
        truncate_file(active_.get(), seg.path, base, hook());
      } catch (const IoError& e2) {
        fail(IoError(std::string(e.what()) + "; and cutting back to offset " +
                         std::to_string(base) + " failed: " + e2.what(),
                     seg.path, base));
      }
      fail(e);
    }
    seg.ends.insert(seg.ends.end(), ends.begin(), ends.end());
  }
  appended_since_sync_ += encode_buf_.size();
  if (encode_buf_.capacity() > kMaxRetainedBuffer) std::string().swap(encode_buf_);
  buffer_bytes_.store(raft::string_heap_bytes(encode_buf_), std::memory_order_relaxed);
  unsynced_ = true;
  last_batch_records_ = entries.size();
  last_index_ = entries.back().index;
  last_term_ = entries.back().term;
}

// The loop thread subtracts buffer_bytes() from the heap count
// (storage::heap_used_bytes) to get the memory maxmemory counts, while this
// runs on the disk thread. So buffer_bytes() must never be below the heap
// the buffer holds, or a sample taken meanwhile sees the buffer as keyspace
// memory: growing a 0.8 MB buffer to 1.7 MB for a follower's catch-up batch
// used to count the new block (and, during the copy, the old one) for as
// long as the disk thread was preempted before publishing the new size —
// on a loaded machine, followers sampled at 1.09-1.18 x maxmemory
// (tests/unit/storage_raft_log_memory_test.cc). Hence the order: the old
// block is freed before the lower figure would matter (the count only
// drops), the new size is published before the block is allocated, and the
// exact figure after. The reader loads the heap count first (INFO,
// Evictor::used_for_eviction), so it never pairs a grown heap with the
// older, smaller buffer_bytes().
void RaftLog::reserve_encode_buffer(size_t need) {
  encode_buf_.clear();
  if (encode_buf_.capacity() < need) {
    std::string().swap(encode_buf_);
    buffer_bytes_.store(raft::string_heap_bytes_for_capacity(need), std::memory_order_seq_cst);
    encode_buf_.reserve(need);  // from empty: exactly `need` in libstdc++
  }
  buffer_bytes_.store(raft::string_heap_bytes(encode_buf_), std::memory_order_seq_cst);
}

void RaftLog::sync() {
  check_healthy();
  if (options_.fsync_mode == FsyncMode::kNever) {
    unsynced_ = false;
    dir_unsynced_ = false;
    appended_since_sync_ = 0;
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  try {
    if (unsynced_ && active_.valid()) {
      sync_file(active_.get(), segments_.back().path, /*data_only=*/true, hook());
    }
    unsynced_ = false;
    if (dir_unsynced_) sync_dir(options_.dir, hook());
    dir_unsynced_ = false;
  } catch (const IoError& e) {
    fail(e);
  }
  const auto spent = std::chrono::steady_clock::now() - start;
  sync_usec_.fetch_add(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(spent).count()),
      std::memory_order_relaxed);
  // After the batch is durable, so the step never delays its fdatasync.
  if (options_.preallocate && preallocation_error_.empty() && !spare_ready_) {
    fill_spare(appended_since_sync_);
  }
  appended_since_sync_ = 0;
}

// Paced at twice the bytes appended: the spare is complete when the active
// segment is about half full, whatever the write rate (and a log written
// slowly writes its zeros slowly), and a step costs a copy into the page
// cache, not a disk wait. The writeback is started per kFillFlushBytes so
// the final fsync (which makes the file's size and blocks durable, so that
// later fdatasyncs need not) waits for little.
void RaftLog::fill_spare(uint64_t appended) {
  static const std::string zeros(kGrowingFillStep, '\0');
  const uint64_t floor =
      !segments_.empty() && segments_.back().preallocated ? kMinFillStep : kGrowingFillStep;
  const uint64_t size = options_.segment_size;
  const std::string path = spare_path();
  try {
    if (!spare_.valid()) {
      spare_ = open_file(path, O_RDWR | O_CREAT | O_TRUNC, 0644, hook());
      spare_filled_ = 0;
      spare_flushed_ = 0;
    }
    const uint64_t step =
        std::min(size - spare_filled_, std::clamp(2 * appended, floor, kMaxFillStep));
    for (uint64_t done = 0; done < step;) {
      const uint64_t n = std::min<uint64_t>(step - done, zeros.size());
      write_at(spare_.get(), path, spare_filled_, std::string_view(zeros).substr(0, n), hook());
      spare_filled_ += n;
      done += n;
    }
    if (spare_filled_ - spare_flushed_ >= kFillFlushBytes || spare_filled_ == size) {
      // Only a hint to start writing; errors surface in the fsync below.
      ::sync_file_range(spare_.get(), static_cast<off_t>(spare_flushed_),
                        static_cast<off_t>(spare_filled_ - spare_flushed_), SYNC_FILE_RANGE_WRITE);
      spare_flushed_ = spare_filled_;
    }
    if (spare_filled_ == size) {
      sync_file(spare_.get(), path, /*data_only=*/false, hook());
      spare_ready_ = true;
    }
  } catch (const IoError& e) {
    preallocation_error_ = e.what();
    spare_.reset();
    spare_filled_ = 0;
    spare_flushed_ = 0;
    try {
      remove_file(path, hook());
    } catch (const IoError&) {
      // A leftover spare is deleted by the next open().
    }
  }
}

void RaftLog::reload_last_term() {
  if (empty()) {
    last_index_ = 0;
    last_term_ = 0;
    return;
  }
  const Segment& seg = segments_.back();
  last_index_ = seg.last_index();
  const uint64_t start = seg.ends.size() > 1 ? seg.ends[seg.ends.size() - 2] : kHeaderSize;
  char head[kRecordHeadSize];
  ssize_t n = ::pread(active_.get(), head, sizeof head, static_cast<off_t>(start));
  if (n != static_cast<ssize_t>(sizeof head)) {
    fail(IoError("reading the last record header failed", seg.path, start, n < 0 ? errno : EIO));
  }
  last_term_ = get_u64(head + 12);
}

void RaftLog::truncate_suffix(Index from_index) {
  last_batch_records_ = 0;
  check_healthy();
  if (from_index == 0) throw std::invalid_argument("RaftLog::truncate_suffix: index 0");
  if (empty() || from_index > last_index_) return;
  // The segment that ends up last must have been read: it is cut at a
  // record boundary and appended to (unread ones only ever go whole).
  for (const Segment& seg : segments_) {
    if (seg.first_index < from_index && seg.last_index() + 1 >= from_index &&
        seg.unread_last != 0) {
      throw std::logic_error("RaftLog::truncate_suffix(" + std::to_string(from_index) +
                             ") would leave unread segment " + seg.path + " last");
    }
  }
  const bool sync = options_.fsync_mode == FsyncMode::kAlways;
  try {
    bool deleted = false;
    // Newest first, so a crash part-way leaves a prefix of the old log.
    while (!segments_.empty() && segments_.back().first_index >= from_index) {
      active_.reset();
      remove_file(segments_.back().path, hook());
      segments_.pop_back();
      deleted = true;
    }
    if (!segments_.empty()) {
      if (!active_.valid()) open_active();
      Segment& seg = segments_.back();
      if (seg.last_index() >= from_index) {
        const size_t keep = static_cast<size_t>(from_index - seg.first_index);
        const uint64_t cut_at = seg.ends[keep - 1];
        truncate_file(active_.get(), seg.path, cut_at, hook());
        seg.ends.resize(keep);
        seg.preallocated = false;  // the zero tail went with the cut
        if (sync) sync_file(active_.get(), seg.path, /*data_only=*/true, hook());
      }
    }
    if (deleted && sync) sync_dir(options_.dir, hook());
  } catch (const IoError& e) {
    fail(e);
  }
  if (sync) {
    unsynced_ = false;  // the cut file was synced; any earlier one was sealed at roll
    dir_unsynced_ = false;
  }
  reload_last_term();
}

size_t RaftLog::drop_prefix(Index up_to_index, std::vector<std::string>* unlink_later) {
  check_healthy();
  size_t dropped = 0;
  try {
    while (!segments_.empty() && segments_.front().last_index() <= up_to_index) {
      if (segments_.size() == 1) active_.reset();
      if (unlink_later != nullptr)
        unlink_later->push_back(segments_.front().path);
      else
        remove_file(segments_.front().path, hook());
      segments_.erase(segments_.begin());
      ++dropped;
    }
    if (dropped > 0 && unlink_later == nullptr && options_.fsync_mode == FsyncMode::kAlways) {
      sync_dir(options_.dir, hook());
      dir_unsynced_ = false;
    }
  } catch (const IoError& e) {
    fail(e);
  }
  if (empty()) {
    unsynced_ = false;
    last_index_ = 0;
    last_term_ = 0;
  }
  return dropped;
}

RaftLog::Extent RaftLog::last_append_extent() const {
  if (empty()) throw std::logic_error("RaftLog::last_append_extent: the log is empty");
  const Segment& seg = segments_.back();
  Extent x;
  x.last = last_index_;
  x.path = seg.path;
  // The batch is the records after the ones the segment had before it;
  // last_batch_records_ counts them (set by append, cleared by truncation).
  if (last_batch_records_ == 0 || last_batch_records_ > seg.ends.size())
    throw std::logic_error("RaftLog::last_append_extent: no append since the last truncation");
  const size_t k = seg.ends.size() - last_batch_records_;
  x.first = seg.first_index + k;
  x.start = k == 0 ? kHeaderSize : seg.ends[k - 1];
  x.new_segment = k == 0;
  return x;
}

std::vector<RaftLog::Extent> RaftLog::extents_from(Index from, size_t max_entries) const {
  std::vector<Extent> out;
  if (max_entries == 0) max_entries = 1;
  for (const Segment& seg : segments_) {
    if (seg.last_index() < from) continue;
    if (seg.unread_last != 0)
      throw std::logic_error("RaftLog::extents_from: segment " + seg.path +
                             " was not read at open");
    for (Index a = std::max(from, seg.first_index); a <= seg.last_index(); a += max_entries) {
      const size_t ia = static_cast<size_t>(a - seg.first_index);
      Extent x;
      x.first = a;
      x.last = std::min<Index>(seg.last_index(), a + max_entries - 1);
      x.path = seg.path;
      x.start = ia == 0 ? kHeaderSize : seg.ends[ia - 1];
      x.new_segment = ia == 0;
      out.push_back(std::move(x));
    }
  }
  return out;
}

void RaftLog::read_extent(int fd, const std::string& path, uint64_t start, Index first, Index lo,
                          Index hi, uint32_t max_entry_size,
                          const std::function<bool(Entry&&)>& take) {
  constexpr size_t kChunk = size_t{64} << 10;
  std::string buf;
  uint64_t buf_at = start;  // file offset of buf[0]
  size_t off = 0;
  for (Index want = first; want <= hi;) {
    RecordView r;
    RecordStatus st = parse_record(buf, off, max_entry_size, &r);
    if (st == RecordStatus::kShortHeader || st == RecordStatus::kShortRecord) {
      // Need more bytes: keep the unparsed tail and read the next chunk.
      buf.erase(0, off);
      buf_at += off;
      off = 0;
      const size_t have = buf.size();
      buf.resize(have + kChunk);
      ssize_t n;
      do {
        n = ::pread(fd, buf.data() + have, kChunk, static_cast<off_t>(buf_at + have));
      } while (n < 0 && errno == EINTR);
      if (n < 0) throw IoError("read", path, buf_at + have, errno);
      buf.resize(have + static_cast<size_t>(n));
      if (n == 0) {
        throw IoError("raft log ends before index " + std::to_string(want) + " on read", path,
                      buf_at + have);
      }
      continue;
    }
    if (st != RecordStatus::kOk || r.index != want) {
      throw IoError(
          std::string("raft log corrupt on read: ") +
              (st != RecordStatus::kOk ? record_status_reason(st) : "index sequence error") +
              " at index " + std::to_string(want),
          path, buf_at + off);
    }
    off += r.size;
    ++want;
    if (r.index >= lo &&
        !take(Entry{r.index, r.term, static_cast<EntryType>(r.type), Payload(r.payload)}))
      return;
  }
}

std::vector<Entry> RaftLog::read(Index lo, Index hi) const {
  if (empty() || lo < first_index() || hi > last_index_ || lo > hi) {
    throw std::invalid_argument("RaftLog::read: [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "] is outside the log [" +
                                std::to_string(first_index()) + ", " + std::to_string(last_index_) +
                                "]");
  }
  std::vector<Entry> out;
  out.reserve(static_cast<size_t>(hi - lo + 1));
  for (const Segment& seg : segments_) {
    if (seg.last_index() < lo || seg.first_index > hi) continue;
    if (seg.unread_last != 0)
      throw std::logic_error("RaftLog::read: segment " + seg.path + " was not read at open");
    const Index a = std::max(lo, seg.first_index);
    const Index b = std::min(hi, seg.last_index());
    const size_t ia = static_cast<size_t>(a - seg.first_index);
    const size_t ib = static_cast<size_t>(b - seg.first_index);
    const uint64_t start = ia == 0 ? kHeaderSize : seg.ends[ia - 1];
    const uint64_t end = seg.ends[ib];
    std::string buf(static_cast<size_t>(end - start), '\0');
    Fd fd = open_file(seg.path, O_RDONLY, 0, nullptr);
    size_t done = 0;
    while (done < buf.size()) {
      ssize_t n =
          ::pread(fd.get(), buf.data() + done, buf.size() - done, static_cast<off_t>(start + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw IoError("read", seg.path, start + done, n < 0 ? errno : EIO);
      done += static_cast<size_t>(n);
    }
    size_t off = 0;
    for (Index i = a; i <= b; ++i) {
      RecordView r;
      RecordStatus st = parse_record(buf, off, options_.max_entry_size, &r);
      if (st != RecordStatus::kOk || r.index != i) {
        throw IoError(
            std::string("raft log corrupt on read: ") +
                (st != RecordStatus::kOk ? record_status_reason(st) : "index sequence error") +
                " at index " + std::to_string(i),
            seg.path, start + off);
      }
      out.push_back(Entry{r.index, r.term, static_cast<EntryType>(r.type), Payload(r.payload)});
      off += r.size;
    }
  }
  return out;
}

}  // namespace kvraft::storage
