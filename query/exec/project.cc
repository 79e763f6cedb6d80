// query/exec/project.cc — the projection of an aggregate group: its slots'
// per-window entries (or transform outputs) joined into rows by time, fill
// applied, and the field list's expressions evaluated column at a time over
// the slots' columns (and the selected point's extra fields).
#include <map>

#include "query/exec/select_stages.h"

namespace m2mdb::query::exec {

Status ProjectGroup(const SelectPlan& plan, const Windows& win, GroupAggregate& agg, ResultSeries* rs,
                    bool columnar) {
  const SelectStatement& s = *plan.statement;
  const int64_t single_label = win.single_label;
  const size_t W = static_cast<size_t>(win.count);
  std::vector<Points>& inputs = agg.inputs;
  std::vector<SlotResult>& res = agg.res;
  std::vector<std::vector<size_t>>& picked = agg.picked;
  // Is every slot one-value-per-window?
  bool windowed = true;
  for (size_t si = 0; si < plan.slots.size(); si++) {
    if (plan.slots[si].transform || res[si].multi) windowed = false;
  }
  std::vector<int64_t> times;
  std::vector<VCol> slot_cols(plan.slots.size());
  std::vector<VCol> aux_cols;      // with extra fields: per Plan::aux entry
  std::vector<uint8_t> empty_row;  // with extra fields: the row's window had no selected point
  const bool top_bottom =
      plan.slots.size() == 1 && (plan.slots[0].reduce == "top" || plan.slots[0].reduce == "bottom");
  if (top_bottom) {
    // The selected points in window order (each window's in time order),
    // their extra fields read at them; no fill: influxd fills no window.
    SlotResult& r = res[0];
    times.reserve(r.entries.size());
    std::vector<Value> vals;
    vals.reserve(r.entries.size());
    for (Entry& e : r.entries) {
      times.push_back(e.time);
      vals.push_back(std::move(e.value));
    }
    if (times.empty()) return absl::OkStatus();
    slot_cols[0] = VCol::FromValues(vals);
    if (!plan.aux.empty()) {
      const Points& p = inputs[plan.slots[0].input];
      aux_cols.resize(plan.aux.size());
      for (size_t j = 0; j < plan.aux.size(); j++) {
        std::vector<Value> col;
        col.reserve(times.size());
        for (const std::vector<size_t>& ks : picked) {
          for (size_t k : ks) col.push_back(p.aux[k][j]);
        }
        aux_cols[j] = VCol::FromValues(col);
      }
    }
  } else if (windowed) {
    // Which windows have data in any slot.
    std::vector<uint8_t> has(W, 0);
    bool any = false;
    for (size_t si = 0; si < plan.slots.size(); si++) {
      for (size_t w = 0; w < W; w++) {
        if (res[si].Empty(w)) continue;
        has[w] = 1;
        any = true;
      }
    }
    if (!any) return absl::OkStatus();
    std::vector<size_t> rows;
    for (size_t w = 0; w < W; w++) {
      if (!plan.has_time_group || s.fill.mode != FillMode::kNone || has[w]) rows.push_back(w);
    }
    for (size_t w : rows) {
      int64_t t = plan.has_time_group ? win.Start(w) : single_label;
      if (plan.selector_point_time && !res[0].Empty(w)) t = res[0].First(w).time;
      times.push_back(t);
    }
    for (size_t si = 0; si < plan.slots.size(); si++) {
      // Each window is one row at most: its entry can be moved out.
      std::vector<Value> vals(rows.size());
      for (size_t k = 0; k < rows.size(); k++) {
        if (!res[si].Empty(rows[k])) vals[k] = std::move(res[si].First(rows[k]).value);
      }
      if (plan.has_time_group) ApplyFill(s.fill, plan.slots[si].reduce == "count", &vals);
      slot_cols[si] = VCol::FromValues(vals);
    }
    if (!plan.aux.empty()) {
      const Points& p = inputs[plan.slots[0].input];
      aux_cols.resize(plan.aux.size());
      for (size_t j = 0; j < plan.aux.size(); j++) {
        std::vector<Value> vals;
        vals.reserve(rows.size());
        for (size_t w : rows) vals.push_back(picked[w].empty() ? Value{} : p.aux[picked[w][0]][j]);
        aux_cols[j] = VCol::FromValues(vals);
      }
      for (size_t w : rows) empty_row.push_back(picked[w].empty() ? 1 : 0);
    }
  } else {
    // Join entries by (time, occurrence).
    std::map<std::pair<int64_t, size_t>, size_t> keys;
    std::vector<std::vector<Entry>> flats(plan.slots.size());
    for (size_t si = 0; si < plan.slots.size(); si++) {
      const Slot& sl = plan.slots[si];
      if (!res[si].flat.empty() || sl.transform) {
        flats[si] = std::move(res[si].flat);
      } else if (plan.has_time_group && !res[si].multi && s.fill.mode != FillMode::kNone) {
        // An aggregate next to a transform: a row for every window of the
        // requested range, filled, as influxd's own iterator for this
        // column gives (the window read before the range is not one).
        const SlotResult& r = res[si];
        std::vector<Value> vals(W);
        for (size_t w = 0; w < W; w++) {
          if (!r.Empty(w)) vals[w] = std::move(res[si].First(w).value);
        }
        ApplyFill(s.fill, sl.reduce == "count", &vals);
        for (size_t w = 0; w < W; w++) {
          const int64_t ws = win.Start(w);
          if (plan.cut_to_requested &&
              (plan.desc ? ws > plan.requested.max : win.End(w) <= plan.requested.min)) {
            continue;
          }
          flats[si].push_back({ws, std::move(vals[w])});
        }
      } else {
        flats[si] = std::move(res[si].entries);
      }
      std::map<int64_t, size_t> occ;
      for (const Entry& e : flats[si]) keys.emplace(std::make_pair(e.time, occ[e.time]++), 0);
    }
    if (keys.empty()) return absl::OkStatus();
    size_t n = 0;
    for (auto& [k, v] : keys) {
      v = n++;
      times.push_back(k.first);
    }
    for (size_t si = 0; si < plan.slots.size(); si++) {
      std::vector<Value> vals(n);
      std::map<int64_t, size_t> occ;
      for (Entry& e : flats[si]) vals[keys[{e.time, occ[e.time]++}]] = std::move(e.value);
      slot_cols[si] = VCol::FromValues(vals);
    }
  }
  // Outer expressions.
  EvalContext ec;
  ec.rows = times.size();
  ec.times = &times;
  ec.call = [&](const Expr& e) -> const VCol* {
    for (size_t si = 0; si < plan.slots.size(); si++) {
      if (plan.slots[si].expr == &e) return &slot_cols[si];
    }
    return nullptr;
  };
  if (!aux_cols.empty()) {
    // Every bare reference is read from the selected point (tags too).
    ec.field = [&](const VarRef& v) -> const VCol* {
      for (size_t j = 0; j < plan.aux.size(); j++) {
        if (plan.aux[j].name == v.name) return &aux_cols[j];
      }
      return nullptr;
    };
  }
  // A field that is a call alone (mean(v)) is its slot's column, read in
  // place: Eval would copy it.
  std::vector<VCol> owned;
  owned.reserve(plan.fields.size());
  std::vector<const VCol*> out;
  for (const OutField& f : plan.fields) {
    const Expr& e = *Unparen(f.expr);
    const VCol* c = e.Is<Call>() ? ec.call(e) : nullptr;
    if (c == nullptr) {
      owned.push_back(Eval(*f.expr, ec));
      c = &owned.back();
    }
    out.push_back(c);
  }
  if (columnar && empty_row.empty()) {
    // The window rows as columns (a heap vector per row and a variant per
    // cell were a tenth of a 720-row windowed answer): a float column is
    // handed over as its array and validity, the rest cell by cell; the
    // formatters print them exactly as rows (ResultColumn::Get is
    // AppendCellTo's cell). No extra columns to fill (empty_row).
    const size_t n = times.size();
    rs->columnar.times = std::move(times);
    rs->columnar.columns.reserve(out.size());
    for (const VCol* c : out) {
      ResultColumn rc;
      if (c->type == VType::kFloat) {
        rc.kind = ResultColumn::Kind::kFloat;
        rc.floats = c->f;
        rc.valid = c->valid;
      } else {
        rc.kind = ResultColumn::Kind::kCells;
        rc.cells.reserve(n);
        for (size_t r = 0; r < n; r++) rc.cells.push_back(c->Get(r));
      }
      rs->columnar.columns.push_back(std::move(rc));
    }
    return absl::OkStatus();
  }
  rs->values.reserve(times.size());
  for (size_t r = 0; r < times.size(); r++) {
    std::vector<Value> row;
    row.reserve(out.size() + 1);
    row.push_back(times[r]);
    for (const VCol* c : out) c->AppendCellTo(r, &row);
    rs->values.push_back(std::move(row));
  }
  FillExtraColumns(plan, empty_row, rs);
  return absl::OkStatus();
}

}  // namespace m2mdb::query::exec
