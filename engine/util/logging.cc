#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "m2mdb/log.h"

namespace m2mdb {
namespace {
std::mutex g_mu;
std::function<void(LogLevel, std::string_view)> g_sink;  // guarded by g_mu
std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};
const char* LevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarning:
      return "WARN";
    case LogLevel::kError:
      return "ERROR";
  }
  return "?";
}
}  // namespace

void SetLogSink(std::function<void(LogLevel, std::string_view)> sink) {
  std::lock_guard<std::mutex> l(g_mu);
  g_sink = std::move(sink);
}

void SetLogLevel(LogLevel level) { g_min_level = static_cast<int>(level); }

void LogMessage(LogLevel level, std::string_view msg) {
  if (static_cast<int>(level) < g_min_level.load(std::memory_order_relaxed)) return;
  std::lock_guard<std::mutex> l(g_mu);
  if (g_sink) {
    g_sink(level, msg);
    return;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[32];
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
  std::fprintf(stderr, "%s.%03ldZ %s %.*s\n", when, ts.tv_nsec / 1000000, LevelName(level),
               static_cast<int>(msg.size()), msg.data());
}

}  // namespace m2mdb
