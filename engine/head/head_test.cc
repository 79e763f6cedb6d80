#include "engine/head/head.h"

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

}  // namespace
}  // namespace m2mdb
