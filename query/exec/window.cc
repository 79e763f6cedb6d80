// query/exec/window.cc — GROUP BY time windows and aggregation: the
// answer's windows once the data is scanned (ComputeWindows, with the
// arithmetic of query/planner/windows.h), the bucket limit, and each group's reduction of its call inputs
// (merged points, or the accumulators the scan filled) into per-window entries per slot, integral() and
// transforms over aggregates included.
#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"

#include "query/exec/select_stages.h"

namespace m2mdb::query::exec {

// The GROUP BY time windows over [lo, hi] (in 128 bits: the span of two
// extreme times leaves int64), counted against QueryOptions::max_points as
// influxd counts them against max-select-buckets; times `groups` (each group
// keeps per-window state) against the same limit.
Status CheckBuckets(const TimeDimension& tdim, int64_t lo, int64_t hi, size_t groups,
                    const ExecContext* ctx) {
  const uint64_t max = ctx->options->max_points;
  if (max == 0 || tdim.interval_ns <= 0 || lo > hi) return absl::OkStatus();
  const __int128 iv = tdim.interval_ns;
  const __int128 off = ((static_cast<__int128>(tdim.offset_ns) % iv) + iv) % iv;
  auto start = [&](__int128 t) {
    __int128 d = t - off;
    __int128 q = d / iv;
    if (d % iv != 0 && d < 0) q--;
    return q * iv + off;
  };
  const __int128 buckets = (start(hi) - start(lo)) / iv + 1;
  if (buckets > static_cast<__int128>(max)) {
    return WithErrorKind(
        absl::ResourceExhaustedError(absl::StrCat("max-select-buckets limit exceeded: (",
                                                  static_cast<int64_t>(buckets), "/", max, ")")),
        ErrorKind::kQueryMemory);
  }
  if (buckets * static_cast<__int128>(groups) > static_cast<__int128>(max)) {
    return WithErrorKind(absl::ResourceExhaustedError(
                             absl::StrCat("query memory limit exceeded: ", static_cast<int64_t>(buckets),
                                          " windows x ", groups, " groups is more than the limit of ", max)),
                         ErrorKind::kQueryMemory);
  }
  return absl::OkStatus();
}

namespace {

// influxd runs a transform in the answer's direction: under ORDER BY time
// DESC each value is paired with the later one (difference() and elapsed()
// change sign, cumulative_sum() sums from the end). Rows stay ascending here;
// the order stage reverses them.
std::vector<Entry> TransformInOrder(const CallSpec& spec, std::vector<Entry> in, int64_t unit, bool desc) {
  if (!desc) return Transform(spec, in, unit);
  std::reverse(in.begin(), in.end());
  std::vector<Entry> out = Transform(spec, in, unit);
  std::reverse(out.begin(), out.end());
  return out;
}

// top()/bottom() over points [a, b) of `p`, as influxd's reducers pick: the
// n best by value (larger for top, smaller for bottom), an earlier point
// before a later one of the same value; with tag arguments (by_aux: their
// indices in p.aux) only the best point of each distinct tag combination
// competes (arguments that are no tags group nothing: with only those, one
// point is the answer, as in influxd). Appends them in time order, with
// their indices to *picked.
Status TopBottomWindow(const CallSpec& c, const Points& p, size_t a, size_t b,
                       const std::vector<size_t>& by_aux, std::vector<Entry>* out,
                       std::vector<size_t>* picked) {
  if (p.v.type == VType::kString || p.v.type == VType::kBool) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported ", c.name, " iterator type: *query.",
                     p.v.type == VType::kString ? "stringInterruptIterator" : "booleanInterruptIterator"));
  }
  const bool top = c.name == "top";
  // Strictly better: i before j in the answer's ranking.
  auto better = [&](size_t i, size_t j) {
    int cmp = 0;
    switch (p.v.type) {
      case VType::kFloat: {
        // NaN (sqrt(-1) in a subquery) ranks below every number: the
        // ordering must stay strict and weak for nth_element.
        const double x = p.v.f[i], y = p.v.f[j];
        const bool xn = std::isnan(x), yn = std::isnan(y);
        cmp = xn || yn ? (xn == yn ? 0 : xn ? -1 : 1) : x < y ? -1 : x > y ? 1 : 0;
        break;
      }
      case VType::kInt:
        cmp = p.v.i[i] < p.v.i[j] ? -1 : p.v.i[i] > p.v.i[j] ? 1 : 0;
        break;
      case VType::kUint:
        cmp = p.v.u[i] < p.v.u[j] ? -1 : p.v.u[i] > p.v.u[j] ? 1 : 0;
        break;
      default:
        break;
    }
    if (cmp != 0) return top ? cmp > 0 : cmp < 0;
    return p.t[i] < p.t[j];
  };
  std::vector<size_t> cand;
  if (c.by.empty()) {
    cand.reserve(b - a);
    for (size_t k = a; k < b; k++) cand.push_back(k);
  } else {
    std::map<std::vector<Value>, size_t> best;
    for (size_t k = a; k < b; k++) {
      std::vector<Value> key;
      key.reserve(by_aux.size());
      for (size_t j : by_aux) key.push_back(p.aux.empty() ? Value{} : p.aux[k][j]);
      auto [it, fresh] = best.emplace(std::move(key), k);
      if (!fresh && better(k, it->second)) it->second = k;
    }
    for (const auto& [key, k] : best) cand.push_back(k);
  }
  const size_t n = static_cast<size_t>(c.number);
  if (cand.size() > n) {
    std::nth_element(cand.begin(), cand.begin() + static_cast<std::ptrdiff_t>(n), cand.end(), better);
    cand.resize(n);
  }
  std::sort(cand.begin(), cand.end(),
            [&](size_t i, size_t j) { return p.t[i] != p.t[j] ? p.t[i] < p.t[j] : i < j; });
  for (size_t k : cand) {
    out->push_back({p.t[k], p.v.Get(k)});
    if (picked != nullptr) picked->push_back(k);
  }
  return absl::OkStatus();
}

// integral() as influxd 1.x computes it: one trapezoid run over the whole
// group, equal timestamps keep the later point, and at a window end the value
// is interpolated and carried into the next window.
void IntegralWindows(const CallSpec& c, const Points& p, bool by_time, const Windows& win,
                     std::vector<std::vector<Entry>>* out) {
  const int64_t first_window = win.first, interval = win.interval, single_label = win.single_label;
  if (p.size() == 0 || p.v.type == VType::kString || p.v.type == VType::kBool) return;
  const double unit = static_cast<double>(c.unit_ns > 0 ? c.unit_ns : 1000000000);
  auto val = [&](size_t k) {
    return p.v.type == VType::kFloat ? p.v.f[k]
           : p.v.type == VType::kInt ? static_cast<double>(p.v.i[k])
                                     : static_cast<double>(p.v.u[k]);
  };
  // Window index of t (may be out of [0, out->size()) before the first
  // window or past the last).
  auto index_of = [&](int64_t t) -> int64_t {
    if (!win.bounds.empty()) {
      auto it = std::upper_bound(win.bounds.begin(), win.bounds.end(), t);
      return static_cast<int64_t>(it - win.bounds.begin()) - 1;
    }
    const __int128 ws = AlignedStart(t, interval, first_window);
    return static_cast<int64_t>((ws - first_window) / interval);
  };
  auto window_of = [&](int64_t t) {
    if (!by_time) return int64_t{0};
    if (!win.bounds.empty()) {
      const int64_t w = index_of(t);
      return w < 0 ? kMinTime : win.bounds[static_cast<size_t>(w)];
    }
    return static_cast<int64_t>(AlignedStart(t, interval, first_window));
  };
  auto end_of = [&](int64_t ws) {
    if (!win.bounds.empty()) {
      const int64_t w = index_of(ws);
      return w < 0                                             ? win.bounds.front()
             : w + 1 < static_cast<int64_t>(win.bounds.size()) ? win.bounds[w + 1]
                                                               : kMaxTime;
    }
    return WindowEnd(ws, interval);
  };
  auto emit = [&](int64_t wstart, double sum) {
    if (!by_time) {
      (*out)[0].push_back({single_label, sum});
      return;
    }
    const int64_t w = index_of(wstart);
    if (w >= 0 && static_cast<size_t>(w) < out->size()) (*out)[w].push_back({wstart, sum});
  };
  int64_t prev_t = p.t[0];
  double prev_v = val(0);
  int64_t wstart = window_of(prev_t);
  int64_t wend = by_time ? end_of(wstart) : kMaxTime;
  double sum = 0;
  for (size_t k = 1; k < p.size(); k++) {
    int64_t t = p.t[k];
    double v = val(k);
    if (t == prev_t) {
      prev_v = v;
      continue;
    }
    if (by_time && t >= wend) {
      if (prev_t != wend) {
        double value =
            prev_v + (v - prev_v) * static_cast<double>(wend - prev_t) / static_cast<double>(t - prev_t);
        sum += 0.5 * (value + prev_v) * (static_cast<double>(wend - prev_t) / unit);
        prev_v = value;
        prev_t = wend;
      }
      emit(wstart, sum);
      wstart = window_of(t);
      wend = end_of(wstart);
      sum = 0;
    }
    sum += 0.5 * (v + prev_v) * (static_cast<double>(t - prev_t) / unit);
    prev_t = t;
    prev_v = v;
  }
  if (prev_t != wstart || !by_time) emit(wstart, sum);
}

}  // namespace

StatusOr<Windows> ComputeWindows(const SelectPlan& plan, int64_t earliest, size_t groups,
                                 const ExecContext* ctx) {
  const SelectStatement& s = *plan.statement;
  const TimeRange& range = plan.range;
  // Windows.
  int64_t interval = plan.has_time_group ? plan.tdim.interval_ns : 0;
  int64_t offset = 0;
  int64_t first_window = 0, nwindows = 1;
  std::vector<int64_t> bounds;
  if (plan.has_time_group) {
    offset = planner::WindowOffset(plan.tdim);
    int64_t lo = range.has_min() ? range.min : earliest;
    if (lo == kMaxTime) lo = range.max;
    const planner::WindowSpan span = planner::SpanOf(lo, range.max, interval, offset);
    const __int128 first = span.first;
    if (first < kMinTime) {
      // Window starts are labels and loop bounds in int64 below; the one
      // holding the earliest storable times would start before them.
      return absl::InvalidArgumentError(
          absl::StrCat("GROUP BY time: the first window would start before the earliest time (", kMinTime,
                       "); give the query a lower time bound at least one interval above it"));
    }
    first_window = static_cast<int64_t>(first);
    const __int128 count = span.count;
    RETURN_IF_ERROR(CheckBuckets(plan.tdim, lo, range.max, std::max<size_t>(1, groups), ctx));
    constexpr size_t kMaxWindows = 10000000;
    if (count > kMaxWindows && (s.fill.mode != FillMode::kNone || plan.zoned)) {
      return absl::InvalidArgumentError(
          "too many windows: narrow the time range or use a larger GROUP BY interval");
    }
    nwindows = static_cast<int64_t>(count);
    if (plan.zoned) {
      // Local-time windows differ from the grid by the zone's offsets only:
      // about as many, bounded above.
      if (!planner::ZonedWindowBounds(lo, range.max, interval, offset, plan.zone, kMaxWindows + 2, &bounds)) {
        return absl::InvalidArgumentError(
            "too many windows: narrow the time range or use a larger GROUP BY interval");
      }
      first_window = bounds.front();
      nwindows = static_cast<int64_t>(bounds.size() - 1);
    }
  }
  const int64_t single_label = range.has_min() ? range.min : 0;
  Windows w;
  w.interval = interval;
  w.offset = offset;
  w.first = first_window;
  w.count = nwindows;
  w.single_label = single_label;
  w.bounds = std::move(bounds);
  return w;
}

Status AggregateGroup(ExecContext* ctx, const SelectPlan& plan, const Windows& win, Group& g,
                      GroupAggregate* out) {
  const SelectStatement& s = *plan.statement;
  const int64_t interval = win.interval, first_window = win.first, nwindows = win.count;
  const int64_t single_label = win.single_label;
  const int64_t partial_first = plan.partial_first;
  const size_t partial_windows = plan.partial_windows;
  // Aggregate: merge inputs (unless reduced per series already).
  std::vector<Points>& inputs = out->inputs;
  inputs.resize(plan.input_fields.size());
  for (size_t in = 0; in < g.inputs.size(); in++) inputs[in] = MergePoints(std::move(g.inputs[in]));
  RETURN_IF_ERROR(ctx->CheckDeadline());
  // Per slot: per-window entries.
  const size_t W = static_cast<size_t>(nwindows);
  if (g.partial && (W != partial_windows || (plan.has_time_group && first_window != partial_first))) {
    return absl::InternalError("partial aggregation windows differ");
  }
  std::vector<SlotResult>& res = out->res;
  res.resize(plan.slots.size());
  std::vector<std::vector<size_t>>& picked = out->picked;
  picked.resize(plan.aux.empty() ? 0 : W);
  auto picked_of = [&](size_t w) { return picked.empty() ? nullptr : &picked[w]; };
  for (size_t si = 0; si < plan.slots.size(); si++) {
    const Slot& sl = plan.slots[si];
    const Points& p = inputs[sl.input];
    SlotResult& r = res[si];
    if (sl.reduce == "top" || sl.reduce == "bottom") {
      // Several rows per window, at their points' times; the tag arguments
      // that are tags of a source group the points (a field or an unknown
      // name does not: influxd groups by tags only).
      std::vector<size_t> by_aux;
      for (const std::string& name : sl.spec.by) {
        bool is_tag = false;
        for (const SourceRef& src : plan.sources) {
          is_tag |= std::find(src.schema.tags.begin(), src.schema.tags.end(), name) != src.schema.tags.end();
        }
        for (size_t j = 0; is_tag && j < plan.aux.size(); j++) {
          if (plan.aux[j].name == name) {
            by_aux.push_back(j);
            break;
          }
        }
      }
      r.start.assign(W + 1, 0);
      r.multi = true;
      size_t a = 0;
      while (a < p.size() && plan.has_time_group && p.t[a] < first_window) a++;
      for (size_t w = 0; w < W; w++) {
        size_t b = p.size();
        if (plan.has_time_group) {
          const int64_t we = win.End(w);
          b = a;
          while (b < p.size() && p.t[b] < we) b++;
        }
        if (b > a) RETURN_IF_ERROR(TopBottomWindow(sl.spec, p, a, b, by_aux, &r.entries, picked_of(w)));
        r.start[w + 1] = static_cast<uint32_t>(r.entries.size());
        a = b;
      }
      continue;
    }
    if (sl.transform && !sl.over_aggregate) {
      std::vector<Entry> in;
      in.reserve(p.size());
      for (size_t k = 0; k < p.size(); k++) in.push_back({p.t[k], p.v.Get(k)});
      r.flat = TransformInOrder(sl.spec, std::move(in), 1000000000, plan.desc);
      continue;
    }
    r.start.assign(W + 1, 0);
    r.multi = sl.reduce == "distinct";
    auto close_window = [&r](size_t w) { r.start[w + 1] = static_cast<uint32_t>(r.entries.size()); };
    if (g.partial) {
      const std::vector<PartialAcc>& acc = g.acc[sl.input];
      const VType type = g.partial_type[sl.input];
      r.entries.reserve(acc.size());
      for (size_t w = 0; w < W; w++) {
        if (w < acc.size() && acc[w].n != 0) {
          if (plan.has_time_group) {
            r.entries.push_back(PartialResult(sl.reduce, type, acc[w], win.Start(w), false));
          } else {
            r.entries.push_back(
                PartialResult(sl.reduce, type, acc[w], single_label, plan.selector_point_time));
          }
        }
        close_window(w);
      }
    } else if (!plan.has_time_group) {
      ReduceWindow(sl.reduce, sl.spec, p, 0, p.size(), single_label, plan.selector_point_time, &r.entries,
                   picked_of(0));
      for (size_t w = 0; w < W; w++) close_window(w);
    } else {
      // A call next to derivative & co. reads the statement's own range,
      // not the interval read before it (influxd extends per call).
      int64_t lo = first_window, hi = INT64_MAX;
      if (plan.cut_to_requested && !planner::ReadsPrecedingInterval(sl)) {
        if (plan.desc) {
          hi = plan.requested.max;
        } else {
          lo = std::max(lo, plan.requested.min);
        }
      }
      size_t a = 0;
      // Skip points before the first window (possible for subqueries).
      while (a < p.size() && p.t[a] < lo) a++;
      for (size_t w = 0; w < W; w++) {
        const int64_t ws = win.Start(w);
        const int64_t we = win.End(w);
        size_t b = a;
        while (b < p.size() && p.t[b] < we && p.t[b] <= hi) b++;
        if (b > a) ReduceWindow(sl.reduce, sl.spec, p, a, b, ws, false, &r.entries, picked_of(w));
        close_window(w);
        a = b;
        if ((w & 4095) == 4095) RETURN_IF_ERROR(ctx->CheckDeadline());
      }
    }
    if (sl.reduce == "integral") {
      std::vector<std::vector<Entry>> per_window(W);
      IntegralWindows(sl.spec, p, plan.has_time_group, win, &per_window);
      r.entries.clear();
      for (size_t w = 0; w < W; w++) {
        for (Entry& e : per_window[w]) r.entries.push_back(std::move(e));
        close_window(w);
      }
    }
    if (sl.over_aggregate) {
      // Fill the inner aggregate, drop nulls, transform.
      std::vector<int64_t> times(W);
      std::vector<Value> col(W);
      for (size_t w = 0; w < W; w++) {
        times[w] = win.Start(w);
        if (!r.Empty(w)) {
          times[w] = r.First(w).time;
          col[w] = std::move(r.First(w).value);
        }
      }
      ApplyFill(s.fill, sl.reduce == "count", &col);
      std::vector<Entry> in;
      for (size_t w = 0; w < W; w++) {
        if (col[w].index() != 0) in.push_back({times[w], std::move(col[w])});
      }
      // elapsed() counts nanoseconds by default, the others per interval.
      int64_t unit = sl.spec.unit_ns > 0 ? sl.spec.unit_ns : sl.spec.name == "elapsed" ? 1 : interval;
      CallSpec spec = sl.spec;
      spec.unit_ns = unit;
      r.flat = TransformInOrder(spec, std::move(in), unit, plan.desc);
      r.entries.clear();
      r.start.clear();
    }
  }
  return absl::OkStatus();
}

}  // namespace m2mdb::query::exec
