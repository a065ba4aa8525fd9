// src/packed_argv.h — a command's arguments kept in one buffer.
//
// A read that waits (for its read index, for its apply position) keeps a
// copy of its arguments until it runs. As a std::vector<std::string> that
// costs an allocation for the vector and one per argument longer than the
// inline string buffer (most keys): under a pipelined GET load on a
// follower those were a tenth of its CPU. Here the arguments and their
// lengths share one std::string, so a short command costs one allocation
// (none when it fits the inline buffer).
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kvraft {

class PackedArgv {
 public:
  // Copies `argv`. Layout: for each argument, its length (4 bytes, host
  // order) then its bytes. Arguments are bounded by proto-max-bulk-len
  // (< 4 GB), so a length always fits.
  void assign(std::span<const std::string_view> argv) {
    size_t total = 0;
    for (std::string_view a : argv)
      total += sizeof(uint32_t) + a.size();
    bytes_.clear();
    bytes_.reserve(total);
    for (std::string_view a : argv) {
      uint32_t len = static_cast<uint32_t>(a.size());
      bytes_.append(reinterpret_cast<const char*>(&len), sizeof len);
      bytes_.append(a);
    }
    argc_ = argv.size();
  }
  size_t size() const { return argc_; }

  // Calls fn(std::span<const std::string_view>) with views of the
  // arguments, valid during the call (on the stack for short commands).
  template <typename Fn>
  decltype(auto) with_views(Fn&& fn) const {
    constexpr size_t kInline = 8;
    if (argc_ <= kInline) {
      std::string_view views[kInline];
      fill(views);
      return fn(std::span<const std::string_view>(views, argc_));
    }
    std::vector<std::string_view> views(argc_);
    fill(views.data());
    return fn(std::span<const std::string_view>(views));
  }

 private:
  void fill(std::string_view* out) const {
    size_t pos = 0;
    for (size_t i = 0; i < argc_; ++i) {
      uint32_t len = 0;
      std::memcpy(&len, bytes_.data() + pos, sizeof len);
      pos += sizeof len;
      out[i] = std::string_view(bytes_.data() + pos, len);
      pos += len;
    }
  }

  std::string bytes_;
  size_t argc_ = 0;
};

}  // namespace kvraft
