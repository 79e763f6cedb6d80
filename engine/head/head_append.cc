// The head's write path: Head::Apply, one batch of resolved entries into
// the columns under the head's lock (the DB's write mutex serialises
// callers). The read side is head_read.cc, sorting and accessors head.cc.
#include <algorithm>

#include "engine/head/head.h"

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
      case FieldType::kFloat:
        col.floats.push_back(e.f);
        break;
      case FieldType::kInteger:
        col.ints.push_back(e.i);
        break;
      case FieldType::kUnsigned:
        col.uints.push_back(e.u);
        break;
      case FieldType::kBoolean:
        col.bools.push_back(e.b ? 1 : 0);
        break;
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

}  // namespace m2mdb
