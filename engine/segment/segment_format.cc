// Block statistics and the compact index entry coding (layout in
// segment_format.h). The index is read whole at Open, so it trades a little
// decode work for bytes: deltas and varints everywhere, and a stats value is
// only stored when it differs from one already stored.
#include "engine/segment/segment_format.h"

#include <bit>
#include <cmath>
#include <cstring>

#include <zstd.h>

#include "engine/encoding/codec.h"
#include "engine/util/coding.h"

namespace m2mdb::segment::format {
namespace {

template <typename T>
void IntegerStats(const T* v, size_t b, size_t e, T* mn, T* mx, T* sum) {
  T lo = v[b], hi = v[b];
  // Unsigned arithmetic: integer sums wrap like Go's int64, without UB.
  uint64_t s = 0;
  for (size_t i = b; i < e; i++) {
    T x = v[i];
    s += static_cast<uint64_t>(x);
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  *mn = lo;
  *mx = hi;
  *sum = static_cast<T>(s);
}

// How a numeric stats value is stored; all values travel as uint64 bits.
enum class Num { kFloat, kInt, kUint };

void PutNum(Num k, uint64_t v, uint64_t first, bool is_first, std::string* dst) {
  if (k == Num::kFloat) {
    PutFixed64(dst, v);
  } else if (is_first) {
    PutVarint64(dst, k == Num::kInt ? ZigZagEncode(static_cast<int64_t>(v)) : v);
  } else {
    // Block values are usually close to the first one: store the difference.
    PutVarint64(dst, ZigZagEncode(static_cast<int64_t>(v - first)));
  }
}

bool GetNum(Num k, std::string_view* in, uint64_t first, bool is_first, uint64_t* v) {
  if (k == Num::kFloat) return GetFixed64(in, v);
  uint64_t x;
  if (!GetVarint64(in, &x)) return false;
  if (is_first) {
    *v = k == Num::kInt ? static_cast<uint64_t>(ZigZagDecode(x)) : x;
  } else {
    *v = first + static_cast<uint64_t>(ZigZagDecode(x));
  }
  return true;
}

// The five numeric stats as bits: first, last, min, max, sum.
struct NumStats {
  uint64_t first, last, min, max, sum;
};

NumStats ToNum(const BlockStats& s, FieldType t) {
  switch (t) {
    case FieldType::kFloat:
      return {std::bit_cast<uint64_t>(s.first_f), std::bit_cast<uint64_t>(s.last_f),
              std::bit_cast<uint64_t>(s.min_f), std::bit_cast<uint64_t>(s.max_f),
              std::bit_cast<uint64_t>(s.sum_f)};
    case FieldType::kInteger:
      return {static_cast<uint64_t>(s.first_i), static_cast<uint64_t>(s.last_i),
              static_cast<uint64_t>(s.min_i), static_cast<uint64_t>(s.max_i), static_cast<uint64_t>(s.sum_i)};
    default:
      return {s.first_u, s.last_u, s.min_u, s.max_u, s.sum_u};
  }
}

void FromNum(const NumStats& n, FieldType t, BlockStats* s) {
  switch (t) {
    case FieldType::kFloat:
      s->first_f = std::bit_cast<double>(n.first);
      s->last_f = std::bit_cast<double>(n.last);
      s->min_f = std::bit_cast<double>(n.min);
      s->max_f = std::bit_cast<double>(n.max);
      s->sum_f = std::bit_cast<double>(n.sum);
      break;
    case FieldType::kInteger:
      s->first_i = static_cast<int64_t>(n.first);
      s->last_i = static_cast<int64_t>(n.last);
      s->min_i = static_cast<int64_t>(n.min);
      s->max_i = static_cast<int64_t>(n.max);
      s->sum_i = static_cast<int64_t>(n.sum);
      break;
    default:
      s->first_u = n.first;
      s->last_u = n.last;
      s->min_u = n.min;
      s->max_u = n.max;
      s->sum_u = n.sum;
      break;
  }
}

Num NumKindOf(FieldType t) {
  return t == FieldType::kFloat ? Num::kFloat : t == FieldType::kInteger ? Num::kInt : Num::kUint;
}

void EncodeNumericStats(const BlockStats& s, FieldType t, std::string* dst) {
  const Num k = NumKindOf(t);
  const NumStats n = ToNum(s, t);
  uint8_t flags = 0;
  if (n.last == n.first) flags |= kLastIsFirst;
  if (n.min == n.first) {
    flags |= kMinIsFirst;
  } else if (n.min == n.last) {
    flags |= kMinIsLast;
  }
  if (n.max == n.first) {
    flags |= kMaxIsFirst;
  } else if (n.max == n.last) {
    flags |= kMaxIsLast;
  }
  if (n.sum == n.first) flags |= kSumIsFirst;
  dst->push_back(static_cast<char>(flags));
  PutNum(k, n.first, n.first, true, dst);
  if (!(flags & kLastIsFirst)) PutNum(k, n.last, n.first, false, dst);
  if (!(flags & (kMinIsFirst | kMinIsLast))) PutNum(k, n.min, n.first, false, dst);
  if (!(flags & (kMaxIsFirst | kMaxIsLast))) PutNum(k, n.max, n.first, false, dst);
  if (!(flags & kSumIsFirst)) PutNum(k, n.sum, n.first, false, dst);
}

const char* DecodeNumericStats(std::string_view* in, FieldType t, BlockStats* s) {
  const Num k = NumKindOf(t);
  if (in->empty()) return "truncated stats";
  const uint8_t flags = static_cast<uint8_t>((*in)[0]);
  in->remove_prefix(1);
  // The writer never sets both alternatives; anything else is not ours.
  if ((flags & ~kNumericFlagsMask) != 0 || (flags & kMinIsFirst && flags & kMinIsLast) ||
      (flags & kMaxIsFirst && flags & kMaxIsLast)) {
    return "bad stats flags";
  }
  NumStats n;
  if (!GetNum(k, in, 0, true, &n.first)) return "truncated stats";
  n.last = n.first;
  if (!(flags & kLastIsFirst) && !GetNum(k, in, n.first, false, &n.last)) return "truncated stats";
  if (flags & kMinIsFirst) {
    n.min = n.first;
  } else if (flags & kMinIsLast) {
    n.min = n.last;
  } else if (!GetNum(k, in, n.first, false, &n.min)) {
    return "truncated stats";
  }
  if (flags & kMaxIsFirst) {
    n.max = n.first;
  } else if (flags & kMaxIsLast) {
    n.max = n.last;
  } else if (!GetNum(k, in, n.first, false, &n.max)) {
    return "truncated stats";
  }
  n.sum = n.first;
  if (!(flags & kSumIsFirst) && !GetNum(k, in, n.first, false, &n.sum)) return "truncated stats";
  FromNum(n, t, s);
  return nullptr;
}

bool ValidType(uint8_t t) {
  return t >= static_cast<uint8_t>(FieldType::kFloat) && t <= static_cast<uint8_t>(FieldType::kString);
}

}  // namespace

BlockStats ComputeStats(const Column& c, size_t b, size_t e) {
  BlockStats s;
  s.count = static_cast<uint32_t>(e - b);
  s.min_time = c.times[b];
  s.max_time = c.times[e - 1];
  switch (c.type) {
    case FieldType::kFloat: {
      const double* v = c.floats.data();
      // NaN is skipped for min/max (it compares false with everything, so
      // keeping it would make the result depend on its position); a block of
      // only NaN reports its first value.
      double mn = v[b], mx = v[b], sum = 0;
      bool have = !std::isnan(v[b]);
      for (size_t i = b; i < e; i++) {
        const double x = v[i];
        sum += x;
        if (std::isnan(x)) continue;
        if (!have) {
          mn = mx = x;
          have = true;
        }
        if (x < mn) mn = x;
        if (x > mx) mx = x;
      }
      s.min_f = mn;
      s.max_f = mx;
      s.sum_f = sum;
      s.first_f = v[b];
      s.last_f = v[e - 1];
      break;
    }
    case FieldType::kInteger:
      IntegerStats(c.ints.data(), b, e, &s.min_i, &s.max_i, &s.sum_i);
      s.first_i = c.ints[b];
      s.last_i = c.ints[e - 1];
      break;
    case FieldType::kUnsigned:
      IntegerStats(c.uints.data(), b, e, &s.min_u, &s.max_u, &s.sum_u);
      s.first_u = c.uints[b];
      s.last_u = c.uints[e - 1];
      break;
    case FieldType::kBoolean: {
      int64_t trues = 0;
      for (size_t i = b; i < e; i++) trues += c.bools[i] != 0;
      s.sum_i = trues;
      s.min_i = trues == static_cast<int64_t>(s.count) ? 1 : 0;
      s.max_i = trues > 0 ? 1 : 0;
      s.first_i = c.bools[b] != 0;
      s.last_i = c.bools[e - 1] != 0;
      break;
    }
    case FieldType::kString:
      break;
  }
  return s;
}

bool SameStats(const BlockStats& a, const BlockStats& b) {
  auto same_f = [](double x, double y) { return std::bit_cast<uint64_t>(x) == std::bit_cast<uint64_t>(y); };
  return a.count == b.count && a.min_time == b.min_time && a.max_time == b.max_time &&
         same_f(a.min_f, b.min_f) && same_f(a.max_f, b.max_f) && same_f(a.sum_f, b.sum_f) &&
         same_f(a.first_f, b.first_f) && same_f(a.last_f, b.last_f) && a.min_i == b.min_i &&
         a.max_i == b.max_i && a.sum_i == b.sum_i && a.first_i == b.first_i && a.last_i == b.last_i &&
         a.min_u == b.min_u && a.max_u == b.max_u && a.sum_u == b.sum_u && a.first_u == b.first_u &&
         a.last_u == b.last_u;
}

void EncodeIndexEntry(const BlockHandle& h, IndexCursor* cur, std::string* dst) {
  const BlockStats& s = h.stats;
  bool same_key = false;
  if (cur->first) {
    PutVarint64(dst, h.series_id);
    PutVarint32(dst, h.field_id);
  } else {
    PutVarint64(dst, h.series_id - cur->series_id);
    if (h.series_id == cur->series_id) {
      PutVarint32(dst, h.field_id - cur->field_id);
      same_key = h.field_id == cur->field_id;
    } else {
      PutVarint32(dst, h.field_id);
    }
  }
  dst->push_back(static_cast<char>(h.type));
  PutVarint32(dst, s.count);
  if (same_key) {
    // Blocks of one column follow each other: the gap is one interval.
    PutVarint64(dst, static_cast<uint64_t>(s.min_time) - static_cast<uint64_t>(cur->max_time));
  } else {
    // Series of one partition start at similar times.
    PutVarint64(dst, ZigZagEncode(static_cast<int64_t>(static_cast<uint64_t>(s.min_time) -
                                                       static_cast<uint64_t>(cur->min_time))));
  }
  PutVarint64(dst, static_cast<uint64_t>(s.max_time) - static_cast<uint64_t>(s.min_time));
  switch (h.type) {
    case FieldType::kFloat:
    case FieldType::kInteger:
    case FieldType::kUnsigned:
      EncodeNumericStats(s, h.type, dst);
      break;
    case FieldType::kBoolean:
      dst->push_back(static_cast<char>((s.first_i ? kBoolFirst : 0) | (s.last_i ? kBoolLast : 0) |
                                       (s.min_i ? kBoolMin : 0) | (s.max_i ? kBoolMax : 0)));
      PutVarint64(dst, static_cast<uint64_t>(s.sum_i));
      break;
    case FieldType::kString:
      break;
  }
  PutVarint32(dst, h.times_bytes);
  PutVarint32(dst, h.values_bytes);
  cur->first = false;
  cur->series_id = h.series_id;
  cur->field_id = h.field_id;
  cur->min_time = s.min_time;
  cur->max_time = s.max_time;
}

const char* DecodeIndexEntry(std::string_view* in, IndexCursor* cur, BlockHandle* h) {
  uint64_t series_delta;
  uint32_t field;
  if (!GetVarint64(in, &series_delta) || !GetVarint32(in, &field)) return "truncated key";
  bool same_key = false;
  if (cur->first) {
    h->series_id = series_delta;
    h->field_id = field;
  } else if (series_delta == 0) {
    if (field > UINT32_MAX - cur->field_id) return "field id overflow";
    h->series_id = cur->series_id;
    h->field_id = cur->field_id + field;
    same_key = field == 0;
  } else {
    if (series_delta > UINT64_MAX - cur->series_id) return "series id overflow";
    h->series_id = cur->series_id + series_delta;
    h->field_id = field;
  }
  if (in->empty()) return "truncated kind";
  const uint8_t kind = static_cast<uint8_t>((*in)[0]);
  in->remove_prefix(1);
  if (!ValidType(kind)) return "bad field type";
  h->type = static_cast<FieldType>(kind);

  BlockStats s;
  uint32_t count;
  uint64_t time0, span;
  if (!GetVarint32(in, &count) || !GetVarint64(in, &time0) || !GetVarint64(in, &span)) {
    return "truncated times";
  }
  if (count == 0 || count > encoding::kMaxBlockValues) return "bad point count";
  s.count = count;
  if (same_key) {
    // Strictly after the previous block of the column, without overflow.
    const uint64_t room = static_cast<uint64_t>(INT64_MAX) - static_cast<uint64_t>(cur->max_time);
    if (time0 == 0 || time0 > room) return "blocks of a column overlap or out of order";
    s.min_time = static_cast<int64_t>(static_cast<uint64_t>(cur->max_time) + time0);
  } else {
    s.min_time = static_cast<int64_t>(static_cast<uint64_t>(cur->min_time) +
                                      static_cast<uint64_t>(ZigZagDecode(time0)));
  }
  // Unique timestamps: `count` points need a span of at least count - 1.
  const uint64_t room = static_cast<uint64_t>(INT64_MAX) - static_cast<uint64_t>(s.min_time);
  if (span > room || span < count - 1) return "bad time range";
  s.max_time = static_cast<int64_t>(static_cast<uint64_t>(s.min_time) + span);

  switch (h->type) {
    case FieldType::kFloat:
    case FieldType::kInteger:
    case FieldType::kUnsigned:
      if (const char* err = DecodeNumericStats(in, h->type, &s)) return err;
      break;
    case FieldType::kBoolean: {
      if (in->empty()) return "truncated stats";
      const uint8_t flags = static_cast<uint8_t>((*in)[0]);
      in->remove_prefix(1);
      uint64_t trues;
      if ((flags & ~kBoolFlagsMask) != 0) return "bad stats flags";
      if (!GetVarint64(in, &trues)) return "truncated stats";
      if (trues > count) return "bad stats";
      s.first_i = (flags & kBoolFirst) != 0;
      s.last_i = (flags & kBoolLast) != 0;
      s.min_i = (flags & kBoolMin) != 0;
      s.max_i = (flags & kBoolMax) != 0;
      s.sum_i = static_cast<int64_t>(trues);
      break;
    }
    case FieldType::kString:
      break;
  }
  if (!GetVarint32(in, &h->times_bytes) || !GetVarint32(in, &h->values_bytes)) return "truncated lengths";
  h->stats = s;
  cur->first = false;
  cur->series_id = h->series_id;
  cur->field_id = h->field_id;
  cur->min_time = s.min_time;
  cur->max_time = s.max_time;
  return nullptr;
}

std::string EncodeIndexSection(std::string_view entries) {
  std::string out;
  if (!entries.empty()) {
    std::string frame(ZSTD_compressBound(entries.size()), '\0');
    // Level 9: the index is compressed once per segment and read once per
    // open; a few milliseconds for a 100 k-block index buys ~10 % more.
    const size_t z = ZSTD_compress(frame.data(), frame.size(), entries.data(), entries.size(), 9);
    std::string head;
    head.push_back(static_cast<char>(kIndexZstd));
    PutVarint64(&head, entries.size());
    if (!ZSTD_isError(z) && head.size() + z < entries.size() + 1 &&
        entries.size() <= kMaxIndexExpansion * z) {
      out = std::move(head);
      out.append(frame.data(), z);
      return out;
    }
  }
  out.push_back(static_cast<char>(kIndexRaw));
  out.append(entries);
  return out;
}

const char* DecodeIndexSection(std::string_view section, std::string* scratch, std::string_view* entries) {
  if (section.empty()) return "index section without its mode byte";
  const uint8_t mode = static_cast<uint8_t>(section[0]);
  section.remove_prefix(1);
  if (mode == kIndexRaw) {
    *entries = section;
    return nullptr;
  }
  if (mode != kIndexZstd) return "unknown index mode";
  uint64_t raw = 0;
  if (!GetVarint64(&section, &raw) || raw == 0) return "bad compressed index length";
  if (raw > kMaxIndexExpansion * (section.size() + 1)) return "compressed index length too large";
  if (ZSTD_getFrameContentSize(section.data(), section.size()) != raw) return "index frame size mismatch";
  scratch->resize(raw);
  const size_t got = ZSTD_decompress(scratch->data(), scratch->size(), section.data(), section.size());
  if (ZSTD_isError(got) || got != raw) return "index frame does not decompress";
  *entries = *scratch;
  return nullptr;
}

}  // namespace m2mdb::segment::format
