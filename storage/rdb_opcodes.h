// storage/rdb_opcodes.h — byte values of the RDB format, named as in Redis's
// src/rdb.h. Internal to the RDB writer and reader (and their tests).
#pragma once

#include <cstdint>

namespace kvraft::storage::rdb {

// Special opcodes that may appear where a value type byte is expected.
inline constexpr uint8_t kOpFunction2 = 245;      // a function library (7.0+)
inline constexpr uint8_t kOpFunctionPreGa = 246;  // a function (7.0 release candidates)
inline constexpr uint8_t kOpModuleAux = 247;      // module auxiliary data
inline constexpr uint8_t kOpIdle = 248;           // LRU idle time of the next key
inline constexpr uint8_t kOpFreq = 249;           // LFU frequency of the next key
inline constexpr uint8_t kOpAux = 250;            // aux field: two strings
inline constexpr uint8_t kOpResizeDb = 251;       // hash table size hints: two lengths
inline constexpr uint8_t kOpExpireTimeMs = 252;   // expiry of the next key, 8 bytes LE ms
inline constexpr uint8_t kOpExpireTime = 253;     // expiry of the next key, 4 bytes LE s
inline constexpr uint8_t kOpSelectDb = 254;       // db number: a length
inline constexpr uint8_t kOpEof = 255;            // end of data; checksum follows (v >= 5)

inline constexpr uint8_t kTypeString = 0;
inline constexpr uint8_t kTypeList = 1;
inline constexpr uint8_t kTypeSet = 2;
inline constexpr uint8_t kTypeZset = 3;
inline constexpr uint8_t kTypeHash = 4;
inline constexpr uint8_t kTypeZset2 = 5;
inline constexpr uint8_t kTypeListZiplist = 10;
inline constexpr uint8_t kTypeSetIntset = 11;
inline constexpr uint8_t kTypeZsetZiplist = 12;
inline constexpr uint8_t kTypeHashZiplist = 13;
inline constexpr uint8_t kTypeListQuicklist = 14;
inline constexpr uint8_t kTypeHashListpack = 16;
inline constexpr uint8_t kTypeZsetListpack = 17;
inline constexpr uint8_t kTypeListQuicklist2 = 18;
inline constexpr uint8_t kTypeSetListpack = 20;

// Quicklist-2 node containers.
inline constexpr uint64_t kQuicklistNodePlain = 1;   // one element, a plain string
inline constexpr uint64_t kQuicklistNodePacked = 2;  // a listpack blob

// Length prefix: the top two bits of the first byte.
inline constexpr uint8_t kLen6Bit = 0;
inline constexpr uint8_t kLen14Bit = 1;
inline constexpr uint8_t kLen32Bit = 0x80;  // whole first byte; 4 bytes big-endian follow
inline constexpr uint8_t kLen64Bit = 0x81;  // whole first byte; 8 bytes big-endian follow
inline constexpr uint8_t kEncVal = 3;       // top bits 11: a special string encoding

// Special string encodings (low 6 bits when the top bits are kEncVal).
inline constexpr uint8_t kEncInt8 = 0;
inline constexpr uint8_t kEncInt16 = 1;
inline constexpr uint8_t kEncInt32 = 2;
inline constexpr uint8_t kEncLzf = 3;

// Checksums appear from this version on.
inline constexpr int kFirstChecksumVersion = 5;

}  // namespace kvraft::storage::rdb
