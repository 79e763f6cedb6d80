// m2mdb/query/parse.h — InfluxQL text to statements (m2mdb/query/ast.h), the
// part of the parser a caller of the query layer needs: the server parses a
// request's statements once, checks its token's rights on them and hands
// them to the Executor. The rest of the parser (expressions, validation,
// time strings) is internal (query/parser/parser.h).
//
// Syntax errors are kInvalidArgument with InfluxDB 1.x's wording ("error
// parsing query: found EOF, expected FROM at line 1, char 9").
// Thread-safe: no shared state.
#ifndef M2MDB_QUERY_PARSE_H_
#define M2MDB_QUERY_PARSE_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "m2mdb/query/ast.h"
#include "m2mdb/status.h"

namespace m2mdb::query {

// A value for a bound parameter ($name), substituted as a token the way
// InfluxDB does (a kIdentifier value can name a measurement or field).
struct ParamValue {
  enum class Kind : uint8_t { kString, kInteger, kFloat, kBoolean, kIdentifier, kDuration, kRegex };
  Kind kind = Kind::kString;
  std::string text;  // kString, kIdentifier, kDuration ("1h"), kRegex (pattern)
  int64_t i = 0;
  double f = 0;
  bool b = false;

  static ParamValue String(std::string s) { return {Kind::kString, std::move(s)}; }
  static ParamValue Identifier(std::string s) { return {Kind::kIdentifier, std::move(s)}; }
  static ParamValue Integer(int64_t v) { return {Kind::kInteger, {}, v}; }
  static ParamValue Float(double v) { return {Kind::kFloat, {}, 0, v}; }
  static ParamValue Boolean(bool v) { return {Kind::kBoolean, {}, 0, 0, v}; }
};

struct ParseOptions {
  std::map<std::string, ParamValue, std::less<>> params;
  // Run Validate() on every statement (InfluxDB's compile-time checks).
  bool validate = true;
};

// Parses `;`-separated statements. Empty text gives an empty list.
StatusOr<std::vector<Statement>> ParseQuery(std::string_view text, const ParseOptions& options = {});

}  // namespace m2mdb::query

#endif  // M2MDB_QUERY_PARSE_H_
