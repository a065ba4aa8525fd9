// src/client.h — one client connection: its socket, query buffer, parser,
// reply buffer and the connection state commands see (selected db, name,
// protocol, authentication).
//
// Reads are parsed and executed as they arrive; replies accumulate in the
// ReplyWriter and are flushed once per event-loop iteration for every
// client that has output (Server's check handle), so a pipeline of N
// commands costs one write. Order is preserved because commands of one
// connection run strictly one after another.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "resp/parser.h"
#include "resp/reply.h"
#include "src/transaction.h"

namespace kvraft {

class Server;
class TlsSession;

// A growable byte buffer for incoming requests: bytes in [begin_, end_) are
// unparsed. Reads append at end_; parsed commands are dropped from the front.
class QueryBuffer {
 public:
  // Space for at least `min_free` more bytes at the end (compacting or growing).
  void reserve_tail(size_t min_free);
  char* tail() { return data_.get() + end_; }
  size_t tail_capacity() const { return capacity_ - end_; }
  void commit(size_t n) { end_ += n; }
  std::string_view unparsed() const { return {data_.get() + begin_, end_ - begin_}; }
  void consume(size_t n) { begin_ += n; }
  size_t size() const { return end_ - begin_; }
  size_t capacity() const { return capacity_; }
  // Returns memory to the allocator when the buffer is idle (nothing unparsed).
  void shrink_if_idle();

 private:
  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
  size_t begin_ = 0;  // invariant: begin_ <= end_ <= capacity_
  size_t end_ = 0;
};

class Client {
 public:
  Client(Server* server, uint64_t id);
  ~Client();

  Server* server() const { return server_; }
  uint64_t id() const { return id_; }
  uv_tcp_t* handle() { return &handle_; }

  // Connection state visible to commands.
  int db = 0;
  bool authenticated = false;
  std::string user = "default";  // the ACL user once authenticated (src/acl.h)
  std::string name;
  std::string lib_name;
  std::string lib_ver;
  std::string addr;   // "ip:port" of the peer
  std::string laddr;  // "ip:port" of our end
  std::string last_command = "NULL";
  int64_t created_ms = 0;
  int64_t last_interaction_ms = 0;
  // Set by QUIT or a protocol error: flush what is buffered, then close.
  bool close_after_reply = false;
  // MULTI / EXEC / WATCH state (src/transaction.h).
  TransactionState txn;
  // On the leader, a follower's proxy connection that proved it knows the
  // cluster secret (KVRAFT.PROXY-AUTH, src/proxy_auth.h): the member's node
  // id, 0 for every other connection. Such a connection runs each command as
  // the user its last KVRAFT.PROXY-AS named (`user`), and is never closed
  // because that user went away: its commands are refused instead.
  uint64_t proxy_member = 0;
  // The challenge KVRAFT.PROXY-AUTH CHALLENGE gave out; cleared by the
  // answer, right or wrong, so every proof needs a fresh challenge.
  std::string proxy_challenge;

  resp::ReplyWriter reply;
  resp::RequestParser parser;
  QueryBuffer query;

  // --- replies that wait ------------------------------------------------
  // A command answered later (a write waiting for commit, a read waiting for
  // its barrier, a command forwarded to the leader) reserves a slot; every
  // reply after it queues behind it, so the connection's replies stay in
  // request order. Invariant: slots are in increasing `seq` order and the
  // front slot is never ready (ready front slots move into `reply` at once).
  struct PendingReply {
    uint64_t seq = 0;
    bool ready = false;
    std::string bytes;
  };
  std::deque<PendingReply> pending_replies;
  // Bytes held by ready slots in pending_replies, plus read results computed
  // but still waiting for their barrier (Replication::run_read): output the
  // client has not taken yet, for the output buffer limit.
  size_t pending_reply_bytes = 0;
  uint64_t next_reply_seq = 1;
  // The newest log index this client's writes were proposed at: its later
  // reads wait until it is applied (read-your-writes, as Redis gives).
  uint64_t last_write_index = 0;
  // Follower reads (src/follower_reads.cc), which keep a connection's
  // commands in order across the two ways a follower serves them: the
  // reply slot of its newest command forwarded to the leader (0: none),
  // the id of the read batch holding its newest local read (0: none), and
  // how many of its commands wait to be forwarded until its local reads
  // have their read index.
  uint64_t last_proxied_slot = 0;
  uint64_t follower_read_batch = 0;
  uint32_t deferred_forwards = 0;

  bool has_pending_replies() const { return !pending_replies.empty(); }
  // Whether slot `seq` was reserved and is not filled yet.
  bool reply_slot_waiting(uint64_t seq) const {
    if (pending_replies.empty() || seq < pending_replies.front().seq) return false;
    size_t pos = seq - pending_replies.front().seq;
    return pos < pending_replies.size() && !pending_replies[pos].ready;
  }
  // Reserves the next reply slot and returns its sequence number.
  uint64_t reserve_reply();
  // Fills slot `seq` with encoded reply bytes and moves every ready slot at
  // the front into `reply`. Returns true if bytes became ready to send.
  // Unknown or already-filled slots are ignored (false).
  bool fill_reply(uint64_t seq, std::string_view bytes);
  // Runs `produce` to write an immediate reply: straight into `reply` when
  // nothing is waiting, otherwise into a ready slot behind the waiting ones.
  template <typename Fn>
  void reply_in_order(Fn&& produce) {
    if (reply_capture) {
      resp::ReplyWriter tmp(reply.protocol());
      produce(tmp);
      reply_capture->append(tmp.buffer());
      return;
    }
    if (pending_replies.empty()) {
      produce(reply);
      return;
    }
    resp::ReplyWriter tmp(reply.protocol());
    produce(tmp);
    pending_replies.push_back({next_reply_seq++, true, std::string(tmp.buffer())});
    pending_reply_bytes += pending_replies.back().bytes.size();
  }

  // Set on connections accepted on tls-port: the socket carries TLS records,
  // `query` and `reply` hold plaintext (see src/tls.h).
  std::unique_ptr<TlsSession> tls;
  // Set only while the transaction layer hands a command to Replication
  // with a reply slot it reserved earlier (src/transaction.cc): the next
  // reserve_reply() returns this slot instead of a new one, and immediate
  // replies go to *reply_capture instead of the reply queue.
  uint64_t preassigned_reply_slot = 0;
  std::string* reply_capture = nullptr;
  // When the output first went over the soft output buffer limit; 0 while
  // under it (client-output-buffer-limit, src/client_limits.h).
  int64_t obuf_soft_limit_since_ms = 0;

  // Output not yet accepted by the kernel that libuv is writing for us.
  std::string write_in_flight;
  bool writing = false;
  bool closing = false;
  // True while the client sits on the server's pending-flush list.
  bool flush_pending = false;
  uv_write_t write_req;

 private:
  Server* server_;
  uint64_t id_;
  uv_tcp_t handle_;
};

}  // namespace kvraft
