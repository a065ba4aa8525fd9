// src/command.h — the command table: what every command is (name, arity,
// flags, keys, docs) and the one signature every handler has.
//
// The table is data. How the server runs a command — propose it through the
// replicated log, wait for a read barrier, or run it locally on the
// connection — is decided from its flags, never from its name:
//
//   kCmdWrite       changes the keyspace. The server turns the request into a
//                   deterministic record (time, db, argv) and the handler runs
//                   when that record is applied, on every replica, with
//                   ExecContext::now_ms taken from the record. The reply the
//                   proposing node sends is the one computed at apply time.
//                   A write handler therefore must depend on nothing but the
//                   keyspace, argv, db and now_ms: no clock, no randomness,
//                   no client or server state (client/server are null).
//   kCmdReadonly    reads the keyspace; runs after the read barrier of the
//                   configured consistency mode. Same inputs as a write.
//   kCmdConnection  acts on the connection or the server (PING, SELECT,
//                   CLIENT, CONFIG, INFO, ...); runs locally, never
//                   replicated; client and server are set.
//
// A handler never touches a socket: it reads ExecContext and writes its
// answer through ExecContext::reply.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "resp/reply.h"

namespace kvraft {

class Server;
class Client;
class Acl;
namespace storage {
class Keyspace;
}

enum CommandFlag : uint32_t {
  kCmdWrite = 1u << 0,       // see above
  kCmdReadonly = 1u << 1,    // see above
  kCmdConnection = 1u << 2,  // see above
  kCmdAdmin = 1u << 3,       // server administration (CONFIG, FLUSHALL, ...)
  kCmdFast = 1u << 4,        // O(1) or O(log N); informational, as in Redis
  kCmdNoAuth = 1u << 5,      // allowed before AUTH (AUTH, HELLO, QUIT)
  kCmdDenyOom = 1u << 6,     // may grow memory; refused above maxmemory
  kCmdInternal = 1u << 7,    // produced by the server itself (e.g. active expiry
                             // deletes); refused from clients, hidden from COMMAND
  kCmdLoading = 1u << 8,     // allowed while loading a snapshot
  kCmdStale = 1u << 9,       // allowed when no leader is known
};

struct CommandSpec;

// Everything a handler may look at. Built by the server for each execution.
struct ExecContext {
  storage::Keyspace& keyspace;
  int db = 0;          // the client's selected database (for writes: the record's)
  int64_t now_ms = 0;  // unix time in ms; for writes, the time stored in the record
  std::span<const std::string_view> argv;  // argv[0] is the command name as sent
  resp::ReplyWriter& reply;
  const CommandSpec* spec = nullptr;
  // Set only for kCmdConnection commands; null when applying a log record.
  Server* server = nullptr;
  Client* client = nullptr;
  // The replicated ACL users (src/acl.h); set when applying a write, so ACL
  // SETUSER/DELUSER change every replica alike.
  Acl* acl = nullptr;
  // Number of keys changed by this execution (Redis's server.dirty); handlers
  // of write commands add to it, the server sums it for INFO persistence.
  int64_t dirty = 0;
};

using CommandHandler = void (*)(ExecContext& ctx);

struct CommandSpec {
  std::string_view name;  // lower case, e.g. "set"
  // Redis's convention: N > 0 means exactly N arguments (name included),
  // N < 0 means at least -N.
  int arity = 0;
  uint32_t flags = 0;
  // Redis's legacy key spec for COMMAND INFO / COMMAND GETKEYS and routing:
  // argv positions of the first and last key and the step; last_key -1 means
  // the last argument. All zero: the command takes no keys.
  int first_key = 0;
  int last_key = 0;
  int key_step = 0;
  CommandHandler handler = nullptr;
  // Documentation served by COMMAND DOCS (redis-cli builds its hints from it).
  std::string_view group;    // "string", "generic", "server", "connection", "bitmap", ...
  std::string_view since;    // "1.0.0"
  std::string_view summary;  // one line
  // The arguments after the command name in redis-cli's help notation, e.g.
  // "key value [NX|XX] [GET] [EX seconds|PX milliseconds|KEEPTTL]". Parsed into
  // COMMAND DOCS argument trees: [optional], a|b alternatives, "arg [arg ...]"
  // for repetition, UPPERCASE words are literal tokens.
  std::string_view syntax;
  // Subcommands ("client|setname" ...) for COMMAND DOCS / COMMAND INFO; the
  // container's own handler dispatches them.
  std::vector<CommandSpec> subcommands;
};

// All commands by lower-case name. Built once at startup.
class CommandTable {
 public:
  // Registers `spec`; a duplicate name is a programming error (aborts).
  void add(CommandSpec spec);
  // Case-insensitive lookup; null if unknown.
  const CommandSpec* find(std::string_view name) const;
  // Every command, in registration order (for COMMAND, COMMAND COUNT ...).
  const std::vector<std::unique_ptr<CommandSpec>>& all() const { return commands_; }

 private:
  // Looked up by string_view (every request does it, twice for a write:
  // at the client and when the entry is applied), so no std::string is
  // built per lookup.
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::vector<std::unique_ptr<CommandSpec>> commands_;
  std::unordered_map<std::string, const CommandSpec*, NameHash, std::equal_to<>> by_name_;
};

// The spec a request runs as: `spec` itself, or, for a container that has
// no routing flag of its own (neither write, readonly nor connection: ACL,
// whose SETUSER is replicated while WHOAMI is local), the subcommand argv[1]
// names. Server::execute routes, and the apply path runs, by the result.
const CommandSpec* route_subcommand(const CommandSpec& spec,
                                    std::span<const std::string_view> argv);

// Registration functions, one per group of commands (src/commands/*.cc).
void register_string_commands(CommandTable& table);       // strings, counters, bitmaps
void register_keyspace_commands(CommandTable& table);     // DEL, EXPIRE, SCAN, FLUSHDB, ...
void register_server_commands(CommandTable& table);       // PING, INFO, CONFIG, CLIENT, ...
void register_cluster_commands(CommandTable& table);      // SAVE, BGSAVE, RAFT.INFO, CLUSTER, ...
void register_membership_commands(CommandTable& table);   // RAFT.NODE, RAFT.NODES
void register_list_commands(CommandTable& table);         // LPUSH, LRANGE, LMOVE, ...
void register_hash_commands(CommandTable& table);         // HSET, HGETALL, HSCAN, ...
void register_set_commands(CommandTable& table);          // SADD, SPOP, SINTER, SSCAN, ...
void register_zset_commands(CommandTable& table);         // ZADD, ZRANGE, ZPOPMIN, ZSCAN, ...
void register_transfer_commands(CommandTable& table);     // RAFT.TRANSFER-LEADER, SHUTDOWN
void register_transaction_commands(CommandTable& table);  // MULTI, EXEC, WATCH, ...
void register_acl_commands(CommandTable& table);          // ACL SETUSER, ACL LIST, ...
void register_proxy_commands(CommandTable& table);        // KVRAFT.PROXY-AUTH, KVRAFT.PROXY-AS

// The complete table kvraft serves.
const CommandTable& command_table();

// Redis's error texts, shared by handlers so the words never drift.
inline constexpr std::string_view kErrWrongType =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
inline constexpr std::string_view kErrSyntax = "ERR syntax error";
inline constexpr std::string_view kErrNotInteger = "ERR value is not an integer or out of range";
inline constexpr std::string_view kErrNotFloat = "ERR value is not a valid float";
inline constexpr std::string_view kErrNoSuchKey = "ERR no such key";
inline constexpr std::string_view kErrOverflow = "ERR increment or decrement would overflow";
inline constexpr std::string_view kErrDbIndexOutOfRange = "ERR DB index is out of range";

// `s` with ASCII letters lower-cased (command names are compared this way).
std::string ascii_lower(std::string_view s);

// "ERR wrong number of arguments for 'get' command" (name as given, lower case).
std::string wrong_arity_error(std::string_view command_name);

}  // namespace kvraft
