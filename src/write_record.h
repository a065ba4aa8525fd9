// src/write_record.h — the payload of a replicated log entry for the
// keyspace: the deterministic form of one client write (or of a MULTI/EXEC
// transaction, or of the leader's active-expiry deletions).
//
// A record carries everything a write handler may depend on besides the
// keyspace itself: the time the leader assigned (expiry arithmetic, "is this
// key expired?"), the database, and the argv of each command. Applying the
// same records in the same order therefore leaves every replica with the
// same keyspace and computes the same replies.
//
// Encoding (little-endian), version 1:
//   u8  version (1)
//   i64 time_ms
//   u32 db
//   u32 command count (1 for a plain write; N for an atomic transaction)
//   per command: u32 argc, then argc x (u32 length, bytes)
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kvraft {

struct WriteRecord {
  int64_t time_ms = 0;
  uint32_t db = 0;
  // Each command's argv; views into the decoded buffer (or the caller's).
  std::vector<std::vector<std::string_view>> commands;
};

// Appends the encoding of one command (time, db, argv) to *out.
void encode_write_record(int64_t time_ms, uint32_t db,
                         const std::vector<std::vector<std::string_view>>& commands,
                         std::string* out);

// The same for a record of exactly one command, encoded straight from the
// request's argv (the hot path of every client write: one allocation).
void encode_single_command_record(int64_t time_ms, uint32_t db,
                                  std::span<const std::string_view> argv, std::string* out);

// Decodes a record; the views point into `bytes`, which must outlive the
// result. nullopt on any malformation (wrong version, truncated, counts
// larger than the bytes that remain) — a record is never trusted blindly.
std::optional<WriteRecord> decode_write_record(std::string_view bytes);
// The same into *rec, reusing its vectors' capacity (the apply loop keeps
// one WriteRecord for every entry). False on malformation; *rec is then
// unspecified.
bool decode_write_record_into(std::string_view bytes, WriteRecord* rec);

// The database and the first argument after the command name of a record's
// first command (the key, for almost every write), read without decoding
// the rest; nullopt if the record is malformed there or has no such
// argument. Only a hint: the apply loop uses it to prefetch.
struct RecordKeyHint {
  uint32_t db = 0;
  std::string_view key;
};
std::optional<RecordKeyHint> first_key_of_record(std::string_view bytes);

}  // namespace kvraft
