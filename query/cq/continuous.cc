// Continuous queries: definitions, per-(CQ, group) dirty windows fed by the
// engine's change listener, their persistence in app metadata, and the
// refresher that recomputes them. Design: docs/architecture.md,
// "Continuous queries".
#include "m2mdb/query/continuous.h"

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "re2/re2.h"

#include "m2mdb/log.h"
#include "m2mdb/query/parse.h"
#include "query/exec/exec.h"

namespace m2mdb::query {

namespace {

constexpr char kDefPrefix[] = "cq/def/";
constexpr char kDirtyPrefix[] = "cq/dirty/";
constexpr int64_t kFailureLogInterval = int64_t{10} * 1000000000;  // ns
constexpr int64_t kPruneInterval = int64_t{600} * 1000000000;      // ns

int64_t SystemNow() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void PutStr(std::string* out, std::string_view s) {
  const uint32_t n = static_cast<uint32_t>(s.size());
  out->append(reinterpret_cast<const char*>(&n), 4);
  out->append(s);
}
void PutI64(std::string* out, int64_t v) { out->append(reinterpret_cast<const char*>(&v), 8); }
bool GetStr(std::string_view* in, std::string* s) {
  uint32_t n;
  if (in->size() < 4) return false;
  std::memcpy(&n, in->data(), 4);
  if (in->size() - 4 < n) return false;
  s->assign(in->data() + 4, n);
  in->remove_prefix(4 + n);
  return true;
}
bool GetI64(std::string_view* in, int64_t* v) {
  if (in->size() < 8) return false;
  std::memcpy(v, in->data(), 8);
  in->remove_prefix(8);
  return true;
}

std::string MetaKey(const char* prefix, std::string_view db, std::string_view name) {
  std::string k = prefix;
  PutStr(&k, db);
  PutStr(&k, name);
  return k;
}

// Window arithmetic in 128 bits: times reach kMinTime/kMaxTime and offsets
// may be negative, so (t - offset) and start + interval can overflow int64.
int64_t Clamp(__int128 v) {
  if (v < static_cast<__int128>(kMinTime)) return kMinTime;
  if (v > static_cast<__int128>(kMaxTime) + 1) return kMaxTime + 1;  // an exclusive end
  return static_cast<int64_t>(v);
}

// A set of disjoint, non-touching [start, end) ranges, keyed by start.
using Ranges = std::map<int64_t, int64_t>;

bool AddRange(Ranges* r, int64_t a, int64_t b) {
  if (a >= b) return false;
  auto it = r->upper_bound(a);
  if (it != r->begin()) {
    auto prev = std::prev(it);
    if (prev->second >= a) {
      if (prev->second >= b) return false;  // already covered: the common case
      a = prev->first;
      it = prev;
    }
  }
  while (it != r->end() && it->first <= b) {
    b = std::max(b, it->second);
    it = r->erase(it);
  }
  r->emplace(a, b);
  return true;
}

void RemoveRange(Ranges* r, int64_t a, int64_t b) {
  if (a >= b) return;
  auto it = r->upper_bound(a);
  if (it != r->begin()) --it;
  while (it != r->end() && it->first < b) {
    const int64_t s = it->first, e = it->second;
    if (e <= a) {
      ++it;
      continue;
    }
    it = r->erase(it);
    if (s < a) r->emplace(s, a);
    if (e > b) {
      r->emplace(b, e);
      break;
    }
  }
}

// One group of a CQ: the rollup series that the group's source series feed.
struct Group {
  std::string measurement;  // the source measurement, for INTO :MEASUREMENT; else empty
  std::vector<std::pair<std::string, std::string>> tags;  // sorted; "" = the series lacks the tag
  Ranges dirty;
  Ranges inflight;          // taken by the refresher, not yet written
  int64_t marked_at = 0;    // clock when `dirty` last became non-empty
  int64_t retry_at = 0;     // after a failed refresh: not before this (clock)
  uint64_t generation = 0;  // counts marks, so a refresh can tell none came meanwhile
};

struct Cq {
  std::string database;
  std::string name;
  std::string text;         // the normalised statement (SHOW CONTINUOUS QUERIES)
  uint64_t seq = 0;         // creation order (SHOW lists in it, as influxd)
  std::string select_text;  // its SELECT without INTO
  int64_t interval = 0;
  int64_t offset = 0;
  int64_t every = 0;
  bool wildcard = false;                // GROUP BY * (or a regex): the group is the series
  std::vector<std::string> group_tags;  // sorted
  // Sources of the source database.
  std::string source_db;
  // Resolved at CREATE (influxd's normalisation: the default policy then),
  // so a later change of default does not move a continuous query.
  std::string source_rp;
  std::vector<std::string> source_names;
  std::vector<std::shared_ptr<RE2>> source_regexes;
  // The target.
  std::string target_db, target_rp, target_name;  // name empty = :MEASUREMENT
  // State, under Impl::mu.
  std::unordered_map<std::string, std::unique_ptr<Group>> groups;
  bool changed = false;  // marks differ from what Checkpoint stored
  bool stored = false;   // a dirty blob is stored
  int64_t next_run = 0;
  // Refresh failures are logged once per kFailureLogInterval per CQ: a CQ
  // whose target is gone fails for every group at every retry, which with
  // GROUP BY * over many series filled the log without bound.
  bool warned = false;
  int64_t warned_at = 0;
  uint64_t unlogged_failures = 0;

  int64_t WindowStart(int64_t t) const {
    const __int128 d = static_cast<__int128>(t) - offset;
    __int128 q = d / interval;
    if (d % interval != 0 && d < 0) q--;
    return Clamp(q * interval + offset);
  }
  int64_t WindowEnd(int64_t t) const { return Clamp(static_cast<__int128>(WindowStart(t)) + interval); }
  bool ReadsMeasurement(std::string_view m) const {
    for (const auto& n : source_names)
      if (n == m) return true;
    for (const auto& re : source_regexes)
      if (RE2::PartialMatch(std::string(m), *re)) return true;
    return false;
  }
};

std::string GroupKey(std::string_view measurement,
                     const std::vector<std::pair<std::string, std::string>>& tags) {
  std::string k;
  PutStr(&k, measurement);
  for (const auto& [a, b] : tags) {
    PutStr(&k, a);
    PutStr(&k, b);
  }
  return k;
}

// The expression `lhs op rhs`.
ExprPtr Bin(BinaryOp op, ExprPtr lhs, ExprPtr rhs) {
  return MakeExpr(0, BinaryExpr{op, std::move(lhs), std::move(rhs)});
}
ExprPtr TagEq(const std::string& k, const std::string& v) {
  return Bin(BinaryOp::kEq, MakeExpr(0, VarRef{k, DataType::kTag}), MakeExpr(0, StringLiteral{v}));
}
ExprPtr TimeCmp(BinaryOp op, int64_t t) {
  return Bin(op, MakeExpr(0, VarRef{"time", DataType::kUnknown}), MakeExpr(0, IntegerLiteral{t}));
}
void AndInto(ExprPtr* cond, ExprPtr e) {
  if (*cond == nullptr) {
    *cond = std::move(e);
  } else {
    *cond = Bin(BinaryOp::kAnd, MakeExpr(0, ParenExpr{std::move(*cond)}), std::move(e));
  }
}

}  // namespace

struct ContinuousQueries::Impl {
  explicit Impl(ContinuousQueryOptions o) : options(std::move(o)) {
    if (!options.clock) options.clock = SystemNow;
    if (options.max_windows_per_refresh < 1) options.max_windows_per_refresh = 1;
  }

  ContinuousQueryOptions options;
  std::mutex mu;  // guards everything below but `db`, `thread`
  DB* db = nullptr;
  bool loaded = false;
  uint64_t next_seq = 1;
  // Per database: its CQs (by name) and the groups each series feeds.
  struct Database {
    std::map<std::string, std::unique_ptr<Cq>> cqs;
    absl::flat_hash_map<uint64_t, std::vector<Group*>> series_groups;
  };
  std::map<std::string, Database, std::less<>> dbs;
  // Changes seen before the definitions are loaded (WAL replay at Open):
  // kept per series and applied at load.
  struct PendingSeries {
    std::string database;
    std::string retention_policy;
    SeriesKey key;
    std::vector<std::pair<int64_t, int64_t>> ranges;
  };
  absl::flat_hash_map<uint64_t, PendingSeries> pending;
  // The marks of the delete being applied (deletes are serialised by the
  // engine): marked again once it is visible, since the refresher may have
  // recomputed those windows from the data the delete then removed.
  struct DeleteMark {
    std::string cq_db, cq_name, group_key;
    int64_t a, b;
  };
  std::vector<DeleteMark> delete_marks;

  // Statistics.
  uint64_t refreshes = 0, windows_refreshed = 0, refresh_errors = 0;
  std::vector<int64_t> lags;  // ring of recent lag samples
  size_t lag_next = 0;

  // Clean groups are dropped now and then (kPruneInterval): a group is
  // made for every series a CQ ever saw, and with series churn (GROUP BY *
  // over short-lived series, dropped) they grew without bound, ~1 KB each.
  int64_t last_prune = 0;
  bool pruned_once = false;

  std::mutex persist_mu;  // orders the writes of dirty blobs
  std::mutex refresh_mu;  // one refresh pass at a time

  std::thread thread;
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stop = false;

  // --- Definitions ---------------------------------------------------------

  // Builds a Cq from a normalised statement (database and retention policy
  // filled in everywhere).
  static StatusOr<std::unique_ptr<Cq>> Compile(const CreateContinuousQueryStatement& s, std::string text) {
    auto cq = std::make_unique<Cq>();
    cq->database = s.database;
    cq->name = s.name;
    cq->text = std::move(text);
    const SelectStatement& sel = s.select;
    if (!sel.into.has_value()) return absl::InvalidArgumentError("continuous query has no INTO target");
    for (const auto& d : sel.dimensions) {
      if (const auto* td = std::get_if<TimeDimension>(&d.node)) {
        if (td->offset_now) {
          return absl::InvalidArgumentError("continuous queries do not support GROUP BY time(..., now())");
        }
        cq->interval = td->interval_ns;
        cq->offset = td->offset_ns;
      } else if (const auto* tag = std::get_if<TagDimension>(&d.node)) {
        cq->group_tags.push_back(tag->name);
      } else {
        cq->wildcard = true;  // * or a regex: one group per series
      }
    }
    if (cq->interval <= 0 || sel.is_raw) {
      return absl::InvalidArgumentError(
          "continuous queries without an aggregate and GROUP BY time(...) are not supported");
    }
    // The dirty windows are aligned in UTC; in another zone a refreshed
    // range would cut local windows in two and overwrite a rollup with the
    // aggregate of its part in the range.
    if (!sel.timezone.empty() && sel.timezone != "UTC") {
      return absl::InvalidArgumentError("continuous queries do not support tz() other than tz('UTC')");
    }
    if (cq->offset != 0) cq->offset %= cq->interval;
    std::sort(cq->group_tags.begin(), cq->group_tags.end());
    cq->group_tags.erase(std::unique(cq->group_tags.begin(), cq->group_tags.end()), cq->group_tags.end());
    cq->every = s.resample_every_ns;
    for (const auto& src : sel.sources) {
      const auto* m = std::get_if<Measurement>(&src.node);
      if (m == nullptr) return absl::InvalidArgumentError("continuous queries do not support subqueries");
      if (cq->source_db.empty()) {
        cq->source_db = m->database;
        cq->source_rp = m->retention_policy;
      }
      if (m->database != cq->source_db) {
        return absl::InvalidArgumentError("a continuous query reads one database");
      }
      if (m->regex.has_value()) {
        auto re = std::make_shared<RE2>(m->regex->pattern);
        if (!re->ok()) return absl::InvalidArgumentError(absl::StrCat("invalid regex: ", re->error()));
        cq->source_regexes.push_back(std::move(re));
      } else {
        cq->source_names.push_back(m->name);
      }
    }
    const Measurement& t = *sel.into;
    cq->target_db = t.database;
    cq->target_rp = t.retention_policy;
    cq->target_name = t.name;
    // A rollup written into its own source would dirty itself for ever.
    if (cq->target_db == cq->source_db && cq->target_rp == cq->source_rp &&
        (t.name.empty() || cq->ReadsMeasurement(t.name))) {
      return absl::InvalidArgumentError(
          "a continuous query cannot write INTO a measurement it reads (its rollup would invalidate itself)");
    }
    // Its points could never be written (a name with a line break is
    // refused whole by the write path): every refresh would fail, for ever.
    auto has_line_break = [](const std::string& n) { return n.find_first_of("\r\n") != std::string::npos; };
    bool bad_name = has_line_break(t.name);
    for (const Field& f : sel.fields) bad_name = bad_name || has_line_break(f.alias);
    if (bad_name) {
      return absl::InvalidArgumentError(
          "a continuous query cannot write a measurement or field name with a line break");
    }
    ASSIGN_OR_RETURN(SelectStatement plain, exec::WithoutInto(sel));
    cq->select_text = String(plain);
    return cq;
  }

  void InstallLocked(std::unique_ptr<Cq> cq) {
    Database& d = dbs[cq->source_db];
    d.series_groups.clear();
    d.cqs[cq->database + std::string(1, '\0') + cq->name] = std::move(cq);
  }

  // Loads definitions and stored marks, then applies the pending changes.
  Status LoadLocked(DB& d) {
    if (loaded) return absl::OkStatus();
    ASSIGN_OR_RETURN(auto defs, d.ListAppMeta(kDefPrefix));
    for (const auto& [key, value] : defs) {
      // "<creation seq>\n<statement>".
      const size_t nl = value.find('\n');
      const uint64_t seq = nl == std::string::npos ? 0 : std::strtoull(value.c_str(), nullptr, 10);
      const std::string text = nl == std::string::npos ? value : value.substr(nl + 1);
      next_seq = std::max(next_seq, seq + 1);
      ParseOptions po;
      po.validate = false;
      auto parsed = ParseQuery(text, po);
      const CreateContinuousQueryStatement* s =
          parsed.ok() && parsed->size() == 1 ? (*parsed)[0].As<CreateContinuousQueryStatement>() : nullptr;
      if (s == nullptr) {
        LogError("continuous query definition unreadable, skipped: ", text);
        continue;
      }
      auto cq = Compile(*s, text);
      if (!cq.ok()) {
        LogError("continuous query ", s->name, " skipped: ", cq.status().ToString());
        continue;
      }
      (*cq)->stored = false;
      (*cq)->seq = seq;
      InstallLocked(std::move(*cq));
    }
    ASSIGN_OR_RETURN(auto blobs, d.ListAppMeta(kDirtyPrefix));
    for (const auto& [key, value] : blobs) {
      std::string_view in = value, rest;
      std::string db, name;
      if (!GetStr(&in, &db) || !GetStr(&in, &name)) continue;
      Cq* cq = FindLocked(db, name);
      if (cq == nullptr) continue;  // dropped; the blob goes at the next checkpoint
      cq->stored = true;
      const int64_t now = options.clock();
      while (!in.empty()) {
        std::string m;
        int64_t ntags = 0, nranges = 0;
        if (!GetStr(&in, &m) || !GetI64(&in, &ntags)) break;
        std::vector<std::pair<std::string, std::string>> tags(
            static_cast<size_t>(std::max<int64_t>(ntags, 0)));
        bool ok = true;
        for (auto& [k, v] : tags) ok = ok && GetStr(&in, &k) && GetStr(&in, &v);
        if (!ok || !GetI64(&in, &nranges)) break;
        Group* g = GroupLocked(cq, m, std::move(tags));
        for (int64_t r = 0; r < nranges; r++) {
          int64_t a, b;
          if (!GetI64(&in, &a) || !GetI64(&in, &b)) break;
          MarkLocked(cq, g, a, b, now);
        }
      }
    }
    loaded = true;
    const int64_t now = options.clock();
    for (auto& [id, p] : pending) {
      auto it = dbs.find(p.database);
      if (it == dbs.end()) continue;
      for (auto& [cqid, cq] : it->second.cqs) {
        if (cq->source_rp != p.retention_policy) continue;
        Group* g = GroupOfLocked(cq.get(), p.key);
        if (g == nullptr) continue;
        for (const auto& [lo, hi] : p.ranges)
          MarkLocked(cq.get(), g, cq->WindowStart(lo), cq->WindowEnd(hi), now);
      }
    }
    pending.clear();
    return absl::OkStatus();
  }

  Cq* FindLocked(std::string_view database, std::string_view name) {
    std::string id = absl::StrCat(ToAbsl(database), std::string(1, '\0'), ToAbsl(name));
    for (auto& [db, d] : dbs) {
      auto it = d.cqs.find(id);
      if (it != d.cqs.end()) return it->second.get();
    }
    return nullptr;
  }

  Group* GroupLocked(Cq* cq, const std::string& measurement,
                     std::vector<std::pair<std::string, std::string>> tags) {
    std::string key = GroupKey(measurement, tags);
    auto& slot = cq->groups[key];
    if (!slot) {
      slot = std::make_unique<Group>();
      slot->measurement = measurement;
      slot->tags = std::move(tags);
    }
    return slot.get();
  }

  // The group of `cq` that series `s` feeds, or null if the CQ does not
  // read it.
  Group* GroupOfLocked(Cq* cq, const SeriesKey& s) {
    if (!cq->ReadsMeasurement(s.measurement)) return nullptr;
    std::vector<std::pair<std::string, std::string>> tags;
    if (cq->wildcard) {
      tags = s.tags;
    } else {
      for (const auto& k : cq->group_tags) {
        std::string v;
        for (const auto& [tk, tv] : s.tags)
          if (tk == k) v = tv;
        tags.emplace_back(k, std::move(v));
      }
    }
    return GroupLocked(cq, cq->target_name.empty() ? s.measurement : std::string(), std::move(tags));
  }

  void MarkLocked(Cq* cq, Group* g, int64_t a, int64_t b, int64_t now) {
    g->generation++;
    // The executor computes no window that starts before the earliest time:
    // the first window holding kMinTime is never rolled up.
    a = std::max(a, cq->WindowEnd(kMinTime));
    if (a >= b) return;
    if (g->dirty.empty()) g->marked_at = now;
    // A mark inside a dirty range (the steady state: writes into the current
    // window) changes nothing to store.
    if (AddRange(&g->dirty, a, b)) cq->changed = true;
  }

  // --- Persistence ---------------------------------------------------------

  // The dirty (and in-flight) marks of `cq`, as stored.
  static std::string EncodeLocked(const Cq& cq, bool* empty) {
    std::string out;
    PutStr(&out, cq.database);
    PutStr(&out, cq.name);
    *empty = true;
    for (const auto& [key, g] : cq.groups) {
      Ranges all = g->dirty;
      for (const auto& [a, b] : g->inflight) AddRange(&all, a, b);
      if (all.empty()) continue;
      *empty = false;
      PutStr(&out, g->measurement);
      PutI64(&out, static_cast<int64_t>(g->tags.size()));
      for (const auto& [k, v] : g->tags) {
        PutStr(&out, k);
        PutStr(&out, v);
      }
      PutI64(&out, static_cast<int64_t>(all.size()));
      for (const auto& [a, b] : all) {
        PutI64(&out, a);
        PutI64(&out, b);
      }
    }
    return out;
  }

  // Stores the marks of every CQ that changed (all = every CQ).
  Status PersistMarks(DB& d, bool all) {
    std::lock_guard<std::mutex> pl(persist_mu);
    struct Write {
      std::string key, value;
      bool erase;
      Cq* cq;
    };
    std::vector<Write> writes;
    {
      std::lock_guard<std::mutex> l(mu);
      for (auto& [name, dbstate] : dbs) {
        for (auto& [id, cq] : dbstate.cqs) {
          if (!all && !cq->changed) continue;
          bool empty;
          std::string value = EncodeLocked(*cq, &empty);
          if (empty && !cq->stored) {
            cq->changed = false;
            continue;
          }
          writes.push_back(
              {MetaKey(kDirtyPrefix, cq->database, cq->name), std::move(value), empty, cq.get()});
          cq->changed = false;
        }
      }
    }
    Status st;
    for (auto& w : writes) {
      Status s = w.erase ? d.DeleteAppMeta(w.key) : d.PutAppMeta(w.key, w.value);
      if (!s.ok()) {
        std::lock_guard<std::mutex> l(mu);
        // Still unsaved: the next checkpoint tries again. (The CQ may have
        // been dropped meanwhile: look it up by name.)
        for (auto& [name, dbstate] : dbs)
          for (auto& [id, cq] : dbstate.cqs)
            if (cq.get() == w.cq) cq->changed = true;
        st.Update(s);
        continue;
      }
      std::lock_guard<std::mutex> l(mu);
      for (auto& [name, dbstate] : dbs)
        for (auto& [id, cq] : dbstate.cqs)
          if (cq.get() == w.cq) cq->stored = !w.erase;
    }
    return st;
  }

  // --- Refresh -------------------------------------------------------------

  struct Chunk {
    std::string cq_db, cq_name;
    std::string group_key;
    int64_t a = 0, b = 0;     // the range taken (in flight)
    int64_t range_end = 0;    // the end of the dirty range it was taken from
    uint64_t generation = 0;  // the group's at the take
    int64_t marked_at = 0;
  };

  // Takes the newest due range of all groups into flight; false if none.
  bool TakeChunkLocked(int64_t now, Chunk* out) {
    Cq* best_cq = nullptr;
    Group* best_g = nullptr;
    std::string best_key;
    int64_t best_end = kMinTime;
    int64_t best_start = 0;
    int64_t best_range_end = 0;
    for (auto& [dbname, d] : dbs) {
      for (auto& [id, cqp] : d.cqs) {
        Cq* cq = cqp.get();
        if (cq->every > 0 && now < cq->next_run) continue;
        const int64_t horizon =
            std::chrono::duration_cast<std::chrono::nanoseconds>(options.refresh_delay).count();
        const int64_t cutoff = cq->WindowStart(now - horizon);  // windows ending at or before it are due
        for (auto& [key, g] : cq->groups) {
          if (g->retry_at > now) continue;
          for (auto it = g->dirty.rbegin(); it != g->dirty.rend(); ++it) {
            const int64_t end = std::min(it->second, cutoff);
            if (end <= it->first) continue;
            if (end > best_end) {
              best_end = end;
              best_start = it->first;
              best_range_end = it->second;
              best_cq = cq;
              best_g = g.get();
              best_key = key;
            }
            break;
          }
        }
      }
    }
    if (best_cq == nullptr) return false;
    RemoveRange(&best_g->dirty, best_start, best_end);
    AddRange(&best_g->inflight, best_start, best_end);
    out->cq_db = best_cq->database;
    out->cq_name = best_cq->name;
    out->group_key = best_key;
    out->a = best_start;
    out->b = best_end;
    out->range_end = best_range_end;
    out->generation = best_g->generation;
    out->marked_at = best_g->marked_at;
    if (best_g->dirty.empty()) best_g->marked_at = 0;
    return true;
  }

  // Ends a chunk: [keep_a, keep_b) goes back to dirty (not done yet).
  // Of the range not due yet, [c.b, c.range_end), only [future_a, future_b)
  // holds points: the rest is cleared unless the group was marked since the
  // take.
  void FinishChunk(const Chunk& c, int64_t keep_a, int64_t keep_b, bool ok, uint64_t windows,
                   int64_t future_a = 0, int64_t future_b = 0) {
    std::lock_guard<std::mutex> l(mu);
    Cq* cq = FindLocked(c.cq_db, c.cq_name);
    if (cq == nullptr) return;  // dropped meanwhile
    auto it = cq->groups.find(c.group_key);
    if (it == cq->groups.end()) return;
    Group* g = it->second.get();
    RemoveRange(&g->inflight, c.a, c.b);
    const int64_t now = options.clock();
    if (!ok) {
      MarkLocked(cq, g, c.a, c.b, c.marked_at);
      // Not again in this pass (nor for a while): a chunk that keeps failing
      // must not starve the others.
      g->retry_at =
          now +
          std::max<int64_t>(
              1, std::chrono::duration_cast<std::chrono::nanoseconds>(options.poll_interval).count() * 5);
      refresh_errors++;
      return;
    }
    if (c.range_end > c.b && g->generation == c.generation && (future_a > c.b || future_b < c.range_end)) {
      if (future_a >= future_b) {
        RemoveRange(&g->dirty, c.b, c.range_end);
      } else {
        RemoveRange(&g->dirty, c.b, future_a);
        RemoveRange(&g->dirty, future_b, c.range_end);
      }
      if (g->dirty.empty()) g->marked_at = 0;
    }
    MarkLocked(cq, g, keep_a, keep_b, c.marked_at);
    cq->changed = true;
    if (cq->every > 0) cq->next_run = now + cq->every;
    refreshes++;
    windows_refreshed += windows;
    if (lags.size() < 4096) {
      lags.push_back(0);
    }
    const int64_t horizon =
        std::chrono::duration_cast<std::chrono::nanoseconds>(options.refresh_delay).count();
    int64_t due =
        std::max(c.marked_at,
                 static_cast<int64_t>(std::min<__int128>(static_cast<__int128>(c.b) + horizon, kMaxTime)));
    lags[lag_next % lags.size()] = std::max<int64_t>(0, now - due);
    lag_next++;
  }

  // Where the group has points in [a, b) in `measurement` of `db` (source or
  // rollup), as [first, last]; false if none.
  static StatusOr<bool> Extent(DB& d, const std::string& db, const std::string& rp,
                               const std::string& measurement, const std::vector<TagMatcher>& matchers,
                               int64_t a, int64_t b, int64_t* first, int64_t* last) {
    bool any = false;
    for (bool from_end : {false, true}) {
      ScanRequest req;
      req.database = db;
      req.measurement = measurement;
      req.matchers = matchers;
      req.min_time = a;
      req.max_time = b - 1;
      req.limit_points = 1;
      req.limit_from_end = from_end;
      req.retention_policy = rp;
      Status s = d.Scan(req, [&](const SeriesData& sd) {
        for (const Column& c : sd.columns) {
          if (c.size() == 0) continue;
          const int64_t t = from_end ? c.times[c.size() - 1] : c.times[0];
          if (!any) {
            *first = *last = t;
            any = true;
          }
          *first = std::min(*first, t);
          *last = std::max(*last, t);
        }
        return absl::OkStatus();
      });
      if (absl::IsNotFound(s)) return false;  // no such database
      RETURN_IF_ERROR(s);
    }
    return any;
  }

  // Matchers that select exactly the group's series of `measurement`: its
  // tags, and "" for every other tag key the measurement has.
  static StatusOr<std::vector<TagMatcher>> ExactMatchers(DB& d, const std::string& db, const std::string& m,
                                                         const Group& g) {
    std::vector<TagMatcher> out;
    for (const auto& [k, v] : g.tags) out.push_back({k, TagOp::kEqual, v});
    auto keys = d.TagKeys(db, m);
    if (absl::IsNotFound(keys.status())) return out;
    RETURN_IF_ERROR(keys.status());
    for (const auto& k : *keys) {
      bool listed = false;
      for (const auto& [gk, gv] : g.tags) listed = listed || gk == k;
      if (!listed) out.push_back({k, TagOp::kEqual, ""});
    }
    return out;
  }

  // The source measurements of `cq` that the group reads.
  static StatusOr<std::vector<std::string>> SourceMeasurements(DB& d, const Cq& cq, const Group& g) {
    if (!g.measurement.empty()) return std::vector<std::string>{g.measurement};
    std::vector<std::string> out = cq.source_names;
    if (!cq.source_regexes.empty()) {
      auto all = d.Measurements(cq.source_db);
      if (absl::IsNotFound(all.status())) return out;
      RETURN_IF_ERROR(all.status());
      for (const auto& m : *all) {
        if (std::find(out.begin(), out.end(), m) == out.end() && cq.ReadsMeasurement(m)) out.push_back(m);
      }
    }
    return out;
  }

  // Recomputes the group's rollup in [a, b): the CQ's SELECT restricted to
  // the group and the range, its rows written over the old rollup points;
  // if an old rollup point (or field) has no new value, the group's rollup
  // in the range is deleted first. Returns the windows recomputed.
  StatusOr<uint64_t> Recompute(DB& d, const Cq& cq, const Group& g, int64_t a, int64_t b) {
    const std::string target_m = cq.target_name.empty() ? g.measurement : cq.target_name;
    ParseOptions po;
    po.validate = false;
    ASSIGN_OR_RETURN(auto parsed, ParseQuery(cq.select_text, po));
    SelectStatement& sel = *parsed[0].As<SelectStatement>();
    if (!g.measurement.empty()) {
      sel.sources.clear();
      Source src;
      Measurement m;
      m.database = cq.source_db;
      // The policy the CQ reads, not the default (a :MEASUREMENT target in
      // the default policy would otherwise be read in place of the source).
      m.retention_policy = cq.source_rp;
      m.name = g.measurement;
      src.node = std::move(m);
      sel.sources.push_back(std::move(src));
    }
    // Empty windows get no rollup point: with the default fill(null) an
    // aggregate such as count() would give 0 rows for windows without data
    // that happen to lie in the refreshed range, making the rollup depend on
    // how the range was chunked. fill(N|previous|linear) stays as written.
    if (!sel.fill.specified || sel.fill.mode == FillMode::kNull) {
      sel.fill.mode = FillMode::kNone;
      sel.fill.specified = true;
    }
    AndInto(&sel.condition, TimeCmp(BinaryOp::kGte, a));
    AndInto(&sel.condition, TimeCmp(BinaryOp::kLte, b - 1));
    for (const auto& [k, v] : g.tags) AndInto(&sel.condition, TagEq(k, v));
    if (cq.wildcard) {
      // Exactly the series: "" for the tag keys it lacks.
      ASSIGN_OR_RETURN(auto sources, SourceMeasurements(d, cq, g));
      std::vector<std::string> seen;
      for (const auto& m : sources) {
        auto keys = d.TagKeys(cq.source_db, m);
        if (!keys.ok()) continue;
        for (const auto& k : *keys) {
          bool listed = std::find(seen.begin(), seen.end(), k) != seen.end();
          for (const auto& [gk, gv] : g.tags) listed = listed || gk == k;
          if (!listed) {
            seen.push_back(k);
            AndInto(&sel.condition, TagEq(k, ""));
          }
        }
      }
    }
    Executor exec(&d);
    QueryOptions qo;
    qo.database = cq.database;
    qo.now = options.clock();
    std::vector<Statement> statements;
    statements.push_back(std::move(parsed[0]));
    if (getenv("CQ_DEBUG")) LogInfo("refresh ", String(statements[0]));
    auto results = exec.Execute(statements, qo);
    if (results.empty()) return absl::InternalError("refresh query gave no result");
    if (!results[0].error.empty()) return absl::InternalError(results[0].error);
    // Only the group's own rows (the conditions may admit other series).
    std::vector<ResultSeries> mine;
    for (auto& rs : results[0].series) {
      std::vector<std::pair<std::string, std::string>> tags;
      for (const auto& [k, v] : rs.tags)
        if (!v.empty()) tags.emplace_back(k, v);
      std::vector<std::pair<std::string, std::string>> want;
      for (const auto& [k, v] : g.tags)
        if (!v.empty()) want.emplace_back(k, v);
      if (tags == want && (g.measurement.empty() || rs.name == g.measurement)) mine.push_back(std::move(rs));
    }
    Measurement target;
    target.name = target_m;
    std::vector<Point> points;
    exec::AppendIntoPoints(mine, target, &points);

    // The old rollup: does any of its (time, field) lose its value?
    ASSIGN_OR_RETURN(auto matchers, ExactMatchers(d, cq.target_db, target_m, g));
    std::map<int64_t, std::vector<std::string>> fresh;
    for (const auto& p : points)
      for (const auto& [f, v] : p.fields) fresh[p.timestamp].push_back(f);
    bool stale = false;
    ScanRequest req;
    req.database = cq.target_db;
    req.measurement = target_m;
    req.matchers = matchers;
    req.min_time = a;
    req.max_time = b - 1;
    req.retention_policy = cq.target_rp;
    Status s = d.Scan(req, [&](const SeriesData& sd) {
      for (size_t c = 0; c < sd.columns.size() && !stale; c++) {
        const Column& col = sd.columns[c];
        for (size_t i = 0; i < col.size(); i++) {
          auto it = fresh.find(col.times[i]);
          if (it == fresh.end() ||
              std::find(it->second.begin(), it->second.end(), sd.field_names[c]) == it->second.end()) {
            stale = true;
            break;
          }
        }
      }
      return absl::OkStatus();
    });
    if (!s.ok() && !absl::IsNotFound(s)) return s;
    if (stale) {
      DeleteRequest del;
      del.database = cq.target_db;
      del.retention_policy = cq.target_rp;  // never the raw points of another policy
      del.measurement = target_m;
      del.matchers = matchers;
      del.min_time = a;
      del.max_time = b - 1;
      RETURN_IF_ERROR(d.Delete(del));
    }
    if (!points.empty()) {
      WriteOptions wo;
      wo.retention_policy = cq.target_rp;
      ASSIGN_OR_RETURN(WriteResult wr, d.WritePoints(cq.target_db, points, wo));
      if (!wr.errors.empty()) {
        LogWarning("continuous query ", cq.name, ": ", wr.errors.size(),
                   " rollup points rejected, e.g.: ", wr.errors.front().reason);
      }
    }
    return static_cast<uint64_t>((static_cast<__int128>(b) - a) / cq.interval);
  }

  // Processes one chunk taken by TakeChunkLocked.
  void RunChunk(DB& d, const Chunk& c) {
    std::unique_ptr<Cq> copy;
    std::unique_ptr<Group> group;
    {
      std::lock_guard<std::mutex> l(mu);
      Cq* cq = FindLocked(c.cq_db, c.cq_name);
      if (cq == nullptr) return;
      auto it = cq->groups.find(c.group_key);
      if (it == cq->groups.end()) return;
      // The definition fields are immutable; copy what Recompute reads.
      copy = std::make_unique<Cq>();
      copy->database = cq->database;
      copy->name = cq->name;
      copy->select_text = cq->select_text;
      copy->interval = cq->interval;
      copy->offset = cq->offset;
      copy->wildcard = cq->wildcard;
      copy->group_tags = cq->group_tags;
      copy->source_db = cq->source_db;
      copy->source_names = cq->source_names;
      copy->source_regexes = cq->source_regexes;
      copy->source_rp = cq->source_rp;
      copy->target_db = cq->target_db;
      copy->target_rp = cq->target_rp;
      copy->target_name = cq->target_name;
      group = std::make_unique<Group>();
      group->measurement = it->second->measurement;
      group->tags = it->second->tags;
    }
    const int64_t k = options.max_windows_per_refresh;
    int64_t a = c.a, b = c.b;
    // Where the group has points, raw or rolled up, in [ea, eb).
    auto extent = [&](int64_t ea, int64_t eb, int64_t* lo, int64_t* hi) -> StatusOr<bool> {
      int64_t f, l;
      bool any = false;
      ASSIGN_OR_RETURN(auto sources, SourceMeasurements(d, *copy, *group));
      for (const auto& m : sources) {
        // Source series of a GROUP BY tag list have more tags than the
        // group; with GROUP BY * the group is exactly one series.
        std::vector<TagMatcher> matchers;
        if (copy->wildcard) {
          ASSIGN_OR_RETURN(matchers, ExactMatchers(d, copy->source_db, m, *group));
        } else {
          for (const auto& [tk, tv] : group->tags) matchers.push_back({tk, TagOp::kEqual, tv});
        }
        ASSIGN_OR_RETURN(bool has, Extent(d, copy->source_db, copy->source_rp, m, matchers, ea, eb, &f, &l));
        if (has) {
          any = true;
          *lo = std::min(*lo, f);
          *hi = std::max(*hi, l);
        }
      }
      const std::string target_m = copy->target_name.empty() ? group->measurement : copy->target_name;
      ASSIGN_OR_RETURN(auto tm, ExactMatchers(d, copy->target_db, target_m, *group));
      ASSIGN_OR_RETURN(bool has, Extent(d, copy->target_db, copy->target_rp, target_m, tm, ea, eb, &f, &l));
      if (has) {
        any = true;
        *lo = std::min(*lo, f);
        *hi = std::max(*hi, l);
      }
      return any;
    };
    auto run = [&]() -> StatusOr<std::pair<int64_t, int64_t>> {
      // A wide range (a delete of all time, say) shrinks to where the group
      // has points, raw or rolled up: elsewhere there is nothing to do.
      if ((static_cast<__int128>(b) - a) / copy->interval > k) {
        int64_t lo = kMaxTime, hi = kMinTime;
        ASSIGN_OR_RETURN(bool any, extent(a, b, &lo, &hi));
        if (!any) return std::pair<int64_t, int64_t>{0, 0};
        a = std::max(a, copy->WindowStart(lo));
        b = std::min(b, copy->WindowEnd(hi));
      }
      const int64_t start = static_cast<int64_t>(
          std::max<__int128>(a, static_cast<__int128>(b) - static_cast<__int128>(k) * copy->interval));
      ASSIGN_OR_RETURN(uint64_t windows, Recompute(d, *copy, *group, start, b));
      (void)windows;
      return std::pair<int64_t, int64_t>{a, start};  // what is left
    };
    auto left = run();
    if (!left.ok()) {
      uint64_t unlogged = 0;
      bool log = false;
      {
        std::lock_guard<std::mutex> l(mu);
        if (Cq* cq = FindLocked(c.cq_db, c.cq_name)) {
          const int64_t now = options.clock();
          if (!cq->warned || now - cq->warned_at >= kFailureLogInterval) {
            log = true;
            unlogged = cq->unlogged_failures;
            cq->warned = true;
            cq->warned_at = now;
            cq->unlogged_failures = 0;
          } else {
            cq->unlogged_failures++;
          }
        }
      }
      if (log) {
        LogWarning("continuous query ", c.cq_name, " on ", c.cq_db,
                   ": refresh failed (retried): ", left.status().ToString(),
                   unlogged > 0 ? absl::StrCat(" (", unlogged, " more failures not logged)") : "");
      }
      FinishChunk(c, 0, 0, false, 0);
      return;
    }
    const uint64_t windows = static_cast<uint64_t>((static_cast<__int128>(b) - left->second) /
                                                   std::max<int64_t>(copy->interval, 1));
    // The part of the dirty range not due yet shrinks, as a wide due range
    // does, to the windows holding points, raw or rolled up (a later write
    // marks its own windows). Kept whole, a delete without an upper time
    // bound left every group it touched dirty up to the end of time,
    // refreshed one sliver per poll for ever.
    int64_t future_a = c.b, future_b = c.range_end;
    // (One window past the due ones is the current window: the common case,
    // not worth the scans.)
    if ((static_cast<__int128>(c.range_end) - c.b) / copy->interval > 1) {
      int64_t lo = kMaxTime, hi = kMinTime;
      auto any = extent(c.b, c.range_end, &lo, &hi);
      if (any.ok() && !*any) {
        future_b = future_a;
      } else if (any.ok()) {
        future_a = std::max(future_a, copy->WindowStart(lo));
        future_b = std::min(future_b, copy->WindowEnd(hi));
      }
    }
    FinishChunk(c, left->first, left->second, true, windows, future_a, future_b);
  }
};

ContinuousQueries::ContinuousQueries(ContinuousQueryOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

ContinuousQueries::~ContinuousQueries() { Stop(); }

Status ContinuousQueries::Attach(DB* db) {
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    RETURN_IF_ERROR(impl_->LoadLocked(*db));
    impl_->db = db;
  }
  if (impl_->options.background && !impl_->thread.joinable()) {
    {
      std::lock_guard<std::mutex> l(impl_->stop_mu);
      impl_->stop = false;
    }
    impl_->thread = std::thread([this] {
      Impl& im = *impl_;
      // Ingest first: on a busy machine the refresher takes the CPU that
      // writers leave (nice 10 for this thread only; Linux threads have
      // their own nice value). Best effort: failure changes nothing else.
      (void)setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 10);
      for (;;) {
        {
          std::unique_lock<std::mutex> l(im.stop_mu);
          im.stop_cv.wait_for(l, im.options.poll_interval, [&] { return im.stop; });
          if (im.stop) return;
        }
        auto r = RefreshNow();
        if (!r.ok()) LogWarning("continuous queries: ", r.status().ToString());
      }
    });
  }
  return absl::OkStatus();
}

void ContinuousQueries::Stop() {
  {
    std::lock_guard<std::mutex> l(impl_->stop_mu);
    impl_->stop = true;
  }
  impl_->stop_cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Status ContinuousQueries::Create(const CreateContinuousQueryStatement& statement) {
  Impl& im = *impl_;
  DB* d = im.db;
  if (d == nullptr) return absl::FailedPreconditionError("continuous queries are not enabled");
  // influxd's normalisation: the CQ's database and the default retention
  // policy wherever a statement names none; every database must exist.
  ParseOptions po;
  po.validate = false;
  auto dbs = d->ListDatabases();
  auto exists = [&](const std::string& name) {
    for (const auto& x : dbs)
      if (x.name == name) return true;
    return false;
  };
  if (!exists(statement.database))
    return absl::NotFoundError(absl::StrCat("database not found: ", statement.database));
  // A copy of the statement to normalise.
  std::string text;
  {
    Statement st;
    CreateContinuousQueryStatement copy;
    copy.name = statement.name;
    copy.database = statement.database;
    copy.resample_every_ns = statement.resample_every_ns;
    copy.resample_for_ns = statement.resample_for_ns;
    ASSIGN_OR_RETURN(auto sel, ParseQuery(String(statement.select), po));
    copy.select = std::move(*sel[0].As<SelectStatement>());
    auto fix = [&](Measurement* m) -> Status {
      if (m->database.empty()) m->database = statement.database;
      if (!exists(m->database)) return absl::NotFoundError(absl::StrCat("database not found: ", m->database));
      ASSIGN_OR_RETURN(auto policies, d->ListRetentionPolicies(m->database));
      if (m->retention_policy.empty()) {
        for (const auto& rp : policies)
          if (rp.is_default) m->retention_policy = rp.name;
      }
      for (const auto& rp : policies)
        if (!m->retention_policy.empty() && rp.name == m->retention_policy) return absl::OkStatus();
      return absl::NotFoundError(
          absl::StrCat("retention policy not found: ", m->database, ".", m->retention_policy));
    };
    for (auto& src : copy.select.sources) {
      if (auto* m = std::get_if<Measurement>(&src.node)) RETURN_IF_ERROR(fix(m));
    }
    if (copy.select.into.has_value()) RETURN_IF_ERROR(fix(&*copy.select.into));
    st.node = std::move(copy);
    text = String(st);
    ASSIGN_OR_RETURN(auto cq, Impl::Compile(*st.As<CreateContinuousQueryStatement>(), text));
    std::lock_guard<std::mutex> pl(im.persist_mu);
    {
      std::lock_guard<std::mutex> l(im.mu);
      if (Cq* old = im.FindLocked(statement.database, statement.name)) {
        if (absl::AsciiStrToLower(old->text) == absl::AsciiStrToLower(text)) return absl::OkStatus();
        return absl::AlreadyExistsError("continuous query already exists");
      }
    }
    uint64_t seq;
    {
      std::lock_guard<std::mutex> l(im.mu);
      seq = im.next_seq++;
    }
    RETURN_IF_ERROR(d->PutAppMeta(MetaKey(kDefPrefix, statement.database, statement.name),
                                  absl::StrCat(seq, "\n", text)));
    std::lock_guard<std::mutex> l(im.mu);
    cq->seq = seq;
    im.InstallLocked(std::move(cq));
  }
  return absl::OkStatus();
}

Status ContinuousQueries::Drop(std::string_view database, std::string_view name) {
  Impl& im = *impl_;
  DB* d = im.db;
  if (d == nullptr) return absl::FailedPreconditionError("continuous queries are not enabled");
  std::lock_guard<std::mutex> pl(im.persist_mu);
  {
    std::lock_guard<std::mutex> l(im.mu);
    if (im.FindLocked(database, name) == nullptr) {
      // As influxd; a definition skipped at load (no longer supported) is
      // not in memory but still stored: remove it.
      RETURN_IF_ERROR(d->DeleteAppMeta(MetaKey(kDefPrefix, database, name)));
      return d->DeleteAppMeta(MetaKey(kDirtyPrefix, database, name));
    }
  }
  RETURN_IF_ERROR(d->DeleteAppMeta(MetaKey(kDefPrefix, database, name)));
  RETURN_IF_ERROR(d->DeleteAppMeta(MetaKey(kDirtyPrefix, database, name)));
  std::lock_guard<std::mutex> l(im.mu);
  std::string id = absl::StrCat(ToAbsl(database), std::string(1, '\0'), ToAbsl(name));
  for (auto& [db, state] : im.dbs) {
    if (state.cqs.erase(id) > 0) state.series_groups.clear();
  }
  return absl::OkStatus();
}

StatusOr<std::vector<ResultSeries>> ContinuousQueries::Show() {
  Impl& im = *impl_;
  DB* d = im.db;
  if (d == nullptr) return absl::FailedPreconditionError("continuous queries are not enabled");
  std::vector<ResultSeries> out;
  std::lock_guard<std::mutex> l(im.mu);
  for (const auto& dbinfo : d->ListDatabases()) {
    ResultSeries rs;
    rs.name = dbinfo.name;
    rs.columns = {"name", "query"};
    std::vector<const Cq*> mine;
    for (const auto& [src, state] : im.dbs)
      for (const auto& [id, cq] : state.cqs)
        if (cq->database == dbinfo.name) mine.push_back(cq.get());
    std::sort(mine.begin(), mine.end(), [](const Cq* a, const Cq* b) { return a->seq < b->seq; });
    for (const Cq* cq : mine) rs.values.push_back({Value(cq->name), Value(cq->text)});
    out.push_back(std::move(rs));
  }
  return out;
}

StatusOr<uint64_t> ContinuousQueries::RefreshNow() {
  Impl& im = *impl_;
  DB* d = im.db;
  if (d == nullptr) return absl::FailedPreconditionError("continuous queries are not attached");
  std::lock_guard<std::mutex> rl(im.refresh_mu);
  uint64_t chunks = 0;
  // What is due is decided once per pass: with the clock read per chunk, a
  // dirty range running past now (a future point, a delete without an upper
  // bound) had a new sliver due after every chunk of a GROUP BY time(1ns)
  // query, so the pass never ended (100k chunks/s for ever) and starved the
  // older windows of every other query.
  const int64_t now = im.options.clock();
  for (;;) {
    {
      std::lock_guard<std::mutex> l(im.stop_mu);
      if (im.stop && im.options.background) break;
    }
    Impl::Chunk c;
    {
      std::lock_guard<std::mutex> l(im.mu);
      if (!im.TakeChunkLocked(now, &c)) break;
    }
    im.RunChunk(*d, c);
    chunks++;
  }
  {
    // No chunk is in flight (refresh_mu), and no delete between its two
    // callbacks (its marks name groups by key): clean groups can go. The
    // series -> groups cache points at groups, so it goes too (rebuilt on
    // the next writes), hence only every kPruneInterval.
    std::lock_guard<std::mutex> l(im.mu);
    if (!im.pruned_once) {
      im.pruned_once = true;
      im.last_prune = now;
    } else if (now - im.last_prune >= kPruneInterval && im.delete_marks.empty()) {
      im.last_prune = now;
      for (auto& [dbname, state] : im.dbs) {
        bool erased = false;
        for (auto& [id, cq] : state.cqs) {
          erased |= std::erase_if(cq->groups, [](const auto& kv) {
                      return kv.second->dirty.empty() && kv.second->inflight.empty();
                    }) > 0;
        }
        if (erased) state.series_groups.clear();
      }
    }
  }
  return chunks;
}

ContinuousQueryStats ContinuousQueries::Stats() {
  Impl& im = *impl_;
  std::lock_guard<std::mutex> l(im.mu);
  ContinuousQueryStats st;
  for (const auto& [db, state] : im.dbs) {
    st.queries += state.cqs.size();
    for (const auto& [id, cq] : state.cqs) st.groups += cq->groups.size();
    for (const auto& [id, cq] : state.cqs)
      for (const auto& [key, g] : cq->groups)
        for (const auto& [a, b] : g->dirty)
          st.pending_windows += static_cast<uint64_t>(
              std::min<__int128>((static_cast<__int128>(b) - a) / cq->interval, 1'000'000'000));
  }
  st.refreshes = im.refreshes;
  st.windows_refreshed = im.windows_refreshed;
  st.refresh_errors = im.refresh_errors;
  std::vector<int64_t> lags = im.lags;
  if (!lags.empty()) {
    std::sort(lags.begin(), lags.end());
    st.lag_p50_ns = lags[lags.size() / 2];
    st.lag_p99_ns = lags[std::min(lags.size() - 1, lags.size() * 99 / 100)];
    st.lag_max_ns = lags.back();
  }
  return st;
}

bool ContinuousQueries::Watches(std::string_view database) {
  std::lock_guard<std::mutex> l(impl_->mu);
  if (!impl_->loaded) return true;  // replay: kept until the definitions are known
  return impl_->dbs.find(database) != impl_->dbs.end();
}

void ContinuousQueries::OnWrite(const WriteChange& change) {
  Impl& im = *impl_;
  std::lock_guard<std::mutex> l(im.mu);
  if (!im.loaded) {
    for (size_t i = 0; i < change.count; i++) {
      const ChangedSeries& cs = change.series[i];
      auto [it, fresh] = im.pending.try_emplace(cs.series_id);
      Impl::PendingSeries& p = it->second;
      if (fresh) {
        p.database.assign(change.database);
        p.retention_policy.assign(change.retention_policy);
        if (!change.lookup->Describe(cs.series_id, &p.key)) {
          im.pending.erase(it);
          continue;
        }
      }
      if (p.ranges.size() >= 64) {
        // Bounded: merge into one range (over-invalidation, never under).
        for (const auto& [a, b] : p.ranges) {
          p.ranges[0].first = std::min(p.ranges[0].first, a);
          p.ranges[0].second = std::max(p.ranges[0].second, b);
        }
        p.ranges.resize(1);
      }
      p.ranges.emplace_back(cs.min_time, cs.max_time);
    }
    return;
  }
  auto dit = im.dbs.find(change.database);
  if (dit == im.dbs.end()) return;
  Impl::Database& d = dit->second;
  const int64_t now = im.options.clock();
  SeriesKey key;
  for (size_t i = 0; i < change.count; i++) {
    const ChangedSeries& cs = change.series[i];
    auto it = d.series_groups.find(cs.series_id);
    if (it == d.series_groups.end()) {
      std::vector<Group*> groups;
      if (change.lookup->Describe(cs.series_id, &key)) {
        for (auto& [id, cq] : d.cqs) groups.push_back(im.GroupOfLocked(cq.get(), key));
      }
      if (d.series_groups.size() > (1u << 22)) d.series_groups.clear();  // bounded memory
      it = d.series_groups.emplace(cs.series_id, std::move(groups)).first;
    }
    size_t k = 0;
    for (auto& [id, cq] : d.cqs) {
      if (k >= it->second.size()) break;
      Group* g = it->second[k++];
      // Only writes to the policy the query reads: a rollup into another
      // policy of the same database and measurement must not dirty itself.
      if (g != nullptr && cq->source_rp == change.retention_policy)
        im.MarkLocked(cq.get(), g, cq->WindowStart(cs.min_time), cq->WindowEnd(cs.max_time), now);
    }
  }
}

Status ContinuousQueries::OnDelete(DB& db, const DeleteChange& change) {
  Impl& im = *impl_;
  if (change.kind == DeleteChange::Kind::kDropDatabase) {
    // influxd drops a database's continuous queries with it.
    std::vector<std::string> names;
    {
      std::lock_guard<std::mutex> l(im.mu);
      RETURN_IF_ERROR(im.LoadLocked(db));
      for (const auto& [src, state] : im.dbs)
        for (const auto& [id, cq] : state.cqs)
          if (cq->database == change.database) names.push_back(cq->name);
    }
    if (im.db != nullptr) {
      for (const auto& n : names) RETURN_IF_ERROR(Drop(change.database, n));
    }
  }
  {
    std::lock_guard<std::mutex> l(im.mu);
    RETURN_IF_ERROR(im.LoadLocked(db));
    if (im.dbs.find(change.database) == im.dbs.end()) return absl::OkStatus();
  }
  // The series the delete covers, read before it applies (they still exist).
  static const std::vector<TagMatcher> kNone;
  const std::vector<TagMatcher>& matchers = change.matchers != nullptr ? *change.matchers : kNone;
  auto series = db.Series(change.database, change.measurement, matchers);
  if (absl::IsNotFound(series.status())) return absl::OkStatus();
  RETURN_IF_ERROR(series.status());
  {
    std::lock_guard<std::mutex> l(im.mu);
    auto dit = im.dbs.find(change.database);
    if (dit == im.dbs.end()) return absl::OkStatus();
    const int64_t now = im.options.clock();
    im.delete_marks.clear();  // of an earlier delete that failed after OnDelete
    for (auto& [id, cq] : dit->second.cqs) {
      // A delete scoped to one policy (a rollup's own clearing) touches only
      // the queries reading that policy.
      if (!change.retention_policy.empty() && change.retention_policy != cq->source_rp) continue;
      for (const SeriesKey& s : *series) {
        Group* g = im.GroupOfLocked(cq.get(), s);
        if (g == nullptr) continue;
        im.MarkLocked(cq.get(), g, cq->WindowStart(change.min_time), cq->WindowEnd(change.max_time), now);
        cq->changed = true;
        im.delete_marks.push_back({cq->database, cq->name, GroupKey(g->measurement, g->tags),
                                   cq->WindowStart(change.min_time), cq->WindowEnd(change.max_time)});
      }
    }
  }
  // Deletes are not in the WAL: their marks are stored before they apply.
  return im.PersistMarks(db, false);
}

void ContinuousQueries::OnDeleteApplied(const DeleteChange& change) {
  (void)change;
  Impl& im = *impl_;
  std::lock_guard<std::mutex> l(im.mu);
  const int64_t now = im.options.clock();
  for (const auto& m : im.delete_marks) {
    Cq* cq = im.FindLocked(m.cq_db, m.cq_name);
    if (cq == nullptr) continue;
    auto it = cq->groups.find(m.group_key);
    if (it != cq->groups.end()) im.MarkLocked(cq, it->second.get(), m.a, m.b, now);
  }
  im.delete_marks.clear();
}

Status ContinuousQueries::Checkpoint(DB& db) {
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    RETURN_IF_ERROR(impl_->LoadLocked(db));
  }
  return impl_->PersistMarks(db, false);
}

}  // namespace m2mdb::query
