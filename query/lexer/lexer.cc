// query/lexer/lexer.cc — InfluxQL tokens, following InfluxDB 1.x's scanner
// rule for rule (including its oddities, e.g. "1." is the number "1" with the
// dot consumed), since accepted syntax and error texts must match.
#include "query/lexer/lexer.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <utility>

namespace m2mdb::query {
namespace {

struct KeywordEntry {
  std::string_view name;
  TokenType type;
};

constexpr KeywordEntry kKeywords[] = {
    {"ALL", TokenType::kAll},
    {"ALTER", TokenType::kAlter},
    {"ANALYZE", TokenType::kAnalyze},
    {"ANY", TokenType::kAny},
    {"AS", TokenType::kAs},
    {"ASC", TokenType::kAsc},
    {"BEGIN", TokenType::kBegin},
    {"BY", TokenType::kBy},
    {"CARDINALITY", TokenType::kCardinality},
    {"CREATE", TokenType::kCreate},
    {"CONTINUOUS", TokenType::kContinuous},
    {"DATABASE", TokenType::kDatabase},
    {"DATABASES", TokenType::kDatabases},
    {"DEFAULT", TokenType::kDefault},
    {"DELETE", TokenType::kDelete},
    {"DESC", TokenType::kDesc},
    {"DESTINATIONS", TokenType::kDestinations},
    {"DIAGNOSTICS", TokenType::kDiagnostics},
    {"DISTINCT", TokenType::kDistinct},
    {"DROP", TokenType::kDrop},
    {"DURATION", TokenType::kDurationKw},
    {"END", TokenType::kEnd},
    {"EVERY", TokenType::kEvery},
    {"EXACT", TokenType::kExact},
    {"EXPLAIN", TokenType::kExplain},
    {"FIELD", TokenType::kField},
    {"FOR", TokenType::kFor},
    {"FROM", TokenType::kFrom},
    {"GRANT", TokenType::kGrant},
    {"GRANTS", TokenType::kGrants},
    {"GROUP", TokenType::kGroup},
    {"GROUPS", TokenType::kGroups},
    {"INF", TokenType::kInf},
    {"INSERT", TokenType::kInsert},
    {"INTO", TokenType::kInto},
    {"KEY", TokenType::kKey},
    {"KEYS", TokenType::kKeys},
    {"KILL", TokenType::kKill},
    {"LIMIT", TokenType::kLimit},
    {"MEASUREMENT", TokenType::kMeasurement},
    {"MEASUREMENTS", TokenType::kMeasurements},
    {"NAME", TokenType::kName},
    {"OFFSET", TokenType::kOffset},
    {"ON", TokenType::kOn},
    {"ORDER", TokenType::kOrder},
    {"PASSWORD", TokenType::kPassword},
    {"POLICY", TokenType::kPolicy},
    {"POLICIES", TokenType::kPolicies},
    {"PRIVILEGES", TokenType::kPrivileges},
    {"QUERIES", TokenType::kQueries},
    {"QUERY", TokenType::kQuery},
    {"READ", TokenType::kRead},
    {"REPLICATION", TokenType::kReplication},
    {"RESAMPLE", TokenType::kResample},
    {"RETENTION", TokenType::kRetention},
    {"REVOKE", TokenType::kRevoke},
    {"SELECT", TokenType::kSelect},
    {"SERIES", TokenType::kSeries},
    {"SET", TokenType::kSet},
    {"SHOW", TokenType::kShow},
    {"SHARD", TokenType::kShard},
    {"SHARDS", TokenType::kShards},
    {"SLIMIT", TokenType::kSlimit},
    {"SOFFSET", TokenType::kSoffset},
    {"STATS", TokenType::kStats},
    {"SUBSCRIPTION", TokenType::kSubscription},
    {"SUBSCRIPTIONS", TokenType::kSubscriptions},
    {"TAG", TokenType::kTag},
    {"TO", TokenType::kTo},
    {"USER", TokenType::kUser},
    {"USERS", TokenType::kUsers},
    {"VALUES", TokenType::kValues},
    {"WHERE", TokenType::kWhere},
    {"WITH", TokenType::kWith},
    {"WRITE", TokenType::kWrite},
    // Operators spelled as words, and the boolean literals.
    {"AND", TokenType::kAnd},
    {"OR", TokenType::kOr},
    {"IN", TokenType::kIn},
    {"TRUE", TokenType::kTrue},
    {"FALSE", TokenType::kFalse},
};

constexpr bool IsLetter(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }

// Per-byte classes for the scanning loops, which run over every byte of a
// query: one table load per byte instead of a chain of comparisons.
enum : uint8_t {
  kIdentChar = 1,   // [A-Za-z0-9_]
  kEndsSingle = 2,  // ends the plain run of a '...' literal: ' \ \n \r
  kEndsDouble = 4,  // ... of a "..." identifier: " \ \n \r
};
constexpr std::array<uint8_t, 256> kByteClass = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; c++) {
    const auto u = static_cast<unsigned char>(c);
    if (IsLetter(u) || IsDigit(u) || u == '_') t[c] |= kIdentChar;
    if (u == '\\' || u == '\n' || u == '\r') t[c] |= kEndsSingle | kEndsDouble;
  }
  t['\''] |= kEndsSingle;
  t['"'] |= kEndsDouble;
  return t;
}();

bool IsIdentChar(unsigned char c) { return kByteClass[c] & kIdentChar; }
bool IsWs(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Width of the UTF-8 rune at `i`; invalid bytes count as one rune each, as
// Go's decoder does.
size_t RuneWidth(std::string_view s, size_t i) {
  unsigned char c = s[i];
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
  if (n == 1 || i + n > s.size()) return 1;
  for (size_t k = 1; k < n; k++) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 1;
  }
  return n;
}

// 'µ' (U+00B5) in UTF-8.
bool IsMicro(std::string_view s, size_t i) {
  return i + 1 < s.size() && static_cast<unsigned char>(s[i]) == 0xC2 &&
         static_cast<unsigned char>(s[i + 1]) == 0xB5;
}

Token Make(TokenType type, size_t offset, size_t end, std::string_view lit = {}) {
  Token t;
  t.type = type;
  t.offset = offset;
  t.end = end;
  t.pos_offset = offset;
  t.lit = lit;
  return t;
}

}  // namespace

std::string_view TokenName(TokenType t) {
  switch (t) {
    case TokenType::kIllegal:
      return "ILLEGAL";
    case TokenType::kEof:
      return "EOF";
    case TokenType::kWs:
      return "WS";
    case TokenType::kComment:
    case TokenType::kBadComment:
      return "COMMENT";
    case TokenType::kIdent:
      return "IDENT";
    case TokenType::kBoundParam:
      return "BOUNDPARAM";
    case TokenType::kNumber:
      return "NUMBER";
    case TokenType::kInteger:
      return "INTEGER";
    case TokenType::kDuration:
      return "DURATIONVAL";
    case TokenType::kString:
      return "STRING";
    case TokenType::kBadString:
      return "BADSTRING";
    case TokenType::kBadEscape:
      return "BADESCAPE";
    case TokenType::kTrue:
      return "TRUE";
    case TokenType::kFalse:
      return "FALSE";
    case TokenType::kRegex:
      return "REGEX";
    case TokenType::kBadRegex:
      return "BADREGEX";
    case TokenType::kAdd:
      return "+";
    case TokenType::kSub:
      return "-";
    case TokenType::kMul:
      return "*";
    case TokenType::kDiv:
      return "/";
    case TokenType::kMod:
      return "%";
    case TokenType::kBitAnd:
      return "&";
    case TokenType::kBitOr:
      return "|";
    case TokenType::kBitXor:
      return "^";
    case TokenType::kAnd:
      return "AND";
    case TokenType::kOr:
      return "OR";
    case TokenType::kIn:
      return "IN";
    case TokenType::kEq:
      return "=";
    case TokenType::kNeq:
      return "!=";
    case TokenType::kEqRegex:
      return "=~";
    case TokenType::kNeqRegex:
      return "!~";
    case TokenType::kLt:
      return "<";
    case TokenType::kLte:
      return "<=";
    case TokenType::kGt:
      return ">";
    case TokenType::kGte:
      return ">=";
    case TokenType::kLParen:
      return "(";
    case TokenType::kRParen:
      return ")";
    case TokenType::kComma:
      return ",";
    case TokenType::kColon:
      return ":";
    case TokenType::kDoubleColon:
      return "::";
    case TokenType::kSemicolon:
      return ";";
    case TokenType::kDot:
      return ".";
    default:
      break;
  }
  for (const auto& k : kKeywords) {
    if (k.type == t) return k.name;
  }
  return "";
}

TokenType LookupKeyword(std::string_view word) {
  // Every identifier of every query comes through here, so the keywords are
  // bucketed by (length, first letter): a word is compared with the zero to
  // three keywords of its bucket, and most identifiers (longer than 13
  // bytes, or not starting with a letter) with none.
  constexpr size_t kMaxLen = 13;
  struct Buckets {
    std::array<KeywordEntry, std::size(kKeywords)> sorted;
    // [begin, end) in `sorted` for each (length, letter).
    uint8_t begin[kMaxLen + 1][26] = {};
    uint8_t end[kMaxLen + 1][26] = {};
  };
  static const Buckets b = [] {
    Buckets r;
    std::copy(std::begin(kKeywords), std::end(kKeywords), r.sorted.begin());
    std::sort(r.sorted.begin(), r.sorted.end(), [](const KeywordEntry& x, const KeywordEntry& y) {
      if (x.name.size() != y.name.size()) return x.name.size() < y.name.size();
      return x.name < y.name;
    });
    for (size_t i = r.sorted.size(); i-- > 0;) {
      const std::string_view n = r.sorted[i].name;
      r.begin[n.size()][n[0] - 'A'] = static_cast<uint8_t>(i);
      if (r.end[n.size()][n[0] - 'A'] == 0) r.end[n.size()][n[0] - 'A'] = static_cast<uint8_t>(i + 1);
    }
    return r;
  }();
  if (word.empty() || word.size() > kMaxLen) return TokenType::kIdent;
  const unsigned char first = static_cast<unsigned char>(word[0]) & ~0x20;  // upper case for letters
  if (first < 'A' || first > 'Z') return TokenType::kIdent;
  for (size_t k = b.begin[word.size()][first - 'A']; k < b.end[word.size()][first - 'A']; k++) {
    const std::string_view name = b.sorted[k].name;
    size_t i = 1;
    // Keywords are upper-case letters, so clearing bit 5 upper-cases the
    // word's letters and leaves no other byte equal to a keyword's.
    while (i < name.size() && IsLetter(word[i]) && (word[i] & ~0x20) == name[i]) i++;
    if (i == name.size()) return b.sorted[k].type;
  }
  return TokenType::kIdent;
}

bool IsKeyword(std::string_view word) { return LookupKeyword(word) != TokenType::kIdent; }

bool IsOperator(TokenType t) { return t >= TokenType::kAdd && t <= TokenType::kGte; }

std::string TokenString(const Token& t) {
  if (!t.lit.empty()) return std::string(t.lit);
  return std::string(TokenName(t.type));
}

void Lexer::LineChar(size_t offset, int* line, int* ch) const {
  int l = 0, c = 0;
  size_t i = 0;
  size_t end = offset < text_.size() ? offset : text_.size();
  while (i < end) {
    unsigned char b = text_[i];
    if (b == '\r') {
      i += (i + 1 < text_.size() && text_[i + 1] == '\n') ? 2 : 1;
      l++;
      c = 0;
    } else if (b == '\n') {
      i++;
      l++;
      c = 0;
    } else {
      i += RuneWidth(text_, i);
      c++;
    }
  }
  // Offsets past the end stand for InfluxDB's repeated EOF reads.
  if (offset > text_.size()) c += static_cast<int>(offset - text_.size());
  *line = l + 1;
  *ch = c + 1;
}

size_t Lexer::RuneBefore(size_t offset) const {
  if (offset == 0) return 0;
  if (offset > text_.size()) offset = text_.size();
  if (text_[offset - 1] == '\n' && offset >= 2 && text_[offset - 2] == '\r') return offset - 2;
  // The nearest lead byte whose rune ends exactly at `offset`.
  for (size_t back = 1; back <= 4 && back <= offset; back++) {
    size_t start = offset - back;
    if ((static_cast<unsigned char>(text_[start]) & 0xC0) != 0x80) {
      return RuneWidth(text_, start) == back ? start : offset - 1;
    }
  }
  return offset - 1;
}

Token Lexer::Scan(size_t offset) const {
  const std::string_view s = text_;
  if (offset >= s.size()) return Make(TokenType::kEof, s.size(), s.size());
  const unsigned char c = s[offset];
  if (IsWs(c)) {
    size_t i = offset;
    while (i < s.size() && IsWs(s[i])) i++;
    return Make(TokenType::kWs, offset, i);
  }
  if (IsLetter(c) || c == '_' || c == '"') return ScanIdent(offset, true);
  if (IsDigit(c)) return ScanNumber(offset);
  const unsigned char c1 = offset + 1 < s.size() ? s[offset + 1] : 0;
  switch (c) {
    case '\'':
      return ScanQuoted(offset, TokenType::kString);
    case '.':
      if (IsDigit(c1)) return ScanNumber(offset);
      return Make(TokenType::kDot, offset, offset + 1);
    case '$': {
      // A bound parameter: "$" then a (possibly quoted) identifier.
      Token t = ScanIdent(offset + 1, false);
      // "$" and the literal, without a copy when the literal is the text
      // right after the '$' (a bare name).
      const std::string_view lit = t.lit.data() == s.data() + offset + 1 ? s.substr(offset, 1 + t.lit.size())
                                                                         : Keep("$" + std::string(t.lit));
      if (t.type != TokenType::kIdent) {
        t.lit = lit;
        t.offset = offset;
        t.pos_offset = offset;
        return t;
      }
      return Make(TokenType::kBoundParam, offset, t.end, lit);
    }
    case '+':
      return Make(TokenType::kAdd, offset, offset + 1);
    case '-':
      if (c1 == '-') {
        size_t i = offset + 2;
        while (i < s.size() && s[i] != '\n' && s[i] != '\r') i++;
        if (i < s.size()) i += (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ? 2 : 1;
        return Make(TokenType::kComment, offset, i);
      }
      return Make(TokenType::kSub, offset, offset + 1);
    case '*':
      return Make(TokenType::kMul, offset, offset + 1);
    case '/':
      if (c1 == '*') {
        size_t close = s.find("*/", offset + 2);
        if (close == std::string_view::npos) return Make(TokenType::kIllegal, offset, s.size());
        return Make(TokenType::kComment, offset, close + 2);
      }
      return Make(TokenType::kDiv, offset, offset + 1);
    case '%':
      return Make(TokenType::kMod, offset, offset + 1);
    case '&':
      return Make(TokenType::kBitAnd, offset, offset + 1);
    case '|':
      return Make(TokenType::kBitOr, offset, offset + 1);
    case '^':
      return Make(TokenType::kBitXor, offset, offset + 1);
    case '=':
      if (c1 == '~') return Make(TokenType::kEqRegex, offset, offset + 2);
      return Make(TokenType::kEq, offset, offset + 1);
    case '!':
      if (c1 == '=') return Make(TokenType::kNeq, offset, offset + 2);
      if (c1 == '~') return Make(TokenType::kNeqRegex, offset, offset + 2);
      return Make(TokenType::kIllegal, offset, offset + 1, "!");
    case '>':
      if (c1 == '=') return Make(TokenType::kGte, offset, offset + 2);
      return Make(TokenType::kGt, offset, offset + 1);
    case '<':
      if (c1 == '=') return Make(TokenType::kLte, offset, offset + 2);
      if (c1 == '>') return Make(TokenType::kNeq, offset, offset + 2);
      return Make(TokenType::kLt, offset, offset + 1);
    case '(':
      return Make(TokenType::kLParen, offset, offset + 1);
    case ')':
      return Make(TokenType::kRParen, offset, offset + 1);
    case ',':
      return Make(TokenType::kComma, offset, offset + 1);
    case ';':
      return Make(TokenType::kSemicolon, offset, offset + 1);
    case ':':
      if (c1 == ':') return Make(TokenType::kDoubleColon, offset, offset + 2);
      return Make(TokenType::kColon, offset, offset + 1);
    default:
      break;
  }
  size_t w = RuneWidth(s, offset);
  // Go reports an invalid byte as U+FFFD.
  const std::string_view lit = (w == 1 && c >= 0x80) ? std::string_view("\xEF\xBF\xBD") : s.substr(offset, w);
  return Make(TokenType::kIllegal, offset, offset + w, lit);
}

Token Lexer::ScanIdent(size_t offset, bool lookup) const {
  const std::string_view s = text_;
  size_t i = offset;
  while (i < s.size() && IsIdentChar(s[i])) i++;
  if (i < s.size() && s[i] == '"') {
    // InfluxDB returns the quoted part alone, even after bare characters.
    Token q = ScanQuoted(i, TokenType::kIdent);
    if (q.type == TokenType::kIdent) {
      q.offset = offset;
      q.pos_offset = offset;
    }
    return q;
  }
  const std::string_view lit = s.substr(offset, i - offset);
  if (lookup) {
    TokenType kw = LookupKeyword(lit);
    if (kw != TokenType::kIdent) return Make(kw, offset, i);
  }
  return Make(TokenType::kIdent, offset, i, lit);
}

Token Lexer::ScanQuoted(size_t offset, TokenType ok_type) const {
  const std::string_view s = text_;
  const char quote = s[offset];
  const size_t pos = RuneBefore(offset);
  // Without a backslash the literal is the text between the quotes; only
  // an escape needs a copy.
  size_t i = offset + 1;
  const uint8_t ends = quote == '\'' ? kEndsSingle : kEndsDouble;
  while (i < s.size() && !(kByteClass[static_cast<unsigned char>(s[i])] & ends)) i++;
  if (i >= s.size() || s[i] != '\\') {
    const bool ok = i < s.size() && s[i] == quote;
    Token t = Make(ok ? ok_type : TokenType::kBadString, offset, ok ? i + 1 : i,
                   s.substr(offset + 1, i - offset - 1));
    t.pos_offset = pos;
    return t;
  }
  std::string lit(s.substr(offset + 1, i - offset - 1));
  while (true) {
    if (i >= s.size() || s[i] == '\n' || s[i] == '\r') {
      Token t = Make(TokenType::kBadString, offset, i, Keep(std::move(lit)));
      t.pos_offset = pos;
      return t;
    }
    char c = s[i];
    if (c == quote) {
      Token t = Make(ok_type, offset, i + 1, Keep(std::move(lit)));
      t.pos_offset = pos;
      return t;
    }
    if (c == '\\') {
      char e = i + 1 < s.size() ? s[i + 1] : '\0';
      if (e == 'n') {
        lit.push_back('\n');
      } else if (e == '\\' || e == '"' || e == '\'') {
        lit.push_back(e);
      } else {
        // The backslash and the rune after it, as written.
        size_t w = i + 1 < s.size() ? RuneWidth(s, i + 1) : 0;
        Token t = Make(TokenType::kBadEscape, offset, i + 1 + w, s.substr(i, 1 + w));
        t.pos_offset = i + 1;
        return t;
      }
      i += 2;
      continue;
    }
    lit.push_back(c);
    i++;
  }
}

Token Lexer::ScanRegex(size_t offset) const {
  const std::string_view s = text_;
  const size_t pos = RuneBefore(offset);
  size_t i = offset + 1;
  // As in ScanQuoted: only an escaped '/' makes the pattern differ from the
  // text.
  while (i < s.size() && s[i] != '/' && s[i] != '\n' && s[i] != '\r' &&
         !(s[i] == '\\' && i + 1 < s.size() && s[i + 1] == '/')) {
    i++;
  }
  if (i < s.size() && s[i] == '/') {
    Token t = Make(TokenType::kRegex, offset, i + 1, s.substr(offset + 1, i - offset - 1));
    t.pos_offset = pos;
    return t;
  }
  std::string lit(s.substr(offset + 1, i - offset - 1));
  while (true) {
    if (i >= s.size() || s[i] == '\n' || s[i] == '\r') {
      Token t = Make(TokenType::kBadRegex, offset, i);
      t.pos_offset = pos;
      return t;
    }
    char c = s[i];
    if (c == '/') {
      Token t = Make(TokenType::kRegex, offset, i + 1, Keep(std::move(lit)));
      t.pos_offset = pos;
      return t;
    }
    if (c == '\\' && i + 1 < s.size() && s[i + 1] == '/') {
      // Only "\/" is an escape; any other backslash passes through.
      lit.push_back('/');
      i += 2;
      continue;
    }
    lit.push_back(c);
    i++;
  }
}

// Every literal here is a prefix of the token's text.
Token Lexer::ScanNumber(size_t offset) const {
  const std::string_view s = text_;
  size_t i = offset;
  while (i < s.size() && IsDigit(s[i])) i++;
  if (i < s.size() && s[i] == '.') {
    i++;  // InfluxDB consumes the dot even when no digit follows.
    if (i < s.size() && IsDigit(s[i])) {
      while (i < s.size() && IsDigit(s[i])) i++;
      return Make(TokenType::kNumber, offset, i, s.substr(offset, i - offset));
    }
    return Make(TokenType::kNumber, offset, i, s.substr(offset, i - 1 - offset));
  }
  if (i < s.size() && (IsLetter(s[i]) || IsMicro(s, i))) {
    // A duration: unit letters, then any letters and digits ("1h30m").
    while (i < s.size()) {
      if (IsLetter(s[i]) || IsDigit(s[i])) {
        i++;
      } else if (IsMicro(s, i)) {
        i += 2;
      } else {
        break;
      }
    }
    return Make(TokenType::kDuration, offset, i, s.substr(offset, i - offset));
  }
  return Make(TokenType::kInteger, offset, i, s.substr(offset, i - offset));
}

bool ParseDurationLiteral(std::string_view s, int64_t* out, std::string* err) {
  constexpr int64_t kUs = 1000, kMs = 1000 * kUs, kS = 1000 * kMs, kM = 60 * kS, kH = 60 * kM, kD = 24 * kH,
                    kW = 7 * kD;
  if (s.size() < 2) {
    *err = "invalid duration";
    return false;
  }
  size_t i = 0;
  bool negative = false;
  if (s[0] == '-') {
    negative = true;
    i++;
  }
  int64_t total = 0;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && IsDigit(s[i])) i++;
    if (i >= s.size() || i == start) {
      *err = "invalid duration";
      return false;
    }
    std::string_view digits = s.substr(start, i - start);
    int64_t n = 0;
    for (char d : digits) {
      if (__builtin_mul_overflow(n, 10, &n) || __builtin_add_overflow(n, d - '0', &n)) {
        *err = "invalid duration";
        return false;
      }
    }
    int64_t unit;
    size_t unit_len = 1;
    std::string_view unit_name;
    if (s[i] == 'n') {
      if (i + 1 >= s.size() || s[i + 1] != 's') {
        *err = "invalid duration";
        return false;
      }
      unit = 1;
      unit_len = 2;
    } else if (s[i] == 'u') {
      unit = kUs;
    } else if (IsMicro(s, i)) {
      unit = kUs;
      unit_len = 2;
    } else if (s[i] == 'm') {
      if (i + 1 < s.size() && s[i + 1] == 's') {
        unit = kMs;
        unit_len = 2;
      } else {
        unit = kM;
      }
    } else if (s[i] == 's') {
      unit = kS;
    } else if (s[i] == 'h') {
      unit = kH;
    } else if (s[i] == 'd') {
      unit = kD;
    } else if (s[i] == 'w') {
      unit = kW;
    } else {
      *err = "invalid duration";
      return false;
    }
    unit_name = s.substr(i, unit_len);
    i += unit_len;
    int64_t part;
    // InfluxDB wraps around and then reports a negative total; we reject
    // every overflow (the same message) so no wrapped value escapes.
    if (__builtin_mul_overflow(n, unit, &part) || __builtin_add_overflow(total, part, &total)) {
      *err = "overflowed duration " + std::string(digits) + std::string(unit_name) +
             ": choose a smaller duration or INF";
      return false;
    }
  }
  *out = negative ? -total : total;
  return true;
}

}  // namespace m2mdb::query
