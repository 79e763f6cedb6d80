// Implements m2mdb/line_protocol.h over engine/lineproto. Built into
// m2mdb_engine (not m2mdb_lineproto) so that a program linking only the
// public engine library gets it.
#include "engine/lineproto/lineproto.h"
#include "m2mdb/line_protocol.h"

namespace m2mdb {

void AppendLineProtocolMeasurement(std::string* out, std::string_view s) {
  lineproto::AppendEscapedMeasurement(out, s);
}
void AppendLineProtocolKey(std::string* out, std::string_view s) { lineproto::AppendEscapedKey(out, s); }
void AppendLineProtocolString(std::string* out, std::string_view s) {
  lineproto::AppendEscapedStringValue(out, s);
}

std::string FormatSeriesKey(std::string_view measurement,
                            const std::vector<std::pair<std::string, std::string>>& tags) {
  std::vector<lineproto::Tag> views;
  views.reserve(tags.size());
  for (const auto& [k, v] : tags) views.push_back({k, v});
  return lineproto::SeriesKey(measurement, views);
}

StatusOr<std::vector<LineProtocolError>> CheckLineProtocol(std::string_view body,
                                                           std::string_view precision) {
  auto p = lineproto::ParsePrecision(precision);
  if (!p.ok()) return p.status();
  lineproto::ParseOptions options;
  options.precision = *p;
  lineproto::Parser parser;
  std::vector<lineproto::LineError> errors;
  parser.Parse(
      body, options, [](const lineproto::Point&) {}, &errors);
  std::vector<LineProtocolError> out;
  out.reserve(errors.size());
  for (auto& e : errors) out.push_back({e.line, std::move(e.reason), std::move(e.text)});
  return out;
}

}  // namespace m2mdb
