// GET and POST /query: parameters (form body first, then the URL), bound
// parameters, parsing, the token's scope per statement, one of the
// --max-concurrent-queries slots (QuerySlot), then either the whole answer
// (JSON or CSV) or, with chunked=true, statements run while the answer is
// streamed (chunked_json.h).
#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <malloc.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

#include "m2mdb/log.h"
#include "m2mdb/query/parse.h"
#include "server/api_response.h"
#include "server/chunked_json.h"
#include "server/http_server_impl.h"
#include "server/user_statements.h"

namespace m2mdb::server {
namespace {

// Gives the memory of a big answer back to the system: glibc keeps freed
// small blocks (the cells) in its arenas, and RSS stayed at 4.7 GB after
// three big SELECT *s. Only after answers of at least kTrimCells cells:
// malloc_trim walks every arena.
void TrimAfterBigAnswer(size_t cells) {
  constexpr size_t kTrimCells = size_t{1} << 20;
  if (cells >= kTrimCells) malloc_trim(0);
}

// Whether q's first word is SELECT: then it is neither a user nor a
// subscription statement (IsUserQuery and IsSubscriptionQuery go by the
// first words too), and their tokenizing of the whole text, a tenth of
// a small query's instructions, is skipped.
bool StartsWithSelect(std::string_view q) {
  size_t i = 0;
  while (i < q.size() && (q[i] == ' ' || q[i] == '\t' || q[i] == '\n' || q[i] == '\r')) i++;
  static constexpr char kSelect[] = "select";
  if (q.size() - i < 6) return false;
  for (size_t k = 0; k < 6; k++) {
    if ((q[i + k] | 0x20) != kSelect[k]) return false;
  }
  if (q.size() == i + 6) return true;
  const unsigned char c = static_cast<unsigned char>(q[i + 6]);
  return !(std::isalnum(c) || c == '_' || c >= 0x80);
}

size_t CountCells(const std::vector<query::StatementResult>& results) {
  size_t cells = 0;
  for (const auto& r : results) {
    for (const auto& s : r.series) cells += s.RowCount() * (s.columns.size() + 1);
  }
  return cells;
}

// One of the --max-concurrent-queries slots plus the in-flight gauge, given
// back when it goes out of scope (RAII: no path out of HandleQuery, an
// exception included, can keep it).
class QuerySlot {
 public:
  // A slot, or nothing when `limit` (> 0) slots are taken; limit <= 0 counts
  // without limiting.
  static std::optional<QuerySlot> TryAcquire(std::atomic<int>* running, int limit, ServerMetrics* metrics) {
    if (running->fetch_add(1) >= limit && limit > 0) {
      running->fetch_sub(1);
      return std::nullopt;
    }
    metrics->QueryStarted();
    return std::optional<QuerySlot>(std::in_place, running, metrics);
  }
  QuerySlot(std::atomic<int>* running, ServerMetrics* metrics) : running_(running), metrics_(metrics) {}
  ~QuerySlot() {
    if (running_ != nullptr) {
      running_->fetch_sub(1);
      metrics_->QueryFinished();
    }
  }
  QuerySlot(QuerySlot&& o) noexcept : running_(std::exchange(o.running_, nullptr)), metrics_(o.metrics_) {}
  QuerySlot(const QuerySlot&) = delete;
  QuerySlot& operator=(const QuerySlot&) = delete;
  QuerySlot& operator=(QuerySlot&&) = delete;

 private:
  std::atomic<int>* running_;
  ServerMetrics* metrics_;
};

}  // namespace

void HttpServer::Impl::HandlePostQuery(const Request& req, Response& res, const BodyReader& reader) {
  std::string_view body;
  if (!ReadBody(req, res, reader, &body)) return;
  ParamMap form;
  std::string ct = req.Header("Content-Type");
  if (ct.empty() || absl::StrContains(ct, "x-www-form-urlencoded")) {
    ParseQueryString(body, &form);
  }
  tls_buffers.Trim();
  HandleQuery(req, res, &form);
}

void HttpServer::Impl::HandleQuery(const Request& req, Response& res, const ParamMap* form) {
  Params params(req, form);
  AuthResult auth = Authenticate(req, params, res);
  if (!auth.ok) return;
  std::string q = params.Get("q");
  if (q.empty()) return SetError(res, 400, "missing required parameter \"q\"");
  std::string database = params.Get("db");
  if (!StartsWithSelect(q)) {
    if (IsUserQuery(q)) return HandleUserQuery(req, res, params, auth, q);
    if (IsSubscriptionQuery(q)) return HandleSubscriptionQuery(req, res, params, auth, q);
  }

  query::ParseOptions po;
  po.validate = false;  // compile errors are per statement, from the executor
  std::string perr;
  if (params.Has("params") && !ParseJsonParams(params.Get("params"), &po, &perr)) {
    return SetError(res, 400, perr);
  }
  auto statements = query::ParseQuery(q, po);
  if (!statements.ok()) return SetError(res, 400, std::string(ToStd(statements.status().message())));

  if (auth.token != nullptr && !AuthorizeStatements(req, res, *auth.token, *statements, database)) return;
  if (auth.user && !AuthorizeUserStatements(req, res, *auth.user, *statements, database)) return;
  std::unique_lock<std::mutex> ddl(ddl_mu_, std::defer_lock);
  for (const auto& st : *statements) {
    if (std::holds_alternative<query::DropDatabaseStatement>(st.node) ||
        std::holds_alternative<query::DropRetentionPolicyStatement>(st.node) ||
        std::holds_alternative<query::CreateContinuousQueryStatement>(st.node)) {
      if (!ddl.owns_lock()) ddl.lock();
    }
  }
  // Grants on a dropped database go with it (influxd), before the drop: a
  // failed drop then only costs grants an admin can give again, and the
  // database can never come back with old grants.
  for (const auto& st : *statements) {
    if (const auto* d = std::get_if<query::DropDatabaseStatement>(&st.node)) {
      if (Status s = users_->DropDatabaseGrants(d->name); !s.ok()) {
        return SetError(res, 500, std::string(ToStd(s.message())));
      }
    }
    // So do its subscriptions (influxd), and a policy's with the policy.
    Status dropped;
    if (const auto* d = std::get_if<query::DropDatabaseStatement>(&st.node)) {
      dropped = subscriptions_->DropDatabase(d->name);
    } else if (const auto* p = std::get_if<query::DropRetentionPolicyStatement>(&st.node)) {
      dropped = subscriptions_->DropRetentionPolicy(p->database.empty() ? database : p->database, p->name);
    }
    if (!dropped.ok()) return SetError(res, 500, std::string(ToStd(dropped.message())));
  }
  // SHOW DATABASES lists what the caller may see: a token's databases, the
  // databases a user may read (influxd); empty = everything.
  std::function<bool(const std::string&)> shown;
  if (auth.token != nullptr && !auth.token->dbs.empty()) {
    shown = [t = *auth.token](const std::string& db) { return t.CoversDatabase(db); };
  } else if (auth.user && !auth.user->admin) {
    shown = [u = *auth.user](const std::string& db) { return u.MayRead(db); };
  }

  const int limit = options_.max_concurrent_queries;
  // The slot and the in-flight gauge are released by the guard on every path
  // out of here, an exception from the executor included: a query that died
  // of std::bad_alloc used to keep its slot, and after
  // --max-concurrent-queries of them every /query got 429 until a restart.
  std::optional<QuerySlot> slot = QuerySlot::TryAcquire(&queries_running_, limit, &metrics_);
  if (!slot) {
    metrics_.AddLimitRejection(Limit::kConcurrentQueries);
    res.SetHeader("Retry-After", "1");
    return SetError(res, 429,
                    absl::StrCat("too many concurrent queries: the limit is ", limit,
                                 " (--max-concurrent-queries); retry later"));
  }
  auto start = std::chrono::steady_clock::now();
  query::QueryOptions qo;
  qo.database = database;
  qo.retention_policy = params.Get("rp");
  qo.timeout = std::chrono::milliseconds(options_.query_timeout_ms);
  qo.max_points = options_.query_max_points;
  std::string accept = req.Header("Accept");
  const bool csv = absl::StrContains(accept, "application/csv") || absl::StrContains(accept, "text/csv");
  if (!csv && (params.Get("chunked") == "true" || params.Get("chunked") == "1")) {
    // Streamed: the statements run in the content provider, as the answer
    // is written; the query slot moves into the stream and is given back
    // when the provider is destroyed (answer written, client gone, or an
    // exception closing the connection).
    struct Stream {
      Impl* impl;
      std::optional<QuerySlot> slot;
      std::vector<query::Statement> statements;
      std::function<bool(const std::string&)> shown;  // SHOW DATABASES filter (owns its copies)
      query::QueryOptions qo;
      query::JsonOptions jo;
      size_t chunk_size = 10000;
      std::chrono::steady_clock::time_point start;
      std::unique_lock<std::mutex> ddl;  // until the statements have run
      ~Stream() {
        impl->metrics_.ObserveQuery(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      }
    };
    auto st = std::make_shared<Stream>();
    st->impl = this;
    st->slot.emplace(std::move(*slot));
    slot.reset();
    st->start = start;
    st->ddl = std::move(ddl);
    st->shown = shown;
    st->qo = std::move(qo);
    if (po.params.empty()) {
      st->statements = std::move(*statements);
    } else {
      // Bound parameters run through their rendering, parsed again, as below.
      query::ParseOptions again;
      again.validate = false;
      auto reparsed = query::ParseQuery(query::String(*statements), again);
      if (!reparsed.ok()) return SetError(res, 400, std::string(ToStd(reparsed.status().message())));
      st->statements = std::move(*reparsed);
    }
    st->jo.epoch = params.Get("epoch");
    std::string pretty = params.Get("pretty");
    st->jo.pretty = pretty == "true" || pretty == "1";
    std::string cs = params.Get("chunk_size");
    if (!cs.empty() && (!absl::SimpleAtoi(cs, &st->chunk_size) || st->chunk_size == 0))
      st->chunk_size = 10000;
    res.status = 200;
    res.SetChunkedProvider("application/json", [st](DataSink& sink) {
      size_t rows = 0;
      ChunkStreamer out(st->chunk_size, st->jo, [&sink](const std::string& c) {
        return sink.write(c.data(), c.size()) && sink.write("\n", 1);
      });
      // A client that went away stops the statement at its next check.
      bool gone = false;
      st->qo.cancelled = [&gone] { return gone; };
      st->impl->executor_.ExecuteStreaming(st->statements, st->qo,
                                           [&](query::StatementResult&& r, bool more) {
                                             st->impl->CountStatementError(r);
                                             if (st->shown) {
                                               std::vector<query::StatementResult> one;
                                               one.push_back(std::move(r));
                                               FilterShowDatabases(st->statements, st->shown, &one);
                                               r = std::move(one[0]);
                                             }
                                             for (const auto& s : r.series) rows += s.values.size();
                                             gone = !out.Piece(std::move(r), more);
                                             return !gone;
                                           });
      if (!gone) sink.done();
      TrimAfterBigAnswer(rows * 8);
      return !gone;
    });
    return;
  }
  // Bound parameters run through their rendering, parsed again (as before);
  // otherwise the parse above is the one that runs.
  std::vector<query::StatementResult> results;
  // The answer is only formatted here: a raw SELECT's rows may stay in
  // columns (no heap vector per row).
  qo.columnar_rows = true;
  // An exception (std::bad_alloc from a statement that needs more memory
  // than there is) fails this request only: the executor holds no lock or
  // counter of ours across it, and the guard above gives the slot back.
  try {
    if (query_hook_for_test_) query_hook_for_test_(q);
    results = po.params.empty() ? executor_.Execute(*statements, qo)
                                : executor_.Execute(query::String(*statements), qo);
  } catch (const std::bad_alloc&) {
    LogError("query ran out of memory: ", q.substr(0, 200));
    metrics_.AddLimitRejection(Limit::kQueryMemory);
    return SetError(res, 500,
                    "query ran out of memory: narrow the time range, use a coarser GROUP BY time or "
                    "lower --query-max-points");
  } catch (const std::exception& e) {
    LogError("query failed: ", e.what(), ": ", q.substr(0, 200));
    return SetError(res, 500, absl::StrCat("internal error running the query: ", e.what()));
  }
  slot.reset();
  if (shown) FilterShowDatabases(*statements, shown, &results);
  for (const auto& r : results) CountStatementError(r);
  for (const auto& r : results) {
    // We parsed q above, so this is rare (a bound parameter's rendering?).
    if (r.parse_error) return SetError(res, 400, r.error);
  }
  query::JsonOptions jo;
  jo.epoch = params.Get("epoch");
  std::string pretty = params.Get("pretty");
  jo.pretty = pretty == "true" || pretty == "1";
  res.status = 200;
  const size_t cells = CountCells(results);
  if (csv) {
    res.SetContent(query::ToCsv(results, jo), "text/csv");
  } else {
    std::string json = query::ToInfluxJson(results, jo);
    if (json.empty() || json.back() != '\n') json.push_back('\n');
    res.SetContent(std::move(json), "application/json");
  }
  // chunked=true JSON was streamed above.
  results.clear();
  results.shrink_to_fit();
  TrimAfterBigAnswer(cells);
  metrics_.ObserveQuery(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

namespace {

// Statements that manage server state (users, subscriptions) answer as
// influxd's admin statements do: they stop at the first failing statement,
// and when statements follow it the whole answer holds only {"statement_id":
// i, "error": "not executed"} (its executor's "not executed" result replaces
// the real error). Byte-compatible, odd as it is (users_test.py
// Differential).
template <typename Statements, typename Run>
std::vector<query::StatementResult> RunAdminStatements(const Statements& statements, Run run) {
  std::vector<query::StatementResult> results;
  for (size_t i = 0; i < statements.size(); i++) {
    results.push_back(run(statements[i], static_cast<int>(i)));
    if (!results.back().error.empty()) {
      if (i + 1 < statements.size()) results.back().error = "not executed";
      break;
    }
  }
  return results;
}

void SetJsonResults(const std::vector<query::StatementResult>& results, const Params& params, Response& res) {
  query::JsonOptions jo;
  std::string pretty = params.Get("pretty");
  jo.pretty = pretty == "true" || pretty == "1";
  std::string json = query::ToInfluxJson(results, jo);
  if (json.empty() || json.back() != '\n') json.push_back('\n');
  res.status = 200;
  res.SetContent(std::move(json), "application/json");
}

}  // namespace

// Once auth is on, only an admin (user or token) may run these; before,
// anyone who may connect (loopback, or --no-auth) may, as with influxd
// (which is how the first admin is created).
bool HttpServer::Impl::RequireAdmin(const Request& req, Response& res, const AuthResult& auth,
                                    std::string_view why) {
  const bool admin = !AuthActive() || (auth.user && auth.user->admin) || (auth.token && auth.token->admin);
  if (admin) return true;
  auth_log_.Refused("403 forbidden", req, auth.token != nullptr ? auth.token->id : "", why);
  SetError(res, 403,
           absl::StrCat("error authorizing query: ", auth.user ? auth.user->name : "token",
                        " not authorized to execute statement, requires admin privilege"));
  return false;
}

void HttpServer::Impl::HandleUserQuery(const Request& req, Response& res, const Params& params,
                                       const AuthResult& auth, const std::string& q) {
  // The query holds passwords: it is never logged, nor handed to the test hook.
  auto statements = ParseUserStatements(q);
  if (!statements.ok()) return SetError(res, 400, std::string(ToStd(statements.status().message())));
  if (!RequireAdmin(req, res, auth, "user management needs admin")) return;
  SetJsonResults(RunAdminStatements(*statements,
                                    [&](const auto& st, int id) { return RunUserStatement(st, id, users_); }),
                 params, res);
}

void HttpServer::Impl::HandleSubscriptionQuery(const Request& req, Response& res, const Params& params,
                                               const AuthResult& auth, const std::string& q) {
  auto statements = ParseSubscriptionStatements(q);
  if (!statements.ok()) return SetError(res, 400, std::string(ToStd(statements.status().message())));
  // Destinations may carry credentials and receive every write (influxd's
  // rule for subscription statements).
  if (!RequireAdmin(req, res, auth, "subscription statements need admin")) return;
  std::unique_lock<std::mutex> ddl(ddl_mu_, std::defer_lock);
  for (const auto& st : *statements) {
    if (st.kind == SubscriptionStatement::Kind::kCreate && !ddl.owns_lock()) ddl.lock();
  }
  SetJsonResults(
      RunAdminStatements(*statements, [&](const auto& st, int id) { return subscriptions_->Run(st, id); }),
      params, res);
}

}  // namespace m2mdb::server
