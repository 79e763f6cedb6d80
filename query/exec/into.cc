// SELECT ... INTO: the statement's result rows become points of the target
// measurement (influxd's semantics: GROUP BY tags become tags, every other
// column a field, null cells are left out, rows without any value are not
// written) and the answer is influxd's one row `result` (time 0, written).
#include <utility>

#include "absl/strings/str_cat.h"

#include "query/exec/exec.h"
#include "query/parser/parser.h"

namespace m2mdb::query::exec {

namespace {

// A cell as a field value; false for null (and for nothing else).
bool CellToField(const Value& v, FieldValue* out) {
  switch (v.index()) {
    case 1:
      *out = FieldValue::Float(std::get<double>(v));
      return true;
    case 2:
      *out = FieldValue::Int(std::get<int64_t>(v));
      return true;
    case 3:
      *out = FieldValue::Uint(std::get<uint64_t>(v));
      return true;
    case 4:
      *out = FieldValue::Bool(std::get<bool>(v));
      return true;
    case 5:
      *out = FieldValue::String(std::get<std::string>(v));
      return true;
    default:
      return false;
  }
}

}  // namespace

void AppendIntoPoints(const std::vector<ResultSeries>& results, const Measurement& target,
                      std::vector<Point>* out) {
  for (const ResultSeries& rs : results) {
    if (rs.columns.empty()) continue;
    for (const auto& row : rs.values) {
      if (row.empty() || row[0].index() != 2) continue;  // no time: not a SELECT row
      Point p;
      p.measurement = target.name.empty() ? rs.name : target.name;
      for (const auto& [k, v] : rs.tags) {
        if (!v.empty()) p.tags.emplace_back(k, v);  // a series without the tag
      }
      p.timestamp = std::get<int64_t>(row[0]);
      for (size_t c = 1; c < row.size() && c < rs.columns.size(); c++) {
        FieldValue f;
        if (CellToField(row[c], &f)) p.fields.emplace_back(rs.columns[c], std::move(f));
      }
      if (!p.fields.empty()) out->push_back(std::move(p));
    }
  }
}

StatusOr<SelectStatement> WithoutInto(const SelectStatement& s) {
  // The tree has no copy (it owns its nodes); its printed form parses back
  // to an equal tree (ast.h), which is then run without the target.
  ParseOptions po;
  po.validate = false;
  ASSIGN_OR_RETURN(auto parsed, ParseQuery(String(s), po));
  if (parsed.size() != 1 || parsed[0].As<SelectStatement>() == nullptr) {
    return absl::InternalError("SELECT INTO: the statement does not print back as one SELECT");
  }
  // The target is dropped in place, before the move: g++ 12 takes a reset
  // of the moved-to copy's optional for a read of uninitialised strings
  // (-Wmaybe-uninitialized, a false positive under -O2).
  SelectStatement* select = parsed[0].As<SelectStatement>();
  select->into = std::nullopt;
  return std::move(*select);
}

StatusOr<std::vector<ResultSeries>> RunSelectInto(const SelectStatement& s, ExecContext* ctx) {
  const Measurement& target = *s.into;
  std::string database = target.database.empty() ? ctx->options->database : target.database;
  if (database.empty()) return absl::InvalidArgumentError("database name required");
  {
    bool exists = false;
    for (const auto& d : ctx->db->ListDatabases()) exists = exists || d.name == database;
    if (!exists) return absl::NotFoundError(absl::StrCat("database not found: ", database));
  }
  ASSIGN_OR_RETURN(SelectStatement plain, WithoutInto(s));
  ASSIGN_OR_RETURN(std::vector<ResultSeries> rows, RunSelect(plain, ctx, planner::TimeRange{}));
  std::vector<Point> points;
  AppendIntoPoints(rows, target, &points);
  int64_t written = 0;
  if (!points.empty()) {
    WriteOptions wo;
    wo.retention_policy = target.retention_policy;
    ASSIGN_OR_RETURN(WriteResult wr, ctx->db->WritePoints(database, points, wo));
    written = static_cast<int64_t>(wr.points_written);
    if (!wr.errors.empty()) {
      // influxd fails the statement with the first point it could not write
      // (a field type conflict, mostly); the others are written.
      return absl::InvalidArgumentError(wr.errors.front().reason);
    }
  }
  ResultSeries rs;
  rs.name = "result";
  rs.columns = {"time", "written"};
  rs.values.push_back({Value(int64_t{0}), Value(written)});
  std::vector<ResultSeries> out;
  out.push_back(std::move(rs));
  return out;
}

}  // namespace m2mdb::query::exec
