#include "engine/index/index.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <malloc.h>
#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/write_batch.h"

#include "engine/util/coding.h"
#include "engine/util/file.h"

namespace m2mdb::index {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

inline const Status& StatusOf(const Status& s) { return s; }
template <typename T>
Status StatusOf(const StatusOr<T>& s) {
  return s.status();
}

#define ASSERT_OK(expr)                               \
  do {                                                \
    auto m2mdb_s_ = (expr);                           \
    ASSERT_TRUE(m2mdb_s_.ok()) << StatusOf(m2mdb_s_); \
  } while (0)

// ASSERT_OK_AND_ASSIGN(lhs, expr) for StatusOr.
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(M2MDB_STATUS_CONCAT_(m2mdb_or_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  ASSERT_TRUE(tmp.ok()) << tmp.status();           \
  lhs = std::move(tmp).value()

class IndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = absl::StrCat(::testing::TempDir(), "/m2mdb_index_", info->name(), "_", getpid());
    ASSERT_OK(RemoveAll(dir_));
    Reopen();
  }
  void TearDown() override {
    if (index_ != nullptr) ExpectOk(index_->Close());
    index_.reset();
    ExpectOk(RemoveAll(dir_));
  }
  static void ExpectOk(const Status& s) { EXPECT_TRUE(s.ok()) << s; }

  void Reopen() {
    if (index_ != nullptr) ASSERT_OK(index_->Close());
    index_.reset();
    auto r = Index::Open(dir_);
    ASSERT_TRUE(r.ok()) << r.status();
    index_ = std::move(r).value();
  }

  uint32_t MakeDb(const std::string& name) {
    DatabaseInfo info;
    info.name = name;
    auto r = index_->CreateDatabase(info);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->id : 0;
  }
  uint64_t Series(uint32_t db, std::string_view key) {
    auto r = index_->GetOrCreateSeries(db, key);
    EXPECT_TRUE(r.ok()) << r.status() << " key=" << key;
    return r.ok() ? *r : 0;
  }

  // Every raw RocksDB key, for checking what a drop left behind.
  std::vector<std::string> RawKeys() {
    std::vector<std::string> keys;
    rocksdb::DB* raw = nullptr;
    rocksdb::Options o;
    rocksdb::Status s = rocksdb::DB::OpenForReadOnly(o, dir_, &raw);
    EXPECT_TRUE(s.ok()) << s.ToString();
    if (!s.ok()) return keys;
    std::unique_ptr<rocksdb::DB> db(raw);
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) keys.push_back(it->key().ToString());
    return keys;
  }

  std::string dir_;
  std::unique_ptr<Index> index_;
};

TEST_F(IndexTest, CreateDatabaseAssignsIdsAndIsIdempotent) {
  DatabaseInfo info;
  info.name = "telemetry";
  info.retention_ns = 3600;
  ASSERT_OK_AND_ASSIGN(DatabaseInfo a, index_->CreateDatabase(info));
  EXPECT_NE(a.id, 0u);
  EXPECT_EQ(a.name, "telemetry");
  EXPECT_EQ(a.retention_ns, 3600);
  EXPECT_EQ(a.partition_ns, 86400ll * 1000000000ll);

  info.retention_ns = 7200;  // ignored: CREATE DATABASE on an existing name changes nothing
  ASSERT_OK_AND_ASSIGN(DatabaseInfo again, index_->CreateDatabase(info));
  EXPECT_EQ(again.id, a.id);
  EXPECT_EQ(again.retention_ns, 3600);

  info.name = "other";
  ASSERT_OK_AND_ASSIGN(DatabaseInfo b, index_->CreateDatabase(info));
  EXPECT_NE(b.id, a.id);

  info.name = "";
  EXPECT_EQ(index_->CreateDatabase(info).status().code(), absl::StatusCode::kInvalidArgument);
  info.name = "bad";
  info.partition_ns = 0;
  EXPECT_EQ(index_->CreateDatabase(info).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(IndexTest, GetListAndUpdateDatabases) {
  MakeDb("zeta");
  uint32_t alpha = MakeDb("alpha");
  EXPECT_FALSE(index_->GetDatabase("nope").has_value());
  auto got = index_->GetDatabase("alpha");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id, alpha);
  auto list = index_->ListDatabases();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "alpha");
  EXPECT_EQ(list[1].name, "zeta");

  DatabaseInfo upd = *got;
  upd.id = 999;  // ignored: the id belongs to the store
  upd.retention_ns = 42;
  upd.partition_ns = 3600ll * 1000000000ll;
  ASSERT_OK(index_->UpdateDatabase(upd));
  Reopen();
  got = index_->GetDatabase("alpha");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id, alpha);
  EXPECT_EQ(got->retention_ns, 42);
  EXPECT_EQ(got->partition_ns, 3600ll * 1000000000ll);

  upd.name = "missing";
  EXPECT_EQ(index_->UpdateDatabase(upd).code(), absl::StatusCode::kNotFound);
}

TEST_F(IndexTest, SeriesIdsAreUniqueAndStable) {
  uint32_t db = MakeDb("db");
  uint32_t db2 = MakeDb("db2");
  bool created = false;
  ASSERT_OK_AND_ASSIGN(uint64_t a, index_->GetOrCreateSeries(db, "cpu,host=a", &created));
  EXPECT_TRUE(created);
  ASSERT_OK_AND_ASSIGN(uint64_t a2, index_->GetOrCreateSeries(db, "cpu,host=a", &created));
  EXPECT_FALSE(created);
  EXPECT_EQ(a, a2);
  uint64_t b = Series(db, "cpu,host=b");
  uint64_t c = Series(db2, "cpu,host=a");  // same key, other database: other series
  EXPECT_NE(a, 0u);
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(b, c);

  EXPECT_EQ(index_->FindSeries(db, "cpu,host=a"), a);
  EXPECT_EQ(index_->FindSeries(db2, "cpu,host=a"), c);
  EXPECT_FALSE(index_->FindSeries(db, "cpu,host=zz").has_value());
  EXPECT_FALSE(index_->FindSeries(12345, "cpu,host=a").has_value());
  EXPECT_EQ(index_->SeriesKeyOf(b), "cpu,host=b");
  EXPECT_FALSE(index_->SeriesKeyOf(987654).has_value());
  EXPECT_EQ(index_->SeriesCount(db), 2u);
  EXPECT_EQ(index_->SeriesCount(db2), 1u);
  EXPECT_EQ(index_->SeriesCount(777), 0u);

  EXPECT_EQ(index_->GetOrCreateSeries(777, "cpu").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(index_->GetOrCreateSeries(db, "").status().code(), absl::StatusCode::kInvalidArgument);

  Reopen();
  EXPECT_EQ(index_->FindSeries(db, "cpu,host=a"), a);
  EXPECT_EQ(index_->FindSeries(db, "cpu,host=b"), b);
  EXPECT_EQ(index_->FindSeries(db2, "cpu,host=a"), c);
  // New ids after reopen do not collide with old ones.
  uint64_t d = Series(db, "cpu,host=d");
  EXPECT_GT(d, std::max({a, b, c}));
}

TEST_F(IndexTest, MeasurementsTagsAndPostings) {
  uint32_t db = MakeDb("db");
  uint64_t s1 = Series(db, "cpu,host=a,region=eu");
  uint64_t s2 = Series(db, "cpu,host=b,region=eu");
  uint64_t s3 = Series(db, "cpu,host=c,region=us");
  uint64_t s4 = Series(db, "mem,host=a");
  uint64_t s5 = Series(db, "disk");  // no tags
  // Escaped characters are stored unescaped in the tag index.
  uint64_t s6 = Series(db, "net,if=eth\\ 0,path=a\\,b\\=c");

  EXPECT_THAT(index_->Measurements(db), ElementsAre("cpu", "disk", "mem", "net"));
  EXPECT_THAT(index_->SeriesOfMeasurement(db, "cpu"), ElementsAre(s1, s2, s3));
  EXPECT_THAT(index_->SeriesOfMeasurement(db, "disk"), ElementsAre(s5));
  EXPECT_THAT(index_->SeriesOfMeasurement(db, "nope"), IsEmpty());
  EXPECT_THAT(index_->TagKeys(db, "cpu"), ElementsAre("host", "region"));
  EXPECT_THAT(index_->TagKeys(db, "disk"), IsEmpty());
  EXPECT_THAT(index_->TagValues(db, "cpu", "host"), ElementsAre("a", "b", "c"));
  EXPECT_THAT(index_->TagValues(db, "cpu", "region"), ElementsAre("eu", "us"));
  EXPECT_THAT(index_->TagValues(db, "cpu", "nope"), IsEmpty());
  EXPECT_THAT(index_->SeriesWithTag(db, "cpu", "region", "eu"), ElementsAre(s1, s2));
  EXPECT_THAT(index_->SeriesWithTag(db, "cpu", "host", "a"), ElementsAre(s1));
  EXPECT_THAT(index_->SeriesWithTag(db, "mem", "host", "a"), ElementsAre(s4));
  EXPECT_THAT(index_->SeriesWithTag(db, "cpu", "host", "zz"), IsEmpty());
  EXPECT_THAT(index_->TagValues(db, "net", "if"), ElementsAre("eth 0"));
  EXPECT_THAT(index_->SeriesWithTag(db, "net", "path", "a,b=c"), ElementsAre(s6));
  EXPECT_THAT(index_->Measurements(db + 100), IsEmpty());

  Reopen();
  EXPECT_THAT(index_->Measurements(db), ElementsAre("cpu", "disk", "mem", "net"));
  EXPECT_THAT(index_->SeriesOfMeasurement(db, "cpu"), ElementsAre(s1, s2, s3));
  EXPECT_THAT(index_->TagKeys(db, "cpu"), ElementsAre("host", "region"));
  EXPECT_THAT(index_->TagValues(db, "cpu", "region"), ElementsAre("eu", "us"));
  EXPECT_THAT(index_->SeriesWithTag(db, "cpu", "region", "eu"), ElementsAre(s1, s2));
  EXPECT_THAT(index_->SeriesWithTag(db, "net", "path", "a,b=c"), ElementsAre(s6));
}

TEST_F(IndexTest, DeleteSeriesRemovesKeysAndPostings) {
  uint32_t db = MakeDb("db");
  uint64_t s1 = Series(db, "cpu,host=a,region=eu");
  uint64_t s2 = Series(db, "cpu,host=b,region=eu");
  uint64_t s3 = Series(db, "mem,host=a");
  ASSERT_OK_AND_ASSIGN(FieldInfo f, index_->GetOrCreateField(db, "mem", "used", FieldType::kInteger));

  ASSERT_OK(index_->DeleteSeries(db, {s1, 424242}));  // unknown ids are ignored
  auto check = [&] {
    EXPECT_FALSE(index_->FindSeries(db, "cpu,host=a,region=eu").has_value());
    EXPECT_FALSE(index_->SeriesKeyOf(s1).has_value());
    EXPECT_EQ(index_->SeriesCount(db), 2u);
    EXPECT_THAT(index_->SeriesOfMeasurement(db, "cpu"), ElementsAre(s2));
    EXPECT_THAT(index_->TagValues(db, "cpu", "host"), ElementsAre("b"));
    EXPECT_THAT(index_->SeriesWithTag(db, "cpu", "region", "eu"), ElementsAre(s2));
    EXPECT_THAT(index_->SeriesWithTag(db, "cpu", "host", "a"), IsEmpty());
  };
  check();
  Reopen();
  check();

  // Deleting every series of a measurement hides it; its fields stay until
  // DeleteFields (DROP MEASUREMENT does both).
  ASSERT_OK(index_->DeleteSeries(db, {s3}));
  EXPECT_THAT(index_->Measurements(db), ElementsAre("cpu"));
  EXPECT_THAT(index_->TagKeys(db, "mem"), IsEmpty());
  EXPECT_EQ(index_->FindField(db, "mem", "used")->id, f.id);
  // A re-created series gets a new id.
  uint64_t again = Series(db, "cpu,host=a,region=eu");
  EXPECT_GT(again, s3);
  Reopen();
  EXPECT_THAT(index_->Measurements(db), ElementsAre("cpu"));
  EXPECT_THAT(index_->SeriesOfMeasurement(db, "cpu"), ElementsAre(s2, again));
  EXPECT_EQ(index_->DeleteSeries(db + 50, {s2}).code(), absl::StatusCode::kNotFound);
}

TEST_F(IndexTest, DeleteManySeriesOfOneMeasurement) {
  uint32_t db = MakeDb("db");
  std::vector<uint64_t> odd, even;
  for (int i = 0; i < 2000; i++) {
    uint64_t id = Series(db, absl::StrCat("cpu,host=h", i, ",rack=r", i % 10));
    (i % 2 ? odd : even).push_back(id);
  }
  ASSERT_OK(index_->DeleteSeries(db, odd));
  EXPECT_EQ(index_->SeriesOfMeasurement(db, "cpu"), even);
  EXPECT_EQ(index_->TagValues(db, "cpu", "host").size(), 1000u);
  EXPECT_THAT(index_->TagValues(db, "cpu", "rack"), ElementsAre("r0", "r2", "r4", "r6", "r8"));
  EXPECT_EQ(index_->SeriesWithTag(db, "cpu", "rack", "r0").size(), 200u);
  Reopen();
  EXPECT_EQ(index_->SeriesOfMeasurement(db, "cpu"), even);
  EXPECT_THAT(index_->TagValues(db, "cpu", "rack"), ElementsAre("r0", "r2", "r4", "r6", "r8"));
}

TEST_F(IndexTest, ConcurrentGetOrCreateSeriesYieldsOneIdPerKey) {
  uint32_t db = MakeDb("db");
  constexpr int kThreads = 8;
  constexpr int kKeys = 500;
  std::vector<std::vector<uint64_t>> ids(kThreads, std::vector<uint64_t>(kKeys));
  std::atomic<int> created{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kKeys; k++) {
        // Threads walk the keys in different orders to collide on creation.
        int key = (t % 2 == 0) ? k : kKeys - 1 - k;
        bool c = false;
        auto r = index_->GetOrCreateSeries(db, absl::StrCat("m,k=", key), &c);
        if (!r.ok()) {
          errors++;
          continue;
        }
        if (c) created++;
        ids[t][key] = *r;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(created.load(), kKeys);
  for (int t = 1; t < kThreads; t++) EXPECT_EQ(ids[t], ids[0]);
  std::vector<uint64_t> sorted = ids[0];
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end());
  EXPECT_EQ(index_->SeriesCount(db), static_cast<uint64_t>(kKeys));
  EXPECT_EQ(index_->SeriesOfMeasurement(db, "m"), sorted);
}

TEST_F(IndexTest, FieldsAndTypeConflict) {
  uint32_t db = MakeDb("db");
  uint32_t db2 = MakeDb("db2");
  ASSERT_OK_AND_ASSIGN(FieldInfo f, index_->GetOrCreateField(db, "m", "f", FieldType::kFloat));
  EXPECT_NE(f.id, 0u);
  EXPECT_EQ(f.name, "f");
  EXPECT_EQ(f.type, FieldType::kFloat);
  ASSERT_OK_AND_ASSIGN(FieldInfo again, index_->GetOrCreateField(db, "m", "f", FieldType::kFloat));
  EXPECT_EQ(again.id, f.id);

  auto conflict = index_->GetOrCreateField(db, "m", "f", FieldType::kInteger);
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(
      conflict.status().message(),
      "field type conflict: input field \"f\" on measurement \"m\" is type integer, already exists as type "
      "float");

  // Field ids are unique store-wide.
  ASSERT_OK_AND_ASSIGN(FieldInfo g, index_->GetOrCreateField(db, "m", "g", FieldType::kString));
  ASSERT_OK_AND_ASSIGN(FieldInfo other_m, index_->GetOrCreateField(db, "n", "f", FieldType::kInteger));
  ASSERT_OK_AND_ASSIGN(FieldInfo other_db, index_->GetOrCreateField(db2, "m", "f", FieldType::kBoolean));
  std::vector<uint32_t> all = {f.id, g.id, other_m.id, other_db.id};
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::unique(all.begin(), all.end()), all.end());

  ASSERT_OK(index_->GetOrCreateField(db, "m", "a", FieldType::kUnsigned).status());
  auto names = [&](uint32_t d, std::string_view m) {
    std::vector<std::string> out;
    for (const FieldInfo& x : index_->Fields(d, m)) out.push_back(x.name);
    return out;
  };
  EXPECT_THAT(names(db, "m"), ElementsAre("a", "f", "g"));
  EXPECT_FALSE(index_->FindField(db, "m", "zz").has_value());
  EXPECT_FALSE(index_->FindField(db, "zz", "f").has_value());
  EXPECT_EQ(index_->GetOrCreateField(999, "m", "f", FieldType::kFloat).status().code(),
            absl::StatusCode::kNotFound);
  // Fields alone do not make a measurement visible (SHOW MEASUREMENTS lists series).
  EXPECT_THAT(index_->Measurements(db), IsEmpty());

  Reopen();
  EXPECT_THAT(names(db, "m"), ElementsAre("a", "f", "g"));
  EXPECT_EQ(index_->FindField(db, "m", "g")->id, g.id);
  EXPECT_EQ(index_->FindField(db, "m", "g")->type, FieldType::kString);
  EXPECT_EQ(index_->FindField(db2, "m", "f")->type, FieldType::kBoolean);
  EXPECT_EQ(index_->GetOrCreateField(db, "m", "f", FieldType::kInteger).status().message(),
            conflict.status().message());
  ASSERT_OK_AND_ASSIGN(FieldInfo h, index_->GetOrCreateField(db, "m", "h", FieldType::kFloat));
  EXPECT_GT(h.id, all.back());

  ASSERT_OK(index_->DeleteFields(db, "m"));
  EXPECT_THAT(index_->Fields(db, "m"), IsEmpty());
  EXPECT_EQ(index_->FindField(db, "n", "f")->id, other_m.id);
  Reopen();
  EXPECT_THAT(index_->Fields(db, "m"), IsEmpty());
  // After DROP MEASUREMENT the field may come back with another type.
  ASSERT_OK_AND_ASSIGN(FieldInfo f2, index_->GetOrCreateField(db, "m", "f", FieldType::kInteger));
  EXPECT_NE(f2.id, f.id);
}

SegmentMeta Seg(uint64_t id, uint32_t db, std::string file) {
  SegmentMeta s;
  s.id = id;
  s.db_id = db;
  s.partition_start = -86400;
  s.file = std::move(file);
  s.file_bytes = 12345;
  s.min_time = -5;
  s.max_time = 1700000000000000000;
  s.points = 99;
  s.level = 2;
  return s;
}

void ExpectSameSegment(const SegmentMeta& a, const SegmentMeta& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.db_id, b.db_id);
  EXPECT_EQ(a.partition_start, b.partition_start);
  EXPECT_EQ(a.file, b.file);
  EXPECT_EQ(a.file_bytes, b.file_bytes);
  EXPECT_EQ(a.min_time, b.min_time);
  EXPECT_EQ(a.max_time, b.max_time);
  EXPECT_EQ(a.points, b.points);
  EXPECT_EQ(a.level, b.level);
}

TEST_F(IndexTest, SegmentCatalogCommitsAtomicallyWithCheckpoint) {
  uint32_t db = MakeDb("db");
  EXPECT_EQ(index_->WalCheckpoint(), 0u);
  EXPECT_THAT(index_->Segments(), IsEmpty());
  uint64_t id1 = index_->NextSegmentId();
  uint64_t id2 = index_->NextSegmentId();
  uint64_t id3 = index_->NextSegmentId();
  EXPECT_LT(id1, id2);
  EXPECT_LT(id2, id3);
  SegmentMeta a = Seg(id2, db, "a.seg"), b = Seg(id1, db, "b.seg"), c = Seg(id3, db, "c.seg");

  ASSERT_OK(index_->CommitSegments({a, b}, {}, 17));
  EXPECT_EQ(index_->WalCheckpoint(), 17u);
  auto segs = index_->Segments();
  ASSERT_EQ(segs.size(), 2u);
  ExpectSameSegment(segs[0], b);  // sorted by id
  ExpectSameSegment(segs[1], a);

  // A commit that cannot apply changes nothing: not the catalog, not the checkpoint.
  EXPECT_EQ(index_->CommitSegments({c}, {id1, 999999}, 30).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(index_->CommitSegments({a}, {}, 30).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(index_->CommitSegments({Seg(id3, 4242, "x")}, {}, 30).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(index_->WalCheckpoint(), 17u);
  EXPECT_EQ(index_->Segments().size(), 2u);

  // Compaction: c replaces a and b; no checkpoint given keeps the old one.
  ASSERT_OK(index_->CommitSegments({c}, {id1, id2}, std::nullopt));
  EXPECT_EQ(index_->WalCheckpoint(), 17u);
  Reopen();
  EXPECT_EQ(index_->WalCheckpoint(), 17u);
  segs = index_->Segments();
  ASSERT_EQ(segs.size(), 1u);
  ExpectSameSegment(segs[0], c);

  ASSERT_OK(index_->CommitSegments({}, {}, 25));
  Reopen();
  EXPECT_EQ(index_->WalCheckpoint(), 25u);
}

TEST_F(IndexTest, SegmentIdsNeverRepeatAcrossReopen) {
  std::vector<uint64_t> ids;
  for (int i = 0; i < 3; i++) ids.push_back(index_->NextSegmentId());
  Reopen();  // nothing committed: ids must still not come back
  for (int i = 0; i < 200; i++) ids.push_back(index_->NextSegmentId());
  index_.reset();  // destructor closes
  Reopen();
  ids.push_back(index_->NextSegmentId());
  for (size_t i = 1; i < ids.size(); i++) EXPECT_LT(ids[i - 1], ids[i]) << i;

  // A caller-chosen id above the counter pushes it past.
  uint32_t db = MakeDb("db");
  ASSERT_OK(index_->CommitSegments({Seg(ids.back() + 1000, db, "x")}, {}, std::nullopt));
  Reopen();
  EXPECT_GT(index_->NextSegmentId(), ids.back() + 1000);
}

TEST_F(IndexTest, TombstonesRoundTrip) {
  uint32_t db = MakeDb("db");
  Tombstone t;
  t.db_id = db;
  t.measurement = "cpu";
  t.series_ids = {9, 3, 3, 1000000007};
  t.min_time = -100;
  t.max_time = 200;
  t.seq = 77;
  ASSERT_OK_AND_ASSIGN(uint64_t id1, index_->AddTombstone(t));
  Tombstone all;
  all.db_id = db;
  all.measurement = "mem";
  ASSERT_OK_AND_ASSIGN(uint64_t id2, index_->AddTombstone(all));
  EXPECT_NE(id1, id2);
  EXPECT_EQ(index_->AddTombstone(Tombstone{0, 4242, "x", {}, 0, 1, 1}).status().code(),
            absl::StatusCode::kNotFound);

  Reopen();
  auto ts = index_->Tombstones();
  ASSERT_EQ(ts.size(), 2u);
  EXPECT_EQ(ts[0].id, id1);
  EXPECT_EQ(ts[0].db_id, db);
  EXPECT_EQ(ts[0].measurement, "cpu");
  EXPECT_THAT(ts[0].series_ids, ElementsAre(3, 9, 1000000007));  // sorted, unique
  EXPECT_EQ(ts[0].min_time, -100);
  EXPECT_EQ(ts[0].max_time, 200);
  EXPECT_EQ(ts[0].seq, 77u);
  EXPECT_EQ(ts[1].id, id2);
  EXPECT_THAT(ts[1].series_ids, IsEmpty());
  EXPECT_EQ(ts[1].min_time, kMinTime);
  EXPECT_EQ(ts[1].max_time, kMaxTime);

  ASSERT_OK(index_->RemoveTombstones({id1, 31337}));
  Reopen();
  ts = index_->Tombstones();
  ASSERT_EQ(ts.size(), 1u);
  EXPECT_EQ(ts[0].id, id2);
  ASSERT_OK_AND_ASSIGN(uint64_t id3, index_->AddTombstone(t));
  EXPECT_GT(id3, id2);
}

TEST_F(IndexTest, DropDatabaseRemovesEverything) {
  uint32_t keep = MakeDb("keep");
  uint32_t drop = MakeDb("drop");
  uint64_t kept = Series(keep, "cpu,host=a");
  uint64_t gone = Series(drop, "cpu,host=a");
  Series(drop, "mem,host=b,dc=x");
  ASSERT_OK(index_->GetOrCreateField(keep, "cpu", "v", FieldType::kFloat).status());
  ASSERT_OK(index_->GetOrCreateField(drop, "cpu", "v", FieldType::kFloat).status());
  ASSERT_OK(index_->GetOrCreateField(drop, "lonely", "v", FieldType::kFloat).status());
  uint64_t ks = index_->NextSegmentId(), ds = index_->NextSegmentId();
  ASSERT_OK(index_->CommitSegments({Seg(ks, keep, "k"), Seg(ds, drop, "d")}, {}, 5));
  ASSERT_OK(index_->AddTombstone(Tombstone{0, keep, "cpu", {kept}, 0, 1, 1}).status());
  ASSERT_OK(index_->AddTombstone(Tombstone{0, drop, "cpu", {gone}, 0, 1, 1}).status());

  ASSERT_OK(index_->DropDatabase("drop"));
  ASSERT_OK(index_->DropDatabase("never-existed"));  // idempotent like InfluxDB's
  auto check = [&] {
    EXPECT_FALSE(index_->GetDatabase("drop").has_value());
    EXPECT_EQ(index_->ListDatabases().size(), 1u);
    EXPECT_FALSE(index_->SeriesKeyOf(gone).has_value());
    EXPECT_EQ(index_->SeriesCount(drop), 0u);
    EXPECT_THAT(index_->Measurements(drop), IsEmpty());
    EXPECT_FALSE(index_->FindField(drop, "cpu", "v").has_value());
    ASSERT_EQ(index_->Segments().size(), 1u);
    EXPECT_EQ(index_->Segments()[0].db_id, keep);
    ASSERT_EQ(index_->Tombstones().size(), 1u);
    EXPECT_EQ(index_->Tombstones()[0].db_id, keep);
    // The other database is untouched.
    EXPECT_EQ(index_->FindSeries(keep, "cpu,host=a"), kept);
    EXPECT_THAT(index_->SeriesWithTag(keep, "cpu", "host", "a"), ElementsAre(kept));
    EXPECT_TRUE(index_->FindField(keep, "cpu", "v").has_value());
    EXPECT_EQ(index_->WalCheckpoint(), 5u);
  };
  check();
  Reopen();
  check();

  // Nothing of the dropped database is left in RocksDB.
  ASSERT_OK(index_->Close());
  index_.reset();
  std::string be_drop(4, '\0');
  for (int i = 0; i < 4; i++) be_drop[i] = static_cast<char>(drop >> (24 - 8 * i));
  for (const std::string& k : RawKeys()) {
    if (k[0] == 'S' || k[0] == 'P' || k[0] == 'M' || k[0] == 'F') {
      EXPECT_NE(k.substr(1, 4), be_drop) << k;
    }
    EXPECT_NE(k, "Ddrop");
  }
  Reopen();
  // Re-created: a fresh, empty database with a new id.
  uint32_t again = MakeDb("drop");
  EXPECT_NE(again, drop);
  EXPECT_EQ(index_->SeriesCount(again), 0u);
  EXPECT_FALSE(index_->FindSeries(again, "cpu,host=a").has_value());
}

TEST_F(IndexTest, ClosedIndexRejectsWrites) {
  uint32_t db = MakeDb("db");
  ASSERT_OK(index_->Close());
  ASSERT_OK(index_->Close());  // twice is fine
  EXPECT_EQ(index_->GetOrCreateSeries(db, "cpu").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(index_->CreateDatabase(DatabaseInfo{0, "x"}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(index_->CommitSegments({}, {}, 1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(index_->GetDatabase("db").has_value());  // reads still answer from memory
  index_.reset();
}

TEST_F(IndexTest, CorruptValueIsReportedAsDataLoss) {
  MakeDb("db");
  index_.reset();
  {
    rocksdb::DB* raw = nullptr;
    rocksdb::Options o;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir_, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    // A segment entry whose value is truncated.
    std::string key("C\0\0\0\0\0\0\0\x07", 9);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), key, "\x01").ok());
  }
  auto r = Index::Open(dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_NE(r.status().message().find("segment"), absl::string_view::npos) << r.status();
}

TEST_F(IndexTest, CorruptOrUnusableDirectoryGivesCleanError) {
  MakeDb("db");
  ASSERT_OK(index_->Close());
  index_.reset();
  // CURRENT names the manifest; garbage there must fail Open, not crash.
  {
    FILE* f = std::fopen((dir_ + "/CURRENT").c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("garbage-not-a-manifest\n", f);
    std::fclose(f);
  }
  auto r = Index::Open(dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("index"), absl::string_view::npos) << r.status();

  // A manifest deleted from under us.
  ASSERT_OK(RemoveAll(dir_));
  Reopen();
  MakeDb("db");
  ASSERT_OK(index_->Close());
  index_.reset();
  ASSERT_OK_AND_ASSIGN(auto names, ListDir(dir_));
  for (const std::string& n : names) {
    if (n.rfind("MANIFEST", 0) == 0) ASSERT_OK(RemoveFile(dir_ + "/" + n));
  }
  r = Index::Open(dir_);
  EXPECT_FALSE(r.ok());

  // The path is a regular file.
  std::string file = dir_ + "/plainfile";
  {
    FILE* f = std::fopen(file.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
  }
  r = Index::Open(file);
  EXPECT_FALSE(r.ok());
}

// Sanitizer and debug builds are ~10x slower; keep the test under a few seconds there.
#if defined(__SANITIZE_ADDRESS__) || !defined(NDEBUG)
constexpr int kManySeries = 10000;
#else
constexpr int kManySeries = 100000;
#endif

// Not a benchmark: prints load time and memory for 100k series so a
// regression is visible in the log. No timing assertions.
TEST_F(IndexTest, OpenWithManySeries) {
  constexpr int kSeries = kManySeries;
  uint32_t db = MakeDb("db");
  std::vector<std::string> keys;
  keys.reserve(kSeries);
  size_t key_bytes = 0;
  for (int i = 0; i < kSeries; i++) {
    keys.push_back(absl::StrCat("cpu,dc=dc", i % 8, ",host=host-", 1000000 + i, ",rack=r", i % 100));
    key_bytes += keys.back().size();
  }
  auto t0 = std::chrono::steady_clock::now();
  for (const std::string& k : keys) Series(db, k);
  auto t1 = std::chrono::steady_clock::now();
  ASSERT_OK(index_->Close());
  index_.reset();

  struct mallinfo2 before = mallinfo2();
  auto t2 = std::chrono::steady_clock::now();
  Reopen();
  auto t3 = std::chrono::steady_clock::now();
  // Closing frees RocksDB's memtable and caches; the maps stay readable.
  ASSERT_OK(index_->Close());
  struct mallinfo2 after = mallinfo2();
  ASSERT_EQ(index_->SeriesCount(db), static_cast<uint64_t>(kSeries));
  EXPECT_TRUE(index_->FindSeries(db, keys[kSeries / 2]).has_value());
  EXPECT_EQ(index_->SeriesWithTag(db, "cpu", "dc", "dc3").size(), static_cast<size_t>(kSeries / 8));
  EXPECT_EQ(index_->SeriesWithTag(db, "cpu", "host", absl::StrCat("host-", 1000000 + kSeries / 2)).size(),
            1u);

  auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  double heap = static_cast<double>(after.uordblks) - static_cast<double>(before.uordblks);
  std::printf("[ info ] %d series (3 tags, %.1f B avg key): create %lld ms, open %lld ms\n", kSeries,
              static_cast<double>(key_bytes) / kSeries, static_cast<long long>(ms(t1 - t0)),
              static_cast<long long>(ms(t3 - t2)));
#ifndef __SANITIZE_ADDRESS__  // ASan's allocator does not feed mallinfo2
  std::printf("[ info ] index heap %.0f B/series, %.0f B/series beyond the key text\n", heap / kSeries,
              (heap - key_bytes) / kSeries);
#else
  (void)heap;
#endif
}

// Bytes the files under `dir` occupy on disk, counted like `du`
// (st_blocks * 512): preallocated space past a file's end counts.
uint64_t AllocatedBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    struct stat st;
    if (::lstat(e.path().c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  return total;
}

// A gateway with a small disk pays every byte the metadata store holds: a
// store with a few thousand series and no points must not cost megabytes of
// preallocated WAL or MANIFEST space, neither while open nor after a restart
// (issue 18).
TEST_F(IndexTest, SmallStoreHasNoFixedOverheadOnDisk) {
  constexpr int kSeries = 3000;
  uint32_t db = MakeDb("telemetry");
  for (int i = 0; i < kSeries; i++) {
    Series(db, absl::StrCat("readings,fleet=", i % 7, ",model=m", i % 13, ",name=truck_", i));
  }
  for (const char* f : {"latitude", "longitude", "velocity", "fuel"}) {
    ASSERT_OK(index_->GetOrCreateField(db, "readings", f, FieldType::kFloat).status());
  }
  ASSERT_OK(index_->CommitSegments({}, {}, 1));  // a synced write, like a flush's
  const uint64_t open_bytes = AllocatedBytes(dir_);
  Reopen();
  const uint64_t reopened_bytes = AllocatedBytes(dir_);
  ASSERT_OK(index_->Close());
  index_.reset();
  const uint64_t closed_bytes = AllocatedBytes(dir_);
  std::printf("[ info ] %d series: %llu B allocated while open, %llu after a restart, %llu closed\n", kSeries,
              static_cast<unsigned long long>(open_bytes), static_cast<unsigned long long>(reopened_bytes),
              static_cast<unsigned long long>(closed_bytes));
  EXPECT_LT(open_bytes, 1u << 20);
  EXPECT_LT(reopened_bytes, 1u << 20);
  EXPECT_LT(closed_bytes, 1u << 20);
  Reopen();
  EXPECT_EQ(index_->SeriesCount(db), static_cast<uint64_t>(kSeries));
}

TEST(LiteralAlternation, RecognizesOnlyAnchoredLiteralSets) {
  std::vector<std::string> l;
  ASSERT_TRUE(LiteralAlternation("^(?:truck_0|truck_1)$", &l));
  EXPECT_EQ(l, (std::vector<std::string>{"truck_0", "truck_1"}));
  ASSERT_TRUE(LiteralAlternation("^(a|b\\.c|\\(x\\)\\ y\\|)$", &l));
  EXPECT_EQ(l, (std::vector<std::string>{"a", "b.c", "(x) y|"}));
  ASSERT_TRUE(LiteralAlternation("^abc$", &l));
  EXPECT_EQ(l, (std::vector<std::string>{"abc"}));
  ASSERT_TRUE(LiteralAlternation("^(?:|a)$", &l));
  EXPECT_EQ(l, (std::vector<std::string>{"", "a"}));
  ASSERT_TRUE(LiteralAlternation("^a\\\\$", &l));  // ^a\\$: a literal backslash, then the anchor
  EXPECT_EQ(l, (std::vector<std::string>{"a\\"}));
  for (const char* re : {"truck_0", "^truck_0", "truck_0$", "^a|b$", "^(a)|(b)$", "^a.b$", "^a\\d$", "^a\\$",
                         "^(?i)a$", "^(?:a|b)*$", "^a+$", "^[ab]$", "^((a))$", "^\\x41$", "^caf\xc3\xa9$",
                         "^a b$", "^(?:a|b)c$", "^$x$"}) {
    EXPECT_FALSE(LiteralAlternation(re, &l)) << re;
  }
}

// ---- retention policies ----

TEST_F(IndexTest, RetentionPoliciesAreUnitsOfTheirDatabase) {
  const uint32_t a = MakeDb("db");
  DatabaseInfo rp;
  rp.name = "db";
  rp.retention_policy = "week";
  rp.retention_ns = 7;
  rp.partition_ns = 3;
  rp.replication = 2;
  ASSERT_OK_AND_ASSIGN(DatabaseInfo w, index_->CreateRetentionPolicy(rp, /*make_default=*/false));
  EXPECT_NE(w.id, a);
  EXPECT_FALSE(w.is_default);
  EXPECT_EQ(index_->CreateRetentionPolicy(rp, false).status().code(), absl::StatusCode::kAlreadyExists);
  rp.name = "nodb";
  EXPECT_EQ(index_->CreateRetentionPolicy(rp, false).status().code(), absl::StatusCode::kNotFound);
  // Series of one name are separate per policy.
  const uint64_t s1 = Series(a, "cpu,host=a");
  const uint64_t s2 = Series(w.id, "cpu,host=a");
  EXPECT_NE(s1, s2);
  auto check = [&] {
    ASSERT_TRUE(index_->GetDatabase("db").has_value());
    EXPECT_EQ(index_->GetDatabase("db")->id, a);
    EXPECT_TRUE(index_->GetDatabase("db")->is_default);
    auto got = index_->GetRetentionPolicy("db", "week");
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->id, w.id);
    EXPECT_EQ(got->retention_ns, 7);
    EXPECT_EQ(got->partition_ns, 3);
    EXPECT_EQ(got->replication, 2);
    EXPECT_EQ(index_->ListDatabases().size(), 2u);
    EXPECT_THAT(index_->DatabaseNames(), ElementsAre("db"));
    EXPECT_EQ(index_->FindSeries(w.id, "cpu,host=a"), s2);
  };
  check();
  Reopen();
  check();
  // The default moves; dropping it keeps its name as the database's default.
  w.is_default = true;
  ASSERT_OK(index_->UpdateDatabase(w));
  EXPECT_EQ(index_->GetDatabase("db")->id, w.id);
  ASSERT_OK(index_->DropRetentionPolicy("db", "week"));
  EXPECT_FALSE(index_->GetDatabase("db").has_value());
  EXPECT_EQ(index_->DefaultRetentionPolicy("db"), "week");
  EXPECT_FALSE(index_->SeriesKeyOf(s2).has_value());
  EXPECT_EQ(index_->FindSeries(a, "cpu,host=a"), s1);
  Reopen();
  EXPECT_EQ(index_->DefaultRetentionPolicy("db"), "week");
  EXPECT_EQ(index_->ListDatabases().size(), 1u);
  ASSERT_OK(index_->DropDatabase("db"));
  EXPECT_FALSE(index_->DefaultRetentionPolicy("db").has_value());
  ASSERT_OK(index_->Close());
  index_.reset();
  for (const std::string& k : RawKeys()) {
    EXPECT_TRUE(k[0] == 'K') << k;  // nothing of the database is left
  }
  Reopen();
}

// A store written before retention policies (format 1): each database was
// one 'D' record; it opens as policy "autogen", the default, with its data.
TEST_F(IndexTest, FormatOneDatabaseOpensAsItsDefaultPolicyAutogen) {
  DatabaseInfo info;
  info.name = "old";
  info.retention_ns = 5 * 3600ll * 1000000000ll;
  info.partition_ns = 3600ll * 1000000000ll;
  ASSERT_OK_AND_ASSIGN(DatabaseInfo made, index_->CreateDatabase(info));
  const uint64_t s = Series(made.id, "cpu,host=a");
  ASSERT_OK(index_->GetOrCreateField(made.id, "cpu", "v", FieldType::kFloat).status());
  ASSERT_OK(index_->Close());
  index_.reset();
  {
    // Rewrite the metadata as format 1 wrote it.
    rocksdb::DB* raw = nullptr;
    rocksdb::Options o;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir_, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    rocksdb::WriteBatch b;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string k = it->key().ToString();
      if (k[0] == 'B' || k[0] == 'E') b.Delete(k);
    }
    std::string v;
    PutVarint64(&v, made.id);
    PutVarint64(&v, ZigZagEncode(info.retention_ns));
    PutVarint64(&v, ZigZagEncode(info.partition_ns));
    b.Put("Dold", v);
    std::string one;
    PutVarint64(&one, 1);
    b.Put("Kformat_version", one);
    ASSERT_TRUE(db->Write(rocksdb::WriteOptions(), &b).ok());
  }
  Reopen();
  auto check = [&] {
    auto got = index_->GetDatabase("old");
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->id, made.id);
    EXPECT_EQ(got->retention_policy, "autogen");
    EXPECT_TRUE(got->is_default);
    EXPECT_EQ(got->retention_ns, info.retention_ns);
    EXPECT_EQ(got->partition_ns, info.partition_ns);
    EXPECT_EQ(got->replication, 1);
    EXPECT_EQ(index_->FindSeries(made.id, "cpu,host=a"), s);
    EXPECT_TRUE(index_->FindField(made.id, "cpu", "v").has_value());
  };
  check();
  // A policy added to it, then a change of the old record: it moves to 'E'.
  DatabaseInfo rp = info;
  rp.retention_policy = "extra";
  ASSERT_OK(index_->CreateRetentionPolicy(rp, false).status());
  auto upd = *index_->GetDatabase("old");
  upd.retention_ns = 0;
  ASSERT_OK(index_->UpdateDatabase(upd));
  info.retention_ns = 0;
  Reopen();
  check();
  EXPECT_EQ(index_->ListDatabases().size(), 2u);
  ASSERT_OK(index_->Close());
  index_.reset();
  bool has_d = false, version2 = false;
  for (const std::string& k : RawKeys()) has_d |= k[0] == 'D';
  EXPECT_FALSE(has_d);
  {
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::OpenForReadOnly(rocksdb::Options(), dir_, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    std::string v;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), "Kformat_version", &v).ok());
    version2 = v == std::string(1, '\x02');
  }
  EXPECT_TRUE(version2);  // a binary without policies now refuses the store
  Reopen();
}

}  // namespace
}  // namespace m2mdb::index
