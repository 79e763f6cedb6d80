// Queries that would cost more than their limits allow (issue 16): GROUP BY
// time windows counted before they are allocated, LIMIT pushed into the
// scan, the deadline (and cancel hook) polled inside long loops, time
// arithmetic at both ends of the int64 range, and FROM db..m in SHOW and
// DELETE statements.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <gtest/gtest.h>
#include <sys/resource.h>

#include "absl/strings/str_cat.h"

#include "m2mdb/db.h"
#include "m2mdb/query/executor.h"
#include "query/parser/parser.h"

namespace m2mdb::query {
namespace {

class LimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("m2mdb_limits_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    Options o;
    o.data_dir = dir_.string();
    o.wal_sync = WalSyncMode::kNone;
    auto db = DB::Open(o);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->CreateDatabase({.name = "t"}).ok());
  }
  // Reopens the data directory with small segment blocks: many block
  // boundaries for a scan limit to stop at.
  void ReopenWithBlocks(uint32_t block_points) {
    ASSERT_TRUE(db_->Close().ok());
    db_.reset();
    Options o;
    o.data_dir = dir_.string();
    o.wal_sync = WalSyncMode::kNone;
    o.max_block_points = block_points;
    auto db = DB::Open(o);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }
  void TearDown() override {
    if (db_) (void)db_->Close();
    std::filesystem::remove_all(dir_);
  }
  void Write(std::string_view lp, std::string db = "t") {
    auto w = db_->WriteLineProtocol(db, lp, {});
    ASSERT_TRUE(w.ok()) << w.status();
    ASSERT_TRUE(w->errors.empty()) << w->errors[0].reason;
  }
  std::string Q(std::string_view q, uint64_t max_points = 0, std::function<bool()> cancelled = nullptr) {
    QueryOptions o;
    o.database = "t";
    o.max_points = max_points;
    o.now = 1000000000000000000;  // 2001-09-09
    o.cancelled = std::move(cancelled);
    Executor e(db_.get());
    return ToInfluxJson(e.Execute(q, o), {.epoch = "ns"});
  }
  static std::vector<Statement> ParseOrDie(std::string_view q) {
    ParseOptions po;
    po.validate = false;
    auto st = ParseQuery(q, po);
    EXPECT_TRUE(st.ok()) << st.status();
    return st.ok() ? std::move(*st) : std::vector<Statement>{};
  }
  std::filesystem::path dir_;
  std::unique_ptr<DB> db_;
};

// 1 ms windows over 20 s under fill(none) allocated per-window state for
// every window whatever the point limit (2 days: 1 GB); now the windows are
// counted first, with influxd's max-select-buckets wording.
TEST_F(LimitsTest, FillNoneWindowsAreCountedAgainstTheLimitBeforeAllocation) {
  Write("cpu,host=a v=1 1000000000\ncpu,host=b v=2 2000000000\n");
  const std::string q =
      "SELECT count(v) FROM cpu WHERE time >= 0 AND time < 20s GROUP BY time(1ms) fill(none)";
  EXPECT_EQ(
      Q(q, 1000),
      R"x({"results":[{"statement_id":0,"error":"max-select-buckets limit exceeded: (20000/1000)"}]})x");
  // The same without a lower bound: counted from the first point's time.
  EXPECT_NE(Q("SELECT count(v) FROM cpu WHERE time < 20s GROUP BY time(1ms) fill(none)", 1000)
                .find("max-select-buckets limit exceeded: (19000/1000)"),
            std::string::npos);
  // Windows times groups: 20 windows x 2 hosts.
  EXPECT_NE(
      Q("SELECT count(v) FROM cpu WHERE time >= 0 AND time < 20s GROUP BY time(1s), host fill(none)", 30)
          .find("query memory limit exceeded: 20 windows x 2 groups"),
      std::string::npos);
  // Within the limits the answer is unchanged.
  EXPECT_EQ(Q(q, 100000), Q(q));
  EXPECT_NE(Q(q, 100000).find(R"("values":[[1000000000,1],[2000000000,1]])"), std::string::npos)
      << Q(q, 100000);
  // The same counted during the scan, where each group's windows are
  // allocated (partial aggregation: sum over a time range given).
  std::string many;
  for (int h = 0; h < 50; h++) absl::StrAppend(&many, "cpu,host=h", h, " v=1 1000000000\n");
  Write(many);
  EXPECT_NE(Q("SELECT sum(v) FROM cpu WHERE time >= 0 AND time < 20s GROUP BY time(1s), host", 500)
                .find("query memory limit exceeded: 20 windows x 26 groups"),
            std::string::npos);
}

// LIMIT/OFFSET of raw queries stop the scan: with a point limit far below
// the data, LIMIT 10 answers (it failed with "query memory limit exceeded"
// since every point was decoded), and every form gives the rows the query
// without a limit gives.
TEST_F(LimitsTest, LimitIsPushedIntoTheScan) {
  ReopenWithBlocks(256);
  std::string lp;
  for (int i = 0; i < 20000; i++) {
    absl::StrAppend(&lp, "big,host=", (i % 2 == 0 ? "a" : "b"), " v=", i, ",w=", i * 2, "i ",
                    int64_t{1000000000} + int64_t{i} * 1000000, "\n");
  }
  Write(lp);
  ASSERT_TRUE(db_->Flush().ok());
  // Overwrites and later points in the head, over the flushed blocks.
  Write("big,host=a v=-1 1000000000\nbig,host=b v=-2 1000000001\nbig,host=a v=-3,w=0i 999999999\n");
  const std::string first = Q("SELECT v FROM big LIMIT 10", 1000);
  EXPECT_EQ(first.find("error"), std::string::npos) << first;
  EXPECT_NE(first.find(R"([[999999999,-3],[1000000000,-1],[1000000001,-2],[1001000000,1])"),
            std::string::npos)
      << first;
  for (const std::string q : {"SELECT v FROM big", "SELECT * FROM big", "SELECT v, w FROM big GROUP BY host",
                              "SELECT v FROM big ORDER BY time DESC", "SELECT w FROM big WHERE host = 'b'",
                              "SELECT * FROM big GROUP BY * ORDER BY time DESC"}) {
    const std::string all = Q(q + " LIMIT 100000");
    for (const std::string lim :
         {" LIMIT 7", " LIMIT 5 OFFSET 3", " LIMIT 1 OFFSET 19999", " LIMIT 3 SLIMIT 1"}) {
      // Reference: the engine read whole, limited after (a row filter that
      // is always true keeps the limit out of the scan).
      std::string ref_q = q;
      const size_t at = ref_q.find(" GROUP BY");
      const size_t order = ref_q.find(" ORDER BY");
      const size_t cut = std::min(at, order);
      const std::string tail = cut == std::string::npos ? "" : ref_q.substr(cut);
      if (cut != std::string::npos) ref_q = ref_q.substr(0, cut);
      ref_q += ref_q.find("WHERE") == std::string::npos ? " WHERE v > -1000000" : " AND v > -1000000";
      const std::string ref = Q(ref_q + tail + lim);
      EXPECT_EQ(Q(q + lim, lim.find("19999") == std::string::npos ? 2000 : 0), ref) << q << lim;
    }
    EXPECT_NE(all.find("values"), std::string::npos);
  }
}

// ScanRequest::limit_points against the whole scan cut after: over segment
// blocks of several flushes, head points overwriting them, and a tombstone
// (a segment with deleted points is read whole).
TEST_F(LimitsTest, ScanLimitGivesTheFirstOrLastPointsOfEveryColumn) {
  ReopenWithBlocks(64);
  std::mt19937_64 rng(16);
  for (int round = 0; round < 3; round++) {
    std::string lp;
    for (int i = 0; i < 3000; i++) {
      absl::StrAppend(&lp, "s,k=", rng() % 3, " v=", rng() % 1000, (rng() % 4 == 0 ? "" : ",w=1i"), " ",
                      int64_t{1000000000} + static_cast<int64_t>(rng() % 20000) * 1000000, "\n");
    }
    Write(lp);
    ASSERT_TRUE(db_->Flush().ok());
    if (round == 1) {
      DeleteRequest del;
      del.database = "t";
      del.measurement = "s";
      del.min_time = 5000000000;
      del.max_time = 6000000000;
      ASSERT_TRUE(db_->Delete(del).ok());
    }
  }
  Write("s,k=1 v=-1 1000000000\ns,k=2 v=-2 20999000000\n");
  auto scan = [&](size_t limit, bool from_end, int64_t lo, int64_t hi) {
    std::vector<std::pair<std::vector<int64_t>, std::vector<double>>> out;
    ScanRequest req;
    req.database = "t";
    req.measurement = "s";
    req.fields = {"v", "w"};
    req.min_time = lo;
    req.max_time = hi;
    req.limit_points = limit;
    req.limit_from_end = from_end;
    EXPECT_TRUE(db_->Scan(req,
                          [&](const SeriesData& sd) {
                            for (const Column& c : sd.columns) {
                              out.emplace_back(c.times, c.floats);
                            }
                            return absl::OkStatus();
                          })
                    .ok());
    return out;
  };
  for (int64_t lo : {int64_t{0}, int64_t{4500000000}}) {
    const int64_t hi = lo + 12000000000;
    const auto all = scan(0, false, lo, hi);
    for (size_t limit : {size_t{1}, size_t{5}, size_t{700}, size_t{5000}}) {
      for (bool from_end : {false, true}) {
        auto want = all;
        for (auto& [t, v] : want) {
          const size_t n = std::min(limit, t.size());
          const size_t a = from_end ? t.size() - n : 0;
          t = std::vector<int64_t>(t.begin() + a, t.begin() + a + n);
          if (!v.empty()) v = std::vector<double>(v.begin() + a, v.begin() + a + n);
        }
        EXPECT_EQ(scan(limit, from_end, lo, hi), want) << limit << " " << from_end << " " << lo;
      }
    }
  }
}

// ScanRequest::max_points: a long series fails from its blocks' statistics,
// before it is decoded (it was decoded whole, then counted), and a scan
// within the limit is unchanged.
TEST_F(LimitsTest, ScanPointLimitFailsBeforeDecodingALongSeries) {
  ReopenWithBlocks(256);
  std::string lp;
  for (int i = 0; i < 20000; i++) absl::StrAppend(&lp, "long v=", i, " ", int64_t{1000000000} + i, "\n");
  Write(lp);
  ASSERT_TRUE(db_->Flush().ok());
  ScanRequest req;
  req.database = "t";
  req.measurement = "long";
  req.fields = {"v"};
  int calls = 0;
  auto fn = [&](const SeriesData&) {
    calls++;
    return absl::OkStatus();
  };
  req.max_points = 5000;
  Status st = db_->Scan(req, fn);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
  EXPECT_EQ(calls, 0);
  req.max_points = 20000;
  EXPECT_TRUE(db_->Scan(req, fn).ok());
  EXPECT_EQ(calls, 1);
  EXPECT_NE(Q("SELECT v FROM long", 5000).find("query memory limit exceeded"), std::string::npos);
  EXPECT_NE(Q("SELECT v FROM long", 20000).find("values"), std::string::npos);
}

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
// An allocation that fails (std::bad_alloc) fails its statement, not the
// process: eight such queries in parallel used to end the server. The
// address space is capped 256 MB above what the process maps, and 1 ms
// windows over two days without a point limit need ~700 MB at once.
TEST_F(LimitsTest, AllocationFailureFailsTheStatementOnly) {
  Write("cpu v=1 1000000000\n");
  std::ifstream status("/proc/self/status");
  std::string line;
  uint64_t vm_kb = 0;
  while (std::getline(status, line)) {
    if (line.rfind("VmSize:", 0) == 0) vm_kb = std::stoull(line.substr(7));
  }
  ASSERT_GT(vm_kb, 0u);
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_AS, &old), 0);
  rlimit capped = old;
  capped.rlim_cur = (vm_kb << 10) + (uint64_t{256} << 20);
  ASSERT_EQ(setrlimit(RLIMIT_AS, &capped), 0);
  const std::string r = Q(
      "SELECT count(v) FROM cpu WHERE time >= 0 AND time < 2d GROUP BY time(1ms) fill(none); SHOW DATABASES");
  ASSERT_EQ(setrlimit(RLIMIT_AS, &old), 0);
  EXPECT_NE(r.find(R"("error":"query memory limit exceeded: out of memory")"), std::string::npos)
      << r.substr(0, 300);
  EXPECT_NE(Q("SELECT count(v) FROM cpu").find(",1]]"), std::string::npos);
}
#endif

// A SELECT * over one wide series polls the deadline (and the cancel hook)
// inside the series, not only between series: 120 k fields ran 151 s past a
// 60 s timeout. The hook here answers "cancel" from its 20th call on.
TEST_F(LimitsTest, WideSelectStarPollsTheDeadlineInsideTheSeries) {
  std::string lp = "wide ";
  for (int f = 0; f < 3000; f++) absl::StrAppend(&lp, f == 0 ? "" : ",", "f", f, "=", f);
  lp += " 1000000000\n";
  Write(lp);
  int calls = 0;
  auto cancel_late = [&calls] { return ++calls >= 20; };
  EXPECT_NE(Q("SELECT * FROM wide", 0, cancel_late).find(R"("error":"query cancelled")"), std::string::npos);
  EXPECT_GE(calls, 20);
  calls = 0;
  const std::string full = Q("SELECT * FROM wide", 0, [&calls] {
    ++calls;
    return false;
  });
  EXPECT_NE(full.find(R"("f2999")"), std::string::npos);
  EXPECT_GE(calls, 40) << "polled per series only";
}

// Time arithmetic at both ends of the accepted range: no wrap-around of
// `time > max`, of `now() + d`, of the window holding the largest time, nor
// of the first window at the smallest.
TEST_F(LimitsTest, TimeBoundsAndWindowsSaturateAtTheEndsOfTheRange) {
  Write(
      "ext v=1 9223372036854775806\next v=2 9223372036854775805\next v=3 -9223372036854775806\n"
      "ext v=4 0\next v=5 9223372036854775000\n");
  auto has = [&](const std::string& q, const std::string& needle) {
    const std::string r = Q(q);
    EXPECT_NE(r.find(needle), std::string::npos) << q << "\n" << r;
  };
  EXPECT_EQ(Q("SELECT * FROM ext WHERE time > 9223372036854775806"), R"({"results":[{"statement_id":0}]})");
  EXPECT_EQ(Q("SELECT * FROM ext WHERE time < -9223372036854775806"), R"({"results":[{"statement_id":0}]})");
  has("SELECT * FROM ext WHERE time >= 9223372036854775806", R"([[9223372036854775806,1]])");
  // now() + 200000 days is past int64: saturated, not wrapped to the past.
  has("SELECT count(v) FROM ext WHERE time <= now() + 100000d + 100000d", R"(,5]])");
  has("SELECT count(v) FROM ext WHERE time >= now() - 100000d - 100000d AND time <= 0", R"(,2]])");
  // The window holding the largest time ends past int64.
  has("SELECT count(v) FROM ext WHERE time >= 9223372036000000000 AND time < 9223372036854775806 GROUP BY "
      "time(1h)",
      R"("values":[[9223369200000000000,2]])");
  has("SELECT count(v) FROM ext WHERE time >= 9223372036000000000 AND time < 9223372036854775806 "
      "GROUP BY time(1h) fill(none) LIMIT 1",
      R"("values":[[9223369200000000000,2]])");
  has("SELECT sum(v) FROM ext WHERE time >= 9223372036000000000 AND time < 9223372036854775806 GROUP BY "
      "time(1h) fill(none)",
      R"("values":[[9223369200000000000,7]])");
  has("SELECT integral(v) FROM ext WHERE time >= 9223372036000000000 AND time < 9223372036854775806 GROUP "
      "BY time(1h)",
      R"([[9223369200000000000,0.0000028175]]}]}]})");
  // Transforms over times 2^64 apart.
  Write("ext2 v=1 -9223372036854775806\next2 v=3 9223372036854775806\n");
  has("SELECT elapsed(v, 1ns) FROM ext2", R"([[9223372036854775806,9223372036854775807]])");
  has("SELECT derivative(v) FROM ext2", R"([[9223372036854775806,1.0842021724855043e-10]])");
  // The first window would start before the smallest time: a clear error.
  has("SELECT count(v) FROM ext WHERE time >= -9223372036854775806 AND time < 0 GROUP BY time(1h)",
      "the first window would start before the earliest time");
  // ... but an aligned lower bound works.
  has("SELECT count(v) FROM ext WHERE time >= -9223200000000000000 AND time <= 0 GROUP BY time(1000h) "
      "fill(none)",
      R"([0,1]])");
}

// SHOW ... FROM db..m answers for db, not for the db= database; unknown
// databases and retention policies are errors, as in influxd 1.6.
TEST_F(LimitsTest, ShowFromAnotherDatabaseAnswersForThatDatabase) {
  ASSERT_TRUE(db_->CreateDatabase({.name = "b"}).ok());
  Write("m,t=x fa=1 1\n");
  Write("m,t=y fb=2i 2\n", "b");
  EXPECT_EQ(Q("SHOW FIELD KEYS FROM b..m"),
            R"({"results":[{"statement_id":0,"series":[{"name":"m","columns":["fieldKey","fieldType"],)"
            R"("values":[["fb","integer"]]}]}]})");
  EXPECT_NE(Q("SHOW FIELD KEYS FROM b.autogen.m").find(R"([["fb","integer"]])"), std::string::npos);
  EXPECT_NE(Q("SHOW FIELD KEYS FROM b..m, t..m").find(R"([["fa","float"],["fb","integer"]])"),
            std::string::npos);
  EXPECT_NE(Q("SHOW FIELD KEYS FROM m").find(R"([["fa","float"]])"), std::string::npos);
  EXPECT_NE(Q("SHOW SERIES FROM b..m").find(R"([["m,t=y"]])"), std::string::npos);
  EXPECT_NE(Q("SHOW TAG VALUES FROM b..m WITH KEY = t").find(R"([["t","y"]])"), std::string::npos);
  EXPECT_NE(Q("SHOW FIELD KEYS FROM c..m").find(R"("error":"database not found: c")"), std::string::npos);
  EXPECT_NE(Q("SHOW FIELD KEYS FROM b.nope.m").find(R"("error":"retention policy not found: nope")"),
            std::string::npos);
  // DELETE and DROP SERIES take no database in FROM (a parse error, as in influxd).
  EXPECT_NE(Q("DELETE FROM b..m").find("database not supported"), std::string::npos);
  EXPECT_NE(Q("SELECT * FROM b..m").find(R"([[2,2,"y"]])"), std::string::npos);
}

// ExecuteStreaming pages a raw SELECT of one measurement through time with
// at most max_points points held at once: the pieces put together are the
// whole answer, for every direction, condition and LIMIT/OFFSET, while the
// whole answer at once needs more than the limit.
TEST_F(LimitsTest, StreamedRawAnswersEqualWholeAnswersWithinThePointLimit) {
  std::string lp;
  for (int i = 0; i < 6000; i++) {
    const char* host = i % 3 == 0 ? "a" : i % 3 == 1 ? "b" : "c";
    absl::StrAppend(&lp, "big,host=", host, " v=", i % 97, i % 5 == 0 ? "" : absl::StrCat(",w=", i, "i"), " ",
                    int64_t{1000000000} + int64_t{i / 2} * 1000000, "\n");
  }
  Write(lp);
  ASSERT_TRUE(db_->Flush().ok());
  Write("big,host=a v=-1 1000000000\nbig,host=d v=5,s=\"x\" 1500000000\nbig,host=b w=1i 999000000\n");
  Executor e(db_.get());
  QueryOptions whole;
  whole.database = "t";
  whole.now = 1000000000000000000;
  QueryOptions paged = whole;
  paged.max_points = 1500;
  EXPECT_NE(ToInfluxJson(e.Execute("SELECT * FROM big", paged), {}).find("query memory limit exceeded"),
            std::string::npos);
  for (const std::string q :
       {"SELECT * FROM big", "SELECT v FROM big ORDER BY time DESC", "SELECT v, w FROM big WHERE v > 10",
        "SELECT * FROM big LIMIT 7 OFFSET 3", "SELECT * FROM big ORDER BY time DESC LIMIT 1000 OFFSET 5",
        "SELECT w, host FROM big WHERE host = 'b' OR w > 5000", "SELECT v FROM big WHERE time > 1002000000",
        "SELECT * FROM nope", "SHOW MEASUREMENTS; SELECT v * 2 FROM big LIMIT 5000"}) {
    std::vector<StatementResult> got;
    int pieces = 0;
    e.ExecuteStreaming(ParseOrDie(q), paged, [&](StatementResult&& r, bool more) {
      if (more) {
        pieces++;
        if (got.empty() || got.back().statement_id != r.statement_id || got.back().series.empty()) {
          got.push_back(std::move(r));
        } else {
          auto& dst = got.back().series[0].values;
          for (auto& row : r.series[0].values) dst.push_back(std::move(row));
        }
        return true;
      }
      if (!got.empty() && got.back().statement_id == r.statement_id) {
        got.back().error = r.error;
      } else {
        got.push_back(std::move(r));
      }
      return true;
    });
    EXPECT_EQ(ToInfluxJson(got, {.epoch = "ns"}), ToInfluxJson(e.Execute(q, whole), {.epoch = "ns"})) << q;
    if (q == "SELECT * FROM big") {
      EXPECT_GE(pieces, 4) << q;
    }
  }
  // Stopping from the callback stops the statement.
  int calls = 0;
  e.ExecuteStreaming(ParseOrDie("SELECT * FROM big; SHOW MEASUREMENTS"), paged, [&](StatementResult&&, bool) {
    calls++;
    return false;
  });
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace m2mdb::query
