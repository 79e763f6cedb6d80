// The outcome of `compare` and its three renderings: the aligned text table,
// JSON (--json) and an SVG bar chart (--svg).
#ifndef M2MDB_BENCH_M2MDB_BENCH_RESULTS_H_
#define M2MDB_BENCH_M2MDB_BENCH_RESULTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace m2mdb::bench {

// One query's latency on one target; nullopt median = not measured (n/a).
struct QueryFigure {
  std::string name{};
  std::optional<double> median_ms{}, min_ms{}, max_ms{}, p99_ms{};
  std::string status{};            // "ok", "SKIPPED: ...", "WRONG: ..."
  std::string matches_influxdb{};  // "yes", "no", "" (not compared)
};

struct TargetFigures {
  std::string name{};  // m2mdb | influxdb | victoriametrics
  std::string version{};
  std::string durability{};
  std::string skipped{};   // non-empty: not run, and why
  std::string problems{};  // failed writes etc. (printed loudly)
  std::optional<double> ingest_values_per_s{};
  std::optional<double> ingest_lines_per_s{};
  std::optional<double> ingest_mb_per_s{};
  std::optional<double> write_p50_ms{}, write_p99_ms{}, write_max_ms{};
  // Allocated blocks (st_blocks * 512, as du) of every file of the data
  // directory, counted while the server runs after the restart / values.
  std::optional<double> bytes_per_value{};
  std::optional<uint64_t> disk_bytes{};
  std::optional<double> peak_rss_mb{};
  std::optional<double> cpu_us_per_value{};
  std::optional<double> restart_ping_s{};    // start → first /ping answer
  std::optional<double> restart_answer_s{};  // start → first query answer
  std::vector<QueryFigure> queries{};
  std::string compress_report{};  // m2mdb only
};

struct Environment {
  std::string date{};     // UTC, RFC 3339
  std::string machine{};  // "2 CPUs (AMD EPYC), 23.5 GiB RAM, Linux 6.1"
  std::string command{};  // the command line
};

struct CompareResult {
  Environment env;
  std::string profile{};
  int scale = 0;
  std::string duration{};
  uint64_t seed = 0;
  int workers = 0;
  int batch_size = 0;
  bool gzip = false;  // write bodies were gzip-compressed
  uint64_t lines = 0;
  uint64_t values = 0;
  uint64_t bytes = 0;
  int query_runs = 0;
  int query_warmup = 0;
  // "as-loaded" or "compacted" (CompareOptions::state); "" in runs recorded
  // before it existed (those were compacted).
  std::string state{};
  std::vector<TargetFigures> targets{};  // targets[0] is the reference for ratios when it is m2mdb
};

// Fills the machine description from /proc and uname.
Environment CurrentEnvironment(const std::string& command);

std::string FormatTable(const CompareResult& r);
std::string FormatJson(const CompareResult& r);
std::string FormatSvg(const CompareResult& r);

// Reads back what FormatJson wrote (a recorded run, `compare --json-out`), so
// that a chart can be drawn again without running anything (`m2mdb-bench
// chart`). Missing members keep their defaults; InvalidArgument if the text is
// not JSON or has no "targets" array.
absl::StatusOr<CompareResult> ParseCompareJson(std::string_view text);

}  // namespace m2mdb::bench

#endif  // M2MDB_BENCH_M2MDB_BENCH_RESULTS_H_
