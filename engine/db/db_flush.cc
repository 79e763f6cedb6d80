// DBImpl's side of flush, compaction and retention: freezing the head,
// taking the maintenance lock, committing new segments to the catalog and
// installing the new Version; and the background thread that runs them.
#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

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

}  // namespace m2mdb
