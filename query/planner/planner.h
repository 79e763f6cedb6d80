// query/planner/planner.h — the planning helpers for SELECT and the
// meta statements: time-range extraction, condition splitting into index
// matchers / per-series tag filters / per-row field filters, and InfluxDB's
// output column naming.
#ifndef M2MDB_QUERY_PLANNER_PLANNER_H_
#define M2MDB_QUERY_PLANNER_PLANNER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"

#include "m2mdb/db.h"
#include "m2mdb/query/ast.h"
#include "m2mdb/status.h"

namespace m2mdb::query::planner {

// A deep copy of an expression tree.
ExprPtr Clone(const Expr& e);

// Inclusive bounds on time taken from a WHERE clause.
struct TimeRange {
  int64_t min = kMinTime;
  int64_t max = kMaxTime;
  bool has_min() const { return min != kMinTime; }
  bool has_max() const { return max != kMaxTime; }
  void Intersect(const TimeRange& o) {
    min = std::max(min, o.min);
    max = std::min(max, o.max);
  }
};

// Takes the time comparisons out of the top-level AND chain of `cond`
// (`time > '2024-01-01'`, `time <= now() - 1h`, `time >= 1700000000s`, ...)
// into `range` and returns what is left (nullptr if nothing). `now` is the
// value of now(). A malformed time expression is kInvalidArgument.
StatusOr<ExprPtr> ExtractTimeRange(const Expr* cond, int64_t now, TimeRange* range);
// The same, with what is left given as its conjuncts, pointers into `cond`
// (which must outlive them) rather than a copy: SplitConjuncts(*rest) is
// SplitCondition(ExtractTimeRange(...)) without building that tree.
// `zone`: the statement's tz(), for time strings without a zone.
Status ExtractTimeRangeConjuncts(const Expr* cond, int64_t now, TimeRange* range,
                                 std::vector<const Expr*>* rest, const absl::TimeZone* zone = nullptr);

// True if `e` references the time column anywhere.
bool ReferencesTime(const Expr& e);

// The parts of a time-free condition for one measurement.
struct ConditionParts {
  std::vector<TagMatcher> matchers;  // pushed down to the tag index (AND)
  ExprPtr tag_filter;                // other tag-only conjuncts, evaluated per series
  ExprPtr row_filter;                // conjuncts that read fields, evaluated per row
};

// Splits `cond` (already without time bounds) into the three parts.
// `is_field` says whether a name is a field of the measurement (anything
// else is a tag, missing tags being "").
ConditionParts SplitCondition(const Expr* cond, const std::function<bool(const VarRef&)>& is_field);
// SplitCondition of the AND of `conjuncts` (none of them an AND).
ConditionParts SplitConjuncts(const std::vector<const Expr*>& conjuncts,
                              const std::function<bool(const VarRef&)>& is_field);

// InfluxDB's Field.Name(): the alias, a call's name, a variable's name, or
// for a binary expression the names inside it joined with '_'.
std::string FieldName(const Expr& e);

// Resolves duplicate names like InfluxDB: "time" is taken; aliases keep their
// name; generated names get _1, _2 ... on conflict.
std::vector<std::string> ResolveColumnNames(const std::vector<std::string>& names,
                                            const std::vector<bool>& is_alias);

// Function classes.
bool IsAggregateFunction(std::string_view name);  // count sum mean ... and selectors
bool IsSelectorFunction(std::string_view name);   // first last min max percentile sample top bottom
bool IsTransformFunction(std::string_view name);  // derivative difference moving_average ...
bool IsMathFunction(std::string_view name);

}  // namespace m2mdb::query::planner

#endif  // M2MDB_QUERY_PLANNER_PLANNER_H_
