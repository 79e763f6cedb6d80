// query/exec/order_limit.cc — ordering and limits: a raw group's series
// merged by time, ORDER BY time DESC, LIMIT/OFFSET per series and
// SLIMIT/SOFFSET over series (InfluxDB 1.x semantics).
#include <algorithm>

#include "query/exec/select_stages.h"

namespace m2mdb::query::exec {

void RawGroupRows(const SelectPlan& plan, const ExecContext* ctx, Group& g, ResultSeries* rs) {
  const bool desc = plan.desc;
  if (!g.raw_columnar.empty()) {
    // One series (no pages): handed on as columns when in time order.
    if (std::is_sorted(g.raw_columnar.times.begin(), g.raw_columnar.times.end())) {
      rs->columnar = std::move(g.raw_columnar);
      return;
    }
    std::vector<std::vector<Value>> rows = g.raw_columnar.ToRows();
    g.raw.emplace_back(std::move(g.raw_columnar.times), std::move(rows));
    g.raw_columnar = ColumnarRows{};
  }
  if (!plan.aggregate && ctx->page_points > 0 && ctx->page_truncated) {
    // A page: rows past the cutoff may lack points of other columns; the
    // next page starts after it.
    const int64_t cut = ctx->page_cutoff;
    for (auto& [times, rows] : g.raw) {
      size_t a = 0, b = times.size();
      if (desc) {
        a = static_cast<size_t>(std::lower_bound(times.begin(), times.end(), cut) - times.begin());
      } else {
        b = static_cast<size_t>(std::upper_bound(times.begin(), times.end(), cut) - times.begin());
      }
      rows.erase(rows.begin() + static_cast<std::ptrdiff_t>(b), rows.end());
      rows.erase(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(a));
      times.erase(times.begin() + static_cast<std::ptrdiff_t>(b), times.end());
      times.erase(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(a));
    }
  }
  if (!plan.aggregate) {
    // One series' rows come in time order: taken as they are.
    if (g.raw.size() == 1 && std::is_sorted(g.raw[0].first.begin(), g.raw[0].first.end())) {
      rs->values = std::move(g.raw[0].second);
      return;
    }
    // Merge the series' rows by time (stable: series order on ties).
    std::vector<std::pair<int64_t, std::pair<uint32_t, uint32_t>>> idx;
    for (uint32_t k = 0; k < g.raw.size(); k++) {
      for (uint32_t r = 0; r < g.raw[k].first.size(); r++) idx.push_back({g.raw[k].first[r], {k, r}});
    }
    std::stable_sort(idx.begin(), idx.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    rs->values.reserve(idx.size());
    for (const auto& [t, kr] : idx) rs->values.push_back(std::move(g.raw[kr.first].second[kr.second]));
    return;
  }
}

std::vector<ResultSeries> OrderAndLimit(const SelectPlan& plan, const ExecContext* ctx,
                                        std::vector<ResultSeries> outs) {
  const SelectStatement& s = *plan.statement;
  const bool desc = plan.desc;
  std::vector<ResultSeries> result;
  // Order, limits. SOFFSET and SLIMIT pick series in ascending order under
  // DESC too; influxd then emits the picked series in reverse.
  // A page of RunSelectPaged: its caller applies the limits across pages.
  const Limits limits = ctx->page_points > 0 ? Limits{} : s.limits;
  int64_t soff = limits.soffset, slim = limits.slimit;
  size_t emitted = 0;
  for (size_t k = 0; k < outs.size(); k++) {
    ResultSeries& rs = outs[k];
    if (rs.RowCount() == 0) continue;
    if (soff > 0) {
      soff--;
      continue;
    }
    if (slim > 0 && static_cast<int64_t>(emitted) >= slim) break;
    // Rows reordered or cut are moved as rows (rare next to the plain
    // raw answer that stays in columns).
    if (desc || limits.offset > 0 || limits.limit > 0) rs.MaterializeRows();
    if (desc)
      std::stable_sort(rs.values.begin(), rs.values.end(), [](const auto& a, const auto& b) {
        return std::get<int64_t>(a[0]) > std::get<int64_t>(b[0]);
      });
    if (limits.offset > 0) {
      size_t off = std::min<size_t>(rs.values.size(), static_cast<size_t>(limits.offset));
      rs.values.erase(rs.values.begin(), rs.values.begin() + off);
    }
    if (limits.limit > 0 && rs.values.size() > static_cast<size_t>(limits.limit)) {
      rs.values.resize(static_cast<size_t>(limits.limit));
    }
    if (rs.RowCount() == 0) continue;
    emitted++;
    result.push_back(std::move(rs));
  }
  if (desc) {
    if (plan.subquery) {
      // A subquery's rows feed the outer statement, which reads them in
      // time order; LIMIT has picked them already. Stable: rows of equal
      // time get back their ascending order.
      for (ResultSeries& rs : result) {
        std::stable_sort(rs.values.begin(), rs.values.end(), [](const auto& a, const auto& b) {
          return std::get<int64_t>(a[0]) < std::get<int64_t>(b[0]);
        });
      }
    } else {
      std::reverse(result.begin(), result.end());
    }
  }
  return result;
}

}  // namespace m2mdb::query::exec
