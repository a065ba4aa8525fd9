// raft/wire.cc — frame encoding/decoding for the peer protocol (see wire.h
// for the frame layout).
//
// Payload of a Message frame (the frame type byte is the MessageType):
//
//   u64 from, u64 to, u64 term, u16 fields
//   then, for each bit of `fields` that is set, in bit order:
//     0  log_term       u64
//     1  index          u64
//     2  entries        u32 count, then per entry:
//                         u64 index, u64 term, u8 type, u32 len, len bytes
//     3  commit         u64
//     4  reject         (flag only, no bytes)
//     5  reject_hint    u64
//     6  transfer       (flag only)
//     7  context        u32 len, len bytes
//     8  lease_tick     u64
//     9  snapshot       u64 index, u64 term,
//                       u32 n, n × u64 voters, u32 m, m × u64 learners
//     10 offset         u64
//     11 snapshot_size  u64
//     12 data           u32 len, len bytes
//     13 done           (flag only)
//   A value field's bit is set exactly when the field differs from its
//   default (the decoder enforces this), so every Message has one encoding.
//
// Payload of a Handshake frame:
//
//   u32 protocol_version, u64 node_id, u32 len + cluster_id, u32 len + nonce,
//   u32 len + proof
#include "raft/wire.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace kvraft::raft::wire {
namespace {

enum FieldBit : uint16_t {
  kLogTerm = 1u << 0,
  kIndex = 1u << 1,
  kEntries = 1u << 2,
  kCommit = 1u << 3,
  kReject = 1u << 4,
  kRejectHint = 1u << 5,
  kTransfer = 1u << 6,
  kContext = 1u << 7,
  kLeaseTick = 1u << 8,
  kSnapshot = 1u << 9,
  kOffset = 1u << 10,
  kSnapshotSize = 1u << 11,
  kData = 1u << 12,
  kDone = 1u << 13,
};
constexpr uint16_t kKnownFieldBits = (1u << 14) - 1;

// Smallest encodings, used to bound counts by the bytes that remain.
constexpr size_t kMinEntrySize = 8 + 8 + 1 + 4;
constexpr size_t kNodeIdSize = 8;

// The -Wswitch warning (an error here) fires when MessageType or EntryType
// gains a value this codec does not know, so the codec cannot silently
// drift from raft/message.h.
bool is_message_type(uint8_t value) {
  switch (static_cast<MessageType>(value)) {
    case MessageType::kPreVote:
    case MessageType::kPreVoteResp:
    case MessageType::kVote:
    case MessageType::kVoteResp:
    case MessageType::kApp:
    case MessageType::kAppResp:
    case MessageType::kHeartbeat:
    case MessageType::kHeartbeatResp:
    case MessageType::kSnap:
    case MessageType::kSnapResp:
    case MessageType::kTimeoutNow:
    case MessageType::kReadIndex:
    case MessageType::kReadIndexResp:
      return true;
  }
  return false;
}

bool is_entry_type(uint8_t value) {
  switch (static_cast<EntryType>(value)) {
    case EntryType::kNormal:
    case EntryType::kConfChange:
      return true;
  }
  return false;
}

// ------------------------------------------------------------------ writing

void put_u8(std::string* out, uint8_t v) {
  out->push_back(static_cast<char>(v));
}

void put_u16(std::string* out, uint16_t v) {
  char b[2] = {static_cast<char>(v), static_cast<char>(v >> 8)};
  out->append(b, 2);
}

void put_u32(std::string* out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i)
    b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 4);
}

void put_u64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i)
    b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 8);
}

void put_length(std::string* out, size_t n, const char* what) {
  if (n > std::numeric_limits<uint32_t>::max()) {
    throw std::length_error(std::string("raft wire: ") + what + " of " + std::to_string(n) +
                            " bytes/elements exceeds the u32 length field");
  }
  put_u32(out, static_cast<uint32_t>(n));
}

void put_bytes(std::string* out, std::string_view s, const char* what) {
  put_length(out, s.size(), what);
  out->append(s);
}

uint64_t get_u64_at(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

uint32_t get_u32_at(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// Writes a frame around whatever `write_payload` appends; on any exception
// *out is restored, so a failed encode never leaves half a frame behind.
template <typename WritePayload>
void encode_framed(uint8_t type, std::string* out, WritePayload write_payload) {
  const size_t frame_start = out->size();
  try {
    out->append(kMagic, sizeof(kMagic));
    put_u8(out, kWireVersion);
    put_u8(out, type);
    put_u32(out, 0);  // patched below
    write_payload(out);
    const size_t payload_size = out->size() - frame_start - kHeaderSize;
    if (payload_size > std::numeric_limits<uint32_t>::max()) {
      throw std::length_error("raft wire: payload of " + std::to_string(payload_size) +
                              " bytes exceeds the u32 frame length");
    }
    for (int i = 0; i < 4; ++i) {
      (*out)[frame_start + 5 + i] = static_cast<char>(payload_size >> (8 * i));
    }
    put_u64(out, XXH3_64bits(out->data() + frame_start, kHeaderSize + payload_size));
  } catch (...) {
    out->resize(frame_start);
    throw;
  }
}

// ------------------------------------------------------------------ reading

// Reads fields from one payload; the first failure sticks and carries a
// description naming the field.
class Reader {
 public:
  explicit Reader(std::string_view payload) : data_(payload) {}

  bool ok() const { return error_ == DecodeError::kNone; }
  DecodeError error() const { return error_; }
  const std::string& detail() const { return detail_; }
  size_t remaining() const { return data_.size() - pos_; }

  bool fail(DecodeError error, std::string detail) {
    if (ok()) {
      error_ = error;
      detail_ = std::move(detail);
    }
    return false;
  }

  bool u8(uint8_t* v, const char* what) {
    if (!need(1, what)) return false;
    *v = static_cast<unsigned char>(data_[pos_++]);
    return true;
  }
  bool u16(uint16_t* v, const char* what) {
    if (!need(2, what)) return false;
    *v = static_cast<uint16_t>(static_cast<unsigned char>(data_[pos_]) |
                               (static_cast<unsigned char>(data_[pos_ + 1]) << 8));
    pos_ += 2;
    return true;
  }
  bool u32(uint32_t* v, const char* what) {
    if (!need(4, what)) return false;
    *v = get_u32_at(data_.data() + pos_);
    pos_ += 4;
    return true;
  }
  bool u64(uint64_t* v, const char* what) {
    if (!need(8, what)) return false;
    *v = get_u64_at(data_.data() + pos_);
    pos_ += 8;
    return true;
  }
  // A u32 length then that many bytes; the length is checked against the
  // remaining payload before any allocation.
  bool bytes(std::string* s, const std::string& what) {
    std::string_view v;
    if (!bytes(&v, what)) return false;
    s->assign(v);
    return true;
  }
  bool bytes(std::string_view* v, const std::string& what) {
    uint32_t n = 0;
    if (!u32(&n, what.c_str())) return false;
    if (n > remaining()) {
      return fail(DecodeError::kTruncatedField, what + ": length " + std::to_string(n) +
                                                    " exceeds the " + std::to_string(remaining()) +
                                                    " remaining payload bytes");
    }
    *v = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  // An entry's payload (a u32 length then the bytes). Entries are the bulk
  // of every append, so the field's name for an error is only built when
  // the frame is actually short.
  bool entry_data(Payload* p, uint32_t entry) {
    if (remaining() >= 4 && get_u32_at(data_.data() + pos_) <= remaining() - 4) {
      uint32_t n = get_u32_at(data_.data() + pos_);
      *p = Payload(data_.substr(pos_ + 4, n));
      pos_ += 4 + size_t{n};
      return true;
    }
    std::string_view unused;
    return bytes(&unused, "entry " + std::to_string(entry) + " data");
  }
  // A u32 element count, bounded by how many elements of at least
  // `min_element_size` bytes the rest of the payload could hold.
  bool count(uint32_t* n, size_t min_element_size, const char* what) {
    if (!u32(n, what)) return false;
    if (*n > remaining() / min_element_size) {
      return fail(DecodeError::kCountTooLarge,
                  std::string(what) + ": count " + std::to_string(*n) + " cannot fit in the " +
                      std::to_string(remaining()) + " remaining payload bytes");
    }
    return true;
  }

 private:
  bool need(size_t n, const char* what) {
    if (remaining() >= n) return true;
    return fail(DecodeError::kTruncatedField, std::string(what) + ": needs " + std::to_string(n) +
                                                  " bytes, " + std::to_string(remaining()) +
                                                  " remain in the payload");
  }

  std::string_view data_;
  size_t pos_ = 0;
  DecodeError error_ = DecodeError::kNone;
  std::string detail_;
};

bool read_node_ids(Reader* r, std::vector<NodeId>* ids, const char* what) {
  uint32_t n = 0;
  if (!r->count(&n, kNodeIdSize, what)) return false;
  ids->resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    if (!r->u64(&(*ids)[i], what)) return false;
  }
  return true;
}

void write_message_payload(const Message& m, std::string* out) {
  uint16_t fields = 0;
  if (m.log_term != 0) fields |= kLogTerm;
  if (m.index != 0) fields |= kIndex;
  if (!m.entries.empty()) fields |= kEntries;
  if (m.commit != 0) fields |= kCommit;
  if (m.reject) fields |= kReject;
  if (m.reject_hint != 0) fields |= kRejectHint;
  if (m.transfer) fields |= kTransfer;
  if (!m.context.empty()) fields |= kContext;
  if (m.lease_tick != 0) fields |= kLeaseTick;
  if (m.snapshot != SnapshotMeta{}) fields |= kSnapshot;
  if (m.offset != 0) fields |= kOffset;
  if (m.snapshot_size != 0) fields |= kSnapshotSize;
  if (!m.data.empty()) fields |= kData;
  if (m.done) fields |= kDone;

  put_u64(out, m.from);
  put_u64(out, m.to);
  put_u64(out, m.term);
  put_u16(out, fields);
  if (fields & kLogTerm) put_u64(out, m.log_term);
  if (fields & kIndex) put_u64(out, m.index);
  if (fields & kEntries) {
    put_length(out, m.entries.size(), "entry count");
    for (const Entry& e : m.entries) {
      put_u64(out, e.index);
      put_u64(out, e.term);
      put_u8(out, static_cast<uint8_t>(e.type));
      put_bytes(out, e.data, "entry data");
    }
  }
  if (fields & kCommit) put_u64(out, m.commit);
  if (fields & kRejectHint) put_u64(out, m.reject_hint);
  if (fields & kContext) put_bytes(out, m.context, "context");
  if (fields & kLeaseTick) put_u64(out, m.lease_tick);
  if (fields & kSnapshot) {
    put_u64(out, m.snapshot.index);
    put_u64(out, m.snapshot.term);
    put_length(out, m.snapshot.conf.voters.size(), "voter count");
    for (NodeId id : m.snapshot.conf.voters)
      put_u64(out, id);
    put_length(out, m.snapshot.conf.learners.size(), "learner count");
    for (NodeId id : m.snapshot.conf.learners)
      put_u64(out, id);
  }
  if (fields & kOffset) put_u64(out, m.offset);
  if (fields & kSnapshotSize) put_u64(out, m.snapshot_size);
  if (fields & kData) put_bytes(out, m.data, "snapshot data");
}

// A value field marked present must not hold its default: that keeps the
// encoding unique (see wire.h).
bool require_non_default(Reader* r, bool is_default, const char* what) {
  if (!is_default) return true;
  return r->fail(DecodeError::kBadField,
                 std::string(what) + ": marked present but holds its default value");
}

bool read_message_payload(Reader* r, MessageType type, Message* m) {
  *m = Message{};
  m->type = type;
  uint16_t fields = 0;
  if (!r->u64(&m->from, "from") || !r->u64(&m->to, "to") || !r->u64(&m->term, "term") ||
      !r->u16(&fields, "field mask")) {
    return false;
  }
  if (fields & ~kKnownFieldBits) {
    std::ostringstream text;
    text << "field mask: unknown bits 0x" << std::hex << (fields & ~kKnownFieldBits);
    return r->fail(DecodeError::kBadField, text.str());
  }
  m->reject = (fields & kReject) != 0;
  m->transfer = (fields & kTransfer) != 0;
  m->done = (fields & kDone) != 0;
  auto read_u64_field = [&](uint16_t bit, uint64_t* v, const char* what) {
    if (!(fields & bit)) return true;
    return r->u64(v, what) && require_non_default(r, *v == 0, what);
  };
  if (!read_u64_field(kLogTerm, &m->log_term, "log_term") ||
      !read_u64_field(kIndex, &m->index, "index")) {
    return false;
  }
  if (fields & kEntries) {
    uint32_t n = 0;
    if (!r->count(&n, kMinEntrySize, "entry count") ||
        !require_non_default(r, n == 0, "entry count")) {
      return false;
    }
    m->entries.resize(n);
    for (uint32_t i = 0; i < n; ++i) {
      Entry& e = m->entries[i];
      uint8_t entry_type = 0;
      if (!r->u64(&e.index, "entry index") || !r->u64(&e.term, "entry term") ||
          !r->u8(&entry_type, "entry type")) {
        return false;
      }
      if (!is_entry_type(entry_type)) {
        return r->fail(DecodeError::kBadField, "entry " + std::to_string(i) + ": unknown type " +
                                                   std::to_string(entry_type));
      }
      e.type = static_cast<EntryType>(entry_type);
      if (!r->entry_data(&e.data, i)) return false;
    }
  }
  if (!read_u64_field(kCommit, &m->commit, "commit") ||
      !read_u64_field(kRejectHint, &m->reject_hint, "reject_hint")) {
    return false;
  }
  if (fields & kContext) {
    if (!r->bytes(&m->context, "context") ||
        !require_non_default(r, m->context.empty(), "context")) {
      return false;
    }
  }
  if (!read_u64_field(kLeaseTick, &m->lease_tick, "lease_tick")) return false;
  if (fields & kSnapshot) {
    if (!r->u64(&m->snapshot.index, "snapshot index") ||
        !r->u64(&m->snapshot.term, "snapshot term") ||
        !read_node_ids(r, &m->snapshot.conf.voters, "snapshot voters") ||
        !read_node_ids(r, &m->snapshot.conf.learners, "snapshot learners") ||
        !require_non_default(r, m->snapshot == SnapshotMeta{}, "snapshot")) {
      return false;
    }
  }
  if (!read_u64_field(kOffset, &m->offset, "offset") ||
      !read_u64_field(kSnapshotSize, &m->snapshot_size, "snapshot_size")) {
    return false;
  }
  if (fields & kData) {
    if (!r->bytes(&m->data, "snapshot data") ||
        !require_non_default(r, m->data.empty(), "snapshot data")) {
      return false;
    }
  }
  return true;
}

void write_handshake_payload(const Handshake& h, std::string* out) {
  put_u32(out, h.protocol_version);
  put_u64(out, h.node_id);
  put_bytes(out, h.cluster_id, "cluster id");
  put_bytes(out, h.nonce, "nonce");
  put_bytes(out, h.proof, "proof");
}

bool read_handshake_payload(Reader* r, Handshake* h) {
  *h = Handshake{};
  return r->u32(&h->protocol_version, "protocol_version") && r->u64(&h->node_id, "node_id") &&
         r->bytes(&h->cluster_id, "cluster id") && r->bytes(&h->nonce, "nonce") &&
         r->bytes(&h->proof, "proof");
}

std::string frame_type_name(uint8_t type) {
  if (type == kHandshakeFrameType) return "Handshake";
  if (is_message_type(type)) return to_string(static_cast<MessageType>(type));
  return "type " + std::to_string(type);
}

// Decodes the payload of a frame whose header and checksum were verified.
DecodeError decode_payload(uint8_t type, std::string_view payload, Frame* frame,
                           std::string* detail) {
  Reader r(payload);
  if (type == kHandshakeFrameType) {
    Handshake h;
    read_handshake_payload(&r, &h);
    if (r.ok()) *frame = std::move(h);
  } else {
    Message m;
    read_message_payload(&r, static_cast<MessageType>(type), &m);
    if (r.ok()) *frame = std::move(m);
  }
  if (r.ok() && r.remaining() != 0) {
    r.fail(DecodeError::kTrailingBytes,
           std::to_string(r.remaining()) + " bytes left after the last field");
  }
  if (!r.ok()) *detail = r.detail();
  return r.error();
}

}  // namespace

void encode_message(const Message& message, std::string* out) {
  size_t estimate = kFrameOverhead + 64 + message.context.size() + message.data.size() +
                    16 * (message.snapshot.conf.voters.size() + 1);
  for (const Entry& e : message.entries)
    estimate += kMinEntrySize + e.data.size();
  out->reserve(out->size() + estimate);
  encode_framed(static_cast<uint8_t>(message.type), out,
                [&](std::string* o) { write_message_payload(message, o); });
}

void encode_handshake(const Handshake& handshake, std::string* out) {
  encode_framed(kHandshakeFrameType, out,
                [&](std::string* o) { write_handshake_payload(handshake, o); });
}

void encode_frame(const Frame& frame, std::string* out) {
  if (const auto* h = std::get_if<Handshake>(&frame)) {
    encode_handshake(*h, out);
  } else {
    encode_message(std::get<Message>(frame), out);
  }
}

const char* to_string(DecodeError error) {
  switch (error) {
    case DecodeError::kNone:
      return "no error";
    case DecodeError::kBadMagic:
      return "bad magic";
    case DecodeError::kUnsupportedVersion:
      return "unsupported wire version";
    case DecodeError::kUnknownType:
      return "unknown frame type";
    case DecodeError::kFrameTooLarge:
      return "frame too large";
    case DecodeError::kChecksumMismatch:
      return "checksum mismatch";
    case DecodeError::kTruncatedField:
      return "truncated field";
    case DecodeError::kCountTooLarge:
      return "count exceeds payload";
    case DecodeError::kTrailingBytes:
      return "trailing bytes in payload";
    case DecodeError::kBadField:
      return "bad field";
  }
  return "unknown error";
}

FrameDecoder::FrameDecoder(size_t max_frame_size) : max_frame_size_(max_frame_size) {}

FrameDecoder::Status FrameDecoder::fail(DecodeError error, std::string detail) {
  error_ = error;
  error_text_ = "raft wire: " + std::string(to_string(error)) + " in frame at stream offset " +
                std::to_string(stream_offset_) + ": " + detail;
  // Nothing after a bad frame can be trusted; free the memory now.
  std::string().swap(buf_);
  start_ = 0;
  return Status::kError;
}

void FrameDecoder::feed(std::string_view bytes) {
  if (error_ != DecodeError::kNone) return;
  buf_.append(bytes);
  // Judge a new frame's header at once, so an oversized or foreign frame is
  // refused before its payload is buffered.
  check_header();
}

bool FrameDecoder::check_header() {
  const size_t have = buffered();
  const char* h = buf_.data() + start_;
  for (size_t i = 0; i < sizeof(kMagic) && i < have; ++i) {
    if (h[i] != kMagic[i]) {
      std::ostringstream text;
      text << "expected \"KVR\", byte " << i << " is 0x" << std::hex
           << static_cast<unsigned>(static_cast<unsigned char>(h[i]));
      fail(DecodeError::kBadMagic, text.str());
      return false;
    }
  }
  if (have > 3 && static_cast<uint8_t>(h[3]) != kWireVersion) {
    fail(DecodeError::kUnsupportedVersion,
         "version " + std::to_string(static_cast<unsigned char>(h[3])) + ", this node speaks " +
             std::to_string(kWireVersion));
    return false;
  }
  if (have > 4) {
    const uint8_t type = static_cast<uint8_t>(h[4]);
    if (type != kHandshakeFrameType && !is_message_type(type)) {
      fail(DecodeError::kUnknownType, "frame type byte " + std::to_string(type));
      return false;
    }
  }
  if (have >= kHeaderSize) {
    const uint64_t length = get_u32_at(h + 5);
    if (length + kFrameOverhead > max_frame_size_) {
      fail(DecodeError::kFrameTooLarge,
           frame_type_name(static_cast<uint8_t>(h[4])) + " payload of " + std::to_string(length) +
               " bytes exceeds the maximum frame size of " + std::to_string(max_frame_size_));
      return false;
    }
  }
  return true;
}

FrameDecoder::Status FrameDecoder::next(Frame* frame) {
  if (error_ != DecodeError::kNone) return Status::kError;
  if (!check_header()) return Status::kError;
  if (buffered() < kHeaderSize) return Status::kNeedMore;
  const char* h = buf_.data() + start_;
  const uint8_t type = static_cast<uint8_t>(h[4]);
  const size_t length = get_u32_at(h + 5);
  const size_t total = kFrameOverhead + length;  // <= max_frame_size_ (check_header)
  if (buffered() < total) return Status::kNeedMore;

  const uint64_t expected = get_u64_at(h + kHeaderSize + length);
  const uint64_t actual = XXH3_64bits(h, kHeaderSize + length);
  if (expected != actual) {
    std::ostringstream text;
    text << frame_type_name(type) << " frame of " << length << " payload bytes: trailer 0x"
         << std::hex << expected << ", computed 0x" << actual;
    return fail(DecodeError::kChecksumMismatch, text.str());
  }
  std::string detail;
  DecodeError error =
      decode_payload(type, std::string_view(h + kHeaderSize, length), frame, &detail);
  if (error != DecodeError::kNone) {
    return fail(error, frame_type_name(type) + " frame of " + std::to_string(length) +
                           " payload bytes: " + detail);
  }
  start_ += total;
  stream_offset_ += total;
  if (start_ == buf_.size()) {
    buf_.clear();
    start_ = 0;
  } else if (start_ >= buf_.size() - start_) {
    // Each byte moved here was preceded by at least one byte consumed since
    // the last compaction: linear in the stream length.
    buf_.erase(0, start_);
    start_ = 0;
  }
  return Status::kFrame;
}

DecodeError decode_one(std::string_view bytes, Frame* frame, std::string* error_text,
                       size_t max_frame_size) {
  FrameDecoder decoder(max_frame_size);
  decoder.feed(bytes);
  FrameDecoder::Status status = decoder.next(frame);
  if (status == FrameDecoder::Status::kError) {
    if (error_text != nullptr) *error_text = decoder.error();
    return decoder.error_code();
  }
  if (status == FrameDecoder::Status::kNeedMore) {
    if (error_text != nullptr) {
      *error_text = "raft wire: truncated frame: " + std::to_string(bytes.size()) + " bytes";
    }
    return DecodeError::kTruncatedField;
  }
  if (decoder.buffered() != 0) {
    if (error_text != nullptr) {
      *error_text = "raft wire: " + std::to_string(decoder.buffered()) + " bytes after the frame";
    }
    return DecodeError::kTrailingBytes;
  }
  return DecodeError::kNone;
}

}  // namespace kvraft::raft::wire
