// tests/sim/main.cc — the kvraft-sim command: runs the Raft simulator over
// a range of seeds and reports violations with the command that replays
// each one (with --trace, every message of the failing run is printed).
//
//   kvraft-sim --nodes 5 --seeds 1000 [--first-seed N] [--steps 2000] [--trace]
//              [--mutation NAME --expect-violation]
//
// --mutation breaks one protocol rule on purpose (commit-prior-term,
// forget-vote, skip-up-to-date, stale-read); with --expect-violation the command
// succeeds only if some seed in the range catches the bug.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/sim/sim.h"

namespace {

void usage() {
  std::fprintf(
      stderr,
      "usage: kvraft-sim [--nodes N] [--seeds N] [--first-seed N] [--steps N] [--trace]\n"
      "                  [--mutation commit-prior-term|forget-vote|skip-up-to-date|stale-read]\n"
      "                  [--expect-violation]\n");
}

bool parse_u64(const char* s, uint64_t* out) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (end == s || *end != '\0') return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t nodes = 3, seeds = 100, first_seed = 1, steps = 2000;
  bool trace = false, expect_violation = false;
  std::string mutation;
  kvraft::raft::TestMutations mutations;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](uint64_t* out) {
      if (i + 1 >= argc || !parse_u64(argv[i + 1], out)) {
        std::fprintf(stderr, "kvraft-sim: %s needs a number\n", a.c_str());
        std::exit(2);
      }
      ++i;
    };
    if (a == "--nodes") {
      value(&nodes);
    } else if (a == "--seeds") {
      value(&seeds);
    } else if (a == "--first-seed") {
      value(&first_seed);
    } else if (a == "--steps") {
      value(&steps);
    } else if (a == "--trace") {
      trace = true;
    } else if (a == "--expect-violation") {
      expect_violation = true;
    } else if (a == "--mutation" && i + 1 < argc) {
      mutation = argv[++i];
      if (mutation == "commit-prior-term") {
        mutations.commit_prior_term_by_counting = true;
      } else if (mutation == "forget-vote") {
        mutations.forget_to_persist_vote = true;
      } else if (mutation == "skip-up-to-date") {
        mutations.skip_log_up_to_date_check = true;
      } else if (mutation == "stale-read") {
        mutations.read_without_quorum_check = true;
      } else {
        std::fprintf(stderr, "kvraft-sim: unknown mutation %s\n", mutation.c_str());
        usage();
        return 2;
      }
    } else {
      usage();
      return 2;
    }
  }
  if (nodes < 1 || nodes > 9 || steps < 1) {
    std::fprintf(stderr, "kvraft-sim: --nodes must be 1..9 and --steps positive\n");
    return 2;
  }
  auto start = std::chrono::steady_clock::now();
  uint64_t violations = 0, ran = 0;
  for (uint64_t s = first_seed; s < first_seed + seeds; ++s) {
    kvraft::sim::SimOptions opt;
    opt.nodes = static_cast<int>(nodes);
    opt.seed = s;
    opt.steps = static_cast<int>(steps);
    opt.trace = trace;
    opt.mutations = mutations;
    kvraft::sim::SimResult r = kvraft::sim::run_simulation(opt);
    ++ran;
    if (!r.ok) {
      ++violations;
      if (violations <= 10) {
        std::printf("VIOLATION seed %llu: %s\n", static_cast<unsigned long long>(s),
                    r.violation.c_str());
        std::printf(
            "  replay: %s --nodes %llu --seeds 1 --first-seed %llu --steps %llu%s%s --trace\n",
            argv[0], static_cast<unsigned long long>(nodes), static_cast<unsigned long long>(s),
            static_cast<unsigned long long>(steps), mutation.empty() ? "" : " --mutation ",
            mutation.c_str());
      }
      if (expect_violation) break;
    }
  }
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("seeds: %llu, steps: %llu, violations: %llu, elapsed: %.1f s\n",
              static_cast<unsigned long long>(ran), static_cast<unsigned long long>(steps),
              static_cast<unsigned long long>(violations), elapsed);
  if (expect_violation) {
    if (violations == 0) {
      std::printf("mutation %s was NOT caught in %llu seeds\n", mutation.c_str(),
                  static_cast<unsigned long long>(ran));
      return 1;
    }
    std::printf("mutation %s caught (expected)\n", mutation.c_str());
    return 0;
  }
  return violations == 0 ? 0 : 1;
}
