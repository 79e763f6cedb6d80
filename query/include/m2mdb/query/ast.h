// m2mdb/query/ast.h — the InfluxQL abstract syntax tree.
//
// The parser (query/parser/parser.h) turns query text into a list of
// Statements; the planner walks them. Everything here is plain data: structs
// holding std::unique_ptr / std::variant, no virtual dispatch, so a planner
// walks a tree with std::visit (or the As<T>() helpers) and can move parts of
// it out. The tree is not thread-safe to mutate concurrently; distinct trees
// are independent.
//
// Every node carries `offset`, the byte offset of its first character in the
// query text, so later stages can report errors at a position
// (PositionOf() in parser.h turns it into InfluxDB's "line L, char C").
//
// String() prints a tree back as canonical InfluxQL. The parser and printer
// are built so that Parse(String(tree)) yields an equal tree (the tests and
// the fuzzer check this over a corpus).
#ifndef M2MDB_QUERY_AST_H_
#define M2MDB_QUERY_AST_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace m2mdb::query {

// ---------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------

// The `::type` hint of a variable reference ("value::float", "host::tag").
enum class DataType : uint8_t {
  kUnknown = 0,  // no hint: field or tag, resolved by the planner
  kFloat,
  kInteger,
  kUnsigned,
  kString,
  kBoolean,
  kTag,       // ::tag
  kAnyField,  // ::field
};

enum class BinaryOp : uint8_t {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kBitAnd,
  kBitOr,
  kBitXor,
  kAnd,
  kOr,
  kEq,
  kNeq,
  kEqRegex,
  kNeqRegex,
  kLt,
  kLte,
  kGt,
  kGte,
};

// "+", "AND", "=~", ... as written by String().
std::string_view BinaryOpString(BinaryOp op);
// InfluxQL precedence: OR 1, AND 2, comparisons 3, + - | ^ 4, * / % & 5.
int Precedence(BinaryOp op);
// True for = != =~ !~ < <= > >= AND OR (operators that yield a boolean).
bool IsComparisonOrLogical(BinaryOp op);

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

// A field or tag name, optionally with a type hint. Segmented names
// ("cpu.value") are joined with '.', as InfluxDB does.
struct VarRef {
  std::string name;
  DataType type = DataType::kUnknown;
};

// A function call: mean(value), percentile(value, 95), time(1h). Names are
// lower-cased by the parser. now() is parsed as NowCall instead.
struct Call {
  std::string name;
  std::vector<ExprPtr> args;
};

// now(): the query's evaluation time.
struct NowCall {};

struct BinaryExpr {
  BinaryOp op = BinaryOp::kAdd;
  ExprPtr lhs;
  ExprPtr rhs;
};

// Unary minus on a non-literal: -value, -(a + b), -mean(x). Minus on a
// numeric or duration literal is folded into the literal by the parser.
struct UnaryMinus {
  ExprPtr expr;
};

// (expr): kept so that String() reproduces the grouping.
struct ParenExpr {
  ExprPtr expr;
};

struct NumberLiteral {  // a literal with a '.', e.g. 1.5 (float64)
  double value = 0;
};
struct IntegerLiteral {  // a literal without '.', e.g. 42 (int64)
  int64_t value = 0;
};
struct UnsignedLiteral {  // an integer literal above INT64_MAX (uint64)
  uint64_t value = 0;
};
struct StringLiteral {  // 'text' (unescaped)
  std::string value;
};
struct BooleanLiteral {
  bool value = false;
};
struct DurationLiteral {  // 10s, 1h30m, -5m: nanoseconds
  int64_t ns = 0;
};
// An absolute time (ns since the epoch). The parser never produces it: a
// time string in a condition is a StringLiteral until the planner resolves
// it (with ParseTimeString() from parser.h) and may replace it with this.
struct TimeLiteral {
  int64_t ns = 0;
};
// /pattern/ with "\/" already unescaped to "/". The pattern is RE2/Go
// syntax; the parser does not compile it.
struct RegexLiteral {
  std::string pattern;
};

enum class WildcardType : uint8_t { kAll, kField, kTag };

// * or *::field or *::tag (in a field list or a call argument).
struct Wildcard {
  WildcardType type = WildcardType::kAll;
};

// SELECT DISTINCT value (the keyword form; distinct(value) is a Call).
struct Distinct {
  std::string name;
};

struct Expr {
  using Node = std::variant<VarRef, Call, NowCall, BinaryExpr, UnaryMinus, ParenExpr, NumberLiteral,
                            IntegerLiteral, UnsignedLiteral, StringLiteral, BooleanLiteral, DurationLiteral,
                            TimeLiteral, RegexLiteral, Wildcard, Distinct>;

  size_t offset = 0;  // byte offset in the query text
  // Height of this subtree (a leaf is 1). The parser bounds it so that the
  // recursive walks (printer, destructor, planner) cannot overflow the stack.
  uint32_t depth = 1;
  Node node;

  // Nodes come and go in bursts (a parse builds a dozen, the request frees
  // them together), so each thread keeps a few thousand freed nodes' memory
  // for the next ones: malloc and free were a fifth of a small query's
  // parse. Thread-safe (per-thread lists; a node may be freed by any thread).
  static void* operator new(size_t size);
  static void operator delete(void* p, size_t size);

  template <typename T>
  const T* As() const {
    return std::get_if<T>(&node);
  }
  template <typename T>
  T* As() {
    return std::get_if<T>(&node);
  }
  template <typename T>
  bool Is() const {
    return std::holds_alternative<T>(node);
  }
};

// Builds a leaf or inner node; depth is computed from the children.
ExprPtr MakeExpr(size_t offset, Expr::Node node);

// Calls `fn` on `e` and then, if it returns true, on every child (pre-order).
template <typename Fn>
void WalkExpr(const Expr& e, Fn&& fn);

// ---------------------------------------------------------------------------
// Statements
// ---------------------------------------------------------------------------

struct SelectStatement;

// A measurement reference: cpu, "db"."rp"."cpu", db..cpu, /cp.*/, db.rp./re/.
// Exactly one of `name` and `regex` is set (name may be empty only for the
// INTO target form `db.rp.:MEASUREMENT`).
struct Measurement {
  std::string database;
  std::string retention_policy;
  std::string name;
  std::optional<RegexLiteral> regex;
};

struct SubQuery {
  std::unique_ptr<SelectStatement> statement;
};

struct Source {
  size_t offset = 0;
  std::variant<Measurement, SubQuery> node;
};

// GROUP BY time(interval[, offset]).
struct TimeDimension {
  int64_t interval_ns = 0;
  int64_t offset_ns = 0;
  bool offset_now = false;  // time(1h, now())
  bool has_offset = false;  // an offset argument was written
};
struct TagDimension {
  std::string name;
};
struct RegexDimension {
  RegexLiteral regex;
};
struct WildcardDimension {};
// Anything else written after GROUP BY (time(foo), mean(x), 1, ...). The
// parser keeps it so that Validate() can report InfluxDB's error for it; a
// validated statement never contains one.
struct ExprDimension {
  ExprPtr expr;
};

struct Dimension {
  size_t offset = 0;
  std::variant<TimeDimension, TagDimension, RegexDimension, WildcardDimension, ExprDimension> node;
};

enum class FillMode : uint8_t { kNull, kNone, kPrevious, kLinear, kNumber };

struct Fill {
  FillMode mode = FillMode::kNull;
  bool specified = false;  // fill(...) was written (String() reprints it)
  // For kNumber: the value, integer or float as written.
  std::variant<int64_t, double> value = int64_t{0};
};

struct SortField {
  std::string name;  // empty for "ORDER BY ASC|DESC"
  bool ascending = true;
};

// One output column: expression and optional AS alias.
struct Field {
  ExprPtr expr;
  std::string alias;
};

// LIMIT/OFFSET/SLIMIT/SOFFSET: 0 means "not given", as in InfluxDB.
struct Limits {
  int64_t limit = 0;
  int64_t offset = 0;
  int64_t slimit = 0;
  int64_t soffset = 0;
};

struct SelectStatement {
  std::vector<Field> fields;
  std::optional<Measurement> into;  // SELECT ... INTO target (parse only)
  std::vector<Source> sources;
  ExprPtr condition;  // WHERE; null if absent
  std::vector<Dimension> dimensions;
  Fill fill;
  std::vector<SortField> sort;
  Limits limits;
  std::string timezone;  // tz('...'); empty if absent
  // True if no field contains a Call (InfluxDB's IsRawQuery).
  bool is_raw = true;
};

struct ShowDatabasesStatement {};

// The `WITH MEASUREMENT = x | =~ /re/` filter of SHOW MEASUREMENTS.
struct MeasurementFilter {
  BinaryOp op = BinaryOp::kEq;  // kEq or kEqRegex
  Measurement source;
};

struct ShowMeasurementsStatement {
  std::string database;  // ON db
  std::optional<MeasurementFilter> with;
  ExprPtr condition;
  std::vector<SortField> sort;
  Limits limits;  // limit, offset
};

struct ShowTagKeysStatement {
  std::string database;
  std::vector<Source> sources;
  ExprPtr condition;
  std::vector<SortField> sort;
  Limits limits;  // all four
};

// WITH KEY = k | != k | =~ /re/ | !~ /re/ | IN (a, b).
struct TagKeyFilter {
  enum class Op : uint8_t { kEq, kNeq, kEqRegex, kNeqRegex, kIn };
  Op op = Op::kEq;
  std::vector<std::string> keys;  // one for kEq/kNeq, several for kIn
  RegexLiteral regex;             // for the regex ops
};

struct ShowTagValuesStatement {
  std::string database;
  std::vector<Source> sources;
  TagKeyFilter key;
  ExprPtr condition;
  std::vector<SortField> sort;
  Limits limits;  // limit, offset
};

struct ShowFieldKeysStatement {
  std::string database;
  std::vector<Source> sources;
  std::vector<SortField> sort;
  Limits limits;  // limit, offset
};

struct ShowSeriesStatement {
  std::string database;
  std::vector<Source> sources;
  ExprPtr condition;
  std::vector<SortField> sort;
  Limits limits;  // limit, offset
};

struct ShowRetentionPoliciesStatement {
  std::string database;
};

// SHOW {SERIES | MEASUREMENT | TAG KEY | TAG VALUES | FIELD KEY} [EXACT]
// CARDINALITY (parse only).
struct ShowCardinalityStatement {
  enum class Kind : uint8_t { kSeries, kMeasurement, kTagKey, kTagValues, kFieldKey };
  Kind kind = Kind::kSeries;
  bool exact = false;
  std::string database;
  std::vector<Source> sources;
  std::optional<TagKeyFilter> key;  // kTagValues only: WITH KEY ...
  ExprPtr condition;
  std::vector<Dimension> dimensions;
  Limits limits;  // limit, offset
};

struct CreateDatabaseStatement {
  std::string name;
  bool with = false;                   // a WITH clause was given
  std::optional<int64_t> duration_ns;  // 0 = INF
  std::optional<int64_t> replication;
  std::optional<int64_t> shard_duration_ns;
  std::string rp_name;  // NAME
};

struct DropDatabaseStatement {
  std::string name;
};

struct DropSeriesStatement {
  std::vector<Source> sources;
  ExprPtr condition;
};

struct DeleteStatement {
  std::vector<Source> sources;
  ExprPtr condition;
};

struct DropMeasurementStatement {
  std::string name;
};

struct CreateRetentionPolicyStatement {
  std::string name;
  std::string database;
  int64_t duration_ns = 0;  // 0 = INF
  int64_t replication = 1;
  int64_t shard_duration_ns = 0;  // 0 = not given
  bool is_default = false;
};

struct AlterRetentionPolicyStatement {
  std::string name;
  std::string database;
  std::optional<int64_t> duration_ns;
  std::optional<int64_t> replication;
  std::optional<int64_t> shard_duration_ns;
  bool is_default = false;
};

struct DropRetentionPolicyStatement {
  std::string name;
  std::string database;
};

// EXPLAIN SELECT ...: the statement's plan (query/planner/explain.cc), one
// line per row, in influxd's shape (a "QUERY PLAN" column).
struct ExplainStatement {
  SelectStatement select;
};

// CREATE CONTINUOUS QUERY name ON db [RESAMPLE [EVERY d] [FOR d]] BEGIN
// SELECT ... INTO ... GROUP BY time(...) ... END. `select.into` is set.
struct CreateContinuousQueryStatement {
  std::string name;
  std::string database;
  int64_t resample_every_ns = 0;  // 0 = not given
  int64_t resample_for_ns = 0;    // 0 = not given
  SelectStatement select;
};

struct ShowContinuousQueriesStatement {};

struct DropContinuousQueryStatement {
  std::string name;
  std::string database;
};

struct Statement {
  using Node =
      std::variant<SelectStatement, ShowDatabasesStatement, ShowMeasurementsStatement, ShowTagKeysStatement,
                   ShowTagValuesStatement, ShowFieldKeysStatement, ShowSeriesStatement,
                   ShowRetentionPoliciesStatement, ShowCardinalityStatement, CreateDatabaseStatement,
                   DropDatabaseStatement, DropSeriesStatement, DeleteStatement, DropMeasurementStatement,
                   CreateRetentionPolicyStatement, AlterRetentionPolicyStatement,
                   DropRetentionPolicyStatement, ExplainStatement, CreateContinuousQueryStatement,
                   ShowContinuousQueriesStatement, DropContinuousQueryStatement>;
  size_t offset = 0;
  Node node;

  template <typename T>
  const T* As() const {
    return std::get_if<T>(&node);
  }
  template <typename T>
  T* As() {
    return std::get_if<T>(&node);
  }
};

// ---------------------------------------------------------------------------
// Printing (query/ast/ast.cc)
// ---------------------------------------------------------------------------

std::string String(const Expr& e);
std::string String(const Source& s);
std::string String(const Measurement& m);
std::string String(const Dimension& d);
std::string String(const SelectStatement& s);
std::string String(const Statement& s);
// Statements joined with "; ".
std::string String(const std::vector<Statement>& statements);

// 'text' with \ ' and newline escaped.
std::string QuoteString(std::string_view s);
// An identifier, double-quoted (with escapes) only when needed: keywords,
// empty names and names that are not [A-Za-z_][A-Za-z0-9_]*.
std::string QuoteIdent(std::string_view s);
// Segments joined with '.', each quoted by QuoteIdent's rule, and also
// quoted when not last and non-empty or when first/last and empty
// (InfluxDB's QuoteIdent(segments...), used in error messages).
std::string QuoteIdentSegments(const std::vector<std::string>& segments);
// "1h", "90m", "1500ms": the largest unit that divides exactly (InfluxDB's
// FormatDuration). 0 is "0s".
std::string FormatDuration(int64_t ns);

// ---------------------------------------------------------------------------
// Template definitions
// ---------------------------------------------------------------------------

template <typename Fn>
void WalkExpr(const Expr& e, Fn&& fn) {
  if (!fn(e)) return;
  if (const auto* b = e.As<BinaryExpr>()) {
    WalkExpr(*b->lhs, fn);
    WalkExpr(*b->rhs, fn);
  } else if (const auto* c = e.As<Call>()) {
    for (const auto& a : c->args) WalkExpr(*a, fn);
  } else if (const auto* p = e.As<ParenExpr>()) {
    WalkExpr(*p->expr, fn);
  } else if (const auto* u = e.As<UnaryMinus>()) {
    WalkExpr(*u->expr, fn);
  }
}

}  // namespace m2mdb::query

#endif  // M2MDB_QUERY_AST_H_
