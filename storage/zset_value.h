// storage/zset_value.h — the SORTED SET value type (Redis's t_zset.c data
// side): members ordered by (score, member bytes).
//
// Two encodings, converted like Redis (zsetTypeCreate, zsetAdd,
// zsetConvertToListpackIfNeeded):
//   listpack  one byte run of [score f64][len u8][bytes][len u8] entries
//             in order, for at most kZsetMaxListpackEntries members of at
//             most kZsetMaxListpackValue bytes (the trailing length makes
//             backward iteration O(1) per step);
//   skiplist  Redis's span-counting skiplist (rank and by-rank access in
//             O(log n)) plus a HashOrderedTable from member to node for
//             O(1) ZSCORE. The member bytes live inline in the node, so a
//             member costs one malloc plus one 8-byte index slot.
// Nothing here is random except skiplist node levels, which only shape the
// index: every replica answers every query identically.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>

#include "storage/set_value.h"
#include "storage/value.h"

namespace kvraft::storage {

// Redis's zset-max-listpack-entries / -value defaults.
inline constexpr size_t kZsetMaxListpackEntries = 128;
inline constexpr size_t kZsetMaxListpackValue = 64;

// A score interval (Redis's zrangespec); *ex means the bound is exclusive.
struct ZScoreRange {
  double min = 0, max = 0;
  bool minex = false, maxex = false;
};

// A lexicographic interval (Redis's zlexrangespec): "-" and "+" are the
// infinitely small and large strings.
struct ZLexRange {
  enum class Kind : uint8_t { kValue, kNegInf, kPosInf };
  Kind min_kind = Kind::kNegInf, max_kind = Kind::kPosInf;
  std::string min, max;
  bool minex = false, maxex = false;
};

// Redis's zslParseRange: "1.5", "(1.5", "-inf", "+inf". False on bad input.
bool parse_score_range(std::string_view min, std::string_view max, ZScoreRange* out);
// Redis's zslParseLexRange: "[a", "(a", "-", "+". False on bad input.
bool parse_lex_range(std::string_view min, std::string_view max, ZLexRange* out);

// One skiplist node: header, `level` Level records, then the member bytes.
struct ZNode {
  struct Level {
    ZNode* forward;
    uint64_t span;  // nodes skipped by `forward` at this level (for ranks)
  };
  double score;
  ZNode* backward;
  uint32_t len;
  uint8_t level;

  Level* lv() { return reinterpret_cast<Level*>(this + 1); }
  const Level* lv() const { return reinterpret_cast<const Level*>(this + 1); }
  std::string_view member() const { return {reinterpret_cast<const char*>(lv() + level), len}; }
};
static_assert(sizeof(ZNode) == 24, "ZNode header must stay 24 bytes");

struct ZNodeTraits {
  using Elem = ZNode;
  static std::string_view key(const ZNode* n) { return n->member(); }
};

class ZsetValue final : public CompositeValue {
 public:
  enum class Enc : uint8_t { kListpack, kSkiplist };

  // Redis's zsetAdd flags (in) and result flags (out).
  enum : int { kAddIncr = 1, kAddNx = 2, kAddXx = 4, kAddGt = 8, kAddLt = 16 };
  enum : int { kOutNan = 1, kOutAdded = 2, kOutUpdated = 4, kOutNop = 8 };

  // An empty zset with the encoding Redis's zsetTypeCreate picks for about
  // `size_hint` members whose longest is `value_len_hint` bytes.
  static std::unique_ptr<ZsetValue> create(size_t size_hint, size_t value_len_hint);
  explicit ZsetValue(Enc enc = Enc::kListpack);
  ~ZsetValue() override;

  ValueType type() const override { return ValueType::kZset; }
  std::string_view encoding_name() const override {
    return enc_ == Enc::kListpack ? "listpack" : "skiplist";
  }
  std::unique_ptr<CompositeValue> clone() const override;
  size_t memory_usage() const override;

  Enc encoding() const { return enc_; }
  size_t size() const { return enc_ == Enc::kListpack ? lp_count_ : length_; }

  bool score(std::string_view member, double* out) const;
  // Redis's zsetAdd: returns false (with kOutNan) if the score is or would
  // become NaN; otherwise sets *out_flags and, unless kOutNop, *new_score.
  bool add(double score, std::string_view member, int in_flags, int* out_flags, double* new_score);
  bool remove(std::string_view member);
  // 0-based rank (ascending, or descending with `reverse`) and score.
  bool rank(std::string_view member, bool reverse, size_t* rank, double* score) const;

  // Ranks of the first and last members inside the range; false if none.
  bool score_range_ranks(const ZScoreRange& r, size_t* first, size_t* last) const;
  // Lex ranges assume equal scores (Redis's contract). With mixed scores a
  // listpack answers exactly as Redis's zzl*InLexRange scans do: the run
  // starting at the first member >= min going forward (or, with
  // `reverse`, at the last member <= max going backward); a skiplist, like
  // Redis's, answers by its search path.
  bool lex_range_ranks(const ZLexRange& r, size_t* first, size_t* last, bool reverse = false) const;
  // Removes the members of ranks [first, last] (ascending, last < size());
  // returns how many.
  size_t remove_rank_range(size_t first, size_t last);

  void convert(Enc enc);
  // Redis's zsetConvertToListpackIfNeeded for a finished *STORE result.
  void shrink_if_small();

  // A position in rank order; moves forwards or backwards.
  class Iter {
   public:
    bool valid() const { return valid_; }
    std::string_view member() const;
    double score() const;
    void next();
    void prev();

   private:
    friend class ZsetValue;
    const ZsetValue* z_ = nullptr;
    size_t off_ = 0;               // listpack: byte offset of the entry
    const ZNode* node_ = nullptr;  // skiplist
    bool valid_ = false;
  };
  // The member at 0-based ascending rank `r` (invalid Iter if r >= size()).
  Iter at_rank(size_t r) const;

  // Calls fn(member, score) in ascending order.
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (Iter it = at_rank(0); it.valid(); it.next())
      fn(it.member(), it.score());
  }

  // ZSCAN: a listpack answers everything at once (next cursor 0), as Redis
  // does; a skiplist steps through its member index until about `count`
  // members were emitted. fn(member, score).
  template <typename Fn>
  uint64_t scan(uint64_t cursor, size_t count, Fn&& fn) const {
    if (enc_ == Enc::kListpack) {
      for_each(fn);
      return 0;
    }
    size_t emitted = 0, max_steps = count * 10;
    do {
      cursor = index_.scan(cursor, [&](const ZNode* n) {
        fn(n->member(), n->score);
        ++emitted;
      });
    } while (cursor && max_steps-- && emitted < count);
    return cursor;
  }

  // Checks the skiplist's structure (order, spans, backward links, index);
  // returns an empty string or a description of the first violation.
  std::string check_invariants() const;

 private:
  static constexpr int kMaxLevel = 32;

  // listpack
  size_t lp_find(std::string_view member, double* score) const;
  void lp_insert(double score, std::string_view member);
  static size_t lp_entry_len(size_t member_len) { return 8 + 1 + member_len + 1; }

  // skiplist (Redis's zsl* functions)
  ZNode* zsl_insert(double score, std::string_view member);
  // Unlinks `x` (update[] as computed by the search) without freeing it.
  void zsl_unlink(ZNode* x, ZNode** update);
  // Unlinks and frees the node with this (score, member); false if absent.
  bool zsl_delete(double score, std::string_view member);
  uint64_t zsl_rank(double score, std::string_view member) const;  // 1-based, 0 absent
  const ZNode* zsl_by_rank(uint64_t rank) const;                   // 1-based
  int random_level();
  static ZNode* node_new(int level, double score, std::string_view member);
  void zsl_clear();

  Enc enc_;
  // listpack: lp_count_ entries in ascending (score, member) order.
  std::string lp_;
  size_t lp_count_ = 0;
  // skiplist: header_ has kMaxLevel levels; level_ is the highest in use;
  // index_ holds exactly the nodes of the list; length_ counts them.
  ZNode* header_ = nullptr;
  ZNode* tail_ = nullptr;
  int level_ = 1;
  size_t length_ = 0;
  HashOrderedTable<ZNodeTraits> index_;
  std::minstd_rand rng_{0x5eed};
};

}  // namespace kvraft::storage
