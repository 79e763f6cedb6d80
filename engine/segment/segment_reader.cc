// SegmentReader: maps the file, checks header, footer and index checksum,
// decodes the whole index once (it is small), and decodes blocks on demand
// straight into the caller's Column. The file is treated as hostile: every
// length and offset is checked against the mapping before it is used, and
// every failure is kDataLoss naming the file and the offset. Layout:
// segment_format.h.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

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
    if (h.offset < kHeaderSize || h.times_bytes == 0 || h.values_bytes == 0 || h.offset > blocks_end_ ||
        uint64_t{h.times_bytes} + h.values_bytes > blocks_end_ - h.offset) {
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
    if (version < format::kOldestFormatVersion || version > format::kFormatVersion) {
      return Corrupt(format::kHeaderMagic.size(),
                     absl::StrCat("unknown format version ", version, " (this build reads ",
                                  format::kOldestFormatVersion, " to ", format::kFormatVersion, ")"));
    }
    version_ = version;

    const uint64_t footer_offset = data_.size() - kFooterSize;
    const char* f = data_.data() + footer_offset;
    if (std::string_view(f + 20, 8) != format::kFooterMagic) {
      Status bad = Corrupt(footer_offset, "bad footer magic");
      if (!salvage_) return bad;
      return InitFromTornFooter(bad);
    }
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
    const std::string_view section = data_.substr(index_offset, index_bytes);
    if (crc32c::Value(section) != index_crc) return Corrupt(index_offset, "index checksum mismatch");
    std::string scratch;
    std::string_view index;
    RETURN_IF_ERROR(IndexEntries(section, index_offset, &scratch, &index));
    if (block_count > index.size() / format::kMinIndexEntrySize) {
      return Corrupt(footer_offset, absl::StrCat("block count ", block_count, " too large for the index"));
    }
    blocks_end_ = index_offset;
    return DecodeIndex(index, index_offset, block_count);
  }

  // A file cut short by up to kMaxSalvageTail bytes still holds the footer's
  // index offset, length and checksum: the footer then starts where the
  // index it names ends, and the checksum proves the index intact. The
  // block count (gone past 8 bytes) is implied by the index.
  static constexpr uint64_t kMaxSalvageTail = 12;
  Status InitFromTornFooter(const Status& original) {
    for (uint64_t tail = 1; tail <= kMaxSalvageTail; tail++) {
      if (data_.size() < kHeaderSize + kFooterSize - tail) break;
      const uint64_t footer_offset = data_.size() - (kFooterSize - tail);
      const char* f = data_.data() + footer_offset;
      const uint64_t index_offset = DecodeFixed64(f);
      const uint32_t index_bytes = DecodeFixed32(f + 8);
      const uint32_t index_crc = crc32c::Unmask(DecodeFixed32(f + 12));
      if (index_offset < kHeaderSize || index_offset > footer_offset ||
          footer_offset - index_offset != index_bytes) {
        continue;
      }
      const std::string_view section = data_.substr(index_offset, index_bytes);
      if (crc32c::Value(section) != index_crc) continue;
      std::string scratch;
      std::string_view index;
      if (!IndexEntries(section, index_offset, &scratch, &index).ok()) continue;
      blocks_end_ = index_offset;
      if (!DecodeIndex(index, index_offset, kUnknownBlockCount).ok()) continue;
      damage_ = absl::StrCat("footer torn (", tail, " bytes missing at the end); index recovered, ",
                             blocks_.size(), " blocks readable");
      return absl::OkStatus();
    }
    return original;
  }

  void set_salvage(bool v) { salvage_ = v; }
  const std::string& damage() const override { return damage_; }

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
    return Read(h, out, /*force_checks=*/false);
  }

  Status ReadBlockRange(const BlockHandle& h, int64_t min_time, int64_t max_time,
                        Column* out) const override {
    return Range(h, min_time, max_time, out, nullptr);
  }

  Status ReadBlockRangeAt(const BlockHandle& h, int64_t min_time, int64_t max_time, Column* out,
                          size_t* size) const override {
    const bool numeric =
        h.type == FieldType::kFloat || h.type == FieldType::kInteger || h.type == FieldType::kUnsigned;
    if (out->type != h.type || !numeric) {
      // Booleans and strings (rare): cut to `*size` and append.
      const size_t n0 = *size;
      out->truncate(n0);
      Status s = Range(h, min_time, max_time, out, nullptr);
      *size = s.ok() ? out->times.size() : n0;
      return s;
    }
    return Range(h, min_time, max_time, out, size);
  }

  static constexpr size_t kMaxScratchPoints = 16384;

  // ReadBlockRange; with `at`, ReadBlockRangeAt for a numeric block of
  // out->type.
  Status Range(const BlockHandle& h, int64_t min_time, int64_t max_time, Column* out, size_t* at) const {
    const bool whole = min_time <= h.stats.min_time && max_time >= h.stats.max_time;
    if (at != nullptr && whole) {
      switch (h.type) {
        case FieldType::kFloat:
          return FullAt<double>(h, out, at, encoding::DecodeFloats);
        case FieldType::kInteger:
          return FullAt<int64_t>(h, out, at, encoding::DecodeIntegers);
        case FieldType::kUnsigned:
          return FullAt<uint64_t>(h, out, at, encoding::DecodeUnsigned);
        default:
          return absl::InternalError("unreachable");
      }
    }
    if (out->type != h.type || whole) return ReadBlock(h, out);
    // Strings (rare in range scans) and very long blocks (to bound the
    // per-thread space): the whole block, then the part in range.
    if (h.type == FieldType::kString || h.stats.count > kMaxScratchPoints) {
      thread_local Column scratch;
      scratch.type = h.type;
      scratch.clear();
      RETURN_IF_ERROR(ReadBlock(h, &scratch));
      const auto [lo, hi] = InRange(scratch.times.data(), scratch.size(), min_time, max_time);
      if (at != nullptr) out->truncate(*at);
      for (size_t i = lo; i < hi; i++) out->AppendFrom(scratch, i);
      if (at != nullptr) *at = out->times.size();
      return absl::OkStatus();
    }
    const char* p = nullptr;
    bool check = true;
    std::atomic<uint8_t>* verified = nullptr;
    RETURN_IF_ERROR(Locate(h, /*force_checks=*/false, &p, &check, &verified));
    const size_t n = h.stats.count;
    const std::string_view times(p, h.times_bytes);
    const std::string_view values(p + h.times_bytes, h.values_bytes);
    // Per-thread space that only grows: no zero-fill per read.
    // A block read for the first time decodes in full (its structure and
    // order are checked). Once it has, a range that ends inside it decodes
    // only up to the first point past the range: the rest of a long block
    // is never touched (a 1-hour read of an 11-hour block decodes ~1/11).
    const bool prefix = !check && max_time < h.stats.max_time;
    size_t decoded = n;
    const int64_t* t = nullptr;
    Status s;
    if (check) {
      thread_local std::vector<int64_t> t_scratch;
      if (t_scratch.size() < n) t_scratch.resize(n);
      s = encoding::DecodeTimestamps(times, n, t_scratch.data());
      if (s.ok()) s = CheckTimes(h, t_scratch.data(), n);
      t = t_scratch.data();
    } else {
      s = SharedTimes(times, n, prefix ? max_time : INT64_MAX, &t, &decoded);
    }
    size_t lo = 0, hi = 0;
    if (s.ok()) std::tie(lo, hi) = InRange(t, decoded, min_time, max_time);
    // Decodes the values (those before hi, for a prefix) into per-thread
    // space of their type; appends the points in range once all decoded.
    auto values_in_range = [&](auto* tag, auto decode, auto decode_prefix, auto& dst) {
      using T = std::remove_pointer_t<decltype(tag)>;
      thread_local std::vector<T> v_scratch;
      if (v_scratch.size() < n) v_scratch.resize(n);
      if (s.ok())
        s = prefix ? decode_prefix(values, n, hi, v_scratch.data()) : decode(values, n, v_scratch.data());
      if (s.ok() && at != nullptr) {
        AtLeast(out->times, *at + (hi - lo));
        AtLeast(dst, *at + (hi - lo));
        std::copy(t + lo, t + hi, out->times.begin() + static_cast<std::ptrdiff_t>(*at));
        std::copy(v_scratch.data() + lo, v_scratch.data() + hi,
                  dst.begin() + static_cast<std::ptrdiff_t>(*at));
        *at += hi - lo;
      } else if (s.ok()) {
        out->times.insert(out->times.end(), t + lo, t + hi);
        dst.insert(dst.end(), v_scratch.data() + lo, v_scratch.data() + hi);
      }
    };
    switch (h.type) {
      case FieldType::kFloat:
        values_in_range(static_cast<double*>(nullptr), encoding::DecodeFloats, encoding::DecodeFloatsPrefix,
                        out->floats);
        break;
      case FieldType::kInteger:
        values_in_range(static_cast<int64_t*>(nullptr), encoding::DecodeIntegers,
                        encoding::DecodeIntegersPrefix, out->ints);
        break;
      case FieldType::kUnsigned:
        values_in_range(static_cast<uint64_t*>(nullptr), encoding::DecodeUnsigned,
                        encoding::DecodeUnsignedPrefix, out->uints);
        break;
      case FieldType::kBoolean:
        // Booleans are small and rare in range reads: always the whole block.
        values_in_range(
            static_cast<uint8_t*>(nullptr), encoding::DecodeBooleans,
            [](std::string_view in, size_t count, size_t, uint8_t* o) {
              return encoding::DecodeBooleans(in, count, o);
            },
            out->bools);
        break;
      case FieldType::kString:
        s = absl::InternalError("unreachable");
        break;
    }
    if (!s.ok()) {
      return Corrupt(h.offset,
                     absl::StrCat("series ", h.series_id, " field ", h.field_id, ": ", s.message()));
    }
    if (check && verified != nullptr) verified->store(1, std::memory_order_relaxed);
    return absl::OkStatus();
  }

  Status Read(const BlockHandle& h, Column* out, bool force_checks) const {
    if (out->type != h.type) {
      return absl::InvalidArgumentError(absl::StrCat("segment ", path_, ": block at offset ", h.offset,
                                                     " is ", ToAbsl(FieldTypeName(h.type)), ", column is ",
                                                     ToAbsl(FieldTypeName(out->type))));
    }
    const char* p = nullptr;
    bool check = true;
    std::atomic<uint8_t>* verified = nullptr;
    RETURN_IF_ERROR(Locate(h, force_checks, &p, &check, &verified));
    const size_t n = h.stats.count;
    const std::string_view times(p, h.times_bytes);
    const std::string_view values(p + h.times_bytes, h.values_bytes);

    // Decode straight into the column's vectors (verified blocks: times
    // through the shared decode); on failure cut them back so the caller
    // never sees half a block.
    const size_t n0 = out->times.size();
    Status s;
    if (check) {
      out->times.resize(n0 + n);
      int64_t* t = out->times.data() + n0;
      s = encoding::DecodeTimestamps(times, n, t);
      if (s.ok()) s = CheckTimes(h, t, n);
    } else {
      const int64_t* t = nullptr;
      size_t decoded = 0;
      s = SharedTimes(times, n, INT64_MAX, &t, &decoded);
      if (s.ok()) out->times.insert(out->times.end(), t, t + n);
    }
    if (s.ok()) s = DecodeValues(values, n, out);
    if (!s.ok()) {
      out->times.resize(n0);
      return Corrupt(h.offset,
                     absl::StrCat("series ", h.series_id, " field ", h.field_id, ": ", s.message()));
    }
    if (check && verified != nullptr) verified->store(1, std::memory_order_relaxed);
    return absl::OkStatus();
  }

  Status Verify() const override {
    Column c;
    if (!damage_.empty()) return Corrupt(data_.size(), damage_);
    for (const BlockHandle& h : blocks_) {
      c.type = h.type;
      c.clear();
      RETURN_IF_ERROR(Read(h, &c, /*force_checks=*/true));
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
  // Grows `v` to at least `n` elements (the new ones zero, to be overwritten).
  template <typename V>
  static void AtLeast(V& v, size_t n) {
    if (v.size() < n) v.resize(n);
  }

  // The values vector of `c` for numeric type T.
  template <typename T>
  static std::vector<T>& ValuesOf(Column* c) {
    if constexpr (std::is_same_v<T, double>) {
      return c->floats;
    } else if constexpr (std::is_same_v<T, int64_t>) {
      return c->ints;
    } else {
      return c->uints;
    }
  }

  // A numeric block wholly in range, decoded in place at position *at of
  // out's vectors (see ReadBlockRangeAt): no scratch and no copy.
  template <typename T, typename Decode>
  Status FullAt(const BlockHandle& h, Column* out, size_t* at, Decode decode) const {
    const char* p = nullptr;
    bool check = true;
    std::atomic<uint8_t>* verified = nullptr;
    RETURN_IF_ERROR(Locate(h, /*force_checks=*/false, &p, &check, &verified));
    const size_t n = h.stats.count;
    const std::string_view times(p, h.times_bytes);
    const std::string_view values(p + h.times_bytes, h.values_bytes);
    std::vector<T>& vals = ValuesOf<T>(out);
    AtLeast(out->times, *at + n);
    AtLeast(vals, *at + n);
    // The timestamps are decoded again rather than copied from SharedTimes:
    // a regular series' decode costs well under an instruction a point, the
    // copy about eight (valgrind counts rep movsb per byte).
    int64_t* t = out->times.data() + *at;
    Status s = encoding::DecodeTimestamps(times, n, t);
    if (s.ok() && check) s = CheckTimes(h, t, n);
    if (s.ok()) s = decode(values, n, vals.data() + *at);
    if (!s.ok()) {
      return Corrupt(h.offset,
                     absl::StrCat("series ", h.series_id, " field ", h.field_id, ": ", s.message()));
    }
    if (check && verified != nullptr) verified->store(1, std::memory_order_relaxed);
    *at += n;
    return absl::OkStatus();
  }

  // Checks `h` against the mapping (it may not come from blocks()) and its
  // point count; points *p at the block. *check says whether the block still
  // needs its checks (then its checksum has just been verified) and
  // *verified is its flag (null for a handle not from blocks()).
  Status Locate(const BlockHandle& h, bool force_checks, const char** p, bool* check,
                std::atomic<uint8_t>** verified) const {
    const uint64_t body = static_cast<uint64_t>(h.times_bytes) + h.values_bytes;
    if (h.offset < kHeaderSize || h.offset > blocks_end_ ||
        body + kBlockTrailerSize > blocks_end_ - h.offset) {
      return Corrupt(h.offset, "block outside the data region");
    }
    const size_t n = h.stats.count;
    if (n == 0 || n > encoding::kMaxBlockValues) return Corrupt(h.offset, "bad point count");
    *p = data_.data() + h.offset;
    *verified = nullptr;
    const uintptr_t at = reinterpret_cast<uintptr_t>(&h), first = reinterpret_cast<uintptr_t>(blocks_.data());
    if (at >= first && at < first + blocks_.size() * sizeof(BlockHandle)) {
      *verified = &verified_[(at - first) / sizeof(BlockHandle)];
    }
    *check = force_checks || *verified == nullptr || (*verified)->load(std::memory_order_relaxed) == 0;
    if (*check && crc32c::Unmask(DecodeFixed32(*p + body)) != crc32c::Value(*p, body)) {
      return Corrupt(h.offset, "block checksum mismatch");
    }
    return absl::OkStatus();
  }

  // Timestamps of a verified block, decoded through a per-thread cache keyed
  // by the encoded bytes: the fields of a series written together have
  // byte-identical timestamp columns, so a query reading several fields of a
  // series decodes them once (10 trucks x 2 fields: half the timestamp
  // decodes; a raw read of 7 fields: one in seven). Decoding is a pure
  // function of (bytes, n), so a hit is exact. *t points into the cache
  // (valid until the next call on this thread); *decoded values from the
  // start are there, at least up to the first past max_time (or all n).
  static Status SharedTimes(std::string_view enc, size_t n, int64_t max_time, const int64_t** t,
                            size_t* decoded) {
    struct Entry {
      std::string enc;
      size_t n = 0;
      size_t decoded = 0;  // 0: empty
      std::vector<int64_t> times;
    };
    // A few entries: a scan reads a series' fields one after the other, and
    // each field's range may span two or three blocks.
    constexpr size_t kEntries = 4;
    thread_local std::array<Entry, kEntries> cache;
    thread_local size_t next = 0;
    for (Entry& e : cache) {
      if (e.decoded > 0 && e.n == n && e.enc.size() == enc.size() &&
          std::memcmp(e.enc.data(), enc.data(), enc.size()) == 0 &&
          (e.decoded == n || e.times[e.decoded - 1] > max_time)) {
        *t = e.times.data();
        *decoded = e.decoded;
        return absl::OkStatus();
      }
    }
    Entry& e = cache[next];
    next = (next + 1) % kEntries;
    e.decoded = 0;
    if (e.times.size() < n) e.times.resize(n);
    size_t k = n;
    Status s = max_time == INT64_MAX ? encoding::DecodeTimestamps(enc, n, e.times.data())
                                     : encoding::DecodeTimestampsUntil(enc, n, max_time, e.times.data(), &k);
    if (!s.ok()) return s;
    e.enc.assign(enc.data(), enc.size());
    e.n = n;
    e.decoded = k;
    *t = e.times.data();
    *decoded = k;
    return absl::OkStatus();
  }

  // Cheap and branch-free; keeps a forged block (valid crc, bad data) from
  // breaking the sorted-column invariant every merge relies on.
  static Status CheckTimes(const BlockHandle& h, const int64_t* t, size_t n) {
    bool bad = t[0] != h.stats.min_time || t[n - 1] != h.stats.max_time;
    for (size_t i = 1; i < n; i++) bad |= t[i] <= t[i - 1];
    if (bad) return absl::DataLossError("timestamps disagree with the index or are not sorted");
    return absl::OkStatus();
  }

  // [lo, hi): the positions of sorted `t` within [min_time, max_time].
  static std::pair<size_t, size_t> InRange(const int64_t* t, size_t n, int64_t min_time, int64_t max_time) {
    const size_t lo = std::lower_bound(t, t + n, min_time) - t;
    const size_t hi = min_time > max_time ? lo : std::upper_bound(t + lo, t + n, max_time) - t;
    return {lo, hi};
  }

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

  // The index entries of the checksummed index section: the section itself
  // in version 1, its raw or decompressed payload from version 2.
  Status IndexEntries(std::string_view section, uint64_t index_offset, std::string* scratch,
                      std::string_view* entries) const {
    if (version_ < 2) {
      *entries = section;
      return absl::OkStatus();
    }
    if (const char* err = format::DecodeIndexSection(section, scratch, entries)) {
      return Corrupt(index_offset, err);
    }
    return absl::OkStatus();
  }

  static constexpr uint32_t kUnknownBlockCount = UINT32_MAX;
  // block_count kUnknownBlockCount: as many entries as the index holds.
  Status DecodeIndex(std::string_view index, uint64_t index_offset, uint32_t block_count) {
    const bool unknown = block_count == kUnknownBlockCount;
    if (unknown) block_count = static_cast<uint32_t>(index.size() / format::kMinIndexEntrySize);
    blocks_.clear();
    blocks_.resize(block_count);
    info_ = SegmentFileInfo();
    format::IndexCursor cursor;
    std::string_view in = index;
    uint64_t offset = kHeaderSize;
    for (uint32_t i = 0; i < block_count; i++) {
      if (unknown && in.empty()) {
        block_count = i;
        blocks_.resize(block_count);
        break;
      }
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
    verified_ = std::make_unique<std::atomic<uint8_t>[]>(block_count);
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
  // verified_[i] != 0: blocks_[i] passed the checksum and timestamp checks
  // through this reader (see ReadBlock in segment.h). Zero-initialized.
  std::unique_ptr<std::atomic<uint8_t>[]> verified_;
  SegmentFileInfo info_;
  bool salvage_ = false;
  uint8_t version_ = format::kFormatVersion;
  std::string damage_;
};

}  // namespace

StatusOr<std::unique_ptr<SegmentReader>> SegmentReader::Open(const std::string& path) {
  ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
  auto reader = std::make_unique<SegmentReaderImpl>(std::move(file));
  RETURN_IF_ERROR(reader->Init());
  return std::unique_ptr<SegmentReader>(std::move(reader));
}

StatusOr<std::unique_ptr<SegmentReader>> SegmentReader::OpenSalvaging(const std::string& path) {
  ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
  auto reader = std::make_unique<SegmentReaderImpl>(std::move(file));
  reader->set_salvage(true);
  RETURN_IF_ERROR(reader->Init());
  return std::unique_ptr<SegmentReader>(std::move(reader));
}

}  // namespace m2mdb::segment
