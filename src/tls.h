// src/tls.h — TLS for the client port (tls-port) and the Raft peer port
// (tls-replication), with OpenSSL 3 driven entirely through memory BIOs.
//
// libuv owns the sockets; OpenSSL never touches a file descriptor. Each
// connection has a TlsSession holding an SSL object between two BIO_s_mem:
// ciphertext read from the socket is fed into the read BIO and SSL_read
// yields plaintext; plaintext given to write() goes through SSL_write into
// the write BIO, whose bytes the caller drains with take_output() and writes
// to the socket. Nothing here blocks or does I/O, so the loop never waits on
// a handshake: a handshake simply advances each time bytes arrive.
//
// TlsContext is the shared, immutable configuration (certificate, key, CA,
// protocols, ciphers) built once at startup from the tls-* directives.
//
// The small glue for client connections (tls_client_input/tls_client_seal)
// lives here too, so src/server.cc only calls two functions from its read
// and flush paths.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

// OpenSSL types, declared so that including this header does not pull in
// <openssl/ssl.h> everywhere.
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace kvraft {

struct Config;
class Client;

// Which tls-* settings a context is built from (see Config).
struct TlsOptions {
  std::string cert_file;     // PEM certificate chain (ours, server and client role)
  std::string key_file;      // PEM private key for cert_file
  std::string ca_cert_file;  // PEM CA bundle that peers' certificates must chain to
  std::string ca_cert_dir;   // or a hashed CA directory (c_rehash); either may be empty
  std::string protocols;     // "TLSv1.2 TLSv1.3" (empty: those two)
  std::string ciphers;       // TLSv1.2 cipher list; empty: OpenSSL's default
  std::string ciphersuites;  // TLSv1.3 suites; empty: OpenSSL's default
  bool need_ca = false;      // refuse to start without ca_cert_file/ca_cert_dir

  static TlsOptions from_config(const Config& config);
};

// An SSL_CTX built from TlsOptions. Immutable after create(); shared by every
// session (the server's client listeners and the peer transport).
class TlsContext {
 public:
  // Loads the certificate, key and CA and applies protocols/ciphers. Returns
  // null with a message naming the file or setting in *error on failure.
  static std::shared_ptr<TlsContext> create(const TlsOptions& options, std::string* error);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* native() const { return ctx_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;  // owned; never null
};

// How a session treats the remote's certificate.
enum class TlsVerify {
  kNone,      // no certificate asked for (tls-auth-clients no)
  kOptional,  // asked for; verified against the CA if presented (optional)
  kRequire,   // must present one that chains to the CA (yes; both peer roles)
};

// Parses tls-auth-clients ("yes" / "no" / "optional").
TlsVerify tls_verify_from_auth_clients(const std::string& value);

// One TLS connection over memory BIOs. Not thread-safe (the loop thread only).
class TlsSession {
 public:
  enum class Role { kServer, kClient };

  // The context must outlive the session. A kClient session always verifies
  // the server's certificate against the CA, whatever `verify` says.
  TlsSession(const TlsContext& context, Role role, TlsVerify verify);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Where the socket's bytes should be read into (owned by the session) and
  // how many fit; hand them to feed() afterwards.
  char* read_buffer() { return read_buf_.get(); }
  size_t read_buffer_size() const { return kReadBufferSize; }

  // Feeds ciphertext received from the socket and advances the handshake.
  // Afterwards read() yields any plaintext it completed and take_output()
  // whatever must be sent back. False on a fatal TLS error (error() says
  // why, and take_output() may hold an alert worth sending before closing).
  bool feed(std::string_view ciphertext);
  // Decrypts up to `capacity` bytes into `out`: the count (0 when nothing
  // complete is buffered), or -1 on a fatal error or the peer's close_notify.
  long read(char* out, size_t capacity);
  // Convenience for callers that take plaintext as strings: feed() then
  // read() until drained, appending to *plaintext.
  bool decrypt(std::string_view ciphertext, std::string* plaintext);
  // Queues plaintext for the remote. Before the handshake completes it is
  // held and encrypted as soon as it does. False on a fatal error.
  bool write(std::string_view plaintext);
  // Client role: produces the ClientHello (call once, after connecting).
  bool start();

  // Ciphertext to write to the socket (handshake records, alerts, data).
  bool has_output() const;
  std::string take_output();

  bool established() const { return established_; }
  const std::string& error() const { return error_; }

  static constexpr size_t kReadBufferSize = 16 * 1024 + 512;  // one TLS record

 private:
  // Runs the handshake while it is in progress; flushes held plaintext once
  // it completes. False (with error_ set) on failure.
  bool advance();
  bool write_now(std::string_view plaintext);
  // Records a fatal error from the last SSL call (`ret` its return value).
  void fail(const char* what, int ret);

  SSL* ssl_ = nullptr;
  BIO* rbio_ = nullptr;  // owned by ssl_: ciphertext in
  BIO* wbio_ = nullptr;  // owned by ssl_: ciphertext out
  std::unique_ptr<char[]> read_buf_;
  // Plaintext written before the handshake finished; empty once established_.
  std::string held_plaintext_;
  bool established_ = false;
  bool failed_ = false;  // sticky: every call after a fatal error fails
  std::string error_;
};

// --- client connection glue (used by src/server.cc) ---------------------
// Decrypts `n` bytes read into the client's TLS read buffer into its query
// buffer, and schedules a flush when the handshake produced bytes to send.
// False when the connection must be closed (the reason is logged once).
bool tls_client_input(Client& client, size_t n);
// Encrypts every reply byte the client has queued, leaving only ciphertext
// in client.reply for the ordinary flush to write. False on a fatal error.
bool tls_client_seal(Client& client);

}  // namespace kvraft
