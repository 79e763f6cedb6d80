// Flush, compaction, retention and tombstone pruning as functions of their
// inputs, in the way LevelDB's DBImpl asks VersionSet and Compaction: given
// the head or the segments, the tombstones and the options, they write new
// segment files or say what to drop, and return what to install. They take
// no lock and register nothing: DBImpl (engine/db/db_flush.cc) holds the
// maintenance lock, commits the result to the catalog and installs the new
// Version (EditVersion).
#ifndef M2MDB_ENGINE_COMPACTION_COMPACTION_H_
#define M2MDB_ENGINE_COMPACTION_COMPACTION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"

#include "engine/compaction/version.h"
#include "engine/head/head.h"
#include "engine/index/index.h"
#include "m2mdb/status.h"

namespace m2mdb::compaction {

struct CompactionOptions {
  std::string segment_dir;           // where segment files are written
  uint32_t max_block_points = 4096;  // Options::max_block_points
  int64_t default_partition_ns = 0;  // for databases without their own
  // Called by MergeSegments between two (series, field) columns; may sleep
  // to give way to reads (ReadPacer). Empty: never pauses.
  std::function<void()> pace{};
};

// Makes a background merge give way to reads without starving it. Called
// between units of merge work: while reads are running it sleeps in short
// steps, but never longer in total than kSleepPerWork times the work done
// since the merge began (capped, so a long quiet stretch does not buy a
// long pause later). Under reads that never stop a merge still runs at
// 1 / (1 + kSleepPerWork) of its speed, so background compaction converges
// on any load; with no reads it never sleeps. On the two-CPU machines of
// issue 18 the restart's merge of a day's level-0 segments otherwise took
// one CPU from the first queries after the restart (the as-loaded state).
// Thread-compatible: one pacer per merge.
class ReadPacer {
 public:
  static constexpr int64_t kStepNs = 200'000;
  static constexpr int64_t kSleepPerWork = 2;
  static constexpr int64_t kMaxCreditNs = 50'000'000;

  ReadPacer(std::function<bool()> reads_running, std::function<int64_t()> now_ns,
            std::function<void(int64_t ns)> sleep);
  void Pace();
  int64_t slept_ns() const { return slept_ns_; }

 private:
  std::function<bool()> reads_running_;
  std::function<int64_t()> now_ns_;
  std::function<void(int64_t)> sleep_;
  int64_t last_ns_;
  int64_t credit_ns_ = 0;
  int64_t slept_ns_ = 0;
};

// Databases by id, as the index lists them when the work starts.
using DatabaseMap = absl::flat_hash_map<uint32_t, index::DatabaseInfo>;

// The partition duration of `db`.
int64_t PartitionNs(const index::DatabaseInfo& db, int64_t default_partition_ns);

// "%016x.seg".
std::string SegmentFileName(uint64_t id);

// Flush: writes every point of `head` into new segment files, one per
// (database, time partition), ids from next_segment_id. Points of databases
// missing from `dbs` (dropped) and of partitions wholly past their
// database's retention at `now` are left out. Returns the files written, in
// (database, partition) order; the caller registers them.
StatusOr<std::vector<index::SegmentMeta>> WriteHead(const Head& head, const DatabaseMap& dbs, int64_t now,
                                                    const CompactionOptions& options,
                                                    const std::function<uint64_t()>& next_segment_id);

struct MergeResult {
  // The output file. points == 0: nothing survived; the file exists and is
  // for the caller to remove once the inputs have left the catalog.
  index::SegmentMeta meta;
  // (series, field) columns left out because their series was dropped.
  uint64_t dropped_series = 0;
};

// Compaction: merges `inputs` (segments of one partition, ascending id) into
// one segment of the next level, the newest input winning on equal
// timestamps; applies `tombstones` and leaves out series for which
// series_exists is false. kDataLoss if an input failed to open.
StatusOr<MergeResult> MergeSegments(uint32_t db_id, int64_t partition_start,
                                    const std::vector<std::shared_ptr<SegmentRef>>& inputs,
                                    const std::vector<index::Tombstone>& tombstones,
                                    const std::function<bool(uint64_t series_id)>& series_exists,
                                    const CompactionOptions& options,
                                    const std::function<uint64_t()>& next_segment_id);

// Where the blocks of one sorted column of n points end (indices, the last
// is n), for flush and compaction. A column of at most max_points is one
// block. A longer one is cut on the coarsest epoch-aligned time grid (1 d,
// 12 h, 8 h, 6 h, 4 h, 3 h, 2 h, 1 h, 30 m, ... 1 s) that has a line inside
// it and leaves no piece above max_points, each piece cut the same way in
// turn; without such a grid (more than max_points in one second) it is split
// into equal blocks as the segment writer would. Block statistics answer a
// GROUP BY time window only for a block inside one window, and those windows
// are epoch-aligned: count-balanced blocks at 1 Hz (68 min each) lay across
// every hour, and the flushes of a load cut the day at arbitrary instants,
// so hour and day aggregates decoded every block (issue 18).
std::vector<size_t> AlignedBlockEnds(const int64_t* times, size_t n, size_t max_points);

// Size-tiered choice for one partition's segments (ascending id): how many
// trailing segments to merge, 0 if fewer than `trigger` share the level of
// the newest. Only a trailing run may be merged: the output gets the newest
// id, so it must not hold data older than any segment left after it.
size_t TrailingRunToMerge(const std::vector<std::shared_ptr<SegmentRef>>& segs, size_t trigger);

// Whether an idle partition's segments (ascending id) should all be merged
// into one: it has two or more, nothing was added to it for `idle_ns` (its
// newest segment was written at `newest_write_ns`, now is `now_ns`) and no
// head holds points of its time range (`head_overlaps`: a flush would add a
// segment soon). Size-tiered merging alone leaves a partition that stopped
// receiving data in up to (trigger - 1) segments per level — the layout
// issue 18 measured (four segments of one day) — which makes every query
// of it merge overlapping sources; one rewrite once it is quiet gives the
// one-source layout the read fast paths want. idle_ns <= 0: never.
bool IdlePartitionShouldMerge(const std::vector<std::shared_ptr<SegmentRef>>& segs, int64_t newest_write_ns,
                              int64_t now_ns, int64_t idle_ns, bool head_overlaps);

// Whether a tombstone of `db_id` covers one of `segs` (a full compaction
// then rewrites the partition to make the delete physical).
bool TombstonesCover(const std::vector<index::Tombstone>& tombstones, uint32_t db_id,
                     const std::vector<std::shared_ptr<SegmentRef>>& segs);

// Retention: ids of the segments whose partition ended before now minus
// their database's retention period.
std::vector<uint64_t> ExpiredSegments(const Version& version, const DatabaseMap& dbs, int64_t now,
                                      int64_t default_partition_ns);

// Ids of the tombstones that no segment needs any more: none they cover
// overlaps their time range.
std::vector<uint64_t> ObsoleteTombstones(const Version& version);

}  // namespace m2mdb::compaction

#endif  // M2MDB_ENGINE_COMPACTION_COMPACTION_H_
