// src/info.cc — see info.h.
#include "src/info.h"

#include <strings.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

#include "src/client.h"
#include "src/eviction.h"
#include "src/replication.h"
#include "src/server.h"
#include "storage/heap_counter.h"
#include "storage/keyspace.h"

namespace kvraft {

size_t used_memory_bytes() {
  // A running count, not mallinfo2(): that walks every free chunk and takes
  // a fraction of a second on a large fragmented heap.
  return storage::heap_used_bytes();
}

size_t resident_memory_bytes() {
  FILE* f = fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long size = 0, resident = 0;
  int n = fscanf(f, "%lu %lu", &size, &resident);
  fclose(f);
  return n == 2 ? resident * static_cast<size_t>(sysconf(_SC_PAGESIZE)) : 0;
}

namespace {

std::string human_bytes(double n) {
  static const char* kUnits[] = {"B", "K", "M", "G", "T"};
  int u = 0;
  while (n >= 1024 && u < 4) {
    n /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0)
    snprintf(buf, sizeof buf, "%.0fB", n);
  else
    snprintf(buf, sizeof buf, "%.2f%s", n, kUnits[u]);
  return buf;
}

void field(std::string& out, std::string_view name, const std::string& value) {
  out.append(name);
  out += ':';
  out += value;
  out += "\r\n";
}
void field(std::string& out, std::string_view name, uint64_t value) {
  field(out, name, std::to_string(value));
}

void server_section(Server& s, std::string& out) {
  struct utsname un;
  uname(&un);
  int64_t uptime_ms = unix_time_ms() - s.start_time_ms();
  out += "# Server\r\n";
  field(out, "redis_version", std::string(kRedisCompatVersion));
  field(out, "kvraft_version", std::string(KVRAFT_VERSION));
  field(out, "redis_mode", std::string("standalone"));
  field(out, "os", std::string(un.sysname) + " " + un.release + " " + un.machine);
  field(out, "arch_bits", static_cast<uint64_t>(sizeof(void*) * 8));
  field(out, "multiplexing_api", std::string("libuv"));
  field(out, "process_id", static_cast<uint64_t>(getpid()));
  field(out, "tcp_port", static_cast<uint64_t>(s.config().port));
  field(out, "server_time_usec", static_cast<uint64_t>(unix_time_us()));
  field(out, "uptime_in_seconds", static_cast<uint64_t>(uptime_ms / 1000));
  field(out, "uptime_in_days", static_cast<uint64_t>(uptime_ms / 86400000));
  field(out, "hz", static_cast<uint64_t>(s.config().hz));
  field(out, "executable", s.config().executable);
  field(out, "config_file", s.config().config_file);
}

void clients_section(Server& s, std::string& out) {
  size_t max_qbuf = 0, max_out = 0;
  for (const auto& [id, c] : s.clients()) {
    max_qbuf = std::max(max_qbuf, c->query.size());
    max_out = std::max(max_out, c->reply.size() + c->write_in_flight.size());
  }
  out += "# Clients\r\n";
  field(out, "connected_clients", static_cast<uint64_t>(s.clients().size()));
  field(out, "maxclients", static_cast<uint64_t>(s.config().maxclients));
  field(out, "client_recent_max_input_buffer", static_cast<uint64_t>(max_qbuf));
  field(out, "client_recent_max_output_buffer", static_cast<uint64_t>(max_out));
  field(out, "blocked_clients", static_cast<uint64_t>(0));
}

void memory_section(Server& s, std::string& out) {
  size_t used = used_memory_bytes();
  size_t rss = resident_memory_bytes();
  out += "# Memory\r\n";
  field(out, "used_memory", static_cast<uint64_t>(used));
  field(out, "used_memory_human", human_bytes(static_cast<double>(used)));
  field(out, "used_memory_rss", static_cast<uint64_t>(rss));
  field(out, "used_memory_rss_human", human_bytes(static_cast<double>(rss)));
  char ratio[32];
  snprintf(ratio, sizeof ratio, "%.2f", used ? static_cast<double>(rss) / used : 0.0);
  field(out, "mem_fragmentation_ratio", std::string(ratio));
  field(out, "mem_allocator", std::string("libc"));
  int64_t maxmemory = s.config().maxmemory;
  field(out, "maxmemory", static_cast<uint64_t>(maxmemory));
  field(out, "maxmemory_human", human_bytes(static_cast<double>(maxmemory)));
  field(out, "maxmemory_policy", s.config().maxmemory_policy);
  // Redis's name for what maxmemory leaves out: here the in-memory Raft log.
  field(out, "mem_not_counted_for_evict", static_cast<uint64_t>(s.evictor().not_counted()));
  // Its parts (Redis shows mem_replication_backlog and mem_aof_buffer likewise).
  const Replication::LogMemory lm = s.replication().log_memory();
  field(out, "mem_raft_log", lm.log);
  field(out, "mem_raft_pipeline", lm.pipeline);
  field(out, "mem_peer_buffers", lm.peers);
  field(out, "mem_pending_eviction", static_cast<uint64_t>(s.evictor().pending_bytes()));
  field(out, "mem_inflight_writes", static_cast<uint64_t>(s.evictor().inflight_write_bytes()));
}

void persistence_section(Server& s, std::string& out) {
  out += "# Persistence\r\n";
  field(out, "loading", static_cast<uint64_t>(0));
  field(out, "rdb_changes_since_last_save", s.stats().dirty);
  for (const auto& [k, v] : s.replication().persistence_fields())
    field(out, k, v);
  field(out, "aof_enabled", static_cast<uint64_t>(0));
}

void stats_section(Server& s, std::string& out) {
  const auto& st = s.stats();
  const auto& ks = s.keyspace().stats();
  out += "# Stats\r\n";
  field(out, "total_connections_received", st.connections_received);
  field(out, "total_commands_processed", st.commands_processed);
  field(out, "total_net_input_bytes", st.net_input_bytes);
  field(out, "total_net_output_bytes", st.net_output_bytes);
  field(out, "rejected_connections", st.rejected_connections);
  field(out, "expired_keys", ks.expired_keys);
  field(out, "evicted_keys", ks.evicted_keys);
  field(out, "keyspace_hits", ks.keyspace_hits);
  field(out, "keyspace_misses", ks.keyspace_misses);
  field(out, "total_protocol_errors", st.protocol_errors);
}

// Redis's replication fields, mapped onto Raft roles so dashboards that
// read role/master_host show the leader.
void replication_section(Server& s, std::string& out) {
  Replication& r = s.replication();
  out += "# Replication\r\n";
  if (r.is_leader()) {
    field(out, "role", std::string("master"));
    field(out, "connected_slaves", static_cast<uint64_t>(r.peers().size() - 1));
  } else {
    std::string addr = r.leader_client_address();
    size_t colon = addr.rfind(':');
    field(out, "role", std::string("slave"));
    field(out, "master_host", colon == std::string::npos ? std::string() : addr.substr(0, colon));
    field(out, "master_port",
          colon == std::string::npos ? std::string("0") : addr.substr(colon + 1));
    field(out, "master_link_status", std::string(addr.empty() ? "down" : "up"));
  }
}

void raft_section(Server& s, std::string& out) {
  out += "# Raft\r\n";
  for (const auto& [k, v] : s.replication().info_fields())
    field(out, k, v);
}

void cpu_section(Server&, std::string& out) {
  struct rusage self;
  getrusage(RUSAGE_SELF, &self);
  char buf[64];
  out += "# CPU\r\n";
  snprintf(buf, sizeof buf, "%ld.%06ld", static_cast<long>(self.ru_stime.tv_sec),
           static_cast<long>(self.ru_stime.tv_usec));
  field(out, "used_cpu_sys", std::string(buf));
  snprintf(buf, sizeof buf, "%ld.%06ld", static_cast<long>(self.ru_utime.tv_sec),
           static_cast<long>(self.ru_utime.tv_usec));
  field(out, "used_cpu_user", std::string(buf));
}

void keyspace_section(Server& s, std::string& out) {
  out += "# Keyspace\r\n";
  auto& ks = s.keyspace();
  for (int db = 0; db < s.config().databases; ++db) {
    size_t keys = ks.size(db);
    if (keys == 0) continue;
    out += "db" + std::to_string(db) + ":keys=" + std::to_string(keys) +
           ",expires=" + std::to_string(ks.expires(db)) +
           ",avg_ttl=" + std::to_string(ks.avg_ttl(db)) + "\r\n";
  }
}

struct Section {
  std::string_view name;
  bool in_default;
  void (*render)(Server&, std::string&);
};

constexpr Section kSections[] = {
    {"server", true, server_section},     {"clients", true, clients_section},
    {"memory", true, memory_section},     {"persistence", true, persistence_section},
    {"stats", true, stats_section},       {"replication", true, replication_section},
    {"cpu", true, cpu_section},           {"raft", true, raft_section},
    {"keyspace", true, keyspace_section},
};

bool eq(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::string render_info(Server& server, std::span<const std::string_view> sections) {
  bool all = sections.empty();
  std::vector<bool> wanted(std::size(kSections), false);
  for (auto name : sections) {
    if (eq(name, "all") || eq(name, "everything") || eq(name, "default")) all = true;
    for (size_t i = 0; i < std::size(kSections); ++i)
      if (eq(name, kSections[i].name)) wanted[i] = true;
  }
  std::string out;
  for (size_t i = 0; i < std::size(kSections); ++i) {
    if (!(wanted[i] || (all && kSections[i].in_default))) continue;
    if (!out.empty()) out += "\r\n";
    kSections[i].render(server, out);
  }
  return out;
}

void reset_info_stats(Server& server) {
  auto& st = server.stats();
  uint64_t dirty = st.dirty;
  st = ServerStats{};
  st.dirty = dirty;
  server.keyspace().stats() = storage::KeyspaceStats{};
}

}  // namespace kvraft
