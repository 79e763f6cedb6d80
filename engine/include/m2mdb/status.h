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

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"

namespace m2mdb {

using Status = absl::Status;
template <typename T>
using StatusOr = absl::StatusOr<T>;

// Debian's Abseil keeps absl::string_view distinct from std::string_view;
// these convert without copying.
inline absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view ToStd(absl::string_view s) { return std::string_view(s.data(), s.size()); }

// What kind of error a Status, a rejected line (WriteError::kind) or a
// failed statement (query::StatementResult::kind) is, for the programs that
// must act on it: the server picks HTTP statuses and limit metrics by kind
// (server/error_kinds.h), never by reading the message, so rewording a
// message changes nothing else. Not persisted; values may be added.
enum class ErrorKind : uint8_t {
  kUnspecified = 0,  // no kind attached: decide by the status code alone
  kParse,            // line protocol that does not parse ("unable to parse ...")
  kLineTooLong,      // a line longer than WriteOptions::max_line_length (also a parse error)
  kSeriesLimit,      // a new series past Options::max_series_per_database
  kQueryTimeout,     // a statement ran past QueryOptions::timeout
  kQueryMemory,      // a statement needed more than the query memory limit
};

// The payload type URL that carries an ErrorKind on an absl::Status.
inline constexpr char kErrorKindPayload[] = "type.m2mdb/ErrorKind";

// `s` with `kind` attached (an OK status stays OK, without a kind).
inline Status WithErrorKind(Status s, ErrorKind kind) {
  if (!s.ok()) s.SetPayload(kErrorKindPayload, absl::Cord(std::string(1, static_cast<char>(kind))));
  return s;
}
// The kind attached to `s`, or kUnspecified.
inline ErrorKind ErrorKindOf(const Status& s) {
  auto p = s.GetPayload(kErrorKindPayload);
  if (!p || p->size() != 1) return ErrorKind::kUnspecified;
  return static_cast<ErrorKind>(static_cast<uint8_t>((*p)[0]));
}

// Returns a copy of `s` with `context` prepended to the message
// ("context: message"), keeping the code and the payloads (the ErrorKind).
// OK stays OK.
inline Status Annotate(const Status& s, std::string_view context) {
  if (s.ok()) return s;
  std::string msg(context);
  msg += ": ";
  msg += ToStd(s.message());
  Status out(s.code(), msg);
  s.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

}  // namespace m2mdb

#define M2MDB_STATUS_CONCAT_INNER_(a, b) a##b
#define M2MDB_STATUS_CONCAT_(a, b) M2MDB_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (a Status); returns it from the enclosing function if not OK.
#define RETURN_IF_ERROR(expr)                              \
  do {                                                     \
    ::absl::Status m2mdb_status_tmp_ = (expr);             \
    if (!m2mdb_status_tmp_.ok()) return m2mdb_status_tmp_; \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (a StatusOr<T>); on error
// returns the status, else assigns the value to `lhs` (which may declare a
// variable, e.g. `auto x`).
#define ASSIGN_OR_RETURN(lhs, expr) \
  M2MDB_ASSIGN_OR_RETURN_IMPL_(M2MDB_STATUS_CONCAT_(m2mdb_statusor_, __LINE__), lhs, expr)
#define M2MDB_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

#endif  // M2MDB_STATUS_H_
