// query/parser/parser.cc — recursive-descent InfluxQL parser.
//
// The grammar and the order of checks follow InfluxDB 1.x's parser so that
// the same input fails with the same "found X, expected Y at line L, char C".
// Scanning model: `pos_` is a byte offset into the text; Scan() returns the
// token there and advances; Unscan() restores the offset before the last
// token (whitespace already skipped stays skipped, as in InfluxDB).
#include "query/parser/parser.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"

#include "query/lexer/lexer.h"

namespace m2mdb::query {
namespace {

constexpr std::string_view kPrefix = "error parsing query: ";

enum class TargetRequirement { kNotRequired, kSubquery, kRequired };

// The segments of a dotted name (db.rp.m, a.b): at most four are kept (a
// fourth is an error), in place, since nearly every name has one.
using Segments = absl::InlinedVector<std::string, 4>;

std::string Lower(std::string_view s) { return absl::AsciiStrToLower(ToAbsl(s)); }

bool ParseInt64(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  size_t i = 0;
  bool neg = false;
  if (s[0] == '-' || s[0] == '+') {
    neg = s[0] == '-';
    i = 1;
    if (s.size() == 1) return false;
  }
  int64_t v = 0;
  for (; i < s.size(); i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    int d = s[i] - '0';
    if (__builtin_mul_overflow(v, 10, &v)) return false;
    if (neg ? __builtin_sub_overflow(v, d, &v) : __builtin_add_overflow(v, d, &v)) return false;
  }
  *out = v;
  return true;
}

bool ParseUint64(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, static_cast<uint64_t>(c - '0'), &v)) {
      return false;
    }
  }
  *out = v;
  return true;
}

uint32_t ChildDepth(const Expr& e) {
  uint32_t d = 0;
  if (const auto* b = e.As<BinaryExpr>()) {
    d = std::max(b->lhs->depth, b->rhs->depth);
  } else if (const auto* c = e.As<Call>()) {
    for (const auto& a : c->args) d = std::max(d, a->depth);
  } else if (const auto* p = e.As<ParenExpr>()) {
    d = p->expr->depth;
  } else if (const auto* u = e.As<UnaryMinus>()) {
    d = u->expr->depth;
  }
  return d;
}

// A valid Go-style zone name: no "..", no leading '/', plain characters.
// Keeps the zone loader away from arbitrary files (/dev/stdin, ...).
bool PlausibleZoneName(std::string_view s) {
  if (s.empty() || s[0] == '/' || s.find("..") != std::string_view::npos) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '+' || c == '/';
    if (!ok) return false;
  }
  return true;
}

// The commonest regex mistakes, with Go's regexp/syntax wording. Full
// validation needs an RE2-compatible engine; the planner compiles patterns.
std::string RegexError(std::string_view p) {
  int open = 0;
  bool can_repeat = false;  // an atom precedes
  bool after_repeat = false;
  for (size_t i = 0; i < p.size(); i++) {
    char c = p[i];
    if (c == '\\') {
      i++;
      can_repeat = true;
      after_repeat = false;
      continue;
    }
    if (c == '[') {
      size_t j = i + 1;
      if (j < p.size() && p[j] == '^') j++;
      if (j < p.size() && p[j] == ']') j++;
      while (j < p.size() && p[j] != ']') j += (p[j] == '\\') ? 2 : 1;
      if (j >= p.size()) return absl::StrCat("missing closing ]: `", ToAbsl(p.substr(i)), "`");
      i = j;
      can_repeat = true;
      after_repeat = false;
      continue;
    }
    if (c == '*' || c == '+' || c == '?') {
      if (after_repeat && c != '?') {
        return absl::StrCat("invalid nested repetition operator: `", ToAbsl(p.substr(i - 1, 2)), "`");
      }
      if (!can_repeat && !after_repeat) {
        return absl::StrCat("missing argument to repetition operator: `", std::string(1, c), "`");
      }
      after_repeat = c != '?' || !after_repeat;
      can_repeat = false;
      continue;
    }
    after_repeat = false;
    if (c == '(') {
      open++;
      can_repeat = false;
      if (i + 1 < p.size() && p[i + 1] == '?') {
        // (?flags) or (?:...) or (?P<name>...): skip to ':' or ')'.
        size_t j = i + 2;
        while (j < p.size() && p[j] != ':' && p[j] != ')') j++;
        if (j < p.size() && p[j] == ')') {
          open--;
        }
        i = j < p.size() ? j : p.size() - 1;
      }
    } else if (c == ')') {
      if (open == 0) return absl::StrCat("unexpected ): `", ToAbsl(p), "`");
      open--;
      can_repeat = true;
    } else if (c == '|') {
      can_repeat = false;
    } else {
      can_repeat = true;
    }
  }
  if (open > 0) return absl::StrCat("missing closing ): `", ToAbsl(p), "`");
  return "";
}

class Parser {
 public:
  Parser(std::string_view text, const ParseOptions& options)
      // InfluxDB's reader treats a NUL byte as end of input.
      : text_(text.substr(0, text.find('\0'))), lex_(text_), options_(options) {}

  StatusOr<std::vector<Statement>> ParseQuery();
  StatusOr<ExprPtr> ParseStandaloneExpr();

 private:
  // --- Scanning -----------------------------------------------------------
  Token Scan();
  Token ScanIgnoreWs();
  // Scan()'s rare cases, out of its way.
  void ScannedEof(Token* t);
  void SubstituteParam(Token* t);
  void Unscan() {
    if (last_was_eof_) replay_eof_ = true;
    last_was_eof_ = false;
    pos_ = hist_[(--nhist_) % kHist];
  }
  void ConsumeWs() {
    if (pos_ < text_.size() &&
        (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) {
      Scan();
    }
  }
  char PeekRune() {
    if (pos_ < text_.size()) return text_[pos_];
    if (pos_ >= max_end_) eof_reads_++;  // InfluxDB's peek consumes EOF
    return '\0';
  }
  // Consumes the next token if it has type `t`.
  bool Accept(TokenType t) {
    if (ScanIgnoreWs().type == t) return true;
    Unscan();
    return false;
  }
  Status ExpectTokens(std::initializer_list<TokenType> types);

  // --- Errors -------------------------------------------------------------
  Status Found(const Token& t, std::initializer_list<std::string_view> expected) const;
  Status ErrAt(std::string_view msg, size_t offset) const;
  static Status ErrPlain(std::string_view msg) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(kPrefix), ToAbsl(msg)));
  }
  Status Unsupported(const Token& t, std::string_view what) const {
    return absl::UnimplementedError(
        absl::StrCat(ToAbsl(what), " statements are not supported at ", PositionOf(text_, t.pos_offset)));
  }

  // --- Statements ---------------------------------------------------------
  StatusOr<Statement> ParseStatement();
  StatusOr<SelectStatement> ParseSelect(TargetRequirement tr);
  StatusOr<Statement::Node> ParseShow();
  StatusOr<Statement::Node> ParseCreate();
  StatusOr<Statement::Node> ParseDrop();
  StatusOr<Statement::Node> ParseAlter();
  StatusOr<Statement::Node> ParseDelete();
  StatusOr<Statement::Node> ParseDropSeries();
  StatusOr<Statement::Node> ParseShowMeasurements();
  StatusOr<Statement::Node> ParseShowTagKeys();
  StatusOr<Statement::Node> ParseShowTagValues();
  StatusOr<Statement::Node> ParseShowFieldKeys();
  StatusOr<Statement::Node> ParseShowSeries();
  StatusOr<Statement::Node> ParseCardinality(ShowCardinalityStatement::Kind kind, bool exact);
  StatusOr<Statement::Node> ParseCreateDatabase();
  StatusOr<Statement::Node> ParseCreateRetentionPolicy();
  StatusOr<Statement::Node> ParseAlterRetentionPolicy();
  StatusOr<Statement::Node> ParseCreateContinuousQuery();

  // --- Clauses ------------------------------------------------------------
  StatusOr<std::vector<Field>> ParseFields();
  StatusOr<std::optional<Measurement>> ParseTarget();
  StatusOr<std::vector<Source>> ParseSources(bool subqueries);
  StatusOr<Source> ParseSource(bool subqueries);
  StatusOr<ExprPtr> ParseCondition();
  StatusOr<std::vector<Dimension>> ParseDimensions();
  StatusOr<Dimension> ParseDimension();
  StatusOr<Fill> ParseFill();
  StatusOr<std::vector<SortField>> ParseOrderBy();
  StatusOr<SortField> ParseSortField();
  StatusOr<int64_t> ParseOptionalTokenAndInt(TokenType t);
  StatusOr<std::string> ParseLocation();
  StatusOr<TagKeyFilter> ParseTagKeyExpr();
  Status ParseOnDatabase(std::string* db);
  Status ParseLimitOffset(Limits* l);

  // --- Primitives ---------------------------------------------------------
  StatusOr<std::string> ParseIdent();
  StatusOr<std::vector<std::string>> ParseIdentList();
  Status ParseSegmentedIdents(Segments* idents);
  // The rest of a dotted name whose first segment is in *idents already.
  Status ParseMoreSegments(Segments* idents);
  StatusOr<int64_t> ParseInt(int64_t min, int64_t max);
  StatusOr<int64_t> ParseDurationToken();
  // A /regex/ if one starts here (after optional whitespace), else nullopt.
  StatusOr<std::optional<RegexLiteral>> ParseRegex();

  // --- Expressions --------------------------------------------------------
  StatusOr<ExprPtr> ParseExprImpl();
  StatusOr<ExprPtr> ParseUnary();
  // `first`: the name's first identifier, scanned already.
  StatusOr<ExprPtr> ParseVarRef(const Token& first);
  StatusOr<ExprPtr> ParseCall(std::string name, size_t offset);

  static constexpr size_t kHist = 8;

  std::string_view text_;
  Lexer lex_;
  const ParseOptions& options_;
  size_t pos_ = 0;
  size_t hist_[kHist] = {};
  size_t nhist_ = 0;
  // The parser backs up (Unscan) and rescans about once per token. The
  // lexer's token for each hist_ entry is kept with it: after an Unscan the
  // next Scan reuses that entry, so it finds the token there unless a regex
  // was scanned in between (hist_lexed_ then differs from pos_).
  Token hist_tok_[kHist];
  size_t hist_lexed_[kHist] = {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX,
                               SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX};
  int nesting_ = 0;
  // InfluxDB's reader reports EOF at the end position the first time it
  // reads it and one character further afterwards; bare identifiers,
  // trailing whitespace and line comments read it while scanning. Error
  // positions at EOF depend on this, so it is replayed here.
  size_t max_end_ = 0;  // furthest offset scanned so far
  int eof_reads_ = 0;   // times InfluxDB's reader would have read EOF
  size_t eof_pos_ = 0;  // position given to the last EOF token
  bool last_was_eof_ = false;
  bool replay_eof_ = false;  // the next EOF token is an unscanned one
};

// Whether scanning `t` (ending at the end of the text) made InfluxDB's
// reader read EOF.
bool ConsumesEof(const Token& t, std::string_view text) {
  switch (t.type) {
    case TokenType::kWs:
    case TokenType::kBadString:
    case TokenType::kBadRegex:
    case TokenType::kBoundParam:
      return true;
    case TokenType::kComment:
      return text[t.end - 1] != '\n' && text[t.end - 1] != '\r' && text[t.end - 1] != '/';
    case TokenType::kIllegal:
      return t.lit.empty();  // unterminated block comment
    case TokenType::kIdent:
      return text[t.end - 1] != '"';
    default:
      return t.type >= TokenType::kAll || t.type == TokenType::kTrue || t.type == TokenType::kFalse ||
             t.type == TokenType::kAnd || t.type == TokenType::kOr || t.type == TokenType::kIn;
  }
}

// Counts recursion through expressions and subqueries.
class NestingGuard {
 public:
  explicit NestingGuard(int* n) : n_(n) { ++*n_; }
  ~NestingGuard() { --*n_; }
  bool TooDeep() const { return *n_ > kMaxNesting; }

 private:
  int* n_;
};

// Inline: nearly every token passes through here twice (after its
// whitespace, and again after an Unscan).
inline Token Parser::Scan() {
  const size_t slot = (nhist_++) % kHist;
  if (hist_lexed_[slot] != pos_) {
    hist_tok_[slot] = lex_.Scan(pos_);
    hist_lexed_[slot] = pos_;
  }
  Token t = hist_tok_[slot];
  hist_[slot] = pos_;
  pos_ = t.end;
  if (t.type == TokenType::kEof) {
    ScannedEof(&t);
  } else {
    last_was_eof_ = false;
    if (t.end == text_.size() && t.offset >= max_end_ && t.end > t.offset && ConsumesEof(t, text_))
      eof_reads_++;
  }
  if (t.end > max_end_) max_end_ = t.end;
  if (t.type == TokenType::kBoundParam && t.lit.size() > 1) SubstituteParam(&t);
  return t;
}

void Parser::ScannedEof(Token* t) {
  if (!replay_eof_) {
    eof_pos_ = eof_reads_ > 0 ? text_.size() + 1 : text_.size();
    eof_reads_++;
  }
  t->pos_offset = eof_pos_;
  replay_eof_ = false;
  last_was_eof_ = true;
}

void Parser::SubstituteParam(Token* tok) {
  Token& t = *tok;
  auto it = options_.params.find(std::string_view(t.lit).substr(1));
  if (it == options_.params.end()) return;
  const ParamValue& v = it->second;
  switch (v.kind) {
    // The options outlive the parse, so their texts can be viewed.
    case ParamValue::Kind::kString:
      t.type = TokenType::kString;
      t.lit = v.text;
      break;
    case ParamValue::Kind::kIdentifier:
      t.type = TokenType::kIdent;
      t.lit = v.text;
      break;
    case ParamValue::Kind::kInteger:
      t.type = TokenType::kInteger;
      t.lit = lex_.Keep(std::to_string(v.i));
      break;
    case ParamValue::Kind::kFloat: {
      t.type = TokenType::kNumber;
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof(buf), v.f);
      t.lit = lex_.Keep(std::string(buf, r.ptr));
      break;
    }
    case ParamValue::Kind::kBoolean:
      t.type = v.b ? TokenType::kTrue : TokenType::kFalse;
      t.lit = {};
      break;
    case ParamValue::Kind::kDuration:
      t.type = TokenType::kDuration;
      t.lit = v.text;
      break;
    case ParamValue::Kind::kRegex:
      t.type = TokenType::kRegex;
      t.lit = v.text;
      break;
  }
}

Token Parser::ScanIgnoreWs() {
  while (true) {
    Token t = Scan();
    if (t.type != TokenType::kWs && t.type != TokenType::kComment) return t;
  }
}

Status Parser::ExpectTokens(std::initializer_list<TokenType> types) {
  for (TokenType want : types) {
    Token t = ScanIgnoreWs();
    if (t.type != want) return Found(t, {TokenName(want)});
  }
  return absl::OkStatus();
}

Status Parser::Found(const Token& t, std::initializer_list<std::string_view> expected) const {
  std::string msg = absl::StrCat(ToAbsl(kPrefix), "found ", TokenString(t), ", expected ");
  bool first = true;
  for (std::string_view e : expected) {
    if (!first) msg += ", ";
    msg += e;
    first = false;
  }
  msg += " at ";
  msg += PositionOf(text_, t.pos_offset);
  return absl::InvalidArgumentError(msg);
}

Status Parser::ErrAt(std::string_view msg, size_t offset) const {
  return absl::InvalidArgumentError(
      absl::StrCat(ToAbsl(kPrefix), ToAbsl(msg), " at ", PositionOf(text_, offset)));
}

// ---------------------------------------------------------------------------
// Statements
// ---------------------------------------------------------------------------

StatusOr<std::vector<Statement>> Parser::ParseQuery() {
  std::vector<Statement> out;
  bool semi = true;
  while (true) {
    Token t = ScanIgnoreWs();
    if (t.type == TokenType::kEof) return out;
    if (t.type == TokenType::kSemicolon) {
      semi = true;
      continue;
    }
    if (!semi) return Found(t, {";"});
    Unscan();
    ASSIGN_OR_RETURN(Statement s, ParseStatement());
    out.push_back(std::move(s));
    semi = false;
  }
}

StatusOr<ExprPtr> Parser::ParseStandaloneExpr() {
  ASSIGN_OR_RETURN(ExprPtr e, ParseExprImpl());
  Token t = ScanIgnoreWs();
  if (t.type != TokenType::kEof) return Found(t, {"EOF"});
  return e;
}

StatusOr<Statement> Parser::ParseStatement() {
  Token t = ScanIgnoreWs();
  Statement st;
  st.offset = t.offset;
  switch (t.type) {
    case TokenType::kSelect: {
      ASSIGN_OR_RETURN(SelectStatement s, ParseSelect(TargetRequirement::kNotRequired));
      st.node = std::move(s);
      return st;
    }
    case TokenType::kDelete: {
      ASSIGN_OR_RETURN(st.node, ParseDelete());
      return st;
    }
    case TokenType::kShow: {
      ASSIGN_OR_RETURN(st.node, ParseShow());
      return st;
    }
    case TokenType::kCreate: {
      ASSIGN_OR_RETURN(st.node, ParseCreate());
      return st;
    }
    case TokenType::kDrop: {
      ASSIGN_OR_RETURN(st.node, ParseDrop());
      return st;
    }
    case TokenType::kAlter: {
      ASSIGN_OR_RETURN(st.node, ParseAlter());
      return st;
    }
    case TokenType::kExplain: {
      // EXPLAIN [ANALYZE] SELECT, as influxd parses it; ANALYZE (which runs
      // the statement and times its iterators) is not supported.
      Token n = ScanIgnoreWs();
      if (n.type == TokenType::kAnalyze) return Unsupported(n, "EXPLAIN ANALYZE");
      if (n.type != TokenType::kSelect) return Found(n, {"SELECT"});
      ExplainStatement ex;
      ASSIGN_OR_RETURN(ex.select, ParseSelect(TargetRequirement::kNotRequired));
      st.node = std::move(ex);
      return st;
    }
    case TokenType::kGrant:
    case TokenType::kRevoke:
    case TokenType::kSet:
    case TokenType::kKill:
      return Unsupported(t, TokenName(t.type));
    default:
      return Found(t, {"SELECT", "DELETE", "SHOW", "CREATE", "DROP", "EXPLAIN", "GRANT", "REVOKE", "ALTER",
                       "SET", "KILL"});
  }
}

StatusOr<Statement::Node> Parser::ParseShow() {
  Token t = ScanIgnoreWs();
  switch (t.type) {
    case TokenType::kDatabases:
      return ShowDatabasesStatement{};
    case TokenType::kMeasurements:
      return ParseShowMeasurements();
    case TokenType::kMeasurement: {
      Token n = ScanIgnoreWs();
      if (n.type == TokenType::kExact) {
        RETURN_IF_ERROR(ExpectTokens({TokenType::kCardinality}));
        return ParseCardinality(ShowCardinalityStatement::Kind::kMeasurement, true);
      }
      if (n.type == TokenType::kCardinality) {
        return ParseCardinality(ShowCardinalityStatement::Kind::kMeasurement, false);
      }
      return Found(n, {"EXACT", "CARDINALITY"});
    }
    case TokenType::kSeries:
      return ParseShowSeries();
    case TokenType::kTag: {
      Token n = ScanIgnoreWs();
      if (n.type == TokenType::kKeys) return ParseShowTagKeys();
      if (n.type == TokenType::kValues) return ParseShowTagValues();
      if (n.type == TokenType::kKey) {
        bool exact = Accept(TokenType::kExact);
        Token c = ScanIgnoreWs();
        if (c.type != TokenType::kCardinality) {
          if (exact) return Found(c, {"CARDINALITY"});
          return Found(c, {"EXACT", "CARDINALITY"});
        }
        return ParseCardinality(ShowCardinalityStatement::Kind::kTagKey, exact);
      }
      return Found(n, {"KEY", "KEYS", "VALUES"});
    }
    case TokenType::kField: {
      Token n = ScanIgnoreWs();
      if (n.type == TokenType::kKeys) return ParseShowFieldKeys();
      if (n.type == TokenType::kKey) {
        bool exact = Accept(TokenType::kExact);
        Token c = ScanIgnoreWs();
        if (c.type != TokenType::kCardinality) {
          if (exact) return Found(c, {"CARDINALITY"});
          return Found(c, {"EXACT", "CARDINALITY"});
        }
        return ParseCardinality(ShowCardinalityStatement::Kind::kFieldKey, exact);
      }
      return Found(n, {"KEY", "KEYS"});
    }
    case TokenType::kRetention: {
      RETURN_IF_ERROR(ExpectTokens({TokenType::kPolicies}));
      ShowRetentionPoliciesStatement s;
      RETURN_IF_ERROR(ParseOnDatabase(&s.database));
      return s;
    }
    case TokenType::kContinuous:
      RETURN_IF_ERROR(ExpectTokens({TokenType::kQueries}));
      return ShowContinuousQueriesStatement{};
    case TokenType::kDiagnostics:
    case TokenType::kGrants:
    case TokenType::kQueries:
    case TokenType::kShard:
    case TokenType::kShards:
    case TokenType::kStats:
    case TokenType::kSubscriptions:
    case TokenType::kUsers:
      return Unsupported(t, absl::StrCat("SHOW ", ToAbsl(TokenName(t.type))));
    default:
      return Found(
          t, {"CONTINUOUS", "DATABASES", "DIAGNOSTICS", "FIELD", "GRANTS", "MEASUREMENT", "MEASUREMENTS",
              "QUERIES", "RETENTION", "SERIES", "SHARD", "SHARDS", "STATS", "SUBSCRIPTIONS", "TAG", "USERS"});
  }
}

StatusOr<Statement::Node> Parser::ParseCreate() {
  Token t = ScanIgnoreWs();
  switch (t.type) {
    case TokenType::kDatabase:
      return ParseCreateDatabase();
    case TokenType::kRetention:
      RETURN_IF_ERROR(ExpectTokens({TokenType::kPolicy}));
      return ParseCreateRetentionPolicy();
    case TokenType::kContinuous:
      RETURN_IF_ERROR(ExpectTokens({TokenType::kQuery}));
      return ParseCreateContinuousQuery();
    case TokenType::kUser:
    case TokenType::kSubscription:
      return Unsupported(t, absl::StrCat("CREATE ", ToAbsl(TokenName(t.type))));
    default:
      return Found(t, {"CONTINUOUS", "DATABASE", "USER", "RETENTION", "SUBSCRIPTION"});
  }
}

StatusOr<Statement::Node> Parser::ParseDrop() {
  Token t = ScanIgnoreWs();
  switch (t.type) {
    case TokenType::kDatabase: {
      DropDatabaseStatement s;
      ASSIGN_OR_RETURN(s.name, ParseIdent());
      return s;
    }
    case TokenType::kMeasurement: {
      DropMeasurementStatement s;
      ASSIGN_OR_RETURN(s.name, ParseIdent());
      return s;
    }
    case TokenType::kSeries:
      return ParseDropSeries();
    case TokenType::kRetention: {
      RETURN_IF_ERROR(ExpectTokens({TokenType::kPolicy}));
      DropRetentionPolicyStatement s;
      ASSIGN_OR_RETURN(s.name, ParseIdent());
      RETURN_IF_ERROR(ExpectTokens({TokenType::kOn}));
      ASSIGN_OR_RETURN(s.database, ParseIdent());
      return s;
    }
    case TokenType::kContinuous: {
      RETURN_IF_ERROR(ExpectTokens({TokenType::kQuery}));
      DropContinuousQueryStatement s;
      ASSIGN_OR_RETURN(s.name, ParseIdent());
      RETURN_IF_ERROR(ExpectTokens({TokenType::kOn}));
      ASSIGN_OR_RETURN(s.database, ParseIdent());
      return s;
    }
    case TokenType::kShard:
    case TokenType::kSubscription:
    case TokenType::kUser:
      return Unsupported(t, absl::StrCat("DROP ", ToAbsl(TokenName(t.type))));
    default:
      return Found(t, {"CONTINUOUS", "DATABASE", "MEASUREMENT", "RETENTION", "SERIES", "SHARD",
                       "SUBSCRIPTION", "USER"});
  }
}

// influxd's parseCreateContinuousQueryStatement, errors included.
StatusOr<Statement::Node> Parser::ParseCreateContinuousQuery() {
  CreateContinuousQueryStatement s;
  ASSIGN_OR_RETURN(s.name, ParseIdent());
  RETURN_IF_ERROR(ExpectTokens({TokenType::kOn}));
  ASSIGN_OR_RETURN(s.database, ParseIdent());
  if (Accept(TokenType::kResample)) {
    if (Accept(TokenType::kEvery)) {
      ASSIGN_OR_RETURN(s.resample_every_ns, ParseDurationToken());
    }
    if (Accept(TokenType::kFor)) {
      ASSIGN_OR_RETURN(s.resample_for_ns, ParseDurationToken());
    }
    if (s.resample_every_ns == 0 && s.resample_for_ns == 0) return Found(ScanIgnoreWs(), {"EVERY", "FOR"});
  }
  RETURN_IF_ERROR(ExpectTokens({TokenType::kBegin, TokenType::kSelect}));
  ASSIGN_OR_RETURN(s.select, ParseSelect(TargetRequirement::kRequired));
  int64_t interval = 0;
  for (const auto& d : s.select.dimensions) {
    if (const auto* td = std::get_if<TimeDimension>(&d.node)) interval = td->interval_ns;
  }
  if (!s.select.is_raw && interval == 0) {
    // influxd rewinds over the whitespace and the last token of the SELECT
    // and reports that token.
    Unscan();
    Unscan();
    return Found(ScanIgnoreWs(), {"GROUP BY time(...)"});
  }
  RETURN_IF_ERROR(ExpectTokens({TokenType::kEnd}));
  if (s.resample_for_ns != 0) {
    if (s.resample_every_ns != 0 && s.resample_every_ns > interval) interval = s.resample_every_ns;
    if (interval > s.resample_for_ns) {
      return ErrPlain(absl::StrCat("FOR duration must be >= GROUP BY time duration: must be a minimum of ",
                                   FormatDuration(interval), ", got ", FormatDuration(s.resample_for_ns)));
    }
  }
  return s;
}

StatusOr<Statement::Node> Parser::ParseAlter() {
  RETURN_IF_ERROR(ExpectTokens({TokenType::kRetention, TokenType::kPolicy}));
  return ParseAlterRetentionPolicy();
}

StatusOr<SelectStatement> Parser::ParseSelect(TargetRequirement tr) {
  SelectStatement s;
  ASSIGN_OR_RETURN(s.fields, ParseFields());
  if (tr == TargetRequirement::kRequired) {  // a continuous query's SELECT
    Token t = ScanIgnoreWs();
    Unscan();
    if (t.type != TokenType::kInto) return Found(t, {"INTO"});
  }
  ASSIGN_OR_RETURN(s.into, ParseTarget());
  Token t = ScanIgnoreWs();
  if (t.type != TokenType::kFrom) return Found(t, {"FROM"});
  ASSIGN_OR_RETURN(s.sources, ParseSources(true));
  ASSIGN_OR_RETURN(s.condition, ParseCondition());
  // At the end of the text, with its EOF read and unread already, each
  // clause below would read EOF, find nothing and unread it, which changes
  // no state: the clauses keep their defaults without the dozen scans.
  if (pos_ != text_.size() || !replay_eof_) {
    ASSIGN_OR_RETURN(s.dimensions, ParseDimensions());
    ASSIGN_OR_RETURN(s.fill, ParseFill());
    ASSIGN_OR_RETURN(s.sort, ParseOrderBy());
    ASSIGN_OR_RETURN(s.limits.limit, ParseOptionalTokenAndInt(TokenType::kLimit));
    ASSIGN_OR_RETURN(s.limits.offset, ParseOptionalTokenAndInt(TokenType::kOffset));
    ASSIGN_OR_RETURN(s.limits.slimit, ParseOptionalTokenAndInt(TokenType::kSlimit));
    ASSIGN_OR_RETURN(s.limits.soffset, ParseOptionalTokenAndInt(TokenType::kSoffset));
    ASSIGN_OR_RETURN(s.timezone, ParseLocation());
  }
  s.is_raw = true;
  for (const Field& f : s.fields) {
    WalkExpr(*f.expr, [&](const Expr& e) {
      if (e.Is<Call>() || e.Is<NowCall>()) s.is_raw = false;
      return true;
    });
  }
  return s;
}

StatusOr<Statement::Node> Parser::ParseDelete() {
  DeleteStatement s;
  Token t = ScanIgnoreWs();
  if (t.type == TokenType::kFrom) {
    ASSIGN_OR_RETURN(s.sources, ParseSources(false));
    // influxd 1.6 rejects both qualifiers (the later check wins).
    const char* err = nullptr;
    for (const Source& src : s.sources) {
      if (const auto* m = std::get_if<Measurement>(&src.node)) {
        if (!m->database.empty()) err = "database not supported";
        if (!m->retention_policy.empty()) err = "retention policy not supported";
      }
    }
    if (err != nullptr) return ErrAt(err, 0);
  } else {
    Unscan();
  }
  ASSIGN_OR_RETURN(s.condition, ParseCondition());
  if (s.condition == nullptr && s.sources.empty()) return Found(t, {"FROM", "WHERE"});
  return s;
}

StatusOr<Statement::Node> Parser::ParseDropSeries() {
  DropSeriesStatement s;
  Token t = ScanIgnoreWs();
  if (t.type == TokenType::kFrom) {
    ASSIGN_OR_RETURN(s.sources, ParseSources(false));
    const char* err = nullptr;
    for (const Source& src : s.sources) {
      if (const auto* m = std::get_if<Measurement>(&src.node)) {
        if (!m->database.empty()) err = "database not supported";
        if (!m->retention_policy.empty()) err = "retention policy not supported";
      }
    }
    if (err != nullptr) return ErrAt(err, 0);
  } else {
    Unscan();
  }
  ASSIGN_OR_RETURN(s.condition, ParseCondition());
  if (s.condition == nullptr && s.sources.empty()) return Found(t, {"FROM", "WHERE"});
  return s;
}

Status Parser::ParseOnDatabase(std::string* db) {
  if (Accept(TokenType::kOn)) {
    ASSIGN_OR_RETURN(*db, ParseIdent());
  }
  return absl::OkStatus();
}

Status Parser::ParseLimitOffset(Limits* l) {
  ASSIGN_OR_RETURN(l->limit, ParseOptionalTokenAndInt(TokenType::kLimit));
  ASSIGN_OR_RETURN(l->offset, ParseOptionalTokenAndInt(TokenType::kOffset));
  return absl::OkStatus();
}

StatusOr<Statement::Node> Parser::ParseShowMeasurements() {
  ShowMeasurementsStatement s;
  RETURN_IF_ERROR(ParseOnDatabase(&s.database));
  if (Accept(TokenType::kWith)) {
    RETURN_IF_ERROR(ExpectTokens({TokenType::kMeasurement}));
    Token op = ScanIgnoreWs();
    if (op.type != TokenType::kEq && op.type != TokenType::kEqRegex) return Found(op, {"=", "=~"});
    ASSIGN_OR_RETURN(Source src, ParseSource(false));
    MeasurementFilter f;
    f.op = op.type == TokenType::kEq ? BinaryOp::kEq : BinaryOp::kEqRegex;
    f.source = std::move(std::get<Measurement>(src.node));
    s.with = std::move(f);
  }
  ASSIGN_OR_RETURN(s.condition, ParseCondition());
  ASSIGN_OR_RETURN(s.sort, ParseOrderBy());
  RETURN_IF_ERROR(ParseLimitOffset(&s.limits));
  return s;
}

StatusOr<Statement::Node> Parser::ParseShowTagKeys() {
  ShowTagKeysStatement s;
  RETURN_IF_ERROR(ParseOnDatabase(&s.database));
  if (Accept(TokenType::kFrom)) {
    ASSIGN_OR_RETURN(s.sources, ParseSources(false));
  }
  ASSIGN_OR_RETURN(s.condition, ParseCondition());
  ASSIGN_OR_RETURN(s.sort, ParseOrderBy());
  RETURN_IF_ERROR(ParseLimitOffset(&s.limits));
  ASSIGN_OR_RETURN(s.limits.slimit, ParseOptionalTokenAndInt(TokenType::kSlimit));
  ASSIGN_OR_RETURN(s.limits.soffset, ParseOptionalTokenAndInt(TokenType::kSoffset));
  return s;
}

StatusOr<Statement::Node> Parser::ParseShowTagValues() {
  Token t = ScanIgnoreWs();
  if (t.type == TokenType::kExact) {
    RETURN_IF_ERROR(ExpectTokens({TokenType::kCardinality}));
    return ParseCardinality(ShowCardinalityStatement::Kind::kTagValues, true);
  }
  if (t.type == TokenType::kCardinality)
    return ParseCardinality(ShowCardinalityStatement::Kind::kTagValues, false);
  Unscan();
  ShowTagValuesStatement s;
  RETURN_IF_ERROR(ParseOnDatabase(&s.database));
  if (Accept(TokenType::kFrom)) {
    ASSIGN_OR_RETURN(s.sources, ParseSources(false));
  }
  ASSIGN_OR_RETURN(s.key, ParseTagKeyExpr());
  ASSIGN_OR_RETURN(s.condition, ParseCondition());
  ASSIGN_OR_RETURN(s.sort, ParseOrderBy());
  RETURN_IF_ERROR(ParseLimitOffset(&s.limits));
  return s;
}

StatusOr<TagKeyFilter> Parser::ParseTagKeyExpr() {
  RETURN_IF_ERROR(ExpectTokens({TokenType::kWith, TokenType::kKey}));
  TagKeyFilter f;
  Token t = ScanIgnoreWs();
  if (t.type == TokenType::kIn) {
    Token p = ScanIgnoreWs();
    if (p.type != TokenType::kLParen) return Found(p, {"("});
    ASSIGN_OR_RETURN(f.keys, ParseIdentList());
    p = ScanIgnoreWs();
    if (p.type != TokenType::kRParen) return Found(p, {")"});
    f.op = TagKeyFilter::Op::kIn;
    return f;
  }
  if (t.type == TokenType::kEq || t.type == TokenType::kNeq) {
    ASSIGN_OR_RETURN(std::string k, ParseIdent());
    f.keys.push_back(std::move(k));
    f.op = t.type == TokenType::kEq ? TagKeyFilter::Op::kEq : TagKeyFilter::Op::kNeq;
    return f;
  }
  if (t.type == TokenType::kEqRegex || t.type == TokenType::kNeqRegex) {
    ASSIGN_OR_RETURN(std::optional<RegexLiteral> re, ParseRegex());
    if (!re.has_value()) return Found(ScanIgnoreWs(), {"regex"});
    f.regex = std::move(*re);
    f.op = t.type == TokenType::kEqRegex ? TagKeyFilter::Op::kEqRegex : TagKeyFilter::Op::kNeqRegex;
    return f;
  }
  return Found(t, {"IN", "=", "=~"});
}

StatusOr<Statement::Node> Parser::ParseShowFieldKeys() {
  ShowFieldKeysStatement s;
  RETURN_IF_ERROR(ParseOnDatabase(&s.database));
  if (Accept(TokenType::kFrom)) {
    ASSIGN_OR_RETURN(s.sources, ParseSources(false));
  }
  ASSIGN_OR_RETURN(s.sort, ParseOrderBy());
  RETURN_IF_ERROR(ParseLimitOffset(&s.limits));
  return s;
}

StatusOr<Statement::Node> Parser::ParseShowSeries() {
  bool exact = Accept(TokenType::kExact);
  if (Accept(TokenType::kCardinality))
    return ParseCardinality(ShowCardinalityStatement::Kind::kSeries, exact);
  ShowSeriesStatement s;
  RETURN_IF_ERROR(ParseOnDatabase(&s.database));
  if (Accept(TokenType::kFrom)) {
    ASSIGN_OR_RETURN(s.sources, ParseSources(false));
  }
  ASSIGN_OR_RETURN(s.condition, ParseCondition());
  ASSIGN_OR_RETURN(s.sort, ParseOrderBy());
  RETURN_IF_ERROR(ParseLimitOffset(&s.limits));
  return s;
}

StatusOr<Statement::Node> Parser::ParseCardinality(ShowCardinalityStatement::Kind kind, bool exact) {
  ShowCardinalityStatement s;
  s.kind = kind;
  s.exact = exact;
  RETURN_IF_ERROR(ParseOnDatabase(&s.database));
  if (Accept(TokenType::kFrom)) {
    ASSIGN_OR_RETURN(s.sources, ParseSources(false));
  }
  if (kind == ShowCardinalityStatement::Kind::kTagValues) {
    ASSIGN_OR_RETURN(s.key, ParseTagKeyExpr());
  }
  ASSIGN_OR_RETURN(s.condition, ParseCondition());
  ASSIGN_OR_RETURN(s.dimensions, ParseDimensions());
  RETURN_IF_ERROR(ParseLimitOffset(&s.limits));
  return s;
}

StatusOr<Statement::Node> Parser::ParseCreateDatabase() {
  CreateDatabaseStatement s;
  ASSIGN_OR_RETURN(s.name, ParseIdent());
  if (!Accept(TokenType::kWith)) return s;
  Token t = ScanIgnoreWs();
  if (t.type != TokenType::kDurationKw && t.type != TokenType::kName && t.type != TokenType::kReplication &&
      t.type != TokenType::kShard) {
    return Found(t, {"DURATION", "NAME", "REPLICATION", "SHARD"});
  }
  Unscan();
  s.with = true;
  if (Accept(TokenType::kDurationKw)) {
    ASSIGN_OR_RETURN(s.duration_ns, ParseDurationToken());
  }
  if (Accept(TokenType::kReplication)) {
    ASSIGN_OR_RETURN(s.replication, ParseInt(1, std::numeric_limits<int32_t>::max()));
  }
  if (Accept(TokenType::kShard)) {
    Token d = ScanIgnoreWs();
    if (d.type != TokenType::kDurationKw) return Found(d, {"DURATION"});
    ASSIGN_OR_RETURN(s.shard_duration_ns, ParseDurationToken());
  }
  if (Accept(TokenType::kName)) {
    ASSIGN_OR_RETURN(s.rp_name, ParseIdent());
  }
  return s;
}

StatusOr<Statement::Node> Parser::ParseCreateRetentionPolicy() {
  CreateRetentionPolicyStatement s;
  ASSIGN_OR_RETURN(s.name, ParseIdent());
  RETURN_IF_ERROR(ExpectTokens({TokenType::kOn}));
  ASSIGN_OR_RETURN(s.database, ParseIdent());
  RETURN_IF_ERROR(ExpectTokens({TokenType::kDurationKw}));
  ASSIGN_OR_RETURN(s.duration_ns, ParseDurationToken());
  RETURN_IF_ERROR(ExpectTokens({TokenType::kReplication}));
  ASSIGN_OR_RETURN(s.replication, ParseInt(1, std::numeric_limits<int32_t>::max()));
  if (Accept(TokenType::kShard)) {
    RETURN_IF_ERROR(ExpectTokens({TokenType::kDurationKw}));
    Token inf = ScanIgnoreWs();
    if (inf.type == TokenType::kInf) return ErrAt("invalid duration INF for shard duration", inf.pos_offset);
    Unscan();
    ASSIGN_OR_RETURN(s.shard_duration_ns, ParseDurationToken());
  }
  s.is_default = Accept(TokenType::kDefault);
  return s;
}

StatusOr<Statement::Node> Parser::ParseAlterRetentionPolicy() {
  AlterRetentionPolicyStatement s;
  Token t = ScanIgnoreWs();
  if (t.type == TokenType::kDefault) {
    s.name = "default";
  } else if (t.type == TokenType::kIdent) {
    s.name = t.lit;
  } else {
    return Found(t, {"identifier"});
  }
  RETURN_IF_ERROR(ExpectTokens({TokenType::kOn}));
  ASSIGN_OR_RETURN(s.database, ParseIdent());
  std::vector<TokenType> found;
  while (true) {
    Token o = ScanIgnoreWs();
    for (TokenType f : found) {
      if (f == o.type)
        return ErrAt(absl::StrCat("found duplicate ", ToAbsl(TokenName(o.type)), " option"), o.pos_offset);
    }
    switch (o.type) {
      case TokenType::kDurationKw: {
        ASSIGN_OR_RETURN(s.duration_ns, ParseDurationToken());
        break;
      }
      case TokenType::kReplication: {
        ASSIGN_OR_RETURN(s.replication, ParseInt(1, std::numeric_limits<int32_t>::max()));
        break;
      }
      case TokenType::kShard: {
        Token d = ScanIgnoreWs();
        if (d.type != TokenType::kDurationKw) return Found(d, {"DURATION"});
        Token inf = ScanIgnoreWs();
        if (inf.type == TokenType::kInf)
          return ErrAt("invalid duration INF for shard duration", inf.pos_offset);
        Unscan();
        ASSIGN_OR_RETURN(s.shard_duration_ns, ParseDurationToken());
        break;
      }
      case TokenType::kDefault:
        s.is_default = true;
        break;
      default:
        if (found.empty()) return Found(o, {"DURATION", "REPLICATION", "SHARD", "DEFAULT"});
        Unscan();
        return s;
    }
    found.push_back(o.type);
  }
}

// ---------------------------------------------------------------------------
// Clauses
// ---------------------------------------------------------------------------

StatusOr<std::vector<Field>> Parser::ParseFields() {
  std::vector<Field> fields;
  while (true) {
    Field f;
    ASSIGN_OR_RETURN(std::optional<RegexLiteral> re, ParseRegex());
    if (re.has_value()) {
      f.expr = MakeExpr(hist_[(nhist_ - 1) % kHist], std::move(*re));
    } else {
      Token first = ScanIgnoreWs();
      Unscan();
      ASSIGN_OR_RETURN(f.expr, ParseExprImpl());
      // InfluxDB reports the last boolean operator found in pre-order
      // (without descending below one it already reported).
      const BinaryExpr* bad = nullptr;
      WalkExpr(*f.expr, [&](const Expr& e) {
        const auto* b = e.As<BinaryExpr>();
        if (b != nullptr && IsComparisonOrLogical(b->op)) {
          bad = b;
          return false;
        }
        return true;
      });
      if (bad != nullptr) {
        return ErrPlain(absl::StrCat("invalid operator ", ToAbsl(BinaryOpString(bad->op)),
                                     " in SELECT clause at ", PositionOf(text_, first.pos_offset),
                                     "; operator is intended for WHERE clause"));
      }
    }
    if (Accept(TokenType::kAs)) {
      ASSIGN_OR_RETURN(f.alias, ParseIdent());
    }
    ConsumeWs();
    fields.push_back(std::move(f));
    if (Scan().type != TokenType::kComma) {
      Unscan();
      break;
    }
  }
  return fields;
}

StatusOr<std::optional<Measurement>> Parser::ParseTarget() {
  if (!Accept(TokenType::kInto)) return std::optional<Measurement>();
  Segments idents;
  RETURN_IF_ERROR(ParseSegmentedIdents(&idents));
  if (idents.size() < 3 && PeekRune() == ':') {
    RETURN_IF_ERROR(ExpectTokens({TokenType::kColon, TokenType::kMeasurement}));
    idents.emplace_back();
  }
  Measurement m;
  if (idents.size() == 1) {
    m.name = idents[0];
  } else if (idents.size() == 2) {
    m.retention_policy = idents[0];
    m.name = idents[1];
  } else {
    m.database = idents[0];
    m.retention_policy = idents[1];
    m.name = idents[2];
  }
  return std::optional<Measurement>(std::move(m));
}

StatusOr<std::vector<Source>> Parser::ParseSources(bool subqueries) {
  std::vector<Source> out;
  while (true) {
    ASSIGN_OR_RETURN(Source s, ParseSource(subqueries));
    out.push_back(std::move(s));
    if (!Accept(TokenType::kComma)) break;
  }
  return out;
}

StatusOr<Source> Parser::ParseSource(bool subqueries) {
  Source src;
  {
    Token t = ScanIgnoreWs();
    Unscan();
    src.offset = t.offset;
  }
  Measurement m;
  ASSIGN_OR_RETURN(std::optional<RegexLiteral> re, ParseRegex());
  if (re.has_value()) {
    m.regex = std::move(re);
    src.node = std::move(m);
    return src;
  }
  if (subqueries) {
    Token t = ScanIgnoreWs();
    if (t.type == TokenType::kLParen) {
      NestingGuard guard(&nesting_);
      if (guard.TooDeep()) return ErrAt("subqueries nested too deeply", t.pos_offset);
      RETURN_IF_ERROR(ExpectTokens({TokenType::kSelect}));
      ASSIGN_OR_RETURN(SelectStatement sel, ParseSelect(TargetRequirement::kSubquery));
      RETURN_IF_ERROR(ExpectTokens({TokenType::kRParen}));
      src.node = SubQuery{std::make_unique<SelectStatement>(std::move(sel))};
      return src;
    }
    Unscan();
  }
  Segments idents;
  RETURN_IF_ERROR(ParseSegmentedIdents(&idents));
  if (idents.size() == 3) {
    m.database = std::move(idents[0]);
    m.retention_policy = std::move(idents[1]);
    m.name = std::move(idents[2]);
    src.node = std::move(m);
    return src;
  }
  ASSIGN_OR_RETURN(re, ParseRegex());
  if (re.has_value()) m.regex = std::move(re);
  if (idents.size() == 1) {
    (m.regex ? m.retention_policy : m.name) = std::move(idents[0]);
  } else {
    if (m.regex) {
      m.database = std::move(idents[0]);
      m.retention_policy = std::move(idents[1]);
    } else {
      m.retention_policy = std::move(idents[0]);
      m.name = std::move(idents[1]);
    }
  }
  src.node = std::move(m);
  return src;
}

StatusOr<ExprPtr> Parser::ParseCondition() {
  if (!Accept(TokenType::kWhere)) return ExprPtr();
  return ParseExprImpl();
}

StatusOr<std::vector<Dimension>> Parser::ParseDimensions() {
  std::vector<Dimension> dims;
  if (!Accept(TokenType::kGroup)) return dims;
  Token t = ScanIgnoreWs();
  if (t.type != TokenType::kBy) return Found(t, {"BY"});
  while (true) {
    ASSIGN_OR_RETURN(Dimension d, ParseDimension());
    dims.push_back(std::move(d));
    if (Scan().type != TokenType::kComma) {
      Unscan();
      break;
    }
  }
  return dims;
}

StatusOr<Dimension> Parser::ParseDimension() {
  Dimension d;
  ASSIGN_OR_RETURN(std::optional<RegexLiteral> re, ParseRegex());
  if (re.has_value()) {
    d.offset = hist_[(nhist_ - 1) % kHist];
    d.node = RegexDimension{std::move(*re)};
    return d;
  }
  ASSIGN_OR_RETURN(ExprPtr e, ParseExprImpl());
  ConsumeWs();
  d.offset = e->offset;
  // Recognize the forms the planner handles; keep anything else as an
  // ExprDimension for Validate() to reject with InfluxDB's message.
  if (const auto* v = e->As<VarRef>()) {
    d.node = TagDimension{v->name};
    return d;
  }
  if (const auto* w = e->As<Wildcard>(); w && w->type == WildcardType::kAll) {
    d.node = WildcardDimension{};
    return d;
  }
  if (const auto* c = e->As<Call>(); c && c->name == "time" && (c->args.size() == 1 || c->args.size() == 2)) {
    const auto* interval = c->args[0]->As<DurationLiteral>();
    if (interval != nullptr) {
      TimeDimension td;
      td.interval_ns = interval->ns;
      bool ok = true;
      if (c->args.size() == 2) {
        td.has_offset = true;
        if (const auto* off = c->args[1]->As<DurationLiteral>()) {
          td.offset_ns = off->ns;
        } else if (c->args[1]->Is<NowCall>()) {
          td.offset_now = true;
        } else {
          ok = false;
        }
      }
      if (ok) {
        d.node = td;
        return d;
      }
    }
  }
  d.node = ExprDimension{std::move(e)};
  return d;
}

StatusOr<Fill> Parser::ParseFill() {
  Fill fill;
  Token t = ScanIgnoreWs();
  Unscan();
  if (t.type != TokenType::kIdent || Lower(t.lit) != "fill") return fill;
  ASSIGN_OR_RETURN(ExprPtr e, ParseExprImpl());
  const Call* c = e->As<Call>();
  if (c == nullptr) return ErrPlain("fill must be a function call");
  if (c->args.size() != 1)
    return ErrPlain("fill requires an argument, e.g.: 0, null, none, previous, linear");
  fill.specified = true;
  const Expr& arg = *c->args[0];
  if (const auto* v = arg.As<VarRef>(); v && v->type == DataType::kUnknown) {
    // InfluxDB compares the argument's printed form, so only lower case.
    if (v->name == "null") return fill;
    if (v->name == "none") {
      fill.mode = FillMode::kNone;
      return fill;
    }
    if (v->name == "previous") {
      fill.mode = FillMode::kPrevious;
      return fill;
    }
    if (v->name == "linear") {
      fill.mode = FillMode::kLinear;
      return fill;
    }
  }
  if (const auto* i = arg.As<IntegerLiteral>()) {
    fill.mode = FillMode::kNumber;
    fill.value = i->value;
    return fill;
  }
  if (const auto* n = arg.As<NumberLiteral>()) {
    fill.mode = FillMode::kNumber;
    fill.value = n->value;
    return fill;
  }
  return ErrPlain("expected number argument in fill()");
}

StatusOr<std::vector<SortField>> Parser::ParseOrderBy() {
  std::vector<SortField> fields;
  if (!Accept(TokenType::kOrder)) return fields;
  Token t = ScanIgnoreWs();
  if (t.type != TokenType::kBy) return Found(t, {"BY"});
  t = ScanIgnoreWs();
  if (t.type == TokenType::kAsc || t.type == TokenType::kDesc) {
    fields.push_back(SortField{"", t.type == TokenType::kAsc});
  } else if (t.type == TokenType::kIdent) {
    Unscan();
    ASSIGN_OR_RETURN(SortField f, ParseSortField());
    if (t.lit != "time") return ErrPlain("only ORDER BY time supported at this time");
    fields.push_back(std::move(f));
  } else {
    return Found(t, {"identifier", "ASC", "DESC"});
  }
  while (Accept(TokenType::kComma)) {
    ASSIGN_OR_RETURN(SortField f, ParseSortField());
    fields.push_back(std::move(f));
  }
  if (fields.size() > 1) return ErrPlain("only ORDER BY time supported at this time");
  return fields;
}

StatusOr<SortField> Parser::ParseSortField() {
  SortField f;
  ASSIGN_OR_RETURN(f.name, ParseIdent());
  Token t = ScanIgnoreWs();
  if (t.type != TokenType::kAsc && t.type != TokenType::kDesc) {
    Unscan();
    f.ascending = true;
  } else {
    f.ascending = t.type == TokenType::kAsc;
  }
  return f;
}

StatusOr<int64_t> Parser::ParseOptionalTokenAndInt(TokenType type) {
  if (!Accept(type)) return int64_t{0};
  Token t = ScanIgnoreWs();
  if (t.type != TokenType::kInteger) return Found(t, {"integer"});
  int64_t n = 0;
  if (!ParseInt64(t.lit, &n)) n = std::numeric_limits<int64_t>::max();  // Go's ParseInt saturates
  if (n < 0) return ErrAt(absl::StrCat(ToAbsl(TokenName(type)), " must be >= 0"), t.pos_offset);
  return n;
}

StatusOr<std::string> Parser::ParseLocation() {
  Token t = ScanIgnoreWs();
  Unscan();
  if (t.type != TokenType::kIdent || Lower(t.lit) != "tz") return std::string();
  ASSIGN_OR_RETURN(ExprPtr e, ParseExprImpl());
  const Call* c = e->As<Call>();
  if (c == nullptr) return ErrPlain("tz must be a function call");
  if (c->args.size() != 1) return ErrPlain("tz requires exactly one argument");
  const auto* name = c->args[0]->As<StringLiteral>();
  if (name == nullptr) return ErrPlain("expected string argument in tz()");
  std::string zone = name->value.empty() ? std::string("UTC") : name->value;
  absl::TimeZone tz;
  // "Local" is the server's zone, as Go's time.LoadLocation has it.
  if (zone != "Local" && (!PlausibleZoneName(zone) || !absl::LoadTimeZone(zone, &tz))) {
    return ErrPlain(absl::StrCat("unable to find time zone ", name->value));
  }
  return zone;
}

// ---------------------------------------------------------------------------
// Primitives
// ---------------------------------------------------------------------------

StatusOr<std::string> Parser::ParseIdent() {
  Token t = ScanIgnoreWs();
  if (t.type != TokenType::kIdent) return Found(t, {"identifier"});
  return std::string(t.lit);
}

StatusOr<std::vector<std::string>> Parser::ParseIdentList() {
  std::vector<std::string> out;
  ASSIGN_OR_RETURN(std::string first, ParseIdent());
  out.push_back(std::move(first));
  while (Accept(TokenType::kComma)) {
    ASSIGN_OR_RETURN(std::string next, ParseIdent());
    out.push_back(std::move(next));
  }
  return out;
}

Status Parser::ParseSegmentedIdents(Segments* idents) {
  Token t = ScanIgnoreWs();
  if (t.type != TokenType::kIdent) return Found(t, {"identifier"});
  idents->emplace_back(t.lit);
  return ParseMoreSegments(idents);
}

Status Parser::ParseMoreSegments(Segments* out) {
  Segments& idents = *out;
  while (true) {
    if (Scan().type != TokenType::kDot) {
      Unscan();
      break;
    }
    char ch = PeekRune();
    if (ch == '/' || ch == ':') break;  // a regex or ":MEASUREMENT" follows
    if (ch == '.') {
      idents.emplace_back();
      continue;
    }
    ASSIGN_OR_RETURN(std::string next, ParseIdent());
    idents.push_back(std::move(next));
    // Stop early: InfluxDB only reports the error after the loop, and a
    // hostile a.b.c.d... must not grow without bound.
    if (idents.size() > 3) break;
  }
  if (idents.size() > 3) {
    return ErrAt(absl::StrCat("too many segments in ",
                              QuoteIdentSegments(std::vector<std::string>(idents.begin(), idents.end()))),
                 0);
  }
  return absl::OkStatus();
}

StatusOr<int64_t> Parser::ParseInt(int64_t min, int64_t max) {
  Token t = ScanIgnoreWs();
  if (t.type != TokenType::kInteger) return Found(t, {"integer"});
  int64_t n = 0;
  if (!ParseInt64(t.lit, &n)) {
    return ErrAt(absl::StrCat("strconv.Atoi: parsing \"", ToAbsl(t.lit), "\": value out of range"),
                 t.pos_offset);
  }
  if (n < min || n > max) {
    return ErrAt(absl::StrCat("invalid value ", n, ": must be ", min, " <= n <= ", max), t.pos_offset);
  }
  return n;
}

StatusOr<int64_t> Parser::ParseDurationToken() {
  Token t = ScanIgnoreWs();
  if (t.type != TokenType::kDuration && t.type != TokenType::kInf) return Found(t, {"duration"});
  if (t.type == TokenType::kInf) return int64_t{0};
  int64_t ns = 0;
  std::string err;
  if (!ParseDurationLiteral(t.lit, &ns, &err)) return ErrAt(err, t.pos_offset);
  return ns;
}

StatusOr<std::optional<RegexLiteral>> Parser::ParseRegex() {
  ConsumeWs();
  char ch = PeekRune();
  if (ch == '$') {
    // A bound parameter may stand for a regex.
    Token t = Scan();
    if (t.type == TokenType::kRegex) return std::optional<RegexLiteral>(RegexLiteral{std::string(t.lit)});
    Unscan();
    return std::optional<RegexLiteral>();
  }
  if (ch != '/') return std::optional<RegexLiteral>();
  Token t = lex_.ScanRegex(pos_);
  hist_lexed_[nhist_ % kHist] = SIZE_MAX;  // not a Lexer::Scan token
  hist_[(nhist_++) % kHist] = pos_;
  pos_ = t.end;
  if (t.type == TokenType::kBadRegex) return ErrAt("bad regex: ", t.pos_offset);
  if (std::string err = RegexError(t.lit); !err.empty()) {
    return ErrAt(absl::StrCat("error parsing regexp: ", err), t.pos_offset);
  }
  return std::optional<RegexLiteral>(RegexLiteral{std::string(t.lit)});
}

// ---------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------

BinaryOp ToBinaryOp(TokenType t) {
  switch (t) {
    case TokenType::kAdd:
      return BinaryOp::kAdd;
    case TokenType::kSub:
      return BinaryOp::kSub;
    case TokenType::kMul:
      return BinaryOp::kMul;
    case TokenType::kDiv:
      return BinaryOp::kDiv;
    case TokenType::kMod:
      return BinaryOp::kMod;
    case TokenType::kBitAnd:
      return BinaryOp::kBitAnd;
    case TokenType::kBitOr:
      return BinaryOp::kBitOr;
    case TokenType::kBitXor:
      return BinaryOp::kBitXor;
    case TokenType::kAnd:
      return BinaryOp::kAnd;
    case TokenType::kOr:
      return BinaryOp::kOr;
    case TokenType::kEq:
      return BinaryOp::kEq;
    case TokenType::kNeq:
      return BinaryOp::kNeq;
    case TokenType::kEqRegex:
      return BinaryOp::kEqRegex;
    case TokenType::kNeqRegex:
      return BinaryOp::kNeqRegex;
    case TokenType::kLt:
      return BinaryOp::kLt;
    case TokenType::kLte:
      return BinaryOp::kLte;
    case TokenType::kGt:
      return BinaryOp::kGt;
    default:
      return BinaryOp::kGte;
  }
}

StatusOr<ExprPtr> Parser::ParseExprImpl() {
  NestingGuard guard(&nesting_);
  if (guard.TooDeep()) {
    Token t = ScanIgnoreWs();
    return ErrAt("expression nested too deeply", t.pos_offset);
  }
  ASSIGN_OR_RETURN(ExprPtr root, ParseUnary());
  while (true) {
    Token op = ScanIgnoreWs();
    // InfluxDB 1.x lists IN as an operator token but its expression parser
    // stops there ("found IN, expected ;").
    if (!IsOperator(op.type) || op.type == TokenType::kIn) {
      Unscan();
      return root;
    }
    BinaryOp bop = ToBinaryOp(op.type);
    ExprPtr rhs;
    if (bop == BinaryOp::kEqRegex || bop == BinaryOp::kNeqRegex) {
      ASSIGN_OR_RETURN(std::optional<RegexLiteral> re, ParseRegex());
      if (!re.has_value()) return Found(ScanIgnoreWs(), {"regex"});
      rhs = MakeExpr(hist_[(nhist_ - 1) % kHist], std::move(*re));
    } else {
      ASSIGN_OR_RETURN(rhs, ParseUnary());
    }
    // Descend the right spine to the first node that binds at least as
    // tightly as `bop` (InfluxDB's precedence insertion; the spine is at
    // most one node per precedence level).
    Expr* path[8];
    size_t npath = 0;
    ExprPtr* slot = &root;
    while (true) {
      BinaryExpr* b = (*slot)->As<BinaryExpr>();
      if (b == nullptr || Precedence(b->op) >= Precedence(bop) || npath == 7) {
        size_t off = (*slot)->offset;
        ExprPtr lhs = std::move(*slot);
        *slot = MakeExpr(off, BinaryExpr{bop, std::move(lhs), std::move(rhs)});
        break;
      }
      path[npath++] = slot->get();
      slot = &b->rhs;
    }
    while (npath > 0) {
      Expr* e = path[--npath];
      e->depth = ChildDepth(*e) + 1;
    }
    if (root->depth > kMaxExprDepth) return ErrAt("expression too complex", op.pos_offset);
  }
}

StatusOr<ExprPtr> Parser::ParseUnary() {
  Token t = ScanIgnoreWs();
  if (t.type == TokenType::kLParen) {
    ASSIGN_OR_RETURN(ExprPtr e, ParseExprImpl());
    Token r = ScanIgnoreWs();
    if (r.type != TokenType::kRParen) return Found(r, {")"});
    return MakeExpr(t.offset, ParenExpr{std::move(e)});
  }
  switch (t.type) {
    case TokenType::kIdent: {
      if (Scan().type == TokenType::kLParen) return ParseCall(std::string(t.lit), t.offset);
      Unscan();
      return ParseVarRef(t);
    }
    case TokenType::kDistinct: {
      Token n = Scan();
      if (n.type == TokenType::kLParen) return ParseCall("distinct", t.offset);
      if (n.type == TokenType::kWs) {
        Token id = ScanIgnoreWs();
        if (id.type != TokenType::kIdent) return Found(id, {"identifier"});
        return MakeExpr(t.offset, Distinct{std::string(id.lit)});
      }
      return Found(n, {"(", "identifier"});
    }
    case TokenType::kString:
      return MakeExpr(t.offset, StringLiteral{std::string(t.lit)});
    case TokenType::kNumber: {
      const std::string lit(t.lit);  // strtod needs a terminated string
      const char* begin = lit.c_str();
      char* end = nullptr;
      double v = std::strtod(begin, &end);
      if (end == begin || !std::isfinite(v)) return ErrAt("unable to parse number", t.pos_offset);
      return MakeExpr(t.offset, NumberLiteral{v});
    }
    case TokenType::kInteger: {
      int64_t v = 0;
      if (ParseInt64(t.lit, &v)) return MakeExpr(t.offset, IntegerLiteral{v});
      uint64_t u = 0;
      if (ParseUint64(t.lit, &u)) return MakeExpr(t.offset, UnsignedLiteral{u});
      return ErrAt("unable to parse integer", t.pos_offset);
    }
    case TokenType::kTrue:
    case TokenType::kFalse:
      return MakeExpr(t.offset, BooleanLiteral{t.type == TokenType::kTrue});
    case TokenType::kDuration: {
      int64_t ns = 0;
      std::string err;
      if (!ParseDurationLiteral(t.lit, &ns, &err)) return ErrPlain(err);
      return MakeExpr(t.offset, DurationLiteral{ns});
    }
    case TokenType::kMul: {
      Wildcard w;
      if (Scan().type == TokenType::kDoubleColon) {
        Token k = Scan();
        if (k.type == TokenType::kField) {
          w.type = WildcardType::kField;
        } else if (k.type == TokenType::kTag) {
          w.type = WildcardType::kTag;
        } else {
          return Found(k, {"field", "tag"});
        }
      } else {
        Unscan();
      }
      return MakeExpr(t.offset, w);
    }
    case TokenType::kRegex:  // only from a bound parameter
      return MakeExpr(t.offset, RegexLiteral{std::string(t.lit)});
    case TokenType::kBoundParam: {
      std::string_view key = std::string_view(t.lit).substr(1);
      if (key.empty()) return ErrPlain("empty bound parameter");
      return ErrPlain(absl::StrCat("missing parameter: ", ToAbsl(key)));
    }
    case TokenType::kAdd:
    case TokenType::kSub: {
      const bool neg = t.type == TokenType::kSub;
      Token n = ScanIgnoreWs();
      if (n.type != TokenType::kNumber && n.type != TokenType::kInteger && n.type != TokenType::kDuration &&
          n.type != TokenType::kLParen && n.type != TokenType::kIdent) {
        return Found(n, {"identifier", "number", "duration", "("});
      }
      Unscan();
      ASSIGN_OR_RETURN(ExprPtr e, ParseUnary());
      e->offset = t.offset;
      if (!neg) return e;
      if (auto* num = e->As<NumberLiteral>()) {
        num->value = -num->value;
        return e;
      }
      if (auto* i = e->As<IntegerLiteral>()) {
        i->value = static_cast<int64_t>(0 - static_cast<uint64_t>(i->value));
        return e;
      }
      if (auto* u = e->As<UnsignedLiteral>()) {
        // INT64_MIN overflows int64 as a positive literal but fits negated.
        if (u->value == uint64_t{1} << 63)
          return MakeExpr(t.offset, IntegerLiteral{std::numeric_limits<int64_t>::min()});
        return ErrPlain(absl::StrCat("constant -", u->value, " underflows int64"));
      }
      if (auto* d = e->As<DurationLiteral>()) {
        d->ns = static_cast<int64_t>(0 - static_cast<uint64_t>(d->ns));
        return e;
      }
      return MakeExpr(t.offset, UnaryMinus{std::move(e)});
    }
    default:
      return Found(t, {"identifier", "string", "number", "bool"});
  }
}

StatusOr<ExprPtr> Parser::ParseVarRef(const Token& first) {
  Segments segs;
  segs.emplace_back(first.lit);
  RETURN_IF_ERROR(ParseMoreSegments(&segs));
  VarRef v;
  v.name = segs.size() == 1 ? std::move(segs[0]) : absl::StrJoin(segs, ".");
  if (Scan().type == TokenType::kDoubleColon) {
    Token k = Scan();
    if (k.type == TokenType::kIdent) {
      std::string l = Lower(k.lit);
      if (l == "float") {
        v.type = DataType::kFloat;
      } else if (l == "integer") {
        v.type = DataType::kInteger;
      } else if (l == "unsigned") {
        v.type = DataType::kUnsigned;
      } else if (l == "string") {
        v.type = DataType::kString;
      } else if (l == "boolean") {
        v.type = DataType::kBoolean;
      } else {
        return Found(k, {"float", "integer", "unsigned", "string", "boolean", "field", "tag"});
      }
    } else if (k.type == TokenType::kField) {
      v.type = DataType::kAnyField;
    } else if (k.type == TokenType::kTag) {
      v.type = DataType::kTag;
    } else {
      return Found(k, {"float", "integer", "string", "boolean", "field", "tag"});
    }
  } else {
    Unscan();
  }
  return MakeExpr(first.offset, std::move(v));
}

StatusOr<ExprPtr> Parser::ParseCall(std::string name, size_t offset) {
  name = Lower(name);
  std::vector<ExprPtr> args;
  ASSIGN_OR_RETURN(std::optional<RegexLiteral> re, ParseRegex());
  if (re.has_value()) {
    args.push_back(MakeExpr(hist_[(nhist_ - 1) % kHist], std::move(*re)));
  } else {
    if (Scan().type == TokenType::kRParen) {
      if (name == "now") return MakeExpr(offset, NowCall{});
      return MakeExpr(offset, Call{std::move(name), {}});
    }
    Unscan();
    ASSIGN_OR_RETURN(ExprPtr arg, ParseExprImpl());
    args.push_back(std::move(arg));
  }
  while (Accept(TokenType::kComma)) {
    ASSIGN_OR_RETURN(re, ParseRegex());
    if (re.has_value()) {
      args.push_back(MakeExpr(hist_[(nhist_ - 1) % kHist], std::move(*re)));
      continue;
    }
    ASSIGN_OR_RETURN(ExprPtr arg, ParseExprImpl());
    args.push_back(std::move(arg));
  }
  Token t = Scan();
  if (t.type != TokenType::kRParen) return Found(t, {")"});
  ExprPtr call = MakeExpr(offset, Call{std::move(name), std::move(args)});
  if (call->depth > kMaxExprDepth) return ErrAt("expression too complex", t.pos_offset);
  return call;
}

}  // namespace

ExprPtr MakeExpr(size_t offset, Expr::Node node) {
  // Built with its node, rather than default-built and assigned: a parse
  // makes a dozen nodes, and the assignment was a second move of each.
  ExprPtr e(new Expr{offset, 1, std::move(node)});
  e->depth = ChildDepth(*e) + 1;
  return e;
}

std::string PositionOf(std::string_view text, size_t offset) {
  Lexer lex(text);
  int line = 0, ch = 0;
  lex.LineChar(offset, &line, &ch);
  return absl::StrCat("line ", line, ", char ", ch);
}

StatusOr<std::vector<Statement>> ParseQuery(std::string_view text, const ParseOptions& options) {
  Parser p(text, options);
  ASSIGN_OR_RETURN(std::vector<Statement> stmts, p.ParseQuery());
  if (options.validate) {
    for (const Statement& s : stmts) RETURN_IF_ERROR(Validate(s));
  }
  return stmts;
}

StatusOr<Statement> ParseStatement(std::string_view text, const ParseOptions& options) {
  ASSIGN_OR_RETURN(std::vector<Statement> stmts, ParseQuery(text, options));
  if (stmts.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(kPrefix), "expected exactly one statement, got ", stmts.size()));
  }
  return std::move(stmts[0]);
}

StatusOr<ExprPtr> ParseExpr(std::string_view text, const ParseOptions& options) {
  Parser p(text, options);
  return p.ParseStandaloneExpr();
}

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// The form nearly every time condition uses, "YYYY-MM-DDTHH:MM:SS[.f]Z" with
// 1 to 9 fraction digits, read without absl::ParseTime (about 3,000
// instructions a call, as much as the rest of a small query's planning).
// False for anything else, and for the values the general path rejects or
// handles specially (month 13, February 30, second 60) or whose
// nanoseconds are near the int64 limits: those take the general path, so
// the result is always the same as without this.
bool ParseCommonRfc3339(std::string_view s, int64_t* ns) {
  if (s.size() < 20 || s.size() > 30) return false;
  bool ok = true;
  auto num = [&](size_t at, size_t n) {
    int64_t v = 0;
    for (size_t i = at; i < at + n; i++) {
      const unsigned d = static_cast<unsigned char>(s[i]) - '0';
      ok &= d <= 9;
      v = v * 10 + d;
    }
    return v;
  };
  const int64_t year = num(0, 4), month = num(5, 2), day = num(8, 2);
  const int64_t hour = num(11, 2), minute = num(14, 2), second = num(17, 2);
  if (!ok || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return false;
  size_t i = 19;
  int64_t frac = 0;
  if (s[i] == '.') {
    const size_t start = ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') i++;
    const size_t n = i - start;
    if (n == 0 || n > 9) return false;
    frac = num(start, n);
    for (size_t k = n; k < 9; k++) frac *= 10;
  }
  if (i + 1 != s.size() || s[i] != 'Z') return false;
  static constexpr int kDaysIn[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (year < 1678 || year > 2261 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 ||
      second > 59) {
    return false;
  }
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day > kDaysIn[month - 1] + (month == 2 && leap ? 1 : 0)) return false;
  const int64_t secs = ((DaysFromCivil(year, month, day) * 24 + hour) * 60 + minute) * 60 + second;
  *ns = secs * 1000000000 + frac;
  return true;
}

}  // namespace

StatusOr<int64_t> ParseTimeString(std::string_view s, const absl::TimeZone* zone) {
  if (int64_t ns = 0; ParseCommonRfc3339(s, &ns)) return ns;
  absl::Time t;
  std::string err;
  const std::string str(s);
  // RFC3339 with any fraction; then InfluxDB's two forms without a zone.
  const absl::TimeZone local = zone != nullptr ? *zone : absl::UTCTimeZone();
  if (absl::ParseTime(absl::RFC3339_full, str, &t, &err) ||
      absl::ParseTime("%Y-%m-%d %H:%M:%E*S", str, local, &t, &err) ||
      absl::ParseTime("%Y-%m-%d", str, local, &t, &err)) {
    return absl::ToUnixNanos(t);
  }
  return absl::InvalidArgumentError(absl::StrCat("invalid time literal: ", str));
}

}  // namespace m2mdb::query
