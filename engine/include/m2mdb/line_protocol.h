// m2mdb/line_protocol.h — InfluxDB line protocol for programs outside the
// engine (the m2mdb tool's import and export): escaping for writers, the
// series-key formatter, and a check of a body that says which lines /write would reject as unparsable
// and why. The parser itself stays internal (engine/lineproto/).
//
// Thread-safety: pure functions (CheckLineProtocol uses a per-call parser).
#ifndef M2MDB_LINE_PROTOCOL_H_
#define M2MDB_LINE_PROTOCOL_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "m2mdb/status.h"

namespace m2mdb {

// Appends `s` escaped as a measurement name (commas and spaces).
void AppendLineProtocolMeasurement(std::string* out, std::string_view s);
// Appends `s` escaped as a tag key, tag value or field key (commas, equals
// signs and spaces).
void AppendLineProtocolKey(std::string* out, std::string_view s);
// Appends `s` escaped as the inside of a string field value (quotes and
// backslashes), without the surrounding quotes.
void AppendLineProtocolString(std::string* out, std::string_view s);

// The canonical series key of `measurement` and `tags` (sorted by key): the
// escaped measurement, then ",key=value" per tag, e.g. "cpu,host=a\ b". It is
// the key DB::Series lists (SeriesKey::key) and SHOW SERIES prints, made by
// the engine's one formatter. Programs read keys as SeriesKey, never parse
// them.
std::string FormatSeriesKey(std::string_view measurement,
                            const std::vector<std::pair<std::string, std::string>>& tags);

// A line the parser rejects.
struct LineProtocolError {
  int line = 0;        // 1-based
  std::string reason;  // e.g. "invalid field format"
  std::string text;    // the line, cut to 256 bytes, invalid UTF-8 replaced by U+FFFD
};

// The lines of `body` that do not parse, with `precision` as for /write
// ("", "n", "ns", "u", "us", "ms", "s", "m", "h"); kInvalidArgument for an
// unknown precision. Type conflicts and limits are decided by the database,
// not here.
StatusOr<std::vector<LineProtocolError>> CheckLineProtocol(std::string_view body, std::string_view precision);

}  // namespace m2mdb

#endif  // M2MDB_LINE_PROTOCOL_H_
