// Columnar result rows (ResultSeries::columnar, QueryOptions::columnar_rows):
// every writer prints them exactly as it prints the same rows in `values`,
// and the executor hands a raw SELECT over that way only when asked.
#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "m2mdb/db.h"
#include "m2mdb/query/executor.h"
#include "m2mdb/query/parse.h"
#include "tests/support/test_util.h"

namespace m2mdb::query {
namespace {

// Every writer and option the server and the CLI use.
void ExpectSameText(const std::vector<StatementResult>& rows, const std::vector<StatementResult>& cols,
                    const std::string& what) {
  for (const char* epoch : {"", "ns", "u", "ms", "s", "m", "h"}) {
    for (bool pretty : {false, true}) {
      JsonOptions jo{.epoch = epoch, .pretty = pretty};
      EXPECT_EQ(ToInfluxJson(cols, jo), ToInfluxJson(rows, jo))
          << what << " epoch=" << epoch << " pretty=" << pretty;
    }
    JsonOptions jo{.epoch = epoch};
    EXPECT_EQ(ToCsv(cols, jo), ToCsv(rows, jo)) << what << " epoch=" << epoch;
    EXPECT_EQ(ToTable(cols, jo), ToTable(rows, jo)) << what << " epoch=" << epoch;
  }
}

// A series in both forms: `values` rows and the same rows as columns.
struct Both {
  ResultSeries rows, cols;
};

ResultColumn Column(ResultColumn::Kind kind, Value constant = Value()) {
  ResultColumn c;
  c.kind = kind;
  c.constant = std::move(constant);
  return c;
}

Both MakeSeries(const std::vector<int64_t>& times, std::vector<ResultColumn> columns) {
  Both b;
  b.cols.name = "m";
  b.cols.time_first = true;
  b.cols.columns.push_back("time");
  for (size_t c = 0; c < columns.size(); c++) b.cols.columns.push_back("c" + std::to_string(c));
  b.cols.columnar.times = times;
  b.cols.columnar.columns = std::move(columns);
  b.rows = b.cols;
  b.rows.MaterializeRows();
  return b;
}

TEST(ColumnarRows, WritersPrintThemAsRows) {
  const std::vector<int64_t> times = {
      -1500000000,          // before 1970, under 10 digits
      0,                    //
      999999999,            // 9 digits
      9999999999,           // the last 10 digits alone
      10000000000,          // leading digits begin
      1704078000000000000,  // 2024, whole seconds
      1704078000123456789,  // with a fraction
      1704078001000000000,  // same leading digits as the row before
      std::numeric_limits<int64_t>::max(),
  };
  const size_t n = times.size();
  ResultColumn f = Column(ResultColumn::Kind::kFloat);
  for (size_t r = 0; r < n; r++) {
    // Repeats (the writer remembers a column's last value), nulls, and
    // values outside the short-decimal path.
    const double v[] = {25.96, 25.96, -0.0, 1e21, 1e-7, NAN, 0.1 + 0.2, 25.96, 7};
    f.floats.push_back(v[r]);
    f.valid.push_back(r == 1 || r == 4 ? 0 : 1);
  }
  ResultColumn quoted = Column(ResultColumn::Kind::kConstant, Value(std::string("a \"b\" <c> & \\ é ✓")));
  ResultColumn plain = Column(ResultColumn::Kind::kConstant, Value(std::string("site_0")));
  ResultColumn null_tag = Column(ResultColumn::Kind::kConstant);  // a tag the series lacks
  ResultColumn number = Column(ResultColumn::Kind::kConstant, Value(2.5));
  ResultColumn big = Column(ResultColumn::Kind::kConstant, Value(std::string(5000, 'x')));
  ResultColumn cells = Column(ResultColumn::Kind::kCells);
  const Value cell_values[] = {Value(int64_t{-3}),
                               Value(uint64_t{18446744073709551615u}),
                               Value(true),
                               Value(std::string("line\nbreak, \"comma\"")),
                               Value(),
                               Value(std::string("\xff bad utf-8 \xe2\x80\xa8")),
                               Value(false),
                               Value(std::string(300, 'y')),
                               Value(int64_t{0})};
  for (const Value& v : cell_values) cells.cells.push_back(v);
  Both b = MakeSeries(times, {f, quoted, plain, null_tag, number, big, cells});
  ASSERT_EQ(b.rows.values.size(), n);
  EXPECT_TRUE(b.rows.columnar.empty());
  EXPECT_EQ(b.rows.values[1][1], Value());
  EXPECT_EQ(b.rows.values[0][2], Value(std::string("a \"b\" <c> & \\ é ✓")));
  EXPECT_EQ(b.cols.RowCount(), n);

  // Two series (the second with GROUP BY tags) in two statements.
  Both second = MakeSeries({5, 6}, {plain, number});
  second.rows.tags = second.cols.tags = {{"host", "a\"b"}};
  std::vector<StatementResult> rows(2), cols(2);
  rows[0].series = {b.rows, second.rows};
  cols[0].series = {b.cols, second.cols};
  rows[1].statement_id = cols[1].statement_id = 1;
  rows[1].series = {second.rows};
  cols[1].series = {second.cols};
  ExpectSameText(rows, cols, "hand-built");

  // Times, floats and constants only (the writer's direct path), in rows
  // enough to grow the answer several times.
  Both direct = MakeSeries(times, {f, quoted, plain, null_tag, number});
  std::vector<int64_t> many;
  ResultColumn g = Column(ResultColumn::Kind::kFloat);
  for (int64_t r = 0; r < 3000; r++) {
    many.push_back(1704078000000000000 + r * 999999937);
    g.floats.push_back(r % 7 == 0 ? 0.1 * static_cast<double>(r) : 20.5 + static_cast<double>(r / 10));
    g.valid.push_back(r % 13 == 5 ? 0 : 1);
  }
  Both long_series = MakeSeries(many, {g, plain, g, null_tag});
  std::vector<StatementResult> direct_rows(1), direct_cols(1);
  direct_rows[0].series = {direct.rows, long_series.rows};
  direct_cols[0].series = {direct.cols, long_series.cols};
  ExpectSameText(direct_rows, direct_cols, "floats and constants");
  direct_rows[0].series[1].time_zone = direct_cols[0].series[1].time_zone = "America/New_York";
  ExpectSameText(direct_rows, direct_cols, "floats and constants, tz");

  // A tz() zone prints local times from the columns too.
  rows[0].series[0].time_zone = cols[0].series[0].time_zone = "Europe/Paris";
  ExpectSameText(rows, cols, "tz");
}

class ColumnarExecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Options o;
    o.data_dir = dir_.path();
    o.wal_sync = WalSyncMode::kNone;
    auto db = DB::Open(o);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->CreateDatabase({.name = "t"}).ok());
    // Sparse fields, every type, tags needing escapes, a series without a
    // tag the other has, two series of one measurement.
    ASSERT_TRUE(db_->WriteLineProtocol(
                       "t",
                       "s,id=a,site=x\\ \"q\" v=1.5,i=3i,b=true,txt=\"he said \\\"hi\\\" ✓\" 1000000000\n"
                       "s,id=a,site=x\\ \"q\" v=2.5 2000000000\n"
                       "s,id=a,site=x\\ \"q\" i=4i 3000000000\n"
                       "s,id=a,site=x\\ \"q\" v=-0.125,u=7u 4000000000\n"
                       "s,id=b v=10,i=7i 1500000000\n"
                       "s,id=b v=11 2500000000\n"
                       "s,id=é v=12 3500000000\n",
                       {})
                    .ok());
  }
  void TearDown() override {
    if (db_) (void)db_->Close();
  }
  std::vector<StatementResult> Run(const std::string& q, bool columnar) {
    QueryOptions o;
    o.database = "t";
    o.columnar_rows = columnar;
    return Executor(db_.get()).Execute(q, o);
  }
  m2mdb::testing::TempDir dir_;  // declared first: removed after db_ closes
  std::unique_ptr<DB> db_;
};

TEST_F(ColumnarExecTest, RawSelectsAnswerTheSameAsRows) {
  // Windowed queries carry a time range: without one the windows run from
  // the data (1970) to now, and the embedded executor has no bucket limit.
  for (const char* q : {
           "SELECT * FROM s WHERE id = 'a'",
           "SELECT * FROM s",              // series merged by time
           "SELECT * FROM s GROUP BY id",  // one series per group
           "SELECT * FROM s GROUP BY *",   //
           "SELECT v, i, id, nope FROM s WHERE id = 'a'",
           "SELECT v * 2, i + v, txt FROM s WHERE id = 'a'",
           "SELECT v FROM s WHERE id = 'a' AND v > 2",  // a row filter
           "SELECT * FROM s WHERE id = 'a' ORDER BY time DESC",
           "SELECT * FROM s WHERE id = 'a' LIMIT 2 OFFSET 1",
           "SELECT * FROM s GROUP BY id SLIMIT 1 SOFFSET 1",
           "SELECT * FROM s WHERE id = 'a' tz('America/New_York')",
           "SELECT time AS t, v FROM s WHERE id = 'a'",
           "SELECT v FROM (SELECT v, i FROM s WHERE id = 'a')",  // a subquery's rows are read back
           "SELECT * FROM s WHERE id = 'zz'",                    // no rows
           "SELECT mean(v) FROM s GROUP BY id",                  // aggregates: windows in columns
           "SELECT mean(v), max(i), count(txt) FROM s WHERE time >= 0 AND time < 6s GROUP BY time(1s), id "
           "fill(none)",
           "SELECT mean(v) FROM s WHERE time >= 0 AND time < 6s GROUP BY time(1s)",  // null windows
           "SELECT mean(v) FROM s WHERE time >= 0 AND time < 6s GROUP BY time(1s) fill(previous)",
           "SELECT count(v) FROM s WHERE time >= 0 AND time < 6s GROUP BY time(1s) fill(0)",
           // Extra columns of a selector (filled as rows), then strings, unsigned and expressions.
           "SELECT max(v), id FROM s WHERE time >= 0 AND time < 6s GROUP BY time(1s) fill(3)",
           "SELECT mean(v) * 2, last(txt), max(u) FROM s WHERE time >= 0 AND time < 6s GROUP BY time(2s)",
           "SELECT count(v) FROM s WHERE time >= 0 AND time < 6s GROUP BY time(1s) fill(0) ORDER BY time "
           "DESC "
           "LIMIT 2",
           "SELECT top(v, 2) FROM s",
           // A transform.
           "SELECT derivative(mean(v), 1s) FROM s WHERE time >= 0 AND time < 6s GROUP BY time(1s)",
           "SELECT max(v) FROM s WHERE time >= 0 AND time < 6s GROUP BY time(1s) tz('America/New_York')",
           "SELECT v FROM s WHERE id = 'a'; SELECT * FROM s WHERE id = 'b'",
       }) {
    ExpectSameText(Run(q, false), Run(q, true), q);
  }
}

TEST_F(ColumnarExecTest, OnlyAskedForAndOnlyTheDirectRawAnswerIsColumnar) {
  const std::string q = "SELECT * FROM s WHERE id = 'a'";
  std::vector<StatementResult> rows = Run(q, false);
  std::vector<StatementResult> cols = Run(q, true);
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_EQ(rows[0].series.size(), 1u);
  ASSERT_EQ(cols[0].series.size(), 1u);
  // Embedders that do not ask get rows, as ever.
  EXPECT_EQ(rows[0].series[0].values.size(), 4u);
  EXPECT_TRUE(rows[0].series[0].columnar.empty());
  // Asked: the same rows in columns, `values` empty.
  ResultSeries& s = cols[0].series[0];
  EXPECT_TRUE(s.values.empty());
  ASSERT_EQ(s.columnar.size(), 4u);
  EXPECT_EQ(s.RowCount(), 4u);
  ASSERT_EQ(s.columnar.columns.size(), s.columns.size() - 1);
  // A tag is one value for every row; a float field a plain array.
  auto kind_of = [&](const std::string& name) {
    for (size_t c = 1; c < s.columns.size(); c++) {
      if (s.columns[c] == name) return s.columnar.columns[c - 1].kind;
    }
    ADD_FAILURE() << name;
    return ResultColumn::Kind::kCells;
  };
  EXPECT_EQ(kind_of("id"), ResultColumn::Kind::kConstant);
  EXPECT_EQ(kind_of("v"), ResultColumn::Kind::kFloat);
  EXPECT_EQ(kind_of("i"), ResultColumn::Kind::kCells);
  s.MaterializeRows();
  EXPECT_TRUE(s.columnar.empty());
  EXPECT_EQ(s.values, rows[0].series[0].values);

  // A windowed aggregate's rows come as columns too.
  std::vector<StatementResult> agg =
      Run("SELECT mean(v), last(txt) FROM s WHERE time >= 0 AND time < 6s GROUP BY time(1s), id", true);
  ASSERT_FALSE(agg[0].series.empty());
  EXPECT_TRUE(agg[0].series[0].values.empty());
  ASSERT_EQ(agg[0].series[0].columnar.columns.size(), 2u);
  EXPECT_EQ(agg[0].series[0].columnar.columns[0].kind, ResultColumn::Kind::kFloat);
  EXPECT_EQ(agg[0].series[0].columnar.columns[1].kind, ResultColumn::Kind::kCells);

  // Reordered or cut rows, and rows of several series, come as rows.
  for (const char* other : {"SELECT * FROM s", "SELECT * FROM s WHERE id = 'a' ORDER BY time DESC",
                            "SELECT * FROM s WHERE id = 'a' LIMIT 1"}) {
    std::vector<StatementResult> r = Run(other, true);
    ASSERT_FALSE(r[0].series.empty()) << other;
    EXPECT_FALSE(r[0].series[0].values.empty()) << other;
    EXPECT_TRUE(r[0].series[0].columnar.empty()) << other;
  }
}

// Chunked answers (ExecuteStreaming) always carry rows: the server's
// chunked writer reads `values`.
TEST_F(ColumnarExecTest, StreamingIgnoresTheOption) {
  QueryOptions o;
  o.database = "t";
  o.columnar_rows = true;
  ParseOptions po;
  po.validate = false;
  auto parsed = ParseQuery("SELECT * FROM s WHERE id = 'a'; SELECT v FROM s WHERE id = 'b'", po);
  ASSERT_TRUE(parsed.ok());
  size_t rows = 0;
  Executor(db_.get()).ExecuteStreaming(*parsed, o, [&](StatementResult&& r, bool) {
    for (const ResultSeries& s : r.series) {
      EXPECT_TRUE(s.columnar.empty());
      rows += s.values.size();
    }
    return true;
  });
  EXPECT_EQ(rows, 6u);
}

}  // namespace
}  // namespace m2mdb::query
