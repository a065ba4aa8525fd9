// src/snapshot.cc — RDB snapshots of the keyspace: the writer shared by SAVE
// and the fork()ed child, the parent's side of the child (pipe, poll, reap),
// and the loader (see snapshot.h).
#include "src/snapshot.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "src/cow_unshare.h"
#include "src/log.h"
#include "src/membership.h"
#include "storage/hash_value.h"
#include "storage/list_value.h"
#include "storage/set_value.h"
#include "storage/value.h"
#include "storage/zset_value.h"

namespace kvraft {
namespace {

int64_t steady_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Exit code of a child stopped by SnapshotOptions::crash_after_keys; any
// non-zero code would do, this one is recognisable in logs.
constexpr int kCrashExitCode = 70;
// Exit code of a child whose snapshot failed (the report says why).
constexpr int kFailedExitCode = 1;

// The temp file write_rdb_file_atomically writes in process `pid` (its
// documented naming), so the parent can remove what a dead child left.
std::string temp_path_for(const std::string& final_path, pid_t pid) {
  return final_path + ".tmp." + std::to_string(pid);
}

// Writes one key. The only place that knows how each value type is saved:
// a new type is one more case here (and one RdbWriter method).
// Collections are passed as generators over the live value (no copy: this
// runs in the fork()ed child, where every heap page touched is copied).
void save_entry(storage::RdbWriter& w, const storage::Entry* e, const std::string& file) {
  int64_t expire = e->expire_at_ms();
  if (expire == storage::kNoExpire) expire = storage::kNoExpiry;
  using W = storage::RdbWriter;
  switch (e->type()) {
    case storage::ValueType::kString: {
      char buf[storage::kLongStrSize];
      w.write_string(e->key(), storage::entry_string(e, buf), expire);
      return;
    }
    case storage::ValueType::kList: {
      const auto* l = static_cast<const storage::ListValue*>(e->object_value());
      w.write_list(
          e->key(), l->size(), [&](const W::ElementFn& fn) { l->for_range(0, l->size(), fn); },
          expire);
      return;
    }
    case storage::ValueType::kSet: {
      const auto* s = static_cast<const storage::SetValue*>(e->object_value());
      w.write_set(
          e->key(), s->size(), [&](const W::ElementFn& fn) { s->for_each(fn); }, expire);
      return;
    }
    case storage::ValueType::kHash: {
      const auto* h = static_cast<const storage::HashValue*>(e->object_value());
      w.write_hash(
          e->key(), h->size(), [&](const W::PairFn& fn) { h->for_each(fn); }, expire);
      return;
    }
    case storage::ValueType::kZset: {
      const auto* z = static_cast<const storage::ZsetValue*>(e->object_value());
      w.write_zset(
          e->key(), z->size(), [&](const W::ScoredFn& fn) { z->for_each(fn); }, expire);
      return;
    }
    default:
      break;
  }
  throw storage::RdbError(
      file, w.bytes_written(), std::string(e->key()),
      "cannot save a value of type '" + std::string(storage::type_name(e->type())) + "' yet");
}

// The writing itself, shared by write_snapshot_sync and the child.
// `in_child` enables the crash test hook (which would kill the caller).
SnapshotResult write_snapshot_impl(const storage::Keyspace& keyspace,
                                   const storage::RdbSnapshotInfo& info,
                                   const std::string& final_path, const SnapshotOptions& options,
                                   bool in_child) {
  SnapshotResult r;
  r.path = final_path;
  int64_t t0 = steady_us();
  std::string temp = temp_path_for(final_path, ::getpid());
  try {
    r.bytes = storage::write_rdb_file_atomically(final_path, info, [&](storage::RdbWriter& w) {
      w.set_incremental_sync(options.incremental_fsync_bytes);
      if (options.delay_ms > 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(options.delay_ms));
      int current_db = -1;
      keyspace.for_each([&](int db, const storage::Entry* e) {
        if (options.now_ms != kKeepExpiredKeys &&
            storage::Keyspace::is_expired(e, options.now_ms)) {
          ++r.expired_skipped;
          return;
        }
        // Select lazily so a db holding only expired keys is not written,
        // as Redis writes nothing for an empty db. The hints count expired
        // keys too (as Redis's do); loaders only use them to reserve.
        if (db != current_db) {
          w.select_db(static_cast<uint64_t>(db), keyspace.size(db), keyspace.expires(db));
          current_db = db;
        }
        save_entry(w, e, temp);
        ++r.keys;
        if (options.fail_after_keys != 0 && r.keys == options.fail_after_keys)
          throw storage::RdbError(temp, w.bytes_written(), "",
                                  "injected failure after " + std::to_string(r.keys) + " keys");
        if (in_child && options.crash_after_keys != 0 && r.keys == options.crash_after_keys)
          ::_exit(kCrashExitCode);
      });
      r.incremental_fsyncs = w.incremental_syncs();  // finish() may add one: not counted
    });
    r.ok = true;
  } catch (const std::exception& e) {
    r.ok = false;
    r.error = e.what();
    r.bytes = 0;
  }
  r.write_us = steady_us() - t0;
  r.duration_us = r.write_us;
  return r;
}

// What the child sends the parent through the pipe: fixed size, written once
// just before _exit, so the child needs no allocation to report.
struct ChildReport {
  uint64_t ok;
  uint64_t bytes;
  uint64_t keys;
  uint64_t expired_skipped;
  int64_t write_us;
  uint64_t incremental_fsyncs;
  char error[400];  // NUL-terminated, possibly truncated
};

// Runs in the child after fork(): no libuv, no logging, always _exit.
[[noreturn]] void child_main(pid_t parent, int report_fd, const storage::Keyspace& keyspace,
                             const storage::RdbSnapshotInfo& info, const std::string& final_path,
                             const SnapshotOptions& options) {
  // The parent's libuv signal handlers would forward a signal sent to the
  // child into the parent's loop (they write to a pipe shared with it), so
  // the child takes the default actions: SIGTERM/SIGINT end it like abort().
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD, SIGWINCH})
    ::signal(sig, SIG_DFL);
  // The child must not outlive the server: an orphan still holding the
  // listening sockets (inherited fds) would accept the clients of a server
  // restarted after kill -9 and then drop them. So it dies with its parent,
  // and, as Redis's fork child does, closes every inherited descriptor but
  // its report pipe (it opens its own output file).
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(kFailedExitCode);  // the parent died before prctl
  if (report_fd > 3) ::close_range(3, static_cast<unsigned>(report_fd) - 1, 0);
  ::close_range(static_cast<unsigned>(report_fd) + 1, ~0U, 0);
  int code = kFailedExitCode;
  ChildReport rep;
  std::memset(&rep, 0, sizeof rep);
  try {
    SnapshotResult r = write_snapshot_impl(keyspace, info, final_path, options, true);
    rep.ok = r.ok ? 1 : 0;
    rep.bytes = r.bytes;
    rep.keys = r.keys;
    rep.expired_skipped = r.expired_skipped;
    rep.write_us = r.write_us;
    rep.incremental_fsyncs = r.incremental_fsyncs;
    std::snprintf(rep.error, sizeof rep.error, "%s", r.error.c_str());
    if (r.ok) code = 0;
  } catch (...) {
    // Only std::bad_alloc while building the result could get here.
    std::snprintf(rep.error, sizeof rep.error, "snapshot child: out of memory");
  }
  const char* p = reinterpret_cast<const char*>(&rep);
  size_t left = sizeof rep;
  while (left > 0) {
    ssize_t n = ::write(report_fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the parent is gone or gave up: nothing to tell
    p += n;
    left -= static_cast<size_t>(n);
  }
  ::_exit(code);
}

}  // namespace

SnapshotResult write_snapshot_sync(const storage::Keyspace& keyspace,
                                   const storage::RdbSnapshotInfo& info,
                                   const std::string& final_path, const SnapshotOptions& options) {
  return write_snapshot_impl(keyspace, info, final_path, options, false);
}

// ------------------------------------------------------------ background

// One forked child and the handles watching it. Owned by the BackgroundSnapshot
// while running (job_), then by the close callbacks of its two handles.
struct BackgroundSnapshot::Job {
  BackgroundSnapshot* owner = nullptr;
  pid_t pid = 0;
  int fd = -1;  // read end of the report pipe; -1 once EOF was seen and it was closed
  uv_poll_t poll;
  uv_timer_t reap_timer;
  int open_handles = 0;  // handles not yet closed; the job is deleted at 0
  Callback done;
  std::string final_path;
  int64_t start_us = 0;
  int64_t fork_us = 0;
  ChildReport report;
  size_t report_len = 0;  // bytes of `report` received; invariant <= sizeof report
};

BackgroundSnapshot::BackgroundSnapshot(uv_loop_t* loop) : loop_(loop) {}

BackgroundSnapshot::~BackgroundSnapshot() {
  abort();
}

pid_t BackgroundSnapshot::child_pid() const {
  return job_ ? job_->pid : 0;
}

bool BackgroundSnapshot::start(const storage::Keyspace& keyspace,
                               const storage::RdbSnapshotInfo& info, std::string final_path,
                               Callback done, std::string* error, const SnapshotOptions& options) {
  if (job_ != nullptr) {
    *error = "a background snapshot is already in progress (child pid " +
             std::to_string(job_->pid) + ")";
    return false;
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    *error = std::string("cannot create the snapshot report pipe: ") + std::strerror(errno);
    return false;
  }
  auto job = std::make_unique<Job>();
  job->owner = this;
  job->done = std::move(done);
  job->final_path = std::move(final_path);
  std::memset(&job->report, 0, sizeof job->report);

  job->start_us = steady_us();
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  job->fork_us = steady_us() - job->start_us;
  if (pid == 0) {
    ::close(fds[0]);
    child_main(parent, fds[1], keyspace, info, job->final_path, options);
  }
  ::close(fds[1]);
  if (pid < 0) {
    *error = std::string("fork failed: ") + std::strerror(errno);
    ::close(fds[0]);
    return false;
  }
  job->pid = pid;
  job->fd = fds[0];
  int flags = ::fcntl(job->fd, F_GETFL);
  int rc = flags < 0 ? -errno : (::fcntl(job->fd, F_SETFL, flags | O_NONBLOCK) < 0 ? -errno : 0);
  if (rc == 0) rc = uv_poll_init(loop_, &job->poll, job->fd);
  if (rc != 0) {
    // Without a way to hear from the child there is no snapshot: stop it.
    *error = std::string("cannot watch the snapshot child: ") + uv_strerror(rc);
    ::kill(pid, SIGKILL);
    int st;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    ::close(job->fd);
    ::unlink(temp_path_for(job->final_path, pid).c_str());
    return false;
  }
  uv_timer_init(loop_, &job->reap_timer);
  job->open_handles = 2;
  job->poll.data = job.get();
  job->reap_timer.data = job.get();
  uv_poll_start(&job->poll, UV_READABLE | UV_DISCONNECT, on_readable);
  // The moment the child exits, a helper thread makes the pages fork()
  // write-protected writable again in bulk, so the loop does not take one
  // page fault per page it writes afterwards (src/cow_unshare.h). Only an
  // optimisation: without the thread the faults just happen as before.
  unshare_after_exit_async(pid);
  job_ = job.release();
  KV_LOG_NOTICE("Background saving started by pid %d (fork took %lld us)", static_cast<int>(pid),
                static_cast<long long>(job_->fork_us));
  return true;
}

void BackgroundSnapshot::on_readable(uv_poll_t* handle, int status, int /*events*/) {
  Job* job = static_cast<Job*>(handle->data);
  if (status < 0) {
    // The fd is unusable; the child's exit status still tells the outcome.
    job->owner->finish_read(job);
    return;
  }
  char buf[512];
  for (;;) {
    ssize_t n = ::read(job->fd, buf, sizeof buf);
    if (n > 0) {
      size_t take = std::min(static_cast<size_t>(n), sizeof job->report - job->report_len);
      std::memcpy(reinterpret_cast<char*>(&job->report) + job->report_len, buf, take);
      job->report_len += take;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    break;  // EOF (the child exited) or a read error
  }
  job->owner->finish_read(job);
}

void BackgroundSnapshot::finish_read(Job* job) {
  uv_poll_stop(&job->poll);
  ::close(job->fd);
  job->fd = -1;
  try_reap(job);
}

void BackgroundSnapshot::on_reap_timer(uv_timer_t* timer) {
  Job* job = static_cast<Job*>(timer->data);
  job->owner->try_reap(job);
}

void BackgroundSnapshot::try_reap(Job* job) {
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(job->pid, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) {
    // The pipe closes while the child is exiting, just before it becomes
    // reapable: check again shortly rather than block the loop.
    if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&job->reap_timer)))
      uv_timer_start(&job->reap_timer, on_reap_timer, 1, 1);
    return;
  }
  uv_timer_stop(&job->reap_timer);
  // r < 0 (ECHILD): something else reaped it (a waitpid(-1) elsewhere); the
  // report alone then decides.
  complete(job, r < 0 ? -1 : status);
}

void BackgroundSnapshot::complete(Job* job, int wait_status) {
  SnapshotResult r;
  r.path = job->final_path;
  r.child_pid = job->pid;
  r.fork_us = job->fork_us;
  r.duration_us = steady_us() - job->start_us;
  bool have_report = job->report_len == sizeof job->report;
  if (have_report) {
    job->report.error[sizeof job->report.error - 1] = '\0';
    r.bytes = job->report.bytes;
    r.keys = job->report.keys;
    r.expired_skipped = job->report.expired_skipped;
    r.write_us = job->report.write_us;
    r.incremental_fsyncs = job->report.incremental_fsyncs;
    r.error = job->report.error;
  }
  bool exited_zero = wait_status == -1 || (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0);
  if (wait_status != -1 && WIFSIGNALED(wait_status)) {
    r.exit_status = -1;
    r.term_signal = WTERMSIG(wait_status);
  } else if (wait_status != -1) {
    r.exit_status = WEXITSTATUS(wait_status);
  }
  r.ok = have_report && job->report.ok == 1 && exited_zero;
  if (!r.ok) {
    if (r.error.empty()) {
      r.error = "snapshot child " + std::to_string(job->pid);
      if (r.term_signal != 0)
        r.error += " killed by signal " + std::to_string(r.term_signal);
      else if (wait_status == -1)
        r.error += " was reaped elsewhere without a complete report";
      else
        r.error += " exited with status " + std::to_string(r.exit_status) + " without a report";
    }
    r.bytes = 0;
    // A child that died mid-write leaves its temp file; one that failed
    // cleanly already removed it. Either way nothing of it may remain.
    ::unlink(temp_path_for(job->final_path, job->pid).c_str());
    KV_LOG_WARNING("Background saving error: %s", r.error.c_str());
  } else {
    KV_LOG_NOTICE("Background saving terminated with success (%llu keys, %llu bytes, %lld ms)",
                  static_cast<unsigned long long>(r.keys), static_cast<unsigned long long>(r.bytes),
                  static_cast<long long>(r.duration_us / 1000));
  }
  Callback done = std::move(job->done);
  job_ = nullptr;
  release(job);
  // Last: `done` may start the next snapshot or destroy this object.
  if (done) done(r);
}

bool BackgroundSnapshot::abort() {
  Job* job = job_;
  if (job == nullptr) return false;
  ::kill(job->pid, SIGKILL);
  int status;
  while (::waitpid(job->pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (job->fd >= 0) {
    uv_poll_stop(&job->poll);
    ::close(job->fd);
    job->fd = -1;
  }
  uv_timer_stop(&job->reap_timer);
  ::unlink(temp_path_for(job->final_path, job->pid).c_str());
  KV_LOG_NOTICE("Background saving child %d killed", static_cast<int>(job->pid));
  job_ = nullptr;
  release(job);
  return true;
}

void BackgroundSnapshot::release(Job* job) {
  job->owner = nullptr;
  auto on_close = [](uv_handle_t* h) {
    Job* j = static_cast<Job*>(h->data);
    if (--j->open_handles == 0) delete j;
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&job->poll), on_close);
  uv_close(reinterpret_cast<uv_handle_t*>(&job->reap_timer), on_close);
}

// ------------------------------------------------------------ loading

namespace {

// Fills a fresh keyspace from an RdbReader. One on_<type> method per value
// type, each building the entry and handing it to link(). A collection is
// built element by element into pending_ (so it exists once, never also as
// a vector) and linked at on_collection_end; the value classes pick their
// encodings as the commands would (listpack while small, converting up).
// A repeated member or field is a corrupt file, as with Redis's deep
// sanitization, and is refused.
class KeyspaceLoader final : public storage::RdbVisitor {
 public:
  KeyspaceLoader(storage::Keyspace* keyspace, int64_t now_ms, LoadedSnapshot* out)
      : keyspace_(keyspace), now_ms_(now_ms), out_(out) {}

  void on_aux(std::string_view name, std::string_view value) override {
    if (storage::apply_kvraft_aux(name, value, &out_->meta)) {
      if (name == storage::kAuxRaftIndex) seen_ |= 1;
      if (name == storage::kAuxRaftTerm) seen_ |= 2;
      if (name == storage::kAuxMembership) seen_ |= 4;
      return;
    }
    if (name == kAuxMembers) {
      out_->members.assign(value);
      return;
    }
    if (name.starts_with("kvraft-")) {
      out_->extra_aux.emplace_back(name, value);
      return;
    }
    if (name == "ctime") {
      // Informational in Redis (which ignores a malformed one); so here.
      int64_t v = 0;
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (ec == std::errc() && ptr == value.data() + value.size()) out_->ctime_s = v;
    }
  }

  void on_select_db(uint64_t db) override { check_db(db); }

  void on_string(uint64_t db, std::string_view key, std::string_view value,
                 int64_t expire_at_ms) override {
    if (!admit(db, expire_at_ms)) return;
    link(db, storage::entry_new_string(key, value, expire_of(expire_at_ms)));
  }

  void on_collection_begin(uint64_t db, std::string_view key, Collection kind, uint64_t size_hint,
                           int64_t expire_at_ms) override {
    skip_ = !admit(db, expire_at_ms);
    pending_db_ = db;
    pending_key_.assign(key);
    pending_expire_ = expire_of(expire_at_ms);
    pending_.reset();
    if (skip_) return;
    // The hint is untrusted (bounded by the file size only): cap it.
    size_t hint = static_cast<size_t>(std::min<uint64_t>(size_hint, 1 << 16));
    switch (kind) {
      case Collection::kList:
        pending_ = std::make_unique<storage::ListValue>();
        break;
      case Collection::kSet:
        pending_ = nullptr;  // created at the first member (its encoding depends on it)
        set_hint_ = hint;
        break;
      case Collection::kHash:
        pending_ = std::make_unique<storage::HashValue>();
        break;
      case Collection::kZset:
        pending_ = storage::ZsetValue::create(hint, 0);
        break;
    }
  }

  void on_list_element(std::string_view element) override {
    if (skip_) return;
    static_cast<storage::ListValue*>(pending_.get())->push_back(element);
  }

  void on_set_member(std::string_view member) override {
    if (skip_) return;
    if (!pending_) pending_ = storage::SetValue::create(member, set_hint_);
    if (!static_cast<storage::SetValue*>(pending_.get())->add(member))
      throw std::runtime_error("duplicate set member '" + printable(member) + "'");
  }

  void on_hash_field(std::string_view field, std::string_view value) override {
    if (skip_) return;
    auto* h = static_cast<storage::HashValue*>(pending_.get());
    h->prepare_for(field.size());
    h->prepare_for(value.size());
    if (!h->set(field, value))
      throw std::runtime_error("duplicate hash field '" + printable(field) + "'");
  }

  void on_zset_member(std::string_view member, double score) override {
    if (skip_) return;
    int out = 0;
    double ns = 0;
    auto* z = static_cast<storage::ZsetValue*>(pending_.get());
    if (!z->add(score, member, 0, &out, &ns) || (out & storage::ZsetValue::kOutAdded) == 0)
      throw std::runtime_error("duplicate or invalid sorted set member '" + printable(member) +
                               "'");
  }

  void on_collection_end() override {
    if (skip_) return;
    link(pending_db_,
         storage::entry_new_object(pending_key_, std::move(pending_), pending_expire_));
  }

  // Which kvraft aux fields were present: bit 0 index, 1 term, 2 membership.
  int seen() const { return seen_; }

 private:
  void check_db(uint64_t db) const {
    if (db >= static_cast<uint64_t>(keyspace_->databases()))
      throw std::out_of_range("database " + std::to_string(db) +
                              " does not exist (the keyspace has " +
                              std::to_string(keyspace_->databases()) + " databases)");
  }

  static int64_t expire_of(int64_t rdb_expire) {
    return rdb_expire == storage::kNoExpiry ? storage::kNoExpire : rdb_expire;
  }

  // Whether a key with this expiry is loaded (checks the db too).
  bool admit(uint64_t db, int64_t expire_at_ms) {
    check_db(db);
    if (now_ms_ != kKeepExpiredKeys && expire_at_ms != storage::kNoExpiry &&
        expire_at_ms <= now_ms_) {
      ++out_->expired_skipped;
      return false;
    }
    return true;
  }

  // Links a new entry (taking ownership); a key already present means a
  // corrupt file, which Redis refuses too.
  void link(uint64_t db, storage::Entry* fresh) {
    int d = static_cast<int>(db);
    size_t before = keyspace_->size(d);
    keyspace_->set_entry(d, fresh, false);
    if (keyspace_->size(d) == before)
      throw std::runtime_error("duplicate key in database " + std::to_string(db));
    ++out_->keys;
  }

  // Up to 40 bytes of `s` with non-printable bytes as \xNN, for errors.
  static std::string printable(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size() && i < 40; ++i) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      if (c >= 0x20 && c < 0x7f && c != '\\') {
        out.push_back(static_cast<char>(c));
      } else {
        char b[5];
        std::snprintf(b, sizeof b, "\\x%02x", c);
        out += b;
      }
    }
    if (s.size() > 40) out += "...";
    return out;
  }

  storage::Keyspace* keyspace_;
  int64_t now_ms_;
  LoadedSnapshot* out_;
  int seen_ = 0;
  // The collection being loaded (between on_collection_begin and _end).
  bool skip_ = false;  // expired: its elements are dropped
  uint64_t pending_db_ = 0;
  std::string pending_key_;
  int64_t pending_expire_ = storage::kNoExpire;
  std::unique_ptr<storage::CompositeValue> pending_;  // null until a set's first member
  size_t set_hint_ = 0;
};

}  // namespace

LoadedSnapshot load_snapshot(const std::string& path, int databases, const LoadOptions& options) {
  int64_t t0 = steady_us();
  LoadedSnapshot out;
  out.keyspace = std::make_unique<storage::Keyspace>(databases);
  KeyspaceLoader loader(out.keyspace.get(), options.now_ms, &out);
  storage::RdbFileSource src(path);
  storage::RdbReadResult rr = storage::read_rdb(src, loader);
  if (loader.seen() != 0 && loader.seen() != 7)
    throw storage::RdbError(path, src.size(), "",
                            "incomplete kvraft aux fields (need " +
                                std::string(storage::kAuxRaftIndex) + ", " +
                                std::string(storage::kAuxRaftTerm) + " and " +
                                std::string(storage::kAuxMembership) + ")");
  out.has_meta = loader.seen() == 7;
  out.rdb_version = rr.version;
  out.checksum_verified = rr.checksum_verified;
  out.load_us = steady_us() - t0;
  return out;
}

}  // namespace kvraft
