#include "bench/m2mdb_bench/results.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

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
  EXPECT_EQ(Count(s, "<tspan"), Count(s, "</tspan>"));
  EXPECT_EQ(Count(s, "<title>"), Count(s, "</title>"));
  EXPECT_EQ(Count(s, "<g "), Count(s, "</g>"));
  // A bar per figure a target has: m2mdb and influxdb each have ingest,
  // bytes, RSS, CPU and restart→ping (10); influxdb alone restart→answer and
  // the query (2).
  EXPECT_EQ(Count(s, "<rect class=\"bar\""), 12);
  EXPECT_NE(s.find(">m2mdb 0.1.0 — ack after fsync</text>"), std::string::npos);
  EXPECT_NE(s.find(">InfluxDB (1.6.7) — ack after WAL fsync</text>"), std::string::npos);
  EXPECT_NE(s.find("VictoriaMetrics (skipped: not installed &amp; &lt;missing&gt;)"), std::string::npos);
  EXPECT_NE(s.find(">n/a<"), std::string::npos);      // m2mdb has no restart→answer
  EXPECT_NE(s.find(">skipped<"), std::string::npos);  // victoriametrics' bars
  // Text is escaped.
  EXPECT_EQ(s.find("& "), std::string::npos);
}

// The text right after `heading` (a panel title) up to the end of the next
// text element: the panel's "higher/lower is better" line.
std::string LineAfter(const std::string& s, const std::string& heading) {
  size_t at = s.find(">" + heading + "</text>");
  if (at == std::string::npos) return "";
  size_t open = s.find('>', s.find("<text", at + 1));
  return s.substr(open + 1, s.find("</text>", open) - open - 1);
}

TEST(Results, SvgPanelsSayWhichWayIsBetter) {
  CompareResult r = Sample();
  r.targets[0].write_p50_ms = 10;
  r.targets[0].queries[0] = {
      .name = "lastpoint", .median_ms = 0.5, .min_ms = 0.4, .max_ms = 0.9, .status = "ok"};
  std::string s = FormatSvg(r);
  EXPECT_EQ(LineAfter(s, "Ingest").rfind("higher is better", 0), 0u) << LineAfter(s, "Ingest");
  EXPECT_EQ(LineAfter(s, "Write latency").rfind("lower is better", 0), 0u);
  EXPECT_EQ(LineAfter(s, "Query latency").rfind("lower is better", 0), 0u);
  EXPECT_EQ(LineAfter(s, "Storage").rfind("lower is better", 0), 0u);
  EXPECT_EQ(LineAfter(s, "Memory and CPU").rfind("lower is better", 0), 0u);
}

TEST(Results, SvgLabelsEveryBarWithItsAbsoluteValueTheBestInBold) {
  std::string s = FormatSvg(Sample());
  // Each bar's label is the figure itself, not a ratio to m2mdb.
  EXPECT_NE(s.find("font-weight=\"bold\">2.00 M</text>"), std::string::npos);   // m2mdb ingest, best
  EXPECT_NE(s.find(">1.00 M</text>"), std::string::npos);                       // influxdb ingest
  EXPECT_NE(s.find("font-weight=\"bold\">0.500 B</text>"), std::string::npos);  // bytes: lower wins
  EXPECT_NE(s.find(">2.000 B</text>"), std::string::npos);
  EXPECT_NE(s.find("font-weight=\"bold\">100 MB</text>"), std::string::npos);
  EXPECT_NE(s.find(">300 MB</text>"), std::string::npos);
  EXPECT_NE(s.find(">1.500 µs</text>"), std::string::npos);
  EXPECT_NE(s.find(">3.00 ms</text>"), std::string::npos);
  EXPECT_EQ(s.find("×"), std::string::npos);
  // A label per bar: every value text follows its bar.
  EXPECT_EQ(Count(s, "<rect class=\"bar\""), Count(s, "</title></rect>\n<text"));
}

TEST(Results, SvgBarsStartAtZero) {
  std::string s = FormatSvg(Sample());
  // Every bar of a column starts at the same x (the zero of its scale);
  // the queries are the second column.
  std::vector<std::string> xs;
  for (size_t at = s.find("<rect class=\"bar\" x=\""); at != std::string::npos;
       at = s.find("<rect class=\"bar\" x=\"", at + 1)) {
    size_t v = at + 21;
    std::string x = s.substr(v, s.find('"', v) - v);
    if (std::find(xs.begin(), xs.end(), x) == xs.end()) xs.push_back(x);
  }
  EXPECT_EQ(xs.size(), 2u);
}

TEST(Results, SvgMarksHowDurableEachAcknowledgementIs) {
  CompareResult r = Sample();
  r.targets[2] = TargetFigures{
      .name = "victoriametrics",
      .version = "victoria-metrics 1.79.5",
      .durability = "acknowledges before the data is on disk: buffers about a second in memory"};
  r.targets[2].ingest_values_per_s = 3e6;
  std::string s = FormatSvg(r);
  EXPECT_NE(s.find("VictoriaMetrics (victoria-metrics 1.79.5) — ack before fsync (not durable)"),
            std::string::npos);
  // Its ingest figure says so next to the bar, and it is still the best.
  EXPECT_NE(s.find("font-weight=\"bold\">3.00 M<tspan dx=\"4\" fill=\"#a00\">(ack not fsync'd)</tspan>"),
            std::string::npos);
  EXPECT_EQ(Count(s, "(ack not fsync'd)"), 1);
}

TEST(Results, SvgShowsTheSpreadOfRunsOnlyWhenThereWereSeveral) {
  CompareResult r = Sample();
  r.query_runs = 10;
  std::string s = FormatSvg(r);
  EXPECT_EQ(Count(s, "class=\"whisker\""), 1);  // influxdb's lastpoint, 2.5–4.0
  EXPECT_NE(s.find("whisker: min–max"), std::string::npos);
  r.query_runs = 1;
  s = FormatSvg(r);
  EXPECT_EQ(Count(s, "class=\"whisker\""), 0);
  EXPECT_EQ(s.find("whisker"), std::string::npos);
}

TEST(Results, SvgWithoutM2mdbSaysSo) {
  CompareResult r = Sample();
  r.targets.erase(r.targets.begin());
  std::string s = FormatSvg(r);
  EXPECT_NE(s.find("no m2mdb figures"), std::string::npos);
}

TEST(Results, CompareJsonReadsBackWhatFormatJsonWrote) {
  CompareResult r = Sample();
  r.targets[1].disk_bytes = 123456789;
  auto back = ParseCompareJson(FormatJson(r));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(FormatJson(*back), FormatJson(r));
  EXPECT_EQ(FormatSvg(*back), FormatSvg(r));
  EXPECT_FALSE(ParseCompareJson("{").ok());
  EXPECT_FALSE(ParseCompareJson("[1]").ok());
  EXPECT_FALSE(ParseCompareJson("{\"targets\": 3}").ok());
  // Out-of-range numbers and wrong types are read as "not there", and the
  // chart is still drawn (the sanitizer build checks the conversions).
  auto odd = ParseCompareJson(
      R"({"scale": 1e300, "workers": -1e30, "query_runs": "ten", "targets": [{"name": "m2mdb",
          "disk_bytes": -5, "ingest_values_per_s": -1e308, "queries": 3},
          {"name": "x", "queries": [{"name": "q", "median_ms": 1e308, "min_ms": 2, "max_ms": 1}]}]})");
  ASSERT_TRUE(odd.ok()) << odd.status();
  EXPECT_EQ(odd->scale, 0);
  EXPECT_EQ(odd->targets[0].disk_bytes, 0u);
  EXPECT_TRUE(odd->targets[0].queries.empty());
  std::string s = FormatSvg(*odd);
  EXPECT_NE(s.find("</svg>"), std::string::npos);
}

std::string ReadSource(const std::string& rel) {
  std::ifstream in(std::string(M2MDB_TEST_SOURCE_DIR) + "/" + rel, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The README's chart is drawn from a recorded run (docs/benchmarks-compare.json)
// by `m2mdb-bench chart`; redraw it when the chart code changes:
//   build/bin/m2mdb-bench chart --from docs/benchmarks-compare.json --svg docs/benchmarks-compare.svg
TEST(Results, CommittedChartIsTheRenderOfTheRecordedRun) {
  std::string json = ReadSource("docs/benchmarks-compare.json");
  ASSERT_FALSE(json.empty()) << "docs/benchmarks-compare.json not found in " M2MDB_TEST_SOURCE_DIR;
  auto r = ParseCompareJson(json);
  ASSERT_TRUE(r.ok()) << r.status();
  std::string svg = FormatSvg(*r);
  EXPECT_EQ(svg, ReadSource("docs/benchmarks-compare.svg"));
  EXPECT_NE(svg.find(">6.48 M<"), std::string::npos);
  EXPECT_NE(svg.find("ack before fsync (not durable)"), std::string::npos);
}

}  // namespace
}  // namespace m2mdb::bench
