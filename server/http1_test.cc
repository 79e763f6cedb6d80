// Http1Server on raw sockets: framing, keep-alive, bodies, errors and Stop.
#include "server/http1.h"

#include <chrono>
#include <cstring>
#include <future>
#include <map>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/gzip.h"
#include "server/http1_parse.h"

namespace m2mdb::server {
namespace {

// An answer's gzip body read with zlib (gzip.h).
std::string Gunzip(const std::string& in) {
  std::string out;
  bool too_big;
  return GunzipWithZlib(in, 1 << 20, &out, &too_big).empty() && !too_big ? out : "<bad gzip>";
}

// A server with a handful of test endpoints, on a free port.
class Http1Test : public ::testing::Test {
 protected:
  void Start(Http1Options o = {}) {
    if (o.threads == 1024) o.threads = 4;
    if (o.read_timeout_seconds == 10) o.read_timeout_seconds = 1;
    if (o.header_timeout_seconds == 10) o.header_timeout_seconds = 2;
    o.default_headers = {{"X-Default", "yes"}};
    server_ = std::make_unique<Http1Server>(
        o, [this](const Request& req, Response& res, const BodyReader& reader) { Handle(req, res, reader); },
        [](Response& res) { res.SetContent("{\"error\":\"generic\"}", "application/json"); },
        [this](const Request&, const Response& res) { last_status_ = res.status; });
    auto port = server_->Bind("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
    run_ = std::thread([this] { server_->Run(); });
  }
  void TearDown() override {
    if (server_ != nullptr) {
      server_->Stop();
      run_.join();
    }
  }

  void Handle(const Request& req, Response& res, const BodyReader& reader) {
    if (req.path == "/echo") {
      std::string body;
      bool ok = reader([&](const char* d, size_t n) {
        body.append(d, n);
        return true;
      });
      res.status = ok ? 200 : 400;
      res.SetHeader("X-Method", req.method);
      res.SetHeader("X-A", req.Param("a"));
      res.SetHeader("X-Host", req.Header("host"));
      res.SetContent(body, "text/plain");
    } else if (req.path == "/noread") {
      res.status = 200;
      res.SetContent("ok", "text/plain");
    } else if (req.path == "/chunks") {
      res.status = 200;
      res.SetChunkedProvider("text/plain", [i = 0](DataSink& sink) mutable {
        if (i < 3) {
          std::string part = "part" + std::to_string(i++) + ";";
          return sink.write(part.data(), part.size());
        }
        sink.done();
        return true;
      });
    } else if (req.path == "/throw") {
      throw std::runtime_error("boom");
    } else if (req.path == "/throw-later") {
      res.status = 200;
      res.SetChunkedProvider("text/plain", [i = 0](DataSink& sink) mutable {
        if (i++ == 0) return sink.write("first;", 6);
        throw std::bad_alloc();  // as a streaming query that runs out of memory
      });
    } else if (req.path == "/teapot") {
      res.status = 418;
    } else if (req.path == "/slow") {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      res.status = 200;
      res.SetContent("slow", "text/plain");
    } else if (req.path == "/big") {
      res.status = 200;
      res.SetContent(std::string(3 << 20, 'b'), "text/plain");
    } else {
      res.status = 404;
      res.SetContent("nope", "text/plain");
    }
  }

  int Connect() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(0, connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)));
    return fd;
  }
  static void Send(int fd, const std::string& s) {
    ASSERT_EQ(static_cast<ssize_t>(s.size()), send(fd, s.data(), s.size(), MSG_NOSIGNAL));
  }

  struct Reply {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    bool closed = false;  // the server closed the connection after it
  };

  // Reads bytes until `n` are buffered; false on EOF or a 5 s timeout.
  static bool Need(int fd, std::string* buf, size_t n) {
    while (buf->size() < n) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 5000) <= 0) return false;
      char tmp[65536];
      ssize_t r = recv(fd, tmp, sizeof(tmp), 0);
      if (r <= 0) return false;
      buf->append(tmp, static_cast<size_t>(r));
    }
    return true;
  }
  static bool NeedLine(int fd, std::string* buf, size_t from, size_t* eol) {
    for (;;) {
      size_t p = buf->find("\r\n", from);
      if (p != std::string::npos) {
        *eol = p;
        return true;
      }
      if (!Need(fd, buf, buf->size() + 1)) return false;
    }
  }
  // Reads one response from fd (pipelined leftovers stay in *buf).
  static Reply Read(int fd, std::string* buf, bool head_request = false) {
    Reply r;
    size_t end;
    for (;;) {
      end = buf->find("\r\n\r\n");
      if (end != std::string::npos) break;
      if (!Need(fd, buf, buf->size() + 1)) {
        r.closed = true;
        return r;
      }
    }
    std::string head = buf->substr(0, end);
    buf->erase(0, end + 4);
    r.status = std::atoi(head.substr(9, 3).c_str());
    size_t pos = head.find("\r\n");
    while (pos != std::string::npos) {
      size_t next = head.find("\r\n", pos + 2);
      std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
      size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = line.substr(colon + 2);
      pos = next;
    }
    if (head_request || r.status == 204 || r.status == 100) return r;
    if (r.headers.count("transfer-encoding")) {
      size_t at = 0;
      for (;;) {
        size_t eol;
        if (!NeedLine(fd, buf, at, &eol)) return r;
        size_t n = std::stoul(buf->substr(at, eol - at), nullptr, 16);
        if (!Need(fd, buf, eol + 2 + n + 2)) return r;
        r.body += buf->substr(eol + 2, n);
        at = eol + 2 + n + 2;
        if (n == 0) break;
      }
      buf->erase(0, at);
    } else if (r.headers.count("content-length")) {
      size_t n = std::stoul(r.headers["content-length"]);
      if (!Need(fd, buf, n)) return r;
      r.body = buf->substr(0, n);
      buf->erase(0, n);
    }
    return r;
  }
  // True when the server closes fd within 5 s (and sends nothing more).
  static bool ClosedByServer(int fd, std::string* buf) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) return false;
    char tmp[16];
    ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
    if (n > 0) buf->append(tmp, static_cast<size_t>(n));
    return n <= 0;
  }

  std::unique_ptr<Http1Server> server_;
  std::thread run_;
  int port_ = 0;
  std::atomic<int> last_status_{0};
};

TEST_F(Http1Test, KeepAliveServesManyRequestsOnOneConnection) {
  Start();
  int fd = Connect();
  std::string buf;
  for (int i = 0; i < 50; i++) {
    Send(fd, "GET /echo?a=x%20y+z&b HTTP/1.1\r\nHost: h" + std::to_string(i) + "\r\n\r\n");
    Reply r = Read(fd, &buf);
    ASSERT_EQ(200, r.status);
    EXPECT_EQ("x y z", r.headers["x-a"]);
    EXPECT_EQ("h" + std::to_string(i), r.headers["x-host"]);
    EXPECT_EQ("yes", r.headers["x-default"]);
    EXPECT_EQ("0", r.headers["content-length"]);
    EXPECT_EQ(0u, r.headers.count("connection"));
  }
  close(fd);
}

TEST_F(Http1Test, PipelinedRequestsAreAnsweredInOrder) {
  Start();
  int fd = Connect();
  Send(fd,
       "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nonePOST /echo HTTP/1.1\r\nTransfer-Encoding: "
       "chunked\r\n\r\n"
       "3\r\ntwo\r\n0\r\n\r\nGET /echo?a=3 HTTP/1.1\r\n\r\n");
  std::string buf;
  EXPECT_EQ("one", Read(fd, &buf).body);
  EXPECT_EQ("two", Read(fd, &buf).body);
  Reply r = Read(fd, &buf);
  EXPECT_EQ("3", r.headers["x-a"]);
  EXPECT_EQ("GET", r.headers["x-method"]);
  close(fd);
}

TEST_F(Http1Test, BodiesArriveInPieces) {
  Start();
  int fd = Connect();
  Send(fd, "POST /echo HTTP/1.1\r\nContent-Length: 11\r\n\r\nhel");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  Send(fd, "lo world");
  std::string buf;
  EXPECT_EQ("hello world", Read(fd, &buf).body);
  // Chunked with extensions and a trailer, the size line split mid-way.
  Send(fd, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  Send(fd, "0\r\n, sixteen bytes!\r\n0\r\nTrailer: x\r\n\r\n");
  Reply r = Read(fd, &buf);
  EXPECT_EQ(200, r.status);
  EXPECT_EQ("hello, sixteen bytes!", r.body);
  close(fd);
}

TEST_F(Http1Test, ExpectContinueIsAnsweredOnlyWhenTheBodyIsRead) {
  Start();
  int fd = Connect();
  std::string buf;
  Send(fd, "POST /echo HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  Reply c = Read(fd, &buf);
  EXPECT_EQ(100, c.status);
  Send(fd, "body");
  EXPECT_EQ("body", Read(fd, &buf).body);
  // A handler that does not read: no 100, and the connection closes, since
  // the client may or may not send the body now.
  Send(fd, "POST /noread HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
  Reply r = Read(fd, &buf);
  EXPECT_EQ(200, r.status);
  EXPECT_EQ("close", r.headers["connection"]);
  EXPECT_TRUE(ClosedByServer(fd, &buf));
  close(fd);
}

TEST_F(Http1Test, UnreadBodiesAreSkippedOrCloseTheConnection) {
  Start();
  int fd = Connect();
  std::string buf;
  Send(fd, "POST /noread HTTP/1.1\r\nContent-Length: 5\r\n\r\nxxxxxGET /echo?a=after HTTP/1.1\r\n\r\n");
  EXPECT_EQ("ok", Read(fd, &buf).body);
  EXPECT_EQ("after", Read(fd, &buf).headers["x-a"]);
  // Over the drain limit: answered, then closed.
  Send(fd, "POST /noread HTTP/1.1\r\nContent-Length: 100000000\r\n\r\nxxxx");
  Reply r = Read(fd, &buf);
  EXPECT_EQ(200, r.status);
  EXPECT_EQ("close", r.headers["connection"]);
  EXPECT_TRUE(ClosedByServer(fd, &buf));
  close(fd);
}

TEST_F(Http1Test, TruncatedBodyFailsTheReader) {
  Start();
  int fd = Connect();
  Send(fd, "POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\nshort");
  shutdown(fd, SHUT_WR);
  std::string buf;
  Reply r = Read(fd, &buf);
  EXPECT_EQ(400, r.status);  // the handler saw the reader fail
  EXPECT_EQ("short", r.body);
  close(fd);
}

TEST_F(Http1Test, MalformedRequestsGetAnErrorAndTheConnectionCloses) {
  Start();
  struct Case {
    std::string request;
    int status;
  } cases[] = {
      {"GARBAGE\r\n\r\n", 400},
      {"GET /x HTTP/2.0\r\n\r\n", 505},
      {"GET /x FOO/1.1\r\n\r\n", 400},
      {"GET  /x HTTP/1.1\r\n\r\n", 400},
      {"GET x HTTP/1.1\r\n\r\n", 400},
      {"GET /%zz HTTP/1.1\r\n\r\n", 400},
      {"GET /x HTTP/1.1\r\nNoColon\r\n\r\n", 400},
      {"GET /x HTTP/1.1\r\nBad Name: v\r\n\r\n", 400},
      {"GET /x HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400},
      {"POST /echo HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400},
      {"POST /echo HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
      {"POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
      {"POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
  };
  for (const auto& c : cases) {
    int fd = Connect();
    Send(fd, c.request);
    std::string buf;
    Reply r = Read(fd, &buf);
    EXPECT_EQ(c.status, r.status) << c.request;
    EXPECT_EQ("close", r.headers["connection"]) << c.request;
    EXPECT_EQ('{', r.body.empty() ? ' ' : r.body[0]) << c.request;
    EXPECT_TRUE(ClosedByServer(fd, &buf)) << c.request;
    close(fd);
  }
  // A bad chunk size fails the body read.
  int fd = Connect();
  Send(fd, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  std::string buf;
  EXPECT_EQ(400, Read(fd, &buf).status);
  EXPECT_TRUE(ClosedByServer(fd, &buf));
  close(fd);
}

TEST_F(Http1Test, OversizedHeadIs431) {
  Http1Options o;
  o.max_head_bytes = 4096;
  Start(o);
  int fd = Connect();
  Send(fd, "GET /" + std::string(8000, 'a') + " HTTP/1.1\r\n\r\n");
  std::string buf;
  Reply r = Read(fd, &buf);
  EXPECT_EQ(431, r.status);
  close(fd);
  // Just under the limit is fine.
  fd = Connect();
  buf.clear();
  Send(fd, "GET /echo?a=" + std::string(3000, 'a') + " HTTP/1.1\r\n\r\n");
  EXPECT_EQ(200, Read(fd, &buf).status);
  close(fd);
}

TEST_F(Http1Test, StalledHeadTimesOutWith408) {
  Start();  // read timeout 1 s
  int fd = Connect();
  Send(fd, "GET /echo HTTP/1.1\r\nHost");
  std::string buf;
  Reply r = Read(fd, &buf);
  EXPECT_EQ(408, r.status);
  close(fd);
}

TEST_F(Http1Test, Http10ClosesUnlessAskedToKeepAlive) {
  Start();
  int fd = Connect();
  Send(fd, "GET /echo HTTP/1.0\r\n\r\n");
  std::string buf;
  Reply r = Read(fd, &buf);
  EXPECT_EQ(200, r.status);
  EXPECT_EQ("close", r.headers["connection"]);
  EXPECT_TRUE(ClosedByServer(fd, &buf));
  close(fd);
  fd = Connect();
  buf.clear();
  Send(fd, "GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  r = Read(fd, &buf);
  EXPECT_EQ("keep-alive", r.headers["connection"]);
  Send(fd, "GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n");
  r = Read(fd, &buf);
  EXPECT_EQ("close", r.headers["connection"]);
  EXPECT_TRUE(ClosedByServer(fd, &buf));
  close(fd);
}

TEST_F(Http1Test, HeadHasLengthButNoBody) {
  Start();
  int fd = Connect();
  Send(fd, "HEAD /noread HTTP/1.1\r\n\r\nGET /noread HTTP/1.1\r\n\r\n");
  std::string buf;
  Reply r = Read(fd, &buf, /*head_request=*/true);
  EXPECT_EQ(200, r.status);
  EXPECT_EQ("2", r.headers["content-length"]);
  EXPECT_EQ("ok", Read(fd, &buf).body);  // nothing of the HEAD's body came before it
  close(fd);
}

TEST_F(Http1Test, GzipWhenAskedAndChunkedProviders) {
  Start();
  int fd = Connect();
  std::string buf;
  Send(fd, "POST /echo HTTP/1.1\r\nAccept-Encoding: deflate, gzip;q=0.8\r\nContent-Length: 6\r\n\r\nzipped");
  Reply r = Read(fd, &buf);
  EXPECT_EQ("gzip", r.headers["content-encoding"]);
  EXPECT_EQ("zipped", Gunzip(r.body));
  Send(fd, "GET /chunks HTTP/1.1\r\n\r\n");
  r = Read(fd, &buf);
  EXPECT_EQ("chunked", r.headers["transfer-encoding"]);
  EXPECT_EQ("part0;part1;part2;", r.body);
  Send(fd, "GET /chunks HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n");
  r = Read(fd, &buf);
  EXPECT_EQ("gzip", r.headers["content-encoding"]);
  EXPECT_EQ("part0;part1;part2;", Gunzip(r.body));
  // Still in step after all that.
  Send(fd, "GET /echo?a=end HTTP/1.1\r\n\r\n");
  EXPECT_EQ("end", Read(fd, &buf).headers["x-a"]);
  close(fd);
  // HTTP/1.0 gets the stream unframed, ended by the close.
  fd = Connect();
  buf.clear();
  Send(fd, "GET /chunks HTTP/1.0\r\n\r\n");
  std::string all;
  while (Need(fd, &all, all.size() + 1)) {
  }
  EXPECT_NE(std::string::npos, all.find("\r\n\r\npart0;part1;part2;"));
  EXPECT_EQ(std::string::npos, all.find("Transfer-Encoding"));
  close(fd);
}

TEST_F(Http1Test, BigResponsesAndHandlerErrors) {
  Start();
  int fd = Connect();
  std::string buf;
  Send(fd, "GET /big HTTP/1.1\r\n\r\nGET /teapot HTTP/1.1\r\n\r\nGET /throw HTTP/1.1\r\n\r\n");
  EXPECT_EQ(size_t{3} << 20, Read(fd, &buf).body.size());
  Reply r = Read(fd, &buf);
  EXPECT_EQ(418, r.status);
  EXPECT_EQ("{\"error\":\"generic\"}", r.body);  // the error body callback
  r = Read(fd, &buf);
  EXPECT_EQ(500, r.status);
  EXPECT_EQ("close", r.headers["connection"]);
  close(fd);
  EXPECT_EQ(500, last_status_.load());
}

// An exception from a content provider (it runs after the handler, while the
// answer is written) used to end the process (std::terminate on the worker
// thread); now it cuts that answer short and closes that connection only.
TEST_F(Http1Test, ThrowingContentProviderClosesOnlyItsConnection) {
  Start();
  for (int i = 0; i < 6; i++) {  // more than the 4 workers
    int fd = Connect();
    std::string buf;
    Send(fd, "GET /throw-later HTTP/1.1\r\n\r\n");
    Reply r = Read(fd, &buf);
    EXPECT_EQ(200, r.status);
    EXPECT_EQ("first;", r.body);  // then the stream stops without its last chunk
    EXPECT_TRUE(ClosedByServer(fd, &buf));
    close(fd);
  }
  int fd = Connect();
  std::string buf;
  Send(fd, "GET /echo?a=alive HTTP/1.1\r\n\r\n");
  EXPECT_EQ("alive", Read(fd, &buf).headers["x-a"]);
  close(fd);
}

TEST_F(Http1Test, StopClosesIdleConnectionsAndFinishesRequestsInFlight) {
  Start();
  int idle = Connect();
  std::string ibuf;
  Send(idle, "GET /echo HTTP/1.1\r\n\r\n");
  EXPECT_EQ(200, Read(idle, &ibuf).status);
  int busy = Connect();
  Send(busy, "GET /slow HTTP/1.1\r\n\r\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto start = std::chrono::steady_clock::now();
  server_->Stop();
  run_.join();  // returns once /slow is answered
  server_.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  std::string bbuf;
  Reply r = Read(busy, &bbuf);
  EXPECT_EQ("slow", r.body);
  EXPECT_EQ("close", r.headers["connection"]);
  EXPECT_TRUE(ClosedByServer(idle, &ibuf));
  close(idle);
  close(busy);
}

TEST_F(Http1Test, WorkersStartOnDemandUpToTheLimitAndEndWhenIdle) {
  Http1Options o;
  o.threads = 40;
  o.keep_alive_seconds = 1;
  Start(o);
  EXPECT_EQ(0u, server_->workers());
  // 30 connections open at once, each answered while all stay open.
  std::vector<int> fds;
  std::vector<std::string> bufs(30);
  for (int i = 0; i < 30; i++) fds.push_back(Connect());
  for (int round = 0; round < 2; round++) {
    for (int i = 0; i < 30; i++) Send(fds[i], "GET /echo?a=" + std::to_string(i) + " HTTP/1.1\r\n\r\n");
    for (int i = 0; i < 30; i++) EXPECT_EQ(std::to_string(i), Read(fds[i], &bufs[i]).headers["x-a"]);
  }
  EXPECT_GE(server_->workers(), 1u);
  EXPECT_LE(server_->workers(), 30u);
  EXPECT_EQ(30u, server_->connections());
  for (int fd : fds) close(fd);
  // Idle workers end after a keep-alive period.
  for (int i = 0; i < 50 && server_->workers() > 0; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(0u, server_->workers());
  EXPECT_EQ(0u, server_->connections());
  int fd = Connect();
  std::string buf;
  Send(fd, "GET /echo HTTP/1.1\r\n\r\n");
  EXPECT_EQ(200, Read(fd, &buf).status);
  close(fd);
}

// Issue 16 item 4: a connection waiting for its client costs a file
// descriptor, not a worker. Two workers, two keep-alive connections that
// stay open after their answers: a third client is still served (it used to
// wait until one of the first two closed).
TEST_F(Http1Test, IdleKeepAliveConnectionsHoldNoWorker) {
  Http1Options o;
  o.threads = 2;
  Start(o);
  int a = Connect(), b = Connect(), c = Connect();
  std::string ba, bb, bc;
  Send(a, "GET /echo HTTP/1.1\r\n\r\n");
  Send(b, "GET /echo HTTP/1.1\r\n\r\n");
  EXPECT_EQ(200, Read(a, &ba).status);
  EXPECT_EQ(200, Read(b, &bb).status);
  Send(c, "GET /echo?a=c HTTP/1.1\r\n\r\n");
  pollfd p{c, POLLIN, 0};
  EXPECT_EQ(1, poll(&p, 1, 1000));  // within the linger, not after a close
  EXPECT_EQ("c", Read(c, &bc).headers["x-a"]);
  // The parked connections are served again when they ask.
  Send(a, "GET /echo?a=again HTTP/1.1\r\n\r\n");
  EXPECT_EQ("again", Read(a, &ba).headers["x-a"]);
  EXPECT_LE(server_->workers(), 2u);
  close(a);
  close(b);
  close(c);
}

// Hundreds of connections that send nothing, and some that have sent part
// of a head, do not keep four workers from serving a client.
TEST_F(Http1Test, SilentAndHalfSentConnectionsDoNotLockOutClients) {
  Http1Options o;
  o.threads = 4;
  o.header_timeout_seconds = 5;
  o.max_connections_per_address = 0;
  Start(o);
  std::vector<int> idle;
  for (int i = 0; i < 300; i++) idle.push_back(Connect());
  for (int i = 0; i < 20; i++) {
    idle.push_back(Connect());
    Send(idle.back(), "POST /echo HTTP/1.1\r\nHos");
  }
  for (int i = 0; i < 10; i++) {
    auto start = std::chrono::steady_clock::now();
    int fd = Connect();
    std::string buf;
    Send(fd, "GET /echo?a=" + std::to_string(i) + " HTTP/1.1\r\n\r\n");
    Reply r = Read(fd, &buf);
    EXPECT_EQ(std::to_string(i), r.headers["x-a"]);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1)) << i;
    close(fd);
  }
  EXPECT_LE(server_->workers(), 4u);
  for (int fd : idle) close(fd);
}

// A connection that never sends a byte is closed after the header timeout
// (it used to be kept for the keep-alive timeout, 30 s).
TEST_F(Http1Test, SilentConnectionIsClosedAfterTheHeaderTimeout) {
  Http1Options o;
  o.header_timeout_seconds = 1;
  o.keep_alive_seconds = 30;
  Start(o);
  int fd = Connect();
  auto start = std::chrono::steady_clock::now();
  std::string buf;
  EXPECT_TRUE(ClosedByServer(fd, &buf));
  EXPECT_EQ("", buf);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2500));
  close(fd);
}

// A head dripped a byte at a time, each gap shorter than the read timeout,
// is cut off at the header deadline with 408 (the read timeout used to apply
// per gap, so such a client was never closed).
TEST_F(Http1Test, DripFedHeadIsCutOffAtTheDeadline) {
  Http1Options o;
  o.header_timeout_seconds = 1;
  o.read_timeout_seconds = 5;
  Start(o);
  for (bool later_request : {false, true}) {
    int fd = Connect();
    std::string buf;
    if (later_request) {
      Send(fd, "GET /echo HTTP/1.1\r\n\r\n");
      EXPECT_EQ(200, Read(fd, &buf).status);
    }
    const std::string head = "GET /echo HTTP/1.1\r\nX-Long-Header: " + std::string(100, 'x');
    auto start = std::chrono::steady_clock::now();
    bool closed = false;
    for (size_t i = 0; i < head.size() && !closed; i++) {
      if (send(fd, head.data() + i, 1, MSG_NOSIGNAL) != 1) closed = true;
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 200) == 1) closed = true;
      if (std::chrono::steady_clock::now() - start > std::chrono::seconds(4)) break;
    }
    EXPECT_TRUE(closed) << later_request;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2500)) << later_request;
    Reply r = Read(fd, &buf);
    EXPECT_EQ(408, r.status) << later_request;
    close(fd);
  }
}

// A body dripped slower than its deadline allows fails the reader.
TEST_F(Http1Test, DripFedBodyIsCutOffAtTheBodyDeadline) {
  Http1Options o;
  o.body_timeout_seconds = 1;
  o.read_timeout_seconds = 5;
  Start(o);
  int fd = Connect();
  Send(fd, "POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\n");
  auto start = std::chrono::steady_clock::now();
  bool answered = false;
  for (int i = 0; i < 100 && !answered; i++) {
    if (send(fd, "x", 1, MSG_NOSIGNAL) != 1) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 200) == 1) answered = true;
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(4)) break;
  }
  EXPECT_TRUE(answered);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2500));
  std::string buf;
  EXPECT_EQ(400, Read(fd, &buf).status);  // the handler saw the reader fail
  close(fd);
}

// Connections beyond the per-address bound are answered 429 and closed at
// once, without a worker; closing one makes room again.
TEST_F(Http1Test, ConnectionsPerAddressAreBounded) {
  Http1Options o;
  o.max_connections_per_address = 5;
  Start(o);
  std::vector<int> fds;
  for (int i = 0; i < 5; i++) fds.push_back(Connect());
  std::string buf;
  for (int i = 0; i < 5 && server_->connections() < 5; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  int extra = Connect();
  Reply r = Read(extra, &buf);
  EXPECT_EQ(429, r.status);
  EXPECT_EQ("close", r.headers["connection"]);
  EXPECT_TRUE(ClosedByServer(extra, &buf));
  close(extra);
  EXPECT_EQ(1u, server_->refused());
  close(fds[0]);
  for (int i = 0; i < 50 && server_->connections() >= 5; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  int again = Connect();
  buf.clear();
  Send(again, "GET /echo HTTP/1.1\r\n\r\n");
  EXPECT_EQ(200, Read(again, &buf).status);
  close(again);
  for (size_t i = 1; i < fds.size(); i++) close(fds[i]);
}

// With spinning on, answers and Stop behave the same; a spinning idle
// connection still notices Stop (and a client that goes away).
TEST_F(Http1Test, SpinningBetweenRequestsChangesNoAnswer) {
  Http1Options o;
  o.spin_us = 20000;  // long, so that the requests below arrive while it spins
  Start(o);
  int fd = Connect();
  std::string buf;
  for (int i = 0; i < 20; i++) {
    Send(fd, "POST /echo?a=" + std::to_string(i) + " HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
    Reply r = Read(fd, &buf);
    EXPECT_EQ("hi", r.body);
    EXPECT_EQ(std::to_string(i), r.headers["x-a"]);
  }
  int gone = Connect();
  Send(gone, "GET /echo HTTP/1.1\r\n\r\n");
  std::string gbuf;
  EXPECT_EQ(200, Read(gone, &gbuf).status);
  close(gone);  // EOF seen while spinning
  auto start = std::chrono::steady_clock::now();
  server_->Stop();
  run_.join();
  server_.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_TRUE(ClosedByServer(fd, &buf));
  close(fd);
}

// Spinning is for clients that come back at once: one that pauses longer
// than twice the spin time makes the next waits sleep at once.
TEST_F(Http1Test, OnlyQuickClientsAreSpunFor) {
  Http1Options o;
  o.spin_us = 20000;  // generous: a loaded CI machine still counts as quick
  Start(o);
  int fd = Connect();
  std::string buf;
  for (int i = 0; i < 10; i++) {
    Send(fd, "GET /echo HTTP/1.1\r\n\r\n");
    EXPECT_EQ(200, Read(fd, &buf).status);
  }
  uint64_t quick = server_->spins();
  EXPECT_GE(quick, 5u);  // the first wait sleeps; later ones spin
  for (int i = 0; i < 5; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // > 2 x 20 ms
    Send(fd, "GET /echo HTTP/1.1\r\n\r\n");
    EXPECT_EQ(200, Read(fd, &buf).status);
  }
  // At most the wait right after the quick phase spun (and timed out).
  EXPECT_LE(server_->spins(), quick + 1);
  close(fd);
}

TEST(Http1Parse, QueryStringsAsGo) {
  ParamMap p;
  ParseQueryString("a=1&b=x+y%2Bz&&c&d=e=f&bad=%zz&a=2&=v", &p);
  EXPECT_EQ(2u, p.count("a"));
  EXPECT_EQ("x y+z", p.find("b")->second);
  EXPECT_EQ("", p.find("c")->second);
  EXPECT_EQ("e=f", p.find("d")->second);
  EXPECT_EQ(0u, p.count("bad"));
  EXPECT_EQ("v", p.find("")->second);
  std::string out;
  EXPECT_TRUE(PercentDecode("%41%62+", false, &out));
  EXPECT_EQ("Ab+", out);
  EXPECT_FALSE(PercentDecode("%4", false, &out));
  EXPECT_FALSE(PercentDecode("%", false, &out));
  EXPECT_FALSE(PercentDecode("%g0", true, &out));
}

// Our request/response types keep the header model the answers were built
// on: names compare without case, a response's headers go out ordered by
// name, values with CR or LF are refused.
TEST(HttpTypes, HeadersIgnoreCaseKeepOrderAndRefuseLineBreaks) {
  Request req;
  req.headers.emplace("Content-Length", " 12");
  req.headers.emplace("content-length", "7");
  req.headers.emplace("X-Forwarded-For", "a");
  EXPECT_TRUE(req.HasHeader("CONTENT-LENGTH"));
  EXPECT_EQ(" 12", req.Header("content-length"));   // the first of two
  EXPECT_EQ(0u, req.HeaderUint("Content-Length"));  // not a number as it stands
  req.headers.erase("Content-Length");
  req.headers.emplace("Content-Length", "12");
  EXPECT_EQ(12u, req.HeaderUint("content-length"));
  EXPECT_EQ("", req.Header("Accept"));
  EXPECT_EQ(0u, req.HeaderUint("Accept"));
  ParseQueryString("db=x&q=a+b&db=y", &req.params);
  EXPECT_EQ("x", req.Param("db"));
  EXPECT_EQ("a b", req.Param("q"));
  EXPECT_TRUE(req.HasParam("q"));
  EXPECT_FALSE(req.HasParam("Q"));  // parameters do not ignore case

  Response res;
  res.SetHeader("x-b", "1");
  res.SetHeader("X-a", "2");
  res.SetHeader("X-Bad", "v\r\nSet-Cookie: x");
  res.SetHeader("X-Bad\n", "v");
  res.SetContent("old", "text/plain");
  res.SetContent("{}", "application/json");
  std::string order;
  for (const auto& [k, v] : res.headers) order += k + "=" + v + ";";
  EXPECT_EQ("Content-Type=application/json;X-a=2;x-b=1;", order);
  EXPECT_EQ("{}", res.body);
  EXPECT_EQ("application/json", res.Header("content-type"));
  EXPECT_FALSE(res.HasHeader("X-Bad"));
}

// The request head parser on its own, without a socket.
TEST(Http1Parse, RequestHeads) {
  Request req;
  ASSERT_EQ(0, ParseRequestHead("POST http://h:1/a%20b?db=x&q=1+2#frag HTTP/1.0\r\n"
                                "Host: h\r\nX-Empty:\r\nX-T:\t v \t\r\n\r\n",
                                &req));
  EXPECT_EQ("POST", req.method);
  EXPECT_EQ("HTTP/1.0", req.version);
  EXPECT_EQ("/a b", req.path);
  EXPECT_EQ("x", req.Param("db"));
  EXPECT_EQ("1 2", req.Param("q"));
  EXPECT_EQ("v", req.Header("x-t"));
  EXPECT_TRUE(req.HasHeader("X-Empty"));
  Request lf;
  EXPECT_EQ(0, ParseRequestHead("GET / HTTP/1.1\nA: 1\n\n", &lf));  // bare LF line ends
  EXPECT_EQ("1", lf.Header("a"));
  for (const char* bad : {"GET  / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1 x\r\n\r\n", "G(T / HTTP/1.1\r\n\r\n",
                          "GET a HTTP/1.1\r\n\r\n", "GET /\x7f HTTP/1.1\r\n\r\n", "GET / HTTX/1.1\r\n\r\n",
                          "GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
                          "GET / HTTP/1.1\r\nBad Name: 1\r\n\r\n", "GET / HTTP/1.1\r\nA: x\x01y\r\n\r\n",
                          "GET /%zz HTTP/1.1\r\n\r\n"}) {
    Request r;
    EXPECT_EQ(400, ParseRequestHead(bad, &r)) << bad;
  }
  Request r2;
  EXPECT_EQ(505, ParseRequestHead("GET / HTTP/2.0\r\n\r\n", &r2));
  Request star;
  EXPECT_EQ(0, ParseRequestHead("OPTIONS * HTTP/1.1\r\n\r\n", &star));
}

TEST(Http1Parse, ChunkSizes) {
  uint64_t n = 0;
  EXPECT_TRUE(ParseChunkSize("1aF", &n));
  EXPECT_EQ(0x1afu, n);
  EXPECT_TRUE(ParseChunkSize(" 10 ;name=value", &n));
  EXPECT_EQ(16u, n);
  EXPECT_TRUE(ParseChunkSize("fffffffffffffff", &n));  // 15 digits
  for (const char* bad : {"", ";x", "0x10", "-1", "+1", "1 2", "g", "1000000000000000"}) {
    EXPECT_FALSE(ParseChunkSize(bad, &n)) << bad;
  }
}

}  // namespace
}  // namespace m2mdb::server
