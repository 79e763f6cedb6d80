// The InfluxDB 1.x-compatible HTTP API (docs/http-api.md), plain HTTP or TLS,
// served by Http1Server (http1.h).
//
// The implementation (HttpServer::Impl, one file per concern) is private to
// server/: see http_server_impl.h.
//
// Thread-safety: Run blocks in one thread; Stop may be called from another.
#ifndef M2MDB_SERVER_HTTP_SERVER_H_
#define M2MDB_SERVER_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "m2mdb/db.h"
#include "m2mdb/status.h"
#include "server/auth_state.h"
#include "server/serve.h"
#include "server/tokens.h"

namespace m2mdb::server {

class HttpServer {
 public:
  // `db` must outlive the server. With auth_required, every request but
  // /ping and /health needs a token of `tokens`.
  static StatusOr<std::unique_ptr<HttpServer>> Create(DB* db, const ServeOptions& options, TokenStore tokens,
                                                      bool auth_required);
  // The same with credentials shared with another listener (serve.cc gives
  // the MQTT listener the same AuthState).
  static StatusOr<std::unique_ptr<HttpServer>> Create(DB* db, const ServeOptions& options,
                                                      std::shared_ptr<AuthState> auth);
  ~HttpServer();

  // Binds host:port (port 0: any free port); returns the bound port.
  StatusOr<int> Bind(const std::string& host, int port);
  // Serves until Stop; returns when every request in flight has finished.
  void Run();
  // Stops accepting; Run returns once requests in flight are done.
  void Stop();

  bool tls() const;

  // Not OK while a subscription on `database` refuses local writes (WHEN
  // FULL REFUSE WRITES with a full backlog): for the MQTT listener.
  Status CheckWritable(std::string_view database) const;

  // For tests: called with the query text right before the executor runs
  // it, on the request's thread (e.g. to throw as a failing statement
  // would). Set before Run.
  void SetQueryHookForTest(std::function<void(const std::string&)> hook);

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Splits "host:port", "[v6]:port" or ":port" (host "0.0.0.0").
Status ParseListenAddress(const std::string& addr, std::string* host, int* port);
// True for 127.0.0.0/8, ::1 and localhost.
bool IsLoopbackHost(const std::string& host);

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_HTTP_SERVER_H_
