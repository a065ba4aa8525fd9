// src/acl.cc — ACL users, their rules and the permission check (see acl.h).
#include "src/acl.h"

#include <openssl/sha.h>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include "src/client.h"
#include "src/command.h"
#include "src/transaction.h"
#include "storage/glob.h"

namespace kvraft {

namespace {

// A dense id for every command and every subcommand ("config|get") of the
// command table, so a user's permissions are one bit per id. Built once from
// the immutable table.
struct CommandIds {
  std::unordered_map<std::string, size_t> by_name;  // "get", "config|get"
  struct Entry {
    const CommandSpec* spec;
    const CommandSpec* parent;  // null for a top-level command
  };
  std::vector<Entry> entries;  // indexed by id

  static const CommandIds& get() {
    static const CommandIds ids = [] {
      CommandIds out;
      for (const auto& c : command_table().all()) {
        out.add(c.get(), nullptr);
        for (const CommandSpec& sub : c->subcommands)
          out.add(&sub, c.get());
      }
      return out;
    }();
    return ids;
  }

  void add(const CommandSpec* spec, const CommandSpec* parent) {
    by_name.emplace(ascii_lower(spec->name), entries.size());
    entries.push_back({spec, parent});
  }

  // The ids a rule on `id` covers: a command and all its subcommands.
  template <typename Fn>
  void for_family(size_t id, Fn&& fn) const {
    fn(id);
    const CommandSpec* spec = entries[id].spec;
    if (entries[id].parent) return;
    for (const CommandSpec& sub : spec->subcommands)
      fn(by_name.at(ascii_lower(sub.name)));
  }
};

// Commands Redis puts in categories that no flag of ours expresses.
bool name_in(std::string_view name, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string to_hex(const unsigned char* bytes, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 15]);
  }
  return out;
}

bool is_lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Rules and names end up in ACL LIST lines and the snapshot aux field,
// which are split on spaces and newlines.
bool has_separator(std::string_view s) {
  return s.find_first_of(std::string_view(" \t\r\n\0", 5)) != std::string_view::npos;
}

// The words of a rules string (single spaces).
std::vector<std::string_view> split_words(std::string_view s) {
  std::vector<std::string_view> out;
  for (size_t i = 0; i < s.size();) {
    size_t sp = std::min(s.find(' ', i), s.size());
    if (sp > i) out.push_back(s.substr(i, sp - i));
    i = sp + 1;
  }
  return out;
}

// Applies one lower-case command rule ("+@all", "-@read", "+get",
// "-config|set") to permission bits indexed by command id. False for an
// unknown command or category (the bits are unchanged then).
bool apply_command_rule(std::vector<bool>& bits, std::string_view rule) {
  bool allow = rule[0] == '+';
  std::string_view what = rule.substr(1);
  const CommandIds& ids = CommandIds::get();
  if (what == "@all") {
    std::fill(bits.begin(), bits.end(), allow);
  } else if (!what.empty() && what[0] == '@') {
    std::string_view cat = what.substr(1);
    const auto& cats = acl_categories();
    if (std::find(cats.begin(), cats.end(), cat) == cats.end()) return false;
    for (size_t id = 0; id < ids.entries.size(); ++id)
      if (acl_command_in_category(*ids.entries[id].spec, ids.entries[id].parent, cat))
        bits[id] = allow;
  } else {
    auto it = ids.by_name.find(std::string(what));
    if (it == ids.by_name.end()) return false;
    ids.for_family(it->second, [&](size_t id) { bits[id] = allow; });
  }
  return true;
}

const std::string_view kErrSyntaxRule = "Syntax error";
const std::string_view kErrUnknownName = "Unknown command or category name in ACL";

}  // namespace

const std::string_view kErrDenied =
    "DENIED Redis is running in protected mode because protected mode is enabled and no password "
    "is set for the default user. In this mode connections are only accepted from the loopback "
    "interface. If you want to connect from external computers to Redis you may adopt one of the "
    "following solutions: 1) Just disable protected mode sending the command 'CONFIG SET "
    "protected-mode no' from the loopback interface by connecting to Redis from the same host the "
    "server is running, however MAKE SURE Redis is not publicly accessible from internet if you "
    "do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just "
    "disable the protected mode by editing the Redis configuration file, and setting the "
    "protected mode option to 'no', and then restarting the server. 3) If you started the server "
    "manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an "
    "authentication password for the default user. NOTE: You only need to do one of the above "
    "things in order for the server to start accepting connections from the outside.";

std::string acl_hash_password(std::string_view password) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(password.data()), password.size(), digest);
  return to_hex(digest, sizeof digest);
}

const std::vector<std::string_view>& acl_categories() {
  static const std::vector<std::string_view> kCategories = {
      "keyspace", "read",   "write",       "set",       "sortedset",  "list",        "hash",
      "string",   "bitmap", "hyperloglog", "geo",       "stream",     "pubsub",      "admin",
      "fast",     "slow",   "blocking",    "dangerous", "connection", "transaction", "scripting"};
  return kCategories;
}

bool acl_command_in_category(const CommandSpec& spec, const CommandSpec* parent,
                             std::string_view category) {
  std::string_view group = !spec.group.empty() || !parent ? spec.group : parent->group;
  std::string_view name = parent ? parent->name : spec.name;
  uint32_t flags = spec.flags;
  if (category == "keyspace") return group == "generic";
  if (category == "read") return flags & kCmdReadonly;
  if (category == "write") return flags & kCmdWrite;
  if (category == "sortedset") return group == "sorted-set";
  if (category == "set" || category == "list" || category == "hash" || category == "string" ||
      category == "bitmap" || category == "hyperloglog" || category == "geo" ||
      category == "stream" || category == "pubsub" || category == "connection" ||
      category == "scripting")
    return group == category;
  if (category == "admin") return flags & kCmdAdmin;
  if (category == "fast") return flags & kCmdFast;
  if (category == "slow") return !(flags & kCmdFast);
  if (category == "blocking")
    return name_in(name, {"blpop", "brpop", "brpoplpush", "blmove", "blmpop", "bzpopmin",
                          "bzpopmax", "bzmpop", "wait"});
  if (category == "transaction")
    return name_in(name, {"multi", "exec", "discard", "watch", "unwatch"});
  if (category == "dangerous")
    return (flags & kCmdAdmin) ||
           name_in(name, {"keys", "flushdb", "flushall", "info", "sort", "migrate", "restore",
                          "swapdb", "role", "monitor", "debug", "cluster"});
  return false;
}

std::vector<size_t> command_key_positions(const CommandSpec& spec, size_t argc) {
  std::vector<size_t> out;
  if (spec.first_key <= 0) return out;
  int n = static_cast<int>(argc);
  int last = spec.last_key < 0 ? n + spec.last_key : spec.last_key;
  for (int k = spec.first_key; k <= last && k < n; k += std::max(1, spec.key_step))
    out.push_back(static_cast<size_t>(k));
  return out;
}

// ------------------------------------------------------------------ users

AclUser::AclUser() : allowed(CommandIds::get().entries.size(), false) {}

std::string AclUser::apply_rule(std::string_view rule) {
  if (rule.empty() || has_separator(rule)) return std::string(kErrSyntaxRule);
  std::string low = ascii_lower(rule);
  if (low == "on") {
    enabled = true;
  } else if (low == "off") {
    enabled = false;
  } else if (low == "nopass") {
    nopass = true;
    passwords.clear();
  } else if (low == "resetpass") {
    nopass = false;
    passwords.clear();
  } else if (low == "sanitize-payload") {
    sanitize_payload = 1;
  } else if (low == "skip-sanitize-payload") {
    sanitize_payload = 2;
  } else if (rule[0] == '>' || rule[0] == '#' || rule[0] == '<' || rule[0] == '!') {
    // >pass and #digest add a password, <pass and !digest remove one.
    bool clear_text = rule[0] == '>' || rule[0] == '<';
    std::string hash = clear_text ? acl_hash_password(rule.substr(1)) : std::string(rule.substr(1));
    if (!clear_text && (hash.size() != 64 || !is_lower_hex(hash)))
      return "The password hash must be exactly 64 characters and contain only lowercase "
             "hexadecimal characters";
    if (rule[0] == '>' || rule[0] == '#') {
      if (std::find(passwords.begin(), passwords.end(), hash) == passwords.end())
        passwords.push_back(hash);
      nopass = false;
      return {};
    }
    auto it = std::find(passwords.begin(), passwords.end(), hash);
    if (it == passwords.end())
      return "The password you are trying to remove from the user does not exist";
    passwords.erase(it);
  } else if (low == "allkeys" || rule[0] == '~' || rule[0] == '%') {
    AclKeyPattern p;
    if (low == "allkeys") {
      p.pattern = "*";
    } else if (rule[0] == '~') {
      p.pattern = std::string(rule.substr(1));
    } else {
      size_t tilde = rule.find('~');
      if (tilde == std::string_view::npos || tilde == 1) return std::string(kErrSyntaxRule);
      p.read = p.write = false;
      for (char c : low.substr(1, tilde - 1)) {
        if (c == 'r')
          p.read = true;
        else if (c == 'w')
          p.write = true;
        else
          return std::string(kErrSyntaxRule);
      }
      p.pattern = std::string(rule.substr(tilde + 1));
    }
    if (allkeys)
      return "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does "
             "not have any effect. Try 'resetkeys' to start with an empty list of patterns";
    if (p.pattern == "*" && p.read && p.write) {
      allkeys = true;
      keys.clear();
    } else {
      keys.push_back(std::move(p));
    }
  } else if (low == "resetkeys") {
    allkeys = false;
    keys.clear();
  } else if (low == "allchannels" || rule[0] == '&') {
    std::string pattern = low == "allchannels" ? "*" : std::string(rule.substr(1));
    if (allchannels)
      return "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and "
             "does not have any effect. Try 'resetchannels' to start with an empty list of "
             "channels";
    if (pattern == "*") {
      allchannels = true;
      channels.clear();
    } else if (std::find(channels.begin(), channels.end(), pattern) == channels.end()) {
      channels.push_back(pattern);
    }
  } else if (low == "resetchannels") {
    allchannels = false;
    channels.clear();
  } else if (low == "allcommands" || low == "+@all") {
    std::fill(allowed.begin(), allowed.end(), true);
    command_rules = "+@all";
  } else if (low == "nocommands" || low == "-@all") {
    std::fill(allowed.begin(), allowed.end(), false);
    command_rules = "-@all";
  } else if (rule[0] == '+' || rule[0] == '-') {
    if (!apply_command_rule(allowed, low)) return std::string(kErrUnknownName);
    std::string_view what = std::string_view(low).substr(1);
    std::vector<std::string_view> kept;
    std::string rules = std::move(command_rules);
    for (std::string_view word : split_words(rules)) {
      // Redis drops the older rules on this command and its subcommands.
      std::string_view name = word.substr(1);
      bool superseded =
          what[0] != '@' && (name == what || (name.size() > what.size() && name.starts_with(what) &&
                                              name[what.size()] == '|'));
      if (!superseded) kept.push_back(word);
    }
    command_rules.clear();
    std::vector<bool> before(allowed.size(), false);
    for (std::string_view word : kept) {
      command_rules += (command_rules.empty() ? "" : " ") + std::string(word);
      apply_command_rule(before, word);
    }
    // ...and, describing the user from its permissions, never shows a rule
    // that changes nothing after the rules before it ("+get -get" is "-@all").
    if (before != allowed) command_rules += " " + low;
  } else if (low == "reset") {
    for (std::string_view r : {"resetpass", "resetkeys", "resetchannels", "off", "-@all"})
      apply_rule(r);
    sanitize_payload = 1;
  } else {
    return std::string(kErrSyntaxRule);
  }
  return {};
}

std::vector<std::string> AclUser::flag_names() const {
  std::vector<std::string> out = {enabled ? "on" : "off"};
  if (nopass) out.push_back("nopass");
  if (sanitize_payload == 1) out.push_back("sanitize-payload");
  if (sanitize_payload == 2) out.push_back("skip-sanitize-payload");
  return out;
}

std::string AclUser::keys_description() const {
  if (allkeys) return "~*";
  std::string out;
  for (const AclKeyPattern& p : keys) {
    if (!out.empty()) out += ' ';
    out += p.read && p.write ? "~" : p.read ? "%R~" : "%W~";
    out += p.pattern;
  }
  return out;
}

std::string AclUser::channels_description() const {
  if (allchannels) return "&*";
  std::string out;
  for (const std::string& c : channels)
    out += (out.empty() ? "&" : " &") + c;
  return out;
}

std::string AclUser::describe() const {
  std::string out = "user " + name;
  for (const std::string& f : flag_names())
    out += " " + f;
  for (const std::string& p : passwords)
    out += " #" + p;
  if (std::string k = keys_description(); !k.empty()) out += " " + k;
  // Redis writes "resetchannels" before any channel list but "&*".
  std::string ch = channels_description();
  out += allchannels ? " " + ch : ch.empty() ? " resetchannels" : " resetchannels " + ch;
  out += " " + command_rules;
  return out;
}

bool AclUser::password_matches(std::string_view password) const {
  if (nopass) return true;
  std::string hash = acl_hash_password(password);
  // Compare every stored digest fully so the time taken does not say which
  // one (or how much of one) matched.
  bool match = false;
  for (const std::string& p : passwords) {
    unsigned char diff = 0;
    for (size_t i = 0; i < p.size() && i < hash.size(); ++i)
      diff |= static_cast<unsigned char>(p[i] ^ hash[i]);
    match |= diff == 0 && p.size() == hash.size();
  }
  return match;
}

bool AclUser::may_run(const CommandSpec& spec, std::span<const std::string_view> argv) const {
  const CommandIds& ids = CommandIds::get();
  std::string name = ascii_lower(spec.name);
  if (!spec.subcommands.empty() && argv.size() >= 2) {
    auto sub = ids.by_name.find(name + "|" + ascii_lower(argv[1]));
    if (sub != ids.by_name.end()) return allowed[sub->second];
  }
  auto it = ids.by_name.find(name);
  return it != ids.by_name.end() && allowed[it->second];
}

bool AclUser::may_access_keys(const CommandSpec& spec,
                              std::span<const std::string_view> argv) const {
  return allkeys || denied_key(acl_routed_spec(spec, argv), argv) < 0;
}

int AclUser::denied_key(const CommandSpec& spec, std::span<const std::string_view> argv) const {
  if (allkeys) return -1;
  bool need_write = spec.flags & kCmdWrite;
  for (size_t pos : command_key_positions(spec, argv.size())) {
    bool ok = false;
    for (const AclKeyPattern& p : keys) {
      if ((need_write ? p.write : p.read) && storage::glob_match(p.pattern, argv[pos])) {
        ok = true;
        break;
      }
    }
    if (!ok) return static_cast<int>(pos);
  }
  return -1;
}

const CommandSpec& acl_routed_spec(const CommandSpec& spec,
                                   std::span<const std::string_view> argv) {
  if (spec.subcommands.empty() || argv.size() < 2) return spec;
  const CommandIds& ids = CommandIds::get();
  auto sub = ids.by_name.find(ascii_lower(spec.name) + "|" + ascii_lower(argv[1]));
  return sub == ids.by_name.end() ? spec : *ids.entries[sub->second].spec;
}

std::string acl_command_fullname(const CommandSpec& spec, std::span<const std::string_view> argv) {
  return ascii_lower(acl_routed_spec(spec, argv).name);
}

// ------------------------------------------------------------------- Acl

Acl::Acl() {
  restore("");
}

const AclUser* Acl::find(std::string_view name) const {
  auto it = users_.find(name);
  return it == users_.end() ? nullptr : &it->second;
}

std::string Acl::set_user(std::string_view name, std::span<const std::string_view> rules) {
  ++generation_;
  return set_user_in(&users_, name, rules);
}

bool Acl::user_active(std::string_view name) const {
  const AclUser* u = find(name);
  return u && u->enabled;
}

std::string Acl::set_user_in(std::map<std::string, AclUser, std::less<>>* users,
                             std::string_view name, std::span<const std::string_view> rules) {
  if (name.empty() || has_separator(name))
    return "ERR Usernames can't contain spaces or null characters";
  auto it = users->find(name);
  AclUser user = it != users->end() ? it->second : AclUser();
  user.name = std::string(name);
  for (std::string_view rule : rules) {
    std::string why = user.apply_rule(rule);
    if (!why.empty())
      return "ERR Error in ACL SETUSER modifier '" + std::string(rule) + "': " + why;
  }
  users->insert_or_assign(std::string(name), std::move(user));
  return {};
}

int Acl::delete_users(std::span<const std::string_view> names) {
  int deleted = 0;
  for (std::string_view n : names) {
    auto it = users_.find(n);
    if (it == users_.end()) continue;
    users_.erase(it);
    ++deleted;
    ++generation_;
  }
  return deleted;
}

std::vector<std::string> Acl::list() const {
  std::vector<std::string> out;
  for (const auto& [name, user] : users_)
    out.push_back(user.describe());
  return out;
}

std::string Acl::serialize() const {
  std::string out;
  for (const std::string& line : list())
    out += (out.empty() ? "" : "\n") + line;
  return out;
}

void Acl::restore(std::string_view text) {
  std::map<std::string, AclUser, std::less<>> fresh;
  std::vector<std::string_view> words;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    words.clear();
    for (size_t i = 0; i < line.size();) {
      size_t sp = line.find(' ', i);
      if (sp == std::string_view::npos) sp = line.size();
      if (sp > i) words.push_back(line.substr(i, sp - i));
      i = sp + 1;
    }
    if (words.empty()) continue;
    if (words.size() < 2 || words[0] != "user")
      throw std::runtime_error("ACL line " + std::to_string(line_no) +
                               ": expected 'user <name> ...'");
    std::string err = set_user_in(&fresh, words[1], std::span(words).subspan(2));
    if (!err.empty()) throw std::runtime_error("ACL line " + std::to_string(line_no) + ": " + err);
  }
  if (!fresh.count("default")) {
    std::vector<std::string_view> rules = {"on", "nopass", "~*", "&*", "+@all"};
    set_user_in(&fresh, "default", rules);
  }
  users_ = std::move(fresh);
  ++generation_;
}

void Acl::restore_from_aux(const std::vector<std::pair<std::string, std::string>>& aux) {
  for (const auto& [name, value] : aux)
    if (name == kAuxAcl) return restore(value);
  restore("");
}

bool Acl::default_needs_auth(const std::string& requirepass) const {
  const AclUser* d = find("default");
  return !requirepass.empty() || !d || !d->enabled || !d->nopass;
}

const AclUser* Acl::authenticate(std::string_view name, std::string_view password,
                                 const std::string& requirepass) const {
  const AclUser* u = find(name);
  if (!u || !u->enabled) return nullptr;
  if (name == "default" && !requirepass.empty()) {
    unsigned char diff = password.size() == requirepass.size() ? 0 : 1;
    for (size_t i = 0; i < password.size() && i < requirepass.size(); ++i)
      diff |= static_cast<unsigned char>(password[i] ^ requirepass[i]);
    return diff == 0 ? u : nullptr;
  }
  return u->password_matches(password) ? u : nullptr;
}

AclVerdict Acl::check(const Client& client, const std::string& requirepass, const CommandSpec& spec,
                      std::span<const std::string_view> argv) const {
  if (default_cache_generation_ != generation_) {
    const AclUser* d = find("default");
    default_unrestricted_ = d && d->enabled && d->allkeys && d->command_rules == "+@all";
    default_nopass_ = d && d->nopass;
    default_cache_generation_ = generation_;
  }
  if (default_unrestricted_ &&
      (client.authenticated ? client.user == "default" : requirepass.empty() && default_nopass_))
    return {};
  bool no_auth = spec.flags & kCmdNoAuth;
  if (!client.authenticated && default_needs_auth(requirepass)) {
    if (no_auth) return {};
    return {AclVerdict::kRefused, std::string(kErrNoAuth)};
  }
  std::string_view name = client.authenticated ? std::string_view(client.user) : "default";
  const AclUser* user = find(name);
  std::optional<AclUser> nobody;  // stands in for a proxy's user this node does not know
  if (!user_active(name)) {
    if (client.authenticated && !client.proxy_member) return {AclVerdict::kDisconnect, {}};
    if (no_auth || !client.proxy_member)
      return no_auth ? AclVerdict{} : AclVerdict{AclVerdict::kRefused, std::string(kErrNoAuth)};
    // A leader proxy's user (src/proxy_auth.h) that this node does not know
    // or has disabled: this node's ACL wins. It is judged as a user with no
    // permissions (Redis's NOPERM text, in the ordinary path below); the
    // connection carries other clients' commands and stays.
    nobody.emplace().name = std::string(name);
    user = &*nobody;
  }
  // Redis lets every user run AUTH, HELLO and QUIT. A user with every
  // command and key (the default user) needs no lookups.
  if (no_auth || (user->allkeys && user->command_rules == "+@all")) return {};
  if (spec.flags & kCmdInternal) return check_internal(client, requirepass, spec, argv);
  if (!user->may_run(spec, argv)) {
    AclVerdict v{AclVerdict::kRefused, {}, AclVerdict::kCommand, acl_command_fullname(spec, argv)};
    v.error =
        "NOPERM User " + user->name + " has no permissions to run the '" + v.object + "' command";
    return v;
  }
  if (int pos = user->denied_key(acl_routed_spec(spec, argv), argv); pos >= 0)
    return {AclVerdict::kRefused, std::string(kErrNoPermKey), AclVerdict::kKey,
            std::string(argv[static_cast<size_t>(pos)])};
  return {};
}

AclVerdict Acl::check_internal(const Client& client, const std::string& requirepass,
                               const CommandSpec& spec,
                               std::span<const std::string_view> argv) const {
  const CommandTable& table = command_table();
  // Judges `argv` with its name replaced, as the command `as` names.
  auto check_as = [&](std::string_view as, std::span<const std::string_view> args) {
    std::vector<std::string_view> renamed(args.begin(), args.end());
    renamed[0] = as;
    return check(client, requirepass, *table.find(as), renamed);
  };
  if (spec.name == "kvraft.fingerprint") return check_as("watch", argv);  // WATCH's read
  if (spec.name == "kvraft.exec") {
    // A whole transaction: EXEC itself and every command it holds, as they
    // were checked when queued on the follower, but by this node's rules.
    std::string_view exec[] = {"exec"};
    if (AclVerdict v = check(client, requirepass, *table.find("exec"), exec);
        v.kind != AclVerdict::kAllowed)
      return v;
    std::vector<std::span<const std::string_view>> commands;
    if (!transaction_exec_commands(argv, &commands))
      return {AclVerdict::kRefused, "ERR malformed KVRAFT.EXEC"};
    for (auto c : commands) {
      const CommandSpec* inner = table.find(c[0]);
      // Unknown and internal commands never run inside a transaction
      // (applying it answers "not allowed" in their place); not recursing
      // into them also bounds the recursion.
      if (!inner || (inner->flags & kCmdInternal)) continue;
      if (AclVerdict v = check(client, requirepass, *inner, c); v.kind != AclVerdict::kAllowed)
        return v;
    }
    return {};
  }
  // The server's own deletions (active expiry, eviction): judged as DEL.
  return check_as("del", argv);
}

// ------------------------------------------------------------ protected mode

namespace {
bool is_loopback(std::string_view ip) {
  if (ip.starts_with("::ffff:")) ip.remove_prefix(7);
  return ip.starts_with("127.") || ip == "::1" || ip == "localhost";
}
}  // namespace

bool protected_mode_refuses(bool protected_mode, bool default_has_password,
                            const std::vector<std::string>& bind, std::string_view client_ip) {
  if (!protected_mode || default_has_password) return false;
  bool loopback_only =
      !bind.empty() &&
      std::all_of(bind.begin(), bind.end(), [](const std::string& b) { return is_loopback(b); });
  if (loopback_only) return false;
  return !is_loopback(client_ip);
}

}  // namespace kvraft
