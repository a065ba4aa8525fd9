// storage/glob.h — Redis's glob-style pattern matcher (util.c stringmatchlen),
// used by KEYS and SCAN MATCH so patterns select exactly the keys Redis would.
//
// Supported: '*' (any run), '?' (any byte), '[abc]', '[^abc]', '[a-z]'
// ranges (either order), '\x' escapes, all byte-wise. Like Redis 7 it bounds
// '*' recursion so hostile patterns cannot blow the stack or run
// exponentially.
#pragma once

#include <string_view>

namespace kvraft::storage {

// True iff `str` matches `pattern`. `nocase` folds ASCII case as Redis's
// nocase flag does.
bool glob_match(std::string_view pattern, std::string_view str, bool nocase = false);

}  // namespace kvraft::storage
