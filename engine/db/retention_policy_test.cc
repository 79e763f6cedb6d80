// Retention policies (InfluxDB 1.x): each (database, policy) is its own
// storage unit. Writes and scans name one (empty = the default), metadata
// reads and deletes span all, WAL records name the policy they went to.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "engine/db/db_impl.h"
#include "engine/db/write_batch.h"
#include "m2mdb/db.h"
#include "tests/support/test_util.h"

namespace m2mdb {
namespace {

using testing::TempDir;

constexpr int64_t kHour = 3600ll * 1000000000ll;
constexpr int64_t kDay = 24 * kHour;

int64_t NowNanosForTest() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class RetentionPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.data_dir = dir_.path() + "/data";
    options_.background_work = false;
    Reopen();
    ASSERT_OK(db_->CreateDatabase({.name = "db"}));
  }
  void Reopen() {
    if (db_) ASSERT_OK(db_->Close());
    db_.reset();
    auto db = DB::Open(options_);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }
  WriteResult Write(std::string_view body, const std::string& rp = "") {
    WriteOptions wo;
    wo.retention_policy = rp;
    auto r = db_->WriteLineProtocol("db", body, wo);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : WriteResult{};
  }
  // "t=v,..." of field v of every series of `m` in policy `rp`.
  std::string Dump(const std::string& m, const std::string& rp = "", Status* status = nullptr) {
    std::string out;
    ScanRequest req;
    req.database = "db";
    req.measurement = m;
    req.fields = {"v"};
    req.retention_policy = rp;
    Status s = db_->Scan(req, [&](const SeriesData& sd) {
      for (size_t i = 0; i < sd.columns[0].size(); i++) {
        if (!out.empty()) out += ",";
        absl::StrAppend(&out, sd.columns[0].times[i], "=", sd.columns[0].ValueAt(i).DebugString());
      }
      return absl::OkStatus();
    });
    if (status != nullptr) {
      *status = s;
    } else {
      EXPECT_TRUE(s.ok()) << s;
    }
    return out;
  }
  std::vector<std::string> Names() {
    std::vector<std::string> out;
    auto rps = db_->ListRetentionPolicies("db");
    EXPECT_TRUE(rps.ok()) << rps.status();
    if (!rps.ok()) return out;
    for (const auto& r : *rps) out.push_back(absl::StrCat(r.name, r.is_default ? "*" : ""));
    return out;
  }

  TempDir dir_;
  Options options_;
  std::unique_ptr<DB> db_;
};

TEST_F(RetentionPolicyTest, NewDatabaseHasDefaultAutogen) {
  auto rps = db_->ListRetentionPolicies("db");
  ASSERT_TRUE(rps.ok());
  ASSERT_EQ(rps->size(), 1u);
  EXPECT_EQ((*rps)[0].name, "autogen");
  EXPECT_TRUE((*rps)[0].is_default);
  EXPECT_EQ((*rps)[0].duration_ns, 0);
  EXPECT_EQ((*rps)[0].replication, 1);
  EXPECT_EQ(db_->ListRetentionPolicies("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RetentionPolicyTest, CreateValidatesAsInfluxd) {
  auto create = [&](RetentionPolicyInfo rp) { return db_->CreateRetentionPolicy("db", rp); };
  EXPECT_EQ(create({"short", kHour / 2, 0, 1, false}).message(),
            "retention policy duration must be at least 1h0m0s");
  EXPECT_EQ(create({"inv", 2 * kHour, 3 * kHour, 1, false}).message(),
            "retention policy duration must be greater than the shard duration");
  EXPECT_EQ(create({"", kHour, 0, 1, false}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(create({"r", kHour, 0, 0, false}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(create({"r", -1, 0, 1, false}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(db_->CreateRetentionPolicy("nodb", {"r", kHour, 0, 1, false}).message(),
            "database not found: nodb");

  ASSERT_OK(create({"r1", kHour, 0, 1, false}));
  ASSERT_OK(create({"r1", kHour, 0, 1, false}));  // the same again: OK
  EXPECT_EQ(create({"r1", 2 * kHour, 0, 1, false}).message(), "retention policy already exists");
  EXPECT_EQ(create({"r1", kHour, 0, 1, true}).message(),
            "retention policy conflicts with an existing policy");
  // Shard duration: the default rule, and at least 1 h.
  ASSERT_OK(create({"r5", 100 * kDay, 0, 1, false}));
  ASSERT_OK(create({"r6", kDay, kHour / 2, 3, false}));
  ASSERT_OK(create({"inf", 0, 0, 1, false}));
  auto rps = db_->ListRetentionPolicies("db");
  ASSERT_TRUE(rps.ok());
  ASSERT_EQ(rps->size(), 5u);
  EXPECT_EQ((*rps)[1].shard_duration_ns, kHour);     // r1: < 2 days
  EXPECT_EQ((*rps)[2].shard_duration_ns, kDay);      // r5: <= 180 days
  EXPECT_EQ((*rps)[3].shard_duration_ns, kHour);     // r6: raised to 1 h
  EXPECT_EQ((*rps)[3].replication, 3);               // recorded
  EXPECT_EQ((*rps)[4].shard_duration_ns, 7 * kDay);  // INF
  // Creation order, not name order (influxd's).
  EXPECT_EQ(Names(), (std::vector<std::string>{"autogen*", "r1", "r5", "r6", "inf"}));
}

TEST_F(RetentionPolicyTest, WritesAndScansGoToTheNamedPolicy) {
  ASSERT_OK(db_->CreateRetentionPolicy("db", {"fast", 0, kHour, 1, false}));
  EXPECT_EQ(Write("m v=1 1000\n").points_written, 1u);
  EXPECT_EQ(Write("m v=2 1000\nonly v=3 5\n", "fast").points_written, 2u);
  EXPECT_EQ(Dump("m"), "1000=1");
  EXPECT_EQ(Dump("m", "autogen"), "1000=1");
  EXPECT_EQ(Dump("m", "fast"), "1000=2");
  EXPECT_EQ(Dump("only"), "");
  // Metadata spans every policy.
  auto ms = db_->Measurements("db");
  ASSERT_TRUE(ms.ok());
  EXPECT_EQ(*ms, (std::vector<std::string>{"m", "only"}));
  auto series = db_->Series("db", "", {});
  ASSERT_TRUE(series.ok());
  ASSERT_EQ(series->size(), 2u);  // "m" once, though both policies hold it
  auto fk = db_->FieldKeys("db", "only");
  ASSERT_TRUE(fk.ok());
  EXPECT_EQ(fk->size(), 1u);
  // FieldKeysIn reads one policy (SHOW FIELD KEYS, as influxd).
  fk = db_->FieldKeysIn("db", "", "only");
  ASSERT_TRUE(fk.ok());
  EXPECT_TRUE(fk->empty());
  fk = db_->FieldKeysIn("db", "fast", "only");
  ASSERT_TRUE(fk.ok());
  EXPECT_EQ(fk->size(), 1u);
  EXPECT_EQ(db_->FieldKeysIn("db", "nope", "only").status().message(), "retention policy not found: nope");
  // A missing policy: influxd's text, nothing written.
  WriteOptions wo;
  wo.retention_policy = "nope";
  auto r = db_->WriteLineProtocol("db", "m v=9 1\n", wo);
  EXPECT_EQ(r.status().message(), "retention policy not found: nope");
  Status s;
  Dump("m", "nope", &s);
  EXPECT_EQ(s.message(), "retention policy not found: nope");
  // Typed points too.
  auto tp = db_->WritePoints("db", {{"m", {}, {{"v", FieldValue::Float(4)}}, 2000}}, wo);
  EXPECT_EQ(tp.status().message(), "retention policy not found: nope");
  wo.retention_policy = "fast";
  ASSERT_TRUE(db_->WritePoints("db", {{"m", {}, {{"v", FieldValue::Float(4)}}, 2000}}, wo).ok());
  EXPECT_EQ(Dump("m", "fast"), "1000=2,2000=4");
  // Survives flush, and a reopen.
  ASSERT_OK(db_->Flush());
  Reopen();
  EXPECT_EQ(Dump("m", "fast"), "1000=2,2000=4");
  EXPECT_EQ(Dump("m"), "1000=1");
  EXPECT_EQ(Names(), (std::vector<std::string>{"autogen*", "fast"}));
}

TEST_F(RetentionPolicyTest, ReplayKeepsPointsInThePolicyTheyWereWrittenTo) {
  options_.flush_on_close = false;
  Reopen();
  ASSERT_OK(db_->CreateRetentionPolicy("db", {"two", 0, 0, 1, false}));
  Write("m v=1 10\n");  // the default: autogen
  WriteOptions wo;
  wo.retention_policy = "two";
  ASSERT_TRUE(db_->WritePoints("db", {{"m", {}, {{"v", FieldValue::Float(2)}}, 20}}, wo).ok());
  // A later change of default must not move the logged points.
  ASSERT_OK(db_->AlterRetentionPolicy("db", "two", {.make_default = true}));
  Reopen();  // replays the WAL
  EXPECT_EQ(Dump("m", "autogen"), "10=1");
  EXPECT_EQ(Dump("m", "two"), "20=2");
  EXPECT_EQ(Dump("m"), "20=2");  // "two" is the default now
  EXPECT_EQ(Names(), (std::vector<std::string>{"autogen", "two*"}));
}

TEST_F(RetentionPolicyTest, AlterChangesSettingsAndDefault) {
  ASSERT_OK(db_->CreateRetentionPolicy("db", {"r1", kHour, 0, 1, false}));
  ASSERT_OK(db_->AlterRetentionPolicy("db", "r1", {.duration_ns = 3 * kHour}));
  EXPECT_EQ(db_->AlterRetentionPolicy("db", "r1", {.duration_ns = kHour / 2}).message(),
            "retention policy duration must be at least 1h0m0s");
  EXPECT_EQ(db_->AlterRetentionPolicy("db", "r1", {.shard_duration_ns = 5 * kHour}).message(),
            "retention policy duration must be greater than the shard duration");
  EXPECT_EQ(db_->AlterRetentionPolicy("db", "nope", {.duration_ns = 3 * kHour}).message(),
            "retention policy not found: nope");
  EXPECT_EQ(db_->AlterRetentionPolicy("nodb", "r1", {.duration_ns = 3 * kHour}).message(),
            "database not found: nodb");
  ASSERT_OK(db_->AlterRetentionPolicy(
      "db", "r1", {.shard_duration_ns = 2 * kHour, .replication = 2, .make_default = true}));
  ASSERT_OK(db_->AlterRetentionPolicy("db", "r1", {.duration_ns = 0}));  // INF keeps the shard duration
  auto rps = db_->ListRetentionPolicies("db");
  ASSERT_TRUE(rps.ok());
  ASSERT_EQ(rps->size(), 2u);
  EXPECT_FALSE((*rps)[0].is_default);
  EXPECT_TRUE((*rps)[1].is_default);
  EXPECT_EQ((*rps)[1].duration_ns, 0);
  EXPECT_EQ((*rps)[1].shard_duration_ns, 2 * kHour);
  EXPECT_EQ((*rps)[1].replication, 2);
  // Writes without a policy go to the new default.
  Write("m v=5 100\n");
  EXPECT_EQ(Dump("m", "r1"), "100=5");
  EXPECT_EQ(Dump("m", "autogen"), "");
  // DatabaseOptions describe the default policy.
  auto dbs = db_->ListDatabases();
  ASSERT_EQ(dbs.size(), 1u);
  EXPECT_EQ(dbs[0].retention_policy, "r1");
  EXPECT_EQ(dbs[0].partition_ns, 2 * kHour);
}

TEST_F(RetentionPolicyTest, ShorterShardsDoNotHideOrExpireOlderPartitions) {
  // Written in 1-day partitions, then the shard duration drops to 1 h: the
  // old segments span more than one new partition.
  ASSERT_OK(db_->CreateRetentionPolicy("db", {"p", 0, kDay, 1, true}));
  const int64_t base = 1700000000ll * 1000000000ll / kDay * kDay;
  Write(absl::StrCat("m v=1 ", base, "\nm v=2 ", base + 20 * kHour, "\n"));
  ASSERT_OK(db_->Flush());
  ASSERT_OK(db_->AlterRetentionPolicy("db", "p", {.shard_duration_ns = kHour}));
  ScanRequest req;
  req.database = "db";
  req.measurement = "m";
  req.min_time = base + 10 * kHour;
  int points = 0;
  ASSERT_OK(db_->Scan(req, [&](const SeriesData& sd) {
    points += static_cast<int>(sd.columns[0].size());
    return absl::OkStatus();
  }));
  EXPECT_EQ(points, 1);
}

TEST_F(RetentionPolicyTest, PointsOlderThanThePolicyAreRejected) {
  ASSERT_OK(db_->CreateRetentionPolicy("db", {"short", kHour, 0, 1, false}));
  auto r = Write("m v=1 1000\n", "short");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].reason, "points beyond retention policy");
  EXPECT_EQ(Write("m v=1 1000\n").errors.size(), 0u);  // autogen is INF
}

TEST_F(RetentionPolicyTest, ExpiryDropsWholePartitionsOfThatPolicyOnly) {
  ASSERT_OK(db_->CreateRetentionPolicy("db", {"short", 0, kHour, 1, false}));
  const int64_t now = NowNanosForTest();
  const int64_t old_t = now - 5 * kHour, new_t = now - kHour / 60;
  const std::string body = absl::StrCat("m v=1 ", old_t, "\nm v=2 ", new_t, "\n");
  ASSERT_EQ(Write(body, "short").points_written, 2u);
  ASSERT_EQ(Write(body).points_written, 2u);
  ASSERT_OK(db_->Flush());
  // Now 2 h: the 1-hour partition of old_t ends before now - 2 h.
  ASSERT_OK(db_->AlterRetentionPolicy("db", "short", {.duration_ns = 2 * kHour}));
  ASSERT_OK(db_->Compact());  // applies retention
  EXPECT_EQ(Dump("m", "short"), absl::StrCat(new_t, "=2"));
  EXPECT_EQ(Dump("m"), absl::StrCat(old_t, "=1,", new_t, "=2"));  // autogen: INF
}

TEST_F(RetentionPolicyTest, DropRemovesThePolicyAndItsData) {
  ASSERT_OK(db_->CreateRetentionPolicy("db", {"r", 0, 0, 1, false}));
  Write("gone v=1 1\n", "r");
  ASSERT_OK(db_->Flush());
  ASSERT_OK(db_->DropRetentionPolicy("db", "r"));
  ASSERT_OK(db_->DropRetentionPolicy("db", "r"));  // idempotent, as influxd
  EXPECT_EQ(db_->DropRetentionPolicy("nodb", "r").message(), "database not found: nodb");
  auto ms = db_->Measurements("db");
  ASSERT_TRUE(ms.ok());
  EXPECT_TRUE(ms->empty());
  // Re-created: empty.
  ASSERT_OK(db_->CreateRetentionPolicy("db", {"r", 0, 0, 1, false}));
  EXPECT_EQ(Dump("gone", "r"), "");
}

TEST_F(RetentionPolicyTest, DroppingTheDefaultLeavesTheDatabaseWithoutOne) {
  Write("m v=1 1\n");
  ASSERT_OK(db_->CreateRetentionPolicy("db", {"other", 0, 0, 1, false}));
  ASSERT_OK(db_->DropRetentionPolicy("db", "autogen"));
  EXPECT_EQ(Names(), (std::vector<std::string>{"other"}));
  auto r = db_->WriteLineProtocol("db", "m v=1 1\n", {});
  EXPECT_EQ(r.status().message(), "retention policy not found: autogen");
  Status s;
  Dump("m", "", &s);
  EXPECT_EQ(s.message(), "retention policy not found: autogen");
  EXPECT_EQ(Write("m v=2 2\n", "other").points_written, 1u);
  // The database is still there, also without any policy, and after a reopen.
  ASSERT_OK(db_->DropRetentionPolicy("db", "other"));
  Reopen();
  auto dbs = db_->ListDatabases();
  ASSERT_EQ(dbs.size(), 1u);
  EXPECT_EQ(dbs[0].name, "db");
  EXPECT_EQ(dbs[0].retention_policy, "autogen");
  EXPECT_TRUE(Names().empty());
  ASSERT_OK(db_->DropDatabase("db"));
  EXPECT_TRUE(db_->ListDatabases().empty());
}

TEST_F(RetentionPolicyTest, DeleteAndDropSeriesSpanEveryPolicy) {
  ASSERT_OK(db_->CreateRetentionPolicy("db", {"r", 0, 0, 1, false}));
  Write("m,h=a v=1 1\n");
  Write("m,h=a v=2 2\n", "r");
  ASSERT_OK(db_->Flush());
  DeleteRequest del;
  del.database = "db";
  del.measurement = "m";
  ASSERT_OK(db_->Delete(del));
  EXPECT_EQ(Dump("m"), "");
  EXPECT_EQ(Dump("m", "r"), "");
  Write("m,h=a v=3 3\n");
  Write("m,h=a v=4 4\n", "r");
  ASSERT_OK(db_->DropMeasurement("db", "m"));
  auto ms = db_->Measurements("db");
  ASSERT_TRUE(ms.ok());
  EXPECT_TRUE(ms->empty());
}

// DeleteRequest::retention_policy narrows a delete to one policy (what a
// continuous query's refresher uses to clear its rollup).
TEST_F(RetentionPolicyTest, DeleteNamingAPolicyLeavesTheOthers) {
  ASSERT_OK(db_->CreateRetentionPolicy("db", {"r", 0, 0, 1, false}));
  Write("m,h=a v=1 1\n");
  Write("m,h=a v=2 1\n", "r");
  const std::string raw = Dump("m");
  ASSERT_NE(raw, "");
  DeleteRequest del;
  del.database = "db";
  del.measurement = "m";
  del.retention_policy = "r";
  ASSERT_OK(db_->Delete(del));
  EXPECT_EQ(Dump("m", "r"), "");
  EXPECT_EQ(Dump("m"), raw);
  del.retention_policy = "nope";
  Status s = db_->Delete(del);
  EXPECT_TRUE(absl::IsNotFound(s)) << s;
  EXPECT_EQ(s.message(), "retention policy not found: nope");
}

TEST_F(RetentionPolicyTest, CreateDatabaseWithNamedDefaultPolicy) {
  ASSERT_OK(db_->CreateDatabase({.name = "d2",
                                 .retention_ns = 2 * kDay,
                                 .partition_ns = kHour,
                                 .retention_policy = "myrp",
                                 .replication = 2}));
  auto rps = db_->ListRetentionPolicies("d2");
  ASSERT_TRUE(rps.ok());
  ASSERT_EQ(rps->size(), 1u);
  EXPECT_EQ((*rps)[0].name, "myrp");
  EXPECT_TRUE((*rps)[0].is_default);
  EXPECT_EQ((*rps)[0].duration_ns, 2 * kDay);
  EXPECT_EQ((*rps)[0].shard_duration_ns, kHour);
  EXPECT_EQ((*rps)[0].replication, 2);
  // SetRetention changes the default policy.
  ASSERT_OK(db_->SetRetention("d2", 3 * kDay));
  rps = db_->ListRetentionPolicies("d2");
  ASSERT_TRUE(rps.ok());
  EXPECT_EQ((*rps)[0].duration_ns, 3 * kDay);
}

TEST_F(RetentionPolicyTest, WritesRacingDropAndCreateOfTheirPolicy) {
  // Writers to "r" while it is dropped and re-created: each write either
  // lands in a live unit or fails with "retention policy not found: r";
  // nothing crashes, and after a reopen nothing of a dropped unit returns.
  ASSERT_OK(db_->CreateRetentionPolicy("db", {"r", 0, 0, 1, false}));
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, missing{0}, other{0}, attempts{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; w++) {
    writers.emplace_back([&, w] {
      WriteOptions wo;
      wo.retention_policy = "r";
      for (int i = 0; !stop.load(); i++) {
        auto r = db_->WriteLineProtocol("db", absl::StrCat("m,w=", w, " v=", i, " ", i + 1, "\n"), wo);
        attempts++;
        if (r.ok()) {
          ok++;
        } else if (r.status().message() == "retention policy not found: r") {
          missing++;
        } else {
          other++;
        }
      }
    });
  }
  // The writers must be running before the policy starts to come and go
  // (a fast machine finished the loop below before either had started).
  while (attempts.load() < 2) std::this_thread::yield();
  for (int k = 0; k < 5; k++) {
    ASSERT_OK(db_->DropRetentionPolicy("db", "r"));
    ASSERT_OK(db_->CreateRetentionPolicy("db", {"r", 0, 0, 1, false}));
  }
  ASSERT_OK(db_->DropRetentionPolicy("db", "r"));
  stop = true;
  for (auto& t : writers) t.join();
  EXPECT_EQ(other.load(), 0);
  EXPECT_GT(ok.load() + missing.load(), 0);
  ASSERT_OK(db_->CreateRetentionPolicy("db", {"r", 0, 0, 1, false}));
  Reopen();
  EXPECT_EQ(Dump("m", "r"), "");
}

TEST(WalRecordTest, RecordsNameTheirPolicyAndOldOnesStillDecode) {
  WalWriteRecord rec;
  rec.database = "db";
  rec.precision = 0;
  rec.default_time = 7;
  rec.rejected_lines = {2};
  rec.body = "m v=1\nbad\n";
  std::string old_bytes, new_bytes;
  EncodeWalWriteRecord(rec, &old_bytes);  // no policy: type 1, as before
  EXPECT_EQ(WalRecordType(old_bytes), kRecordLineProtocol);
  rec.retention_policy = "rp one";
  EncodeWalWriteRecord(rec, &new_bytes);
  EXPECT_EQ(WalRecordType(new_bytes), kRecordLineProtocolRp);
  WalWriteRecord got;
  ASSERT_OK(DecodeWalWriteRecord(old_bytes, &got));
  EXPECT_EQ(got.database, "db");
  EXPECT_EQ(got.retention_policy, "");
  EXPECT_EQ(got.body, "m v=1\nbad\n");
  ASSERT_OK(DecodeWalWriteRecord(new_bytes, &got));
  EXPECT_EQ(got.database, "db");
  EXPECT_EQ(got.retention_policy, "rp one");
  EXPECT_EQ(got.default_time, 7);
  EXPECT_EQ(got.rejected_lines, std::vector<int>{2});
  EXPECT_EQ(got.body, "m v=1\nbad\n");
  // Truncated in the policy name: an error, not a crash.
  EXPECT_FALSE(DecodeWalWriteRecord(new_bytes.substr(0, 6), &got).ok());

  std::string pts;
  BeginWalPointsRecord("db", "", &pts);
  EXPECT_EQ(WalRecordType(pts), kRecordPoints);
  BeginWalPointsRecord("db", "r", &pts);
  EXPECT_EQ(WalRecordType(pts), kRecordPointsRp);
  std::string_view database, rp, rest;
  ASSERT_OK(DecodeWalPointsHeader(pts, &database, &rp, &rest));
  EXPECT_EQ(database, "db");
  EXPECT_EQ(rp, "r");
  EXPECT_TRUE(rest.empty());
}

}  // namespace
}  // namespace m2mdb
