// src/acl.h — access control: Redis ACL users (passwords, key patterns,
// command and category permissions), the permission check every client
// command passes, and the protected-mode decision for new connections.
//
// The users are part of the replicated state: ACL SETUSER and ACL DELUSER
// are writes that go through the Raft log and are applied on every replica
// (src/commands/acl_commands.cc), and the snapshot carries the users as the
// `kvraft-acl` RDB aux field (the ACL LIST lines, which Acl::restore parses
// back). So every node enforces the same rules. Passwords are kept only as
// SHA-256 hex digests, as Redis keeps them.
//
// `requirepass` is node configuration, not replicated state: when set it is
// the default user's password on this node (as Redis's requirepass sets the
// default user's password), taking the place of the ACL's own passwords and
// `nopass` for that user.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kvraft {

struct CommandSpec;
class Client;

// The RDB aux field holding the users (ACL LIST lines joined by '\n').
inline constexpr std::string_view kAuxAcl = "kvraft-acl";

// Redis's error texts for authentication and permissions.
inline constexpr std::string_view kErrWrongPass =
    "WRONGPASS invalid username-password pair or user is disabled.";
inline constexpr std::string_view kErrNoAuth = "NOAUTH Authentication required.";
inline constexpr std::string_view kErrNoPermKey = "NOPERM No permissions to access a key";

// SHA-256 of `password` as 64 lower-case hex digits (Redis's stored form).
std::string acl_hash_password(std::string_view password);

// The category names in ACL CAT's order.
const std::vector<std::string_view>& acl_categories();
// Whether `spec` (a command, or a subcommand of `parent`) is in `category`
// (without the '@'). Categories are derived from the command table's flags
// and groups, so a new command lands in the right categories by itself.
bool acl_command_in_category(const CommandSpec& spec, const CommandSpec* parent,
                             std::string_view category);

// One key pattern (~pattern, %R~pattern, %W~pattern, %RW~pattern).
struct AclKeyPattern {
  std::string pattern;
  bool read = true;
  bool write = true;
};

// One user. A fresh user is disabled, has no password, no keys, no channels
// and no commands, as in Redis.
struct AclUser {
  std::string name;
  bool enabled = false;
  bool nopass = false;
  int sanitize_payload = 0;  // 0 unset, 1 sanitize-payload, 2 skip-sanitize-payload
  // SHA-256 hex digests, in insertion order, no duplicates.
  std::vector<std::string> passwords;
  // Invariant: allkeys implies keys is empty (Redis refuses patterns after ~*).
  bool allkeys = false;
  std::vector<AclKeyPattern> keys;
  bool allchannels = false;
  std::vector<std::string> channels;
  // The command rules as ACL LIST shows them: "+@all", or "-@all" followed
  // by the rules applied since, in order.
  std::string command_rules = "-@all";
  // Per command id (see acl.cc CommandIds): whether the user may run it.
  std::vector<bool> allowed;

  AclUser();
  // Applies one ACL SETUSER rule. Returns "" or Redis's reason (without the
  // "ERR Error in ACL SETUSER modifier '...': " prefix).
  std::string apply_rule(std::string_view rule);
  // The ACL LIST line: "user alice on #<sha> ~foo* resetchannels -@all +get".
  std::string describe() const;
  std::string keys_description() const;      // "~foo* %R~bar*", "~*" or ""
  std::string channels_description() const;  // "&*", "&a &b" or ""
  std::vector<std::string> flag_names() const;
  // Whether `password` is one of the user's (or the user is nopass).
  bool password_matches(std::string_view password) const;
  // Whether the user may run `spec` (a command; its subcommand is looked up
  // from argv[1] when it has any).
  bool may_run(const CommandSpec& spec, std::span<const std::string_view> argv) const;
  // Whether every key argv names (by the key positions of `spec`) matches a
  // pattern that grants the access the command needs (writes need W,
  // everything else R).
  bool may_access_keys(const CommandSpec& spec, std::span<const std::string_view> argv) const;
  // The argv position of the first key `spec` (the command actually run, a
  // subcommand if it is one) may not access, or -1 if every key is allowed.
  int denied_key(const CommandSpec& spec, std::span<const std::string_view> argv) const;
};

// The spec an ACL rule names for `argv`: the subcommand argv[1] names when
// `spec` has subcommands and it is one of them, else `spec` itself.
const CommandSpec& acl_routed_spec(const CommandSpec& spec, std::span<const std::string_view> argv);
// The name ACL rules and messages use for `spec` run as `argv`: "get",
// "config|get".
std::string acl_command_fullname(const CommandSpec& spec, std::span<const std::string_view> argv);

// The argv positions holding keys for `spec` (Redis's legacy first/last/step
// key spec, as COMMAND GETKEYS reports), bounded by argv's size.
std::vector<size_t> command_key_positions(const CommandSpec& spec, size_t argc);

// What the permission check decided for one command.
struct AclVerdict {
  enum Kind { kAllowed, kRefused, kDisconnect } kind = kAllowed;
  std::string error;  // the reply for kRefused
  // For ACL LOG (src/acl_log.h): why a kRefused command was denied (kNone
  // for NOAUTH, which Redis does not log) and what: the command's full name
  // or the key.
  enum Reason { kNone, kCommand, kKey } reason = kNone;
  std::string object;
};

// All users, keyed (and listed) by name. Always holds "default".
class Acl {
 public:
  Acl();

  const AclUser* find(std::string_view name) const;
  const std::map<std::string, AclUser, std::less<>>& users() const { return users_; }

  // ACL SETUSER: applies `rules` in order to the user (created if absent);
  // all or nothing. Returns "" or the complete error reply text.
  std::string set_user(std::string_view name, std::span<const std::string_view> rules);
  // ACL DELUSER: removes the named users, returns how many existed. The
  // caller refuses "default" first.
  int delete_users(std::span<const std::string_view> names);

  // ACL LIST lines, sorted by user name.
  std::vector<std::string> list() const;
  // The snapshot form (kAuxAcl): the ACL LIST lines joined by '\n'.
  std::string serialize() const;
  // Replaces every user with those in `text` (serialize()'s output). Throws
  // std::runtime_error naming the bad line; the state is unchanged then.
  void restore(std::string_view text);
  // Restores from a snapshot's extra aux fields; without a kAuxAcl field
  // (an older snapshot, a stock Redis dump) only the default user remains.
  void restore_from_aux(const std::vector<std::pair<std::string, std::string>>& aux);

  // Bumped by every change of the users, so the server rechecks its
  // connections only when something changed.
  uint64_t generation() const { return generation_; }
  // Whether a connection authenticated as `name` may stay: the user still
  // exists and is enabled.
  bool user_active(std::string_view name) const;

  // Whether a connection that has not authenticated must AUTH first: the
  // default user has a password (requirepass or ACL) or is disabled.
  bool default_needs_auth(const std::string& requirepass) const;
  // AUTH / HELLO AUTH: the user if `password` is right for an enabled user.
  const AclUser* authenticate(std::string_view name, std::string_view password,
                              const std::string& requirepass) const;
  // The check Server::execute runs before routing a command of `client`:
  // authentication, then command and key permissions. A client whose user
  // was deleted or disabled since it authenticated is disconnected (Redis
  // kills such clients on ACL DELUSER); a leader proxy connection's command
  // is refused instead (src/proxy_auth.h). Internal commands a proxy
  // forwards are judged as the client commands they stand for.
  AclVerdict check(const Client& client, const std::string& requirepass, const CommandSpec& spec,
                   std::span<const std::string_view> argv) const;

 private:
  // check() for an internal command a leader proxy forwards, judged as what
  // it stands for: KVRAFT.FINGERPRINT as the WATCH of its keys, KVRAFT.EXEC
  // as EXEC and each command of the transaction (one refused refuses it
  // whole), the server's own expiry/eviction deletions as DEL.
  AclVerdict check_internal(const Client& client, const std::string& requirepass,
                            const CommandSpec& spec, std::span<const std::string_view> argv) const;
  static std::string set_user_in(std::map<std::string, AclUser, std::less<>>* users,
                                 std::string_view name, std::span<const std::string_view> rules);

  std::map<std::string, AclUser, std::less<>> users_;
  uint64_t generation_ = 0;  // bumped by every change to users_
  // check()'s fast path, recomputed when generation_ moves: is the default
  // user enabled with every command and key (Redis's out-of-the-box user),
  // and does it need no password? Then a client of the default user is
  // allowed everything without a map lookup per command.
  mutable uint64_t default_cache_generation_ = ~uint64_t{0};
  mutable bool default_unrestricted_ = false;
  mutable bool default_nopass_ = false;
};

// Protected mode (Redis's): with `protected-mode yes`, no password for the
// default user and a bind list that is not loopback-only, connections from
// non-loopback addresses are refused with kErrDenied. `client_ip` is the
// peer's address without the port.
bool protected_mode_refuses(bool protected_mode, bool default_has_password,
                            const std::vector<std::string>& bind, std::string_view client_ip);
extern const std::string_view kErrDenied;

}  // namespace kvraft
