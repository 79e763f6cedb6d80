#include "bench/m2mdb_bench/http.h"

#include <chrono>

#include "client/http_client.h"

namespace m2mdb::bench {
namespace {

std::string BaseUrl(const std::string& url) {
  // The client wants scheme://host:port only.
  size_t scheme = url.find("://");
  size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  size_t slash = url.find('/', start);
  std::string base = slash == std::string::npos ? url : url.substr(0, slash);
  if (scheme == std::string::npos) base = "http://" + base;
  return base;
}

HttpAnswer Answer(absl::StatusOr<client::HttpResponse> res, std::chrono::steady_clock::time_point t0) {
  HttpAnswer a;
  a.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!res.ok()) {
    a.error = std::string(res.status().message());
    return a;
  }
  a.status = res->status;
  a.body = std::move(res->body);
  return a;
}

}  // namespace

HttpClient::HttpClient(const std::string& url, int timeout_seconds) {
  client::HttpClientOptions o;
  o.url = BaseUrl(url);
  o.connect_timeout_seconds = 5;
  o.read_timeout_seconds = timeout_seconds;
  o.write_timeout_seconds = timeout_seconds;
  auto c = client::HttpClient::Create(o);
  if (c.ok()) {
    client_ = std::move(*c);
  } else {
    error_ = std::string(c.status().message());
  }
}

HttpClient::~HttpClient() = default;

HttpAnswer HttpClient::Failed() const {
  HttpAnswer a;
  a.error = error_;
  return a;
}

HttpAnswer HttpClient::Get(const std::string& path_and_query) {
  if (client_ == nullptr) return Failed();
  auto t0 = std::chrono::steady_clock::now();
  return Answer(client_->Get(path_and_query), t0);
}

HttpAnswer HttpClient::Post(const std::string& path_and_query, std::string_view body,
                            const std::string& content_type) {
  if (client_ == nullptr) return Failed();
  auto t0 = std::chrono::steady_clock::now();
  return Answer(client_->Post(path_and_query, body, content_type), t0);
}

HttpAnswer HttpClient::PostGzip(const std::string& path, const client::Params& query, std::string_view body,
                                const std::string& content_type) {
  if (client_ == nullptr) return Failed();
  auto t0 = std::chrono::steady_clock::now();
  return Answer(client_->PostEncoded(path, query, body, content_type, "gzip"), t0);
}

}  // namespace m2mdb::bench
