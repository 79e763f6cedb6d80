// query/format/format.h — rendering helpers shared by the result writers
// (ToInfluxJson, ToCsv, ToTable in m2mdb/query/executor.h).
#ifndef M2MDB_QUERY_FORMAT_FORMAT_H_
#define M2MDB_QUERY_FORMAT_FORMAT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/time/time.h"

#include "m2mdb/query/executor.h"

namespace m2mdb::query::format {

// A float64 as InfluxDB's JSON encoder (Go encoding/json) prints it: the
// shortest round-trip digits, plain notation for 1e-6 <= |f| < 1e21 and
// exponent notation ("1e+21", "1e-7") outside; NaN and Inf print "null".
void AppendFloat(double f, std::string* out);
// The same text written to `buf` (at least kMaxFloatChars bytes); returns
// its length.
inline constexpr size_t kMaxFloatChars = 64;  // the longest is ~25 ("-2.2250738585072014e-308")
size_t FormatFloatTo(double f, char* buf);
std::string FormatFloat(double f);

// Go's time.RFC3339Nano in UTC: "2006-01-02T15:04:05.999999999Z" with
// trailing zeros of the fraction trimmed (and no fraction when it is 0).
std::string FormatRfc3339Nano(int64_t ns);
// The same in `zone` (tz('...')): the local time and its offset, "+01:00",
// or "Z" when the offset is 0 (Go's "Z07:00").
std::string FormatRfc3339NanoIn(int64_t ns, const absl::TimeZone& zone);

// The zone of a series' times (ResultSeries::time_zone) into *zone; nullptr
// for UTC (the common case, and the fast one) and for an unknown name.
const absl::TimeZone* SeriesZone(const ResultSeries& s, absl::TimeZone* zone);

// Nanoseconds per unit of a JSON `epoch` value ("ns", "u", "ms", ...); 0 for
// "" (RFC3339 strings) and for an unknown unit (also treated as RFC3339, as influxd does).
int64_t EpochDivisor(std::string_view epoch);

// A JSON string literal with Go's escaping (<, >, & escaped as \u003c...).
// The query answers' own hand-tuned escaper: it stays apart from the shared
// one (m2mdb/json.h) because it is on the path of every answer and measured
// faster there, and because influxd's answers escape <, > and &.
void AppendJsonString(std::string_view s, std::string* out);

// A cell rendered for text output (CSV/table): floats as in JSON, strings
// raw, null empty, the time column per `epoch`.
std::string CellText(const Value& v, bool is_time, int64_t epoch_div, const absl::TimeZone* zone = nullptr);

}  // namespace m2mdb::query::format

#endif  // M2MDB_QUERY_FORMAT_FORMAT_H_
