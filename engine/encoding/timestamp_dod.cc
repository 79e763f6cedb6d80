// kTimestampDoD: timestamps as deltas (scaled by their common divisor) stored
// either as a constant step, delta-of-deltas, or frame-of-reference deltas.
//
//   | 1 | n varint |                                   (n == 0: nothing more)
//   | mode u8 | first: fixed64 | ...
//     mode 0, constant step:  | step: zigzag varint |
//     mode 1, delta-of-delta: | g varint | q1: zigzag varint | ref: zigzag varint | w u8 |
//                             | n-2 values of w bits: (q[i] - q[i-1]) - ref  (i = 2..n-1) |
//     mode 2, delta FOR:      | g varint | ref: zigzag varint | w u8 |
//                             | n-1 values of w bits: q[i] - ref  (i = 1..n-1) |
//     mode 3, grouped:        | g varint | integer block (internal.h) of q[1..n-1] |
//
// where d[i] = t[i] - t[i-1] and q[i] = d[i] / g, g being the greatest common
// divisor of the deltas (1e6 for millisecond clocks stored in nanoseconds).
// A perfectly regular block is mode 0: 1 + 3 + 1 + 8 + ~5 bytes in total.
// Jitter around a period costs bits(range of jitter / g) per value; the
// encoder takes whichever of modes 1 and 2 is smaller. All arithmetic is
// modulo 2^64, so unsorted input and INT64_MIN/MAX round-trip exactly.
#include <algorithm>
#include <numeric>
#include <vector>

#include "engine/encoding/internal.h"

namespace m2mdb::encoding::internal {
namespace {

inline int64_t Delta(const int64_t* v, size_t i) {
  return static_cast<int64_t>(static_cast<uint64_t>(v[i]) - static_cast<uint64_t>(v[i - 1]));
}
inline uint64_t Magnitude(int64_t d) {
  return d < 0 ? 0 - static_cast<uint64_t>(d) : static_cast<uint64_t>(d);
}

// Exact division by a fixed divisor g = odd * 2^shift via the multiplicative
// inverse of `odd` modulo 2^64: no hardware divide in the per-value loop.
struct ExactDivisor {
  explicit ExactDivisor(uint64_t g) {
    shift = __builtin_ctzll(g);
    const uint64_t odd = g >> shift;
    inv = odd;  // Newton iteration doubles the correct low bits each step.
    for (int i = 0; i < 5; i++) inv *= 2 - odd * inv;
    lim = static_cast<uint64_t>(INT64_MAX) / odd;
    low_mask = (uint64_t{1} << shift) - 1;
  }
  // Whether d is a multiple of g.
  bool Divides(int64_t d) const {
    if (static_cast<uint64_t>(d) & low_mask) return false;
    const uint64_t q = static_cast<uint64_t>(d >> shift) * inv;
    return q + lim <= 2 * lim;  // -lim <= q <= lim as signed
  }
  int64_t Divide(int64_t d) const { return static_cast<int64_t>(static_cast<uint64_t>(d >> shift) * inv); }
  int shift;
  uint64_t inv, lim, low_mask;
};

uint64_t CommonDivisor(const int64_t* v, size_t n) {
  // Guess from the first few deltas, verify cheaply, and only fall back to
  // a full gcd when the guess fails.
  uint64_t g = 0;
  size_t i = 1;
  for (int seen = 0; i < n && seen < 8; i++) {
    const uint64_t m = Magnitude(Delta(v, i));
    seen += m != 0;
    g = std::gcd(g, m);
  }
  if (g <= 1 || g > (uint64_t{1} << 62)) return 1;
  const ExactDivisor div(g);
  bool all = true;
  for (size_t j = i; j < n; j++) all &= div.Divides(Delta(v, j));
  if (all) return g;
  for (; i < n && g > 1; i++) g = std::gcd(g, Magnitude(Delta(v, i)));
  return g == 0 ? 1 : g;
}

// Whether the bulk of the quotients (1st to 90th percentile of a strided
// sample of 64) is at least 3 bits narrower than the single frame: only
// then can mode 3 (grouped or patched frames) win, so jitter without
// outliers skips its trial.
bool BulkIsNarrower(const int64_t* v, size_t n, const ExactDivisor& div, int frame_width) {
  int64_t s[64];
  size_t ns = 0;
  const size_t stride = std::max<size_t>(1, (n - 1) / 64);
  for (size_t j = 1; j < n && ns < 64; j += stride) s[ns++] = div.Divide(Delta(v, j));
  std::sort(s, s + ns);
  const int64_t lo = s[ns / 100], hi = s[(ns - 1) * 90 / 100];
  return BitWidth(static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo)) + 3 <= frame_width;
}

}  // namespace

void EncodeTimestampDoD(const int64_t* v, size_t n, std::string* out) {
  PutHeader(out, CodecId::kTimestampDoD, n);
  if (n == 0) return;
  const int64_t step = n > 1 ? Delta(v, 1) : 0;
  bool constant = true;
  for (size_t i = 2; i < n; i++) constant &= Delta(v, i) == step;
  if (constant) {
    out->push_back(0);
    PutFixed64(out, static_cast<uint64_t>(v[0]));
    PutVarint64(out, ZigZagEncode(step));
    return;
  }
  // n >= 3 from here (two values always have a constant step).
  const uint64_t g = CommonDivisor(v, n);
  const ExactDivisor div(g);
  int64_t qmin = INT64_MAX, qmax = INT64_MIN, ddmin = INT64_MAX, ddmax = INT64_MIN;
  int64_t prevq = div.Divide(Delta(v, 1));
  qmin = qmax = prevq;
  for (size_t i = 2; i < n; i++) {
    const int64_t q = div.Divide(Delta(v, i));
    const int64_t dd = static_cast<int64_t>(static_cast<uint64_t>(q) - static_cast<uint64_t>(prevq));
    prevq = q;
    qmin = std::min(qmin, q);
    qmax = std::max(qmax, q);
    ddmin = std::min(ddmin, dd);
    ddmax = std::max(ddmax, dd);
  }
  const int wq = BitWidth(static_cast<uint64_t>(qmax) - static_cast<uint64_t>(qmin));
  const int wdd = BitWidth(static_cast<uint64_t>(ddmax) - static_cast<uint64_t>(ddmin));
  // The per-value payload dominates; the extra varint of mode 1 is noise.
  const bool dod = PackedBytes(n - 2, wdd) + 4 < PackedBytes(n - 1, wq);
  const size_t one_frame = std::min(PackedBytes(n - 2, wdd) + 4, PackedBytes(n - 1, wq));
  // One frame per block is ruined by a single outage or burst: a 2-hour gap
  // in a 10 s series widens every delta of the block to 23 bits. Mode 3
  // hands the quotients to the integer block, whose grouped forms give each
  // 64 deltas their own frame. Tried only when the single frame is wide
  // enough for that to matter (the regular-with-jitter case stays on the
  // cheaper path).
  if (std::min(wq, wdd) > 4 && BulkIsNarrower(v, n, div, std::min(wq, wdd))) {
    thread_local std::vector<int64_t> q;
    q.resize(n - 1);
    for (size_t j = 1; j < n; j++) q[j - 1] = div.Divide(Delta(v, j));
    if (IntBlockSize(q.data(), n - 1) + 4 < one_frame) {
      out->push_back(3);
      PutFixed64(out, static_cast<uint64_t>(v[0]));
      PutVarint64(out, g);
      EncodeIntBlock(q.data(), n - 1, out);
      return;
    }
  }
  out->push_back(dod ? 1 : 2);
  PutFixed64(out, static_cast<uint64_t>(v[0]));
  PutVarint64(out, g);
  const int width = dod ? wdd : wq;
  uint64_t ref;
  size_t i;
  if (dod) {
    PutVarint64(out, ZigZagEncode(div.Divide(Delta(v, 1))));
    ref = static_cast<uint64_t>(ddmin);
    i = 2;
  } else {
    ref = static_cast<uint64_t>(qmin);
    i = 1;
  }
  PutVarint64(out, ZigZagEncode(static_cast<int64_t>(ref)));
  out->push_back(static_cast<char>(width));
  if (width == 0) return;
  alignas(64) uint64_t tmp[1024];
  while (i < n) {
    const size_t m = std::min<size_t>(1024, n - i);
    if (dod) {
      for (size_t j = 0; j < m; j++) {
        const uint64_t q = static_cast<uint64_t>(div.Divide(Delta(v, i + j)));
        const uint64_t pq = static_cast<uint64_t>(div.Divide(Delta(v, i + j - 1)));
        tmp[j] = q - pq - ref;
      }
    } else {
      for (size_t j = 0; j < m; j++) tmp[j] = static_cast<uint64_t>(div.Divide(Delta(v, i + j))) - ref;
    }
    PackBits(tmp, m, width, out);
    i += m;
  }
}

Status DecodeTimestampDoD(std::string_view in, size_t n, int64_t* out, int64_t max_time, size_t* decoded) {
  if (decoded != nullptr) *decoded = 0;
  Cursor c(in);
  RETURN_IF_ERROR(ReadHeader(&c, n));
  if (n == 0) return c.AtEnd() ? absl::OkStatus() : Corrupt("trailing bytes in empty column");
  uint8_t mode;
  uint64_t first;
  if (!c.Byte(&mode) || !c.Fixed64(&first)) return Corrupt("truncated timestamps");
  // Written so far; groups of 64 stop early once one is past max_time.
  size_t done = 0;
  auto past = [&] { return max_time != INT64_MAX && out[done - 1] > max_time; };
  if (mode == 0) {
    uint64_t zstep;
    if (!c.Varint(&zstep)) return Corrupt("truncated timestamps");
    if (!c.AtEnd()) return Corrupt("trailing bytes after timestamps");
    const uint64_t step = static_cast<uint64_t>(ZigZagDecode(zstep));
    // A running sum, not first + i * step: x86 has no packed 64-bit
    // multiply before AVX-512, so the product kept the loop scalar (five
    // instructions a timestamp); the sum vectorizes. Same modular values.
    uint64_t t = first;
    while (done < n) {
      const size_t end = std::min(n, done + 64);
      for (size_t i = done; i < end; i++) {
        out[i] = static_cast<int64_t>(t);
        t += step;
      }
      done = end;
      if (past()) break;
    }
    if (decoded != nullptr) *decoded = done;
    return absl::OkStatus();
  }
  if (mode > 3 || n < 3) return Corrupt("bad timestamp mode");
  if (mode == 3) {
    uint64_t g;
    if (!c.Varint(&g) || g == 0) return Corrupt("bad timestamp divisor");
    uint64_t t = first;
    out[0] = static_cast<int64_t>(t);
    RETURN_IF_ERROR(DecodeIntBlock(&c, n - 1, [&](size_t off, const int64_t* q, size_t count) {
      int64_t* o = out + 1 + off;
      for (size_t j = 0; j < count; j++) {
        t += static_cast<uint64_t>(q[j]) * g;
        o[j] = static_cast<int64_t>(t);
      }
    }));
    if (!c.AtEnd()) return Corrupt("trailing bytes after timestamps");
    // The whole block is decoded (max_time only allows stopping early).
    if (decoded != nullptr) *decoded = n;
    return absl::OkStatus();
  }
  uint64_t g, q1 = 0, ref;
  uint8_t width;
  if (!c.Varint(&g) || g == 0) return Corrupt("bad timestamp divisor");
  if (mode == 1 && !c.Varint(&q1)) return Corrupt("truncated timestamps");
  if (!c.Varint(&ref) || !c.Byte(&width) || width > 64) return Corrupt("truncated timestamps");
  q1 = static_cast<uint64_t>(ZigZagDecode(q1));
  ref = static_cast<uint64_t>(ZigZagDecode(ref));
  const size_t packed = mode == 1 ? n - 2 : n - 1;
  const uint8_t* bits;
  if (!c.Bytes(PackedBytes(packed, width), &bits)) return Corrupt("truncated timestamp payload");
  if (!c.AtEnd()) return Corrupt("trailing bytes after timestamps");
  uint64_t t = first;
  out[0] = static_cast<int64_t>(t);
  done = 1;
  if (mode == 1) {
    uint64_t q = q1;
    t += q * g;
    out[1] = static_cast<int64_t>(t);
    done = 2;
    if (!past()) {
      ForEachPackedGroupWhile(bits, packed, width, [&](const uint64_t* p, size_t count) {
        int64_t* o = out + done;
        for (size_t j = 0; j < count; j++) {
          q += ref + p[j];
          t += q * g;
          o[j] = static_cast<int64_t>(t);
        }
        done += count;
        return !past();
      });
    }
  } else if (!past()) {
    ForEachPackedGroupWhile(bits, packed, width, [&](const uint64_t* p, size_t count) {
      t = PrefixSum(p, count, ref, g, t, out + done);
      done += count;
      return !past();
    });
  }
  if (decoded != nullptr) *decoded = done;
  return absl::OkStatus();
}

}  // namespace m2mdb::encoding::internal
