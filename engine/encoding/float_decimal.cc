// kFloatDecimal: decimal scaling in the spirit of ALP (Afroozeh et al.,
// SIGMOD 2024) and VictoriaMetrics. Sensor values are short decimals
// (52.1234, 87.5): multiplied by 10^e they become integers, which the
// integer block core stores as frame-of-reference or delta bit packing.
//
//   | 3 | n varint | e u8 | int block (internal.h) | k varint |
//   | k exception positions: first as varint, then gaps - 1 as varints |
//   | k exception values: fixed64 raw bits |
//
// Value i decodes as (double)int[i] / 10^e; the encoder keeps a value in the
// integer stream only if that exact expression reproduces its bits, so the
// round trip is bit-exact by construction. Everything else (NaN payloads,
// +-Inf, -0.0, subnormals, values with more digits than 10^e captures,
// magnitudes beyond 2^51) is an exception: its integer slot repeats the
// previous integer (a zero delta, so it costs nothing extra in the packed
// stream) and its raw bits are patched in after the bulk decode.
//
// Choosing e: a strided sample of up to 64 values estimates, for every e in
// 0..18, the exceptions it would cause and the bit width of the sample's
// integer range; the e with the smallest estimated size wins.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "engine/encoding/internal.h"

namespace m2mdb::encoding::internal {
namespace {

constexpr int kMaxExponent = 18;
constexpr double kPow10[kMaxExponent + 1] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8, 1e9,
                                             1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};
// Adding and subtracting 1.5 * 2^52 rounds to the nearest integer (ties to
// even) for |x| < 2^51 without a libm call.
constexpr double kRoundMagic = 6755399441055744.0;
// Below 2^51 - 1, so |int| < 2^51: the decoder's conversion trick needs it.
constexpr double kMaxScaled = 2251799813685247.0;  // 2^51 - 1

// Scales v by 10^e; sets *ok to whether the decode expression reproduces v.
inline int64_t Scale(double v, int e, bool* ok) {
  double x = v * kPow10[e];
  const bool in_range = std::fabs(x) < kMaxScaled;  // false for NaN and Inf
  x = in_range ? x : 0.0;
  const int64_t i = static_cast<int64_t>((x + kRoundMagic) - kRoundMagic);
  const double back = static_cast<double>(i) / kPow10[e];
  *ok = in_range & (BitCast<uint64_t>(back) == BitCast<uint64_t>(v));
  return i;
}

// Also reports the sample's exception fraction at the chosen e, so blocks
// that clearly are not decimals skip the full pass.
int ChooseExponent(const double* v, size_t n, double* miss_fraction) {
  constexpr size_t kSample = 64;
  const size_t step = std::max<size_t>(1, n / kSample);
  double best_cost = 1e300;
  int best_e = 0;
  for (int e = 0; e <= kMaxExponent; e++) {
    size_t misses = 0, count = 0;
    int64_t mn = INT64_MAX, mx = INT64_MIN;
    for (size_t i = 0; i < n; i += step) {
      bool ok;
      const int64_t s = Scale(v[i], e, &ok);
      count++;
      if (!ok) {
        misses++;
        continue;
      }
      mn = std::min(mn, s);
      mx = std::max(mx, s);
    }
    const int width = misses == count ? 0 : BitWidth(static_cast<uint64_t>(mx) - static_cast<uint64_t>(mn));
    // An exception costs its 64 raw bits plus roughly a byte of position.
    const double cost = static_cast<double>(misses) * 72 + static_cast<double>(count - misses) * width;
    if (cost < best_cost) {
      best_cost = cost;
      best_e = e;
      *miss_fraction = count == 0 ? 0.0 : static_cast<double>(misses) / static_cast<double>(count);
    }
    if (misses == 0) break;  // larger e only widens the integers
  }
  return best_e;
}

// out[j] = (double)in[j] / scale for a chunk of integers the encoder
// guaranteed to lie in (-2^51, 2^51). The int64 -> double conversion uses the
// magic-number trick (add the bit pattern of 1.5 * 2^52, reinterpret,
// subtract) because baseline x86-64 has no packed int64 conversion; this
// keeps the loop vectorisable, and the division (exact by construction) is
// the remaining cost, hence a clone for AVX2's wider divider. Returns false
// if some integer is out of range (corrupt input).
__attribute__((target_clones("avx2", "default"))) bool ScaleDown(const int64_t* in, size_t n, double scale,
                                                                 double* out) {
  constexpr uint64_t kMagicBits = 0x4338000000000000;  // bits of 1.5 * 2^52
  uint64_t bad = 0;
  for (size_t j = 0; j < n; j++) {
    const uint64_t u = static_cast<uint64_t>(in[j]);
    bad |= (u + (uint64_t{1} << 51)) >> 52;  // non-zero iff |in[j]| >= 2^51
    double d;
    const uint64_t b = u + kMagicBits;
    std::memcpy(&d, &b, 8);
    out[j] = (d - kRoundMagic) / scale;
  }
  return bad == 0;
}

// ScaleDown with the division replaced by Markstein's correction, for CPUs
// with FMA: q = x * y with y = RN(1/scale), r = x - q * scale (exact by
// FMA), then RN(q + r * y) is RN(x / scale), the same bits as the division
// (Markstein's theorem: y within half an ulp of 1/scale, q within an ulp
// of x / scale; no overflow or underflow for these |x| < 2^51, scale
// 10^0..10^18). A multiply and two FMAs issue every cycle where the
// divider took several per vector: the division was ScaleDown's whole
// cost. DecimalDecodeMatchesDivisionBitForBit (encoding_test.cc) checks
// it against the division.
__attribute__((target("avx2,fma"))) bool ScaleDownFma(const int64_t* in, size_t n, double scale, double recip,
                                                      double* out) {
  constexpr uint64_t kMagicBits = 0x4338000000000000;  // bits of 1.5 * 2^52
  uint64_t bad = 0;
  for (size_t j = 0; j < n; j++) {
    const uint64_t u = static_cast<uint64_t>(in[j]);
    bad |= (u + (uint64_t{1} << 51)) >> 52;
    double d;
    const uint64_t b = u + kMagicBits;
    std::memcpy(&d, &b, 8);
    const double x = d - kRoundMagic;
    const double q = x * recip;
    const double r = __builtin_fma(-q, scale, x);
    out[j] = __builtin_fma(r, recip, q);
  }
  return bad == 0;
}

// Decided on first use, after __builtin_cpu_init: a namespace-scope
// initializer could run before the CPU model is filled in.
bool HaveFma() {
  static const bool have = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return have;
}
std::atomic<bool> g_decimal_fma{true};
bool UseFmaScaleDown() { return g_decimal_fma.load(std::memory_order_relaxed); }

// The encoder's bulk pass: ints[j] = round(v[j] * scale) and bad[j] = 1
// where the decode expression does not reproduce v[j]; returns the number
// of misses. Branch-free and 64-bit lanes only (the integer comes from the
// bits of the magic-rounded double; a byte-wide flag array kept GCC from
// vectorising it), cloned for AVX2 for the division.
__attribute__((target_clones("avx2", "default"))) uint64_t ScaleUp(const double* v, size_t n, double scale,
                                                                   int64_t* __restrict ints,
                                                                   uint64_t* __restrict bad) {
  constexpr uint64_t kMagicBits = 0x4338000000000000;  // bits of 1.5 * 2^52
  constexpr uint64_t kSignBit = uint64_t{1} << 63;
  const uint64_t kMaxScaledBits = BitCast<uint64_t>(kMaxScaled);
  uint64_t misses = 0;
  for (size_t j = 0; j < n; j++) {
    const double scaled = v[j] * scale;
    // Out of range (or NaN/Inf) scales 0.0 instead. Compared and selected
    // on the bits (|x| orders as its bits; NaN and Inf are above): a
    // floating-point compare may trap, so GCC kept it a branch and the loop
    // scalar.
    uint64_t xb;
    std::memcpy(&xb, &scaled, 8);
    const uint64_t in_range = static_cast<uint64_t>((xb & ~kSignBit) < kMaxScaledBits);
    xb &= 0 - in_range;
    double x;
    std::memcpy(&x, &xb, 8);
    const double t = x + kRoundMagic;
    uint64_t tb, vb, bb;
    std::memcpy(&tb, &t, 8);
    const double back = (t - kRoundMagic) / scale;
    std::memcpy(&bb, &back, 8);
    std::memcpy(&vb, &v[j], 8);
    const uint64_t b = (in_range ^ 1) | static_cast<uint64_t>(bb != vb);
    ints[j] = static_cast<int64_t>(tb - kMagicBits);
    bad[j] = b;
    misses += b;
  }
  return misses;
}

}  // namespace

bool EncodeDecimal(const double* v, size_t n, std::string* out, double max_exception_fraction,
                   bool allow_entropy) {
  double sample_misses = 0;
  const int e = ChooseExponent(v, n, &sample_misses);
  if (sample_misses > max_exception_fraction) return false;
  thread_local std::vector<int64_t> ints;
  thread_local std::vector<uint64_t> bad;
  thread_local std::vector<uint32_t> exceptions;
  ints.resize(n);
  bad.resize(n);
  exceptions.clear();
  const size_t misses = ScaleUp(v, n, kPow10[e], ints.data(), bad.data());
  if (static_cast<double>(misses) > max_exception_fraction * static_cast<double>(n)) return false;
  if (misses > 0) {
    // Exceptions repeat the previous integer (a zero delta).
    int64_t last = 0;
    for (size_t i = 0; i < n; i++) {
      if (!bad[i]) {
        last = ints[i];
      } else {
        ints[i] = last;
        exceptions.push_back(static_cast<uint32_t>(i));
      }
    }
  }
  if (static_cast<double>(exceptions.size()) > max_exception_fraction * static_cast<double>(n)) return false;
  // Leading exceptions repeat the first real integer instead of 0, so they
  // do not widen the frame of reference.
  if (!exceptions.empty() && exceptions[0] == 0) {
    size_t k = 0;
    while (k < exceptions.size() && exceptions[k] == k) k++;
    if (k < n) std::fill(ints.begin(), ints.begin() + k, ints[k]);
  }
  PutHeader(out, CodecId::kFloatDecimal, n);
  out->push_back(static_cast<char>(e));
  EncodeIntBlock(ints.data(), n, out, allow_entropy);
  PutVarint64(out, exceptions.size());
  for (size_t k = 0; k < exceptions.size(); k++) {
    PutVarint64(out, k == 0 ? exceptions[0] : exceptions[k] - exceptions[k - 1] - 1);
  }
  for (uint32_t p : exceptions) PutFixed64(out, BitCast<uint64_t>(v[p]));
  return true;
}

void SetDecimalFma(bool on) { g_decimal_fma.store(on, std::memory_order_relaxed); }

Status DecodeDecimal(std::string_view in, size_t n, double* out, size_t want) {
  Cursor c(in);
  RETURN_IF_ERROR(ReadHeader(&c, n));
  uint8_t e;
  if (!c.Byte(&e) || e > kMaxExponent) return Corrupt("bad decimal exponent");
  const double scale = kPow10[e];
  const double recip = 1.0 / scale;
  bool in_range = true;
  if (UseFmaScaleDown() && HaveFma()) {
    RETURN_IF_ERROR(DecodeIntBlock(
        &c, n,
        [out, scale, recip, &in_range](size_t off, const int64_t* vals, size_t count) {
          in_range &= ScaleDownFma(vals, count, scale, recip, out + off);
        },
        want));
  } else {
    RETURN_IF_ERROR(DecodeIntBlock(
        &c, n,
        [out, scale, &in_range](size_t off, const int64_t* vals, size_t count) {
          in_range &= ScaleDown(vals, count, scale, out + off);
        },
        want));
  }
  if (!in_range) return Corrupt("decimal integer out of range");
  uint64_t k;
  if (!c.Varint(&k) || k > n) return Corrupt("bad exception count");
  // First walk the positions to find where the raw values start; the second
  // walk checks each position (< n, increasing) before patching it.
  const uint8_t* raw;
  Cursor values = c;
  for (uint64_t i = 0; i < k; i++) {
    uint64_t gap;
    if (!values.Varint(&gap)) return Corrupt("truncated exceptions");
  }
  if (!values.Bytes(k * 8, &raw) || !values.AtEnd()) return Corrupt("exception values length mismatch");
  uint64_t p = 0;
  for (uint64_t i = 0; i < k; i++) {
    uint64_t gap = 0;
    c.Varint(&gap);  // cannot fail: checked above
    const uint64_t next = i == 0 ? gap : p + gap + 1;
    if (next >= n || (i > 0 && next <= p)) return Corrupt("bad exception position");
    p = next;
    out[p] = BitCast<double>(Load64(raw + 8 * i));
  }
  return absl::OkStatus();
}

}  // namespace m2mdb::encoding::internal
