// The endpoints that answer without a statement or a body: /ping (204, or
// the version with verbose=true), /health (503 with the reason when storage
// cannot make writes durable) and /metrics (Prometheus text, token-checked).
#include <string>

#include "absl/strings/str_cat.h"

#include "m2mdb/json.h"
#include "server/api_response.h"
#include "server/http_server_impl.h"

namespace m2mdb::server {

void HttpServer::Impl::HandlePing(const Request& req, Response& res, const BodyReader&) {
  if (req.Param("verbose") == "true" || req.Param("verbose") == "1") {
    res.status = 200;
    res.SetContent(absl::StrCat("{\"version\":\"", kInfluxVersion, "\"}\n"), "application/json");
  } else {
    res.status = 204;
    res.SetHeader("Content-Type", "application/json");
  }
}

void HttpServer::Impl::HandleHealth(const Request&, Response& res, const BodyReader&) {
  // Storage that cannot make writes durable (a full disk) fails the
  // check with its reason, as influxd answers 503 "fail".
  if (Status h = db_->StorageHealth(); !h.ok()) {
    res.status = 503;
    std::string body = "{\"name\":\"m2mdb\",\"message\":";
    AppendJsonString(&body, ToStd(h.message()));
    absl::StrAppend(&body, ",\"status\":\"fail\",\"checks\":[],\"version\":\"", kVersion, "\"}\n");
    res.SetContent(body, "application/json");
    return;
  }
  res.status = 200;
  res.SetContent(absl::StrCat("{\"name\":\"m2mdb\",\"message\":\"ready for queries and writes\","
                              "\"status\":\"pass\",\"checks\":[],\"version\":\"",
                              kVersion, "\"}\n"),
                 "application/json");
}

void HttpServer::Impl::HandleMetrics(const Request& req, Response& res, const BodyReader&) {
  Params params(req, nullptr);
  if (!Authenticate(req, params, res).ok) return;
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
  body += subscriptions_->RenderMetrics();
  res.SetContent(std::move(body), "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace m2mdb::server
