// raft/conf_change.cc — encoding and application of membership changes.
#include "raft/conf_change.h"

#include <algorithm>

namespace kvraft::raft {

std::string encode_conf_change(const ConfChange& cc) {
  std::string out(9, '\0');
  out[0] = static_cast<char>(cc.type);
  for (int i = 0; i < 8; ++i)
    out[1 + i] = static_cast<char>((cc.node >> (8 * i)) & 0xff);
  out += cc.context;
  return out;
}

std::optional<ConfChange> decode_conf_change(std::string_view payload) {
  if (payload.size() < 9 || payload.size() - 9 > kMaxConfChangeContext) return std::nullopt;
  auto type = static_cast<uint8_t>(payload[0]);
  if (type > static_cast<uint8_t>(ConfChangeType::kRemoveNode)) return std::nullopt;
  NodeId node = 0;
  for (int i = 0; i < 8; ++i) {
    node |= static_cast<NodeId>(static_cast<uint8_t>(payload[1 + i])) << (8 * i);
  }
  if (node == kNoNode) return std::nullopt;
  return ConfChange{static_cast<ConfChangeType>(type), node, std::string(payload.substr(9))};
}

namespace {
void erase_id(std::vector<NodeId>& v, NodeId id) {
  std::erase(v, id);
}
void insert_sorted(std::vector<NodeId>& v, NodeId id) {
  auto it = std::lower_bound(v.begin(), v.end(), id);
  if (it == v.end() || *it != id) v.insert(it, id);
}
}  // namespace

ConfState apply_conf_change(ConfState conf, const ConfChange& cc) {
  switch (cc.type) {
    case ConfChangeType::kAddNode:
      erase_id(conf.learners, cc.node);
      insert_sorted(conf.voters, cc.node);
      break;
    case ConfChangeType::kAddLearner:
      erase_id(conf.voters, cc.node);
      insert_sorted(conf.learners, cc.node);
      break;
    case ConfChangeType::kRemoveNode:
      erase_id(conf.voters, cc.node);
      erase_id(conf.learners, cc.node);
      break;
  }
  return conf;
}

bool is_voter(const ConfState& conf, NodeId id) {
  return std::find(conf.voters.begin(), conf.voters.end(), id) != conf.voters.end();
}

bool is_learner(const ConfState& conf, NodeId id) {
  return std::find(conf.learners.begin(), conf.learners.end(), id) != conf.learners.end();
}

std::vector<Entry> bootstrap_entries(const std::vector<NodeId>& voters) {
  std::vector<Entry> out;
  Index i = 1;
  for (NodeId id : voters) {
    out.push_back(
        Entry{i++, 1, EntryType::kConfChange, encode_conf_change({ConfChangeType::kAddNode, id})});
  }
  return out;
}

}  // namespace kvraft::raft
