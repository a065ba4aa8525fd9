// resp/reply_scanner.h — finds where one complete RESP2/RESP3 reply ends in
// a byte stream, without building it.
//
// A follower that forwards a client's command to the leader relays the
// leader's reply bytes verbatim; it only needs to know where each reply
// ends to hand the right bytes to the right client, in order. Pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace kvraft::resp {

enum class ScanStatus { kComplete, kIncomplete, kError };

struct ScanResult {
  ScanStatus status = ScanStatus::kIncomplete;
  size_t length = 0;  // bytes of the first reply when kComplete
};

// Scans the first reply in `buf`. Aggregates (arrays, maps, sets, pushes,
// attributes) may nest up to `max_depth`; deeper nesting, unknown type
// bytes, bad lengths and lines without CRLF within `max_line` bytes are
// kError. Linear in the reply's size.
ScanResult scan_reply(std::string_view buf, size_t max_depth = 64, size_t max_line = 64 * 1024);

}  // namespace kvraft::resp
