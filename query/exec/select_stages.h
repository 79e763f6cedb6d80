// query/exec/select_stages.h — the stages of the SELECT executor, which
// runs a planner::SelectPlan (query/planner/select_plan.h). One file each:
//   scan.cc         read each source's series (Scan, or a subquery's rows)
//                   into groups: raw rows, or call inputs, or per-window
//                   partial aggregates (block statistics included)
//   window.cc       the GROUP BY time windows and each group's reduction of
//                   its inputs into per-window entries per call (slot)
//   fill.cc         fill(null|none|previous|linear|N)
//   project.cc      per group: windows joined into rows, outer expressions
//   order_limit.cc  raw rows merged by time; ORDER BY, LIMIT/OFFSET,
//                   SLIMIT/SOFFSET across the groups' series
// select.cc drives them: plan, scan every source, windows, one output series
// per group (on two threads when it pays), order and limits.
#ifndef M2MDB_QUERY_EXEC_SELECT_STAGES_H_
#define M2MDB_QUERY_EXEC_SELECT_STAGES_H_

#include <cstdint>
#include <map>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "query/exec/exec.h"
#include "query/planner/select_plan.h"

namespace m2mdb::query::exec {

using planner::AlignedStart;
using planner::ContainsFunctionCall;
using planner::NameList;
using planner::OutField;
using planner::SelectPlan;
using planner::Slot;
using planner::SourcePlan;
using planner::SourceRef;
using planner::TimeRange;
using planner::Unparen;

struct Group {
  std::string measurement;
  std::vector<std::pair<std::string, std::string>> tags;
  // Raw: per series (times, rows) in series order.
  std::vector<std::pair<std::vector<int64_t>, std::vector<std::vector<Value>>>> raw;
  // Raw with ExecContext::columnar_rows, while the group has one series:
  // its rows as columns instead of `raw` (RawGroupRows hands them on).
  ColumnarRows raw_columnar;
  // Aggregate: per input, per series points.
  std::vector<std::vector<Points>> inputs;
  // Partial aggregation instead of `inputs`: per input, the values' type and
  // one accumulator per window (empty until a series has points).
  bool partial = false;
  std::vector<VType> partial_type;
  std::vector<std::vector<PartialAcc>> acc;
};

// Returned by a scan callback when partial aggregation cannot go on (a type
// conflict, too many accumulators): the statement is run again without it.
constexpr char kPartialFallback[] = "m2mdb: partial aggregation fallback";

// Accumulator memory beyond which a statement falls back to merging.
constexpr size_t kMaxPartialBytes = size_t{256} << 20;

using GroupMap = std::map<std::pair<std::string, std::vector<std::string>>, Group>;

// What a scan callback builds; one per concurrent scan.
struct ScanState {
  GroupMap groups;
  int64_t earliest = kMaxTime;
  size_t partial_bytes = 0;
};

// Runs f, turning an allocation failure into the statement's error: it must
// neither cross a thread (std::terminate) nor take the process down; the
// statement's memory is given back as the stack unwinds.
template <typename F>
Status NoThrow(F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return WithErrorKind(absl::ResourceExhaustedError("query memory limit exceeded: out of memory"),
                         ErrorKind::kQueryMemory);
  }
}

// ---- scan.cc ----

// Reads source `source` of the plan into *state's groups.
Status ScanSource(ExecContext* ctx, const SelectPlan& plan, size_t source, ScanState* state);

// Two complementary matchers that split the series of `src` matching
// `matchers` about evenly (defined in select.cc); false when too few series
// match for a second scan to pay off.
bool SplitMatchers(ExecContext* ctx, const SourceRef& src, const std::vector<TagMatcher>& matchers,
                   TagMatcher* a, TagMatcher* b);

// ---- window.cc ----

// Window arithmetic: query/planner/windows.h.
using planner::WindowEnd;

// The GROUP BY time windows over [lo, hi] (in 128 bits: the span of two
// extreme times leaves int64), counted against QueryOptions::max_points as
// influxd counts them against max-select-buckets; times `groups` (each group
// keeps per-window state) against the same limit.
Status CheckBuckets(const TimeDimension& tdim, int64_t lo, int64_t hi, size_t groups, const ExecContext* ctx);

// The windows of a statement once its data is scanned: window w starts at
// first + w * interval (interval 0: one window, labelled single_label), or
// with tz('...') at bounds[w] and ends at bounds[w + 1].
struct Windows {
  int64_t interval = 0;
  int64_t offset = 0;
  int64_t first = 0;
  int64_t count = 1;
  int64_t single_label = 0;
  std::vector<int64_t> bounds;  // zoned: count + 1 boundaries; else empty

  // Modular: w * interval alone can leave int64 (hourly windows from 1677
  // to 2262) while the start itself, at most the last time scanned, fits.
  int64_t Start(size_t w) const {
    return bounds.empty() ? static_cast<int64_t>(static_cast<uint64_t>(first) +
                                                 static_cast<uint64_t>(w) * static_cast<uint64_t>(interval))
                          : bounds[w];
  }
  int64_t End(size_t w) const { return bounds.empty() ? WindowEnd(Start(w), interval) : bounds[w + 1]; }
};

// The windows of `plan` given the earliest time scanned (without a lower
// time bound the first window holds it) and the number of groups.
StatusOr<Windows> ComputeWindows(const SelectPlan& plan, int64_t earliest, size_t groups,
                                 const ExecContext* ctx);

// A slot's per-window entries, kept flat: window w's are
// entries[start[w], start[w + 1]). A vector per window was a heap
// allocation per window and slot, a tenth of a grouped query's time.
struct SlotResult {
  std::vector<Entry> entries;   // aggregates, in window order
  std::vector<uint32_t> start;  // W + 1 offsets into `entries`
  std::vector<Entry> flat;      // transforms
  bool multi = false;           // distinct: several rows per window
  bool Empty(size_t w) const { return start[w + 1] == start[w]; }
  Entry& First(size_t w) { return entries[start[w]]; }
};

// One group reduced: per input its merged points, per slot its entries.
struct GroupAggregate {
  std::vector<Points> inputs;
  std::vector<SlotResult> res;
  // With extra fields (one selector slot): per window, the index in its
  // merged input of the selected point.
  std::vector<std::vector<size_t>> picked;
};

// Reduces group `g` of an aggregate statement window by window.
Status AggregateGroup(ExecContext* ctx, const SelectPlan& plan, const Windows& win, Group& g,
                      GroupAggregate* out);

// ---- fill.cc ----

// Fills the nulls of a column of windows (one value per window, in window
// order): count gives 0 under fill(null).
void ApplyFill(const Fill& fill, bool is_count, std::vector<Value>* col);

// influxd fills the extra columns (Plan::aux) of an empty window like the
// selector's; `empty_row`: per row of *rs, its window had no selected point.
void FillExtraColumns(const SelectPlan& plan, const std::vector<uint8_t>& empty_row, ResultSeries* rs);

// ---- project.cc ----

// The rows of an aggregate group: windows (or transform outputs) joined by
// time, fill applied, the field list's expressions evaluated over them.
// `columnar` (ExecContext::columnar_rows): the rows may be left in
// rs->columnar instead of rs->values.
Status ProjectGroup(const SelectPlan& plan, const Windows& win, GroupAggregate& agg, ResultSeries* rs,
                    bool columnar = false);

// ---- order_limit.cc ----

// The rows of a raw group: its series' rows merged by time (cut at the
// page's cutoff for RunSelectPaged).
void RawGroupRows(const SelectPlan& plan, const ExecContext* ctx, Group& g, ResultSeries* rs);

// ORDER BY time DESC, OFFSET/LIMIT per series and SOFFSET/SLIMIT over the
// series of `outs` (in group order); the series with rows, in output order.
std::vector<ResultSeries> OrderAndLimit(const SelectPlan& plan, const ExecContext* ctx,
                                        std::vector<ResultSeries> outs);

}  // namespace m2mdb::query::exec

#endif  // M2MDB_QUERY_EXEC_SELECT_STAGES_H_
