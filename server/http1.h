// Our own HTTP/1.1 server, plain TCP and TLS (docs/architecture.md, "HTTP").
//
// cpp-httplib 0.11's server spends ~100 K instructions and 11 system calls
// on each keep-alive request (a poll before every read and write, two sends
// per response, getpeername/getsockname per request, std::function splitting
// of the query string); on a 0.1 ms query that is most of the answer's time.
// This server does one poll, one recv and one send per request to a busy
// keep-alive client: a worker thread serves a connection while its requests
// come quickly, parses the request head in place, hands the handler a body
// reader that streams from the socket, and writes the head and the body with
// one sendmsg.
//
// Connections cost a file descriptor, not a thread, while they wait: one
// event loop (epoll, the thread that calls Run) accepts and owns every
// connection that waits for bytes (a new one, one idle between requests, one
// whose request head is still arriving) and hands it to a worker only when
// bytes are ready. A worker that has answered keeps the connection for a
// short linger (a client asking again at once is served without a hand-off),
// then parks it back in the loop. The loop enforces the deadlines: a
// connection must send a complete request head (and, over TLS, finish its
// handshake) within the header timeout of its accept or of the head's first
// byte, and may stay idle between requests for the keep-alive timeout; each
// client address may hold a bounded number of connections.
//
// TLS is OpenSSL on the same connection loop (SSL_accept/SSL_read/SSL_write
// over the non-blocking socket; OpenSSL does all crypto), so plain and TLS
// connections share every limit, the router and the handlers.
//
// Requests and responses are our own plain types (http_types.h).
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
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <openssl/ssl.h>
#include <sys/socket.h>

#include "m2mdb/status.h"
#include "server/http_types.h"

namespace m2mdb::server {

struct Http1Options {
  // At most this many worker threads, each serving one connection with bytes
  // ready at a time; they start as such connections arrive and end after a
  // keep-alive period without one. More ready connections wait for a free
  // worker; idle connections hold no worker.
  int threads = 1024;
  int keep_alive_seconds = 30;    // idle between requests
  int read_timeout_seconds = 10;  // longest gap within a body, and for each send
  // A request head (request line and headers) must be complete within this
  // many seconds of the connection's accept (its first request, the TLS
  // handshake included) or of the head's first byte (later requests); else
  // 408 and close.
  int header_timeout_seconds = 10;
  // A request body must be read completely within this many seconds of its
  // head (0 = only the read timeout per gap applies).
  int body_timeout_seconds = 300;
  // Open connections per client address; more are answered 429 and closed
  // at once (0 = no limit).
  int max_connections_per_address = 256;
  // Request line plus headers; more is answered 431 (Go's default is 1 MB).
  size_t max_head_bytes = 1 << 20;
  // Between requests, poll the socket without sleeping for this long first
  // (at most half the CPUs at once); 0 = always sleep in poll.
  int spin_us = 0;
  // Serve TLS with this context (not owned; must outlive the server); null
  // = plain HTTP.
  SSL_CTX* tls = nullptr;
  // Added to every response that does not set them.
  Headers default_headers;
};

class Http1Server {
 public:
  // Serves one request. The body (Content-Length or chunked) is read only if
  // the handler calls `reader`; a body left unread is skipped, or the
  // connection closed when it is large. A response status >= 400 with an
  // empty body goes through `error_body` first.
  using Handler = std::function<void(const Request&, Response&, const BodyReader&)>;
  // After the response is written (or could not be).
  using Logger = std::function<void(const Request&, const Response&)>;
  using ErrorBody = std::function<void(Response&)>;

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
  // caller closes fd; over TLS when Http1Options::tls is set). For the fuzzer
  // and tests; needs neither Bind nor Run.
  void ServeConnection(int fd);

  // Worker threads running now (for tests and metrics).
  size_t workers();
  // Waits between requests that spun (Http1Options::spin_us) so far.
  uint64_t spins() const;
  // Connections refused by max_connections_per_address so far.
  uint64_t refused() const;
  // Open connections (parked, queued or being served).
  size_t connections();

 private:
  class Connection;
  enum class Next { kPark, kClose };
  void Worker();
  void Accept();
  // Hands `c` to the event loop until it is readable or its deadline passes.
  void Park(Connection* c);
  // Closes and frees `c`.
  void Finish(Connection* c);
  // Closes parked connections whose deadline has passed (loop thread).
  void Sweep();
  // Sets starved_; REQUIRES: mu_ held.
  void UpdateStarved();

  const Http1Options options_;
  const Handler handler_;
  const ErrorBody error_body_;
  const Logger logger_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;   // eventfd: readable once Stop was called
  int epoll_fd_ = -1;  // the loop's: listen_fd_, stop_fd_ and parked connections
  std::atomic<bool> stopping_{false};
  std::atomic<int> spinners_{0};  // connections spinning between requests
  std::atomic<uint64_t> spins_{0};
  // Ready connections wait for a worker at the thread limit: lingering
  // workers give their connections back at once. Written under mu_.
  std::atomic<bool> starved_{false};
  std::atomic<uint64_t> refused_{0};
  const int max_spinners_;

  std::mutex mu_;
  std::condition_variable cv_;              // pending_ or closed_ changed
  std::condition_variable exit_cv_;         // live_workers_ reached 0
  size_t live_workers_ = 0;                 // guarded by mu_
  size_t idle_workers_ = 0;                 // waiting for a connection; guarded by mu_
  std::deque<Connection*> pending_;         // readable connections no worker has yet; guarded by mu_
  std::unordered_set<Connection*> parked_;  // waiting in the loop; guarded by mu_
  std::unordered_map<std::string, int> per_address_;  // open connections; guarded by mu_
  size_t open_ = 0;                                   // guarded by mu_
  bool closed_ = false;                               // guarded by mu_
};

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_HTTP1_H_
