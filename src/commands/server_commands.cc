// src/commands/server_commands.cc — commands about the connection and the
// server rather than the data: PING, ECHO, SELECT, HELLO, AUTH, QUIT,
// TIME, CLIENT, CONFIG, INFO, COMMAND.
//
// All are kCmdConnection: they run on the node the client is connected to
// and are never replicated. Replies and error texts follow Redis 7.
#include <fnmatch.h>
#include <malloc.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "src/acl.h"
#include "src/client.h"
#include "src/command.h"
#include "src/command_docs.h"
#include "src/commands/command_util.h"
#include "src/eviction.h"
#include "src/info.h"
#include "src/server.h"

namespace kvraft {

namespace {

bool parse_int64(std::string_view s, int64_t* out) {
  if (s.empty() || s[0] == '+') return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

void unknown_subcommand(ExecContext& ctx) {
  std::string container(ctx.spec->name);
  for (char& c : container)
    c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  ctx.reply.error("ERR unknown subcommand '" + std::string(ctx.argv[1].substr(0, 128)) + "'. Try " +
                  container + " HELP.");
}

void subcommand_arity_error(ExecContext& ctx) {
  std::string sub(ctx.argv[1]);
  for (char& c : sub)
    c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  ctx.reply.error("ERR wrong number of arguments for '" + std::string(ctx.spec->name) + "|" + sub +
                  "' command");
}

void write_help(ExecContext& ctx, std::initializer_list<std::string_view> lines) {
  std::string container(ctx.spec->name);
  for (char& c : container)
    c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  ctx.reply.array_header(static_cast<int64_t>(lines.size()) + 1);
  ctx.reply.simple_string(container + " <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
  for (auto l : lines)
    ctx.reply.simple_string(l);
}

// The password check shared by AUTH and HELLO ... AUTH: on success the
// connection runs as `user` from now on (src/acl.h).
bool check_password(ExecContext& ctx, std::string_view user, std::string_view password) {
  const AclUser* u =
      ctx.server->acl().authenticate(user, password, ctx.server->config().requirepass);
  if (!u) {
    record_acl_auth_failure(*ctx.server, *ctx.client, user, ctx.argv[0]);
    ctx.reply.error(kErrWrongPass);
    return false;
  }
  ctx.client->authenticated = true;
  ctx.client->user = u->name;
  return true;
}

bool valid_client_name(std::string_view name) {
  for (char c : name)
    if (c < '!' || c > '~') return false;  // Redis: no spaces, newlines or specials
  return true;
}

}  // namespace

// PING [message]
void ping_command(ExecContext& ctx) {
  if (ctx.argv.size() > 2) {
    ctx.reply.error(wrong_arity_error("ping"));
    return;
  }
  if (ctx.argv.size() == 2)
    ctx.reply.bulk(ctx.argv[1]);
  else
    ctx.reply.simple_string("PONG");
}

// ECHO message
void echo_command(ExecContext& ctx) {
  ctx.reply.bulk(ctx.argv[1]);
}

// SELECT index
void select_command(ExecContext& ctx) {
  int64_t db;
  if (!parse_int64(ctx.argv[1], &db) || db < INT32_MIN || db > INT32_MAX) {
    ctx.reply.error(kErrNotInteger);
    return;
  }
  if (db < 0 || db >= ctx.server->config().databases) {
    ctx.reply.error(kErrDbIndexOutOfRange);
    return;
  }
  ctx.client->db = static_cast<int>(db);
  ctx.reply.ok();
}

// AUTH [username] password
void auth_command(ExecContext& ctx) {
  if (ctx.argv.size() > 3) {
    ctx.reply.error(kErrSyntax);
    return;
  }
  std::string_view user = ctx.argv.size() == 3 ? ctx.argv[1] : "default";
  std::string_view password = ctx.argv.back();
  if (ctx.argv.size() == 2 &&
      !ctx.server->acl().default_needs_auth(ctx.server->config().requirepass)) {
    ctx.reply.error(
        "ERR AUTH <password> called without any password configured for the default user. Are "
        "you sure your configuration is correct?");
    return;
  }
  if (check_password(ctx, user, password)) ctx.reply.ok();
}

// HELLO [protover [AUTH username password] [SETNAME clientname]]
void hello_command(ExecContext& ctx) {
  int64_t version = ctx.reply.protocol();
  size_t i = 1;
  if (ctx.argv.size() >= 2) {
    if (!parse_int64(ctx.argv[1], &version)) {
      ctx.reply.error("ERR Protocol version is not an integer or out of range");
      return;
    }
    if (version < 2 || version > 3) {
      ctx.reply.error("NOPROTO unsupported protocol version");
      return;
    }
    i = 2;
  }
  std::string_view setname;
  bool has_setname = false;
  for (; i < ctx.argv.size(); ++i) {
    bool more = i + 1 < ctx.argv.size();
    if (iequals(ctx.argv[i], "AUTH") && i + 2 < ctx.argv.size()) {
      if (!check_password(ctx, ctx.argv[i + 1], ctx.argv[i + 2])) return;
      i += 2;
    } else if (iequals(ctx.argv[i], "SETNAME") && more) {
      setname = ctx.argv[i + 1];
      has_setname = true;
      ++i;
    } else {
      ctx.reply.error("ERR Syntax error in HELLO option '" + std::string(ctx.argv[i]) + "'");
      return;
    }
  }
  if (ctx.server->acl().default_needs_auth(ctx.server->config().requirepass) &&
      !ctx.client->authenticated) {
    ctx.reply.error(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "
        "<proto> AUTH <user> <pass> option can be used to authenticate the client and select the "
        "RESP protocol version at the same time");
    return;
  }
  if (has_setname) {
    if (!valid_client_name(setname)) {
      ctx.reply.error("ERR Client names cannot contain spaces, newlines or special characters.");
      return;
    }
    ctx.client->name = std::string(setname);
  }
  ctx.reply.set_protocol(static_cast<int>(version));
  ctx.reply.map_header(7);
  ctx.reply.bulk("server");
  ctx.reply.bulk("redis");
  ctx.reply.bulk("version");
  ctx.reply.bulk(kRedisCompatVersion);
  ctx.reply.bulk("proto");
  ctx.reply.integer(version);
  ctx.reply.bulk("id");
  ctx.reply.integer(static_cast<int64_t>(ctx.client->id()));
  ctx.reply.bulk("mode");
  ctx.reply.bulk("standalone");
  ctx.reply.bulk("role");
  ctx.reply.bulk("master");
  ctx.reply.bulk("modules");
  ctx.reply.array_header(0);
}

// QUIT: replies OK, then the connection closes once the reply is written.
void quit_command(ExecContext& ctx) {
  ctx.reply.ok();
  ctx.client->close_after_reply = true;
}

// TIME: [unix seconds, microseconds] as bulk strings.
void time_command(ExecContext& ctx) {
  int64_t us = unix_time_us();
  ctx.reply.array_header(2);
  ctx.reply.bulk(std::to_string(us / 1000000));
  ctx.reply.bulk(std::to_string(us % 1000000));
}

std::string client_info_line(Server& server, Client& c) {
  int64_t now = unix_time_ms();
  std::string s;
  s.reserve(256);
  s += "id=" + std::to_string(c.id());
  s += " addr=" + c.addr;
  s += " laddr=" + c.laddr;
  s += " fd=" + std::to_string(c.handle()->io_watcher.fd);
  s += " name=" + c.name;
  s += " age=" + std::to_string((now - c.created_ms) / 1000);
  s += " idle=" + std::to_string((now - c.last_interaction_ms) / 1000);
  s += " flags=N";
  s += " db=" + std::to_string(c.db);
  s += " sub=0 psub=0 ssub=0 multi=-1";
  s += " qbuf=" + std::to_string(c.query.size());
  s += " qbuf-free=" + std::to_string(c.query.capacity() - c.query.size());
  s += " argv-mem=0 multi-mem=0";
  // oll: the replies queued behind the output buffer — here the reserved
  // reply slots (waiting for a commit, a barrier or the leader, or ready
  // behind one that waits), so a request that never gets its reply shows.
  s += " obl=0 oll=" + std::to_string(c.pending_replies.size());
  s += " omem=" + std::to_string(c.reply.size() + c.write_in_flight.size());
  s += " tot-mem=" + std::to_string(c.query.capacity() + c.reply.size() + c.write_in_flight.size() +
                                    sizeof(Client));
  s += " events=r";
  s += " cmd=" + c.last_command;
  s += " user=" + (c.authenticated ? c.user : std::string("default")) + " redir=-1";
  s += " resp=" + std::to_string(c.reply.protocol());
  s += " lib-name=" + c.lib_name;
  s += " lib-ver=" + c.lib_ver;
  (void)server;
  return s;
}

// CLIENT ID | GETNAME | SETNAME | LIST | INFO | SETINFO | KILL | HELP
void client_command(ExecContext& ctx) {
  auto sub = ctx.argv[1];
  size_t argc = ctx.argv.size();
  Client& me = *ctx.client;
  Server& server = *ctx.server;
  if (iequals(sub, "HELP") && argc == 2) {
    write_help(ctx, {"ID", "    Return the ID of the current connection.", "GETNAME",
                     "    Return the name of the current connection.", "SETNAME <name>",
                     "    Assign the name <name> to the current connection.",
                     "LIST [TYPE normal] [ID <id> [<id> ...]]",
                     "    Return information about client connections.", "INFO",
                     "    Return information about the current client connection.",
                     "SETINFO <option> <value>",
                     "    Set client meta attr. Options are LIB-NAME and LIB-VER.",
                     "KILL <ip:port> | KILL ID <id> [ID <id> ...]", "    Kill connections.", "HELP",
                     "    Print this help."});
  } else if (iequals(sub, "ID")) {
    if (argc != 2) return subcommand_arity_error(ctx);
    ctx.reply.integer(static_cast<int64_t>(me.id()));
  } else if (iequals(sub, "GETNAME")) {
    if (argc != 2) return subcommand_arity_error(ctx);
    if (me.name.empty())
      ctx.reply.null();
    else
      ctx.reply.bulk(me.name);
  } else if (iequals(sub, "SETNAME")) {
    if (argc != 3) return subcommand_arity_error(ctx);
    if (!valid_client_name(ctx.argv[2])) {
      ctx.reply.error("ERR Client names cannot contain spaces, newlines or special characters.");
      return;
    }
    me.name = std::string(ctx.argv[2]);
    ctx.reply.ok();
  } else if (iequals(sub, "SETINFO")) {
    if (argc != 4) return subcommand_arity_error(ctx);
    bool is_name = iequals(ctx.argv[2], "LIB-NAME");
    if (!is_name && !iequals(ctx.argv[2], "LIB-VER")) {
      ctx.reply.error("ERR Unrecognized option '" + std::string(ctx.argv[2]) + "'");
      return;
    }
    if (!valid_client_name(ctx.argv[3])) {
      ctx.reply.error("ERR " + std::string(is_name ? "lib-name" : "lib-ver") +
                      " cannot contain spaces, newlines or special characters.");
      return;
    }
    (is_name ? me.lib_name : me.lib_ver) = std::string(ctx.argv[3]);
    ctx.reply.ok();
  } else if (iequals(sub, "INFO")) {
    if (argc != 2) return subcommand_arity_error(ctx);
    ctx.reply.verbatim("txt", client_info_line(server, me) + "\n");
  } else if (iequals(sub, "LIST")) {
    std::set<uint64_t> ids;
    for (size_t i = 2; i < argc; ++i) {
      if (iequals(ctx.argv[i], "TYPE") && i + 1 < argc) {
        if (!iequals(ctx.argv[i + 1], "normal")) {
          if (iequals(ctx.argv[i + 1], "master") || iequals(ctx.argv[i + 1], "replica") ||
              iequals(ctx.argv[i + 1], "pubsub")) {
            ctx.reply.verbatim("txt", "");
          } else {
            ctx.reply.error("ERR Unknown client type '" + std::string(ctx.argv[i + 1]) + "'");
          }
          return;
        }
        ++i;
      } else if (iequals(ctx.argv[i], "ID") && i + 1 < argc) {
        for (++i; i < argc; ++i) {
          int64_t id;
          if (!parse_int64(ctx.argv[i], &id) || id <= 0) {
            ctx.reply.error("ERR Invalid client ID");
            return;
          }
          ids.insert(static_cast<uint64_t>(id));
        }
      } else {
        ctx.reply.error(kErrSyntax);
        return;
      }
    }
    std::vector<Client*> all;
    for (auto& [id, c] : server.clients())
      if (!c->closing && (ids.empty() || ids.count(id))) all.push_back(c.get());
    std::sort(all.begin(), all.end(), [](Client* a, Client* b) { return a->id() < b->id(); });
    std::string out;
    for (Client* c : all)
      out += client_info_line(server, *c) + "\n";
    ctx.reply.verbatim("txt", out);
  } else if (iequals(sub, "KILL")) {
    std::vector<Client*> victims;
    if (argc == 3) {
      for (auto& [id, c] : server.clients())
        if (c->addr == ctx.argv[2]) victims.push_back(c.get());
      if (victims.empty()) {
        ctx.reply.error("ERR No such client");
        return;
      }
      ctx.reply.ok();
    } else if (argc >= 4 && (argc % 2) == 0) {
      for (size_t i = 2; i + 1 < argc; i += 2) {
        if (!iequals(ctx.argv[i], "ID")) {
          ctx.reply.error(kErrSyntax);
          return;
        }
        int64_t id;
        if (!parse_int64(ctx.argv[i + 1], &id) || id <= 0) {
          ctx.reply.error("ERR client-id should be greater than 0");
          return;
        }
        if (Client* c = server.find_client(static_cast<uint64_t>(id))) victims.push_back(c);
      }
      ctx.reply.integer(static_cast<int64_t>(victims.size()));
    } else {
      ctx.reply.error(kErrSyntax);
      return;
    }
    for (Client* c : victims) {
      if (c == &me)
        me.close_after_reply = true;  // reply first, as Redis does
      else
        server.close_client(*c);
    }
  } else {
    unknown_subcommand(ctx);
  }
}

// CONFIG GET pattern [pattern ...] | SET name value [name value ...] | RESETSTAT | HELP
void config_command(ExecContext& ctx) {
  auto sub = ctx.argv[1];
  size_t argc = ctx.argv.size();
  Server& server = *ctx.server;
  if (iequals(sub, "HELP") && argc == 2) {
    write_help(ctx, {"GET <pattern>",
                     "    Return parameters matching the glob-like <pattern> and their values.",
                     "SET <directive> <value>", "    Set the configuration <directive> to <value>.",
                     "RESETSTAT", "    Reset statistics reported by the INFO command.", "HELP",
                     "    Print this help."});
  } else if (iequals(sub, "GET")) {
    if (argc < 3) return subcommand_arity_error(ctx);
    std::vector<std::pair<std::string, std::string>> found;
    for (size_t i = 2; i < argc; ++i)
      config_get(server.config(), ctx.argv[i], &found);
    std::vector<std::pair<std::string, std::string>> unique;
    for (auto& kv : found)
      if (std::none_of(unique.begin(), unique.end(),
                       [&](const auto& u) { return u.first == kv.first; }))
        unique.push_back(std::move(kv));
    ctx.reply.map_header(static_cast<int64_t>(unique.size()));
    for (const auto& [k, v] : unique) {
      ctx.reply.bulk(k);
      ctx.reply.bulk(v);
    }
  } else if (iequals(sub, "SET")) {
    if (argc < 4 || (argc % 2) != 0) return subcommand_arity_error(ctx);
    // Validate everything on a copy first so a failing directive changes nothing.
    Config candidate = server.config();
    for (size_t i = 2; i + 1 < argc; i += 2) {
      std::string err = config_set(candidate, ctx.argv[i], {std::string(ctx.argv[i + 1])}, true);
      if (!err.empty()) {
        ctx.reply.error("ERR CONFIG SET failed (possibly related to argument '" +
                        std::string(ctx.argv[i]) + "') - " + err);
        return;
      }
    }
    server.config() = std::move(candidate);
    server.apply_runtime_config();
    ctx.reply.ok();
  } else if (iequals(sub, "RESETSTAT")) {
    if (argc != 2) return subcommand_arity_error(ctx);
    reset_info_stats(server);
    ctx.reply.ok();
  } else if (iequals(sub, "REWRITE")) {
    ctx.reply.error("ERR CONFIG REWRITE is not supported by kvraft; edit the config file instead");
  } else {
    unknown_subcommand(ctx);
  }
}

// INFO [section ...]
void info_command(ExecContext& ctx) {
  std::vector<std::string_view> sections(ctx.argv.begin() + 1, ctx.argv.end());
  ctx.reply.verbatim("txt", render_info(*ctx.server, sections));
}

// COMMAND [COUNT | LIST | INFO name... | DOCS [name...] | GETKEYS cmd args... | HELP]
void command_command(ExecContext& ctx) {
  const CommandTable& table = ctx.server->commands();
  auto visible = [&]() {
    std::vector<const CommandSpec*> out;
    for (const auto& c : table.all())
      if (!(c->flags & kCmdInternal)) out.push_back(c.get());
    return out;
  };
  size_t argc = ctx.argv.size();
  if (argc == 1) {
    auto all = visible();
    ctx.reply.array_header(static_cast<int64_t>(all.size()));
    for (const auto* c : all)
      write_command_info(ctx.reply, *c);
    return;
  }
  auto sub = ctx.argv[1];
  if (iequals(sub, "HELP") && argc == 2) {
    write_help(
        ctx, {"(no subcommand)", "    Return details about all commands.", "COUNT",
              "    Return the total number of commands in this server.", "LIST",
              "    Return a list of all commands in this server.", "INFO [<command-name> ...]",
              "    Return details about multiple commands.", "DOCS [<command-name> ...]",
              "    Return documentation details about multiple commands.", "GETKEYS <full-command>",
              "    Return the keys from a full command.", "HELP", "    Print this help."});
  } else if (iequals(sub, "COUNT")) {
    if (argc != 2) return subcommand_arity_error(ctx);
    ctx.reply.integer(static_cast<int64_t>(visible().size()));
  } else if (iequals(sub, "LIST")) {
    auto all = visible();
    ctx.reply.array_header(static_cast<int64_t>(all.size()));
    for (const auto* c : all)
      ctx.reply.bulk(c->name);
  } else if (iequals(sub, "INFO")) {
    if (argc == 2) {
      auto all = visible();
      ctx.reply.array_header(static_cast<int64_t>(all.size()));
      for (const auto* c : all)
        write_command_info(ctx.reply, *c);
      return;
    }
    ctx.reply.array_header(static_cast<int64_t>(argc - 2));
    for (size_t i = 2; i < argc; ++i) {
      const CommandSpec* c = table.find(ctx.argv[i]);
      if (c && !(c->flags & kCmdInternal))
        write_command_info(ctx.reply, *c);
      else
        ctx.reply.null_array();
    }
  } else if (iequals(sub, "DOCS")) {
    std::vector<const CommandSpec*> wanted;
    if (argc == 2) {
      wanted = visible();
    } else {
      for (size_t i = 2; i < argc; ++i) {
        const CommandSpec* c = table.find(ctx.argv[i]);
        if (c && !(c->flags & kCmdInternal)) wanted.push_back(c);
      }
    }
    ctx.reply.map_header(static_cast<int64_t>(wanted.size()));
    for (const auto* c : wanted) {
      ctx.reply.bulk(c->name);
      write_command_docs(ctx.reply, *c);
    }
  } else if (iequals(sub, "GETKEYS")) {
    if (argc < 3) return subcommand_arity_error(ctx);
    const CommandSpec* c = table.find(ctx.argv[2]);
    if (!c || (c->flags & kCmdInternal)) {
      ctx.reply.error("ERR Invalid command specified");
      return;
    }
    int n = static_cast<int>(argc - 2);
    if ((c->arity > 0 && n != c->arity) || (c->arity < 0 && n < -c->arity)) {
      ctx.reply.error("ERR Invalid number of arguments specified for command");
      return;
    }
    if (c->first_key == 0) {
      ctx.reply.error("ERR The command has no key arguments");
      return;
    }
    int last = c->last_key < 0 ? n + c->last_key : c->last_key;
    std::vector<std::string_view> keys;
    for (int k = c->first_key; k <= last && k < n; k += std::max(1, c->key_step))
      keys.push_back(ctx.argv[2 + static_cast<size_t>(k)]);
    ctx.reply.array_header(static_cast<int64_t>(keys.size()));
    for (auto k : keys)
      ctx.reply.bulk(k);
  } else {
    unknown_subcommand(ctx);
  }
}

void register_server_commands(CommandTable& t) {
  constexpr uint32_t kConn = kCmdConnection;
  t.add({.name = "ping",
         .arity = -1,
         .flags = kConn | kCmdFast | kCmdStale | kCmdLoading,
         .handler = ping_command,
         .group = "connection",
         .since = "1.0.0",
         .summary = "Returns the server's liveliness response.",
         .syntax = "[message]"});
  t.add({.name = "echo",
         .arity = 2,
         .flags = kConn | kCmdFast | kCmdStale | kCmdLoading,
         .handler = echo_command,
         .group = "connection",
         .since = "1.0.0",
         .summary = "Returns the given string.",
         .syntax = "message"});
  t.add({.name = "select",
         .arity = 2,
         .flags = kConn | kCmdFast | kCmdStale | kCmdLoading,
         .handler = select_command,
         .group = "connection",
         .since = "1.0.0",
         .summary = "Changes the selected database.",
         .syntax = "index"});
  t.add({.name = "auth",
         .arity = -2,
         .flags = kConn | kCmdFast | kCmdNoAuth | kCmdStale | kCmdLoading,
         .handler = auth_command,
         .group = "connection",
         .since = "1.0.0",
         .summary = "Authenticates the connection.",
         .syntax = "[username] password"});
  t.add({.name = "hello",
         .arity = -1,
         .flags = kConn | kCmdFast | kCmdNoAuth | kCmdStale | kCmdLoading,
         .handler = hello_command,
         .group = "connection",
         .since = "6.0.0",
         .summary = "Handshakes with the server.",
         .syntax = "[protover [AUTH username password] [SETNAME clientname]]"});
  t.add({.name = "quit",
         .arity = -1,
         .flags = kConn | kCmdFast | kCmdNoAuth | kCmdStale | kCmdLoading,
         .handler = quit_command,
         .group = "connection",
         .since = "1.0.0",
         .summary = "Closes the connection."});
  t.add({.name = "time",
         .arity = 1,
         .flags = kConn | kCmdFast | kCmdStale | kCmdLoading,
         .handler = time_command,
         .group = "server",
         .since = "2.6.0",
         .summary = "Returns the server time."});
  t.add({.name = "client",
         .arity = -2,
         .flags = kConn | kCmdStale | kCmdLoading,
         .handler = client_command,
         .group = "connection",
         .since = "2.4.0",
         .summary = "A container for client connection commands.",
         .subcommands = {
             {.name = "client|id",
              .arity = 2,
              .flags = kConn,
              .group = "connection",
              .since = "5.0.0",
              .summary = "Returns the unique client ID of the connection."},
             {.name = "client|getname",
              .arity = 2,
              .flags = kConn,
              .group = "connection",
              .since = "2.6.9",
              .summary = "Returns the name of the connection."},
             {.name = "client|setname",
              .arity = 3,
              .flags = kConn,
              .group = "connection",
              .since = "2.6.9",
              .summary = "Sets the connection name.",
              .syntax = "connection-name"},
             {.name = "client|setinfo",
              .arity = 4,
              .flags = kConn,
              .group = "connection",
              .since = "7.2.0",
              .summary = "Sets information specific to the client or connection.",
              .syntax = "LIB-NAME libname|LIB-VER libver"},
             {.name = "client|list",
              .arity = -2,
              .flags = kConn | kCmdAdmin,
              .group = "connection",
              .since = "2.4.0",
              .summary = "Lists open connections.",
              .syntax = "[TYPE normal|master|replica|pubsub] [ID client-id [client-id ...]]"},
             {.name = "client|info",
              .arity = 2,
              .flags = kConn,
              .group = "connection",
              .since = "6.2.0",
              .summary = "Returns information about the connection."},
             {.name = "client|kill",
              .arity = -3,
              .flags = kConn | kCmdAdmin,
              .group = "connection",
              .since = "2.4.0",
              .summary = "Terminates open connections.",
              .syntax = "ip:port|ID client-id"},
         }});
  t.add({.name = "config",
         .arity = -2,
         .flags = kConn | kCmdAdmin | kCmdStale | kCmdLoading,
         .handler = config_command,
         .group = "server",
         .since = "2.0.0",
         .summary = "A container for server configuration commands.",
         .subcommands = {
             {.name = "config|get",
              .arity = -3,
              .flags = kConn | kCmdAdmin,
              .group = "server",
              .since = "2.0.0",
              .summary = "Returns the effective values of configuration parameters.",
              .syntax = "parameter [parameter ...]"},
             {.name = "config|set",
              .arity = -4,
              .flags = kConn | kCmdAdmin,
              .group = "server",
              .since = "2.0.0",
              .summary = "Sets configuration parameters in-flight.",
              .syntax = "parameter value [parameter value ...]"},
             {.name = "config|resetstat",
              .arity = 2,
              .flags = kConn | kCmdAdmin,
              .group = "server",
              .since = "2.0.0",
              .summary = "Resets the server's statistics."},
         }});
  t.add({.name = "info",
         .arity = -1,
         .flags = kConn | kCmdStale | kCmdLoading,
         .handler = info_command,
         .group = "server",
         .since = "1.0.0",
         .summary = "Returns information and statistics about the server.",
         .syntax = "[section [section ...]]"});
  t.add({.name = "command",
         .arity = -1,
         .flags = kConn | kCmdStale | kCmdLoading,
         .handler = command_command,
         .group = "server",
         .since = "2.8.13",
         .summary = "Returns detailed information about all commands.",
         .subcommands = {
             {.name = "command|count",
              .arity = 2,
              .flags = kConn,
              .group = "server",
              .since = "2.8.13",
              .summary = "Returns a count of commands."},
             {.name = "command|list",
              .arity = -2,
              .flags = kConn,
              .group = "server",
              .since = "7.0.0",
              .summary = "Returns a list of command names."},
             {.name = "command|info",
              .arity = -2,
              .flags = kConn,
              .group = "server",
              .since = "2.8.13",
              .summary = "Returns information about one, multiple or all commands.",
              .syntax = "[command-name [command-name ...]]"},
             {.name = "command|docs",
              .arity = -2,
              .flags = kConn,
              .group = "server",
              .since = "7.0.0",
              .summary = "Returns documentary information about one, multiple or all commands.",
              .syntax = "[command-name [command-name ...]]"},
             {.name = "command|getkeys",
              .arity = -3,
              .flags = kConn,
              .group = "server",
              .since = "2.8.13",
              .summary = "Extracts the key names from an arbitrary command.",
              .syntax = "command [arg [arg ...]]"},
         }});
}

}  // namespace kvraft
