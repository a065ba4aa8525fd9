// Unit tests for client-output-buffer-limit: the directive's Redis syntax
// and the hard / soft-for-seconds rule applied to a client's pending output.
#include <doctest/doctest.h>

#include "src/client.h"
#include "src/client_limits.h"
#include "src/config.h"
#include "src/server.h"

using kvraft::ClientBufferLimit;
using kvraft::Config;

TEST_CASE("client-output-buffer-limit takes Redis's groups of four and renders all classes") {
  Config c;
  CHECK(c.client_obuf_normal == ClientBufferLimit{0, 0, 0});  // Redis's default: unlimited
  std::vector<std::pair<std::string, std::string>> got;
  kvraft::config_get(c, "client-output-buffer-limit", &got);
  REQUIRE(got.size() == 1);
  CHECK(got[0].second == "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60");

  CHECK(kvraft::config_set(c, "client-output-buffer-limit", {"normal", "1mb", "256kb", "5"}, true)
            .empty());
  CHECK(c.client_obuf_normal == ClientBufferLimit{1 << 20, 256 << 10, 5});
  CHECK(kvraft::config_set(c, "client-output-buffer-limit",
                           {"replica", "1gb", "0", "0", "pubsub", "1", "2", "3"}, true)
            .empty());
  CHECK(c.client_obuf_replica == ClientBufferLimit{1LL << 30, 0, 0});
  CHECK(c.client_obuf_pubsub == ClientBufferLimit{1, 2, 3});

  // A bad group changes nothing, not even the valid groups before it.
  CHECK(kvraft::config_set(c, "client-output-buffer-limit",
                           {"normal", "5", "5", "5", "bogus", "1", "1", "1"}, true) ==
        "Invalid client class specified in buffer limit configuration.");
  CHECK(kvraft::config_set(c, "client-output-buffer-limit", {"normal", "x", "1", "1"}, true) ==
        "Error in hard, soft or soft_seconds setting in buffer limit configuration.");
  CHECK(kvraft::config_set(c, "client-output-buffer-limit", {"normal", "1", "1"}, true) ==
        "wrong number of arguments");
  CHECK(c.client_obuf_normal == ClientBufferLimit{1 << 20, 256 << 10, 5});

  std::string err;
  CHECK(kvraft::load_config_text(c, "client-output-buffer-limit normal 10mb 2mb 30\n", "t.conf",
                                 &err));
  CHECK(c.client_obuf_normal == ClientBufferLimit{10 << 20, 2 << 20, 30});
}

TEST_CASE("the hard limit closes at once; the soft limit only after soft-seconds above it") {
  kvraft::Server server{Config{}};
  kvraft::Client client(&server, 1);
  const ClientBufferLimit limit{1000, 100, 2};
  CHECK_FALSE(kvraft::output_limit_reached(client, 50, limit, 10'000));
  CHECK_FALSE(kvraft::output_limit_reached(client, 999, limit, 10'000));  // soft starts counting
  CHECK(client.obuf_soft_limit_since_ms == 10'000);
  CHECK_FALSE(kvraft::output_limit_reached(client, 500, limit, 11'999));
  CHECK(kvraft::output_limit_reached(client, 500, limit, 12'000));
  // Dropping below the soft limit resets the clock.
  CHECK_FALSE(kvraft::output_limit_reached(client, 10, limit, 12'001));
  CHECK(client.obuf_soft_limit_since_ms == 0);
  CHECK_FALSE(kvraft::output_limit_reached(client, 200, limit, 13'000));
  CHECK_FALSE(kvraft::output_limit_reached(client, 200, limit, 14'999));
  CHECK(kvraft::output_limit_reached(client, 1000, limit, 15'000));  // hard
  // 0 disables a limit.
  kvraft::Client other(&server, 2);
  CHECK_FALSE(kvraft::output_limit_reached(other, 1ull << 40, ClientBufferLimit{}, 0));
  CHECK_FALSE(kvraft::output_limit_reached(other, 1ull << 40, ClientBufferLimit{0, 10, 0}, 1));
  CHECK(kvraft::output_limit_reached(other, 1ull << 40, ClientBufferLimit{0, 10, 0}, 2));

  // What counts: the reply buffer and ready replies queued behind a waiting one.
  client.reply.raw("abc");
  uint64_t slot = client.reserve_reply();
  client.reply_in_order([](kvraft::resp::ReplyWriter& w) { w.raw("12345"); });
  CHECK(kvraft::client_output_bytes(client) == 8);
  CHECK(client.fill_reply(slot, "xy"));
  CHECK(client.pending_reply_bytes == 0);
  CHECK(kvraft::client_output_bytes(client) == 10);
}
