// DBImpl's lifecycle and glue: Open (directory lock, RocksDB, the segment
// catalog, then the WAL replay of db_replay.cc), Close, the database DDL
// (create, list, retention, drop) and the application metadata. The rest of
// DBImpl lives by concern: db_write.cc, db_replay.cc, db_read.cc,
// db_flush.cc (flush, compaction, retention, the background thread) and
// db_maintenance.cc (deletes, check/repair, reports, stats).
#include "engine/db/db_impl.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include "engine/db/db_internal.h"
#include "engine/util/file.h"
#include "engine/util/logging.h"

namespace m2mdb {
namespace {

// Free space a start needs: RocksDB rewrites its MANIFEST and OPTIONS file
// and starts a new WAL at open, and ours starts a segment.
constexpr uint64_t kMinFreeBytesToStart = 1 << 20;

// Fails with a clear kResourceExhausted when `dir` cannot take
// kMinFreeBytesToStart more bytes (HasRoomFor allocates them for real).
Status ProbeFreeSpace(const std::string& dir) {
  ASSIGN_OR_RETURN(bool room, HasRoomFor(dir, kMinFreeBytesToStart));
  if (room) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "data directory ", dir, ": less than ", kMinFreeBytesToStart >> 20,
      " MiB free (No space left on device); m2mdb cannot start without room to write. Free space "
      "on that volume (no data was changed) and start again"));
}

}  // namespace

StatusOr<std::unique_ptr<DB>> DB::Open(const Options& options) {
  if (options.data_dir.empty()) return absl::InvalidArgumentError("Options::data_dir is required");
  auto db = std::make_unique<DBImpl>(options);
  RETURN_IF_ERROR(db->OpenImpl());
  return std::unique_ptr<DB>(std::move(db));
}

namespace {
std::atomic<uint64_t> g_next_instance_id{1};
}  // namespace

DBImpl::DBImpl(const Options& options) : options_(options), instance_id_(g_next_instance_id.fetch_add(1)) {}

DBImpl::~DBImpl() {
  if (open_.load()) {
    Status s = Close();
    if (!s.ok()) LogError("closing database: ", s.ToString());
  }
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Status DBImpl::OpenImpl() {
  const std::string& dir = options_.data_dir;
  const bool ro = options_.read_only;
  if (!FileExists(dir) && (ro || !options_.create_if_missing)) {
    return absl::NotFoundError(absl::StrCat("data directory ", dir, " does not exist"));
  }
  if (ro) {
    // A shared lock on an existing LOCK file: fails while a server holds it,
    // creates nothing.
    lock_fd_ = ::open((dir + "/LOCK").c_str(), O_RDONLY | O_CLOEXEC);
    if (lock_fd_ < 0 && errno != ENOENT) return ErrnoStatus("open " + dir + "/LOCK", errno);
    if (lock_fd_ >= 0 && ::flock(lock_fd_, LOCK_SH | LOCK_NB) != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data directory ", dir, " is in use by another m2mdb process (stop the server first)"));
    }
    ASSIGN_OR_RETURN(index_, index::Index::OpenReadOnly(dir + "/meta"));
  } else {
    RETURN_IF_ERROR(CreateDirs(dir));
    RETURN_IF_ERROR(CreateDirs(SegmentDir()));
    lock_fd_ = ::open((dir + "/LOCK").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, kPrivateFileMode);
    if (lock_fd_ < 0) return ErrnoStatus("open " + dir + "/LOCK", errno);
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("data directory ", dir, " is in use by another m2mdb process"));
    }
    // Refuse to start on a full volume with a message of ours: opening
    // RocksDB there aborts inside RocksDB (an assertion after its first
    // failed write), and the WAL could not take a single write anyway.
    RETURN_IF_ERROR(ProbeFreeSpace(dir));
    ASSIGN_OR_RETURN(index_, index::Index::Open(dir + "/meta"));
  }

  // Segments: open every registered file; delete files the catalog does not
  // know (a crash between writing a segment and registering it).
  auto version = std::make_shared<Version>();
  absl::flat_hash_set<std::string> known;
  for (const auto& meta : index_->Segments()) {
    version->segments.push_back(OpenSegmentRef(meta));
    known.insert(meta.file);
  }
  std::vector<std::string> files;
  if (!ro) {
    ASSIGN_OR_RETURN(files, ListDir(SegmentDir()));
  }
  for (const auto& f : files) {
    if (!known.contains(f)) {
      LogWarning("removing unregistered segment file ", f, " (left by an interrupted flush or compaction)");
      RETURN_IF_ERROR(RemoveFile(SegmentDir() + "/" + f));
    }
  }
  version->tombstones = index_->Tombstones();
  {
    absl::MutexLock l(&state_mu_);
    version_ = std::move(version);
    active_ = std::make_shared<Head>(NowNanos());
  }

  // A flush during the replay below already calls the change listener.
  meta_open_ = true;

  // Before anything can flush and remove WAL files they hold.
  RETURN_IF_ERROR(LoadWalCursors());

  // Replay the WAL past the checkpoint into the head.
  uint64_t checkpoint = index_->WalCheckpoint();
  wal::WalOptions wo;
  wo.dir = dir + "/wal";
  wo.sync_mode = options_.wal_sync;
  wo.segment_bytes = options_.wal_segment_bytes;
  wo.batch_interval_ms = options_.wal_batch_interval_ms;
  wo.min_next_seq = checkpoint + 1;
  uint64_t replay_bytes = 0;
  const auto start = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(ReplayWal(wo, checkpoint, &replay_bytes));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  {
    absl::MutexLock l(&state_mu_);
    LogInfo("opened ", dir, ": ", index_->DatabaseNames().size(), " databases, ", version_->segments.size(),
            " segments, WAL checkpoint ", checkpoint, ", replayed ", replayed_records_.load(),
            " WAL records (", absl::StrFormat("%.1f MB", replay_bytes / 1e6), ", ", active_->points(),
            " points) in ", absl::StrFormat("%.3f", secs), " s");
  }
  open_ = true;
  if (options_.background_work && !ro) bg_thread_ = std::thread([this] { BackgroundLoop(); });
  return absl::OkStatus();
}

std::shared_ptr<SegmentRef> DBImpl::OpenSegmentRef(const index::SegmentMeta& meta) {
  auto ref = std::make_shared<SegmentRef>();
  ref->meta = meta;
  ref->path = SegmentDir() + "/" + meta.file;
  auto r = segment::SegmentReader::Open(ref->path);
  if (!r.ok() && absl::IsDataLoss(r.status())) {
    // A torn footer need not cost any data: the index may be intact.
    auto salvaged = segment::SegmentReader::OpenSalvaging(ref->path);
    if (salvaged.ok()) {
      LogWarning("segment ", meta.file, " is damaged: ", r.status().message(), "; ", (*salvaged)->damage(),
                 " (reads work; run `m2mdb check --repair` to rewrite it)");
      r = std::move(salvaged);
    }
  }
  if (r.ok()) {
    ref->reader = std::move(*r);
  } else {
    ref->open_status = r.status();
    LogError("segment ", meta.file, " cannot be read: ", r.status().ToString(),
             " (queries touching it will fail; run `m2mdb check`)");
  }
  return ref;
}

Status DBImpl::CheckOpen() const {
  if (!open_.load()) return absl::FailedPreconditionError("database is closed");
  return absl::OkStatus();
}

Status DBImpl::CheckMetaOpen() const {
  if (!meta_open_.load()) return absl::FailedPreconditionError("database is closed");
  return absl::OkStatus();
}

Status DBImpl::Close() {
  if (!open_.exchange(false)) return absl::FailedPreconditionError("database is closed");
  {
    absl::MutexLock l(&bg_mu_);
    bg_stop_ = true;
    stall_cv_.SignalAll();
  }
  if (bg_thread_.joinable()) bg_thread_.join();
  Status result;
  if (options_.flush_on_close && wal_) {
    // Flushing on close makes the next start fast; the WAL would replay the
    // same data if this fails, so a failure only costs time.
    absl::MutexLock l(&maint_mu_);
    Status s = FreezeAndFlushLocked();
    if (!s.ok()) LogWarning("flush on close failed (the WAL keeps the data): ", s.ToString());
  }
  meta_open_.store(false);
  if (wal_) result.Update(wal_->Close());
  if (index_) result.Update(index_->Close());
  return result;
}

StatusOr<index::DatabaseInfo> DBImpl::GetDb(std::string_view name, std::string_view rp) const {
  if (auto db = index_->GetRetentionPolicy(name, rp)) return *db;
  auto def = index_->DefaultRetentionPolicy(name);
  if (!def) return absl::NotFoundError(absl::StrCat("database not found: \"", ToAbsl(name), "\""));
  // influxd's words (its error for a write to a missing policy).
  return absl::NotFoundError(absl::StrCat("retention policy not found: ", rp.empty() ? *def : ToAbsl(rp)));
}

StatusOr<std::vector<index::DatabaseInfo>> DBImpl::DbUnits(std::string_view name) const {
  if (!index_->DefaultRetentionPolicy(name)) {
    return absl::NotFoundError(absl::StrCat("database not found: \"", ToAbsl(name), "\""));
  }
  std::vector<index::DatabaseInfo> out;
  for (auto& d : index_->ListDatabases()) {
    if (d.name == name) out.push_back(std::move(d));
  }
  return out;
}

int64_t DBImpl::PartitionNs(const index::DatabaseInfo& db) const {
  return db.partition_ns > 0 ? db.partition_ns : options_.default_partition_ns;
}

int64_t DefaultShardDuration(int64_t duration_ns) {
  constexpr int64_t kHour = 3600ll * 1000000000ll;
  if (duration_ns > 0 && duration_ns < 2 * 24 * kHour) return kHour;
  if (duration_ns > 0 && duration_ns <= 180 * 24 * kHour) return 24 * kHour;
  return 7 * 24 * kHour;
}

Status DBImpl::CreateDatabase(const DatabaseOptions& options) {
  RETURN_IF_ERROR(CheckOpen());
  if (options.name.empty()) return absl::InvalidArgumentError("database name required");
  if (options.retention_ns < 0 || options.partition_ns < 0 || options.replication < 0) {
    return absl::InvalidArgumentError("retention, partition duration and replication must not be negative");
  }
  index::DatabaseInfo info;
  info.name = options.name;
  info.retention_ns = options.retention_ns;
  info.partition_ns = options.partition_ns > 0 ? options.partition_ns : options_.default_partition_ns;
  info.retention_policy = options.retention_policy.empty() ? "autogen" : options.retention_policy;
  info.replication = options.replication > 0 ? options.replication : 1;
  return index_->CreateDatabase(info).status();
}

std::vector<DatabaseOptions> DBImpl::ListDatabases() {
  std::vector<DatabaseOptions> out;
  if (!open_.load()) return out;
  for (const auto& name : index_->DatabaseNames()) {
    DatabaseOptions o;
    o.name = name;
    o.retention_policy = index_->DefaultRetentionPolicy(name).value_or("");
    // A database whose default policy was dropped is still listed (influxd).
    if (auto d = index_->GetDatabase(name)) {
      o.retention_ns = d->retention_ns;
      o.partition_ns = d->partition_ns;
      o.replication = d->replication;
    }
    out.push_back(std::move(o));
  }
  return out;
}

Status DBImpl::SetRetention(std::string_view name, int64_t retention_ns) {
  RETURN_IF_ERROR(CheckOpen());
  if (retention_ns < 0) return absl::InvalidArgumentError("retention must not be negative");
  ASSIGN_OR_RETURN(auto db, GetDb(name));
  db.retention_ns = retention_ns;
  return index_->UpdateDatabase(db);
}

namespace {

constexpr int64_t kMinRetentionNs = 3600ll * 1000000000ll;  // influxd's MinRetentionPolicyDuration

// influxd's normalisedShardDuration: 0 = the rule for the duration; below
// 1 h is raised to 1 h.
int64_t NormalisedShardDuration(int64_t shard_ns, int64_t duration_ns) {
  if (shard_ns == 0) return DefaultShardDuration(duration_ns);
  return shard_ns < kMinRetentionNs ? kMinRetentionNs : shard_ns;
}

RetentionPolicyInfo ToPolicy(const index::DatabaseInfo& d) {
  return {d.retention_policy, d.retention_ns, d.partition_ns, d.replication, d.is_default};
}

}  // namespace

Status DBImpl::CreateRetentionPolicy(std::string_view db, const RetentionPolicyInfo& rp) {
  RETURN_IF_ERROR(CheckOpen());
  if (rp.name.empty()) return absl::InvalidArgumentError("retention policy name required");
  if (rp.duration_ns < 0 || rp.shard_duration_ns < 0) {
    return absl::InvalidArgumentError("retention policy durations must not be negative");
  }
  if (rp.replication < 1) return absl::InvalidArgumentError("replication factor must be greater than 0");
  // influxd 1.6's checks, in its order and words.
  if (rp.duration_ns != 0 && rp.duration_ns < kMinRetentionNs) {
    return absl::InvalidArgumentError("retention policy duration must be at least 1h0m0s");
  }
  index::DatabaseInfo info;
  info.name = std::string(db);
  info.retention_policy = rp.name;
  info.retention_ns = rp.duration_ns;
  info.partition_ns = NormalisedShardDuration(rp.shard_duration_ns, rp.duration_ns);
  info.replication = rp.replication;
  if (info.retention_ns != 0 && info.retention_ns < info.partition_ns) {
    return absl::InvalidArgumentError("retention policy duration must be greater than the shard duration");
  }
  if (!index_->DefaultRetentionPolicy(db)) {
    return absl::NotFoundError(absl::StrCat("database not found: ", ToAbsl(db)));
  }
  if (auto existing = index_->GetRetentionPolicy(db, rp.name)) {
    // influxd: the same statement again succeeds; different settings fail.
    if (existing->retention_ns != info.retention_ns || existing->partition_ns != info.partition_ns ||
        existing->replication != info.replication) {
      return absl::AlreadyExistsError("retention policy already exists");
    }
    if (rp.is_default && !existing->is_default) {
      return absl::AlreadyExistsError("retention policy conflicts with an existing policy");
    }
    return absl::OkStatus();
  }
  return index_->CreateRetentionPolicy(info, rp.is_default).status();
}

Status DBImpl::AlterRetentionPolicy(std::string_view db, std::string_view rp,
                                    const RetentionPolicyUpdate& changes) {
  RETURN_IF_ERROR(CheckOpen());
  if (!index_->DefaultRetentionPolicy(db)) {
    return absl::NotFoundError(absl::StrCat("database not found: ", ToAbsl(db)));
  }
  auto cur = index_->GetRetentionPolicy(db, rp);
  if (rp.empty() || !cur)
    return absl::NotFoundError(absl::StrCat("retention policy not found: ", ToAbsl(rp)));
  if ((changes.duration_ns && *changes.duration_ns < 0) ||
      (changes.shard_duration_ns && *changes.shard_duration_ns < 0)) {
    return absl::InvalidArgumentError("retention policy durations must not be negative");
  }
  if (changes.replication && *changes.replication < 1) {
    return absl::InvalidArgumentError("replication factor must be greater than 0");
  }
  // influxd's UpdateRetentionPolicy: a new duration keeps the shard
  // duration; only a new shard duration is normalised (against the new
  // duration).
  if (changes.duration_ns && *changes.duration_ns != 0 && *changes.duration_ns < kMinRetentionNs) {
    return absl::InvalidArgumentError("retention policy duration must be at least 1h0m0s");
  }
  index::DatabaseInfo info = *cur;
  if (changes.duration_ns) info.retention_ns = *changes.duration_ns;
  if (changes.replication) info.replication = *changes.replication;
  if (changes.shard_duration_ns) {
    info.partition_ns = NormalisedShardDuration(*changes.shard_duration_ns, info.retention_ns);
  }
  if (info.retention_ns != 0 && info.retention_ns < info.partition_ns) {
    return absl::InvalidArgumentError("retention policy duration must be greater than the shard duration");
  }
  info.is_default = changes.make_default;
  return index_->UpdateDatabase(info);
}

StatusOr<std::vector<RetentionPolicyInfo>> DBImpl::ListRetentionPolicies(std::string_view db) {
  RETURN_IF_ERROR(CheckOpen());
  if (!index_->DefaultRetentionPolicy(db)) {
    return absl::NotFoundError(absl::StrCat("database not found: ", ToAbsl(db)));
  }
  // influxd lists policies in creation order; unit ids increase with it.
  std::vector<index::DatabaseInfo> units;
  for (auto& d : index_->ListDatabases()) {
    if (d.name == db) units.push_back(std::move(d));
  }
  std::sort(units.begin(), units.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  std::vector<RetentionPolicyInfo> out;
  for (const auto& d : units) out.push_back(ToPolicy(d));
  return out;
}

Status DBImpl::DropUnitsLocked(const std::vector<index::DatabaseInfo>& units,
                               const std::function<Status()>& drop) {
  // Flush first so that no WAL record of these units is replayed later.
  RETURN_IF_ERROR(FreezeAndFlushLocked());
  std::vector<uint64_t> removed;
  {
    absl::MutexLock sl(&state_mu_);
    for (const auto& s : version_->segments) {
      for (const auto& u : units) {
        if (s->meta.db_id == u.id) removed.push_back(s->meta.id);
      }
    }
  }
  if (drop_database_hook_for_testing) drop_database_hook_for_testing();
  RETURN_IF_ERROR(index_->CommitSegments({}, removed, std::nullopt));
  series_epoch_.fetch_add(1, std::memory_order_acq_rel);
  RETURN_IF_ERROR(drop());
  series_epoch_.fetch_add(1, std::memory_order_acq_rel);
  auto tombstones = index_->Tombstones();
  InstallVersion({}, removed, &tombstones);
  // A write that resolved the unit before the drop may have reached the
  // WAL after the flush above; replayed after a crash, its record (which
  // names the database and policy, not the unit's id) would land in a unit
  // created later under the same names. Writers re-check the unit under
  // write_mu_, so every such record is in the head now: flushing it (its
  // points are skipped, the unit is gone) moves the checkpoint past it.
  return FreezeAndFlushLocked();
}

Status DBImpl::DropRetentionPolicy(std::string_view db, std::string_view rp) {
  RETURN_IF_ERROR(CheckOpen());
  absl::MutexLock l(&maint_mu_);
  if (!index_->DefaultRetentionPolicy(db)) {
    return absl::NotFoundError(absl::StrCat("database not found: ", ToAbsl(db)));
  }
  auto unit = index_->GetRetentionPolicy(db, rp);
  if (rp.empty() || !unit) return absl::OkStatus();  // influxd: idempotent
  // The listener is told of a delete of everything in that policy. Not of
  // the whole database: a continuous query reading another policy would
  // recompute every window, and one whose raw points are gone (expired from
  // a short raw policy, or rollups imported) would lose its rollup points.
  DeleteChange change;
  change.kind = DeleteChange::Kind::kDelete;
  change.database = db;
  change.retention_policy = rp;
  RETURN_IF_ERROR(NotifyDelete(change));
  RETURN_IF_ERROR(DropUnitsLocked({*unit}, [&] { return index_->DropRetentionPolicy(db, rp); }));
  if (options_.change_listener != nullptr) options_.change_listener->OnDeleteApplied(change);
  return absl::OkStatus();
}

Status DBImpl::DropDatabase(std::string_view name) {
  RETURN_IF_ERROR(CheckOpen());
  absl::MutexLock l(&maint_mu_);
  ASSIGN_OR_RETURN(auto units, DbUnits(name));
  DeleteChange change;
  change.kind = DeleteChange::Kind::kDropDatabase;
  change.database = name;
  RETURN_IF_ERROR(NotifyDelete(change));
  RETURN_IF_ERROR(DropUnitsLocked(units, [&] { return index_->DropDatabase(name); }));
  if (options_.change_listener != nullptr) options_.change_listener->OnDeleteApplied(change);
  return absl::OkStatus();
}

Status DBImpl::PutAppMeta(std::string_view key, std::string_view value) {
  RETURN_IF_ERROR(CheckMetaOpen());
  return index_->PutAppMeta(key, value);
}

Status DBImpl::DeleteAppMeta(std::string_view key) {
  RETURN_IF_ERROR(CheckMetaOpen());
  return index_->DeleteAppMeta(key);
}

StatusOr<std::vector<std::pair<std::string, std::string>>> DBImpl::ListAppMeta(std::string_view prefix) {
  RETURN_IF_ERROR(CheckMetaOpen());
  return index_->ListAppMeta(prefix);
}

}  // namespace m2mdb
