// The request and response of one HTTP exchange, as the connection loop
// (http1.h) hands them to the router and the handlers: our own plain data
// carriers, so that nothing in server/ depends on an HTTP library's types.
//
// Headers keep cpp-httplib's model, which the server used before: a
// multimap ordered by case-insensitive name (a response's headers go out in
// that order, so answers stay byte-identical).
//
// Thread-safety: none; a Request and its Response belong to the thread that
// serves them.
#ifndef M2MDB_SERVER_HTTP_TYPES_H_
#define M2MDB_SERVER_HTTP_TYPES_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace m2mdb::server {

// Orders header names ignoring ASCII case.
struct CaseInsensitiveLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const;
};

using Headers = std::multimap<std::string, std::string, CaseInsensitiveLess>;
// URL query or form parameters, in key order; a key may repeat.
using ParamMap = std::multimap<std::string, std::string, std::less<>>;

// Takes the next `n` bytes of a request body; false to stop reading.
using BodyReceiver = std::function<bool(const char* data, size_t n)>;
// Streams the request body to the receiver (only when the handler calls it);
// false when the body was cut short (EOF, timeout, malformed chunk) or the
// receiver stopped.
using BodyReader = std::function<bool(const BodyReceiver& receiver)>;

// Where a streamed response body goes.
struct DataSink {
  // Sends `n` bytes; false once the client is gone (stop producing).
  std::function<bool(const char* data, size_t n)> write;
  // The body is complete.
  std::function<void()> done;
};
// Called until it calls sink.done() or returns false (which cuts the answer
// short and closes the connection). Runs after the handler has returned.
using ChunkedProvider = std::function<bool(DataSink& sink)>;

struct Request {
  std::string method;   // "GET", "POST", ...
  std::string target;   // as sent: "/query?db=x&q=..."
  std::string path;     // percent-decoded, without the query
  std::string version;  // "HTTP/1.1" or "HTTP/1.0"
  ParamMap params;      // the URL's query, decoded
  Headers headers;
  std::string remote_addr;
  int remote_port = -1;

  bool HasHeader(std::string_view name) const { return headers.find(name) != headers.end(); }
  // The first value of header `name`, or "".
  std::string Header(std::string_view name) const;
  // The first value of header `name` as a decimal number (0 when absent or
  // not a number).
  uint64_t HeaderUint(std::string_view name) const;
  bool HasParam(std::string_view key) const { return params.find(key) != params.end(); }
  // The first value of parameter `key`, or "".
  std::string Param(std::string_view key) const;
};

struct Response {
  int status = -1;  // -1: not answered (the connection loop answers 404)
  Headers headers;
  std::string body;
  // A body produced after the handler returned, sent with chunked transfer
  // coding (or until the close over HTTP/1.0); `body` is ignored then.
  ChunkedProvider provider;

  // Adds a header; a name or value with CR or LF is dropped (header
  // injection).
  void SetHeader(std::string_view name, std::string_view value);
  bool HasHeader(std::string_view name) const { return headers.find(name) != headers.end(); }
  // The first value of header `name`, or "".
  std::string Header(std::string_view name) const;
  // Sets the body and its Content-Type (replacing an earlier one).
  void SetContent(std::string body, std::string_view content_type);
  // Streams the body from `provider`.
  void SetChunkedProvider(std::string_view content_type, ChunkedProvider provider);
};

// Splits "a=1&b=x%20y" into params, as Go's url.ParseQuery: '+' is a space,
// a pair without '=' has an empty value, a pair with a bad %-escape is
// dropped. Shared by the URL and form bodies (POST /query).
void ParseQueryString(std::string_view s, ParamMap* params);
// %XX-decodes s; '+' is a space when plus_is_space. False on a bad escape.
bool PercentDecode(std::string_view s, bool plus_is_space, std::string* out);

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_HTTP_TYPES_H_
