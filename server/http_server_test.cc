// HttpServer in process: what the Python tests (tests/server/) cannot time
// reliably.
#include "server/http_server.h"

#include <chrono>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "m2mdb/db.h"
#include "server/serve.h"
#include "server/tokens.h"
#include "tests/support/test_util.h"

namespace m2mdb::server {
namespace {

// A stop requested before Run's listen loop has started (a SIGTERM right
// after the start) must still stop it: httplib's stop() alone is a no-op
// then, and the server used to wait for ever.
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

}  // namespace
}  // namespace m2mdb::server
