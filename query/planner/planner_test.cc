// Planner helpers: time ranges, condition splitting, column names.
#include "query/planner/planner.h"

#include <gtest/gtest.h>

#include "re2/re2.h"

#include "query/parser/parser.h"
#include "query/planner/windows.h"

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

TEST(ExtractTimeRange, ZonelessTimeStringsAreLocalTimesInTheStatementsZone) {
  absl::TimeZone berlin;
  ASSERT_TRUE(absl::LoadTimeZone("Europe/Berlin", &berlin));
  TimeRange r;
  std::vector<const Expr*> rest;
  auto cond = P("time >= '2020-01-01 01:00:00' AND time < '2020-07-01'");
  ASSERT_TRUE(ExtractTimeRangeConjuncts(cond.get(), 0, &r, &rest, &berlin).ok());
  EXPECT_EQ(r.min, 1577836800000000000);      // 2020-01-01T00:00:00Z
  EXPECT_EQ(r.max, 1593554400000000000 - 1);  // 2020-06-30T22:00:00Z: summer time
  TimeRange utc;
  ASSERT_TRUE(ExtractTimeRangeConjuncts(P("time >= '2020-01-01 01:00:00'").get(), 0, &utc, &rest).ok());
  EXPECT_EQ(utc.min, 1577840400000000000);
}

// Day windows in Europe/Berlin across the 2024 changes (31 March, 27
// October): local midnights, 23 and 25 hours long.
TEST(ZonedWindowBounds, DayWindowsStartAtLocalMidnightAcrossDaylightSavingChanges) {
  absl::TimeZone berlin;
  ASSERT_TRUE(absl::LoadTimeZone("Europe/Berlin", &berlin));
  const int64_t h = 3600000000000, d = 24 * h;
  const int64_t mar30 = 1711753200000000000;  // 2024-03-30T00:00:00+01:00
  std::vector<int64_t> b;
  ASSERT_TRUE(ZonedWindowBounds(mar30 + 5 * h, mar30 + 2 * d + h, d, 0, berlin, 100, &b));
  EXPECT_EQ(b, (std::vector<int64_t>{mar30, mar30 + d, mar30 + 2 * d - h, mar30 + 3 * d - h}));
  EXPECT_EQ(ZonedWindowStart(mar30 + d + 12 * h, d, 0, berlin), mar30 + d);
  EXPECT_EQ(ZonedWindowStart(mar30 + 2 * d, d, 0, berlin), mar30 + 2 * d - h);
  const int64_t oct26 = 1729893600000000000;  // 2024-10-26T00:00:00+02:00
  ASSERT_TRUE(ZonedWindowBounds(oct26, oct26 + 2 * d, d, 0, berlin, 100, &b));
  EXPECT_EQ(b, (std::vector<int64_t>{oct26, oct26 + d, oct26 + 2 * d + h}));  // 10-27 has 25 h
  // With an offset the local midnights move by it in absolute time.
  ASSERT_TRUE(ZonedWindowBounds(oct26 + 6 * h, oct26 + d + 6 * h, d, 6 * h, berlin, 100, &b));
  EXPECT_EQ(b, (std::vector<int64_t>{oct26 + 6 * h, oct26 + d + 6 * h, oct26 + 2 * d + 7 * h}));
  // Hour windows stay a regular grid: the change is not less than the interval.
  ASSERT_TRUE(ZonedWindowBounds(mar30 + d, mar30 + d + 3 * h, h, 0, berlin, 100, &b));
  EXPECT_EQ(b, (std::vector<int64_t>{mar30 + d, mar30 + d + h, mar30 + d + 2 * h, mar30 + d + 3 * h,
                                     mar30 + d + 4 * h}));
  // Bounded, and saturated at the ends of the time range.
  EXPECT_FALSE(ZonedWindowBounds(0, 1000 * d, d, 0, berlin, 10, &b));
  ASSERT_TRUE(ZonedWindowBounds(kMaxTime - h, kMaxTime, d, 0, berlin, 10, &b));
  EXPECT_EQ(b.back(), INT64_MAX);
  EXPECT_GE(ZonedWindowStart(kMinTime, d, 0, berlin), kMinTime);
}

TEST(ExtractTimeRange, BadTimeStringIsAnError) {
  TimeRange r;
  EXPECT_FALSE(ExtractTimeRange(P("time > 'bogus'").get(), 0, &r).ok());
}

TEST(SplitCondition, MatchersTagFilterAndRowFilter) {
  auto is_field = [](const VarRef& v) { return v.name == "value"; };
  auto parts = SplitCondition(
      P("host = 'a' AND region =~ /us/ AND (dc = 'x' OR dc = 'y') AND value > 1").get(), is_field);
  ASSERT_EQ(parts.matchers.size(), 3u);
  EXPECT_EQ(parts.matchers[0].key, "host");
  EXPECT_EQ(parts.matchers[0].op, TagOp::kEqual);
  EXPECT_EQ(parts.matchers[1].op, TagOp::kRegex);
  // A disjunction of equalities on one tag becomes an index matcher.
  EXPECT_EQ(parts.matchers[2].key, "dc");
  EXPECT_EQ(parts.matchers[2].op, TagOp::kRegex);
  EXPECT_EQ(parts.matchers[2].value, "^(?:x|y)$");
  EXPECT_EQ(parts.tag_filter, nullptr);
  ASSERT_NE(parts.row_filter, nullptr);
  EXPECT_EQ(String(*parts.row_filter), "value > 1");
}

TEST(SplitCondition, OrOfEqualitiesOnOneTagIsAnExactRegexMatcher) {
  auto is_field = [](const VarRef& v) { return v.name == "value"; };
  // Nested parentheses, reversed operands, duplicates, metacharacters and
  // the empty value (a missing tag) are all kept exact.
  auto parts =
      SplitCondition(P("((host = 'b.c' OR 'a' = host) OR (host = '' OR host = 'a|(x)'))").get(), is_field);
  ASSERT_EQ(parts.matchers.size(), 1u);
  EXPECT_EQ(parts.matchers[0].key, "host");
  EXPECT_EQ(parts.matchers[0].op, TagOp::kRegex);
  EXPECT_EQ(parts.matchers[0].value, R"(^(?:|a|a\|\(x\)|b\.c)$)");
  EXPECT_EQ(parts.tag_filter, nullptr);
  for (const char* v : {"", "a", "b.c", "a|(x)"}) {
    EXPECT_TRUE(RE2::PartialMatch(v, RE2(parts.matchers[0].value))) << v;
  }
  for (const char* v : {"bxc", "ab", "x", "a|", "b.cd"}) {
    EXPECT_FALSE(RE2::PartialMatch(v, RE2(parts.matchers[0].value))) << v;
  }

  // Not one tag, not all equalities, a field, or a non-ASCII value: stays a
  // per-series (or per-row) filter.
  for (const char* cond :
       {"host = 'a' OR fleet = 'b'", "host = 'a' OR host != 'b'", "host = 'a' OR host =~ /b/",
        "host = 'a' OR value = 'b'", "host = 'a' OR host = 'caf\xc3\xa9'"}) {
    auto p = SplitCondition(P(cond).get(), is_field);
    EXPECT_TRUE(p.matchers.empty()) << cond;
    EXPECT_TRUE(p.tag_filter != nullptr || p.row_filter != nullptr) << cond;
  }
}

// The executor splits the conjuncts left by ExtractTimeRangeConjuncts in
// place; that must be the split of the tree ExtractTimeRange returns.
TEST(SplitConjuncts, EqualsSplittingTheExtractedCondition) {
  auto is_field = [](const VarRef& v) { return v.name == "value"; };
  auto show = [](const ConditionParts& p) {
    std::string out;
    for (const TagMatcher& m : p.matchers) {
      out += m.key + "/" + std::to_string(static_cast<int>(m.op)) + "/" + m.value + ";";
    }
    out += "|" + (p.tag_filter ? String(*p.tag_filter) : std::string("-"));
    out += "|" + (p.row_filter ? String(*p.row_filter) : std::string("-"));
    return out;
  };
  for (const char* cond :
       {"host = 'a'", "time > 0", "time > 0 AND time < 10", "host = 'a' AND time >= '2024-01-01T00:00:00Z'",
        "(host = 'a' AND (value > 1 AND time < now())) AND region =~ /us/",
        "(host = 'a' OR host = 'b') AND value > 1 AND time > now() - 1h AND (dc != 'x' OR value < 2)",
        "value > 1 OR time > 0", "((time > 5)) AND ((host = 'a'))", "time = 5 AND 10 > time AND x = y"}) {
    TimeRange r1, r2;
    auto rest = ExtractTimeRange(P(cond).get(), 1000, &r1);
    ASSERT_TRUE(rest.ok()) << cond;
    const std::string want = show(SplitCondition(rest->get(), is_field));
    ExprPtr e = P(cond);
    std::vector<const Expr*> conjuncts;
    ASSERT_TRUE(ExtractTimeRangeConjuncts(e.get(), 1000, &r2, &conjuncts).ok()) << cond;
    EXPECT_EQ(show(SplitConjuncts(conjuncts, is_field)), want) << cond;
    EXPECT_EQ(r1.min, r2.min) << cond;
    EXPECT_EQ(r1.max, r2.max) << cond;
  }
  std::vector<const Expr*> none;
  TimeRange r;
  EXPECT_FALSE(ExtractTimeRangeConjuncts(P("time > 'bogus'").get(), 0, &r, &none).ok());
  EXPECT_TRUE(ExtractTimeRangeConjuncts(nullptr, 0, &r, &none).ok());
  EXPECT_TRUE(none.empty());
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
