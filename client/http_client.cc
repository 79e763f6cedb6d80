// Implements client/http_client.h over cpp-httplib (Debian
// libcpp-httplib-dev, built with OpenSSL and zlib).
#include "client/http_client.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <httplib.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace m2mdb::client {

struct HttpClient::Impl {
  explicit Impl(const std::string& url) : client(url) {}
  httplib::Client client;
  httplib::Headers headers;
  std::string host;  // as in the URL, without brackets
  int port = 0;
  int connect_timeout_seconds = 10;
};

namespace {

// "http://h:p", "https://[::1]:p", "http://h" -> host and port (the scheme's
// default when none is given); false when the URL has no usable host.
bool SplitUrl(const std::string& url, std::string* host, int* port) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return false;
  std::string rest = url.substr(scheme_end + 3);
  *port = absl::StartsWith(url, "https://") ? 443 : 80;
  std::string port_text;
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos) return false;
    *host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return false;
      port_text = rest.substr(close + 2);
    }
  } else {
    size_t colon = rest.rfind(':');
    *host = rest.substr(0, colon);
    if (colon != std::string::npos) port_text = rest.substr(colon + 1);
  }
  if (host->empty()) return false;
  if (!port_text.empty()) {
    int p = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9' || p > 65535) return false;
      p = p * 10 + (c - '0');
    }
    if (p < 1 || p > 65535) return false;
    *port = p;
  }
  return true;
}

// httplib reports only "Connection" when a connect fails. Trying once more
// with plain sockets finds out why (refused, unreachable, timed out, or the
// name does not resolve), which is what a user needs to fix it.
std::string WhyConnectFails(const std::string& host, int port, int timeout_seconds) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int gai = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (gai != 0) return absl::StrCat("cannot resolve host name ", host, " (", ::gai_strerror(gai), ")");
  std::string why = "connection failed";
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    int err = 0;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        int r;
        do {
          // httplib has waited its own timeout already: a short one here.
          r = ::poll(&p, 1, std::min(timeout_seconds, 3) * 1000);
        } while (r < 0 && errno == EINTR);
        if (r == 0) {
          err = ETIMEDOUT;
        } else {
          socklen_t len = sizeof(err);
          if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        }
      }
    }
    ::close(fd);
    if (err == 0) {
      ::freeaddrinfo(res);
      // It connects now: the failure was transient (or the server's backlog
      // was full a moment ago).
      return "connection failed (it succeeds now: the server may have just started or be overloaded)";
    }
    why = std::strerror(err);
  }
  ::freeaddrinfo(res);
  if (!why.empty()) why[0] = static_cast<char>(absl::ascii_tolower(static_cast<unsigned char>(why[0])));
  return why;
}

}  // namespace

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
  // Without it every request after the first on a kept-alive connection
  // waits for the server's delayed ACK (Nagle): ~40 ms per statement piped
  // into `m2mdb shell` (docs/benchmarks.md).
  impl->client.set_tcp_nodelay(true);
  impl->connect_timeout_seconds = o.connect_timeout_seconds;
  if (!SplitUrl(o.url, &impl->host, &impl->port)) return absl::InvalidArgumentError("not a valid URL");
  if (absl::StartsWith(o.url, "https://")) {
    if (o.insecure) {
      impl->client.enable_server_certificate_verification(false);
    } else if (!o.cacert.empty()) {
      impl->client.set_ca_cert_path(o.cacert);
    }
  }
  if (!o.token.empty()) impl->headers.emplace("Authorization", "Token " + o.token);
  for (const auto& [name, value] : o.headers) impl->headers.emplace(name, value);
  if (!o.basic_user.empty()) impl->client.set_basic_auth(o.basic_user, o.basic_password);
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl), o.url));
}

namespace {

// What failed, in words: "cannot connect to 127.0.0.1:8086: connection
// refused (is the server running? ...)".
absl::Status TransportError(const std::string& host, int port, int connect_timeout_seconds,
                            const std::string& url, httplib::Error e) {
  const std::string where = host.find(':') != std::string::npos ? absl::StrCat("[", host, "]:", port)
                                                                : absl::StrCat(host, ":", port);
  std::string msg;
  switch (e) {
    case httplib::Error::Connection:
      msg = absl::StrCat("cannot connect to ", where, ": ",
                         WhyConnectFails(host, port, connect_timeout_seconds));
      if (absl::StrContains(msg, "refused"))
        absl::StrAppend(&msg, " (is the server running? start it with `m2mdb serve`)");
      break;
    case httplib::Error::ConnectionTimeout:
      msg = absl::StrCat("cannot connect to ", where, ": timed out");
      break;
    case httplib::Error::Read:
      msg = absl::StrCat(url, ": the connection closed or timed out before the whole answer arrived");
      break;
    case httplib::Error::Write:
      msg = absl::StrCat(url, ": the connection closed or timed out while sending the request");
      break;
    case httplib::Error::SSLConnection:
      msg =
          absl::StrCat(url, ": TLS handshake failed (is it an https server? an http one answers plain text)");
      break;
    case httplib::Error::SSLLoadingCerts:
      msg = absl::StrCat(url, ": cannot load the CA certificates (--cacert)");
      break;
    case httplib::Error::SSLServerVerification:
      msg =
          absl::StrCat(url,
                       ": the server's certificate is not trusted (use --cacert FILE, or --insecure to skip "
                       "verification)");
      break;
    case httplib::Error::Compression:
      msg = absl::StrCat(url, ": cannot decompress the answer");
      break;
    case httplib::Error::Canceled:
      msg = absl::StrCat(url, ": request canceled");
      break;
    default:
      msg = absl::StrCat(url, ": request failed (", httplib::to_string(e), ")");
      break;
  }
  return absl::UnavailableError(msg);
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

absl::Status HttpClient::Failed(int httplib_error) const {
  return TransportError(impl_->host, impl_->port, impl_->connect_timeout_seconds, url_,
                        static_cast<httplib::Error>(httplib_error));
}

absl::StatusOr<HttpResponse> HttpClient::PostForm(const std::string& path, const Params& form) {
  httplib::Params p;
  for (const auto& [k, v] : form) p.emplace(k, v);
  auto res = impl_->client.Post(path.c_str(), impl_->headers, p);
  if (!res) return Failed(static_cast<int>(res.error()));
  return HttpResponse{res->status, std::move(res->body)};
}

absl::StatusOr<HttpResponse> HttpClient::PostBody(const std::string& path, const Params& query,
                                                  std::string_view body, const std::string& content_type) {
  auto res = impl_->client.Post(WithQuery(path, query).c_str(), impl_->headers, body.data(), body.size(),
                                content_type.c_str());
  if (!res) return Failed(static_cast<int>(res.error()));
  return HttpResponse{res->status, std::move(res->body)};
}

absl::StatusOr<HttpResponse> HttpClient::PostEncoded(const std::string& path, const Params& query,
                                                     std::string_view body, const std::string& content_type,
                                                     const std::string& content_encoding) {
  httplib::Headers headers = impl_->headers;
  if (!content_encoding.empty()) headers.emplace("Content-Encoding", content_encoding);
  auto res = impl_->client.Post(WithQuery(path, query).c_str(), headers, body.data(), body.size(),
                                content_type.c_str());
  if (!res) return Failed(static_cast<int>(res.error()));
  HttpResponse out{res->status, std::move(res->body), {}};
  out.retry_after = res->get_header_value("Retry-After");
  return out;
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
  if (!res && !stopped) return Failed(static_cast<int>(res.error()));
  return HttpResponse{status, std::move(error_body)};
}

absl::StatusOr<HttpResponse> HttpClient::Get(const std::string& path_and_query) {
  auto res = impl_->client.Get(path_and_query, impl_->headers);
  if (!res) return Failed(static_cast<int>(res.error()));
  return HttpResponse{res->status, std::move(res->body)};
}

absl::StatusOr<HttpResponse> HttpClient::Post(const std::string& path_and_query, std::string_view body,
                                              const std::string& content_type) {
  auto res = impl_->client.Post(path_and_query, impl_->headers, body.data(), body.size(), content_type);
  if (!res) return Failed(static_cast<int>(res.error()));
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
