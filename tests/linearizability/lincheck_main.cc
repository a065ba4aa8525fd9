// tests/linearizability/lincheck_main.cc — the kvraft-lincheck program.
//
//   kvraft-lincheck [-q] [--timeout SECONDS] FILE...
//
// Checks each history file (any format history.h reads) and prints one line
// per file:
//   FILE: linearizable (N ops, T ms)
//   FILE: NOT linearizable (N ops, T ms)     followed by an indented explanation
//   FILE: unknown (N ops, T ms): search gave up after the time budget
//   FILE: error: <reason>
// Exit status: 0 if every file is linearizable, 1 if any is not, 2 if none
// is not but some could not be read or decided (or on bad usage).
// With more than one file, the slowest is named on stderr.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/linearizability/history.h"

namespace {

using namespace kvraft::lincheck;

constexpr std::size_t kMaxFileBytes = 1ull << 30;  // histories are text; refuse absurd inputs

int usage() {
  std::cerr << "usage: kvraft-lincheck [-q] [--timeout SECONDS] FILE...\n"
               "  -q             print only the verdict lines, no explanations\n"
               "  --timeout S    give up on a file after S seconds (default 60)\n";
  return 2;
}

bool read_whole_file(const std::string& path, std::string* out, std::string* why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *why = "cannot open";
    return false;
  }
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0 || static_cast<unsigned long long>(size) > kMaxFileBytes) {
    *why = "cannot read (or larger than 1 GiB)";
    return false;
  }
  in.seekg(0);
  out->resize(static_cast<std::size_t>(size));
  if (!in.read(out->data(), size)) {
    *why = "read error";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  bool quiet = false;
  CheckOptions options;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-q" || arg == "--quiet") {
      quiet = true;
    } else if (arg == "--timeout" && i + 1 < argc) {
      char* end = nullptr;
      const double seconds = std::strtod(argv[++i], &end);
      if (*end != '\0' || !(seconds > 0) || seconds > 1e6) return usage();
      options.budget = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    } else if (arg == "-h" || arg == "--help") {
      usage();
      return 0;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return usage();
    } else {
      files.push_back(arg);
    }
  }
  if (files.empty()) return usage();

  bool any_violation = false, any_undecided = false;
  double slowest_ms = -1;
  std::string slowest_file;
  for (const std::string& file : files) {
    std::string text, why;
    if (!read_whole_file(file, &text, &why)) {
      std::cout << file << ": error: " << why << "\n";
      any_undecided = true;
      continue;
    }
    const auto start = std::chrono::steady_clock::now();
    CheckResult result;
    try {
      result = check(parse_history(text, file), options);
    } catch (const HistoryError& e) {
      // what() is "FILE:LINE: reason" or "FILE: reason"; the line starts with FILE already.
      std::string why_text = e.what();
      if (why_text.rfind(file + ":", 0) == 0) {
        why_text.erase(0, file.size() + 1);
        const std::size_t colon = why_text.find(':');
        if (colon != std::string::npos && colon > 0 &&
            why_text.find_first_not_of("0123456789") == colon) {
          why_text = "line " + why_text;
        } else if (!why_text.empty() && why_text[0] == ' ') {
          why_text.erase(0, 1);
        }
      }
      std::cout << file << ": error: " << why_text << "\n";
      any_undecided = true;
      continue;
    }
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (ms > slowest_ms) {
      slowest_ms = ms;
      slowest_file = file;
    }
    char stats[64];
    std::snprintf(stats, sizeof stats, " (%zu ops, %.1f ms)", result.operations, ms);
    switch (result.verdict) {
      case Verdict::kLinearizable:
        std::cout << file << ": linearizable" << stats << "\n";
        break;
      case Verdict::kNotLinearizable:
        any_violation = true;
        std::cout << file << ": NOT linearizable" << stats << "\n";
        if (!quiet && result.violation) {
          std::cout << format_violation(*result.violation, options.prefix_lines) << "\n";
        }
        break;
      case Verdict::kUnknown:
        any_undecided = true;
        std::cout << file << ": unknown" << stats << ": the search gave up after the time budget\n";
        break;
    }
    std::cout.flush();
  }
  if (files.size() > 1 && slowest_ms >= 0) {
    char line[64];
    std::snprintf(line, sizeof line, "%.1f ms", slowest_ms);
    std::cerr << "slowest: " << slowest_file << " (" << line << ")\n";
  }
  if (any_violation) return 1;
  return any_undecided ? 2 : 0;
}
