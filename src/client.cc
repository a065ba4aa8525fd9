// src/client.cc — client connections: reading, parsing, executing in order,
// and the batched reply flush (see client.h).
#include "src/client.h"

#include <cstring>

#include "src/log.h"
#include "src/server.h"
#include "src/tls.h"

namespace kvraft {

void QueryBuffer::reserve_tail(size_t min_free) {
  if (capacity_ - end_ >= min_free) return;
  size_t live = end_ - begin_;
  if (begin_ > 0 && capacity_ - live >= min_free && live < capacity_ / 2) {
    // Enough room once the parsed prefix is dropped: slide the live bytes down.
    std::memmove(data_.get(), data_.get() + begin_, live);
    begin_ = 0;
    end_ = live;
    return;
  }
  size_t new_capacity = std::max<size_t>(capacity_ * 2, live + min_free);
  new_capacity = std::max<size_t>(new_capacity, 16 * 1024);
  // Uninitialised: every byte is written by a read before it is parsed, and
  // zeroing 16 KB+ per connection is most of the cost of 10k clients' first read.
  std::unique_ptr<char[]> fresh(new char[new_capacity]);
  if (live) std::memcpy(fresh.get(), data_.get() + begin_, live);
  data_ = std::move(fresh);
  capacity_ = new_capacity;
  begin_ = 0;
  end_ = live;
}

void QueryBuffer::shrink_if_idle() {
  if (begin_ == end_) {
    begin_ = end_ = 0;
    // An idle connection keeps no buffer at all: 10k idle clients would
    // otherwise pin 10k buffers (Redis frees idle query buffers too).
    if (capacity_ > 0) {
      data_.reset();
      capacity_ = 0;
    }
  }
}

Client::Client(Server* server, uint64_t id) : server_(server), id_(id) {
  handle_.data = this;
  write_req.data = this;
  parser.set_limits(
      resp::ParserLimits{1024 * 1024, server->config().proto_max_bulk_len, 64 * 1024});
}

Client::~Client() = default;

uint64_t Client::reserve_reply() {
  if (preassigned_reply_slot) {  // reserved earlier (see client.h)
    uint64_t seq = preassigned_reply_slot;
    preassigned_reply_slot = 0;
    return seq;
  }
  uint64_t seq = next_reply_seq++;
  pending_replies.push_back({seq, false, {}});
  return seq;
}

bool Client::fill_reply(uint64_t seq, std::string_view bytes) {
  if (pending_replies.empty() || seq < pending_replies.front().seq) return false;
  size_t pos = seq - pending_replies.front().seq;
  if (pos >= pending_replies.size() || pending_replies[pos].ready) return false;
  pending_replies[pos].ready = true;
  pending_replies[pos].bytes.assign(bytes);
  pending_reply_bytes += bytes.size();
  bool moved = false;
  while (!pending_replies.empty() && pending_replies.front().ready) {
    pending_reply_bytes -= pending_replies.front().bytes.size();
    reply.raw(pending_replies.front().bytes);
    pending_replies.pop_front();
    moved = true;
  }
  return moved;
}

}  // namespace kvraft
