// Embedding m2mdb: open a data directory, write points, read them back.
// Built as build/bin/m2mdb-embed-example and run by the test suite.
//
//   usage: m2mdb-embed-example DATA_DIR
#include <cstdio>

#include "m2mdb/db.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
    return 2;
  }
  m2mdb::Options options;
  options.data_dir = argv[1];
  auto db = m2mdb::DB::Open(options);
  if (!db.ok()) {
    std::fprintf(stderr, "open: %s\n", db.status().ToString().c_str());
    return 1;
  }
  if (auto s = (*db)->CreateDatabase({.name = "telemetry"}); !s.ok()) {
    std::fprintf(stderr, "create: %s\n", s.ToString().c_str());
    return 1;
  }

  // Line protocol, as devices send it. The bad second line is reported with
  // its line number; the others are written.
  auto result = (*db)->WriteLineProtocol("telemetry",
                                         "engine,truck=t1 rpm=1500i,temp=88.5 1700000000000000000\n"
                                         "engine,truck=t1 rpm=oops 1700000010000000000\n"
                                         "engine,truck=t2 rpm=900i,temp=71.25 1700000000000000000\n",
                                         m2mdb::WriteOptions{});
  if (!result.ok()) {
    std::fprintf(stderr, "write: %s\n", result.status().ToString().c_str());
    return 1;
  }
  std::printf("wrote %llu points\n", static_cast<unsigned long long>(result->points_written));
  for (const auto& e : result->errors) std::printf("line %d rejected: %s\n", e.line, e.reason.c_str());

  // Typed points, as a program would write them.
  m2mdb::Point p;
  p.measurement = "engine";
  p.tags = {{"truck", "t1"}};
  p.fields = {{"rpm", m2mdb::FieldValue::Int(1600)}, {"temp", m2mdb::FieldValue::Float(89.0)}};
  p.timestamp = 1700000020000000000;
  m2mdb::Point p2 = p;
  p2.tags = {{"truck", "t 3"}};  // a space: escaped in the series key
  if (auto r = (*db)->WritePoints("telemetry", {p, p2}, {}); !r.ok()) {
    std::fprintf(stderr, "write points: %s\n", r.status().ToString().c_str());
    return 1;
  }

  m2mdb::ScanRequest scan;
  scan.database = "telemetry";
  scan.measurement = "engine";
  scan.fields = {"rpm", "temp"};
  auto status = (*db)->Scan(scan, [](const m2mdb::SeriesData& series) {
    std::printf("%s\n", series.key.c_str());
    const m2mdb::Column& rpm = series.columns[0];
    const m2mdb::Column& temp = series.columns[1];
    for (size_t i = 0; i < rpm.size(); i++) {
      std::printf("  t=%lld rpm=%lld temp=%g\n", static_cast<long long>(rpm.times[i]),
                  static_cast<long long>(rpm.ints[i]), temp.floats[i]);
    }
    return absl::OkStatus();
  });
  if (!status.ok()) {
    std::fprintf(stderr, "scan: %s\n", status.ToString().c_str());
    return 1;
  }
  // The series: measurement and tags as written, and the canonical key with
  // line-protocol escapes (what SHOW SERIES prints). No need to parse keys.
  auto series = (*db)->Series("telemetry", "engine", {});
  if (!series.ok()) {
    std::fprintf(stderr, "series: %s\n", series.status().ToString().c_str());
    return 1;
  }
  for (const m2mdb::SeriesKey& s : *series) {
    std::printf("series %s -> %s {", s.key.c_str(), s.measurement.c_str());
    const char* sep = "";
    for (const auto& [k, v] : s.tags) {
      std::printf("%s%s: %s", sep, k.c_str(), v.c_str());
      sep = ", ";
    }
    std::printf("}\n");
  }
  return (*db)->Close().ok() ? 0 : 1;
}
