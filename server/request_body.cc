// Reading a request body (POST /write, /api/v2/write, /query): into the
// thread's reused buffer, under --max-body-bytes (413), and inflated when it
// comes with "Content-Encoding: gzip" (the limit applies after inflating too).
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#include "server/api_response.h"
#include "server/gzip.h"
#include "server/http_server_impl.h"

namespace m2mdb::server {

thread_local Buffers tls_buffers;

bool HttpServer::Impl::ReadBody(const Request& req, Response& res, const BodyReader& reader,
                                std::string_view* body) {
  Buffers& buf = tls_buffers;
  buf.body.clear();
  const uint64_t limit = options_.max_body_bytes > 0 ? options_.max_body_bytes : UINT64_MAX;
  if (req.HasHeader("Content-Length")) {
    uint64_t len = req.HeaderUint("Content-Length");
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
    res.SetHeader("Connection", "close");
    return false;
  }
  if (!ok) {
    // The client went away or sent less than it announced: nothing is
    // written; the answer most likely reaches no one.
    SetError(res, 400, "unexpected EOF: the request body is shorter than its Content-Length");
    res.SetHeader("Connection", "close");
    return false;
  }
  if (absl::EqualsIgnoreCase(req.Header("Content-Encoding"), "gzip")) {
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

}  // namespace m2mdb::server
