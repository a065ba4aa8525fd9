// Unit tests of the cluster-peers directive's parser (src/replication.h
// parse_cluster_peers): the optional client and tls ports of each member.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "src/replication.h"

using namespace kvraft;

TEST_CASE("cluster-peers members may name a client port and a tls-port") {
  std::vector<PeerConfig> peers;
  std::string error;
  REQUIRE(parse_cluster_peers("1@127.0.0.1:7101,2@h:7102:7002,3@h:7103:7003:7443,4@h:7104:0:7444",
                              &peers, &error));
  REQUIRE(peers.size() == 4);
  CHECK(peers[0].client_port == 0);
  CHECK(peers[0].tls_port == 0);
  CHECK(peers[1].client_port == 7002);
  CHECK(peers[1].tls_port == 0);
  CHECK(peers[2].client_port == 7003);
  CHECK(peers[2].tls_port == 7443);
  CHECK(peers[3].raft_port == 7104);
  CHECK(peers[3].client_port == 0);  // TLS only
  CHECK(peers[3].tls_port == 7444);
  // A plain client port of 0 only makes sense before a tls-port.
  CHECK_FALSE(parse_cluster_peers("1@h:7101:0", &peers, &error));
  CHECK(error == "cluster-peers: '1@h:7101:0' has an invalid port");
  CHECK_FALSE(parse_cluster_peers("1@h:7101:7001:0", &peers, &error));
  CHECK_FALSE(parse_cluster_peers("1@h:7101:7001:7443:9", &peers, &error));
}
