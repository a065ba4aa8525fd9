// storage/zset_value.cc — sorted set encodings: the ordered listpack byte
// run and Redis's span-counting skiplist with a member index (see
// zset_value.h).
#include "storage/zset_value.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <unordered_map>

namespace kvraft::storage {

namespace {

bool less_than(double s1, std::string_view m1, double s2, std::string_view m2) {
  return s1 < s2 || (s1 == s2 && m1 < m2);
}

bool parse_score_bound(std::string_view arg, double* out, bool* ex) {
  // Redis runs strtod over the C string: whatever follows a NUL is ignored,
  // leading whitespace and "" (= 0) are accepted; NaN is refused.
  std::string s(arg);
  const char* p = s.c_str();
  *ex = false;
  if (p[0] == '(') {
    *ex = true;
    ++p;
  }
  char* end;
  *out = std::strtod(p, &end);
  return end[0] == '\0' && !std::isnan(*out);
}

bool parse_lex_item(std::string_view arg, ZLexRange::Kind* kind, std::string* value, bool* ex) {
  if (arg.empty()) return false;
  switch (arg[0]) {
    case '+':
      if (arg.size() != 1) return false;
      *kind = ZLexRange::Kind::kPosInf;
      *ex = true;
      return true;
    case '-':
      if (arg.size() != 1) return false;
      *kind = ZLexRange::Kind::kNegInf;
      *ex = true;
      return true;
    case '(':
    case '[':
      *kind = ZLexRange::Kind::kValue;
      *ex = arg[0] == '(';
      value->assign(arg.substr(1));
      return true;
    default:
      return false;
  }
}

bool lex_gte_min(std::string_view v, const ZLexRange& r) {
  if (r.min_kind == ZLexRange::Kind::kNegInf) return true;
  if (r.min_kind == ZLexRange::Kind::kPosInf) return false;
  int c = v.compare(r.min);
  return r.minex ? c > 0 : c >= 0;
}

bool lex_lte_max(std::string_view v, const ZLexRange& r) {
  if (r.max_kind == ZLexRange::Kind::kPosInf) return true;
  if (r.max_kind == ZLexRange::Kind::kNegInf) return false;
  int c = v.compare(r.max);
  return r.maxex ? c < 0 : c <= 0;
}

}  // namespace

bool parse_score_range(std::string_view min, std::string_view max, ZScoreRange* out) {
  return parse_score_bound(min, &out->min, &out->minex) &&
         parse_score_bound(max, &out->max, &out->maxex);
}

bool parse_lex_range(std::string_view min, std::string_view max, ZLexRange* out) {
  return parse_lex_item(min, &out->min_kind, &out->min, &out->minex) &&
         parse_lex_item(max, &out->max_kind, &out->max, &out->maxex);
}

// ------------------------------------------------------------ lifecycle

std::unique_ptr<ZsetValue> ZsetValue::create(size_t size_hint, size_t value_len_hint) {
  bool small = size_hint <= kZsetMaxListpackEntries && value_len_hint <= kZsetMaxListpackValue;
  return std::make_unique<ZsetValue>(small ? Enc::kListpack : Enc::kSkiplist);
}

ZsetValue::ZsetValue(Enc enc) : enc_(enc) {
  if (enc_ == Enc::kSkiplist) header_ = node_new(kMaxLevel, 0, {});
}

ZsetValue::~ZsetValue() {
  zsl_clear();
}

void ZsetValue::zsl_clear() {
  if (!header_) return;
  index_.clear([](ZNode*) {});
  ZNode* x = header_->lv()[0].forward;
  while (x) {
    ZNode* next = x->lv()[0].forward;
    std::free(x);
    x = next;
  }
  std::free(header_);
  header_ = tail_ = nullptr;
  level_ = 1;
  length_ = 0;
}

ZNode* ZsetValue::node_new(int level, double score, std::string_view member) {
  size_t bytes = sizeof(ZNode) + static_cast<size_t>(level) * sizeof(ZNode::Level) + member.size();
  auto* n = static_cast<ZNode*>(std::malloc(bytes));
  if (!n) throw std::bad_alloc();
  n->score = score;
  n->backward = nullptr;
  n->len = static_cast<uint32_t>(member.size());
  n->level = static_cast<uint8_t>(level);
  for (int i = 0; i < level; ++i)
    n->lv()[i] = {nullptr, 0};
  if (!member.empty())
    std::memcpy(reinterpret_cast<char*>(n->lv() + level), member.data(), member.size());
  return n;
}

std::unique_ptr<CompositeValue> ZsetValue::clone() const {
  auto c = std::make_unique<ZsetValue>(enc_);
  if (enc_ == Enc::kListpack) {
    c->lp_ = lp_;
    c->lp_count_ = lp_count_;
  } else {
    c->index_.reserve(length_);
    for_each([&](std::string_view m, double s) { c->index_.insert(c->zsl_insert(s, m)); });
  }
  return c;
}

size_t ZsetValue::memory_usage() const {
  size_t n = sizeof(*this);
  if (lp_.capacity() > 15) n += malloc_chunk(lp_.capacity() + 1);
  if (header_) {
    n += malloc_chunk(sizeof(ZNode) + kMaxLevel * sizeof(ZNode::Level));
    for (const ZNode* x = header_->lv()[0].forward; x; x = x->lv()[0].forward)
      n += malloc_chunk(sizeof(ZNode) + x->level * sizeof(ZNode::Level) + x->len);
    n += index_.table_bytes();
  }
  return n;
}

// ------------------------------------------------------------ listpack

size_t ZsetValue::lp_find(std::string_view member, double* score) const {
  for (size_t off = 0; off < lp_.size();) {
    size_t len = static_cast<unsigned char>(lp_[off + 8]);
    if (std::string_view(lp_.data() + off + 9, len) == member) {
      std::memcpy(score, lp_.data() + off, sizeof(double));
      return off;
    }
    off += lp_entry_len(len);
  }
  return std::string::npos;
}

void ZsetValue::lp_insert(double score, std::string_view member) {
  size_t off = 0;
  while (off < lp_.size()) {
    double s;
    std::memcpy(&s, lp_.data() + off, sizeof s);
    size_t len = static_cast<unsigned char>(lp_[off + 8]);
    if (!less_than(s, std::string_view(lp_.data() + off + 9, len), score, member)) break;
    off += lp_entry_len(len);
  }
  std::string e(lp_entry_len(member.size()), '\0');
  std::memcpy(e.data(), &score, sizeof score);
  e[8] = static_cast<char>(member.size());
  std::memcpy(e.data() + 9, member.data(), member.size());
  e.back() = static_cast<char>(member.size());
  lp_.insert(off, e);
  ++lp_count_;
}

// ------------------------------------------------------------ skiplist

int ZsetValue::random_level() {
  int level = 1;
  // Redis's ZSKIPLIST_P = 0.25.
  while ((rng_() & 0xFFFF) < 0xFFFF / 4 && level < kMaxLevel)
    ++level;
  return level;
}

ZNode* ZsetValue::zsl_insert(double score, std::string_view member) {
  ZNode* update[kMaxLevel];
  uint64_t rank[kMaxLevel];
  ZNode* x = header_;
  for (int i = level_ - 1; i >= 0; --i) {
    rank[i] = i == level_ - 1 ? 0 : rank[i + 1];
    while (ZNode* f = x->lv()[i].forward) {
      if (!less_than(f->score, f->member(), score, member)) break;
      rank[i] += x->lv()[i].span;
      x = f;
    }
    update[i] = x;
  }
  int lvl = random_level();
  if (lvl > level_) {
    for (int i = level_; i < lvl; ++i) {
      rank[i] = 0;
      update[i] = header_;
      update[i]->lv()[i].span = length_;
    }
    level_ = lvl;
  }
  x = node_new(lvl, score, member);
  for (int i = 0; i < lvl; ++i) {
    x->lv()[i].forward = update[i]->lv()[i].forward;
    update[i]->lv()[i].forward = x;
    x->lv()[i].span = update[i]->lv()[i].span - (rank[0] - rank[i]);
    update[i]->lv()[i].span = (rank[0] - rank[i]) + 1;
  }
  for (int i = lvl; i < level_; ++i)
    update[i]->lv()[i].span++;
  x->backward = update[0] == header_ ? nullptr : update[0];
  if (ZNode* f = x->lv()[0].forward)
    f->backward = x;
  else
    tail_ = x;
  ++length_;
  return x;
}

void ZsetValue::zsl_unlink(ZNode* x, ZNode** update) {
  for (int i = 0; i < level_; ++i) {
    if (update[i]->lv()[i].forward == x) {
      update[i]->lv()[i].span += x->lv()[i].span - 1;
      update[i]->lv()[i].forward = x->lv()[i].forward;
    } else {
      update[i]->lv()[i].span -= 1;
    }
  }
  if (ZNode* f = x->lv()[0].forward)
    f->backward = x->backward;
  else
    tail_ = x->backward;
  while (level_ > 1 && !header_->lv()[level_ - 1].forward)
    --level_;
  --length_;
}

bool ZsetValue::zsl_delete(double score, std::string_view member) {
  ZNode* update[kMaxLevel];
  ZNode* x = header_;
  for (int i = level_ - 1; i >= 0; --i) {
    while (ZNode* f = x->lv()[i].forward) {
      if (!less_than(f->score, f->member(), score, member)) break;
      x = f;
    }
    update[i] = x;
  }
  x = x->lv()[0].forward;
  if (!x || x->score != score || x->member() != member) return false;
  index_.remove(member);
  zsl_unlink(x, update);
  std::free(x);
  return true;
}

uint64_t ZsetValue::zsl_rank(double score, std::string_view member) const {
  uint64_t rank = 0;
  const ZNode* x = header_;
  for (int i = level_ - 1; i >= 0; --i) {
    while (const ZNode* f = x->lv()[i].forward) {
      if (!(f->score < score || (f->score == score && f->member() <= member))) break;
      rank += x->lv()[i].span;
      x = f;
    }
    if (x != header_ && x->member() == member) return rank;
  }
  return 0;
}

const ZNode* ZsetValue::zsl_by_rank(uint64_t rank) const {
  uint64_t traversed = 0;
  const ZNode* x = header_;
  for (int i = level_ - 1; i >= 0; --i) {
    while (x->lv()[i].forward && traversed + x->lv()[i].span <= rank) {
      traversed += x->lv()[i].span;
      x = x->lv()[i].forward;
    }
    if (traversed == rank) return x;
  }
  return nullptr;
}

// ------------------------------------------------------------ operations

bool ZsetValue::score(std::string_view member, double* out) const {
  if (enc_ == Enc::kListpack) return lp_find(member, out) != std::string::npos;
  const ZNode* n = index_.find(member);
  if (!n) return false;
  *out = n->score;
  return true;
}

bool ZsetValue::add(double score, std::string_view member, int in_flags, int* out_flags,
                    double* new_score) {
  bool incr = in_flags & kAddIncr, nx = in_flags & kAddNx, xx = in_flags & kAddXx,
       gt = in_flags & kAddGt, lt = in_flags & kAddLt;
  *out_flags = 0;
  if (std::isnan(score)) {
    *out_flags = kOutNan;
    return false;
  }
  double cur;
  bool exists = this->score(member, &cur);
  if (exists) {
    if (nx) {
      *out_flags = kOutNop;
      return true;
    }
    if (incr) {
      score += cur;
      if (std::isnan(score)) {
        *out_flags = kOutNan;
        return false;
      }
    }
    if ((lt && score >= cur) || (gt && score <= cur)) {
      *out_flags = kOutNop;
      return true;
    }
    *new_score = score;
    if (score != cur) {
      if (enc_ == Enc::kListpack) {
        size_t off = lp_find(member, &cur);
        lp_.erase(off, lp_entry_len(member.size()));
        --lp_count_;
        lp_insert(score, member);
      } else {
        ZNode* n = index_.find(member);
        const ZNode* prev = n->backward;
        const ZNode* next = n->lv()[0].forward;
        // Redis's zslUpdateScore fast path: the node keeps its place.
        if ((!prev || less_than(prev->score, prev->member(), score, member)) &&
            (!next || less_than(score, member, next->score, next->member()))) {
          n->score = score;
        } else {
          std::string m(member);  // `member` may point into the node
          zsl_delete(cur, m);
          index_.insert(zsl_insert(score, m));
        }
      }
      *out_flags = kOutUpdated;
    }
    return true;
  }
  if (xx) {
    *out_flags = kOutNop;
    return true;
  }
  if (enc_ == Enc::kListpack) {
    if (lp_count_ + 1 > kZsetMaxListpackEntries || member.size() > kZsetMaxListpackValue)
      convert(Enc::kSkiplist);
    else
      lp_insert(score, member);
  }
  if (enc_ == Enc::kSkiplist) index_.insert(zsl_insert(score, member));
  *out_flags = kOutAdded;
  *new_score = score;
  return true;
}

bool ZsetValue::remove(std::string_view member) {
  double cur;
  if (enc_ == Enc::kListpack) {
    size_t off = lp_find(member, &cur);
    if (off == std::string::npos) return false;
    lp_.erase(off, lp_entry_len(member.size()));
    --lp_count_;
    return true;
  }
  const ZNode* n = index_.find(member);
  if (!n) return false;
  std::string m(member);
  return zsl_delete(n->score, m);
}

bool ZsetValue::rank(std::string_view member, bool reverse, size_t* rank, double* score) const {
  size_t r = 0;
  if (enc_ == Enc::kListpack) {
    bool found = false;
    for (Iter it = at_rank(0); it.valid(); it.next(), ++r) {
      if (it.member() == member) {
        *score = it.score();
        found = true;
        break;
      }
    }
    if (!found) return false;
  } else {
    const ZNode* n = index_.find(member);
    if (!n) return false;
    *score = n->score;
    r = static_cast<size_t>(zsl_rank(n->score, member)) - 1;
  }
  *rank = reverse ? size() - 1 - r : r;
  return true;
}

namespace {
// Ranks [first, last] of the members satisfying monotone predicates
// gte_min / lte_max, the way Redis's zzl/zsl First/LastIn*Range find them.
template <typename GteMin, typename LteMax>
bool listpack_ranks(const ZsetValue& z, GteMin gte_min, LteMax lte_max, size_t* first,
                    size_t* last) {
  bool have_first = false, have_last = false;
  size_t r = 0;
  for (auto it = z.at_rank(0); it.valid(); it.next(), ++r) {
    if (!have_first && gte_min(it.score(), it.member())) {
      *first = r;
      have_first = true;
    }
    if (lte_max(it.score(), it.member())) {
      *last = r;
      have_last = true;
    }
  }
  return have_first && have_last && *first <= *last;
}
}  // namespace

bool ZsetValue::score_range_ranks(const ZScoreRange& rg, size_t* first, size_t* last) const {
  auto gte_min = [&](double s, std::string_view) { return rg.minex ? s > rg.min : s >= rg.min; };
  auto lte_max = [&](double s, std::string_view) { return rg.maxex ? s < rg.max : s <= rg.max; };
  if (enc_ == Enc::kListpack) return listpack_ranks(*this, gte_min, lte_max, first, last);
  uint64_t below = 0, upto = 0;
  const ZNode* x = header_;
  for (int i = level_ - 1; i >= 0; --i)
    while (x->lv()[i].forward && !gte_min(x->lv()[i].forward->score, {})) {
      below += x->lv()[i].span;
      x = x->lv()[i].forward;
    }
  x = header_;
  for (int i = level_ - 1; i >= 0; --i)
    while (x->lv()[i].forward && lte_max(x->lv()[i].forward->score, {})) {
      upto += x->lv()[i].span;
      x = x->lv()[i].forward;
    }
  if (upto <= below) return false;
  *first = below;
  *last = upto - 1;
  return true;
}

namespace {
// Redis's sdscmplex: "-" and "+" compare below/above every string.
int lex_cmp_bounds(const ZLexRange& r) {
  using K = ZLexRange::Kind;
  if (r.min_kind == r.max_kind && r.min_kind != K::kValue) return 0;
  if (r.min_kind == K::kNegInf || r.max_kind == K::kPosInf) return -1;
  if (r.min_kind == K::kPosInf || r.max_kind == K::kNegInf) return 1;
  return r.min.compare(r.max);
}
}  // namespace

bool ZsetValue::lex_range_ranks(const ZLexRange& rg, size_t* first, size_t* last,
                                bool reverse) const {
  // Redis's zslIsInLexRange / zzlIsInLexRange preconditions.
  int c = lex_cmp_bounds(rg);
  if (c > 0 || (c == 0 && (rg.minex || rg.maxex))) return false;
  if (size() == 0) return false;
  if (!lex_gte_min(at_rank(size() - 1).member(), rg)) return false;
  if (!lex_lte_max(at_rank(0).member(), rg)) return false;
  if (enc_ == Enc::kListpack) {
    size_t n = size();
    if (!reverse) {
      size_t r = 0;
      Iter it = at_rank(0);
      while (it.valid() && !lex_gte_min(it.member(), rg)) {
        it.next();
        ++r;
      }
      if (!it.valid() || !lex_lte_max(it.member(), rg)) return false;
      *first = *last = r;
      for (it.next(); it.valid() && lex_lte_max(it.member(), rg); it.next())
        ++*last;
      return true;
    }
    size_t r = n - 1;
    Iter it = at_rank(r);
    while (it.valid() && !lex_lte_max(it.member(), rg)) {
      it.prev();
      --r;
    }
    if (!it.valid() || !lex_gte_min(it.member(), rg)) return false;
    *first = *last = r;
    for (it.prev(); it.valid() && lex_gte_min(it.member(), rg); it.prev())
      --*first;
    return true;
  }
  uint64_t below = 0, upto = 0;
  const ZNode* x = header_;
  for (int i = level_ - 1; i >= 0; --i)
    while (x->lv()[i].forward && !lex_gte_min(x->lv()[i].forward->member(), rg)) {
      below += x->lv()[i].span;
      x = x->lv()[i].forward;
    }
  x = header_;
  for (int i = level_ - 1; i >= 0; --i)
    while (x->lv()[i].forward && lex_lte_max(x->lv()[i].forward->member(), rg)) {
      upto += x->lv()[i].span;
      x = x->lv()[i].forward;
    }
  if (upto <= below) return false;
  *first = below;
  *last = upto - 1;
  return true;
}

size_t ZsetValue::remove_rank_range(size_t first, size_t last) {
  size_t n = last - first + 1;
  if (enc_ == Enc::kListpack) {
    Iter a = at_rank(first);
    size_t start = a.off_, end = start;
    for (size_t i = 0; i < n; ++i)
      end += lp_entry_len(static_cast<unsigned char>(lp_[end + 8]));
    lp_.erase(start, end - start);
    lp_count_ -= n;
    return n;
  }
  const ZNode* x = zsl_by_rank(first + 1);
  for (size_t i = 0; i < n && x; ++i) {
    const ZNode* next = x->lv()[0].forward;
    std::string m(x->member());
    zsl_delete(x->score, m);
    x = next;
  }
  return n;
}

void ZsetValue::convert(Enc enc) {
  if (enc == enc_) return;
  if (enc == Enc::kSkiplist) {
    header_ = node_new(kMaxLevel, 0, {});
    index_.reserve(lp_count_);
    enc_ = Enc::kSkiplist;
    std::string lp = std::move(lp_);
    lp_.clear();
    lp_count_ = 0;
    for (size_t off = 0; off < lp.size();) {
      double s;
      std::memcpy(&s, lp.data() + off, sizeof s);
      size_t len = static_cast<unsigned char>(lp[off + 8]);
      index_.insert(zsl_insert(s, std::string_view(lp.data() + off + 9, len)));
      off += lp_entry_len(len);
    }
    return;
  }
  std::string lp;
  size_t count = 0;
  for (const ZNode* x = header_->lv()[0].forward; x; x = x->lv()[0].forward) {
    std::string e(lp_entry_len(x->len), '\0');
    std::memcpy(e.data(), &x->score, sizeof(double));
    e[8] = static_cast<char>(x->len);
    std::memcpy(e.data() + 9, x->member().data(), x->len);
    e.back() = static_cast<char>(x->len);
    lp += e;
    ++count;
  }
  zsl_clear();
  lp_ = std::move(lp);
  lp_count_ = count;
  enc_ = Enc::kListpack;
}

void ZsetValue::shrink_if_small() {
  if (enc_ != Enc::kSkiplist || length_ > kZsetMaxListpackEntries) return;
  for (const ZNode* x = header_->lv()[0].forward; x; x = x->lv()[0].forward)
    if (x->len > kZsetMaxListpackValue) return;
  convert(Enc::kListpack);
}

// ------------------------------------------------------------ iteration

ZsetValue::Iter ZsetValue::at_rank(size_t r) const {
  Iter it;
  it.z_ = this;
  if (r >= size()) return it;
  it.valid_ = true;
  if (enc_ == Enc::kListpack) {
    size_t off = 0;
    while (r--)
      off += lp_entry_len(static_cast<unsigned char>(lp_[off + 8]));
    it.off_ = off;
  } else {
    it.node_ = zsl_by_rank(r + 1);
  }
  return it;
}

std::string_view ZsetValue::Iter::member() const {
  if (node_) return node_->member();
  size_t len = static_cast<unsigned char>(z_->lp_[off_ + 8]);
  return {z_->lp_.data() + off_ + 9, len};
}

double ZsetValue::Iter::score() const {
  if (node_) return node_->score;
  double s;
  std::memcpy(&s, z_->lp_.data() + off_, sizeof s);
  return s;
}

void ZsetValue::Iter::next() {
  if (node_) {
    node_ = node_->lv()[0].forward;
    valid_ = node_ != nullptr;
    return;
  }
  off_ += lp_entry_len(static_cast<unsigned char>(z_->lp_[off_ + 8]));
  valid_ = off_ < z_->lp_.size();
}

void ZsetValue::Iter::prev() {
  if (node_) {
    node_ = node_->backward;
    valid_ = node_ != nullptr;
    return;
  }
  if (off_ == 0) {
    valid_ = false;
    return;
  }
  off_ -= lp_entry_len(static_cast<unsigned char>(z_->lp_[off_ - 1]));
}

std::string ZsetValue::check_invariants() const {
  if (enc_ == Enc::kListpack) {
    size_t n = 0;
    double ps = 0;
    std::string pm;
    for (Iter it = at_rank(0); it.valid(); it.next(), ++n) {
      if (n && !less_than(ps, pm, it.score(), it.member())) return "listpack out of order";
      ps = it.score();
      pm.assign(it.member());
    }
    return n == lp_count_ ? "" : "listpack count mismatch";
  }
  std::unordered_map<const ZNode*, uint64_t> rank;
  uint64_t r = 0;
  const ZNode* prev = nullptr;
  for (const ZNode* x = header_->lv()[0].forward; x; x = x->lv()[0].forward) {
    rank[x] = ++r;
    if (x->backward != prev) return "bad backward link at rank " + std::to_string(r);
    if (prev && !less_than(prev->score, prev->member(), x->score, x->member()))
      return "out of order at rank " + std::to_string(r);
    if (index_.find(x->member()) != x) return "index misses rank " + std::to_string(r);
    prev = x;
  }
  if (prev != tail_) return "bad tail";
  if (r != length_ || index_.size() != length_) return "length mismatch";
  rank[header_] = 0;
  for (int i = 0; i < level_; ++i)
    for (const ZNode* x = header_; x->lv()[i].forward; x = x->lv()[i].forward)
      if (x->lv()[i].span != rank[x->lv()[i].forward] - rank[x])
        return "bad span at level " + std::to_string(i);
  for (int i = level_; i < kMaxLevel; ++i)
    if (header_->lv()[i].forward) return "link above level_";
  return "";
}

}  // namespace kvraft::storage
