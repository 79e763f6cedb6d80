// Result writers: Go-compatible float and time formatting, JSON layout.
#include "query/format/format.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

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

// The short-decimal fast path must print exactly what std::to_chars (the
// shortest round-trip digits) prints, for decimals of every length, values
// at the edge of its range and arbitrary doubles.
TEST(FormatFloat, FastPathAgreesWithToChars) {
  auto reference = [](double f) {
    char buf[64];
    double a = std::fabs(f);
    if (a != 0 && (a < 1e-6 || a >= 1e21)) return std::string();  // exponent form: not compared here
    auto r = std::to_chars(buf, buf + sizeof(buf), f, std::chars_format::fixed);
    return std::string(buf, r.ptr - buf);
  };
  std::mt19937_64 rng(42);
  std::vector<double> values = {0.0,
                                -0.0,
                                1.0,
                                -1.0,
                                0.5,
                                0.1,
                                0.2,
                                0.3,
                                0.1 + 0.2,
                                1e-6,
                                9.999999e-7,
                                1e15,
                                1e16,
                                1e20,
                                1125899906842624.0,
                                1125899906842623.5,
                                9007199254740993.0,
                                60.32528,
                                -77.28991,
                                344.8,
                                191,
                                8.181666666666667,
                                65.72166666666666};
  for (int d = 0; d <= 18; d++) {
    for (int i = 0; i < 2000; i++) {
      const int64_t m = static_cast<int64_t>(rng() % 2000000000000ull) - 1000000000000ll;
      values.push_back(static_cast<double>(m) / std::pow(10.0, d));
      values.push_back(static_cast<double>(m % 100000) / std::pow(10.0, d));
    }
  }
  for (int i = 0; i < 200000; i++) {
    uint64_t bits = rng();
    double f;
    std::memcpy(&f, &bits, sizeof(f));
    if (std::isfinite(f)) values.push_back(f);
    values.push_back(static_cast<double>(rng() % 1000000) * 1e-3 +
                     std::ldexp(1.0, static_cast<int>(rng() % 60)));
  }
  EXPECT_EQ("0", format::FormatFloat(0.0));
  EXPECT_EQ("-0", format::FormatFloat(-0.0));
  int compared = 0;
  for (double f : values) {
    std::string want = reference(f);
    if (want.empty()) continue;
    compared++;
    ASSERT_EQ(format::FormatFloat(f), want) << "bits " << std::hexfloat << f;
  }
  EXPECT_GT(compared, 100000);
}

TEST(AppendJsonString, EscapesAfterACleanPrefix) {
  std::string out = "x";
  format::AppendJsonString("truck_0", &out);
  format::AppendJsonString("ab\"c<d>&\n\x01", &out);
  format::AppendJsonString("", &out);
  EXPECT_EQ(out, R"(x"truck_0""ab\"c\u003cd\u003e\u0026\n\u0001""")");
}

TEST(FormatRfc3339Nano, TrimsTrailingZeros) {
  EXPECT_EQ(format::FormatRfc3339Nano(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format::FormatRfc3339Nano(1500000000), "1970-01-01T00:00:01.5Z");
  EXPECT_EQ(format::FormatRfc3339Nano(500000001), "1970-01-01T00:00:00.500000001Z");
  EXPECT_EQ(format::FormatRfc3339Nano(1577836800000000000), "2020-01-01T00:00:00Z");
  EXPECT_EQ(format::FormatRfc3339Nano(-1), "1969-12-31T23:59:59.999999999Z");
}

TEST(FormatRfc3339NanoIn, PrintsTheZonesOffsetOrZ) {
  absl::TimeZone berlin, kolkata, ny;
  ASSERT_TRUE(absl::LoadTimeZone("Europe/Berlin", &berlin));
  ASSERT_TRUE(absl::LoadTimeZone("Asia/Kolkata", &kolkata));
  ASSERT_TRUE(absl::LoadTimeZone("America/New_York", &ny));
  EXPECT_EQ(format::FormatRfc3339NanoIn(1711839600000000000, berlin), "2024-03-31T00:00:00+01:00");
  EXPECT_EQ(format::FormatRfc3339NanoIn(1711922400000000000, berlin), "2024-04-01T00:00:00+02:00");
  EXPECT_EQ(format::FormatRfc3339NanoIn(1711839600500000000, berlin), "2024-03-31T00:00:00.5+01:00");
  EXPECT_EQ(format::FormatRfc3339NanoIn(0, kolkata), "1970-01-01T05:30:00+05:30");
  EXPECT_EQ(format::FormatRfc3339NanoIn(0, ny), "1969-12-31T19:00:00-05:00");
  EXPECT_EQ(format::FormatRfc3339NanoIn(0, absl::UTCTimeZone()), "1970-01-01T00:00:00Z");
  // The extreme storable times do not wrap: past int64 locally, UTC it is.
  EXPECT_EQ(format::FormatRfc3339NanoIn(INT64_MAX - 1, berlin), format::FormatRfc3339Nano(INT64_MAX - 1));
  EXPECT_EQ(format::FormatRfc3339NanoIn(INT64_MIN + 2, ny), format::FormatRfc3339Nano(INT64_MIN + 2));
}

TEST(ToInfluxJson, SeriesWithAZonePrintsLocalTimesUnlessAnEpochIsAsked) {
  std::vector<StatementResult> r(1);
  ResultSeries s;
  s.name = "m";
  s.columns = {"time", "v"};
  s.time_first = true;
  s.time_zone = "Europe/Berlin";
  s.values = {{Value(int64_t{1711839600000000000}), Value(1.0)}};
  r[0].series.push_back(s);
  const std::string want = R"({"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","v"],)"
                           R"("values":[["2024-03-31T00:00:00+01:00",1]]}]}]})";
  EXPECT_EQ(ToInfluxJson(r, {}), want);
  EXPECT_NE(ToInfluxJson(r, {.epoch = "", .pretty = true}).find(R"("2024-03-31T00:00:00+01:00")"), std::string::npos);
  EXPECT_NE(ToCsv(r, {}).find("2024-03-31T00:00:00+01:00"), std::string::npos);
  EXPECT_NE(ToInfluxJson(r, {.epoch = "s"}).find("[1711839600,1]"), std::string::npos);
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

// The non-pretty values section has its own writer: every cell type, long
// and escaped strings, epochs, and more than its 4 KB buffer must come out
// as the pretty writer's cells do.
TEST(ToInfluxJson, CompactValuesMatchTheGenericWriter) {
  StatementResult r;
  ResultSeries s;
  s.name = "m";
  s.columns = {"time", "f", "i", "u", "b", "s", "n"};
  for (int k = 0; k < 500; k++) {
    s.values.push_back({int64_t{1500000000} * k, k * 0.1 - 7, int64_t{-k} * 1000000007,
                        uint64_t{18446744073709551615u} - k, k % 2 == 0,
                        std::string(k % 7 == 0 ? 300 : k % 13, 'x') + (k % 5 == 0 ? "<\"&\\\n" : ""),
                        std::monostate{}});
  }
  s.values.push_back({std::monostate{}, std::nan(""), int64_t{0}, uint64_t{0}, false, std::string(), 1e-9});
  r.series.push_back(s);
  for (const char* epoch : {"", "ns", "ms", "s", "h"}) {
    std::string compact = ToInfluxJson({r}, {.epoch = epoch});
    std::string pretty = ToInfluxJson({r}, {.epoch = epoch, .pretty = true});
    // Removing the pretty layout's whitespace (strings here have no spaces
    // or newlines of their own: \n is escaped) gives the compact text.
    std::string squeezed;
    for (char c : pretty) {
      if (c != ' ' && c != '\n') squeezed.push_back(c);
    }
    EXPECT_EQ(compact, squeezed) << epoch;
  }
  const std::string s_epoch = ToInfluxJson({r}, {.epoch = "s"});
  EXPECT_NE(s_epoch.find(R"([3,-6.8,-2000000014,18446744073709551613,true,"xx",null])"), std::string::npos);
  EXPECT_NE(s_epoch.find(R"([null,null,0,0,false,"",1e-9]]}]}]})"), std::string::npos);
  EXPECT_NE(s_epoch.find(R"("xxxx\u003c\"\u0026\\\n",null])"), std::string::npos);
}

// The compact writer remembers each column's last float and its text; runs
// of equal values, values that differ only in bits (-0 and 0, NaN
// payloads), long texts, columns past those it remembers and floats in a
// column that also holds other types must print as the pretty writer's.
TEST(ToInfluxJson, RepeatedFloatsPrintAsTheGenericWriter) {
  StatementResult r;
  ResultSeries s;
  s.name = "m";
  s.columns = {"time"};
  for (int c = 0; c < 40; c++) s.columns.push_back(absl::StrCat("c", c));
  const double pool[] = {0.0,
                         -0.0,
                         std::nan(""),
                         -std::nan(""),
                         344.8,
                         -77.28991,
                         191,
                         1e-9,
                         -2.2250738585072014e-308,
                         1.7976931348623157e308,
                         45.123456789012344,
                         1e21};
  std::mt19937_64 rng(5);
  for (int k = 0; k < 3000; k++) {
    std::vector<Value> row = {int64_t{k}};
    for (int c = 0; c < 40; c++) {
      const uint64_t x = rng();
      if (x % 10 < 6 && k > 0) {
        row.push_back(s.values.back()[c + 1]);  // a run
      } else if (c % 9 == 8 && x % 10 == 6) {
        row.emplace_back(std::in_place_index<2>, int64_t{c});  // another type in the column
      } else {
        row.emplace_back(std::in_place_index<1>, pool[(x >> 8) % std::size(pool)]);
      }
    }
    s.values.push_back(std::move(row));
  }
  r.series.push_back(s);
  const std::string compact = ToInfluxJson({r}, {.epoch = "ns"});
  std::string squeezed;
  for (char c : ToInfluxJson({r}, {.epoch = "ns", .pretty = true})) {
    if (c != ' ' && c != '\n') squeezed.push_back(c);
  }
  EXPECT_EQ(compact, squeezed);
  ResultSeries signs;
  signs.name = "m";
  signs.columns = {"time", "v"};
  signs.values = {
      {int64_t{1}, 0.0}, {int64_t{2}, -0.0}, {int64_t{3}, -0.0}, {int64_t{4}, 0.0}, {int64_t{5}, 0.0}};
  StatementResult r2;
  r2.series.push_back(signs);
  EXPECT_NE(ToInfluxJson({r2}, {.epoch = "ns"}).find("[[1,0],[2,-0],[3,-0],[4,0],[5,0]]"), std::string::npos);
}

// Short strings are copied into the compact writer's buffer 16 bytes at a
// time: every length around that size, in and out of the string's own
// buffer, must come out exactly.
TEST(ToInfluxJson, ShortStringsOfEveryLengthPrintExactly) {
  StatementResult r;
  ResultSeries s;
  s.name = "m";
  s.columns = {"time", "a", "b"};
  std::string want = "[";
  for (int len = 0; len <= 40; len++) {
    std::string heap(static_cast<size_t>(len), static_cast<char>('a' + len % 26));
    heap.reserve(100);  // out of the string object, with room to spare
    std::string exact(static_cast<size_t>(len), static_cast<char>('A' + len % 26));
    exact.shrink_to_fit();
    s.values.push_back({int64_t{len}, heap, exact});
    absl::StrAppend(&want, len ? "," : "", "[", len, ",\"", heap, "\",\"", exact, "\"]");
  }
  want += "]";
  r.series.push_back(s);
  const std::string json = ToInfluxJson({r}, {.epoch = "ns"});
  EXPECT_NE(json.find(want), std::string::npos) << json;
}

// The compact writer remembers each column's last clean string; a value
// that differs from it (same length, or needing escapes) must still be
// checked and escaped.
TEST(ToInfluxJson, RepeatedStringsAreCheckedWhenTheyChange) {
  StatementResult r;
  ResultSeries s;
  s.name = "m";
  s.columns = {"time", "a", "b"};
  const std::vector<std::string> cycle = {"truck_0", "truck_0", "truck<0", "truck_1",
                                          "truck_0", "x&y",     "x&y",     ""};
  for (int k = 0; k < 40; k++) {
    s.values.push_back({int64_t{k}, cycle[k % cycle.size()], cycle[(k * 3) % cycle.size()]});
  }
  r.series.push_back(s);
  std::string compact = ToInfluxJson({r}, {.epoch = "ns"});
  std::string pretty = ToInfluxJson({r}, {.epoch = "ns", .pretty = true});
  std::string squeezed;
  for (char c : pretty) {
    if (c != ' ' && c != '\n') squeezed.push_back(c);
  }
  EXPECT_EQ(compact, squeezed);
  EXPECT_NE(compact.find(R"([2,"truck\u003c0","x\u0026y"])"), std::string::npos) << compact;
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

// A SELECT result's time is column 0 whatever its name (`SELECT time AS t`);
// an integer column aliased "time" beside it is a number.
TEST(ToCsvAndTable, TimeFirstColumnByPosition) {
  StatementResult r;
  ResultSeries s;
  s.name = "cpu";
  s.columns = {"t", "time"};
  s.values = {{int64_t{1000000000}, int64_t{7}}};
  s.time_first = true;
  r.series.push_back(s);
  EXPECT_EQ(ToInfluxJson({r}, {}),
            R"({"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["t","time"],)"
            R"("values":[["1970-01-01T00:00:01Z",7]]}]}]})");
  EXPECT_EQ(ToCsv({r}, {.epoch = "s"}), "name,t,time\ncpu,1,7\n");
  EXPECT_EQ(ToTable({r}, {.epoch = "s"}), "name: cpu\nt time\n- ----\n1 7\n");
}

}  // namespace
}  // namespace m2mdb::query
