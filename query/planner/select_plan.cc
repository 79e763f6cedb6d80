// query/planner/select_plan.cc — PlanSelect: a SELECT statement into a
// SelectPlan (see select_plan.h). Planning reads the catalog (schemas) and
// runs subqueries through the CatalogView; it scans no data.
#include "query/planner/select_plan.h"

#include <map>
#include <memory>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "re2/re2.h"

#include "m2mdb/line_protocol.h"
#include "query/parser/parser.h"

namespace m2mdb::query::planner {

void Schema::AddField(std::string_view name, FieldType type) {
  auto it = std::lower_bound(fields.begin(), fields.end(), name,
                             [](const FieldKey& f, std::string_view n) { return f.name < n; });
  if (it == fields.end() || it->name != name) fields.insert(it, FieldKey{std::string(name), type});
}

void Schema::AddTag(std::string_view name) {
  auto it = std::lower_bound(tags.begin(), tags.end(), name);
  if (it == tags.end() || *it != name) tags.insert(it, std::string(name));
}

void Schema::SetFields(std::vector<FieldKey> f) {
  fields = std::move(f);
  auto less = [](const FieldKey& a, const FieldKey& b) { return a.name < b.name; };
  if (!std::is_sorted(fields.begin(), fields.end(), less))
    std::stable_sort(fields.begin(), fields.end(), less);
  fields.erase(std::unique(fields.begin(), fields.end(),
                           [](const FieldKey& a, const FieldKey& b) { return a.name == b.name; }),
               fields.end());
}

void Schema::SetTags(std::vector<std::string> t) {
  tags = std::move(t);
  if (!std::is_sorted(tags.begin(), tags.end())) std::sort(tags.begin(), tags.end());
  tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
}

bool PartialNeeds(const std::string& fn, uint32_t* need) {
  if (fn == "count") return true;
  if (fn == "sum" || fn == "mean") {
    *need |= kNeedSum;
  } else if (fn == "min") {
    *need |= kNeedMin;
  } else if (fn == "max") {
    *need |= kNeedMax;
  } else if (fn == "spread") {
    *need |= kNeedMin | kNeedMax;
  } else if (fn == "first") {
    *need |= kNeedFirst;
  } else if (fn == "last") {
    *need |= kNeedLast;
  } else if (fn == "stddev") {
    *need |= kNeedVariance;
  } else {
    return false;
  }
  return true;
}

bool StreamableShape(const SelectStatement& s) {
  // One group (no GROUP BY, one named measurement), raw rows: pages
  // concatenate into exactly the one series RunSelect would return.
  if (s.into.has_value() || !s.dimensions.empty() || s.sources.size() != 1 || s.limits.slimit != 0 ||
      s.limits.soffset != 0 || s.fill.specified) {
    return false;
  }
  const auto* m = std::get_if<Measurement>(&s.sources[0].node);
  if (m == nullptr || m->regex.has_value()) return false;
  for (const Field& f : s.fields) {
    const Expr* e = Unparen(f.expr.get());
    if (e->Is<Distinct>() || ContainsFunctionCall(*e)) return false;
    if (const auto* c = e->As<Call>(); c != nullptr && !IsMathFunction(c->name)) return false;
  }
  return true;
}

bool ContainsFunctionCall(const Expr& e) {
  bool found = false;
  WalkExpr(e, [&](const Expr& x) {
    if (const auto* c = x.As<Call>()) {
      if (!IsMathFunction(c->name)) found = true;
    }
    return !found;
  });
  return found;
}

namespace {

bool WildcardAccepts(const std::string& fn, FieldType t) {
  if (fn == "count" || fn == "first" || fn == "last" || fn == "distinct" || fn == "mode") return true;
  if (fn == "min" || fn == "max") return IsNumericType(t) || t == FieldType::kBoolean;
  return IsNumericType(t);
}

// Converts a subquery's result series into scan-like series.
std::vector<SeriesData> ToSeriesData(std::vector<ResultSeries> rs, Schema* schema) {
  std::vector<SeriesData> out;
  for (ResultSeries& r : rs) {
    SeriesData s;
    s.measurement = r.name;
    s.tags = r.tags;
    s.key = FormatSeriesKey(r.name, r.tags);
    for (const auto& [k, v] : r.tags) schema->AddTag(k);
    for (size_t c = 1; c < r.columns.size(); c++) {
      Column col;
      bool typed = false;
      for (const auto& row : r.values) {
        if (c >= row.size() || row[0].index() != 2) continue;
        const Value& v = row[c];
        FieldValue fv;
        switch (v.index()) {
          case 1:
            fv = FieldValue::Float(std::get<double>(v));
            break;
          case 2:
            fv = FieldValue::Int(std::get<int64_t>(v));
            break;
          case 3:
            fv = FieldValue::Uint(std::get<uint64_t>(v));
            break;
          case 4:
            fv = FieldValue::Bool(std::get<bool>(v));
            break;
          case 5:
            fv = FieldValue::String(std::get<std::string>(v));
            break;
          default:
            continue;
        }
        if (!typed) {
          col.type = fv.type;
          typed = true;
        }
        if (fv.type != col.type) continue;
        int64_t t = std::get<int64_t>(row[0]);
        if (!col.times.empty() && col.times.back() == t) continue;  // keep unique times
        col.Append(t, fv);
      }
      if (!typed) continue;
      schema->AddField(r.columns[c], col.type);
      s.field_names.push_back(r.columns[c]);
      s.columns.push_back(std::move(col));
    }
    out.push_back(std::move(s));
  }
  return out;
}

// `desc`: the statement reading these sources is ORDER BY time DESC, which
// its subqueries follow. `need_tags`: fill in the measurements' tag keys
// (Schema::tags), which only wildcards and regexes read.
Status ResolveSources(const std::vector<Source>& sources, CatalogView* catalog, const TimeRange& range,
                      bool desc, bool need_tags, std::vector<SourceRef>* out) {
  for (const Source& src : sources) {
    if (const auto* sq = std::get_if<SubQuery>(&src.node)) {
      ASSIGN_OR_RETURN(auto rs, catalog->RunSubquery(*sq->statement, range, desc));
      SourceRef ref;
      ref.subquery = true;
      ref.rows = ToSeriesData(std::move(rs), &ref.schema);
      // One SourceRef per inner measurement name keeps series naming right.
      std::map<std::string, SourceRef> by_name;
      for (SeriesData& s : ref.rows) {
        SourceRef& r = by_name[s.measurement];
        r.subquery = true;
        r.measurement = s.measurement;
        r.schema = ref.schema;
        r.rows.push_back(std::move(s));
      }
      for (auto& [name, r] : by_name) out->push_back(std::move(r));
      continue;
    }
    const Measurement& m = std::get<Measurement>(src.node);
    const std::string& database = m.database.empty() ? catalog->DefaultDatabase() : m.database;
    if (database.empty()) return absl::InvalidArgumentError("database name required");
    auto check_exists = [&]() -> Status {
      if (catalog->DatabaseExists(database)) return absl::OkStatus();
      return absl::NotFoundError(absl::StrCat("database not found: ", database));
    };
    // `db.rp.m`, `rp.m`, else the request's rp=, else the default.
    const std::string& rp =
        m.retention_policy.empty() ? catalog->DefaultRetentionPolicy() : m.retention_policy;
    if (catalog->DatabaseExists(database)) RETURN_IF_ERROR(catalog->CheckRetentionPolicy(database, rp));
    auto add = [&](const std::string& n, StatusOr<std::vector<FieldKey>> fk) {
      if (!fk.ok() || fk->empty()) return;  // missing measurement: no rows
      SourceRef ref;
      ref.database = database;
      ref.retention_policy = rp;
      ref.measurement = n;
      ref.schema.SetFields(*std::move(fk));
      if (need_tags) {
        auto tk = catalog->TagKeys(database, n);
        if (tk.ok()) ref.schema.SetTags(*std::move(tk));
      }
      out->push_back(std::move(ref));
    };
    if (!m.regex.has_value()) {
      // A measurement with fields proves the database exists: the list of
      // databases is only needed when there are none.
      auto fk = catalog->FieldKeys(database, m.name);
      if (!fk.ok() || fk->empty()) RETURN_IF_ERROR(check_exists());
      add(m.name, std::move(fk));
      continue;
    }
    RETURN_IF_ERROR(check_exists());
    RE2 re(m.regex->pattern);
    if (!re.ok()) return absl::InvalidArgumentError(absl::StrCat("invalid regex: ", re.error()));
    ASSIGN_OR_RETURN(auto all, catalog->Measurements(database));
    for (auto& n : all) {
      if (RE2::PartialMatch(n, re)) add(n, catalog->FieldKeys(database, n));
    }
  }
  return absl::OkStatus();
}

ExprPtr MakeVarRef(const std::string& name, DataType t) { return MakeExpr(0, VarRef{name, t}); }

// Expands *, *::field, *::tag, /re/ in the field list and in call arguments.
Status ExpandFields(const SelectStatement& s, const std::vector<SourceRef>& sources,
                    std::vector<OutField>* out, std::string* time_column) {
  // The fields and tags of all sources, built only for a wildcard or regex
  // (most field lists name their fields).
  std::map<std::string, FieldType> fields;
  std::set<std::string> tags;
  bool merged = false;
  auto merge = [&] {
    if (merged) return;
    merged = true;
    for (const SourceRef& r : sources) {
      for (const FieldKey& f : r.schema.fields) fields.emplace(f.name, f.type);
      tags.insert(r.schema.tags.begin(), r.schema.tags.end());
    }
    // influxd leaves the GROUP BY tags out of `*` and regex field lists:
    // they are the series' tags already. A regex or `*` dimension leaves out
    // every tag, matched or not (influxd 1.6).
    for (const Dimension& d : s.dimensions) {
      if (const auto* tg = std::get_if<TagDimension>(&d.node)) {
        tags.erase(tg->name);
      } else if (std::holds_alternative<RegexDimension>(d.node) ||
                 std::holds_alternative<WildcardDimension>(d.node)) {
        tags.clear();
      }
    }
  };
  bool dropped_time = false;
  for (const Field& f : s.fields) {
    const Expr* e = Unparen(f.expr.get());
    if (e->Is<Wildcard>() || e->Is<RegexLiteral>()) merge();
    if (const auto* w = e->As<Wildcard>()) {
      std::map<std::string, DataType> cols;
      if (w->type != WildcardType::kTag) {
        for (const auto& [k, t] : fields) cols.emplace(k, DataType::kUnknown);
      }
      if (w->type != WildcardType::kField) {
        for (const auto& k : tags) cols.emplace(k, DataType::kTag);
      }
      for (const auto& [k, t] : cols) out->push_back({MakeVarRef(k, t), k, false});
      continue;
    }
    if (const auto* re = e->As<RegexLiteral>()) {
      RE2 r(re->pattern);
      std::map<std::string, DataType> cols;
      for (const auto& [k, t] : fields) {
        if (RE2::PartialMatch(k, r)) cols.emplace(k, DataType::kUnknown);
      }
      for (const auto& k : tags) {
        if (RE2::PartialMatch(k, r)) cols.emplace(k, DataType::kTag);
      }
      for (const auto& [k, t] : cols) out->push_back({MakeVarRef(k, t), k, false});
      continue;
    }
    if (const auto* d = e->As<Distinct>()) {
      Call c;
      c.name = "distinct";
      c.args.push_back(MakeVarRef(d->name, DataType::kUnknown));
      out->push_back(
          {MakeExpr(e->offset, std::move(c)), f.alias.empty() ? "distinct" : f.alias, !f.alias.empty()});
      continue;
    }
    if (const auto* c = e->As<Call>(); c != nullptr && !c->args.empty()) {
      const Expr* a = Unparen(c->args[0].get());
      if (a->Is<Wildcard>() || a->Is<RegexLiteral>()) {
        merge();
        std::unique_ptr<RE2> re;
        if (const auto* rl = a->As<RegexLiteral>()) re = std::make_unique<RE2>(rl->pattern);
        for (const auto& [k, t] : fields) {
          if (re && !RE2::PartialMatch(k, *re)) continue;
          if (!WildcardAccepts(c->name, t)) continue;
          Call nc;
          nc.name = c->name;
          nc.args.push_back(MakeVarRef(k, DataType::kUnknown));
          for (size_t i = 1; i < c->args.size(); i++) nc.args.push_back(Clone(*c->args[i]));
          std::string base = f.alias.empty() ? c->name : f.alias;
          out->push_back({MakeExpr(e->offset, std::move(nc)), absl::StrCat(base, "_", k), false});
        }
        continue;
      }
    }
    // influxd drops `time` from the field list: every row has it. With an
    // alias it renames the time column instead; several time fields: the
    // last one's name.
    if (IsTimeField(*e)) {
      dropped_time = true;
      *time_column = f.alias.empty() ? "time" : f.alias;
      continue;
    }
    const bool alias = !f.alias.empty();
    out->emplace_back(f.expr.get(), alias ? f.alias : FieldName(*f.expr), alias);
    // top(v, host, 3): influxd adds a column per tag (or field) argument
    // right after the call's, read at the selected point.
    const Call* tb = nullptr;
    WalkExpr(*f.expr, [&](const Expr& x) {
      if (const auto* c = x.As<Call>(); c != nullptr && (c->name == "top" || c->name == "bottom")) tb = c;
      return tb == nullptr;
    });
    for (size_t k = 1; tb != nullptr && k + 1 < tb->args.size(); k++) {
      if (const auto* v = Unparen(tb->args[k].get())->As<VarRef>()) {
        out->push_back({MakeVarRef(v->name, v->type), v->name, false});
      }
    }
  }
  if (dropped_time && out->empty()) {
    return absl::InvalidArgumentError("at least 1 non-time field must be queried");
  }
  return absl::OkStatus();
}

// VarRefs outside of (non-math) calls.
bool HasBareVarRef(const Expr& e) {
  const Expr& x = *Unparen(&e);
  if (x.Is<VarRef>()) return true;
  if (const auto* c = x.As<Call>()) {
    if (!IsMathFunction(c->name)) return false;
    for (const auto& a : c->args) {
      if (HasBareVarRef(*a)) return true;
    }
    return false;
  }
  if (const auto* b = x.As<BinaryExpr>()) return HasBareVarRef(*b->lhs) || HasBareVarRef(*b->rhs);
  if (const auto* u = x.As<UnaryMinus>()) return HasBareVarRef(*u->expr);
  return false;
}

// Appends the VarRefs outside of (non-math) calls, once per name; `time` is
// the row's time, not a field.
void CollectBareVarRefs(const Expr& e, std::vector<VarRef>* out) {
  const Expr& x = *Unparen(&e);
  if (const auto* v = x.As<VarRef>()) {
    if (absl::EqualsIgnoreCase(v->name, "time")) return;
    for (const VarRef& o : *out) {
      if (o.name == v->name) return;
    }
    out->push_back(VarRef{v->name, v->type});
    return;
  }
  if (const auto* c = x.As<Call>()) {
    if (!IsMathFunction(c->name)) return;
    for (const auto& a : c->args) CollectBareVarRefs(*a, out);
    return;
  }
  if (const auto* b = x.As<BinaryExpr>()) {
    CollectBareVarRefs(*b->lhs, out);
    CollectBareVarRefs(*b->rhs, out);
    return;
  }
  if (const auto* u = x.As<UnaryMinus>()) CollectBareVarRefs(*u->expr, out);
}

Status CollectSlots(const Expr& e, SelectPlan* plan) {
  const Expr& x = *Unparen(&e);
  if (const auto* b = x.As<BinaryExpr>()) {
    RETURN_IF_ERROR(CollectSlots(*b->lhs, plan));
    return CollectSlots(*b->rhs, plan);
  }
  if (const auto* u = x.As<UnaryMinus>()) return CollectSlots(*u->expr, plan);
  const auto* c = x.As<Call>();
  if (c == nullptr) return absl::OkStatus();
  if (IsMathFunction(c->name)) {
    for (const auto& a : c->args) RETURN_IF_ERROR(CollectSlots(*a, plan));
    return absl::OkStatus();
  }
  Slot slot;
  slot.expr = &x;
  slot.spec.name = c->name;
  const std::string& fn = c->name;
  if (!IsAggregateFunction(fn) && !IsTransformFunction(fn)) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported call: ", fn));
  }
  if (fn == "sample") return absl::UnimplementedError("sample() is not supported yet");
  if (c->args.empty())
    return absl::InvalidArgumentError(absl::StrCat("invalid number of arguments for ", fn));
  const Expr* arg = Unparen(c->args[0].get());
  // Extra arguments.
  if (c->args.size() > 1) {
    const Expr* a1 = Unparen(c->args[1].get());
    if (const auto* d = a1->As<DurationLiteral>()) slot.spec.unit_ns = d->ns;
    if (const auto* i = a1->As<IntegerLiteral>()) slot.spec.number = static_cast<double>(i->value);
    if (const auto* n = a1->As<NumberLiteral>()) slot.spec.number = n->value;
  }
  if (fn == "top" || fn == "bottom") {
    // Checked by the validator: top(field, [tag, ...,] N).
    if (const auto* n = Unparen(c->args.back().get())->As<IntegerLiteral>()) {
      slot.spec.number = static_cast<double>(n->value);
    }
    for (size_t k = 1; k + 1 < c->args.size(); k++) {
      if (const auto* v = Unparen(c->args[k].get())->As<VarRef>()) slot.spec.by.push_back(v->name);
    }
  }
  if (fn == "moving_average" && slot.spec.number <= 1) {
    return absl::InvalidArgumentError(absl::StrCat("moving_average window must be greater than 1, got ",
                                                   static_cast<int64_t>(slot.spec.number)));
  }
  slot.transform = IsTransformFunction(fn);
  slot.reduce = fn;
  if (const auto* inner = arg->As<Call>()) {
    if (fn == "count" && inner->name == "distinct") {
      slot.reduce = "count_distinct";
    } else if (slot.transform && IsAggregateFunction(inner->name)) {
      slot.over_aggregate = true;
      slot.reduce = inner->name;
      slot.spec.inner = inner->name;
      if (inner->args.size() > 1) {
        const Expr* a1 = Unparen(inner->args[1].get());
        if (const auto* i = a1->As<IntegerLiteral>()) slot.spec.number = static_cast<double>(i->value);
        if (const auto* n = a1->As<NumberLiteral>()) slot.spec.number = n->value;
      }
      if (slot.spec.name == "moving_average" && c->args.size() > 1) {
        const Expr* a1 = Unparen(c->args[1].get());
        if (const auto* i = a1->As<IntegerLiteral>()) slot.spec.number = static_cast<double>(i->value);
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat("expected field argument in ", fn, "()"));
    }
    if (inner->args.empty() || !Unparen(inner->args[0].get())->Is<VarRef>()) {
      return absl::InvalidArgumentError(absl::StrCat("expected field argument in ", inner->name, "()"));
    }
    arg = Unparen(inner->args[0].get());
  }
  const auto* v = arg->As<VarRef>();
  if (v == nullptr) return absl::InvalidArgumentError(absl::StrCat("expected field argument in ", fn, "()"));
  slot.spec.field = v->name;
  auto it = std::find(plan->input_fields.begin(), plan->input_fields.end(), v->name);
  if (it == plan->input_fields.end()) {
    plan->input_fields.push_back(v->name);
    slot.input = static_cast<int>(plan->input_fields.size() - 1);
  } else {
    slot.input = static_cast<int>(it - plan->input_fields.begin());
  }
  plan->slots.push_back(std::move(slot));
  return absl::OkStatus();
}

// How source `src` is read (see SourcePlan).
SourcePlan PlanSource(const SelectStatement& s, const SelectPlan& plan, const SourceRef& src,
                      bool use_block_summaries) {
  SourcePlan sp;
  const Schema& schema = src.schema;
  auto is_field = [&](const VarRef& v) {
    if (v.type == DataType::kTag) return false;
    return schema.HasField(v.name);
  };
  sp.parts = SplitConjuncts(plan.cond, is_field);

  // Fields to read.
  NameList& select_list = sp.select_list;  // drive row production (raw)
  NameList& read_list = sp.read_list;
  auto add_read = [&](const std::string& n) {
    if (schema.HasField(n)) read_list.Add(n);
  };
  if (plan.aggregate) {
    for (const std::string& f : plan.input_fields) {
      if (schema.HasField(f)) select_list.Add(f);
    }
  } else {
    for (const OutField& f : plan.fields) {
      WalkExpr(*f.expr, [&](const Expr& x) {
        if (const auto* v = x.As<VarRef>(); v != nullptr && is_field(*v)) select_list.Add(v->name);
        return true;
      });
    }
  }
  const std::vector<std::string>& select_fields = select_list.names();
  if (select_fields.empty()) {
    sp.skip = true;
    return sp;
  }
  for (const auto& f : select_fields) add_read(f);
  // Extra fields are read but do not make rows: the selector's field does.
  for (const VarRef& v : plan.aux) {
    if (is_field(v)) add_read(v.name);
  }
  if (sp.parts.row_filter) {
    WalkExpr(*sp.parts.row_filter, [&](const Expr& x) {
      if (const auto* v = x.As<VarRef>(); v != nullptr && is_field(*v)) add_read(v->name);
      return true;
    });
  }
  const std::vector<std::string>& read = read_list.names();
  // Which read fields make rows (the others are only filtered on).
  sp.read_drives.resize(read.size());
  for (size_t k = 0; k < read.size(); k++) sp.read_drives[k] = select_list.Find(read[k]) != NameList::kNone;

  // Group-by tag keys for this source.
  std::vector<std::string>& dims = sp.dims;
  dims = plan.dim_tags;
  if (plan.group_all_tags) dims.insert(dims.end(), schema.tags.begin(), schema.tags.end());
  for (const std::string& p : plan.dim_regexes) {
    RE2 re(p);
    for (const std::string& t : schema.tags) {
      if (RE2::PartialMatch(t, re)) dims.push_back(t);
    }
  }
  std::sort(dims.begin(), dims.end());
  dims.erase(std::unique(dims.begin(), dims.end()), dims.end());

  sp.use_partial = plan.partial && !sp.parts.row_filter && !src.subquery;
  for (size_t in = 0; in < plan.input_fields.size() && sp.use_partial; in++) {
    const FieldType* type = schema.FindField(plan.input_fields[in]);
    if (type == nullptr) continue;
    // Boolean and string fields only when count is all that is asked of
    // them (the accumulators then only count).
    if (!IsNumericType(*type) && plan.partial_need[in] != 0) sp.use_partial = false;
  }
  // Block statistics stand in for a block's points in the accumulators
  // (ScanRequest::summary_fields). Not for stddev (no M2 in the stats), nor
  // for a lone min/max without GROUP BY time: it returns the time of the
  // selected point, which block stats do not record.
  // The filter sees a block's type, not its field: per type, what the
  // inputs of that type need.
  uint32_t all_need = 0;
  sp.use_summaries = sp.use_partial && use_block_summaries;
  for (size_t in = 0; in < plan.input_fields.size() && sp.use_summaries; in++) {
    const FieldType* type = schema.FindField(plan.input_fields[in]);
    if (type == nullptr) continue;
    sp.summary_need[static_cast<size_t>(*type) & 7] |= plan.partial_need[in];
    all_need |= plan.partial_need[in];
  }
  if (all_need & kNeedVariance) sp.use_summaries = false;
  if (plan.selector_point_time && (all_need & (kNeedMin | kNeedMax))) sp.use_summaries = false;

  // LIMIT/OFFSET of a raw query: a group's first (last, under DESC)
  // limit + offset rows are made of every series' first (last) limit +
  // offset points of each field, so the scan reads no more than that
  // (LIMIT 10 decoded everything, and failed on the memory limit). Not
  // with a condition on fields: it may drop any number of rows.
  if (!plan.aggregate && !sp.parts.row_filter && s.limits.limit > 0) {
    const uint64_t n =
        static_cast<uint64_t>(s.limits.limit) + static_cast<uint64_t>(std::max<int64_t>(0, s.limits.offset));
    sp.limit_points = static_cast<size_t>(std::min<uint64_t>(n, uint64_t{1} << 62));
  }
  return sp;
}

}  // namespace

StatusOr<SelectPlan> PlanSelect(const SelectStatement& s, const PlanOptions& options, CatalogView* catalog) {
  if (s.into.has_value()) return absl::UnimplementedError("SELECT INTO is not supported");
  SelectPlan plan;
  plan.statement = &s;
  plan.subquery = options.parent_desc.has_value();
  // A subquery runs in its outer statement's direction, as in influxd: its
  // LIMIT keeps the newest rows under an outer ORDER BY time DESC. Its own
  // ORDER BY must agree.
  bool desc = !s.sort.empty() && !s.sort[0].ascending;
  if (options.parent_desc.has_value()) {
    if (!s.sort.empty() && desc != *options.parent_desc) {
      return absl::InvalidArgumentError(
          "subqueries must be ordered in the same direction as the query itself");
    }
    desc = *options.parent_desc;
  }
  plan.desc = desc;
  plan.streamable = !plan.subquery && StreamableShape(s);
  // Time range. The rest of the condition stays in the statement, as its
  // conjuncts.
  // tz('...'): the parser checked the name; the zone database caches what
  // it loads.
  bool zoned = false;
  if (!s.timezone.empty() && s.timezone != "UTC") {
    if (s.timezone == "Local") {
      plan.zone = absl::LocalTimeZone();
    } else if (!absl::LoadTimeZone(s.timezone, &plan.zone)) {
      return absl::InvalidArgumentError(absl::StrCat("unable to find time zone ", s.timezone));
    }
    zoned = true;
  }
  TimeRange& range = plan.range;
  RETURN_IF_ERROR(ExtractTimeRangeConjuncts(s.condition.get(), options.now, &range, &plan.cond,
                                            zoned ? &plan.zone : nullptr));
  range.Intersect(options.outer);

  for (const Dimension& d : s.dimensions) {
    if (const auto* t = std::get_if<TimeDimension>(&d.node)) {
      if (t->interval_ns <= 0) continue;  // time(0s) is ignored, as by influxd
      plan.has_time_group = true;
      plan.tdim = *t;
      if (t->offset_now) plan.tdim.offset_ns = options.now % t->interval_ns;
    } else if (const auto* tg = std::get_if<TagDimension>(&d.node)) {
      plan.dim_tags.push_back(tg->name);
    } else if (const auto* rg = std::get_if<RegexDimension>(&d.node)) {
      plan.dim_regexes.push_back(rg->regex.pattern);
    } else if (std::holds_alternative<WildcardDimension>(d.node)) {
      plan.group_all_tags = true;
    } else {
      return absl::InvalidArgumentError("only time and tag dimensions allowed");
    }
  }
  if (plan.has_time_group && plan.tdim.interval_ns <= 0) {
    return absl::InvalidArgumentError("GROUP BY time interval must be positive");
  }
  plan.zoned = plan.has_time_group && zoned;

  // Sources. Their tag keys are read by ExpandFields for a wildcard or a
  // regex (also as a call's argument), and for GROUP BY * or /re/.
  bool need_tags = plan.group_all_tags || !plan.dim_regexes.empty();
  for (const Field& f : s.fields) {
    const Expr* e = Unparen(f.expr.get());
    if (const auto* c = e->As<Call>(); c != nullptr && !c->args.empty()) {
      // top(v, host, 2) groups by the arguments that are tags.
      need_tags |= (c->name == "top" || c->name == "bottom") && c->args.size() > 2;
      e = Unparen(c->args[0].get());
    }
    need_tags |= e->Is<Wildcard>() || e->Is<RegexLiteral>();
  }
  RETURN_IF_ERROR(ResolveSources(s.sources, catalog, range, desc, need_tags, &plan.sources));

  RETURN_IF_ERROR(ExpandFields(s, plan.sources, &plan.fields, &plan.time_column));
  for (const OutField& f : plan.fields) plan.aggregate |= ContainsFunctionCall(*f.expr);
  // count(*) over sources with no fields expands to nothing: still an
  // aggregate (influxd answers it with no series, not with an error).
  if (plan.fields.empty()) {
    for (const Field& f : s.fields) plan.aggregate |= ContainsFunctionCall(*f.expr);
  }
  if (plan.aggregate) {
    bool bare = false;
    for (const OutField& f : plan.fields) {
      if (HasBareVarRef(*f.expr)) {
        bare = true;
        CollectBareVarRefs(*f.expr, &plan.aux);
      }
      RETURN_IF_ERROR(CollectSlots(*f.expr, &plan));
    }
    // Bare references ride along with one selector only (influxd): other
    // aggregates have no point to read them from.
    if (bare && !(plan.slots.size() == 1 && IsSelectorFunction(plan.slots[0].reduce) &&
                  !plan.slots[0].transform && !plan.slots[0].over_aggregate)) {
      return absl::InvalidArgumentError("mixing aggregate and non-aggregate queries is not supported");
    }
    bool any_transform = false;
    for (const Slot& sl : plan.slots) {
      any_transform |= sl.transform;
      if (sl.transform && !sl.over_aggregate && plan.has_time_group) {
        return absl::InvalidArgumentError(
            absl::StrCat("aggregate function required inside the call to ", sl.spec.name));
      }
      if (sl.over_aggregate && !plan.has_time_group) {
        return absl::InvalidArgumentError(
            absl::StrCat(sl.spec.name, " aggregate requires a GROUP BY interval"));
      }
    }
    for (const Slot& sl : plan.slots) {
      if (sl.transform && !sl.over_aggregate) {
        // Raw transforms cannot be mixed with aggregates.
        for (const Slot& o : plan.slots) {
          if (!o.transform) {
            return absl::InvalidArgumentError("mixing aggregate and non-aggregate queries is not supported");
          }
        }
      }
    }
    plan.selector_point_time = !plan.has_time_group && plan.slots.size() == 1 &&
                               IsSelectorFunction(plan.slots[0].spec.name) && !any_transform;
    plan.partial = options.allow_partial;
    plan.partial_need.assign(plan.input_fields.size(), 0);
    for (const Slot& sl : plan.slots) {
      if ((sl.transform && !sl.over_aggregate) || !PartialNeeds(sl.reduce, &plan.partial_need[sl.input])) {
        plan.partial = false;
      }
    }
    // Extra fields need the selected point itself: no accumulators, hence no
    // block statistics either.
    if (!plan.aux.empty()) plan.partial = false;
  } else if (plan.has_time_group) {
    return absl::InvalidArgumentError("GROUP BY requires at least one aggregate function");
  }
  {
    std::vector<std::string> names;
    std::vector<bool> alias;
    for (const OutField& f : plan.fields) {
      names.push_back(f.name);
      alias.push_back(f.alias);
    }
    plan.columns = ResolveColumnNames(names, alias);
  }
  if (s.fill.mode != FillMode::kNull && s.fill.specified && !plan.aggregate) {
    return absl::InvalidArgumentError("fill(none) must be used with a function");
  }

  // With GROUP BY time and no upper bound, now() is the end.
  if (plan.has_time_group && !range.has_max()) range.max = options.now;
  plan.requested = range;
  bool reads_before = false, all_read_before = true;
  for (const Slot& sl : plan.slots) {
    const bool r = plan.has_time_group && ReadsPrecedingInterval(sl);
    reads_before |= r;
    all_read_before &= r;
  }
  if (reads_before) {
    // influxd reads one more interval before the range (after it under
    // ORDER BY time DESC) for these transforms, so that the first window
    // of the range has a predecessor and the window holding the range's
    // start is aggregated whole: with `time >= now() - 1h` the first row
    // is at the start of that window. The extra window yields no row of
    // its own (a transform's first value has no predecessor). The other
    // calls of the statement read the range as given (the executor cuts
    // their points to `requested`), which needs the points, not partials.
    plan.cut_to_requested = !all_read_before;
    if (plan.cut_to_requested) plan.partial = false;
    const int64_t iv = plan.tdim.interval_ns;
    if (!desc && range.has_min()) {
      range.min = range.min < kMinTime + iv ? kMinTime : range.min - iv;
    } else if (desc && range.max != kMaxTime) {
      range.max = range.max > kMaxTime - iv ? kMaxTime : range.max + iv;
    }
  }
  if (range.min > range.max) {
    plan.empty = true;
    return plan;
  }

  // Partial aggregation needs the windows before the scan: a lower time
  // bound (or no GROUP BY time) and not too many windows.
  if (plan.partial && plan.has_time_group) {
    if (!range.has_min() || plan.zoned) {
      plan.partial = false;
    } else {
      const int64_t iv = plan.tdim.interval_ns;
      const int64_t off = WindowOffset(plan.tdim);
      const WindowSpan span = SpanOf(range.min, range.max, iv, off);
      const __int128 first = span.first;
      plan.partial_first = first < kMinTime ? kMinTime : static_cast<int64_t>(first);
      plan.partial_interval = iv;
      plan.partial_offset = off;
      const __int128 count = span.count;
      if (first < kMinTime || count > (1 << 20)) {
        plan.partial = false;
      } else {
        plan.partial_windows = static_cast<size_t>(count);
      }
    }
  }

  plan.source_plans.reserve(plan.sources.size());
  for (const SourceRef& src : plan.sources) {
    plan.source_plans.push_back(PlanSource(s, plan, src, options.use_block_summaries));
  }
  return plan;
}

}  // namespace m2mdb::query::planner
