// Our own HTTP/1.1 server for plain TCP (docs/architecture.md, "HTTP").
//
// cpp-httplib 0.11's server spends ~100 K instructions and 11 system calls
// on each keep-alive request (a poll before every read and write, two sends
// per response, getpeername/getsockname per request, std::function splitting
// of the query string); on a 0.1 ms query that is most of the answer's time.
// This server does one poll, one recv and one send per request: a worker
// thread owns a connection, parses the request head in place, hands the
// handler a body reader that streams from the socket, and writes the head and
// the body with one sendmsg.
//
// It reuses httplib's Request and Response as plain data carriers, so the
// handlers in http_server.cc serve both this server and httplib's SSLServer
// (TLS stays on httplib).
//
// Thread-safety: Bind, then Run in one thread; Stop from any other.
#ifndef M2MDB_SERVER_HTTP1_H_
#define M2MDB_SERVER_HTTP1_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <sys/socket.h>

#include "httplib.h"

#include "m2mdb/status.h"

namespace m2mdb::server {

struct Http1Options {
  // At most this many worker threads, each serving one connection at a
  // time; they start as connections arrive and end after a keep-alive
  // period without one. More connections wait for a free worker.
  int threads = 1024;
  int keep_alive_seconds = 30;
  int read_timeout_seconds = 10;  // within a request, and for each send
  // Request line plus headers; more is answered 431 (Go's default is 1 MB).
  size_t max_head_bytes = 1 << 20;
  // Between requests, poll the socket without sleeping for this long first
  // (at most half the CPUs at once); 0 = always sleep in poll.
  int spin_us = 0;
  // Added to every response that does not set them.
  httplib::Headers default_headers;
};

class Http1Server {
 public:
  // Serves one request. The body (Content-Length or chunked) is read only if
  // the handler calls `reader`; a body left unread is skipped, or the
  // connection closed when it is large. A response status >= 400 with an
  // empty body goes through `error_body` first.
  using Handler =
      std::function<void(const httplib::Request&, httplib::Response&, const httplib::ContentReader&)>;
  // After the response is written (or could not be).
  using Logger = std::function<void(const httplib::Request&, const httplib::Response&)>;
  using ErrorBody = std::function<void(httplib::Response&)>;

  Http1Server(Http1Options options, Handler handler, ErrorBody error_body, Logger logger);
  ~Http1Server();
  Http1Server(const Http1Server&) = delete;
  Http1Server& operator=(const Http1Server&) = delete;

  // Binds host:port (port 0: any free port); returns the bound port.
  StatusOr<int> Bind(const std::string& host, int port);
  // Accepts until Stop; returns when every request in flight has finished.
  void Run();
  // Stops accepting and closes idle connections; Run returns once requests
  // in flight are answered. May come before Run starts.
  void Stop();

  // Serves one connected socket on the calling thread until it closes (the
  // caller closes fd). For the fuzzer and tests; needs neither Bind nor Run.
  void ServeConnection(int fd);

  // Worker threads running now (for tests and metrics).
  size_t workers();
  // Waits between requests that spun (Http1Options::spin_us) so far.
  uint64_t spins() const;

 private:
  class Connection;
  void Worker();

  const Http1Options options_;
  const Handler handler_;
  const ErrorBody error_body_;
  const Logger logger_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // eventfd: readable once Stop was called
  std::atomic<bool> stopping_{false};
  std::atomic<int> spinners_{0};  // connections spinning between requests
  std::atomic<uint64_t> spins_{0};
  const int max_spinners_;

  std::mutex mu_;
  std::condition_variable cv_;       // pending_ or closed_ changed
  std::condition_variable exit_cv_;  // live_workers_ reached 0
  size_t live_workers_ = 0;          // guarded by mu_
  size_t idle_workers_ = 0;          // waiting for a connection; guarded by mu_
  struct Pending {
    int fd;
    sockaddr_storage peer;
  };
  std::deque<Pending> pending_;  // accepted sockets no worker has yet; guarded by mu_
  bool closed_ = false;          // guarded by mu_
};

// Splits "a=1&b=x%20y" into params, as Go's url.ParseQuery: '+' is a space,
// a pair without '=' has an empty value, a pair with a bad %-escape is
// dropped. Shared by the URL and form bodies (POST /query).
void ParseQueryString(std::string_view s, httplib::Params* params);
// %XX-decodes s; '+' is a space when plus_is_space. False on a bad escape.
bool PercentDecode(std::string_view s, bool plus_is_space, std::string* out);

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_HTTP1_H_
