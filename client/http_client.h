// client/http_client.h — the one HTTP client of the m2mdb tool and
// m2mdb-bench: a blocking HTTP/1.1 (and https) client over cpp-httplib, with
// keep-alive. The only place outside server/ that includes httplib.h.
//
// Thread-safety: one HttpClient per thread (not thread-safe).
#ifndef M2MDB_CLIENT_HTTP_CLIENT_H_
#define M2MDB_CLIENT_HTTP_CLIENT_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace m2mdb::client {

using Params = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  int status = 0;
  std::string body;              // for GetStream with status 200: empty (it went to on_data)
  std::string retry_after = {};  // the Retry-After header (PostEncoded only)
};

struct HttpClientOptions {
  std::string url;    // "http://host:port" or "https://host:port", no path
  std::string token;  // non-empty: sent as "Authorization: Token <token>"
  // Non-empty user: HTTP basic authentication (influxd's u/p alternative).
  std::string basic_user, basic_password;
  bool insecure = false;  // https: skip certificate verification
  std::string cacert;     // https: CA bundle (PEM) to verify the server with
  // Sent with every request (e.g. the subscription sender's origin mark).
  std::vector<std::pair<std::string, std::string>> headers = {};
  int connect_timeout_seconds = 10;
  int read_timeout_seconds = 3600;
  int write_timeout_seconds = 600;
};

class HttpClient {
 public:
  // InvalidArgument "not a valid URL" when httplib cannot use `options.url`.
  static absl::StatusOr<std::unique_ptr<HttpClient>> Create(const HttpClientOptions& options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Each call fails with Unavailable when no answer came, saying what failed
  // ("cannot connect to 127.0.0.1:8086: connection refused (is the server
  // running? ...)", a timeout, a TLS failure); any HTTP status is an answer.
  // Requests go out at once (TCP_NODELAY) on a kept-alive connection.
  //
  // GET `path_and_query` as given.
  absl::StatusOr<HttpResponse> Get(const std::string& path_and_query);
  // POST `path_and_query` as given, with `body`.
  absl::StatusOr<HttpResponse> Post(const std::string& path_and_query, std::string_view body,
                                    const std::string& content_type);
  // POST `path` with an application/x-www-form-urlencoded body.
  absl::StatusOr<HttpResponse> PostForm(const std::string& path, const Params& form);
  // POST `path`?`query` with `body`.
  absl::StatusOr<HttpResponse> PostBody(const std::string& path, const Params& query, std::string_view body,
                                        const std::string& content_type);
  // POST `path`?`query` with `body` already encoded as `content_encoding`
  // (e.g. "gzip"); the answer carries Retry-After.
  absl::StatusOr<HttpResponse> PostEncoded(const std::string& path, const Params& query,
                                           std::string_view body, const std::string& content_type,
                                           const std::string& content_encoding);
  // GET `path`?`query`; a 200 body is passed to `on_data` as it arrives (return
  // false to stop), any other status' body is returned whole.
  absl::StatusOr<HttpResponse> GetStream(const std::string& path, const Params& query,
                                         const std::function<bool(std::string_view)>& on_data);

  const std::string& url() const { return url_; }

 private:
  struct Impl;
  HttpClient(std::unique_ptr<Impl> impl, std::string url);
  // `httplib_error`: the httplib::Error of a request that got no answer.
  absl::Status Failed(int httplib_error) const;
  std::unique_ptr<Impl> impl_;
  std::string url_;
};

// Percent-encodes a query-string value (RFC 3986 unreserved bytes kept).
std::string UrlEncode(std::string_view s);

}  // namespace m2mdb::client

#endif  // M2MDB_CLIENT_HTTP_CLIENT_H_
