// The head's write path: Head::Apply, one batch of resolved entries into
// the columns under the head's lock (the DB's write mutex serialises
// callers). The read side is head_read.cc, sorting and accessors head.cc.
#include <algorithm>
#include <cstring>

#include "engine/head/head.h"

namespace m2mdb {
namespace {

// Estimated bytes per point by type: what std::vector columns held on
// average (x1.5 slack). Chunks hold 16 (9 for booleans) plus at most one
// chunk's free tail per column, so for columns of many points the estimate
// bounds the real use; it stays the budget's unit so that a head holds as
// many points, and flushes as often, as it did (a column of a few points
// takes more than its estimate, ~320 bytes for 3 points, as it did before).
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
      owned->type = e.type;
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
      const HeadColumn* ahead = cols[k + kAhead / 2];
      __builtin_prefetch(ahead->next_time, 1);
      __builtin_prefetch(ahead->next_value, 1);
    }
    HeadColumn* c = cols[k];
    // The column's type is fixed by the schema; a mismatch means the schema
    // was dropped and recreated with another type between batches, so the
    // old points are stale: start the column afresh.
    if (c->type != e.type) {
      ClearColumn(c);
      c->type = e.type;
    }
    if (c->room == 0) AddChunk(c);
    if (c->size != 0 && e.time <= c->last_time) c->sorted = false;
    c->last_time = e.time;
    *c->next_time++ = e.time;
    switch (e.type) {
      case FieldType::kBoolean:
        *c->next_value++ = e.b ? 1 : 0;
        break;
      case FieldType::kString:
        c->strings.push_back(strings[e.str]);
        added_bytes += strings[e.str].size();
        break;
      default:  // 8-byte values; the union holds their bits alike
        std::memcpy(c->next_value, &e.u, 8);
        c->next_value += 8;
        break;
    }
    c->room--;
    c->size++;
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
