// src/commands/proxy_commands.cc — KVRAFT.PROXY-AUTH and KVRAFT.PROXY-AS,
// the leader's side of a follower's proxy connection (see src/proxy_auth.h),
// and the rule for which connections may run internal commands.
#include <string>

#include "src/client.h"
#include "src/command.h"
#include "src/commands/command_util.h"
#include "src/config.h"
#include "src/leader_proxy.h"
#include "src/log.h"
#include "src/peer_auth.h"
#include "src/proxy_auth.h"
#include "src/replication.h"
#include "src/server.h"

namespace kvraft {

namespace {

// Longest proxy nonce accepted (hex): more than make_peer_nonce gives, and
// small enough that a hostile client cannot make us hash much.
constexpr size_t kMaxProxyNonce = 128;

// KVRAFT.PROXY-AUTH CHALLENGE | <node-id> <proxy-nonce> <proof>
void proxy_auth_command(ExecContext& ctx) {
  Client& client = *ctx.client;
  const Config& config = ctx.server->config();
  if (ctx.argv.size() == 2 && iequals(ctx.argv[1], "CHALLENGE")) {
    client.proxy_challenge = hex_encode(make_peer_nonce());
    ctx.reply.bulk(client.proxy_challenge);
    return;
  }
  if (ctx.argv.size() != 4) {
    ctx.reply.error(wrong_arity_error(ctx.spec->name));
    return;
  }
  // One answer per challenge, right or wrong: a guess costs a round trip.
  std::string challenge = std::move(client.proxy_challenge);
  client.proxy_challenge.clear();
  if (config.cluster_secret.empty()) {
    ctx.reply.error(
        "ERR this node has no cluster-secret: a proxy connection cannot prove it is a cluster "
        "member");
    return;
  }
  if (challenge.empty()) {
    ctx.reply.error("ERR no proxy challenge outstanding: send KVRAFT.PROXY-AUTH CHALLENGE first");
    return;
  }
  int64_t id = 0;
  if (!storage::string2ll(ctx.argv[1], &id) || id <= 0) {
    ctx.reply.error("ERR invalid node id");
    return;
  }
  bool member = false;
  const Replication& replication = ctx.server->replication();
  for (const auto& p : replication.peers())
    member = member || (p.id == static_cast<raft::NodeId>(id) && p.id != replication.self_id());
  std::string_view nonce = ctx.argv[2];
  std::string expected = hex_encode(proxy_proof(config.cluster_secret, config.cluster_id,
                                                static_cast<raft::NodeId>(id), challenge,
                                                nonce.substr(0, kMaxProxyNonce)));
  if (!member || nonce.size() > kMaxProxyNonce || !peer_proof_matches(expected, ctx.argv[3])) {
    KV_LOG_WARNING("Refused a proxy connection from %s claiming to be node %lld: %s",
                   client.addr.c_str(), static_cast<long long>(id),
                   member ? "wrong proof" : "not a member");
    ctx.reply.error("ERR proxy authentication failed");
    return;
  }
  client.proxy_member = static_cast<uint64_t>(id);
  client.name = std::string(LeaderProxy::kClientName);
  // No command runs until KVRAFT.PROXY-AS names a user: "" is nobody's name.
  client.authenticated = true;
  client.user.clear();
  ctx.reply.ok();
}

// KVRAFT.PROXY-AS <user> <db>: the following commands of this proxy
// connection run as `user` in database `db`. The user is not looked up here:
// the permission check of each command does that against this node's ACL,
// so a user deleted or changed since the follower checked is refused there.
void proxy_as_command(ExecContext& ctx) {
  Client& client = *ctx.client;
  if (client.proxy_member == 0) {  // Server::execute never lets it get here
    ctx.reply.error("ERR not a verified proxy connection");
    return;
  }
  int64_t db = 0;
  if (!parse_ll(ctx, ctx.argv[2], &db)) return;
  if (!ctx.keyspace.valid_db(static_cast<int>(db)) || db < 0) {
    ctx.reply.error(kErrDbIndexOutOfRange);
    return;
  }
  client.user = std::string(ctx.argv[1]);
  client.authenticated = true;
  client.db = static_cast<int>(db);
  ctx.reply.ok();
}

}  // namespace

bool internal_command_permitted(const Client& client, const CommandSpec& spec) {
  if (spec.handler == proxy_auth_command) return true;
  if (spec.handler == proxy_as_command) return client.proxy_member != 0;
  return client.proxy_member != 0 || client.name == LeaderProxy::kClientName;
}

void register_proxy_commands(CommandTable& t) {
  constexpr uint32_t kFlags =
      kCmdConnection | kCmdInternal | kCmdNoAuth | kCmdFast | kCmdStale | kCmdLoading;
  t.add({.name = "kvraft.proxy-auth",
         .arity = -2,
         .flags = kFlags,
         .handler = proxy_auth_command,
         .group = "connection",
         .since = "0.1.0",
         .summary = "Proves a follower's proxy connection knows the cluster secret (internal)."});
  t.add({.name = "kvraft.proxy-as",
         .arity = 3,
         .flags = kFlags,
         .handler = proxy_as_command,
         .group = "connection",
         .since = "0.1.0",
         .summary = "Runs a proxy connection's next commands as a user and database (internal)."});
}

}  // namespace kvraft
