// Child process for the crash test: writes numbered batches and prints
// "ACK <k>" after each write is acknowledged, so the parent knows what must
// survive a SIGKILL. Small head budget and explicit flushes/compactions make
// kills land during flush and compaction too.
//
// usage: crash_writer DATA_DIR FIRST_BATCH WAL_SYNC(always|batch|none)
#include <cstdio>
#include <cstdlib>
#include <string>

#include "m2mdb/db.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: crash_writer DATA_DIR FIRST_BATCH always|batch|none\n");
    return 2;
  }
  m2mdb::Options o;
  o.data_dir = argv[1];
  std::string sync = argv[3];
  o.wal_sync = sync == "none" ? m2mdb::WalSyncMode::kNone
               : sync == "batch" ? m2mdb::WalSyncMode::kBatch
                                 : m2mdb::WalSyncMode::kAlways;
  o.head_memory_bytes = 128 << 10;
  o.compaction_trigger = 2;
  o.max_block_points = 64;
  auto db = m2mdb::DB::Open(o);
  if (!db.ok()) {
    std::fprintf(stderr, "open: %s\n", db.status().ToString().c_str());
    return 1;
  }
  if (auto s = (*db)->CreateDatabase({"crash", 0, 0}); !s.ok()) {
    std::fprintf(stderr, "create: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("READY\n");
  std::fflush(stdout);
  for (long k = std::atol(argv[2]);; k++) {
    std::string body;
    for (int l = 0; l < 50; l++) {
      long t = k * 100 + l;
      body += "m,w=w" + std::to_string(k % 7) + " v=" + std::to_string(k) + "i,x=" + std::to_string(k) + ".5 " +
              std::to_string(t) + "\n";
    }
    auto r = (*db)->WriteLineProtocol("crash", body, {});
    if (!r.ok() || !r->errors.empty()) {
      std::fprintf(stderr, "write %ld failed: %s\n", k, r.ok() ? r->errors[0].reason.c_str() : r.status().ToString().c_str());
      return 1;
    }
    std::printf("ACK %ld\n", k);
    std::fflush(stdout);
    if (k % 13 == 0) {
      std::printf("FLUSH %ld\n", k);
      std::fflush(stdout);
      if (auto s = (*db)->Flush(); !s.ok()) return 1;
    }
    if (k % 29 == 0) {
      std::printf("COMPACT %ld\n", k);
      std::fflush(stdout);
      if (auto s = (*db)->Compact(); !s.ok()) return 1;
    }
  }
}
