// Result writers: Go-compatible float and time formatting, JSON layout.
#include "query/format/format.h"

#include <gtest/gtest.h>

namespace m2mdb::query {
namespace {

TEST(FormatFloat, MatchesGoEncodingJson) {
  EXPECT_EQ(format::FormatFloat(1.5), "1.5");
  EXPECT_EQ(format::FormatFloat(100), "100");
  EXPECT_EQ(format::FormatFloat(-3), "-3");
  EXPECT_EQ(format::FormatFloat(1e20), "100000000000000000000");
  EXPECT_EQ(format::FormatFloat(1e21), "1e+21");
  EXPECT_EQ(format::FormatFloat(1e-7), "1e-7");
  EXPECT_EQ(format::FormatFloat(0.000001), "0.000001");
  EXPECT_EQ(format::FormatFloat(123456789012345678.0), "123456789012345680");
  EXPECT_EQ(format::FormatFloat(0.1 + 0.2), "0.30000000000000004");
}

TEST(FormatRfc3339Nano, TrimsTrailingZeros) {
  EXPECT_EQ(format::FormatRfc3339Nano(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format::FormatRfc3339Nano(1500000000), "1970-01-01T00:00:01.5Z");
  EXPECT_EQ(format::FormatRfc3339Nano(500000001), "1970-01-01T00:00:00.500000001Z");
  EXPECT_EQ(format::FormatRfc3339Nano(1577836800000000000), "2020-01-01T00:00:00Z");
  EXPECT_EQ(format::FormatRfc3339Nano(-1), "1969-12-31T23:59:59.999999999Z");
}

TEST(ToInfluxJson, RendersSeriesAndEpoch) {
  StatementResult r;
  ResultSeries s;
  s.name = "cpu";
  s.tags = {{"host", "a"}};
  s.columns = {"time", "mean"};
  s.values = {{int64_t{2000000000}, 2.5}, {int64_t{3000000000}, std::monostate{}}};
  r.series.push_back(s);
  EXPECT_EQ(
      ToInfluxJson({r}, {}),
      R"({"results":[{"statement_id":0,"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","mean"],)"
      R"("values":[["1970-01-01T00:00:02Z",2.5],["1970-01-01T00:00:03Z",null]]}]}]})");
  EXPECT_NE(ToInfluxJson({r}, {.epoch = "ms"}).find("[2000,2.5]"), std::string::npos);
  EXPECT_NE(ToInfluxJson({r}, {.epoch = "s"}).find("[3,null]"), std::string::npos);
  std::string pretty = ToInfluxJson({r}, {.epoch = "", .pretty = true});
  EXPECT_NE(pretty.find("\n    \"results\": ["), std::string::npos);
}

TEST(ToInfluxJson, EmptyStatementAndErrors) {
  StatementResult ok;
  StatementResult bad;
  bad.statement_id = 1;
  bad.error = "database not found: x";
  EXPECT_EQ(ToInfluxJson({ok, bad}, {}),
            R"({"results":[{"statement_id":0},{"statement_id":1,"error":"database not found: x"}]})");
  StatementResult parse;
  parse.parse_error = true;
  parse.error = "error parsing query: found EOF";
  EXPECT_EQ(ToInfluxJson({parse}, {}), R"({"error":"error parsing query: found EOF"})");
  EXPECT_EQ(ErrorJson("a \"b\" <c>"), R"({"error":"a \"b\" \u003cc\u003e"})");
}

TEST(ToCsvAndTable, PrintRows) {
  StatementResult r;
  ResultSeries s;
  s.name = "cpu";
  s.tags = {{"host", "a"}, {"region", "us"}};
  s.columns = {"time", "v", "s"};
  s.values = {{int64_t{1000000000}, 1.5, std::string("x,y")}};
  r.series.push_back(s);
  EXPECT_EQ(ToCsv({r}, {.epoch = "s"}), "name,tags,time,v,s\ncpu,\"host=a,region=us\",1,1.5,\"x,y\"\n");
  std::string t = ToTable({r}, {.epoch = "s"});
  EXPECT_EQ(t, "name: cpu\ntags: host=a,region=us\ntime v   s\n---- -   -\n1    1.5 x,y\n");
}

}  // namespace
}  // namespace m2mdb::query
