// m2mdb/json.h — the JSON string escaper shared by the server (error bodies,
// /health), the m2mdb tool and m2mdb-bench (reports).
//
// Query results have their own hand-tuned writer (query/format/format.h,
// Go's escaping of <, > and &, measured faster on large answers); every other
// JSON string we write goes through here.
//
// Thread-safety: pure functions.
#ifndef M2MDB_JSON_H_
#define M2MDB_JSON_H_

#include <string>
#include <string_view>

namespace m2mdb {

// Appends `s` to `*out` as a JSON string literal, quotes included: ", \ and
// control characters escaped (\n, \r, \t, else \u00XX); invalid UTF-8
// becomes U+FFFD ("\ufffd"), as Go's encoding/json does, so that a message
// quoting client input verbatim is still valid JSON.
void AppendJsonString(std::string* out, std::string_view s);

// `s` as a JSON string literal (AppendJsonString into a new string).
std::string JsonQuote(std::string_view s);

}  // namespace m2mdb

#endif  // M2MDB_JSON_H_
