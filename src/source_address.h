// src/source_address.h — choosing the source address of outgoing TCP
// connections (Raft peer links, the follower's proxy link to the leader).
//
// Without it the kernel picks the source: on loopback always 127.0.0.1, on
// a multi-homed host whatever the route says. A node that has its own
// address (its raft host in cluster-peers) connects from that address, as
// Redis binds outgoing connections to its first `bind` address: peers then
// see who is calling, and per-address firewall rules (the fault harness's
// partitions, tests/faults/) cut exactly the links between two nodes.
#pragma once

#include <uv.h>

#include <string>

namespace kvraft {

// Binds `tcp` (initialised, not yet connected) to `host`:0 so that the
// connection to `dest` leaves from `host`. Best effort and never fatal:
// does nothing (returns 0) when `host` is empty, a wildcard ("0.0.0.0",
// "::", "*"), not a numeric address, or of another family than `dest`.
// Otherwise returns uv_tcp_bind's result (0 or a libuv error code).
int bind_source_address(uv_tcp_t* tcp, const std::string& host, const sockaddr* dest);

}  // namespace kvraft
