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
// The probe must not add latency of its own, or a target of a few
// milliseconds cannot be judged: an earlier version built on hiredis's async
// API and a 1 ms libuv timer added 1.5 ms at p50 and 3 ms at p99 against an
// idle redis-server. So it is a plain epoll loop: a timerfd armed at the
// next due time (never more often than every -q microseconds, 50 by
// default, so the probe does not steal a core from the servers it measures
// on a small machine), commands pre-encoded as RESP, and replies skipped by
// a small RESP scanner that allocates nothing.
//
// Usage: kvraft-latency -p PORT [-h HOST] [-r RATE/s] [-d SECONDS] [-c CONNS]
//                       [-t set|get] [-k KEYSPACE] [-q QUANTUM-USEC]
//                       [-w TIMELINE-FILE]
// Prints one line: "<test> rate=<r>/s sent=<n> ok=<n> errors=<n>
//                   p50=<ms> p99=<ms> p99.9=<ms> max=<ms>"
// and exits 1 if nothing succeeded (so a script notices a dead server).
// With -w, also writes one line per 100 ms window of due times
// ("<window start, s since the run began> <replies> <p50 ms> <max ms>",
// after a "#" line giving the wall-clock start), so a
// tail can be lined up with what the servers logged at that moment (a
// snapshot, an election, a slow fsync).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
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
  int64_t quantum_ns = 50'000;  // -q: least time between two sending rounds
  std::string timeline_path;    // -w: per-window latencies go here ("" = none)
};

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// One client connection: the bytes not yet written, the due times of the
// requests whose replies have not arrived (replies come back in order), and
// the bytes read that do not yet make a whole reply.
struct Connection {
  int fd = -1;
  std::string out;
  size_t out_done = 0;  // bytes of `out` already written
  bool want_write = false;
  std::deque<int64_t> due;
  std::string in;
};

// What scan_reply found at the front of a buffer.
enum class Scan { kIncomplete, kOk, kError, kBad };

// Reads one CRLF-terminated line starting at `pos`; returns the position
// after the CRLF, or npos if the line is not complete yet.
size_t line_end(const std::string& b, size_t pos) {
  size_t cr = b.find("\r\n", pos);
  return cr == std::string::npos ? cr : cr + 2;
}

// Skips one RESP2/RESP3 reply starting at `*pos` (advancing it past the
// reply when complete). Only the kinds a SET or GET can answer with need to
// be understood, but aggregates are walked too so an unexpected reply is
// skipped rather than misread.
Scan scan_reply(const std::string& b, size_t* pos, int depth = 0) {
  if (*pos >= b.size()) return Scan::kIncomplete;
  if (depth > 8) return Scan::kBad;
  const char type = b[*pos];
  const size_t after_line = line_end(b, *pos);
  if (after_line == std::string::npos) return Scan::kIncomplete;
  const long long n = std::strtoll(b.c_str() + *pos + 1, nullptr, 10);
  switch (type) {
    case '+':
    case ':':
    case '_':
    case ',':
    case '#':
      *pos = after_line;
      return Scan::kOk;
    case '-':
      *pos = after_line;
      return Scan::kError;
    case '$':
    case '=':
    case '!': {
      if (n < 0) {  // $-1: a nil bulk
        *pos = after_line;
        return Scan::kOk;
      }
      const size_t end = after_line + static_cast<size_t>(n) + 2;
      if (end > b.size()) return Scan::kIncomplete;
      *pos = end;
      return type == '!' ? Scan::kError : Scan::kOk;
    }
    case '*':
    case '%':
    case '~':
    case '>': {
      size_t p = after_line;
      const long long items = n < 0 ? 0 : (type == '%' ? 2 * n : n);
      Scan worst = Scan::kOk;
      for (long long i = 0; i < items; ++i) {
        Scan s = scan_reply(b, &p, depth + 1);
        if (s == Scan::kIncomplete || s == Scan::kBad) return s;
        if (s == Scan::kError) worst = s;
      }
      *pos = p;
      return worst;
    }
    default:
      return Scan::kBad;
  }
}

// The run's state; single-threaded.
struct Probe {
  Options opt;
  int epoll_fd = -1;
  int timer_fd = -1;
  std::vector<Connection> conns;
  std::vector<int64_t> latencies_ns;  // one per successful reply
  std::vector<int64_t> due_ns;        // the due time of each of those replies
  uint64_t scheduled = 0;             // requests whose due time has been reached
  uint64_t sent = 0, ok = 0, errors = 0, outstanding = 0;
  int64_t start_ns = 0, end_ns = 0;
  int64_t start_unix_ms = 0;  // wall clock at start_ns, for lining up with server logs
  size_t next_conn = 0;
  std::mt19937_64 rng{42};
  std::string first_error;  // the text of the first error reply, for the operator
};

int64_t due_time(const Probe& p, uint64_t index) {
  return p.start_ns + static_cast<int64_t>(static_cast<double>(index) * 1e9 / p.opt.rate);
}

// Appends one request to a connection's output, encoded as RESP.
void encode_request(Probe* p, Connection* c) {
  char key[32];
  int klen = std::snprintf(key, sizeof key, "lat:%012llu",
                           static_cast<unsigned long long>(p->rng() % p->opt.keyspace));
  char buf[128];
  int len = p->opt.test == "get"
                ? std::snprintf(buf, sizeof buf, "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", klen, key)
                : std::snprintf(buf, sizeof buf, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$3\r\nxxx\r\n",
                                klen, key);
  c->out.append(buf, static_cast<size_t>(len));
}

// Writes as much of a connection's output as the socket takes, and asks
// epoll for writability only while something is left.
bool flush(Probe* p, Connection* c) {
  while (c->out_done < c->out.size()) {
    ssize_t n = ::write(c->fd, c->out.data() + c->out_done, c->out.size() - c->out_done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0) {
      std::fprintf(stderr, "write to %s:%d: %s\n", p->opt.host.c_str(), p->opt.port,
                   std::strerror(errno));
      return false;
    }
    c->out_done += static_cast<size_t>(n);
  }
  if (c->out_done == c->out.size()) {
    c->out.clear();
    c->out_done = 0;
  }
  const bool want = !c->out.empty();
  if (want != c->want_write) {
    epoll_event ev{};
    ev.events = want ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
    ev.data.ptr = c;
    epoll_ctl(p->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_write = want;
  }
  return true;
}

// Sends every request whose due time has passed, each stamped with its own
// due time (not the time the probe got round to sending it), round-robin
// over the connections as independent clients would; then arms the timer
// for the next due time.
bool send_due(Probe* p, int64_t now) {
  std::vector<Connection*> touched;
  while (true) {
    const int64_t due = due_time(*p, p->scheduled);
    if (due > now || due >= p->end_ns) break;
    ++p->scheduled;
    Connection* c = &p->conns[p->next_conn++ % p->conns.size()];
    if (c->out.empty()) touched.push_back(c);
    encode_request(p, c);
    c->due.push_back(due);
    ++p->sent;
    ++p->outstanding;
  }
  for (Connection* c : touched)
    if (!flush(p, c)) return false;
  const int64_t next = std::max(due_time(*p, p->scheduled), now + p->opt.quantum_ns);
  itimerspec its{};
  if (next < p->end_ns) {
    its.it_value.tv_sec = next / 1'000'000'000;
    its.it_value.tv_nsec = next % 1'000'000'000;
  }  // else: all zero disarms the timer; the run drains its replies
  timerfd_settime(p->timer_fd, TFD_TIMER_ABSTIME, &its, nullptr);
  return true;
}

// Reads what arrived on a connection and accounts every complete reply
// against the oldest outstanding request on it.
bool receive(Probe* p, Connection* c) {
  char buf[65536];
  while (true) {
    ssize_t n = ::read(c->fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n <= 0) {
      std::fprintf(stderr, "connection to %s:%d %s\n", p->opt.host.c_str(), p->opt.port,
                   n == 0 ? "closed by the server" : std::strerror(errno));
      return false;
    }
    c->in.append(buf, static_cast<size_t>(n));
    if (static_cast<size_t>(n) < sizeof buf) break;
  }
  const int64_t now = now_ns();
  size_t pos = 0;
  while (pos < c->in.size()) {
    size_t start = pos;
    Scan s = scan_reply(c->in, &pos);
    if (s == Scan::kIncomplete) break;
    if (s == Scan::kBad || c->due.empty()) {
      std::fprintf(stderr, "unexpected reply from %s:%d: %.40s\n", p->opt.host.c_str(), p->opt.port,
                   c->in.c_str() + start);
      return false;
    }
    const int64_t due = c->due.front();
    c->due.pop_front();
    --p->outstanding;
    if (s == Scan::kError) {
      ++p->errors;
      if (p->first_error.empty()) p->first_error = c->in.substr(start, pos - start - 2);
    } else {
      ++p->ok;
      p->latencies_ns.push_back(now - due);
      p->due_ns.push_back(due);
    }
  }
  c->in.erase(0, pos);
  return true;
}

bool connect_all(Probe* p) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(p->opt.port));
  if (inet_pton(AF_INET, p->opt.host.c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "bad address %s (an IPv4 address is expected)\n", p->opt.host.c_str());
    return false;
  }
  p->conns.resize(static_cast<size_t>(p->opt.connections));
  for (Connection& c : p->conns) {
    c.fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (c.fd < 0 || ::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      std::fprintf(stderr, "connect %s:%d: %s\n", p->opt.host.c_str(), p->opt.port,
                   std::strerror(errno));
      return false;
    }
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::fcntl(c.fd, F_SETFL, O_NONBLOCK) != 0) return false;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &c;
    epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, c.fd, &ev);
  }
  return true;
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
    else if (f == "-q")
      o->quantum_ns = static_cast<int64_t>(std::atof(v) * 1000);
    else if (f == "-w")
      o->timeline_path = v;
    else
      return false;
  }
  return (argc % 2) == 1 && o->rate > 0 && o->seconds > 0 && o->connections > 0 &&
         o->keyspace > 0 && o->quantum_ns >= 0 && (o->test == "set" || o->test == "get");
}

}  // namespace

int main(int argc, char** argv) {
  Probe p;
  if (!parse_args(argc, argv, &p.opt)) {
    std::fprintf(stderr,
                 "usage: %s -p PORT [-h HOST] [-r RATE] [-d SECONDS] [-c CONNS] [-t set|get] "
                 "[-k KEYSPACE] [-q QUANTUM-USEC] [-w TIMELINE-FILE]\n",
                 argv[0]);
    return 2;
  }
  p.epoll_fd = epoll_create1(0);
  p.timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  if (p.epoll_fd < 0 || p.timer_fd < 0) {
    std::fprintf(stderr, "epoll/timerfd: %s\n", std::strerror(errno));
    return 1;
  }
  epoll_event tev{};
  tev.events = EPOLLIN;
  tev.data.ptr = nullptr;  // the timer; connections carry their Connection*
  epoll_ctl(p.epoll_fd, EPOLL_CTL_ADD, p.timer_fd, &tev);
  if (!connect_all(&p)) return 1;
  p.latencies_ns.reserve(static_cast<size_t>(p.opt.rate * p.opt.seconds) + 16);
  p.due_ns.reserve(p.latencies_ns.capacity());
  p.start_ns = now_ns();
  p.start_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  p.end_ns = p.start_ns + static_cast<int64_t>(p.opt.seconds * 1e9);
  // After the last due time, replies still in flight get this long to come.
  const int64_t drain_deadline = p.end_ns + 30'000'000'000LL;
  bool healthy = send_due(&p, p.start_ns);
  epoll_event events[64];
  while (healthy) {
    const int64_t now = now_ns();
    if (now >= p.end_ns && p.outstanding == 0) break;
    if (now >= drain_deadline) {
      std::fprintf(stderr, "%llu replies never came\n",
                   static_cast<unsigned long long>(p.outstanding));
      break;
    }
    int n = epoll_wait(p.epoll_fd, events, 64, 1000);
    if (n < 0 && errno != EINTR) {
      std::fprintf(stderr, "epoll_wait: %s\n", std::strerror(errno));
      break;
    }
    for (int i = 0; i < n && healthy; ++i) {
      auto* c = static_cast<Connection*>(events[i].data.ptr);
      if (c == nullptr) {
        uint64_t expirations;
        (void)::read(p.timer_fd, &expirations, sizeof expirations);
        healthy = send_due(&p, now_ns());
        continue;
      }
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) healthy = receive(&p, c);
      if (healthy && (events[i].events & EPOLLOUT)) healthy = flush(&p, c);
    }
  }
  for (Connection& c : p.conns)
    if (c.fd >= 0) ::close(c.fd);
  if (!p.first_error.empty())
    std::fprintf(stderr, "first error reply: %s\n", p.first_error.c_str());
  if (!p.opt.timeline_path.empty() && !write_timeline(p)) return 1;
  std::printf(
      "%s rate=%.0f/s sent=%llu ok=%llu errors=%llu p50=%.3f p99=%.3f p99.9=%.3f max=%.3f\n",
      p.opt.test.c_str(), p.opt.rate, static_cast<unsigned long long>(p.sent),
      static_cast<unsigned long long>(p.ok), static_cast<unsigned long long>(p.errors),
      percentile_ms(p.latencies_ns, 0.50), percentile_ms(p.latencies_ns, 0.99),
      percentile_ms(p.latencies_ns, 0.999), max_ms(p.latencies_ns));
  return p.ok > 0 ? 0 : 1;
}
