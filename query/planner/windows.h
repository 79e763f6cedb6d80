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
#include <vector>

#include "absl/time/time.h"

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

// ---- tz('...'): windows aligned in local time (query/planner/windows.cc) ----
//
// With a zone, influxd aligns a window to the interval in local time and,
// where the offset changes inside a window by less than the interval (a
// DST change inside a day window), moves the boundary by the change: the
// day of a spring change lasts 23 hours and starts at local midnight. Such
// windows are not a regular grid; they are listed as boundaries.

// The zone's offset (east of UTC) at ns, in nanoseconds.
inline int64_t ZoneOffsetNs(const absl::TimeZone& zone, int64_t ns) {
  return int64_t{zone.At(absl::FromUnixNanos(ns)).offset} * 1000000000;
}

// The start of the window holding t, as influxd's IteratorOptions.Window
// computes it with a location. REQUIRES: iv > 0, 0 <= off < iv.
int64_t ZonedWindowStart(int64_t t, int64_t iv, int64_t off, const absl::TimeZone& zone);

// The boundaries of the windows over [lo, hi], stepped as influxd's fill
// iterator steps them: (*bounds)[w] is window w's start, the last entry the
// last window's end (INT64_MAX past the storable times). False, and
// *bounds incomplete, past max_windows windows.
bool ZonedWindowBounds(int64_t lo, int64_t hi, int64_t iv, int64_t off, const absl::TimeZone& zone,
                       size_t max_windows, std::vector<int64_t>* bounds);

}  // namespace m2mdb::query::planner

#endif  // M2MDB_QUERY_PLANNER_WINDOWS_H_
