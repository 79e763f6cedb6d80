// kFloatGorilla: the XOR scheme of Facebook's Gorilla paper (as used by the
// Prometheus XOR chunk), over an LSB-first bit stream.
//
//   | 2 | n varint | bit stream ... (last byte zero-padded) |
//
// The stream holds the first value's 64 bits, then per value the XOR x with
// its predecessor:
//   '0'                          x == 0 (value repeated)
//   '1' '0' <m bits>             x fits the current window: m = 64 - lead - trail
//                                meaningful bits, stored as x >> trail
//   '1' '1' <5: lead> <6: m - 1> <m bits>
//                                a new window; lead is capped at 31
// Control bits are written first-bit-first, so '1' '0' reads 1 then 0.
#include <algorithm>

#include "engine/encoding/internal.h"

namespace m2mdb::encoding::internal {

void EncodeGorilla(const double* v, size_t n, std::string* out) {
  PutHeader(out, CodecId::kFloatGorilla, n);
  if (n == 0) return;
  BitWriter w(out);
  uint64_t prev = BitCast<uint64_t>(v[0]);
  w.Write(prev, 64);
  int lead = -1, trail = 0;  // no window yet
  for (size_t i = 1; i < n; i++) {
    const uint64_t cur = BitCast<uint64_t>(v[i]);
    const uint64_t x = cur ^ prev;
    prev = cur;
    if (x == 0) {
      w.Write(0, 1);
      continue;
    }
    const int lz = std::min(__builtin_clzll(x), 31);
    const int tz = __builtin_ctzll(x);
    if (lead >= 0 && lz >= lead && tz >= trail) {
      w.Write(0b01, 2);  // '1' then '0'
      w.Write(x >> trail, 64 - lead - trail);
    } else {
      const int m = 64 - lz - tz;
      // '1' '1', 5 bits of lead, 6 bits of m - 1: 13 bits in one write.
      w.Write(0b11 | (static_cast<uint64_t>(lz) << 2) | (static_cast<uint64_t>(m - 1) << 7), 13);
      w.Write(x >> tz, m);
      lead = lz;
      trail = tz;
    }
  }
  w.Finish();
}

Status DecodeGorilla(std::string_view in, size_t n, double* out, size_t want) {
  Cursor c(in);
  RETURN_IF_ERROR(ReadHeader(&c, n));
  if (n == 0) return c.AtEnd() ? absl::OkStatus() : Corrupt("trailing bytes in empty column");
  const std::string_view body = c.rest();
  BitReader r(reinterpret_cast<const uint8_t*>(body.data()), body.size());
  uint64_t prev = r.Read(64);
  out[0] = BitCast<double>(prev);
  int lead = -1, trail = 0;
  // A prefix stops early: the stream is sequential, so the rest is skipped
  // unchecked.
  const size_t stop = std::min(n, want);
  for (size_t i = 1; i < stop; i++) {
    const uint64_t ctl = r.Peek(2);
    if ((ctl & 1) == 0) {
      r.Skip(1);
    } else if ((ctl & 2) == 0) {
      r.Skip(2);
      if (lead < 0) return Corrupt("gorilla window used before being set");
      const int m = 64 - lead - trail;
      prev ^= r.Read(m) << trail;
    } else {
      const uint64_t hdr = r.Read(13);
      const int lz = static_cast<int>((hdr >> 2) & 31);
      const int m = static_cast<int>(hdr >> 7) + 1;
      if (lz + m > 64) return Corrupt("bad gorilla window");
      lead = lz;
      trail = 64 - lz - m;
      prev ^= r.Read(m) << trail;
    }
    out[i] = BitCast<double>(prev);
    if (r.overrun()) return Corrupt("truncated gorilla stream");
  }
  if (stop < n) return r.overrun() ? Corrupt("truncated gorilla stream") : absl::OkStatus();
  if (r.overrun() || r.BytesConsumed() != body.size()) return Corrupt("gorilla stream length mismatch");
  return absl::OkStatus();
}

}  // namespace m2mdb::encoding::internal
