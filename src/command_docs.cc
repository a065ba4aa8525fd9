// src/command_docs.cc — see command_docs.h.
//
// The syntax notation (redis-cli's help notation) and its mapping:
//   lower-case word        an argument; its type is guessed from its name
//                          (key, pattern, integer-ish names, else string)
//   UPPER-CASE word        a literal token ("pure-token"); followed by
//                          lower-case words it becomes the token of that
//                          argument ("EX seconds" -> token EX, arg seconds)
//   [ ... ]                optional
//   a|b                    one of (oneof)
//   x [x ...]              x may repeat (multiple)
#include "src/command_docs.h"

#include <cctype>
#include <memory>
#include <string>
#include <vector>

namespace kvraft {

namespace {

struct DocArg {
  std::string name;
  std::string type;  // key, string, integer, pattern, pure-token, oneof, block, unix-time
  std::string token;
  bool optional = false;
  bool multiple = false;
  std::vector<DocArg> children;
};

bool is_upper_word(std::string_view w) {
  bool any_alpha = false;
  for (char c : w) {
    if (std::islower(static_cast<unsigned char>(c))) return false;
    if (std::isalpha(static_cast<unsigned char>(c))) any_alpha = true;
  }
  return any_alpha;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string guess_type(std::string_view name) {
  if (name == "key" || name == "destination" || name == "source" || name == "newkey") return "key";
  if (name == "pattern") return "pattern";
  if (name.find("unix-time") != std::string_view::npos) return "unix-time";
  static constexpr std::string_view kIntegers[] = {
      "count",     "seconds",   "milliseconds", "offset",         "start",   "end",   "index",
      "increment", "decrement", "db",           "cursor",         "timeout", "bit",   "numkeys",
      "protover",  "client-id", "port",         "destination-db", "index1",  "index2"};
  for (auto n : kIntegers)
    if (n == name) return "integer";
  return "string";
}

class SyntaxParser {
 public:
  explicit SyntaxParser(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
      char c = s[i];
      if (c == ' ') {
        ++i;
      } else if (c == '[' || c == ']' || c == '|') {
        tokens_.emplace_back(1, c);
        ++i;
      } else {
        size_t j = i;
        while (j < s.size() && s[j] != ' ' && s[j] != '[' && s[j] != ']' && s[j] != '|')
          ++j;
        tokens_.emplace_back(s.substr(i, j - i));
        i = j;
      }
    }
  }

  std::vector<DocArg> parse() {
    std::vector<DocArg> out = parse_sequence();
    return out;
  }

 private:
  bool at(std::string_view t) const { return pos_ < tokens_.size() && tokens_[pos_] == t; }

  // sequence := item* (stops at ']' '|' or end)
  std::vector<DocArg> parse_sequence() {
    std::vector<DocArg> items;
    while (pos_ < tokens_.size() && !at("]") && !at("|")) {
      if (at("[")) {
        ++pos_;
        // "x [x ...]" / "k v [k v ...]": the preceding item(s) repeat.
        if (size_t n = repeat_width(); n > 0 && n <= items.size()) {
          if (n == 1) {
            items.back().multiple = true;
          } else {
            std::vector<DocArg> tail(std::make_move_iterator(items.end() - static_cast<long>(n)),
                                     std::make_move_iterator(items.end()));
            items.erase(items.end() - static_cast<long>(n), items.end());
            DocArg block = as_single(std::move(tail));
            block.multiple = true;
            items.push_back(std::move(block));
          }
          pos_ += n + 2;  // the words, "..." and "]"
          continue;
        }
        DocArg group = parse_alternatives();
        if (at("]")) ++pos_;
        group.optional = true;
        items.push_back(std::move(group));
      } else if (at("...")) {
        if (!items.empty()) items.back().multiple = true;
        ++pos_;
      } else {
        items.push_back(parse_word_group());
      }
    }
    return items;
  }

  // At "[w1 .. wn ... ]" (just past the '['): n if the group is a
  // repetition marker made of plain words, else 0.
  size_t repeat_width() const {
    size_t i = pos_;
    while (i < tokens_.size() && !is_special(tokens_[i]))
      ++i;
    if (i == pos_ || i + 1 >= tokens_.size() || tokens_[i] != "..." || tokens_[i + 1] != "]")
      return 0;
    return i - pos_;
  }

  // alternatives := sequence ('|' sequence)*
  DocArg parse_alternatives() {
    std::vector<std::vector<DocArg>> choices;
    choices.push_back(parse_sequence());
    while (at("|")) {
      ++pos_;
      choices.push_back(parse_sequence());
    }
    if (choices.size() == 1) return as_single(std::move(choices[0]));
    DocArg oneof;
    oneof.type = "oneof";
    for (auto& c : choices) {
      DocArg a = as_single(std::move(c));
      if (!oneof.name.empty()) oneof.name += "-";
      oneof.name += a.name;
      oneof.children.push_back(std::move(a));
    }
    if (oneof.name.size() > 40) oneof.name = "option";
    return oneof;
  }

  static DocArg as_single(std::vector<DocArg> seq) {
    if (seq.size() == 1) return std::move(seq[0]);
    DocArg block;
    block.type = "block";
    for (auto& a : seq) {
      if (!block.name.empty()) block.name += "-";
      block.name += a.name;
    }
    block.children = std::move(seq);
    return block;
  }

  // A TOKEN optionally followed by its value word(s), or a plain argument.
  DocArg parse_word_group() {
    std::string word = tokens_[pos_++];
    DocArg arg;
    if (is_upper_word(word)) {
      arg.token = word;
      // "EX seconds": the token introduces the argument that follows.
      if (pos_ < tokens_.size() && !is_special(tokens_[pos_]) && !is_upper_word(tokens_[pos_])) {
        arg.name = tokens_[pos_++];
        arg.type = guess_type(arg.name);
      } else {
        arg.name = lower(word);
        arg.type = "pure-token";
      }
    } else {
      arg.name = word;
      arg.type = guess_type(word);
    }
    return arg;
  }

  static bool is_special(std::string_view t) {
    return t == "[" || t == "]" || t == "|" || t == "...";
  }

  std::vector<std::string> tokens_;
  size_t pos_ = 0;
};

void write_arg(resp::ReplyWriter& reply, const DocArg& a) {
  int64_t pairs = 2;
  if (!a.token.empty()) ++pairs;
  if (a.optional || a.multiple) ++pairs;
  if (!a.children.empty()) ++pairs;
  reply.map_header(pairs);
  reply.bulk("name");
  reply.bulk(a.name);
  reply.bulk("type");
  reply.bulk(a.type);
  if (!a.token.empty()) {
    reply.bulk("token");
    reply.bulk(a.token);
  }
  if (a.optional || a.multiple) {
    reply.bulk("flags");
    reply.set_header((a.optional ? 1 : 0) + (a.multiple ? 1 : 0));
    if (a.optional) reply.simple_string("optional");
    if (a.multiple) reply.simple_string("multiple");
  }
  if (!a.children.empty()) {
    reply.bulk("arguments");
    reply.array_header(static_cast<int64_t>(a.children.size()));
    for (const auto& c : a.children)
      write_arg(reply, c);
  }
}

std::vector<std::string_view> flag_names(uint32_t flags) {
  std::vector<std::string_view> out;
  if (flags & kCmdWrite) out.push_back("write");
  if (flags & kCmdReadonly) out.push_back("readonly");
  if (flags & kCmdDenyOom) out.push_back("denyoom");
  if (flags & kCmdAdmin) out.push_back("admin");
  if (flags & kCmdNoAuth) out.push_back("no_auth");
  if (flags & kCmdLoading) out.push_back("loading");
  if (flags & kCmdStale) out.push_back("stale");
  if (flags & kCmdFast) out.push_back("fast");
  return out;
}

std::vector<std::string> acl_categories(const CommandSpec& spec) {
  std::vector<std::string> out;
  if (spec.flags & kCmdWrite) out.push_back("@write");
  if (spec.flags & kCmdReadonly) out.push_back("@read");
  if (!spec.group.empty() && spec.group != "server" && spec.group != "connection")
    out.push_back("@" + std::string(spec.group == "generic" ? "keyspace" : spec.group));
  if (spec.flags & kCmdAdmin) {
    out.push_back("@admin");
    out.push_back("@dangerous");
  }
  if (spec.flags & kCmdFast)
    out.push_back("@fast");
  else
    out.push_back("@slow");
  if (spec.group == "connection") out.push_back("@connection");
  return out;
}

}  // namespace

void write_syntax_arguments(resp::ReplyWriter& reply, std::string_view syntax) {
  std::vector<DocArg> args = SyntaxParser(syntax).parse();
  reply.array_header(static_cast<int64_t>(args.size()));
  for (const auto& a : args)
    write_arg(reply, a);
}

void write_command_info(resp::ReplyWriter& reply, const CommandSpec& spec) {
  reply.array_header(10);
  reply.bulk(spec.name);
  reply.integer(spec.arity);
  auto flags = flag_names(spec.flags);
  reply.set_header(static_cast<int64_t>(flags.size()));
  for (auto f : flags)
    reply.simple_string(f);
  reply.integer(spec.first_key);
  reply.integer(spec.last_key);
  reply.integer(spec.key_step);
  auto cats = acl_categories(spec);
  reply.set_header(static_cast<int64_t>(cats.size()));
  for (const auto& c : cats)
    reply.simple_string(c);
  reply.set_header(0);    // tips
  reply.array_header(0);  // key specs (the legacy triple above carries the keys)
  reply.array_header(static_cast<int64_t>(spec.subcommands.size()));
  for (const auto& sub : spec.subcommands)
    write_command_info(reply, sub);
}

void write_command_docs(resp::ReplyWriter& reply, const CommandSpec& spec) {
  int64_t pairs = 3;
  bool has_args = !spec.syntax.empty();
  if (has_args) ++pairs;
  if (!spec.subcommands.empty()) ++pairs;
  reply.map_header(pairs);
  reply.bulk("summary");
  reply.bulk(spec.summary);
  reply.bulk("since");
  reply.bulk(spec.since);
  reply.bulk("group");
  reply.bulk(spec.group);
  if (has_args) {
    reply.bulk("arguments");
    write_syntax_arguments(reply, spec.syntax);
  }
  if (!spec.subcommands.empty()) {
    reply.bulk("subcommands");
    reply.map_header(static_cast<int64_t>(spec.subcommands.size()));
    for (const auto& sub : spec.subcommands) {
      reply.bulk(sub.name);
      write_command_docs(reply, sub);
    }
  }
}

}  // namespace kvraft
