// query/planner/explain.cc — a SelectPlan as text, for EXPLAIN SELECT.
//
// influxd 1.6 answers EXPLAIN with one series, column "QUERY PLAN", one row
// per line: "EXPRESSION: <call>" per call (<nil> for a raw query),
// "AUXILIARY FIELDS: ..." for the other references, then storage figures
// of its shards. The first lines keep that shape; the rest say what m2mdb's
// planner decided, so that plans can be read and tested.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

#include "query/planner/select_plan.h"

namespace m2mdb::query::planner {

namespace {

std::string Time(int64_t ns) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", absl::FromUnixNanos(ns), absl::UTCTimeZone());
}

std::string Range(const TimeRange& r) {
  return absl::StrCat(r.has_min() ? Time(r.min) : "-inf", " .. ", r.has_max() ? Time(r.max) : "+inf");
}

const char* OpName(TagOp op) {
  switch (op) {
    case TagOp::kEqual:
      return " = ";
    case TagOp::kNotEqual:
      return " != ";
    case TagOp::kRegex:
      return " =~ ";
    case TagOp::kNotRegex:
      return " !~ ";
  }
  return " ? ";
}

std::string FillName(const Fill& f) {
  switch (f.mode) {
    case FillMode::kNull:
      return "null";
    case FillMode::kNone:
      return "none";
    case FillMode::kPrevious:
      return "previous";
    case FillMode::kLinear:
      return "linear";
    case FillMode::kNumber:
      if (const auto* i = std::get_if<int64_t>(&f.value)) return absl::StrCat(*i);
      return absl::StrCat(std::get<double>(f.value));
  }
  return "?";
}

}  // namespace

std::vector<std::string> ExplainPlan(const SelectPlan& plan) {
  const SelectStatement& s = *plan.statement;
  std::vector<std::string> out;
  // influxd's lines.
  if (plan.slots.empty()) {
    out.push_back("EXPRESSION: <nil>");
  } else {
    for (const Slot& sl : plan.slots) out.push_back(absl::StrCat("EXPRESSION: ", String(*sl.expr)));
  }
  std::vector<std::string> aux;
  if (plan.aggregate) {
    for (const VarRef& v : plan.aux) aux.push_back(QuoteIdent(v.name));
  } else {
    for (const OutField& f : plan.fields) aux.push_back(String(*f.expr));
  }
  if (!aux.empty()) out.push_back(absl::StrCat("AUXILIARY FIELDS: ", absl::StrJoin(aux, ", ")));

  // The plan.
  out.push_back(absl::StrCat("QUERY: ", plan.aggregate ? "aggregate" : "raw"));
  std::vector<std::string> cols{plan.time_column};
  cols.insert(cols.end(), plan.columns.begin(), plan.columns.end());
  out.push_back(absl::StrCat("COLUMNS: ", absl::StrJoin(cols, ", ")));
  out.push_back(absl::StrCat("TIME RANGE: ", Range(plan.range)));
  if (plan.empty) {
    out.push_back("EMPTY: the time range holds no time");
    return out;
  }
  if (plan.has_time_group) {
    const int64_t iv = plan.tdim.interval_ns;
    out.push_back(absl::StrCat("GROUP BY TIME: ", FormatDuration(iv), " offset ",
                               FormatDuration(WindowOffset(plan.tdim))));
  }
  if (plan.aggregate) {
    out.push_back(absl::StrCat("FILL: ", FillName(s.fill)));
    if (plan.partial) {
      out.push_back(absl::StrCat(
          "PARTIAL AGGREGATION: ", plan.partial_windows, plan.partial_windows == 1 ? " window" : " windows",
          plan.has_time_group ? absl::StrCat(" from ", Time(plan.partial_first)) : std::string()));
    } else {
      out.push_back("PARTIAL AGGREGATION: no (points merged per group)");
    }
  }
  out.push_back(absl::StrCat("ORDER: time ", plan.desc ? "DESC" : "ASC"));
  if (s.limits.limit > 0 || s.limits.offset > 0) {
    out.push_back(absl::StrCat("LIMIT: ", s.limits.limit, " OFFSET: ", s.limits.offset));
  }
  if (s.limits.slimit > 0 || s.limits.soffset > 0) {
    out.push_back(absl::StrCat("SLIMIT: ", s.limits.slimit, " SOFFSET: ", s.limits.soffset));
  }
  if (plan.streamable) out.push_back("STREAMED: page by page through time (chunked answers)");
  out.push_back(absl::StrCat("NUMBER OF SOURCES: ", plan.sources.size()));
  for (size_t k = 0; k < plan.sources.size(); k++) {
    const SourceRef& src = plan.sources[k];
    const SourcePlan& sp = plan.source_plans[k];
    if (src.subquery) {
      out.push_back(
          absl::StrCat("SOURCE: subquery ", QuoteIdent(src.measurement), " (", src.rows.size(), " series)"));
    } else {
      out.push_back(absl::StrCat("SOURCE: ", QuoteIdent(src.database), ".", QuoteIdent(src.measurement)));
    }
    if (sp.skip) {
      out.push_back("  SKIPPED: no selected field");
      continue;
    }
    if (!sp.parts.matchers.empty()) {
      std::vector<std::string> ms;
      for (const TagMatcher& m : sp.parts.matchers) {
        ms.push_back(absl::StrCat(
            QuoteIdent(m.key), OpName(m.op),
            m.op == TagOp::kRegex || m.op == TagOp::kNotRegex ? "/" + m.value + "/" : QuoteString(m.value)));
      }
      out.push_back(absl::StrCat("  INDEX MATCHERS: ", absl::StrJoin(ms, " AND ")));
    }
    if (sp.parts.tag_filter) out.push_back(absl::StrCat("  TAG FILTER: ", String(*sp.parts.tag_filter)));
    if (sp.parts.row_filter) out.push_back(absl::StrCat("  ROW FILTER: ", String(*sp.parts.row_filter)));
    std::vector<std::string> read;
    for (const std::string& f : sp.read_list.names()) read.push_back(QuoteIdent(f));
    out.push_back(absl::StrCat("  FIELDS READ: ", absl::StrJoin(read, ", ")));
    if (!sp.dims.empty()) {
      std::vector<std::string> dims;
      for (const std::string& d : sp.dims) dims.push_back(QuoteIdent(d));
      out.push_back(absl::StrCat("  GROUP BY TAGS: ", absl::StrJoin(dims, ", ")));
    }
    if (plan.aggregate) {
      out.push_back(
          absl::StrCat("  REDUCE: ", sp.use_partial ? "per series in the scan" : "merged points per group"));
      out.push_back(absl::StrCat("  BLOCK STATISTICS: ", sp.use_summaries ? "yes" : "no"));
    }
    if (sp.limit_points > 0) {
      out.push_back(absl::StrCat("  SCAN LIMIT: ", sp.limit_points, " points per series and field"));
    }
  }
  return out;
}

}  // namespace m2mdb::query::planner
