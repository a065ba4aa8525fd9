// Unit tests of choose_transfer_target (src/leader_transfer.h): which voter
// RAFT.TRANSFER-LEADER and SHUTDOWN hand leadership to, and the errors for
// requests that could not succeed.
#include <doctest/doctest.h>

#include "src/leader_transfer.h"

using kvraft::choose_transfer_target;
using kvraft::TransferChoice;
using kvraft::TransferView;

namespace {

// Leader 1 of voters 1..5 plus learner 6; everyone reachable; node 3 is the
// most up to date follower.
TransferView five_voters() {
  TransferView v;
  v.self = 1;
  v.voters = {1, 2, 3, 4, 5};
  v.learners = {6};
  v.match = {{1, 100}, {2, 90}, {3, 100}, {4, 100}, {5, 40}, {6, 100}};
  v.reachable = {2, 3, 4, 5, 6};
  return v;
}

}  // namespace

TEST_CASE("without an id the most up-to-date reachable voter is chosen, lowest id on ties") {
  TransferView v = five_voters();
  TransferChoice c = choose_transfer_target(v, 0);
  CHECK(c.error.empty());
  CHECK(c.target == 3);
  v.reachable.erase(3);
  CHECK(choose_transfer_target(v, 0).target == 4);
  v.reachable.erase(4);
  CHECK(choose_transfer_target(v, 0).target == 2);  // the learner (6) never
}

TEST_CASE("a requested voter is taken even if it lags: the core catches it up first") {
  TransferChoice c = choose_transfer_target(five_voters(), 5);
  CHECK(c.error.empty());
  CHECK(c.target == 5);
}

TEST_CASE("unknown ids, learners, self and unreachable targets are refused with their reason") {
  TransferView v = five_voters();
  CHECK(choose_transfer_target(v, 9).error == "ERR unknown node id 9");
  CHECK(choose_transfer_target(v, 6).error == "ERR node 6 is not a voter");
  CHECK(choose_transfer_target(v, 1).error == "ERR node 1 is already the leader");
  v.reachable.erase(2);
  TransferChoice c = choose_transfer_target(v, 2);
  CHECK(c.error == "ERR node 2 is not reachable");
  CHECK(c.target == 0);
}

TEST_CASE("without a reachable quorum no transfer starts: the target could not be elected") {
  TransferView v = five_voters();
  v.reachable = {2, 6};  // 2 of 5 voters with self
  CHECK(choose_transfer_target(v, 2).error ==
        "ERR cannot transfer leadership: only 2 of 5 voters are reachable (no quorum)");
  CHECK(choose_transfer_target(v, 0).error ==
        "ERR cannot transfer leadership: only 2 of 5 voters are reachable (no quorum)");
  v.reachable.insert(5);  // 3 of 5
  CHECK(choose_transfer_target(v, 0).target == 2);
}

TEST_CASE("a lone voter has nobody to hand leadership to") {
  TransferView v;
  v.self = 1;
  v.voters = {1};
  v.learners = {2};
  v.reachable = {2};
  TransferChoice c = choose_transfer_target(v, 0);
  CHECK(c.error == "ERR no other voter to transfer leadership to");
  CHECK(c.target == 0);
}
