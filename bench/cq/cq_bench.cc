// Continuous queries (query/cq/continuous.cc): the cost they add to ingest,
// the refresh lag while ingesting, and the cost of one late point.
//
//   build/bin/bench_cq
//
// BM_IngestWithCqs/cqs:N: in-process ingest of truck readings (1000 trucks,
// 5000-line batches, one writer, wal_sync=none) with N continuous queries
// (0 = no listener at all) whose refresher runs every 100 ms meanwhile. The
// points are stamped in the last few hours, so every window closes during
// the run and is refreshed while ingest goes on. Reports values/s and the
// refresh lag percentiles (from a window's close or its dirtying write to
// its rollup written).
// BM_LatePoint: with both CQs caught up over 1000 trucks, one point of one
// truck lands in an old window: the windows recomputed and the time of the
// refresh that follows (per series, not per database).
#include <chrono>
#include <filesystem>
#include <thread>

#include <benchmark/benchmark.h>

#include "bench/gen/trucks.h"
#include "m2mdb/db.h"
#include "m2mdb/query/continuous.h"
#include "m2mdb/query/executor.h"

namespace {

constexpr int64_t kSec = 1000000000;

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Fixture {
  std::string dir;
  std::unique_ptr<m2mdb::query::ContinuousQueries> cqs;
  std::unique_ptr<m2mdb::DB> db;

  bool Open(benchmark::State& state, bool listener, bool background, int ncqs) {
    const char* tmp = std::getenv("TMPDIR");
    dir = std::string(tmp ? tmp : "/tmp") + "/m2mdb_cq_bench";
    std::filesystem::remove_all(dir);
    m2mdb::query::ContinuousQueryOptions co;
    co.poll_interval = std::chrono::milliseconds(100);
    co.background = background;
    cqs = std::make_unique<m2mdb::query::ContinuousQueries>(co);
    m2mdb::Options o;
    o.data_dir = dir;
    o.wal_sync = m2mdb::WalSyncMode::kNone;
    o.head_memory_bytes = 64 << 20;
    if (listener) o.change_listener = cqs.get();
    auto d = m2mdb::DB::Open(o);
    if (!d.ok()) {
      state.SkipWithError(d.status().ToString().c_str());
      return false;
    }
    db = std::move(*d);
    (void)db->CreateDatabase({"bench", 0, 0});
    if (!listener) return true;
    (void)cqs->Attach(db.get());
    m2mdb::query::Executor exec(db.get(), cqs.get());
    const char* defs[] = {
        "CREATE CONTINUOUS QUERY per_truck ON bench BEGIN SELECT mean(velocity), max(fuel_consumption) INTO "
        "truck_1m FROM readings GROUP BY time(1m), \"name\" END",
        "CREATE CONTINUOUS QUERY per_fleet ON bench BEGIN SELECT mean(elevation), count(elevation) INTO "
        "fleet_10m "
        "FROM readings GROUP BY time(10m), fleet END"};
    for (int i = 0; i < ncqs; i++) {
      m2mdb::query::QueryOptions qo;
      qo.database = "bench";
      auto r = exec.Execute(defs[i], qo);
      if (!r[0].error.empty()) {
        state.SkipWithError(r[0].error.c_str());
        return false;
      }
    }
    return true;
  }
  void Close() {
    cqs->Stop();
    (void)db->Close();
    db.reset();
    cqs.reset();
    std::filesystem::remove_all(dir);
  }
};

void BM_IngestWithCqs(benchmark::State& state) {
  const int ncqs = static_cast<int>(state.range(0));
  Fixture f;
  if (!f.Open(state, ncqs > 0, true, ncqs)) return;
  // 200 batches x 5 ticks of 10 s: the last 10 000 s.
  m2mdb::bench::TruckGenerator gen(1000, 42, Now() - 10000 * kSec);
  auto batches = gen.Batches(200, 5000);
  int64_t values = 0;
  for (auto _ : state) {
    for (const auto& b : batches) {
      auto r = f.db->WriteLineProtocol("bench", b, {});
      if (r.ok()) values += static_cast<int64_t>(r->values_written);
    }
  }
  state.counters["values/s"] = benchmark::Counter(static_cast<double>(values), benchmark::Counter::kIsRate);
  if (ncqs > 0) {
    // Let the refresher catch up, then report its lag.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (f.cqs->Stats().pending_windows > 2 * static_cast<uint64_t>(ncqs) * 1000 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    auto st = f.cqs->Stats();
    state.counters["lag_p50_ms"] = static_cast<double>(st.lag_p50_ns) / 1e6;
    state.counters["lag_p99_ms"] = static_cast<double>(st.lag_p99_ns) / 1e6;
    state.counters["refreshes"] = static_cast<double>(st.refreshes);
    state.counters["pending"] = static_cast<double>(st.pending_windows);
  }
  f.Close();
}

BENCHMARK(BM_IngestWithCqs)
    ->ArgNames({"cqs"})
    ->Arg(0)
    ->Arg(2)
    ->Iterations(1)
    ->Repetitions(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_LatePoint(benchmark::State& state) {
  Fixture f;
  if (!f.Open(state, true, false, 2)) return;
  const int64_t start = Now() - 10000 * kSec;
  m2mdb::bench::TruckGenerator gen(1000, 42, start);
  for (const auto& b : gen.Batches(100, 5000)) (void)f.db->WriteLineProtocol("bench", b, {});
  (void)f.cqs->RefreshNow();
  int64_t k = 0;
  uint64_t windows = 0;
  for (auto _ : state) {
    state.PauseTiming();
    // One late point of truck_7 in an old window (a different one each time).
    const int64_t t = start + (k++ % 400) * 10 * kSec + 5 * kSec;
    std::string line =
        "readings,device_version=v2.0,driver=Derek,fleet=West,model=F-150,name=truck_7 velocity=1 " +
        std::to_string(t);
    (void)f.db->WriteLineProtocol("bench", line, {});
    const uint64_t before = f.cqs->Stats().windows_refreshed;
    state.ResumeTiming();
    (void)f.cqs->RefreshNow();
    state.PauseTiming();
    windows += f.cqs->Stats().windows_refreshed - before;
    state.ResumeTiming();
  }
  state.counters["windows/late point"] =
      static_cast<double>(windows) / static_cast<double>(state.iterations());
  f.Close();
}

BENCHMARK(BM_LatePoint)->Iterations(200)->Repetitions(3)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
