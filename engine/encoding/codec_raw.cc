// Placeholder raw implementation of codec.h so the engine links while the real
// codecs are written. Replaced by the scheme files (see codec.h ids).
#include <cstring>

#include "engine/encoding/codec.h"
#include "engine/util/coding.h"

namespace m2mdb::encoding {
namespace {
template <typename T>
void EncodeFixed(const T* v, size_t n, std::string* out) {
  out->push_back(static_cast<char>(CodecId::kRaw));
  out->append(reinterpret_cast<const char*>(v), n * sizeof(T));
}
template <typename T>
Status DecodeFixed(std::string_view in, size_t n, T* out) {
  if (in.empty() || in[0] != static_cast<char>(CodecId::kRaw) || in.size() != 1 + n * sizeof(T))
    return absl::DataLossError("corrupt raw column");
  if (n) std::memcpy(out, in.data() + 1, n * sizeof(T));
  return absl::OkStatus();
}
}  // namespace

void EncodeTimestamps(const int64_t* v, size_t n, std::string* out) { EncodeFixed(v, n, out); }
Status DecodeTimestamps(std::string_view in, size_t n, int64_t* out) { return DecodeFixed(in, n, out); }
void EncodeFloats(const double* v, size_t n, std::string* out, FloatMode) { EncodeFixed(v, n, out); }
Status DecodeFloats(std::string_view in, size_t n, double* out) { return DecodeFixed(in, n, out); }
void EncodeIntegers(const int64_t* v, size_t n, std::string* out) { EncodeFixed(v, n, out); }
Status DecodeIntegers(std::string_view in, size_t n, int64_t* out) { return DecodeFixed(in, n, out); }
void EncodeUnsigned(const uint64_t* v, size_t n, std::string* out) { EncodeFixed(v, n, out); }
Status DecodeUnsigned(std::string_view in, size_t n, uint64_t* out) { return DecodeFixed(in, n, out); }
void EncodeBooleans(const uint8_t* v, size_t n, std::string* out) { EncodeFixed(v, n, out); }
Status DecodeBooleans(std::string_view in, size_t n, uint8_t* out) { return DecodeFixed(in, n, out); }
void EncodeStrings(const std::string_view* v, size_t n, std::string* out) {
  out->push_back(static_cast<char>(CodecId::kRaw));
  for (size_t i = 0; i < n; i++) PutLengthPrefixed(out, v[i]);
}
Status DecodeStrings(std::string_view in, size_t n, std::vector<std::string>* out) {
  out->clear();
  if (in.empty() || in[0] != static_cast<char>(CodecId::kRaw)) return absl::DataLossError("corrupt raw strings");
  in.remove_prefix(1);
  for (size_t i = 0; i < n; i++) {
    std::string_view s;
    if (!GetLengthPrefixed(&in, &s)) return absl::DataLossError("truncated raw strings");
    out->emplace_back(s);
  }
  if (!in.empty()) return absl::DataLossError("trailing bytes in raw strings");
  return absl::OkStatus();
}
CodecId EncodedCodec(std::string_view in) { return in.empty() ? CodecId::kRaw : static_cast<CodecId>(in[0]); }
std::string_view CodecName(CodecId id) {
  switch (id) {
    case CodecId::kRaw: return "raw";
    case CodecId::kTimestampDoD: return "ts-dod";
    case CodecId::kFloatGorilla: return "gorilla";
    case CodecId::kFloatDecimal: return "decimal";
    case CodecId::kIntDelta: return "int-delta";
    case CodecId::kIntRle: return "int-rle";
    case CodecId::kBoolBitmap: return "bool-bitmap";
    case CodecId::kBoolRle: return "bool-rle";
    case CodecId::kStringDict: return "string-dict";
    case CodecId::kConstant: return "constant";
    case CodecId::kZstd: return "zstd";
  }
  return "unknown";
}
}  // namespace m2mdb::encoding
