// src/acl_log.cc — the ACL LOG's grouping and the server's hooks (see
// acl_log.h).
#include "src/acl_log.h"

#include <algorithm>
#include <utility>

#include "src/acl.h"
#include "src/client.h"
#include "src/commands/command_util.h"
#include "src/server.h"

namespace kvraft {

void AclLog::add(std::string_view reason, std::string_view context, std::string_view object,
                 std::string_view username, std::string client_info, int64_t now_ms,
                 int64_t max_len) {
  // Like Redis, look for a duplicate only among the 10 newest entries: the
  // work per denied command stays bounded however long the log is.
  size_t scan = std::min<size_t>(entries_.size(), 10);
  for (size_t i = 0; i < scan; ++i) {
    AclLogEntry& e = entries_[i];
    if (e.reason != reason || e.context != context || e.object != object || e.username != username)
      continue;
    int64_t delta = now_ms - e.updated_ms;
    if (delta < 0) delta = -delta;
    if (delta > kGroupingWindowMs) continue;
    AclLogEntry updated = std::move(e);
    entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(i));
    updated.count++;
    updated.client_info = std::move(client_info);
    updated.updated_ms = now_ms;
    entries_.push_front(std::move(updated));
    return;
  }
  AclLogEntry e;
  e.reason = std::string(reason);
  e.context = std::string(context);
  e.object = std::string(object);
  e.username = std::string(username);
  e.client_info = std::move(client_info);
  e.entry_id = next_entry_id_++;
  e.created_ms = e.updated_ms = now_ms;
  entries_.push_front(std::move(e));
  while (static_cast<int64_t>(entries_.size()) > std::max<int64_t>(max_len, 0))
    entries_.pop_back();
}

namespace {

// Redis's context: "multi" while the client queues a transaction.
std::string_view acl_log_context(const Client& client) {
  return client.txn.in_multi ? "multi" : "toplevel";
}

void record(Server& server, Client& client, std::string_view reason, std::string_view object,
            std::string_view username) {
  server.acl_log().add(reason, acl_log_context(client), object, username,
                       client_info_line(server, client), unix_time_ms(),
                       server.config().acllog_max_len);
}

}  // namespace

void record_acl_denial(Server& server, Client& client, const AclVerdict& v, const CommandSpec& spec,
                       std::span<const std::string_view> argv) {
  if (v.kind != AclVerdict::kRefused || v.reason == AclVerdict::kNone) return;
  // Redis's client-info shows the refused command as cmd=.
  client.last_command = acl_command_fullname(spec, argv);
  record(server, client, v.reason == AclVerdict::kCommand ? "command" : "key", v.object,
         client.authenticated ? std::string_view(client.user) : "default");
}

void record_acl_auth_failure(Server& server, Client& client, std::string_view username,
                             std::string_view object) {
  client.last_command = ascii_lower(object);
  record(server, client, "auth", object, username);
}

}  // namespace kvraft
