// query/exec/functions.cc — aggregates, selectors and transforms.
//
// Reducers run over a contiguous slice [a, b) of one typed vector (the
// points of a window), in tight loops; they never see nulls.
#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <type_traits>

#include "query/exec/exec.h"

namespace m2mdb::query::exec {

Points MergePoints(std::vector<Points> parts) {
  parts.erase(std::remove_if(parts.begin(), parts.end(), [](const Points& p) { return p.size() == 0; }),
              parts.end());
  if (parts.empty()) return Points{};
  if (parts.size() == 1) return std::move(parts[0]);
  size_t total = 0;
  for (const Points& p : parts) total += p.size();
  // (time, part, index) sorted stably by time.
  std::vector<std::pair<int64_t, uint32_t>> order;
  std::vector<size_t> base(parts.size());
  order.reserve(total);
  size_t off = 0;
  for (size_t k = 0; k < parts.size(); k++) {
    base[k] = off;
    for (size_t i = 0; i < parts[k].size(); i++) order.emplace_back(parts[k].t[i], static_cast<uint32_t>(k));
    off += parts[k].size();
  }
  std::vector<uint32_t> idx(total);
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(),
                   [&](uint32_t x, uint32_t y) { return order[x].first < order[y].first; });
  Points out;
  out.t.reserve(total);
  out.v.type = parts[0].v.type;
  out.v.Reserve(total);
  for (uint32_t g : idx) {
    uint32_t k = order[g].second;
    size_t i = g - base[k];
    out.t.push_back(parts[k].t[i]);
    out.v.AppendFrom(parts[k].v, i);
  }
  return out;
}

namespace {

template <typename T>
Value V(const T& x) {
  if constexpr (std::is_same_v<T, uint8_t>) {
    return x != 0;
  } else {
    return x;
  }
}

template <typename T>
constexpr bool kNumeric =
    std::is_same_v<T, double> || std::is_same_v<T, int64_t> || std::is_same_v<T, uint64_t>;

template <typename T>
void Reduce(const std::string& fn, const CallSpec& c, const std::vector<int64_t>& times,
            const std::vector<T>& vals, size_t a, size_t b, int64_t wt, bool point_time,
            std::vector<Entry>* out) {
  const size_t n = b - a;
  if (n == 0) return;
  auto sel = [&](size_t k) { out->push_back({point_time ? times[k] : wt, V(vals[k])}); };
  if (fn == "count") {
    out->push_back({wt, static_cast<int64_t>(n)});
  } else if (fn == "first") {
    // influxd breaks ties on time by the larger value.
    size_t best = a;
    for (size_t k = a + 1; k < b && times[k] == times[a]; k++) {
      if (vals[best] < vals[k]) best = k;
    }
    sel(best);
  } else if (fn == "last") {
    size_t best = b - 1;
    for (size_t k = b - 1; k > a && times[k - 1] == times[b - 1]; k--) {
      if (vals[best] < vals[k - 1]) best = k - 1;
    }
    sel(best);
  } else if (fn == "distinct") {
    std::vector<T> seen;
    for (size_t k = a; k < b; k++) {
      if (std::find(seen.begin(), seen.end(), vals[k]) == seen.end()) seen.push_back(vals[k]);
      if (seen.size() > 100000) break;
    }
    for (const T& x : seen) out->push_back({wt, V(x)});
  } else if (fn == "count_distinct") {
    std::vector<T> v(vals.begin() + a, vals.begin() + b);
    std::sort(v.begin(), v.end());
    out->push_back({wt, static_cast<int64_t>(std::unique(v.begin(), v.end()) - v.begin())});
  } else if (fn == "mode") {
    // The most frequent value; ties go to the value seen first (influxd).
    std::vector<size_t> idx(n);
    std::iota(idx.begin(), idx.end(), a);
    std::stable_sort(idx.begin(), idx.end(), [&](size_t x, size_t y) { return vals[x] < vals[y]; });
    size_t best = idx[0], best_n = 0;
    int64_t best_t = 0;
    for (size_t k = 0; k < n;) {
      size_t j = k;
      int64_t first_t = times[idx[k]];
      while (j < n && vals[idx[j]] == vals[idx[k]]) {
        first_t = std::min(first_t, times[idx[j]]);
        j++;
      }
      if (j - k > best_n || (j - k == best_n && first_t < best_t)) {
        best_n = j - k;
        best = idx[k];
        best_t = first_t;
      }
      k = j;
    }
    out->push_back({wt, V(vals[best])});
  } else if (fn == "min" || fn == "max") {
    if constexpr (kNumeric<T> || std::is_same_v<T, uint8_t>) {
      size_t best = a;
      if (fn == "min") {
        for (size_t k = a + 1; k < b; k++) {
          if (vals[k] < vals[best]) best = k;
        }
      } else {
        for (size_t k = a + 1; k < b; k++) {
          if (vals[k] > vals[best]) best = k;
        }
      }
      sel(best);
    }
  } else if constexpr (kNumeric<T>) {
    if (fn == "sum") {
      T s = 0;
      if constexpr (std::is_same_v<T, int64_t>) {
        uint64_t u = 0;
        for (size_t k = a; k < b; k++) u += static_cast<uint64_t>(vals[k]);
        s = static_cast<int64_t>(u);
      } else {
        for (size_t k = a; k < b; k++) s += vals[k];
      }
      out->push_back({wt, s});
    } else if (fn == "mean") {
      double s = 0;
      for (size_t k = a; k < b; k++) s += static_cast<double>(vals[k]);
      out->push_back({wt, s / static_cast<double>(n)});
    } else if (fn == "spread") {
      T lo = vals[a], hi = vals[a];
      for (size_t k = a + 1; k < b; k++) {
        lo = std::min(lo, vals[k]);
        hi = std::max(hi, vals[k]);
      }
      out->push_back({wt, static_cast<T>(hi - lo)});
    } else if (fn == "stddev") {
      if (n < 2) {
        out->push_back({wt, std::monostate{}});
        return;
      }
      double mean = 0;
      for (size_t k = a; k < b; k++) mean += static_cast<double>(vals[k]);
      mean /= static_cast<double>(n);
      double ss = 0;
      for (size_t k = a; k < b; k++) {
        double d = static_cast<double>(vals[k]) - mean;
        ss += d * d;
      }
      out->push_back({wt, std::sqrt(ss / static_cast<double>(n - 1))});
    } else if (fn == "median") {
      std::vector<T> v(vals.begin() + a, vals.begin() + b);
      std::sort(v.begin(), v.end());
      double m = n % 2 == 1 ? static_cast<double>(v[n / 2])
                            : static_cast<double>(v[n / 2 - 1]) +
                                  (static_cast<double>(v[n / 2]) - static_cast<double>(v[n / 2 - 1])) / 2;
      out->push_back({wt, m});
    } else if (fn == "percentile") {
      std::vector<size_t> idx(n);
      std::iota(idx.begin(), idx.end(), a);
      std::stable_sort(idx.begin(), idx.end(), [&](size_t x, size_t y) { return vals[x] < vals[y]; });
      int64_t i = static_cast<int64_t>(std::floor(static_cast<double>(n) * c.number / 100.0 + 0.5)) - 1;
      if (i < 0 || i >= static_cast<int64_t>(n)) return;
      sel(idx[i]);
    } else if (fn == "integral") {
      const double unit = static_cast<double>(c.unit_ns > 0 ? c.unit_ns : 1000000000);
      double area = 0;
      for (size_t k = a + 1; k < b; k++) {
        double dt = static_cast<double>(times[k] - times[k - 1]) / unit;
        area += (static_cast<double>(vals[k]) + static_cast<double>(vals[k - 1])) * dt / 2;
      }
      out->push_back({wt, area});
    }
  }
}

}  // namespace

void ReduceWindow(const std::string& name, const CallSpec& c, const Points& p, size_t a, size_t b,
                  int64_t window_time, bool point_time, std::vector<Entry>* out) {
  switch (p.v.type) {
    case VType::kFloat:
      Reduce(name, c, p.t, p.v.f, a, b, window_time, point_time, out);
      break;
    case VType::kInt:
      Reduce(name, c, p.t, p.v.i, a, b, window_time, point_time, out);
      break;
    case VType::kUint:
      Reduce(name, c, p.t, p.v.u, a, b, window_time, point_time, out);
      break;
    case VType::kBool:
      Reduce(name, c, p.t, p.v.b, a, b, window_time, point_time, out);
      break;
    case VType::kString:
      Reduce(name, c, p.t, p.v.s, a, b, window_time, point_time, out);
      break;
    case VType::kNull:
      break;
  }
}

namespace {

bool ToDouble(const Value& v, double* d) {
  switch (v.index()) {
    case 1:
      *d = std::get<double>(v);
      return true;
    case 2:
      *d = static_cast<double>(std::get<int64_t>(v));
      return true;
    case 3:
      *d = static_cast<double>(std::get<uint64_t>(v));
      return true;
    default:
      return false;
  }
}

Value Sub(const Value& x, const Value& y) {
  if (x.index() == 2 && y.index() == 2) {
    return static_cast<int64_t>(static_cast<uint64_t>(std::get<int64_t>(x)) -
                                static_cast<uint64_t>(std::get<int64_t>(y)));
  }
  if (x.index() == 3 && y.index() == 3) return std::get<uint64_t>(x) - std::get<uint64_t>(y);
  double a, b;
  if (ToDouble(x, &a) && ToDouble(y, &b)) return a - b;
  return std::monostate{};
}

Value Add(const Value& x, const Value& y) {
  if (x.index() == 2 && y.index() == 2) {
    return static_cast<int64_t>(static_cast<uint64_t>(std::get<int64_t>(x)) +
                                static_cast<uint64_t>(std::get<int64_t>(y)));
  }
  if (x.index() == 3 && y.index() == 3) return std::get<uint64_t>(x) + std::get<uint64_t>(y);
  double a, b;
  if (ToDouble(x, &a) && ToDouble(y, &b)) return a + b;
  return std::monostate{};
}

bool Negative(const Value& v) {
  double d;
  return ToDouble(v, &d) && d < 0;
}

}  // namespace

std::vector<Entry> Transform(const CallSpec& c, const std::vector<Entry>& in, int64_t default_unit) {
  std::vector<Entry> out;
  const std::string& fn = c.name;
  if (fn == "derivative" || fn == "non_negative_derivative") {
    const double unit = static_cast<double>(c.unit_ns > 0 ? c.unit_ns : default_unit);
    for (size_t k = 1; k < in.size(); k++) {
      double x, y;
      if (!ToDouble(in[k].value, &x) || !ToDouble(in[k - 1].value, &y)) continue;
      int64_t dt = in[k].time - in[k - 1].time;
      if (dt == 0) continue;
      double d = (x - y) / (static_cast<double>(dt) / unit);
      if (fn == "non_negative_derivative" && d < 0) continue;
      out.push_back({in[k].time, d});
    }
  } else if (fn == "difference" || fn == "non_negative_difference") {
    for (size_t k = 1; k < in.size(); k++) {
      Value d = Sub(in[k].value, in[k - 1].value);
      if (d.index() == 0) continue;
      if (fn == "non_negative_difference" && Negative(d)) continue;
      out.push_back({in[k].time, d});
    }
  } else if (fn == "moving_average") {
    const size_t n = c.number < 1 ? 1 : static_cast<size_t>(c.number);
    double sum = 0;
    std::vector<double> ring;
    for (size_t k = 0; k < in.size(); k++) {
      double x;
      if (!ToDouble(in[k].value, &x)) continue;
      ring.push_back(x);
      sum += x;
      if (ring.size() > n) {
        sum -= ring[ring.size() - n - 1];
      }
      if (ring.size() >= n) {
        // Recompute from the window to avoid drift on long runs.
        double s = 0;
        for (size_t j = ring.size() - n; j < ring.size(); j++) s += ring[j];
        out.push_back({in[k].time, s / static_cast<double>(n)});
      }
    }
  } else if (fn == "cumulative_sum") {
    Value acc;
    for (size_t k = 0; k < in.size(); k++) {
      acc = k == 0 ? in[k].value : Add(acc, in[k].value);
      out.push_back({in[k].time, acc});
    }
  } else if (fn == "elapsed") {
    const int64_t unit = c.unit_ns > 0 ? c.unit_ns : 1;
    for (size_t k = 1; k < in.size(); k++) {
      out.push_back({in[k].time, (in[k].time - in[k - 1].time) / unit});
    }
  }
  return out;
}

}  // namespace m2mdb::query::exec
