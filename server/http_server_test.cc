// HttpServer in process: what the Python tests (tests/server/) cannot time
// reliably.
#include "server/http_server.h"

#include <chrono>
#include <future>
#include <memory>
#include <new>
#include <regex>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "client/http_client.h"

#include "m2mdb/db.h"
#include "server/serve.h"
#include "server/tokens.h"
#include "tests/support/test_util.h"

namespace m2mdb::server {
namespace {

// A stop requested before Run's listen loop has started (a SIGTERM right
// after the start) must still stop it: the server used to wait for ever.
TEST(HttpServerTest, StopBeforeRunStartsStillStops) {
  testing::TempDir dir;
  Options o;
  o.data_dir = dir.path();
  o.wal_sync = WalSyncMode::kNone;
  auto db = DB::Open(o);
  ASSERT_TRUE(db.ok()) << db.status();
  auto tokens = TokenStore::Load(db->get());
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  ServeOptions so;
  so.data_dir = dir.path();
  auto server = HttpServer::Create(db->get(), so, std::move(*tokens), /*auth_required=*/false);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->Bind("127.0.0.1", 0).ok());
  std::thread run([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // Stop comes first
    (*server)->Run();
  });
  auto stopped = std::async(std::launch::async, [&] { (*server)->Stop(); });
  if (stopped.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    ADD_FAILURE() << "Stop did not return within 20 s";
    std::_Exit(1);  // the threads would block the test's exit for ever
  }
  run.join();
  EXPECT_TRUE((*db)->Close().ok());
}

// A server on a fresh data directory, on a free loopback port, in process.
class RunningServer {
 public:
  explicit RunningServer(ServeOptions so = {}, bool auth_required = false, TokenStore tokens = {}) {
    Options o;
    o.data_dir = dir_.path();
    o.wal_sync = WalSyncMode::kNone;
    o.max_series_per_database = so.max_series_per_database;
    auto db = DB::Open(o);
    EXPECT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    EXPECT_TRUE(db_->CreateDatabase({.name = "t"}).ok());
    so.data_dir = dir_.path();
    auto server = HttpServer::Create(db_.get(), so, std::move(tokens), auth_required);
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    auto port = server_->Bind("127.0.0.1", 0);
    EXPECT_TRUE(port.ok()) << port.status();
    port_ = *port;
  }
  void Start() {
    run_ = std::thread([this] { server_->Run(); });
  }
  ~RunningServer() {
    if (run_.joinable()) {
      server_->Stop();
      run_.join();
    }
    server_.reset();
    EXPECT_TRUE(db_->Close().ok());
  }
  HttpServer* server() { return server_.get(); }
  int port() const { return port_; }
  // A keep-alive client of the server.
  std::unique_ptr<client::HttpClient> Client() const {
    client::HttpClientOptions o;
    o.url = "http://127.0.0.1:" + std::to_string(port_);
    o.read_timeout_seconds = 10;
    auto c = client::HttpClient::Create(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }
  DB* db() { return db_.get(); }

 private:
  testing::TempDir dir_;
  std::unique_ptr<DB> db_;
  std::unique_ptr<HttpServer> server_;
  std::thread run_;
  int port_ = 0;
};

int64_t Gauge(const std::string& metrics, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(metrics, m, std::regex("\\n" + name + " (\\d+)"))) return -1;
  return std::stoll(m[1]);
}

// Issue 16 item 2: a query that throws (std::bad_alloc from a huge GROUP BY
// time) used to keep its concurrency slot; after --max-concurrent-queries of
// them every /query was answered 429 until a restart.
TEST(HttpServerTest, ThrowingQueriesGiveTheirSlotBack) {
  ServeOptions so;
  so.max_concurrent_queries = 2;
  RunningServer s(so);
  s.server()->SetQueryHookForTest([](const std::string& q) {
    if (q.find("boom") != std::string::npos) throw std::bad_alloc();
    if (q.find("oops") != std::string::npos) throw std::runtime_error("oops");
  });
  s.Start();
  auto client = s.Client();
  client::HttpClient& c = *client;
  for (int i = 0; i < 6; i++) {
    auto r = c.Get(i % 2 == 0 ? "/query?db=t&q=SELECT%20v%20FROM%20boom"
                              : "/query?db=t&q=SELECT%20v%20FROM%20oops");
    ASSERT_TRUE(r.ok()) << i;
    EXPECT_EQ(500, r->status) << r->body;
    EXPECT_NE(std::string::npos, r->body.find(i % 2 == 0 ? "out of memory" : "oops")) << r->body;
  }
  auto r = c.Get("/query?q=SHOW%20DATABASES");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(200, r->status) << r->body;
  EXPECT_NE(std::string::npos, r->body.find("\"t\"")) << r->body;
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(0, Gauge(m->body, "m2mdb_queries_in_flight")) << m->body;
}

// Bound parameters (`params`, a JSON object) bind strings, integers, floats
// and bools; anything else is refused with the two messages clients know.
TEST(HttpServerTest, BoundParametersAreReadFromJson) {
  RunningServer s;
  s.Start();
  auto client = s.Client();
  client::HttpClient& c = *client;
  auto w = c.Post("/write?db=t", "m,h=a\\ b v=1.5,n=3i 1\nm,h=c v=2.5,n=4i 2\n", "text/plain");
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(204, w->status) << w->body;
  auto query = [&](const std::string& params) {
    return c.PostForm("/query", client::Params{{"db", "t"},
                                               {"q", "SELECT v FROM m WHERE h = $h AND n >= $n AND v > $v"},
                                               {"params", params}});
  };
  auto r = query(R"( {"h": "a b", "n": 3, "v": 1.0, "unused": true} )");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(200, r->status) << r->body;
  EXPECT_EQ(R"({"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","v"],"values":[[)"
            R"("1970-01-01T00:00:00.000000001Z",1.5]]}]}]})"
            "\n",
            r->body);
  r = query("[1]");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(400, r->status);
  EXPECT_EQ("{\"error\":\"params must be a JSON object\"}\n", r->body);
  for (const char* bad : {"{\"h\": ", "{\"h\": null}", "{\"h\": [1]}", "{\"h\" 1}"}) {
    r = query(bad);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(400, r->status) << bad;
    EXPECT_EQ("{\"error\":\"error parsing query parameters: invalid JSON\"}\n", r->body) << bad;
  }
}

// Issue 17: limit metrics and statuses follow the kind the engine and the
// query layer attach to an error (server/error_kinds.h), not its wording.
TEST(HttpServerTest, ErrorKindsPickStatusesAndLimitMetrics) {
  ServeOptions so;
  so.max_line_bytes = 64;
  so.max_series_per_database = 2;
  so.query_max_points = 5;
  RunningServer s(so);
  s.Start();
  auto client = s.Client();
  client::HttpClient& c = *client;
  const std::string long_line = "m,h=a v=1 " + std::string(80, '1');
  auto w =
      c.Post("/write?db=t", "m,h=a v=1 1\nm,h=b v=1 2\nm,h=c v=1 3\n" + long_line + "\nbad\n", "text/plain");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(400, w->status);
  EXPECT_NE(std::string::npos,
            w->body.find("partial write: max-series-per-database limit exceeded: (2) dropped=1"))
      << w->body;
  std::string points;
  for (int i = 10; i < 20; i++) points += "m,h=a v=1 " + std::to_string(i) + "\n";
  w = c.Post("/write?db=t", points, "text/plain");
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(204, w->status) << w->body;
  auto q = c.Get("/query?db=t&q=SELECT%20v%20FROM%20m");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(200, q->status);
  EXPECT_NE(std::string::npos, q->body.find("query memory limit exceeded")) << q->body;
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m.ok()) << m.status();
  auto limit = [&](const std::string& name) {
    return Gauge(m->body, "m2mdb_limit_rejections_total\\{limit=\"" + name + "\"\\}");
  };
  EXPECT_EQ(1, limit("line_length")) << m->body;
  EXPECT_EQ(1, limit("series_per_database")) << m->body;
  EXPECT_EQ(1, limit("query_memory")) << m->body;
  EXPECT_EQ(0, limit("query_timeout")) << m->body;
  // A database that does not exist: 404 by the status code.
  w = c.Post("/write?db=nope", "m v=1 1\n", "text/plain");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(404, w->status) << w->body;
}

// A token record written before the delete and admin permissions existed
// keeps its read/write rights and gets neither new one.
TEST(TokensTest, OldRecordsHaveNeitherDeleteNorAdmin) {
  const std::string hash(64, 'a');
  auto old = DecodeToken("0123456789ab",
                         "v=1\nhash=" + hash + "\ndbs=t\nread=1\nwrite=1\ncreated=1\ndescription=x\n");
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_TRUE(old->may_read());
  EXPECT_TRUE(old->may_write());
  EXPECT_FALSE(old->may_delete());
  EXPECT_FALSE(old->admin);
  EXPECT_EQ("read+write", old->ScopeString());
  // The new keys round-trip; admin implies the rest.
  TokenInfo t = *old;
  t.read = t.write = false;
  t.admin = true;
  auto back = DecodeToken("0123456789ab", EncodeToken(t));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->admin && back->may_read() && back->may_write() && back->may_delete());
  EXPECT_EQ("admin", back->ScopeString());
  t.admin = false;
  t.del = true;
  back = DecodeToken("0123456789ab", EncodeToken(t));
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->may_delete());
  EXPECT_FALSE(back->may_read() || back->may_write() || back->admin);
  EXPECT_EQ("delete", back->ScopeString());
}

}  // namespace
}  // namespace m2mdb::server
