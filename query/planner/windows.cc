// query/planner/windows.cc — GROUP BY time windows in a tz('...') zone.
// The arithmetic is in 128 bits: a window start near the ends of the time
// range, moved by an offset, leaves int64.
#include "query/planner/windows.h"

#include "m2mdb/types.h"

namespace m2mdb::query::planner {
namespace {

int64_t Clamp(__int128 t) {
  return t < kMinTime ? kMinTime : t > INT64_MAX ? INT64_MAX : static_cast<int64_t>(t);
}

__int128 Abs(__int128 v) { return v < 0 ? -v : v; }

}  // namespace

int64_t ZonedWindowStart(int64_t t, int64_t iv, int64_t off, const absl::TimeZone& zone) {
  const __int128 base = static_cast<__int128>(t) - off;
  // The offset at t decides the local alignment ...
  const int64_t at_t = ZoneOffsetNs(zone, Clamp(base));
  __int128 dt = (base + at_t) % iv;
  if (dt < 0) dt += iv;
  __int128 start = base - dt;
  if (start < kMinTime) start = kMinTime;
  // ... and if the offset at the start differs (t lies past a change), the
  // start moves by the difference unless that is a whole interval or more.
  const __int128 change = at_t - ZoneOffsetNs(zone, Clamp(start));
  if (change != 0 && Abs(change) < iv) start += change;
  return Clamp(start + off);
}

bool ZonedWindowBounds(int64_t lo, int64_t hi, int64_t iv, int64_t off, const absl::TimeZone& zone,
                       size_t max_windows, std::vector<int64_t>* bounds) {
  bounds->clear();
  // Stepped on the axis without the GROUP BY offset, where the boundaries
  // are local midnights (for day windows); the offset is added to each
  // afterwards, in absolute time, as influxd's Window() adds it.
  __int128 ws = static_cast<__int128>(ZonedWindowStart(lo, iv, off, zone)) - off;
  bounds->push_back(Clamp(ws + off));
  int64_t current = ZoneOffsetNs(zone, Clamp(ws));
  for (;;) {
    __int128 next = ws + iv;
    // The offset just before the next boundary: a change inside this window
    // moves the boundary (and so every later one) by the change.
    const int64_t z = ZoneOffsetNs(zone, Clamp(next - 1));
    if (z != current) {
      const __int128 diff = static_cast<__int128>(current) - z;
      if (Abs(diff) < iv) next += diff;
      current = z;
    }
    const int64_t end = Clamp(next + off);
    bounds->push_back(end);
    if (end > hi || end == INT64_MAX) return true;
    if (bounds->size() > max_windows) return false;
    ws = next;
  }
}

}  // namespace m2mdb::query::planner
