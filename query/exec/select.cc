// query/exec/select.cc — SELECT, the driver (InfluxDB 1.x semantics).
//
// Per statement:
//   1. plan (query/planner/select_plan.h: PlanSelect): sources and schemas
//      (subqueries run through DbCatalog below), wildcards expanded, the
//      query classified and checked, per source the condition split and the
//      fields to read, partial aggregation and block statistics decided;
//   2. scan every source into groups (scan.cc);
//   3. the GROUP BY time windows (window.cc: ComputeWindows);
//   4. per group (on two threads when it pays): raw rows merged by time
//      (order_limit.cc), or the inputs reduced per window (window.cc), filled
//      (fill.cc) and projected (project.cc);
//   5. ORDER BY, LIMIT/OFFSET, SLIMIT/SOFFSET (order_limit.cc).
// A statement whose partial aggregation must give up (kPartialFallback) is
// planned and run again without it (RunSelectIn).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "re2/re2.h"

#include "query/exec/exec.h"
#include "query/exec/select_stages.h"
#include "query/parser/parser.h"

namespace m2mdb::query::exec {

Status ExecContext::CheckDeadline() const {
  if (has_deadline && std::chrono::steady_clock::now() > deadline) {
    return WithErrorKind(absl::DeadlineExceededError("query timeout"), ErrorKind::kQueryTimeout);
  }
  if (options != nullptr && options->cancelled && options->cancelled()) {
    return absl::CancelledError("query cancelled");
  }
  return absl::OkStatus();
}

Status ExecContext::AddPoints(uint64_t n) {
  uint64_t total = points.fetch_add(n) + n;
  if (options->max_points > 0 && total > options->max_points) {
    return WithErrorKind(absl::ResourceExhaustedError("query memory limit exceeded"),
                         ErrorKind::kQueryMemory);
  }
  return absl::OkStatus();
}

namespace {

// Fewest matching series for which a measurement is scanned by two threads.
// A second thread costs a thread start and, on a busy machine, a wait for a
// time slice (10 trucks x 12 h went bimodal: 0.9 or 4 ms); below this the
// work it takes over is smaller than that (m2mdb-bench, 21:19 UTC: 10-trucks
// 0.92 -> 0.78 ms without the split, 100-series queries still split).
constexpr size_t kMinParallelSeries = 64;

}  // namespace

// Two complementary matchers that split the series of `src` matching
// `matchers` about evenly, on the tag with the most distinct values among
// them; false when too few series match for a second scan to pay off.
bool SplitMatchers(ExecContext* ctx, const planner::SourceRef& src, const std::vector<TagMatcher>& matchers,
                   TagMatcher* a, TagMatcher* b) {
  if (!UseSecondQueryThread()) return false;
  auto series = ctx->db->Series(src.database, src.measurement, matchers);
  if (!series.ok() || series->size() < kMinParallelSeries) return false;
  std::map<std::string, std::set<std::string>> values;
  for (SeriesKey& s : *series) {
    for (auto& [k, v] : s.tags) values[k].insert(std::move(v));
  }
  const std::set<std::string>* best = nullptr;
  std::string best_key;
  for (const auto& [k, vs] : values) {
    if (best == nullptr || vs.size() > best->size()) {
      best = &vs;
      best_key = k;
    }
  }
  if (best == nullptr || best->size() < 2) return false;
  std::string re = "^(?:";
  size_t n = 0;
  for (const std::string& v : *best) {
    if (n++ % 2 != 0) continue;
    if (n > 1) re += "|";
    re += RE2::QuoteMeta(v);
  }
  re += ")$";
  *a = TagMatcher{best_key, TagOp::kRegex, re};
  *b = TagMatcher{best_key, TagOp::kNotRegex, re};
  return true;
}

namespace {

// RunSelect for a statement whose direction may be set by an outer one
// (`parent_desc`: the outer statement is ORDER BY time DESC).
StatusOr<std::vector<ResultSeries>> RunSelectIn(const SelectStatement& s, ExecContext* ctx,
                                                const TimeRange& outer, std::optional<bool> parent_desc);

// The catalog as the planner sees it: the database, and subqueries run by
// this executor in the outer statement's direction.
class DbCatalog final : public planner::CatalogView {
 public:
  explicit DbCatalog(ExecContext* ctx) : ctx_(ctx) {}
  const std::string& DefaultDatabase() const override { return ctx_->options->database; }
  const std::string& DefaultRetentionPolicy() const override { return ctx_->options->retention_policy; }
  Status CheckRetentionPolicy(const std::string& database, const std::string& rp) override {
    ASSIGN_OR_RETURN(auto rps, ctx_->db->ListRetentionPolicies(database));
    for (const auto& r : rps) {
      if (rp.empty() ? r.is_default : r.name == rp) return absl::OkStatus();
    }
    if (!rp.empty()) return absl::NotFoundError(absl::StrCat("retention policy not found: ", rp));
    // The default was dropped: influxd names it.
    for (const auto& d : ctx_->db->ListDatabases()) {
      if (d.name == database)
        return absl::NotFoundError(absl::StrCat("retention policy not found: ", d.retention_policy));
    }
    return absl::NotFoundError(absl::StrCat("database not found: ", database));
  }
  bool DatabaseExists(const std::string& database) override {
    for (const auto& d : ctx_->db->ListDatabases()) {
      if (d.name == database) return true;
    }
    return false;
  }
  StatusOr<std::vector<std::string>> Measurements(const std::string& database) override {
    return ctx_->db->Measurements(database);
  }
  StatusOr<std::vector<FieldKey>> FieldKeys(const std::string& database,
                                            const std::string& measurement) override {
    return ctx_->db->FieldKeys(database, measurement);
  }
  StatusOr<std::vector<std::string>> TagKeys(const std::string& database,
                                             const std::string& measurement) override {
    return ctx_->db->TagKeys(database, measurement);
  }
  StatusOr<std::vector<ResultSeries>> RunSubquery(const SelectStatement& s, const TimeRange& range,
                                                  bool desc) override {
    const bool columnar = std::exchange(ctx_->columnar_rows, false);
    auto out = RunSelectIn(s, ctx_, range, desc);
    ctx_->columnar_rows = columnar;
    return out;
  }

 private:
  ExecContext* ctx_;
};

StatusOr<std::vector<ResultSeries>> RunSelectImpl(const SelectStatement& s, ExecContext* ctx,
                                                  const TimeRange& outer, bool allow_partial,
                                                  std::optional<bool> parent_desc) {
  DbCatalog catalog(ctx);
  planner::PlanOptions po;
  po.now = ctx->now;
  po.outer = outer;
  po.parent_desc = parent_desc;
  po.allow_partial = allow_partial;
  po.use_block_summaries = UseBlockSummaries();
  // Used in place: moving a SelectPlan out of its StatusOr showed in the
  // instructions of a small query.
  StatusOr<SelectPlan> planned = planner::PlanSelect(s, po, &catalog);
  if (!planned.ok()) return planned.status();
  const SelectPlan& plan = *planned;
  if (plan.empty) return std::vector<ResultSeries>{};
  const TimeRange& range = plan.range;
  // The windows are bounded before anything is allocated for them (1 ms
  // windows over days took gigabytes under fill(none)); without a lower
  // bound they are counted again once the data's first time is known.
  if (plan.has_time_group && range.has_min()) {
    RETURN_IF_ERROR(CheckBuckets(plan.tdim, range.min, range.max, 1, ctx));
  }

  ScanState scan;
  for (size_t si = 0; si < plan.sources.size(); si++) {
    RETURN_IF_ERROR(ctx->CheckDeadline());
    if (plan.source_plans[si].skip) continue;
    RETURN_IF_ERROR(ScanSource(ctx, plan, si, &scan));
  }

  ASSIGN_OR_RETURN(const Windows win, ComputeWindows(plan, scan.earliest, scan.groups.size(), ctx));

  std::vector<Group*> order;
  for (auto& [k, g] : scan.groups) order.push_back(&g);

  // Computes one group's output series; groups are independent.
  auto run_group = [&](Group& g, ResultSeries* rs) -> Status {
    rs->name = g.measurement;
    rs->tags = g.tags;
    rs->columns.push_back(plan.time_column);
    rs->time_first = true;
    rs->columns.insert(rs->columns.end(), plan.columns.begin(), plan.columns.end());
    if (!plan.aggregate) {
      RawGroupRows(plan, ctx, g, rs);
      return absl::OkStatus();
    }
    GroupAggregate agg;
    RETURN_IF_ERROR(AggregateGroup(ctx, plan, win, g, &agg));
    return ProjectGroup(plan, win, agg, rs, ctx->columnar_rows);
  };

  std::vector<ResultSeries> outs(order.size());
  std::vector<Status> statuses(order.size());
  // A second thread pays off when groups still merge points or have many
  // windows; reduced groups are cheap to finish.
  size_t work = 0;
  for (const Group* g : order) work += g->partial ? static_cast<size_t>(win.count) : 1000000;
  if (order.size() >= 2 && plan.aggregate && work >= 200000 && UseSecondQueryThread()) {
    // Two workers over the groups.
    std::atomic<size_t> next{0};
    auto worker = [&] {
      for (size_t k = next++; k < order.size(); k = next++) {
        statuses[k] = NoThrow([&] { return run_group(*order[k], &outs[k]); });
      }
    };
    std::thread t(worker);
    worker();
    t.join();
  } else {
    for (size_t k = 0; k < order.size(); k++) statuses[k] = run_group(*order[k], &outs[k]);
  }
  for (const Status& st : statuses) RETURN_IF_ERROR(st);

  return OrderAndLimit(plan, ctx, std::move(outs));
}

StatusOr<std::vector<ResultSeries>> RunSelectIn(const SelectStatement& s, ExecContext* ctx,
                                                const TimeRange& outer, std::optional<bool> parent_desc) {
  const uint64_t points = ctx->points.load();
  auto out = RunSelectImpl(s, ctx, outer, /*allow_partial=*/true, parent_desc);
  if (!out.ok() && absl::IsAborted(out.status()) && out.status().message() == kPartialFallback) {
    ctx->points.store(points);
    out = RunSelectImpl(s, ctx, outer, /*allow_partial=*/false, parent_desc);
  }
  return out;
}

}  // namespace

StatusOr<std::vector<ResultSeries>> RunExplain(const SelectStatement& s, ExecContext* ctx) {
  DbCatalog catalog(ctx);
  planner::PlanOptions po;
  po.now = ctx->now;
  po.use_block_summaries = UseBlockSummaries();
  ASSIGN_OR_RETURN(SelectPlan plan, planner::PlanSelect(s, po, &catalog));
  ResultSeries rs;
  rs.columns.push_back("QUERY PLAN");
  for (std::string& line : planner::ExplainPlan(plan)) rs.values.push_back({Value(std::move(line))});
  std::vector<ResultSeries> out;
  out.push_back(std::move(rs));
  return out;
}

StatusOr<std::vector<ResultSeries>> RunSelect(const SelectStatement& s, ExecContext* ctx,
                                              const TimeRange& outer) {
  return RunSelectIn(s, ctx, outer, std::nullopt);
}

StatusOr<bool> RunSelectPaged(const SelectStatement& s, ExecContext* ctx,
                              const std::function<Status(ResultSeries&&)>& emit) {
  if (!planner::StreamableShape(s)) return false;
  const bool desc = !s.sort.empty() && !s.sort[0].ascending;
  // Points per column of a page: the first page small, later ones sized
  // to about kPageTarget points over the columns the first one met (a row
  // cell costs ~100 bytes until written: 256 Ki points, ~25 MB a page), but
  // not below a block's worth (each page decodes whole blocks) unless the
  // point limit (which bounds each page) asks for it.
  constexpr size_t kFirstPage = 4096, kPageTarget = size_t{1} << 18, kMinPage = 1024, kMaxPage = 1 << 20;
  const uint64_t max_points = ctx->options->max_points;
  auto bounded = [max_points](size_t page, size_t columns) {
    if (max_points == 0) return page;
    return std::max<size_t>(1, std::min<uint64_t>(page, max_points / 2 / std::max<size_t>(1, columns)));
  };
  size_t page = bounded(kFirstPage, 64);
  int64_t cursor = desc ? kMaxTime : kMinTime;
  uint64_t offset = static_cast<uint64_t>(std::max<int64_t>(0, s.limits.offset));
  const bool limited = s.limits.limit > 0;
  uint64_t left = limited ? static_cast<uint64_t>(s.limits.limit) : 0;
  struct PageReset {
    ExecContext* ctx;
    ~PageReset() { ctx->page_points = 0; }
  } reset{ctx};
  while (true) {
    RETURN_IF_ERROR(ctx->CheckDeadline());
    TimeRange outer;
    if (desc) {
      outer.max = cursor;
    } else {
      outer.min = cursor;
    }
    ctx->page_points = page;
    ctx->page_truncated = false;
    ctx->page_cutoff = desc ? kMinTime : kMaxTime;
    ctx->page_columns = 0;
    ctx->points.store(0);  // the point limit bounds a page: what is held at once
    ASSIGN_OR_RETURN(std::vector<ResultSeries> out, RunSelectImpl(s, ctx, outer, false, std::nullopt));
    for (ResultSeries& rs : out) {
      const uint64_t skip = std::min<uint64_t>(offset, rs.values.size());
      rs.values.erase(rs.values.begin(), rs.values.begin() + static_cast<std::ptrdiff_t>(skip));
      offset -= skip;
      if (limited) {
        if (rs.values.size() > left) rs.values.resize(static_cast<size_t>(left));
        left -= rs.values.size();
      }
      if (!rs.values.empty()) RETURN_IF_ERROR(emit(std::move(rs)));
    }
    if (!ctx->page_truncated || (limited && left == 0)) break;
    if (desc) {
      if (ctx->page_cutoff <= kMinTime) break;
      cursor = ctx->page_cutoff - 1;
    } else {
      if (ctx->page_cutoff >= kMaxTime) break;
      cursor = ctx->page_cutoff + 1;
    }
    page = bounded(std::clamp(kPageTarget / std::max<size_t>(1, ctx->page_columns), kMinPage, kMaxPage),
                   ctx->page_columns);
  }
  return true;
}

}  // namespace m2mdb::query::exec
