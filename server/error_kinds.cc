// Implements server/error_kinds.h.
#include "server/error_kinds.h"

#include <array>
#include <cstddef>

namespace m2mdb::server {
namespace {

// Indexed by ErrorKind; the static_assert below keeps rows and enum in step.
constexpr std::array<ErrorKindAction, 6> kActions = {{
    {ErrorKind::kUnspecified, 0, false, std::nullopt},
    {ErrorKind::kParse, 400, true, std::nullopt},
    {ErrorKind::kLineTooLong, 400, true, Limit::kLineLength},
    {ErrorKind::kSeriesLimit, 400, false, Limit::kSeries},
    {ErrorKind::kQueryTimeout, 200, false, Limit::kQueryTimeout},
    {ErrorKind::kQueryMemory, 200, false, Limit::kQueryMemory},
}};

constexpr bool RowsMatchKinds() {
  for (size_t i = 0; i < kActions.size(); i++) {
    if (static_cast<size_t>(kActions[i].kind) != i) return false;
  }
  return true;
}
static_assert(RowsMatchKinds(), "kActions must list every ErrorKind in enum order");
static_assert(kActions.size() == static_cast<size_t>(ErrorKind::kQueryMemory) + 1, "a kind has no row");

}  // namespace

const ErrorKindAction& ActionFor(ErrorKind kind) {
  size_t i = static_cast<size_t>(kind);
  return i < kActions.size() ? kActions[i] : kActions[0];
}

int HttpStatusFor(const Status& s) {
  if (int k = ActionFor(ErrorKindOf(s)).http_status; k != 0) return k;
  switch (s.code()) {
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kInvalidArgument:
      return 400;
    default:
      return 500;
  }
}

}  // namespace m2mdb::server
