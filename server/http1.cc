#include "server/http1.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstring>
#include <utility>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

#include "m2mdb/log.h"
#include "server/gzip.h"
#include "server/http1_parse.h"

namespace m2mdb::server {
namespace {

// Socket reads take up to this much at a time.
constexpr size_t kReadChunk = 64 * 1024;
// A body the handler left unread is read and dropped up to this size, so the
// connection stays usable; a bigger one closes it.
constexpr uint64_t kDrainLimit = 256 * 1024;
// Longest chunk-size line (with extensions) of a chunked body.
constexpr size_t kMaxChunkLine = 4096;
// After an answer, a worker waits this long for the client's next request
// before it parks the connection in the event loop. A busy keep-alive client
// (a load generator, a bulk writer) asks again within microseconds and stays
// on the fast path: one poll, one recv and one sendmsg per request, no
// hand-off; a device writing once a second pays one hand-off (an epoll_ctl
// and a wakeup) per request and holds no thread in between.
constexpr int kLingerMs = 100;
// Parked connections are checked against their deadline this often.
constexpr int kSweepMs = 200;

const char* Reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    case 507:
      return "Insufficient Storage";
    default:
      return status < 300 ? "OK" : status < 400 ? "Redirect" : status < 500 ? "Client Error" : "Server Error";
  }
}

// What cpp-httplib (which served these answers before) and InfluxDB (Go's
// gzip handler) compress.
bool Compressible(const std::string& content_type) {
  std::string_view t = content_type;
  if (t.substr(0, 5) == "text/") return t.substr(0, 17) != "text/event-stream";
  return t.find("json") != std::string_view::npos || t.find("xml") != std::string_view::npos ||
         t.find("javascript") != std::string_view::npos;
}

void AddressOf(const sockaddr_storage& a, std::string* host, int* port) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (a.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
    inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof(buf));
    *port = ntohs(v4->sin_port);
  } else if (a.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
    inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof(buf));
    *port = ntohs(v6->sin6_port);
  }
  *host = buf;
}

}  // namespace

// ---------------------------------------------------------------------------
// Connection: one client. Owned by the event loop while it waits for bytes
// (parked), by one worker thread while it is served.
// ---------------------------------------------------------------------------

class Http1Server::Connection {
 public:
  using Clock = std::chrono::steady_clock;

  Connection(Http1Server* server, int fd, const sockaddr_storage& peer, SSL* ssl)
      : s_(server), fd_(fd), ssl_(ssl) {
    AddressOf(peer, &remote_addr_, &remote_port_);
    // The first request head (the TLS handshake included) is due within
    // the header timeout of the accept: a connection that sends nothing
    // costs a file descriptor for that long, nothing more.
    deadline_ = Clock::now() + std::chrono::seconds(s_->options_.header_timeout_seconds);
  }
  ~Connection() {
    if (ssl_ != nullptr) {
      // close_notify, best effort (non-blocking); never after a fatal
      // error, where OpenSSL forbids it.
      if (handshaken_ && !tls_failed_) SSL_shutdown(ssl_);
      SSL_free(ssl_);
    }
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
  }

  int fd() const { return fd_; }
  const std::string& address() const { return remote_addr_; }
  bool registered = false;  // in the loop's epoll set (Http1Server::Park)
  Clock::time_point deadline() const { return deadline_; }

  // Serves requests while bytes keep coming: kPark when the connection waits
  // for its client (the loop takes it back), kClose when it is done.
  Next Run() {
    if (ssl_ != nullptr && !handshaken_) {
      Head h = Handshake();
      if (h != Head::kReady) return h == Head::kPark ? Next::kPark : Next::kClose;
    }
    for (;;) {
      size_t head_len;
      Head h = ReadHead(&head_len);
      if (h == Head::kPark) return Next::kPark;
      if (h == Head::kClose) return Next::kClose;
      if (!ServeOne(head_len)) return Next::kClose;
      first_request_ = false;
      deadline_ = Clock::now() + std::chrono::seconds(s_->options_.keep_alive_seconds);
      if (Buffered() > 0) HeadStarted();  // a pipelined request
    }
  }

  // The deadline passed while parked: a 408 for a request head that had
  // started (plain HTTP; without blocking the loop), then the caller closes.
  void Expire() {
    if (Buffered() > 0 && ssl_ == nullptr) {
      nonblocking_only_ = true;
      Reject(408, "timeout reading the request head");
    }
  }

  // Frees the read buffer of a connection parked with nothing buffered: a
  // thousand idle connections should not hold 64 KiB each.
  void Shrink() {
    if (Buffered() == 0 && (ssl_ == nullptr || SSL_pending(ssl_) == 0)) {
      std::vector<char>().swap(buf_);
      begin_ = end_ = 0;
    }
  }

 private:
  enum class Wait { kData, kEof, kTimeout, kStop, kError };
  enum class Framing { kNone, kLength, kChunked };
  enum class Head { kReady, kPark, kClose };

  size_t Buffered() const { return end_ - begin_; }

  // The first byte of a later request's head arrived: the rest is due within
  // the header timeout (a client dripping one byte every few seconds is cut
  // off then, whatever its pace).
  void HeadStarted() {
    if (!first_request_) {
      deadline_ = Clock::now() + std::chrono::seconds(s_->options_.header_timeout_seconds);
    }
  }

  // Milliseconds until `t` (0 when past), at most `cap`.
  static int MsUntil(Clock::time_point t, int cap) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count() + 1;
    return static_cast<int>(std::clamp<int64_t>(left, 0, cap));
  }

  // How long a worker may wait on this connection before parking it: a
  // short linger serves a client that asks again at once without a hand-off
  // to the loop, but not while ready connections wait for a worker.
  int LingerMs() const {
    if (s_->starved_.load(std::memory_order_relaxed)) return 0;
    return kLingerMs;
  }

  // TLS handshake, under the head deadline; parks while the client is slow.
  Head Handshake() {
    for (;;) {
      ERR_clear_error();
      int r = SSL_accept(ssl_);
      if (r == 1) {
        handshaken_ = true;
        return Head::kReady;
      }
      int err = SSL_get_error(ssl_, r);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
        tls_failed_ = true;
        return Head::kClose;
      }
      int wait = std::min(LingerMs(), MsUntil(deadline_, kLingerMs));
      if (Clock::now() >= deadline_) return Head::kClose;
      if (err == SSL_ERROR_WANT_READ && wait == 0) return Head::kPark;
      pollfd p{fd_, static_cast<short>(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
      int n = ::poll(&p, 1, err == SSL_ERROR_WANT_READ ? wait : MsUntil(deadline_, 1 << 30));
      if (n == 0 && err == SSL_ERROR_WANT_READ) return Head::kPark;
      if (n <= 0 && !(n < 0 && errno == EINTR)) return Head::kClose;
    }
  }

  // Makes room in the buffer for more bytes (growing it up to `limit` bytes
  // of unconsumed data); false when it is full.
  bool Room(size_t limit) {
    if (buf_.empty()) buf_.resize(kReadChunk);
    if (begin_ == end_) begin_ = end_ = 0;
    if (end_ == buf_.size()) {
      if (begin_ > 0) {
        std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
      } else if (buf_.size() < limit) {
        buf_.resize(std::min(limit, buf_.size() * 2));
      } else {
        return false;
      }
    }
    return true;
  }

  // Fill over TLS: SSL_read until it yields bytes, waiting in poll for what
  // OpenSSL asks for, all within timeout_ms (a client sending a record a
  // byte at a time cannot stretch the wait).
  Wait FillTls(int timeout_ms, bool idle) {
    const auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      ERR_clear_error();
      int r =
          SSL_read(ssl_, buf_.data() + end_, static_cast<int>(std::min<size_t>(buf_.size() - end_, INT_MAX)));
      if (r > 0) {
        end_ += static_cast<size_t>(r);
        return Wait::kData;
      }
      int err = SSL_get_error(ssl_, r);
      if (err == SSL_ERROR_ZERO_RETURN) return Wait::kEof;
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
        tls_failed_ = true;
        // SSL_ERROR_SYSCALL without a queued error: closed without close_notify.
        return err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 ? Wait::kEof : Wait::kError;
      }
      pollfd p[2] = {{fd_, static_cast<short>(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0},
                     {s_->stop_fd_, POLLIN, 0}};
      int n;
      do {
        n = ::poll(p, idle ? 2 : 1, MsUntil(until, timeout_ms));
      } while (n < 0 && errno == EINTR);
      if (n < 0) return Wait::kError;
      if (n == 0) return Wait::kTimeout;
      if (idle && (p[1].revents & POLLIN) && !(p[0].revents & (POLLIN | POLLOUT))) return Wait::kStop;
    }
  }

  // Reads more bytes into the buffer (growing it up to `limit` bytes of
  // unconsumed data). `idle`: between requests, when Stop ends the wait.
  Wait Fill(int timeout_ms, bool idle, size_t limit) {
    if (!Room(limit)) return Wait::kError;
    if (ssl_ != nullptr) return FillTls(timeout_ms, idle);
    // A client that sends its next request right after reading our answer
    // finds this thread still running: no wakeup of a sleeping thread (on
    // a VM, of a halted vCPU), which is most of a small request's latency.
    // At most half the CPUs spin at once, so spinning never starves work,
    // and only for a client whose last request came back within twice the
    // spin time, so a client that asks every few seconds costs no CPU.
    const bool try_spin = idle && spin_ && s_->options_.spin_us > 0 && timeout_ms > 0;
    if (try_spin && s_->spinners_.fetch_add(1, std::memory_order_relaxed) < s_->max_spinners_) {
      struct Release {
        std::atomic<int>& n;
        ~Release() { n.fetch_sub(1, std::memory_order_relaxed); }
      } release{s_->spinners_};
      s_->spins_.fetch_add(1, std::memory_order_relaxed);
      const auto deadline =
          std::chrono::steady_clock::now() + std::chrono::microseconds(s_->options_.spin_us);
      do {
        ssize_t r = ::recv(fd_, buf_.data() + end_, buf_.size() - end_, MSG_DONTWAIT);
        if (r > 0) {
          end_ += static_cast<size_t>(r);
          return Wait::kData;
        }
        if (r == 0) return Wait::kEof;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return Wait::kError;
      } while (!s_->stopping_.load(std::memory_order_relaxed) && std::chrono::steady_clock::now() < deadline);
    } else if (try_spin) {
      s_->spinners_.fetch_sub(1, std::memory_order_relaxed);
    }
    pollfd p[2] = {{fd_, POLLIN, 0}, {s_->stop_fd_, POLLIN, 0}};
    int n;
    do {
      n = ::poll(p, idle ? 2 : 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return Wait::kError;
    if (n == 0) return Wait::kTimeout;
    if (idle && (p[1].revents & POLLIN) && !(p[0].revents & POLLIN)) return Wait::kStop;
    ssize_t r;
    do {
      r = ::recv(fd_, buf_.data() + end_, buf_.size() - end_, 0);
    } while (r < 0 && errno == EINTR);
    if (r == 0) return Wait::kEof;
    if (r < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? Wait::kTimeout : Wait::kError;
    end_ += static_cast<size_t>(r);
    if (idle && s_->options_.spin_us > 0 && answered_ != std::chrono::steady_clock::time_point()) {
      spin_ =
          std::chrono::steady_clock::now() - answered_ <= std::chrono::microseconds(2 * s_->options_.spin_us);
    }
    return Wait::kData;
  }

  int ReadTimeoutMs() const { return s_->options_.read_timeout_seconds * 1000; }

  // Waits until the socket takes more bytes, at most the read timeout; false
  // on timeout (or at once for a send from the event loop).
  bool WaitWritable(short events = POLLOUT) {
    if (nonblocking_only_) return false;
    pollfd p{fd_, events, 0};
    int n;
    do {
      n = ::poll(&p, 1, ReadTimeoutMs());
    } while (n < 0 && errno == EINTR);
    return n > 0;
  }

  bool SendAll(iovec* iov, int n) {
    if (ssl_ != nullptr) return SendAllTls(iov, n);
    while (n > 0) {
      msghdr m{};
      m.msg_iov = iov;
      m.msg_iovlen = static_cast<size_t>(n);
      ssize_t w = ::sendmsg(fd_, &m, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        // The socket is non-blocking: a full send buffer waits for the
        // client to read, at most the read timeout per wait.
        if ((errno == EAGAIN || errno == EWOULDBLOCK) && WaitWritable()) continue;
        return false;
      }
      size_t left = static_cast<size_t>(w);
      while (n > 0 && left >= iov->iov_len) {
        left -= iov->iov_len;
        iov++;
        n--;
      }
      if (n > 0) {
        iov->iov_base = static_cast<char*>(iov->iov_base) + left;
        iov->iov_len -= left;
      }
    }
    return true;
  }

  // Over TLS the pieces are joined first when small, so that a response
  // head and body go out in one record.
  bool SendAllTls(iovec* iov, int n) {
    size_t total = 0;
    for (int i = 0; i < n; i++) total += iov[i].iov_len;
    if (n > 1 && total <= 16 * 1024) {
      tls_out_.clear();
      for (int i = 0; i < n; i++) tls_out_.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
      return TlsWrite(tls_out_.data(), tls_out_.size());
    }
    for (int i = 0; i < n; i++) {
      if (!TlsWrite(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len)) return false;
    }
    return true;
  }
  bool TlsWrite(const char* p, size_t len) {
    while (len > 0) {
      ERR_clear_error();
      int w = SSL_write(ssl_, p, static_cast<int>(std::min<size_t>(len, 1 << 30)));
      if (w > 0) {
        p += w;
        len -= static_cast<size_t>(w);
        continue;
      }
      int err = SSL_get_error(ssl_, w);
      if (err == SSL_ERROR_WANT_WRITE && WaitWritable(POLLOUT)) continue;
      if (err == SSL_ERROR_WANT_READ && WaitWritable(POLLIN)) continue;
      if (err != SSL_ERROR_WANT_WRITE && err != SSL_ERROR_WANT_READ) tls_failed_ = true;
      return false;
    }
    return true;
  }
  bool SendAll(std::string_view a, std::string_view b = {}) {
    iovec iov[2] = {{const_cast<char*>(a.data()), a.size()}, {const_cast<char*>(b.data()), b.size()}};
    return SendAll(iov, b.empty() ? 1 : 2);
  }

  // An answer to a request we could not parse; the connection closes.
  void Reject(int status, std::string_view message) {
    Request req;
    req.remote_addr = remote_addr_;
    req.remote_port = remote_port_;
    Response res;
    res.status = status;
    res.SetHeader("Content-Type", "application/json");
    res.body = std::string("{\"error\":\"").append(message).append("\"}\n");  // messages need no escaping
    bool close = true;
    WriteResponse(req, res, /*head_only=*/false, &close, /*gzip=*/false);
    if (s_->logger_) s_->logger_(req, res);
  }

  // Reads one request head: kReady with its length, kPark when the client
  // is slow to send it (the loop takes the connection until bytes come or the
  // deadline passes), kClose to close (after an error answer where one is
  // due).
  Head ReadHead(size_t* head_len) {
    const size_t limit = s_->options_.max_head_bytes;
    size_t scanned = 0;  // bytes of the head already searched for its end
    for (;;) {
      // Skip empty lines before the request line (RFC 9112 2.2).
      while (Buffered() > 0 && (buf_[begin_] == '\r' || buf_[begin_] == '\n')) begin_++;
      const char* p = buf_.data() + begin_;
      size_t n = Buffered();
      for (size_t i = scanned; i < n; i++) {
        if (p[i] != '\n') continue;
        size_t len = 0;
        if (i + 1 < n && p[i + 1] == '\n') len = i + 2;
        if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n') len = i + 3;
        if (len == 0) continue;
        if (len > limit) break;
        *head_len = len;
        return Head::kReady;
      }
      scanned = n >= 2 ? n - 2 : 0;
      if (n >= limit) {
        Reject(431, "request line and headers are larger than the limit");
        return Head::kClose;
      }
      // Wait a little here (between requests, or for the rest of a head
      // split over packets), then hand the connection to the loop, which
      // enforces the deadline. Between requests Stop ends the wait.
      const int left = MsUntil(deadline_, INT_MAX);
      if (left == 0) {
        if (n > 0) Reject(408, "timeout reading the request head");
        return Head::kClose;
      }
      Wait w = Fill(std::min(LingerMs(), left), /*idle=*/n == 0, limit);
      if (w == Wait::kData) {
        if (n == 0) HeadStarted();
        continue;
      }
      if (w == Wait::kTimeout) {
        spin_ = false;  // a client slow enough to be parked is not spun for
        return Head::kPark;
      }
      return Head::kClose;
    }
  }

  // Serves the request whose head is the next head_len buffered bytes; false
  // when the connection should close.
  bool ServeOne(size_t head_len) {
    std::string_view head(buf_.data() + begin_, head_len);
    Request req;
    req.remote_addr = remote_addr_;
    req.remote_port = remote_port_;
    int bad = ParseRequestHead(head, &req);
    begin_ += head_len;
    if (bad == 505) {
      Reject(505, "unsupported HTTP version");
      return false;
    }
    if (bad != 0) {
      Reject(bad, "malformed HTTP request");
      return false;
    }
    const bool http10 = req.version == "HTTP/1.0";
    bool close = http10;
    for (auto [it, end] = req.headers.equal_range("Connection"); it != end; ++it) {
      if (ListHas(it->second, "close")) close = true;
      if (http10 && ListHas(it->second, "keep-alive")) close = false;
    }

    // Body framing (RFC 9112 6.3).
    Framing framing = Framing::kNone;
    uint64_t length = 0;
    auto te = req.headers.find("Transfer-Encoding");
    if (te != req.headers.end()) {
      // Only "chunked" alone, as Go's server: a body in any other coding
      // would reach the handler still coded.
      if (!EqualsIgnoreCase(TrimOws(te->second), "chunked") || req.headers.count("Transfer-Encoding") > 1 ||
          http10) {
        Reject(501, "unsupported Transfer-Encoding");
        return false;
      }
      framing = Framing::kChunked;
      close = close || req.HasHeader("Content-Length");  // a smuggling attempt, or a broken proxy
    } else {
      bool have = false;
      for (auto [it, end] = req.headers.equal_range("Content-Length"); it != end; ++it) {
        uint64_t v;
        std::string_view s = TrimOws(it->second);
        auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || (have && v != length)) {
          Reject(400, "bad Content-Length");
          return false;
        }
        have = true;
        length = v;
      }
      if (length > 0) framing = Framing::kLength;
    }
    body_framing_ = framing;
    if (framing != Framing::kNone && s_->options_.body_timeout_seconds > 0) {
      body_deadline_ = Clock::now() + std::chrono::seconds(s_->options_.body_timeout_seconds);
    } else {
      body_deadline_ = Clock::time_point::max();
    }
    body_left_ = length;
    body_done_ = framing == Framing::kNone;
    body_failed_ = false;
    body_started_ = false;
    chunk_state_ = ChunkState::kSize;
    auto expect = req.headers.find("Expect");
    continue_pending_ = framing != Framing::kNone && expect != req.headers.end() && !http10 &&
                        EqualsIgnoreCase(TrimOws(expect->second), "100-continue");

    const bool head_only = req.method == "HEAD";
    bool gzip = false;
    for (auto [it, end] = req.headers.equal_range("Accept-Encoding"); it != end; ++it) {
      if (ListHas(it->second, "gzip")) gzip = true;
    }

    Response res;
    const BodyReader reader = [this](const BodyReceiver& receiver) { return ReadBody(receiver); };
    try {
      s_->handler_(req, res, reader);
    } catch (const std::exception& e) {
      LogError("http: handler threw: ", e.what());
      res = Response();
      res.status = 500;
      res.SetHeader("Content-Type", "application/json");
      res.body = "{\"error\":\"internal error\"}\n";
      close = true;
    } catch (...) {
      LogError("http: handler threw a non-std exception");
      res = Response();
      res.status = 500;
      close = true;
    }
    if (res.status < 0) res.status = 404;

    // The rest of an unread body: small ones are skipped, otherwise (or if
    // the client still waits for "100 Continue") the connection closes.
    if (!body_done_) {
      if (continue_pending_ || body_failed_ || body_framing_ == Framing::kChunked ||
          body_left_ > kDrainLimit) {
        close = true;
      } else if (!ReadBody([](const char*, size_t) { return true; })) {
        close = true;
      }
    }
    for (auto [it, end] = res.headers.equal_range("Connection"); it != end; ++it) {
      if (ListHas(it->second, "close")) close = true;
    }
    if (s_->stopping_.load(std::memory_order_relaxed)) close = true;
    if (res.status >= 400 && res.body.empty() && !res.provider && s_->error_body_) {
      s_->error_body_(res);
    }
    bool sent = WriteResponse(req, res, head_only, &close, gzip);
    if (s_->options_.spin_us > 0) answered_ = std::chrono::steady_clock::now();
    if (s_->logger_) s_->logger_(req, res);
    return sent && !close;
  }

  // ---- request bodies ------------------------------------------------------

  enum class ChunkState { kSize, kData, kDataEnd, kTrailer };

  // Delivers the body to `receiver` in pieces; false when the client sent
  // less than it announced (EOF, timeout, malformed chunk) or the receiver
  // said stop.
  bool ReadBody(const BodyReceiver& receiver) {
    if (body_done_) return true;
    if (body_failed_) return false;
    body_started_ = true;
    if (continue_pending_) {
      continue_pending_ = false;
      if (!SendAll("HTTP/1.1 100 Continue\r\n\r\n")) return Fail();
    }
    if (body_framing_ == Framing::kLength) {
      if (!DeliverLeft(receiver)) return Fail();
      body_done_ = true;
      return true;
    }
    // Chunked (RFC 9112 7.1).
    for (;;) {
      if (chunk_state_ == ChunkState::kData) {
        if (!DeliverLeft(receiver)) return Fail();
        chunk_state_ = ChunkState::kDataEnd;
      }
      std::string_view line;
      if (!ReadLine(&line)) return Fail();
      switch (chunk_state_) {
        case ChunkState::kSize: {
          uint64_t v = 0;
          if (!ParseChunkSize(line, &v)) return Fail();
          body_left_ = v;
          chunk_state_ = v == 0 ? ChunkState::kTrailer : ChunkState::kData;
          break;
        }
        case ChunkState::kDataEnd:
          if (!line.empty()) return Fail();
          chunk_state_ = ChunkState::kSize;
          break;
        case ChunkState::kTrailer:
          if (line.empty()) {
            body_done_ = true;
            return true;
          }
          break;  // trailer fields are ignored
        case ChunkState::kData:
          break;
      }
    }
  }

  bool Fail() {
    body_failed_ = true;
    return false;
  }

  // More body bytes: within the read timeout of the last ones and before
  // the body's deadline (a client sending a byte now and then is cut off).
  bool FillBody(size_t limit) {
    int wait = ReadTimeoutMs();
    if (body_deadline_ != Clock::time_point::max()) wait = MsUntil(body_deadline_, wait);
    return wait > 0 && Fill(wait, false, limit) == Wait::kData;
  }

  // Hands the next body_left_ bytes (the rest of a Content-Length body, or
  // of a chunk) to `receiver` as they arrive; false on EOF, timeout or a
  // receiver that says stop.
  bool DeliverLeft(const BodyReceiver& receiver) {
    while (body_left_ > 0) {
      if (Buffered() == 0 && !FillBody(buf_.size())) return false;
      size_t n = static_cast<size_t>(std::min<uint64_t>(Buffered(), body_left_));
      const char* p = buf_.data() + begin_;
      begin_ += n;
      body_left_ -= n;
      if (!receiver(p, n)) return false;
    }
    return true;
  }

  // One CRLF- or LF-terminated line of a chunked body, without its end.
  bool ReadLine(std::string_view* line) {
    size_t scanned = 0;
    for (;;) {
      const char* p = buf_.data() + begin_;
      const void* nl = std::memchr(p + scanned, '\n', Buffered() - scanned);
      if (nl != nullptr) {
        size_t len = static_cast<size_t>(static_cast<const char*>(nl) - p);
        *line = std::string_view(p, len);
        if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
        begin_ += len + 1;
        return true;
      }
      scanned = Buffered();
      if (scanned > kMaxChunkLine) return false;
      if (!FillBody(std::max(buf_.size(), kMaxChunkLine * 2))) return false;
    }
  }

  // ---- responses -----------------------------------------------------------

  // Writes the response; sets *close when its end can only be the close.
  bool WriteResponse(const Request& req, Response& res, bool head_only, bool* close, bool gzip) {
    const bool provider = static_cast<bool>(res.provider);
    const bool http10 = req.version == "HTTP/1.0";
    const bool no_body = res.status == 204 || res.status == 304 || (res.status >= 100 && res.status < 200);
    gzip = gzip && !no_body && (provider || !res.body.empty()) && !res.HasHeader("Content-Encoding") &&
           Compressible(res.Header("Content-Type"));
    std::string compressed;
    if (gzip && !provider) {
      Gzipper z;
      if (z.Add(res.body, true, &compressed)) {
        res.body.swap(compressed);
        res.SetHeader("Content-Encoding", "gzip");
      }
      gzip = false;
    }
    if (gzip) res.SetHeader("Content-Encoding", "gzip");

    std::string& h = head_;
    h.clear();
    h.append(http10 ? "HTTP/1.0 " : "HTTP/1.1 ");
    char num[24];
    auto r = std::to_chars(num, num + sizeof(num), res.status);
    h.append(num, r.ptr);
    h.push_back(' ');
    h.append(Reason(res.status));
    h.append("\r\n");
    auto skip = [](const std::string& name) {
      return EqualsIgnoreCase(name, "Content-Length") || EqualsIgnoreCase(name, "Connection") ||
             EqualsIgnoreCase(name, "Transfer-Encoding") || EqualsIgnoreCase(name, "Keep-Alive");
    };
    for (const auto& [k, v] : res.headers) {
      if (skip(k)) continue;
      h.append(k).append(": ").append(v).append("\r\n");
    }
    for (const auto& [k, v] : s_->options_.default_headers) {
      if (!res.HasHeader(k)) h.append(k).append(": ").append(v).append("\r\n");
    }
    if (provider) {
      if (http10) {
        *close = true;  // no chunked encoding: the end of the body is the close
      } else {
        h.append("Transfer-Encoding: chunked\r\n");
      }
    } else if (!no_body) {
      r = std::to_chars(num, num + sizeof(num), res.body.size());
      h.append("Content-Length: ").append(num, r.ptr).append("\r\n");
    }
    if (*close) {
      h.append("Connection: close\r\n");
    } else {
      if (http10) h.append("Connection: keep-alive\r\n");
      r = std::to_chars(num, num + sizeof(num), s_->options_.keep_alive_seconds);
      h.append("Keep-Alive: timeout=").append(num, r.ptr).append("\r\n");
    }
    h.append("\r\n");

    if (head_only || no_body) return SendAll(h);
    if (!provider) return SendAll(h, res.body);
    if (!SendAll(h)) return false;
    return WriteProvided(res, /*chunk_frames=*/!http10, gzip);
  }

  // Streams a provider's output until it says done, in chunk frames unless
  // the client speaks HTTP/1.0.
  bool WriteProvided(Response& res, bool chunk_frames, bool gzip) {
    bool ok = true, done = false;
    Gzipper z;
    std::string zbuf;
    auto send_piece = [&](const char* data, size_t n) {
      if (n == 0) return true;
      if (!chunk_frames) return SendAll(std::string_view(data, n));
      char size[24];
      int len = std::snprintf(size, sizeof(size), "%zx\r\n", n);
      iovec iov[3] = {
          {size, static_cast<size_t>(len)}, {const_cast<char*>(data), n}, {const_cast<char*>("\r\n"), 2}};
      return SendAll(iov, 3);
    };
    DataSink sink;
    sink.write = [&](const char* data, size_t n) {
      if (!ok) return false;
      if (gzip) {
        zbuf.clear();
        ok = z.Add(std::string_view(data, n), false, &zbuf) && send_piece(zbuf.data(), zbuf.size());
      } else {
        ok = send_piece(data, n);
      }
      return ok;
    };
    sink.done = [&] { done = true; };
    while (ok && !done) {
      // A provider renders (or, streaming, computes) the answer after the
      // handler returned, outside its try: an exception here (bad_alloc)
      // cuts this answer short and closes this connection, nothing more.
      try {
        if (!res.provider(sink)) ok = false;
      } catch (const std::exception& e) {
        LogError("http: content provider threw: ", e.what());
        ok = false;
      } catch (...) {
        LogError("http: content provider threw a non-std exception");
        ok = false;
      }
    }
    if (!ok) return false;
    if (gzip) {
      zbuf.clear();
      if (!z.Add({}, true, &zbuf) || !send_piece(zbuf.data(), zbuf.size())) return false;
    }
    if (chunk_frames) return SendAll("0\r\n\r\n");
    return true;
  }

  Http1Server* const s_;
  const int fd_;
  SSL* const ssl_;  // null for plain HTTP
  bool handshaken_ = false;
  bool tls_failed_ = false;  // a fatal SSL error: no SSL_shutdown
  bool first_request_ = true;
  // Parked, the connection is closed at this time: the head deadline (the
  // first request's from the accept, a later one's from its first byte) or
  // the end of the keep-alive period.
  Clock::time_point deadline_;
  Clock::time_point body_deadline_ = Clock::time_point::max();
  bool nonblocking_only_ = false;  // sends from the event loop never wait
  std::string tls_out_;            // small TLS writes joined
  std::string remote_addr_;
  int remote_port_ = -1;
  std::vector<char> buf_;
  size_t begin_ = 0, end_ = 0;  // unconsumed bytes are buf_[begin_, end_)
  std::string head_;            // response head, reused
  // Spinning between requests (Fill): when the last answer went out, and
  // whether the client came back soon enough to spin for it.
  std::chrono::steady_clock::time_point answered_{};
  bool spin_ = false;

  Framing body_framing_ = Framing::kNone;
  uint64_t body_left_ = 0;  // of the body (kLength) or of the current chunk
  ChunkState chunk_state_ = ChunkState::kSize;
  bool body_done_ = true, body_failed_ = false, body_started_ = false;
  bool continue_pending_ = false;
};

// ---------------------------------------------------------------------------
// Http1Server
// ---------------------------------------------------------------------------

Http1Server::Http1Server(Http1Options options, Handler handler, ErrorBody error_body, Logger logger)
    : options_(std::move(options)),
      handler_(std::move(handler)),
      error_body_(std::move(error_body)),
      logger_(std::move(logger)),
      max_spinners_(std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / 2)) {
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (options_.tls != nullptr) {
    // OpenSSL's socket BIO writes with write(2), not send(MSG_NOSIGNAL): a
    // TLS client that goes away mid-answer would raise SIGPIPE and kill the
    // process. Ignore it unless the program has a handler of its own.
    struct sigaction old {};
    if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) ::signal(SIGPIPE, SIG_IGN);
  }
}

Http1Server::~Http1Server() {
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

StatusOr<int> Http1Server::Bind(const std::string& host, int port) {
  if (stop_fd_ < 0 || epoll_fd_ < 0) {
    return absl::InternalError(absl::StrCat("eventfd/epoll: ", std::strerror(errno)));
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", host, ":", port, ": ", gai_strerror(rc)));
  }
  int err = 0;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (a->ai_family == AF_INET6) {
      int zero = 0;  // "::" takes IPv4 too, as Go's listener
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 1024) == 0) {
      listen_fd_ = fd;
      break;
    }
    err = errno;
    ::close(fd);
  }
  ::freeaddrinfo(res);
  if (listen_fd_ < 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", host, ":", port, ": ", std::strerror(err),
                                               " (address in use, or not an address of this machine?)"));
  }
  sockaddr_storage local{};
  socklen_t len = sizeof(local);
  if (::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&local), &len) != 0) {
    return absl::InternalError(absl::StrCat("getsockname: ", std::strerror(errno)));
  }
  std::string h;
  int bound = port;
  AddressOf(local, &h, &bound);
  return bound;
}

// The event loop: accepts, hands readable connections to workers, closes
// parked ones past their deadline. A parked connection is registered with
// EPOLLONESHOT, so exactly one event hands it over, and is in parked_ until
// then; whoever removes it from parked_ (this loop, for an event or the
// deadline) owns it.
void Http1Server::Run() {
  if (listen_fd_ < 0) return;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &listen_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  ev.data.ptr = &stop_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, stop_fd_, &ev);
  auto last_sweep = std::chrono::steady_clock::now();
  epoll_event events[256];
  while (!stopping_.load()) {
    int n = ::epoll_wait(epoll_fd_, events, 256, kSweepMs);
    if (n < 0) {
      if (errno == EINTR) continue;
      LogError("http: epoll_wait: ", std::strerror(errno));
      break;
    }
    bool stop = false, accept = false;
    size_t spawn = 0;
    {
      std::lock_guard<std::mutex> l(mu_);
      for (int i = 0; i < n; i++) {
        void* tag = events[i].data.ptr;
        if (tag == &stop_fd_) {
          stop = true;
        } else if (tag == &listen_fd_) {
          accept = true;
        } else {
          auto* c = static_cast<Connection*>(tag);
          if (parked_.erase(c) == 0) continue;  // already closed by a sweep
          pending_.push_back(c);
        }
      }
      // Workers start on demand: each ready connection that finds no idle
      // worker gets a new one, up to the limit (then it waits).
      const size_t max_workers = static_cast<size_t>(std::max(1, options_.threads));
      if (pending_.size() > idle_workers_ && live_workers_ < max_workers) {
        spawn = std::min(pending_.size() - idle_workers_, max_workers - live_workers_);
        live_workers_ += spawn;
        // A worker counts as idle from the moment it is started: otherwise
        // a connection that turns ready before the new thread reaches its
        // wait would start another worker for work already provided for.
        idle_workers_ += spawn;
      }
      UpdateStarved();
    }
    for (; spawn > 0; spawn--) {
      try {
        std::thread([this] { Worker(); }).detach();
      } catch (const std::system_error& e) {
        LogError("http: cannot start a worker thread: ", e.what());
        std::lock_guard<std::mutex> l(mu_);
        live_workers_ -= spawn;
        idle_workers_ -= spawn;
        break;
      }
    }
    cv_.notify_all();
    if (stop) break;
    if (accept) Accept();
    auto now = std::chrono::steady_clock::now();
    if (now - last_sweep >= std::chrono::milliseconds(kSweepMs)) {
      last_sweep = now;
      Sweep();
    }
  }
  ::close(listen_fd_);
  listen_fd_ = -1;
  std::vector<Connection*> parked;
  {
    std::unique_lock<std::mutex> l(mu_);
    closed_ = true;
    parked.assign(parked_.begin(), parked_.end());
    parked_.clear();
  }
  cv_.notify_all();
  for (Connection* c : parked) Finish(c);
  std::unique_lock<std::mutex> l(mu_);
  // Workers are detached; the last one to leave tells us (under mu_, so it
  // touches nothing of this object afterwards).
  exit_cv_.wait(l, [this] { return live_workers_ == 0; });
  std::deque<Connection*> never_served;
  never_served.swap(pending_);
  l.unlock();
  for (Connection* c : never_served) Finish(c);
}

void Http1Server::Accept() {
  // Up to a batch per wakeup, so that a burst of connections is taken in a
  // few loop turns without starving the parked ones.
  for (int i = 0; i < 64; i++) {
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        LogError("http: accept: ", std::strerror(errno), " (retrying in 10 ms)");
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      return;  // EAGAIN: none left; EINTR, ECONNABORTED: the next turn
    }
    std::string host;
    int port = 0;
    AddressOf(peer, &host, &port);
    bool over = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      int& count = per_address_[host];
      if (options_.max_connections_per_address > 0 && count >= options_.max_connections_per_address) {
        over = true;
        if (count == 0) per_address_.erase(host);
      } else {
        count++;
        open_++;
      }
    }
    if (over) {
      // Refused cheaply: one non-blocking send of a canned answer (plain
      // HTTP; a TLS client just sees the close), no thread, no parsing.
      refused_.fetch_add(1, std::memory_order_relaxed);
      if (options_.tls == nullptr) {
        static constexpr char kTooMany[] =
            "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
            "Connection: close\r\nContent-Length: 58\r\n\r\n"
            "{\"error\":\"too many connections from this client address\"}\n";
        static_assert(sizeof("{\"error\":\"too many connections from this client address\"}\n") - 1 == 58);
        [[maybe_unused]] ssize_t w = ::send(fd, kTooMany, sizeof(kTooMany) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
      }
      ::close(fd);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    SSL* ssl = nullptr;
    if (options_.tls != nullptr) {
      ssl = SSL_new(options_.tls);
      if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
        if (ssl != nullptr) SSL_free(ssl);
        ssl = nullptr;
      }
    }
    auto* c = new Connection(this, fd, peer, ssl);
    if (options_.tls != nullptr && ssl == nullptr) {
      Finish(c);
      continue;
    }
    Park(c);
  }
}

void Http1Server::Park(Connection* c) {
  c->Shrink();
  {
    // Registered under mu_: the loop cannot sweep (and free) c before the
    // registration, and an event for it waits for mu_ to find it in parked_.
    std::lock_guard<std::mutex> l(mu_);
    if (!closed_) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
      ev.data.ptr = c;
      int op = c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
      if (::epoll_ctl(epoll_fd_, op, c->fd(), &ev) == 0) {
        c->registered = true;
        parked_.insert(c);
        return;
      }
    }
  }
  Finish(c);  // stopping (the loop takes no connection back), or epoll failed
}

void Http1Server::Finish(Connection* c) {
  std::string host = c->address();
  delete c;  // closes the socket
  std::lock_guard<std::mutex> l(mu_);
  auto it = per_address_.find(host);
  if (it != per_address_.end() && --it->second <= 0) per_address_.erase(it);
  open_--;
}

void Http1Server::Sweep() {
  const auto now = std::chrono::steady_clock::now();
  std::vector<Connection*> expired;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto it = parked_.begin(); it != parked_.end();) {
      if ((*it)->deadline() <= now) {
        expired.push_back(*it);
        it = parked_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (Connection* c : expired) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->fd(), nullptr);
    c->Expire();
    Finish(c);
  }
}

void Http1Server::UpdateStarved() {
  // Ready connections beyond the idle workers and the workers starting
  // (live_workers_ counts those): only at the thread limit.
  const size_t max_workers = static_cast<size_t>(std::max(1, options_.threads));
  starved_.store(live_workers_ >= max_workers && pending_.size() > idle_workers_, std::memory_order_relaxed);
}

void Http1Server::Worker() {
  const auto idle_limit = std::chrono::seconds(std::max(1, options_.keep_alive_seconds));
  bool counted_idle = true;  // Run counted this worker idle when it started it
  for (;;) {
    Connection* c;
    {
      std::unique_lock<std::mutex> l(mu_);
      if (!counted_idle) idle_workers_++;
      counted_idle = false;
      UpdateStarved();
      bool woke = cv_.wait_for(l, idle_limit, [this] { return closed_ || !pending_.empty(); });
      idle_workers_--;
      if (!woke || closed_) {  // idle for a keep-alive period, or stopping (Run closes what is queued)
        if (--live_workers_ == 0) exit_cv_.notify_all();
        return;
      }
      c = pending_.front();
      pending_.pop_front();
      UpdateStarved();
    }
    Next next = Next::kClose;
    try {
      next = c->Run();
    } catch (const std::exception& e) {
      // Handlers' exceptions are answered 500 inside Run; this is anything
      // else (an allocation failure while parsing or answering): the
      // connection closes, the worker and every counter carry on.
      LogError("http: connection failed: ", e.what());
    } catch (...) {
      LogError("http: connection failed with a non-std exception");
    }
    if (next == Next::kPark && !stopping_.load()) {
      Park(c);
    } else {
      Finish(c);
    }
  }
}

uint64_t Http1Server::spins() const { return spins_.load(std::memory_order_relaxed); }

size_t Http1Server::workers() {
  std::lock_guard<std::mutex> l(mu_);
  return live_workers_;
}

void Http1Server::ServeConnection(int fd) {
  sockaddr_storage peer{};
  socklen_t len = sizeof(peer);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) peer = sockaddr_storage{};
  // The connection closes its socket; the caller's fd stays open for it.
  int own = ::dup(fd);
  if (own < 0) return;
  SSL* ssl = nullptr;
  if (options_.tls != nullptr) {
    ssl = SSL_new(options_.tls);
    if (ssl == nullptr || SSL_set_fd(ssl, own) != 1) {
      if (ssl != nullptr) SSL_free(ssl);
      ::close(own);
      return;
    }
  }
  Connection c(this, own, peer, ssl);
  // Without the loop: wait for bytes here until the deadline.
  while (c.Run() == Next::kPark) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(c.deadline() - std::chrono::steady_clock::now())
            .count();
    if (left <= 0) {
      c.Expire();
      return;
    }
    pollfd p{own, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1 << 30))) <= 0) {
      c.Expire();
      return;
    }
  }
}

uint64_t Http1Server::refused() const { return refused_.load(std::memory_order_relaxed); }

size_t Http1Server::connections() {
  std::lock_guard<std::mutex> l(mu_);
  return open_;
}

void Http1Server::Stop() {
  stopping_.store(true);
  uint64_t one = 1;
  if (stop_fd_ >= 0) {
    [[maybe_unused]] ssize_t w = ::write(stop_fd_, &one, sizeof(one));
  }
}

}  // namespace m2mdb::server
