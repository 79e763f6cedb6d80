// m2mdb/change_listener.h — a hook that tells a layer above the engine which
// series and time ranges every write, delete and drop touches, with the
// durability of the write itself. The query layer's continuous queries
// (m2mdb/query/continuous.h) use it to mark rollup windows dirty.
//
// Contract (see docs/architecture.md, "Continuous queries"):
//   OnWrite     synchronously for every committed write, after its WAL
//               append and before it is applied or acknowledged, under the
//               engine's write lock: it must be fast and must not call the
//               DB. Also for every record replayed from the WAL at Open
//               (replay = true), so the marks of acknowledged writes that
//               were not yet checkpointed come back after kill -9.
//   OnDelete    before a Delete, DropSeries, DropMeasurement or DropDatabase
//               is applied, with what it covers; it may read the DB (the
//               series still exist) but not write points. A non-OK status
//               aborts the delete, so a crash can over-invalidate, never
//               under-invalidate.
//   OnDeleteApplied  after that delete is visible to reads.
//   Checkpoint  before a flush moves the WAL checkpoint (after which the WAL
//               records of the flushed writes are never replayed again): the
//               listener must make durable every mark it has received. A
//               non-OK status fails the flush and the WAL is kept.
// Options::change_listener must outlive the DB (Close flushes, which calls
// Checkpoint).
#ifndef M2MDB_CHANGE_LISTENER_H_
#define M2MDB_CHANGE_LISTENER_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "m2mdb/db.h"

namespace m2mdb {

// One series of a write: the time range of the points the write gave it.
struct ChangedSeries {
  uint64_t series_id = 0;  // engine id; never reused for another key
  int64_t min_time = 0;
  int64_t max_time = 0;
};

// Turns the series ids of a WriteChange into measurement and tags.
class SeriesLookup {
 public:
  virtual ~SeriesLookup() = default;
  // False if the id is unknown (dropped since).
  virtual bool Describe(uint64_t series_id, SeriesKey* out) const = 0;
};

struct WriteChange {
  std::string_view database;
  std::string_view retention_policy;      // the policy the write went to (never empty)
  const ChangedSeries* series = nullptr;  // one entry per series of the batch
  size_t count = 0;
  const SeriesLookup* lookup = nullptr;  // valid during the call only
  bool replay = false;
};

struct DeleteChange {
  enum class Kind : uint8_t { kDelete, kDropSeries, kDropMeasurement, kDropDatabase };
  Kind kind = Kind::kDelete;
  std::string_view database;
  std::string_view retention_policy;                  // empty = every policy of the database
  std::string_view measurement;                       // empty = every measurement
  const std::vector<TagMatcher>* matchers = nullptr;  // null or empty = every series
  int64_t min_time = kMinTime;
  int64_t max_time = kMaxTime;
};

class ChangeListener {
 public:
  virtual ~ChangeListener() = default;
  // A cheap filter asked before the engine gathers a write's series: false
  // skips OnWrite for the batch. Called under the write lock.
  virtual bool Watches(std::string_view database) = 0;
  virtual void OnWrite(const WriteChange& change) = 0;
  virtual Status OnDelete(DB& db, const DeleteChange& change) = 0;
  // After the delete that OnDelete announced is visible to reads (deletes
  // are serialised, so it is the last OnDelete's). A listener that acted on
  // OnDelete's marks in between (read data the delete then removed) marks
  // again here. Default: nothing.
  virtual void OnDeleteApplied(const DeleteChange& change) { (void)change; }
  virtual Status Checkpoint(DB& db) = 0;
};

}  // namespace m2mdb

#endif  // M2MDB_CHANGE_LISTENER_H_
