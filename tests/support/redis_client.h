// tests/support/redis_client.h — a small synchronous Redis client for
// integration tests, on hiredis (header-only so unit tests need not link
// hiredis). Replies are turned into plain values that are easy to assert on,
// and raw_exchange() speaks bytes for protocol-level tests.
#pragma once

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace kvraft::test {

struct Reply {
  enum class Type { kStatus, kError, kInteger, kString, kNil, kArray } type = Type::kNil;
  std::string str;  // status, error or bulk text
  long long integer = 0;
  std::vector<Reply> elements;

  bool is_error() const { return type == Type::kError; }
  // A compact rendering for assertions: OK, (error) ERR ..., (integer) 3,
  // (nil), the bulk text itself, or [a, b, (nil)].
  std::string render() const {
    switch (type) {
      case Type::kStatus:
        return str;
      case Type::kError:
        return "(error) " + str;
      case Type::kInteger:
        return "(integer) " + std::to_string(integer);
      case Type::kString:
        return str;
      case Type::kNil:
        return "(nil)";
      case Type::kArray: {
        std::string out = "[";
        for (size_t i = 0; i < elements.size(); ++i)
          out += (i ? ", " : "") + elements[i].render();
        return out + "]";
      }
    }
    return "?";
  }
};

inline Reply convert_reply(const redisReply* r) {
  Reply out;
  if (!r) throw std::runtime_error("connection lost");
  switch (r->type) {
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_NIL:
      out.type = Reply::Type::kNil;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::kArray;
      for (size_t i = 0; i < r->elements; ++i)
        out.elements.push_back(convert_reply(r->element[i]));
      break;
    default:
      throw std::runtime_error("unexpected reply type " + std::to_string(r->type));
  }
  return out;
}

class RedisConnection {
 public:
  explicit RedisConnection(int port, const std::string& host = "127.0.0.1") {
    struct timeval tv = {10, 0};
    ctx_ = redisConnectWithTimeout(host.c_str(), port, tv);
    if (!ctx_ || ctx_->err)
      throw std::runtime_error("connect to " + host + ":" + std::to_string(port) + ": " +
                               (ctx_ ? ctx_->errstr : "out of memory"));
    redisSetTimeout(ctx_, tv);
  }
  ~RedisConnection() {
    if (ctx_) redisFree(ctx_);
  }
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Sends one command (binary-safe arguments) and waits for its reply.
  Reply cmd(const std::vector<std::string>& argv) {
    append(argv);
    return read();
  }
  // Shorthand returning the rendered reply.
  std::string run(const std::vector<std::string>& argv) { return cmd(argv).render(); }

  // Pipelining: queue commands, then read their replies in order.
  void append(const std::vector<std::string>& argv) {
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    for (const auto& a : argv) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), ptrs.data(), lens.data()) !=
        REDIS_OK)
      throw std::runtime_error(std::string("append: ") + ctx_->errstr);
  }
  Reply read() {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK)
      throw std::runtime_error(std::string("read: ") + (ctx_->errstr[0] ? ctx_->errstr : "EOF"));
    Reply r = convert_reply(static_cast<redisReply*>(raw));
    freeReplyObject(raw);
    return r;
  }

 private:
  redisContext* ctx_ = nullptr;
};

// The value of `name` in INFO `section` ("" if absent).
inline std::string info_field(RedisConnection& c, const std::string& section,
                              const std::string& name) {
  std::string info = c.run({"INFO", section});
  size_t pos = info.find("\r\n" + name + ":");
  if (pos == std::string::npos) return {};
  pos += name.size() + 3;
  return info.substr(pos, info.find("\r\n", pos) - pos);
}

// Sends `bytes` on a fresh connection and returns everything the server
// sends back until it closes the connection or `quiet` passes with no data.
inline std::string raw_exchange(int port, const std::string& bytes,
                                std::chrono::milliseconds quiet = std::chrono::milliseconds(300),
                                bool* closed_by_server = nullptr) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    throw std::runtime_error("connect failed");
  }
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  std::string out;
  char buf[65536];
  if (closed_by_server) *closed_by_server = false;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    int rc = poll(&p, 1, static_cast<int>(quiet.count()));
    if (rc <= 0) break;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      if (closed_by_server) *closed_by_server = true;
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

}  // namespace kvraft::test
