// The head's shared pieces: the column helpers (sorting with the last write
// winning, appending; also used by the read merge and compaction), the
// chunks a head column is stored in, and the accessors. Writes are in
// head_append.cc, reads in head_read.cc.
#include "engine/head/head.h"

#include <algorithm>
#include <cstring>
#include <numeric>

namespace m2mdb {

void SortByTimeKeepLast(Column* c) {
  const size_t n = c->size();
  bool sorted = true;
  for (size_t i = 1; i < n && sorted; i++) sorted = c->times[i] > c->times[i - 1];
  if (sorted) return;
  std::vector<uint32_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0u);
  // Stable: among equal timestamps the later write stays later, and the
  // last of each run is the one kept.
  std::stable_sort(idx.begin(), idx.end(), [&](uint32_t a, uint32_t b) { return c->times[a] < c->times[b]; });
  Column out;
  out.type = c->type;
  out.reserve(n);
  for (size_t k = 0; k < n; k++) {
    if (k + 1 < n && c->times[idx[k + 1]] == c->times[idx[k]]) continue;  // a later write wins
    out.AppendFrom(*c, idx[k]);
  }
  *c = std::move(out);
}

void AppendColumn(const Column& src, Column* dst) {
  dst->times.insert(dst->times.end(), src.times.begin(), src.times.end());
  dst->floats.insert(dst->floats.end(), src.floats.begin(), src.floats.end());
  dst->ints.insert(dst->ints.end(), src.ints.begin(), src.ints.end());
  dst->uints.insert(dst->uints.end(), src.uints.begin(), src.uints.end());
  dst->bools.insert(dst->bools.end(), src.bools.begin(), src.bools.end());
  dst->strings.insert(dst->strings.end(), src.strings.begin(), src.strings.end());
}

void Head::AddChunk(HeadColumn* c) {
  const uint32_t cap = static_cast<uint32_t>(std::clamp<size_t>(c->size, kMinChunk, kMaxChunk));
  const size_t bytes = size_t{cap} * (8 + ValueWidth(c->type));
  Chunk& ch = c->chunks.emplace_back();
  // Uninitialised on purpose: every slot is written before it is read.
  ch.mem.reset(new unsigned char[bytes]);
  ch.cap = cap;
  c->room = cap;
  c->next_time = reinterpret_cast<int64_t*>(ch.mem.get());
  c->next_value = ch.mem.get() + size_t{cap} * 8;
}

void Head::ClearColumn(HeadColumn* c) {
  c->chunks = std::vector<Chunk>();
  c->strings = std::vector<std::string>();
  c->size = 0;
  c->room = 0;
  c->next_time = nullptr;
  c->next_value = nullptr;
  c->sorted = true;
}

void Head::CopyOut(const HeadColumn& c, size_t b, size_t e, Column* out) {
  const size_t w = ValueWidth(c.type);
  size_t base = 0;  // index of the chunk's first point
  for (size_t k = 0; k < c.chunks.size() && base < e; k++) {
    const Chunk& ch = c.chunks[k];
    const size_t n = k + 1 == c.chunks.size() ? ch.cap - c.room : ch.cap;
    const size_t lo = std::max(b, base), hi = std::min(e, base + n);
    if (lo < hi) {
      const int64_t* t = reinterpret_cast<const int64_t*>(ch.mem.get());
      out->times.insert(out->times.end(), t + (lo - base), t + (hi - base));
      const unsigned char* v = ch.mem.get() + size_t{ch.cap} * 8 + (lo - base) * w;
      auto put = [&](auto* to) {
        const size_t at = to->size();
        to->resize(at + (hi - lo));
        std::memcpy(to->data() + at, v, (hi - lo) * w);
      };
      switch (c.type) {
        case FieldType::kFloat:
          put(&out->floats);
          break;
        case FieldType::kInteger:
          put(&out->ints);
          break;
        case FieldType::kUnsigned:
          put(&out->uints);
          break;
        case FieldType::kBoolean:
          put(&out->bools);
          break;
        case FieldType::kString:
          out->strings.insert(out->strings.end(), c.strings.begin() + lo, c.strings.begin() + hi);
          break;
      }
    }
    base += n;
  }
}

void Head::Normalize(HeadColumn* c) const {
  Column col;
  col.type = c->type;
  col.reserve(c->size);
  CopyOut(*c, 0, c->size, &col);
  SortByTimeKeepLast(&col);
  ClearColumn(c);
  // One chunk of exactly the sorted points; appends go to new chunks.
  const size_t n = col.size(), w = ValueWidth(col.type);
  Chunk& ch = c->chunks.emplace_back();
  ch.mem.reset(new unsigned char[n * (8 + w)]);
  ch.cap = static_cast<uint32_t>(n);
  std::memcpy(ch.mem.get(), col.times.data(), n * 8);
  unsigned char* v = ch.mem.get() + n * 8;
  switch (col.type) {
    case FieldType::kFloat:
      std::memcpy(v, col.floats.data(), n * w);
      break;
    case FieldType::kInteger:
      std::memcpy(v, col.ints.data(), n * w);
      break;
    case FieldType::kUnsigned:
      std::memcpy(v, col.uints.data(), n * w);
      break;
    case FieldType::kBoolean:
      std::memcpy(v, col.bools.data(), n * w);
      break;
    case FieldType::kString:
      c->strings = std::move(col.strings);
      break;
  }
  c->size = n;
  c->last_time = col.times.back();
  c->room = 0;
  c->sorted = true;
}

int64_t Head::min_time() const { return min_time_.load(std::memory_order_relaxed); }
int64_t Head::max_time() const { return max_time_.load(std::memory_order_relaxed); }

}  // namespace m2mdb
