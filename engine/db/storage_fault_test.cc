// Storage faults seen from the engine's API: damaged segments (torn footer,
// damaged block, unreadable index), repair, read-only opens and file modes.
// The WAL's own disk-full handling is tested in engine/wal/wal_test.cc; a
// real full disk in tests/server/server_test.py (DiskFull).
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "engine/db/db_impl.h"
#include "engine/segment/segment.h"
#include "engine/util/crc32c.h"
#include "engine/util/file.h"
#include "m2mdb/db.h"
#include "tests/support/test_util.h"

namespace m2mdb {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kT0 = 1700000000000000000;
constexpr int64_t kSec = 1000000000;

class StorageFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.data_dir = dir_.path() + "/data";
    options_.background_work = false;
    Reopen();
    ASSERT_OK(db_->CreateDatabase({"db", 0, 0}));
    ASSERT_OK(db_->CreateDatabase({"other", 0, 0}));
  }
  void Reopen() {
    db_.reset();
    auto db = DB::Open(options_);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }
  void Write(const std::string& database, const std::string& body) {
    auto r = db_->WriteLineProtocol(database, body, WriteOptions{});
    ASSERT_TRUE(r.ok()) << r.status();
  }
  // cpu,host=a and cpu,host=b (written first: the lowest series ids) and
  // mem,host=a: 100 points each, one per second from kT0, in one segment.
  void WriteThreeSeriesAndFlush() {
    std::string body;
    for (int i = 0; i < 100; i++) {
      absl::StrAppend(&body, "cpu,host=a v=", i, " ", kT0 + i * kSec, "\n");
      absl::StrAppend(&body, "cpu,host=b v=", i, " ", kT0 + i * kSec, "\n");
      absl::StrAppend(&body, "mem,host=a v=", i, " ", kT0 + i * kSec, "\n");
    }
    Write("db", body);
    Write("other", "x v=1 " + std::to_string(kT0));
    ASSERT_OK(db_->Flush());
  }
  // Points of `m` (with `host`, if given) in [lo, hi], or the error.
  StatusOr<size_t> Count(const std::string& m, const std::string& host = "", int64_t lo = kMinTime,
                         int64_t hi = kMaxTime, const std::string& database = "db") {
    ScanRequest req;
    req.database = database;
    req.measurement = m;
    req.min_time = lo;
    req.max_time = hi;
    if (!host.empty()) req.matchers.push_back(TagMatcher{"host", TagOp::kEqual, host});
    size_t n = 0;
    Status s = db_->Scan(req, [&](const SeriesData& sd) {
      for (const auto& c : sd.columns) n += c.size();
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return n;
  }
  std::vector<std::string> SegmentFiles() {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(options_.data_dir + "/segments"))
      out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  // The segment WriteThreeSeriesAndFlush wrote for "db" (300 points).
  std::string DbSegment() {
    for (const auto& p : SegmentFiles()) {
      auto r = segment::SegmentReader::Open(p);
      if (r.ok() && (*r)->info().points == 300) return p;
    }
    ADD_FAILURE() << "no segment of 300 points";
    return "";
  }
  // Flips a byte inside the first block (cpu,host=a) of segment `path`.
  void DamageFirstBlock(const std::string& path) {
    uint64_t offset;
    {
      auto r = segment::SegmentReader::Open(path);
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_FALSE((*r)->blocks().empty());
      const auto& h = (*r)->blocks()[0];
      offset = h.offset + h.times_bytes + h.values_bytes / 2;
    }
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char c;
    f.read(&c, 1);
    c ^= 0x5a;
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(&c, 1);
  }
  void Truncate(const std::string& path, uint64_t bytes) {
    auto size = FileSize(path);
    ASSERT_TRUE(size.ok());
    ASSERT_OK(TruncateFile(path, *size - bytes));
  }
  void ExpectDataLossWithoutPath(const StatusOr<size_t>& r) {
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(absl::IsDataLoss(r.status())) << r.status();
    EXPECT_EQ(std::string::npos, std::string(r.status().message()).find(dir_.path())) << r.status();
  }

  testing::TempDir dir_;
  Options options_;
  std::unique_ptr<DB> db_;
};

TEST_F(StorageFaultTest, SegmentWithATornFooterLosesNoData) {
  WriteThreeSeriesAndFlush();
  db_.reset();
  Truncate(DbSegment(), 5);  // the case: the end magic is cut
  Reopen();
  EXPECT_EQ(200u, *Count("cpu"));
  EXPECT_EQ(100u, *Count("mem"));
  EXPECT_EQ(1u, *Count("x", "", kMinTime, kMaxTime, "other"));
  auto problems = db_->Check();
  ASSERT_TRUE(problems.ok());
  ASSERT_EQ(1u, problems->size());  // still reported: check says DAMAGED
  EXPECT_NE(std::string::npos, (*problems)[0].message.find("footer torn"));
}

TEST_F(StorageFaultTest, DamagedBlockFailsOnlyTheReadsThatTouchItUntilDeleted) {
  WriteThreeSeriesAndFlush();
  db_.reset();
  DamageFirstBlock(DbSegment());
  Reopen();
  ExpectDataLossWithoutPath(Count("cpu", "a"));
  ExpectDataLossWithoutPath(Count("cpu"));
  EXPECT_EQ(100u, *Count("cpu", "b"));
  EXPECT_EQ(100u, *Count("mem"));
  EXPECT_EQ(0u, *Count("cpu", "a", kT0 + 1000 * kSec, kMaxTime));  // outside the block
  // A DELETE covering the damaged points makes the reads work again.
  DeleteRequest del;
  del.database = "db";
  del.measurement = "cpu";
  del.matchers.push_back(TagMatcher{"host", TagOp::kEqual, "a"});
  ASSERT_OK(db_->Delete(del));
  EXPECT_EQ(100u, *Count("cpu"));
  EXPECT_EQ(0u, *Count("cpu", "a"));
}

TEST_F(StorageFaultTest, DropMeasurementClearsADamagedBlock) {
  WriteThreeSeriesAndFlush();
  db_.reset();
  DamageFirstBlock(DbSegment());
  Reopen();
  ExpectDataLossWithoutPath(Count("cpu"));
  ASSERT_OK(db_->DropMeasurement("db", "cpu"));
  EXPECT_EQ(0u, *Count("cpu"));
  EXPECT_EQ(100u, *Count("mem"));
}

TEST_F(StorageFaultTest, SkipDamagedBlocksAnswersFromTheRestAndCounts) {
  WriteThreeSeriesAndFlush();
  db_.reset();
  DamageFirstBlock(DbSegment());
  options_.skip_damaged_blocks = true;
  Reopen();
  EXPECT_EQ(100u, *Count("cpu"));
  EXPECT_EQ(0u, *Count("cpu", "a"));
  EXPECT_EQ(2u, db_->Stats().damaged_blocks_skipped);
}

TEST_F(StorageFaultTest, UnreadableSegmentFailsOnlyReadsOfItsDatabaseAndTimeRange) {
  WriteThreeSeriesAndFlush();
  // A second segment, later in the same day, stays readable.
  Write("db", "mem,host=a v=7 " + std::to_string(kT0 + 3600 * kSec));
  ASSERT_OK(db_->Flush());
  db_.reset();
  auto segs = SegmentFiles();
  ASSERT_EQ(3u, segs.size());  // db: two, other: one
  // The first segment of "db" (the lowest id): cut into its index.
  std::string victim;
  for (const auto& s : segs) {
    auto r = segment::SegmentReader::Open(s);
    ASSERT_TRUE(r.ok());
    if ((*r)->info().points == 300) victim = s;
  }
  ASSERT_FALSE(victim.empty());
  Truncate(victim, 40);
  Reopen();
  ExpectDataLossWithoutPath(Count("cpu"));
  EXPECT_EQ(1u, *Count("mem", "", kT0 + 1000 * kSec, kMaxTime));  // outside its time range
  EXPECT_EQ(1u, *Count("x", "", kMinTime, kMaxTime, "other"));    // another database
  // Repair quarantines it; reads then work with what is left.
  auto rep = db_->Repair();
  ASSERT_TRUE(rep.ok()) << rep.status();
  ASSERT_EQ(1u, rep->size());
  EXPECT_EQ(300u, (*rep)[0].points_lost);
  EXPECT_TRUE((*rep)[0].salvaged_file.empty());
  EXPECT_EQ(0u, *Count("cpu"));
  EXPECT_EQ(1u, *Count("mem"));
  EXPECT_TRUE(FileExists(options_.data_dir + "/quarantine/" + fs::path(victim).filename().string()));
  Reopen();
  EXPECT_EQ(1u, *Count("mem"));
  auto problems = db_->Check();
  ASSERT_TRUE(problems.ok());
  EXPECT_TRUE(problems->empty());
}

TEST_F(StorageFaultTest, RepairSalvagesEveryIntactBlockAndKeepsDeletesAndOverwrites) {
  WriteThreeSeriesAndFlush();
  // A newer segment overwrites one point of mem; a delete hides another.
  Write("db", "mem,host=a v=1000 " + std::to_string(kT0 + 5 * kSec));
  ASSERT_OK(db_->Flush());
  DeleteRequest del;
  del.database = "db";
  del.measurement = "mem";
  del.min_time = kT0 + 7 * kSec;
  del.max_time = kT0 + 7 * kSec;
  ASSERT_OK(db_->Delete(del));
  db_.reset();
  std::string victim;
  for (const auto& s : SegmentFiles()) {
    auto r = segment::SegmentReader::Open(s);
    ASSERT_TRUE(r.ok());
    if ((*r)->info().points == 300) victim = s;
  }
  ASSERT_FALSE(victim.empty());
  DamageFirstBlock(victim);
  Reopen();
  auto rep = db_->Repair();
  ASSERT_TRUE(rep.ok()) << rep.status();
  ASSERT_EQ(1u, rep->size());
  const RepairedSegment& r = (*rep)[0];
  EXPECT_EQ(1u, r.blocks_lost);
  EXPECT_EQ(100u, r.points_lost);
  ASSERT_EQ(1u, r.lost.size());
  EXPECT_NE(std::string::npos, r.lost[0].find("cpu,host=a v")) << r.lost[0];
  EXPECT_FALSE(r.salvaged_file.empty());
  for (int round = 0; round < 2; round++) {  // before and after a reopen
    EXPECT_EQ(0u, *Count("cpu", "a"));
    EXPECT_EQ(100u, *Count("cpu", "b"));
    EXPECT_EQ(99u, *Count("mem"));  // the deleted point stays deleted
    ScanRequest req;
    req.database = "db";
    req.measurement = "mem";
    req.min_time = kT0 + 5 * kSec;
    req.max_time = kT0 + 5 * kSec;
    double v = -1;
    ASSERT_OK(db_->Scan(req, [&](const SeriesData& sd) {
      if (!sd.columns.empty() && sd.columns[0].size() == 1) v = sd.columns[0].floats[0];
      return absl::OkStatus();
    }));
    EXPECT_EQ(1000, v);  // the newer write still wins
    auto problems = db_->Check();
    ASSERT_TRUE(problems.ok());
    EXPECT_TRUE(problems->empty());
    Reopen();
  }
}

TEST_F(StorageFaultTest, CompactionSkipsAPartitionWithDamageAndCompactsTheOthers) {
  options_.compaction_trigger = 2;
  Reopen();
  WriteThreeSeriesAndFlush();  // day 1: the 300-point segment, damaged below
  Write("db", "mem,host=a v=1 " + std::to_string(kT0 + 200 * kSec));
  ASSERT_OK(db_->Flush());
  const int64_t day = 86400 * kSec;
  for (int i = 0; i < 2; i++) {  // day 2: two segments
    Write("db", "mem,host=a v=1 " + std::to_string(kT0 + day + i * kSec));
    ASSERT_OK(db_->Flush());
  }
  db_.reset();
  DamageFirstBlock(DbSegment());
  const size_t before = SegmentFiles().size();
  Reopen();
  // Day 1 cannot be compacted (a damaged block), day 2 still is, and the
  // round reports no error (it would be logged every second).
  for (int round = 0; round < 2; round++) ASSERT_OK(static_cast<DBImpl*>(db_.get())->MaintainForTesting());
  EXPECT_EQ(before - 1, db_->Stats().segments);
  EXPECT_EQ(103u, *Count("mem"));
  ExpectDataLossWithoutPath(Count("cpu", "a"));
}

// Everything under a directory: relative path -> (mode, bytes).
std::map<std::string, std::pair<unsigned, std::string>> Snapshot(const std::string& dir) {
  std::map<std::string, std::pair<unsigned, std::string>> out;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
    struct stat st;
    EXPECT_EQ(0, ::lstat(it->path().c_str(), &st));
    std::string data;
    if (S_ISREG(st.st_mode)) {
      std::ifstream f(it->path(), std::ios::binary);
      data.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
    out[fs::relative(it->path(), dir).string()] = {st.st_mode, data};
  }
  return out;
}

TEST_F(StorageFaultTest, ReadOnlyOpenChangesNothingInTheDirectory) {
  WriteThreeSeriesAndFlush();
  options_.flush_on_close = false;
  Reopen();
  Write("db", "mem,host=z v=1 " + std::to_string(kT0));  // only in the WAL
  db_.reset();
  // A torn WAL tail, which a normal open would cut.
  for (const auto& e : fs::directory_iterator(options_.data_dir + "/wal")) {
    if (fs::file_size(e.path()) > 0) {
      std::ofstream(e.path(), std::ios::app | std::ios::binary) << "torn";
    }
  }
  const auto before = Snapshot(options_.data_dir);
  Options ro = options_;
  ro.read_only = true;
  {
    auto db = DB::Open(ro);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    EXPECT_EQ(101u, *Count("mem"));  // the WAL record is read, not replayed into files
    auto problems = db_->Check();
    ASSERT_TRUE(problems.ok());
    EXPECT_TRUE(problems->empty());
    EXPECT_FALSE(db_->WriteLineProtocol("db", "mem v=1", WriteOptions{}).ok());
    EXPECT_FALSE(db_->Flush().ok());
    EXPECT_OK(db_->Close());
    db_.reset();
  }
  const auto after = Snapshot(options_.data_dir);
  ASSERT_EQ(before.size(), after.size());
  for (const auto& [name, v] : before) {
    auto it = after.find(name);
    ASSERT_NE(it, after.end()) << name;
    EXPECT_EQ(v.first, it->second.first) << name;
    EXPECT_TRUE(v.second == it->second.second) << name << " changed";
  }
  // A server holding the directory keeps a read-only open out.
  Reopen();
  auto db = DB::Open(ro);
  EXPECT_FALSE(db.ok());
}

TEST_F(StorageFaultTest, DataDirectoryIsOwnerOnly) {
  const mode_t old = ::umask(022);  // the usual umask: 0644 files unless we say otherwise
  db_.reset();
  fs::remove_all(options_.data_dir);
  Reopen();
  ::umask(old);
  ASSERT_OK(db_->CreateDatabase({"db", 0, 0}));
  ASSERT_OK(db_->CreateDatabase({"other", 0, 0}));
  WriteThreeSeriesAndFlush();
  ASSERT_OK(db_->Close());
  db_.reset();
  struct stat st;
  ASSERT_EQ(0, ::stat(options_.data_dir.c_str(), &st));
  EXPECT_EQ(0700u, st.st_mode & 0777);
  int files = 0;
  for (auto it = fs::recursive_directory_iterator(options_.data_dir);
       it != fs::recursive_directory_iterator(); ++it) {
    ASSERT_EQ(0, ::lstat(it->path().c_str(), &st));
    if (S_ISDIR(st.st_mode)) {
      EXPECT_EQ(0700u, st.st_mode & 0777) << it->path();
    } else {
      EXPECT_EQ(0600u, st.st_mode & 0777) << it->path();
      files++;
    }
  }
  EXPECT_GT(files, 5);  // LOCK, a segment, a WAL segment, RocksDB's CURRENT, MANIFEST, OPTIONS, ...
}

}  // namespace
}  // namespace m2mdb
