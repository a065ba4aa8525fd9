// src/server.cc — the event loop, connection handling, dispatch and cron.
#include "src/server.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "src/acl.h"
#include "src/client.h"
#include "src/client_limits.h"
#include "src/eviction.h"
#include "src/log.h"
#include "src/proxy_auth.h"
#include "src/replication.h"
#include "src/tls.h"
#include "src/transaction.h"
#include "storage/keyspace.h"

namespace kvraft {

int64_t unix_time_us() {
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  return static_cast<int64_t>(tv.tv_sec) * 1000000 + tv.tv_usec;
}

int64_t unix_time_ms() {
  return unix_time_us() / 1000;
}

namespace {

std::string sockaddr_to_string(const sockaddr_storage& ss) {
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
    port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
    port = ntohs(in6->sin6_port);
  }
  return std::string(ip) + ":" + std::to_string(port);
}

void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) {
  auto* client = static_cast<Client*>(handle->data);
  if (client->tls) {  // ciphertext: decrypted into the query buffer by on_read
    *buf = uv_buf_init(client->tls->read_buffer(), client->tls->read_buffer_size());
    return;
  }
  // Read straight into the query buffer; for a large bulk being received,
  // make room for what the parser knows is still missing (bounded per read).
  (void)suggested;  // libuv suggests 64 KB; Redis reads 16 KB (PROTO_IOBUF_LEN) at a time
  size_t want = 16 * 1024;
  want = std::max(want, std::min<size_t>(client->parser.bytes_wanted(), 1 << 20));
  client->query.reserve_tail(want);
  buf->base = client->query.tail();
  buf->len = client->query.tail_capacity();
}

void on_close(uv_handle_t* handle) {
  auto* client = static_cast<Client*>(handle->data);
  Server* server = client->server();
  server->close_client(*client);  // second call: frees (see close_client)
}

// A pipeline of reads arrives as many commands in one buffer, and each
// lookup in a large keyspace is two dependent cache misses (bucket slot,
// then entry) that, executed one command after the other, the CPU takes
// one after the other: under -P 16 GETs they were a quarter of the
// server's CPU. Before executing, this looks ahead at up to kLookahead
// complete commands in the buffer and asks for the bucket slots of their
// keys, then for the entries, so those misses overlap. Only a hint: it
// never changes anything, only multibulk requests are looked at (their
// arguments point into the buffer), and a key that is not one costs a
// useless prefetch.
void prefetch_pipelined_keys(Server& server, const Client& client) {
  constexpr size_t kLookahead = 16;
  std::string_view buf = client.query.unparsed();
  if (buf.empty() || buf[0] != '*') return;
  std::string_view keys[kLookahead];
  size_t n = 0;
  resp::RequestParser lookahead;
  resp::Argv argv;
  for (size_t pos = 0; n < kLookahead && pos < buf.size() && buf[pos] == '*';) {
    size_t consumed = 0;
    if (lookahead.parse(buf.substr(pos), &consumed, &argv) != resp::ParseStatus::kComplete) break;
    pos += consumed;
    if (argv.empty()) continue;
    const CommandSpec* spec = server.commands().find(argv[0]);
    if (spec && (spec->flags & kCmdReadonly) && spec->first_key > 0 &&
        static_cast<size_t>(spec->first_key) < argv.size())
      keys[n++] = argv[static_cast<size_t>(spec->first_key)];
  }
  if (n < 2) return;  // a lone command gains nothing
  const storage::Keyspace& ks = server.keyspace();
  for (size_t i = 0; i < n; ++i)
    ks.prefetch(client.db, keys[i], 1);
  for (size_t i = 0; i < n; ++i)
    ks.prefetch(client.db, keys[i], 2);
}

// Parses and executes every complete command in the client's query buffer.
void process_input(Server& server, Client& client) {
  prefetch_pipelined_keys(server, client);
  resp::Argv argv;
  while (!client.closing && !client.close_after_reply) {
    size_t consumed = 0;
    resp::ParseStatus status = client.parser.parse(client.query.unparsed(), &consumed, &argv);
    if (status == resp::ParseStatus::kIncomplete) break;
    if (status == resp::ParseStatus::kError) {
      // Redis replies with the protocol error and closes the connection;
      // nothing else is affected.
      server.stats().protocol_errors++;
      KV_LOG_VERBOSE("Protocol error (%s) from client: id=%llu addr=%s",
                     client.parser.error().c_str(), static_cast<unsigned long long>(client.id()),
                     client.addr.c_str());
      client.reply.error(client.parser.error());
      client.close_after_reply = true;
      break;
    }
    if (!argv.empty()) server.execute(client, argv);
    client.query.consume(consumed);
    if (close_if_output_limit_reached(server, client)) return;
  }
  int64_t limit = server.config().client_query_buffer_limit;
  if (!client.closing && static_cast<int64_t>(client.query.size()) > limit) {
    KV_LOG_WARNING(
        "Closing client that reached max query buffer length: id=%llu addr=%s (qbuf "
        "%zu bytes)",
        static_cast<unsigned long long>(client.id()), client.addr.c_str(), client.query.size());
    server.close_client(client);
    return;
  }
  client.query.shrink_if_idle();
  if (!client.reply.empty() || client.close_after_reply) server.on_client_output(client);
}

void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
  auto* client = static_cast<Client*>(stream->data);
  Server& server = *client->server();
  if (nread < 0) {
    if (nread != UV_EOF)
      KV_LOG_VERBOSE("Reading from client id=%llu: %s",
                     static_cast<unsigned long long>(client->id()), uv_strerror(nread));
    server.close_client(*client);
    return;
  }
  if (nread == 0) return;
  if (client->tls) {
    if (!tls_client_input(*client, static_cast<size_t>(nread))) {
      server.close_client(*client);
      return;
    }
  } else {
    client->query.commit(static_cast<size_t>(nread));
  }
  server.stats().net_input_bytes += static_cast<uint64_t>(nread);
  client->last_interaction_ms = unix_time_ms();
  process_input(server, *client);
}

void on_write_done(uv_write_t* req, int status) {
  auto* client = static_cast<Client*>(req->data);
  client->writing = false;
  client->write_in_flight.clear();
  if (client->write_in_flight.capacity() > resp::ReplyWriter::kKeepCapacity)
    client->write_in_flight.shrink_to_fit();  // do not pin a big reply's memory
  if (client->closing) return;
  Server& server = *client->server();
  if (status < 0) {
    KV_LOG_VERBOSE("Writing to client id=%llu: %s", static_cast<unsigned long long>(client->id()),
                   uv_strerror(status));
    server.close_client(*client);
    return;
  }
  if (!client->reply.empty() || client->close_after_reply ||
      (client->tls && client->tls->has_output()))
    server.on_client_output(*client);
}

}  // namespace

Server::Server(Config config)
    : config_(std::move(config)),
      loop_(uv_default_loop()),
      keyspace_(std::make_unique<storage::Keyspace>(config_.databases)),
      commands_(&command_table()),
      acl_(std::make_unique<Acl>()),
      evictor_(std::make_unique<Evictor>(*this)) {
  start_time_ms_ = unix_time_ms();
  evictor_->sync_config();
}

Server::~Server() = default;

void Server::replace_keyspace(std::unique_ptr<storage::Keyspace> keyspace) {
  keyspace_ = std::move(keyspace);
  evictor_->sync_config();
}

Client* Server::find_client(uint64_t id) {
  auto it = clients_.find(id);
  return it == clients_.end() ? nullptr : it->second.get();
}

int64_t Server::next_write_time_ms() {
  last_write_time_ms_ = std::max(last_write_time_ms_, unix_time_ms());
  return last_write_time_ms_;
}

void Server::execute(Client& client, const resp::Argv& argv) {
  if (transaction_hold(client, argv)) return;
  const CommandSpec* spec = commands_->find(argv[0]);
  // Internal commands come only from the server itself or, forwarded by a
  // follower (KVRAFT.EXEC, KVRAFT.FINGERPRINT), from a leader proxy
  // (src/proxy_auth.h).
  if (!spec || ((spec->flags & kCmdInternal) && !internal_command_permitted(client, *spec))) {
    client.txn.on_rejected();
    std::string args;
    for (size_t i = 1; i < argv.size() && args.size() < 128; ++i) {
      size_t room = 128 - args.size();
      args += "'" + std::string(argv[i].substr(0, room)) + "' ";
    }
    client.reply_in_order([&](resp::ReplyWriter& w) {
      w.error("ERR unknown command '" + std::string(argv[0].substr(0, 128)) +
              "', with args beginning with: " + args);
    });
    return;
  }
  int argc = static_cast<int>(argv.size());
  // The command's arity, then that of the subcommand it routes to.
  const CommandSpec* container = spec;
  for (int pass = 0; pass < 2; ++pass, spec = route_subcommand(*container, argv)) {
    if ((spec->arity > 0 && argc != spec->arity) || (spec->arity < 0 && argc < -spec->arity)) {
      client.txn.on_rejected();
      client.reply_in_order([&](resp::ReplyWriter& w) { w.error(wrong_arity_error(spec->name)); });
      return;
    }
  }
  // Authentication and ACL permissions (src/acl.h).
  if (AclVerdict v = acl_->check(client, config_.requirepass, *container, argv);
      v.kind != AclVerdict::kAllowed) {
    client.txn.on_rejected();
    if (v.kind == AclVerdict::kDisconnect)
      client.close_after_reply = true;
    else
      client.reply_in_order([&](resp::ReplyWriter& w) { w.error(v.error); });
    record_acl_denial(*this, client, v, *container, argv);
    return;
  }
  client.last_command = spec->name;
  stats_.commands_processed++;
  if (transaction_dispatch(*this, client, *spec, argv)) return;
  // Routing by flags: writes and reads go through the replicated state;
  // connection commands run here, queued behind any reply still waiting.
  if (spec->flags & kCmdWrite) {
    replication_->write(client, *spec, argv);
    return;
  }
  if (spec->flags & kCmdReadonly) {
    replication_->read(client, *spec, argv);
    return;
  }
  client.reply_in_order([&](resp::ReplyWriter& w) {
    ExecContext ctx{*keyspace_, client.db, unix_time_ms(), argv, w, spec};
    ctx.server = this;
    ctx.client = &client;
    spec->handler(ctx);
  });
}

void Server::on_client_output(Client& client) {
  if (client.closing || close_if_output_limit_reached(*this, client)) return;
  if (client.flush_pending) return;
  client.flush_pending = true;
  pending_flush_.push_back(&client);
}

void Server::flush_client(Client& client) {
  if (client.writing) return;  // on_write_done flushes the rest
  if (client.tls && !tls_client_seal(client)) {
    close_client(client);
    return;
  }
  if (!client.reply.empty()) {
    std::string_view out = client.reply.buffer();
    uv_buf_t buf = uv_buf_init(const_cast<char*>(out.data()), static_cast<unsigned>(out.size()));
    int n = uv_try_write(reinterpret_cast<uv_stream_t*>(client.handle()), &buf, 1);
    if (n < 0 && n != UV_EAGAIN) {
      KV_LOG_VERBOSE("Writing to client id=%llu: %s", static_cast<unsigned long long>(client.id()),
                     uv_strerror(n));
      close_client(client);
      return;
    }
    size_t written = n > 0 ? static_cast<size_t>(n) : 0;
    stats_.net_output_bytes += written;
    client.reply.consume(written);
    if (!client.reply.empty()) {
      // The kernel's buffer is full: hand the rest to libuv and keep
      // accumulating new replies behind it.
      client.write_in_flight.assign(client.reply.buffer());
      stats_.net_output_bytes += client.write_in_flight.size();
      client.reply.clear();
      uv_buf_t rest = uv_buf_init(client.write_in_flight.data(),
                                  static_cast<unsigned>(client.write_in_flight.size()));
      client.writing = true;
      int rc = uv_write(&client.write_req, reinterpret_cast<uv_stream_t*>(client.handle()), &rest,
                        1, on_write_done);
      if (rc < 0) {
        client.writing = false;
        close_client(client);
      }
      return;
    }
  }
  // QUIT / a protocol error: close once every reply, waiting ones included, is out.
  if (client.close_after_reply && !client.has_pending_replies()) close_client(client);
}

void Server::flush_pending_clients() {
  // Swap first: flushing may close clients, which must not touch the list
  // being iterated.
  std::vector<Client*> batch;
  batch.swap(pending_flush_);
  for (Client* c : batch) {
    c->flush_pending = false;
    if (!c->closing) flush_client(*c);
  }
}

void Server::close_client(Client& client) {
  if (!client.closing) {
    client.closing = true;
    if (client.flush_pending) {
      auto it = std::find(pending_flush_.begin(), pending_flush_.end(), &client);
      if (it != pending_flush_.end()) pending_flush_.erase(it);
      client.flush_pending = false;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(client.handle()), on_close);
    return;
  }
  // Called again from on_close once libuv is done with the handle.
  if (uv_is_closing(reinterpret_cast<uv_handle_t*>(client.handle()))) clients_.erase(client.id());
}

void Server::on_connection(uv_stream_t* listener, int status) {
  auto* server = static_cast<Server*>(listener->data);
  if (status < 0) {
    KV_LOG_WARNING("Accepting client connection: %s", uv_strerror(status));
    return;
  }
  uint64_t id = server->next_client_id_++;
  auto client = std::make_unique<Client>(server, id);
  uv_tcp_init(server->loop_, client->handle());
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(client->handle())) != 0) {
    Client* raw = client.release();
    uv_close(reinterpret_cast<uv_handle_t*>(raw->handle()),
             [](uv_handle_t* h) { delete static_cast<Client*>(h->data); });
    return;
  }
  server->stats_.connections_received++;
  uv_tcp_nodelay(client->handle(), 1);
  if (server->config_.tcp_keepalive > 0)
    uv_tcp_keepalive(client->handle(), 1, static_cast<unsigned>(server->config_.tcp_keepalive));
  sockaddr_storage ss;
  int len = sizeof ss;
  if (uv_tcp_getpeername(client->handle(), reinterpret_cast<sockaddr*>(&ss), &len) == 0)
    client->addr = sockaddr_to_string(ss);
  len = sizeof ss;
  if (uv_tcp_getsockname(client->handle(), reinterpret_cast<sockaddr*>(&ss), &len) == 0)
    client->laddr = sockaddr_to_string(ss);
  client->created_ms = client->last_interaction_ms = unix_time_ms();
  // Before anything can be written, so nothing ever leaves in clear on the
  // TLS port (a client over maxclients is closed without a reply).
  const auto& tls_ls = server->tls_listeners_;
  if (std::find(tls_ls.begin(), tls_ls.end(), reinterpret_cast<uv_tcp_t*>(listener)) !=
      tls_ls.end())
    client->tls = std::make_unique<TlsSession>(
        *server->tls_context_, TlsSession::Role::kServer,
        tls_verify_from_auth_clients(server->config_.tls_auth_clients));
  Client* c = client.get();
  server->clients_.emplace(id, std::move(client));
  if (static_cast<int>(server->clients_.size()) > server->config_.maxclients) {
    server->stats_.rejected_connections++;
    c->reply.error("ERR max number of clients reached");
    c->close_after_reply = true;
    server->on_client_output(*c);
    return;
  }
  if (protected_mode_refuses(server->config_.protected_mode,
                             server->acl_->default_needs_auth(server->config_.requirepass),
                             server->config_.bind, c->addr.substr(0, c->addr.rfind(':')))) {
    server->stats_.rejected_connections++;
    c->reply.error(kErrDenied);
    c->close_after_reply = true;
    server->on_client_output(*c);
    return;
  }
  uv_read_start(reinterpret_cast<uv_stream_t*>(c->handle()), on_alloc, on_read);
}

// Binds the plain client port and the TLS port on every bind address; a
// port of 0 is not listened on (as in Redis), but one of them must be set.
bool Server::listen_all(std::string* error) {
  if (config_.port == 0 && config_.tls_port == 0) {
    *error = "Configured to not listen anywhere, exiting.";
    return false;
  }
  return (config_.port == 0 || listen_port(config_.port, false, error)) &&
         (config_.tls_port == 0 || listen_port(config_.tls_port, true, error));
}

bool Server::listen_port(int port, bool tls, std::string* error) {
  for (const std::string& host : config_.bind) {
    sockaddr_storage addr;
    int rc;
    if (host.find(':') != std::string::npos)
      rc = uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr));
    else
      rc = uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr));
    if (rc != 0) {
      *error = "invalid bind address '" + host + "'";
      return false;
    }
    auto tcp = std::make_unique<uv_tcp_t>();
    uv_tcp_init(loop_, tcp.get());
    tcp->data = this;
    rc = uv_tcp_bind(tcp.get(), reinterpret_cast<sockaddr*>(&addr), 0);
    if (rc == 0)
      rc = uv_listen(reinterpret_cast<uv_stream_t*>(tcp.get()), config_.tcp_backlog, on_connection);
    if (rc != 0) {
      *error = "Could not create server TCP listening socket " + host + ":" + std::to_string(port) +
               ": " + uv_strerror(rc);
      uv_close(reinterpret_cast<uv_handle_t*>(tcp.release()),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
      return false;
    }
    if (tls) tls_listeners_.push_back(tcp.get());
    listeners_.push_back(std::move(tcp));
  }
  return true;
}

void Server::on_cron(uv_timer_t* timer) {
  static_cast<Server*>(timer->data)->cron();
}

void Server::on_flush(uv_check_t* check) {
  static_cast<Server*>(check->data)->end_of_iteration();
}

void Server::on_prepare(uv_prepare_t* prepare) {
  static_cast<Server*>(prepare->data)->end_of_iteration();
}

// Runs after the loop's I/O callbacks and again before it blocks: start the
// Raft work this iteration made due (read barriers, the next Ready batch),
// then write every client's accumulated replies.
void Server::end_of_iteration() {
  if (replication_) replication_->on_loop_iteration();
  flush_pending_clients();
}

void Server::on_signal(uv_signal_t* handle, int signum) {
  auto* server = static_cast<Server*>(handle->data);
  KV_LOG_WARNING("Received %s scheduling shutdown...", signum == SIGINT ? "SIGINT" : "SIGTERM");
  server->request_shutdown();
}

void Server::apply_runtime_config() {
  evictor_->sync_config();
  if (replication_) replication_->sync_config();
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(&cron_timer_)) &&
      uv_timer_get_repeat(&cron_timer_) != static_cast<uint64_t>(1000 / config_.hz))
    uv_timer_start(&cron_timer_, on_cron, 1000 / config_.hz, 1000 / config_.hz);
}

void Server::request_shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  flush_pending_clients();
  uv_stop(loop_);
}

void Server::cron() {
  ++cron_runs_;
  evictor_->sync_config();
  active_expire_cycle();
  // Connections of ACL users deleted or disabled since the last cron are
  // closed, as Redis does on ACL DELUSER (replicated: on every node).
  if (acl_->generation() != acl_generation_) {
    acl_generation_ = acl_->generation();
    std::vector<Client*> revoked;
    for (auto& [id, c] : clients_)
      if (!c->closing && c->authenticated && !c->proxy_member && !acl_->user_active(c->user))
        revoked.push_back(c.get());
    for (Client* c : revoked)
      close_client(*c);
  }
  // Spend about a millisecond per cron moving rehashing buckets, so a table
  // that grew while idle finishes its rehash without waiting for traffic.
  keyspace_->rehash_step(1000);
  if (config_.timeout > 0) {
    int64_t now = unix_time_ms();
    std::vector<Client*> idle;
    for (auto& [id, c] : clients_)
      if (!c->closing && now - c->last_interaction_ms > int64_t{config_.timeout} * 1000)
        idle.push_back(c.get());
    for (Client* c : idle) {
      KV_LOG_VERBOSE("Closing idle client id=%llu", static_cast<unsigned long long>(c->id()));
      close_client(*c);
    }
  }
  for (auto& [id, c] : clients_)
    if (!c->closing) c->query.shrink_if_idle();
}

void Server::active_expire_cycle() {
  // Redis's active expiry: sample keys with a TTL and delete the expired
  // ones, repeating while a large share of the sample was expired, within a
  // time budget of a quarter of the cron period. The deletions are writes of
  // the internal KVRAFT.EXPIRE-KEYS command, so in a cluster only the leader
  // decides and every replica applies the same deletions.
  // An expired key stays until its deletion is applied: a cycle starts only
  // once the previous cycle's deletions are, and proposes each key once.
  if (!replication_->is_leader() || replication_->internal_proposal_pending()) return;
  int64_t budget_us = 250000 / config_.hz;
  int64_t start = unix_time_us();
  for (int db = 0; db < config_.databases; ++db) {
    std::unordered_set<std::string> proposed;
    while (unix_time_us() - start < budget_us) {
      std::vector<std::string> expired;
      size_t sampled = keyspace_->sample_expired(db, unix_time_ms(), 20, &expired);
      std::erase_if(expired, [&](const std::string& k) { return !proposed.insert(k).second; });
      if (!expired.empty()) {
        std::vector<std::string_view> argv;
        argv.reserve(expired.size() + 1);
        argv.push_back("KVRAFT.EXPIRE-KEYS");
        for (const auto& k : expired)
          argv.push_back(k);
        if (!replication_->propose_internal(db, argv)) return;
      }
      if (sampled == 0 || expired.size() * 4 <= sampled) break;
    }
  }
}

void Server::print_banner() {
  KV_LOG_NOTICE("kvraft-server version=%s, bits=%d, pid=%d, just started", KVRAFT_VERSION,
                static_cast<int>(sizeof(void*) * 8), static_cast<int>(getpid()));
  if (config_.config_file.empty())
    KV_LOG_NOTICE(
        "No config file specified, using the default config. In order to specify a "
        "config file use %s /path/to/kvraft.conf",
        config_.executable.c_str());
  else
    KV_LOG_NOTICE("Configuration loaded from %s", config_.config_file.c_str());
  std::string binds;
  for (const auto& b : config_.bind)
    binds += (binds.empty() ? "" : " ") + b;
  KV_LOG_NOTICE("Client port %d on %s, data directory %s, %d databases", config_.port,
                binds.c_str(), config_.dir.c_str(), config_.databases);
}

int Server::run() {
  print_banner();
  std::string error;
  if (config_.tls_port != 0 || config_.tls_replication) {
    tls_context_ = TlsContext::create(TlsOptions::from_config(config_), &error);
    if (!tls_context_) {
      KV_LOG_WARNING("%s", error.c_str());
      return 1;
    }
    KV_LOG_NOTICE("TLS: client port %d (tls-auth-clients %s), raft peer port %s", config_.tls_port,
                  config_.tls_auth_clients.c_str(),
                  config_.tls_replication ? "TLS with mutual authentication" : "plain");
  }
  replication_ = std::make_unique<Replication>(*this);
  if (!replication_->start(&error)) {
    KV_LOG_WARNING("%s", error.c_str());
    replication_->stop();
    uv_run(loop_, UV_RUN_DEFAULT);  // let closing handles finish
    return 1;
  }
  if (!listen_all(&error)) {
    KV_LOG_WARNING("%s", error.c_str());
    replication_->stop();
    for (auto& l : listeners_)
      uv_close(reinterpret_cast<uv_handle_t*>(l.get()), nullptr);
    uv_run(loop_, UV_RUN_DEFAULT);
    return 1;
  }
  uv_timer_init(loop_, &cron_timer_);
  cron_timer_.data = this;
  uv_timer_start(&cron_timer_, on_cron, 1000 / config_.hz, 1000 / config_.hz);
  uv_check_init(loop_, &flush_check_);
  flush_check_.data = this;
  uv_check_start(&flush_check_, on_flush);
  uv_prepare_init(loop_, &flush_prepare_);
  flush_prepare_.data = this;
  uv_prepare_start(&flush_prepare_, on_prepare);
  uv_signal_init(loop_, &sigint_);
  sigint_.data = this;
  uv_signal_start(&sigint_, on_signal, SIGINT);
  uv_signal_init(loop_, &sigterm_);
  sigterm_.data = this;
  uv_signal_start(&sigterm_, on_signal, SIGTERM);
  signal(SIGPIPE, SIG_IGN);
  KV_LOG_NOTICE("Ready to accept connections tcp");

  uv_run(loop_, UV_RUN_DEFAULT);

  // Orderly shutdown: close every handle and let the loop finish closing them.
  for (auto& [id, c] : clients_)
    if (!c->closing) {
      c->closing = true;
      uv_close(reinterpret_cast<uv_handle_t*>(c->handle()), nullptr);
    }
  for (auto& l : listeners_)
    uv_close(reinterpret_cast<uv_handle_t*>(l.get()), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&cron_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&flush_check_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&flush_prepare_), nullptr);
  replication_->stop();
  uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), nullptr);
  uv_run(loop_, UV_RUN_DEFAULT);
  clients_.clear();
  KV_LOG_NOTICE("kvraft is now ready to exit, bye bye...");
  return 0;
}

}  // namespace kvraft
