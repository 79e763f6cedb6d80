// Fuzz target: the input is a whole segment file. Open, Verify and every
// ReadBlock must return a status (never crash, read out of bounds or
// allocate without bound) whatever the bytes are. The reader works on a
// mapped file, so the input goes through a real file, as in production.
//
// Random mutations almost never keep a checksum valid, which would leave
// the index decoder and the codecs unfuzzed. So each input also runs with
// its index checksum, then its block checksums, recomputed: the bytes
// behind every checksum are then as hostile as the rest.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <unistd.h>

#include "engine/segment/segment.h"
#include "engine/segment/segment_format.h"
#include "engine/util/coding.h"
#include "engine/util/crc32c.h"

namespace {

using m2mdb::segment::BlockHandle;
using m2mdb::segment::SegmentReader;
namespace format = m2mdb::segment::format;

const std::string& TempPath() {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir != nullptr ? dir : "/tmp") + "/m2mdb_segment_fuzz_" + std::to_string(getpid()) +
           ".seg";
  }();
  return path;
}

// Writes `data` as the segment file, reads everything, and returns the
// block handles if Open succeeded.
std::vector<BlockHandle> Run(const std::string& data) {
  const std::string& path = TempPath();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return {};
  if (!data.empty()) std::fwrite(data.data(), 1, data.size(), f);
  std::fclose(f);

  std::vector<BlockHandle> blocks;
  auto reader = SegmentReader::Open(path);
  if (reader.ok()) {
    const SegmentReader& r = **reader;
    r.Verify().IgnoreError();
    m2mdb::Column c;
    for (const BlockHandle& h : r.blocks()) {
      c.type = h.type;
      c.clear();
      r.ReadBlock(h, &c).IgnoreError();
      std::vector<const BlockHandle*> found;
      r.FindBlocks(h.series_id, h.field_id, h.stats.min_time, h.stats.max_time, &found);
      if (found.empty()) __builtin_trap();  // a block must find itself
    }
    blocks = r.blocks();
  }
  std::remove(path.c_str());
  return blocks;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string file(reinterpret_cast<const char*>(data), size);
  Run(file);

  if (size < format::kHeaderSize + format::kFooterSize) return 0;
  char* footer = file.data() + size - format::kFooterSize;
  const uint64_t index_offset = m2mdb::DecodeFixed64(footer);
  const uint32_t index_bytes = m2mdb::DecodeFixed32(footer + 8);
  if (index_offset > size || index_bytes > size - index_offset) return 0;
  m2mdb::EncodeFixed32(footer + 12,
                       m2mdb::crc32c::Mask(m2mdb::crc32c::Value(file.data() + index_offset, index_bytes)));
  const std::vector<BlockHandle> blocks = Run(file);
  if (blocks.empty()) return 0;
  // Open checked that every block lies inside the file.
  for (const BlockHandle& h : blocks) {
    const size_t body = static_cast<size_t>(h.times_bytes) + h.values_bytes;
    m2mdb::EncodeFixed32(file.data() + h.offset + body,
                         m2mdb::crc32c::Mask(m2mdb::crc32c::Value(file.data() + h.offset, body)));
  }
  Run(file);
  return 0;
}
