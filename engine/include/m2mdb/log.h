// m2mdb/log.h — where m2mdb's log lines go.
//
// The engine (and the server and tools built on it) log one line per event:
// a WAL tail cut at open, a replay's progress, a failed background flush.
// By default each line goes to stderr with a UTC timestamp and its level
// ("2024-01-02T03:04:05.678Z INFO opened ..."). An embedding program can
// silence lines below a level (SetLogLevel(LogLevel::kWarning) drops the INFO
// lines) or take every line itself (SetLogSink) — docs/embedding.md.
//
// Thread-safety: every function may be called from any thread at any time;
// the sink is called under a process-wide mutex (one line at a time), so it
// need not be thread-safe itself but must not log.
#ifndef M2MDB_LOG_H_
#define M2MDB_LOG_H_

#include <functional>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace m2mdb {

// Persisted nowhere; the order is the severity order.
enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Sends every line at or above the log level to `sink` (the message without
// timestamp or level; no trailing newline) instead of stderr. nullptr
// restores stderr. Default: stderr.
void SetLogSink(std::function<void(LogLevel, std::string_view)> sink);
// Drops lines below `level`, for the stderr output and a sink alike.
// Default: LogLevel::kInfo (debug lines dropped).
void SetLogLevel(LogLevel level);
// The old name of SetLogLevel.
inline void SetMinLogLevel(LogLevel level) { SetLogLevel(level); }

// Logs one line at `level`.
void LogMessage(LogLevel level, std::string_view msg);

// Logs the concatenation of `args` (absl::StrCat) at the named level.
template <typename... Args>
void LogInfo(const Args&... args) {
  LogMessage(LogLevel::kInfo, absl::StrCat(args...));
}
template <typename... Args>
void LogWarning(const Args&... args) {
  LogMessage(LogLevel::kWarning, absl::StrCat(args...));
}
template <typename... Args>
void LogError(const Args&... args) {
  LogMessage(LogLevel::kError, absl::StrCat(args...));
}

}  // namespace m2mdb

#endif  // M2MDB_LOG_H_
