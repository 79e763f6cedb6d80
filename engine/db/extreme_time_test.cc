// Timestamps at and near both ends of the accepted range
// (-9223372036854775806 ... 9223372036854775806) through the whole engine:
// write, flush, compaction, reads, deletes, DROP DATABASE and replay
// (issue 16, item 1: a point at the maximum time made every later flush fail
// with "empty column", so nothing left the WAL and DROP DATABASE failed).
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "engine/util/logging.h"
#include "m2mdb/db.h"
#include "tests/support/test_util.h"

namespace m2mdb {
namespace {

using testing::TempDir;

class ExtremeTimeTest : public ::testing::TestWithParam<int64_t> {
 protected:
  void SetUp() override {
    options_.data_dir = dir_.path() + "/data";
    options_.background_work = false;
    options_.max_block_points = 4;  // several blocks per (series, field)
    Reopen();
    ASSERT_OK(db_->CreateDatabase({"db", 0, GetParam()}));
  }
  void Reopen() {
    db_.reset();
    auto db = DB::Open(options_);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }
  void Write(const std::string& body) {
    auto r = db_->WriteLineProtocol("db", body, {});
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->errors.empty()) << r->errors[0].reason;
  }
  // time -> value of series m,host=h field v over [lo, hi].
  std::map<int64_t, int64_t> Read(const std::string& host, int64_t lo = kMinTime, int64_t hi = kMaxTime) {
    std::map<int64_t, int64_t> out;
    ScanRequest req;
    req.database = "db";
    req.measurement = "m";
    req.min_time = lo;
    req.max_time = hi;
    req.matchers = {{"host", TagOp::kEqual, host}};
    Status s = db_->Scan(req, [&](const SeriesData& sd) {
      for (const Column& c : sd.columns) {
        for (size_t i = 0; i < c.size(); i++) {
          EXPECT_TRUE(out.emplace(c.times[i], c.ints[i]).second) << "duplicate time " << c.times[i];
        }
      }
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }
  static std::map<int64_t, int64_t> Clip(const std::map<int64_t, int64_t>& m, int64_t lo, int64_t hi) {
    std::map<int64_t, int64_t> out;
    for (const auto& [t, v] : m)
      if (t >= lo && t <= hi) out.emplace(t, v);
    return out;
  }

  TempDir dir_;
  Options options_;
  std::unique_ptr<DB> db_;
};

// Times at both ends, near them, around zero and at partition-like
// boundaries, plus random ones.
std::vector<int64_t> InterestingTimes(std::mt19937_64* rng) {
  std::vector<int64_t> ts = {kMinTime,
                             kMinTime + 1,
                             kMinTime + 2,
                             kMinTime + 999,
                             kMaxTime,
                             kMaxTime - 1,
                             kMaxTime - 2,
                             kMaxTime - 1000,
                             -1,
                             0,
                             1,
                             86400000000000,
                             -86400000000000,
                             1700000000000000000,
                             -1700000000000000000};
  for (int i = 0; i < 4; i++) {
    int64_t t = static_cast<int64_t>((*rng)());
    if (t < kMinTime || t > kMaxTime) t = 0;
    ts.push_back(t);
  }
  for (int i = 0; i < 3; i++) {
    ts.push_back(kMaxTime - static_cast<int64_t>((*rng)() % 100000000000000));
    ts.push_back(kMinTime + static_cast<int64_t>((*rng)() % 100000000000000));
  }
  return ts;
}

TEST_P(ExtremeTimeTest, PointAtTheMaximumTimeFlushesAndReadsBack) {
  Write(absl::StrCat("m,host=a v=1i ", kMaxTime, "\n"));
  ASSERT_OK(db_->Flush());
  Write("m,host=a v=2i 5\n");
  ASSERT_OK(db_->Flush());  // failed with "empty column" before the fix
  std::map<int64_t, int64_t> want{{5, 2}, {kMaxTime, 1}};
  EXPECT_EQ(want, Read("a"));
  EXPECT_EQ((std::map<int64_t, int64_t>{{kMaxTime, 1}}), Read("a", kMaxTime, kMaxTime));
  EXPECT_EQ(0u, db_->Stats().head_points);
}

TEST_P(ExtremeTimeTest, PointAtTheMinimumTimeFlushesAndReadsBack) {
  Write(absl::StrCat("m,host=a v=1i ", kMinTime, "\nm,host=a v=2i ", kMinTime + 1, "\n"));
  ASSERT_OK(db_->Flush());
  std::map<int64_t, int64_t> want{{kMinTime, 1}, {kMinTime + 1, 2}};
  EXPECT_EQ(want, Read("a"));
  EXPECT_EQ((std::map<int64_t, int64_t>{{kMinTime, 1}}), Read("a", kMinTime, kMinTime));
  Reopen();
  EXPECT_EQ(want, Read("a"));
}

// Property-style: several rounds of random extreme and normal points, each
// round flushed (or not) and compacted (or not), checked against a map after
// every step, with deletes over random ranges; then DROP DATABASE leaves
// nothing behind, not even after a reopen replays the WAL.
TEST_P(ExtremeTimeTest, ExtremesSurviveFlushCompactionDeleteAndDrop) {
  std::mt19937_64 rng(static_cast<uint64_t>(GetParam()) * 7919 + 17);
  std::map<std::string, std::map<int64_t, int64_t>> model;
  int64_t next_value = 1;
  for (int round = 0; round < 4; round++) {
    std::string body;
    for (const char* host : {"a", "b"}) {
      for (int64_t t : InterestingTimes(&rng)) {
        int64_t v = next_value++;
        absl::StrAppend(&body, "m,host=", host, " v=", v, "i ", t, "\n");
        model[host][t] = v;
      }
    }
    Write(body);
    switch (round % 3) {
      case 0:
        ASSERT_OK(db_->Flush());
        break;
      case 1:
        ASSERT_OK(db_->Compact());
        break;
      default:
        break;  // stays in the head
    }
    for (const char* host : {"a", "b"}) ASSERT_EQ(model[host], Read(host)) << "round " << round;
    // Reads of sub-ranges touching the ends.
    for (auto [lo, hi] : {std::pair<int64_t, int64_t>{kMinTime, kMinTime + 1000},
                          {kMaxTime - 1000, kMaxTime},
                          {-1, 1},
                          {kMinTime, -1}}) {
      ASSERT_EQ(Clip(model["a"], lo, hi), Read("a", lo, hi)) << lo << " " << hi;
    }
    // Delete a range at one end (alternating) in host b.
    DeleteRequest del;
    del.database = "db";
    del.measurement = "m";
    del.matchers = {{"host", TagOp::kEqual, "b"}};
    if (round % 2 == 0) {
      del.min_time = kMaxTime - static_cast<int64_t>(rng() % 1000000000000000);
      del.max_time = kMaxTime;
    } else {
      del.min_time = kMinTime;
      del.max_time = kMinTime + static_cast<int64_t>(rng() % 1000000000000000);
    }
    ASSERT_OK(db_->Delete(del));
    auto& b = model["b"];
    for (auto it = b.begin(); it != b.end();) {
      it = (it->first >= del.min_time && it->first <= del.max_time) ? b.erase(it) : std::next(it);
    }
    ASSERT_EQ(model["b"], Read("b")) << "round " << round;
  }
  ASSERT_OK(db_->Compact());
  for (const char* host : {"a", "b"}) ASSERT_EQ(model[host], Read(host));
  Reopen();
  for (const char* host : {"a", "b"}) ASSERT_EQ(model[host], Read(host));

  // A delete of everything, then the whole range again.
  DeleteRequest all;
  all.database = "db";
  ASSERT_OK(db_->Delete(all));
  EXPECT_TRUE(Read("a").empty());
  Write(absl::StrCat("m,host=a v=1i ", kMaxTime, "\nm,host=a v=2i ", kMinTime, "\n"));

  // DROP DATABASE works, and after CREATE the database is empty, also after
  // a restart (no WAL record of the old database comes back).
  ASSERT_OK(db_->DropDatabase("db"));
  ASSERT_OK(db_->CreateDatabase({"db", 0, GetParam()}));
  EXPECT_TRUE(Read("a").empty());
  Reopen();
  EXPECT_TRUE(Read("a").empty());
  auto ms = db_->Measurements("db");
  ASSERT_TRUE(ms.ok());
  EXPECT_TRUE(ms->empty());
  EXPECT_EQ(0u, db_->Stats().segments);
}

// A 1-day partition (the default), a 1-hour one, a tiny one and one so long
// that both ends share a partition.
INSTANTIATE_TEST_SUITE_P(Partitions, ExtremeTimeTest,
                         ::testing::Values(int64_t{86400} * 1000000000, int64_t{3600} * 1000000000,
                                           int64_t{1000}, int64_t{INT64_MAX}));

// A flush that keeps failing is retried with backoff and its error logged
// once, not every second (the background thread used to log the same error
// once a second forever); once the cause is gone the data flushes.
TEST(FlushFailureTest, RepeatedFlushErrorIsLoggedOnceAndRetriedWithBackoff) {
  TempDir dir;
  Options options;
  options.data_dir = dir.path() + "/data";
  options.background_work = true;
  std::mutex mu;
  int errors = 0;
  std::string first;
  SetLogSink([&](LogLevel level, std::string_view msg) {
    if (level != LogLevel::kError || msg.find("background work") == std::string_view::npos) return;
    std::lock_guard<std::mutex> l(mu);
    if (errors++ == 0) first = std::string(msg);
  });
  {
    auto db = DB::Open(options);
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_OK((*db)->CreateDatabase({"db", 0, 0}));
    ASSERT_TRUE((*db)->WriteLineProtocol("db", "m v=1 1\n", {}).ok());
    // Segment files cannot be created while "segments" is a plain file.
    const std::string seg = options.data_dir + "/segments";
    std::filesystem::rename(seg, seg + ".away");
    std::ofstream(seg) << "x";
    EXPECT_FALSE((*db)->Flush().ok());  // leaves the head frozen, for the background thread
    std::this_thread::sleep_for(std::chrono::milliseconds(3500));
    {
      std::lock_guard<std::mutex> l(mu);
      EXPECT_EQ(1, errors) << first;
    }
    std::filesystem::remove(seg);
    std::filesystem::rename(seg + ".away", seg);
    ASSERT_OK((*db)->Flush());
    EXPECT_EQ(0u, (*db)->Stats().frozen_heads);
    EXPECT_EQ(1u, (*db)->Stats().segments);
  }
  SetLogSink(nullptr);
}

}  // namespace
}  // namespace m2mdb
