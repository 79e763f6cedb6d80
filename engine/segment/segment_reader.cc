// SegmentReader: maps the file, checks header, footer and index checksum,
// decodes the whole index once (it is small), and decodes blocks on demand
// straight into the caller's Column. The file is treated as hostile: every
// length and offset is checked against the mapping before it is used, and
// every failure is kDataLoss naming the file and the offset. Layout:
// segment_format.h.
#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

#include "engine/encoding/codec.h"
#include "engine/segment/segment.h"
#include "engine/segment/segment_format.h"
#include "engine/util/coding.h"
#include "engine/util/crc32c.h"
#include "engine/util/file.h"

namespace m2mdb::segment {
namespace {

using format::kBlockTrailerSize;
using format::kFooterSize;
using format::kHeaderSize;

class SegmentReaderImpl final : public SegmentReader {
 public:
  Status BlockCodecs(const BlockHandle& h, uint8_t* times_codec, uint8_t* values_codec) const override {
    if (h.offset < kHeaderSize || h.times_bytes == 0 || h.values_bytes == 0 ||
        h.offset > blocks_end_ || uint64_t{h.times_bytes} + h.values_bytes > blocks_end_ - h.offset) {
      return Corrupt(h.offset, "block outside the data region");
    }
    *times_codec = static_cast<uint8_t>(data_[h.offset]);
    *values_codec = static_cast<uint8_t>(data_[h.offset + h.times_bytes]);
    return absl::OkStatus();
  }
  explicit SegmentReaderImpl(std::unique_ptr<MappedFile> file)
      : file_(std::move(file)), path_(file_->path()), data_(file_->data()) {}

  Status Init() {
    if (data_.size() < kHeaderSize + kFooterSize) {
      return Corrupt(0, absl::StrCat("file too short (", data_.size(), " bytes)"));
    }
    if (data_.substr(0, format::kHeaderMagic.size()) != format::kHeaderMagic)
      return Corrupt(0, "bad header magic");
    const uint8_t version = static_cast<uint8_t>(data_[format::kHeaderMagic.size()]);
    if (version != format::kFormatVersion) {
      return Corrupt(format::kHeaderMagic.size(),
                     absl::StrCat("unknown format version ", version, " (this build reads ",
                                  format::kFormatVersion, ")"));
    }

    const uint64_t footer_offset = data_.size() - kFooterSize;
    const char* f = data_.data() + footer_offset;
    if (std::string_view(f + 20, 8) != format::kFooterMagic)
      return Corrupt(footer_offset, "bad footer magic");
    const uint64_t index_offset = DecodeFixed64(f);
    const uint32_t index_bytes = DecodeFixed32(f + 8);
    const uint32_t index_crc = crc32c::Unmask(DecodeFixed32(f + 12));
    const uint32_t block_count = DecodeFixed32(f + 16);
    // The index sits exactly between the blocks and the footer: any other
    // offset/length pair is damage, whatever the checksum says.
    if (index_offset < kHeaderSize || index_offset > footer_offset ||
        footer_offset - index_offset != index_bytes) {
      return Corrupt(footer_offset, absl::StrCat("bad index location (offset ", index_offset, ", length ",
                                                 index_bytes, ")"));
    }
    const std::string_view index = data_.substr(index_offset, index_bytes);
    if (crc32c::Value(index) != index_crc) return Corrupt(index_offset, "index checksum mismatch");
    if (block_count > index_bytes / format::kMinIndexEntrySize) {
      return Corrupt(footer_offset, absl::StrCat("block count ", block_count, " too large for the index"));
    }
    blocks_end_ = index_offset;
    return DecodeIndex(index, index_offset, block_count);
  }

  const std::string& path() const override { return path_; }
  const SegmentFileInfo& info() const override { return info_; }
  const std::vector<BlockHandle>& blocks() const override { return blocks_; }

  void FindBlocks(uint64_t series_id, uint32_t field_id, int64_t min_time, int64_t max_time,
                  std::vector<const BlockHandle*>* out) const override {
    if (min_time > max_time) return;
    auto key_less = [](const BlockHandle& h, std::pair<uint64_t, uint32_t> k) {
      return h.series_id < k.first || (h.series_id == k.first && h.field_id < k.second);
    };
    auto it = std::lower_bound(blocks_.begin(), blocks_.end(), std::make_pair(series_id, field_id), key_less);
    auto end = it;
    while (end != blocks_.end() && end->series_id == series_id && end->field_id == field_id) ++end;
    // Blocks of one column do not overlap (checked at Open), so max_time is
    // increasing too and a second binary search finds the first candidate.
    it = std::partition_point(it, end, [&](const BlockHandle& h) { return h.stats.max_time < min_time; });
    for (; it != end && it->stats.min_time <= max_time; ++it) out->push_back(&*it);
  }

  Status ReadBlock(const BlockHandle& h, Column* out) const override {
    if (out->type != h.type) {
      return absl::InvalidArgumentError(absl::StrCat("segment ", path_, ": block at offset ", h.offset,
                                                     " is ", ToAbsl(FieldTypeName(h.type)), ", column is ",
                                                     ToAbsl(FieldTypeName(out->type))));
    }
    // The handle may not come from blocks(): check it against the mapping.
    const uint64_t body = static_cast<uint64_t>(h.times_bytes) + h.values_bytes;
    if (h.offset < kHeaderSize || h.offset > blocks_end_ ||
        body + kBlockTrailerSize > blocks_end_ - h.offset) {
      return Corrupt(h.offset, "block outside the data region");
    }
    const size_t n = h.stats.count;
    if (n == 0 || n > encoding::kMaxBlockValues) return Corrupt(h.offset, "bad point count");
    const char* p = data_.data() + h.offset;
    if (crc32c::Unmask(DecodeFixed32(p + body)) != crc32c::Value(p, body)) {
      return Corrupt(h.offset, "block checksum mismatch");
    }
    const std::string_view times(p, h.times_bytes);
    const std::string_view values(p + h.times_bytes, h.values_bytes);

    // Decode straight into the column's vectors; on failure cut them back so
    // the caller never sees half a block.
    const size_t n0 = out->times.size();
    out->times.resize(n0 + n);
    int64_t* t = out->times.data() + n0;
    Status s = encoding::DecodeTimestamps(times, n, t);
    if (s.ok()) {
      // Cheap and branch-free; keeps a forged block (valid crc, bad data)
      // from breaking the sorted-column invariant every merge relies on.
      bool bad = t[0] != h.stats.min_time || t[n - 1] != h.stats.max_time;
      for (size_t i = 1; i < n; i++) bad |= t[i] <= t[i - 1];
      if (bad) s = absl::DataLossError("timestamps disagree with the index or are not sorted");
    }
    if (s.ok()) s = DecodeValues(values, n, out);
    if (!s.ok()) {
      out->times.resize(n0);
      return Corrupt(h.offset,
                     absl::StrCat("series ", h.series_id, " field ", h.field_id, ": ", s.message()));
    }
    return absl::OkStatus();
  }

  Status Verify() const override {
    Column c;
    for (const BlockHandle& h : blocks_) {
      c.type = h.type;
      c.clear();
      RETURN_IF_ERROR(ReadBlock(h, &c));
      if (h.type == FieldType::kBoolean) {
        for (uint8_t v : c.bools) {
          if (v > 1) return Corrupt(h.offset, "boolean value other than 0 or 1");
        }
      }
      if (!format::SameStats(format::ComputeStats(c, 0, c.size()), h.stats)) {
        return Corrupt(h.offset, absl::StrCat("series ", h.series_id, " field ", h.field_id,
                                              ": block statistics disagree with its data"));
      }
    }
    return absl::OkStatus();
  }

 private:
  // Decodes `n` values of the column's type, appending to `out`; leaves the
  // value vector as it was on failure.
  Status DecodeValues(std::string_view in, size_t n, Column* out) const {
    auto decode = [&](auto& vec, auto fn) {
      const size_t n0 = vec.size();
      vec.resize(n0 + n);
      Status s = fn(in, n, vec.data() + n0);
      if (!s.ok()) vec.resize(n0);
      return s;
    };
    switch (out->type) {
      case FieldType::kFloat:
        return decode(out->floats, encoding::DecodeFloats);
      case FieldType::kInteger:
        return decode(out->ints, encoding::DecodeIntegers);
      case FieldType::kUnsigned:
        return decode(out->uints, encoding::DecodeUnsigned);
      case FieldType::kBoolean:
        return decode(out->bools, encoding::DecodeBooleans);
      case FieldType::kString: {
        // DecodeStrings replaces its output: decode in place when the column
        // has no strings yet (the common case), else through a scratch vector.
        if (out->strings.empty()) {
          Status s = encoding::DecodeStrings(in, n, &out->strings);
          if (!s.ok()) out->strings.clear();
          return s;
        }
        thread_local std::vector<std::string> scratch;
        RETURN_IF_ERROR(encoding::DecodeStrings(in, n, &scratch));
        out->strings.insert(out->strings.end(), std::make_move_iterator(scratch.begin()),
                            std::make_move_iterator(scratch.end()));
        return absl::OkStatus();
      }
    }
    return absl::InternalError("unknown field type");
  }

  Status DecodeIndex(std::string_view index, uint64_t index_offset, uint32_t block_count) {
    blocks_.resize(block_count);
    format::IndexCursor cursor;
    std::string_view in = index;
    uint64_t offset = kHeaderSize;
    for (uint32_t i = 0; i < block_count; i++) {
      BlockHandle& h = blocks_[i];
      const uint64_t entry_offset = index_offset + (index.size() - in.size());
      if (const char* err = format::DecodeIndexEntry(&in, &cursor, &h)) {
        return Corrupt(entry_offset, absl::StrCat("index entry ", i, ": ", err));
      }
      const uint64_t size = static_cast<uint64_t>(h.times_bytes) + h.values_bytes + kBlockTrailerSize;
      if (size > blocks_end_ - offset) {
        return Corrupt(entry_offset, absl::StrCat("index entry ", i, ": block runs past the index"));
      }
      h.offset = offset;
      offset += size;
      if (i == 0) {
        info_.min_time = h.stats.min_time;
        info_.max_time = h.stats.max_time;
      } else {
        info_.min_time = std::min(info_.min_time, h.stats.min_time);
        info_.max_time = std::max(info_.max_time, h.stats.max_time);
      }
      info_.points += h.stats.count;
    }
    if (!in.empty()) return Corrupt(index_offset, "trailing bytes after the last index entry");
    if (offset != blocks_end_) return Corrupt(offset, "bytes between the last block and the index");
    info_.file_bytes = data_.size();
    info_.blocks = block_count;
    return absl::OkStatus();
  }

  Status Corrupt(uint64_t offset, std::string_view what) const {
    return absl::DataLossError(absl::StrCat("segment ", path_, " offset ", offset, ": ", ToAbsl(what)));
  }

  const std::unique_ptr<MappedFile> file_;
  const std::string path_;
  const std::string_view data_;  // the whole mapping
  uint64_t blocks_end_ = 0;      // = index offset
  std::vector<BlockHandle> blocks_;
  SegmentFileInfo info_;
};

}  // namespace

StatusOr<std::unique_ptr<SegmentReader>> SegmentReader::Open(const std::string& path) {
  ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
  auto reader = std::make_unique<SegmentReaderImpl>(std::move(file));
  RETURN_IF_ERROR(reader->Init());
  return std::unique_ptr<SegmentReader>(std::move(reader));
}

}  // namespace m2mdb::segment
