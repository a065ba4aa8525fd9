// storage/hard_state.cc — see hard_state.h.
#include "storage/hard_state.h"

#include <xxhash.h>

#include <cstring>

namespace kvraft::storage {

namespace {

constexpr char kMagic[8] = {'K', 'V', 'R', 'F', 'T', 'H', 'S', '\0'};
constexpr uint32_t kVersion = 1;
constexpr size_t kPrefixSize = 16;  // magic + version + body length
constexpr size_t kChecksumSize = 8;

void put_ids(std::string* out, const std::vector<raft::NodeId>& ids) {
  put_u32(out, static_cast<uint32_t>(ids.size()));
  for (raft::NodeId id : ids)
    put_u64(out, id);
}

// Reads a counted id list from body[*pos, end); `base` converts body
// positions to file offsets for error messages.
std::vector<raft::NodeId> get_ids(std::string_view body, size_t* pos, const std::string& path,
                                  const char* what) {
  const uint64_t base = kPrefixSize;
  if (body.size() - *pos < 4) {
    throw IoError(std::string("hard state truncated before ") + what + " count", path, base + *pos);
  }
  uint32_t n = get_u32(body.data() + *pos);
  // Bound the count by the bytes that are really there before allocating.
  if (n > (body.size() - *pos - 4) / 8) {
    throw IoError(std::string("hard state ") + what + " count " + std::to_string(n) +
                      " does not fit in the file",
                  path, base + *pos);
  }
  *pos += 4;
  std::vector<raft::NodeId> ids(n);
  for (uint32_t i = 0; i < n; ++i, *pos += 8)
    ids[i] = get_u64(body.data() + *pos);
  return ids;
}

}  // namespace

std::string encode_persistent_state(const PersistentState& state) {
  std::string body;
  put_u64(&body, state.hard.term);
  put_u64(&body, state.hard.vote);
  put_u64(&body, state.hard.commit);
  put_ids(&body, state.conf.voters);
  put_ids(&body, state.conf.learners);

  std::string out(kMagic, sizeof kMagic);
  put_u32(&out, kVersion);
  put_u32(&out, static_cast<uint32_t>(body.size()));
  out += body;
  put_u64(&out, XXH3_64bits(out.data(), out.size()));
  return out;
}

PersistentState decode_persistent_state(std::string_view bytes, const std::string& path) {
  if (bytes.size() < kPrefixSize + kChecksumSize) {
    throw IoError("hard state file too short (" + std::to_string(bytes.size()) + " bytes)", path,
                  0);
  }
  if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    throw IoError("hard state file has a bad magic number", path, 0);
  }
  uint32_t version = get_u32(bytes.data() + 8);
  if (version != kVersion) {
    throw IoError("hard state file has unsupported format version " + std::to_string(version), path,
                  8);
  }
  uint32_t body_len = get_u32(bytes.data() + 12);
  if (body_len != bytes.size() - kPrefixSize - kChecksumSize) {
    throw IoError("hard state body length " + std::to_string(body_len) + " does not match the " +
                      std::to_string(bytes.size()) + "-byte file",
                  path, 12);
  }
  const size_t sum_at = kPrefixSize + body_len;
  uint64_t stored = get_u64(bytes.data() + sum_at);
  uint64_t actual = XXH3_64bits(bytes.data(), sum_at);
  if (stored != actual) {
    throw IoError("hard state checksum mismatch (file is corrupt)", path, sum_at);
  }

  // The checksum matched, so what follows is what we wrote; the bounds checks
  // below still guard against a file written by a buggy or foreign writer.
  std::string_view body = bytes.substr(kPrefixSize, body_len);
  if (body.size() < 24) throw IoError("hard state body too short", path, kPrefixSize);
  PersistentState st;
  st.hard.term = get_u64(body.data());
  st.hard.vote = get_u64(body.data() + 8);
  st.hard.commit = get_u64(body.data() + 16);
  size_t pos = 24;
  st.conf.voters = get_ids(body, &pos, path, "voter");
  st.conf.learners = get_ids(body, &pos, path, "learner");
  if (pos != body.size()) {
    throw IoError("hard state has trailing bytes in its body", path, kPrefixSize + pos);
  }
  return st;
}

bool hard_state_save_required(const PersistentState& prev, const PersistentState& next) {
  return prev.hard.term != next.hard.term || prev.hard.vote != next.hard.vote ||
         prev.conf != next.conf;
}

HardStateFile::HardStateFile(std::string dir, HardStateOptions options)
    : dir_(std::move(dir)), path_(dir_ + "/" + kFileName), options_(std::move(options)) {}

std::optional<PersistentState> HardStateFile::load() const {
  std::string bytes;
  if (!read_file(path_, kMaxFileSize, &bytes)) return std::nullopt;
  return decode_persistent_state(bytes, path_);
}

void HardStateFile::save(const PersistentState& state) {
  if (failed())
    throw IoError("hard state file is failed after an earlier error: " + failure_, path_);
  const FaultHook* hook = options_.fault_hook ? &options_.fault_hook : nullptr;
  try {
    write_file_atomic(path_, encode_persistent_state(state),
                      options_.fsync_mode == FsyncMode::kAlways, hook);
  } catch (const IoError& e) {
    failure_ = e.what();
    throw;
  }
}

}  // namespace kvraft::storage
