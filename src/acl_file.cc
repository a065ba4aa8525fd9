// src/acl_file.cc — reading and writing the aclfile (see acl_file.h).
#include "src/acl_file.h"

#include <cerrno>
#include <cstring>
#include <map>

#include "src/acl.h"
#include "storage/file_util.h"

namespace kvraft {

const std::string_view kErrNoAclFile =
    "ERR This Redis instance is not configured to use an ACL file. You may want to specify users "
    "via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis "
    "configuration file set) in order to store users in the Redis configuration.";
const std::string_view kErrAclSave =
    "ERR There was an error trying to save the ACLs. Please check the server logs for more "
    "information";

namespace {

// Redis bounds nothing here, but a users file is small: refuse to read a
// huge file into memory (it would also become one huge log entry).
constexpr size_t kMaxAclFileBytes = 64u << 20;

std::string_view trim(std::string_view s, std::string_view chars) {
  size_t b = s.find_first_not_of(chars);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(chars);
  return s.substr(b, e - b + 1);
}

// Redis splits a line on single spaces: two spaces make an empty word (an
// empty username is refused below; an empty rule is skipped).
std::vector<std::string_view> split_spaces(std::string_view line) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t sp = line.find(' ', start);
    out.push_back(line.substr(start, sp == std::string_view::npos ? sp : sp - start));
    if (sp == std::string_view::npos) return out;
    start = sp + 1;
  }
}

bool has_space_or_nul(std::string_view s) {
  for (char c : s)
    if (c == 0 || c == ' ' || (c >= '\t' && c <= '\r')) return true;
  return false;
}

}  // namespace

std::string parse_acl_file(std::string_view text, std::string_view filename,
                           std::string* serialized) {
  // The messages below are Redis 7.0's ACLLoadFromFile texts, including
  // the stray quote before the username error and the trailing spaces.
  std::string errors;
  std::map<std::string, AclUser, std::less<>> users;
  std::string where = std::string(filename) + ":";
  int line_no = 0;
  for (size_t pos = 0; pos <= text.size();) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = trim(text.substr(pos, nl - pos), " \t\r\n");
    pos = nl + 1;
    ++line_no;
    if (line.empty()) continue;
    std::vector<std::string_view> argv = split_spaces(line);
    std::string at = where + std::to_string(line_no);
    if (argv[0] != "user" || argv.size() < 2) {
      errors += at + " should start with user keyword followed by the username. ";
      continue;
    }
    std::string_view name = argv[1];
    if (name.empty() || has_space_or_nul(name)) {
      errors += "'" + at + ": username '" + std::string(name) + "' contains invalid characters. ";
      continue;
    }
    if (users.count(name)) {
      errors += "WARNING: Duplicate user '" + std::string(name) + "' found on line " +
                std::to_string(line_no) + ". ";
      continue;
    }
    AclUser user;
    user.name = std::string(name);
    bool syntax_error = false;
    for (size_t j = 2; j < argv.size(); ++j) {
      std::string_view rule = trim(argv[j], "\t\r\n");
      if (rule.empty()) continue;  // two spaces in a row: Redis ignores the empty word
      std::string why = user.apply_rule(rule);
      if (why.empty()) continue;
      // Redis names the rule only for unknown commands and categories
      // (they hold no secrets); of other errors it reports the first.
      if (why == "Unknown command or category name in ACL") {
        errors += at + ": Error in applying operation '" + std::string(rule) + "': " + why + ". ";
      } else if (!syntax_error) {
        errors += at + ": " + why + ". ";
        syntax_error = true;
      }
    }
    users.emplace(user.name, std::move(user));
  }
  if (!errors.empty())
    return errors +
           "WARNING: ACL errors detected, no change to the previously active ACL rules was "
           "performed";
  serialized->clear();
  for (const auto& [n, u] : users)
    *serialized += (serialized->empty() ? "" : "\n") + u.describe();
  return {};
}

std::string load_acl_file(const std::string& filename, std::string* serialized) {
  std::string text;
  auto open_error = [&](int err) {
    return "Error loading ACLs, opening file '" + filename + "': " + std::strerror(err);
  };
  try {
    if (!storage::read_file(filename, kMaxAclFileBytes, &text)) return open_error(ENOENT);
  } catch (const storage::IoError& e) {
    if (e.sys_errno() != 0) return open_error(e.sys_errno());
    return "Error loading ACLs, opening file '" + filename + "': " + e.what();
  }
  return parse_acl_file(text, filename, serialized);
}

std::string save_acl_file(const std::string& filename, const std::vector<std::string>& lines) {
  std::string data;
  for (const std::string& l : lines)
    data += l + "\n";
  try {
    storage::write_file_atomic(filename, data, /*sync=*/true, nullptr);
  } catch (const storage::IoError& e) {
    return e.what();
  }
  return {};
}

}  // namespace kvraft
