#include "engine/db/db_impl.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <limits>
#include <optional>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <numeric>
#include <thread>

#include <fcntl.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <sys/file.h>
#include <unistd.h>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "re2/re2.h"

#include "engine/db/db_series.h"
#include "engine/db/write_batch.h"
#include "engine/encoding/codec.h"
#include "engine/util/file.h"
#include "engine/util/logging.h"
#include "engine/util/time_math.h"

namespace m2mdb {
namespace {

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Appends all of `src` to `dst`.
void AppendColumn(const Column& src, Column* dst) {
  dst->times.insert(dst->times.end(), src.times.begin(), src.times.end());
  dst->floats.insert(dst->floats.end(), src.floats.begin(), src.floats.end());
  dst->ints.insert(dst->ints.end(), src.ints.begin(), src.ints.end());
  dst->uints.insert(dst->uints.end(), src.uints.begin(), src.uints.end());
  dst->bools.insert(dst->bools.end(), src.bools.begin(), src.bools.end());
  dst->strings.insert(dst->strings.end(), src.strings.begin(), src.strings.end());
}

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

// Keeps points with lo <= t <= hi. REQUIRES: c sorted by time. Blocks hold
// hours of points, so a one-hour query clips most of what it decoded: two
// binary searches and a range erase per vector instead of a rebuild.
void ClipColumn(Column* c, int64_t lo, int64_t hi) {
  if (c->empty() || (c->times.front() >= lo && c->times.back() <= hi)) return;
  const size_t a = std::lower_bound(c->times.begin(), c->times.end(), lo) - c->times.begin();
  const size_t b = std::upper_bound(c->times.begin(), c->times.end(), hi) - c->times.begin();
  if (a >= b) {  // nothing in range (also lo > hi)
    FieldType type = c->type;
    c->clear();
    c->type = type;
    return;
  }
  auto clip = [&](auto& v) {
    if (v.empty()) return;
    v.erase(v.begin() + b, v.end());
    v.erase(v.begin(), v.begin() + a);
  };
  clip(c->times);
  clip(c->floats);
  clip(c->ints);
  clip(c->uints);
  clip(c->bools);
  clip(c->strings);
}

bool TombstoneCovers(const index::Tombstone& t, uint32_t db_id, uint64_t series_id, uint64_t segment_id) {
  return t.db_id == db_id && segment_id <= t.seq &&
         std::binary_search(t.series_ids.begin(), t.series_ids.end(), series_id);
}

// Merges the parts of one (series, field) read — a part per segment, then the
// frozen and active heads — into one column, newest last; sorts (last write
// wins) only when a part starts before an earlier one ended.
class PartMerger {
 public:
  PartMerger(FieldType type, Column* out) : type_(type), out_(out) {
    out->clear();
    out->type = type;
  }
  // A segment's part: drops its tombstoned and out-of-range points first.
  void AddSegmentPart(Column* part, const std::vector<index::Tombstone>& tombstones, uint32_t db_id,
                      uint64_t series_id, uint64_t segment_id, int64_t min_time, int64_t max_time) {
    for (const auto& t : tombstones) {
      if (TombstoneCovers(t, db_id, series_id, segment_id)) {
        FilterColumn(part, [&](int64_t ts) { return ts >= t.min_time && ts <= t.max_time; });
      }
    }
    ClipColumn(part, min_time, max_time);
    Add(part);
  }
  // Takes p's points (p is left empty or unchanged).
  void Add(Column* p) {
    if (p->empty()) return;
    if (!out_->empty() && p->times.front() <= last_end_) overlapping_ = true;
    last_end_ = std::max(last_end_, p->times.back());
    if (out_->empty()) {
      *out_ = std::move(*p);
      *p = Column();
      p->type = type_;
    } else {
      AppendColumn(*p, out_);
    }
  }
  void Finish() {
    if (overlapping_) SortByTimeKeepLast(out_);
  }

 private:
  const FieldType type_;
  Column* const out_;
  bool overlapping_ = false;
  int64_t last_end_ = INT64_MIN;
};

std::string SegmentFileName(uint64_t id) { return absl::StrFormat("%016x.seg", id); }

// An error of the metadata store itself rather than of the line (a type
// conflict is kFailedPrecondition, a bad key kInvalidArgument).
bool IsStorageError(const Status& s) {
  return absl::IsResourceExhausted(s) || absl::IsUnavailable(s) || absl::IsInternal(s) || absl::IsDataLoss(s);
}

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

SegmentRef::~SegmentRef() {
  reader.reset();
  if (obsolete.load()) {
    Status s = RemoveFile(path);
    if (!s.ok()) LogWarning("removing obsolete segment: ", s.ToString());
  }
}

// Per-thread scratch for the write path: reused so steady-state writes do
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
  std::string line;
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

// A restart after a crash waits for the replay, and the replay is bound by
// parsing (perf of a 1 GB WAL: ParseLine ~1/3 of the time, Head::Apply
// ~1/6, single-threaded: 3.6 s). Records are therefore parsed and resolved
// on worker threads and applied to the head strictly in WAL order, so the
// last write still wins. Resolving records out of order is safe for the same
// reason concurrent writers are: series and fields are created through the
// index, which serialises creation, and the lines rejected at write time
// (the only ones whose field types could disagree) are skipped before any
// lookup.
class DBImpl::Replayer {
 public:
  Replayer(DBImpl* db, int workers) : db_(db) {
    for (int i = 0; i < workers; i++) threads_.emplace_back([this] { Work(); });
  }
  ~Replayer() { Stop(); }

  // Copies `payload` (the WAL reuses its buffer) and queues it; while too
  // much is in flight, applies finished records from the front, in order.
  void Add(std::string_view payload) {
    auto task = std::make_unique<Task>();
    task->payload.assign(payload.data(), payload.size());
    {
      std::lock_guard<std::mutex> l(mu_);
      inflight_bytes_ += payload.size();
      todo_.push_back(task.get());
      queue_.push_back(std::move(task));
    }
    work_cv_.notify_one();
    for (;;) {
      {
        std::lock_guard<std::mutex> l(mu_);
        if (queue_.size() <= kMaxRecords && inflight_bytes_ <= kMaxBytes) break;
      }
      ApplyFront();
    }
  }

  // Applies every queued record and stops the workers.
  void Finish() {
    for (;;) {
      {
        std::lock_guard<std::mutex> l(mu_);
        if (queue_.empty()) break;
      }
      ApplyFront();
    }
    Stop();
  }

 private:
  // Bounds the memory of the pipeline: a few records per worker keep both
  // cores busy; the byte bound matters for large request bodies.
  static constexpr size_t kMaxRecords = 8;
  static constexpr size_t kMaxBytes = 64 << 20;

  struct Task {
    std::string payload;
    std::vector<HeadEntry> entries;
    std::vector<std::string> strings;
    bool done = false;
  };

  void ApplyFront() {
    std::unique_ptr<Task> task;
    {
      std::unique_lock<std::mutex> l(mu_);
      done_cv_.wait(l, [&] { return queue_.front()->done; });
      task = std::move(queue_.front());
      queue_.pop_front();
      inflight_bytes_ -= task->payload.size();
    }
    if (!task->entries.empty()) {
      std::shared_ptr<Head> head;
      {
        absl::MutexLock sl(&db_->state_mu_);
        head = db_->active_;
      }
      head->Apply(task->entries.data(), task->entries.size(), task->strings);
    }
    db_->replayed_records_.fetch_add(1);
  }

  void Work() {
    ApplyContext ctx;  // one per worker: its series cache outlives a record
    for (;;) {
      Task* task;
      {
        std::unique_lock<std::mutex> l(mu_);
        work_cv_.wait(l, [&] { return stop_ || !todo_.empty(); });
        if (todo_.empty()) return;
        task = todo_.front();
        todo_.pop_front();
      }
      db_->ResolveReplayRecord(task->payload, &ctx);
      task->entries.swap(ctx.entries);
      task->strings.swap(ctx.strings);
      {
        std::lock_guard<std::mutex> l(mu_);
        task->done = true;
      }
      done_cv_.notify_all();
    }
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
      todo_.clear();  // on an aborted replay; Finish leaves nothing here
    }
    work_cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  DBImpl* const db_;
  std::mutex mu_;
  std::condition_variable work_cv_;          // todo_ or stop_ changed
  std::condition_variable done_cv_;          // a task finished
  std::deque<std::unique_ptr<Task>> queue_;  // every record not yet applied, in WAL order
  std::deque<Task*> todo_;                   // records not yet picked by a worker
  size_t inflight_bytes_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

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
  replaying_ = true;
  auto start = std::chrono::steady_clock::now();
  StatusOr<std::unique_ptr<wal::Wal>> wal;
  // Progress about once a second (a 520 MB WAL replayed for 2.8 s without a
  // word): records and bytes so far out of what the WAL directory holds
  // (segments before the checkpoint, not replayed, are counted there too).
  uint64_t replay_bytes = 0, replay_records = 0;
  {
    const uint64_t wal_dir_bytes = DirectorySize(wo.dir).value_or(0);
    auto next_report = start + std::chrono::seconds(1);
    const int workers = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u));
    Replayer replayer(this, workers);
    if (ro) {
      // Read the log as Open would replay it, but leave a torn tail alone.
      Status s = FileExists(wo.dir)
                     ? wal::ScanWal(wo.dir,
                                    [&](const wal::WalRecordInfo& info, std::string_view payload) {
                                      if (info.seq > checkpoint) replayer.Add(payload);
                                      return absl::OkStatus();
                                    })
                     : absl::OkStatus();
      if (!s.ok()) {
        if (!absl::IsDataLoss(s)) return Annotate(s, "reading the WAL");
        LogWarning("read-only open: ", s.message(), " (a server start would cut the log there)");
      }
      replayer.Finish();
      wal = std::unique_ptr<wal::Wal>();
    } else {
      wal = wal::Wal::Open(wo, checkpoint + 1, [&](uint64_t seq, std::string_view payload) {
        replayer.Add(payload);
        replay_bytes += payload.size();
        replay_records++;
        // A clock read per record is nothing next to parsing a request body.
        const auto now = std::chrono::steady_clock::now();
        if (now >= next_report) {
          next_report = now + std::chrono::seconds(1);
          const double secs = std::chrono::duration<double>(now - start).count();
          LogInfo("replaying the WAL: ", replay_records, " records, ",
                  absl::StrFormat("%.1f of %.1f MB", replay_bytes / 1e6, wal_dir_bytes / 1e6), " (up to seq ",
                  seq, "), ", absl::StrFormat("%.0f MB/s", replay_bytes / 1e6 / secs));
        }
        return absl::OkStatus();
      });
      if (wal.ok()) replayer.Finish();
    }
  }
  replaying_ = false;
  if (!wal.ok()) return Annotate(wal.status(), "replaying the WAL");
  wal_ = std::move(*wal);
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
    std::lock_guard<std::mutex> l(bg_mu_);
    bg_stop_ = true;
  }
  bg_cv_.notify_all();
  stall_cv_.notify_all();
  if (bg_thread_.joinable()) bg_thread_.join();
  Status result;
  if (options_.flush_on_close && wal_) {
    // Flushing on close makes the next start fast; the WAL would replay the
    // same data if this fails, so a failure only costs time.
    std::lock_guard<std::mutex> l(maint_mu_);
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
  std::lock_guard<std::mutex> l(maint_mu_);
  ASSIGN_OR_RETURN(auto db, GetDb(name));
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
  // A write that resolved the database before the drop may have reached the
  // WAL after the flush above; replayed after a crash, its record (which
  // names the database, not its id) would land in a database created later
  // under the same name. Writers re-check the database under write_mu_, so
  // every such record is in the head now: flushing it (its points are
  // skipped, the database is gone) moves the checkpoint past it.
  return FreezeAndFlushLocked();
}

// ---------------------------------------------------------------------------
// Write path

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
        ctx->series_cache.size() > (1u << 20)) {
      ctx->series_cache.clear();
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
  bool Resolve(const lineproto::Point& p);

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

bool DBImpl::Resolver::Resolve(const lineproto::Point& p) {
  ApplyContext* const ctx = ctx_;
  if (p.timestamp < retention_cutoff_) {
    if (!replay_) Reject(p.line, "point is older than the database's retention period");
    return false;
  }
  uint64_t series_id;
  bool cache_miss = true;
  if (auto cached = ctx->series_cache.find(ToAbsl(p.series_raw)); cached != ctx->series_cache.end()) {
    series_id = cached->second;
    cache_miss = false;
  } else if (ctx->key = lineproto::SeriesKey(p.measurement, p.tags);
             auto found = db_->index_->FindSeries(info_.id, ctx->key)) {
    series_id = *found;
  } else {
    if (!replay_ && db_->options_.max_series_per_database > 0 &&
        db_->index_->SeriesCount(info_.id) >= db_->options_.max_series_per_database) {
      Reject(p.line,
             absl::StrCat("max-series-per-database limit exceeded: (", db_->options_.max_series_per_database, ")"),
             ErrorKind::kSeriesLimit);
      return false;
    }
    auto id = db_->index_->GetOrCreateSeries(info_.id, ctx->key);
    if (!id.ok()) {
      if (IsStorageError(id.status()) && ctx->storage_error.ok()) ctx->storage_error = id.status();
      Reject(p.line, std::string(ToStd(id.status().message())));
      return false;
    }
    series_id = *id;
  }
  if (cache_miss && ctx->series_cache.size() < (1u << 20)) ctx->series_cache.emplace(p.series_raw, series_id);
  const size_t first_entry = ctx->entries.size();
  const size_t first_string = ctx->strings.size();
  const Shape* shape = nullptr;
  if (last_shape_ < shapes_.size() && SameShape(shapes_[last_shape_], p)) {
    shape = &shapes_[last_shape_];
  } else {
    for (size_t k = 0; k < shapes_.size(); k++) {
      if (k != last_shape_ && SameShape(shapes_[k], p)) {
        shape = &shapes_[k];
        last_shape_ = k;
        break;
      }
    }
  }
  Shape* fresh = nullptr;  // the shape being learned from this line
  if (shape == nullptr) {
    if (shapes_.size() < kMaxShapes) {
      last_shape_ = shapes_.size();
      shapes_.emplace_back();
    } else {
      last_shape_ = next_shape_;
      next_shape_ = (next_shape_ + 1) % kMaxShapes;
    }
    fresh = &shapes_[last_shape_];
    fresh->measurement.assign(p.measurement);
    fresh->fields.clear();
  }
  for (size_t k = 0; k < p.fields.size(); k++) {
    const lineproto::Field& f = p.fields[k];
    uint32_t field_id;
    if (shape != nullptr) {
      field_id = shape->fields[k].second.id;
    } else {
      auto info = db_->index_->GetOrCreateField(info_.id, p.measurement, f.key, f.type);
      if (!info.ok()) {
        if (IsStorageError(info.status()) && ctx->storage_error.ok()) ctx->storage_error = info.status();
        ctx->entries.resize(first_entry);
        ctx->strings.resize(first_string);
        // Never match a half-learned shape.
        fresh->measurement.clear();
        fresh->fields.clear();
        if (replay_) {
          LogWarning("replay: skipping line ", p.line, ": ", info.status().ToString());
          return false;
        }
        Reject(p.line, std::string(ToStd(info.status().message())));
        return false;
      }
      field_id = info->id;
      fresh->fields.emplace_back(std::string(f.key), *info);
    }
    // Built in place: assembling it on the stack and copying it in
    // cost a store-forwarding stall per value (perf, HTTP ingest).
    HeadEntry& e = ctx->entries.emplace_back();
    e.series_id = series_id;
    e.field_id = field_id;
    e.db_id = info_.id;
    e.type = f.type;
    e.time = p.timestamp;
    switch (f.type) {
      case FieldType::kFloat:
        e.f = f.f;
        break;
      case FieldType::kInteger:
        e.i = f.i;
        break;
      case FieldType::kUnsigned:
        e.u = f.u;
        break;
      case FieldType::kBoolean:
        e.b = f.b;
        break;
      case FieldType::kString:
        e.str = static_cast<uint32_t>(ctx->strings.size());
        ctx->strings.emplace_back(f.s);
        break;
    }
  }
  ctx->points++;
  return true;
}

void DBImpl::ParseAndResolve(const index::DatabaseInfo& db, std::string_view body,
                             lineproto::Precision precision, int64_t default_time,
                             const std::vector<int>* skip, bool replay, uint64_t max_line_length,
                             ApplyContext* ctx, std::vector<WriteError>* errors) {
  lineproto::ParseOptions po;
  po.precision = precision;
  po.default_time = default_time;
  po.max_line_length = max_line_length;
  size_t skip_pos = 0;
  Resolver resolver(this, db, replay, ctx, errors);
  ctx->parser.Parse(
      body, po,
      [&](const lineproto::Point& p) {
        if (skip != nullptr) {
          while (skip_pos < skip->size() && (*skip)[skip_pos] < p.line) skip_pos++;
          if (skip_pos < skip->size() && (*skip)[skip_pos] == p.line) return;
        }
        resolver.Resolve(p);
      },
      &ctx->parse_errors);
  for (const auto& pe : ctx->parse_errors) {
    ctx->rejected.push_back(pe.line);
    if (errors) {
      errors->push_back({pe.line, absl::StrCat("unable to parse '", pe.text, "': ", pe.reason), pe.kind});
    }
  }
  std::sort(ctx->rejected.begin(), ctx->rejected.end());
  if (errors) {
    std::stable_sort(errors->begin(), errors->end(),
                     [](const WriteError& a, const WriteError& b) { return a.line < b.line; });
  }
}

void DBImpl::StallIfNeeded() {
  // Writers wait while two heads' worth of data is waiting to be flushed, so
  // memory stays bounded when the disk is slower than the ingest.
  for (;;) {
    uint64_t pending = 0;
    {
      absl::MutexLock l(&state_mu_);
      for (const auto& h : frozen_) pending += h->bytes();
    }
    // One frozen head (about half the budget) may be flushing while writes
    // continue; a second one means the disk is behind.
    if (pending <= options_.head_memory_bytes * 3 / 4 || !options_.background_work) return;
    std::unique_lock<std::mutex> l(bg_mu_);
    if (bg_stop_) return;
    bg_work_ = true;
    bg_cv_.notify_all();
    stall_cv_.wait_for(l, std::chrono::milliseconds(50));
  }
}

StatusOr<index::DatabaseInfo> DBImpl::DatabaseForWrite(std::string_view database,
                                                       const WriteOptions& options) {
  RETURN_IF_ERROR(CheckOpen());
  if (!wal_) return absl::FailedPreconditionError("database opened read-only");
  auto dbinfo = index_->GetDatabase(database);
  if (!dbinfo) {
    if (!options.create_database) {
      return absl::NotFoundError(absl::StrCat("database not found: \"", ToAbsl(database), "\""));
    }
    RETURN_IF_ERROR(CreateDatabase({std::string(database), 0, 0}));
    dbinfo = index_->GetDatabase(database);
    if (!dbinfo) return absl::InternalError("database vanished after creation");
  }
  return *dbinfo;
}

Status DBImpl::CommitWrite(std::string_view database, uint32_t db_id, ApplyContext* ctx,
                           WriteResult* result) {
  StallIfNeeded();
  uint64_t seq;
  bool need_freeze = false;
  {
    absl::MutexLock l(&write_mu_);
    RETURN_IF_ERROR(CheckOpen());
    // Dropped (and maybe re-created) since it was resolved: see DropDatabase.
    if (auto now = index_->GetDatabase(database); !now || now->id != db_id) {
      return absl::NotFoundError(absl::StrCat("database not found: \"", ToAbsl(database), "\""));
    }
    ASSIGN_OR_RETURN(seq, wal_->Append(ctx->record));
    std::shared_ptr<Head> head;
    {
      absl::MutexLock sl(&state_mu_);
      head = active_;
    }
    head->Apply(ctx->entries.data(), ctx->entries.size(), ctx->strings);
    // The budget covers the active head plus the one being flushed: freeze
    // at half of it, so memory stays near the budget while writes continue
    // during a flush.
    if (head->bytes() >= options_.head_memory_bytes / 2) {
      Status s = FreezeLocked();
      if (!s.ok()) LogWarning("freezing the head: ", s.ToString());
      need_freeze = true;
    }
  }
  if (need_freeze) {
    std::lock_guard<std::mutex> l(bg_mu_);
    bg_work_ = true;
    bg_cv_.notify_all();
  }
  RETURN_IF_ERROR(wal_->Sync(seq));
  result->points_written = ctx->points;
  result->values_written = ctx->entries.size();
  points_written_.fetch_add(ctx->points, std::memory_order_relaxed);
  values_written_.fetch_add(ctx->entries.size(), std::memory_order_relaxed);
  return absl::OkStatus();
}

StatusOr<WriteResult> DBImpl::WriteLineProtocol(std::string_view database, std::string_view body,
                                                const WriteOptions& options) {
  ASSIGN_OR_RETURN(const index::DatabaseInfo dbinfo, DatabaseForWrite(database, options));
  ASSIGN_OR_RETURN(auto precision, lineproto::ParsePrecision(options.precision));
  const int64_t default_time = options.default_time != 0 ? options.default_time : NowNanos();

  thread_local ApplyContext ctx;
  ctx.Reset();
  WriteResult result;
  ParseAndResolve(dbinfo, body, precision, default_time, nullptr, false, options.max_line_length, &ctx,
                  &result.errors);
  if (!ctx.storage_error.ok()) return ctx.storage_error;  // nothing applied yet
  lines_rejected_.fetch_add(result.errors.size(), std::memory_order_relaxed);
  if (ctx.entries.empty()) return result;

  WalWriteRecord rec;
  rec.database = database;
  rec.precision = static_cast<uint8_t>(precision);
  rec.default_time = default_time;
  rec.rejected_lines = ctx.rejected;
  rec.body = body;
  EncodeWalWriteRecord(rec, &ctx.record);
  RETURN_IF_ERROR(CommitWrite(database, dbinfo.id, &ctx, &result));
  return result;
}

namespace {

// Bytes that a name cannot hold and still be written in line protocol as
// itself: controls, space, the delimiters and the escape character.
constexpr std::array<bool, 128> kNotPlain = [] {
  std::array<bool, 128> t{};
  for (int c = 0; c <= ' '; c++) t[c] = true;
  for (char c : {',', '=', '"', '\\', '\x7f'}) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

// Whether `s` is written in line protocol as itself (nothing to escape, no
// byte the parser treats specially) and is valid UTF-8. Branch-free per
// byte: it runs over every name of every typed point.
bool PlainName(std::string_view s) {
  unsigned bad = s.empty() ? 1 : 0, high = 0;
  for (unsigned char c : s) {
    high |= c;
    bad |= kNotPlain[c & 0x7f] & (c < 0x80);
  }
  if (bad != 0) return false;
  return (high & 0x80) == 0 || lineproto::IsValidUtf8(s);
}

// What ScanNames found in a run of names: bytes no name may hold (controls,
// space, '"', '\\', DEL), bytes >= 0x80, and the separators ',' and '='
// (counted: the caller knows how many it put there itself).
struct NameScan {
  unsigned bad = 0;
  unsigned high = 0;
  size_t commas = 0;
  size_t equals = 0;
};

// One pass over every name of a point joined by separators, 16 bytes at a
// time: checking each name on its own (PlainName) cost more than parsing
// the same point as text (callgrind, truck points: ~2000 instructions per
// point).
// Bits set in a 16-bit mask, without a libgcc call (no -mpopcnt here).
inline size_t Popcount16(unsigned v) {
  v = v - ((v >> 1) & 0x5555);
  v = (v & 0x3333) + ((v >> 2) & 0x3333);
  v = (v + (v >> 4)) & 0x0f0f;
  return (v + (v >> 8)) & 0x1f;
}

void ScanNames(std::string_view s, NameScan* r) {
  const char* p = s.data();
  const size_t n = s.size();
  size_t i = 0;
#ifdef __SSE2__
  const __m128i below = _mm_set1_epi8(0x21);
  const __m128i comma = _mm_set1_epi8(',');
  const __m128i equal = _mm_set1_epi8('=');
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i del = _mm_set1_epi8(0x7f);
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    const unsigned high = static_cast<unsigned>(_mm_movemask_epi8(v));
    // Signed compare: bytes >= 0x80 are negative, hence the mask.
    const unsigned low = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmplt_epi8(v, below))) & ~high;
    const __m128i other = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                                       _mm_cmpeq_epi8(v, del));
    r->bad |= low | static_cast<unsigned>(_mm_movemask_epi8(other));
    r->high |= high;
    r->commas += Popcount16(static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, comma))));
    r->equals += Popcount16(static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, equal))));
  }
#endif
  for (; i < n; i++) {
    const unsigned char c = static_cast<unsigned char>(p[i]);
    r->high |= c & 0x80;
    r->bad |= (c < 0x80) & kNotPlain[c & 0x7f] & (c != ',') & (c != '=');
    r->commas += c == ',';
    r->equals += c == '=';
  }
}

// Length of a point rendered as line protocol, at least: the longest text
// of each number (only called with PlainName names).
size_t MaxLineLength(const Point& p) {
  size_t n = p.measurement.size() + 1 + 20;
  for (const auto& [k, v] : p.tags) n += k.size() + v.size() + 2;
  for (const auto& [k, v] : p.fields)
    n += k.size() + 2 + (v.type == FieldType::kString ? 2 * v.s.size() + 2 : 25);
  return n;
}

}  // namespace

// The fast path of WritePoints: fills `out` from `p` without text when `p`
// is one that the line-protocol path would accept exactly as given: plain
// names (PlainName: nothing escaped, so the text path's key is the same),
// no duplicate or "time" keys, finite normal floats, valid UTF-8 strings
// without line breaks, times in range, shorter than max_line_length. Every
// other point takes the slow path (rendered and parsed), which keeps the
// text path's rejections and messages byte for byte.
bool DBImpl::TypedPointToParsed(const Point& p, uint64_t max_line_length, ApplyContext* ctx) {
  lineproto::Point& out = ctx->typed;
  if (p.fields.empty() || p.fields.size() > 64 || p.tags.size() > 64 || p.timestamp < kMinTime ||
      p.timestamp > kMaxTime || p.measurement.empty() || p.measurement[0] == '#') {
    return false;
  }
  out.measurement = p.measurement;
  out.tags.resize(p.tags.size());
  for (size_t k = 0; k < p.tags.size(); k++) {
    const auto& [key, value] = p.tags[k];
    if (key.empty() || value.empty() || key == "time") return false;
    out.tags[k].key = key;
    out.tags[k].value = value;
  }
  // Insertion sort: a handful of tags, usually already in order.
  for (size_t k = 1; k < out.tags.size(); k++) {
    for (size_t j = k; j > 0 && out.tags[j].key < out.tags[j - 1].key; j--)
      std::swap(out.tags[j], out.tags[j - 1]);
  }
  for (size_t k = 1; k < out.tags.size(); k++) {
    if (out.tags[k].key == out.tags[k - 1].key) return false;
  }
  // The canonical key (no escaping: the names are checked below to need
  // none). It doubles as the series-cache key: it is one spelling of the
  // series in line protocol, so it can share the cache with the text
  // path's raw spellings.
  std::string& key = ctx->typed_key;
  size_t n = p.measurement.size();
  for (const auto& t : out.tags) n += t.key.size() + t.value.size() + 2;
  key.resize(n);
  char* w = key.data();
  std::memcpy(w, p.measurement.data(), p.measurement.size());
  w += p.measurement.size();
  for (const auto& t : out.tags) {
    *w++ = ',';
    std::memcpy(w, t.key.data(), t.key.size());
    w += t.key.size();
    *w++ = '=';
    std::memcpy(w, t.value.data(), t.value.size());
    w += t.value.size();
  }
  // Field keys joined by ',' for the same one-pass check.
  std::string& names = ctx->typed_names;
  names.clear();
  out.fields.resize(p.fields.size());
  for (size_t k = 0; k < p.fields.size(); k++) {
    const auto& [fkey, v] = p.fields[k];
    if (fkey.empty() || fkey == "time") return false;
    for (size_t j = 0; j < k; j++) {
      if (out.fields[j].key == fkey) return false;
    }
    names.append(fkey);
    names.push_back(',');
    lineproto::Field& f = out.fields[k];
    f.key = fkey;
    f.type = v.type;
    switch (v.type) {
      case FieldType::kFloat:
        // Subnormals may not read back as themselves (the parser's range
        // handling), so they keep the text path's answer.
        if (!std::isfinite(v.f) || (v.f != 0 && std::fabs(v.f) < std::numeric_limits<double>::min()))
          return false;
        f.f = v.f;
        break;
      case FieldType::kInteger:
        if (v.i == INT64_MIN) return false;
        f.i = v.i;
        break;
      case FieldType::kUnsigned:
        f.u = v.u;
        break;
      case FieldType::kBoolean:
        f.b = v.b;
        break;
      case FieldType::kString: {
        bool high = false;
        for (unsigned char c : v.s) {
          if (c >= 0x80) high = true;
          if (c == '\n' || c == '\r') return false;
        }
        if (high && !lineproto::IsValidUtf8(v.s)) return false;
        f.s = v.s;
        break;
      }
      default:
        return false;
    }
  }
  if (key.size() > lineproto::kMaxSeriesKeyLength) return false;  // the parser words the error
  NameScan scan;
  ScanNames(key, &scan);
  if (scan.commas != out.tags.size() || scan.equals != out.tags.size()) return false;
  const size_t key_commas = scan.commas, key_equals = scan.equals;
  ScanNames(names, &scan);
  if (scan.bad != 0 || scan.commas != key_commas + out.fields.size() || scan.equals != key_equals)
    return false;
  if (scan.high != 0) {
    // Some name has non-ASCII bytes: each must be valid UTF-8 on its own.
    if (!PlainName(p.measurement)) return false;
    for (const auto& t : out.tags) {
      if (!PlainName(t.key) || !PlainName(t.value)) return false;
    }
    for (const auto& f : out.fields) {
      if (!PlainName(f.key)) return false;
    }
  }
  if (max_line_length != 0 && MaxLineLength(p) > max_line_length) return false;
  out.timestamp = p.timestamp;
  out.series_raw = key;
  return true;
}

StatusOr<WriteResult> DBImpl::WritePoints(std::string_view database, const std::vector<Point>& points,
                                          const WriteOptions& options) {
  ASSIGN_OR_RETURN(const index::DatabaseInfo dbinfo, DatabaseForWrite(database, options));
  thread_local ApplyContext ctx;
  ctx.Reset();
  WriteResult result;
  Resolver resolver(this, dbinfo, /*replay=*/false, &ctx, &result.errors);
  BeginWalPointsRecord(database, &ctx.record);
  lineproto::ParseOptions po;  // ns; every rendered line has a timestamp
  po.max_line_length = options.max_line_length;
  for (size_t k = 0; k < points.size(); k++) {
    const int line = static_cast<int>(k + 1);
    if (TypedPointToParsed(points[k], options.max_line_length, &ctx)) {
      ctx.typed.line = line;
      if (resolver.Resolve(ctx.typed)) AppendWalPoint(ctx.typed, &ctx.record);
      continue;
    }
    // Slow path: exactly what this call did before typed points were
    // written directly (render, parse), for the points the fast path does
    // not vouch for; the WAL still gets the parsed point, not the text.
    ctx.line.clear();
    AppendPointAsLineProtocol(points[k], &ctx.line);
    ctx.parse_errors.clear();
    ctx.parser.Parse(
        ctx.line, po,
        [&](const lineproto::Point& p) {
          lineproto::Point copy = p;
          copy.line = line;
          if (resolver.Resolve(copy)) AppendWalPoint(copy, &ctx.record);
        },
        &ctx.parse_errors);
    for (const auto& pe : ctx.parse_errors) {
      resolver.Reject(line, absl::StrCat("unable to parse '", pe.text, "': ", pe.reason), pe.kind);
    }
  }
  if (!ctx.storage_error.ok()) return ctx.storage_error;  // nothing applied yet
  lines_rejected_.fetch_add(result.errors.size(), std::memory_order_relaxed);
  if (ctx.entries.empty()) return result;
  RETURN_IF_ERROR(CommitWrite(database, dbinfo.id, &ctx, &result));
  return result;
}

void DBImpl::ResolveReplayRecord(std::string_view payload, ApplyContext* ctx) {
  ctx->Reset();
  if (WalRecordType(payload) == kRecordPoints) {
    std::string_view database, rest;
    Status s = DecodeWalPointsHeader(payload, &database, &rest);
    std::optional<index::DatabaseInfo> db;
    if (s.ok()) db = index_->GetDatabase(database);
    if (!db) return;  // dropped after the write
    Resolver resolver(this, *db, /*replay=*/true, ctx, nullptr);
    for (int line = 1; s.ok() && !rest.empty(); line++) {
      s = DecodeWalPoint(&rest, &ctx->typed, &ctx->typed_key);
      if (!s.ok()) break;
      ctx->typed.line = line;
      resolver.Resolve(ctx->typed);
    }
    if (!s.ok()) {
      // As below: the CRC passed, so this is a bug or a newer version.
      LogError("replay: skipping undecodable WAL record: ", s.ToString());
      ctx->entries.clear();
      ctx->strings.clear();
    }
    return;
  }
  WalWriteRecord rec;
  Status s = DecodeWalWriteRecord(payload, &rec);
  if (!s.ok()) {
    // The WAL's CRC passed, so this is a record of a newer version or a bug;
    // skipping it is better than refusing to start.
    LogError("replay: skipping undecodable WAL record: ", s.ToString());
    return;
  }
  auto db = index_->GetDatabase(rec.database);
  if (!db) return;  // dropped after the write
  ParseAndResolve(*db, rec.body, static_cast<lineproto::Precision>(rec.precision), rec.default_time,
                  &rec.rejected_lines, /*replay=*/true, 0, ctx, nullptr);
}

// ---------------------------------------------------------------------------
// Read path

DBImpl::Snapshot DBImpl::GetSnapshot() {
  absl::MutexLock l(&state_mu_);
  return Snapshot{active_, frozen_, version_};
}

namespace {
// A compiled matcher; regexes compiled once per request.
struct CompiledMatcher {
  const TagMatcher* m;
  std::unique_ptr<RE2> re;
};

std::string_view TagValueOf(const std::vector<std::pair<std::string, std::string>>& tags,
                            std::string_view key) {
  for (const auto& [k, v] : tags)
    if (k == key) return v;
  return {};
}

bool Matches(const std::vector<CompiledMatcher>& ms,
             const std::vector<std::pair<std::string, std::string>>& tags) {
  for (const auto& cm : ms) {
    std::string_view v = TagValueOf(tags, cm.m->key);
    switch (cm.m->op) {
      case TagOp::kEqual:
        if (v != cm.m->value) return false;
        break;
      case TagOp::kNotEqual:
        if (v == cm.m->value) return false;
        break;
      case TagOp::kRegex:
        if (!RE2::PartialMatch(re2::StringPiece(v.data(), v.size()), *cm.re)) return false;
        break;
      case TagOp::kNotRegex:
        if (RE2::PartialMatch(re2::StringPiece(v.data(), v.size()), *cm.re)) return false;
        break;
    }
  }
  return true;
}

StatusOr<std::vector<CompiledMatcher>> Compile(const std::vector<TagMatcher>& matchers) {
  std::vector<CompiledMatcher> out;
  for (const auto& m : matchers) {
    CompiledMatcher cm{&m, nullptr};
    if (m.op == TagOp::kRegex || m.op == TagOp::kNotRegex) {
      cm.re = std::make_unique<RE2>(m.value, RE2::Quiet);
      if (!cm.re->ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid regular expression /", m.value, "/: ", cm.re->error()));
      }
    }
    out.push_back(std::move(cm));
  }
  return out;
}
}  // namespace

StatusOr<std::vector<std::pair<std::string, uint64_t>>> DBImpl::MatchSeries(
    uint32_t db_id, std::string_view measurement, const std::vector<TagMatcher>& matchers) {
  std::vector<uint64_t> ids;
  bool narrowed = false;
  // Equality on a non-empty value, and a regex that is an anchored set of
  // non-empty literals (the planner's form of `k = 'a' OR k = 'b'`), are
  // answered exactly by the postings; only the other matchers are checked
  // per series, which needs the series key parsed.
  std::vector<TagMatcher> rest;
  std::vector<std::string> literals;
  for (const auto& m : matchers) {
    std::vector<uint64_t> posting;
    if (m.op == TagOp::kEqual && !m.value.empty()) {
      posting = index_->SeriesWithTag(db_id, measurement, m.key, m.value);
    } else if (m.op == TagOp::kRegex && index::LiteralAlternation(m.value, &literals) &&
               std::none_of(literals.begin(), literals.end(),
                            [](const std::string& l) { return l.empty(); })) {
      for (const auto& lit : literals) {
        auto one = index_->SeriesWithTag(db_id, measurement, m.key, lit);
        posting.insert(posting.end(), one.begin(), one.end());
      }
      std::sort(posting.begin(), posting.end());
      posting.erase(std::unique(posting.begin(), posting.end()), posting.end());
    } else {
      rest.push_back(m);
      continue;
    }
    if (!narrowed) {
      ids = std::move(posting);
      narrowed = true;
    } else {
      std::vector<uint64_t> both;
      std::set_intersection(ids.begin(), ids.end(), posting.begin(), posting.end(), std::back_inserter(both));
      ids = std::move(both);
    }
  }
  if (!narrowed) ids = index_->SeriesOfMeasurement(db_id, measurement);
  ASSIGN_OR_RETURN(auto compiled, Compile(rest));
  std::vector<std::pair<std::string, uint64_t>> out;
  out.reserve(ids.size());
  std::string m;
  std::vector<std::pair<std::string, std::string>> tags;
  for (uint64_t id : ids) {
    auto key = index_->SeriesKeyOf(id);
    if (!key) continue;  // dropped concurrently
    if (!compiled.empty()) {
      RETURN_IF_ERROR(lineproto::ParseSeriesKey(*key, &m, &tags));
      if (!Matches(compiled, tags)) continue;
    }
    out.emplace_back(std::move(*key), id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {
// Whether one tombstone hides every point of `series_id` in segment
// `segment_id` within [lo, hi]: such data need not be read at all, so a
// DELETE over damaged data makes the reads of that range work again.
bool WhollyDeleted(const std::vector<index::Tombstone>& tombstones, uint32_t db_id, uint64_t series_id,
                   uint64_t segment_id, int64_t lo, int64_t hi) {
  for (const auto& t : tombstones) {
    if (t.min_time <= lo && t.max_time >= hi && TombstoneCovers(t, db_id, series_id, segment_id)) return true;
  }
  return false;
}
}  // namespace

StatusOr<bool> DBImpl::SegmentMayHold(const SegmentRef& seg, const std::vector<index::Tombstone>& tombstones,
                                      uint32_t db_id, int64_t partition_ns, uint64_t series_id,
                                      int64_t min_time, int64_t max_time) {
  const auto& meta = seg.meta;
  if (meta.db_id != db_id) return false;
  if (meta.partition_start > max_time || PartitionEnd(meta.partition_start, partition_ns) < min_time)
    return false;
  if (meta.max_time < min_time || meta.min_time > max_time) return false;
  if (!seg.reader) {
    // Without its index nobody can tell which series the file holds: every
    // read of its database and time range may need it.
    if (!tombstones.empty() &&
        WhollyDeleted(tombstones, db_id, series_id, meta.id, std::max(min_time, meta.min_time),
                      std::min(max_time, meta.max_time))) {
      return false;
    }
    if (options_.skip_damaged_blocks) {
      NoteSkippedDamage(meta.file, seg.open_status);
      return false;
    }
    // The client gets the file's name, never its path (that goes to the log).
    return absl::DataLossError(
        absl::StrCat("segment ", meta.file,
                     " is damaged and cannot be read (its index is unreadable); the data "
                     "it holds is unavailable until `m2mdb check --repair` is run"));
  }
  return true;
}

Status DBImpl::DamagedBlock(const SegmentRef& seg, const segment::BlockHandle& h, const Status& s) {
  if (options_.skip_damaged_blocks) {
    NoteSkippedDamage(seg.meta.file, s);
    return absl::OkStatus();
  }
  // The full error (with the path) for the operator, at most every 10 s: a
  // dashboard re-reading damaged data would otherwise fill the log.
  const int64_t now = NowNanos();
  int64_t last = last_damage_log_ns_.load();
  if (now - last >= 10'000'000'000 && last_damage_log_ns_.compare_exchange_strong(last, now)) {
    LogWarning("read failed: ", s.message(), " (run `m2mdb check`)");
  }
  return absl::DataLossError(absl::StrCat("segment ", seg.meta.file, ": damaged block (series ", h.series_id,
                                          ", field ", h.field_id, ", ", h.stats.count, " points from ",
                                          h.stats.min_time, " to ", h.stats.max_time,
                                          "); run `m2mdb check` (details in the server log)"));
}

void DBImpl::NoteSkippedDamage(const std::string& file, const Status& s) {
  const uint64_t n = damaged_skipped_.fetch_add(1) + 1;
  // One warning per 10 s at most: a dashboard re-reading damaged data would
  // otherwise fill the log.
  const int64_t now = NowNanos();
  int64_t last = last_damage_log_ns_.load();
  if (now - last >= 10'000'000'000 && last_damage_log_ns_.compare_exchange_strong(last, now)) {
    LogWarning("skipping damaged data in segment ", file, " (", s.message(), "); ", n,
               " damaged blocks skipped by reads so far; run `m2mdb check --repair`");
  }
}

Status DBImpl::ReadSeriesField(const Snapshot& snap, uint32_t db_id, int64_t partition_ns, uint64_t series_id,
                               const index::FieldInfo& field, int64_t min_time, int64_t max_time, Column* out,
                               size_t limit, bool from_end, uint64_t* budget) {
  // Points of blocks wholly in range decoded so far (ScanRequest::max_points).
  uint64_t decoded = 0;
  PartMerger merger(field.type, out);
  std::vector<const segment::BlockHandle*> blocks;
  Column part;
  for (const auto& seg : snap.version->segments) {
    const auto& meta = seg->meta;
    ASSIGN_OR_RETURN(bool may_hold, SegmentMayHold(*seg, snap.version->tombstones, db_id, partition_ns,
                                                   series_id, min_time, max_time));
    if (!may_hold) continue;
    blocks.clear();
    seg->reader->FindBlocks(series_id, field.id, min_time, max_time, &blocks);
    if (blocks.empty()) continue;
    // With a limit, the first (last) `limit` points of the merged column are
    // among the first (last) `limit` of every source: a source's times are
    // unique, so its k-th point has k - 1 distinct times before it. The
    // blocks of one segment are disjoint and sorted by time, so only those
    // up to `limit` points from the near end are decoded. Only blocks wholly
    // in range are counted (their count is exact), and a segment with a
    // tombstone of the series is read whole (deleted points do not count).
    bool tombstoned = false;
    if (limit > 0) {
      for (const auto& t : snap.version->tombstones)
        tombstoned |= TombstoneCovers(t, db_id, series_id, meta.id);
    }
    if (limit > 0 && !tombstoned) {
      size_t have = 0, keep = 0;
      for (; keep < blocks.size() && have < limit; keep++) {
        const auto& st = blocks[from_end ? blocks.size() - 1 - keep : keep]->stats;
        if (st.min_time >= min_time && st.max_time <= max_time) have += static_cast<size_t>(st.count);
      }
      if (from_end) {
        blocks.erase(blocks.begin(), blocks.end() - static_cast<std::ptrdiff_t>(keep));
      } else {
        blocks.resize(keep);
      }
    }
    if (budget != nullptr && !tombstoned) {
      // Before decoding: the blocks wholly in range hold at least this many
      // (with a limit, at most `limit` of them are kept).
      uint64_t sure = 0;
      for (const auto* h : blocks) {
        if (h->type == field.type && h->stats.min_time >= min_time && h->stats.max_time <= max_time) {
          sure += static_cast<uint64_t>(h->stats.count);
        }
      }
      decoded += limit > 0 ? std::min<uint64_t>(sure, limit) : sure;
      if (decoded > *budget)
        return WithErrorKind(absl::ResourceExhaustedError("query memory limit exceeded"),
                             ErrorKind::kQueryMemory);
    }
    part.clear();
    part.type = field.type;
    // Sized once: growing while appending block after block copied the
    // earlier blocks again (10 trucks x 12 h: ~0.5 M instructions a query).
    size_t points = 0;
    for (const auto* h : blocks) points += h->stats.count;
    part.reserve(points);
    for (const auto* h : blocks) {
      if (h->type != field.type) continue;  // a dropped-and-recreated field of another type
      // Only the points in range: a one-hour read of an 11-hour block no
      // longer zero-fills and trims the whole block in the caller's column.
      Status rs = seg->reader->ReadBlockRange(*h, min_time, max_time, &part);
      if (!rs.ok() &&
          !WhollyDeleted(snap.version->tombstones, db_id, series_id, meta.id,
                         std::max(min_time, h->stats.min_time), std::min(max_time, h->stats.max_time))) {
        RETURN_IF_ERROR(DamagedBlock(*seg, *h, rs));
      }
    }
    merger.AddSegmentPart(&part, snap.version->tombstones, db_id, series_id, meta.id, min_time, max_time);
  }
  auto read_head = [&](const std::shared_ptr<Head>& h) {
    part.clear();
    part.type = field.type;
    if (h->points() == 0 || h->max_time() < min_time || h->min_time() > max_time) return;
    if (h->Read(series_id, field.id, min_time, max_time, &part) && part.type == field.type) merger.Add(&part);
  };
  for (const auto& h : snap.frozen) read_head(h);
  read_head(snap.active);
  merger.Finish();
  if (limit > 0 && out->size() > limit) {
    if (from_end) {
      const size_t cut = out->size() - limit;
      auto drop_front = [cut](auto& v) {
        if (!v.empty()) v.erase(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(cut));
      };
      drop_front(out->times);
      drop_front(out->floats);
      drop_front(out->ints);
      drop_front(out->uints);
      drop_front(out->bools);
      drop_front(out->strings);
    } else {
      out->truncate(limit);
    }
  }
  if (budget != nullptr) {
    if (out->size() > *budget)
      return WithErrorKind(absl::ResourceExhaustedError("query memory limit exceeded"),
                           ErrorKind::kQueryMemory);
    *budget -= out->size();
  }
  return absl::OkStatus();
}

namespace {

// The start of the window holding t (offset + k * len <= t for the largest
// integer k: InfluxQL's GROUP BY time alignment), in 128 bits because
// t - offset may leave int64.
__int128 WindowStart(int64_t t, int64_t len, int64_t offset) {
  const __int128 d = static_cast<__int128>(t) - offset;
  __int128 q = d / len;
  if (d % len != 0 && d < 0) q--;
  return q * len + offset;
}

BlockSummary ToSummary(const segment::BlockHandle& h) {
  const segment::BlockStats& st = h.stats;
  BlockSummary s;
  s.type = h.type;
  s.count = st.count;
  s.min_time = st.min_time;
  s.max_time = st.max_time;
  s.min_f = st.min_f, s.max_f = st.max_f, s.sum_f = st.sum_f, s.first_f = st.first_f, s.last_f = st.last_f;
  s.min_i = st.min_i, s.max_i = st.max_i, s.sum_i = st.sum_i, s.first_i = st.first_i, s.last_i = st.last_i;
  s.min_u = st.min_u, s.max_u = st.max_u, s.sum_u = st.sum_u, s.first_u = st.first_u, s.last_u = st.last_u;
  return s;
}

}  // namespace

Status DBImpl::ReadSeriesFieldSummarised(const Snapshot& snap, uint32_t db_id, int64_t partition_ns,
                                         uint64_t series_id, const index::FieldInfo& field,
                                         const ScanRequest& request, Column* out,
                                         std::vector<BlockSummary>* summaries) {
  const int64_t min_time = request.min_time, max_time = request.max_time;
  // `out` is not cleared yet: with a single source its vectors (the
  // previous series' points) are overwritten in place below.
  summaries->clear();
  // Every source of (series, field) first: whether a block may be summarised
  // depends on all the others.
  struct SegBlocks {
    const SegmentRef* seg;
    size_t begin, end;  // into `blocks`
  };
  std::vector<SegBlocks> segs;
  std::vector<const segment::BlockHandle*> blocks;
  for (const auto& seg : snap.version->segments) {
    ASSIGN_OR_RETURN(bool may_hold, SegmentMayHold(*seg, snap.version->tombstones, db_id, partition_ns,
                                                   series_id, min_time, max_time));
    if (!may_hold) continue;
    const size_t begin = blocks.size();
    seg->reader->FindBlocks(series_id, field.id, min_time, max_time, &blocks);
    // Blocks of a dropped-and-recreated field of another type are never read.
    blocks.erase(std::remove_if(blocks.begin() + static_cast<std::ptrdiff_t>(begin), blocks.end(),
                                [&](const segment::BlockHandle* h) { return h->type != field.type; }),
                 blocks.end());
    if (blocks.size() > begin) segs.push_back({seg.get(), begin, blocks.size()});
  }
  std::vector<Column> heads;
  auto read_head = [&](const std::shared_ptr<Head>& h) {
    if (h->points() == 0 || h->max_time() < min_time || h->min_time() > max_time) return;
    Column part;
    part.type = field.type;
    if (h->Read(series_id, field.id, min_time, max_time, &part) && part.type == field.type && !part.empty()) {
      heads.push_back(std::move(part));
    }
  };
  for (const auto& h : snap.frozen) read_head(h);
  read_head(snap.active);

  // A block that shares time with another block (of any segment) may hold
  // overwritten points: sorted by min_time, block k overlaps another iff an
  // earlier one reaches its min_time or the next one starts by its max_time.
  std::vector<uint8_t> summarise(blocks.size(), 0);
  {
    std::vector<uint32_t> order(blocks.size());
    std::iota(order.begin(), order.end(), 0u);
    std::sort(order.begin(), order.end(),
              [&](uint32_t a, uint32_t b) { return blocks[a]->stats.min_time < blocks[b]->stats.min_time; });
    std::vector<uint8_t> overlapped(blocks.size(), 0);
    int64_t reach = INT64_MIN;
    for (size_t k = 0; k < order.size(); k++) {
      const segment::BlockStats& st = blocks[order[k]]->stats;
      if (k > 0 && reach >= st.min_time) overlapped[order[k]] = 1;
      if (k + 1 < order.size() && blocks[order[k + 1]]->stats.min_time <= st.max_time)
        overlapped[order[k]] = 1;
      reach = std::max(reach, st.max_time);
    }
    const int64_t len = request.summary_window_ns;
    for (const SegBlocks& sb : segs) {
      for (size_t i = sb.begin; i < sb.end; i++) {
        const segment::BlockStats& st = blocks[i]->stats;
        if (overlapped[i] || st.count == 0 || st.min_time < min_time || st.max_time > max_time) continue;
        if (len > 0 && WindowStart(st.min_time, len, request.summary_window_offset_ns) !=
                           WindowStart(st.max_time, len, request.summary_window_offset_ns)) {
          continue;
        }
        bool clean = true;
        for (const auto& t : snap.version->tombstones) {
          if (t.min_time <= st.max_time && t.max_time >= st.min_time &&
              TombstoneCovers(t, db_id, series_id, sb.seg->meta.id)) {
            clean = false;
            break;
          }
        }
        // A head point in the block's time range may overwrite one of its
        // points (or just interleave; without decoding we cannot tell).
        for (size_t k = 0; k < heads.size() && clean; k++) {
          auto it = std::lower_bound(heads[k].times.begin(), heads[k].times.end(), st.min_time);
          if (it != heads[k].times.end() && *it <= st.max_time) clean = false;
        }
        if (!clean) continue;
        BlockSummary s = ToSummary(*blocks[i]);
        if (request.summary_filter && !request.summary_filter(s)) continue;
        summarise[i] = 1;
        summaries->push_back(s);
      }
    }
  }
  std::sort(summaries->begin(), summaries->end(),
            [](const BlockSummary& a, const BlockSummary& b) { return a.min_time < b.min_time; });

  // The rest is merged as in ReadSeriesField. Summarised blocks share no
  // time with any other source, so leaving them out changes nothing else.
  if (segs.size() == 1 && heads.empty()) {
    // One source, so nothing to merge: its blocks are decoded straight into
    // `out`, over the previous series' points, and the vectors trimmed
    // after. A scan of series of similar length then neither zero-fills
    // nor copies the blocks wholly in range (10 trucks x 12 h: ~1.1 M
    // instructions of a 5.9 M query).
    if (out->type != field.type) out->clear();
    out->type = field.type;
    const SegBlocks& sb = segs[0];
    size_t size = 0;
    Status s;
    for (size_t i = sb.begin; i < sb.end && s.ok(); i++) {
      if (summarise[i]) continue;
      s = sb.seg->reader->ReadBlockRangeAt(*blocks[i], min_time, max_time, out, &size);
      if (!s.ok() && WhollyDeleted(snap.version->tombstones, db_id, series_id, sb.seg->meta.id,
                                   std::max(min_time, blocks[i]->stats.min_time),
                                   std::min(max_time, blocks[i]->stats.max_time))) {
        s = absl::OkStatus();
      }
      if (!s.ok()) s = DamagedBlock(*sb.seg, *blocks[i], s);  // OK when skipping: size unchanged
    }
    out->truncate(s.ok() ? size : 0);
    RETURN_IF_ERROR(s);
    for (const auto& t : snap.version->tombstones) {
      if (TombstoneCovers(t, db_id, series_id, sb.seg->meta.id)) {
        FilterColumn(out, [&](int64_t ts) { return ts >= t.min_time && ts <= t.max_time; });
      }
    }
    ClipColumn(out, min_time, max_time);
    return absl::OkStatus();
  }
  PartMerger merger(field.type, out);
  Column part;
  for (const SegBlocks& sb : segs) {
    part.clear();
    part.type = field.type;
    // Sized once, as in ReadSeriesField: growing block after block copied
    // the earlier blocks again (10 trucks x 12 h: ~1.3 M instructions).
    size_t points = 0;
    for (size_t i = sb.begin; i < sb.end; i++) {
      if (!summarise[i]) points += blocks[i]->stats.count;
    }
    part.reserve(points);
    for (size_t i = sb.begin; i < sb.end; i++) {
      if (summarise[i]) continue;
      Status rs = sb.seg->reader->ReadBlockRange(*blocks[i], min_time, max_time, &part);
      if (!rs.ok() && !WhollyDeleted(snap.version->tombstones, db_id, series_id, sb.seg->meta.id,
                                     std::max(min_time, blocks[i]->stats.min_time),
                                     std::min(max_time, blocks[i]->stats.max_time))) {
        RETURN_IF_ERROR(DamagedBlock(*sb.seg, *blocks[i], rs));
      }
    }
    if (part.empty()) continue;
    merger.AddSegmentPart(&part, snap.version->tombstones, db_id, series_id, sb.seg->meta.id, min_time,
                          max_time);
  }
  for (Column& h : heads) merger.Add(&h);
  merger.Finish();
  return absl::OkStatus();
}

Status DBImpl::Scan(const ScanRequest& request, const std::function<Status(const SeriesData&)>& fn) {
  RETURN_IF_ERROR(CheckOpen());
  // An empty time range still lists the matching series, with empty columns.
  ASSIGN_OR_RETURN(auto db, GetDb(request.database));
  std::vector<index::FieldInfo> fields;
  if (request.fields.empty()) {
    fields = index_->Fields(db.id, request.measurement);
  } else {
    for (const auto& name : request.fields) {
      auto f = index_->FindField(db.id, request.measurement, name);
      if (f) {
        fields.push_back(*f);
      } else {
        index::FieldInfo missing;  // id 0 is never assigned: reads nothing
        missing.name = name;
        fields.push_back(missing);
      }
    }
  }
  ASSIGN_OR_RETURN(auto series, MatchSeries(db.id, request.measurement, request.matchers));
  Snapshot snap = GetSnapshot();
  const int64_t partition_ns = PartitionNs(db);
  // Fields that may come back partly as block summaries.
  std::vector<uint8_t> summarised(fields.size(), 0);
  for (size_t k = 0; k < fields.size(); k++) {
    const auto& names = request.summary_fields;
    summarised[k] = std::find(names.begin(), names.end(), fields[k].name) != names.end();
  }
  const bool any_summaries = !request.summary_fields.empty();
  // Reused by the thread's next scan: its columns keep their space, which
  // ReadSeriesFieldSummarised decodes into without zero-filling again (the
  // first series of a 10-truck scan: ~0.1 M instructions). A scan started
  // from a callback gets its own; a scan that grew a column past
  // kKeepPoints gives the space back. Every HTTP worker thread may keep
  // this much per column (8 Ki points: ~128 KB per column, ~1 MB for a
  // 7-field SELECT *); 12 hours at 10 s is 4 320.
  constexpr size_t kKeepPoints = size_t{1} << 13;
  thread_local SeriesData reused;
  thread_local bool reused_busy = false;
  SeriesData local;
  const bool reuse = !reused_busy;
  SeriesData& data = reuse ? reused : local;
  if (reuse) reused_busy = true;
  absl::Cleanup release = [&] {
    if (!reuse) return;
    reused_busy = false;
    for (Column& c : data.columns) {
      if (c.times.capacity() > kKeepPoints || c.strings.capacity() > 0) c = Column();
    }
  };
  if (!any_summaries) data.summaries.clear();
  uint64_t budget = request.max_points;
  uint64_t* const budget_ptr = request.max_points > 0 ? &budget : nullptr;
  for (const auto& [key, id] : series) {
    if (request.check) RETURN_IF_ERROR(request.check());
    data.key = key;
    // One tag per ',' at most: room for all at once, not a regrowth (and a
    // move of every tag string) per power of two on the first series.
    data.tags.reserve(static_cast<size_t>(std::count(key.begin(), key.end(), ',')));
    RETURN_IF_ERROR(lineproto::ParseSeriesKey(key, &data.measurement, &data.tags));
    data.field_names.clear();
    data.columns.resize(fields.size());
    if (any_summaries) data.summaries.resize(fields.size());
    for (size_t k = 0; k < fields.size(); k++) {
      // A wide series (many thousands of fields) is a long loop of its own.
      if (request.check && k > 0 && (k & 63) == 0) RETURN_IF_ERROR(request.check());
      data.field_names.push_back(fields[k].name);
      if (any_summaries) data.summaries[k].clear();
      if (fields[k].id == 0) {
        data.columns[k].clear();
        continue;
      }
      if (summarised[k]) {
        RETURN_IF_ERROR(ReadSeriesFieldSummarised(snap, db.id, partition_ns, id, fields[k], request,
                                                  &data.columns[k], &data.summaries[k]));
        continue;
      }
      RETURN_IF_ERROR(ReadSeriesField(snap, db.id, partition_ns, id, fields[k], request.min_time,
                                      request.max_time, &data.columns[k], request.limit_points,
                                      request.limit_from_end, budget_ptr));
    }
    RETURN_IF_ERROR(fn(data));
  }
  return absl::OkStatus();
}

StatusOr<std::vector<std::string>> DBImpl::Measurements(std::string_view database) {
  RETURN_IF_ERROR(CheckOpen());
  ASSIGN_OR_RETURN(auto db, GetDb(database));
  return index_->Measurements(db.id);
}

StatusOr<std::vector<std::string>> DBImpl::TagKeys(std::string_view database, std::string_view measurement) {
  RETURN_IF_ERROR(CheckOpen());
  ASSIGN_OR_RETURN(auto db, GetDb(database));
  return index_->TagKeys(db.id, measurement);
}

StatusOr<std::vector<std::string>> DBImpl::TagValues(std::string_view database, std::string_view measurement,
                                                     std::string_view tag_key) {
  RETURN_IF_ERROR(CheckOpen());
  ASSIGN_OR_RETURN(auto db, GetDb(database));
  return index_->TagValues(db.id, measurement, tag_key);
}

StatusOr<std::vector<FieldKey>> DBImpl::FieldKeys(std::string_view database, std::string_view measurement) {
  RETURN_IF_ERROR(CheckOpen());
  ASSIGN_OR_RETURN(auto db, GetDb(database));
  std::vector<FieldKey> out;
  for (const auto& f : index_->Fields(db.id, measurement)) out.push_back({f.name, f.type});
  return out;
}

StatusOr<std::vector<SeriesKey>> DBImpl::Series(std::string_view database, std::string_view measurement,
                                                const std::vector<TagMatcher>& matchers) {
  RETURN_IF_ERROR(CheckOpen());
  ASSIGN_OR_RETURN(auto db, GetDb(database));
  std::vector<SeriesKey> out;
  std::vector<std::string> ms;
  if (measurement.empty()) {
    ms = index_->Measurements(db.id);  // sorted
  } else {
    ms.emplace_back(measurement);
  }
  for (const auto& m : ms) {
    ASSIGN_OR_RETURN(auto series, MatchSeries(db.id, m, matchers));
    RETURN_IF_ERROR(AppendSeriesKeys(std::move(series), &out));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Deletes. Each first flushes everything, so that (a) every point written
// before the delete is in a segment the tombstone covers and (b) no WAL
// record from before the delete is replayed after a crash.

Status DBImpl::Delete(const DeleteRequest& request) {
  RETURN_IF_ERROR(CheckOpen());
  if (request.min_time > request.max_time) return absl::OkStatus();
  std::lock_guard<std::mutex> l(maint_mu_);
  ASSIGN_OR_RETURN(auto db, GetDb(request.database));
  std::vector<std::string> ms;
  if (request.measurement.empty()) {
    ms = index_->Measurements(db.id);
  } else {
    ms.push_back(request.measurement);
  }
  RETURN_IF_ERROR(FreezeAndFlushLocked());
  uint64_t bound = 0;
  {
    absl::MutexLock sl(&state_mu_);
    for (const auto& s : version_->segments) bound = std::max(bound, s->meta.id);
  }
  if (bound == 0) return absl::OkStatus();  // nothing on disk, nothing to delete
  for (const auto& m : ms) {
    ASSIGN_OR_RETURN(auto series, MatchSeries(db.id, m, request.matchers));
    if (series.empty()) continue;
    index::Tombstone t;
    t.db_id = db.id;
    t.measurement = m;
    for (const auto& [key, id] : series) t.series_ids.push_back(id);
    std::sort(t.series_ids.begin(), t.series_ids.end());
    t.min_time = request.min_time;
    t.max_time = request.max_time;
    t.seq = bound;
    ASSIGN_OR_RETURN(t.id, index_->AddTombstone(t));
  }
  auto tombstones = index_->Tombstones();
  InstallVersion({}, {}, &tombstones);
  return absl::OkStatus();
}

Status DBImpl::DropSeries(std::string_view database, std::string_view measurement,
                          const std::vector<TagMatcher>& matchers) {
  RETURN_IF_ERROR(CheckOpen());
  std::lock_guard<std::mutex> l(maint_mu_);
  ASSIGN_OR_RETURN(auto db, GetDb(database));
  RETURN_IF_ERROR(FreezeAndFlushLocked());
  std::vector<std::string> ms;
  if (measurement.empty()) {
    ms = index_->Measurements(db.id);
  } else {
    ms.emplace_back(measurement);
  }
  // Series leave the index; their points become unreachable at once (a new
  // series with the same key gets a new id) and compaction removes them.
  for (const auto& m : ms) {
    ASSIGN_OR_RETURN(auto series, MatchSeries(db.id, m, matchers));
    std::vector<uint64_t> ids;
    for (const auto& [key, id] : series) ids.push_back(id);
    if (!ids.empty()) {
      series_epoch_.fetch_add(1, std::memory_order_acq_rel);
      RETURN_IF_ERROR(index_->DeleteSeries(db.id, ids));
      series_epoch_.fetch_add(1, std::memory_order_acq_rel);
    }
    if (index_->SeriesOfMeasurement(db.id, m).empty()) RETURN_IF_ERROR(index_->DeleteFields(db.id, m));
  }
  return absl::OkStatus();
}

Status DBImpl::DropMeasurement(std::string_view database, std::string_view measurement) {
  RETURN_IF_ERROR(CheckOpen());
  {
    ASSIGN_OR_RETURN(auto db, GetDb(database));
    auto ms = index_->Measurements(db.id);
    if (!std::binary_search(ms.begin(), ms.end(), std::string(measurement))) {
      return absl::NotFoundError(absl::StrCat("measurement not found: ", ToAbsl(measurement)));
    }
  }
  return DropSeries(database, measurement, {});
}

// ---------------------------------------------------------------------------
// Flush, compaction, retention

Status DBImpl::FreezeLocked() {
  std::shared_ptr<Head> head;
  {
    absl::MutexLock sl(&state_mu_);
    head = active_;
  }
  if (head->points() == 0) return absl::OkStatus();
  // Everything appended so far is in this head; rotating puts it in closed
  // WAL segments that RemoveBefore can delete after the flush.
  if (!wal_) return absl::FailedPreconditionError("database opened read-only");
  head->wal_seq_end = wal_->last_seq();
  auto rotated = wal_->Rotate();
  if (!rotated.ok()) LogWarning("WAL rotation failed: ", rotated.status().ToString());
  absl::MutexLock sl(&state_mu_);
  frozen_.push_back(head);
  active_ = std::make_shared<Head>(NowNanos());
  return absl::OkStatus();
}

Status DBImpl::FreezeAndFlushLocked() {
  {
    absl::MutexLock l(&write_mu_);
    RETURN_IF_ERROR(FreezeLocked());
  }
  return FlushFrozenLocked();
}

void DBImpl::InstallVersion(const std::vector<std::shared_ptr<SegmentRef>>& added,
                            const std::vector<uint64_t>& removed,
                            const std::vector<index::Tombstone>* tombstones) {
  absl::MutexLock sl(&state_mu_);
  auto v = std::make_shared<Version>();
  for (const auto& s : version_->segments) {
    if (std::find(removed.begin(), removed.end(), s->meta.id) != removed.end()) {
      s->obsolete = true;  // deleted when the last snapshot lets go
      continue;
    }
    v->segments.push_back(s);
  }
  for (const auto& s : added) v->segments.push_back(s);
  std::sort(v->segments.begin(), v->segments.end(),
            [](const auto& a, const auto& b) { return a->meta.id < b->meta.id; });
  v->tombstones = tombstones ? *tombstones : version_->tombstones;
  version_ = std::move(v);
}

Status DBImpl::FlushFrozenLocked() {
  for (;;) {
    std::shared_ptr<Head> head;
    {
      absl::MutexLock sl(&state_mu_);
      if (frozen_.empty()) return absl::OkStatus();
      head = frozen_.front();
    }
    absl::flat_hash_map<uint32_t, index::DatabaseInfo> dbs;
    for (const auto& d : index_->ListDatabases()) dbs[d.id] = d;
    const int64_t now = NowNanos();

    struct Out {
      std::unique_ptr<segment::SegmentWriter> writer;
      index::SegmentMeta meta;
    };
    std::map<std::pair<uint32_t, int64_t>, Out> outs;
    Status status;
    segment::SegmentWriterOptions wo;
    wo.max_block_points = options_.max_block_points;
    Column chunk;
    head->ForEachSorted([&](uint32_t db_id, uint64_t series_id, uint32_t field_id, const Column& col) {
      if (!status.ok()) return;
      auto dbit = dbs.find(db_id);
      if (dbit == dbs.end()) return;  // database dropped
      const int64_t pns = PartitionNs(dbit->second);
      const int64_t cutoff =
          dbit->second.retention_ns > 0 ? SatSub(now, dbit->second.retention_ns) : kMinTime;
      size_t i = 0;
      while (i < col.size()) {
        // Saturating: the partitions of kMinTime and kMaxTime reach past
        // int64, and a wrapped end once cut an empty chunk here (issue 16).
        const auto [pstart, pend] = PartitionOf(col.times[i], pns);
        size_t j = std::upper_bound(col.times.begin() + i, col.times.end(), pend) - col.times.begin();
        if (pend < cutoff) {  // whole partition past retention
          i = j;
          continue;
        }
        auto& out = outs[{db_id, pstart}];
        if (!out.writer) {
          out.meta.id = index_->NextSegmentId();
          out.meta.db_id = db_id;
          out.meta.partition_start = pstart;
          out.meta.file = SegmentFileName(out.meta.id);
          auto w = segment::SegmentWriter::Create(SegmentDir() + "/" + out.meta.file, wo);
          if (!w.ok()) {
            status = w.status();
            return;
          }
          out.writer = std::move(*w);
        }
        const Column* src = &col;
        if (i != 0 || j != col.size()) {
          chunk.clear();
          chunk.type = col.type;
          for (size_t k = i; k < j; k++) chunk.AppendFrom(col, k);
          src = &chunk;
        }
        status = out.writer->Add(series_id, field_id, *src);
        if (!status.ok()) return;
        i = j;
      }
    });
    RETURN_IF_ERROR(Annotate(status, "flush: writing segment"));
    std::vector<index::SegmentMeta> metas;
    for (auto& [k, out] : outs) {
      ASSIGN_OR_RETURN(auto info, out.writer->Finish());
      out.meta.file_bytes = info.file_bytes;
      out.meta.min_time = info.min_time;
      out.meta.max_time = info.max_time;
      out.meta.points = info.points;
      metas.push_back(out.meta);
    }
    // One synced RocksDB write registers the files and moves the checkpoint.
    RETURN_IF_ERROR(index_->CommitSegments(metas, {}, head->wal_seq_end));
    std::vector<std::shared_ptr<SegmentRef>> added;
    for (const auto& m : metas) added.push_back(OpenSegmentRef(m));
    {
      absl::MutexLock sl(&state_mu_);
      auto v = std::make_shared<Version>(*version_);
      for (const auto& s : added) v->segments.push_back(s);
      std::sort(v->segments.begin(), v->segments.end(),
                [](const auto& a, const auto& b) { return a->meta.id < b->meta.id; });
      version_ = std::move(v);
      frozen_.erase(frozen_.begin());
    }
    Status rs = wal_->RemoveBefore(head->wal_seq_end + 1);
    if (!rs.ok()) LogWarning("removing flushed WAL segments: ", rs.ToString());
    flushes_.fetch_add(1);
    stall_cv_.notify_all();
  }
}

Status DBImpl::CompactPartitionLocked(uint32_t db_id, int64_t partition_start, int64_t partition_ns,
                                      const std::vector<std::shared_ptr<SegmentRef>>& inputs) {
  std::shared_ptr<const Version> version;
  {
    absl::MutexLock sl(&state_mu_);
    version = version_;
  }
  for (const auto& in : inputs) {
    if (!in->reader) {
      return absl::DataLossError(
          absl::StrCat("cannot compact partition with damaged segment ", in->meta.file));
    }
  }
  index::SegmentMeta meta;
  meta.id = index_->NextSegmentId();
  meta.db_id = db_id;
  meta.partition_start = partition_start;
  meta.file = SegmentFileName(meta.id);
  uint32_t level = 0;
  for (const auto& in : inputs) level = std::max(level, in->meta.level);
  meta.level = level + 1;
  segment::SegmentWriterOptions wo;
  wo.max_block_points = options_.max_block_points;
  ASSIGN_OR_RETURN(auto writer, segment::SegmentWriter::Create(SegmentDir() + "/" + meta.file, wo));

  // Every (series, field) present in any input, in order.
  std::vector<std::tuple<uint64_t, uint32_t, FieldType>> keys;
  for (const auto& in : inputs) {
    for (const auto& b : in->reader->blocks()) keys.emplace_back(b.series_id, b.field_id, b.type);
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end(),
                         [](const auto& a, const auto& b) {
                           return std::get<0>(a) == std::get<0>(b) && std::get<1>(a) == std::get<1>(b);
                         }),
             keys.end());
  Column merged, part;
  std::vector<const segment::BlockHandle*> blocks;
  uint64_t dropped_series = 0;
  for (const auto& [series_id, field_id, type0] : keys) {
    if (!index_->SeriesKeyOf(series_id)) {  // dropped series: made physical here
      dropped_series++;
      continue;
    }
    // The newest input decides the type if a field was recreated.
    FieldType type = type0;
    merged.clear();
    merged.type = type;
    bool overlapping = false;
    int64_t last_end = INT64_MIN;
    for (const auto& in : inputs) {
      blocks.clear();
      in->reader->FindBlocks(series_id, field_id, kMinTime, kMaxTime, &blocks);
      part.clear();
      part.type = type;
      for (const auto* b : blocks) {
        if (b->type != type) continue;
        RETURN_IF_ERROR(in->reader->ReadBlock(*b, &part));
      }
      for (const auto& t : version->tombstones) {
        if (TombstoneCovers(t, db_id, series_id, in->meta.id)) {
          FilterColumn(&part, [&](int64_t ts) { return ts >= t.min_time && ts <= t.max_time; });
        }
      }
      if (part.empty()) continue;
      if (!merged.empty() && part.times.front() <= last_end) overlapping = true;
      last_end = std::max(last_end, part.times.back());
      AppendColumn(part, &merged);
    }
    if (overlapping) SortByTimeKeepLast(&merged);
    if (!merged.empty()) RETURN_IF_ERROR(writer->Add(series_id, field_id, merged));
  }
  ASSIGN_OR_RETURN(auto info, writer->Finish());
  meta.file_bytes = info.file_bytes;
  meta.min_time = info.min_time;
  meta.max_time = info.max_time;
  meta.points = info.points;
  std::vector<uint64_t> removed;
  for (const auto& in : inputs) removed.push_back(in->meta.id);
  std::vector<index::SegmentMeta> added;
  if (info.points > 0) added.push_back(meta);
  RETURN_IF_ERROR(index_->CommitSegments(added, removed, std::nullopt));
  std::vector<std::shared_ptr<SegmentRef>> refs;
  if (info.points > 0) {
    refs.push_back(OpenSegmentRef(meta));
  } else {
    RETURN_IF_ERROR(RemoveFile(SegmentDir() + "/" + meta.file));
  }
  InstallVersion(refs, removed, nullptr);
  compactions_.fetch_add(1);
  LogInfo("compacted ", inputs.size(), " segments of partition ", partition_start, " (db ", db_id, ") into ",
          meta.file, ": ", info.points, " points, ", info.file_bytes, " bytes",
          dropped_series ? absl::StrCat(", dropped ", dropped_series, " deleted series columns") : "");
  (void)partition_ns;
  return absl::OkStatus();
}

Status DBImpl::CompactLocked(bool all) {
  std::shared_ptr<const Version> version;
  {
    absl::MutexLock sl(&state_mu_);
    version = version_;
  }
  std::map<std::pair<uint32_t, int64_t>, std::vector<std::shared_ptr<SegmentRef>>> parts;
  for (const auto& s : version->segments) parts[{s->meta.db_id, s->meta.partition_start}].push_back(s);
  absl::flat_hash_map<uint32_t, index::DatabaseInfo> dbs;
  for (const auto& d : index_->ListDatabases()) dbs[d.id] = d;
  const size_t trigger = all ? 2 : static_cast<size_t>(std::max(2, options_.compaction_trigger));
  bool has_tombstones = !version->tombstones.empty();
  // A partition with a damaged input is left as it is (its intact data stays
  // readable; `m2mdb check --repair` fixes it) instead of failing every
  // round, logging every second and holding up every later partition. It is
  // retried once it has a newer segment. Returns whether it compacted.
  auto compact = [&](std::pair<uint32_t, int64_t> key, int64_t partition_ns,
                     const std::vector<std::shared_ptr<SegmentRef>>& inputs) -> StatusOr<bool> {
    auto skipped = damaged_compactions_.find(key);
    if (skipped != damaged_compactions_.end() && skipped->second == inputs.back()->meta.id) return false;
    Status s = CompactPartitionLocked(key.first, key.second, partition_ns, inputs);
    if (s.ok()) return true;
    if (!absl::IsDataLoss(s)) return s;
    damaged_compactions_[key] = inputs.back()->meta.id;
    LogWarning("compaction of partition ", key.second, " (db ", key.first, ") skipped: ", s.message(),
               "; run `m2mdb check --repair`");
    return false;
  };
  for (auto& [key, segs] : parts) {
    auto it = dbs.find(key.first);
    if (it == dbs.end()) continue;
    bool tomb = false;
    if (all && has_tombstones) {
      for (const auto& t : version->tombstones) {
        if (t.db_id != key.first) continue;
        for (const auto& s : segs) tomb |= s->meta.id <= t.seq;
      }
    }
    if (all) {
      if (segs.size() >= trigger || tomb) {
        ASSIGN_OR_RETURN(bool done, compact(key, PartitionNs(it->second), segs));
        (void)done;
      }
      continue;
    }
    // Size-tiered, newest first: merge the trailing run of segments of one
    // level once it has `trigger` members, into one segment of the next
    // level, and cascade. Only a trailing run may be merged: the output gets
    // the newest id, so it must not hold data older than any segment left
    // after it (priority on equal timestamps follows ids). Each point is
    // rewritten O(log_trigger(n)) times instead of at every compaction.
    for (;;) {
      size_t run = 1;
      while (run < segs.size() && segs[segs.size() - 1 - run]->meta.level == segs.back()->meta.level) run++;
      if (run < trigger) break;
      std::vector<std::shared_ptr<SegmentRef>> inputs(segs.end() - run, segs.end());
      ASSIGN_OR_RETURN(bool done, compact(key, PartitionNs(it->second), inputs));
      if (!done) break;
      std::shared_ptr<const Version> now;
      {
        absl::MutexLock sl(&state_mu_);
        now = version_;
      }
      segs.clear();
      for (const auto& s : now->segments) {
        if (s->meta.db_id == key.first && s->meta.partition_start == key.second) segs.push_back(s);
      }
      if (segs.empty()) break;
    }
  }
  return PruneTombstonesLocked();
}

Status DBImpl::PruneTombstonesLocked() {
  std::shared_ptr<const Version> version;
  {
    absl::MutexLock sl(&state_mu_);
    version = version_;
  }
  // A tombstone is needed while some segment it covers (id <= bound) of its
  // database overlaps its time range.
  std::vector<uint64_t> obsolete;
  for (const auto& t : version->tombstones) {
    bool needed = false;
    for (const auto& s : version->segments) {
      if (s->meta.db_id == t.db_id && s->meta.id <= t.seq && s->meta.max_time >= t.min_time &&
          s->meta.min_time <= t.max_time) {
        needed = true;
        break;
      }
    }
    if (!needed) obsolete.push_back(t.id);
  }
  if (obsolete.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(index_->RemoveTombstones(obsolete));
  auto tombstones = index_->Tombstones();
  InstallVersion({}, {}, &tombstones);
  return absl::OkStatus();
}

Status DBImpl::RetentionLocked() {
  std::shared_ptr<const Version> version;
  {
    absl::MutexLock sl(&state_mu_);
    version = version_;
  }
  absl::flat_hash_map<uint32_t, index::DatabaseInfo> dbs;
  for (const auto& d : index_->ListDatabases()) dbs[d.id] = d;
  const int64_t now = NowNanos();
  std::vector<uint64_t> removed;
  for (const auto& s : version->segments) {
    auto it = dbs.find(s->meta.db_id);
    if (it == dbs.end() || it->second.retention_ns <= 0) continue;
    const int64_t pend = PartitionEnd(s->meta.partition_start, PartitionNs(it->second));
    if (pend < SatSub(now, it->second.retention_ns)) removed.push_back(s->meta.id);
  }
  if (removed.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(index_->CommitSegments({}, removed, std::nullopt));
  InstallVersion({}, removed, nullptr);
  LogInfo("retention: dropped ", removed.size(), " segments past their database's retention period");
  return absl::OkStatus();
}

Status DBImpl::Flush() {
  RETURN_IF_ERROR(CheckOpen());
  std::lock_guard<std::mutex> l(maint_mu_);
  return FreezeAndFlushLocked();
}

Status DBImpl::Compact() {
  RETURN_IF_ERROR(CheckOpen());
  std::lock_guard<std::mutex> l(maint_mu_);
  RETURN_IF_ERROR(FreezeAndFlushLocked());
  RETURN_IF_ERROR(RetentionLocked());
  return CompactLocked(/*all=*/true);
}

Status DBImpl::MaintainForTesting() {
  RETURN_IF_ERROR(CheckOpen());
  std::lock_guard<std::mutex> l(maint_mu_);
  RETURN_IF_ERROR(FlushFrozenLocked());
  RETURN_IF_ERROR(RetentionLocked());
  return CompactLocked(/*all=*/false);
}

void DBImpl::BackgroundLoop() {
  // A failing round (a flush that cannot write its segment, a compaction of a
  // damaged partition) is retried with exponential backoff, and its error is
  // logged when it first appears or changes, not every second: the same
  // error once a second buried everything else in the log (issue 16). The
  // rounds in between are skipped entirely, also when a writer asks for a
  // flush; Flush(), deletes and drops still try at once and return the error.
  //
  // A frozen head is flushed as a whole: all databases' segments are
  // registered in the one RocksDB write that advances the (global) WAL
  // checkpoint. Registering the segments of the other databases without
  // advancing the checkpoint is not safe: after a restart the WAL would
  // replay their points again into segments newer than any tombstone written
  // meanwhile, and deleted points would come back. So one failing (database,
  // partition) does hold back the flush of every database until it succeeds;
  // writers keep going until the stall limit.
  constexpr auto kMinBackoff = std::chrono::seconds(1);
  constexpr auto kMaxBackoff = std::chrono::seconds(60);
  std::chrono::steady_clock::duration backoff = kMinBackoff;
  std::chrono::steady_clock::time_point retry_at{};
  std::string last_error;
  uint64_t failures = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> l(bg_mu_);
      bg_cv_.wait_for(l, std::chrono::seconds(1), [this] { return bg_stop_ || bg_work_; });
      if (bg_stop_) return;
      bg_work_ = false;
    }
    if (failures > 0 && std::chrono::steady_clock::now() < retry_at) continue;
    std::lock_guard<std::mutex> l(maint_mu_);
    if (!open_.load()) return;
    Status s;
    bool age_flush = false;
    {
      absl::MutexLock sl(&state_mu_);
      age_flush = options_.head_max_age_seconds > 0 && active_->points() > 0 &&
                  NowNanos() - active_->created_nanos() > int64_t{options_.head_max_age_seconds} * 1000000000;
    }
    if (age_flush) {
      absl::MutexLock wl(&write_mu_);
      s.Update(FreezeLocked());
    }
    s.Update(FlushFrozenLocked());
    s.Update(RetentionLocked());
    s.Update(CompactLocked(/*all=*/false));
    if (s.ok()) {
      if (failures > 0) LogInfo("background work succeeded again after ", failures, " failed attempts");
      failures = 0;
      backoff = kMinBackoff;
      last_error.clear();
      continue;
    }
    failures++;
    // Compared without digits: each attempt names a new segment file.
    std::string error = s.ToString();
    std::string signature = error;
    signature.erase(
        std::remove_if(signature.begin(), signature.end(), [](char c) { return c >= '0' && c <= '9'; }),
        signature.end());
    if (signature != last_error) {
      LogError("background work: ", error, " (retrying with backoff up to ",
               std::chrono::duration_cast<std::chrono::seconds>(kMaxBackoff).count(),
               " s; logged again only if the error changes)");
      last_error = std::move(signature);
    }
    retry_at = std::chrono::steady_clock::now() + backoff;
    backoff = std::min<std::chrono::steady_clock::duration>(backoff * 2, kMaxBackoff);
  }
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

StatusOr<std::vector<CheckProblem>> DBImpl::Check() {
  RETURN_IF_ERROR(CheckOpen());
  Snapshot snap = GetSnapshot();
  std::vector<CheckProblem> problems;
  for (const auto& s : snap.version->segments) {
    if (!s->reader) {
      problems.push_back({s->meta.file, std::string(ToStd(s->open_status.message()))});
      continue;
    }
    Status st = s->reader->Verify();
    if (!st.ok()) problems.push_back({s->meta.file, std::string(ToStd(st.message()))});
  }
  return problems;
}

StatusOr<std::vector<RepairedSegment>> DBImpl::Repair() {
  RETURN_IF_ERROR(CheckOpen());
  if (!wal_) return absl::FailedPreconditionError("database opened read-only");
  std::lock_guard<std::mutex> maint(maint_mu_);
  std::shared_ptr<const Version> version;
  {
    absl::MutexLock sl(&state_mu_);
    version = version_;
  }
  const std::string quarantine = options_.data_dir + "/quarantine";
  std::vector<RepairedSegment> out;
  // Names a block for the report.
  auto describe = [&](uint32_t db_id, uint64_t series_id, uint32_t field_id, uint64_t points,
                      int64_t min_time, int64_t max_time) {
    std::string db_name = absl::StrCat("db#", db_id);
    for (const auto& d : index_->ListDatabases()) {
      if (d.id == db_id) db_name = d.name;
    }
    std::string key = index_->SeriesKeyOf(series_id).value_or(absl::StrCat("series#", series_id));
    std::string field = absl::StrCat("field#", field_id);
    std::string m;
    std::vector<std::pair<std::string, std::string>> tags;
    if (lineproto::ParseSeriesKey(key, &m, &tags).ok()) {
      for (const auto& f : index_->Fields(db_id, m)) {
        if (f.id == field_id) field = f.name;
      }
    }
    return absl::StrCat(db_name, " ", key, " ", field, ": ", points, " points from ", min_time, " to ",
                        max_time);
  };
  for (const auto& seg : version->segments) {
    const index::SegmentMeta& meta = seg->meta;
    Status problem = seg->reader ? seg->reader->Verify() : seg->open_status;
    if (problem.ok()) continue;
    RepairedSegment r;
    r.file = meta.file;
    r.problem = std::string(ToStd(problem.message()));
    index::SegmentMeta nm;
    bool wrote = false;
    if (!seg->reader) {
      r.points_lost = meta.points;
      r.lost.push_back(absl::StrCat("the whole segment (unreadable): ", meta.points, " points from ",
                                    meta.min_time, " to ", meta.max_time));
    } else {
      nm.id = index_->NextSegmentId();
      nm.db_id = meta.db_id;
      nm.partition_start = meta.partition_start;
      nm.file = SegmentFileName(nm.id);
      nm.level = meta.level;
      segment::SegmentWriterOptions wo;
      wo.max_block_points = options_.max_block_points;
      ASSIGN_OR_RETURN(auto writer, segment::SegmentWriter::Create(SegmentDir() + "/" + nm.file, wo));
      // Newer segments of the partition win on equal timestamps; the new
      // file ranks above them, so their timestamps are taken out here.
      std::vector<const SegmentRef*> newer;
      for (const auto& o : version->segments) {
        if (o->meta.id > meta.id && o->meta.db_id == meta.db_id &&
            o->meta.partition_start == meta.partition_start && o->reader) {
          newer.push_back(o.get());
        }
      }
      Column col, other;
      std::vector<const segment::BlockHandle*> hs;
      for (const segment::BlockHandle& h : seg->reader->blocks()) {
        col.clear();
        col.type = h.type;
        Status rs = seg->reader->ReadBlock(h, &col);
        if (!rs.ok()) {
          r.blocks_lost++;
          r.points_lost += h.stats.count;
          r.lost.push_back(describe(meta.db_id, h.series_id, h.field_id, h.stats.count, h.stats.min_time,
                                    h.stats.max_time));
          continue;
        }
        r.blocks_kept++;
        if (!index_->SeriesKeyOf(h.series_id)) continue;  // a dropped series
        for (const auto& t : version->tombstones) {
          if (TombstoneCovers(t, meta.db_id, h.series_id, meta.id)) {
            FilterColumn(&col, [&](int64_t ts) { return ts >= t.min_time && ts <= t.max_time; });
          }
        }
        for (const SegmentRef* o : newer) {
          if (col.empty()) break;
          hs.clear();
          o->reader->FindBlocks(h.series_id, h.field_id, col.times.front(), col.times.back(), &hs);
          for (const auto* oh : hs) {
            other.clear();
            other.type = oh->type;
            if (!o->reader->ReadBlock(*oh, &other).ok()) continue;
            FilterColumn(&col, [&](int64_t ts) {
              return std::binary_search(other.times.begin(), other.times.end(), ts);
            });
          }
        }
        if (col.empty()) continue;
        r.points_kept += col.size();
        RETURN_IF_ERROR(writer->Add(h.series_id, h.field_id, col));
      }
      ASSIGN_OR_RETURN(auto info, writer->Finish());
      nm.file_bytes = info.file_bytes;
      nm.min_time = info.min_time;
      nm.max_time = info.max_time;
      nm.points = info.points;
      wrote = info.points > 0;
      if (!wrote) RETURN_IF_ERROR(RemoveFile(SegmentDir() + "/" + nm.file));
    }
    // Kept first (a hard link), registered second, removed last: a crash at
    // any point leaves either the old catalog with its file or the new one,
    // and the damaged file always survives in quarantine/.
    RETURN_IF_ERROR(CreateDirs(quarantine));
    const std::string old_path = SegmentDir() + "/" + meta.file;
    if (FileExists(old_path)) {
      std::string dest = quarantine + "/" + meta.file;
      for (int i = 1; FileExists(dest); i++) dest = absl::StrCat(quarantine, "/", meta.file, ".", i);
      if (::link(old_path.c_str(), dest.c_str()) != 0)
        return ErrnoStatus("link " + old_path + " " + dest, errno);
      RETURN_IF_ERROR(SyncDir(quarantine));
    }
    std::vector<index::SegmentMeta> added;
    if (wrote) added.push_back(nm);
    RETURN_IF_ERROR(index_->CommitSegments(added, {meta.id}, std::nullopt));
    std::vector<std::shared_ptr<SegmentRef>> refs;
    if (wrote) {
      refs.push_back(OpenSegmentRef(nm));
      r.salvaged_file = nm.file;
    }
    InstallVersion(refs, {meta.id}, nullptr);  // the old file goes with its last reader
    LogWarning("repair: segment ", meta.file, " (", r.problem, ") moved to ", quarantine, "; kept ",
               r.points_kept, " points", wrote ? absl::StrCat(" in ", nm.file) : "", ", lost ", r.points_lost,
               " points");
    out.push_back(std::move(r));
  }
  return out;
}

StatusOr<StorageReport> DBImpl::GetStorageReport() {
  RETURN_IF_ERROR(CheckOpen());
  Snapshot snap = GetSnapshot();
  StorageReport report;
  absl::flat_hash_map<uint32_t, std::string> db_names;
  for (const auto& d : index_->ListDatabases()) db_names[d.id] = d.name;
  // (db, series) -> measurement; (db, measurement) -> field id -> name.
  absl::flat_hash_map<uint64_t, std::string> measurement_of;
  std::map<std::tuple<std::string, std::string, std::string>, FieldStorage> fields;
  absl::flat_hash_map<uint32_t, std::pair<std::string, FieldType>> field_names;
  std::string m;
  std::vector<std::pair<std::string, std::string>> tags;
  for (const auto& seg : snap.version->segments) {
    report.segment_bytes += seg->meta.file_bytes;
    if (!seg->reader) continue;
    auto dbit = db_names.find(seg->meta.db_id);
    if (dbit == db_names.end()) continue;
    for (const auto& b : seg->reader->blocks()) {
      auto mit = measurement_of.find(b.series_id);
      if (mit == measurement_of.end()) {
        auto key = index_->SeriesKeyOf(b.series_id);
        if (!key || !lineproto::ParseSeriesKey(*key, &m, &tags).ok()) m = "(deleted series)";
        mit = measurement_of.emplace(b.series_id, m).first;
        if (key) {
          for (const auto& f : index_->Fields(seg->meta.db_id, m)) field_names[f.id] = {f.name, f.type};
        }
      }
      auto fit = field_names.find(b.field_id);
      std::string fname =
          fit == field_names.end() ? absl::StrCat("(field ", b.field_id, ")") : fit->second.first;
      FieldStorage& fs = fields[{dbit->second, mit->second, fname}];
      fs.database = dbit->second;
      fs.measurement = mit->second;
      fs.field = fname;
      fs.type = b.type;
      fs.points += b.stats.count;
      fs.blocks++;
      fs.timestamp_bytes += b.times_bytes;
      fs.value_bytes += b.values_bytes;
      uint8_t tc = 0, vc = 0;
      if (seg->reader->BlockCodecs(b, &tc, &vc).ok()) {
        fs.timestamp_codecs[std::string(encoding::CodecName(static_cast<encoding::CodecId>(tc)))]++;
        fs.value_codecs[std::string(encoding::CodecName(static_cast<encoding::CodecId>(vc)))]++;
      }
      report.points += b.stats.count;
    }
  }
  for (auto& [k, fs] : fields) report.fields.push_back(std::move(fs));
  report.wal_bytes = wal_ ? wal_->size_bytes() : 0;
  ASSIGN_OR_RETURN(report.meta_bytes, DirectorySize(options_.data_dir + "/meta"));
  ASSIGN_OR_RETURN(report.total_bytes, DirectorySize(options_.data_dir));
  return report;
}

DBStats DBImpl::Stats() {
  DBStats st;
  if (!open_.load()) return st;
  Snapshot snap = GetSnapshot();
  for (const auto& d : index_->ListDatabases()) st.series += index_->SeriesCount(d.id);
  st.head_bytes = snap.active->bytes();
  st.head_points = snap.active->points();
  for (const auto& h : snap.frozen) st.head_bytes += h->bytes();
  st.frozen_heads = snap.frozen.size();
  st.segments = snap.version->segments.size();
  for (const auto& s : snap.version->segments) st.segment_bytes += s->meta.file_bytes;
  if (wal_) {
    auto ws = wal_->stats();
    st.wal_bytes = wal_->size_bytes();
    st.wal_fsyncs = ws.fsyncs;
    st.wal_fsync_nanos = ws.fsync_nanos;
  }
  st.points_written = points_written_.load();
  st.values_written = values_written_.load();
  st.lines_rejected = lines_rejected_.load();
  st.flushes = flushes_.load();
  st.compactions = compactions_.load();
  st.replayed_records = replayed_records_.load();
  st.damaged_blocks_skipped = damaged_skipped_.load();
  if (wal_) {
    Status h = wal_->health();
    if (h.ok()) h = index_->Health();
    st.storage_writable = h.ok();
    st.storage_error = std::string(ToStd(h.message()));
    st.storage_write_failures = wal_->failures();
  }
  return st;
}

Status DBImpl::StorageHealth() {
  RETURN_IF_ERROR(CheckOpen());
  if (!wal_) return absl::FailedPreconditionError("opened read-only");
  RETURN_IF_ERROR(wal_->TryRecover());
  return index_->Health();
}

}  // namespace m2mdb
