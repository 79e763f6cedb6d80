// m2mdb/db.h — the embedding API: open a data directory, write points, scan.
//
//   m2mdb::Options options;
//   options.data_dir = "/var/lib/m2mdb";
//   auto db = m2mdb::DB::Open(options);           // StatusOr<unique_ptr<DB>>
//   (*db)->CreateDatabase({.name = "telemetry"});
//   auto r = (*db)->WriteLineProtocol("telemetry", "cpu,host=a usage=0.5 1700000000000000000\n", {});
//   (*db)->Scan({.database = "telemetry", .measurement = "cpu", .fields = {"usage"}},
//               [](const m2mdb::SeriesData& s) { ...; return absl::OkStatus(); });
//
// Thread-safety: a DB is safe for concurrent use by any number of threads.
// Errors are returned as absl::Status; nothing throws.
#ifndef M2MDB_DB_H_
#define M2MDB_DB_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "m2mdb/column.h"
#include "m2mdb/options.h"
#include "m2mdb/status.h"
#include "m2mdb/types.h"

namespace m2mdb {

// A database and its default retention policy (CREATE DATABASE ... WITH
// DURATION d REPLICATION n SHARD DURATION s NAME rp). ListDatabases fills
// these from the default policy.
struct DatabaseOptions {
  std::string name;
  // Data older than now - retention is dropped (whole partitions) and writes
  // older than that are rejected. 0 = keep forever. Default: 0.
  int64_t retention_ns = 0;
  // Length of a time partition; 0 = Options::default_partition_ns.
  int64_t partition_ns = 0;
  // The default policy's name; empty = "autogen" (influxd's). (The "= {}"s
  // keep positional initialisers written before these existed free of
  // -Wmissing-field-initializers.)
  std::string retention_policy = {};
  // Recorded and shown (SHOW RETENTION POLICIES); m2mdb is one node.
  // 0 = 1.
  int64_t replication = {};
};

// A retention policy (InfluxDB 1.x): a storage unit of a database with its
// own series index, time partitions (of shard_duration_ns) and expiry
// (duration_ns). Writes and scans name one (WriteOptions / ScanRequest
// retention_policy, empty = the database's default); metadata reads,
// deletes and drops span every policy of the database.
struct RetentionPolicyInfo {
  std::string name;
  int64_t duration_ns = 0;  // 0 = INF (keep forever)
  // The partition length; 0 = influxd's rule for duration_ns
  // (DefaultShardDuration).
  int64_t shard_duration_ns = 0;
  int64_t replication = 1;  // recorded and shown only: m2mdb is one node
  bool is_default = false;
};

// What AlterRetentionPolicy changes; unset members stay as they are.
struct RetentionPolicyUpdate {
  std::optional<int64_t> duration_ns = {};        // 0 = INF
  std::optional<int64_t> shard_duration_ns = {};  // 0 = influxd's rule for the (new) duration
  std::optional<int64_t> replication = {};
  bool make_default = false;  // false leaves the default alone
};

// influxd's shard group duration for a retention duration (0 = INF): 1 h
// below 2 days, 1 day up to 180 days, else 7 days.
int64_t DefaultShardDuration(int64_t duration_ns);

// One rejected line of a write.
struct WriteError {
  int line = 0;        // 1-based line number in the request body; 0 = not line-specific
  std::string reason;  // a sentence a person understands
  // kParse / kLineTooLong: the line does not parse; kSeriesLimit: a new
  // series past the limit; kUnspecified: refused by the database (a field
  // type conflict, older than the retention period, ...).
  ErrorKind kind = ErrorKind::kUnspecified;
};

struct WriteResult {
  uint64_t points_written = 0;
  uint64_t values_written = 0;
  std::vector<WriteError> errors;  // in line order
};

// A typed point for WritePoints.
struct Point {
  std::string measurement;
  std::vector<std::pair<std::string, std::string>> tags;
  std::vector<std::pair<std::string, FieldValue>> fields;
  int64_t timestamp = 0;  // ns
};

enum class TagOp { kEqual, kNotEqual, kRegex, kNotRegex };

// A condition on one tag. A series without the tag has value "" for it, as in
// InfluxDB (so `host != 'a'` matches series without a host tag).
struct TagMatcher {
  std::string key;
  TagOp op = TagOp::kEqual;
  std::string value;  // a literal, or a regex (RE2 syntax, as Go/InfluxDB) for kRegex/kNotRegex;
                      // unanchored, like InfluxQL =~
};

// The statistics of one segment block that Scan returned instead of its
// points (see ScanRequest::summary_fields). Values are in the field's type:
// kFloat uses the *_f members, kInteger the *_i members, kUnsigned the *_u
// members; kBoolean keeps min/max/first/last in *_i as 0/1 and the number of
// trues in sum_i; kString has only count and the times. first/last are the
// values at min_time/max_time; min/max are values only (their times are not
// recorded); float min/max skip NaN and ties keep the earliest point; sums
// are accumulated in time order, integer sums wrap.
struct BlockSummary {
  FieldType type = FieldType::kFloat;
  int64_t count = 0;
  int64_t min_time = 0;  // of the first point
  int64_t max_time = 0;  // of the last point
  double min_f = 0, max_f = 0, sum_f = 0, first_f = 0, last_f = 0;
  int64_t min_i = 0, max_i = 0, sum_i = 0, first_i = 0, last_i = 0;
  uint64_t min_u = 0, max_u = 0, sum_u = 0, first_u = 0, last_u = 0;
};

struct ScanRequest {
  std::string database;
  std::string measurement;
  // All must hold (AND). Empty: every series of the measurement.
  std::vector<TagMatcher> matchers;
  // Field names to read; empty = every field of the measurement.
  std::vector<std::string> fields;
  int64_t min_time = kMinTime;  // inclusive
  int64_t max_time = kMaxTime;  // inclusive

  // Block summaries, for aggregates (count/sum/mean/min/max/first/last) that
  // can be answered from a segment block's statistics without decoding it.
  // For the fields named here, Scan may return some of the points as
  // SeriesData::summaries entries (one per block) instead of in the column.
  // A block is summarised only when that cannot change any aggregate of a
  // window: it lies wholly inside [min_time, max_time] and inside one window;
  // no tombstone of the series covers any of its time range (its statistics
  // would count deleted points); and no other source of the same (series,
  // field) has a block or a point in its time range (an overwrite there
  // would be counted twice, newest-wins needs the points). Empty (the
  // default): nothing is summarised and Scan behaves exactly as without.
  // (The "= {}"s let positional initialisers written before these members
  // existed leave them out without -Wmissing-field-initializers.)
  std::vector<std::string> summary_fields = {};
  // The windows: [s, s + summary_window_ns) with s = offset + k * length
  // for integer k, aligned to the epoch as InfluxQL's GROUP BY
  // time(length, offset). 0 or negative = a single window [min_time,
  // max_time] (an aggregate without GROUP BY time).
  int64_t summary_window_ns = 0;
  int64_t summary_window_offset_ns = 0;
  // Optional veto, called for every block that could be summarised: false
  // decodes it instead. The caller knows what its aggregates need (e.g. a
  // mean over integers needs a sum that did not wrap); the engine does not.
  // Called on the scanning thread, so it must be safe to call concurrently
  // when copies of the request scan in parallel.
  std::function<bool(const BlockSummary&)> summary_filter = nullptr;

  // A raw read that needs only a series' first (or last) points, e.g. for
  // InfluxQL's LIMIT: when > 0, each returned column holds at most this many
  // points, the earliest ones in [min_time, max_time] (the latest ones with
  // limit_from_end), and Scan decodes only the blocks that can hold them, so
  // the work and memory of a scan are bounded by it rather than by the data.
  // For summary_fields, only limit_points = 1 with a single window
  // (summary_window_ns <= 0) has a meaning: the caller needs nothing but the
  // earliest point (the latest with limit_from_end) of each field, e.g. for
  // first() (last()) alone, and Scan may then return, instead of all the
  // points, the head's points and one summary whose first (last) statistic
  // and min_time (max_time) are the earliest (latest) segment point: its
  // other statistics then also cover points of other sources, and its time
  // range may hold points of the column (none at its min_time or max_time).
  // Other values are ignored for summary_fields. Default: 0 = every point.
  size_t limit_points = 0;
  bool limit_from_end = false;
  // When > 0, Scan fails with kResourceExhausted ("query memory limit
  // exceeded") once the points it decodes for the returned columns would
  // pass this many, checked from the blocks' statistics before they are
  // decoded: a query over one long series fails before it holds it.
  // Ignored for summary_fields. Default: 0 = no limit.
  uint64_t max_points = 0;
  // Called before each series and each field of a series is read; a non-OK
  // status stops the scan and is returned (a query deadline or cancel). It
  // must be cheap. Default: none.
  std::function<Status()> check = nullptr;
  // Empty = the database's default retention policy.
  std::string retention_policy = {};
};

// The points of one series, one Column per requested field (in the order of
// SeriesData::fields; a field the series never had yields an empty column).
struct SeriesData {
  std::string key;  // canonical series key, e.g. "cpu,host=a"
  std::string measurement;
  std::vector<std::pair<std::string, std::string>> tags;  // sorted by key
  std::vector<std::string> field_names;
  std::vector<Column> columns;
  // Empty unless the request named summary_fields; then one list per column:
  // the blocks of that field returned as statistics instead of points,
  // sorted by min_time. Their time ranges are disjoint from each other and
  // hold none of the column's points, so column + summaries together are
  // exactly the field's points in [min_time, max_time] (except with
  // ScanRequest::limit_points = 1, which asks for the first or last only).
  std::vector<std::vector<BlockSummary>> summaries = {};
};

// One series as DB::Series lists it: the measurement and tags the engine
// parsed from its key, so that no layer above the engine parses key strings
// (their escaping is the line protocol's, and only the engine implements it).
struct SeriesKey {
  // The canonical key, escaped as in line protocol with the tags sorted by
  // key, e.g. "cpu,host=a\ b,region=eu": what SHOW SERIES prints, byte for
  // byte as influxd does. Unique per database.
  std::string key;
  std::string measurement;                                // unescaped
  std::vector<std::pair<std::string, std::string>> tags;  // unescaped, sorted by key
};

struct FieldKey {
  std::string name;
  FieldType type = FieldType::kFloat;
};

// Delete points of matching series of one measurement (or, with an empty
// measurement, of every measurement) in [min_time, max_time].
struct DeleteRequest {
  std::string database;
  std::string measurement;  // empty = all measurements
  std::vector<TagMatcher> matchers;
  int64_t min_time = kMinTime;
  int64_t max_time = kMaxTime;
  // Empty (influxd's DELETE): every retention policy of the database; else
  // only this one (kNotFound if it does not exist). A continuous query
  // clearing its rollup in one policy must not touch the raw points of a
  // measurement of the same name in another.
  std::string retention_policy = {};
};

struct DBStats {
  uint64_t series = 0;
  uint64_t head_bytes = 0;
  uint64_t head_points = 0;
  uint64_t frozen_heads = 0;
  uint64_t segments = 0;
  uint64_t segment_bytes = 0;
  uint64_t wal_bytes = 0;
  uint64_t wal_fsyncs = 0;
  uint64_t wal_fsync_nanos = 0;
  uint64_t points_written = 0;
  uint64_t values_written = 0;
  uint64_t lines_rejected = 0;
  uint64_t flushes = 0;
  uint64_t compactions = 0;
  uint64_t replayed_records = 0;  // at the last Open
  // False while writes cannot be made durable (e.g. the data volume is
  // full); storage_error says why, without file paths.
  bool storage_writable = true;
  std::string storage_error;
  uint64_t storage_write_failures = 0;  // WAL write/fsync errors since Open
  uint64_t damaged_blocks_skipped = 0;  // by reads, with skip_damaged_blocks
};

// Bytes on disk of one field of one measurement, over all segment files.
struct FieldStorage {
  std::string database;
  std::string measurement;
  std::string field;
  FieldType type = FieldType::kFloat;
  uint64_t points = 0;
  uint64_t blocks = 0;
  uint64_t timestamp_bytes = 0;                      // encoded timestamps
  uint64_t value_bytes = 0;                          // encoded values
  std::map<std::string, uint64_t> value_codecs;      // codec name -> blocks
  std::map<std::string, uint64_t> timestamp_codecs;  // codec name -> blocks
};

struct StorageReport {
  std::vector<FieldStorage> fields;  // sorted by database, measurement, field
  uint64_t points = 0;               // in segment files
  uint64_t segment_bytes = 0;        // segment files, everything included
  uint64_t wal_bytes = 0;
  uint64_t meta_bytes = 0;   // the RocksDB metadata directory
  uint64_t total_bytes = 0;  // every file in the data directory
};

// A problem found by Check.
struct CheckProblem {
  std::string file;
  std::string message;
};

// What DB::Repair did to one damaged segment.
struct RepairedSegment {
  std::string file;           // the damaged segment (now in quarantine/)
  std::string problem;        // why it was damaged
  std::string salvaged_file;  // the new segment with every intact block; empty if none
  uint64_t blocks_kept = 0, points_kept = 0;
  uint64_t blocks_lost = 0, points_lost = 0;
  // One line per lost block (or for the whole file if unreadable):
  // database, series key, field, points and time range.
  std::vector<std::string> lost;
};

// One acknowledged write read back from the WAL (DB::ReadWalChanges), for
// durable subscriptions that forward writes to another server.
struct WalChange {
  uint64_t seq = 0;  // the WAL record's sequence number
  std::string database;
  // The retention policy the write went to; empty for records written
  // before WAL records named their policy (they went to the default).
  std::string retention_policy;
  // Exactly the points the write was acknowledged with (rejected lines left
  // out; lines without a timestamp given the time the write had), as line
  // protocol with nanosecond timestamps, one point per "\n"-ended line.
  std::string lines;
  uint64_t points = 0;
};

struct WalReadRequest {
  uint64_t from_seq = 1;
  // Only records of this database are rendered and passed on; empty = all.
  std::string database;
  // Only records of this retention policy (see WalChange); empty = any.
  std::string retention_policy;
  // Stop after about this many bytes of WAL payload (at least one record).
  uint64_t max_bytes = 1 << 20;
  // When > 0: stop before a matching record that would take the points
  // passed to `fn` past this (at least one record is passed). Default: 0.
  uint64_t max_points = 0;
};

struct WalReadResult {
  uint64_t next_seq = 0;  // where the next read starts (past skipped records too)
  uint64_t records = 0;   // records read, matching or not
  uint64_t bytes = 0;     // their WAL payload bytes
};

// A named, persisted position in the WAL: the first record its consumer has
// not yet consumed. While it exists, WAL files holding records at or after it
// are kept, flushed or not.
struct WalCursor {
  std::string name;
  uint64_t next_seq = 0;
};

// Where the WAL stands relative to a position.
struct WalQueueInfo {
  uint64_t first_seq = 0;           // the oldest record still on disk
  uint64_t durable_seq = 0;         // the newest record a reader may see
  uint64_t backlog_bytes = 0;       // WAL bytes from the position on (whole files)
  int64_t backlog_age_seconds = 0;  // lower bound on the age of the oldest of them
};

class DB {
 public:
  // Opens (creating if allowed) the data directory, replays the WAL and
  // starts background work. Another process holding the directory -> error.
  static StatusOr<std::unique_ptr<DB>> Open(const Options& options);

  DB() = default;
  DB(const DB&) = delete;
  DB& operator=(const DB&) = delete;
  // Closes if still open (errors are logged).
  virtual ~DB() = default;

  // Stops background work, syncs the WAL and closes files. The WAL is kept:
  // the next Open replays it. Later calls fail with kFailedPrecondition.
  virtual Status Close() = 0;

  // Databases. CreateDatabase of an existing name succeeds (as InfluxDB's).
  virtual Status CreateDatabase(const DatabaseOptions& options) = 0;
  virtual Status DropDatabase(std::string_view name) = 0;  // kNotFound if missing
  virtual std::vector<DatabaseOptions> ListDatabases() = 0;
  // Changes the retention of the default policy.
  virtual Status SetRetention(std::string_view name, int64_t retention_ns) = 0;

  // Retention policies, with influxd 1.6's rules and error texts (kNotFound
  // "database not found: X" / "retention policy not found: X",
  // kAlreadyExists "retention policy already exists", kInvalidArgument
  // "retention policy duration must be at least 1h0m0s" / "retention policy
  // duration must be greater than the shard duration"). A shard duration
  // below 1 h is raised to 1 h, as influxd does. Creating a policy that
  // exists with the same settings succeeds.
  virtual Status CreateRetentionPolicy(std::string_view db, const RetentionPolicyInfo& rp) = 0;
  virtual Status AlterRetentionPolicy(std::string_view db, std::string_view rp,
                                      const RetentionPolicyUpdate& changes) = 0;
  // Deletes the policy and its data. OK if the policy is missing. Dropping
  // the default leaves the database without one: writes and reads that do
  // not name a policy then fail with "retention policy not found: X".
  virtual Status DropRetentionPolicy(std::string_view db, std::string_view rp) = 0;
  // In creation order (influxd's order).
  virtual StatusOr<std::vector<RetentionPolicyInfo>> ListRetentionPolicies(std::string_view db) = 0;

  // Writes line protocol. Valid lines are written even when others are
  // rejected (each rejected line is in result.errors). A non-OK status means
  // nothing was written: missing database (kNotFound), bad precision
  // (kInvalidArgument), I/O failure. Returns once the write is durable per
  // Options::wal_sync.
  virtual StatusOr<WriteResult> WriteLineProtocol(std::string_view database, std::string_view body,
                                                  const WriteOptions& options) = 0;
  // Writes typed points (line numbers in errors are indexes + 1).
  virtual StatusOr<WriteResult> WritePoints(std::string_view database, const std::vector<Point>& points,
                                            const WriteOptions& options) = 0;

  // Calls `fn` once per matching series, ordered by series key, with the
  // series' points in [min_time, max_time] sorted by time. The scan sees one
  // consistent snapshot. A non-OK return from fn stops the scan and is
  // returned.
  virtual Status Scan(const ScanRequest& request, const std::function<Status(const SeriesData&)>& fn) = 0;

  // Metadata, sorted.
  virtual StatusOr<std::vector<std::string>> Measurements(std::string_view database) = 0;
  virtual StatusOr<std::vector<std::string>> TagKeys(std::string_view database,
                                                     std::string_view measurement) = 0;
  virtual StatusOr<std::vector<std::string>> TagValues(std::string_view database,
                                                       std::string_view measurement,
                                                       std::string_view tag_key) = 0;
  virtual StatusOr<std::vector<FieldKey>> FieldKeys(std::string_view database,
                                                    std::string_view measurement) = 0;
  // The fields of `measurement` in one retention policy (empty = the
  // default): influxd's SHOW FIELD KEYS reads them per policy (its field
  // sets live in shards), while its other metadata reads span all policies.
  virtual StatusOr<std::vector<FieldKey>> FieldKeysIn(std::string_view database,
                                                      std::string_view retention_policy,
                                                      std::string_view measurement) = 0;
  // The series of `measurement` (empty: every measurement) matching
  // `matchers`, ordered by measurement, then by key (the order of influxd's
  // SHOW SERIES).
  virtual StatusOr<std::vector<SeriesKey>> Series(std::string_view database, std::string_view measurement,
                                                  const std::vector<TagMatcher>& matchers) = 0;

  // Deletes points (tombstones now, physical at compaction).
  virtual Status Delete(const DeleteRequest& request) = 0;
  // Deletes matching series entirely: their points and index entries.
  virtual Status DropSeries(std::string_view database, std::string_view measurement,
                            const std::vector<TagMatcher>& matchers) = 0;
  virtual Status DropMeasurement(std::string_view database, std::string_view measurement) = 0;

  // Writes the head to segment files now and waits for it.
  virtual Status Flush() = 0;
  // Flushes, then compacts every partition with more than one segment and
  // applies retention; waits for it.
  virtual Status Compact() = 0;

  // Application metadata: a small synced key/value store for layers above
  // the engine (the server keeps hashed API tokens here).
  virtual Status PutAppMeta(std::string_view key, std::string_view value) = 0;
  virtual Status DeleteAppMeta(std::string_view key) = 0;
  virtual StatusOr<std::vector<std::pair<std::string, std::string>>> ListAppMeta(std::string_view prefix) = 0;

  // --- The WAL as a durable queue (durable subscriptions, docs/edge.md) ---
  // Creates or moves cursor `name` to `next_seq` (0 = the end of the log:
  // only writes from now on), synced to the metadata store before it
  // returns. A cursor behind the oldest WAL record is set to it.
  virtual Status SetWalCursor(std::string_view name, uint64_t next_seq) = 0;
  // Removes a cursor (ok if absent); WAL files it held go with the next flush.
  virtual Status DeleteWalCursor(std::string_view name) = 0;
  virtual std::vector<WalCursor> ListWalCursors() = 0;
  // Reads records from request.from_seq up to the durable end, calling `fn`
  // for each matching write, in WAL order. kOutOfRange if from_seq's file was
  // removed (no cursor held it): the caller restarts at queue info's
  // first_seq, having lost what lay between.
  virtual StatusOr<WalReadResult> ReadWalChanges(const WalReadRequest& request,
                                                 const std::function<Status(const WalChange&)>& fn) = 0;
  virtual WalQueueInfo GetWalQueueInfo(uint64_t from_seq) = 0;

  // Reads every segment block and checks every checksum.
  virtual StatusOr<std::vector<CheckProblem>> Check() = 0;
  // Offline repair (`m2mdb check --repair`): every damaged segment is moved
  // to DATA_DIR/quarantine/ and replaced in the catalog by a new segment
  // holding its intact blocks (deleted points and dropped series left out;
  // points that a newer segment overwrote left out too, so answers do not
  // change). Returns one entry per damaged segment. Not for a database
  // serving traffic: run it on a stopped server's directory.
  virtual StatusOr<std::vector<RepairedSegment>> Repair() = 0;
  virtual DBStats Stats() = 0;
  // OK while writes can be made durable; otherwise why not (no file paths:
  // fit for a client). After a write error this first tries to make the
  // storage writable again (at most every 100 ms), so a probe notices freed
  // space without waiting for a write.
  virtual Status StorageHealth() = 0;
  // Where the bytes are: per field, per codec, and per directory.
  virtual StatusOr<StorageReport> GetStorageReport() = 0;
};

}  // namespace m2mdb

#endif  // M2MDB_DB_H_
