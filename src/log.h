// src/log.h — server logging in Redis's format:
//   "<pid>:M 26 Nov 2026 05:33:34.123 * Ready to accept connections tcp"
// with Redis's levels (debug '.', verbose '-', notice '*', warning '#') so
// operators' log tooling keeps working. Errors are logged once, where handled.
#pragma once

#include <string>
#include <string_view>

namespace kvraft {

enum class LogLevel { kDebug = 0, kVerbose = 1, kNotice = 2, kWarning = 3 };

// Parses "debug" | "verbose" | "notice" | "warning"; false if unknown.
bool parse_log_level(std::string_view name, LogLevel* out);
const char* log_level_name(LogLevel level);

// Global log settings (set from the config at startup and by CONFIG SET).
void set_log_level(LogLevel level);
LogLevel log_level();
// Empty path: standard output. Returns false (and keeps the old target) if
// the file cannot be opened.
bool set_log_file(const std::string& path);

// Writes one line at `level` if enabled. printf-style.
void log_line(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

#define KV_LOG_DEBUG(...) ::kvraft::log_line(::kvraft::LogLevel::kDebug, __VA_ARGS__)
#define KV_LOG_VERBOSE(...) ::kvraft::log_line(::kvraft::LogLevel::kVerbose, __VA_ARGS__)
#define KV_LOG_NOTICE(...) ::kvraft::log_line(::kvraft::LogLevel::kNotice, __VA_ARGS__)
#define KV_LOG_WARNING(...) ::kvraft::log_line(::kvraft::LogLevel::kWarning, __VA_ARGS__)

}  // namespace kvraft
