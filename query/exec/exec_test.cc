// Executor end to end over a temporary engine: aggregates, fill, transforms,
// meta statements, errors and limits.
#include "query/exec/exec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <set>
#include <type_traits>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

#include "m2mdb/db.h"
#include "m2mdb/query/executor.h"
#include "query/exec/select_stages.h"
#include "query/parser/parser.h"

namespace m2mdb::query {
namespace {

class ExecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("m2mdb_exec_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    Options o;
    o.data_dir = dir_.string();
    o.wal_sync = WalSyncMode::kNone;
    auto db = DB::Open(o);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->CreateDatabase({.name = "t"}).ok());
    auto w = db_->WriteLineProtocol("t",
                                    "cpu,host=a,region=us v=1.5,i=3i,b=true,s=\"x\" 1000000000\n"
                                    "cpu,host=a,region=us v=2.5,i=5i 2000000000\n"
                                    "cpu,host=b,region=eu v=10,i=7i 1500000000\n"
                                    "cpu,host=b,region=eu v=-3 4000000000\n"
                                    "mem,host=a used=100i 1000000000\n",
                                    {});
    ASSERT_TRUE(w.ok());
  }
  void TearDown() override {
    if (db_) (void)db_->Close();
    std::filesystem::remove_all(dir_);
  }
  std::string Q(std::string_view q, std::string database = "t", uint64_t max_points = 0) {
    QueryOptions o;
    o.database = database;
    o.max_points = max_points;
    Executor e(db_.get());
    return ToInfluxJson(e.Execute(q, o), {});
  }
  std::filesystem::path dir_;
  std::unique_ptr<DB> db_;
};

TEST_F(ExecTest, AggregateWithoutGroupByTimeIsAtEpoch) {
  EXPECT_EQ(
      Q("SELECT mean(v), sum(i), count(i) FROM cpu"),
      R"({"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","mean","sum","count"],)"
      R"("values":[["1970-01-01T00:00:00Z",2.75,15,3]]}]}]})");
}

TEST_F(ExecTest, DatabaseAndPolicyNamesAreInfluxdsValidNames) {
  // influxd refuses names with '/', '\\', ".", "..", or a rune that is not
  // printable (a line break, a tab, DEL, a no-break space); m2mdb created
  // them all. Answers taken from influxd 1.6.
  const std::string invalid = R"({"results":[{"statement_id":0,"error":"invalid name"}]})";
  for (const char* q : {"CREATE DATABASE \"a/b\"", "CREATE DATABASE \"..\"", "CREATE DATABASE \".\"",
                        "CREATE DATABASE \"a\\\\b\"", "CREATE DATABASE \"x\\ny\"", "CREATE DATABASE \"a\tb\"",
                        "CREATE DATABASE \"a\x7f"
                        "b\"",
                        "CREATE DATABASE \"a\xc2\xa0"
                        "b\"",
                        "CREATE DATABASE d WITH NAME \"a/b\"",
                        "CREATE RETENTION POLICY \"r\\nq\" ON t DURATION 1d REPLICATION 1",
                        "CREATE RETENTION POLICY \"..\" ON t DURATION 1d REPLICATION 1"}) {
    EXPECT_EQ(Q(q), invalid) << q;
  }
  EXPECT_EQ(Q("CREATE DATABASE \"x y \xc3\xa9\""), R"({"results":[{"statement_id":0}]})");
  EXPECT_EQ(Q("CREATE DATABASE \"bad\xff\""), R"({"results":[{"statement_id":0}]})");  // U+FFFD in Go
}

TEST_F(ExecTest, SingleSelectorReturnsPointTime) {
  EXPECT_NE(Q("SELECT max(v) FROM cpu").find(R"(["1970-01-01T00:00:01.5Z",10])"), std::string::npos);
  EXPECT_NE(Q("SELECT min(v), max(v) FROM cpu").find(R"(["1970-01-01T00:00:00Z",-3,10])"), std::string::npos);
}

TEST_F(ExecTest, GroupByTimeFillModes) {
  const std::string base = "SELECT mean(v) FROM cpu WHERE time >= 0 AND time < 5s GROUP BY time(1s) ";
  EXPECT_NE(Q(base).find(R"([["1970-01-01T00:00:00Z",null],["1970-01-01T00:00:01Z",5.75])"),
            std::string::npos);
  EXPECT_NE(Q(base + "fill(linear)").find(R"(["1970-01-01T00:00:03Z",-0.25])"), std::string::npos);
  EXPECT_NE(Q(base + "fill(previous)").find(R"(["1970-01-01T00:00:03Z",2.5])"), std::string::npos);
  EXPECT_NE(Q(base + "fill(7)").find(R"(["1970-01-01T00:00:00Z",7])"), std::string::npos);
  EXPECT_EQ(Q(base + "fill(none)").find("null"), std::string::npos);
  EXPECT_NE(Q("SELECT count(v) FROM cpu WHERE time >= 0 AND time < 5s GROUP BY time(1s)")
                .find(R"(["1970-01-01T00:00:03Z",0])"),
            std::string::npos);
}

// A wildcard over sources without fields expands to nothing: influxd
// answers with no series; the planner used to fail the statement with
// "GROUP BY requires at least one aggregate function".
TEST_F(ExecTest, AggregateWildcardOverNothingIsAnEmptyAnswer) {
  ASSERT_TRUE(db_->CreateDatabase({.name = "empty"}).ok());
  const std::string empty = R"({"results":[{"statement_id":0}]})";
  EXPECT_EQ(Q("SELECT count(*) FROM /.*/ WHERE time >= 0 AND time < 1h GROUP BY time(10m), *", "empty"),
            empty);
  EXPECT_EQ(Q("SELECT mean(*) FROM nope WHERE time >= 0 AND time < 1h GROUP BY time(10m) fill(0)"), empty);
  EXPECT_EQ(Q("SELECT count(*) FROM nope WHERE time >= 0 AND time < 1h GROUP BY time(10m) fill(none)"),
            empty);
  // Raw wildcards still need a function with GROUP BY time.
  EXPECT_NE(Q("SELECT * FROM nope GROUP BY time(1h)").find("requires at least one aggregate"),
            std::string::npos);
}

TEST_F(ExecTest, GroupByTagsSplitsSeries) {
  std::string r = Q("SELECT mean(v) FROM cpu GROUP BY host");
  EXPECT_NE(r.find(R"("tags":{"host":"a"})"), std::string::npos);
  EXPECT_LT(r.find(R"("host":"a")"), r.find(R"("host":"b")"));
}

TEST_F(ExecTest, TransformsOverAggregates) {
  EXPECT_EQ(Q("SELECT derivative(mean(v), 1s) FROM cpu WHERE time >= 0 AND time < 5s GROUP BY time(1s)"),
            R"({"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","derivative"],)"
            R"("values":[["1970-01-01T00:00:02Z",-3.25],["1970-01-01T00:00:04Z",-2.75]]}]}]})");
  EXPECT_NE(Q("SELECT cumulative_sum(i) FROM cpu").find(R"(["1970-01-01T00:00:02Z",15])"), std::string::npos);
}

// influxd reads one interval before the range for derivative & co.: the
// window at 2s gets its predecessor at 1s, outside `time >= 2s`.
TEST_F(ExecTest, DerivativeOverGroupByTimePairsTheFirstWindowWithThePrecedingOne) {
  EXPECT_EQ(Q("SELECT derivative(mean(v), 1s) FROM cpu WHERE time >= 2s AND time < 5s GROUP BY time(1s)"),
            R"({"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","derivative"],)"
            R"("values":[["1970-01-01T00:00:02Z",-3.25],["1970-01-01T00:00:04Z",-2.75]]}]}]})");
  EXPECT_EQ(Q("SELECT elapsed(mean(v)) FROM cpu WHERE time >= 2s AND time < 5s GROUP BY time(1s)"),
            R"({"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","elapsed"],)"
            R"("values":[["1970-01-01T00:00:02Z",1000000000],["1970-01-01T00:00:04Z",2000000000]]}]}]})");
}

// Next to the transform, mean() reads the range as given: no row at 1s.
TEST_F(ExecTest, AnAggregateNextToDerivativeKeepsTheRequestedRange) {
  EXPECT_EQ(
      Q("SELECT mean(v), derivative(mean(v), 1s) FROM cpu WHERE time >= 2s AND time < 5s GROUP BY time(1s)"),
      R"({"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","mean","derivative"],)"
      R"("values":[["1970-01-01T00:00:02Z",2.5,-3.25],["1970-01-01T00:00:03Z",null,null],)"
      R"(["1970-01-01T00:00:04Z",-3,-2.75]]}]}]})");
  // Filled, the aggregate has a row for every window of the range, as
  // influxd's iterator for that column gives; derivative() differentiates
  // the filled aggregate.
  EXPECT_EQ(
      Q("SELECT mean(v), derivative(mean(v), 1s) FROM cpu WHERE time >= 2s AND time < 5s GROUP BY time(1s) "
        "fill(0)"),
      R"({"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","mean","derivative"],)"
      R"("values":[["1970-01-01T00:00:02Z",2.5,-3.25],["1970-01-01T00:00:03Z",0,-2.5],)"
      R"(["1970-01-01T00:00:04Z",-3,-3]]}]}]})");
}

TEST_F(ExecTest, TransformsRunInTheDirectionOfTheAnswer) {
  EXPECT_EQ(Q("SELECT derivative(mean(v), 1s) FROM cpu WHERE time >= 0 AND time < 5s GROUP BY time(1s) "
              "ORDER BY time DESC"),
            R"({"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","derivative"],)"
            R"("values":[["1970-01-01T00:00:02Z",2.75],["1970-01-01T00:00:01Z",3.25]]}]}]})");
  EXPECT_EQ(Q("SELECT difference(v) FROM cpu WHERE host = 'a' ORDER BY time DESC"),
            R"({"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","difference"],)"
            R"("values":[["1970-01-01T00:00:01Z",-1]]}]}]})");
}

// tz(): hourly points from 2024-03-30T00:00:00+01:00 to 2024-04-02 local;
// the day of the spring change has 23 of them.
TEST_F(ExecTest, TimeZoneAlignsDayWindowsToLocalMidnightAndPrintsOffsets) {
  std::string lp;
  for (int64_t t = 1711753200; t < 1711753200 + 71 * 3600; t += 3600) {
    absl::StrAppend(&lp, "tz v=1 ", t * 1000000000, "\n");
  }
  ASSERT_TRUE(db_->WriteLineProtocol("t", lp, {}).ok());
  const std::string q =
      "SELECT count(v) FROM tz WHERE time >= '2024-03-30 00:00:00' AND time < '2024-04-02 00:00:00' "
      "GROUP BY time(1d) ";
  EXPECT_EQ(Q(q + "tz('Europe/Berlin')"),
            R"({"results":[{"statement_id":0,"series":[{"name":"tz","columns":["time","count"],)"
            R"("values":[["2024-03-30T00:00:00+01:00",24],["2024-03-31T00:00:00+01:00",23],)"
            R"(["2024-04-01T00:00:00+02:00",24]]}]}]})");
  // Without tz() the same strings are UTC and the days are UTC days.
  EXPECT_NE(
      Q(q).find(R"([["2024-03-30T00:00:00Z",24],["2024-03-31T00:00:00Z",24],["2024-04-01T00:00:00Z",22]])"),
      std::string::npos);
  EXPECT_NE(Q("SELECT v FROM tz LIMIT 1 tz('America/New_York')").find(R"("2024-03-29T19:00:00-04:00")"),
            std::string::npos);
  EXPECT_NE(Q("SELECT v FROM tz LIMIT 1 tz('Nowhere/Foo')").find("unable to find time zone Nowhere/Foo"),
            std::string::npos);
}

// The subquery's first window starts before the outer range (at 0s, for
// `time >= 1s`) and holds the points from 1s on; influxd keeps its row.
TEST_F(ExecTest, SubqueryKeepsItsPartialFirstWindow) {
  EXPECT_EQ(
      Q("SELECT m FROM (SELECT mean(v) AS m FROM cpu GROUP BY time(2s)) WHERE time >= 1s AND time < 5s"),
      R"({"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","m"],)"
      R"("values":[["1970-01-01T00:00:00Z",5.75],["1970-01-01T00:00:02Z",2.5],["1970-01-01T00:00:04Z",-3]]}]}]})");
  EXPECT_EQ(
      Q("SELECT sum(m) FROM (SELECT mean(v) AS m FROM cpu WHERE time >= 1s AND time < 5s GROUP BY time(2s)) "
        "WHERE time >= 1s AND time < 5s GROUP BY time(4s)"),
      R"({"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","sum"],)"
      R"("values":[["1970-01-01T00:00:00Z",8.25],["1970-01-01T00:00:04Z",-3]]}]}]})");
}

// Points: a 1.5@1s 2.5@2s, b 10@1.5s -3@4s.
TEST_F(ExecTest, TopAndBottomPickPointsWithInfluxdsRowShapes) {
  EXPECT_EQ(Q("SELECT top(v, 2) FROM cpu"),
            R"({"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","top"],)"
            R"("values":[["1970-01-01T00:00:01.5Z",10],["1970-01-01T00:00:02Z",2.5]]}]}]})");
  // One point per host competes; its tag is a column of its own.
  EXPECT_EQ(
      Q("SELECT bottom(v, host, 2), region FROM cpu"),
      R"({"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","bottom","host","region"],)"
      R"("values":[["1970-01-01T00:00:01Z",1.5,"a","us"],["1970-01-01T00:00:04Z",-3,"b","eu"]]}]}]})");
  // Per window, at the points' times; no fill.
  EXPECT_EQ(Q("SELECT top(v, 1) FROM cpu WHERE time >= 0 AND time < 4s GROUP BY time(2s) fill(0)"),
            R"({"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","top"],)"
            R"("values":[["1970-01-01T00:00:01.5Z",10],["1970-01-01T00:00:02Z",2.5]]}]}]})");
  EXPECT_NE(
      Q("SELECT top(s, 1) FROM cpu").find("unsupported top iterator type: *query.stringInterruptIterator"),
      std::string::npos);
  EXPECT_NE(Q("SELECT top(v, 2), count(v) FROM cpu")
                .find("selector function top() cannot be combined with other functions"),
            std::string::npos);
}

TEST_F(ExecTest, RawRowsArithmeticAndTags) {
  EXPECT_NE(Q("SELECT i / 2, v + i, host FROM cpu WHERE host = 'a'")
                .find(R"(["1970-01-01T00:00:01Z",1.5,4.5,"a"])"),
            std::string::npos);
  EXPECT_NE(Q("SELECT * FROM cpu LIMIT 1").find(R"("columns":["time","b","host","i","region","s","v"])"),
            std::string::npos);
}

// Raw rows are aligned on the union of the selected fields' times: fields
// with the same times, fields with fewer (nulls), integers among floats,
// and more than one series merged by time.
TEST_F(ExecTest, RawRowsAlignFieldsOnTheUnionOfTheirTimes) {
  ASSERT_TRUE(db_->WriteLineProtocol("t",
                                     "gap,host=a x=1,y=2i 1000000000\n"
                                     "gap,host=a x=3 2000000000\n"
                                     "gap,host=a y=4i 3000000000\n"
                                     "gap,host=a x=5,y=6i 4000000000\n"
                                     "gap,host=b y=7i 2500000000\n",
                                     {})
                  .ok());
  EXPECT_EQ(Q("SELECT x, y FROM gap WHERE host = 'a'"),
            R"({"results":[{"statement_id":0,"series":[{"name":"gap","columns":["time","x","y"],"values":[)"
            R"(["1970-01-01T00:00:01Z",1,2],["1970-01-01T00:00:02Z",3,null],["1970-01-01T00:00:03Z",null,4],)"
            R"(["1970-01-01T00:00:04Z",5,6]]}]}]})");
  EXPECT_EQ(
      Q("SELECT * FROM gap"),
      R"({"results":[{"statement_id":0,"series":[{"name":"gap","columns":["time","host","x","y"],"values":[)"
      R"(["1970-01-01T00:00:01Z","a",1,2],["1970-01-01T00:00:02Z","a",3,null],)"
      R"(["1970-01-01T00:00:02.5Z","b",null,7],["1970-01-01T00:00:03Z","a",null,4],)"
      R"(["1970-01-01T00:00:04Z","a",5,6]]}]}]})");
  EXPECT_EQ(Q("SELECT y FROM gap WHERE host = 'a'"),
            R"({"results":[{"statement_id":0,"series":[{"name":"gap","columns":["time","y"],"values":[)"
            R"(["1970-01-01T00:00:01Z",2],["1970-01-01T00:00:03Z",4],["1970-01-01T00:00:04Z",6]]}]}]})");
}

// The server runs the statements it parsed to authorize a request; that
// must answer exactly as parsing the text again does. Also covers the index
// path of `host = 'a' OR host = 'b'` and SELECT * (tags as constant columns).
TEST_F(ExecTest, ParsedStatementsRunLikeText) {
  QueryOptions o;
  o.database = "t";
  Executor e(db_.get());
  for (const char* q :
       {"SELECT * FROM cpu WHERE host = 'a' OR host = 'b'",
        "SELECT mean(v) FROM cpu WHERE (host = 'b' OR host = 'zz') GROUP BY host",
        "SELECT v FROM cpu WHERE host = 'a' OR region = 'eu'; SELECT nope(v) FROM cpu; SHOW DATABASES",
        "SELECT count(v) FROM cpu WHERE host = '' OR host = 'a'"}) {
    ParseOptions po;
    po.validate = false;
    auto parsed = ParseQuery(q, po);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(ToInfluxJson(e.Execute(*parsed, o), {}), ToInfluxJson(e.Execute(q, o), {})) << q;
  }
  EXPECT_EQ(Q("SELECT v FROM cpu WHERE host = 'a' OR host = 'b'"),
            Q("SELECT v FROM cpu WHERE host =~ /^(a|b)$/"));
  EXPECT_NE(Q("SELECT * FROM cpu WHERE host = 'b' OR host = 'zz'")
                .find(R"(["1970-01-01T00:00:01.5Z",null,"b",7,"eu",null,10])"),
            std::string::npos);
  EXPECT_NE(Q("SELECT count(v) FROM cpu WHERE host = '' OR host = 'a'").find(R"(["1970-01-01T00:00:00Z",2])"),
            std::string::npos);
}

TEST_F(ExecTest, SubqueryOverAggregates) {
  EXPECT_NE(
      Q("SELECT max(m) FROM (SELECT mean(v) AS m FROM cpu WHERE time >= 0 AND time < 5s GROUP BY time(2s))")
          .find(R"(["1970-01-01T00:00:00Z",5.75])"),
      std::string::npos);
}

// SOFFSET/SLIMIT pick series in ascending order; ORDER BY time DESC then
// emits them in reverse, as influxd does.
TEST_F(ExecTest, OrderByTimeDescReversesSeries) {
  std::string r = Q("SELECT v FROM cpu GROUP BY host ORDER BY time DESC");
  EXPECT_LT(r.find(R"("host":"b")"), r.find(R"("host":"a")"));
  r = Q("SELECT v FROM cpu GROUP BY host ORDER BY time DESC SLIMIT 1");
  EXPECT_NE(r.find(R"("host":"a")"), std::string::npos);
  EXPECT_EQ(r.find(R"("host":"b")"), std::string::npos);
  r = Q("SELECT i, used FROM cpu, mem ORDER BY time DESC");
  EXPECT_LT(r.find(R"("name":"mem")"), r.find(R"("name":"cpu")"));
  // A subquery follows the outer direction: its LIMIT keeps the newest row.
  EXPECT_NE(Q("SELECT v FROM (SELECT v FROM cpu WHERE host = 'a' LIMIT 1) ORDER BY time DESC")
                .find(R"([["1970-01-01T00:00:02Z",2.5]])"),
            std::string::npos);
  EXPECT_EQ(
      Q("SELECT v FROM (SELECT v FROM cpu ORDER BY time DESC)"),
      R"({"results":[{"statement_id":0,"error":"subqueries must be ordered in the same direction as the query itself"}]})");
}

// `time AS t` names the time column; it is not a field.
TEST_F(ExecTest, TimeAliasRenamesTheTimeColumn) {
  EXPECT_EQ(Q("SELECT v, time AS t FROM cpu WHERE host = 'a'"),
            R"({"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["t","v"],)"
            R"("values":[["1970-01-01T00:00:01Z",1.5],["1970-01-01T00:00:02Z",2.5]]}]}]})");
  EXPECT_EQ(Q("SELECT time AS t, max(v) FROM cpu"),
            R"({"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["t","max"],)"
            R"("values":[["1970-01-01T00:00:01.5Z",10]]}]}]})");
  EXPECT_EQ(Q("SELECT time AS t FROM cpu"),
            R"({"results":[{"statement_id":0,"error":"at least 1 non-time field must be queried"}]})");
  // An integer field named "time" is a number, not a timestamp.
  EXPECT_NE(Q("SELECT i AS time FROM cpu WHERE host = 'a'").find(R"(["1970-01-01T00:00:01Z",3])"),
            std::string::npos);
}

TEST_F(ExecTest, ErrorsAndEmptyResults) {
  EXPECT_EQ(
      Q("SELECT mean(v), v FROM cpu"),
      R"({"results":[{"statement_id":0,"error":"mixing aggregate and non-aggregate queries is not supported"}]})");
  EXPECT_EQ(
      Q("SELECT v FROM cpu WHERE time > 0 GROUP BY time(1s)"),
      R"({"results":[{"statement_id":0,"error":"GROUP BY requires at least one aggregate function"}]})");
  EXPECT_EQ(Q("SELECT mean(v) FROM nope"), R"({"results":[{"statement_id":0}]})");
  EXPECT_EQ(Q("SELECT mean(v) FROM cpu", "x"),
            R"({"results":[{"statement_id":0,"error":"database not found: x"}]})");
  EXPECT_EQ(
      Q("SELECT FROM"),
      R"({"error":"error parsing query: found FROM, expected identifier, string, number, bool at line 1, char 8"})");
}

TEST_F(ExecTest, MetaStatements) {
  EXPECT_EQ(
      Q("SHOW DATABASES"),
      R"({"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["t"]]}]}]})");
  EXPECT_NE(Q("SHOW TAG VALUES WITH KEY = host").find(R"("values":[["host","a"],["host","b"]])"),
            std::string::npos);
  EXPECT_NE(Q("SHOW SERIES WHERE region = 'eu'").find(R"([["cpu,host=b,region=eu"]])"), std::string::npos);
  EXPECT_EQ(
      Q("CREATE DATABASE d2 WITH DURATION 2d; SHOW RETENTION POLICIES ON d2"),
      R"({"results":[{"statement_id":0},{"statement_id":1,"series":[{"columns":["name","duration",)"
      R"("shardGroupDuration","replicaN","default"],"values":[["autogen","48h0m0s","24h0m0s",1,true]]}]}]})");
  EXPECT_EQ(
      Q("DROP SERIES FROM cpu WHERE host = 'b'; SELECT count(v) FROM cpu"),
      R"({"results":[{"statement_id":0},{"statement_id":1,"series":[{"name":"cpu","columns":["time","count"],)"
      R"("values":[["1970-01-01T00:00:00Z",2]]}]}]})");
  EXPECT_EQ(
      Q("DELETE FROM cpu WHERE time < 2s; SELECT count(v) FROM cpu"),
      R"({"results":[{"statement_id":0},{"statement_id":1,"series":[{"name":"cpu","columns":["time","count"],)"
      R"("values":[["1970-01-01T00:00:00Z",1]]}]}]})");
  EXPECT_EQ(
      Q("DROP MEASUREMENT mem; SHOW MEASUREMENTS"),
      R"({"results":[{"statement_id":0},{"statement_id":1,"series":[{"name":"measurements","columns":["name"],"values":[["cpu"]]}]}]})");
}

TEST_F(ExecTest, LimitsStopTheQuery) {
  EXPECT_NE(Q("SELECT v FROM cpu", "t", 2).find("query memory limit exceeded"), std::string::npos);
}

// Per-series partials and the two-thread scan give the merge path's answers:
// a row filter that always holds forces the merge path for comparison.
TEST_F(ExecTest, PartialAggregationMatchesMergePath) {
  std::mt19937_64 rng(3);
  std::string lp;
  for (int h = 0; h < 12; h++) {
    for (int k = 0; k < 40; k++) {
      const int64_t t = (static_cast<int64_t>(rng() % 200) + 1) * 1000000000;  // ties across series
      const int64_t x = static_cast<int64_t>(rng() % 9) - 4;
      lp += "pm,host=h" + std::to_string(h) + ",zone=z" + std::to_string(h % 3) + " v=" + std::to_string(x) +
            ",i=" + std::to_string(x * 3) + "i " + std::to_string(t) + "\n";
    }
  }
  ASSERT_TRUE(db_->WriteLineProtocol("t", lp, {}).ok());
  const std::vector<std::string> selects = {
      "count(v), sum(v), mean(v), min(v), max(v), spread(v), first(v), last(v)",
      "count(i), sum(i), mean(i), min(i), max(i), spread(i), first(i), last(i)",
      "min(i)",
      "max(v)",
      "first(i)",
      "last(v)",
      "derivative(mean(v))",
  };
  const std::vector<std::string> tails = {
      "",
      " GROUP BY zone",
      " GROUP BY *",
      " AND time >= 0s AND time < 200s GROUP BY time(17s)",
      " AND time >= 20s AND time < 150s GROUP BY time(10s), zone fill(0)",
      " AND host =~ /^h[0-5]$/ AND time >= 0s AND time < 200s GROUP BY time(30s)",
  };
  for (const std::string& sel : selects) {
    for (const std::string& tail : tails) {
      const bool by_time = tail.find("time(") != std::string::npos;
      if (sel.find("derivative") != std::string::npos && !by_time) continue;
      const std::string fast = "SELECT " + sel + " FROM pm WHERE host != 'none'" + tail;
      const std::string merged = "SELECT " + sel + " FROM pm WHERE v > -1000" + tail;
      const std::string got = Q(fast);
      EXPECT_NE(got.find("\"values\""), std::string::npos) << fast << ": " << got;
      EXPECT_EQ(got, Q(merged)) << fast;
    }
  }
}

// The executor takes a series' measurement and tags from DB::Series, not
// from its key: tag keys and values with escaped commas, spaces and equals
// signs and with literal backslashes (which the key keeps unescaped) split
// over two scans on the real tag, and the halves hold every series once.
TEST_F(ExecTest, SplitMatchersSplitOnTheUnescapedTagOfEscapedKeys) {
  std::string lp;
  for (int n = 0; n < 70; n++) {
    lp += "sp,t\\ag=v\\\\" + std::to_string(n) + "\\,x,k\\=1=a\\ b v=" + std::to_string(n) + " 1000\n";
  }
  ASSERT_TRUE(db_->WriteLineProtocol("t", lp, {}).ok());
  const bool second_thread = exec::UseSecondQueryThread();
  exec::SetUseSecondQueryThread(true);
  QueryOptions qo;
  qo.database = "t";
  exec::ExecContext ctx;
  ctx.db = db_.get();
  ctx.options = &qo;
  planner::SourceRef src;
  src.database = "t";
  src.measurement = "sp";
  TagMatcher a, b;
  const bool split = exec::SplitMatchers(&ctx, src, {{"k=1", TagOp::kEqual, "a b"}}, &a, &b);
  exec::SetUseSecondQueryThread(second_thread);
  ASSERT_TRUE(split);
  EXPECT_EQ("t\\ag", a.key);
  EXPECT_EQ("t\\ag", b.key);
  auto half_a = db_->Series("t", "sp", {a});
  auto half_b = db_->Series("t", "sp", {b});
  ASSERT_TRUE(half_a.ok() && half_b.ok());
  EXPECT_EQ(35u, half_a->size());
  EXPECT_EQ(35u, half_b->size());
  std::set<std::string> keys;
  for (const auto* half : {&*half_a, &*half_b}) {
    for (const SeriesKey& s : *half) keys.insert(s.key);
  }
  EXPECT_EQ(70u, keys.size());
  EXPECT_EQ(1u, keys.count("sp,k\\=1=a\\ b,t\\ag=v\\\\7\\,x"));
}

// DROP SERIES (and DELETE) with a condition the index cannot answer act
// series by series: on exactly the series that matched, not on a series
// that has the same tags and more, nor on every series for one without tags.
TEST_F(ExecTest, DropSeriesByConditionDropsExactlyTheMatchingSeries) {
  ASSERT_TRUE(db_->WriteLineProtocol("t",
                                     "ds v=1 1000\n"
                                     "ds,h=a\\ b v=2 1000\n"
                                     "ds,h=a\\ b,z=y\\=1 v=3 1000\n"
                                     "ds,h=c\\\\d,z=y\\=1 v=4 1000\n",
                                     {})
                  .ok());
  EXPECT_EQ(Q("DROP SERIES FROM ds WHERE (h = 'a b' AND z = '') OR h = 'nope'; SHOW SERIES FROM ds"),
            R"({"results":[{"statement_id":0},{"statement_id":1,"series":[{"columns":["key"],"values":)"
            R"([["ds"],["ds,h=a\\ b,z=y\\=1"],["ds,h=c\\\\d,z=y\\=1"]]}]}]})");
  EXPECT_EQ(
      Q("DELETE FROM ds WHERE z = '' OR h = 'nope'; SELECT sum(v) FROM ds"),
      R"({"results":[{"statement_id":0},{"statement_id":1,"series":[{"name":"ds","columns":["time","sum"],)"
      R"("values":[["1970-01-01T00:00:00Z",7]]}]}]})");
  EXPECT_EQ(Q("SHOW TAG VALUES FROM ds WITH KEY = h WHERE z = 'y=1' OR h = 'nope'"),
            R"({"results":[{"statement_id":0,"series":[{"name":"ds","columns":["key","value"],"values":)"
            R"([["h","a b"],["h","c\\\\d"]]}]}]})");
}

TEST(Functions, MergePointsIsStableByTime) {
  exec::Points a, b;
  a.t = {1, 3};
  a.v = exec::VCol::Constant(Value(1.0), 2);
  b.t = {1, 2};
  b.v = exec::VCol::Constant(Value(2.0), 2);
  exec::Points m = exec::MergePoints({a, b});
  EXPECT_EQ(m.t, (std::vector<int64_t>{1, 1, 2, 3}));
  EXPECT_EQ(m.v.f, (std::vector<double>{1, 2, 2, 1}));
}

TEST(Functions, ReducersOverASlice) {
  exec::Points p;
  p.t = {1, 2, 3, 4, 5};
  p.v = exec::VCol::FromValues({int64_t{3}, int64_t{7}, int64_t{5}, int64_t{7}, int64_t{1}});
  auto run = [&](const std::string& fn, double number = 0) {
    std::vector<exec::Entry> out;
    exec::CallSpec c;
    c.number = number;
    exec::ReduceWindow(fn, c, p, 0, p.size(), 0, true, &out);
    return out;
  };
  EXPECT_EQ(std::get<int64_t>(run("sum")[0].value), 23);
  EXPECT_DOUBLE_EQ(std::get<double>(run("mean")[0].value), 4.6);
  EXPECT_DOUBLE_EQ(std::get<double>(run("median")[0].value), 5);
  EXPECT_EQ(std::get<int64_t>(run("mode")[0].value), 7);
  EXPECT_EQ(std::get<int64_t>(run("spread")[0].value), 6);
  EXPECT_EQ(run("max")[0].time, 2);  // earliest of equal maxima
  EXPECT_EQ(std::get<int64_t>(run("percentile", 50)[0].value), 5);
  EXPECT_EQ(run("distinct").size(), 4u);
}

// Per-series partials combined in series order give what the reducers give
// over the merged series, ties included (values and times drawn from small
// ranges so equal values and equal times across series are common).
TEST(ExecPartial, MatchesMergedReduce) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 200; round++) {
    const bool floats = round % 2 == 0;
    const int64_t interval = round % 3 == 0 ? 0 : 1 + static_cast<int64_t>(rng() % 7);
    const int64_t first_window = interval == 0 ? 0 : -static_cast<int64_t>(rng() % 5);
    const size_t windows = interval == 0 ? 1 : 1 + rng() % 6;
    std::vector<Column> cols(1 + rng() % 4);
    std::vector<exec::Points> parts;
    for (Column& c : cols) {
      c.type = floats ? FieldType::kFloat : FieldType::kInteger;
      int64_t t = first_window - static_cast<int64_t>(rng() % 3);
      const size_t n = rng() % 12;
      for (size_t k = 0; k < n; k++) {
        c.times.push_back(t);
        t += 1 + static_cast<int64_t>(rng() % 3);
        const int64_t x = static_cast<int64_t>(rng() % 5) - 2;
        if (floats) {
          c.floats.push_back(static_cast<double>(x) * 0.5);
        } else {
          c.ints.push_back(x);
        }
      }
      exec::Points p;
      p.t = c.times;
      p.v = exec::VCol::FromColumn(c);
      parts.push_back(std::move(p));
    }
    const exec::Points merged = exec::MergePoints(parts);
    for (const std::string fn : {"count", "sum", "mean", "min", "max", "spread", "first", "last", "stddev"}) {
      uint32_t need = 0;
      ASSERT_TRUE(exec::PartialNeeds(fn, &need));
      std::vector<exec::PartialAcc> acc(windows);
      for (const Column& c : cols)
        exec::AccumulateColumn(c, first_window, interval, windows, need, acc.data());
      for (bool point_time : {false, true}) {
        size_t a = 0;
        while (interval != 0 && a < merged.size() && merged.t[a] < first_window) a++;
        for (size_t w = 0; w < windows; w++) {
          const int64_t ws = first_window + static_cast<int64_t>(w) * interval;
          size_t b = interval == 0 ? merged.size() : a;
          while (interval != 0 && b < merged.size() && merged.t[b] < ws + interval) b++;
          std::vector<exec::Entry> want;
          if (b > a) exec::ReduceWindow(fn, exec::CallSpec{}, merged, a, b, ws, point_time, &want);
          a = b;
          SCOPED_TRACE(fn + " round " + std::to_string(round) + " window " + std::to_string(w));
          ASSERT_EQ(acc[w].n > 0, !want.empty());
          if (want.empty()) continue;
          const exec::Entry got = exec::PartialResult(fn, floats ? exec::VType::kFloat : exec::VType::kInt,
                                                      acc[w], ws, point_time);
          EXPECT_EQ(got.time, want[0].time);
          if (fn == "stddev" && want[0].value.index() == 1) {
            // Combined from per-series mean and M2: equal up to rounding.
            ASSERT_EQ(got.value.index(), 1u);
            const double x = std::get<double>(got.value), y = std::get<double>(want[0].value);
            EXPECT_NEAR(x, y, 1e-12 * std::max(1.0, std::abs(y)));
          } else {
            EXPECT_EQ(got.value, want[0].value);
          }
        }
      }
    }
  }
}

TEST(Functions, Transforms) {
  std::vector<exec::Entry> in = {{0, 1.0}, {1000000000, 3.0}, {2000000000, 2.0}};
  exec::CallSpec c;
  c.name = "derivative";
  auto d = exec::Transform(c, in, 1000000000);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_DOUBLE_EQ(std::get<double>(d[1].value), -1);
  c.name = "non_negative_derivative";
  EXPECT_EQ(exec::Transform(c, in, 1000000000).size(), 1u);
  c.name = "moving_average";
  c.number = 2;
  auto m = exec::Transform(c, in, 0);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_DOUBLE_EQ(std::get<double>(m[0].value), 2);
}

// The raw projection reads field and tag references in place (RefInPlace)
// instead of through Eval: the cells must be the ones Eval gives.
TEST(RefInPlace, SameCellsAsEval) {
  exec::VCol v;
  v.type = exec::VType::kFloat;
  v.f = {1.5, 0, 2.5};
  v.valid = {1, 0, 1};
  const std::vector<int64_t> times = {10, 20, 30};
  exec::EvalContext ctx;
  ctx.rows = 3;
  ctx.times = &times;
  ctx.is_tag = [](const VarRef& r) { return r.name == "host" || r.name == "absent"; };
  ctx.tag_value = [](const VarRef& r) -> Value {
    if (r.name == "host") return std::string("truck_0");
    return std::monostate{};
  };
  ctx.field = [&](const VarRef& r) -> const exec::VCol* { return r.name == "v" ? &v : nullptr; };
  for (const char* text : {"v", "(v)", "host", "absent", "nope"}) {
    SCOPED_TRACE(text);
    auto e = ParseExpr(text);
    ASSERT_TRUE(e.ok()) << e.status();
    const exec::VCol* col = nullptr;
    Value constant = 1.0;
    ASSERT_TRUE(exec::RefInPlace(**e, ctx, &col, &constant));
    const exec::VCol want = exec::Eval(**e, ctx);
    if (std::string(text).find('v') != std::string::npos) {
      EXPECT_EQ(col, &v);
    }
    for (size_t r = 0; r < ctx.rows; r++) {
      EXPECT_EQ(col != nullptr ? col->Get(r) : constant, want.Get(r));
    }
  }
  // Anything else is evaluated.
  for (const char* text : {"time", "v + 1", "1"}) {
    auto e = ParseExpr(text);
    ASSERT_TRUE(e.ok()) << e.status();
    const exec::VCol* col = nullptr;
    EXPECT_FALSE(exec::RefInPlace(**e, ctx, &col, nullptr)) << text;
  }
}

// Raw rows are built with AppendCellTo; each cell must be what Get gives.
TEST(VCol, AppendCellToMatchesGet) {
  std::vector<exec::VCol> cols = {exec::VCol::FromValues({1.5, std::monostate{}, -2.0}),
                                  exec::VCol::FromValues({int64_t{3}, int64_t{-4}, std::monostate{}}),
                                  exec::VCol::FromValues({uint64_t{5}, uint64_t{6}, uint64_t{7}}),
                                  exec::VCol::FromValues({true, false, std::monostate{}}),
                                  exec::VCol::FromValues({std::string("a long string past the SSO buffer"),
                                                          std::monostate{}, std::string("x")}),
                                  exec::VCol::Nulls(exec::VType::kNull, 3)};
  for (const exec::VCol& c : cols) {
    std::vector<Value> row;
    for (size_t k = 0; k < 4; k++) c.AppendCellTo(k, &row);  // k = 3: past the end, null
    ASSERT_EQ(row.size(), 4u);
    for (size_t k = 0; k < 4; k++) EXPECT_EQ(row[k], c.Get(k)) << k;
  }
}
}  // namespace
// AccumulateColumn takes float sums several windows at a time and guesses
// each window's end from the last window's length; every window's sum must
// still be the plain left-to-right sum of its points (the bits influxd
// gives), and the other statistics unchanged, whatever the window lengths:
// regular runs, runs that break the guess, empty windows, points outside
// the windows, repeated times.
TEST(AccumulateColumn, WindowSumsAreSequentialLoopsOverEachWindow) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 200; round++) {
    Column c;
    c.type = FieldType::kFloat;
    const int64_t interval = 10 + static_cast<int64_t>(rng() % 20);
    const int64_t first = 1000;
    const size_t windows = 1 + rng() % 12;
    int64_t t = first - static_cast<int64_t>(rng() % 30);
    const int64_t step = 1 + static_cast<int64_t>(rng() % 4);
    const bool regular = round % 2 == 0;
    while (t < first + interval * static_cast<int64_t>(windows) + 25) {
      double v = std::ldexp(static_cast<double>(rng() % 2000000) - 1e6, -static_cast<int>(rng() % 30));
      c.times.push_back(t);
      c.floats.push_back(v);
      if (regular) {
        t += step;
      } else {
        const uint64_t r = rng() % 10;
        t += r == 0 ? 0 : r < 8 ? step : interval * static_cast<int64_t>(r - 6);
      }
    }
    const uint32_t need = round % 3 == 0   ? exec::kNeedSum
                          : round % 3 == 1 ? exec::kNeedSum | exec::kNeedMin | exec::kNeedMax |
                                                 exec::kNeedFirst | exec::kNeedLast
                                           : exec::kNeedMin | exec::kNeedLast;
    std::vector<exec::PartialAcc> acc(windows);
    exec::AccumulateColumn(c, first, interval, windows, need, acc.data());
    for (size_t w = 0; w < windows; w++) {
      const int64_t ws = first + static_cast<int64_t>(w) * interval;
      double sum = 0;
      int64_t n = 0;
      double mn = 0, lst = 0;
      int64_t mn_t = 0, lst_t = 0;
      for (size_t k = 0; k < c.size(); k++) {
        if (c.times[k] < ws || c.times[k] >= ws + interval) continue;
        const double v = c.floats[k];
        if (n == 0 || v < mn) {
          mn = v;
          mn_t = c.times[k];
        }
        if (n == 0 || c.times[k] > lst_t || (c.times[k] == lst_t && lst < v)) {
          lst = v;
          lst_t = c.times[k];
        }
        sum += v;
        n++;
      }
      ASSERT_EQ(acc[w].n, n) << round << " " << w;
      if (n == 0) continue;
      if (need & exec::kNeedSum) {
        // Bit for bit.
        ASSERT_EQ(std::memcmp(&acc[w].dsum, &sum, sizeof(sum)), 0) << round << " " << w;
      }
      if (need & exec::kNeedMin) {
        ASSERT_EQ(acc[w].mn.f, mn) << round << " " << w;
        ASSERT_EQ(acc[w].mn_t, mn_t) << round << " " << w;
      }
      if (need & exec::kNeedLast) {
        ASSERT_EQ(acc[w].lst.f, lst) << round << " " << w;
        ASSERT_EQ(acc[w].lst_t, lst_t) << round << " " << w;
      }
    }
  }
}

// min() and max() over a window take four lanes over chunks of eight and
// search only the chunk that set the extreme: each window's answer must be
// the point the plain fold (m = v[k] > m ? v[k] : m from v[a]) and a search
// for the first point equal to it give, bit for bit, for every type, with
// ties, signed zeros, NaNs (leading ones included), extreme values, windows
// of one point and of lengths around the chunk size.
template <typename T>
void CheckExtremes(FieldType type, const std::vector<T>& pool, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 300; round++) {
    Column c;
    c.type = type;
    const int64_t interval = 1 + static_cast<int64_t>(rng() % 40);
    const size_t windows = 1 + rng() % 6;
    const size_t n = rng() % 200;
    for (size_t k = 0; k < n; k++) {
      c.times.push_back(static_cast<int64_t>(k));
      const T x = round % 4 == 0 ? pool[rng() % 3] : pool[rng() % pool.size()];
      if constexpr (std::is_same_v<T, double>) {
        c.floats.push_back(x);
      } else if constexpr (std::is_same_v<T, int64_t>) {
        c.ints.push_back(x);
      } else {
        c.uints.push_back(x);
      }
    }
    const T* v = nullptr;
    if constexpr (std::is_same_v<T, double>) {
      v = c.floats.data();
    } else if constexpr (std::is_same_v<T, int64_t>) {
      v = c.ints.data();
    } else {
      v = c.uints.data();
    }
    for (const uint32_t need :
         {uint32_t{exec::kNeedMin}, uint32_t{exec::kNeedMax}, exec::kNeedMin | exec::kNeedMax}) {
      std::vector<exec::PartialAcc> acc(windows);
      exec::AccumulateColumn(c, 0, interval, windows, need, acc.data());
      for (size_t w = 0; w < windows; w++) {
        const size_t a = std::min(n, w * static_cast<size_t>(interval));
        const size_t b = std::min(n, (w + 1) * static_cast<size_t>(interval));
        ASSERT_EQ(acc[w].n, static_cast<int64_t>(b - a));
        if (a == b) continue;
        for (const bool mx : {false, true}) {
          if (!(need & (mx ? exec::kNeedMax : exec::kNeedMin))) continue;
          T m = v[a];
          for (size_t k = a + 1; k < b; k++) m = (mx ? v[k] > m : v[k] < m) ? v[k] : m;
          size_t best = a;
          while (!(v[best] == m) && best + 1 < b) best++;
          const exec::PartialNum& got = mx ? acc[w].mx : acc[w].mn;
          const int64_t got_t = mx ? acc[w].mx_t : acc[w].mn_t;
          SCOPED_TRACE(::testing::Message() << "round " << round << " window " << w << " max " << mx);
          ASSERT_EQ(std::memcmp(&got, &v[best], sizeof(T)), 0);
          ASSERT_EQ(got_t, c.times[best]);
        }
      }
    }
  }
}

TEST(AccumulateColumn, MinMaxArePlainFoldsOverEachWindow) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CheckExtremes<double>(
      FieldType::kFloat,
      {1.5, -0.0, 0.0, nan, -inf, inf, std::numeric_limits<double>::max(),
       std::numeric_limits<double>::lowest(), std::numeric_limits<double>::denorm_min(), -2.25, 47.19, 47.2},
      1);
  CheckExtremes<int64_t>(
      FieldType::kInteger,
      {3, -3, 0, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), 4719, 4720}, 2);
  CheckExtremes<uint64_t>(FieldType::kUnsigned, {3, 0, 1, std::numeric_limits<uint64_t>::max(), 4719}, 3);
}

}  // namespace m2mdb::query
