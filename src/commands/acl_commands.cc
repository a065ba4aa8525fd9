// src/commands/acl_commands.cc — the ACL command: SETUSER, DELUSER, GETUSER,
// LIST, USERS, WHOAMI, CAT, DRYRUN, GENPASS, LOG, SAVE, LOAD, HELP; and the
// internal KVRAFT.ACL-LOAD write that ACL LOAD proposes.
//
// ACL has no routing flag of its own: each subcommand says how it runs
// (route_subcommand in src/command.h). SETUSER and DELUSER are writes: they
// go through the Raft log and their handlers run at apply time on every
// replica against ExecContext::acl, so every node ends up with the same
// users. ACL LOAD reads this node's aclfile locally, then proposes the users
// it holds as one write (KVRAFT.ACL-LOAD, forwarded to the leader from a
// follower like any write), which replaces all users on every replica. The
// others read this node's state locally: the users, and the ACL LOG, which
// is node-local and never replicated (src/acl_log.h). Replies and error
// texts follow Redis 7.0.15 (ACL LOG entries carry 7.2's three extra
// fields).
#include <openssl/rand.h>

#include <algorithm>
#include <string>
#include <vector>

#include "src/acl.h"
#include "src/acl_file.h"
#include "src/acl_log.h"
#include "src/client.h"
#include "src/command.h"
#include "src/commands/command_util.h"
#include "src/log.h"
#include "src/replication.h"
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

// Redis's reply to a subcommand given too many arguments that its own
// handler checks (LOG, GENPASS): argv[1] as sent, "ACL" upper-cased.
void acl_syntax_error(ExecContext& ctx) {
  ctx.reply.error("ERR unknown subcommand or wrong number of arguments for '" +
                  std::string(ctx.argv[1].substr(0, 128)) + "'. Try ACL HELP.");
}

// ACL DRYRUN username command [arg ...]: whether `username` could run the
// command, by the same checks the server runs, without running it.
void acl_dryrun_command(ExecContext& ctx) {
  const AclUser* u = ctx.server->acl().find(ctx.argv[2]);
  if (!u) {
    ctx.reply.error("ERR User '" + std::string(ctx.argv[2]) + "' not found");
    return;
  }
  std::span<const std::string_view> argv = ctx.argv.subspan(3);
  const CommandSpec* spec = command_table().find(argv[0]);
  // Redis looks a container's subcommand up too: an unknown one is an
  // unknown command.
  const CommandSpec* run = spec ? &acl_routed_spec(*spec, argv) : nullptr;
  if (!spec || (spec->flags & kCmdInternal) ||
      (!spec->subcommands.empty() && argv.size() >= 2 && run == spec)) {
    ctx.reply.error("ERR Command '" + std::string(argv[0]) + "' not found");
    return;
  }
  int argc = static_cast<int>(argv.size());
  if ((run->arity > 0 && argc != run->arity) || (run->arity < 0 && argc < -run->arity)) {
    ctx.reply.error(wrong_arity_error(run->name));
    return;
  }
  // Every user may run AUTH, HELLO and QUIT (Redis's no-auth commands).
  if (!(run->flags & kCmdNoAuth) && !u->may_run(*spec, argv)) {
    ctx.reply.bulk("This user has no permissions to run the '" + std::string(run->name) +
                   "' command");
    return;
  }
  if (int pos = u->denied_key(*run, argv); pos >= 0) {
    ctx.reply.bulk("This user has no permissions to access the '" +
                   std::string(argv[static_cast<size_t>(pos)]) + "' key");
    return;
  }
  ctx.reply.ok();
}

// ACL GENPASS [bits]: a random password of `bits` bits (default 256) as
// lower-case hex, from OpenSSL's CSPRNG.
void acl_genpass_command(ExecContext& ctx) {
  if (ctx.argv.size() > 3) {
    acl_syntax_error(ctx);
    return;
  }
  int64_t bits = 256;
  if (ctx.argv.size() == 3 && !parse_ll(ctx, ctx.argv[2], &bits)) return;
  if (bits <= 0 || bits > 4096) {
    ctx.reply.error(
        "ERR ACL GENPASS argument must be the number of bits for the output password, a positive "
        "number up to 4096");
    return;
  }
  size_t chars = static_cast<size_t>(bits + 3) / 4;
  unsigned char bytes[512];
  if (RAND_bytes(bytes, static_cast<int>((chars + 1) / 2)) != 1) {
    ctx.reply.error("ERR failed to generate random bytes");
    return;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < chars; ++i)
    out.push_back(kHex[(i % 2 ? bytes[i / 2] : bytes[i / 2] >> 4) & 15]);
  ctx.reply.bulk(out);
}

// ACL LOG [count | RESET]: this node's newest `count` (default 10) entries.
void acl_log_command(ExecContext& ctx) {
  if (ctx.argv.size() > 3) {
    acl_syntax_error(ctx);
    return;
  }
  AclLog& log = ctx.server->acl_log();
  int64_t count = 10;
  if (ctx.argv.size() == 3) {
    if (iequals(ctx.argv[2], "RESET")) {
      log.reset();
      ctx.reply.ok();
      return;
    }
    if (!parse_ll(ctx, ctx.argv[2], &count)) return;
  }
  const auto& entries = log.entries();
  size_t n = std::min(static_cast<size_t>(std::max<int64_t>(count, 0)), entries.size());
  int64_t now = unix_time_ms();
  ctx.reply.array_header(static_cast<int64_t>(n));
  auto text = [&](std::string_view name, std::string_view value) {
    ctx.reply.bulk(name);
    ctx.reply.bulk(value);
  };
  auto number = [&](std::string_view name, int64_t value) {
    ctx.reply.bulk(name);
    ctx.reply.integer(value);
  };
  for (size_t i = 0; i < n; ++i) {
    const AclLogEntry& e = entries[i];
    ctx.reply.map_header(10);
    number("count", static_cast<int64_t>(e.count));
    text("reason", e.reason);
    text("context", e.context);
    text("object", e.object);
    text("username", e.username);
    ctx.reply.bulk("age-seconds");
    ctx.reply.double_value(static_cast<double>(now - e.updated_ms) / 1000);
    text("client-info", e.client_info);
    number("entry-id", static_cast<int64_t>(e.entry_id));
    number("timestamp-created", e.created_ms);
    number("timestamp-last-updated", e.updated_ms);
  }
}

// ACL SAVE: this node's users to its aclfile, atomically.
void acl_save_command(ExecContext& ctx) {
  const std::string& file = ctx.server->config().aclfile;
  if (file.empty()) {
    ctx.reply.error(kErrNoAclFile);
    return;
  }
  if (std::string err = save_acl_file(file, ctx.server->acl().list()); !err.empty()) {
    KV_LOG_WARNING("ACL SAVE: %s", err.c_str());
    ctx.reply.error(kErrAclSave);
    return;
  }
  ctx.reply.ok();
}

// ACL LOAD: parses this node's aclfile completely (an error changes
// nothing), then proposes its users as one replicated write; the reply is
// that write's, once applied.
void acl_load_command(ExecContext& ctx) {
  const std::string& file = ctx.server->config().aclfile;
  if (file.empty()) {
    ctx.reply.error(kErrNoAclFile);
    return;
  }
  std::string users;
  if (std::string err = load_acl_file(file, &users); !err.empty()) {
    ctx.reply.error("ERR " + err);
    return;
  }
  const CommandSpec* spec = command_table().find("kvraft.acl-load");
  resp::Argv argv = {"KVRAFT.ACL-LOAD", users};
  ctx.server->replication().write(*ctx.client, *spec, argv);
}

// KVRAFT.ACL-LOAD <users> (internal write, applied on every replica):
// replaces all users with `users` (Acl::serialize()'s form).
void kvraft_acl_load_command(ExecContext& ctx) {
  try {
    ctx.acl->restore(ctx.argv[1]);
  } catch (const std::exception& e) {
    ctx.reply.error(std::string("ERR ") + e.what());
    return;
  }
  ctx.reply.ok();
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
      "DRYRUN <username> <command> [<arg> ...]",
      "    Returns whether the user can execute the given command without executing the command.",
      "GETUSER <username>",
      "    Get the user's details.",
      "GENPASS [<bits>]",
      "    Generate a secure 256-bit user password. The optional `bits` argument can",
      "    be used to specify a different size.",
      "LIST",
      "    Show users details in config file format.",
      "LOAD",
      "    Reload users from the ACL file.",
      "LOG [<count> | RESET]",
      "    Show the ACL log entries.",
      "SAVE",
      "    Save the current config to the ACL file.",
      "SETUSER <username> <attribute> [<attribute> ...]",
      "    Create or modify a user with the specified attributes.",
      "USERS",
      "    List all the registered usernames.",
      "WHOAMI",
      "    Return the current connection username.",
      "HELP",
      "    Prints this help."};
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
           acl_sub("acl|dryrun", -4, kLocal | kCmdAdmin, acl_dryrun_command,
                   "Simulates the execution of a command by a user, without executing the "
                   "command.",
                   "username command [arg [arg ...]]"),
           acl_sub("acl|genpass", -2, kLocal, acl_genpass_command,
                   "Generates a pseudorandom, secure password that can be used to identify ACL "
                   "users.",
                   "[bits]"),
           acl_sub("acl|log", -2, kLocal | kCmdAdmin, acl_log_command,
                   "Lists recent security events generated due to ACL rules.", "[count|RESET]"),
           acl_sub("acl|save", 2, kLocal | kCmdAdmin, acl_save_command,
                   "Saves the effective ACL rules in the configured ACL file."),
           acl_sub("acl|load", 2, kCmdConnection | kCmdAdmin, acl_load_command,
                   "Reloads the rules from the configured ACL file."),
           acl_sub("acl|help", 2, kLocal, acl_help_command,
                   "Returns helpful text about the "
                   "different subcommands."),
       }});
  t.add({.name = "kvraft.acl-load",
         .arity = 2,
         .flags = kCmdWrite | kCmdAdmin | kCmdInternal,
         .handler = kvraft_acl_load_command,
         .group = "server",
         .since = "7.0.0",
         .summary = "Replaces all ACL users (proposed by ACL LOAD)."});
}

}  // namespace kvraft
