// The rows shared by the table and the chart: one per compared figure, with
// a text cell and a ratio to m2mdb per target.
#ifndef M2MDB_BENCH_M2MDB_BENCH_METRICS_H_
#define M2MDB_BENCH_M2MDB_BENCH_METRICS_H_

#include <optional>
#include <string>
#include <vector>

#include "bench/m2mdb_bench/results.h"

namespace m2mdb::bench {

struct MetricCell {
  std::optional<double> value{};  // absolute figure; nullopt = n/a
  std::string text{};             // "1.23 M", "n/a", "4.5 ms [4.1–5.0]"
  std::optional<double> ratio{};  // value / m2mdb's value, for targets other than m2mdb
};

struct Metric {
  std::string label{};        // "ingest (field values/s)"
  std::string short_label{};  // for the chart
  bool higher_is_better = false;
  std::vector<MetricCell> cells{};  // one per CompareResult::targets
};

std::vector<Metric> CompareMetrics(const CompareResult& r);

}  // namespace m2mdb::bench

#endif  // M2MDB_BENCH_M2MDB_BENCH_METRICS_H_
