// query/exec/exec.h — the executor's internal interfaces: statement runners
// and the per-window functions (aggregates, selectors, transforms, fill).
#ifndef M2MDB_QUERY_EXEC_EXEC_H_
#define M2MDB_QUERY_EXEC_EXEC_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "m2mdb/db.h"
#include "m2mdb/query/ast.h"
#include "m2mdb/query/executor.h"
#include "query/exec/vcol.h"
#include "query/planner/planner.h"

namespace m2mdb::query::exec {

// Per-statement state: limits and the clock.
struct ExecContext {
  DB* db = nullptr;
  const QueryOptions* options = nullptr;
  int64_t now = 0;
  bool has_deadline = false;
  std::chrono::steady_clock::time_point deadline;
  std::atomic<uint64_t> points{0};

  // "query timeout" once the deadline passed.
  Status CheckDeadline() const;
  // Counts decoded points against QueryOptions::max_points.
  Status AddPoints(uint64_t n);
};

// Runs a SELECT; `outer` narrows the time range (for subqueries).
StatusOr<std::vector<ResultSeries>> RunSelect(const SelectStatement& s, ExecContext* ctx,
                                              const planner::TimeRange& outer);

// Runs SHOW / CREATE / DROP / DELETE statements.
StatusOr<std::vector<ResultSeries>> RunMeta(const Statement& s, ExecContext* ctx);

// Time-sorted points of one input, all valid.
struct Points {
  std::vector<int64_t> t;
  VCol v;
  size_t size() const { return t.size(); }
};

// Merges time-sorted inputs into one time-sorted run; on equal times the
// earlier input comes first.
Points MergePoints(std::vector<Points> parts);

// One function call of a query, resolved.
struct CallSpec {
  std::string name;     // count, mean, derivative, ...
  std::string field;    // the field read (innermost argument)
  std::string inner;    // for transforms/count over a call: the inner function ("mean", "distinct")
  double number = 0;    // percentile N, moving_average N, top/bottom N
  int64_t unit_ns = 0;  // derivative/integral/elapsed unit (0 = default)
};

// One output entry of a function.
struct Entry {
  int64_t time;
  Value value;
};

// Applies an aggregate or selector `c` (c.name) to points [a, b) of `p`;
// appends results (one for most functions, several for distinct) with time
// `window_time`, or the selected point's time when `point_time` is true.
void ReduceWindow(const std::string& name, const CallSpec& c, const Points& p, size_t a, size_t b,
                  int64_t window_time, bool point_time, std::vector<Entry>* out);

// Applies a transform (derivative, difference, ...) to a time-sorted run of
// entries, returning the output entries. `default_unit` is the derivative
// unit when the call gives none (the GROUP BY interval or 1s).
std::vector<Entry> Transform(const CallSpec& c, const std::vector<Entry>& in, int64_t default_unit);

}  // namespace m2mdb::query::exec

#endif  // M2MDB_QUERY_EXEC_EXEC_H_
