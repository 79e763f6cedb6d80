// Bit-level readers matching bit_writer.h.
//
// Every read is bounds-checked against the end of the input: a 64-bit word is
// loaded directly only when 8 bytes remain, otherwise the tail is assembled
// byte by byte, so no reader ever touches memory past the buffer.
#ifndef M2MDB_ENGINE_ENCODING_BIT_READER_H_
#define M2MDB_ENGINE_ENCODING_BIT_READER_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace m2mdb::encoding::internal {

inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Unpacks `n` values of `width` bits (0..64) from `in`, which must hold at
// least PackedBytes(n, width) bytes (the caller checks). Never reads past
// in[PackedBytes(n, width) - 1] and never writes past out[n - 1].
void UnpackBits(const uint8_t* in, size_t n, int width, uint64_t* out);

// Unpacks one group of 64 values of `width` bits from exactly 8*width bytes.
using UnpackGroupFn = void (*)(const uint8_t* in, uint64_t* out);
UnpackGroupFn UnpackGroupKernel(int width);

// Calls f(const uint64_t* vals, size_t count) for consecutive groups of up
// to 64 values unpacked from `in` (which holds PackedBytes(n, width) bytes)
// for as long as f returns true: a reader that needs only the start of a
// block stops there. The kernel is chosen once; `f` is inlined into the loop.
template <typename F>
inline void ForEachPackedGroupWhile(const uint8_t* in, size_t n, int width, F&& f) {
  const UnpackGroupFn fn = UnpackGroupKernel(width);
  const size_t group_bytes = 8 * static_cast<size_t>(width);
  alignas(64) uint64_t tmp[64];
  size_t i = 0;
  for (; i + 64 <= n; i += 64, in += group_bytes) {
    fn(in, tmp);
    if (!f(static_cast<const uint64_t*>(tmp), size_t{64})) return;
  }
  const size_t rest = n - i;
  if (rest == 0) return;
  alignas(64) uint8_t pad[64 * 8] = {};
  std::memcpy(pad, in, (rest * static_cast<size_t>(width) + 7) / 8);
  fn(pad, tmp);
  f(static_cast<const uint64_t*>(tmp), rest);
}

// All groups: f(const uint64_t* vals, size_t count) returns nothing.
template <typename F>
inline void ForEachPackedGroup(const uint8_t* in, size_t n, int width, F&& f) {
  ForEachPackedGroupWhile(in, n, width, [&f](const uint64_t* vals, size_t count) {
    f(vals, count);
    return true;
  });
}

// Unpacks one group of `count` <= 64 values of `width` bits from
// PackedBytes(count, width) bytes into out[0..count).
inline void UnpackGroupN(const uint8_t* in, size_t count, int width, uint64_t* out) {
  const UnpackGroupFn fn = UnpackGroupKernel(width);
  if (count == 64) return fn(in, out);
  alignas(64) uint8_t pad[64 * 8] = {};
  std::memcpy(pad, in, (count * static_cast<size_t>(width) + 7) / 8);
  fn(pad, out);  // out has room for 64 (callers pass a 64-slot scratch)
}

// Streaming LSB-first reader over [data, data + size). Reads past the end
// yield zero bits and set overrun(); callers check it once per block.
class BitReader {
 public:
  BitReader(const uint8_t* data, size_t size) : data_(data), size_(size), bits_(size * 8) {}

  // Returns the next `count` bits (0..56) without consuming them.
  uint64_t Peek(int count) const {
    const size_t byte = pos_ >> 3;
    uint64_t w;
    if (byte + 8 <= size_) {
      w = Load64(data_ + byte);
    } else {
      w = 0;
      for (size_t i = byte, s = 0; i < size_; i++, s += 8) w |= static_cast<uint64_t>(data_[i]) << s;
    }
    w >>= (pos_ & 7);
    return count == 0 ? 0 : w & (~uint64_t{0} >> (64 - count));
  }
  void Skip(int count) { pos_ += count; }

  // Reads `count` bits (0..64).
  uint64_t Read(int count) {
    if (count <= 56) {
      const uint64_t v = Peek(count);
      pos_ += count;
      return v;
    }
    const uint64_t lo = Read(32);
    return lo | (Read(count - 32) << 32);
  }
  bool ReadBit() { return Read(1) != 0; }

  bool overrun() const { return pos_ > bits_; }
  size_t position() const { return pos_; }
  // Bytes consumed, rounding the last partial byte up.
  size_t BytesConsumed() const { return (pos_ + 7) / 8; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t bits_;
  size_t pos_ = 0;
};

}  // namespace m2mdb::encoding::internal

#endif  // M2MDB_ENGINE_ENCODING_BIT_READER_H_
