// Segment kernels (engine/segment): writing a flush-sized segment, opening
// it (index decode), and reading blocks on the query hot path.
//   BM_SegmentWrite   Add + Finish of 1000 series x 2880 float points
//   BM_SegmentOpen    Open: map, check footer/index crc, decode the index
//   BM_SegmentRead    ReadBlock of every block into a reused Column
#include <random>
#include <string>

#include <benchmark/benchmark.h>
#include <unistd.h>

#include "engine/segment/segment.h"
#include "engine/util/file.h"

namespace m2mdb::segment {
namespace {

constexpr int kSeries = 1000;
constexpr int kPoints = 2880;  // 8 h at 10 s

std::string BenchPath() { return "/tmp/m2mdb_segment_bench_" + std::to_string(getpid()) + ".seg"; }

std::vector<Column> MakeColumns() {
  std::mt19937_64 rng(1);
  std::vector<Column> cols(kSeries);
  for (Column& c : cols) {
    c.type = FieldType::kFloat;
    double v = 20;
    for (int i = 0; i < kPoints; i++) {
      c.times.push_back(1'700'000'000'000'000'000 + int64_t{i} * 10'000'000'000);
      v += static_cast<double>(static_cast<int>(rng() % 11) - 5) / 10;  // sensor-like decimals
      c.floats.push_back(v);
    }
  }
  return cols;
}

void WriteSegment(const std::vector<Column>& cols, benchmark::State* state) {
  auto w = SegmentWriter::Create(BenchPath(), SegmentWriterOptions{});
  if (!w.ok()) return state->SkipWithError(std::string(w.status().message()).c_str());
  for (size_t s = 0; s < cols.size(); s++) {
    if (!(*w)->Add(s + 1, 1, cols[s]).ok()) return state->SkipWithError("Add failed");
  }
  auto info = (*w)->Finish();
  if (!info.ok()) return state->SkipWithError("Finish failed");
  state->counters["bytes/point"] = static_cast<double>(info->file_bytes) / static_cast<double>(info->points);
}

void BM_SegmentWrite(benchmark::State& state) {
  const auto cols = MakeColumns();
  for (auto _ : state) WriteSegment(cols, &state);
  state.SetItemsProcessed(state.iterations() * kSeries * kPoints);
  RemoveFile(BenchPath()).IgnoreError();
}
BENCHMARK(BM_SegmentWrite)->Unit(benchmark::kMillisecond);

void BM_SegmentOpen(benchmark::State& state) {
  WriteSegment(MakeColumns(), &state);
  for (auto _ : state) {
    auto r = SegmentReader::Open(BenchPath());
    benchmark::DoNotOptimize(r);
  }
  RemoveFile(BenchPath()).IgnoreError();
}
BENCHMARK(BM_SegmentOpen)->Unit(benchmark::kMicrosecond);

void BM_SegmentRead(benchmark::State& state) {
  WriteSegment(MakeColumns(), &state);
  auto r = SegmentReader::Open(BenchPath());
  if (!r.ok()) return state.SkipWithError("Open failed");
  Column c;
  c.type = FieldType::kFloat;
  for (auto _ : state) {
    for (const BlockHandle& h : (*r)->blocks()) {
      c.clear();
      if (!(*r)->ReadBlock(h, &c).ok()) return state.SkipWithError("ReadBlock failed");
      benchmark::DoNotOptimize(c.floats.data());
    }
  }
  state.SetItemsProcessed(state.iterations() * kSeries * kPoints);
  RemoveFile(BenchPath()).IgnoreError();
}
BENCHMARK(BM_SegmentRead)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace m2mdb::segment
BENCHMARK_MAIN();
