// `m2mdb serve`: opens the engine on a data directory and serves it.
#ifndef M2MDB_SERVER_SERVE_H_
#define M2MDB_SERVER_SERVE_H_

#include <cstdint>
#include <string>

namespace m2mdb::server {

struct ServeOptions {
  std::string data_dir = "./data";
  std::string http = "127.0.0.1:8086";  // host:port
  std::string wal_sync = "always";      // always | batch | none
  uint64_t head_memory_mb = 256;
};

// Runs until SIGINT or SIGTERM, then closes cleanly (a second signal exits at
// once; the WAL keeps every acknowledged write). Returns the exit code.
int Serve(const ServeOptions& options);

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_SERVE_H_
