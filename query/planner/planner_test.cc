// Planner helpers: time ranges, condition splitting, column names.
#include "query/planner/planner.h"

#include <gtest/gtest.h>

#include "query/parser/parser.h"

namespace m2mdb::query::planner {
namespace {

ExprPtr P(std::string_view s) {
  auto e = ParseExpr(s);
  EXPECT_TRUE(e.ok()) << e.status();
  return std::move(*e);
}

TEST(ExtractTimeRange, BoundsFromComparisons) {
  TimeRange r;
  auto rest = ExtractTimeRange(
      P("time >= '2020-01-01T00:00:00Z' AND time < 1577836810s AND host = 'a'").get(), 0, &r);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(r.min, 1577836800000000000);
  EXPECT_EQ(r.max, 1577836809999999999);
  ASSERT_NE(*rest, nullptr);
  EXPECT_EQ(String(**rest), "host = 'a'");
}

TEST(ExtractTimeRange, NowArithmeticAndFlippedOperands) {
  TimeRange r;
  auto rest = ExtractTimeRange(P("now() - 1h < time AND time <= now()").get(), 10 * 3600000000000LL, &r);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(*rest, nullptr);
  EXPECT_EQ(r.min, 9 * 3600000000000LL + 1);
  EXPECT_EQ(r.max, 10 * 3600000000000LL);
}

TEST(ExtractTimeRange, BadTimeStringIsAnError) {
  TimeRange r;
  EXPECT_FALSE(ExtractTimeRange(P("time > 'bogus'").get(), 0, &r).ok());
}

TEST(SplitCondition, MatchersTagFilterAndRowFilter) {
  auto is_field = [](const VarRef& v) { return v.name == "value"; };
  auto parts = SplitCondition(
      P("host = 'a' AND region =~ /us/ AND (dc = 'x' OR dc = 'y') AND value > 1").get(), is_field);
  ASSERT_EQ(parts.matchers.size(), 2u);
  EXPECT_EQ(parts.matchers[0].key, "host");
  EXPECT_EQ(parts.matchers[0].op, TagOp::kEqual);
  EXPECT_EQ(parts.matchers[1].op, TagOp::kRegex);
  ASSERT_NE(parts.tag_filter, nullptr);
  EXPECT_EQ(String(*parts.tag_filter), "dc = 'x' OR dc = 'y'");
  ASSERT_NE(parts.row_filter, nullptr);
  EXPECT_EQ(String(*parts.row_filter), "value > 1");
}

TEST(ColumnNames, InfluxStyleDedupe) {
  EXPECT_EQ(ResolveColumnNames({"mean", "mean", "mean_1"}, {false, false, true}),
            (std::vector<std::string>{"mean", "mean_2", "mean_1"}));
  EXPECT_EQ(ResolveColumnNames({"v", "v", "time"}, {false, false, false}),
            (std::vector<std::string>{"v", "v_1", "time_1"}));
  EXPECT_EQ(FieldName(*P("a + b * 2")), "a_b");
  EXPECT_EQ(FieldName(*P("mean(x) * 2")), "mean");
}

}  // namespace
}  // namespace m2mdb::query::planner
