// query/exec/scan.cc — the scan stage of SELECT: reads one source's series
// (through DB::Scan, or a subquery's rows) into the statement's groups. Per
// series: the tag filter, then either a reduction of its columns in place
// into per-window partial aggregates (block statistics folded in as the
// engine hands them over), or the call inputs as points, or (raw) the
// projected rows, built column at a time. A large measurement may be
// scanned by two threads over complementary halves of its series.
#include <algorithm>
#include <array>
#include <thread>

#include "absl/strings/str_cat.h"
#include "re2/re2.h"

#include "query/exec/select_stages.h"

namespace m2mdb::query::exec {

namespace {

// Aligns several time-sorted columns on the union of their times.
struct Aligned {
  std::vector<int64_t> times;
  std::vector<VCol> cols;
};

Aligned Align(const std::vector<const Column*>& cols, const std::vector<uint8_t>& drives) {
  Aligned out;
  // Union of the times of the driving columns.
  size_t driving = 0, only = 0;
  for (size_t k = 0; k < cols.size(); k++) {
    if (drives[k] && cols[k] != nullptr && !cols[k]->empty()) {
      driving++;
      only = k;
    }
  }
  if (driving == 1) {
    out.times = cols[only]->times;
  } else {
    for (size_t k = 0; k < cols.size(); k++) {
      if (!drives[k] || cols[k] == nullptr) continue;
      // Fields written together share their times: the union is then the
      // times themselves, found by one comparison instead of a merge per
      // field (a seventh of a raw hour's alignment each).
      if (out.times.empty()) {
        out.times = cols[k]->times;
        continue;
      }
      if (cols[k]->times == out.times) continue;
      std::vector<int64_t> merged;
      merged.reserve(out.times.size() + cols[k]->size());
      std::set_union(out.times.begin(), out.times.end(), cols[k]->times.begin(), cols[k]->times.end(),
                     std::back_inserter(merged));
      out.times.swap(merged);
    }
  }
  const size_t n = out.times.size();
  for (size_t k = 0; k < cols.size(); k++) {
    const Column* c = cols[k];
    if (c == nullptr || c->empty()) {
      out.cols.push_back(VCol::Nulls(c == nullptr ? VType::kNull : FromFieldType(c->type), n));
      continue;
    }
    if (c->times == out.times) {
      out.cols.push_back(VCol::FromColumn(*c));
      continue;
    }
    VCol v = VCol::Nulls(FromFieldType(c->type), n);
    size_t j = 0;
    for (size_t r = 0; r < n && j < c->size(); r++) {
      while (j < c->size() && c->times[j] < out.times[r]) j++;
      if (j < c->size() && c->times[j] == out.times[r]) {
        v.valid[r] = 1;
        switch (c->type) {
          case FieldType::kFloat:
            v.f[r] = c->floats[j];
            break;
          case FieldType::kInteger:
            v.i[r] = c->ints[j];
            break;
          case FieldType::kUnsigned:
            v.u[r] = c->uints[j];
            break;
          case FieldType::kBoolean:
            v.b[r] = c->bools[j];
            break;
          case FieldType::kString:
            v.s[r] = c->strings[j];
            break;
        }
      }
    }
    out.cols.push_back(std::move(v));
  }
  return out;
}

// Keeps the rows of `p` where mask is set and the value is valid.
Points Compact(const std::vector<int64_t>& times, const VCol& v, const std::vector<uint8_t>* mask) {
  Points p;
  p.v.type = v.type;
  p.v.Reserve(times.size());
  for (size_t r = 0; r < times.size(); r++) {
    if (!v.valid[r] || (mask != nullptr && !(*mask)[r])) continue;
    p.t.push_back(times[r]);
    p.v.AppendFrom(v, r);
  }
  return p;
}

// Folds `from` (a concurrent scan of other series) into *into.
Status MergeScanState(ScanState from, const SelectPlan& plan, ScanState* into) {
  into->earliest = std::min(into->earliest, from.earliest);
  for (auto& [key, g] : from.groups) {
    auto [it, inserted] = into->groups.try_emplace(key);
    Group& dst = it->second;
    if (inserted) {
      dst = std::move(g);
      continue;
    }
    if (!dst.partial || !g.partial) return absl::AbortedError(kPartialFallback);
    for (size_t in = 0; in < g.acc.size(); in++) {
      if (g.acc[in].empty()) continue;
      if (dst.acc[in].empty()) {
        dst.acc[in] = std::move(g.acc[in]);
        continue;
      }
      for (size_t w = 0; w < g.acc[in].size(); w++) {
        CombinePartial(dst.partial_type[in], plan.partial_need[in], g.acc[in][w], &dst.acc[in][w]);
      }
    }
  }
  return absl::OkStatus();
}

// Reduces the columns of series `sd` (and the block summaries the scan
// gave for it) in place into the accumulators of its group's windows.
Status ReduceSeries(const SelectPlan& plan, const SeriesData& sd, Group& g, ScanState& st) {
  const int64_t partial_first = plan.partial_first, partial_interval = plan.partial_interval;
  const size_t partial_windows = plan.partial_windows;
  // Reduce the series' columns in place into the group's windows.
  for (size_t in = 0; in < plan.input_fields.size(); in++) {
    const Column* c = nullptr;
    const std::vector<BlockSummary>* sums = nullptr;
    for (size_t k = 0; k < sd.field_names.size(); k++) {
      if (sd.field_names[k] != plan.input_fields[in]) continue;
      c = &sd.columns[k];
      if (k < sd.summaries.size() && !sd.summaries[k].empty()) sums = &sd.summaries[k];
      break;
    }
    if (c == nullptr || (c->empty() && sums == nullptr)) continue;
    if (!c->empty() && FromFieldType(c->type) != g.partial_type[in]) {
      return absl::AbortedError(kPartialFallback);
    }
    std::vector<PartialAcc>& acc = g.acc[in];
    if (acc.empty()) {
      st.partial_bytes += partial_windows * sizeof(PartialAcc);
      if (st.partial_bytes > kMaxPartialBytes) return absl::AbortedError(kPartialFallback);
      acc.resize(partial_windows);
    }
    if (!c->empty() && c->times.front() < st.earliest) st.earliest = c->times.front();
    AccumulateColumn(*c, partial_first, partial_interval, partial_windows, plan.partial_need[in], acc.data());
    if (sums == nullptr) continue;
    // The engine put each summarised block wholly inside one window
    // of the same geometry and inside the scanned time range.
    for (const BlockSummary& b : *sums) {
      if (FromFieldType(b.type) != g.partial_type[in]) return absl::AbortedError(kPartialFallback);
      size_t w = 0;
      if (partial_interval > 0) {
        w = static_cast<size_t>((static_cast<uint64_t>(b.min_time) - static_cast<uint64_t>(partial_first)) /
                                static_cast<uint64_t>(partial_interval));
        if (b.min_time < partial_first || w >= partial_windows) {
          return absl::InternalError("block summary outside the query windows");
        }
      }
      if (b.min_time < st.earliest) st.earliest = b.min_time;
      AccumulateSummary(b, plan.partial_need[in], &acc[w]);
    }
  }
  return absl::OkStatus();
}

// ProjectRawSeries' rows as columns, for a group's first series under
// ExecContext::columnar_rows: the same cells without a heap vector per row.
Status ProjectRawColumns(ExecContext* ctx, const Aligned& al, size_t rows,
                         const std::vector<const VCol*>& col, const std::vector<Value>& constant,
                         const uint8_t* const* dv, size_t ndrive, const std::vector<uint8_t>* mask,
                         ColumnarRows* out) {
  std::vector<uint32_t> keep;
  keep.reserve(mask == nullptr ? rows : 0);
  for (size_t r = 0; r < rows; r++) {
    uint8_t any = 0;
    for (size_t k = 0; k < ndrive; k++) any |= dv[k][r];
    if (mask != nullptr) any &= (*mask)[r];
    if (any) keep.push_back(static_cast<uint32_t>(r));
  }
  const size_t n = keep.size();
  if (n == 0) return absl::OkStatus();
  out->times.resize(n);
  for (size_t i = 0; i < n; i++) out->times[i] = al.times[keep[i]];
  out->columns.resize(col.size());
  for (size_t j = 0; j < col.size(); j++) {
    RETURN_IF_ERROR(ctx->CheckDeadline());
    ResultColumn& rc = out->columns[j];
    const VCol* c = col[j];
    if (c == nullptr) {
      rc.kind = ResultColumn::Kind::kConstant;
      rc.constant = constant[j];
    } else if (c->type == VType::kFloat) {
      rc.kind = ResultColumn::Kind::kFloat;
      rc.floats.resize(n);
      rc.valid.resize(n);
      const size_t have = c->valid.size();
      for (size_t i = 0; i < n; i++) {
        const size_t r = keep[i];
        const uint8_t ok = r < have ? c->valid[r] : 0;
        rc.valid[i] = ok;
        rc.floats[i] = ok ? c->f[r] : 0;
      }
    } else {
      rc.kind = ResultColumn::Kind::kCells;
      rc.cells.reserve(n);
      for (size_t i = 0; i < n; i++) rc.cells.push_back(c->Get(keep[i]));
    }
  }
  return absl::OkStatus();
}

// The raw rows of series `sd` (its read columns aligned in `al`, `ec`
// reading them, `mask` the row filter's) appended to its group: the field
// list evaluated column at a time, one row per time at which a driving
// (selected) field has a value.
Status ProjectRawSeries(ExecContext* ctx, const SelectPlan& plan, const SeriesData& sd, const EvalContext& ec,
                        const Aligned& al, const std::vector<uint8_t>& drives, const Expr* row_filter,
                        const std::vector<uint8_t>& mask, Group& g) {
  // Raw projection, column at a time; a tag the series lacks is null here
  // (it is "" in conditions).
  EvalContext pc = ec;
  pc.tag = nullptr;
  pc.tag_value = [&](const VarRef& v) -> Value {
    for (const auto& [k, val] : sd.tags) {
      if (k == v.name) return val;
    }
    return std::monostate{};
  };
  // Field and tag references are read in place (a tag is one value for all
  // rows): copying them into columns of their own, and then each cell out
  // again, was a third of a SELECT *'s time. Other expressions are
  // evaluated into `owned`, reserved so that pointers into it stay valid.
  const size_t nf = plan.fields.size();
  std::vector<VCol> owned;
  owned.reserve(nf);
  std::vector<const VCol*> col(nf, nullptr);
  std::vector<Value> constant(nf);
  for (size_t j = 0; j < nf; j++) {
    if ((j & 1023) == 1023) RETURN_IF_ERROR(ctx->CheckDeadline());
    if (!RefInPlace(*plan.fields[j].expr, pc, &col[j], &constant[j])) {
      owned.push_back(Eval(*plan.fields[j].expr, pc));
      col[j] = &owned.back();
    }
  }
  std::vector<const std::string*> const_str(nf, nullptr);
  for (size_t j = 0; j < nf; j++) const_str[j] = std::get_if<std::string>(&constant[j]);
  // A row exists where any selected field has a value.
  std::vector<int64_t> times;
  std::vector<std::vector<Value>> rows;
  if (!row_filter) {  // else few rows may be kept
    times.reserve(ec.rows);
    rows.reserve(ec.rows);
  }
  // The validity of the driving columns, read per row below.
  std::vector<const uint8_t*> drive_valid;
  for (size_t k = 0; k < drives.size(); k++) {
    if (drives[k]) drive_valid.push_back(al.cols[k].valid.data());
  }
  const uint8_t* const* const dv = drive_valid.data();
  const size_t ndrive = drive_valid.size();
  if (ctx->columnar_rows && ctx->page_points == 0 && g.raw.empty() && g.raw_columnar.empty()) {
    return ProjectRawColumns(ctx, al, ec.rows, col, constant, dv, ndrive, row_filter ? &mask : nullptr,
                             &g.raw_columnar);
  }
  if (!g.raw_columnar.empty()) {
    // A second series: the group's rows are merged by time, as rows.
    std::vector<std::vector<Value>> first = g.raw_columnar.ToRows();
    g.raw.emplace_back(std::move(g.raw_columnar.times), std::move(first));
    g.raw_columnar = ColumnarRows{};
  }
  // The deadline every ~64 Ki cells: a row of a wide series is a long loop.
  size_t cells = 0;
  for (size_t r = 0; r < ec.rows; r++) {
    cells += nf;
    if (cells > (size_t{1} << 16)) {
      cells = 0;
      RETURN_IF_ERROR(ctx->CheckDeadline());
    }
    if (row_filter && !mask[r]) continue;
    bool any = false;
    for (size_t k = 0; k < ndrive && !any; k++) any = dv[k][r] != 0;
    if (!any) continue;
    std::vector<Value> row;
    row.reserve(nf + 1);
    row.emplace_back(std::in_place_index<2>, al.times[r]);
    for (size_t j = 0; j < nf; j++) {
      if (const VCol* c = col[j]; c != nullptr && c->type == VType::kFloat && r < c->valid.size()) {
        // Floats (most fields) here, not through the call below: it was
        // a tenth of a raw hour's row building.
        if (c->valid[r]) {
          row.emplace_back(std::in_place_index<1>, c->f[r]);
        } else {
          row.emplace_back();
        }
      } else if (c != nullptr) {
        c->AppendCellTo(r, &row);
      } else if (const_str[j] != nullptr) {
        // A tag: its string built in place, not through the variant's
        // copy (a visit per cell, which showed in SELECT * profiles).
        row.emplace_back(std::in_place_index<5>, *const_str[j]);
      } else {
        row.push_back(constant[j]);
      }
    }
    times.push_back(al.times[r]);
    rows.push_back(std::move(row));
  }
  if (!rows.empty()) g.raw.emplace_back(std::move(times), std::move(rows));
  return absl::OkStatus();
}

}  // namespace

Status ScanSource(ExecContext* ctx, const SelectPlan& plan, size_t si, ScanState* state) {
  const bool desc = plan.desc;
  const TimeRange& range = plan.range;
  ScanState& main_scan = *state;
  int64_t& earliest = main_scan.earliest;
  const int64_t partial_interval = plan.partial_interval;
  const SourceRef& src = plan.sources[si];
  const SourcePlan& sp = plan.source_plans[si];
  if (sp.skip) return absl::OkStatus();
  const planner::Schema& schema = src.schema;
  auto is_field = [&](const VarRef& v) {
    if (v.type == DataType::kTag) return false;
    return schema.HasField(v.name);
  };
  // `x::field` (or a field type) never reads a tag: null unless x is a field.
  auto is_tag = [&](const VarRef& v) {
    return v.type == DataType::kTag || (v.type == DataType::kUnknown && !is_field(v));
  };
  const planner::ConditionParts& parts = sp.parts;
  const NameList& read_list = sp.read_list;
  const std::vector<std::string>& read = read_list.names();
  const std::vector<uint8_t>& read_drives = sp.read_drives;
  const std::vector<std::string>& dims = sp.dims;
  const bool use_partial = sp.use_partial;
  std::vector<VType> partial_type(plan.input_fields.size(), VType::kNull);
  for (size_t in = 0; in < plan.input_fields.size() && use_partial; in++) {
    const FieldType* type = schema.FindField(plan.input_fields[in]);
    if (type != nullptr) partial_type[in] = FromFieldType(*type);
  }
  auto on_series_in = [&](ScanState& st, const SeriesData& sd) -> Status {
    RETURN_IF_ERROR(ctx->CheckDeadline());
    uint64_t n = 0;
    for (const Column& c : sd.columns) n += c.size();
    RETURN_IF_ERROR(ctx->AddPoints(n));
    if (parts.tag_filter && !EvalTagCondition(*parts.tag_filter, sd.tags)) return absl::OkStatus();
    if (ctx->page_points > 0) {
      // A column cut at the page size is complete only up to its last
      // point (DESC: from its first): so are the page's rows.
      for (const Column& c : sd.columns) {
        if (c.empty()) continue;
        ctx->page_columns++;
        if (c.size() < ctx->page_points) continue;
        ctx->page_cutoff =
            desc ? std::max(ctx->page_cutoff, c.times.front()) : std::min(ctx->page_cutoff, c.times.back());
        ctx->page_truncated = true;
      }
    }
    // Subquery rows are filtered by time here (the scan did it otherwise).
    std::vector<std::string> key;
    std::vector<std::pair<std::string, std::string>> gtags;
    for (const std::string& d : dims) {
      std::string v;
      for (const auto& [k, val] : sd.tags) {
        if (k == d) v = val;
      }
      key.push_back(v);
      gtags.emplace_back(d, v);
    }
    Group& g = st.groups[{src.measurement, key}];
    if (g.measurement.empty()) {
      g.measurement = src.measurement;
      g.tags = gtags;
      g.partial = use_partial;
      if (use_partial) {
        g.partial_type = partial_type;
        g.acc.resize(plan.input_fields.size());
        // Each group keeps its windows' accumulators: counted as they
        // come, not only after the scan (GROUP BY a tag of many series).
        if (plan.has_time_group) {
          RETURN_IF_ERROR(CheckBuckets(plan.tdim, range.min, range.max, st.groups.size(), ctx));
        }
      }
    }
    if (g.partial != use_partial) return absl::AbortedError(kPartialFallback);
    // Columns by name. A scan returns the fields in the order asked for
    // (`read`): found at the name's index there, without a search.
    auto column_of = [&](const std::string& name) -> const Column* {
      if (size_t k = read_list.Find(name); k < sd.field_names.size() && sd.field_names[k] == name) {
        return &sd.columns[k];
      }
      for (size_t k = 0; k < sd.field_names.size(); k++) {
        if (sd.field_names[k] == name) return &sd.columns[k];
      }
      return nullptr;
    };
    if (g.partial) return ReduceSeries(plan, sd, g, st);
    std::vector<const Column*> cols;
    cols.reserve(read.size());
    for (const std::string& f : read) cols.push_back(column_of(f));
    const std::vector<uint8_t>& drives = read_drives;
    // Time bounds for subquery rows: the upper one only. The subquery ran
    // within this range already; a row before it is the subquery's partial
    // first GROUP BY time window, labelled with the window's start, which
    // influxd keeps (a dashboard's `WHERE time >= now() - 1h` outside).
    std::vector<Column> clipped;
    if (src.subquery) {
      clipped.resize(cols.size());
      for (size_t k = 0; k < cols.size(); k++) {
        if (cols[k] == nullptr) continue;
        clipped[k].type = cols[k]->type;
        for (size_t i = 0; i < cols[k]->size(); i++) {
          if (cols[k]->times[i] <= range.max) clipped[k].AppendFrom(*cols[k], i);
        }
        cols[k] = &clipped[k];
      }
    }
    auto tag_value = [&](const VarRef& v) -> std::string {
      for (const auto& [k, val] : sd.tags) {
        if (k == v.name) return val;
      }
      return "";
    };
    if (plan.aggregate && !parts.row_filter && plan.aux.empty()) {
      // Fast path: each call input is the column itself.
      if (g.inputs.empty()) g.inputs.resize(plan.input_fields.size());
      for (size_t in = 0; in < plan.input_fields.size(); in++) {
        const Column* c = column_of(plan.input_fields[in]);
        if (c == nullptr || c->empty()) continue;
        if (src.subquery) {
          size_t k = std::find(read.begin(), read.end(), plan.input_fields[in]) - read.begin();
          c = cols[k];
        }
        Points p;
        p.t = c->times;
        p.v = VCol::FromColumn(*c);
        if (c->times.front() < earliest) earliest = c->times.front();
        g.inputs[in].push_back(std::move(p));
      }
      return absl::OkStatus();
    }
    Aligned al = Align(cols, drives);
    if (al.times.empty()) return absl::OkStatus();
    EvalContext ec;
    ec.rows = al.times.size();
    ec.times = &al.times;
    ec.is_tag = is_tag;
    ec.tag = tag_value;
    ec.field = [&](const VarRef& v) -> const VCol* {
      const size_t k = read_list.Find(v.name);
      return k == NameList::kNone ? nullptr : &al.cols[k];
    };
    std::vector<uint8_t> mask;
    if (parts.row_filter) mask = EvalMask(*parts.row_filter, ec);
    if (plan.aggregate) {
      if (g.inputs.empty()) g.inputs.resize(plan.input_fields.size());
      for (size_t in = 0; in < plan.input_fields.size(); in++) {
        const VCol* v = ec.field(VarRef{plan.input_fields[in], DataType::kUnknown});
        if (v == nullptr) continue;
        Points p = Compact(al.times, *v, parts.row_filter ? &mask : nullptr);
        if (p.size() == 0) continue;
        if (!plan.aux.empty()) {
          // Per kept row (as Compact kept them), the extra references'
          // values; a tag the series lacks, or an unknown name, is null.
          std::vector<const VCol*> aux_col(plan.aux.size(), nullptr);
          std::vector<Value> aux_const(plan.aux.size());
          for (size_t j = 0; j < plan.aux.size(); j++) {
            if (is_field(plan.aux[j])) {
              aux_col[j] = ec.field(plan.aux[j]);
            } else if (is_tag(plan.aux[j])) {
              for (const auto& [k, val] : sd.tags) {
                if (k == plan.aux[j].name) aux_const[j] = val;
              }
            }
          }
          p.aux.reserve(p.size());
          for (size_t r = 0; r < al.times.size(); r++) {
            if (!v->valid[r] || (parts.row_filter && !mask[r])) continue;
            std::vector<Value> row(plan.aux.size());
            for (size_t j = 0; j < plan.aux.size(); j++) {
              row[j] = aux_col[j] != nullptr ? aux_col[j]->Get(r) : aux_const[j];
            }
            p.aux.push_back(std::move(row));
          }
        }
        earliest = std::min(earliest, p.t.front());
        g.inputs[in].push_back(std::move(p));
      }
      return absl::OkStatus();
    }
    return ProjectRawSeries(ctx, plan, sd, ec, al, drives, parts.row_filter.get(), mask, g);
  };
  auto on_series = [&](const SeriesData& sd) { return on_series_in(main_scan, sd); };

  if (src.subquery) {
    for (const SeriesData& sd : src.rows) {
      std::vector<TagMatcher> ms = parts.matchers;
      bool ok = true;
      for (const TagMatcher& m : ms) {
        std::string v;
        for (const auto& [k, val] : sd.tags) {
          if (k == m.key) v = val;
        }
        switch (m.op) {
          case TagOp::kEqual:
            ok &= v == m.value;
            break;
          case TagOp::kNotEqual:
            ok &= v != m.value;
            break;
          case TagOp::kRegex:
            ok &= RE2::PartialMatch(v, RE2(m.value));
            break;
          case TagOp::kNotRegex:
            ok &= !RE2::PartialMatch(v, RE2(m.value));
            break;
        }
      }
      if (ok) RETURN_IF_ERROR(on_series(sd));
    }
  } else {
    ScanRequest req;
    req.database = src.database;
    req.retention_policy = src.retention_policy;
    req.measurement = src.measurement;
    req.matchers = parts.matchers;
    req.fields = read;
    req.min_time = range.min;
    req.max_time = range.max;
    req.check = [ctx] { return ctx->CheckDeadline(); };
    // The point limit, checked by the scan before it decodes (a long
    // series was decoded whole, then counted).
    if (const uint64_t max = ctx->options->max_points; max > 0) {
      const uint64_t held = ctx->points.load();
      req.max_points = held < max ? max - held : 1;
    }
    // LIMIT/OFFSET pushed into the scan (SourcePlan::limit_points).
    if (ctx->page_points > 0 && !plan.aggregate) {
      // A page of RunSelectPaged: any condition, the cutoff sorts it out.
      req.limit_points = ctx->page_points;
      req.limit_from_end = desc;
    } else if (sp.limit_points > 0) {
      req.limit_points = sp.limit_points;
      req.limit_from_end = desc;
    }
    if (sp.use_summaries) {
      req.summary_fields = read;
      req.summary_window_ns = partial_interval;
      req.summary_window_offset_ns = plan.partial_offset;
      req.summary_filter = [summary_need = sp.summary_need](const BlockSummary& b) {
        return SummaryUsable(b, summary_need[static_cast<size_t>(b.type) & 7]);
      };
      // first() alone, or last() alone (every slot, plain, over one window;
      // count() needs no statistic, so partial_need cannot tell): the scan
      // need find only the earliest (latest) point of each field, from the
      // block that holds it, instead of merging every overlapping source.
      bool all_first = !plan.slots.empty() && !plan.has_time_group, all_last = all_first;
      for (const Slot& slot : plan.slots) {
        const bool plain = !slot.transform && !slot.over_aggregate;
        all_first &= plain && slot.reduce == "first";
        all_last &= plain && slot.reduce == "last";
      }
      if (all_first || all_last) {
        req.limit_points = 1;
        req.limit_from_end = all_last;
      }
    }
    TagMatcher half_a, half_b;
    if (use_partial && SplitMatchers(ctx, src, parts.matchers, &half_a, &half_b)) {
      // Two scans over complementary halves of the series, each reducing
      // into its own groups; the second's are folded in after the first's,
      // so results do not depend on thread timing.
      ScanRequest req_b = req;
      req.matchers.push_back(std::move(half_a));
      req_b.matchers.push_back(std::move(half_b));
      ScanState other;
      other.partial_bytes = main_scan.partial_bytes;
      Status status_b;
      std::thread t([&] {
        status_b = NoThrow([&] {
          return ctx->db->Scan(req_b, [&](const SeriesData& sd) { return on_series_in(other, sd); });
        });
      });
      Status status_a = NoThrow([&] { return ctx->db->Scan(req, on_series); });
      t.join();
      RETURN_IF_ERROR(status_a);
      RETURN_IF_ERROR(status_b);
      RETURN_IF_ERROR(MergeScanState(std::move(other), plan, &main_scan));
    } else {
      RETURN_IF_ERROR(ctx->db->Scan(req, on_series));
    }
  }
  return absl::OkStatus();
}

}  // namespace m2mdb::query::exec
