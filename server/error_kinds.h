// The one table that turns an error into what the server does with it: the
// HTTP status and the limit metric (GET /metrics) of each m2mdb::ErrorKind
// (m2mdb/status.h), and the status of a request-level failure. The kinds are
// set where the errors are made (engine/lineproto, engine/db, query/exec);
// no decision in server/ reads an error message, so rewording one changes
// only its text.
//
// Thread-safety: constant data.
#ifndef M2MDB_SERVER_ERROR_KINDS_H_
#define M2MDB_SERVER_ERROR_KINDS_H_

#include <optional>

#include "m2mdb/status.h"
#include "server/metrics.h"

namespace m2mdb::server {

struct ErrorKindAction {
  ErrorKind kind;
  // The status of an answer carrying this error: 400 for a write with a
  // rejected line (InfluxDB's partial write), 200 for a statement error
  // (influxd answers it inside "results"), 0 = decided by the status code.
  int http_status;
  // A rejected line of this kind is a parse error: InfluxDB's message joins
  // the parse errors, and names only the first of the other rejections.
  bool parse_error;
  // The limit counter it adds to (m2mdb_limit_rejections_total).
  std::optional<Limit> limit;
};

// The row for `kind` (kUnspecified for a value past the table).
const ErrorKindAction& ActionFor(ErrorKind kind);

// The HTTP status of a request that failed as a whole with `s` (not OK):
// its kind's, else by code — kNotFound 404, kInvalidArgument 400, else 500.
int HttpStatusFor(const Status& s);

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_ERROR_KINDS_H_
