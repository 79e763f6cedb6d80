// DBImpl's maintenance calls: DELETE, DROP SERIES and DROP MEASUREMENT
// (each flushes first, then records a tombstone or leaves the index),
// Check and Repair, the storage report, stats and the health probe.
#include <algorithm>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

#include "engine/db/db_impl.h"
#include "engine/db/db_internal.h"
#include "engine/encoding/codec.h"
#include "engine/util/file.h"
#include "engine/util/logging.h"

namespace m2mdb {

// ---------------------------------------------------------------------------
// Deletes. Each first flushes everything, so that (a) every point written
// before the delete is in a segment the tombstone covers and (b) no WAL
// record from before the delete is replayed after a crash.

Status DBImpl::Delete(const DeleteRequest& request) {
  RETURN_IF_ERROR(CheckOpen());
  if (request.min_time > request.max_time) return absl::OkStatus();
  absl::MutexLock l(&maint_mu_);
  // Every retention policy of the database, as influxd's DELETE, unless
  // the request names one.
  ASSIGN_OR_RETURN(auto units, DbUnits(request.database));
  if (!request.retention_policy.empty()) {
    std::erase_if(
        units, [&](const index::DatabaseInfo& u) { return u.retention_policy != request.retention_policy; });
    if (units.empty()) {
      return absl::NotFoundError(absl::StrCat("retention policy not found: ", request.retention_policy));
    }
  }
  DeleteChange change;
  change.kind = DeleteChange::Kind::kDelete;
  change.database = request.database;
  change.retention_policy = request.retention_policy;
  change.measurement = request.measurement;
  change.matchers = &request.matchers;
  change.min_time = request.min_time;
  change.max_time = request.max_time;
  RETURN_IF_ERROR(NotifyDelete(change));
  RETURN_IF_ERROR(FreezeAndFlushLocked());
  uint64_t bound = 0;
  {
    absl::MutexLock sl(&state_mu_);
    for (const auto& s : version_->segments) bound = std::max(bound, s->meta.id);
  }
  if (bound == 0) return absl::OkStatus();  // nothing on disk, nothing to delete
  for (const auto& db : units) {
    std::vector<std::string> ms;
    if (request.measurement.empty()) {
      ms = index_->Measurements(db.id);
    } else {
      ms.push_back(request.measurement);
    }
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
  }
  auto tombstones = index_->Tombstones();
  InstallVersion({}, {}, &tombstones);
  if (options_.change_listener != nullptr) options_.change_listener->OnDeleteApplied(change);
  return absl::OkStatus();
}

Status DBImpl::DropSeries(std::string_view database, std::string_view measurement,
                          const std::vector<TagMatcher>& matchers) {
  RETURN_IF_ERROR(CheckOpen());
  absl::MutexLock l(&maint_mu_);
  // Every retention policy of the database, as influxd's DROP SERIES.
  ASSIGN_OR_RETURN(auto units, DbUnits(database));
  DeleteChange change;
  change.kind = DeleteChange::Kind::kDropSeries;
  change.database = database;
  change.measurement = measurement;
  change.matchers = &matchers;
  RETURN_IF_ERROR(NotifyDelete(change));
  RETURN_IF_ERROR(FreezeAndFlushLocked());
  for (const auto& db : units) {
    std::vector<std::string> ms;
    if (measurement.empty()) {
      ms = index_->Measurements(db.id);
    } else {
      ms.emplace_back(measurement);
    }
    // Series leave the index; their points become unreachable at once (a
    // new series with the same key gets a new id) and compaction removes
    // them.
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
  }
  if (options_.change_listener != nullptr) options_.change_listener->OnDeleteApplied(change);
  return absl::OkStatus();
}

Status DBImpl::DropMeasurement(std::string_view database, std::string_view measurement) {
  RETURN_IF_ERROR(CheckOpen());
  {
    ASSIGN_OR_RETURN(auto ms, Measurements(database));  // of every policy
    if (!std::binary_search(ms.begin(), ms.end(), std::string(measurement))) {
      return absl::NotFoundError(absl::StrCat("measurement not found: ", ToAbsl(measurement)));
    }
  }
  return DropSeries(database, measurement, {});
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
  absl::MutexLock maint(&maint_mu_);
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
      nm.file = compaction::SegmentFileName(nm.id);
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
