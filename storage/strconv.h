// storage/strconv.h — Redis-exact conversions between numbers and strings.
//
// Replies and stored values must be byte-identical to Redis's, and so must
// the set of strings Redis accepts as numbers: "+1", " 1", "01" and "-0" are
// not integers to Redis, a 21-byte string never is, and INCRBYFLOAT prints
// long doubles with its own "human" format. These are re-implementations of
// the functions in Redis's util.c with the same accept/reject rules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kvraft::storage {

// Longest decimal rendering of an int64 plus one (Redis's LONG_STR_SIZE).
inline constexpr size_t kLongStrSize = 21;
// Redis's MAX_LONG_DOUBLE_CHARS: the buffer for long double parsing/formatting.
inline constexpr size_t kMaxLongDoubleChars = 5 * 1024;

// Redis's string2ll: true iff `s` is exactly the canonical decimal form of an
// int64 ("0", or an optional '-' followed by a nonzero digit and digits),
// shorter than kLongStrSize and in range. No spaces, no '+', no leading zeros,
// no "-0". On success stores the value in *out (when non-null).
bool string2ll(std::string_view s, int64_t* out);

// Redis's ll2string: decimal rendering of `v` into `buf` (at least
// kLongStrSize bytes). Returns the length; no terminator is written.
size_t ll2string(char* buf, int64_t v);
std::string ll2string(int64_t v);

// Redis's string2ld: strtold() over the whole string; rejects the empty
// string, leading whitespace, trailing garbage, NaN, overflow to +-HUGE_VAL
// and underflow to zero with ERANGE, and strings of kMaxLongDoubleChars or
// more bytes. "inf"/"-inf" are accepted, as in Redis.
bool string2ld(std::string_view s, long double* out);

// Redis's ld2string with LD_STR_HUMAN: "%.17Lf" with trailing zeros (and a
// trailing '.') removed, "-0" printed as "0", infinities as "inf"/"-inf".
// Returns an empty string when the rendering does not fit
// kMaxLongDoubleChars (Redis's error case).
std::string ld2string_human(long double v);

// Redis's string2d/strtod-based parser used for floats in option arguments:
// like string2ld but for double.
bool string2d(std::string_view s, double* out);

// strtoul() semantics as Redis's SCAN cursor parser uses them: optional
// leading '+' or '-' (negation wraps), decimal digits, no leading space, no
// trailing garbage, no overflow. The empty string parses as 0, as in Redis.
bool parse_scan_cursor(std::string_view s, uint64_t* out);

}  // namespace kvraft::storage
