// Index on RocksDB. The layout (docs/format/index.md has the full version):
//
//   key                                                   value
//   "C" segment_id(BE64)                                  SegmentMeta
//   "D" db_name                                           varint id, zz retention_ns, zz partition_ns
//   "F" db(BE32) lp(measurement) field                    varint field_id, byte type
//   "I" series_id(BE64)                                   varint db_id, series_key
//   "K" counter_name                                      varint
//   "M" db(BE32) lp(measurement) series_id(BE64)          ""
//   "P" db(BE32) lp(measurement) lp(tag_key) lp(tag_value) series_id(BE64)   ""
//   "S" db(BE32) series_key                               varint series_id
//   "T" tombstone_id(BE64)                                Tombstone
//
// lp(x) = varint length + bytes, so names may hold any byte (even NUL) and a
// key prefix "P" db lp(m) lp(k) lp(v) is unambiguous. Integers in keys are
// big-endian so that iteration order is numeric. "zz" = zigzag varint.
// Decoders ignore trailing bytes in values: a later version may append fields.
//
// Everything is loaded into memory at Open in one pass over the key space;
// lookups never touch RocksDB. Writes go to RocksDB first and to memory only
// once RocksDB accepted them, so memory never runs ahead of the store.
#include "engine/index/index.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include <sys/stat.h>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/hash/hash.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/cache.h"
#include "rocksdb/convenience.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"

#include "engine/lineproto/lineproto.h"
#include "engine/util/coding.h"
#include "engine/util/file.h"
#include "engine/util/logging.h"

namespace m2mdb::index {
namespace {

// Key prefixes. Persisted: never change or reuse one.
constexpr char kAppMetaPrefix = 'A';
constexpr char kDbRecordPrefix = 'B';
constexpr char kSegmentPrefix = 'C';
// A database's one unit before retention policies existed (format 1): it
// loads as policy "autogen", the default. Rewritten as 'E' when changed.
constexpr char kDatabasePrefix = 'D';
// A retention policy (unit). Sorts before 'F', 'I', 'M' and 'P', whose
// loading needs the units.
constexpr char kRetentionPolicyPrefix = 'E';
constexpr char kFieldPrefix = 'F';
constexpr char kSeriesIdPrefix = 'I';
constexpr char kCounterPrefix = 'K';
constexpr char kMeasurementPrefix = 'M';
constexpr char kPostingPrefix = 'P';
constexpr char kSeriesKeyPrefix = 'S';
constexpr char kTombstonePrefix = 'T';

// "K" keys. Persisted names.
constexpr std::string_view kFormatVersionKey = "Kformat_version";
constexpr std::string_view kNextDbIdKey = "Knext_db_id";
constexpr std::string_view kNextSeriesIdKey = "Knext_series_id";
constexpr std::string_view kNextFieldIdKey = "Knext_field_id";
constexpr std::string_view kNextSegmentIdKey = "Knext_segment_id";
constexpr std::string_view kNextTombstoneIdKey = "Knext_tombstone_id";
constexpr std::string_view kWalCheckpointKey = "Kwal_checkpoint";

// 2: databases ('B') and retention policies ('E'); a format-1 store is
// read as is and marked 2 at the first read-write open, so that a binary
// that does not know policies refuses it rather than losing them.
constexpr uint64_t kFormatVersion = 2;

// Segment ids are reserved in blocks of this many with one synced write, so
// an id is never handed out twice across a crash while a flush or compaction
// costs no extra fsync most of the time. A crash skips at most one block.
constexpr uint64_t kSegmentIdBlock = 64;

// ---- key and value encoding ----

void PutBE32(std::string* dst, uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  dst->append(b, 4);
}
void PutBE64(std::string* dst, uint64_t v) {
  PutBE32(dst, static_cast<uint32_t>(v >> 32));
  PutBE32(dst, static_cast<uint32_t>(v));
}
uint32_t DecodeBE32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}
uint64_t DecodeBE64(const char* p) { return (uint64_t{DecodeBE32(p)} << 32) | DecodeBE32(p + 4); }
bool GetBE32(std::string_view* in, uint32_t* v) {
  if (in->size() < 4) return false;
  *v = DecodeBE32(in->data());
  in->remove_prefix(4);
  return true;
}

std::string DbPrefix(char prefix, uint32_t db_id) {
  std::string k(1, prefix);
  PutBE32(&k, db_id);
  return k;
}
std::string IdKey(char prefix, uint64_t id) {
  std::string k(1, prefix);
  PutBE64(&k, id);
  return k;
}
std::string DatabaseKey(std::string_view name) {
  return absl::StrCat(std::string(1, kDatabasePrefix), ToAbsl(name));
}
std::string DbRecordKey(std::string_view name) {
  return absl::StrCat(std::string(1, kDbRecordPrefix), ToAbsl(name));
}
std::string RetentionPolicyKey(std::string_view name, std::string_view rp) {
  std::string k(1, kRetentionPolicyPrefix);
  PutLengthPrefixed(&k, name);
  k.append(rp);
  return k;
}
std::string SeriesKeyKey(uint32_t db_id, std::string_view series_key) {
  std::string k = DbPrefix(kSeriesKeyPrefix, db_id);
  k.append(series_key);
  return k;
}
std::string MeasurementKey(uint32_t db_id, std::string_view m, uint64_t series_id) {
  std::string k = DbPrefix(kMeasurementPrefix, db_id);
  PutLengthPrefixed(&k, m);
  PutBE64(&k, series_id);
  return k;
}
std::string PostingKey(uint32_t db_id, std::string_view m, std::string_view tag_key,
                       std::string_view tag_value, uint64_t series_id) {
  std::string k = DbPrefix(kPostingPrefix, db_id);
  PutLengthPrefixed(&k, m);
  PutLengthPrefixed(&k, tag_key);
  PutLengthPrefixed(&k, tag_value);
  PutBE64(&k, series_id);
  return k;
}
std::string FieldKey(uint32_t db_id, std::string_view m, std::string_view field) {
  std::string k = DbPrefix(kFieldPrefix, db_id);
  PutLengthPrefixed(&k, m);
  k.append(field);
  return k;
}
// The smallest key greater than every key starting with `prefix`.
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) prefix.pop_back();
  if (!prefix.empty()) prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
  return prefix;
}
std::string Varint(uint64_t v) {
  std::string s;
  PutVarint64(&s, v);
  return s;
}
bool GetZigZag(std::string_view* in, int64_t* v) {
  uint64_t u;
  if (!GetVarint64(in, &u)) return false;
  *v = ZigZagDecode(u);
  return true;
}

std::string EncodeDatabase(const DatabaseInfo& info) {
  std::string v;
  PutVarint32(&v, info.id);
  PutVarint64(&v, ZigZagEncode(info.retention_ns));
  PutVarint64(&v, ZigZagEncode(info.partition_ns));
  return v;
}
bool DecodeDatabase(std::string_view in, DatabaseInfo* info) {
  return GetVarint32(&in, &info->id) && GetZigZag(&in, &info->retention_ns) &&
         GetZigZag(&in, &info->partition_ns);
}
// 'E' value: the 'D' value, then the replication factor.
std::string EncodeRetentionPolicy(const DatabaseInfo& info) {
  std::string v = EncodeDatabase(info);
  PutVarint64(&v, ZigZagEncode(info.replication));
  return v;
}
bool DecodeRetentionPolicy(std::string_view in, DatabaseInfo* info) {
  return GetVarint32(&in, &info->id) && GetZigZag(&in, &info->retention_ns) &&
         GetZigZag(&in, &info->partition_ns) && GetZigZag(&in, &info->replication);
}

std::string EncodeSegment(const SegmentMeta& s) {
  std::string v;
  PutVarint32(&v, s.db_id);
  PutVarint64(&v, ZigZagEncode(s.partition_start));
  PutLengthPrefixed(&v, s.file);
  PutVarint64(&v, s.file_bytes);
  PutVarint64(&v, ZigZagEncode(s.min_time));
  PutVarint64(&v, ZigZagEncode(s.max_time));
  PutVarint64(&v, s.points);
  PutVarint32(&v, s.level);
  return v;
}
bool DecodeSegment(std::string_view in, SegmentMeta* s) {
  std::string_view file;
  if (!GetVarint32(&in, &s->db_id) || !GetZigZag(&in, &s->partition_start) ||
      !GetLengthPrefixed(&in, &file) || !GetVarint64(&in, &s->file_bytes) || !GetZigZag(&in, &s->min_time) ||
      !GetZigZag(&in, &s->max_time) || !GetVarint64(&in, &s->points) || !GetVarint32(&in, &s->level)) {
    return false;
  }
  s->file.assign(file);
  return true;
}

// Series ids are stored as deltas from the previous one (they are sorted).
std::string EncodeTombstone(const Tombstone& t) {
  std::string v;
  PutVarint32(&v, t.db_id);
  PutLengthPrefixed(&v, t.measurement);
  PutVarint64(&v, t.series_ids.size());
  uint64_t prev = 0;
  for (uint64_t id : t.series_ids) {
    PutVarint64(&v, id - prev);
    prev = id;
  }
  PutVarint64(&v, ZigZagEncode(t.min_time));
  PutVarint64(&v, ZigZagEncode(t.max_time));
  PutVarint64(&v, t.seq);
  return v;
}
bool DecodeTombstone(std::string_view in, Tombstone* t) {
  std::string_view m;
  uint64_t n;
  if (!GetVarint32(&in, &t->db_id) || !GetLengthPrefixed(&in, &m) || !GetVarint64(&in, &n)) return false;
  if (n > in.size()) return false;  // each id takes at least one byte
  t->measurement.assign(m);
  t->series_ids.clear();
  t->series_ids.reserve(n);
  uint64_t prev = 0;
  for (uint64_t i = 0; i < n; i++) {
    uint64_t d;
    if (!GetVarint64(&in, &d)) return false;
    prev += d;
    t->series_ids.push_back(prev);
  }
  return GetZigZag(&in, &t->min_time) && GetZigZag(&in, &t->max_time) && GetVarint64(&in, &t->seq);
}

std::string_view FromSlice(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }
rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

// rocksdb::Status -> absl::Status with context. Corruption stays apart from
// I/O failures (kDataLoss vs kInternal), as status.h asks.
Status FromRocks(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = absl::StrCat("index: ", ToAbsl(context), ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsInvalidArgument() || s.IsNotSupported()) return absl::InvalidArgumentError(msg);
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(msg);
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) return absl::UnavailableError(msg);
  return absl::InternalError(msg);
}

Status CorruptKey(std::string_view what, std::string_view key) {
  return absl::DataLossError(
      absl::StrCat("index: corrupt ", ToAbsl(what), " entry, key \"", absl::CHexEscape(ToAbsl(key)), "\""));
}

// ---- in-memory state ----

// One series. Owned by IndexImpl::series_by_id_; Database::series points at it.
struct Series {
  uint64_t id;
  uint32_t db_id;
  std::string key;
};

// Heterogeneous hash/eq so that the write hot path looks a std::string_view
// key up in the set of Series* without building a std::string.
struct SeriesKeyHash {
  using is_transparent = void;
  size_t operator()(std::string_view k) const { return absl::Hash<absl::string_view>()(ToAbsl(k)); }
  size_t operator()(const Series* s) const { return (*this)(std::string_view(s->key)); }
};
struct SeriesKeyEq {
  using is_transparent = void;
  static std::string_view Key(const Series* s) { return s->key; }
  static std::string_view Key(std::string_view s) { return s; }
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return Key(a) == Key(b);
  }
};

// Sorted series ids. Most tag values (host names, device ids) hold one or two
// series: those live inline, with no heap block of their own.
using Postings = absl::InlinedVector<uint64_t, 2>;

struct Measurement {
  std::vector<uint64_t> series;  // sorted
  // tag key -> tag value -> postings. btree: sorted for TagKeys/TagValues and
  // denser than a hash map for millions of small entries.
  absl::btree_map<std::string, absl::btree_map<std::string, Postings>> tags;
  absl::flat_hash_map<std::string, FieldInfo> fields;
};

struct Database {
  DatabaseInfo info;        // is_default is not kept here: see DbEntry
  bool legacy_key = false;  // stored as a format-1 'D' record
  absl::flat_hash_set<Series*, SeriesKeyHash, SeriesKeyEq> series;
  absl::flat_hash_map<std::string, std::unique_ptr<Measurement>> measurements;
};

template <typename Vec>
void InsertSorted(Vec* v, uint64_t id) {
  // New ids are the largest so far: append is the common case.
  if (v->empty() || v->back() < id) {
    v->push_back(id);
    return;
  }
  auto it = std::lower_bound(v->begin(), v->end(), id);
  if (it == v->end() || *it != id) v->insert(it, id);
}
// Removes from `v` every id in `sorted_ids`.
template <typename Vec>
void RemoveSorted(Vec* v, const std::vector<uint64_t>& sorted_ids) {
  v->erase(std::remove_if(
               v->begin(), v->end(),
               [&](uint64_t id) { return std::binary_search(sorted_ids.begin(), sorted_ids.end(), id); }),
           v->end());
}

class IndexImpl final : public Index {
 public:
  explicit IndexImpl(std::unique_ptr<rocksdb::DB> db, bool read_only = false)
      : read_only_(read_only), db_(std::move(db)) {}
  ~IndexImpl() override {
    Status s = Close();
    if (!s.ok()) LogError("index: close: ", s.message());
  }

  Status Load();

  StatusOr<DatabaseInfo> CreateDatabase(const DatabaseInfo& info) override;
  StatusOr<DatabaseInfo> CreateRetentionPolicy(const DatabaseInfo& info, bool make_default) override;
  Status UpdateDatabase(const DatabaseInfo& info) override;
  Status DropRetentionPolicy(std::string_view name, std::string_view rp) override;
  Status DropDatabase(std::string_view name) override;
  std::optional<DatabaseInfo> GetDatabase(std::string_view name) const override;
  std::optional<DatabaseInfo> GetRetentionPolicy(std::string_view name, std::string_view rp) const override;
  std::optional<std::string> DefaultRetentionPolicy(std::string_view name) const override;
  std::vector<DatabaseInfo> ListDatabases() const override;
  std::vector<std::string> DatabaseNames() const override;

  StatusOr<uint64_t> GetOrCreateSeries(uint32_t db_id, std::string_view key, bool* created) override;
  std::optional<uint64_t> FindSeries(uint32_t db_id, std::string_view key) const override;
  std::optional<std::string> SeriesKeyOf(uint64_t series_id) const override;
  uint64_t SeriesCount(uint32_t db_id) const override;
  Status DeleteSeries(uint32_t db_id, const std::vector<uint64_t>& series_ids) override;

  std::vector<std::string> Measurements(uint32_t db_id) const override;
  std::vector<uint64_t> SeriesOfMeasurement(uint32_t db_id, std::string_view measurement) const override;
  std::vector<std::string> TagKeys(uint32_t db_id, std::string_view measurement) const override;
  std::vector<std::string> TagValues(uint32_t db_id, std::string_view measurement,
                                     std::string_view tag_key) const override;
  std::vector<uint64_t> SeriesWithTag(uint32_t db_id, std::string_view measurement, std::string_view tag_key,
                                      std::string_view tag_value) const override;

  StatusOr<FieldInfo> GetOrCreateField(uint32_t db_id, std::string_view measurement, std::string_view field,
                                       FieldType type) override;
  std::optional<FieldInfo> FindField(uint32_t db_id, std::string_view measurement,
                                     std::string_view field) const override;
  std::vector<FieldInfo> Fields(uint32_t db_id, std::string_view measurement) const override;
  Status DeleteFields(uint32_t db_id, std::string_view measurement) override;

  uint64_t NextSegmentId() override;
  Status CommitSegments(const std::vector<SegmentMeta>& added, const std::vector<uint64_t>& removed_ids,
                        std::optional<uint64_t> wal_checkpoint) override;
  std::vector<SegmentMeta> Segments() const override;
  uint64_t WalCheckpoint() const override;

  StatusOr<uint64_t> AddTombstone(const Tombstone& t) override;
  Status RemoveTombstones(const std::vector<uint64_t>& ids) override;
  std::vector<Tombstone> Tombstones() const override;

  Status PutAppMeta(std::string_view key, std::string_view value) override;
  Status DeleteAppMeta(std::string_view key) override;
  std::vector<std::pair<std::string, std::string>> ListAppMeta(std::string_view prefix) const override;

  Status Close() override;
  Status Health() override {
    absl::MutexLock l(&mu_);
    if (db_ == nullptr || read_only_) return absl::OkStatus();
    return ResumeLocked("health");
  }

 private:
  // A write failed: RocksDB's WAL writer may hold an error, and any further
  // write to it (a memtable flush at Close included) trips an assertion
  // inside RocksDB (writable_file_writer.h: sync_without_flush_called_).
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
  std::chrono::steady_clock::time_point next_resume_ ABSL_GUARDED_BY(mu_);
  const bool read_only_ = false;
  Status CheckOpen() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    if (db_ == nullptr) return absl::FailedPreconditionError("index: closed");
    return absl::OkStatus();
  }
  Status Write(rocksdb::WriteBatch* batch, bool sync, std::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    if (read_only_) return absl::FailedPreconditionError("index: opened read-only");
    RETURN_IF_ERROR(ResumeLocked(what));
    Status s = FromRocks(db_->Write(wo, batch), what);
    if (!s.ok()) {
      write_failed_ = true;
      LogError(s.message(), " (metadata writes are refused until it recovers)");
      return PublicError(s, what);
    }
    return s;
  }
  // What a client may see of a metadata store error: no file paths.
  static Status PublicError(const Status& s, std::string_view what) {
    if (absl::IsResourceExhausted(s)) {
      return absl::ResourceExhaustedError(
          absl::StrCat("index: ", ToAbsl(what), ": no space left on the data volume for metadata"));
    }
    return absl::Status(s.code(), absl::StrCat("index: ", ToAbsl(what),
                                               ": metadata store I/O error (details in the server log)"));
  }
  // After a failed write RocksDB refuses writes until Resume() succeeds,
  // which it does once the cause (a full disk) is gone. Tried at most every
  // 100 ms.
  Status ResumeLocked(std::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!write_failed_) return absl::OkStatus();
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_resume_) {
      next_resume_ = now + std::chrono::milliseconds(100);
      rocksdb::Status rs = db_->Resume();
      if (rs.IsBusy()) {
        // RocksDB's own recovery from a full disk is running (it waits for
        // free space): a write tells whether it has finished, and a stopped
        // RocksDB refuses it before touching any file. A delete of a key
        // that never exists leaves nothing Load would see.
        rs = db_->Delete(rocksdb::WriteOptions(), rocksdb::Slice("\xff\xffwrite-probe"));
      }
      if (rs.ok()) {
        write_failed_ = false;
        LogInfo("index: metadata store writable again");
        return absl::OkStatus();
      }
    }
    return absl::UnavailableError(absl::StrCat(
        "index: ", ToAbsl(what), ": metadata store still failing after an I/O error (no space left?)"));
  }
  Database* FindDb(uint32_t db_id) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    auto it = dbs_.find(db_id);
    return it == dbs_.end() ? nullptr : it->second.get();
  }
  const Measurement* FindMeasurement(uint32_t db_id, std::string_view m) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    const Database* db = FindDb(db_id);
    if (db == nullptr) return nullptr;
    auto it = db->measurements.find(ToAbsl(m));
    return it == db->measurements.end() ? nullptr : it->second.get();
  }
  static Measurement* GetOrAddMeasurement(Database* db, std::string_view m) {
    auto it = db->measurements.find(ToAbsl(m));
    if (it != db->measurements.end()) return it->second.get();
    return db->measurements.emplace(std::string(m), std::make_unique<Measurement>()).first->second.get();
  }
  static void MaybeEraseMeasurement(Database* db, std::string_view m) {
    auto it = db->measurements.find(ToAbsl(m));
    if (it != db->measurements.end() && it->second->series.empty() && it->second->fields.empty() &&
        it->second->tags.empty()) {
      db->measurements.erase(it);
    }
  }

  // A database: the name of its default policy and its policies' unit ids.
  struct DbEntry {
    std::string default_rp;
    absl::btree_map<std::string, uint32_t> rps;
  };
  DatabaseInfo InfoOf(const Database& db) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    DatabaseInfo out = db.info;
    auto it = db_by_name_.find(out.name);
    out.is_default = it != db_by_name_.end() && it->second.default_rp == out.retention_policy;
    return out;
  }
  Status CheckUnit(const DatabaseInfo& info) const {
    if (info.retention_ns < 0 || info.partition_ns <= 0 || info.replication < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("index: database \"", info.name, "\" policy \"", info.retention_policy,
                       "\": retention must be >= 0, partition > 0, replication > 0"));
    }
    return absl::OkStatus();
  }
  // Adds the unit's records to `b` and, once `b` is written, to memory
  // (InsertUnitLocked).
  StatusOr<std::unique_ptr<Database>> NewUnitLocked(const DatabaseInfo& info, rocksdb::WriteBatch* b)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void InsertUnitLocked(std::unique_ptr<Database> db) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds the deletes of unit `db_id` to `b`; EraseUnitLocked forgets it
  // once `b` is written.
  void DeleteUnitLocked(uint32_t db_id, rocksdb::WriteBatch* b, std::vector<uint64_t>* segs,
                        std::vector<uint64_t>* tombs) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseUnitLocked(uint32_t db_id, const std::vector<uint64_t>& segs, const std::vector<uint64_t>& tombs)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Load helpers, one per key kind. `key` includes the prefix byte.
  Status LoadDatabase(std::string_view key, std::string_view value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status LoadRetentionPolicy(std::string_view key, std::string_view value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status LoadSeries(std::string_view key, std::string_view value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status LoadField(std::string_view key, std::string_view value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status LoadCounter(std::string_view key, std::string_view value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::unique_ptr<rocksdb::DB> db_ ABSL_GUARDED_BY(mu_);  // null once closed

  absl::flat_hash_map<std::string, DbEntry> db_by_name_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint32_t, std::unique_ptr<Database>> dbs_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::unique_ptr<Series>> series_by_id_ ABSL_GUARDED_BY(mu_);
  absl::btree_map<uint64_t, SegmentMeta> segments_ ABSL_GUARDED_BY(mu_);
  absl::btree_map<uint64_t, Tombstone> tombstones_ ABSL_GUARDED_BY(mu_);
  absl::btree_map<std::string, std::string> app_meta_ ABSL_GUARDED_BY(mu_);

  uint64_t wal_checkpoint_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t format_version_ ABSL_GUARDED_BY(mu_) = 0;  // 0 = not stored yet
  uint32_t next_db_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_series_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint32_t next_field_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_segment_id_ ABSL_GUARDED_BY(mu_) = 1;
  // Ids below this are persisted as used ("Knext_segment_id").
  uint64_t reserved_segment_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_tombstone_id_ ABSL_GUARDED_BY(mu_) = 1;
};

// ---- Open / Load ----

// RocksDB's POSIX file system creates files 0644 (less the umask), and this
// RocksDB (7.8) has no working option for it: Env::SetAllowNonOwnerAccess
// is not passed on to the file system. This wrapper makes each file RocksDB
// creates owner-only right after creating it, like ours (engine/util/file.h).
// The process umask is left alone: changing it in a library would race with
// every other thread creating files. Files are never readable by others
// meanwhile: meta/ and the data directory are 0700.
class PrivateFileSystem : public rocksdb::FileSystemWrapper {
 public:
  explicit PrivateFileSystem(const std::shared_ptr<rocksdb::FileSystem>& t) : FileSystemWrapper(t) {}
  const char* Name() const override { return "M2mdbPrivateFileSystem"; }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* d) override {
    return Private(f, target()->NewWritableFile(f, o, r, d));
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* d) override {
    return Private(f, target()->ReopenWritableFile(f, o, r, d));
  }
  rocksdb::IOStatus ReuseWritableFile(const std::string& f, const std::string& old,
                                      const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r,
                                      rocksdb::IODebugContext* d) override {
    return Private(f, target()->ReuseWritableFile(f, old, o, r, d));
  }
  rocksdb::IOStatus NewRandomRWFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* r,
                                    rocksdb::IODebugContext* d) override {
    return Private(f, target()->NewRandomRWFile(f, o, r, d));
  }
  rocksdb::IOStatus NewLogger(const std::string& f, const rocksdb::IOOptions& o,
                              std::shared_ptr<rocksdb::Logger>* r, rocksdb::IODebugContext* d) override {
    return Private(f, target()->NewLogger(f, o, r, d));
  }
  rocksdb::IOStatus LockFile(const std::string& f, const rocksdb::IOOptions& o, rocksdb::FileLock** l,
                             rocksdb::IODebugContext* d) override {
    return Private(f, target()->LockFile(f, o, l, d));
  }

 private:
  static rocksdb::IOStatus Private(const std::string& f, rocksdb::IOStatus s) {
    if (s.ok()) ::chmod(f.c_str(), kPrivateFileMode);  // best effort: the directory is private anyway
    return s;
  }
};

rocksdb::Env* PrivateEnv() {
  // Built once and kept for the life of the process (RocksDB's default Env
  // is a process-wide singleton too).
  static rocksdb::Env* env =
      rocksdb::NewCompositeEnv(std::make_shared<PrivateFileSystem>(rocksdb::FileSystem::Default())).release();
  return env;
}

// RocksDB's info log goes to our log instead of a LOG file in meta/: only
// warnings and errors, and not the options dump it writes at every open (a
// LOG file of ~20 KB on disk that nobody reads, issue 18).
class WarningLogger : public rocksdb::Logger {
 public:
  WarningLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}
  void LogHeader(const char* /*format*/, va_list /*ap*/) override {}
  void Logv(const char* /*format*/, va_list /*ap*/) override {}
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < rocksdb::InfoLogLevel::WARN_LEVEL || level == rocksdb::InfoLogLevel::HEADER_LEVEL) return;
    char buf[1024];
    std::vsnprintf(buf, sizeof(buf), format, ap);
    LogWarning("index: rocksdb: ", buf);
  }
};

rocksdb::Options MetadataOptions() {
  rocksdb::Options o;
  o.env = PrivateEnv();
  o.create_if_missing = true;
  o.paranoid_checks = true;
  // A metadata store: small memtables, few open files, a quiet LOG.
  o.write_buffer_size = 16 << 20;
  o.max_write_buffer_number = 2;
  o.max_open_files = 256;
  o.max_background_jobs = 2;
  o.stats_dump_period_sec = 0;
  o.stats_persist_period_sec = 0;
  o.statistics = nullptr;
  // Disk space sized for what the store holds (issue 18). RocksDB
  // fallocate()s its open WAL in steps of 1.1 × write_buffer_size and its
  // MANIFEST in steps of manifest_preallocation_size (4 MiB): 22 MB on disk
  // (du) for a store of a few hundred KB, paid in full by a gateway with a
  // small disk. Without preallocation the files grow with their content;
  // every synced write is still durable (fdatasync also persists the new
  // file size), only the WAL's append path updates the inode more often,
  // and metadata writes are rare next to point writes.
  o.allow_fallocate = false;
  o.manifest_preallocation_size = 64 << 10;
  // Version edits are small and rare (flushes, compactions); a MANIFEST
  // past 1 MiB is rewritten as one snapshot of the live files.
  o.max_manifest_file_size = 1 << 20;
  o.info_log = std::make_shared<WarningLogger>();
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  o.recycle_log_file_num = 0;  // recycled WAL files keep their old size on disk
  // Close flushes the memtable itself (IndexImpl::Close) and must be able
  // to skip that after an I/O error; RocksDB's own flush at shutdown would
  // trip its assertion on a WAL writer that saw the error.
  o.avoid_flush_during_shutdown = true;
  // Keys share long prefixes and series keys compress well. zstd on 16 KiB
  // blocks: the store is read in full once, at Open, and written in rare
  // batches, so the bytes on disk matter more than the codec's speed (on
  // 100 k short series the metadata store was ~45 % of the data directory
  // with LZ4 on 4 KiB blocks). Debian's librocksdb links libzstd and liblz4,
  // but check rather than assume.
  auto supported = rocksdb::GetSupportedCompressions();
  auto has = [&](rocksdb::CompressionType c) {
    return std::find(supported.begin(), supported.end(), c) != supported.end();
  };
  o.compression = has(rocksdb::kZSTD)             ? rocksdb::kZSTD
                  : has(rocksdb::kLZ4Compression) ? rocksdb::kLZ4Compression
                                                  : rocksdb::kNoCompression;
  rocksdb::BlockBasedTableOptions t;
  t.block_size = 16 << 10;
  // Reads happen only at Open (a full scan), so the block cache stays small.
  t.block_cache = rocksdb::NewLRUCache(8 << 20);
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

Status IndexImpl::LoadDatabase(std::string_view key, std::string_view value) {
  auto db = std::make_unique<Database>();
  db->info.name.assign(key.substr(1));
  if (!DecodeDatabase(value, &db->info) || db->info.id == 0) return CorruptKey("database", key);
  // Format 1: the database's only unit, now its default policy "autogen"
  // (influxd's name for the policy CREATE DATABASE makes).
  db->info.retention_policy = "autogen";
  db->legacy_key = true;
  auto [it, added] = db_by_name_.try_emplace(db->info.name);
  if (added) it->second.default_rp = db->info.retention_policy;
  InsertUnitLocked(std::move(db));
  return absl::OkStatus();
}

Status IndexImpl::LoadRetentionPolicy(std::string_view key, std::string_view value) {
  auto db = std::make_unique<Database>();
  std::string_view k = key.substr(1), name;
  if (!GetLengthPrefixed(&k, &name) || !DecodeRetentionPolicy(value, &db->info) || db->info.id == 0) {
    return CorruptKey("retention policy", key);
  }
  db->info.name.assign(name);
  db->info.retention_policy.assign(k);
  // 'B' sorts first, so the database record is loaded unless it is missing.
  if (!db_by_name_.contains(db->info.name)) return CorruptKey("retention policy without database", key);
  InsertUnitLocked(std::move(db));
  return absl::OkStatus();
}

void IndexImpl::InsertUnitLocked(std::unique_ptr<Database> db) {
  const uint32_t id = db->info.id;
  next_db_id_ = std::max<uint32_t>(next_db_id_, id + 1);
  db_by_name_[db->info.name].rps[db->info.retention_policy] = id;
  dbs_[id] = std::move(db);
}

Status IndexImpl::LoadSeries(std::string_view key, std::string_view value) {
  if (key.size() != 9) return CorruptKey("series id", key);
  auto s = std::make_unique<Series>();
  s->id = DecodeBE64(key.data() + 1);
  if (!GetVarint32(&value, &s->db_id)) return CorruptKey("series id", key);
  next_series_id_ = std::max(next_series_id_, s->id + 1);
  Database* db = FindDb(s->db_id);
  if (db == nullptr) {
    LogWarning("index: series ", s->id, " of unknown database ", s->db_id, " ignored");
    return absl::OkStatus();
  }
  s->key.assign(value);
  db->series.insert(s.get());
  series_by_id_.emplace(s->id, std::move(s));
  return absl::OkStatus();
}

Status IndexImpl::LoadField(std::string_view key, std::string_view value) {
  std::string_view k = key.substr(1), m;
  uint32_t db_id;
  uint64_t id;
  if (!GetBE32(&k, &db_id) || !GetLengthPrefixed(&k, &m) || !GetVarint64(&value, &id) || id == 0 ||
      id > UINT32_MAX || value.empty()) {
    return CorruptKey("field", key);
  }
  auto type = static_cast<FieldType>(value[0]);
  if (type < FieldType::kFloat || type > FieldType::kString) return CorruptKey("field", key);
  Database* db = FindDb(db_id);
  if (db == nullptr) {
    LogWarning("index: field of unknown database ", db_id, " ignored");
    return absl::OkStatus();
  }
  const std::string name(k);
  next_field_id_ = std::max<uint32_t>(next_field_id_, static_cast<uint32_t>(id) + 1);
  GetOrAddMeasurement(db, m)->fields[name] = FieldInfo{static_cast<uint32_t>(id), name, type};
  return absl::OkStatus();
}

Status IndexImpl::LoadCounter(std::string_view key, std::string_view value) {
  uint64_t v;
  if (!GetVarint64(&value, &v)) return CorruptKey("counter", key);
  if (key == kFormatVersionKey) {
    format_version_ = v;
  } else if (key == kNextDbIdKey) {
    if (v > UINT32_MAX) return CorruptKey("counter", key);
    next_db_id_ = std::max<uint32_t>(next_db_id_, static_cast<uint32_t>(v));
  } else if (key == kNextSeriesIdKey) {
    next_series_id_ = std::max(next_series_id_, v);
  } else if (key == kNextFieldIdKey) {
    if (v > UINT32_MAX) return CorruptKey("counter", key);
    next_field_id_ = std::max<uint32_t>(next_field_id_, static_cast<uint32_t>(v));
  } else if (key == kNextSegmentIdKey) {
    next_segment_id_ = std::max(next_segment_id_, v);
  } else if (key == kNextTombstoneIdKey) {
    next_tombstone_id_ = std::max(next_tombstone_id_, v);
  } else if (key == kWalCheckpointKey) {
    wal_checkpoint_ = v;
  } else {
    LogWarning("index: unknown counter \"", absl::CHexEscape(ToAbsl(key)), "\" ignored");
  }
  return absl::OkStatus();
}

Status IndexImpl::Load() {
  absl::MutexLock l(&mu_);
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;  // one pass; everything ends up in our own maps
  ro.readahead_size = 2 << 20;
  ro.verify_checksums = true;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));

  // "M" and "P" keys arrive grouped by (db, measurement[, tag key, tag value])
  // with ascending ids, so consecutive keys usually extend the same list:
  // remember it and only look up when the group changes.
  std::string group;  // raw key bytes without the id suffix
  std::vector<uint64_t>* mlist = nullptr;
  Postings* plist = nullptr;
  uint64_t orphans = 0;

  for (it->SeekToFirst(); it->Valid();) {
    std::string_view key = FromSlice(it->key()), value = FromSlice(it->value());
    if (key.empty()) return CorruptKey("empty", key);
    switch (key[0]) {
      case kSegmentPrefix: {
        SegmentMeta s;
        if (key.size() != 9 || !DecodeSegment(value, &s)) return CorruptKey("segment", key);
        s.id = DecodeBE64(key.data() + 1);
        next_segment_id_ = std::max(next_segment_id_, s.id + 1);
        segments_[s.id] = std::move(s);
        break;
      }
      case kDatabasePrefix:
        RETURN_IF_ERROR(LoadDatabase(key, value));
        break;
      case kDbRecordPrefix: {
        std::string_view v = value, rp;
        if (!GetLengthPrefixed(&v, &rp)) return CorruptKey("database", key);
        db_by_name_[std::string(key.substr(1))].default_rp.assign(rp);
        break;
      }
      case kRetentionPolicyPrefix:
        RETURN_IF_ERROR(LoadRetentionPolicy(key, value));
        break;
      case kFieldPrefix:
        RETURN_IF_ERROR(LoadField(key, value));
        break;
      case kSeriesIdPrefix:
        RETURN_IF_ERROR(LoadSeries(key, value));
        break;
      case kCounterPrefix:
        RETURN_IF_ERROR(LoadCounter(key, value));
        break;
      case kMeasurementPrefix:
      case kPostingPrefix: {
        if (key.size() < 1 + 4 + 1 + 8) return CorruptKey("postings", key);
        std::string_view g = key.substr(0, key.size() - 8);
        uint64_t id = DecodeBE64(key.data() + key.size() - 8);
        if (g != group) {
          group.assign(g);
          mlist = nullptr;
          plist = nullptr;
          std::string_view k = g.substr(1), m, tk, tv;
          uint32_t db_id;
          if (!GetBE32(&k, &db_id) || !GetLengthPrefixed(&k, &m)) return CorruptKey("postings", key);
          if (key[0] == kPostingPrefix && (!GetLengthPrefixed(&k, &tk) || !GetLengthPrefixed(&k, &tv))) {
            return CorruptKey("postings", key);
          }
          if (!k.empty()) return CorruptKey("postings", key);
          Database* db = FindDb(db_id);
          if (db != nullptr) {
            Measurement* meas = GetOrAddMeasurement(db, m);
            if (key[0] == kMeasurementPrefix) {
              mlist = &meas->series;
            } else {
              plist = &meas->tags[std::string(tk)][std::string(tv)];
            }
          }
        }
        if ((mlist == nullptr && plist == nullptr) || !series_by_id_.contains(id)) {
          orphans++;
        } else if (mlist != nullptr) {
          mlist->push_back(id);  // ascending: BE64 ids within one group
        } else {
          plist->push_back(id);
        }
        break;
      }
      case kSeriesKeyPrefix:
        // The key -> id direction is rebuilt from "I"; skip the whole range.
        it->Seek(std::string(1, static_cast<char>(kSeriesKeyPrefix + 1)));
        continue;
      case kTombstonePrefix: {
        Tombstone t;
        if (key.size() != 9 || !DecodeTombstone(value, &t)) return CorruptKey("tombstone", key);
        t.id = DecodeBE64(key.data() + 1);
        next_tombstone_id_ = std::max(next_tombstone_id_, t.id + 1);
        tombstones_[t.id] = std::move(t);
        break;
      }
      case kAppMetaPrefix:
        app_meta_[std::string(key.substr(1))] = std::string(value);
        break;
      default:
        return CorruptKey("unknown", key);
    }
    it->Next();
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "load"));
  it.reset();
  if (orphans > 0) LogWarning("index: ", orphans, " postings without a series ignored");
  if (format_version_ > kFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat("index: format version ", format_version_,
                                                      " is newer than this binary supports (", kFormatVersion,
                                                      ")"));
  }
  // push_back doubled capacities; give the slack back (8 B per series).
  for (auto& [id, db] : dbs_) {
    for (auto& [name, m] : db->measurements) {
      m->series.shrink_to_fit();
      for (auto& [tk, values] : m->tags) {
        for (auto& [tv, p] : values) p.shrink_to_fit();
      }
    }
  }
  reserved_segment_id_ = next_segment_id_;  // the first NextSegmentId reserves a block
  if (format_version_ < kFormatVersion && !read_only_) {
    rocksdb::WriteBatch b;
    b.Put(ToSlice(kFormatVersionKey), Varint(kFormatVersion));
    RETURN_IF_ERROR(Write(&b, /*sync=*/true, "write format version"));
    format_version_ = kFormatVersion;
  }
  return absl::OkStatus();
}

// ---- databases ----

StatusOr<std::unique_ptr<Database>> IndexImpl::NewUnitLocked(const DatabaseInfo& info,
                                                             rocksdb::WriteBatch* b) {
  if (next_db_id_ == UINT32_MAX) return absl::ResourceExhaustedError("index: database ids exhausted");
  auto db = std::make_unique<Database>();
  db->info = info;
  db->info.id = next_db_id_;
  db->info.is_default = false;
  b->Put(RetentionPolicyKey(info.name, info.retention_policy), EncodeRetentionPolicy(db->info));
  b->Put(ToSlice(kNextDbIdKey), Varint(db->info.id + 1));
  return db;
}

StatusOr<DatabaseInfo> IndexImpl::CreateDatabase(const DatabaseInfo& info) {
  if (info.name.empty()) return absl::InvalidArgumentError("index: database name is empty");
  if (info.retention_policy.empty())
    return absl::InvalidArgumentError("index: retention policy name is empty");
  RETURN_IF_ERROR(CheckUnit(info));
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(CheckOpen());
  if (auto it = db_by_name_.find(info.name); it != db_by_name_.end()) {
    auto rp = it->second.rps.find(it->second.default_rp);
    if (rp == it->second.rps.end()) {
      return absl::NotFoundError(absl::StrCat("retention policy not found: ", it->second.default_rp));
    }
    return InfoOf(*FindDb(rp->second));
  }
  rocksdb::WriteBatch b;
  std::string rec;
  PutLengthPrefixed(&rec, info.retention_policy);
  b.Put(DbRecordKey(info.name), rec);
  ASSIGN_OR_RETURN(auto db, NewUnitLocked(info, &b));
  RETURN_IF_ERROR(Write(&b, /*sync=*/true, "create database"));
  db_by_name_[info.name].default_rp = info.retention_policy;
  const Database& ref = *db;
  InsertUnitLocked(std::move(db));
  return InfoOf(ref);
}

StatusOr<DatabaseInfo> IndexImpl::CreateRetentionPolicy(const DatabaseInfo& info, bool make_default) {
  if (info.retention_policy.empty())
    return absl::InvalidArgumentError("index: retention policy name is empty");
  RETURN_IF_ERROR(CheckUnit(info));
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(CheckOpen());
  auto it = db_by_name_.find(info.name);
  if (it == db_by_name_.end()) return absl::NotFoundError(absl::StrCat("database not found: ", info.name));
  if (it->second.rps.contains(info.retention_policy)) {
    return absl::AlreadyExistsError("retention policy already exists");
  }
  rocksdb::WriteBatch b;
  const std::string default_rp = make_default ? info.retention_policy : it->second.default_rp;
  std::string rec;
  PutLengthPrefixed(&rec, default_rp);
  b.Put(DbRecordKey(info.name), rec);  // also writes it for a format-1 database
  ASSIGN_OR_RETURN(auto db, NewUnitLocked(info, &b));
  RETURN_IF_ERROR(Write(&b, /*sync=*/true, "create retention policy"));
  it->second.default_rp = default_rp;
  const Database& ref = *db;
  InsertUnitLocked(std::move(db));
  return InfoOf(ref);
}

Status IndexImpl::UpdateDatabase(const DatabaseInfo& info) {
  RETURN_IF_ERROR(CheckUnit(info));
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(CheckOpen());
  auto it = db_by_name_.find(info.name);
  if (it == db_by_name_.end()) return absl::NotFoundError(absl::StrCat("database not found: ", info.name));
  auto rp = it->second.rps.find(info.retention_policy);
  if (rp == it->second.rps.end()) {
    return absl::NotFoundError(absl::StrCat("retention policy not found: ", info.retention_policy));
  }
  Database* db = FindDb(rp->second);
  DatabaseInfo updated = info;
  updated.id = db->info.id;  // the id is the store's, not the caller's
  updated.is_default = false;
  const std::string default_rp = info.is_default ? info.retention_policy : it->second.default_rp;
  rocksdb::WriteBatch b;
  std::string rec;
  PutLengthPrefixed(&rec, default_rp);
  b.Put(DbRecordKey(info.name), rec);
  // A format-1 record moves to its 'E' key.
  if (db->legacy_key) b.Delete(DatabaseKey(info.name));
  b.Put(RetentionPolicyKey(info.name, info.retention_policy), EncodeRetentionPolicy(updated));
  RETURN_IF_ERROR(Write(&b, /*sync=*/true, "update database"));
  db->info = std::move(updated);
  db->legacy_key = false;
  it->second.default_rp = default_rp;
  return absl::OkStatus();
}

void IndexImpl::DeleteUnitLocked(uint32_t db_id, rocksdb::WriteBatch* b, std::vector<uint64_t>* segs,
                                 std::vector<uint64_t>* tombs) {
  Database* db = FindDb(db_id);
  if (db->legacy_key) b->Delete(DatabaseKey(db->info.name));
  b->Delete(RetentionPolicyKey(db->info.name, db->info.retention_policy));
  // The per-unit kinds are contiguous: one range tombstone each.
  for (char p : {kFieldPrefix, kMeasurementPrefix, kPostingPrefix, kSeriesKeyPrefix}) {
    std::string begin = DbPrefix(p, db_id);
    b->DeleteRange(begin, PrefixEnd(begin));
  }
  // Keyed by store-wide ids: one delete each.
  for (const Series* s : db->series) b->Delete(IdKey(kSeriesIdPrefix, s->id));
  for (const auto& [id, s] : segments_) {
    if (s.db_id == db_id) segs->push_back(id);
  }
  for (const auto& [id, t] : tombstones_) {
    if (t.db_id == db_id) tombs->push_back(id);
  }
  for (uint64_t id : *segs) b->Delete(IdKey(kSegmentPrefix, id));
  for (uint64_t id : *tombs) b->Delete(IdKey(kTombstonePrefix, id));
}

void IndexImpl::EraseUnitLocked(uint32_t db_id, const std::vector<uint64_t>& segs,
                                const std::vector<uint64_t>& tombs) {
  Database* db = FindDb(db_id);
  for (const Series* s : db->series) series_by_id_.erase(s->id);  // frees *s; the set goes next
  for (uint64_t id : segs) segments_.erase(id);
  for (uint64_t id : tombs) tombstones_.erase(id);
  if (auto it = db_by_name_.find(db->info.name); it != db_by_name_.end()) {
    it->second.rps.erase(db->info.retention_policy);
  }
  dbs_.erase(db_id);
}

Status IndexImpl::DropRetentionPolicy(std::string_view name, std::string_view rp) {
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(CheckOpen());
  auto it = db_by_name_.find(ToAbsl(name));
  if (it == db_by_name_.end()) return absl::NotFoundError(absl::StrCat("database not found: ", ToAbsl(name)));
  auto unit = it->second.rps.find(ToAbsl(rp));
  if (unit == it->second.rps.end()) return absl::OkStatus();  // influxd: idempotent
  const uint32_t db_id = unit->second;
  rocksdb::WriteBatch b;
  std::vector<uint64_t> segs, tombs;
  // The database record keeps the default's name (influxd does).
  std::string rec;
  PutLengthPrefixed(&rec, it->second.default_rp);
  b.Put(DbRecordKey(name), rec);
  DeleteUnitLocked(db_id, &b, &segs, &tombs);
  RETURN_IF_ERROR(
      Write(&b, /*sync=*/true, absl::StrCat("drop retention policy ", ToAbsl(rp), " on ", ToAbsl(name))));
  EraseUnitLocked(db_id, segs, tombs);
  return absl::OkStatus();
}

Status IndexImpl::DropDatabase(std::string_view name) {
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(CheckOpen());
  auto it = db_by_name_.find(ToAbsl(name));
  if (it == db_by_name_.end()) return absl::OkStatus();  // InfluxDB: DROP DATABASE is idempotent
  std::vector<uint32_t> ids;
  for (const auto& [rp, id] : it->second.rps) ids.push_back(id);
  rocksdb::WriteBatch b;
  std::vector<std::vector<uint64_t>> segs(ids.size()), tombs(ids.size());
  for (size_t k = 0; k < ids.size(); k++) DeleteUnitLocked(ids[k], &b, &segs[k], &tombs[k]);
  b.Delete(DatabaseKey(name));
  b.Delete(DbRecordKey(name));
  RETURN_IF_ERROR(Write(&b, /*sync=*/true, absl::StrCat("drop database ", ToAbsl(name))));
  for (size_t k = 0; k < ids.size(); k++) EraseUnitLocked(ids[k], segs[k], tombs[k]);
  db_by_name_.erase(ToAbsl(name));
  return absl::OkStatus();
}

std::optional<DatabaseInfo> IndexImpl::GetDatabase(std::string_view name) const {
  return GetRetentionPolicy(name, {});
}

std::optional<DatabaseInfo> IndexImpl::GetRetentionPolicy(std::string_view name, std::string_view rp) const {
  absl::ReaderMutexLock l(&mu_);
  auto it = db_by_name_.find(ToAbsl(name));
  if (it == db_by_name_.end()) return std::nullopt;
  auto unit = it->second.rps.find(rp.empty() ? it->second.default_rp : ToAbsl(rp));
  if (unit == it->second.rps.end()) return std::nullopt;
  return InfoOf(*FindDb(unit->second));
}

std::optional<std::string> IndexImpl::DefaultRetentionPolicy(std::string_view name) const {
  absl::ReaderMutexLock l(&mu_);
  auto it = db_by_name_.find(ToAbsl(name));
  if (it == db_by_name_.end()) return std::nullopt;
  return it->second.default_rp;
}

std::vector<DatabaseInfo> IndexImpl::ListDatabases() const {
  std::vector<DatabaseInfo> out;
  {
    absl::ReaderMutexLock l(&mu_);
    out.reserve(dbs_.size());
    for (const auto& [id, db] : dbs_) out.push_back(InfoOf(*db));
  }
  std::sort(out.begin(), out.end(), [](const DatabaseInfo& a, const DatabaseInfo& b) {
    return std::tie(a.name, a.retention_policy) < std::tie(b.name, b.retention_policy);
  });
  return out;
}

std::vector<std::string> IndexImpl::DatabaseNames() const {
  std::vector<std::string> out;
  {
    absl::ReaderMutexLock l(&mu_);
    for (const auto& [name, e] : db_by_name_) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// ---- series ----

StatusOr<uint64_t> IndexImpl::GetOrCreateSeries(uint32_t db_id, std::string_view key, bool* created) {
  {
    // Hot path: the series exists. One hash lookup, shared lock, no allocation.
    absl::ReaderMutexLock l(&mu_);
    RETURN_IF_ERROR(CheckOpen());
    const Database* db = FindDb(db_id);
    if (db == nullptr) return absl::NotFoundError(absl::StrCat("index: database id ", db_id, " not found"));
    auto it = db->series.find(key);
    if (it != db->series.end()) {
      if (created != nullptr) *created = false;
      return (*it)->id;
    }
  }
  // Parse outside the lock: creators of different series do not wait on it.
  std::string measurement;
  std::vector<std::pair<std::string, std::string>> tags;
  Status ps = lineproto::ParseSeriesKey(key, &measurement, &tags);
  if (!ps.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("index: bad series key \"", absl::CHexEscape(ToAbsl(key)), "\": ", ps.message()));
  }
  if (measurement.empty()) return absl::InvalidArgumentError("index: series key has an empty measurement");

  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(CheckOpen());
  Database* db = FindDb(db_id);
  if (db == nullptr) return absl::NotFoundError(absl::StrCat("index: database id ", db_id, " not found"));
  if (auto it = db->series.find(key); it != db->series.end()) {  // another writer won the race
    if (created != nullptr) *created = false;
    return (*it)->id;
  }
  const uint64_t id = next_series_id_;
  rocksdb::WriteBatch b;
  b.Put(SeriesKeyKey(db_id, key), Varint(id));
  std::string rev = Varint(db_id);
  rev.append(key);
  b.Put(IdKey(kSeriesIdPrefix, id), rev);
  b.Put(MeasurementKey(db_id, measurement, id), rocksdb::Slice());
  for (const auto& [tk, tv] : tags) b.Put(PostingKey(db_id, measurement, tk, tv, id), rocksdb::Slice());
  b.Put(ToSlice(kNextSeriesIdKey), Varint(id + 1));
  // Not synced: the WAL carries series keys, so replay re-creates a series
  // lost in a power failure; anything that stores ids durably (segments,
  // tombstones) is a synced write, which persists this one first.
  RETURN_IF_ERROR(Write(&b, /*sync=*/false, "create series"));
  next_series_id_ = id + 1;

  auto s = std::make_unique<Series>(Series{id, db_id, std::string(key)});
  db->series.insert(s.get());
  series_by_id_.emplace(id, std::move(s));
  Measurement* m = GetOrAddMeasurement(db, measurement);
  InsertSorted(&m->series, id);
  for (auto& [tk, tv] : tags) InsertSorted(&m->tags[std::move(tk)][std::move(tv)], id);
  if (created != nullptr) *created = true;
  return id;
}

std::optional<uint64_t> IndexImpl::FindSeries(uint32_t db_id, std::string_view key) const {
  absl::ReaderMutexLock l(&mu_);
  const Database* db = FindDb(db_id);
  if (db == nullptr) return std::nullopt;
  auto it = db->series.find(key);
  if (it == db->series.end()) return std::nullopt;
  return (*it)->id;
}

std::optional<std::string> IndexImpl::SeriesKeyOf(uint64_t series_id) const {
  absl::ReaderMutexLock l(&mu_);
  auto it = series_by_id_.find(series_id);
  if (it == series_by_id_.end()) return std::nullopt;
  return it->second->key;
}

uint64_t IndexImpl::SeriesCount(uint32_t db_id) const {
  absl::ReaderMutexLock l(&mu_);
  const Database* db = FindDb(db_id);
  return db == nullptr ? 0 : db->series.size();
}

Status IndexImpl::DeleteSeries(uint32_t db_id, const std::vector<uint64_t>& series_ids) {
  std::vector<uint64_t> ids = series_ids;
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());

  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(CheckOpen());
  Database* db = FindDb(db_id);
  if (db == nullptr) return absl::NotFoundError(absl::StrCat("index: database id ", db_id, " not found"));

  // Parse each victim's key once: it names the postings to remove. Removals
  // are grouped per list so that dropping N series of one measurement costs
  // one pass over each affected list, not N.
  struct Victim {
    Series* series;
    std::string measurement;
    std::vector<std::pair<std::string, std::string>> tags;
  };
  std::vector<Victim> victims;
  rocksdb::WriteBatch b;
  for (uint64_t id : ids) {
    auto it = series_by_id_.find(id);
    if (it == series_by_id_.end() || it->second->db_id != db_id) continue;  // already gone
    Victim v{it->second.get(), {}, {}};
    Status ps = lineproto::ParseSeriesKey(v.series->key, &v.measurement, &v.tags);
    if (!ps.ok())
      return absl::InternalError(absl::StrCat("index: stored series key unparsable: ", ps.message()));
    b.Delete(SeriesKeyKey(db_id, v.series->key));
    b.Delete(IdKey(kSeriesIdPrefix, id));
    b.Delete(MeasurementKey(db_id, v.measurement, id));
    for (const auto& [tk, tv] : v.tags) b.Delete(PostingKey(db_id, v.measurement, tk, tv, id));
    victims.push_back(std::move(v));
  }
  if (victims.empty()) return absl::OkStatus();
  // Synced: DROP SERIES is acknowledged to the user.
  RETURN_IF_ERROR(Write(&b, /*sync=*/true, "delete series"));

  // Victims are in ascending id order, so every per-list vector is sorted.
  absl::flat_hash_map<std::vector<uint64_t>*, std::vector<uint64_t>> from_measurement;
  absl::flat_hash_map<Postings*, std::vector<uint64_t>> from_postings;
  for (const Victim& v : victims) {
    auto mit = db->measurements.find(v.measurement);
    if (mit == db->measurements.end()) continue;
    Measurement* m = mit->second.get();
    from_measurement[&m->series].push_back(v.series->id);
    for (const auto& [tk, tv] : v.tags) {
      auto kit = m->tags.find(tk);
      if (kit == m->tags.end()) continue;
      auto vit = kit->second.find(tv);
      if (vit == kit->second.end()) continue;
      from_postings[&vit->second].push_back(v.series->id);
    }
  }
  // Pointers into the btrees stay valid while no btree changes shape.
  for (auto& [list, gone] : from_measurement) RemoveSorted(list, gone);
  for (auto& [list, gone] : from_postings) RemoveSorted(list, gone);
  for (const Victim& v : victims) {
    auto mit = db->measurements.find(v.measurement);
    if (mit != db->measurements.end()) {
      Measurement* m = mit->second.get();
      for (const auto& [tk, tv] : v.tags) {
        auto kit = m->tags.find(tk);
        if (kit == m->tags.end()) continue;
        auto vit = kit->second.find(tv);
        if (vit != kit->second.end() && vit->second.empty()) kit->second.erase(vit);
        if (kit->second.empty()) m->tags.erase(kit);
      }
      MaybeEraseMeasurement(db, v.measurement);
    }
    db->series.erase(v.series);
    series_by_id_.erase(v.series->id);  // frees the Series: last
  }
  return absl::OkStatus();
}

// ---- measurements and tags ----

std::vector<std::string> IndexImpl::Measurements(uint32_t db_id) const {
  std::vector<std::string> out;
  {
    absl::ReaderMutexLock l(&mu_);
    const Database* db = FindDb(db_id);
    if (db == nullptr) return out;
    for (const auto& [name, m] : db->measurements) {
      if (!m->series.empty()) out.push_back(name);  // fields alone do not make it visible
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<uint64_t> IndexImpl::SeriesOfMeasurement(uint32_t db_id, std::string_view measurement) const {
  absl::ReaderMutexLock l(&mu_);
  const Measurement* m = FindMeasurement(db_id, measurement);
  if (m == nullptr) return {};
  return m->series;
}

std::vector<std::string> IndexImpl::TagKeys(uint32_t db_id, std::string_view measurement) const {
  absl::ReaderMutexLock l(&mu_);
  const Measurement* m = FindMeasurement(db_id, measurement);
  std::vector<std::string> out;
  if (m == nullptr) return out;
  out.reserve(m->tags.size());
  for (const auto& [k, values] : m->tags) out.push_back(k);
  return out;
}

std::vector<std::string> IndexImpl::TagValues(uint32_t db_id, std::string_view measurement,
                                              std::string_view tag_key) const {
  absl::ReaderMutexLock l(&mu_);
  const Measurement* m = FindMeasurement(db_id, measurement);
  std::vector<std::string> out;
  if (m == nullptr) return out;
  auto it = m->tags.find(ToAbsl(tag_key));
  if (it == m->tags.end()) return out;
  out.reserve(it->second.size());
  for (const auto& [v, postings] : it->second) out.push_back(v);
  return out;
}

std::vector<uint64_t> IndexImpl::SeriesWithTag(uint32_t db_id, std::string_view measurement,
                                               std::string_view tag_key, std::string_view tag_value) const {
  absl::ReaderMutexLock l(&mu_);
  const Measurement* m = FindMeasurement(db_id, measurement);
  if (m == nullptr) return {};
  auto kit = m->tags.find(ToAbsl(tag_key));
  if (kit == m->tags.end()) return {};
  auto vit = kit->second.find(ToAbsl(tag_value));
  if (vit == kit->second.end()) return {};
  return std::vector<uint64_t>(vit->second.begin(), vit->second.end());
}

// ---- fields ----

Status FieldConflict(std::string_view measurement, std::string_view field, FieldType type,
                     FieldType existing) {
  // InfluxDB 1.x wording, byte for byte: clients match on it.
  return absl::FailedPreconditionError(
      absl::StrCat("field type conflict: input field \"", ToAbsl(field), "\" on measurement \"",
                   ToAbsl(measurement), "\" is type ", ToAbsl(FieldTypeName(type)),
                   ", already exists as type ", ToAbsl(FieldTypeName(existing))));
}

StatusOr<FieldInfo> IndexImpl::GetOrCreateField(uint32_t db_id, std::string_view measurement,
                                                std::string_view field, FieldType type) {
  if (type < FieldType::kFloat || type > FieldType::kString) {
    return absl::InvalidArgumentError("index: invalid field type");
  }
  {
    absl::ReaderMutexLock l(&mu_);
    RETURN_IF_ERROR(CheckOpen());
    if (FindDb(db_id) == nullptr)
      return absl::NotFoundError(absl::StrCat("index: database id ", db_id, " not found"));
    if (const Measurement* m = FindMeasurement(db_id, measurement); m != nullptr) {
      if (auto it = m->fields.find(ToAbsl(field)); it != m->fields.end()) {
        if (it->second.type != type) return FieldConflict(measurement, field, type, it->second.type);
        return it->second;
      }
    }
  }
  if (measurement.empty() || field.empty()) {
    return absl::InvalidArgumentError("index: empty measurement or field name");
  }
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(CheckOpen());
  Database* db = FindDb(db_id);
  if (db == nullptr) return absl::NotFoundError(absl::StrCat("index: database id ", db_id, " not found"));
  Measurement* m = GetOrAddMeasurement(db, measurement);
  if (auto it = m->fields.find(ToAbsl(field)); it != m->fields.end()) {  // lost a race
    if (it->second.type != type) return FieldConflict(measurement, field, type, it->second.type);
    return it->second;
  }
  if (next_field_id_ == UINT32_MAX) return absl::ResourceExhaustedError("index: field ids exhausted");
  FieldInfo f{next_field_id_, std::string(field), type};
  std::string value = Varint(f.id);
  value.push_back(static_cast<char>(type));
  rocksdb::WriteBatch b;
  b.Put(FieldKey(db_id, measurement, field), value);
  b.Put(ToSlice(kNextFieldIdKey), Varint(f.id + 1));
  // Not synced, for the same reason as series (the WAL re-creates it, in the
  // same order, so with the same type).
  Status ws = Write(&b, /*sync=*/false, "create field");
  if (!ws.ok()) {
    MaybeEraseMeasurement(db, measurement);
    return ws;
  }
  next_field_id_++;
  m->fields.emplace(f.name, f);
  return f;
}

std::optional<FieldInfo> IndexImpl::FindField(uint32_t db_id, std::string_view measurement,
                                              std::string_view field) const {
  absl::ReaderMutexLock l(&mu_);
  const Measurement* m = FindMeasurement(db_id, measurement);
  if (m == nullptr) return std::nullopt;
  auto it = m->fields.find(ToAbsl(field));
  if (it == m->fields.end()) return std::nullopt;
  return it->second;
}

std::vector<FieldInfo> IndexImpl::Fields(uint32_t db_id, std::string_view measurement) const {
  std::vector<FieldInfo> out;
  {
    absl::ReaderMutexLock l(&mu_);
    const Measurement* m = FindMeasurement(db_id, measurement);
    if (m == nullptr) return out;
    out.reserve(m->fields.size());
    for (const auto& [name, f] : m->fields) out.push_back(f);
  }
  std::sort(out.begin(), out.end(), [](const FieldInfo& a, const FieldInfo& b) { return a.name < b.name; });
  return out;
}

Status IndexImpl::DeleteFields(uint32_t db_id, std::string_view measurement) {
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(CheckOpen());
  Database* db = FindDb(db_id);
  if (db == nullptr) return absl::NotFoundError(absl::StrCat("index: database id ", db_id, " not found"));
  auto it = db->measurements.find(ToAbsl(measurement));
  if (it == db->measurements.end() || it->second->fields.empty()) return absl::OkStatus();
  rocksdb::WriteBatch b;
  for (const auto& [name, f] : it->second->fields) b.Delete(FieldKey(db_id, measurement, name));
  RETURN_IF_ERROR(Write(&b, /*sync=*/true, "delete fields"));
  it->second->fields.clear();
  MaybeEraseMeasurement(db, measurement);
  return absl::OkStatus();
}

// ---- segment catalog ----

uint64_t IndexImpl::NextSegmentId() {
  absl::MutexLock l(&mu_);
  if (next_segment_id_ >= reserved_segment_id_ && db_ != nullptr) {
    const uint64_t reserve = next_segment_id_ + kSegmentIdBlock;
    rocksdb::WriteBatch b;
    b.Put(ToSlice(kNextSegmentIdKey), Varint(reserve));
    Status s = Write(&b, /*sync=*/true, "reserve segment ids");
    if (s.ok()) {
      reserved_segment_id_ = reserve;
    } else {
      // The id is still unique in this process; only a crash before the next
      // successful reservation or commit could hand it out again.
      LogError(s.message());
    }
  }
  return next_segment_id_++;
}

Status IndexImpl::CommitSegments(const std::vector<SegmentMeta>& added,
                                 const std::vector<uint64_t>& removed_ids,
                                 std::optional<uint64_t> wal_checkpoint) {
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(CheckOpen());
  // Validate everything before writing anything: the commit is all or nothing.
  // Removing an unknown id fails, so a compaction racing a retention drop or
  // DROP DATABASE learns that its inputs are gone instead of resurrecting them.
  absl::flat_hash_set<uint64_t> seen;
  for (uint64_t id : removed_ids) {
    if (!segments_.contains(id))
      return absl::NotFoundError(absl::StrCat("index: segment ", id, " not in catalog"));
    if (!seen.insert(id).second)
      return absl::InvalidArgumentError(absl::StrCat("index: segment ", id, " removed twice"));
  }
  uint64_t max_added = 0;
  for (const SegmentMeta& s : added) {
    if (s.id == 0) return absl::InvalidArgumentError("index: segment id 0");
    if (segments_.contains(s.id) || !seen.insert(s.id).second) {
      return absl::AlreadyExistsError(absl::StrCat("index: segment ", s.id, " already in catalog"));
    }
    if (FindDb(s.db_id) == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("index: segment ", s.id, ": database id ", s.db_id, " not found"));
    }
    max_added = std::max(max_added, s.id);
  }
  rocksdb::WriteBatch b;
  for (const SegmentMeta& s : added) b.Put(IdKey(kSegmentPrefix, s.id), EncodeSegment(s));
  for (uint64_t id : removed_ids) b.Delete(IdKey(kSegmentPrefix, id));
  if (wal_checkpoint.has_value()) b.Put(ToSlice(kWalCheckpointKey), Varint(*wal_checkpoint));
  // An id the caller chose itself must not be handed out later.
  const bool bump = max_added >= reserved_segment_id_;
  if (bump) b.Put(ToSlice(kNextSegmentIdKey), Varint(max_added + 1));
  RETURN_IF_ERROR(Write(&b, /*sync=*/true, "commit segments"));

  for (uint64_t id : removed_ids) segments_.erase(id);
  for (const SegmentMeta& s : added) segments_[s.id] = s;
  if (wal_checkpoint.has_value()) wal_checkpoint_ = *wal_checkpoint;
  if (bump) reserved_segment_id_ = max_added + 1;
  next_segment_id_ = std::max(next_segment_id_, max_added + 1);
  return absl::OkStatus();
}

std::vector<SegmentMeta> IndexImpl::Segments() const {
  absl::ReaderMutexLock l(&mu_);
  std::vector<SegmentMeta> out;
  out.reserve(segments_.size());
  for (const auto& [id, s] : segments_) out.push_back(s);
  return out;
}

uint64_t IndexImpl::WalCheckpoint() const {
  absl::ReaderMutexLock l(&mu_);
  return wal_checkpoint_;
}

// ---- tombstones ----

StatusOr<uint64_t> IndexImpl::AddTombstone(const Tombstone& t) {
  if (t.min_time > t.max_time) return absl::InvalidArgumentError("index: tombstone min_time > max_time");
  Tombstone copy = t;
  std::sort(copy.series_ids.begin(), copy.series_ids.end());
  copy.series_ids.erase(std::unique(copy.series_ids.begin(), copy.series_ids.end()), copy.series_ids.end());
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(CheckOpen());
  if (FindDb(t.db_id) == nullptr) {
    return absl::NotFoundError(absl::StrCat("index: database id ", t.db_id, " not found"));
  }
  copy.id = next_tombstone_id_;
  rocksdb::WriteBatch b;
  b.Put(IdKey(kTombstonePrefix, copy.id), EncodeTombstone(copy));
  b.Put(ToSlice(kNextTombstoneIdKey), Varint(copy.id + 1));
  RETURN_IF_ERROR(Write(&b, /*sync=*/true, "add tombstone"));  // a DELETE is acknowledged
  next_tombstone_id_++;
  tombstones_[copy.id] = std::move(copy);
  return next_tombstone_id_ - 1;
}

Status IndexImpl::RemoveTombstones(const std::vector<uint64_t>& ids) {
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(CheckOpen());
  rocksdb::WriteBatch b;
  for (uint64_t id : ids) {
    if (tombstones_.contains(id)) b.Delete(IdKey(kTombstonePrefix, id));  // unknown ids: already gone
  }
  if (b.Count() == 0) return absl::OkStatus();
  RETURN_IF_ERROR(Write(&b, /*sync=*/true, "remove tombstones"));
  for (uint64_t id : ids) tombstones_.erase(id);
  return absl::OkStatus();
}

std::vector<Tombstone> IndexImpl::Tombstones() const {
  absl::ReaderMutexLock l(&mu_);
  std::vector<Tombstone> out;
  out.reserve(tombstones_.size());
  for (const auto& [id, t] : tombstones_) out.push_back(t);
  return out;
}

Status IndexImpl::PutAppMeta(std::string_view key, std::string_view value) {
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(CheckOpen());
  rocksdb::WriteBatch b;
  std::string k(1, kAppMetaPrefix);
  k.append(key);
  b.Put(k, rocksdb::Slice(value.data(), value.size()));
  RETURN_IF_ERROR(Write(&b, /*sync=*/true, "put app metadata"));
  app_meta_[std::string(key)] = std::string(value);
  return absl::OkStatus();
}

Status IndexImpl::DeleteAppMeta(std::string_view key) {
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(CheckOpen());
  rocksdb::WriteBatch b;
  std::string k(1, kAppMetaPrefix);
  k.append(key);
  b.Delete(k);
  RETURN_IF_ERROR(Write(&b, /*sync=*/true, "delete app metadata"));
  app_meta_.erase(std::string(key));
  return absl::OkStatus();
}

std::vector<std::pair<std::string, std::string>> IndexImpl::ListAppMeta(std::string_view prefix) const {
  absl::ReaderMutexLock l(&mu_);
  std::vector<std::pair<std::string, std::string>> out;
  for (auto it = app_meta_.lower_bound(std::string(prefix)); it != app_meta_.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix.data(), prefix.size()) != 0) break;
    out.emplace_back(it->first, it->second);
  }
  return out;
}

Status IndexImpl::Close() {
  absl::MutexLock l(&mu_);
  if (db_ == nullptr) return absl::OkStatus();
  // Flushing the memtable makes the next Open skip replaying RocksDB's WAL
  // (seconds for millions of series); it also persists the unsynced writes.
  rocksdb::FlushOptions fo;
  fo.wait = true;
  Status s;
  // The memtable flush writes an SST of about the memtable's size. On a
  // full volume it fails, and RocksDB then trips an assertion on its next
  // write (writable_file_writer.h: sync_without_flush_called_): so flush
  // only when there is room for it (with a margin for the MANIFEST).
  uint64_t mem = 0;
  if (!read_only_ && !write_failed_) db_->GetIntProperty("rocksdb.cur-size-all-mem-tables", &mem);
  auto room =
      read_only_ || write_failed_ ? StatusOr<bool>(true) : HasRoomFor(db_->GetName(), mem + (8 << 20));
  if (read_only_) {
    // Nothing to flush.
  } else if (room.ok() && !*room) {
    s = absl::ResourceExhaustedError(
        "index: skipped the flush at close: no space left (RocksDB replays its own WAL at the next start)");
  } else if (write_failed_) {
    // After a failed write (a full disk) nothing more is written: RocksDB's
    // own WAL replays what was synced at the next Open.
    s = absl::UnavailableError("index: skipped the flush at close after a failed write");
  } else {
    s = FromRocks(db_->Flush(fo), "flush");
    if (s.ok()) s = FromRocks(db_->SyncWAL(), "sync wal");
  }
  Status c = FromRocks(db_->Close(), "close");
  db_.reset();
  return s.ok() ? c : s;
}

}  // namespace

StatusOr<std::unique_ptr<Index>> Index::Open(const std::string& dir) {
  RETURN_IF_ERROR(Annotate(CreateDirs(dir), "index: create directory"));
  rocksdb::DB* raw = nullptr;
  RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(MetadataOptions(), dir, &raw), absl::StrCat("open ", dir)));
  auto impl = std::make_unique<IndexImpl>(std::unique_ptr<rocksdb::DB>(raw));
  RETURN_IF_ERROR(Annotate(impl->Load(), dir));
  return std::unique_ptr<Index>(std::move(impl));
}

namespace {
// Discards RocksDB's info log: a read-only open must not create LOG files.
class NullLogger : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char* /*format*/, va_list /*ap*/) override {}
};
}  // namespace

StatusOr<std::unique_ptr<Index>> Index::OpenReadOnly(const std::string& dir) {
  if (!FileExists(dir + "/CURRENT")) {
    return absl::NotFoundError(absl::StrCat("index: no metadata store in ", dir));
  }
  rocksdb::Options o = MetadataOptions();
  o.create_if_missing = false;
  o.info_log = std::make_shared<NullLogger>();
  rocksdb::DB* raw = nullptr;
  RETURN_IF_ERROR(
      FromRocks(rocksdb::DB::OpenForReadOnly(o, dir, &raw), absl::StrCat("open read-only ", dir)));
  auto impl = std::make_unique<IndexImpl>(std::unique_ptr<rocksdb::DB>(raw), /*read_only=*/true);
  RETURN_IF_ERROR(Annotate(impl->Load(), dir));
  return std::unique_ptr<Index>(std::move(impl));
}

bool LiteralAlternation(std::string_view pattern, std::vector<std::string>* literals) {
  literals->clear();
  if (pattern.size() < 2 || pattern.front() != '^' || pattern.back() != '$') return false;
  std::string_view body = pattern.substr(1, pattern.size() - 2);
  bool group = false;
  if (body.size() >= 2 && body.front() == '(' && body.back() == ')') {
    body = body.substr(1, body.size() - 2);
    if (body.size() >= 2 && body[0] == '?' && body[1] == ':') body.remove_prefix(2);
    group = true;
  }
  std::string cur;
  for (size_t i = 0; i < body.size(); i++) {
    const char c = body[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') {
      cur.push_back(c);
    } else if (c == '\\') {
      // An escaped letter or digit is a class or an assertion (\d, \b, \x...).
      if (++i == body.size()) return false;
      const char e = body[i];
      if (e < 0x20 || e > 0x7e || (e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') ||
          (e >= '0' && e <= '9')) {
        return false;
      }
      cur.push_back(e);
    } else if (c == '|' && group) {
      literals->push_back(std::move(cur));
      cur.clear();
    } else {
      return false;  // a metacharacter, a nested group, non-ASCII
    }
  }
  literals->push_back(std::move(cur));
  return true;
}

}  // namespace m2mdb::index
