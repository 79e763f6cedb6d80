// The flushed data as the engine sees it: the registered segment files
// (SegmentRef) and an immutable Version (segments + tombstones) that reads
// take a reference to. DBImpl publishes a new Version after each flush,
// compaction, retention round or delete; the functions of compaction.h
// compute what goes into it.
#ifndef M2MDB_ENGINE_COMPACTION_VERSION_H_
#define M2MDB_ENGINE_COMPACTION_VERSION_H_

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "engine/index/index.h"
#include "engine/segment/segment.h"
#include "m2mdb/status.h"

namespace m2mdb {

// A registered segment file, shared by every Version that lists it.
struct SegmentRef {
  index::SegmentMeta meta;
  std::unique_ptr<segment::SegmentReader> reader;  // null if it failed to open
  Status open_status;                              // why, if so
  std::string path;
  // Set when the segment is removed from the catalog: the file is deleted
  // when the last reader lets go of this object.
  std::atomic<bool> obsolete{false};
  ~SegmentRef();
};

// An immutable view of the flushed data.
struct Version {
  std::vector<std::shared_ptr<SegmentRef>> segments;  // ascending id = ascending priority
  std::vector<index::Tombstone> tombstones;
};

// Whether tombstone `t` applies to the points of `series_id` in segment
// `segment_id` of database `db_id` (segments written after it are not).
inline bool TombstoneCovers(const index::Tombstone& t, uint32_t db_id, uint64_t series_id,
                            uint64_t segment_id) {
  return t.db_id == db_id && segment_id <= t.seq &&
         std::binary_search(t.series_ids.begin(), t.series_ids.end(), series_id);
}

// `base` with `added` and without `removed` (those are marked obsolete: their
// files go when the last snapshot lets go), and with `tombstones` if given.
std::shared_ptr<const Version> EditVersion(const Version& base,
                                           const std::vector<std::shared_ptr<SegmentRef>>& added,
                                           const std::vector<uint64_t>& removed,
                                           const std::vector<index::Tombstone>* tombstones);

}  // namespace m2mdb

#endif  // M2MDB_ENGINE_COMPACTION_VERSION_H_
