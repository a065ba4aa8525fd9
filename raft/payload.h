// raft/payload.h — the bytes of a log entry, shared by every copy of it.
//
// Why: an entry's payload is written once (the leader encodes the client's
// write; a follower decodes it off the wire or the disk) and then lives in
// many places at the same time: the core's unstable log, the Ready handed
// to the host, the storage's in-memory mirror and disk batch, the committed
// entries being applied, and one AppendEntries message per follower. With
// a std::string each of those was a heap allocation and a copy of the
// bytes; a Payload copy is a reference count increment, as a Go slice in
// etcd's raft shares its backing array.
//
// A Payload is immutable once built, so sharing it between threads (the
// loop thread and the disk thread both hold the batch) needs only the
// atomic reference count. The empty payload allocates nothing.
//
// Memory: every live payload's bytes are Raft memory (the keyspace never
// keeps one), so the process total is kept in one counter, live_bytes(),
// instead of being charged to each holder (which would count a shared
// payload once per copy). Holders charge only their Entry slots.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <utility>

namespace kvraft::raft {

class Payload {
 public:
  Payload() noexcept = default;
  // Copies the bytes once; every copy of the Payload then shares them.
  Payload(std::string_view bytes) {  // NOLINT(google-explicit-constructor): a value type
    if (bytes.empty()) return;
    void* mem = ::operator new(sizeof(Rep) + bytes.size());
    rep_ = new (mem) Rep{};
    rep_->size = bytes.size();
    std::memcpy(rep_->bytes(), bytes.data(), bytes.size());
    live_counter().fetch_add(footprint(bytes.size()), std::memory_order_relaxed);
  }
  Payload(const std::string& s) : Payload(std::string_view(s)) {}  // NOLINT
  Payload(const char* s) : Payload(std::string_view(s)) {}         // NOLINT

  Payload(const Payload& other) noexcept : rep_(other.rep_) {
    if (rep_) rep_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  Payload(Payload&& other) noexcept : rep_(std::exchange(other.rep_, nullptr)) {}
  Payload& operator=(const Payload& other) noexcept {
    Payload copy(other);
    std::swap(rep_, copy.rep_);
    return *this;
  }
  Payload& operator=(Payload&& other) noexcept {
    Payload taken(std::move(other));
    std::swap(rep_, taken.rep_);
    return *this;
  }
  ~Payload() { release(); }

  const char* data() const noexcept { return rep_ ? rep_->bytes() : ""; }
  size_t size() const noexcept { return rep_ ? rep_->size : 0; }
  bool empty() const noexcept { return rep_ == nullptr; }
  std::string_view view() const noexcept { return {data(), size()}; }
  operator std::string_view() const noexcept { return view(); }  // NOLINT: a value type
  std::string str() const { return std::string(view()); }

  // Whether two payloads share their bytes (not just equal contents).
  bool shares_with(const Payload& other) const noexcept { return rep_ == other.rep_; }

  // Heap bytes of all payloads alive in the process.
  static uint64_t live_bytes() noexcept { return live_counter().load(std::memory_order_relaxed); }
  // The heap bytes one payload of n bytes costs (its block, glibc-rounded).
  static uint64_t footprint(size_t n) noexcept {
    return n == 0 ? 0 : ((sizeof(Rep) + n + 8 + 15) & ~uint64_t{15});
  }

  friend bool operator==(const Payload& a, const Payload& b) noexcept {
    return a.view() == b.view();
  }
  friend bool operator==(const Payload& a, std::string_view b) noexcept { return a.view() == b; }
  friend bool operator==(const Payload& a, const std::string& b) noexcept { return a.view() == b; }
  friend bool operator==(const Payload& a, const char* b) noexcept {
    return a.view() == std::string_view(b);
  }

 private:
  struct Rep {
    std::atomic<uint32_t> refs{1};
    size_t size = 0;
    char* bytes() noexcept { return reinterpret_cast<char*>(this + 1); }
  };

  static std::atomic<uint64_t>& live_counter() noexcept {
    static std::atomic<uint64_t> bytes{0};
    return bytes;
  }

  void release() noexcept {
    if (!rep_) return;
    // acq_rel: the last owner must see every write made before the others
    // let go (there are none after construction, but this is the standard
    // pattern and costs nothing on x86).
    if (rep_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      live_counter().fetch_sub(footprint(rep_->size), std::memory_order_relaxed);
      rep_->~Rep();
      ::operator delete(rep_);
    }
    rep_ = nullptr;
  }

  Rep* rep_ = nullptr;
};

}  // namespace kvraft::raft
