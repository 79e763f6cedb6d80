// Implements client/http_client.h over cpp-httplib (Debian
// libcpp-httplib-dev, built with OpenSSL and zlib).
#include "client/http_client.h"

#include <utility>

#include <httplib.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace m2mdb::client {

struct HttpClient::Impl {
  explicit Impl(const std::string& url) : client(url) {}
  httplib::Client client;
  httplib::Headers headers;
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl, std::string url)
    : impl_(std::move(impl)), url_(std::move(url)) {}
HttpClient::~HttpClient() = default;

absl::StatusOr<std::unique_ptr<HttpClient>> HttpClient::Create(const HttpClientOptions& o) {
  auto impl = std::make_unique<Impl>(o.url);
  if (!impl->client.is_valid()) return absl::InvalidArgumentError("not a valid URL");
  impl->client.set_connection_timeout(o.connect_timeout_seconds, 0);
  impl->client.set_read_timeout(o.read_timeout_seconds, 0);
  impl->client.set_write_timeout(o.write_timeout_seconds, 0);
  impl->client.set_keep_alive(true);
  if (absl::StartsWith(o.url, "https://")) {
    if (o.insecure) {
      impl->client.enable_server_certificate_verification(false);
    } else if (!o.cacert.empty()) {
      impl->client.set_ca_cert_path(o.cacert);
    }
  }
  if (!o.token.empty()) impl->headers.emplace("Authorization", "Token " + o.token);
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl), o.url));
}

namespace {

absl::Status TransportError(const std::string& url, httplib::Error e) {
  std::string hint;
  if (e == httplib::Error::Connection) hint = " (is the server running? start it with `m2mdb serve`)";
  if (e == httplib::Error::SSLServerVerification)
    hint = " (use --cacert FILE, or --insecure to skip verification)";
  if (e == httplib::Error::SSLConnection) hint = " (is it an https server? an http one answers plain text)";
  return absl::UnavailableError(absl::StrCat(url, ": ", httplib::to_string(e), hint));
}

std::string WithQuery(const std::string& path, const Params& query) {
  std::string out = path;
  char sep = '?';
  for (const auto& [k, v] : query) {
    out.push_back(sep);
    sep = '&';
    absl::StrAppend(&out, httplib::detail::encode_query_param(k), "=",
                    httplib::detail::encode_query_param(v));
  }
  return out;
}

}  // namespace

absl::StatusOr<HttpResponse> HttpClient::PostForm(const std::string& path, const Params& form) {
  httplib::Params p;
  for (const auto& [k, v] : form) p.emplace(k, v);
  auto res = impl_->client.Post(path.c_str(), impl_->headers, p);
  if (!res) return TransportError(url_, res.error());
  return HttpResponse{res->status, std::move(res->body)};
}

absl::StatusOr<HttpResponse> HttpClient::PostBody(const std::string& path, const Params& query,
                                                  std::string_view body, const std::string& content_type) {
  auto res = impl_->client.Post(WithQuery(path, query).c_str(), impl_->headers, body.data(), body.size(),
                                content_type.c_str());
  if (!res) return TransportError(url_, res.error());
  return HttpResponse{res->status, std::move(res->body)};
}

absl::StatusOr<HttpResponse> HttpClient::GetStream(const std::string& path, const Params& query,
                                                   const std::function<bool(std::string_view)>& on_data) {
  int status = 0;
  std::string error_body;
  bool stopped = false;
  auto res = impl_->client.Get(
      WithQuery(path, query).c_str(), impl_->headers,
      [&](const httplib::Response& r) {
        status = r.status;
        return true;
      },
      [&](const char* data, size_t n) {
        if (status != 200) {
          error_body.append(data, n);
          return true;
        }
        if (!on_data(std::string_view(data, n))) {
          stopped = true;
          return false;
        }
        return true;
      });
  if (!res && !stopped) return TransportError(url_, res.error());
  return HttpResponse{status, std::move(error_body)};
}

absl::StatusOr<HttpResponse> HttpClient::Get(const std::string& path_and_query) {
  auto res = impl_->client.Get(path_and_query, impl_->headers);
  if (!res) return TransportError(url_, res.error());
  return HttpResponse{res->status, std::move(res->body)};
}

absl::StatusOr<HttpResponse> HttpClient::Post(const std::string& path_and_query, std::string_view body,
                                              const std::string& content_type) {
  auto res = impl_->client.Post(path_and_query, impl_->headers, body.data(), body.size(), content_type);
  if (!res) return TransportError(url_, res.error());
  return HttpResponse{res->status, std::move(res->body)};
}

std::string UrlEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace m2mdb::client
