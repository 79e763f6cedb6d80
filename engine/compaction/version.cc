// SegmentRef's lifetime (an obsolete file goes with its last reader) and
// EditVersion, the one way a new Version is made from the current one.
#include "engine/compaction/version.h"

#include <algorithm>

#include "engine/util/file.h"
#include "engine/util/logging.h"

namespace m2mdb {

SegmentRef::~SegmentRef() {
  reader.reset();
  if (obsolete.load()) {
    Status s = RemoveFile(path);
    if (!s.ok()) LogWarning("removing obsolete segment: ", s.ToString());
  }
}

std::shared_ptr<const Version> EditVersion(const Version& base,
                                           const std::vector<std::shared_ptr<SegmentRef>>& added,
                                           const std::vector<uint64_t>& removed,
                                           const std::vector<index::Tombstone>* tombstones) {
  auto v = std::make_shared<Version>();
  for (const auto& s : base.segments) {
    if (std::find(removed.begin(), removed.end(), s->meta.id) != removed.end()) {
      s->obsolete = true;  // deleted when the last snapshot lets go
      continue;
    }
    v->segments.push_back(s);
  }
  for (const auto& s : added) v->segments.push_back(s);
  std::sort(v->segments.begin(), v->segments.end(),
            [](const auto& a, const auto& b) { return a->meta.id < b->meta.id; });
  v->tombstones = tombstones ? *tombstones : base.tombstones;
  return v;
}

}  // namespace m2mdb
