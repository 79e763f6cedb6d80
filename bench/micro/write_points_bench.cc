// Embedded ingest, typed points vs line protocol: points/s of
// DB::WritePoints and DB::WriteLineProtocol over the same truck-fleet
// readings (5000-point batches, one writer, wal_sync=none so the figure is
// the CPU cost of the call, not the disk). The typed batches are the text
// batches parsed, so both paths store identical data. Issue 17 item 8:
// WritePoints must not be slower than WriteLineProtocol.
//
// hot:1 prepares each batch (untimed) right before its call, as an
// embedding program that builds a batch and writes it does; hot:0 writes
// batches built up front. Typed points take ~5x the memory of their text
// (a std::string per name), so with hot:0 the typed run mostly measures
// cache misses on 200 MB of input that a real writer would not have.
//
//   build/bin/bench_write_points --benchmark_min_time=2
#include <filesystem>

#include <benchmark/benchmark.h>

#include "bench/gen/trucks.h"
#include "engine/lineproto/lineproto.h"
#include "m2mdb/db.h"

namespace {

std::vector<m2mdb::Point> ToPoints(std::string_view body) {
  std::vector<m2mdb::Point> out;
  m2mdb::lineproto::Parser parser;
  parser.Parse(
      body, {},
      [&](const m2mdb::lineproto::Point& p) {
        m2mdb::Point& q = out.emplace_back();
        q.measurement = std::string(p.measurement);
        for (const auto& t : p.tags) q.tags.emplace_back(std::string(t.key), std::string(t.value));
        for (const auto& f : p.fields) {
          m2mdb::FieldValue v;
          v.type = f.type;
          switch (f.type) {
            case m2mdb::FieldType::kFloat:
              v.f = f.f;
              break;
            case m2mdb::FieldType::kInteger:
              v.i = f.i;
              break;
            case m2mdb::FieldType::kUnsigned:
              v.u = f.u;
              break;
            case m2mdb::FieldType::kBoolean:
              v.b = f.b;
              break;
            case m2mdb::FieldType::kString:
              v.s = std::string(f.s);
              break;
          }
          q.fields.emplace_back(std::string(f.key), std::move(v));
        }
        q.timestamp = p.timestamp;
      },
      nullptr);
  return out;
}

void BM_Write(benchmark::State& state) {
  const bool typed = state.range(0) == 1;
  const bool hot = state.range(1) == 1;
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp ? tmp : "/tmp") + "/m2mdb_write_points_bench";
  std::filesystem::remove_all(dir);
  m2mdb::Options o;
  o.data_dir = dir;
  o.wal_sync = m2mdb::WalSyncMode::kNone;
  o.head_memory_bytes = 256 << 20;
  auto db = m2mdb::DB::Open(o);
  if (!db.ok()) {
    state.SkipWithError(db.status().ToString().c_str());
    return;
  }
  (void)(*db)->CreateDatabase({"bench", 0, 0});
  m2mdb::bench::TruckGenerator gen(1000, 42);
  auto batches = gen.Batches(40, 5000);
  std::vector<std::vector<m2mdb::Point>> typed_batches;
  if (!hot) {
    for (const auto& b : batches) typed_batches.push_back(ToPoints(b));
  }
  std::vector<m2mdb::Point> typed_batch;
  std::string text_batch;
  int64_t points = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < batches.size(); i++) {
      if (hot) {
        state.PauseTiming();
        if (typed) {
          typed_batch = ToPoints(batches[i]);
        } else {
          text_batch = batches[i];
        }
        state.ResumeTiming();
      }
      const std::vector<m2mdb::Point>& pts = hot ? typed_batch : (typed ? typed_batches[i] : typed_batch);
      const std::string& text = hot ? text_batch : batches[i];
      auto r = typed ? (*db)->WritePoints("bench", pts, {}) : (*db)->WriteLineProtocol("bench", text, {});
      if (!r.ok()) {
        state.SkipWithError(r.status().ToString().c_str());
        return;
      }
      points += static_cast<int64_t>(r->points_written);
    }
  }
  state.counters["points/s"] = benchmark::Counter(static_cast<double>(points), benchmark::Counter::kIsRate);
  (void)(*db)->Close();
  db->reset();
  std::filesystem::remove_all(dir);
}

BENCHMARK(BM_Write)
    ->ArgNames({"typed", "hot"})
    ->Args({0, 1})
    ->Args({1, 1})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Iterations(1)
    ->Repetitions(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
