// src/write_record.cc — see write_record.h.
#include "src/write_record.h"

#include <cstring>

namespace kvraft {

namespace {
constexpr uint8_t kVersion = 1;

void put_u32(std::string* out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i)
    b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out->append(b, 4);
}

void put_i64(std::string* out, int64_t v) {
  uint64_t u = static_cast<uint64_t>(v);
  char b[8];
  for (int i = 0; i < 8; ++i)
    b[i] = static_cast<char>((u >> (8 * i)) & 0xff);
  out->append(b, 8);
}

class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  bool u8(uint8_t* v) {
    if (b_.size() - pos_ < 1) return false;
    *v = static_cast<uint8_t>(b_[pos_++]);
    return true;
  }
  bool u32(uint32_t* v) {
    if (b_.size() - pos_ < 4) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i)
      *v |= static_cast<uint32_t>(static_cast<uint8_t>(b_[pos_ + i])) << (8 * i);
    pos_ += 4;
    return true;
  }
  bool i64(int64_t* v) {
    if (b_.size() - pos_ < 8) return false;
    uint64_t u = 0;
    for (int i = 0; i < 8; ++i)
      u |= static_cast<uint64_t>(static_cast<uint8_t>(b_[pos_ + i])) << (8 * i);
    pos_ += 8;
    *v = static_cast<int64_t>(u);
    return true;
  }
  bool bytes(size_t n, std::string_view* out) {
    if (b_.size() - pos_ < n) return false;
    *out = b_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  size_t remaining() const { return b_.size() - pos_; }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};
}  // namespace

void encode_write_record(int64_t time_ms, uint32_t db,
                         const std::vector<std::vector<std::string_view>>& commands,
                         std::string* out) {
  size_t size = 1 + 8 + 4 + 4;
  for (const auto& argv : commands) {
    size += 4;
    for (auto a : argv)
      size += 4 + a.size();
  }
  out->reserve(out->size() + size);
  out->push_back(static_cast<char>(kVersion));
  put_i64(out, time_ms);
  put_u32(out, db);
  put_u32(out, static_cast<uint32_t>(commands.size()));
  for (const auto& argv : commands) {
    put_u32(out, static_cast<uint32_t>(argv.size()));
    for (auto a : argv) {
      put_u32(out, static_cast<uint32_t>(a.size()));
      out->append(a);
    }
  }
}

std::optional<WriteRecord> decode_write_record(std::string_view bytes) {
  Reader r(bytes);
  uint8_t version;
  WriteRecord rec;
  uint32_t ncommands;
  if (!r.u8(&version) || version != kVersion || !r.i64(&rec.time_ms) || !r.u32(&rec.db) ||
      !r.u32(&ncommands))
    return std::nullopt;
  // Every command needs at least its 4-byte argc: bound counts by what remains.
  if (ncommands == 0 || ncommands > r.remaining() / 4) return std::nullopt;
  rec.commands.resize(ncommands);
  for (auto& argv : rec.commands) {
    uint32_t argc;
    if (!r.u32(&argc) || argc == 0 || argc > r.remaining() / 4) return std::nullopt;
    argv.resize(argc);
    for (auto& a : argv) {
      uint32_t len;
      if (!r.u32(&len) || !r.bytes(len, &a)) return std::nullopt;
    }
  }
  if (r.remaining() != 0) return std::nullopt;
  return rec;
}

}  // namespace kvraft
