// libFuzzer target for the line-protocol parser. The first byte picks the
// options (precision, line-length limit); the rest is the body. Besides
// crashes and sanitizer reports it aborts on broken invariants:
//  * every point has a measurement, >= 1 field, non-empty unique field keys,
//    non-empty tags sorted by unique key, no "time" key, a timestamp inside
//    InfluxDB's range, and a line number that never goes backwards;
//  * SeriesKey -> ParseSeriesKey gives back the measurement and tags;
//  * a point whose tokens hold no backslash, written back with the Append*
//    helpers, parses to the same point;
//  * the measurement, tag keys and values, field keys and string values of
//    every point are valid UTF-8 (checked by a decoder written here, apart
//    from the parser's), and so are every error's reason and text;
//  * every error has a line number, a reason, and a text of at most 256 input
//    bytes (each invalid byte replaced by the 3 bytes of U+FFFD).
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "engine/lineproto/lineproto.h"

namespace {

using m2mdb::FieldType;
using namespace m2mdb::lineproto;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "lineproto_fuzz invariant violated: %s\n", what);
    std::abort();
  }
}

// Backslashes are only partly unescaped by InfluxDB, and a newline outside a
// string value survives only inside influxd's quote tracking (which depends on
// the leading whitespace of the line): neither can be written back losslessly.
bool Unwritable(std::string_view s) { return s.find_first_of("\\\n") != std::string_view::npos; }

// Writes `p` back as one line of line protocol; false when a token cannot be
// written losslessly (see Unwritable).
bool Serialize(const Point& p, std::string* out) {
  out->clear();
  if (Unwritable(p.measurement)) return false;
  AppendEscapedMeasurement(out, p.measurement);
  for (const Tag& t : p.tags) {
    if (Unwritable(t.key) || Unwritable(t.value)) return false;
    out->push_back(',');
    AppendEscapedKey(out, t.key);
    out->push_back('=');
    AppendEscapedKey(out, t.value);
  }
  out->push_back(' ');
  // A first field key starting with a tab or NUL would be taken for the
  // whitespace between sections (influxd's skipWhitespace), and cannot be escaped.
  if (p.fields[0].key[0] == '\t' || p.fields[0].key[0] == '\0') return false;
  char buf[64];
  for (size_t i = 0; i < p.fields.size(); i++) {
    const Field& f = p.fields[i];
    if (Unwritable(f.key)) return false;
    if (i) out->push_back(',');
    AppendEscapedKey(out, f.key);
    out->push_back('=');
    switch (f.type) {
      case FieldType::kFloat:
        std::snprintf(buf, sizeof(buf), "%.17g", f.f);
        out->append(buf);
        break;
      case FieldType::kInteger:
        std::snprintf(buf, sizeof(buf), "%" PRId64 "i", f.i);
        out->append(buf);
        break;
      case FieldType::kUnsigned:
        std::snprintf(buf, sizeof(buf), "%" PRIu64 "u", f.u);
        out->append(buf);
        break;
      case FieldType::kBoolean:
        out->append(f.b ? "true" : "false");
        break;
      case FieldType::kString:
        out->push_back('"');
        AppendEscapedStringValue(out, f.s);
        out->push_back('"');
        break;
    }
  }
  std::snprintf(buf, sizeof(buf), " %" PRId64, p.timestamp);
  out->append(buf);
  return true;
}

// Reference UTF-8 check: decodes each code point and rejects what Unicode
// (and Go's utf8.ValidString) rejects — overlong forms, surrogates,
// code points above U+10FFFF, stray or missing continuation bytes.
bool ReferenceUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const uint32_t c = static_cast<uint8_t>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + static_cast<size_t>(len) > s.size()) return false;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k < len; k++) {
      const uint32_t cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += static_cast<size_t>(len);
  }
  return true;
}

// Reference line splitter: influxd's scanLine run on every line (comments
// end at their newline). Returns the logical lines, each with its newline.
std::vector<std::string_view> ReferenceLines(std::string_view body) {
  std::vector<std::string_view> lines;
  const size_t n = body.size();
  size_t pos = 0;
  while (pos < n) {
    size_t nl = body.find('\n', pos);
    if (nl == std::string_view::npos) nl = n;
    size_t s = pos;
    while (s < nl && (body[s] == ' ' || body[s] == '\t' || body[s] == '\0')) s++;
    size_t end = nl;
    if (!(s == nl || body[s] == '#')) {
      bool quoted = false, fields = false;
      long equals = 0, commas = 0;
      size_t i = pos;
      for (;;) {
        if (i >= n) break;
        if (body[i] == '\\' && i + 2 < n) {
          i += 2;
          continue;
        }
        if (body[i] == ' ') fields = true;
        if (fields) {
          if (!quoted && body[i] == '=') {
            i++;
            equals++;
            continue;
          } else if (!quoted && body[i] == ',') {
            i++;
            commas++;
            continue;
          } else if (body[i] == '"' && equals > commas) {
            i++;
            quoted = !quoted;
            continue;
          }
        }
        if (body[i] == '\n' && !quoted) break;
        i++;
      }
      end = i;
    }
    lines.push_back(body.substr(pos, end - pos + (end < n ? 1 : 0)));
    pos = end + 1;
  }
  return lines;
}

bool SameField(const Field& a, const Field& b) {
  if (a.key != b.key || a.type != b.type) return false;
  switch (a.type) {
    case FieldType::kFloat:
      return a.f == b.f || (std::isnan(a.f) && std::isnan(b.f));
    case FieldType::kInteger:
      return a.i == b.i;
    case FieldType::kUnsigned:
      return a.u == b.u;
    case FieldType::kBoolean:
      return a.b == b.b;
    case FieldType::kString:
      return a.s == b.s;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static Parser* parser = new Parser();
  static Parser* reparser = new Parser();
  ParseOptions options;
  options.precision = static_cast<Precision>(data[0] % 6);
  options.max_line_length = (data[0] & 0x40) ? 64 : 0;
  options.default_time = (data[0] & 0x80) ? -1234567890123456789 : 1700000000123456789;
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  Check(IsValidUtf8(body) == ReferenceUtf8(body), "IsValidUtf8 disagrees with the reference");

  std::vector<LineError> errors;
  size_t seen = 0;
  int last_line = 0;
  std::string line;
  size_t n = parser->Parse(
      body, options,
      [&](const Point& p) {
        seen++;
        Check(!p.measurement.empty(), "empty measurement");
        Check(ReferenceUtf8(p.measurement), "measurement not UTF-8");
        Check(IsValidUtf8(p.measurement), "IsValidUtf8 disagrees with the reference");
        Check(!p.fields.empty(), "no fields");
        Check(p.line > last_line, "line numbers go backwards");
        last_line = p.line;
        Check(p.timestamp >= m2mdb::kMinTime && p.timestamp <= m2mdb::kMaxTime, "timestamp out of range");
        for (size_t i = 0; i < p.tags.size(); i++) {
          Check(!p.tags[i].key.empty() && !p.tags[i].value.empty(), "empty tag key or value");
          Check(p.tags[i].key != "time", "tag key time");
          if (i) Check(p.tags[i - 1].key < p.tags[i].key, "tags not sorted or not unique");
          Check(ReferenceUtf8(p.tags[i].key) && ReferenceUtf8(p.tags[i].value), "tag not UTF-8");
        }
        for (size_t i = 0; i < p.fields.size(); i++) {
          Check(!p.fields[i].key.empty(), "empty field key");
          Check(ReferenceUtf8(p.fields[i].key), "field key not UTF-8");
          if (p.fields[i].type == FieldType::kString)
            Check(ReferenceUtf8(p.fields[i].s), "string value not UTF-8");
          Check(p.fields[i].key != "time", "field key time");
          if (p.fields[i].type == FieldType::kFloat) Check(std::isfinite(p.fields[i].f), "non-finite float");
          for (size_t j = 0; j < i; j++) Check(p.fields[i].key != p.fields[j].key, "duplicate field key");
        }

        std::string key = SeriesKey(p.measurement, p.tags);
        std::string m;
        std::vector<std::pair<std::string, std::string>> tags;
        Check(ParseSeriesKey(key, &m, &tags).ok(), "ParseSeriesKey failed");
        Check(m == p.measurement, "series key measurement differs");
        Check(tags.size() == p.tags.size(), "series key tag count differs");
        for (size_t i = 0; i < tags.size(); i++) {
          Check(tags[i].first == p.tags[i].key && tags[i].second == p.tags[i].value,
                "series key tag differs");
        }

        if (Serialize(p, &line)) {
          std::vector<LineError> re_errors;
          size_t rn = reparser->Parse(
              line, {},
              [&](const Point& q) {
                Check(q.measurement == p.measurement, "rewritten measurement differs");
                Check(q.tags.size() == p.tags.size(), "rewritten tag count differs");
                for (size_t i = 0; i < q.tags.size(); i++) {
                  Check(q.tags[i].key == p.tags[i].key && q.tags[i].value == p.tags[i].value,
                        "rewritten tag differs");
                }
                Check(q.fields.size() == p.fields.size(), "rewritten field count differs");
                for (size_t i = 0; i < q.fields.size(); i++) {
                  if (!SameField(q.fields[i], p.fields[i])) {
                    std::fprintf(stderr, "rewritten line: %s\n", line.c_str());
                    Check(false, "rewritten field differs");
                  }
                }
                Check(q.timestamp == p.timestamp, "rewritten timestamp differs");
              },
              &re_errors);
          if (rn != 1) {
            std::fprintf(stderr, "rewritten line: %s\nerror: %s\n", line.c_str(),
                         re_errors.empty() ? "" : re_errors[0].reason.c_str());
          }
          Check(rn == 1, "rewritten line does not parse");
        }
      },
      &errors);
  Check(n == seen, "return value differs from callbacks");

  // Differential: the parser skips influxd's quote-aware line scan for most
  // lines; parsing each reference line on its own must give the same result.
  static Parser* line_parser = new Parser();
  std::vector<std::string> whole;
  parser->Parse(
      body, options, [&](const Point& p) { whole.emplace_back(SeriesKey(p.measurement, p.tags)); }, nullptr);
  std::vector<std::string> split;
  size_t split_errors = 0;
  for (std::string_view l : ReferenceLines(body)) {
    std::vector<LineError> le;
    line_parser->Parse(
        l, options, [&](const Point& p) { split.emplace_back(SeriesKey(p.measurement, p.tags)); }, &le);
    split_errors += le.size();
  }
  Check(whole == split, "per-line parse differs from whole-body parse");
  Check(split_errors == errors.size(), "per-line error count differs from whole-body parse");
  for (const LineError& e : errors) {
    Check(e.line >= 1, "error without line number");
    Check(!e.reason.empty(), "error without reason");
    Check(e.text.size() <= 256 * 3, "error text too long");
    Check(ReferenceUtf8(e.text) && ReferenceUtf8(e.reason), "error text or reason not UTF-8");
  }
  return 0;
}
