// A selector with extra fields and tags (SELECT max(v), host FROM m): the
// extra references are read at the point the selector picked, as influxd 1.x
// does; from memory and from segments (where block statistics must not stand
// in for the points).
#include <algorithm>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "m2mdb/db.h"
#include "m2mdb/query/executor.h"
#include "query/exec/exec.h"

namespace m2mdb::query {
namespace {

class SelectorAuxTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    // Parameterised test names hold a '/'.
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name.begin(), name.end(), '/', '_');
    dir_ = std::filesystem::temp_directory_path() /
           ("m2mdb_selector_aux_test_" + std::to_string(::getpid()) + "_" + name);
    std::filesystem::remove_all(dir_);
    Options o;
    o.data_dir = dir_.string();
    o.wal_sync = WalSyncMode::kNone;
    o.background_work = false;
    auto db = DB::Open(o);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->CreateDatabase({.name = "t"}).ok());
    auto w = db_->WriteLineProtocol("t",
                                    "cpu,host=a,region=us v=1.5,i=3i,s=\"x\" 1000000000\n"
                                    "cpu,host=a,region=us v=2.5,i=5i 2000000000\n"
                                    "cpu,host=b,region=eu v=10,i=7i 1500000000\n"
                                    "cpu,host=b v=-3 4000000000\n",
                                    {});
    ASSERT_TRUE(w.ok());
    // Segments: block statistics exist for max(v) and must not be used.
    if (GetParam()) {
      ASSERT_TRUE(db_->Flush().ok());
    }
  }
  void TearDown() override {
    if (db_) (void)db_->Close();
    std::filesystem::remove_all(dir_);
  }
  std::string Q(std::string_view q) {
    QueryOptions o;
    o.database = "t";
    Executor e(db_.get());
    return ToInfluxJson(e.Execute(q, o), {});
  }
  std::filesystem::path dir_;
  std::unique_ptr<DB> db_;
};

constexpr char kWin[] = " WHERE time >= 0 AND time < 8s GROUP BY time(2s)";

TEST_P(SelectorAuxTest, ExtraFieldsComeFromTheSelectedPoint) {
  // Row time is the selected point's; a field the point lacks is null.
  EXPECT_EQ(
      Q("SELECT max(v), host, region, i, s, nosuch FROM cpu"),
      R"({"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","max","host","region",)"
      R"("i","s","nosuch"],"values":[["1970-01-01T00:00:01.5Z",10,"b","eu",7,null,null]]}]}]})");
  EXPECT_EQ(Q("SELECT min(v) * 2 AS m, i + 1 AS j FROM cpu"),
            R"({"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","m","j"],)"
            R"("values":[["1970-01-01T00:00:04Z",-6,null]]}]}]})");
  EXPECT_EQ(Q("SELECT i, first(v), s FROM cpu GROUP BY host"),
            R"({"results":[{"statement_id":0,"series":[{"name":"cpu","tags":{"host":"a"},"columns":)"
            R"(["time","i","first","s"],"values":[["1970-01-01T00:00:01Z",3,1.5,"x"]]},{"name":"cpu",)"
            R"("tags":{"host":"b"},"columns":["time","i","first","s"],"values":[["1970-01-01T00:00:01.5Z",)"
            R"(7,10,null]]}]}]})");
  // A tag the selected point's series lacks is null.
  EXPECT_EQ(Q("SELECT last(v), region FROM cpu"),
            R"({"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","last","region"],)"
            R"("values":[["1970-01-01T00:00:04Z",-3,null]]}]}]})");
  // `*` leaves out the GROUP BY tags.
  EXPECT_EQ(
      Q("SELECT percentile(v, 50), * FROM cpu GROUP BY host"),
      R"({"results":[{"statement_id":0,"series":[{"name":"cpu","tags":{"host":"a"},"columns":)"
      R"(["time","percentile","i","region","s","v"],"values":[["1970-01-01T00:00:01Z",1.5,3,"us","x",)"
      R"(1.5]]},{"name":"cpu","tags":{"host":"b"},"columns":["time","percentile","i","region","s","v"],)"
      R"("values":[["1970-01-01T00:00:04Z",-3,null,null,null,-3]]}]}]})");
}

TEST_P(SelectorAuxTest, WindowsAndFill) {
  // With GROUP BY time the row time is the window's; empty windows follow
  // fill for the extra columns too.
  const std::string head = R"({"results":[{"statement_id":0,"series":[{"name":"cpu","columns":)"
                           R"(["time","max","host"],"values":[["1970-01-01T00:00:00Z",10,"b"],)"
                           R"(["1970-01-01T00:00:02Z",2.5,"a"],["1970-01-01T00:00:04Z",-3,"b"])";
  EXPECT_EQ(Q(std::string("SELECT max(v), host FROM cpu") + kWin),
            head + R"(,["1970-01-01T00:00:06Z",null,null]]}]}]})");
  EXPECT_EQ(Q(std::string("SELECT max(v), host FROM cpu") + kWin + " fill(none)"), head + "]}]}]}");
  EXPECT_EQ(Q(std::string("SELECT max(v), host FROM cpu") + kWin + " fill(0)"),
            head + R"(,["1970-01-01T00:00:06Z",0,0]]}]}]})");
  EXPECT_EQ(Q(std::string("SELECT max(v), host FROM cpu") + kWin + " fill(previous)"),
            head + R"(,["1970-01-01T00:00:06Z",-3,"b"]]}]}]})");
  EXPECT_EQ(Q(std::string("SELECT max(v), host FROM cpu") + kWin + " fill(none) ORDER BY time DESC LIMIT 1"),
            R"({"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","max","host"],)"
            R"("values":[["1970-01-01T00:00:04Z",-3,"b"]]}]}]})");
}

TEST_P(SelectorAuxTest, ErrorsAsInfluxd) {
  auto err = [](std::string_view m) {
    return std::string(R"({"results":[{"statement_id":0,"error":")") + std::string(m) + R"("}]})";
  };
  EXPECT_EQ(Q("SELECT max(v), min(v), host FROM cpu"),
            err("mixing multiple selector functions with tags or fields is not supported"));
  EXPECT_EQ(Q("SELECT max(v), mean(i), host FROM cpu"),
            err("mixing aggregate and non-aggregate queries is not supported"));
  EXPECT_EQ(Q("SELECT count(v), host FROM cpu"),
            err("mixing aggregate and non-aggregate queries is not supported"));
}

INSTANTIATE_TEST_SUITE_P(MemoryAndSegments, SelectorAuxTest, ::testing::Bool());

}  // namespace
}  // namespace m2mdb::query
