// DB::ReadWalChanges and WAL cursors (db_wal_feed.cc): what a durable
// subscription reads back is exactly what was acknowledged, and cursors keep
// the WAL files they need across flushes and reopens.
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "m2mdb/db.h"
#include "tests/support/test_util.h"

namespace m2mdb {
namespace {

using testing::TempDir;

class WalFeedTest : public ::testing::Test {
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
  void Write(std::string_view database, std::string_view body, std::string precision = "ns",
             int64_t default_time = 0) {
    WriteOptions wo;
    wo.precision = precision;
    wo.default_time = default_time;
    auto r = db_->WriteLineProtocol(database, body, wo);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  // Every matching change from `from` on, as "db|lines" strings.
  std::vector<std::string> ReadAll(uint64_t from, const std::string& database = "", uint64_t* next = nullptr,
                                   Status* status = nullptr) {
    std::vector<std::string> out;
    WalReadRequest req;
    req.from_seq = from;
    req.database = database;
    for (;;) {
      auto r = db_->ReadWalChanges(req, [&](const WalChange& c) {
        out.push_back(c.database + "|" + c.lines);
        EXPECT_EQ(c.points, static_cast<uint64_t>(std::count(c.lines.begin(), c.lines.end(), '\n')));
        return absl::OkStatus();
      });
      if (status != nullptr) *status = r.status();
      if (!r.ok() || r->records == 0) break;
      req.from_seq = r->next_seq;
    }
    if (next != nullptr) *next = req.from_seq;
    return out;
  }

  TempDir dir_;
  Options options_;
  std::unique_ptr<DB> db_;
};

TEST_F(WalFeedTest, ChangesHoldExactlyTheAcceptedLinesWithExplicitNanosecondTimes) {
  // Line 2 does not parse; line 3 is a field type conflict (refused by the
  // database after parsing); line 4 has no timestamp and gets the default
  // time; the precision is seconds.
  Write("db",
        "cpu,host=a v=1 10\n"
        "cpu,host=a v=\n"
        "cpu,host=a v=\"str\" 11\n"
        "cpu,host=b\\ c,z=\"q\" v=2.5,s=\"x\\\"y\",i=-3i,u=4u,b=true\n",
        "s", 1234567890000000000);
  auto got = ReadAll(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0],
            "db|cpu,host=a v=1 10000000000\n"
            "cpu,host=b\\ c,z=\"q\" v=2.5,s=\"x\\\"y\",i=-3i,u=4u,b=true 1234567890000000000\n");
}

TEST_F(WalFeedTest, KeysAreForwardedAsWrittenEscapesAndTagOrderIncluded) {
  // The key is copied as written (not re-escaped from the parsed tags): the
  // same series for the destination's parser, tags in the writer's order.
  Write("db",
        "m\\,x\\ y,z=1,a=b\\,c\\=d\\ e v=1 5\n"
        "m\\,x\\ y,a=b\\,c\\=d\\ e,z=1 v=2 6\n");
  EXPECT_EQ(ReadAll(1), std::vector<std::string>{"db|m\\,x\\ y,z=1,a=b\\,c\\=d\\ e v=1 5\n"
                                                 "m\\,x\\ y,a=b\\,c\\=d\\ e,z=1 v=2 6\n"});
}

TEST_F(WalFeedTest, FieldsAreForwardedAsWrittenUnlessTheParserDroppedOrMergedSome) {
  Write("db",
        "a v=1.50,b=T,f=1e3,s=\"x y\\\" z,w=1\",k\\ x=2i 1\n"  // as written, string with spaces and escapes
        "b x=1,x=2 2\n"                                        // duplicate key: the parser keeps the last
        "c time=5,v=3 3\n"                                     // a "time" field: dropped
        "d v=4  4\r\n");                                       // two blanks before the time, CRLF
  auto got = ReadAll(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0],
            "db|a v=1.50,b=T,f=1e3,s=\"x y\\\" z,w=1\",k\\ x=2i 1\n"
            "b x=2 2\n"
            "c v=3 3\n"
            "d v=4 4\n");
}

TEST_F(WalFeedTest, TypedPointsAreRenderedAsLineProtocol) {
  Point p;
  p.measurement = "m m";
  p.tags = {{"t", "v,w"}};
  p.fields = {{"f", FieldValue::Float(0.1)}, {"n", FieldValue::Int(-9223372036854775807LL)}};
  p.timestamp = -9223372036854775806LL;
  auto r = db_->WritePoints("db", {p}, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(ReadAll(1), std::vector<std::string>{"db|m\\ m,t=v\\,w f=0.1,n=-9223372036854775807i "
                                                 "-9223372036854775806\n"});
}

TEST_F(WalFeedTest, DatabaseFilterSkipsOtherDatabasesButAdvances) {
  Write("db", "a v=1 1\n");
  Write("other", "b v=1 1\n");
  Write("db", "c v=1 1\n");
  uint64_t next = 0;
  EXPECT_EQ(ReadAll(1, "db", &next), (std::vector<std::string>{"db|a v=1 1\n", "db|c v=1 1\n"}));
  EXPECT_EQ(ReadAll(1, "other"), (std::vector<std::string>{"other|b v=1 1\n"}));
  EXPECT_EQ(next, db_->GetWalQueueInfo(next).durable_seq + 1);
  EXPECT_TRUE(ReadAll(next, "db").empty());
}

TEST_F(WalFeedTest, ACursorKeepsWalFilesThroughFlushesAndReopens) {
  ASSERT_OK(db_->SetWalCursor("s1", 0));  // from the end: nothing yet
  const uint64_t start = db_->ListWalCursors().at(0).next_seq;
  Write("db", "a v=1 1\n");
  ASSERT_OK(db_->Flush());
  Write("db", "a v=2 2\n");
  ASSERT_OK(db_->Flush());
  const uint64_t backlog = db_->GetWalQueueInfo(start).backlog_bytes;
  EXPECT_GT(backlog, 0u);
  // Exact, not whole segments: one record less is a record's bytes less
  // (a fresh reader walks there).
  EXPECT_LT(db_->GetWalQueueInfo(start + 1).backlog_bytes, backlog);
  EXPECT_GT(db_->GetWalQueueInfo(start + 1).backlog_bytes + 100, backlog);
  Reopen();
  ASSERT_EQ(db_->ListWalCursors().size(), 1u);
  EXPECT_EQ(db_->ListWalCursors()[0].name, "s1");
  EXPECT_EQ(db_->ListWalCursors()[0].next_seq, start);
  uint64_t next = 0;
  EXPECT_EQ(ReadAll(start, "db", &next), (std::vector<std::string>{"db|a v=1 1\n", "db|a v=2 2\n"}));

  // Moving the cursor past everything frees the files; the old position is
  // then gone and says so.
  ASSERT_OK(db_->SetWalCursor("s1", next));
  Write("db", "a v=3 3\n");
  ASSERT_OK(db_->Flush());
  Status s;
  ReadAll(start, "db", nullptr, &s);
  EXPECT_TRUE(absl::IsOutOfRange(s)) << s;
  EXPECT_EQ(ReadAll(next, "db"), std::vector<std::string>{"db|a v=3 3\n"});
  ASSERT_OK(db_->DeleteWalCursor("s1"));
  EXPECT_TRUE(db_->ListWalCursors().empty());
  EXPECT_FALSE(db_->SetWalCursor("", 1).ok());
}

TEST_F(WalFeedTest, MaxPointsStopsBeforeTheRecordThatWouldPassIt) {
  Write("db", "a v=1 1\na v=2 2\n");
  Write("db", "a v=3 3\n");
  Write("db", "a v=4 4\na v=5 5\na v=6 6\n");
  WalReadRequest req;
  req.from_seq = 1;
  req.max_points = 3;
  std::vector<uint64_t> batches;
  for (int i = 0; i < 10; ++i) {
    uint64_t n = 0;
    auto r = db_->ReadWalChanges(req, [&](const WalChange& c) {
      n += c.points;
      return absl::OkStatus();
    });
    ASSERT_TRUE(r.ok()) << r.status();
    if (n == 0) break;
    batches.push_back(n);
    req.from_seq = r->next_seq;
  }
  // 2+1 fit; the 3-point record alone (a record is never split).
  EXPECT_EQ(batches, (std::vector<uint64_t>{3, 3}));
}

TEST_F(WalFeedTest, WithoutACursorFlushedRecordsAreRemoved) {
  Write("db", "a v=1 1\n");
  ASSERT_OK(db_->Flush());
  Write("db", "a v=2 2\n");
  ASSERT_OK(db_->Flush());
  Status s;
  ReadAll(1, "db", nullptr, &s);
  EXPECT_TRUE(absl::IsOutOfRange(s)) << s;
}

}  // namespace
}  // namespace m2mdb
