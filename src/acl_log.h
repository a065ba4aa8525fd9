// src/acl_log.h — the ACL LOG: this node's record of denied commands, denied
// keys and failed authentications, grouped as Redis groups them.
//
// The log is node-local state, exactly like Redis's: it describes what
// clients of *this* node were refused, it is never replicated through the
// Raft log, never written to snapshots and starts empty after a restart.
// (The ACL users it refers to are replicated; see src/acl.h.) A follower
// logs the denials it decides itself; a command it forwards to the leader
// was already checked here, so the leader never sees it refused.
//
// AclLog itself is pure (the caller passes the time and the client
// description) so the grouping rules are unit-testable; record_acl_denial
// and record_acl_auth_failure are the server's hooks.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>

namespace kvraft {

class Server;
class Client;
struct AclVerdict;
struct CommandSpec;

// One entry of ACL LOG (Redis 7.2's fields; 7.0 lacks the last three).
struct AclLogEntry {
  uint64_t count = 1;
  std::string reason;   // "command", "key", "auth"
  std::string context;  // "toplevel", "multi"
  std::string object;   // the command's full name, the key, or "auth"/"hello"
  std::string username;
  std::string client_info;  // CLIENT INFO line of the client, at the last event
  uint64_t entry_id = 0;    // unique per node, in creation order
  int64_t created_ms = 0;
  int64_t updated_ms = 0;  // the last event grouped into this entry
};

class AclLog {
 public:
  // Redis's ACL_LOG_GROUPING_MAX_TIME_DELTA: an event joins an entry with
  // the same reason, context, object and username whose last event is at
  // most this far away (and is among the 10 newest entries).
  static constexpr int64_t kGroupingWindowMs = 60000;

  // Records one event at `now_ms`. A matching entry gets count+1, the new
  // client info and time, and moves to the front; otherwise a new entry is
  // added at the front and the oldest ones dropped beyond `max_len`
  // (acllog-max-len; 0 keeps nothing).
  void add(std::string_view reason, std::string_view context, std::string_view object,
           std::string_view username, std::string client_info, int64_t now_ms, int64_t max_len);
  // ACL LOG RESET. Entry ids keep increasing afterwards, as in Redis.
  void reset() { entries_.clear(); }
  // Newest first.
  const std::deque<AclLogEntry>& entries() const { return entries_; }

 private:
  // Invariant: newest first; entry_id strictly decreases front to back.
  std::deque<AclLogEntry> entries_;
  uint64_t next_entry_id_ = 0;
};

// Logs a command or key denial `v` (a kRefused verdict with a reason) of
// `client` running `spec` with `argv` on its server's ACL LOG. NOAUTH
// refusals (reason kNone) are not logged, as in Redis.
void record_acl_denial(Server& server, Client& client, const AclVerdict& v, const CommandSpec& spec,
                       std::span<const std::string_view> argv);
// Logs a failed AUTH / HELLO AUTH of `client` for `username`; `object` is
// the command name as the client sent it (Redis logs argv[0]).
void record_acl_auth_failure(Server& server, Client& client, std::string_view username,
                             std::string_view object);

}  // namespace kvraft
