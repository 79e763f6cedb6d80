// The `params` form value of /query, read with nlohmann-json (params.h).
#include "server/params.h"

#include <cstdint>

#include <nlohmann/json.hpp>

namespace m2mdb::server {

// The `params` form value: a flat JSON object of strings, numbers and bools
// (InfluxDB's bound parameters), read with nlohmann-json. The two messages
// are the ones clients see; anything but such an object is refused.
bool ParseJsonParams(std::string_view s, query::ParseOptions* po, std::string* err) {
  size_t first = s.find_first_not_of(" \t\r\n\f\v");
  if (first == std::string_view::npos || s[first] != '{') {
    *err = "params must be a JSON object";
    return false;
  }
  nlohmann::json doc = nlohmann::json::parse(s.begin(), s.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  bool ok = doc.is_object();
  for (auto it = ok ? doc.begin() : doc.end(); ok && it != doc.end(); ++it) {
    const nlohmann::json& v = it.value();
    switch (v.type()) {
      case nlohmann::json::value_t::string:
        po->params[it.key()] = query::ParamValue::String(v.get<std::string>());
        break;
      case nlohmann::json::value_t::boolean:
        po->params[it.key()] = query::ParamValue::Boolean(v.get<bool>());
        break;
      case nlohmann::json::value_t::number_integer:
        po->params[it.key()] = query::ParamValue::Integer(v.get<int64_t>());
        break;
      case nlohmann::json::value_t::number_unsigned:
        // Past INT64_MAX a number is a float, as the parser it replaced read it.
        if (v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX)) {
          po->params[it.key()] = query::ParamValue::Integer(static_cast<int64_t>(v.get<uint64_t>()));
        } else {
          po->params[it.key()] = query::ParamValue::Float(static_cast<double>(v.get<uint64_t>()));
        }
        break;
      case nlohmann::json::value_t::number_float:
        po->params[it.key()] = query::ParamValue::Float(v.get<double>());
        break;
      default:  // null, arrays and objects bind to nothing
        ok = false;
    }
  }
  if (ok) return true;
  *err = "error parsing query parameters: invalid JSON";
  return false;
}

}  // namespace m2mdb::server
