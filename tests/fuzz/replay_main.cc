// tests/fuzz/replay_main.cc — runs a fuzz target over every file of its
// corpus directory (and over a few generated inputs), so make test replays
// what the fuzzers found without needing libFuzzer. Exits non-zero if the
// directory is missing or empty; a crash in the target fails the test.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  size_t files = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(argv[1], ec)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
    ++files;
  }
  if (ec || files == 0) {
    std::fprintf(stderr, "no corpus files under %s\n", argv[1]);
    return 1;
  }
  // Every prefix of nothing and a few degenerate inputs.
  const uint8_t zeros[64] = {};
  LLVMFuzzerTestOneInput(zeros, 0);
  LLVMFuzzerTestOneInput(zeros, sizeof zeros);
  std::printf("%zu passed, 0 failed\n", files);
  return 0;
}
