// tests/linearizability/checker.h — a generic linearizability checker.
//
// Wing & Gong's search for a linearization, with Lowe's memoisation, in the
// shape Porcupine and Knossos use: the history becomes a doubly linked list
// of call and return entries ordered by time; the search repeatedly picks a
// call that precedes the first remaining return, applies the operation to the
// model state, "lifts" its two entries out of the list and continues; on a
// return entry it cannot get past it backtracks. A cache of (set of
// linearized operations, model state) pairs that were already explored cuts
// the otherwise exponential search down to what the histories need in
// practice.
//
// The checker is generic over a Model (see the concept below) and applies
// P-compositionality: a history is split into independent partitions (one
// per key for key-value models), each checked on its own, which is valid
// because linearizability is a local property (Herlihy & Wing).
//
// Header-only because everything is a template over the model; the models
// and the history parsers live in models.h and history.h.
#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace kvraft::lincheck {

// Return time of an operation whose outcome is unknown (timed out, lost
// connection, error reply): it stays pending until after the last event of
// the history, so it may take effect at any point after its call, or never
// (placed last, its effect is observed by nobody).
inline constexpr int64_t kPendingForever = std::numeric_limits<int64_t>::max();

// What the checker needs from a sequential specification.
//   State   — a value type; equal states must hash equally.
//   init()  — the state before the first operation.
//   step(s, in, out) — nullopt if `in` applied in state `s` cannot produce
//             `out`; otherwise the state after it. Outputs that are unknown
//             must be accepted here (the model decides what "unknown" means
//             for the effect, usually "the operation happened").
//   describe_op / describe_state — short human-readable text for explanations.
template <class M>
concept Model = requires(const M& m, const typename M::State& s, const typename M::Input& in,
                         const typename M::Output& out) {
  { m.init() } -> std::convertible_to<typename M::State>;
  { m.step(s, in, out) } -> std::same_as<std::optional<typename M::State>>;
  { m.hash(s) } -> std::convertible_to<std::size_t>;
  { s == s } -> std::convertible_to<bool>;
  { m.describe_op(in, out) } -> std::convertible_to<std::string>;
  { m.describe_state(s) } -> std::convertible_to<std::string>;
};

// One operation of a history. `call` < `ret` is not required (a zero-length
// operation is fine); operations whose intervals touch (one's ret equals the
// other's call) count as concurrent.
template <class M>
struct Operation {
  std::string client;  // who issued it; each client has at most one operation outstanding
  typename M::Input input;
  typename M::Output output;
  int64_t call = 0;
  int64_t ret = 0;  // kPendingForever when the outcome is unknown
};

enum class Verdict { kLinearizable, kNotLinearizable, kUnknown /* time budget exhausted */ };

// Why a partition has no linearization: the longest prefix the search could
// linearize and the operations none of which could be placed right after it.
struct Violation {
  std::string partition;  // e.g. the key, quoted
  std::size_t partition_ops = 0;
  std::vector<std::string> prefix;  // described operations, in linearization order
  std::string state_after_prefix;
  // Operations that overlap the earliest still-unplaced return: one of them
  // had to come next, and none could. Each line ends with the reason.
  std::vector<std::string> stuck;
};

struct CheckOptions {
  // Give up (Verdict::kUnknown) after this much wall time; the search is
  // exponential in the worst case and input histories are untrusted.
  std::chrono::milliseconds budget{std::chrono::seconds(60)};
  // How many operations of the prefix an explanation shows (the last ones).
  std::size_t prefix_lines = 8;
};

struct CheckResult {
  Verdict verdict = Verdict::kLinearizable;
  std::size_t operations = 0;
  std::size_t partitions = 0;
  std::optional<Violation> violation;  // set iff verdict == kNotLinearizable
};

namespace detail {

// A fixed-size bitset over operation indices of one partition.
class Bitset {
 public:
  explicit Bitset(std::size_t bits) : words_((bits + 63) / 64, 0) {}
  void set(std::size_t i) { words_[i / 64] |= uint64_t{1} << (i % 64); }
  void clear(std::size_t i) { words_[i / 64] &= ~(uint64_t{1} << (i % 64)); }
  bool test(std::size_t i) const { return (words_[i / 64] >> (i % 64)) & 1; }
  bool operator==(const Bitset&) const = default;
  std::size_t hash() const {
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (uint64_t w : words_) {
      h ^= w + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    }
    return static_cast<std::size_t>(h);
  }

 private:
  std::vector<uint64_t> words_;
};

inline std::string describe_interval(int64_t call, int64_t ret) {
  std::string s = "@" + std::to_string(call) + "..";
  s += ret == kPendingForever ? std::string("?") : std::to_string(ret);
  return s;
}

template <Model M>
std::string describe(const M& model, const Operation<M>& op) {
  return "client " + op.client + " " + describe_interval(op.call, op.ret) + " " +
         model.describe_op(op.input, op.output);
}

// Checks one partition. Returns kLinearizable, kNotLinearizable (filling
// `violation`) or kUnknown when `deadline` passes.
template <Model M>
Verdict check_partition(const M& model, const std::vector<const Operation<M>*>& ops,
                        std::chrono::steady_clock::time_point deadline, Violation* violation) {
  using State = typename M::State;
  const std::size_t n = ops.size();
  if (n == 0) return Verdict::kLinearizable;

  // Entries 1..2n; entry 0 is the list head. Entry e of op i: call = 2i+1,
  // return = 2i+2. Sorted by time, calls before returns at equal times (so
  // touching intervals are concurrent), then by op index for determinism.
  struct Event {
    int64_t time;
    bool is_return;
    std::size_t op;
  };
  std::vector<Event> events;
  events.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    events.push_back({ops[i]->call, false, i});
    events.push_back({ops[i]->ret, true, i});
  }
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    if (a.time != b.time) return a.time < b.time;
    if (a.is_return != b.is_return) return !a.is_return;
    return a.op < b.op;
  });
  // An operation whose return sorts before its call (ret < call in the
  // input) would break the list; the parsers reject such operations.
  const std::size_t entries = 2 * n + 1;
  std::vector<std::size_t> entry_op(entries, 0);
  std::vector<bool> entry_is_call(entries, false);
  std::vector<std::size_t> match(entries, 0);  // call entry -> its return entry
  std::vector<std::size_t> call_entry_of(n, 0);
  constexpr std::size_t kNil = std::numeric_limits<std::size_t>::max();
  // Invariant: following next_ from 0 visits exactly the entries of the
  // operations not yet linearized, in time order; prev_ mirrors next_.
  std::vector<std::size_t> next(entries, kNil), prev(entries, kNil);
  for (std::size_t k = 0; k < events.size(); ++k) {
    const std::size_t e = k + 1;
    entry_op[e] = events[k].op;
    entry_is_call[e] = !events[k].is_return;
    if (!events[k].is_return) call_entry_of[events[k].op] = e;
    prev[e] = e - 1;
    next[e - 1] = e;
  }
  for (std::size_t k = 0; k < events.size(); ++k) {
    const std::size_t e = k + 1;
    if (events[k].is_return) match[call_entry_of[events[k].op]] = e;
  }

  auto lift = [&](std::size_t e) {
    next[prev[e]] = next[e];
    if (next[e] != kNil) prev[next[e]] = prev[e];
    const std::size_t m = match[e];
    next[prev[m]] = next[m];
    if (next[m] != kNil) prev[next[m]] = prev[m];
  };
  // Exact inverse of lift; unlifts happen in reverse order of lifts.
  auto unlift = [&](std::size_t e) {
    const std::size_t m = match[e];
    next[prev[m]] = m;
    if (next[m] != kNil) prev[next[m]] = m;
    next[prev[e]] = e;
    if (next[e] != kNil) prev[next[e]] = e;
  };

  struct CacheEntry {
    Bitset linearized;
    State state;
    std::size_t hash;
    bool operator==(const CacheEntry& o) const {
      return hash == o.hash && linearized == o.linearized && state == o.state;
    }
  };
  struct CacheHash {
    std::size_t operator()(const CacheEntry& c) const { return c.hash; }
  };
  std::unordered_set<CacheEntry, CacheHash> cache;

  struct Frame {
    std::size_t entry;
    State state_before;
  };
  std::vector<Frame> calls;  // the current partial linearization
  Bitset linearized(n);
  State state = model.init();

  std::vector<std::size_t> best_prefix;  // op indices of the longest partial linearization
  State best_state = state;

  std::size_t entry = next[0];
  uint64_t iterations = 0;
  while (next[0] != kNil) {
    if ((++iterations & 1023) == 0 && std::chrono::steady_clock::now() > deadline) {
      return Verdict::kUnknown;
    }
    if (entry_is_call[entry]) {
      const Operation<M>& op = *ops[entry_op[entry]];
      std::optional<State> after = model.step(state, op.input, op.output);
      if (after) {
        Bitset bits = linearized;
        bits.set(entry_op[entry]);
        const std::size_t h = bits.hash() * 31 + model.hash(*after);
        if (cache.insert(CacheEntry{std::move(bits), *after, h}).second) {
          calls.push_back(Frame{entry, std::move(state)});
          state = std::move(*after);
          linearized.set(entry_op[entry]);
          lift(entry);
          if (calls.size() > best_prefix.size()) {
            best_prefix.clear();
            for (const Frame& f : calls)
              best_prefix.push_back(entry_op[f.entry]);
            best_state = state;
          }
          entry = next[0];
          continue;
        }
      }
      entry = next[entry];
    } else {
      // A return entry: its operation must have been linearized before now.
      if (calls.empty()) break;
      Frame top = std::move(calls.back());
      calls.pop_back();
      entry = top.entry;
      state = std::move(top.state_before);
      linearized.clear(entry_op[entry]);
      unlift(entry);
      entry = next[entry];
    }
  }
  if (next[0] == kNil) return Verdict::kLinearizable;

  // Explain: after the best prefix, the operation with the earliest return
  // among those left had to be placed before that return, and so did any of
  // the operations whose calls precede it; none of them led anywhere.
  if (violation) {
    Bitset in_prefix(n);
    for (std::size_t i : best_prefix)
      in_prefix.set(i);
    int64_t first_return = kPendingForever;
    for (std::size_t i = 0; i < n; ++i) {
      if (!in_prefix.test(i)) first_return = std::min(first_return, ops[i]->ret);
    }
    violation->partition_ops = n;
    violation->prefix.clear();
    violation->stuck.clear();
    for (std::size_t i : best_prefix)
      violation->prefix.push_back(describe(model, *ops[i]));
    violation->state_after_prefix = model.describe_state(best_state);
    // Same order as the event list: by call time, then index.
    std::vector<std::size_t> candidates;
    for (std::size_t i = 0; i < n; ++i) {
      if (!in_prefix.test(i) && ops[i]->call <= first_return) candidates.push_back(i);
    }
    std::stable_sort(candidates.begin(), candidates.end(),
                     [&](std::size_t a, std::size_t b) { return ops[a]->call < ops[b]->call; });
    for (std::size_t i : candidates) {
      const Operation<M>& op = *ops[i];
      std::string line = describe(model, op);
      if (!model.step(best_state, op.input, op.output)) {
        line += "   <- impossible in this state";
      } else {
        line += "   <- possible, but nothing can follow it";
      }
      if (op.ret == first_return) line += " (returns first)";
      violation->stuck.push_back(std::move(line));
    }
  }
  return Verdict::kNotLinearizable;
}

}  // namespace detail

// Checks a whole history: operations are grouped by `partition_of(input)`
// (all in one partition if it returns the same string for all) and each
// group is checked on its own, in key order. Stops at the first violation.
// Operations are only read; the vector is not reordered.
template <Model M, class PartitionFn>
CheckResult check_history(const M& model, const std::vector<Operation<M>>& history,
                          PartitionFn partition_of, const CheckOptions& options = {}) {
  CheckResult result;
  result.operations = history.size();
  std::map<std::string, std::vector<const Operation<M>*>> partitions;
  for (const Operation<M>& op : history)
    partitions[partition_of(op.input)].push_back(&op);
  result.partitions = partitions.size();
  const auto deadline = std::chrono::steady_clock::now() + options.budget;
  bool timed_out = false;
  for (const auto& [key, ops] : partitions) {
    Violation v;
    Verdict verdict = detail::check_partition(model, ops, deadline, &v);
    if (verdict == Verdict::kNotLinearizable) {
      v.partition = key;
      result.verdict = verdict;
      result.violation = std::move(v);
      return result;
    }
    // A later partition may still prove a violation; keep going.
    if (verdict == Verdict::kUnknown) timed_out = true;
  }
  if (timed_out) result.verdict = Verdict::kUnknown;
  return result;
}

// Renders a violation for people: the key, the tail of the longest prefix
// that could be linearized, the state it leaves, and the operations of which
// one had to come next. Lines are indented by two spaces.
inline std::string format_violation(const Violation& v, std::size_t prefix_lines) {
  std::string out = "  " + v.partition + ": no linearization of its " +
                    std::to_string(v.partition_ops) + " ops; the longest linearizable prefix has " +
                    std::to_string(v.prefix.size()) + " ops";
  const std::size_t shown = std::min(prefix_lines, v.prefix.size());
  if (shown < v.prefix.size()) {
    out += " (last " + std::to_string(shown) + " shown)";
  }
  out += ":\n";
  for (std::size_t i = v.prefix.size() - shown; i < v.prefix.size(); ++i) {
    out += "    " + std::to_string(i + 1) + ". " + v.prefix[i] + "\n";
  }
  out += "  state after it: " + v.state_after_prefix + "\n";
  out += "  none of these could be linearized next:";
  for (const std::string& s : v.stuck)
    out += "\n    " + s;
  return out;
}

}  // namespace kvraft::lincheck
