// `m2mdb-bench load`: posts line protocol in fixed batches over N keep-alive
// connections and reports throughput and request latency.
#ifndef M2MDB_BENCH_M2MDB_BENCH_LOAD_H_
#define M2MDB_BENCH_M2MDB_BENCH_LOAD_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace m2mdb::bench {

struct LoadOptions {
  std::string url = "http://127.0.0.1:8086";
  int workers = 4;
  int batch_size = 5000;  // lines per request
  std::string db = "bench";
  std::string target_kind = "m2mdb";  // influx | vm | m2mdb (all take v1 /write)
  bool progress = false;              // live progress line on stdout (only when it is a terminal)
  // Send every body gzip-compressed ("Content-Encoding: gzip", zlib level 6,
  // Go's default and so Telegraf's), compressed once before the clock starts:
  // what is timed is the server's inflate and write, as with a gzip client.
  bool gzip = false;
};

// A request body: whole lines, with their counts.
struct Batch {
  std::string_view body{};
  uint64_t lines = 0;
  uint64_t values = 0;
};

struct LoadResult {
  uint64_t requests = 0;
  uint64_t lines = 0;
  uint64_t values = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  uint64_t failed_requests = 0;             // non-2xx or no answer
  std::map<int, uint64_t> status_counts{};  // HTTP status → requests (0 = no answer)
  std::vector<std::string> failures{};      // the first answers that were not 2xx, verbatim
  double lines_per_s() const { return seconds > 0 ? lines / seconds : 0; }
  double values_per_s() const { return seconds > 0 ? values / seconds : 0; }
  double mb_per_s() const { return seconds > 0 ? bytes / 1e6 / seconds : 0; }
};

// Field values in one line of line protocol (counts '=' in the field set,
// outside quoted strings, honouring backslash escapes).
int CountFieldValues(std::string_view line);

// Cuts `data` into batches of `batch_size` lines.
std::vector<Batch> SplitBatches(std::string_view data, int batch_size);

// Posts every batch once. Fails only on bad options; failed requests are
// counted in the result (the caller decides whether that is fatal).
absl::StatusOr<LoadResult> RunLoad(const LoadOptions& options, const std::vector<Batch>& batches);

// Human-readable summary (several lines).
std::string FormatLoadResult(const LoadResult& r);

}  // namespace m2mdb::bench

#endif  // M2MDB_BENCH_M2MDB_BENCH_LOAD_H_
