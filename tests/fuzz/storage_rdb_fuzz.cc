// tests/fuzz/storage_rdb_fuzz.cc — the RDB reader over arbitrary bytes.
//
// Any input must either load or fail with an RdbError: no crash, no other
// exception, no allocation beyond what the input can justify (libFuzzer's
// -malloc_limit_mb catches that). When an input does load, what it held is
// written again with RdbWriter and read back, and must come back identical,
// which also exercises the writer's integer encodings and LZF compressor on
// whatever the fuzzer invents.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "storage/rdb.h"

namespace {

using kvraft::storage::RdbError;
using kvraft::storage::RdbMemorySource;

struct Record {
  uint64_t db;
  std::string key;
  std::string value;
  int64_t expire_at_ms;
  bool operator==(const Record&) const = default;
};

struct Collector : kvraft::storage::RdbVisitor {
  std::vector<Record> records;
  void on_aux(std::string_view name, std::string_view value) override {
    // Exercise the membership parser on whatever the input holds.
    if (name == kvraft::storage::kAuxMembership) {
      try {
        kvraft::storage::decode_membership(value);
      } catch (const std::invalid_argument&) {
      }
    }
  }
  void on_string(uint64_t db, std::string_view key, std::string_view value,
                 int64_t expire_at_ms) override {
    records.push_back({db, std::string(key), std::string(value), expire_at_ms});
  }
};

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "storage_rdb_fuzz: %s\n", what);
  std::abort();
}

// Reads `input`; if it loads, checks that writing its records again and
// reading them back gives the same records.
void check(std::string_view input) {
  Collector first;
  try {
    RdbMemorySource src(input);
    kvraft::storage::read_rdb(src, first);
  } catch (const RdbError&) {
    return;
  }

  std::string image;
  kvraft::storage::RdbWriter w(&image);
  w.begin({});
  bool in_db = false;
  uint64_t db = 0;
  for (const Record& r : first.records) {
    if (!in_db || r.db != db) {
      w.select_db(r.db, 1, 0);
      in_db = true;
      db = r.db;
    }
    w.write_string(r.key, r.value, r.expire_at_ms);
  }
  w.finish();

  Collector second;
  try {
    RdbMemorySource src(image, "<rewritten>");
    kvraft::storage::read_rdb(src, second);
  } catch (const RdbError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    die("a rewritten file does not load");
  }
  if (second.records != first.records) die("a rewritten file loads differently");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  check(input);
  // Almost every mutation breaks the checksum. The same bytes with the
  // checksum zeroed ("disabled", accepted as Redis does) let mutated records
  // load and reach the write-back check.
  if (size >= 9 + 1 + 8) {
    std::string unchecked(input);
    unchecked.replace(unchecked.size() - 8, 8, 8, '\0');
    check(unchecked);
  }
  return 0;
}
