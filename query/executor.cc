// query/executor.cc — Executor::Execute: parse, run statement by statement.
#include "m2mdb/query/executor.h"

#include <chrono>
#include <new>

#include "query/exec/exec.h"
#include "query/parser/parser.h"

namespace m2mdb::query {

Executor::Executor(DB* db) : db_(db) {}
Executor::Executor(DB* db, ContinuousQueries* cqs) : db_(db), cqs_(cqs) {}

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

namespace {

int64_t NowOr(int64_t now) {
  if (now != 0) return now;
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void RunStatementIn(const Statement& st, exec::ExecContext* ctx,
                    const std::function<Status(ResultSeries&&)>* emit, bool* paged,
                    StatusOr<std::vector<ResultSeries>>* out);

// Runs statement `i`; with `emit` set, a statement RunSelectPaged takes
// hands its rows over page by page (and *paged is set).
StatementResult RunStatement(DB* db, ContinuousQueries* cqs, const Statement& st, size_t i,
                             const QueryOptions& options, int64_t now,
                             const std::function<Status(ResultSeries&&)>* emit, bool* paged) {
  StatementResult r;
  r.statement_id = static_cast<int>(i);
  exec::ExecContext ctx;
  ctx.db = db;
  ctx.cqs = cqs;
  ctx.options = &options;
  ctx.now = now;
  if (options.timeout.count() > 0) {
    ctx.has_deadline = true;
    ctx.deadline = std::chrono::steady_clock::now() + options.timeout;
  }
  StatusOr<std::vector<ResultSeries>> out;
  try {
    RunStatementIn(st, &ctx, emit, paged, &out);
  } catch (const std::bad_alloc&) {
    // One statement's allocation failure fails that statement (its memory
    // is given back as the stack unwinds), never the process or the request.
    out = WithErrorKind(absl::ResourceExhaustedError("query memory limit exceeded: out of memory"),
                        ErrorKind::kQueryMemory);
  }
  if (!out.ok()) {
    r.error = std::string(ToStd(out.status().message()));
    r.kind = ErrorKindOf(out.status());
  } else {
    r.series = std::move(*out);
    const auto* sel = st.As<SelectStatement>();
    if (sel != nullptr && !sel->timezone.empty()) {
      for (ResultSeries& s : r.series) s.time_zone = sel->timezone;
    }
  }
  return r;
}

void RunStatementIn(const Statement& st, exec::ExecContext* ctxp,
                    const std::function<Status(ResultSeries&&)>* emit, bool* paged,
                    StatusOr<std::vector<ResultSeries>>* outp) {
  exec::ExecContext& ctx = *ctxp;
  StatusOr<std::vector<ResultSeries>>& out = *outp;
  Status valid = Validate(st);
  const auto* sel = st.As<SelectStatement>();
  if (!valid.ok()) {
    out = valid;
  } else if (sel != nullptr && sel->into.has_value()) {
    out = exec::RunSelectInto(*sel, &ctx);
  } else if (sel != nullptr && emit != nullptr) {
    // Pages carry the statement's tz() zone like a whole answer does.
    std::function<Status(ResultSeries &&)> zoned = [&](ResultSeries&& rs) -> Status {
      rs.time_zone = sel->timezone;
      return (*emit)(std::move(rs));
    };
    StatusOr<bool> p = exec::RunSelectPaged(*sel, &ctx, sel->timezone.empty() ? *emit : zoned);
    if (!p.ok()) {
      out = p.status();
    } else if (*p) {
      *paged = true;
      out = std::vector<ResultSeries>{};
    } else {
      out = exec::RunSelect(*sel, &ctx, planner::TimeRange{});
    }
  } else if (sel != nullptr) {
    ctx.columnar_rows = ctx.options->columnar_rows;
    out = exec::RunSelect(*sel, &ctx, planner::TimeRange{});
  } else if (const auto* ex = st.As<ExplainStatement>()) {
    out = exec::RunExplain(ex->select, &ctx);
  } else {
    out = exec::RunMeta(st, &ctx);
  }
}

}  // namespace

std::vector<StatementResult> Executor::Execute(const std::vector<Statement>& statements,
                                               const QueryOptions& options) const {
  std::vector<StatementResult> results;
  const int64_t now = NowOr(options.now);
  for (size_t i = 0; i < statements.size(); i++) {
    bool paged = false;
    results.push_back(RunStatement(db_, cqs_, statements[i], i, options, now, nullptr, &paged));
    if (!results.back().error.empty()) break;  // influxd stops at the first failing statement
  }
  return results;
}

void Executor::ExecuteStreaming(const std::vector<Statement>& statements, const QueryOptions& options,
                                const std::function<bool(StatementResult&&, bool)>& emit) const {
  const int64_t now = NowOr(options.now);
  for (size_t i = 0; i < statements.size(); i++) {
    bool stopped = false;
    std::function<Status(ResultSeries &&)> piece = [&](ResultSeries&& rs) -> Status {
      StatementResult r;
      r.statement_id = static_cast<int>(i);
      r.series.push_back(std::move(rs));
      if (!emit(std::move(r), true)) {
        stopped = true;
        return absl::CancelledError("query cancelled");
      }
      return absl::OkStatus();
    };
    bool paged = false;
    StatementResult r = RunStatement(db_, cqs_, statements[i], i, options, now, &piece, &paged);
    if (stopped) return;
    const bool failed = !r.error.empty();
    if (!emit(std::move(r), false) || failed) return;
  }
}

}  // namespace m2mdb::query
