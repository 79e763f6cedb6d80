// SubscriptionManager against an in-process destination (an HttpServer on
// its own DB): a model test whose oracle is a map of what was acknowledged,
// with sender restarts between random writes; and the statements' answers.
#include "server/subscriptions/subscriptions.h"

#include <chrono>
#include <map>
#include <random>
#include <thread>

#include "client/http_client.h"
#include "gtest/gtest.h"

#include "m2mdb/db.h"
#include "server/http_server.h"
#include "server/serve.h"
#include "server/tokens.h"
#include "tests/support/test_util.h"

namespace m2mdb::server {
namespace {

// A DB served over HTTP on a free loopback port.
class Destination {
 public:
  Destination() {
    Options o;
    o.data_dir = dir_.path();
    o.wal_sync = WalSyncMode::kNone;
    db_ = std::move(*DB::Open(o));
    EXPECT_TRUE(db_->CreateDatabase({"d", 0, 0}).ok());
    ServeOptions so;
    so.data_dir = dir_.path();
    server_ = std::move(*HttpServer::Create(db_.get(), so, std::move(*TokenStore::Load(db_.get())), false));
    port_ = *server_->Bind("127.0.0.1", 0);
    run_ = std::thread([this] { server_->Run(); });
  }
  ~Destination() {
    server_->Stop();
    run_.join();
    server_.reset();
    EXPECT_TRUE(db_->Close().ok());
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // series key -> time -> string value of field `field`
  std::map<std::string, std::map<int64_t, std::string>> Strings(const std::string& field) {
    std::map<std::string, std::map<int64_t, std::string>> out;
    ScanRequest req;
    req.database = "d";
    req.measurement = "m";
    req.fields = {field};
    EXPECT_TRUE(db_->Scan(req,
                          [&](const SeriesData& s) {
                            for (size_t i = 0; i < s.columns[0].size(); ++i) {
                              out[s.key][s.columns[0].times[i]] = s.columns[0].ValueAt(i).s;
                            }
                            return absl::OkStatus();
                          })
                    .ok());
    return out;
  }
  // series key -> time -> value
  std::map<std::string, std::map<int64_t, double>> Points() {
    std::map<std::string, std::map<int64_t, double>> out;
    ScanRequest req;
    req.database = "d";
    req.measurement = "m";
    EXPECT_TRUE(db_->Scan(req,
                          [&](const SeriesData& s) {
                            for (size_t i = 0; i < s.columns[0].size(); ++i) {
                              out[s.key][s.columns[0].times[i]] = s.columns[0].ValueAt(i).f;
                            }
                            return absl::OkStatus();
                          })
                    .ok());
    return out;
  }

 private:
  testing::TempDir dir_;
  std::unique_ptr<DB> db_;
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  std::thread run_;
};

class SubscriptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Options o;
    o.data_dir = dir_.path() + "/src";
    o.wal_sync = WalSyncMode::kNone;
    o.wal_segment_bytes = 64 << 10;  // many segments: cursors must hold them
    db_ = std::move(*DB::Open(o));
    ASSERT_TRUE(db_->CreateDatabase({"d", 0, 0}).ok());
    ASSERT_TRUE(db_->CreateDatabase({"other", 0, 0}).ok());
  }
  void TearDown() override {
    manager_.reset();
    EXPECT_TRUE(db_->Close().ok());
  }
  void StartManager() {
    SubscriptionOptions so;
    so.dead_letter_dir = dir_.path();
    so.batch_lines = 700;  // several batches per write
    so.backoff_min_ms = 5;
    so.backoff_max_ms = 50;
    so.max_lanes = max_lanes_;
    manager_ = std::make_unique<SubscriptionManager>(db_.get(), so);
    ASSERT_TRUE(manager_->Start().ok());
  }
  query::StatementResult Run(const std::string& q) {
    auto st = ParseSubscriptionStatements(q);
    EXPECT_TRUE(st.ok()) << st.status();
    return manager_->Run(st->at(0), 0);
  }

  testing::TempDir dir_;
  std::unique_ptr<DB> db_;
  std::unique_ptr<SubscriptionManager> manager_;
  size_t max_lanes_ = 256;
};

TEST_F(SubscriptionsTest, DestinationEndsWithExactlyTheAcknowledgedPointsThroughSenderRestarts) {
  Destination dst;
  StartManager();
  ASSERT_EQ(Run("CREATE SUBSCRIPTION s ON d DESTINATIONS ALL '" + dst.url() + "'").error, "");
  std::mt19937 rng(42);
  std::map<std::string, std::map<int64_t, double>> oracle;
  for (int round = 0; round < 40; ++round) {
    std::string body;
    const int n = 1 + static_cast<int>(rng() % 1500);
    for (int i = 0; i < n; ++i) {
      const int dev = static_cast<int>(rng() % 20);
      const int64_t t = static_cast<int64_t>(rng() % 100000);  // overwrites and out of order too
      const double v = static_cast<double>(rng() % 1000) / 8;
      body += "m,dev=d" + std::to_string(dev) + " v=" + std::to_string(v) + " " + std::to_string(t) + "\n";
      oracle["m,dev=d" + std::to_string(dev)][t] = v;
    }
    ASSERT_TRUE(db_->WriteLineProtocol("d", body, {}).ok());
    ASSERT_TRUE(db_->WriteLineProtocol("other", "x v=1 1\n", {}).ok());  // not subscribed
    if (round % 7 == 3) {
      manager_.reset();  // the sender stops mid-flight, as after a crash
      StartManager();
    }
    if (round % 10 == 5) {
      ASSERT_TRUE(db_->Flush().ok());  // WAL files the cursor must keep
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (dst.Points() != oracle && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(dst.Points() == oracle);
  auto show = Run("SHOW SUBSCRIPTIONS");
  ASSERT_EQ(show.series.size(), 1u);
  EXPECT_EQ(show.series[0].name, "d");
}

// A write of more points than a batch holds is cut into pieces; a string
// field may hold a raw line break inside its quotes, which must not be
// taken for the end of a point (the piece would end inside the string).
TEST_F(SubscriptionsTest, PiecesOfALargeWriteKeepStringsWithLineBreaksWhole) {
  Destination dst;
  StartManager();  // batch_lines = 700
  ASSERT_EQ(Run("CREATE SUBSCRIPTION s ON d DESTINATIONS ALL '" + dst.url() + "'").error, "");
  std::string body;
  std::map<std::string, std::map<int64_t, std::string>> want;
  for (int i = 0; i < 2000; ++i) {
    // Every value spans three lines, with escaped quotes between the breaks
    // (the 700th line break, where a cut at the first '\n' would fall, is
    // inside a string); a tag value with a '"' must not start a string.
    const std::string v = "line " + std::to_string(i) + "\nnext \\\"q\\\"\n";
    std::string text = v;  // as line protocol writes it
    std::string stored;
    for (size_t k = 0; k < text.size(); k++) {
      if (text[k] == '\\' && k + 1 < text.size() && (text[k + 1] == '"' || text[k + 1] == '\\')) {
        stored += text[++k];
      } else {
        stored += text[k];
      }
    }
    body += "m,dev=a\"b s=\"" + text + "\",n=" + std::to_string(i) + "i " + std::to_string(1000 + i) + "\n";
    want["m,dev=a\"b"][1000 + i] = stored;
  }
  auto w = db_->WriteLineProtocol("d", body, {});
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->points_written, 2000u);
  ASSERT_TRUE(w->errors.empty()) << w->errors[0].reason;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (dst.Strings("s") != want && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(dst.Strings("s") == want);
  auto show = Run("SHOW SUBSCRIPTIONS");
  ASSERT_EQ(show.series.size(), 1u);
}

TEST_F(SubscriptionsTest, TheServerSendsToABoundedNumberOfDestinations) {
  max_lanes_ = 3;
  StartManager();
  EXPECT_EQ(
      Run("CREATE SUBSCRIPTION a ON d DESTINATIONS ALL 'http://127.0.0.1:1', 'http://127.0.0.1:2'").error,
      "");
  EXPECT_EQ(
      Run("CREATE SUBSCRIPTION b ON d DESTINATIONS ANY 'http://127.0.0.1:3', 'http://127.0.0.1:4'").error,
      "");
  EXPECT_EQ(Run("CREATE SUBSCRIPTION c ON d DESTINATIONS ALL 'http://127.0.0.1:5'").error,
            "a server sends to at most 3 destinations (ALL counts each, ANY one); drop a subscription first");
  EXPECT_EQ(Run("DROP SUBSCRIPTION b ON d").error, "");
  EXPECT_EQ(Run("CREATE SUBSCRIPTION c ON d DESTINATIONS ALL 'http://127.0.0.1:5'").error, "");
}

TEST_F(SubscriptionsTest, DropRemovesTheCursorsAndTheDefinition) {
  StartManager();
  ASSERT_EQ(
      Run("CREATE SUBSCRIPTION s ON d.autogen DESTINATIONS ALL 'http://127.0.0.1:1', 'http://127.0.0.1:2'")
          .error,
      "");
  EXPECT_EQ(db_->ListWalCursors().size(), 2u);
  EXPECT_EQ(Run("CREATE SUBSCRIPTION s ON d DESTINATIONS ALL 'http://127.0.0.1:1'").error,
            "subscription already exists");
  EXPECT_EQ(Run("DROP SUBSCRIPTION s ON d").error, "");
  EXPECT_TRUE(db_->ListWalCursors().empty());
  EXPECT_EQ(Run("DROP SUBSCRIPTION s ON d").error, "subscription not found");
  manager_.reset();
  StartManager();
  EXPECT_TRUE(Run("SHOW SUBSCRIPTIONS").series.empty());
}

TEST_F(SubscriptionsTest, CursorsWithoutADefinitionAreRemovedAtStart) {
  // What a crash between the steps of CREATE or DROP leaves.
  ASSERT_TRUE(db_->SetWalCursor("sub\x1f"
                                "d\x1f"
                                "autogen\x1f"
                                "gone\x1f"
                                "http://h:1",
                                0)
                  .ok());
  ASSERT_TRUE(db_->SetWalCursor("someone-else", 0).ok());
  StartManager();
  ASSERT_EQ(db_->ListWalCursors().size(), 1u);
  EXPECT_EQ(db_->ListWalCursors()[0].name, "someone-else");
}

}  // namespace
// The value of a counter in a /metrics page (-1: not there).
double MetricValue(const std::string& page, const std::string& name) {
  size_t at = 0;
  while ((at = page.find(name + " ", at)) != std::string::npos) {
    if (at == 0 || page[at - 1] == '\n') return std::stod(page.substr(at + name.size() + 1));
    at += name.size();
  }
  return -1;
}

// A subscription whose destination is its own server (a common slip:
// "localhost" on the source) writes the same database back into itself;
// each delivery used to be a new WAL record delivered again, forever.
TEST(SubscriptionLoopTest, ASubscriptionToItsOwnServerIsAcknowledgedNotRewritten) {
  Destination self;
  client::HttpClientOptions co;
  co.url = self.url();
  auto http = client::HttpClient::Create(co);
  ASSERT_TRUE(http.ok()) << http.status();
  auto q = [&](const std::string& statement) {
    auto r = (*http)->PostForm("/query", {{"q", statement}});
    EXPECT_TRUE(r.ok() && r->status == 200) << (r.ok() ? r->body : r.status().ToString());
  };
  q("CREATE SUBSCRIPTION s ON d DESTINATIONS ALL '" + self.url() + "'");
  std::string body;
  for (int i = 0; i < 10; ++i)
    body += "m,dev=a v=" + std::to_string(i) + " " + std::to_string(1000 + i) + "\n";
  auto w = (*http)->Post("/write?db=d", body, "text/plain");
  ASSERT_TRUE(w.ok() && w->status == 204);
  auto metrics = [&] {
    auto r = (*http)->Get("/metrics");
    return r.ok() ? r->body : std::string();
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (MetricValue(metrics(), "m2mdb_http_looped_back_writes_total") < 1 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(MetricValue(metrics(), "m2mdb_http_looped_back_writes_total"), 1);
  // Once the batch came back, nothing more is written: the points written
  // over HTTP stay the original ten and the lane has nothing left to send.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(MetricValue(metrics(), "m2mdb_http_points_written_total"), 10);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(MetricValue(metrics(), "m2mdb_http_points_written_total"), 10);
  EXPECT_EQ(self.Points()["m,dev=a"].size(), 10u);
}

}  // namespace m2mdb::server
