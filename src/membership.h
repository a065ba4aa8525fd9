// src/membership.h — the replicated membership table: for every member the
// address peers reach it at (host:raft_port), the client port clients are
// redirected or proxied to, and what the operator asked for it (stay a
// learner, become a voter, be removed), plus the ids that were removed and may
// never be reused.
//
// The Raft core only knows node ids (raft::ConfState). The addresses travel
// in the context of each kConfChange entry (raft::ConfChange::context, see
// encode_member_context), so every replica — including one restarted from
// its log or restored from a snapshot, whose kvraft-members aux field holds
// the table (MemberTable::encode) — learns how to reach a member from the
// same replicated history. Pure data and codecs: no I/O.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "raft/types.h"

namespace kvraft {

// The RDB aux field that carries MemberTable::encode() in snapshots.
inline constexpr std::string_view kAuxMembers = "kvraft-members";

// What the operator asked for a member. Replicated so that a new leader
// finishes the job: it promotes kVoter learners once they caught up and never
// promotes kLearner or kRemoving ones.
enum class MemberIntent : uint8_t {
  kVoter,     // be (or become, once caught up) a voter
  kLearner,   // stay a learner (RAFT.NODE ADD ... LEARNER)
  kRemoving,  // demoted on the way out (RAFT.NODE REMOVE of a voter)
};

struct MemberInfo {
  std::string host;     // numeric address peers connect to
  int raft_port = 0;    // 0: unknown
  int client_port = 0;  // 0: unknown (cannot redirect or proxy to it)
  MemberIntent intent = MemberIntent::kVoter;
  int tls_port = 0;  // its tls-port; 0: none known (proxy and redirect use client_port)

  bool operator==(const MemberInfo&) const = default;
};

// The context of a conf change: "host:raft_port:client_port:intent" with
// intent one of voter|learner|removing, followed by ":tls=<port>" when the
// member has a known tls-port. The host may itself hold ':' (IPv6):
// fields are split from the right.
std::string encode_member_context(const MemberInfo& m);
// nullopt unless `text` is exactly what encode_member_context writes (ports
// in 0..65535, a non-empty host).
std::optional<MemberInfo> decode_member_context(std::string_view text);

// Parses "host:port" (host non-empty, port 1..65535); false if malformed.
bool parse_host_port(std::string_view text, std::string* host, int* port);

class MemberTable {
 public:
  // Records what a log entry says about membership: a kConfChange entry with
  // a decodable context sets that member's info; a removal forgets the
  // member's info and adds its id to the removed set. Other entries and
  // undecodable payloads change nothing (identically on every replica).
  void observe(const raft::Entry& entry);
  // Sets a member's info unless the table already has one (seeds from
  // cluster-peers or from the cluster a node joins: the log is authoritative).
  void seed(raft::NodeId id, const MemberInfo& info);
  // Loads a snapshot's table: its info replaces this table's for the members
  // it names (it comes from the replicated history; a seed does not) and its
  // removed ids are removed. Members only this table knows stay: the caller
  // replays the log entries after the snapshot next, and a member it learned
  // from a seed or from entries newer than the snapshot (its current leader,
  // say) must stay reachable.
  void overlay(const MemberTable& snapshot);

  const MemberInfo* find(raft::NodeId id) const;
  bool was_removed(raft::NodeId id) const { return removed_.count(id) != 0; }
  const std::map<raft::NodeId, MemberInfo>& members() const { return members_; }
  const std::set<raft::NodeId>& removed() const { return removed_; }

  // "m:<id>=<context>,...;r:<id>,..." for the kvraft-members aux field.
  std::string encode() const;
  // Inverse of encode(); throws std::invalid_argument quoting the bad part.
  static MemberTable decode(std::string_view text);

  bool operator==(const MemberTable&) const = default;

 private:
  // Invariant: no id is in both members_ and removed_.
  std::map<raft::NodeId, MemberInfo> members_;
  std::set<raft::NodeId> removed_;
};

}  // namespace kvraft
