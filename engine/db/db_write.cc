// DBImpl's write path: the resolution of points to series and field ids
// (Resolver, with the writer's series cache and the shape cache), line
// protocol (ParseAndResolve, WriteLineProtocol), typed points (WritePoints),
// and the commit every write ends in (CommitWrite: WAL append, head apply,
// freeze when the head is full, WAL sync; the stall when flushing is behind).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "absl/strings/str_cat.h"

#include "engine/db/db_impl.h"
#include "engine/db/db_internal.h"
#include "engine/db/write_batch.h"
#include "engine/util/logging.h"
#include "engine/util/time_math.h"

namespace m2mdb {

bool DBImpl::Resolver::Resolve(const lineproto::Point& p, uint64_t* known_series_id) {
  ApplyContext* const ctx = ctx_;
  if (p.timestamp < retention_cutoff_) {
    // influxd's words, which the server's partial-write answer quotes.
    if (!replay_) Reject(p.line, "points beyond retention policy");
    return false;
  }
  uint64_t series_id;
  bool cache_miss = true;
  if (*known_series_id != 0) {
    series_id = *known_series_id;
    cache_miss = false;
  } else if (auto cached = ctx->series_cache.find(ToAbsl(p.series_raw)); cached != ctx->series_cache.end()) {
    series_id = cached->second;
    cache_miss = false;
  } else if (ctx->key = lineproto::SeriesKey(p.measurement, p.tags);
             auto found = db_->index_->FindSeries(info_.id, ctx->key)) {
    series_id = *found;
  } else {
    if (!replay_ && db_->options_.max_series_per_database > 0 &&
        db_->index_->SeriesCount(info_.id) >= db_->options_.max_series_per_database) {
      Reject(p.line,
             absl::StrCat("max-series-per-database limit exceeded: (", db_->options_.max_series_per_database,
                          ")"),
             ErrorKind::kSeriesLimit);
      return false;
    }
    auto id = db_->index_->GetOrCreateSeries(info_.id, ctx->key);
    if (!id.ok()) {
      if (IsStorageError(id.status()) && ctx->storage_error.ok()) ctx->storage_error = id.status();
      Reject(p.line, std::string(ToStd(id.status().message())));
      return false;
    }
    series_id = *id;
  }
  if (cache_miss && ctx->series_cache.size() < (1u << 20)) ctx->series_cache.emplace(p.series_raw, series_id);
  *known_series_id = series_id;
  const size_t first_entry = ctx->entries.size();
  const size_t first_string = ctx->strings.size();
  const Shape* shape = nullptr;
  if (last_shape_ < shapes_.size() && SameShape(shapes_[last_shape_], p)) {
    shape = &shapes_[last_shape_];
  } else {
    for (size_t k = 0; k < shapes_.size(); k++) {
      if (k != last_shape_ && SameShape(shapes_[k], p)) {
        shape = &shapes_[k];
        last_shape_ = k;
        break;
      }
    }
  }
  Shape* fresh = nullptr;  // the shape being learned from this line
  if (shape == nullptr) {
    if (shapes_.size() < kMaxShapes) {
      last_shape_ = shapes_.size();
      shapes_.emplace_back();
    } else {
      last_shape_ = next_shape_;
      next_shape_ = (next_shape_ + 1) % kMaxShapes;
    }
    fresh = &shapes_[last_shape_];
    fresh->measurement.assign(p.measurement);
    fresh->fields.clear();
  }
  for (size_t k = 0; k < p.fields.size(); k++) {
    const lineproto::Field& f = p.fields[k];
    uint32_t field_id;
    if (shape != nullptr) {
      field_id = shape->fields[k].second.id;
    } else {
      auto info = db_->index_->GetOrCreateField(info_.id, p.measurement, f.key, f.type);
      if (!info.ok()) {
        if (IsStorageError(info.status()) && ctx->storage_error.ok()) ctx->storage_error = info.status();
        ctx->entries.resize(first_entry);
        ctx->strings.resize(first_string);
        // Never match a half-learned shape.
        fresh->measurement.clear();
        fresh->fields.clear();
        if (replay_) {
          LogWarning("replay: skipping line ", p.line, ": ", info.status().ToString());
          return false;
        }
        Reject(p.line, std::string(ToStd(info.status().message())));
        return false;
      }
      field_id = info->id;
      fresh->fields.emplace_back(std::string(f.key), *info);
    }
    // Built in place: assembling it on the stack and copying it in
    // cost a store-forwarding stall per value (perf, HTTP ingest).
    HeadEntry& e = ctx->entries.emplace_back();
    e.series_id = series_id;
    e.field_id = field_id;
    e.db_id = info_.id;
    e.type = f.type;
    e.time = p.timestamp;
    switch (f.type) {
      case FieldType::kFloat:
        e.f = f.f;
        break;
      case FieldType::kInteger:
        e.i = f.i;
        break;
      case FieldType::kUnsigned:
        e.u = f.u;
        break;
      case FieldType::kBoolean:
        e.b = f.b;
        break;
      case FieldType::kString:
        e.str = static_cast<uint32_t>(ctx->strings.size());
        ctx->strings.emplace_back(f.s);
        break;
    }
  }
  ctx->points++;
  return true;
}

void DBImpl::ParseAndResolve(const index::DatabaseInfo& db, std::string_view body,
                             lineproto::Precision precision, int64_t default_time,
                             const std::vector<int>* skip, bool replay, uint64_t max_line_length,
                             ApplyContext* ctx, std::vector<WriteError>* errors) {
  lineproto::ParseOptions po;
  po.precision = precision;
  po.default_time = default_time;
  po.max_line_length = max_line_length;
  size_t skip_pos = 0;
  Resolver resolver(this, db, replay, ctx, errors);
  ctx->parser.Parse(
      body, po,
      [&](const lineproto::Point& p) {
        if (skip != nullptr) {
          while (skip_pos < skip->size() && (*skip)[skip_pos] < p.line) skip_pos++;
          if (skip_pos < skip->size() && (*skip)[skip_pos] == p.line) return;
        }
        resolver.Resolve(p);
      },
      &ctx->parse_errors);
  for (const auto& pe : ctx->parse_errors) {
    ctx->rejected.push_back(pe.line);
    if (errors) {
      errors->push_back({pe.line, absl::StrCat("unable to parse '", pe.text, "': ", pe.reason), pe.kind});
    }
  }
  std::sort(ctx->rejected.begin(), ctx->rejected.end());
  if (errors) {
    std::stable_sort(errors->begin(), errors->end(),
                     [](const WriteError& a, const WriteError& b) { return a.line < b.line; });
  }
}

void DBImpl::StallIfNeeded() {
  // Writers wait while two heads' worth of data is waiting to be flushed, so
  // memory stays bounded when the disk is slower than the ingest.
  for (;;) {
    uint64_t pending = 0;
    {
      absl::MutexLock l(&state_mu_);
      for (const auto& h : frozen_) pending += h->bytes();
    }
    // One frozen head (about half the budget) may be flushing while writes
    // continue; a second one means the disk is behind.
    if (pending <= options_.head_memory_bytes * 3 / 4 || !options_.background_work) return;
    absl::MutexLock l(&bg_mu_);
    if (bg_stop_) return;
    bg_work_ = true;
    stall_cv_.WaitWithTimeout(&bg_mu_, absl::Milliseconds(50));
  }
}

StatusOr<index::DatabaseInfo> DBImpl::DatabaseForWrite(std::string_view database,
                                                       const WriteOptions& options) {
  RETURN_IF_ERROR(CheckOpen());
  if (!wal_) return absl::FailedPreconditionError("database opened read-only");
  // create_database makes a missing database (with its default policy),
  // never a missing policy of an existing one.
  if (options.create_database && !index_->DefaultRetentionPolicy(database)) {
    RETURN_IF_ERROR(CreateDatabase({std::string(database), 0, 0}));
  }
  return GetDb(database, options.retention_policy);
}

Status DBImpl::CommitWrite(const index::DatabaseInfo& unit, ApplyContext* ctx, WriteResult* result) {
  StallIfNeeded();
  uint64_t seq;
  bool need_freeze = false;
  {
    absl::MutexLock l(&write_mu_);
    RETURN_IF_ERROR(CheckOpen());
    // Dropped (and maybe re-created) since it was resolved: see
    // DropUnitsLocked.
    if (auto now = index_->GetRetentionPolicy(unit.name, unit.retention_policy); !now || now->id != unit.id) {
      if (index_->DefaultRetentionPolicy(unit.name)) {
        return absl::NotFoundError(absl::StrCat("retention policy not found: ", unit.retention_policy));
      }
      return absl::NotFoundError(absl::StrCat("database not found: \"", unit.name, "\""));
    }
    ASSIGN_OR_RETURN(seq, wal_->Append(ctx->record));
    // Before the apply: a flush (which checkpoints the listener) can only
    // take this write's head after the listener has its marks.
    if (options_.change_listener != nullptr) {
      NotifyWrite(unit.name, unit.retention_policy, ctx->entries.data(), ctx->entries.size(), false,
                  &ctx->changes);
    }
    std::shared_ptr<Head> head;
    {
      absl::MutexLock sl(&state_mu_);
      head = active_;
    }
    head->Apply(ctx->entries.data(), ctx->entries.size(), ctx->strings);
    // The budget covers the active head plus the one being flushed: freeze
    // at half of it, so memory stays near the budget while writes continue
    // during a flush.
    if (head->bytes() >= options_.head_memory_bytes / 2) {
      Status s = FreezeLocked();
      if (!s.ok()) LogWarning("freezing the head: ", s.ToString());
      need_freeze = true;
    }
  }
  if (need_freeze) {
    absl::MutexLock l(&bg_mu_);
    bg_work_ = true;
  }
  RETURN_IF_ERROR(wal_->Sync(seq));
  result->points_written = ctx->points;
  result->values_written = ctx->entries.size();
  points_written_.fetch_add(ctx->points, std::memory_order_relaxed);
  values_written_.fetch_add(ctx->entries.size(), std::memory_order_relaxed);
  return absl::OkStatus();
}

// Series key lookups for the listener, from the index's in-memory maps.
class DBImpl::Lookup : public SeriesLookup {
 public:
  explicit Lookup(const index::Index* index) : index_(index) {}
  bool Describe(uint64_t series_id, SeriesKey* out) const override {
    auto key = index_->SeriesKeyOf(series_id);
    if (!key) return false;
    out->tags.clear();
    if (!lineproto::ParseSeriesKey(*key, &out->measurement, &out->tags).ok()) return false;
    out->key = std::move(*key);
    return true;
  }

 private:
  const index::Index* const index_;
};

void DBImpl::NotifyWrite(std::string_view database, std::string_view retention_policy,
                         const HeadEntry* entries, size_t n, bool replay,
                         std::vector<ChangedSeries>* changes) {
  ChangeListener* const listener = options_.change_listener;
  if (n == 0 || !listener->Watches(database)) return;
  // Entries come point by point, each point's fields together, and a batch
  // usually holds a series' points together or cycles over few series: a
  // run merges into the previous entry, otherwise a short backwards search
  // of the last few series, otherwise a new entry (a series seen long ago in
  // the batch may then appear twice, which the listener merges anyway).
  changes->clear();
  for (size_t k = 0; k < n; k++) {
    const HeadEntry& e = entries[k];
    ChangedSeries* hit = nullptr;
    const size_t size = changes->size();
    for (size_t j = size, stop = size > 8 ? size - 8 : 0; j > stop; j--) {
      if ((*changes)[j - 1].series_id == e.series_id) {
        hit = &(*changes)[j - 1];
        break;
      }
    }
    if (hit == nullptr) {
      changes->push_back({e.series_id, e.time, e.time});
    } else {
      hit->min_time = std::min(hit->min_time, e.time);
      hit->max_time = std::max(hit->max_time, e.time);
    }
  }
  Lookup lookup(index_.get());
  WriteChange change;
  change.database = database;
  change.retention_policy = retention_policy;
  change.series = changes->data();
  change.count = changes->size();
  change.lookup = &lookup;
  change.replay = replay;
  listener->OnWrite(change);
}

Status DBImpl::NotifyDelete(const DeleteChange& change) {
  if (options_.change_listener == nullptr) return absl::OkStatus();
  return options_.change_listener->OnDelete(*this, change);
}

class DBImpl::ContextLease {
 public:
  explicit ContextLease(DBImpl* db) : db_(db) {
    {
      absl::MutexLock l(&db_->ctx_mu_);
      if (!db_->ctx_pool_.empty()) {
        ctx_ = std::move(db_->ctx_pool_.back());
        db_->ctx_pool_.pop_back();
      }
    }
    if (ctx_ == nullptr) ctx_ = std::make_unique<ApplyContext>();
  }
  ~ContextLease() {
    absl::MutexLock l(&db_->ctx_mu_);
    db_->ctx_pool_.push_back(std::move(ctx_));
  }
  ContextLease(const ContextLease&) = delete;
  ContextLease& operator=(const ContextLease&) = delete;
  ApplyContext& get() { return *ctx_; }

 private:
  DBImpl* const db_;
  std::unique_ptr<ApplyContext> ctx_;
};

StatusOr<WriteResult> DBImpl::WriteLineProtocol(std::string_view database, std::string_view body,
                                                const WriteOptions& options) {
  ASSIGN_OR_RETURN(const index::DatabaseInfo dbinfo, DatabaseForWrite(database, options));
  ASSIGN_OR_RETURN(auto precision, lineproto::ParsePrecision(options.precision));
  const int64_t default_time = options.default_time != 0 ? options.default_time : NowNanos();

  ContextLease lease(this);
  ApplyContext& ctx = lease.get();
  ctx.Reset();
  WriteResult result;
  ParseAndResolve(dbinfo, body, precision, default_time, nullptr, false, options.max_line_length, &ctx,
                  &result.errors);
  if (!ctx.storage_error.ok()) return ctx.storage_error;  // nothing applied yet
  lines_rejected_.fetch_add(result.errors.size(), std::memory_order_relaxed);
  if (ctx.entries.empty()) return result;

  WalWriteRecord rec;
  rec.database = database;
  // The resolved name, so that a later change of the default does not move
  // these points on replay.
  rec.retention_policy = dbinfo.retention_policy;
  rec.precision = static_cast<uint8_t>(precision);
  rec.default_time = default_time;
  rec.rejected_lines = ctx.rejected;
  rec.body = body;
  EncodeWalWriteRecord(rec, &ctx.record);
  RETURN_IF_ERROR(CommitWrite(dbinfo, &ctx, &result));
  return result;
}

namespace {

// Bytes that a name cannot hold and still be written in line protocol as
// itself: controls, space, the delimiters and the escape character.
constexpr std::array<bool, 128> kNotPlain = [] {
  std::array<bool, 128> t{};
  for (int c = 0; c <= ' '; c++) t[c] = true;
  for (char c : {',', '=', '"', '\\', '\x7f'}) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

// Whether `s` is written in line protocol as itself (nothing to escape, no
// byte the parser treats specially) and is valid UTF-8. Branch-free per
// byte: it runs over every name of every typed point.
bool PlainName(std::string_view s) {
  unsigned bad = s.empty() ? 1 : 0, high = 0;
  for (unsigned char c : s) {
    high |= c;
    bad |= kNotPlain[c & 0x7f] & (c < 0x80);
  }
  if (bad != 0) return false;
  return (high & 0x80) == 0 || lineproto::IsValidUtf8(s);
}

// What ScanNames found in a run of names: bytes no name may hold (controls,
// space, '"', '\\', DEL), bytes >= 0x80, and the separators ',' and '='
// (counted: the caller knows how many it put there itself).
struct NameScan {
  unsigned bad = 0;
  unsigned high = 0;
  size_t commas = 0;
  size_t equals = 0;
};

// One pass over every name of a point joined by separators, 16 bytes at a
// time: checking each name on its own (PlainName) cost more than parsing
// the same point as text (callgrind, truck points: ~2000 instructions per
// point).
// Bits set in a 16-bit mask, without a libgcc call (no -mpopcnt here).
inline size_t Popcount16(unsigned v) {
  v = v - ((v >> 1) & 0x5555);
  v = (v & 0x3333) + ((v >> 2) & 0x3333);
  v = (v + (v >> 4)) & 0x0f0f;
  return (v + (v >> 8)) & 0x1f;
}

void ScanNames(std::string_view s, NameScan* r) {
  const char* p = s.data();
  const size_t n = s.size();
  size_t i = 0;
#ifdef __SSE2__
  const __m128i below = _mm_set1_epi8(0x21);
  const __m128i comma = _mm_set1_epi8(',');
  const __m128i equal = _mm_set1_epi8('=');
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i del = _mm_set1_epi8(0x7f);
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    const unsigned high = static_cast<unsigned>(_mm_movemask_epi8(v));
    // Signed compare: bytes >= 0x80 are negative, hence the mask.
    const unsigned low = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmplt_epi8(v, below))) & ~high;
    const __m128i other = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                                       _mm_cmpeq_epi8(v, del));
    r->bad |= low | static_cast<unsigned>(_mm_movemask_epi8(other));
    r->high |= high;
    r->commas += Popcount16(static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, comma))));
    r->equals += Popcount16(static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, equal))));
  }
#endif
  for (; i < n; i++) {
    const unsigned char c = static_cast<unsigned char>(p[i]);
    r->high |= c & 0x80;
    r->bad |= (c < 0x80) & kNotPlain[c & 0x7f] & (c != ',') & (c != '=');
    r->commas += c == ',';
    r->equals += c == '=';
  }
}

// Length of a point rendered as line protocol, at least: the longest text
// of each number (only called with PlainName names).
size_t MaxLineLength(const Point& p) {
  size_t n = p.measurement.size() + 1 + 20;
  for (const auto& [k, v] : p.tags) n += k.size() + v.size() + 2;
  for (const auto& [k, v] : p.fields)
    n += k.size() + 2 + (v.type == FieldType::kString ? 2 * v.s.size() + 2 : 25);
  return n;
}

}  // namespace

namespace {

bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

bool HasLineBreakInName(const Point& p) {
  if (HasLineBreak(p.measurement)) return true;
  for (const auto& [k, v] : p.tags) {
    if (HasLineBreak(k) || HasLineBreak(v)) return true;
  }
  for (const auto& f : p.fields) {
    if (HasLineBreak(f.first)) return true;
  }
  return false;
}

}  // namespace

// The fast path of WritePoints: fills `out` from `p` without text when `p`
// is one that the line-protocol path would accept exactly as given: plain
// names (PlainName: nothing escaped, so the text path's key is the same),
// no duplicate or "time" keys, finite normal floats, valid UTF-8 strings
// without line breaks, times in range, shorter than max_line_length. Every
// other point takes the slow path (rendered and parsed), which keeps the
// text path's rejections and messages byte for byte.
bool DBImpl::TypedPointToParsed(const Point& p, uint64_t max_line_length, ApplyContext* ctx,
                                const TypedSeries** known) {
  *known = nullptr;
  lineproto::Point& out = ctx->typed;
  if (p.fields.empty() || p.fields.size() > 64 || p.tags.size() > 64 || p.timestamp < kMinTime ||
      p.timestamp > kMaxTime || p.measurement.empty() || p.measurement[0] == '#') {
    return false;
  }
  out.measurement = p.measurement;
  // The series as given (tags unsorted), then each name's length: the key
  // into the series this thread has written before.
  std::string& lookup = ctx->typed_lookup;
  size_t n = p.measurement.size();
  for (const auto& [k, v] : p.tags) n += k.size() + v.size() + 2;
  if (n > lineproto::kMaxSeriesKeyLength) return false;  // the parser words the error
  lookup.resize(n + 2 * (1 + 2 * p.tags.size()));
  char* w = lookup.data();
  std::memcpy(w, p.measurement.data(), p.measurement.size());
  w += p.measurement.size();
  for (const auto& [k, v] : p.tags) {
    *w++ = ',';
    std::memcpy(w, k.data(), k.size());
    w += k.size();
    *w++ = '=';
    std::memcpy(w, v.data(), v.size());
    w += v.size();
  }
  // Each name is at most n <= 65535 bytes: two bytes hold its length.
  auto put_length = [&w](size_t len) {
    *w++ = static_cast<char>(len & 0xff);
    *w++ = static_cast<char>(len >> 8);
  };
  put_length(p.measurement.size());
  for (const auto& [k, v] : p.tags) {
    put_length(k.size());
    put_length(v.size());
  }
  const auto remembered = ctx->typed_series.find(lookup);
  const bool key_checked = remembered != ctx->typed_series.end();
  std::string_view canonical;
  if (key_checked) {
    out.tags.clear();  // not needed: the series id and WAL bytes are known
    out.series_raw = {};
  } else {
    out.tags.resize(p.tags.size());
    for (size_t k = 0; k < p.tags.size(); k++) {
      const auto& [key, value] = p.tags[k];
      if (key.empty() || value.empty() || key == "time") return false;
      out.tags[k].key = key;
      out.tags[k].value = value;
    }
    // Insertion sort: a handful of tags, usually already in order.
    for (size_t k = 1; k < out.tags.size(); k++) {
      for (size_t j = k; j > 0 && out.tags[j].key < out.tags[j - 1].key; j--)
        std::swap(out.tags[j], out.tags[j - 1]);
    }
    for (size_t k = 1; k < out.tags.size(); k++) {
      if (out.tags[k].key == out.tags[k - 1].key) return false;
    }
    // The canonical key (no escaping: the names are checked below to need
    // none). It doubles as the series-cache key: it is one spelling of the
    // series in line protocol, so it can share the cache with the text
    // path's raw spellings.
    std::string& key = ctx->typed_key;
    key.resize(n);
    w = key.data();
    std::memcpy(w, p.measurement.data(), p.measurement.size());
    w += p.measurement.size();
    for (const auto& t : out.tags) {
      *w++ = ',';
      std::memcpy(w, t.key.data(), t.key.size());
      w += t.key.size();
      *w++ = '=';
      std::memcpy(w, t.value.data(), t.value.size());
      w += t.value.size();
    }
    canonical = key;
    out.series_raw = canonical;
  }
  // Field keys: checked already if they equal a list that passed before.
  const std::vector<std::string>* fields_checked = nullptr;
  for (const auto& names : ctx->typed_fields) {
    if (names.size() != p.fields.size()) continue;
    size_t k = 0;
    while (k < names.size() && names[k] == p.fields[k].first) k++;
    if (k == names.size()) {
      fields_checked = &names;
      break;
    }
  }
  // Field keys joined by ',' for the same one-pass check.
  std::string& names = ctx->typed_names;
  names.clear();
  out.fields.resize(p.fields.size());
  for (size_t k = 0; k < p.fields.size(); k++) {
    const auto& [fkey, v] = p.fields[k];
    if (fields_checked == nullptr) {
      if (fkey.empty() || fkey == "time") return false;
      for (size_t j = 0; j < k; j++) {
        if (out.fields[j].key == fkey) return false;
      }
      names.append(fkey);
      names.push_back(',');
    }
    lineproto::Field& f = out.fields[k];
    f.key = fkey;
    f.type = v.type;
    switch (v.type) {
      case FieldType::kFloat:
        // Subnormals may not read back as themselves (the parser's range
        // handling), so they keep the text path's answer.
        if (!std::isfinite(v.f) || (v.f != 0 && std::fabs(v.f) < std::numeric_limits<double>::min()))
          return false;
        f.f = v.f;
        break;
      case FieldType::kInteger:
        if (v.i == INT64_MIN) return false;
        f.i = v.i;
        break;
      case FieldType::kUnsigned:
        f.u = v.u;
        break;
      case FieldType::kBoolean:
        f.b = v.b;
        break;
      case FieldType::kString: {
        bool high = false;
        for (unsigned char c : v.s) {
          if (c >= 0x80) high = true;
          if (c == '\n' || c == '\r') return false;
        }
        if (high && !lineproto::IsValidUtf8(v.s)) return false;
        f.s = v.s;
        break;
      }
      default:
        return false;
    }
  }
  NameScan key_scan, names_scan;
  if (!key_checked) {
    ScanNames(canonical, &key_scan);
    if (key_scan.bad != 0 || key_scan.commas != out.tags.size() || key_scan.equals != out.tags.size())
      return false;
  }
  if (fields_checked == nullptr) {
    ScanNames(names, &names_scan);
    if (names_scan.bad != 0 || names_scan.commas != out.fields.size() || names_scan.equals != 0) return false;
  }
  if ((key_scan.high | names_scan.high) != 0) {
    // Some name has non-ASCII bytes: each must be valid UTF-8 on its own.
    if (key_scan.high != 0) {
      if (!PlainName(p.measurement)) return false;
      for (const auto& t : out.tags) {
        if (!PlainName(t.key) || !PlainName(t.value)) return false;
      }
    }
    if (names_scan.high != 0) {
      for (const auto& f : out.fields) {
        if (!PlainName(f.key)) return false;
      }
    }
  }
  if (fields_checked == nullptr) {
    // Round-robin over a few lists: batches interleave a few shapes.
    constexpr size_t kMaxFieldLists = 8;
    std::vector<std::string>* slot;
    if (ctx->typed_fields.size() < kMaxFieldLists) {
      slot = &ctx->typed_fields.emplace_back();
    } else {
      slot = &ctx->typed_fields[ctx->typed_fields_next];
      ctx->typed_fields_next = (ctx->typed_fields_next + 1) % kMaxFieldLists;
    }
    slot->clear();
    for (const auto& f : p.fields) slot->push_back(f.first);
  }
  if (max_line_length != 0 && MaxLineLength(p) > max_line_length) return false;
  out.timestamp = p.timestamp;
  if (key_checked) *known = &remembered->second;
  return true;
}

StatusOr<WriteResult> DBImpl::WritePoints(std::string_view database, const std::vector<Point>& points,
                                          const WriteOptions& options) {
  ASSIGN_OR_RETURN(const index::DatabaseInfo dbinfo, DatabaseForWrite(database, options));
  ContextLease lease(this);
  ApplyContext& ctx = lease.get();
  ctx.Reset();
  WriteResult result;
  Resolver resolver(this, dbinfo, /*replay=*/false, &ctx, &result.errors);
  BeginWalPointsRecord(database, dbinfo.retention_policy, &ctx.record);
  lineproto::ParseOptions po;  // ns; every rendered line has a timestamp
  po.max_line_length = options.max_line_length;
  for (size_t k = 0; k < points.size(); k++) {
    const int line = static_cast<int>(k + 1);
    const TypedSeries* known;
    if (TypedPointToParsed(points[k], options.max_line_length, &ctx, &known)) {
      ctx.typed.line = line;
      uint64_t series_id = known != nullptr ? known->id : 0;
      if (resolver.Resolve(ctx.typed, &series_id)) {
        if (known != nullptr) {
          AppendWalPointOfSeries(ctx.typed, known->wal_series, &ctx.record);
        } else {
          AppendWalPoint(ctx.typed, &ctx.record);
        }
      }
      if (known == nullptr && series_id != 0) {
        TypedSeries& remember = ctx.typed_series[ctx.typed_lookup];
        remember.id = series_id;
        EncodeWalPointSeries(ctx.typed, &remember.wal_series);
      }
      continue;
    }
    // Slow path: exactly what this call did before typed points were
    // written directly (render, parse), for the points the fast path does
    // not vouch for; the WAL still gets the parsed point, not the text.
    // One point is one line: a name with a line break (which line protocol
    // cannot carry, so the renderer cannot escape it) would otherwise come
    // back as several points, of which the parseable ones were written — a
    // SELECT INTO "x\ny z=1" wrote measurement "y z=1".
    if (HasLineBreakInName(points[k])) {
      resolver.Reject(line, "invalid point: a measurement, tag or field name contains a line break",
                      ErrorKind::kParse);
      continue;
    }
    ctx.line.clear();
    AppendPointAsLineProtocol(points[k], &ctx.line);
    ctx.parse_errors.clear();
    int parsed = 0;
    ctx.parser.Parse(
        ctx.line, po,
        [&](const lineproto::Point& p) {
          // More than one point from one rendered line is a renderer bug:
          // write none of them rather than something the caller did not ask.
          if (++parsed > 1) return;
          lineproto::Point copy = p;
          copy.line = line;
          if (resolver.Resolve(copy)) AppendWalPoint(copy, &ctx.record);
        },
        &ctx.parse_errors);
    for (const auto& pe : ctx.parse_errors) {
      resolver.Reject(line, absl::StrCat("unable to parse '", pe.text, "': ", pe.reason), pe.kind);
    }
  }
  if (!ctx.storage_error.ok()) return ctx.storage_error;  // nothing applied yet
  lines_rejected_.fetch_add(result.errors.size(), std::memory_order_relaxed);
  if (ctx.entries.empty()) return result;
  RETURN_IF_ERROR(CommitWrite(dbinfo, &ctx, &result));
  return result;
}

}  // namespace m2mdb
