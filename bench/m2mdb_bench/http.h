// A thin blocking HTTP/1.1 client over cpp-httplib with keep-alive, for the
// load and query phases. One HttpClient per thread (not thread-safe).
#ifndef M2MDB_BENCH_M2MDB_BENCH_HTTP_H_
#define M2MDB_BENCH_M2MDB_BENCH_HTTP_H_

#include <memory>
#include <string>
#include <string_view>

namespace httplib {
class Client;
}

namespace m2mdb::bench {

struct HttpAnswer {
  int status = 0;  // 0: no answer (connection refused, timeout); see error
  std::string body;
  std::string error;   // transport error, when status == 0
  double seconds = 0;  // request round trip
  bool ok() const { return status >= 200 && status < 300; }
};

class HttpClient {
 public:
  // `url` is "http://host:port" (a trailing path is ignored).
  explicit HttpClient(const std::string& url, int timeout_seconds = 300);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpAnswer Get(const std::string& path_and_query);
  HttpAnswer Post(const std::string& path_and_query, std::string_view body, const std::string& content_type);

 private:
  std::unique_ptr<httplib::Client> client_;
};

// Percent-encodes a query-string value.
std::string UrlEncode(std::string_view s);

}  // namespace m2mdb::bench

#endif  // M2MDB_BENCH_M2MDB_BENCH_HTTP_H_
