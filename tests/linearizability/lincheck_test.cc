// tests/linearizability/lincheck_test.cc — tests of the linearizability
// checker: the search on tiny handwritten histories whose verdicts are
// obvious by hand (concurrency, unknown outcomes, cas, stale reads), the
// explanation text, the parsers' rejection of malformed input, and every
// reference history of ${KVRAFT_SHARED_DIR}/linearizability against
// expected_verdicts.tsv.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tests/linearizability/checker.h"
#include "tests/linearizability/history.h"
#include "tests/linearizability/models.h"

using namespace kvraft::lincheck;

namespace {

// Parses and checks a kvraft-format history given without its header.
CheckResult check_kvraft(const std::string& body, const CheckOptions& options = {}) {
  return check(parse_kvraft_history("kvraft-history 1\n" + body, "test"), options);
}

Verdict verdict_of(const std::string& body) {
  return check_kvraft(body).verdict;
}

std::string explanation_of(const std::string& body) {
  CheckResult r = check_kvraft(body);
  REQUIRE(r.verdict == Verdict::kNotLinearizable);
  REQUIRE(r.violation.has_value());
  return format_violation(*r.violation, 8);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("an empty history is linearizable") {
  CHECK(verdict_of("") == Verdict::kLinearizable);
  CHECK(check(parse_jepsen_etcd("", "empty")).verdict == Verdict::kLinearizable);
}

TEST_CASE("sequential set then get of the written value is linearizable") {
  CHECK(verdict_of("c1 1 2 set \"x\" \"1\" -> ok\n"
                   "c1 3 4 get \"x\" -> \"1\"\n"
                   "c1 5 6 get \"y\" -> nil\n") == Verdict::kLinearizable);
}

TEST_CASE("a read of a missing key must be nil, not the empty string") {
  CHECK(verdict_of("c1 1 2 get \"x\" -> \"\"\n") == Verdict::kNotLinearizable);
  CHECK(verdict_of("c1 1 2 set \"x\" \"\" -> ok\nc1 3 4 get \"x\" -> \"\"\n") ==
        Verdict::kLinearizable);
  // porcupine's kv files record a missing key as "".
  History h = parse_porcupine_kv(
      "{:process 0, :type :invoke, :f :get, :key \"k\", :value nil}\n"
      "{:process 0, :type :ok, :f :get, :key \"k\", :value \"\"}\n",
      "kv");
  CHECK(check(h).verdict == Verdict::kLinearizable);
}

TEST_CASE("a read concurrent with a write may see the old or the new value") {
  for (const char* seen : {"nil", "\"1\""}) {
    CAPTURE(seen);
    CHECK(verdict_of(std::string("c1 10 20 set \"x\" \"1\" -> ok\n"
                                 "c2 12 18 get \"x\" -> ") +
                     seen + "\n") == Verdict::kLinearizable);
  }
}

TEST_CASE("a stale read after a completed write is detected") {
  const std::string body =
      "c1 100 200 set \"x\" \"1\" -> ok\n"
      "c1 300 400 set \"x\" \"2\" -> ok\n"
      "c2 500 600 get \"x\" -> \"1\"\n";
  CHECK(verdict_of(body) == Verdict::kNotLinearizable);
  // Two readers that see concurrent writes in opposite orders.
  CHECK(verdict_of("c1 0 100 set \"x\" \"a\" -> ok\n"
                   "c2 0 100 set \"x\" \"b\" -> ok\n"
                   "c3 110 120 get \"x\" -> \"a\"\n"
                   "c4 130 140 get \"x\" -> \"b\"\n") == Verdict::kNotLinearizable);
  CHECK(verdict_of("c1 0 100 set \"x\" \"a\" -> ok\n"
                   "c2 0 100 set \"x\" \"b\" -> ok\n"
                   "c3 110 120 get \"x\" -> \"b\"\n"
                   "c4 130 140 get \"x\" -> \"b\"\n") == Verdict::kLinearizable);
}

TEST_CASE("touching intervals count as concurrent") {
  // The get is invoked exactly when the set completes: either order works.
  CHECK(verdict_of("c1 0 10 set \"x\" \"1\" -> ok\nc2 10 20 get \"x\" -> nil\n") ==
        Verdict::kLinearizable);
  CHECK(verdict_of("c1 0 10 set \"x\" \"1\" -> ok\nc2 11 20 get \"x\" -> nil\n") ==
        Verdict::kNotLinearizable);
}

TEST_CASE("an operation with unknown outcome may have taken effect") {
  CHECK(verdict_of("c1 0 5 set \"x\" \"1\" -> unknown\n"
                   "c2 10 20 get \"x\" -> \"1\"\n") == Verdict::kLinearizable);
  // ... even long after the client gave up on it (Raft commits it later).
  CHECK(verdict_of("c1 0 unknown set \"x\" \"1\" -> unknown\n"
                   "c2 10 20 get \"x\" -> nil\n"
                   "c2 30 40 get \"x\" -> \"1\"\n") == Verdict::kLinearizable);
  // An error reply is an unknown outcome too.
  CHECK(verdict_of("c1 0 5 set \"x\" \"1\" -> error \"TRYAGAIN\"\n"
                   "c2 10 20 get \"x\" -> \"1\"\n") == Verdict::kLinearizable);
}

TEST_CASE("an operation with unknown outcome may not have taken effect") {
  CHECK(verdict_of("c1 0 5 set \"x\" \"1\" -> unknown\n"
                   "c2 10 20 get \"x\" -> nil\n") == Verdict::kLinearizable);
  CHECK(verdict_of("c1 0 5 cas \"x\" nil \"1\" -> unknown\n"
                   "c2 10 20 get \"x\" -> nil\n") == Verdict::kLinearizable);
}

TEST_CASE("an operation with unknown outcome cannot act before its invocation or twice") {
  CHECK(verdict_of("c2 0 5 get \"x\" -> \"1\"\n"
                   "c1 10 unknown set \"x\" \"1\" -> unknown\n") == Verdict::kNotLinearizable);
  CHECK(verdict_of("c1 0 unknown incr \"n\" 1 -> unknown\n"
                   "c2 10 11 get \"n\" -> \"1\"\n"
                   "c2 20 21 get \"n\" -> \"2\"\n") == Verdict::kNotLinearizable);
  // Two identical unknown increments can explain both reads.
  CHECK(verdict_of("c1 0 unknown incr \"n\" 1 -> unknown\n"
                   "c3 1 unknown incr \"n\" 1 -> unknown\n"
                   "c2 10 11 get \"n\" -> \"1\"\n"
                   "c2 20 21 get \"n\" -> \"2\"\n") == Verdict::kLinearizable);
}

TEST_CASE("an unknown write needed in the middle of the history is found") {
  // Only "w 2" taking effect between the two reads explains them, and only
  // "w 3" after the second.
  CHECK(verdict_of("c1 0 unknown set \"x\" \"3\" -> unknown\n"
                   "c2 0 unknown set \"x\" \"2\" -> unknown\n"
                   "c3 1 2 set \"x\" \"1\" -> ok\n"
                   "c4 10 11 get \"x\" -> \"1\"\n"
                   "c4 20 21 get \"x\" -> \"2\"\n"
                   "c4 30 31 get \"x\" -> \"3\"\n") == Verdict::kLinearizable);
  CHECK(verdict_of("c1 0 unknown set \"x\" \"3\" -> unknown\n"
                   "c2 0 unknown set \"x\" \"2\" -> unknown\n"
                   "c3 1 2 set \"x\" \"1\" -> ok\n"
                   "c4 10 11 get \"x\" -> \"3\"\n"
                   "c4 20 21 get \"x\" -> \"2\"\n"
                   "c4 30 31 get \"x\" -> \"3\"\n") == Verdict::kNotLinearizable);
}

TEST_CASE("compare-and-set succeeds only on the expected value and fails only otherwise") {
  CHECK(verdict_of("c1 0 1 set \"x\" \"1\" -> ok\n"
                   "c1 2 3 cas \"x\" \"1\" \"2\" -> ok\n"
                   "c1 4 5 cas \"x\" \"1\" \"3\" -> fail\n"
                   "c1 6 7 get \"x\" -> \"2\"\n") == Verdict::kLinearizable);
  CHECK(verdict_of("c1 0 1 set \"x\" \"2\" -> ok\n"
                   "c1 2 3 cas \"x\" \"1\" \"3\" -> ok\n") == Verdict::kNotLinearizable);
  CHECK(verdict_of("c1 0 1 set \"x\" \"1\" -> ok\n"
                   "c1 2 3 cas \"x\" \"1\" \"3\" -> fail\n") == Verdict::kNotLinearizable);
  // nil as the expected value: set-if-absent.
  CHECK(verdict_of("c1 0 1 cas \"x\" nil \"a\" -> ok\n"
                   "c2 2 3 cas \"x\" nil \"b\" -> fail\n"
                   "c2 4 5 get \"x\" -> \"a\"\n") == Verdict::kLinearizable);
  // Two concurrent cas from the same value cannot both succeed.
  CHECK(verdict_of("c1 0 1 set \"x\" \"0\" -> ok\n"
                   "c1 10 20 cas \"x\" \"0\" \"1\" -> ok\n"
                   "c2 10 20 cas \"x\" \"0\" \"2\" -> ok\n") == Verdict::kNotLinearizable);
}

TEST_CASE("del, incr and append results are checked against the state") {
  CHECK(verdict_of("c1 0 1 del \"x\" -> 0\n"
                   "c1 2 3 set \"x\" \"v\" -> ok\n"
                   "c1 4 5 del \"x\" -> 1\n"
                   "c1 6 7 get \"x\" -> nil\n") == Verdict::kLinearizable);
  CHECK(verdict_of("c1 0 1 del \"x\" -> 1\n") == Verdict::kNotLinearizable);
  CHECK(verdict_of("c1 0 1 incr \"n\" 5 -> 5\n"
                   "c1 2 3 incr \"n\" -2 -> 3\n"
                   "c1 4 5 get \"n\" -> \"3\"\n") == Verdict::kLinearizable);
  CHECK(verdict_of("c1 0 1 incr \"n\" 5 -> 6\n") == Verdict::kNotLinearizable);
  // INCR of a non-integer fails in Redis: an integer reply is impossible,
  // an unknown outcome changes nothing.
  CHECK(verdict_of("c1 0 1 set \"n\" \"abc\" -> ok\nc1 2 3 incr \"n\" 1 -> 1\n") ==
        Verdict::kNotLinearizable);
  CHECK(verdict_of("c1 0 1 set \"n\" \"abc\" -> ok\n"
                   "c1 2 3 incr \"n\" 1 -> unknown\n"
                   "c1 4 5 get \"n\" -> \"abc\"\n") == Verdict::kLinearizable);
  CHECK(verdict_of("c1 0 1 append \"s\" \"ab\" -> 2\n"
                   "c1 2 3 append \"s\" \"c\" -> 3\n"
                   "c1 4 5 get \"s\" -> \"abc\"\n") == Verdict::kLinearizable);
  CHECK(verdict_of("c1 0 1 append \"s\" \"ab\" -> 3\n") == Verdict::kNotLinearizable);
}

TEST_CASE("keys are checked independently and the violating key is named") {
  const std::string text = explanation_of(
      "c1 0 1 set \"a\" \"1\" -> ok\n"
      "c1 2 3 get \"a\" -> \"1\"\n"
      "c2 0 1 set \"b\" \"1\" -> ok\n"
      "c2 2 3 set \"b\" \"2\" -> ok\n"
      "c3 4 5 get \"b\" -> \"1\"\n");
  CHECK(text.find("key \"b\"") != std::string::npos);
  CHECK(text.find("key \"a\"") == std::string::npos);
}

TEST_CASE("the explanation shows the prefix, the state and the operations that could not follow") {
  const std::string text = explanation_of(
      "c1 100 200 set \"x\" \"1\" -> ok\n"
      "c1 300 400 set \"x\" \"2\" -> ok\n"
      "c3 450 700 set \"x\" \"3\" -> unknown\n"
      "c2 500 600 get \"x\" -> \"1\"\n");
  const std::string expected =
      "  key \"x\": no linearization of its 4 ops; the longest linearizable prefix has 2 ops:\n"
      "    1. client c1 @100..200 set \"1\" -> ok\n"
      "    2. client c1 @300..400 set \"2\" -> ok\n"
      "  state after it: \"2\"\n"
      "  none of these could be linearized next:\n"
      "    client c2 @500..600 get -> \"1\"   <- impossible in this state (returns first)\n"
      "    (and 1 with unknown outcome, in flight then; none of them helps)";
  CHECK(text == expected);
}

TEST_CASE("the explanation shortens long prefixes and long values") {
  std::string body;
  for (int i = 0; i < 20; ++i) {
    body += "c1 " + std::to_string(10 * i) + " " + std::to_string(10 * i + 1) +
            " append \"x\" \"0123456789\" -> " + std::to_string(10 * (i + 1)) + "\n";
  }
  body += "c2 500 501 get \"x\" -> \"short\"\n";
  const std::string text = explanation_of(body);
  CHECK(text.find("has 20 ops (last 8 shown)") != std::string::npos);
  CHECK(text.find("    13. client c1") != std::string::npos);
  CHECK(text.find("    12. client c1") == std::string::npos);
  CHECK(text.find("(200 bytes)") != std::string::npos);
}

TEST_CASE("a search that exceeds its budget reports unknown") {
  // 14 concurrent appends with unknown outcome and a read no order of them
  // produces: refuting it means visiting every ordered subset of them.
  std::string body;
  for (int i = 0; i < 14; ++i) {
    body += "c" + std::to_string(i) + " 0 unknown append \"x\" \"" +
            std::string(1, static_cast<char>('a' + i)) + "\" -> unknown\n";
  }
  body += "c99 200 300 get \"x\" -> \"zz\"\n";
  CheckOptions options;
  options.budget = std::chrono::milliseconds(1);
  const auto start = std::chrono::steady_clock::now();
  CHECK(check_kvraft(body, options).verdict == Verdict::kUnknown);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
  // The same with a memory budget instead: the caches outgrow 1 MiB soon.
  options.budget = std::chrono::seconds(60);
  options.memory_budget_bytes = 1 << 20;
  CHECK(check_kvraft(body, options).verdict == Verdict::kUnknown);
}

namespace {

// The definition, by brute force: some order of the operations that
// respects real time (nothing goes before an operation that returned before
// it was called) and the model, in which every known-outcome operation
// appears (unknown-outcome ones may be left out).
bool brute_force_linearizable(const KvModel& model, const std::vector<Operation<KvModel>>& ops,
                              std::vector<bool>& placed, const KvModel::State& state) {
  bool all_known_placed = true;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (!placed[i] && ops[i].ret != kPendingForever) all_known_placed = false;
  }
  if (all_known_placed) return true;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (placed[i]) continue;
    bool minimal = true;  // no unplaced operation returned before i was called
    for (std::size_t j = 0; j < ops.size() && minimal; ++j) {
      if (!placed[j] && j != i && ops[j].ret < ops[i].call) minimal = false;
    }
    if (!minimal) continue;
    std::optional<KvModel::State> next = model.step(state, ops[i].input, ops[i].output);
    if (!next) continue;
    placed[i] = true;
    const bool ok = brute_force_linearizable(model, ops, placed, *next);
    placed[i] = false;
    if (ok) return true;
  }
  return false;
}

// A random history of a few operations on keys "a" and "b" whose outputs
// come from running them in a random order consistent with their intervals,
// then with some outcomes made unknown (applied or not) and sometimes one
// output corrupted, so both verdicts occur.
std::vector<Operation<KvModel>> random_history(uint64_t& seed, std::size_t n) {
  auto next = [&seed](uint64_t bound) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return (seed >> 33) % bound;
  };
  using Kind = KvModel::Kind;
  std::vector<Operation<KvModel>> ops(n);
  std::vector<std::pair<int64_t, std::size_t>> points;  // linearization point, op
  for (std::size_t i = 0; i < n; ++i) {
    Operation<KvModel>& op = ops[i];
    op.client = std::to_string(i);
    op.call = static_cast<int64_t>(next(20));
    op.ret = op.call + static_cast<int64_t>(next(8));
    op.input.key = next(4) == 0 ? "b" : "a";
    op.input.kind = static_cast<Kind>(next(6));
    const std::string values[] = {"1", "2", "x"};
    op.input.arg = values[next(3)];
    if (op.input.kind == Kind::kCas && next(3) == 0) op.input.arg.reset();
    op.input.arg2 = values[next(3)];
    op.input.delta = static_cast<int64_t>(next(3));
    points.emplace_back(op.call * 2 + static_cast<int64_t>(next(2 * (op.ret - op.call) + 1)), i);
  }
  std::sort(points.begin(), points.end());
  KvModel model;
  std::map<std::string, KvModel::State> store;
  for (auto [point, i] : points) {
    Operation<KvModel>& op = ops[i];
    const bool unknown = next(5) == 0;
    if (unknown && next(2) == 0) {
      op.output.unknown = true;  // never took effect
    } else {
      KvModel::State& s = store[op.input.key];
      // Find the output the model would give: try the candidates.
      KvModel::Output out;
      switch (op.input.kind) {
        case Kind::kGet:
          out.value = s;
          break;
        case Kind::kSet:
          out.ok = true;
          break;
        case Kind::kDel:
          out.number = s ? 1 : 0;
          break;
        case Kind::kAppend:
          out.number = static_cast<int64_t>(s.value_or("").size() + op.input.arg->size());
          break;
        case Kind::kIncr: {
          // Values are non-negative here; Redis rejects leading zeros ("01").
          const bool integer = !s || *s == "0" ||
                               (!s->empty() && (*s)[0] != '0' &&
                                s->find_first_not_of("0123456789") == std::string::npos);
          if (integer) {
            out.number = (s ? std::stoll(*s) : 0) + op.input.delta;
          } else {
            out.unknown = true;  // INCR of a non-integer: an error reply
          }
          break;
        }
        case Kind::kCas:
          out.ok = s == op.input.arg;
          break;
      }
      if (unknown) out = KvModel::Output{true, {}, false, {}};
      std::optional<KvModel::State> after = model.step(s, op.input, out);
      REQUIRE(after.has_value());
      s = *after;
      op.output = out;
    }
    if (op.output.unknown) op.ret = kPendingForever;
  }
  if (next(3) == 0) {  // corrupt one known output
    Operation<KvModel>& op = ops[next(n)];
    if (!op.output.unknown) {
      if (op.input.kind == Kind::kGet) {
        op.output.value = op.output.value ? std::nullopt : std::optional<std::string>("2");
      } else if (op.input.kind == Kind::kCas) {
        op.output.ok = !op.output.ok;
      } else if (op.output.number) {
        *op.output.number += 1;
      }
    }
  }
  return ops;
}

}  // namespace

TEST_CASE("the checker agrees with a brute-force search on random small histories") {
  uint64_t seed = 12345;
  int verdicts[2] = {0, 0};
  for (int round = 0; round < 2000; ++round) {
    const std::size_t n = 3 + round % 7;  // up to 9 operations
    std::vector<Operation<KvModel>> ops = random_history(seed, n);
    KvModel model;
    bool expected = true;
    for (const char* key : {"a", "b"}) {
      std::vector<Operation<KvModel>> part;
      for (const auto& op : ops) {
        if (op.input.key == key) part.push_back(op);
      }
      std::vector<bool> placed(part.size(), false);
      expected = expected && brute_force_linearizable(model, part, placed, model.init());
    }
    CheckResult r = check_history(model, ops, [](const KvModel::Input& in) { return in.key; });
    CAPTURE(round);
    CHECK(r.verdict == (expected ? Verdict::kLinearizable : Verdict::kNotLinearizable));
    ++verdicts[expected ? 1 : 0];
  }
  // Both verdicts must be well represented for the comparison to mean much.
  CHECK(verdicts[0] > 300);
  CHECK(verdicts[1] > 300);
}

TEST_CASE("the register model follows the Jepsen etcd semantics") {
  // An :info write stays pending: it can explain a later read.
  const std::string log =
      "INFO  jepsen.util - 0\t:invoke\t:write\t1\n"
      "INFO  jepsen.util - 0\t:info\t:write\t:timed-out\n"
      "INFO  jepsen.util - 1\t:invoke\t:read\tnil\n"
      "INFO  jepsen.util - 1\t:ok\t:read\tnil\n"
      "INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2]\n"
      "INFO  jepsen.util - 1\t:ok\t:cas\t[1 2]\n"
      "INFO  jepsen.util - 1\t:invoke\t:read\tnil\n"
      "INFO  jepsen.util - 1\t:ok\t:read\t2\n";
  History h = parse_jepsen_etcd(log, "etcd");
  CHECK(h.operations() == 4);
  CHECK(h.unknown_ops == 1);
  CHECK(h.processes == 2);
  CHECK(check(h).verdict == Verdict::kLinearizable);
  // The same with the cas reported failed: then the read of 2 is impossible.
  std::string bad = log;
  bad.replace(bad.find(":ok\t:cas"), 3, ":fail");
  CHECK(check(parse_jepsen_etcd(bad, "etcd")).verdict == Verdict::kNotLinearizable);
}

TEST_CASE("the format is detected from the first line") {
  CHECK(parse_history("# c\n\nkvraft-history 1\n", "a").format == Format::kKvraft);
  CHECK(parse_history("INFO  jepsen.util - 1\t:invoke\t:read\tnil\n", "b").format ==
        Format::kJepsenEtcd);
  CHECK(
      parse_history("{:process 0, :type :invoke, :f :get, :key \"k\", :value nil}\n", "c").format ==
      Format::kPorcupineKv);
  CHECK_THROWS_AS(parse_history("hello\n", "d"), HistoryError);
  CHECK_THROWS_AS(parse_history("", "e"), HistoryError);
}

TEST_CASE("malformed kvraft histories are rejected with the line") {
  auto error_of = [](const std::string& text) -> std::string {
    try {
      parse_kvraft_history(text, "h");
    } catch (const HistoryError& e) {
      return e.what();
    }
    return "";
  };
  CHECK(error_of("kvraft-history 2\n").find("h:1:") == 0);
  CHECK(error_of("kvraft-history 1\nc1 0 1 frob \"x\" -> ok\n").find("h:2: unknown operation") ==
        0);
  CHECK(error_of("kvraft-history 1\nc1 5 1 get \"x\" -> nil\n").find("h:2: completes before") == 0);
  CHECK(error_of("kvraft-history 1\nc1 0 1 get x -> nil\n").find("h:2: expected a quoted key") ==
        0);
  CHECK(error_of("kvraft-history 1\nc1 0 1 get \"x -> nil\n").find("h:2: unterminated") == 0);
  CHECK(error_of("kvraft-history 1\nc1 0 1 get \"\\q\" -> nil\n").find("h:2: bad escape") == 0);
  CHECK(error_of("kvraft-history 1\nc1 0 1 set \"x\" \"1\" -> 5\n").find("h:2: result") == 0);
  CHECK(error_of("kvraft-history 1\nc1 0 1 incr \"x\" 1 -> ok\n").find("h:2: bad integer") == 0);
  CHECK(error_of("kvraft-history 1\nc1 0 unknown get \"x\" -> nil\n").find("h:2: an operation") ==
        0);
  CHECK(error_of("kvraft-history 1\nc1 0 1 get \"x\" -> nil extra\n").find("h:2: unexpected") == 0);
  CHECK(error_of("kvraft-history 1\nc1 0 10 get \"x\" -> nil\nc1 5 20 get \"x\" -> nil\n")
            .find("h:3: client c1 overlaps") == 0);
  CHECK(error_of("kvraft-history 1\nc1 99999999999999999999 1 get \"x\" -> nil\n")
            .find("h:2: bad invoke time") == 0);
  CHECK(error_of("kvraft-history 1\nc1 0 9223372036854775807 get \"x\" -> nil\n")
            .find("h:2: completion time out of range") == 0);
}

TEST_CASE("malformed Jepsen and EDN histories are rejected with the line") {
  CHECK_THROWS_WITH_AS(parse_jepsen_etcd("INFO  jepsen.util - 3\t:ok\t:read\t1\n", "j"),
                       doctest::Contains("j:1: process 3 completes"), HistoryError);
  CHECK_THROWS_WITH_AS(parse_jepsen_etcd("INFO  jepsen.util - 3\t:invoke\t:read\tnil\n"
                                         "INFO  jepsen.util - 3\t:invoke\t:read\tnil\n",
                                         "j"),
                       doctest::Contains("j:2: process 3 invokes"), HistoryError);
  CHECK_THROWS_WITH_AS(parse_jepsen_etcd("INFO  jepsen.util - 3\t:invoke\t:write\t1\n"
                                         "INFO  jepsen.util - 3\t:ok\t:write\t2\n",
                                         "j"),
                       doctest::Contains("j:2:"), HistoryError);
  CHECK_THROWS_WITH_AS(parse_porcupine_kv("{:process 1, :type :invoke, :f :get}\n", "k"),
                       doctest::Contains("k:1: missing :key"), HistoryError);
  CHECK_THROWS_WITH_AS(parse_porcupine_kv("{:process 1, :type :invoke, :f :get, :key \"a\"\n", "k"),
                       doctest::Contains("k:1: unterminated map"), HistoryError);
  CHECK_THROWS_WITH_AS(
      parse_porcupine_kv("{:process 1, :type :ok, :f :get, :key \"a\", :value \"\"}\n", "k"),
      doctest::Contains("k:1: process 1 completes"), HistoryError);
}

TEST_CASE("quoted keys and values round-trip through the kvraft format") {
  const std::string odd("a \"b\"\\c\n\t\x01\xff", 11);
  const std::string text = "kvraft-history 1\nc1 0 1 set " + history_quote(odd) + " " +
                           history_quote(odd) + " -> ok\nc1 2 3 get " + history_quote(odd) +
                           " -> " + history_quote(odd) + "\n";
  History h = parse_kvraft_history(text, "q");
  REQUIRE(h.kv_ops.size() == 2);
  CHECK(h.kv_ops[0].input.key == odd);
  CHECK(h.kv_ops[0].input.arg == odd);
  CHECK(h.kv_ops[1].output.value == odd);
  CHECK(check(h).verdict == Verdict::kLinearizable);
}

TEST_CASE("operations written with to_kvraft_line parse back unchanged") {
  uint64_t seed = 99;
  for (int round = 0; round < 200; ++round) {
    std::vector<Operation<KvModel>> ops = random_history(seed, 6);
    std::string text = std::string(kKvraftHistoryHeader) + "\n";
    for (auto& op : ops) {
      op.input.key += std::string("\x00\"\n", 3);  // keys the format must escape
      if (op.input.kind == KvModel::Kind::kGet || op.input.kind == KvModel::Kind::kDel ||
          op.input.kind == KvModel::Kind::kIncr) {
        op.input.arg.reset();  // not part of these operations
      }
      if (op.input.kind != KvModel::Kind::kCas) op.input.arg2.clear();
      if (op.input.kind != KvModel::Kind::kIncr) op.input.delta = 0;
      if (op.input.kind == KvModel::Kind::kSet) op.output.ok = !op.output.unknown;
      if (op.output.unknown) op.output = KvModel::Output{true, {}, false, {}};
      text += to_kvraft_line(op) + "\n";
    }
    CAPTURE(text);
    History h = parse_kvraft_history(text, "roundtrip");
    REQUIRE(h.kv_ops.size() == ops.size());
    for (std::size_t i = 0; i < ops.size(); ++i) {
      CHECK(h.kv_ops[i].client == ops[i].client);
      CHECK(h.kv_ops[i].call == ops[i].call);
      CHECK(h.kv_ops[i].ret == ops[i].ret);
      CHECK(h.kv_ops[i].input == ops[i].input);
      CHECK(h.kv_ops[i].output == ops[i].output);
    }
  }
  Operation<KvModel> bad;
  bad.client = "two words";
  CHECK_THROWS_AS(to_kvraft_line(bad), std::invalid_argument);
}

TEST_CASE("the example histories next to this file get their documented verdicts") {
  const std::string dir = KVRAFT_SOURCE_DIR "/tests/linearizability/examples/";
  CHECK(check(parse_history(read_text(dir + "readme.history"), "readme")).verdict ==
        Verdict::kLinearizable);
  CHECK(check(parse_history(read_text(dir + "stale_read.history"), "stale")).verdict ==
        Verdict::kNotLinearizable);
}

TEST_CASE("every reference history gets its expected verdict") {
  const std::string dir = KVRAFT_SHARED_DIR "/linearizability/";
  std::istringstream tsv(read_text(dir + "expected_verdicts.tsv"));
  std::string line;
  std::getline(tsv, line);  // header
  int files = 0;
  double slowest_ms = 0;
  std::string slowest;
  while (std::getline(tsv, line)) {
    if (line.empty()) continue;
    std::vector<std::string> f;
    std::istringstream cols(line);
    for (std::string col; std::getline(cols, col, '\t');)
      f.push_back(col);
    REQUIRE(f.size() == 5);
    CAPTURE(f[0]);
    const auto start = std::chrono::steady_clock::now();
    History h = parse_history(read_text(dir + f[0]), f[0]);
    CheckResult r = check(h);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (ms > slowest_ms) {
      slowest_ms = ms;
      slowest = f[0];
    }
    CHECK(h.operations() == std::stoul(f[2]));
    CHECK(h.processes == std::stoul(f[3]));
    CHECK(h.unknown_ops == std::stoul(f[4]));
    const Verdict expected =
        f[1] == "linearizable" ? Verdict::kLinearizable : Verdict::kNotLinearizable;
    CHECK(r.verdict == expected);
    if (r.verdict == Verdict::kNotLinearizable) {
      REQUIRE(r.violation.has_value());
      CHECK(!r.violation->stuck.empty());
    }
    ++files;
  }
  CHECK(files == 66);
  std::printf("lincheck: %d reference histories checked; slowest %s (%.1f ms)\n", files,
              slowest.c_str(), slowest_ms);
}
