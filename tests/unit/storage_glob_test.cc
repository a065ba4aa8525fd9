// tests/unit/storage_glob_test.cc — the KEYS/SCAN MATCH glob matcher
// against Redis's stringmatchlen behaviour, including hostile patterns.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "storage/glob.h"

using kvraft::storage::glob_match;

TEST_CASE("glob wildcards, classes, ranges and escapes") {
  // As Redis: the loop never runs on an empty string, so "*" does not match
  // "" (KEYS * and MATCH * bypass the matcher, so empty keys still show).
  CHECK_FALSE(glob_match("*", ""));
  CHECK(glob_match("*", "anything"));
  CHECK(glob_match("h?llo", "hello"));
  CHECK(glob_match("h?llo", "hallo"));
  CHECK_FALSE(glob_match("h?llo", "hllo"));
  CHECK(glob_match("h*llo", "hllo"));
  CHECK(glob_match("h*llo", "heeeello"));
  CHECK(glob_match("h[ae]llo", "hello"));
  CHECK_FALSE(glob_match("h[ae]llo", "hillo"));
  CHECK(glob_match("h[^e]llo", "hallo"));
  CHECK_FALSE(glob_match("h[^e]llo", "hello"));
  CHECK(glob_match("h[a-b]llo", "hbllo"));
  CHECK(glob_match("h[b-a]llo", "hallo"));  // reversed range
  CHECK_FALSE(glob_match("h[a-b]llo", "hcllo"));
  CHECK(glob_match("h\\*llo", "h*llo"));
  CHECK_FALSE(glob_match("h\\*llo", "hello"));
  CHECK(glob_match("[\\]]", "]"));
  CHECK(glob_match("user:*", "user:1"));
  CHECK_FALSE(glob_match("user:*", "use"));
  CHECK(glob_match("a*", "a"));
  CHECK(glob_match("a**", "a"));
  CHECK_FALSE(glob_match("", "a"));
  CHECK(glob_match("", ""));
  CHECK(glob_match("HeLLo", "hello", true));
  CHECK_FALSE(glob_match("HeLLo", "hello", false));
  CHECK(glob_match("[A-C]x", "bx", true));
}

TEST_CASE("glob never reads past a truncated pattern") {
  CHECK_FALSE(glob_match("[", "a"));
  CHECK_FALSE(glob_match("[a", "b"));
  CHECK(glob_match("[a", "a"));
  CHECK(glob_match("[^", "a"));
  CHECK(glob_match("\\", "\\"));
  CHECK_FALSE(glob_match("a[", "a"));
  CHECK(glob_match("[a-", "a"));
}

TEST_CASE("glob answers pathological patterns quickly") {
  std::string str(5000, 'a');
  std::string pat;
  for (int i = 0; i < 30; ++i)
    pat += "a*";
  pat += "b";
  auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(glob_match(pat, str));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  // Deep '*' nesting is bounded rather than overflowing the stack.
  std::string deep;
  for (int i = 0; i < 5000; ++i)
    deep += "*a";
  CHECK_FALSE(glob_match(deep + "b", std::string(6000, 'a')));
}
