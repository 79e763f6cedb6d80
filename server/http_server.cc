// The HTTP API, served by our own HTTP/1.1 server (http1.h: one poll, one
// recv and one send per keep-alive request; TLS with OpenSSL on the same
// connection loop). Request flow, one router for plain and TLS:
//
//   PreRoute    every request: endpoint + method check (404/405),
//               Content-Length limit (413), ping/health/metrics and GET
//               /query answered here; for POSTs with a body it renames
//               "Content-Encoding: gzip" so that ReadBody inflates with our
//               limits.
//   Dispatch    POST /write, /api/v2/write, /query: the body is read with our
//               limits, then handled.
//   logger      counts every answered request for /metrics.
#include "server/http_server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <set>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <malloc.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <zlib.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "httplib.h"
#include <nlohmann/json.hpp>

#include "m2mdb/json.h"
#include "m2mdb/log.h"
#include "m2mdb/query/executor.h"
#include "m2mdb/query/parse.h"
#include "server/error_kinds.h"
#include "server/http1.h"
#include "server/metrics.h"

namespace m2mdb::server {
namespace {

// What we answer in X-Influxdb-Version: the InfluxDB API level we follow
// (1.8 added /api/v2/write and /health), then our own version.
constexpr char kInfluxVersion[] = "1.8.10-m2mdb-0.1.0";
constexpr char kVersion[] = "0.1.0";
// Renamed request header: see the file comment.
constexpr char kGzipMarker[] = "X-M2mdb-Gzip-Body";
// At most this many line errors are spelled out in one response.
constexpr size_t kMaxReportedLineErrors = 100;

// ---------------------------------------------------------------------------
// JSON helpers (the string escaper is m2mdb/json.h)
// ---------------------------------------------------------------------------

std::string ErrorBody(std::string_view message) {
  std::string out = "{\"error\":";
  AppendJsonString(&out, message);
  out += "}\n";
  return out;
}

// InfluxDB also puts the error in a header; keep it one printable line.
std::string HeaderSafe(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 1024)) {
    unsigned char u = c;
    out.push_back(u < 0x20 || u == 0x7F ? ' ' : c);
  }
  return out;
}

void SetError(httplib::Response& res, int status, std::string_view message) {
  res.status = status;
  res.set_header("X-Influxdb-Error", HeaderSafe(message));
  res.set_content(ErrorBody(message), "application/json");
}

// ---------------------------------------------------------------------------
// Request helpers
// ---------------------------------------------------------------------------

// For errors httplib raises itself (bad request line, URI too long, ...).
const char* StatusText(int status) {
  switch (status) {
    case 400:
      return "bad request";
    case 408:
      return "request timeout";
    case 413:
      return "request body too large";
    case 414:
      return "request URI too long";
    case 415:
      return "unsupported content encoding";
    case 416:
      return "range not satisfiable";
    case 417:
      return "expectation failed";
    default:
      return status >= 500 ? "internal error" : "request error";
  }
}

Endpoint EndpointOf(const std::string& path) {
  if (path == "/write") return Endpoint::kWrite;
  if (path == "/api/v2/write") return Endpoint::kWriteV2;
  if (path == "/query") return Endpoint::kQuery;
  if (path == "/ping") return Endpoint::kPing;
  if (path == "/health") return Endpoint::kHealth;
  if (path == "/metrics") return Endpoint::kMetrics;
  return Endpoint::kOther;
}

// Parameters of a request: the form body (POST /query) first, then the URL,
// as Go's Request.FormValue.
class Params {
 public:
  Params(const httplib::Request& req, const httplib::Params* form) : req_(req), form_(form) {}
  std::string Get(const char* key) const {
    if (form_ != nullptr) {
      auto it = form_->find(key);
      if (it != form_->end()) return it->second;
    }
    return req_.get_param_value(key);
  }
  bool Has(const char* key) const {
    return (form_ != nullptr && form_->count(key) > 0) || req_.has_param(key);
  }

 private:
  const httplib::Request& req_;
  const httplib::Params* form_;
};

// The credential of a request: "Authorization: Token X" / "Bearer X" (v2 and
// Prometheus), Basic auth or the u/p parameters (v1 clients; the password is
// the token, the user name is ignored).
std::string Credential(const httplib::Request& req, const Params& params) {
  std::string auth = req.get_header_value("Authorization");
  std::string_view a = auth;
  auto strip = [](std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
  };
  if (absl::StartsWithIgnoreCase(ToAbsl(a), "Token ")) return std::string(strip(a.substr(6)));
  if (absl::StartsWithIgnoreCase(ToAbsl(a), "Bearer ")) return std::string(strip(a.substr(7)));
  if (absl::StartsWithIgnoreCase(ToAbsl(a), "Basic ")) {
    std::string decoded;
    if (absl::Base64Unescape(ToAbsl(strip(a.substr(6))), &decoded)) {
      size_t colon = decoded.find(':');
      if (colon != std::string::npos) return decoded.substr(colon + 1);
    }
    return std::string();
  }
  return params.Get("p");
}

// Inflates a gzip body (one or more members) into *out, at most `limit`
// bytes. Returns "" or an error message; *too_big on overflow.
std::string Gunzip(std::string_view in, uint64_t limit, std::string* out, bool* too_big) {
  *too_big = false;
  out->clear();
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return "gzip: cannot initialize zlib";
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string err;
  size_t produced = 0;
  out->resize(std::min<uint64_t>(limit, std::max<size_t>(in.size() * 4, 64 << 10)));
  for (;;) {
    if (produced == out->size()) {
      if (out->size() >= limit) {
        *too_big = true;
        break;
      }
      out->resize(std::min<uint64_t>(limit, out->size() * 2));
    }
    zs.next_out = reinterpret_cast<Bytef*>(out->data() + produced);
    zs.avail_out = static_cast<uInt>(out->size() - produced);
    int r = inflate(&zs, Z_NO_FLUSH);
    produced = out->size() - zs.avail_out;
    if (r == Z_STREAM_END) {
      if (zs.avail_in == 0) break;
      inflateReset(&zs);  // another gzip member follows (Go reads them all)
      continue;
    }
    if (r == Z_BUF_ERROR && zs.avail_in == 0) {
      err = "unexpected EOF";  // Go's gzip reader says the same for a cut stream
      break;
    }
    if (r != Z_OK && r != Z_BUF_ERROR) {
      err = absl::StrCat("gzip: ", zs.msg != nullptr ? zs.msg : "invalid data");
      break;
    }
  }
  inflateEnd(&zs);
  out->resize(produced);
  return err;
}

// A rejected line is quoted in its error; a multi-megabyte line would make a
// multi-megabyte answer. Keep the head and tail of long ones.
std::string Shorten(const std::string& reason) {
  constexpr size_t kMax = 2048;
  if (reason.size() <= kMax) return reason;
  return absl::StrCat(reason.substr(0, kMax / 2), "...(", reason.size() - kMax, " bytes cut)...",
                      reason.substr(reason.size() - kMax / 2));
}

// Thread-local request buffers: a 5000-line batch is ~1 MB, and allocating
// that afresh per request costs page faults (malloc serves it by mmap).
struct Buffers {
  std::string body;
  std::string inflated;
  void Trim() {
    // Keep the common size warm, give back the rare giant.
    constexpr size_t kKeep = 8 << 20;
    if (body.capacity() > kKeep) std::string().swap(body);
    if (inflated.capacity() > kKeep) std::string().swap(inflated);
  }
};
thread_local Buffers tls_buffers;

// InfluxDB's chunked=true: results split into pieces of at most chunk_size
// rows per series, each sent as its own JSON document; a piece with more to
// come for its series/statement carries "partial":true.
std::vector<std::string> ChunkedJson(const std::vector<query::StatementResult>& results, size_t chunk_size,
                                     const query::JsonOptions& jo) {
  std::vector<std::string> out;
  for (const auto& r : results) {
    if (r.series.empty()) {
      out.push_back(query::ToInfluxJson({r}, jo));
      continue;
    }
    for (size_t si = 0; si < r.series.size(); si++) {
      const auto& s = r.series[si];
      size_t n = s.values.size();
      size_t pos = 0;
      do {
        size_t take = std::min(chunk_size, n - pos);
        query::StatementResult piece;
        piece.statement_id = r.statement_id;
        piece.error = r.error;
        if (si == 0 && pos == 0) piece.messages = r.messages;
        query::ResultSeries ps;
        ps.name = s.name;
        ps.tags = s.tags;
        ps.columns = s.columns;
        ps.time_first = s.time_first;
        ps.time_zone = s.time_zone;
        ps.values.assign(s.values.begin() + pos, s.values.begin() + pos + take);
        pos += take;
        ps.partial = s.partial || pos < n;
        piece.series.push_back(std::move(ps));
        std::string json = query::ToInfluxJson({piece}, jo);
        bool statement_partial = pos < n || si + 1 < r.series.size();
        // {"results":[{...}]} -> {"results":[{...,"partial":true}]}
        if (statement_partial && !jo.pretty && absl::EndsWith(json, "}]}")) {
          json.insert(json.size() - 3, ",\"partial\":true");
        }
        out.push_back(std::move(json));
      } while (pos < n);
    }
  }
  return out;
}

// chunked=true answered while the statements run: the pieces of
// Executor::ExecuteStreaming are cut into documents of chunk_size rows, as
// ChunkedJson cuts a whole answer (the same bytes), and each is written as
// soon as it is full. A big raw answer is then never held whole (a 5.26 M
// point SELECT * peaked at 3.7 GB, its first byte after 17 s).
class ChunkStreamer {
 public:
  ChunkStreamer(size_t chunk_size, const query::JsonOptions& jo,
                std::function<bool(const std::string&)> write)
      : chunk_size_(chunk_size), jo_(jo), write_(std::move(write)) {}

  // A piece from ExecuteStreaming; false once the client is gone.
  bool Piece(query::StatementResult&& r, bool more) {
    if (more) {
      query::ResultSeries& s = r.series[0];
      if (!pending_) {
        id_ = r.statement_id;
        pending_ = std::move(s);
      } else {
        pending_->values.insert(pending_->values.end(), std::make_move_iterator(s.values.begin()),
                                std::make_move_iterator(s.values.end()));
      }
      // Full chunks with a row after them are not the last: out now.
      size_t start = 0;
      while (ok_ && pending_->values.size() - start > chunk_size_) {
        Emit(start, start + chunk_size_, /*last=*/false);
        start += chunk_size_;
      }
      pending_->values.erase(pending_->values.begin(),
                             pending_->values.begin() + static_cast<ptrdiff_t>(start));
      return ok_;
    }
    if (pending_) {
      // The paged statement ended: its last chunk, or before its error.
      Emit(0, pending_->values.size(), /*last=*/r.error.empty());
      pending_.reset();
      if (r.error.empty()) return ok_;
    }
    for (const std::string& c : ChunkedJson({r}, chunk_size_, jo_)) {
      if (!ok_) break;
      ok_ = write_(c);
    }
    return ok_;
  }

 private:
  void Emit(size_t a, size_t b, bool last) {
    query::StatementResult piece;
    piece.statement_id = id_;
    query::ResultSeries ps;
    ps.name = pending_->name;
    ps.tags = pending_->tags;
    ps.columns = pending_->columns;
    ps.time_first = pending_->time_first;
    ps.time_zone = pending_->time_zone;
    ps.values.assign(std::make_move_iterator(pending_->values.begin() + static_cast<ptrdiff_t>(a)),
                     std::make_move_iterator(pending_->values.begin() + static_cast<ptrdiff_t>(b)));
    ps.partial = !last;
    piece.series.push_back(std::move(ps));
    std::string json = query::ToInfluxJson({piece}, jo_);
    if (!last && !jo_.pretty && absl::EndsWith(json, "}]}"))
      json.insert(json.size() - 3, ",\"partial\":true");
    if (ok_) ok_ = write_(json);
  }

  const size_t chunk_size_;
  const query::JsonOptions jo_;
  const std::function<bool(const std::string&)> write_;
  std::optional<query::ResultSeries> pending_;
  int id_ = 0;
  bool ok_ = true;
};

// Gives the memory of a big answer back to the system: glibc keeps freed
// small blocks (the cells) in its arenas, and RSS stayed at 4.7 GB after
// three big SELECT *s. Only after answers of at least kTrimCells cells:
// malloc_trim walks every arena.
void TrimAfterBigAnswer(size_t cells) {
  constexpr size_t kTrimCells = size_t{1} << 20;
  if (cells >= kTrimCells) malloc_trim(0);
}

size_t CountCells(const std::vector<query::StatementResult>& results) {
  size_t cells = 0;
  for (const auto& r : results) {
    for (const auto& s : r.series) cells += s.values.size() * (s.columns.size() + 1);
  }
  return cells;
}

// Statement classification for token scopes (TokenInfo in tokens.h).
enum class Need { kRead, kWrite, kDelete, kAdmin };

const char* NeedText(Need n) {
  switch (n) {
    case Need::kRead:
      return "read from";
    case Need::kWrite:
      return "write to";
    case Need::kDelete:
      return "delete data in";
    case Need::kAdmin:
      return "administer";
  }
  return "use";
}

bool TokenMay(const TokenInfo& t, Need n) {
  switch (n) {
    case Need::kRead:
      return t.may_read();
    case Need::kWrite:
      return t.may_write();
    case Need::kDelete:
      return t.may_delete();
    case Need::kAdmin:
      return t.admin;
  }
  return false;
}

struct StatementNeeds {
  Need need = Need::kRead;
  std::vector<std::string> dbs;  // databases named in the statement
};

void CollectSources(const std::vector<query::Source>& sources, StatementNeeds* needs);

void CollectSelect(const query::SelectStatement& s, StatementNeeds* needs) {
  if (s.into) {
    needs->need = std::max(needs->need, Need::kWrite);
    if (!s.into->database.empty()) needs->dbs.push_back(s.into->database);
  }
  CollectSources(s.sources, needs);
}

void CollectSources(const std::vector<query::Source>& sources, StatementNeeds* needs) {
  for (const auto& src : sources) {
    if (const auto* m = std::get_if<query::Measurement>(&src.node)) {
      if (!m->database.empty()) needs->dbs.push_back(m->database);
    } else if (const auto* sq = std::get_if<query::SubQuery>(&src.node)) {
      if (sq->statement) CollectSelect(*sq->statement, needs);
    }
  }
}

// What a statement needs, as influxd decides it (influxql RequiredPrivileges)
// except that deleting data is its own permission: CREATE/DROP DATABASE and
// retention policies need admin; DELETE, DROP SERIES and DROP MEASUREMENT
// need delete (influxd lets any writer do the first two; a write-only device
// token must not be able to wipe its database).
StatementNeeds Classify(const query::Statement& st) {
  StatementNeeds n;
  std::visit(
      [&](const auto& s) {
        using T = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<T, query::SelectStatement>) {
          CollectSelect(s, &n);
        } else if constexpr (std::is_same_v<T, query::ExplainStatement>) {
          CollectSelect(s.select, &n);  // planning reads the schema (and runs subqueries)
        } else if constexpr (std::is_same_v<T, query::ShowDatabasesStatement>) {
          // Answered for every token that may read; the list is filtered.
        } else if constexpr (std::is_same_v<T, query::CreateDatabaseStatement> ||
                             std::is_same_v<T, query::DropDatabaseStatement>) {
          n.need = Need::kAdmin;
          n.dbs.push_back(s.name);
        } else if constexpr (std::is_same_v<T, query::DropSeriesStatement> ||
                             std::is_same_v<T, query::DeleteStatement>) {
          n.need = Need::kDelete;
          CollectSources(s.sources, &n);
        } else if constexpr (std::is_same_v<T, query::DropMeasurementStatement>) {
          n.need = Need::kDelete;
        } else if constexpr (std::is_same_v<T, query::CreateRetentionPolicyStatement> ||
                             std::is_same_v<T, query::AlterRetentionPolicyStatement> ||
                             std::is_same_v<T, query::DropRetentionPolicyStatement>) {
          n.need = Need::kAdmin;
          if (!s.database.empty()) n.dbs.push_back(s.database);
        } else {
          // SHOW ... [ON db] [FROM db.rp.m]: a database named in FROM is
          // the one answered for, so it must be covered too.
          if (!s.database.empty()) n.dbs.push_back(s.database);
          if constexpr (requires { s.sources; }) CollectSources(s.sources, &n);
        }
      },
      st.node);
  return n;
}

// The `params` form value: a flat JSON object of strings, numbers and bools
// (InfluxDB's bound parameters), read with nlohmann-json. The two messages
// are the ones clients see; anything but such an object is refused.
bool ParseJsonParams(std::string_view s, query::ParseOptions* po, std::string* err) {
  size_t first = s.find_first_not_of(" \t\r\n\f\v");
  if (first == std::string_view::npos || s[first] != '{') {
    *err = "params must be a JSON object";
    return false;
  }
  nlohmann::json doc = nlohmann::json::parse(s.begin(), s.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  bool ok = doc.is_object();
  for (auto it = ok ? doc.begin() : doc.end(); ok && it != doc.end(); ++it) {
    const nlohmann::json& v = it.value();
    switch (v.type()) {
      case nlohmann::json::value_t::string:
        po->params[it.key()] = query::ParamValue::String(v.get<std::string>());
        break;
      case nlohmann::json::value_t::boolean:
        po->params[it.key()] = query::ParamValue::Boolean(v.get<bool>());
        break;
      case nlohmann::json::value_t::number_integer:
        po->params[it.key()] = query::ParamValue::Integer(v.get<int64_t>());
        break;
      case nlohmann::json::value_t::number_unsigned:
        // Past INT64_MAX a number is a float, as the parser it replaced read it.
        if (v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX)) {
          po->params[it.key()] = query::ParamValue::Integer(static_cast<int64_t>(v.get<uint64_t>()));
        } else {
          po->params[it.key()] = query::ParamValue::Float(static_cast<double>(v.get<uint64_t>()));
        }
        break;
      case nlohmann::json::value_t::number_float:
        po->params[it.key()] = query::ParamValue::Float(v.get<double>());
        break;
      default:  // null, arrays and objects bind to nothing
        ok = false;
    }
  }
  if (ok) return true;
  *err = "error parsing query parameters: invalid JSON";
  return false;
}

// SHOW DATABASES lists only the databases `token` covers (influxd lists those
// a non-admin user has a grant on). The executor lists them all; the filter is
// applied to its result here so that the query layer knows nothing of tokens.
void FilterShowDatabases(const std::vector<query::Statement>& statements, const TokenInfo& token,
                         std::vector<query::StatementResult>* results) {
  for (auto& r : *results) {
    if (r.statement_id < 0 || static_cast<size_t>(r.statement_id) >= statements.size()) continue;
    if (!std::holds_alternative<query::ShowDatabasesStatement>(statements[r.statement_id].node)) continue;
    for (auto& series : r.series) {
      auto& v = series.values;
      v.erase(std::remove_if(v.begin(), v.end(),
                             [&](const std::vector<query::Value>& row) {
                               const auto* name = row.empty() ? nullptr : std::get_if<std::string>(&row[0]);
                               return name == nullptr || !token.CoversDatabase(*name);
                             }),
              v.end());
    }
  }
}

// Log lines for refused requests (401, 403): at most one per second per
// reason, with the number suppressed since the last one, so that a client
// retrying a bad token in a loop cannot flood the log. The client address
// and the token's id are logged, never the credential.
class AuthLog {
 public:
  void Refused(std::string_view reason, const httplib::Request& req, std::string_view token_id,
               std::string_view detail) {
    const auto now = std::chrono::steady_clock::now();
    uint64_t suppressed = 0;
    {
      std::lock_guard<std::mutex> l(mu_);
      Entry& e = entries_[std::string(reason)];
      if (e.last != std::chrono::steady_clock::time_point() && now - e.last < std::chrono::seconds(1)) {
        e.suppressed++;
        return;
      }
      e.last = now;
      suppressed = std::exchange(e.suppressed, 0);
    }
    LogWarning("auth: ", std::string(reason), " from ", req.remote_addr, token_id.empty() ? "" : " token \"",
               std::string(token_id), token_id.empty() ? "" : "\"", ": ", req.method, " ", req.path, ": ",
               std::string(detail),
               suppressed > 0 ? absl::StrCat(" (", suppressed, " more like it suppressed)") : std::string());
  }

 private:
  struct Entry {
    std::chrono::steady_clock::time_point last;
    uint64_t suppressed = 0;
  };
  std::mutex mu_;
  std::map<std::string, Entry> entries_;  // guarded by mu_
};

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

// ---------------------------------------------------------------------------
// Impl
// ---------------------------------------------------------------------------

class HttpServer::Impl {
 public:
  Impl(DB* db, const ServeOptions& o, TokenStore tokens, bool auth_required)
      : db_(db), options_(o), tokens_(std::move(tokens)), auth_required_(auth_required), executor_(db) {}

  Status Init();
  ~Impl() {
    if (ssl_ctx_ != nullptr) SSL_CTX_free(ssl_ctx_);
  }
  StatusOr<int> Bind(const std::string& host, int port) { return http_->Bind(host, port); }
  void Run() {
    http_->Run();
    run_done_ = true;
  }
  // Stops accepting and closes idle connections; returns once Run has
  // returned (requests in flight answered). A Stop before Run has started
  // makes Run return at once.
  void Stop() {
    http_->Stop();
    while (!run_done_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  bool tls() const { return tls_; }
  // Counts a statement stopped by a query limit (its kind's metric).
  void CountStatementError(const query::StatementResult& r) {
    if (r.error.empty()) return;
    if (auto limit = ActionFor(r.kind).limit) metrics_.AddLimitRejection(*limit);
  }
  void SetQueryHookForTest(std::function<void(const std::string&)> hook) {
    query_hook_for_test_ = std::move(hook);
  }

 private:
  struct AuthResult {
    const TokenInfo* token = nullptr;  // null when auth is off
    bool ok = true;
  };

  httplib::Server::HandlerResponse PreRoute(const httplib::Request& req, httplib::Response& res);
  // Every request of the plain server: PreRoute, then the POST endpoints.
  void Dispatch(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader);
  AuthResult Authenticate(const httplib::Request& req, const Params& params, httplib::Response& res);
  // Answers 403 with `message` and logs it (rate-limited).
  void Forbidden(const httplib::Request& req, httplib::Response& res, const TokenInfo& token,
                 const std::string& message) {
    auth_log_.Refused("403 forbidden", req, token.id, message);
    SetError(res, 403, message);
  }
  void HandleWrite(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader,
                   bool v2);
  void HandleQuery(const httplib::Request& req, httplib::Response& res, const httplib::Params* form);
  void HandlePostQuery(const httplib::Request& req, httplib::Response& res,
                       const httplib::ContentReader& reader);
  // Reads the body with the limits; false when a response was set (or the
  // client is gone).
  bool ReadBody(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader,
                std::string_view* body);

  DB* db_;
  ServeOptions options_;
  TokenStore tokens_;
  bool auth_required_;
  bool tls_ = false;
  SSL_CTX* ssl_ctx_ = nullptr;  // TLS; owned
  std::unique_ptr<Http1Server> http_;
  ServerMetrics metrics_;
  std::atomic<int> queries_running_{0};
  AuthLog auth_log_;
  std::function<void(const std::string&)> query_hook_for_test_;
  std::atomic<bool> run_done_{false};
  query::Executor executor_;
};

Status HttpServer::Impl::Init() {
  if (!options_.tls_cert.empty() || !options_.tls_key.empty()) {
    if (options_.tls_cert.empty() || options_.tls_key.empty()) {
      return absl::InvalidArgumentError("TLS needs both --tls-cert and --tls-key");
    }
    // OpenSSL does the TLS; Http1Server runs it on its connection loop, so
    // TLS connections get the same handlers, limits and deadlines as plain
    // ones. TLS 1.2 at least, as Go's server since 1.18 by default.
    ssl_ctx_ = SSL_CTX_new(TLS_server_method());
    if (ssl_ctx_ == nullptr) return absl::InternalError("SSL_CTX_new failed");
    SSL_CTX_set_min_proto_version(ssl_ctx_, TLS1_2_VERSION);
    SSL_CTX_set_mode(ssl_ctx_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ssl_ctx_, options_.tls_cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ssl_ctx_, options_.tls_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ssl_ctx_) != 1) {
      ERR_clear_error();
      return absl::InvalidArgumentError(absl::StrCat("cannot load the TLS certificate ", options_.tls_cert,
                                                     " or key ", options_.tls_key,
                                                     " (PEM files, key matching the certificate)"));
    }
    tls_ = true;
  }
  httplib::Headers headers = {{"X-Influxdb-Version", kInfluxVersion}, {"X-Influxdb-Build", "OSS"}};
  Http1Options ho;
  ho.threads = options_.http_threads > 0 ? options_.http_threads : 1024;
  ho.keep_alive_seconds = options_.keep_alive_seconds;
  ho.read_timeout_seconds = options_.read_timeout_seconds;
  ho.header_timeout_seconds = options_.header_timeout_seconds;
  ho.body_timeout_seconds = options_.body_timeout_seconds;
  ho.max_connections_per_address = options_.max_connections_per_address;
  ho.default_headers = headers;
  ho.spin_us = options_.http_spin_us;
  ho.tls = ssl_ctx_;
  http_ = std::make_unique<Http1Server>(
      std::move(ho),
      [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
        Dispatch(req, res, reader);
      },
      [](httplib::Response& res) { res.set_content(ErrorBody(StatusText(res.status)), "application/json"); },
      [this](const httplib::Request& req, const httplib::Response& res) {
        metrics_.RecordRequest(EndpointOf(req.path), res.status);
      });
  return absl::OkStatus();
}

httplib::Server::HandlerResponse HttpServer::Impl::PreRoute(const httplib::Request& req,
                                                            httplib::Response& res) {
  using HR = httplib::Server::HandlerResponse;
  Endpoint ep = EndpointOf(req.path);
  const std::string& m = req.method;
  auto not_allowed = [&](const char* allow) {
    res.status = 405;
    res.set_header("Allow", allow);
    res.set_content("Method Not Allowed\n", "text/plain; charset=utf-8");
    return HR::Handled;
  };
  switch (ep) {
    case Endpoint::kOther:
      res.status = 404;
      res.set_content("404 page not found\n", "text/plain; charset=utf-8");
      return HR::Handled;
    case Endpoint::kPing:
      if (m != "GET" && m != "HEAD") return not_allowed("GET, HEAD");
      if (req.get_param_value("verbose") == "true" || req.get_param_value("verbose") == "1") {
        res.status = 200;
        res.set_content(absl::StrCat("{\"version\":\"", kInfluxVersion, "\"}\n"), "application/json");
      } else {
        res.status = 204;
        res.set_header("Content-Type", "application/json");
      }
      return HR::Handled;
    case Endpoint::kHealth:
      if (m != "GET" && m != "HEAD") return not_allowed("GET, HEAD");
      // Storage that cannot make writes durable (a full disk) fails the
      // check with its reason, as influxd answers 503 "fail".
      if (Status h = db_->StorageHealth(); !h.ok()) {
        res.status = 503;
        std::string body = "{\"name\":\"m2mdb\",\"message\":";
        AppendJsonString(&body, ToStd(h.message()));
        absl::StrAppend(&body, ",\"status\":\"fail\",\"checks\":[],\"version\":\"", kVersion, "\"}\n");
        res.set_content(body, "application/json");
        return HR::Handled;
      }
      res.status = 200;
      res.set_content(absl::StrCat("{\"name\":\"m2mdb\",\"message\":\"ready for queries and writes\","
                                   "\"status\":\"pass\",\"checks\":[],\"version\":\"",
                                   kVersion, "\"}\n"),
                      "application/json");
      return HR::Handled;
    case Endpoint::kMetrics: {
      if (m != "GET" && m != "HEAD") return not_allowed("GET, HEAD");
      Params params(req, nullptr);
      if (!Authenticate(req, params, res).ok) return HR::Handled;
      res.status = 200;
      std::string body = metrics_.Render(db_->Stats());
      // The connection loop's own counts (idle connections included).
      absl::StrAppend(&body,
                      "# HELP m2mdb_http_connections Open HTTP connections, idle ones included.\n"
                      "# TYPE m2mdb_http_connections gauge\nm2mdb_http_connections ",
                      http_->connections(),
                      "\n# HELP m2mdb_http_connections_refused_total Connections refused at accept "
                      "(--http-max-conns-per-ip).\n# TYPE m2mdb_http_connections_refused_total counter\n"
                      "m2mdb_http_connections_refused_total ",
                      http_->refused(), "\n");
      res.set_content(std::move(body), "text/plain; version=0.0.4; charset=utf-8");
      return HR::Handled;
    }
    case Endpoint::kQuery:
      if (m == "GET") {
        HandleQuery(req, res, nullptr);
        return HR::Handled;
      }
      if (m != "POST") return not_allowed("GET, POST");
      break;
    case Endpoint::kWrite:
    case Endpoint::kWriteV2:
      if (m != "POST") return not_allowed("POST");
      break;
  }
  // A POST with a body: hide gzip from httplib (see the file comment). The
  // request is not const for httplib; only its handler signature is.
  auto& mreq = const_cast<httplib::Request&>(req);
  auto it = mreq.headers.find("Content-Encoding");
  if (it != mreq.headers.end() && absl::EqualsIgnoreCase(it->second, "gzip")) {
    mreq.headers.erase(it);
    mreq.headers.emplace(kGzipMarker, "1");
  }
  if (options_.max_body_bytes > 0 && req.has_header("Content-Length") &&
      req.get_header_value<uint64_t>("Content-Length") > options_.max_body_bytes) {
    // Answer before reading; the unread body makes the connection unusable.
    metrics_.AddLimitRejection(Limit::kBodySize);
    SetError(res, 413,
             absl::StrCat("request body too large: limit is ", options_.max_body_bytes,
                          " bytes (--max-body-bytes)"));
    res.set_header("Connection", "close");
    return HR::Handled;
  }
  return HR::Unhandled;
}

void HttpServer::Impl::Dispatch(const httplib::Request& req, httplib::Response& res,
                                const httplib::ContentReader& reader) {
  if (PreRoute(req, res) == httplib::Server::HandlerResponse::Handled) return;
  switch (EndpointOf(req.path)) {
    case Endpoint::kWrite:
      return HandleWrite(req, res, reader, false);
    case Endpoint::kWriteV2:
      return HandleWrite(req, res, reader, true);
    case Endpoint::kQuery:
      return HandlePostQuery(req, res, reader);
    default:
      res.status = 404;  // PreRoute answers every other endpoint
      res.set_content("404 page not found\n", "text/plain; charset=utf-8");
  }
}

HttpServer::Impl::AuthResult HttpServer::Impl::Authenticate(const httplib::Request& req, const Params& params,
                                                            httplib::Response& res) {
  AuthResult r;
  if (!auth_required_) return r;
  std::string cred = Credential(req, params);
  if (cred.empty()) {
    r.ok = false;
    auth_log_.Refused("401 no credentials", req, "", "no token given");
    SetError(res, 401, "unable to parse authentication credentials");
  } else if ((r.token = tokens_.Authenticate(cred)) == nullptr) {
    r.ok = false;
    auth_log_.Refused("401 unknown token", req, "", "the token matches none (revoked, mistyped?)");
    SetError(res, 401, "authorization failed");
  }
  if (!r.ok) res.set_header("WWW-Authenticate", "Basic realm=\"m2mdb\"");
  return r;
}

bool HttpServer::Impl::ReadBody(const httplib::Request& req, httplib::Response& res,
                                const httplib::ContentReader& reader, std::string_view* body) {
  Buffers& buf = tls_buffers;
  buf.body.clear();
  const uint64_t limit = options_.max_body_bytes > 0 ? options_.max_body_bytes : UINT64_MAX;
  if (req.has_header("Content-Length")) {
    uint64_t len = req.get_header_value<uint64_t>("Content-Length");
    if (len <= limit) buf.body.reserve(len);
  }
  bool too_big = false;
  bool ok = reader([&](const char* data, size_t n) {
    if (buf.body.size() + n > limit) {
      too_big = true;
      return false;
    }
    buf.body.append(data, n);
    return true;
  });
  if (too_big) {
    metrics_.AddLimitRejection(Limit::kBodySize);
    SetError(res, 413, absl::StrCat("request body too large: limit is ", limit, " bytes (--max-body-bytes)"));
    res.set_header("Connection", "close");
    return false;
  }
  if (!ok) {
    // The client went away or sent less than it announced: nothing is
    // written; the answer most likely reaches no one.
    SetError(res, 400, "unexpected EOF: the request body is shorter than its Content-Length");
    res.set_header("Connection", "close");
    return false;
  }
  if (req.has_header(kGzipMarker)) {
    bool inflated_too_big;
    std::string err = Gunzip(buf.body, limit, &buf.inflated, &inflated_too_big);
    if (inflated_too_big) {
      metrics_.AddLimitRejection(Limit::kBodySize);
      SetError(
          res, 413,
          absl::StrCat("request body too large: more than ", limit, " bytes after gzip (--max-body-bytes)"));
      return false;
    }
    if (!err.empty()) {
      SetError(res, 400, err);
      return false;
    }
    *body = buf.inflated;
  } else {
    *body = buf.body;
  }
  return true;
}

void HttpServer::Impl::HandleWrite(const httplib::Request& req, httplib::Response& res,
                                   const httplib::ContentReader& reader, bool v2) {
  Params params(req, nullptr);
  AuthResult auth = Authenticate(req, params, res);
  if (!auth.ok) return;
  std::string database, precision;
  if (v2) {
    std::string bucket = params.Get("bucket");
    if (bucket.empty()) return SetError(res, 400, "bucket is required");
    // "db/rp" names a database and retention policy (InfluxDB 1.8).
    database = bucket.substr(0, bucket.find('/'));
    precision = params.Get("precision");
    if (precision.empty()) precision = "ns";
    if (precision == "us") precision = "u";
    if (precision != "ns" && precision != "u" && precision != "ms" && precision != "s") {
      return SetError(
          res, 400, absl::StrCat("invalid precision \"", params.Get("precision"), "\": use ns, us, ms or s"));
    }
  } else {
    database = params.Get("db");
    if (database.empty()) return SetError(res, 400, "database is required");
    precision = params.Get("precision");
    if (precision.empty() || precision == "n") precision = "ns";
  }
  if (auth.token != nullptr && (!auth.token->may_write() || !auth.token->CoversDatabase(database))) {
    return Forbidden(req, res, *auth.token,
                     absl::StrCat("token \"", auth.token->id, "\" is not authorized to write to database \"",
                                  database, "\""));
  }
  // The thread's request buffers are trimmed on every way out, a throwing
  // write included (a giant body would otherwise stay with the thread).
  struct TrimOnExit {
    ~TrimOnExit() { tls_buffers.Trim(); }
  } trim;
  std::string_view body;
  if (!ReadBody(req, res, reader, &body)) return;
  metrics_.AddWriteBytes(body.size());

  WriteOptions wo;
  wo.precision = precision;
  wo.max_line_length = options_.max_line_bytes;
  auto r = db_->WriteLineProtocol(database, body, wo);
  if (!r.ok()) {
    const int status = HttpStatusFor(r.status());
    if (status >= 500) LogError("write to ", database, ": ", r.status().ToString());
    return SetError(res, status, ToStd(r.status().message()));
  }
  metrics_.AddWriteRequest(r->points_written, r->values_written);
  if (r->errors.empty()) {
    res.status = 204;
    res.set_header("Content-Type", "application/json");
    return;
  }

  // InfluxDB's wording (services/httpd/handler.go serveWrite):
  //  - parse errors only and nothing written: the parse errors, joined by \n;
  //  - some points dropped by the storage layer (type conflict, series limit,
  //    retention): "partial write: <first reason> dropped=<n>";
  //  - parse errors and the rest written: "partial write: <parse errors> dropped=0".
  // We add "line_errors" with the line number of each rejected line; clients
  // that only read "error" see InfluxDB's text.
  metrics_.AddRejectedLines(r->errors.size());
  std::vector<const WriteError*> parse_errors, dropped;
  int status = 400;
  for (const auto& e : r->errors) {
    const ErrorKindAction& action = ActionFor(e.kind);
    if (action.limit) metrics_.AddLimitRejection(*action.limit);
    if (action.http_status != 0) status = action.http_status;
    (action.parse_error ? parse_errors : dropped).push_back(&e);
  }
  std::string joined;
  for (size_t i = 0; i < parse_errors.size() && i < kMaxReportedLineErrors; i++) {
    if (i > 0) joined.push_back('\n');
    joined += Shorten(parse_errors[i]->reason);
  }
  if (parse_errors.size() > kMaxReportedLineErrors) {
    absl::StrAppend(&joined, "\n(", parse_errors.size() - kMaxReportedLineErrors, " more lines rejected)");
  }
  std::string msg;
  if (!dropped.empty()) {
    msg = absl::StrCat("partial write: ", Shorten(dropped.front()->reason), " dropped=", dropped.size());
  } else if (r->points_written == 0) {
    msg = joined;
  } else {
    msg = absl::StrCat("partial write: ", joined, " dropped=0");
  }
  std::string out = "{\"error\":";
  AppendJsonString(&out, msg);
  out += ",\"line_errors\":[";
  for (size_t i = 0; i < r->errors.size() && i < kMaxReportedLineErrors; i++) {
    if (i > 0) out.push_back(',');
    absl::StrAppend(&out, "{\"line\":", r->errors[i].line, ",\"error\":");
    AppendJsonString(&out, Shorten(r->errors[i].reason));
    out.push_back('}');
  }
  out += "]}\n";
  res.status = status;
  res.set_header("X-Influxdb-Error", HeaderSafe(msg));
  res.set_content(out, "application/json");
}

void HttpServer::Impl::HandlePostQuery(const httplib::Request& req, httplib::Response& res,
                                       const httplib::ContentReader& reader) {
  std::string_view body;
  if (!ReadBody(req, res, reader, &body)) return;
  httplib::Params form;
  std::string ct = req.get_header_value("Content-Type");
  if (ct.empty() || absl::StrContains(ct, "x-www-form-urlencoded")) {
    ParseQueryString(body, &form);
  }
  tls_buffers.Trim();
  HandleQuery(req, res, &form);
}

void HttpServer::Impl::HandleQuery(const httplib::Request& req, httplib::Response& res,
                                   const httplib::Params* form) {
  Params params(req, form);
  AuthResult auth = Authenticate(req, params, res);
  if (!auth.ok) return;
  std::string q = params.Get("q");
  if (q.empty()) return SetError(res, 400, "missing required parameter \"q\"");
  std::string database = params.Get("db");

  query::ParseOptions po;
  po.validate = false;  // compile errors are per statement, from the executor
  std::string perr;
  if (params.Has("params") && !ParseJsonParams(params.Get("params"), &po, &perr)) {
    return SetError(res, 400, perr);
  }
  auto statements = query::ParseQuery(q, po);
  if (!statements.ok()) return SetError(res, 400, std::string(ToStd(statements.status().message())));

  if (auth.token != nullptr) {
    for (const auto& st : *statements) {
      StatementNeeds needs = Classify(st);
      if (needs.dbs.empty() && !database.empty()) needs.dbs.push_back(database);
      const char* what = NeedText(needs.need);
      if (!TokenMay(*auth.token, needs.need)) {
        return Forbidden(req, res, *auth.token,
                         absl::StrCat("token \"", auth.token->id, "\" is not authorized to ", what,
                                      " a database: statement '", query::String(st), "'"));
      }
      for (const auto& d : needs.dbs) {
        if (!auth.token->CoversDatabase(d)) {
          return Forbidden(req, res, *auth.token,
                           absl::StrCat("token \"", auth.token->id, "\" is not authorized to ", what,
                                        " database \"", d, "\""));
        }
      }
      if (needs.dbs.empty() && !auth.token->dbs.empty() &&
          !std::holds_alternative<query::ShowDatabasesStatement>(st.node)) {
        return Forbidden(
            req, res, *auth.token,
            absl::StrCat("token \"", auth.token->id,
                         "\" is limited to some databases: name one with db= or in the statement"));
      }
    }
  }

  const int limit = options_.max_concurrent_queries;
  // The slot and the in-flight gauge are released by the guard on every path
  // out of here, an exception from the executor included: a query that died
  // of std::bad_alloc used to keep its slot, and after
  // --max-concurrent-queries of them every /query got 429 until a restart.
  std::optional<QuerySlot> slot = QuerySlot::TryAcquire(&queries_running_, limit, &metrics_);
  if (!slot) {
    metrics_.AddLimitRejection(Limit::kConcurrentQueries);
    res.set_header("Retry-After", "1");
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
  std::string accept = req.get_header_value("Accept");
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
      std::optional<TokenInfo> token;  // a copy: the stream outlives the request; SHOW DATABASES filter
      query::QueryOptions qo;
      query::JsonOptions jo;
      size_t chunk_size = 10000;
      std::chrono::steady_clock::time_point start;
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
    if (auth.token != nullptr && !auth.token->dbs.empty()) st->token = *auth.token;
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
    res.set_chunked_content_provider("application/json", [st](size_t, httplib::DataSink& sink) {
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
                                             if (st->token) {
                                               std::vector<query::StatementResult> one;
                                               one.push_back(std::move(r));
                                               FilterShowDatabases(st->statements, *st->token, &one);
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
  if (auth.token != nullptr && !auth.token->dbs.empty()) {
    FilterShowDatabases(*statements, *auth.token, &results);
  }
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
    res.set_content(query::ToCsv(results, jo), "text/csv");
  } else {
    std::string json = query::ToInfluxJson(results, jo);
    if (json.empty() || json.back() != '\n') json.push_back('\n');
    res.set_content(std::move(json), "application/json");
  }
  // chunked=true JSON was streamed above.
  results.clear();
  results.shrink_to_fit();
  TrimAfterBigAnswer(cells);
  metrics_.ObserveQuery(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

// ---------------------------------------------------------------------------
// HttpServer
// ---------------------------------------------------------------------------

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() = default;

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(DB* db, const ServeOptions& options,
                                                         TokenStore tokens, bool auth_required) {
  auto impl = std::make_unique<Impl>(db, options, std::move(tokens), auth_required);
  RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

StatusOr<int> HttpServer::Bind(const std::string& host, int port) { return impl_->Bind(host, port); }
void HttpServer::Run() { impl_->Run(); }
void HttpServer::Stop() { impl_->Stop(); }
bool HttpServer::tls() const { return impl_->tls(); }
void HttpServer::SetQueryHookForTest(std::function<void(const std::string&)> hook) {
  impl_->SetQueryHookForTest(std::move(hook));
}

Status ParseListenAddress(const std::string& addr, std::string* host, int* port) {
  size_t colon = addr.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("--http \"", addr, "\": expected host:port"));
  }
  std::string h = addr.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) h = "0.0.0.0";
  int p;
  if (!absl::SimpleAtoi(addr.substr(colon + 1), &p) || p < 0 || p > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--http \"", addr, "\": bad port"));
  }
  *host = h;
  *port = p;
  return absl::OkStatus();
}

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "0:0:0:0:0:0:0:1") return true;
  if (absl::StartsWith(host, "127.")) {
    std::vector<std::string> parts = absl::StrSplit(host, '.');
    if (parts.size() != 4) return false;
    for (const auto& p : parts) {
      int v;
      if (!absl::SimpleAtoi(p, &v) || v < 0 || v > 255) return false;
    }
    return true;
  }
  return false;
}

}  // namespace m2mdb::server
