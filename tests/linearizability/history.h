// tests/linearizability/history.h — reading recorded histories and checking
// them with the right model.
//
// Three formats (see README.md in this folder and
// ../shared/linearizability/README.md):
//   Jepsen etcd logs   "INFO  jepsen.util - 3  :invoke  :cas  [1 4]"
//                      -> RegisterModel, one partition;
//   porcupine kv EDN   "{:process 4, :type :ok, :f :get, :key "3", :value ""}"
//                      -> KvModel with missing keys reading as "", per key;
//   kvraft histories   "kvraft-history 1" header, one operation a line
//                      -> KvModel with nil for missing keys, per key.
// For the first two, an event's timestamp is its 1-based line number.
// Parsing never trusts the input: malformed or inconsistent lines raise
// HistoryError naming the file and line.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "tests/linearizability/checker.h"
#include "tests/linearizability/models.h"

namespace kvraft::lincheck {

enum class Format { kJepsenEtcd, kPorcupineKv, kKvraft };

// "jepsen-etcd", "porcupine-kv", "kvraft".
std::string_view format_name(Format format);

// A parse failure; what() is "<name>:<line>: <reason>".
class HistoryError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct History {
  Format format = Format::kKvraft;
  // Exactly one of these is used, according to `format`.
  std::vector<Operation<RegisterModel>> register_ops;  // kJepsenEtcd
  std::vector<Operation<KvModel>> kv_ops;              // kPorcupineKv, kKvraft
  std::size_t processes = 0;                           // distinct client / process ids
  std::size_t unknown_ops = 0;                         // operations whose outcome is unknown

  std::size_t operations() const { return register_ops.size() + kv_ops.size(); }
};

// Detects the format from the first line that is not blank or a '#'
// comment and parses the whole text. `name` is used in error messages.
History parse_history(std::string_view text, const std::string& name);

History parse_jepsen_etcd(std::string_view text, const std::string& name);
History parse_porcupine_kv(std::string_view text, const std::string& name);
History parse_kvraft_history(std::string_view text, const std::string& name);

// Checks a parsed history with the model its format calls for, partitioned
// by key. Reads whose outcome is unknown are dropped first: they accept any
// value and change nothing, so they cannot affect the verdict.
CheckResult check(const History& history, const CheckOptions& options = {});

// The first line of a kvraft history.
inline constexpr std::string_view kKvraftHistoryHeader = "kvraft-history 1";

// One operation as a line of the kvraft format (no newline), for harnesses
// that build Operation<KvModel> values: parse_kvraft_history reads it back
// as the same operation. An unknown outcome is written with completion time
// and result "unknown". Throws std::invalid_argument for what the format
// cannot express (a client id with whitespace, an empty client id).
std::string to_kvraft_line(const Operation<KvModel>& op);

// Escapes `s` as a double-quoted string of the kvraft history format
// (\" \\ \n \r \t and \xHH for other bytes outside printable ASCII). The
// fault harness writes keys and values with this; parse_kvraft_history
// reads them back exactly.
std::string history_quote(std::string_view s);

}  // namespace kvraft::lincheck
