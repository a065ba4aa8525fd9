// tests/fuzz/resp_parser_fuzz.cc — libFuzzer target for RequestParser.
//
// The whole input is one client byte stream. It is parsed twice: in one
// piece, and in pieces whose sizes come from a PRNG seeded by a hash of the
// input (so every input also chooses its own split, and may choose tight
// limits that reach the error paths). Both runs must produce the same
// commands and the same error: the parser's resumable progress must never
// change the outcome. Every parsed command is then re-encoded as a
// multibulk request with ReplyWriter and parsed again, which must give the
// same arguments back.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "resp/parser.h"
#include "resp/reply.h"

namespace {

using kvraft::resp::Argv;
using kvraft::resp::ParserLimits;
using kvraft::resp::ParseStatus;
using kvraft::resp::ReplyWriter;
using kvraft::resp::RequestParser;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "resp_parser_fuzz: %s\n", what);
    std::abort();
  }
}

struct Outcome {
  std::vector<std::vector<std::string>> commands;
  std::string error;
  bool operator==(const Outcome&) const = default;
};

// splitmix64: a tiny deterministic PRNG for piece sizes.
uint64_t next_random(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Parses `input` arriving in pieces (max_piece == 0: all at once).
Outcome run(std::string_view input, const ParserLimits& limits, uint64_t seed, size_t max_piece) {
  RequestParser parser(limits);
  Outcome out;
  std::string buffer;
  size_t at = 0;
  do {
    size_t n = max_piece == 0 ? input.size() : 1 + next_random(&seed) % max_piece;
    n = std::min(n, input.size() - at);
    buffer.append(input.substr(at, n));
    at += n;
    for (;;) {
      size_t consumed = 0;
      Argv argv;
      ParseStatus st = parser.parse(buffer, &consumed, &argv);
      if (st == ParseStatus::kComplete) {
        check(consumed > 0 && consumed <= buffer.size(), "consumed out of range");
        // Quoting only ever shrinks an argument.
        for (std::string_view a : argv)
          check(a.size() <= input.size(), "argument outgrew input");
        out.commands.emplace_back(argv.begin(), argv.end());
        buffer.erase(0, consumed);
        continue;
      }
      check(consumed == 0 && argv.empty(), "non-complete parse reported output");
      if (st == ParseStatus::kError) {
        check(!parser.error().empty(), "error without text");
        out.error = parser.error();
        return out;
      }
      size_t wanted = parser.bytes_wanted();
      check(wanted <= static_cast<size_t>(limits.max_bulk_length) + 2, "bytes_wanted unbounded");
      break;
    }
  } while (at < input.size());
  return out;
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s)
    h = (h ^ c) * 1099511628211ULL;
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  uint64_t h = fnv1a(input);
  ParserLimits limits;
  if (h & 1) {
    // Tight limits so that short inputs reach every limit check.
    limits.max_inline_length = 1 + (h >> 8) % 48;
    limits.max_bulk_length = static_cast<int64_t>((h >> 16) % 64);
    limits.max_multibulk_length = static_cast<int64_t>((h >> 24) % 16);
  }
  Outcome whole = run(input, limits, 0, 0);
  for (size_t max_piece : {size_t{1}, size_t{3}, size_t{17}}) {
    check(run(input, limits, h, max_piece) == whole, "split parse differs from one-shot parse");
  }

  // Re-encode what parsed and parse it again.
  ReplyWriter writer;
  for (const auto& command : whole.commands) {
    writer.array_header(static_cast<int64_t>(command.size()));
    for (const auto& arg : command)
      writer.bulk(arg);
  }
  ParserLimits roomy;
  roomy.max_multibulk_length = 1 << 20;
  roomy.max_bulk_length = 1 << 30;
  Outcome again = run(writer.buffer(), roomy, 0, 0);
  check(again.error.empty(), "re-encoded commands failed to parse");
  check(again.commands == whole.commands, "re-encoded commands parse differently");
  return 0;
}
