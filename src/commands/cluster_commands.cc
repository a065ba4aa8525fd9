// src/commands/cluster_commands.cc — commands about replication and
// persistence: SAVE, BGSAVE, LASTSAVE, RAFT.INFO and the CLUSTER commands
// that let cluster-aware Redis clients find the leader.
//
// kvraft presents itself to Redis Cluster clients as a cluster whose one
// shard (all 16384 slots) is owned by the current Raft leader, with the
// other members as its replicas; in `follower-mode redirect` followers answer
// -MOVED toward it, so `redis-cli -c` and cluster client libraries follow the
// leader across failovers.
#include <strings.h>

#include <algorithm>

#include "src/client.h"
#include "src/command.h"
#include "src/commands/command_util.h"
#include "src/replication.h"
#include "src/server.h"
#include "storage/keyspace.h"
#include "storage/strconv.h"
#include "storage/value.h"

#include <xxhash.h>

namespace kvraft {

uint16_t key_hash_slot(std::string_view key);

namespace {

std::string node_name(raft::NodeId id) {
  // Redis Cluster node ids are 40 hex characters; derive a stable one.
  char buf[41];
  snprintf(buf, sizeof buf, "%040llx", static_cast<unsigned long long>(id));
  return buf;
}

}  // namespace

// SAVE: writes a snapshot at the applied index in the foreground.
void save_command(ExecContext& ctx) {
  std::string error;
  if (!ctx.server->replication().save_now(&error)) {
    ctx.reply.error("ERR " + error);
    return;
  }
  ctx.reply.ok();
}

// BGSAVE [SCHEDULE]: starts a fork()ed snapshot at the applied index.
void bgsave_command(ExecContext& ctx) {
  if (ctx.argv.size() > 2 || (ctx.argv.size() == 2 && !iequals(ctx.argv[1], "SCHEDULE"))) {
    ctx.reply.error(kErrSyntax);
    return;
  }
  std::string error;
  if (!ctx.server->replication().start_background_snapshot(&error)) {
    ctx.reply.error("ERR " + error);
    return;
  }
  ctx.reply.simple_string("Background saving started");
}

// LASTSAVE: unix time of the last successful snapshot.
void lastsave_command(ExecContext& ctx) {
  ctx.reply.integer(ctx.server->replication().last_save_time());
}

// RAFT.INFO: the INFO raft fields as a map.
void raft_info_command(ExecContext& ctx) {
  auto fields = ctx.server->replication().info_fields();
  ctx.reply.map_header(static_cast<int64_t>(fields.size()));
  for (const auto& [k, v] : fields) {
    ctx.reply.bulk(k);
    ctx.reply.bulk(v);
  }
}

// RAFT.DIGEST: this node's own state, read locally without any barrier —
// [applied index, number of keys, digest]. The digest is a sum of one hash
// per key over (db, key, type, expiry, string value), so it does not depend
// on iteration order and replicas holding the same data agree on it. Tests
// and operators compare it across nodes to check that replicas converged.
void raft_digest_command(ExecContext& ctx) {
  const storage::Keyspace& ks = ctx.server->keyspace();
  uint64_t sum = 0;
  uint64_t keys = 0;
  ks.for_each([&](int db, const storage::Entry* e) {
    char buf[storage::kLongStrSize];
    std::string item = std::to_string(db) + '\0' + std::string(e->key()) + '\0' +
                       std::to_string(static_cast<int>(e->type())) + '\0' +
                       std::to_string(e->expire_at_ms()) + '\0';
    if (e->type() == storage::ValueType::kString) item += storage::entry_string(e, buf);
    sum += XXH3_64bits(item.data(), item.size());
    ++keys;
  });
  char hex[17];
  snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(sum));
  ctx.reply.array_header(3);
  ctx.reply.integer(static_cast<int64_t>(ctx.server->replication().applied_index()));
  ctx.reply.integer(static_cast<int64_t>(keys));
  ctx.reply.bulk(hex);
}

// CLUSTER INFO | MYID | SLOTS | SHARDS | NODES | KEYSLOT key
void cluster_command(ExecContext& ctx) {
  Replication& repl = ctx.server->replication();
  auto sub = ctx.argv[1];
  raft::NodeId leader = repl.leader_id();
  const auto& peers = repl.peers();
  // A client on TLS is told each member's tls-port where one is known (as
  // Redis does with tls-cluster); a plain client the plain port.
  bool on_tls = ctx.client && ctx.client->tls;
  auto client_port = [&](const PeerConfig& p) {
    return on_tls && p.tls_port ? p.tls_port : p.client_port;
  };
  auto find = [&](raft::NodeId id) -> const PeerConfig* {
    for (const auto& p : peers)
      if (p.id == id) return &p;
    return nullptr;
  };
  const PeerConfig* lead = leader ? find(leader) : nullptr;
  if (iequals(sub, "INFO")) {
    std::string state = lead ? "ok" : "fail";
    std::string text = "cluster_state:" + state + "\r\ncluster_slots_assigned:16384\r\n" +
                       "cluster_slots_ok:" + (lead ? "16384" : "0") +
                       "\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:" + (lead ? "0" : "16384") +
                       "\r\ncluster_known_nodes:" + std::to_string(peers.size()) +
                       "\r\ncluster_size:1\r\ncluster_current_epoch:0\r\ncluster_my_epoch:0\r\n";
    ctx.reply.verbatim("txt", text);
  } else if (iequals(sub, "MYID")) {
    ctx.reply.bulk(node_name(repl.self_id()));
  } else if (iequals(sub, "KEYSLOT")) {
    if (ctx.argv.size() != 3) {
      ctx.reply.error("ERR wrong number of arguments for 'cluster|keyslot' command");
      return;
    }
    ctx.reply.integer(key_hash_slot(ctx.argv[2]));
  } else if (iequals(sub, "SLOTS")) {
    if (!lead) {
      ctx.reply.array_header(0);
      return;
    }
    ctx.reply.array_header(1);
    ctx.reply.array_header(2 + static_cast<int64_t>(peers.size()));
    ctx.reply.integer(0);
    ctx.reply.integer(16383);
    auto node = [&](const PeerConfig& p) {
      ctx.reply.array_header(3);
      ctx.reply.bulk(p.host);
      ctx.reply.integer(client_port(p));
      ctx.reply.bulk(node_name(p.id));
    };
    node(*lead);
    for (const auto& p : peers)
      if (p.id != leader) node(p);
  } else if (iequals(sub, "SHARDS")) {
    ctx.reply.array_header(1);
    ctx.reply.map_header(2);
    ctx.reply.bulk("slots");
    ctx.reply.array_header(lead ? 2 : 0);
    if (lead) {
      ctx.reply.integer(0);
      ctx.reply.integer(16383);
    }
    ctx.reply.bulk("nodes");
    ctx.reply.array_header(static_cast<int64_t>(peers.size()));
    for (const auto& p : peers) {
      ctx.reply.map_header(6);
      ctx.reply.bulk("id");
      ctx.reply.bulk(node_name(p.id));
      ctx.reply.bulk("port");
      ctx.reply.integer(client_port(p));
      ctx.reply.bulk("ip");
      ctx.reply.bulk(p.host);
      ctx.reply.bulk("endpoint");
      ctx.reply.bulk(p.host);
      ctx.reply.bulk("role");
      ctx.reply.bulk(p.id == leader ? "master" : "replica");
      ctx.reply.bulk("health");
      ctx.reply.bulk(lead ? "online" : "failed");
    }
  } else if (iequals(sub, "NODES")) {
    std::string out;
    for (const auto& p : peers) {
      bool is_leader = p.id == leader;
      out += node_name(p.id) + " " + p.host + ":" + std::to_string(client_port(p)) + "@" +
             std::to_string(p.raft_port) + " " + (p.id == repl.self_id() ? "myself," : "") +
             (is_leader ? "master" : "slave") + " " +
             (is_leader || !lead ? "-" : node_name(leader)) + " 0 0 0 connected" +
             (is_leader ? " 0-16383" : "") + "\n";
    }
    ctx.reply.verbatim("txt", out);
  } else {
    ctx.reply.error("ERR unknown subcommand '" + std::string(sub.substr(0, 128)) +
                    "'. Try CLUSTER HELP.");
  }
}

void register_cluster_commands(CommandTable& t) {
  constexpr uint32_t kConn = kCmdConnection;
  t.add({.name = "save",
         .arity = 1,
         .flags = kConn | kCmdAdmin,
         .handler = save_command,
         .group = "server",
         .since = "1.0.0",
         .summary = "Synchronously saves the database(s) to disk."});
  t.add({.name = "bgsave",
         .arity = -1,
         .flags = kConn | kCmdAdmin,
         .handler = bgsave_command,
         .group = "server",
         .since = "1.0.0",
         .summary = "Asynchronously saves the database(s) to disk.",
         .syntax = "[SCHEDULE]"});
  t.add({.name = "lastsave",
         .arity = 1,
         .flags = kConn | kCmdFast | kCmdLoading | kCmdStale,
         .handler = lastsave_command,
         .group = "server",
         .since = "1.0.0",
         .summary = "Returns the Unix timestamp of the last successful save to disk."});
  t.add({.name = "raft.info",
         .arity = 1,
         .flags = kConn | kCmdStale | kCmdLoading,
         .handler = raft_info_command,
         .group = "server",
         .since = "0.1.0",
         .summary = "Returns this node's Raft state as a map."});
  t.add({.name = "raft.digest",
         .arity = 1,
         .flags = kConn | kCmdStale | kCmdLoading,
         .handler = raft_digest_command,
         .group = "server",
         .since = "0.1.0",
         .summary = "Returns this node's applied index, key count and a digest of its data."});
  t.add({.name = "cluster",
         .arity = -2,
         .flags = kConn | kCmdStale | kCmdLoading,
         .handler = cluster_command,
         .group = "cluster",
         .since = "3.0.0",
         .summary = "A container for Redis Cluster commands (kvraft: one shard led by the Raft "
                    "leader).",
         .subcommands = {
             {.name = "cluster|info",
              .arity = 2,
              .flags = kConn,
              .group = "cluster",
              .since = "3.0.0",
              .summary = "Returns information about the state of a node."},
             {.name = "cluster|myid",
              .arity = 2,
              .flags = kConn,
              .group = "cluster",
              .since = "3.0.0",
              .summary = "Returns the ID of a node."},
             {.name = "cluster|slots",
              .arity = 2,
              .flags = kConn,
              .group = "cluster",
              .since = "3.0.0",
              .summary = "Returns the mapping of cluster slots to nodes."},
             {.name = "cluster|shards",
              .arity = 2,
              .flags = kConn,
              .group = "cluster",
              .since = "7.0.0",
              .summary = "Returns the mapping of cluster slots to shards."},
             {.name = "cluster|nodes",
              .arity = 2,
              .flags = kConn,
              .group = "cluster",
              .since = "3.0.0",
              .summary = "Returns the cluster configuration for a node."},
             {.name = "cluster|keyslot",
              .arity = 3,
              .flags = kConn,
              .group = "cluster",
              .since = "3.0.0",
              .summary = "Returns the hash slot for a key.",
              .syntax = "key"},
         }});
}

}  // namespace kvraft
