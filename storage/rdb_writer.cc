// storage/rdb_writer.cc — RdbWriter and write_rdb_file_atomically (see
// rdb.h). The byte layout follows Redis's rdbSaveRio(): the same opcodes,
// length and string encodings, so redis-check-rdb and redis-server accept
// the files.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "storage/crc64.h"
#include "storage/rdb.h"
#include "storage/rdb_opcodes.h"

namespace kvraft::storage {
namespace {

constexpr size_t kBufSize = 64 * 1024;

// Redis's rdbTryIntegerEncoding: a string that is the canonical decimal form
// of an integer (what ll2string would print: no sign on 0, no '+', no leading
// zeros) and fits in 32 bits is stored as 1, 2 or 4 little-endian bytes.
// Returns the encoded size (2, 3 or 5 bytes with the type byte), or 0.
size_t encode_integer_string(std::string_view s, uint8_t out[5]) {
  if (s.empty() || s.size() > 11) return 0;
  size_t i = 0;
  bool negative = false;
  if (s[0] == '-') {
    negative = true;
    i = 1;
    if (s.size() == 1) return 0;
  }
  if (s[i] == '0' && (s.size() > i + 1 || negative)) return 0;  // "007", "-0"
  int64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return 0;
    v = v * 10 + (s[i] - '0');  // at most 11 digits: no overflow in 64 bits
  }
  if (negative) v = -v;
  if (v >= INT8_MIN && v <= INT8_MAX) {
    out[0] = (rdb::kEncVal << 6) | rdb::kEncInt8;
    out[1] = static_cast<uint8_t>(v);
    return 2;
  }
  if (v >= INT16_MIN && v <= INT16_MAX) {
    out[0] = (rdb::kEncVal << 6) | rdb::kEncInt16;
    uint16_t u = static_cast<uint16_t>(v);
    out[1] = u & 0xff;
    out[2] = u >> 8;
    return 3;
  }
  if (v >= INT32_MIN && v <= INT32_MAX) {
    out[0] = (rdb::kEncVal << 6) | rdb::kEncInt32;
    uint32_t u = static_cast<uint32_t>(v);
    for (int b = 0; b < 4; ++b)
      out[1 + b] = (u >> (8 * b)) & 0xff;
    return 5;
  }
  return 0;
}

// Redis listpack string entries (listpack.c): the encoding header for a
// string of `len` bytes, and the size of the back-length that follows the
// entry. The writer stores every element as a string entry; Redis reads
// those back as the same bytes (it only integer-encodes to save space).
size_t lp_string_header(size_t len, uint8_t out[5]) {
  if (len < 64) {
    out[0] = static_cast<uint8_t>(0x80 | len);
    return 1;
  }
  if (len < 4096) {
    out[0] = static_cast<uint8_t>(0xE0 | (len >> 8));
    out[1] = static_cast<uint8_t>(len & 0xff);
    return 2;
  }
  out[0] = 0xF0;
  for (int i = 0; i < 4; ++i)
    out[1 + i] = static_cast<uint8_t>(len >> (8 * i));
  return 5;
}

// lpEncodeBacklen: the entry length (header + data) as a big-endian base-128
// number whose bytes, except the first, have the top bit set, so it can be
// decoded walking backwards from the entry's last byte.
size_t lp_backlen(uint64_t l, uint8_t out[5]) {
  size_t n = l <= 127 ? 1 : l < 16383 ? 2 : l < 2097151 ? 3 : l < 268435455 ? 4 : 5;
  for (size_t i = 0; i < n; ++i) {
    size_t shift = 7 * (n - 1 - i);
    out[i] = static_cast<uint8_t>((l >> shift) & 127);
    if (i > 0) out[i] |= 128;
  }
  return n;
}

// Bytes a string element of `len` bytes takes in a listpack.
uint64_t lp_entry_size(size_t len) {
  uint8_t tmp[5];
  size_t h = lp_string_header(len, tmp);
  return h + len + lp_backlen(h + len, tmp);
}

constexpr size_t kLpHeaderBytes = 6;  // total bytes (u32 LE), count (u16 LE)
// Largest element a listpack can hold: its total size is a u32.
constexpr uint64_t kLpMaxElement = UINT32_MAX - 64;

void lp_append_string(std::string* lp, std::string_view v) {
  uint8_t h[5], b[5];
  size_t hn = lp_string_header(v.size(), h);
  size_t bn = lp_backlen(hn + v.size(), b);
  lp->append(reinterpret_cast<const char*>(h), hn);
  lp->append(v.data(), v.size());
  lp->append(reinterpret_cast<const char*>(b), bn);
}

[[noreturn]] void throw_errno(const std::string& what, const std::string& path) {
  throw RdbError(path, 0, "", what + ": " + std::strerror(errno));
}

}  // namespace

RdbWriter::RdbWriter(int fd, std::string name)
    : fd_(fd), name_(std::move(name)), buf_(new uint8_t[kBufSize]) {}

RdbWriter::RdbWriter(std::string* out)
    : out_(out), name_("<memory>"), buf_(new uint8_t[kBufSize]) {}

RdbWriter::~RdbWriter() = default;

void RdbWriter::flush() {
  if (out_ != nullptr) {
    out_->append(reinterpret_cast<const char*>(buf_.get()), buf_used_);
    buf_used_ = 0;
    return;
  }
  size_t done = 0;
  while (done < buf_used_) {
    ssize_t n = ::write(fd_, buf_.get() + done, buf_used_ - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw RdbError(name_, offset_ - buf_used_ + done, "",
                     std::string("write failed: ") + std::strerror(errno));
    }
    done += static_cast<size_t>(n);
  }
  buf_used_ = 0;
  unsynced_bytes_ += done;
  if (sync_every_ != 0 && unsynced_bytes_ >= sync_every_) {
    if (::fdatasync(fd_) != 0)
      throw RdbError(name_, offset_, "",
                     std::string("incremental fdatasync failed: ") + std::strerror(errno));
    unsynced_bytes_ = 0;
    ++incremental_syncs_;
  }
}

void RdbWriter::put(const void* data, size_t len) {
  crc_ = crc64(crc_, data, len);
  offset_ += len;
  const auto* p = static_cast<const uint8_t*>(data);
  while (len > 0) {
    if (buf_used_ == kBufSize) flush();
    size_t n = len < kBufSize - buf_used_ ? len : kBufSize - buf_used_;
    std::memcpy(buf_.get() + buf_used_, p, n);
    buf_used_ += n;
    p += n;
    len -= n;
  }
}

// Redis's rdbSaveLen: 6-bit, 14-bit, 32-bit or 64-bit big-endian lengths.
void RdbWriter::put_length(uint64_t len) {
  uint8_t b[9];
  if (len < (1 << 6)) {
    b[0] = static_cast<uint8_t>((rdb::kLen6Bit << 6) | len);
    put(b, 1);
  } else if (len < (1 << 14)) {
    b[0] = static_cast<uint8_t>((rdb::kLen14Bit << 6) | (len >> 8));
    b[1] = static_cast<uint8_t>(len & 0xff);
    put(b, 2);
  } else if (len <= UINT32_MAX) {
    b[0] = rdb::kLen32Bit;
    for (int i = 0; i < 4; ++i)
      b[1 + i] = static_cast<uint8_t>(len >> (8 * (3 - i)));
    put(b, 5);
  } else {
    b[0] = rdb::kLen64Bit;
    for (int i = 0; i < 8; ++i)
      b[1 + i] = static_cast<uint8_t>(len >> (8 * (7 - i)));
    put(b, 9);
  }
}

// Redis's rdbSaveRawString: integer encoding for short canonical numbers,
// LZF for strings over 20 bytes when it saves at least 4 bytes, else raw.
void RdbWriter::put_string(std::string_view s) {
  uint8_t enc[5];
  if (size_t n = encode_integer_string(s, enc); n > 0) {
    put(enc, n);
    return;
  }
  if (compress_ && s.size() > 20) {
    if (!lzf_) lzf_ = std::make_unique<LzfCompressor>();
    size_t cap = s.size() - 4;
    if (lzf_out_.size() < cap) lzf_out_.resize(cap);
    size_t clen =
        lzf_->compress(reinterpret_cast<const uint8_t*>(s.data()), s.size(), lzf_out_.data(), cap);
    if (clen > 0) {
      put_byte((rdb::kEncVal << 6) | rdb::kEncLzf);
      put_length(clen);
      put_length(s.size());
      put(lzf_out_.data(), clen);
      return;
    }
  }
  put_length(s.size());
  put(s.data(), s.size());
}

void RdbWriter::begin(const RdbSnapshotInfo& info) {
  if (state_ != State::kNew) throw std::logic_error("RdbWriter::begin called twice");
  state_ = State::kHeader;
  char magic[10];
  std::snprintf(magic, sizeof magic, "REDIS%04d", kRdbWriteVersion);
  put(magic, 9);
  auto aux = [this](std::string_view name, std::string_view value) {
    put_byte(rdb::kOpAux);
    put_string(name);
    put_string(value);
  };
  aux("redis-ver", kRdbRedisVer);
  aux("redis-bits", std::to_string(sizeof(void*) * 8));
  aux("ctime",
      std::to_string(info.ctime != 0 ? info.ctime : static_cast<int64_t>(::time(nullptr))));
  aux("used-mem", std::to_string(info.used_mem));
  aux("aof-base", "0");
  aux(kAuxRaftIndex, std::to_string(info.meta.index));
  aux(kAuxRaftTerm, std::to_string(info.meta.term));
  aux(kAuxMembership, encode_membership(info.meta.conf));
  for (const auto& [name, value] : info.extra_aux)
    aux(name, value);
}

void RdbWriter::select_db(uint64_t db, uint64_t key_count_hint, uint64_t expires_hint) {
  if (state_ != State::kHeader && state_ != State::kInDb)
    throw std::logic_error("RdbWriter::select_db outside begin()/finish()");
  state_ = State::kInDb;
  put_byte(rdb::kOpSelectDb);
  put_length(db);
  // Redis clamps the hints to 32 bits; loaders treat them as hints only.
  put_byte(rdb::kOpResizeDb);
  put_length(key_count_hint <= UINT32_MAX ? key_count_hint : UINT32_MAX);
  put_length(expires_hint <= UINT32_MAX ? expires_hint : UINT32_MAX);
}

void RdbWriter::put_key_header(const char* what, uint8_t type, std::string_view key,
                               int64_t expire_at_ms) {
  if (state_ != State::kInDb)
    throw std::logic_error(std::string("RdbWriter::") + what + " before select_db");
  if (expire_at_ms < 0 && expire_at_ms != kNoExpiry)
    throw std::invalid_argument(std::string("RdbWriter::") + what + ": bad expiry " +
                                std::to_string(expire_at_ms) + " for key '" + std::string(key) +
                                "'");
  if (expire_at_ms != kNoExpiry) {
    uint8_t b[9];
    b[0] = rdb::kOpExpireTimeMs;
    uint64_t u = static_cast<uint64_t>(expire_at_ms);
    for (int i = 0; i < 8; ++i)
      b[1 + i] = static_cast<uint8_t>(u >> (8 * i));
    put(b, 9);
  }
  put_byte(type);
  put_string(key);
}

void RdbWriter::write_string(std::string_view key, std::string_view value, int64_t expire_at_ms) {
  put_key_header("write_string", rdb::kTypeString, key, expire_at_ms);
  put_string(value);
}

namespace {

[[noreturn]] void count_mismatch(const char* what, std::string_view key, uint64_t count,
                                 uint64_t seen) {
  throw std::logic_error(std::string("RdbWriter::") + what + ": key '" + std::string(key) +
                         "' announced " + std::to_string(count) + " elements, generator gave " +
                         std::to_string(seen));
}

void check_nonempty(const char* what, std::string_view key, uint64_t count) {
  if (count == 0)
    throw std::invalid_argument(std::string("RdbWriter::") + what + ": empty collection at key '" +
                                std::string(key) + "' (Redis refuses empty keys)");
}

}  // namespace

// Redis 7.0's rdbSaveObject for OBJ_ENCODING_QUICKLIST: the node count, then
// per node its container (always PACKED here) and the listpack as a string.
// Nodes are cut so each listpack stays within kListNodeBytes unless a single
// element is larger. The first pass only sizes the nodes (the count goes
// first in the file); the second builds one node at a time in node_, so
// memory stays at one node, not the whole list.
void RdbWriter::write_list(std::string_view key, uint64_t count,
                           const std::function<void(const ElementFn&)>& elements,
                           int64_t expire_at_ms) {
  check_nonempty("write_list", key, count);
  uint64_t nodes = 0, seen = 0;
  uint64_t node_bytes = 0;  // bytes of the current node, 0 = none open
  elements([&](std::string_view v) {
    if (v.size() > kLpMaxElement)
      throw std::invalid_argument("RdbWriter::write_list: element of " + std::to_string(v.size()) +
                                  " bytes in key '" + std::string(key) +
                                  "' is too large for a listpack");
    uint64_t e = lp_entry_size(v.size());
    if (node_bytes == 0 || node_bytes + e > kListNodeBytes) {
      ++nodes;
      node_bytes = kLpHeaderBytes + 1;
    }
    node_bytes += e;
    ++seen;
  });
  if (seen != count) count_mismatch("write_list", key, count, seen);

  put_key_header("write_list", rdb::kTypeListQuicklist2, key, expire_at_ms);
  put_length(nodes);
  uint64_t node_count = 0, written_nodes = 0;
  auto flush_node = [&] {
    node_.push_back(static_cast<char>(0xFF));
    uint32_t total = static_cast<uint32_t>(node_.size());
    uint16_t n16 = node_count < 65535 ? static_cast<uint16_t>(node_count) : 65535;
    for (int i = 0; i < 4; ++i)
      node_[i] = static_cast<char>(total >> (8 * i));
    node_[4] = static_cast<char>(n16 & 0xff);
    node_[5] = static_cast<char>(n16 >> 8);
    put_length(rdb::kQuicklistNodePacked);
    put_string(node_);
    ++written_nodes;
    node_.clear();
    node_count = 0;
  };
  seen = 0;
  elements([&](std::string_view v) {
    if (++seen > count) count_mismatch("write_list", key, count, seen);
    uint64_t e = lp_entry_size(v.size());
    if (node_count > 0 && node_.size() + 1 + e > kListNodeBytes) flush_node();
    if (node_count == 0) node_.assign(kLpHeaderBytes, '\0');
    lp_append_string(&node_, v);
    ++node_count;
  });
  if (seen != count) count_mismatch("write_list", key, count, seen);
  flush_node();
  if (written_nodes != nodes)
    throw std::logic_error("RdbWriter::write_list: generator changed between passes for key '" +
                           std::string(key) + "'");
  if (node_.capacity() > 4 * kListNodeBytes) std::string().swap(node_);
}

// rdbSaveObject for OBJ_SET/OBJ_ENCODING_HT: the count, then the members.
void RdbWriter::write_set(std::string_view key, uint64_t count,
                          const std::function<void(const ElementFn&)>& members,
                          int64_t expire_at_ms) {
  check_nonempty("write_set", key, count);
  put_key_header("write_set", rdb::kTypeSet, key, expire_at_ms);
  put_length(count);
  uint64_t seen = 0;
  members([&](std::string_view m) {
    if (++seen > count) count_mismatch("write_set", key, count, seen);
    put_string(m);
  });
  if (seen != count) count_mismatch("write_set", key, count, seen);
}

// rdbSaveObject for OBJ_HASH/OBJ_ENCODING_HT: the count, then field, value.
void RdbWriter::write_hash(std::string_view key, uint64_t count,
                           const std::function<void(const PairFn&)>& fields, int64_t expire_at_ms) {
  check_nonempty("write_hash", key, count);
  put_key_header("write_hash", rdb::kTypeHash, key, expire_at_ms);
  put_length(count);
  uint64_t seen = 0;
  fields([&](std::string_view f, std::string_view v) {
    if (++seen > count) count_mismatch("write_hash", key, count, seen);
    put_string(f);
    put_string(v);
  });
  if (seen != count) count_mismatch("write_hash", key, count, seen);
}

// rdbSaveObject for OBJ_ZSET/OBJ_ENCODING_SKIPLIST: the count, then member
// and the score as 8 little-endian bytes of the IEEE double
// (rdbSaveBinaryDoubleValue). Any order loads; Redis writes descending.
void RdbWriter::write_zset(std::string_view key, uint64_t count,
                           const std::function<void(const ScoredFn&)>& members,
                           int64_t expire_at_ms) {
  check_nonempty("write_zset", key, count);
  put_key_header("write_zset", rdb::kTypeZset2, key, expire_at_ms);
  put_length(count);
  uint64_t seen = 0;
  members([&](std::string_view m, double score) {
    if (++seen > count) count_mismatch("write_zset", key, count, seen);
    if (score != score)
      throw std::invalid_argument("RdbWriter::write_zset: NaN score in key '" + std::string(key) +
                                  "'");
    put_string(m);
    uint64_t u;
    std::memcpy(&u, &score, sizeof u);
    uint8_t b[8];
    for (int i = 0; i < 8; ++i)
      b[i] = static_cast<uint8_t>(u >> (8 * i));
    put(b, 8);
  });
  if (seen != count) count_mismatch("write_zset", key, count, seen);
}

void RdbWriter::finish() {
  if (state_ != State::kHeader && state_ != State::kInDb)
    throw std::logic_error("RdbWriter::finish outside begin()/finish()");
  state_ = State::kFinished;
  put_byte(rdb::kOpEof);
  // The checksum covers everything up to and including EOF; Redis stores it
  // little-endian (memrev64ifbe), and it is not itself checksummed.
  uint64_t crc = crc_;
  uint8_t b[8];
  for (int i = 0; i < 8; ++i)
    b[i] = static_cast<uint8_t>(crc >> (8 * i));
  put(b, 8);
  flush();
}

uint64_t write_rdb_file_atomically(const std::string& path, const RdbSnapshotInfo& info,
                                   const std::function<void(RdbWriter&)>& fill) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_errno("cannot create", tmp);
  uint64_t size = 0;
  try {
    RdbWriter w(fd, tmp);
    w.begin(info);
    fill(w);
    w.finish();
    size = w.bytes_written();
    if (::fsync(fd) != 0) throw_errno("fsync failed", tmp);
    int rc = ::close(fd);
    fd = -1;
    if (rc != 0) throw_errno("close failed", tmp);
    if (::rename(tmp.c_str(), path.c_str()) != 0) throw_errno("rename to " + path + " failed", tmp);
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  // Make the rename itself durable.
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) throw_errno("cannot open directory", dir);
  int rc = ::fsync(dfd);
  int saved = errno;
  ::close(dfd);
  errno = saved;
  if (rc != 0) throw_errno("fsync failed", dir);
  return size;
}

}  // namespace kvraft::storage
