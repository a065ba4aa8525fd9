// src/info.h — the INFO command's text, section by section, in Redis's
// "field:value" format so dashboards and client libraries that parse INFO
// keep working.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace kvraft {

class Server;

// The Redis version kvraft reports to clients (redis_version, HELLO): the
// protocol and command semantics it follows.
inline constexpr std::string_view kRedisCompatVersion = "7.0.0";

// Renders INFO for the requested sections ("server", "clients", "memory",
// "persistence", "stats", "replication", "cpu", "keyspace"; "all",
// "everything" and "default"; no section means default). Case-insensitive;
// unknown sections are skipped, as in Redis.
std::string render_info(Server& server, std::span<const std::string_view> sections);

// CONFIG RESETSTAT: zero the counters INFO stats reports.
void reset_info_stats(Server& server);

// Heap bytes in use (INFO used_memory; storage/heap_counter.h).
size_t used_memory_bytes();
// Resident set size of the process in bytes, from /proc (INFO used_memory_rss).
size_t resident_memory_bytes();

}  // namespace kvraft
