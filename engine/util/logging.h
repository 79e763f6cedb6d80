// Minimal logging: one line per call to a process-wide sink (stderr by
// default). Embedders may replace the sink; it must be thread-safe.
#ifndef M2MDB_ENGINE_UTIL_LOGGING_H_
#define M2MDB_ENGINE_UTIL_LOGGING_H_

#include <functional>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace m2mdb {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLogSink(std::function<void(LogLevel, std::string_view)> sink);
void SetMinLogLevel(LogLevel level);
void LogMessage(LogLevel level, std::string_view msg);

template <typename... Args>
void LogInfo(const Args&... args) { LogMessage(LogLevel::kInfo, absl::StrCat(args...)); }
template <typename... Args>
void LogWarning(const Args&... args) { LogMessage(LogLevel::kWarning, absl::StrCat(args...)); }
template <typename... Args>
void LogError(const Args&... args) { LogMessage(LogLevel::kError, absl::StrCat(args...)); }

}  // namespace m2mdb

#endif  // M2MDB_ENGINE_UTIL_LOGGING_H_
