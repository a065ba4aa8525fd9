// storage/file_util.h — the small POSIX file layer under the Raft log, the
// hard-state file and (if they want it) snapshot writers: positioned writes
// that loop over short writes, fdatasync/fsync of files and directories,
// ftruncate, rename, unlink and "write a whole file atomically".
//
// Why a layer at all: every durability bug hides in the error paths (a short
// write on a full disk, an fsync that fails once and is then forgotten), and
// those paths only get tested if a test can make them happen. Every function
// here therefore takes an optional FaultHook that may fail the operation (or
// let only part of a write through) before the real system call runs. In
// production the hook is empty and costs one branch.
//
// Every failure is reported as an IoError naming the operation, the file, the
// offset where it applies, and errno. Nothing here keeps state or locks:
// thread safety is the caller's business.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace kvraft::storage {

// An I/O failure (or, for readers, a corrupt file) with context. `what()` is a
// complete one-line message suitable for a log; the fields are for callers
// and tests that need to act on the parts.
class IoError : public std::runtime_error {
 public:
  static constexpr uint64_t kNoOffset = UINT64_MAX;

  IoError(const std::string& message, std::string path, uint64_t offset = kNoOffset,
          int sys_errno = 0);

  const std::string& path() const { return path_; }
  // Byte offset in `path` the error applies to, or kNoOffset.
  uint64_t offset() const { return offset_; }
  // errno of the failed call, or 0 for a format/corruption error.
  int sys_errno() const { return errno_; }

 private:
  std::string path_;
  uint64_t offset_;
  int errno_;
};

// Whether durable writes are fdatasync'd. kNever exists for benchmarks and
// tests that measure everything but the disk; it gives no crash safety.
enum class FsyncMode { kAlways, kNever };

// "always" / "never" (config spelling). Returns false for anything else.
bool parse_fsync_mode(std::string_view text, FsyncMode* out);
const char* fsync_mode_name(FsyncMode mode);

// The operations a FaultHook can intercept.
enum class IoOp { kOpen, kWrite, kSync, kDirSync, kTruncate, kRename, kUnlink };

const char* io_op_name(IoOp op);

// What a FaultHook decides for one operation.
struct IoFault {
  int error = 0;  // 0: let the operation run normally; else fail it with this errno
  // For kWrite with error != 0: this many bytes of the write (at most) are
  // really written first, to model a write that is cut short by a full disk.
  size_t partial_bytes = 0;
};

// Called before each intercepted operation with the operation, the file (for
// kDirSync the directory) and, for kWrite, the number of bytes about to be
// written. Tests use it to inject ENOSPC/EIO; production passes none.
using FaultHook = std::function<IoFault(IoOp op, const std::string& path, size_t bytes)>;

// Owns a file descriptor; closes it on destruction (errors from close are
// ignored: every durable write is followed by an explicit sync that reports).
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release();
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// open(2) with O_CLOEXEC added. Throws IoError on failure.
Fd open_file(const std::string& path, int flags, mode_t mode, const FaultHook* hook);

// Writes all of `data` at `offset` (pwrite, looping over short writes).
// Throws IoError on failure; some prefix of `data` may then be on disk, and it
// is the caller's job to cut it back (see truncate_file).
void write_at(int fd, const std::string& path, uint64_t offset, std::string_view data,
              const FaultHook* hook);

// fdatasync(2) (`data_only`) or fsync(2) of an open file. Throws IoError.
void sync_file(int fd, const std::string& path, bool data_only, const FaultHook* hook);

// Opens the directory and fsyncs it, making creations, renames and unlinks of
// its entries durable. Throws IoError.
void sync_dir(const std::string& dir, const FaultHook* hook);

// ftruncate(2). Throws IoError.
void truncate_file(int fd, const std::string& path, uint64_t size, const FaultHook* hook);

// rename(2). Throws IoError.
void rename_file(const std::string& from, const std::string& to, const FaultHook* hook);

// unlink(2); a file that is already gone is not an error. Throws IoError.
void remove_file(const std::string& path, const FaultHook* hook);

// Replaces `path` with `data` so that a crash leaves either the old or the
// new contents: writes `path`.tmp, fsyncs it (if `sync`), renames it over
// `path`, then fsyncs the directory (if `sync`). On failure the temp file is
// removed (best effort) and IoError is thrown; `path` is untouched.
void write_file_atomic(const std::string& path, std::string_view data, bool sync,
                       const FaultHook* hook);

// Reads a whole file. Returns false if it does not exist; throws IoError on
// any other failure or if it is larger than `max_size` (so a garbage file
// cannot make us allocate without bound).
bool read_file(const std::string& path, size_t max_size, std::string* out);

// Names (not paths) of the entries of `dir`, excluding "." and "..", in no
// particular order. Throws IoError.
std::vector<std::string> list_dir(const std::string& dir);

// Creates `dir` (one level) if it does not exist. Throws IoError.
void ensure_dir(const std::string& dir);

// Directory part of `path` ("." if none).
std::string dir_of(const std::string& path);

// Little-endian fixed-width encoding used by every on-disk format here.
void put_u32(std::string* out, uint32_t v);
void put_u64(std::string* out, uint64_t v);
uint32_t get_u32(const char* p);
uint64_t get_u64(const char* p);

}  // namespace kvraft::storage
