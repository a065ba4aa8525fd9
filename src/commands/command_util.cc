// src/commands/command_util.cc — the out-of-line helpers of command_util.h:
// typed key lookup, the SCAN family's option parsing and reply head, and
// building command specs from registration rows.
#include "src/commands/command_util.h"

#include <string>

#include "storage/glob.h"
#include "storage/keyspace.h"

namespace kvraft {

namespace {

// Replies WRONGTYPE (and sets *failed) unless `e` is absent or holds `type`.
template <class E>
E* check_type(ExecContext& ctx, E* e, storage::ValueType type, bool* failed) {
  *failed = e && e->type() != type;
  if (!*failed) return e;
  ctx.reply.error(kErrWrongType);
  return nullptr;
}

}  // namespace

const storage::Entry* read_typed(ExecContext& ctx, std::string_view key, storage::ValueType type,
                                 bool* failed) {
  return check_type(ctx, ctx.keyspace.lookup_read(ctx.db, key, ctx.now_ms), type, failed);
}

storage::Entry* write_typed(ExecContext& ctx, std::string_view key, storage::ValueType type,
                            bool* failed) {
  return check_type(ctx, ctx.keyspace.lookup_write(ctx.db, key, ctx.now_ms), type, failed);
}

bool ScanOptions::matches(std::string_view item) const {
  return !use_pattern || storage::glob_match(pattern, item);
}

bool parse_scan_cursor_arg(ExecContext& ctx, std::string_view arg, uint64_t* cursor) {
  if (storage::parse_scan_cursor(arg, cursor)) return true;
  ctx.reply.error("ERR invalid cursor");
  return false;
}

bool parse_scan_options(ExecContext& ctx, size_t first, bool allow_type, ScanOptions* out) {
  for (size_t i = first; i < ctx.argv.size();) {
    size_t remaining = ctx.argv.size() - i;
    if (iequals(ctx.argv[i], "count") && remaining >= 2) {
      if (!parse_ll(ctx, ctx.argv[i + 1], &out->count)) return false;
      if (out->count < 1) {
        ctx.reply.error(kErrSyntax);
        return false;
      }
      i += 2;
    } else if (iequals(ctx.argv[i], "match") && remaining >= 2) {
      out->pattern = ctx.argv[i + 1];
      out->use_pattern = out->pattern != "*";
      i += 2;
    } else if (allow_type && iequals(ctx.argv[i], "type") && remaining >= 2) {
      out->type = ctx.argv[i + 1];
      out->use_type = true;
      i += 2;
    } else {
      ctx.reply.error(kErrSyntax);
      return false;
    }
  }
  return true;
}

void reply_scan_header(ExecContext& ctx, uint64_t cursor, size_t items) {
  ctx.reply.array_header(2);
  ctx.reply.bulk(std::to_string(cursor));
  ctx.reply.array_header(static_cast<int64_t>(items));
}

CommandSpec make_spec(std::string_view name, int arity, uint32_t flags, int first, int last,
                      int step, CommandHandler h, std::string_view group, std::string_view since,
                      std::string_view summary, std::string_view syntax) {
  CommandSpec s;
  s.name = name;
  s.arity = arity;
  s.flags = flags;
  s.first_key = first;
  s.last_key = last;
  s.key_step = step;
  s.handler = h;
  s.group = group;
  s.since = since;
  s.summary = summary;
  s.syntax = syntax;
  return s;
}

}  // namespace kvraft
