// query/executor.cc — Executor::Execute: parse, run statement by statement.
#include "m2mdb/query/executor.h"

#include <chrono>

#include "query/exec/exec.h"
#include "query/parser/parser.h"

namespace m2mdb::query {

Executor::Executor(DB* db) : db_(db) {}

std::vector<StatementResult> Executor::Execute(std::string_view text, const QueryOptions& options) const {
  std::vector<StatementResult> results;
  // Syntax errors fail the whole request; semantic (Validate) errors fail
  // their statement only, when its turn comes, as in influxd.
  ParseOptions popts;
  popts.validate = false;
  auto parsed = ParseQuery(text, popts);
  if (!parsed.ok()) {
    StatementResult r;
    r.parse_error = true;
    r.error = std::string(ToStd(parsed.status().message()));
    results.push_back(std::move(r));
    return results;
  }
  return Execute(*parsed, options);
}

std::vector<StatementResult> Executor::Execute(const std::vector<Statement>& statements,
                                               const QueryOptions& options) const {
  std::vector<StatementResult> results;
  int64_t now = options.now;
  if (now == 0) {
    now = std::chrono::duration_cast<std::chrono::nanoseconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count();
  }
  for (size_t i = 0; i < statements.size(); i++) {
    const Statement& st = statements[i];
    StatementResult r;
    r.statement_id = static_cast<int>(i);
    exec::ExecContext ctx;
    ctx.db = db_;
    ctx.options = &options;
    ctx.now = now;
    if (options.timeout.count() > 0) {
      ctx.has_deadline = true;
      ctx.deadline = std::chrono::steady_clock::now() + options.timeout;
    }
    StatusOr<std::vector<ResultSeries>> out;
    Status valid = Validate(st);
    if (!valid.ok()) {
      out = valid;
    } else if (const auto* sel = st.As<SelectStatement>()) {
      out = exec::RunSelect(*sel, &ctx, planner::TimeRange{});
    } else {
      out = exec::RunMeta(st, &ctx);
    }
    if (!out.ok()) {
      r.error = std::string(ToStd(out.status().message()));
      results.push_back(std::move(r));
      break;  // influxd stops at the first failing statement
    }
    r.series = std::move(*out);
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace m2mdb::query
