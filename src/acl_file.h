// src/acl_file.h — the `aclfile`: Redis's users file, read by ACL LOAD (and
// at the bootstrap of a brand-new cluster) and written by ACL SAVE.
//
// The file holds one ACL LIST line per user ("user alice on #<sha256> ~foo*
// resetchannels -@all +get"). Reading parses and checks the whole file
// before anything changes, with Redis 7's error texts (file:line: reason);
// the result is the users' canonical form (Acl::serialize()'s), which is
// what ACL LOAD proposes as one replicated write (KVRAFT.ACL-LOAD), so every
// replica applies exactly the users this node read, never its own file.
//
// The file is node-local: each node reads and writes its own copy; only
// the users it carries, once loaded, are replicated state.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kvraft {

// Redis's reply when ACL SAVE / ACL LOAD run without an aclfile.
extern const std::string_view kErrNoAclFile;
// Redis's reply when ACL SAVE fails (the reason goes to the log).
extern const std::string_view kErrAclSave;

// Parses `text`, the contents of `filename` (named in the errors). On
// success returns "" and sets *serialized to the users in Acl::restore's
// form (without a "default" line when the file has none: restore then adds
// Redis's default user). On failure returns Redis's complete error text
// (without the "ERR " prefix), listing every bad line.
std::string parse_acl_file(std::string_view text, std::string_view filename,
                           std::string* serialized);

// Reads and parses `filename` (parse_acl_file's contract); a file that
// cannot be read gives "Error loading ACLs, opening file '<f>': <reason>".
std::string load_acl_file(const std::string& filename, std::string* serialized);

// Writes `lines` (ACL LIST lines), one per line, to `filename` atomically:
// a temp file in the same directory, fsync, rename, fsync of the directory.
// Returns "" or the reason it failed (with the path), leaving any previous
// file intact.
std::string save_acl_file(const std::string& filename, const std::vector<std::string>& lines);

}  // namespace kvraft
