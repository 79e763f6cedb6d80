// DBImpl ties the engine together: WAL + head for writes, the RocksDB index
// for metadata, segment files for flushed data, and background flush,
// compaction and retention. See docs/architecture.md.
//
// Locks (all absl::Mutex, with thread-safety annotations that clang checks:
// the ctest engine_thread_safety), in the order they may be taken:
//   maint_mu_  serialises flush, compaction, retention, deletes and drops.
//   write_mu_  serialises WAL append + head apply (so WAL order == apply
//              order) and head freezing.
//   state_mu_  guards the published state: active head, frozen heads,
//              segment version (segments + tombstones). Held only briefly.
//   bg_mu_     the background thread's wake-up flags; writers wait on
//              stall_cv_ under it while flushing is behind. Taken alone.
#ifndef M2MDB_ENGINE_DB_DB_IMPL_H_
#define M2MDB_ENGINE_DB_DB_IMPL_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

#include "engine/compaction/compaction.h"
#include "engine/compaction/version.h"
#include "engine/head/head.h"
#include "engine/index/index.h"
#include "engine/lineproto/lineproto.h"
#include "engine/segment/segment.h"
#include "engine/wal/wal.h"
#include "m2mdb/change_listener.h"
#include "m2mdb/db.h"

namespace m2mdb {

class DBImpl : public DB {
 public:
  explicit DBImpl(const Options& options);
  ~DBImpl() override;

  Status OpenImpl();

  Status Close() override;
  Status CreateDatabase(const DatabaseOptions& options) override;
  Status DropDatabase(std::string_view name) override;
  std::vector<DatabaseOptions> ListDatabases() override;
  Status SetRetention(std::string_view name, int64_t retention_ns) override;
  Status CreateRetentionPolicy(std::string_view db, const RetentionPolicyInfo& rp) override;
  Status AlterRetentionPolicy(std::string_view db, std::string_view rp,
                              const RetentionPolicyUpdate& changes) override;
  Status DropRetentionPolicy(std::string_view db, std::string_view rp) override;
  StatusOr<std::vector<RetentionPolicyInfo>> ListRetentionPolicies(std::string_view db) override;
  StatusOr<WriteResult> WriteLineProtocol(std::string_view database, std::string_view body,
                                          const WriteOptions& options) override;
  StatusOr<WriteResult> WritePoints(std::string_view database, const std::vector<Point>& points,
                                    const WriteOptions& options) override;
  Status Scan(const ScanRequest& request, const std::function<Status(const SeriesData&)>& fn) override;
  StatusOr<std::vector<std::string>> Measurements(std::string_view database) override;
  StatusOr<std::vector<std::string>> TagKeys(std::string_view database,
                                             std::string_view measurement) override;
  StatusOr<std::vector<std::string>> TagValues(std::string_view database, std::string_view measurement,
                                               std::string_view tag_key) override;
  StatusOr<std::vector<FieldKey>> FieldKeys(std::string_view database, std::string_view measurement) override;
  StatusOr<std::vector<FieldKey>> FieldKeysIn(std::string_view database, std::string_view retention_policy,
                                              std::string_view measurement) override;
  StatusOr<std::vector<SeriesKey>> Series(std::string_view database, std::string_view measurement,
                                          const std::vector<TagMatcher>& matchers) override;
  Status Delete(const DeleteRequest& request) override;
  Status DropSeries(std::string_view database, std::string_view measurement,
                    const std::vector<TagMatcher>& matchers) override;
  Status DropMeasurement(std::string_view database, std::string_view measurement) override;
  Status Flush() override;
  Status Compact() override;
  Status PutAppMeta(std::string_view key, std::string_view value) override;
  Status DeleteAppMeta(std::string_view key) override;
  StatusOr<std::vector<std::pair<std::string, std::string>>> ListAppMeta(std::string_view prefix) override;
  Status SetWalCursor(std::string_view name, uint64_t next_seq) override;
  Status DeleteWalCursor(std::string_view name) override;
  std::vector<WalCursor> ListWalCursors() override;
  StatusOr<WalReadResult> ReadWalChanges(const WalReadRequest& request,
                                         const std::function<Status(const WalChange&)>& fn) override;
  WalQueueInfo GetWalQueueInfo(uint64_t from_seq) override;
  // Loads the persisted WAL cursors (db_wal_feed.cc), at Open.
  Status LoadWalCursors();
  // The WAL seq below which files may be deleted: the checkpoint + 1, or the
  // oldest cursor if that is lower.
  uint64_t WalRemovalFloor(uint64_t checkpoint_plus_one);
  StatusOr<std::vector<CheckProblem>> Check() override;
  StatusOr<std::vector<RepairedSegment>> Repair() override;
  DBStats Stats() override;
  Status StorageHealth() override;
  // One round of what the background thread does (flush frozen heads,
  // retention, size-tiered compaction), for deterministic tests.
  Status MaintainForTesting();
  // Called by DropDatabase after its first flush, before the database leaves
  // the index (tests write there to race the drop).
  std::function<void()> drop_database_hook_for_testing;
  StatusOr<StorageReport> GetStorageReport() override;

 private:
  struct Snapshot {
    std::shared_ptr<Head> active;
    std::vector<std::shared_ptr<Head>> frozen;  // oldest first
    std::shared_ptr<const Version> version;
  };
  struct ApplyContext;
  struct TypedSeries;
  class Resolver;

  Status CheckOpen() const;
  Status CheckMetaOpen() const;
  // Retention policy `rp` of database `name` (empty = the default):
  // kNotFound "database not found: \"X\"" or "retention policy not found: X".
  StatusOr<index::DatabaseInfo> GetDb(std::string_view name, std::string_view rp = {}) const;
  // Every retention policy of database `name` (kNotFound if it is missing).
  StatusOr<std::vector<index::DatabaseInfo>> DbUnits(std::string_view name) const;
  // Drops the units' segments and then the units (DropDatabase,
  // DropRetentionPolicy), under maint_mu_.
  Status DropUnitsLocked(const std::vector<index::DatabaseInfo>& units, const std::function<Status()>& drop)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(maint_mu_);
  int64_t PartitionNs(const index::DatabaseInfo& db) const;
  std::string SegmentDir() const { return options_.data_dir + "/segments"; }

  // Parses `body` and resolves every valid line to head entries in `ctx`.
  // Lines listed in `skip` (replay) are not applied; lines rejected now are
  // reported in `errors`.
  void ParseAndResolve(const index::DatabaseInfo& db, std::string_view body, lineproto::Precision precision,
                       int64_t default_time, const std::vector<int>* skip, bool replay,
                       uint64_t max_line_length, ApplyContext* ctx, std::vector<WriteError>* errors);
  // The database a write goes to (created if options.create_database), or
  // why the write cannot happen.
  StatusOr<index::DatabaseInfo> DatabaseForWrite(std::string_view database, const WriteOptions& options);
  // Makes a resolved batch durable and visible: WAL append of ctx->record,
  // head apply, freeze when the head is full, then the WAL sync the write
  // options ask for; fills the counts of *result.
  Status CommitWrite(const index::DatabaseInfo& unit, ApplyContext* ctx, WriteResult* result)
      ABSL_LOCKS_EXCLUDED(write_mu_, state_mu_, bg_mu_);
  // WritePoints' fast path: `p` as ctx->typed (views into `p`), or false if
  // only the line-protocol path can say what becomes of it. *known is the
  // point's series if this thread has written it before
  // (ApplyContext::typed_series; ctx->typed then has no tags and no
  // series_raw), else null.
  static bool TypedPointToParsed(const Point& p, uint64_t max_line_length, ApplyContext* ctx,
                                 const TypedSeries** known);
  // Decodes a WAL write record and resolves its lines into ctx->entries
  // (empty if the database was dropped or the record is undecodable).
  void ResolveReplayRecord(std::string_view payload, ApplyContext* ctx);
  // Replays WAL records: parsed on worker threads, applied in WAL order.
  class Replayer;
  // Replays the WAL records after `checkpoint` into the head and opens the
  // WAL into wal_ (read-only: reads it, changes nothing, leaves wal_ null).
  // *replay_bytes counts the bytes replayed.
  Status ReplayWal(const wal::WalOptions& wo, uint64_t checkpoint, uint64_t* replay_bytes);

  Snapshot GetSnapshot();
  // Series ids of `measurement` matching every matcher, with their keys,
  // sorted by key.
  StatusOr<std::vector<std::pair<std::string, uint64_t>>> MatchSeries(
      uint32_t db_id, std::string_view measurement, const std::vector<TagMatcher>& matchers);
  Status ReadSeriesField(const Snapshot& snap, uint32_t db_id, int64_t partition_ns, uint64_t series_id,
                         const index::FieldInfo& field, int64_t min_time, int64_t max_time, Column* out,
                         size_t limit = 0, bool from_end = false, uint64_t* budget = nullptr);
  // ReadSeriesField for a field named in request.summary_fields: blocks that
  // may be summarised (see ScanRequest) go to *summaries, sorted by
  // min_time, the rest are decoded into *out as ReadSeriesField does.
  Status ReadSeriesFieldSummarised(const Snapshot& snap, uint32_t db_id, int64_t partition_ns,
                                   uint64_t series_id, const index::FieldInfo& field,
                                   const ScanRequest& request, Column* out,
                                   std::vector<BlockSummary>* summaries);

  // Freezes the active head if it holds anything.
  Status FreezeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  Status FlushFrozenLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(maint_mu_);
  Status FreezeAndFlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(maint_mu_) ABSL_LOCKS_EXCLUDED(write_mu_);
  Status CompactPartitionLocked(uint32_t db_id, int64_t partition_start,
                                const std::vector<std::shared_ptr<SegmentRef>>& inputs)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(maint_mu_);
  Status CompactLocked(bool all) ABSL_EXCLUSIVE_LOCKS_REQUIRED(maint_mu_);
  Status RetentionLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(maint_mu_);
  Status PruneTombstonesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(maint_mu_);
  // What engine/compaction is given: the databases by id, the options.
  compaction::DatabaseMap DatabasesById() const;
  compaction::CompactionOptions MakeCompactionOptions() const;
  // Publishes a new version with `added` and without `removed`.
  void InstallVersion(const std::vector<std::shared_ptr<SegmentRef>>& added,
                      const std::vector<uint64_t>& removed, const std::vector<index::Tombstone>* tombstones)
      ABSL_LOCKS_EXCLUDED(state_mu_);
  std::shared_ptr<SegmentRef> OpenSegmentRef(const index::SegmentMeta& meta);
  // Whether `seg` can hold points of (db_id, series_id) in [min_time,
  // max_time]. For a segment that failed to open: false if a tombstone
  // hides that data or Options::skip_damaged_blocks (counted), else
  // kDataLoss naming the file (not its path).
  StatusOr<bool> SegmentMayHold(const SegmentRef& seg, const std::vector<index::Tombstone>& tombstones,
                                uint32_t db_id, int64_t partition_ns, uint64_t series_id, int64_t min_time,
                                int64_t max_time);
  // A read of block `h` of `seg` failed with `s`: OK (skipped, counted,
  // logged now and then) with Options::skip_damaged_blocks, else kDataLoss
  // for the client, without the path (the full error goes to the log).
  Status DamagedBlock(const SegmentRef& seg, const segment::BlockHandle& h, const Status& s);
  void NoteSkippedDamage(const std::string& file, const Status& s);

  // Options::change_listener: the series of entries[0, n) (one database)
  // with the time range of their points, one ChangedSeries per series
  // (gathered in *changes, reused so steady-state writes do not allocate).
  void NotifyWrite(std::string_view database, std::string_view retention_policy, const HeadEntry* entries,
                   size_t n, bool replay, std::vector<ChangedSeries>* changes);
  // OnDelete of the change listener, if any.
  Status NotifyDelete(const DeleteChange& change);
  class Lookup;

  void BackgroundLoop() ABSL_LOCKS_EXCLUDED(maint_mu_, bg_mu_);
  void StallIfNeeded() ABSL_LOCKS_EXCLUDED(state_mu_, bg_mu_);

  const Options options_;
  int lock_fd_ = -1;
  std::unique_ptr<index::Index> index_;
  std::unique_ptr<wal::Wal> wal_;
  std::atomic<bool> open_{false};
  // App metadata outlives open_ by the flush on close: that flush calls the
  // change listener's Checkpoint, which stores its marks there (a listener
  // refused at that point would fail the flush and leave the WAL to replay).
  std::atomic<bool> meta_open_{false};
  std::atomic<bool> replaying_{false};

  absl::Mutex maint_mu_ ABSL_ACQUIRED_BEFORE(write_mu_);
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(state_mu_);
  mutable absl::Mutex state_mu_;
  std::shared_ptr<Head> active_ ABSL_GUARDED_BY(state_mu_);
  std::vector<std::shared_ptr<Head>> frozen_ ABSL_GUARDED_BY(state_mu_);
  std::shared_ptr<const Version> version_ ABSL_GUARDED_BY(state_mu_);

  // The background thread waits for bg_stop_ || bg_work_ (Mutex::Await);
  // stalled writers wait on stall_cv_, signalled after each flush.
  absl::Mutex bg_mu_;
  absl::CondVar stall_cv_;
  bool bg_stop_ ABSL_GUARDED_BY(bg_mu_) = false;
  bool bg_work_ ABSL_GUARDED_BY(bg_mu_) = false;
  std::thread bg_thread_;

  // Bumped whenever series leave the index, invalidating the
  // write contexts' series caches; instance_id_ tells caches of different DB
  // objects apart within one thread.
  std::atomic<uint64_t> series_epoch_{0};
  const uint64_t instance_id_;

  // Write scratch, one per write in flight instead of one per thread that
  // ever wrote (a thread_local): each holds a request's entries and WAL
  // record (megabytes for a 5000-line batch), and the HTTP server's threads
  // outnumber the writes running at once. Reused last-in first-out.
  class ContextLease;
  absl::Mutex ctx_mu_;
  std::vector<std::unique_ptr<ApplyContext>> ctx_pool_ ABSL_GUARDED_BY(ctx_mu_);

  std::atomic<uint64_t> points_written_{0};
  std::atomic<uint64_t> values_written_{0};
  std::atomic<uint64_t> lines_rejected_{0};
  std::atomic<uint64_t> flushes_{0};
  std::atomic<uint64_t> compactions_{0};
  // Scans in progress: merges give way to them (compaction::ReadPacer).
  std::atomic<int> scans_running_{0};
  std::atomic<uint64_t> replayed_records_{0};
  std::atomic<uint64_t> damaged_skipped_{0};
  // (db id, partition start) -> newest input id of a compaction that found
  // damaged data; not retried until the partition has a newer segment.
  std::map<std::pair<uint32_t, int64_t>, uint64_t> damaged_compactions_ ABSL_GUARDED_BY(maint_mu_);
  std::atomic<int64_t> last_damage_log_ns_{INT64_MIN / 2};

  // WAL cursors (db_wal_feed.cc): name -> next seq, mirrored in the
  // metadata store; and idle readers, reused by the next read that starts
  // where one stopped (a sender reading on keeps its file open).
  absl::Mutex feed_mu_;
  std::map<std::string, uint64_t, std::less<>> wal_cursors_ ABSL_GUARDED_BY(feed_mu_);
  std::vector<std::unique_ptr<wal::WalReader>> idle_readers_ ABSL_GUARDED_BY(feed_mu_);
};

}  // namespace m2mdb

#endif  // M2MDB_ENGINE_DB_DB_IMPL_H_
