// InfluxDB 1.x line protocol: a zero-copy parser with per-line errors, and
// the escaping helpers used to write line protocol and series keys.
//
//   measurement[,tag=value...] field=value[,field=value...] [timestamp]
//
// Escaping follows InfluxDB 1.x exactly (verified against influxd 1.6, see
// docs/line-protocol.md); a backslash before any other byte stays as is:
//   measurement: "\," "\ " and also "\=" "\"" (influxd unescapes those too)
//   tag keys, tag values: "\," "\=" "\ "
//   field keys: "\," "\=" "\ " "\""
//   string field values: "\"" and "\\"
// A delimiter in a measurement, tag or field key is escaped when the byte
// before it is a backslash (so "a\\,b" keeps the comma escaped, as influxd).
#ifndef M2MDB_ENGINE_LINEPROTO_LINEPROTO_H_
#define M2MDB_ENGINE_LINEPROTO_LINEPROTO_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"

#include "m2mdb/status.h"
#include "m2mdb/types.h"

namespace m2mdb::lineproto {

enum class Precision : uint8_t { kNanosecond, kMicrosecond, kMillisecond, kSecond, kMinute, kHour };

// Accepts what InfluxDB's /write (v1) and /api/v2/write accept:
// "" (= ns), "n", "ns", "u", "us", "µ", "ms", "s", "m", "h". Else kInvalidArgument.
StatusOr<Precision> ParsePrecision(std::string_view s);
// Nanoseconds per unit of `p`.
int64_t PrecisionMultiplier(Precision p);

struct Tag {
  std::string_view key;    // unescaped
  std::string_view value;  // unescaped
};

struct Field {
  std::string_view key;  // unescaped
  FieldType type = FieldType::kFloat;
  union {
    double f;
    int64_t i;
    uint64_t u;
    bool b;
  };
  std::string_view s;  // kString: unescaped text
  Field() : f(0) {}
};

// One parsed line. All views point into the request body or into the
// parser's scratch space and are valid only during the callback.
struct Point {
  std::string_view measurement;  // unescaped
  // The measurement and tags exactly as written (escaped, tags in input
  // order), e.g. "cpu,region=eu,host=a". Two spellings of one series differ
  // here but share SeriesKey(); writers use it as a cache key.
  std::string_view series_raw;
  std::vector<Tag> tags;      // unescaped, sorted by key, keys unique
  std::vector<Field> fields;  // input order, keys unique
  int64_t timestamp = 0;      // nanoseconds (precision applied, or the default time)
  int line = 0;               // 1-based line number in the body
};

// The longest series key (escaped measurement and tags) a line may have, in
// bytes: influxd's models.MaxKeyLength. Longer lines are rejected with
// "max key length exceeded: N > 65535".
constexpr size_t kMaxSeriesKeyLength = 65535;

struct LineError {
  int line = 0;        // 1-based
  std::string reason;  // e.g. "invalid field format", "duplicate tags"
  std::string text;    // the offending line, cut to 256 bytes; each byte of
                       // invalid UTF-8 in it replaced by U+FFFD
  ErrorKind kind = ErrorKind::kParse;  // or kLineTooLong
};

struct ParseOptions {
  Precision precision = Precision::kNanosecond;
  // Timestamp given to lines without one (ns). Callers pass "now".
  int64_t default_time = 0;
  // Lines longer than this (bytes) are rejected; 0 = no limit.
  size_t max_line_length = 0;
};

// Not thread-safe; use one Parser per thread. Reusing a Parser avoids
// allocations.
class Parser {
 public:
  Parser();
  // Parses every line of `body`. Calls `on_point` for each valid line, in
  // order, and appends one LineError to `errors` for each invalid one.
  // Blank lines and lines starting with '#' (after leading whitespace) are
  // skipped. Lines end at '\n' ("\r\n" accepted) except inside a quoted
  // string field value (and right after a backslash, as influxd's scanLine).
  // Returns the number of valid points. `errors` may be null.
  size_t Parse(std::string_view body, const ParseOptions& options,
               absl::FunctionRef<void(const Point&)> on_point, std::vector<LineError>* errors);

 private:
  // Parses one line (without newline, leading whitespace or trailing '\r')
  // into point_; on failure sets error_ and returns false.
  bool ParseLine(const char* b, const char* e, int64_t multiplier, int64_t default_time);
  bool ParseNumber(const char* p, const char* end, Field* f);
  bool ParseBoolean(const char* p, const char* end, Field* f);
  // Unescapes `raw` (escape pairs in `set`) into scratch_ and returns a view
  // of the result; `line_len` bounds the line's total so views stay valid.
  std::string_view Unescape(std::string_view raw, uint8_t set, size_t line_len);
  bool Fail(const char* reason);
  // Checks the measurement, tag keys and values and field keys of point_
  // for valid UTF-8 (string values are checked as they are scanned); on
  // failure sets error_ and returns false.
  bool ValidateUtf8();
  // For lines past kLinearFields fields: the earlier field of
  // point_.fields with the last one's key, or null, through field_index_
  // (built on the first call of a line, which sets *indexed: every later
  // field of the line must come here too).
  Field* FindEarlierField(bool* indexed);

  // Lines with more fields than this find duplicate keys through
  // field_index_ instead of a linear scan.
  static constexpr size_t kLinearFields = 32;

  std::string scratch_;  // unescaped tokens of the current line
  // Field key -> index in point_.fields, for lines past kLinearFields.
  absl::flat_hash_map<std::string_view, size_t> field_index_;
  std::string error_;       // reason of the last failed line
  bool backslash_ = false;  // the current line has a backslash outside strings
  bool quote_ = false;      // the current line has a '"'
  bool high_ = false;       // a name or key of the current line has a byte >= 0x80
  Point point_;
};

// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or code
// points above U+10FFFF; Go's utf8.ValidString). The parser rejects a line
// whose measurement, tag keys or values, field keys or string values are not.
bool IsValidUtf8(std::string_view s);

// Escaping for writers (export, series keys).
void AppendEscapedMeasurement(std::string* out, std::string_view s);
void AppendEscapedKey(std::string* out, std::string_view s);          // tag key, tag value, field key
void AppendEscapedStringValue(std::string* out, std::string_view s);  // without the quotes

// The canonical series key: escaped measurement, then ",key=value" for each
// tag sorted by key, e.g. "cpu,host=a\ b,region=eu". `tags` must be sorted.
// Round-trips through ParseSeriesKey for every name the parser produces; a
// name ending in a backslash cannot be represented (as in InfluxDB).
std::string SeriesKey(std::string_view measurement, const std::vector<Tag>& tags);
// Inverse of SeriesKey: unescaped measurement and tags (in key order).
Status ParseSeriesKey(std::string_view key, std::string* measurement,
                      std::vector<std::pair<std::string, std::string>>* tags);

}  // namespace m2mdb::lineproto

#endif  // M2MDB_ENGINE_LINEPROTO_LINEPROTO_H_
