// resp/reply_scanner.cc — see reply_scanner.h.
#include "resp/reply_scanner.h"

#include <cstring>
#include <vector>

namespace kvraft::resp {

namespace {

// Parses a signed decimal in [p, end); false on anything else.
bool parse_length(const char* p, const char* end, int64_t* out) {
  if (p == end) return false;
  bool neg = false;
  if (*p == '-') {
    neg = true;
    ++p;
    if (p == end) return false;
  }
  int64_t v = 0;
  for (; p < end; ++p) {
    if (*p < '0' || *p > '9') return false;
    if (v > (INT64_MAX - 9) / 10) return false;
    v = v * 10 + (*p - '0');
  }
  *out = neg ? -v : v;
  return true;
}

}  // namespace

ScanResult scan_reply(std::string_view buf, size_t max_depth, size_t max_line) {
  // remaining[d] = elements still expected at nesting depth d.
  std::vector<int64_t> remaining;
  size_t pos = 0;
  for (;;) {
    if (pos >= buf.size()) return {ScanStatus::kIncomplete, 0};
    char type = buf[pos];
    const char* line = buf.data() + pos + 1;
    size_t avail = buf.size() - pos - 1;
    const void* cr = std::memchr(line, '\r', std::min(avail, max_line + 1));
    if (!cr) return {avail > max_line ? ScanStatus::kError : ScanStatus::kIncomplete, 0};
    const char* line_end = static_cast<const char*>(cr);
    size_t header = static_cast<size_t>(line_end - line);
    if (header + 2 > avail) return {ScanStatus::kIncomplete, 0};
    if (line_end[1] != '\n') return {ScanStatus::kError, 0};
    size_t next = pos + 1 + header + 2;
    int64_t n = 0;
    int64_t children = 0;  // elements this value opens
    switch (type) {
      case '+':
      case '-':
      case ':':
      case '_':
      case ',':
      case '#':
      case '(':
        break;
      case '$':
      case '!':
      case '=':
        if (!parse_length(line, line_end, &n) || n < -1) return {ScanStatus::kError, 0};
        if (n >= 0) {
          if (buf.size() - next < static_cast<size_t>(n) + 2) return {ScanStatus::kIncomplete, 0};
          if (buf[next + n] != '\r' || buf[next + n + 1] != '\n') return {ScanStatus::kError, 0};
          next += static_cast<size_t>(n) + 2;
        }
        break;
      case '*':
      case '~':
      case '>':
        if (!parse_length(line, line_end, &n) || n < -1) return {ScanStatus::kError, 0};
        children = n > 0 ? n : 0;
        break;
      case '%':
      case '|':
        if (!parse_length(line, line_end, &n) || n < 0 || n > INT64_MAX / 2)
          return {ScanStatus::kError, 0};
        children = 2 * n;
        // An attribute precedes the reply it annotates: one more value follows.
        if (type == '|') children += 1;
        break;
      default:
        return {ScanStatus::kError, 0};
    }
    pos = next;
    if (children > 0) {
      if (remaining.size() >= max_depth) return {ScanStatus::kError, 0};
      remaining.push_back(children);
      continue;
    }
    // A complete value: close every aggregate it completes.
    for (;;) {
      if (remaining.empty()) return {ScanStatus::kComplete, pos};
      if (--remaining.back() > 0) break;
      remaining.pop_back();
    }
  }
}

}  // namespace kvraft::resp
