// Executor fuzz target: every input is parsed and, if it parses, run against
// a small in-process database. Checks that no query crashes the process.
// Built as a standalone replay driver (tests/fuzz/standalone_main.cc) or
// with libFuzzer.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <unistd.h>

#include "m2mdb/db.h"
#include "m2mdb/query/executor.h"

namespace {

m2mdb::DB* Database() {
  static std::unique_ptr<m2mdb::DB> db = [] {
    std::string dir =
        (std::filesystem::temp_directory_path() / ("m2mdb_query_fuzz_" + std::to_string(getpid()))).string();
    std::filesystem::remove_all(dir);
    m2mdb::Options o;
    o.data_dir = dir;
    o.wal_sync = m2mdb::WalSyncMode::kNone;
    auto opened = m2mdb::DB::Open(o);
    if (!opened.ok()) std::abort();
    auto d = std::move(*opened);
    (void)d->CreateDatabase({.name = "db"});
    std::string lp;
    for (int i = 0; i < 200; i++) {
      lp += "cpu,host=h" + std::to_string(i % 3) + " value=" + std::to_string(i * 0.5) +
            ",n=" + std::to_string(i) + "i,s=\"x" + std::to_string(i % 4) + "\" " +
            std::to_string(int64_t{i} * 7000000000) + "\n";
    }
    (void)d->WriteLineProtocol("db", lp, {});
    return d;
  }();
  return db.get();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string q(reinterpret_cast<const char*>(data), size);
  // Statements that destroy the data make later inputs meaningless.
  for (const char* w : {"DROP", "drop", "DELETE", "delete", "Drop", "Delete"}) {
    if (q.find(w) != std::string::npos) return 0;
  }
  m2mdb::query::Executor exec(Database());
  m2mdb::query::QueryOptions o;
  o.database = "db";
  o.now = 2000000000000;
  o.timeout = std::chrono::milliseconds(2000);
  o.max_points = 1000000;
  auto r = exec.Execute(q, o);
  (void)m2mdb::query::ToInfluxJson(r, {});
  (void)m2mdb::query::ToCsv(r, {});
  (void)m2mdb::query::ToTable(r, {});
  return 0;
}
