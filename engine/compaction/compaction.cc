// Flush (WriteHead), compaction (MergeSegments and the size-tiered choice),
// retention (ExpiredSegments) and tombstone pruning (ObsoleteTombstones):
// the work, without locks or the catalog. See compaction.h; DBImpl's side is
// engine/db/db_flush.cc.
#include "engine/compaction/compaction.h"

#include <algorithm>
#include <climits>
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

namespace {

constexpr int64_t kSec = 1000000000;
// Coarse to fine. Each divides a day, so the epoch-aligned GROUP BY time
// windows of these lengths start and end on lines of their grid.
constexpr int64_t kGrids[] = {86400 * kSec, 43200 * kSec, 28800 * kSec, 21600 * kSec, 14400 * kSec,
                              10800 * kSec, 7200 * kSec,  3600 * kSec,  1800 * kSec,  1200 * kSec,
                              900 * kSec,   600 * kSec,   300 * kSec,   120 * kSec,   60 * kSec,
                              30 * kSec,    10 * kSec,    5 * kSec,     kSec};

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

// The ends of the pieces of [b, e) cut at every line of `grid`.
void CutAt(const int64_t* t, size_t b, size_t e, int64_t grid, std::vector<size_t>* pieces) {
  pieces->clear();
  for (size_t i = b; i < e;) {
    // The first point at or past the next line (saturating near INT64_MAX).
    const int64_t cell = FloorDiv(t[i], grid);
    const size_t j = cell + 1 > INT64_MAX / grid  // no line after this cell
                         ? e
                         : static_cast<size_t>(std::lower_bound(t + i, t + e, (cell + 1) * grid) - t);
    pieces->push_back(std::max(j, i + 1));  // sorted input: always past i
    i = pieces->back();
  }
}

void CutAligned(const int64_t* t, size_t b, size_t e, size_t max, std::vector<size_t>* ends) {
  if (e - b <= max) {
    ends->push_back(e);
    return;
  }
  std::vector<size_t> pieces;
  int64_t coarsest = 0, coarser = 0;
  for (int64_t grid : kGrids) {
    if (FloorDiv(t[b], grid) == FloorDiv(t[e - 1], grid)) continue;  // no line of this grid inside
    if (coarsest == 0) coarsest = grid;
    CutAt(t, b, e, grid, &pieces);
    size_t from = b;
    bool fits = true;
    for (size_t j : pieces) {
      fits &= j - from <= max;
      from = j;
    }
    if (!fits) {
      coarser = grid;
      continue;
    }
    // Neighbours that fit together in one cell of the coarser grid that did
    // not fit are one block: fewer blocks, still cut on its lines.
    size_t block_begin = b;
    for (size_t k = 0; k < pieces.size(); k++) {
      const size_t j = pieces[k];
      const bool last = k + 1 == pieces.size();
      if (!last && coarser != 0 && pieces[k + 1] - block_begin <= max &&
          FloorDiv(t[block_begin], coarser) == FloorDiv(t[pieces[k + 1] - 1], coarser)) {
        continue;
      }
      ends->push_back(j);
      block_begin = j;
    }
    return;
  }
  if (coarsest == 0) {  // more than max points in one second: equal blocks, as SegmentWriter splits
    const size_t n = e - b, blocks = (n + max - 1) / max;
    size_t end = b;
    for (size_t k = 0; k < blocks; k++) {
      end += n / blocks + (k < n % blocks ? 1 : 0);
      ends->push_back(end);
    }
    return;
  }
  // No grid leaves every piece small enough: cut on the coarsest and cut
  // the pieces in turn.
  CutAt(t, b, e, coarsest, &pieces);
  size_t from = b;
  for (size_t j : std::vector<size_t>(pieces)) {
    CutAligned(t, from, j, max, ends);
    from = j;
  }
}

// Copies points [b, e) of src into *dst (same type).
void Slice(const Column& src, size_t b, size_t e, Column* dst) {
  dst->clear();
  dst->type = src.type;
  auto copy = [&](const auto& from, auto* to) {
    if (!from.empty())
      to->assign(from.begin() + static_cast<std::ptrdiff_t>(b),
                 from.begin() + static_cast<std::ptrdiff_t>(e));
  };
  copy(src.times, &dst->times);
  copy(src.floats, &dst->floats);
  copy(src.ints, &dst->ints);
  copy(src.uints, &dst->uints);
  copy(src.bools, &dst->bools);
  copy(src.strings, &dst->strings);
}

// Adds one column to `writer` in blocks cut by AlignedBlockEnds.
Status AddAligned(segment::SegmentWriter* writer, uint64_t series_id, uint32_t field_id, const Column& col,
                  size_t max_points, Column* scratch) {
  if (col.size() <= max_points) return writer->Add(series_id, field_id, col);
  const std::vector<size_t> ends = AlignedBlockEnds(col.times.data(), col.size(), max_points);
  size_t b = 0;
  for (size_t e : ends) {
    Slice(col, b, e, scratch);
    RETURN_IF_ERROR(writer->Add(series_id, field_id, *scratch));
    b = e;
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<size_t> AlignedBlockEnds(const int64_t* times, size_t n, size_t max_points) {
  std::vector<size_t> ends;
  if (n == 0) return ends;
  CutAligned(times, 0, n, std::max<size_t>(1, max_points), &ends);
  return ends;
}

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
  Column chunk, slice;
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
      status = AddAligned(out.writer.get(), series_id, field_id, *src, options.max_block_points, &slice);
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
    if (!merged.empty()) {
      RETURN_IF_ERROR(AddAligned(writer.get(), series_id, field_id, merged, options.max_block_points, &part));
    }
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
