// storage/rdb_format.cc — pieces of the RDB format shared by the writer and
// the reader: the error type, the kvraft-membership aux encoding and Redis's
// names for value types.
#include <charconv>
#include <set>
#include <string>

#include "storage/rdb.h"

namespace kvraft::storage {
namespace {

// Keys are binary; error messages are log lines. Escapes what a terminal
// would not show and cuts very long keys.
std::string printable(const std::string& key) {
  constexpr size_t kMaxShown = 200;
  std::string out;
  for (size_t i = 0; i < key.size() && i < kMaxShown; ++i) {
    unsigned char c = static_cast<unsigned char>(key[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out += static_cast<char>(c);
    } else {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (key.size() > kMaxShown) out += "...(" + std::to_string(key.size()) + " bytes)";
  return out;
}

std::string compose(const std::string& source, uint64_t offset, const std::string& key,
                    const std::string& reason) {
  std::string s = source + ": offset " + std::to_string(offset);
  if (!key.empty()) s += ", key '" + printable(key) + "'";
  return s + ": " + reason;
}

void append_ids(std::string& out, const std::vector<raft::NodeId>& ids) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(ids[i]);
  }
}

std::vector<raft::NodeId> parse_ids(std::string_view list, std::string_view whole,
                                    std::set<raft::NodeId>& seen) {
  std::vector<raft::NodeId> ids;
  if (list.empty()) return ids;
  auto bad = [&](const std::string& why) {
    return std::invalid_argument("bad kvraft-membership '" + std::string(whole) + "': " + why);
  };
  size_t start = 0;
  while (true) {
    size_t comma = list.find(',', start);
    std::string_view item = list.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    raft::NodeId id = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size())
      throw bad("'" + std::string(item) + "' is not a node id");
    if (id == raft::kNoNode) throw bad("node id 0 is reserved");
    if (!seen.insert(id).second) throw bad("node " + std::to_string(id) + " listed twice");
    ids.push_back(id);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return ids;
}

}  // namespace

RdbError::RdbError(std::string source, uint64_t offset, std::string key, std::string reason)
    : std::runtime_error(compose(source, offset, key, reason)),
      source_(std::move(source)),
      offset_(offset),
      key_(std::move(key)),
      reason_(std::move(reason)) {}

std::string encode_membership(const raft::ConfState& conf) {
  std::string out = "v:";
  append_ids(out, conf.voters);
  out += ";l:";
  append_ids(out, conf.learners);
  return out;
}

raft::ConfState decode_membership(std::string_view text) {
  size_t semi = text.find(';');
  if (text.substr(0, 2) != "v:" || semi == std::string_view::npos || text.substr(semi, 3) != ";l:")
    throw std::invalid_argument("bad kvraft-membership '" + std::string(text) +
                                "': expected 'v:<ids>;l:<ids>'");
  std::set<raft::NodeId> seen;
  raft::ConfState conf;
  conf.voters = parse_ids(text.substr(2, semi - 2), text, seen);
  conf.learners = parse_ids(text.substr(semi + 3), text, seen);
  return conf;
}

bool apply_kvraft_aux(std::string_view name, std::string_view value, raft::SnapshotMeta* meta) {
  auto number = [&]() {
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (value.empty() || ec != std::errc() || end != value.data() + value.size())
      throw std::invalid_argument("bad " + std::string(name) + " '" + std::string(value) +
                                  "': not a decimal number");
    return v;
  };
  if (name == kAuxRaftIndex) {
    meta->index = number();
  } else if (name == kAuxRaftTerm) {
    meta->term = number();
  } else if (name == kAuxMembership) {
    meta->conf = decode_membership(value);
  } else {
    return false;
  }
  return true;
}

std::string_view rdb_type_name(uint8_t type) {
  // Redis's RDB_TYPE_* constants (rdb.h), described as Redis's comments do.
  switch (type) {
    case 0:
      return "string";
    case 1:
      return "linked list";
    case 2:
      return "hash-table set";
    case 3:
      return "zset (text scores)";
    case 4:
      return "hash-table hash";
    case 5:
      return "zset (binary scores)";
    case 6:
      return "module value (pre-GA)";
    case 7:
      return "module value";
    case 9:
      return "zipmap-encoded hash";
    case 10:
      return "ziplist-encoded list";
    case 11:
      return "intset-encoded set";
    case 12:
      return "ziplist-encoded zset";
    case 13:
      return "ziplist-encoded hash";
    case 14:
      return "quicklist-encoded list";
    case 15:
      return "stream (listpacks)";
    case 16:
      return "listpack-encoded hash";
    case 17:
      return "listpack-encoded zset";
    case 18:
      return "quicklist-encoded list (listpack nodes)";
    case 19:
      return "stream (listpacks, v2)";
    case 20:
      return "listpack-encoded set";
    case 21:
      return "stream (listpacks, v3)";
    case 22:
      return "hash with field expiry (pre-GA)";
    case 23:
      return "listpack-encoded hash with field expiry (pre-GA)";
    case 24:
      return "hash with field expiry";
    case 25:
      return "listpack-encoded hash with field expiry";
    default:
      return "unknown";
  }
}

void RdbVisitor::on_aux(std::string_view, std::string_view) {}
void RdbVisitor::on_select_db(uint64_t) {}
void RdbVisitor::on_resize_db(uint64_t, uint64_t) {}

}  // namespace kvraft::storage
