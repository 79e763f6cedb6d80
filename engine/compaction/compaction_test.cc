// The choices of engine/compaction on hand-made versions (no files): which
// segments a size-tiered round merges, which retention drops, which
// tombstones are no longer needed. Merging and flushing real files are
// covered through the DB (engine/db/db_test.cc).
#include "engine/compaction/compaction.h"

#include "gtest/gtest.h"

namespace m2mdb::compaction {
namespace {

std::shared_ptr<SegmentRef> Seg(uint64_t id, uint32_t level, uint32_t db_id = 1, int64_t partition_start = 0,
                                int64_t min_time = 0, int64_t max_time = 10) {
  auto s = std::make_shared<SegmentRef>();
  s->meta.id = id;
  s->meta.level = level;
  s->meta.db_id = db_id;
  s->meta.partition_start = partition_start;
  s->meta.min_time = min_time;
  s->meta.max_time = max_time;
  return s;
}

TEST(Compaction, MergesOnlyATrailingRunOfOneLevel) {
  EXPECT_EQ(TrailingRunToMerge({}, 2), 0u);
  EXPECT_EQ(TrailingRunToMerge({Seg(1, 1), Seg(2, 0), Seg(3, 0)}, 3), 0u);
  EXPECT_EQ(TrailingRunToMerge({Seg(1, 1), Seg(2, 0), Seg(3, 0), Seg(4, 0)}, 3), 3u);
  // A lower level in between ends the run: the newest segments are merged,
  // never older ones around a newer one.
  EXPECT_EQ(TrailingRunToMerge({Seg(1, 0), Seg(2, 0), Seg(3, 1), Seg(4, 0)}, 2), 0u);
}

// A fake clock: work advances it by hand, sleeping advances it by the sleep.
struct FakeTime {
  int64_t now = 0;
  int64_t slept = 0;
  bool reads = false;
  ReadPacer Pacer() {
    return ReadPacer([this] { return reads; }, [this] { return now; },
                     [this](int64_t ns) {
                       now += ns;
                       slept += ns;
                     });
  }
};

TEST(Compaction, PacerSleepsOnlyWhileReadsRun) {
  FakeTime t;
  ReadPacer p = t.Pacer();
  for (int i = 0; i < 100; i++) {
    t.now += 1'000'000;  // 1 ms of merge work per column
    p.Pace();
  }
  EXPECT_EQ(t.slept, 0);
  t.reads = true;
  t.now += 1'000'000;
  p.Pace();
  EXPECT_GT(t.slept, 0);
  EXPECT_EQ(p.slept_ns(), t.slept);
}

TEST(Compaction, PacerNeverStarvesAMergeUnderConstantReads) {
  FakeTime t;
  t.reads = true;
  ReadPacer p = t.Pacer();
  int64_t work = 0;
  for (int i = 0; i < 1000; i++) {
    t.now += 300'000;
    work += 300'000;
    p.Pace();
  }
  // Pauses are bounded by kSleepPerWork times the work, and come close to it.
  EXPECT_LE(t.slept, ReadPacer::kSleepPerWork * work);
  EXPECT_GE(t.slept, ReadPacer::kSleepPerWork * work - ReadPacer::kStepNs);
}

TEST(Compaction, PacerCreditIsCapped) {
  FakeTime t;
  ReadPacer p = t.Pacer();
  t.now += 10'000'000'000;  // a long merge with no reads
  p.Pace();
  t.reads = true;
  t.now += 1;
  p.Pace();
  // The quiet stretch buys at most kMaxCreditNs of pause, not 20 s.
  EXPECT_LE(t.slept, ReadPacer::kMaxCreditNs);
  EXPECT_GT(t.slept, 0);
}

std::vector<int64_t> Every(int64_t from, int64_t step, size_t n) {
  std::vector<int64_t> t(n);
  for (size_t i = 0; i < n; i++) t[i] = from + static_cast<int64_t>(i) * step;
  return t;
}

constexpr int64_t kS = 1000000000;

TEST(Compaction, BlocksOfOneHertzDataAreWholeHours) {
  // 1 Hz from 00:50 to 03:10: cut at the hours, whatever the flush cut.
  const int64_t day = 1704067200 * kS;
  auto t = Every(day + 50 * 60 * kS, kS, 140 * 60);
  auto ends = AlignedBlockEnds(t.data(), t.size(), 4096);
  ASSERT_EQ(ends, (std::vector<size_t>{600, 4200, 7800, 8400}));
  // A short column stays one block, even across an hour.
  EXPECT_EQ(AlignedBlockEnds(t.data(), 4000, 4096), (std::vector<size_t>{4000}));
  EXPECT_TRUE(AlignedBlockEnds(t.data(), 0, 4096).empty());
}

TEST(Compaction, BlocksOfTenSecondDataAreThirdsOfADay) {
  // 10 s over two days: 8 h blocks (2880 points), none across midnight.
  const int64_t day = 1704067200 * kS;
  auto t = Every(day, 10 * kS, 2 * 8640);
  auto ends = AlignedBlockEnds(t.data(), t.size(), 4096);
  ASSERT_EQ(ends.size(), 6u);
  for (size_t k = 0; k < ends.size(); k++) EXPECT_EQ(ends[k], (k + 1) * 2880);
}

TEST(Compaction, NeighbourCellsShareABlockWhenTheyFit) {
  // 1 point a second, 00:50 to 02:13 with max 4096: the 1 h grid leaves
  // 01:00-02:13 too big, the 30 min grid fits; its two cells of one hour
  // are packed into one block.
  const int64_t day = 1704067200 * kS;
  auto t = Every(day + 50 * 60 * kS, kS, 83 * 60);
  EXPECT_EQ(AlignedBlockEnds(t.data(), t.size(), 4096), (std::vector<size_t>{600, 4200, 4980}));
}

TEST(Compaction, DenseOrOddColumnsStillGetBlocksOfAtMostMax) {
  // 10 000 points in one second: equal blocks, as the writer splits.
  auto dense = Every(5 * kS, 1, 10000);
  EXPECT_EQ(AlignedBlockEnds(dense.data(), dense.size(), 4096), (std::vector<size_t>{3334, 6667, 10000}));
  // Irregular, negative and extreme times: every block within max, ends
  // increasing, the last at n.
  std::vector<int64_t> odd = {INT64_MIN + 1, -7 * kS, -kS, 0};
  int64_t at = kS;
  for (int i = 0; i < 9000; i++) odd.push_back(at += i % 7 == 0 ? 3 * kS : 100000000);
  odd.push_back(INT64_MAX - 1);
  for (size_t max : {1u, 16u, 4096u}) {
    auto ends = AlignedBlockEnds(odd.data(), odd.size(), max);
    ASSERT_FALSE(ends.empty());
    EXPECT_EQ(ends.back(), odd.size());
    size_t from = 0;
    for (size_t e : ends) {
      EXPECT_GT(e, from);
      EXPECT_LE(e - from, max);
      from = e;
    }
  }
}

TEST(Compaction, IdlePartitionMergesWhole) {
  const int64_t s = 1000000000;
  const std::vector<std::shared_ptr<SegmentRef>> four = {Seg(1, 1), Seg(2, 0), Seg(3, 0), Seg(4, 2)};
  // Quiet for the idle time, no head data: merged, whatever the levels.
  EXPECT_TRUE(IdlePartitionShouldMerge(four, 100 * s, 160 * s, 60 * s, false));
  // Not yet quiet long enough.
  EXPECT_FALSE(IdlePartitionShouldMerge(four, 100 * s, 159 * s, 60 * s, false));
  // A head holds points of the partition: a flush is coming, wait for it.
  EXPECT_FALSE(IdlePartitionShouldMerge(four, 100 * s, 1000 * s, 60 * s, true));
  // One segment is already the goal; 0 turns the rule off.
  EXPECT_FALSE(IdlePartitionShouldMerge({Seg(1, 0)}, 0, 1000 * s, 60 * s, false));
  EXPECT_FALSE(IdlePartitionShouldMerge(four, 0, 1000 * s, 0, false));
  // A clock that went back, and extreme times, do not wrap into "idle".
  EXPECT_FALSE(IdlePartitionShouldMerge(four, 100 * s, 50 * s, 60 * s, false));
  EXPECT_FALSE(IdlePartitionShouldMerge(four, INT64_MAX, INT64_MIN, 60 * s, false));
}

TEST(Compaction, RetentionDropsPartitionsThatEndedBeforeTheCutoff) {
  const int64_t day = 86400ll * 1000000000ll;
  Version v;
  v.segments = {Seg(1, 0, 1, 0), Seg(2, 0, 1, 5 * day), Seg(3, 0, 2, 0)};
  DatabaseMap dbs;
  dbs[1] = {1, "a", /*retention_ns=*/2 * day, day};
  dbs[2] = {2, "b", /*retention_ns=*/0, day};  // keeps everything
  EXPECT_EQ(ExpiredSegments(v, dbs, 6 * day, day), std::vector<uint64_t>{1});
  // Retention at the int64 limits saturates instead of wrapping.
  EXPECT_EQ(ExpiredSegments(v, dbs, INT64_MIN, day), std::vector<uint64_t>{});
}

TEST(Compaction, TombstoneIsObsoleteOnceNoCoveredSegmentOverlapsIt) {
  Version v;
  v.segments = {Seg(1, 0, 1, 0, 0, 10), Seg(5, 0, 1, 0, 100, 200)};
  index::Tombstone covers_old{/*id=*/7, 1, "m", {1}, 0, 20, /*seq=*/1};
  index::Tombstone only_newer_overlaps{/*id=*/8, 1, "m", {1}, 150, 160, /*seq=*/4};
  index::Tombstone other_db{/*id=*/9, 2, "m", {1}, 0, 20, /*seq=*/5};
  v.tombstones = {covers_old, only_newer_overlaps, other_db};
  EXPECT_EQ(ObsoleteTombstones(v), (std::vector<uint64_t>{8, 9}));
  EXPECT_TRUE(TombstonesCover(v.tombstones, 1, v.segments));
  EXPECT_FALSE(TombstonesCover(v.tombstones, 3, v.segments));
}

}  // namespace
}  // namespace m2mdb::compaction
