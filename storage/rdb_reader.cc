// storage/rdb_reader.cc — read_rdb() and its byte sources (see rdb.h).
//
// The reader treats the file as hostile: every length is checked against the
// bytes that remain before anything is allocated for it, every failure is an
// RdbError naming the offset (and key), and the checksum and the absence of
// trailing bytes are checked before read_rdb() returns.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <type_traits>

#include "storage/crc64.h"
#include "storage/lzf.h"
#include "storage/rdb.h"
#include "storage/rdb_opcodes.h"

namespace kvraft::storage {
namespace {

constexpr size_t kFileBufSize = 64 * 1024;
// The smallest possible key record: type byte, 1-byte key length, 1-byte
// value length. Bounds the RESIZEDB hints passed on to the visitor.
constexpr uint64_t kMinKeyRecord = 3;

std::string hex64(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%016" PRIx64, v);
  return buf;
}

// One pass over one source. Keeps the running checksum and the position,
// and the context (offset of the field being decoded, current key) that
// goes into error messages.
class Reader {
 public:
  Reader(RdbSource& src, RdbVisitor& visitor) : src_(src), visitor_(visitor), size_(src.size()) {}

  RdbReadResult run() {
    RdbReadResult result;
    result.version = read_header();
    uint64_t db = 0;
    int64_t expire_at_ms = kNoExpiry;
    bool pending_key_attrs = false;  // an expiry/IDLE/FREQ awaits its key
    while (true) {
      const uint64_t record = pos_;  // errors from the visitor point here
      field_ = record;
      key_.clear();
      uint8_t op = read_u8("opcode");
      if (pending_key_attrs &&
          (op == rdb::kOpEof || op == rdb::kOpSelectDb || op == rdb::kOpResizeDb ||
           op == rdb::kOpAux || op == rdb::kOpModuleAux || op == rdb::kOpFunction2 ||
           op == rdb::kOpFunctionPreGa))
        fail("expiry/IDLE/FREQ not followed by a key (opcode " + std::to_string(op) + ")");
      switch (op) {
        case rdb::kOpExpireTime: {
          uint8_t b[4];
          read(b, 4, "EXPIRETIME");
          int32_t seconds = static_cast<int32_t>(le(b, 4));
          expire_at_ms = seconds < 0 ? 0 : int64_t{seconds} * 1000;
          pending_key_attrs = true;
          continue;
        }
        case rdb::kOpExpireTimeMs: {
          uint8_t b[8];
          read(b, 8, "EXPIRETIME_MS");
          int64_t ms = static_cast<int64_t>(le(b, 8));
          expire_at_ms = ms < 0 ? 0 : ms;
          pending_key_attrs = true;
          continue;
        }
        case rdb::kOpFreq:
          read_u8("FREQ value");
          pending_key_attrs = true;
          continue;
        case rdb::kOpIdle:
          read_length("IDLE value");
          pending_key_attrs = true;
          continue;
        case rdb::kOpSelectDb:
          db = read_length("SELECTDB db number");
          field_ = record;
          call([&] { visitor_.on_select_db(db); });
          continue;
        case rdb::kOpResizeDb: {
          uint64_t keys = read_length("RESIZEDB db size");
          uint64_t expires = read_length("RESIZEDB expires size");
          uint64_t cap = remaining() / kMinKeyRecord;
          field_ = record;
          call([&] {
            visitor_.on_resize_db(keys < cap ? keys : cap, expires < cap ? expires : cap);
          });
          continue;
        }
        case rdb::kOpAux:
          read_string(aux_name_, "AUX field name");
          read_string(value_, "AUX field value");
          field_ = record;
          call([&] { visitor_.on_aux(aux_name_, value_); });
          continue;
        case rdb::kOpModuleAux:
          fail("unsupported RDB content: module auxiliary data (opcode 247)");
        case rdb::kOpFunction2:
        case rdb::kOpFunctionPreGa:
          fail("unsupported RDB content: function library (opcode " + std::to_string(op) +
               "); kvraft does not support FUNCTION");
        case rdb::kOpEof:
          break;
        default:
          read_key_value(op, db, expire_at_ms);
          expire_at_ms = kNoExpiry;
          pending_key_attrs = false;
          continue;
      }
      break;  // EOF
    }
    key_.clear();
    result.keys = keys_;
    result.empty_keys_skipped = empty_keys_;
    if (result.version >= rdb::kFirstChecksumVersion) {
      uint64_t computed = crc_;
      field_ = pos_;
      uint8_t b[8];
      read(b, 8, "checksum");
      uint64_t stored = le(b, 8);
      if (stored != 0 && stored != computed)
        fail("checksum mismatch: file says " + hex64(stored) + ", contents give " +
             hex64(computed));
      result.checksum_verified = stored != 0;
    }
    field_ = pos_;
    if (remaining() != 0)
      fail(std::to_string(remaining()) +
           " bytes of trailing garbage after the end of the RDB data");
    return result;
  }

 private:
  int read_header() {
    field_ = 0;
    char magic[9];
    read(magic, 9, "header");
    if (std::memcmp(magic, "REDIS", 5) != 0) fail("not an RDB file (no REDIS magic)");
    int version = 0;
    for (int i = 5; i < 9; ++i) {
      if (magic[i] < '0' || magic[i] > '9') fail("bad RDB version field");
      version = version * 10 + (magic[i] - '0');
    }
    if (version < kRdbMinReadVersion || version > kRdbMaxReadVersion)
      fail("unsupported RDB version " + std::to_string(version) + " (supported: " +
           std::to_string(kRdbMinReadVersion) + ".." + std::to_string(kRdbMaxReadVersion) + ")");
    return version;
  }

  void read_key_value(uint8_t type, uint64_t db, int64_t expire_at_ms) {
    std::string_view name = rdb_type_name(type);
    if (name == "unknown") fail("unknown RDB opcode or value type " + std::to_string(type));
    uint64_t record = field_;
    read_string(key_, "key");
    field_ = record;
    if (type == rdb::kTypeString) {
      read_string(value_, "string value");
      field_ = record;
      call([&] { visitor_.on_string(db, key_, value_, expire_at_ms); });
      ++keys_;
      return;
    }
    Coll c{db, expire_at_ms, record};
    switch (type) {
      case rdb::kTypeList:
      case rdb::kTypeSet:
      case rdb::kTypeHash:
        read_plain_collection(type, c);
        break;
      case rdb::kTypeZset:
      case rdb::kTypeZset2:
        read_plain_zset(type, c);
        break;
      case rdb::kTypeListZiplist:
      case rdb::kTypeZsetZiplist:
      case rdb::kTypeHashZiplist:
      case rdb::kTypeHashListpack:
      case rdb::kTypeZsetListpack:
      case rdb::kTypeSetListpack:
      case rdb::kTypeSetIntset:
        read_blob_collection(type, c);
        break;
      case rdb::kTypeListQuicklist:
      case rdb::kTypeListQuicklist2:
        read_quicklist(type, c);
        break;
      default:
        fail("unsupported RDB value type " + std::to_string(type) + " (" + std::string(name) + ")");
    }
    field_ = record;
    if (c.started) {
      call([&] { visitor_.on_collection_end(); });
      ++keys_;
    } else {
      ++empty_keys_;
    }
  }

  // ------------------------------------------------------ collections
  //
  // Elements are reported as they are decoded; on_collection_begin is sent
  // lazily before the first one, so an empty collection (which Redis skips)
  // reaches the visitor not at all.
  using Kind = RdbVisitor::Collection;
  struct Coll {
    uint64_t db;
    int64_t expire_at_ms;
    uint64_t record;  // offset of the key's record
    bool started = false;
  };

  void begin(Coll& c, Kind kind, uint64_t hint) {
    if (c.started) return;
    c.started = true;
    // A hint from the file is bounded by what the rest of the file could
    // hold (every element takes at least one byte).
    uint64_t cap = remaining() + 1;
    uint64_t h = hint < cap ? hint : cap;
    uint64_t saved = field_;
    field_ = c.record;
    call([&] { visitor_.on_collection_begin(c.db, key_, kind, h, c.expire_at_ms); });
    field_ = saved;
  }

  // LIST (1), SET (2), HASH (4): a count, then that many strings (pairs).
  void read_plain_collection(uint8_t type, Coll& c) {
    uint64_t n = read_length("collection length");
    Kind kind = type == rdb::kTypeList  ? Kind::kList
                : type == rdb::kTypeSet ? Kind::kSet
                                        : Kind::kHash;
    uint64_t per = kind == Kind::kHash ? 2 : 1;
    if (n > remaining() / per)
      fail("collection length " + std::to_string(n) + " exceeds what the " +
           std::to_string(remaining()) + " bytes left in the file could hold");
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t elem = pos_;
      read_string(value_, kind == Kind::kHash ? "hash field" : "element");
      if (kind == Kind::kHash) read_string(value2_, "hash value");
      begin(c, kind, n);
      field_ = elem;
      switch (kind) {
        case Kind::kList:
          call([&] { visitor_.on_list_element(value_); });
          break;
        case Kind::kSet:
          call([&] { visitor_.on_set_member(value_); });
          break;
        default:
          call([&] { visitor_.on_hash_field(value_, value2_); });
          break;
      }
    }
  }

  // ZSET (3): member, score as a length-prefixed decimal (253 NaN, 254 +inf,
  // 255 -inf); ZSET_2 (5): member, 8 bytes little-endian IEEE double.
  void read_plain_zset(uint8_t type, Coll& c) {
    uint64_t n = read_length("zset length");
    if (n > remaining() / 2)
      fail("zset length " + std::to_string(n) + " exceeds what the " + std::to_string(remaining()) +
           " bytes left in the file could hold");
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t elem = pos_;
      read_string(value_, "zset member");
      field_ = pos_;
      double score;
      if (type == rdb::kTypeZset2) {
        uint8_t b[8];
        read(b, 8, "zset score");
        uint64_t u = le(b, 8);
        std::memcpy(&score, &u, sizeof score);
      } else {
        uint8_t len = read_u8("zset score");
        if (len == 253) {
          score = std::numeric_limits<double>::quiet_NaN();
        } else if (len == 254) {
          score = std::numeric_limits<double>::infinity();
        } else if (len == 255) {
          score = -std::numeric_limits<double>::infinity();
        } else {
          char buf[256];
          read(buf, len, "zset score");
          if (!parse_double(std::string_view(buf, len), &score)) fail("zset score is not a number");
        }
      }
      if (std::isnan(score)) fail("zset score is NaN");
      begin(c, Kind::kZset, n);
      field_ = elem;
      call([&] { visitor_.on_zset_member(value_, score); });
    }
  }

  // Redis's zzlStrtod: a whole-string strtod of at most 127 bytes.
  static bool parse_double(std::string_view s, double* out) {
    if (s.empty() || s.size() > 127) return false;
    char buf[128];
    std::memcpy(buf, s.data(), s.size());
    buf[s.size()] = '\0';
    if (std::isspace(static_cast<unsigned char>(buf[0]))) return false;
    char* end = nullptr;
    errno = 0;
    double d = std::strtod(buf, &end);
    if (end != buf + s.size()) return false;
    *out = d;
    return true;
  }

  // One element of a ziplist/listpack/intset blob: a string (pointing into
  // the blob) or an integer.
  struct Elem {
    bool is_int = false;
    int64_t i = 0;
    std::string_view s;
    std::string_view text(char* buf) const {
      if (!is_int) return s;
      int n = std::snprintf(buf, 24, "%" PRId64, i);
      return {buf, static_cast<size_t>(n)};
    }
  };

  [[noreturn]] void blob_fail(const char* kind, const std::string& why) {
    fail(std::string("corrupt ") + kind + ": " + why);
  }

  // Walks a Redis listpack (listpack.c), calling fn(Elem) per entry (fn may
  // be null: validation only). Checks the total-bytes header against the
  // blob, every entry's bounds and back-length, the terminator at the very
  // end, and the count header (unless 65535 = "unknown"). Returns the count.
  template <typename Fn>
  uint64_t walk_listpack(std::string_view b, Fn&& fn) {
    const char* kind = "listpack";
    auto u = [&](size_t i) { return static_cast<uint8_t>(b[i]); };
    if (b.size() < 7) blob_fail(kind, "shorter than header and terminator");
    uint64_t total = le(reinterpret_cast<const uint8_t*>(b.data()), 4);
    uint64_t hdr_count = le(reinterpret_cast<const uint8_t*>(b.data()) + 4, 2);
    if (total != b.size())
      blob_fail(kind, "header says " + std::to_string(total) + " bytes, blob has " +
                          std::to_string(b.size()));
    size_t p = 6;
    uint64_t count = 0;
    const size_t end = b.size() - 1;  // the terminator's position
    while (p < end) {
      size_t start = p;
      uint8_t e = u(p);
      Elem el;
      size_t hdr = 1, len = 0;
      auto need = [&](size_t n) {
        if (n > end - p)
          blob_fail(kind, "entry at " + std::to_string(start) + " runs past the end");
      };
      if ((e & 0x80) == 0) {  // 7-bit uint
        el.is_int = true;
        el.i = e & 0x7f;
      } else if ((e & 0xC0) == 0x80) {  // 6-bit string
        len = e & 0x3f;
      } else if ((e & 0xE0) == 0xC0) {  // 13-bit int
        need(2);
        hdr = 2;
        uint64_t v = (uint64_t{e & 0x1fu} << 8) | u(p + 1);
        el.is_int = true;
        el.i = v >= (1u << 12) ? static_cast<int64_t>(v) - (1 << 13) : static_cast<int64_t>(v);
      } else if ((e & 0xF0) == 0xE0) {  // 12-bit string
        need(2);
        hdr = 2;
        len = (size_t{e & 0x0fu} << 8) | u(p + 1);
      } else if (e == 0xF0) {  // 32-bit string
        need(5);
        hdr = 5;
        len = static_cast<size_t>(le(reinterpret_cast<const uint8_t*>(b.data()) + p + 1, 4));
      } else if (e >= 0xF1 && e <= 0xF4) {
        int n = e == 0xF1 ? 2 : e == 0xF2 ? 3 : e == 0xF3 ? 4 : 8;
        need(1 + n);
        hdr = 1 + n;
        uint64_t v = le(reinterpret_cast<const uint8_t*>(b.data()) + p + 1, n);
        if (n < 8) {
          uint64_t sign = uint64_t{1} << (8 * n - 1);
          el.i = v >= sign ? static_cast<int64_t>(v) - static_cast<int64_t>(sign << 1)
                           : static_cast<int64_t>(v);
        } else {
          el.i = static_cast<int64_t>(v);
        }
        el.is_int = true;
      } else {
        blob_fail(kind,
                  "bad entry encoding byte " + std::to_string(e) + " at " + std::to_string(start));
      }
      need(hdr);
      if (len > end - p - hdr)
        blob_fail(kind, "entry at " + std::to_string(start) + " runs past the end");
      if (!el.is_int) el.s = b.substr(p + hdr, len);
      uint64_t entry_len = hdr + len;
      p += entry_len;
      // Back-length: big-endian base 128, continuation bits on all but the
      // first byte; must equal entry_len and be minimally encoded.
      size_t bl = entry_len <= 127        ? 1
                  : entry_len < 16383     ? 2
                  : entry_len < 2097151   ? 3
                  : entry_len < 268435455 ? 4
                                          : 5;
      if (bl > end - p)
        blob_fail(kind, "back-length of entry at " + std::to_string(start) + " runs past the end");
      uint64_t v = 0;
      for (size_t i = 0; i < bl; ++i) {
        uint8_t c = u(p + i);
        if ((i > 0) != ((c & 0x80) != 0))
          blob_fail(kind, "malformed back-length of entry at " + std::to_string(start));
        v = (v << 7) | (c & 0x7f);
      }
      if (v != entry_len)
        blob_fail(kind, "back-length " + std::to_string(v) + " of entry at " +
                            std::to_string(start) + " does not match its size " +
                            std::to_string(entry_len));
      p += bl;
      ++count;
      if constexpr (!std::is_same_v<std::decay_t<Fn>, std::nullptr_t>) fn(el);
    }
    if (u(end) != 0xFF) blob_fail(kind, "no terminator at the end");
    if (hdr_count != 65535 && hdr_count != count)
      blob_fail(kind, "header says " + std::to_string(hdr_count) + " entries, found " +
                          std::to_string(count));
    return count;
  }

  // Walks a Redis ziplist (ziplist.c), as walk_listpack: checks zlbytes,
  // zltail (must point at the last entry), each prevlen against the previous
  // entry's size, bounds, the terminator and zllen (unless 65535).
  template <typename Fn>
  uint64_t walk_ziplist(std::string_view b, Fn&& fn) {
    const char* kind = "ziplist";
    auto u = [&](size_t i) { return static_cast<uint8_t>(b[i]); };
    const auto* ub = reinterpret_cast<const uint8_t*>(b.data());
    if (b.size() < 11) blob_fail(kind, "shorter than header and terminator");
    uint64_t total = le(ub, 4), tail = le(ub + 4, 4), hdr_count = le(ub + 8, 2);
    if (total != b.size())
      blob_fail(kind, "header says " + std::to_string(total) + " bytes, blob has " +
                          std::to_string(b.size()));
    size_t p = 10, last = 10;
    uint64_t count = 0, prev_len = 0;
    const size_t end = b.size() - 1;
    while (p < end) {
      size_t start = p;
      auto need = [&](size_t n) {
        if (n > end - p)
          blob_fail(kind, "entry at " + std::to_string(start) + " runs past the end");
      };
      uint64_t prevlen;
      if (u(p) < 254) {
        prevlen = u(p);
        p += 1;
      } else if (u(p) == 254) {
        need(5);
        prevlen = le(ub + p + 1, 4);
        p += 5;
      } else {
        blob_fail(kind, "bad prevlen byte at " + std::to_string(start));
      }
      if (prevlen != prev_len)
        blob_fail(kind, "prevlen " + std::to_string(prevlen) + " of entry at " +
                            std::to_string(start) + " does not match the previous entry's size " +
                            std::to_string(prev_len));
      need(1);
      uint8_t e = u(p);
      Elem el;
      size_t hdr = 1, len = 0;
      switch (e >> 6) {
        case 0:
          len = e & 0x3f;
          break;
        case 1:
          need(2);
          hdr = 2;
          len = (size_t{e & 0x3fu} << 8) | u(p + 1);
          break;
        case 2:
          if (e != 0x80) blob_fail(kind, "bad string encoding at " + std::to_string(start));
          need(5);
          hdr = 5;
          len = (size_t{u(p + 1)} << 24) | (size_t{u(p + 2)} << 16) | (size_t{u(p + 3)} << 8) |
                u(p + 4);
          break;
        default: {
          el.is_int = true;
          int n = 0;
          if (e == 0xC0)
            n = 2;
          else if (e == 0xD0)
            n = 4;
          else if (e == 0xE0)
            n = 8;
          else if (e == 0xF0)
            n = 3;
          else if (e == 0xFE)
            n = 1;
          else if (e >= 0xF1 && e <= 0xFD)
            el.i = (e & 0x0f) - 1;
          else
            blob_fail(kind, "bad integer encoding byte " + std::to_string(e) + " at " +
                                std::to_string(start));
          if (n > 0) {
            need(1 + n);
            uint64_t v = le(ub + p + 1, n);
            uint64_t sign = uint64_t{1} << (8 * n - 1);
            el.i = n < 8 && v >= sign ? static_cast<int64_t>(v) - static_cast<int64_t>(sign << 1)
                                      : static_cast<int64_t>(v);
            hdr = 1 + n;
          }
        }
      }
      need(hdr);
      if (len > end - p - hdr)
        blob_fail(kind, "entry at " + std::to_string(start) + " runs past the end");
      if (!el.is_int) el.s = b.substr(p + hdr, len);
      p += hdr + len;
      prev_len = p - start;
      last = start;
      ++count;
      if constexpr (!std::is_same_v<std::decay_t<Fn>, std::nullptr_t>) fn(el);
    }
    if (u(end) != 0xFF) blob_fail(kind, "no terminator at the end");
    if (tail != last)
      blob_fail(kind, "tail offset " + std::to_string(tail) + " is not the last entry's " +
                          std::to_string(last));
    if (hdr_count != 65535 && hdr_count != count)
      blob_fail(kind, "header says " + std::to_string(hdr_count) + " entries, found " +
                          std::to_string(count));
    return count;
  }

  // Walks an intset (intset.c): encoding (2, 4 or 8), count, then strictly
  // ascending little-endian integers filling the blob exactly.
  template <typename Fn>
  uint64_t walk_intset(std::string_view b, Fn&& fn) {
    const char* kind = "intset";
    const auto* ub = reinterpret_cast<const uint8_t*>(b.data());
    if (b.size() < 8) blob_fail(kind, "shorter than its header");
    uint64_t enc = le(ub, 4), n = le(ub + 4, 4);
    if (enc != 2 && enc != 4 && enc != 8) blob_fail(kind, "bad encoding " + std::to_string(enc));
    if (n * enc != b.size() - 8)
      blob_fail(kind, "count " + std::to_string(n) + " of " + std::to_string(enc) +
                          "-byte integers does not fill the " + std::to_string(b.size() - 8) +
                          " bytes");
    int64_t prev = 0;
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t v = le(ub + 8 + i * enc, static_cast<int>(enc));
      uint64_t sign = uint64_t{1} << (8 * enc - 1);
      Elem el;
      el.is_int = true;
      el.i = enc < 8 && v >= sign ? static_cast<int64_t>(v) - static_cast<int64_t>(sign << 1)
                                  : static_cast<int64_t>(v);
      if (i > 0 && el.i <= prev) blob_fail(kind, "members not strictly ascending");
      prev = el.i;
      if constexpr (!std::is_same_v<std::decay_t<Fn>, std::nullptr_t>) fn(el);
    }
    return n;
  }

  // Validates a whole blob, then reports its elements (pairs for hashes and
  // zsets, whose element count must be even).
  void emit_blob(std::string_view blob, bool ziplist, Kind kind, Coll& c, uint64_t blob_off) {
    field_ = blob_off;
    uint64_t n = ziplist ? walk_ziplist(blob, nullptr) : walk_listpack(blob, nullptr);
    bool pairs = kind == Kind::kHash || kind == Kind::kZset;
    if (pairs && n % 2 != 0)
      blob_fail(ziplist ? "ziplist" : "listpack",
                "odd number of entries (" + std::to_string(n) + ") for field/value pairs");
    if (n == 0) return;
    begin(c, kind, pairs ? n / 2 : n);
    char buf1[24], buf2[24];
    bool have_first = false;
    Elem first;
    auto each = [&](const Elem& el) {
      field_ = blob_off;
      if (!pairs) {
        std::string_view t = el.text(buf1);
        if (kind == Kind::kList)
          call([&] { visitor_.on_list_element(t); });
        else
          call([&] { visitor_.on_set_member(t); });
        return;
      }
      if (!have_first) {
        first = el;
        have_first = true;
        return;
      }
      have_first = false;
      std::string_view a = first.text(buf1);
      if (kind == Kind::kHash) {
        std::string_view v = el.text(buf2);
        call([&] { visitor_.on_hash_field(a, v); });
      } else {
        double score;
        if (el.is_int) {
          score = static_cast<double>(el.i);
        } else if (!parse_double(el.s, &score)) {
          fail("zset score '" + std::string(el.s.substr(0, 40)) + "' is not a number");
        }
        if (std::isnan(score)) fail("zset score is NaN");
        call([&] { visitor_.on_zset_member(a, score); });
      }
    };
    if (ziplist)
      walk_ziplist(blob, each);
    else
      walk_listpack(blob, each);
  }

  void read_blob_collection(uint8_t type, Coll& c) {
    uint64_t blob_off = pos_;
    read_string(value_, "encoded value");
    std::string_view blob = value_;
    switch (type) {
      case rdb::kTypeListZiplist:
        return emit_blob(blob, true, Kind::kList, c, blob_off);
      case rdb::kTypeZsetZiplist:
        return emit_blob(blob, true, Kind::kZset, c, blob_off);
      case rdb::kTypeHashZiplist:
        return emit_blob(blob, true, Kind::kHash, c, blob_off);
      case rdb::kTypeHashListpack:
        return emit_blob(blob, false, Kind::kHash, c, blob_off);
      case rdb::kTypeZsetListpack:
        return emit_blob(blob, false, Kind::kZset, c, blob_off);
      case rdb::kTypeSetListpack:
        return emit_blob(blob, false, Kind::kSet, c, blob_off);
      default: {  // intset
        field_ = blob_off;
        uint64_t n = walk_intset(blob, nullptr);
        if (n == 0) return;
        begin(c, Kind::kSet, n);
        char buf[24];
        walk_intset(blob, [&](const Elem& el) {
          std::string_view t = el.text(buf);
          field_ = blob_off;
          call([&] { visitor_.on_set_member(t); });
        });
        return;
      }
    }
  }

  // LIST_QUICKLIST (14): node count, then a ziplist per node.
  // LIST_QUICKLIST_2 (18): node count, then per node a container (1 plain:
  // the string is one element; 2 packed: a listpack). Empty nodes are
  // skipped, as Redis does.
  void read_quicklist(uint8_t type, Coll& c) {
    uint64_t nodes = read_length("quicklist node count");
    if (nodes > remaining())
      fail("quicklist node count " + std::to_string(nodes) + " exceeds the " +
           std::to_string(remaining()) + " bytes left in the file");
    for (uint64_t i = 0; i < nodes; ++i) {
      uint64_t container = rdb::kQuicklistNodePacked;
      if (type == rdb::kTypeListQuicklist2) {
        container = read_length("quicklist node container");
        if (container != rdb::kQuicklistNodePlain && container != rdb::kQuicklistNodePacked)
          fail("bad quicklist node container " + std::to_string(container));
      }
      uint64_t blob_off = pos_;
      read_string(value_, "quicklist node");
      if (container == rdb::kQuicklistNodePlain) {
        begin(c, Kind::kList, 0);
        field_ = blob_off;
        call([&] { visitor_.on_list_element(value_); });
        continue;
      }
      emit_blob(value_, type == rdb::kTypeListQuicklist, Kind::kList, c, blob_off);
    }
  }

  // Runs a visitor callback; its exceptions become RdbErrors with context.
  template <typename F>
  void call(F&& f) {
    try {
      f();
    } catch (const RdbError&) {
      throw;
    } catch (const std::exception& e) {
      fail(std::string("rejected by the loader: ") + e.what());
    }
  }

  [[noreturn]] void fail(const std::string& reason) {
    throw RdbError(src_.name(), field_, key_, reason);
  }

  uint64_t remaining() const { return size_ - pos_; }

  void read(void* dst, uint64_t len, const char* what) {
    if (len > remaining())
      fail(std::string("truncated: ") + what + " needs " + std::to_string(len) +
           " bytes but only " + std::to_string(remaining()) + " remain");
    src_.read(dst, static_cast<size_t>(len));
    crc_ = crc64(crc_, dst, static_cast<size_t>(len));
    pos_ += len;
  }

  uint8_t read_u8(const char* what) {
    uint8_t b;
    read(&b, 1, what);
    return b;
  }

  static uint64_t le(const uint8_t* b, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i)
      v = (v << 8) | b[i];
    return v;
  }

  // Redis's rdbLoadLenByRef. Returns the length; if the first byte says
  // "special encoding", sets *encoding to its 6-bit code instead (only
  // allowed where a string is expected).
  uint64_t read_length(const char* what, int* encoding = nullptr) {
    field_ = pos_;
    uint8_t b0 = read_u8(what);
    switch (b0 >> 6) {
      case rdb::kLen6Bit:
        return b0 & 0x3f;
      case rdb::kLen14Bit:
        return (uint64_t{b0 & 0x3fu} << 8) | read_u8(what);
      case rdb::kEncVal:
        if (encoding == nullptr) fail(std::string("string encoding where ") + what + " expected");
        *encoding = b0 & 0x3f;
        return 0;
      default:
        break;
    }
    int n = b0 == rdb::kLen32Bit ? 4 : b0 == rdb::kLen64Bit ? 8 : 0;
    if (n == 0) fail("bad length encoding byte " + std::to_string(b0) + " for " + what);
    uint8_t b[8];
    read(b, n, what);
    uint64_t v = 0;
    for (int i = 0; i < n; ++i)
      v = (v << 8) | b[i];
    return v;
  }

  // Redis's rdbGenericLoadStringObject, into a reused buffer.
  void read_string(std::string& out, const char* what) {
    uint64_t start = pos_;
    int encoding = -1;
    uint64_t len = read_length(what, &encoding);
    field_ = start;
    if (encoding < 0) {
      if (len > remaining())
        fail(std::string(what) + " length " + std::to_string(len) + " exceeds the " +
             std::to_string(remaining()) + " bytes left in the file");
      out.resize(static_cast<size_t>(len));
      read(out.data(), len, what);
      return;
    }
    switch (encoding) {
      case rdb::kEncInt8:
      case rdb::kEncInt16:
      case rdb::kEncInt32: {
        int n = encoding == rdb::kEncInt8 ? 1 : encoding == rdb::kEncInt16 ? 2 : 4;
        uint8_t b[4];
        read(b, n, what);
        uint64_t u = le(b, n);
        int64_t v = n == 1   ? static_cast<int8_t>(u)
                    : n == 2 ? static_cast<int16_t>(u)
                             : static_cast<int32_t>(u);
        out = std::to_string(v);
        return;
      }
      case rdb::kEncLzf: {
        uint64_t clen = read_length(what);
        uint64_t ulen = read_length(what);
        field_ = start;
        if (clen > remaining())
          fail(std::string(what) + ": LZF compressed length " + std::to_string(clen) +
               " exceeds the " + std::to_string(remaining()) + " bytes left in the file");
        if (ulen == 0 || clen == 0 || ulen / kLzfMaxExpansion > clen ||
            ulen > kRdbMaxLzfStringLength)
          fail(std::string(what) + ": impossible LZF lengths (" + std::to_string(clen) +
               " compressed, " + std::to_string(ulen) + " uncompressed)");
        lzf_in_.resize(static_cast<size_t>(clen));
        read(lzf_in_.data(), clen, what);
        out.resize(static_cast<size_t>(ulen));
        if (!lzf_decompress(lzf_in_.data(), lzf_in_.size(), reinterpret_cast<uint8_t*>(out.data()),
                            out.size()))
          fail(std::string(what) + ": corrupt LZF data");
        return;
      }
      default:
        fail(std::string(what) + ": unknown string encoding " + std::to_string(encoding));
    }
  }

  RdbSource& src_;
  RdbVisitor& visitor_;
  const uint64_t size_;
  uint64_t pos_ = 0;    // invariant: pos_ <= size_; bytes consumed so far
  uint64_t crc_ = 0;    // CRC-64 of the first pos_ bytes
  uint64_t field_ = 0;  // offset reported by fail(): the item being decoded
  std::string key_;     // the key of the record being decoded, or empty
  std::string value_;
  std::string value2_;
  std::string aux_name_;
  uint64_t keys_ = 0;
  uint64_t empty_keys_ = 0;
  std::vector<uint8_t> lzf_in_;
};

}  // namespace

void RdbVisitor::on_collection_begin(uint64_t, std::string_view, Collection, uint64_t, int64_t) {}
void RdbVisitor::on_list_element(std::string_view) {}
void RdbVisitor::on_set_member(std::string_view) {}
void RdbVisitor::on_hash_field(std::string_view, std::string_view) {}
void RdbVisitor::on_zset_member(std::string_view, double) {}
void RdbVisitor::on_collection_end() {}

RdbMemorySource::RdbMemorySource(std::string_view bytes, std::string name)
    : bytes_(bytes), name_(std::move(name)) {}

void RdbMemorySource::read(void* dst, size_t len) {
  if (len > bytes_.size() - pos_) throw RdbError(name_, pos_, "", "read past the end of the input");
  std::memcpy(dst, bytes_.data() + pos_, len);
  pos_ += len;
}

RdbFileSource::RdbFileSource(const std::string& path)
    : path_(path), buf_(new uint8_t[kFileBufSize]) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw RdbError(path, 0, "", std::string("cannot open: ") + std::strerror(errno));
  struct stat st;
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    int saved = errno;
    ::close(fd_);
    fd_ = -1;
    throw RdbError(path, 0, "",
                   saved != 0 ? std::string("cannot stat: ") + std::strerror(saved)
                              : std::string("not a regular file"));
  }
  size_ = static_cast<uint64_t>(st.st_size);
}

RdbFileSource::~RdbFileSource() {
  if (fd_ >= 0) ::close(fd_);
}

void RdbFileSource::read(void* dst, size_t len) {
  auto* out = static_cast<uint8_t*>(dst);
  while (len > 0) {
    if (buf_pos_ == buf_len_) {
      ssize_t n = ::read(fd_, buf_.get(), kFileBufSize);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0)
        throw RdbError(path_, file_pos_, "", std::string("read failed: ") + std::strerror(errno));
      if (n == 0)
        throw RdbError(path_, file_pos_, "",
                       "file ended early (it shrank while being read; expected " +
                           std::to_string(size_) + " bytes)");
      buf_pos_ = 0;
      buf_len_ = static_cast<size_t>(n);
      file_pos_ += static_cast<uint64_t>(n);
    }
    size_t n = len < buf_len_ - buf_pos_ ? len : buf_len_ - buf_pos_;
    std::memcpy(out, buf_.get() + buf_pos_, n);
    buf_pos_ += n;
    out += n;
    len -= n;
  }
}

RdbReadResult read_rdb(RdbSource& src, RdbVisitor& visitor) {
  Reader reader(src, visitor);
  return reader.run();
}

RdbReadResult read_rdb_file(const std::string& path, RdbVisitor& visitor) {
  RdbFileSource src(path);
  return read_rdb(src, visitor);
}

}  // namespace kvraft::storage
