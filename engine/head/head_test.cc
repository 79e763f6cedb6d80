#include "engine/head/head.h"

#include <map>
#include <random>

#include <malloc.h>

#include "gtest/gtest.h"

namespace m2mdb {
namespace {

HeadEntry F(uint64_t s, uint32_t f, int64_t t, double v) {
  HeadEntry e;
  e.series_id = s;
  e.field_id = f;
  e.db_id = 1;
  e.type = FieldType::kFloat;
  e.time = t;
  e.f = v;
  return e;
}

TEST(Head, OutOfOrderWritesReadSortedWithLastWriteWinning) {
  Head h(0);
  std::vector<HeadEntry> es = {F(1, 1, 5, 1), F(1, 1, 3, 2), F(1, 1, 5, 3), F(1, 1, 4, 4)};
  h.Apply(es.data(), es.size(), {});
  Column c;
  ASSERT_TRUE(h.Read(1, 1, kMinTime, kMaxTime, &c));
  EXPECT_EQ((std::vector<int64_t>{3, 4, 5}), c.times);
  EXPECT_EQ((std::vector<double>{2, 4, 3}), c.floats);
  c.clear();
  ASSERT_TRUE(h.Read(1, 1, 4, 4, &c));
  EXPECT_EQ((std::vector<int64_t>{4}), c.times);
  EXPECT_FALSE(h.Read(2, 1, kMinTime, kMaxTime, &c));
  EXPECT_EQ(4u, h.points());
  EXPECT_EQ(3, h.min_time());
  EXPECT_EQ(5, h.max_time());
  EXPECT_GT(h.bytes(), 0u);
}

TEST(Head, ForEachSortedVisitsColumnsInSeriesFieldOrder) {
  Head h(0);
  std::vector<HeadEntry> es = {F(2, 1, 1, 1), F(1, 2, 1, 1), F(1, 1, 2, 1), F(1, 1, 1, 1)};
  h.Apply(es.data(), es.size(), {});
  std::vector<std::pair<uint64_t, uint32_t>> order;
  h.ForEachSorted([&](uint32_t, uint64_t s, uint32_t f, const Column& c) {
    order.emplace_back(s, f);
    for (size_t i = 1; i < c.size(); i++) EXPECT_LT(c.times[i - 1], c.times[i]);
  });
  EXPECT_EQ((std::vector<std::pair<uint64_t, uint32_t>>{{1, 1}, {1, 2}, {2, 1}}), order);
}

TEST(Head, StringsAreCopiedFromTheBatchTable) {
  Head h(0);
  HeadEntry e;
  e.series_id = 1;
  e.field_id = 1;
  e.db_id = 1;
  e.type = FieldType::kString;
  e.time = 1;
  e.str = 1;
  std::vector<std::string> strings = {"a", "b"};
  h.Apply(&e, 1, strings);
  strings.clear();
  Column c;
  ASSERT_TRUE(h.Read(1, 1, kMinTime, kMaxTime, &c));
  EXPECT_EQ((std::vector<std::string>{"b"}), c.strings);
}

// What malloc has handed out, all arenas and mmapped blocks included.
size_t HeapInUse() {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

// Heap bytes a head takes for `series` x `fields` columns of `steps`
// points each, written one time step per batch, and its bytes().
std::pair<size_t, uint64_t> MeasureHead(int series, int fields, int steps) {
  std::vector<HeadEntry> batch;
  auto fill = [&](int step) {
    batch.clear();
    for (int s = 1; s <= series; s++) {
      for (int f = 1; f <= fields; f++) batch.push_back(F(s, f, int64_t{step} * 1000000000, step * 0.5));
    }
  };
  {
    Head warm(0);  // the batch vector and Apply's scratch reach their size
    fill(0);
    warm.Apply(batch.data(), batch.size(), {});
  }
  const size_t before = HeapInUse();
  auto h = std::make_unique<Head>(0);
  for (int step = 0; step < steps; step++) {
    fill(step);
    h->Apply(batch.data(), batch.size(), {});
  }
  return {HeapInUse() - before, h->bytes()};
}

// The budget is checked against bytes(): if the real allocation of columns
// of many points can exceed it, a head's memory is not bounded by the
// budget. Every column growing in step to just past a power of two is the
// worst case of doubling vectors (each held twice its points, 32 bytes a
// point against an estimate of 24).
TEST(Head, AccountedBytesBoundTheRealAllocation) {
  // Few series, many points each.
  auto [used, bytes] = MeasureHead(300, 2, 2049);
  if (used == 0) GTEST_SKIP() << "malloc statistics unavailable";
  EXPECT_LE(used, bytes);
  // Chunks hold 16 bytes a point and a tail: well under the estimate.
  EXPECT_LE(used, bytes * 4 / 5);
}

// Points in random order with repeated timestamps over many chunks, of each
// fixed-width type and strings: reads of any range give what a sorted map
// with the last write winning gives.
TEST(Head, ReadsMatchAModelAcrossChunks) {
  std::mt19937_64 rng(7);
  for (FieldType type : {FieldType::kFloat, FieldType::kInteger, FieldType::kUnsigned, FieldType::kBoolean,
                         FieldType::kString}) {
    Head h(0);
    std::map<int64_t, int64_t> model;
    std::vector<std::string> strings;
    for (int batch = 0; batch < 20; batch++) {
      std::vector<HeadEntry> es;
      strings.clear();
      for (int i = 0; i < 150; i++) {
        // Mostly in order, sometimes back in time onto an existing point.
        const int64_t t = rng() % 8 == 0 ? static_cast<int64_t>(rng() % 3000) : batch * 150 + i;
        const int64_t v = static_cast<int64_t>(rng() % 1000);
        HeadEntry e = F(1, 1, t, 0);
        e.type = type;
        switch (type) {
          case FieldType::kFloat:
            e.f = v * 0.25;
            break;
          case FieldType::kInteger:
            e.i = -v;
            break;
          case FieldType::kUnsigned:
            e.u = v;
            break;
          case FieldType::kBoolean:
            e.b = v % 2;
            break;
          case FieldType::kString:
            e.str = static_cast<uint32_t>(strings.size());
            strings.push_back(std::string(v % 40, 'x') + std::to_string(v));
            break;
        }
        es.push_back(e);
        model[t] = v;
      }
      h.Apply(es.data(), es.size(), strings);
      const int64_t lo = static_cast<int64_t>(rng() % 3200), hi = lo + static_cast<int64_t>(rng() % 1500);
      for (auto [a, b] : {std::pair<int64_t, int64_t>{kMinTime, kMaxTime}, {lo, hi}, {hi, lo}}) {
        Column c;
        ASSERT_TRUE(h.Read(1, 1, a, b, &c));
        EXPECT_EQ(type, c.type);
        std::vector<int64_t> want_t;
        Column want;
        want.type = type;
        for (auto it = model.lower_bound(a); it != model.end() && it->first <= b && a <= b; ++it) {
          const int64_t v = it->second;
          switch (type) {
            case FieldType::kFloat:
              want.Append(it->first, FieldValue::Float(v * 0.25));
              break;
            case FieldType::kInteger:
              want.Append(it->first, FieldValue::Int(-v));
              break;
            case FieldType::kUnsigned:
              want.Append(it->first, FieldValue::Uint(v));
              break;
            case FieldType::kBoolean:
              want.Append(it->first, FieldValue::Bool(v % 2));
              break;
            case FieldType::kString:
              want.Append(it->first, FieldValue::String(std::string(v % 40, 'x') + std::to_string(v)));
              break;
          }
        }
        ASSERT_EQ(want.times, c.times) << static_cast<int>(type) << " batch " << batch;
        EXPECT_EQ(want.floats, c.floats);
        EXPECT_EQ(want.ints, c.ints);
        EXPECT_EQ(want.uints, c.uints);
        EXPECT_EQ(want.bools, c.bools);
        EXPECT_EQ(want.strings, c.strings);
      }
    }
    EXPECT_EQ(h.min_time(), model.begin()->first);
  }
}

}  // namespace
}  // namespace m2mdb
