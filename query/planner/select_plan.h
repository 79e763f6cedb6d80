// query/planner/select_plan.h — a SELECT statement planned into a value.
//
// PlanSelect turns a statement and a view of the catalog into a SelectPlan:
// the direction, the time range, the resolved sources with their schemas,
// the expanded field list and its output column names, the function calls
// ("slots") and the fields they read, the GROUP BY dimensions and windows,
// and per source the split of the condition, the fields to read and whether
// the scan may reduce series into partial aggregates and use block
// statistics. The executor (query/exec/select.cc) runs a SelectPlan and
// decides nothing about the statement itself; limits that depend on the run
// (deadline, points held, paging) stay with it.
#ifndef M2MDB_QUERY_PLANNER_SELECT_PLAN_H_
#define M2MDB_QUERY_PLANNER_SELECT_PLAN_H_

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "m2mdb/db.h"
#include "m2mdb/query/ast.h"
#include "m2mdb/query/executor.h"
#include "m2mdb/status.h"
#include "query/planner/planner.h"
#include "query/planner/windows.h"

namespace m2mdb::query::planner {

inline const Expr* Unparen(const Expr* e) {
  while (const auto* p = e->As<ParenExpr>()) e = p->expr.get();
  return e;
}

inline bool IsNumericType(FieldType t) {
  return t == FieldType::kFloat || t == FieldType::kInteger || t == FieldType::kUnsigned;
}

// True if `e` calls a function other than a math function.
bool ContainsFunctionCall(const Expr& e);

// Whether a streamed (chunked) answer may run `s` page by page through time
// (exec::RunSelectPaged): raw rows of one named measurement without GROUP BY,
// SLIMIT/SOFFSET, fill or INTO, so that pages concatenate into the one series
// RunSelect would return.
bool StreamableShape(const SelectStatement& s);

// Names without duplicates in insertion order (the fields a source reads),
// with a hash index once there are many: a linear find per name made a
// `SELECT *` over 120 k fields quadratic (minutes, past any timeout). Short
// lists, nearly every query, stay a plain vector scan.
class NameList {
 public:
  static constexpr size_t kNone = SIZE_MAX;
  const std::vector<std::string>& names() const { return names_; }
  size_t size() const { return names_.size(); }
  size_t Find(std::string_view n) const {
    if (!index_.empty()) {
      auto it = index_.find(std::string(n));
      return it == index_.end() ? kNone : it->second;
    }
    for (size_t k = 0; k < names_.size(); k++) {
      if (names_[k] == n) return k;
    }
    return kNone;
  }
  // Appends n unless present; true if appended.
  bool Add(const std::string& n) {
    if (Find(n) != kNone) return false;
    names_.push_back(n);
    if (!index_.empty()) {
      index_.emplace(n, names_.size() - 1);
    } else if (names_.size() > kLinear) {
      for (size_t k = 0; k < names_.size(); k++) index_.emplace(names_[k], k);
    }
    return true;
  }

 private:
  static constexpr size_t kLinear = 16;
  std::vector<std::string> names_;
  std::unordered_map<std::string, size_t> index_;
};

// The schema of one source: fields and tags sorted by name, without
// duplicates (the first type given for a field wins). Sorted vectors rather
// than a map and a set: every source of every query builds one from the
// engine's lists, which come sorted, and building tree nodes cost more than
// the few lookups a query makes.
struct Schema {
  std::vector<FieldKey> fields;
  std::vector<std::string> tags;

  const FieldType* FindField(std::string_view name) const {
    auto it = std::lower_bound(fields.begin(), fields.end(), name,
                               [](const FieldKey& f, std::string_view n) { return f.name < n; });
    return it != fields.end() && it->name == name ? &it->type : nullptr;
  }
  bool HasField(std::string_view name) const { return FindField(name) != nullptr; }
  void AddField(std::string_view name, FieldType type);
  void AddTag(std::string_view name);
  // Takes the engine's lists (sorted already, but not promised unique).
  void SetFields(std::vector<FieldKey> f);
  void SetTags(std::vector<std::string> t);
};

// A resolved source: a measurement of a database, or the rows of a subquery
// (the catalog view ran it while the statement was planned).
struct SourceRef {
  std::string database;
  std::string retention_policy;  // empty = the database's default
  std::string measurement;
  bool subquery = false;
  std::vector<SeriesData> rows;  // subquery output as series
  Schema schema;
};

// One entry of the expanded field list.
struct OutField {
  OutField(ExprPtr e, std::string n, bool a)
      : expr(e.get()), owned(std::move(e)), name(std::move(n)), alias(a) {}
  OutField(const Expr* e, std::string n, bool a) : expr(e), name(std::move(n)), alias(a) {}

  // The statement's own expression (which outlives the plan), or `owned`
  // for one built by expanding a wildcard, a regex or DISTINCT: a field
  // list that names its fields is not copied.
  const Expr* expr;
  ExprPtr owned;
  std::string name;
  bool alias = false;
};

// One function call of a query, resolved.
struct CallSpec {
  std::string name;     // count, mean, derivative, ...
  std::string field;    // the field read (innermost argument)
  std::string inner;    // for transforms/count over a call: the inner function ("mean", "distinct")
  double number = 0;    // percentile N, moving_average N, top/bottom N
  int64_t unit_ns = 0;  // derivative/integral/elapsed unit (0 = default)
  // top/bottom(field, tag..., N): the tag (or field) arguments; the best
  // point per distinct value of the tags among them competes.
  std::vector<std::string> by;
};

// The statistics a partially aggregated reduce function needs.
enum PartialNeed : uint32_t {
  kNeedSum = 1,
  kNeedMin = 2,
  kNeedMax = 4,
  kNeedFirst = 8,
  kNeedLast = 16,
  kNeedVariance = 32,
};

// Adds the statistics reduce function `fn` needs to *need; false if `fn`
// cannot be computed from partials.
bool PartialNeeds(const std::string& fn, uint32_t* need);

// One slot: a function call of the field list, computed per group.
struct Slot {
  const Expr* expr = nullptr;  // the Call node in the field list
  CallSpec spec;
  bool transform = false;       // derivative & co.
  bool over_aggregate = false;  // transform of an aggregate (needs GROUP BY time)
  std::string reduce;           // the window function: mean, count_distinct, ...
  int input = -1;               // index into the group's inputs
};

// derivative & co. over an aggregate: influxd (query/select.go,
// buildCallIterator) moves the scan's bound one GROUP BY interval outwards
// for these calls, which pair a window with its predecessor, for their own
// columns only.
inline bool ReadsPrecedingInterval(const Slot& sl) {
  const std::string& n = sl.spec.name;
  return sl.over_aggregate && (n == "derivative" || n == "non_negative_derivative" || n == "difference" ||
                               n == "non_negative_difference" || n == "moving_average" || n == "elapsed");
}

// How one source is read: what PlanSelect decided from its schema.
struct SourcePlan {
  // No field of the source is selected: it is not scanned.
  bool skip = false;
  ConditionParts parts;              // index matchers, per-series tag filter, per-row field filter
  NameList select_list;              // the fields that make rows (raw) or feed calls (aggregate)
  NameList read_list;                // every field read: select_list, aux fields, fields in the row filter
  std::vector<uint8_t> read_drives;  // per read field: it makes rows
  std::vector<std::string> dims;     // GROUP BY tag keys, sorted, unique
  // Series are reduced in the scan callback into per-window accumulators.
  bool use_partial = false;
  // Block statistics stand in for whole blocks (ScanRequest::summary_fields);
  // per field type (FieldType & 7), what the inputs of that type need.
  bool use_summaries = false;
  std::array<uint32_t, 8> summary_need{};
  // LIMIT/OFFSET pushed into the scan (ScanRequest::limit_points), 0: none.
  size_t limit_points = 0;
};

struct SelectPlan {
  const SelectStatement* statement = nullptr;
  bool desc = false;      // ORDER BY time DESC (or the outer statement's)
  bool subquery = false;  // planned for an outer statement (PlanOptions::parent_desc set)
  TimeRange range;        // after the outer range, and now() as the end of GROUP BY time
  // The range before derivative & co. extended it by an interval (see
  // ReadsPrecedingInterval); == range otherwise. With
  // cut_to_requested, the calls that do not extend read only points in it.
  TimeRange requested;
  bool cut_to_requested = false;
  bool empty = false;  // the range is empty: no rows, nothing else was planned
  // A streamed answer runs it page by page (StreamableShape; not a subquery).
  bool streamable = false;
  // The condition without its time bounds, as conjuncts into the statement.
  std::vector<const Expr*> cond;

  std::vector<SourceRef> sources;
  std::vector<SourcePlan> source_plans;  // one per source

  std::vector<OutField> fields;
  std::vector<std::string> columns;  // output column names after the time column
  // The time column's name: "time", or the alias of `time AS t` in the field
  // list (influxd names the time column after it).
  std::string time_column = "time";
  bool aggregate = false;
  bool has_time_group = false;
  TimeDimension tdim;
  // tz('...') other than UTC: GROUP BY time windows are aligned in `zone`
  // (ZonedWindowBounds) and partial aggregation, which needs a regular
  // grid, is off.
  bool zoned = false;
  absl::TimeZone zone;
  bool group_all_tags = false;
  std::vector<std::string> dim_tags;  // explicit GROUP BY tag keys
  std::vector<std::string> dim_regexes;
  std::vector<Slot> slots;
  std::vector<std::string> input_fields;  // distinct fields read by slots
  bool selector_point_time = false;
  // A lone selector with bare field and tag references (SELECT max(v), host):
  // those references, read at the point the selector picked (influxd's
  // auxiliary fields). Empty otherwise.
  std::vector<VarRef> aux;
  // Every slot can be computed from per-series partials; per input, the
  // statistics its slots need.
  bool partial = false;
  std::vector<uint32_t> partial_need;
  // The windows partial aggregation reduces into, fixed before the scan:
  // window w is [partial_first + w * partial_interval, +partial_interval)
  // (interval 0: one window); partial_offset is the GROUP BY offset modulo
  // the interval.
  int64_t partial_first = 0, partial_interval = 0, partial_offset = 0;
  size_t partial_windows = 1;
};

// What PlanSelect reads of the catalog (the executor gives the database).
class CatalogView {
 public:
  virtual ~CatalogView() = default;
  // The database of a measurement that names none.
  virtual const std::string& DefaultDatabase() const = 0;
  virtual bool DatabaseExists(const std::string& database) = 0;
  // The retention policy of a measurement that names none (`?rp=`); empty =
  // the database's default.
  virtual const std::string& DefaultRetentionPolicy() const {
    static const std::string kNone;
    return kNone;
  }
  // OK if policy `rp` (empty = the default) of `database` exists, else
  // influxd's "retention policy not found: X".
  virtual Status CheckRetentionPolicy(const std::string& /*database*/, const std::string& /*rp*/) {
    return absl::OkStatus();
  }
  virtual StatusOr<std::vector<std::string>> Measurements(const std::string& database) = 0;
  virtual StatusOr<std::vector<FieldKey>> FieldKeys(const std::string& database,
                                                    const std::string& measurement) = 0;
  virtual StatusOr<std::vector<std::string>> TagKeys(const std::string& database,
                                                     const std::string& measurement) = 0;
  // Runs a subquery within `range` in direction `desc` (its outer statement's).
  virtual StatusOr<std::vector<ResultSeries>> RunSubquery(const SelectStatement& s, const TimeRange& range,
                                                          bool desc) = 0;
};

struct PlanOptions {
  int64_t now = 0;  // the value of now()
  TimeRange outer;  // narrows the time range (subqueries)
  // Set for a subquery: the outer statement is ORDER BY time DESC.
  std::optional<bool> parent_desc;
  // Partial aggregation may be planned (off for the retry after a fallback).
  bool allow_partial = true;
  // Block statistics may be used (exec::UseBlockSummaries()).
  bool use_block_summaries = true;
};

// Plans `s`. Errors are the statement's (InfluxDB's messages).
StatusOr<SelectPlan> PlanSelect(const SelectStatement& s, const PlanOptions& options, CatalogView* catalog);

// The plan as EXPLAIN prints it, one line per row: influxd's EXPRESSION and
// AUXILIARY FIELDS lines, then what m2mdb decided (query/planner/explain.cc).
std::vector<std::string> ExplainPlan(const SelectPlan& plan);

}  // namespace m2mdb::query::planner

#endif  // M2MDB_QUERY_PLANNER_SELECT_PLAN_H_
