// src/transaction.h — MULTI / EXEC / DISCARD / WATCH / UNWATCH.
//
// Queueing is connection state: between MULTI and EXEC a client's commands
// are checked (known, arity, allowed inside a transaction) and stored here,
// answered +QUEUED. EXEC turns the queue into ONE replicated write, the
// internal command
//
//   KVRAFT.EXEC <db> <nwatch> {<db> <key> <fingerprint>}*nwatch
//               <ncommands> {<argc> <arg>*argc}*ncommands
//
// whose handler runs on every replica when the record is applied: it
// recomputes the watched keys' fingerprints (storage/fingerprint.h) and, if
// any differs, applies nothing and replies a null array; otherwise it runs
// the commands one after the other — SELECT inside the transaction switches
// the database of the commands after it — and replies their array. Runtime
// errors (WRONGTYPE...) are elements of that array and do not stop the
// others, as in Redis. A follower forwards KVRAFT.EXEC to the leader like
// any write (proxy) or answers -MOVED (redirect).
//
// WATCH is a linearizable read of the internal KVRAFT.FINGERPRINT command
// (through the leader from a follower); its reply is intercepted
// (transaction_take_reply) and kept as (db, key, fingerprint). An EXEC that
// arrives while one of its WATCH reads is still outstanding (a pipelined
// WATCH ... EXEC) reserves its reply slot and is proposed when the last
// fingerprint arrives.
//
// Difference from Redis: a watched key that is changed and then changed
// back to the same value (and expiry) before EXEC does not abort the
// transaction (Redis would), because the check compares states rather
// than counting modifications. An EXEC aborted by WATCH still leaves the
// connection in the database its queued SELECTs chose (Redis would not
// have run them).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "resp/parser.h"
#include "src/command.h"

namespace kvraft {

class Server;
class Client;

// One WATCH command's keys and, once its read answered, their fingerprints.
struct WatchBatch {
  int db = 0;
  std::vector<std::string> keys;
  std::vector<std::string> fingerprints;  // parallel to keys once resolved
  bool resolved = false;                  // the fingerprint read answered
  bool failed = false;                    // ...with an error: EXEC must abort
};

// An EXEC waiting for the fingerprints of its watches; its reply slot is
// reserved so the connection's replies stay in order.
struct DeferredExec {
  uint64_t slot = 0;
  int db = 0;
  std::vector<std::shared_ptr<WatchBatch>> watches;
  std::vector<std::vector<std::string>> commands;
};

// Per-connection transaction state (Client::txn).
struct TransactionState {
  bool in_multi = false;
  // A command was refused while queueing (Redis's CLIENT_DIRTY_EXEC): EXEC
  // answers -EXECABORT. Invariant: only set while in_multi.
  bool queue_error = false;
  std::vector<std::vector<std::string>> queued;
  // WATCHed keys since the last EXEC/DISCARD/UNWATCH, in WATCH order.
  std::vector<std::shared_ptr<WatchBatch>> watches;
  // WATCH reads outstanding, by the reply slot they will fill.
  std::map<uint64_t, std::shared_ptr<WatchBatch>> pending_watches;
  // EXECs waiting for pending watches, in request order.
  std::deque<DeferredExec> deferred;
  // Commands that arrived after a deferred EXEC: they run once it has been
  // proposed, so the connection's commands take effect in request order.
  // Invariant: empty while `deferred` is empty.
  std::deque<std::vector<std::string>> held;

  // Called when a command is refused (unknown, arity, auth) so that a
  // transaction being queued is aborted at EXEC, as Redis does.
  void on_rejected() {
    if (in_multi) queue_error = true;
  }
  // Ends MULTI without running anything (DISCARD, EXECABORT).
  void discard() {
    in_multi = false;
    queue_error = false;
    queued.clear();
  }
};

// Called first by Server::execute for every request. Returns true if the
// request was held back because an EXEC of this connection is waiting for
// its WATCH fingerprints; it runs when that EXEC is proposed.
bool transaction_hold(Client& client, const resp::Argv& argv);

// Called by Server::execute for every accepted command (known, arity and
// authentication checked). Returns true if the transaction layer answered
// it: a command queued inside MULTI, EXEC or WATCH. Everything else
// (MULTI, DISCARD, UNWATCH and commands outside a transaction) returns
// false and runs as usual.
bool transaction_dispatch(Server& server, Client& client, const CommandSpec& spec,
                          const resp::Argv& argv);

// Called with every delayed reply before it fills `slot` of `client`.
// Returns true if the slot belongs to a WATCH read: the fingerprints are
// recorded, the WATCH's reply (+OK or the read's error) is filled in its
// place, and deferred EXECs whose watches are now all known are proposed.
bool transaction_take_reply(Client& client, uint64_t slot, std::string_view bytes);

}  // namespace kvraft

namespace kvraft {

// EXEC and WATCH answer later (through reserved reply slots), so they are
// not run through the generic connection path: transaction_dispatch calls
// them with ctx.client and ctx.server set, and they answer through the
// client's reply queue, never through ctx.reply.
void exec_command(ExecContext& ctx);
void watch_command(ExecContext& ctx);

// True for the commands a transaction may hold: the replicated ones (reads
// and writes) and the connection commands that are pure functions of their
// arguments (PING, ECHO) or of the transaction itself (SELECT; UNWATCH,
// which Redis queues too and which has nothing left to do at EXEC).
bool allowed_in_transaction(const CommandSpec& spec);

// The commands a KVRAFT.EXEC argument vector holds, as views into `argv`
// (for the leader's permission check of a proxied transaction, src/acl.h).
// False if `argv` is malformed.
bool transaction_exec_commands(std::span<const std::string_view> argv,
                               std::vector<std::span<const std::string_view>>* commands);

}  // namespace kvraft
