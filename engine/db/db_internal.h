// What the files of DBImpl share and nobody else sees: the clock, the
// per-write scratch (ApplyContext, with WritePoints' remembered
// series) and the Resolver that every write and replayed record goes
// through. Column and tombstone helpers are in engine/head/head.h and
// engine/compaction/version.h.
// Included only by engine/db/db_*.cc.
#ifndef M2MDB_ENGINE_DB_DB_INTERNAL_H_
#define M2MDB_ENGINE_DB_DB_INTERNAL_H_

#include <chrono>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"

#include "engine/db/db_impl.h"
#include "engine/lineproto/lineproto.h"
#include "engine/util/time_math.h"

namespace m2mdb {

inline int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// An error of the metadata store itself rather than of the line (a type
// conflict is kFailedPrecondition, a bad key kInvalidArgument).
inline bool IsStorageError(const Status& s) {
  return absl::IsResourceExhausted(s) || absl::IsUnavailable(s) || absl::IsInternal(s) || absl::IsDataLoss(s);
}

// A series WritePoints has written before (ApplyContext::typed_series).
struct DBImpl::TypedSeries {
  uint64_t id = 0;
  std::string wal_series;  // EncodeWalPointSeries of the series
};

// Scratch for the write path, leased per write (DBImpl::ContextLease): reused so steady-state writes do
// not allocate.
struct DBImpl::ApplyContext {
  lineproto::Parser parser;
  std::vector<HeadEntry> entries;
  std::vector<std::string> strings;
  std::string key;
  std::vector<int> rejected;
  std::string record;
  std::vector<lineproto::LineError> parse_errors;
  // WritePoints and type-2 replay: the current point as the parser would
  // have produced it, its series key, its field keys joined (TypedPointToParsed)
  // and a slow-path point's text.
  lineproto::Point typed;
  std::string typed_key;
  std::string typed_names;
  // Typed points whose names were checked before, so the next point of the
  // same series or with the same field keys skips the checks, the sort of
  // its tags, the canonical key and the series' part of its WAL entry
  // (most of WritePoints' cost; callgrind, docs/benchmarks.md):
  // - series by the point's series as given: measurement and tags in the
  //   point's order joined like line protocol, then each name's length, so
  //   that equal keys mean equal names (the text alone is ambiguous when a
  //   name holds ',' or '='). Valid like series_cache, cleared with it.
  absl::flat_hash_map<std::string, TypedSeries> typed_series;
  std::string typed_lookup;  // the current point's key into typed_series
  // - the last few field-key lists that passed the checks.
  std::vector<std::vector<std::string>> typed_fields;
  size_t typed_fields_next = 0;
  std::string line;
  // The batch's series for Options::change_listener (NotifyWrite).
  std::vector<ChangedSeries> changes;
  std::string replay_database;          // ResolveReplayRecord: the record's database
  std::string replay_retention_policy;  // and the policy it resolved to
  uint64_t points = 0;
  // The metadata store failed to create a series or field (e.g. a full
  // disk): not the line's fault, so the whole write fails with it.
  Status storage_error;
  // Series ids by the series text as written in the request ("m,k=v"): most
  // lines repeat a known series, and this skips building the canonical key.
  // Valid for one (DB instance, database, series epoch).
  absl::flat_hash_map<std::string, uint64_t> series_cache;
  uint64_t cache_instance = 0;
  uint32_t cache_db = 0;
  uint64_t cache_epoch = 0;
  void Reset() {
    entries.clear();
    strings.clear();
    rejected.clear();
    parse_errors.clear();
    points = 0;
    storage_error = absl::OkStatus();
  }
};

// The resolution step every write goes through, whatever form its points
// came in (line protocol, typed points, either kind of WAL record on replay):
// retention, series id (with the writer's series cache and the series
// limit), field ids and type checks (with the shape cache), and the head
// entries. One per batch.
class DBImpl::Resolver {
 public:
  Resolver(DBImpl* db, const index::DatabaseInfo& info, bool replay, ApplyContext* ctx,
           std::vector<WriteError>* errors)
      : db_(db),
        info_(info),
        replay_(replay),
        ctx_(ctx),
        errors_(errors),
        retention_cutoff_(info.retention_ns > 0 ? SatSub(NowNanos(), info.retention_ns) : kMinTime) {
    shapes_.reserve(kMaxShapes);
    const uint64_t epoch = db->series_epoch_.load(std::memory_order_acquire);
    if (ctx->cache_instance != db->instance_id_ || ctx->cache_db != info.id || ctx->cache_epoch != epoch ||
        ctx->series_cache.size() > (1u << 20) || ctx->typed_series.size() > (1u << 20)) {
      ctx->series_cache.clear();
      ctx->typed_series.clear();
      ctx->cache_instance = db->instance_id_;
      ctx->cache_db = info.id;
      ctx->cache_epoch = epoch;
    }
  }

  void Reject(int line, std::string reason, ErrorKind kind = ErrorKind::kUnspecified) {
    ctx_->rejected.push_back(line);
    if (errors_) errors_->push_back({line, std::move(reason), kind});
  }

  // Resolves `p` (p.line names it in errors) into head entries in ctx;
  // false if it was rejected (reported) or, on replay, skipped.
  bool Resolve(const lineproto::Point& p) {
    uint64_t series_id = 0;
    return Resolve(p, &series_id);
  }
  // As above, with the point's series id if the caller knows it
  // (*series_id != 0); otherwise sets *series_id when it finds one.
  bool Resolve(const lineproto::Point& p, uint64_t* series_id);

 private:
  // Field ids of recent line shapes (measurement + field keys and types),
  // reused when a line has the same shape: telemetry batches interleave a
  // few measurements (e.g. readings and diagnostics lines of each truck), so
  // remembering only the previous line's shape missed on every line and each
  // value paid three index hash lookups (perf, iot ingest: ~12 % of server
  // CPU). Scoped to the batch, so schema changes between batches are seen.
  struct Shape {
    std::string measurement;
    std::vector<std::pair<std::string, index::FieldInfo>> fields;
  };
  static constexpr size_t kMaxShapes = 8;
  static bool SameShape(const Shape& s, const lineproto::Point& p) {
    if (p.measurement != s.measurement || p.fields.size() != s.fields.size()) return false;
    for (size_t k = 0; k < p.fields.size(); k++) {
      if (p.fields[k].key != s.fields[k].first || p.fields[k].type != s.fields[k].second.type) return false;
    }
    return true;
  }

  DBImpl* const db_;
  const index::DatabaseInfo& info_;
  const bool replay_;
  ApplyContext* const ctx_;
  std::vector<WriteError>* const errors_;
  const int64_t retention_cutoff_;
  std::vector<Shape> shapes_;
  size_t next_shape_ = 0;  // round-robin victim once full
  size_t last_shape_ = 0;
};

}  // namespace m2mdb

#endif  // M2MDB_ENGINE_DB_DB_INTERNAL_H_
