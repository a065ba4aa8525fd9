// tests/fuzz/wire_fuzz_util.h — helpers the peer-protocol fuzz targets share
// (raft_wire_fuzz.cc, server_peer_handshake_fuzz.cc).
#pragma once

#include <xxhash.h>

#include <string>
#include <string_view>

#include "raft/wire.h"

namespace kvraft::fuzz {

// Rewrites the checksum of each frame of `input` that can be delimited (a
// header with a length below `max_frame` and the whole frame present), so
// mutated payloads get past the checksum and reach the payload decoder.
inline std::string repair_checksums(std::string_view input, size_t max_frame) {
  using namespace kvraft::raft::wire;
  std::string s(input);
  size_t at = 0;
  while (s.size() - at >= kHeaderSize) {
    uint32_t length = 0;
    for (int i = 3; i >= 0; --i)
      length = (length << 8) | static_cast<unsigned char>(s[at + 5 + i]);
    const size_t total = kFrameOverhead + length;
    if (total > max_frame || s.size() - at < total) break;
    uint64_t sum = XXH3_64bits(s.data() + at, kHeaderSize + length);
    for (int i = 0; i < 8; ++i)
      s[at + kHeaderSize + length + i] = static_cast<char>(sum >> (8 * i));
    at += total;
  }
  return s;
}

}  // namespace kvraft::fuzz
