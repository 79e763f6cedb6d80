// Internal to engine/segment: the byte layout of a segment file. Nothing
// outside this folder may include it (docs/format/segment.md is the spec).
//
//   header  "M2SEG001" | version (u8)                          9 bytes
//   block*  encoded timestamps | encoded values | crc32c        4 bytes + codecs
//           (masked crc32c, fixed32, over the two encodings)
//   index   one entry per block, in block order, which is the
//           (series id, field id, min time) order; from version 2
//           preceded by a mode byte and possibly zstd-compressed
//           (IndexSection below)
//   footer  index offset (fixed64) | index length (fixed32) |
//           index crc32c (fixed32, masked) | block count (fixed32) |
//           "M2SEGEND"                                          28 bytes
//
// Blocks are contiguous and in index order, so an entry does not store its
// offset: block i starts where block i-1 ends (the first at kHeaderSize), and
// the last one ends exactly at the index offset.
//
// Index entry (every integer a varint unless noted):
//   series delta   series id - previous entry's series id (first: series id)
//   field          series delta == 0 ? field id - previous field id : field id
//   kind (u8)      FieldType (1..5); other values are corruption
//   count          points in the block, 1..kMaxBlockValues
//   time0          same (series, field) as the previous entry:
//                    min time - previous max time (> 0)
//                  else zigzag(min time - previous entry's min time)
//                  (the first entry: zigzag(min time))
//   span           max time - min time (as uint64)
//   stats          kFloat/kInteger/kUnsigned: flags (u8) then `first` and
//                  every value not covered by a flag (EncodeNumericStats);
//                  kBoolean: flags (u8: first, last, min, max bits), then
//                  varint number of trues; kString: nothing
//   times bytes    length of the encoded timestamps
//   values bytes   length of the encoded values
#ifndef M2MDB_ENGINE_SEGMENT_SEGMENT_FORMAT_H_
#define M2MDB_ENGINE_SEGMENT_SEGMENT_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/segment/segment.h"

namespace m2mdb::segment::format {

inline constexpr std::string_view kHeaderMagic = "M2SEG001";
inline constexpr std::string_view kFooterMagic = "M2SEGEND";
// Bumped when the layout changes incompatibly; readers refuse newer versions
// and read every older one. Version 2: the index section has a
// mode byte and may be one zstd frame; blocks may hold the entropy-coded int
// block schemes 6/7 (docs/format/encoding.md), which a version-1 reader
// would call corrupt, hence the bump. Version 3 (this writer): blocks may
// hold int block scheme 9 (entropy-coded residuals from a smoothed level),
// which a version-2 reader would call corrupt; the layout is version 2's.
inline constexpr uint8_t kFormatVersion = 3;
inline constexpr uint8_t kOldestFormatVersion = 1;
// Version-2 index section (the bytes the footer's offset, length and crc32c
// cover):
//   | 0 u8 | index entries |                                   (raw)
//   | 1 u8 | raw length varint | zstd frame of the entries |    (compressed)
// Why: an entry is 10-40 bytes, mostly small varints and repeated stats,
// and a segment of very many short series (100 k series x 5 points) is
// half index; zstd takes most of that (docs/format/segment.md).
inline constexpr uint8_t kIndexRaw = 0;
inline constexpr uint8_t kIndexZstd = 1;
// A compressed index is at most this many times its stored size (the
// writer stores it raw otherwise), so a hostile length cannot make the
// reader allocate more than a bounded multiple of the file.
inline constexpr size_t kMaxIndexExpansion = 64;
// Builds the version-2 index section from the raw entries.
std::string EncodeIndexSection(std::string_view entries);
// Inverse: *entries views either `section` or *scratch. Returns a
// description of the damage, or nullptr.
const char* DecodeIndexSection(std::string_view section, std::string* scratch, std::string_view* entries);
inline constexpr size_t kHeaderSize = 9;
inline constexpr size_t kFooterSize = 8 + 4 + 4 + 4 + 8;
inline constexpr size_t kBlockTrailerSize = 4;  // crc32c
// The smallest possible index entry (a string block, every varint one byte):
// bounds the block count a footer may claim for a given index length, so a
// hostile footer cannot make the reader reserve gigabytes.
inline constexpr size_t kMinIndexEntrySize = 8;

// Flags of the numeric stats byte: a set bit means the value is not stored
// because it equals (bitwise, for floats) the one named.
enum StatFlag : uint8_t {
  kLastIsFirst = 1 << 0,
  kMinIsFirst = 1 << 1,
  kMinIsLast = 1 << 2,
  kMaxIsFirst = 1 << 3,
  kMaxIsLast = 1 << 4,
  kSumIsFirst = 1 << 5,
  kNumericFlagsMask = 0x3f,
};
// Flags of the boolean stats byte: the values themselves.
enum BoolFlag : uint8_t {
  kBoolFirst = 1 << 0,
  kBoolLast = 1 << 1,
  kBoolMin = 1 << 2,
  kBoolMax = 1 << 3,
  kBoolFlagsMask = 0x0f,
};

// Statistics of points [begin, end) of `c` (non-empty), per the BlockStats
// contract: float min/max skip NaN (all NaN: min = max = first), ties keep
// the earliest value, sums are accumulated in time order from zero and wrap
// for integers.
BlockStats ComputeStats(const Column& c, size_t begin, size_t end);

// True if every member of `a` and `b` is bitwise equal.
bool SameStats(const BlockStats& a, const BlockStats& b);

// Keeps the delta state between consecutive index entries.
struct IndexCursor {
  bool first = true;
  uint64_t series_id = 0;
  uint32_t field_id = 0;
  int64_t min_time = 0;
  int64_t max_time = 0;
};

// Appends the entry for `h` (whose key must not sort before the cursor's)
// to `dst` and advances `cursor`. h.offset is not stored.
void EncodeIndexEntry(const BlockHandle& h, IndexCursor* cursor, std::string* dst);

// Decodes one entry from `*in` into `h` (offset left untouched) and advances
// `*in` and `cursor`. Returns a description of the damage, or nullptr. Checks
// everything that can be checked locally: type, count, order against the
// previous entry, time range, stats flags.
const char* DecodeIndexEntry(std::string_view* in, IndexCursor* cursor, BlockHandle* h);

}  // namespace m2mdb::segment::format

#endif  // M2MDB_ENGINE_SEGMENT_SEGMENT_FORMAT_H_
