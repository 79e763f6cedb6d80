// query/exec/exec.h — the executor's internal interfaces: statement runners
// and the per-window functions (aggregates, selectors, transforms, fill).
#ifndef M2MDB_QUERY_EXEC_EXEC_H_
#define M2MDB_QUERY_EXEC_EXEC_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "m2mdb/db.h"
#include "m2mdb/query/ast.h"
#include "m2mdb/query/executor.h"
#include "query/exec/vcol.h"
#include "query/planner/planner.h"
#include "query/planner/select_plan.h"

namespace m2mdb::query {
class ContinuousQueries;
}

namespace m2mdb::query::exec {

// Per-statement state: limits and the clock.
struct ExecContext {
  DB* db = nullptr;
  const QueryOptions* options = nullptr;
  int64_t now = 0;
  bool has_deadline = false;
  std::chrono::steady_clock::time_point deadline;
  std::atomic<uint64_t> points{0};
  // The continuous queries the CQ statements act on; null = not enabled.
  ContinuousQueries* cqs = nullptr;

  // Paging (RunSelectPaged): when > 0, a raw scan reads at most this many
  // points per column from its (cursor-narrowed) time range, and the scan
  // records below up to which time every row is complete.
  size_t page_points = 0;
  bool page_truncated = false;  // some column held page_points points
  int64_t page_cutoff = 0;      // rows at or before (DESC: at or after) this are complete
  size_t page_columns = 0;      // non-empty columns seen, to size the next page

  // A raw SELECT may leave its rows in ResultSeries::columnar: set for the
  // statement of an Execute with QueryOptions::columnar_rows, never while a
  // subquery runs (its rows are read back as rows).
  bool columnar_rows = false;

  // "query timeout" once the deadline passed.
  Status CheckDeadline() const;
  // Counts decoded points against QueryOptions::max_points.
  Status AddPoints(uint64_t n);
};

// SELECT ... INTO (exec/into.cc): runs the statement without its target and
// writes the rows as points; answers influxd's `result` row (time, written).
StatusOr<std::vector<ResultSeries>> RunSelectInto(const SelectStatement& s, ExecContext* ctx);
// The points INTO `target` writes for `results` (a target without a name is
// :MEASUREMENT, the result series' own name).
void AppendIntoPoints(const std::vector<ResultSeries>& results, const Measurement& target,
                      std::vector<Point>* out);
// A copy of `s` without its INTO target.
StatusOr<SelectStatement> WithoutInto(const SelectStatement& s);

// Runs a SELECT; `outer` narrows the time range (for subqueries).
StatusOr<std::vector<ResultSeries>> RunSelect(const SelectStatement& s, ExecContext* ctx,
                                              const planner::TimeRange& outer);

// Runs a raw SELECT of one measurement without GROUP BY (the shape of a big
// export, `SELECT * FROM m`) page by page through time, handing each page's
// rows to `emit` as one series (the same series every time, rows in the
// statement's order, LIMIT/OFFSET applied across pages), so that memory is
// bounded by a page rather than by the answer. False (nothing run) when the
// statement has another shape: run it with RunSelect.
StatusOr<bool> RunSelectPaged(const SelectStatement& s, ExecContext* ctx,
                              const std::function<Status(ResultSeries&&)>& emit);

// EXPLAIN: plans `s` (running its subqueries, whose schema the plan needs)
// and returns the plan as one series of lines (planner::ExplainPlan).
StatusOr<std::vector<ResultSeries>> RunExplain(const SelectStatement& s, ExecContext* ctx);

// Runs SHOW / CREATE / DROP / DELETE statements.
StatusOr<std::vector<ResultSeries>> RunMeta(const Statement& s, ExecContext* ctx);

// Time-sorted points of one input, all valid.
struct Points {
  std::vector<int64_t> t;
  VCol v;
  // For a selector with extra fields (SELECT max(v), host): per point, the
  // values of the bare field and tag references (Plan::aux); else empty.
  std::vector<std::vector<Value>> aux;
  size_t size() const { return t.size(); }
};

// Merges time-sorted inputs into one time-sorted run; on equal times the
// earlier input comes first.
Points MergePoints(std::vector<Points> parts);

// One function call of a query, resolved (planner/select_plan.h).
using planner::CallSpec;

// One output entry of a function.
struct Entry {
  int64_t time;
  Value value;
};

// Applies an aggregate or selector `c` (c.name) to points [a, b) of `p`;
// appends results (one for most functions, several for distinct) with time
// `window_time`, or the selected point's time when `point_time` is true.
// For selectors, `picked` (if set) gets the index in `p` of each selected
// point, so extra fields can be read from it.
void ReduceWindow(const std::string& name, const CallSpec& c, const Points& p, size_t a, size_t b,
                  int64_t window_time, bool point_time, std::vector<Entry>* out,
                  std::vector<size_t>* picked = nullptr);

// Partial aggregation. A series is reduced on its own into per-window
// accumulators, series after series in scan order; the accumulators then
// give what ReduceWindow gives over the group's merged series for count,
// sum, mean, min, max, spread, first and last (ties resolved as over the
// merged run: min/max keep the earliest point, first/last the larger value
// at the same time), and stddev from per-series mean and M2 (Chan et al.).
// Float sums and stddev are computed per series, then across series, so
// they may differ from the merged order in the last bits.
union PartialNum {
  double f;
  int64_t i;
  uint64_t u;
};

struct PartialAcc {
  int64_t n = 0;
  double dsum = 0;          // float sum, and the mean's sum for every type
  uint64_t usum = 0;        // integer sums (wrapping, as Reduce)
  double mean = 0, m2 = 0;  // stddev: mean and sum of squared deviations
  PartialNum mn{}, mx{}, fst{}, lst{};
  int64_t mn_t = 0, mx_t = 0, fst_t = 0, lst_t = 0;
};

// The statistics partial aggregation keeps (planner/select_plan.h).
using planner::kNeedFirst;
using planner::kNeedLast;
using planner::kNeedMax;
using planner::kNeedMin;
using planner::kNeedSum;
using planner::kNeedVariance;
using planner::PartialNeed;
using planner::PartialNeeds;

// Reduces a time-sorted numeric column (float, integer or unsigned) into
// acc[0, windows): window w is [first_window + w*interval, +interval).
// interval 0: every point goes to acc[0]. A boolean or string column is
// only counted, when need == 0 (count is the only call over it).
void AccumulateColumn(const Column& c, int64_t first_window, int64_t interval, size_t windows, uint32_t need,
                      PartialAcc* acc);

// Folds `from` into *into as if from's series came after into's.
void CombinePartial(VType type, uint32_t need, const PartialAcc& from, PartialAcc* into);

// Block statistics (ScanRequest::summary_fields). Whether partial
// aggregation may take a block's statistics instead of its points: on by
// default (M2MDB_BLOCK_STATS=0 in the environment: off at start); tests and
// benchmarks turn it off to compare with decoding every block. Process-wide.
void SetUseBlockSummaries(bool on);
bool UseBlockSummaries();

// Whether a large query may split its series (and its groups) over a second
// thread: by default only with at least 4 CPUs (M2MDB_QUERY_THREADS=1 or 2 in
// the environment decides instead). Process-wide; tests set it.
void SetUseSecondQueryThread(bool on);
bool UseSecondQueryThread();

// Whether a block summarised as `s` gives exactly what its decoded points
// would for the statistics in `need` (PartialNeed bits); false: decode it.
// Float blocks with NaN (their stats skip it, the point reducers do not) or a
// min/max of zero (-0.0 == 0.0 is a tie broken by the min/max point's time,
// which blocks do not record) are declined for min/max; integer and unsigned
// blocks for sums unless count * max|value| <= 2^53, so the sum did not wrap
// and its double equals the sum of the values' doubles (the mean's sum).
// Boolean and string blocks serve count only (need == 0).
bool SummaryUsable(const BlockSummary& s, uint32_t need);

// Folds a block summary into *acc as ReduceSlice would fold the block's
// points. REQUIRES: SummaryUsable(s, need). The min/max times are taken as
// the block's first time: no point of another source of the series lies in
// the block's time range, so ties with those points resolve the same.
void AccumulateSummary(const BlockSummary& s, uint32_t need, PartialAcc* acc);

// The value of `fn` for an accumulator with n > 0 over values of `type`.
Entry PartialResult(const std::string& fn, VType type, const PartialAcc& a, int64_t window_time,
                    bool point_time);

// Applies a transform (derivative, difference, ...) to a time-sorted run of
// entries, returning the output entries. `default_unit` is the derivative
// unit when the call gives none (the GROUP BY interval or 1s).
std::vector<Entry> Transform(const CallSpec& c, const std::vector<Entry>& in, int64_t default_unit);

}  // namespace m2mdb::query::exec

#endif  // M2MDB_QUERY_EXEC_EXEC_H_
