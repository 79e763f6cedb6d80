// Continuous queries over a temporary engine: statements, SELECT INTO,
// invalidation by writes, late writes, overwrites, deletes and drops, marks
// surviving a reopen without flush (a crash, for the listener), and a model
// test comparing every closed rollup window with the aggregate over raw data.
#include "m2mdb/query/continuous.h"

#include <atomic>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include "m2mdb/db.h"
#include "m2mdb/log.h"
#include "m2mdb/query/executor.h"
#include "tests/support/test_util.h"

namespace m2mdb::query {
namespace {

constexpr int64_t kSec = 1000000000;

class CqTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void TearDown() override { Close(/*flush=*/true); }

  void Open() {
    ContinuousQueryOptions co;
    co.background = false;
    co.clock = [this] {
      if (tick_budget_ > 0) {
        tick_budget_--;
        now_ += tick_;
      }
      return now_.load();
    };
    co.max_windows_per_refresh = max_windows_;
    cqs_ = std::make_unique<ContinuousQueries>(co);
    Options o;
    o.data_dir = dir_.path();
    o.wal_sync = WalSyncMode::kNone;
    o.background_work = false;
    o.flush_on_close = false;  // Close(true) flushes by hand
    o.change_listener = cqs_.get();
    auto db = DB::Open(o);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_OK(cqs_->Attach(db_.get()));
    exec_ = std::make_unique<Executor>(db_.get(), cqs_.get());
  }
  // flush = false: the WAL is not checkpointed, and the listener's memory
  // is gone, as after kill -9.
  void Close(bool flush) {
    if (!db_) return;
    cqs_->Stop();
    exec_.reset();
    if (flush) EXPECT_OK(db_->Flush());
    (void)db_->Close();
    db_.reset();
    cqs_.reset();
  }
  void Crash() {
    // Closed without a flush, the WAL past the checkpoint is replayed at the
    // next open, as after kill -9; the listener is a new object.
    Close(false);
    Open();
  }

  std::string Q(std::string_view q, std::string database = "db") {
    QueryOptions o;
    o.database = database;
    o.now = now_.load();
    return ToInfluxJson(exec_->Execute(q, o), {.epoch = "s"});
  }
  void Write(std::string_view lp, std::string database = "db") {
    auto r = db_->WriteLineProtocol(database, lp, {.precision = "s"});
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->errors.empty()) << r->errors[0].reason;
  }
  void Refresh() {
    auto r = cqs_->RefreshNow();
    ASSERT_TRUE(r.ok()) << r.status();
  }

  testing::TempDir dir_;
  std::atomic<int64_t> now_{1000 * kSec};
  // A clock that moves on by tick_ at each of its next tick_budget_ readings.
  std::atomic<int64_t> tick_{0};
  std::atomic<int> tick_budget_{0};
  int64_t max_windows_ = 1000;
  std::unique_ptr<ContinuousQueries> cqs_;
  std::unique_ptr<DB> db_;
  std::unique_ptr<Executor> exec_;
};

TEST_F(CqTest, StatementsAsInfluxd) {
  EXPECT_EQ(Q("CREATE DATABASE db"), R"({"results":[{"statement_id":0}]})");
  const std::string create =
      "CREATE CONTINUOUS QUERY cq1 ON db BEGIN SELECT mean(value) INTO cpu_mean FROM cpu GROUP BY time(1h) "
      "END";
  EXPECT_EQ(Q(create), R"({"results":[{"statement_id":0}]})");
  EXPECT_EQ(Q(create), R"({"results":[{"statement_id":0}]})");  // the same again: a no-op
  EXPECT_EQ(Q("CREATE CONTINUOUS QUERY cq1 ON db BEGIN SELECT max(value) INTO cpu_mean FROM cpu GROUP BY "
              "time(1h) END"),
            R"({"results":[{"statement_id":0,"error":"continuous query already exists"}]})");
  EXPECT_EQ(
      Q("CREATE CONTINUOUS QUERY cq2 ON nodb BEGIN SELECT mean(value) INTO m FROM cpu GROUP BY time(1h) END"),
      R"({"results":[{"statement_id":0,"error":"database not found: nodb"}]})");
  EXPECT_EQ(
      Q("CREATE CONTINUOUS QUERY cq2 ON db BEGIN SELECT mean(value) INTO other.autogen.m FROM cpu GROUP BY "
        "time(1h) END"),
      R"({"results":[{"statement_id":0,"error":"database not found: other"}]})");
  EXPECT_EQ(Q("CREATE CONTINUOUS QUERY cq2 ON db BEGIN SELECT mean(value) INTO db.m FROM cpu GROUP BY "
              "time(1h) END"),
            R"({"results":[{"statement_id":0,"error":"retention policy not found: db.db"}]})");
  EXPECT_EQ(
      Q("CREATE CONTINUOUS QUERY cq2 ON db BEGIN SELECT mean(value) INTO cpu FROM cpu GROUP BY time(1h) END"),
      R"j({"results":[{"statement_id":0,"error":"a continuous query cannot write INTO a measurement it reads (its rollup would invalidate itself)"}]})j");
  // Names that can never be written are refused at CREATE, not at every refresh.
  const std::string line_break =
      R"j({"results":[{"statement_id":0,"error":"a continuous query cannot write a measurement or field name with a line break"}]})j";
  EXPECT_EQ(Q("CREATE CONTINUOUS QUERY cq3 ON db BEGIN SELECT mean(value) INTO \"a\\nb\" FROM cpu GROUP BY "
              "time(1h) END"),
            line_break);
  EXPECT_EQ(
      Q("CREATE CONTINUOUS QUERY cq3 ON db BEGIN SELECT mean(value) AS \"m\\nx\" INTO r FROM cpu GROUP BY "
        "time(1h) END"),
      line_break);
  EXPECT_EQ(Q("SHOW CONTINUOUS QUERIES").find("cq3"), std::string::npos);
}

TEST_F(CqTest, TimeZonesAreRefused) {
  // Windows are marked and refreshed in UTC: with tz('Europe/Berlin') a late
  // point refreshed the UTC day, which cut the local day after it in two and
  // overwrote its rollup (count 24) with the count of its first hour (1).
  Q("CREATE DATABASE db");
  EXPECT_EQ(
      Q("CREATE CONTINUOUS QUERY c ON db BEGIN SELECT count(v) INTO r FROM m GROUP BY time(1d) "
        "tz('Europe/Berlin') END"),
      R"j({"results":[{"statement_id":0,"error":"continuous queries do not support tz() other than tz('UTC')"}]})j");
  EXPECT_EQ(Q("CREATE CONTINUOUS QUERY u ON db BEGIN SELECT count(v) INTO r FROM m GROUP BY time(1d) "
              "tz('UTC') END"),
            R"({"results":[{"statement_id":0}]})");
  // A definition stored before (now skipped at load) can still be dropped.
  std::string key = "cq/def/";
  for (std::string_view part : {std::string_view("db"), std::string_view("old")}) {
    const uint32_t n = static_cast<uint32_t>(part.size());
    key.append(reinterpret_cast<const char*>(&n), 4);
    key.append(part);
  }
  ASSERT_OK(db_->PutAppMeta(key,
                            "99\nCREATE CONTINUOUS QUERY old ON db BEGIN SELECT count(v) INTO db.autogen.r2 "
                            "FROM db.autogen.m GROUP BY time(1d) tz('Europe/Berlin') END"));
  Crash();
  EXPECT_EQ(Q("SHOW CONTINUOUS QUERIES").find("old"), std::string::npos);
  EXPECT_EQ(Q("DROP CONTINUOUS QUERY old ON db"), R"({"results":[{"statement_id":0}]})");
  auto defs = db_->ListAppMeta("cq/def/");
  ASSERT_TRUE(defs.ok());
  EXPECT_EQ(defs->size(), 1u);  // u
}

TEST_F(CqTest, ShowIsNormalised) {
  Q("CREATE DATABASE db");
  Q("CREATE DATABASE empty");
  Q("CREATE DATABASE other");
  Q("CREATE CONTINUOUS QUERY cq1 ON db BEGIN SELECT mean(value) INTO cpu_mean FROM cpu GROUP BY time(1h) "
    "END");
  Q("CREATE CONTINUOUS QUERY cq2 ON db RESAMPLE EVERY 10m FOR 2h BEGIN SELECT mean(value) INTO "
    "other.autogen.:MEASUREMENT FROM /c.*/ WHERE host = 'a' GROUP BY time(1h, 5m), * fill(0) END");
  EXPECT_EQ(
      Q("SHOW CONTINUOUS QUERIES"),
      R"({"results":[{"statement_id":0,"series":[{"name":"db","columns":["name","query"],"values":[["cq1","CREATE CONTINUOUS QUERY cq1 ON db BEGIN SELECT mean(value) INTO db.autogen.cpu_mean FROM db.autogen.cpu GROUP BY time(1h) END"],["cq2","CREATE CONTINUOUS QUERY cq2 ON db RESAMPLE EVERY 10m FOR 2h BEGIN SELECT mean(value) INTO other.autogen.:MEASUREMENT FROM db.autogen./c.*/ WHERE host = 'a' GROUP BY time(1h, 5m), * fill(0) END"]]},{"name":"empty","columns":["name","query"]},{"name":"other","columns":["name","query"]}]}]})");
  // Definitions survive a restart.
  Close(true);
  Open();
  EXPECT_NE(Q("SHOW CONTINUOUS QUERIES").find("\"cq2\""), std::string::npos);
  EXPECT_EQ(Q("DROP CONTINUOUS QUERY cq2 ON db"), R"({"results":[{"statement_id":0}]})");
  EXPECT_EQ(Q("DROP CONTINUOUS QUERY nope ON db"), R"({"results":[{"statement_id":0}]})");
  EXPECT_EQ(Q("DROP CONTINUOUS QUERY cq1 ON nodb"), R"({"results":[{"statement_id":0}]})");
  EXPECT_EQ(Q("SHOW CONTINUOUS QUERIES").find("\"cq2\""), std::string::npos);
  Close(true);
  Open();
  EXPECT_EQ(Q("SHOW CONTINUOUS QUERIES").find("\"cq2\""), std::string::npos);
  EXPECT_NE(Q("SHOW CONTINUOUS QUERIES").find("\"cq1\""), std::string::npos);
  // DROP DATABASE drops its continuous queries.
  Q("DROP DATABASE db");
  EXPECT_EQ(
      Q("SHOW CONTINUOUS QUERIES"),
      R"({"results":[{"statement_id":0,"series":[{"name":"empty","columns":["name","query"]},{"name":"other","columns":["name","query"]}]}]})");
}

TEST_F(CqTest, SelectInto) {
  Q("CREATE DATABASE db");
  Write("cpu,host=a value=1 0\ncpu,host=b value=3 0\ncpu,host=a value=2 3600\n");
  EXPECT_EQ(
      Q("SELECT mean(value) INTO cpu_m FROM cpu WHERE time < 7200s GROUP BY time(1h), host"),
      R"({"results":[{"statement_id":0,"series":[{"name":"result","columns":["time","written"],"values":[[0,3]]}]}]})");
  EXPECT_EQ(
      Q("SELECT * FROM cpu_m"),
      R"({"results":[{"statement_id":0,"series":[{"name":"cpu_m","columns":["time","host","mean"],"values":[[0,"a",1],[0,"b",3],[3600,"a",2]]}]}]})");
  EXPECT_EQ(
      Q("SELECT value INTO raw FROM cpu"),
      R"({"results":[{"statement_id":0,"series":[{"name":"result","columns":["time","written"],"values":[[0,3]]}]}]})");
  EXPECT_EQ(
      Q("SELECT mean(value) INTO x FROM nothere WHERE time < 3600s GROUP BY time(1h)"),
      R"({"results":[{"statement_id":0,"series":[{"name":"result","columns":["time","written"],"values":[[0,0]]}]}]})");
  EXPECT_EQ(Q("SELECT mean(value) INTO nodb.autogen.x FROM cpu WHERE time < 3600s GROUP BY time(1h)"),
            R"({"results":[{"statement_id":0,"error":"database not found: nodb"}]})");
}

// The rollup of `cq_select` (a CQ's SELECT without INTO) over raw data, and
// the rollup measurement, as comparable rows: only windows before `cutoff`.
std::map<std::string, std::string> Rows(Executor& exec, const std::string& q, int64_t now) {
  QueryOptions o;
  o.database = "db";
  o.now = now;
  auto res = exec.Execute(q, o);
  std::map<std::string, std::string> out;
  for (const auto& r : res) {
    EXPECT_TRUE(r.error.empty()) << q << ": " << r.error;
    for (const auto& s : r.series) {
      std::string tags;
      for (const auto& [k, v] : s.tags)
        if (!v.empty()) absl::StrAppend(&tags, k, "=", v, ",");
      for (const auto& row : s.values) {
        std::string key = absl::StrCat(tags, "@", std::get<int64_t>(row[0]));
        std::map<std::string, std::string> fields;  // by name: SELECT * sorts them
        for (size_t c = 1; c < row.size(); c++) {
          if (row[c].index() == 1) {
            fields[s.columns[c]] = absl::StrFormat("%.9g", std::get<double>(row[c]));
          } else if (row[c].index() == 2) {
            fields[s.columns[c]] = absl::StrCat(std::get<int64_t>(row[c]));
          }
        }
        std::string vals;
        for (const auto& [f, v] : fields) absl::StrAppend(&vals, f, "=", v, " ");
        if (!fields.empty()) out[key] = vals;
      }
    }
  }
  return out;
}

TEST_F(CqTest, LateWritesOverwritesDeletesAndDrops) {
  Q("CREATE DATABASE db");
  ASSERT_EQ(
      Q("CREATE CONTINUOUS QUERY c ON db BEGIN SELECT count(v), sum(v), max(v) INTO roll FROM m GROUP BY "
        "time(10s), host END"),
      R"({"results":[{"statement_id":0}]})");
  now_ = 25 * kSec;  // windows [0,10) and [10,20) are closed, [20,30) is open
  Write("m,host=a v=1 1\nm,host=a v=2 12\nm,host=b v=5 3\nm,host=a v=7 21\n");
  Refresh();
  EXPECT_EQ(
      Q("SELECT count, sum, max FROM roll GROUP BY host"),
      R"({"results":[{"statement_id":0,"series":[{"name":"roll","tags":{"host":"a"},"columns":["time","count","sum","max"],"values":[[0,1,1,1],[10,1,2,2]]},{"name":"roll","tags":{"host":"b"},"columns":["time","count","sum","max"],"values":[[0,1,5,5]]}]}]})");
  // The open window is computed once it closes.
  now_ = 31 * kSec;
  Refresh();
  EXPECT_NE(Q("SELECT count FROM roll WHERE host = 'a'").find("[20,1]"), std::string::npos);
  // A late point and an overwrite: only host a's windows are recomputed.
  const uint64_t before = cqs_->Stats().windows_refreshed;
  Write("m,host=a v=10 2\nm,host=a v=20 12\n");
  EXPECT_EQ(cqs_->Stats().pending_windows, 2u);
  Refresh();
  EXPECT_EQ(cqs_->Stats().windows_refreshed - before, 2u);
  EXPECT_EQ(
      Q("SELECT count, sum, max FROM roll WHERE host = 'a'"),
      R"({"results":[{"statement_id":0,"series":[{"name":"roll","columns":["time","count","sum","max"],"values":[[0,2,11,10],[10,1,20,20],[20,1,7,7]]}]}]})");
  // A delete empties a window: its rollup point goes.
  ASSERT_EQ(Q("DELETE FROM m WHERE host = 'a' AND time >= 10s AND time < 20s"),
            R"({"results":[{"statement_id":0}]})");
  Refresh();
  EXPECT_EQ(
      Q("SELECT count FROM roll WHERE host = 'a'"),
      R"({"results":[{"statement_id":0,"series":[{"name":"roll","columns":["time","count"],"values":[[0,2],[20,1]]}]}]})");
  // A dropped series takes its group's rollup with it.
  ASSERT_EQ(Q("DROP SERIES FROM m WHERE host = 'b'"), R"({"results":[{"statement_id":0}]})");
  Refresh();
  EXPECT_EQ(Q("SELECT count FROM roll WHERE host = 'b'"), R"({"results":[{"statement_id":0}]})");
  EXPECT_EQ(
      Q("SELECT count FROM roll WHERE host = 'a'"),
      R"({"results":[{"statement_id":0,"series":[{"name":"roll","columns":["time","count"],"values":[[0,2],[20,1]]}]}]})");
  // DROP MEASUREMENT: everything goes.
  ASSERT_EQ(Q("DROP MEASUREMENT m"), R"({"results":[{"statement_id":0}]})");
  Refresh();
  EXPECT_EQ(Q("SELECT count FROM roll"), R"({"results":[{"statement_id":0}]})");
  EXPECT_EQ(cqs_->Stats().refresh_errors, 0u);
}

// The usual rollup shape: the same measurement name in a longer policy of
// the same database. The rollup's own writes go to the other policy, so they
// must not mark the query's windows dirty (it would refresh for ever), and a
// late raw point still reaches the rollup. A policy named at CREATE must
// exist; FROM without one is the default at CREATE time.
TEST_F(CqTest, RollupIntoAnotherRetentionPolicy) {
  Q("CREATE DATABASE db");
  EXPECT_EQ(Q("CREATE CONTINUOUS QUERY c ON db BEGIN SELECT mean(v) AS v INTO db.year.m FROM m GROUP BY "
              "time(10s) END"),
            R"({"results":[{"statement_id":0,"error":"retention policy not found: db.year"}]})");
  ASSERT_EQ(Q("CREATE RETENTION POLICY year ON db DURATION INF REPLICATION 1"),
            R"({"results":[{"statement_id":0}]})");
  ASSERT_EQ(Q("CREATE CONTINUOUS QUERY c ON db BEGIN SELECT mean(v) AS v INTO db.year.m FROM m GROUP BY "
              "time(10s) END"),
            R"({"results":[{"statement_id":0}]})");
  EXPECT_NE(Q("SHOW CONTINUOUS QUERIES").find("INTO db.year.m FROM db.autogen.m"), std::string::npos);
  now_ = 25 * kSec;
  Write("m v=1 1\nm v=3 2\nm v=10 12\n");
  Refresh();
  EXPECT_EQ(
      Q("SELECT v FROM db.year.m"),
      R"({"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","v"],"values":[[0,2],[10,10]]}]}]})");
  // The refresh wrote into db.year.m: nothing is dirty again.
  EXPECT_EQ(cqs_->Stats().pending_windows, 0u);
  const uint64_t before = cqs_->Stats().windows_refreshed;
  Refresh();
  EXPECT_EQ(cqs_->Stats().windows_refreshed, before);
  // A write to the rollup policy itself (e.g. a backfill) dirties nothing.
  Write("m v=100 3\n", "db");
  EXPECT_EQ(cqs_->Stats().pending_windows, 1u);  // autogen: the raw policy
  auto r = db_->WriteLineProtocol("db", "m v=500 4\n", {.precision = "s", .retention_policy = "year"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(cqs_->Stats().pending_windows, 1u);
  Refresh();
  EXPECT_EQ(
      Q("SELECT v FROM db.year.m WHERE time < 10s"),
      R"({"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","v"],"values":[[0,34.666666666666664]]}]}]})");
  EXPECT_EQ(cqs_->Stats().refresh_errors, 0u);
}

TEST_F(CqTest, RefreshFailuresAreLoggedOncePerInterval) {
  // A dropped target fails the refresh of every group at every retry: with
  // GROUP BY * over many series that was one warning per series every few
  // seconds, for ever.
  Q("CREATE DATABASE db");
  Q("CREATE DATABASE tgt");
  ASSERT_EQ(Q("CREATE CONTINUOUS QUERY c ON db BEGIN SELECT count(v) INTO tgt.autogen.r FROM m GROUP BY "
              "time(10s), * END"),
            R"({"results":[{"statement_id":0}]})");
  Q("DROP DATABASE tgt");
  std::string lp;
  for (int i = 0; i < 50; i++) absl::StrAppend(&lp, "m,h=", i, " v=1 1\n");
  Write(lp);
  std::vector<std::string> warnings;
  SetLogSink([&](LogLevel level, std::string_view line) {
    if (level == LogLevel::kWarning && line.find("refresh failed") != std::string_view::npos) {
      warnings.emplace_back(line);
    }
  });
  now_ = 100 * kSec;
  Refresh();
  EXPECT_EQ(cqs_->Stats().refresh_errors, 50u);
  EXPECT_EQ(warnings.size(), 1u);
  now_ = 200 * kSec;  // past every retry delay and the log interval
  Refresh();
  SetLogSink(nullptr);
  EXPECT_EQ(cqs_->Stats().refresh_errors, 100u);
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[1].find("(49 more failures not logged)"), std::string::npos) << warnings[1];
}

TEST_F(CqTest, DroppingAnotherPolicyKeepsRollupsWithoutRawData) {
  // Rollups whose raw points are gone (expired with a short raw policy, or
  // imported history) were deleted when any policy of the database was
  // dropped: the drop dirtied every window of every continuous query, and a
  // recomputed window without raw points loses its rollup.
  Q("CREATE DATABASE db");
  Q("CREATE RETENTION POLICY forever ON db DURATION INF REPLICATION 1");
  Q("CREATE RETENTION POLICY tmp ON db DURATION 1h REPLICATION 1");
  ASSERT_EQ(Q("CREATE CONTINUOUS QUERY c ON db BEGIN SELECT mean(v) AS v INTO db.forever.r FROM m GROUP BY "
              "time(10s) END"),
            R"({"results":[{"statement_id":0}]})");
  auto w = db_->WriteLineProtocol("db", "r v=5 100\n", {.precision = "s", .retention_policy = "forever"});
  ASSERT_TRUE(w.ok()) << w.status();
  now_ = 1000 * kSec;
  Write("m v=1 500\n");
  Refresh();
  const std::string both =
      R"({"results":[{"statement_id":0,"series":[{"name":"r","columns":["time","v"],"values":[[100,5],[500,1]]}]}]})";
  ASSERT_EQ(Q("SELECT v FROM db.forever.r"), both);
  ASSERT_EQ(Q("DROP RETENTION POLICY tmp ON db"), R"({"results":[{"statement_id":0}]})");
  Refresh();
  EXPECT_EQ(Q("SELECT v FROM db.forever.r"), both);
  EXPECT_EQ(cqs_->Stats().pending_windows, 0u);
}

TEST_F(CqTest, TinyIntervalsDoNotSpinOnRangesIntoTheFuture) {
  Q("CREATE DATABASE db");
  ASSERT_EQ(Q("CREATE CONTINUOUS QUERY c ON db BEGIN SELECT count(v) INTO r FROM m GROUP BY time(1ns) END"),
            R"({"results":[{"statement_id":0}]})");
  ASSERT_EQ(
      Q("CREATE CONTINUOUS QUERY slow ON db BEGIN SELECT count(v) INTO r2 FROM m GROUP BY time(10s) END"),
      R"({"results":[{"statement_id":0}]})");
  now_ = 1000 * kSec;
  Write("m v=1 100\nm v=1 5000\n");  // one write: its dirty range runs past now
  tick_ = 1000;                      // ns per clock reading, as a real clock moves on
  tick_budget_ = 200000;
  auto chunks = cqs_->RefreshNow();
  tick_budget_ = 0;
  ASSERT_TRUE(chunks.ok()) << chunks.status();
  EXPECT_LT(*chunks, 20u);
  EXPECT_EQ(
      Q("SELECT * FROM r"),
      R"({"results":[{"statement_id":0,"series":[{"name":"r","columns":["time","count"],"values":[[100,1]]}]}]})");
  EXPECT_EQ(
      Q("SELECT * FROM r2"),
      R"({"results":[{"statement_id":0,"series":[{"name":"r2","columns":["time","count"],"values":[[100,1]]}]}]})");
}

TEST_F(CqTest, DeletesWithoutUpperBoundDoNotStayDirtyForEver) {
  // A delete without an upper time bound marked every group it touched
  // dirty up to the end of time: refreshed one sliver per poll for ever
  // (3000 series: a fifth of a CPU), with pending_windows stuck in the
  // trillions.
  Q("CREATE DATABASE db");
  ASSERT_EQ(
      Q("CREATE CONTINUOUS QUERY c ON db BEGIN SELECT count(v) INTO r FROM m GROUP BY time(10s), * END"),
      R"({"results":[{"statement_id":0}]})");
  now_ = 1000 * kSec;
  Write("m,h=a v=1 100\nm,h=a v=1 200\nm,h=b v=1 100\nm,h=b v=1 5000\n");
  Refresh();
  EXPECT_EQ(Q("DELETE FROM m WHERE h = 'a' AND time > 150s"), R"({"results":[{"statement_id":0}]})");
  Refresh();
  EXPECT_EQ(cqs_->Stats().pending_windows, 1u);  // b's window at 5000 s, not closed yet
  EXPECT_EQ(
      Q("SELECT count FROM r GROUP BY h"),
      R"({"results":[{"statement_id":0,"series":[{"name":"r","tags":{"h":"a"},"columns":["time","count"],"values":[[100,1]]},{"name":"r","tags":{"h":"b"},"columns":["time","count"],"values":[[100,1]]}]}]})");
  // The future point still has its window marked, and is rolled up once
  // it closes.
  now_ = 6000 * kSec;
  Refresh();
  EXPECT_EQ(cqs_->Stats().pending_windows, 0u);
  EXPECT_EQ(
      Q("SELECT count FROM r WHERE h = 'b'"),
      R"({"results":[{"statement_id":0,"series":[{"name":"r","columns":["time","count"],"values":[[100,1],[5000,1]]}]}]})");
}

TEST_F(CqTest, CleanGroupsAreDroppedNowAndThen) {
  // A group per series a CQ ever saw, kept for ever: with short-lived
  // series (dropped) memory grew without bound, ~1 KB per series.
  Q("CREATE DATABASE db");
  ASSERT_EQ(
      Q("CREATE CONTINUOUS QUERY c ON db BEGIN SELECT count(v) INTO r FROM m GROUP BY time(10s), * END"),
      R"({"results":[{"statement_id":0}]})");
  now_ = 1000 * kSec;
  std::string lp;
  for (int i = 0; i < 100; i++) absl::StrAppend(&lp, "m,id=", i, " v=1 100\n");
  Write(lp);
  Refresh();
  EXPECT_EQ(cqs_->Stats().groups, 100u);
  Q("DROP MEASUREMENT m");
  now_ += 11 * 60 * kSec;
  Refresh();
  EXPECT_EQ(cqs_->Stats().groups, 0u);
  EXPECT_EQ(cqs_->Stats().pending_windows, 0u);
  // Writes after the prune find their (new) groups again.
  Write("m,id=7 v=1 5000\nm,id=7 v=1 5001\n");
  EXPECT_EQ(cqs_->Stats().groups, 1u);
  now_ = 6000 * kSec;
  Refresh();
  EXPECT_EQ(
      Q("SELECT count FROM r WHERE id = '7'"),
      R"({"results":[{"statement_id":0,"series":[{"name":"r","columns":["time","count"],"values":[[5000,2]]}]}]})");
}

TEST_F(CqTest, MarksSurviveACrash) {
  Q("CREATE DATABASE db");
  Q("CREATE CONTINUOUS QUERY c ON db BEGIN SELECT sum(v) INTO roll FROM m GROUP BY time(10s), * END");
  now_ = 100 * kSec;
  Write("m,host=a v=1 1\nm,host=b v=2 15\n");
  Crash();  // unflushed: the marks come back from the WAL
  Refresh();
  EXPECT_EQ(
      Q("SELECT sum FROM roll GROUP BY host"),
      R"({"results":[{"statement_id":0,"series":[{"name":"roll","tags":{"host":"a"},"columns":["time","sum"],"values":[[0,1]]},{"name":"roll","tags":{"host":"b"},"columns":["time","sum"],"values":[[10,2]]}]}]})");
  // Flushed (the WAL checkpoint moves past the write): the marks were stored
  // by the listener's checkpoint.
  Write("m,host=a v=5 3\n");
  ASSERT_OK(db_->Flush());
  Crash();
  Refresh();
  EXPECT_NE(Q("SELECT sum FROM roll WHERE host = 'a'").find("[0,6]"), std::string::npos);
  // A delete's marks are stored before it applies.
  ASSERT_EQ(Q("DELETE FROM m WHERE host = 'b'"), R"({"results":[{"statement_id":0}]})");
  Crash();
  Refresh();
  EXPECT_EQ(Q("SELECT sum FROM roll WHERE host = 'b'"), R"({"results":[{"statement_id":0}]})");
}

TEST_F(CqTest, ExtremeTimesAndWideDeletes) {
  Q("CREATE DATABASE db");
  Q("CREATE CONTINUOUS QUERY c ON db BEGIN SELECT count(v) INTO roll FROM m GROUP BY time(1h, -5m), \"hé "
    "\\\"x\" END");
  now_ = kMaxTime;
  Write("m,hé\\ \"x=ü v=1 -9223372036\nm v=2 9223372035\n");
  auto r = db_->WriteLineProtocol("db", "m v=3 -9223372036854775806\nm v=4 9223372036854775806\n", {});
  ASSERT_TRUE(r.ok()) << r.status();
  Refresh();
  EXPECT_EQ(cqs_->Stats().refresh_errors, 0u);
  // The window holding kMaxTime never closes.
  EXPECT_LE(cqs_->Stats().pending_windows, 1u);
  // A delete of all time over a wide range shrinks to where the data is.
  ASSERT_EQ(Q("DELETE FROM m"), R"({"results":[{"statement_id":0}]})");
  Refresh();
  EXPECT_LE(cqs_->Stats().pending_windows, 1u);
  EXPECT_EQ(Q("SELECT count FROM roll"), R"({"results":[{"statement_id":0}]})");
}

// Random writes, late writes, overwrites, deletes, drops and crashes over
// many series; after each refresh, every closed window of the rollup must
// equal the aggregate over the raw data.
TEST_F(CqTest, Model) {
  max_windows_ = 3;  // small chunks: a refresh takes several passes
  Close(true);
  Open();
  Q("CREATE DATABASE db");
  const std::string aggs = "count(v), sum(v), mean(v), min(v), max(v), first(v), last(v), percentile(v, 90)";
  ASSERT_EQ(Q(absl::StrCat("CREATE CONTINUOUS QUERY star ON db BEGIN SELECT ", aggs,
                           " INTO roll_star FROM m GROUP BY time(10s), * END")),
            R"({"results":[{"statement_id":0}]})");
  ASSERT_EQ(
      Q("CREATE CONTINUOUS QUERY byregion ON db BEGIN SELECT sum(v), count(v) INTO roll_region FROM m GROUP "
        "BY time(7s, 2s), region END"),
      R"({"results":[{"statement_id":0}]})");
  // M2MDB_CQ_SEED=n runs another sequence (a longer soak: a loop over seeds).
  const char* seed = std::getenv("M2MDB_CQ_SEED");
  std::mt19937 rng(seed != nullptr ? static_cast<unsigned>(std::atoi(seed)) : 42u);
  auto rnd = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  int64_t t_now = 0;
  for (int step = 0; step < 120; step++) {
    t_now += rnd(4);
    now_ = t_now * kSec;
    const int op = rnd(20);
    if (op < 12) {
      std::string lp;
      for (int k = 0; k < 1 + rnd(6); k++) {
        const int host = rnd(6);
        const int64_t t = std::max<int64_t>(0, t_now - (rnd(4) == 0 ? rnd(80) : rnd(3)));  // some late
        absl::StrAppend(&lp, "m,host=h", host, host % 2 == 0 ? ",region=r" + std::to_string(host % 4) : "",
                        " v=", rnd(100), " ", t, "\n");
      }
      Write(lp);
    } else if (op < 14) {
      const int64_t a = rnd(static_cast<int>(t_now + 1));
      ASSERT_EQ(Q(absl::StrCat("DELETE FROM m WHERE host = 'h", rnd(6), "' AND time >= ", a, "s AND time < ",
                               a + rnd(30), "s")),
                R"({"results":[{"statement_id":0}]})");
    } else if (op == 14) {
      Q(absl::StrCat("DROP SERIES FROM m WHERE host = 'h", rnd(6), "'"));
    } else if (op < 17) {
      Crash();
    } else if (op == 17) {
      ASSERT_OK(db_->Flush());
    } else {
      Refresh();
      const std::string cutoff = absl::StrCat(" WHERE time < ", (t_now / 10) * 10, "s");
      const std::string cutoff7 = absl::StrCat(" WHERE time < ", ((t_now - 2) / 7) * 7 + 2, "s");
      EXPECT_EQ(
          Rows(*exec_, absl::StrCat("SELECT * FROM roll_star", cutoff, " GROUP BY *"), now_),
          Rows(*exec_, absl::StrCat("SELECT ", aggs, " FROM m", cutoff, " GROUP BY time(10s), * fill(none)"),
               now_))
          << "step " << step;
      EXPECT_EQ(Rows(*exec_, absl::StrCat("SELECT * FROM roll_region", cutoff7, " GROUP BY *"), now_),
                Rows(*exec_,
                     absl::StrCat("SELECT sum(v), count(v) FROM m", cutoff7,
                                  " GROUP BY time(7s, 2s), region fill(none)"),
                     now_))
          << "step " << step;
    }
  }
  EXPECT_EQ(cqs_->Stats().refresh_errors, 0u);
}

}  // namespace
}  // namespace m2mdb::query
