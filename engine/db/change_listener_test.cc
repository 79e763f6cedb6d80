// Options::change_listener (m2mdb/change_listener.h): what the engine tells
// the listener and when — per series and batch on write, again on WAL
// replay, before deletes and drops, and a checkpoint before the WAL
// checkpoint moves whose failure keeps the WAL.
#include "m2mdb/change_listener.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "m2mdb/db.h"
#include "tests/support/test_util.h"

namespace m2mdb {
namespace {

struct Recorder : ChangeListener {
  struct Write {
    std::string database;
    std::map<std::string, std::pair<int64_t, int64_t>> series;  // key -> min, max
    bool replay;
  };
  std::vector<Write> writes;
  std::vector<std::string> deletes;  // kind:database:measurement and the series still there
  int checkpoints = 0;
  Status checkpoint_status;
  DB* db_for_delete = nullptr;

  bool Watches(std::string_view database) override { return database != "ignored"; }
  void OnWrite(const WriteChange& c) override {
    Write w{std::string(c.database), {}, c.replay};
    for (size_t i = 0; i < c.count; i++) {
      SeriesKey k;
      EXPECT_TRUE(c.lookup->Describe(c.series[i].series_id, &k));
      auto [it, fresh] = w.series.try_emplace(k.key, c.series[i].min_time, c.series[i].max_time);
      if (!fresh) {  // a series may come twice in a batch; ranges must still cover
        it->second.first = std::min(it->second.first, c.series[i].min_time);
        it->second.second = std::max(it->second.second, c.series[i].max_time);
      }
    }
    writes.push_back(std::move(w));
  }
  Status OnDelete(DB& db, const DeleteChange& c) override {
    auto series = db.Series(c.database, c.measurement, c.matchers ? *c.matchers : std::vector<TagMatcher>{});
    std::string s = std::to_string(static_cast<int>(c.kind)) + ":" + std::string(c.database) + ":" +
                    std::string(c.measurement) + ":";
    if (series.ok()) {
      for (const auto& k : *series) s += k.key + ";";
    }
    deletes.push_back(s);
    return absl::OkStatus();
  }
  Status Checkpoint(DB&) override {
    checkpoints++;
    return checkpoint_status;
  }
};

class ChangeListenerTest : public ::testing::Test {
 protected:
  void Open() {
    Options o;
    o.data_dir = dir_.path();
    o.wal_sync = WalSyncMode::kNone;
    o.background_work = false;
    o.flush_on_close = false;
    o.change_listener = &rec_;
    auto db = DB::Open(o);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }
  void TearDown() override {
    if (db_) (void)db_->Close();
  }
  testing::TempDir dir_;
  Recorder rec_;
  std::unique_ptr<DB> db_;
};

TEST_F(ChangeListenerTest, WritesReplayDeletesAndCheckpoints) {
  Open();
  ASSERT_OK(db_->CreateDatabase({.name = "d"}));
  ASSERT_OK(db_->CreateDatabase({.name = "ignored"}));
  auto r = db_->WriteLineProtocol(
      "d", "m,h=a v=1 5\nm,h=b v=1,w=2 7\nm,h=a v=2 -9223372036854775806\nm,h=a v=3 9223372036854775806\n",
      {});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(rec_.writes.size(), 1u);
  EXPECT_FALSE(rec_.writes[0].replay);
  EXPECT_EQ(rec_.writes[0].database, "d");
  using P = std::pair<int64_t, int64_t>;
  EXPECT_EQ(rec_.writes[0].series,
            (std::map<std::string, P>{{"m,h=a", P{kMinTime, kMaxTime}}, {"m,h=b", P{7, 7}}}));
  // Typed points too; a database the listener does not watch: nothing.
  Point p;
  p.measurement = "m";
  p.tags = {{"h", "c"}};
  p.fields = {{"v", FieldValue::Float(1)}};
  p.timestamp = 42;
  ASSERT_TRUE(db_->WritePoints("d", {p}, {}).ok());
  ASSERT_TRUE(db_->WriteLineProtocol("ignored", "m v=1 1\n", {}).ok());
  ASSERT_EQ(rec_.writes.size(), 2u);
  EXPECT_EQ(rec_.writes[1].series, (std::map<std::string, P>{{"m,h=c", P{42, 42}}}));

  // Replay after a crash (no flush): the same changes again.
  ASSERT_OK(db_->Close());
  db_.reset();
  rec_.writes.clear();
  Open();
  ASSERT_EQ(rec_.writes.size(), 2u);  // "ignored" is filtered
  EXPECT_TRUE(rec_.writes[0].replay);
  EXPECT_EQ(rec_.writes[0].series.size(), 2u);

  // A failing checkpoint fails the flush and keeps the WAL.
  rec_.checkpoint_status = absl::UnavailableError("disk full");
  EXPECT_FALSE(db_->Flush().ok());
  EXPECT_GE(rec_.checkpoints, 1);
  ASSERT_OK(db_->Close());
  db_.reset();
  rec_.writes.clear();
  rec_.checkpoint_status = absl::OkStatus();
  Open();
  EXPECT_EQ(rec_.writes.size(), 2u);  // still replayed
  ASSERT_OK(db_->Flush());
  ASSERT_OK(db_->Close());
  db_.reset();
  rec_.writes.clear();
  Open();
  EXPECT_EQ(rec_.writes.size(), 0u);  // checkpointed: nothing to replay

  // Deletes and drops are announced before they apply (their series still exist).
  ASSERT_OK(db_->Delete({.database = "d", .measurement = "m", .matchers = {{"h", TagOp::kEqual, "b"}}}));
  ASSERT_OK(db_->DropSeries("d", "m", {{"h", TagOp::kEqual, "c"}}));
  ASSERT_OK(db_->DropMeasurement("d", "m"));
  ASSERT_OK(db_->DropDatabase("d"));
  EXPECT_EQ(rec_.deletes,
            (std::vector<std::string>{"0:d:m:m,h=b;", "1:d:m:m,h=c;", "1:d:m:m,h=a;m,h=b;", "3:d::"}));
}

}  // namespace
// A listener that keeps its marks in the engine's app metadata (as the
// continuous queries do) must be able to store them during the flush on
// close and during a flush in the WAL replay; otherwise every shutdown left
// the head in the WAL ("flush on close failed ... database is closed").
struct MetaListener : ChangeListener {
  int checkpoints = 0;
  Status last;
  bool Watches(std::string_view) override { return true; }
  void OnWrite(const WriteChange&) override {}
  Status OnDelete(DB&, const DeleteChange&) override { return absl::OkStatus(); }
  Status Checkpoint(DB& db) override {
    checkpoints++;
    auto listed = db.ListAppMeta("test/");
    last = listed.ok() ? db.PutAppMeta("test/marks", std::to_string(checkpoints)) : listed.status();
    return last;
  }
};

TEST(ChangeListenerCloseTest, FlushOnCloseStoresMarksAndEmptiesTheWal) {
  testing::TempDir dir;
  MetaListener listener;
  auto open = [&] {
    Options o;
    o.data_dir = dir.path();
    o.wal_sync = WalSyncMode::kNone;
    o.background_work = false;
    o.flush_on_close = true;
    o.change_listener = &listener;
    return DB::Open(o);
  };
  {
    auto db = open();
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_OK((*db)->CreateDatabase({.name = "d"}));
    ASSERT_TRUE((*db)->WriteLineProtocol("d", "m v=1 1\nm v=2 2\n", {}).ok());
    ASSERT_OK((*db)->Close());
  }
  EXPECT_GE(listener.checkpoints, 1);
  EXPECT_OK(listener.last);
  auto db = open();
  ASSERT_TRUE(db.ok()) << db.status();
  DBStats st = (*db)->Stats();
  EXPECT_EQ(st.replayed_records, 0u);  // the close flushed: nothing left to replay
  EXPECT_GE(st.segments, 1u);
  auto marks = (*db)->ListAppMeta("test/");
  ASSERT_TRUE(marks.ok());
  ASSERT_EQ(marks->size(), 1u);
  EXPECT_EQ((*marks)[0].second, std::to_string(listener.checkpoints));
  ASSERT_OK((*db)->Close());
  // After Close the metadata is refused like everything else.
  EXPECT_FALSE((*db)->PutAppMeta("test/x", "y").ok());
}

}  // namespace m2mdb
