// src/command_table.cc — the command table's lookup and the shared error
// texts. The commands themselves are registered from src/commands/*.cc.
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "src/command.h"

namespace kvraft {

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

namespace {
const auto& lower = ascii_lower;
}  // namespace

void CommandTable::add(CommandSpec spec) {
  std::string key = lower(spec.name);
  if (by_name_.count(key)) {
    std::fprintf(stderr, "command table: '%s' registered twice\n", key.c_str());
    std::abort();
  }
  commands_.push_back(std::make_unique<CommandSpec>(std::move(spec)));
  by_name_.emplace(std::move(key), commands_.back().get());
}

const CommandSpec* CommandTable::find(std::string_view name) const {
  // Command names are short; lower-casing (ASCII, as Redis does) into a
  // small buffer avoids an allocation per lookup on the hot path.
  char buf[64];
  if (name.empty() || name.size() >= sizeof buf) return nullptr;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    buf[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  auto it = by_name_.find(std::string_view(buf, name.size()));
  return it == by_name_.end() ? nullptr : it->second;
}

const CommandTable& command_table() {
  static const CommandTable* table = [] {
    auto* t = new CommandTable();
    register_server_commands(*t);
    register_cluster_commands(*t);
    register_membership_commands(*t);
    register_string_commands(*t);
    register_keyspace_commands(*t);
    register_list_commands(*t);
    register_hash_commands(*t);
    register_set_commands(*t);
    register_zset_commands(*t);
    register_transfer_commands(*t);
    register_transaction_commands(*t);
    register_acl_commands(*t);
    register_proxy_commands(*t);
    return t;
  }();
  return *table;
}

const CommandSpec* route_subcommand(const CommandSpec& spec,
                                    std::span<const std::string_view> argv) {
  if (spec.flags & (kCmdWrite | kCmdReadonly | kCmdConnection) || argv.size() < 2) return &spec;
  std::string name = lower(spec.name) + "|" + lower(argv[1]);
  for (const CommandSpec& sub : spec.subcommands)
    if (sub.name == name && sub.handler) return &sub;
  return &spec;
}

std::string wrong_arity_error(std::string_view command_name) {
  return "ERR wrong number of arguments for '" + lower(command_name) + "' command";
}

}  // namespace kvraft
