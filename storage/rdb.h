// storage/rdb.h — Redis RDB snapshot files: a streaming writer and a
// hardened reader.
//
// kvraft snapshots are RDB files so that stock tools work on them: a stock
// redis-check-rdb accepts what RdbWriter writes, a stock redis-server loads
// it, and RdbReader loads dumps written by redis-server (strings, lists,
// sets, sorted sets and hashes in every encoding Redis 2.x..7.2 writes).
// This code knows the file format and nothing about the keyspace: the
// writer is driven by calls, the reader reports what it finds to a visitor.
//
// What we write (RDB version 10, as Redis 7.0):
//   "REDIS0010"
//   AUX redis-ver "7.0.15", redis-bits 64, ctime <unix s>, used-mem <bytes>,
//       aof-base 0, kvraft-raft-index <n>, kvraft-raft-term <n>,
//       kvraft-membership <see encode_membership>
//   per non-empty db: SELECTDB <db>, RESIZEDB <keys> <keys with expiry>,
//       then per key: [EXPIRETIME_MS <8 bytes LE>] <type> <key> <value>, where
//       <type> <value> is one of
//         STRING (0)          <string>
//         SET (2)             <count> <member>...
//         HASH (4)            <count> (<field> <value>)...
//         ZSET_2 (5)          <count> (<member> <8-byte LE double score>)...
//         LIST_QUICKLIST_2 (18) <nodes> (<container 2> <listpack blob>)...
//       (lists have no plain-string RDB type Redis 7 still loads, so they
//       are quicklist nodes of Redis listpacks of at most ~8 KiB each).
//   EOF, CRC-64/Jones of everything before it, 8 bytes little-endian.
// Strings are stored as Redis stores them: a canonical decimal that fits in
// 32 bits uses the int8/16/32 encodings, strings longer than 20 bytes are
// LZF-compressed when that saves at least 4 bytes.
//
// What we read: RDB versions 1..12 (12 = Redis 7.4; the string format has not
// changed since version 1), opcodes AUX, SELECTDB, RESIZEDB, EXPIRETIME (s),
// EXPIRETIME_MS, IDLE and FREQ (ignored), string values in every encoding,
// and the collection types LIST (1), SET (2), ZSET (3), HASH (4), ZSET_2 (5),
// LIST_ZIPLIST (10), SET_INTSET (11), ZSET_ZIPLIST (12), HASH_ZIPLIST (13),
// LIST_QUICKLIST (14), HASH_LISTPACK (16), ZSET_LISTPACK (17),
// LIST_QUICKLIST_2 (18) and SET_LISTPACK (20). Ziplist, listpack and intset
// blobs are validated completely (sizes, counts, back-lengths, prevlens,
// terminators, intset order) before any of their elements is reported.
// Zipmaps, streams, module values, function libraries and module aux data
// are reported as clear "unsupported" errors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "raft/types.h"
#include "storage/lzf.h"

namespace kvraft::storage {

// "No expiry" for expire_at_ms arguments and callbacks. Real expiry times are
// absolute Unix times in milliseconds, >= 0.
inline constexpr int64_t kNoExpiry = -1;

// The RDB version RdbWriter writes (what Redis 7.0 writes).
inline constexpr int kRdbWriteVersion = 10;
// The range of versions RdbReader accepts.
inline constexpr int kRdbMinReadVersion = 1;
inline constexpr int kRdbMaxReadVersion = 12;

// The longest string value the reader accepts in compressed form (Redis's
// default proto-max-bulk-len); LZF headers claiming more are rejected before
// anything is allocated. Uncompressed strings are bounded by the file size.
inline constexpr uint64_t kRdbMaxLzfStringLength = 512ULL * 1024 * 1024;

// The value of the redis-ver aux field we write: the Redis release whose
// format we reproduce and test against (tools print it; none parse it).
inline constexpr std::string_view kRdbRedisVer = "7.0.15";

// Names of kvraft's own aux fields. Stock Redis ignores unknown aux fields
// (redis-server logs them at debug level, redis-check-rdb prints them).
inline constexpr std::string_view kAuxRaftIndex = "kvraft-raft-index";
inline constexpr std::string_view kAuxRaftTerm = "kvraft-raft-term";
inline constexpr std::string_view kAuxMembership = "kvraft-membership";

// A malformed, truncated or unsupported RDB file, or an I/O error on one.
// what() reads "<source>: offset <n>[, key '<key>']: <reason>", where the
// offset is that of the item being decoded (the key's record when a key is
// known), so the bad spot can be found with a hex dump.
class RdbError : public std::runtime_error {
 public:
  RdbError(std::string source, uint64_t offset, std::string key, std::string reason);
  const std::string& source() const { return source_; }
  uint64_t offset() const { return offset_; }
  // The key being read or written when the error happened, raw bytes; empty
  // if none. what() shows it with non-printable bytes escaped as \xNN.
  const std::string& key() const { return key_; }
  const std::string& reason() const { return reason_; }

 private:
  std::string source_;
  uint64_t offset_;
  std::string key_;
  std::string reason_;
};

// Membership as the kvraft-membership aux field: "v:<ids>;l:<ids>" where
// <ids> is a comma-separated list of decimal node ids, in the order given,
// possibly empty. Example: voters {1,2,3}, learner {4} -> "v:1,2,3;l:4";
// a single voter and no learners -> "v:1;l:".
std::string encode_membership(const raft::ConfState& conf);
// Inverse of encode_membership. Throws std::invalid_argument (quoting the
// text) on anything else: missing parts, non-digits, node id 0, overflow, a
// node listed twice.
raft::ConfState decode_membership(std::string_view text);

// Applies one aux field to `*meta` if it is one of kvraft's (raft index,
// term, membership) and returns true; returns false for any other field.
// Throws std::invalid_argument (naming the field) if a kvraft field's value
// is malformed. Meant to be called from RdbVisitor::on_aux, where the reader
// turns the exception into an RdbError with the offset.
bool apply_kvraft_aux(std::string_view name, std::string_view value, raft::SnapshotMeta* meta);

// Redis's name for an RDB value type byte, e.g. 14 -> "quicklist-encoded
// list"; "unknown" for bytes Redis does not define.
std::string_view rdb_type_name(uint8_t type);

// ------------------------------------------------------------------ writer

// What goes into the aux fields of a snapshot.
struct RdbSnapshotInfo {
  // Raft position the snapshot covers and the membership at that index.
  raft::SnapshotMeta meta;
  // used-mem: the keyspace's memory use in bytes (informational).
  uint64_t used_mem = 0;
  // ctime: creation time, Unix seconds; 0 means "now".
  int64_t ctime = 0;
  // More aux fields (name, value) written after kvraft's own, for state the
  // server keeps beside the keyspace (the membership table, "kvraft-acl").
  std::vector<std::pair<std::string, std::string>> extra_aux;
};

// Streams an RDB file to a file descriptor or a string. Memory use is a fixed
// 64 KiB output buffer, a 64 KiB LZF match table (allocated at the first
// string over 20 bytes), LZF output space as large as the largest such
// value and one quicklist node being built (kListNodeBytes, or one larger
// element), never proportional to the number of keys or elements: it runs
// in a fork()ed child, where every heap page touched is a page copied.
//
// Call order: begin(), then for each db select_db() followed by that db's
// write_string()/write_list()/write_set()/write_hash()/write_zset() calls,
// then finish(). Calling out of order is a bug and
// throws std::logic_error. I/O errors throw RdbError naming the file and the
// offset; after an exception the writer is unusable (the caller discards the
// file).
class RdbWriter {
 public:
  // Writes to `fd` (not owned; not closed or fsynced here). `name` is used in
  // error messages only.
  RdbWriter(int fd, std::string name);
  // Appends to `*out` (owned by the caller, must outlive the writer).
  explicit RdbWriter(std::string* out);
  ~RdbWriter();
  RdbWriter(const RdbWriter&) = delete;
  RdbWriter& operator=(const RdbWriter&) = delete;

  // Turns LZF compression of long strings off (Redis's rdbcompression no).
  // Must be called before begin().
  void set_compression(bool on) { compress_ = on; }

  // Writes the magic, version and aux fields.
  void begin(const RdbSnapshotInfo& info);
  // Starts database `db`; the counts are written as the RESIZEDB hint (keys
  // in the db, and how many of them have an expiry). Redis writes nothing for
  // an empty db, so callers should skip those.
  void select_db(uint64_t db, uint64_t key_count_hint, uint64_t expires_hint);
  // Writes one string key. `expire_at_ms` is an absolute Unix time in ms, or
  // kNoExpiry. Throws std::invalid_argument for other negative values.
  void write_string(std::string_view key, std::string_view value, int64_t expire_at_ms = kNoExpiry);

  // Collections. Each takes the exact element count and a generator: a
  // function that calls its argument once per element, in order. The
  // generator must produce exactly `count` elements (std::logic_error
  // otherwise; the file is then unusable) and may be called more than once
  // (write_list walks the list twice: once to plan the quicklist nodes,
  // once to write them), so it must not consume anything. count must be
  // > 0: Redis refuses empty collections. Expiry as for write_string.
  // Sets, hashes and zsets must not repeat a member/field (Redis refuses
  // such files); the writer does not check. Zset scores must not be NaN
  // (std::invalid_argument).
  using ElementFn = std::function<void(std::string_view)>;
  using PairFn = std::function<void(std::string_view, std::string_view)>;
  using ScoredFn = std::function<void(std::string_view, double)>;
  void write_list(std::string_view key, uint64_t count,
                  const std::function<void(const ElementFn&)>& elements,
                  int64_t expire_at_ms = kNoExpiry);
  void write_set(std::string_view key, uint64_t count,
                 const std::function<void(const ElementFn&)>& members,
                 int64_t expire_at_ms = kNoExpiry);
  void write_hash(std::string_view key, uint64_t count,
                  const std::function<void(const PairFn&)>& fields,
                  int64_t expire_at_ms = kNoExpiry);
  void write_zset(std::string_view key, uint64_t count,
                  const std::function<void(const ScoredFn&)>& members,
                  int64_t expire_at_ms = kNoExpiry);

  // The quicklist node size limit write_list packs to (Redis's default
  // list-max-listpack-size -2: 8 KiB). A larger element gets a node alone.
  static constexpr size_t kListNodeBytes = 8192;

  // Writes EOF and the checksum and flushes the buffer. The caller fsyncs.
  void finish();

  // Bytes produced so far (including buffered ones).
  uint64_t bytes_written() const { return offset_; }

  // Redis's rdb-save-incremental-fsync: fdatasync the file each time at
  // least `every_bytes` more have been written to it (0, the default: never;
  // ignored when writing to memory). Without it the whole file sits dirty in
  // the page cache until the caller's final fsync, which then queues all of
  // it on the device at once, and every other fsync on that device (the
  // Raft log's, on every write) waits behind it for as long as that takes.
  // Syncing as it goes bounds that backlog to `every_bytes`. A failed sync
  // throws RdbError (file and offset).
  void set_incremental_sync(uint64_t every_bytes) { sync_every_ = every_bytes; }
  // fdatasyncs done so far because of set_incremental_sync.
  uint64_t incremental_syncs() const { return incremental_syncs_; }

 private:
  void put(const void* data, size_t len);
  void put_byte(uint8_t b) { put(&b, 1); }
  void put_length(uint64_t len);
  void put_string(std::string_view s);
  // Checks state and expiry, writes the expiry opcode, type byte and key.
  void put_key_header(const char* what, uint8_t type, std::string_view key, int64_t expire_at_ms);
  void flush();

  int fd_ = -1;
  std::string* out_ = nullptr;  // when writing to memory
  std::string name_;
  std::unique_ptr<uint8_t[]> buf_;
  size_t buf_used_ = 0;  // bytes of buf_ not yet written out
  uint64_t offset_ = 0;  // file offset of the next byte put()
  uint64_t crc_ = 0;     // CRC-64 of every byte put() so far
  bool compress_ = true;
  uint64_t sync_every_ = 0;         // set_incremental_sync; 0 = never
  uint64_t unsynced_bytes_ = 0;     // written to fd_ since the last incremental sync
  uint64_t incremental_syncs_ = 0;  // syncs done for set_incremental_sync
  enum class State { kNew, kHeader, kInDb, kFinished } state_ = State::kNew;
  std::unique_ptr<LzfCompressor> lzf_;  // created on the first long string
  std::vector<uint8_t> lzf_out_;        // grows to the largest compressed value
  std::string node_;                    // write_list's listpack under construction
};

// Writes an RDB file at `path` atomically: `fill` is called with a writer
// on "<path>.tmp.<pid>" after begin(info); then the writer is finished, the
// file fsynced and renamed over `path`, and the directory fsynced. Either
// `path` is the complete new file or (on any exception, which is rethrown
// after the temporary file is removed) it is untouched. Returns the size of
// the file.
uint64_t write_rdb_file_atomically(const std::string& path, const RdbSnapshotInfo& info,
                                   const std::function<void(RdbWriter&)>& fill);

// ------------------------------------------------------------------ reader

// Receives what the reader decodes, in file order. The strings passed are
// only valid during the call.
//
// The reader validates as it goes, so callbacks may already have run when it
// throws (it never rewinds them). A visitor must therefore be discardable:
// load into a fresh keyspace and swap it in only when read_rdb() returns.
// An exception thrown by a callback stops the read; the reader rethrows it as
// an RdbError carrying the file offset and key (an RdbError from a callback
// is passed through unchanged).
class RdbVisitor {
 public:
  virtual ~RdbVisitor() = default;
  // An aux field (redis-ver, ctime, kvraft-raft-index, ...), name and value
  // as stored (integer-encoded values arrive as decimal text).
  virtual void on_aux(std::string_view name, std::string_view value);
  // The following keys belong to database `db` (until the next call). Files
  // without SELECTDB put their keys in db 0. The reader does not bound db:
  // reject ids your keyspace does not have.
  virtual void on_select_db(uint64_t db);
  // RESIZEDB hint for the current db. The numbers come from the file and are
  // untrusted: use them only as a capped reservation hint.
  virtual void on_resize_db(uint64_t db_size, uint64_t expires_size);
  // A string key in db `db`. `expire_at_ms` is an absolute Unix time in ms
  // (possibly in the past: deciding what to do with expired keys is the
  // caller's business) or kNoExpiry. Expiry times stored as negative numbers
  // are reported as 0 (long expired). A corrupt file may repeat a key in a
  // db; Redis refuses such a file, and so should the visitor.
  virtual void on_string(uint64_t db, std::string_view key, std::string_view value,
                         int64_t expire_at_ms) = 0;

  // Collections are streamed, so a 1M-element value never exists twice (in
  // the file buffer and as a vector): on_collection_begin, then one element
  // callback per element of the matching kind, then on_collection_end, with
  // nothing else in between. `size_hint` is the element count when the file
  // states it (capped by the bytes left, like on_resize_db's), else 0; use
  // it only to reserve. Empty collections (Redis skips them too) are not
  // reported at all: a begin is always followed by at least one element.
  // The reader does NOT detect duplicate members or fields: the visitor
  // must (it builds the set anyway) and throw, which the reader turns into
  // an RdbError naming the key and offset. Scores are never NaN (rejected).
  // Elements of lists arrive head to tail; other kinds in file order.
  //
  // The defaults ignore collections (the reader still validates them), for
  // visitors that only want the aux fields or a verified read.
  enum class Collection : uint8_t { kList, kSet, kZset, kHash };
  virtual void on_collection_begin(uint64_t db, std::string_view key, Collection kind,
                                   uint64_t size_hint, int64_t expire_at_ms);
  virtual void on_list_element(std::string_view element);
  virtual void on_set_member(std::string_view member);
  virtual void on_hash_field(std::string_view field, std::string_view value);
  virtual void on_zset_member(std::string_view member, double score);
  virtual void on_collection_end();
};

// Where the reader gets its bytes: a file or a memory buffer. The total size
// is known up front, so every length in the file can be checked against the
// bytes that remain before anything is allocated for it.
class RdbSource {
 public:
  virtual ~RdbSource() = default;
  // Name for error messages (the path, or "<memory>").
  virtual const std::string& name() const = 0;
  // Total size of the input in bytes.
  virtual uint64_t size() const = 0;
  // Copies exactly `len` bytes starting at the current position into `dst`
  // and advances, or throws RdbError. Callers never ask for more than
  // size() minus the bytes already read.
  virtual void read(void* dst, size_t len) = 0;
};

// Reads an in-memory image (not copied; must outlive the source).
class RdbMemorySource : public RdbSource {
 public:
  explicit RdbMemorySource(std::string_view bytes, std::string name = "<memory>");
  const std::string& name() const override { return name_; }
  uint64_t size() const override { return bytes_.size(); }
  void read(void* dst, size_t len) override;

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
  std::string name_;
};

// Reads a file through a 64 KiB buffer. The constructor opens it and takes
// its size (RdbError if it cannot); a file that shrinks while being read
// gives an RdbError, never a short read.
class RdbFileSource : public RdbSource {
 public:
  explicit RdbFileSource(const std::string& path);
  ~RdbFileSource() override;
  RdbFileSource(const RdbFileSource&) = delete;
  RdbFileSource& operator=(const RdbFileSource&) = delete;
  const std::string& name() const override { return path_; }
  uint64_t size() const override { return size_; }
  void read(void* dst, size_t len) override;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  uint64_t file_pos_ = 0;  // offset of the next byte read from fd_
  std::unique_ptr<uint8_t[]> buf_;
  size_t buf_pos_ = 0;  // invariant: buf_pos_ <= buf_len_ <= kBufSize
  size_t buf_len_ = 0;
};

// What read_rdb() found, for logs and tests.
struct RdbReadResult {
  int version = 0;
  uint64_t keys = 0;                // keys reported (on_string or a collection)
  uint64_t empty_keys_skipped = 0;  // empty collections, not reported
  bool checksum_verified = false;   // false: version < 5 or checksum stored as 0
};

// Reads a whole RDB image from `src`, calling `visitor` for what it holds.
// Returns only if the entire input is a well-formed RDB file: magic and a
// supported version, every record well formed, EOF followed by a matching
// checksum (version >= 5; a stored checksum of 0 means "disabled" and is
// accepted, as Redis does) and then nothing else. Otherwise throws RdbError;
// see RdbVisitor about what to do with what was already reported.
RdbReadResult read_rdb(RdbSource& src, RdbVisitor& visitor);

// Convenience: read_rdb over an RdbFileSource.
RdbReadResult read_rdb_file(const std::string& path, RdbVisitor& visitor);

}  // namespace kvraft::storage
