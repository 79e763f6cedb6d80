// query/exec/meta.cc — SHOW, CREATE/DROP DATABASE, DELETE, DROP SERIES and
// DROP MEASUREMENT, rendered as influxd 1.6 renders them.
#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/match.h"
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

constexpr int64_t kHour = 3600LL * 1000000000;

// influxd's normalisedShardDuration: not given (0) = the default rule for
// the duration, below 1 h = 1 h.
int64_t NormalisedShardDuration(int64_t shard, int64_t duration) {
  if (shard == 0) return DefaultShardDuration(duration);
  return std::max(shard, kHour);
}

// influxd 1.6's checks of a policy's durations, in its order and words.
// influxd's meta.ValidName: not empty, "." or "..", no '/' or '\\', and
// every rune printable (Go's unicode.IsPrint, here without its tables:
// controls, separators other than ' ', format and private-use characters
// are refused; invalid UTF-8 reads as U+FFFD, printable, as in Go).
bool ValidName(std::string_view name) {
  if (name.empty() || name == "." || name == ".." || name.find_first_of("/\\") != std::string_view::npos) {
    return false;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(name.data());
  const auto* end = p + name.size();
  while (p < end) {
    uint32_t r = *p;
    int n = r < 0x80 ? 0 : (r & 0xE0) == 0xC0 ? 1 : (r & 0xF0) == 0xE0 ? 2 : (r & 0xF8) == 0xF0 ? 3 : -1;
    if (n < 0 || end - p <= n) {
      p++;  // U+FFFD
      continue;
    }
    r &= n == 0 ? 0x7F : (0x3F >> n);
    bool ok = true;
    for (int i = 1; i <= n; i++) {
      if ((p[i] & 0xC0) != 0x80) ok = false;
      r = (r << 6) | (p[i] & 0x3F);
    }
    p += ok ? n + 1 : 1;
    if (!ok) continue;
    if (r < 0x20 || (r >= 0x7F && r <= 0xA0) || r == 0xAD || r == 0x1680 || (r >= 0x2000 && r <= 0x200F) ||
        (r >= 0x2028 && r <= 0x202F) || (r >= 0x205F && r <= 0x206F) || r == 0x3000 || r == 0xFEFF ||
        (r >= 0xE000 && r <= 0xF8FF) || (r >= 0xFFF9 && r <= 0xFFFB)) {
      return false;
    }
  }
  return true;
}

Status CheckPolicyDurations(int64_t duration, int64_t shard) {
  if (duration != 0 && duration < kHour) {
    return absl::InvalidArgumentError("retention policy duration must be at least 1h0m0s");
  }
  if (duration != 0 && duration < shard) {
    return absl::InvalidArgumentError("retention policy duration must be greater than the shard duration");
  }
  return absl::OkStatus();
}

// The engine says `database not found: "x"` (quoted, for embedders);
// influxd's statements say `database not found: x`.
Status InfluxdWords(Status s, const std::string& db) {
  if (absl::IsNotFound(s) && absl::StartsWith(s.message(), "database not found")) {
    return absl::NotFoundError(absl::StrCat("database not found: ", db));
  }
  return s;
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
  std::string retention_policy = {};  // as the source names it; empty = the default
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
    if (!m->retention_policy.empty()) {
      ASSIGN_OR_RETURN(auto rps, ctx->db->ListRetentionPolicies(db));
      if (std::none_of(rps.begin(), rps.end(),
                       [&](const auto& r) { return r.name == m->retention_policy; })) {
        return absl::NotFoundError(absl::StrCat("retention policy not found: ", m->retention_policy));
      }
    }
    if (m->regex.has_value()) {
      RE2 re(m->regex->pattern);
      for (const auto& n : *all) {
        if (RE2::PartialMatch(n, re)) out.push_back({db, n, m->retention_policy});
      }
    } else if (std::find(all->begin(), all->end(), m->name) != all->end()) {
      out.push_back({db, m->name, m->retention_policy});
    }
  }
  auto key = [](const Target& t) { return std::tie(t.measurement, t.database, t.retention_policy); };
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
    ASSIGN_OR_RETURN(auto rps, db->ListRetentionPolicies(name));  // in creation order, as influxd
    ResultSeries rs;
    rs.columns = {"name", "duration", "shardGroupDuration", "replicaN", "default"};
    for (const auto& r : rps) {
      rs.values.push_back(
          {r.name, GoDuration(r.duration_ns), GoDuration(r.shard_duration_ns), r.replication, r.is_default});
    }
    out.push_back(std::move(rs));
    return out;
  }
  if (const auto* s = st.As<CreateDatabaseStatement>()) {
    // influxd: without WITH, an existing database is left alone; with it,
    // see below.
    if (!ValidName(s->name) || (!s->rp_name.empty() && !ValidName(s->rp_name))) {
      return absl::InvalidArgumentError("invalid name");  // influxd's words
    }
    DatabaseOptions o;
    o.name = s->name;
    o.retention_ns = s->duration_ns.value_or(0);
    o.partition_ns = NormalisedShardDuration(s->shard_duration_ns.value_or(0), o.retention_ns);
    o.retention_policy = s->rp_name.empty() ? "autogen" : s->rp_name;
    o.replication = s->replication.value_or(1);
    if (o.replication < 1) return absl::InvalidArgumentError("replication factor must be greater than 0");
    RETURN_IF_ERROR(CheckPolicyDurations(o.retention_ns, o.partition_ns));
    auto existing = db->ListRetentionPolicies(o.name);
    if (existing.ok()) {
      if (!s->with) return out;
      // influxd's CreateDatabaseWithRetentionPolicy: a database without
      // policies gets this one as its default; otherwise the named policy
      // must exist and match what the statement gives (RetentionPolicySpec.
      // Matches: an unset duration or replication is not compared).
      if (existing->empty()) {
        RETURN_IF_ERROR(db->CreateRetentionPolicy(o.name, {o.retention_policy, o.retention_ns, o.partition_ns,
                                                           o.replication, /*is_default=*/true}));
        return out;
      }
      for (const auto& r : *existing) {
        if (r.name != o.retention_policy) continue;
        if ((!s->duration_ns || *s->duration_ns == r.duration_ns) &&
            (!s->replication || *s->replication == r.replication) &&
            NormalisedShardDuration(s->shard_duration_ns.value_or(0), r.duration_ns) == r.shard_duration_ns) {
          return out;
        }
        break;
      }
      return absl::AlreadyExistsError("retention policy conflicts with an existing policy");
    }
    RETURN_IF_ERROR(db->CreateDatabase(o));
    return out;
  }
  if (const auto* s = st.As<CreateRetentionPolicyStatement>()) {
    if (!ValidName(s->name)) return absl::InvalidArgumentError("invalid name");  // influxd's words
    RetentionPolicyInfo rp;
    rp.name = s->name;
    rp.duration_ns = s->duration_ns;
    rp.shard_duration_ns = s->shard_duration_ns;
    rp.replication = s->replication;
    rp.is_default = s->is_default;
    RETURN_IF_ERROR(InfluxdWords(db->CreateRetentionPolicy(s->database, rp), s->database));
    return out;
  }
  if (const auto* s = st.As<AlterRetentionPolicyStatement>()) {
    RetentionPolicyUpdate u;
    u.duration_ns = s->duration_ns;
    u.shard_duration_ns = s->shard_duration_ns;
    u.replication = s->replication;
    u.make_default = s->is_default;
    RETURN_IF_ERROR(InfluxdWords(db->AlterRetentionPolicy(s->database, s->name, u), s->database));
    return out;
  }
  if (const auto* s = st.As<DropRetentionPolicyStatement>()) {
    // influxd answers a missing database with success too.
    Status d = db->DropRetentionPolicy(s->database, s->name);
    if (!d.ok() && !absl::IsNotFound(d)) return d;
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
        // Per retention policy, as influxd (the source's, else the default).
        auto fks = db->FieldKeysIn(targets[i].database, targets[i].retention_policy, m);
        if (!fks.ok() && absl::IsNotFound(fks.status()) &&
            absl::StartsWith(fks.status().message(), "retention policy not found")) {
          continue;  // the default was dropped: nothing to list
        }
        RETURN_IF_ERROR(fks.status());
        for (const auto& f : *fks) fields.emplace(f.name, f.type);
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
  return absl::UnimplementedError("statement not supported");
}

}  // namespace m2mdb::query::exec
