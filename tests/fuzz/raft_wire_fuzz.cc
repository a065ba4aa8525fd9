// tests/fuzz/raft_wire_fuzz.cc — libFuzzer target for the peer wire codec.
//
// The input is a byte stream from a peer. If its first byte is odd, the
// harness first repairs the checksum trailer of every frame it can delimit,
// so that mutated payloads get past the checksum and exercise the payload
// decoder (otherwise nearly every mutation would stop at the checksum).
// The stream is then decoded in one piece and in pieces whose sizes come
// from a hash of the input; both must give the same frames and the same
// error. Every decoded frame is re-encoded and must reproduce exactly the
// bytes it was decoded from (the encoding is canonical), and the decoder
// must never hold more than max frame size plus the last feed.
#include <xxhash.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "raft/wire.h"
#include "tests/fuzz/wire_fuzz_util.h"

namespace {

using namespace kvraft::raft;
using namespace kvraft::raft::wire;

constexpr size_t kMaxFrame = 1 << 16;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "raft_wire_fuzz: %s\n", what);
    std::abort();
  }
}

uint64_t next_random(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

struct Result {
  std::vector<Frame> frames;
  DecodeError error = DecodeError::kNone;
  bool operator==(const Result&) const = default;
};

Result run(std::string_view input, uint64_t seed, size_t max_piece) {
  FrameDecoder decoder(kMaxFrame);
  Result out;
  size_t at = 0;
  do {
    size_t n = max_piece == 0 ? input.size() : 1 + next_random(&seed) % max_piece;
    n = std::min(n, input.size() - at);
    decoder.feed(input.substr(at, n));
    at += n;
    check(decoder.buffered() <= kMaxFrame + n, "decoder buffers more than one frame");
    for (;;) {
      const uint64_t frame_start = decoder.stream_offset();
      Frame frame;
      FrameDecoder::Status status = decoder.next(&frame);
      if (status == FrameDecoder::Status::kFrame) {
        const uint64_t frame_end = decoder.stream_offset();
        check(frame_end > frame_start && frame_end <= at, "frame offsets out of range");
        std::string again;
        encode_frame(frame, &again);
        check(again == input.substr(frame_start, frame_end - frame_start),
              "re-encoded frame differs from its input bytes");
        out.frames.push_back(std::move(frame));
        continue;
      }
      if (status == FrameDecoder::Status::kError) {
        check(decoder.error_code() != DecodeError::kNone, "error without a code");
        check(!decoder.error().empty(), "error without text");
        check(decoder.buffered() == 0, "buffer kept after an error");
        out.error = decoder.error_code();
        return out;
      }
      break;
    }
  } while (at < input.size());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  const bool repair = (data[0] & 1) != 0;
  std::string input = repair ? kvraft::fuzz::repair_checksums(raw.substr(1), kMaxFrame)
                             : std::string(raw.substr(1));
  Result whole = run(input, 0, 0);
  uint64_t seed = XXH3_64bits(data, size);
  for (size_t max_piece : {size_t{1}, size_t{7}, size_t{64}}) {
    check(run(input, seed, max_piece) == whole, "split decode differs from one-shot decode");
  }
  return 0;
}
