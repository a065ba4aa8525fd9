// bench/latency.cc — an open-loop latency probe for bench/run.
//
// redis-benchmark measures closed-loop: each client waits for a reply before
// it sends the next request, so a slow reply delays the requests that would
// have seen the slowness too ("coordinated omission") and the percentiles
// look better than what an application with its own arrival rate sees.
// This probe instead schedules requests at a fixed rate, spread over C
// connections, and measures each one from the moment it was *due* to be
// sent to the moment its reply arrived. A server that falls behind the rate
// therefore shows its queueing delay in the tail, as it should.
//
// Usage: kvraft-latency -p PORT [-h HOST] [-r RATE/s] [-d SECONDS] [-c CONNS]
//                       [-t set|get] [-k KEYSPACE] [-w TIMELINE-FILE]
// Prints one line: "<test> rate=<r>/s sent=<n> ok=<n> errors=<n>
//                   p50=<ms> p99=<ms> p99.9=<ms> max=<ms>"
// and exits 1 if nothing succeeded (so a script notices a dead server).
// With -w, also writes one line per 100 ms window of due times
// ("<window start, s since the run began> <replies> <p50 ms> <max ms>",
// after a "#" line giving the wall-clock start), so a
// tail can be lined up with what the servers logged at that moment (a
// snapshot, an election, a slow fsync).
#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

struct Options {
  std::string host = "127.0.0.1";
  int port = 6379;
  double rate = 10000;  // requests per second, across all connections
  double seconds = 10;
  int connections = 20;
  std::string test = "set";
  uint64_t keyspace = 100000;
  std::string timeline_path;  // -w: per-window latencies go here ("" = none)
};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The run's shared state; the loop is single-threaded so no locking.
struct Probe {
  Options opt;
  uv_loop_t* loop = nullptr;
  std::vector<redisAsyncContext*> conns;
  std::vector<int64_t> latencies_ns;  // one per successful reply
  std::vector<int64_t> due_ns;        // the due time of each of those replies
  uint64_t scheduled = 0;             // requests whose due time has been reached
  uint64_t sent = 0, ok = 0, errors = 0, outstanding = 0;
  int64_t start_ns = 0, end_ns = 0;
  int64_t start_unix_ms = 0;  // wall clock at start_ns, for lining up with server logs
  size_t next_conn = 0;
  std::mt19937_64 rng{42};
  uv_timer_t timer;
  bool stopping = false;
};

// Heap-allocated per request: carries its scheduled time to the reply.
struct Request {
  Probe* probe;
  int64_t due_ns;
};

void on_reply(redisAsyncContext*, void* r, void* privdata) {
  auto* req = static_cast<Request*>(privdata);
  Probe* p = req->probe;
  auto* reply = static_cast<redisReply*>(r);
  --p->outstanding;
  if (reply == nullptr || reply->type == REDIS_REPLY_ERROR) {
    ++p->errors;
  } else {
    ++p->ok;
    p->latencies_ns.push_back(now_ns() - req->due_ns);
    p->due_ns.push_back(req->due_ns);
  }
  delete req;
}

void send_one(Probe* p, int64_t due_ns) {
  redisAsyncContext* c = p->conns[p->next_conn++ % p->conns.size()];
  char key[32];
  std::snprintf(key, sizeof key, "lat:%012llu",
                static_cast<unsigned long long>(p->rng() % p->opt.keyspace));
  auto* req = new Request{p, due_ns};
  int rc = p->opt.test == "get" ? redisAsyncCommand(c, on_reply, req, "GET %s", key)
                                : redisAsyncCommand(c, on_reply, req, "SET %s xxx", key);
  if (rc != REDIS_OK) {
    ++p->errors;
    delete req;
    return;
  }
  ++p->sent;
  ++p->outstanding;
}

// Every millisecond: send every request whose due time has passed, each
// stamped with its own due time (not the time we got round to sending it).
void on_tick(uv_timer_t* t) {
  auto* p = static_cast<Probe*>(t->data);
  const int64_t now = now_ns();
  if (now >= p->end_ns) {
    if (!p->stopping) {
      p->stopping = true;
      uv_timer_stop(&p->timer);
      for (auto* c : p->conns)
        redisAsyncDisconnect(c);  // pending replies are delivered first
    }
    return;
  }
  const double interval_ns = 1e9 / p->opt.rate;
  while (true) {
    const int64_t due =
        p->start_ns + static_cast<int64_t>(static_cast<double>(p->scheduled) * interval_ns);
    if (due > now) break;
    ++p->scheduled;
    send_one(p, due);
  }
}

double percentile_ms(std::vector<int64_t>& v, double q) {
  if (v.empty()) return 0;
  size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return static_cast<double>(v[i]) / 1e6;
}

double max_ms(const std::vector<int64_t>& v) {
  return v.empty() ? 0 : static_cast<double>(*std::max_element(v.begin(), v.end())) / 1e6;
}

// -w: groups the replies by the 100 ms window their request was due in and
// writes each window's count, median and maximum latency. Must run before
// percentile_ms reorders latencies_ns.
bool write_timeline(const Probe& p) {
  constexpr int64_t kWindowNs = 100'000'000;
  std::vector<std::vector<int64_t>> windows;
  for (size_t i = 0; i < p.latencies_ns.size(); ++i) {
    size_t w = static_cast<size_t>((p.due_ns[i] - p.start_ns) / kWindowNs);
    if (w >= windows.size()) windows.resize(w + 1);
    windows[w].push_back(p.latencies_ns[i]);
  }
  FILE* f = std::fopen(p.opt.timeline_path.c_str(), "w");
  if (f == nullptr) {
    std::fprintf(stderr, "cannot write %s: %s\n", p.opt.timeline_path.c_str(),
                 std::strerror(errno));
    return false;
  }
  std::fprintf(f, "# window_s replies p50_ms max_ms; start_unix_ms %lld\n",
               static_cast<long long>(p.start_unix_ms));
  for (size_t w = 0; w < windows.size(); ++w) {
    std::vector<int64_t>& v = windows[w];
    double p50 = 0, mx = 0;
    if (!v.empty()) {
      std::nth_element(v.begin(), v.begin() + static_cast<long>(v.size() / 2), v.end());
      p50 = static_cast<double>(v[v.size() / 2]) / 1e6;
      mx = static_cast<double>(*std::max_element(v.begin(), v.end())) / 1e6;
    }
    std::fprintf(f, "%.1f %zu %.3f %.3f\n", static_cast<double>(w) / 10.0, v.size(), p50, mx);
  }
  return std::fclose(f) == 0;
}

bool parse_args(int argc, char** argv, Options* o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string f = argv[i];
    const char* v = argv[i + 1];
    if (f == "-h")
      o->host = v;
    else if (f == "-p")
      o->port = std::atoi(v);
    else if (f == "-r")
      o->rate = std::atof(v);
    else if (f == "-d")
      o->seconds = std::atof(v);
    else if (f == "-c")
      o->connections = std::atoi(v);
    else if (f == "-t")
      o->test = v;
    else if (f == "-k")
      o->keyspace = std::strtoull(v, nullptr, 10);
    else if (f == "-w")
      o->timeline_path = v;
    else
      return false;
  }
  return (argc % 2) == 1 && o->rate > 0 && o->seconds > 0 && o->connections > 0 &&
         o->keyspace > 0 && (o->test == "set" || o->test == "get");
}

}  // namespace

int main(int argc, char** argv) {
  Probe p;
  if (!parse_args(argc, argv, &p.opt)) {
    std::fprintf(stderr,
                 "usage: %s -p PORT [-h HOST] [-r RATE] [-d SECONDS] [-c CONNS] [-t set|get] "
                 "[-k KEYSPACE] [-w TIMELINE-FILE]\n",
                 argv[0]);
    return 2;
  }
  p.loop = uv_default_loop();
  for (int i = 0; i < p.opt.connections; ++i) {
    redisAsyncContext* c = redisAsyncConnect(p.opt.host.c_str(), p.opt.port);
    if (c == nullptr || c->err) {
      std::fprintf(stderr, "connect %s:%d: %s\n", p.opt.host.c_str(), p.opt.port,
                   c ? c->errstr : "out of memory");
      return 1;
    }
    redisLibuvAttach(c, p.loop);
    p.conns.push_back(c);
  }
  p.latencies_ns.reserve(static_cast<size_t>(p.opt.rate * p.opt.seconds) + 16);
  p.due_ns.reserve(p.latencies_ns.capacity());
  p.start_ns = now_ns();
  p.start_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  p.end_ns = p.start_ns + static_cast<int64_t>(p.opt.seconds * 1e9);
  uv_timer_init(p.loop, &p.timer);
  p.timer.data = &p;
  uv_timer_start(&p.timer, on_tick, 0, 1);
  uv_run(p.loop, UV_RUN_DEFAULT);
  if (!p.opt.timeline_path.empty() && !write_timeline(p)) return 1;
  std::printf(
      "%s rate=%.0f/s sent=%llu ok=%llu errors=%llu p50=%.3f p99=%.3f p99.9=%.3f max=%.3f\n",
      p.opt.test.c_str(), p.opt.rate, static_cast<unsigned long long>(p.sent),
      static_cast<unsigned long long>(p.ok), static_cast<unsigned long long>(p.errors),
      percentile_ms(p.latencies_ns, 0.50), percentile_ms(p.latencies_ns, 0.99),
      percentile_ms(p.latencies_ns, 0.999), max_ms(p.latencies_ns));
  return p.ok > 0 ? 0 : 1;
}
