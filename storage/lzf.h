// storage/lzf.h — LZF compression as used for long strings in Redis RDB files
// (RDB_ENC_LZF). Decompression must accept anything Redis's liblzf produces;
// compression only has to produce a valid LZF stream (it need not match
// liblzf byte for byte). Decompression treats its input as untrusted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kvraft::storage {

// LZF can expand at most this much: a 3-byte back reference yields at most
// 264 bytes, so any valid stream of n bytes decompresses to < 89 * n bytes.
// Readers use it to reject impossible uncompressed lengths before allocating.
inline constexpr size_t kLzfMaxExpansion = 89;

// Reusable compressor state. It holds the 16K-entry match table, allocated
// once so that compressing many values (a forked snapshot child writing
// millions of keys) does not allocate per value.
class LzfCompressor {
 public:
  LzfCompressor();

  // Compresses `in_len` bytes into `out` (capacity `out_cap`). Returns the
  // compressed length, or 0 if the result would not fit in `out_cap` (the
  // caller then stores the data uncompressed, as Redis does when LZF does
  // not save at least 4 bytes).
  size_t compress(const uint8_t* in, size_t in_len, uint8_t* out, size_t out_cap);

 private:
  // Hash of 3 input bytes -> (position + 1) of their latest occurrence, 0 if
  // none. Entries left from earlier inputs are harmless: a candidate match is
  // used only if it lies before the current position and its bytes compare
  // equal, so no clearing is needed between calls.
  std::vector<uint32_t> table_;
};

// Decompresses exactly `out_len` bytes from `in` (`in_len` bytes) into `out`.
// Returns false if the stream is malformed (a back reference before the
// start of the output, a literal run or copy past either end) or does not
// produce exactly `out_len` bytes. Never reads or writes out of bounds.
bool lzf_decompress(const uint8_t* in, size_t in_len, uint8_t* out, size_t out_len);

}  // namespace kvraft::storage
