// src/transaction.cc — the connection side of transactions: queueing,
// EXEC's submission as one KVRAFT.EXEC write, WATCH's fingerprint reads
// and the EXECs that wait for them (see transaction.h).
#include "src/transaction.h"

#include <strings.h>

#include <charconv>

#include "src/client.h"
#include "src/replication.h"
#include "src/server.h"
#include "storage/strconv.h"

namespace kvraft {

namespace {

constexpr std::string_view kExecWithoutMulti = "ERR EXEC without MULTI";
constexpr std::string_view kExecAbort =
    "EXECABORT Transaction discarded because of previous errors.";
constexpr std::string_view kWatchInsideMulti = "ERR WATCH inside MULTI is not allowed";
constexpr std::string_view kNotAllowed = "ERR Command not allowed inside a transaction";

void reply_error(Client& client, std::string_view message) {
  client.reply_in_order([&](resp::ReplyWriter& w) { w.error(message); });
}

// Parses the RESP reply of KVRAFT.FINGERPRINT: an array of `n` bulk
// strings. False on anything else (an error reply, a malformed one).
bool parse_fingerprints(std::string_view in, size_t n, std::vector<std::string>* out) {
  size_t pos = 0;
  auto line = [&](char type, int64_t* value) {
    if (pos >= in.size() || in[pos] != type) return false;
    size_t end = in.find("\r\n", pos);
    if (end == std::string_view::npos) return false;
    auto [p, ec] = std::from_chars(in.data() + pos + 1, in.data() + end, *value);
    if (ec != std::errc() || p != in.data() + end) return false;
    pos = end + 2;
    return true;
  };
  int64_t count = 0;
  if (!line('*', &count) || count != static_cast<int64_t>(n)) return false;
  out->clear();
  for (size_t i = 0; i < n; ++i) {
    int64_t len = 0;
    if (!line('$', &len) || len < 0 || in.size() - pos < static_cast<size_t>(len) + 2) return false;
    out->emplace_back(in.substr(pos, static_cast<size_t>(len)));
    pos += static_cast<size_t>(len) + 2;
  }
  return pos == in.size();
}

// The KVRAFT.EXEC argument vector of a transaction (layout in transaction.h).
// Returns false if a watch failed: the transaction must abort unapplied.
bool build_exec_argv(int db, const std::vector<std::shared_ptr<WatchBatch>>& watches,
                     const std::vector<std::vector<std::string>>& commands,
                     std::vector<std::string>* out) {
  out->clear();
  out->push_back("KVRAFT.EXEC");
  out->push_back(std::to_string(db));
  size_t nwatch = 0;
  for (const auto& w : watches) {
    if (w->failed || !w->resolved) return false;
    nwatch += w->keys.size();
  }
  out->push_back(std::to_string(nwatch));
  for (const auto& w : watches)
    for (size_t i = 0; i < w->keys.size(); ++i) {
      out->push_back(std::to_string(w->db));
      out->push_back(w->keys[i]);
      out->push_back(w->fingerprints[i]);
    }
  out->push_back(std::to_string(commands.size()));
  for (const auto& c : commands) {
    out->push_back(std::to_string(c.size()));
    out->insert(out->end(), c.begin(), c.end());
  }
  return true;
}

// Runs `submit` (a call into Replication that answers the client) so that
// its reply belongs to `slot`, reserved earlier in the connection's reply
// order: Replication's own reservation is redirected to `slot`, and a reply
// it gives at once is captured and handed to `deliver` instead of being
// queued behind later replies.
template <typename Submit, typename Deliver>
void submit_into_slot(Client& client, uint64_t slot, Submit&& submit, Deliver&& deliver) {
  std::string captured;
  client.preassigned_reply_slot = slot;
  client.reply_capture = &captured;
  submit();
  client.reply_capture = nullptr;
  bool slot_taken = client.preassigned_reply_slot == 0;
  client.preassigned_reply_slot = 0;
  if (!captured.empty() || !slot_taken) deliver(std::string_view(captured));
}

// Proposes (or forwards) the transaction; its reply fills `slot`, or goes in
// order if `slot` is 0.
void submit_exec(Client& client, uint64_t slot, int db,
                 const std::vector<std::shared_ptr<WatchBatch>>& watches,
                 const std::vector<std::vector<std::string>>& commands) {
  Server& server = *client.server();
  std::vector<std::string> argv;
  if (!build_exec_argv(db, watches, commands, &argv)) {
    // A WATCH read failed: the watched state is unknown, so the transaction
    // aborts as if a key had changed (the client retries).
    resp::ReplyWriter w(client.reply.protocol());
    w.null_array();
    if (slot == 0)
      client.reply_in_order([&](resp::ReplyWriter& out) { out.raw(w.buffer()); });
    else if (client.fill_reply(slot, w.buffer()))
      server.on_client_output(client);
    return;
  }
  const CommandSpec* spec = server.commands().find("kvraft.exec");
  resp::Argv views(argv.begin(), argv.end());
  if (slot == 0) {
    server.replication().write(client, *spec, views);
    return;
  }
  submit_into_slot(
      client, slot, [&] { server.replication().write(client, *spec, views); },
      [&](std::string_view bytes) {
        if (client.fill_reply(slot, bytes)) server.on_client_output(client);
      });
}

// Proposes the deferred EXECs at the front whose watches are all known,
// then runs the requests held behind them, in order, until one of them is
// an EXEC that must wait again.
void run_deferred(Client& client) {
  TransactionState& t = client.txn;
  while (!t.deferred.empty()) {
    DeferredExec& d = t.deferred.front();
    for (const auto& w : d.watches)
      if (!w->resolved) return;
    DeferredExec ready = std::move(d);
    t.deferred.pop_front();
    submit_exec(client, ready.slot, ready.db, ready.watches, ready.commands);
  }
  // Requests that arrive while these run are held again if an EXEC defers.
  std::deque<std::vector<std::string>> held;
  held.swap(t.held);
  Server& server = *client.server();
  while (!held.empty() && !client.closing && !client.close_after_reply) {
    if (!t.deferred.empty()) {
      t.held.push_back(std::move(held.front()));
    } else {
      resp::Argv argv(held.front().begin(), held.front().end());
      server.execute(client, argv);
    }
    held.pop_front();
  }
  server.on_client_output(client);
}

// The database the connection is in after its queued SELECTs ran.
int db_after(int db, int databases, const std::vector<std::vector<std::string>>& commands) {
  for (const auto& c : commands) {
    int64_t n = 0;
    if (c.size() == 2 && c[0].size() == 6 && strncasecmp(c[0].c_str(), "select", 6) == 0 &&
        storage::string2ll(c[1], &n) && n >= 0 && n < databases)
      db = static_cast<int>(n);
  }
  return db;
}

}  // namespace

bool allowed_in_transaction(const CommandSpec& spec) {
  if (spec.flags & kCmdInternal) return false;
  if (spec.flags & (kCmdWrite | kCmdReadonly)) return true;
  return spec.name == "ping" || spec.name == "echo" || spec.name == "select" ||
         spec.name == "unwatch";
}

bool transaction_hold(Client& client, const resp::Argv& argv) {
  if (client.txn.deferred.empty()) return false;
  client.txn.held.emplace_back(argv.begin(), argv.end());
  return true;
}

bool transaction_dispatch(Server& server, Client& client, const CommandSpec& spec,
                          const resp::Argv& argv) {
  if (spec.handler == exec_command || spec.handler == watch_command) {
    ExecContext ctx{server.keyspace(), client.db, unix_time_ms(), argv, client.reply, &spec};
    ctx.server = &server;
    ctx.client = &client;
    spec.handler(ctx);
    return true;
  }
  TransactionState& t = client.txn;
  if (!t.in_multi) return false;
  // Redis runs these at once even inside MULTI.
  if (spec.name == "multi" || spec.name == "discard" || spec.name == "quit") return false;
  if (!allowed_in_transaction(spec)) {
    t.on_rejected();
    reply_error(client, kNotAllowed);
    return true;
  }
  t.queued.emplace_back(argv.begin(), argv.end());
  client.reply_in_order([](resp::ReplyWriter& w) { w.simple_string("QUEUED"); });
  return true;
}

void exec_command(ExecContext& ctx) {
  Client& client = *ctx.client;
  TransactionState& t = client.txn;
  if (!t.in_multi) {
    reply_error(client, kExecWithoutMulti);
    return;
  }
  // EXEC always ends the transaction and forgets the watches, whatever
  // happens next (Redis's discardTransaction / unwatchAllKeys).
  std::vector<std::vector<std::string>> commands = std::move(t.queued);
  bool queue_error = t.queue_error;
  std::vector<std::shared_ptr<WatchBatch>> watches = std::move(t.watches);
  t.discard();
  t.watches.clear();
  if (queue_error) {
    reply_error(client, kExecAbort);
    return;
  }
  if (commands.empty() && watches.empty()) {
    client.reply_in_order([](resp::ReplyWriter& w) { w.array_header(0); });
    return;
  }
  int db = client.db;
  client.db = db_after(db, ctx.server->config().databases, commands);
  bool waiting = !t.deferred.empty();
  for (const auto& w : watches)
    waiting = waiting || !w->resolved;
  if (!waiting) {
    submit_exec(client, 0, db, watches, commands);
    return;
  }
  // A pipelined WATCH whose fingerprints are not back yet: hold this EXEC's
  // place in the reply order and propose it when they are.
  DeferredExec d;
  d.slot = client.reserve_reply();
  d.db = db;
  d.watches = std::move(watches);
  d.commands = std::move(commands);
  t.deferred.push_back(std::move(d));
}

void watch_command(ExecContext& ctx) {
  Client& client = *ctx.client;
  Server& server = *ctx.server;
  if (client.txn.in_multi) {
    reply_error(client, kWatchInsideMulti);
    return;
  }
  // The fingerprints are read like any read command (linearizable by
  // default, through the leader from a follower); the reply is caught by
  // transaction_take_reply before it reaches the client.
  auto batch = std::make_shared<WatchBatch>();
  batch->db = client.db;
  batch->keys.assign(ctx.argv.begin() + 1, ctx.argv.end());
  resp::Argv read_argv(ctx.argv.begin(), ctx.argv.end());
  read_argv[0] = "KVRAFT.FINGERPRINT";
  const CommandSpec* spec = server.commands().find(read_argv[0]);
  uint64_t slot = client.reserve_reply();
  client.txn.pending_watches[slot] = batch;
  client.txn.watches.push_back(batch);
  submit_into_slot(
      client, slot, [&] { server.replication().read(client, *spec, read_argv); },
      [&](std::string_view bytes) { transaction_take_reply(client, slot, bytes); });
}

bool transaction_take_reply(Client& client, uint64_t slot, std::string_view bytes) {
  TransactionState& t = client.txn;
  auto it = t.pending_watches.find(slot);
  if (it == t.pending_watches.end()) return false;
  std::shared_ptr<WatchBatch> batch = std::move(it->second);
  t.pending_watches.erase(it);
  batch->resolved = true;
  std::string reply;
  if (parse_fingerprints(bytes, batch->keys.size(), &batch->fingerprints)) {
    reply = "+OK\r\n";
  } else {
    batch->failed = true;
    if (!bytes.empty() && bytes[0] == '-') {
      reply.assign(bytes);
    } else {
      resp::ReplyWriter w;
      w.error("ERR internal error: unexpected reply to the WATCH read");
      reply.assign(w.buffer());
    }
  }
  if (client.fill_reply(slot, reply)) client.server()->on_client_output(client);
  run_deferred(client);
  return true;
}

}  // namespace kvraft
