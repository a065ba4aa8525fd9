// tests/unit/storage_raft_storage_test.cc — RaftStorage, the durable
// raft::Storage: the read contract checked against MemoryStorage under random
// batch sequences with reopens; conflicting-suffix truncation; local and
// received snapshots with compaction and reopen; a crash (injected failure)
// at every file operation of a received-snapshot install; the states a crash
// between those operations leaves; corrupt and leftover snapshot files; the
// failed state; and reading a snapshot while it is being replaced.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "storage/raft_storage.h"
#include "storage/rdb.h"
#include "tests/support/test_support.h"

// kvraft_storage does not link the Raft core; MemoryStorage, the reference
// this file compares against, is self-contained, so it is compiled in here.
#include "raft/storage.cc"

using kvraft::raft::ConfState;
using kvraft::raft::Entry;
using kvraft::raft::EntryType;
using kvraft::raft::HardState;
using kvraft::raft::Index;
using kvraft::raft::MemoryStorage;
using kvraft::raft::Ready;
using kvraft::raft::SnapshotChunk;
using kvraft::raft::SnapshotMeta;
using kvraft::raft::Term;
using kvraft::storage::IoError;
using kvraft::storage::IoFault;
using kvraft::storage::IoOp;
using kvraft::storage::RaftLog;
using kvraft::storage::RaftStorage;
using kvraft::storage::RaftStorageOptions;
using kvraft::storage::RdbSnapshotInfo;
using kvraft::storage::RdbWriter;
using kvraft::storage::RecoveryInfo;

namespace {

namespace fs = std::filesystem;

RaftStorageOptions options_for(const std::string& dir, uint64_t keep = 0) {
  RaftStorageOptions o;
  o.dir = dir;
  o.segment_size = 512;  // many segments, so compaction has something to drop
  o.keep_entries_after_snapshot = keep;
  return o;
}

std::unique_ptr<RaftStorage> open_storage(const RaftStorageOptions& o,
                                          RecoveryInfo* info = nullptr) {
  return RaftStorage::open(o, info);
}

std::string payload(Index i, Term t) {
  std::string s = "e" + std::to_string(i) + "t" + std::to_string(t);
  s.append((i * 13) % 40, static_cast<char>('a' + i % 26));
  return s;
}

std::vector<Entry> make_entries(Index lo, Index hi, Term t) {  // [lo, hi]
  std::vector<Entry> out;
  for (Index i = lo; i <= hi; ++i)
    out.push_back(
        Entry{i, t, i % 7 == 0 ? EntryType::kConfChange : EntryType::kNormal, payload(i, t)});
  return out;
}

// An RDB image holding `keys` keys and `meta` in its aux fields.
std::string rdb_image(const SnapshotMeta& meta, int keys) {
  std::string out;
  RdbWriter w(&out);
  RdbSnapshotInfo info;
  info.meta = meta;
  info.ctime = 1700000000;
  w.begin(info);
  if (keys > 0) {
    w.select_db(0, static_cast<uint64_t>(keys), 0);
    for (int k = 0; k < keys; ++k)
      w.write_string("key:" + std::to_string(k), "value-" + std::to_string(meta.index * 1000 + k));
  }
  w.finish();
  return out;
}

// What the server's snapshot child does: write the temp file, fsync, rename
// to snapshot_path(meta). Returns the bytes.
std::string write_local_snapshot(const RaftStorage& s, const SnapshotMeta& meta, int keys) {
  std::string bytes = rdb_image(meta, keys);
  const std::string tmp = s.snapshot_temp_path();
  {
    kvraft::storage::Fd fd =
        kvraft::storage::open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644, nullptr);
    kvraft::storage::write_at(fd.get(), tmp, 0, bytes, nullptr);
    kvraft::storage::sync_file(fd.get(), tmp, false, nullptr);
  }
  kvraft::storage::rename_file(tmp, s.snapshot_path(meta), nullptr);
  kvraft::storage::sync_dir(s.dir(), nullptr);
  return bytes;
}

std::vector<SnapshotChunk> chunks_of(const SnapshotMeta& meta, const std::string& bytes,
                                     size_t chunk) {
  std::vector<SnapshotChunk> out;
  for (size_t off = 0; off < bytes.size(); off += chunk) {
    out.push_back(SnapshotChunk{meta, off, bytes.substr(off, chunk), bytes.size()});
  }
  return out;
}

// prepare + persist + publish, as the driver does.
RaftStorage::Batch run(RaftStorage& s, const Ready& rd, bool save_commit = false) {
  RaftStorage::Batch b = s.prepare(rd);
  b.save_commit = save_commit;
  s.persist(b);
  s.publish(b);
  return b;
}

Ready append_ready(std::vector<Entry> ents, std::optional<HardState> hs = std::nullopt) {
  Ready rd;
  rd.entries = std::move(ents);
  rd.hard_state = hs;
  return rd;
}

// Appends [lo, hi] of term t in batches of 5 (a segment rolls only between
// batches, so this spreads the entries over several segments), then saves hs.
void append_in_batches(RaftStorage& s, Index lo, Index hi, Term t, HardState hs) {
  for (Index a = lo; a <= hi; a += 5) {
    run(s, append_ready(make_entries(a, std::min(hi, a + 4), t), hs));
  }
}

std::string read_whole_snapshot(const RaftStorage& s, const SnapshotMeta& meta, bool* ok,
                                uint64_t step = 1000) {
  std::string all;
  uint64_t total = 0;
  *ok = true;
  for (uint64_t off = 0;; off += step) {
    std::string data;
    if (!s.read_snapshot_chunk(meta, off, step, &data, &total)) {
      *ok = false;
      return all;
    }
    all += data;
    if (off + data.size() >= total) break;
  }
  return all;
}

// Every read method of `s` agrees with `m` (hard state: term and vote exactly;
// the commit index is saved lazily, so it may lag but never lead). With
// `retained` (entries by index, as last appended), `s` may also hold up to
// `keep` entries below m.first_index(), which must be those entries.
void check_same(const RaftStorage& s, const MemoryStorage& m, std::mt19937_64& rng,
                const std::map<Index, Entry>* retained = nullptr, uint64_t keep = 0) {
  REQUIRE(s.snapshot_meta() == m.snapshot_meta());
  if (retained == nullptr) {
    REQUIRE(s.first_index() == m.first_index());
  } else {
    REQUIRE(s.first_index() <= m.first_index());
    REQUIRE(s.first_index() + keep >= m.first_index());
    bool window_ok = true;
    for (Index i = s.first_index(); i < m.first_index(); ++i) {
      auto it = retained->find(i);
      window_ok = window_ok && it != retained->end() && s.term(i) == it->second.term &&
                  s.entries(i, i + 1, 0) == std::vector<Entry>{it->second};
    }
    CHECK(window_ok);
  }
  REQUIRE(s.last_index() == m.last_index());
  CHECK(s.hard_state().term == m.hard_state().term);
  CHECK(s.hard_state().vote == m.hard_state().vote);
  CHECK(s.hard_state().commit <= m.hard_state().commit);
  bool terms_equal = true;
  for (Index i = m.first_index() - 1; i <= m.last_index() + 2; ++i)
    terms_equal = terms_equal && s.term(i) == m.term(i);
  CHECK(terms_equal);
  const Index lo = m.first_index();
  const Index end = m.last_index() + 1;
  CHECK(s.entries(lo, end, UINT64_MAX) == m.entries(lo, end, UINT64_MAX));
  bool slices_equal = true;
  for (int k = 0; k < 20; ++k) {
    Index a = lo + rng() % (end - lo + 1);
    Index b = a + rng() % (end - a + 1);
    uint64_t max_bytes = rng() % 200;
    slices_equal = slices_equal && s.entries(a, b, max_bytes) == m.entries(a, b, max_bytes);
  }
  CHECK(slices_equal);
  CHECK_THROWS_AS(s.entries(s.first_index() - 1, end, 100), std::out_of_range);
  CHECK_THROWS_AS(s.entries(lo, end + 1, 100), std::out_of_range);
  if (m.snapshot_meta().index > 0) {
    bool ok = false;
    CHECK(read_whole_snapshot(s, m.snapshot_meta(), &ok, 1 + rng() % 3000) == m.snapshot_data());
    CHECK(ok);
  }
}

// Fails the fail_at-th intercepted operation (counting from 0) with EIO.
struct FaultPlan {
  int fail_at = -1;
  int count = 0;
  int error = EIO;
  std::vector<std::string> seen;
};

kvraft::storage::FaultHook hook_for(const std::shared_ptr<FaultPlan>& plan) {
  return [plan](IoOp op, const std::string& path, size_t) -> IoFault {
    int n = plan->count++;
    plan->seen.push_back(std::string(kvraft::storage::io_op_name(op)) + " " +
                         fs::path(path).filename().string());
    if (n == plan->fail_at) return IoFault{plan->error, 0};
    return {};
  };
}

size_t count_files(const std::string& dir, const std::string& prefix) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(prefix, 0) == 0) ++n;
  return n;
}

// The no-gap rule and the consistency of every read method.
void check_consistent(const RaftStorage& s) {
  const SnapshotMeta snap = s.snapshot_meta();
  REQUIRE(s.first_index() <= snap.index + 1);
  REQUIRE(s.last_index() + 1 >= s.first_index());
  CHECK(s.term(snap.index) == snap.term);
  auto all = s.entries(s.first_index(), s.last_index() + 1, UINT64_MAX);
  REQUIRE(all.size() == s.last_index() + 1 - s.first_index());
  for (size_t k = 0; k < all.size(); ++k) {
    CHECK(all[k].index == s.first_index() + k);
    if (k > 0) CHECK(all[k].term >= all[k - 1].term);
  }
  if (!all.empty() && all.back().index > snap.index) CHECK(all.back().term >= snap.term);
  CHECK(s.hard_state().commit <= s.last_index());
}

}  // namespace

TEST_CASE("a fresh directory is an empty storage with MemoryStorage's boundaries") {
  kvraft::test::TempDir dir;
  RecoveryInfo info;
  auto s = open_storage(options_for(dir.path()), &info);
  MemoryStorage m;
  CHECK(s->first_index() == 1);
  CHECK(s->last_index() == 0);
  CHECK(s->term(0) == Term{0});
  CHECK(!s->term(1).has_value());
  CHECK(s->entries(1, 1, 0).empty());
  CHECK_THROWS_AS(s->entries(0, 1, 10), std::out_of_range);
  CHECK_THROWS_AS(s->entries(1, 2, 10), std::out_of_range);
  CHECK(s->hard_state() == HardState{});
  CHECK(s->snapshot_meta() == SnapshotMeta{});
  CHECK(info.snapshot_path.empty());
  CHECK(info.entries == 0);
  CHECK(info.warnings.empty());
  std::string data = "x";
  uint64_t total = 7;
  CHECK(s->read_snapshot_chunk(SnapshotMeta{}, 0, 10, &data, &total) ==
        m.read_snapshot_chunk(SnapshotMeta{}, 0, 10, &data, &total));
  CHECK(data.empty());
  CHECK(total == 0);
}

TEST_CASE("entries stop before max_bytes but return at least one, as MemoryStorage does") {
  kvraft::test::TempDir dir;
  auto s = open_storage(options_for(dir.path()));
  MemoryStorage m;
  auto ents = make_entries(1, 10, 1);
  run(*s, append_ready(ents, HardState{1, 0, 0}));
  m.append(ents);
  for (uint64_t max = 0; max < 400; max += 7) {
    for (Index lo = 1; lo <= 11; ++lo) {
      CHECK(s->entries(lo, 11, max) == m.entries(lo, 11, max));
    }
  }
  CHECK(s->entries(3, 11, 0).size() == 1);
  CHECK(s->term(10) == Term{1});
  CHECK(!s->term(11).has_value());
  CHECK_THROWS_AS(s->entries(5, 12, 100), std::out_of_range);
  CHECK_THROWS_AS(s->entries(6, 5, 100), std::out_of_range);
}

TEST_CASE("persisted and published batches read back identically after reopen") {
  kvraft::test::TempDir dir;
  std::vector<Entry> expect;
  {
    auto s = open_storage(options_for(dir.path()));
    for (Index lo = 1; lo <= 100; lo += 10) {
      auto ents = make_entries(lo, lo + 9, 1 + lo / 30);
      expect.insert(expect.end(), ents.begin(), ents.end());
      run(*s, append_ready(ents, HardState{1 + lo / 30, 2, lo}), /*save_commit=*/true);
    }
    CHECK(s->hard_state() == HardState{4, 2, 91});
  }
  RecoveryInfo info;
  auto s = open_storage(options_for(dir.path()), &info);
  CHECK(s->hard_state() == HardState{4, 2, 91});
  CHECK(s->entries(1, 101, UINT64_MAX) == expect);
  CHECK(info.entries == 100);
  CHECK(info.first_index == 1);
  CHECK(info.last_index == 100);
  CHECK(info.hard_state == HardState{4, 2, 91});
  CHECK(info.warnings.empty());
}

TEST_CASE("a batch truncates the conflicting suffix in memory and on disk") {
  kvraft::test::TempDir dir;
  {
    auto s = open_storage(options_for(dir.path()));
    run(*s, append_ready(make_entries(1, 50, 1), HardState{1, 1, 20}));
    auto replacement = make_entries(31, 35, 2);
    run(*s, append_ready(replacement, HardState{2, 0, 20}));
    CHECK(s->last_index() == 35);
    CHECK(s->term(30) == Term{1});
    CHECK(s->term(31) == Term{2});
    CHECK(s->entries(31, 36, UINT64_MAX) == replacement);
    // A truncation at or below the snapshot/first index is a caller bug.
    CHECK_THROWS_AS(s->prepare(append_ready(make_entries(37, 37, 2))), std::invalid_argument);
    auto bad = make_entries(36, 37, 2);
    bad[1].index = 40;
    CHECK_THROWS_AS(s->prepare(append_ready(bad)), std::invalid_argument);
  }
  auto s = open_storage(options_for(dir.path()));
  CHECK(s->last_index() == 35);
  CHECK(s->term(30) == Term{1});
  CHECK(s->term(35) == Term{2});
  CHECK(s->hard_state().term == 2);
}

TEST_CASE("random batches with snapshots and reopens match MemoryStorage at every step") {
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    kvraft::test::TempDir dir;
    // Odd seeds keep a window of entries below local snapshots; MemoryStorage
    // never does, so those runs compare the window against `appended`.
    const uint64_t keep = seed % 2 == 1 ? 1 + seed % 5 : 0;
    RaftStorageOptions opts = options_for(dir.path(), keep);
    // Half the runs on preallocated segments (zero tails, rolls by rename).
    opts.preallocate = seed > 4;
    auto s = open_storage(opts);
    MemoryStorage m;
    std::map<Index, Entry> appended;  // every entry by index, as last written
    auto note = [&](const std::vector<Entry>& ents) {
      if (ents.empty()) return;
      appended.erase(appended.lower_bound(ents.front().index), appended.end());
      for (const Entry& e : ents)
        appended[e.index] = e;
    };
    Term cur_term = 1;
    Index commit = 0;
    kvraft::raft::NodeId vote = 0;
    auto hs = [&] { return HardState{cur_term, vote, commit}; };
    auto conf = [&] {
      ConfState c;
      for (uint64_t id = 1; id <= 1 + rng() % 4; ++id)
        c.voters.push_back(id);
      if (rng() % 2) c.learners.push_back(9);
      return c;
    };
    for (int step = 0; step < 150; ++step) {
      CAPTURE(step);
      const int what = static_cast<int>(rng() % 100);
      if (what < 45) {
        // Append, sometimes replacing a suffix above the commit index.
        Index base = std::max(commit, m.snapshot_meta().index);
        Index at = m.last_index() + 1;
        if (rng() % 4 == 0 && at > base + 1) at = base + 1 + rng() % (at - base - 1);
        if (at <= m.last_index() || rng() % 5 == 0) {
          ++cur_term;
          vote = rng() % 4;
        }
        auto ents = make_entries(at, at + rng() % 6, cur_term);
        m.append(ents);
        note(ents);
        commit = commit + rng() % (m.last_index() - commit + 1);
        m.set_hard_state(hs());
        run(*s, append_ready(ents, hs()), rng() % 3 == 0);
      } else if (what < 55) {
        if (rng() % 2) {
          ++cur_term;
          vote = rng() % 4;
        }
        commit = commit + rng() % (m.last_index() - commit + 1);
        m.set_hard_state(hs());
        run(*s, append_ready({}, hs()), rng() % 2 == 0);
      } else if (what < 70) {
        // Local snapshot at a committed index.
        Index snap = m.snapshot_meta().index;
        if (commit <= snap) continue;
        Index at = snap + 1 + rng() % (commit - snap);
        SnapshotMeta meta{at, *m.term(at), conf()};
        std::string bytes = write_local_snapshot(*s, meta, static_cast<int>(rng() % 50));
        CHECK(s->install_local_snapshot(meta));
        m.create_snapshot(meta, bytes);
        if (rng() % 2) run(*s, Ready{});  // the compaction batch
      } else if (what < 85) {
        // Received snapshot beyond the commit index, in chunks over batches.
        ++cur_term;
        Index at = commit + 1 + rng() % (m.last_index() + 5 - commit);
        SnapshotMeta meta{at, cur_term, conf()};
        std::string bytes = rdb_image(meta, static_cast<int>(rng() % 200));
        auto chunks = chunks_of(meta, bytes, 1 + rng() % 2000);
        size_t k = 0;
        while (k < chunks.size()) {
          Ready rd;
          size_t n = 1 + rng() % 3;
          for (; n > 0 && k < chunks.size(); --n, ++k) {
            rd.snapshot_chunks.push_back(chunks[k]);
            m.write_snapshot_chunk(chunks[k].meta, chunks[k].offset, chunks[k].data);
          }
          if (k == chunks.size()) {
            rd.snapshot = meta;
            m.install_received_snapshot(meta);
            appended.clear();
            commit = at;
            if (rng() % 2) {
              rd.entries = make_entries(at + 1, at + 1 + rng() % 3, cur_term);
              m.append(rd.entries);
              note(rd.entries);
            }
            rd.hard_state = hs();
            m.set_hard_state(hs());
            auto b = run(*s, rd);
            CHECK(b.installed_snapshot_path == s->snapshot_path(meta));
            CHECK(s->current_snapshot_path() == b.installed_snapshot_path);
          } else {
            run(*s, rd);
          }
        }
      } else {
        s.reset();
        s = open_storage(opts);
      }
      // The driver lets applied (so committed) entries leave memory; every
      // read must still see them, now from the segment files.
      if (rng() % 2) s->release_applied(rng() % (commit + 1));
      check_same(*s, m, rng, keep > 0 ? &appended : nullptr, keep);
    }
    // Exactly one snapshot file survives (after one more batch cleans up).
    run(*s, Ready{});
    if (m.snapshot_meta().index > 0) CHECK(count_files(dir.path(), "snapshot-") == 1);
  }
}

TEST_CASE("released entries are read back from the segment files, across segments and budgets") {
  kvraft::test::TempDir dir;
  auto s = open_storage(options_for(dir.path()));
  append_in_batches(*s, 1, 40, 1, HardState{1, 1, 40});
  // A later term, so the released range has two term runs.
  append_in_batches(*s, 41, 60, 2, HardState{2, 1, 60});
  const auto before = s->entries(1, 61, UINT64_MAX);
  const uint64_t bytes_before = s->mirror_bytes();
  s->release_applied(50);
  CHECK(s->memory_first_index() == 51);
  CHECK(s->mirror_bytes() < bytes_before / 3);
  CHECK(s->first_index() == 1);
  CHECK(s->last_index() == 60);
  CHECK(s->entries(1, 61, UINT64_MAX) == before);
  CHECK(s->term(40) == 1);
  CHECK(s->term(41) == 2);
  CHECK(s->term(50) == 2);
  // The same budget cuts as for entries in memory: at least one, then
  // stop before exceeding max_bytes.
  CHECK(s->entries(3, 30, 0).size() == 1);
  auto some = s->entries(3, 61, 300);
  REQUIRE(!some.empty());
  CHECK(some.size() < 58);
  CHECK(std::equal(some.begin(), some.end(), before.begin() + 2));
  // Releasing everything, then appending more, then a local snapshot with
  // compaction: the reads keep working and survive reopen.
  s->release_applied(1000);
  CHECK(s->memory_first_index() == 61);
  CHECK(s->mirror_bytes() == 0);
  CHECK(s->entries(55, 61, UINT64_MAX) == std::vector<Entry>(before.begin() + 54, before.end()));
  append_in_batches(*s, 61, 70, 2, HardState{2, 1, 70});
  SnapshotMeta meta{45, 2, ConfState{{1}, {}}};
  write_local_snapshot(*s, meta, 3);
  CHECK(s->install_local_snapshot(meta));
  run(*s, Ready{});  // compaction
  CHECK(s->first_index() == 46);
  CHECK(s->entries(46, 61, UINT64_MAX) == std::vector<Entry>(before.begin() + 45, before.end()));
  CHECK(s->term(45) == 2);
  s.reset();
  s = open_storage(options_for(dir.path()));
  s->release_applied(65);
  CHECK(s->entries(46, 61, UINT64_MAX) == std::vector<Entry>(before.begin() + 45, before.end()));
}

TEST_CASE("released entries are read back from preallocated segments across rolls and reopen") {
  // Each roll renames a zero-filled spare into place; the reads go through a
  // descriptor reopened on it, and stop at the records, not the zero tail.
  kvraft::test::TempDir dir;
  RaftStorageOptions opts = options_for(dir.path());
  opts.preallocate = true;
  auto s = open_storage(opts);
  append_in_batches(*s, 1, 40, 1, HardState{1, 1, 40});
  append_in_batches(*s, 41, 60, 2, HardState{2, 1, 60});
  CHECK(count_files(dir.path(), "log-spare") == 1);  // the next roll's
  const auto before = s->entries(1, 61, UINT64_MAX);
  s->release_applied(1000);
  CHECK(s->mirror_bytes() == 0);
  CHECK(s->entries(1, 61, UINT64_MAX) == before);
  CHECK(s->term(41) == 2);
  s.reset();
  s = open_storage(opts);
  CHECK(s->last_index() == 60);
  s->release_applied(60);
  CHECK(s->entries(1, 61, UINT64_MAX) == before);
  append_in_batches(*s, 61, 70, 3, HardState{3, 1, 70});
  s->release_applied(70);
  CHECK(s->entries(55, 71, UINT64_MAX).back() == make_entries(70, 70, 3)[0]);
}

TEST_CASE("a local snapshot keeps a window of entries, compacts the log and survives reopen") {
  kvraft::test::TempDir dir;
  RaftStorageOptions opts = options_for(dir.path(), /*keep=*/5);
  SnapshotMeta meta{60, 2, ConfState{{1, 2, 3}, {}}};
  std::string bytes;
  {
    auto s = open_storage(opts);
    append_in_batches(*s, 1, 40, 1, HardState{1, 1, 40});
    append_in_batches(*s, 41, 80, 2, HardState{2, 1, 70});
    const size_t segments_before = count_files(dir.path(), "log-");
    REQUIRE(segments_before > 4);

    // An older snapshot first, to see it removed later.
    SnapshotMeta older{20, 1, ConfState{{1}, {}}};
    write_local_snapshot(*s, older, 3);
    CHECK(s->install_local_snapshot(older));
    CHECK(s->first_index() == 16);

    bytes = write_local_snapshot(*s, meta, 10);
    CHECK(s->install_local_snapshot(meta));
    CHECK(s->snapshot_meta() == meta);
    CHECK(s->current_snapshot_path() == s->snapshot_path(meta));
    // The window: entries 56..60 stay readable; 55's term is known too.
    CHECK(s->first_index() == 56);
    CHECK(s->last_index() == 80);
    CHECK(s->term(55) == Term{2});
    CHECK(!s->term(54).has_value());
    CHECK(s->entries(56, 61, UINT64_MAX) == make_entries(56, 60, 2));
    bool ok = false;
    CHECK(read_whole_snapshot(*s, meta, &ok) == bytes);
    CHECK(ok);
    // An older snapshot arriving late is refused.
    CHECK(!s->install_local_snapshot(older));
    CHECK_THROWS_AS(s->install_local_snapshot(SnapshotMeta{81, 2, {}}), std::invalid_argument);
    CHECK_THROWS_AS(s->install_local_snapshot(SnapshotMeta{70, 1, {}}), std::invalid_argument);

    // Compaction and cleanup ride on the next batch.
    CHECK(count_files(dir.path(), "snapshot-") == 2);
    auto b = s->prepare(Ready{});
    CHECK(b.compact_up_to == 55);
    CHECK(b.snapshot_floor == 60);
    s->persist(b);
    s->publish(b);
    CHECK(count_files(dir.path(), "log-") < segments_before);
    CHECK(count_files(dir.path(), "snapshot-") == 1);
    CHECK(fs::exists(s->snapshot_path(meta)));
    run(*s, append_ready(make_entries(81, 85, 2), HardState{2, 1, 80}));
  }
  RecoveryInfo info;
  auto s = open_storage(opts, &info);
  CHECK(info.snapshot_path == dir.path() + "/" + RaftStorage::snapshot_file_name(60, 2));
  CHECK(info.snapshot_meta == meta);
  CHECK(info.snapshot_bytes == bytes.size());
  CHECK(s->snapshot_meta() == meta);
  CHECK(s->first_index() == 61);  // a reopen starts exactly after the snapshot
  CHECK(s->last_index() == 85);
  CHECK(s->term(60) == Term{2});
  CHECK(s->entries(61, 86, UINT64_MAX).front() == make_entries(61, 61, 2).front());
  CHECK(info.entries == 25);
  check_consistent(*s);
}

TEST_CASE(
    "with defer_file_removal compaction unlinks nothing on the disk thread; "
    "remove_obsolete_files does it on its own thread") {
  kvraft::test::TempDir dir;
  RaftStorageOptions opts = options_for(dir.path(), /*keep=*/5);
  opts.defer_file_removal = true;
  // Which thread unlinked which file.
  auto unlinks = std::make_shared<std::vector<std::pair<std::thread::id, std::string>>>();
  auto mu = std::make_shared<std::mutex>();
  opts.fault_hook = [unlinks, mu](IoOp op, const std::string& path, size_t) -> IoFault {
    if (op == IoOp::kUnlink) {
      std::lock_guard<std::mutex> lock(*mu);
      unlinks->emplace_back(std::this_thread::get_id(), path);
    }
    return {};
  };
  SnapshotMeta meta{60, 2, ConfState{{1, 2, 3}, {}}};
  auto s = open_storage(opts);
  append_in_batches(*s, 1, 40, 1, HardState{1, 1, 40});
  append_in_batches(*s, 41, 80, 2, HardState{2, 1, 70});
  const size_t segments_before = count_files(dir.path(), "log-");
  REQUIRE(segments_before > 4);
  SnapshotMeta older{20, 1, ConfState{{1}, {}}};
  write_local_snapshot(*s, older, 3);
  CHECK(s->install_local_snapshot(older));
  write_local_snapshot(*s, meta, 10);
  CHECK(s->install_local_snapshot(meta));
  CHECK_FALSE(s->has_obsolete_files());

  // The batch carrying the compaction (and new entries) leaves every file.
  unlinks->clear();
  run(*s, append_ready(make_entries(81, 85, 2), HardState{2, 1, 80}));
  CHECK(unlinks->empty());
  CHECK(count_files(dir.path(), "log-") >= segments_before);  // 81.. may start one more
  CHECK(count_files(dir.path(), "snapshot-") == 2);
  CHECK(s->first_index() == 56);
  CHECK(s->entries(56, 86, UINT64_MAX).size() == 30);
  REQUIRE(s->has_obsolete_files());

  size_t removed = 0;
  std::thread::id remover;
  std::thread worker([&] {
    remover = std::this_thread::get_id();
    removed = s->remove_obsolete_files();
  });
  worker.join();
  CHECK(removed == unlinks->size());
  CHECK(removed >= 2);
  for (const auto& [tid, path] : *unlinks) {
    CHECK(tid == remover);
    CHECK_FALSE(fs::exists(path));
  }
  CHECK_FALSE(s->has_obsolete_files());
  CHECK(count_files(dir.path(), "log-") < segments_before);
  CHECK(count_files(dir.path(), "snapshot-") == 1);
  CHECK(fs::exists(s->snapshot_path(meta)));
  CHECK(s->remove_obsolete_files() == 0);
  check_consistent(*s);
}

TEST_CASE("a file remove_obsolete_files cannot unlink is reported once; the rest stay queued") {
  kvraft::test::TempDir dir;
  RaftStorageOptions opts = options_for(dir.path(), /*keep=*/0);
  opts.defer_file_removal = true;
  auto fail_first = std::make_shared<bool>(true);
  opts.fault_hook = [fail_first](IoOp op, const std::string& path, size_t) -> IoFault {
    if (op == IoOp::kUnlink && path.find("/log-0") != std::string::npos &&
        std::exchange(*fail_first, false))
      return {EACCES};
    return {};
  };
  SnapshotMeta meta{60, 2, ConfState{{1, 2, 3}, {}}};
  auto s = open_storage(opts);
  append_in_batches(*s, 1, 80, 1, HardState{1, 1, 80});
  const size_t segments_before = count_files(dir.path(), "log-");
  REQUIRE(segments_before > 4);
  write_local_snapshot(*s, SnapshotMeta{60, 1, ConfState{{1}, {}}}, 3);
  CHECK(s->install_local_snapshot(SnapshotMeta{60, 1, ConfState{{1}, {}}}));
  auto b = s->prepare_compaction();
  s->persist(b);
  s->publish(b);
  CHECK_THROWS_AS(s->remove_obsolete_files(), IoError);
  CHECK(count_files(dir.path(), "log-") == segments_before);
  REQUIRE(s->has_obsolete_files());
  const size_t removed = s->remove_obsolete_files();
  CHECK(removed > 0);
  CHECK(count_files(dir.path(), "log-") == segments_before - removed);
  CHECK_FALSE(s->has_obsolete_files());
}

TEST_CASE("a snapshot received in chunks is installed, replaces the log and survives reopen") {
  kvraft::test::TempDir dir;
  RaftStorageOptions opts = options_for(dir.path());
  SnapshotMeta old_meta{10, 1, ConfState{{1, 2}, {}}};
  SnapshotMeta meta{100, 3, ConfState{{1, 2, 3}, {4}}};
  std::string bytes = rdb_image(meta, 300);
  REQUIRE(bytes.size() > 3000);
  {
    auto s = open_storage(opts);
    run(*s, append_ready(make_entries(1, 30, 1), HardState{1, 1, 12}));
    write_local_snapshot(*s, old_meta, 2);
    REQUIRE(s->install_local_snapshot(old_meta));
    run(*s, Ready{});
    auto chunks = chunks_of(meta, bytes, 1000);
    for (size_t k = 0; k < chunks.size(); ++k) {
      Ready rd;
      rd.snapshot_chunks.push_back(chunks[k]);
      if (k + 1 == chunks.size()) {
        rd.snapshot = meta;
        rd.entries = make_entries(101, 103, 3);
        rd.hard_state = HardState{3, 0, 100};
      }
      auto b = run(*s, rd);
      if (k + 1 < chunks.size()) {
        // Not visible until installed.
        CHECK(s->snapshot_meta() == old_meta);
        CHECK(fs::exists(dir.file(RaftStorage::kIncomingTempName)));
      } else {
        CHECK(b.installed_snapshot_path == s->snapshot_path(meta));
        CHECK(b.installed_snapshot_size == bytes.size());
      }
    }
    CHECK(s->snapshot_meta() == meta);
    CHECK(s->first_index() == 101);
    CHECK(s->last_index() == 103);
    CHECK(s->hard_state() == HardState{3, 0, 100});
    CHECK(!fs::exists(dir.file(RaftStorage::kIncomingTempName)));
    bool ok = false;
    CHECK(read_whole_snapshot(*s, meta, &ok, 777) == bytes);
    CHECK(ok);
    CHECK(!s->read_snapshot_chunk(old_meta, 0, 10, &bytes, nullptr));
    run(*s, Ready{});  // removes the superseded snapshot file
    CHECK(count_files(dir.path(), "snapshot-") == 1);
  }
  RecoveryInfo info;
  auto s = open_storage(opts, &info);
  CHECK(info.warnings.empty());
  CHECK(s->snapshot_meta() == meta);
  CHECK(s->first_index() == 101);
  CHECK(s->last_index() == 103);
  CHECK(s->entries(101, 104, UINT64_MAX) == make_entries(101, 103, 3));
  check_consistent(*s);
}

TEST_CASE("chunks that do not continue the incoming file, or installing another snapshot, fail") {
  kvraft::test::TempDir dir;
  SnapshotMeta meta{5, 1, ConfState{{1}, {}}};
  std::string bytes = rdb_image(meta, 20);
  auto chunks = chunks_of(meta, bytes, 100);
  SUBCASE("a gap between chunks") {
    auto s = open_storage(options_for(dir.path()));
    Ready rd;
    rd.snapshot_chunks = {chunks[0], chunks[2]};
    auto b = s->prepare(rd);
    CHECK_THROWS_AS(s->persist(b), std::invalid_argument);
    CHECK(s->failed());
  }
  SUBCASE("install of a snapshot that was not received") {
    auto s = open_storage(options_for(dir.path()));
    Ready rd;
    rd.snapshot_chunks = {chunks[0]};
    run(*s, rd);
    Ready install;
    install.snapshot = SnapshotMeta{6, 1, ConfState{{1}, {}}};
    auto b = s->prepare(install);
    CHECK_THROWS_AS(s->persist(b), std::invalid_argument);
  }
  SUBCASE("a received file whose aux fields disagree with the announced meta") {
    auto s = open_storage(options_for(dir.path()));
    run(*s, append_ready(make_entries(1, 3, 1), HardState{1, 0, 2}));
    SnapshotMeta announced{5, 2, ConfState{{1}, {}}};
    Ready rd;
    rd.snapshot_chunks = chunks_of(announced, bytes, 1 << 20);
    rd.snapshot = announced;
    auto b = s->prepare(rd);
    try {
      s->persist(b);
      FAIL("persist accepted a snapshot with the wrong meta");
    } catch (const IoError& e) {
      CHECK(std::string(e.what()).find("aux fields say 5/t1") != std::string::npos);
    }
    CHECK(s->failed());
    s.reset();
    auto r = open_storage(options_for(dir.path()));  // old state intact
    CHECK(r->last_index() == 3);
    CHECK(r->snapshot_meta().index == 0);
  }
  SUBCASE("a received file that is not RDB") {
    auto s = open_storage(options_for(dir.path()));
    Ready rd;
    rd.snapshot_chunks = {SnapshotChunk{meta, 0, "this is not an rdb file", 23}};
    rd.snapshot = meta;
    auto b = s->prepare(rd);
    CHECK_THROWS_AS(s->persist(b), IoError);
    CHECK(s->failed());
  }
}

TEST_CASE("a failure at every file operation of a received-snapshot install leaves no gap") {
  SnapshotMeta old_meta{10, 1, ConfState{{1}, {}}};
  SnapshotMeta meta{45, 3, ConfState{{1, 2}, {}}};
  std::string bytes = rdb_image(meta, 100);
  bool completed = false;
  for (int fail_at = 0; !completed && fail_at < 100; ++fail_at) {
    CAPTURE(fail_at);
    kvraft::test::TempDir dir;
    auto plan = std::make_shared<FaultPlan>();
    RaftStorageOptions opts = options_for(dir.path());
    opts.fault_hook = hook_for(plan);
    {
      auto s = open_storage(opts);
      // Old state: snapshot 10, log 11..60 where 45 has term 2 (so the
      // received snapshot's last entry is not held), in several segments.
      append_in_batches(*s, 1, 40, 1, HardState{1, 1, 12});
      append_in_batches(*s, 41, 60, 2, HardState{2, 1, 12});
      REQUIRE(count_files(dir.path(), "log-") > 4);
      write_local_snapshot(*s, old_meta, 2);
      REQUIRE(s->install_local_snapshot(old_meta));
      run(*s, Ready{});
      Ready chunks;
      chunks.snapshot_chunks = chunks_of(meta, bytes, 700);
      run(*s, chunks);

      plan->count = 0;
      plan->seen.clear();
      plan->fail_at = fail_at;
      Ready rd;
      rd.snapshot = meta;
      rd.entries = make_entries(46, 48, 3);
      rd.hard_state = HardState{3, 0, 45};
      auto b = s->prepare(rd);
      try {
        s->persist(b);
        completed = true;
        s->publish(b);
      } catch (const IoError& e) {
        CHECK(s->failed());
        CHECK(s->failure() == e.what());
        auto again = s->prepare(Ready{});
        CHECK_THROWS_AS(s->persist(again), IoError);  // failed for good
      }
    }
    plan->fail_at = -1;
    RecoveryInfo info;
    auto r = open_storage(opts, &info);
    check_consistent(*r);
    const SnapshotMeta got = r->snapshot_meta();
    if (got.index == meta.index) {
      CHECK(got == meta);
      CHECK(r->first_index() == 46);
      CHECK((r->last_index() == 45 || r->last_index() == 48));
      if (r->last_index() == 48) CHECK(r->term(48) == Term{3});
    } else {
      CHECK(got == old_meta);
      CHECK(r->first_index() == 11);
      CHECK(r->last_index() == 60);
      CHECK(r->term(45) == Term{2});
    }
    CHECK(count_files(dir.path(), "snapshot-incoming") == 0);
    // The disk log accepts the continuation of what was loaded.
    const Index next = r->last_index() + 1;
    run(*r, append_ready(make_entries(next, next + 1, 4), HardState{4, 0, r->hard_state().commit}));
    r.reset();
    auto r2 = open_storage(opts);
    CHECK(r2->last_index() == next + 1);
    CHECK(r2->snapshot_meta() == got);
    check_consistent(*r2);
  }
  CHECK(completed);
}

TEST_CASE("open reconciles a log that a newer snapshot supersedes, as a crash leaves it") {
  SnapshotMeta meta{45, 3, ConfState{{1}, {}}};
  std::string bytes = rdb_image(meta, 10);
  auto place_snapshot = [&](const std::string& dir) {
    std::FILE* f = std::fopen((dir + "/" + RaftStorage::snapshot_file_name(45, 3)).c_str(), "wb");
    REQUIRE(f != nullptr);
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  };
  SUBCASE("renamed into place, log not yet dropped: the log holds 45 with another term") {
    kvraft::test::TempDir dir;
    {
      auto s = open_storage(options_for(dir.path()));
      append_in_batches(*s, 1, 60, 2, HardState{2, 1, 30});
    }
    place_snapshot(dir.path());
    RecoveryInfo info;
    auto s = open_storage(options_for(dir.path()), &info);
    CHECK(s->snapshot_meta() == meta);
    CHECK(s->first_index() == 46);
    CHECK(s->last_index() == 45);
    REQUIRE(info.warnings.size() == 1);
    CHECK(info.warnings[0].find("discarded log 1..60") != std::string::npos);
    CHECK(count_files(dir.path(), "log-") == 0);
    check_consistent(*s);
  }
  SUBCASE("the log ends before the snapshot") {
    kvraft::test::TempDir dir;
    {
      auto s = open_storage(options_for(dir.path()));
      run(*s, append_ready(make_entries(1, 30, 2), HardState{2, 1, 30}));
    }
    place_snapshot(dir.path());
    RecoveryInfo info;
    auto s = open_storage(options_for(dir.path()), &info);
    CHECK(s->first_index() == 46);
    CHECK(s->last_index() == 45);
    CHECK(info.warnings.size() == 1);
    // The next entries append cleanly after the snapshot.
    run(*s, append_ready(make_entries(46, 47, 3), HardState{3, 0, 45}));
    s.reset();
    s = open_storage(options_for(dir.path()));
    CHECK(s->last_index() == 47);
  }
  SUBCASE("the log holds the snapshot's entry: entries after it are kept") {
    kvraft::test::TempDir dir;
    {
      auto s = open_storage(options_for(dir.path()));
      run(*s, append_ready(make_entries(1, 50, 3), HardState{3, 1, 50}));
    }
    place_snapshot(dir.path());
    RecoveryInfo info;
    auto s = open_storage(options_for(dir.path()), &info);
    CHECK(info.warnings.empty());
    CHECK(s->first_index() == 46);
    CHECK(s->last_index() == 50);
    CHECK(info.entries == 5);
  }
}

TEST_CASE("a log that starts after the snapshot ends is an error, or dropped with repair") {
  kvraft::test::TempDir dir;
  SnapshotMeta meta{30, 1, ConfState{{1}, {}}};
  {
    auto s = open_storage(options_for(dir.path()));
    append_in_batches(*s, 1, 60, 1, HardState{1, 1, 40});
    run(*s, Ready{}, /*save_commit=*/true);
    REQUIRE(s->hard_state().commit == 40);
    write_local_snapshot(*s, meta, 1);
    REQUIRE(s->install_local_snapshot(meta));
    run(*s, Ready{});
    REQUIRE(s->prepare(Ready{}).compact_up_to == 0);
  }
  fs::remove(dir.file(RaftStorage::snapshot_file_name(30, 1)));  // an operator's mistake
  try {
    open_storage(options_for(dir.path()));
    FAIL("opened a log with missing entries");
  } catch (const IoError& e) {
    CHECK(std::string(e.what()).find("are missing") != std::string::npos);
    CHECK(e.path().find("log-") != std::string::npos);
  }
  RaftStorageOptions opts = options_for(dir.path());
  opts.repair = true;
  RecoveryInfo info;
  // The commit index (40) then lies beyond the (empty) log: repair lowers it.
  auto s = open_storage(opts, &info);
  CHECK(s->last_index() == 0);
  CHECK(s->hard_state().commit == 0);
  CHECK(info.warnings.size() == 2);
}

TEST_CASE("a corrupt newest snapshot is an error naming it; repair falls back and says so") {
  kvraft::test::TempDir dir;
  SnapshotMeta older{10, 1, ConfState{{1}, {}}};
  SnapshotMeta newer{20, 1, ConfState{{1}, {}}};
  {
    auto s = open_storage(options_for(dir.path()));
    run(*s, append_ready(make_entries(1, 30, 1), HardState{1, 1, 25}));
    write_local_snapshot(*s, older, 5);
    REQUIRE(s->install_local_snapshot(older));
  }
  // Newer snapshot file with one flipped byte in the middle.
  std::string bad = rdb_image(newer, 50);
  bad[bad.size() / 2] ^= 0x20;
  const std::string bad_path = dir.file(RaftStorage::snapshot_file_name(20, 1));
  {
    std::FILE* f = std::fopen(bad_path.c_str(), "wb");
    std::fwrite(bad.data(), 1, bad.size(), f);
    std::fclose(f);
  }
  try {
    open_storage(options_for(dir.path()));
    FAIL("opened with a corrupt newest snapshot");
  } catch (const IoError& e) {
    CHECK(e.path() == bad_path);
    CHECK(std::string(e.what()).find(bad_path) != std::string::npos);
  }
  CHECK(fs::exists(bad_path));
  CHECK(fs::exists(dir.file(RaftStorage::snapshot_file_name(10, 1))));

  RaftStorageOptions opts = options_for(dir.path());
  opts.repair = true;
  RecoveryInfo info;
  auto s = open_storage(opts, &info);
  CHECK(s->snapshot_meta() == older);
  CHECK(s->first_index() == 11);
  CHECK(s->last_index() == 30);
  REQUIRE(info.warnings.size() == 1);
  CHECK(info.warnings[0].find("REPAIR") != std::string::npos);
  CHECK(fs::exists(bad_path + ".corrupt"));
  CHECK(!fs::exists(bad_path));
}

TEST_CASE("without verify_snapshot open reads only the aux fields") {
  kvraft::test::TempDir dir;
  SnapshotMeta meta{20, 2, ConfState{{1, 2}, {}}};
  std::string img = rdb_image(meta, 50);
  img[img.size() - 3] ^= 0x01;  // the checksum: only a whole read notices
  const std::string path = dir.file(RaftStorage::snapshot_file_name(20, 2));
  std::FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(img.data(), 1, img.size(), f);
  std::fclose(f);
  CHECK_THROWS_AS(open_storage(options_for(dir.path())), IoError);
  RaftStorageOptions opts = options_for(dir.path());
  opts.verify_snapshot = false;
  RecoveryInfo info;
  auto s = open_storage(opts, &info);
  CHECK(s->snapshot_meta() == meta);
  CHECK(info.snapshot_path == path);
  CHECK(info.snapshot_bytes == img.size());
}

TEST_CASE("a snapshot whose name and aux fields disagree is corrupt") {
  kvraft::test::TempDir dir;
  std::string img = rdb_image(SnapshotMeta{7, 1, ConfState{{1}, {}}}, 1);
  std::FILE* f = std::fopen(dir.file(RaftStorage::snapshot_file_name(8, 1)).c_str(), "wb");
  std::fwrite(img.data(), 1, img.size(), f);
  std::fclose(f);
  CHECK_THROWS_AS(open_storage(options_for(dir.path())), IoError);
}

TEST_CASE("leftover temp files are removed on open and older snapshots deleted") {
  kvraft::test::TempDir dir;
  SnapshotMeta meta{10, 1, ConfState{{1}, {}}};
  {
    auto s = open_storage(options_for(dir.path()));
    run(*s, append_ready(make_entries(1, 20, 1), HardState{1, 1, 15}));
    write_local_snapshot(*s, SnapshotMeta{5, 1, ConfState{{1}, {}}}, 1);
    write_local_snapshot(*s, meta, 1);  // crash before install_local_snapshot
  }
  for (const char* name : {"snapshot-local.tmp", "snapshot-incoming.tmp",
                           "snapshot-00000000000000000011-00000000000000000001.rdb.tmp.123"}) {
    std::FILE* f = std::fopen(dir.file(name).c_str(), "wb");
    std::fputs("partial", f);
    std::fclose(f);
  }
  std::FILE* f = std::fopen(dir.file("unrelated.txt").c_str(), "wb");
  std::fclose(f);
  RecoveryInfo info;
  auto s = open_storage(options_for(dir.path()), &info);
  CHECK(info.warnings.size() == 4);  // three temp files, one older snapshot
  CHECK(s->snapshot_meta() == meta);
  CHECK(s->first_index() == 11);
  CHECK(s->last_index() == 20);
  CHECK(count_files(dir.path(), "snapshot-") == 1);
  CHECK(fs::exists(dir.file("unrelated.txt")));
}

TEST_CASE("an injected fsync error fails the storage for good; the durable state reopens") {
  kvraft::test::TempDir dir;
  auto plan = std::make_shared<FaultPlan>();
  RaftStorageOptions opts = options_for(dir.path());
  opts.fault_hook = [plan](IoOp op, const std::string&, size_t) -> IoFault {
    if (op == IoOp::kSync && plan->fail_at == 1) return IoFault{EIO, 0};
    return {};
  };
  {
    auto s = open_storage(opts);
    run(*s, append_ready(make_entries(1, 10, 1), HardState{1, 1, 5}));
    plan->fail_at = 1;
    auto b = s->prepare(append_ready(make_entries(11, 20, 1), HardState{1, 1, 15}));
    CHECK_THROWS_AS(s->persist(b), IoError);
    CHECK(s->failed());
    CHECK(s->failure().find("Input/output error") != std::string::npos);
    CHECK_THROWS_AS(s->publish(b), std::logic_error);
    CHECK(s->last_index() == 10);  // nothing of the failed batch is visible
    plan->fail_at = -1;
    auto b2 = s->prepare(append_ready(make_entries(11, 11, 1)));
    CHECK_THROWS_AS(s->persist(b2), IoError);
  }
  auto s = open_storage(opts);
  CHECK(s->hard_state().term == 1);
  CHECK(s->hard_state().commit <= s->last_index());
  check_consistent(*s);
}

TEST_CASE("the saved commit never runs ahead of the durable log") {
  // A batch whose entries fail to sync must not leave a hard state whose
  // commit index points past the log: the core refuses to start from that.
  kvraft::test::TempDir dir;
  auto plan = std::make_shared<FaultPlan>();
  RaftStorageOptions opts = options_for(dir.path());
  opts.fault_hook = [plan](IoOp op, const std::string& path, size_t) -> IoFault {
    // The batch's write never reaches the file (a crash before it would
    // leave the same disk).
    if (plan->fail_at == 1 && op == IoOp::kWrite && path.find("log-") != std::string::npos)
      return IoFault{ENOSPC, 0};
    return {};
  };
  {
    auto s = open_storage(opts);
    run(*s, append_ready(make_entries(1, 5, 1), HardState{1, 1, 5}));
    plan->fail_at = 1;
    // New term (a required save) and a commit covering the new entries.
    auto b = s->prepare(append_ready(make_entries(6, 10, 2), HardState{2, 3, 10}));
    CHECK_THROWS_AS(s->persist(b), IoError);
  }
  plan->fail_at = -1;
  RecoveryInfo info;
  auto s = open_storage(opts, &info);
  CHECK(s->hard_state().term == 2);
  CHECK(s->hard_state().vote == 3);
  CHECK(s->last_index() == 5);
  CHECK(s->hard_state().commit <= 5);
  check_consistent(*s);
}

TEST_CASE("a saved commit never marks entries that the same batch replaces as committed") {
  // Old log 1..60, committed to 12; the leader replaces 13.. and says commit
  // 20. If the hard state (saved first, for the new term) said 20 and the
  // entries never reached the disk, a restart would treat the OLD 13..20 as
  // committed.
  kvraft::test::TempDir dir;
  auto fail_log_writes = std::make_shared<bool>(false);
  RaftStorageOptions opts = options_for(dir.path());
  opts.fault_hook = [fail_log_writes](IoOp op, const std::string& path, size_t) -> IoFault {
    // The truncation of the old suffix fails before touching anything (as
    // a crash right after the hard-state save would leave the disk).
    if (*fail_log_writes && (op == IoOp::kUnlink || op == IoOp::kTruncate) &&
        path.find("log-") != std::string::npos)
      return IoFault{EIO, 0};
    return {};
  };
  {
    auto s = open_storage(opts);
    append_in_batches(*s, 1, 60, 1, HardState{1, 1, 12});
    run(*s, Ready{}, /*save_commit=*/true);
    REQUIRE(s->hard_state().commit == 12);
    *fail_log_writes = true;
    auto b = s->prepare(append_ready(make_entries(13, 20, 2), HardState{2, 2, 20}));
    CHECK_THROWS_AS(s->persist(b), IoError);
  }
  *fail_log_writes = false;
  auto s = open_storage(opts);
  CHECK(s->hard_state().term == 2);
  CHECK(s->last_index() == 60);
  CHECK(s->term(13) == Term{1});
  CHECK(s->hard_state().commit <= 12);
}

TEST_CASE("open discards a log after the snapshot whose first term is below the snapshot's") {
  kvraft::test::TempDir dir;
  {
    kvraft::storage::RaftLogOptions lo;
    lo.dir = dir.path();
    kvraft::storage::LogRecovery rec;
    auto log = kvraft::storage::RaftLog::open(lo, &rec);
    log->append(make_entries(46, 60, 2));
    log->sync();
  }
  SnapshotMeta meta{45, 3, ConfState{{1}, {}}};
  std::string bytes = rdb_image(meta, 3);
  std::FILE* f = std::fopen(dir.file(RaftStorage::snapshot_file_name(45, 3)).c_str(), "wb");
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  RecoveryInfo info;
  auto s = open_storage(options_for(dir.path()), &info);
  CHECK(s->first_index() == 46);
  CHECK(s->last_index() == 45);
  REQUIRE(info.warnings.size() == 1);
  CHECK(info.warnings[0].find("cannot continue the snapshot") != std::string::npos);
}

TEST_CASE("a commit-only change is saved lazily, with save_commit") {
  kvraft::test::TempDir dir;
  {
    auto s = open_storage(options_for(dir.path()));
    run(*s, append_ready(make_entries(1, 10, 1), HardState{1, 1, 0}));
    run(*s, append_ready({}, HardState{1, 1, 5}));
    CHECK(s->hard_state().commit == 0);  // not saved: durable state only
    auto b = run(*s, Ready{}, /*save_commit=*/true);
    CHECK(b.saved_state.has_value());
    CHECK(s->hard_state() == HardState{1, 1, 5});
    RaftStorage::Batch with_conf = s->prepare(Ready{});
    with_conf.conf = ConfState{{1, 2}, {3}};
    s->persist(with_conf);
    s->publish(with_conf);
    CHECK(s->saved_conf() == ConfState{{1, 2}, {3}});
  }
  auto s = open_storage(options_for(dir.path()));
  CHECK(s->hard_state() == HardState{1, 1, 5});
  CHECK(s->saved_conf() == ConfState{{1, 2}, {3}});
}

TEST_CASE("a snapshot transfer reads through its descriptor until a newer one is published") {
  kvraft::test::TempDir dir;
  RaftStorageOptions opts = options_for(dir.path());
  auto s = open_storage(opts);
  run(*s, append_ready(make_entries(1, 30, 1), HardState{1, 1, 25}));
  SnapshotMeta a{20, 1, ConfState{{1}, {}}};
  std::string a_bytes = write_local_snapshot(*s, a, 200);
  REQUIRE(s->install_local_snapshot(a));

  std::string first, rest;
  uint64_t total = 0;
  REQUIRE(s->read_snapshot_chunk(a, 0, 1000, &first, &total));
  CHECK(total == a_bytes.size());

  // A received snapshot is persisted (renamed into place) but not yet
  // published, and A's file disappears (as a cleanup or an operator would
  // remove it): the transfer in progress still reads A.
  SnapshotMeta b{40, 2, ConfState{{1, 2}, {}}};
  std::string b_bytes = rdb_image(b, 30);
  Ready rd;
  rd.snapshot_chunks = chunks_of(b, b_bytes, 1 << 20);
  rd.snapshot = b;
  auto batch = s->prepare(rd);
  s->persist(batch);
  fs::remove(s->snapshot_path(a));
  REQUIRE(s->read_snapshot_chunk(a, 1000, UINT64_MAX, &rest, &total));
  CHECK(first + rest == a_bytes);
  std::string empty;
  CHECK(s->read_snapshot_chunk(a, total, 10, &empty, &total));
  CHECK(empty.empty());
  CHECK(!s->read_snapshot_chunk(a, total + 1, 10, &empty, &total));

  s->publish(batch);
  CHECK(!s->read_snapshot_chunk(a, 0, 10, &empty, &total));  // start over with B
  bool ok = false;
  CHECK(read_whole_snapshot(*s, b, &ok) == b_bytes);
  CHECK(ok);
  // A local snapshot that finishes after B was installed is refused and its
  // file removed with the next batch.
  write_local_snapshot(*s, SnapshotMeta{25, 1, ConfState{{1}, {}}}, 1);
  CHECK(!s->install_local_snapshot(SnapshotMeta{25, 1, ConfState{{1}, {}}}));
  run(*s, Ready{});
  CHECK(count_files(dir.path(), "snapshot-") == 1);
  CHECK(fs::exists(s->snapshot_path(b)));
}

TEST_CASE("a second open of the same directory is refused") {
  kvraft::test::TempDir dir;
  auto s = open_storage(options_for(dir.path()));
  CHECK_THROWS_AS(open_storage(options_for(dir.path())), IoError);
}

TEST_CASE("figures: group-commit batches and open of a long log") {
  // Reports what a batch costs with real fsyncs and how fast open() loads a
  // log; the checks make sure the figures describe what was written.
  kvraft::test::TempDir dir;
  RaftStorageOptions opts = options_for(dir.path());
  opts.segment_size = 8 << 20;
  constexpr Index kBatches = 200;
  constexpr Index kPerBatch = 50;
  const std::string value(100, 'v');
  uint64_t syncs = 0;
  double batch_us = 0;
  {
    auto s = open_storage(opts);
    for (Index b = 0; b < kBatches; ++b) {
      Ready rd;
      for (Index k = 1; k <= kPerBatch; ++k)
        rd.entries.push_back(Entry{b * kPerBatch + k, 1, EntryType::kNormal, value});
      rd.hard_state = HardState{1, 1, b * kPerBatch};
      auto start = std::chrono::steady_clock::now();
      auto batch = run(*s, rd);
      batch_us +=
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
              .count();
      syncs += batch.syncs;
    }
  }
  // One hard-state save (the first term), then one fdatasync per batch.
  CHECK(syncs == kBatches + 2);
  RecoveryInfo info;
  auto s = open_storage(opts, &info);
  CHECK(info.entries == kBatches * kPerBatch);
  CHECK(info.entry_bytes == kBatches * kPerBatch * value.size());
  CHECK(info.last_index == kBatches * kPerBatch);
  MESSAGE("persist+publish of a " << kPerBatch << "-entry batch: " << batch_us / kBatches
                                  << " us mean (fsync always); open of " << info.entries
                                  << " entries: " << info.micros << " us");
}

TEST_CASE("persist on a disk thread while the loop thread reads and installs local snapshots") {
  // The threading contract in use: every persist() runs on another thread
  // while this one keeps reading the published state (which must not move)
  // and installs local snapshots. Built with -fsanitize=thread this also
  // proves the two sides share no unsynchronised state.
  kvraft::test::TempDir dir;
  RaftStorageOptions opts = options_for(dir.path(), /*keep=*/8);
  opts.fsync_mode = kvraft::storage::FsyncMode::kNever;
  auto s = open_storage(opts);
  std::mt19937_64 rng(7);
  Term term = 1;
  Index commit = 0;
  for (int round = 0; round < 60; ++round) {
    CAPTURE(round);
    Ready rd;
    if (round % 17 == 16) {
      ++term;
      SnapshotMeta meta{s->last_index() + 3, term, ConfState{{1, 2}, {}}};
      std::string bytes = rdb_image(meta, 40);
      rd.snapshot_chunks = chunks_of(meta, bytes, 512);
      rd.snapshot = meta;
      commit = meta.index;
    } else {
      const Index first = s->last_index() + 1;
      rd.entries = make_entries(first, first + rng() % 8, term);
      commit = first - 1;
    }
    rd.hard_state = HardState{term, 1, commit};
    auto batch = s->prepare(rd);
    const SnapshotMeta snap_before = s->snapshot_meta();
    const Index last_before = s->last_index();
    std::thread disk([&] { s->persist(batch); });
    bool stable = true;
    for (int k = 0; k < 50; ++k) {
      stable = stable && s->last_index() == last_before &&
               s->entries(s->first_index(), s->last_index() + 1, UINT64_MAX).size() ==
                   s->last_index() + 1 - s->first_index();
      if (snap_before.index > 0) {
        std::string data;
        uint64_t total = 0;
        stable = stable && s->read_snapshot_chunk(s->snapshot_meta(), 0, 100, &data, &total);
      }
    }
    // A local snapshot finished by the child lands while persist runs.
    if (round % 5 == 4 && commit > s->snapshot_meta().index && commit <= s->last_index() &&
        !rd.snapshot) {
      SnapshotMeta meta{commit, *s->term(commit), ConfState{{1}, {}}};
      write_local_snapshot(*s, meta, 5);
      CHECK(s->install_local_snapshot(meta));
    }
    disk.join();
    CHECK(stable);
    s->publish(batch);
    check_consistent(*s);
  }
  s.reset();
  auto r = open_storage(opts);
  check_consistent(*r);
}

TEST_CASE("a restart before compaction skips the covered segments; the next batch deletes them") {
  kvraft::test::TempDir dir;
  RaftStorageOptions opts = options_for(dir.path(), /*keep=*/5);
  SnapshotMeta meta{60, 2, ConfState{{1, 2, 3}, {}}};
  size_t segments_before = 0;
  {
    auto s = open_storage(opts);
    append_in_batches(*s, 1, 40, 1, HardState{1, 1, 40});
    append_in_batches(*s, 41, 80, 2, HardState{2, 1, 70});
    segments_before = count_files(dir.path(), "log-");
    REQUIRE(segments_before > 4);
    write_local_snapshot(*s, meta, 10);
    CHECK(s->install_local_snapshot(meta));
    CHECK(s->compaction_pending());
    // A crash now: the compaction never reached the disk.
  }
  // Damage the first segment: reading it would refuse to open.
  std::vector<std::string> segs;
  for (const auto& e : fs::directory_iterator(dir.path()))
    if (e.path().filename().string().rfind("log-", 0) == 0) segs.push_back(e.path().string());
  std::sort(segs.begin(), segs.end());
  {
    std::string bytes = kvraft::test::read_file(segs[0]);
    bytes[RaftLog::kSegmentHeaderSize + 30] ^= 0x20;
    std::FILE* f = std::fopen(segs[0].c_str(), "r+b");
    REQUIRE(f != nullptr);
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  RecoveryInfo info;
  auto s = open_storage(opts, &info);
  CHECK(info.segments_skipped > 0);
  CHECK(info.segments_skipped < segments_before);
  CHECK(s->snapshot_meta() == meta);
  CHECK(s->first_index() == 61);
  CHECK(s->last_index() == 80);
  CHECK(s->entries(61, 81, UINT64_MAX) == make_entries(61, 80, 2));
  CHECK(count_files(dir.path(), "log-") == segments_before);
  // No Ready needed: the driver's idle compaction batch deletes them.
  REQUIRE(s->compaction_pending());
  auto b = s->prepare_compaction();
  CHECK(b.compact_up_to == 59);
  CHECK(b.entries.empty());
  s->persist(b);
  s->publish(b);
  CHECK(!s->compaction_pending());
  CHECK(!fs::exists(segs[0]));
  CHECK(count_files(dir.path(), "log-") <= segments_before - info.segments_skipped);
  run(*s, append_ready(make_entries(81, 85, 2), HardState{2, 1, 80}));
  s.reset();
  RecoveryInfo again;
  auto reopened = open_storage(opts, &again);
  CHECK(again.segments_skipped == 0);
  CHECK(reopened->last_index() == 85);
  check_consistent(*reopened);
}
