// src/tls.cc — OpenSSL contexts and memory-BIO sessions (see tls.h).
#include "src/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <strings.h>
#include <uv.h>

#include <algorithm>
#include <climits>
#include <sstream>

#include "src/client.h"
#include "src/config.h"
#include "src/log.h"
#include "src/server.h"

namespace kvraft {

namespace {

// Longest plaintext handed to one SSL_write (its length is an int).
constexpr size_t kMaxWriteChunk = size_t{1} << 20;

// The oldest queued OpenSSL error as text, the queue cleared; `fallback`
// when OpenSSL queued none.
std::string openssl_error(const std::string& fallback) {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return fallback;
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

struct ProtocolName {
  const char* name;
  uint64_t no_option;  // the SSL_OP_NO_* that excludes it
};

constexpr ProtocolName kProtocols[] = {
    {"TLSv1", SSL_OP_NO_TLSv1},
    {"TLSv1.1", SSL_OP_NO_TLSv1_1},
    {"TLSv1.2", SSL_OP_NO_TLSv1_2},
    {"TLSv1.3", SSL_OP_NO_TLSv1_3},
};

// Redis's tls-protocols: a space-separated list of enabled versions. Returns
// the SSL_OP_NO_* options that disable every version not listed.
bool protocol_options(const std::string& list, uint64_t* options, std::string* error) {
  std::istringstream in(list.empty() ? "TLSv1.2 TLSv1.3" : list);
  uint64_t enabled = 0;
  std::string word;
  while (in >> word) {
    bool known = false;
    for (const auto& p : kProtocols)
      if (strcasecmp(word.c_str(), p.name) == 0) {
        enabled |= p.no_option;
        known = true;
      }
    if (!known) {
      *error = "tls-protocols: unknown protocol '" + word + "' (TLSv1, TLSv1.1, TLSv1.2, TLSv1.3)";
      return false;
    }
  }
  if (enabled == 0) {
    *error = "tls-protocols: no protocol enabled";
    return false;
  }
  *options = 0;
  for (const auto& p : kProtocols)
    if (!(enabled & p.no_option)) *options |= p.no_option;
  return true;
}

}  // namespace

TlsOptions TlsOptions::from_config(const Config& config) {
  TlsOptions o;
  o.cert_file = config.tls_cert_file;
  o.key_file = config.tls_key_file;
  o.ca_cert_file = config.tls_ca_cert_file;
  o.ca_cert_dir = config.tls_ca_cert_dir;
  o.protocols = config.tls_protocols;
  o.ciphers = config.tls_ciphers;
  o.ciphersuites = config.tls_ciphersuites;
  // Verifying anyone's certificate needs a CA; only a TLS client port that
  // asks nobody for a certificate can do without.
  o.need_ca = config.tls_replication || config.tls_auth_clients != "no";
  return o;
}

std::shared_ptr<TlsContext> TlsContext::create(const TlsOptions& options, std::string* error) {
  if (options.cert_file.empty() || options.key_file.empty()) {
    *error = "TLS needs tls-cert-file and tls-key-file";
    return nullptr;
  }
  if (options.need_ca && options.ca_cert_file.empty() && options.ca_cert_dir.empty()) {
    *error =
        "TLS needs tls-ca-cert-file or tls-ca-cert-dir to verify certificates (or "
        "tls-auth-clients no without tls-replication)";
    return nullptr;
  }
  uint64_t no_protocols = 0;
  if (!protocol_options(options.protocols, &no_protocols, error)) return nullptr;

  ERR_clear_error();
  SSL_CTX* raw = SSL_CTX_new(TLS_method());
  if (raw == nullptr) {
    *error = "TLS: cannot create a context: " + openssl_error("SSL_CTX_new failed");
    return nullptr;
  }
  std::shared_ptr<TlsContext> context(new TlsContext(raw));
  // Protocol 0 lets OpenSSL go as low as it is built for; the NO_ options
  // then leave exactly the configured versions.
  SSL_CTX_set_min_proto_version(raw, 0);
  SSL_CTX_set_max_proto_version(raw, 0);
  SSL_CTX_set_options(raw, SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_COMPRESSION |
                               SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                               no_protocols);
  // Sessions resumed with a client certificate need an id context.
  static const unsigned char kSessionContext[] = "kvraft";
  SSL_CTX_set_session_id_context(raw, kSessionContext, sizeof kSessionContext - 1);
  SSL_CTX_set_session_cache_mode(raw, SSL_SESS_CACHE_SERVER);

  if (SSL_CTX_use_certificate_chain_file(raw, options.cert_file.c_str()) <= 0) {
    *error = "TLS: cannot load certificate '" + options.cert_file + "': " + openssl_error("?");
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(raw, options.key_file.c_str(), SSL_FILETYPE_PEM) <= 0) {
    *error = "TLS: cannot load private key '" + options.key_file + "': " + openssl_error("?");
    return nullptr;
  }
  if (SSL_CTX_check_private_key(raw) <= 0) {
    *error = "TLS: private key '" + options.key_file + "' does not match certificate '" +
             options.cert_file + "': " + openssl_error("?");
    return nullptr;
  }
  if (!options.ca_cert_file.empty() || !options.ca_cert_dir.empty()) {
    const char* file = options.ca_cert_file.empty() ? nullptr : options.ca_cert_file.c_str();
    const char* dir = options.ca_cert_dir.empty() ? nullptr : options.ca_cert_dir.c_str();
    if (SSL_CTX_load_verify_locations(raw, file, dir) <= 0) {
      *error = "TLS: cannot load CA certificates from '" +
               (file ? options.ca_cert_file : options.ca_cert_dir) + "': " + openssl_error("?");
      return nullptr;
    }
  }
  if (!options.ciphers.empty() && SSL_CTX_set_cipher_list(raw, options.ciphers.c_str()) <= 0) {
    *error = "TLS: invalid tls-ciphers '" + options.ciphers + "': " + openssl_error("?");
    return nullptr;
  }
  if (!options.ciphersuites.empty() &&
      SSL_CTX_set_ciphersuites(raw, options.ciphersuites.c_str()) <= 0) {
    *error = "TLS: invalid tls-ciphersuites '" + options.ciphersuites + "': " + openssl_error("?");
    return nullptr;
  }
  ERR_clear_error();
  return context;
}

TlsContext::~TlsContext() {
  SSL_CTX_free(ctx_);
}

TlsVerify tls_verify_from_auth_clients(const std::string& value) {
  if (strcasecmp(value.c_str(), "no") == 0) return TlsVerify::kNone;
  if (strcasecmp(value.c_str(), "optional") == 0) return TlsVerify::kOptional;
  return TlsVerify::kRequire;
}

TlsSession::TlsSession(const TlsContext& context, Role role, TlsVerify verify)
    : read_buf_(new char[kReadBufferSize]) {
  ssl_ = SSL_new(context.native());
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  if (ssl_ == nullptr || rbio_ == nullptr || wbio_ == nullptr) {
    // Out of memory: the session fails on first use instead of crashing.
    if (ssl_) SSL_free(ssl_);
    if (rbio_) BIO_free(rbio_);
    if (wbio_) BIO_free(wbio_);
    ssl_ = nullptr;
    rbio_ = wbio_ = nullptr;
    failed_ = true;
    error_ = "cannot allocate a TLS session";
    return;
  }
  // An empty read BIO means "no bytes yet", not end of file.
  BIO_set_mem_eof_return(rbio_, -1);
  SSL_set_bio(ssl_, rbio_, wbio_);  // ssl_ owns both from here
  if (role == Role::kServer) {
    SSL_set_accept_state(ssl_);
    int mode = verify == TlsVerify::kRequire    ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
               : verify == TlsVerify::kOptional ? SSL_VERIFY_PEER
                                                : SSL_VERIFY_NONE;
    SSL_set_verify(ssl_, mode, nullptr);
  } else {
    SSL_set_connect_state(ssl_);
    SSL_set_verify(ssl_, SSL_VERIFY_PEER, nullptr);
  }
}

TlsSession::~TlsSession() {
  if (ssl_) SSL_free(ssl_);
}

void TlsSession::fail(const char* what, int ret) {
  failed_ = true;
  int code = SSL_get_error(ssl_, ret);
  std::string detail;
  if (code == SSL_ERROR_ZERO_RETURN) {
    detail = "closed by the peer (close_notify)";
  } else {
    detail = openssl_error(code == SSL_ERROR_SYSCALL ? "unexpected end of stream"
                                                     : "error " + std::to_string(code));
    long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK)
      detail += std::string(" (certificate: ") + X509_verify_cert_error_string(verify) + ")";
  }
  error_ = std::string(what) + ": " + detail;
}

bool TlsSession::advance() {
  if (failed_) return false;
  if (!established_) {
    ERR_clear_error();
    int ret = SSL_do_handshake(ssl_);
    if (ret != 1) {
      int code = SSL_get_error(ssl_, ret);
      if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) return true;
      fail("TLS handshake failed", ret);
      return false;
    }
    established_ = true;
    if (!held_plaintext_.empty()) {
      std::string held;
      held.swap(held_plaintext_);
      return write_now(held);
    }
  }
  return true;
}

bool TlsSession::start() {
  return advance();
}

bool TlsSession::feed(std::string_view ciphertext) {
  if (failed_) return false;
  // A memory BIO grows to hold what it is given; callers feed at most one
  // socket read at a time and drain it with read() right after.
  if (!ciphertext.empty() &&
      BIO_write(rbio_, ciphertext.data(), static_cast<int>(ciphertext.size())) !=
          static_cast<int>(ciphertext.size())) {
    failed_ = true;
    error_ = "cannot buffer TLS input";
    return false;
  }
  return advance();
}

long TlsSession::read(char* out, size_t capacity) {
  if (failed_) return -1;
  if (!established_) return 0;
  ERR_clear_error();
  int want = static_cast<int>(std::min<size_t>(capacity, INT_MAX));
  int ret = SSL_read(ssl_, out, want);
  if (ret > 0) return ret;
  int code = SSL_get_error(ssl_, ret);
  if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) return 0;
  fail("TLS read failed", ret);
  return -1;
}

bool TlsSession::decrypt(std::string_view ciphertext, std::string* plaintext) {
  if (!feed(ciphertext)) return false;
  char buf[16 * 1024];
  for (;;) {
    long n = read(buf, sizeof buf);
    if (n < 0) return false;
    if (n == 0) return true;
    plaintext->append(buf, static_cast<size_t>(n));
  }
}

bool TlsSession::write(std::string_view plaintext) {
  if (failed_) return false;
  if (!established_) {
    held_plaintext_.append(plaintext);
    return advance();
  }
  return write_now(plaintext);
}

bool TlsSession::write_now(std::string_view plaintext) {
  while (!plaintext.empty()) {
    size_t chunk = std::min(plaintext.size(), kMaxWriteChunk);
    ERR_clear_error();
    // The write BIO grows as needed, so SSL_write takes the whole chunk.
    int ret = SSL_write(ssl_, plaintext.data(), static_cast<int>(chunk));
    if (ret <= 0) {
      fail("TLS write failed", ret);
      return false;
    }
    plaintext.remove_prefix(static_cast<size_t>(ret));
  }
  return true;
}

bool TlsSession::has_output() const {
  return wbio_ != nullptr && BIO_ctrl_pending(wbio_) > 0;
}

std::string TlsSession::take_output() {
  std::string out;
  if (wbio_ == nullptr) return out;
  size_t pending = BIO_ctrl_pending(wbio_);
  if (pending == 0) return out;
  out.resize(pending);
  int n = BIO_read(wbio_, out.data(), static_cast<int>(std::min<size_t>(pending, INT_MAX)));
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

namespace {

// Best effort, never blocking: hands a TLS alert to the kernel before the
// connection is closed, so the client learns why (e.g. "certificate required").
void try_send_alert(Client& client) {
  std::string alert = client.tls->take_output();
  if (alert.empty()) return;
  uv_buf_t buf = uv_buf_init(alert.data(), static_cast<unsigned>(alert.size()));
  uv_try_write(reinterpret_cast<uv_stream_t*>(client.handle()), &buf, 1);
}

}  // namespace

bool tls_client_input(Client& client, size_t n) {
  TlsSession& tls = *client.tls;
  bool ok = tls.feed(std::string_view(tls.read_buffer(), n));
  while (ok) {
    // At most one TLS record's worth of plaintext per ciphertext record, so
    // the query buffer grows only by what was received.
    client.query.reserve_tail(16 * 1024);
    long got = tls.read(client.query.tail(), client.query.tail_capacity());
    if (got <= 0) {
      ok = got == 0;
      break;
    }
    client.query.commit(static_cast<size_t>(got));
  }
  if (!ok) {
    KV_LOG_VERBOSE("Closing TLS client id=%llu addr=%s: %s",
                   static_cast<unsigned long long>(client.id()), client.addr.c_str(),
                   tls.error().c_str());
    try_send_alert(client);
    return false;
  }
  if (tls.has_output()) client.server()->on_client_output(client);
  return true;
}

bool tls_client_seal(Client& client) {
  TlsSession& tls = *client.tls;
  if (!client.reply.empty()) {
    bool ok = tls.write(client.reply.buffer());
    client.reply.clear();
    if (!ok) {
      KV_LOG_VERBOSE("Closing TLS client id=%llu addr=%s: %s",
                     static_cast<unsigned long long>(client.id()), client.addr.c_str(),
                     tls.error().c_str());
      return false;
    }
  }
  if (tls.has_output()) client.reply.raw(tls.take_output());
  return true;
}

}  // namespace kvraft
