#include "bench/m2mdb_bench/results.h"

#include <string>

#include "client/json.h"
#include "gtest/gtest.h"

namespace m2mdb::bench {

using client::Json;
using client::ParseJson;
namespace {

int Count(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + 1)) ++n;
  return n;
}

CompareResult Sample() {
  CompareResult r;
  r.env = {.date = "2024-05-01T10:00:00Z",
           .machine = "2 CPUs (Test CPU), 4.0 GiB RAM",
           .command = "m2mdb-bench compare"};
  r.profile = "iot";
  r.scale = 5;
  r.duration = "10m";
  r.workers = 4;
  r.batch_size = 100;
  r.lines = 600;
  r.values = 3000;
  TargetFigures m{.name = "m2mdb", .version = "m2mdb 0.1.0", .durability = "after fsync"};
  m.ingest_values_per_s = 2e6;
  m.bytes_per_value = 0.5;
  m.peak_rss_mb = 100;
  m.cpu_us_per_value = 0.2;
  m.restart_ping_s = 0.05;
  m.queries.push_back({.name = "lastpoint", .status = "SKIPPED: /query answered HTTP 404"});
  TargetFigures i{.name = "influxdb", .version = "1.6.7", .durability = "after fsync"};
  i.ingest_values_per_s = 1e6;
  i.bytes_per_value = 2.0;
  i.peak_rss_mb = 300;
  i.cpu_us_per_value = 1.5;
  i.restart_ping_s = 0.5;
  i.restart_answer_s = 0.6;
  i.queries.push_back(
      {.name = "lastpoint", .median_ms = 3.0, .min_ms = 2.5, .max_ms = 4.0, .p99_ms = 4.0, .status = "ok"});
  TargetFigures v{.name = "victoriametrics", .skipped = "not installed & <missing>"};
  r.targets = {m, i, v};
  return r;
}

TEST(Results, TableHasAbsoluteFiguresRatiosAndNa) {
  std::string t = FormatTable(Sample());
  EXPECT_NE(t.find("machine: 2 CPUs (Test CPU)"), std::string::npos);
  EXPECT_NE(t.find("2024-05-01T10:00:00Z"), std::string::npos);
  EXPECT_NE(t.find("ingest (field values/s)"), std::string::npos);
  EXPECT_NE(t.find("2.00 M"), std::string::npos);
  EXPECT_NE(t.find("1.00 M (0.50×)"), std::string::npos);   // influx ingest / m2mdb
  EXPECT_NE(t.find("2.000 (4.00×)"), std::string::npos);    // bytes per value
  EXPECT_NE(t.find("n/a (no /query)"), std::string::npos);  // m2mdb query skipped
  EXPECT_NE(t.find("3.00 [2.50–4.00]"), std::string::npos);
  EXPECT_NE(t.find("SKIPPED: not installed"), std::string::npos);
  EXPECT_NE(t.find("durability"), std::string::npos);
}

TEST(Results, JsonParsesAndKeepsNullsForMissingFigures) {
  auto j = ParseJson(FormatJson(Sample()));
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ((*j)["values"].number(), 3000);
  const Json& targets = (*j)["targets"];
  ASSERT_EQ(targets.size(), 3u);
  EXPECT_EQ(targets.at(0)["name"].text, "m2mdb");
  EXPECT_EQ(targets.at(0)["ingest_values_per_s"].number(), 2e6);
  EXPECT_TRUE(targets.at(0)["restart_answer_s"].is_null());
  EXPECT_TRUE(targets.at(0)["queries"].at(0)["median_ms"].is_null());
  EXPECT_EQ(targets.at(1)["queries"].at(0)["median_ms"].number(), 3.0);
  EXPECT_EQ(targets.at(2)["skipped"].text, "not installed & <missing>");
}

TEST(Results, SvgIsWellFormedWithABarPerFigureAndLegend) {
  std::string s = FormatSvg(Sample());
  EXPECT_EQ(s.rfind("<svg ", 0), 0u);
  EXPECT_NE(s.find("</svg>"), std::string::npos);
  EXPECT_EQ(Count(s, "<text"), Count(s, "</text>"));
  EXPECT_EQ(Count(s, "<title>"), Count(s, "</title>"));
  // Bars: m2mdb and influxdb for 6 figures each side has (ingest, bytes, rss,
  // cpu, restart ping) = 5 pairs, + m2mdb's... restart_answer only influx
  // has, so no ratio and only m2mdb's n/a; the query only influx has.
  EXPECT_GE(Count(s, "<title>"), 10);
  EXPECT_NE(s.find(">m2mdb</text>"), std::string::npos);
  EXPECT_NE(s.find(">influxdb</text>"), std::string::npos);
  EXPECT_NE(s.find("victoriametrics (skipped)"), std::string::npos);
  EXPECT_NE(s.find(">n/a<"), std::string::npos);
  // Text is escaped.
  EXPECT_EQ(s.find("& "), std::string::npos);
}

TEST(Results, SvgWithoutM2mdbSaysSo) {
  CompareResult r = Sample();
  r.targets.erase(r.targets.begin());
  std::string s = FormatSvg(r);
  EXPECT_NE(s.find("no m2mdb figures"), std::string::npos);
}

}  // namespace
}  // namespace m2mdb::bench
