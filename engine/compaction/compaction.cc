// Flush (WriteHead), compaction (MergeSegments and the size-tiered choice),
// retention (ExpiredSegments) and tombstone pruning (ObsoleteTombstones):
// the work, without locks or the catalog. See compaction.h; DBImpl's side is
// engine/db/db_flush.cc.
#include "engine/compaction/compaction.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include "engine/segment/segment.h"
#include "engine/util/time_math.h"

namespace m2mdb::compaction {

int64_t PartitionNs(const index::DatabaseInfo& db, int64_t default_partition_ns) {
  return db.partition_ns > 0 ? db.partition_ns : default_partition_ns;
}

std::string SegmentFileName(uint64_t id) { return absl::StrFormat("%016x.seg", id); }

StatusOr<std::vector<index::SegmentMeta>> WriteHead(const Head& head, const DatabaseMap& dbs, int64_t now,
                                                    const CompactionOptions& options,
                                                    const std::function<uint64_t()>& next_segment_id) {
  struct Out {
    std::unique_ptr<segment::SegmentWriter> writer;
    index::SegmentMeta meta;
  };
  std::map<std::pair<uint32_t, int64_t>, Out> outs;
  Status status;
  segment::SegmentWriterOptions wo;
  wo.max_block_points = options.max_block_points;
  Column chunk;
  head.ForEachSorted([&](uint32_t db_id, uint64_t series_id, uint32_t field_id, const Column& col) {
    if (!status.ok()) return;
    auto dbit = dbs.find(db_id);
    if (dbit == dbs.end()) return;  // database dropped
    const int64_t pns = PartitionNs(dbit->second, options.default_partition_ns);
    const int64_t cutoff = dbit->second.retention_ns > 0 ? SatSub(now, dbit->second.retention_ns) : kMinTime;
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
        out.meta.id = next_segment_id();
        out.meta.db_id = db_id;
        out.meta.partition_start = pstart;
        out.meta.file = SegmentFileName(out.meta.id);
        auto w = segment::SegmentWriter::Create(options.segment_dir + "/" + out.meta.file, wo);
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
  return metas;
}

StatusOr<MergeResult> MergeSegments(uint32_t db_id, int64_t partition_start,
                                    const std::vector<std::shared_ptr<SegmentRef>>& inputs,
                                    const std::vector<index::Tombstone>& tombstones,
                                    const std::function<bool(uint64_t series_id)>& series_exists,
                                    const CompactionOptions& options,
                                    const std::function<uint64_t()>& next_segment_id) {
  for (const auto& in : inputs) {
    if (!in->reader) {
      return absl::DataLossError(
          absl::StrCat("cannot compact partition with damaged segment ", in->meta.file));
    }
  }
  MergeResult result;
  index::SegmentMeta& meta = result.meta;
  meta.id = next_segment_id();
  meta.db_id = db_id;
  meta.partition_start = partition_start;
  meta.file = SegmentFileName(meta.id);
  uint32_t level = 0;
  for (const auto& in : inputs) level = std::max(level, in->meta.level);
  meta.level = level + 1;
  segment::SegmentWriterOptions wo;
  wo.max_block_points = options.max_block_points;
  ASSIGN_OR_RETURN(auto writer, segment::SegmentWriter::Create(options.segment_dir + "/" + meta.file, wo));

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
  for (const auto& [series_id, field_id, type0] : keys) {
    if (options.pace) options.pace();
    if (!series_exists(series_id)) {  // dropped series: made physical here
      result.dropped_series++;
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
      for (const auto& t : tombstones) {
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
  return result;
}

ReadPacer::ReadPacer(std::function<bool()> reads_running, std::function<int64_t()> now_ns,
                     std::function<void(int64_t ns)> sleep)
    : reads_running_(std::move(reads_running)),
      now_ns_(std::move(now_ns)),
      sleep_(std::move(sleep)),
      last_ns_(now_ns_()) {}

void ReadPacer::Pace() {
  const int64_t now = now_ns_();
  credit_ns_ = std::min(kMaxCreditNs, credit_ns_ + std::max<int64_t>(0, now - last_ns_) * kSleepPerWork);
  while (credit_ns_ >= kStepNs && reads_running_()) {
    sleep_(kStepNs);
    credit_ns_ -= kStepNs;
    slept_ns_ += kStepNs;
  }
  // Time asleep is not work: it earns no further pause.
  last_ns_ = now_ns_();
}

size_t TrailingRunToMerge(const std::vector<std::shared_ptr<SegmentRef>>& segs, size_t trigger) {
  if (segs.empty()) return 0;
  size_t run = 1;
  while (run < segs.size() && segs[segs.size() - 1 - run]->meta.level == segs.back()->meta.level) run++;
  return run < trigger ? 0 : run;
}

bool IdlePartitionShouldMerge(const std::vector<std::shared_ptr<SegmentRef>>& segs, int64_t newest_write_ns,
                              int64_t now_ns, int64_t idle_ns, bool head_overlaps) {
  if (idle_ns <= 0 || segs.size() < 2 || head_overlaps) return false;
  // A clock set back makes the age negative: not idle, retried later.
  return SatSub(now_ns, newest_write_ns) >= idle_ns;
}

bool TombstonesCover(const std::vector<index::Tombstone>& tombstones, uint32_t db_id,
                     const std::vector<std::shared_ptr<SegmentRef>>& segs) {
  bool tomb = false;
  for (const auto& t : tombstones) {
    if (t.db_id != db_id) continue;
    for (const auto& s : segs) tomb |= s->meta.id <= t.seq;
  }
  return tomb;
}

std::vector<uint64_t> ExpiredSegments(const Version& version, const DatabaseMap& dbs, int64_t now,
                                      int64_t default_partition_ns) {
  std::vector<uint64_t> removed;
  for (const auto& s : version.segments) {
    auto it = dbs.find(s->meta.db_id);
    if (it == dbs.end() || it->second.retention_ns <= 0) continue;
    // max_time too: the partition length may have shrunk (ALTER RETENTION
    // POLICY ... SHARD DURATION) since the segment was written.
    const int64_t pend =
        std::max(PartitionEnd(s->meta.partition_start, PartitionNs(it->second, default_partition_ns)),
                 s->meta.max_time);
    if (pend < SatSub(now, it->second.retention_ns)) removed.push_back(s->meta.id);
  }
  return removed;
}

std::vector<uint64_t> ObsoleteTombstones(const Version& version) {
  // A tombstone is needed while some segment it covers (id <= bound) of its
  // database overlaps its time range.
  std::vector<uint64_t> obsolete;
  for (const auto& t : version.tombstones) {
    bool needed = false;
    for (const auto& s : version.segments) {
      if (s->meta.db_id == t.db_id && s->meta.id <= t.seq && s->meta.max_time >= t.min_time &&
          s->meta.min_time <= t.max_time) {
        needed = true;
        break;
      }
    }
    if (!needed) obsolete.push_back(t.id);
  }
  return obsolete;
}

}  // namespace m2mdb::compaction
