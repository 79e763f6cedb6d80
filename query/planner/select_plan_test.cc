// PlanSelect and EXPLAIN over a catalog given by the test: plans are values,
// checked without a database.
#include "query/planner/select_plan.h"

#include <map>

#include <gtest/gtest.h>

#include "absl/strings/str_join.h"

#include "query/parser/parser.h"

namespace m2mdb::query::planner {
namespace {

// One database "db" with the measurements given.
class FakeCatalog : public CatalogView {
 public:
  struct M {
    std::vector<FieldKey> fields;
    std::vector<std::string> tags;
  };
  std::map<std::string, M> measurements;

  const std::string& DefaultDatabase() const override { return db_; }
  bool DatabaseExists(const std::string& database) override { return database == db_; }
  StatusOr<std::vector<std::string>> Measurements(const std::string&) override {
    std::vector<std::string> out;
    for (const auto& [k, v] : measurements) out.push_back(k);
    return out;
  }
  StatusOr<std::vector<FieldKey>> FieldKeys(const std::string& database, const std::string& m) override {
    auto it = measurements.find(m);
    if (database != db_ || it == measurements.end()) return std::vector<FieldKey>{};
    return it->second.fields;
  }
  StatusOr<std::vector<std::string>> TagKeys(const std::string&, const std::string& m) override {
    auto it = measurements.find(m);
    if (it == measurements.end()) return std::vector<std::string>{};
    return it->second.tags;
  }
  StatusOr<std::vector<ResultSeries>> RunSubquery(const SelectStatement&, const TimeRange&, bool) override {
    return absl::UnimplementedError("no subqueries here");
  }

 private:
  std::string db_ = "db";
};

FakeCatalog Cpu() {
  FakeCatalog c;
  c.measurements["cpu"] = {
      {{"usage", FieldType::kFloat}, {"load", FieldType::kInteger}, {"up", FieldType::kBoolean}},
      {"host", "region"}};
  return c;
}

// The statement must outlive its plan (the plan points into it).
struct Planned {
  Statement st;
  StatusOr<SelectPlan> plan = absl::UnknownError("not planned");
};

std::unique_ptr<Planned> Plan(const std::string& q, FakeCatalog* cat) {
  auto p = std::make_unique<Planned>();
  auto st = ParseStatement(q);
  EXPECT_TRUE(st.ok()) << st.status();
  if (!st.ok()) return p;
  p->st = std::move(*st);
  PlanOptions o;
  o.now = 1577923200000000000;  // 2020-01-02T00:00:00Z
  p->plan = PlanSelect(*p->st.As<SelectStatement>(), o, cat);
  return p;
}

std::string Explain(const std::string& q) {
  FakeCatalog cat = Cpu();
  auto p = Plan(q, &cat);
  EXPECT_TRUE(p->plan.ok()) << p->plan.status();
  if (!p->plan.ok()) return "";
  return absl::StrJoin(ExplainPlan(*p->plan), "\n");
}

TEST(PlanSelect, CountOverADayReducesInTheScanWithBlockStatistics) {
  FakeCatalog cat = Cpu();
  auto p = Plan(
      "SELECT count(usage) FROM cpu WHERE host = 'a' AND time >= '2020-01-01T00:00:00Z' AND "
      "time < '2020-01-02T00:00:00Z'",
      &cat);
  ASSERT_TRUE(p->plan.ok()) << p->plan.status();
  const SelectPlan& plan = *p->plan;
  EXPECT_TRUE(plan.aggregate);
  EXPECT_TRUE(plan.partial);
  EXPECT_EQ(plan.partial_windows, 1u);
  ASSERT_EQ(plan.slots.size(), 1u);
  EXPECT_EQ(plan.slots[0].reduce, "count");
  ASSERT_EQ(plan.source_plans.size(), 1u);
  const SourcePlan& sp = plan.source_plans[0];
  ASSERT_EQ(sp.parts.matchers.size(), 1u);
  EXPECT_EQ(sp.parts.matchers[0].key, "host");
  EXPECT_EQ(sp.read_list.names(), std::vector<std::string>{"usage"});
  EXPECT_TRUE(sp.use_partial);
  EXPECT_TRUE(sp.use_summaries);
}

TEST(PlanSelect, DerivativeOverGroupByTimeReadsThePrecedingInterval) {
  FakeCatalog cat = Cpu();
  const int64_t lo = 1577837220000000000;  // 2020-01-01T00:07:00Z
  const int64_t hi = 1577839200000000000;  // 2020-01-01T00:40:00Z
  const int64_t iv = 300000000000;         // 5m
  const std::string range =
      " WHERE time >= '2020-01-01T00:07:00Z' AND time < '2020-01-01T00:40:00Z' GROUP BY time(5m)";
  for (const char* call :
       {"derivative(mean(usage))", "non_negative_derivative(max(usage), 1m)", "difference(mean(usage))",
        "non_negative_difference(sum(load))", "moving_average(mean(usage), 4)", "elapsed(count(usage))"}) {
    auto p = Plan(std::string("SELECT ") + call + " FROM cpu" + range, &cat);
    ASSERT_TRUE(p->plan.ok()) << call << ": " << p->plan.status();
    EXPECT_EQ(p->plan->range.min, lo - iv) << call;
    EXPECT_EQ(p->plan->range.max, hi - 1) << call;
  }
  auto desc = Plan("SELECT derivative(mean(usage)) FROM cpu" + range + " ORDER BY time DESC", &cat);
  ASSERT_TRUE(desc->plan.ok()) << desc->plan.status();
  EXPECT_EQ(desc->plan->range.min, lo);
  EXPECT_EQ(desc->plan->range.max, hi - 1 + iv);
  // Other calls read the range as given; next to a transform they are cut
  // to it in the executor (and so are not reduced in the scan).
  for (const char* call : {"cumulative_sum(mean(usage))", "mean(usage)"}) {
    auto p = Plan(std::string("SELECT ") + call + " FROM cpu" + range, &cat);
    ASSERT_TRUE(p->plan.ok()) << call << ": " << p->plan.status();
    EXPECT_EQ(p->plan->range.min, lo) << call;
    EXPECT_FALSE(p->plan->cut_to_requested) << call;
  }
  auto mixed = Plan("SELECT mean(usage), derivative(mean(usage)) FROM cpu" + range, &cat);
  ASSERT_TRUE(mixed->plan.ok()) << mixed->plan.status();
  EXPECT_EQ(mixed->plan->range.min, lo - iv);
  EXPECT_EQ(mixed->plan->requested.min, lo);
  EXPECT_TRUE(mixed->plan->cut_to_requested);
  EXPECT_FALSE(mixed->plan->partial);
  // The first bound saturates at the smallest time instead of wrapping.
  auto low = Plan(
      "SELECT derivative(mean(usage)) FROM cpu WHERE time >= -9223372036854775806 GROUP BY time(5m)", &cat);
  ASSERT_TRUE(low->plan.ok()) << low->plan.status();
  EXPECT_EQ(low->plan->range.min, kMinTime);
}

TEST(PlanSelect, MovingAverageOfOneIsRefusedAsByInfluxd) {
  FakeCatalog cat = Cpu();
  auto p = Plan("SELECT moving_average(usage, 1) FROM cpu", &cat);
  ASSERT_FALSE(p->plan.ok());
  EXPECT_EQ(p->plan.status().message(), "moving_average window must be greater than 1, got 1");
}

TEST(PlanSelect, ConditionOnAFieldDecodesAndMergesPoints) {
  FakeCatalog cat = Cpu();
  auto p =
      Plan("SELECT mean(usage) FROM cpu WHERE load > 3 AND time >= '2020-01-01T00:00:00Z' GROUP BY time(1h)",
           &cat);
  ASSERT_TRUE(p->plan.ok()) << p->plan.status();
  const SourcePlan& sp = p->plan->source_plans[0];
  ASSERT_NE(sp.parts.row_filter, nullptr);
  EXPECT_EQ(sp.read_list.names(), (std::vector<std::string>{"usage", "load"}));
  EXPECT_EQ(sp.read_drives, (std::vector<uint8_t>{1, 0}));
  EXPECT_FALSE(sp.use_partial);
  EXPECT_FALSE(sp.use_summaries);
  // GROUP BY time without an upper bound ends at now().
  EXPECT_EQ(p->plan->range.max, 1577923200000000000);
  EXPECT_EQ(p->plan->partial_windows, 25u);
}

TEST(PlanSelect, LoneMinWithoutGroupByTimeDeclinesBlockStatistics) {
  FakeCatalog cat = Cpu();
  auto p = Plan("SELECT min(usage) FROM cpu", &cat);
  ASSERT_TRUE(p->plan.ok()) << p->plan.status();
  EXPECT_TRUE(p->plan->selector_point_time);
  EXPECT_TRUE(p->plan->source_plans[0].use_partial);
  EXPECT_FALSE(p->plan->source_plans[0].use_summaries);
}

TEST(PlanSelect, RawLimitIsPushedIntoTheScanUnlessRowsAreFiltered) {
  FakeCatalog cat = Cpu();
  auto p = Plan("SELECT usage FROM cpu LIMIT 10 OFFSET 5", &cat);
  ASSERT_TRUE(p->plan.ok()) << p->plan.status();
  EXPECT_EQ(p->plan->source_plans[0].limit_points, 15u);
  auto q = Plan("SELECT usage FROM cpu WHERE usage > 1 LIMIT 10", &cat);
  ASSERT_TRUE(q->plan.ok()) << q->plan.status();
  EXPECT_EQ(q->plan->source_plans[0].limit_points, 0u);
}

TEST(PlanSelect, OnlyRawRowsOfOneMeasurementStream) {
  FakeCatalog cat = Cpu();
  auto raw = Plan("SELECT usage FROM cpu WHERE host = 'a'", &cat);
  ASSERT_TRUE(raw->plan.ok()) << raw->plan.status();
  EXPECT_TRUE(raw->plan->streamable);
  auto grouped = Plan("SELECT usage FROM cpu GROUP BY host", &cat);
  ASSERT_TRUE(grouped->plan.ok()) << grouped->plan.status();
  EXPECT_FALSE(grouped->plan->streamable);
  auto agg = Plan("SELECT count(usage) FROM cpu", &cat);
  ASSERT_TRUE(agg->plan.ok()) << agg->plan.status();
  EXPECT_FALSE(agg->plan->streamable);
}

TEST(PlanSelect, WildcardsExpandAndGroupByTagsLeaveThem) {
  FakeCatalog cat = Cpu();
  auto p = Plan("SELECT * FROM cpu GROUP BY host", &cat);
  ASSERT_TRUE(p->plan.ok()) << p->plan.status();
  EXPECT_EQ(p->plan->columns, (std::vector<std::string>{"load", "region", "up", "usage"}));
  EXPECT_EQ(p->plan->source_plans[0].dims, std::vector<std::string>{"host"});
}

TEST(PlanSelect, MissingDatabaseIsInfluxdsMessage) {
  FakeCatalog cat = Cpu();
  auto r = Plan("SELECT usage FROM nope..cpu", &cat);
  ASSERT_FALSE(r->plan.ok());
  EXPECT_EQ(r->plan.status().message(), "database not found: nope");
}

TEST(PlanSelect, EmptyTimeRangePlansNothingElse) {
  FakeCatalog cat = Cpu();
  auto p = Plan("SELECT usage FROM cpu WHERE time > 10 AND time < 5", &cat);
  ASSERT_TRUE(p->plan.ok()) << p->plan.status();
  EXPECT_TRUE(p->plan->empty);
  EXPECT_TRUE(p->plan->source_plans.empty());
}

TEST(Explain, AggregatePlan) {
  EXPECT_EQ(Explain("SELECT mean(usage) FROM cpu WHERE host = 'a' AND time >= '2020-01-01T00:00:00Z' AND "
                    "time < '2020-01-01T12:00:00Z' GROUP BY time(10m), region fill(0)"),
            "EXPRESSION: mean(usage)\n"
            "QUERY: aggregate\n"
            "COLUMNS: time, mean\n"
            "TIME RANGE: 2020-01-01T00:00:00Z .. 2020-01-01T11:59:59.999999999Z\n"
            "GROUP BY TIME: 10m offset 0s\n"
            "FILL: 0\n"
            "PARTIAL AGGREGATION: 72 windows from 2020-01-01T00:00:00Z\n"
            "ORDER: time ASC\n"
            "NUMBER OF SOURCES: 1\n"
            "SOURCE: db.cpu\n"
            "  INDEX MATCHERS: host = 'a'\n"
            "  FIELDS READ: usage\n"
            "  GROUP BY TAGS: region\n"
            "  REDUCE: per series in the scan\n"
            "  BLOCK STATISTICS: yes");
}

TEST(Explain, RawPlanWithAuxiliaryFieldsLikeInfluxd) {
  EXPECT_EQ(Explain("SELECT usage, host FROM cpu WHERE usage > 1 ORDER BY time DESC LIMIT 3"),
            "EXPRESSION: <nil>\n"
            "AUXILIARY FIELDS: usage, host\n"
            "QUERY: raw\n"
            "COLUMNS: time, usage, host\n"
            "TIME RANGE: -inf .. +inf\n"
            "ORDER: time DESC\n"
            "LIMIT: 3 OFFSET: 0\n"
            "STREAMED: page by page through time (chunked answers)\n"
            "NUMBER OF SOURCES: 1\n"
            "SOURCE: db.cpu\n"
            "  ROW FILTER: usage > 1\n"
            "  FIELDS READ: usage");
}

TEST(Explain, ParsesAndPrints) {
  auto st = ParseStatement("EXPLAIN SELECT count(usage) FROM cpu");
  ASSERT_TRUE(st.ok()) << st.status();
  ASSERT_NE(st->As<ExplainStatement>(), nullptr);
  EXPECT_EQ(String(*st), "EXPLAIN SELECT count(usage) FROM cpu");
  auto bad = ParseStatement("EXPLAIN SHOW DATABASES");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "error parsing query: found SHOW, expected SELECT at line 1, char 9");
}

}  // namespace
}  // namespace m2mdb::query::planner
