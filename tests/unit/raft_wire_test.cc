// tests/unit/raft_wire_test.cc — the peer wire codec: every message type
// and the handshake round-trip with every field set, streams decode the same
// however they are split, each decode error is reported with its reason, and
// no single bit flip in a frame goes unnoticed.
#include <doctest/doctest.h>
#include <xxhash.h>

#include <random>
#include <string>
#include <vector>

#include "raft/message.h"
#include "raft/wire.h"

using namespace kvraft::raft;
using namespace kvraft::raft::wire;

namespace {

const std::vector<MessageType> kAllTypes = {
    MessageType::kPreVote,       MessageType::kPreVoteResp,   MessageType::kVote,
    MessageType::kVoteResp,      MessageType::kApp,           MessageType::kAppResp,
    MessageType::kHeartbeat,     MessageType::kHeartbeatResp, MessageType::kSnap,
    MessageType::kSnapResp,      MessageType::kTimeoutNow,    MessageType::kReadIndex,
    MessageType::kReadIndexResp,
};

// A message of `type` with every field set to a non-default value (the
// codec must carry every field for every type, used or not).
Message full_message(MessageType type, uint64_t salt = 0) {
  Message m;
  m.type = type;
  m.from = 1 + salt;
  m.to = 0xFFFFFFFFFFFFFFFFULL - salt;
  m.term = 0x0102030405060708ULL + salt;
  m.log_term = 7 + salt;
  m.index = 0x8000000000000000ULL + salt;
  m.entries = {
      {.index = 11, .term = 3, .type = EntryType::kNormal, .data = ""},
      {.index = 12, .term = 3, .type = EntryType::kNormal, .data = std::string("set\0k\r\nv", 8)},
      {.index = 13, .term = 4, .type = EntryType::kConfChange, .data = std::string(1000, 'c')},
  };
  m.commit = 10 + salt;
  m.reject = true;
  m.reject_hint = 9 + salt;
  m.transfer = true;
  m.context = std::string("ctx\0\xff", 5);
  m.lease_tick = 123456789 + salt;
  m.snapshot.index = 100 + salt;
  m.snapshot.term = 5;
  m.snapshot.conf.voters = {1, 2, 3};
  m.snapshot.conf.learners = {4, 0xFFFFFFFFFFFFFFFFULL};
  m.offset = 65536 + salt;
  m.snapshot_size = 1 << 30;
  m.data = std::string(4096, '\x5a') + std::string(1, '\0');
  m.done = true;
  return m;
}

// The fields a type really uses, the rest left at their defaults.
Message minimal_message(MessageType type) {
  Message m;
  m.type = type;
  m.from = 2;
  m.to = 3;
  m.term = 4;
  return m;
}

Handshake sample_handshake() {
  Handshake h;
  h.cluster_id = "kvraft-test-cluster";
  h.node_id = 42;
  h.protocol_version = kWireVersion;
  h.nonce = std::string("n0nce\0n0nce\0n0n", 16);
  h.proof = std::string(32, '\x5a');
  return h;
}

std::string encode(const Frame& f) {
  std::string out;
  encode_frame(f, &out);
  return out;
}

struct StreamResult {
  std::vector<Frame> frames;
  DecodeError error = DecodeError::kNone;
  std::string error_text;
  size_t buffered = 0;
};

// Feeds `bytes` in pieces of the given sizes (rest in one piece), draining
// frames after every piece.
StreamResult decode_stream(std::string_view bytes, const std::vector<size_t>& pieces,
                           size_t max_frame_size = kDefaultMaxFrameSize) {
  FrameDecoder d(max_frame_size);
  StreamResult r;
  size_t at = 0;
  size_t piece = 0;
  do {
    size_t n = piece < pieces.size() ? pieces[piece++] : bytes.size() - at;
    n = std::min(n, bytes.size() - at);
    d.feed(bytes.substr(at, n));
    at += n;
    for (;;) {
      Frame f;
      FrameDecoder::Status s = d.next(&f);
      if (s == FrameDecoder::Status::kFrame) {
        r.frames.push_back(std::move(f));
        continue;
      }
      if (s == FrameDecoder::Status::kError) {
        r.error = d.error_code();
        r.error_text = d.error();
        return r;
      }
      break;
    }
  } while (at < bytes.size());
  r.buffered = d.buffered();
  return r;
}

void put_u64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out->push_back(static_cast<char>(v >> (8 * i)));
}
void put_u32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out->push_back(static_cast<char>(v >> (8 * i)));
}
void put_u16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v));
  out->push_back(static_cast<char>(v >> 8));
}

// A frame around a hand-made payload, with a correct checksum, so payload
// checks are reached.
std::string make_frame(uint8_t type, std::string_view payload, uint8_t version = kWireVersion) {
  std::string out = "KVR";
  out.push_back(static_cast<char>(version));
  out.push_back(static_cast<char>(type));
  put_u32(&out, static_cast<uint32_t>(payload.size()));
  out.append(payload);
  put_u64(&out, XXH3_64bits(out.data(), out.size()));
  return out;
}

// from, to, term and a field mask: the fixed start of a message payload.
std::string message_prefix(uint16_t fields) {
  std::string p;
  put_u64(&p, 1);
  put_u64(&p, 2);
  put_u64(&p, 3);
  put_u16(&p, fields);
  return p;
}

DecodeError decode_error(std::string_view bytes, std::string* text = nullptr) {
  Frame f;
  std::string t;
  DecodeError e = decode_one(bytes, &f, &t);
  if (text != nullptr) *text = t;
  return e;
}

}  // namespace

TEST_CASE("the codec knows every field of Message (update wire.cc when this fails)") {
  // A new Message field must be added to the encoder, the decoder and
  // full_message() above; this size check is the reminder (264 bytes on
  // x86-64 with libstdc++, the platform the project builds on).
  CHECK_MESSAGE(sizeof(Message) == 264, "Message changed: encode the new field in raft/wire.cc");
}

TEST_CASE("every message type round-trips with every field set") {
  for (MessageType type : kAllTypes) {
    CAPTURE(to_string(type));
    for (uint64_t salt : {0ULL, 1ULL, 0x7FFFFFFFULL}) {
      Message m = full_message(type, salt);
      std::string bytes = encode(m);
      Frame f;
      std::string text;
      REQUIRE_MESSAGE(decode_one(bytes, &f, &text) == DecodeError::kNone, text);
      REQUIRE(std::holds_alternative<Message>(f));
      CHECK(std::get<Message>(f) == m);
      // Canonical: decoding then encoding gives the same bytes.
      CHECK(encode(f) == bytes);
    }
  }
}

TEST_CASE("every message type round-trips with only the header fields set") {
  for (MessageType type : kAllTypes) {
    CAPTURE(to_string(type));
    Message m = minimal_message(type);
    std::string bytes = encode(m);
    // Header, from/to/term, field mask, checksum: nothing else.
    CHECK(bytes.size() == kFrameOverhead + 26);
    Frame f;
    REQUIRE(decode_one(bytes, &f) == DecodeError::kNone);
    CHECK(std::get<Message>(f) == m);
  }
  // A default-constructed message, zeros everywhere, survives too.
  Frame f;
  REQUIRE(decode_one(encode(Message{}), &f) == DecodeError::kNone);
  CHECK(std::get<Message>(f) == Message{});
}

TEST_CASE("each optional field round-trips on its own") {
  // One field at a time catches a field that is written but read into the
  // wrong member, which an all-fields test with equal values could miss.
  Message full = full_message(MessageType::kApp);
  std::vector<void (*)(Message&, const Message&)> setters = {
      [](Message& m, const Message& s) { m.log_term = s.log_term; },
      [](Message& m, const Message& s) { m.index = s.index; },
      [](Message& m, const Message& s) { m.entries = s.entries; },
      [](Message& m, const Message& s) { m.commit = s.commit; },
      [](Message& m, const Message& s) { m.reject = s.reject; },
      [](Message& m, const Message& s) { m.reject_hint = s.reject_hint; },
      [](Message& m, const Message& s) { m.transfer = s.transfer; },
      [](Message& m, const Message& s) { m.context = s.context; },
      [](Message& m, const Message& s) { m.lease_tick = s.lease_tick; },
      [](Message& m, const Message& s) { m.snapshot = s.snapshot; },
      [](Message& m, const Message& s) { m.snapshot.conf.learners = s.snapshot.conf.learners; },
      [](Message& m, const Message& s) { m.offset = s.offset; },
      [](Message& m, const Message& s) { m.snapshot_size = s.snapshot_size; },
      [](Message& m, const Message& s) { m.data = s.data; },
      [](Message& m, const Message& s) { m.done = s.done; },
  };
  for (size_t i = 0; i < setters.size(); ++i) {
    CAPTURE(i);
    Message m = minimal_message(MessageType::kApp);
    setters[i](m, full);
    REQUIRE(m != minimal_message(MessageType::kApp));
    Frame f;
    REQUIRE(decode_one(encode(m), &f) == DecodeError::kNone);
    CHECK(std::get<Message>(f) == m);
  }
}

TEST_CASE("the handshake round-trips, with and without a proof") {
  Handshake h = sample_handshake();
  Frame f;
  REQUIRE(decode_one(encode(h), &f) == DecodeError::kNone);
  REQUIRE(std::holds_alternative<Handshake>(f));
  CHECK(std::get<Handshake>(f) == h);
  h.proof.clear();
  h.nonce.clear();
  h.cluster_id = "";
  h.node_id = 0xFFFFFFFFFFFFFFFFULL;
  h.protocol_version = 0xFFFFFFFF;
  REQUIRE(decode_one(encode(h), &f) == DecodeError::kNone);
  CHECK(std::get<Handshake>(f) == h);
}

TEST_CASE("the handshake frame layout is fixed (peers of different builds interoperate)") {
  Handshake h;
  h.cluster_id = "c1";
  h.node_id = 0x0102;
  h.nonce = "N";
  h.proof = "";
  std::string payload;
  put_u32(&payload, kWireVersion);
  put_u64(&payload, 0x0102);
  put_u32(&payload, 2);
  payload += "c1";
  put_u32(&payload, 1);
  payload += "N";
  put_u32(&payload, 0);
  CHECK(encode(h) == make_frame(kHandshakeFrameType, payload));
  CHECK(encode(h).substr(0, 9) == std::string("KVR\x02\x80\x1b\0\0\0", 9));
}

TEST_CASE("a heartbeat frame holds only the fields it sets") {
  Message m = minimal_message(MessageType::kHeartbeat);
  m.commit = 5;
  m.lease_tick = 77;
  std::string expected_payload;
  put_u64(&expected_payload, 2);  // from
  put_u64(&expected_payload, 3);  // to
  put_u64(&expected_payload, 4);  // term
  put_u16(&expected_payload, (1u << 3) | (1u << 8));
  put_u64(&expected_payload, 5);   // commit
  put_u64(&expected_payload, 77);  // lease_tick
  CHECK(encode(m) == make_frame(static_cast<uint8_t>(MessageType::kHeartbeat), expected_payload));
}

TEST_CASE("a stream of frames decodes the same at every byte-boundary split") {
  std::vector<Frame> frames;
  frames.emplace_back(sample_handshake());
  for (MessageType type : kAllTypes) {
    frames.emplace_back(minimal_message(type));
  }
  Message app = full_message(MessageType::kApp);
  app.data.clear();  // keep the stream small enough to split everywhere
  app.entries[2].data = "small";
  frames.emplace_back(app);
  Message snap = minimal_message(MessageType::kSnap);
  snap.data = "chunk";
  snap.offset = 10;
  frames.emplace_back(snap);
  std::string stream;
  for (const Frame& f : frames)
    encode_frame(f, &stream);

  StreamResult whole = decode_stream(stream, {});
  REQUIRE(whole.error == DecodeError::kNone);
  REQUIRE(whole.frames == frames);
  CHECK(whole.buffered == 0);
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    CAPTURE(cut);
    StreamResult r = decode_stream(stream, {cut});
    REQUIRE(r.error == DecodeError::kNone);
    REQUIRE(r.frames == frames);
    REQUIRE(r.buffered == 0);
  }
  StreamResult bytewise = decode_stream(stream, std::vector<size_t>(stream.size(), 1));
  CHECK(bytewise.frames == frames);
  // Random three- to many-piece splits.
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<size_t> pieces;
    for (size_t used = 0; used < stream.size();) {
      pieces.push_back(1 + rng() % 64);
      used += pieces.back();
    }
    REQUIRE(decode_stream(stream, pieces).frames == frames);
  }
}

TEST_CASE("a truncated stream is incomplete, never a frame") {
  std::string bytes = encode(full_message(MessageType::kApp));
  for (size_t len = 0; len < bytes.size(); ++len) {
    StreamResult r = decode_stream(bytes.substr(0, len), {});
    CHECK(r.frames.empty());
    CHECK(r.error == DecodeError::kNone);
    CHECK(r.buffered == len);
    if (len > 0) CHECK(decode_error(bytes.substr(0, len)) == DecodeError::kTruncatedField);
  }
}

TEST_CASE("bad magic is refused as soon as the first wrong byte arrives") {
  FrameDecoder d;
  d.feed("K");
  Frame f;
  CHECK(d.next(&f) == FrameDecoder::Status::kNeedMore);
  d.feed("X");
  CHECK(d.next(&f) == FrameDecoder::Status::kError);
  CHECK(d.error_code() == DecodeError::kBadMagic);
  CHECK(d.error().find("stream offset 0") != std::string::npos);
  CHECK(d.buffered() == 0);
  // Sticky: good frames after an error are not decoded.
  d.feed(encode(sample_handshake()));
  CHECK(d.next(&f) == FrameDecoder::Status::kError);
  CHECK(decode_error("GET / HTTP/1.1\r\n\r\n") == DecodeError::kBadMagic);
  CHECK(decode_error("*1\r\n$4\r\nPING\r\n") == DecodeError::kBadMagic);
}

TEST_CASE("an unsupported wire version is refused") {
  std::string text;
  CHECK(decode_error(make_frame(kHandshakeFrameType, "", 3), &text) ==
        DecodeError::kUnsupportedVersion);
  CHECK(text.find("version 3") != std::string::npos);
  CHECK(decode_error(make_frame(kHandshakeFrameType, "", 1)) == DecodeError::kUnsupportedVersion);
  CHECK(decode_error(make_frame(kHandshakeFrameType, "", 0)) == DecodeError::kUnsupportedVersion);
}

TEST_CASE("an unknown frame type is refused") {
  for (int type : {0, 14, 0x7f, 0x81, 0xff}) {
    CAPTURE(type);
    CHECK(decode_error(make_frame(static_cast<uint8_t>(type), message_prefix(0))) ==
          DecodeError::kUnknownType);
  }
}

TEST_CASE("a frame over the size bound is refused from its header alone") {
  const size_t max = 1024;
  FrameDecoder d(max);
  std::string header = "KVR";
  header.push_back(static_cast<char>(kWireVersion));
  header.push_back(static_cast<char>(MessageType::kApp));
  put_u32(&header, static_cast<uint32_t>(max - kFrameOverhead + 1));
  d.feed(header);  // no payload yet: refused before any is buffered
  CHECK(d.error_code() == DecodeError::kFrameTooLarge);
  CHECK(d.buffered() == 0);
  Frame f;
  CHECK(d.next(&f) == FrameDecoder::Status::kError);
  CHECK(d.error().find("maximum frame size of 1024") != std::string::npos);
  // A 4 GiB length is refused the same way under the default bound.
  std::string huge = header.substr(0, 5);
  put_u32(&huge, 0xFFFFFFFF);
  CHECK(decode_error(huge) == DecodeError::kFrameTooLarge);
  // Exactly the bound is accepted.
  Message m = minimal_message(MessageType::kSnap);
  std::string probe = encode(m);
  m.data = std::string(max - probe.size() - 4, 'd');  // +u32 length of data
  std::string exact = encode(m);
  REQUIRE(exact.size() == max);
  Frame got;
  CHECK(decode_one(exact, &got, nullptr, max) == DecodeError::kNone);
  CHECK(decode_one(exact, &got, nullptr, max - 1) == DecodeError::kFrameTooLarge);
}

TEST_CASE("a checksum mismatch is refused and reported with both values") {
  std::string bytes = encode(sample_handshake());
  bytes[kHeaderSize + 2] ^= 0x01;
  std::string text;
  CHECK(decode_error(bytes, &text) == DecodeError::kChecksumMismatch);
  CHECK(text.find("Handshake") != std::string::npos);
  CHECK(text.find("computed 0x") != std::string::npos);
}

TEST_CASE("fields running past the payload are truncated-field errors") {
  const uint8_t app = static_cast<uint8_t>(MessageType::kApp);
  // Not even from/to/term.
  CHECK(decode_error(make_frame(app, std::string(20, '\0'))) == DecodeError::kTruncatedField);
  // A field bit set, its bytes missing.
  CHECK(decode_error(make_frame(app, message_prefix(1u << 0) + "abc")) ==
        DecodeError::kTruncatedField);
  // A context whose length exceeds the payload.
  std::string p = message_prefix(1u << 7);
  put_u32(&p, 100);
  p += "short";
  std::string text;
  CHECK(decode_error(make_frame(app, p), &text) == DecodeError::kTruncatedField);
  CHECK(text.find("context: length 100 exceeds the 5 remaining") != std::string::npos);
  // Entry data past the end.
  p = message_prefix(1u << 2);
  put_u32(&p, 1);
  put_u64(&p, 1);
  put_u64(&p, 1);
  p.push_back(0);
  put_u32(&p, 0xFFFFFFFF);
  p += std::string(16, 'x');
  CHECK(decode_error(make_frame(app, p)) == DecodeError::kTruncatedField);
  // Handshake cluster id past the end.
  std::string h;
  put_u32(&h, 1);
  put_u64(&h, 1);
  put_u32(&h, 50);
  h += "c";
  CHECK(decode_error(make_frame(kHandshakeFrameType, h)) == DecodeError::kTruncatedField);
}

TEST_CASE("counts larger than the remaining bytes can hold are refused before allocating") {
  const uint8_t app = static_cast<uint8_t>(MessageType::kApp);
  std::string p = message_prefix(1u << 2);
  put_u32(&p, 0xFFFFFFFF);  // four billion entries in a few bytes
  p += std::string(40, '\0');
  std::string text;
  CHECK(decode_error(make_frame(app, p), &text) == DecodeError::kCountTooLarge);
  CHECK(text.find("entry count") != std::string::npos);
  // Two entries need at least 42 bytes; 41 remain.
  p = message_prefix(1u << 2);
  put_u32(&p, 2);
  p += std::string(41, '\0');
  CHECK(decode_error(make_frame(app, p)) == DecodeError::kCountTooLarge);
  // Voters.
  p = message_prefix(1u << 9);
  put_u64(&p, 1);
  put_u64(&p, 1);
  put_u32(&p, 3);
  p += std::string(23, '\0');
  CHECK(decode_error(make_frame(static_cast<uint8_t>(MessageType::kSnap), p)) ==
        DecodeError::kCountTooLarge);
}

TEST_CASE("payload bytes after the last field are refused") {
  std::string p = message_prefix(0) + "x";
  CHECK(decode_error(make_frame(static_cast<uint8_t>(MessageType::kVote), p)) ==
        DecodeError::kTrailingBytes);
  std::string h;
  put_u32(&h, 1);
  put_u64(&h, 1);
  put_u32(&h, 0);
  put_u32(&h, 0);
  put_u32(&h, 0);
  h += "zz";
  CHECK(decode_error(make_frame(kHandshakeFrameType, h)) == DecodeError::kTrailingBytes);
}

TEST_CASE("bad field values: unknown mask bits, entry types, non-canonical fields") {
  const uint8_t app = static_cast<uint8_t>(MessageType::kApp);
  std::string text;
  CHECK(decode_error(make_frame(app, message_prefix(1u << 15)), &text) == DecodeError::kBadField);
  CHECK(text.find("unknown bits 0x8000") != std::string::npos);
  std::string p = message_prefix(1u << 2);
  put_u32(&p, 1);
  put_u64(&p, 1);
  put_u64(&p, 1);
  p.push_back(7);  // no such EntryType
  put_u32(&p, 0);
  CHECK(decode_error(make_frame(app, p), &text) == DecodeError::kBadField);
  CHECK(text.find("unknown type 7") != std::string::npos);
  // Present-but-default fields would give a message two encodings.
  p = message_prefix(1u << 0);
  put_u64(&p, 0);
  CHECK(decode_error(make_frame(app, p)) == DecodeError::kBadField);
  p = message_prefix(1u << 2);
  put_u32(&p, 0);
  CHECK(decode_error(make_frame(app, p)) == DecodeError::kBadField);
  p = message_prefix(1u << 7);
  put_u32(&p, 0);
  CHECK(decode_error(make_frame(app, p)) == DecodeError::kBadField);
  p = message_prefix(1u << 9);
  put_u64(&p, 0);
  put_u64(&p, 0);
  put_u32(&p, 0);
  put_u32(&p, 0);
  CHECK(decode_error(make_frame(app, p)) == DecodeError::kBadField);
}

TEST_CASE("a single bit flip anywhere in a frame never yields a frame") {
  // A small bound, so a flipped length either exceeds it or is satisfied by
  // the filler below and then fails the checksum.
  const size_t max = 4096;
  std::vector<Frame> samples = {Frame(sample_handshake()),
                                Frame(minimal_message(MessageType::kVote))};
  Message app = full_message(MessageType::kApp);
  app.data = "d";
  app.entries[2].data = "e";
  samples.emplace_back(app);
  for (const Frame& sample : samples) {
    const std::string good = encode(sample);
    REQUIRE(good.size() < max);
    for (size_t bit = 0; bit < good.size() * 8; ++bit) {
      CAPTURE(bit);
      std::string bad = good;
      bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
      FrameDecoder d(max);
      d.feed(bad);
      Frame f;
      FrameDecoder::Status s = d.next(&f);
      if (s == FrameDecoder::Status::kNeedMore) {
        // Only a length grown by the flip can wait; more bytes expose it.
        REQUIRE(bit / 8 >= 5);
        REQUIRE(bit / 8 < kHeaderSize);
        d.feed(std::string(max, '\0'));
        s = d.next(&f);
      }
      REQUIRE(s == FrameDecoder::Status::kError);
      CHECK(d.error_code() != DecodeError::kNone);
    }
  }
}

TEST_CASE("errors name the stream offset of the bad frame") {
  std::string stream = encode(sample_handshake());
  const size_t second = stream.size();
  std::string bad = encode(minimal_message(MessageType::kApp));
  bad.back() ^= 0x40;
  stream += bad;
  StreamResult r = decode_stream(stream, {});
  CHECK(r.frames.size() == 1);
  CHECK(r.error == DecodeError::kChecksumMismatch);
  CHECK(r.error_text.find("stream offset " + std::to_string(second)) != std::string::npos);
}

TEST_CASE("encode appends to what the buffer already holds") {
  std::string out = "prefix";
  encode_message(minimal_message(MessageType::kVote), &out);
  CHECK(out.substr(0, 6) == "prefix");
  Frame f;
  CHECK(decode_one(std::string_view(out).substr(6), &f) == DecodeError::kNone);
}

TEST_CASE("many small frames through one decoder stay linear") {
  std::string stream;
  Message m = minimal_message(MessageType::kHeartbeat);
  for (int i = 0; i < 50000; ++i) {
    m.commit = static_cast<Index>(i + 1);
    encode_message(m, &stream);
  }
  FrameDecoder d;
  d.feed(stream);  // one big read, drained frame by frame
  Frame f;
  size_t n = 0;
  while (d.next(&f) == FrameDecoder::Status::kFrame) {
    ++n;
    REQUIRE(std::get<Message>(f).commit == n);
  }
  CHECK(n == 50000);
  CHECK(d.buffered() == 0);
  CHECK(d.stream_offset() == stream.size());
}
