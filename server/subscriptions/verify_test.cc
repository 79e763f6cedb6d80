// The verification core (verify.h) on embedded engines and over HTTP, and
// the manager's VERIFY SUBSCRIPTION, VERIFY EVERY and DROP DATABASE.
#include "server/subscriptions/verify.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <limits>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "m2mdb/db.h"
#include "server/http_server.h"
#include "server/serve.h"
#include "server/subscriptions/subscriptions.h"
#include "server/tokens.h"
#include "tests/support/test_util.h"

namespace m2mdb::server {
namespace {

constexpr int64_t kBase = 1700000000LL * 1000000000LL;  // 2023-11-14T22:13:20Z
constexpr int64_t kMinute = 60LL * 1000000000LL;

class Engine {
 public:
  Engine() {
    Options o;
    o.data_dir = dir_.path();
    o.wal_sync = WalSyncMode::kNone;
    db_ = std::move(*DB::Open(o));
    EXPECT_TRUE(db_->CreateDatabase({"d", 0, 0}).ok());
  }
  ~Engine() { EXPECT_TRUE(db_->Close().ok()); }
  DB* db() { return db_.get(); }
  void Write(const std::string& lines) {
    auto r = db_->WriteLineProtocol("d", lines, {});
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->errors.empty()) << r->errors[0].reason;
  }
  // Every point of `measurement` as the executor prints it, for comparing.
  std::string Dump(const std::string& q) {
    auto side = LocalVerifySide(db_.get());
    auto r = side->Query("d", q);
    EXPECT_TRUE(r.ok()) << r.status();
    std::string out;
    for (const auto& s : *r) {
      absl::StrAppend(&out, s.name, "|");
      for (const auto& [k, v] : s.tags) absl::StrAppend(&out, k, "=", v, ",");
      for (const auto& row : s.values) {
        for (const auto& v : row) {
          std::visit(
              [&](const auto& x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, std::monostate>) {
                  out += "null";
                } else if constexpr (std::is_same_v<T, double>) {
                  char buf[32];
                  std::snprintf(buf, sizeof(buf), "%.17g", x);
                  out += buf;
                } else {
                  absl::StrAppend(&out, x);
                }
              },
              v);
          out += " ";
        }
        out += "\n";
      }
    }
    return out;
  }

 private:
  testing::TempDir dir_;
  std::unique_ptr<DB> db_;
};

// 5 hours of minutes over 3 series, with every field type and names that
// need escaping in line protocol and InfluxQL.
std::string Points() {
  std::string out;
  for (int i = 0; i < 300; ++i) {
    absl::StrAppend(&out, "m\\ x,dev=d", i % 3, ",loc=a\\ b\\,c v=", i, ".25,i=", i, "i,u=", i,
                    "u,s=\"q\\\"x'y\",b=", i % 2 == 0 ? "true" : "false", " ", kBase + i * kMinute, "\n");
  }
  absl::StrAppend(&out, "other v=1 ", kBase, "\n");
  return out;
}

VerifyRequest Range(bool resend) {
  VerifyRequest req;
  req.database = "d";
  req.retention_policy = "autogen";
  req.start_ns = kBase - 24 * kVerifyHourNs;
  req.end_ns = kBase + 24 * kVerifyHourNs;
  req.resend = resend;
  return req;
}

TEST(SubscriptionVerify, EqualSidesDifferInNothing) {
  Engine src, dst;
  src.Write(Points());
  dst.Write(Points());
  auto a = LocalVerifySide(src.db());
  auto b = LocalVerifySide(dst.db());
  VerifyReport r = Verify(a.get(), b.get(), Range(false));
  EXPECT_EQ(r.error, "");
  // 3 series x 6 hours touched (22:13 + 300 min) + `other`'s one hour.
  EXPECT_EQ(r.hours_checked, 3u * 6u + 1u);
  EXPECT_EQ(r.hours_differing, 0u);
  EXPECT_EQ(r.points_missing, 0u);
  EXPECT_TRUE(r.differences.empty());
  EXPECT_EQ(r.start_ns % kVerifyHourNs, 0);  // rounded down to the hour
}

TEST(SubscriptionVerify, TagSetsThatPrintAlikeAreTwoSeries) {
  // The series were keyed by "k=v," text: {a="x,c=y", c=""} and
  // {a="x", c="y,c="} were one key, so one of them missing at the
  // destination went unseen.
  Engine src, dst;
  src.Write(absl::StrCat("m,a=x\\,c\\=y v=1 ", kBase, "\nm,a=x,c=y\\,c\\= v=1 ", kBase, "\n"));
  dst.Write(absl::StrCat("m,a=x,c=y\\,c\\= v=1 ", kBase, "\n"));
  auto a = LocalVerifySide(src.db());
  auto b = LocalVerifySide(dst.db());
  VerifyReport r = Verify(a.get(), b.get(), Range(true));
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.hours_checked, 2u);
  EXPECT_EQ(r.hours_differing, 1u);
  EXPECT_EQ(r.hours_resent, 1u);
  EXPECT_EQ(dst.Dump("SELECT count(v) FROM m GROUP BY *"), src.Dump("SELECT count(v) FROM m GROUP BY *"));
}

TEST(SubscriptionVerify, FindsMissingHoursAndResendRepairsThemExactly) {
  Engine src, dst;
  src.Write(Points());
  dst.Write(Points());
  auto a = LocalVerifySide(src.db());
  auto b = LocalVerifySide(dst.db());
  // The destination loses one series, and one point of another.
  ASSERT_TRUE(b->Query("d", "DELETE FROM \"m x\" WHERE dev = 'd1'").ok());
  ASSERT_TRUE(
      b->Query("d", absl::StrCat("DELETE FROM \"m x\" WHERE dev = 'd2' AND time = ", kBase + 2 * kMinute))
          .ok());
  VerifyReport r = Verify(a.get(), b.get(), Range(false));
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.hours_differing, 6u + 1u);
  EXPECT_EQ(r.points_missing, 100u + 1u);  // d1's 100 points, one of d2's
  EXPECT_EQ(r.hours_resent, 0u);
  // One difference per field (v, i, u, s, b) of each differing series-hour.
  EXPECT_EQ(r.differences.size(), 7u * 5u);
  bool saw = false;
  for (const auto& d : r.differences) {
    if (d.tags == std::vector<std::pair<std::string, std::string>>{{"dev", "d2"}, {"loc", "a b,c"}}) {
      EXPECT_EQ(d.source - d.destination, 1);
      saw = true;
    }
  }
  EXPECT_TRUE(saw);
  const std::string q = "SELECT * FROM \"m x\" GROUP BY *";
  EXPECT_NE(src.Dump(q), dst.Dump(q));

  r = Verify(a.get(), b.get(), Range(true));
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.hours_resent, 7u);
  // Every value, of every type, came back as the source holds it.
  EXPECT_EQ(src.Dump(q), dst.Dump(q));
  r = Verify(a.get(), b.get(), Range(false));
  EXPECT_EQ(r.hours_differing, 0u);
}

TEST(SubscriptionVerify, OnlyTheRangeIsCompared) {
  Engine src, dst;
  src.Write(Points());
  auto a = LocalVerifySide(src.db());
  auto b = LocalVerifySide(dst.db());
  VerifyRequest req = Range(false);
  req.start_ns = kBase + 2 * kVerifyHourNs;               // 00:13 -> 00:00 of the 15th
  req.end_ns = kBase + 2 * kVerifyHourNs + 47 * kMinute;  // 01:00
  VerifyReport r = Verify(a.get(), b.get(), req);
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.hours_checked, 3u);  // one hour of 3 series
  EXPECT_EQ(r.points_missing, 60u);
  req.end_ns = r.start_ns;  // empty once start is rounded down
  r = Verify(a.get(), b.get(), req);
  EXPECT_EQ(r.hours_checked, 0u);
  // The earliest time there is (a START in year 1 saturates to it).
  req.start_ns = std::numeric_limits<int64_t>::min();
  req.end_ns = std::numeric_limits<int64_t>::max();
  r = Verify(a.get(), b.get(), req);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.hours_checked, 3u * 6u + 1u);
}

TEST(SubscriptionVerify, CancelledAndUnreachableAreReportedNotFatal) {
  Engine src;
  src.Write(Points());
  auto a = LocalVerifySide(src.db());
  auto down = HttpVerifySide("http://u:secret@127.0.0.1:1");
  ASSERT_TRUE(down.ok()) << down.status();
  VerifyReport r = Verify(a.get(), down->get(), Range(true));
  EXPECT_NE(r.error, "");
  EXPECT_EQ(r.error.find("secret"), std::string::npos) << r.error;  // masked
  EXPECT_TRUE(absl::IsInvalidArgument(HttpVerifySide("ftp://x").status()));
  VerifyRequest req = Range(true);
  req.cancelled = [] { return true; };
  r = Verify(a.get(), a.get(), req);
  EXPECT_EQ(r.error, "cancelled");
}

// A DB served over HTTP: the destination's side speaks JSON.
class Served {
 public:
  Served() {
    ServeOptions so;
    server_ =
        std::move(*HttpServer::Create(engine_.db(), so, std::move(*TokenStore::Load(engine_.db())), false));
    port_ = *server_->Bind("127.0.0.1", 0);
    run_ = std::thread([this] { server_->Run(); });
  }
  ~Served() {
    server_->Stop();
    run_.join();
    server_.reset();
  }
  Engine& engine() { return engine_; }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_); }

 private:
  Engine engine_;
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  std::thread run_;
};

TEST(SubscriptionVerify, OverHttpResendFillsTheGap) {
  Engine src;
  Served dst;
  src.Write(Points());
  auto a = LocalVerifySide(src.db());
  auto b = HttpVerifySide(dst.url());
  ASSERT_TRUE(b.ok()) << b.status();
  VerifyReport r = Verify(a.get(), b->get(), Range(false));
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.hours_differing, r.hours_checked);
  EXPECT_EQ(r.points_missing, 301u);
  r = Verify(a.get(), b->get(), Range(true));
  ASSERT_EQ(r.error, "");
  EXPECT_EQ(r.hours_resent, r.hours_checked);
  const std::string q = "SELECT * FROM /.*/ GROUP BY *";
  EXPECT_EQ(src.Dump(q), dst.engine().Dump(q));
  r = Verify(a.get(), b->get(), Range(false));
  EXPECT_EQ(r.hours_differing, 0u);
}

TEST(VerifyRecord, KeepsTheLastRunAndCounts) {
  VerifyRecord rec;
  VerifyReport a;
  a.hours_resent = 3;
  a.differences.resize(5);
  rec.Add("x", a);
  VerifyReport b;
  b.error = "down";
  rec.Add("x", b);
  auto snap = rec.Snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap["x"].runs, 2u);
  EXPECT_EQ(snap["x"].failures, 1u);
  EXPECT_EQ(snap["x"].hours_resent, 3u);
  EXPECT_EQ(snap["x"].last.error, "down");
}

TEST(PeriodicVerifier, RunsEveryIntervalAndStopsAtOnce) {
  std::atomic<int> runs{0};
  PeriodicVerifier v(1, [&](const std::function<bool()>& stopping) {
    runs++;
    while (!stopping()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  });
  v.Start();
  const auto t0 = std::chrono::steady_clock::now();
  while (runs.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(900));  // not at once
  v.Stop();  // the run in progress sees stopping() and returns
  EXPECT_EQ(runs.load(), 1);
}

class SubscriptionManagerVerify : public ::testing::Test {
 protected:
  void SetUp() override {
    SubscriptionOptions so;
    so.dead_letter_dir = dir_.path();
    manager_ = std::make_unique<SubscriptionManager>(src_.db(), so);
    ASSERT_TRUE(manager_->Start().ok());
  }
  void TearDown() override { manager_->Stop(); }
  query::StatementResult Run(const std::string& q) {
    auto st = ParseSubscriptionStatements(q);
    EXPECT_TRUE(st.ok()) << st.status();
    return manager_->Run(st->at(0), 0);
  }
  // SHOW SUBSCRIPTIONS' row of `name`, column -> value.
  std::map<std::string, query::Value> Show(const std::string& name) {
    std::map<std::string, query::Value> out;
    for (const auto& s : Run("SHOW SUBSCRIPTIONS").series) {
      for (const auto& row : s.values) {
        if (std::get<std::string>(row[1]) != name) continue;
        for (size_t c = 0; c < s.columns.size(); ++c) out[s.columns[c]] = row[c];
      }
    }
    return out;
  }

  testing::TempDir dir_;
  Engine src_;
  std::unique_ptr<SubscriptionManager> manager_;
};

TEST_F(SubscriptionManagerVerify, VerifyStatementRecordsItsResultForShowAndMetrics) {
  Served dst;
  ASSERT_EQ(Run("CREATE SUBSCRIPTION s ON d DESTINATIONS ALL '" + dst.url() + "'").error, "");
  src_.Write(Points());  // delivered by the lane; the verification may race it, so resend
  auto r = Run("VERIFY SUBSCRIPTION s ON d START '2023-11-14T00:00:00Z' END '2023-11-16T00:00:00Z' RESEND");
  ASSERT_EQ(r.error, "");
  ASSERT_GE(r.series.size(), 1u);
  EXPECT_EQ(r.series[0].name, "verify");
  r = Run("VERIFY SUBSCRIPTION s ON d START '2023-11-14T00:00:00Z' END '2023-11-16T00:00:00Z'");
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.series.size(), 1u);  // no differences series
  auto row = Show("s");
  EXPECT_EQ(std::get<uint64_t>(row["verify_hours_checked"]), 19u);
  EXPECT_EQ(std::get<uint64_t>(row["verify_hours_differing"]), 0u);
  EXPECT_NE(std::get<std::string>(row["verified_at"]), "");
  EXPECT_EQ(std::get<std::string>(row["verify"]), "");
  const std::string m = manager_->RenderMetrics();
  EXPECT_NE(m.find("m2mdb_subscription_verify_runs_total{database=\"d\",retention_policy=\"autogen\","
                   "subscription=\"s\",destination=\"" +
                   dst.url() + "\"} 2"),
            std::string::npos)
      << m;
  EXPECT_EQ(Run("VERIFY SUBSCRIPTION nope ON d").error, "subscription not found");
  EXPECT_EQ(Run("VERIFY SUBSCRIPTION s ON d DESTINATION 'http://other:1'").error,
            "destination http://other:1 is not one of subscription s's");
}

TEST_F(SubscriptionManagerVerify, PeriodicVerificationFailsVisiblyWhenTheDestinationIsDown) {
  ASSERT_EQ(Run("CREATE SUBSCRIPTION s ON d DESTINATIONS ALL 'http://127.0.0.1:1' VERIFY EVERY 1s").error,
            "");
  EXPECT_EQ(std::get<std::string>(Show("s")["verify"]), "EVERY 1s WINDOW 1d");
  for (int i = 0; i < 100 && std::get<std::string>(Show("s")["verify_error"]).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(std::get<std::string>(Show("s")["verify_error"]), "");
  EXPECT_NE(manager_->RenderMetrics().find("m2mdb_subscription_verify_last_success{database=\"d\","
                                           "retention_policy=\"autogen\",subscription=\"s\",destination="
                                           "\"http://127.0.0.1:1\"} 0"),
            std::string::npos);
  // The schedule survives a restart (stored with the definition).
  manager_->Stop();
  SetUp();
  EXPECT_EQ(std::get<std::string>(Show("s")["verify"]), "EVERY 1s WINDOW 1d");
}

TEST_F(SubscriptionManagerVerify, DropDatabaseAndRetentionPolicyDropTheirSubscriptions) {
  ASSERT_TRUE(src_.db()->CreateDatabase({"e", 0, 0}).ok());
  ASSERT_EQ(Run("CREATE SUBSCRIPTION a ON d DESTINATIONS ALL 'http://127.0.0.1:1'").error, "");
  ASSERT_EQ(Run("CREATE SUBSCRIPTION b ON e DESTINATIONS ALL 'http://127.0.0.1:1' VERIFY EVERY 1s").error,
            "");
  ASSERT_TRUE(manager_->DropRetentionPolicy("d", "other").ok());
  EXPECT_FALSE(Show("a").empty());
  ASSERT_TRUE(manager_->DropRetentionPolicy("d", "autogen").ok());
  EXPECT_TRUE(Show("a").empty());
  ASSERT_TRUE(manager_->DropDatabase("e").ok());
  EXPECT_TRUE(Show("b").empty());
  // Gone for good: not back after a restart, and no cursor holds the WAL.
  manager_->Stop();
  SetUp();
  EXPECT_TRUE(Run("SHOW SUBSCRIPTIONS").series.empty());
  for (const WalCursor& c : src_.db()->ListWalCursors()) EXPECT_NE(c.name.rfind("sub\x1f", 0), 0u) << c.name;
}

TEST_F(SubscriptionManagerVerify, ADatabaseDroppedWhileStoppedTakesItsSubscriptionsAtStart) {
  ASSERT_TRUE(src_.db()->CreateDatabase({"e", 0, 0}).ok());
  ASSERT_EQ(Run("CREATE SUBSCRIPTION a ON d DESTINATIONS ALL 'http://127.0.0.1:1'").error, "");
  ASSERT_EQ(Run("CREATE SUBSCRIPTION b ON e DESTINATIONS ALL 'http://127.0.0.1:1'").error, "");
  manager_->Stop();
  ASSERT_TRUE(src_.db()->DropDatabase("e").ok());  // as an embedded `m2mdb query --data-dir` would
  SetUp();
  EXPECT_FALSE(Show("a").empty());
  EXPECT_TRUE(Show("b").empty());
  for (const WalCursor& c : src_.db()->ListWalCursors()) {
    EXPECT_EQ(c.name.find("\x1f"
                          "e\x1f"),
              std::string::npos)
        << c.name;
  }
  manager_->Stop();
  SetUp();  // and stays gone
  EXPECT_TRUE(Show("b").empty());
}

}  // namespace
}  // namespace m2mdb::server
