// src/commands/transfer_commands.cc — commands that move Raft leadership:
// RAFT.TRANSFER-LEADER, and SHUTDOWN, which on a leader hands leadership
// over before the process exits (src/leader_transfer.h does the work).
//
// Both reply late: the handler reserves a reply slot in the client's queue
// (through LeaderTransfer) and writes nothing now; the slot is filled when
// the transfer ends, so the connection's later replies still queue behind
// it in order.
#include <string>

#include "src/client.h"
#include "src/command.h"
#include "src/commands/command_util.h"
#include "src/leader_transfer.h"
#include "src/log.h"
#include "src/replication.h"
#include "src/server.h"

namespace kvraft {

// RAFT.TRANSFER-LEADER [<node id>]: hands leadership to that voter, or to
// the most up-to-date reachable voter; +OK once this node sees the new
// leader. Accepted on any node: a follower sends it to the leader, as it
// does with writes (or answers -MOVED in redirect mode).
void raft_transfer_leader_command(ExecContext& ctx) {
  if (ctx.argv.size() > 2) {
    ctx.reply.error(wrong_arity_error("raft.transfer-leader"));
    return;
  }
  raft::NodeId target = raft::kNoNode;
  if (ctx.argv.size() == 2) {
    int64_t id = 0;
    if (!storage::string2ll(ctx.argv[1], &id) || id <= 0) {
      ctx.reply.error("ERR invalid node id '" + std::string(ctx.argv[1].substr(0, 64)) + "'");
      return;
    }
    target = static_cast<raft::NodeId>(id);
  }
  Replication& repl = ctx.server->replication();
  if (!repl.is_leader()) {
    repl.forward_to_leader(*ctx.client, *ctx.spec, resp::Argv(ctx.argv.begin(), ctx.argv.end()));
    return;
  }
  std::string err = repl.leader_transfer().request(target, *ctx.client);
  if (!err.empty()) ctx.reply.error(err);
}

// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT], as Redis 7. The Raft log is
// durable, so nothing must be saved; SAVE writes a snapshot first (an error
// cancels the shutdown unless FORCE). A leader first hands leadership to
// the most up-to-date voter (up to two election timeouts, like Redis waiting
// for its replicas) unless NOW; ABORT cancels a shutdown still waiting.
void shutdown_command(ExecContext& ctx) {
  bool nosave = false, save = false, now = false, force = false, abort = false;
  for (size_t i = 1; i < ctx.argv.size(); ++i) {
    auto a = ctx.argv[i];
    if (iequals(a, "NOSAVE")) {
      nosave = true;
    } else if (iequals(a, "SAVE")) {
      save = true;
    } else if (iequals(a, "NOW")) {
      now = true;
    } else if (iequals(a, "FORCE")) {
      force = true;
    } else if (iequals(a, "ABORT")) {
      abort = true;
    } else {
      ctx.reply.error(kErrSyntax);
      return;
    }
  }
  if ((abort && ctx.argv.size() > 2) || (nosave && save)) {
    ctx.reply.error(kErrSyntax);
    return;
  }
  Replication& repl = ctx.server->replication();
  LeaderTransfer& transfer = repl.leader_transfer();
  if (abort) {
    if (transfer.abort_shutdown())
      ctx.reply.ok();
    else
      ctx.reply.error("ERR No shutdown in progress.");
    return;
  }
  if (save) {
    std::string error;
    if (!repl.save_now(&error)) {
      KV_LOG_WARNING("SHUTDOWN: error saving the snapshot: %s", error.c_str());
      if (!force) {
        ctx.reply.error("ERR Errors trying to SHUTDOWN. Check logs.");
        return;
      }
    }
  }
  if (!now && transfer.shutdown_after_handover(*ctx.client)) return;
  ctx.server->request_shutdown();
}

void register_transfer_commands(CommandTable& t) {
  constexpr uint32_t kConn = kCmdConnection;
  t.add({.name = "raft.transfer-leader",
         .arity = -1,
         .flags = kConn | kCmdAdmin,
         .handler = raft_transfer_leader_command,
         .group = "server",
         .since = "0.1.0",
         .summary = "Hands Raft leadership to a voter (by default the most up-to-date one).",
         .syntax = "[node-id]"});
  t.add({.name = "shutdown",
         .arity = -1,
         .flags = kConn | kCmdAdmin | kCmdStale | kCmdLoading,
         .handler = shutdown_command,
         .group = "server",
         .since = "1.0.0",
         .summary = "Hands over Raft leadership, then shuts down the server.",
         .syntax = "[NOSAVE|SAVE] [NOW] [FORCE] [ABORT]"});
}

}  // namespace kvraft
