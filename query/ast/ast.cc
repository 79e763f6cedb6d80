// query/ast/ast.cc — printing the AST back as canonical InfluxQL.
//
// The output must parse back to an equal tree, so every choice here mirrors
// a lexer rule: floats always carry a '.', never an exponent (the lexer has
// none); identifiers are quoted when they are keywords or not plain;
// regexes re-escape '/'; unary minus is printed tight ("-x").
#include "m2mdb/query/ast.h"

#include <charconv>
#include <cstdio>
#include <new>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

#include "m2mdb/status.h"
#include "query/lexer/lexer.h"

namespace m2mdb::query {
namespace {

std::string_view TypeName(DataType t) {
  switch (t) {
    case DataType::kFloat:
      return "float";
    case DataType::kInteger:
      return "integer";
    case DataType::kUnsigned:
      return "unsigned";
    case DataType::kString:
      return "string";
    case DataType::kBoolean:
      return "boolean";
    case DataType::kTag:
      return "tag";
    case DataType::kAnyField:
      return "field";
    case DataType::kUnknown:
      break;
  }
  return "";
}

std::string FormatFloat(double v) {
  char buf[400];
  // Shortest fixed-notation text that reads back to the same double.
  auto r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
  std::string s(buf, r.ptr);
  if (s.find('.') == std::string::npos) s += ".0";
  return s;
}

std::string RegexString(const RegexLiteral& r) {
  std::string out = "/";
  for (char c : r.pattern) {
    if (c == '/') out += '\\';
    out += c;
  }
  out += '/';
  return out;
}

std::string FormatTime(int64_t ns) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", absl::FromUnixNanos(ns), absl::UTCTimeZone());
}

void AppendSources(std::string* out, const std::vector<Source>& sources) {
  for (size_t i = 0; i < sources.size(); i++) {
    if (i > 0) *out += ", ";
    *out += String(sources[i]);
  }
}

void AppendSort(std::string* out, const std::vector<SortField>& sort) {
  if (sort.empty()) return;
  *out += " ORDER BY ";
  for (size_t i = 0; i < sort.size(); i++) {
    if (i > 0) *out += ", ";
    if (!sort[i].name.empty()) {
      *out += QuoteIdent(sort[i].name);
      *out += ' ';
    }
    *out += sort[i].ascending ? "ASC" : "DESC";
  }
}

void AppendLimits(std::string* out, const Limits& l) {
  if (l.limit > 0) absl::StrAppend(out, " LIMIT ", l.limit);
  if (l.offset > 0) absl::StrAppend(out, " OFFSET ", l.offset);
  if (l.slimit > 0) absl::StrAppend(out, " SLIMIT ", l.slimit);
  if (l.soffset > 0) absl::StrAppend(out, " SOFFSET ", l.soffset);
}

void AppendWhere(std::string* out, const ExprPtr& cond) {
  if (cond != nullptr) absl::StrAppend(out, " WHERE ", String(*cond));
}

void AppendOn(std::string* out, const std::string& db) {
  if (!db.empty()) absl::StrAppend(out, " ON ", QuoteIdent(db));
}

void AppendFrom(std::string* out, const std::vector<Source>& sources) {
  if (sources.empty()) return;
  *out += " FROM ";
  AppendSources(out, sources);
}

void AppendDimensions(std::string* out, const std::vector<Dimension>& dims) {
  if (dims.empty()) return;
  *out += " GROUP BY ";
  for (size_t i = 0; i < dims.size(); i++) {
    if (i > 0) *out += ", ";
    *out += String(dims[i]);
  }
}

std::string TagKeyString(const TagKeyFilter& f) {
  std::string out = " WITH KEY ";
  switch (f.op) {
    case TagKeyFilter::Op::kEq:
      return out + "= " + QuoteIdent(f.keys.empty() ? "" : f.keys[0]);
    case TagKeyFilter::Op::kNeq:
      return out + "!= " + QuoteIdent(f.keys.empty() ? "" : f.keys[0]);
    case TagKeyFilter::Op::kEqRegex:
      return out + "=~ " + RegexString(f.regex);
    case TagKeyFilter::Op::kNeqRegex:
      return out + "!~ " + RegexString(f.regex);
    case TagKeyFilter::Op::kIn: {
      out += "IN (";
      for (size_t i = 0; i < f.keys.size(); i++) {
        if (i > 0) out += ", ";
        out += QuoteIdent(f.keys[i]);
      }
      return out + ")";
    }
  }
  return out;
}

struct StatementPrinter {
  std::string operator()(const SelectStatement& s) const { return String(s); }
  std::string operator()(const ExplainStatement& s) const { return "EXPLAIN " + String(s.select); }
  std::string operator()(const ShowDatabasesStatement&) const { return "SHOW DATABASES"; }
  std::string operator()(const ShowMeasurementsStatement& s) const {
    std::string out = "SHOW MEASUREMENTS";
    AppendOn(&out, s.database);
    if (s.with.has_value()) {
      absl::StrAppend(&out, " WITH MEASUREMENT ", s.with->op == BinaryOp::kEq ? "= " : "=~ ",
                      String(s.with->source));
    }
    AppendWhere(&out, s.condition);
    AppendSort(&out, s.sort);
    AppendLimits(&out, s.limits);
    return out;
  }
  std::string operator()(const ShowTagKeysStatement& s) const {
    std::string out = "SHOW TAG KEYS";
    AppendOn(&out, s.database);
    AppendFrom(&out, s.sources);
    AppendWhere(&out, s.condition);
    AppendSort(&out, s.sort);
    AppendLimits(&out, s.limits);
    return out;
  }
  std::string operator()(const ShowTagValuesStatement& s) const {
    std::string out = "SHOW TAG VALUES";
    AppendOn(&out, s.database);
    AppendFrom(&out, s.sources);
    out += TagKeyString(s.key);
    AppendWhere(&out, s.condition);
    AppendSort(&out, s.sort);
    AppendLimits(&out, s.limits);
    return out;
  }
  std::string operator()(const ShowFieldKeysStatement& s) const {
    std::string out = "SHOW FIELD KEYS";
    AppendOn(&out, s.database);
    AppendFrom(&out, s.sources);
    AppendSort(&out, s.sort);
    AppendLimits(&out, s.limits);
    return out;
  }
  std::string operator()(const ShowSeriesStatement& s) const {
    std::string out = "SHOW SERIES";
    AppendOn(&out, s.database);
    AppendFrom(&out, s.sources);
    AppendWhere(&out, s.condition);
    AppendSort(&out, s.sort);
    AppendLimits(&out, s.limits);
    return out;
  }
  std::string operator()(const ShowRetentionPoliciesStatement& s) const {
    std::string out = "SHOW RETENTION POLICIES";
    AppendOn(&out, s.database);
    return out;
  }
  std::string operator()(const ShowCardinalityStatement& s) const {
    std::string out = "SHOW ";
    switch (s.kind) {
      case ShowCardinalityStatement::Kind::kSeries:
        out += "SERIES";
        break;
      case ShowCardinalityStatement::Kind::kMeasurement:
        out += "MEASUREMENT";
        break;
      case ShowCardinalityStatement::Kind::kTagKey:
        out += "TAG KEY";
        break;
      case ShowCardinalityStatement::Kind::kTagValues:
        out += "TAG VALUES";
        break;
      case ShowCardinalityStatement::Kind::kFieldKey:
        out += "FIELD KEY";
        break;
    }
    out += s.exact ? " EXACT CARDINALITY" : " CARDINALITY";
    AppendOn(&out, s.database);
    AppendFrom(&out, s.sources);
    if (s.key.has_value()) out += TagKeyString(*s.key);
    AppendWhere(&out, s.condition);
    AppendDimensions(&out, s.dimensions);
    AppendLimits(&out, s.limits);
    return out;
  }
  std::string operator()(const CreateDatabaseStatement& s) const {
    std::string out = "CREATE DATABASE " + QuoteIdent(s.name);
    if (s.with) {
      out += " WITH";
      if (s.duration_ns) absl::StrAppend(&out, " DURATION ", DurationOrInf(*s.duration_ns));
      if (s.replication) absl::StrAppend(&out, " REPLICATION ", *s.replication);
      if (s.shard_duration_ns) absl::StrAppend(&out, " SHARD DURATION ", DurationOrInf(*s.shard_duration_ns));
      if (!s.rp_name.empty()) absl::StrAppend(&out, " NAME ", QuoteIdent(s.rp_name));
    }
    return out;
  }
  std::string operator()(const DropDatabaseStatement& s) const {
    return "DROP DATABASE " + QuoteIdent(s.name);
  }
  std::string operator()(const DropSeriesStatement& s) const {
    std::string out = "DROP SERIES";
    AppendFrom(&out, s.sources);
    AppendWhere(&out, s.condition);
    return out;
  }
  std::string operator()(const DeleteStatement& s) const {
    std::string out = "DELETE";
    AppendFrom(&out, s.sources);
    AppendWhere(&out, s.condition);
    return out;
  }
  std::string operator()(const DropMeasurementStatement& s) const {
    return "DROP MEASUREMENT " + QuoteIdent(s.name);
  }
  std::string operator()(const CreateRetentionPolicyStatement& s) const {
    std::string out =
        absl::StrCat("CREATE RETENTION POLICY ", QuoteIdent(s.name), " ON ", QuoteIdent(s.database),
                     " DURATION ", DurationOrInf(s.duration_ns), " REPLICATION ", s.replication);
    if (s.shard_duration_ns != 0)
      absl::StrAppend(&out, " SHARD DURATION ", FormatDuration(s.shard_duration_ns));
    if (s.is_default) out += " DEFAULT";
    return out;
  }
  std::string operator()(const AlterRetentionPolicyStatement& s) const {
    std::string out =
        absl::StrCat("ALTER RETENTION POLICY ", QuoteIdent(s.name), " ON ", QuoteIdent(s.database));
    if (s.duration_ns) absl::StrAppend(&out, " DURATION ", DurationOrInf(*s.duration_ns));
    if (s.replication) absl::StrAppend(&out, " REPLICATION ", *s.replication);
    if (s.shard_duration_ns) absl::StrAppend(&out, " SHARD DURATION ", FormatDuration(*s.shard_duration_ns));
    if (s.is_default) out += " DEFAULT";
    return out;
  }
  std::string operator()(const CreateContinuousQueryStatement& s) const {
    // influxd's CreateContinuousQueryStatement.String(), which SHOW
    // CONTINUOUS QUERIES prints.
    std::string out =
        absl::StrCat("CREATE CONTINUOUS QUERY ", QuoteIdent(s.name), " ON ", QuoteIdent(s.database), " ");
    if (s.resample_every_ns > 0 || s.resample_for_ns > 0) {
      out += "RESAMPLE ";
      if (s.resample_every_ns > 0) absl::StrAppend(&out, "EVERY ", FormatDuration(s.resample_every_ns), " ");
      if (s.resample_for_ns > 0) absl::StrAppend(&out, "FOR ", FormatDuration(s.resample_for_ns), " ");
    }
    absl::StrAppend(&out, "BEGIN ", String(s.select), " END");
    return out;
  }
  std::string operator()(const ShowContinuousQueriesStatement&) const { return "SHOW CONTINUOUS QUERIES"; }
  std::string operator()(const DropContinuousQueryStatement& s) const {
    return absl::StrCat("DROP CONTINUOUS QUERY ", QuoteIdent(s.name), " ON ", QuoteIdent(s.database));
  }
  std::string operator()(const DropRetentionPolicyStatement& s) const {
    return absl::StrCat("DROP RETENTION POLICY ", QuoteIdent(s.name), " ON ", QuoteIdent(s.database));
  }

  static std::string DurationOrInf(int64_t ns) { return ns == 0 ? "INF" : FormatDuration(ns); }
};

}  // namespace

std::string_view BinaryOpString(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd:
      return "+";
    case BinaryOp::kSub:
      return "-";
    case BinaryOp::kMul:
      return "*";
    case BinaryOp::kDiv:
      return "/";
    case BinaryOp::kMod:
      return "%";
    case BinaryOp::kBitAnd:
      return "&";
    case BinaryOp::kBitOr:
      return "|";
    case BinaryOp::kBitXor:
      return "^";
    case BinaryOp::kAnd:
      return "AND";
    case BinaryOp::kOr:
      return "OR";
    case BinaryOp::kEq:
      return "=";
    case BinaryOp::kNeq:
      return "!=";
    case BinaryOp::kEqRegex:
      return "=~";
    case BinaryOp::kNeqRegex:
      return "!~";
    case BinaryOp::kLt:
      return "<";
    case BinaryOp::kLte:
      return "<=";
    case BinaryOp::kGt:
      return ">";
    case BinaryOp::kGte:
      return ">=";
  }
  return "?";
}

int Precedence(BinaryOp op) {
  switch (op) {
    case BinaryOp::kOr:
      return 1;
    case BinaryOp::kAnd:
      return 2;
    case BinaryOp::kEq:
    case BinaryOp::kNeq:
    case BinaryOp::kEqRegex:
    case BinaryOp::kNeqRegex:
    case BinaryOp::kLt:
    case BinaryOp::kLte:
    case BinaryOp::kGt:
    case BinaryOp::kGte:
      return 3;
    case BinaryOp::kAdd:
    case BinaryOp::kSub:
    case BinaryOp::kBitOr:
    case BinaryOp::kBitXor:
      return 4;
    case BinaryOp::kMul:
    case BinaryOp::kDiv:
    case BinaryOp::kMod:
    case BinaryOp::kBitAnd:
      return 5;
  }
  return 0;
}

bool IsComparisonOrLogical(BinaryOp op) { return Precedence(op) <= 3; }

std::string QuoteString(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\\' || c == '\'') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

namespace {
bool IdentNeedsQuotes(std::string_view s) {
  if (s.empty() || IsKeyword(s)) return true;
  for (size_t i = 0; i < s.size(); i++) {
    char c = s[i];
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (!(letter || (i > 0 && digit))) return true;
  }
  return false;
}

std::string AlwaysQuote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}
}  // namespace

std::string QuoteIdent(std::string_view s) {
  if (!IdentNeedsQuotes(s)) return std::string(s);
  return AlwaysQuote(s);
}

std::string QuoteIdentSegments(const std::vector<std::string>& segments) {
  std::string out;
  for (size_t i = 0; i < segments.size(); i++) {
    const std::string& s = segments[i];
    const bool last = i + 1 == segments.size();
    const bool quote =
        (!s.empty() && IdentNeedsQuotes(s)) || (!last && !s.empty()) || ((i == 0 || last) && s.empty());
    if (quote) {
      out += AlwaysQuote(s);
    } else {
      out += s;
    }
    if (!last) out += '.';
  }
  return out;
}

std::string FormatDuration(int64_t ns) {
  constexpr int64_t kUs = 1000, kMs = 1000 * kUs, kS = 1000 * kMs, kM = 60 * kS, kH = 60 * kM, kD = 24 * kH,
                    kW = 7 * kD;
  if (ns == 0) return "0s";
  struct Unit {
    int64_t size;
    const char* name;
  };
  static constexpr Unit kUnits[] = {{kW, "w"}, {kD, "d"},   {kH, "h"}, {kM, "m"},
                                    {kS, "s"}, {kMs, "ms"}, {kUs, "u"}};
  for (const Unit& u : kUnits) {
    if (ns % u.size == 0) return absl::StrCat(ns / u.size, u.name);
  }
  return absl::StrCat(ns, "ns");
}

std::string String(const Expr& e) {
  struct V {
    std::string operator()(const VarRef& v) const {
      std::string out = QuoteIdent(v.name);
      if (v.type != DataType::kUnknown) absl::StrAppend(&out, "::", ToAbsl(TypeName(v.type)));
      return out;
    }
    std::string operator()(const Call& c) const {
      // distinct is a keyword but is written bare before '('.
      std::string out = c.name == "distinct" ? c.name : QuoteIdent(c.name);
      out += '(';
      for (size_t i = 0; i < c.args.size(); i++) {
        if (i > 0) out += ", ";
        out += String(*c.args[i]);
      }
      out += ')';
      return out;
    }
    std::string operator()(const NowCall&) const { return "now()"; }
    std::string operator()(const BinaryExpr& b) const {
      return absl::StrCat(String(*b.lhs), " ", ToAbsl(BinaryOpString(b.op)), " ", String(*b.rhs));
    }
    std::string operator()(const UnaryMinus& u) const { return "-" + String(*u.expr); }
    std::string operator()(const ParenExpr& p) const { return "(" + String(*p.expr) + ")"; }
    std::string operator()(const NumberLiteral& n) const { return FormatFloat(n.value); }
    std::string operator()(const IntegerLiteral& i) const { return std::to_string(i.value); }
    std::string operator()(const UnsignedLiteral& u) const { return std::to_string(u.value); }
    std::string operator()(const StringLiteral& s) const { return QuoteString(s.value); }
    std::string operator()(const BooleanLiteral& b) const { return b.value ? "true" : "false"; }
    std::string operator()(const DurationLiteral& d) const { return FormatDuration(d.ns); }
    std::string operator()(const TimeLiteral& t) const { return QuoteString(FormatTime(t.ns)); }
    std::string operator()(const RegexLiteral& r) const { return RegexString(r); }
    std::string operator()(const Wildcard& w) const {
      switch (w.type) {
        case WildcardType::kField:
          return "*::field";
        case WildcardType::kTag:
          return "*::tag";
        case WildcardType::kAll:
          break;
      }
      return "*";
    }
    std::string operator()(const Distinct& d) const { return "DISTINCT " + QuoteIdent(d.name); }
  };
  return std::visit(V{}, e.node);
}

std::string String(const Measurement& m) {
  std::string out;
  if (!m.database.empty()) {
    out += QuoteIdent(m.database);
    out += '.';
    if (!m.retention_policy.empty()) out += QuoteIdent(m.retention_policy);
    out += '.';
  } else if (!m.retention_policy.empty()) {
    out += QuoteIdent(m.retention_policy);
    out += '.';
  }
  if (m.regex.has_value()) {
    out += RegexString(*m.regex);
  } else {
    out += QuoteIdent(m.name);
  }
  return out;
}

std::string String(const Source& s) {
  if (const auto* m = std::get_if<Measurement>(&s.node)) return String(*m);
  return "(" + String(*std::get<SubQuery>(s.node).statement) + ")";
}

std::string String(const Dimension& d) {
  struct V {
    std::string operator()(const TimeDimension& t) const {
      std::string out = "time(" + FormatDuration(t.interval_ns);
      if (t.has_offset) out += t.offset_now ? ", now()" : ", " + FormatDuration(t.offset_ns);
      return out + ")";
    }
    std::string operator()(const TagDimension& t) const { return QuoteIdent(t.name); }
    std::string operator()(const RegexDimension& r) const { return RegexString(r.regex); }
    std::string operator()(const WildcardDimension&) const { return "*"; }
    std::string operator()(const ExprDimension& e) const { return String(*e.expr); }
  };
  return std::visit(V{}, d.node);
}

std::string String(const SelectStatement& s) {
  std::string out = "SELECT ";
  for (size_t i = 0; i < s.fields.size(); i++) {
    if (i > 0) out += ", ";
    out += String(*s.fields[i].expr);
    if (!s.fields[i].alias.empty()) absl::StrAppend(&out, " AS ", QuoteIdent(s.fields[i].alias));
  }
  if (s.into.has_value()) {
    out += " INTO ";
    const Measurement& m = *s.into;
    if (m.name.empty() && !m.regex.has_value()) {
      // db.rp.:MEASUREMENT — the source measurement's name.
      Measurement prefix = m;
      std::string p = String(prefix);  // ends with `""`
      p.resize(p.size() - 2);
      // A bare `:MEASUREMENT` does not parse (influxd's grammar wants a
      // prefix): with neither database nor policy it prints as `"".`, which
      // parses back to the same empty prefix.
      out += p.empty() ? "\"\".:MEASUREMENT" : p + ":MEASUREMENT";
    } else {
      out += String(m);
    }
  }
  out += " FROM ";
  AppendSources(&out, s.sources);
  AppendWhere(&out, s.condition);
  AppendDimensions(&out, s.dimensions);
  if (s.fill.specified) {
    switch (s.fill.mode) {
      case FillMode::kNull:
        out += " fill(null)";
        break;
      case FillMode::kNone:
        out += " fill(none)";
        break;
      case FillMode::kPrevious:
        out += " fill(previous)";
        break;
      case FillMode::kLinear:
        out += " fill(linear)";
        break;
      case FillMode::kNumber:
        if (const auto* i = std::get_if<int64_t>(&s.fill.value)) {
          absl::StrAppend(&out, " fill(", *i, ")");
        } else {
          absl::StrAppend(&out, " fill(", FormatFloat(std::get<double>(s.fill.value)), ")");
        }
        break;
    }
  }
  AppendSort(&out, s.sort);
  AppendLimits(&out, s.limits);
  if (!s.timezone.empty()) absl::StrAppend(&out, " tz(", QuoteString(s.timezone), ")");
  return out;
}

std::string String(const Statement& s) { return std::visit(StatementPrinter{}, s.node); }

std::string String(const std::vector<Statement>& statements) {
  std::string out;
  for (size_t i = 0; i < statements.size(); i++) {
    if (i > 0) out += "; ";
    out += String(statements[i]);
  }
  return out;
}

namespace {

// Freed Expr blocks of this thread, as an intrusive list: trivially
// destructible, so it stays usable while other objects of the thread (or, on
// the main thread, static ones) are destroyed after the reaper below.
struct ExprBlockList {
  struct Block {
    Block* next;
  };
  static constexpr size_t kMax = 4096;  // beyond this, blocks go back to the heap
  Block* head;
  size_t n;
  bool closed;  // the thread is exiting: no more caching
};
thread_local ExprBlockList expr_blocks{nullptr, 0, false};

// Gives the list back to the heap at thread exit and closes it.
struct ExprBlockReaper {
  ~ExprBlockReaper() {
    expr_blocks.closed = true;
    while (expr_blocks.head != nullptr) {
      ExprBlockList::Block* b = expr_blocks.head;
      expr_blocks.head = b->next;
      ::operator delete(b);
    }
    expr_blocks.n = 0;
  }
  void Arm() {}
};
thread_local ExprBlockReaper expr_block_reaper;

}  // namespace

void* Expr::operator new(size_t size) {
  if (size == sizeof(Expr) && expr_blocks.head != nullptr) {
    ExprBlockList::Block* b = expr_blocks.head;
    expr_blocks.head = b->next;
    expr_blocks.n--;
    return b;
  }
  return ::operator new(size);
}

void Expr::operator delete(void* p, size_t size) {
  if (size == sizeof(Expr) && expr_blocks.n < ExprBlockList::kMax && !expr_blocks.closed) {
    // The first block cached by a thread registers the reaper.
    if (expr_blocks.head == nullptr) expr_block_reaper.Arm();
    expr_blocks.head = new (p) ExprBlockList::Block{expr_blocks.head};
    expr_blocks.n++;
    return;
  }
  ::operator delete(p);
}

}  // namespace m2mdb::query
