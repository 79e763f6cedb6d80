// gzip of HTTP bodies (server/gzip.h): libdeflate against zlib, on line
// protocol as a writer sends it (a 5000-line batch of the sensors profile's
// shape) and on a query answer.
#include <random>
#include <string>

#include <benchmark/benchmark.h>

#include "server/gzip.h"

namespace {

std::string Batch() {
  std::mt19937 rng(7);
  std::string s;
  for (int i = 0; i < 5000; i++) {
    s += "sensors,kind=env,site=site" + std::to_string(i % 13) + ",sensor_id=s" +
         std::to_string(10000 + i % 200) +
         " temperature=" + std::to_string(20 + rng() % 1000 / 100.0).substr(0, 5) +
         ",humidity=" + std::to_string(40 + rng() % 100 / 10.0).substr(0, 4) +
         ",pressure=" + std::to_string(1000 + rng() % 100 / 10.0).substr(0, 6) + " " +
         std::to_string(1704067200000000000 + int64_t{i / 200} * 1000000000) + "\n";
  }
  return s;
}

std::string Gzipped(const std::string& s) {
  m2mdb::server::Gzipper z(6);
  std::string out;
  z.Add(s.substr(0, 1), false, &out);  // zlib, as most clients
  z.Add(s.substr(1), true, &out);
  return out;
}

void BM_Inflate(benchmark::State& state) {
  const std::string body = Batch(), gz = Gzipped(body);
  std::string out;
  bool too_big;
  for (auto _ : state) {
    if (state.range(0) == 0) {
      m2mdb::server::GunzipWithZlib(gz, 64 << 20, &out, &too_big);
    } else {
      m2mdb::server::Gunzip(gz, 64 << 20, &out, &too_big);
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(body.size()));
  state.SetLabel(state.range(0) == 0 ? "zlib" : "libdeflate");
}
BENCHMARK(BM_Inflate)->Arg(0)->Arg(1);

void BM_Deflate(benchmark::State& state) {
  const std::string body = Batch();
  const int level = static_cast<int>(state.range(1));
  std::string out;
  for (auto _ : state) {
    out.clear();
    m2mdb::server::Gzipper z(level);
    if (state.range(0) == 0) {
      z.Add(body.substr(0, 1), false, &out);  // streamed: zlib
      z.Add(std::string_view(body).substr(1), true, &out);
    } else {
      z.Add(body, true, &out);  // at once: libdeflate
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(body.size()));
  state.SetLabel(std::string(state.range(0) == 0 ? "zlib" : "libdeflate") + " level " +
                 std::to_string(level) + ", " + std::to_string(out.size()) + " bytes of " +
                 std::to_string(body.size()));
}
BENCHMARK(BM_Deflate)->Args({0, 1})->Args({1, 1})->Args({0, 6})->Args({1, 6});

}  // namespace

BENCHMARK_MAIN();
