// Verification beyond the peers (docs/edge.md, "Verifying a destination"):
// per measurement, series, field and hour, the point counts of a
// subscription's source and destination over a time range
// (`SELECT count(*) ... GROUP BY time(1h), * fill(none)` on both sides); with
// resend, the series-hours that differ are read from the source and written
// to the destination again (same series + time overwrite, so a resend only
// fills gaps).
//
// One implementation for VERIFY SUBSCRIPTION, the periodic VERIFY EVERY of a
// subscription (both run by SubscriptionManager) and `m2mdb subscription
// verify` (which sends VERIFY SUBSCRIPTION).
//
// Thread-safety: a VerifySide is used by one thread at a time; Verify may run
// on any thread; VerifyRecord and PeriodicVerifier are thread-safe.
#ifndef M2MDB_SERVER_SUBSCRIPTIONS_VERIFY_H_
#define M2MDB_SERVER_SUBSCRIPTIONS_VERIFY_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "m2mdb/db.h"
#include "m2mdb/query/executor.h"
#include "m2mdb/status.h"

namespace m2mdb::server {

inline constexpr int64_t kVerifyHourNs = 3600LL * 1000000000LL;

// Where counts and points come from, and where a resend goes.
class VerifySide {
 public:
  virtual ~VerifySide() = default;
  // The series of one InfluxQL statement run against `database` (times as
  // int64 ns), or its error.
  virtual StatusOr<std::vector<query::ResultSeries>> Query(const std::string& database,
                                                           const std::string& q) = 0;
  // Writes `lines` (line protocol, ns timestamps) to database.rp.
  virtual Status Write(const std::string& database, const std::string& retention_policy,
                       std::string_view lines) = 0;
};

// This server's engine, through the query executor and DB writes (no HTTP).
// `db` must outlive the side.
std::unique_ptr<VerifySide> LocalVerifySide(DB* db);
// An InfluxDB 1.x API (/query, /write: m2mdb, influxd): `url` is
// http[s]://[user:pass@]host:port as given to CREATE SUBSCRIPTION.
// InvalidArgument for another URL.
StatusOr<std::unique_ptr<VerifySide>> HttpVerifySide(const std::string& url);

struct VerifyRequest {
  std::string database;
  std::string retention_policy;  // named on both sides (the subscription's)
  // [start, end) in ns; start is rounded down to the hour.
  int64_t start_ns = 0, end_ns = 0;
  bool resend = false;
  // Polled between steps; true stops the run with the error "cancelled".
  std::function<bool()> cancelled = nullptr;
};

// One field of one series-hour whose counts differ.
struct VerifyDifference {
  std::string measurement;
  std::vector<std::pair<std::string, std::string>> tags;  // sorted by key
  std::string field;
  int64_t hour_ns = 0;
  int64_t source = 0, destination = 0;
};

struct VerifyReport {
  std::string destination;  // as shown (password masked)
  int64_t at_ns = 0;        // when the run started
  int64_t start_ns = 0, end_ns = 0;
  uint64_t hours_checked = 0;    // series-hours holding points at the source
  uint64_t hours_differing = 0;  // of those, where a field's count differs
  // Per differing series-hour, the largest shortfall of a field at the
  // destination, summed.
  uint64_t points_missing = 0;
  uint64_t hours_resent = 0;
  std::vector<VerifyDifference> differences;
  std::string error;  // non-empty: the run failed (what it found so far is kept)
};

// Compares `source` with `destination` over the request's range and, with
// `resend`, writes the differing series-hours again. Never fails: an error
// ends the run and is in the report.
VerifyReport Verify(VerifySide* source, VerifySide* destination, const VerifyRequest& request);

// The results of a subscription's verifications, per destination label, for
// SHOW SUBSCRIPTIONS and /metrics.
class VerifyRecord {
 public:
  struct Entry {
    VerifyReport last;  // without its differences
    uint64_t runs = 0, failures = 0, hours_resent = 0;
  };
  void Add(const std::string& label, VerifyReport report);
  std::map<std::string, Entry> Snapshot() const;
  // Held by a run: a periodic and a manual verification of one subscription
  // take turns instead of resending the same hours twice.
  std::mutex& run_mu() { return run_mu_; }

 private:
  std::mutex run_mu_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;  // guarded by mu_
};

// Calls `run` every `every_seconds` (first one interval after Start) on its
// own thread until Stop; `run` gets a function telling it whether Stop was
// called, to give up early.
class PeriodicVerifier {
 public:
  PeriodicVerifier(int64_t every_seconds, std::function<void(const std::function<bool()>& stopping)> run);
  ~PeriodicVerifier();
  void Start();
  // Waits for a run in progress to give up (its HTTP request in flight
  // included).
  void Stop();

 private:
  const int64_t every_seconds_;
  const std::function<void(const std::function<bool()>&)> run_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_SUBSCRIPTIONS_VERIFY_H_
