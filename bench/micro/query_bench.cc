// InfluxQL query latency over a truck-fleet day (TSBS "iot" style): 100
// trucks, one point every 10 s for 24 h (bench/gen/trucks.h), loaded into a
// temporary database and flushed to segments. One benchmark per query:
//   BM_LastLocation     last(latitude), last(longitude) GROUP BY name
//   BM_FleetVelocity1h  mean(velocity) GROUP BY fleet, time(1h) over the day
//   BM_MaxFuel1hWindow  max(fuel_consumption) in one hour GROUP BY name
//   BM_CountOneTruck    count(velocity) WHERE name='truck_5' over the day
//   BM_RawOneTruck1h    SELECT * of one truck over one hour
//   BM_TenTrucks10m     mean(velocity), mean(fuel_consumption) of 10 trucks
//                       GROUP BY time(10m) over 12 hours
//   BM_CountMeanDay     count(velocity), mean(velocity) over the day
//                       GROUP BY name (every truck)
//   BM_MinMaxDay6h      min/max(fuel_consumption) GROUP BY time(6h), name
// Aggregates take a block's statistics instead of decoding it when the block
// lies inside one window (docs/architecture.md); the *_Decode variants turn
// that off, for a before/after in one run. Blocks hold 4096 points = 11.4 h
// at 10 s, so only day-long and multi-hour windows contain whole blocks.
// Run: build/bin/bench_query --benchmark_repetitions=10
//      --benchmark_report_aggregates_only=true
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>
#include <unistd.h>

#include "bench/gen/trucks.h"
#include "m2mdb/db.h"
#include "m2mdb/query/executor.h"
#include "query/exec/exec.h"

namespace m2mdb {
namespace {

constexpr int64_t kStart = 1704067200000000000ll;  // 2024-01-01T00:00:00Z
constexpr int64_t kHour = 3600ll * 1000000000ll;
constexpr int kTrucks = 100;
constexpr int kTicks = 8640;  // one day at 10 s

struct Fixture {
  std::string dir;
  std::unique_ptr<DB> db;
  std::string error;
};

Fixture* Load() {
  static Fixture* f = [] {
    auto* fx = new Fixture;
    fx->dir = "/tmp/m2mdb_query_bench_" + std::to_string(getpid());
    std::filesystem::remove_all(fx->dir);
    Options o;
    o.data_dir = fx->dir;
    o.wal_sync = WalSyncMode::kNone;
    auto db = DB::Open(o);
    if (!db.ok()) {
      fx->error = std::string(db.status().message());
      return fx;
    }
    fx->db = std::move(*db);
    if (!fx->db->CreateDatabase({.name = "bench"}).ok()) fx->error = "CreateDatabase failed";
    bench::TruckGenerator gen(kTrucks, 42, kStart);
    for (int tick = 0; tick < kTicks && fx->error.empty(); tick += 100) {
      std::string body;
      for (int k = 0; k < 100; k++) gen.AppendTick(&body);
      auto r = fx->db->WriteLineProtocol("bench", body, {});
      if (!r.ok() || !r->errors.empty()) fx->error = "write failed";
    }
    if (fx->error.empty() && !fx->db->Flush().ok()) fx->error = "flush failed";
    std::atexit([] {
      Fixture* x = Load();
      if (x->db) (void)x->db->Close();
      x->db.reset();
      std::filesystem::remove_all(x->dir);
    });
    return fx;
  }();
  return f;
}

std::string T(int64_t ns) { return std::to_string(ns) + "ns"; }

void RunQuery(benchmark::State& state, const std::string& q, bool block_stats = true) {
  Fixture* f = Load();
  query::exec::SetUseBlockSummaries(block_stats);
  struct Restore {
    ~Restore() { query::exec::SetUseBlockSummaries(true); }
  } restore;
  if (!f->error.empty()) return state.SkipWithError(f->error.c_str());
  query::Executor exec(f->db.get());
  query::QueryOptions opts;
  opts.database = "bench";
  opts.now = kStart + 24 * kHour;
  size_t rows = 0;
  for (auto _ : state) {
    auto res = exec.Execute(q, opts);
    if (res.size() != 1 || !res[0].error.empty()) {
      return state.SkipWithError(res.empty() ? "no result" : res[0].error.c_str());
    }
    rows = 0;
    for (const auto& s : res[0].series) rows += s.values.size();
    benchmark::DoNotOptimize(res);
  }
  state.counters["rows"] = static_cast<double>(rows);
}

const std::string kDay = " time >= " + T(kStart) + " AND time < " + T(kStart + 24 * kHour);

void BM_LastLocation(benchmark::State& state) {
  RunQuery(state, "SELECT last(latitude), last(longitude) FROM readings GROUP BY \"name\"");
}
void BM_FleetVelocity1h(benchmark::State& state) {
  RunQuery(state, "SELECT mean(velocity) FROM readings WHERE" + kDay + " GROUP BY fleet, time(1h)");
}
void BM_MaxFuel1hWindow(benchmark::State& state) {
  RunQuery(state, "SELECT max(fuel_consumption) FROM readings WHERE time >= " + T(kStart + 12 * kHour) +
                      " AND time < " + T(kStart + 13 * kHour) + " GROUP BY \"name\"");
}
void BM_CountOneTruck(benchmark::State& state) {
  RunQuery(state, "SELECT count(velocity) FROM readings WHERE \"name\" = 'truck_5' AND" + kDay);
}
void BM_RawOneTruck1h(benchmark::State& state) {
  RunQuery(state, "SELECT * FROM readings WHERE \"name\" = 'truck_5' AND time >= " + T(kStart + 12 * kHour) +
                      " AND time < " + T(kStart + 13 * kHour));
}
void BM_TenTrucks10m(benchmark::State& state) {
  RunQuery(state,
           "SELECT mean(velocity), mean(fuel_consumption) FROM readings WHERE \"name\" =~ /^truck_[0-9]$/ "
           "AND time >= " +
               T(kStart) + " AND time < " + T(kStart + 12 * kHour) + " GROUP BY time(10m)");
}

const std::string kCountMeanDay =
    "SELECT count(velocity), mean(velocity) FROM readings WHERE" + kDay + " GROUP BY \"name\"";
const std::string kMinMaxDay6h = "SELECT min(fuel_consumption), max(fuel_consumption) FROM readings WHERE" +
                                 kDay + " GROUP BY time(6h), \"name\"";
void BM_LastLocation_Decode(benchmark::State& state) {
  RunQuery(state, "SELECT last(latitude), last(longitude) FROM readings GROUP BY \"name\"", false);
}
void BM_CountMeanDay(benchmark::State& state) { RunQuery(state, kCountMeanDay); }
void BM_CountMeanDay_Decode(benchmark::State& state) { RunQuery(state, kCountMeanDay, false); }
void BM_CountOneTruck_Decode(benchmark::State& state) {
  RunQuery(state, "SELECT count(velocity) FROM readings WHERE \"name\" = 'truck_5' AND" + kDay, false);
}
void BM_FleetVelocity1h_Decode(benchmark::State& state) {
  RunQuery(state, "SELECT mean(velocity) FROM readings WHERE" + kDay + " GROUP BY fleet, time(1h)", false);
}
void BM_MinMaxDay6h(benchmark::State& state) { RunQuery(state, kMinMaxDay6h); }
void BM_MinMaxDay6h_Decode(benchmark::State& state) { RunQuery(state, kMinMaxDay6h, false); }

BENCHMARK(BM_LastLocation)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FleetVelocity1h)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MaxFuel1hWindow)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CountOneTruck)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RawOneTruck1h)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TenTrucks10m)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LastLocation_Decode)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CountMeanDay)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CountMeanDay_Decode)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CountOneTruck_Decode)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FleetVelocity1h_Decode)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MinMaxDay6h)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MinMaxDay6h_Decode)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace m2mdb

BENCHMARK_MAIN();
