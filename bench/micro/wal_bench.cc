// WAL micro benchmarks: Append + Sync of 1 MiB records.
//
//   BM_WalAppendSync/mode:0/threads:1   kAlways, one writer: one fsync per record
//   BM_WalAppendSync/mode:0/threads:4   kAlways, four writers: group commit lets
//                                       one fsync cover the records of several
//   BM_WalAppendSync/mode:2/threads:1   kNone: write(2) only, the page-cache bound
//
// Counters: bytes_per_second (MB/s of payload) and fsyncs_per_record.
// The log lives under $M2MDB_BENCH_DIR (default /tmp), on a real disk if you
// want real fsync figures (tmpfs makes fdatasync free).
#include <cstdlib>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

#include "engine/util/file.h"
#include "engine/wal/wal.h"

namespace m2mdb::wal {
namespace {

constexpr size_t kRecordBytes = 1 << 20;

std::string BenchDir() {
  const char* base = std::getenv("M2MDB_BENCH_DIR");
  return absl::StrCat(base != nullptr ? base : "/tmp", "/m2mdb_wal_bench_", ::getpid());
}

// Shared by the threads of one run; thread 0 sets it up and tears it down
// (Google Benchmark puts a barrier around both).
std::unique_ptr<Wal> g_wal;

void BM_WalAppendSync(benchmark::State& state) {
  const auto mode = static_cast<WalSyncMode>(state.range(0));
  const std::string dir = BenchDir();
  if (state.thread_index() == 0) {
    RemoveAll(dir).IgnoreError();
    WalOptions o;
    o.dir = dir;
    o.sync_mode = mode;
    o.segment_bytes = 64ull << 20;
    auto w = Wal::Open(o, 0, [](uint64_t, std::string_view) { return absl::OkStatus(); });
    if (!w.ok()) {
      state.SkipWithError(std::string(w.status().message()).c_str());
      return;
    }
    g_wal = std::move(*w);
  }
  const std::string payload(kRecordBytes, static_cast<char>('a' + state.thread_index()));
  uint64_t appended = 0;
  for (auto _ : state) {
    auto seq = g_wal->Append(payload);
    if (!seq.ok() || !g_wal->Sync(*seq).ok()) {
      state.SkipWithError("append/sync failed");
      break;
    }
    ++appended;
    // Keep the disk footprint bounded: drop everything but the active segment.
    if (state.thread_index() == 0 && appended % 64 == 0) {
      g_wal->RemoveBefore(*seq).IgnoreError();
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(appended * kRecordBytes));
  if (state.thread_index() == 0) {
    WalStats s = g_wal->stats();
    state.counters["fsyncs_per_record"] =
        s.records == 0 ? 0.0 : static_cast<double>(s.fsyncs) / static_cast<double>(s.records);
    state.counters["us_per_fsync"] =
        s.fsyncs == 0 ? 0.0 : static_cast<double>(s.fsync_nanos) / 1000.0 / static_cast<double>(s.fsyncs);
    g_wal->Close().IgnoreError();
    g_wal.reset();
    RemoveAll(dir).IgnoreError();
  }
}

BENCHMARK(BM_WalAppendSync)
    ->ArgName("mode")
    ->Arg(static_cast<int>(WalSyncMode::kAlways))
    ->Threads(1)
    ->Threads(4)
    ->UseRealTime()
    ->MinTime(2.0);
BENCHMARK(BM_WalAppendSync)
    ->ArgName("mode")
    ->Arg(static_cast<int>(WalSyncMode::kNone))
    ->Threads(1)
    ->Threads(4)
    ->UseRealTime()
    ->MinTime(2.0);

}  // namespace
}  // namespace m2mdb::wal

BENCHMARK_MAIN();
