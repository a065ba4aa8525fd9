// storage/file_util.cc — see file_util.h.
#include "storage/file_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace kvraft::storage {

namespace {

std::string describe(const std::string& message, const std::string& path, uint64_t offset,
                     int sys_errno) {
  std::string s = message + " (file " + path;
  if (offset != IoError::kNoOffset) s += ", offset " + std::to_string(offset);
  s += ")";
  if (sys_errno != 0) s += ": " + std::string(strerror(sys_errno));
  return s;
}

// Consults the hook; returns the fault to apply (error 0 = none).
IoFault ask(const FaultHook* hook, IoOp op, const std::string& path, size_t bytes) {
  if (hook == nullptr || !*hook) return {};
  return (*hook)(op, path, bytes);
}

[[noreturn]] void fail(const char* what, const std::string& path, uint64_t offset, int err) {
  throw IoError(std::string(what), path, offset, err);
}

}  // namespace

IoError::IoError(const std::string& message, std::string path, uint64_t offset, int sys_errno)
    : std::runtime_error(describe(message, path, offset, sys_errno)),
      path_(std::move(path)),
      offset_(offset),
      errno_(sys_errno) {}

bool parse_fsync_mode(std::string_view text, FsyncMode* out) {
  if (text == "always") {
    *out = FsyncMode::kAlways;
  } else if (text == "never") {
    *out = FsyncMode::kNever;
  } else {
    return false;
  }
  return true;
}

const char* fsync_mode_name(FsyncMode mode) {
  return mode == FsyncMode::kAlways ? "always" : "never";
}

const char* io_op_name(IoOp op) {
  switch (op) {
    case IoOp::kOpen:
      return "open";
    case IoOp::kWrite:
      return "write";
    case IoOp::kSync:
      return "fdatasync";
    case IoOp::kDirSync:
      return "fsync directory";
    case IoOp::kTruncate:
      return "ftruncate";
    case IoOp::kRename:
      return "rename";
    case IoOp::kUnlink:
      return "unlink";
  }
  return "?";
}

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) reset(other.release());
  return *this;
}

int Fd::release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Fd open_file(const std::string& path, int flags, mode_t mode, const FaultHook* hook) {
  if (IoFault f = ask(hook, IoOp::kOpen, path, 0); f.error != 0) {
    fail("open", path, IoError::kNoOffset, f.error);
  }
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) fail("open", path, IoError::kNoOffset, errno);
  return Fd(fd);
}

void write_at(int fd, const std::string& path, uint64_t offset, std::string_view data,
              const FaultHook* hook) {
  IoFault f = ask(hook, IoOp::kWrite, path, data.size());
  if (f.error != 0) {
    // Model a device that accepted only a prefix: write it for real so the
    // caller's clean-up path is exercised against actual bytes on disk.
    size_t prefix = std::min(f.partial_bytes, data.size());
    if (prefix > 0) write_at(fd, path, offset, data.substr(0, prefix), nullptr);
    fail("write", path, offset + prefix, f.error);
  }
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write", path, offset + done, errno);
    }
    if (n == 0) fail("write returned 0", path, offset + done, ENOSPC);
    done += static_cast<size_t>(n);
  }
}

void sync_file(int fd, const std::string& path, bool data_only, const FaultHook* hook) {
  if (IoFault f = ask(hook, IoOp::kSync, path, 0); f.error != 0) {
    fail(data_only ? "fdatasync" : "fsync", path, IoError::kNoOffset, f.error);
  }
  int rc = data_only ? ::fdatasync(fd) : ::fsync(fd);
  if (rc != 0) fail(data_only ? "fdatasync" : "fsync", path, IoError::kNoOffset, errno);
}

void sync_dir(const std::string& dir, const FaultHook* hook) {
  if (IoFault f = ask(hook, IoOp::kDirSync, dir, 0); f.error != 0) {
    fail("fsync directory", dir, IoError::kNoOffset, f.error);
  }
  Fd fd = open_file(dir, O_RDONLY | O_DIRECTORY, 0, nullptr);
  if (::fsync(fd.get()) != 0) fail("fsync directory", dir, IoError::kNoOffset, errno);
}

void truncate_file(int fd, const std::string& path, uint64_t size, const FaultHook* hook) {
  if (IoFault f = ask(hook, IoOp::kTruncate, path, 0); f.error != 0) {
    fail("ftruncate", path, size, f.error);
  }
  int rc;
  do {
    rc = ::ftruncate(fd, static_cast<off_t>(size));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) fail("ftruncate", path, size, errno);
}

void rename_file(const std::string& from, const std::string& to, const FaultHook* hook) {
  if (IoFault f = ask(hook, IoOp::kRename, from, 0); f.error != 0) {
    fail(("rename to " + to).c_str(), from, IoError::kNoOffset, f.error);
  }
  if (::rename(from.c_str(), to.c_str()) != 0) {
    fail(("rename to " + to).c_str(), from, IoError::kNoOffset, errno);
  }
}

void remove_file(const std::string& path, const FaultHook* hook) {
  if (IoFault f = ask(hook, IoOp::kUnlink, path, 0); f.error != 0) {
    fail("unlink", path, IoError::kNoOffset, f.error);
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    fail("unlink", path, IoError::kNoOffset, errno);
  }
}

void write_file_atomic(const std::string& path, std::string_view data, bool sync,
                       const FaultHook* hook) {
  const std::string tmp = path + ".tmp";
  try {
    Fd fd = open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644, hook);
    write_at(fd.get(), tmp, 0, data, hook);
    if (sync) sync_file(fd.get(), tmp, /*data_only=*/false, hook);
    fd.reset();
    rename_file(tmp, path, hook);
  } catch (const IoError&) {
    ::unlink(tmp.c_str());  // best effort; the original file is untouched
    throw;
  }
  // After the rename the new contents are visible; a failed directory sync
  // only means the rename may not survive a crash, which the caller must hear.
  if (sync) sync_dir(dir_of(path), hook);
}

bool read_file(const std::string& path, size_t max_size, std::string* out) {
  int raw;
  do {
    raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (raw < 0 && errno == EINTR);
  if (raw < 0) {
    if (errno == ENOENT) return false;
    fail("open", path, IoError::kNoOffset, errno);
  }
  Fd fd(raw);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) fail("fstat", path, IoError::kNoOffset, errno);
  if (st.st_size < 0 || static_cast<uint64_t>(st.st_size) > max_size) {
    throw IoError("file is larger than the " + std::to_string(max_size) + "-byte limit", path,
                  static_cast<uint64_t>(st.st_size));
  }
  out->assign(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < out->size()) {
    ssize_t n = ::pread(fd.get(), out->data() + done, out->size() - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("read", path, done, errno);
    }
    if (n == 0) break;  // shrank under us; report what is there
    done += static_cast<size_t>(n);
  }
  out->resize(done);
  return true;
}

std::vector<std::string> list_dir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) fail("opendir", dir, IoError::kNoOffset, errno);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) fail("readdir", dir, IoError::kNoOffset, err);
  return names;
}

void ensure_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    fail("mkdir", dir, IoError::kNoOffset, errno);
  }
}

std::string dir_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

void put_u32(std::string* out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i)
    b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 4);
}

void put_u64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i)
    b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 8);
}

uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i)
    v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

}  // namespace kvraft::storage
