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
// Elements looked at per split estimate.
constexpr size_t kEstimateSample = 2048;

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

// The stream of the last planned transform on this thread (Plan.delta),
// reused by the encoder right after planning.
thread_local std::vector<uint64_t> streams[kTransforms];

// Estimated bytes of the low k bits, the zstd-coded high bytes and the
// escapes at split k. Huffman codes a symbol of probability p in about
// max(1, -log2 p) bits; the table and the frame cost a few bytes per
// distinct symbol plus a constant.
size_t EstimateAt(const uint64_t* u, size_t m, int k) {
  // A strided sample of ≤ 2048 elements, scaled to m: the estimate only
  // ranks splits and transforms (the chosen one is built and sized
  // exactly), and the full passes were most of the encoder's time.
  const size_t stride = (m + kEstimateSample - 1) / kEstimateSample;
  uint32_t hist[256] = {};
  size_t escape_bytes = 0, escapes = 0, seen = 0;
  for (size_t i = 0; i < m; i += stride, seen++) {
    const uint64_t h = u[i] >> k;
    const bool esc = h >= kEscape;
    hist[esc ? kEscape : h]++;
    if (esc) {
      escape_bytes += VarintSize(h - kEscape);
      escapes++;
    }
  }
  const double scale = static_cast<double>(m) / static_cast<double>(seen);
  const double sampled = static_cast<double>(seen);
  double bits = 8.0 * static_cast<double>(escape_bytes);
  size_t distinct = 0;
  for (uint32_t c : hist) {
    if (c == 0) continue;
    distinct++;
    bits += c * std::max(1.0, std::log2(sampled / c));
  }
  if (distinct == 1) bits = 8.0 * static_cast<double>(escape_bytes) + 8 * 8 / scale;  // a tiny frame
  bits = bits * scale + static_cast<double>(m) * k;
  return static_cast<size_t>(bits / 8) + 16 + distinct / 2 +
         VarintSize(static_cast<uint64_t>(escapes * scale));
}

// The best split of u[0, m) by estimate (*k_out, *bytes_out), and the
// smallest split considered (*k_min). Splits run from the one that leaves
// ~1 % of the elements (by a sample's 99th percentile) above a byte, as
// escapes — so a counter reset or an outage costs its own few bytes instead
// of widening every element — up to the one that leaves none.
void BestSplit(const uint64_t* u, size_t m, int* k_out, int* k_min, size_t* bytes_out) {
  uint64_t all = 0;
  for (size_t i = 0; i < m; i++) all |= u[i];
  const int k_hi = std::max(0, BitWidth(all) - 8);
  uint64_t sample[256] = {};
  size_t ns = 0;
  const size_t stride = std::max<size_t>(1, m / 256);
  for (size_t i = 0; i < m && ns < 256; i += stride) sample[ns++] = u[i];
  std::sort(sample, sample + ns);
  auto split_at = [&](size_t percent) {
    return std::min(k_hi, std::max(0, BitWidth(sample[(ns - 1) * percent / 100]) - 8));
  };
  const int k_lo = split_at(99);
  // A mixture (a byte counter: 90 % small steps, 10 % bursts) is cheaper
  // with the bursts as escapes than with every element as wide as them.
  const int k_mix = split_at(90);
  *k_min = k_lo;
  size_t best = SIZE_MAX;
  int best_k = k_lo;
  auto consider = [&](int k) {
    const size_t bytes = EstimateAt(u, m, k);
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
  int64_t sample[64];
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

Plan MakePlan(const int64_t* v, size_t n) {
  Plan best;
  // Frame of reference: u = v - min.
  int64_t mn = v[0];
  for (size_t i = 1; i < n; i++) mn = v[i] < mn ? v[i] : mn;
  streams[kForT].resize(n);
  for (size_t i = 0; i < n; i++) streams[kForT][i] = Sub(v[i], mn);
  // Delta: u = zigzag(d - median of a sample of d), so a drifting series
  // (a meter) centres on its typical step and a random walk on zero.
  auto delta = [v](size_t j) { return static_cast<int64_t>(Sub(v[j + 1], v[j])); };
  const int64_t med = SampleMedian(n - 1, delta);
  streams[kDeltaT].resize(n - 1);
  for (size_t j = 0; j < n - 1; j++) {
    streams[kDeltaT][j] = ZigZagEncode(static_cast<int64_t>(Sub(delta(j), med)));
  }
  // Delta of delta: u = zigzag(dd - median), for smooth trajectories whose
  // steps change slowly (a moving vehicle's coordinates, a steady rate).
  auto dd = [&delta](size_t j) { return static_cast<int64_t>(Sub(delta(j + 1), delta(j))); };
  const int64_t med2 = SampleMedian(n - 2, dd);
  streams[kDodT].resize(n - 2);
  for (size_t j = 0; j < n - 2; j++) streams[kDodT][j] = ZigZagEncode(static_cast<int64_t>(Sub(dd(j), med2)));
  // Smoothed level: u = zigzag(v - level prediction - median), for noisy
  // sensors (a level plus independent noise), where a delta carries the
  // noise of two readings and the level's own estimate only a fraction.
  const int shift = ChooseSmoothShift(v, n);
  int64_t med3 = 0;
  if (shift > 0) {
    streams[kSmoothT].resize(n - 1);
    SmoothResiduals(v, n, shift, streams[kSmoothT].data());
    auto residual = [](size_t j) { return static_cast<int64_t>(streams[kSmoothT][j]); };
    med3 = SampleMedian(n - 1, residual);
    for (uint64_t& u : streams[kSmoothT]) {
      u = ZigZagEncode(static_cast<int64_t>(Sub(static_cast<int64_t>(u), med3)));
    }
  }
  const size_t header[kTransforms] = {
      VarintSize(ZigZagEncode(mn)), VarintSize(ZigZagEncode(v[0])) + VarintSize(ZigZagEncode(med)),
      VarintSize(ZigZagEncode(v[0])) + VarintSize(ZigZagEncode(delta(0))) + VarintSize(ZigZagEncode(med2)),
      VarintSize(ZigZagEncode(v[0])) + 1 + VarintSize(ZigZagEncode(med3))};
  const int64_t refs[kTransforms] = {mn, med, med2, med3};
  for (int t : {kForT, kDeltaT, kDodT, kSmoothT}) {
    if (t == kSmoothT && shift == 0) continue;
    int k, k_min;
    size_t bytes;
    BestSplit(streams[t].data(), streams[t].size(), &k, &k_min, &bytes);
    bytes += 1 + header[t] + 1 + 1 + 3;
    // The smoothed level decodes one value after the other (no prefix sum
    // in groups): it must win by 1/32 over the other transforms.
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

// Appends the block for `plan` split at k.
void AppendBlock(const int64_t* v, const Plan& plan, int k, const std::vector<uint64_t>& u,
                 std::string* out) {
  const size_t m = u.size();
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

}  // namespace

size_t EntropyIntBlockEstimate(const int64_t* v, size_t n, size_t limit) {
  if (!Eligible(n, limit)) return SIZE_MAX;
  return MakePlan(v, n).bytes;
}

bool EncodeEntropyIntBlock(const int64_t* v, size_t n, size_t limit, std::string* out) {
  if (!Eligible(n, limit)) return false;
  const Plan plan = MakePlan(v, n);
  // Required gain: 1/32 of the plain size, for the slower decode.
  if (plan.bytes + plan.bytes / 32 >= limit) return false;
  const std::vector<uint64_t>& u = streams[plan.transform];
  // The estimate models Huffman loosely: on a small skewed alphabet (a
  // split with few high symbols) it is optimistic, and the smallest split
  // (all but uniform-looking bits through Huffman) often wins in fact. Both
  // are built and the smaller kept.
  thread_local std::string other;
  const size_t start = out->size();
  AppendBlock(v, plan, plan.k, u, out);
  if (plan.k != plan.k_min) {
    other.clear();
    AppendBlock(v, plan, plan.k_min, u, &other);
    if (other.size() < out->size() - start) {
      out->resize(start);
      out->append(other);
    }
  }
  const size_t size = out->size() - start;
  if (size + size / 32 >= limit) {
    out->resize(start);
    return false;
  }
  return true;
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
  if (k > 0) {
    UnpackBits(low, m, k, o);
  } else {
    std::fill(o, o + m, 0);
  }
  for (size_t i = 0; i < m; i++) o[i] |= uint64_t{h[i]} << k;
  uint64_t escapes;
  if (!c->Varint(&escapes) || escapes > m) return Corrupt("bad entropy-coded escape count");
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
  if (zigzag) UnZigZag(o, m);
  *stream = o;
  return absl::OkStatus();
}

}  // namespace m2mdb::encoding::internal
