// src/server.h — the kvraft server process: one libuv loop that accepts
// Redis clients, parses their requests, runs commands from the command
// table and writes replies; plus the periodic work (active expiry,
// incremental rehash, idle-client timeouts) Redis calls serverCron.
//
// Writes go through Server::execute_write, the single place where a write
// becomes a deterministic record (time, db, argv) and is applied; the
// replicated log hooks in there, so command handlers never change.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "resp/parser.h"
#include "src/acl_log.h"
#include "src/command.h"
#include "src/config.h"

namespace kvraft {

namespace storage {
class Keyspace;
}
class Client;
class Replication;
class TlsContext;
class Acl;
class Evictor;

// Counters INFO stats reports (Redis's field names in comments).
struct ServerStats {
  uint64_t connections_received = 0;  // total_connections_received
  uint64_t rejected_connections = 0;  // rejected_connections
  uint64_t commands_processed = 0;    // total_commands_processed
  uint64_t net_input_bytes = 0;       // total_net_input_bytes
  uint64_t net_output_bytes = 0;      // total_net_output_bytes
  uint64_t protocol_errors = 0;       // total_error_replies is close; kept separately
  uint64_t dirty = 0;                 // rdb_changes_since_last_save
};

class Server {
 public:
  explicit Server(Config config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listeners and runs the loop until SIGINT/SIGTERM or SHUTDOWN.
  // Returns the process exit status.
  int run();
  // Stops the loop after the current iteration (replies already queued are flushed).
  void request_shutdown();
  // Makes directives changed by CONFIG SET take effect where they are not
  // read afresh on each use: the cron timer's hz, the evictor, the
  // replication modes.
  void apply_runtime_config();

  Config& config() { return config_; }
  storage::Keyspace& keyspace() { return *keyspace_; }
  // Swaps in a keyspace loaded from a snapshot (the old one is freed).
  void replace_keyspace(std::unique_ptr<storage::Keyspace> keyspace);
  Replication& replication() { return *replication_; }
  Acl& acl() { return *acl_; }            // the replicated ACL users (src/acl.h)
  AclLog& acl_log() { return acl_log_; }  // this node's ACL LOG, not replicated (src/acl_log.h)
  Evictor& evictor() { return *evictor_; }
  const CommandTable& commands() const { return *commands_; }
  ServerStats& stats() { return stats_; }
  uv_loop_t* loop() { return loop_; }
  const std::unordered_map<uint64_t, std::unique_ptr<Client>>& clients() const { return clients_; }
  Client* find_client(uint64_t id);
  int64_t start_time_ms() const { return start_time_ms_; }
  uint64_t cron_runs() const { return cron_runs_; }
  // The TLS configuration (null when neither tls-port nor tls-replication is set).
  const std::shared_ptr<TlsContext>& tls_context() const { return tls_context_; }
  // Ports actually bound (after run() has started listening).
  int port() const { return config_.port; }

  // Runs one complete request from `client` (argv points into its query
  // buffer and is only valid during the call). Checks existence, arity and
  // authentication, then routes by the command's flags.
  void execute(Client& client, const resp::Argv& argv);

  // Called by client I/O code.
  void on_client_output(Client& client);  // schedules a flush this iteration
  void close_client(Client& client);      // idempotent; frees after the handle closes

  // Unix time in ms for the next write record: never goes backwards, so
  // expiry decisions replayed from the log are monotonic.
  int64_t next_write_time_ms();

 private:
  static void on_connection(uv_stream_t* listener, int status);
  static void on_cron(uv_timer_t* timer);
  static void on_flush(uv_check_t* check);
  static void on_prepare(uv_prepare_t* prepare);
  static void on_signal(uv_signal_t* handle, int signum);

  bool listen_all(std::string* error);
  bool listen_port(int port, bool tls, std::string* error);
  void cron();
  void active_expire_cycle();
  void end_of_iteration();
  void flush_pending_clients();
  void flush_client(Client& client);
  void print_banner();

  Config config_;
  uv_loop_t* loop_;
  std::unique_ptr<storage::Keyspace> keyspace_;
  const CommandTable* commands_;
  std::vector<std::unique_ptr<uv_tcp_t>> listeners_;
  std::shared_ptr<TlsContext> tls_context_;
  std::vector<const uv_tcp_t*> tls_listeners_;  // the members of listeners_ on tls-port
  uv_timer_t cron_timer_{};
  uv_check_t flush_check_;
  uv_prepare_t flush_prepare_;
  std::unique_ptr<Replication> replication_;
  std::unique_ptr<Acl> acl_;
  uint64_t acl_generation_ = 0;       // Acl::generation() when clients were last rechecked
  AclLog acl_log_;                    // node-local, never replicated
  std::unique_ptr<Evictor> evictor_;  // maxmemory (src/eviction.h)
  uv_signal_t sigint_;
  uv_signal_t sigterm_;
  std::unordered_map<uint64_t, std::unique_ptr<Client>> clients_;
  std::vector<Client*> pending_flush_;  // clients with output queued this iteration
  uint64_t next_client_id_ = 1;
  int64_t last_write_time_ms_ = 0;
  int64_t start_time_ms_ = 0;
  uint64_t cron_runs_ = 0;
  ServerStats stats_;
  bool shutting_down_ = false;
};

// Wall-clock unix time in milliseconds / microseconds.
int64_t unix_time_ms();
int64_t unix_time_us();

}  // namespace kvraft
