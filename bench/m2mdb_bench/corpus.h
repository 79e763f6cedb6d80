// `m2mdb-bench compress --corpus`: bytes per stored value, shape by shape, for
// m2mdb and VictoriaMetrics in the same run (issue 18).
//
// Each shape is one small data set in line protocol that models one kind of
// real telemetry (integral readings sent as floats, 5-decimal GPS walks,
// noisy analog sensors at several precisions, meters, counters with resets,
// mostly-constant status values, booleans, enum strings, sparse fields, very
// many short series, irregular timestamps). The generators are deterministic
// (same seed, same bytes) and know nothing of our codecs: values are what a
// device would print, timestamps what its clock would stamp.
#ifndef M2MDB_BENCH_M2MDB_BENCH_CORPUS_H_
#define M2MDB_BENCH_M2MDB_BENCH_CORPUS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace m2mdb::bench {

struct CorpusShape {
  std::string name{};
  std::string description{};
  std::string lines{};  // line protocol, ns timestamps
  uint64_t values = 0;
  // VictoriaMetrics drops string fields: a shape made of them is m2mdb only.
  bool vm_stores_it = true;
};

// Every shape, or only those named in `only` (comma-separated; empty = all).
// `scale` multiplies the number of devices (1 = the default sizes, about
// 0.5–1 M values per shape).
std::vector<CorpusShape> CorpusShapes(uint64_t seed, double scale, const std::string& only);

struct CorpusFigure {
  std::string shape{};
  uint64_t values = 0;
  // m2mdb, embedded load, head flushed at close, no compaction; allocated
  // bytes (st_blocks * 512) of segments/, and of the whole data directory
  // after a restart while it is open.
  uint64_t m2mdb_segment_bytes = 0;
  uint64_t m2mdb_total_bytes = 0;
  std::string m2mdb_codecs{};  // value codecs chosen (blocks), per field
  // VictoriaMetrics' whole data directory (du); unset when skipped.
  std::optional<uint64_t> vm_total_bytes{};    // after a graceful stop, without cache/
  std::optional<uint64_t> vm_running_bytes{};  // while running, once the directory stopped changing
  std::string note{};
};

struct CorpusOptions {
  uint64_t seed = 1;
  double scale = 1;
  std::string only{};           // comma-separated shape names; empty = all
  std::string work_dir{};       // fresh temporary directories go under it
  std::string m2mdb_binary;     // unused for the embedded m2mdb load; kept for Target
  bool victoriametrics = true;  // also load each shape into VictoriaMetrics
};

// Runs every shape; prints progress to stderr. Returns one figure per shape.
absl::StatusOr<std::vector<CorpusFigure>> RunCorpus(const CorpusOptions& options);

// A Markdown table of the figures (B/value and m2mdb ÷ VM per shape).
std::string FormatCorpus(const std::vector<CorpusFigure>& figures);

}  // namespace m2mdb::bench

#endif  // M2MDB_BENCH_M2MDB_BENCH_CORPUS_H_
