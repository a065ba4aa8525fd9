// src/write_record.cc — see write_record.h.
#include "src/write_record.h"

#include <cstring>

namespace kvraft {

namespace {
constexpr uint8_t kVersion = 1;

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

namespace {
// Encoded size of one command's argc and arguments.
size_t command_size(std::span<const std::string_view> argv) {
  size_t size = 4;
  for (auto a : argv)
    size += 4 + a.size();
  return size;
}

char* store_u32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return p + 4;
}

// Writes one command at p (command_size(argv) bytes); returns the end.
char* store_command(char* p, std::span<const std::string_view> argv) {
  p = store_u32(p, static_cast<uint32_t>(argv.size()));
  for (auto a : argv) {
    p = store_u32(p, static_cast<uint32_t>(a.size()));
    if (!a.empty()) std::memcpy(p, a.data(), a.size());
    p += a.size();
  }
  return p;
}

// Appends the record header and returns where the commands go, having grown
// *out by `header + body` bytes.
char* start_record(int64_t time_ms, uint32_t db, uint32_t ncommands, size_t body,
                   std::string* out) {
  const size_t at = out->size();
  out->resize(at + 1 + 8 + 4 + 4 + body);
  char* p = out->data() + at;
  *p++ = static_cast<char>(kVersion);
  const uint64_t u = static_cast<uint64_t>(time_ms);
  for (int i = 0; i < 8; ++i)
    p[i] = static_cast<char>((u >> (8 * i)) & 0xff);
  p += 8;
  p = store_u32(p, db);
  return store_u32(p, ncommands);
}
}  // namespace

void encode_write_record(int64_t time_ms, uint32_t db,
                         const std::vector<std::vector<std::string_view>>& commands,
                         std::string* out) {
  size_t body = 0;
  for (const auto& argv : commands)
    body += command_size(argv);
  char* p = start_record(time_ms, db, static_cast<uint32_t>(commands.size()), body, out);
  for (const auto& argv : commands)
    p = store_command(p, argv);
}

void encode_single_command_record(int64_t time_ms, uint32_t db,
                                  std::span<const std::string_view> argv, std::string* out) {
  char* p = start_record(time_ms, db, 1, command_size(argv), out);
  store_command(p, argv);
}

std::optional<WriteRecord> decode_write_record(std::string_view bytes) {
  WriteRecord rec;
  if (!decode_write_record_into(bytes, &rec)) return std::nullopt;
  return rec;
}

std::optional<RecordKeyHint> first_key_of_record(std::string_view bytes) {
  Reader r(bytes);
  uint8_t version;
  int64_t time_ms;
  RecordKeyHint hint;
  uint32_t ncommands, argc, len;
  std::string_view name;
  if (!r.u8(&version) || version != kVersion || !r.i64(&time_ms) || !r.u32(&hint.db) ||
      !r.u32(&ncommands) || ncommands == 0 || !r.u32(&argc) || argc < 2 || !r.u32(&len) ||
      !r.bytes(len, &name) || !r.u32(&len) || !r.bytes(len, &hint.key))
    return std::nullopt;
  return hint;
}

bool decode_write_record_into(std::string_view bytes, WriteRecord* rec) {
  Reader r(bytes);
  uint8_t version;
  uint32_t ncommands;
  if (!r.u8(&version) || version != kVersion || !r.i64(&rec->time_ms) || !r.u32(&rec->db) ||
      !r.u32(&ncommands))
    return false;
  // Every command needs at least its 4-byte argc: bound counts by what remains.
  if (ncommands == 0 || ncommands > r.remaining() / 4) return false;
  rec->commands.resize(ncommands);  // keeps the inner vectors' capacity
  for (auto& argv : rec->commands) {
    uint32_t argc;
    if (!r.u32(&argc) || argc == 0 || argc > r.remaining() / 4) return false;
    argv.resize(argc);
    for (auto& a : argv) {
      uint32_t len;
      if (!r.u32(&len) || !r.bytes(len, &a)) return false;
    }
  }
  return r.remaining() == 0;
}

}  // namespace kvraft
