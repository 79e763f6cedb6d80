// query/exec/select.cc — SELECT: source resolution, scan, grouping,
// windowed aggregation, fill, projection and limits (InfluxDB 1.x semantics).
//
// Flow per statement:
//   1. resolve sources (measurements, regexes, subqueries) and their schemas;
//   2. expand wildcards, classify the query (raw vs aggregate), check it;
//   3. per measurement: split WHERE into time range / index matchers /
//      per-series tag filter / per-row field filter, and Scan only the named
//      fields in the time range;
//   4. raw: project each series column-at-a-time, merge series of a group by time;
//      aggregate: when every call is count/sum/mean/min/max/spread/first/last
//      (or a transform of one), reduce each series in the scan callback into
//      per-window accumulators of its group (no copy, no merge), scanning
//      large measurements with two threads over complementary halves of the
//      series; otherwise merge each call's input per group, then reduce
//      window by window over contiguous slices; fill; evaluate the outer
//      expressions.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "re2/re2.h"

#include "query/exec/exec.h"
#include "query/parser/parser.h"

namespace m2mdb::query::exec {

using planner::AlignedStart;
using planner::ContainsFunctionCall;
using planner::NameList;
using planner::OutField;
using planner::SelectPlan;
using planner::Slot;
using planner::SourcePlan;
using planner::SourceRef;
using planner::TimeRange;
using planner::Unparen;

Status ExecContext::CheckDeadline() const {
  if (has_deadline && std::chrono::steady_clock::now() > deadline) {
    return absl::DeadlineExceededError("query timeout");
  }
  if (options != nullptr && options->cancelled && options->cancelled()) {
    return absl::CancelledError("query cancelled");
  }
  return absl::OkStatus();
}

Status ExecContext::AddPoints(uint64_t n) {
  uint64_t total = points.fetch_add(n) + n;
  if (options->max_points > 0 && total > options->max_points) {
    return absl::ResourceExhaustedError("query memory limit exceeded");
  }
  return absl::OkStatus();
}

namespace {

// Aligns several time-sorted columns on the union of their times.
struct Aligned {
  std::vector<int64_t> times;
  std::vector<VCol> cols;
};

Aligned Align(const std::vector<const Column*>& cols, const std::vector<uint8_t>& drives) {
  Aligned out;
  // Union of the times of the driving columns.
  size_t driving = 0, only = 0;
  for (size_t k = 0; k < cols.size(); k++) {
    if (drives[k] && cols[k] != nullptr && !cols[k]->empty()) {
      driving++;
      only = k;
    }
  }
  if (driving == 1) {
    out.times = cols[only]->times;
  } else {
    for (size_t k = 0; k < cols.size(); k++) {
      if (!drives[k] || cols[k] == nullptr) continue;
      // Fields written together share their times: the union is then the
      // times themselves, found by one comparison instead of a merge per
      // field (a seventh of a raw hour's alignment each).
      if (out.times.empty()) {
        out.times = cols[k]->times;
        continue;
      }
      if (cols[k]->times == out.times) continue;
      std::vector<int64_t> merged;
      merged.reserve(out.times.size() + cols[k]->size());
      std::set_union(out.times.begin(), out.times.end(), cols[k]->times.begin(), cols[k]->times.end(),
                     std::back_inserter(merged));
      out.times.swap(merged);
    }
  }
  const size_t n = out.times.size();
  for (size_t k = 0; k < cols.size(); k++) {
    const Column* c = cols[k];
    if (c == nullptr || c->empty()) {
      out.cols.push_back(VCol::Nulls(c == nullptr ? VType::kNull : FromFieldType(c->type), n));
      continue;
    }
    if (c->times == out.times) {
      out.cols.push_back(VCol::FromColumn(*c));
      continue;
    }
    VCol v = VCol::Nulls(FromFieldType(c->type), n);
    size_t j = 0;
    for (size_t r = 0; r < n && j < c->size(); r++) {
      while (j < c->size() && c->times[j] < out.times[r]) j++;
      if (j < c->size() && c->times[j] == out.times[r]) {
        v.valid[r] = 1;
        switch (c->type) {
          case FieldType::kFloat:
            v.f[r] = c->floats[j];
            break;
          case FieldType::kInteger:
            v.i[r] = c->ints[j];
            break;
          case FieldType::kUnsigned:
            v.u[r] = c->uints[j];
            break;
          case FieldType::kBoolean:
            v.b[r] = c->bools[j];
            break;
          case FieldType::kString:
            v.s[r] = c->strings[j];
            break;
        }
      }
    }
    out.cols.push_back(std::move(v));
  }
  return out;
}

// Keeps the rows of `p` where mask is set and the value is valid.
Points Compact(const std::vector<int64_t>& times, const VCol& v, const std::vector<uint8_t>* mask) {
  Points p;
  p.v.type = v.type;
  p.v.Reserve(times.size());
  for (size_t r = 0; r < times.size(); r++) {
    if (!v.valid[r] || (mask != nullptr && !(*mask)[r])) continue;
    p.t.push_back(times[r]);
    p.v.AppendFrom(v, r);
  }
  return p;
}

struct Group {
  std::string measurement;
  std::vector<std::pair<std::string, std::string>> tags;
  // Raw: per series (times, rows) in series order.
  std::vector<std::pair<std::vector<int64_t>, std::vector<std::vector<Value>>>> raw;
  // Aggregate: per input, per series points.
  std::vector<std::vector<Points>> inputs;
  // Partial aggregation instead of `inputs`: per input, the values' type and
  // one accumulator per window (empty until a series has points).
  bool partial = false;
  std::vector<VType> partial_type;
  std::vector<std::vector<PartialAcc>> acc;
};

// Returned by a scan callback when partial aggregation cannot go on (a type
// conflict, too many accumulators): the statement is run again without it.
constexpr char kPartialFallback[] = "m2mdb: partial aggregation fallback";

// Accumulator memory beyond which a statement falls back to merging.
constexpr size_t kMaxPartialBytes = size_t{256} << 20;

using GroupMap = std::map<std::pair<std::string, std::vector<std::string>>, Group>;

// What a scan callback builds; one per concurrent scan.
struct ScanState {
  GroupMap groups;
  int64_t earliest = kMaxTime;
  size_t partial_bytes = 0;
};

// Fewest matching series for which a measurement is scanned by two threads.
// A second thread costs a thread start and, on a busy machine, a wait for a
// time slice (10 trucks x 12 h went bimodal: 0.9 or 4 ms); below this the
// work it takes over is smaller than that (m2mdb-bench, 21:19 UTC: 10-trucks
// 0.92 -> 0.78 ms without the split, 100-series queries still split).
constexpr size_t kMinParallelSeries = 64;

// The unescaped tags of a canonical series key ("m,k=v,k2=v\\ 2").
std::vector<std::pair<std::string, std::string>> ParseKeyTags(std::string_view key) {
  std::vector<std::pair<std::string, std::string>> tags;
  std::string cur;
  std::string k;
  bool in_measurement = true, in_value = false;
  auto finish = [&] {
    if (!in_measurement) tags.emplace_back(std::move(k), std::move(cur));
    in_measurement = false;
    in_value = false;
    k.clear();
    cur.clear();
  };
  for (size_t i = 0; i < key.size(); i++) {
    char c = key[i];
    if (c == '\\' && i + 1 < key.size()) {
      cur.push_back(key[++i]);
    } else if (c == ',') {
      finish();
    } else if (c == '=' && !in_measurement && !in_value) {
      k = std::move(cur);
      cur.clear();
      in_value = true;
    } else {
      cur.push_back(c);
    }
  }
  finish();
  return tags;
}

// Two complementary matchers that split the series of `src` matching
// `matchers` about evenly, on the tag with the most distinct values among
// them; false when too few series match for a second scan to pay off.
bool SplitMatchers(ExecContext* ctx, const planner::SourceRef& src, const std::vector<TagMatcher>& matchers,
                   TagMatcher* a, TagMatcher* b) {
  if (!UseSecondQueryThread()) return false;
  auto series = ctx->db->Series(src.database, src.measurement, matchers);
  if (!series.ok() || series->size() < kMinParallelSeries) return false;
  std::map<std::string, std::set<std::string>> values;
  for (const std::string& key : *series) {
    for (auto& [k, v] : ParseKeyTags(key)) values[k].insert(std::move(v));
  }
  const std::set<std::string>* best = nullptr;
  std::string best_key;
  for (const auto& [k, vs] : values) {
    if (best == nullptr || vs.size() > best->size()) {
      best = &vs;
      best_key = k;
    }
  }
  if (best == nullptr || best->size() < 2) return false;
  std::string re = "^(?:";
  size_t n = 0;
  for (const std::string& v : *best) {
    if (n++ % 2 != 0) continue;
    if (n > 1) re += "|";
    re += RE2::QuoteMeta(v);
  }
  re += ")$";
  *a = TagMatcher{best_key, TagOp::kRegex, re};
  *b = TagMatcher{best_key, TagOp::kNotRegex, re};
  return true;
}

// Folds `from` (a concurrent scan of other series) into *into.
Status MergeScanState(ScanState from, const SelectPlan& plan, ScanState* into) {
  into->earliest = std::min(into->earliest, from.earliest);
  for (auto& [key, g] : from.groups) {
    auto [it, inserted] = into->groups.try_emplace(key);
    Group& dst = it->second;
    if (inserted) {
      dst = std::move(g);
      continue;
    }
    if (!dst.partial || !g.partial) return absl::AbortedError(kPartialFallback);
    for (size_t in = 0; in < g.acc.size(); in++) {
      if (g.acc[in].empty()) continue;
      if (dst.acc[in].empty()) {
        dst.acc[in] = std::move(g.acc[in]);
        continue;
      }
      for (size_t w = 0; w < g.acc[in].size(); w++) {
        CombinePartial(dst.partial_type[in], plan.partial_need[in], g.acc[in][w], &dst.acc[in][w]);
      }
    }
  }
  return absl::OkStatus();
}

// Runs f, turning an allocation failure into the statement's error: it must
// neither cross a thread (std::terminate) nor take the process down; the
// statement's memory is given back as the stack unwinds.
template <typename F>
Status NoThrow(F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("query memory limit exceeded: out of memory");
  }
}

// ws + iv, saturated at INT64_MAX (above every storable time): the window
// holding kMaxTime ends past int64.
int64_t WindowEnd(int64_t ws, int64_t iv) { return ws > INT64_MAX - iv ? INT64_MAX : ws + iv; }

// The GROUP BY time windows over [lo, hi] (in 128 bits: the span of two
// extreme times leaves int64), counted against QueryOptions::max_points as
// influxd counts them against max-select-buckets; times `groups` (each group
// keeps per-window state) against the same limit.
Status CheckBuckets(const TimeDimension& tdim, int64_t lo, int64_t hi, size_t groups,
                    const ExecContext* ctx) {
  const uint64_t max = ctx->options->max_points;
  if (max == 0 || tdim.interval_ns <= 0 || lo > hi) return absl::OkStatus();
  const __int128 iv = tdim.interval_ns;
  const __int128 off = ((static_cast<__int128>(tdim.offset_ns) % iv) + iv) % iv;
  auto start = [&](__int128 t) {
    __int128 d = t - off;
    __int128 q = d / iv;
    if (d % iv != 0 && d < 0) q--;
    return q * iv + off;
  };
  const __int128 buckets = (start(hi) - start(lo)) / iv + 1;
  if (buckets > static_cast<__int128>(max)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("max-select-buckets limit exceeded: (", static_cast<int64_t>(buckets), "/", max, ")"));
  }
  if (buckets * static_cast<__int128>(groups) > static_cast<__int128>(max)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("query memory limit exceeded: ", static_cast<int64_t>(buckets), " windows x ", groups,
                     " groups is more than the limit of ", max));
  }
  return absl::OkStatus();
}

// Fill value cast to the column's type.
Value FillValue(const Fill& fill, const std::vector<Value>& col) {
  Value num = std::holds_alternative<int64_t>(fill.value) ? Value(std::get<int64_t>(fill.value))
                                                          : Value(std::get<double>(fill.value));
  for (const Value& v : col) {
    if (v.index() == 2) {
      if (num.index() == 1) return static_cast<int64_t>(std::get<double>(num));
      return num;
    }
    if (v.index() == 1) {
      if (num.index() == 2) return static_cast<double>(std::get<int64_t>(num));
      return num;
    }
  }
  return num;
}

// Fills the nulls of a column of windows (one value per window, in window
// order): count gives 0 under fill(null).
void ApplyFill(const Fill& fill, bool is_count, std::vector<Value>* col) {
  switch (fill.mode) {
    case FillMode::kNone:
      break;
    case FillMode::kNull:
      if (is_count) {
        for (Value& v : *col) {
          if (v.index() == 0) v = int64_t{0};
        }
      }
      break;
    case FillMode::kPrevious: {
      Value prev;
      for (Value& v : *col) {
        if (v.index() == 0) {
          v = prev;
        } else {
          prev = v;
        }
      }
      break;
    }
    case FillMode::kLinear: {
      size_t last = SIZE_MAX;
      for (size_t k = 0; k < col->size(); k++) {
        if ((*col)[k].index() == 0) continue;
        if (last != SIZE_MAX && k > last + 1) {
          const Value a = (*col)[last];
          const Value b = (*col)[k];
          for (size_t j = last + 1; j < k; j++) {
            if (a.index() == 2 && b.index() == 2) {
              int64_t ia = std::get<int64_t>(a), ib = std::get<int64_t>(b);
              (*col)[j] = ia + (ib - ia) * static_cast<int64_t>(j - last) / static_cast<int64_t>(k - last);
            } else if (a.index() == 1 && b.index() == 1) {
              double fa = std::get<double>(a), fb = std::get<double>(b);
              (*col)[j] = fa + (fb - fa) * static_cast<double>(j - last) / static_cast<double>(k - last);
            }
          }
        }
        last = k;
      }
      break;
    }
    case FillMode::kNumber: {
      Value fv = FillValue(fill, *col);
      if (is_count && fv.index() == 1) fv = static_cast<int64_t>(std::get<double>(fv));
      for (Value& v : *col) {
        if (v.index() == 0) v = fv;
      }
      break;
    }
  }
}

// integral() as influxd 1.x computes it: one trapezoid run over the whole
// group, equal timestamps keep the later point, and at a window end the value
// is interpolated and carried into the next window.
void IntegralWindows(const CallSpec& c, const Points& p, bool by_time, int64_t first_window, int64_t interval,
                     int64_t single_label, std::vector<std::vector<Entry>>* out) {
  if (p.size() == 0 || p.v.type == VType::kString || p.v.type == VType::kBool) return;
  const double unit = static_cast<double>(c.unit_ns > 0 ? c.unit_ns : 1000000000);
  auto val = [&](size_t k) {
    return p.v.type == VType::kFloat ? p.v.f[k]
           : p.v.type == VType::kInt ? static_cast<double>(p.v.i[k])
                                     : static_cast<double>(p.v.u[k]);
  };
  auto window_of = [&](int64_t t) {
    if (!by_time) return int64_t{0};
    return static_cast<int64_t>(AlignedStart(t, interval, first_window));
  };
  auto emit = [&](int64_t wstart, double sum) {
    if (!by_time) {
      (*out)[0].push_back({single_label, sum});
      return;
    }
    int64_t w = static_cast<int64_t>((static_cast<__int128>(wstart) - first_window) / interval);
    if (w >= 0 && static_cast<size_t>(w) < out->size()) (*out)[w].push_back({wstart, sum});
  };
  int64_t prev_t = p.t[0];
  double prev_v = val(0);
  int64_t wstart = window_of(prev_t);
  int64_t wend = by_time ? WindowEnd(wstart, interval) : kMaxTime;
  double sum = 0;
  for (size_t k = 1; k < p.size(); k++) {
    int64_t t = p.t[k];
    double v = val(k);
    if (t == prev_t) {
      prev_v = v;
      continue;
    }
    if (by_time && t >= wend) {
      if (prev_t != wend) {
        double value =
            prev_v + (v - prev_v) * static_cast<double>(wend - prev_t) / static_cast<double>(t - prev_t);
        sum += 0.5 * (value + prev_v) * (static_cast<double>(wend - prev_t) / unit);
        prev_v = value;
        prev_t = wend;
      }
      emit(wstart, sum);
      wstart = window_of(t);
      wend = WindowEnd(wstart, interval);
      sum = 0;
    }
    sum += 0.5 * (v + prev_v) * (static_cast<double>(t - prev_t) / unit);
    prev_t = t;
    prev_v = v;
  }
  if (prev_t != wstart || !by_time) emit(wstart, sum);
}

}  // namespace

namespace {

// RunSelect for a statement whose direction may be set by an outer one
// (`parent_desc`: the outer statement is ORDER BY time DESC).
StatusOr<std::vector<ResultSeries>> RunSelectIn(const SelectStatement& s, ExecContext* ctx,
                                                const TimeRange& outer, std::optional<bool> parent_desc);

// The catalog as the planner sees it: the database, and subqueries run by
// this executor in the outer statement's direction.
class DbCatalog final : public planner::CatalogView {
 public:
  explicit DbCatalog(ExecContext* ctx) : ctx_(ctx) {}
  const std::string& DefaultDatabase() const override { return ctx_->options->database; }
  bool DatabaseExists(const std::string& database) override {
    for (const auto& d : ctx_->db->ListDatabases()) {
      if (d.name == database) return true;
    }
    return false;
  }
  StatusOr<std::vector<std::string>> Measurements(const std::string& database) override {
    return ctx_->db->Measurements(database);
  }
  StatusOr<std::vector<FieldKey>> FieldKeys(const std::string& database,
                                            const std::string& measurement) override {
    return ctx_->db->FieldKeys(database, measurement);
  }
  StatusOr<std::vector<std::string>> TagKeys(const std::string& database,
                                             const std::string& measurement) override {
    return ctx_->db->TagKeys(database, measurement);
  }
  StatusOr<std::vector<ResultSeries>> RunSubquery(const SelectStatement& s, const TimeRange& range,
                                                  bool desc) override {
    return RunSelectIn(s, ctx_, range, desc);
  }

 private:
  ExecContext* ctx_;
};

StatusOr<std::vector<ResultSeries>> RunSelectImpl(const SelectStatement& s, ExecContext* ctx,
                                                  const TimeRange& outer, bool allow_partial,
                                                  std::optional<bool> parent_desc) {
  DbCatalog catalog(ctx);
  planner::PlanOptions po;
  po.now = ctx->now;
  po.outer = outer;
  po.parent_desc = parent_desc;
  po.allow_partial = allow_partial;
  po.use_block_summaries = UseBlockSummaries();
  ASSIGN_OR_RETURN(SelectPlan plan, planner::PlanSelect(s, po, &catalog));
  if (plan.empty) return std::vector<ResultSeries>{};
  const bool desc = plan.desc;
  const TimeRange& range = plan.range;
  // The windows are bounded before anything is allocated for them (1 ms
  // windows over days took gigabytes under fill(none)); without a lower
  // bound they are counted again once the data's first time is known.
  if (plan.has_time_group && range.has_min()) {
    RETURN_IF_ERROR(CheckBuckets(plan.tdim, range.min, range.max, 1, ctx));
  }

  ScanState main_scan;
  GroupMap& groups = main_scan.groups;
  int64_t& earliest = main_scan.earliest;
  const int64_t partial_first = plan.partial_first, partial_interval = plan.partial_interval;
  const size_t partial_windows = plan.partial_windows;

  for (size_t si = 0; si < plan.sources.size(); si++) {
    RETURN_IF_ERROR(ctx->CheckDeadline());
    const SourceRef& src = plan.sources[si];
    const SourcePlan& sp = plan.source_plans[si];
    if (sp.skip) continue;
    const planner::Schema& schema = src.schema;
    auto is_field = [&](const VarRef& v) {
      if (v.type == DataType::kTag) return false;
      return schema.HasField(v.name);
    };
    // `x::field` (or a field type) never reads a tag: null unless x is a field.
    auto is_tag = [&](const VarRef& v) {
      return v.type == DataType::kTag || (v.type == DataType::kUnknown && !is_field(v));
    };
    const planner::ConditionParts& parts = sp.parts;
    const NameList& read_list = sp.read_list;
    const std::vector<std::string>& read = read_list.names();
    const std::vector<uint8_t>& read_drives = sp.read_drives;
    const std::vector<std::string>& dims = sp.dims;
    const bool use_partial = sp.use_partial;
    std::vector<VType> partial_type(plan.input_fields.size(), VType::kNull);
    for (size_t in = 0; in < plan.input_fields.size() && use_partial; in++) {
      const FieldType* type = schema.FindField(plan.input_fields[in]);
      if (type != nullptr) partial_type[in] = FromFieldType(*type);
    }
    auto on_series_in = [&](ScanState& st, const SeriesData& sd) -> Status {
      RETURN_IF_ERROR(ctx->CheckDeadline());
      uint64_t n = 0;
      for (const Column& c : sd.columns) n += c.size();
      RETURN_IF_ERROR(ctx->AddPoints(n));
      if (parts.tag_filter && !EvalTagCondition(*parts.tag_filter, sd.tags)) return absl::OkStatus();
      if (ctx->page_points > 0) {
        // A column cut at the page size is complete only up to its last
        // point (DESC: from its first): so are the page's rows.
        for (const Column& c : sd.columns) {
          if (c.empty()) continue;
          ctx->page_columns++;
          if (c.size() < ctx->page_points) continue;
          ctx->page_cutoff =
              desc ? std::max(ctx->page_cutoff, c.times.front()) : std::min(ctx->page_cutoff, c.times.back());
          ctx->page_truncated = true;
        }
      }
      // Subquery rows are filtered by time here (the scan did it otherwise).
      std::vector<std::string> key;
      std::vector<std::pair<std::string, std::string>> gtags;
      for (const std::string& d : dims) {
        std::string v;
        for (const auto& [k, val] : sd.tags) {
          if (k == d) v = val;
        }
        key.push_back(v);
        gtags.emplace_back(d, v);
      }
      Group& g = st.groups[{src.measurement, key}];
      if (g.measurement.empty()) {
        g.measurement = src.measurement;
        g.tags = gtags;
        g.partial = use_partial;
        if (use_partial) {
          g.partial_type = partial_type;
          g.acc.resize(plan.input_fields.size());
          // Each group keeps its windows' accumulators: counted as they
          // come, not only after the scan (GROUP BY a tag of many series).
          if (plan.has_time_group) {
            RETURN_IF_ERROR(CheckBuckets(plan.tdim, range.min, range.max, st.groups.size(), ctx));
          }
        }
      }
      if (g.partial != use_partial) return absl::AbortedError(kPartialFallback);
      // Columns by name. A scan returns the fields in the order asked for
      // (`read`): found at the name's index there, without a search.
      auto column_of = [&](const std::string& name) -> const Column* {
        if (size_t k = read_list.Find(name); k < sd.field_names.size() && sd.field_names[k] == name) {
          return &sd.columns[k];
        }
        for (size_t k = 0; k < sd.field_names.size(); k++) {
          if (sd.field_names[k] == name) return &sd.columns[k];
        }
        return nullptr;
      };
      if (g.partial) {
        // Reduce the series' columns in place into the group's windows.
        for (size_t in = 0; in < plan.input_fields.size(); in++) {
          const Column* c = nullptr;
          const std::vector<BlockSummary>* sums = nullptr;
          for (size_t k = 0; k < sd.field_names.size(); k++) {
            if (sd.field_names[k] != plan.input_fields[in]) continue;
            c = &sd.columns[k];
            if (k < sd.summaries.size() && !sd.summaries[k].empty()) sums = &sd.summaries[k];
            break;
          }
          if (c == nullptr || (c->empty() && sums == nullptr)) continue;
          if (!c->empty() && FromFieldType(c->type) != g.partial_type[in]) {
            return absl::AbortedError(kPartialFallback);
          }
          std::vector<PartialAcc>& acc = g.acc[in];
          if (acc.empty()) {
            st.partial_bytes += partial_windows * sizeof(PartialAcc);
            if (st.partial_bytes > kMaxPartialBytes) return absl::AbortedError(kPartialFallback);
            acc.resize(partial_windows);
          }
          if (!c->empty() && c->times.front() < st.earliest) st.earliest = c->times.front();
          AccumulateColumn(*c, partial_first, partial_interval, partial_windows, plan.partial_need[in],
                           acc.data());
          if (sums == nullptr) continue;
          // The engine put each summarised block wholly inside one window
          // of the same geometry and inside the scanned time range.
          for (const BlockSummary& b : *sums) {
            if (FromFieldType(b.type) != g.partial_type[in]) return absl::AbortedError(kPartialFallback);
            size_t w = 0;
            if (partial_interval > 0) {
              w = static_cast<size_t>(
                  (static_cast<uint64_t>(b.min_time) - static_cast<uint64_t>(partial_first)) /
                  static_cast<uint64_t>(partial_interval));
              if (b.min_time < partial_first || w >= partial_windows) {
                return absl::InternalError("block summary outside the query windows");
              }
            }
            if (b.min_time < st.earliest) st.earliest = b.min_time;
            AccumulateSummary(b, plan.partial_need[in], &acc[w]);
          }
        }
        return absl::OkStatus();
      }
      std::vector<const Column*> cols;
      cols.reserve(read.size());
      for (const std::string& f : read) cols.push_back(column_of(f));
      const std::vector<uint8_t>& drives = read_drives;
      // Time bounds for subquery rows.
      std::vector<Column> clipped;
      if (src.subquery) {
        clipped.resize(cols.size());
        for (size_t k = 0; k < cols.size(); k++) {
          if (cols[k] == nullptr) continue;
          clipped[k].type = cols[k]->type;
          for (size_t i = 0; i < cols[k]->size(); i++) {
            if (cols[k]->times[i] >= range.min && cols[k]->times[i] <= range.max)
              clipped[k].AppendFrom(*cols[k], i);
          }
          cols[k] = &clipped[k];
        }
      }
      auto tag_value = [&](const VarRef& v) -> std::string {
        for (const auto& [k, val] : sd.tags) {
          if (k == v.name) return val;
        }
        return "";
      };
      if (plan.aggregate && !parts.row_filter && plan.aux.empty()) {
        // Fast path: each call input is the column itself.
        if (g.inputs.empty()) g.inputs.resize(plan.input_fields.size());
        for (size_t in = 0; in < plan.input_fields.size(); in++) {
          const Column* c = column_of(plan.input_fields[in]);
          if (c == nullptr || c->empty()) continue;
          if (src.subquery) {
            size_t k = std::find(read.begin(), read.end(), plan.input_fields[in]) - read.begin();
            c = cols[k];
          }
          Points p;
          p.t = c->times;
          p.v = VCol::FromColumn(*c);
          if (c->times.front() < earliest) earliest = c->times.front();
          g.inputs[in].push_back(std::move(p));
        }
        return absl::OkStatus();
      }
      Aligned al = Align(cols, drives);
      if (al.times.empty()) return absl::OkStatus();
      EvalContext ec;
      ec.rows = al.times.size();
      ec.times = &al.times;
      ec.is_tag = is_tag;
      ec.tag = tag_value;
      ec.field = [&](const VarRef& v) -> const VCol* {
        const size_t k = read_list.Find(v.name);
        return k == NameList::kNone ? nullptr : &al.cols[k];
      };
      std::vector<uint8_t> mask;
      if (parts.row_filter) mask = EvalMask(*parts.row_filter, ec);
      if (plan.aggregate) {
        if (g.inputs.empty()) g.inputs.resize(plan.input_fields.size());
        for (size_t in = 0; in < plan.input_fields.size(); in++) {
          const VCol* v = ec.field(VarRef{plan.input_fields[in], DataType::kUnknown});
          if (v == nullptr) continue;
          Points p = Compact(al.times, *v, parts.row_filter ? &mask : nullptr);
          if (p.size() == 0) continue;
          if (!plan.aux.empty()) {
            // Per kept row (as Compact kept them), the extra references'
            // values; a tag the series lacks, or an unknown name, is null.
            std::vector<const VCol*> aux_col(plan.aux.size(), nullptr);
            std::vector<Value> aux_const(plan.aux.size());
            for (size_t j = 0; j < plan.aux.size(); j++) {
              if (is_field(plan.aux[j])) {
                aux_col[j] = ec.field(plan.aux[j]);
              } else if (is_tag(plan.aux[j])) {
                for (const auto& [k, val] : sd.tags) {
                  if (k == plan.aux[j].name) aux_const[j] = val;
                }
              }
            }
            p.aux.reserve(p.size());
            for (size_t r = 0; r < al.times.size(); r++) {
              if (!v->valid[r] || (parts.row_filter && !mask[r])) continue;
              std::vector<Value> row(plan.aux.size());
              for (size_t j = 0; j < plan.aux.size(); j++) {
                row[j] = aux_col[j] != nullptr ? aux_col[j]->Get(r) : aux_const[j];
              }
              p.aux.push_back(std::move(row));
            }
          }
          earliest = std::min(earliest, p.t.front());
          g.inputs[in].push_back(std::move(p));
        }
        return absl::OkStatus();
      }
      // Raw projection, column at a time; a tag the series lacks is null here
      // (it is "" in conditions).
      EvalContext pc = ec;
      pc.tag = nullptr;
      pc.tag_value = [&](const VarRef& v) -> Value {
        for (const auto& [k, val] : sd.tags) {
          if (k == v.name) return val;
        }
        return std::monostate{};
      };
      // Field and tag references are read in place (a tag is one value for all
      // rows): copying them into columns of their own, and then each cell out
      // again, was a third of a SELECT *'s time. Other expressions are
      // evaluated into `owned`, reserved so that pointers into it stay valid.
      const size_t nf = plan.fields.size();
      std::vector<VCol> owned;
      owned.reserve(nf);
      std::vector<const VCol*> col(nf, nullptr);
      std::vector<Value> constant(nf);
      for (size_t j = 0; j < nf; j++) {
        if ((j & 1023) == 1023) RETURN_IF_ERROR(ctx->CheckDeadline());
        if (!RefInPlace(*plan.fields[j].expr, pc, &col[j], &constant[j])) {
          owned.push_back(Eval(*plan.fields[j].expr, pc));
          col[j] = &owned.back();
        }
      }
      std::vector<const std::string*> const_str(nf, nullptr);
      for (size_t j = 0; j < nf; j++) const_str[j] = std::get_if<std::string>(&constant[j]);
      // A row exists where any selected field has a value.
      std::vector<int64_t> times;
      std::vector<std::vector<Value>> rows;
      if (!parts.row_filter) {  // else few rows may be kept
        times.reserve(ec.rows);
        rows.reserve(ec.rows);
      }
      // The validity of the driving columns, read per row below.
      std::vector<const uint8_t*> drive_valid;
      for (size_t k = 0; k < read.size(); k++) {
        if (drives[k]) drive_valid.push_back(al.cols[k].valid.data());
      }
      const uint8_t* const* const dv = drive_valid.data();
      const size_t ndrive = drive_valid.size();
      // The deadline every ~64 Ki cells: a row of a wide series is a long loop.
      size_t cells = 0;
      for (size_t r = 0; r < ec.rows; r++) {
        cells += nf;
        if (cells > (size_t{1} << 16)) {
          cells = 0;
          RETURN_IF_ERROR(ctx->CheckDeadline());
        }
        if (parts.row_filter && !mask[r]) continue;
        bool any = false;
        for (size_t k = 0; k < ndrive && !any; k++) any = dv[k][r] != 0;
        if (!any) continue;
        std::vector<Value> row;
        row.reserve(nf + 1);
        row.emplace_back(std::in_place_index<2>, al.times[r]);
        for (size_t j = 0; j < nf; j++) {
          if (const VCol* c = col[j]; c != nullptr && c->type == VType::kFloat && r < c->valid.size()) {
            // Floats (most fields) here, not through the call below: it was
            // a tenth of a raw hour's row building.
            if (c->valid[r]) {
              row.emplace_back(std::in_place_index<1>, c->f[r]);
            } else {
              row.emplace_back();
            }
          } else if (c != nullptr) {
            c->AppendCellTo(r, &row);
          } else if (const_str[j] != nullptr) {
            // A tag: its string built in place, not through the variant's
            // copy (a visit per cell, which showed in SELECT * profiles).
            row.emplace_back(std::in_place_index<5>, *const_str[j]);
          } else {
            row.push_back(constant[j]);
          }
        }
        times.push_back(al.times[r]);
        rows.push_back(std::move(row));
      }
      if (!rows.empty()) g.raw.emplace_back(std::move(times), std::move(rows));
      return absl::OkStatus();
    };
    auto on_series = [&](const SeriesData& sd) { return on_series_in(main_scan, sd); };

    if (src.subquery) {
      for (const SeriesData& sd : src.rows) {
        std::vector<TagMatcher> ms = parts.matchers;
        bool ok = true;
        for (const TagMatcher& m : ms) {
          std::string v;
          for (const auto& [k, val] : sd.tags) {
            if (k == m.key) v = val;
          }
          switch (m.op) {
            case TagOp::kEqual:
              ok &= v == m.value;
              break;
            case TagOp::kNotEqual:
              ok &= v != m.value;
              break;
            case TagOp::kRegex:
              ok &= RE2::PartialMatch(v, RE2(m.value));
              break;
            case TagOp::kNotRegex:
              ok &= !RE2::PartialMatch(v, RE2(m.value));
              break;
          }
        }
        if (ok) RETURN_IF_ERROR(on_series(sd));
      }
    } else {
      ScanRequest req;
      req.database = src.database;
      req.measurement = src.measurement;
      req.matchers = parts.matchers;
      req.fields = read;
      req.min_time = range.min;
      req.max_time = range.max;
      req.check = [ctx] { return ctx->CheckDeadline(); };
      // The point limit, checked by the scan before it decodes (a long
      // series was decoded whole, then counted).
      if (const uint64_t max = ctx->options->max_points; max > 0) {
        const uint64_t held = ctx->points.load();
        req.max_points = held < max ? max - held : 1;
      }
      // LIMIT/OFFSET pushed into the scan (SourcePlan::limit_points).
      if (ctx->page_points > 0 && !plan.aggregate) {
        // A page of RunSelectPaged: any condition, the cutoff sorts it out.
        req.limit_points = ctx->page_points;
        req.limit_from_end = desc;
      } else if (sp.limit_points > 0) {
        req.limit_points = sp.limit_points;
        req.limit_from_end = desc;
      }
      if (sp.use_summaries) {
        req.summary_fields = read;
        req.summary_window_ns = partial_interval;
        req.summary_window_offset_ns = plan.partial_offset;
        req.summary_filter = [summary_need = sp.summary_need](const BlockSummary& b) {
          return SummaryUsable(b, summary_need[static_cast<size_t>(b.type) & 7]);
        };
      }
      TagMatcher half_a, half_b;
      if (use_partial && SplitMatchers(ctx, src, parts.matchers, &half_a, &half_b)) {
        // Two scans over complementary halves of the series, each reducing
        // into its own groups; the second's are folded in after the first's,
        // so results do not depend on thread timing.
        ScanRequest req_b = req;
        req.matchers.push_back(std::move(half_a));
        req_b.matchers.push_back(std::move(half_b));
        ScanState other;
        other.partial_bytes = main_scan.partial_bytes;
        Status status_b;
        std::thread t([&] {
          status_b = NoThrow([&] {
            return ctx->db->Scan(req_b, [&](const SeriesData& sd) { return on_series_in(other, sd); });
          });
        });
        Status status_a = NoThrow([&] { return ctx->db->Scan(req, on_series); });
        t.join();
        RETURN_IF_ERROR(status_a);
        RETURN_IF_ERROR(status_b);
        RETURN_IF_ERROR(MergeScanState(std::move(other), plan, &main_scan));
      } else {
        RETURN_IF_ERROR(ctx->db->Scan(req, on_series));
      }
    }
  }

  // Windows.
  int64_t interval = plan.has_time_group ? plan.tdim.interval_ns : 0;
  int64_t offset = 0;
  int64_t first_window = 0, nwindows = 1;
  if (plan.has_time_group) {
    offset = ((plan.tdim.offset_ns % interval) + interval) % interval;
    int64_t lo = range.has_min() ? range.min : earliest;
    if (lo == kMaxTime) lo = range.max;
    const __int128 first = AlignedStart(lo, interval, offset);
    if (first < kMinTime) {
      // Window starts are labels and loop bounds in int64 below; the one
      // holding the earliest storable times would start before them.
      return absl::InvalidArgumentError(
          absl::StrCat("GROUP BY time: the first window would start before the earliest time (", kMinTime,
                       "); give the query a lower time bound at least one interval above it"));
    }
    first_window = static_cast<int64_t>(first);
    __int128 count = (AlignedStart(range.max, interval, offset) - first) / interval + 1;
    RETURN_IF_ERROR(CheckBuckets(plan.tdim, lo, range.max, std::max<size_t>(1, groups.size()), ctx));
    if (count > 10000000 && s.fill.mode != FillMode::kNone) {
      return absl::InvalidArgumentError(
          "too many windows: narrow the time range or use a larger GROUP BY interval");
    }
    nwindows = static_cast<int64_t>(count);
  }
  const int64_t single_label = range.has_min() ? range.min : 0;

  std::vector<ResultSeries> result;
  std::vector<Group*> order;
  for (auto& [k, g] : groups) order.push_back(&g);

  // Computes one group's output series; groups are independent.
  auto run_group = [&](Group& g, ResultSeries* rs) -> Status {
    rs->name = g.measurement;
    rs->tags = g.tags;
    rs->columns.push_back(plan.time_column);
    rs->time_first = true;
    rs->columns.insert(rs->columns.end(), plan.columns.begin(), plan.columns.end());
    if (!plan.aggregate && ctx->page_points > 0 && ctx->page_truncated) {
      // A page: rows past the cutoff may lack points of other columns; the
      // next page starts after it.
      const int64_t cut = ctx->page_cutoff;
      for (auto& [times, rows] : g.raw) {
        size_t a = 0, b = times.size();
        if (desc) {
          a = static_cast<size_t>(std::lower_bound(times.begin(), times.end(), cut) - times.begin());
        } else {
          b = static_cast<size_t>(std::upper_bound(times.begin(), times.end(), cut) - times.begin());
        }
        rows.erase(rows.begin() + static_cast<std::ptrdiff_t>(b), rows.end());
        rows.erase(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(a));
        times.erase(times.begin() + static_cast<std::ptrdiff_t>(b), times.end());
        times.erase(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(a));
      }
    }
    if (!plan.aggregate) {
      // One series' rows come in time order: taken as they are.
      if (g.raw.size() == 1 && std::is_sorted(g.raw[0].first.begin(), g.raw[0].first.end())) {
        rs->values = std::move(g.raw[0].second);
        return absl::OkStatus();
      }
      // Merge the series' rows by time (stable: series order on ties).
      std::vector<std::pair<int64_t, std::pair<uint32_t, uint32_t>>> idx;
      for (uint32_t k = 0; k < g.raw.size(); k++) {
        for (uint32_t r = 0; r < g.raw[k].first.size(); r++) idx.push_back({g.raw[k].first[r], {k, r}});
      }
      std::stable_sort(idx.begin(), idx.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      rs->values.reserve(idx.size());
      for (const auto& [t, kr] : idx) rs->values.push_back(std::move(g.raw[kr.first].second[kr.second]));
      return absl::OkStatus();
    }
    // Aggregate: merge inputs (unless reduced per series already).
    std::vector<Points> inputs(plan.input_fields.size());
    for (size_t in = 0; in < g.inputs.size(); in++) inputs[in] = MergePoints(std::move(g.inputs[in]));
    RETURN_IF_ERROR(ctx->CheckDeadline());
    // Per slot: per-window entries.
    const size_t W = static_cast<size_t>(nwindows);
    if (g.partial && (W != partial_windows || (plan.has_time_group && first_window != partial_first))) {
      return absl::InternalError("partial aggregation windows differ");
    }
    // A slot's per-window entries are kept flat: window w's are
    // entries[start[w], start[w + 1]). A vector per window was a heap
    // allocation per window and slot, a tenth of a grouped query's time.
    struct SlotResult {
      std::vector<Entry> entries;   // aggregates, in window order
      std::vector<uint32_t> start;  // W + 1 offsets into `entries`
      std::vector<Entry> flat;      // transforms
      bool multi = false;           // distinct: several rows per window
      bool Empty(size_t w) const { return start[w + 1] == start[w]; }
      Entry& First(size_t w) { return entries[start[w]]; }
    };
    std::vector<SlotResult> res(plan.slots.size());
    // With extra fields (one selector slot): per window, the index in its
    // merged input of the selected point.
    std::vector<std::vector<size_t>> picked(plan.aux.empty() ? 0 : W);
    auto picked_of = [&](size_t w) { return picked.empty() ? nullptr : &picked[w]; };
    for (size_t si = 0; si < plan.slots.size(); si++) {
      const Slot& sl = plan.slots[si];
      const Points& p = inputs[sl.input];
      SlotResult& r = res[si];
      if (sl.transform && !sl.over_aggregate) {
        std::vector<Entry> in;
        in.reserve(p.size());
        for (size_t k = 0; k < p.size(); k++) in.push_back({p.t[k], p.v.Get(k)});
        r.flat = Transform(sl.spec, in, 1000000000);
        continue;
      }
      r.start.assign(W + 1, 0);
      r.multi = sl.reduce == "distinct";
      auto close_window = [&r](size_t w) { r.start[w + 1] = static_cast<uint32_t>(r.entries.size()); };
      if (g.partial) {
        const std::vector<PartialAcc>& acc = g.acc[sl.input];
        const VType type = g.partial_type[sl.input];
        r.entries.reserve(acc.size());
        for (size_t w = 0; w < W; w++) {
          if (w < acc.size() && acc[w].n != 0) {
            if (plan.has_time_group) {
              r.entries.push_back(PartialResult(sl.reduce, type, acc[w],
                                                first_window + static_cast<int64_t>(w) * interval, false));
            } else {
              r.entries.push_back(
                  PartialResult(sl.reduce, type, acc[w], single_label, plan.selector_point_time));
            }
          }
          close_window(w);
        }
      } else if (!plan.has_time_group) {
        ReduceWindow(sl.reduce, sl.spec, p, 0, p.size(), single_label, plan.selector_point_time, &r.entries,
                     picked_of(0));
        for (size_t w = 0; w < W; w++) close_window(w);
      } else {
        size_t a = 0;
        // Skip points before the first window (possible for subqueries).
        while (a < p.size() && p.t[a] < first_window) a++;
        for (size_t w = 0; w < W; w++) {
          int64_t ws = first_window + static_cast<int64_t>(w) * interval;
          int64_t we = WindowEnd(ws, interval);
          size_t b = a;
          while (b < p.size() && p.t[b] < we) b++;
          if (b > a) ReduceWindow(sl.reduce, sl.spec, p, a, b, ws, false, &r.entries, picked_of(w));
          close_window(w);
          a = b;
          if ((w & 4095) == 4095) RETURN_IF_ERROR(ctx->CheckDeadline());
        }
      }
      if (sl.reduce == "integral") {
        std::vector<std::vector<Entry>> per_window(W);
        IntegralWindows(sl.spec, p, plan.has_time_group, first_window, interval, single_label, &per_window);
        r.entries.clear();
        for (size_t w = 0; w < W; w++) {
          for (Entry& e : per_window[w]) r.entries.push_back(std::move(e));
          close_window(w);
        }
      }
      if (sl.over_aggregate) {
        // Fill the inner aggregate, drop nulls, transform.
        std::vector<int64_t> times(W);
        std::vector<Value> col(W);
        for (size_t w = 0; w < W; w++) {
          times[w] = first_window + static_cast<int64_t>(w) * interval;
          if (!r.Empty(w)) {
            times[w] = r.First(w).time;
            col[w] = std::move(r.First(w).value);
          }
        }
        ApplyFill(s.fill, sl.reduce == "count", &col);
        std::vector<Entry> in;
        for (size_t w = 0; w < W; w++) {
          if (col[w].index() != 0) in.push_back({times[w], std::move(col[w])});
        }
        int64_t unit = sl.spec.unit_ns > 0 ? sl.spec.unit_ns : interval;
        CallSpec spec = sl.spec;
        spec.unit_ns = unit;
        r.flat = Transform(spec, in, unit);
        r.entries.clear();
        r.start.clear();
      }
    }
    // Is every slot one-value-per-window?
    bool windowed = true;
    for (size_t si = 0; si < plan.slots.size(); si++) {
      if (plan.slots[si].transform || res[si].multi) windowed = false;
    }
    std::vector<int64_t> times;
    std::vector<VCol> slot_cols(plan.slots.size());
    std::vector<VCol> aux_cols;      // with extra fields: per Plan::aux entry
    std::vector<uint8_t> empty_row;  // with extra fields: the row's window had no selected point
    if (windowed) {
      // Which windows have data in any slot.
      std::vector<uint8_t> has(W, 0);
      bool any = false;
      for (size_t si = 0; si < plan.slots.size(); si++) {
        for (size_t w = 0; w < W; w++) {
          if (res[si].Empty(w)) continue;
          has[w] = 1;
          any = true;
        }
      }
      if (!any) return absl::OkStatus();
      std::vector<size_t> rows;
      for (size_t w = 0; w < W; w++) {
        if (!plan.has_time_group || s.fill.mode != FillMode::kNone || has[w]) rows.push_back(w);
      }
      for (size_t w : rows) {
        int64_t t = plan.has_time_group ? first_window + static_cast<int64_t>(w) * interval : single_label;
        if (plan.selector_point_time && !res[0].Empty(w)) t = res[0].First(w).time;
        times.push_back(t);
      }
      for (size_t si = 0; si < plan.slots.size(); si++) {
        // Each window is one row at most: its entry can be moved out.
        std::vector<Value> vals(rows.size());
        for (size_t k = 0; k < rows.size(); k++) {
          if (!res[si].Empty(rows[k])) vals[k] = std::move(res[si].First(rows[k]).value);
        }
        if (plan.has_time_group) ApplyFill(s.fill, plan.slots[si].reduce == "count", &vals);
        slot_cols[si] = VCol::FromValues(vals);
      }
      if (!plan.aux.empty()) {
        const Points& p = inputs[plan.slots[0].input];
        aux_cols.resize(plan.aux.size());
        for (size_t j = 0; j < plan.aux.size(); j++) {
          std::vector<Value> vals;
          vals.reserve(rows.size());
          for (size_t w : rows) vals.push_back(picked[w].empty() ? Value{} : p.aux[picked[w][0]][j]);
          aux_cols[j] = VCol::FromValues(vals);
        }
        for (size_t w : rows) empty_row.push_back(picked[w].empty() ? 1 : 0);
      }
    } else {
      // Join entries by (time, occurrence).
      std::map<std::pair<int64_t, size_t>, size_t> keys;
      std::vector<std::vector<Entry>> flats(plan.slots.size());
      for (size_t si = 0; si < plan.slots.size(); si++) {
        if (!res[si].flat.empty() || plan.slots[si].transform) {
          flats[si] = std::move(res[si].flat);
        } else {
          flats[si] = std::move(res[si].entries);
        }
        std::map<int64_t, size_t> occ;
        for (const Entry& e : flats[si]) keys.emplace(std::make_pair(e.time, occ[e.time]++), 0);
      }
      if (keys.empty()) return absl::OkStatus();
      size_t n = 0;
      for (auto& [k, v] : keys) {
        v = n++;
        times.push_back(k.first);
      }
      for (size_t si = 0; si < plan.slots.size(); si++) {
        std::vector<Value> vals(n);
        std::map<int64_t, size_t> occ;
        for (Entry& e : flats[si]) vals[keys[{e.time, occ[e.time]++}]] = std::move(e.value);
        slot_cols[si] = VCol::FromValues(vals);
      }
    }
    // Outer expressions.
    EvalContext ec;
    ec.rows = times.size();
    ec.times = &times;
    ec.call = [&](const Expr& e) -> const VCol* {
      for (size_t si = 0; si < plan.slots.size(); si++) {
        if (plan.slots[si].expr == &e) return &slot_cols[si];
      }
      return nullptr;
    };
    if (!aux_cols.empty()) {
      // Every bare reference is read from the selected point (tags too).
      ec.field = [&](const VarRef& v) -> const VCol* {
        for (size_t j = 0; j < plan.aux.size(); j++) {
          if (plan.aux[j].name == v.name) return &aux_cols[j];
        }
        return nullptr;
      };
    }
    // A field that is a call alone (mean(v)) is its slot's column, read in
    // place: Eval would copy it.
    std::vector<VCol> owned;
    owned.reserve(plan.fields.size());
    std::vector<const VCol*> out;
    for (const OutField& f : plan.fields) {
      const Expr& e = *Unparen(f.expr);
      const VCol* c = e.Is<Call>() ? ec.call(e) : nullptr;
      if (c == nullptr) {
        owned.push_back(Eval(*f.expr, ec));
        c = &owned.back();
      }
      out.push_back(c);
    }
    rs->values.reserve(times.size());
    for (size_t r = 0; r < times.size(); r++) {
      std::vector<Value> row;
      row.reserve(out.size() + 1);
      row.push_back(times[r]);
      for (const VCol* c : out) c->AppendCellTo(r, &row);
      rs->values.push_back(std::move(row));
    }
    if (!empty_row.empty() && plan.has_time_group &&
        (s.fill.mode == FillMode::kNumber || s.fill.mode == FillMode::kPrevious)) {
      // influxd fills the extra columns of an empty window like the
      // selector's: fill(N) puts N in each (tags too), fill(previous) repeats
      // the previous row's; fill(linear) leaves them null.
      Value number;
      if (const auto* i = std::get_if<int64_t>(&s.fill.value)) {
        number = *i;
      } else {
        number = std::get<double>(s.fill.value);
      }
      for (size_t fi = 0; fi < plan.fields.size(); fi++) {
        if (ContainsFunctionCall(*plan.fields[fi].expr)) continue;
        for (size_t r = 0; r < rs->values.size(); r++) {
          if (!empty_row[r]) continue;
          if (s.fill.mode == FillMode::kNumber) {
            rs->values[r][fi + 1] = number;
          } else if (r > 0) {
            rs->values[r][fi + 1] = rs->values[r - 1][fi + 1];
          }
        }
      }
    }
    return absl::OkStatus();
  };

  std::vector<ResultSeries> outs(order.size());
  std::vector<Status> statuses(order.size());
  // A second thread pays off when groups still merge points or have many
  // windows; reduced groups are cheap to finish.
  size_t work = 0;
  for (const Group* g : order) work += g->partial ? static_cast<size_t>(nwindows) : 1000000;
  if (order.size() >= 2 && plan.aggregate && work >= 200000 && UseSecondQueryThread()) {
    // Two workers over the groups.
    std::atomic<size_t> next{0};
    auto worker = [&] {
      for (size_t k = next++; k < order.size(); k = next++) {
        statuses[k] = NoThrow([&] { return run_group(*order[k], &outs[k]); });
      }
    };
    std::thread t(worker);
    worker();
    t.join();
  } else {
    for (size_t k = 0; k < order.size(); k++) statuses[k] = run_group(*order[k], &outs[k]);
  }
  for (const Status& st : statuses) RETURN_IF_ERROR(st);

  // Order, limits. SOFFSET and SLIMIT pick series in ascending order under
  // DESC too; influxd then emits the picked series in reverse.
  // A page of RunSelectPaged: its caller applies the limits across pages.
  const Limits limits = ctx->page_points > 0 ? Limits{} : s.limits;
  int64_t soff = limits.soffset, slim = limits.slimit;
  size_t emitted = 0;
  for (size_t k = 0; k < outs.size(); k++) {
    ResultSeries& rs = outs[k];
    if (rs.values.empty()) continue;
    if (soff > 0) {
      soff--;
      continue;
    }
    if (slim > 0 && static_cast<int64_t>(emitted) >= slim) break;
    if (desc)
      std::stable_sort(rs.values.begin(), rs.values.end(), [](const auto& a, const auto& b) {
        return std::get<int64_t>(a[0]) > std::get<int64_t>(b[0]);
      });
    if (limits.offset > 0) {
      size_t off = std::min<size_t>(rs.values.size(), static_cast<size_t>(limits.offset));
      rs.values.erase(rs.values.begin(), rs.values.begin() + off);
    }
    if (limits.limit > 0 && rs.values.size() > static_cast<size_t>(limits.limit)) {
      rs.values.resize(static_cast<size_t>(limits.limit));
    }
    if (rs.values.empty()) continue;
    emitted++;
    result.push_back(std::move(rs));
  }
  if (desc) {
    if (parent_desc.has_value()) {
      // A subquery's rows feed the outer statement, which reads them in
      // time order; LIMIT has picked them already. Stable: rows of equal
      // time get back their ascending order.
      for (ResultSeries& rs : result) {
        std::stable_sort(rs.values.begin(), rs.values.end(), [](const auto& a, const auto& b) {
          return std::get<int64_t>(a[0]) < std::get<int64_t>(b[0]);
        });
      }
    } else {
      std::reverse(result.begin(), result.end());
    }
  }
  return result;
}

StatusOr<std::vector<ResultSeries>> RunSelectIn(const SelectStatement& s, ExecContext* ctx,
                                                const TimeRange& outer, std::optional<bool> parent_desc) {
  const uint64_t points = ctx->points.load();
  auto out = RunSelectImpl(s, ctx, outer, /*allow_partial=*/true, parent_desc);
  if (!out.ok() && absl::IsAborted(out.status()) && out.status().message() == kPartialFallback) {
    ctx->points.store(points);
    out = RunSelectImpl(s, ctx, outer, /*allow_partial=*/false, parent_desc);
  }
  return out;
}

}  // namespace

StatusOr<std::vector<ResultSeries>> RunSelect(const SelectStatement& s, ExecContext* ctx,
                                              const TimeRange& outer) {
  return RunSelectIn(s, ctx, outer, std::nullopt);
}

StatusOr<bool> RunSelectPaged(const SelectStatement& s, ExecContext* ctx,
                              const std::function<Status(ResultSeries&&)>& emit) {
  // One group (no GROUP BY, one named measurement), raw rows: pages
  // concatenate into exactly the one series RunSelect would return.
  if (s.into.has_value() || !s.dimensions.empty() || s.sources.size() != 1 || s.limits.slimit != 0 ||
      s.limits.soffset != 0 || s.fill.specified) {
    return false;
  }
  const auto* m = std::get_if<Measurement>(&s.sources[0].node);
  if (m == nullptr || m->regex.has_value()) return false;
  for (const Field& f : s.fields) {
    const Expr* e = Unparen(f.expr.get());
    if (e->Is<Distinct>() || ContainsFunctionCall(*e)) return false;
    if (const auto* c = e->As<Call>(); c != nullptr && !planner::IsMathFunction(c->name)) return false;
  }
  const bool desc = !s.sort.empty() && !s.sort[0].ascending;
  // Points per column of a page: the first page small, later ones sized
  // to about kPageTarget points over the columns the first one met (a row
  // cell costs ~100 bytes until written: 256 Ki points, ~25 MB a page), but
  // not below a block's worth (each page decodes whole blocks) unless the
  // point limit (which bounds each page) asks for it.
  constexpr size_t kFirstPage = 4096, kPageTarget = size_t{1} << 18, kMinPage = 1024, kMaxPage = 1 << 20;
  const uint64_t max_points = ctx->options->max_points;
  auto bounded = [max_points](size_t page, size_t columns) {
    if (max_points == 0) return page;
    return std::max<size_t>(1, std::min<uint64_t>(page, max_points / 2 / std::max<size_t>(1, columns)));
  };
  size_t page = bounded(kFirstPage, 64);
  int64_t cursor = desc ? kMaxTime : kMinTime;
  uint64_t offset = static_cast<uint64_t>(std::max<int64_t>(0, s.limits.offset));
  const bool limited = s.limits.limit > 0;
  uint64_t left = limited ? static_cast<uint64_t>(s.limits.limit) : 0;
  struct PageReset {
    ExecContext* ctx;
    ~PageReset() { ctx->page_points = 0; }
  } reset{ctx};
  while (true) {
    RETURN_IF_ERROR(ctx->CheckDeadline());
    TimeRange outer;
    if (desc) {
      outer.max = cursor;
    } else {
      outer.min = cursor;
    }
    ctx->page_points = page;
    ctx->page_truncated = false;
    ctx->page_cutoff = desc ? kMinTime : kMaxTime;
    ctx->page_columns = 0;
    ctx->points.store(0);  // the point limit bounds a page: what is held at once
    ASSIGN_OR_RETURN(std::vector<ResultSeries> out, RunSelectImpl(s, ctx, outer, false, std::nullopt));
    for (ResultSeries& rs : out) {
      const uint64_t skip = std::min<uint64_t>(offset, rs.values.size());
      rs.values.erase(rs.values.begin(), rs.values.begin() + static_cast<std::ptrdiff_t>(skip));
      offset -= skip;
      if (limited) {
        if (rs.values.size() > left) rs.values.resize(static_cast<size_t>(left));
        left -= rs.values.size();
      }
      if (!rs.values.empty()) RETURN_IF_ERROR(emit(std::move(rs)));
    }
    if (!ctx->page_truncated || (limited && left == 0)) break;
    if (desc) {
      if (ctx->page_cutoff <= kMinTime) break;
      cursor = ctx->page_cutoff - 1;
    } else {
      if (ctx->page_cutoff >= kMaxTime) break;
      cursor = ctx->page_cutoff + 1;
    }
    page = bounded(std::clamp(kPageTarget / std::max<size_t>(1, ctx->page_columns), kMinPage, kMaxPage),
                   ctx->page_columns);
  }
  return true;
}

}  // namespace m2mdb::query::exec
