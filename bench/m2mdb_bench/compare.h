// `m2mdb-bench compare`: the same data, batches, workers and durability
// against each target in turn (never concurrently), started and stopped by us.
#ifndef M2MDB_BENCH_M2MDB_BENCH_COMPARE_H_
#define M2MDB_BENCH_M2MDB_BENCH_COMPARE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "bench/m2mdb_bench/generate.h"
#include "bench/m2mdb_bench/results.h"

namespace m2mdb::bench {

struct CompareOptions {
  GenerateOptions gen;
  std::string duration_text = "1d";
  std::vector<std::string> targets = {"m2mdb", "influxdb", "victoriametrics"};
  int workers = 4;
  int batch_size = 5000;
  bool gzip = false;  // write bodies gzip-compressed (LoadOptions::gzip)
  int query_runs = 10;
  int query_warmup = 2;
  std::string db = "bench";
  std::string m2mdb_binary;  // path of `m2mdb`
  std::string work_dir;      // parent of the temp dir; "" = $TMPDIR or /tmp
  // The state the data is queried and measured in (issue 18):
  //   "as-loaded" (default): after the load and one restart, each server with
  //     its default configuration and no forced compaction — what a user sees;
  //   "compacted": after each server's own full compaction (m2mdb: DB::Compact
  //     on the stopped data directory; InfluxDB: snapshot and full compaction
  //     forced by short cold durations; VictoriaMetrics: force_flush and
  //     force_merge), then the restart.
  std::string state = "as-loaded";
  bool keep = false;    // keep the data directories
  std::string command;  // for the report
};

// Runs every target. A target whose binary is missing is reported as skipped;
// failures of a target's phases are recorded in its `problems`. Fails only
// when nothing can run (bad options, no temp dir, generation failure).
absl::StatusOr<CompareResult> RunCompare(const CompareOptions& options);

}  // namespace m2mdb::bench

#endif  // M2MDB_BENCH_M2MDB_BENCH_COMPARE_H_
