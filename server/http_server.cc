// The InfluxDB 1.x-compatible HTTP API (http_server.h): the facade, and the
// set-up of the one connection loop (Http1Server, http1.h) that serves plain
// and TLS connections: the TLS context (OpenSSL), limits, default headers,
// and the three callbacks — Dispatch (the routing table, routes.cc), the
// body of empty error answers, and the request counters for /metrics.
// Handlers live in their own files (http_server_impl.h lists them).
#include "server/http_server.h"

#include <string>
#include <utility>
#include <vector>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

#include "server/api_response.h"
#include "server/http_server_impl.h"

namespace m2mdb::server {

Status HttpServer::Impl::Init() {
  SubscriptionOptions so;
  so.dead_letter_dir = options_.data_dir;
  so.origin_id = origin_id_;
  subscriptions_ = std::make_unique<SubscriptionManager>(db_, so);
  RETURN_IF_ERROR(subscriptions_->Start());
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
  Headers headers = {{"X-Influxdb-Version", kInfluxVersion}, {"X-Influxdb-Build", "OSS"}};
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
      [this](const Request& req, Response& res, const BodyReader& reader) { Dispatch(req, res, reader); },
      [](Response& res) { res.SetContent(ErrorBody(StatusText(res.status)), "application/json"); },
      [this](const Request& req, const Response& res) {
        metrics_.RecordRequest(EndpointOf(req.path), res.status);
      });
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// HttpServer
// ---------------------------------------------------------------------------

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() = default;

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(DB* db, const ServeOptions& options,
                                                         TokenStore tokens, bool auth_required) {
  ASSIGN_OR_RETURN(std::shared_ptr<AuthState> auth, AuthState::Create(db, std::move(tokens), auth_required));
  return Create(db, options, std::move(auth));
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(DB* db, const ServeOptions& options,
                                                         std::shared_ptr<AuthState> auth) {
  auto impl = std::make_unique<Impl>(db, options, std::move(auth));
  RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

StatusOr<int> HttpServer::Bind(const std::string& host, int port) { return impl_->Bind(host, port); }
void HttpServer::Run() { impl_->Run(); }
void HttpServer::Stop() { impl_->Stop(); }
bool HttpServer::tls() const { return impl_->tls(); }
Status HttpServer::CheckWritable(std::string_view database) const { return impl_->CheckWritable(database); }
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
