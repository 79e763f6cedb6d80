// query/exec/functions.cc — aggregates, selectors and transforms.
//
// Reducers run over a contiguous slice [a, b) of one typed vector (the
// points of a window), in tight loops; they never see nulls.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>
#include <string_view>
#include <thread>
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
  const bool aux = !parts[0].aux.empty();
  if (aux) out.aux.reserve(total);
  for (uint32_t g : idx) {
    uint32_t k = order[g].second;
    size_t i = g - base[k];
    out.t.push_back(parts[k].t[i]);
    out.v.AppendFrom(parts[k].v, i);
    if (aux) out.aux.push_back(std::move(parts[k].aux[i]));
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
            std::vector<Entry>* out, std::vector<size_t>* picked) {
  const size_t n = b - a;
  if (n == 0) return;
  auto sel = [&](size_t k) {
    out->push_back({point_time ? times[k] : wt, V(vals[k])});
    if (picked != nullptr) picked->push_back(k);
  };
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
                  int64_t window_time, bool point_time, std::vector<Entry>* out,
                  std::vector<size_t>* picked) {
  switch (p.v.type) {
    case VType::kFloat:
      Reduce(name, c, p.t, p.v.f, a, b, window_time, point_time, out, picked);
      break;
    case VType::kInt:
      Reduce(name, c, p.t, p.v.i, a, b, window_time, point_time, out, picked);
      break;
    case VType::kUint:
      Reduce(name, c, p.t, p.v.u, a, b, window_time, point_time, out, picked);
      break;
    case VType::kBool:
      Reduce(name, c, p.t, p.v.b, a, b, window_time, point_time, out, picked);
      break;
    case VType::kString:
      Reduce(name, c, p.t, p.v.s, a, b, window_time, point_time, out, picked);
      break;
    case VType::kNull:
      break;
  }
}

namespace {

template <typename T>
T& Num(PartialNum& n) {
  if constexpr (std::is_same_v<T, double>) {
    return n.f;
  } else if constexpr (std::is_same_v<T, int64_t>) {
    return n.i;
  } else {
    return n.u;
  }
}

// Folds `from` (n > 0) into *acc as if from's points came after acc's in
// the merged run.
template <typename T>
void MergeInto(PartialAcc from, uint32_t need, PartialAcc* acc) {
  const bool empty = acc->n == 0;
  if (need & kNeedVariance) {
    if (empty) {
      acc->mean = from.mean;
      acc->m2 = from.m2;
    } else {
      const double na = static_cast<double>(acc->n), nb = static_cast<double>(from.n);
      const double delta = from.mean - acc->mean;
      acc->mean += delta * nb / (na + nb);
      acc->m2 += from.m2 + delta * delta * na * nb / (na + nb);
    }
  }
  acc->n += from.n;
  acc->dsum += from.dsum;
  acc->usum += from.usum;
  if (need & kNeedMin) {
    const T v = Num<T>(from.mn);
    T& cur = Num<T>(acc->mn);
    if (empty || v < cur || (v == cur && from.mn_t < acc->mn_t)) {
      cur = v;
      acc->mn_t = from.mn_t;
    }
  }
  if (need & kNeedMax) {
    const T v = Num<T>(from.mx);
    T& cur = Num<T>(acc->mx);
    if (empty || v > cur || (v == cur && from.mx_t < acc->mx_t)) {
      cur = v;
      acc->mx_t = from.mx_t;
    }
  }
  if (need & kNeedFirst) {
    const T v = Num<T>(from.fst);
    T& cur = Num<T>(acc->fst);
    if (empty || from.fst_t < acc->fst_t || (from.fst_t == acc->fst_t && cur < v)) {
      cur = v;
      acc->fst_t = from.fst_t;
    }
  }
  if (need & kNeedLast) {
    const T v = Num<T>(from.lst);
    T& cur = Num<T>(acc->lst);
    if (empty || from.lst_t > acc->lst_t || (from.lst_t == acc->lst_t && cur < v)) {
      cur = v;
      acc->lst_t = from.lst_t;
    }
  }
}

// The first point of [a, b) (non-empty) with the largest value (kMax) or
// the smallest, as a fold m = (v[k] > m ? v[k] : m) from m = v[a] and a
// search for the first v[k] == m would find it: a NaN never wins, and a
// leading NaN, which nothing compares equal to, gives b - 1. Chunks of
// eight are folded in independent lanes (one fold waited on each
// comparison) and only a chunk that beats the running extreme is
// remembered; the search then looks in that chunk alone (it had walked
// half of a window on average: a third of a one-minute max's time).
template <typename T, bool kMax>
__attribute__((always_inline)) inline size_t ExtremeAtImpl(const T* v, size_t a, size_t b) {
  auto better = [](T x, T m) {
    if constexpr (kMax) {
      return x > m;
    } else {
      return x < m;
    }
  };
  auto pick = [&](T x, T m) { return better(x, m) ? x : m; };
  T m = v[a];
  if constexpr (std::is_floating_point_v<T>) {
    if (m != m) return b - 1;
  }
  constexpr size_t kChunk = 8;
  size_t from = a;  // where m first appears, or the chunk it first appears in
  size_t k = a + 1;
  // Each chunk is folded from the identity (-inf for the maximum), not from
  // m: a fold from m made every chunk wait on the previous one's result.
  // A NaN leaves the identity, which beats nothing, so m and the chunk
  // that first beats it are the fold's.
  constexpr T kId = kMax ? (std::is_floating_point_v<T> ? -std::numeric_limits<T>::infinity()
                                                        : std::numeric_limits<T>::lowest())
                         : (std::is_floating_point_v<T> ? std::numeric_limits<T>::infinity()
                                                        : std::numeric_limits<T>::max());
  for (; k + kChunk <= b; k += kChunk) {
    T c;
    if constexpr (std::is_same_v<T, double>) {
      // Four-lane vectors (GCC's extension): vmaxpd/vminpd in the AVX2
      // clone of ExtremeAtF64, pairs of maxpd/minpd on baseline x86-64;
      // the scalar lanes became neither.
      typedef double V4 __attribute__((vector_size(32)));
      V4 x0, x1;
      std::memcpy(&x0, v + k, sizeof(V4));
      std::memcpy(&x1, v + k + 4, sizeof(V4));
      const V4 id = {kId, kId, kId, kId};
      V4 l;
      if constexpr (kMax) {
        l = x0 > id ? x0 : id;
        l = x1 > l ? x1 : l;
      } else {
        l = x0 < id ? x0 : id;
        l = x1 < l ? x1 : l;
      }
      c = pick(pick(l[3], l[2]), pick(l[1], l[0]));
    } else {
      T m0 = pick(v[k], kId), m1 = pick(v[k + 1], kId), m2 = pick(v[k + 2], kId), m3 = pick(v[k + 3], kId);
      m0 = pick(v[k + 4], m0);
      m1 = pick(v[k + 5], m1);
      m2 = pick(v[k + 6], m2);
      m3 = pick(v[k + 7], m3);
      c = pick(pick(m3, m2), pick(m1, m0));
    }
    if (better(c, m)) {
      m = c;
      from = k;
    }
  }
  size_t best = from;
  while (!(v[best] == m)) best++;  // found within the chunk: m came from it
  for (; k < b; k++) {
    if (better(v[k], m)) {
      m = v[k];
      best = k;
    }
  }
  return best;
}

// ExtremeAtImpl over doubles, cloned for AVX2's four-lane compares.
__attribute__((target_clones("avx2", "default"))) size_t ExtremeAtF64(const double* v, size_t a, size_t b,
                                                                      bool max) {
  return max ? ExtremeAtImpl<double, true>(v, a, b) : ExtremeAtImpl<double, false>(v, a, b);
}

template <typename T, bool kMax>
size_t ExtremeAt(const T* v, size_t a, size_t b) {
  if constexpr (std::is_same_v<T, double>) {
    return ExtremeAtF64(v, a, b, kMax);
  } else {
    return ExtremeAtImpl<T, kMax>(v, a, b);
  }
}

// Reduces [a, b) (non-empty) of one series into *acc. `float_sum`, if set,
// is the float sum of v[a, b) (kNeedSum, T = double), computed already.
template <typename T>
void ReduceSlice(const int64_t* t, const T* v, size_t a, size_t b, uint32_t need, PartialAcc* acc,
                 const double* float_sum = nullptr) {
  if (need == kNeedMax || need == kNeedMin) {
    // A lone min() or max(): MergeInto's rule for it applied in place, not
    // through a whole PartialAcc built and copied per window (a tenth of a
    // one-minute max's instructions went to that bookkeeping).
    const bool mx = need == kNeedMax;
    const size_t best = mx ? ExtremeAt<T, true>(v, a, b) : ExtremeAt<T, false>(v, a, b);
    const T x = v[best];
    T& cur = Num<T>(mx ? acc->mx : acc->mn);
    int64_t& cur_t = mx ? acc->mx_t : acc->mn_t;
    if (acc->n == 0 || (mx ? x > cur : x < cur) || (x == cur && t[best] < cur_t)) {
      cur = x;
      cur_t = t[best];
    }
    acc->n += static_cast<int64_t>(b - a);
    return;
  }
  PartialAcc s;
  s.n = static_cast<int64_t>(b - a);
  if (need & kNeedSum) {
    if (float_sum != nullptr) {
      s.dsum = *float_sum;
    } else if constexpr (std::is_same_v<T, double>) {
      double d = 0;
      for (size_t k = a; k < b; k++) d += v[k];
      s.dsum = d;
    } else {
      uint64_t u = 0;
      double d = 0;
      for (size_t k = a; k < b; k++) {
        u += static_cast<uint64_t>(v[k]);
        d += static_cast<double>(v[k]);
      }
      s.usum = u;
      s.dsum = d;
    }
  }
  if (need & kNeedVariance) {
    // Two passes, as Reduce's stddev.
    double sum = 0;
    for (size_t k = a; k < b; k++) sum += static_cast<double>(v[k]);
    const double mean = sum / static_cast<double>(b - a);
    double ss = 0;
    for (size_t k = a; k < b; k++) {
      const double d = static_cast<double>(v[k]) - mean;
      ss += d * d;
    }
    s.mean = mean;
    s.m2 = ss;
  }
  if (need & kNeedMin) {
    const size_t best = ExtremeAt<T, false>(v, a, b);
    Num<T>(s.mn) = v[best];
    s.mn_t = t[best];
  }
  if (need & kNeedMax) {
    const size_t best = ExtremeAt<T, true>(v, a, b);
    Num<T>(s.mx) = v[best];
    s.mx_t = t[best];
  }
  if (need & kNeedFirst) {
    // influxd breaks ties on time by the larger value.
    size_t best = a;
    for (size_t k = a + 1; k < b && t[k] == t[a]; k++) {
      if (v[best] < v[k]) best = k;
    }
    Num<T>(s.fst) = v[best];
    s.fst_t = t[a];
  }
  if (need & kNeedLast) {
    size_t best = b - 1;
    for (size_t k = b - 1; k > a && t[k - 1] == t[b - 1]; k--) {
      if (v[best] < v[k - 1]) best = k - 1;
    }
    Num<T>(s.lst) = v[best];
    s.lst_t = t[b - 1];
  }
  MergeInto<T>(s, need, acc);
}

// The float sums of kSumBatch slices [a[j], b[j]) of v, each a plain
// left-to-right fold from 0 (the same bits as one loop per slice): the
// slices' folds are interleaved so that their additions, independent of
// each other, overlap instead of waiting on one another's latency.
constexpr size_t kSumBatch = 4;

void SumSlices(const double* v, const size_t* a, const size_t* b, double* sum) {
  size_t common = b[0] - a[0];
  for (size_t j = 1; j < kSumBatch; j++) common = std::min(common, b[j] - a[j]);
  const double* v0 = v + a[0];
  const double* v1 = v + a[1];
  const double* v2 = v + a[2];
  const double* v3 = v + a[3];
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (size_t k = 0; k < common; k++) {
    s0 += v0[k];
    s1 += v1[k];
    s2 += v2[k];
    s3 += v3[k];
  }
  sum[0] = s0;
  sum[1] = s1;
  sum[2] = s2;
  sum[3] = s3;
  for (size_t j = 0; j < kSumBatch; j++) {
    double d = sum[j];
    for (size_t k = a[j] + common; k < b[j]; k++) d += v[k];
    sum[j] = d;
  }
}

template <typename T>
void Accumulate(const int64_t* t, const T* v, size_t n, int64_t first_window, int64_t interval,
                size_t windows, uint32_t need, PartialAcc* acc) {
  if (n == 0 || windows == 0) return;
  if (interval == 0) {
    ReduceSlice(t, v, 0, n, need, acc);
    return;
  }
  size_t a = static_cast<size_t>(std::lower_bound(t, t + n, first_window) - t);
  const uint64_t iv = static_cast<uint64_t>(interval);
  // Float sums are taken kSumBatch windows at a time (SumSlices); the
  // windows' slices wait here. Each goes to a window of its own, so the
  // order the accumulators are updated in does not change them.
  constexpr bool kBatch = std::is_same_v<T, double>;
  const bool batch = kBatch && (need & kNeedSum) != 0;
  size_t ba[kSumBatch], bb[kSumBatch], bw[kSumBatch];
  size_t pending = 0;
  auto flush = [&] {
    if constexpr (kBatch) {
      if (pending == kSumBatch) {
        double sum[kSumBatch];
        SumSlices(v, ba, bb, sum);
        for (size_t k = 0; k < kSumBatch; k++) ReduceSlice(t, v, ba[k], bb[k], need, &acc[bw[k]], &sum[k]);
        pending = 0;
        return;
      }
    }
    for (size_t k = 0; k < pending; k++) ReduceSlice(t, v, ba[k], bb[k], need, &acc[bw[k]]);
    pending = 0;
  };
  size_t guess = 0;  // the previous window's point count
  while (a < n) {
    // One division per non-empty window.
    const uint64_t w = (static_cast<uint64_t>(t[a]) - static_cast<uint64_t>(first_window)) / iv;
    if (w >= windows) break;
    const __int128 end = static_cast<__int128>(first_window) + static_cast<__int128>(w + 1) * interval;
    const int64_t we = end > INT64_MAX ? INT64_MAX : static_cast<int64_t>(end);
    // A regular series has as many points in a window as in the last: two
    // comparisons confirm that (the times are sorted); else a linear run
    // over the contiguous times finds the window's end.
    size_t b;
    if (guess > 0 && guess <= n - a && t[a + guess - 1] < we && (guess == n - a || t[a + guess] >= we)) {
      b = a + guess;
    } else {
      b = a + 1;
      while (b < n && t[b] < we) b++;
    }
    guess = b - a;
    if (batch) {
      ba[pending] = a;
      bb[pending] = b;
      bw[pending] = static_cast<size_t>(w);
      if (++pending == kSumBatch) flush();
    } else {
      ReduceSlice(t, v, a, b, need, &acc[w]);
    }
    a = b;
  }
  flush();
}

}  // namespace

void AccumulateColumn(const Column& c, int64_t first_window, int64_t interval, size_t windows, uint32_t need,
                      PartialAcc* acc) {
  const int64_t* t = c.times.data();
  switch (c.type) {
    case FieldType::kFloat:
      Accumulate(t, c.floats.data(), c.size(), first_window, interval, windows, need, acc);
      break;
    case FieldType::kInteger:
      Accumulate(t, c.ints.data(), c.size(), first_window, interval, windows, need, acc);
      break;
    case FieldType::kUnsigned:
      Accumulate(t, c.uints.data(), c.size(), first_window, interval, windows, need, acc);
      break;
    default:
      // Boolean and string columns are only counted (need == 0): one
      // division per window, the rest by the window's end.
      if (need != 0 || c.empty() || windows == 0) break;
      if (interval == 0) {
        acc[0].n += static_cast<int64_t>(c.size());
        break;
      }
      for (size_t a = static_cast<size_t>(std::lower_bound(c.times.begin(), c.times.end(), first_window) -
                                          c.times.begin());
           a < c.size();) {
        const uint64_t w = (static_cast<uint64_t>(c.times[a]) - static_cast<uint64_t>(first_window)) /
                           static_cast<uint64_t>(interval);
        if (w >= windows) break;
        const __int128 end = static_cast<__int128>(first_window) + static_cast<__int128>(w + 1) * interval;
        const int64_t we = end > INT64_MAX ? INT64_MAX : static_cast<int64_t>(end);
        size_t b = a + 1;
        while (b < c.size() && c.times[b] < we) b++;
        acc[w].n += static_cast<int64_t>(b - a);
        a = b;
      }
      break;
  }
}

namespace {
// M2MDB_BLOCK_STATS=0 in the environment starts with block statistics off:
// an A/B switch for whole-system measurements (m2mdb-bench starts the server
// with this process's environment).
bool BlockSummariesFromEnv() {
  const char* v = std::getenv("M2MDB_BLOCK_STATS");
  return v == nullptr || std::string_view(v) != "0";
}
std::atomic<bool> g_use_block_summaries{BlockSummariesFromEnv()};
}  // namespace

void SetUseBlockSummaries(bool on) { g_use_block_summaries.store(on, std::memory_order_relaxed); }
bool UseBlockSummaries() { return g_use_block_summaries.load(std::memory_order_relaxed); }

namespace {
// With two CPUs the other one is as often busy (the client, HTTP I/O, a
// flush, a neighbour on a shared host) as free, and waking a thread on it
// can take longer than the work: on a 2-vCPU VM every query measured had a
// worse or equal median split in two than not (2026-11-25, 100 trucks:
// avg-velocity-fleet-1h 2.5-3.4 vs 2.0-2.2 ms, long-driving-sessions 1.3-1.6
// vs 1.1-1.2 ms, 6 M points over 100 series 12.7-16.7 vs 15.6-15.8 ms with
// a best case of 9.6 vs 15.4). M2MDB_QUERY_THREADS=1 or 2 overrides.
bool SecondQueryThreadFromEnv() {
  if (const char* env = std::getenv("M2MDB_QUERY_THREADS"); env != nullptr && *env != '\0') {
    return std::atoi(env) >= 2;
  }
  return std::thread::hardware_concurrency() >= 4;
}
std::atomic<bool> g_second_query_thread{SecondQueryThreadFromEnv()};
}  // namespace

void SetUseSecondQueryThread(bool on) { g_second_query_thread.store(on, std::memory_order_relaxed); }
bool UseSecondQueryThread() { return g_second_query_thread.load(std::memory_order_relaxed); }

bool SummaryUsable(const BlockSummary& s, uint32_t need) {
  if (need & kNeedVariance) return false;
  constexpr double kExact = 9007199254740992.0;  // 2^53
  switch (s.type) {
    case FieldType::kFloat:
      if (need & (kNeedMin | kNeedMax)) {
        // A NaN anywhere in the block makes its sum NaN (so does +inf with
        // -inf: declined too, harmlessly).
        if (std::isnan(s.sum_f)) return false;
        if ((need & kNeedMin) && s.min_f == 0) return false;
        if ((need & kNeedMax) && s.max_f == 0) return false;
      }
      return true;
    case FieldType::kInteger:
      if (need & kNeedSum) {
        const double mx =
            std::max(std::fabs(static_cast<double>(s.min_i)), std::fabs(static_cast<double>(s.max_i)));
        if (static_cast<double>(s.count) * mx > kExact) return false;
      }
      return true;
    case FieldType::kUnsigned:
      if (need & kNeedSum) {
        if (static_cast<double>(s.count) * static_cast<double>(s.max_u) > kExact) return false;
      }
      return true;
    default:
      return need == 0;  // boolean/string: count only
  }
}

void AccumulateSummary(const BlockSummary& s, uint32_t need, PartialAcc* acc) {
  PartialAcc p;
  p.n = s.count;
  p.mn_t = p.mx_t = p.fst_t = s.min_time;
  p.lst_t = s.max_time;
  switch (s.type) {
    case FieldType::kFloat:
      p.dsum = s.sum_f;
      p.mn.f = s.min_f, p.mx.f = s.max_f, p.fst.f = s.first_f, p.lst.f = s.last_f;
      MergeInto<double>(p, need, acc);
      break;
    case FieldType::kInteger:
      p.usum = static_cast<uint64_t>(s.sum_i);
      p.dsum = static_cast<double>(s.sum_i);
      p.mn.i = s.min_i, p.mx.i = s.max_i, p.fst.i = s.first_i, p.lst.i = s.last_i;
      MergeInto<int64_t>(p, need, acc);
      break;
    case FieldType::kUnsigned:
      p.usum = s.sum_u;
      p.dsum = static_cast<double>(s.sum_u);
      p.mn.u = s.min_u, p.mx.u = s.max_u, p.fst.u = s.first_u, p.lst.u = s.last_u;
      MergeInto<uint64_t>(p, need, acc);
      break;
    default:
      acc->n += s.count;
      break;
  }
}

void CombinePartial(VType type, uint32_t need, const PartialAcc& from, PartialAcc* into) {
  if (from.n == 0) return;
  switch (type) {
    case VType::kFloat:
      MergeInto<double>(from, need, into);
      break;
    case VType::kInt:
      MergeInto<int64_t>(from, need, into);
      break;
    case VType::kUint:
      MergeInto<uint64_t>(from, need, into);
      break;
    default:
      into->n += from.n;  // boolean/string: counted only
      break;
  }
}

Entry PartialResult(const std::string& fn, VType type, const PartialAcc& a, int64_t window_time,
                    bool point_time) {
  auto num = [&](const PartialNum& x) -> Value {
    switch (type) {
      case VType::kFloat:
        return x.f;
      case VType::kInt:
        return x.i;
      case VType::kUint:
        return x.u;
      default:
        return std::monostate{};
    }
  };
  if (fn == "count") return {window_time, a.n};
  if (fn == "mean") return {window_time, a.dsum / static_cast<double>(a.n)};
  if (fn == "stddev") {
    if (a.n < 2) return {window_time, std::monostate{}};
    return {window_time, std::sqrt(a.m2 / static_cast<double>(a.n - 1))};
  }
  if (fn == "sum") {
    if (type == VType::kFloat) return {window_time, a.dsum};
    if (type == VType::kInt) return {window_time, static_cast<int64_t>(a.usum)};
    return {window_time, a.usum};
  }
  if (fn == "spread") {
    if (type == VType::kFloat) return {window_time, a.mx.f - a.mn.f};
    if (type == VType::kInt) {
      return {window_time,
              static_cast<int64_t>(static_cast<uint64_t>(a.mx.i) - static_cast<uint64_t>(a.mn.i))};
    }
    return {window_time, a.mx.u - a.mn.u};
  }
  if (fn == "min") return {point_time ? a.mn_t : window_time, num(a.mn)};
  if (fn == "max") return {point_time ? a.mx_t : window_time, num(a.mx)};
  if (fn == "first") return {point_time ? a.fst_t : window_time, num(a.fst)};
  return {point_time ? a.lst_t : window_time, num(a.lst)};  // last
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
      // In 128 bits: two times at the ends of the range are 2^64 apart.
      __int128 dt = static_cast<__int128>(in[k].time) - in[k - 1].time;
      if (dt == 0) continue;
      if (dt < 0) dt = -dt;  // descending input: influxd divides by the distance
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
    std::vector<double> ring;
    for (size_t k = 0; k < in.size(); k++) {
      double x;
      if (!ToDouble(in[k].value, &x)) continue;
      ring.push_back(x);
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
      // Saturated: two times at the ends of the range are 2^64 apart.
      const __int128 e = (static_cast<__int128>(in[k].time) - in[k - 1].time) / unit;
      // Negative over descending input, as in influxd.
      out.push_back({in[k].time, e > INT64_MAX   ? INT64_MAX
                                 : e < INT64_MIN ? INT64_MIN
                                                 : static_cast<int64_t>(e)});
    }
  }
  return out;
}

}  // namespace m2mdb::query::exec
