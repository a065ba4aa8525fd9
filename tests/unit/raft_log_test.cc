// tests/unit/raft_log_test.cc — the pieces under the Raft node: RaftLog
// (stable + unstable entries, conflicts, fast-backtracking search),
// MemoryStorage, Progress/Inflights, the quorum index and the membership
// change encoding.
#include <doctest/doctest.h>

#include "raft/conf_change.h"
#include "raft/log.h"
#include "raft/progress.h"
#include "raft/storage.h"

using namespace kvraft::raft;

namespace {
std::vector<Entry> ents(Index first, std::vector<Term> terms) {
  std::vector<Entry> out;
  for (Term t : terms)
    out.push_back(Entry{first++, t, EntryType::kNormal, "d"});
  return out;
}
}  // namespace

TEST_CASE("raft log merges stored and unstable entries and truncates conflicting suffixes") {
  MemoryStorage disk;
  disk.append(ents(1, {1, 1, 2}));
  RaftLog log(disk);
  CHECK(log.last_index() == 3);
  CHECK(log.term(3) == 2u);
  log.append(ents(4, {2, 2}));
  CHECK(log.last_index() == 5);
  CHECK(log.persisted_last() == 3);
  // A new leader overwrites from index 3 on.
  log.append(ents(3, {3}));
  CHECK(log.last_index() == 3);
  CHECK(log.term(3) == 3u);
  CHECK(log.persisted_last() == 2);
  auto all = log.entries_from(1, ~0ULL);
  REQUIRE(all);
  CHECK(all->size() == 3);
  CHECK(all->back().term == 3);
  // The host persists the unstable entries (truncating its own suffix).
  disk.append(log.unstable_entries());
  log.stable_to(3, 3);
  CHECK(log.unstable_entries().empty());
  CHECK(log.persisted_last() == 3);
}

TEST_CASE("raft log finds the first conflicting entry and the fast-backtracking point") {
  MemoryStorage disk;
  disk.append(ents(1, {1, 1, 2, 2, 2, 4, 4}));
  RaftLog log(disk);
  CHECK(log.find_conflict(ents(1, {1, 1})) == 0);
  CHECK(log.find_conflict(ents(3, {2, 3})) == 4);
  CHECK(log.find_conflict(ents(7, {4, 5})) == 8);
  // Largest index <= 7 whose term is <= 3: index 5 (term 2).
  CHECK(log.find_conflict_by_term(7, 3) == 5);
  CHECK(log.find_conflict_by_term(7, 4) == 7);
  CHECK(log.find_conflict_by_term(100, 1) == 2);
  CHECK(log.find_conflict_by_term(7, 0) == 0);
}

TEST_CASE("raft log commits only entries of the given term with maybe_commit") {
  MemoryStorage disk;
  disk.append(ents(1, {1, 2, 3}));
  RaftLog log(disk);
  CHECK_FALSE(log.maybe_commit(2, 3));
  CHECK(log.committed() == 0);
  CHECK(log.maybe_commit(3, 3));
  CHECK(log.committed() == 3);
  auto next = log.next_committed_entries(~0ULL);
  CHECK(next.size() == 3);
  log.applied_to(3);
  CHECK_FALSE(log.has_next_committed_entries());
}

TEST_CASE("raft log restore replaces the log with a snapshot until it is persisted") {
  MemoryStorage disk;
  disk.append(ents(1, {1, 1}));
  RaftLog log(disk);
  log.restore(SnapshotMeta{10, 3, {}});
  CHECK(log.first_index() == 11);
  CHECK(log.last_index() == 10);
  CHECK(log.term(10) == 3u);
  CHECK_FALSE(log.term(2).has_value());
  CHECK(log.committed() == 10);
  CHECK_FALSE(log.entries_from(5, ~0ULL).has_value());
}

TEST_CASE("memory storage keeps the log contiguous with its snapshot") {
  MemoryStorage disk;
  disk.append(ents(1, {1, 1, 2, 2}));
  disk.create_snapshot(SnapshotMeta{2, 1, {}}, "state");
  CHECK(disk.first_index() == 3);
  CHECK(disk.last_index() == 4);
  CHECK(disk.term(2) == 1u);
  CHECK_FALSE(disk.term(1).has_value());
  CHECK_THROWS(disk.append(ents(1, {1})));
  std::string data;
  uint64_t size = 0;
  CHECK(disk.read_snapshot_chunk(SnapshotMeta{2, 1, {}}, 2, 2, &data, &size));
  CHECK(data == "at");
  CHECK(size == 5);
  CHECK_FALSE(disk.read_snapshot_chunk(SnapshotMeta{3, 1, {}}, 0, 2, &data, &size));
  // A received snapshot replaces everything.
  SnapshotMeta meta{9, 3, {{1, 2}, {}}};
  disk.write_snapshot_chunk(meta, 0, "ab");
  CHECK_THROWS(disk.write_snapshot_chunk(meta, 5, "zz"));
  disk.write_snapshot_chunk(meta, 2, "cd");
  disk.install_received_snapshot(meta);
  CHECK(disk.snapshot_data() == "abcd");
  CHECK(disk.first_index() == 10);
  CHECK(disk.last_index() == 9);
}

TEST_CASE("inflights bound pipelined appends and free on acknowledgement") {
  Inflights in(3);
  in.add(5);
  in.add(8);
  in.add(9);
  CHECK(in.full());
  in.free_le(8);
  CHECK(in.count() == 1);
  CHECK_FALSE(in.full());
  in.free_first();
  CHECK(in.count() == 0);
}

TEST_CASE("progress in probe state accepts only the answer to its probe") {
  Progress pr(4);
  pr.match = 3;
  pr.next = 10;
  CHECK_FALSE(pr.maybe_decr_to(5, 4));  // stale: we probed at 9
  CHECK(pr.maybe_decr_to(9, 6));
  CHECK(pr.next == 7);
  CHECK(pr.maybe_decr_to(6, 0));
  CHECK(pr.next == 4);  // never below match + 1
  pr.become_replicate();
  CHECK_FALSE(pr.maybe_decr_to(2, 0));  // at or below match: stale
}

TEST_CASE("quorum index is the largest index a majority holds") {
  CHECK(quorum_index({5}) == 5);
  CHECK(quorum_index({5, 3}) == 3);
  CHECK(quorum_index({5, 3, 9}) == 5);
  CHECK(quorum_index({1, 7, 7, 2}) == 2);
  CHECK(quorum_index({1, 7, 7, 2, 8}) == 7);
}

TEST_CASE("membership change context round-trips and the old 9-byte form still decodes") {
  ConfChange cc{ConfChangeType::kAddNode, 7, "127.0.0.1:7104:7004:voter"};
  std::string payload = encode_conf_change(cc);
  CHECK(payload.size() == 9 + cc.context.size());
  auto back = decode_conf_change(payload);
  REQUIRE(back);
  CHECK(*back == cc);
  auto old = decode_conf_change(payload.substr(0, 9));
  REQUIRE(old);
  CHECK(old->node == 7);
  CHECK(old->context.empty());
  CHECK_FALSE(
      decode_conf_change(payload.substr(0, 9) + std::string(kMaxConfChangeContext + 1, 'x')));
}

TEST_CASE("membership changes encode, decode and apply idempotently") {
  ConfChange cc{ConfChangeType::kAddLearner, 0x0102030405060708ULL};
  auto back = decode_conf_change(encode_conf_change(cc));
  REQUIRE(back);
  CHECK(*back == cc);
  CHECK_FALSE(decode_conf_change("short"));
  CHECK_FALSE(decode_conf_change(std::string(9, '\x07')));  // unknown type
  ConfState c;
  c = apply_conf_change(c, {ConfChangeType::kAddNode, 3});
  c = apply_conf_change(c, {ConfChangeType::kAddNode, 1});
  c = apply_conf_change(c, {ConfChangeType::kAddLearner, 2});
  CHECK(c.voters == std::vector<NodeId>{1, 3});
  CHECK(c.learners == std::vector<NodeId>{2});
  c = apply_conf_change(c, {ConfChangeType::kAddLearner, 1});  // demotes a voter
  CHECK(c.voters == std::vector<NodeId>{3});
  CHECK(c.learners == std::vector<NodeId>{1, 2});
  c = apply_conf_change(c, {ConfChangeType::kAddNode, 1});
  c = apply_conf_change(c, {ConfChangeType::kAddNode, 2});  // promotion
  CHECK(c.voters == std::vector<NodeId>{1, 2, 3});
  CHECK(c.learners.empty());
  c = apply_conf_change(c, {ConfChangeType::kRemoveNode, 3});
  c = apply_conf_change(c, {ConfChangeType::kRemoveNode, 3});
  CHECK(c.voters == std::vector<NodeId>{1, 2});
}

TEST_CASE("raft log counts the heap bytes of its unstable entries through every change") {
  MemoryStorage disk;
  disk.append(ents(1, {1}));
  RaftLog log(disk);
  auto big = [](Index first, std::vector<Term> terms) {
    std::vector<Entry> out;
    for (Term t : terms)
      out.push_back(Entry{first++, t, EntryType::kNormal, std::string(100, 'x')});
    return out;
  };
  // A holder pays for its slots; payloads are counted once for the process
  // (Payload::live_bytes, see raft_payload_test).
  const uint64_t one = entry_heap_bytes(big(1, {1})[0]);
  CHECK(one == sizeof(Entry));
  CHECK(entry_heap_bytes(Entry{1, 1, EntryType::kNormal, "short"}) == sizeof(Entry));
  log.append(big(2, {1, 1, 1, 1}));
  CHECK(log.unstable_bytes() == 4 * one);
  log.append(big(4, {2}));  // truncates 4..5, appends 4
  CHECK(log.unstable_bytes() == 3 * one);
  disk.append(big(2, {1, 1}));
  log.stable_to(3, 1);
  CHECK(log.unstable_bytes() == one);
  log.append(big(2, {3}));  // replaces the unstable suffix and the stored one
  CHECK(log.unstable_bytes() == one);
  log.restore(SnapshotMeta{10, 3, {}});
  CHECK(log.unstable_bytes() == 0);
}
