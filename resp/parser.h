// resp/parser.h — incremental parser for client requests.
//
// Accepts what redis-server accepts: RESP multibulk requests
// ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") and inline commands ("GET k\r\n",
// with Redis's quoting rules), any number per read, split anywhere.
// Enforces Redis's limits with Redis's error texts. Pure: bytes in, argv out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kvraft::resp {

struct ParserLimits {
  // A multibulk count above this is "invalid multibulk length" (Redis: 1024*1024).
  int64_t max_multibulk_length = 1024 * 1024;
  // A bulk longer than this is "invalid bulk length" (Redis's proto-max-bulk-len).
  int64_t max_bulk_length = 512LL * 1024 * 1024;
  // An inline request line longer than this is "too big inline request" (64 KiB).
  // The same bound applies to a "*N" / "$N" header line ("too big mbulk count
  // string" / "too big bulk count string"), as Redis uses PROTO_INLINE_MAX_SIZE
  // for both.
  size_t max_inline_length = 64 * 1024;
};

// One parsed command. The views point into the buffer given to parse() and
// stay valid until the caller removes or moves those bytes.
using Argv = std::vector<std::string_view>;

enum class ParseStatus {
  kComplete,    // one command parsed; argv filled; `consumed` bytes used
  kIncomplete,  // need more bytes; call again with the same buffer plus more
  kError,       // protocol error; error() has Redis's text; close after replying
};

// Parses requests one at a time from the front of a buffer the caller owns.
// Progress on a partial command is remembered between calls (the caller
// passes the same unconsumed bytes again, extended), so a command that
// arrives one byte at a time costs linear, not quadratic, work.
class RequestParser {
 public:
  explicit RequestParser(ParserLimits limits = {}) : limits_(limits) {}

  // Parses one command from the front of `buf`. On kComplete, `*consumed`
  // is the command's length in bytes and `*argv` holds its arguments (an
  // empty inline line or "*0\r\n" yields kComplete with an empty argv, which
  // the caller skips, as Redis does). On kIncomplete, `*consumed` is 0. On
  // kError, the parser stays in the error state.
  //
  // Multibulk arguments always point into `buf`. An inline argument that
  // quoting rewrote ("a\x41", 'it\'s') points into storage owned by the
  // parser instead, valid until the next parse() or reset(); run the
  // command before parsing the next one (or copy its arguments).
  //
  // Deviation from Redis, on purpose: line ends are searched with memchr,
  // so a NUL byte never hides a CR/LF (Redis's strchr would), and the 64 KiB
  // header/inline limits apply to the line length however the bytes were
  // split across reads, so the outcome never depends on packet boundaries.
  ParseStatus parse(std::string_view buf, size_t* consumed, Argv* argv);

  // Redis's text for the protocol error, e.g.
  // "ERR Protocol error: invalid multibulk length".
  const std::string& error() const { return error_; }

  // A hint for the connection's read buffer: the number of bytes the
  // command being parsed still needs at least (0 if unknown), so a large
  // bulk can be read without repeated reallocation.
  size_t bytes_wanted() const;

  void set_limits(ParserLimits limits) { limits_ = limits; }
  // Forget any partial progress (the caller dropped its buffer).
  void reset();

 private:
  ParserLimits limits_;
  std::string error_;
  // Progress on the command at the front of the buffer (offsets, so the
  // caller may move its buffer between calls).
  int64_t multibulk_remaining_ = 0;                   // args still to read; 0 = at command start
  int64_t bulk_length_ = -1;                          // length of the bulk being read, -1 = none
  size_t offset_ = 0;                                 // bytes of the front command already parsed
  std::vector<std::pair<size_t, size_t>> arg_spans_;  // (offset, length) of parsed args
  bool failed_ = false;
  // Where the search for the CR (multibulk headers) or LF (inline line)
  // that ends the current line resumes: bytes before it are known not to
  // hold one. Always >= offset_ while a line is being looked for, so a
  // header or inline line trickling in byte by byte is scanned once.
  size_t scan_offset_ = 0;
  // Size of the buffer given to the last parse() (for bytes_wanted()).
  size_t last_size_ = 0;
  // Inline arguments that quoting changed (escapes, removed quotes) cannot
  // point into the caller's buffer; they live here until the next parse().
  std::string inline_storage_;

  ParseStatus parse_multibulk(std::string_view buf, size_t* consumed, Argv* argv);
  ParseStatus parse_inline(std::string_view buf, size_t* consumed, Argv* argv);
  ParseStatus fail(std::string message);
  // Clears the progress on the front command (it completed).
  void start_next_command();
};

}  // namespace kvraft::resp
