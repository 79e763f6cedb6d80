// How the API answers errors, as InfluxDB does: a JSON body {"error":"..."}
// and the same message in the X-Influxdb-Error header; the version we report.
#ifndef M2MDB_SERVER_API_RESPONSE_H_
#define M2MDB_SERVER_API_RESPONSE_H_

#include <string>
#include <string_view>

#include "server/http_types.h"

namespace m2mdb::server {

// What we answer in X-Influxdb-Version: the InfluxDB API level we follow
// (1.8 added /api/v2/write and /health), then our own version.
inline constexpr char kInfluxVersion[] = "1.8.10-m2mdb-0.1.0";
inline constexpr char kVersion[] = "0.1.0";

// {"error":<message>}\n
std::string ErrorBody(std::string_view message);
// InfluxDB also puts the error in a header; keep it one printable line.
std::string HeaderSafe(std::string_view s);
// Sets status, X-Influxdb-Error and the JSON error body.
void SetError(Response& res, int status, std::string_view message);
// The message of an error the connection loop answers itself (bad request
// line, URI too long, ...), whose body is empty.
const char* StatusText(int status);

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_API_RESPONSE_H_
