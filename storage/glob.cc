// storage/glob.cc — see glob.h. A transcription of Redis 7's
// stringmatchlen_impl, including its two defences: the recursion depth limit
// on '*' and the "skip longer matches" short-circuit that makes patterns like
// "a*a*a*a*b" linear-ish instead of exponential.
#include "storage/glob.h"

#include <cctype>

namespace kvraft::storage {

namespace {

constexpr int kMaxNesting = 1000;

int lower(int c) {
  return std::tolower(c);
}

bool match_impl(const char* pattern, int patlen, const char* str, int strlen, bool nocase,
                bool* skip_longer, int nesting) {
  if (nesting > kMaxNesting) return false;
  while (patlen && strlen) {
    switch (pattern[0]) {
      case '*':
        while (patlen > 1 && pattern[1] == '*') {
          pattern++;
          patlen--;
        }
        if (patlen == 1) return true;  // a trailing '*' matches everything left
        while (strlen) {
          if (match_impl(pattern + 1, patlen - 1, str, strlen, nocase, skip_longer, nesting + 1))
            return true;
          if (*skip_longer) return false;
          str++;
          strlen--;
        }
        // The rest of the pattern cannot match any suffix, so it cannot match
        // a shorter one either: tell the callers up the stack to stop.
        *skip_longer = true;
        return false;
      case '?':
        str++;
        strlen--;
        break;
      case '[': {
        pattern++;
        patlen--;
        bool negate = patlen > 0 && pattern[0] == '^';
        if (negate) {
          pattern++;
          patlen--;
        }
        bool match = false;
        while (true) {
          // Unlike Redis (which relies on the NUL after the pattern), test the
          // length before looking at a byte.
          if (patlen == 0) {
            pattern--;
            patlen++;
            break;
          } else if (pattern[0] == '\\' && patlen >= 2) {
            pattern++;
            patlen--;
            if (pattern[0] == str[0]) match = true;
          } else if (pattern[0] == ']') {
            break;
          } else if (patlen >= 3 && pattern[1] == '-') {
            int start = static_cast<unsigned char>(pattern[0]);
            int end = static_cast<unsigned char>(pattern[2]);
            int c = static_cast<unsigned char>(str[0]);
            if (start > end) {
              int t = start;
              start = end;
              end = t;
            }
            if (nocase) {
              start = lower(start);
              end = lower(end);
              c = lower(c);
            }
            pattern += 2;
            patlen -= 2;
            if (c >= start && c <= end) match = true;
          } else {
            if (!nocase) {
              if (pattern[0] == str[0]) match = true;
            } else {
              if (lower(static_cast<unsigned char>(pattern[0])) ==
                  lower(static_cast<unsigned char>(str[0])))
                match = true;
            }
          }
          pattern++;
          patlen--;
        }
        if (negate) match = !match;
        if (!match) return false;
        str++;
        strlen--;
        break;
      }
      case '\\':
        if (patlen >= 2) {
          pattern++;
          patlen--;
        }
        [[fallthrough]];
      default:
        if (!nocase) {
          if (pattern[0] != str[0]) return false;
        } else {
          if (lower(static_cast<unsigned char>(pattern[0])) !=
              lower(static_cast<unsigned char>(str[0])))
            return false;
        }
        str++;
        strlen--;
        break;
    }
    pattern++;
    patlen--;
    if (strlen == 0) {
      while (patlen && *pattern == '*') {
        pattern++;
        patlen--;
      }
      break;
    }
  }
  return patlen == 0 && strlen == 0;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view str, bool nocase) {
  // Redis works on int lengths; keys and patterns beyond 2 GB cannot reach here
  // (proto-max-bulk-len is far smaller), but refuse rather than truncate.
  if (pattern.size() > 0x7fffffff || str.size() > 0x7fffffff) return false;
  bool skip_longer = false;
  return match_impl(pattern.data(), static_cast<int>(pattern.size()), str.data(),
                    static_cast<int>(str.size()), nocase, &skip_longer, 0);
}

}  // namespace kvraft::storage
