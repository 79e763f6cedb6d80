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
