// src/proxy_auth.h — how the leader knows a connection on its client port is
// a follower's leader proxy (src/leader_proxy.h), and whose commands it runs.
//
// A proxy connection proves it belongs to a cluster member with the cluster
// secret, by challenge-response (HMAC-SHA256, src/peer_auth.h; the secret
// never crosses the network):
//
//   KVRAFT.PROXY-AUTH CHALLENGE                      -> "<leader nonce, hex>"
//   KVRAFT.PROXY-AUTH <node-id> <proxy nonce> <proof> -> +OK
//
// after which (Client::proxy_member set) it may switch the user and the
// database each following command runs as:
//
//   KVRAFT.PROXY-AS <user> <db>                      -> +OK
//
// so the leader checks every proxied command against ITS OWN copy of the
// replicated ACL as the user the client authenticated as on the follower,
// in the ordinary permission check (Acl::check). An ordinary client gets
// "unknown command" for KVRAFT.PROXY-AS, and an error for a proof it cannot
// make. Without a cluster-secret there is nothing to prove with: the proxy
// then authenticates as `default` (requirepass) and forwards only the
// commands of clients acting as `default` (see LeaderProxy::forward).
//
// The handlers live in src/commands/proxy_commands.cc.
#pragma once

#include <string_view>

namespace kvraft {

class Client;
struct CommandSpec;

inline constexpr std::string_view kProxyAuthCommand = "KVRAFT.PROXY-AUTH";
inline constexpr std::string_view kProxyAsCommand = "KVRAFT.PROXY-AS";

// Whether `client` may run the internal command `spec` (Server::execute asks
// before anything else; a refused one is answered as an unknown command).
// KVRAFT.PROXY-AUTH is the way in, so anyone may try it; KVRAFT.PROXY-AS
// needs a verified proxy; the replicated forms of EXEC and WATCH
// (KVRAFT.EXEC, KVRAFT.FINGERPRINT) come from any proxy connection, and
// Acl::check judges them as the commands they stand for.
bool internal_command_permitted(const Client& client, const CommandSpec& spec);

}  // namespace kvraft
