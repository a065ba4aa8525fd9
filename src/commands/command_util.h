// src/commands/command_util.h — small argument helpers every command group
// uses, kept in one place so their behaviour (and Redis's error texts) cannot
// drift between files.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "src/command.h"
#include "storage/strconv.h"

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

// CLIENT INFO's line for `c` (src/commands/server_commands.cc); ACL LOG
// entries carry it too.
std::string client_info_line(Server& server, Client& c);

}  // namespace kvraft
