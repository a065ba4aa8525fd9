// src/peer_auth.h — the challenge-response that authenticates Raft peers
// (the MAC half of the handshake in raft/wire.h; the transport in
// src/peer_transport.cc runs the exchange).
//
// Each side of a peer connection sends a fresh random nonce. Each proves
// it knows the cluster's shared secret with HMAC-SHA256(secret, direction,
// cluster id, connector id, acceptor id, connector nonce, acceptor nonce):
// the secret never crosses the network, a proof is bound to this connection
// (both nonces) and to its direction (a proof cannot be reflected back),
// and a recorded exchange cannot be replayed (the other side's nonce is new).
// Without a configured secret the key is empty: members then still agree,
// and a member with a secret refuses one without.
//
// Lives in src/ because it needs OpenSSL's libcrypto; raft/ stays pure.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "raft/types.h"

namespace kvraft {

inline constexpr size_t kPeerNonceSize = 16;

// Which side of the connection a proof comes from.
enum class PeerRole { kConnector, kAcceptor };

// kPeerNonceSize bytes from the system's cryptographic random source.
// Throws std::runtime_error if none is available.
std::string make_peer_nonce();

// The proof `prover` sends on the connection from `connector` to `acceptor`.
std::string peer_proof(std::string_view secret, std::string_view cluster_id, PeerRole prover,
                       raft::NodeId connector, raft::NodeId acceptor,
                       std::string_view connector_nonce, std::string_view acceptor_nonce);

// The proof a follower's leader proxy gives on the leader's client port
// (KVRAFT.PROXY-AUTH, src/commands/proxy_commands.cc): HMAC-SHA256 of the
// same secret over a message with its own label, so a proof of one exchange
// never passes for the other. `leader_nonce` is the challenge the leader
// handed this connection, `proxy_nonce` the proxy's own.
std::string proxy_proof(std::string_view secret, std::string_view cluster_id, raft::NodeId proxy,
                        std::string_view leader_nonce, std::string_view proxy_nonce);

// Lower-case hex of `bytes` (nonces and proofs travel as hex in RESP).
std::string hex_encode(std::string_view bytes);

// Constant-time comparison of a received proof with the expected one.
bool peer_proof_matches(std::string_view expected, std::string_view received);

}  // namespace kvraft
