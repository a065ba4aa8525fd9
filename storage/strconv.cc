// storage/strconv.cc — see strconv.h. Mirrors Redis's util.c rules exactly.
#include "storage/strconv.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace kvraft::storage {

bool string2ll(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() >= kLongStrSize) return false;
  if (s.size() == 1 && s[0] == '0') {
    if (out) *out = 0;
    return true;
  }
  size_t i = 0;
  bool negative = false;
  if (s[0] == '-') {
    negative = true;
    if (++i == s.size()) return false;
  }
  // First digit must be 1-9: this rejects "01", "-0" and "-".
  if (s[i] < '1' || s[i] > '9') return false;
  uint64_t v = static_cast<uint64_t>(s[i] - '0');
  ++i;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    uint64_t digit = static_cast<uint64_t>(s[i] - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;
    v = v * 10 + digit;
  }
  if (negative) {
    // -(INT64_MIN) == INT64_MAX + 1 is the largest magnitude allowed.
    if (v > static_cast<uint64_t>(INT64_MAX) + 1) return false;
    if (out) *out = static_cast<int64_t>(0 - v);
  } else {
    if (v > static_cast<uint64_t>(INT64_MAX)) return false;
    if (out) *out = static_cast<int64_t>(v);
  }
  return true;
}

size_t ll2string(char* buf, int64_t v) {
  uint64_t u = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  char tmp[kLongStrSize];
  size_t n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u);
  size_t len = 0;
  if (v < 0) buf[len++] = '-';
  while (n)
    buf[len++] = tmp[--n];
  return len;
}

std::string ll2string(int64_t v) {
  char buf[kLongStrSize];
  return std::string(buf, ll2string(buf, v));
}

bool string2ld(std::string_view s, long double* out) {
  if (s.empty() || s.size() >= kMaxLongDoubleChars) return false;
  char buf[kMaxLongDoubleChars];
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  errno = 0;
  char* end = nullptr;
  long double v = std::strtold(buf, &end);
  if (std::isspace(static_cast<unsigned char>(buf[0])) || *end != '\0' ||
      static_cast<size_t>(end - buf) != s.size() ||
      (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || std::fpclassify(v) == FP_ZERO)) ||
      errno == EINVAL || std::isnan(v))
    return false;
  if (out) *out = v;
  return true;
}

std::string ld2string_human(long double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[kMaxLongDoubleChars];
  int n = std::snprintf(buf, sizeof buf, "%.17Lf", v);
  if (n < 0 || static_cast<size_t>(n) + 1 > sizeof buf) return std::string();
  size_t l = static_cast<size_t>(n);
  if (std::memchr(buf, '.', l) != nullptr) {
    while (l > 0 && buf[l - 1] == '0')
      --l;
    if (l > 0 && buf[l - 1] == '.') --l;
  }
  if (l == 2 && buf[0] == '-' && buf[1] == '0') return "0";
  return std::string(buf, l);
}

bool string2d(std::string_view s, double* out) {
  if (s.empty() || s.size() >= kMaxLongDoubleChars) return false;
  char buf[kMaxLongDoubleChars];
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(buf, &end);
  if (std::isspace(static_cast<unsigned char>(buf[0])) || *end != '\0' ||
      static_cast<size_t>(end - buf) != s.size() ||
      (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL || std::fpclassify(v) == FP_ZERO)) ||
      std::isnan(v))
    return false;
  if (out) *out = v;
  return true;
}

bool parse_scan_cursor(std::string_view s, uint64_t* out) {
  // Same acceptance as strtoul(s, &end, 10) with the checks of Redis's
  // parseScanCursorOrReply, without needing a terminated copy.
  size_t i = 0;
  if (!s.empty() && std::isspace(static_cast<unsigned char>(s[0]))) return false;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    negative = s[i] == '-';
    ++i;
  }
  size_t digits_start = i;
  uint64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    uint64_t digit = static_cast<uint64_t>(s[i] - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;  // ERANGE
    v = v * 10 + digit;
  }
  // strtoul with no digits consumes nothing; the end pointer then points at
  // the sign, which is not '\0' unless the string is empty.
  if (i == digits_start && digits_start != 0) return false;
  if (out) *out = negative ? 0 - v : v;
  return true;
}

}  // namespace kvraft::storage
