// src/client_limits.cc — client output buffer limits (see client_limits.h).
#include "src/client_limits.h"

#include "src/client.h"
#include "src/log.h"
#include "src/server.h"

namespace kvraft {

size_t client_output_bytes(const Client& client) {
  return client.reply.size() + client.write_in_flight.size() + client.pending_reply_bytes;
}

bool output_limit_reached(Client& client, size_t bytes, const ClientBufferLimit& limit,
                          int64_t now_ms) {
  const auto n = static_cast<int64_t>(bytes);
  if (limit.hard > 0 && n >= limit.hard) return true;
  if (limit.soft > 0 && n >= limit.soft) {
    // As Redis: the soft limit counts from the first time it was exceeded
    // and forgets as soon as the output drops below it.
    if (client.obuf_soft_limit_since_ms == 0) {
      client.obuf_soft_limit_since_ms = now_ms;
      return false;
    }
    return now_ms - client.obuf_soft_limit_since_ms >= limit.soft_seconds * 1000;
  }
  client.obuf_soft_limit_since_ms = 0;
  return false;
}

bool close_if_output_limit_reached(Server& server, Client& client) {
  const ClientBufferLimit& limit = server.config().client_obuf_normal;
  if (client.closing || (limit.hard == 0 && limit.soft == 0)) return false;
  const size_t bytes = client_output_bytes(client);
  if (!output_limit_reached(client, bytes, limit, unix_time_ms())) return false;
  KV_LOG_WARNING(
      "Client id=%llu addr=%s closed for overcoming of output buffer limits (%zu bytes pending; "
      "client-output-buffer-limit normal %lld %lld %lld)",
      static_cast<unsigned long long>(client.id()), client.addr.c_str(), bytes,
      static_cast<long long>(limit.hard), static_cast<long long>(limit.soft),
      static_cast<long long>(limit.soft_seconds));
  server.close_client(client);
  return true;
}

}  // namespace kvraft
