// POST /write (v1: db, precision, u/p) and POST /api/v2/write (v2: bucket,
// precision, Authorization: Token): the token's write scope, the body, the
// engine's WriteLineProtocol, and InfluxDB's answers to partial writes
// (which rejected lines are joined into "error", the status by error kind).
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#include "m2mdb/json.h"
#include "m2mdb/log.h"
#include "server/api_response.h"
#include "server/http_server_impl.h"

namespace m2mdb::server {
namespace {

// At most this many line errors are spelled out in one response.
constexpr size_t kMaxReportedLineErrors = 100;

// A rejected line is quoted in its error; a multi-megabyte line would make a
// multi-megabyte answer. Keep the head and tail of long ones.
std::string Shorten(const std::string& reason) {
  constexpr size_t kMax = 2048;
  if (reason.size() <= kMax) return reason;
  return absl::StrCat(reason.substr(0, kMax / 2), "...(", reason.size() - kMax, " bytes cut)...",
                      reason.substr(reason.size() - kMax / 2));
}

}  // namespace

void HttpServer::Impl::HandleWrite(const Request& req, Response& res, const BodyReader& reader, bool v2) {
  Params params(req, nullptr);
  AuthResult auth = Authenticate(req, params, res);
  if (!auth.ok) return;
  std::string database, precision, rp;
  if (v2) {
    std::string bucket = params.Get("bucket");
    if (bucket.empty()) return SetError(res, 400, "bucket is required");
    // "db/rp" names a database and retention policy (InfluxDB 1.8).
    const size_t slash = bucket.find('/');
    database = bucket.substr(0, slash);
    if (slash != std::string::npos) rp = bucket.substr(slash + 1);
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
    rp = params.Get("rp");
    precision = params.Get("precision");
    if (precision.empty() || precision == "n") precision = "ns";
  }
  if (auth.token != nullptr && (!auth.token->may_write() || !auth.token->CoversDatabase(database))) {
    return Forbidden(req, res, *auth.token,
                     absl::StrCat("token \"", auth.token->id, "\" is not authorized to write to database \"",
                                  database, "\""));
  }
  if (auth.user && !auth.user->MayWrite(database)) {
    auth_log_.Refused("403 forbidden", req, "", absl::StrCat("user may not write to ", database));
    // influxd's text.
    return SetError(res, 403,
                    absl::StrCat("\"", auth.user->name, "\" user is not authorized to write to database \"",
                                 database, "\""));
  }
  // One of this server's own subscriptions delivering to itself
  // (server/subscriptions/origin.h): the points are already here.
  if (req.Header(kOriginHeader) == origin_id_) {
    metrics_.AddLoopedBack();
    if (looped_back_logged_.exchange(true) == false) {
      LogWarning("a subscription of this server delivers to this server itself (database ", database,
                 "): its batches are acknowledged and not written again; drop that subscription");
    }
    res.status = 204;
    return;
  }
  // A subscription with WHEN FULL REFUSE WRITES whose backlog is full
  // (docs/edge.md): refused before the body is read, nothing written.
  if (Status full = subscriptions_->CheckWritable(database); !full.ok()) {
    return SetError(res, 503, ToStd(full.message()));
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
  wo.retention_policy = rp;
  auto r = db_->WriteLineProtocol(database, body, wo);
  if (!r.ok()) {
    int status = HttpStatusFor(r.status());
    // influxd answers a missing policy with 500 (its text, our status: the
    // client's request is wrong, nothing failed; docs/compatibility.md).
    if (absl::IsNotFound(r.status()) &&
        absl::StartsWith(r.status().message(), "retention policy not found")) {
      status = 400;
    }
    if (status >= 500) LogError("write to ", database, ": ", r.status().ToString());
    return SetError(res, status, ToStd(r.status().message()));
  }
  metrics_.AddWriteRequest(r->points_written, r->values_written);
  if (r->errors.empty()) {
    res.status = 204;
    res.SetHeader("Content-Type", "application/json");
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
  res.SetHeader("X-Influxdb-Error", HeaderSafe(msg));
  res.SetContent(out, "application/json");
}

}  // namespace m2mdb::server
