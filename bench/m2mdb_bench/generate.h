// Deterministic line-protocol data sets for m2mdb-bench.
//
//   iot      TSBS "iot" use case: a truck fleet; measurements `readings` and
//            `diagnostics`, one point of each per truck every 10 s, idle
//            periods and ~1% late / out-of-order points.
//   sensors  N fixed sensors, temperature/humidity/pressure with two decimals
//            every second.
//
// The same options always give the same bytes: the random source is our own
// xoshiro256** with our own integer-to-range mapping (std distributions differ
// between standard libraries), and every value is a random walk on integers in
// the sensor's unit (1e-5 degree, 0.1 km/h, ...) printed with to_chars, so a
// value is exactly the decimal a device would send. Thread-compatible.
#ifndef M2MDB_BENCH_M2MDB_BENCH_GENERATE_H_
#define M2MDB_BENCH_M2MDB_BENCH_GENERATE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace m2mdb::bench {

inline constexpr int64_t kNanosPerSecond = 1000000000ll;
// 2024-01-01T00:00:00Z: midnight UTC, so GROUP BY time(1d) buckets align with
// the data and the expected row counts of the query suite are exact.
inline constexpr int64_t kDefaultStartNs = 1704067200ll * kNanosPerSecond;

struct GenerateOptions {
  std::string profile = "iot";  // iot | sensors
  int scale = 100;              // trucks (iot) or sensors (sensors)
  int64_t duration_ns = 86400ll * kNanosPerSecond;
  uint64_t seed = 1;
  int64_t start_ns = kDefaultStartNs;
};

// Parses "30s", "10m", "12h", "1d", "2w" (and sums like "1h30m") into ns.
absl::StatusOr<int64_t> ParseDuration(std::string_view text);
// "1d", "10m", "1h30m": the shortest spelling of a duration in whole seconds.
std::string FormatDuration(int64_t ns);

// The static description of one iot truck (its tags).
struct Truck {
  std::string name;
  std::string fleet;
  std::string driver;
  std::string model;
  std::string device_version;
  int load_capacity = 0;
  int fuel_capacity = 0;
  int nominal_fuel_consumption = 0;
};

class Generator {
 public:
  // Fails on an unknown profile or a non-positive scale or duration.
  static absl::StatusOr<std::unique_ptr<Generator>> Create(const GenerateOptions& options);
  virtual ~Generator() = default;

  // Appends the lines of the next tick (and the delayed lines due by then) to
  // `out`. Returns false, appending nothing, once everything was produced.
  virtual bool NextTick(std::string* out) = 0;

  // Time between two points of one device.
  virtual int64_t interval_ns() const = 0;
  // Field values per point, summed over one device's points of one tick.
  virtual int values_per_tick_per_device() const = 0;
  // Points (lines) per device per tick.
  virtual int lines_per_tick_per_device() const = 0;

  uint64_t lines() const { return lines_; }
  uint64_t values() const { return values_; }
  uint64_t late_lines() const { return late_lines_; }

 protected:
  uint64_t lines_ = 0;
  uint64_t values_ = 0;
  uint64_t late_lines_ = 0;
};

// The trucks of an iot data set (same options → same trucks), for the query
// suite's expected answers.
std::vector<Truck> IotTrucks(const GenerateOptions& options);

// Runs a generator to the end, handing `sink` chunks of whole lines of about
// `chunk_bytes` each. Stops at the first error of `sink`.
absl::Status GenerateChunks(const GenerateOptions& options, size_t chunk_bytes,
                            const std::function<absl::Status(std::string_view chunk)>& sink);

// `m2mdb-bench generate`: writes to `out` ("-" = stdout, else a directory of
// data-NNNNN.lp files of at most `file_bytes` each). Prints a summary to stderr.
absl::Status GenerateToOutput(const GenerateOptions& options, const std::string& out, uint64_t file_bytes);

// Reads every *.lp file of `dir` (sorted by name), or stdin for "-".
absl::StatusOr<std::string> ReadData(const std::string& dir);

// Appends `units` / 10^decimals (decimals 0..6) as the shortest decimal
// ("52.1", "1200", "-0.5"), as a device's printf would.
void AppendFixed(std::string* out, int64_t units, int decimals);

}  // namespace m2mdb::bench

#endif  // M2MDB_BENCH_M2MDB_BENCH_GENERATE_H_
