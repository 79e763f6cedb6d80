// Segment files: immutable, columnar, one per (partition, flush or compaction).
//
// Layout (docs/format/segment.md; constants in segment_format.h):
//   header  "M2SEG001" (8 bytes) | format version (1 byte)
//   blocks  one per (series, field, up to max_block_points points), each:
//           encoded timestamps | encoded values | crc32c (fixed32) of both
//   index   one entry per block, sorted by (series id, field id, min time),
//           delta- and varint-coded: series id, field id, type, count,
//           min/max time, stats, length of timestamps, length of values
//           (offsets are implied: blocks are contiguous in index order)
//   footer  index offset (fixed64) | index length (fixed32) |
//           index crc32c (fixed32) | block count (fixed32) | "M2SEGEND"
//
// Encodings come from engine/encoding/codec.h; nothing outside this module
// knows the byte layout.
//
// Thread-safety: a SegmentWriter is used by one thread. A SegmentReader is
// immutable after Open and safe for concurrent reads.
#ifndef M2MDB_ENGINE_SEGMENT_SEGMENT_H_
#define M2MDB_ENGINE_SEGMENT_SEGMENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "m2mdb/column.h"
#include "m2mdb/status.h"
#include "m2mdb/types.h"

namespace m2mdb::segment {

// Per-block statistics, in the field's own type. For kFloat the *_f members
// hold min, max, sum, first, last; for kInteger the *_i members; for
// kUnsigned the *_u members; for kBoolean min/max are in *_i (0/1) and sum_i
// is the number of trues; for kString only count and times are meaningful.
// first/last are the values at min_time/max_time. Float min/max skip NaN (a
// block of only NaN reports its first value) and ties keep the earliest
// value; sums are accumulated in time order from zero, integer sums wrap.
//
// The three typed sets share their storage (a block has one type): every
// open segment keeps one BlockHandle per block in memory, and with three
// separate sets a handle was 176 bytes instead of 96 — 123 MB of a 5000-truck
// load's peak (16 segments of 50 k columns each; issue 18). Read only the
// members of the block's type: the others alias them.
struct BlockStats {
  uint32_t count = 0;
  int64_t min_time = 0;
  int64_t max_time = 0;
  union {
    uint64_t zero_[5] = {};  // every set starts at 0 (the one initialised member)
    struct {
      double min_f, max_f, sum_f, first_f, last_f;
    };
    struct {
      int64_t min_i, max_i, sum_i, first_i, last_i;
    };
    struct {
      uint64_t min_u, max_u, sum_u, first_u, last_u;
    };
  };
};
static_assert(sizeof(BlockStats) == 64);

struct BlockHandle {
  uint64_t series_id = 0;
  uint32_t field_id = 0;
  FieldType type = FieldType::kFloat;
  BlockStats stats;
  uint64_t offset = 0;        // of the encoded timestamps
  uint32_t times_bytes = 0;   // encoded timestamps
  uint32_t values_bytes = 0;  // encoded values (the crc32c follows)
};

struct SegmentWriterOptions {
  uint32_t max_block_points = 4096;
};

struct SegmentFileInfo {
  uint64_t file_bytes = 0;
  uint64_t blocks = 0;
  uint64_t points = 0;
  int64_t min_time = 0;  // over all blocks; 0/0 if empty
  int64_t max_time = 0;
};

class SegmentWriter {
 public:
  // Writes to `path` + ".tmp"; Finish renames to `path`.
  static StatusOr<std::unique_ptr<SegmentWriter>> Create(const std::string& path,
                                                         const SegmentWriterOptions& options);
  virtual ~SegmentWriter() = default;  // deletes the temp file unless finished
  // REQUIRES: calls ordered by (series_id, field_id); `column` sorted by time
  // with unique timestamps, non-empty, column.type fixed per (series, field).
  // Splits it into blocks of at most max_block_points. The same (series,
  // field) may be added again with later timestamps and the same type.
  // A violated REQUIRES returns kInvalidArgument and writes nothing; an I/O
  // error is returned by this and every later call.
  virtual Status Add(uint64_t series_id, uint32_t field_id, const Column& column) = 0;
  // Writes the index and footer, fsyncs, renames to the final path and
  // fsyncs the directory.
  virtual StatusOr<SegmentFileInfo> Finish() = 0;
};

class SegmentReader {
 public:
  // Maps the file and validates header, footer and index checksum
  // (kDataLoss on damage). Block checksums are checked on read.
  static StatusOr<std::unique_ptr<SegmentReader>> Open(const std::string& path);
  // As Open, but a file whose footer is torn at the end (cut short by up to
  // 12 bytes, as by a torn write or a careless copy) is opened from the
  // index the remaining footer bytes point at, when the index checksum
  // proves it intact; damage() then says so. Used by the engine, so a torn
  // footer costs no data, and by `m2mdb check --repair`.
  static StatusOr<std::unique_ptr<SegmentReader>> OpenSalvaging(const std::string& path);
  virtual ~SegmentReader() = default;

  // Empty for an intact file; otherwise what OpenSalvaging worked around.
  virtual const std::string& damage() const = 0;

  virtual const std::string& path() const = 0;
  virtual const SegmentFileInfo& info() const = 0;
  // Sorted by (series_id, field_id, min_time).
  virtual const std::vector<BlockHandle>& blocks() const = 0;
  // Appends to `out` the blocks of (series_id, field_id) whose time range
  // overlaps [min_time, max_time], in time order.
  virtual void FindBlocks(uint64_t series_id, uint32_t field_id, int64_t min_time, int64_t max_time,
                          std::vector<const BlockHandle*>* out) const = 0;
  // Decodes block `h` and appends its points to `out` (out->type must equal
  // h.type). kDataLoss naming the file and offset if damaged.
  //
  // The block checksum and the timestamp checks (sorted, equal to the
  // index's min/max) run on the first successful read of each block of
  // blocks() through this reader; later reads of that block only decode
  // (the decoders still bounds-check everything). The file is immutable
  // and mapped read-only, so this finds every damage present when the
  // block is first read; damage done to the file afterwards, while this
  // reader is open, is found by Verify (`m2mdb check`) or after a reopen.
  virtual Status ReadBlock(const BlockHandle& h, Column* out) const = 0;
  // As ReadBlock, but appends only the points with min_time <= time <=
  // max_time. A block partly in that range is decoded into per-thread
  // scratch space and only its points in range reach `out`: the caller's
  // vectors are neither zero-filled nor trimmed for the others.
  virtual Status ReadBlockRange(const BlockHandle& h, int64_t min_time, int64_t max_time,
                                Column* out) const = 0;
  // As ReadBlockRange, but writes the points at position `*size` of out's
  // vectors (times and the one of out->type) and advances `*size`. The
  // vectors may be longer than `*size`: what lies past it is overwritten,
  // and they grow (zero-filled) only where too short. A caller that reads
  // series after series into the same Column, and trims the vectors to
  // `*size` after the last block, so neither zero-fills nor copies a block
  // it can decode in place (a block wholly in range). REQUIRES: the
  // vectors of the other types are empty and times and the vector of
  // out->type are at least `*size` long. On failure `*size` is unchanged.
  virtual Status ReadBlockRangeAt(const BlockHandle& h, int64_t min_time, int64_t max_time, Column* out,
                                  size_t* size) const = 0;
  // Reads and checks every block, whether read before or not (for `m2mdb
  // check`).
  virtual Status Verify() const = 0;
  // The codec ids (encoding::CodecId) of block `h`'s timestamps and values,
  // for storage reports. kDataLoss if `h` lies outside the file.
  virtual Status BlockCodecs(const BlockHandle& h, uint8_t* times_codec, uint8_t* values_codec) const = 0;
};

}  // namespace m2mdb::segment

#endif  // M2MDB_ENGINE_SEGMENT_SEGMENT_H_
