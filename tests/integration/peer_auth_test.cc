// Integration test of peer authentication on the raft port: a 3-node
// cluster with a cluster-secret replicates normally, while a raw socket
// that cannot prove the secret, or sends garbage, is refused (and logged
// with its address) without disturbing the cluster.
#include <doctest/doctest.h>
#include <xxhash.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "tests/support/cluster.h"
#include "tests/support/redis_client.h"
#include "tests/support/test_support.h"

using kvraft::test::LocalCluster;
using kvraft::test::raw_exchange;
using kvraft::test::RedisConnection;

namespace {

void put_u32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// A version-2 Handshake frame (raft/wire.h) for node `id` of cluster
// `cluster` with a proof made without the secret.
std::string forged_handshake(uint64_t id, const std::string& cluster) {
  std::string payload;
  put_u32(&payload, 2);
  for (int i = 0; i < 8; ++i)
    payload.push_back(static_cast<char>((id >> (8 * i)) & 0xff));
  put_u32(&payload, static_cast<uint32_t>(cluster.size()));
  payload += cluster;
  put_u32(&payload, 16);
  payload += std::string(16, 'n');
  put_u32(&payload, 32);
  payload += std::string(32, 'p');
  std::string frame = "KVR";
  frame.push_back(2);
  frame.push_back(static_cast<char>(0x80));
  put_u32(&frame, static_cast<uint32_t>(payload.size()));
  frame += payload;
  uint64_t sum = XXH3_64bits(frame.data(), frame.size());
  for (int i = 0; i < 8; ++i)
    frame.push_back(static_cast<char>((sum >> (8 * i)) & 0xff));
  return frame;
}

template <typename Fn>
bool eventually(Fn fn, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fn()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace

TEST_CASE("a cluster with a secret replicates; peers without it and garbage are refused") {
  const std::string secret = "shared-s3cret-value";
  LocalCluster cluster(3, {"--cluster-secret", secret});
  int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  {
    RedisConnection c(cluster.port(leader));
    CHECK(c.run({"SET", "before", "1"}) == "OK");
  }
  REQUIRE(cluster.wait_converged());

  int victim = (leader + 1) % 3;
  // Garbage: refused at once.
  bool closed = false;
  std::string got = raw_exchange(cluster.raft_port(victim), "GET / HTTP/1.1\r\n\r\n",
                                 std::chrono::milliseconds(2000), &closed);
  CHECK(closed);
  // The node spoke first with its challenge, which never holds the secret.
  CHECK(got.starts_with("KVR"));
  CHECK(got.find(secret) == std::string::npos);
  // A handshake claiming to be a member but unable to prove the secret.
  closed = false;
  raw_exchange(cluster.raft_port(victim),
               forged_handshake(static_cast<uint64_t>(leader + 1), "kvraft"),
               std::chrono::milliseconds(2000), &closed);
  CHECK(closed);
  CHECK(eventually([&] {
    std::string log = cluster.log(victim);
    return log.find("bad magic") != std::string::npos &&
           log.find("wrong shared secret") != std::string::npos;
  }));
  CHECK(cluster.log(victim).find("Raft peer connection from 127.0.0.1:") != std::string::npos);

  // The cluster keeps working, through the node that refused the impostors.
  {
    RedisConnection c(cluster.port(victim));
    CHECK(c.run({"SET", "after", "2"}) == "OK");
  }
  REQUIRE(cluster.wait_converged());
  for (int i = 0; i < 3; ++i) {
    RedisConnection c(cluster.port(i));
    CHECK(c.run({"EXISTS", "before", "after"}) == "(integer) 2");
  }
}
