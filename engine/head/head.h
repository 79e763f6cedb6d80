// The head: in-memory columns per (series, field) holding the points written
// since the last flush. One Head takes writes at a time; when it passes the
// memory budget (or its age limit) it is frozen, a new Head takes writes, and
// the frozen one is written to segment files in the background.
//
// Thread-safety: Apply must be serialised by the caller (the DB's write
// mutex); Read, ForEachSorted and the accessors may run concurrently with it.
#ifndef M2MDB_ENGINE_HEAD_HEAD_H_
#define M2MDB_ENGINE_HEAD_HEAD_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

#include "m2mdb/column.h"
#include "m2mdb/types.h"

namespace m2mdb {

// Sorts `c` by time and keeps, of equal timestamps, the one appended last
// (stable sort), so later writes win. Cheap when `c` is already sorted.
void SortByTimeKeepLast(Column* c);

// Appends all of `src` to `dst` (the read merge and compaction join the
// parts of one column with it).
void AppendColumn(const Column& src, Column* dst);

// Removes points of `c` for which drop(t) is true.
template <typename Pred>
void FilterColumn(Column* c, Pred drop) {
  Column out;
  out.type = c->type;
  for (size_t i = 0; i < c->size(); i++) {
    if (!drop(c->times[i])) out.AppendFrom(*c, i);
  }
  *c = std::move(out);
}

// One value to apply. For kString, `str` indexes the batch's string table.
struct HeadEntry {
  uint64_t series_id;
  uint32_t field_id;
  uint32_t db_id;
  FieldType type;
  int64_t time;
  union {
    double f;
    int64_t i;
    uint64_t u;
    bool b;
    uint32_t str;
  };
};

class Head {
 public:
  explicit Head(int64_t created_nanos) : created_nanos_(created_nanos) {}
  Head(const Head&) = delete;
  Head& operator=(const Head&) = delete;

  // REQUIRES: externally serialised with other Apply calls.
  void Apply(const HeadEntry* entries, size_t n, const std::vector<std::string>& strings);

  // Appends the points of (series, field) with min_time <= t <= max_time to
  // `out`, sorted by time with the last write winning on equal timestamps.
  // Returns false if the head has no such column. out->type is set.
  bool Read(uint64_t series_id, uint32_t field_id, int64_t min_time, int64_t max_time, Column* out) const;

  // Calls fn for every column, ordered by (db, series, field), each sorted
  // and deduplicated. For flushing a frozen head.
  void ForEachSorted(const std::function<void(uint32_t db_id, uint64_t series_id, uint32_t field_id,
                                              const Column&)>& fn) const;

  // Estimated bytes (head_append.cc, PointBytes): at least what columns of
  // many points allocate.
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  uint64_t points() const { return points_.load(std::memory_order_relaxed); }
  int64_t created_nanos() const { return created_nanos_; }
  int64_t min_time() const;
  int64_t max_time() const;

  // Set when frozen: every WAL record with seq <= this is in this head or an
  // older one.
  uint64_t wal_seq_end = 0;

 private:
  struct Key {
    uint64_t series_id;
    uint32_t field_id;
    bool operator==(const Key& o) const { return series_id == o.series_id && field_id == o.field_id; }
    template <typename H>
    friend H AbslHashValue(H h, const Key& k) {
      return H::combine(std::move(h), k.series_id, k.field_id);
    }
  };
  // A column is a list of chunks, each `cap` times followed by `cap`
  // values of the column's width (8 bytes, 1 for booleans, none for strings,
  // which are in HeadColumn::strings). Chunks never move, so appending never
  // copies and what is allocated stays within one chunk of what is held;
  // std::vector's doubling held up to 2x the points (all columns of a
  // regular load double at once) plus the copies of each reallocation.
  struct Chunk {
    std::unique_ptr<unsigned char[]> mem;
    uint32_t cap = 0;
  };
  struct HeadColumn {
    uint32_t db_id = 0;
    uint64_t series_id = 0;
    uint32_t field_id = 0;
    // Guarded by Head::mu_. `sorted` means strictly increasing times.
    FieldType type = FieldType::kFloat;
    bool sorted = true;
    uint32_t room = 0;  // free slots in the last chunk
    size_t size = 0;
    int64_t last_time = 0;         // of the last append
    int64_t* next_time = nullptr;  // the last chunk's next free slots
    unsigned char* next_value = nullptr;
    std::vector<Chunk> chunks;
    std::vector<std::string> strings;  // kString
  };

  // Chunks grow with the column (a column of a few points takes little) up
  // to kMaxChunk points, so a column wastes at most one chunk's free tail.
  static constexpr uint32_t kMinChunk = 8;
  static constexpr uint32_t kMaxChunk = 256;

  static size_t ValueWidth(FieldType t) {
    return t == FieldType::kBoolean ? 1 : t == FieldType::kString ? 0 : 8;
  }
  // Appends a chunk for at least one more point.
  static void AddChunk(HeadColumn* c);
  // Frees the column's points.
  static void ClearColumn(HeadColumn* c);
  // Appends points [b, e) of `c` (in chunk order) to `out`.
  static void CopyOut(const HeadColumn& c, size_t b, size_t e, Column* out);

  // The columns of one series, found with one hash lookup per point; a
  // series has few fields, so a linear scan beats a second hash lookup.
  struct SeriesSlot {
    std::vector<std::pair<uint32_t, HeadColumn*>> fields;
  };

  // Sorts and deduplicates `c` in place. REQUIRES: mu_ held exclusively.
  void Normalize(HeadColumn* c) const;

  const int64_t created_nanos_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<Key, std::unique_ptr<HeadColumn>> columns_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, SeriesSlot> series_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> points_{0};
  std::atomic<int64_t> min_time_{INT64_MAX};
  std::atomic<int64_t> max_time_{INT64_MIN};
};

}  // namespace m2mdb

#endif  // M2MDB_ENGINE_HEAD_HEAD_H_
