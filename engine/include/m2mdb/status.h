// m2mdb/status.h — the error type used at every module boundary.
//
// m2mdb reports errors as absl::Status / absl::StatusOr and never throws across
// its public API. Debian 12's Abseil (20220623) has no status macros, so this
// header supplies the two we use everywhere.
//
// Code conventions (see docs/architecture.md):
//   kInvalidArgument   bad input from a caller (line protocol, query text, options)
//   kNotFound          a database, measurement or file that does not exist
//   kAlreadyExists     create of something that exists
//   kFailedPrecondition schema conflicts (field type), closed database
//   kResourceExhausted a configured limit was hit
//   kDataLoss          corruption detected on disk (checksum, truncated block)
//   kInternal / kUnavailable  I/O failures and our own bugs
#ifndef M2MDB_STATUS_H_
#define M2MDB_STATUS_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace m2mdb {

using Status = absl::Status;
template <typename T>
using StatusOr = absl::StatusOr<T>;

// Debian's Abseil keeps absl::string_view distinct from std::string_view;
// these convert without copying.
inline absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}
inline std::string_view ToStd(absl::string_view s) {
  return std::string_view(s.data(), s.size());
}

// Returns a copy of `s` with `context` prepended to the message
// ("context: message"), keeping the code. OK stays OK.
inline Status Annotate(const Status& s, std::string_view context) {
  if (s.ok()) return s;
  std::string msg(context);
  msg += ": ";
  msg += ToStd(s.message());
  return Status(s.code(), msg);
}

}  // namespace m2mdb

#define M2MDB_STATUS_CONCAT_INNER_(a, b) a##b
#define M2MDB_STATUS_CONCAT_(a, b) M2MDB_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (a Status); returns it from the enclosing function if not OK.
#define RETURN_IF_ERROR(expr)                             \
  do {                                                    \
    ::absl::Status m2mdb_status_tmp_ = (expr);            \
    if (!m2mdb_status_tmp_.ok()) return m2mdb_status_tmp_; \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (a StatusOr<T>); on error
// returns the status, else assigns the value to `lhs` (which may declare a
// variable, e.g. `auto x`).
#define ASSIGN_OR_RETURN(lhs, expr)                                        \
  M2MDB_ASSIGN_OR_RETURN_IMPL_(M2MDB_STATUS_CONCAT_(m2mdb_statusor_, __LINE__), \
                               lhs, expr)
#define M2MDB_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

#endif  // M2MDB_STATUS_H_
