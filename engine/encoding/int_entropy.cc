// Integer block schemes 6 to 9: an entropy-coding stage after the frame of
// reference (6), delta (7), delta-of-delta (8) or smoothed-level (9)
// transform (layout in internal.h and docs/format/encoding.md).
//
// Why: bit packing stores every element at the width of its frame, but the
// elements of telemetry (the steps of a random walk, ADC noise, timestamp
// jitter) are not uniform over that width: rpm steps uniform in ±40 carry
// 6.3 bits and pack in 7, noise with a bell-shaped distribution packs at
// the width of its rare tails. Each element u is split into its low k bits,
// bit-packed as before (those are close to uniform), and its high part
// u >> k, below 256, stored one byte per element and compressed by zstd,
// whose Huffman stage codes each byte at close to its frequency (and whose
// match finder catches repeated patterns). k is chosen from the histogram
// of the high bytes so that the uniform low bits are not fed to Huffman,
// which could not shrink them. The stage is used only for a block it makes
// smaller than the plain schemes by a margin, since it decodes slower.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "engine/encoding/internal.h"

namespace m2mdb::encoding::internal {
namespace {

// Below this many values the zstd frame and Huffman table overhead (~20
// bytes) eats what the entropy coding could save.
constexpr size_t kMinValues = 128;
// A high byte of 255 is an escape: the element's high part is 255 plus the
// next varint of the escape list.
constexpr uint64_t kEscape = 255;
// Elements looked at per split estimate. 512 instead of 2048 halved the
// planner's time on the ~2000-value blocks a flush writes, for +0.03 % of
// bytes on an iot day (the built block is sized on the whole stream).
constexpr size_t kEstimateSample = 512;
// Elements whose quantiles place the splits.
constexpr size_t kQuantileSample = 256;
// Two splits whose Huffman-sized blocks differ by at most 1/kCloseCall are
// both built.
constexpr size_t kCloseCall = 64;

inline uint64_t Sub(int64_t a, int64_t b) { return static_cast<uint64_t>(a) - static_cast<uint64_t>(b); }
size_t VarintSize(uint64_t v) { return static_cast<size_t>(BitWidth(v | 1) + 6) / 7; }

// Transforms before the entropy stage: the scheme byte is 6 + transform.
enum Transform { kForT = 0, kDeltaT = 1, kDodT = 2, kSmoothT = 3 };
constexpr int kTransforms = 4;

// Smoothing shifts tried (the level follows each value by 2^-shift).
constexpr int kMinSmoothShift = 1, kMaxSmoothShift = 6;
// Values looked at to choose the shift.
constexpr size_t kSmoothSample = 2048;

struct Plan {
  int transform = kForT;
  int shift = 0;  // kSmoothT only
  int64_t ref = 0;
  int k = 0;
  int k_min = 0;            // the smallest split keeping the high part in a byte
  size_t bytes = SIZE_MAX;  // estimated block size
};

// The three candidate streams, element by element, straight from the
// values: planning reads only samples of them, and only the chosen one is
// ever written out in full (materialising all three was most of the
// encoder's time after zstd).
struct Streams {
  const int64_t* v;
  size_t n;
  int64_t mn = 0, med = 0, med2 = 0;
  // Per transform: a strided sample for the size estimates and a sorted
  // one for the split quantiles.
  uint64_t est[kTransforms][kEstimateSample];
  uint64_t quant[kTransforms][kQuantileSample];
  size_t ns[kTransforms], nq[kTransforms];
  // The smoothed-level stream is sequential (each element depends on all
  // the values before it): written out in full when it is a candidate.
  std::vector<uint64_t> smooth;

  int64_t Delta(size_t j) const { return static_cast<int64_t>(Sub(v[j + 1], v[j])); }
  size_t Length(int t) const { return t == kSmoothT ? n - 1 : n - static_cast<size_t>(t); }
  uint64_t At(int t, size_t j) const {
    if (t == kSmoothT) return smooth[j];
    if (t == kForT) return Sub(v[j], mn);
    if (t == kDeltaT) return ZigZagEncode(static_cast<int64_t>(Sub(Delta(j), med)));
    return ZigZagEncode(static_cast<int64_t>(Sub(static_cast<int64_t>(Sub(Delta(j + 1), Delta(j))), med2)));
  }
};

struct Extremes {
  int64_t mn, mx;
  uint64_t or_delta, or_dod;
};

// Zigzag with a logical shift only, so that the loops below vectorise
// (x86 has no packed 64-bit arithmetic shift below AVX-512).
inline uint64_t ZigZagU(uint64_t x) { return (x << 1) ^ (0 - (x >> 63)); }

// The minimum and maximum of v and the OR of the delta and delta-of-delta
// streams (n >= 3), in one pass that the AVX2 clone vectorises: the planner
// needs each stream's widest element, and this pass is most of its time.
__attribute__((target_clones("avx2", "default"))) void StreamExtremes(const int64_t* v, size_t n,
                                                                      uint64_t med, uint64_t med2,
                                                                      Extremes* out) {
  int64_t mn = v[0], mx = v[0];
  uint64_t or_delta = ZigZagU(Sub(v[1], v[0]) - med), or_dod = 0;
  for (size_t i = 1; i + 1 < n; i++) {
    mn = v[i] < mn ? v[i] : mn;
    mx = v[i] > mx ? v[i] : mx;
    const uint64_t d = Sub(v[i + 1], v[i]);
    const uint64_t prev = Sub(v[i], v[i - 1]);
    or_delta |= ZigZagU(d - med);
    or_dod |= ZigZagU(d - prev - med2);
  }
  mn = v[n - 1] < mn ? v[n - 1] : mn;
  mx = v[n - 1] > mx ? v[n - 1] : mx;
  *out = {mn, mx, or_delta, or_dod};
}

// Writes stream t of `s` in full into u[0, m).
void Materialise(const Streams& s, int t, uint64_t* __restrict u) {
  const int64_t* v = s.v;
  const size_t n = s.n;
  if (t == kSmoothT) {
    std::memcpy(u, s.smooth.data(), (n - 1) * sizeof(uint64_t));
  } else if (t == kForT) {
    for (size_t i = 0; i < n; i++) u[i] = Sub(v[i], s.mn);
  } else if (t == kDeltaT) {
    for (size_t j = 0; j + 1 < n; j++)
      u[j] = ZigZagEncode(static_cast<int64_t>(Sub(Sub(v[j + 1], v[j]), s.med)));
  } else {
    for (size_t j = 0; j + 2 < n; j++) {
      const uint64_t dd = Sub(v[j + 2], v[j + 1]) - Sub(v[j + 1], v[j]);
      u[j] = ZigZagEncode(static_cast<int64_t>(dd - static_cast<uint64_t>(s.med2)));
    }
  }
}

// log2(c) for the counts of a sample (c <= kEstimateSample): the estimates
// take a few hundred per block, and libm's log2 was a tenth of them.
const double* Log2Table() {
  static const std::vector<double> table = [] {
    std::vector<double> t(kEstimateSample + 1, 0.0);
    for (size_t c = 1; c <= kEstimateSample; c++) t[c] = std::log2(static_cast<double>(c));
    return t;
  }();
  return table.data();
}

// The high bytes' histogram of u[0, ns) at split k, and the escapes it
// holds (count and varint bytes).
struct HighBytes {
  uint32_t hist[256] = {};
  size_t escape_bytes = 0, escapes = 0;
  HighBytes(const uint64_t* u, size_t ns, int k) {
    for (size_t i = 0; i < ns; i++) {
      const uint64_t h = u[i] >> k;
      const bool esc = h >= kEscape;
      hist[esc ? kEscape : h]++;
      if (esc) {
        escape_bytes += VarintSize(h - kEscape);
        escapes++;
      }
    }
  }
};

// Estimated bytes of the low k bits, the zstd-coded high bytes and the
// escapes at split k, from `ns` sampled elements of a stream of m. Huffman
// codes a symbol of probability p in about max(1, -log2 p) bits; the table
// and the frame cost a few bytes per distinct symbol plus a constant. Only
// ranks splits and transforms: the chosen one is sized on the whole stream.
size_t EstimateAt(const uint64_t* u, size_t ns, size_t m, int k) {
  const HighBytes hb(u, ns, k);
  const size_t escape_bytes = hb.escape_bytes, escapes = hb.escapes;
  const double scale = static_cast<double>(m) / static_cast<double>(ns);
  const double log2_sampled = Log2Table()[ns];
  double bits = 8.0 * static_cast<double>(escape_bytes);
  size_t distinct = 0;
  for (uint32_t c : hb.hist) {
    if (c == 0) continue;
    distinct++;
    bits += c * std::max(1.0, log2_sampled - Log2Table()[c]);
  }
  if (distinct == 1) bits = 8.0 * static_cast<double>(escape_bytes) + 8 * 8 / scale;  // a tiny frame
  bits = bits * scale + static_cast<double>(m) * k;
  return static_cast<size_t>(bits / 8) + 16 + distinct / 2 +
         VarintSize(static_cast<uint64_t>(escapes * scale));
}

// The split leaving the elements above the `percent` quantile of the sorted
// sample quant[0, nq) as escapes, for a stream whose widest element has
// `width` bits.
int SplitAt(const uint64_t* quant, size_t nq, int width, size_t percent) {
  return std::min(std::max(0, width - 8), std::max(0, BitWidth(quant[(nq - 1) * percent / 100]) - 8));
}

// The best split of a stream of m elements by estimate (*k_out,
// *bytes_out), and the smallest split considered (*k_min), from `est` (a
// strided sample), `quant` (a sorted strided sample) and the bit width of
// the stream's largest element. Splits run from the one that leaves ~1 % of
// the elements (the sample's 99th percentile) above a byte, as escapes — so
// a counter reset or an outage costs its own few bytes instead of widening
// every element — up to the one that leaves none.
void BestSplit(const uint64_t* est, size_t ns, const uint64_t* quant, size_t nq, size_t m, int width,
               int* k_out, int* k_min, size_t* bytes_out) {
  const int k_hi = std::max(0, width - 8);
  const int k_lo = SplitAt(quant, nq, width, 99);
  // A mixture (a byte counter: 90 % small steps, 10 % bursts) is cheaper
  // with the bursts as escapes than with every element as wide as them.
  const int k_mix = SplitAt(quant, nq, width, 90);
  *k_min = k_lo;
  size_t best = SIZE_MAX;
  int best_k = k_lo;
  auto consider = [&](int k) {
    const size_t bytes = EstimateAt(est, ns, m, k);
    if (bytes < best) {
      best = bytes;
      best_k = k;
    }
  };
  if (k_mix < k_lo) consider(k_mix);
  // Up to four more splits: the three smallest and the escape-free one.
  for (int k = k_lo; k <= k_hi; k = (k < k_lo + 2 ? k + 1 : std::max(k + 1, k_hi))) consider(k);
  *k_out = best_k;
  *bytes_out = best;
}

// Median of a strided sample of up to 64 elements of d[0, m).
template <typename F>
int64_t SampleMedian(size_t m, F&& d) {
  int64_t sample[64] = {};
  size_t ns = 0;
  const size_t stride = std::max<size_t>(1, m / 64);
  for (size_t j = 0; j < m && ns < 64; j += stride) sample[ns++] = d(j);
  std::nth_element(sample, sample + ns / 2, sample + ns);
  return sample[ns / 2];
}

// The smoothing shift for v, or 0 when a smoothed level cannot beat the
// deltas. Noise around a slowly moving level makes consecutive deltas
// anti-correlated (each reading's noise enters one delta with + and the
// next with -): for level steps of variance a and noise of variance b, the
// lag-1 correlation of the deltas is r = -b / (a + 2b), so a / b = -1/r - 2,
// and the steady-state gain of the best (Kalman) level estimate is
// K = (-q + sqrt(q^2 + 4q)) / 2 for q = a / b. The shift nearest log2(1/K)
// and its two neighbours are tried on the block's first values, the one
// whose residuals have the fewest significant bits in all kept. A random
// walk (r near 0) or a smooth trajectory (r > 0) costs only the one pass
// that measures r.
int ChooseSmoothShift(const int64_t* v, size_t n) {
  const size_t m = std::min(n, kSmoothSample);
  auto delta = [v](size_t j) { return static_cast<double>(static_cast<int64_t>(Sub(v[j], v[j - 1]))); };
  double sum = 0;
  for (size_t j = 1; j < m; j++) sum += delta(j);
  const double mean = sum / static_cast<double>(m - 1);
  double sxx = 0, sxy = 0, prev = delta(1) - mean;
  for (size_t j = 2; j < m; j++) {
    const double d = delta(j) - mean;
    sxx += prev * prev;
    sxy += prev * d;
    prev = d;
  }
  if (!(sxx > 0) || sxy >= -0.1 * sxx) return 0;
  const double r = std::max(sxy / sxx, -0.499);
  const double q = -1 / r - 2;
  const double gain = (-q + std::sqrt(q * q + 4 * q)) / 2;
  const int guess = std::clamp(static_cast<int>(std::lround(std::log2(1 / std::max(gain, 1e-9)))),
                               kMinSmoothShift, kMaxSmoothShift);
  thread_local std::vector<uint64_t> res;
  res.resize(m);
  int best = 0;
  uint64_t best_cost = UINT64_MAX;
  for (int sh = std::max(kMinSmoothShift, guess - 1); sh <= std::min(kMaxSmoothShift, guess + 1); sh++) {
    SmoothResiduals(v, m, sh, res.data());
    uint64_t cost = 0;
    for (size_t j = 0; j + 1 < m; j++) {
      cost += static_cast<uint64_t>(BitWidth(ZigZagEncode(static_cast<int64_t>(res[j]))));
    }
    if (cost < best_cost) {
      best = sh;
      best_cost = cost;
    }
  }
  return best;
}

Plan MakePlan(const int64_t* v, size_t n, Streams* streams) {
  Streams& s = *streams;
  s.v = v;
  s.n = n;
  // One pass for the extremes of all three streams (the escape-free split
  // needs each stream's widest element); the rest reads samples only.
  // Delta: u = zigzag(d - median of a sample of d), so a drifting series
  // (a meter) centres on its typical step and a random walk on zero.
  // Delta of delta: u = zigzag(dd - median), for smooth trajectories whose
  // steps change slowly (a moving vehicle's coordinates, a steady rate).
  s.med = SampleMedian(n - 1, [&s](size_t j) { return s.Delta(j); });
  s.med2 =
      SampleMedian(n - 2, [&s](size_t j) { return static_cast<int64_t>(Sub(s.Delta(j + 1), s.Delta(j))); });
  Extremes x;
  StreamExtremes(v, n, static_cast<uint64_t>(s.med), static_cast<uint64_t>(s.med2), &x);
  const int64_t mn = x.mn, mx = x.mx;
  const uint64_t or_delta = x.or_delta, or_dod = x.or_dod;
  s.mn = mn;
  // Smoothed level: u = zigzag(v - level prediction - median), for noisy
  // sensors (a level plus independent noise), where a delta carries the
  // noise of two readings and the level's own estimate only a fraction.
  const int shift = ChooseSmoothShift(v, n);
  int64_t med3 = 0;
  uint64_t or_smooth = 0;
  if (shift > 0) {
    s.smooth.resize(n - 1);
    SmoothResiduals(v, n, shift, s.smooth.data());
    med3 = SampleMedian(n - 1, [&s](size_t j) { return static_cast<int64_t>(s.smooth[j]); });
    for (uint64_t& u : s.smooth) {
      u = ZigZagEncode(static_cast<int64_t>(u - static_cast<uint64_t>(med3)));
      or_smooth |= u;
    }
  }
  const int widths[kTransforms] = {BitWidth(Sub(mx, mn)), BitWidth(or_delta), BitWidth(or_dod),
                                   BitWidth(or_smooth)};
  const size_t header[kTransforms] = {VarintSize(ZigZagEncode(mn)),
                                      VarintSize(ZigZagEncode(v[0])) + VarintSize(ZigZagEncode(s.med)),
                                      VarintSize(ZigZagEncode(v[0])) + VarintSize(ZigZagEncode(s.Delta(0))) +
                                          VarintSize(ZigZagEncode(s.med2)),
                                      VarintSize(ZigZagEncode(v[0])) + 1 + VarintSize(ZigZagEncode(med3))};
  const int64_t refs[kTransforms] = {mn, s.med, s.med2, med3};
  const int candidates = shift > 0 ? kTransforms : 3;
  // Each transform is first estimated at its smallest split only; the
  // other splits are estimated for the transforms that come within 1/8 of
  // the best there (a transform that loses by more at that split does not
  // win at another: the splits move the estimate by a few percent).
  Plan best;
  size_t at_lo[kTransforms];
  int k_lo[kTransforms];
  size_t best_lo = SIZE_MAX;
  for (int t = 0; t < candidates; t++) {
    const size_t m = s.Length(t);
    const size_t stride = (m + kEstimateSample - 1) / kEstimateSample;
    uint64_t* est = s.est[t];
    size_t ns = 0;
    for (size_t j = 0; j < m; j += stride) est[ns++] = s.At(t, j);
    s.ns[t] = ns;
    uint64_t* quant = s.quant[t];
    size_t nq = 0;
    const size_t qstride = std::max<size_t>(1, m / kQuantileSample);
    for (size_t j = 0; j < m && nq < kQuantileSample; j += qstride) quant[nq++] = s.At(t, j);
    std::sort(quant, quant + nq);
    s.nq[t] = nq;
    k_lo[t] = SplitAt(quant, nq, widths[t], 99);
    at_lo[t] = EstimateAt(est, ns, m, k_lo[t]) + header[t];
    best_lo = std::min(best_lo, at_lo[t]);
  }
  // In order, so that the smoothed level (last) is weighed against the best
  // of the others: it decodes one value after the other (no prefix sum in
  // groups) and must win by 1/32.
  for (int t = 0; t < candidates; t++) {
    if (at_lo[t] > best_lo + best_lo / 8) continue;
    int k, k_min;
    size_t bytes;
    BestSplit(s.est[t], s.ns[t], s.quant[t], s.nq[t], s.Length(t), widths[t], &k, &k_min, &bytes);
    bytes += 1 + header[t] + 1 + 1 + 3;
    if (t == kSmoothT && bytes + bytes / 32 >= best.bytes) continue;
    if (bytes < best.bytes) best = {t, t == kSmoothT ? shift : 0, refs[t], k, k_min, bytes};
  }
  return best;
}

bool Eligible(size_t n, size_t limit) {
  // Blocks the plain schemes already store in under 2 bits per value have
  // little left for Huffman (at least 1 bit per coded symbol) to take.
  return n >= kMinValues && n <= kMaxBlockValues && limit >= n / 4;
}

// Bits of an optimal Huffman code for the nonzero counts c[0, d), sorted
// ascending (two-queue construction: merged weights are nondecreasing).
uint64_t HuffmanBits(uint64_t* c, size_t d) {
  if (d < 2) return 0;
  uint64_t merged[256];
  size_t li = 0, mi = 0, mn = 0;
  uint64_t bits = 0;
  auto take = [&]() {
    if (li < d && (mi == mn || c[li] <= merged[mi])) return c[li++];
    return merged[mi++];
  };
  for (size_t merges = 0; merges + 1 < d; merges++) {
    const uint64_t w = take() + take();
    bits += w;  // every symbol under this node gets one bit deeper
    merged[mn++] = w;
  }
  return bits;
}

// Size of the block at split k of a stream of m elements, from u[0, ns)
// (the whole stream, or a strided sample of it), as a zstd frame of
// Huffman-coded literals would store the high bytes (the match finder,
// which can only make it smaller, is not modelled), plus the low bits and
// the escapes. Sharper than the planner's estimate on small skewed
// alphabets; picks between its two candidate splits without compressing
// both.
size_t SizeAt(const uint64_t* u, size_t ns, size_t m, int k) {
  const HighBytes hb(u, ns, k);
  const size_t escape_bytes = hb.escape_bytes, escapes = hb.escapes;
  uint64_t counts[256];
  size_t d = 0;
  for (uint32_t c : hb.hist) {
    if (c != 0) counts[d++] = c;
  }
  std::sort(counts, counts + d);
  const size_t bits = static_cast<size_t>(static_cast<double>(HuffmanBits(counts, d)) * m / ns);
  // Frame and block headers, literal header, 4-stream jump table and a
  // weight table of about half a byte per symbol; one symbol is an RLE block.
  const size_t zstd = d == 1 ? 12 : (bits + 7) / 8 + 21 + d / 2;
  return PackedBytes(m, k) + std::min(m, zstd) + VarintSize(m) + escape_bytes * m / ns +
         VarintSize(escapes * m / ns);
}

// Appends the block for `plan` split at k over its stream u[0, m).
void AppendBlock(const int64_t* v, const Plan& plan, int k, const uint64_t* u, size_t m, std::string* out) {
  out->push_back(static_cast<char>(6 + plan.transform));
  if (plan.transform != kForT) PutVarint64(out, ZigZagEncode(v[0]));
  if (plan.transform == kDodT) PutVarint64(out, ZigZagEncode(static_cast<int64_t>(Sub(v[1], v[0]))));
  if (plan.transform == kSmoothT) out->push_back(static_cast<char>(plan.shift));
  PutVarint64(out, ZigZagEncode(plan.ref));
  out->push_back(static_cast<char>(k));
  const uint64_t low_mask = k == 0 ? 0 : (~uint64_t{0} >> (64 - k));
  thread_local std::vector<uint64_t> low;
  thread_local std::string high, frame;
  low.resize(m);
  high.resize(m);
  thread_local std::string escapes;
  escapes.clear();
  size_t count = 0;
  for (size_t i = 0; i < m; i++) {
    low[i] = u[i] & low_mask;
    const uint64_t h = u[i] >> k;
    high[i] = static_cast<char>(h < kEscape ? h : kEscape);
    if (h >= kEscape) {
      PutVarint64(&escapes, h - kEscape);
      count++;
    }
  }
  if (k > 0) PackBits(low.data(), m, k, out);
  const bool z = ZstdCompress(high, &frame) && frame.size() < m;
  out->push_back(z ? 1 : 0);
  PutVarint64(out, z ? frame.size() : m);
  out->append(z ? frame : high);
  PutVarint64(out, count);
  out->append(escapes);
}

// Its own function so that it vectorises: inlined into ReadEntropyStream,
// GCC 12 left this loop scalar, and it was 3/4 of the stage's decode time.
__attribute__((noinline)) void UnZigZag(uint64_t* __restrict o, size_t m) {
  for (size_t i = 0; i < m; i++) o[i] = (o[i] >> 1) ^ (0 - (o[i] & 1));
}

// o[i] = low part (o[i], or none when k == 0) | h[i] << k, zigzag-decoded
// when `zz`: one pass instead of a zero fill, an OR pass and a zigzag pass.
// Each case its own loop, so that each vectorises.
__attribute__((noinline)) void MergeHigh(uint64_t* __restrict o, const uint8_t* __restrict h, size_t m, int k,
                                         bool zz) {
  if (k == 0 && zz) {
    for (size_t i = 0; i < m; i++) o[i] = uint64_t{h[i]} >> 1 ^ (0 - (uint64_t{h[i]} & 1));
  } else if (k == 0) {
    for (size_t i = 0; i < m; i++) o[i] = h[i];
  } else if (zz) {
    for (size_t i = 0; i < m; i++) {
      const uint64_t u = o[i] | uint64_t{h[i]} << k;
      o[i] = (u >> 1) ^ (0 - (u & 1));
    }
  } else {
    for (size_t i = 0; i < m; i++) o[i] |= uint64_t{h[i]} << k;
  }
}

}  // namespace

size_t EntropyIntBlockEstimate(const int64_t* v, size_t n, size_t limit) {
  if (!Eligible(n, limit)) return SIZE_MAX;
  thread_local Streams streams;
  return MakePlan(v, n, &streams).bytes;
}

namespace {

bool EncodeEntropy(const int64_t* v, size_t n, size_t limit, size_t gain_divisor, bool build_both,
                   std::string* out) {
  if (!Eligible(n, limit)) return false;
  thread_local Streams streams;
  const Plan plan = MakePlan(v, n, &streams);
  // Required gain: a fraction of the plain size, for the slower decode.
  if (plan.bytes + plan.bytes / gain_divisor >= limit) return false;
  thread_local std::vector<uint64_t> stream;
  const size_t m = streams.Length(plan.transform);
  stream.resize(m);
  Materialise(streams, plan.transform, stream.data());
  const uint64_t* u = stream.data();
  // The sampled estimate models Huffman loosely: on a small skewed alphabet
  // (a split with few high symbols) it is optimistic, and the smallest split
  // (all but uniform-looking bits through Huffman) often wins in fact. The
  // two are sized on the whole stream with a real Huffman code, and only
  // the smaller built — both, when the sizes are too close to call (zstd's
  // match finder, not modelled, can then decide).
  int k = plan.k;
  bool both = false;
  if (plan.k != plan.k_min) {
    const size_t at_k = SizeAt(u, m, m, plan.k), at_min = SizeAt(u, m, m, plan.k_min);
    both =
        build_both || std::max(at_k, at_min) - std::min(at_k, at_min) <= std::max(at_k, at_min) / kCloseCall;
    if (at_min < at_k) k = plan.k_min;
  }
  const size_t start = out->size();
  AppendBlock(v, plan, k, u, m, out);
  if (both) {
    thread_local std::string other;
    other.clear();
    AppendBlock(v, plan, k == plan.k ? plan.k_min : plan.k, u, m, &other);
    if (other.size() < out->size() - start) {
      out->resize(start);
      out->append(other);
    }
  }
  const size_t size = out->size() - start;
  if (size + size / gain_divisor >= limit) {
    out->resize(start);
    return false;
  }
  return true;
}

}  // namespace

bool EncodeEntropyIntBlock(const int64_t* v, size_t n, size_t limit, size_t gain_divisor, std::string* out) {
  return EncodeEntropy(v, n, limit, gain_divisor, false, out);
}

bool EncodeEntropyIntBlockBuildingBoth(const int64_t* v, size_t n, size_t limit, std::string* out) {
  return EncodeEntropy(v, n, limit, kEntropyGainDivisor, true, out);
}

Status ReadEntropyStream(Cursor* c, size_t m, bool zigzag, uint64_t* ref, const uint64_t** stream) {
  uint64_t zref;
  uint8_t k, hmode;
  uint64_t hlen;
  if (m == 0) return Corrupt("empty entropy-coded int block");
  if (!c->Varint(&zref) || !c->Byte(&k)) return Corrupt("truncated entropy-coded int block");
  if (k > 56) return Corrupt("bad entropy-coded split");
  *ref = static_cast<uint64_t>(ZigZagDecode(zref));
  const uint8_t* low;
  if (!c->Bytes(PackedBytes(m, k), &low)) return Corrupt("truncated entropy-coded low bits");
  if (!c->Byte(&hmode) || hmode > 1 || !c->Varint(&hlen)) return Corrupt("bad entropy-coded high part");
  const uint8_t* hbytes;
  if (hlen > c->remaining() || !c->Bytes(hlen, &hbytes)) return Corrupt("truncated entropy-coded high part");
  thread_local std::vector<uint8_t> high;
  thread_local std::vector<uint64_t> u;
  const uint8_t* h = hbytes;
  if (hmode == 0) {
    if (hlen != m) return Corrupt("entropy-coded high part length mismatch");
  } else {
    high.resize(m);
    if (!ZstdDecompressExact(std::string_view(reinterpret_cast<const char*>(hbytes), hlen), high.data(), m)) {
      return Corrupt("entropy-coded high part does not decompress");
    }
    h = high.data();
  }
  u.resize(m);
  uint64_t* o = u.data();
  if (k > 0) UnpackBits(low, m, k, o);
  uint64_t escapes;
  if (!c->Varint(&escapes) || escapes > m) return Corrupt("bad entropy-coded escape count");
  // Without escapes to patch (the common case) the zigzag is undone in the
  // same pass.
  const bool fused = zigzag && escapes == 0;
  MergeHigh(o, h, m, k, fused);
  // Rare (resets, outages): find each escape byte and patch its element;
  // a 255 byte without its escape, or an escape without one, is damage.
  const uint64_t max_extra = (~uint64_t{0} >> k) - kEscape;  // (255 + extra) << k fits
  const uint8_t* p = h;
  for (uint64_t e = 0; e < escapes; e++) {
    const void* hit = std::memchr(p, static_cast<int>(kEscape), static_cast<size_t>(h + m - p));
    uint64_t extra;
    if (hit == nullptr) return Corrupt("entropy-coded escape count mismatch");
    if (!c->Varint(&extra) || extra > max_extra) return Corrupt("bad entropy-coded escape");
    const size_t i = static_cast<size_t>(static_cast<const uint8_t*>(hit) - h);
    o[i] += extra << k;  // o[i] holds 255 << k already
    p = h + i + 1;
  }
  if (std::memchr(p, static_cast<int>(kEscape), static_cast<size_t>(h + m - p)) != nullptr) {
    return Corrupt("entropy-coded escape count mismatch");
  }
  if (zigzag && !fused) UnZigZag(o, m);
  *stream = o;
  return absl::OkStatus();
}

}  // namespace m2mdb::encoding::internal
