// DBImpl's read path: the snapshot (heads + segment version), series
// selection through the tag postings (MatchSeries), the per-(series, field)
// merge of segments and heads with tombstones applied (ReadSeriesField, with
// block summaries in ReadSeriesFieldSummarised), Scan, damaged-block
// handling, and the metadata reads (measurements, tag keys and values, field
// keys, series).
#include <algorithm>
#include <iterator>
#include <numeric>
#include <tuple>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "re2/re2.h"

#include "engine/db/db_impl.h"
#include "engine/db/db_internal.h"
#include "engine/db/db_series.h"
#include "engine/util/logging.h"
#include "engine/util/time_math.h"

namespace m2mdb {
namespace {

// Keeps points with lo <= t <= hi. REQUIRES: c sorted by time. Blocks hold
// hours of points, so a one-hour query clips most of what it decoded: two
// binary searches and a range erase per vector instead of a rebuild.
void ClipColumn(Column* c, int64_t lo, int64_t hi) {
  if (c->empty() || (c->times.front() >= lo && c->times.back() <= hi)) return;
  const size_t a = std::lower_bound(c->times.begin(), c->times.end(), lo) - c->times.begin();
  const size_t b = std::upper_bound(c->times.begin(), c->times.end(), hi) - c->times.begin();
  if (a >= b) {  // nothing in range (also lo > hi)
    FieldType type = c->type;
    c->clear();
    c->type = type;
    return;
  }
  auto clip = [&](auto& v) {
    if (v.empty()) return;
    v.erase(v.begin() + b, v.end());
    v.erase(v.begin(), v.begin() + a);
  };
  clip(c->times);
  clip(c->floats);
  clip(c->ints);
  clip(c->uints);
  clip(c->bools);
  clip(c->strings);
}

// Merges the time-sorted tail of `*ot`/`*ov` from position i0 with all of
// `pt`/`pv` (also sorted, unique times), `pv` winning on equal times, in
// place: the vectors grow by p's size and the merge runs from the back, so
// no buffer is allocated and each point is moved once (a forward merge into
// a new buffer, then copied back, was a fifth of a 4-segment day's read).
// Linear where sorting the whole column (the former way) cost n log n index
// moves and a per-point type switch.
template <typename V>
void MergeSortedTail(std::vector<int64_t>* ot, V* ov, size_t i0, const int64_t* p, typename V::value_type* q,
                     size_t m) {
  const size_t n = ot->size();
  ot->resize(n + m);
  ov->resize(n + m);
  int64_t* const t = ot->data();
  auto* const v = ov->data();
  // Invariant: k - a >= b, so a write at k - 1 never lands on an unread
  // point of the tail [i0, a).
  size_t a = n, b = m, k = n + m;
  while (a > i0 && b > 0) {
    const int64_t ta = t[a - 1], tb = p[b - 1];
    if (ta > tb) {
      --a, --k;
      if (k != a) {
        t[k] = ta;
        v[k] = std::move(v[a]);
      }
    } else {
      --b, --k;
      t[k] = tb;
      v[k] = std::move(q[b]);
      a -= ta == tb;  // the newer source's point replaces the older one
    }
  }
  while (b > 0) {
    --b, --k;
    t[k] = p[b];
    v[k] = std::move(q[b]);
  }
  // [i0, a) is in place; the merged run [k, n + m) follows it once moved
  // down over the gap the replaced points left.
  if (k > a) {
    std::move(t + k, t + n + m, t + a);
    std::move(v + k, v + n + m, v + a);
  }
  ot->resize(a + (n + m - k));
  ov->resize(a + (n + m - k));
}

// Adds m sorted points (unique times) to a sorted column, p's points winning
// on equal times. Only p's points up to the column's last time are merged;
// the rest (after a flush cut, nearly all of a part) is appended, so the
// column is not zero-filled for them first (MergeSortedTail's resize: a
// fifteenth of a 4-segment day's read, callgrind).
template <typename V>
void MergeOrAppend(std::vector<int64_t>* ot, V* ov, const int64_t* p, typename V::value_type* q, size_t m) {
  size_t k = 0;
  if (!ot->empty() && p[0] <= ot->back()) {
    const size_t i0 = std::lower_bound(ot->begin(), ot->end(), p[0]) - ot->begin();
    k = std::upper_bound(p, p + m, ot->back()) - p;
    MergeSortedTail(ot, ov, i0, p, q, k);
  }
  ot->insert(ot->end(), p + k, p + m);
  ov->insert(ov->end(), std::make_move_iterator(q + k), std::make_move_iterator(q + m));
}

// Points [start, size) of c's time vector and value vector (sorted, unique
// times, newer than [0, start), which is sorted too) are merged into
// [0, start) in place, the newer point winning on equal times; returns the
// new size. Only the run's points up to c's last old time move: they are
// set aside (a flush cut overlaps by a few points), the old tail they
// interleave with is merged from the back over the gap, and what equal
// times dropped is closed by moving the rest down once.
template <typename V>
size_t MergeRunTyped(std::vector<int64_t>* tv, V* vv, size_t start, size_t size) {
  int64_t* const t = tv->data();
  auto* const v = vv->data();
  if (start == 0 || start == size || t[start] > t[start - 1]) return size;
  const size_t lo = std::lower_bound(t, t + start, t[start]) - t;  // old points before it stay
  const size_t k = std::upper_bound(t + start, t + size, t[start - 1]) - (t + start);
  thread_local std::vector<int64_t> st;
  thread_local V sv;
  st.assign(t + start, t + start + k);
  sv.assign(std::make_move_iterator(v + start), std::make_move_iterator(v + start + k));
  // Invariant: w - a >= b, so a write at w - 1 never lands on an unread old point.
  size_t a = start, b = k, w = start + k;
  while (a > lo && b > 0) {
    const int64_t ta = t[a - 1], tb = st[b - 1];
    if (ta > tb) {
      --a, --w;
      if (w != a) {
        t[w] = ta;
        v[w] = std::move(v[a]);
      }
    } else {
      --b, --w;
      t[w] = tb;
      v[w] = std::move(sv[b]);
      a -= ta == tb;
    }
  }
  while (b > 0) {
    --b, --w;
    t[w] = st[b];
    v[w] = std::move(sv[b]);
  }
  if (sv.capacity() > 4096) {
    st = {};
    sv = {};
  }
  if (w > a) {
    std::move(t + w, t + size, t + a);
    std::move(v + w, v + size, v + a);
    size -= w - a;
  }
  return size;
}

size_t MergeRunInPlace(Column* c, size_t start, size_t size) {
  switch (c->type) {
    case FieldType::kFloat:
      return MergeRunTyped(&c->times, &c->floats, start, size);
    case FieldType::kInteger:
      return MergeRunTyped(&c->times, &c->ints, start, size);
    case FieldType::kUnsigned:
      return MergeRunTyped(&c->times, &c->uints, start, size);
    case FieldType::kBoolean:
      return MergeRunTyped(&c->times, &c->bools, start, size);
    case FieldType::kString:
      return MergeRunTyped(&c->times, &c->strings, start, size);
  }
  return size;
}

// Merges the parts of one (series, field) read — a part per segment, then the
// frozen and active heads — into one column, newest last (a later part wins
// on equal timestamps). Each part is sorted with unique times; a part that
// starts after the merged points end is appended, one that overlaps them is
// merged into their tail from the first point it reaches.
class PartMerger {
 public:
  // keep: `out` already holds merged points of this read (same type), to
  // which the parts are added.
  PartMerger(FieldType type, Column* out, bool keep = false) : type_(type), out_(out) {
    if (keep) return;
    out->clear();
    out->type = type;
  }
  // A segment's part: drops its tombstoned and out-of-range points first.
  void AddSegmentPart(Column* part, const std::vector<index::Tombstone>& tombstones, uint32_t db_id,
                      uint64_t series_id, uint64_t segment_id, int64_t min_time, int64_t max_time) {
    for (const auto& t : tombstones) {
      if (TombstoneCovers(t, db_id, series_id, segment_id)) {
        FilterColumn(part, [&](int64_t ts) { return ts >= t.min_time && ts <= t.max_time; });
      }
    }
    ClipColumn(part, min_time, max_time);
    Add(part);
  }
  // Room for n points in all, so that appending part after part does not
  // regrow (and copy) the column each time.
  void Reserve(size_t n) { out_->reserve(n); }
  // Takes p's points (moved out, or p left empty). The first part is
  // swapped in only when the column has no room for it: a swap hands the
  // column's buffers (kept across series by Scan) to the part, which is
  // then cleared, instead of freeing them.
  void Add(Column* p) {
    if (p->empty()) return;
    if (out_->empty() && out_->times.capacity() < p->size()) {
      std::swap(*out_, *p);
      p->clear();
      p->type = type_;
      return;
    }
    Merge(p, p->size());
  }
  // As Add, for the first m points of p (a part decoded in place at the
  // front of longer vectors, ReadBlockRangeAt); they are moved out of p.
  void AddPrefix(Column* p, size_t m) {
    if (m == 0) return;
    Merge(p, m);
  }
  void Finish() {}

 private:
  // Merges (or appends) the first m points of p; they are moved out of p.
  void Merge(Column* p, size_t m) {
    switch (type_) {
      case FieldType::kFloat:
        MergeOrAppend(&out_->times, &out_->floats, p->times.data(), p->floats.data(), m);
        break;
      case FieldType::kInteger:
        MergeOrAppend(&out_->times, &out_->ints, p->times.data(), p->ints.data(), m);
        break;
      case FieldType::kUnsigned:
        MergeOrAppend(&out_->times, &out_->uints, p->times.data(), p->uints.data(), m);
        break;
      case FieldType::kBoolean:
        MergeOrAppend(&out_->times, &out_->bools, p->times.data(), p->bools.data(), m);
        break;
      case FieldType::kString:
        MergeOrAppend(&out_->times, &out_->strings, p->times.data(), p->strings.data(), m);
        break;
    }
  }

  const FieldType type_;
  Column* const out_;
};

}  // namespace

// ---------------------------------------------------------------------------
// Read path

DBImpl::Snapshot DBImpl::GetSnapshot() {
  absl::MutexLock l(&state_mu_);
  return Snapshot{active_, frozen_, version_};
}

namespace {
// A compiled matcher; regexes compiled once per request.
struct CompiledMatcher {
  const TagMatcher* m;
  std::unique_ptr<RE2> re;
};

std::string_view TagValueOf(const std::vector<std::pair<std::string, std::string>>& tags,
                            std::string_view key) {
  for (const auto& [k, v] : tags)
    if (k == key) return v;
  return {};
}

bool Matches(const std::vector<CompiledMatcher>& ms,
             const std::vector<std::pair<std::string, std::string>>& tags) {
  for (const auto& cm : ms) {
    std::string_view v = TagValueOf(tags, cm.m->key);
    switch (cm.m->op) {
      case TagOp::kEqual:
        if (v != cm.m->value) return false;
        break;
      case TagOp::kNotEqual:
        if (v == cm.m->value) return false;
        break;
      case TagOp::kRegex:
        if (!RE2::PartialMatch(re2::StringPiece(v.data(), v.size()), *cm.re)) return false;
        break;
      case TagOp::kNotRegex:
        if (RE2::PartialMatch(re2::StringPiece(v.data(), v.size()), *cm.re)) return false;
        break;
    }
  }
  return true;
}

StatusOr<std::vector<CompiledMatcher>> Compile(const std::vector<TagMatcher>& matchers) {
  std::vector<CompiledMatcher> out;
  for (const auto& m : matchers) {
    CompiledMatcher cm{&m, nullptr};
    if (m.op == TagOp::kRegex || m.op == TagOp::kNotRegex) {
      cm.re = std::make_unique<RE2>(m.value, RE2::Quiet);
      if (!cm.re->ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid regular expression /", m.value, "/: ", cm.re->error()));
      }
    }
    out.push_back(std::move(cm));
  }
  return out;
}
}  // namespace

StatusOr<std::vector<std::pair<std::string, uint64_t>>> DBImpl::MatchSeries(
    uint32_t db_id, std::string_view measurement, const std::vector<TagMatcher>& matchers) {
  std::vector<uint64_t> ids;
  bool narrowed = false;
  // Equality on a non-empty value, and a regex that is an anchored set of
  // non-empty literals (the planner's form of `k = 'a' OR k = 'b'`), are
  // answered exactly by the postings; only the other matchers are checked
  // per series, which needs the series key parsed.
  std::vector<TagMatcher> rest;
  std::vector<std::string> literals;
  for (const auto& m : matchers) {
    std::vector<uint64_t> posting;
    if (m.op == TagOp::kEqual && !m.value.empty()) {
      posting = index_->SeriesWithTag(db_id, measurement, m.key, m.value);
    } else if (m.op == TagOp::kRegex && index::LiteralAlternation(m.value, &literals) &&
               std::none_of(literals.begin(), literals.end(),
                            [](const std::string& l) { return l.empty(); })) {
      for (const auto& lit : literals) {
        auto one = index_->SeriesWithTag(db_id, measurement, m.key, lit);
        posting.insert(posting.end(), one.begin(), one.end());
      }
      std::sort(posting.begin(), posting.end());
      posting.erase(std::unique(posting.begin(), posting.end()), posting.end());
    } else {
      rest.push_back(m);
      continue;
    }
    if (!narrowed) {
      ids = std::move(posting);
      narrowed = true;
    } else {
      std::vector<uint64_t> both;
      std::set_intersection(ids.begin(), ids.end(), posting.begin(), posting.end(), std::back_inserter(both));
      ids = std::move(both);
    }
  }
  if (!narrowed) ids = index_->SeriesOfMeasurement(db_id, measurement);
  ASSIGN_OR_RETURN(auto compiled, Compile(rest));
  std::vector<std::pair<std::string, uint64_t>> out;
  out.reserve(ids.size());
  std::string m;
  std::vector<std::pair<std::string, std::string>> tags;
  for (uint64_t id : ids) {
    auto key = index_->SeriesKeyOf(id);
    if (!key) continue;  // dropped concurrently
    if (!compiled.empty()) {
      RETURN_IF_ERROR(lineproto::ParseSeriesKey(*key, &m, &tags));
      if (!Matches(compiled, tags)) continue;
    }
    out.emplace_back(std::move(*key), id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {
// Whether one tombstone hides every point of `series_id` in segment
// `segment_id` within [lo, hi]: such data need not be read at all, so a
// DELETE over damaged data makes the reads of that range work again.
bool WhollyDeleted(const std::vector<index::Tombstone>& tombstones, uint32_t db_id, uint64_t series_id,
                   uint64_t segment_id, int64_t lo, int64_t hi) {
  for (const auto& t : tombstones) {
    if (t.min_time <= lo && t.max_time >= hi && TombstoneCovers(t, db_id, series_id, segment_id)) return true;
  }
  return false;
}
}  // namespace

StatusOr<bool> DBImpl::SegmentMayHold(const SegmentRef& seg, const std::vector<index::Tombstone>& tombstones,
                                      uint32_t db_id, int64_t /*partition_ns*/, uint64_t series_id,
                                      int64_t min_time, int64_t max_time) {
  const auto& meta = seg.meta;
  if (meta.db_id != db_id) return false;
  // Not the partition's end: ALTER RETENTION POLICY ... SHARD DURATION may
  // have shortened the partitions since this segment was written.
  if (meta.partition_start > max_time) return false;
  if (meta.max_time < min_time || meta.min_time > max_time) return false;
  if (!seg.reader) {
    // Without its index nobody can tell which series the file holds: every
    // read of its database and time range may need it.
    if (!tombstones.empty() &&
        WhollyDeleted(tombstones, db_id, series_id, meta.id, std::max(min_time, meta.min_time),
                      std::min(max_time, meta.max_time))) {
      return false;
    }
    if (options_.skip_damaged_blocks) {
      NoteSkippedDamage(meta.file, seg.open_status);
      return false;
    }
    // The client gets the file's name, never its path (that goes to the log).
    return absl::DataLossError(
        absl::StrCat("segment ", meta.file,
                     " is damaged and cannot be read (its index is unreadable); the data "
                     "it holds is unavailable until `m2mdb check --repair` is run"));
  }
  return true;
}

Status DBImpl::DamagedBlock(const SegmentRef& seg, const segment::BlockHandle& h, const Status& s) {
  if (options_.skip_damaged_blocks) {
    NoteSkippedDamage(seg.meta.file, s);
    return absl::OkStatus();
  }
  // The full error (with the path) for the operator, at most every 10 s: a
  // dashboard re-reading damaged data would otherwise fill the log.
  const int64_t now = NowNanos();
  int64_t last = last_damage_log_ns_.load();
  if (now - last >= 10'000'000'000 && last_damage_log_ns_.compare_exchange_strong(last, now)) {
    LogWarning("read failed: ", s.message(), " (run `m2mdb check`)");
  }
  return absl::DataLossError(absl::StrCat("segment ", seg.meta.file, ": damaged block (series ", h.series_id,
                                          ", field ", h.field_id, ", ", h.stats.count, " points from ",
                                          h.stats.min_time, " to ", h.stats.max_time,
                                          "); run `m2mdb check` (details in the server log)"));
}

void DBImpl::NoteSkippedDamage(const std::string& file, const Status& s) {
  const uint64_t n = damaged_skipped_.fetch_add(1) + 1;
  // One warning per 10 s at most: a dashboard re-reading damaged data would
  // otherwise fill the log.
  const int64_t now = NowNanos();
  int64_t last = last_damage_log_ns_.load();
  if (now - last >= 10'000'000'000 && last_damage_log_ns_.compare_exchange_strong(last, now)) {
    LogWarning("skipping damaged data in segment ", file, " (", s.message(), "); ", n,
               " damaged blocks skipped by reads so far; run `m2mdb check --repair`");
  }
}

Status DBImpl::ReadSeriesField(const Snapshot& snap, uint32_t db_id, int64_t partition_ns, uint64_t series_id,
                               const index::FieldInfo& field, int64_t min_time, int64_t max_time, Column* out,
                               size_t limit, bool from_end, uint64_t* budget) {
  // Points of blocks wholly in range decoded so far (ScanRequest::max_points).
  uint64_t decoded = 0;
  PartMerger merger(field.type, out);
  std::vector<const segment::BlockHandle*> blocks;
  Column part;
  for (const auto& seg : snap.version->segments) {
    const auto& meta = seg->meta;
    ASSIGN_OR_RETURN(bool may_hold, SegmentMayHold(*seg, snap.version->tombstones, db_id, partition_ns,
                                                   series_id, min_time, max_time));
    if (!may_hold) continue;
    blocks.clear();
    seg->reader->FindBlocks(series_id, field.id, min_time, max_time, &blocks);
    if (blocks.empty()) continue;
    // With a limit, the first (last) `limit` points of the merged column are
    // among the first (last) `limit` of every source: a source's times are
    // unique, so its k-th point has k - 1 distinct times before it. The
    // blocks of one segment are disjoint and sorted by time, so only those
    // up to `limit` points from the near end are decoded. Only blocks wholly
    // in range are counted (their count is exact), and a segment with a
    // tombstone of the series is read whole (deleted points do not count).
    bool tombstoned = false;
    if (limit > 0) {
      for (const auto& t : snap.version->tombstones)
        tombstoned |= TombstoneCovers(t, db_id, series_id, meta.id);
    }
    if (limit > 0 && !tombstoned) {
      size_t have = 0, keep = 0;
      for (; keep < blocks.size() && have < limit; keep++) {
        const auto& st = blocks[from_end ? blocks.size() - 1 - keep : keep]->stats;
        if (st.min_time >= min_time && st.max_time <= max_time) have += static_cast<size_t>(st.count);
      }
      if (from_end) {
        blocks.erase(blocks.begin(), blocks.end() - static_cast<std::ptrdiff_t>(keep));
      } else {
        blocks.resize(keep);
      }
    }
    if (budget != nullptr && !tombstoned) {
      // Before decoding: the blocks wholly in range hold at least this many
      // (with a limit, at most `limit` of them are kept).
      uint64_t sure = 0;
      for (const auto* h : blocks) {
        if (h->type == field.type && h->stats.min_time >= min_time && h->stats.max_time <= max_time) {
          sure += static_cast<uint64_t>(h->stats.count);
        }
      }
      decoded += limit > 0 ? std::min<uint64_t>(sure, limit) : sure;
      if (decoded > *budget)
        return WithErrorKind(absl::ResourceExhaustedError("query memory limit exceeded"),
                             ErrorKind::kQueryMemory);
    }
    part.clear();
    part.type = field.type;
    // Sized once: growing while appending block after block copied the
    // earlier blocks again (10 trucks x 12 h: ~0.5 M instructions a query).
    size_t points = 0;
    for (const auto* h : blocks) points += h->stats.count;
    part.reserve(points);
    for (const auto* h : blocks) {
      if (h->type != field.type) continue;  // a dropped-and-recreated field of another type
      // Only the points in range: a one-hour read of an 11-hour block no
      // longer zero-fills and trims the whole block in the caller's column.
      Status rs = seg->reader->ReadBlockRange(*h, min_time, max_time, &part);
      if (!rs.ok() &&
          !WhollyDeleted(snap.version->tombstones, db_id, series_id, meta.id,
                         std::max(min_time, h->stats.min_time), std::min(max_time, h->stats.max_time))) {
        RETURN_IF_ERROR(DamagedBlock(*seg, *h, rs));
      }
    }
    merger.AddSegmentPart(&part, snap.version->tombstones, db_id, series_id, meta.id, min_time, max_time);
  }
  auto read_head = [&](const std::shared_ptr<Head>& h) {
    part.clear();
    part.type = field.type;
    if (h->points() == 0 || h->max_time() < min_time || h->min_time() > max_time) return;
    if (h->Read(series_id, field.id, min_time, max_time, &part) && part.type == field.type) merger.Add(&part);
  };
  for (const auto& h : snap.frozen) read_head(h);
  read_head(snap.active);
  merger.Finish();
  if (limit > 0 && out->size() > limit) {
    if (from_end) {
      const size_t cut = out->size() - limit;
      auto drop_front = [cut](auto& v) {
        if (!v.empty()) v.erase(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(cut));
      };
      drop_front(out->times);
      drop_front(out->floats);
      drop_front(out->ints);
      drop_front(out->uints);
      drop_front(out->bools);
      drop_front(out->strings);
    } else {
      out->truncate(limit);
    }
  }
  if (budget != nullptr) {
    if (out->size() > *budget)
      return WithErrorKind(absl::ResourceExhaustedError("query memory limit exceeded"),
                           ErrorKind::kQueryMemory);
    *budget -= out->size();
  }
  return absl::OkStatus();
}

namespace {

// The start of the window holding t (offset + k * len <= t for the largest
// integer k: InfluxQL's GROUP BY time alignment), in 128 bits because
// t - offset may leave int64.
__int128 WindowStart(int64_t t, int64_t len, int64_t offset) {
  const __int128 d = static_cast<__int128>(t) - offset;
  __int128 q = d / len;
  if (d % len != 0 && d < 0) q--;
  return q * len + offset;
}

BlockSummary ToSummary(const segment::BlockHandle& h) {
  const segment::BlockStats& st = h.stats;
  BlockSummary s;
  s.type = h.type;
  s.count = st.count;
  s.min_time = st.min_time;
  s.max_time = st.max_time;
  // Only the block type's set: the segment's sets share their storage, and
  // a summary's other members stay 0 as they always were.
  switch (h.type) {
    case FieldType::kFloat:
      s.min_f = st.min_f, s.max_f = st.max_f, s.sum_f = st.sum_f, s.first_f = st.first_f, s.last_f = st.last_f;
      break;
    case FieldType::kInteger:
    case FieldType::kBoolean:
      s.min_i = st.min_i, s.max_i = st.max_i, s.sum_i = st.sum_i, s.first_i = st.first_i, s.last_i = st.last_i;
      break;
    case FieldType::kUnsigned:
      s.min_u = st.min_u, s.max_u = st.max_u, s.sum_u = st.sum_u, s.first_u = st.first_u, s.last_u = st.last_u;
      break;
    default:
      break;
  }
  return s;
}

}  // namespace

Status DBImpl::ReadSeriesFieldSummarised(const Snapshot& snap, uint32_t db_id, int64_t partition_ns,
                                         uint64_t series_id, const index::FieldInfo& field,
                                         const ScanRequest& request, Column* out,
                                         std::vector<BlockSummary>* summaries) {
  const int64_t min_time = request.min_time, max_time = request.max_time;
  // `out` is not cleared yet: with a single source its vectors (the
  // previous series' points) are overwritten in place below.
  summaries->clear();
  // Every source of (series, field) first: whether a block may be summarised
  // depends on all the others.
  struct SegBlocks {
    const SegmentRef* seg;
    size_t begin, end;  // into `blocks`
  };
  std::vector<SegBlocks> segs;
  std::vector<const segment::BlockHandle*> blocks;
  for (const auto& seg : snap.version->segments) {
    ASSIGN_OR_RETURN(bool may_hold, SegmentMayHold(*seg, snap.version->tombstones, db_id, partition_ns,
                                                   series_id, min_time, max_time));
    if (!may_hold) continue;
    const size_t begin = blocks.size();
    seg->reader->FindBlocks(series_id, field.id, min_time, max_time, &blocks);
    // Blocks of a dropped-and-recreated field of another type are never read.
    blocks.erase(std::remove_if(blocks.begin() + static_cast<std::ptrdiff_t>(begin), blocks.end(),
                                [&](const segment::BlockHandle* h) { return h->type != field.type; }),
                 blocks.end());
    if (blocks.size() > begin) segs.push_back({seg.get(), begin, blocks.size()});
  }
  std::vector<Column> heads;
  auto read_head = [&](const std::shared_ptr<Head>& h) {
    if (h->points() == 0 || h->max_time() < min_time || h->min_time() > max_time) return;
    Column part;
    part.type = field.type;
    if (h->Read(series_id, field.id, min_time, max_time, &part) && part.type == field.type && !part.empty()) {
      heads.push_back(std::move(part));
    }
  };
  for (const auto& h : snap.frozen) read_head(h);
  read_head(snap.active);

  // Only the first point (the last, with limit_from_end) is wanted — the
  // caller computes nothing but first() (last()) over one window — and the
  // scan may answer with the block that holds it, undecoded, whatever the
  // other sources overlap (ScanRequest::limit_points). That is the block
  // whose max_time (min_time) is the latest (earliest) of all, the newest
  // segment's on equal times as a newer source wins there; it must be
  // wholly in range and untouched by tombstones, and no head may hold a
  // point at exactly that time (the head's would win: then the general path
  // decides). Head points are returned as they are: a later one wins in the
  // caller like any point. After a load and a restart the day is in several
  // segments whose blocks all overlap their neighbours', so the general path
  // below decodes every block of the series to find one point (issue 18:
  // last location of all trucks 10–14 ms).
  if (request.limit_points == 1 && request.summary_window_ns <= 0 && !blocks.empty()) {
    const bool from_end = request.limit_from_end;
    const SegBlocks* best_seg = nullptr;
    size_t best = 0;
    int64_t best_t = 0;
    for (const SegBlocks& sb : segs) {  // ascending id: ties go to the newest
      for (size_t i = sb.begin; i < sb.end; i++) {
        const segment::BlockStats& st = blocks[i]->stats;
        if (st.count == 0) continue;
        const int64_t t = from_end ? st.max_time : st.min_time;
        if (best_seg == nullptr || (from_end ? t >= best_t : t <= best_t)) {
          best_seg = &sb, best = i, best_t = t;
        }
      }
    }
    bool usable = best_seg != nullptr;
    if (usable) {
      const segment::BlockStats& st = blocks[best]->stats;
      usable = st.min_time >= min_time && st.max_time <= max_time;
      for (const auto& t : snap.version->tombstones) {
        if (!usable) break;
        usable = !(t.min_time <= st.max_time && t.max_time >= st.min_time &&
                   TombstoneCovers(t, db_id, series_id, best_seg->seg->meta.id));
      }
      for (size_t k = 0; k < heads.size() && usable; k++) {
        usable = !std::binary_search(heads[k].times.begin(), heads[k].times.end(), best_t);
      }
    }
    if (usable) {
      BlockSummary s = ToSummary(*blocks[best]);
      if (!request.summary_filter || request.summary_filter(s)) {
        summaries->push_back(s);
        PartMerger merger(field.type, out);
        for (Column& h : heads) merger.Add(&h);
        merger.Finish();
        return absl::OkStatus();
      }
    }
  }

  // A block that shares time with another block (of any segment) may hold
  // overwritten points: sorted by min_time, block k overlaps another iff an
  // earlier one reaches its min_time or the next one starts by its max_time.
  std::vector<uint8_t> summarise(blocks.size(), 0);
  {
    std::vector<uint32_t> order(blocks.size());
    std::iota(order.begin(), order.end(), 0u);
    std::sort(order.begin(), order.end(),
              [&](uint32_t a, uint32_t b) { return blocks[a]->stats.min_time < blocks[b]->stats.min_time; });
    std::vector<uint8_t> overlapped(blocks.size(), 0);
    int64_t reach = INT64_MIN;
    for (size_t k = 0; k < order.size(); k++) {
      const segment::BlockStats& st = blocks[order[k]]->stats;
      if (k > 0 && reach >= st.min_time) overlapped[order[k]] = 1;
      if (k + 1 < order.size() && blocks[order[k + 1]]->stats.min_time <= st.max_time)
        overlapped[order[k]] = 1;
      reach = std::max(reach, st.max_time);
    }
    const int64_t len = request.summary_window_ns;
    for (const SegBlocks& sb : segs) {
      for (size_t i = sb.begin; i < sb.end; i++) {
        const segment::BlockStats& st = blocks[i]->stats;
        if (overlapped[i] || st.count == 0 || st.min_time < min_time || st.max_time > max_time) continue;
        if (len > 0 && WindowStart(st.min_time, len, request.summary_window_offset_ns) !=
                           WindowStart(st.max_time, len, request.summary_window_offset_ns)) {
          continue;
        }
        bool clean = true;
        for (const auto& t : snap.version->tombstones) {
          if (t.min_time <= st.max_time && t.max_time >= st.min_time &&
              TombstoneCovers(t, db_id, series_id, sb.seg->meta.id)) {
            clean = false;
            break;
          }
        }
        // A head point in the block's time range may overwrite one of its
        // points (or just interleave; without decoding we cannot tell).
        for (size_t k = 0; k < heads.size() && clean; k++) {
          auto it = std::lower_bound(heads[k].times.begin(), heads[k].times.end(), st.min_time);
          if (it != heads[k].times.end() && *it <= st.max_time) clean = false;
        }
        if (!clean) continue;
        BlockSummary s = ToSummary(*blocks[i]);
        if (request.summary_filter && !request.summary_filter(s)) continue;
        summarise[i] = 1;
        summaries->push_back(s);
      }
    }
  }
  std::sort(summaries->begin(), summaries->end(),
            [](const BlockSummary& a, const BlockSummary& b) { return a.min_time < b.min_time; });

  // The rest is merged as in ReadSeriesField. Summarised blocks share no
  // time with any other source, so leaving them out changes nothing else.
  if (segs.size() == 1 && heads.empty()) {
    // One source, so nothing to merge: its blocks are decoded straight into
    // `out`, over the previous series' points, and the vectors trimmed
    // after. A scan of series of similar length then neither zero-fills
    // nor copies the blocks wholly in range (10 trucks x 12 h: ~1.1 M
    // instructions of a 5.9 M query).
    if (out->type != field.type) out->clear();
    out->type = field.type;
    const SegBlocks& sb = segs[0];
    // Room for every block at once: a column longer than the scan keeps
    // between series (kKeepPoints) otherwise grew block by block, copying
    // itself at each step (one sensor's 6 h at 1 Hz: a fifth of the query).
    size_t total = 0;
    for (size_t i = sb.begin; i < sb.end; i++) total += summarise[i] ? 0 : blocks[i]->stats.count;
    out->reserve(total);
    size_t size = 0;
    Status s;
    for (size_t i = sb.begin; i < sb.end && s.ok(); i++) {
      if (summarise[i]) continue;
      s = sb.seg->reader->ReadBlockRangeAt(*blocks[i], min_time, max_time, out, &size);
      if (!s.ok() && WhollyDeleted(snap.version->tombstones, db_id, series_id, sb.seg->meta.id,
                                   std::max(min_time, blocks[i]->stats.min_time),
                                   std::min(max_time, blocks[i]->stats.max_time))) {
        s = absl::OkStatus();
      }
      if (!s.ok()) s = DamagedBlock(*sb.seg, *blocks[i], s);  // OK when skipping: size unchanged
    }
    out->truncate(s.ok() ? size : 0);
    RETURN_IF_ERROR(s);
    for (const auto& t : snap.version->tombstones) {
      if (TombstoneCovers(t, db_id, series_id, sb.seg->meta.id)) {
        FilterColumn(out, [&](int64_t ts) { return ts >= t.min_time && ts <= t.max_time; });
      }
    }
    ClipColumn(out, min_time, max_time);
    return absl::OkStatus();
  }
  // Each segment's part is decoded straight after the points merged so far,
  // into `out`'s vectors, which keep the previous series' length as in the
  // one-source case (ReadBlockRangeAt): a part that starts after them is
  // then in place, and one that overlaps them (a flush cut: a few points)
  // is merged into their tail in place. Decoding into a separate part and
  // copying it over was a fifth of a 4-segment day's read (callgrind,
  // memcpy), zero-filling the column for it another fifteenth.
  if (out->type != field.type) out->clear();
  out->type = field.type;
  size_t size = 0;
  for (const SegBlocks& sb : segs) {
    const size_t start = size;
    for (size_t i = sb.begin; i < sb.end; i++) {
      if (summarise[i]) continue;
      Status rs = sb.seg->reader->ReadBlockRangeAt(*blocks[i], min_time, max_time, out, &size);
      if (!rs.ok() && !WhollyDeleted(snap.version->tombstones, db_id, series_id, sb.seg->meta.id,
                                     std::max(min_time, blocks[i]->stats.min_time),
                                     std::min(max_time, blocks[i]->stats.max_time))) {
        Status d = DamagedBlock(*sb.seg, *blocks[i], rs);  // OK when skipping: size unchanged
        if (!d.ok()) {
          out->truncate(0);
          return d;
        }
      }
    }
    if (size == start) continue;
    bool tombstoned = false;
    for (const auto& t : snap.version->tombstones)
      tombstoned |= TombstoneCovers(t, db_id, series_id, sb.seg->meta.id);
    if (tombstoned) {  // rare: the part is taken out, filtered as a whole column and merged back
      Column part;
      part.type = field.type;
      out->truncate(size);
      for (size_t k = start; k < size; k++) part.AppendFrom(*out, k);
      out->truncate(start);
      PartMerger merger(field.type, out, /*keep=*/true);
      merger.AddSegmentPart(&part, snap.version->tombstones, db_id, series_id, sb.seg->meta.id, min_time,
                            max_time);
      size = out->size();
      continue;
    }
    size = MergeRunInPlace(out, start, size);
  }
  out->truncate(size);
  if (!heads.empty()) {
    PartMerger merger(field.type, out, /*keep=*/true);
    for (Column& h : heads) merger.Add(&h);
    merger.Finish();
  }
  return absl::OkStatus();
}

Status DBImpl::Scan(const ScanRequest& request, const std::function<Status(const SeriesData&)>& fn) {
  RETURN_IF_ERROR(CheckOpen());
  scans_running_.fetch_add(1, std::memory_order_relaxed);
  absl::Cleanup done = [this] { scans_running_.fetch_sub(1, std::memory_order_relaxed); };
  // An empty time range still lists the matching series, with empty columns.
  ASSIGN_OR_RETURN(auto db, GetDb(request.database, request.retention_policy));
  std::vector<index::FieldInfo> fields;
  if (request.fields.empty()) {
    fields = index_->Fields(db.id, request.measurement);
  } else {
    for (const auto& name : request.fields) {
      auto f = index_->FindField(db.id, request.measurement, name);
      if (f) {
        fields.push_back(*f);
      } else {
        index::FieldInfo missing;  // id 0 is never assigned: reads nothing
        missing.name = name;
        fields.push_back(missing);
      }
    }
  }
  ASSIGN_OR_RETURN(auto series, MatchSeries(db.id, request.measurement, request.matchers));
  Snapshot snap = GetSnapshot();
  const int64_t partition_ns = PartitionNs(db);
  // Fields that may come back partly as block summaries.
  std::vector<uint8_t> summarised(fields.size(), 0);
  for (size_t k = 0; k < fields.size(); k++) {
    const auto& names = request.summary_fields;
    summarised[k] = std::find(names.begin(), names.end(), fields[k].name) != names.end();
  }
  const bool any_summaries = !request.summary_fields.empty();
  // Reused by the thread's next scan: its columns keep their space, which
  // ReadSeriesFieldSummarised decodes into without zero-filling again (the
  // first series of a 10-truck scan: ~0.1 M instructions). A scan started
  // from a callback gets its own; a scan that grew a column past
  // kKeepPoints gives the space back. Every HTTP worker thread may keep
  // this much per column (8 Ki points: ~128 KB per column, ~1 MB for a
  // 7-field SELECT *); 12 hours at 10 s is 4 320.
  constexpr size_t kKeepPoints = size_t{1} << 13;
  thread_local SeriesData reused;
  thread_local bool reused_busy = false;
  SeriesData local;
  const bool reuse = !reused_busy;
  SeriesData& data = reuse ? reused : local;
  if (reuse) reused_busy = true;
  absl::Cleanup release = [&] {
    if (!reuse) return;
    reused_busy = false;
    for (Column& c : data.columns) {
      if (c.times.capacity() > kKeepPoints || c.strings.capacity() > 0) c = Column();
    }
  };
  if (!any_summaries) data.summaries.clear();
  uint64_t budget = request.max_points;
  uint64_t* const budget_ptr = request.max_points > 0 ? &budget : nullptr;
  for (const auto& [key, id] : series) {
    if (request.check) RETURN_IF_ERROR(request.check());
    data.key = key;
    // One tag per ',' at most: room for all at once, not a regrowth (and a
    // move of every tag string) per power of two on the first series.
    data.tags.reserve(static_cast<size_t>(std::count(key.begin(), key.end(), ',')));
    RETURN_IF_ERROR(lineproto::ParseSeriesKey(key, &data.measurement, &data.tags));
    data.field_names.clear();
    data.columns.resize(fields.size());
    if (any_summaries) data.summaries.resize(fields.size());
    for (size_t k = 0; k < fields.size(); k++) {
      // A wide series (many thousands of fields) is a long loop of its own.
      if (request.check && k > 0 && (k & 63) == 0) RETURN_IF_ERROR(request.check());
      data.field_names.push_back(fields[k].name);
      if (any_summaries) data.summaries[k].clear();
      if (fields[k].id == 0) {
        data.columns[k].clear();
        continue;
      }
      if (summarised[k]) {
        RETURN_IF_ERROR(ReadSeriesFieldSummarised(snap, db.id, partition_ns, id, fields[k], request,
                                                  &data.columns[k], &data.summaries[k]));
        continue;
      }
      RETURN_IF_ERROR(ReadSeriesField(snap, db.id, partition_ns, id, fields[k], request.min_time,
                                      request.max_time, &data.columns[k], request.limit_points,
                                      request.limit_from_end, budget_ptr));
    }
    RETURN_IF_ERROR(fn(data));
  }
  return absl::OkStatus();
}

// Metadata reads span every retention policy of the database, as influxd's
// do (SHOW MEASUREMENTS lists a measurement that only a non-default policy
// holds): the union, sorted and without duplicates.
namespace {
void SortUnique(std::vector<std::string>* v) {
  std::sort(v->begin(), v->end());
  v->erase(std::unique(v->begin(), v->end()), v->end());
}
}  // namespace

StatusOr<std::vector<std::string>> DBImpl::Measurements(std::string_view database) {
  RETURN_IF_ERROR(CheckOpen());
  ASSIGN_OR_RETURN(auto units, DbUnits(database));
  if (units.size() == 1) return index_->Measurements(units[0].id);
  std::vector<std::string> out;
  for (const auto& u : units) {
    auto ms = index_->Measurements(u.id);
    out.insert(out.end(), std::make_move_iterator(ms.begin()), std::make_move_iterator(ms.end()));
  }
  SortUnique(&out);
  return out;
}

StatusOr<std::vector<std::string>> DBImpl::TagKeys(std::string_view database, std::string_view measurement) {
  RETURN_IF_ERROR(CheckOpen());
  ASSIGN_OR_RETURN(auto units, DbUnits(database));
  if (units.size() == 1) return index_->TagKeys(units[0].id, measurement);
  std::vector<std::string> out;
  for (const auto& u : units) {
    auto ks = index_->TagKeys(u.id, measurement);
    out.insert(out.end(), std::make_move_iterator(ks.begin()), std::make_move_iterator(ks.end()));
  }
  SortUnique(&out);
  return out;
}

StatusOr<std::vector<std::string>> DBImpl::TagValues(std::string_view database, std::string_view measurement,
                                                     std::string_view tag_key) {
  RETURN_IF_ERROR(CheckOpen());
  ASSIGN_OR_RETURN(auto units, DbUnits(database));
  if (units.size() == 1) return index_->TagValues(units[0].id, measurement, tag_key);
  std::vector<std::string> out;
  for (const auto& u : units) {
    auto vs = index_->TagValues(u.id, measurement, tag_key);
    out.insert(out.end(), std::make_move_iterator(vs.begin()), std::make_move_iterator(vs.end()));
  }
  SortUnique(&out);
  return out;
}

StatusOr<std::vector<FieldKey>> DBImpl::FieldKeys(std::string_view database, std::string_view measurement) {
  RETURN_IF_ERROR(CheckOpen());
  ASSIGN_OR_RETURN(auto units, DbUnits(database));
  std::vector<FieldKey> out;
  for (const auto& u : units) {
    for (const auto& f : index_->Fields(u.id, measurement)) out.push_back({f.name, f.type});
  }
  if (units.size() > 1) {
    // A field of one name may have another type in another policy; influxd
    // lists each (name, type) once.
    std::sort(out.begin(), out.end(), [](const FieldKey& a, const FieldKey& b) {
      return std::tie(a.name, a.type) < std::tie(b.name, b.type);
    });
    out.erase(std::unique(
                  out.begin(), out.end(),
                  [](const FieldKey& a, const FieldKey& b) { return a.name == b.name && a.type == b.type; }),
              out.end());
  }
  return out;
}

StatusOr<std::vector<FieldKey>> DBImpl::FieldKeysIn(std::string_view database,
                                                    std::string_view retention_policy,
                                                    std::string_view measurement) {
  RETURN_IF_ERROR(CheckOpen());
  ASSIGN_OR_RETURN(auto db, GetDb(database, retention_policy));
  std::vector<FieldKey> out;
  for (const auto& f : index_->Fields(db.id, measurement)) out.push_back({f.name, f.type});
  return out;
}

StatusOr<std::vector<SeriesKey>> DBImpl::Series(std::string_view database, std::string_view measurement,
                                                const std::vector<TagMatcher>& matchers) {
  RETURN_IF_ERROR(CheckOpen());
  ASSIGN_OR_RETURN(auto units, DbUnits(database));
  std::vector<SeriesKey> out;
  for (const auto& u : units) {
    std::vector<std::string> ms;
    if (measurement.empty()) {
      ms = index_->Measurements(u.id);  // sorted
    } else {
      ms.emplace_back(measurement);
    }
    for (const auto& m : ms) {
      ASSIGN_OR_RETURN(auto series, MatchSeries(u.id, m, matchers));
      RETURN_IF_ERROR(AppendSeriesKeys(std::move(series), &out));
    }
  }
  if (units.size() > 1) {
    std::stable_sort(out.begin(), out.end(), [](const SeriesKey& a, const SeriesKey& b) {
      return std::tie(a.measurement, a.key) < std::tie(b.measurement, b.key);
    });
    out.erase(std::unique(out.begin(), out.end(),
                          [](const SeriesKey& a, const SeriesKey& b) { return a.key == b.key; }),
              out.end());
  }
  return out;
}

}  // namespace m2mdb
