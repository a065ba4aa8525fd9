// Integration tests of the server shell: connections, protocol handling,
// dispatch errors, and the server/connection commands, against a real
// kvraft-server process on a free loopback port.
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <thread>

#include "tests/support/redis_client.h"
#include "tests/support/test_support.h"

using kvraft::test::raw_exchange;
using kvraft::test::RedisConnection;
using kvraft::test::ServerProcess;

TEST_CASE("server answers PING and ECHO like Redis") {
  ServerProcess server;
  RedisConnection c(server.port());
  CHECK(c.run({"PING"}) == "PONG");
  CHECK(c.run({"ping", "hello world"}) == "hello world");
  CHECK(c.run({"PING", "a", "b"}) == "(error) ERR wrong number of arguments for 'ping' command");
  CHECK(c.run({"ECHO", std::string("bin\0ary\r\n", 9)}) == std::string("bin\0ary\r\n", 9));
}

TEST_CASE("unknown commands and wrong arity get Redis's error texts") {
  ServerProcess server;
  RedisConnection c(server.port());
  CHECK(c.run({"NOSUCH", "a", "b"}) ==
        "(error) ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' ");
  CHECK(c.run({"nosuch"}) == "(error) ERR unknown command 'nosuch', with args beginning with: ");
  CHECK(c.run({"ECHO"}) == "(error) ERR wrong number of arguments for 'echo' command");
  // Internal commands are not reachable by clients.
  CHECK(c.run({"KVRAFT.EXPIRE-KEYS", "k"}).rfind("(error) ERR unknown command", 0) == 0);
  // The connection is still usable after errors.
  CHECK(c.run({"PING"}) == "PONG");
}

TEST_CASE("SELECT validates the database index") {
  ServerProcess server({"--databases", "4"});
  RedisConnection c(server.port());
  CHECK(c.run({"SELECT", "3"}) == "OK");
  CHECK(c.run({"SELECT", "4"}) == "(error) ERR DB index is out of range");
  CHECK(c.run({"SELECT", "-1"}) == "(error) ERR DB index is out of range");
  CHECK(c.run({"SELECT", "x"}) == "(error) ERR value is not an integer or out of range");
}

TEST_CASE("requirepass: NOAUTH until AUTH, WRONGPASS for bad passwords") {
  ServerProcess server({"--requirepass", "s3cret"});
  RedisConnection c(server.port());
  CHECK(c.run({"PING"}) == "(error) NOAUTH Authentication required.");
  CHECK(c.run({"AUTH", "wrong"}) ==
        "(error) WRONGPASS invalid username-password pair or user is disabled.");
  CHECK(c.run({"AUTH", "default", "wrong"}) ==
        "(error) WRONGPASS invalid username-password pair or user is disabled.");
  CHECK(c.run({"AUTH", "s3cret"}) == "OK");
  CHECK(c.run({"PING"}) == "PONG");
  RedisConnection d(server.port());
  CHECK(d.run({"HELLO", "2", "AUTH", "default", "s3cret"}).rfind("[server, redis,", 0) == 0);
  CHECK(d.run({"PING"}) == "PONG");
}

TEST_CASE("AUTH without a configured password is an error") {
  ServerProcess server;
  RedisConnection c(server.port());
  CHECK(c.run({"AUTH", "x"}) ==
        "(error) ERR AUTH <password> called without any password configured for the default "
        "user. Are you sure your configuration is correct?");
}

TEST_CASE("HELLO switches to RESP3 and replies with a map") {
  ServerProcess server;
  std::string out = raw_exchange(server.port(), "HELLO 3\r\nPING\r\nCONFIG GET port\r\n");
  CHECK(out.rfind("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n", 0) == 0);
  CHECK(out.find("$5\r\nproto\r\n:3\r\n") != std::string::npos);
  CHECK(out.find("+PONG\r\n") != std::string::npos);
  // CONFIG GET answers a map in RESP3.
  CHECK(out.find("%1\r\n$4\r\nport\r\n") != std::string::npos);
  std::string bad = raw_exchange(server.port(), "HELLO 4\r\n");
  CHECK(bad == "-NOPROTO unsupported protocol version\r\n");
}

TEST_CASE("CLIENT SETNAME, GETNAME, ID, INFO, LIST and SETINFO") {
  ServerProcess server;
  RedisConnection c(server.port());
  CHECK(c.run({"CLIENT", "GETNAME"}) == "(nil)");
  CHECK(c.run({"CLIENT", "SETNAME", "worker-1"}) == "OK");
  CHECK(c.run({"CLIENT", "GETNAME"}) == "worker-1");
  CHECK(c.run({"CLIENT", "SETNAME", "has space"}) ==
        "(error) ERR Client names cannot contain spaces, newlines or special characters.");
  CHECK(c.run({"CLIENT", "SETINFO", "LIB-NAME", "mylib"}) == "OK");
  CHECK(c.run({"CLIENT", "SETINFO", "BOGUS", "x"}) == "(error) ERR Unrecognized option 'BOGUS'");
  auto id = c.cmd({"CLIENT", "ID"});
  REQUIRE(id.type == kvraft::test::Reply::Type::kInteger);
  std::string info = c.run({"CLIENT", "INFO"});
  CHECK(info.find("id=" + std::to_string(id.integer) + " ") == 0);
  CHECK(info.find(" name=worker-1 ") != std::string::npos);
  CHECK(info.find(" lib-name=mylib") != std::string::npos);
  RedisConnection other(server.port());
  CHECK(other.run({"PING"}) == "PONG");  // accepted by now
  std::string list = c.run({"CLIENT", "LIST"});
  CHECK(std::count(list.begin(), list.end(), '\n') == 2);
  CHECK(c.run({"CLIENT", "NOPE"}) == "(error) ERR unknown subcommand 'NOPE'. Try CLIENT HELP.");
  CHECK(c.run({"CLIENT", "KILL", "ID", "999999"}) == "(integer) 0");
}

TEST_CASE("CONFIG GET/SET: the directives redis-benchmark and tools ask for") {
  ServerProcess server;
  RedisConnection c(server.port());
  CHECK(c.run({"CONFIG", "GET", "save"}) == "[save, ]");
  CHECK(c.run({"CONFIG", "GET", "appendonly"}) == "[appendonly, no]");
  CHECK(c.run({"CONFIG", "GET", "port"}) == "[port, " + std::to_string(server.port()) + "]");
  CHECK(c.run({"CONFIG", "GET", "nosuchthing"}) == "[]");
  CHECK(c.run({"CONFIG", "SET", "timeout", "30"}) == "OK");
  CHECK(c.run({"CONFIG", "GET", "timeout"}) == "[timeout, 30]");
  CHECK(c.run({"CONFIG", "SET", "timeout", "abc"})
            .rfind("(error) ERR CONFIG SET failed (possibly related to argument 'timeout')", 0) ==
        0);
  CHECK(c.run({"CONFIG", "SET", "port", "1234"}).find("can't set immutable config") !=
        std::string::npos);
  CHECK(c.run({"CONFIG", "SET", "appendonly", "yes"}).find("unsupported value") !=
        std::string::npos);
  // A failing directive in a multi-set changes nothing.
  CHECK(c.run({"CONFIG", "SET", "timeout", "5", "hz", "100000"}).rfind("(error)", 0) == 0);
  CHECK(c.run({"CONFIG", "GET", "timeout"}) == "[timeout, 30]");
}

TEST_CASE("INFO has Redis's sections and fields") {
  ServerProcess server;
  RedisConnection c(server.port());
  std::string all = c.run({"INFO"});
  for (const char* s :
       {"# Server\r\n", "# Clients\r\n", "# Memory\r\n", "# Stats\r\n", "# Replication\r\n",
        "# Keyspace\r\n", "redis_version:", "connected_clients:", "used_memory:",
        "total_commands_processed:", "role:master\r\n"})
    CHECK_MESSAGE(all.find(s) != std::string::npos, s);
  std::string mem = c.run({"INFO", "memory"});
  CHECK(mem.rfind("# Memory\r\n", 0) == 0);
  CHECK(mem.find("# Server") == std::string::npos);
}

TEST_CASE("COMMAND COUNT, INFO and DOCS describe the command table") {
  ServerProcess server;
  RedisConnection c(server.port());
  auto count = c.cmd({"COMMAND", "COUNT"});
  CHECK(count.integer > 20);
  auto all = c.cmd({"COMMAND"});
  CHECK(static_cast<long long>(all.elements.size()) == count.integer);
  // redis-cli asserts this shape for every entry: name, arity, flags, first key...
  for (const auto& e : all.elements) {
    REQUIRE(e.type == kvraft::test::Reply::Type::kArray);
    REQUIRE(e.elements.size() == 10);
    CHECK(e.elements[0].type == kvraft::test::Reply::Type::kString);
    CHECK(e.elements[1].type == kvraft::test::Reply::Type::kInteger);
    CHECK(e.elements[3].type == kvraft::test::Reply::Type::kInteger);
  }
  auto info = c.cmd({"COMMAND", "INFO", "echo", "nosuch"});
  REQUIRE(info.elements.size() == 2);
  CHECK(info.elements[0].elements[0].str == "echo");
  CHECK(info.elements[0].elements[1].integer == 2);
  CHECK(info.elements[1].type == kvraft::test::Reply::Type::kNil);
  std::string docs = c.run({"COMMAND", "DOCS", "hello"});
  CHECK(docs.find("summary, Handshakes with the server.") != std::string::npos);
  CHECK(docs.find("token, AUTH") != std::string::npos);
}

TEST_CASE("a pipeline of 10,000 commands is answered in order") {
  ServerProcess server;
  RedisConnection c(server.port());
  for (int i = 0; i < 10000; ++i)
    c.append({"ECHO", std::to_string(i)});
  for (int i = 0; i < 10000; ++i)
    REQUIRE(c.read().str == std::to_string(i));
}

TEST_CASE("a protocol error gets its reply, closes only that connection") {
  ServerProcess server;
  RedisConnection bystander(server.port());
  bool closed = false;
  std::string out =
      raw_exchange(server.port(), "PING\r\n*99999999999\r\n", std::chrono::seconds(2), &closed);
  CHECK(out == "+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n");
  CHECK(closed);
  out = raw_exchange(server.port(), "*1\r\n$999999999999\r\n", std::chrono::seconds(2), &closed);
  CHECK(out == "-ERR Protocol error: invalid bulk length\r\n");
  CHECK(closed);
  out = raw_exchange(server.port(), std::string(70 * 1024, 'a'), std::chrono::seconds(2), &closed);
  CHECK(out == "-ERR Protocol error: too big inline request\r\n");
  CHECK(closed);
  out = raw_exchange(server.port(), "*1\r\nx\r\n", std::chrono::seconds(2), &closed);
  CHECK(out == "-ERR Protocol error: expected '$', got 'x'\r\n");
  CHECK(closed);
  CHECK(bystander.run({"PING"}) == "PONG");
}

TEST_CASE("inline commands work as in redis-server") {
  ServerProcess server;
  std::string out = raw_exchange(server.port(), "PING\r\necho \"a b\\x41\"\n\r\nQUIT\r\n");
  CHECK(out == "+PONG\r\n$4\r\na bA\r\n+OK\r\n");
}

TEST_CASE("random bytes never crash the server") {
  ServerProcess server;
  uint64_t seed = 12345;
  for (int round = 0; round < 200; ++round) {
    std::string junk;
    for (int i = 0; i < 512; ++i) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      junk.push_back(static_cast<char>(seed >> 56));
    }
    raw_exchange(server.port(), junk, std::chrono::milliseconds(20));
  }
  RedisConnection c(server.port());
  CHECK(c.run({"PING"}) == "PONG");
  CHECK(server.process().running());
}

TEST_CASE("QUIT replies OK and closes") {
  ServerProcess server;
  bool closed = false;
  std::string out =
      raw_exchange(server.port(), "QUIT\r\nPING\r\n", std::chrono::seconds(2), &closed);
  CHECK(out == "+OK\r\n");
  CHECK(closed);
}

namespace {
// Waits until the server counts exactly `n` connections (the startup probe's
// connection may not have been reaped yet).
void wait_connected_clients(RedisConnection& c, int n) {
  std::string want = "connected_clients:" + std::to_string(n) + "\r\n";
  for (int i = 0; i < 200; ++i) {
    if (c.run({"INFO", "clients"}).find(want) != std::string::npos) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL("server never reported " << want);
}
}  // namespace

TEST_CASE("maxclients refuses connections beyond the limit") {
  ServerProcess server({"--maxclients", "2"});
  RedisConnection a(server.port());
  wait_connected_clients(a, 1);
  RedisConnection b(server.port());
  CHECK(a.run({"PING"}) == "PONG");
  bool closed = false;
  std::string out = raw_exchange(server.port(), "PING\r\n", std::chrono::seconds(2), &closed);
  CHECK(out == "-ERR max number of clients reached\r\n");
  CHECK(closed);
  CHECK(b.run({"PING"}) == "PONG");
}

TEST_CASE("idle clients are closed after timeout seconds") {
  ServerProcess server({"--timeout", "1"});
  bool closed = false;
  auto start = std::chrono::steady_clock::now();
  raw_exchange(server.port(), "PING\r\n", std::chrono::seconds(5), &closed);
  CHECK(closed);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(4));
}

TEST_CASE("SIGTERM shuts the server down cleanly") {
  ServerProcess server;
  server.process().signal(SIGTERM);
  int status = server.process().wait(std::chrono::seconds(5));
  REQUIRE(status != -1);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("a bad config directive stops startup with the file and line") {
  kvraft::test::TempDir dir;
  std::string conf = dir.file("bad.conf");
  FILE* f = fopen(conf.c_str(), "w");
  fputs("port 7001\n# comment\nnosuchdirective 1\n", f);
  fclose(f);
  kvraft::test::ChildProcess p({kvraft::test::server_binary(), conf}, dir.file("log"));
  int status = p.wait(std::chrono::seconds(5));
  REQUIRE(status != -1);
  CHECK(WEXITSTATUS(status) == 1);
  std::string log = kvraft::test::read_file(dir.file("log"));
  CHECK(log.find("bad.conf:3") != std::string::npos);
  CHECK(log.find("nosuchdirective") != std::string::npos);
}
