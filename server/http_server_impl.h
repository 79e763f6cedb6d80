// HttpServer::Impl: the state every handler shares (the DB, options, tokens,
// metrics, executor, query slots) and the handlers, one concern per file:
//
//   http_server.cc      the facade, TLS context and Http1Server set-up
//   routes.cc           the routing table: method + path -> handler, 404/405,
//                       the Content-Length limit (413) before a body is read
//   status_handlers.cc  /ping, /health, /metrics
//   auth.cc             Authenticate (401), AuthorizeStatements (403)
//   request_body.cc     ReadBody: a request body under the size limit, gunzipped
//   write_handler.cc    /write and /api/v2/write
//   query_handler.cc    /query: parameters, the concurrency slot, whole and
//                       streamed (chunked=true) answers
//
// and the helpers they share: params.h (form and URL parameters, JSON bound
// parameters), api_response.h (InfluxDB's error answers), chunked_json.h
// (chunked=true documents), gzip.h, error_kinds.h (error kind -> status).
// Below them, the connection loop: http1.h, http1_parse.h, http_types.h.
//
// Private to server/; included by those files only.
#ifndef M2MDB_SERVER_HTTP_SERVER_IMPL_H_
#define M2MDB_SERVER_HTTP_SERVER_IMPL_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <openssl/ssl.h>

#include "m2mdb/db.h"
#include "m2mdb/query/executor.h"
#include "server/auth.h"
#include "server/auth_state.h"
#include "server/error_kinds.h"
#include "server/http1.h"
#include "server/http_server.h"
#include "server/http_types.h"
#include "server/metrics.h"
#include "server/params.h"
#include "server/subscriptions/origin.h"
#include "server/subscriptions/subscriptions.h"
#include "server/users.h"

namespace m2mdb::server {

// The endpoint a path names, for the request counters (routes.cc).
Endpoint EndpointOf(std::string_view path);

// Thread-local request buffers: a 5000-line batch is ~1 MB, and allocating
// that afresh per request costs page faults (malloc serves it by mmap).
struct Buffers {
  std::string body;
  std::string inflated;
  void Trim() {
    // Keep the common size warm, give back the rare giant.
    constexpr size_t kKeep = 8 << 20;
    if (body.capacity() > kKeep) std::string().swap(body);
    if (inflated.capacity() > kKeep) std::string().swap(inflated);
  }
};
extern thread_local Buffers tls_buffers;  // request_body.cc

class HttpServer::Impl {
 public:
  Impl(DB* db, const ServeOptions& o, std::shared_ptr<AuthState> auth)
      : db_(db),
        options_(o),
        auth_state_(std::move(auth)),
        users_(auth_state_->users()),
        login_limiter_(auth_state_->login_limiter()),
        executor_(db, o.continuous_queries) {}

  Status Init();
  ~Impl() {
    if (ssl_ctx_ != nullptr) SSL_CTX_free(ssl_ctx_);
  }
  StatusOr<int> Bind(const std::string& host, int port) { return http_->Bind(host, port); }
  void Run() {
    http_->Run();
    run_done_ = true;
  }
  // Stops accepting and closes idle connections; returns once Run has
  // returned (requests in flight answered). A Stop before Run has started
  // makes Run return at once.
  void Stop() {
    // Senders first: they read the DB, which the caller closes next.
    if (subscriptions_ != nullptr) subscriptions_->Stop();
    http_->Stop();
    while (!run_done_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  bool tls() const { return tls_; }
  Status CheckWritable(std::string_view database) const { return subscriptions_->CheckWritable(database); }
  // Counts a statement stopped by a query limit (its kind's metric).
  void CountStatementError(const query::StatementResult& r) {
    if (r.error.empty()) return;
    if (auto limit = ActionFor(r.kind).limit) metrics_.AddLimitRejection(*limit);
  }
  void SetQueryHookForTest(std::function<void(const std::string&)> hook) {
    query_hook_for_test_ = std::move(hook);
  }

  // Every request, plain or TLS: the routing table (routes.cc).
  void Dispatch(const Request& req, Response& res, const BodyReader& reader);

 private:
  using Handler = void (Impl::*)(const Request& req, Response& res, const BodyReader& reader);
  // One row of the routing table (routes.cc).
  struct Route {
    std::string_view method;
    std::string_view path;
    Endpoint endpoint;
    // A body is read: a Content-Length over --max-body-bytes is answered
    // 413 before the handler runs.
    bool reads_body;
    Handler handler;
  };
  static const Route kRoutes[];
  static const Route* FindPath(std::string_view path);
  friend Endpoint EndpointOf(std::string_view path);

  struct AuthResult {
    std::shared_ptr<const TokenStore> tokens;  // keeps `token` alive while tokens are replaced
    const TokenInfo* token = nullptr;          // a token's holder; null when auth is off
    std::optional<UserInfo> user;              // or a user's (a copy: grants may change)
    bool ok = true;
  };
  // Auth is on with a token (at start) or once there is an admin user.
  bool AuthActive() const { return auth_state_->Active(); }
  std::shared_ptr<const TokenStore> Tokens() const { return auth_state_->Tokens(); }
  // 401 (and false) without a valid token when auth is required.
  AuthResult Authenticate(const Request& req, const Params& params, Response& res);
  // 403 (and false) unless `token` may run every statement, `database`
  // being the request's db= parameter.
  bool AuthorizeStatements(const Request& req, Response& res, const TokenInfo& token,
                           const std::vector<query::Statement>& statements, const std::string& database);
  // The same for a user's grants (influxd's rules, deleting needs ALL).
  bool AuthorizeUserStatements(const Request& req, Response& res, const UserInfo& user,
                               const std::vector<query::Statement>& statements, const std::string& database);
  // CREATE USER, GRANT, ... (user_statements.h): admin only once auth is on.
  // False (and a 403 in res) unless auth is off or the caller is an admin.
  bool RequireAdmin(const Request& req, Response& res, const AuthResult& auth, std::string_view why);
  void HandleUserQuery(const Request& req, Response& res, const Params& params, const AuthResult& auth,
                       const std::string& q);
  // CREATE/SHOW/DROP SUBSCRIPTION (subscriptions/statements.h): admin only
  // once auth is on.
  void HandleSubscriptionQuery(const Request& req, Response& res, const Params& params,
                               const AuthResult& auth, const std::string& q);
  // Answers 403 with `message` and logs it (rate-limited).
  void Forbidden(const Request& req, Response& res, const TokenInfo& token, const std::string& message);

  // /api/m2mdb/tokens (token_handlers.cc): `m2mdb token --host` against a
  // running server; admin only once auth is on.
  void HandleTokenList(const Request& req, Response& res, const BodyReader& reader);
  void HandleTokenCreate(const Request& req, Response& res, const BodyReader& reader);
  void HandleTokenRevoke(const Request& req, Response& res, const BodyReader& reader);
  // Authenticates and checks admin for the token endpoints; false when a
  // response was set.
  bool TokenAdmin(const Request& req, Response& res, const Params& params);
  // Re-reads the token store after a change.
  Status ReloadTokens();

  void HandlePing(const Request& req, Response& res, const BodyReader& reader);
  void HandleHealth(const Request& req, Response& res, const BodyReader& reader);
  void HandleMetrics(const Request& req, Response& res, const BodyReader& reader);
  void HandleWriteV1(const Request& req, Response& res, const BodyReader& reader) {
    HandleWrite(req, res, reader, false);
  }
  void HandleWriteV2(const Request& req, Response& res, const BodyReader& reader) {
    HandleWrite(req, res, reader, true);
  }
  void HandleWrite(const Request& req, Response& res, const BodyReader& reader, bool v2);
  void HandleGetQuery(const Request& req, Response& res, const BodyReader&) {
    HandleQuery(req, res, nullptr);
  }
  void HandlePostQuery(const Request& req, Response& res, const BodyReader& reader);
  void HandleQuery(const Request& req, Response& res, const ParamMap* form);
  // Reads the body with the limits; false when a response was set (or the
  // client is gone).
  bool ReadBody(const Request& req, Response& res, const BodyReader& reader, std::string_view* body);

  DB* db_;
  ServeOptions options_;
  // Tokens (replaced whole when one is created or revoked at run time; a
  // request holds its snapshot, AuthResult::tokens), users and the login
  // limiter, shared with the MQTT listener (auth_state.h).
  std::shared_ptr<AuthState> auth_state_;
  bool tls_ = false;
  SSL_CTX* ssl_ctx_ = nullptr;  // TLS; owned
  std::unique_ptr<Http1Server> http_;
  ServerMetrics metrics_;
  std::atomic<int> queries_running_{0};
  // This server's origin mark (server/subscriptions/origin.h).
  const std::string origin_id_ = NewOriginId();
  std::atomic<bool> looped_back_logged_{false};  // warned once
  AuthLog auth_log_;
  UserStore* users_;             // auth_state_'s
  LoginLimiter& login_limiter_;  // auth_state_'s
  std::function<void(const std::string&)> query_hook_for_test_;
  std::atomic<bool> run_done_{false};
  query::Executor executor_;
  // Durable subscriptions (docs/edge.md); started by Init.
  std::unique_ptr<SubscriptionManager> subscriptions_;
  // Held by a request that creates a subscription or continuous query and
  // by one that drops a database or retention policy, for the whole of it:
  // a create that checked its database before a concurrent drop removed
  // what depends on it was stored after, and outlived the database (and
  // came back with a database of the same name).
  std::mutex ddl_mu_;
};

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_HTTP_SERVER_IMPL_H_
