// SegmentWriter: streams blocks through a user-space buffer into path.tmp,
// keeps the (compact) index in memory, and at Finish appends index + footer,
// fdatasyncs, renames and fsyncs the directory. Layout: segment_format.h.
#include <algorithm>
#include <filesystem>
#include <string_view>
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

// Large sequential writes: one write(2) per MiB instead of one per block.
constexpr size_t kWriteBufferBytes = 1 << 20;

size_t TypedSize(const Column& c) {
  switch (c.type) {
    case FieldType::kFloat:
      return c.floats.size();
    case FieldType::kInteger:
      return c.ints.size();
    case FieldType::kUnsigned:
      return c.uints.size();
    case FieldType::kBoolean:
      return c.bools.size();
    case FieldType::kString:
      return c.strings.size();
  }
  return 0;
}

bool ValidType(FieldType t) { return t >= FieldType::kFloat && t <= FieldType::kString; }

class SegmentWriterImpl final : public SegmentWriter {
 public:
  SegmentWriterImpl(std::string path, std::unique_ptr<AppendFile> file, const SegmentWriterOptions& options)
      : path_(std::move(path)), file_(std::move(file)), options_(options) {
    buf_.reserve(kWriteBufferBytes + (kWriteBufferBytes >> 2));
    buf_.append(format::kHeaderMagic);
    buf_.push_back(static_cast<char>(format::kFormatVersion));
    offset_ = buf_.size();
  }

  ~SegmentWriterImpl() override {
    if (!finished_) {
      // Best effort: a crashed process leaves the .tmp too, and the engine
      // removes stray temp files at open.
      file_->Close().IgnoreError();
      RemoveFile(file_->path()).IgnoreError();
    }
  }

  Status Add(uint64_t series_id, uint32_t field_id, const Column& column) override {
    RETURN_IF_ERROR(status_);
    if (finished_) return absl::FailedPreconditionError("segment writer: Add after Finish");
    RETURN_IF_ERROR(Validate(series_id, field_id, column));
    // Balanced split: 4097 points become 2049 + 2048, not 4096 + 1, so no
    // block is a tiny tail paying full index overhead.
    const size_t n = column.size();
    const size_t max = options_.max_block_points;
    const size_t blocks = (n + max - 1) / max;
    size_t begin = 0;
    for (size_t b = 0; b < blocks; b++) {
      const size_t len = n / blocks + (b < n % blocks ? 1 : 0);
      Status s = AddBlock(series_id, field_id, column, begin, begin + len);
      if (!s.ok()) {
        status_ = s;  // part of the column may be in the buffer: poisoned
        return s;
      }
      begin += len;
    }
    has_prev_ = true;
    prev_series_ = series_id;
    prev_field_ = field_id;
    prev_type_ = column.type;
    prev_max_time_ = column.times.back();
    return absl::OkStatus();
  }

  StatusOr<SegmentFileInfo> Finish() override {
    RETURN_IF_ERROR(status_);
    if (finished_) return absl::FailedPreconditionError("segment writer: Finish called twice");
    Status s = WriteTail();
    if (!s.ok()) {
      status_ = s;
      return s;
    }
    finished_ = true;
    return info_;
  }

 private:
  Status Validate(uint64_t series_id, uint32_t field_id, const Column& c) const {
    auto invalid = [&](std::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat("segment ", path_, ": series ", series_id, " field ", field_id, ": ", ToAbsl(what)));
    };
    if (!ValidType(c.type)) return invalid("unknown field type");
    if (c.empty()) return invalid("empty column");
    if (TypedSize(c) != c.size()) return invalid("value count differs from timestamp count");
    if (has_prev_) {
      if (series_id < prev_series_ || (series_id == prev_series_ && field_id < prev_field_)) {
        return invalid("Add calls not ordered by (series id, field id)");
      }
      if (series_id == prev_series_ && field_id == prev_field_) {
        if (c.type != prev_type_) return invalid("field type changed within the segment");
        if (c.times.front() <= prev_max_time_) return invalid("column overlaps the previous one");
      }
    }
    // One pass each, cheap next to encoding, and it keeps a caller bug from
    // becoming a file every reader rejects.
    const int64_t* t = c.times.data();
    bool unsorted = false;
    for (size_t i = 1; i < c.size(); i++) unsorted |= t[i] <= t[i - 1];
    if (unsorted) return invalid("timestamps not sorted and unique");
    if (c.type == FieldType::kBoolean) {
      bool bad = false;
      for (uint8_t v : c.bools) bad |= v > 1;
      if (bad) return invalid("boolean value other than 0 or 1");
    }
    return absl::OkStatus();
  }

  void EncodeValues(const Column& c, size_t b, size_t e) {
    const size_t n = e - b;
    switch (c.type) {
      case FieldType::kFloat:
        encoding::EncodeFloats(c.floats.data() + b, n, &scratch_);
        break;
      case FieldType::kInteger:
        encoding::EncodeIntegers(c.ints.data() + b, n, &scratch_);
        break;
      case FieldType::kUnsigned:
        encoding::EncodeUnsigned(c.uints.data() + b, n, &scratch_);
        break;
      case FieldType::kBoolean:
        encoding::EncodeBooleans(c.bools.data() + b, n, &scratch_);
        break;
      case FieldType::kString:
        views_.clear();
        for (size_t i = b; i < e; i++) views_.emplace_back(c.strings[i]);
        encoding::EncodeStrings(views_.data(), n, &scratch_);
        break;
    }
  }

  Status AddBlock(uint64_t series_id, uint32_t field_id, const Column& c, size_t b, size_t e) {
    BlockHandle h;
    h.series_id = series_id;
    h.field_id = field_id;
    h.type = c.type;
    h.stats = format::ComputeStats(c, b, e);
    h.offset = offset_;

    // The codec contract does not say whether Encode* appends or replaces,
    // so encode into a scratch string and append that (a small copy of
    // already compressed bytes).
    const size_t start = buf_.size();
    scratch_.clear();
    encoding::EncodeTimestamps(c.times.data() + b, e - b, &scratch_);
    const size_t times_bytes = scratch_.size();
    buf_.append(scratch_);
    scratch_.clear();
    EncodeValues(c, b, e);
    const size_t values_bytes = scratch_.size();
    if (times_bytes > UINT32_MAX || values_bytes > UINT32_MAX) {
      buf_.resize(start);
      return absl::InvalidArgumentError(absl::StrCat("segment ", path_, ": series ", series_id, " field ",
                                                     field_id, ": block larger than 4 GiB"));
    }
    buf_.append(scratch_);
    PutFixed32(&buf_, crc32c::Mask(crc32c::Value(buf_.data() + start, times_bytes + values_bytes)));
    h.times_bytes = static_cast<uint32_t>(times_bytes);
    h.values_bytes = static_cast<uint32_t>(values_bytes);
    offset_ += times_bytes + values_bytes + kBlockTrailerSize;

    format::EncodeIndexEntry(h, &cursor_, &index_);
    if (info_.blocks == 0) {
      info_.min_time = h.stats.min_time;
      info_.max_time = h.stats.max_time;
    } else {
      info_.min_time = std::min(info_.min_time, h.stats.min_time);
      info_.max_time = std::max(info_.max_time, h.stats.max_time);
    }
    info_.blocks++;
    info_.points += h.stats.count;
    if (buf_.size() >= kWriteBufferBytes) return FlushBuffer();
    return absl::OkStatus();
  }

  Status FlushBuffer() {
    Status s = file_->Append(buf_);
    buf_.clear();
    return s;
  }

  Status WriteTail() {
    if (info_.blocks > UINT32_MAX || index_.size() > UINT32_MAX) {
      return absl::ResourceExhaustedError(absl::StrCat("segment ", path_, ": index too large"));
    }
    const uint64_t index_offset = offset_;
    const std::string section = format::EncodeIndexSection(index_);
    if (section.size() > UINT32_MAX) {
      return absl::ResourceExhaustedError(absl::StrCat("segment ", path_, ": index too large"));
    }
    buf_.append(section);
    PutFixed64(&buf_, index_offset);
    PutFixed32(&buf_, static_cast<uint32_t>(section.size()));
    PutFixed32(&buf_, crc32c::Mask(crc32c::Value(section)));
    PutFixed32(&buf_, static_cast<uint32_t>(info_.blocks));
    buf_.append(format::kFooterMagic);
    info_.file_bytes = offset_ + section.size() + format::kFooterSize;
    RETURN_IF_ERROR(FlushBuffer());
    RETURN_IF_ERROR(file_->Sync());
    RETURN_IF_ERROR(file_->Close());
    RETURN_IF_ERROR(RenameFile(file_->path(), path_));
    std::string dir = std::filesystem::path(path_).parent_path().string();
    return SyncDir(dir.empty() ? "." : dir);
  }

  const std::string path_;
  std::unique_ptr<AppendFile> file_;
  const SegmentWriterOptions options_;
  Status status_;  // first I/O error; the writer refuses further work
  bool finished_ = false;

  std::string buf_;      // bytes not yet written to file_
  uint64_t offset_ = 0;  // file offset of the next block
  std::string index_;    // encoded index entries so far
  format::IndexCursor cursor_;
  SegmentFileInfo info_;

  std::string scratch_;                  // one encoded column
  std::vector<std::string_view> views_;  // a string block for EncodeStrings

  bool has_prev_ = false;
  uint64_t prev_series_ = 0;
  uint32_t prev_field_ = 0;
  FieldType prev_type_ = FieldType::kFloat;
  int64_t prev_max_time_ = 0;
};

}  // namespace

StatusOr<std::unique_ptr<SegmentWriter>> SegmentWriter::Create(const std::string& path,
                                                               const SegmentWriterOptions& options) {
  if (options.max_block_points == 0 || options.max_block_points > encoding::kMaxBlockValues) {
    return absl::InvalidArgumentError(
        absl::StrCat("segment writer: max_block_points must be in [1, ", encoding::kMaxBlockValues, "]"));
  }
  ASSIGN_OR_RETURN(auto file, AppendFile::Open(path + ".tmp", /*truncate=*/true));
  return std::unique_ptr<SegmentWriter>(new SegmentWriterImpl(path, std::move(file), options));
}

}  // namespace m2mdb::segment
