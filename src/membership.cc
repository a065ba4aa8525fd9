// src/membership.cc — see membership.h.
#include "src/membership.h"

#include <charconv>
#include <stdexcept>

#include "raft/conf_change.h"

namespace kvraft {

namespace {

const char* intent_name(MemberIntent i) {
  switch (i) {
    case MemberIntent::kVoter:
      return "voter";
    case MemberIntent::kLearner:
      return "learner";
    case MemberIntent::kRemoving:
      return "removing";
  }
  return "voter";
}

template <typename T>
bool parse_uint(std::string_view s, T max, T* out) {
  T v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v > max) return false;
  *out = v;
  return true;
}

// Splits off the text after the last ':' of *rest into *field.
bool split_last(std::string_view* rest, std::string_view* field) {
  size_t c = rest->rfind(':');
  if (c == std::string_view::npos) return false;
  *field = rest->substr(c + 1);
  *rest = rest->substr(0, c);
  return true;
}

}  // namespace

std::string encode_member_context(const MemberInfo& m) {
  std::string out = m.host + ":" + std::to_string(m.raft_port) + ":" +
                    std::to_string(m.client_port) + ":" + intent_name(m.intent);
  // Only when known, so the contexts of clusters without TLS stay as they were.
  if (m.tls_port) out += ":tls=" + std::to_string(m.tls_port);
  return out;
}

std::optional<MemberInfo> decode_member_context(std::string_view text) {
  std::string_view rest = text, intent, client, raft;
  MemberInfo m;
  // The optional trailing tls=<port> (no intent name starts with "tls=").
  if (size_t c = rest.rfind(':'); c != std::string_view::npos && rest.substr(c + 1, 4) == "tls=") {
    if (!parse_uint(rest.substr(c + 5), 65535, &m.tls_port) || m.tls_port == 0) return std::nullopt;
    rest = rest.substr(0, c);
  }
  if (!split_last(&rest, &intent) || !split_last(&rest, &client) || !split_last(&rest, &raft) ||
      rest.empty())
    return std::nullopt;
  m.host = std::string(rest);
  if (!parse_uint(raft, 65535, &m.raft_port) || !parse_uint(client, 65535, &m.client_port))
    return std::nullopt;
  if (intent == "voter")
    m.intent = MemberIntent::kVoter;
  else if (intent == "learner")
    m.intent = MemberIntent::kLearner;
  else if (intent == "removing")
    m.intent = MemberIntent::kRemoving;
  else
    return std::nullopt;
  return m;
}

bool parse_host_port(std::string_view text, std::string* host, int* port) {
  std::string_view rest = text, p;
  int v = 0;
  if (!split_last(&rest, &p) || rest.empty() || !parse_uint(p, 65535, &v) || v == 0) return false;
  *host = std::string(rest);
  *port = v;
  return true;
}

void MemberTable::observe(const raft::Entry& entry) {
  if (entry.type != raft::EntryType::kConfChange) return;
  auto cc = raft::decode_conf_change(entry.data);
  if (!cc) return;
  if (cc->type == raft::ConfChangeType::kRemoveNode) {
    members_.erase(cc->node);
    removed_.insert(cc->node);
    return;
  }
  if (removed_.count(cc->node)) return;
  if (auto info = decode_member_context(cc->context)) members_[cc->node] = *info;
}

void MemberTable::seed(raft::NodeId id, const MemberInfo& info) {
  if (removed_.count(id) || members_.count(id)) return;
  members_[id] = info;
}

void MemberTable::overlay(const MemberTable& snapshot) {
  for (raft::NodeId id : snapshot.removed_) {
    removed_.insert(id);
    members_.erase(id);
  }
  for (const auto& [id, info] : snapshot.members_)
    if (!removed_.count(id)) members_[id] = info;
}

const MemberInfo* MemberTable::find(raft::NodeId id) const {
  auto it = members_.find(id);
  return it == members_.end() ? nullptr : &it->second;
}

std::string MemberTable::encode() const {
  std::string out = "m:";
  bool first = true;
  for (const auto& [id, info] : members_) {
    out += (first ? "" : ",") + std::to_string(id) + "=" + encode_member_context(info);
    first = false;
  }
  out += ";r:";
  first = true;
  for (raft::NodeId id : removed_) {
    out += (first ? "" : ",") + std::to_string(id);
    first = false;
  }
  return out;
}

MemberTable MemberTable::decode(std::string_view text) {
  auto bad = [&](std::string_view what) {
    return std::invalid_argument("malformed " + std::string(kAuxMembers) + " '" +
                                 std::string(text.substr(0, 200)) + "': " + std::string(what));
  };
  size_t semi = text.find(';');
  if (text.substr(0, 2) != "m:" || semi == std::string_view::npos || text.substr(semi, 3) != ";r:")
    throw bad("expected m:...;r:...");
  MemberTable t;
  auto for_items = [](std::string_view list, auto&& fn) {
    while (!list.empty()) {
      size_t comma = list.find(',');
      fn(list.substr(0, comma));
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  };
  for_items(text.substr(2, semi - 2), [&](std::string_view item) {
    size_t eq = item.find('=');
    raft::NodeId id = 0;
    if (eq == std::string_view::npos || !parse_uint(item.substr(0, eq), UINT64_MAX, &id) || id == 0)
      throw bad("bad member '" + std::string(item) + "'");
    auto info = decode_member_context(item.substr(eq + 1));
    if (!info) throw bad("bad member address '" + std::string(item) + "'");
    t.members_[id] = *info;
  });
  for_items(text.substr(semi + 3), [&](std::string_view item) {
    raft::NodeId id = 0;
    if (!parse_uint(item, UINT64_MAX, &id) || id == 0)
      throw bad("bad removed id '" + std::string(item) + "'");
    t.removed_.insert(id);
    t.members_.erase(id);
  });
  return t;
}

}  // namespace kvraft
