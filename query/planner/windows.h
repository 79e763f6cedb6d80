// query/planner/windows.h — GROUP BY time window arithmetic, in one place.
//
// Windows are aligned to the epoch plus the GROUP BY offset (taken modulo
// the interval) and labelled with their start. Two moments compute them
// with these functions: PlanSelect (query/planner/select_plan.cc) fixes the
// windows of partial aggregation from the query's time range before the
// scan; ComputeWindows (query/exec/window.cc) fixes the answer's windows
// after it (without a lower time bound they start at the earliest point
// scanned) and the executor checks that the two agree. Starts and counts
// are in 128 bits: near the ends of the time range they leave int64.
#ifndef M2MDB_QUERY_PLANNER_WINDOWS_H_
#define M2MDB_QUERY_PLANNER_WINDOWS_H_

#include <cstdint>

#include "m2mdb/query/ast.h"

namespace m2mdb::query::planner {

// The start of the GROUP BY time window holding t (offset + k * iv <= t for
// the largest integer k).
inline __int128 AlignedStart(int64_t t, int64_t iv, int64_t off) {
  const __int128 d = static_cast<__int128>(t) - off;
  __int128 q = d / iv;
  if (d % iv != 0 && d < 0) q--;
  return q * iv + off;
}

// ws + iv, saturated at INT64_MAX (above every storable time): the window
// holding kMaxTime ends past int64.
inline int64_t WindowEnd(int64_t ws, int64_t iv) { return ws > INT64_MAX - iv ? INT64_MAX : ws + iv; }

// The GROUP BY offset in [0, interval). REQUIRES: t.interval_ns > 0.
inline int64_t WindowOffset(const TimeDimension& t) {
  return ((t.offset_ns % t.interval_ns) + t.interval_ns) % t.interval_ns;
}

// The windows covering [lo, hi]: the first one's start and how many.
struct WindowSpan {
  __int128 first = 0;
  __int128 count = 0;
};
inline WindowSpan SpanOf(int64_t lo, int64_t hi, int64_t iv, int64_t off) {
  WindowSpan s;
  s.first = AlignedStart(lo, iv, off);
  s.count = (AlignedStart(hi, iv, off) - s.first) / iv + 1;
  return s;
}

}  // namespace m2mdb::query::planner

#endif  // M2MDB_QUERY_PLANNER_WINDOWS_H_
