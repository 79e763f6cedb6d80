// query/exec/meta.cc — SHOW, CREATE/DROP DATABASE, DELETE, DROP SERIES and
// DROP MEASUREMENT, rendered as influxd 1.6 renders them.
#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "re2/re2.h"

#include "m2mdb/query/continuous.h"
#include "query/exec/exec.h"

namespace m2mdb::query::exec {
namespace {

// Go's time.Duration.String() for whole seconds and above ("168h0m0s", "0s").
std::string GoDuration(int64_t ns) {
  if (ns == 0) return "0s";
  std::string out;
  if (ns < 0) {
    out = "-";
    ns = -ns;
  }
  int64_t secs = ns / 1000000000;
  int64_t frac = ns % 1000000000;
  int64_t h = secs / 3600, m = secs / 60 % 60, sec = secs % 60;
  if (h > 0) absl::StrAppend(&out, h, "h");
  if (h > 0 || m > 0) absl::StrAppend(&out, m, "m");
  absl::StrAppend(&out, sec);
  if (frac != 0) {
    std::string f = absl::StrCat(1000000000 + frac).substr(1);
    while (!f.empty() && f.back() == '0') f.pop_back();
    absl::StrAppend(&out, ".", f);
  }
  out += "s";
  return out;
}

// InfluxDB's default shard group duration for a retention duration.
int64_t ShardGroupDuration(int64_t retention) {
  constexpr int64_t kHour = 3600LL * 1000000000;
  if (retention > 0 && retention < 2 * 24 * kHour) return kHour;
  if (retention > 0 && retention <= 180 * 24 * kHour) return 24 * kHour;
  return 7 * 24 * kHour;
}

StatusOr<std::string> ResolveDatabase(const std::string& stmt_db, ExecContext* ctx) {
  std::string db = stmt_db.empty() ? ctx->options->database : stmt_db;
  if (db.empty()) return absl::InvalidArgumentError("database name required");
  for (const auto& d : ctx->db->ListDatabases()) {
    if (d.name == db) return db;
  }
  return absl::NotFoundError(absl::StrCat("database not found: ", db));
}

// A measurement of a database named by a FROM clause.
struct Target {
  std::string database;
  std::string measurement;
};

// The (database, measurement) pairs named by FROM sources, sorted by
// measurement then database: a source's own database (`FROM b..m`,
// `FROM b.autogen.m`) wins over the statement's (`ON a`) and the request's
// (`db=`), as in influxd 1.6, which answered `SHOW FIELD KEYS FROM b..m`
// for b where we answered for the db= database. No sources: every
// measurement of the statement's database.
StatusOr<std::vector<Target>> SourceTargets(const std::vector<Source>& sources, const std::string& stmt_db,
                                            ExecContext* ctx) {
  std::vector<Target> out;
  std::map<std::string, std::vector<std::string>> measurements;  // per database, read once
  auto all_of = [&](const std::string& db) -> StatusOr<const std::vector<std::string>*> {
    auto it = measurements.find(db);
    if (it == measurements.end()) {
      ASSIGN_OR_RETURN(std::string name, ResolveDatabase(db, ctx));
      ASSIGN_OR_RETURN(auto all, ctx->db->Measurements(name));
      it = measurements.emplace(db, std::move(all)).first;
    }
    return &it->second;
  };
  const std::string default_db = stmt_db.empty() ? ctx->options->database : stmt_db;
  if (sources.empty()) {
    ASSIGN_OR_RETURN(const std::vector<std::string>* all, all_of(default_db));
    for (const auto& m : *all) out.push_back({default_db, m});
    return out;
  }
  for (const Source& src : sources) {
    const auto* m = std::get_if<Measurement>(&src.node);
    if (m == nullptr) return absl::InvalidArgumentError("subqueries are not allowed here");
    const std::string& db = m->database.empty() ? default_db : m->database;
    ASSIGN_OR_RETURN(const std::vector<std::string>* all, all_of(db));
    // m2mdb has one retention policy per database, "autogen".
    if (!m->retention_policy.empty() && m->retention_policy != "autogen") {
      return absl::NotFoundError(absl::StrCat("retention policy not found: ", m->retention_policy));
    }
    if (m->regex.has_value()) {
      RE2 re(m->regex->pattern);
      for (const auto& n : *all) {
        if (RE2::PartialMatch(n, re)) out.push_back({db, n});
      }
    } else if (std::find(all->begin(), all->end(), m->name) != all->end()) {
      out.push_back({db, m->name});
    }
  }
  auto key = [](const Target& t) { return std::tie(t.measurement, t.database); };
  std::sort(out.begin(), out.end(), [&](const Target& a, const Target& b) { return key(a) < key(b); });
  out.erase(
      std::unique(out.begin(), out.end(), [&](const Target& a, const Target& b) { return key(a) == key(b); }),
      out.end());
  return out;
}

// The series of `measurement` matching a tag-only condition.
StatusOr<std::vector<SeriesKey>> MatchingSeries(const std::string& db, const std::string& measurement,
                                                const Expr* cond, ExecContext* ctx) {
  planner::TimeRange range;
  ASSIGN_OR_RETURN(ExprPtr rest, planner::ExtractTimeRange(cond, ctx->now, &range));
  planner::ConditionParts parts = planner::SplitCondition(rest.get(), [](const VarRef&) { return false; });
  ASSIGN_OR_RETURN(auto series, ctx->db->Series(db, measurement, parts.matchers));
  if (!parts.tag_filter) return series;
  std::vector<SeriesKey> out;
  for (auto& s : series) {
    if (EvalTagCondition(*parts.tag_filter, s.tags)) out.push_back(std::move(s));
  }
  return out;
}

void ApplyLimits(const Limits& l, std::vector<std::vector<Value>>* rows) {
  if (l.offset > 0) rows->erase(rows->begin(), rows->begin() + std::min<size_t>(rows->size(), l.offset));
  if (l.limit > 0 && rows->size() > static_cast<size_t>(l.limit)) rows->resize(l.limit);
}

bool ReferencesField(const Expr& e, const std::string& db, const std::vector<std::string>& ms,
                     ExecContext* ctx) {
  std::set<std::string> fields;
  for (const auto& m : ms) {
    auto fk = ctx->db->FieldKeys(db, m);
    if (fk.ok()) {
      for (const auto& f : *fk) fields.insert(f.name);
    }
  }
  bool found = false;
  WalkExpr(e, [&](const Expr& x) {
    if (const auto* v = x.As<VarRef>(); v != nullptr && fields.count(v->name)) found = true;
    return !found;
  });
  return found;
}

}  // namespace

StatusOr<std::vector<ResultSeries>> RunMeta(const Statement& st, ExecContext* ctx) {
  std::vector<ResultSeries> out;
  DB* db = ctx->db;
  if (st.As<ShowDatabasesStatement>()) {
    ResultSeries rs;
    rs.name = "databases";
    rs.columns = {"name"};
    auto dbs = db->ListDatabases();
    std::sort(dbs.begin(), dbs.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    for (const auto& d : dbs) rs.values.push_back({d.name});
    out.push_back(std::move(rs));
    return out;
  }
  if (const auto* s = st.As<ShowRetentionPoliciesStatement>()) {
    ASSIGN_OR_RETURN(std::string name, ResolveDatabase(s->database, ctx));
    for (const auto& d : db->ListDatabases()) {
      if (d.name != name) continue;
      ResultSeries rs;
      rs.columns = {"name", "duration", "shardGroupDuration", "replicaN", "default"};
      rs.values.push_back({std::string("autogen"), GoDuration(d.retention_ns),
                           GoDuration(ShardGroupDuration(d.retention_ns)), int64_t{1}, true});
      out.push_back(std::move(rs));
    }
    return out;
  }
  if (const auto* s = st.As<CreateDatabaseStatement>()) {
    DatabaseOptions o;
    o.name = s->name;
    if (s->duration_ns.has_value()) o.retention_ns = *s->duration_ns;
    if (s->shard_duration_ns.has_value()) o.partition_ns = *s->shard_duration_ns;
    RETURN_IF_ERROR(db->CreateDatabase(o));
    if (s->duration_ns.has_value()) RETURN_IF_ERROR(db->SetRetention(s->name, *s->duration_ns));
    return out;
  }
  if (const auto* s = st.As<DropDatabaseStatement>()) {
    Status d = db->DropDatabase(s->name);
    if (!d.ok() && d.code() != absl::StatusCode::kNotFound) return d;
    return out;
  }
  if (const auto* s = st.As<DropMeasurementStatement>()) {
    ASSIGN_OR_RETURN(std::string name, ResolveDatabase("", ctx));
    Status d = db->DropMeasurement(name, s->name);
    if (!d.ok() && d.code() != absl::StatusCode::kNotFound) return d;
    return out;
  }
  if (st.As<DeleteStatement>() || st.As<DropSeriesStatement>()) {
    const bool del = st.As<DeleteStatement>() != nullptr;
    const std::vector<Source>& sources =
        del ? st.As<DeleteStatement>()->sources : st.As<DropSeriesStatement>()->sources;
    const Expr* cond =
        del ? st.As<DeleteStatement>()->condition.get() : st.As<DropSeriesStatement>()->condition.get();
    // A source's own database (`DELETE FROM b..m`) is the one acted on, as
    // for SHOW: the db= database was, wrongly.
    ASSIGN_OR_RETURN(auto targets, SourceTargets(sources, "", ctx));
    planner::TimeRange range;
    ASSIGN_OR_RETURN(ExprPtr rest, planner::ExtractTimeRange(cond, ctx->now, &range));
    if (!del && (range.has_min() || range.has_max())) {
      return absl::InvalidArgumentError("DROP SERIES doesn't support time in WHERE clause");
    }
    for (const Target& t : targets) {
      if (rest && ReferencesField(*rest, t.database, {t.measurement}, ctx)) {
        return absl::InvalidArgumentError("fields not supported in WHERE clause during deletion");
      }
    }
    planner::ConditionParts parts = planner::SplitCondition(rest.get(), [](const VarRef&) { return false; });
    for (const Target& t : targets) {
      const std::string& name = t.database;
      const std::string& m = t.measurement;
      std::vector<std::vector<TagMatcher>> sets;
      if (parts.tag_filter) {
        // Complex tag conditions: act series by series (exact key match).
        ASSIGN_OR_RETURN(auto series, MatchingSeries(name, m, rest.get(), ctx));
        ASSIGN_OR_RETURN(auto tag_keys, db->TagKeys(name, m));
        for (const auto& s : series) {
          // Equal on the series' tags and empty on the measurement's other
          // tag keys: without the latter a series with more tags (cpu,dc=x,
          // host=a beside cpu,host=a) would go with it.
          std::vector<TagMatcher> exact;
          for (const auto& [tk, tv] : s.tags) exact.push_back({tk, TagOp::kEqual, tv});
          for (const std::string& tk : tag_keys) {
            if (std::none_of(s.tags.begin(), s.tags.end(), [&](const auto& t) { return t.first == tk; })) {
              exact.push_back({tk, TagOp::kEqual, ""});
            }
          }
          sets.push_back(std::move(exact));
        }
      } else {
        sets.push_back(parts.matchers);
      }
      for (const auto& mset : sets) {
        if (del) {
          DeleteRequest r;
          r.database = name;
          r.measurement = m;
          r.matchers = mset;
          r.min_time = range.min;
          r.max_time = range.max;
          RETURN_IF_ERROR(db->Delete(r));
        } else {
          RETURN_IF_ERROR(db->DropSeries(name, m, mset));
        }
      }
    }
    return out;
  }
  if (const auto* s = st.As<ShowMeasurementsStatement>()) {
    auto resolved = ResolveDatabase(s->database, ctx);
    // influxd answers SHOW MEASUREMENTS on a missing database with nothing.
    if (!resolved.ok() && resolved.status().code() == absl::StatusCode::kNotFound) return out;
    ASSIGN_OR_RETURN(std::string name, resolved);
    ASSIGN_OR_RETURN(auto all, db->Measurements(name));
    std::vector<std::vector<Value>> rows;
    for (const auto& m : all) {
      if (s->with.has_value()) {
        const Measurement& src = s->with->source;
        if (src.regex.has_value()) {
          if (!RE2::PartialMatch(m, RE2(src.regex->pattern))) continue;
        } else if (m != src.name) {
          continue;
        }
      }
      if (s->condition) {
        ASSIGN_OR_RETURN(auto keys, MatchingSeries(name, m, s->condition.get(), ctx));
        if (keys.empty()) continue;
      }
      rows.push_back({m});
    }
    ApplyLimits(s->limits, &rows);
    if (rows.empty()) return out;
    ResultSeries rs;
    rs.name = "measurements";
    rs.columns = {"name"};
    rs.values = std::move(rows);
    out.push_back(std::move(rs));
    return out;
  }
  if (const auto* s = st.As<ShowTagKeysStatement>()) {
    ASSIGN_OR_RETURN(auto targets, SourceTargets(s->sources, s->database, ctx));
    int64_t soff = s->limits.soffset;
    for (size_t i = 0; i < targets.size();) {
      const std::string m = targets[i].measurement;
      std::set<std::string> tk;  // over every database naming m
      for (; i < targets.size() && targets[i].measurement == m; i++) {
        const std::string& name = targets[i].database;
        if (s->condition) {
          ASSIGN_OR_RETURN(auto series, MatchingSeries(name, m, s->condition.get(), ctx));
          for (const auto& one : series) {
            for (const auto& [key, v] : one.tags) tk.insert(key);
          }
        } else {
          ASSIGN_OR_RETURN(auto keys, db->TagKeys(name, m));
          tk.insert(keys.begin(), keys.end());
        }
      }
      std::vector<std::vector<Value>> rows;
      for (const auto& k : tk) rows.push_back({k});
      ApplyLimits(s->limits, &rows);
      if (rows.empty()) continue;
      if (soff > 0) {
        soff--;
        continue;
      }
      if (s->limits.slimit > 0 && static_cast<int64_t>(out.size()) >= s->limits.slimit) break;
      ResultSeries rs;
      rs.name = m;
      rs.columns = {"tagKey"};
      rs.values = std::move(rows);
      out.push_back(std::move(rs));
    }
    return out;
  }
  if (const auto* s = st.As<ShowTagValuesStatement>()) {
    ASSIGN_OR_RETURN(auto targets, SourceTargets(s->sources, s->database, ctx));
    for (size_t i = 0; i < targets.size();) {
      const std::string m = targets[i].measurement;
      std::set<std::pair<std::string, std::string>> kv;  // over every database naming m
      for (; i < targets.size() && targets[i].measurement == m; i++) {
        const std::string& name = targets[i].database;
        ASSIGN_OR_RETURN(auto all_keys, db->TagKeys(name, m));
        std::vector<std::string> keys;
        for (const auto& k : all_keys) {
          bool ok = false;
          switch (s->key.op) {
            case TagKeyFilter::Op::kEq:
              ok = !s->key.keys.empty() && k == s->key.keys[0];
              break;
            case TagKeyFilter::Op::kNeq:
              ok = !s->key.keys.empty() && k != s->key.keys[0];
              break;
            case TagKeyFilter::Op::kIn:
              ok = std::find(s->key.keys.begin(), s->key.keys.end(), k) != s->key.keys.end();
              break;
            case TagKeyFilter::Op::kEqRegex:
              ok = RE2::PartialMatch(k, RE2(s->key.regex.pattern));
              break;
            case TagKeyFilter::Op::kNeqRegex:
              ok = !RE2::PartialMatch(k, RE2(s->key.regex.pattern));
              break;
          }
          if (ok) keys.push_back(k);
        }
        if (s->condition) {
          ASSIGN_OR_RETURN(auto series, MatchingSeries(name, m, s->condition.get(), ctx));
          for (const auto& one : series) {
            for (const auto& [k, v] : one.tags) {
              if (std::find(keys.begin(), keys.end(), k) != keys.end()) kv.emplace(k, v);
            }
          }
        } else {
          for (const auto& k : keys) {
            ASSIGN_OR_RETURN(auto vals, db->TagValues(name, m, k));
            for (auto& v : vals) kv.emplace(k, v);
          }
        }
      }
      std::vector<std::vector<Value>> rows;
      for (const auto& [k, v] : kv) rows.push_back({k, v});
      ApplyLimits(s->limits, &rows);
      if (rows.empty()) continue;
      ResultSeries rs;
      rs.name = m;
      rs.columns = {"key", "value"};
      rs.values = std::move(rows);
      out.push_back(std::move(rs));
    }
    return out;
  }
  if (const auto* s = st.As<ShowFieldKeysStatement>()) {
    ASSIGN_OR_RETURN(auto targets, SourceTargets(s->sources, s->database, ctx));
    for (size_t i = 0; i < targets.size();) {
      const std::string m = targets[i].measurement;
      std::map<std::string, FieldType> fields;  // over every database naming m; the first type wins
      for (; i < targets.size() && targets[i].measurement == m; i++) {
        ASSIGN_OR_RETURN(auto fks, db->FieldKeys(targets[i].database, m));
        for (const auto& f : fks) fields.emplace(f.name, f.type);
      }
      std::vector<std::vector<Value>> rows;
      for (const auto& [f, type] : fields) rows.push_back({f, std::string(FieldTypeName(type))});
      ApplyLimits(s->limits, &rows);
      if (rows.empty()) continue;
      ResultSeries rs;
      rs.name = m;
      rs.columns = {"fieldKey", "fieldType"};
      rs.values = std::move(rows);
      out.push_back(std::move(rs));
    }
    return out;
  }
  if (const auto* s = st.As<ShowSeriesStatement>()) {
    ASSIGN_OR_RETURN(auto targets, SourceTargets(s->sources, s->database, ctx));
    std::vector<std::vector<Value>> rows;
    for (const Target& t : targets) {
      ASSIGN_OR_RETURN(auto series, MatchingSeries(t.database, t.measurement, s->condition.get(), ctx));
      for (auto& one : series) rows.push_back({std::move(one.key)});
    }
    ApplyLimits(s->limits, &rows);
    if (rows.empty()) return out;
    ResultSeries rs;
    rs.columns = {"key"};
    rs.values = std::move(rows);
    out.push_back(std::move(rs));
    return out;
  }
  if (st.As<CreateContinuousQueryStatement>() || st.As<ShowContinuousQueriesStatement>() ||
      st.As<DropContinuousQueryStatement>()) {
    if (ctx->cqs == nullptr) {
      return absl::UnimplementedError("continuous queries are not enabled (run them in `m2mdb serve`)");
    }
    if (const auto* s = st.As<CreateContinuousQueryStatement>()) {
      RETURN_IF_ERROR(ctx->cqs->Create(*s));
      return out;
    }
    if (const auto* s = st.As<DropContinuousQueryStatement>()) {
      RETURN_IF_ERROR(ctx->cqs->Drop(s->database, s->name));
      return out;
    }
    return ctx->cqs->Show();
  }
  if (st.As<ShowCardinalityStatement>())
    return absl::UnimplementedError("SHOW ... CARDINALITY is not supported");
  if (st.As<CreateRetentionPolicyStatement>() || st.As<AlterRetentionPolicyStatement>() ||
      st.As<DropRetentionPolicyStatement>()) {
    return absl::UnimplementedError(
        "retention policy statements are not supported: m2mdb has one retention per database (CREATE "
        "DATABASE ... "
        "WITH DURATION)");
  }
  return absl::UnimplementedError("statement not supported");
}

}  // namespace m2mdb::query::exec
