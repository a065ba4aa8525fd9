// tests/linearizability/checker.h — a generic linearizability checker.
//
// Wing & Gong's search for a linearization, with Lowe's memoisation, in the
// shape Porcupine and Knossos use: the history becomes a doubly linked list
// of call and return entries ordered by time; the search repeatedly picks a
// call that precedes the first remaining return, applies the operation to the
// model state, "lifts" its two entries out of the list and continues; when
// the first remaining entry it can try is a return, no operation can come
// next and it backtracks. A cache of configurations (set of linearized
// operations, model state) known to lead nowhere stops it from exploring the
// same configuration twice. The cache is filled when a configuration is left
// for good (Porcupine fills it on entry; the same, since a configuration can
// not recur below itself) so that it holds failures only, which the
// dominance rule below needs.
//
// Four reductions keep it fast on the histories faults produce; each keeps
// the search complete (a linearization exists iff one is found):
//   * Operations with an unknown outcome (kPendingForever) never have to be
//     placed: once every operation with a known outcome is placed, the rest
//     go last, where nobody observes them. So the search stops there, and
//     never applies such an operation where it would not change the state.
//   * Dominance: a configuration that failed also rules out every
//     configuration with the same known-outcome operations placed, the same
//     state and a superset of its unknown-outcome operations placed (the
//     extra ones could have been left for the end).
//   * Identical unknown-outcome operations (same input and output) are
//     interchangeable, so they are placed in call order only.
//   * A read-only operation (Model::read_only) that can go next and fits the
//     current state is placed right away with no alternatives tried: moving
//     it earlier changes no other operation's state or real-time order.
//
// The checker is generic over a Model (see the concept below) and applies
// P-compositionality: a history is split into independent partitions (one
// per key for key-value models), checked separately, which is valid because
// linearizability is a local property (Herlihy & Wing). The partitions are
// searched in turns, so one that is quick to refute is not stuck behind one
// that is slow to explore, and each partition by two searches that try the
// candidates in different orders (see PartitionSearch::enter) and share what
// fails, the first to finish deciding. lincheck_test checks all of this against a brute-force
// search on random histories.
//
// Header-only because everything is a template over the model; the models
// and the history parsers live in models.h and history.h.
#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace kvraft::lincheck {

// Return time of an operation whose outcome is unknown (timed out, lost
// connection, error reply): it stays pending until after the last event of
// the history, so it may take effect at any point after its call, or never.
inline constexpr int64_t kPendingForever = std::numeric_limits<int64_t>::max();

// What the checker needs from a sequential specification.
//   State   — a value type; equal states must hash equally.
//   init()  — the state before the first operation.
//   step(s, in, out) — nullopt if `in` applied in state `s` cannot produce
//             `out`; otherwise the state after it. An unknown output must be
//             accepted in every state (the model decides the effect, usually
//             "the operation happened").
//   read_only(in, out) — true only if step never changes the state whenever
//             it accepts (a read; a compare-and-set that reported failure).
//   accepts(s, in, out) — optional: step(s, in, out).has_value() for
//             read-only operations, without building the state.
//   state_bytes(s) — optional: heap bytes a state owns, for the memory budget.
//   describe_op / describe_state — short human-readable text for explanations.
// Inputs and outputs compare with == (to find interchangeable operations).
template <class M>
concept Model = requires(const M& m, const typename M::State& s, const typename M::Input& in,
                         const typename M::Output& out) {
  { m.init() } -> std::convertible_to<typename M::State>;
  { m.step(s, in, out) } -> std::same_as<std::optional<typename M::State>>;
  { m.read_only(in, out) } -> std::convertible_to<bool>;
  { m.hash(s) } -> std::convertible_to<std::size_t>;
  { s == s } -> std::convertible_to<bool>;
  { in == in } -> std::convertible_to<bool>;
  { out == out } -> std::convertible_to<bool>;
  { m.describe_op(in, out) } -> std::convertible_to<std::string>;
  { m.describe_state(s) } -> std::convertible_to<std::string>;
};

// One operation of a history. call <= ret; operations whose intervals touch
// (one's ret equals the other's call) count as concurrent. An operation with
// ret == kPendingForever must carry an output the model accepts in any state.
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
  // Known-outcome operations that overlap the earliest return still to be
  // placed: one of them had to come next and none could. Each line ends
  // with the reason.
  std::vector<std::string> stuck;
  // Unknown-outcome operations that could also have gone next (none helps).
  std::size_t stuck_unknown = 0;
};

struct CheckOptions {
  // Give up (Verdict::kUnknown) after this much wall time; the search is
  // exponential in the worst case and input histories are untrusted.
  std::chrono::milliseconds budget{std::chrono::seconds(60)};
  // Give up (Verdict::kUnknown) when the searches' caches grow past this.
  std::size_t memory_budget_bytes = std::size_t{2} << 30;
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

// A fixed-size bitset over the operations of one partition.
class Bitset {
 public:
  explicit Bitset(std::size_t bits = 0) : words_((bits + 63) / 64, 0) {}
  void set(std::size_t i) { words_[i / 64] |= uint64_t{1} << (i % 64); }
  void clear(std::size_t i) { words_[i / 64] &= ~(uint64_t{1} << (i % 64)); }
  bool test(std::size_t i) const { return (words_[i / 64] >> (i % 64)) & 1; }
  const std::vector<uint64_t>& words() const { return words_; }

 private:
  std::vector<uint64_t> words_;
};

inline uint64_t mix64(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

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

// Distinct model states, each stored once and named by a dense id, so the
// search keeps and compares 32-bit ids instead of copying states around.
template <Model M>
class StateTable {
 public:
  using State = typename M::State;
  explicit StateTable(const M& model) : model_(model), slots_(64, 0) {}

  // hash_of(s) is what intern and find take as `h`, computed once by callers.
  uint64_t hash_of(const State& s) const { return mix64(model_.hash(s)); }

  // The id of `s`, adding it if new. Invalidates references from get().
  uint32_t intern(State s, uint64_t h) {
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      const uint32_t slot = slots_[i];
      if (slot == 0) break;
      if (hashes_[slot - 1] == h && states_[slot - 1] == s) return slot - 1;
    }
    const auto id = static_cast<uint32_t>(states_.size());
    memory_bytes_ += sizeof(State) + sizeof(uint64_t);
    if constexpr (requires { model_.state_bytes(s); }) memory_bytes_ += model_.state_bytes(s);
    states_.push_back(std::move(s));
    hashes_.push_back(h);
    if (2 * states_.size() > slots_.size()) {
      std::vector<uint32_t> bigger(slots_.size() * 2, 0);
      mask = bigger.size() - 1;
      for (uint32_t k = 0; k < states_.size(); ++k) {
        std::size_t i = hashes_[k] & mask;
        while (bigger[i] != 0)
          i = (i + 1) & mask;
        bigger[i] = k + 1;
      }
      slots_.swap(bigger);
    } else {
      std::size_t i = h & mask;
      while (slots_[i] != 0)
        i = (i + 1) & mask;
      slots_[i] = id + 1;
    }
    return id;
  }
  // The id of `s` if it is in the table.
  std::optional<uint32_t> find(const State& s, uint64_t h) const {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = h & mask;; i = (i + 1) & mask) {
      const uint32_t slot = slots_[i];
      if (slot == 0) return std::nullopt;
      if (hashes_[slot - 1] == h && states_[slot - 1] == s) return slot - 1;
    }
  }
  const State& get(uint32_t id) const { return states_[id]; }
  // Approximate bytes held.
  std::size_t memory_bytes() const { return memory_bytes_ + slots_.capacity() * 4; }

 private:
  const M& model_;
  std::vector<State> states_;
  std::vector<uint64_t> hashes_;  // mix64(model hash) per state
  std::vector<uint32_t> slots_;   // open addressing: 0 = empty, else id + 1; power of two
  std::size_t memory_bytes_ = 0;  // states and hashes
};

// What the searches of one partition learn, shared between them: a
// configuration one search proved to fail is failed for the other too (both
// search the same operations, numbered alike).
template <Model M>
struct SharedCache {
  explicit SharedCache(const M& model) : states(model) {}
  std::size_t memory_bytes() const {
    return states.memory_bytes() + failed_bits.capacity() * 8 +
           (failed_next.capacity() + failed_state.capacity()) * 4 + failed_keys.capacity() * 12;
  }

  StateTable<M> states;
  // Configurations that failed, chained per key(known hash, state) in an
  // open-addressing table (keys 0 = empty slot; at most half full). Entry
  // f (1-based) has state failed_state[f-1], successor failed_next[f-1]
  // (0 ends the chain) and bits failed_bits[(f-1)*words ...].
  std::vector<uint32_t> failed_slots = std::vector<uint32_t>(1024, 0);
  std::vector<uint64_t> failed_keys = std::vector<uint64_t>(1024, 0);
  std::size_t failed_count = 0;  // used slots
  std::vector<uint32_t> failed_next, failed_state;
  std::vector<uint64_t> failed_bits;
};

// The search over one partition, resumable so partitions can take turns.
template <Model M>
class PartitionSearch {
 public:
  using State = typename M::State;
  enum class Status { kRunning, kLinearizable, kNotLinearizable };
  // Which of the operations that may come next is tried first. Either order
  // gives a complete search; each is fast where the other can be slow (see
  // enter()), so check_history runs both side by side.
  enum class Order { kByCall, kByReturn };

  // `model`, the operations and `cache` must outlive the search; searches
  // sharing a cache must be given the same operations in the same order.
  PartitionSearch(const M& model, std::vector<const Operation<M>*> ops, Order order,
                  SharedCache<M>& cache)
      : order_(order),
        model_(model),
        ops_(std::move(ops)),
        n_(ops_.size()),
        words_((n_ + 63) / 64),
        linearized_(n_),
        scratch_(n_),
        pending_mask_(n_),
        cache_(cache) {
    State init = model.init();
    const uint64_t h = cache_.states.hash_of(init);
    state_ = cache_.states.intern(std::move(init), h);
    best_state_ = state_;
    build_list();
    build_classes();
    for (std::size_t i = 0; i < n_; ++i) {
      if (ops_[i]->ret == kPendingForever) {
        pending_mask_.set(i);
      } else {
        ++known_left_;
      }
      zobrist_.push_back(mix64(i + 1));
    }
    known_total_ = known_left_;
    status_ = known_left_ == 0 ? Status::kLinearizable : Status::kRunning;
  }

  Status status() const { return status_; }
  // Approximate bytes held, not counting the shared cache.
  std::size_t memory_bytes() const {
    return calls_.capacity() * sizeof(Frame) + best_prefix_.capacity() * sizeof(std::size_t);
  }

  // Runs at most `max_steps` search steps; returns the status afterwards.
  Status run(uint64_t max_steps) {
    for (uint64_t steps = 0; status_ == Status::kRunning && steps < max_steps; ++steps) {
      if (fresh_) {
        fresh_ = false;
        enter();
        continue;
      }
      Level& level = levels_[calls_.size()];
      if (level.next == level.candidates.size()) {
        backtrack();
      } else {
        try_call(level.candidates[level.next++]);
      }
    }
    return status_;
  }

  // The explanation of a kNotLinearizable verdict.
  Violation explain() const {
    Violation v;
    v.partition_ops = n_;
    Bitset in_prefix(n_);
    for (std::size_t i : best_prefix_)
      in_prefix.set(i);
    int64_t first_return = kPendingForever;
    for (std::size_t i = 0; i < n_; ++i) {
      if (!in_prefix.test(i)) first_return = std::min(first_return, ops_[i]->ret);
    }
    for (std::size_t i : best_prefix_)
      v.prefix.push_back(describe(model_, *ops_[i]));
    const State& best = cache_.states.get(best_state_);
    v.state_after_prefix = model_.describe_state(best);
    std::vector<std::size_t> candidates;
    for (std::size_t i = 0; i < n_; ++i) {
      if (in_prefix.test(i) || ops_[i]->call > first_return) continue;
      if (ops_[i]->ret == kPendingForever) {
        ++v.stuck_unknown;
      } else {
        candidates.push_back(i);
      }
    }
    std::stable_sort(candidates.begin(), candidates.end(),
                     [&](std::size_t a, std::size_t b) { return ops_[a]->call < ops_[b]->call; });
    for (std::size_t i : candidates) {
      const Operation<M>& op = *ops_[i];
      std::string line = describe(model_, op);
      if (!model_.step(best, op.input, op.output)) {
        line += "   <- impossible in this state";
      } else {
        line += "   <- possible, but nothing can follow it";
      }
      if (op.ret == first_return) line += " (returns first)";
      v.stuck.push_back(std::move(line));
    }
    return v;
  }

 private:
  static constexpr std::size_t kNil = std::numeric_limits<std::size_t>::max();

  // The operations that may come next at one depth of the search, best
  // guess first; `next` is the first one not tried yet.
  struct Level {
    std::vector<std::size_t> candidates;  // call entries
    std::size_t next = 0;
  };

  struct Frame {
    std::size_t entry;      // call entry of the operation placed
    uint32_t state_before;  // id in cache_.states
    bool forced;            // a read placed without alternatives: its failure fails the parent
  };

  // Entries 1..2n in time order, calls before returns at equal times (so
  // touching intervals overlap), then by operation index; entry 0 is the
  // head. Invariant: following next_ from 0 visits exactly the entries of
  // the operations not yet linearized, in that order; prev_ mirrors next_.
  void build_list() {
    struct Event {
      int64_t time;
      bool is_return;
      std::size_t op;
    };
    std::vector<Event> events;
    events.reserve(2 * n_);
    for (std::size_t i = 0; i < n_; ++i) {
      events.push_back({ops_[i]->call, false, i});
      events.push_back({std::max(ops_[i]->ret, ops_[i]->call), true, i});
    }
    std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
      if (a.time != b.time) return a.time < b.time;
      if (a.is_return != b.is_return) return !a.is_return;
      return a.op < b.op;
    });
    const std::size_t entries = 2 * n_ + 1;
    entry_op_.assign(entries, 0);
    entry_is_call_.assign(entries, false);
    match_.assign(entries, 0);
    next_.assign(entries, kNil);
    prev_.assign(entries, kNil);
    std::vector<std::size_t> call_entry(n_, 0);
    for (std::size_t k = 0; k < events.size(); ++k) {
      const std::size_t e = k + 1;
      entry_op_[e] = events[k].op;
      entry_is_call_[e] = !events[k].is_return;
      if (entry_is_call_[e]) {
        call_entry[events[k].op] = e;
      } else {
        match_[call_entry[events[k].op]] = e;  // the call sorts first, so it is known
      }
      prev_[e] = e - 1;
      next_[e - 1] = e;
    }
  }

  // class_prev_[i]: the unknown-outcome operation identical to i that was
  // called just before it, which must be placed before i (kNil if none).
  void build_classes() {
    class_prev_.assign(n_, kNil);
    std::vector<std::size_t> pending;
    for (std::size_t i = 0; i < n_; ++i) {
      if (ops_[i]->ret == kPendingForever) pending.push_back(i);
    }
    std::stable_sort(pending.begin(), pending.end(),
                     [&](std::size_t a, std::size_t b) { return ops_[a]->call < ops_[b]->call; });
    std::vector<std::size_t> heads;  // last member of each class so far
    for (std::size_t i : pending) {
      for (std::size_t& h : heads) {
        if (ops_[h]->input == ops_[i]->input && ops_[h]->output == ops_[i]->output) {
          class_prev_[i] = h;
          h = i;
          break;
        }
      }
      if (class_prev_[i] == kNil) heads.push_back(i);
    }
  }

  void lift(std::size_t e) {
    next_[prev_[e]] = next_[e];
    if (next_[e] != kNil) prev_[next_[e]] = prev_[e];
    const std::size_t m = match_[e];
    next_[prev_[m]] = next_[m];
    if (next_[m] != kNil) prev_[next_[m]] = prev_[m];
  }
  // Exact inverse of lift; unlifts happen in reverse order of lifts.
  void unlift(std::size_t e) {
    const std::size_t m = match_[e];
    next_[prev_[m]] = m;
    if (next_[m] != kNil) prev_[next_[m]] = m;
    next_[prev_[e]] = e;
    if (next_[e] != kNil) prev_[next_[e]] = e;
  }

  static uint64_t key(uint64_t known_hash, uint32_t state) {
    return (known_hash ^ mix64(state)) | 1;  // never 0, the empty-slot marker
  }

  // Slot of `k` in the failed table, or of the empty slot where it belongs.
  std::size_t failed_slot(uint64_t k) const {
    const std::size_t mask = cache_.failed_keys.size() - 1;
    std::size_t i = k & mask;
    while (cache_.failed_keys[i] != 0 && cache_.failed_keys[i] != k)
      i = (i + 1) & mask;
    return i;
  }

  // True if a failed configuration rules out (`linearized`, `state`): same
  // known-outcome operations, same state, a subset of the unknown ones.
  bool ruled_out(uint64_t k, const Bitset& linearized, uint32_t state) const {
    const std::size_t slot = failed_slot(k);
    if (cache_.failed_keys[slot] == 0) return false;
    const uint64_t* cur = linearized.words().data();
    const uint64_t* pend = pending_mask_.words().data();
    for (uint32_t f = cache_.failed_slots[slot]; f != 0; f = cache_.failed_next[f - 1]) {
      if (cache_.failed_state[f - 1] != state) continue;
      const uint64_t* old = &cache_.failed_bits[(f - 1) * words_];
      bool dominated = true;
      for (std::size_t w = 0; w < words_ && dominated; ++w) {
        dominated = ((old[w] ^ cur[w]) & ~pend[w]) == 0 && (old[w] & ~cur[w] & pend[w]) == 0;
      }
      if (dominated) return true;
    }
    return false;
  }

  void remember_failed(uint64_t k, const Bitset& linearized, uint32_t state) {
    if (2 * (cache_.failed_count + 1) > cache_.failed_keys.size()) {
      std::vector<uint64_t> old_keys(cache_.failed_keys.size() * 2, 0);
      std::vector<uint32_t> old_slots(cache_.failed_slots.size() * 2, 0);
      old_keys.swap(cache_.failed_keys);
      old_slots.swap(cache_.failed_slots);
      for (std::size_t i = 0; i < old_keys.size(); ++i) {
        if (old_keys[i] == 0) continue;
        const std::size_t slot = failed_slot(old_keys[i]);
        cache_.failed_keys[slot] = old_keys[i];
        cache_.failed_slots[slot] = old_slots[i];
      }
    }
    const std::size_t slot = failed_slot(k);
    if (cache_.failed_keys[slot] == 0) {
      cache_.failed_keys[slot] = k;
      ++cache_.failed_count;
    }
    cache_.failed_next.push_back(cache_.failed_slots[slot]);
    cache_.failed_state.push_back(state);
    const auto& words = linearized.words();
    cache_.failed_bits.insert(cache_.failed_bits.end(), words.begin(), words.end());
    cache_.failed_slots[slot] = static_cast<uint32_t>(cache_.failed_next.size());
  }

  void push(std::size_t e, uint32_t after, bool forced) {
    const std::size_t i = entry_op_[e];
    calls_.push_back(Frame{e, state_, forced});
    state_ = after;
    linearized_.set(i);
    if (ops_[i]->ret != kPendingForever) {
      known_hash_ ^= zobrist_[i];
      --known_left_;
    }
    lift(e);
    // The most informative prefix places the most known-outcome operations;
    // unknown-outcome ones that merely could have happened do not count.
    if (known_total_ - known_left_ > best_known_) {
      best_known_ = known_total_ - known_left_;
      best_prefix_.clear();
      for (const Frame& f : calls_)
        best_prefix_.push_back(entry_op_[f.entry]);
      best_state_ = state_;
    }
    if (known_left_ == 0) {
      status_ = Status::kLinearizable;
      return;
    }
    fresh_ = true;
  }

  // Tries to place the operation of call entry `e` next.
  void try_call(std::size_t e) {
    const std::size_t i = entry_op_[e];
    const Operation<M>& op = *ops_[i];
    const bool pending = op.ret == kPendingForever;
    if (pending && class_prev_[i] != kNil && !linearized_.test(class_prev_[i])) return;
    std::optional<State> after = model_.step(cache_.states.get(state_), op.input, op.output);
    if (!after) return;
    const uint64_t h = cache_.states.hash_of(*after);
    const std::optional<uint32_t> id = cache_.states.find(*after, h);
    if (pending && id == state_) return;
    if (id && child_ruled_out(i, *id)) return;
    push(e, id ? *id : cache_.states.intern(std::move(*after), h), false);
  }

  // Whether placing operation i, reaching the state with id `after`, leads
  // to a configuration known to fail. (A state not in the table yet is in
  // no failed configuration.)
  bool child_ruled_out(std::size_t i, uint32_t after) {
    scratch_ = linearized_;
    scratch_.set(i);
    const uint64_t h = ops_[i]->ret == kPendingForever ? known_hash_ : known_hash_ ^ zobrist_[i];
    return ruled_out(key(h, after), scratch_, after);
  }

  // Whether a read-only operation fits the current state (which it then
  // leaves as it is). Uses the model's accepts() when it has one, to spare
  // building a copy of the state.
  bool fits(const Operation<M>& op) const {
    if constexpr (requires { model_.accepts(cache_.states.get(state_), op.input, op.output); }) {
      return model_.accepts(cache_.states.get(state_), op.input, op.output);
    } else {
      return model_.step(cache_.states.get(state_), op.input, op.output).has_value();
    }
  }

  // Sets up a configuration just reached. If a read-only operation can go
  // next and fits the state, it is placed as the only choice (and if that
  // leads to a configuration known to fail, so does this one). Otherwise
  // the operations that can go next are tried in call order (Lowe's) or in
  // return order. By return: one that returned early is the likelier to
  // come first, and one with a long interval is better tried late than
  // placed early and backtracked over. By call: an operation whose effect
  // was overwritten unseen (an append before a set) gets placed early,
  // where it has to be, instead of after everything it overlaps.
  void enter() {
    if (levels_.size() <= calls_.size()) levels_.resize(calls_.size() + 1);
    Level& level = levels_[calls_.size()];
    level.candidates.clear();
    level.next = 0;
    for (std::size_t e = next_[0]; e != kNil && entry_is_call_[e]; e = next_[e]) {
      const Operation<M>& op = *ops_[entry_op_[e]];
      if (op.ret != kPendingForever && model_.read_only(op.input, op.output)) {
        if (!fits(op)) continue;  // cannot go next, here
        if (child_ruled_out(entry_op_[e], state_)) {
          level.candidates.clear();  // run() backtracks
          return;
        }
        push(e, state_, true);
        return;
      }
      level.candidates.push_back(e);
    }
    if (order_ == Order::kByCall) return;  // list order is call order
    std::sort(level.candidates.begin(), level.candidates.end(), [&](std::size_t a, std::size_t b) {
      const Operation<M>& x = *ops_[entry_op_[a]];
      const Operation<M>& y = *ops_[entry_op_[b]];
      if (x.ret != y.ret) return x.ret < y.ret;
      return a < b;
    });
  }

  // Leaves the current configuration, which failed, and resumes with the
  // next alternative of the deepest configuration that has one.
  void backtrack() {
    while (true) {
      if (calls_.empty()) {
        status_ = Status::kNotLinearizable;
        return;
      }
      remember_failed(key(known_hash_, state_), linearized_, state_);
      const Frame top = calls_.back();
      calls_.pop_back();
      const std::size_t i = entry_op_[top.entry];
      state_ = top.state_before;
      linearized_.clear(i);
      if (ops_[i]->ret != kPendingForever) {
        known_hash_ ^= zobrist_[i];
        ++known_left_;
      }
      unlift(top.entry);
      if (!top.forced) return;  // the parent's level resumes with its next candidate
    }
  }

  Order order_;
  const M& model_;
  std::vector<const Operation<M>*> ops_;
  std::size_t n_;
  std::size_t words_;  // 64-bit words per bitset over the operations
  // The linked list (see build_list) and, per call entry, its return entry.
  std::vector<std::size_t> entry_op_, match_, next_, prev_;
  std::vector<bool> entry_is_call_;
  std::vector<std::size_t> class_prev_;
  std::vector<uint64_t> zobrist_;  // per-operation random bits for known_hash_

  // The current configuration. Invariants: linearized_ holds exactly the
  // operations of calls_; known_hash_ is the xor of zobrist_ over the
  // known-outcome ones; known_left_ counts the known-outcome ones not in it.
  Bitset linearized_, scratch_, pending_mask_;
  SharedCache<M>& cache_;
  uint32_t state_ = 0;
  std::vector<Frame> calls_;
  uint64_t known_hash_ = 0;
  std::size_t known_left_ = 0;
  std::vector<Level> levels_;  // levels_[d] for depth d = calls_.size(), reused
  bool fresh_ = true;          // a configuration just reached: enter() it first
  Status status_ = Status::kRunning;

  std::size_t known_total_ = 0;           // known-outcome operations in the partition
  std::size_t best_known_ = 0;            // of them in best_prefix_
  std::vector<std::size_t> best_prefix_;  // longest partial linearization seen
  uint32_t best_state_ = 0;
};

}  // namespace detail

// Checks a whole history: operations are grouped by `partition_of(input)`
// (a string; return the same one for all to check without partitioning),
// each group is searched separately, in turns, until one has no
// linearization (reported with an explanation), all have one, or the time
// budget is spent. The vector is only read.
template <Model M, class PartitionFn>
CheckResult check_history(const M& model, const std::vector<Operation<M>>& history,
                          PartitionFn partition_of, const CheckOptions& options = {}) {
  using Search = detail::PartitionSearch<M>;
  CheckResult result;
  result.operations = history.size();
  std::map<std::string, std::vector<const Operation<M>*>> partitions;
  for (const Operation<M>& op : history)
    partitions[partition_of(op.input)].push_back(&op);
  result.partitions = partitions.size();

  const auto deadline = std::chrono::steady_clock::now() + options.budget;
  // Two searches per partition, one per candidate order, taking turns and
  // sharing what fails; the first to finish decides (both are complete).
  struct Partition {
    std::string key;
    std::unique_ptr<detail::SharedCache<M>> cache;
    std::unique_ptr<Search> by_call, by_return;
    bool done = false;
  };
  std::vector<Partition> running;
  for (auto& [key, ops] : partitions) {
    Partition p;
    p.key = key;
    p.cache = std::make_unique<detail::SharedCache<M>>(model);
    p.by_call = std::make_unique<Search>(model, ops, Search::Order::kByCall, *p.cache);
    p.by_return =
        std::make_unique<Search>(model, std::move(ops), Search::Order::kByReturn, *p.cache);
    running.push_back(std::move(p));
  }
  // Slices grow so that many small partitions finish in one turn while a
  // hard one does not starve the rest.
  uint64_t slice = 2048;
  while (true) {
    bool any_running = false;
    for (Partition& p : running) {
      if (p.done) continue;
      for (Search* search : {p.by_call.get(), p.by_return.get()}) {
        const auto status = search->run(slice);
        if (status == Search::Status::kNotLinearizable) {
          result.verdict = Verdict::kNotLinearizable;
          result.violation = search->explain();
          result.violation->partition = p.key;
          return result;
        }
        if (status == Search::Status::kLinearizable) {
          p.done = true;
          p.by_call.reset();  // free the memory of both searches
          p.by_return.reset();
          p.cache.reset();
          break;
        }
      }
      any_running = any_running || !p.done;
      if (std::chrono::steady_clock::now() > deadline) break;
    }
    if (!any_running) return result;
    std::size_t memory = 0;
    for (const Partition& p : running) {
      if (!p.done) {
        memory += p.cache->memory_bytes() + p.by_call->memory_bytes() + p.by_return->memory_bytes();
      }
    }
    if (std::chrono::steady_clock::now() > deadline || memory > options.memory_budget_bytes) {
      result.verdict = Verdict::kUnknown;
      return result;
    }
    slice = std::min<uint64_t>(slice * 2, 1 << 17);
  }
}

// Renders a violation for people: the key, the tail of the longest prefix
// that could be linearized, the state it leaves, and the operations of which
// one had to come next. Lines are indented by two spaces; no final newline.
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
  if (v.stuck_unknown > 0) {
    out += "\n    (and " + std::to_string(v.stuck_unknown) +
           " with unknown outcome, in flight then; none of them helps)";
  }
  return out;
}

}  // namespace kvraft::lincheck
