// The routing table: method + path -> handler, for plain and TLS requests
// alike. A path not in the table is 404, a path in it with another method
// 405 with the path's methods in Allow (Go's ServeMux answers, which
// InfluxDB's clients see). Routes that read a body refuse a Content-Length
// over --max-body-bytes here, before a byte of it is read.
#include <iterator>
#include <string>

#include "absl/strings/str_cat.h"

#include "server/api_response.h"
#include "server/http_server_impl.h"

namespace m2mdb::server {

using Impl = HttpServer::Impl;

// Methods of one path are listed together, in the order Allow names them.
const Impl::Route Impl::kRoutes[] = {
    {"POST", "/write", Endpoint::kWrite, true, &Impl::HandleWriteV1},
    {"POST", "/api/v2/write", Endpoint::kWriteV2, true, &Impl::HandleWriteV2},
    {"GET", "/query", Endpoint::kQuery, false, &Impl::HandleGetQuery},
    {"POST", "/query", Endpoint::kQuery, true, &Impl::HandlePostQuery},
    {"GET", "/api/m2mdb/tokens", Endpoint::kOther, false, &Impl::HandleTokenList},
    {"POST", "/api/m2mdb/tokens", Endpoint::kOther, true, &Impl::HandleTokenCreate},
    {"POST", "/api/m2mdb/tokens/revoke", Endpoint::kOther, true, &Impl::HandleTokenRevoke},
    {"GET", "/ping", Endpoint::kPing, false, &Impl::HandlePing},
    {"HEAD", "/ping", Endpoint::kPing, false, &Impl::HandlePing},
    {"GET", "/health", Endpoint::kHealth, false, &Impl::HandleHealth},
    {"HEAD", "/health", Endpoint::kHealth, false, &Impl::HandleHealth},
    {"GET", "/metrics", Endpoint::kMetrics, false, &Impl::HandleMetrics},
    {"HEAD", "/metrics", Endpoint::kMetrics, false, &Impl::HandleMetrics},
};

const Impl::Route* Impl::FindPath(std::string_view path) {
  for (const Route& r : kRoutes) {
    if (r.path == path) return &r;
  }
  return nullptr;
}

Endpoint EndpointOf(std::string_view path) {
  const Impl::Route* r = Impl::FindPath(path);
  return r == nullptr ? Endpoint::kOther : r->endpoint;
}

void Impl::Dispatch(const Request& req, Response& res, const BodyReader& reader) {
  const Route* first = FindPath(req.path);
  if (first == nullptr) {
    res.status = 404;
    res.SetContent("404 page not found\n", "text/plain; charset=utf-8");
    return;
  }
  const Route* const end = std::end(kRoutes);
  for (const Route* r = first; r != end && r->path == first->path; ++r) {
    if (r->method != req.method) continue;
    if (r->reads_body && options_.max_body_bytes > 0 && req.HasHeader("Content-Length") &&
        req.HeaderUint("Content-Length") > options_.max_body_bytes) {
      // Answer before reading; the unread body makes the connection unusable.
      metrics_.AddLimitRejection(Limit::kBodySize);
      SetError(res, 413,
               absl::StrCat("request body too large: limit is ", options_.max_body_bytes,
                            " bytes (--max-body-bytes)"));
      res.SetHeader("Connection", "close");
      return;
    }
    return (this->*(r->handler))(req, res, reader);
  }
  std::string allow;
  for (const Route* r = first; r != end && r->path == first->path; ++r) {
    if (!allow.empty()) allow += ", ";
    allow += r->method;
  }
  res.status = 405;
  res.SetHeader("Allow", allow);
  res.SetContent("Method Not Allowed\n", "text/plain; charset=utf-8");
}

}  // namespace m2mdb::server
