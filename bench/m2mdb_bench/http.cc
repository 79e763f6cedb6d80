#include "bench/m2mdb_bench/http.h"

#include <chrono>

#include "httplib.h"

namespace m2mdb::bench {
namespace {

std::string ErrorText(httplib::Error e) { return httplib::to_string(e); }

std::string BaseUrl(const std::string& url) {
  // httplib wants scheme://host:port only.
  size_t scheme = url.find("://");
  size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  size_t slash = url.find('/', start);
  std::string base = slash == std::string::npos ? url : url.substr(0, slash);
  if (scheme == std::string::npos) base = "http://" + base;
  return base;
}

}  // namespace

HttpClient::HttpClient(const std::string& url, int timeout_seconds)
    : client_(std::make_unique<httplib::Client>(BaseUrl(url))) {
  client_->set_keep_alive(true);
  client_->set_connection_timeout(5, 0);
  client_->set_read_timeout(timeout_seconds, 0);
  client_->set_write_timeout(timeout_seconds, 0);
}

HttpClient::~HttpClient() = default;

HttpAnswer HttpClient::Get(const std::string& path_and_query) {
  HttpAnswer a;
  auto t0 = std::chrono::steady_clock::now();
  auto res = client_->Get(path_and_query);
  a.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!res) {
    a.error = ErrorText(res.error());
    return a;
  }
  a.status = res->status;
  a.body = std::move(res->body);
  return a;
}

HttpAnswer HttpClient::Post(const std::string& path_and_query, std::string_view body,
                            const std::string& content_type) {
  HttpAnswer a;
  auto t0 = std::chrono::steady_clock::now();
  auto res = client_->Post(path_and_query, body.data(), body.size(), content_type);
  a.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!res) {
    a.error = ErrorText(res.error());
    return a;
  }
  a.status = res->status;
  a.body = std::move(res->body);
  return a;
}

std::string UrlEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace m2mdb::bench
