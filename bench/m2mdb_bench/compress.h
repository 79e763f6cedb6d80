// `m2mdb-bench compress`: bytes on disk per stored value of an m2mdb data
// directory, opened embedded (the server must not be running on it).
#ifndef M2MDB_BENCH_M2MDB_BENCH_COMPRESS_H_
#define M2MDB_BENCH_M2MDB_BENCH_COMPRESS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

#include "m2mdb/db.h"

namespace m2mdb::bench {

struct CompressResult {
  StorageReport report;
  uint64_t values = 0;  // stored field values (points over all fields)
  double segment_bytes_per_value = 0;
  double total_bytes_per_value = 0;
  std::string text;  // the printed report
  // Float fields only: bytes (timestamps + values) with the chosen codecs and
  // with Gorilla XOR alone for the values, over gorilla_values points.
  uint64_t chosen_float_bytes = 0;
  uint64_t gorilla_bytes = 0;
  uint64_t gorilla_values = 0;
};

// Opens `data_dir`, flushes and compacts (so the head and small segments do
// not distort the figure), then reads the storage report.
absl::StatusOr<CompressResult> CompressReport(const std::string& data_dir);

// Opens the (stopped) data directory, flushes and fully compacts it
// (DB::Compact), and closes it: `compare --state compacted` for m2mdb.
absl::Status CompactEmbedded(const std::string& data_dir);

// Creates `database` in a fresh data directory, so `m2mdb serve` accepts
// /write?db= for it before /query (CREATE DATABASE) exists.
absl::Status CreateDatabaseEmbedded(const std::string& data_dir, const std::string& database);

}  // namespace m2mdb::bench

#endif  // M2MDB_BENCH_M2MDB_BENCH_COMPRESS_H_
