// resp/parser.cc — the request parser: Redis 7's processMultibulkBuffer,
// processInlineBuffer and sdssplitargs, reworked to resume where the last
// call stopped.
//
// The caller keeps unconsumed bytes and passes them again, extended, after
// every read. All progress is stored as offsets from the front of that
// buffer (header already parsed, arguments already located, how far the
// search for a line end got), so each byte is examined a bounded number of
// times however the command is split, and the caller may reallocate its
// buffer between calls.
#include "resp/parser.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <utility>

namespace kvraft::resp {
namespace {

// Redis's string2ll: optional '-', no '+', no leading zeros, no spaces, at
// most 20 characters, must fit in int64_t. Anything else is not a number.
bool parse_int64(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() >= 21) return false;
  if (s.size() == 1 && s[0] == '0') {
    *out = 0;
    return true;
  }
  size_t i = 0;
  bool negative = false;
  if (s[0] == '-') {
    negative = true;
    if (++i == s.size()) return false;
  }
  if (s[i] < '1' || s[i] > '9') return false;
  uint64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    uint64_t digit = static_cast<uint64_t>(s[i] - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;
    v = v * 10 + digit;
  }
  if (negative) {
    if (v > static_cast<uint64_t>(INT64_MAX) + 1) return false;
    *out = static_cast<int64_t>(uint64_t{0} - v);
  } else {
    if (v > static_cast<uint64_t>(INT64_MAX)) return false;
    *out = static_cast<int64_t>(v);
  }
  return true;
}

// isspace() in the C locale, without depending on the process locale.
bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool is_hex_digit(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

// One inline argument: either a span of the caller's buffer (the token had
// no quotes, so its bytes are used as they are) or a span of the parser's
// storage (quoting rewrote it).
struct InlineToken {
  bool owned;
  size_t offset;
  size_t length;
};

// sdssplitargs over `line` (which starts at `line_offset` in the caller's
// buffer and holds no NUL: Redis's C string ends there). Returns false on
// unbalanced quotes, or a closing quote followed by something other than
// a space.
bool split_inline(std::string_view line, size_t line_offset, std::string* storage,
                  std::vector<InlineToken>* tokens) {
  const size_t n = line.size();
  // Past the end reads as NUL, exactly like the C string Redis walks.
  auto at = [&](size_t i) -> unsigned char {
    return i < n ? static_cast<unsigned char>(line[i]) : 0;
  };
  size_t i = 0;
  for (;;) {
    while (at(i) != 0 && is_space(at(i)))
      ++i;
    if (at(i) == 0) return true;

    const size_t token_start = i;
    size_t storage_start = storage->size();
    bool plain = true;  // no quote seen yet: the token is line[token_start, i)
    bool in_double = false;
    bool in_single = false;
    bool done = false;
    size_t token_end = 0;
    auto push = [&](char c) { storage->push_back(c); };
    auto switch_to_owned = [&] {
      if (plain) {
        storage->append(line.substr(token_start, i - token_start));
        plain = false;
      }
    };
    while (!done) {
      const unsigned char c = at(i);
      if (in_double) {
        if (c == '\\' && at(i + 1) == 'x' && is_hex_digit(at(i + 2)) && is_hex_digit(at(i + 3))) {
          push(static_cast<char>(hex_value(at(i + 2)) * 16 + hex_value(at(i + 3))));
          i += 3;
        } else if (c == '\\' && at(i + 1) != 0) {
          ++i;
          switch (at(i)) {
            case 'n':
              push('\n');
              break;
            case 'r':
              push('\r');
              break;
            case 't':
              push('\t');
              break;
            case 'b':
              push('\b');
              break;
            case 'a':
              push('\a');
              break;
            default:
              push(static_cast<char>(at(i)));
              break;
          }
        } else if (c == '"') {
          // A closing quote must be followed by a space or the end.
          if (at(i + 1) != 0 && !is_space(at(i + 1))) return false;
          done = true;
        } else if (c == 0) {
          return false;  // unterminated quotes
        } else {
          push(static_cast<char>(c));
        }
      } else if (in_single) {
        if (c == '\\' && at(i + 1) == '\'') {
          ++i;
          push('\'');
        } else if (c == '\'') {
          if (at(i + 1) != 0 && !is_space(at(i + 1))) return false;
          done = true;
        } else if (c == 0) {
          return false;
        } else {
          push(static_cast<char>(c));
        }
      } else {
        switch (c) {
          // Only these end an unquoted token (not \v or \f, as in Redis).
          case ' ':
          case '\n':
          case '\r':
          case '\t':
          case 0:
            done = true;
            token_end = i;
            break;
          case '"':
            switch_to_owned();
            in_double = true;
            break;
          case '\'':
            switch_to_owned();
            in_single = true;
            break;
          default:
            if (!plain) push(static_cast<char>(c));
            break;
        }
      }
      if (at(i) != 0) ++i;
    }
    if (plain) {
      tokens->push_back({false, line_offset + token_start, token_end - token_start});
    } else {
      tokens->push_back({true, storage_start, storage->size() - storage_start});
    }
  }
}

}  // namespace

size_t RequestParser::bytes_wanted() const {
  if (failed_ || multibulk_remaining_ == 0 || bulk_length_ < 0) return 0;
  const size_t needed = offset_ + static_cast<size_t>(bulk_length_) + 2;
  return needed > last_size_ ? needed - last_size_ : 0;
}

void RequestParser::reset() {
  start_next_command();
  error_.clear();
  failed_ = false;
  last_size_ = 0;
  inline_storage_.clear();
}

void RequestParser::start_next_command() {
  multibulk_remaining_ = 0;
  bulk_length_ = -1;
  offset_ = 0;
  scan_offset_ = 0;
  arg_spans_.clear();
}

ParseStatus RequestParser::fail(std::string message) {
  error_ = std::move(message);
  failed_ = true;
  return ParseStatus::kError;
}

ParseStatus RequestParser::parse(std::string_view buf, size_t* consumed, Argv* argv) {
  *consumed = 0;
  argv->clear();
  if (failed_) return ParseStatus::kError;
  // The caller must hand back at least the bytes already parsed; if it did
  // not (it dropped its buffer without reset()), start the command afresh
  // rather than index past the end.
  assert(buf.size() >= offset_ && buf.size() >= scan_offset_ && "parse() buffer shrank");
  if (buf.size() < offset_ || buf.size() < scan_offset_) start_next_command();
  last_size_ = buf.size();
  if (buf.empty()) return ParseStatus::kIncomplete;
  // Like Redis's reqtype: the first byte of a command decides its kind.
  if (multibulk_remaining_ > 0 || buf[0] == '*') return parse_multibulk(buf, consumed, argv);
  return parse_inline(buf, consumed, argv);
}

ParseStatus RequestParser::parse_multibulk(std::string_view buf, size_t* consumed, Argv* argv) {
  const size_t limit = limits_.max_inline_length;
  const char* data = buf.data();

  // Finds the CR ending the header line that starts at `line_start`,
  // resuming at scan_offset_. Returns the CR's offset, or npos if the line
  // is not complete yet (the byte after CR, which Redis skips without
  // looking at, must have arrived too). Sets *too_big if the line exceeds
  // the limit, whether or not its end has arrived.
  auto find_line_end = [&](size_t line_start, bool* too_big) -> size_t {
    *too_big = false;
    size_t from = std::max(scan_offset_, line_start);
    const void* cr = std::memchr(data + from, '\r', buf.size() - from);
    if (cr == nullptr) {
      scan_offset_ = buf.size();
      if (buf.size() - line_start > limit) *too_big = true;
      return std::string_view::npos;
    }
    size_t at = static_cast<size_t>(static_cast<const char*>(cr) - data);
    scan_offset_ = at;
    if (at - line_start > limit) {
      *too_big = true;
      return std::string_view::npos;
    }
    if (at + 1 >= buf.size()) return std::string_view::npos;
    return at;
  };

  if (multibulk_remaining_ == 0) {
    // At the start of the command: "*<count>\r\n".
    bool too_big = false;
    size_t cr = find_line_end(0, &too_big);
    if (too_big) return fail("ERR Protocol error: too big mbulk count string");
    if (cr == std::string_view::npos) return ParseStatus::kIncomplete;
    int64_t count = 0;
    if (!parse_int64(buf.substr(1, cr - 1), &count) || count > limits_.max_multibulk_length) {
      return fail("ERR Protocol error: invalid multibulk length");
    }
    offset_ = cr + 2;
    scan_offset_ = offset_;
    if (count <= 0) {
      // "*0\r\n", "*-1\r\n": an empty command the caller skips.
      *consumed = offset_;
      start_next_command();
      return ParseStatus::kComplete;
    }
    multibulk_remaining_ = count;
    bulk_length_ = -1;
    arg_spans_.clear();
    // The count is untrusted: reserve only what a small command needs and
    // let real arguments grow the vector.
    arg_spans_.reserve(static_cast<size_t>(std::min<int64_t>(count, 1024)));
  }

  while (multibulk_remaining_ > 0) {
    if (bulk_length_ < 0) {
      // "$<length>\r\n"
      bool too_big = false;
      size_t cr = find_line_end(offset_, &too_big);
      if (too_big) return fail("ERR Protocol error: too big bulk count string");
      if (cr == std::string_view::npos) return ParseStatus::kIncomplete;
      if (data[offset_] != '$') {
        char got = data[offset_];
        // Redis maps CR/LF in error texts to spaces.
        if (got == '\r' || got == '\n') got = ' ';
        return fail(std::string("ERR Protocol error: expected '$', got '") + got + "'");
      }
      int64_t length = 0;
      if (!parse_int64(buf.substr(offset_ + 1, cr - offset_ - 1), &length) || length < 0 ||
          length > limits_.max_bulk_length) {
        return fail("ERR Protocol error: invalid bulk length");
      }
      offset_ = cr + 2;
      bulk_length_ = length;
    }
    // The bulk and its trailing CRLF (which Redis skips without checking).
    const size_t length = static_cast<size_t>(bulk_length_);
    if (buf.size() - offset_ < length + 2) return ParseStatus::kIncomplete;
    arg_spans_.emplace_back(offset_, length);
    offset_ += length + 2;
    scan_offset_ = offset_;
    bulk_length_ = -1;
    --multibulk_remaining_;
  }

  argv->reserve(arg_spans_.size());
  for (const auto& [at, length] : arg_spans_)
    argv->emplace_back(data + at, length);
  *consumed = offset_;
  start_next_command();
  return ParseStatus::kComplete;
}

ParseStatus RequestParser::parse_inline(std::string_view buf, size_t* consumed, Argv* argv) {
  const size_t limit = limits_.max_inline_length;
  const char* data = buf.data();
  const size_t from = scan_offset_;
  const void* lf = std::memchr(data + from, '\n', buf.size() - from);
  if (lf == nullptr) {
    scan_offset_ = buf.size();
    if (buf.size() > limit) return fail("ERR Protocol error: too big inline request");
    return ParseStatus::kIncomplete;
  }
  const size_t newline = static_cast<size_t>(static_cast<const char*>(lf) - data);
  // Judge the line by its length, not by how much of it one read brought.
  if (newline > limit) return fail("ERR Protocol error: too big inline request");

  size_t line_length = newline;
  if (line_length > 0 && data[line_length - 1] == '\r') --line_length;
  std::string_view line(data, line_length);
  // Redis splits a C string: a NUL ends the line.
  if (const void* nul = std::memchr(line.data(), '\0', line.size()); nul != nullptr) {
    line = line.substr(0, static_cast<size_t>(static_cast<const char*>(nul) - line.data()));
  }

  inline_storage_.clear();
  std::vector<InlineToken> tokens;
  if (!split_inline(line, 0, &inline_storage_, &tokens)) {
    return fail("ERR Protocol error: unbalanced quotes in request");
  }
  // Views are built only now: inline_storage_ no longer grows.
  argv->reserve(tokens.size());
  for (const InlineToken& t : tokens) {
    argv->emplace_back((t.owned ? inline_storage_.data() : data) + t.offset, t.length);
  }
  *consumed = newline + 1;
  start_next_command();
  return ParseStatus::kComplete;
}

}  // namespace kvraft::resp
