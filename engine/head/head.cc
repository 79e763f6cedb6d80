#include "engine/db/head.h"

#include <algorithm>
#include <numeric>

namespace m2mdb {
namespace {

// Estimated bytes per point by type, counting vector slack (x1.5 on average).
uint64_t PointBytes(FieldType t) { return t == FieldType::kBoolean ? 14 : 24; }
constexpr uint64_t kColumnOverhead = 160;
// Series with up to this many fields find a column by a linear scan of
// their slot; wider ones through the column map.
constexpr size_t kLinearFields = 16;

}  // namespace

void Head::Apply(const HeadEntry* entries, size_t n, const std::vector<std::string>& strings) {
  absl::MutexLock l(&mu_);
  uint64_t added_bytes = 0;
  int64_t lo = min_time_.load(std::memory_order_relaxed), hi = max_time_.load(std::memory_order_relaxed);
  // Pass 1 resolves every entry's column (one hash lookup per series run);
  // pass 2 appends. Splitting them lets pass 2 prefetch the columns a few
  // entries ahead: with thousands of series each append touches a cold
  // column, and those cache misses dominated Apply in perf.
  thread_local std::vector<HeadColumn*> cols;
  cols.resize(n);
  SeriesSlot* slot = nullptr;
  uint64_t slot_series = 0;
  for (size_t k = 0; k < n; k++) {
    const HeadEntry& e = entries[k];
    if (slot == nullptr || slot_series != e.series_id) {
      // flat_hash_map moves values on rehash, so the pointer is only trusted
      // until the next insert into series_, which only happens here.
      slot = &series_[e.series_id];
      slot_series = e.series_id;
    }
    HeadColumn* c = nullptr;
    if (slot->fields.size() <= kLinearFields) {
      for (const auto& [fid, col] : slot->fields) {
        if (fid == e.field_id) {
          c = col;
          break;
        }
      }
    } else if (auto it = columns_.find(Key{e.series_id, e.field_id}); it != columns_.end()) {
      // A series with very many fields (one line of 100 k fields): the
      // linear scan made Apply quadratic.
      c = it->second.get();
    }
    if (c == nullptr) {
      auto& owned = columns_[Key{e.series_id, e.field_id}];
      owned = std::make_unique<HeadColumn>();
      owned->db_id = e.db_id;
      owned->series_id = e.series_id;
      owned->field_id = e.field_id;
      owned->col.type = e.type;
      added_bytes += kColumnOverhead;
      c = owned.get();
      slot->fields.emplace_back(e.field_id, c);
    }
    cols[k] = c;
  }
  constexpr size_t kAhead = 8;
  for (size_t k = 0; k < std::min(n, kAhead); k++) __builtin_prefetch(cols[k]);
  for (size_t k = 0; k < n; k++) {
    const HeadEntry& e = entries[k];
    if (k + kAhead < n) __builtin_prefetch(cols[k + kAhead]);
    if (k + kAhead / 2 < n) {
      const Column& ahead = cols[k + kAhead / 2]->col;
      __builtin_prefetch(ahead.times.data() + ahead.times.size(), 1);
      __builtin_prefetch(ahead.floats.data() + ahead.floats.size(), 1);
    }
    HeadColumn* c = cols[k];
    Column& col = c->col;
    // The column's type is fixed by the schema; a mismatch means the schema
    // was dropped and recreated with another type between batches, so the
    // old points are stale: start the column afresh.
    if (col.type != e.type) {
      col.clear();
      col.type = e.type;
      c->sorted = true;
    }
    if (!col.times.empty() && e.time <= col.times.back()) c->sorted = false;
    col.times.push_back(e.time);
    switch (e.type) {
      case FieldType::kFloat: col.floats.push_back(e.f); break;
      case FieldType::kInteger: col.ints.push_back(e.i); break;
      case FieldType::kUnsigned: col.uints.push_back(e.u); break;
      case FieldType::kBoolean: col.bools.push_back(e.b ? 1 : 0); break;
      case FieldType::kString:
        col.strings.push_back(strings[e.str]);
        added_bytes += strings[e.str].size();
        break;
    }
    added_bytes += PointBytes(e.type);
    lo = std::min(lo, e.time);
    hi = std::max(hi, e.time);
  }
  min_time_.store(lo, std::memory_order_relaxed);
  max_time_.store(hi, std::memory_order_relaxed);
  bytes_.fetch_add(added_bytes, std::memory_order_relaxed);
  points_.fetch_add(n, std::memory_order_relaxed);
}

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

void Head::Normalize(HeadColumn* hc) {
  SortByTimeKeepLast(&hc->col);
  hc->sorted = true;
}

bool Head::Read(uint64_t series_id, uint32_t field_id, int64_t min_time, int64_t max_time, Column* out) const {
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
    case FieldType::kFloat: out->floats.insert(out->floats.end(), col.floats.begin() + lo, col.floats.begin() + hi); break;
    case FieldType::kInteger: out->ints.insert(out->ints.end(), col.ints.begin() + lo, col.ints.begin() + hi); break;
    case FieldType::kUnsigned: out->uints.insert(out->uints.end(), col.uints.begin() + lo, col.uints.begin() + hi); break;
    case FieldType::kBoolean: out->bools.insert(out->bools.end(), col.bools.begin() + lo, col.bools.begin() + hi); break;
    case FieldType::kString:
      out->strings.insert(out->strings.end(), col.strings.begin() + lo, col.strings.begin() + hi);
      break;
  }
  return true;
}

void Head::ForEachSorted(
    const std::function<void(uint32_t db_id, uint64_t series_id, uint32_t field_id, const Column&)>& fn) const {
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

int64_t Head::min_time() const { return min_time_.load(std::memory_order_relaxed); }
int64_t Head::max_time() const { return max_time_.load(std::memory_order_relaxed); }

}  // namespace m2mdb
