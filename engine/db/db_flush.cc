// DBImpl's side of flush, compaction, retention and tombstone pruning: it
// freezes the head, holds the maintenance lock, asks engine/compaction for
// the work (WriteHead, MergeSegments, ExpiredSegments, ObsoleteTombstones),
// commits the result to the catalog and installs the new Version. Also the
// background thread that runs these rounds.
#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include <sys/stat.h>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

#include "engine/compaction/compaction.h"
#include "engine/db/db_impl.h"
#include "engine/db/db_internal.h"
#include "engine/util/file.h"
#include "engine/util/logging.h"
#include "engine/util/time_math.h"

namespace m2mdb {

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
  version_ = EditVersion(*version_, added, removed, tombstones);
}

Status DBImpl::FlushFrozenLocked() {
  for (;;) {
    std::shared_ptr<Head> head;
    {
      absl::MutexLock sl(&state_mu_);
      if (frozen_.empty()) return absl::OkStatus();
      head = frozen_.front();
    }
    ASSIGN_OR_RETURN(std::vector<index::SegmentMeta> metas,
                     compaction::WriteHead(*head, DatabasesById(), NowNanos(), MakeCompactionOptions(),
                                           [this] { return index_->NextSegmentId(); }));
    // The WAL records of this head are never replayed once the checkpoint
    // moves past them: the change listener must hold its marks durably
    // first (if it cannot, the flush fails and the WAL stays).
    if (options_.change_listener != nullptr) {
      RETURN_IF_ERROR(Annotate(options_.change_listener->Checkpoint(*this), "change listener checkpoint"));
    }
    // One synced RocksDB write registers the files and moves the checkpoint.
    RETURN_IF_ERROR(index_->CommitSegments(metas, {}, head->wal_seq_end));
    std::vector<std::shared_ptr<SegmentRef>> added;
    for (const auto& m : metas) added.push_back(OpenSegmentRef(m));
    {
      absl::MutexLock sl(&state_mu_);
      version_ = EditVersion(*version_, added, {}, nullptr);
      frozen_.erase(frozen_.begin());
    }
    // WAL cursors (durable subscriptions) may hold older files.
    Status rs = wal_->RemoveBefore(WalRemovalFloor(head->wal_seq_end + 1));
    if (!rs.ok()) LogWarning("removing flushed WAL segments: ", rs.ToString());
    flushes_.fetch_add(1);
    {
      absl::MutexLock l(&bg_mu_);
      stall_cv_.SignalAll();
    }
  }
}

Status DBImpl::CompactPartitionLocked(uint32_t db_id, int64_t partition_start,
                                      const std::vector<std::shared_ptr<SegmentRef>>& inputs) {
  std::shared_ptr<const Version> version;
  {
    absl::MutexLock sl(&state_mu_);
    version = version_;
  }
  compaction::ReadPacer pacer([this] { return scans_running_.load(std::memory_order_relaxed) > 0; },
                              [] {
                                return int64_t{std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                   std::chrono::steady_clock::now().time_since_epoch())
                                                   .count()};
                              },
                              [](int64_t ns) { std::this_thread::sleep_for(std::chrono::nanoseconds(ns)); });
  compaction::CompactionOptions copts = MakeCompactionOptions();
  copts.pace = [&pacer] { pacer.Pace(); };
  ASSIGN_OR_RETURN(compaction::MergeResult merged,
                   compaction::MergeSegments(
                       db_id, partition_start, inputs, version->tombstones,
                       [this](uint64_t series_id) { return index_->SeriesKeyOf(series_id).has_value(); },
                       copts, [this] { return index_->NextSegmentId(); }));
  const index::SegmentMeta& meta = merged.meta;
  std::vector<uint64_t> removed;
  for (const auto& in : inputs) removed.push_back(in->meta.id);
  std::vector<index::SegmentMeta> added;
  if (meta.points > 0) added.push_back(meta);
  RETURN_IF_ERROR(index_->CommitSegments(added, removed, std::nullopt));
  std::vector<std::shared_ptr<SegmentRef>> refs;
  if (meta.points > 0) {
    refs.push_back(OpenSegmentRef(meta));
  } else {
    RETURN_IF_ERROR(RemoveFile(SegmentDir() + "/" + meta.file));
  }
  InstallVersion(refs, removed, nullptr);
  compactions_.fetch_add(1);
  LogInfo("compacted ", inputs.size(), " segments of partition ", partition_start, " (db ", db_id, ") into ",
          meta.file, ": ", meta.points, " points, ", meta.file_bytes, " bytes",
          merged.dropped_series ? absl::StrCat(", dropped ", merged.dropped_series, " deleted series columns")
                                : "",
          pacer.slept_ns() > 0 ? absl::StrCat(", paused ", pacer.slept_ns() / 1000000, " ms for reads") : "");
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
  const compaction::DatabaseMap dbs = DatabasesById();
  const size_t trigger = all ? 2 : static_cast<size_t>(std::max(2, options_.compaction_trigger));
  // A partition with a damaged input is left as it is (its intact data stays
  // readable; `m2mdb check --repair` fixes it) instead of failing every
  // round, logging every second and holding up every later partition. It is
  // retried once it has a newer segment. Returns whether it compacted.
  auto compact = [&](std::pair<uint32_t, int64_t> key, const std::vector<std::shared_ptr<SegmentRef>>& inputs)
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(maint_mu_) -> StatusOr<bool> {
    auto skipped = damaged_compactions_.find(key);
    if (skipped != damaged_compactions_.end() && skipped->second == inputs.back()->meta.id) return false;
    Status s = CompactPartitionLocked(key.first, key.second, inputs);
    if (s.ok()) return true;
    if (!absl::IsDataLoss(s)) return s;
    damaged_compactions_[key] = inputs.back()->meta.id;
    LogWarning("compaction of partition ", key.second, " (db ", key.first, ") skipped: ", s.message(),
               "; run `m2mdb check --repair`");
    return false;
  };
  // Idle partitions (Options::compaction_idle_seconds): at most one is
  // merged whole per round, so that a restart with many quiet partitions
  // rewrites them one a second rather than holding the maintenance lock (and
  // so the flushes ingest waits for) for all of them at once.
  const int64_t idle_ns = int64_t{std::max(0, options_.compaction_idle_seconds)} * 1000000000;
  bool idle_merged = all;
  std::vector<std::shared_ptr<Head>> heads;
  if (!all && idle_ns > 0) {
    absl::MutexLock sl(&state_mu_);
    heads = frozen_;
    heads.push_back(active_);
  }
  for (auto& [key, segs] : parts) {
    if (!dbs.contains(key.first)) continue;
    if (!idle_merged && segs.size() >= 2) {
      const int64_t pstart = key.second;
      const int64_t pend =
          PartitionEnd(pstart, compaction::PartitionNs(dbs.at(key.first), options_.default_partition_ns));
      bool head_overlaps = false;
      for (const auto& h : heads) {
        head_overlaps |= h->points() > 0 && h->min_time() <= pend && h->max_time() >= pstart;
      }
      // The newest segment's file time says when the partition last got
      // data, across restarts too (an id order says nothing about time).
      struct stat st;
      const int64_t written = ::stat(segs.back()->path.c_str(), &st) == 0
                                  ? int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec
                                  : NowNanos();
      if (compaction::IdlePartitionShouldMerge(segs, written, NowNanos(), idle_ns, head_overlaps)) {
        ASSIGN_OR_RETURN(idle_merged, compact(key, segs));
        continue;
      }
    }
    if (all) {
      if (segs.size() >= trigger || compaction::TombstonesCover(version->tombstones, key.first, segs)) {
        ASSIGN_OR_RETURN(bool done, compact(key, segs));
        (void)done;
      }
      continue;
    }
    // Size-tiered, newest first: merge the trailing run of segments of one
    // level once it has `trigger` members, into one segment of the next
    // level, and cascade. Each point is rewritten O(log_trigger(n)) times
    // instead of at every compaction.
    for (;;) {
      const size_t run = compaction::TrailingRunToMerge(segs, trigger);
      if (run == 0) break;
      std::vector<std::shared_ptr<SegmentRef>> inputs(segs.end() - run, segs.end());
      ASSIGN_OR_RETURN(bool done, compact(key, inputs));
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
  const std::vector<uint64_t> obsolete = compaction::ObsoleteTombstones(*version);
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
  const std::vector<uint64_t> removed =
      compaction::ExpiredSegments(*version, DatabasesById(), NowNanos(), options_.default_partition_ns);
  if (removed.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(index_->CommitSegments({}, removed, std::nullopt));
  InstallVersion({}, removed, nullptr);
  LogInfo("retention: dropped ", removed.size(), " segments past their database's retention period");
  return absl::OkStatus();
}

compaction::DatabaseMap DBImpl::DatabasesById() const {
  compaction::DatabaseMap dbs;
  for (const auto& d : index_->ListDatabases()) dbs[d.id] = d;
  return dbs;
}

compaction::CompactionOptions DBImpl::MakeCompactionOptions() const {
  compaction::CompactionOptions o;
  o.segment_dir = SegmentDir();
  o.max_block_points = options_.max_block_points;
  o.default_partition_ns = options_.default_partition_ns;
  return o;
}

Status DBImpl::Flush() {
  RETURN_IF_ERROR(CheckOpen());
  absl::MutexLock l(&maint_mu_);
  return FreezeAndFlushLocked();
}

Status DBImpl::Compact() {
  RETURN_IF_ERROR(CheckOpen());
  absl::MutexLock l(&maint_mu_);
  RETURN_IF_ERROR(FreezeAndFlushLocked());
  RETURN_IF_ERROR(RetentionLocked());
  return CompactLocked(/*all=*/true);
}

Status DBImpl::MaintainForTesting() {
  RETURN_IF_ERROR(CheckOpen());
  absl::MutexLock l(&maint_mu_);
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
      absl::MutexLock l(&bg_mu_);
      auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(bg_mu_) { return bg_stop_ || bg_work_; };
      bg_mu_.AwaitWithTimeout(absl::Condition(&wake), absl::Seconds(1));
      if (bg_stop_) return;
      bg_work_ = false;
    }
    if (failures > 0 && std::chrono::steady_clock::now() < retry_at) continue;
    absl::MutexLock l(&maint_mu_);
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

}  // namespace m2mdb
