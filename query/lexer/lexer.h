// query/lexer/lexer.h — the InfluxQL scanner.
//
// The lexer is a pure function of (text, offset): Scan(offset) returns the
// token starting there, including whitespace and comment tokens. The parser
// keeps the offset and backs up by restoring an earlier one, which replaces
// InfluxDB's unread buffer. Regexes are context dependent ("/" is also
// division), so the parser asks for ScanRegex() where a regex may appear.
//
// Token positions follow InfluxDB 1.x, including its quirks, because error
// messages must match: a string or regex token reports the position of the
// character *before* its opening quote/slash (InfluxDB's reader does an
// unread before taking the position). Positions are counted in runes, "\r\n"
// and lone "\r" are one newline.
#ifndef M2MDB_QUERY_LEXER_LEXER_H_
#define M2MDB_QUERY_LEXER_LEXER_H_

#include <cstddef>
#include <cstdint>
#include <forward_list>
#include <string>
#include <string_view>

namespace m2mdb::query {

enum class TokenType : uint8_t {
  kIllegal,
  kEof,
  kWs,
  kComment,
  kBadComment,  // unterminated /* comment

  // Literals.
  kIdent,       // main, "quoted ident"
  kBoundParam,  // $param
  kNumber,      // 12345.67
  kInteger,     // 12345
  kDuration,    // 13h (DURATIONVAL)
  kString,      // 'abc'
  kBadString,   // 'abc  (unterminated or with a newline)
  kBadEscape,   // \q inside a string
  kTrue,
  kFalse,
  kRegex,
  kBadRegex,

  // Operators.
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
  kIn,
  kEq,
  kNeq,
  kEqRegex,
  kNeqRegex,
  kLt,
  kLte,
  kGt,
  kGte,

  kLParen,
  kRParen,
  kComma,
  kColon,
  kDoubleColon,
  kSemicolon,
  kDot,

  // Keywords (InfluxDB 1.x's list; all reserved).
  kAll,
  kAlter,
  kAnalyze,
  kAny,
  kAs,
  kAsc,
  kBegin,
  kBy,
  kCardinality,
  kCreate,
  kContinuous,
  kDatabase,
  kDatabases,
  kDefault,
  kDelete,
  kDesc,
  kDestinations,
  kDiagnostics,
  kDistinct,
  kDrop,
  kDurationKw,  // DURATION
  kEnd,
  kEvery,
  kExact,
  kExplain,
  kField,
  kFor,
  kFrom,
  kGrant,
  kGrants,
  kGroup,
  kGroups,
  kInf,
  kInsert,
  kInto,
  kKey,
  kKeys,
  kKill,
  kLimit,
  kMeasurement,
  kMeasurements,
  kName,
  kOffset,
  kOn,
  kOrder,
  kPassword,
  kPolicy,
  kPolicies,
  kPrivileges,
  kQueries,
  kQuery,
  kRead,
  kReplication,
  kResample,
  kRetention,
  kRevoke,
  kSelect,
  kSeries,
  kSet,
  kShow,
  kShard,
  kShards,
  kSlimit,
  kSoffset,
  kStats,
  kSubscription,
  kSubscriptions,
  kTag,
  kTo,
  kUser,
  kUsers,
  kValues,
  kWhere,
  kWith,
  kWrite,
};

// Trivially copyable: the parser copies and re-reads tokens freely, and a
// token that owned a std::string made every scan of a long literal allocate.
struct Token {
  TokenType type = TokenType::kIllegal;
  size_t offset = 0;      // first byte of the token
  size_t end = 0;         // one past its last byte
  size_t pos_offset = 0;  // where InfluxDB reports it (see file comment)
  // Identifier name, unescaped string, number text, ...: a view of the text
  // or, when unescaping changed it, of storage the Lexer owns. Valid while
  // both the text and the Lexer that scanned it live.
  std::string_view lit;
};

// "SELECT", "=~", "EOF", "IDENT", ... (InfluxDB's token names).
std::string_view TokenName(TokenType t);
// The keyword token for `word` (case-insensitive, including AND/OR/IN/TRUE/
// FALSE), or kIdent.
TokenType LookupKeyword(std::string_view word);
bool IsKeyword(std::string_view word);
bool IsOperator(TokenType t);

// InfluxDB's "found X": the literal if there is one, else the token name.
std::string TokenString(const Token& t);

// Not thread-safe: scanning an escaped literal stores its unescaped text in
// the Lexer (see Token::lit).
class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}
  Lexer(const Lexer&) = delete;
  Lexer& operator=(const Lexer&) = delete;

  // The token at `offset` (whitespace and comments included).
  Token Scan(size_t offset) const;
  // A /regex/ starting at `offset` (which must hold '/'): kRegex with the
  // pattern ("\/" unescaped), or kBadRegex if it is not terminated on the
  // same line.
  Token ScanRegex(size_t offset) const;

  // 1-based line and char (in runes) of a byte offset, as InfluxDB prints.
  void LineChar(size_t offset, int* line, int* ch) const;
  // Byte offset of the rune before `offset` ("\r\n" counts as one), or 0
  // if there is none: where InfluxDB reports strings and regexes.
  size_t RuneBefore(size_t offset) const;

  std::string_view text() const { return text_; }

  // Keeps `s` for the Lexer's lifetime and returns a view of it, for a
  // literal that is not a substring of the text (unescaped, substituted).
  std::string_view Keep(std::string s) const { return owned_.emplace_front(std::move(s)); }

 private:
  Token ScanIdent(size_t offset, bool lookup) const;
  Token ScanQuoted(size_t offset, TokenType ok_type) const;
  Token ScanNumber(size_t offset) const;

  std::string_view text_;
  // Literals that are not substrings of text_. A list, so that views stay
  // valid as it grows and so that it allocates nothing until it is used.
  mutable std::forward_list<std::string> owned_;
};

// Parses an InfluxQL duration ("10s", "1h30m", "-5m", "100ms", "10u",
// "10µ", "5ns", "1d", "1w") to nanoseconds. Returns false and sets `*err`
// to InfluxDB's message ("invalid duration" or "overflowed duration ...").
bool ParseDurationLiteral(std::string_view s, int64_t* ns, std::string* err);

}  // namespace m2mdb::query

#endif  // M2MDB_QUERY_LEXER_LEXER_H_
