// libFuzzer target for the HTTP/1.1 server: the input is what a client sends
// on one connection (then it half-closes); Http1Server serves it over a
// socketpair with handlers that read bodies, skip them, stream chunked
// answers and fail. Besides crashes and sanitizer reports it aborts when the
// bytes sent back are not a sequence of well-formed HTTP/1.x responses:
// a status line with a 1xx-5xx code, headers ending in a blank line, a body
// framed by Content-Length or valid chunks, and nothing after a response
// that says "Connection: close".
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

#include <sys/socket.h>
#include <unistd.h>

#include "server/http1.h"

namespace {

using m2mdb::server::Http1Options;
using m2mdb::server::Http1Server;

void Check(bool ok, const char* what, std::string_view out) {
  if (!ok) {
    std::fprintf(stderr, "http1_fuzz invariant violated: %s\noutput:\n%.*s\n", what,
                 static_cast<int>(std::min<size_t>(out.size(), 4096)), out.data());
    std::abort();
  }
}

Http1Server* Server() {
  static Http1Server* server = [] {
    Http1Options o;
    o.read_timeout_seconds = 1;
    o.keep_alive_seconds = 1;
    o.max_head_bytes = 8192;
    o.default_headers = {{"X-Default", "1"}};
    return new Http1Server(
        o,
        [](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
          if (req.method == "HEAD") res.set_header("X-Head", "1");  // tells CheckResponses
          if (req.path.rfind("/r", 0) == 0) {                       // reads the body
            size_t n = 0;
            bool ok = reader([&](const char*, size_t k) {
              n += k;
              return n < 100000;
            });
            res.status = ok ? 200 : 400;
            res.set_content(std::to_string(n) + " " + req.get_param_value("a"), "text/plain");
          } else if (req.path.rfind("/c", 0) == 0) {  // chunked answer
            res.status = 200;
            res.set_chunked_content_provider("application/json",
                                             [i = 0](size_t, httplib::DataSink& sink) mutable {
                                               if (i++ < 3) return sink.write("{\"x\":1}\n", 8);
                                               sink.done();
                                               return true;
                                             });
          } else if (req.path.rfind("/t", 0) == 0 && req.method != "HEAD") {  // X-Head must survive
            throw std::runtime_error("handler failure");
          } else if (req.path.rfind("/e", 0) == 0) {
            res.status = 503;  // empty body: the error callback fills it
          } else {             // /n and the rest: the body is never read
            res.status = 204;
          }
        },
        [](httplib::Response& res) { res.set_content("{\"error\":\"e\"}", "application/json"); }, nullptr);
  }();
  return server;
}

// Checks the server's output; see the file comment.
void CheckResponses(std::string_view out) {
  std::string_view s = out;
  while (!s.empty()) {
    Check(s.substr(0, 9) == "HTTP/1.1 " || s.substr(0, 9) == "HTTP/1.0 ", "status line", out);
    Check(s.size() >= 13 && s[9] >= '1' && s[9] <= '5' && s[12] == ' ', "status code", out);
    int status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    size_t end = s.find("\r\n\r\n");
    Check(end != std::string_view::npos, "head ends with a blank line", out);
    std::string_view head = s.substr(0, end + 2);
    s.remove_prefix(end + 4);
    long length = -1;
    bool chunked = false, close = false, head_request = false;
    size_t pos = head.find("\r\n") + 2;
    while (pos < head.size()) {
      size_t eol = head.find("\r\n", pos);
      std::string_view line = head.substr(pos, eol - pos);
      pos = eol + 2;
      size_t colon = line.find(": ");
      Check(colon != std::string_view::npos && colon > 0, "header line", out);
      std::string_view name = line.substr(0, colon), value = line.substr(colon + 2);
      if (name == "Content-Length") length = std::strtol(std::string(value).c_str(), nullptr, 10);
      if (name == "Transfer-Encoding") chunked = value == "chunked";
      if (name == "Connection") close = value == "close";
      if (name == "X-Head") head_request = true;
    }
    if (status == 100) continue;
    if (head_request) {
      // A HEAD answer: the framing headers of a GET, no body.
    } else if (chunked) {
      for (;;) {
        size_t eol = s.find("\r\n");
        Check(eol != std::string_view::npos && eol > 0, "chunk size line", out);
        size_t n = std::strtoul(std::string(s.substr(0, eol)).c_str(), nullptr, 16);
        Check(s.size() >= eol + 2 + n + 2 && s.substr(eol + 2 + n, 2) == "\r\n", "chunk data", out);
        s.remove_prefix(eol + 2 + n + 2);
        if (n == 0) break;
      }
    } else if (length >= 0) {
      Check(s.size() >= static_cast<size_t>(length), "Content-Length body", out);
      s.remove_prefix(static_cast<size_t>(length));
    } else if (status != 204 && status != 304) {
      Check(close, "a body without length or chunks ends with the connection", out);
      return;
    }
    if (close) Check(s.empty(), "nothing after Connection: close", out);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16384) return 0;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
  int big = 1 << 21;
  setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
  setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
  if (size > 0 && send(sv[0], data, size, MSG_NOSIGNAL) != static_cast<ssize_t>(size)) std::abort();
  shutdown(sv[0], SHUT_WR);
  Server()->ServeConnection(sv[1]);
  close(sv[1]);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(sv[0]);
  CheckResponses(out);
  return 0;
}
