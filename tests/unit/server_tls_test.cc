// tests/unit/server_tls_test.cc — TlsContext and TlsSession (src/tls.h)
// without sockets: two sessions talk by handing each other's take_output()
// to feed(), exactly as the server's read and flush paths do. The keys and
// certificates are generated with the openssl tool into a temp dir per run.
#include "src/tls.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "tests/support/test_support.h"

using kvraft::TlsContext;
using kvraft::TlsOptions;
using kvraft::TlsSession;
using kvraft::TlsVerify;

namespace {

// A throwaway PKI: CA "ca" signs "server" and "client"; "otherca" signs "rogue".
struct Pki {
  kvraft::test::TempDir dir{"kvraft-tls-test"};

  Pki() {
    std::string d = dir.path();
    auto run = [](const std::string& cmd) {
      REQUIRE_MESSAGE(std::system((cmd + " >/dev/null 2>&1").c_str()) == 0, cmd);
    };
    for (const char* ca : {"ca", "otherca"})
      run("openssl req -x509 -new -nodes -newkey rsa:2048 -days 1 -subj /CN=" + std::string(ca) +
          " -keyout " + d + "/" + ca + ".key -out " + d + "/" + ca + ".crt");
    for (auto [name, ca] : {std::pair{"server", "ca"}, {"client", "ca"}, {"rogue", "otherca"}}) {
      std::string n = d + "/" + name;
      run("openssl req -new -nodes -newkey rsa:2048 -subj /CN=" + std::string(name) + " -keyout " +
          n + ".key -out " + n + ".csr");
      run("openssl x509 -req -in " + n + ".csr -CA " + d + "/" + ca + ".crt -CAkey " + d + "/" +
          ca + ".key -CAcreateserial -days 1 -out " + n + ".crt");
    }
  }

  TlsOptions options(const std::string& cert, const std::string& ca = "ca") const {
    TlsOptions o;
    o.cert_file = dir.file(cert + ".crt");
    o.key_file = dir.file(cert + ".key");
    o.ca_cert_file = dir.file(ca + ".crt");
    o.need_ca = true;
    return o;
  }

  std::shared_ptr<TlsContext> context(const TlsOptions& o) const {
    std::string error;
    auto ctx = TlsContext::create(o, &error);
    REQUIRE_MESSAGE(ctx != nullptr, error);
    return ctx;
  }
};

const Pki& pki() {
  static const Pki kPki;
  return kPki;
}

// Shuttles ciphertext both ways until neither side has anything to send.
// Plaintext each side decrypts is appended to its string. False as soon as
// either side fails.
bool exchange(TlsSession& client, TlsSession& server, std::string* at_client,
              std::string* at_server) {
  for (int round = 0; round < 100; ++round) {
    std::string to_server = client.take_output();
    std::string to_client = server.take_output();
    if (to_server.empty() && to_client.empty()) return true;
    if (!to_server.empty() && !server.decrypt(to_server, at_server)) return false;
    if (!to_client.empty() && !client.decrypt(to_client, at_client)) return false;
  }
  FAIL("sessions kept talking for 100 rounds");
  return false;
}

}  // namespace

TEST_CASE("tls session pair completes the handshake and carries data both ways") {
  auto server_ctx = pki().context(pki().options("server"));
  auto client_ctx = pki().context(pki().options("client"));
  TlsSession server(*server_ctx, TlsSession::Role::kServer, TlsVerify::kRequire);
  TlsSession client(*client_ctx, TlsSession::Role::kClient, TlsVerify::kRequire);
  // Written before the handshake: held, then sent once it completes.
  REQUIRE(client.write("*1\r\n$4\r\nPING\r\n"));
  CHECK_FALSE(client.established());
  std::string at_client, at_server;
  REQUIRE(exchange(client, server, &at_client, &at_server));
  CHECK(client.established());
  CHECK(server.established());
  CHECK(at_server == "*1\r\n$4\r\nPING\r\n");
  REQUIRE(server.write("+PONG\r\n"));
  REQUIRE(exchange(client, server, &at_client, &at_server));
  CHECK(at_client == "+PONG\r\n");
}

TEST_CASE("tls session carries a value larger than many records, fed in small pieces") {
  auto server_ctx = pki().context(pki().options("server"));
  auto client_ctx = pki().context(pki().options("client"));
  TlsSession server(*server_ctx, TlsSession::Role::kServer, TlsVerify::kRequire);
  TlsSession client(*client_ctx, TlsSession::Role::kClient, TlsVerify::kRequire);
  std::string at_client, at_server;
  REQUIRE(client.start());
  REQUIRE(exchange(client, server, &at_client, &at_server));
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<char>(i * 131 + (i >> 11));
  REQUIRE(server.write(big));
  std::string cipher = server.take_output();
  CHECK(cipher.size() > big.size());
  // The server's read path feeds one socket read (up to a record) at a time.
  for (size_t off = 0; off < cipher.size(); off += 1000) {
    std::string_view piece = std::string_view(cipher).substr(off, 1000);
    REQUIRE(client.feed(piece));
    char buf[4096];
    for (long n; (n = client.read(buf, sizeof buf)) > 0;)
      at_client.append(buf, static_cast<size_t>(n));
  }
  CHECK(at_client == big);
}

TEST_CASE("tls server requiring a client certificate refuses one from another CA") {
  auto server_ctx = pki().context(pki().options("server"));
  // The rogue client trusts the server's CA but its own cert is from otherca.
  auto rogue_ctx = pki().context(pki().options("rogue", "ca"));
  TlsSession server(*server_ctx, TlsSession::Role::kServer, TlsVerify::kRequire);
  TlsSession client(*rogue_ctx, TlsSession::Role::kClient, TlsVerify::kRequire);
  REQUIRE(client.write("hello"));
  std::string at_client, at_server;
  CHECK_FALSE(exchange(client, server, &at_client, &at_server));
  CHECK(at_server.empty());
  CHECK(server.error().find("certificate verify failed") != std::string::npos);
  // Sticky: the failed session refuses everything after.
  CHECK_FALSE(server.write("x"));
  CHECK(server.read(nullptr, 0) == -1);
}

TEST_CASE("tls server with tls-auth-clients no accepts a client it could not verify") {
  auto server_ctx = pki().context(pki().options("server"));
  auto rogue_ctx = pki().context(pki().options("rogue", "ca"));
  TlsSession server(*server_ctx, TlsSession::Role::kServer, TlsVerify::kNone);
  TlsSession client(*rogue_ctx, TlsSession::Role::kClient, TlsVerify::kRequire);
  REQUIRE(client.write("hello"));
  std::string at_client, at_server;
  REQUIRE(exchange(client, server, &at_client, &at_server));
  CHECK(at_server == "hello");
}

TEST_CASE("tls client refuses a server whose certificate its CA did not sign") {
  auto server_ctx = pki().context(pki().options("rogue", "ca"));
  auto client_ctx = pki().context(pki().options("client"));
  TlsSession server(*server_ctx, TlsSession::Role::kServer, TlsVerify::kNone);
  TlsSession client(*client_ctx, TlsSession::Role::kClient, TlsVerify::kRequire);
  REQUIRE(client.write("secret"));
  std::string at_client, at_server;
  CHECK_FALSE(exchange(client, server, &at_client, &at_server));
  CHECK(at_server.empty());
  CHECK(client.error().find("certificate verify failed") != std::string::npos);
}

TEST_CASE("tls server fails cleanly on plain RESP and on garbage") {
  auto server_ctx = pki().context(pki().options("server"));
  for (std::string input : {std::string("*1\r\n$4\r\nPING\r\n"), std::string(5000, '\x16')}) {
    TlsSession server(*server_ctx, TlsSession::Role::kServer, TlsVerify::kRequire);
    std::string plain;
    CHECK_FALSE(server.decrypt(input, &plain));
    CHECK(plain.empty());
    CHECK_FALSE(server.error().empty());
  }
}

TEST_CASE("tls sessions without a common protocol version fail the handshake") {
  TlsOptions server_opts = pki().options("server");
  server_opts.protocols = "TLSv1.3";
  TlsOptions client_opts = pki().options("client");
  client_opts.protocols = "TLSv1.2";
  auto server_ctx = pki().context(server_opts);
  auto client_ctx = pki().context(client_opts);
  TlsSession server(*server_ctx, TlsSession::Role::kServer, TlsVerify::kRequire);
  TlsSession client(*client_ctx, TlsSession::Role::kClient, TlsVerify::kRequire);
  REQUIRE(client.start());
  std::string at_client, at_server;
  CHECK_FALSE(exchange(client, server, &at_client, &at_server));
}

TEST_CASE("tls context reports configuration errors naming the file or setting") {
  std::string error;
  TlsOptions o = pki().options("server");
  o.key_file = pki().dir.file("client.key");
  CHECK(TlsContext::create(o, &error) == nullptr);
  CHECK(error.find("client.key") != std::string::npos);

  o = pki().options("server");
  o.cert_file = pki().dir.file("nosuch.crt");
  CHECK(TlsContext::create(o, &error) == nullptr);
  CHECK(error.find("nosuch.crt") != std::string::npos);

  o = pki().options("server");
  o.ca_cert_file.clear();
  CHECK(TlsContext::create(o, &error) == nullptr);
  CHECK(error.find("tls-ca-cert-file") != std::string::npos);
  o.need_ca = false;  // tls-auth-clients no without tls-replication
  CHECK(TlsContext::create(o, &error) != nullptr);

  o = pki().options("server");
  o.protocols = "TLSv1.2 SSLv3";
  CHECK(TlsContext::create(o, &error) == nullptr);
  CHECK(error.find("unknown protocol 'SSLv3'") != std::string::npos);

  o = pki().options("server");
  o.ciphers = "NO-SUCH-CIPHER";
  CHECK(TlsContext::create(o, &error) == nullptr);
  CHECK(error.find("tls-ciphers") != std::string::npos);
}

TEST_CASE("tls-auth-clients values map to verification modes") {
  CHECK(kvraft::tls_verify_from_auth_clients("yes") == TlsVerify::kRequire);
  CHECK(kvraft::tls_verify_from_auth_clients("no") == TlsVerify::kNone);
  CHECK(kvraft::tls_verify_from_auth_clients("optional") == TlsVerify::kOptional);
}

TEST_CASE("tls-ca-cert-dir: a hashed CA directory verifies like a CA file") {
  std::string dir = pki().dir.file("cadir");
  std::string cmd = "mkdir -p " + dir + " && cp " + pki().dir.file("ca.crt") + " " + dir +
                    " && openssl rehash " + dir + " >/dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  TlsOptions server_opts = pki().options("server");
  server_opts.ca_cert_file.clear();
  server_opts.ca_cert_dir = dir;
  auto server_ctx = pki().context(server_opts);
  auto client_ctx = pki().context(pki().options("client"));
  auto rogue_ctx = pki().context(pki().options("rogue", "ca"));
  std::string at_client, at_server;
  {
    TlsSession server(*server_ctx, TlsSession::Role::kServer, TlsVerify::kRequire);
    TlsSession client(*client_ctx, TlsSession::Role::kClient, TlsVerify::kRequire);
    REQUIRE(client.write("ok"));
    REQUIRE(exchange(client, server, &at_client, &at_server));
    CHECK(at_server == "ok");
  }
  TlsSession server(*server_ctx, TlsSession::Role::kServer, TlsVerify::kRequire);
  TlsSession rogue(*rogue_ctx, TlsSession::Role::kClient, TlsVerify::kRequire);
  REQUIRE(rogue.write("no"));
  CHECK_FALSE(exchange(rogue, server, &at_client, &at_server));
  CHECK(at_server == "ok");
}
