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

void RdbWriter::write_string(std::string_view key, std::string_view value, int64_t expire_at_ms) {
  if (state_ != State::kInDb) throw std::logic_error("RdbWriter::write_string before select_db");
  if (expire_at_ms < 0 && expire_at_ms != kNoExpiry)
    throw std::invalid_argument("RdbWriter::write_string: bad expiry " +
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
  put_byte(rdb::kTypeString);
  put_string(key);
  put_string(value);
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
