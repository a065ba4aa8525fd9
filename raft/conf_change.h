// raft/conf_change.h — membership changes: the payload encoding of
// kConfChange entries and the pure function that applies one to a ConfState.
//
// Kept apart from the node so storage/ and the server can decode a change
// (e.g. to connect to a new peer) without linking the core.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "raft/types.h"

namespace kvraft::raft {

// Bound on ConfChange::context, so a log record can never make a node
// allocate without limit.
inline constexpr size_t kMaxConfChangeContext = 1024;

// Encodes a change as [type u8][node u64 little-endian][context bytes]: 9
// bytes when the context is empty, which is the only form older versions
// wrote.
std::string encode_conf_change(const ConfChange& cc);

// Decodes a payload from encode_conf_change; nullopt if it is shorter than 9
// bytes, its context exceeds kMaxConfChangeContext, or it names an unknown
// type or node 0 (never trust a log record blindly).
std::optional<ConfChange> decode_conf_change(std::string_view payload);

// Applies `cc` to `conf` and returns the result. Total and idempotent so that
// replaying any log is well defined: adding a voter that is a learner
// promotes it, adding a learner that is already a voter demotes it (the
// first step of removing a voter), removing an absent node changes nothing.
// Lists stay sorted.
ConfState apply_conf_change(ConfState conf, const ConfChange& cc);

// Is `id` a voter / a learner / either in `conf`?
bool is_voter(const ConfState& conf, NodeId id);
bool is_learner(const ConfState& conf, NodeId id);
inline bool is_member(const ConfState& conf, NodeId id) {
  return is_voter(conf, id) || is_learner(conf, id);
}

// The log entries that bootstrap a brand-new cluster whose initial voters
// are `voters`: one kAddNode entry per voter at indices 1..n, term 1. Every
// initial member appends exactly these to its empty storage with a hard
// state {term 1, no vote, commit n}, so that a node added later learns the
// initial membership from the log (or a snapshot) like any other change.
std::vector<Entry> bootstrap_entries(const std::vector<NodeId>& voters);

}  // namespace kvraft::raft
