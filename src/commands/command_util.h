// src/commands/command_util.h — small helpers every command group uses
// (argument parsing, typed key lookup, the SCAN family's options and reply,
// command registration), kept in one place so their behaviour (and Redis's
// error texts) cannot drift between files.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "src/command.h"
#include "storage/strconv.h"
#include "storage/value.h"

namespace kvraft {

// ASCII case-insensitive equality of two arguments (option names such as
// "NX", "WITHSCORES"). Byte-wise over the whole length: unlike strncasecmp
// it does not stop at a NUL inside a binary argument.
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

// Parses an int64 argument with Redis's rules (storage::string2ll); on
// failure replies `err` and returns false.
inline bool parse_ll(ExecContext& ctx, std::string_view arg, int64_t* out,
                     std::string_view err = kErrNotInteger) {
  if (storage::string2ll(arg, out)) return true;
  ctx.reply.error(err);
  return false;
}

// The live entry at `key` in the client's db if it holds `type` (Redis's
// lookupKeyRead + checkType): null if absent (nothing replied), null with
// WRONGTYPE replied (and *failed set) if it holds another type.
const storage::Entry* read_typed(ExecContext& ctx, std::string_view key, storage::ValueType type,
                                 bool* failed);
// The same for writers: lookup_write (deletes an expired key first).
storage::Entry* write_typed(ExecContext& ctx, std::string_view key, storage::ValueType type,
                            bool* failed);

// The options of SCAN, SSCAN, HSCAN and ZSCAN after the cursor.
struct ScanOptions {
  int64_t count = 10;        // COUNT, >= 1
  std::string_view pattern;  // MATCH
  bool use_pattern = false;  // a MATCH other than "*"
  std::string_view type;     // TYPE (SCAN only)
  bool use_type = false;
  // Whether `item` passes MATCH.
  bool matches(std::string_view item) const;
};

// Parses the cursor argument of a SCAN-family command; on failure replies
// "ERR invalid cursor" and returns false.
bool parse_scan_cursor_arg(ExecContext& ctx, std::string_view arg, uint64_t* cursor);

// Parses [MATCH pattern] [COUNT count] (and [TYPE type] when `allow_type`)
// from argv[first] on, as Redis's scanGenericCommand: a bad COUNT is
// "value is not an integer", a COUNT < 1 or anything else a syntax error.
// On failure replies the error and returns false.
bool parse_scan_options(ExecContext& ctx, size_t first, bool allow_type, ScanOptions* out);

// Replies the head of a SCAN-family answer: a two-element array, the next
// cursor as a bulk string, and the header of an array of `items` elements
// that the caller writes next.
void reply_scan_header(ExecContext& ctx, uint64_t cursor, size_t items);

// Builds the spec of one command from a registration row (see CommandSpec
// for the fields).
CommandSpec make_spec(std::string_view name, int arity, uint32_t flags, int first, int last,
                      int step, CommandHandler h, std::string_view group, std::string_view since,
                      std::string_view summary, std::string_view syntax);

// Registers the commands of one COMMAND DOCS group: rows are make_spec's
// arguments without the group.
struct CommandGroupAdder {
  CommandTable& table;
  std::string_view group;
  void operator()(std::string_view name, int arity, uint32_t flags, int first, int last, int step,
                  CommandHandler h, std::string_view since, std::string_view summary,
                  std::string_view syntax) const {
    table.add(make_spec(name, arity, flags, first, last, step, h, group, since, summary, syntax));
  }
};

// CLIENT INFO's line for `c` (src/commands/server_commands.cc); ACL LOG
// entries carry it too.
std::string client_info_line(Server& server, Client& c);

}  // namespace kvraft
