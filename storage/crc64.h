// storage/crc64.h — the CRC-64 that Redis appends to RDB files (and uses in
// DUMP payloads): CRC-64/Jones, reflected polynomial 0xad93d23594c935a9,
// initial value 0, no final xor. The RDB reader and writer need exactly this
// variant so that stock redis-server and redis-check-rdb accept our files and
// we can verify theirs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvraft::storage {

// Extends `crc` (0 to start) over `len` bytes at `data` and returns the new
// value, so a checksum can be computed incrementally over a stream:
// crc64(crc64(0, a, n), b, m) == crc64(0, a‖b, n + m). crc64(0, "123456789",
// 9) == 0xe9c6d914c4b8d9ca (the catalogued check value of CRC-64/Jones).
uint64_t crc64(uint64_t crc, const void* data, size_t len);

}  // namespace kvraft::storage
