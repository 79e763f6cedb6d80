// Embedding m2mdb: open a data directory, write points (line protocol and
// typed), read them back with a scan and with InfluxQL, take the engine's log
// lines. docs/embedding.md prints this file as it is, and ctest builds it
// against the installed package with CMake and with pkg-config
// (tests/install/) and runs it.
//
//   usage: embed DATA_DIR
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <variant>

#include "m2mdb/db.h"
#include "m2mdb/log.h"
#include "m2mdb/query/executor.h"

namespace {

int Fail(const char* what, const m2mdb::Status& s) {
  std::fprintf(stderr, "%s: %s\n", what, std::string(s.message()).c_str());
  return 1;
}

// A result cell as text (null, float, integer, unsigned, bool or string).
std::string Text(const m2mdb::query::Value& v) {
  struct {
    std::string operator()(std::monostate) const { return "null"; }
    std::string operator()(double d) const {
      char b[32];
      std::snprintf(b, sizeof b, "%g", d);
      return b;
    }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(uint64_t u) const { return std::to_string(u); }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(const std::string& s) const { return s; }
  } visit;
  return std::visit(visit, v);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
    return 2;
  }
  // The engine's log lines (WAL tail cut at open, failed background flushes)
  // come here instead of stderr; INFO lines are dropped.
  m2mdb::SetLogLevel(m2mdb::LogLevel::kWarning);
  m2mdb::SetLogSink([](m2mdb::LogLevel, std::string_view line) {
    std::fprintf(stderr, "[m2mdb] %.*s\n", static_cast<int>(line.size()), line.data());
  });

  m2mdb::Options options;
  options.data_dir = argv[1];          // created if missing; one process at a time (LOCK file)
  auto db = m2mdb::DB::Open(options);  // replays the WAL left by the last run
  if (!db.ok()) return Fail("open", db.status());

  // Points older than the retention period are refused, so this program
  // stamps its points with the current time.
  constexpr int64_t kSecond = 1'000'000'000;
  constexpr int64_t kDay = 86'400 * kSecond;
  if (auto s = (*db)->CreateDatabase({.name = "telemetry", .retention_ns = 30 * kDay}); !s.ok()) {
    return Fail("create database", s);
  }
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const int64_t t0 = now - 300 * kSecond;

  // Line protocol, as devices send it. Lines 2 (unparsable) and 4 (older
  // than the retention period) are rejected with their line numbers; the
  // others are written: one request is not all or nothing.
  const std::string body = "engine,truck=t1 rpm=1500i,temp=88.5 " + std::to_string(t0) + "\n" +
                           "engine,truck=t1 rpm=oops " + std::to_string(t0 + 10 * kSecond) + "\n" +
                           "engine,truck=t2 rpm=900i,temp=71.25 " + std::to_string(t0) + "\n" +
                           "engine,truck=t1 rpm=1400i " + std::to_string(now - 40 * kDay) + "\n";
  auto written = (*db)->WriteLineProtocol("telemetry", body, m2mdb::WriteOptions{});
  if (!written.ok()) return Fail("write", written.status());  // nothing written (e.g. no such database)
  std::printf("wrote %llu points\n", static_cast<unsigned long long>(written->points_written));
  for (const auto& e : written->errors) std::printf("line %d rejected: %s\n", e.line, e.reason.c_str());

  // Typed points, as a program would write them. Both writes return once the
  // WAL is fsync'd (Options::wal_sync, default kAlways).
  m2mdb::Point p;
  p.measurement = "engine";
  p.tags = {{"truck", "t1"}};
  p.fields = {{"rpm", m2mdb::FieldValue::Int(1600)}, {"temp", m2mdb::FieldValue::Float(89.0)}};
  p.timestamp = t0 + 20 * kSecond;
  m2mdb::Point p2 = p;
  p2.tags = {{"truck", "t 3"}};  // a space: escaped in the series key
  auto typed = (*db)->WritePoints("telemetry", {p, p2}, m2mdb::WriteOptions{});
  if (!typed.ok()) return Fail("write points", typed.status());
  if (!typed->errors.empty()) std::printf("point rejected: %s\n", typed->errors[0].reason.c_str());

  // A scan: per series, time-ordered columns of the requested fields.
  m2mdb::ScanRequest scan;
  scan.database = "telemetry";
  scan.measurement = "engine";
  scan.fields = {"rpm", "temp"};
  scan.min_time = now - kDay;
  auto scanned = (*db)->Scan(scan, [&](const m2mdb::SeriesData& series) {
    std::printf("%s\n", series.key.c_str());
    const m2mdb::Column& rpm = series.columns[0];
    const m2mdb::Column& temp = series.columns[1];
    for (size_t i = 0; i < rpm.size(); i++) {
      std::printf("  t0+%llds rpm=%lld temp=%g\n", static_cast<long long>((rpm.times[i] - t0) / kSecond),
                  static_cast<long long>(rpm.ints[i]), temp.floats[i]);
    }
    return absl::OkStatus();
  });
  if (!scanned.ok()) return Fail("scan", scanned);

  // InfluxQL through the executor (m2mdb::query): each statement has its own
  // result, with its error if it failed.
  m2mdb::query::Executor executor(db->get());
  m2mdb::query::QueryOptions query_options;
  query_options.database = "telemetry";
  auto results = executor.Execute(
      "SELECT max(rpm), mean(temp) FROM engine WHERE time > now() - 1h GROUP BY truck", query_options);
  for (const auto& result : results) {
    if (!result.error.empty()) {
      std::fprintf(stderr, "query: %s\n", result.error.c_str());
      return 1;
    }
    for (const auto& series : result.series) {
      for (const auto& row : series.values) {
        std::printf("%s=%s", series.tags[0].first.c_str(), series.tags[0].second.c_str());
        for (size_t c = 1; c < row.size(); c++) {  // column 0 is the time
          std::printf(" %s=%s", series.columns[c].c_str(), Text(row[c]).c_str());
        }
        std::printf("\n");
      }
    }
  }

  // The series: measurement and tags as written, and the canonical key with
  // line-protocol escapes (what SHOW SERIES prints). No need to parse keys.
  auto series = (*db)->Series("telemetry", "engine", {});
  if (!series.ok()) return Fail("series", series.status());
  for (const m2mdb::SeriesKey& s : *series) {
    std::printf("series %s -> %s {", s.key.c_str(), s.measurement.c_str());
    const char* sep = "";
    for (const auto& [k, v] : s.tags) {
      std::printf("%s%s: %s", sep, k.c_str(), v.c_str());
      sep = ", ";
    }
    std::printf("}\n");
  }

  // Close stops the background work and syncs the WAL. The destructor closes
  // too, but only Close reports an error.
  if (auto s = (*db)->Close(); !s.ok()) return Fail("close", s);
  return 0;
}
