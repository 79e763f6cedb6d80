// DBImpl's WAL replay at open: records parsed and resolved on worker
// threads (Replayer), applied to the head in WAL order; both kinds of write
// record (line-protocol bodies and typed points) go through the Resolver of
// db_write.cc, as live writes do.
#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>
#include <thread>

#include "absl/strings/str_format.h"

#include "engine/db/db_impl.h"
#include "engine/db/db_internal.h"
#include "engine/db/write_batch.h"
#include "engine/util/file.h"
#include "engine/util/logging.h"

namespace m2mdb {

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
      absl::MutexLock l(&mu_);
      inflight_bytes_ += payload.size();
      todo_.push_back(task.get());
      queue_.push_back(std::move(task));
    }
    for (;;) {
      {
        absl::MutexLock l(&mu_);
        if (queue_.size() <= kMaxRecords && inflight_bytes_ <= kMaxBytes) break;
      }
      ApplyFront();
    }
  }

  // Applies every queued record and stops the workers.
  void Finish() {
    for (;;) {
      {
        absl::MutexLock l(&mu_);
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
    std::string database;          // of the entries
    std::string retention_policy;  // of the entries (resolved: never empty)
    bool done = false;     // guarded by mu_
  };

  void ApplyFront() {
    std::unique_ptr<Task> task;
    {
      absl::MutexLock l(&mu_);
      auto front_done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return queue_.front()->done; };
      mu_.Await(absl::Condition(&front_done));
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
      if (db_->options_.change_listener != nullptr) {
        db_->NotifyWrite(task->database, task->retention_policy, task->entries.data(), task->entries.size(),
                         true, &changes_);
      }
    }
    db_->replayed_records_.fetch_add(1);
  }

  void Work() {
    ApplyContext ctx;  // one per worker: its series cache outlives a record
    for (;;) {
      Task* task;
      {
        absl::MutexLock l(&mu_);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !todo_.empty(); };
        mu_.Await(absl::Condition(&ready));
        if (todo_.empty()) return;
        task = todo_.front();
        todo_.pop_front();
      }
      db_->ResolveReplayRecord(task->payload, &ctx);
      task->entries.swap(ctx.entries);
      task->strings.swap(ctx.strings);
      task->database.swap(ctx.replay_database);
      task->retention_policy.swap(ctx.replay_retention_policy);
      absl::MutexLock l(&mu_);
      task->done = true;
    }
  }

  void Stop() {
    {
      absl::MutexLock l(&mu_);
      stop_ = true;
      todo_.clear();  // on an aborted replay; Finish leaves nothing here
    }
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  DBImpl* const db_;
  // Workers wait for todo_ or stop_, the applier for the front task's
  // `done` (Mutex::Await: absl wakes them when mu_ is released).
  absl::Mutex mu_;
  std::deque<std::unique_ptr<Task>> queue_ ABSL_GUARDED_BY(mu_);  // not yet applied, in WAL order
  std::deque<Task*> todo_ ABSL_GUARDED_BY(mu_);                   // not yet picked by a worker
  size_t inflight_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
  std::vector<ChangedSeries> changes_;  // NotifyWrite's scratch (applier only)
};

void DBImpl::ResolveReplayRecord(std::string_view payload, ApplyContext* ctx) {
  ctx->Reset();
  // A record names its retention policy (types 3, 4); one written before
  // policies existed (1, 2) went to the database's only unit, which is the
  // default "autogen" of an upgraded directory.
  if (IsWalPointsRecord(WalRecordType(payload))) {
    std::string_view database, rp, rest;
    Status s = DecodeWalPointsHeader(payload, &database, &rp, &rest);
    std::optional<index::DatabaseInfo> db;
    if (s.ok()) db = index_->GetRetentionPolicy(database, rp);
    if (!db) return;  // dropped after the write
    ctx->replay_database.assign(database);
    ctx->replay_retention_policy.assign(db->retention_policy);
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
  auto db = index_->GetRetentionPolicy(rec.database, rec.retention_policy);
  if (!db) return;  // dropped after the write
  ctx->replay_database.assign(rec.database);
  ctx->replay_retention_policy.assign(db->retention_policy);
  ParseAndResolve(*db, rec.body, static_cast<lineproto::Precision>(rec.precision), rec.default_time,
                  &rec.rejected_lines, /*replay=*/true, 0, ctx, nullptr);
}

Status DBImpl::ReplayWal(const wal::WalOptions& wo, uint64_t checkpoint, uint64_t* replay_bytes) {
  const bool ro = options_.read_only;
  replaying_ = true;
  const auto start = std::chrono::steady_clock::now();
  StatusOr<std::unique_ptr<wal::Wal>> wal;
  // Progress about once a second (a 520 MB WAL replayed for 2.8 s without a
  // word): records and bytes so far out of what the WAL directory holds
  // (segments before the checkpoint, not replayed, are counted there too).
  uint64_t replay_records = 0;
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
        *replay_bytes += payload.size();
        replay_records++;
        // A clock read per record is nothing next to parsing a request body.
        const auto now = std::chrono::steady_clock::now();
        if (now >= next_report) {
          next_report = now + std::chrono::seconds(1);
          const double secs = std::chrono::duration<double>(now - start).count();
          LogInfo("replaying the WAL: ", replay_records, " records, ",
                  absl::StrFormat("%.1f of %.1f MB", (*replay_bytes) / 1e6, wal_dir_bytes / 1e6),
                  " (up to seq ", seq, "), ", absl::StrFormat("%.0f MB/s", (*replay_bytes) / 1e6 / secs));
        }
        return absl::OkStatus();
      });
      if (wal.ok()) replayer.Finish();
    }
  }
  replaying_ = false;
  if (!wal.ok()) return Annotate(wal.status(), "replaying the WAL");
  wal_ = std::move(*wal);
  return absl::OkStatus();
}

}  // namespace m2mdb
