// Counters behind GET /metrics (Prometheus text exposition format 0.0.4).
//
// Thread-safety: every method may be called from any thread.
#ifndef M2MDB_SERVER_METRICS_H_
#define M2MDB_SERVER_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "m2mdb/db.h"

namespace m2mdb::server {

// The endpoints we count by; everything else is "other".
enum class Endpoint { kWrite, kWriteV2, kQuery, kPing, kHealth, kMetrics, kOther };
const char* EndpointName(Endpoint e);

// Limits that reject work; each has its own counter.
enum class Limit { kBodySize, kLineLength, kSeries, kConcurrentQueries, kQueryTimeout, kQueryMemory, kCount };
const char* LimitName(Limit l);

class ServerMetrics {
 public:
  void RecordRequest(Endpoint endpoint, int status);
  void AddWriteBytes(uint64_t n) { write_bytes_.fetch_add(n, std::memory_order_relaxed); }
  void AddWriteRequest(uint64_t points, uint64_t values) {
    http_points_.fetch_add(points, std::memory_order_relaxed);
    http_values_.fetch_add(values, std::memory_order_relaxed);
  }
  void AddRejectedLines(uint64_t n) { rejected_lines_.fetch_add(n, std::memory_order_relaxed); }
  void AddLoopedBack() { looped_back_.fetch_add(1, std::memory_order_relaxed); }
  void AddLimitRejection(Limit l, uint64_t n = 1) {
    limits_[static_cast<int>(l)].fetch_add(n, std::memory_order_relaxed);
  }
  void ObserveQuery(double seconds);
  void QueryStarted() { queries_in_flight_.fetch_add(1, std::memory_order_relaxed); }
  void QueryFinished() { queries_in_flight_.fetch_sub(1, std::memory_order_relaxed); }

  // The whole exposition: engine statistics, m2mdb_build_info and the
  // process_* series (CPU, memory, file descriptors, start time).
  std::string Render(const DBStats& stats) const;

 private:
  static constexpr std::array<double, 12> kQueryBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                           0.1,   0.25,   0.5,   1,    2.5,   10};
  mutable std::mutex mu_;
  std::map<std::pair<Endpoint, int>, uint64_t> requests_;       // guarded by mu_
  std::array<uint64_t, kQueryBuckets.size()> query_buckets_{};  // guarded by mu_ (non-cumulative)
  uint64_t query_count_ = 0;                                    // guarded by mu_
  double query_sum_ = 0;                                        // guarded by mu_

  std::atomic<uint64_t> write_bytes_{0};
  std::atomic<uint64_t> http_points_{0};
  std::atomic<uint64_t> http_values_{0};
  std::atomic<uint64_t> rejected_lines_{0};
  std::atomic<uint64_t> looped_back_{0};
  std::atomic<int64_t> queries_in_flight_{0};
  std::array<std::atomic<uint64_t>, static_cast<int>(Limit::kCount)> limits_{};
};

// Text appended to every /metrics answer (the MQTT listener's counters,
// server/mqtt/listener.h); set once at start, before serving. nullptr: none.
void SetExtraMetrics(std::function<std::string()> render);
// Appends that text (Render calls it).
void AppendExtraMetrics(std::string* out);

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_METRICS_H_
