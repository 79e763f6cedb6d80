// Dispatch: the per-block codec choice on the encode side and the switch on
// the id byte on the decode side. The schemes themselves live one per file.
//
// kRaw (persisted since the first format; never change it):
//   numbers/bools: | 0 | n fixed-width little-endian values |      (no count)
//   strings:       | 0 | n x ( length varint, bytes ) |
// kConstant:
//   numbers:       | 9 | n varint | value: fixed64 (raw bits) |
//   bools:         | 9 | n varint | value u8 |
//   strings:       | 9 | n varint | length varint | bytes |
#include <algorithm>

#include "engine/encoding/internal.h"

namespace m2mdb::encoding {
namespace {

using internal::BitCast;
using internal::Corrupt;
using internal::Cursor;
using internal::PutHeader;

// Columns at least this large get a trial zstd pass; below it the frame
// overhead eats the gain.
constexpr size_t kZstdMinBytes = 1024;
// Upper bound of any numeric column our encoders produce (raw is 1 + 8n and
// every other choice is capped by it), used to bound zstd's declared size.
inline size_t MaxNumericColumn(size_t n) { return 64 + 11 * n; }

// Numeric columns still above this many bytes per value after our codecs
// are near-random bits (raw or Gorilla fallbacks); zstd does not win 1/8 on
// them, and the trial would halve the encode speed.
constexpr size_t kZstdMaxNumericBytesPerValue = 6;

// Replaces the column appended at out[start..] by its zstd-wrapped form when
// that pays. `numeric` enables the high-entropy skip above.
void MaybeZstd(std::string* out, size_t start, size_t n, bool numeric = true) {
  const size_t size = out->size() - start;
  if (size < kZstdMinBytes) return;
  if (numeric && size > kZstdMaxNumericBytesPerValue * n) return;
  std::string wrapped;
  if (internal::WrapZstd(std::string_view(*out).substr(start), n, &wrapped)) {
    out->resize(start);
    out->append(wrapped);
  }
}

// Whether a decimal or int-delta column holds an entropy-coded int block
// (schemes 6/7): | id | n varint | (decimal: e u8) | scheme u8 | ...
bool UsesEntropyStage(std::string_view col) {
  Cursor c(col);
  uint8_t id, e, scheme;
  uint64_t n;
  if (!c.Byte(&id) || !c.Varint(&n)) return false;
  if (id == static_cast<uint8_t>(CodecId::kFloatDecimal) && !c.Byte(&e)) return false;
  if (id != static_cast<uint8_t>(CodecId::kFloatDecimal) && id != static_cast<uint8_t>(CodecId::kIntDelta)) {
    return false;
  }
  return c.Byte(&scheme) && scheme >= 6;
}

// The entropy stage codes each element on its own; zstd over the plain
// bit-packed column also finds repeated runs (a parked vehicle's
// coordinates), which the split leaves in the raw low bits. So a column
// that took the entropy stage is also tried as zstd(plain), the smaller
// kept. `encode_plain` appends the column without the entropy stage.
template <typename F>
void MaybePlainZstd(std::string* out, size_t start, size_t n, F&& encode_plain) {
  const std::string_view col = std::string_view(*out).substr(start);
  if (col.size() < kZstdMinBytes || !UsesEntropyStage(col)) return;
  thread_local std::string plain, wrapped;
  plain.clear();
  wrapped.clear();
  encode_plain(&plain);
  if (!internal::WrapZstd(plain, n, &wrapped, /*force=*/true)) return;
  if (wrapped.size() < col.size()) {
    out->resize(start);
    out->append(wrapped);
  }
}

// How many of v[0, n) lie in runs of at least 8 equal values (bitwise):
// the part of a column zstd's match finder can take away, and so a bound on
// what a zstd trial over an entropy-coded column can win.
template <typename T>
size_t ValuesInRuns(const T* v, size_t n) {
  size_t in_runs = 0, run = 1;
  for (size_t i = 1; i < n; i++) {
    run = BitCast<uint64_t>(v[i]) == BitCast<uint64_t>(v[i - 1]) ? run + 1 : 1;
    in_runs += run > 8 ? 1 : (run == 8 ? 8 : 0);
  }
  return in_runs;
}

// The zstd trials of a numeric column at out[start..]. One with an
// entropy-coded int block is left with uniform low bits and Huffman-coded
// high bytes: zstd can only take away its runs of repeated values (a parked
// vehicle), so each trial runs only where those could win it: wrapping the
// column needs 1/8 of it gone, zstd over the plain column must beat the
// entropy stage's own gain over that column (more than 1/32). Elsewhere the
// two compressions were most of the encoder's time and almost never won
// (5 of ~1900 entropy-coded blocks in the corpus and an iot day, 150 bytes).
template <typename T, typename F>
void ZstdTrials(std::string* out, size_t start, const T* v, size_t n, F&& encode_plain) {
  if (!UsesEntropyStage(std::string_view(*out).substr(start))) return MaybeZstd(out, start, n);
  const size_t in_runs = ValuesInRuns(v, n);
  if (in_runs * 8 >= n) MaybeZstd(out, start, n);
  if (in_runs * 32 > n) MaybePlainZstd(out, start, n, encode_plain);
}

template <typename T>
void EncodeRaw(const T* v, size_t n, std::string* out) {
  out->push_back(static_cast<char>(CodecId::kRaw));
  if (n) out->append(reinterpret_cast<const char*>(v), n * sizeof(T));
}

// Decoders take `want`: values [0, want) are needed, the rest may be left
// unwritten (internal.h, prefix decoding).
template <typename T>
Status DecodeRaw(std::string_view in, size_t n, T* out, size_t want = SIZE_MAX) {
  if (in.size() != 1 + n * sizeof(T)) return Corrupt("raw column length mismatch");
  if (n) std::memcpy(out, in.data() + 1, std::min(n, want) * sizeof(T));
  return absl::OkStatus();
}

template <typename T>
bool AllSame(const T* v, size_t n) {
  bool same = true;
  for (size_t i = 1; i < n; i++) same &= v[i] == v[0];
  return same;
}

// Bitwise equality (NaN payloads, -0.0 vs 0.0 differ), without type punning.
bool AllSameBits(const double* v, size_t n) {
  bool same = true;
  const uint64_t first = BitCast<uint64_t>(v[0]);
  for (size_t i = 1; i < n; i++) same &= BitCast<uint64_t>(v[i]) == first;
  return same;
}

// Raw bits of a 64-bit value.
template <typename T>
void EncodeConstant64(T v, size_t n, std::string* out) {
  PutHeader(out, CodecId::kConstant, n);
  PutFixed64(out, BitCast<uint64_t>(v));
}

template <typename T>
Status DecodeConstant64(std::string_view in, size_t n, T* out, size_t want = SIZE_MAX) {
  Cursor c(in);
  RETURN_IF_ERROR(internal::ReadHeader(&c, n));
  uint64_t bits;
  if (!c.Fixed64(&bits) || !c.AtEnd()) return Corrupt("constant column length mismatch");
  const T v = BitCast<T>(bits);
  std::fill(out, out + std::min(n, want), v);
  return absl::OkStatus();
}

// Decodes a kZstd column by unwrapping it and calling `decode` on the inner
// column, which must not itself be kZstd.
template <typename F>
Status DecodeZstd(std::string_view in, size_t n, size_t max_inner, F&& decode) {
  thread_local std::string inner;
  RETURN_IF_ERROR(internal::UnwrapZstd(in, n, max_inner, &inner));
  // `inner` is reused across calls on this thread; decode never recurses
  // into another kZstd, so it is not overwritten while in use.
  return decode(std::string_view(inner));
}

void EncodeIntegersNoZstd(const int64_t* v, size_t n, std::string* out, bool allow_entropy = true) {
  if (n == 0) return EncodeRaw(v, n, out);
  if (AllSame(v, n)) return EncodeConstant64(v[0], n, out);
  // The plain size suffices to rank run-length against the integer block
  // (the entropy stage only ever makes the latter smaller), and skips a
  // second entropy planning pass: EncodeIntDelta plans again.
  const size_t delta_size = 1 + 3 + internal::PlainIntBlockSize(v, n);
  const size_t raw_size = 1 + 8 * n;
  if (internal::EncodeIntRle(v, n, out, std::min(delta_size, raw_size) - 1)) return;
  if (delta_size >= raw_size) return EncodeRaw(v, n, out);
  internal::EncodeIntDelta(v, n, out, allow_entropy);
}

Status DecodeIntegersImpl(std::string_view in, size_t n, int64_t* out, bool allow_zstd, size_t want) {
  if (in.empty()) return Corrupt("empty column");
  switch (static_cast<CodecId>(in[0])) {
    case CodecId::kRaw:
      return DecodeRaw(in, n, out, want);
    case CodecId::kConstant:
      return DecodeConstant64(in, n, out, want);
    case CodecId::kIntDelta:
      return internal::DecodeIntDelta(in, n, out, want);
    case CodecId::kIntRle:
      return internal::DecodeIntRle(in, n, out, want);
    case CodecId::kZstd:
      if (!allow_zstd) break;
      return DecodeZstd(in, n, MaxNumericColumn(n), [&](std::string_view inner) {
        return DecodeIntegersImpl(inner, n, out, false, want);
      });
    default:
      break;
  }
  return Corrupt("not an integer codec");
}

void EncodeTimestampsNoZstd(const int64_t* v, size_t n, std::string* out) {
  if (n == 0) return EncodeRaw(v, n, out);
  const size_t start = out->size();
  internal::EncodeTimestampDoD(v, n, out);
  if (out->size() - start > 1 + 8 * n) {
    out->resize(start);
    EncodeRaw(v, n, out);
  }
}

// With max_time < INT64_MAX (sorted columns only), *decoded gets how many
// values were written: at least all up to the first one past max_time.
Status DecodeTimestampsImpl(std::string_view in, size_t n, int64_t* out, bool allow_zstd, int64_t max_time,
                            size_t* decoded) {
  if (in.empty()) return Corrupt("empty column");
  if (decoded != nullptr) *decoded = n;  // all, unless the codec stops early
  switch (static_cast<CodecId>(in[0])) {
    case CodecId::kRaw:
      return DecodeRaw(in, n, out);
    case CodecId::kConstant:
      return DecodeConstant64(in, n, out);
    case CodecId::kTimestampDoD:
      return internal::DecodeTimestampDoD(in, n, out, max_time, decoded);
    case CodecId::kZstd:
      if (!allow_zstd) break;
      return DecodeZstd(in, n, MaxNumericColumn(n), [&](std::string_view inner) {
        return DecodeTimestampsImpl(inner, n, out, false, max_time, decoded);
      });
    default:
      break;
  }
  return Corrupt("not a timestamp codec");
}

// A decimal block at or under this many bytes per value is taken without
// trying Gorilla: Gorilla needs at least ~2 bytes for any changing value.
constexpr size_t kDecimalGoodEnoughBytes = 2;

void EncodeFloatsNoZstd(const double* v, size_t n, std::string* out, FloatMode mode,
                        bool allow_entropy = true) {
  if (mode == FloatMode::kRawOnly || n == 0) return EncodeRaw(v, n, out);
  if (mode == FloatMode::kGorillaOnly) return internal::EncodeGorilla(v, n, out);
  if (AllSameBits(v, n)) return EncodeConstant64(v[0], n, out);
  const size_t start = out->size();
  const size_t raw_size = 1 + 8 * n;
  size_t best = raw_size;
  if (internal::EncodeDecimal(v, n, out, 0.5, allow_entropy)) {
    best = out->size() - start;
    // Gorilla beats the decimal codec almost only on long runs of repeated
    // values (a repeat costs it one bit), e.g. an idle truck's load; count
    // repeats (a cheap pass) rather than always paying for a Gorilla trial.
    size_t repeats = 0;
    for (size_t i = 1; i < n; i++) repeats += v[i] == v[i - 1];
    if (best <= kDecimalGoodEnoughBytes * n + 16 && repeats * 2 < n) return;
  }
  std::string gorilla;
  internal::EncodeGorilla(v, n, &gorilla);
  if (gorilla.size() < best) {
    out->resize(start);
    out->append(gorilla);
    best = gorilla.size();
  }
  if (best >= raw_size) {
    out->resize(start);
    EncodeRaw(v, n, out);
  }
}

Status DecodeFloatsImpl(std::string_view in, size_t n, double* out, bool allow_zstd, size_t want) {
  if (in.empty()) return Corrupt("empty column");
  switch (static_cast<CodecId>(in[0])) {
    case CodecId::kRaw:
      return DecodeRaw(in, n, out, want);
    case CodecId::kConstant:
      return DecodeConstant64(in, n, out, want);
    case CodecId::kFloatGorilla:
      return internal::DecodeGorilla(in, n, out, want);
    case CodecId::kFloatDecimal:
      return internal::DecodeDecimal(in, n, out, want);
    case CodecId::kZstd:
      if (!allow_zstd) break;
      return DecodeZstd(in, n, MaxNumericColumn(n),
                        [&](std::string_view inner) { return DecodeFloatsImpl(inner, n, out, false, want); });
    default:
      break;
  }
  return Corrupt("not a float codec");
}

void EncodeBooleansNoZstd(const uint8_t* v, size_t n, std::string* out) {
  if (n == 0) return EncodeRaw(v, n, out);
  size_t runs = 1, rle_size = 1 + 3 + 1 + 3;
  for (size_t i = 1; i < n; i++) runs += (v[i] != 0) != (v[i - 1] != 0);
  if (runs == 1) {
    PutHeader(out, CodecId::kConstant, n);
    out->push_back(v[0] != 0);
    return;
  }
  // Run lengths are at most 3 varint bytes; estimate generously.
  rle_size += runs * 2;
  if (rle_size < (n + 7) / 8) return internal::EncodeBoolRle(v, n, out);
  internal::EncodeBoolBitmap(v, n, out);
}

Status DecodeBooleansImpl(std::string_view in, size_t n, uint8_t* out, bool allow_zstd) {
  if (in.empty()) return Corrupt("empty column");
  switch (static_cast<CodecId>(in[0])) {
    case CodecId::kRaw: {
      RETURN_IF_ERROR(DecodeRaw(in, n, out));
      for (size_t i = 0; i < n; i++) out[i] = out[i] != 0;
      return absl::OkStatus();
    }
    case CodecId::kConstant: {
      Cursor c(in);
      RETURN_IF_ERROR(internal::ReadHeader(&c, n));
      uint8_t b;
      if (!c.Byte(&b) || b > 1 || !c.AtEnd()) return Corrupt("bad constant bool column");
      std::fill(out, out + n, b);
      return absl::OkStatus();
    }
    case CodecId::kBoolBitmap:
      return internal::DecodeBoolBitmap(in, n, out);
    case CodecId::kBoolRle:
      return internal::DecodeBoolRle(in, n, out);
    case CodecId::kZstd:
      if (!allow_zstd) break;
      return DecodeZstd(in, n, MaxNumericColumn(n),
                        [&](std::string_view inner) { return DecodeBooleansImpl(inner, n, out, false); });
    default:
      break;
  }
  return Corrupt("not a boolean codec");
}

void EncodeStringsNoZstd(const std::string_view* v, size_t n, std::string* out) {
  if (n > 0 && AllSame(v, n)) {
    PutHeader(out, CodecId::kConstant, n);
    PutLengthPrefixed(out, v[0]);
    return;
  }
  if (n > 0 && internal::EncodeStringDict(v, n, out)) return;
  out->push_back(static_cast<char>(CodecId::kRaw));
  for (size_t i = 0; i < n; i++) PutLengthPrefixed(out, v[i]);
}

Status DecodeStringsImpl(std::string_view in, size_t n, std::vector<std::string>* out, bool allow_zstd) {
  out->clear();
  if (in.empty()) return Corrupt("empty column");
  switch (static_cast<CodecId>(in[0])) {
    case CodecId::kRaw: {
      in.remove_prefix(1);
      // Every string takes at least its length byte.
      if (in.size() < n) return Corrupt("truncated raw strings");
      out->reserve(n);
      for (size_t i = 0; i < n; i++) {
        std::string_view s;
        if (!GetLengthPrefixed(&in, &s)) return Corrupt("truncated raw strings");
        out->emplace_back(s);
      }
      if (!in.empty()) return Corrupt("trailing bytes in raw strings");
      return absl::OkStatus();
    }
    case CodecId::kConstant: {
      Cursor c(in);
      RETURN_IF_ERROR(internal::ReadHeader(&c, n));
      std::string_view rest = c.rest(), s;
      if (!GetLengthPrefixed(&rest, &s) || !rest.empty()) return Corrupt("bad constant string column");
      out->assign(n, std::string(s));
      return absl::OkStatus();
    }
    case CodecId::kStringDict:
      return internal::DecodeStringDict(in, n, out);
    case CodecId::kZstd:
      if (!allow_zstd) break;
      return DecodeZstd(in, n, internal::kMaxZstdInner,
                        [&](std::string_view inner) { return DecodeStringsImpl(inner, n, out, false); });
    default:
      break;
  }
  return Corrupt("not a string codec");
}

}  // namespace

void EncodeTimestamps(const int64_t* v, size_t n, std::string* out) {
  const size_t start = out->size();
  EncodeTimestampsNoZstd(v, n, out);
  MaybeZstd(out, start, n);
}
Status DecodeTimestamps(std::string_view in, size_t n, int64_t* out) {
  if (n > kMaxBlockValues) return Corrupt("too many values");
  return DecodeTimestampsImpl(in, n, out, true, INT64_MAX, nullptr);
}
Status DecodeTimestampsUntil(std::string_view in, size_t n, int64_t max_time, int64_t* out, size_t* decoded) {
  *decoded = 0;
  if (n > kMaxBlockValues) return Corrupt("too many values");
  return DecodeTimestampsImpl(in, n, out, true, max_time, decoded);
}

void EncodeFloats(const double* v, size_t n, std::string* out, FloatMode mode) {
  const size_t start = out->size();
  EncodeFloatsNoZstd(v, n, out, mode);
  if (mode != FloatMode::kAuto) return;
  ZstdTrials(out, start, v, n, [&](std::string* o) { EncodeFloatsNoZstd(v, n, o, mode, false); });
}
Status DecodeFloats(std::string_view in, size_t n, double* out) {
  if (n > kMaxBlockValues) return Corrupt("too many values");
  return DecodeFloatsImpl(in, n, out, true, SIZE_MAX);
}
Status DecodeFloatsPrefix(std::string_view in, size_t n, size_t want, double* out) {
  if (n > kMaxBlockValues) return Corrupt("too many values");
  return DecodeFloatsImpl(in, n, out, true, want);
}

void EncodeIntegers(const int64_t* v, size_t n, std::string* out) {
  const size_t start = out->size();
  EncodeIntegersNoZstd(v, n, out);
  ZstdTrials(out, start, v, n, [&](std::string* o) { EncodeIntegersNoZstd(v, n, o, false); });
}
Status DecodeIntegers(std::string_view in, size_t n, int64_t* out) {
  if (n > kMaxBlockValues) return Corrupt("too many values");
  return DecodeIntegersImpl(in, n, out, true, SIZE_MAX);
}
Status DecodeIntegersPrefix(std::string_view in, size_t n, size_t want, int64_t* out) {
  if (n > kMaxBlockValues) return Corrupt("too many values");
  return DecodeIntegersImpl(in, n, out, true, want);
}

// Unsigned columns share the integer codecs: every integer scheme works
// modulo 2^64, so reinterpreting the bits round-trips exactly (and signed
// and unsigned views of the same object may alias).
void EncodeUnsigned(const uint64_t* v, size_t n, std::string* out) {
  EncodeIntegers(reinterpret_cast<const int64_t*>(v), n, out);
}
Status DecodeUnsigned(std::string_view in, size_t n, uint64_t* out) {
  return DecodeIntegers(in, n, reinterpret_cast<int64_t*>(out));
}
Status DecodeUnsignedPrefix(std::string_view in, size_t n, size_t want, uint64_t* out) {
  return DecodeIntegersPrefix(in, n, want, reinterpret_cast<int64_t*>(out));
}

void EncodeBooleans(const uint8_t* v, size_t n, std::string* out) {
  const size_t start = out->size();
  EncodeBooleansNoZstd(v, n, out);
  MaybeZstd(out, start, n);
}
Status DecodeBooleans(std::string_view in, size_t n, uint8_t* out) {
  if (n > kMaxBlockValues) return Corrupt("too many values");
  return DecodeBooleansImpl(in, n, out, true);
}

void EncodeStrings(const std::string_view* v, size_t n, std::string* out) {
  const size_t start = out->size();
  EncodeStringsNoZstd(v, n, out);
  MaybeZstd(out, start, n, /*numeric=*/false);
}
Status DecodeStrings(std::string_view in, size_t n, std::vector<std::string>* out) {
  if (n > kMaxBlockValues) return Corrupt("too many values");
  return DecodeStringsImpl(in, n, out, true);
}

bool EncodeTimestampsWith(CodecId id, const int64_t* v, size_t n, std::string* out) {
  switch (id) {
    case CodecId::kRaw:
      EncodeRaw(v, n, out);
      return true;
    case CodecId::kConstant:
      if (n == 0 || !AllSame(v, n)) return false;
      EncodeConstant64(v[0], n, out);
      return true;
    case CodecId::kTimestampDoD:
      internal::EncodeTimestampDoD(v, n, out);
      return true;
    case CodecId::kZstd: {
      std::string inner;
      EncodeTimestampsNoZstd(v, n, &inner);
      return internal::WrapZstd(inner, n, out, true);
    }
    default:
      return false;
  }
}

bool EncodeFloatsWith(CodecId id, const double* v, size_t n, std::string* out) {
  switch (id) {
    case CodecId::kRaw:
      EncodeRaw(v, n, out);
      return true;
    case CodecId::kConstant:
      if (n == 0 || !AllSameBits(v, n)) return false;
      EncodeConstant64(v[0], n, out);
      return true;
    case CodecId::kFloatGorilla:
      internal::EncodeGorilla(v, n, out);
      return true;
    case CodecId::kFloatDecimal:
      return internal::EncodeDecimal(v, n, out, 1.0);
    case CodecId::kZstd: {
      std::string inner;
      EncodeFloatsNoZstd(v, n, &inner, FloatMode::kAuto);
      return internal::WrapZstd(inner, n, out, true);
    }
    default:
      return false;
  }
}

bool EncodeIntegersWith(CodecId id, const int64_t* v, size_t n, std::string* out) {
  switch (id) {
    case CodecId::kRaw:
      EncodeRaw(v, n, out);
      return true;
    case CodecId::kConstant:
      if (n == 0 || !AllSame(v, n)) return false;
      EncodeConstant64(v[0], n, out);
      return true;
    case CodecId::kIntDelta:
      internal::EncodeIntDelta(v, n, out);
      return true;
    case CodecId::kIntRle:
      return internal::EncodeIntRle(v, n, out, SIZE_MAX);
    case CodecId::kZstd: {
      std::string inner;
      EncodeIntegersNoZstd(v, n, &inner);
      return internal::WrapZstd(inner, n, out, true);
    }
    default:
      return false;
  }
}

CodecId EncodedCodec(std::string_view in) { return in.empty() ? CodecId::kRaw : static_cast<CodecId>(in[0]); }

CodecId EncodedInnerCodec(std::string_view in) {
  const CodecId id = EncodedCodec(in);
  if (id != CodecId::kZstd) return id;
  Cursor c(in);
  uint8_t b;
  uint64_t n;
  if (!c.Byte(&b) || !c.Varint(&n) || !c.Byte(&b)) return id;
  return static_cast<CodecId>(b);
}

std::string_view CodecName(CodecId id) {
  switch (id) {
    case CodecId::kRaw:
      return "raw";
    case CodecId::kTimestampDoD:
      return "ts-dod";
    case CodecId::kFloatGorilla:
      return "gorilla";
    case CodecId::kFloatDecimal:
      return "decimal";
    case CodecId::kIntDelta:
      return "int-delta";
    case CodecId::kIntRle:
      return "int-rle";
    case CodecId::kBoolBitmap:
      return "bool-bitmap";
    case CodecId::kBoolRle:
      return "bool-rle";
    case CodecId::kStringDict:
      return "string-dict";
    case CodecId::kConstant:
      return "constant";
    case CodecId::kZstd:
      return "zstd";
  }
  return "unknown";
}

}  // namespace m2mdb::encoding
