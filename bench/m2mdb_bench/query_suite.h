// The query suites (iot and sensors): InfluxQL for InfluxDB and m2mdb (GET
// /query), an equivalent MetricsQL form for VictoriaMetrics, and the shape each
// answer must have for the data set that `generate` produced with the same
// options.
#ifndef M2MDB_BENCH_M2MDB_BENCH_QUERY_SUITE_H_
#define M2MDB_BENCH_M2MDB_BENCH_QUERY_SUITE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "bench/m2mdb_bench/generate.h"

namespace m2mdb::bench {

struct QuerySpec {
  std::string name{};         // short id, e.g. "lastpoint"
  std::string description{};  // what it asks, in words
  std::string influxql{};
  // VictoriaMetrics: MetricsQL, as an instant query at vm_time_s or a range
  // query over [vm_start_s, vm_end_s] with vm_step_s. The window semantics
  // differ slightly (VM: (t - w, t]; InfluxQL: [t, t + w)); times are shifted
  // by 1 ms so both see the same points.
  std::string metricsql{};
  bool vm_range = false;
  double vm_time_s = 0, vm_start_s = 0, vm_end_s = 0, vm_step_s = 0;

  // Expected InfluxQL answer: this many series, each with this many rows
  // (-1: not checked); optionally the first value of the first row.
  int series = -1;
  int rows_per_series = -1;
  bool check_value = false;
  double value = 0;
  // Expected VictoriaMetrics answer: series count, and the total number of
  // samples when vm_samples >= 0.
  int vm_series = -1;
  int64_t vm_samples = -1;
};

std::vector<QuerySpec> IotSuite(const GenerateOptions& gen);
// What users of 1 Hz sensor data ask: last values, per-site and per-sensor
// aggregates over short and long windows, raw points, a filter on the value.
std::vector<QuerySpec> SensorsSuite(const GenerateOptions& gen);
// The suite of gen.profile (empty for a profile without one).
std::vector<QuerySpec> SuiteFor(const GenerateOptions& gen);

struct QueryRun {
  std::string name{};
  bool skipped = false;  // the target does not serve queries (404/501)
  std::string skip_reason{};
  bool ok = false;           // every run answered 2xx with the expected shape
  std::string check{};       // "ok" or what was wrong
  std::vector<double> ms{};  // measured runs (warm-up excluded)
  double median_ms = 0, p99_ms = 0, min_ms = 0, max_ms = 0;
  std::string canonical{};  // the answer's values, normalised, to compare targets
};

struct SuiteOptions {
  std::string url{};
  std::string target_kind = "m2mdb";  // influx | vm | m2mdb
  std::string db = "bench";
  int warmup = 2;
  int runs = 10;
};

// Runs each query warmup + runs times; latency stats over the measured runs.
std::vector<QueryRun> RunSuite(const SuiteOptions& options, const std::vector<QuerySpec>& suite);

// Checks one answer body against a spec; returns "ok" or the problem.
// `canonical` gets a normalised rendering of the values (InfluxQL only).
std::string CheckInfluxAnswer(const QuerySpec& spec, const std::string& body, std::string* canonical);
std::string CheckVmAnswer(const QuerySpec& spec, const std::string& body);

// The path+query string of the request for `spec` on a target kind.
std::string QueryPath(const QuerySpec& spec, const std::string& target_kind, const std::string& db);

std::string FormatSuite(const std::vector<QuerySpec>& suite, const std::vector<QueryRun>& runs);

}  // namespace m2mdb::bench

#endif  // M2MDB_BENCH_M2MDB_BENCH_QUERY_SUITE_H_
