// HTTP/1.1 request framing for Http1Server (RFC 9112), as pure functions over
// bytes already read: the request head (request line and header fields) and
// the size line of a chunked body. The connection loop (http1.cc) finds where
// a head ends and reads bodies; everything that judges their syntax is here,
// so it can be tested (http1_test.cc) and fuzzed (http1_fuzz.cc) as one piece.
//
// What is refused, as Go's net/http server refuses it: a request line that is
// not three space-separated parts, a method or header name that is not an
// RFC 9110 token, control characters in the target or a header value,
// obsolete line folding, a header without a colon (400), a version other
// than HTTP/1.0 and HTTP/1.1 (505).
#ifndef M2MDB_SERVER_HTTP1_PARSE_H_
#define M2MDB_SERVER_HTTP1_PARSE_H_

#include <cstdint>
#include <string_view>

#include "server/http_types.h"

namespace m2mdb::server {

// Fills *req (method, version, target, decoded path and query parameters,
// headers) from `head`, the bytes up to and including the blank line that
// ends it. Returns 0, or the status to answer (400 or 505). An absolute-form
// target (a proxy's request) keeps its path and query.
int ParseRequestHead(std::string_view head, Request* req);

// The size of a chunk from its size line (CR LF removed; chunk extensions
// after ';' ignored): hexadecimal, at most 15 digits. False when malformed.
bool ParseChunkSize(std::string_view line, uint64_t* size);

// Header-value helpers shared with the connection loop.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
// Without leading and trailing spaces and tabs (RFC 9110 OWS).
std::string_view TrimOws(std::string_view s);
// True when the comma-separated header value `list` names `token` (any
// parameters such as ";q=0.5" ignored; "q=0" is not honoured).
bool ListHas(std::string_view list, std::string_view token);

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_HTTP1_PARSE_H_
