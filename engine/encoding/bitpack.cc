// Fixed-width bit packing, specialised per width.
//
// Layout (see bit_writer.h): value j of a block sits at bits [j*w, (j+1)*w)
// of an LSB-first stream. A group of 64 values is exactly w 64-bit words, so
// the kernels below work on whole groups with every shift and word index a
// compile-time constant (one instantiation per width, selected once per
// block). The last, partial group goes through a zero-padded scratch buffer
// so that the kernels can always load whole words without reading past the
// input.
#include <array>
#include <utility>

#include "engine/encoding/bit_reader.h"
#include "engine/encoding/bit_writer.h"

namespace m2mdb::encoding::internal {
namespace {

template <int W>
constexpr uint64_t Mask() {
  if constexpr (W == 64) {
    return ~uint64_t{0};
  } else {
    return (uint64_t{1} << W) - 1;
  }
}

template <int W, size_t J>
inline void UnpackOne(const uint8_t* in, uint64_t* out) {
  constexpr size_t kBit = J * W;
  constexpr size_t kWord = kBit / 64;
  constexpr unsigned kOff = kBit % 64;
  uint64_t v = Load64(in + kWord * 8) >> kOff;
  if constexpr (kOff + W > 64) v |= Load64(in + (kWord + 1) * 8) << (64 - kOff);
  out[J] = v & Mask<W>();
}

template <int W, size_t... J>
inline void UnpackAll(const uint8_t* in, uint64_t* out, std::index_sequence<J...>) {
  (UnpackOne<W, J>(in, out), ...);
}

template <int W>
void UnpackGroup(const uint8_t* in, uint64_t* out) {
  if constexpr (W == 0) {
    for (int j = 0; j < 64; j++) out[j] = 0;
  } else if constexpr (W == 64) {
    std::memcpy(out, in, 64 * 8);
  } else {
    UnpackAll<W>(in, out, std::make_index_sequence<64>());
  }
}

template <int W, size_t J>
inline void PackOne(const uint64_t* in, uint64_t* words) {
  constexpr size_t kBit = J * W;
  constexpr size_t kWord = kBit / 64;
  constexpr unsigned kOff = kBit % 64;
  const uint64_t v = in[J] & Mask<W>();
  words[kWord] |= v << kOff;
  if constexpr (kOff + W > 64) words[kWord + 1] |= v >> (64 - kOff);
}

template <int W, size_t... J>
inline void PackAll(const uint64_t* in, uint64_t* words, std::index_sequence<J...>) {
  (PackOne<W, J>(in, words), ...);
}

// Packs 64 values into exactly W words at `out`.
template <int W>
void PackGroup(const uint64_t* in, uint8_t* out) {
  if constexpr (W == 64) {
    std::memcpy(out, in, 64 * 8);
  } else if constexpr (W > 0) {
    uint64_t words[W] = {};
    PackAll<W>(in, words, std::make_index_sequence<64>());
    std::memcpy(out, words, W * 8);
  }
}

using PackGroupFn = void (*)(const uint64_t* in, uint8_t* out);

template <size_t... W>
constexpr std::array<UnpackGroupFn, 65> MakeUnpackTable(std::index_sequence<W...>) {
  return {&UnpackGroup<static_cast<int>(W)>...};
}
template <size_t... W>
constexpr std::array<PackGroupFn, 65> MakePackTable(std::index_sequence<W...>) {
  return {&PackGroup<static_cast<int>(W)>...};
}

constexpr std::array<UnpackGroupFn, 65> kUnpack = MakeUnpackTable(std::make_index_sequence<65>());
constexpr std::array<PackGroupFn, 65> kPack = MakePackTable(std::make_index_sequence<65>());

}  // namespace

UnpackGroupFn UnpackGroupKernel(int width) { return kUnpack[width]; }

void UnpackBits(const uint8_t* in, size_t n, int width, uint64_t* out) {
  const UnpackGroupFn fn = kUnpack[width];
  const size_t group_bytes = 8 * static_cast<size_t>(width);
  size_t i = 0;
  for (; i + 64 <= n; i += 64, in += group_bytes) fn(in, out + i);
  const size_t rest = n - i;
  if (rest == 0) return;
  // Partial last group: pad so the kernel may load whole words.
  alignas(64) uint8_t pad[64 * 8] = {};
  std::memcpy(pad, in, PackedBytes(rest, width));
  alignas(64) uint64_t tmp[64];
  fn(pad, tmp);
  std::memcpy(out + i, tmp, rest * 8);
}

void PackBits(const uint64_t* v, size_t n, int width, std::string* out) {
  const size_t start = out->size();
  out->resize(start + PackedBytes(n, width));
  if (width == 0) return;
  auto* dst = reinterpret_cast<uint8_t*>(out->data() + start);
  const PackGroupFn fn = kPack[width];
  const size_t group_bytes = 8 * static_cast<size_t>(width);
  size_t i = 0;
  for (; i + 64 <= n; i += 64, dst += group_bytes) fn(v + i, dst);
  const size_t rest = n - i;
  if (rest == 0) return;
  alignas(64) uint64_t tmp[64] = {};
  std::memcpy(tmp, v + i, rest * 8);
  alignas(64) uint8_t pad[64 * 8];
  fn(tmp, pad);
  std::memcpy(dst, pad, PackedBytes(rest, width));
}

}  // namespace m2mdb::encoding::internal
