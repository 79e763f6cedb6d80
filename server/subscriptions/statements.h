// InfluxQL's subscription statements, parsed and run by the server (the
// subscriptions live in server/subscriptions, which the query layer knows
// nothing of; the same split as server/user_statements.h):
//
//   CREATE SUBSCRIPTION name ON db[.rp] DESTINATIONS ALL|ANY 'url' [, 'url' ...]
//       [BACKLOG size [age]] [WHEN FULL DROP OLDEST | WHEN FULL REFUSE WRITES]
//       [VERIFY EVERY interval [WINDOW duration] [RESEND]]
//   SHOW SUBSCRIPTIONS
//   DROP SUBSCRIPTION name ON db[.rp]
//   VERIFY SUBSCRIPTION name ON db[.rp] [DESTINATION 'url'] [START 'rfc3339']
//       [END 'rfc3339'] [RESEND]
//
// influxd requires `db.rp`; `ON db` (the default policy), the BACKLOG, WHEN
// FULL and VERIFY EVERY clauses and VERIFY SUBSCRIPTION are m2mdb's
// (docs/query-language.md, docs/edge.md).
#ifndef M2MDB_SERVER_SUBSCRIPTIONS_STATEMENTS_H_
#define M2MDB_SERVER_SUBSCRIPTIONS_STATEMENTS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "m2mdb/status.h"

namespace m2mdb::server {

// The backlog bound of a subscription: how much WAL its slowest destination
// may keep on disk, and what happens beyond it.
struct BacklogLimits {
  // Default: 1 GiB, a few days of a busy gateway's telemetry (docs/edge.md).
  uint64_t max_bytes = 1ull << 30;
  // Default: 7 days; 0 = no age bound.
  int64_t max_age_seconds = 7 * 86400;
  // false: drop the oldest unsent writes (counted); true: refuse local writes
  // to the database until the backlog drains. Default: drop oldest.
  bool refuse_writes = false;
};

// Periodic verification of a subscription's destinations (verify.h): every
// `every_seconds`, the whole hours of the last `window_seconds` that the
// sender has delivered are compared; with `resend`, those that differ are
// written again.
// Bounds of VERIFY EVERY's interval and window (beyond them the waits and
// nanosecond ranges would overflow).
inline constexpr int64_t kMaxVerifyEverySeconds = 366 * 86400;
// Each destination of ALL has a sender thread and a copy of the definition
// (with every destination): 40 000 destinations in one statement took more
// than 6 GB before the first thread started.
inline constexpr size_t kMaxDestinations = 64;
inline constexpr int64_t kMaxVerifyWindowSeconds = 3660LL * 86400;

struct VerifySchedule {
  int64_t every_seconds = 0;  // 0: no periodic verification (the default)
  // Default: 24 hours.
  int64_t window_seconds = 86400;
  bool resend = false;
};

struct SubscriptionStatement {
  enum class Kind { kCreate, kShow, kDrop, kVerify };
  Kind kind = Kind::kShow;
  std::string name;
  std::string database;
  std::string retention_policy;  // empty: `ON db`, the default policy
  bool any = false;              // ANY (one destination, failing over) vs ALL
  std::vector<std::string> destinations;
  BacklogLimits limits;
  VerifySchedule verify;  // kCreate's VERIFY EVERY clause
  // kVerify: one destination (as given to CREATE, or as SHOW masks it);
  // empty = every destination.
  std::string destination;
  // kVerify: the range in ns, whole hours from start's; 0 = not given (the
  // last 24 hours up to now).
  int64_t start_ns = 0, end_ns = 0;
  bool resend = false;  // kVerify: RESEND
};

// True if `q` starts with CREATE SUBSCRIPTION, SHOW SUBSCRIPTIONS, DROP
// SUBSCRIPTION or VERIFY SUBSCRIPTION (case-insensitive, after blanks).
bool IsSubscriptionQuery(std::string_view q);

// The statements of `q` (every one must be a subscription statement), or
// InvalidArgument with influxd's "error parsing query: ..." wording.
StatusOr<std::vector<SubscriptionStatement>> ParseSubscriptionStatements(std::string_view q);

// "http[s]://[user:pass@]host[:port]" -> the URL without credentials and
// the credentials; false (and nothing set) for anything else (influxd:
// "invalid subscription URL: ...").
bool SplitDestination(std::string_view url, std::string* base, std::string* user, std::string* password);
// The URL as shown (SHOW SUBSCRIPTIONS, logs, metrics): the password masked.
std::string MaskedDestination(std::string_view url);
// The VERIFY EVERY clause as written back (SHOW SUBSCRIPTIONS); "" when off.
std::string FormatVerifySchedule(const VerifySchedule& v);

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_SUBSCRIPTIONS_STATEMENTS_H_
