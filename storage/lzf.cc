// storage/lzf.cc — an LZF encoder and a bounds-checked decoder.
//
// Stream format (liblzf): a sequence of control bytes.
//   000LLLLL                      literal run of L+1 bytes (1..32) follows
//   LLLooooo oooooooo             back reference, length L+2 (L in 1..6),
//   111ooooo LLLLLLLL oooooooo    or length 7+L+2 (L in 0..255); the 13-bit
//                                 offset o means "copy from o+1 bytes back".
// A back reference may overlap the bytes it produces (run-length style).
#include "storage/lzf.h"

#include <cstring>

namespace kvraft::storage {
namespace {

constexpr unsigned kHashBits = 14;
constexpr size_t kMaxLiteral = 32;
constexpr size_t kMaxOffset = 1 << 13;   // 8192
constexpr size_t kMaxRef = 7 + 255 + 2;  // 264
constexpr size_t kMinRef = 3;

inline uint32_t hash3(const uint8_t* p) {
  uint32_t v = (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2];
  return (v * 2654435761u) >> (32 - kHashBits);
}

}  // namespace

LzfCompressor::LzfCompressor() : table_(size_t{1} << kHashBits, 0) {}

size_t LzfCompressor::compress(const uint8_t* in, size_t in_len, uint8_t* out, size_t out_cap) {
  // The table stores positions as uint32_t; longer inputs are not compressed
  // (Redis strings are at most 512 MB, far below this).
  if (in_len == 0 || in_len >= UINT32_MAX) return 0;
  size_t op = 0;
  size_t lit_start = 0;  // first input byte not yet emitted

  // Emits in[lit_start, end) as literal runs of at most 32 bytes.
  auto flush_literals = [&](size_t end) -> bool {
    while (lit_start < end) {
      size_t n = end - lit_start < kMaxLiteral ? end - lit_start : kMaxLiteral;
      if (op + 1 + n > out_cap) return false;
      out[op++] = static_cast<uint8_t>(n - 1);
      std::memcpy(out + op, in + lit_start, n);
      op += n;
      lit_start += n;
    }
    return true;
  };

  size_t ip = 0;
  while (ip + kMinRef <= in_len) {
    uint32_t h = hash3(in + ip);
    size_t cand = table_[h];  // position + 1, or 0
    table_[h] = static_cast<uint32_t>(ip + 1);
    if (cand != 0 && cand - 1 < ip) {
      size_t ref = cand - 1;
      size_t off = ip - ref - 1;
      if (off < kMaxOffset && std::memcmp(in + ref, in + ip, kMinRef) == 0) {
        size_t max_len = in_len - ip < kMaxRef ? in_len - ip : kMaxRef;
        size_t len = kMinRef;
        while (len < max_len && in[ref + len] == in[ip + len])
          ++len;
        if (!flush_literals(ip)) return 0;
        size_t l = len - 2;  // 1..262
        if (l < 7) {
          if (op + 2 > out_cap) return 0;
          out[op++] = static_cast<uint8_t>((l << 5) | (off >> 8));
        } else {
          if (op + 3 > out_cap) return 0;
          out[op++] = static_cast<uint8_t>((7 << 5) | (off >> 8));
          out[op++] = static_cast<uint8_t>(l - 7);
        }
        out[op++] = static_cast<uint8_t>(off & 0xff);
        // Index the last positions of the match so that the next repeat of
        // this region is found; indexing all of them costs speed for little.
        size_t end = ip + len;
        for (size_t p = end >= 2 ? end - 2 : 0; p < end && p + kMinRef <= in_len; ++p)
          if (p > ip) table_[hash3(in + p)] = static_cast<uint32_t>(p + 1);
        ip = end;
        lit_start = ip;
        continue;
      }
    }
    ++ip;
  }
  if (!flush_literals(in_len)) return 0;
  return op;
}

bool lzf_decompress(const uint8_t* in, size_t in_len, uint8_t* out, size_t out_len) {
  size_t ip = 0;
  size_t op = 0;
  while (ip < in_len) {
    size_t ctrl = in[ip++];
    if (ctrl < 32) {
      size_t n = ctrl + 1;
      if (n > in_len - ip || n > out_len - op) return false;
      std::memcpy(out + op, in + ip, n);
      ip += n;
      op += n;
    } else {
      size_t len = ctrl >> 5;
      size_t back = (ctrl & 0x1f) << 8;
      if (len == 7) {
        if (ip >= in_len) return false;
        len += in[ip++];
      }
      if (ip >= in_len) return false;
      back += in[ip++];
      len += 2;
      if (back + 1 > op || len > out_len - op) return false;
      // Byte by byte: the source may overlap the destination.
      const uint8_t* src = out + op - back - 1;
      for (size_t i = 0; i < len; ++i)
        out[op + i] = src[i];
      op += len;
    }
  }
  return op == out_len;
}

}  // namespace kvraft::storage
