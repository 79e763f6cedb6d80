// The metadata store: the only user of RocksDB in m2mdb. It holds databases
// and their settings, series key <-> id, the tag inverted index, field schema,
// the segment catalog, tombstones and the WAL checkpoint. Point data never
// goes through it. See docs/format/index.md for the key layout.
//
// Thread-safety: every method is thread-safe. Lookups of series and fields are
// served from in-memory maps loaded at Open; RocksDB is written on creation.
#ifndef M2MDB_ENGINE_INDEX_INDEX_H_
#define M2MDB_ENGINE_INDEX_INDEX_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "m2mdb/status.h"
#include "m2mdb/types.h"

namespace m2mdb::index {

// One storage unit: a retention policy of a database, with its own series,
// fields, partitions and expiry. Ids (db_id everywhere below) name units.
struct DatabaseInfo {
  uint32_t id = 0;                                // assigned by CreateDatabase / CreateRetentionPolicy
  std::string name;                               // the database
  int64_t retention_ns = 0;                       // 0 = keep forever
  int64_t partition_ns = 86400ll * 1000000000ll;  // the policy's shard duration
  // (Default initialisers keep positional initialisers written before
  // these existed free of -Wmissing-field-initializers.)
  std::string retention_policy = "autogen";
  int64_t replication = 1;  // recorded and shown only: m2mdb is one node
  // Set by the index on reads: this is the database's default policy.
  bool is_default = false;
};

struct FieldInfo {
  uint32_t id = 0;  // unique across the whole store
  std::string name;
  FieldType type = FieldType::kFloat;
};

struct SegmentMeta {
  uint64_t id = 0;  // unique, increasing (Index::NextSegmentId)
  uint32_t db_id = 0;
  int64_t partition_start = 0;  // ns, inclusive
  std::string file;             // file name relative to the segments directory
  uint64_t file_bytes = 0;
  int64_t min_time = 0;
  int64_t max_time = 0;
  uint64_t points = 0;
  uint32_t level = 0;  // 0 = flush, n = compacted n times
};

// A delete: points of `series_ids` (or, if empty, of every series of
// `measurement`) with min_time <= t <= max_time are gone. `seq` orders it
// against writes: only data written before the delete is hidden.
struct Tombstone {
  uint64_t id = 0;  // assigned by AddTombstone
  uint32_t db_id = 0;
  std::string measurement;
  std::vector<uint64_t> series_ids;  // sorted
  int64_t min_time = kMinTime;
  int64_t max_time = kMaxTime;
  uint64_t seq = 0;
};

class Index {
 public:
  // Opens (creating) the RocksDB store in `dir` and loads the in-memory maps.
  static StatusOr<std::unique_ptr<Index>> Open(const std::string& dir);
  // Opens an existing store read-only without writing anything in `dir`
  // (no RocksDB LOG, LOCK, OPTIONS or WAL files): for `m2mdb check`, which
  // must leave a stopped server's directory as it found it. Every write
  // method fails.
  static StatusOr<std::unique_ptr<Index>> OpenReadOnly(const std::string& dir);
  virtual ~Index() = default;

  // Databases and their retention policies (units). A database exists
  // independently of its policies (influxd keeps a database, and the name of
  // its default policy, after DROP RETENTION POLICY of the last one).
  //
  // Creates database info.name with `info` as its default policy
  // (info.retention_policy). An existing database: returns its default
  // policy unchanged, or kNotFound "retention policy not found: X" if that
  // policy was dropped.
  virtual StatusOr<DatabaseInfo> CreateDatabase(const DatabaseInfo& info) = 0;
  // Adds policy info.retention_policy to existing database info.name
  // (kNotFound "database not found: X"); kAlreadyExists if it exists.
  // make_default makes it the database's default.
  virtual StatusOr<DatabaseInfo> CreateRetentionPolicy(const DatabaseInfo& info, bool make_default) = 0;
  // Changes retention, partition and replication of unit (info.name,
  // info.retention_policy); info.is_default makes it the default (false
  // leaves the default alone). kNotFound if missing.
  virtual Status UpdateDatabase(const DatabaseInfo& info) = 0;
  // Deletes one policy and all its series, fields, segments (from the
  // catalog; the caller deletes files) and tombstones. The database keeps
  // the policy's name as its default if it was. OK if missing.
  virtual Status DropRetentionPolicy(std::string_view name, std::string_view rp) = 0;
  // Deletes the database and every policy of it, as DropRetentionPolicy.
  virtual Status DropDatabase(std::string_view name) = 0;
  // The default policy of database `name`; nullopt if either is missing.
  virtual std::optional<DatabaseInfo> GetDatabase(std::string_view name) const = 0;
  // Policy `rp` of database `name` (empty = the default); nullopt if missing.
  virtual std::optional<DatabaseInfo> GetRetentionPolicy(std::string_view name,
                                                         std::string_view rp) const = 0;
  // The name of the default policy of `name` (which may have been dropped);
  // nullopt if the database does not exist.
  virtual std::optional<std::string> DefaultRetentionPolicy(std::string_view name) const = 0;
  // Every policy of every database, sorted by database, then policy.
  virtual std::vector<DatabaseInfo> ListDatabases() const = 0;
  // Every database name, sorted (including databases without policies).
  virtual std::vector<std::string> DatabaseNames() const = 0;

  // Series. `key` is the canonical series key (lineproto::SeriesKey). Returns
  // the existing id or assigns a new one (persisted, with its postings).
  // `created` (optional) tells which happened. Ids are unique store-wide.
  virtual StatusOr<uint64_t> GetOrCreateSeries(uint32_t db_id, std::string_view key,
                                               bool* created = nullptr) = 0;
  virtual std::optional<uint64_t> FindSeries(uint32_t db_id, std::string_view key) const = 0;
  virtual std::optional<std::string> SeriesKeyOf(uint64_t series_id) const = 0;
  virtual uint64_t SeriesCount(uint32_t db_id) const = 0;
  // Removes the series (keys and postings); their data stays until a
  // tombstone hides it.
  virtual Status DeleteSeries(uint32_t db_id, const std::vector<uint64_t>& series_ids) = 0;

  // Sorted, unique.
  virtual std::vector<std::string> Measurements(uint32_t db_id) const = 0;
  virtual std::vector<uint64_t> SeriesOfMeasurement(uint32_t db_id, std::string_view measurement) const = 0;
  virtual std::vector<std::string> TagKeys(uint32_t db_id, std::string_view measurement) const = 0;
  virtual std::vector<std::string> TagValues(uint32_t db_id, std::string_view measurement,
                                             std::string_view tag_key) const = 0;
  // Series of `measurement` having tag_key == tag_value.
  virtual std::vector<uint64_t> SeriesWithTag(uint32_t db_id, std::string_view measurement,
                                              std::string_view tag_key, std::string_view tag_value) const = 0;

  // Field schema per (database, measurement). Returns the field; if it exists
  // with another type: kFailedPrecondition "field type conflict: input field
  // \"f\" on measurement \"m\" is type integer, already exists as type float".
  virtual StatusOr<FieldInfo> GetOrCreateField(uint32_t db_id, std::string_view measurement,
                                               std::string_view field, FieldType type) = 0;
  virtual std::optional<FieldInfo> FindField(uint32_t db_id, std::string_view measurement,
                                             std::string_view field) const = 0;
  // Sorted by name.
  virtual std::vector<FieldInfo> Fields(uint32_t db_id, std::string_view measurement) const = 0;
  // Forgets a measurement's fields (DROP MEASUREMENT).
  virtual Status DeleteFields(uint32_t db_id, std::string_view measurement) = 0;

  // Segment catalog and WAL checkpoint, changed together in one atomic,
  // synced RocksDB write.
  virtual uint64_t NextSegmentId() = 0;
  virtual Status CommitSegments(const std::vector<SegmentMeta>& added,
                                const std::vector<uint64_t>& removed_ids,
                                std::optional<uint64_t> wal_checkpoint) = 0;
  virtual std::vector<SegmentMeta> Segments() const = 0;
  // Every WAL record with seq <= checkpoint is in a registered segment. 0 if none.
  virtual uint64_t WalCheckpoint() const = 0;

  // Tombstones.
  virtual StatusOr<uint64_t> AddTombstone(const Tombstone& t) = 0;
  virtual Status RemoveTombstones(const std::vector<uint64_t>& ids) = 0;
  virtual std::vector<Tombstone> Tombstones() const = 0;

  // Application metadata: a small key/value namespace for layers above the
  // engine (the server keeps hashed API tokens here). Synced writes; values
  // are kept in memory, so keep them small.
  virtual Status PutAppMeta(std::string_view key, std::string_view value) = 0;
  virtual Status DeleteAppMeta(std::string_view key) = 0;
  // Sorted by key; only keys starting with `prefix`.
  virtual std::vector<std::pair<std::string, std::string>> ListAppMeta(std::string_view prefix) const = 0;

  // OK unless a metadata write failed (e.g. a full disk) and the store has
  // not recovered; tries to recover first (at most every 100 ms). The error
  // names no file paths.
  virtual Status Health() = 0;

  // Syncs RocksDB and closes it.
  virtual Status Close() = 0;
};

// If `pattern` (RE2 syntax, applied as a partial match like InfluxQL =~) is
// an anchored set of literals -- `^lit$`, `^(lit|lit|...)$` or
// `^(?:lit|...)$`, where a literal is made of [A-Za-z0-9_] and
// backslash-escaped printable ASCII punctuation or space, as RE2::QuoteMeta
// writes them -- stores the literals (unescaped) and returns true: the
// pattern then matches exactly those strings, and the postings answer it.
// Anything else (classes, repeats, flags, non-ASCII) returns false.
bool LiteralAlternation(std::string_view pattern, std::vector<std::string>* literals);

}  // namespace m2mdb::index

#endif  // M2MDB_ENGINE_INDEX_INDEX_H_
