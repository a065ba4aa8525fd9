// src/commands/acl_commands.cc — the ACL command: SETUSER, DELUSER, GETUSER,
// LIST, USERS, WHOAMI, CAT, HELP.
//
// ACL has no routing flag of its own: each subcommand says how it runs
// (route_subcommand in src/command.h). SETUSER and DELUSER are writes: they
// go through the Raft log and their handlers run at apply time on every
// replica against ExecContext::acl, so every node ends up with the same
// users. The others read this node's copy locally. Replies and error texts
// follow Redis 7.
#include <algorithm>
#include <string>
#include <vector>

#include "src/acl.h"
#include "src/client.h"
#include "src/command.h"
#include "src/commands/command_util.h"
#include "src/server.h"

namespace kvraft {

namespace {

// ACL SETUSER username [rule [rule ...]] (a write, applied on every replica)
void acl_setuser_command(ExecContext& ctx) {
  std::string err = ctx.acl->set_user(ctx.argv[2], ctx.argv.subspan(3));
  if (err.empty())
    ctx.reply.ok();
  else
    ctx.reply.error(err);
}

// ACL DELUSER username [username ...] (a write, applied on every replica)
void acl_deluser_command(ExecContext& ctx) {
  for (std::string_view name : ctx.argv.subspan(2)) {
    if (name == "default") {
      ctx.reply.error("ERR The 'default' user cannot be removed");
      return;
    }
  }
  ctx.reply.integer(ctx.acl->delete_users(ctx.argv.subspan(2)));
}

// ACL GETUSER username
void acl_getuser_command(ExecContext& ctx) {
  const AclUser* u = ctx.server->acl().find(ctx.argv[2]);
  if (!u) {
    ctx.reply.null();
    return;
  }
  ctx.reply.map_header(6);
  ctx.reply.bulk("flags");
  std::vector<std::string> flags = u->flag_names();
  ctx.reply.array_header(static_cast<int64_t>(flags.size()));
  for (const std::string& f : flags)
    ctx.reply.bulk(f);
  ctx.reply.bulk("passwords");
  ctx.reply.array_header(static_cast<int64_t>(u->passwords.size()));
  for (const std::string& p : u->passwords)
    ctx.reply.bulk(p);
  ctx.reply.bulk("commands");
  ctx.reply.bulk(u->command_rules);
  ctx.reply.bulk("keys");
  ctx.reply.bulk(u->keys_description());
  ctx.reply.bulk("channels");
  ctx.reply.bulk(u->channels_description());
  ctx.reply.bulk("selectors");
  ctx.reply.array_header(0);
}

// ACL LIST
void acl_list_command(ExecContext& ctx) {
  std::vector<std::string> lines = ctx.server->acl().list();
  ctx.reply.array_header(static_cast<int64_t>(lines.size()));
  for (const std::string& l : lines)
    ctx.reply.bulk(l);
}

// ACL USERS
void acl_users_command(ExecContext& ctx) {
  const auto& users = ctx.server->acl().users();
  ctx.reply.array_header(static_cast<int64_t>(users.size()));
  for (const auto& [name, user] : users)
    ctx.reply.bulk(name);
}

// ACL WHOAMI
void acl_whoami_command(ExecContext& ctx) {
  ctx.reply.bulk(ctx.client->authenticated ? std::string_view(ctx.client->user) : "default");
}

// ACL CAT [category]
void acl_cat_command(ExecContext& ctx) {
  const auto& cats = acl_categories();
  if (ctx.argv.size() > 3) {
    ctx.reply.error(wrong_arity_error("acl|cat"));
    return;
  }
  if (ctx.argv.size() == 2) {
    ctx.reply.array_header(static_cast<int64_t>(cats.size()));
    for (std::string_view c : cats)
      ctx.reply.bulk(c);
    return;
  }
  std::string cat = ascii_lower(ctx.argv[2]);
  if (std::find(cats.begin(), cats.end(), cat) == cats.end()) {
    ctx.reply.error("ERR Unknown category '" + std::string(ctx.argv[2]) + "'");
    return;
  }
  std::vector<std::string_view> names;
  for (const auto& c : command_table().all()) {
    if (c->flags & kCmdInternal) continue;
    if (acl_command_in_category(*c, nullptr, cat)) names.push_back(c->name);
    for (const CommandSpec& sub : c->subcommands)
      if (acl_command_in_category(sub, c.get(), cat)) names.push_back(sub.name);
  }
  ctx.reply.array_header(static_cast<int64_t>(names.size()));
  for (std::string_view n : names)
    ctx.reply.bulk(n);
}

// ACL HELP
void acl_help_command(ExecContext& ctx) {
  static constexpr std::string_view kLines[] = {
      "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "CAT [<category>]",
      "    List all commands that belong to <category>, or all command categories",
      "    when no category is specified.",
      "DELUSER <username> [<username> ...]",
      "    Delete a list of users.",
      "GETUSER <username>",
      "    Get the user's details.",
      "LIST",
      "    Show users details in config file format.",
      "USERS",
      "    List all the registered usernames.",
      "SETUSER <username> <attribute> [<attribute> ...]",
      "    Create or modify a user with the specified attributes.",
      "WHOAMI",
      "    Return the current connection username.",
      "HELP",
      "    Print this help."};
  ctx.reply.array_header(static_cast<int64_t>(std::size(kLines)));
  for (std::string_view l : kLines)
    ctx.reply.simple_string(l);
}

// ACL with no known subcommand: route_subcommand found none, so the
// container itself runs (locally) and reports it.
void acl_command(ExecContext& ctx) {
  ctx.reply.error("ERR unknown subcommand '" + std::string(ctx.argv[1].substr(0, 128)) +
                  "'. Try ACL HELP.");
}

CommandSpec acl_sub(std::string_view name, int arity, uint32_t flags, CommandHandler handler,
                    std::string_view summary, std::string_view syntax = {}) {
  return {.name = name,
          .arity = arity,
          .flags = flags,
          .handler = handler,
          .group = "server",
          .since = "6.0.0",
          .summary = summary,
          .syntax = syntax};
}

}  // namespace

void register_acl_commands(CommandTable& t) {
  constexpr uint32_t kLocal = kCmdConnection | kCmdStale | kCmdLoading;
  t.add(
      {.name = "acl",
       .arity = -2,
       .flags = kCmdStale | kCmdLoading,
       .handler = acl_command,
       .group = "server",
       .since = "6.0.0",
       .summary = "A container for Access List Control commands.",
       .subcommands = {
           acl_sub("acl|setuser", -3, kCmdWrite | kCmdAdmin, acl_setuser_command,
                   "Creates and modifies an ACL user and its rules.", "username [rule [rule ...]]"),
           acl_sub("acl|deluser", -3, kCmdWrite | kCmdAdmin, acl_deluser_command,
                   "Deletes ACL users, and terminates their connections.",
                   "username [username ...]"),
           acl_sub("acl|getuser", 3, kLocal | kCmdAdmin, acl_getuser_command,
                   "Lists the ACL rules of a user.", "username"),
           acl_sub("acl|list", 2, kLocal | kCmdAdmin, acl_list_command,
                   "Dumps the effective rules in ACL file format."),
           acl_sub("acl|users", 2, kLocal | kCmdAdmin, acl_users_command, "Lists all ACL users."),
           acl_sub("acl|whoami", 2, kLocal, acl_whoami_command,
                   "Returns the authenticated username of the current connection."),
           acl_sub("acl|cat", -2, kLocal, acl_cat_command,
                   "Lists the ACL categories, or the commands inside a category.", "[category]"),
           acl_sub("acl|help", 2, kLocal, acl_help_command,
                   "Returns helpful text about the "
                   "different subcommands."),
       }});
}

}  // namespace kvraft
