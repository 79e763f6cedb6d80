// kZstd: a zstd frame around another encoded column.
//
//   | 10 | n varint | inner id u8 | inner size varint | zstd frame of the whole inner column |
//
// The inner id is repeated outside the frame so reports can name the nested
// codec without decompressing. Nesting is one level deep: the inner column
// is never kZstd itself. Kept only when it saves at least 1/8 of the size,
// because decompression costs decode speed.
#include <zstd.h>

#include "engine/encoding/internal.h"

namespace m2mdb::encoding::internal {
namespace {

// One compression and one decompression context per thread: creating a
// context per column costs more than compressing a small column.
struct Contexts {
  Contexts() : c(ZSTD_createCCtx()), d(ZSTD_createDCtx()) {}
  ~Contexts() {
    ZSTD_freeCCtx(c);
    ZSTD_freeDCtx(d);
  }
  ZSTD_CCtx* c;
  ZSTD_DCtx* d;
};
Contexts& ThreadContexts() {
  thread_local Contexts contexts;
  return contexts;
}

}  // namespace

bool WrapZstd(std::string_view inner, size_t n, std::string* out, bool force) {
  if (inner.empty() || inner.size() > kMaxZstdInner) return false;
  thread_local std::string frame;
  frame.resize(ZSTD_compressBound(inner.size()));
  const size_t z =
      ZSTD_compressCCtx(ThreadContexts().c, frame.data(), frame.size(), inner.data(), inner.size(), 1);
  if (ZSTD_isError(z)) return false;
  const size_t start = out->size();
  PutHeader(out, CodecId::kZstd, n);
  out->push_back(inner[0]);
  PutVarint64(out, inner.size());
  if (!force && out->size() - start + z > inner.size() - inner.size() / 8) {
    out->resize(start);
    return false;
  }
  out->append(frame.data(), z);
  return true;
}

bool ZstdCompress(std::string_view in, std::string* frame) {
  frame->resize(ZSTD_compressBound(in.size()));
  const size_t z =
      ZSTD_compressCCtx(ThreadContexts().c, frame->data(), frame->size(), in.data(), in.size(), 1);
  if (ZSTD_isError(z)) return false;
  frame->resize(z);
  return true;
}

bool ZstdDecompressExact(std::string_view frame, uint8_t* out, size_t size) {
  // The declared size must match before anything is written: a hostile
  // frame cannot make the decoder produce more or less than `size`.
  if (ZSTD_getFrameContentSize(frame.data(), frame.size()) != size) return false;
  const size_t got = ZSTD_decompressDCtx(ThreadContexts().d, out, size, frame.data(), frame.size());
  return !ZSTD_isError(got) && got == size;
}

Status UnwrapZstd(std::string_view in, size_t n, size_t max_inner, std::string* inner) {
  Cursor c(in);
  RETURN_IF_ERROR(ReadHeader(&c, n));
  uint8_t id;
  uint64_t size;
  if (!c.Byte(&id) || !c.Varint(&size)) return Corrupt("truncated zstd header");
  if (id == static_cast<uint8_t>(CodecId::kZstd)) return Corrupt("nested zstd");
  if (size == 0 || size > max_inner || size > kMaxZstdInner) return Corrupt("bad zstd inner size");
  const std::string_view frame = c.rest();
  const unsigned long long declared = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (declared != size) return Corrupt("zstd frame size mismatch");
  inner->resize(size);
  const size_t got =
      ZSTD_decompressDCtx(ThreadContexts().d, inner->data(), inner->size(), frame.data(), frame.size());
  if (ZSTD_isError(got) || got != size) return Corrupt("zstd frame does not decompress");
  if (static_cast<uint8_t>((*inner)[0]) != id) return Corrupt("zstd inner codec mismatch");
  return absl::OkStatus();
}

}  // namespace m2mdb::encoding::internal
