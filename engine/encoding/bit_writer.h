// Bit-level writers shared by the codecs.
//
// Two shapes of bit stream are used:
//   - BitWriter: a streaming LSB-first writer for variable-length codes
//     (Gorilla). Bit i of the stream is bit (i % 8) of byte i / 8.
//   - PackBits: fixed-width packing of a whole array ("frame of reference"
//     payloads). Value j occupies bits [j*w, (j+1)*w) of the same LSB-first
//     stream, so 64 values of width w fill exactly w 64-bit words. The
//     encoders work in such groups of 64 with a kernel specialised per width.
#ifndef M2MDB_ENGINE_ENCODING_BIT_WRITER_H_
#define M2MDB_ENGINE_ENCODING_BIT_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace m2mdb::encoding::internal {

// Number of bits needed to hold `v` (0 for 0).
inline int BitWidth(uint64_t v) { return v == 0 ? 0 : 64 - __builtin_clzll(v); }

// Bytes taken by `n` values packed at `width` bits.
inline size_t PackedBytes(size_t n, int width) { return (n * static_cast<size_t>(width) + 7) / 8; }

// Appends `n` values, each < 2^width (higher bits are ignored), packed at
// `width` bits (0..64): exactly PackedBytes(n, width) bytes.
void PackBits(const uint64_t* v, size_t n, int width, std::string* out);

// Streaming LSB-first bit writer appending to a string.
class BitWriter {
 public:
  explicit BitWriter(std::string* out) : out_(out) {}

  // Appends the low `count` bits of `v` (count in 0..64).
  void Write(uint64_t v, int count) {
    if (count == 0) return;
    if (count < 64) v &= (uint64_t{1} << count) - 1;
    acc_ |= v << used_;
    if (used_ + count >= 64) {
      Flush64();
      // The bits of `v` that did not fit into the flushed word.
      acc_ = used_ == 0 ? 0 : v >> (64 - used_);
      used_ = used_ + count - 64;
    } else {
      used_ += count;
    }
  }
  // Writes out the partial last word (whole bytes only). Call once at the end.
  void Finish() {
    for (int b = 0; b < used_; b += 8) out_->push_back(static_cast<char>(acc_ >> b));
    acc_ = 0;
    used_ = 0;
  }

 private:
  void Flush64() {
    char b[8];
    for (int i = 0; i < 8; i++) b[i] = static_cast<char>(acc_ >> (8 * i));
    out_->append(b, 8);
  }
  std::string* out_;
  uint64_t acc_ = 0;
  int used_ = 0;  // bits of acc_ in use, always < 64 between calls
};

}  // namespace m2mdb::encoding::internal

#endif  // M2MDB_ENGINE_ENCODING_BIT_WRITER_H_
