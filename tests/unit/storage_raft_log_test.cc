// tests/unit/storage_raft_log_test.cc — the segmented Raft log on disk:
// round trips across reopen, rolling, suffix truncation and prefix drops;
// recovery from a cut at every byte of the tail and from a bit flip at every
// bit of the files; repair; the failed state under injected I/O errors; and
// (on request) a group-commit throughput measurement.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include <xxhash.h>

#include "storage/raft_log.h"
#include "tests/support/test_support.h"

using kvraft::raft::Entry;
using kvraft::raft::EntryType;
using kvraft::raft::Index;
using kvraft::raft::Term;
using kvraft::storage::FsyncMode;
using kvraft::storage::IoError;
using kvraft::storage::IoFault;
using kvraft::storage::IoOp;
using kvraft::storage::LogRecovery;
using kvraft::storage::RaftLog;
using kvraft::storage::RaftLogOptions;

namespace {

namespace fs = std::filesystem;

constexpr uint64_t kHeader = RaftLog::kSegmentHeaderSize;
constexpr uint64_t kOverhead = RaftLog::kRecordOverhead;

// Payload of entry `index`: varied sizes (including empty) and bytes, so that
// record boundaries fall at irregular offsets.
std::string payload_for(Index index) {
  std::string s;
  size_t len = (index * 7) % 23;
  for (size_t i = 0; i < len; ++i)
    s.push_back(static_cast<char>((index * 31 + i * 17) & 0xff));
  return s;
}

std::vector<Entry> make_entries(Index first, size_t count, Term term) {
  std::vector<Entry> out;
  for (size_t i = 0; i < count; ++i) {
    Index idx = first + i;
    out.push_back(Entry{idx, term, idx % 5 == 0 ? EntryType::kConfChange : EntryType::kNormal,
                        payload_for(idx)});
  }
  return out;
}

uint64_t record_size(const Entry& e) {
  return kOverhead + e.data.size();
}

RaftLogOptions options_for(const kvraft::test::TempDir& dir, uint64_t segment_size = 1 << 20) {
  RaftLogOptions o;
  o.dir = dir.path();
  o.segment_size = segment_size;
  return o;
}

std::unique_ptr<RaftLog> open_log(const RaftLogOptions& o, LogRecovery* rec) {
  return RaftLog::open(o, rec);
}

std::string slurp(const std::string& path) {
  return kvraft::test::read_file(path);
}

// Overwrites a file in place. Not truncate-then-write: ext4 flushes a file
// that is truncated to zero and rewritten on close, which would make the
// exhaustive loops below crawl.
void write_raw(const std::string& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::pwrite(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size()));
  REQUIRE(::ftruncate(fd, static_cast<off_t>(bytes.size())) == 0);
  ::close(fd);
}

// Names of the segment files in `dir`, sorted.
std::vector<std::string> segment_files(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The segment files of the log `o` describes, as opening it finds them.
std::vector<std::string> segment_paths(const RaftLogOptions& o) {
  LogRecovery rec;
  return open_log(o, &rec)->segment_paths();
}

// Builds a log of `batches` (each a count of entries, all term 1 + batch/2)
// and returns every entry written.
std::vector<Entry> build_log(const RaftLogOptions& o, const std::vector<size_t>& batches) {
  LogRecovery rec;
  auto log = open_log(o, &rec);
  std::vector<Entry> all = rec.entries;
  Index next = log->last_index() + 1;
  for (size_t b = 0; b < batches.size(); ++b) {
    auto batch = make_entries(next, batches[b], 1 + b / 2);
    log->append(batch);
    log->sync();
    all.insert(all.end(), batch.begin(), batch.end());
    next += batches[b];
  }
  return all;
}

std::vector<Entry> prefix(const std::vector<Entry>& v, size_t n) {
  return std::vector<Entry>(v.begin(), v.begin() + static_cast<long>(n));
}

}  // namespace

TEST_CASE("an empty directory opens as an empty log") {
  kvraft::test::TempDir dir;
  LogRecovery rec;
  auto log = open_log(options_for(dir), &rec);
  CHECK(log->empty());
  CHECK(log->first_index() == 0);
  CHECK(log->last_index() == 0);
  CHECK(rec.entries.empty());
  CHECK(rec.warnings.empty());
  CHECK_FALSE(rec.torn_tail.has_value());
  CHECK(segment_files(dir.path()).empty());
}

TEST_CASE("a second open of the same log is refused while the first is open") {
  kvraft::test::TempDir dir;
  LogRecovery rec;
  auto first = open_log(options_for(dir), &rec);
  first->append(make_entries(1, 1, 1));
  first->sync();
  LogRecovery rec2;
  CHECK_THROWS_WITH_AS(open_log(options_for(dir), &rec2), doctest::Contains("already open"),
                       IoError);
  first.reset();
  auto again = open_log(options_for(dir), &rec2);
  CHECK(rec2.last_index == 1);
}

TEST_CASE("appended batches read back identically after reopen") {
  kvraft::test::TempDir dir;
  std::vector<Entry> all = build_log(options_for(dir), {1, 16, 3, 40});
  LogRecovery rec;
  auto log = open_log(options_for(dir), &rec);
  CHECK(rec.entries == all);
  CHECK(rec.first_index == 1);
  CHECK(rec.last_index == 60);
  CHECK(rec.warnings.empty());
  CHECK(log->last_index() == 60);
  CHECK(log->last_term() == all.back().term);
  CHECK(log->read(1, 60) == all);
  CHECK(log->read(17, 19) == std::vector<Entry>(all.begin() + 16, all.begin() + 19));
  // And the log continues where it left off.
  auto more = make_entries(61, 5, all.back().term);
  log->append(more);
  log->sync();
  all.insert(all.end(), more.begin(), more.end());
  log.reset();
  LogRecovery rec2;
  open_log(options_for(dir), &rec2);
  CHECK(rec2.entries == all);
}

TEST_CASE("a log may start at any index and keeps large payloads intact") {
  kvraft::test::TempDir dir;
  {
    LogRecovery rec;
    auto log = open_log(options_for(dir), &rec);
    std::vector<Entry> batch = {Entry{1000, 7, EntryType::kNormal, std::string(100000, 'x')},
                                Entry{1001, 7, EntryType::kNormal, ""}};
    log->append(batch);
    log->sync();
    CHECK(log->first_index() == 1000);
  }
  LogRecovery rec;
  auto log = open_log(options_for(dir), &rec);
  REQUIRE(rec.entries.size() == 2);
  CHECK(rec.first_index == 1000);
  CHECK(rec.entries[0].data == std::string(100000, 'x'));
  CHECK(rec.entries[1].data.empty());
}

TEST_CASE("append rejects a gap, a backwards term, index 0 and an oversized entry untouched") {
  kvraft::test::TempDir dir;
  RaftLogOptions o = options_for(dir);
  o.max_entry_size = 64;
  LogRecovery rec;
  auto log = open_log(o, &rec);
  CHECK_THROWS_AS(log->append({Entry{0, 1, EntryType::kNormal, ""}}), std::invalid_argument);
  log->append(make_entries(1, 3, 2));
  CHECK_THROWS_AS(log->append(make_entries(5, 1, 2)), std::invalid_argument);
  CHECK_THROWS_AS(log->append(make_entries(3, 1, 2)), std::invalid_argument);
  CHECK_THROWS_AS(log->append(make_entries(4, 1, 1)), std::invalid_argument);
  CHECK_THROWS_AS(log->append({Entry{4, 2, EntryType::kNormal, std::string(65, 'a')}}),
                  std::invalid_argument);
  // A batch that goes wrong half-way writes nothing at all.
  std::vector<Entry> bad = make_entries(4, 3, 2);
  bad[2].index = 9;
  CHECK_THROWS_AS(log->append(bad), std::invalid_argument);
  CHECK_FALSE(log->failed());
  CHECK(log->last_index() == 3);
  log->append(make_entries(4, 1, 3));
  log->sync();
  log.reset();
  LogRecovery rec2;
  open_log(o, &rec2);
  CHECK(rec2.last_index == 4);
}

TEST_CASE("segments roll at the size limit and each batch stays in one file") {
  kvraft::test::TempDir dir;
  const uint64_t limit = 200;
  RaftLogOptions o = options_for(dir, limit);
  std::vector<size_t> batches = {1, 2, 1, 5, 1, 1, 3, 1, 1, 2, 1, 1, 1};
  std::vector<Entry> all = build_log(o, batches);
  LogRecovery rec;
  auto log = open_log(o, &rec);
  CHECK(rec.entries == all);
  auto names = segment_files(dir.path());
  CHECK(names.size() == log->segment_count());
  CHECK(names.size() > 3);
  // Every segment starts with a batch: its name is a batch's first index, and
  // only its last batch may take it past the limit.
  Index batch_start = 1;
  std::vector<Index> starts;
  for (size_t b : batches) {
    starts.push_back(batch_start);
    batch_start += b;
  }
  const std::vector<std::string> paths = log->segment_paths();
  for (size_t k = 0; k < paths.size(); ++k) {
    std::string name = fs::path(paths[k]).filename().string();
    CAPTURE(name);
    Index first = std::stoull(name.substr(4, 20));
    CHECK(std::find(starts.begin(), starts.end(), first) != starts.end());
    const uint64_t size = fs::file_size(paths[k]);
    CHECK(size > kHeader);
    // The file holds whole batches; before its last batch it was under the
    // limit (else that batch would have rolled), and a segment that was
    // followed by another had reached the limit.
    Index last = k + 1 < paths.size()
                     ? std::stoull(fs::path(paths[k + 1]).filename().string().substr(4, 20)) - 1
                     : all.back().index;
    Index last_batch = *std::prev(std::upper_bound(starts.begin(), starts.end(), last));
    CHECK(last_batch >= first);
    uint64_t before_last_batch = kHeader;
    for (Index i = first; i < last_batch; ++i)
      before_last_batch += record_size(all[i - 1]);
    CHECK(before_last_batch < limit);
    if (k + 1 < paths.size()) CHECK(size >= limit);
    uint64_t expect_size = before_last_batch;
    for (Index i = last_batch; i <= last; ++i)
      expect_size += record_size(all[i - 1]);
    CHECK(size == expect_size);
  }
  CHECK(names.front() == "log-00000000000000000001.seg");
  CHECK(log->read(1, log->last_index()) == all);
}

TEST_CASE("sync does one fdatasync per batch and a directory fsync only after a new segment") {
  kvraft::test::TempDir dir;
  std::map<IoOp, int> calls;
  RaftLogOptions o = options_for(dir, 300);
  o.fault_hook = [&](IoOp op, const std::string&, size_t) {
    ++calls[op];
    return IoFault{};
  };
  LogRecovery rec;
  auto log = open_log(o, &rec);
  calls.clear();
  log->append(make_entries(1, 4, 1));  // creates the first segment
  log->sync();
  CHECK(calls[IoOp::kWrite] == 1);
  CHECK(calls[IoOp::kSync] == 1);
  CHECK(calls[IoOp::kDirSync] == 1);
  calls.clear();
  log->append(make_entries(5, 16, 1));  // same segment
  log->sync();
  CHECK(calls[IoOp::kWrite] == 1);
  CHECK(calls[IoOp::kSync] == 1);
  CHECK(calls[IoOp::kDirSync] == 0);
  calls.clear();
  log->append(make_entries(21, 2, 1));  // over the limit: rolls
  log->sync();
  CHECK(log->segment_count() == 2);
  CHECK(calls[IoOp::kWrite] == 1);
  CHECK(calls[IoOp::kSync] == 1);  // the old segment was already synced
  CHECK(calls[IoOp::kDirSync] == 1);
  calls.clear();
  log->sync();  // nothing new
  CHECK(calls[IoOp::kSync] == 0);
  CHECK(calls[IoOp::kDirSync] == 0);
}

TEST_CASE("truncate_suffix and drop_prefix are durable when they return") {
  kvraft::test::TempDir dir;
  std::vector<IoOp> ops;
  RaftLogOptions o = options_for(dir, 150);
  o.fault_hook = [&](IoOp op, const std::string&, size_t) {
    ops.push_back(op);
    return IoFault{};
  };
  build_log(o, {4, 3, 3});
  LogRecovery rec;
  auto log = open_log(o, &rec);
  REQUIRE(log->segment_count() == 3);
  ops.clear();
  log->truncate_suffix(6);  // deletes [8,10], cuts [5,7] after 5
  CHECK(ops == std::vector<IoOp>{IoOp::kUnlink, IoOp::kOpen, IoOp::kTruncate, IoOp::kSync,
                                 IoOp::kDirSync});
  ops.clear();
  log->drop_prefix(4);
  CHECK(ops == std::vector<IoOp>{IoOp::kUnlink, IoOp::kDirSync});
  ops.clear();
  log->sync();  // nothing left to do
  CHECK(ops.empty());
}

TEST_CASE("a record longer than the configured maximum is corruption, not a torn tail") {
  kvraft::test::TempDir dir;
  RaftLogOptions o = options_for(dir);
  build_log(o, {1});
  o.max_entry_size = 3;  // entry 1 has a 7-byte payload
  LogRecovery rec;
  CHECK_THROWS_WITH_AS(open_log(o, &rec), doctest::Contains("above the maximum entry size"),
                       IoError);
}

TEST_CASE("fsync mode never writes but never syncs") {
  kvraft::test::TempDir dir;
  int syncs = 0;
  RaftLogOptions o = options_for(dir, 100);
  o.fsync_mode = FsyncMode::kNever;
  o.fault_hook = [&](IoOp op, const std::string&, size_t) {
    if (op == IoOp::kSync || op == IoOp::kDirSync) ++syncs;
    return IoFault{};
  };
  std::vector<Entry> all = build_log(o, {3, 3, 3, 3});
  CHECK(syncs == 0);
  LogRecovery rec;
  auto log = open_log(o, &rec);
  CHECK(rec.entries == all);
  log->truncate_suffix(5);
  log->drop_prefix(3);
  CHECK(syncs == 0);
}

TEST_CASE("truncate_suffix cuts inside a segment, deletes later ones, and survives reopen") {
  kvraft::test::TempDir dir;
  RaftLogOptions o = options_for(dir, 150);
  std::vector<Entry> all = build_log(o, {2, 2, 2, 2, 2, 2, 2, 2});
  {
    LogRecovery rec;
    auto log = open_log(o, &rec);
    const size_t before = log->segment_count();
    REQUIRE(before >= 4);
    log->truncate_suffix(8);  // inside some segment in the middle
    CHECK(log->last_index() == 7);
    CHECK(log->last_term() == all[6].term);
    CHECK(log->segment_count() < before);
    CHECK(log->read(1, 7) == prefix(all, 7));
    // The conflicting suffix is replaced by entries of a newer term.
    auto fresh = make_entries(8, 3, 9);
    log->append(fresh);
    log->sync();
    all = prefix(all, 7);
    all.insert(all.end(), fresh.begin(), fresh.end());
  }
  {
    LogRecovery rec;
    auto log = open_log(o, &rec);
    CHECK(rec.entries == all);
    CHECK(rec.warnings.empty());
    // A truncation point exactly at a segment's first index deletes the
    // segment file rather than leaving it empty.
    std::vector<std::string> paths = log->segment_paths();
    std::string second = fs::path(paths[1]).filename().string();
    Index second_first = std::stoull(second.substr(4, 20));
    log->truncate_suffix(second_first);
    CHECK(log->segment_count() == 1);
    CHECK(log->last_index() == second_first - 1);
    CHECK(segment_files(dir.path()).size() == 1);
    log->truncate_suffix(log->last_index() + 5);  // past the end: no-op
    CHECK(log->last_index() == second_first - 1);
    all = prefix(all, second_first - 1);
  }
  {
    LogRecovery rec;
    auto log = open_log(o, &rec);
    CHECK(rec.entries == all);
    log->truncate_suffix(1);  // everything
    CHECK(log->empty());
    CHECK(segment_files(dir.path()).empty());
    log->append(make_entries(1, 2, 10));
    log->sync();
  }
  LogRecovery rec;
  open_log(o, &rec);
  CHECK(rec.entries == make_entries(1, 2, 10));
}

TEST_CASE("drop_prefix deletes only segments whose every entry is covered") {
  kvraft::test::TempDir dir;
  RaftLogOptions o = options_for(dir, 120);
  std::vector<Entry> all = build_log(o, {3, 3, 3, 3, 3});  // one batch per segment
  LogRecovery rec;
  auto log = open_log(o, &rec);
  REQUIRE(log->segment_count() == 5);
  CHECK(log->drop_prefix(2) == 0);  // segment [1,3] is only partly covered
  CHECK(log->first_index() == 1);
  CHECK(log->drop_prefix(3) == 1);
  CHECK(log->first_index() == 4);
  CHECK(log->drop_prefix(8) == 1);  // [4,6] goes, [7,9] stays
  CHECK(log->first_index() == 7);
  CHECK(log->read(7, 15) == std::vector<Entry>(all.begin() + 6, all.end()));
  log.reset();
  {
    LogRecovery r2;
    auto reopened = open_log(o, &r2);
    CHECK(r2.first_index == 7);
    CHECK(r2.entries == std::vector<Entry>(all.begin() + 6, all.end()));
    // A snapshot beyond the end of the log (InstallSnapshot) empties it, and
    // the log then continues after the snapshot.
    CHECK(reopened->drop_prefix(100) == 3);
    CHECK(reopened->empty());
    CHECK(reopened->last_index() == 0);
    reopened->append(make_entries(101, 4, 8));
    reopened->sync();
  }
  LogRecovery r3;
  auto log3 = open_log(o, &r3);
  CHECK(r3.first_index == 101);
  CHECK(r3.entries == make_entries(101, 4, 8));
  CHECK(segment_files(dir.path()) == std::vector<std::string>{"log-00000000000000000101.seg"});
}

TEST_CASE("random appends, truncations, prefix drops and reopens match an in-memory model") {
  for (uint64_t seed : {1u, 2u, 3u}) {
    CAPTURE(seed);
    kvraft::test::TempDir dir;
    std::mt19937_64 rng(seed);
    auto pick = [&](uint64_t lo, uint64_t hi) {  // inclusive
      return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
    };
    RaftLogOptions o = options_for(dir, pick(64, 600));
    o.fsync_mode = FsyncMode::kNever;  // hundreds of operations; durability is tested above
    std::vector<Entry> model;          // exactly what the log should hold
    Term term = 1;
    LogRecovery rec;
    auto log = open_log(o, &rec);
    for (int step = 0; step < 400; ++step) {
      CAPTURE(step);
      const uint64_t op = pick(0, 99);
      if (op < 55) {
        Index next = model.empty() ? pick(1, 1000) : model.back().index + 1;
        if (pick(0, 9) == 0) ++term;
        std::vector<Entry> batch;
        for (uint64_t i = 0, n = pick(1, 20); i < n; ++i) {
          std::string data(pick(0, 120), '\0');
          for (char& c : data)
            c = static_cast<char>(pick(0, 255));
          batch.push_back(Entry{next + i, term, EntryType::kNormal, data});
        }
        log->append(batch);
        log->sync();
        model.insert(model.end(), batch.begin(), batch.end());
      } else if (op < 70 && !model.empty()) {
        Index from = pick(model.front().index, model.back().index + 2);
        log->truncate_suffix(from);
        while (!model.empty() && model.back().index >= from)
          model.pop_back();
      } else if (op < 80 && !model.empty()) {
        Index up_to = pick(model.front().index, model.back().index + 3);
        log->drop_prefix(up_to);
        if (log->empty()) {
          CHECK(up_to >= model.back().index);
          model.clear();
        } else {
          // Whole segments only: what stays starts at or before up_to + 1.
          CHECK(log->first_index() <= up_to + 1);
          CHECK(log->first_index() >= model.front().index);
          model.erase(model.begin(),
                      model.begin() + static_cast<long>(log->first_index() - model.front().index));
        }
      } else {
        log.reset();
        log = open_log(o, &rec);
        REQUIRE(rec.entries == model);
        CHECK(rec.warnings.empty());
      }
      REQUIRE(log->empty() == model.empty());
      if (!model.empty()) {
        REQUIRE(log->first_index() == model.front().index);
        REQUIRE(log->last_index() == model.back().index);
        REQUIRE(log->last_term() == model.back().term);
      }
      term = std::max(term, model.empty() ? Term{1} : model.back().term);
    }
    if (!model.empty()) CHECK(log->read(model.front().index, model.back().index) == model);
    log.reset();
    open_log(o, &rec);
    CHECK(rec.entries == model);
  }
}

TEST_CASE("recovery from a cut at every byte of the last records keeps every complete record") {
  for (bool two_segments : {false, true}) {
    CAPTURE(two_segments);
    kvraft::test::TempDir dir;
    // Two segments: the first holds 1..5 and is never touched; the cuts are
    // made in the second (the last), including inside its header.
    RaftLogOptions o = options_for(dir, two_segments ? 200 : 1 << 20);
    const std::vector<Entry> all =
        two_segments ? build_log(o, {5, 1, 2, 3}) : build_log(o, {1, 1, 2, 3, 1});
    auto paths = segment_paths(o);
    REQUIRE(paths.size() == (two_segments ? 2u : 1u));
    const std::string last_path = paths.back();
    const std::string good = slurp(last_path);
    o.fsync_mode = FsyncMode::kNever;  // hundreds of reopens follow; the cut is the same
    std::map<std::string, std::string> originals;
    for (const std::string& p : paths)
      originals[p] = slurp(p);
    const Index seg_first = two_segments ? 6 : 1;
    // Record boundaries in the last segment.
    std::vector<uint64_t> bounds = {kHeader};
    for (Index i = seg_first; i <= all.back().index; ++i) {
      bounds.push_back(bounds.back() + record_size(all[i - 1]));
    }
    REQUIRE(bounds.back() == good.size());
    const uint64_t cut_from = two_segments ? 0 : bounds[bounds.size() - 4];
    for (uint64_t cut = cut_from; cut <= good.size(); ++cut) {
      CAPTURE(cut);
      write_raw(last_path, good.substr(0, cut));
      // Complete records that survive the cut.
      size_t complete = 0;
      while (complete + 1 < bounds.size() && bounds[complete + 1] <= cut)
        ++complete;
      const uint64_t boundary = bounds[complete];
      const size_t expect_entries = (seg_first - 1) + complete;
      LogRecovery rec;
      std::unique_ptr<RaftLog> log;
      REQUIRE_NOTHROW(log = open_log(o, &rec));
      CHECK(rec.entries == prefix(all, expect_entries));
      CHECK(rec.last_index == expect_entries);
      if (cut == boundary && complete > 0) {
        CHECK_FALSE(rec.torn_tail.has_value());
        CHECK(rec.warnings.empty());
      } else {
        REQUIRE(rec.torn_tail.has_value());
        CHECK(rec.torn_tail->path == last_path);
        CHECK(rec.torn_tail->index == seg_first + complete);
        CHECK(rec.torn_tail->records_dropped == 0);
        REQUIRE(rec.warnings.size() == 1);
        CHECK(rec.warnings[0].find(last_path) != std::string::npos);
        CHECK(rec.warnings[0].find("offset " + std::to_string(rec.torn_tail->offset)) !=
              std::string::npos);
        if (complete == 0) {
          // Nothing valid left in the segment: it is removed.
          CHECK(rec.torn_tail->offset == 0);
          CHECK(rec.torn_tail->files_removed == 1);
          CHECK_FALSE(fs::exists(last_path));
        } else {
          CHECK(rec.torn_tail->offset == boundary);
          CHECK(rec.torn_tail->bytes_dropped == cut - boundary);
          CHECK(fs::file_size(last_path) == boundary);
        }
      }
      // The cut log takes new appends and reopens cleanly.
      auto next = make_entries(expect_entries + 1, 2, all.back().term);
      log->append(next);
      log->sync();
      log.reset();
      LogRecovery again;
      open_log(o, &again);
      CHECK(again.warnings.empty());
      CHECK(again.last_index == expect_entries + 2);
      // Restore every file for the next cut.
      for (const auto& name : segment_files(dir.path()))
        fs::remove(dir.file(name));
      for (const auto& [path, bytes] : originals)
        write_raw(path, bytes);
      REQUIRE(slurp(last_path) == good);
    }
  }
}

TEST_CASE("a cut inside a segment that is not the last is an error, not a torn tail") {
  kvraft::test::TempDir dir;
  RaftLogOptions o = options_for(dir, 100);
  build_log(o, {5, 3});
  auto paths = segment_paths(o);
  REQUIRE(paths.size() == 2);
  std::string first = slurp(paths[0]);
  write_raw(paths[0], first.substr(0, first.size() - 3));
  LogRecovery rec;
  try {
    open_log(o, &rec);
    FAIL("opened a log whose first segment is cut short");
  } catch (const IoError& e) {
    CHECK(e.path() == paths[0]);
    CHECK(std::string(e.what()).find("index 5") != std::string::npos);
  }
}

TEST_CASE("every bit flip in every file is detected and located") {
  kvraft::test::TempDir dir;
  RaftLogOptions o = options_for(dir, 150);
  std::vector<Entry> all = build_log(o, {4, 3, 2});
  auto paths = segment_paths(o);
  REQUIRE(paths.size() == 3);
  // Thousands of reopens follow: spare the disk (the cut is the same either way).
  o.fsync_mode = FsyncMode::kNever;
  std::vector<std::string> goods;
  std::vector<Index> firsts, lasts;
  for (const std::string& p : paths) {
    goods.push_back(slurp(p));
    firsts.push_back(std::stoull(fs::path(p).filename().string().substr(4, 20)));
  }
  for (size_t f = 0; f + 1 < firsts.size(); ++f)
    lasts.push_back(firsts[f + 1] - 1);
  lasts.push_back(all.back().index);

  for (size_t f = 0; f < paths.size(); ++f) {
    const bool last_file = f + 1 == paths.size();
    // Record start offsets of this file, for the expected error location.
    std::vector<uint64_t> starts;
    uint64_t off = kHeader;
    for (Index i = firsts[f]; i <= lasts[f]; ++i) {
      starts.push_back(off);
      off += record_size(all[i - 1]);
    }
    REQUIRE(off == goods[f].size());
    for (size_t byte = 0; byte < goods[f].size(); ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        CAPTURE(f);
        CAPTURE(byte);
        CAPTURE(bit);
        std::string bad = goods[f];
        bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
        write_raw(paths[f], bad);
        // Which record (or the header) holds the byte.
        const bool in_header = byte < kHeader;
        size_t rec_no = 0;
        while (!in_header && rec_no + 1 < starts.size() && starts[rec_no + 1] <= byte)
          ++rec_no;
        const bool in_final_record = last_file && !in_header && rec_no + 1 == starts.size();
        LogRecovery rec;
        if (in_final_record) {
          // Indistinguishable from a crash while writing it: cut as torn.
          REQUIRE_NOTHROW(open_log(o, &rec));
          CHECK(rec.entries == prefix(all, all.size() - 1));
          REQUIRE(rec.torn_tail.has_value());
          CHECK(rec.torn_tail->offset == starts.back());
          CHECK(rec.torn_tail->index == lasts[f]);
        } else {
          try {
            open_log(o, &rec);
            FAIL("corrupt log opened");
          } catch (const IoError& e) {
            CHECK(e.path() == paths[f]);
            const uint64_t want_off = in_header ? 0 : starts[rec_no];
            const Index want_index = in_header ? firsts[f] : firsts[f] + rec_no;
            CHECK(e.offset() == want_off);
            CHECK(std::string(e.what()).find("at index " + std::to_string(want_index)) !=
                  std::string::npos);
          }
        }
        write_raw(paths[f], goods[f]);
        // The torn-tail case cut the file; restore it before the next flip.
      }
    }
  }
  LogRecovery rec;
  open_log(o, &rec);
  CHECK(rec.entries == all);
}

TEST_CASE("a valid record with the wrong index or a file renamed out of order is an error") {
  kvraft::test::TempDir dir;
  RaftLogOptions o = options_for(dir, 100);
  build_log(o, {3, 3, 3});  // segments 1..3, 4..6, 7..9
  auto paths = segment_paths(o);
  REQUIRE(paths.size() == 3);
  const std::string seg1 = slurp(paths[0]);
  const std::string seg2 = slurp(paths[1]);
  const std::string seg3 = slurp(paths[2]);
  LogRecovery rec;

  SUBCASE("a missing middle segment") {
    fs::remove(paths[1]);
    CHECK_THROWS_WITH_AS(open_log(o, &rec),
                         doctest::Contains("segment starts at index 7, expected 4"), IoError);
  }
  SUBCASE("a header that disagrees with the file name") {
    fs::remove(paths[1]);
    write_raw(dir.file("log-00000000000000000005.seg"), seg2);
    CHECK_THROWS_WITH_AS(open_log(o, &rec), doctest::Contains("file name says 5"), IoError);
  }
  SUBCASE("records spliced out of order in the last segment") {
    // 7..9 with valid checksums appended right after 1..3.
    fs::remove(paths[1]);
    fs::remove(paths[2]);
    write_raw(paths[0], seg1 + seg3.substr(kHeader));
    try {
      open_log(o, &rec);
      FAIL("opened");
    } catch (const IoError& e) {
      CHECK(e.path() == paths[0]);
      CHECK(e.offset() == seg1.size());
      CHECK(std::string(e.what()).find("record has index 7, expected 4") != std::string::npos);
    }
  }
}

TEST_CASE("repair truncates at the first corruption and reports what it dropped") {
  kvraft::test::TempDir dir;
  RaftLogOptions o = options_for(dir, 150);
  std::vector<Entry> all = build_log(o, {4, 3, 3});
  auto paths = segment_paths(o);
  REQUIRE(paths.size() == 3);
  // Damage the payload of entry 2 in the first segment.
  std::string seg1 = slurp(paths[0]);
  const uint64_t rec2 = kHeader + record_size(all[0]);
  seg1[rec2 + 28] ^= 0x01;  // first payload byte (entry 2 has a payload)
  REQUIRE(all[1].data.size() > 0);
  write_raw(paths[0], seg1);
  uint64_t total_bytes = seg1.size() - rec2 + fs::file_size(paths[1]) + fs::file_size(paths[2]);

  LogRecovery rec;
  CHECK_THROWS_WITH_AS(open_log(o, &rec), doctest::Contains("dropping 9 record(s)"), IoError);
  // Refusing to open changed nothing.
  CHECK(slurp(paths[0]) == seg1);
  CHECK(fs::exists(paths[2]));

  o.repair = true;
  auto log = open_log(o, &rec);
  CHECK(rec.entries == prefix(all, 1));
  REQUIRE(rec.repaired.has_value());
  CHECK_FALSE(rec.torn_tail.has_value());
  CHECK(rec.repaired->path == paths[0]);
  CHECK(rec.repaired->offset == rec2);
  CHECK(rec.repaired->index == 2);
  CHECK(rec.repaired->records_dropped == 9);
  CHECK(rec.repaired->bytes_dropped == total_bytes);
  CHECK(rec.repaired->files_removed == 2);
  CHECK(rec.warnings.size() == 1);
  CHECK(rec.warnings[0].find("REPAIRED") != std::string::npos);
  CHECK(segment_files(dir.path()).size() == 1);
  CHECK(fs::file_size(paths[0]) == rec2);
  log->append(make_entries(2, 2, 5));
  log->sync();
  log.reset();
  o.repair = false;
  LogRecovery again;
  open_log(o, &again);
  CHECK(again.warnings.empty());
  CHECK(again.last_index == 3);
}

TEST_CASE("repair of a bad segment header removes the whole file") {
  kvraft::test::TempDir dir;
  RaftLogOptions o = options_for(dir, 150);
  std::vector<Entry> all = build_log(o, {4, 3, 3});
  auto paths = segment_paths(o);
  std::string seg2 = slurp(paths[1]);
  seg2[3] ^= 0x20;
  write_raw(paths[1], seg2);
  o.repair = true;
  LogRecovery rec;
  auto log = open_log(o, &rec);
  CHECK(rec.entries == prefix(all, 4));
  REQUIRE(rec.repaired.has_value());
  CHECK(rec.repaired->offset == 0);
  CHECK(rec.repaired->index == 5);
  CHECK(rec.repaired->files_removed == 2);
  CHECK(rec.repaired->records_dropped == 6);
  CHECK(segment_files(dir.path()).size() == 1);
}

TEST_CASE("a short write on a full disk is cut back and the log fails for good") {
  kvraft::test::TempDir dir;
  bool armed = false;
  RaftLogOptions o = options_for(dir);
  o.fault_hook = [&](IoOp op, const std::string&, size_t bytes) {
    if (armed && op == IoOp::kWrite) return IoFault{ENOSPC, bytes / 2};
    return IoFault{};
  };
  std::vector<Entry> all = build_log(o, {3});
  LogRecovery rec;
  auto log = open_log(o, &rec);
  const std::string path = log->segment_paths().back();
  const uint64_t good_size = fs::file_size(path);
  armed = true;
  try {
    log->append(make_entries(4, 10, 1));
    FAIL("append succeeded on a full disk");
  } catch (const IoError& e) {
    CHECK(e.sys_errno() == ENOSPC);
    CHECK(e.path() == path);
  }
  CHECK(log->failed());
  CHECK(log->failure().find("No space left") != std::string::npos);
  CHECK(log->failure().find(path) != std::string::npos);
  CHECK(fs::file_size(path) == good_size);  // half a batch was written and cut off
  armed = false;
  // Every later mutation reports the original cause, even though the disk
  // would now accept writes.
  CHECK_THROWS_WITH_AS(log->append(make_entries(4, 1, 1)), doctest::Contains("No space left"),
                       IoError);
  CHECK_THROWS_WITH_AS(log->sync(), doctest::Contains("No space left"), IoError);
  CHECK_THROWS_AS(log->truncate_suffix(2), IoError);
  CHECK_THROWS_AS(log->drop_prefix(2), IoError);
  log.reset();
  LogRecovery again;
  auto reopened = open_log(o, &again);
  CHECK(again.entries == all);
  CHECK(again.warnings.empty());
  reopened->append(make_entries(4, 1, 1));
  reopened->sync();
}

TEST_CASE("a failed fdatasync fails the log and keeps earlier entries") {
  kvraft::test::TempDir dir;
  bool armed = false;
  RaftLogOptions o = options_for(dir);
  o.fault_hook = [&](IoOp op, const std::string&, size_t) {
    if (armed && op == IoOp::kSync) return IoFault{EIO, 0};
    return IoFault{};
  };
  std::vector<Entry> all = build_log(o, {2, 2});
  LogRecovery rec;
  auto log = open_log(o, &rec);
  log->append(make_entries(5, 2, 1));
  armed = true;
  CHECK_THROWS_WITH_AS(log->sync(), doctest::Contains("fdatasync"), IoError);
  CHECK(log->failed());
  armed = false;
  CHECK_THROWS_WITH_AS(log->append(make_entries(7, 1, 1)), doctest::Contains("Input/output error"),
                       IoError);
  log.reset();
  LogRecovery again;
  open_log(o, &again);
  // The unsynced batch happens to be in the page cache here; what matters is
  // that the synced entries are intact and the file is well formed.
  CHECK(prefix(again.entries, 4) == all);
  CHECK(again.warnings.empty());
}

TEST_CASE("failing to create or write a new segment leaves no partial file behind") {
  for (IoOp failing : {IoOp::kOpen, IoOp::kWrite, IoOp::kDirSync}) {
    CAPTURE(kvraft::storage::io_op_name(failing));
    kvraft::test::TempDir dir;
    bool armed = false;
    RaftLogOptions o = options_for(dir, 100);
    o.fault_hook = [&](IoOp op, const std::string&, size_t bytes) {
      if (armed && op == failing) return IoFault{ENOSPC, bytes / 3};
      return IoFault{};
    };
    std::vector<Entry> all = build_log(o, {6});
    LogRecovery rec;
    auto log = open_log(o, &rec);
    armed = true;
    if (failing == IoOp::kDirSync) {
      log->append(make_entries(7, 2, 1));  // the roll itself works
      CHECK_THROWS_AS(log->sync(), IoError);
      auto added = make_entries(7, 2, 1);
      all.insert(all.end(), added.begin(), added.end());
    } else {
      CHECK_THROWS_AS(log->append(make_entries(7, 2, 1)), IoError);
      CHECK(segment_files(dir.path()).size() == 1);
    }
    CHECK(log->failed());
    armed = false;
    log.reset();
    LogRecovery again;
    open_log(o, &again);
    CHECK(again.entries == all);
    CHECK(again.warnings.empty());
  }
}

TEST_CASE("failing truncate or unlink puts the log in the failed state") {
  for (IoOp failing : {IoOp::kTruncate, IoOp::kUnlink}) {
    CAPTURE(kvraft::storage::io_op_name(failing));
    kvraft::test::TempDir dir;
    bool armed = false;
    RaftLogOptions o = options_for(dir, 100);
    o.fault_hook = [&](IoOp op, const std::string&, size_t) {
      if (armed && op == failing) return IoFault{EIO, 0};
      return IoFault{};
    };
    build_log(o, {3, 3, 3});
    LogRecovery rec;
    auto log = open_log(o, &rec);
    armed = true;
    if (failing == IoOp::kTruncate) {
      CHECK_THROWS_AS(log->truncate_suffix(2), IoError);
    } else {
      CHECK_THROWS_AS(log->drop_prefix(3), IoError);
    }
    CHECK(log->failed());
    CHECK_THROWS_AS(log->append(make_entries(10, 1, 5)), IoError);
  }
}

// Group-commit throughput: 100-byte entries, one fdatasync per batch. Prints a
// table; asserts nothing about speed. Runs when KVRAFT_BENCH is set (it takes
// several seconds of real fsyncs) and writes under KVRAFT_BENCH_DIR (default
// $TMPDIR) so it can be pointed at the disk to measure.
TEST_CASE("benchmark: appends per second with one fdatasync per batch" *
          doctest::skip(std::getenv("KVRAFT_BENCH") == nullptr)) {
  const char* base = std::getenv("KVRAFT_BENCH_DIR");
  if (base != nullptr) setenv("TMPDIR", base, 1);
  struct Run {
    size_t batch;
    FsyncMode mode;
    bool preallocate;
  };
  // Plain and preallocated runs alternate so both see the same disk load.
  for (Run run : {Run{1, FsyncMode::kAlways, false}, Run{1, FsyncMode::kAlways, true},
                  Run{16, FsyncMode::kAlways, false}, Run{16, FsyncMode::kAlways, true},
                  Run{256, FsyncMode::kAlways, false}, Run{256, FsyncMode::kAlways, true},
                  Run{1, FsyncMode::kNever, false}, Run{256, FsyncMode::kNever, false}}) {
    const size_t batch = run.batch;
    kvraft::test::TempDir dir("kvraft-bench");
    RaftLogOptions o = options_for(dir, 4ull << 20);
    o.fsync_mode = run.mode;
    o.preallocate = run.preallocate;
    LogRecovery rec;
    auto log = open_log(o, &rec);
    Index next = 1;
    std::vector<Entry> entries(batch);
    // Past the first segment (created before any spare), untimed.
    while (log->segment_count() < 2) {
      for (size_t i = 0; i < 64; ++i)
        log->append({Entry{next++, 1, EntryType::kNormal, std::string(1000, 'w')}});
      log->sync();
    }
    const auto budget = std::chrono::seconds(3);
    const auto start = std::chrono::steady_clock::now();
    const Index first_timed = next;
    size_t syncs = 0;
    while (std::chrono::steady_clock::now() - start < budget) {
      for (size_t i = 0; i < batch; ++i) {
        entries[i] = Entry{next++, 1, EntryType::kNormal, std::string(100, 'v')};
      }
      log->append(entries);
      log->sync();
      ++syncs;
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf(
        "raft log bench: fsync %-6s batch %4zu %-12s: %9.0f appends/s, %7.0f syncs/s (%s)\n",
        kvraft::storage::fsync_mode_name(run.mode), batch,
        run.preallocate ? "preallocated" : "growing",
        static_cast<double>(next - first_timed) / secs, static_cast<double>(syncs) / secs,
        dir.path().c_str());
  }
}

TEST_CASE("skip_below leaves covered segments unread until drop_prefix deletes them") {
  kvraft::test::TempDir dir;
  RaftLogOptions o = options_for(dir, 120);
  std::vector<Entry> all = build_log(o, {3, 3, 3, 3, 3});  // [1,3] [4,6] [7,9] [10,12] [13,15]
  // Damage a record in the middle of the second segment: reading it would
  // be an error, so opening proves it was not read.
  const std::string second = dir.path() + "/" + segment_files(dir.path())[1];
  std::string bytes = slurp(second);
  bytes[kHeader + 30] = static_cast<char>(bytes[kHeader + 30] ^ 0x40);
  write_raw(second, bytes);
  {
    LogRecovery rec;
    CHECK_THROWS_AS(open_log(o, &rec), IoError);
  }
  o.skip_below = 8;  // a snapshot at 8: [1,3] and [4,6] are covered, [7,9] is not
  LogRecovery rec;
  auto log = open_log(o, &rec);
  CHECK(rec.skipped_segments == 2);
  CHECK(rec.first_index == 1);
  CHECK(rec.last_index == 15);
  CHECK(rec.entries == std::vector<Entry>(all.begin() + 6, all.end()));
  CHECK(log->first_index() == 1);
  CHECK(log->last_index() == 15);
  CHECK(log->last_term() == all.back().term);
  CHECK_THROWS_AS(log->read(4, 8), std::logic_error);
  CHECK_THROWS_AS(log->truncate_suffix(5), std::logic_error);
  CHECK_THROWS_AS(log->truncate_suffix(7), std::logic_error);  // would leave [4,6] last
  CHECK(log->read(7, 9) == std::vector<Entry>(all.begin() + 6, all.begin() + 9));
  log->truncate_suffix(11);  // inside a read segment: fine
  CHECK(log->last_index() == 10);
  CHECK(log->drop_prefix(7) == 2);
  CHECK(log->first_index() == 7);
  log->append(make_entries(11, 2, all.back().term));
  log->sync();
  log.reset();
  LogRecovery r2;
  o.skip_below = 0;
  auto reopened = open_log(o, &r2);
  CHECK(r2.skipped_segments == 0);
  CHECK(r2.first_index == 7);
  CHECK(r2.last_index == 12);
}

TEST_CASE("skip_below reads an unread segment after all when the torn last one is removed") {
  kvraft::test::TempDir dir;
  RaftLogOptions o = options_for(dir, 120);
  std::vector<Entry> all = build_log(o, {3, 3});  // [1,3] [4,6]
  // A torn creation of the next segment: keep only its header.
  {
    LogRecovery rec;
    auto log = open_log(o, &rec);
    log->append(make_entries(7, 3, all.back().term));
    log->sync();
  }
  const std::string seg3 = dir.path() + "/" + segment_files(dir.path())[2];
  write_raw(seg3, slurp(seg3).substr(0, kHeader));
  o.skip_below = 7;  // [1,3] and [4,6] are below it
  LogRecovery rec;
  auto log = open_log(o, &rec);
  REQUIRE(rec.torn_tail.has_value());
  CHECK(rec.skipped_segments == 1);  // [4,6] had to be read after all
  CHECK(log->last_index() == 6);
  CHECK(log->last_term() == all.back().term);
  CHECK(rec.entries == std::vector<Entry>(all.begin() + 3, all.end()));
  log->append(make_entries(7, 2, all.back().term));
  log->sync();
  log.reset();
  LogRecovery r2;
  o.skip_below = 0;
  auto reopened = open_log(o, &r2);
  CHECK(r2.last_index == 8);
  CHECK(r2.entries.size() == 8);
}

namespace {

constexpr uint64_t kPreallocSegment = 4096;

// A preallocating log of 4 KB segments (the spare is complete after one
// sync: one fill step is at least 64 KB).
RaftLogOptions prealloc_options(const kvraft::test::TempDir& dir) {
  RaftLogOptions o = options_for(dir, kPreallocSegment);
  o.preallocate = true;
  return o;
}

uint32_t header_flags(const std::string& path) {
  std::string bytes = slurp(path);
  REQUIRE(bytes.size() >= kHeader);
  return kvraft::storage::get_u32(bytes.data() + 12);
}

// Byte offsets where the records of the segment at `path` end, entries
// first..last (from `all`, 1-based indices) in it.
std::vector<uint64_t> record_ends(const std::vector<Entry>& all, Index first, Index last) {
  std::vector<uint64_t> ends;
  uint64_t off = kHeader;
  for (Index i = first; i <= last; ++i) {
    off += record_size(all[i - 1]);
    ends.push_back(off);
  }
  return ends;
}

// Builds a preallocating log until its second segment (a preallocated one)
// holds 3 batches; returns every entry. Batches of 10 entries (~500 bytes).
std::vector<Entry> build_preallocated(const RaftLogOptions& o, Index* second_first) {
  LogRecovery rec;
  auto log = open_log(o, &rec);
  std::vector<Entry> all;
  Index next = 1;
  size_t batches_in_second = 0;
  while (batches_in_second < 3) {
    auto batch = make_entries(next, 10, 1);
    log->append(batch);
    log->sync();
    all.insert(all.end(), batch.begin(), batch.end());
    next += 10;
    if (log->segment_count() == 2) {
      if (batches_in_second == 0) *second_first = batch.front().index;
      ++batches_in_second;
    }
  }
  return all;
}

}  // namespace

TEST_CASE("a roll takes the zero-filled spare: later batches do not grow the file") {
  kvraft::test::TempDir dir;
  RaftLogOptions o = prealloc_options(dir);
  LogRecovery rec;
  auto log = open_log(o, &rec);
  const std::string spare = dir.path() + "/" + RaftLog::kSpareFileName;
  log->append(make_entries(1, 10, 1));
  CHECK_FALSE(fs::exists(spare));  // filled after the batch is durable, not before
  log->sync();
  CHECK(log->spare_ready());
  CHECK(fs::file_size(spare) == kPreallocSegment);
  CHECK(slurp(spare) == std::string(kPreallocSegment, '\0'));
  // The first segment was created the plain way: it grows.
  const std::string first = log->segment_paths()[0];
  CHECK(header_flags(first) == 0);
  Index next = 11;
  while (log->segment_count() == 1) {
    log->append(make_entries(next, 10, 1));
    log->sync();
    next += 10;
  }
  // As soon as the spare was ready: the first segment grows with each batch.
  CHECK(next == 21);
  const std::string second = log->segment_paths()[1];
  CHECK(second.find("log-00000000000000000011.seg") != std::string::npos);
  CHECK(header_flags(second) == RaftLog::kPreallocated);
  CHECK(fs::file_size(second) == kPreallocSegment);  // the spare, renamed
  CHECK(log->spare_ready());                         // and the next one filled after that batch
  log->append(make_entries(next, 10, 1));
  log->sync();
  next += 10;
  CHECK(fs::file_size(second) == kPreallocSegment);  // written inside, not appended
  CHECK(log->preallocation_error().empty());
  const Index last = next - 1;
  log.reset();

  // Reopen: the zero tail is a clean end, kept for the next appends.
  LogRecovery r2;
  log = open_log(o, &r2);
  CHECK_FALSE(r2.torn_tail.has_value());
  CHECK(r2.warnings.empty());
  CHECK(r2.last_index == last);
  REQUIRE(r2.entries.size() == last);
  CHECK(r2.entries.back() == make_entries(last, 1, 1)[0]);
  CHECK(fs::file_size(second) == kPreallocSegment);
  CHECK_FALSE(fs::exists(spare));  // a stale spare is removed at open
  CHECK(log->read(last - 4, last) == make_entries(last - 4, 5, 1));
  log->append(make_entries(last + 1, 3, 2));
  log->sync();
  log.reset();
  LogRecovery r3;
  open_log(o, &r3);
  CHECK(r3.warnings.empty());
  CHECK(r3.last_index == last + 3);
  CHECK(r3.entries.back().term == 2);
}

TEST_CASE("a preallocated segment: a torn final record before the zero tail is cut") {
  kvraft::test::TempDir dir;
  RaftLogOptions o = prealloc_options(dir);
  Index second_first = 0;
  std::vector<Entry> all = build_preallocated(o, &second_first);
  const Index last = all.back().index;
  const std::string second = segment_paths(o)[1];
  const std::string good = slurp(second);
  REQUIRE(good.size() == kPreallocSegment);
  const std::vector<uint64_t> ends = record_ends(all, second_first, last);
  const uint64_t last_start = ends[ends.size() - 2];
  o.fsync_mode = FsyncMode::kNever;  // many reopens; the recovery is the same
  // The final record torn at every byte: its first k bytes on disk and
  // zeros (the preallocated tail) after them, as when a batch's later page
  // did not reach the disk.
  for (uint64_t k = 1; k < ends.back() - last_start; ++k) {
    CAPTURE(k);
    std::string bytes = good;
    std::fill(bytes.begin() + static_cast<long>(last_start + k),
              bytes.begin() + static_cast<long>(ends.back()), '\0');
    write_raw(second, bytes);
    LogRecovery rec;
    std::unique_ptr<RaftLog> log;
    REQUIRE_NOTHROW(log = open_log(o, &rec));
    CHECK(rec.last_index == last - 1);
    CHECK(rec.entries == prefix(all, last - 1));
    if (bytes.compare(last_start, ends.back() - last_start,
                      std::string(ends.back() - last_start, '\0')) == 0) {
      CHECK_FALSE(rec.torn_tail.has_value());  // nothing of it left: a clean end
    } else {
      REQUIRE(rec.torn_tail.has_value());
      CHECK(rec.torn_tail->path == second);
      CHECK(rec.torn_tail->offset == last_start);
      CHECK(rec.torn_tail->index == last);
      CHECK(rec.torn_tail->records_dropped == 0);
      CHECK(rec.torn_tail->bytes_dropped <= k);  // the data, not the zero tail
      CHECK(fs::file_size(second) == last_start);
    }
    // The cut log takes the entry again and reopens cleanly.
    log->append({all.back()});
    log->sync();
    log.reset();
    LogRecovery again;
    open_log(o, &again);
    CHECK(again.warnings.empty());
    CHECK(again.entries == all);
  }
}

TEST_CASE("a preallocated segment: damage with valid records after it is an error") {
  kvraft::test::TempDir dir;
  RaftLogOptions o = prealloc_options(dir);
  Index second_first = 0;
  std::vector<Entry> all = build_preallocated(o, &second_first);
  const std::string second = segment_paths(o)[1];
  const std::string good = slurp(second);
  const std::vector<uint64_t> ends = record_ends(all, second_first, all.back().index);
  const uint64_t mid = ends[ends.size() / 2];  // start of a record in the middle
  SUBCASE("a bit flip") {
    std::string bytes = good;
    bytes[mid + 30] = static_cast<char>(bytes[mid + 30] ^ 0x08);
    write_raw(second, bytes);
  }
  SUBCASE("a zeroed record (a lost write) in the middle") {
    std::string bytes = good;
    std::fill(bytes.begin() + static_cast<long>(mid),
              bytes.begin() + static_cast<long>(ends[ends.size() / 2 + 1]), '\0');
    write_raw(second, bytes);
  }
  SUBCASE("an unknown header flag") {
    std::string bytes = good;
    bytes[12] = static_cast<char>(bytes[12] | 0x02);
    // A valid header checksum, so the flag itself is what is refused.
    std::string head = bytes.substr(0, 24);
    std::string sum;
    kvraft::storage::put_u64(&sum, XXH3_64bits(head.data(), head.size()));
    bytes.replace(24, 8, sum);
    write_raw(second, bytes);
  }
  LogRecovery rec;
  try {
    open_log(o, &rec);
    FAIL("opened a preallocated segment damaged in the middle");
  } catch (const IoError& e) {
    CHECK(e.path() == second);
    INFO(e.what());
    CHECK(std::string(e.what()).find("raft log corrupt") != std::string::npos);
  }
}

TEST_CASE("a preallocated segment: garbage in the zero tail with no record after it is torn") {
  // The same rule as for any last segment: damage after the last record
  // that no valid record follows is a torn write, cut off without loss.
  kvraft::test::TempDir dir;
  RaftLogOptions o = prealloc_options(dir);
  Index second_first = 0;
  std::vector<Entry> all = build_preallocated(o, &second_first);
  const std::string second = segment_paths(o)[1];
  std::string bytes = slurp(second);
  const uint64_t data_end = record_ends(all, second_first, all.back().index).back();
  bytes[bytes.size() - 100] = 'x';
  write_raw(second, bytes);
  LogRecovery rec;
  open_log(o, &rec);
  REQUIRE(rec.torn_tail.has_value());
  CHECK(rec.torn_tail->offset == data_end);
  CHECK(rec.entries == all);
}

TEST_CASE("appended zeros are a torn tail in a segment that was not preallocated") {
  // Without the header flag the old rule stands: the file ends at its last
  // record, so zeros after it are a torn write to cut, not a clean end.
  kvraft::test::TempDir dir;
  RaftLogOptions o = options_for(dir);
  std::vector<Entry> all = build_log(o, {3, 4});
  const std::string path = segment_paths(o)[0];
  const std::string good = slurp(path);
  write_raw(path, good + std::string(4096, '\0'));
  LogRecovery rec;
  open_log(o, &rec);
  REQUIRE(rec.torn_tail.has_value());
  CHECK(rec.torn_tail->offset == good.size());
  CHECK(rec.entries == all);
  CHECK(fs::file_size(path) == good.size());
}

TEST_CASE("a preallocated segment that is no longer the last keeps its zero tail and opens") {
  kvraft::test::TempDir dir;
  RaftLogOptions o = prealloc_options(dir);
  Index second_first = 0;
  std::vector<Entry> all = build_preallocated(o, &second_first);
  // Smaller segments now: the next batch rolls out of the preallocated one,
  // which keeps its zeros (its records end well before its file does).
  o.segment_size = 512;
  o.preallocate = false;
  {
    LogRecovery rec;
    auto log = open_log(o, &rec);
    auto batch = make_entries(all.back().index + 1, 5, 1);
    log->append(batch);
    log->sync();
    all.insert(all.end(), batch.begin(), batch.end());
    REQUIRE(log->segment_count() == 3);
  }
  const std::vector<std::string> paths = segment_paths(o);
  const std::string second = paths[1];
  CHECK(header_flags(second) == RaftLog::kPreallocated);
  CHECK(fs::file_size(second) == kPreallocSegment);
  LogRecovery rec;
  auto log = open_log(o, &rec);
  CHECK(rec.warnings.empty());
  CHECK(rec.entries == all);
  log.reset();
  // Read only on demand (skip_below), too.
  o.skip_below = all.back().index;
  LogRecovery skipped;
  log = open_log(o, &skipped);
  CHECK(skipped.skipped_segments == 2);
  // Removing the last segment makes the preallocated one last: read after all.
  log.reset();
  write_raw(paths[2], slurp(paths[2]).substr(0, kHeader));
  LogRecovery torn;
  log = open_log(o, &torn);
  REQUIRE(torn.torn_tail.has_value());
  CHECK(log->last_index() == all.back().index - 5);
}

TEST_CASE("a failing spare stops preallocation, never the log") {
  kvraft::test::TempDir dir;
  RaftLogOptions o = prealloc_options(dir);
  o.fault_hook = [](IoOp op, const std::string& path, size_t) {
    if (op == IoOp::kWrite && path.find(RaftLog::kSpareFileName) != std::string::npos)
      return IoFault{ENOSPC, 0};
    return IoFault{};
  };
  LogRecovery rec;
  auto log = open_log(o, &rec);
  Index next = 1;
  while (log->segment_count() < 3) {
    REQUIRE_NOTHROW(log->append(make_entries(next, 10, 1)));
    REQUIRE_NOTHROW(log->sync());
    next += 10;
  }
  CHECK_FALSE(log->failed());
  CHECK(log->preallocation_error().find("No space left") != std::string::npos);
  CHECK_FALSE(fs::exists(dir.path() + "/" + RaftLog::kSpareFileName));
  for (const std::string& p : log->segment_paths())
    CHECK(header_flags(p) == 0);
}

TEST_CASE("fsync mode never does not preallocate") {
  kvraft::test::TempDir dir;
  RaftLogOptions o = prealloc_options(dir);
  o.fsync_mode = FsyncMode::kNever;
  LogRecovery rec;
  auto log = open_log(o, &rec);
  for (Index next = 1; log->segment_count() < 3; next += 10) {
    log->append(make_entries(next, 10, 1));
    log->sync();
  }
  CHECK_FALSE(fs::exists(dir.path() + "/" + RaftLog::kSpareFileName));
  CHECK(log->spare_filled() == 0);
}

TEST_CASE("truncate_suffix cuts a preallocated segment and the next batch rolls to a spare") {
  kvraft::test::TempDir dir;
  RaftLogOptions o = prealloc_options(dir);
  Index second_first = 0;
  std::vector<Entry> all = build_preallocated(o, &second_first);
  LogRecovery rec;
  auto log = open_log(o, &rec);
  const std::string second = log->segment_paths()[1];
  const Index cut = all.back().index - 5;
  log->truncate_suffix(cut);  // a follower's conflicting suffix
  // Cut at the record boundary (atomic), zero tail and all.
  CHECK(fs::file_size(second) == record_ends(all, second_first, cut - 1).back());
  log->append(make_entries(cut, 2, 3));
  log->sync();  // extends the cut file, then fills a spare
  CHECK(log->segment_count() == 2);
  CHECK(log->spare_ready());
  log->append(make_entries(cut + 2, 2, 3));
  log->sync();
  REQUIRE(log->segment_count() == 3);  // rolled early into the spare
  CHECK(header_flags(log->segment_paths()[2]) == RaftLog::kPreallocated);
  log.reset();
  LogRecovery r2;
  open_log(o, &r2);
  CHECK(r2.warnings.empty());
  CHECK(r2.last_index == cut + 3);
  CHECK(r2.entries.back().term == 3);
}

TEST_CASE("a crash right after a roll into the spare loses only the unreported batch") {
  // The rename reached the disk but the batch did not (all zeros), or only
  // the header did: either way the new segment holds no record, is a torn
  // creation, and goes; the log ends where the previous segment does.
  for (bool with_header : {false, true}) {
    CAPTURE(with_header);
    kvraft::test::TempDir dir;
    RaftLogOptions o = prealloc_options(dir);
    Index second_first = 0;
    std::vector<Entry> all = build_preallocated(o, &second_first);
    const std::string second = segment_paths(o)[1];
    std::string bytes(kPreallocSegment, '\0');
    if (with_header) bytes.replace(0, kHeader, slurp(second).substr(0, kHeader));
    write_raw(second, bytes);
    LogRecovery rec;
    auto log = open_log(o, &rec);
    REQUIRE(rec.torn_tail.has_value());
    CHECK(rec.torn_tail->path == second);
    CHECK(rec.torn_tail->files_removed == 1);
    CHECK(rec.torn_tail->bytes_dropped <= kHeader);  // the zeros are not data
    CHECK_FALSE(fs::exists(second));
    CHECK(rec.entries == prefix(all, second_first - 1));
    log->append(make_entries(second_first, 1, all.back().term));
    log->sync();
  }
}

TEST_CASE("sync_usec adds up the time spent in fdatasync, not in filling the spare") {
  kvraft::test::TempDir dir;
  RaftLogOptions o = prealloc_options(dir);
  // A batch's fdatasync takes 3 ms more than it would; the spare's fsync
  // (after the second batch) 200 ms more, which must not be counted.
  int spare_syncs = 0;
  o.fault_hook = [&](IoOp op, const std::string& path, size_t) {
    if (op != IoOp::kSync) return IoFault{};
    if (path.find(RaftLog::kSpareFileName) == std::string::npos)
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
    else if (++spare_syncs == 2)
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return IoFault{};
  };
  LogRecovery rec;
  auto log = open_log(o, &rec);
  CHECK(log->sync_usec() == 0);
  log->append(make_entries(1, 3, 1));
  log->sync();
  const uint64_t first = log->sync_usec();
  CHECK(first >= 3000);
  log->append(make_entries(4, 3, 1));  // rolls into the spare
  log->sync();                         // then fills and fsyncs the next one
  CHECK(spare_syncs == 2);
  CHECK(log->sync_usec() - first >= 3000);
  CHECK(log->sync_usec() - first < 200000);
}
