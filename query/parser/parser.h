// query/parser/parser.h — InfluxQL text → AST (m2mdb/query/ast.h).
//
// Syntax and error messages follow InfluxDB 1.x (checked against influxd
// 1.6, see parser_test.cc): a syntax error is kInvalidArgument with
// "error parsing query: found EOF, expected FROM at line 1, char 9"; a
// semantic error from Validate() has InfluxDB's wording without the prefix
// ("invalid number of arguments for mean, expected 1, got 2").
//
// The parser is recursive descent with bounded nesting (parentheses and
// subqueries at most kMaxNesting deep, expression trees at most
// kMaxExprDepth high), so hostile input gets an error, never a stack
// overflow. Thread-safe: no shared state.
#ifndef M2MDB_QUERY_PARSER_PARSER_H_
#define M2MDB_QUERY_PARSER_PARSER_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"

#include "m2mdb/query/ast.h"
#include "m2mdb/query/parse.h"
#include "m2mdb/status.h"

namespace m2mdb::query {

inline constexpr int kMaxNesting = 100;
inline constexpr uint32_t kMaxExprDepth = 1000;

// ParamValue, ParseOptions and ParseQuery are public: m2mdb/query/parse.h.

// Exactly one statement (a trailing ';' is allowed).
StatusOr<Statement> ParseStatement(std::string_view text, const ParseOptions& options = {});
// A standalone expression ("host = 'a' AND time > now() - 1h").
StatusOr<ExprPtr> ParseExpr(std::string_view text, const ParseOptions& options = {});

// Semantic checks InfluxDB makes before planning: known functions and their
// arity, GROUP BY dimension forms, fill/GROUP BY without aggregate, ...
Status Validate(const Statement& statement);

// True for a field that is the time column itself (`time`, `(time)`,
// `time::integer`, with or without an alias). influxd takes such fields out
// of the field list; an alias names the time column. Case-sensitive, as in
// influxd (`TIME` is a field of that name).
bool IsTimeField(const Expr& e);

// A time string as InfluxDB accepts it in conditions: RFC3339 with optional
// fraction and zone ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00.5+02:00"),
// "2006-01-02 15:04:05.999999" and "2006-01-02" (both UTC, or local times
// in `zone`: the statement's tz(), as influxd reads them). Nanoseconds since
// the epoch, for the planner.
StatusOr<int64_t> ParseTimeString(std::string_view s, const absl::TimeZone* zone = nullptr);

// "line L, char C" of a byte offset in `text` (1-based, chars in runes).
std::string PositionOf(std::string_view text, size_t offset);

}  // namespace m2mdb::query

#endif  // M2MDB_QUERY_PARSER_PARSER_H_
