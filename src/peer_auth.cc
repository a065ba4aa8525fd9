// src/peer_auth.cc — HMAC-SHA256 proofs for the peer handshake (see peer_auth.h).
#include "src/peer_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace kvraft {

namespace {

// Length-prefixed so no two different field tuples give the same bytes.
void put_field(std::string* out, std::string_view field) {
  uint32_t n = static_cast<uint32_t>(field.size());
  for (int i = 0; i < 4; ++i)
    out->push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out->append(field);
}

}  // namespace

std::string make_peer_nonce() {
  std::string nonce(kPeerNonceSize, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()), static_cast<int>(nonce.size())) !=
      1)
    throw std::runtime_error("no cryptographic random bytes for a peer handshake nonce");
  return nonce;
}

namespace {

// HMAC-SHA256 keyed by the cluster secret (the empty key without one).
std::string hmac_sha256(std::string_view secret, const std::string& msg) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  static const unsigned char kNoKey = 0;
  const void* key = secret.empty() ? static_cast<const void*>(&kNoKey) : secret.data();
  if (!HMAC(EVP_sha256(), key, static_cast<int>(secret.size()),
            reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), mac, &len))
    throw std::runtime_error("HMAC-SHA256 failed");
  return std::string(reinterpret_cast<const char*>(mac), len);
}

}  // namespace

std::string peer_proof(std::string_view secret, std::string_view cluster_id, PeerRole prover,
                       raft::NodeId connector, raft::NodeId acceptor,
                       std::string_view connector_nonce, std::string_view acceptor_nonce) {
  std::string msg = "kvraft-peer-auth-v1";
  put_field(&msg, prover == PeerRole::kConnector ? "connector" : "acceptor");
  put_field(&msg, cluster_id);
  put_field(&msg, std::to_string(connector));
  put_field(&msg, std::to_string(acceptor));
  put_field(&msg, connector_nonce);
  put_field(&msg, acceptor_nonce);
  return hmac_sha256(secret, msg);
}

std::string proxy_proof(std::string_view secret, std::string_view cluster_id, raft::NodeId proxy,
                        std::string_view leader_nonce, std::string_view proxy_nonce) {
  std::string msg = "kvraft-proxy-auth-v1";
  put_field(&msg, cluster_id);
  put_field(&msg, std::to_string(proxy));
  put_field(&msg, leader_nonce);
  put_field(&msg, proxy_nonce);
  return hmac_sha256(secret, msg);
}

std::string hex_encode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

bool peer_proof_matches(std::string_view expected, std::string_view received) {
  return expected.size() == received.size() &&
         CRYPTO_memcmp(expected.data(), received.data(), expected.size()) == 0;
}

}  // namespace kvraft
