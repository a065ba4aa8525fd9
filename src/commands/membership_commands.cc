// src/commands/membership_commands.cc — RAFT.NODE ADD / REMOVE (online
// membership changes) and RAFT.NODES (the membership in force).
//
// RAFT.NODE is an admin connection command whose work is a conf-change
// proposal: the handler only parses and validates the arguments; the
// replication driver proposes the change on the leader (or routes the
// command to it from a follower) and answers once the change is applied
// (src/replication_membership.cc).
#include <charconv>

#include "src/client.h"
#include "src/command.h"
#include "src/commands/command_util.h"
#include "src/replication.h"
#include "src/server.h"

namespace kvraft {

namespace {

bool parse_node_id(std::string_view s, raft::NodeId* out) {
  raft::NodeId v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v == 0) return false;
  *out = v;
  return true;
}

}  // namespace

// RAFT.NODE ADD <id> <host:raft-port> [<client-port>] [TLS-PORT <port>] [LEARNER]
// RAFT.NODE REMOVE <id>
void raft_node_command(ExecContext& ctx) {
  const auto& argv = ctx.argv;
  Replication::MembershipRequest req;
  auto sub = argv[1];
  if (iequals(sub, "ADD") && argv.size() >= 4 && argv.size() <= 8) {
    req.add = true;
    if (!parse_node_id(argv[2], &req.id)) {
      ctx.reply.error("ERR invalid node id '" + std::string(argv[2].substr(0, 64)) +
                      "': expected a positive integer");
      return;
    }
    if (!parse_host_port(argv[3], &req.info.host, &req.info.raft_port)) {
      ctx.reply.error("ERR invalid raft address '" + std::string(argv[3].substr(0, 128)) +
                      "': expected host:raft-port");
      return;
    }
    auto parse_port = [](std::string_view text, int* out) {
      int port = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
      if (ec != std::errc() || p != text.data() + text.size() || port <= 0 || port > 65535)
        return false;
      *out = port;
      return true;
    };
    for (size_t i = 4; i < argv.size(); ++i) {
      if (iequals(argv[i], "LEARNER")) {
        req.info.intent = MemberIntent::kLearner;
      } else if (iequals(argv[i], "TLS-PORT") && i + 1 < argv.size() &&
                 parse_port(argv[i + 1], &req.info.tls_port)) {
        ++i;
      } else if (i == 4 && parse_port(argv[i], &req.info.client_port)) {
      } else {
        ctx.reply.error(kErrSyntax);
        return;
      }
    }
  } else if (iequals(sub, "REMOVE") && argv.size() == 3) {
    req.add = false;
    if (!parse_node_id(argv[2], &req.id)) {
      ctx.reply.error("ERR invalid node id '" + std::string(argv[2].substr(0, 64)) +
                      "': expected a positive integer");
      return;
    }
  } else if (iequals(sub, "ADD") || iequals(sub, "REMOVE")) {
    ctx.reply.error(kErrSyntax);
    return;
  } else {
    ctx.reply.error("ERR unknown subcommand '" + std::string(sub.substr(0, 128)) +
                    "'. Try RAFT.NODE ADD or RAFT.NODE REMOVE.");
    return;
  }
  resp::Argv args(argv.begin(), argv.end());
  std::string err = ctx.server->replication().change_membership(*ctx.client, *ctx.spec, args, req);
  if (!err.empty()) ctx.reply.error(err);
}

// RAFT.NODES: one array per member of the membership in force on this node:
// [id, "host:raft-port", client-port, "voter"|"learner", match-index,
// is-leader]. The match index is the leader's view (0 where unknown).
void raft_nodes_command(ExecContext& ctx) {
  auto views = ctx.server->replication().member_views();
  ctx.reply.array_header(static_cast<int64_t>(views.size()));
  for (const auto& v : views) {
    ctx.reply.array_header(6);
    ctx.reply.integer(static_cast<int64_t>(v.id));
    ctx.reply.bulk(v.host + ":" + std::to_string(v.raft_port));
    ctx.reply.integer(v.client_port);
    ctx.reply.bulk(v.voter ? "voter" : "learner");
    ctx.reply.integer(static_cast<int64_t>(v.match));
    ctx.reply.integer(v.leader ? 1 : 0);
  }
}

void register_membership_commands(CommandTable& t) {
  t.add({.name = "raft.node",
         .arity = -3,
         .flags = kCmdConnection | kCmdAdmin,
         .handler = raft_node_command,
         .group = "server",
         .since = "0.1.0",
         .summary = "Adds or removes a cluster member (a replicated membership change).",
         .syntax = "ADD|REMOVE id [host:raft-port] [client-port] [TLS-PORT port] [LEARNER]"});
  t.add({.name = "raft.nodes",
         .arity = 1,
         .flags = kCmdConnection | kCmdStale | kCmdLoading,
         .handler = raft_nodes_command,
         .group = "server",
         .since = "0.1.0",
         .summary = "Lists the cluster members: id, address, client port, role, match index, "
                    "leader."});
}

}  // namespace kvraft
