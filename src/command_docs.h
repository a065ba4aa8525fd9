// src/command_docs.h — COMMAND, COMMAND INFO and COMMAND DOCS replies built
// from the command table, so the table stays the single description of
// every command. COMMAND DOCS argument trees are parsed from each spec's
// redis-cli style `syntax` string.
#pragma once

#include <string_view>

#include "resp/reply.h"
#include "src/command.h"

namespace kvraft {

// One COMMAND / COMMAND INFO entry, Redis 7's ten-element shape:
// name, arity, flags, first key, last key, step, ACL categories, tips,
// key specs, subcommands.
void write_command_info(resp::ReplyWriter& reply, const CommandSpec& spec);

// One COMMAND DOCS value (a map: summary, since, group, complexity-less
// arguments tree, subcommands) — the caller writes the name before it.
void write_command_docs(resp::ReplyWriter& reply, const CommandSpec& spec);

// The argument tree for a syntax string, as a COMMAND DOCS "arguments"
// array. Exposed for tests.
void write_syntax_arguments(resp::ReplyWriter& reply, std::string_view syntax);

}  // namespace kvraft
