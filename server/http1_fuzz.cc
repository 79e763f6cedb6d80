// libFuzzer target for the HTTP/1.1 server: the input is what a client sends
// on one connection (then it half-closes); Http1Server serves it over a
// socketpair with handlers that read bodies, skip them, stream chunked
// answers and fail. Besides crashes and sanitizer reports it aborts when the
// bytes sent back are not a sequence of well-formed HTTP/1.x responses:
// a status line with a 1xx-5xx code, headers ending in a blank line, a body
// framed by Content-Length or valid chunks, and nothing after a response
// that says "Connection: close".
//
// Every eighth input (by length) is sent over TLS instead: a client thread
// speaks TLS to a second server with an in-memory self-signed certificate,
// writes the input, sends close_notify and reads the answers, which must
// satisfy the same checks. The TLS path reads what OpenSSL decrypts into the
// same buffer the plain path fills from recv, and parses it with the same
// code; what differs is how the bytes arrive: SSL_read returns one record at
// a time. So the input goes out in records of 1 to 64 bytes, cut where a
// hash of the input says, and the framing code sees request lines, headers,
// chunk-size lines and bodies split at every kind of place across reads
// (the plain path gets the whole input in one recv).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/http1.h"

namespace {

using m2mdb::server::BodyReader;
using m2mdb::server::DataSink;
using m2mdb::server::Http1Options;
using m2mdb::server::Http1Server;
using m2mdb::server::Request;
using m2mdb::server::Response;

void Check(bool ok, const char* what, std::string_view out) {
  if (!ok) {
    std::fprintf(stderr, "http1_fuzz invariant violated: %s\noutput:\n%.*s\n", what,
                 static_cast<int>(std::min<size_t>(out.size(), 4096)), out.data());
    std::abort();
  }
}

// A server context with a throw-away P-256 key and self-signed certificate.
SSL_CTX* ServerTlsContext() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  if (ctx == nullptr || key == nullptr || cert == nullptr) std::abort();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("fuzz"), -1, -1,
                             0);
  X509_set_issuer_name(cert, name);
  if (X509_sign(cert, key, EVP_sha256()) == 0 || SSL_CTX_use_certificate(ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey(ctx, key) != 1) {
    std::abort();
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  return ctx;
}

Http1Server* MakeServer(SSL_CTX* tls) {
  Http1Options o;
  o.tls = tls;
  o.read_timeout_seconds = 1;
  o.keep_alive_seconds = 1;
  o.max_head_bytes = 8192;
  o.default_headers = {{"X-Default", "1"}};
  return new Http1Server(
      o,
      [](const Request& req, Response& res, const BodyReader& reader) {
        if (req.method == "HEAD") res.SetHeader("X-Head", "1");  // tells CheckResponses
        if (req.path.rfind("/r", 0) == 0) {                      // reads the body
          size_t n = 0;
          bool ok = reader([&](const char*, size_t k) {
            n += k;
            return n < 100000;
          });
          res.status = ok ? 200 : 400;
          res.SetContent(std::to_string(n) + " " + req.Param("a"), "text/plain");
        } else if (req.path.rfind("/c", 0) == 0) {  // chunked answer
          res.status = 200;
          res.SetChunkedProvider("application/json", [i = 0](DataSink& sink) mutable {
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
      [](Response& res) { res.SetContent("{\"error\":\"e\"}", "application/json"); }, nullptr);
}

Http1Server* Server() {
  static Http1Server* server = MakeServer(nullptr);
  return server;
}

Http1Server* TlsServer() {
  static Http1Server* server = MakeServer(ServerTlsContext());
  return server;
}

// The client half of a TLS connection on `fd`: sends `data`, then
// close_notify, and returns every byte the server answered.
std::string TlsClient(int fd, const uint8_t* data, size_t size) {
  static SSL_CTX* ctx = [] {
    SSL_CTX* c = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
    return c;
  }();
  std::string out;
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (SSL_connect(ssl) == 1) {
    // Record sizes from an FNV-1a hash of the input, stepped as an LCG: the
    // same input is always cut the same way.
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 1099511628211ull;
    bool sent = true;
    for (size_t off = 0; off < size && sent;) {
      h = h * 6364136223846793005ull + 1442695040888963407ull;
      const size_t n = std::min<size_t>(size - off, 1 + (h >> 58));  // 1..64
      sent = SSL_write(ssl, data + off, static_cast<int>(n)) > 0;
      off += n;
    }
    if (sent) {
      SSL_shutdown(ssl);  // close_notify: the server sees the end of input
      char buf[65536];
      for (;;) {
        int n = SSL_read(ssl, buf, sizeof(buf));
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
      }
    }
  }
  SSL_free(ssl);
  return out;
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

// One connection over TLS: the client thread on sv[0], the server here on
// sv[1]; closes both and returns what the client received.
std::string ServeTls(int sv[2], const uint8_t* data, size_t size) {
  std::string out;
  std::thread client([&] { out = TlsClient(sv[0], data, size); });
  TlsServer()->ServeConnection(sv[1]);
  client.join();
  close(sv[1]);
  close(sv[0]);
  return out;
}

// The TLS half must really serve, or every TLS input would pass with an
// empty answer.
void CheckTlsServes() {
  static const bool checked = [] {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
    const std::string req = "GET /n HTTP/1.1\r\n\r\n";
    std::string out = ServeTls(sv, reinterpret_cast<const uint8_t*>(req.data()), req.size());
    Check(out.rfind("HTTP/1.1 204 ", 0) == 0, "a request over TLS is answered", out);
    return true;
  }();
  (void)checked;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16384) return 0;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
  int big = 1 << 21;
  setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
  setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
  if (size % 8 == 7) {
    CheckTlsServes();
    std::string out = ServeTls(sv, data, size);
    CheckResponses(out);
    return 0;
  }
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
