// src/log.cc — see log.h.
#include "src/log.h"

#include <sys/time.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace kvraft {

namespace {
LogLevel g_level = LogLevel::kNotice;
FILE* g_out = nullptr;  // null: stdout
}  // namespace

bool parse_log_level(std::string_view name, LogLevel* out) {
  static constexpr std::pair<std::string_view, LogLevel> kLevels[] = {
      {"debug", LogLevel::kDebug},
      {"verbose", LogLevel::kVerbose},
      {"notice", LogLevel::kNotice},
      {"warning", LogLevel::kWarning}};
  for (const auto& [n, l] : kLevels) {
    if (n == name) {
      *out = l;
      return true;
    }
  }
  return false;
}

const char* log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kVerbose:
      return "verbose";
    case LogLevel::kNotice:
      return "notice";
    case LogLevel::kWarning:
      return "warning";
  }
  return "notice";
}

void set_log_level(LogLevel level) {
  g_level = level;
}
LogLevel log_level() {
  return g_level;
}

bool set_log_file(const std::string& path) {
  if (path.empty()) {
    if (g_out) fclose(g_out);
    g_out = nullptr;
    return true;
  }
  FILE* f = fopen(path.c_str(), "a");
  if (!f) return false;
  if (g_out) fclose(g_out);
  g_out = f;
  return true;
}

void log_line(LogLevel level, const char* fmt, ...) {
  if (level < g_level) return;
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);

  struct timeval tv;
  gettimeofday(&tv, nullptr);
  struct tm tm;
  localtime_r(&tv.tv_sec, &tm);
  char when[64];
  size_t off = strftime(when, sizeof when, "%d %b %Y %H:%M:%S.", &tm);
  snprintf(when + off, sizeof when - off, "%03d", static_cast<int>(tv.tv_usec / 1000));
  static const char kMarks[] = ".-*#";
  FILE* out = g_out ? g_out : stdout;
  fprintf(out, "%d:M %s %c %s\n", static_cast<int>(getpid()), when, kMarks[static_cast<int>(level)],
          msg);
  fflush(out);
}

}  // namespace kvraft
