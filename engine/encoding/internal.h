// Shared pieces of the codec implementations; not part of the module API.
//
// Every encoded column except kRaw starts with the same two fields:
//
//   +----------+-------------+----------------------------+
//   | id (u8)  | n (varint)  | codec-specific payload ... |
//   +----------+-------------+----------------------------+
//
// The stored n lets a decoder reject a block whose header disagrees with the
// count the segment expects. kRaw keeps the historical layout (id followed by
// the fixed-width values, no count) because ids and layouts are persisted.
#ifndef M2MDB_ENGINE_ENCODING_INTERNAL_H_
#define M2MDB_ENGINE_ENCODING_INTERNAL_H_

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "engine/encoding/bit_reader.h"
#include "engine/encoding/bit_writer.h"
#include "engine/encoding/codec.h"
#include "engine/util/coding.h"

namespace m2mdb::encoding::internal {

inline Status Corrupt(std::string_view what) {
  std::string msg = "corrupt encoded column: ";
  msg += what;
  return absl::DataLossError(msg);
}

inline void PutHeader(std::string* out, CodecId id, size_t n) {
  out->push_back(static_cast<char>(id));
  PutVarint64(out, n);
}

// A bounds-checked cursor over an encoded column.
class Cursor {
 public:
  explicit Cursor(std::string_view in) : p_(in.data()), end_(in.data() + in.size()) {}

  bool Byte(uint8_t* v) {
    if (p_ == end_) return false;
    *v = static_cast<uint8_t>(*p_++);
    return true;
  }
  bool Varint(uint64_t* v) {
    const char* q = GetVarint64Ptr(p_, end_, v);
    if (q == nullptr) return false;
    p_ = q;
    return true;
  }
  bool Fixed64(uint64_t* v) {
    if (end_ - p_ < 8) return false;
    *v = DecodeFixed64(p_);
    p_ += 8;
    return true;
  }
  // Consumes `len` bytes.
  bool Bytes(size_t len, const uint8_t** v) {
    if (static_cast<size_t>(end_ - p_) < len) return false;
    *v = reinterpret_cast<const uint8_t*>(p_);
    p_ += len;
    return true;
  }
  size_t remaining() const { return end_ - p_; }
  bool AtEnd() const { return p_ == end_; }
  std::string_view rest() const { return std::string_view(p_, end_ - p_); }

 private:
  const char* p_;
  const char* end_;
};

// Parses the id and count of a non-raw column and checks the count.
inline Status ReadHeader(Cursor* c, size_t n) {
  uint8_t id;
  uint64_t stored;
  if (!c->Byte(&id) || !c->Varint(&stored)) return Corrupt("truncated header");
  if (stored != n) return Corrupt("value count mismatch");
  return absl::OkStatus();
}

template <typename T>
inline T BitCast(const auto& v) {
  static_assert(sizeof(T) == sizeof(v));
  T r;
  std::memcpy(&r, &v, sizeof(T));
  return r;
}

// --- Integer block: the frame-of-reference / delta core shared by kIntDelta
// and kFloatDecimal. Layout:
//
//   FOR   (scheme 0): | 0 | ref: zigzag varint | w: u8 | n values of w bits: v[i] - ref |
//   delta (scheme 1): | 1 | first: zigzag varint | ref: zigzag varint | w: u8 |
//                       n-1 values of w bits: (v[i] - v[i-1]) - ref |
//   grouped FOR (2):  | 2 | per group of 64 values: ref zigzag varint, w u8, payload |
//   grouped delta (3):| 3 | first: zigzag varint | per group of 64 deltas: ref, w, payload |
//   patched FOR (4):  | 4 | ref zigzag varint | w u8 | k varint | n values: low w bits of v[i] - ref |
//                       k × (position gap varint, (v[i] - ref) >> w varint) |   (w < 64 if k > 0)
//   patched delta (5):| 5 | first zigzag varint | ref | w | k | n-1 deltas as in 4 | k exceptions |
//     (gap = position − previous exception's position − 1; the first: its position)
//   entropy FOR (6):  | 6 | ref zigzag varint | k u8 (≤ 56) | n values: low k bits of v[i] - ref |
//                       hmode u8 | hlen varint | high: hlen bytes |
//   entropy delta (7):| 7 | first zigzag varint | ref zigzag varint | k u8 | n-1 low parts | hmode | hlen |
//                       high |, the stream element being zigzag((v[i] - v[i-1]) - ref)
//                     followed in both by | x varint | x escape varints |
//     Element i of the stream is (high[i] << k) | low[i], high[i] one byte;
//     hmode 0: the m high bytes stored as they are (hlen == m); hmode 1: a zstd
//     frame that decompresses to exactly m bytes (int_entropy.cc says why).
//   entropy dod (8): | 8 | first zigzag varint | v[1] - v[0] zigzag varint | ref | k | n-2 low parts |
//                       hmode | hlen | high | x | escapes |, the element being
//                       zigzag((d[i] - d[i-1]) - ref), d[i] = v[i] - v[i-1]
//   entropy smooth (9): | 9 | first zigzag varint | shift u8 (1..16) | ref | k | n-1 low parts | hmode |
//                       hlen | high | x | escapes |, the element being zigzag((v[i] - p[i]) - ref),
//                       p[i] the SmoothLevel prediction from v[0..i-1] (segment format 3)
//     A high byte of 255 is an escape: that element's high part is 255 plus
//     the next escape varint (x = the number of 255 bytes).
//
// The grouped forms give every 64 values their own frame, so an idle
// stretch (zero deltas) costs 2 bytes per 64 values and a burst widens only
// its own groups.
// All arithmetic wraps modulo 2^64, so any int64 sequence round-trips.
// Returns the encoded size the block would have (without writing it).
size_t IntBlockSize(const int64_t* v, size_t n);
// The same for the plain schemes 0-5 only (no entropy estimate: cheaper).
size_t PlainIntBlockSize(const int64_t* v, size_t n);
// allow_entropy = false restricts it to schemes 0-5 (a plain bit-packed
// block, for a trial of zstd over the whole column). The entropy stage is
// taken only when it saves more than 1/gain_divisor of the plain size: it
// decodes at about half the speed. Integer columns ask for 1/8 (a counter's
// plain block already decodes at ~1 G values/s, and 4 % fewer bytes did not
// pay for half of that); decimal floats and timestamps for 1/32 (their
// entropy-coded steps save 10-20 %).
constexpr size_t kEntropyGainDivisor = 32;
constexpr size_t kIntColumnEntropyGainDivisor = 8;
void EncodeIntBlock(const int64_t* v, size_t n, std::string* out, bool allow_entropy = true,
                    size_t gain_divisor = kEntropyGainDivisor);
// Decodes n values from the cursor (consuming exactly the block), handing
// them to sink(offset, const int64_t* vals, count) in chunks of up to 64.
// With want < n, chunks stop once values [0, want) were handed on (the
// cursor still moves past the whole block).
template <typename Sink>
Status DecodeIntBlock(Cursor* c, size_t n, Sink&& sink, size_t want = SIZE_MAX);

// --- Per-codec entry points (after dispatch on the id byte). Encode* append
// a complete column including the header; Decode* take the whole column.
//
// Prefix decoding: a decoder given `want` < n must write out[0, want) and
// may write more (up to out[n - 1]) or stop there; it still never reads
// outside `in`, but need not check the part of the column it skips.
void EncodeTimestampDoD(const int64_t* v, size_t n, std::string* out);
// With max_time, stops after the first group of values holding one past
// max_time (the values are sorted); *decoded gets how many were written.
Status DecodeTimestampDoD(std::string_view in, size_t n, int64_t* out, int64_t max_time = INT64_MAX,
                          size_t* decoded = nullptr);

void EncodeGorilla(const double* v, size_t n, std::string* out);
Status DecodeGorilla(std::string_view in, size_t n, double* out, size_t want = SIZE_MAX);

// Returns false (writing nothing) if the block does not suit decimal scaling,
// i.e. more than `max_exception_fraction` of its values would be exceptions.
bool EncodeDecimal(const double* v, size_t n, std::string* out, double max_exception_fraction,
                   bool allow_entropy = true);
Status DecodeDecimal(std::string_view in, size_t n, double* out, size_t want = SIZE_MAX);
// Whether DecodeDecimal may scale with FMA instead of dividing, where the CPU
// has it (same bits; tests turn it off to check the division against it).
void SetDecimalFma(bool on);

void EncodeIntDelta(const int64_t* v, size_t n, std::string* out, bool allow_entropy = true);
Status DecodeIntDelta(std::string_view in, size_t n, int64_t* out, size_t want = SIZE_MAX);
// Returns false (writing nothing) if run-length would exceed `max_size` bytes.
bool EncodeIntRle(const int64_t* v, size_t n, std::string* out, size_t max_size);
Status DecodeIntRle(std::string_view in, size_t n, int64_t* out, size_t want = SIZE_MAX);

void EncodeBoolBitmap(const uint8_t* v, size_t n, std::string* out);
Status DecodeBoolBitmap(std::string_view in, size_t n, uint8_t* out);
void EncodeBoolRle(const uint8_t* v, size_t n, std::string* out);
Status DecodeBoolRle(std::string_view in, size_t n, uint8_t* out);

// Returns false (writing nothing) when a dictionary would not be smaller.
bool EncodeStringDict(const std::string_view* v, size_t n, std::string* out);
Status DecodeStringDict(std::string_view in, size_t n, std::vector<std::string>* out);

// Int block schemes 6-9 (int_entropy.cc). Appends the whole int block
// (scheme byte first) and returns true only if it is smaller than `limit`
// bytes (the plain schemes' size) by more than limit/gain_divisor;
// otherwise appends nothing.
bool EncodeEntropyIntBlock(const int64_t* v, size_t n, size_t limit, size_t gain_divisor, std::string* out);
// For tests: the same, building both candidate splits and keeping the
// smaller, where the encoder builds the one its Huffman size model prefers.
bool EncodeEntropyIntBlockBuildingBoth(const int64_t* v, size_t n, size_t limit, std::string* out);
// Its estimated size without running zstd, or SIZE_MAX when the block is not
// a candidate (too short, or the plain size `limit` already tiny).
size_t EntropyIntBlockEstimate(const int64_t* v, size_t n, size_t limit);
// Reads a scheme 6/7 block after its scheme byte (and, for 7, `first`):
// *stream gets the m stream elements (zigzag-decoded when `zigzag`), ready
// for ref to be added; it points into a per-thread buffer valid until the
// next call on this thread.
Status ReadEntropyStream(Cursor* c, size_t m, bool zigzag, uint64_t* ref, const uint64_t** stream);

// Plain zstd frames (level 1) for the entropy stage. ZstdCompress returns
// false on failure; ZstdDecompressExact only if `frame` is one frame that
// declares and yields exactly `size` bytes.
bool ZstdCompress(std::string_view in, std::string* frame);
bool ZstdDecompressExact(std::string_view frame, uint8_t* out, size_t size);

// kZstd wrapper: | id | n varint | inner size varint | zstd frame |. Appends
// the wrapped form of `inner` only if it is smaller by at least 1/8 (or
// always, with `force`); returns whether it did. Inner columns above
// kMaxZstdInner bytes are never wrapped.
constexpr size_t kMaxZstdInner = size_t{256} << 20;
bool WrapZstd(std::string_view inner, size_t n, std::string* out, bool force = false);
// Decompresses into *inner (the nested column, itself never kZstd), refusing
// a declared inner size above `max_inner`.
Status UnwrapZstd(std::string_view in, size_t n, size_t max_inner, std::string* inner);

// out[j] = acc + sum_{k<=j} (ref + p[k]) * mul, all modulo 2^64; returns the
// final sum. Unrolled by four with the partial sums formed off the critical
// path, so the loop-carried chain is one add per four values instead of one
// per value (the scan was the decoders' bottleneck).
inline uint64_t PrefixSum(const uint64_t* p, size_t count, uint64_t ref, uint64_t mul, uint64_t acc,
                          int64_t* out) {
  const size_t body = count & ~size_t{3};
  for (size_t j = 0; j < body; j += 4) {
    const uint64_t r0 = (ref + p[j]) * mul, r1 = (ref + p[j + 1]) * mul;
    const uint64_t r2 = (ref + p[j + 2]) * mul, r3 = (ref + p[j + 3]) * mul;
    const uint64_t s1 = r0 + r1, s2 = s1 + r2, s3 = s2 + r3;
    out[j] = static_cast<int64_t>(acc + r0);
    out[j + 1] = static_cast<int64_t>(acc + s1);
    out[j + 2] = static_cast<int64_t>(acc + s2);
    out[j + 3] = static_cast<int64_t>(acc + s3);
    acc += s3;
  }
  for (size_t k = 0; k < (count & 3); k++) {
    acc += (ref + p[body + k]) * mul;
    out[body + k] = static_cast<int64_t>(acc);
  }
  return acc;
}

// Scheme 8, after its scheme byte: v[0], v[1] - v[0], then the entropy
// stream of delta-of-deltas; two prefix sums per group of 64.
template <typename Sink>
Status DecodeDodEntropyBlock(Cursor* c, size_t n, Sink& sink, size_t want) {
  uint64_t first, d1, ref;
  if (n < 3 || !c->Varint(&first) || !c->Varint(&d1)) return Corrupt("truncated int block");
  const uint64_t* stream;
  RETURN_IF_ERROR(ReadEntropyStream(c, n - 2, true, &ref, &stream));
  alignas(64) int64_t chunk[64], deltas[64];
  uint64_t acc = static_cast<uint64_t>(ZigZagDecode(first));
  uint64_t d = static_cast<uint64_t>(ZigZagDecode(d1));
  chunk[0] = static_cast<int64_t>(acc);
  acc += d;
  chunk[1] = static_cast<int64_t>(acc);
  sink(size_t{0}, static_cast<const int64_t*>(chunk), size_t{2});
  size_t off = 2;
  for (size_t b = 0; b < n - 2 && off < want; b += 64) {
    const size_t count = n - 2 - b < 64 ? n - 2 - b : 64;
    d = PrefixSum(stream + b, count, ref, 1, d, deltas);
    acc = PrefixSum(reinterpret_cast<const uint64_t*>(deltas), count, 0, 1, acc, chunk);
    sink(off, static_cast<const int64_t*>(chunk), count);
    off += count;
  }
  return absl::OkStatus();
}

// Scheme 9's level: an exponential smoothing of the values (each value
// moves the level by 2^-shift of its distance), in fixed point with 8
// fraction bits. All of it is modular uint64 arithmetic: values near the
// int64 limits make a poor prediction, never a wrong decode, because the
// decoder repeats the encoder's exact steps.
class SmoothLevel {
 public:
  SmoothLevel(int64_t first, int shift) : s_(static_cast<uint64_t>(first) << 8), shift_(shift) {}
  uint64_t Predict() const { return static_cast<uint64_t>(static_cast<int64_t>(s_ + 128) >> 8); }
  void Update(uint64_t v) { s_ += static_cast<uint64_t>(static_cast<int64_t>((v << 8) - s_) >> shift_); }

 private:
  uint64_t s_;
  int shift_;
};

// out[j] = v[j + 1] - prediction (modular), j < n - 1.
inline void SmoothResiduals(const int64_t* v, size_t n, int shift, uint64_t* out) {
  SmoothLevel level(v[0], shift);
  for (size_t j = 0; j + 1 < n; j++) {
    const uint64_t x = static_cast<uint64_t>(v[j + 1]);
    out[j] = x - level.Predict();
    level.Update(x);
  }
}

inline constexpr int kMaxSmoothShiftDecoded = 16;

// Scheme 9, after its scheme byte: v[0], the shift, then the entropy stream
// of residuals from the smoothed level; sequential (each value moves the
// level the next prediction comes from).
template <typename Sink>
Status DecodeSmoothEntropyBlock(Cursor* c, size_t n, Sink& sink, size_t want) {
  uint64_t first, ref;
  uint8_t shift;
  if (n < 2 || !c->Varint(&first) || !c->Byte(&shift)) return Corrupt("truncated int block");
  if (shift < 1 || shift > kMaxSmoothShiftDecoded) return Corrupt("bad smoothing shift");
  const uint64_t* stream;
  RETURN_IF_ERROR(ReadEntropyStream(c, n - 1, true, &ref, &stream));
  alignas(64) int64_t chunk[64];
  const int64_t v0 = ZigZagDecode(first);
  chunk[0] = v0;
  sink(size_t{0}, static_cast<const int64_t*>(chunk), size_t{1});
  // SmoothLevel's steps rewritten on u = level + 128 (modular, the same
  // bits): with p = u >> 8 (arithmetic) and x = p + r, (x << 8) - level is
  // 128 + (r << 8) - (u & 255), so the next level waits on four operations
  // (and, sub, sar, add) instead of seven; x and r << 8 are off that chain.
  // SmoothLevelDecodeMatchesThePredictor (encoding_test.cc) holds them equal.
  uint64_t u = (static_cast<uint64_t>(v0) << 8) + 128;
  size_t off = 1;
  for (size_t b = 0; b < n - 1 && off < want; b += 64) {
    const size_t count = n - 1 - b < 64 ? n - 1 - b : 64;
    for (size_t j = 0; j < count; j++) {
      const uint64_t r = ref + stream[b + j];
      chunk[j] = static_cast<int64_t>(static_cast<uint64_t>(static_cast<int64_t>(u) >> 8) + r);
      u += static_cast<uint64_t>(static_cast<int64_t>((r << 8) + 128 - (u & 255)) >> shift);
    }
    sink(off, static_cast<const int64_t*>(chunk), count);
    off += count;
  }
  return absl::OkStatus();
}

template <typename Sink>
Status DecodeIntBlock(Cursor* c, size_t n, Sink&& sink, size_t want) {
  uint8_t scheme;
  uint64_t first = 0;
  if (!c->Byte(&scheme)) return Corrupt("truncated int block");
  if (scheme > 9) return Corrupt("unknown int block scheme");
  if (scheme == 8) return DecodeDodEntropyBlock(c, n, sink, want);
  if (scheme == 9) return DecodeSmoothEntropyBlock(c, n, sink, want);
  const bool delta = scheme == 1 || scheme == 3 || scheme == 5 || scheme == 7;
  if (delta && (n == 0 || !c->Varint(&first))) return Corrupt("truncated int block");
  const size_t m = delta ? n - 1 : n;  // packed stream length
  alignas(64) int64_t chunk[64];
  uint64_t acc = static_cast<uint64_t>(ZigZagDecode(first));
  size_t off = 0;
  if (delta) {
    chunk[0] = static_cast<int64_t>(acc);
    sink(size_t{0}, static_cast<const int64_t*>(chunk), size_t{1});
    off = 1;
  }
  // Turns one unpacked group into values and hands it on.
  auto emit = [&](const uint64_t* p, size_t count, uint64_t ref) {
    if (delta) {
      acc = PrefixSum(p, count, ref, 1, acc, chunk);
    } else {
      for (size_t j = 0; j < count; j++) chunk[j] = static_cast<int64_t>(ref + p[j]);
    }
    sink(off, static_cast<const int64_t*>(chunk), count);
    off += count;
  };
  if (scheme >= 6) {
    uint64_t ref;
    const uint64_t* stream;
    RETURN_IF_ERROR(ReadEntropyStream(c, m, delta, &ref, &stream));
    for (size_t b = 0; b < m && off < want; b += 64) emit(stream + b, m - b < 64 ? m - b : 64, ref);
    return absl::OkStatus();
  }
  if (scheme <= 1) {
    uint64_t ref;
    uint8_t width;
    if (!c->Varint(&ref) || !c->Byte(&width)) return Corrupt("truncated int block");
    if (width > 64) return Corrupt("bad bit width");
    ref = static_cast<uint64_t>(ZigZagDecode(ref));
    const uint8_t* bits;
    if (!c->Bytes(PackedBytes(m, width), &bits)) return Corrupt("truncated int block payload");
    if (off < want) {
      ForEachPackedGroupWhile(bits, m, width, [&](const uint64_t* p, size_t count) {
        emit(p, count, ref);
        return off < want;
      });
    }
    return absl::OkStatus();
  }
  if (scheme >= 4) {
    // Patched: read the exceptions (after the payload) first, then patch
    // each unpacked group of 64 before it is turned into values.
    uint64_t ref, k;
    uint8_t width;
    if (!c->Varint(&ref) || !c->Byte(&width) || !c->Varint(&k)) return Corrupt("truncated int block");
    if (width > 64) return Corrupt("bad bit width");
    if (k > m || (k > 0 && width == 64)) return Corrupt("bad exception count");
    ref = static_cast<uint64_t>(ZigZagDecode(ref));
    const uint8_t* bits;
    if (!c->Bytes(PackedBytes(m, width), &bits)) return Corrupt("truncated int block payload");
    thread_local std::vector<std::pair<uint32_t, uint64_t>> patches;
    patches.resize(k);
    uint64_t pos = 0;
    for (uint64_t e = 0; e < k; e++) {
      uint64_t gap, val;
      if (!c->Varint(&gap) || !c->Varint(&val)) return Corrupt("truncated int block exceptions");
      if (gap >= m - pos) return Corrupt("bad exception position");
      pos += gap;
      patches[e] = {static_cast<uint32_t>(pos), val << width};
      pos++;
    }
    alignas(64) uint64_t tmp[64];
    size_t next = 0, at = 0;  // next exception; stream position of the group
    if (off < want) {
      ForEachPackedGroupWhile(bits, m, width, [&](const uint64_t* p, size_t count) {
        std::memcpy(tmp, p, count * sizeof(uint64_t));
        for (; next < k && patches[next].first < at + count; next++) {
          tmp[patches[next].first - at] |= patches[next].second;
        }
        at += count;
        emit(tmp, count, ref);
        return off < want;
      });
    }
    return absl::OkStatus();
  }
  // Grouped schemes: | ref zigzag varint | w u8 | payload | per 64 values.
  alignas(64) uint64_t tmp[64];
  for (size_t b = 0; b < m; b += 64) {
    const size_t count = m - b < 64 ? m - b : 64;
    uint64_t ref;
    uint8_t width;
    if (!c->Varint(&ref) || !c->Byte(&width)) return Corrupt("truncated int group");
    if (width > 64) return Corrupt("bad bit width");
    const uint8_t* bits;
    if (!c->Bytes(PackedBytes(count, width), &bits)) return Corrupt("truncated int group payload");
    if (off >= want) continue;  // past the prefix: only walk the group headers
    UnpackGroupN(bits, count, width, tmp);
    emit(tmp, count, static_cast<uint64_t>(ZigZagDecode(ref)));
  }
  return absl::OkStatus();
}

}  // namespace m2mdb::encoding::internal

#endif  // M2MDB_ENGINE_ENCODING_INTERNAL_H_
