#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <thread>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/util/file.h"
#include "gtest/gtest.h"
#include "m2mdb/db.h"
#include "m2mdb/line_protocol.h"
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
  auto series = db_->Series("db", "", {});
  ASSERT_OK(series.status());
  ASSERT_EQ(2u, series->size());
  EXPECT_EQ("cpu,dc=x,host=a", (*series)[0].key);
  EXPECT_EQ("cpu", (*series)[0].measurement);
  EXPECT_EQ((std::vector<std::pair<std::string, std::string>>{{"dc", "x"}, {"host", "a"}}),
            (*series)[0].tags);
  EXPECT_EQ("mem,host=b", (*series)[1].key);
}

// Series lists the escaped key influxd's SHOW SERIES prints and the parsed
// measurement and tags, so no caller parses keys; ordered by measurement,
// then key, as influxd lists them ("m\,x" sorts after "m=x" as a key but
// its measurement "m,x" before "m=x").
TEST_F(DBTest, SeriesComeParsedWithEveryEscapeOrderedByMeasurementThenKey) {
  Write(
      "m=x,k=v v=1 1\n"
      "m\\,x\\ y,t\\ k=a\\,b\\ c\\=d v=1 1\n"
      "m,t\\=k=a\\\\b,u\\,k=c\\d v=1 1\n"
      "m,b\\\\s=x v=1 1\n"
      "m v=1 1\n");
  auto series = db_->Series("db", "", {});
  ASSERT_OK(series.status());
  std::vector<std::string> got;
  for (const SeriesKey& s : *series) {
    EXPECT_EQ(s.key, FormatSeriesKey(s.measurement, s.tags));
    std::string line = s.key + " | " + s.measurement;
    for (const auto& [k, v] : s.tags) absl::StrAppend(&line, " [", k, "]=[", v, "]");
    got.push_back(line);
  }
  EXPECT_EQ((std::vector<std::string>{
                "m | m",
                "m,b\\\\s=x | m [b\\\\s]=[x]",
                "m,t\\=k=a\\\\b,u\\,k=c\\d | m [t=k]=[a\\\\b] [u,k]=[c\\d]",
                "m\\,x\\ y,t\\ k=a\\,b\\ c\\=d | m,x y [t k]=[a,b c=d]",
                "m=x,k=v | m=x [k]=[v]",
            }),
            got);
  auto one = db_->Series("db", "m,x y", {{"t k", TagOp::kEqual, "a,b c=d"}});
  ASSERT_OK(one.status());
  ASSERT_EQ(1u, one->size());
  EXPECT_EQ("m\\,x\\ y,t\\ k=a\\,b\\ c\\=d", (*one)[0].key);
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

// Issue 18: a partition that stopped receiving data is merged into one
// segment by the background thread alone, after a restart too, without a
// call to Compact: fewer segments than compaction_trigger would otherwise
// stay as they are for ever.
TEST_F(DBTest, BackgroundCompactionMergesAnIdlePartitionOnItsOwn) {
  for (int k = 0; k < 3; k++) {  // three overlapping segments of one partition
    std::string body;
    for (int i = 0; i < 50; i++)
      body += "cpu,host=a v=" + std::to_string(k * 100 + i) + " " + std::to_string(i * 3 + k) + "\n";
    Write(body);
    ASSERT_OK(db_->Flush());
  }
  ASSERT_EQ(3u, db_->Stats().segments);
  const std::string before = Dump("cpu");
  db_.reset();
  options_.background_work = true;
  options_.compaction_idle_seconds = 1;
  Reopen();
  // Bounded wait (the rule needs a second of quiet and the background round
  // runs once a second): no timing is asserted, only that it happens.
  for (int i = 0; i < 200 && db_->Stats().segments > 1; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(1u, db_->Stats().segments);
  EXPECT_GE(db_->Stats().compactions, 1u);
  EXPECT_EQ(before, Dump("cpu"));
}

// Issue 18: last() alone (summary_fields + limit_points 1 from the end)
// over overlapping segments and a head is answered from the one block that
// holds the latest segment point, undecoded; a head point at that very time
// sends it down the general path, which returns every point.
TEST_F(DBTest, LastPointFromTheNewestBlockAcrossOverlappingSegments) {
  // Segment 1: t 0..90 step 10; segment 2: t 5..95 step 10 (interleaved);
  // segment 3 overwrites t 50. Latest segment point: t 95, v 1095.
  std::string body;
  for (int t = 0; t <= 90; t += 10) body += "m v=" + std::to_string(t) + " " + std::to_string(t) + "\n";
  Write(body);
  ASSERT_OK(db_->Flush());
  body.clear();
  for (int t = 5; t <= 95; t += 10) body += "m v=" + std::to_string(1000 + t) + " " + std::to_string(t) + "\n";
  Write(body);
  ASSERT_OK(db_->Flush());
  Write("m v=-1 50\n");
  ASSERT_OK(db_->Flush());
  auto scan = [&](bool from_end, std::vector<BlockSummary>* sums, Column* col) {
    ScanRequest req{"db", "m", {}, {"v"}, 0, 1000};
    req.summary_fields = {"v"};
    req.limit_points = 1;
    req.limit_from_end = from_end;
    ASSERT_OK(db_->Scan(req, [&](const SeriesData& sd) {
      *sums = sd.summaries[0];
      *col = sd.columns[0];
      return absl::OkStatus();
    }));
  };
  std::vector<BlockSummary> sums;
  Column col;
  scan(true, &sums, &col);
  ASSERT_EQ(1u, sums.size());
  EXPECT_EQ(95, sums[0].max_time);
  EXPECT_EQ(1095, sums[0].last_f);
  // The other types' members of a float block's summary are 0 (the
  // segment's typed sets share their storage; the summary's do not).
  EXPECT_EQ(0, sums[0].last_i);
  EXPECT_EQ(0u, sums[0].sum_u);
  EXPECT_TRUE(col.empty());
  scan(false, &sums, &col);
  ASSERT_EQ(1u, sums.size());
  EXPECT_EQ(0, sums[0].min_time);
  EXPECT_EQ(0, sums[0].first_f);
  // A head point later than every segment's: returned as a point.
  Write("m v=7 99\n");
  scan(true, &sums, &col);
  ASSERT_EQ(1u, sums.size());
  ASSERT_EQ(1u, col.size());
  EXPECT_EQ(99, col.times[0]);
  // A head point at exactly t 95 overwrites it: the general path, which
  // returns the merged points (and summaries of blocks no other source
  // overlaps: none here).
  Write("m v=8 95\n");
  scan(true, &sums, &col);
  EXPECT_TRUE(sums.empty());
  ASSERT_EQ(21u, col.size());  // t 0, 5, ..., 95 and 99
  EXPECT_EQ(95, col.times[19]);
  EXPECT_EQ(8, col.floats[19]);
  EXPECT_EQ(-1, col.floats[10]);  // t 50: the newest segment's value
}

// The summarised read merges each segment's part into the points before it
// in place (a part that starts inside them: its overlapping points merged,
// equal times replaced by the newer segment, the rest already in place).
// Checked point by point against a model, for a float and a string field,
// over segments that overlap at their starts, interleave, overwrite, and a
// head on top.
TEST_F(DBTest, OverlappingSegmentsMergeInPlaceNewestWinning) {
  std::map<int64_t, std::pair<double, std::string>> model;
  auto write = [&](int64_t from, int64_t to, int64_t step, int tag) {
    std::string body;
    for (int64_t t = from; t <= to; t += step) {
      const double v = tag * 1000 + static_cast<double>(t);
      const std::string str = "s" + std::to_string(tag) + "_" + std::to_string(t);
      body += "m f=" + std::to_string(v) + ",s=\"" + str + "\" " + std::to_string(t) + "\n";
      model[t] = {v, str};
    }
    Write(body);
  };
  write(0, 500, 2, 1);  // segment 1
  ASSERT_OK(db_->Flush());
  write(480, 900, 2, 2);  // overlaps segment 1's tail, equal times replaced
  ASSERT_OK(db_->Flush());
  write(1, 999, 7, 3);  // interleaves with both
  ASSERT_OK(db_->Flush());
  write(890, 1200, 3, 4);  // starts inside, runs past everything
  ASSERT_OK(db_->Flush());
  write(100, 105, 1, 5);  // head
  for (const auto& [lo, hi] : std::vector<std::pair<int64_t, int64_t>>{{0, 2000}, {450, 950}, {899, 899}}) {
    ScanRequest req{"db", "m", {}, {"f", "s"}, lo, hi};
    req.summary_fields = {"f"};
    std::vector<int64_t> times;
    std::vector<double> fs;
    std::vector<std::string> ss;
    ASSERT_OK(db_->Scan(req, [&](const SeriesData& sd) {
      EXPECT_TRUE(sd.summaries[0].empty());  // every block overlaps another
      times = sd.columns[0].times;
      fs = sd.columns[0].floats;
      ss = sd.columns[1].strings;
      EXPECT_EQ(sd.columns[1].times, times);
      return absl::OkStatus();
    }));
    std::vector<int64_t> want_t;
    std::vector<double> want_f;
    std::vector<std::string> want_s;
    for (auto it = model.lower_bound(lo); it != model.end() && it->first <= hi; ++it) {
      want_t.push_back(it->first);
      want_f.push_back(it->second.first);
      want_s.push_back(it->second.second);
    }
    EXPECT_EQ(want_t, times) << lo << ".." << hi;
    EXPECT_EQ(want_f, fs) << lo << ".." << hi;
    EXPECT_EQ(want_s, ss) << lo << ".." << hi;
  }
}

// Merges give way to scans (compaction::ReadPacer), but a reader that
// never stops must not hold a compaction back for ever, and what the readers
// see must not change.
TEST_F(DBTest, CompactionFinishesUnderScansThatNeverStop) {
  for (int k = 0; k < 3; k++) {
    std::string body;
    for (int h = 0; h < 200; h++) {
      for (int i = 0; i < 20; i++) {
        body += "cpu,host=h" + std::to_string(h) + " v=" + std::to_string(k * 1000 + i) + " " +
                std::to_string(i * 3 + k) + "\n";
      }
    }
    Write(body);
    ASSERT_OK(db_->Flush());
  }
  const std::string before = Dump("cpu");
  std::atomic<bool> stop{false};
  std::atomic<int> scans{0};
  std::atomic<bool> saw_other{false};
  std::thread reader([&] {
    while (!stop.load()) {
      if (Dump("cpu") != before) saw_other.store(true);
      scans.fetch_add(1);
    }
  });
  while (scans.load() == 0) std::this_thread::yield();
  Status compacted = db_->Compact();
  stop.store(true);
  reader.join();
  ASSERT_OK(compacted);
  EXPECT_EQ(1u, db_->Stats().segments);
  EXPECT_FALSE(saw_other.load());
  EXPECT_EQ(before, Dump("cpu"));
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

// Block summaries (ScanRequest::summary_fields). Blocks of 4 points make
// block boundaries easy to place.
class SummaryTest : public DBTest {
 protected:
  void SetUp() override {
    options_.max_block_points = 4;
    DBTest::SetUp();
  }
  // "decoded=t:v,...; blocks=[min..max n=count sum=S first=F last=L min=m max=M] ..."
  // for one field of the one series of `m`, floats printed via %g. Also
  // checks the contract: summaries sorted, disjoint from each other and
  // from the decoded points, and decoded + summarised = the plain scan.
  std::string Summ(const std::string& m, const std::string& field, int64_t lo, int64_t hi, int64_t window = 0,
                   int64_t offset = 0, std::function<bool(const BlockSummary&)> filter = nullptr) {
    ScanRequest req;
    req.database = "db";
    req.measurement = m;
    req.fields = {field};
    req.min_time = lo;
    req.max_time = hi;
    req.summary_fields = {field};
    req.summary_window_ns = window;
    req.summary_window_offset_ns = offset;
    req.summary_filter = std::move(filter);
    std::string out;
    size_t plain = 0;
    EXPECT_OK(db_->Scan({"db", m, {}, {field}, lo, hi}, [&](const SeriesData& sd) {
      plain += sd.columns[0].size();
      EXPECT_TRUE(sd.summaries.empty());  // not requested: none
      return absl::OkStatus();
    }));
    size_t seen = 0;
    EXPECT_OK(db_->Scan(req, [&](const SeriesData& sd) {
      EXPECT_EQ(1u, sd.summaries.size());
      const Column& c = sd.columns[0];
      out += "decoded=";
      for (size_t i = 0; i < c.size(); i++) {
        out += (i ? "," : "") + std::to_string(c.times[i]) + ":" + c.ValueAt(i).DebugString();
      }
      out += "; blocks=";
      seen += c.size();
      int64_t prev_end = INT64_MIN;
      for (const BlockSummary& b : sd.summaries[0]) {
        EXPECT_GT(b.min_time, prev_end);
        EXPECT_LE(b.min_time, b.max_time);
        EXPECT_GE(b.min_time, lo);
        EXPECT_LE(b.max_time, hi);
        prev_end = b.max_time;
        auto in = std::lower_bound(c.times.begin(), c.times.end(), b.min_time);
        EXPECT_TRUE(in == c.times.end() || *in > b.max_time) << "decoded point inside a summarised block";
        seen += static_cast<size_t>(b.count);
        std::string stats;
        switch (b.type) {
          case FieldType::kFloat:
            stats = absl::StrFormat("sum=%g first=%g last=%g min=%g max=%g", b.sum_f, b.first_f, b.last_f,
                                    b.min_f, b.max_f);
            break;
          case FieldType::kInteger:
          case FieldType::kBoolean:
            stats = absl::StrFormat("sum=%d first=%d last=%d min=%d max=%d", b.sum_i, b.first_i, b.last_i,
                                    b.min_i, b.max_i);
            break;
          case FieldType::kUnsigned:
            stats = absl::StrFormat("sum=%d first=%d last=%d min=%d max=%d", b.sum_u, b.first_u, b.last_u,
                                    b.min_u, b.max_u);
            break;
          case FieldType::kString:
            break;
        }
        out += absl::StrFormat("[%d..%d n=%d%s%s]", b.min_time, b.max_time, b.count, stats.empty() ? "" : " ",
                               stats);
      }
      return absl::OkStatus();
    }));
    EXPECT_EQ(plain, seen) << out;
    return out;
  }
  // Points t = from..to with v = t, flushed.
  void WriteRun(int64_t from, int64_t to, bool flush = true) {
    std::string body;
    for (int64_t t = from; t <= to; t++) body += "m v=" + std::to_string(t) + " " + std::to_string(t) + "\n";
    Write(body);
    if (flush) ASSERT_OK(db_->Flush());
  }
};

TEST_F(SummaryTest, CleanBlocksAreSummarisedInsteadOfDecoded) {
  WriteRun(1, 12);
  EXPECT_EQ(
      "decoded=; blocks=[1..4 n=4 sum=10 first=1 last=4 min=1 max=4][5..8 n=4 sum=26 first=5 last=8 min=5 "
      "max=8]"
      "[9..12 n=4 sum=42 first=9 last=12 min=9 max=12]",
      Summ("m", "v", kMinTime, kMaxTime));
  // A block partly outside the time range is decoded and clipped.
  EXPECT_EQ(
      "decoded=3:3,4:4; blocks=[5..8 n=4 sum=26 first=5 last=8 min=5 max=8]"
      "[9..12 n=4 sum=42 first=9 last=12 min=9 max=12]",
      Summ("m", "v", 3, 12));
  EXPECT_EQ("decoded=3:3,4:4,5:5,6:6,7:7,8:8,9:9,10:10; blocks=", Summ("m", "v", 3, 10, 0, 0, [](auto&) {
              return false;  // the caller's veto decodes
            }));
}

TEST_F(SummaryTest, DefaultScanIsUnchanged) {
  WriteRun(1, 12);
  EXPECT_EQ("m v=1:1,2:2,3:3,4:4,5:5,6:6,7:7,8:8,9:9,10:10,11:11,12:12;", Dump("m"));
}

TEST_F(SummaryTest, OnlyBlocksInsideOneWindowAreSummarised) {
  WriteRun(1, 12);
  // Windows [1,5), [5,9), [9,13): every block fits one.
  EXPECT_EQ(
      "decoded=; blocks=[1..4 n=4 sum=10 first=1 last=4 min=1 max=4][5..8 n=4 sum=26 first=5 last=8 min=5 "
      "max=8]"
      "[9..12 n=4 sum=42 first=9 last=12 min=9 max=12]",
      Summ("m", "v", kMinTime, kMaxTime, 4, 1));
  // Windows [0,4), [4,8), ...: every block straddles two.
  EXPECT_EQ("decoded=1:1,2:2,3:3,4:4,5:5,6:6,7:7,8:8,9:9,10:10,11:11,12:12; blocks=",
            Summ("m", "v", kMinTime, kMaxTime, 4, 0));
  // Windows [0,6), [6,12), [12,18): only the first block fits.
  EXPECT_EQ(
      "decoded=5:5,6:6,7:7,8:8,9:9,10:10,11:11,12:12; blocks=[1..4 n=4 sum=10 first=1 last=4 min=1 max=4]",
      Summ("m", "v", kMinTime, kMaxTime, 6, 0));
  // Windows [-1,5), [5,11), [11,17).
  EXPECT_EQ(
      "decoded=9:9,10:10,11:11,12:12; blocks=[1..4 n=4 sum=10 first=1 last=4 min=1 max=4]"
      "[5..8 n=4 sum=26 first=5 last=8 min=5 max=8]",
      Summ("m", "v", kMinTime, kMaxTime, 6, 5));
  // An offset aligns the same as its value modulo the window length.
  EXPECT_EQ(Summ("m", "v", kMinTime, kMaxTime, 6, 5), Summ("m", "v", kMinTime, kMaxTime, 6, -1));
  EXPECT_EQ(Summ("m", "v", kMinTime, kMaxTime, 6, 5), Summ("m", "v", kMinTime, kMaxTime, 6, 17));
}

TEST_F(SummaryTest, BlocksOverlappingAnotherSegmentAreDecoded) {
  WriteRun(1, 12);
  Write("m v=100 6\n");  // overwrites a point of the block 5..8
  ASSERT_OK(db_->Flush());
  EXPECT_EQ(
      "decoded=5:5,6:100,7:7,8:8; blocks=[1..4 n=4 sum=10 first=1 last=4 min=1 max=4]"
      "[9..12 n=4 sum=42 first=9 last=12 min=9 max=12]",
      Summ("m", "v", kMinTime, kMaxTime));
  // Out of order: a later segment's block between two points of a block
  // (no shared timestamp, but the stats cannot tell).
  WriteRun(20, 23);
  Write("m v=1 21\n");
  ASSERT_OK(db_->Flush());
  EXPECT_EQ("decoded=20:20,21:1,22:22,23:23; blocks=", Summ("m", "v", 20, 30));
}

TEST_F(SummaryTest, BlocksOverlappingTheHeadAreDecoded) {
  WriteRun(1, 12);
  Write("m v=110 10\nm v=13 13\n");  // in the head: one overwrite, one after every block
  EXPECT_EQ(
      "decoded=9:9,10:110,11:11,12:12,13:13; blocks=[1..4 n=4 sum=10 first=1 last=4 min=1 max=4]"
      "[5..8 n=4 sum=26 first=5 last=8 min=5 max=8]",
      Summ("m", "v", kMinTime, kMaxTime));
}

TEST_F(SummaryTest, TombstonedBlocksAreDecoded) {
  WriteRun(1, 12);
  ASSERT_OK(db_->Delete({"db", "m", {}, 2, 2}));
  ASSERT_OK(db_->Delete({"db", "m", {}, 100, 200}));  // covers no block
  EXPECT_EQ(
      "decoded=1:1,3:3,4:4; blocks=[5..8 n=4 sum=26 first=5 last=8 min=5 max=8]"
      "[9..12 n=4 sum=42 first=9 last=12 min=9 max=12]",
      Summ("m", "v", kMinTime, kMaxTime));
  // A later write of the deleted range lands in a newer segment the
  // tombstone does not cover; the block 1..4 still overlaps it.
  Write("m v=22 2\n");
  ASSERT_OK(db_->Flush());
  EXPECT_EQ(
      "decoded=1:1,2:22,3:3,4:4; blocks=[5..8 n=4 sum=26 first=5 last=8 min=5 max=8]"
      "[9..12 n=4 sum=42 first=9 last=12 min=9 max=12]",
      Summ("m", "v", kMinTime, kMaxTime));
}

TEST_F(SummaryTest, BlocksOfSeveralPartitions) {
  const int64_t day = 86400ll * 1000000000ll;
  std::string body;  // t = day-4 .. day+3, v = 1..8: two segments, one per partition
  for (int64_t k = 1; k <= 8; k++)
    body += "m v=" + std::to_string(k) + " " + std::to_string(day - 5 + k) + "\n";
  Write(body);
  ASSERT_OK(db_->Flush());
  EXPECT_EQ(2u, db_->Stats().segments);
  const std::string both = absl::StrFormat(
      "decoded=; blocks=[%d..%d n=4 sum=10 first=1 last=4 min=1 max=4][%d..%d n=4 sum=26 first=5 last=8 "
      "min=5 max=8]",
      day - 4, day - 1, day, day + 3);
  EXPECT_EQ(both, Summ("m", "v", kMinTime, kMaxTime));
  EXPECT_EQ(both, Summ("m", "v", kMinTime, kMaxTime, day, 0));      // a window per partition
  EXPECT_EQ(both, Summ("m", "v", kMinTime, kMaxTime, 2 * day, 0));  // one window over both
  // A window boundary inside a block: that block is decoded.
  EXPECT_EQ(
      absl::StrFormat("decoded=%d:1,%d:2,%d:3,%d:4; blocks=[%d..%d n=4 sum=26 first=5 last=8 min=5 max=8]",
                      day - 4, day - 3, day - 2, day - 1, day, day + 3),
      Summ("m", "v", kMinTime, kMaxTime, day, day - 2));
  // The query range ends inside the second partition's block.
  EXPECT_EQ(absl::StrFormat("decoded=%d:5,%d:6; blocks=[%d..%d n=4 sum=10 first=1 last=4 min=1 max=4]", day,
                            day + 1, day - 4, day - 1),
            Summ("m", "v", kMinTime, day + 1));
}

TEST_F(SummaryTest, EveryFieldTypeHasItsStatistics) {
  Write("m i=-3i,u=7u,b=true,s=\"x\" 1\nm i=5i,u=1u,b=false,s=\"y\" 2\nm i=2i,u=9u,b=true,s=\"z\" 3\n");
  ASSERT_OK(db_->Flush());
  EXPECT_EQ("decoded=; blocks=[1..3 n=3 sum=4 first=-3 last=2 min=-3 max=5]",
            Summ("m", "i", kMinTime, kMaxTime));
  EXPECT_EQ("decoded=; blocks=[1..3 n=3 sum=17 first=7 last=9 min=1 max=9]",
            Summ("m", "u", kMinTime, kMaxTime));
  EXPECT_EQ("decoded=; blocks=[1..3 n=3 sum=2 first=1 last=1 min=0 max=1]",
            Summ("m", "b", kMinTime, kMaxTime));
  EXPECT_EQ("decoded=; blocks=[1..3 n=3]", Summ("m", "s", kMinTime, kMaxTime));
}

// A summarised field read from one segment is decoded into the column of
// the previous series, over its points: series of other lengths and field
// types, a tombstone and ranges ending inside blocks must still give
// exactly the plain scan's points (those of blocks not summarised).
TEST_F(SummaryTest, ColumnsReusedAcrossSeriesHoldOnlyTheirOwnPoints) {
  std::string lines;
  const int lengths[] = {23, 3, 17, 1, 30, 9};
  for (int s = 0; s < 6; s++) {
    for (int i = 0; i < lengths[s]; i++) {
      // Field "v" is a float in even series and an integer in odd ones
      // (other measurements, so no type conflict).
      const std::string m = s % 2 ? "mi" : "mf";
      lines += absl::StrFormat("%s,h=s%d v=%s,w=%di %d\n", m, s,
                               s % 2 ? absl::StrCat(i * 3 - 7, "i") : absl::StrCat(i * 0.5 + s), i, 100 + i);
    }
  }
  Write(lines);
  ASSERT_OK(db_->Flush());
  ASSERT_OK(db_->Delete({"db", "mf", {{"h", TagOp::kEqual, "s2"}}, 104, 106}));
  for (const std::string m : {"mf", "mi"}) {
    for (const auto& [lo, hi] : {std::pair<int64_t, int64_t>{kMinTime, kMaxTime}, {101, 118}, {102, 102}}) {
      struct Read {
        std::string key;
        std::vector<std::pair<int64_t, std::string>> points;
        std::vector<BlockSummary> blocks;
      };
      auto read = [](const SeriesData& sd, size_t k) {
        Read r;
        r.key = sd.key + " " + sd.field_names[k];
        const Column& c = sd.columns[k];
        const size_t values =
            c.floats.size() + c.ints.size() + c.uints.size() + c.bools.size() + c.strings.size();
        EXPECT_EQ(c.size(), values) << r.key;
        for (size_t i = 0; i < c.size(); i++) r.points.emplace_back(c.times[i], c.ValueAt(i).DebugString());
        return r;
      };
      std::vector<Read> plain, summarised;
      ASSERT_OK(db_->Scan({"db", m, {}, {"v", "w"}, lo, hi}, [&](const SeriesData& sd) {
        for (size_t k = 0; k < 2; k++) plain.push_back(read(sd, k));
        return absl::OkStatus();
      }));
      ScanRequest req;
      req.database = "db";
      req.measurement = m;
      req.fields = {"v", "w"};
      req.min_time = lo;
      req.max_time = hi;
      req.summary_fields = {"v", "w"};
      req.summary_window_ns = 3;  // blocks crossing a window boundary are decoded
      ASSERT_OK(db_->Scan(req, [&](const SeriesData& sd) {
        for (size_t k = 0; k < 2; k++) {
          summarised.push_back(read(sd, k));
          summarised.back().blocks = sd.summaries[k];
        }
        return absl::OkStatus();
      }));
      ASSERT_EQ(plain.size(), summarised.size());
      size_t decoded = 0;
      for (size_t i = 0; i < plain.size(); i++) {
        const Read& p = plain[i];
        const Read& r = summarised[i];
        ASSERT_EQ(p.key, r.key);
        // The plain scan's points minus those of the summarised blocks.
        std::vector<std::pair<int64_t, std::string>> want;
        int64_t in_blocks = 0;
        for (const auto& pt : p.points) {
          bool covered = false;
          for (const BlockSummary& b : r.blocks) covered |= pt.first >= b.min_time && pt.first <= b.max_time;
          if (covered) {
            in_blocks++;
          } else {
            want.push_back(pt);
          }
        }
        int64_t counted = 0;
        for (const BlockSummary& b : r.blocks) counted += b.count;
        EXPECT_EQ(in_blocks, counted) << p.key << " " << lo << ".." << hi;
        EXPECT_EQ(want, r.points) << p.key << " " << lo << ".." << hi;
        decoded += r.points.size();
      }
      if (lo == kMinTime) {
        EXPECT_GT(decoded, 20u);  // the reuse was exercised
      }
    }
  }
}

// Scans reuse per-thread space for what they hand to the callback: a scan
// started from a callback, and the scans after it, still see only their
// own series, columns and summaries.
TEST_F(SummaryTest, NestedAndLaterScansSeeOnlyTheirOwnData) {
  Write("a,h=x v=1,w=2i 1\na,h=x v=3,w=4i 2\na,h=y v=5,w=6i 3\nb,k=z s=\"t\",u=7u 1\nb,k=z s=\"q\",u=8u 9\n");
  ASSERT_OK(db_->Flush());
  auto dump = [](const SeriesData& sd) {
    std::string out = sd.key + " " + sd.measurement;
    for (const auto& [k, v] : sd.tags) absl::StrAppend(&out, " ", k, "=", v);
    for (size_t k = 0; k < sd.columns.size(); k++) {
      absl::StrAppend(&out, " ", sd.field_names[k], ":");
      for (size_t i = 0; i < sd.columns[k].size(); i++) {
        absl::StrAppend(&out, sd.columns[k].times[i], "=", sd.columns[k].ValueAt(i).DebugString(), ";");
      }
    }
    absl::StrAppend(&out, " summarised=");
    for (const auto& list : sd.summaries) {
      int64_t points = 0;
      for (const BlockSummary& b : list) points += b.count;
      absl::StrAppend(&out, points, ";");
    }
    return out;
  };
  ScanRequest sum;
  sum.database = "db";
  sum.measurement = "a";
  sum.fields = {"v", "w"};
  sum.summary_fields = {"v", "w"};
  sum.summary_window_ns = 1;  // every block of several points is decoded
  std::vector<std::string> outer, inner;
  ASSERT_OK(db_->Scan(sum, [&](const SeriesData& sd) {
    outer.push_back(dump(sd));
    EXPECT_OK(db_->Scan({"db", "b", {}, {}, kMinTime, kMaxTime}, [&](const SeriesData& nested) {
      inner.push_back(dump(nested));
      return absl::OkStatus();
    }));
    outer.push_back(dump(sd));  // unchanged by the nested scan
    return absl::OkStatus();
  }));
  const std::string x = "a,h=x a h=x v:1=1;2=3; w:1=2i;2=4i; summarised=0;0;";
  const std::string y = "a,h=y a h=y v: w: summarised=1;1;";
  ASSERT_EQ(4u, outer.size());
  EXPECT_EQ(x, outer[0]);
  EXPECT_EQ(x, outer[1]);
  EXPECT_EQ(y, outer[2]);
  EXPECT_EQ(y, outer[3]);
  const std::string z = "b,k=z b k=z s:1=\"t\";9=\"q\"; u:1=7u;9=8u; summarised=";
  ASSERT_EQ(2u, inner.size());
  EXPECT_EQ(z, inner[0]);
  // Later scans: another measurement and field types, then no summaries.
  std::vector<std::string> later;
  auto collect = [&](const SeriesData& sd) {
    later.push_back(dump(sd));
    return absl::OkStatus();
  };
  ASSERT_OK(db_->Scan({"db", "b", {}, {}, kMinTime, kMaxTime}, collect));
  ASSERT_OK(db_->Scan({"db", "a", {}, {"w"}, 2, kMaxTime}, collect));
  ASSERT_EQ(3u, later.size());
  EXPECT_EQ(z, later[0]);
  EXPECT_EQ("a,h=x a h=x w:2=4i; summarised=", later[1]);
  EXPECT_EQ("a,h=y a h=y w:3=6i; summarised=", later[2]);
}

TEST_F(SummaryTest, OnlyNamedFieldsAreSummarised) {
  Write("m a=1,b=2 1\nm a=3,b=4 2\n");
  ASSERT_OK(db_->Flush());
  ScanRequest req;
  req.database = "db";
  req.measurement = "m";
  req.fields = {"a", "b", "missing"};
  req.summary_fields = {"b"};
  int calls = 0;
  ASSERT_OK(db_->Scan(req, [&](const SeriesData& sd) {
    calls++;
    EXPECT_EQ(3u, sd.summaries.size());
    EXPECT_EQ(2u, sd.columns[0].size());
    EXPECT_TRUE(sd.summaries[0].empty());
    EXPECT_TRUE(sd.columns[1].empty());
    EXPECT_EQ(1u, sd.summaries[1].size());
    EXPECT_TRUE(sd.columns[2].empty());
    EXPECT_TRUE(sd.summaries[2].empty());
    return absl::OkStatus();
  }));
  EXPECT_EQ(1, calls);
}

// An anchored set of literals (the planner's form of `host = 'a' OR host =
// 'b'`) is answered from the postings; the answer must equal the regex's.
TEST_F(DBTest, LiteralAlternationMatchersSelectExactlyTheirSeries) {
  Write("cpu,host=a,dc=x v=1 1\ncpu,host=b,dc=y v=2 2\ncpu,host=a.b,dc=x v=3 3\ncpu,host=ab v=4 4\ncpu,dc=x v=5 5\n");
  auto series = [&](std::vector<TagMatcher> ms) {
    auto r = db_->Series("db", "cpu", ms);
    EXPECT_TRUE(r.ok()) << r.status();
    std::vector<std::string> keys;
    if (r.ok()) {
      for (const SeriesKey& k : *r) keys.push_back(k.key);
    }
    return absl::StrJoin(keys, " ");
  };
  EXPECT_EQ("cpu,dc=x,host=a cpu,dc=y,host=b", series({{"host", TagOp::kRegex, "^(?:a|b)$"}}));
  EXPECT_EQ("cpu,dc=x,host=a cpu,dc=x,host=a.b", series({{"host", TagOp::kRegex, "^(a|a\\.b|zz)$"}}));
  EXPECT_EQ("cpu,dc=x,host=a", series({{"host", TagOp::kRegex, "^a$"}}));
  EXPECT_EQ("cpu,dc=x,host=a", series({{"host", TagOp::kRegex, "^(?:a|b)$"}, {"dc", TagOp::kEqual, "x"}}));
  // Not literal sets: evaluated as regexes (`.` is any byte; the empty
  // literal matches the series without the tag).
  EXPECT_EQ("cpu,dc=x,host=a.b", series({{"host", TagOp::kRegex, "^(?:a.b)$"}}));
  EXPECT_EQ("cpu,dc=x,host=a.b cpu,host=ab", series({{"host", TagOp::kRegex, "^(?:a.?b)$"}}));
  EXPECT_EQ("cpu,dc=x cpu,dc=x,host=a", series({{"host", TagOp::kRegex, "^(?:|a)$"}}));
  EXPECT_EQ("cpu,dc=y,host=b cpu,host=ab", series({{"host", TagOp::kRegex, "^(?:b|ab)$"}}));
  const std::string dump = Dump("cpu", kMinTime, kMaxTime, {{"host", TagOp::kRegex, "^(?:a|zz)$"}});
  EXPECT_EQ(0u, dump.find("cpu,dc=x,host=a v=1:")) << dump;
  EXPECT_EQ(1, std::count(dump.begin(), dump.end(), ';')) << dump;
}

}  // namespace
}  // namespace m2mdb
