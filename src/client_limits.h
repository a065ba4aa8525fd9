// src/client_limits.h — Redis's client-output-buffer-limit for kvraft's
// client connections: a client that does not read its replies (or reads
// them far slower than it asks for them) is disconnected before its pending
// output can exhaust the server's memory.
//
// Why here and not in the I/O path: the check only needs the byte counts the
// Client already keeps (reply buffer, the write libuv holds, ready replies
// queued behind a waiting one), so the connection code calls one function
// after it appends output and stays otherwise untouched.
#pragma once

#include <cstddef>
#include <cstdint>

#include "src/config.h"

namespace kvraft {

class Client;
class Server;

// Bytes of output `client` holds that the peer has not taken yet.
size_t client_output_bytes(const Client& client);

// True if `bytes` of pending output break `limit` at `now_ms`: above the
// hard limit, or above the soft limit continuously for soft_seconds (the
// client's obuf_soft_limit_since_ms tracks since when; this updates it).
bool output_limit_reached(Client& client, size_t bytes, const ClientBufferLimit& limit,
                          int64_t now_ms);

// Applies the server's `normal` class limit to `client`: if it is reached,
// logs one line and closes the connection. Returns true if it closed it (the
// caller must then stop working on the client).
bool close_if_output_limit_reached(Server& server, Client& client);

}  // namespace kvraft
