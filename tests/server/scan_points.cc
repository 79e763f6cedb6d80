// scan_points DATA_DIR DATABASE MEASUREMENT [--times]
// Opens a (stopped server's) data directory with the engine API and prints
// "total <points>" then one "<series key> <points>" line per series, or with
// --times one "<series key> <timestamp>" line per point. Used by the server
// tests to count what survived, independently of /query.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "m2mdb/db.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: scan_points DATA_DIR DATABASE MEASUREMENT [--times]\n");
    return 2;
  }
  const bool times = argc > 4 && std::strcmp(argv[4], "--times") == 0;
  m2mdb::Options o;
  o.data_dir = argv[1];
  o.create_if_missing = false;
  o.background_work = false;
  o.flush_on_close = false;
  auto db = m2mdb::DB::Open(o);
  if (!db.ok()) {
    std::fprintf(stderr, "scan_points: %s\n", db.status().ToString().c_str());
    return 1;
  }
  unsigned long long total = 0;
  std::string out;
  m2mdb::ScanRequest req;
  req.database = argv[2];
  req.measurement = argv[3];
  m2mdb::Status s = (*db)->Scan(req, [&](const m2mdb::SeriesData& sd) {
    // A point is a distinct timestamp over the series' fields.
    size_t n = 0;
    for (const auto& c : sd.columns) n = std::max(n, c.size());
    if (times && !sd.columns.empty()) {
      const auto& c = sd.columns[0];
      for (size_t i = 0; i < c.size(); i++) out += sd.key + " " + std::to_string(c.times[i]) + "\n";
    } else {
      out += sd.key + " " + std::to_string(n) + "\n";
    }
    total += n;
    return m2mdb::Status();
  });
  if (!s.ok()) {
    std::fprintf(stderr, "scan_points: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("total %llu\n%s", total, out.c_str());
  (void)(*db)->Close();
  return 0;
}
