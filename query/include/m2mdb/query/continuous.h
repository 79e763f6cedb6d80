// m2mdb/query/continuous.h — continuous queries with per-series
// invalidation (docs/architecture.md, "Continuous queries").
//
// A ContinuousQueries is the DB's change listener (Options::change_listener):
// every write, late write, overwrite, delete or drop marks the GROUP BY
// time windows it touches dirty, per CQ and per group of the CQ's GROUP BY
// tags (a series, with GROUP BY *), durably with the write. A background
// refresher recomputes dirty windows once they are closed, newest first, in
// bounded chunks, and overwrites the rollup points; a window whose rollup
// lost points (deleted raw data) has its old rollup point deleted first.
//
//   m2mdb::query::ContinuousQueries cqs;
//   m2mdb::Options options;
//   options.change_listener = &cqs;
//   auto db = m2mdb::DB::Open(options);
//   cqs.Attach(db->get());                       // loads definitions, starts the refresher
//   m2mdb::query::Executor exec(db->get(), &cqs);  // CREATE/SHOW/DROP CONTINUOUS QUERY
//   ...
//   cqs.Stop();                                  // before the DB closes
//
// Thread-safe. Definitions and dirty marks live in the DB's app metadata
// under "cq/" (docs/format/index.md).
#ifndef M2MDB_QUERY_CONTINUOUS_H_
#define M2MDB_QUERY_CONTINUOUS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "m2mdb/change_listener.h"
#include "m2mdb/db.h"
#include "m2mdb/query/ast.h"
#include "m2mdb/query/executor.h"

namespace m2mdb::query {

struct ContinuousQueryOptions {
  // How often the refresher looks for due windows. Default: 1 s.
  std::chrono::milliseconds poll_interval{1000};
  // The closed-window rule: a window [s, e) is refreshed once e + delay <=
  // now, so points that arrive up to `delay` late are in its first
  // computation. Later points mark it dirty again. Default: 0.
  std::chrono::milliseconds refresh_delay{0};
  // GROUP BY time windows per refresh query at most (one chunk).
  // Default: 1000.
  int64_t max_windows_per_refresh = 1000;
  // Run the refresher thread (tests call RefreshNow instead). Default: true.
  bool background = true;
  // The clock in ns since the epoch; null = the system clock.
  std::function<int64_t()> clock = nullptr;
};

struct ContinuousQueryStats {
  uint64_t queries = 0;          // defined continuous queries
  uint64_t pending_windows = 0;  // dirty windows not yet refreshed (approximate for wide ranges)
  uint64_t groups = 0;           // groups (rollup series) held in memory
  uint64_t refreshes = 0;        // chunks recomputed since Attach
  uint64_t windows_refreshed = 0;
  uint64_t refresh_errors = 0;
  // Refresh lag of the recent chunks: from the later of the window's close
  // (+ refresh_delay) and the first write that dirtied it, to its rollup
  // being written. ns.
  int64_t lag_p50_ns = 0;
  int64_t lag_p99_ns = 0;
  int64_t lag_max_ns = 0;
};

class ContinuousQueries final : public ChangeListener {
 public:
  explicit ContinuousQueries(ContinuousQueryOptions options = {});
  ~ContinuousQueries() override;  // Stop()s
  ContinuousQueries(const ContinuousQueries&) = delete;
  ContinuousQueries& operator=(const ContinuousQueries&) = delete;

  // After DB::Open with Options::change_listener = this: loads definitions
  // and persisted marks, takes the marks of the replayed WAL and starts the
  // refresher (ContinuousQueryOptions::background).
  Status Attach(DB* db);
  // Stops the refresher (waits for a running chunk). Call before DB::Close.
  void Stop();

  // The statements (the Executor calls these). Create normalises the
  // statement as influxd does (database and retention policy filled in)
  // and stores it; creating an existing name with the same statement is a
  // no-op, with another one "continuous query already exists". Drop of an
  // unknown name succeeds, as in influxd.
  Status Create(const CreateContinuousQueryStatement& statement);
  Status Drop(std::string_view database, std::string_view name);
  // One series per database (name = database, columns name, query), as
  // influxd's SHOW CONTINUOUS QUERIES.
  StatusOr<std::vector<ResultSeries>> Show();

  // Recomputes every window that is due now; returns the chunks refreshed.
  // The refresher thread does the same every poll_interval.
  StatusOr<uint64_t> RefreshNow();
  ContinuousQueryStats Stats();

  // ChangeListener.
  bool Watches(std::string_view database) override;
  void OnWrite(const WriteChange& change) override;
  Status OnDelete(DB& db, const DeleteChange& change) override;
  void OnDeleteApplied(const DeleteChange& change) override;
  Status Checkpoint(DB& db) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace m2mdb::query

#endif  // M2MDB_QUERY_CONTINUOUS_H_
