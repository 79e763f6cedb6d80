// The load and query phases' view of the shared client (client/http_client.h):
// every request answers with its status, body, transport error and round
// trip time. One HttpClient per thread (not thread-safe).
#ifndef M2MDB_BENCH_M2MDB_BENCH_HTTP_H_
#define M2MDB_BENCH_M2MDB_BENCH_HTTP_H_

#include <memory>
#include <string>
#include <string_view>

#include "client/http_client.h"

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
  // POST `path`?`query` with a body already gzip-compressed.
  HttpAnswer PostGzip(const std::string& path, const client::Params& query, std::string_view body,
                      const std::string& content_type);

 private:
  HttpAnswer Failed() const;                    // the answer when the client could not be made
  std::unique_ptr<client::HttpClient> client_;  // null: see error_
  std::string error_;                           // why the client could not be made
};

using client::UrlEncode;

}  // namespace m2mdb::bench

#endif  // M2MDB_BENCH_M2MDB_BENCH_HTTP_H_
