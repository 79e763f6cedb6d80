// query/format/format.cc — InfluxDB 1.x JSON, influx-CLI CSV and aligned
// tables. Numbers and times are printed the way influxd 1.6 (Go) prints them.
#include "query/format/format.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/strings/str_cat.h"

namespace m2mdb::query {
namespace format {

namespace {

// The fixed-notation shortest round-trip text of `f` when f is a short
// decimal (at most 9 decimals), the common case of stored sensor values. std::to_chars costs ~400
// instructions per value, this a multiplication, a division and a few integer steps.
//
// Why it prints what std::to_chars(fixed) prints: take the largest d <= 9
// with |f| * 10^d < 2^50. Then ulp(f) < 10^-d / 4, so at most one d-decimal
// number parses back to f, and |f| * 10^d is within 1/4 of it, so rounding
// finds it if it exists; and any shorter decimal that parses back to f is
// that same number (two different d-decimal numbers are further apart than
// the set of decimals parsing to f is wide). Stripping the trailing zeros
// thus gives the fewest digits, which is what to_chars prints.
// Writes at most 24 bytes to `dst`; returns their number, 0 if f is not
// such a decimal.
// Writes the last `count` decimal digits of v (zero-padded) to the
// `count` bytes before `end`, two at a time; returns where they start.
char* DigitsBefore(char* end, uint64_t v, int count) {
  static constexpr char kPairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  for (; count >= 2; count -= 2) {
    end -= 2;
    std::memcpy(end, kPairs + 2 * (v % 100), 2);
    v /= 100;
  }
  if (count > 0) *--end = static_cast<char>('0' + v % 10);
  return end;
}

size_t ShortDecimalTo(double f, char* dst) {
  static constexpr double kPow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
  constexpr double kLimit = 1125899906842624.0;  // 2^50
  const double a = std::fabs(f);
  if (a < kLimit && a == static_cast<double>(static_cast<int64_t>(a))) {
    // An integer (counts, many gauges): its digits.
    char* p = dst;
    if (std::signbit(f)) *p++ = '-';
    return std::to_chars(p, p + 24, static_cast<uint64_t>(a)).ptr - dst;
  }
  int d = 9;
  double scaled = a * kPow10[d];
  while (!(scaled < kLimit)) {  // also NaN: never here (the caller checks)
    if (d == 0) return 0;
    scaled = a * kPow10[--d];
  }
  // Round half up: exact (scaled + 0.5 < 2^51), and a tie never parses back
  // to f anyway; cheaper than nearbyint's library call.
  const double m = static_cast<double>(static_cast<int64_t>(scaled + 0.5));
  if (m / kPow10[d] != a) return 0;
  uint64_t u = static_cast<uint64_t>(m);
  if (u == 0) {
    d = 0;
  } else {
    while (d >= 4 && u % 10000 == 0) {
      u /= 10000;
      d -= 4;
    }
    while (d > 0 && u % 10 == 0) {
      u /= 10;
      d--;
    }
  }
  // u's digits with a point before the last d and at least one digit
  // before it, written right to left straight into dst once the length is
  // known. (Building them in a local buffer and copying a fixed 24 bytes
  // out stalled on store forwarding: a wide load right after byte stores
  // took a quarter of this function's time.) Two digits a step from a
  // table, and the length from the bit width: a digit a step and a loop
  // over the powers of ten were two thirds of the instructions of a
  // typical reading (72.45821).
  static constexpr uint64_t kPow10U[] = {1,
                                         10,
                                         100,
                                         1000,
                                         10000,
                                         100000,
                                         1000000,
                                         10000000,
                                         100000000,
                                         1000000000,
                                         10000000000,
                                         100000000000,
                                         1000000000000,
                                         10000000000000,
                                         100000000000000,
                                         1000000000000000,
                                         10000000000000000};
  // u < 2^51, so at most 16 digits: floor(log10(u)) + 1 from log10(2) ~
  // 1233 / 4096, corrected by one comparison.
  const int log = (std::bit_width(u | 1) * 1233) >> 12;
  const int nd = log + (u >= kPow10U[log] ? 1 : 0);
  const bool neg = std::signbit(f);
  const int digits = nd > d ? nd : d + 1;
  const size_t len = static_cast<size_t>(neg) + static_cast<size_t>(digits) + (d > 0 ? 1 : 0);
  char* q = dst + len;
  if (d > 0) {
    q = DigitsBefore(q, u % kPow10U[d], d);
    *--q = '.';
  }
  q = DigitsBefore(q, u / kPow10U[d], digits - d);
  if (neg) *--q = '-';
  return len;
}

}  // namespace

size_t FormatFloatTo(double f, char* buf) {
  // Zero (a third of a truck reading's fields) first: what the integer
  // path below would print, without its checks and conversions.
  if (f == 0) {
    if (std::signbit(f)) {
      std::memcpy(buf, "-0", 2);
      return 2;
    }
    buf[0] = '0';
    return 1;
  }
  if (std::isnan(f) || std::isinf(f)) {
    std::memcpy(buf, "null", 4);
    return 4;
  }
  double a = std::fabs(f);
  if (a >= 1e-6 || a == 0) {
    if (size_t n = ShortDecimalTo(f, buf)) return n;
  }
  std::to_chars_result r;
  if (a != 0 && (a < 1e-6 || a >= 1e21)) {
    r = std::to_chars(buf, buf + kMaxFloatChars, f, std::chars_format::scientific);
    // Go's encoding/json turns e-07 into e-7 (and e+07 would never occur
    // here: the exponent is at least 21 or at most -7).
    char* e = static_cast<char*>(std::memchr(buf, 'e', r.ptr - buf));
    if (e != nullptr && r.ptr - e == 4 && e[1] == '-' && e[2] == '0') {
      e[2] = e[3];
      r.ptr--;
    }
  } else {
    r = std::to_chars(buf, buf + kMaxFloatChars, f, std::chars_format::fixed);
  }
  return r.ptr - buf;
}

void AppendFloat(double f, std::string* out) {
  char buf[kMaxFloatChars];
  out->append(buf, FormatFloatTo(f, buf));
}

std::string FormatFloat(double f) {
  std::string s;
  AppendFloat(f, &s);
  return s;
}

namespace {

// Days since 1970-01-01 -> civil date (Howard Hinnant's algorithm).
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}

// Writes v (clamped to >= 0) in decimal, zero-padded to `width` digits;
// returns the end.
char* PadTo(char* p, int64_t v, int width) {
  char buf[24];
  int n = 0;
  uint64_t u = v < 0 ? 0 : static_cast<uint64_t>(v);
  do {
    buf[n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  for (int i = n; i < width; i++) *p++ = '0';
  while (n > 0) *p++ = buf[--n];
  return p;
}

// The longest FormatRfc3339Nano text: sign, 4-digit year (int64 nanoseconds
// span years 1677 to 2262), "-MM-DDTHH:MM:SS", 10 fraction bytes and 'Z'.
constexpr size_t kMaxRfc3339Chars = 32;

// FormatRfc3339Nano into `dst` (kMaxRfc3339Chars bytes); returns the length.
// Lets the JSON writer print a time in place: a std::string of this length
// is a heap allocation per row.
size_t FormatRfc3339NanoTo(int64_t ns, char* dst) {
  constexpr int64_t kSec = 1000000000;
  int64_t secs = ns / kSec;
  int64_t frac = ns % kSec;
  if (frac < 0) {
    frac += kSec;
    secs--;
  }
  int64_t days = secs / 86400;
  int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    days--;
  }
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  char* p = dst;
  if (y < 0) {
    *p++ = '-';
    p = PadTo(p, -y, 4);
  } else {
    p = PadTo(p, y, 4);
  }
  *p++ = '-';
  p = PadTo(p, m, 2);
  *p++ = '-';
  p = PadTo(p, d, 2);
  *p++ = 'T';
  p = PadTo(p, rem / 3600, 2);
  *p++ = ':';
  p = PadTo(p, rem / 60 % 60, 2);
  *p++ = ':';
  p = PadTo(p, rem % 60, 2);
  if (frac != 0) {
    *p++ = '.';
    p = PadTo(p, frac, 9);
    while (p[-1] == '0') p--;  // frac != 0: a nonzero digit stops this
  }
  *p++ = 'Z';
  return p - dst;
}

// The longest FormatRfc3339NanoInTo text: 'Z' becomes "+HH:MM".
constexpr size_t kMaxRfc3339ZoneChars = kMaxRfc3339Chars + 8;

// FormatRfc3339Nano in `zone` into `dst` (kMaxRfc3339ZoneChars bytes).
// The UTC formatter does the calendar work on the local time, then 'Z' is
// replaced by the offset (Go prints hours and minutes only).
size_t FormatRfc3339NanoInTo(int64_t ns, const absl::TimeZone& zone, char* dst) {
  const int off = zone.At(absl::FromUnixNanos(ns)).offset;  // seconds east of UTC
  const __int128 local = static_cast<__int128>(ns) + static_cast<__int128>(off) * 1000000000;
  // A local time past int64 (the extreme storable times) stays in UTC.
  if (off == 0 || local > INT64_MAX || local < INT64_MIN) return FormatRfc3339NanoTo(ns, dst);
  char* p = dst + FormatRfc3339NanoTo(static_cast<int64_t>(local), dst) - 1;
  const int a = off < 0 ? -off : off;
  *p++ = off < 0 ? '-' : '+';
  p = PadTo(p, a / 3600, 2);
  *p++ = ':';
  p = PadTo(p, a / 60 % 60, 2);
  return p - dst;
}

}  // namespace

std::string FormatRfc3339Nano(int64_t ns) {
  char buf[kMaxRfc3339Chars];
  return std::string(buf, FormatRfc3339NanoTo(ns, buf));
}

std::string FormatRfc3339NanoIn(int64_t ns, const absl::TimeZone& zone) {
  char buf[kMaxRfc3339ZoneChars];
  return std::string(buf, FormatRfc3339NanoInTo(ns, zone, buf));
}

const absl::TimeZone* SeriesZone(const ResultSeries& s, absl::TimeZone* zone) {
  if (s.time_zone.empty() || s.time_zone == "UTC") return nullptr;
  if (s.time_zone == "Local") {
    *zone = absl::LocalTimeZone();
    return zone;
  }
  return absl::LoadTimeZone(s.time_zone, zone) ? zone : nullptr;
}

int64_t EpochDivisor(std::string_view epoch) {
  if (epoch == "ns" || epoch == "n") return 1;
  if (epoch == "u" || epoch == "µ" || epoch == "us") return 1000;
  if (epoch == "ms") return 1000000;
  if (epoch == "s") return 1000000000;
  if (epoch == "m") return 60LL * 1000000000;
  if (epoch == "h") return 3600LL * 1000000000;
  return 0;
}

namespace {

// The length of the well-formed UTF-8 sequence starting at s[i] (a lead
// byte >= 0x80), or 0 if it is not one: truncated, a bad continuation, an
// overlong form, a surrogate or past U+10FFFF (utf8.DecodeRuneInString's
// RuneError of width 1).
size_t Utf8SeqLen(std::string_view s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2, cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3, cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4, cp = c & 0x07;
  } else {
    return 0;  // a continuation byte, C0/C1 (overlong) or F5..FF
  }
  if (s.size() - i < n) return 0;
  for (size_t k = 1; k < n; k++) {
    const unsigned char d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (d & 0x3F);
  }
  static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

}  // namespace

void AppendJsonString(std::string_view s, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  // Tag values and names rarely need escaping: copy the clean prefix at once
  // (the whole string, usually) instead of byte by byte. Bytes >= 0x80 leave
  // it too: they must be checked as UTF-8 (stored names may predate the
  // write path's check), and an invalid one would make the answer not JSON.
  size_t clean = 0;
  while (clean < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[clean]);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&') break;
    clean++;
  }
  if (clean == s.size() && s.size() <= 62) {
    // One append instead of three calls into std::string.
    char buf[64];
    buf[0] = '"';
    std::memcpy(buf + 1, s.data(), s.size());
    buf[s.size() + 1] = '"';
    out->append(buf, s.size() + 2);
    return;
  }
  out->push_back('"');
  out->append(s.data(), clean);
  for (size_t i = clean; i < s.size(); i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '<':
      case '>':
      case '&':
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 15]);
        break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 15]);
        } else if (c < 0x80) {
          out->push_back(static_cast<char>(c));
        } else if (const size_t n = Utf8SeqLen(s, i); n == 0) {
          // As Go's encoding/json (influxd): each byte that does not start
          // a valid sequence becomes U+FFFD.
          out->append("\\ufffd");
        } else if (n == 3 && c == 0xE2 && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
                   (static_cast<unsigned char>(s[i + 2]) & 0xFE) == 0xA8) {
          // U+2028 and U+2029 are escaped by Go too (JSONP safety).
          out->append(static_cast<unsigned char>(s[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029");
          i += 2;
        } else {
          out->append(s.data() + i, n);
          i += n - 1;
        }
    }
  }
  out->push_back('"');
}

std::string CellText(const Value& v, bool is_time, int64_t epoch_div, const absl::TimeZone* zone) {
  if (is_time && std::holds_alternative<int64_t>(v)) {
    int64_t t = std::get<int64_t>(v);
    if (epoch_div == 0) return zone == nullptr ? FormatRfc3339Nano(t) : FormatRfc3339NanoIn(t, *zone);
    return absl::StrCat(t / epoch_div);
  }
  switch (v.index()) {
    case 0:
      return "";
    case 1:
      return FormatFloat(std::get<double>(v));
    case 2:
      return absl::StrCat(std::get<int64_t>(v));
    case 3:
      return absl::StrCat(std::get<uint64_t>(v));
    case 4:
      return std::get<bool>(v) ? "true" : "false";
    default:
      return std::get<std::string>(v);
  }
}

}  // namespace format

Value ResultColumn::Get(size_t r) const {
  switch (kind) {
    case Kind::kFloat:
      if (valid[r]) return floats[r];
      return std::monostate{};
    case Kind::kConstant:
      return constant;
    case Kind::kCells:
      break;
  }
  return cells[r];
}

std::vector<std::vector<Value>> ColumnarRows::ToRows() const {
  std::vector<std::vector<Value>> rows(times.size());
  for (size_t r = 0; r < times.size(); r++) {
    rows[r].reserve(columns.size() + 1);
    rows[r].emplace_back(std::in_place_index<2>, times[r]);
    for (const ResultColumn& c : columns) rows[r].push_back(c.Get(r));
  }
  return rows;
}

void ResultSeries::MaterializeRows() {
  if (columnar.empty()) return;
  values = columnar.ToRows();
  columnar = ColumnarRows{};
}

namespace {

// The rows of s as `values` holds them: `values` itself, or its columnar
// rows materialised into *storage (the paths that are not the compact JSON
// writer's: pretty JSON, CSV, tables).
const std::vector<std::vector<Value>>& RowsOf(const ResultSeries& s,
                                              std::vector<std::vector<Value>>* storage) {
  if (!s.values.empty() || s.columnar.empty()) return s.values;
  *storage = s.columnar.ToRows();
  return *storage;
}

// Whether column c of s holds the row time (printed as RFC3339 or in the
// epoch unit).
bool IsTimeColumn(const ResultSeries& s, size_t c) {
  if (c >= s.columns.size()) return false;
  return s.time_first ? c == 0 : s.columns[c] == "time";
}

// A tiny JSON emitter with Go's json.MarshalIndent(v, "", "    ") layout.
class JsonOut {
 public:
  // Room for a small answer from the start: growing an empty string to a
  // few hundred bytes took several reallocations.
  explicit JsonOut(bool pretty) : pretty_(pretty) { out_.reserve(512); }
  std::string& out() { return out_; }

  void Open(char c) {
    Sep();
    out_.push_back(c);
    first_.push_back(true);
  }
  void Close(char c) {
    bool empty = first_.back();
    first_.pop_back();
    if (pretty_ && !empty) Newline();
    out_.push_back(c);
  }
  void Key(std::string_view k) {
    Sep();
    format::AppendJsonString(k, &out_);
    out_.push_back(':');
    if (pretty_) out_.push_back(' ');
    after_key_ = true;
  }
  // Key() for a key known to need no escaping ("results", "series", ...).
  void PlainKey(std::string_view k) {
    Sep();
    out_.push_back('"');
    out_.append(k);
    out_.append(pretty_ ? "\": " : "\":");
    after_key_ = true;
  }
  // Begins a scalar value (writes separators); the caller appends it.
  std::string& Scalar() {
    Sep();
    return out_;
  }

 private:
  void Newline() {
    out_.push_back('\n');
    for (size_t i = 0; i < first_.size(); i++) out_.append("    ");
  }
  void Sep() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (first_.empty()) return;
    if (!first_.back()) out_.push_back(',');
    first_.back() = false;
    if (pretty_) Newline();
  }

  bool pretty_;
  bool after_key_ = false;
  std::vector<bool> first_;
  std::string out_;
};

void AppendValue(const Value& v, bool is_time, int64_t epoch_div, const absl::TimeZone* zone,
                 std::string* out) {
  if (is_time && std::holds_alternative<int64_t>(v)) {
    int64_t t = std::get<int64_t>(v);
    if (epoch_div == 0) {
      format::AppendJsonString(
          zone == nullptr ? format::FormatRfc3339Nano(t) : format::FormatRfc3339NanoIn(t, *zone), out);
    } else {
      absl::StrAppend(out, t / epoch_div);
    }
    return;
  }
  switch (v.index()) {
    case 0:
      out->append("null");
      break;
    case 1:
      format::AppendFloat(std::get<double>(v), out);
      break;
    case 2:
      absl::StrAppend(out, std::get<int64_t>(v));
      break;
    case 3:
      absl::StrAppend(out, std::get<uint64_t>(v));
      break;
    case 4:
      out->append(std::get<bool>(v) ? "true" : "false");
      break;
    default:
      format::AppendJsonString(std::get<std::string>(v), out);
  }
}

// The values section of a non-pretty answer, its bulk: cells are written
// to a stack buffer and reach the string in 4 KB appends, instead of
// several std::string calls per cell. Output identical to AppendValue.
class CellWriter {
 public:
  // `zone`: the series' tz() zone, nullptr for UTC.
  CellWriter(std::string* out, const absl::TimeZone* zone) : out_(out), zone_(zone) {}
  ~CellWriter() { Flush(); }
  void Put(char c) {
    Room(1)[0] = c;
    n_++;
  }
  // A row time (epoch_div 0: RFC3339), as Cell prints an int64 time cell.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Time(int64_t t, int64_t epoch_div) {
    if (epoch_div == 0) {
      char* p = Room(format::kMaxRfc3339ZoneChars + 2);
      p[0] = '"';
      const size_t k = zone_ == nullptr ? format::FormatRfc3339NanoTo(t, p + 1)
                                        : format::FormatRfc3339NanoInTo(t, *zone_, p + 1);
      p[k + 1] = '"';
      n_ += k + 2;
      return;
    }
    // epoch=ns (what clients ask for) without a 64-bit division a row.
    const int64_t v = epoch_div == 1 ? t : t / epoch_div;
    constexpr int64_t kLow = 10000000000;  // the last 10 digits
    char* p = Room(24);
    if (v < kLow) {
      n_ = std::to_chars(p, buf_ + sizeof(buf_), v).ptr - buf_;
      return;
    }
    // The leading digits (all but the last 10) of neighbouring rows' times
    // are the same: remembered, and the last 10 written as two independent
    // 5-digit halves (one chain of 10 steps was a fifth of the row).
    const int64_t high = v / kLow;
    const uint64_t low = static_cast<uint64_t>(v % kLow);
    if (high != time_high_) {
      time_high_len_ = static_cast<size_t>(std::to_chars(time_high_text_, time_high_text_ + 20, high).ptr -
                                           time_high_text_);
      time_high_ = high;
    }
    std::memcpy(p, time_high_text_, sizeof(time_high_text_));
    p += time_high_len_;
    format::DigitsBefore(p + 5, low / 100000, 5);
    format::DigitsBefore(p + 10, low % 100000, 5);
    n_ += time_high_len_ + 10;
  }
  // A float cell of a columnar row (null where !valid).
  ABSL_ATTRIBUTE_ALWAYS_INLINE void FloatOrNull(double f, bool valid, size_t column) {
    if (valid) {
      Float(f, column);
    } else {
      Literal("null");
    }
  }
  // Text rendered once for every row (a constant column's cell): `s`
  // readable up to a multiple of 16 bytes past its start, copied in fixed
  // 16-byte steps (inlined, where a memcpy of the exact length was a
  // library call per cell); the bytes past its end are overwritten later.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void PaddedText(std::string_view s) {
    const size_t padded = (s.size() + 15) & ~size_t{15};
    if (padded > sizeof(buf_)) {
      Flush();
      out_->append(s);
      return;
    }
    char* p = Room(padded);
    for (size_t k = 0; k < padded; k += 16) std::memcpy(p + k, s.data() + k, 16);
    n_ += s.size();
  }
  // `column` is the cell's column index (for the clean-string cache).
  // Inlined into the row loop: called out of line it cost a tenth more per
  // cell of a large answer (the compiler's choice flipped with unrelated
  // edits of ToInfluxJson).
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Cell(const Value& v, bool is_time, int64_t epoch_div, size_t column) {
    if (is_time && std::holds_alternative<int64_t>(v) && epoch_div == 0) {
      // Digits and "-:.TZ" only, never escaped.
      char* p = Room(format::kMaxRfc3339ZoneChars + 2);
      p[0] = '"';
      const size_t k = zone_ == nullptr ? format::FormatRfc3339NanoTo(std::get<int64_t>(v), p + 1)
                                        : format::FormatRfc3339NanoInTo(std::get<int64_t>(v), *zone_, p + 1);
      p[k + 1] = '"';
      n_ += k + 2;
      return;
    }
    switch (v.index()) {
      case 0:
        Literal("null");
        break;
      case 1:
        Float(std::get<double>(v), column);
        break;
      case 2: {
        const int64_t i = is_time ? std::get<int64_t>(v) / epoch_div : std::get<int64_t>(v);
        n_ = std::to_chars(Room(24), buf_ + sizeof(buf_), i).ptr - buf_;
        break;
      }
      case 3:
        n_ = std::to_chars(Room(24), buf_ + sizeof(buf_), std::get<uint64_t>(v)).ptr - buf_;
        break;
      case 4:
        Literal(std::get<bool>(v) ? "true" : "false");
        break;
      default: {
        const std::string& str = std::get<std::string>(v);
        if (str.size() <= 256 && CleanCached(str, column)) {
          char* p = Room(str.size() + 2 < 18 ? 18 : str.size() + 2);
          p[0] = '"';
          if (str.capacity() >= 15 && str.size() < 16) {
            // A short string (tag values, mostly): 16 bytes copied at a
            // fixed size, inlined, instead of a memcpy call; they are all
            // readable (capacity 15 means a 16-byte buffer with its NUL)
            // and the bytes past the closing quote are overwritten later.
            std::memcpy(p + 1, str.data(), 16);
          } else {
            std::memcpy(p + 1, str.data(), str.size());
          }
          p[str.size() + 1] = '"';
          n_ += str.size() + 2;
        } else {
          Flush();
          format::AppendJsonString(str, out_);
        }
      }
    }
  }

 private:
  // Returns where to write at least k (<= sizeof buf_) bytes.
  char* Room(size_t k) {
    if (n_ + k > sizeof(buf_)) Flush();
    return buf_ + n_;
  }
  void Flush() {
    out_->append(buf_, n_);
    n_ = 0;
  }
  void Literal(std::string_view s) {
    std::memcpy(Room(s.size()), s.data(), s.size());
    n_ += s.size();
  }
  // A float cell; the column's last one is remembered (its bits and text):
  // telemetry repeats values from row to row (a parked truck's position,
  // zero speed: 85% of a raw truck hour's cells), and copying the text
  // costs a tenth of formatting it again. Formatting is a function of the
  // bits alone, so the copy is exact.
  void Float(double f, size_t column) {
    char* p = Room(format::kMaxFloatChars);
    if (column >= kCachedColumns) {
      n_ += format::FormatFloatTo(f, p);
      return;
    }
    FloatMemo& m = last_float_[column];
    const uint64_t bits = std::bit_cast<uint64_t>(f);
    if (m.len != 0 && m.bits == bits) {
      std::memcpy(p, m.text, sizeof(m.text));  // a fixed size: inlined
      n_ += m.len;
      return;
    }
    const size_t k = format::FormatFloatTo(f, p);
    n_ += k;
    if (k <= sizeof(m.text)) {
      std::memcpy(m.text, p, sizeof(m.text));
      m.bits = bits;
      m.len = static_cast<uint8_t>(k);
    } else {
      m.len = 0;
    }
  }
  // Clean(s), remembered per column: a tag column repeats one value on
  // every row of a raw answer, and comparing it with the last clean value
  // costs less than checking its bytes again. The remembered view points
  // into the answer being written, which outlives this writer.
  bool CleanCached(std::string_view s, size_t column) {
    if (column < kCachedColumns) {
      std::string_view& last = last_clean_[column];
      if (last.data() != nullptr && s == last) return true;
      if (!Clean(s)) return false;
      last = s;
      return true;
    }
    return Clean(s);
  }
  static bool Clean(std::string_view s) {
    for (char ch : s) {
      const unsigned char c = static_cast<unsigned char>(ch);
      if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&') return false;
    }
    return true;
  }

  static constexpr size_t kCachedColumns = 32;
  // Time(): the leading digits of the last epoch time written.
  int64_t time_high_ = -1;
  size_t time_high_len_ = 0;
  char time_high_text_[24] = {};
  std::string* out_;
  const absl::TimeZone* zone_;
  std::string_view last_clean_[kCachedColumns];
  struct FloatMemo {
    uint64_t bits = 0;
    uint8_t len = 0;  // 0: nothing remembered
    char text[32];
  };
  FloatMemo last_float_[kCachedColumns];
  char buf_[4096];
  size_t n_ = 0;
};

// The values section of a compact answer from columnar rows (column 0 the
// time): what CellWriter prints for the same rows, without a variant per
// cell; a constant column's text is rendered once.
void AppendColumnarValues(const ColumnarRows& rows, int64_t epoch_div, const absl::TimeZone* zone,
                          std::string* out) {
  const size_t nc = rows.columns.size();
  std::vector<std::string> constant_text(nc);  // with room for PaddedText
  std::vector<std::string_view> constant_view(nc);
  for (size_t c = 0; c < nc; c++) {
    const ResultColumn& col = rows.columns[c];
    if (col.kind == ResultColumn::Kind::kConstant) {
      std::string& t = constant_text[c];
      t.push_back(',');
      AppendValue(col.constant, false, epoch_div, zone, &t);
      const size_t len = t.size();
      t.resize((len + 15) & ~size_t{15});
      constant_view[c] = std::string_view(t.data(), len);
    }
  }
  out->reserve(out->size() + rows.size() * (2 + 12 * (nc + 1)));
  CellWriter w(out, zone);
  w.Put('[');
  for (size_t r = 0; r < rows.size(); r++) {
    if (r > 0) w.Put(',');
    w.Put('[');
    w.Time(rows.times[r], epoch_div);
    for (size_t c = 0; c < nc; c++) {
      const ResultColumn& col = rows.columns[c];
      switch (col.kind) {
        case ResultColumn::Kind::kFloat:
          w.Put(',');
          w.FloatOrNull(col.floats[r], col.valid[r] != 0, c + 1);
          break;
        case ResultColumn::Kind::kConstant:
          w.PaddedText(constant_view[c]);
          break;
        case ResultColumn::Kind::kCells:
          w.Put(',');
          w.Cell(col.cells[r], false, epoch_div, c + 1);
          break;
      }
    }
    w.Put(']');
  }
  w.Put(']');
}

}  // namespace

std::string ToInfluxJson(const std::vector<StatementResult>& results, const JsonOptions& options) {
  if (results.size() == 1 && results[0].parse_error) return ErrorJson(results[0].error);
  const int64_t div = format::EpochDivisor(options.epoch);
  JsonOut j(options.pretty);
  j.Open('{');
  j.PlainKey("results");
  j.Open('[');
  for (const StatementResult& r : results) {
    j.Open('{');
    j.PlainKey("statement_id");
    absl::StrAppend(&j.Scalar(), r.statement_id);
    if (!r.series.empty()) {
      j.PlainKey("series");
      j.Open('[');
      for (const ResultSeries& s : r.series) {
        j.Open('{');
        if (!s.name.empty()) {
          j.PlainKey("name");
          format::AppendJsonString(s.name, &j.Scalar());
        }
        if (!s.tags.empty()) {
          j.PlainKey("tags");
          j.Open('{');
          for (const auto& [k, v] : s.tags) {
            j.Key(k);
            format::AppendJsonString(v, &j.Scalar());
          }
          j.Close('}');
        }
        j.PlainKey("columns");
        j.Open('[');
        for (const std::string& c : s.columns) format::AppendJsonString(c, &j.Scalar());
        j.Close(']');
        if (s.RowCount() > 0) {
          j.PlainKey("values");
          absl::TimeZone zone_storage;
          const absl::TimeZone* zone = format::SeriesZone(s, &zone_storage);
          std::vector<char> is_time(s.columns.size());
          for (size_t c = 0; c < s.columns.size(); c++) is_time[c] = IsTimeColumn(s, c);
          if (s.values.empty() && !options.pretty && s.time_first) {
            AppendColumnarValues(s.columnar, div, zone, &j.Scalar());
          } else if (options.pretty) {
            std::vector<std::vector<Value>> storage;
            j.Open('[');
            for (const auto& row : RowsOf(s, &storage)) {
              j.Open('[');
              for (size_t c = 0; c < row.size(); c++) {
                AppendValue(row[c], c < is_time.size() && is_time[c], div, zone, &j.Scalar());
              }
              j.Close(']');
            }
            j.Close(']');
          } else {
            // The bulk of a large answer: rows written straight, without
            // the emitter's per-value separator bookkeeping.
            std::vector<std::vector<Value>> storage;
            const std::vector<std::vector<Value>>& values = RowsOf(s, &storage);
            std::string& out = j.Scalar();
            out.reserve(out.size() + values.size() * (2 + 12 * s.columns.size()));
            CellWriter w(&out, zone);
            w.Put('[');
            for (size_t r = 0; r < values.size(); r++) {
              const auto& row = values[r];
              if (r > 0) w.Put(',');
              w.Put('[');
              for (size_t c = 0; c < row.size(); c++) {
                if (c > 0) w.Put(',');
                w.Cell(row[c], c < is_time.size() && is_time[c], div, c);
              }
              w.Put(']');
            }
            w.Put(']');
          }
        }
        if (s.partial) {
          j.PlainKey("partial");
          j.Scalar().append("true");
        }
        j.Close('}');
      }
      j.Close(']');
    }
    if (!r.messages.empty()) {
      j.PlainKey("messages");
      j.Open('[');
      for (const std::string& m : r.messages) {
        j.Open('{');
        j.PlainKey("level");
        format::AppendJsonString("warning", &j.Scalar());
        j.PlainKey("text");
        format::AppendJsonString(m, &j.Scalar());
        j.Close('}');
      }
      j.Close(']');
    }
    if (!r.error.empty()) {
      j.PlainKey("error");
      format::AppendJsonString(r.error, &j.Scalar());
    }
    j.Close('}');
  }
  j.Close(']');
  j.Close('}');
  return std::move(j.out());
}

std::string ErrorJson(std::string_view message) {
  std::string out = "{\"error\":";
  format::AppendJsonString(message, &out);
  out.push_back('}');
  return out;
}

namespace {

std::string TagsText(const ResultSeries& s) {
  std::string t;
  for (const auto& [k, v] : s.tags) {
    if (!t.empty()) t.push_back(',');
    absl::StrAppend(&t, k, "=", v);
  }
  return t;
}

void AppendCsvField(std::string_view f, std::string* out) {
  bool quote = f.find_first_of(",\"\r\n") != std::string_view::npos ||
               (!f.empty() && (f.front() == ' ' || f.front() == '\t'));
  if (!quote) {
    out->append(f);
    return;
  }
  out->push_back('"');
  for (char c : f) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

void AppendCsvLine(const std::vector<std::string>& fields, std::string* out) {
  for (size_t i = 0; i < fields.size(); i++) {
    if (i > 0) out->push_back(',');
    AppendCsvField(fields[i], out);
  }
  out->push_back('\n');
}

}  // namespace

std::string ToCsv(const std::vector<StatementResult>& results, const JsonOptions& options) {
  const int64_t div = format::EpochDivisor(options.epoch);
  std::string out;
  std::vector<std::string> previous;
  for (const StatementResult& r : results) {
    if (!r.error.empty()) {
      absl::StrAppend(&out, "ERR: ", r.error, "\n");
      continue;
    }
    for (const ResultSeries& s : r.series) {
      absl::TimeZone zone_storage;
      const absl::TimeZone* zone = format::SeriesZone(s, &zone_storage);
      std::string tags = TagsText(s);
      std::vector<std::string> header = {"name"};
      if (!tags.empty()) header.push_back("tags");
      header.insert(header.end(), s.columns.begin(), s.columns.end());
      if (header != previous) {
        AppendCsvLine(header, &out);
        previous = header;
      }
      std::vector<std::vector<Value>> storage;
      for (const auto& row : RowsOf(s, &storage)) {
        std::vector<std::string> line = {s.name};
        if (!tags.empty()) line.push_back(tags);
        for (size_t c = 0; c < row.size(); c++) {
          bool is_time = IsTimeColumn(s, c);
          // The CLI prints raw nanoseconds unless told otherwise; with an
          // epoch it prints that unit, with none RFC3339.
          line.push_back(format::CellText(row[c], is_time, div, zone));
        }
        AppendCsvLine(line, &out);
      }
    }
  }
  return out;
}

std::string ToTable(const std::vector<StatementResult>& results, const JsonOptions& options) {
  const int64_t div = format::EpochDivisor(options.epoch);
  std::string out;
  bool first = true;
  for (const StatementResult& r : results) {
    if (!r.error.empty()) {
      absl::StrAppend(&out, "ERR: ", r.error, "\n");
      continue;
    }
    for (const std::string& m : r.messages) absl::StrAppend(&out, "Message: ", m, "\n");
    for (const ResultSeries& s : r.series) {
      absl::TimeZone zone_storage;
      const absl::TimeZone* zone = format::SeriesZone(s, &zone_storage);
      if (!first) out.push_back('\n');
      first = false;
      if (!s.name.empty()) absl::StrAppend(&out, "name: ", s.name, "\n");
      if (!s.tags.empty()) absl::StrAppend(&out, "tags: ", TagsText(s), "\n");
      std::vector<std::vector<std::string>> cells;
      cells.push_back(s.columns);
      std::vector<std::string> dashes;
      for (const std::string& c : s.columns) dashes.push_back(std::string(c.size(), '-'));
      cells.push_back(dashes);
      std::vector<std::vector<Value>> storage;
      for (const auto& row : RowsOf(s, &storage)) {
        std::vector<std::string> line;
        for (size_t c = 0; c < row.size(); c++) {
          bool is_time = IsTimeColumn(s, c);
          line.push_back(format::CellText(row[c], is_time, div, zone));
        }
        cells.push_back(std::move(line));
      }
      std::vector<size_t> width(s.columns.size(), 0);
      for (const auto& line : cells) {
        for (size_t c = 0; c < line.size() && c < width.size(); c++)
          width[c] = std::max(width[c], line[c].size());
      }
      for (const auto& line : cells) {
        std::string l;
        for (size_t c = 0; c < line.size(); c++) {
          l += line[c];
          if (c + 1 < line.size() && c < width.size()) l.append(width[c] - line[c].size() + 1, ' ');
        }
        while (!l.empty() && l.back() == ' ') l.pop_back();
        absl::StrAppend(&out, l, "\n");
      }
    }
  }
  return out;
}

}  // namespace m2mdb::query
