// src/leader_transfer.h — handing Raft leadership to another voter on
// request: RAFT.TRANSFER-LEADER [<id>] and SHUTDOWN on a leader.
//
// The Raft core does the protocol part (raft::Node::transfer_leader: stop
// accepting proposals, catch the target up, send it TimeoutNow, give up
// after an election timeout). This file is the server side around it:
//
//   - choosing the target (the requested voter, or the most up-to-date
//     reachable one) and refusing requests that cannot succeed with a clear
//     error (unknown id, a learner, this node, no quorum reachable);
//   - holding the requesting clients' replies until this node observes the
//     new leader (+OK) or the transfer fails (an error), bounded by two
//     election timeouts;
//   - SHUTDOWN on a leader: hand over first, let the writes this node
//     proposed be answered (the new leader commits them), then shut down.
//
// Writes during a transfer: the core refuses proposals while it is in
// progress, and the replication driver answers them -TRYAGAIN (nothing was
// proposed, so a retry is safe). Writes proposed before the transfer are
// on the target when it gets TimeoutNow, so the new leader commits them and
// their clients get the real reply (see replication.h, "Writes whose
// outcome is unknown").
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "raft/node.h"

namespace kvraft {

class Server;
class Replication;
class Client;

// What the leader knows when choosing a target (a pure snapshot, so the
// choice can be tested without a cluster).
struct TransferView {
  raft::NodeId self = raft::kNoNode;
  std::vector<raft::NodeId> voters;
  std::vector<raft::NodeId> learners;
  std::map<raft::NodeId, raft::Index> match;  // the leader's progress per member
  std::set<raft::NodeId> reachable;           // peers with a live connection (not self)
};

// The target of a transfer, or why there is none (a Redis error text
// without the leading '-').
struct TransferChoice {
  raft::NodeId target = raft::kNoNode;
  std::string error;
};

// Chooses the voter to hand leadership to. `requested` = kNoNode picks the
// reachable voter other than self with the highest match index (ties: the
// lowest id). Refuses unknown ids, learners, self, an unreachable target
// and a view in which fewer than a quorum of voters (self included) are
// reachable, since the target could not be elected.
TransferChoice choose_transfer_target(const TransferView& view, raft::NodeId requested);

class LeaderTransfer {
 public:
  LeaderTransfer(Server& server, Replication& replication);
  LeaderTransfer(const LeaderTransfer&) = delete;
  LeaderTransfer& operator=(const LeaderTransfer&) = delete;

  // RAFT.TRANSFER-LEADER on the leader. Starts a transfer to `requested`
  // (kNoNode: the best voter), or joins the one in progress to the same
  // target, and reserves a reply slot of `client` that gets +OK once this
  // node sees another node lead, or an error. Returns an error text (and
  // reserves nothing) when the transfer cannot start.
  std::string request(raft::NodeId requested, Client& client);

  // SHUTDOWN on a leader: hands leadership to the best voter, then shuts
  // the server down once the new leader is known and this node's pending
  // writes are answered, or after two election timeouts whatever happened.
  // The client's reply slot is never filled on success (like Redis, the
  // connection just closes). Returns false, reserving nothing, when there is
  // nobody to hand over to (not the leader, a lone voter, no quorum): the
  // caller shuts down at once.
  bool shutdown_after_handover(Client& client);
  bool shutdown_pending() const { return shutdown_; }
  // SHUTDOWN ABORT: cancels a pending shutdown (the waiting SHUTDOWN clients
  // get Redis's error); false if none was pending. A transfer already sent
  // to the core still completes or times out.
  bool abort_shutdown();

  // Hooks from the replication driver: every tick, and whenever the leader
  // or role this node sees changes.
  void on_tick(int64_t now_ms);
  void on_soft_state(const raft::SoftState& ss);

  // The target of the transfer in progress, kNoNode if none.
  raft::NodeId target() const { return target_; }

 private:
  struct Waiter {
    uint64_t client_id = 0;
    uint64_t slot = 0;
  };
  std::string begin(raft::NodeId requested);
  void finish(const std::string& error);
  void answer(const std::vector<Waiter>& waiters, std::string_view bytes);
  int64_t timeout_ms() const;

  Server& server_;
  Replication& repl_;

  // The transfer in progress. Invariant: target_ != kNoNode iff a transfer
  // or a shutdown handover is in progress; waiters_ and shutdown_waiters_
  // are empty when it is not.
  raft::NodeId target_ = raft::kNoNode;
  int64_t started_ms_ = 0;
  int64_t deadline_ms_ = 0;
  // The leader this node saw after stepping down (kNoNode before).
  raft::NodeId new_leader_ = raft::kNoNode;
  bool stepped_down_ = false;
  std::vector<Waiter> waiters_;

  // SHUTDOWN waiting for the handover (and then for its pending writes).
  bool shutdown_ = false;
  std::vector<Waiter> shutdown_waiters_;
  // Set once the handover finished (or failed): shut down when this node's
  // pending writes are answered or at shutdown_deadline_ms_.
  bool handed_over_ = false;
  int64_t shutdown_deadline_ms_ = 0;
};

}  // namespace kvraft
