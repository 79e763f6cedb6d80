#include <cmath>
#include <cstring>
#include <thread>

#include "engine/util/file.h"
#include "gtest/gtest.h"
#include "m2mdb/db.h"
#include "tests/support/test_util.h"

namespace m2mdb {
namespace {

using testing::TempDir;

class DBTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.data_dir = dir_.path() + "/data";
    options_.background_work = false;
    Reopen();
    ASSERT_OK(db_->CreateDatabase({"db", 0, 0}));
  }
  void Reopen() {
    db_.reset();
    auto db = DB::Open(options_);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }
  WriteResult Write(std::string_view body, std::string precision = "ns") {
    WriteOptions wo;
    wo.precision = precision;
    auto r = db_->WriteLineProtocol("db", body, wo);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : WriteResult{};
  }
  // Returns "key field=t:v,t:v;..." for every series of `m`.
  std::string Dump(const std::string& m, int64_t lo = kMinTime, int64_t hi = kMaxTime,
                   std::vector<TagMatcher> matchers = {}) {
    std::string out;
    ScanRequest req;
    req.database = "db";
    req.measurement = m;
    req.min_time = lo;
    req.max_time = hi;
    req.matchers = std::move(matchers);
    Status s = db_->Scan(req, [&](const SeriesData& sd) {
      out += sd.key;
      for (size_t k = 0; k < sd.columns.size(); k++) {
        if (sd.columns[k].empty()) continue;
        out += " " + sd.field_names[k] + "=";
        for (size_t i = 0; i < sd.columns[k].size(); i++) {
          if (i) out += ",";
          out += std::to_string(sd.columns[k].times[i]) + ":" + sd.columns[k].ValueAt(i).DebugString();
        }
      }
      out += ";";
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  TempDir dir_;
  Options options_;
  std::unique_ptr<DB> db_;
};

TEST_F(DBTest, WrittenPointsReadBackInTimeOrder) {
  auto r = Write("cpu,host=a v=1 30\ncpu,host=a v=2 10\ncpu,host=b v=3 20\n");
  EXPECT_EQ(3u, r.points_written);
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ("cpu,host=a v=10:2,30:1;cpu,host=b v=20:3;", Dump("cpu"));
}

TEST_F(DBTest, EveryFieldTypeRoundTrips) {
  Write("m f=1.5,i=-3i,u=7u,b=true,s=\"hi \\\"there\\\"\" 1\n");
  EXPECT_EQ("m b=1:true f=1:1.5 i=1:-3i s=1:\"hi \"there\"\" u=1:7u;", Dump("m"));
  auto fields = db_->FieldKeys("db", "m");
  ASSERT_TRUE(fields.ok());
  ASSERT_EQ(5u, fields->size());
  EXPECT_EQ("b", (*fields)[0].name);
  EXPECT_EQ(FieldType::kBoolean, (*fields)[0].type);
}

TEST_F(DBTest, BadLinesAreReportedAndGoodLinesWritten) {
  auto r = Write("cpu v=1 1\ncpu v= 2\ncpu v=3 3\ncpu v=\"x\" 4\n");
  EXPECT_EQ(2u, r.points_written);
  ASSERT_EQ(2u, r.errors.size());
  EXPECT_EQ(2, r.errors[0].line);
  EXPECT_EQ(4, r.errors[1].line);
  EXPECT_NE(std::string::npos, r.errors[1].reason.find("field type conflict")) << r.errors[1].reason;
  EXPECT_EQ("cpu v=1:1,3:3;", Dump("cpu"));
}

TEST_F(DBTest, TypeConflictAgainstStoredSchemaIsRejectedAfterReopen) {
  Write("cpu v=1i 1\n");
  Reopen();
  auto r = Write("cpu v=1.5 2\n");
  ASSERT_EQ(1u, r.errors.size());
  EXPECT_EQ(
      "field type conflict: input field \"v\" on measurement \"cpu\" is type float, already exists as type integer",
      r.errors[0].reason);
}

TEST_F(DBTest, MissingDatabaseIsNotFound) {
  auto r = db_->WriteLineProtocol("nope", "cpu v=1 1\n", {});
  EXPECT_EQ(absl::StatusCode::kNotFound, r.status().code());
  WriteOptions wo;
  wo.create_database = true;
  r = db_->WriteLineProtocol("nope", "cpu v=1 1\n", wo);
  EXPECT_TRUE(r.ok());
}

TEST_F(DBTest, PrecisionScalesTimestamps) {
  Write("cpu v=1 2\n", "s");
  Write("cpu v=2 3000\n", "ms");
  EXPECT_EQ("cpu v=2000000000:1,3000000000:2;", Dump("cpu"));
}

TEST_F(DBTest, WalReplayRestoresUnflushedPoints) {
  Write("cpu,host=a v=1 1\ncpu,host=a v=2 2\n");
  Write("cpu,host=a v=bad 3\ncpu,host=a v=3 3\n");
  // Simulate a crash: the DB object is not closed cleanly (no flush).
  // Closing flushes, so copy the directory while open instead.
  std::string copy = dir_.path() + "/copy";
  std::filesystem::copy(options_.data_dir, copy, std::filesystem::copy_options::recursive);
  std::filesystem::remove(copy + "/LOCK");
  db_.reset();
  options_.data_dir = copy;
  Reopen();
  EXPECT_EQ("cpu,host=a v=1:1,2:2,3:3;", Dump("cpu"));
  EXPECT_EQ(2u, db_->Stats().replayed_records);
}

TEST_F(DBTest, FlushedAndHeadDataMergeWithLastWriteWinning) {
  Write("cpu v=1 1\ncpu v=2 2\ncpu v=3 3\n");
  ASSERT_OK(db_->Flush());
  Write("cpu v=20 2\ncpu v=4 4\n");
  EXPECT_EQ("cpu v=1:1,2:20,3:3,4:4;", Dump("cpu"));
  ASSERT_OK(db_->Flush());
  Write("cpu v=30 3\n");
  ASSERT_OK(db_->Flush());
  EXPECT_EQ("cpu v=1:1,2:20,3:30,4:4;", Dump("cpu"));
  ASSERT_OK(db_->Compact());
  EXPECT_EQ(1u, db_->Stats().segments);
  EXPECT_EQ("cpu v=1:1,2:20,3:30,4:4;", Dump("cpu"));
  Reopen();
  EXPECT_EQ("cpu v=1:1,2:20,3:30,4:4;", Dump("cpu"));
}

TEST_F(DBTest, OverwriteWithinOneBatchKeepsTheLastLine) {
  Write("cpu v=1 5\ncpu v=2 5\ncpu v=3 5\n");
  EXPECT_EQ("cpu v=5:3;", Dump("cpu"));
  ASSERT_OK(db_->Flush());
  EXPECT_EQ("cpu v=5:3;", Dump("cpu"));
}

TEST_F(DBTest, TimeRangeAndTagMatchersSelect) {
  Write("cpu,host=a,dc=x v=1 1\ncpu,host=b,dc=x v=2 2\ncpu,host=c v=3 3\ncpu,host=a,dc=x v=4 4\n");
  ASSERT_OK(db_->Flush());
  EXPECT_EQ("cpu,dc=x,host=a v=4:4;cpu,dc=x,host=b v=2:2;", Dump("cpu", 2, 4, {{"dc", TagOp::kEqual, "x"}}));
  EXPECT_EQ("cpu,host=c v=3:3;", Dump("cpu", kMinTime, kMaxTime, {{"dc", TagOp::kNotEqual, "x"}}));
  EXPECT_EQ("cpu,dc=x,host=a v=1:1,4:4;cpu,dc=x,host=b v=2:2;",
            Dump("cpu", kMinTime, kMaxTime, {{"host", TagOp::kRegex, "^[ab]$"}}));
  EXPECT_EQ("cpu,host=c v=3:3;", Dump("cpu", kMinTime, kMaxTime, {{"host", TagOp::kNotRegex, "a|b"}}));
  ScanRequest bad;
  bad.database = "db";
  bad.measurement = "cpu";
  bad.matchers = {{"host", TagOp::kRegex, "("}};
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, db_->Scan(bad, [](const SeriesData&) { return absl::OkStatus(); }).code());
}

TEST_F(DBTest, InvertedTimeRangeReturnsNoPoints) {
  Write("cpu v=1 1\ncpu v=2 2\ncpu v=3 3\n");
  ASSERT_OK(db_->Flush());
  Write("cpu v=4 4\n");
  EXPECT_EQ("cpu;", Dump("cpu", 3, 2));
  EXPECT_EQ("cpu v=2:2,3:3;", Dump("cpu", 2, 3));
}

TEST_F(DBTest, MetadataListsMeasurementsTagsAndSeries) {
  Write("cpu,host=a,dc=x v=1 1\nmem,host=b free=2i 2\n");
  EXPECT_EQ((std::vector<std::string>{"cpu", "mem"}), *db_->Measurements("db"));
  EXPECT_EQ((std::vector<std::string>{"dc", "host"}), *db_->TagKeys("db", "cpu"));
  EXPECT_EQ((std::vector<std::string>{"a"}), *db_->TagValues("db", "cpu", "host"));
  EXPECT_EQ((std::vector<std::string>{"cpu,dc=x,host=a", "mem,host=b"}), *db_->Series("db", "", {}));
}

TEST_F(DBTest, DeleteHidesPointsAndCompactionMakesItPhysical) {
  Write("cpu,host=a v=1 1\ncpu,host=a v=2 2\ncpu,host=b v=3 3\ncpu,host=a v=4 4\n");
  ASSERT_OK(db_->Delete({"db", "cpu", {{"host", TagOp::kEqual, "a"}}, 2, 3}));
  EXPECT_EQ("cpu,host=a v=1:1,4:4;cpu,host=b v=3:3;", Dump("cpu"));
  Write("cpu,host=a v=22 2\n");  // written after the delete: visible
  EXPECT_EQ("cpu,host=a v=1:1,2:22,4:4;cpu,host=b v=3:3;", Dump("cpu"));
  ASSERT_OK(db_->Compact());
  EXPECT_EQ("cpu,host=a v=1:1,2:22,4:4;cpu,host=b v=3:3;", Dump("cpu"));
  Reopen();
  EXPECT_EQ("cpu,host=a v=1:1,2:22,4:4;cpu,host=b v=3:3;", Dump("cpu"));
}

TEST_F(DBTest, DropSeriesAndMeasurementRemoveEverything) {
  Write("cpu,host=a v=1 1\ncpu,host=b v=2 2\nmem v=1 1\n");
  ASSERT_OK(db_->DropSeries("db", "cpu", {{"host", TagOp::kEqual, "a"}}));
  EXPECT_EQ("cpu,host=b v=2:2;", Dump("cpu"));
  Write("cpu,host=a v=5 5\n");
  EXPECT_EQ("cpu,host=a v=5:5;cpu,host=b v=2:2;", Dump("cpu"));
  ASSERT_OK(db_->DropMeasurement("db", "cpu"));
  EXPECT_EQ("", Dump("cpu"));
  EXPECT_EQ((std::vector<std::string>{"mem"}), *db_->Measurements("db"));
  // The field may come back with another type after a drop.
  auto r = Write("cpu v=\"text\" 9\n");
  EXPECT_TRUE(r.errors.empty());
  Reopen();
  EXPECT_EQ("cpu v=9:\"text\";", Dump("cpu"));
  EXPECT_EQ(absl::StatusCode::kNotFound, db_->DropMeasurement("db", "nope").code());
}

TEST_F(DBTest, DropDatabaseRemovesItsSegments) {
  Write("cpu v=1 1\n");
  ASSERT_OK(db_->Flush());
  ASSERT_OK(db_->DropDatabase("db"));
  EXPECT_EQ(0u, db_->Stats().segments);
  EXPECT_TRUE(db_->ListDatabases().empty());
  EXPECT_EQ(absl::StatusCode::kNotFound, db_->DropDatabase("db").code());
}

TEST_F(DBTest, RetentionDropsOldPartitionsAndRejectsOldWrites) {
  const int64_t day = 86400ll * 1000000000ll;
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  Write("cpu v=1 " + std::to_string(now - 10 * day) + "\ncpu v=2 " + std::to_string(now - 1000) + "\n");
  ASSERT_OK(db_->Flush());
  EXPECT_EQ(2u, db_->Stats().segments);
  ASSERT_OK(db_->SetRetention("db", 3 * day));
  ASSERT_OK(db_->Compact());
  EXPECT_EQ(1u, db_->Stats().segments);
  EXPECT_EQ("cpu v=" + std::to_string(now - 1000) + ":2;", Dump("cpu"));
  auto r = Write("cpu v=3 " + std::to_string(now - 5 * day) + "\n");
  ASSERT_EQ(1u, r.errors.size());
  EXPECT_NE(std::string::npos, r.errors[0].reason.find("retention"));
}

TEST_F(DBTest, PartitionsSplitOneSeriesAcrossSegments) {
  const int64_t day = 86400ll * 1000000000ll;
  Write("cpu v=1 " + std::to_string(day - 1) + "\ncpu v=2 " + std::to_string(day) + "\ncpu v=3 -5\n");
  ASSERT_OK(db_->Flush());
  EXPECT_EQ(3u, db_->Stats().segments);
  EXPECT_EQ("cpu v=-5:3," + std::to_string(day - 1) + ":1," + std::to_string(day) + ":2;", Dump("cpu"));
  EXPECT_EQ("cpu v=" + std::to_string(day) + ":2;", Dump("cpu", day, day + 5));
}

TEST_F(DBTest, AppMetadataPersists) {
  ASSERT_OK(db_->PutAppMeta("token/a", "hash-a"));
  ASSERT_OK(db_->PutAppMeta("token/b", "hash-b"));
  ASSERT_OK(db_->PutAppMeta("other", "x"));
  ASSERT_OK(db_->DeleteAppMeta("token/b"));
  Reopen();
  auto got = db_->ListAppMeta("token/");
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(1u, got->size());
  EXPECT_EQ("token/a", (*got)[0].first);
  EXPECT_EQ("hash-a", (*got)[0].second);
}

TEST_F(DBTest, ReplayWithoutFlushOnCloseRestoresTheHead) {
  db_.reset();
  options_.flush_on_close = false;
  Reopen();
  Write("cpu v=1 1\ncpu v=2 2\n");
  ASSERT_OK(db_->Flush());
  Write("cpu v=3 3\ncpu v=20 2\n");
  Reopen();
  EXPECT_EQ(1u, db_->Stats().replayed_records);
  EXPECT_EQ("cpu v=1:1,2:20,3:3;", Dump("cpu"));
}

TEST_F(DBTest, StorageReportCountsEveryFlushedPoint) {
  std::string body;
  for (int i = 0; i < 1000; i++) body += "cpu,host=a v=" + std::to_string(i % 10) + ".5,n=" + std::to_string(i) + "i " + std::to_string(i * 10) + "\n";
  Write(body);
  ASSERT_OK(db_->Flush());
  auto r = db_->GetStorageReport();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(2000u, r->points);
  ASSERT_EQ(2u, r->fields.size());
  EXPECT_EQ("n", r->fields[0].field);
  EXPECT_EQ(FieldType::kInteger, r->fields[0].type);
  EXPECT_EQ(1000u, r->fields[0].points);
  EXPECT_EQ("v", r->fields[1].field);
  EXPECT_FALSE(r->fields[1].value_codecs.empty());
  EXPECT_GT(r->segment_bytes, 0u);
  EXPECT_GE(r->total_bytes, r->segment_bytes + r->meta_bytes);
}

TEST_F(DBTest, TornWalTailIsCutAndEarlierWritesSurvive) {
  db_.reset();
  options_.flush_on_close = false;
  Reopen();
  Write("cpu v=1 1\n");
  Write("cpu v=2 2\n");
  Write("cpu v=3 3\n");
  db_.reset();
  // Tear the last record: drop its final bytes, as a power cut mid-write would.
  auto files = ListDir(options_.data_dir + "/wal");
  ASSERT_TRUE(files.ok());
  std::string last;
  for (const auto& f : *files) {
    auto size = FileSize(options_.data_dir + "/wal/" + f);
    if (size.ok() && *size > 0) last = options_.data_dir + "/wal/" + f;
  }
  ASSERT_FALSE(last.empty());
  auto size = FileSize(last);
  ASSERT_OK(TruncateFile(last, *size - 3));
  Reopen();
  EXPECT_EQ("cpu v=1:1,2:2;", Dump("cpu"));
  // The log goes on after the cut.
  Write("cpu v=4 4\n");
  Reopen();
  EXPECT_EQ("cpu v=1:1,2:2,4:4;", Dump("cpu"));
}

TEST_F(DBTest, SecondOpenOfTheSameDirectoryFails) {
  auto second = DB::Open(options_);
  EXPECT_EQ(absl::StatusCode::kFailedPrecondition, second.status().code());
}

TEST_F(DBTest, CorruptSegmentIsReportedAndOtherDataStaysReadable) {
  Write("cpu v=1 1\n");
  ASSERT_OK(db_->Flush());
  Write("mem v=2 2\n");
  ASSERT_OK(db_->Flush());
  db_.reset();
  // Damage the first segment file (ordered by name = by id) in its middle.
  auto files = ListDir(options_.data_dir + "/segments");
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(2u, files->size());
  std::string path = options_.data_dir + "/segments/" + (*files)[0];
  auto data = ReadFileToString(path);
  ASSERT_TRUE(data.ok());
  std::string bad = *data;
  bad[12] ^= 0x5a;
  ASSERT_OK(WriteFileAtomic(path, bad));
  Reopen();
  ScanRequest req;
  req.database = "db";
  req.measurement = "cpu";
  Status s = db_->Scan(req, [](const SeriesData&) { return absl::OkStatus(); });
  EXPECT_EQ(absl::StatusCode::kDataLoss, s.code()) << s;
  EXPECT_EQ("mem v=2:2;", Dump("mem"));
  auto problems = db_->Check();
  ASSERT_TRUE(problems.ok());
  ASSERT_EQ(1u, problems->size());
  EXPECT_EQ((*files)[0], (*problems)[0].file);
}

TEST_F(DBTest, ConcurrentWritersAndReadersSeeEveryPoint) {
  db_.reset();
  options_.background_work = true;
  options_.head_memory_bytes = 64 << 10;  // force many flushes
  options_.compaction_trigger = 3;
  Reopen();
  constexpr int kThreads = 4, kBatches = 50, kLines = 40;
  std::vector<std::thread> threads;
  std::atomic<bool> done{false};
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; b++) {
        std::string body;
        for (int l = 0; l < kLines; l++) {
          body += "cpu,writer=w" + std::to_string(t) + " v=" + std::to_string(b * kLines + l) + "i " +
                  std::to_string(b * kLines + l) + "\n";
        }
        auto r = db_->WriteLineProtocol("db", body, {});
        ASSERT_TRUE(r.ok()) << r.status();
        ASSERT_EQ(static_cast<uint64_t>(kLines), r->points_written);
      }
    });
  }
  std::thread reader([&] {
    while (!done.load()) {
      ScanRequest req{"db", "cpu", {}, {"v"}, kMinTime, kMaxTime};
      ASSERT_OK(db_->Scan(req, [](const SeriesData& sd) {
        // Points of one writer are a prefix 0..n-1 in order at any moment
        // only per batch; check sortedness and uniqueness.
        const auto& c = sd.columns[0];
        for (size_t i = 1; i < c.size(); i++) EXPECT_LT(c.times[i - 1], c.times[i]);
        return absl::OkStatus();
      }));
    }
  });
  for (auto& th : threads) th.join();
  done = true;
  reader.join();
  auto check = [&] {
    int series = 0;
    ASSERT_OK(db_->Scan({"db", "cpu", {}, {"v"}, kMinTime, kMaxTime}, [&](const SeriesData& sd) {
      series++;
      const auto& c = sd.columns[0];
      EXPECT_EQ(static_cast<size_t>(kBatches * kLines), c.size()) << sd.key;
      for (size_t i = 0; i < c.size(); i++) {
        EXPECT_EQ(static_cast<int64_t>(i), c.times[i]);
        EXPECT_EQ(static_cast<int64_t>(i), c.ints[i]);
      }
      return absl::OkStatus();
    }));
    EXPECT_EQ(kThreads, series);
  };
  check();
  EXPECT_GT(db_->Stats().flushes, 0u);
  Reopen();
  check();
}

}  // namespace
}  // namespace m2mdb
