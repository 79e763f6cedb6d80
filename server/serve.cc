#include "server/serve.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "engine/util/logging.h"
#include "m2mdb/db.h"

namespace m2mdb::server {
namespace {

std::atomic<int> g_signals{0};

void OnSignal(int) {
  if (g_signals.fetch_add(1) >= 1) {
    // Second signal: leave at once. Acknowledged writes are in the WAL.
    const char msg[] = "second signal: exiting without closing\n";
    (void)!::write(2, msg, sizeof(msg) - 1);
    ::_exit(130);
  }
}

}  // namespace

int Serve(const ServeOptions& options) {
  Options o;
  o.data_dir = options.data_dir;
  if (options.wal_sync == "always") {
    o.wal_sync = WalSyncMode::kAlways;
  } else if (options.wal_sync == "batch") {
    o.wal_sync = WalSyncMode::kBatch;
  } else if (options.wal_sync == "none") {
    o.wal_sync = WalSyncMode::kNone;
  } else {
    std::fprintf(stderr, "m2mdb serve: --wal-sync must be always, batch or none\n");
    return 2;
  }
  o.head_memory_bytes = options.head_memory_mb << 20;
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  auto db = DB::Open(o);
  if (!db.ok()) {
    std::fprintf(stderr, "m2mdb serve: %s\n", db.status().ToString().c_str());
    return 1;
  }
  DBStats st = (*db)->Stats();
  LogInfo("m2mdb ready: data dir ", options.data_dir, ", ", (*db)->ListDatabases().size(), " databases, ",
          st.series, " series, ", st.segments, " segments, ", st.head_points, " points replayed from the WAL");
  LogInfo("the HTTP API is not built yet (issue: HTTP server); ", options.http,
          " is not served. Waiting for SIGINT/SIGTERM.");
  while (g_signals.load() == 0) ::pause();
  LogInfo("shutting down: flushing and closing");
  Status s = (*db)->Close();
  if (!s.ok()) {
    LogError("close: ", s.ToString());
    return 1;
  }
  LogInfo("closed cleanly");
  return 0;
}

}  // namespace m2mdb::server
