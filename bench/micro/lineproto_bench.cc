// Line-protocol parser throughput on TSBS-style truck-fleet lines
// (measurement "readings", 5 tags, 7 float fields, ns timestamps), plus
// variants with escapes/strings and the series-key builder.
//   build/bin/bench_lineproto --benchmark_counter_table=true
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"

#include "engine/lineproto/lineproto.h"

namespace {

using namespace m2mdb::lineproto;

const char* kFleets[] = {"East", "West", "North", "South"};
const char* kDrivers[] = {"Albert", "Derek", "Seth", "Trish", "Andy", "Rodney"};
const char* kModels[] = {"F-150", "G-2000", "H-2"};
const char* kVersions[] = {"v1.0", "v1.5", "v2.0", "v2.3"};

// `lines` truck readings, 100 trucks, 10 s apart.
std::string TruckBody(int lines, bool with_strings) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> unit(0, 1);
  std::string body;
  char buf[512];
  int64_t ts = 1451606400000000000;
  for (int i = 0; i < lines; i++) {
    int truck = i % 100;
    if (truck == 0) ts += 10000000000;
    int n = std::snprintf(buf, sizeof(buf),
                          "readings,name=truck_%d,fleet=%s,driver=%s,model=%s,device_version=%s "
                          "latitude=%.4f,longitude=%.4f,elevation=%d,velocity=%d,heading=%d,grade=%d,fuel_"
                          "consumption=%.1f%s %lld\n",
                          truck, kFleets[truck % 4], kDrivers[truck % 6], kModels[truck % 3],
                          kVersions[truck % 4], unit(rng) * 90, unit(rng) * 180,
                          static_cast<int>(unit(rng) * 500), static_cast<int>(unit(rng) * 100),
                          static_cast<int>(unit(rng) * 360), static_cast<int>(unit(rng) * 10), unit(rng) * 50,
                          with_strings ? ",status=\"on route, \\\"ok\\\"\"" : "", static_cast<long long>(ts));
    body.append(buf, n);
  }
  return body;
}

void RunParse(benchmark::State& state, const std::string& body) {
  Parser parser;
  ParseOptions options;
  std::vector<LineError> errors;
  size_t points = 0;
  double sink = 0;
  for (auto _ : state) {
    points += parser.Parse(
        body, options, [&](const Point& p) { sink += p.fields[0].f; }, &errors);
    benchmark::DoNotOptimize(sink);
  }
  if (!errors.empty()) state.SkipWithError(errors[0].reason.c_str());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.SetItemsProcessed(static_cast<int64_t>(points));
  state.counters["line_bytes"] = static_cast<double>(body.size()) * state.iterations() / points;
}

void BM_ParseTruckLines(benchmark::State& state) {
  static const std::string body = TruckBody(10000, false);
  RunParse(state, body);
}
BENCHMARK(BM_ParseTruckLines);

// Same lines with an escaped string field: exercises quotes and scratch_.
void BM_ParseTruckLinesWithStrings(benchmark::State& state) {
  static const std::string body = TruckBody(10000, true);
  RunParse(state, body);
}
BENCHMARK(BM_ParseTruckLinesWithStrings);

// Parse plus series key per point: what the write path does first.
void BM_ParseTruckLinesAndSeriesKey(benchmark::State& state) {
  static const std::string body = TruckBody(10000, false);
  Parser parser;
  std::vector<LineError> errors;
  size_t points = 0;
  size_t sink = 0;
  for (auto _ : state) {
    points += parser.Parse(
        body, {}, [&](const Point& p) { sink += SeriesKey(p.measurement, p.tags).size(); }, &errors);
    benchmark::DoNotOptimize(sink);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
  state.SetItemsProcessed(static_cast<int64_t>(points));
}
BENCHMARK(BM_ParseTruckLinesAndSeriesKey);

}  // namespace

BENCHMARK_MAIN();
