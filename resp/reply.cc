// resp/reply.cc — the RESP2/RESP3 encodings behind ReplyWriter.
//
// Every reply a client sees goes through here, so the hot paths (integers,
// bulk headers, aggregate headers) format numbers by hand into a stack
// buffer instead of calling snprintf. Doubles are rare and use "%.17g" as
// Redis 7.0 does, so scores and INCRBYFLOAT results match byte for byte.
#include "resp/reply.h"

#include <cassert>
#include <cmath>
#include <cstdio>

namespace kvraft::resp {
namespace {

// Enough for "-9223372036854775808".
constexpr size_t kMaxInt64Chars = 20;

// Writes the decimal form of `value` so that it ends just before `end`;
// returns the first character. Negation goes through uint64_t so that
// INT64_MIN is formatted correctly.
char* format_int64(int64_t value, char* end) {
  uint64_t magnitude =
      value < 0 ? uint64_t{0} - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
  char* p = end;
  do {
    *--p = static_cast<char>('0' + magnitude % 10);
    magnitude /= 10;
  } while (magnitude != 0);
  if (value < 0) *--p = '-';
  return p;
}

}  // namespace

void ReplyWriter::set_protocol(int protocol) {
  assert((protocol == 2 || protocol == 3) && "RESP protocol must be 2 or 3");
  protocol_ = protocol == 3 ? 3 : 2;
}

// Appends "<prefix><value>\r\n" without snprintf: this is the path taken by
// every integer reply and every bulk/aggregate header.
void ReplyWriter::prefixed_int(char prefix, int64_t value) {
  char tmp[1 + kMaxInt64Chars + 2];
  char* end = tmp + sizeof(tmp);
  end[-2] = '\r';
  end[-1] = '\n';
  char* p = format_int64(value, end - 2);
  *--p = prefix;
  buf_.append(p, static_cast<size_t>(end - p));
}

void ReplyWriter::simple_string(std::string_view s) {
  buf_.reserve(buf_.size() + s.size() + 3);
  buf_.push_back('+');
  buf_.append(s);
  buf_.append("\r\n", 2);
}

void ReplyWriter::error(std::string_view message) {
  size_t at = buf_.size();
  buf_.reserve(at + message.size() + 3);
  buf_.push_back('-');
  buf_.append(message);
  // A CR or LF would end the error early and desynchronise the client.
  for (size_t i = at + 1; i < buf_.size(); ++i) {
    if (buf_[i] == '\r' || buf_[i] == '\n') buf_[i] = ' ';
  }
  buf_.append("\r\n", 2);
}

void ReplyWriter::integer(int64_t value) {
  prefixed_int(':', value);
}

void ReplyWriter::bulk(std::string_view value) {
  buf_.reserve(buf_.size() + value.size() + 1 + kMaxInt64Chars + 4);
  prefixed_int('$', static_cast<int64_t>(value.size()));
  buf_.append(value);
  buf_.append("\r\n", 2);
}

void ReplyWriter::null() {
  if (protocol_ == 3) {
    buf_.append("_\r\n", 3);
  } else {
    buf_.append("$-1\r\n", 5);
  }
}

void ReplyWriter::null_array() {
  if (protocol_ == 3) {
    buf_.append("_\r\n", 3);
  } else {
    buf_.append("*-1\r\n", 5);
  }
}

void ReplyWriter::array_header(int64_t count) {
  prefixed_int('*', count);
}

void ReplyWriter::map_header(int64_t pairs) {
  if (protocol_ == 3) {
    prefixed_int('%', pairs);
  } else {
    prefixed_int('*', pairs * 2);
  }
}

void ReplyWriter::set_header(int64_t count) {
  prefixed_int(protocol_ == 3 ? '~' : '*', count);
}

void ReplyWriter::push_header(int64_t count) {
  prefixed_int(protocol_ == 3 ? '>' : '*', count);
}

void ReplyWriter::double_value(double value) {
  // Redis spells the special values itself because libcs disagree ("inf",
  // "Infinity", "-nan"); %.17g round-trips every finite double.
  char text[64];
  std::string_view formatted;
  if (std::isnan(value)) {
    formatted = "nan";
  } else if (std::isinf(value)) {
    formatted = value > 0 ? "inf" : "-inf";
  } else {
    int n = std::snprintf(text, sizeof(text), "%.17g", value);
    formatted = std::string_view(text, static_cast<size_t>(n));
  }
  if (protocol_ == 3) {
    buf_.push_back(',');
    buf_.append(formatted);
    buf_.append("\r\n", 2);
  } else {
    bulk(formatted);
  }
}

void ReplyWriter::boolean(bool value) {
  if (protocol_ == 3) {
    buf_.append(value ? "#t\r\n" : "#f\r\n", 4);
  } else {
    buf_.append(value ? ":1\r\n" : ":0\r\n", 4);
  }
}

void ReplyWriter::verbatim(std::string_view format, std::string_view text) {
  if (protocol_ != 3) {
    bulk(text);
    return;
  }
  assert(format.size() == 3 && "verbatim format must be exactly 3 characters");
  // Keep the frame well formed even if a caller breaks the contract: the
  // declared length always covers exactly 3 format bytes plus ':'.
  char fmt[3] = {' ', ' ', ' '};
  for (size_t i = 0; i < 3 && i < format.size(); ++i)
    fmt[i] = format[i];
  buf_.reserve(buf_.size() + text.size() + 4 + 1 + kMaxInt64Chars + 4);
  prefixed_int('=', static_cast<int64_t>(text.size() + 4));
  buf_.append(fmt, 3);
  buf_.push_back(':');
  buf_.append(text);
  buf_.append("\r\n", 2);
}

void ReplyWriter::raw(std::string_view encoded) {
  buf_.append(encoded);
}

void ReplyWriter::consume(size_t n) {
  assert(n <= size() && "consume() past the end of the reply buffer");
  if (n > size()) n = size();
  start_ += n;
  if (start_ == buf_.size()) {
    // Fully drained: reuse the allocation from the start, no copy.
    drained();
  } else if (start_ >= buf_.size() - start_) {
    // Compact only once the consumed prefix is at least as large as what
    // remains: each byte moved is paid for by a byte consumed since the last
    // compaction, so draining a big buffer in small pieces stays linear.
    buf_.erase(0, start_);
    start_ = 0;
  }
}

void ReplyWriter::clear() {
  drained();
}

void ReplyWriter::drained() {
  buf_.clear();
  start_ = 0;
  if (buf_.capacity() > kKeepCapacity) std::string().swap(buf_);
}

std::string error_reply_bytes(std::string_view message) {
  ReplyWriter w;
  w.error(message);
  return std::string(w.buffer());
}

}  // namespace kvraft::resp
