#include "bench/m2mdb_bench/query_suite.h"

#include "client/json.h"
#include "gtest/gtest.h"

#include "bench/m2mdb_bench/load.h"
#include "m2mdb/json.h"

namespace m2mdb::bench {

using client::Json;
using client::ParseJson;
namespace {

GenerateOptions Small() {
  GenerateOptions o;
  o.scale = 5;
  o.duration_ns = *ParseDuration("10m");
  return o;
}

const QuerySpec& Find(const std::vector<QuerySpec>& s, const std::string& name) {
  for (const auto& q : s) {
    if (q.name == name) return q;
  }
  static QuerySpec none;
  ADD_FAILURE() << "no query " << name;
  return none;
}

TEST(QuerySuite, ExpectedShapesFollowTheDataSet) {
  auto s = IotSuite(Small());
  ASSERT_EQ(s.size(), 10u);
  EXPECT_EQ(Find(s, "lastpoint").series, 5);
  EXPECT_EQ(Find(s, "count-truck-day").value, 60);  // 10 minutes of 10 s points
  EXPECT_EQ(Find(s, "raw-truck-1h").rows_per_series, 60);
  EXPECT_EQ(Find(s, "10-trucks-10m-12h").series, 5);
  EXPECT_EQ(Find(s, "10-trucks-10m-12h").rows_per_series, 1);
  GenerateOptions day = Small();
  day.scale = 100;
  day.duration_ns = *ParseDuration("1d");
  auto d = IotSuite(day);
  EXPECT_EQ(Find(d, "avg-velocity-fleet-1h").rows_per_series, 24);
  EXPECT_EQ(Find(d, "avg-velocity-fleet-1h").series, 4);
  EXPECT_EQ(Find(d, "10-trucks-10m-12h").rows_per_series, 72);
  EXPECT_EQ(Find(d, "long-driving-sessions").rows_per_series, 24);
  EXPECT_EQ(Find(d, "count-truck-day").value, 8640);
  EXPECT_NE(Find(d, "max-fuel-1h").influxql.find("2024-01-01T12:00:00Z"), std::string::npos);
}

TEST(QuerySuite, SensorsShapesFollowTheDataSet) {
  GenerateOptions g;
  g.profile = "sensors";
  g.scale = 40;  // three sites: 16 + 16 + 8 sensors
  g.duration_ns = *ParseDuration("6h");
  auto s = SensorsSuite(g);
  ASSERT_EQ(s.size(), 10u);
  EXPECT_EQ(SuiteFor(g).size(), 10u);
  EXPECT_EQ(Find(s, "last-all-sensors").series, 40);
  EXPECT_EQ(Find(s, "last-all-sensors").vm_series, 120);
  EXPECT_EQ(Find(s, "mean-temp-site-1h").series, 3);
  EXPECT_EQ(Find(s, "mean-temp-site-1h").rows_per_series, 6);
  EXPECT_EQ(Find(s, "max-sensor-10m-12h").rows_per_series, 36);  // 6 h of data
  EXPECT_EQ(Find(s, "raw-sensor-1h").rows_per_series, 3600);
  EXPECT_EQ(Find(s, "raw-sensor-1h").vm_samples, 3 * 3600);
  EXPECT_EQ(Find(s, "count-sensor-range").value, 6 * 3600);
  EXPECT_EQ(Find(s, "minmaxmean-all-1h").vm_series, 120);
  EXPECT_EQ(Find(s, "10-sensors-1m-1h").series, 10);
  EXPECT_EQ(Find(s, "10-sensors-1m-1h").rows_per_series, 60);
  EXPECT_EQ(Find(s, "max-temp-site-1m-1h").series, 3);
  // The hour queries read the middle of the data.
  EXPECT_NE(Find(s, "raw-sensor-1h").influxql.find("2024-01-01T03:00:00Z"), std::string::npos);
  const QuerySpec& f = Find(s, "10-sensors-1m-1h");
  EXPECT_NE(f.influxql.find("'s00009'"), std::string::npos);
  EXPECT_EQ(f.influxql.find("'s00010'"), std::string::npos);
  EXPECT_DOUBLE_EQ(f.vm_step_s, 60);
  EXPECT_DOUBLE_EQ(f.vm_start_s, 1704067200 + 3 * 3600 + 60 - 0.001);
  EXPECT_DOUBLE_EQ(f.vm_end_s, f.vm_start_s + 59 * 60);
  g.profile = "nope";
  EXPECT_TRUE(SuiteFor(g).empty());
}

// The filter query's expected size comes from replaying sensor 0; check it
// against the lines the full generator writes for that sensor.
TEST(QuerySuite, SensorsThresholdMatchesTheGeneratedData) {
  GenerateOptions g;
  g.profile = "sensors";
  g.scale = 3;
  g.duration_ns = *ParseDuration("2h");
  const std::vector<QuerySpec> suite = SensorsSuite(g);
  const QuerySpec& q = Find(suite, "temp-above-threshold");
  const size_t gt = q.influxql.find("\"temperature\" > ");
  ASSERT_NE(gt, std::string::npos);
  const double threshold = std::strtod(q.influxql.c_str() + gt + 16, nullptr);
  const int64_t from = g.start_ns + 3600 * kNanosPerSecond;  // the second hour
  auto gen = Generator::Create(g);
  ASSERT_TRUE(gen.ok());
  std::string lines;
  int64_t ts = g.start_ns;
  int above = 0, total = 0;
  while ((*gen)->NextTick(&lines)) {
    const size_t at = lines.find("sensor_id=s00000");
    ASSERT_NE(at, std::string::npos);
    if (ts >= from) {
      total++;
      if (std::strtod(lines.c_str() + lines.find("temperature=", at) + 12, nullptr) > threshold) above++;
    }
    lines.clear();
    ts += kNanosPerSecond;
  }
  EXPECT_EQ(total, 3600);
  EXPECT_EQ(q.rows_per_series, above);
  EXPECT_EQ(q.vm_samples, above);
  // A median threshold keeps part of the hour, so the check can fail.
  EXPECT_GT(above, 0);
  EXPECT_LT(above, 3600);
  EXPECT_NE(q.metricsql.find("sensors_temperature{sensor_id=\"s00000\"} > "), std::string::npos);
  EXPECT_DOUBLE_EQ(q.vm_step_s, 1);
}

TEST(QuerySuite, ChecksInfluxAnswers) {
  QuerySpec q{.name = "count", .series = 1, .rows_per_series = 1, .check_value = true, .value = 60};
  std::string canon;
  EXPECT_EQ(CheckInfluxAnswer(
                q,
                R"({"results":[{"statement_id":0,"series":[{"name":"readings","columns":["time","count"],)"
                R"("values":[[1704067200000000000,60]]}]}]})",
                &canon),
            "ok");
  EXPECT_NE(canon.find("readings|time,count,"), std::string::npos);
  EXPECT_NE(CheckInfluxAnswer(q,
                              R"({"results":[{"series":[{"name":"readings","columns":["time","count"],)"
                              R"("values":[[0,59]]}]}]})",
                              nullptr),
            "ok");
  EXPECT_EQ(CheckInfluxAnswer(q, R"({"results":[{"statement_id":0}]})", nullptr), "expected 1 series, got 0");
  EXPECT_NE(CheckInfluxAnswer(q, R"({"results":[{"error":"database not found: x"}]})", nullptr)
                .find("database not found"),
            std::string::npos);
  EXPECT_NE(CheckInfluxAnswer(q, "not json", nullptr), "ok");
}

TEST(QuerySuite, ChecksVictoriaMetricsAnswers) {
  QuerySpec q{.vm_series = 1, .vm_samples = -1};
  q.check_value = true;
  q.value = 60;
  EXPECT_EQ(
      CheckVmAnswer(
          q,
          R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"60"]}]}})"),
      "ok");
  EXPECT_NE(CheckVmAnswer(q, R"({"status":"error","error":"bad"})"), "ok");
}

TEST(QuerySuite, PathsEncodeTheQuery) {
  auto s = IotSuite(Small());
  std::string p = QueryPath(s[0], "influx", "bench");
  EXPECT_EQ(p.rfind("/query?db=bench&epoch=ns&q=SELECT%20last%28%22latitude%22%29", 0), 0u);
  std::string v = QueryPath(Find(s, "avg-velocity-fleet-1h"), "vm", "bench");
  EXPECT_EQ(v.rfind("/api/v1/query_range?nocache=1&query=", 0), 0u);
  EXPECT_NE(v.find("&step=3600s"), std::string::npos);
}

TEST(Json, ParsesNestedValuesAndEscapes) {
  auto j = ParseJson(R"( {"a": [1, -2.5e3, true, null, "x\"\u00e9"], "b": {}} )");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)["a"].at(1).number(), -2500);
  EXPECT_EQ((*j)["a"].at(4).text, "x\"\xc3\xa9");
  EXPECT_TRUE((*j)["missing"].is_null());
  EXPECT_FALSE(ParseJson("[1,").ok());
  EXPECT_FALSE(ParseJson(std::string(100, '[')).ok());
  EXPECT_EQ(JsonQuote("a\"b\n"), "\"a\\\"b\\n\"");
}

TEST(Load, CountsFieldValuesAndSplitsBatches) {
  EXPECT_EQ(CountFieldValues("m,t=a\\ b x=1,y=2i,z=\"a=b c\" 123"), 3);
  EXPECT_EQ(CountFieldValues("m v=1"), 1);
  std::string data = "m v=1 1\nm v=2 2\n\nm v=3,w=4 3\n";
  auto b = SplitBatches(data, 2);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].lines, 2u);
  EXPECT_EQ(b[0].values, 2u);
  EXPECT_EQ(b[1].lines, 1u);
  EXPECT_EQ(b[1].values, 2u);
  EXPECT_EQ(std::string(b[0].body) + std::string(b[1].body), data);
}

}  // namespace
}  // namespace m2mdb::bench
