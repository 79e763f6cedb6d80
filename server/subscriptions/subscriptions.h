// Durable subscriptions (docs/edge.md): every acknowledged write to db.rp is
// delivered to the subscription's destinations (InfluxDB 1.x /write
// endpoints) at least once, in WAL order, through outages and restarts.
//
// The WAL is the queue: each lane (one per destination with ALL, one per
// subscription with ANY) owns an engine WAL cursor (DB::SetWalCursor), reads
// the writes after it (DB::ReadWalChanges), posts them as gzip batches of at
// most 5000 lines or ~1 MiB, and moves the cursor — synced — only after the
// destination answered 2xx (or the batch went to the dead-letter file). The
// next batches (at most two) are read and compressed while one is in
// flight, one request at a time per destination. A kill -9 therefore
// resends at most the batch in flight (those prepared were not sent yet);
// a destination overwrites same series + timestamp, so replays are
// idempotent.
//
// Definitions persist in the metadata store (app meta "subscription/...",
// docs/format/subscriptions.md).
//
// Thread-safety: every public method may be called from any thread.
#ifndef M2MDB_SERVER_SUBSCRIPTIONS_SUBSCRIPTIONS_H_
#define M2MDB_SERVER_SUBSCRIPTIONS_SUBSCRIPTIONS_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "m2mdb/db.h"
#include "m2mdb/query/executor.h"
#include "m2mdb/status.h"
#include "server/subscriptions/statements.h"
#include "server/subscriptions/verify.h"

namespace m2mdb::server {

struct SubscriptionDef {
  std::string name;
  std::string database;
  std::string retention_policy;  // as given; "" = the default policy
  bool any = false;
  std::vector<std::string> destinations;  // as given (credentials included)
  BacklogLimits limits;
  VerifySchedule verify;  // VERIFY EVERY; off by default
};

struct SubscriptionOptions {
  // Dead-letter files go here (created on first use): one
  // "<db>.<rp>.<name>.deadletter.lp" per subscription.
  std::string dead_letter_dir;
  // Lines and bytes per batch.
  uint64_t batch_lines = 5000;
  uint64_t batch_bytes = 1 << 20;
  // zlib level of the request bodies: 1 takes half the instructions of
  // zlib's default (6) for bodies ~40 % larger (iot set, docs/benchmarks.md).
  int gzip_level = 1;
  // Added to the nice value of each lane's preparing thread (capped at 19),
  // which reads the WAL back and gzips; the posting thread keeps the
  // server's priority. When the CPU is short, local ingest keeps it and the
  // sender falls behind (its backlog grows) rather than the other way round;
  // with the CPU idle the sender goes at full speed. 10: CFS gives it ~10 %
  // of a core next to one busy ingest thread (docs/edge.md).
  int sender_nice = 10;
  // Retry backoff: doubling from min to max, with jitter.
  int backoff_min_ms = 100;
  int backoff_max_ms = 30000;
  // How often an idle lane looks for new writes.
  int poll_ms = 20;
  // Sent as the origin mark with every batch (server/subscriptions/origin.h).
  std::string origin_id;
  // Lanes (senders: two threads and a connection each) of all
  // subscriptions together; CREATE SUBSCRIPTION past it is refused.
  size_t max_lanes = 256;
};

class Lane;

class SubscriptionManager {
 public:
  SubscriptionManager(DB* db, SubscriptionOptions options);
  ~SubscriptionManager();

  // Loads the definitions and starts their lanes.
  Status Start();
  // Stops every lane (a batch in flight is abandoned: resent after restart).
  void Stop();

  // Runs one statement; the result carries influxd's answer or error.
  // VERIFY SUBSCRIPTION runs without holding the manager's locks (it may
  // take long); it records its result for SHOW SUBSCRIPTIONS and /metrics.
  query::StatementResult Run(const SubscriptionStatement& st, int statement_id);

  // DROP DATABASE / DROP RETENTION POLICY: the subscriptions on it go too,
  // as influxd's do.
  Status DropDatabase(std::string_view database);
  Status DropRetentionPolicy(std::string_view database, std::string_view retention_policy);

  // Not OK while a subscription on `database` with WHEN FULL REFUSE WRITES
  // has a full backlog: the error to answer local writes with.
  Status CheckWritable(std::string_view database) const;

  // Prometheus text for /metrics.
  std::string RenderMetrics() const;

 private:
  struct Entry;
  Status StartLanes(const SubscriptionDef& def);
  static std::string Key(const SubscriptionDef& def);
  // Stops the entry (already out of subs_) and deletes its definition and
  // cursors.
  Status Remove(const std::string& key, Entry e);
  // Removes the subscriptions `match` picks (DROP DATABASE, DROP RETENTION
  // POLICY).
  Status RemoveWhere(const std::function<bool(const SubscriptionDef&)>& match);
  query::StatementResult RunVerify(const SubscriptionStatement& st, int statement_id);
  // Verifies `def`'s destinations (or the one matching `destination`) over
  // [start, end), records each result in `record`, and returns them.
  StatusOr<std::vector<VerifyReport>> VerifyDestinations(const SubscriptionDef& def,
                                                         const std::string& destination, int64_t start_ns,
                                                         int64_t end_ns, bool resend, VerifyRecord* record,
                                                         const std::function<bool()>& cancelled);

  DB* const db_;
  const SubscriptionOptions options_;
  std::mutex ddl_mu_;  // taken before mu_, by Run only
  mutable std::mutex mu_;
  bool stopped_ = false;
  // Key(def) -> the definition and its lanes.
  struct Entry {
    SubscriptionDef def;
    std::vector<std::unique_ptr<Lane>> lanes;
    std::shared_ptr<VerifyRecord> verified = std::make_shared<VerifyRecord>();
    std::unique_ptr<PeriodicVerifier> verifier;  // VERIFY EVERY; stopped before the lanes
  };
  std::map<std::string, Entry> subs_;
};

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_SUBSCRIPTIONS_SUBSCRIPTIONS_H_
