// Column codecs: the one interface between the segment format and the
// encodings. An encoded column is self-describing: its first byte is a
// CodecId, so the segment code never needs to know which scheme a block uses.
//
// Contract for every Decode*:
//   - `n` is the number of values the caller expects (from the block header);
//     the decoder fills exactly `n` values into `out` (which has room for n).
//   - Any input that is truncated, corrupted, names an unknown codec or does
//     not hold exactly `n` values returns kDataLoss; a decoder never reads
//     outside `in` and never writes past out[n-1].
// Encoders never fail. n == 0 is legal everywhere.
// Thread-safety: all functions are pure and thread-safe.
#ifndef M2MDB_ENGINE_ENCODING_CODEC_H_
#define M2MDB_ENGINE_ENCODING_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "m2mdb/status.h"

namespace m2mdb::encoding {

// The largest number of values in one encoded column (one segment block).
constexpr size_t kMaxBlockValues = 1 << 16;

// Persisted in every encoded column: never renumber, never reuse an id.
enum class CodecId : uint8_t {
  kRaw = 0,           // little-endian fixed-width values (strings: varint length + bytes)
  kTimestampDoD = 1,  // delta-of-delta + zigzag + bit packing
  kFloatGorilla = 2,  // Gorilla XOR (the baseline)
  kFloatDecimal = 3,  // ALP-style decimal scaling + FOR/delta bit packing + exceptions
  kIntDelta = 4,      // delta + zigzag + frame-of-reference bit packing
  kIntRle = 5,        // run-length of (value, count)
  kBoolBitmap = 6,    // one bit per value
  kBoolRle = 7,       // run lengths
  kStringDict = 8,    // block dictionary + indexes
  kConstant = 9,      // one value repeated n times
  kZstd = 10,         // zstd over another encoded column (nested id inside)
};

// Which float scheme to use; kAuto picks the smallest per block.
enum class FloatMode { kAuto, kGorillaOnly, kRawOnly };

void EncodeTimestamps(const int64_t* v, size_t n, std::string* out);
Status DecodeTimestamps(std::string_view in, size_t n, int64_t* out);

void EncodeFloats(const double* v, size_t n, std::string* out, FloatMode mode = FloatMode::kAuto);
Status DecodeFloats(std::string_view in, size_t n, double* out);

void EncodeIntegers(const int64_t* v, size_t n, std::string* out);
Status DecodeIntegers(std::string_view in, size_t n, int64_t* out);

void EncodeUnsigned(const uint64_t* v, size_t n, std::string* out);
Status DecodeUnsigned(std::string_view in, size_t n, uint64_t* out);

// Prefix decoding, for reads of a time range that ends inside a block: the
// same as the Decode* above except that only out[0, want) is certain to be
// written (more may be, never past out[n - 1]), and the part of the column
// after the prefix is not checked as thoroughly. Meant for blocks that
// already decoded in full once (their checksum and structure are known good).
Status DecodeFloatsPrefix(std::string_view in, size_t n, size_t want, double* out);
Status DecodeIntegersPrefix(std::string_view in, size_t n, size_t want, int64_t* out);
Status DecodeUnsignedPrefix(std::string_view in, size_t n, size_t want, uint64_t* out);
// Timestamps of a sorted block from the start until (at least) the first one
// past max_time, or all n: *decoded gets how many were written to out.
Status DecodeTimestampsUntil(std::string_view in, size_t n, int64_t max_time, int64_t* out, size_t* decoded);

// Booleans are bytes holding 0 or 1.
void EncodeBooleans(const uint8_t* v, size_t n, std::string* out);
Status DecodeBooleans(std::string_view in, size_t n, uint8_t* out);

void EncodeStrings(const std::string_view* v, size_t n, std::string* out);
// Clears `out` and appends exactly n strings.
Status DecodeStrings(std::string_view in, size_t n, std::vector<std::string>* out);

// The codec of an encoded column (its first byte), for reports; kRaw if empty.
CodecId EncodedCodec(std::string_view in);
// For a kZstd column the codec nested inside it, otherwise EncodedCodec(in).
CodecId EncodedInnerCodec(std::string_view in);

// Encode with one named codec, bypassing the per-block choice (benchmarks,
// reports, tests). kZstd means "the automatic choice, then always wrapped".
// Returns false and appends nothing if `id` cannot hold this block (kConstant
// over differing values) or is not a codec of that column type. The output
// decodes with the matching Decode* like any other column.
bool EncodeTimestampsWith(CodecId id, const int64_t* v, size_t n, std::string* out);
bool EncodeFloatsWith(CodecId id, const double* v, size_t n, std::string* out);
bool EncodeIntegersWith(CodecId id, const int64_t* v, size_t n, std::string* out);
std::string_view CodecName(CodecId id);

}  // namespace m2mdb::encoding

#endif  // M2MDB_ENGINE_ENCODING_CODEC_H_
