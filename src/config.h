// src/config.h — server configuration: the directives kvraft understands, the
// config-file and command-line syntax (both redis-server's), and the table
// CONFIG GET / CONFIG SET work from.
//
// Every directive is declared once in the table in config.cc with its type,
// default, bounds and whether CONFIG SET may change it at runtime, so the
// file parser, the command line, CONFIG GET and CONFIG SET cannot disagree.
// An unknown directive is an error (as in Redis), never silently ignored.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kvraft {

// One class of Redis's client-output-buffer-limit: a client whose pending
// output exceeds `hard` bytes, or stays above `soft` bytes for
// `soft_seconds`, is disconnected. 0 disables a limit.
struct ClientBufferLimit {
  int64_t hard = 0;
  int64_t soft = 0;
  int64_t soft_seconds = 0;
  bool operator==(const ClientBufferLimit&) const = default;
};

struct Config {
  // Networking
  std::vector<std::string> bind = {"127.0.0.1"};
  int port = 6379;
  int tcp_backlog = 511;
  int tcp_keepalive = 300;  // seconds; 0 disables
  int timeout = 0;          // close idle clients after N seconds; 0 = never
  int maxclients = 10000;
  // Keyspace
  int databases = 16;
  // Security
  std::string requirepass;
  // TLS (src/tls.h), Redis's directives. tls-replication: the Raft peer port
  // speaks TLS both ways, each side verifying the other against the CA.
  int tls_port = 0;  // 0: no TLS client port
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_ca_cert_file;
  std::string tls_ca_cert_dir;
  std::string tls_auth_clients = "yes";  // yes|no|optional
  bool tls_replication = false;
  std::string tls_protocols;     // e.g. "TLSv1.2 TLSv1.3"; empty: those two
  std::string tls_ciphers;       // TLSv1.2 and below; empty: OpenSSL's default
  std::string tls_ciphersuites;  // TLSv1.3; empty: OpenSSL's default
  // Refuse non-loopback clients while the default user has no password and
  // the bind list is not loopback-only (src/acl.h protected_mode_refuses).
  bool protected_mode = true;
  // ACL LOG's bound (entries kept on this node; src/acl_log.h).
  int64_t acllog_max_len = 128;
  // ACL SAVE / ACL LOAD's file; loaded at startup only when this node
  // bootstraps a brand-new cluster (src/acl_file.h). Empty: none.
  std::string aclfile;
  // Protocol limits
  int64_t proto_max_bulk_len = 512LL * 1024 * 1024;
  int64_t client_query_buffer_limit = 1024LL * 1024 * 1024;
  // client-output-buffer-limit, Redis's defaults. Only `normal` applies to
  // kvraft's clients; the other classes are kept for CONFIG GET/SET.
  ClientBufferLimit client_obuf_normal;  // 0 0 0: unlimited
  ClientBufferLimit client_obuf_replica{256LL << 20, 64LL << 20, 60};
  ClientBufferLimit client_obuf_pubsub{32LL << 20, 8LL << 20, 60};
  // Files and logging
  std::string dir = ".";
  std::string loglevel = "notice";
  std::string logfile;  // empty: standard output
  // Memory limit (src/eviction.h): 0 = unlimited.
  int64_t maxmemory = 0;
  std::string maxmemory_policy = "noeviction";
  int maxmemory_samples = 5;
  int lfu_log_factor = 10;
  int lfu_decay_time = 1;  // minutes
  // Background work frequency (active expiry, rehashing, client timeouts), per second.
  int hz = 10;

  // Replication (see src/replication.h). A node with no cluster-peers is a
  // one-node cluster: its writes still go through its own durable Raft log.
  int64_t node_id = 1;
  int raft_port = 0;          // 0: client port + 10000
  std::string cluster_peers;  // "1@127.0.0.1:7101:7001,2@127.0.0.1:7102:7002,..."
  std::string cluster_id = "kvraft";
  std::string cluster_secret;                     // shared by all members; empty: none
  int election_timeout = 300;                     // ms; followers wait [T, 2T) before campaigning
  int heartbeat_interval = 50;                    // ms
  std::string read_consistency = "linearizable";  // linearizable|lease|stale|log
  std::string follower_mode = "proxy";            // proxy|redirect
  std::string follower_reads = "readindex";       // readindex|proxy (follower-mode proxy only)
  std::string raft_fsync = "always";              // always|never
  int64_t raft_log_segment_size = 64LL * 1024 * 1024;
  // Snapshot policy (Replication::maybe_snapshot), as Redis's automatic AOF
  // rewrite: snapshot once the log written since the last snapshot is at
  // least snapshot-log-bytes AND at least snapshot-log-percentage % of the
  // last snapshot's file size, so the cost of a snapshot (proportional to
  // the keyspace) is spread over a number of writes that grows with it.
  // snapshot-log-entries, when non-zero, snapshots after that many applied
  // entries regardless (a bound on restart replay; off by default: applied
  // entries do not stay in memory, see RaftStorage::release_applied).
  int64_t snapshot_log_entries = 0;
  int64_t snapshot_log_bytes = 64LL * 1024 * 1024;  // log bytes on disk (records)
  int64_t snapshot_log_percentage = 100;
  bool raft_repair = false;  // cut corrupt log/snapshot state at startup
  // A brand-new node starts from this RDB file (e.g. a stock redis-server
  // dump.rdb): the migration path. Every initial member of a cluster must
  // import the same file; ignored (with a warning) once Raft state exists.
  std::string import_rdb;
  // Membership (RAFT.NODE): a brand-new node with `join` host:client-port
  // asks that member to add it instead of bootstrapping; a learner added
  // without LEARNER is promoted once within raft-promote-lag entries.
  std::string join;
  int64_t raft_promote_lag = 1000;

  // Where the configuration came from (for INFO and CONFIG REWRITE-less setups).
  std::string config_file;
  std::string executable;
};

// A failure to parse or apply configuration, with the place it came from.
struct ConfigError {
  std::string message;
};

// Applies one directive ("port", {"7001"}) to `config`. `at_runtime` is true
// for CONFIG SET (immutable directives are refused). Returns an error text
// (without "ERR ") or an empty string on success.
std::string config_set(Config& config, std::string_view name, const std::vector<std::string>& args,
                       bool at_runtime);

// Appends "name value" pairs for every directive matching the glob `pattern`
// (CONFIG GET semantics: case-insensitive, several patterns may match one
// directive, each directive reported once by the caller's de-duplication).
void config_get(const Config& config, std::string_view pattern,
                std::vector<std::pair<std::string, std::string>>* out);

// Parses the contents of a config file (redis.conf syntax: one directive per
// line, arguments split with Redis's quoting rules, '#' comments). On error
// returns false with "<file>:<line>: <reason>" in *error.
bool load_config_text(Config& config, std::string_view text, const std::string& source_name,
                      std::string* error);

// Parses redis-server style arguments: [config-file] [--directive value ...]
// ("--port 7001 --dir ./data/n1", "--save ''"). Handles --help / --version by
// setting *exit_now (the text to print is returned in *message).
bool parse_command_line(Config& config, int argc, char** argv, std::string* message,
                        bool* exit_now);

// Redis's size syntax: "100", "1k" (1000), "1kb" (1024), "5mb", "1gb". False if invalid.
bool parse_memory(std::string_view text, int64_t* out);

}  // namespace kvraft
