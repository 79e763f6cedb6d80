// libFuzzer target for every decoder family.
//
// Input: | family u8 | n: u16 little-endian | encoded column ... |
// family % 6 picks timestamps, floats, integers, unsigned, booleans or
// strings. When a decode succeeds, the values are encoded again and must
// decode to the same bits (encode(decode(x)) round-trips). Numeric families
// also run the prefix decoders on the same bytes (want = n/2, and
// timestamps up to the middle value): they must stay inside the input and
// out[0, n), and agree with the full decode where it succeeds.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "engine/encoding/codec.h"

namespace {

using namespace m2mdb::encoding;  // NOLINT: a fuzz driver, not library code

template <typename T, typename Dec, typename Enc>
void Check(std::string_view in, size_t n, Dec decode, Enc encode) {
  std::vector<T> out(n);
  if (!decode(in, n, out.data()).ok()) return;
  std::string again;
  encode(out.data(), n, &again);
  std::vector<T> back(n);
  if (!decode(again, n, back.data()).ok()) abort();
  if (n && std::memcmp(out.data(), back.data(), n * sizeof(T)) != 0) abort();
}

// The prefix decoder on the same bytes: never out of bounds (the sanitizer
// checks `out` of exactly n), and where the full decode succeeded it must
// succeed too and give the same first `want` values.
template <typename T, typename Dec, typename Pre>
void CheckPrefix(std::string_view in, size_t n, Dec decode, Pre prefix) {
  const size_t want = n / 2;
  std::vector<T> full(n), part(n);
  const bool full_ok = decode(in, n, full.data()).ok();
  const bool part_ok = prefix(in, n, want, part.data()).ok();
  if (full_ok && !part_ok) abort();
  if (full_ok && want && std::memcmp(full.data(), part.data(), want * sizeof(T)) != 0) abort();
}

void CheckTimestampsUntil(std::string_view in, size_t n) {
  std::vector<int64_t> full(n), part(n);
  const bool full_ok = DecodeTimestamps(in, n, full.data()).ok();
  const int64_t max_time = full_ok && n ? full[n / 2] : 0;
  size_t decoded = 0;
  const bool part_ok = DecodeTimestampsUntil(in, n, max_time, part.data(), &decoded).ok();
  if (decoded > n) abort();
  if (full_ok && !part_ok) abort();
  if (full_ok && decoded && std::memcmp(full.data(), part.data(), decoded * sizeof(int64_t)) != 0) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const int family = data[0] % 6;
  size_t n = data[1] | (static_cast<size_t>(data[2]) << 8);
  const std::string_view in(reinterpret_cast<const char*>(data + 3), size - 3);
  switch (family) {
    case 0:
      Check<int64_t>(in, n, DecodeTimestamps,
                     [](const int64_t* v, size_t m, std::string* o) { EncodeTimestamps(v, m, o); });
      CheckTimestampsUntil(in, n);
      break;
    case 1:
      Check<double>(in, n, DecodeFloats,
                    [](const double* v, size_t m, std::string* o) { EncodeFloats(v, m, o); });
      Check<double>(in, n, DecodeFloats, [](const double* v, size_t m, std::string* o) {
        EncodeFloats(v, m, o, FloatMode::kGorillaOnly);
      });
      CheckPrefix<double>(in, n, DecodeFloats, DecodeFloatsPrefix);
      break;
    case 2:
      Check<int64_t>(in, n, DecodeIntegers,
                     [](const int64_t* v, size_t m, std::string* o) { EncodeIntegers(v, m, o); });
      CheckPrefix<int64_t>(in, n, DecodeIntegers, DecodeIntegersPrefix);
      break;
    case 3:
      Check<uint64_t>(in, n, DecodeUnsigned,
                      [](const uint64_t* v, size_t m, std::string* o) { EncodeUnsigned(v, m, o); });
      CheckPrefix<uint64_t>(in, n, DecodeUnsigned, DecodeUnsignedPrefix);
      break;
    case 4:
      Check<uint8_t>(in, n, DecodeBooleans,
                     [](const uint8_t* v, size_t m, std::string* o) { EncodeBooleans(v, m, o); });
      break;
    default: {
      // Strings materialise n copies of entries: keep n small enough that a
      // constant column of a long string stays within the fuzzer's memory.
      n %= 1024;
      std::vector<std::string> out;
      if (!DecodeStrings(in, n, &out).ok()) break;
      if (out.size() != n) abort();
      std::vector<std::string_view> sv(out.begin(), out.end());
      std::string again;
      EncodeStrings(sv.data(), n, &again);
      std::vector<std::string> back;
      if (!DecodeStrings(again, n, &back).ok() || back != out) abort();
      break;
    }
  }
  return 0;
}
