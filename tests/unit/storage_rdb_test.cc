// tests/unit/storage_rdb_test.cc — the RDB writer and reader against each
// other and against hand-built files: round trips (binary, integer-like and
// compressible values, expiries, several dbs), the exact encodings Redis
// uses, old versions, and rejection of every kind of corruption, every
// truncation and every single-bit flip. Compatibility with the real
// redis-server and redis-check-rdb is in storage_rdb_compat_test.cc.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "storage/crc64.h"
#include "storage/lzf.h"
#include "storage/rdb.h"
#include "storage/rdb_opcodes.h"
#include "tests/support/test_support.h"

using namespace kvraft::storage;
using kvraft::test::TempDir;
using namespace std::string_literals;

namespace {

struct Entry {
  uint64_t db;
  std::string key;
  std::string value;
  int64_t expire_at_ms;
  bool operator==(const Entry&) const = default;
};

// Records everything the reader reports.
struct Collector : RdbVisitor {
  std::vector<std::pair<std::string, std::string>> aux;
  std::vector<uint64_t> selects;
  std::vector<std::pair<uint64_t, uint64_t>> resizes;
  std::vector<Entry> entries;
  void on_aux(std::string_view n, std::string_view v) override { aux.emplace_back(n, v); }
  void on_select_db(uint64_t db) override { selects.push_back(db); }
  void on_resize_db(uint64_t a, uint64_t b) override { resizes.emplace_back(a, b); }
  void on_string(uint64_t db, std::string_view k, std::string_view v, int64_t e) override {
    entries.push_back({db, std::string(k), std::string(v), e});
  }
  std::string aux_value(const std::string& name) const {
    for (auto& [n, v] : aux)
      if (n == name) return v;
    return "<missing>";
  }
};

RdbSnapshotInfo sample_info() {
  RdbSnapshotInfo info;
  info.meta.index = 123456789012ULL;
  info.meta.term = 42;
  info.meta.conf.voters = {1, 2, 3};
  info.meta.conf.learners = {4};
  info.used_mem = 1 << 20;
  info.ctime = 1700000000;
  return info;
}

// Writes `entries` (grouped by db, in order) to an in-memory RDB image.
std::string write_image(const std::vector<Entry>& entries, bool compress = true) {
  std::string out;
  RdbWriter w(&out);
  w.set_compression(compress);
  w.begin(sample_info());
  std::map<uint64_t, std::vector<const Entry*>> by_db;
  for (auto& e : entries)
    by_db[e.db].push_back(&e);
  for (auto& [db, list] : by_db) {
    uint64_t expires = 0;
    for (auto* e : list)
      expires += e->expire_at_ms != kNoExpiry;
    w.select_db(db, list.size(), expires);
    for (auto* e : list)
      w.write_string(e->key, e->value, e->expire_at_ms);
  }
  w.finish();
  return out;
}

RdbReadResult read_image(const std::string& image, Collector& c) {
  RdbMemorySource src(image, "test.rdb");
  return read_rdb(src, c);
}

// The message of the RdbError reading `image` throws ("" if none).
std::string read_error(const std::string& image) {
  Collector c;
  try {
    read_image(image, c);
  } catch (const RdbError& e) {
    return e.what();
  }
  return "";
}

// Builds RDB images byte by byte, for encodings and corruptions the writer
// never produces.
struct Builder {
  std::string bytes;
  explicit Builder(int version = 10) {
    char magic[10];
    std::snprintf(magic, sizeof magic, "REDIS%04d", version);
    bytes = magic;
  }
  Builder& byte(uint8_t b) {
    bytes.push_back(static_cast<char>(b));
    return *this;
  }
  Builder& raw(std::string_view s) {
    bytes.append(s);
    return *this;
  }
  Builder& len(uint64_t n) {
    if (n < 64) return byte(static_cast<uint8_t>(n));
    if (n < 16384) return byte(static_cast<uint8_t>(0x40 | (n >> 8))).byte(n & 0xff);
    byte(0x81);
    for (int i = 7; i >= 0; --i)
      byte(static_cast<uint8_t>(n >> (8 * i)));
    return *this;
  }
  Builder& str(std::string_view s) { return len(s.size()).raw(s); }
  Builder& le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i)
      byte(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Builder& string_key(std::string_view k, std::string_view v) {
    return byte(rdb::kTypeString).str(k).str(v);
  }
  // EOF plus the correct checksum (or `checksum` if given).
  std::string eof_crc() {
    byte(rdb::kOpEof);
    uint64_t crc = crc64(0, bytes.data(), bytes.size());
    le(crc, 8);
    return bytes;
  }
  std::string eof_checksum(uint64_t checksum) {
    byte(rdb::kOpEof);
    le(checksum, 8);
    return bytes;
  }
  std::string eof_only() { return byte(rdb::kOpEof).bytes; }
};

// A collection as the reader reported it.
struct Coll {
  RdbVisitor::Collection kind;
  uint64_t db;
  int64_t expire_at_ms;
  uint64_t size_hint;
  std::vector<std::string> elems;                       // list, set
  std::vector<std::pair<std::string, std::string>> kv;  // hash
  std::vector<std::pair<std::string, double>> scored;   // zset
};

// Collector that also records collections, checking the callback protocol
// (begin, >= 1 element of the matching kind, end).
struct CollCollector : Collector {
  std::map<std::string, Coll> colls;
  std::string open;  // key of the collection being reported
  bool is_open = false;
  void on_collection_begin(uint64_t db, std::string_view key, Collection kind, uint64_t hint,
                           int64_t expire) override {
    REQUIRE_FALSE(is_open);
    open = std::string(key);
    // A corrupted file may repeat a key: the visitor's error, not the reader's.
    if (colls.count(open) != 0) throw std::runtime_error("duplicate key");
    is_open = true;
    colls[open] = Coll{kind, db, expire, hint, {}, {}, {}};
  }
  Coll& cur(Collection kind) {
    REQUIRE(is_open);
    Coll& c = colls[open];
    REQUIRE(c.kind == kind);
    return c;
  }
  void on_list_element(std::string_view e) override {
    cur(Collection::kList).elems.emplace_back(e);
  }
  void on_set_member(std::string_view e) override { cur(Collection::kSet).elems.emplace_back(e); }
  void on_hash_field(std::string_view f, std::string_view v) override {
    cur(Collection::kHash).kv.emplace_back(f, v);
  }
  void on_zset_member(std::string_view m, double s) override {
    cur(Collection::kZset).scored.emplace_back(m, s);
  }
  void on_collection_end() override {
    REQUIRE(is_open);
    Coll& c = colls[open];
    REQUIRE(c.elems.size() + c.kv.size() + c.scored.size() > 0);
    is_open = false;
  }
};

// Redis listpack, built by hand (independently of the writer's encoder):
// strings and integers in every encoding listpack.c defines.
struct LpBuilder {
  std::string body;
  uint64_t count = 0;
  void entry(const std::string& enc_and_data) {
    body += enc_and_data;
    uint64_t l = enc_and_data.size();
    std::string back;
    // lpEncodeBacklen, written out explicitly per size class.
    if (l <= 127) {
      back.push_back(static_cast<char>(l));
    } else if (l < 16383) {
      back.push_back(static_cast<char>(l >> 7));
      back.push_back(static_cast<char>((l & 127) | 128));
    } else {
      back.push_back(static_cast<char>(l >> 14));
      back.push_back(static_cast<char>(((l >> 7) & 127) | 128));
      back.push_back(static_cast<char>((l & 127) | 128));
    }
    body += back;
    ++count;
  }
  LpBuilder& str(std::string_view s) {
    std::string e;
    if (s.size() < 64) {
      e.push_back(static_cast<char>(0x80 | s.size()));
    } else if (s.size() < 4096) {
      e.push_back(static_cast<char>(0xE0 | (s.size() >> 8)));
      e.push_back(static_cast<char>(s.size() & 0xff));
    } else {
      e.push_back(static_cast<char>(0xF0));
      for (int i = 0; i < 4; ++i)
        e.push_back(static_cast<char>(s.size() >> (8 * i)));
    }
    e += s;
    entry(e);
    return *this;
  }
  LpBuilder& integer(int64_t v) {
    std::string e;
    auto le = [&](uint64_t u, int n) {
      for (int i = 0; i < n; ++i)
        e.push_back(static_cast<char>(u >> (8 * i)));
    };
    if (v >= 0 && v <= 127) {
      e.push_back(static_cast<char>(v));
    } else if (v >= -4096 && v <= 4095) {
      uint64_t u = static_cast<uint64_t>(v) & 0x1fff;
      e.push_back(static_cast<char>(0xC0 | (u >> 8)));
      e.push_back(static_cast<char>(u & 0xff));
    } else if (v >= -32768 && v <= 32767) {
      e.push_back(static_cast<char>(0xF1));
      le(static_cast<uint64_t>(v), 2);
    } else if (v >= -(1 << 23) && v < (1 << 23)) {
      e.push_back(static_cast<char>(0xF2));
      le(static_cast<uint64_t>(v), 3);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      e.push_back(static_cast<char>(0xF3));
      le(static_cast<uint64_t>(v), 4);
    } else {
      e.push_back(static_cast<char>(0xF4));
      le(static_cast<uint64_t>(v), 8);
    }
    entry(e);
    return *this;
  }
  std::string done(int64_t count_field = -1) const {
    std::string out;
    uint64_t total = 6 + body.size() + 1;
    for (int i = 0; i < 4; ++i)
      out.push_back(static_cast<char>(total >> (8 * i)));
    uint64_t c = count_field >= 0 ? static_cast<uint64_t>(count_field) : count;
    out.push_back(static_cast<char>(c & 0xff));
    out.push_back(static_cast<char>(c >> 8));
    return out + body + "\xff";
  }
};

// Redis ziplist (ziplist.c), built by hand: prevlen, encoding, data.
struct ZlBuilder {
  std::string body;
  uint64_t count = 0, prev = 0, last = 10;
  void entry(const std::string& enc_and_data) {
    std::string e;
    if (prev < 254) {
      e.push_back(static_cast<char>(prev));
    } else {
      e.push_back(static_cast<char>(0xFE));
      for (int i = 0; i < 4; ++i)
        e.push_back(static_cast<char>(prev >> (8 * i)));
    }
    e += enc_and_data;
    last = 10 + body.size();
    body += e;
    prev = e.size();
    ++count;
  }
  ZlBuilder& str(std::string_view s) {
    std::string e;
    if (s.size() < 64) {
      e.push_back(static_cast<char>(s.size()));
    } else if (s.size() < 16384) {
      e.push_back(static_cast<char>(0x40 | (s.size() >> 8)));
      e.push_back(static_cast<char>(s.size() & 0xff));
    } else {
      e.push_back(static_cast<char>(0x80));
      for (int i = 3; i >= 0; --i)
        e.push_back(static_cast<char>(s.size() >> (8 * i)));
    }
    entry(e + std::string(s));
    return *this;
  }
  // enc: 0xF1..0xFD (immediate 0..12), 0xFE int8, 0xC0 int16, 0xF0 int24,
  // 0xD0 int32, 0xE0 int64.
  ZlBuilder& integer(uint8_t enc, int64_t v) {
    std::string e(1, static_cast<char>(enc));
    int n = enc == 0xFE   ? 1
            : enc == 0xC0 ? 2
            : enc == 0xF0 ? 3
            : enc == 0xD0 ? 4
            : enc == 0xE0 ? 8
                          : 0;
    for (int i = 0; i < n; ++i)
      e.push_back(static_cast<char>(static_cast<uint64_t>(v) >> (8 * i)));
    entry(e);
    return *this;
  }
  std::string done(int64_t tail_override = -1) const {
    std::string out;
    uint64_t total = 10 + body.size() + 1;
    uint64_t tail = tail_override >= 0 ? static_cast<uint64_t>(tail_override) : last;
    for (int i = 0; i < 4; ++i)
      out.push_back(static_cast<char>(total >> (8 * i)));
    for (int i = 0; i < 4; ++i)
      out.push_back(static_cast<char>(tail >> (8 * i)));
    out.push_back(static_cast<char>(count & 0xff));
    out.push_back(static_cast<char>(count >> 8));
    return out + body + "\xff";
  }
};

std::string intset(int enc, const std::vector<int64_t>& v) {
  std::string out;
  auto le = [&](uint64_t u, int n) {
    for (int i = 0; i < n; ++i)
      out.push_back(static_cast<char>(u >> (8 * i)));
  };
  le(static_cast<uint64_t>(enc), 4);
  le(v.size(), 4);
  for (int64_t x : v)
    le(static_cast<uint64_t>(x), enc);
  return out;
}

std::string random_bytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (auto& c : s)
    c = static_cast<char>(rng());
  return s;
}

}  // namespace

TEST_CASE("crc64 is Redis's CRC-64/Jones and can be computed incrementally") {
  CHECK(crc64(0, "123456789", 9) == 0xe9c6d914c4b8d9caULL);
  std::mt19937_64 rng(1);
  std::string data = random_bytes(rng, 1000);
  uint64_t whole = crc64(0, data.data(), data.size());
  for (size_t cut : {0, 1, 7, 8, 9, 500, 999, 1000}) {
    uint64_t part = crc64(crc64(0, data.data(), cut), data.data() + cut, data.size() - cut);
    CHECK(part == whole);
  }
}

TEST_CASE("lzf compresses repetitive data and decompresses what it compressed") {
  LzfCompressor lzf;
  std::mt19937_64 rng(2);
  std::vector<std::string> inputs = {
      std::string(1000, 'a'), "abcabcabcabcabcabcabcabcabcabcabcabc", random_bytes(rng, 5000),
      std::string(100000, 'x') + random_bytes(rng, 300) + std::string(70000, 'y'), "abc"};
  for (int i = 0; i < 50; ++i) {
    // Text-like data: random words from a small vocabulary.
    std::string s;
    size_t n = 1 + rng() % 20000;
    static const char* kWords[] = {"redis ", "raft ", "kv ", "snapshot ", "log ", "\x00\xff"};
    while (s.size() < n)
      s += kWords[rng() % 6];
    inputs.push_back(s);
  }
  for (auto& in : inputs) {
    std::vector<uint8_t> out(in.size() + in.size() / 32 + 64);
    size_t clen = lzf.compress(reinterpret_cast<const uint8_t*>(in.data()), in.size(), out.data(),
                               out.size());
    REQUIRE(clen > 0);
    std::string back(in.size(), '\0');
    REQUIRE(lzf_decompress(out.data(), clen, reinterpret_cast<uint8_t*>(back.data()), back.size()));
    CHECK(back == in);
    CHECK(in.size() / kLzfMaxExpansion <= clen);
    // Wrong expected lengths are errors, not overruns.
    if (!in.empty()) {
      std::string shorter(in.size() - 1, '\0');
      CHECK_FALSE(lzf_decompress(out.data(), clen, reinterpret_cast<uint8_t*>(shorter.data()),
                                 shorter.size()));
    }
    std::string longer(in.size() + 1, '\0');
    CHECK_FALSE(
        lzf_decompress(out.data(), clen, reinterpret_cast<uint8_t*>(longer.data()), longer.size()));
  }
  // 1000 x 'a' must compress well; a tiny output buffer means "not compressible".
  std::vector<uint8_t> out(2000);
  CHECK(lzf.compress(reinterpret_cast<const uint8_t*>(inputs[0].data()), 1000, out.data(),
                     out.size()) < 50);
  CHECK(lzf.compress(reinterpret_cast<const uint8_t*>(inputs[2].data()), 5000, out.data(), 100) ==
        0);
}

TEST_CASE("lzf_decompress rejects malformed streams") {
  uint8_t out[64];
  // Back reference before the start of the output.
  const uint8_t backref_first[] = {0x20, 0x00};
  CHECK_FALSE(lzf_decompress(backref_first, sizeof backref_first, out, 3));
  // Literal run longer than the input.
  const uint8_t short_literal[] = {0x05, 'a', 'b'};
  CHECK_FALSE(lzf_decompress(short_literal, sizeof short_literal, out, 6));
  // Back reference missing its offset byte.
  const uint8_t cut_ref[] = {0x00, 'a', 0x20};
  CHECK_FALSE(lzf_decompress(cut_ref, sizeof cut_ref, out, 4));
  // Long back reference missing its length byte.
  const uint8_t cut_long[] = {0x00, 'a', 0xe0};
  CHECK_FALSE(lzf_decompress(cut_long, sizeof cut_long, out, 20));
  // Output larger than the caller's buffer.
  const uint8_t big[] = {0x00, 'a', 0xe0, 0xff, 0x00};
  CHECK_FALSE(lzf_decompress(big, sizeof big, out, sizeof out));
  // A valid overlapping reference: 'a' then copy 4 from 1 back.
  const uint8_t run[] = {0x00, 'a', 0x40, 0x00};
  REQUIRE(lzf_decompress(run, sizeof run, out, 5));
  CHECK(std::string(reinterpret_cast<char*>(out), 5) == "aaaaa");
}

TEST_CASE("membership aux encoding round-trips and rejects malformed text") {
  kvraft::raft::ConfState conf;
  conf.voters = {1, 2, 3};
  conf.learners = {4};
  CHECK(encode_membership(conf) == "v:1,2,3;l:4");
  CHECK(decode_membership("v:1,2,3;l:4") == conf);
  kvraft::raft::ConfState single;
  single.voters = {18446744073709551615ULL};
  CHECK(encode_membership(single) == "v:18446744073709551615;l:");
  CHECK(decode_membership(encode_membership(single)) == single);
  CHECK(decode_membership("v:;l:") == kvraft::raft::ConfState{});
  for (const char* bad : {"", "v:1", "l:1;v:2", "v:1,;l:", "v:1;l:x", "v:0;l:", "v:1;l:1",
                          "v:1,1;l:", "v:18446744073709551616;l:", "v: 1;l:", "v:1;l:2;"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(decode_membership(bad), std::invalid_argument);
  }
}

TEST_CASE("kvraft aux fields read back into the snapshot metadata") {
  struct MetaVisitor : Collector {
    kvraft::raft::SnapshotMeta meta;
    int other = 0;
    void on_aux(std::string_view n, std::string_view v) override {
      if (!apply_kvraft_aux(n, v, &meta)) ++other;
    }
  } v;
  read_image(write_image({}), v);
  CHECK(v.meta == sample_info().meta);
  CHECK(v.other == 5);  // redis-ver, redis-bits, ctime, used-mem, aof-base

  kvraft::raft::SnapshotMeta meta;
  CHECK_THROWS_AS(apply_kvraft_aux(kAuxRaftIndex, "12x", &meta), std::invalid_argument);
  CHECK_THROWS_AS(apply_kvraft_aux(kAuxRaftTerm, "", &meta), std::invalid_argument);
  CHECK_THROWS_AS(apply_kvraft_aux(kAuxRaftTerm, "-1", &meta), std::invalid_argument);
  CHECK_THROWS_AS(apply_kvraft_aux(kAuxMembership, "v:1", &meta), std::invalid_argument);
  // Through the reader, a malformed field is an RdbError at the field's offset.
  Builder b;
  b.byte(rdb::kOpAux).str("kvraft-raft-term").str("many");
  MetaVisitor bad;
  std::string image = b.eof_crc();
  RdbMemorySource src(image, "m.rdb");
  CHECK_THROWS_WITH_AS(read_rdb(src, bad),
                       "m.rdb: offset 9: rejected by the loader: bad kvraft-raft-term 'many': "
                       "not a decimal number",
                       RdbError);
}

TEST_CASE("a fork()ed child writes the snapshot while the parent keeps its data") {
  TempDir dir("rdb-test");
  std::string path = dir.file("snap.rdb");
  std::map<std::string, std::string> data;
  for (int i = 0; i < 10000; ++i)
    data["k" + std::to_string(i)] = std::string(i % 97, 'v');
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int code = 0;
    try {
      write_rdb_file_atomically(path, sample_info(), [&](RdbWriter& w) {
        w.select_db(0, data.size(), 0);
        for (auto& [k, v] : data)
          w.write_string(k, v);
      });
    } catch (...) {
      code = 1;
    }
    _exit(code);
  }
  data["k0"] = "changed after the fork";  // copy-on-write: not in the snapshot
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  Collector c;
  CHECK(read_rdb_file(path, c).keys == 10000);
  REQUIRE(c.entries.size() == 10000);
  CHECK(c.entries[0].key == "k0");
  CHECK(c.entries[0].value == "");
}

TEST_CASE("writer output starts with REDIS0010 and carries Redis's and kvraft's aux fields") {
  std::string image = write_image({{0, "k", "v", kNoExpiry}});
  CHECK(image.substr(0, 9) == "REDIS0010");
  Collector c;
  RdbReadResult r = read_image(image, c);
  CHECK(r.version == 10);
  CHECK(r.keys == 1);
  CHECK(r.checksum_verified);
  std::vector<std::string> names;
  for (auto& [n, v] : c.aux)
    names.push_back(n);
  CHECK(names == std::vector<std::string>{"redis-ver", "redis-bits", "ctime", "used-mem",
                                          "aof-base", "kvraft-raft-index", "kvraft-raft-term",
                                          "kvraft-membership"});
  CHECK(c.aux_value("redis-ver") == "7.0.15");
  CHECK(c.aux_value("redis-bits") == "64");
  CHECK(c.aux_value("ctime") == "1700000000");
  CHECK(c.aux_value("used-mem") == "1048576");
  CHECK(c.aux_value("aof-base") == "0");
  CHECK(c.aux_value("kvraft-raft-index") == "123456789012");
  CHECK(c.aux_value("kvraft-raft-term") == "42");
  CHECK(decode_membership(c.aux_value("kvraft-membership")) == sample_info().meta.conf);
  CHECK(c.selects == std::vector<uint64_t>{0});
  CHECK(c.resizes == std::vector<std::pair<uint64_t, uint64_t>>{{1, 0}});
}

TEST_CASE("round trip of many keys: binary, integer-like, compressible, expiring, several dbs") {
  std::mt19937_64 rng(3);
  std::vector<Entry> entries;
  const std::vector<std::string> special = {"",
                                            "0",
                                            "-0",
                                            "1",
                                            "-1",
                                            "127",
                                            "128",
                                            "-128",
                                            "-129",
                                            "32767",
                                            "32768",
                                            "-32768",
                                            "-32769",
                                            "2147483647",
                                            "2147483648",
                                            "-2147483648",
                                            "-2147483649",
                                            "007",
                                            "+1",
                                            " 1",
                                            "1 ",
                                            "12345678901",
                                            "99999999999",
                                            "-",
                                            "1e3",
                                            "0x10",
                                            "9223372036854775807",
                                            "-9223372036854775808",
                                            "18446744073709551616",
                                            std::string(21, 'a'),
                                            std::string(1 << 17, 'z'),
                                            std::string("\0\0\0", 3),
                                            std::string("\xff\xfe\r\n", 4)};
  for (uint64_t db : {0, 1, 15}) {
    for (size_t i = 0; i < special.size(); ++i)
      entries.push_back({db, "special:" + std::to_string(i), special[i], kNoExpiry});
    for (size_t i = 0; i < special.size(); ++i)  // integer-like and empty keys too
      entries.push_back({db, special[i], "key-is-special", i % 2 ? kNoExpiry : 1700000000000LL});
    for (int i = 0; i < 2000; ++i) {
      size_t n = rng() % 4 == 0 ? rng() % 3000 : rng() % 40;
      std::string value = rng() % 2 ? random_bytes(rng, n) : std::string(n, "abc"[rng() % 3]);
      int64_t expire = rng() % 3 == 0 ? static_cast<int64_t>(rng() % 4000000000000ULL) : kNoExpiry;
      entries.push_back(
          {db, "key:" + std::to_string(db) + ":" + random_bytes(rng, rng() % 8) + std::to_string(i),
           value, expire});
    }
  }
  entries.push_back({20, "zero-expiry", "x", 0});
  entries.push_back({20, "max-expiry", "y", INT64_MAX});
  for (bool compress : {true, false}) {
    CAPTURE(compress);
    std::string image = write_image(entries, compress);
    Collector c;
    RdbReadResult r = read_image(image, c);
    CHECK(r.keys == entries.size());
    // write_image groups by db in increasing order, which is how entries were made.
    REQUIRE(c.entries.size() == entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
      CAPTURE(i);
      CHECK(c.entries[i] == entries[i]);
    }
    CHECK(c.selects == std::vector<uint64_t>{0, 1, 15, 20});
  }
  // Compression is on by default and pays off on the repetitive values.
  CHECK(write_image(entries, true).size() + 200000 < write_image(entries, false).size());
}

TEST_CASE("strings use Redis's integer encodings exactly when Redis would") {
  // [value, expected encoding bytes after the key]
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"0", std::string("\xc0\x00", 2)},
      {"-1", "\xc0\xff"},
      {"127", "\xc0\x7f"},
      {"128", std::string("\xc1\x80\x00", 3)},
      {"-32768", std::string("\xc1\x00\x80", 3)},
      {"32768", std::string("\xc2\x00\x80\x00\x00", 5)},
      {"-2147483648", std::string("\xc2\x00\x00\x00\x80", 5)},
      {"2147483648",
       "\x0a"
       "2147483648"},
      {"007",
       "\x03"
       "007"},
      {"-0", "\x02-0"},
      {"+5", "\x02+5"},
  };
  for (auto& [value, encoded] : cases) {
    CAPTURE(value);
    std::string image = write_image({{0, "k", value, kNoExpiry}});
    // ... 0x00 (string type) 0x01 'k' <value> 0xff <crc>
    std::string tail = image.substr(image.size() - 9 - encoded.size() - 3, encoded.size() + 3);
    CHECK(tail == std::string("\x00\x01k", 3) + encoded);
  }
  // Long strings are LZF-compressed (0xc3) when that saves at least 4 bytes,
  // but not strings of 20 bytes or less.
  std::string image = write_image({{0, "k", std::string(100, 'q'), kNoExpiry}});
  CHECK(image.find("\x00\x01k\xc3", 0, 4) != std::string::npos);
  image = write_image({{0, "k", std::string(20, 'q'), kNoExpiry}});
  CHECK(image.find(std::string("\x00\x01k\x14") + std::string(20, 'q')) != std::string::npos);
}

TEST_CASE("reader accepts old versions, disabled checksums, seconds expiry, IDLE and FREQ") {
  SUBCASE("version 3 has no checksum and may use EXPIRETIME in seconds") {
    Builder b(3);
    b.byte(rdb::kOpSelectDb).len(2);
    b.byte(rdb::kOpExpireTime).le(1700000000, 4).string_key("a", "1");
    b.string_key("b", "2");
    Collector c;
    RdbReadResult r = read_image(b.eof_only(), c);
    CHECK(r.version == 3);
    CHECK_FALSE(r.checksum_verified);
    CHECK(c.entries ==
          std::vector<Entry>{{2, "a", "1", 1700000000000LL}, {2, "b", "2", kNoExpiry}});
  }
  SUBCASE("a stored checksum of zero means checksums were disabled") {
    Builder b(9);
    b.string_key("a", "1");
    Collector c;
    RdbReadResult r = read_image(b.eof_checksum(0), c);
    CHECK_FALSE(r.checksum_verified);
    CHECK(c.entries.size() == 1);
  }
  SUBCASE("IDLE and FREQ before a key are skipped; negative expiries read as 0") {
    Builder b(11);
    b.byte(rdb::kOpAux).str("redis-ver").str("7.2.4");
    b.byte(rdb::kOpIdle).len(100000).string_key("idle", "x");
    b.byte(rdb::kOpExpireTimeMs).le(static_cast<uint64_t>(-5), 8).byte(rdb::kOpFreq).byte(7);
    b.string_key("freq", "y");
    // Integer-encoded key and value, 14-bit and 64-bit lengths.
    b.byte(0).byte(0xc1).le(300, 2).byte(0xc2).le(static_cast<uint32_t>(-70000), 4);
    b.byte(0).len(1000).raw(std::string(1000, 'k')).len(70000).raw(std::string(70000, 'v'));
    Collector c;
    RdbReadResult r = read_image(b.eof_crc(), c);
    CHECK(r.version == 11);
    CHECK(r.checksum_verified);
    REQUIRE(c.entries.size() == 4);
    CHECK(c.entries[0] == Entry{0, "idle", "x", kNoExpiry});
    CHECK(c.entries[1] == Entry{0, "freq", "y", 0});
    CHECK(c.entries[2] == Entry{0, "300", "-70000", kNoExpiry});
    CHECK(c.entries[3].value == std::string(70000, 'v'));
  }
  for (int v = 1; v <= 12; ++v) {
    CAPTURE(v);
    Builder b(v);
    b.string_key("k", "v");
    std::string image = v >= 5 ? b.eof_crc() : b.eof_only();
    Collector c;
    CHECK(read_image(image, c).keys == 1);
  }
}

TEST_CASE("RESIZEDB hints are passed on, capped by what the file could hold") {
  Builder b;
  b.byte(rdb::kOpSelectDb).len(0).byte(rdb::kOpResizeDb).len(1ULL << 40).len(3);
  b.string_key("k", "v");
  Collector c;
  read_image(b.eof_crc(), c);
  REQUIRE(c.resizes.size() == 1);
  CHECK(c.resizes[0].first == 4);  // 14 bytes left: room for at most 4 keys
  CHECK(c.resizes[0].second == 3);
}

TEST_CASE("each kind of corruption is rejected with the offset and, when known, the key") {
  struct Case {
    const char* name;
    std::string image;
    std::string expect;  // substring of the error
  };
  std::vector<Case> cases;
  cases.push_back({"empty file", "", "offset 0: truncated: header"});
  cases.push_back({"bad magic", Builder().bytes.replace(0, 5, "RUDIS") + "\xff", "no REDIS magic"});
  cases.push_back({"version 0", Builder(0).eof_crc(), "unsupported RDB version 0"});
  cases.push_back({"version 13", Builder(13).eof_crc(), "unsupported RDB version 13"});
  cases.push_back({"non-digit version", "REDIS00a1\xff", "bad RDB version"});
  {
    Builder b;
    b.string_key("good", "1").byte(8).str("k");
    cases.push_back(
        {"unknown type byte", b.eof_crc(), "offset 17: unknown RDB opcode or value type 8"});
  }
  {
    Builder b;
    b.byte(rdb::kTypeString).len(1ULL << 62).raw("abc");
    cases.push_back({"length beyond the file", b.eof_crc(),
                     "offset 10: key length 4611686018427387904 exceeds"});
  }
  {
    Builder b;
    b.byte(rdb::kTypeString).str("mykey").byte(0x80).le(0xffffff7f, 4);
    cases.push_back({"32-bit value length beyond the file", b.eof_crc(),
                     "offset 16, key 'mykey': string value length 2147483647 exceeds the 9 bytes"});
  }
  {
    Builder b;
    b.byte(rdb::kTypeString).str("mykey").byte(0x80).raw("\xff\xff\xff\x00"s);
    cases.push_back({"32-bit length beyond the file", b.eof_crc(),
                     "key 'mykey': string value length 4294967040"});
  }
  {
    Builder b;
    b.byte(rdb::kTypeString).str("k").byte(0xc3).len(3).len(1000000).raw("\x00xy"s);
    cases.push_back({"impossible LZF size", b.eof_crc(), "key 'k': string value: impossible LZF"});
  }
  {
    Builder b;
    b.byte(rdb::kTypeString).str("k").byte(0xc3).len(8 << 20).len(600 << 20);
    b.raw(std::string(8 << 20, '\0'));
    cases.push_back({"LZF string above the size limit", b.eof_crc(),
                     "impossible LZF lengths (8388608 compressed, 629145600 uncompressed)"});
  }
  {
    Builder b;
    b.byte(rdb::kTypeString).str("k").byte(0xc3).len(2).len(0).raw("\x00x"s);
    cases.push_back({"zero LZF length", b.eof_crc(), "impossible LZF lengths"});
  }
  {
    Builder b;
    b.byte(rdb::kTypeString).str("k").byte(0xc3).len(4).len(10).raw("\x20\x05zz");
    cases.push_back({"corrupt LZF data", b.eof_crc(), "key 'k': string value: corrupt LZF data"});
  }
  {
    Builder b;
    b.byte(rdb::kTypeString).str("k").byte(0xc3).len(9999).len(10).raw("\x00z"s);
    cases.push_back(
        {"LZF data beyond the file", b.eof_crc(), "LZF compressed length 9999 exceeds"});
  }
  {
    Builder b;
    b.byte(rdb::kTypeString).str("k").byte(0xc7);
    cases.push_back({"unknown string encoding", b.eof_crc(), "unknown string encoding 7"});
  }
  {
    Builder b;
    b.byte(rdb::kOpSelectDb).byte(0x85);
    cases.push_back({"bad length byte", b.eof_crc(), "offset 10: bad length encoding byte 133"});
  }
  {
    Builder b;
    b.byte(rdb::kOpSelectDb).byte(0xc0).byte(1);
    cases.push_back({"encoded db number", b.eof_crc(), "string encoding where SELECTDB"});
  }
  {
    Builder b;
    b.string_key("a", "1");
    std::string image = b.eof_crc();
    image[image.size() - 3] ^= 0x10;
    cases.push_back({"bad checksum", image, "offset 15: checksum mismatch"});
  }
  {
    Builder b;
    b.string_key("a", "1");
    cases.push_back(
        {"trailing garbage", b.eof_crc() + "x", "offset 23: 1 bytes of trailing garbage"});
  }
  {
    Builder b(4);
    b.string_key("a", "1");
    cases.push_back({"trailing garbage without checksum", b.eof_only() + "\0\0"s,
                     "2 bytes of trailing garbage"});
  }
  {
    Builder b;
    b.string_key("a", "1");
    cases.push_back({"missing EOF", b.bytes, "offset 14: truncated: opcode"});
  }
  {
    Builder b;
    b.byte(rdb::kOpExpireTimeMs).le(5, 8);
    cases.push_back({"expiry without key", b.eof_crc(), "not followed by a key"});
  }
  {
    Builder b;
    b.byte(rdb::kOpModuleAux).len(12345);
    cases.push_back({"module aux", b.eof_crc(), "module auxiliary data"});
  }
  {
    Builder b;
    b.byte(rdb::kOpFunction2).str("#!lua name=lib\n");
    cases.push_back({"function library", b.eof_crc(), "function library (opcode 245)"});
  }
  {
    Builder b;
    b.byte(15).str("mystream").len(1).len(2).raw("xx");
    cases.push_back(
        {"stream", b.eof_crc(),
         "offset 9, key 'mystream': unsupported RDB value type 15 (stream (listpacks))"});
  }
  {
    Builder b;
    b.byte(9).str("my\nmap\x01");
    cases.push_back({"escaped key", b.eof_crc(),
                     "key 'my\\x0amap\\x01': unsupported RDB value type 9 (zipmap-encoded "
                     "hash)"});
  }
  for (auto& c : cases) {
    CAPTURE(c.name);
    std::string error = read_error(c.image);
    CHECK(error.find("test.rdb: offset") == 0);
    CHECK_MESSAGE(error.find(c.expect) != std::string::npos, error);
  }
}

TEST_CASE("every truncation of a small file is rejected") {
  std::vector<Entry> entries = {{0, "a", "1", kNoExpiry},
                                {0, "long", std::string(300, 'x') + "tail", 1800000000000LL},
                                {3, "bin", std::string("\0\1\2", 3), kNoExpiry},
                                {3, "12", "-40000", kNoExpiry}};
  std::string image = write_image(entries);
  {
    Collector c;
    REQUIRE(read_image(image, c).keys == entries.size());
  }
  for (size_t n = 0; n < image.size(); ++n) {
    CAPTURE(n);
    std::string error = read_error(image.substr(0, n));
    REQUIRE_FALSE(error.empty());
    // The offset named is inside the data that was there.
    size_t at = error.find("offset ") + 7;
    CHECK(std::stoull(error.substr(at)) <= n);
  }
}

TEST_CASE("every single-bit flip of a small file is rejected") {
  std::vector<Entry> entries = {{0, "a", "1", kNoExpiry},
                                {0, "long", std::string(60, 'x') + "tail", 1800000000000LL},
                                {1, "bin", std::string("\0\1\2", 3), kNoExpiry}};
  std::string image = write_image(entries);
  size_t by_checksum = 0;
  for (size_t bit = 0; bit < image.size() * 8; ++bit) {
    std::string flipped = image;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    std::string error = read_error(flipped);
    CAPTURE(bit);
    REQUIRE_FALSE(error.empty());
    by_checksum += error.find("checksum mismatch") != std::string::npos;
  }
  // Most flips leave a well-formed file that only the checksum catches.
  CHECK(by_checksum > image.size() * 4);
}

TEST_CASE("a loader exception becomes an RdbError with offset and key") {
  struct Refuser : Collector {
    void on_string(uint64_t db, std::string_view k, std::string_view, int64_t) override {
      if (k == "bad") throw std::invalid_argument("db " + std::to_string(db) + " is out of range");
    }
  } v;
  Builder b;
  b.byte(rdb::kOpSelectDb).len(99).string_key("ok", "1").string_key("bad", "2");
  std::string image = b.eof_crc();
  RdbMemorySource src(image, "x.rdb");
  try {
    read_rdb(src, v);
    FAIL("no error");
  } catch (const RdbError& e) {
    CHECK(std::string(e.what()) ==
          "x.rdb: offset 18, key 'bad': rejected by the loader: db 99 is out of range");
    CHECK(e.key() == "bad");
    CHECK(e.offset() == 18);
  }
}

TEST_CASE("writer enforces its call order and rejects negative expiry times") {
  std::string out;
  RdbWriter w(&out);
  CHECK_THROWS_AS(w.select_db(0, 0, 0), std::logic_error);
  CHECK_THROWS_AS(w.finish(), std::logic_error);
  w.begin(sample_info());
  CHECK_THROWS_AS(w.begin(sample_info()), std::logic_error);
  CHECK_THROWS_AS(w.write_string("k", "v"), std::logic_error);
  w.select_db(0, 1, 1);
  CHECK_THROWS_AS(w.write_string("k", "v", -2), std::invalid_argument);
  w.write_string("k", "v", 5);
  w.finish();
  CHECK_THROWS_AS(w.write_string("k", "v"), std::logic_error);
  CHECK(w.bytes_written() == out.size());
  Collector c;
  read_image(out, c);
  CHECK(c.entries == std::vector<Entry>{{0, "k", "v", 5}});
}

TEST_CASE("write_rdb_file_atomically replaces the file only when complete") {
  TempDir dir("rdb-test");
  std::string path = dir.file("dump.rdb");
  std::mt19937_64 rng(4);
  std::string big_random = random_bytes(rng, 3 << 20);  // larger than the I/O buffers
  std::string big_text(5 << 20, 't');
  uint64_t size = write_rdb_file_atomically(path, sample_info(), [&](RdbWriter& w) {
    w.select_db(0, 3, 0);
    w.write_string("random", big_random);
    w.write_string("text", big_text);
    w.write_string("n", "17");
  });
  CHECK(size == std::filesystem::file_size(path));
  CHECK(size < big_random.size() + 100000);  // the text compressed
  Collector c;
  RdbReadResult r = read_rdb_file(path, c);
  CHECK(r.keys == 3);
  REQUIRE(c.entries.size() == 3);
  CHECK(c.entries[0].value == big_random);
  CHECK(c.entries[1].value == big_text);
  CHECK(c.entries[2].value == "17");

  // A failure part way leaves the old file and no temporary file behind.
  CHECK_THROWS_AS(write_rdb_file_atomically(path, sample_info(),
                                            [&](RdbWriter& w) {
                                              w.select_db(0, 1, 0);
                                              w.write_string("partial", big_text);
                                              throw std::runtime_error("keyspace went away");
                                            }),
                  std::runtime_error);
  CHECK(std::filesystem::file_size(path) == size);
  size_t files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path()))
    files += e.is_regular_file();
  CHECK(files == 1);
  // An unwritable directory is an RdbError naming the file.
  CHECK_THROWS_AS(
      write_rdb_file_atomically(dir.file("no/such/dir.rdb"), sample_info(), [](RdbWriter&) {}),
      RdbError);
}

TEST_CASE("file source errors name the file") {
  TempDir dir("rdb-test");
  Collector c;
  try {
    read_rdb_file(dir.file("missing.rdb"), c);
    FAIL("no error");
  } catch (const RdbError& e) {
    CHECK(std::string(e.what()).find("missing.rdb: offset 0: cannot open") != std::string::npos);
  }
  CHECK_THROWS_AS(read_rdb_file(dir.path(), c), RdbError);
}

// ------------------------------------------------------------ collections

namespace {

// A keyspace of every collection type, small and large, written through the
// writer; `colls` is what reading it back must give.
struct CollectionSample {
  std::map<std::string, Coll> colls;
  std::string image;
};

CollectionSample collection_sample(size_t large = 5000, bool huge_elements = true) {
  CollectionSample s;
  using K = RdbVisitor::Collection;
  auto add = [&](const std::string& key, K kind, int64_t expire) -> Coll& {
    Coll& c = s.colls[key];
    c.kind = kind;
    c.db = 0;
    c.expire_at_ms = expire;
    return c;
  };
  std::mt19937_64 rng(7);
  // Lists: tricky elements, many elements over several nodes, elements
  // larger than a node.
  add("list:small", K::kList, kNoExpiry).elems = {"",
                                                  "a",
                                                  "123",
                                                  "-5",
                                                  "007",
                                                  "9223372036854775808",
                                                  std::string("\0\xff\n", 3),
                                                  std::string(70, 'z')};
  {
    Coll& c = add("list:large", K::kList, 1900000000000LL);
    for (size_t i = 0; i < large; ++i)
      c.elems.push_back(i % 3 == 0 ? std::to_string(i) : random_bytes(rng, i % 97));
    if (huge_elements) {
      c.elems.push_back(std::string(20000, 'q'));  // alone in its node, LZF-compressed
      c.elems.push_back(random_bytes(rng, 9000));  // alone, incompressible
    }
    c.elems.push_back("tail");
  }
  add("set:small", K::kSet, kNoExpiry).elems = {"", "1", "-1", "x", std::string("\0", 1)};
  {
    Coll& c = add("set:large", K::kSet, kNoExpiry);
    for (size_t i = 0; i < large; ++i)
      c.elems.push_back("m" + std::to_string(i) + random_bytes(rng, i % 5));
  }
  add("hash:small", K::kHash, 1800000000000LL).kv = {
      {"", "empty field"}, {"f", ""}, {"12", "34"}, {std::string("\x01\x02", 2), "bin"}};
  {
    Coll& c = add("hash:large", K::kHash, kNoExpiry);
    for (size_t i = 0; i < large; ++i)
      c.kv.emplace_back("field" + std::to_string(i), random_bytes(rng, i % 50));
  }
  add("zset:small", K::kZset, kNoExpiry).scored = {
      {"inf", std::numeric_limits<double>::infinity()},
      {"-inf", -std::numeric_limits<double>::infinity()},
      {"negzero", -0.0},
      {"", 1.5},
      {"tiny", 4.9e-324},
      {"big", 1.7976931348623157e308},
      {"10", 10}};
  {
    Coll& c = add("zset:large", K::kZset, kNoExpiry);
    for (size_t i = 0; i < large; ++i)
      c.scored.emplace_back("z" + std::to_string(i), static_cast<double>(rng() % 1000) / 7.0);
  }
  RdbWriter w(&s.image);
  w.begin(sample_info());
  w.select_db(0, s.colls.size() + 1, 2);
  w.write_string("str", "plain");
  for (auto& [key, c] : s.colls) {
    auto each_elem = [&](const RdbWriter::ElementFn& fn) {
      for (auto& e : c.elems)
        fn(e);
    };
    switch (c.kind) {
      case K::kList:
        w.write_list(key, c.elems.size(), each_elem, c.expire_at_ms);
        break;
      case K::kSet:
        w.write_set(key, c.elems.size(), each_elem, c.expire_at_ms);
        break;
      case K::kHash:
        w.write_hash(
            key, c.kv.size(),
            [&](const RdbWriter::PairFn& fn) {
              for (auto& [f, v] : c.kv)
                fn(f, v);
            },
            c.expire_at_ms);
        break;
      case K::kZset:
        w.write_zset(
            key, c.scored.size(),
            [&](const RdbWriter::ScoredFn& fn) {
              for (auto& [m, sc] : c.scored)
                fn(m, sc);
            },
            c.expire_at_ms);
        break;
    }
  }
  w.finish();
  return s;
}

void check_same(const std::map<std::string, Coll>& want, const std::map<std::string, Coll>& got) {
  REQUIRE(got.size() == want.size());
  for (auto& [key, w] : want) {
    CAPTURE(key);
    REQUIRE(got.count(key) == 1);
    const Coll& g = got.at(key);
    CHECK(g.kind == w.kind);
    CHECK(g.expire_at_ms == w.expire_at_ms);
    CHECK(g.elems == w.elems);
    CHECK(g.kv == w.kv);
    REQUIRE(g.scored.size() == w.scored.size());
    for (size_t i = 0; i < w.scored.size(); ++i) {
      CHECK(g.scored[i].first == w.scored[i].first);
      // Bit-exact: -0.0 stays negative, infinities stay infinite.
      CHECK(std::memcmp(&g.scored[i].second, &w.scored[i].second, sizeof(double)) == 0);
    }
  }
}

std::string read_coll_error(const std::string& image) {
  CollCollector c;
  try {
    RdbMemorySource src(image, "test.rdb");
    read_rdb(src, c);
  } catch (const RdbError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("round trip of lists, sets, hashes and zsets, small and large") {
  CollectionSample s = collection_sample();
  CollCollector c;
  RdbReadResult r = read_image(s.image, c);
  CHECK(r.keys == s.colls.size() + 1);
  CHECK(r.empty_keys_skipped == 0);
  CHECK(r.checksum_verified);
  REQUIRE(c.entries.size() == 1);
  check_same(s.colls, c.colls);
  CHECK(c.colls["set:large"].size_hint == 5000);
  // The writer's list type is quicklist 2 (what Redis 7.0 writes), set,
  // hash and zset the plain encodings 2, 4 and 5.
  size_t at = s.image.find("list:small");
  REQUIRE(at != std::string::npos);
  CHECK(static_cast<uint8_t>(s.image[at - 2]) == rdb::kTypeListQuicklist2);
  CHECK(static_cast<uint8_t>(s.image[s.image.find("set:small") - 2]) == rdb::kTypeSet);
  CHECK(static_cast<uint8_t>(s.image[s.image.find("hash:large") - 2]) == rdb::kTypeHash);
  CHECK(static_cast<uint8_t>(s.image[s.image.find("zset:small") - 2]) == rdb::kTypeZset2);
}

TEST_CASE("the writer rejects empty collections, wrong counts and NaN scores") {
  std::string out;
  RdbWriter w(&out);
  w.begin(sample_info());
  w.select_db(0, 1, 0);
  auto none = [](const RdbWriter::ElementFn&) {};
  auto two = [](const RdbWriter::ElementFn& fn) {
    fn("a");
    fn("b");
  };
  CHECK_THROWS_AS(w.write_list("k", 0, none), std::invalid_argument);
  CHECK_THROWS_AS(w.write_set("k", 3, two), std::logic_error);
  CHECK_THROWS_AS(w.write_list("k", 1, two), std::logic_error);
  CHECK_THROWS_AS(w.write_zset("k", 1,
                               [](const RdbWriter::ScoredFn& fn) {
                                 fn("m", std::numeric_limits<double>::quiet_NaN());
                               }),
                  std::invalid_argument);
}

TEST_CASE("the reader decodes every encoding Redis writes for collections") {
  using K = RdbVisitor::Collection;
  Builder b(9);
  // LIST (1) and SET (2), HASH (4) as plain strings.
  b.byte(rdb::kTypeList).str("l1").len(3).str("a").byte(0xc0).byte(0x85).str("");
  b.byte(rdb::kTypeSet).str("s2").len(2).str("x").str("y");
  b.byte(rdb::kTypeHash).str("h4").len(1).str("f").str("v");
  // ZSET (3): text scores, with Redis's inf/-inf codes.
  b.byte(rdb::kTypeZset).str("z3").len(3).str("a").byte(4).raw("-2.5").str("b").byte(254);
  b.str("c").byte(255);
  // ZSET_2 (5).
  double d = -0.0;
  uint64_t du;
  std::memcpy(&du, &d, 8);
  b.byte(rdb::kTypeZset2).str("z5").len(1).str("m").le(du, 8);
  // LIST_ZIPLIST (10) with every integer encoding.
  ZlBuilder zl;
  zl.str("s").integer(0xF1, 0).integer(0xFD, 12).integer(0xFE, -100).integer(0xC0, -30000);
  zl.integer(0xF0, 8000000).integer(0xD0, -2000000000).integer(0xE0, INT64_MIN);
  zl.str(std::string(300, 'p'));  // a 14-bit string, so the next prevlen takes 5 bytes
  zl.str("after-long");
  b.byte(rdb::kTypeListZiplist).str("l10").str(zl.done());
  // SET_INTSET (11) in all three widths.
  b.byte(rdb::kTypeSetIntset).str("s11a").str(intset(2, {-3, 7, 300}));
  b.byte(rdb::kTypeSetIntset).str("s11b").str(intset(4, {-70000, 70000}));
  b.byte(rdb::kTypeSetIntset).str("s11c").str(intset(8, {INT64_MIN, INT64_MAX}));
  // ZSET_ZIPLIST (12): member, score (as string and as integer).
  ZlBuilder zz;
  zz.str("one").integer(0xF2, 1).str("half").str("0.5");
  b.byte(rdb::kTypeZsetZiplist).str("z12").str(zz.done());
  // HASH_ZIPLIST (13).
  ZlBuilder zh;
  zh.str("f").integer(0xC0, 1234);
  b.byte(rdb::kTypeHashZiplist).str("h13").str(zh.done());
  // LIST_QUICKLIST (14): two ziplist nodes, one empty (skipped, as Redis).
  ZlBuilder q1, q2;
  q1.str("n1").str("n2");
  b.byte(rdb::kTypeListQuicklist).str("l14").len(3).str(q1.done()).str(q2.done());
  ZlBuilder q3;
  q3.integer(0xFE, 5);
  b.str(q3.done());
  // HASH_LISTPACK (16), ZSET_LISTPACK (17), SET_LISTPACK (20) with every
  // listpack integer encoding.
  LpBuilder lh;
  lh.str("f1").integer(5).str(std::string(100, 'h')).integer(-4000);
  b.byte(rdb::kTypeHashListpack).str("h16").str(lh.done());
  LpBuilder lz;
  lz.str("a").integer(30000).str("b").str("inf").str("c").str("-1e-3");
  b.byte(rdb::kTypeZsetListpack).str("z17").str(lz.done());
  LpBuilder ls;
  ls.integer(-32768)
      .integer(8000000)
      .integer(-2000000000)
      .integer(INT64_MAX)
      .str(std::string(5000, 's'));
  b.byte(rdb::kTypeSetListpack).str("s20").str(ls.done(65535));  // count "unknown"
  // LIST_QUICKLIST_2 (18): a plain node and a packed node.
  LpBuilder ln;
  ln.str("packed").integer(1);
  b.byte(rdb::kTypeListQuicklist2).str("l18").len(2).len(1).str("plain!").len(2).str(ln.done());
  // Empty collections are skipped (Redis does too).
  b.byte(rdb::kTypeSet).str("empty").len(0);
  b.byte(rdb::kTypeHashListpack).str("empty2").str(LpBuilder().done());
  CollCollector c;
  std::string image = b.eof_crc();
  RdbMemorySource src(image, "t.rdb");
  RdbReadResult r = read_rdb(src, c);
  CHECK(r.keys == 16);
  CHECK(r.empty_keys_skipped == 2);
  auto& m = c.colls;
  CHECK(m["l1"].elems == std::vector<std::string>{"a", "-123", ""});
  CHECK(m["s2"].elems == std::vector<std::string>{"x", "y"});
  CHECK(m["h4"].kv == std::vector<std::pair<std::string, std::string>>{{"f", "v"}});
  REQUIRE(m["z3"].scored.size() == 3);
  CHECK(m["z3"].scored[0].second == -2.5);
  CHECK(m["z3"].scored[1].second == std::numeric_limits<double>::infinity());
  CHECK(m["z3"].scored[2].second == -std::numeric_limits<double>::infinity());
  REQUIRE(m["z5"].scored.size() == 1);
  CHECK(std::signbit(m["z5"].scored[0].second));
  CHECK(m["l10"].elems == std::vector<std::string>{"s", "0", "12", "-100", "-30000", "8000000",
                                                   "-2000000000", "-9223372036854775808",
                                                   std::string(300, 'p'), "after-long"});
  CHECK(m["l10"].kind == K::kList);
  CHECK(m["s11a"].elems == std::vector<std::string>{"-3", "7", "300"});
  CHECK(m["s11b"].elems == std::vector<std::string>{"-70000", "70000"});
  CHECK(m["s11c"].elems == std::vector<std::string>{"-9223372036854775808", "9223372036854775807"});
  CHECK(m["z12"].scored == std::vector<std::pair<std::string, double>>{{"one", 1}, {"half", 0.5}});
  CHECK(m["h13"].kv == std::vector<std::pair<std::string, std::string>>{{"f", "1234"}});
  CHECK(m["l14"].elems == std::vector<std::string>{"n1", "n2", "5"});
  CHECK(m["h16"].kv == std::vector<std::pair<std::string, std::string>>{
                           {"f1", "5"}, {std::string(100, 'h'), "-4000"}});
  CHECK(m["z17"].scored ==
        std::vector<std::pair<std::string, double>>{
            {"a", 30000}, {"b", std::numeric_limits<double>::infinity()}, {"c", -1e-3}});
  CHECK(m["s20"].elems == std::vector<std::string>{"-32768", "8000000", "-2000000000",
                                                   "9223372036854775807", std::string(5000, 's')});
  CHECK(m["l18"].elems == std::vector<std::string>{"plain!", "packed", "1"});
  CHECK(m.count("empty") == 0);
}

TEST_CASE("corrupt collection encodings are rejected with the key and offset") {
  struct Case {
    const char* name;
    std::string image;
    std::string expect;
  };
  std::vector<Case> cases;
  auto with = [](uint8_t type, const std::string& blob) {
    Builder b;
    b.byte(type).str("k").str(blob);
    return b.eof_crc();
  };
  LpBuilder good;
  good.str("a").str("b");
  std::string lp = good.done();
  {
    std::string bad = lp;
    bad[0] = static_cast<char>(bad[0] + 1);
    cases.push_back(
        {"listpack total", with(rdb::kTypeSetListpack, bad), "header says 14 bytes, blob has 13"});
  }
  cases.push_back({"listpack count", with(rdb::kTypeSetListpack, good.done(3)),
                   "header says 3 entries, found 2"});
  {
    std::string bad = lp;
    bad[8] = 5;  // first entry's back-length
    cases.push_back({"listpack backlen", with(rdb::kTypeSetListpack, bad), "back-length 5"});
  }
  {
    std::string bad = lp;
    bad.back() = 0x7f;
    cases.push_back({"listpack terminator", with(rdb::kTypeSetListpack, bad), "corrupt listpack"});
  }
  {
    std::string bad = lp;
    bad[6] = static_cast<char>(0x80 | 40);  // string longer than the blob
    cases.push_back(
        {"listpack entry overrun", with(rdb::kTypeSetListpack, bad), "runs past the end"});
  }
  {
    std::string bad = lp;
    bad[6] = static_cast<char>(0xF5);
    cases.push_back(
        {"listpack bad encoding", with(rdb::kTypeSetListpack, bad), "bad entry encoding"});
  }
  cases.push_back({"listpack short", with(rdb::kTypeSetListpack, "\x07\x00\x00"s), "shorter than"});
  cases.push_back({"odd hash", with(rdb::kTypeHashListpack, LpBuilder().str("f").done()),
                   "odd number of entries"});
  cases.push_back({"zset score not a number",
                   with(rdb::kTypeZsetListpack, LpBuilder().str("m").str("1x").done()),
                   "score '1x' is not a number"});
  cases.push_back({"zset score NaN",
                   with(rdb::kTypeZsetListpack, LpBuilder().str("m").str("nan").done()), "NaN"});
  ZlBuilder zl;
  zl.str("a").str("b");
  cases.push_back({"ziplist tail", with(rdb::kTypeListZiplist, zl.done(10)), "tail offset 10"});
  {
    std::string bad = zl.done();
    bad[13] = 9;  // prevlen of the second entry
    cases.push_back({"ziplist prevlen", with(rdb::kTypeListZiplist, bad), "prevlen 9"});
  }
  {
    std::string bad = zl.done();
    bad[11] = static_cast<char>(0xC5);
    cases.push_back(
        {"ziplist int encoding", with(rdb::kTypeListZiplist, bad), "bad integer encoding"});
  }
  cases.push_back(
      {"intset order", with(rdb::kTypeSetIntset, intset(2, {5, 5})), "not strictly ascending"});
  cases.push_back(
      {"intset size", with(rdb::kTypeSetIntset, intset(4, {1, 2}) + "x"), "does not fill"});
  cases.push_back({"intset encoding", with(rdb::kTypeSetIntset, intset(3, {1})), "bad encoding 3"});
  {
    Builder b;
    b.byte(rdb::kTypeListQuicklist2).str("k").len(1).len(3).str("x");
    cases.push_back({"quicklist container", b.eof_crc(), "bad quicklist node container 3"});
  }
  {
    Builder b;
    b.byte(rdb::kTypeSet).str("k").len(1000).str("x");
    cases.push_back({"set count", b.eof_crc(), "collection length 1000 exceeds"});
  }
  {
    Builder b;
    b.byte(rdb::kTypeZset).str("k").len(1).str("m").byte(253);
    cases.push_back({"text NaN score", b.eof_crc(), "zset score is NaN"});
  }
  {
    Builder b;
    b.byte(rdb::kTypeZset).str("k").len(1).str("m").byte(3).raw("1.x");
    cases.push_back({"text score", b.eof_crc(), "zset score is not a number"});
  }
  for (auto& c : cases) {
    CAPTURE(c.name);
    std::string error = read_coll_error(c.image);
    CHECK(error.find("test.rdb: offset") == 0);
    CHECK_MESSAGE(error.find(c.expect) != std::string::npos, error);
    CHECK_MESSAGE(error.find("key 'k'") != std::string::npos, error);
  }
}

TEST_CASE("every truncation and single-bit flip of a file with all types is rejected") {
  CollectionSample s = collection_sample(20, false);
  std::string image = s.image;
  {
    CollCollector c;
    RdbMemorySource src(image, "test.rdb");
    REQUIRE(read_rdb(src, c).keys == s.colls.size() + 1);
  }
  for (size_t n = 0; n < image.size(); ++n) {
    CAPTURE(n);
    std::string error = read_coll_error(image.substr(0, n));
    REQUIRE_FALSE(error.empty());
  }
  for (size_t bit = 0; bit < image.size() * 8; ++bit) {
    std::string flipped = image;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    CAPTURE(bit);
    REQUIRE_FALSE(read_coll_error(flipped).empty());
  }
}

TEST_CASE("visitors that ignore collections still read and verify a file holding them") {
  CollectionSample s = collection_sample(50);
  Collector c;  // strings only: the default collection callbacks
  RdbReadResult r = read_image(s.image, c);
  CHECK(r.keys == s.colls.size() + 1);
  CHECK(c.entries.size() == 1);
}
