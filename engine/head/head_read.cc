// The head's read path: Head::Read for queries and Head::ForEachSorted for a
// flush, both sorting a column on its first read (Apply only appends).
#include <algorithm>

#include "engine/head/head.h"

namespace m2mdb {

bool Head::Read(uint64_t series_id, uint32_t field_id, int64_t min_time, int64_t max_time,
                Column* out) const {
  HeadColumn* c = nullptr;
  bool need_sort = false;
  {
    absl::ReaderMutexLock l(&mu_);
    auto it = columns_.find(Key{series_id, field_id});
    if (it == columns_.end()) return false;
    c = it->second.get();
    need_sort = !c->sorted;
  }
  if (need_sort) {
    // Sorting in place is safe: Apply only appends, and it holds mu_ too.
    absl::MutexLock l(&mu_);
    if (!c->sorted) Normalize(c);
  }
  absl::ReaderMutexLock l(&mu_);
  out->type = c->type;
  // The first point at or after min_time and the first after max_time,
  // found chunk by chunk (the chunks are in time order once sorted).
  size_t lo = 0, hi = 0, base = 0;
  bool lo_found = false;
  for (size_t k = 0; k < c->chunks.size(); k++) {
    const Chunk& ch = c->chunks[k];
    const size_t n = k + 1 == c->chunks.size() ? ch.cap - c->room : ch.cap;
    const int64_t* t = reinterpret_cast<const int64_t*>(ch.mem.get());
    if (n == 0) continue;
    if (!lo_found && t[n - 1] >= min_time) {
      lo = base + (std::lower_bound(t, t + n, min_time) - t);
      lo_found = true;
    }
    if (t[n - 1] > max_time) {
      hi = base + (std::upper_bound(t, t + n, max_time) - t);
      break;
    }
    base += n;
    hi = base;
  }
  if (lo_found && lo < hi) CopyOut(*c, lo, hi, out);
  return true;
}

void Head::ForEachSorted(const std::function<void(uint32_t db_id, uint64_t series_id, uint32_t field_id,
                                                  const Column&)>& fn) const {
  std::vector<HeadColumn*> cols;
  {
    absl::MutexLock l(&mu_);
    cols.reserve(columns_.size());
    for (auto& [k, c] : columns_) {
      if (!c->sorted) Normalize(c.get());
      cols.push_back(c.get());
    }
  }
  // Readers may run during the (slow) callbacks; Apply may too on an active
  // head, so hold the lock shared while reading the columns.
  absl::ReaderMutexLock l(&mu_);
  std::sort(cols.begin(), cols.end(), [](const HeadColumn* a, const HeadColumn* b) {
    if (a->db_id != b->db_id) return a->db_id < b->db_id;
    if (a->series_id != b->series_id) return a->series_id < b->series_id;
    return a->field_id < b->field_id;
  });
  // One column at a time is made contiguous for the segment writer.
  Column col;
  for (HeadColumn* c : cols) {
    if (c->size == 0) continue;
    col.clear();
    col.type = c->type;
    CopyOut(*c, 0, c->size, &col);
    fn(c->db_id, c->series_id, c->field_id, col);
  }
}

}  // namespace m2mdb
