// resp/reply.h — building RESP2/RESP3 replies into a byte buffer.
//
// Command handlers describe their answer through ReplyWriter; the writer
// knows the connection's protocol version (2 or 3, switched by HELLO) and
// picks the encoding, so no handler ever branches on the protocol. Replies
// are appended to one growing buffer that the connection flushes in batches:
// a pipeline of N commands costs one write(), not N.
//
// Pure: no sockets, no allocation beyond the output buffer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace kvraft::resp {

// Encodes replies for one connection. Owns the output buffer; the caller
// takes bytes out with buffer()/consume().
class ReplyWriter {
 public:
  explicit ReplyWriter(int protocol = 2) : protocol_(protocol) {}

  // 2 (default) or 3; anything else is a caller bug.
  void set_protocol(int protocol);
  int protocol() const { return protocol_; }

  // "+OK\r\n". `s` must not contain CR or LF (callers pass literals).
  void simple_string(std::string_view s);
  void ok() { simple_string("OK"); }
  // "-ERR ...\r\n". `message` is the whole text after '-', e.g.
  // "ERR wrong number of arguments for 'get' command" or "WRONGTYPE ...".
  // CR/LF inside `message` are replaced by spaces (as Redis does).
  void error(std::string_view message);
  // ":123\r\n"
  void integer(int64_t value);
  // "$3\r\nfoo\r\n"
  void bulk(std::string_view value);
  // The null bulk: "$-1\r\n" in RESP2, "_\r\n" in RESP3.
  void null();
  // The null array: "*-1\r\n" in RESP2, "_\r\n" in RESP3 (e.g. EXEC aborted).
  void null_array();
  // "*N\r\n"; N elements must follow.
  void array_header(int64_t count);
  // RESP3 "%N\r\n" (N key/value pairs follow, 2N elements); RESP2 "*2N\r\n".
  void map_header(int64_t pairs);
  // RESP3 "~N\r\n"; RESP2 "*N\r\n".
  void set_header(int64_t count);
  // RESP3 ">N\r\n"; RESP2 "*N\r\n".
  void push_header(int64_t count);
  // RESP3 ",1.5\r\n"; RESP2 bulk "1.5". Formatted like Redis (%.17g, inf/-inf/nan).
  void double_value(double value);
  // RESP3 "#t\r\n"/"#f\r\n"; RESP2 ":1"/":0".
  void boolean(bool value);
  // RESP3 "=N\r\ntxt:...\r\n" (format is 3 chars, e.g. "txt"); RESP2 plain bulk.
  void verbatim(std::string_view format, std::string_view text);
  // Appends bytes that are already valid RESP (e.g. a reply relayed from the
  // leader, or a reply computed on another replica).
  void raw(std::string_view encoded);

  // Everything written and not yet consumed.
  std::string_view buffer() const { return std::string_view(buf_).substr(start_); }
  size_t size() const { return buf_.size() - start_; }
  bool empty() const { return size() == 0; }
  // Drops the first n bytes of buffer() (they were written to the socket).
  // A drained buffer keeps up to kKeepCapacity bytes of its allocation; a
  // larger one (after a big reply) is freed, so idle connections do not pin
  // memory that maxmemory counts.
  void consume(size_t n);
  void clear();
  static constexpr size_t kKeepCapacity = 64 * 1024;

 private:
  // Appends "<prefix><value>\r\n" (integers and every header).
  void prefixed_int(char prefix, int64_t value);
  void drained();

  std::string buf_;
  size_t start_ = 0;  // bytes before start_ were consumed; compacted lazily
  int protocol_;
};

// The encoded bytes of one error reply (ReplyWriter::error with the default
// protocol; errors look the same in RESP2 and RESP3), for replies made
// before the connection they go to is at hand: a reserved reply slot filled
// later, one refusal for a whole batch of queued commands.
std::string error_reply_bytes(std::string_view message);

}  // namespace kvraft::resp
