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
  const Column& col = c->col;
  out->type = col.type;
  auto lo = std::lower_bound(col.times.begin(), col.times.end(), min_time) - col.times.begin();
  auto hi = std::upper_bound(col.times.begin(), col.times.end(), max_time) - col.times.begin();
  if (lo >= hi) return true;
  out->times.insert(out->times.end(), col.times.begin() + lo, col.times.begin() + hi);
  switch (col.type) {
    case FieldType::kFloat:
      out->floats.insert(out->floats.end(), col.floats.begin() + lo, col.floats.begin() + hi);
      break;
    case FieldType::kInteger:
      out->ints.insert(out->ints.end(), col.ints.begin() + lo, col.ints.begin() + hi);
      break;
    case FieldType::kUnsigned:
      out->uints.insert(out->uints.end(), col.uints.begin() + lo, col.uints.begin() + hi);
      break;
    case FieldType::kBoolean:
      out->bools.insert(out->bools.end(), col.bools.begin() + lo, col.bools.begin() + hi);
      break;
    case FieldType::kString:
      out->strings.insert(out->strings.end(), col.strings.begin() + lo, col.strings.begin() + hi);
      break;
  }
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
  for (HeadColumn* c : cols) {
    if (!c->col.empty()) fn(c->db_id, c->series_id, c->field_id, c->col);
  }
}

}  // namespace m2mdb
