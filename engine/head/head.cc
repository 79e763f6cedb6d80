// The head's shared pieces: the column helpers (sorting with the last write
// winning, appending; also used by the read merge and compaction) and the
// accessors. Writes are
// in head_append.cc, reads in head_read.cc.
#include "engine/head/head.h"

#include <algorithm>
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

void Head::Normalize(HeadColumn* hc) {
  SortByTimeKeepLast(&hc->col);
  hc->sorted = true;
}

int64_t Head::min_time() const { return min_time_.load(std::memory_order_relaxed); }
int64_t Head::max_time() const { return max_time_.load(std::memory_order_relaxed); }

}  // namespace m2mdb
