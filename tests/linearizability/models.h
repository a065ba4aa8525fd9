// tests/linearizability/models.h — sequential specifications for the checker.
//
// Two models satisfy the Model concept of checker.h:
//   RegisterModel — one integer register that may be nil, with read, write
//                   and compare-and-set: the etcd histories Jepsen recorded.
//   KvModel       — one string value that may be absent, with the operations
//                   kvraft's fault harness issues (get, set, del, incr,
//                   append, cas) and the porcupine kv files use (get, put,
//                   append). A history over many keys is checked one key at a
//                   time (partition by KvInput::key), so the state is the
//                   value of a single key.
// Both accept any output that is marked unknown; the effect of an unknown
// write-like operation is the effect it would have had had it run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kvraft::lincheck {

// Quotes `s` for explanations: printable ASCII as is, the rest as \xHH.
// Values longer than `max_len` keep their head and tail around "..." and
// show their length, because appended values grow and their end is what
// differs between two reads.
std::string quote(std::string_view s, std::size_t max_len = 60);

// ------------------------------------------------------------ register
struct RegisterModel {
  enum class Kind { kRead, kWrite, kCas };
  struct Input {
    Kind kind = Kind::kRead;
    int64_t arg = 0;   // write: the value; cas: the expected value
    int64_t arg2 = 0;  // cas: the new value
    bool operator==(const Input&) const = default;
  };
  struct Output {
    bool unknown = false;
    std::optional<int64_t> value;  // read: nullopt = nil
    bool ok = false;               // cas: swapped (true) or failed (false)
    bool operator==(const Output&) const = default;
  };
  // nullopt = nil, the initial value.
  using State = std::optional<int64_t>;

  State init() const { return std::nullopt; }
  std::optional<State> step(const State& s, const Input& in, const Output& out) const;
  // Reads, and compare-and-sets that reported failure.
  bool read_only(const Input& in, const Output& out) const;
  std::size_t hash(const State& s) const;
  std::string describe_op(const Input& in, const Output& out) const;
  std::string describe_state(const State& s) const;
};

// ------------------------------------------------------------ key-value
struct KvModel {
  enum class Kind { kGet, kSet, kDel, kIncr, kAppend, kCas };
  struct Input {
    Kind kind = Kind::kGet;
    std::string key;
    std::optional<std::string> arg;  // set/append: the value; cas: expected (nullopt = absent)
    std::string arg2;                // cas: the new value
    int64_t delta = 0;               // incr: the increment (INCRBY)
    bool operator==(const Input&) const = default;
  };
  struct Output {
    bool unknown = false;
    std::optional<std::string> value;  // get: nullopt = nil (absent)
    bool ok = false;                   // cas: swapped (true) or not (false)
    // del: keys removed (0/1); incr: the new value; append: the new length.
    // nullopt when the history does not record it (porcupine's append).
    std::optional<int64_t> number;
    bool operator==(const Output&) const = default;
  };
  // nullopt = the key is absent, its initial state.
  using State = std::optional<std::string>;

  // Porcupine's kv files record a read of a missing key as "": with this
  // set, a get that returned "" matches an absent key (and a get never
  // returns nil). kvraft's own histories keep nil and "" apart, as Redis does.
  bool missing_reads_as_empty = false;

  State init() const { return std::nullopt; }
  std::optional<State> step(const State& s, const Input& in, const Output& out) const;
  // Gets, compare-and-sets that reported failure, and deletes that removed
  // nothing (accepted only on an absent key, which they leave absent).
  bool read_only(const Input& in, const Output& out) const;
  // step(s, in, out).has_value() without copying the value, for read_only ops.
  bool accepts(const State& s, const Input& in, const Output& out) const;
  std::size_t state_bytes(const State& s) const { return s ? s->capacity() : 0; }
  std::size_t hash(const State& s) const;
  std::string describe_op(const Input& in, const Output& out) const;
  std::string describe_state(const State& s) const;
};

// Name of an operation kind as the kvraft history format spells it ("get").
std::string_view kind_name(KvModel::Kind kind);

}  // namespace kvraft::lincheck
