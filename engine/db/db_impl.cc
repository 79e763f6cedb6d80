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
    LogInfo("opened ", dir, ": ", index_->ListDatabases().size(), " databases, ", version_->segments.size(),
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
  if (wal_) result.Update(wal_->Close());
  if (index_) result.Update(index_->Close());
  return result;
}

StatusOr<index::DatabaseInfo> DBImpl::GetDb(std::string_view name) const {
  auto db = index_->GetDatabase(name);
  if (!db) return absl::NotFoundError(absl::StrCat("database not found: \"", ToAbsl(name), "\""));
  return *db;
}

int64_t DBImpl::PartitionNs(const index::DatabaseInfo& db) const {
  return db.partition_ns > 0 ? db.partition_ns : options_.default_partition_ns;
}

Status DBImpl::CreateDatabase(const DatabaseOptions& options) {
  RETURN_IF_ERROR(CheckOpen());
  if (options.name.empty()) return absl::InvalidArgumentError("database name required");
  if (options.retention_ns < 0 || options.partition_ns < 0) {
    return absl::InvalidArgumentError("retention and partition duration must not be negative");
  }
  index::DatabaseInfo info;
  info.name = options.name;
  info.retention_ns = options.retention_ns;
  info.partition_ns = options.partition_ns > 0 ? options.partition_ns : options_.default_partition_ns;
  return index_->CreateDatabase(info).status();
}

std::vector<DatabaseOptions> DBImpl::ListDatabases() {
  std::vector<DatabaseOptions> out;
  if (!open_.load()) return out;
  for (const auto& d : index_->ListDatabases()) out.push_back({d.name, d.retention_ns, d.partition_ns});
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

Status DBImpl::SetRetention(std::string_view name, int64_t retention_ns) {
  RETURN_IF_ERROR(CheckOpen());
  if (retention_ns < 0) return absl::InvalidArgumentError("retention must not be negative");
  ASSIGN_OR_RETURN(auto db, GetDb(name));
  db.retention_ns = retention_ns;
  return index_->UpdateDatabase(db);
}

Status DBImpl::DropDatabase(std::string_view name) {
  RETURN_IF_ERROR(CheckOpen());
  absl::MutexLock l(&maint_mu_);
  ASSIGN_OR_RETURN(auto db, GetDb(name));
  DeleteChange change;
  change.kind = DeleteChange::Kind::kDropDatabase;
  change.database = name;
  RETURN_IF_ERROR(NotifyDelete(change));
  // Flush first so that no WAL record of this database is replayed later.
  RETURN_IF_ERROR(FreezeAndFlushLocked());
  std::vector<uint64_t> removed;
  {
    absl::MutexLock sl(&state_mu_);
    for (const auto& s : version_->segments)
      if (s->meta.db_id == db.id) removed.push_back(s->meta.id);
  }
  if (drop_database_hook_for_testing) drop_database_hook_for_testing();
  RETURN_IF_ERROR(index_->CommitSegments({}, removed, std::nullopt));
  series_epoch_.fetch_add(1, std::memory_order_acq_rel);
  RETURN_IF_ERROR(index_->DropDatabase(name));
  series_epoch_.fetch_add(1, std::memory_order_acq_rel);
  auto tombstones = index_->Tombstones();
  InstallVersion({}, removed, &tombstones);
  if (options_.change_listener != nullptr) options_.change_listener->OnDeleteApplied(change);
  // A write that resolved the database before the drop may have reached the
  // WAL after the flush above; replayed after a crash, its record (which
  // names the database, not its id) would land in a database created later
  // under the same name. Writers re-check the database under write_mu_, so
  // every such record is in the head now: flushing it (its points are
  // skipped, the database is gone) moves the checkpoint past it.
  return FreezeAndFlushLocked();
}

Status DBImpl::PutAppMeta(std::string_view key, std::string_view value) {
  RETURN_IF_ERROR(CheckOpen());
  return index_->PutAppMeta(key, value);
}

Status DBImpl::DeleteAppMeta(std::string_view key) {
  RETURN_IF_ERROR(CheckOpen());
  return index_->DeleteAppMeta(key);
}

StatusOr<std::vector<std::pair<std::string, std::string>>> DBImpl::ListAppMeta(std::string_view prefix) {
  RETURN_IF_ERROR(CheckOpen());
  return index_->ListAppMeta(prefix);
}

}  // namespace m2mdb
