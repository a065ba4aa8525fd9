// tests/unit/storage_hard_state_test.cc — the hard-state file: round trips,
// atomic replacement, corruption detection (every bit of a real file) and the
// sticky failed state after injected I/O errors.
#include <doctest/doctest.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <xxhash.h>

#include "storage/hard_state.h"
#include "tests/support/test_support.h"

using kvraft::storage::FaultHook;
using kvraft::storage::HardStateFile;
using kvraft::storage::IoError;
using kvraft::storage::IoFault;
using kvraft::storage::IoOp;
using kvraft::storage::PersistentState;

namespace {

PersistentState sample_state() {
  PersistentState st;
  st.hard.term = 0x0102030405060708ULL;
  st.hard.vote = 3;
  st.hard.commit = 77;
  st.conf.voters = {1, 2, 3};
  st.conf.learners = {9};
  return st;
}

void write_raw(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

TEST_CASE("hard state of a new node loads as absent") {
  kvraft::test::TempDir dir;
  HardStateFile file(dir.path());
  CHECK_FALSE(file.load().has_value());
}

TEST_CASE("hard state round trips and the latest save wins") {
  kvraft::test::TempDir dir;
  {
    HardStateFile file(dir.path());
    PersistentState st = sample_state();
    file.save(st);
    REQUIRE(file.load() == st);
    st.hard.term += 1;
    st.hard.vote = kvraft::raft::kNoNode;
    st.conf.learners.clear();
    file.save(st);
  }
  HardStateFile reopened(dir.path());
  auto loaded = reopened.load();
  REQUIRE(loaded.has_value());
  CHECK(loaded->hard.term == 0x0102030405060709ULL);
  CHECK(loaded->hard.vote == kvraft::raft::kNoNode);
  CHECK(loaded->hard.commit == 77);
  CHECK(loaded->conf.voters == std::vector<kvraft::raft::NodeId>{1, 2, 3});
  CHECK(loaded->conf.learners.empty());
  // No temp file is left behind by a successful save.
  CHECK(kvraft::test::read_file(dir.file("hardstate.tmp")).empty());
}

TEST_CASE("hard state with empty membership round trips") {
  kvraft::test::TempDir dir;
  HardStateFile file(dir.path());
  PersistentState st;
  file.save(st);
  CHECK(file.load() == st);
}

TEST_CASE("every single-bit flip and every truncation of a hard state file is detected") {
  kvraft::test::TempDir dir;
  HardStateFile file(dir.path());
  file.save(sample_state());
  const std::string good = kvraft::test::read_file(file.path());
  REQUIRE(good.size() > 16);

  for (size_t byte = 0; byte < good.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = good;
      bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
      write_raw(file.path(), bad);
      CAPTURE(byte);
      CAPTURE(bit);
      CHECK_THROWS_AS(file.load(), IoError);
    }
  }
  for (size_t len = 0; len < good.size(); ++len) {
    write_raw(file.path(), good.substr(0, len));
    CAPTURE(len);
    CHECK_THROWS_AS(file.load(), IoError);
  }
  write_raw(file.path(), good + "x");
  CHECK_THROWS_AS(file.load(), IoError);
  write_raw(file.path(), good);
  CHECK(file.load() == sample_state());
}

TEST_CASE("a corrupt hard state error names the file and the offset") {
  kvraft::test::TempDir dir;
  HardStateFile file(dir.path());
  file.save(sample_state());
  std::string bytes = kvraft::test::read_file(file.path());
  bytes[20] ^= 0x40;  // inside the body: only the checksum can notice
  write_raw(file.path(), bytes);
  try {
    file.load();
    FAIL("corrupt file loaded");
  } catch (const IoError& e) {
    CHECK(e.path() == file.path());
    CHECK(e.offset() == bytes.size() - 8);
    CHECK(std::string(e.what()).find("checksum") != std::string::npos);
    CHECK(std::string(e.what()).find(file.path()) != std::string::npos);
  }
}

TEST_CASE("a huge count in a forged hard state is rejected without allocating") {
  // A file with a valid checksum (as a buggy writer could produce) whose voter
  // count claims four billion entries.
  PersistentState st = sample_state();
  std::string bytes = kvraft::storage::encode_persistent_state(st);
  std::string body = bytes.substr(16, bytes.size() - 24);
  body[24] = '\xff';
  body[25] = '\xff';
  body[26] = '\xff';
  body[27] = '\xff';
  std::string forged = bytes.substr(0, 16) + body;
  kvraft::storage::put_u64(&forged, XXH3_64bits(forged.data(), forged.size()));
  CHECK_THROWS_WITH_AS(kvraft::storage::decode_persistent_state(forged, "forged"),
                       doctest::Contains("voter count 4294967295 does not fit"), IoError);
}

TEST_CASE("a stale temp file from a crash mid-save is ignored") {
  kvraft::test::TempDir dir;
  HardStateFile file(dir.path());
  file.save(sample_state());
  write_raw(dir.file("hardstate.tmp"), "half-written garbage");
  CHECK(file.load() == sample_state());
  PersistentState next = sample_state();
  next.hard.commit = 100;
  file.save(next);
  CHECK(file.load() == next);
}

TEST_CASE("a failed hard state save keeps the old file and fails every later save") {
  for (IoOp failing : {IoOp::kWrite, IoOp::kSync, IoOp::kRename}) {
    CAPTURE(kvraft::storage::io_op_name(failing));
    kvraft::test::TempDir d;
    bool armed = false;
    kvraft::storage::HardStateOptions opts;
    opts.fault_hook = [&](IoOp op, const std::string&, size_t bytes) {
      if (armed && op == failing) return IoFault{ENOSPC, bytes / 2};
      return IoFault{};
    };
    HardStateFile file(d.path(), opts);
    file.save(sample_state());
    armed = true;
    PersistentState next = sample_state();
    next.hard.term = 99;
    CHECK_THROWS_AS(file.save(next), IoError);
    CHECK(file.failed());
    CHECK(file.failure().find("No space left") != std::string::npos);
    armed = false;
    // Sticky: the disk is fine again, but the object does not pretend so.
    try {
      file.save(next);
      FAIL("save after failure succeeded");
    } catch (const IoError& e) {
      CHECK(std::string(e.what()).find("No space left") != std::string::npos);
    }
    // The previous state is intact and a fresh object (a restart) can go on.
    HardStateFile restarted(d.path());
    CHECK(restarted.load() == sample_state());
    restarted.save(next);
    CHECK(restarted.load() == next);
  }
}

TEST_CASE("a failed directory fsync after the rename is reported") {
  kvraft::test::TempDir dir;
  kvraft::storage::HardStateOptions opts;
  opts.fault_hook = [&](IoOp op, const std::string& path, size_t) {
    if (op == IoOp::kDirSync) {
      CHECK(path == dir.path());
      return IoFault{EIO, 0};
    }
    return IoFault{};
  };
  HardStateFile file(dir.path(), opts);
  CHECK_THROWS_WITH_AS(file.save(sample_state()), doctest::Contains("fsync directory"), IoError);
  CHECK(file.failed());
}

TEST_CASE("only term, vote or membership changes require a save before replying") {
  using kvraft::storage::hard_state_save_required;
  PersistentState a = sample_state();
  PersistentState b = a;
  CHECK_FALSE(hard_state_save_required(a, b));
  b.hard.commit += 10;
  CHECK_FALSE(hard_state_save_required(a, b));
  b = a;
  b.hard.term += 1;
  CHECK(hard_state_save_required(a, b));
  b = a;
  b.hard.vote = 2;
  CHECK(hard_state_save_required(a, b));
  b = a;
  b.conf.learners.push_back(4);
  CHECK(hard_state_save_required(a, b));
}

// How many hard-state saves (temp write, fsync, rename, directory fsync) the
// disk takes per second. Runs when KVRAFT_BENCH is set; prints, asserts nothing.
TEST_CASE("benchmark: hard state saves per second" *
          doctest::skip(std::getenv("KVRAFT_BENCH") == nullptr)) {
  kvraft::test::TempDir dir("kvraft-bench");
  HardStateFile file(dir.path());
  PersistentState st = sample_state();
  const auto start = std::chrono::steady_clock::now();
  int saves = 0;
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(3)) {
    ++st.hard.commit;
    file.save(st);
    ++saves;
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("hard state bench: %.0f saves/s (%s)\n", saves / secs, dir.path().c_str());
  CHECK(file.load() == st);
}
