// InfluxDB 1.x line protocol parser.
//
// Body layout:    line ('\n' line)*       ("\r\n" accepted)
// Line layout:    measurement(,tagkey=tagvalue)* SP+ fieldkey=value(,fieldkey=value)* [SP+ timestamp] SP*
//
// The rules (what is a delimiter, what is unescaped where, which numbers are
// accepted) were checked against influxd 1.6; see docs/line-protocol.md and
// the "influxd 1.6 says" cases in lineproto_test.cc.
//
// Two escape conventions coexist, exactly as in InfluxDB:
//  * Inside measurement, tag and field-key tokens a delimiter is escaped when
//    the byte just before it is a backslash ("a\\,b" keeps the comma escaped).
//  * Splitting a body into lines and scanning a quoted string value use
//    "a backslash skips the next byte" ("\"a\\\\\"" ends at the last quote).
//
// Hot path: one memchr per line for the newline, then one pass over the line
// with a byte-class table; tokens without a backslash are views into the body,
// and only tokens with one are unescaped into scratch_. A line that contains
// neither '"' nor '\\' cannot continue past its newline, so only such lines
// pay for InfluxDB's quote-aware line scan.
#include "engine/lineproto/lineproto.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <system_error>

namespace m2mdb::lineproto {
namespace {

// Byte classes for the token scanners.
enum : uint8_t {
  kComma = 1,
  kSpace = 2,
  kEquals = 4,
  kSpecial = 8,  // '\\' or '"': escapes and quotes need the slow paths
  kHigh = 16,    // a byte >= 0x80: the token must be checked for UTF-8
};

struct ClassTable {
  uint8_t c[256] = {};
  constexpr ClassTable() {
    c[static_cast<uint8_t>(',')] = kComma;
    c[static_cast<uint8_t>(' ')] = kSpace;
    c[static_cast<uint8_t>('=')] = kEquals;
    c[static_cast<uint8_t>('\\')] = kSpecial;
    c[static_cast<uint8_t>('"')] = kSpecial;
    for (int b = 0x80; b < 0x100; ++b) c[b] = kHigh;
  }
};
constexpr ClassTable kClass;

inline uint8_t ClassOf(char c) { return kClass.c[static_cast<uint8_t>(c)]; }

// InfluxDB's skipWhitespace: spaces, tabs and NUL bytes.
inline bool IsSkippable(char c) { return c == ' ' || c == '\t' || c == '\0'; }

inline bool IsDigit(char c) { return static_cast<unsigned>(c - '0') < 10; }

// Which escape pairs a token kind unescapes (influxd 1.6 verified):
// measurement: \, \space \= \"  — tag key/value: \, \space \=  —
// field key: \, \space \= \"  — a backslash before anything else stays.
enum EscapeSet : uint8_t {
  kEscComma = 1,
  kEscSpace = 2,
  kEscEquals = 4,
  kEscQuote = 8,
  kEscBackslash = 16,
};
constexpr uint8_t kMeasurementEscapes = kEscComma | kEscSpace | kEscEquals | kEscQuote;
constexpr uint8_t kTagEscapes = kEscComma | kEscSpace | kEscEquals;
constexpr uint8_t kFieldKeyEscapes = kEscComma | kEscSpace | kEscEquals | kEscQuote;
constexpr uint8_t kStringEscapes = kEscQuote | kEscBackslash;
// Series keys (our own format) invert exactly what the Append* helpers escape.
constexpr uint8_t kSeriesMeasurementEscapes = kEscComma | kEscSpace;
constexpr uint8_t kSeriesKeyEscapes = kEscComma | kEscSpace | kEscEquals;

inline bool InEscapeSet(char c, uint8_t set) {
  switch (c) {
    case ',':
      return set & kEscComma;
    case ' ':
      return set & kEscSpace;
    case '=':
      return set & kEscEquals;
    case '"':
      return set & kEscQuote;
    case '\\':
      return set & kEscBackslash;
    default:
      return false;
  }
}

// Appends `in` to `out` with the escape pairs of `set` replaced by the
// escaped byte, left to right (InfluxDB's escape.Unescape).
void UnescapeTo(std::string* out, std::string_view in, uint8_t set) {
  const char* p = in.data();
  const char* end = p + in.size();
  while (p < end) {
    const char* bs = static_cast<const char*>(std::memchr(p, '\\', end - p));
    if (bs == nullptr) {
      out->append(p, end - p);
      return;
    }
    out->append(p, bs - p);
    if (bs + 1 < end && InEscapeSet(bs[1], set)) {
      out->push_back(bs[1]);
      p = bs + 2;
    } else {
      out->push_back('\\');
      p = bs + 1;
    }
  }
}

// Scans a measurement, tag or field-key token from `p`: returns the first
// byte whose class is in `stop` and is not escaped, or `end`. A byte is
// escaped when the byte before it is a backslash. Sets *esc when the token
// contains a backslash, *quote when it contains a '"', *high when it contains
// a byte >= 0x80 (so ASCII tokens, on the fast path, need no UTF-8 check).
template <uint8_t kStop>
inline const char* ScanToken(const char* p, const char* end, bool* esc, bool* quote, bool* high) {
  while (p < end) {
    uint8_t cls = ClassOf(*p);
    if (cls == 0) {
      ++p;
      continue;
    }
    if (cls & kStop) return p;
    if (cls & kHigh) {
      *high = true;
      ++p;
      continue;
    }
    // kSpecial.
    if (*p == '\\') {
      *esc = true;
      // Every byte after a run of backslashes is escaped, and so is the byte
      // after that run.
      ++p;
      while (p < end && *p == '\\') ++p;
      if (p < end) {
        if (ClassOf(*p) & kHigh) *high = true;
        ++p;
      }
    } else {
      *quote = true;
      ++p;  // a quote inside a key is an ordinary byte
    }
  }
  return p;
}

// influxd scans the field section with "a backslash skips the next byte" but
// splits keys from values with "a delimiter after a backslash is escaped".
// A delimiter after an even run of backslashes (`a\\=1`, `a\\,b=1`) is
// escaped for one and not for the other, and influxd rejects such a line
// (influxd 1.6 says: invalid field format / invalid value); so do we.
bool HasAmbiguousEscape(std::string_view key) {
  size_t i = 0;
  while (i < key.size()) {
    if (key[i] != '\\') {
      ++i;
      continue;
    }
    size_t run = 0;
    while (i < key.size() && key[i] == '\\') {
      ++run;
      ++i;
    }
    if (run % 2 == 0 && i < key.size() && (key[i] == ',' || key[i] == '=' || key[i] == ' ')) return true;
  }
  return false;
}

// InfluxDB's scanLine: the end of the logical line starting at `p` (the
// position of its '\n', or `end`). A backslash skips the next byte (only when
// two more bytes follow in the body, as InfluxDB does), and after the first
// space a '"' opens or closes a string when more '=' than ',' were seen
// outside strings (i.e. it starts a field value).
const char* ScanLineEnd(const char* p, const char* end) {
  bool quoted = false;
  bool fields = false;
  int64_t equals = 0;
  int64_t commas = 0;
  while (p < end) {
    char c = *p;
    if (c == '\\' && p + 2 < end) {
      p += 2;
      continue;
    }
    if (c == ' ') fields = true;
    if (fields) {
      if (!quoted && c == '=') {
        ++p;
        ++equals;
        continue;
      }
      if (!quoted && c == ',') {
        ++p;
        ++commas;
        continue;
      }
      if (c == '"' && equals > commas) {
        ++p;
        quoted = !quoted;
        continue;
      }
    }
    if (c == '\n' && !quoted) return p;
    ++p;
  }
  return end;
}

constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                             1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

// Fast path for plain decimals ("-12.5", "42", ".5"): with at most 15
// significant digits the mantissa and the power of ten are exact doubles,
// so one IEEE division is correctly rounded (Clinger's fast path).
// Returns false when the token needs the general parser.
inline bool ParseSimpleDecimal(const char* p, const char* end, double* out) {
  bool neg = false;
  if (p < end && *p == '-') {
    neg = true;
    ++p;
  }
  uint64_t mant = 0;
  int digits = 0;
  const char* q = p;
  while (q < end && IsDigit(*q)) {
    mant = mant * 10 + static_cast<uint64_t>(*q - '0');
    ++q;
  }
  digits = static_cast<int>(q - p);
  int frac = 0;
  if (q < end && *q == '.') {
    ++q;
    const char* f = q;
    while (q < end && IsDigit(*q)) {
      mant = mant * 10 + static_cast<uint64_t>(*q - '0');
      ++q;
    }
    frac = static_cast<int>(q - f);
    digits += frac;
  }
  if (q != end || digits == 0 || digits > 15) return false;
  double v = static_cast<double>(mant);
  if (frac != 0) v /= kPow10[frac];
  *out = neg ? -v : v;
  return true;
}

// The common numeric values in one pass: "[-]digits[.digits]" (a float,
// at most 15 digits) or "[-]digits" + "i" (at most 18 digits), followed by
// ',' ' ' or the end of the line. Advances *pp past the value and returns
// true, or returns false (without advancing) for everything else.
inline bool ParseFastNumber(const char** pp, const char* e, Field* f) {
  const char* q = *pp;
  bool neg = false;
  if (q < e && *q == '-') {
    neg = true;
    ++q;
  }
  const char* ds = q;
  uint64_t mant = 0;
  while (q < e && IsDigit(*q)) {
    mant = mant * 10 + static_cast<uint64_t>(*q - '0');
    ++q;
  }
  int digits = static_cast<int>(q - ds);
  if (q < e && *q == 'i') {
    ++q;
    if (digits == 0 || digits > 18 || (q < e && *q != ',' && *q != ' ')) return false;
    f->type = FieldType::kInteger;
    f->i = neg ? -static_cast<int64_t>(mant) : static_cast<int64_t>(mant);
    *pp = q;
    return true;
  }
  int frac = 0;
  if (q < e && *q == '.') {
    ++q;
    const char* fs = q;
    while (q < e && IsDigit(*q)) {
      mant = mant * 10 + static_cast<uint64_t>(*q - '0');
      ++q;
    }
    frac = static_cast<int>(q - fs);
    digits += frac;
  }
  if (digits == 0 || digits > 15 || (q < e && *q != ',' && *q != ' ')) return false;
  double v = static_cast<double>(mant);
  if (frac != 0) v /= kPow10[frac];
  f->type = FieldType::kFloat;
  f->f = neg ? -v : v;
  *pp = q;
  return true;
}

// After from_chars reported ERANGE: true when the decimal magnitude is large
// (overflow to ±inf), false when it is tiny (underflow, InfluxDB stores 0).
bool DecimalOverflows(std::string_view tok) {
  size_t i = 0;
  if (i < tok.size() && tok[i] == '-') ++i;
  int64_t mag = 0;
  bool nonzero_seen = false;
  bool after_dot = false;
  for (; i < tok.size() && tok[i] != 'e' && tok[i] != 'E'; ++i) {
    char c = tok[i];
    if (c == '.') {
      after_dot = true;
      continue;
    }
    if (!nonzero_seen) {
      if (c != '0') {
        nonzero_seen = true;
        if (!after_dot) mag = 1;
      } else if (after_dot) {
        --mag;
      }
    } else if (!after_dot) {
      ++mag;
    }
  }
  int64_t exp = 0;
  if (i < tok.size()) {
    ++i;
    bool eneg = false;
    if (i < tok.size() && (tok[i] == '+' || tok[i] == '-')) eneg = tok[i++] == '-';
    for (; i < tok.size(); ++i) {
      if (exp < 1000000) exp = exp * 10 + (tok[i] - '0');
    }
    if (eneg) exp = -exp;
  }
  return mag + exp > 0;
}

// a < b for non-empty keys; the first byte usually decides, without a
// call to memcmp.
inline bool KeyLess(std::string_view a, std::string_view b) {
  if (a[0] != b[0]) return static_cast<uint8_t>(a[0]) < static_cast<uint8_t>(b[0]);
  return a < b;
}

const char kInvalidNumber[] = "invalid number";
const char kInvalidFloat[] = "invalid float";
const char kInvalidBoolean[] = "invalid boolean";

}  // namespace

namespace {

// The length of the well-formed UTF-8 sequence starting at p (< end) with a
// byte >= 0x80, or 0 if it is not one. Well-formed as in Unicode table 3-7
// (what Go's utf8.ValidString accepts): no overlong forms, no surrogates,
// nothing above U+10FFFF.
size_t Utf8SequenceLength(const uint8_t* p, const uint8_t* end) {
  const uint8_t c = *p;
  size_t n;
  uint8_t lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 1;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 2;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 3;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (static_cast<size_t>(end - p) <= n) return 0;
  if (p[1] < lo || p[1] > hi) return 0;
  for (size_t k = 2; k <= n; ++k) {
    if ((p[k] & 0xC0) != 0x80) return 0;
  }
  return n + 1;
}

// `s` with every byte that does not start a well-formed sequence replaced
// by U+FFFD (as Go's JSON encoder does): error texts quote the offending
// line, and they end up in JSON answers.
std::string ToValidUtf8(std::string_view s) {
  if (IsValidUtf8(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const uint8_t* const end = p + s.size();
  while (p < end) {
    if (*p < 0x80) {
      out.push_back(static_cast<char>(*p++));
      continue;
    }
    const size_t n = Utf8SequenceLength(p, end);
    if (n == 0) {
      out.append("\xEF\xBF\xBD");
      ++p;
    } else {
      out.append(reinterpret_cast<const char*>(p), n);
      p += n;
    }
  }
  return out;
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const uint8_t* const end = p + s.size();
  while (p < end) {
    // ASCII runs eight bytes at a time.
    while (end - p >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      if (w & 0x8080808080808080ull) break;
      p += 8;
    }
    if (p == end) break;
    if (*p < 0x80) {
      ++p;
      continue;
    }
    const size_t n = Utf8SequenceLength(p, end);
    if (n == 0) return false;
    p += n;
  }
  return true;
}

StatusOr<Precision> ParsePrecision(std::string_view s) {
  if (s.empty() || s == "n" || s == "ns") return Precision::kNanosecond;
  if (s == "u" || s == "us" || s == "\xC2\xB5") return Precision::kMicrosecond;
  if (s == "ms") return Precision::kMillisecond;
  if (s == "s") return Precision::kSecond;
  if (s == "m") return Precision::kMinute;
  if (s == "h") return Precision::kHour;
  std::string msg = "invalid precision \"";
  msg.append(s);
  msg += "\": want one of n, ns, u, us, ms, s, m, h";
  return absl::InvalidArgumentError(msg);
}

int64_t PrecisionMultiplier(Precision p) {
  switch (p) {
    case Precision::kNanosecond:
      return 1;
    case Precision::kMicrosecond:
      return 1000;
    case Precision::kMillisecond:
      return 1000 * 1000;
    case Precision::kSecond:
      return 1000 * 1000 * 1000;
    case Precision::kMinute:
      return 60LL * 1000 * 1000 * 1000;
    case Precision::kHour:
      return 3600LL * 1000 * 1000 * 1000;
  }
  return 1;
}

Parser::Parser() {
  point_.tags.reserve(16);
  point_.fields.reserve(16);
}

std::string_view Parser::Unescape(std::string_view raw, uint8_t set, size_t line_len) {
  // Unescaping only shrinks, so the line's length bounds everything this line
  // will put in scratch_: reserving it once keeps earlier views valid.
  if (scratch_.empty() && scratch_.capacity() < line_len) scratch_.reserve(line_len);
  size_t start = scratch_.size();
  UnescapeTo(&scratch_, raw, set);
  return std::string_view(scratch_.data() + start, scratch_.size() - start);
}

__attribute__((noinline)) Field* Parser::FindEarlierField(bool* indexed) {
  auto& fields = point_.fields;
  const size_t last = fields.size() - 1;
  if (!*indexed) {
    *indexed = true;
    field_index_.clear();
    field_index_.reserve(2 * last);
    for (size_t i = 0; i < last; ++i) field_index_.emplace(fields[i].key, i);
  }
  auto [it, inserted] = field_index_.emplace(fields[last].key, last);
  return inserted ? nullptr : &fields[it->second];
}

// Out of line (as FindEarlierField): rare work, kept out of ParseLine's
// hot body.
__attribute__((noinline)) bool Parser::ValidateUtf8() {
  if (!IsValidUtf8(point_.measurement)) return Fail("invalid UTF-8 in measurement");
  for (const Tag& t : point_.tags) {
    if (!IsValidUtf8(t.key)) return Fail("invalid UTF-8 in tag key");
    if (!IsValidUtf8(t.value)) {
      error_.assign("invalid UTF-8 in the value of tag \"");
      error_.append(t.key);
      error_.append("\"");
      return false;
    }
  }
  for (const Field& f : point_.fields) {
    if (!IsValidUtf8(f.key)) return Fail("invalid UTF-8 in field key");
  }
  return true;
}

bool Parser::Fail(const char* reason) {
  error_.assign(reason);
  return false;
}

// Parses one numeric field value token (first byte is a digit, '-', '.', 'n'
// or 'N'), mirroring InfluxDB's scanNumber for what is rejected and how.
bool Parser::ParseNumber(const char* p, const char* end, Field* f) {
  char last = end[-1];
  if (last == 'i' || last == 'u') {
    const char* q = p;
    const char* body_end = end - 1;
    bool neg = false;
    if (q < body_end && *q == '-') {
      neg = true;
      ++q;
    }
    if (q == body_end) return Fail(kInvalidNumber);
    for (const char* r = q; r < body_end; ++r) {
      if (!IsDigit(*r)) return Fail(kInvalidNumber);
    }
    if (last == 'i') {
      f->type = FieldType::kInteger;
      auto [ptr, ec] = std::from_chars(p, body_end, f->i);
      if (ec != std::errc() || ptr != body_end) {
        error_.assign("unable to parse integer ");
        error_.append(p, body_end - p);
        error_.append(": value out of range");
        return false;
      }
      return true;
    }
    // Unsigned: InfluxDB 2.x syntax (1.6 rejects every "u" value).
    if (neg) return Fail(kInvalidNumber);
    f->type = FieldType::kUnsigned;
    auto [ptr, ec] = std::from_chars(p, body_end, f->u);
    if (ec != std::errc() || ptr != body_end) {
      error_.assign("unable to parse unsigned ");
      error_.append(p, body_end - p);
      error_.append(": value out of range");
      return false;
    }
    return true;
  }

  f->type = FieldType::kFloat;
  if (ParseSimpleDecimal(p, end, &f->f)) return true;

  // InfluxDB's character rules: an optional leading '-', digits, at most one
  // '.', 'e'/'E' anywhere but first, '+'/'-' only right after 'e'/'E'.
  // Anything else (NaN, inf, hex, '_') is an "invalid number"; what passes
  // here but is not a float ("1e", "1e5e5") is an "invalid float".
  const char* q = p;
  bool neg = *q == '-';
  if (neg) ++q;
  if (q == end) return Fail(kInvalidNumber);
  bool dot = false;
  for (const char* r = q; r < end; ++r) {
    char c = *r;
    if (IsDigit(c)) continue;
    if (c == '.') {
      if (dot) return Fail(kInvalidNumber);
      dot = true;
      continue;
    }
    if ((c == 'e' || c == 'E') && r > p) continue;
    if ((c == '+' || c == '-') && r > p && (r[-1] == 'e' || r[-1] == 'E')) continue;
    return Fail(kInvalidNumber);
  }
  if ((end - p) - (dot ? 1 : 0) - (neg ? 1 : 0) == 0) return Fail(kInvalidNumber);
  auto [ptr, ec] = std::from_chars(p, end, f->f);
  if (ec == std::errc::result_out_of_range && ptr == end) {
    if (DecimalOverflows(std::string_view(p, end - p))) {
      return Fail("invalid float: value out of range");
    }
    f->f = neg ? -0.0 : 0.0;
    return true;
  }
  if (ec != std::errc() || ptr != end) return Fail(kInvalidFloat);
  return true;
}

bool Parser::ParseBoolean(const char* p, const char* end, Field* f) {
  f->type = FieldType::kBoolean;
  std::string_view v(p, end - p);
  switch (v.size()) {
    case 1:
      if (v[0] == 't' || v[0] == 'T') {
        f->b = true;
        return true;
      }
      if (v[0] == 'f' || v[0] == 'F') {
        f->b = false;
        return true;
      }
      break;
    case 4:
      if (v == "true" || v == "True" || v == "TRUE") {
        f->b = true;
        return true;
      }
      break;
    case 5:
      if (v == "false" || v == "False" || v == "FALSE") {
        f->b = false;
        return true;
      }
      break;
  }
  return Fail(kInvalidBoolean);
}

// Parses the line [b, e): `b` is past leading whitespace, `e` is before the
// newline and an optional '\r'. Fills point_ (timestamp without the default)
// and returns true, or sets error_ and returns false.
bool Parser::ParseLine(const char* b, const char* e, int64_t multiplier, int64_t default_time) {
  const size_t line_len = static_cast<size_t>(e - b);
  high_ = false;
  scratch_.clear();
  point_.tags.clear();
  point_.fields.clear();

  // Measurement.
  bool esc = false;
  const char* p = ScanToken<kComma | kSpace>(b, e, &esc, &quote_, &high_);
  if (p == b) return Fail("missing measurement");
  if (esc) {
    backslash_ = true;
    point_.measurement = Unescape(std::string_view(b, p - b), kMeasurementEscapes, line_len);
  } else {
    point_.measurement = std::string_view(b, p - b);
  }
  if (p == e) return Fail("missing fields");

  // Tags. The first kInsertionTags are kept sorted by insertion (lines carry
  // few tags and are often sorted already); past that the rest is appended
  // and the whole set sorted once after the loop: insertion alone was
  // quadratic (50 k tags in reverse order took 9.9 s, issue 16).
  constexpr size_t kInsertionTags = 16;
  bool sort_after = false;
  while (*p == ',') {
    const char* ks = ++p;
    esc = false;
    p = ScanToken<kComma | kSpace | kEquals>(p, e, &esc, &quote_, &high_);
    if (p == e || *p != '=') return Fail(p == ks ? "missing tag key" : "missing tag value");
    if (p == ks) return Fail("missing tag key");
    Tag tag;
    tag.key = std::string_view(ks, p - ks);
    if (esc) {
      backslash_ = true;
      tag.key = Unescape(tag.key, kTagEscapes, line_len);
    }
    const char* vs = ++p;
    esc = false;
    p = ScanToken<kComma | kSpace | kEquals>(p, e, &esc, &quote_, &high_);
    if (p < e && *p == '=') return Fail("invalid tag format");
    if (p == vs) return Fail("missing tag value");
    tag.value = std::string_view(vs, p - vs);
    if (esc) {
      backslash_ = true;
      tag.value = Unescape(tag.value, kTagEscapes, line_len);
    }
    // One push_back call site: with two, GCC stopped inlining it (measured).
    auto& tags = point_.tags;
    const bool insert = tags.size() < kInsertionTags;
    if (!insert) sort_after |= !KeyLess(tags.back().key, tag.key);
    tags.push_back(tag);
    if (insert) {
      size_t i = tags.size() - 1;
      while (i > 0 && KeyLess(tag.key, tags[i - 1].key)) {
        tags[i] = tags[i - 1];
        --i;
      }
      // The tags after the insertion point are greater, so only the one
      // before it can be a duplicate.
      if (i > 0 && tags[i - 1].key[0] == tag.key[0] && tags[i - 1].key == tag.key)
        return Fail("duplicate tags");
      tags[i] = tag;
    }
    if (p == e) return Fail("missing fields");
  }
  if (sort_after) {
    auto& tags = point_.tags;
    std::sort(tags.begin(), tags.end(), [](const Tag& a, const Tag& b) { return KeyLess(a.key, b.key); });
    for (size_t i = 1; i < tags.size(); ++i) {
      if (tags[i - 1].key == tags[i].key) return Fail("duplicate tags");
    }
  }

  // p is at the space after the key.
  point_.series_raw = std::string_view(b, p - b);
  // influxd's models.MaxKeyLength, checked where influxd checks it (after
  // the key, before the fields) with its words. The key as written has the
  // length of the canonical one: sorting the tags only reorders them.
  if (point_.series_raw.size() > kMaxSeriesKeyLength) {
    error_.assign("max key length exceeded: ");
    error_.append(std::to_string(point_.series_raw.size()));
    error_.append(" > ");
    error_.append(std::to_string(kMaxSeriesKeyLength));
    return false;
  }
  while (p < e && IsSkippable(*p)) ++p;
  if (p == e) return Fail("invalid field format");

  // Fields. `seen` is a 64-bit filter over (length, first, last byte) of the
  // keys so far: the linear duplicate check runs only on a filter hit. Past
  // kLinearFields fields the filter is saturated and a linear check per
  // field made a line quadratic (120 k fields: 59 s, issue 16), so from
  // there on the keys go into a hash map.
  uint64_t seen = 0;
  bool indexed = false;
  for (;;) {
    const char* ks = p;
    esc = false;
    p = ScanToken<kComma | kSpace | kEquals>(p, e, &esc, &quote_, &high_);
    if (p == e || *p != '=') return Fail("invalid field format");
    if (p == ks) return Fail("missing field key");
    // Built in place: a Field assembled on the stack and copied in costs a
    // store-forwarding stall per field (seen in perf on the truck lines).
    Field& f = point_.fields.emplace_back();
    f.key = std::string_view(ks, p - ks);
    if (esc) {
      backslash_ = true;
      if (HasAmbiguousEscape(f.key)) return Fail("invalid field format");
      f.key = Unescape(f.key, kFieldKeyEscapes, line_len);
    }
    ++p;  // '='
    if (p == e || *p == ' ' || *p == ',') return Fail("missing field value");
    char c = *p;
    if (c == '"') {
      quote_ = true;
      const char* s = ++p;
      bool s_esc = false;
      uint8_t s_bits = 0;  // OR of the bytes: bit 7 set = not ASCII
      for (;;) {
        const char* q = p;
        while (q < e && *q != '"' && *q != '\\') s_bits |= static_cast<uint8_t>(*q++);
        if (q >= e) return Fail("unbalanced quotes");
        if (*q == '"') {
          p = q;
          break;
        }
        s_esc = true;
        p = q + 2;  // a backslash skips the next byte
        if (p >= e) return Fail("unbalanced quotes");
        s_bits |= static_cast<uint8_t>(q[1]);
      }
      f.type = FieldType::kString;
      f.s = std::string_view(s, p - s);
      if (s_esc) f.s = Unescape(f.s, kStringEscapes, line_len);
      if ((s_bits & 0x80) != 0 && !IsValidUtf8(f.s)) {
        error_.assign("invalid UTF-8 in the string value of field \"");
        error_.append(IsValidUtf8(f.key) ? f.key : "?");
        error_.append("\"");
        return false;
      }
      ++p;  // closing quote
      if (p < e && *p != ',' && *p != ' ') return Fail("invalid field format");
    } else if (!ParseFastNumber(&p, e, &f)) {
      const char* vs = p;
      while (p < e && *p != ',' && *p != ' ') ++p;
      if (IsDigit(c) || c == '-' || c == '.' || c == 'n' || c == 'N') {
        if (!ParseNumber(vs, p, &f)) return false;
      } else {
        if (!ParseBoolean(vs, p, &f)) return false;
      }
    }

    // Duplicate field keys: InfluxDB 1.x keeps the last value (same type) and
    // rejects a type change like any other field type conflict.
    const std::string_view key = f.key;
    uint64_t bit = uint64_t{1} << ((key.size() * 7 + static_cast<uint8_t>(key.front()) * 3 +
                                    static_cast<uint8_t>(key.back())) &
                                   63);
    Field* prev = nullptr;
    if (indexed || (seen & bit)) [[unlikely]] {
      const size_t last = point_.fields.size() - 1;
      if (indexed || last >= kLinearFields) {
        prev = FindEarlierField(&indexed);
      } else {
        for (size_t i = 0; i < last; ++i) {
          if (point_.fields[i].key == key) {
            prev = &point_.fields[i];
            break;
          }
        }
      }
    }
    seen |= bit;
    if (prev != nullptr) {
      if (prev->type != f.type) {
        error_.assign("field type conflict: input field \"");
        error_.append(key);
        error_.append("\" on measurement \"");
        error_.append(point_.measurement);
        error_.append("\" is type ");
        error_.append(FieldTypeName(f.type));
        error_.append(", already exists as type ");
        error_.append(FieldTypeName(prev->type));
        return false;
      }
      *prev = f;
      point_.fields.pop_back();  // `f` is dead from here on
    }

    if (p == e) break;
    if (*p == ',') {
      ++p;
      continue;
    }
    break;  // a space: the timestamp may follow
  }

  // Timestamp.
  while (p < e && IsSkippable(*p)) ++p;
  if (p == e) {
    point_.timestamp = default_time;
  } else {
    const char* ts = p;
    const bool neg = *p == '-';
    if (neg) ++p;
    const char* digits = p;
    uint64_t v = 0;
    while (p < e && IsDigit(*p)) {
      v = v * 10 + static_cast<uint64_t>(*p - '0');
      ++p;
    }
    // influxd's scanTime also stops at a newline (one that a quote in a key
    // pulled into the line); what follows is then "point is invalid".
    if (p < e && *p != ' ' && *p != '\n') return Fail("bad timestamp");
    if (digits == p) return Fail("bad timestamp");
    int64_t t;
    if (p - digits <= 18) {  // below 10^18: no overflow possible
      t = neg ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
    } else {
      auto [ptr, ec] = std::from_chars(ts, p, t);
      if (ec != std::errc() || ptr != p) return Fail("bad timestamp: value out of range");
    }
    while (p < e && IsSkippable(*p)) ++p;
    if (p != e) return Fail("point is invalid");
    if (__builtin_mul_overflow(t, multiplier, &t) || t < kMinTime || t > kMaxTime) {
      return Fail("time outside range -9223372036854775806 - 9223372036854775806");
    }
    point_.timestamp = t;
  }

  // InfluxDB's storage layer refuses the key "time": a "time" tag rejects the
  // point, a "time" field is dropped (the point with it if nothing is left).
  for (const Tag& t : point_.tags) {
    if (t.key == "time") {
      error_.assign("invalid tag key: input tag \"time\" on measurement \"");
      error_.append(point_.measurement);
      error_.append("\" is invalid");
      return false;
    }
  }
  // Names, keys and string values must be UTF-8: invalid bytes, once stored,
  // would end up in every JSON answer that names them. influxd 1.6 stores
  // them and sends U+FFFD instead (its first write of such a measurement
  // even fails with a 500); we reject the line, like influxd >= 1.8 with
  // validate-keys (docs/compatibility.md). Only lines with a byte >= 0x80
  // in a name or key are checked token by token; string values are checked
  // where they are scanned.
  if (high_ && !ValidateUtf8()) return false;

  if ((seen & (uint64_t{1} << ((4 * 7 + 't' * 3 + 'e') & 63))) != 0) {
    auto& fields = point_.fields;
    for (size_t i = 0; i < fields.size(); ++i) {
      if (fields[i].key == "time") {
        fields.erase(fields.begin() + static_cast<ptrdiff_t>(i));
        break;
      }
    }
    if (fields.empty()) {
      error_.assign("invalid field name: input field \"time\" on measurement \"");
      error_.append(point_.measurement);
      error_.append("\" is invalid");
      return false;
    }
  }
  return true;
}

size_t Parser::Parse(std::string_view body, const ParseOptions& options,
                     absl::FunctionRef<void(const Point&)> on_point, std::vector<LineError>* errors) {
  const char* const base = body.data();
  const char* const end = base + body.size();
  const int64_t multiplier = PrecisionMultiplier(options.precision);
  // InfluxDB truncates the default time to the precision ("now" in seconds
  // for precision=s); floor division keeps negative times consistent.
  int64_t default_time = options.default_time;
  if (multiplier > 1) {
    int64_t rem = default_time % multiplier;
    if (rem < 0) rem += multiplier;
    default_time -= rem;
  }

  size_t valid = 0;
  int line = 1;
  const char* p = base;
  while (p < end) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
    if (nl == nullptr) nl = end;
    const char* s = p;
    while (s < nl && IsSkippable(*s)) ++s;
    // Blank lines and comments. A comment ends at its newline, even when it
    // holds an unbalanced quote (influxd 1.6 would swallow the next lines).
    if (s == nl || *s == '#' || (*s == '\r' && s + 1 == nl)) {
      p = nl + 1;
      ++line;
      continue;
    }
    const char* line_end = nl;  // the logical end: InfluxDB's scanLine
    const char* le = (nl > s && nl[-1] == '\r') ? nl - 1 : nl;
    bool ok;
    bool too_long = false;
    if (options.max_line_length != 0 && static_cast<size_t>(nl - p) > options.max_line_length) {
      line_end = ScanLineEnd(p, end);
      le = (line_end > s && line_end[-1] == '\r') ? line_end - 1 : line_end;
      error_.assign("line too long: ");
      error_.append(std::to_string(line_end - p));
      error_.append(" bytes, limit ");
      error_.append(std::to_string(options.max_line_length));
      ok = false;
      too_long = true;
    } else {
      backslash_ = false;
      quote_ = false;
      ok = ParseLine(s, le, multiplier, default_time);
      // A line can run past its newline only through a backslash or a quote
      // (influxd's scanLine). A valid line without backslashes outside its
      // string values cannot: both scanners open and close the same strings
      // (and skip the same escaped bytes inside them), unless leading
      // whitespace shifts influxd's count of '=' and ',' (see the tests).
      if (!ok || backslash_ || (quote_ && s != p)) {
        line_end = ScanLineEnd(p, end);
        if (line_end != nl) {
          le = (line_end > s && line_end[-1] == '\r') ? line_end - 1 : line_end;
          if (options.max_line_length != 0 && static_cast<size_t>(line_end - p) > options.max_line_length) {
            error_.assign("line too long: ");
            error_.append(std::to_string(line_end - p));
            error_.append(" bytes, limit ");
            error_.append(std::to_string(options.max_line_length));
            ok = false;
            too_long = true;
          } else {
            ok = ParseLine(s, le, multiplier, default_time);
          }
        }
      }
    }
    if (ok) {
      point_.line = line;
      on_point(point_);
      ++valid;
    } else if (errors != nullptr) {
      LineError err;
      err.line = line;
      err.reason = ToValidUtf8(error_);
      err.text = ToValidUtf8(std::string_view(s, std::min<size_t>(static_cast<size_t>(le - s), 256)));
      err.kind = too_long ? ErrorKind::kLineTooLong : ErrorKind::kParse;
      errors->push_back(std::move(err));
    }
    if (line_end != nl) {
      for (const char* q = nl; q < line_end; ++q) line += (*q == '\n');
    }
    ++line;
    p = line_end + 1;
  }
  return valid;
}

void AppendEscapedMeasurement(std::string* out, std::string_view s) {
  for (char c : s) {
    if (c == ',' || c == ' ') out->push_back('\\');
    out->push_back(c);
  }
}

void AppendEscapedKey(std::string* out, std::string_view s) {
  for (char c : s) {
    if (c == ',' || c == ' ' || c == '=') out->push_back('\\');
    out->push_back(c);
  }
}

void AppendEscapedStringValue(std::string* out, std::string_view s) {
  for (char c : s) {
    if (c == '"' || c == '\\') out->push_back('\\');
    out->push_back(c);
  }
}

std::string SeriesKey(std::string_view measurement, const std::vector<Tag>& tags) {
  std::string key;
  size_t n = measurement.size();
  for (const Tag& t : tags) n += t.key.size() + t.value.size() + 2;
  key.reserve(n + n / 8);
  AppendEscapedMeasurement(&key, measurement);
  for (const Tag& t : tags) {
    key.push_back(',');
    AppendEscapedKey(&key, t.key);
    key.push_back('=');
    AppendEscapedKey(&key, t.value);
  }
  return key;
}

Status ParseSeriesKey(std::string_view key, std::string* measurement,
                      std::vector<std::pair<std::string, std::string>>* tags) {
  const char* b = key.data();
  const char* e = b + key.size();
  bool esc = false;
  bool quote = false;
  bool high = false;
  const char* p = ScanToken<kComma>(b, e, &esc, &quote, &high);
  if (p == b) return absl::InvalidArgumentError("series key: empty measurement");
  measurement->clear();
  UnescapeTo(measurement, std::string_view(b, p - b), kSeriesMeasurementEscapes);
  tags->clear();
  while (p < e) {
    const char* ks = ++p;  // past ','
    p = ScanToken<kComma | kEquals>(p, e, &esc, &quote, &high);
    if (p == e || *p != '=' || p == ks) {
      return absl::InvalidArgumentError("series key: malformed tag at offset " + std::to_string(ks - b));
    }
    std::string k;
    UnescapeTo(&k, std::string_view(ks, p - ks), kSeriesKeyEscapes);
    const char* vs = ++p;
    p = ScanToken<kComma | kEquals>(p, e, &esc, &quote, &high);
    if (p == vs || (p < e && *p == '=')) {
      return absl::InvalidArgumentError("series key: malformed tag value at offset " +
                                        std::to_string(vs - b));
    }
    std::string v;
    UnescapeTo(&v, std::string_view(vs, p - vs), kSeriesKeyEscapes);
    tags->emplace_back(std::move(k), std::move(v));
  }
  return absl::OkStatus();
}

}  // namespace m2mdb::lineproto
