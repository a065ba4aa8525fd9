// src/config.cc — the directive table and the parsers around it (see config.h).
#include "src/config.h"

#include <fnmatch.h>
#include <strings.h>

#include <charconv>
#include <functional>

#include "resp/parser.h"
#include "src/eviction.h"
#include "src/log.h"

namespace kvraft {

namespace {

// How a directive reads and writes its field. `set` returns an error text
// (empty on success); `get` renders the current value as CONFIG GET shows it.
struct Directive {
  std::string_view name;
  bool runtime_mutable;
  std::function<std::string(Config&, const std::vector<std::string>&)> set;
  std::function<std::string(const Config&)> get;
};

bool parse_int(std::string_view s, int64_t min, int64_t max, int64_t* out) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < min || v > max) return false;
  *out = v;
  return true;
}

std::string one_arg(const std::vector<std::string>& args) {
  return args.size() == 1 ? std::string() : "wrong number of arguments";
}

// An integer directive in [min, max] over an int or int64_t field.
template <class T>
Directive int_directive(std::string_view name, T Config::*field, int64_t min, int64_t max,
                        bool runtime_mutable) {
  return {name, runtime_mutable,
          [=](Config& c, const std::vector<std::string>& args) -> std::string {
            if (auto e = one_arg(args); !e.empty()) return e;
            int64_t v;
            if (!parse_int(args[0], min, max, &v))
              return "argument must be an integer between " + std::to_string(min) + " and " +
                     std::to_string(max);
            c.*field = static_cast<T>(v);
            return {};
          },
          [=](const Config& c) { return std::to_string(c.*field); }};
}

Directive memory_directive(std::string_view name, int64_t Config::*field, int64_t min,
                           bool runtime_mutable) {
  return {name, runtime_mutable,
          [=](Config& c, const std::vector<std::string>& args) -> std::string {
            if (auto e = one_arg(args); !e.empty()) return e;
            int64_t v;
            if (!parse_memory(args[0], &v) || v < min) return "argument must be a memory value";
            c.*field = v;
            return {};
          },
          [=](const Config& c) { return std::to_string(c.*field); }};
}

// The name the int64_t rows use.
constexpr auto& int64_directive = int_directive<int64_t>;

Directive bool_directive(std::string_view name, bool Config::*field, bool runtime_mutable) {
  return {name, runtime_mutable,
          [=](Config& c, const std::vector<std::string>& args) -> std::string {
            if (auto e = one_arg(args); !e.empty()) return e;
            if (strcasecmp(args[0].c_str(), "yes") == 0)
              c.*field = true;
            else if (strcasecmp(args[0].c_str(), "no") == 0)
              c.*field = false;
            else
              return "argument must be 'yes' or 'no'";
            return {};
          },
          [=](const Config& c) { return std::string(c.*field ? "yes" : "no"); }};
}

// A string directive restricted to a fixed set of values.
Directive enum_directive(std::string_view name, std::string Config::*field,
                         std::vector<std::string> values, bool runtime_mutable) {
  return {name, runtime_mutable,
          [=](Config& c, const std::vector<std::string>& args) -> std::string {
            if (auto e = one_arg(args); !e.empty()) return e;
            for (const auto& v : values)
              if (strcasecmp(v.c_str(), args[0].c_str()) == 0) {
                c.*field = v;
                return {};
              }
            std::string list;
            for (size_t i = 0; i < values.size(); ++i)
              list += (i ? ", " : "") + values[i];
            return "argument must be one of: " + list;
          },
          [=](const Config& c) { return c.*field; }};
}

Directive string_directive(std::string_view name, std::string Config::*field,
                           bool runtime_mutable) {
  return {name, runtime_mutable,
          [=](Config& c, const std::vector<std::string>& args) -> std::string {
            if (auto e = one_arg(args); !e.empty()) return e;
            c.*field = args[0];
            return {};
          },
          [=](const Config& c) { return c.*field; }};
}

// Directives Redis tools ask about but that kvraft does not implement the
// Redis way: persistence is the Raft log plus RDB snapshots, never AOF or
// save points. CONFIG GET reports the truthful value; setting anything else
// is refused with a reason instead of being silently ignored.
Directive fixed_directive(std::string_view name, std::string value, std::string why) {
  return {name, true,
          [=](Config&, const std::vector<std::string>& args) -> std::string {
            std::string joined;
            for (size_t i = 0; i < args.size(); ++i)
              joined += (i ? " " : "") + args[i];
            if (joined == value) return {};
            return "unsupported value for '" + std::string(name) + "': " + why;
          },
          [=](const Config&) { return value; }};
}

// client-output-buffer-limit <class> <hard> <soft> <soft-seconds> [...]:
// one or more groups of four, as redis.conf and CONFIG SET take them;
// nothing changes unless every group is valid.
Directive client_output_buffer_limit_directive() {
  return {
      "client-output-buffer-limit", true,
      [](Config& c, const std::vector<std::string>& args) -> std::string {
        if (args.empty() || args.size() % 4 != 0) return "wrong number of arguments";
        Config next = c;
        for (size_t i = 0; i < args.size(); i += 4) {
          ClientBufferLimit* target = nullptr;
          const char* cls = args[i].c_str();
          if (strcasecmp(cls, "normal") == 0)
            target = &next.client_obuf_normal;
          else if (strcasecmp(cls, "replica") == 0 || strcasecmp(cls, "slave") == 0)
            target = &next.client_obuf_replica;
          else if (strcasecmp(cls, "pubsub") == 0)
            target = &next.client_obuf_pubsub;
          else
            return "Invalid client class specified in buffer limit configuration.";
          ClientBufferLimit limit;
          if (!parse_memory(args[i + 1], &limit.hard) || !parse_memory(args[i + 2], &limit.soft) ||
              !parse_int(args[i + 3], 0, INT32_MAX, &limit.soft_seconds))
            return "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
          *target = limit;
        }
        c.client_obuf_normal = next.client_obuf_normal;
        c.client_obuf_replica = next.client_obuf_replica;
        c.client_obuf_pubsub = next.client_obuf_pubsub;
        return {};
      },
      [](const Config& c) {
        auto group = [](const char* cls, const ClientBufferLimit& l) {
          return std::string(cls) + " " + std::to_string(l.hard) + " " + std::to_string(l.soft) +
                 " " + std::to_string(l.soft_seconds);
        };
        return group("normal", c.client_obuf_normal) + " " + group("slave", c.client_obuf_replica) +
               " " + group("pubsub", c.client_obuf_pubsub);
      }};
}

const std::vector<Directive>& directives() {
  static const std::vector<Directive> kDirectives = [] {
    std::vector<Directive> d;
    d.push_back({"bind", false,
                 [](Config& c, const std::vector<std::string>& args) -> std::string {
                   if (args.empty()) return "wrong number of arguments";
                   c.bind = args;
                   return {};
                 },
                 [](const Config& c) {
                   std::string out;
                   for (size_t i = 0; i < c.bind.size(); ++i)
                     out += (i ? " " : "") + c.bind[i];
                   return out;
                 }});
    d.push_back(int_directive("port", &Config::port, 0, 65535, false));
    d.push_back(int_directive("tcp-backlog", &Config::tcp_backlog, 0, INT32_MAX, false));
    d.push_back(int_directive("tcp-keepalive", &Config::tcp_keepalive, 0, INT32_MAX, true));
    d.push_back(int_directive("timeout", &Config::timeout, 0, INT32_MAX, true));
    d.push_back(int_directive("maxclients", &Config::maxclients, 1, 1000000, true));
    d.push_back(int_directive("databases", &Config::databases, 1, 1 << 16, false));
    d.push_back(string_directive("requirepass", &Config::requirepass, true));
    d.push_back(int_directive("tls-port", &Config::tls_port, 0, 65535, false));
    d.push_back(string_directive("tls-cert-file", &Config::tls_cert_file, false));
    d.push_back(string_directive("tls-key-file", &Config::tls_key_file, false));
    d.push_back(string_directive("tls-ca-cert-file", &Config::tls_ca_cert_file, false));
    d.push_back(string_directive("tls-ca-cert-dir", &Config::tls_ca_cert_dir, false));
    d.push_back(enum_directive("tls-auth-clients", &Config::tls_auth_clients,
                               {"yes", "no", "optional"}, false));
    d.push_back(bool_directive("tls-replication", &Config::tls_replication, false));
    d.push_back(string_directive("tls-protocols", &Config::tls_protocols, false));
    d.push_back(string_directive("tls-ciphers", &Config::tls_ciphers, false));
    d.push_back(string_directive("tls-ciphersuites", &Config::tls_ciphersuites, false));
    d.push_back(bool_directive("protected-mode", &Config::protected_mode, true));
    d.push_back(int64_directive("acllog-max-len", &Config::acllog_max_len, 0, INT64_MAX, true));
    d.push_back(string_directive("aclfile", &Config::aclfile, false));
    d.push_back(memory_directive("proto-max-bulk-len", &Config::proto_max_bulk_len, 1024, true));
    d.push_back(memory_directive("client-query-buffer-limit", &Config::client_query_buffer_limit,
                                 1024 * 1024, true));
    d.push_back(memory_directive("maxmemory", &Config::maxmemory, 0, true));
    d.push_back(enum_directive("maxmemory-policy", &Config::maxmemory_policy,
                               eviction_policy_names(), true));
    d.push_back(int_directive("maxmemory-samples", &Config::maxmemory_samples, 1, 64, true));
    d.push_back(int_directive("lfu-log-factor", &Config::lfu_log_factor, 0, INT32_MAX, true));
    d.push_back(int_directive("lfu-decay-time", &Config::lfu_decay_time, 0, INT32_MAX, true));
    d.push_back(client_output_buffer_limit_directive());
    d.push_back(string_directive("dir", &Config::dir, false));
    d.push_back({"loglevel", true,
                 [](Config& c, const std::vector<std::string>& args) -> std::string {
                   if (auto e = one_arg(args); !e.empty()) return e;
                   LogLevel level;
                   if (!parse_log_level(args[0], &level))
                     return "argument must be one of: debug, verbose, notice, warning";
                   c.loglevel = args[0];
                   set_log_level(level);
                   return {};
                 },
                 [](const Config& c) { return c.loglevel; }});
    d.push_back({"logfile", false,
                 [](Config& c, const std::vector<std::string>& args) -> std::string {
                   if (auto e = one_arg(args); !e.empty()) return e;
                   if (!set_log_file(args[0])) return "can't open the log file '" + args[0] + "'";
                   c.logfile = args[0];
                   return {};
                 },
                 [](const Config& c) { return c.logfile; }});
    d.push_back(int_directive("hz", &Config::hz, 1, 500, true));
    d.push_back(int64_directive("node-id", &Config::node_id, 1, INT64_MAX, false));
    d.push_back(int_directive("raft-port", &Config::raft_port, 0, 65535, false));
    d.push_back(string_directive("cluster-peers", &Config::cluster_peers, false));
    d.push_back(string_directive("cluster-id", &Config::cluster_id, false));
    d.push_back(string_directive("cluster-secret", &Config::cluster_secret, false));
    d.push_back(int_directive("election-timeout", &Config::election_timeout, 20, 600000, false));
    d.push_back(int_directive("heartbeat-interval", &Config::heartbeat_interval, 5, 60000, false));
    d.push_back(enum_directive("read-consistency", &Config::read_consistency,
                               {"linearizable", "lease", "stale", "log"}, true));
    d.push_back(
        enum_directive("follower-mode", &Config::follower_mode, {"proxy", "redirect"}, true));
    d.push_back(
        enum_directive("follower-reads", &Config::follower_reads, {"readindex", "proxy"}, true));
    d.push_back(enum_directive("raft-fsync", &Config::raft_fsync, {"always", "never"}, false));
    d.push_back(
        memory_directive("raft-log-segment-size", &Config::raft_log_segment_size, 4096, false));
    d.push_back(
        int64_directive("snapshot-log-entries", &Config::snapshot_log_entries, 0, INT64_MAX, true));
    d.push_back(int64_directive("snapshot-log-percentage", &Config::snapshot_log_percentage, 0,
                                1000000, true));
    d.push_back(memory_directive("snapshot-log-bytes", &Config::snapshot_log_bytes, 1024, true));
    d.push_back(bool_directive("raft-repair", &Config::raft_repair, false));
    d.push_back(string_directive("import-rdb", &Config::import_rdb, false));
    d.push_back(string_directive("join", &Config::join, false));
    d.push_back(int64_directive("raft-promote-lag", &Config::raft_promote_lag, 0, INT64_MAX, true));
    d.push_back(fixed_directive("save", "",
                                "kvraft snapshots through its Raft log (snapshot thresholds), "
                                "not save points"));
    d.push_back(
        fixed_directive("appendonly", "no", "kvraft persists writes in its Raft log, not an AOF"));
    d.push_back(fixed_directive("daemonize", "no", "kvraft runs in the foreground"));
    return d;
  }();
  return kDirectives;
}

const Directive* find_directive(std::string_view name) {
  for (const auto& d : directives())
    if (name.size() == d.name.size() && strncasecmp(name.data(), d.name.data(), name.size()) == 0)
      return &d;
  return nullptr;
}

}  // namespace

bool parse_memory(std::string_view text, int64_t* out) {
  static constexpr std::pair<std::string_view, int64_t> kUnits[] = {
      {"kb", 1024},       {"k", 1000},       {"mb", 1024 * 1024},
      {"m", 1000 * 1000}, {"gb", 1LL << 30}, {"g", 1000LL * 1000 * 1000}};
  int64_t mul = 1;
  std::string_view digits = text;
  for (const auto& [suffix, m] : kUnits) {
    if (text.size() > suffix.size() &&
        strncasecmp(text.data() + text.size() - suffix.size(), suffix.data(), suffix.size()) == 0) {
      mul = m;
      digits = text.substr(0, text.size() - suffix.size());
      break;
    }
  }
  int64_t v;
  if (!parse_int(digits, 0, INT64_MAX / mul, &v)) return false;
  *out = v * mul;
  return true;
}

std::string config_set(Config& config, std::string_view name, const std::vector<std::string>& args,
                       bool at_runtime) {
  const Directive* d = find_directive(name);
  if (!d)
    return "Unknown option or number of arguments for CONFIG SET - '" + std::string(name) + "'";
  if (at_runtime && !d->runtime_mutable) return "can't set immutable config";
  return d->set(config, args);
}

void config_get(const Config& config, std::string_view pattern,
                std::vector<std::pair<std::string, std::string>>* out) {
  std::string pat(pattern);
  for (const auto& d : directives()) {
    std::string name(d.name);
    if (fnmatch(pat.c_str(), name.c_str(), FNM_CASEFOLD) == 0)
      out->emplace_back(name, d.get(config));
  }
}

bool load_config_text(Config& config, std::string_view text, const std::string& source_name,
                      std::string* error) {
  size_t line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string line(text.substr(pos, eol - pos));
    pos = eol + 1;
    ++line_no;
    size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') {
      if (eol == text.size()) break;
      continue;
    }
    // Redis's quoting rules for arguments, shared with inline requests.
    line += "\n";
    resp::RequestParser parser(resp::ParserLimits{1024, 1 << 30, 1 << 20});
    resp::Argv argv;
    size_t consumed = 0;
    if (parser.parse(line, &consumed, &argv) != resp::ParseStatus::kComplete) {
      *error =
          source_name + ":" + std::to_string(line_no) + ": unbalanced quotes in configuration line";
      return false;
    }
    if (argv.empty()) continue;
    std::vector<std::string> args(argv.begin() + 1, argv.end());
    std::string e = config_set(config, argv[0], args, false);
    if (!e.empty()) {
      *error =
          source_name + ":" + std::to_string(line_no) + ": '" + std::string(argv[0]) + "': " + e;
      return false;
    }
    if (eol == text.size()) break;
  }
  return true;
}

bool parse_command_line(Config& config, int argc, char** argv, std::string* message,
                        bool* exit_now) {
  *exit_now = false;
  if (argc > 0) config.executable = argv[0];
  int i = 1;
  if (i < argc) {
    std::string_view a = argv[i];
    if (a == "-v" || a == "--version") {
      *message = "kvraft-server v=" KVRAFT_VERSION " (Redis protocol 7.0 compatible)";
      *exit_now = true;
      return true;
    }
    if (a == "-h" || a == "--help") {
      *message =
          "Usage: kvraft-server [/path/to/kvraft.conf] [--directive value ...]\n"
          "       kvraft-server -v or --version\n"
          "       kvraft-server -h or --help\n\n"
          "Examples:\n"
          "       kvraft-server                      (127.0.0.1:6379, data in .)\n"
          "       kvraft-server conf/kvraft.conf\n"
          "       kvraft-server --port 7001 --dir ./data/n1\n";
      *exit_now = true;
      return true;
    }
    if (a.substr(0, 2) != "--") {
      config.config_file = argv[i];
      ++i;
    }
  }
  // The rest is "--name value [value ...]" groups, turned into config lines
  // exactly as redis-server does, so quoting and validation are shared.
  std::string text;
  for (; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.substr(0, 2) == "--") {
      if (!text.empty()) text += "\n";
      text += std::string(a.substr(2));
    } else {
      if (text.empty()) {
        *message = "Invalid argument '" + std::string(a) + "': options start with --";
        return false;
      }
      // Quote every value so empty strings ("--save ''") survive.
      text += " \"";
      for (char c : a) {
        if (c == '"' || c == '\\') text += '\\';
        text += c;
      }
      text += "\"";
    }
  }
  if (!config.config_file.empty()) {
    FILE* f = fopen(config.config_file.c_str(), "r");
    if (!f) {
      *message = "Fatal error, can't open config file '" + config.config_file + "'";
      return false;
    }
    std::string contents;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
      contents.append(buf, n);
    fclose(f);
    if (!load_config_text(config, contents, config.config_file, message)) return false;
  }
  return load_config_text(config, text, "command line", message);
}

}  // namespace kvraft
