// engine/db/db_series.h — the series listing of DB::Series: keys from the
// index turned into the public SeriesKey (measurement and tags parsed by the
// line-protocol codec, the only series-key parser).
#ifndef M2MDB_ENGINE_DB_DB_SERIES_H_
#define M2MDB_ENGINE_DB_DB_SERIES_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "m2mdb/db.h"

namespace m2mdb {

// Appends one SeriesKey per (canonical key, series id) of `matched`, in
// order. A stored key that does not parse is kInternal: the index only holds
// keys made by lineproto::SeriesKey.
Status AppendSeriesKeys(std::vector<std::pair<std::string, uint64_t>> matched, std::vector<SeriesKey>* out);

}  // namespace m2mdb

#endif  // M2MDB_ENGINE_DB_DB_SERIES_H_
