// storage/fingerprint.h — a 128-bit fingerprint of one key's state (absent,
// or type + value + expiry), used by WATCH: the fingerprint taken when a key
// is watched is compared with the one recomputed when the transaction is
// applied, on every replica.
//
// The fingerprint must be identical on every replica holding the same
// logical value, whatever the physical layout: the members of a set and the
// fields of a hash are combined order-independently (their iteration order
// depends on the encoding and on how far an incremental rehash got, which
// differs between replicas), lists and sorted sets in their defined order.
// Cost is O(size of the value).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/keyspace.h"

namespace kvraft::storage {

// XXH3-128 over (type, expiry, value) of `e`, as 32 lowercase hex digits.
std::string entry_fingerprint(const Entry* e);

// The fingerprint of `key` in `db` at `now_ms`: "" when the key is absent or
// expired at `now_ms` (expired counts as absent), entry_fingerprint otherwise.
// Requires keyspace.valid_db(db). Touches no statistics.
std::string key_fingerprint(const Keyspace& keyspace, int db, std::string_view key, int64_t now_ms);

}  // namespace kvraft::storage
