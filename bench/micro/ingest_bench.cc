// In-process engine ingest (no HTTP): field values/s for truck-fleet
// readings in 5000-line batches, with 1, 2 and 4 writer threads, durable
// (wal_sync=always) and without fsync (none). Each run opens a fresh data
// directory under $TMPDIR (default /tmp), so results include flushes.
//
//   build/bin/bench_ingest --benchmark_min_time=2
#include <benchmark/benchmark.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "bench/gen/trucks.h"
#include "m2mdb/db.h"

namespace {

void BM_Ingest(benchmark::State& state) {
  const bool durable = state.range(0) == 1;
  const int threads = static_cast<int>(state.range(1));
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp ? tmp : "/tmp") + "/m2mdb_ingest_bench";
  std::filesystem::remove_all(dir);
  m2mdb::Options o;
  o.data_dir = dir;
  o.wal_sync = durable ? m2mdb::WalSyncMode::kAlways : m2mdb::WalSyncMode::kNone;
  // A small head budget so the measured time includes flushes to segment
  // files, as sustained ingest would.
  o.head_memory_bytes = 64 << 20;
  auto db = m2mdb::DB::Open(o);
  if (!db.ok()) {
    state.SkipWithError(db.status().ToString().c_str());
    return;
  }
  (void)(*db)->CreateDatabase({"bench", 0, 0});
  // 1000 trucks, 5 ticks per batch = 5000 lines = 35000 field values.
  m2mdb::bench::TruckGenerator gen(1000, 42);
  auto batches = gen.Batches(200, 5000);
  size_t bytes = 0;
  for (const auto& b : batches) bytes += b.size();
  int64_t values = 0;
  for (auto _ : state) {
    std::atomic<size_t> next{0};
    std::atomic<int64_t> written{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; t++) {
      ts.emplace_back([&] {
        for (size_t i; (i = next.fetch_add(1)) < batches.size();) {
          auto r = (*db)->WriteLineProtocol("bench", batches[i], {});
          if (r.ok()) written += r->values_written;
        }
      });
    }
    for (auto& t : ts) t.join();
    values += written.load();
  }
  state.counters["values/s"] = benchmark::Counter(static_cast<double>(values), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(static_cast<int64_t>(bytes) * state.iterations());
  auto st = (*db)->Stats();
  state.counters["fsyncs/batch"] =
      static_cast<double>(st.wal_fsyncs) / static_cast<double>(batches.size() * state.iterations());
  (void)(*db)->Close();
  db->reset();
  std::filesystem::remove_all(dir);
}

BENCHMARK(BM_Ingest)
    ->ArgNames({"durable", "threads"})
    ->Args({1, 1})
    ->Args({1, 2})
    ->Args({1, 4})
    ->Args({0, 1})
    ->Args({0, 2})
    ->Args({0, 4})
    ->Iterations(1)
    ->Repetitions(3)
    ->ReportAggregatesOnly(false)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
