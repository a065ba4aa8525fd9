// raft/wire.h — the binary codec for the peer protocol: Raft messages and
// the connection handshake as checksummed frames, and a streaming decoder
// that turns socket bytes back into verified values.
//
// A frame is
//
//   offset  size  field
//   0       3     magic "KVR"
//   3       1     wire version (kWireVersion)
//   4       1     frame type: a MessageType value, or kHandshakeFrameType
//   5       4     payload length N (u32)
//   9       N     payload
//   9+N     8     XXH3-64 of bytes [0, 9+N) (header and payload)
//
// All integers are little-endian and fixed width; strings and lists are a
// u32 length/count followed by their bytes/elements. The payload layouts are
// described next to the encoders in wire.cc. Every Message field is encoded
// (a presence mask skips fields that hold their default value, so a
// heartbeat stays small), hence any Message survives encode → decode
// unchanged. Encodings are canonical: a decoder rejects a field marked
// present with its default value, so decode(x) re-encodes to exactly x.
//
// Pure: bytes in, values out; no sockets. The transport (src/) owns the
// connection and closes it, with FrameDecoder::error() in its log line, when
// the decoder reports an error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "raft/message.h"
#include "raft/types.h"

namespace kvraft::raft::wire {

inline constexpr char kMagic[3] = {'K', 'V', 'R'};
// Bumped whenever a frame or payload layout changes; a peer speaking another
// version is refused (no silent misreading across upgrades).
inline constexpr uint8_t kWireVersion = 2;  // 2: handshake nonce + proof instead of the secret
inline constexpr uint8_t kHandshakeFrameType = 0x80;
inline constexpr size_t kHeaderSize = 9;
inline constexpr size_t kChecksumSize = 8;
inline constexpr size_t kFrameOverhead = kHeaderSize + kChecksumSize;
// Default bound on a whole frame. One log entry may carry a 512 MiB Redis
// bulk (proto-max-bulk-len) plus its command, so the default must admit one
// such entry; the transport may configure less. The decoder never buffers
// more than this for one frame.
inline constexpr size_t kDefaultMaxFrameSize = (512u << 20) + (1u << 20);

// The handshake frames that open every peer connection, before any
// Message. The acceptor speaks first with a challenge (its nonce, no proof);
// the connector answers with its nonce and its proof; the acceptor, having
// verified it, answers with its own proof. A proof is a MAC keyed with the
// cluster's shared secret over both nonces, both node ids, the cluster id
// and the direction, so the secret itself never crosses the network. The
// MAC is computed outside raft/ (src/peer_auth.h): this codec only carries it.
struct Handshake {
  // Nodes of different clusters must never exchange messages; the receiver
  // compares this with its own and closes on mismatch.
  std::string cluster_id;
  NodeId node_id = kNoNode;  // the sender's id
  // The highest peer protocol version the sender speaks (today always
  // kWireVersion); lets a future node pick a version both sides know.
  uint32_t protocol_version = kWireVersion;
  // The sender's random per-connection nonce.
  std::string nonce;
  // The sender's proof of the shared secret; empty in the challenge.
  std::string proof;

  bool operator==(const Handshake&) const = default;
};

// What one frame decodes to.
using Frame = std::variant<Handshake, Message>;

// Appends one complete frame to *out. Throws std::length_error if the payload
// would exceed the u32 length field (4 GiB); callers bound their batches far
// below that, and the receiver's max frame size.
void encode_message(const Message& message, std::string* out);
void encode_handshake(const Handshake& handshake, std::string* out);
// Appends the frame for either alternative of `frame`.
void encode_frame(const Frame& frame, std::string* out);

// Why a stream was rejected. Every error is final for the connection.
enum class DecodeError {
  kNone,
  kBadMagic,            // the first bytes of a frame are not "KVR"
  kUnsupportedVersion,  // wire version other than kWireVersion
  kUnknownType,         // frame type byte names no message type
  kFrameTooLarge,       // header + length + checksum exceeds max_frame_size
  kChecksumMismatch,    // XXH3 of header+payload differs from the trailer
  kTruncatedField,      // a field or string runs past the end of the payload
  kCountTooLarge,       // an element count exceeds what the remaining bytes can hold
  kTrailingBytes,       // payload bytes left over after the last field
  kBadField,            // unknown presence bit, bad enum value, non-canonical field
};

const char* to_string(DecodeError error);

// Reassembles frames from a byte stream that arrives in arbitrary pieces.
//
// Usage: after every read, feed() the bytes, then call next() until it
// returns kNeedMore (or kError: close the connection, logging error()).
// Memory: the decoder holds at most one incomplete frame, which it bounds by
// max_frame_size as soon as its 9-byte header is in (before any payload is
// buffered), plus the bytes of the current feed(). Lengths and counts read
// from the stream are always checked against the bytes actually present
// before anything is reserved, and a payload is decoded only after its
// checksum matched, so a decoded Message's memory is proportional to the
// verified frame that carried it.
class FrameDecoder {
 public:
  enum class Status { kFrame, kNeedMore, kError };

  explicit FrameDecoder(size_t max_frame_size = kDefaultMaxFrameSize);

  // Appends received bytes. Ignored once the decoder is in error.
  void feed(std::string_view bytes);
  // Decodes the next complete frame into *frame (kFrame), or reports that
  // more bytes are needed, or that the stream is bad (sticky).
  Status next(Frame* frame);

  DecodeError error_code() const { return error_; }
  // One line for the transport's log: what failed, where in the stream
  // (byte offset of the frame), and the frame's type and length when known.
  const std::string& error() const { return error_text_; }
  // Bytes received but not yet returned as frames.
  size_t buffered() const { return buf_.size() - start_; }
  // Heap bytes of the receive buffer (its capacity outlives the frames).
  uint64_t heap_bytes() const { return string_heap_bytes(buf_); }
  // Stream offset of the first byte not yet returned as part of a frame.
  uint64_t stream_offset() const { return stream_offset_; }
  size_t max_frame_size() const { return max_frame_size_; }

 private:
  Status fail(DecodeError error, std::string detail);
  // Checks the header bytes present so far (magic as soon as it arrives,
  // the rest once all 9 bytes are in). Returns false after fail().
  bool check_header();

  size_t max_frame_size_;
  std::string buf_;
  // Bytes before start_ were returned as frames; compacted lazily so a
  // stream of small frames costs linear time.
  size_t start_ = 0;
  uint64_t stream_offset_ = 0;  // stream position of buf_[start_]
  DecodeError error_ = DecodeError::kNone;
  std::string error_text_;
};

// Decodes exactly one frame that fills `bytes` (no more, no less); for tests
// and tools. Returns kNone and sets *frame on success; a partial frame is
// kTruncatedField and bytes after the frame are kTrailingBytes.
DecodeError decode_one(std::string_view bytes, Frame* frame, std::string* error_text = nullptr,
                       size_t max_frame_size = kDefaultMaxFrameSize);

}  // namespace kvraft::raft::wire
