// InfluxDB-style error answers (api_response.h).
#include "server/api_response.h"

#include "m2mdb/json.h"

namespace m2mdb::server {

std::string ErrorBody(std::string_view message) {
  std::string out = "{\"error\":";
  AppendJsonString(&out, message);
  out += "}\n";
  return out;
}

std::string HeaderSafe(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 1024)) {
    unsigned char u = c;
    out.push_back(u < 0x20 || u == 0x7F ? ' ' : c);
  }
  return out;
}

void SetError(Response& res, int status, std::string_view message) {
  res.status = status;
  res.SetHeader("X-Influxdb-Error", HeaderSafe(message));
  res.SetContent(ErrorBody(message), "application/json");
}

const char* StatusText(int status) {
  switch (status) {
    case 400:
      return "bad request";
    case 408:
      return "request timeout";
    case 413:
      return "request body too large";
    case 414:
      return "request URI too long";
    case 415:
      return "unsupported content encoding";
    case 416:
      return "range not satisfiable";
    case 417:
      return "expectation failed";
    default:
      return status >= 500 ? "internal error" : "request error";
  }
}

}  // namespace m2mdb::server
