// CRC32C (Castagnoli). Uses the SSE4.2 crc32 instruction when the CPU has it
// (checked once at start-up), else a slicing-by-8 table. Debian's Abseil has no
// absl/crc, and the hardware path is what ISA-L would use on x86 anyway.
#ifndef M2MDB_ENGINE_UTIL_CRC32C_H_
#define M2MDB_ENGINE_UTIL_CRC32C_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace m2mdb::crc32c {

// Returns the crc32c of concat(A, data[0,n-1]) where init_crc is the crc32c of A.
uint32_t Extend(uint32_t init_crc, const char* data, size_t n);
inline uint32_t Value(const char* data, size_t n) { return Extend(0, data, n); }
inline uint32_t Value(std::string_view s) { return Extend(0, s.data(), s.size()); }

// A CRC stored next to the data it covers is masked (LevelDB's trick) so that a
// CRC of a string that itself contains CRCs does not degenerate.
constexpr uint32_t kMaskDelta = 0xa282ead8ul;
inline uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }
inline uint32_t Unmask(uint32_t masked) {
  uint32_t rot = masked - kMaskDelta;
  return ((rot >> 17) | (rot << 15));
}

}  // namespace m2mdb::crc32c

#endif  // M2MDB_ENGINE_UTIL_CRC32C_H_
