// Integer codecs: kIntDelta (frame of reference or delta + bit packing) and
// kIntRle (runs), plus the integer block core reused by kFloatDecimal.
//
// kIntDelta:
//   | 4 | n varint | int block (see internal.h) |
//
// The int block picks, per block, the smaller of
//   FOR:   every value stored as v[i] - min at w = bits(max - min)
//   delta: v[0] then every delta stored as d[i] - min(d) at w = bits(range(d))
// Counters (constant step) therefore cost a few header bytes in total, and a
// bounded noisy signal costs bits(range) per value.
//
// kIntRle:
//   | 5 | n varint | runs varint | runs x ( zigzag(value - previous run value) varint, length varint ) |
//
// Lengths are >= 1 and must add up to n.
#include <algorithm>
#include <vector>

#include "engine/encoding/internal.h"

namespace m2mdb::encoding::internal {
namespace {

size_t VarintSize(uint64_t v) { return static_cast<size_t>(BitWidth(v | 1) + 6) / 7; }

inline uint64_t Sub(int64_t a, int64_t b) { return static_cast<uint64_t>(a) - static_cast<uint64_t>(b); }

struct GroupStats {
  int64_t mn, mx;
};

// Per-group (64 elements) min/max of the value stream (FOR) and of the delta
// stream, in one call each so the reductions vectorise (the AVX2 clone has
// 64-bit compares; baseline x86-64 does not).
__attribute__((target_clones("avx2", "default"))) void ValueGroupStats(const int64_t* v, size_t m,
                                                                       GroupStats* out) {
  for (size_t b = 0, g = 0; b < m; b += 64, g++) {
    const size_t e = std::min(m, b + 64);
    int64_t mn = INT64_MAX, mx = INT64_MIN;
    for (size_t j = b; j < e; j++) {
      mn = v[j] < mn ? v[j] : mn;
      mx = v[j] > mx ? v[j] : mx;
    }
    out[g] = {mn, mx};
  }
}
__attribute__((target_clones("avx2", "default"))) void DeltaGroupStats(const int64_t* v, size_t m,
                                                                       GroupStats* out) {
  for (size_t b = 0, g = 0; b < m; b += 64, g++) {
    const size_t e = std::min(m, b + 64);
    int64_t mn = INT64_MAX, mx = INT64_MIN;
    for (size_t j = b; j < e; j++) {
      const int64_t d = static_cast<int64_t>(Sub(v[j + 1], v[j]));
      mn = d < mn ? d : mn;
      mx = d > mx ? d : mx;
    }
    out[g] = {mn, mx};
  }
}

// Group statistics of the last planned block on this thread, reused by the
// encoder so the data is scanned once for planning.
thread_local std::vector<GroupStats> value_stats, delta_stats;

struct IntPlan {
  int scheme;  // kFor, kDelta, kGroupedFor, kGroupedDelta
  int width;   // global schemes only
  int64_t ref;
  size_t size;
};

constexpr int kFor = 0, kDelta = 1, kGroupedFor = 2, kGroupedDelta = 3, kPatchedFor = 4, kPatchedDelta = 5;

// Stream element j: the value (FOR) or the delta v[j+1] - v[j].
inline int64_t StreamAt(const int64_t* v, size_t j, bool delta) {
  return delta ? static_cast<int64_t>(Sub(v[j + 1], v[j])) : v[j];
}

// Bytes of the patched exceptions for a frame (ref, w) over the stream, or
// SIZE_MAX once it passes `limit`: per exception a position gap varint and
// the bits of element - ref above the low w (which stay in the packed slot).
size_t PatchBytes(const int64_t* v, size_t m, bool delta, int64_t ref, int w, size_t limit, size_t* count) {
  const uint64_t span = w >= 64 ? ~uint64_t{0} : (uint64_t{1} << w) - 1;
  size_t bytes = 0, k = 0, prev = 0;
  for (size_t j = 0; j < m; j++) {
    const int64_t x = StreamAt(v, j, delta);
    const uint64_t off = Sub(x, ref);
    if (off <= span) continue;
    bytes += VarintSize(j - prev) + VarintSize(off >> w);
    prev = j + 1;
    k++;
    if (bytes > limit) return SIZE_MAX;
  }
  *count = k;
  return bytes + VarintSize(k);
}

// Patched frame of reference (PFOR): a few outliers — a counter's burst or
// reset, a lost sample doubling a timestamp delta — no longer set the width
// of the whole block: the frame covers the bulk (a low and a high quantile)
// and the outliers' high bits are stored apart. Tried only for wide blocks (the
// best plain scheme ≥ 6 bits per value), where it can pay for its planning.
struct PatchPlan {
  int64_t ref = 0;
  int width = 0;
  size_t size = SIZE_MAX;
};
PatchPlan PlanPatched(const int64_t* v, size_t n, bool delta, size_t limit) {
  PatchPlan best;
  const size_t m = delta ? n - 1 : n;
  // Frames are chosen on a strided sample of ≤ 256 elements (sorted: its
  // quantiles) with the exceptions' cost estimated from the sample, and only
  // the best candidate, if it promises a clear gain, is sized exactly. A
  // block without outliers thus costs one small sort.
  constexpr size_t kSample = 256;
  const size_t stride = (m + kSample - 1) / kSample;
  int64_t sample[kSample] = {};
  size_t ns = 0;
  for (size_t j = 0; j < m && ns < kSample; j += stride) sample[ns++] = StreamAt(v, j, delta);
  std::sort(sample, sample + ns);
  auto at = [&](double q) { return sample[static_cast<size_t>(q * static_cast<double>(ns - 1))]; };
  // Nothing to gain unless the bulk is clearly narrower than what the plain
  // schemes pay per value (bits): then skip the estimates.
  if (BitWidth(Sub(at(0.80), at(0.01))) + 2 > static_cast<int>(limit * 8 / m)) return PatchPlan{};
  const int64_t lo[2] = {sample[0], at(0.01)};
  const int64_t hi[4] = {at(0.80), at(0.90), at(0.97), at(0.995)};
  const size_t header = 1 + (delta ? VarintSize(ZigZagEncode(v[0])) : 0) + 1;
  size_t best_estimate = SIZE_MAX;
  for (int64_t ref : lo) {
    for (int64_t top : hi) {
      if (top < ref) continue;
      const int w = BitWidth(Sub(top, ref));
      if (w >= 64) continue;  // no frame narrower than the plain schemes'
      const uint64_t span = (uint64_t{1} << w) - 1;
      size_t sample_patch_bytes = 0;
      for (size_t i = 0; i < ns; i++) {
        const uint64_t off = Sub(sample[i], ref);
        if (off > span) sample_patch_bytes += 1 + VarintSize(off >> w);
      }
      const size_t estimate =
          header + VarintSize(ZigZagEncode(ref)) + PackedBytes(m, w) + 1 + sample_patch_bytes * m / ns;
      if (estimate < best_estimate) {
        best_estimate = estimate;
        best = {ref, w, SIZE_MAX};
      }
    }
  }
  if (best_estimate == SIZE_MAX || best_estimate + best_estimate / 8 >= limit) return PatchPlan{};
  const size_t fixed = header + VarintSize(ZigZagEncode(best.ref)) + PackedBytes(m, best.width);
  size_t k;
  const size_t patches = PatchBytes(v, m, delta, best.ref, best.width, limit - std::min(limit, fixed), &k);
  if (patches == SIZE_MAX) return PatchPlan{};
  best.size = fixed + patches;
  return best;
}

IntPlan PlanIntBlock(const int64_t* v, size_t n) {
  if (n == 0) return {kFor, 0, 0, 3};
  IntPlan best = {kFor, 0, 0, SIZE_MAX};
  for (bool delta : {false, true}) {
    const size_t m = delta ? n - 1 : n;  // stream length
    if (delta && n == 1) break;
    // Global frame and per-group frames from the same per-group stats.
    int64_t gmn = INT64_MAX, gmx = INT64_MIN;
    size_t grouped = 1 + (delta ? VarintSize(ZigZagEncode(v[0])) : 0);
    std::vector<GroupStats>& stats = delta ? delta_stats : value_stats;
    stats.resize((m + 63) / 64);
    (delta ? DeltaGroupStats : ValueGroupStats)(v, m, stats.data());
    for (size_t b = 0; b < m; b += 64) {
      const size_t e = std::min(m, b + 64);
      const GroupStats g = stats[b / 64];
      gmn = std::min(gmn, g.mn);
      gmx = std::max(gmx, g.mx);
      grouped += VarintSize(ZigZagEncode(g.mn)) + 1 + PackedBytes(e - b, BitWidth(Sub(g.mx, g.mn)));
    }
    const int w = BitWidth(Sub(gmx, gmn));
    const size_t global = 1 + (delta ? VarintSize(ZigZagEncode(v[0])) : 0) + VarintSize(ZigZagEncode(gmn)) +
                          1 + PackedBytes(m, w);
    if (global <= best.size) best = {delta ? kDelta : kFor, w, gmn, global};
    if (grouped < best.size) best = {delta ? kGroupedDelta : kGroupedFor, 0, 0, grouped};
  }
  if (n >= 64 && best.size >= n * 6 / 8) {
    for (bool delta : {false, true}) {
      const PatchPlan p = PlanPatched(v, n, delta, best.size);
      // Keep it only for a clear gain: its decode patches after unpacking.
      if (p.size + p.size / 16 < best.size) {
        best = {delta ? kPatchedDelta : kPatchedFor, p.width, p.ref, p.size};
      }
    }
  }
  return best;
}

// Packs stream elements [b, e) minus `ref` at `width`.
void PackStream(const int64_t* v, size_t b, size_t e, bool delta, uint64_t ref, int width, std::string* out) {
  alignas(64) uint64_t tmp[1024];
  for (size_t i = b; i < e;) {
    const size_t m = std::min<size_t>(1024, e - i);
    if (delta) {
      for (size_t j = 0; j < m; j++) tmp[j] = Sub(v[i + j + 1], v[i + j]) - ref;
    } else {
      for (size_t j = 0; j < m; j++) tmp[j] = static_cast<uint64_t>(v[i + j]) - ref;
    }
    PackBits(tmp, m, width, out);
    i += m;
  }
}

}  // namespace

size_t PlainIntBlockSize(const int64_t* v, size_t n) { return PlanIntBlock(v, n).size; }

size_t IntBlockSize(const int64_t* v, size_t n) {
  const size_t plain = PlanIntBlock(v, n).size;
  return std::min(plain, EntropyIntBlockEstimate(v, n, plain));
}

void EncodeIntBlock(const int64_t* v, size_t n, std::string* out, bool allow_entropy, size_t gain_divisor) {
  const IntPlan plan = PlanIntBlock(v, n);
  if (allow_entropy && EncodeEntropyIntBlock(v, n, plan.size, gain_divisor, out)) return;
  // (The entropy planner keeps its own buffers: the group statistics of
  // `plan` are still this block's.)
  const bool delta = plan.scheme == kDelta || plan.scheme == kGroupedDelta || plan.scheme == kPatchedDelta;
  const size_t m = delta ? n - 1 : n;
  out->push_back(static_cast<char>(plan.scheme));
  if (delta) PutVarint64(out, ZigZagEncode(v[0]));
  if (plan.scheme == kPatchedFor || plan.scheme == kPatchedDelta) {
    const uint64_t ref = static_cast<uint64_t>(plan.ref);
    const int w = plan.width;
    const uint64_t span = w >= 64 ? ~uint64_t{0} : (uint64_t{1} << w) - 1;
    PutVarint64(out, ZigZagEncode(plan.ref));
    out->push_back(static_cast<char>(w));
    std::string patches;
    size_t k = 0, prev = 0;
    alignas(64) uint64_t tmp[1024];
    for (size_t i = 0; i < m;) {
      const size_t c = std::min<size_t>(1024, m - i);
      for (size_t j = 0; j < c; j++) {
        const uint64_t off = static_cast<uint64_t>(StreamAt(v, i + j, delta)) - ref;
        if (off > span) {  // w < 64 here
          PutVarint64(&patches, i + j - prev);
          PutVarint64(&patches, off >> w);
          prev = i + j + 1;
          k++;
        }
        tmp[j] = off & span;
      }
      if (w > 0) PackBits(tmp, c, w, out);
      i += c;
    }
    // The count goes before the payload: insert it after the width byte.
    std::string count;
    PutVarint64(&count, k);
    out->insert(out->size() - PackedBytes(m, w), count);
    out->append(patches);
    return;
  }
  if (plan.scheme == kFor || plan.scheme == kDelta) {
    PutVarint64(out, ZigZagEncode(plan.ref));
    out->push_back(static_cast<char>(plan.width));
    if (plan.width > 0) PackStream(v, 0, m, delta, static_cast<uint64_t>(plan.ref), plan.width, out);
    return;
  }
  for (size_t b = 0; b < m; b += 64) {
    const size_t e = std::min(m, b + 64);
    const GroupStats g = (delta ? delta_stats : value_stats)[b / 64];
    const int w = BitWidth(Sub(g.mx, g.mn));
    PutVarint64(out, ZigZagEncode(g.mn));
    out->push_back(static_cast<char>(w));
    if (w > 0) PackStream(v, b, e, delta, static_cast<uint64_t>(g.mn), w, out);
  }
}

void EncodeIntDelta(const int64_t* v, size_t n, std::string* out, bool allow_entropy) {
  PutHeader(out, CodecId::kIntDelta, n);
  EncodeIntBlock(v, n, out, allow_entropy, kIntColumnEntropyGainDivisor);
}

Status DecodeIntDelta(std::string_view in, size_t n, int64_t* out, size_t want) {
  Cursor c(in);
  RETURN_IF_ERROR(ReadHeader(&c, n));
  RETURN_IF_ERROR(DecodeIntBlock(
      &c, n,
      [out](size_t off, const int64_t* vals, size_t count) {
        std::memcpy(out + off, vals, count * sizeof(int64_t));
      },
      want));
  if (!c.AtEnd()) return Corrupt("trailing bytes after int block");
  return absl::OkStatus();
}

bool EncodeIntRle(const int64_t* v, size_t n, std::string* out, size_t max_size) {
  // Size pass first, so a block with many runs costs no allocation.
  size_t runs = 0, size = 1 + VarintSize(n);
  uint64_t prev = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && v[j] == v[i]) j++;
    size += VarintSize(ZigZagEncode(static_cast<int64_t>(static_cast<uint64_t>(v[i]) - prev))) +
            VarintSize(j - i);
    prev = static_cast<uint64_t>(v[i]);
    runs++;
    if (size > max_size) return false;
    i = j;
  }
  size += VarintSize(runs);
  if (size > max_size) return false;
  PutHeader(out, CodecId::kIntRle, n);
  PutVarint64(out, runs);
  prev = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && v[j] == v[i]) j++;
    PutVarint64(out, ZigZagEncode(static_cast<int64_t>(static_cast<uint64_t>(v[i]) - prev)));
    PutVarint64(out, j - i);
    prev = static_cast<uint64_t>(v[i]);
    i = j;
  }
  return true;
}

Status DecodeIntRle(std::string_view in, size_t n, int64_t* out, size_t want) {
  Cursor c(in);
  RETURN_IF_ERROR(ReadHeader(&c, n));
  uint64_t runs;
  if (!c.Varint(&runs) || runs > n) return Corrupt("bad run count");
  size_t pos = 0;
  uint64_t value = 0;
  for (uint64_t r = 0; r < runs; r++) {
    uint64_t dv, len;
    if (!c.Varint(&dv) || !c.Varint(&len)) return Corrupt("truncated runs");
    if (len == 0 || len > n - pos) return Corrupt("bad run length");
    value += static_cast<uint64_t>(ZigZagDecode(dv));
    if (pos < want) std::fill(out + pos, out + pos + len, static_cast<int64_t>(value));
    pos += len;
  }
  if (pos != n) return Corrupt("runs do not cover the block");
  if (!c.AtEnd()) return Corrupt("trailing bytes after runs");
  return absl::OkStatus();
}

}  // namespace m2mdb::encoding::internal
