// src/commands/transaction_commands.cc — the command table entries of
// transactions (MULTI, EXEC, DISCARD, WATCH, UNWATCH) and the two internal
// commands they are replicated through: KVRAFT.EXEC, the write that applies
// a whole transaction atomically on every replica, and KVRAFT.FINGERPRINT,
// the read WATCH takes its fingerprints with. The connection side (queueing,
// deferred EXECs) lives in src/transaction.cc.
#include <string>
#include <vector>

#include "src/client.h"
#include "src/commands/command_util.h"
#include "src/transaction.h"
#include "storage/fingerprint.h"
#include "storage/keyspace.h"

namespace kvraft {

namespace {

// MULTI
void multi_command(ExecContext& ctx) {
  TransactionState& t = ctx.client->txn;
  if (t.in_multi) {
    ctx.reply.error("ERR MULTI calls can not be nested");
    return;
  }
  t.in_multi = true;
  ctx.reply.ok();
}

// DISCARD: drops the queued commands and the watches.
void discard_command(ExecContext& ctx) {
  TransactionState& t = ctx.client->txn;
  if (!t.in_multi) {
    ctx.reply.error("ERR DISCARD without MULTI");
    return;
  }
  t.discard();
  t.watches.clear();
  ctx.reply.ok();
}

// UNWATCH: forgets every watched key (a WATCH read still outstanding is
// answered but no longer counts).
void unwatch_command(ExecContext& ctx) {
  ctx.client->txn.watches.clear();
  ctx.reply.ok();
}

// KVRAFT.FINGERPRINT key [key ...]: the fingerprint of each key ("" when
// absent or expired), for WATCH.
void kvraft_fingerprint_command(ExecContext& ctx) {
  ctx.reply.array_header(static_cast<int64_t>(ctx.argv.size() - 1));
  for (size_t i = 1; i < ctx.argv.size(); ++i)
    ctx.reply.bulk(storage::key_fingerprint(ctx.keyspace, ctx.db, ctx.argv[i], ctx.now_ms));
}

// One command of a transaction, as a view into KVRAFT.EXEC's arguments.
struct TxnCommand {
  std::span<const std::string_view> argv;
};

struct TxnWatch {
  int64_t db = 0;
  std::string_view key;
  std::string_view fingerprint;
};

// Reads a count argument at argv[*pos] that must not exceed `max`.
bool take_count(std::span<const std::string_view> argv, size_t* pos, size_t max, size_t* out) {
  int64_t n = 0;
  if (*pos >= argv.size() || !storage::string2ll(argv[*pos], &n) || n < 0 ||
      static_cast<uint64_t>(n) > max)
    return false;
  ++*pos;
  *out = static_cast<size_t>(n);
  return true;
}

// Parses KVRAFT.EXEC's arguments (layout in src/transaction.h), bounding
// every count by the arguments that remain. False if malformed.
bool parse_exec(std::span<const std::string_view> argv, int64_t* db, std::vector<TxnWatch>* watches,
                std::vector<TxnCommand>* commands) {
  size_t pos = 2;
  if (argv.size() < 4 || !storage::string2ll(argv[1], db)) return false;
  size_t nwatch = 0;
  if (!take_count(argv, &pos, (argv.size() - pos) / 3, &nwatch)) return false;
  for (size_t i = 0; i < nwatch; ++i) {
    TxnWatch w;
    if (!storage::string2ll(argv[pos], &w.db)) return false;
    w.key = argv[pos + 1];
    w.fingerprint = argv[pos + 2];
    pos += 3;
    watches->push_back(w);
  }
  size_t ncommands = 0;
  if (!take_count(argv, &pos, argv.size() - pos, &ncommands)) return false;
  for (size_t i = 0; i < ncommands; ++i) {
    size_t argc = 0;
    if (!take_count(argv, &pos, argv.size() - pos, &argc) || argc == 0) return false;
    commands->push_back({argv.subspan(pos, argc)});
    pos += argc;
  }
  return pos == argv.size();
}

// SELECT inside a transaction: switches the database of the commands after
// it (the connection's own database was switched when EXEC was accepted).
void select_in_transaction(ExecContext& ctx, std::string_view arg, int* db) {
  int64_t n = 0;
  if (!storage::string2ll(arg, &n)) {
    ctx.reply.error(kErrNotInteger);
  } else if (n < 0 || n >= ctx.keyspace.databases()) {
    ctx.reply.error(kErrDbIndexOutOfRange);
  } else {
    *db = static_cast<int>(n);
    ctx.reply.ok();
  }
}

// KVRAFT.EXEC db nwatch {db key fingerprint}... ncommands {argc arg...}...
// Applied on every replica with the record's time: the WATCH check, then
// every command in order, each reply an element of the array.
void kvraft_exec_command(ExecContext& ctx) {
  int64_t start_db = 0;
  std::vector<TxnWatch> watches;
  std::vector<TxnCommand> commands;
  if (!parse_exec(ctx.argv, &start_db, &watches, &commands) ||
      !ctx.keyspace.valid_db(static_cast<int>(start_db))) {
    ctx.reply.error("ERR malformed KVRAFT.EXEC");
    return;
  }
  // WATCH: any watched key whose state differs from the fingerprint taken
  // when it was watched aborts the whole transaction, unapplied.
  for (const auto& w : watches) {
    if (!ctx.keyspace.valid_db(static_cast<int>(w.db)) ||
        storage::key_fingerprint(ctx.keyspace, static_cast<int>(w.db), w.key, ctx.now_ms) !=
            w.fingerprint) {
      ctx.reply.null_array();
      return;
    }
  }
  const CommandTable& table = command_table();
  int db = static_cast<int>(start_db);
  ctx.reply.array_header(static_cast<int64_t>(commands.size()));
  for (const auto& c : commands) {
    const CommandSpec* spec = table.find(c.argv[0]);
    int argc = static_cast<int>(c.argv.size());
    if (!spec || !allowed_in_transaction(*spec)) {
      ctx.reply.error("ERR Command not allowed inside a transaction");
      continue;
    }
    if ((spec->arity > 0 && argc != spec->arity) || (spec->arity < 0 && argc < -spec->arity)) {
      ctx.reply.error(wrong_arity_error(spec->name));
      continue;
    }
    if (spec->name == "select") {
      select_in_transaction(ctx, c.argv[1], &db);
      continue;
    }
    if (spec->name == "unwatch") {  // EXEC has already forgotten the watches
      ctx.reply.ok();
      continue;
    }
    // Reads, writes, PING and ECHO: pure functions of the keyspace and
    // their arguments, so they run here exactly as on their own.
    ExecContext sub{ctx.keyspace, db, ctx.now_ms, c.argv, ctx.reply, spec};
    spec->handler(sub);
    ctx.dirty += sub.dirty;
  }
}

}  // namespace

bool transaction_exec_commands(std::span<const std::string_view> argv,
                               std::vector<std::span<const std::string_view>>* commands) {
  int64_t db = 0;
  std::vector<TxnWatch> watches;
  std::vector<TxnCommand> parsed;
  if (!parse_exec(argv, &db, &watches, &parsed)) return false;
  commands->clear();
  for (const auto& c : parsed)
    commands->push_back(c.argv);
  return true;
}

void register_transaction_commands(CommandTable& t) {
  constexpr uint32_t kConn = kCmdConnection;
  t.add({.name = "multi",
         .arity = 1,
         .flags = kConn | kCmdFast | kCmdStale | kCmdLoading,
         .handler = multi_command,
         .group = "transactions",
         .since = "1.2.0",
         .summary = "Starts a transaction."});
  t.add({.name = "exec",
         .arity = 1,
         .flags = kConn | kCmdStale | kCmdLoading,
         .handler = exec_command,
         .group = "transactions",
         .since = "1.2.0",
         .summary = "Executes all commands in a transaction."});
  t.add({.name = "discard",
         .arity = 1,
         .flags = kConn | kCmdFast | kCmdStale | kCmdLoading,
         .handler = discard_command,
         .group = "transactions",
         .since = "2.0.0",
         .summary = "Discards a transaction."});
  t.add({.name = "watch",
         .arity = -2,
         .flags = kConn | kCmdFast | kCmdStale | kCmdLoading,
         .first_key = 1,
         .last_key = -1,
         .key_step = 1,
         .handler = watch_command,
         .group = "transactions",
         .since = "2.2.0",
         .summary = "Monitors changes to keys to determine the execution of a transaction.",
         .syntax = "key [key ...]"});
  t.add({.name = "unwatch",
         .arity = 1,
         .flags = kConn | kCmdFast | kCmdStale | kCmdLoading,
         .handler = unwatch_command,
         .group = "transactions",
         .since = "2.2.0",
         .summary = "Forgets about watched keys of a transaction."});
  t.add({.name = "kvraft.exec",
         .arity = -4,
         .flags = kCmdWrite | kCmdInternal,
         .handler = kvraft_exec_command,
         .group = "transactions",
         .since = "0.1.0",
         .summary = "Applies a transaction (internal: EXEC's replicated form)."});
  t.add({.name = "kvraft.fingerprint",
         .arity = -2,
         .flags = kCmdReadonly | kCmdInternal,
         .first_key = 1,
         .last_key = -1,
         .key_step = 1,
         .handler = kvraft_fingerprint_command,
         .group = "transactions",
         .since = "0.1.0",
         .summary = "Fingerprints of keys' states (internal: WATCH's read)."});
}

}  // namespace kvraft
