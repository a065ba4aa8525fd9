// Unit tests of the replicated membership table (src/membership.h): the
// conf-change context codec, what log entries do to the table, and its
// snapshot aux-field encoding.
#include <doctest/doctest.h>

#include <stdexcept>

#include "raft/conf_change.h"
#include "src/membership.h"

using namespace kvraft;
using raft::ConfChangeType;

namespace {

raft::Entry conf_entry(raft::Index index, ConfChangeType type, raft::NodeId node,
                       std::string context = {}) {
  return raft::Entry{index, 1, raft::EntryType::kConfChange,
                     raft::encode_conf_change({type, node, std::move(context)})};
}

}  // namespace

TEST_CASE("member context round-trips, IPv6 hosts included, and rejects malformed text") {
  MemberInfo m{"::1", 7101, 7001, MemberIntent::kLearner};
  CHECK(encode_member_context(m) == "::1:7101:7001:learner");
  auto back = decode_member_context(encode_member_context(m));
  REQUIRE(back);
  CHECK(*back == m);
  CHECK_FALSE(decode_member_context(""));
  CHECK_FALSE(decode_member_context(":7101:7001:voter"));       // no host
  CHECK_FALSE(decode_member_context("h:70000:7001:voter"));     // port range
  CHECK_FALSE(decode_member_context("h:7101:7001:president"));  // intent
  CHECK_FALSE(decode_member_context("h:7101:x:voter"));         // not a number
  std::string host;
  int port = 0;
  CHECK(parse_host_port("127.0.0.1:7001", &host, &port));
  CHECK(host == "127.0.0.1");
  CHECK(port == 7001);
  CHECK_FALSE(parse_host_port("127.0.0.1:0", &host, &port));
  CHECK_FALSE(parse_host_port("7001", &host, &port));
}

TEST_CASE("a member's tls-port travels in its context only when it has one") {
  MemberInfo m{"::1", 7101, 0, MemberIntent::kVoter, 7443};
  CHECK(encode_member_context(m) == "::1:7101:0:voter:tls=7443");
  auto back = decode_member_context(encode_member_context(m));
  REQUIRE(back);
  CHECK(*back == m);
  CHECK(encode_member_context(MemberInfo{"h", 1, 2, MemberIntent::kVoter}) == "h:1:2:voter");
  CHECK_FALSE(decode_member_context("h:7101:7001:voter:tls=0"));
  CHECK_FALSE(decode_member_context("h:7101:7001:voter:tls=x"));
  CHECK_FALSE(decode_member_context("h:7101:7001:tls=7443"));  // no intent
  MemberTable t;
  t.seed(2, m);
  CHECK(MemberTable::decode(t.encode()) == t);
}

TEST_CASE("the table follows conf-change entries; a removed id stays removed") {
  MemberTable t;
  t.observe(conf_entry(1, ConfChangeType::kAddNode, 1));  // old 9-byte form: no address
  CHECK(t.find(1) == nullptr);
  t.observe(conf_entry(2, ConfChangeType::kAddLearner, 4, "127.0.0.1:7104:7004:voter"));
  REQUIRE(t.find(4));
  CHECK(t.find(4)->client_port == 7004);
  t.observe(conf_entry(3, ConfChangeType::kAddLearner, 4, "127.0.0.1:7104:7004:removing"));
  CHECK(t.find(4)->intent == MemberIntent::kRemoving);
  t.observe(conf_entry(4, ConfChangeType::kRemoveNode, 4));
  CHECK(t.find(4) == nullptr);
  CHECK(t.was_removed(4));
  // A later entry naming the id again (never proposed, but replay is total)
  // does not resurrect it, and neither does a seed.
  t.observe(conf_entry(5, ConfChangeType::kAddLearner, 4, "127.0.0.1:7104:7004:voter"));
  t.seed(4, MemberInfo{"127.0.0.1", 1, 2, MemberIntent::kVoter});
  CHECK(t.find(4) == nullptr);
  // Normal entries and garbage change nothing.
  MemberTable before = t;
  t.observe(raft::Entry{6, 1, raft::EntryType::kNormal, "x"});
  t.observe(raft::Entry{7, 1, raft::EntryType::kConfChange, "garbage"});
  CHECK(t == before);
}

TEST_CASE("the table encodes for the snapshot aux field and overlays a snapshot's table") {
  MemberTable t;
  t.observe(conf_entry(1, ConfChangeType::kAddNode, 1, "10.0.0.1:7101:7001:voter"));
  t.observe(conf_entry(2, ConfChangeType::kAddLearner, 5, "10.0.0.5:7105:7005:learner"));
  t.observe(conf_entry(3, ConfChangeType::kRemoveNode, 3));
  std::string text = t.encode();
  CHECK(text == "m:1=10.0.0.1:7101:7001:voter,5=10.0.0.5:7105:7005:learner;r:3");
  CHECK(MemberTable::decode(text) == t);
  CHECK(MemberTable::decode("m:;r:") == MemberTable{});
  CHECK_THROWS_AS(MemberTable::decode("m:1=bad;r:"), std::invalid_argument);
  CHECK_THROWS_AS(MemberTable::decode("nonsense"), std::invalid_argument);
  CHECK_THROWS_AS(MemberTable::decode("m:;r:0"), std::invalid_argument);

  // Seeds (cluster-peers, a joined cluster's RAFT.NODES) say "voter" for
  // every member; the snapshot's table, from the replicated history, wins for
  // the members it names, removes its removed ids, and leaves the members
  // only the seeds know (a leader added after the snapshot) in place.
  MemberTable local;
  local.seed(1, MemberInfo{"127.0.0.1", 1, 1, MemberIntent::kVoter});
  local.seed(3, MemberInfo{"10.0.0.3", 7103, 7003, MemberIntent::kVoter});
  local.seed(5, MemberInfo{"10.0.0.5", 7105, 7005, MemberIntent::kVoter});
  local.seed(7, MemberInfo{"10.0.0.7", 7107, 7007, MemberIntent::kVoter});
  local.overlay(t);
  CHECK(local.find(1)->host == "10.0.0.1");
  CHECK(local.find(5)->intent == MemberIntent::kLearner);
  CHECK(local.find(3) == nullptr);
  CHECK(local.was_removed(3));
  REQUIRE(local.find(7) != nullptr);
  CHECK(local.find(7)->host == "10.0.0.7");
  // A removed id stays removed whatever a later snapshot names.
  MemberTable older;
  older.observe(conf_entry(1, ConfChangeType::kAddNode, 3, "10.0.0.3:7103:7003:voter"));
  local.overlay(older);
  CHECK(local.find(3) == nullptr);
}
