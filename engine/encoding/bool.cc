// Boolean codecs. Values are bytes holding 0 or 1 (the encoder treats any
// non-zero byte as 1).
//
// kBoolBitmap:  | 6 | n varint | ceil(n/8) bytes, value i at bit i%8 of byte i/8 |
// kBoolRle:     | 7 | n varint | first value u8 | runs varint | runs x length varint |
//
// Runs alternate starting with `first`; lengths are >= 1 and add up to n.
// The dispatcher (codec.cc) picks whichever is smaller, and kConstant when
// the block is a single run.
#include <algorithm>

#include "engine/encoding/internal.h"

namespace m2mdb::encoding::internal {

void EncodeBoolBitmap(const uint8_t* v, size_t n, std::string* out) {
  PutHeader(out, CodecId::kBoolBitmap, n);
  const size_t start = out->size();
  out->resize(start + (n + 7) / 8);
  auto* dst = reinterpret_cast<uint8_t*>(out->data() + start);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint8_t b = 0;
    for (int k = 0; k < 8; k++) b |= static_cast<uint8_t>((v[i + k] != 0) << k);
    dst[i / 8] = b;
  }
  if (i < n) {
    uint8_t b = 0;
    for (size_t k = 0; i + k < n; k++) b |= static_cast<uint8_t>((v[i + k] != 0) << k);
    dst[i / 8] = b;
  }
}

Status DecodeBoolBitmap(std::string_view in, size_t n, uint8_t* out) {
  Cursor c(in);
  RETURN_IF_ERROR(ReadHeader(&c, n));
  const uint8_t* bits;
  if (!c.Bytes((n + 7) / 8, &bits) || !c.AtEnd()) return Corrupt("bitmap length mismatch");
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint8_t b = bits[i / 8];
    for (int k = 0; k < 8; k++) out[i + k] = (b >> k) & 1;
  }
  for (; i < n; i++) out[i] = (bits[i / 8] >> (i % 8)) & 1;
  return absl::OkStatus();
}

void EncodeBoolRle(const uint8_t* v, size_t n, std::string* out) {
  PutHeader(out, CodecId::kBoolRle, n);
  if (n == 0) {
    out->push_back(0);
    PutVarint64(out, 0);
    return;
  }
  out->push_back(v[0] != 0);
  size_t runs = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && (v[j] != 0) == (v[i] != 0)) j++;
    runs++;
    i = j;
  }
  PutVarint64(out, runs);
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && (v[j] != 0) == (v[i] != 0)) j++;
    PutVarint64(out, j - i);
    i = j;
  }
}

Status DecodeBoolRle(std::string_view in, size_t n, uint8_t* out) {
  Cursor c(in);
  RETURN_IF_ERROR(ReadHeader(&c, n));
  uint8_t value;
  uint64_t runs;
  if (!c.Byte(&value) || value > 1 || !c.Varint(&runs) || runs > n) return Corrupt("bad bool runs header");
  size_t pos = 0;
  for (uint64_t r = 0; r < runs; r++) {
    uint64_t len;
    if (!c.Varint(&len)) return Corrupt("truncated bool runs");
    if (len == 0 || len > n - pos) return Corrupt("bad bool run length");
    std::fill(out + pos, out + pos + len, value);
    pos += len;
    value ^= 1;
  }
  if (pos != n || !c.AtEnd()) return Corrupt("bool runs do not cover the block");
  return absl::OkStatus();
}

}  // namespace m2mdb::encoding::internal
