// A small deterministic generator of truck-fleet readings (TSBS "iot" style):
// measurement `readings`, tags name/fleet/driver/model/device_version, seven
// float fields as bounded random walks with sensor-like decimal precision,
// one point per truck every 10 s. Used by benchmarks; the full generator with
// diagnostics, idle periods and late points is m2mdb-bench's.
#ifndef M2MDB_BENCH_GEN_TRUCKS_H_
#define M2MDB_BENCH_GEN_TRUCKS_H_

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace m2mdb::bench {

class TruckGenerator {
 public:
  TruckGenerator(int trucks, uint64_t seed, int64_t start_ns = 1704067200000000000ll)
      : rng_(seed), time_(start_ns) {
    static const char* kFleets[] = {"East", "West", "North", "South"};
    static const char* kModels[] = {"F-150", "G-2000", "H-2", "R-1"};
    static const char* kDrivers[] = {"Albert", "Derek", "Eric", "Rodney", "Seth", "Trish"};
    for (int i = 0; i < trucks; i++) {
      Truck t;
      t.tags = "readings,device_version=v" + std::to_string(1 + i % 3) + ".0,driver=" + kDrivers[i % 6] +
               ",fleet=" + kFleets[i % 4] + ",model=" + kModels[(i / 4) % 4] + ",name=truck_" + std::to_string(i);
      t.v = {52.0 + i * 0.01, 13.0 + i * 0.01, 100, 50, 180, 0, 12};
      trucks_.push_back(t);
    }
  }

  static constexpr int kFields = 7;

  // Appends one line per truck for the next 10 s tick.
  void AppendTick(std::string* out) {
    static const char* kNames[] = {"latitude", "longitude", "elevation", "velocity",
                                   "heading",  "grade",     "fuel_consumption"};
    static const double kStep[] = {0.0005, 0.0005, 2, 3, 10, 1, 0.5};
    static const double kLo[] = {-90, -180, 0, 0, 0, 0, 0};
    static const double kHi[] = {90, 180, 3000, 120, 359, 100, 50};
    static const double kScale[] = {1e5, 1e5, 1, 10, 1, 1, 10};  // decimals like real sensors
    std::uniform_real_distribution<double> step(-1, 1);
    char num[32];
    for (auto& t : trucks_) {
      out->append(t.tags);
      for (int f = 0; f < kFields; f++) {
        double v = std::clamp(t.v[f] + step(rng_) * kStep[f], kLo[f], kHi[f]);
        v = static_cast<double>(static_cast<int64_t>(v * kScale[f])) / kScale[f];
        t.v[f] = v;
        out->push_back(f == 0 ? ' ' : ',');
        out->append(kNames[f]);
        out->push_back('=');
        auto r = std::to_chars(num, num + sizeof(num), v);
        out->append(num, r.ptr - num);
      }
      out->push_back(' ');
      auto r = std::to_chars(num, num + sizeof(num), time_);
      out->append(num, r.ptr - num);
      out->push_back('\n');
    }
    time_ += 10000000000ll;
  }

  // Batches of about `lines` lines (whole ticks).
  std::vector<std::string> Batches(int count, int lines) {
    std::vector<std::string> out;
    int ticks = std::max<int>(1, lines / static_cast<int>(trucks_.size()));
    for (int b = 0; b < count; b++) {
      std::string body;
      for (int k = 0; k < ticks; k++) AppendTick(&body);
      out.push_back(std::move(body));
    }
    return out;
  }

 private:
  struct Truck {
    std::string tags;
    std::vector<double> v;
  };
  std::mt19937_64 rng_;
  int64_t time_;
  std::vector<Truck> trucks_;
};

}  // namespace m2mdb::bench

#endif  // M2MDB_BENCH_GEN_TRUCKS_H_
