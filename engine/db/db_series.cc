#include "engine/db/db_series.h"

#include "absl/strings/str_cat.h"

#include "engine/lineproto/lineproto.h"

namespace m2mdb {

Status AppendSeriesKeys(std::vector<std::pair<std::string, uint64_t>> matched, std::vector<SeriesKey>* out) {
  out->reserve(out->size() + matched.size());
  for (auto& [key, id] : matched) {
    SeriesKey s;
    Status st = lineproto::ParseSeriesKey(key, &s.measurement, &s.tags);
    if (!st.ok()) {
      return absl::InternalError(
          absl::StrCat("stored series key of series ", id, " unparsable: ", st.message()));
    }
    s.key = std::move(key);
    out->push_back(std::move(s));
  }
  return absl::OkStatus();
}

}  // namespace m2mdb
