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
#include <cstdio>
#include <cstring>

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
          ++result.keys;
          expire_at_ms = kNoExpiry;
          pending_key_attrs = false;
          continue;
      }
      break;  // EOF
    }
    key_.clear();
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
    if (type != rdb::kTypeString)
      fail("unsupported RDB value type " + std::to_string(type) + " (" + std::string(name) + ")");
    read_string(value_, "string value");
    field_ = record;
    call([&] { visitor_.on_string(db, key_, value_, expire_at_ms); });
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
  std::string aux_name_;
  std::vector<uint8_t> lzf_in_;
};

}  // namespace

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
