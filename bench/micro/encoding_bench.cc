// Column codec throughput and size (engine/encoding/codec.h).
//
// For every data set and codec: encode and decode speed (items_per_second =
// values/s; bytes_per_second = MB/s of the raw 8-byte values) and the size
// as the counter bytes_per_value. The label names the codec actually stored
// (the automatic choice may pick another one, or wrap it in zstd).
//
// Data: realistic sensor series of a truck fleet (decimals with 1-4 digits,
// idle periods of constant values, 10 s timestamps regular or jittered) and
// adversarial ones (random doubles, constant, monotonic counters). The
// BM_Fleet benchmark reports the overall bytes per value including each
// value's timestamp, the figure VictoriaMetrics quotes (~0.52).
//
// Run: build/bin/bench_encoding --benchmark_min_time=0.2
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "engine/encoding/codec.h"
#include "engine/encoding/internal.h"

namespace m2mdb::encoding {
namespace {

constexpr size_t kBlock = 8192;  // values per block, a typical segment block

double Round(double x, int decimals) {
  const double p = std::pow(10.0, decimals);
  return std::round(x * p) / p;
}

// Moving/idle state of one truck: idle stretches of 10..200 samples make
// roughly a third of the samples.
std::vector<bool> MovingMask(std::mt19937_64& rng, size_t n) {
  std::vector<bool> m(n);
  size_t i = 0;
  bool moving = true;
  while (i < n) {
    const size_t len = moving ? 20 + rng() % 300 : 10 + rng() % 190;
    for (size_t k = 0; k < len && i < n; k++, i++) m[i] = moving;
    moving = !moving;
  }
  return m;
}

struct FloatSet {
  std::string name;
  std::vector<double> v;
};

std::vector<FloatSet> FloatSets() {
  std::mt19937_64 rng(2024);
  std::normal_distribution<double> gauss(0, 1);
  const auto moving = MovingMask(rng, kBlock);
  std::vector<FloatSet> sets;
  auto walk = [&](std::string name, double start, double step, int decimals, double lo, double hi,
                  bool idle_zero) {
    std::vector<double> v(kBlock);
    double x = start;
    for (size_t i = 0; i < kBlock; i++) {
      if (moving[i]) {
        x = std::min(hi, std::max(lo, x + gauss(rng) * step));
        v[i] = Round(x, decimals);
      } else {
        v[i] = idle_zero ? 0.0 : Round(x, decimals);
      }
    }
    sets.push_back({std::move(name), std::move(v)});
  };
  walk("latitude_4dp", 52.1234, 0.0004, 4, -90, 90, false);
  walk("longitude_4dp", 13.4050, 0.0006, 4, -180, 180, false);
  walk("velocity_1dp", 50, 3, 1, 0, 100, true);
  walk("heading_0dp", 180, 15, 0, 0, 359, false);
  walk("elevation_1dp", 120, 0.5, 1, 0, 3000, false);
  walk("fuel_2dp", 80, 0.02, 2, 0, 100, false);
  walk("temperature_1dp", 21.5, 0.05, 1, -40, 60, false);
  {
    std::vector<double> v(kBlock);
    for (auto& d : v) {
      uint64_t b = rng();
      std::memcpy(&d, &b, 8);
      if (std::isnan(d)) d = 1.0;
    }
    sets.push_back({"random_doubles", v});
    for (auto& d : v) d = static_cast<double>(rng()) / 3.0;
    sets.push_back({"random_reals", v});
  }
  sets.push_back({"constant", std::vector<double>(kBlock, 21.5)});
  {
    std::vector<double> v(kBlock);
    double c = 1e6;
    for (auto& d : v) d = c += static_cast<double>(rng() % 1000);
    sets.push_back({"counter", v});
  }
  {
    // Shapes of the compression corpus the entropy-coded int blocks are
    // for: integers sent as floats (rpm, uniform ±40 steps), and a 1 Hz
    // 3-decimal voltage (a drifting level plus ADC noise, σ = 8 units).
    std::vector<double> v(kBlock);
    int64_t rpm = 1500;
    for (auto& d : v) d = static_cast<double>(rpm += static_cast<int64_t>(rng() % 81) - 40);
    sets.push_back({"rpm_walk_0dp", v});
    double level = 3.3;
    for (auto& d : v) d = Round((level += gauss(rng) * 0.002) + gauss(rng) * 0.008, 3);
    sets.push_back({"voltage_noise_3dp", v});
  }
  return sets;
}

struct TsSet {
  std::string name;
  std::vector<int64_t> v;
};

std::vector<TsSet> TsSets() {
  std::mt19937_64 rng(7);
  const int64_t t0 = 1'700'000'000'000'000'000;
  const int64_t period = 10'000'000'000;
  std::vector<TsSet> sets;
  std::vector<int64_t> v(kBlock);
  for (size_t i = 0; i < kBlock; i++) v[i] = t0 + static_cast<int64_t>(i) * period;
  sets.push_back({"regular_10s", v});
  for (size_t i = 0; i < kBlock; i++) {
    v[i] = t0 + static_cast<int64_t>(i) * period + (static_cast<int64_t>(rng() % 11) - 5) * 1'000'000;
  }
  sets.push_back({"jitter_5ms_ms_clock", v});
  for (size_t i = 0; i < kBlock; i++) {
    v[i] = t0 + static_cast<int64_t>(i) * period + static_cast<int64_t>(rng() % 10'000'000) - 5'000'000;
  }
  sets.push_back({"jitter_5ms_ns_clock", v});
  // A free-running 10 s interval on a ms clock: ±250 ms per interval, 5 %
  // of the samples lost, a rare outage (entropy-coded deltas with escapes).
  int64_t ms = t0 / 1'000'000;
  for (size_t i = 0; i < kBlock; i++) {
    do {
      ms += 10'000 + static_cast<int64_t>(rng() % 501) - 250;
      if (rng() % 2000 == 0) ms += static_cast<int64_t>(60 + rng() % 7140) * 1000;
    } while (rng() % 20 == 0);
    v[i] = ms * 1'000'000;
  }
  sets.push_back({"interval_250ms_lost_ms_clock", v});
  return sets;
}

struct IntSet {
  std::string name;
  std::vector<int64_t> v;
};

std::vector<IntSet> IntSets() {
  std::mt19937_64 rng(11);
  std::vector<IntSet> sets;
  std::vector<int64_t> v(kBlock);
  int64_t c = 0;
  for (auto& x : v) x = c += 1 + static_cast<int64_t>(rng() % 50);
  sets.push_back({"counter", v});
  for (auto& x : v) x = static_cast<int64_t>(rng() % 1000);
  sets.push_back({"small_random", v});
  for (size_t i = 0; i < kBlock;) {
    const int64_t val = static_cast<int64_t>(rng() % 4);
    for (size_t k = 1 + rng() % 200; k > 0 && i < kBlock; k--) v[i++] = val;
  }
  sets.push_back({"status_runs", v});
  for (auto& x : v) x = static_cast<int64_t>(rng());
  sets.push_back({"random", v});
  return sets;
}

void Report(benchmark::State& st, const std::string& enc, size_t n) {
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations() * n));
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * n * 8));
  st.counters["bytes_per_value"] = static_cast<double>(enc.size()) / static_cast<double>(n);
  std::string label(CodecName(EncodedCodec(enc)));
  if (EncodedCodec(enc) == CodecId::kZstd)
    label += "(" + std::string(CodecName(EncodedInnerCodec(enc))) + ")";
  st.SetLabel(label);
}

// `id` kRaw with auto == true means the automatic choice.
bool EncodeFloatsAs(bool automatic, CodecId id, const std::vector<double>& v, std::string* out) {
  if (automatic) {
    EncodeFloats(v.data(), v.size(), out);
    return true;
  }
  return EncodeFloatsWith(id, v.data(), v.size(), out);
}

// The decimal codec without the entropy stage (integer block schemes 0-5),
// as written before segment format 2: the baseline for the stage's decode
// cost on the same data, in the same run.
void RegisterDecimalPlain(const FloatSet* set) {
  std::string probe;
  if (!internal::EncodeDecimal(set->v.data(), set->v.size(), &probe, 0.5, /*allow_entropy=*/false)) return;
  benchmark::RegisterBenchmark(("BM_FloatDecode/" + set->name + "/decimal-plain").c_str(),
                               [set, probe](benchmark::State& st) {
                                 std::vector<double> out(set->v.size());
                                 for (auto _ : st) {
                                   if (!DecodeFloats(probe, out.size(), out.data()).ok())
                                     st.SkipWithError("decode");
                                   benchmark::DoNotOptimize(out.data());
                                 }
                                 Report(st, probe, set->v.size());
                               });
}

void RegisterFloat(const FloatSet* set, bool automatic, CodecId id) {
  std::string probe;
  if (!EncodeFloatsAs(automatic, id, set->v, &probe)) return;
  const std::string codec = automatic ? "auto" : std::string(CodecName(id));
  benchmark::RegisterBenchmark(("BM_FloatEncode/" + set->name + "/" + codec).c_str(),
                               [set, automatic, id](benchmark::State& st) {
                                 std::string out;
                                 for (auto _ : st) {
                                   out.clear();
                                   EncodeFloatsAs(automatic, id, set->v, &out);
                                   benchmark::DoNotOptimize(out.data());
                                 }
                                 Report(st, out, set->v.size());
                               });
  benchmark::RegisterBenchmark(("BM_FloatDecode/" + set->name + "/" + codec).c_str(),
                               [set, probe](benchmark::State& st) {
                                 std::vector<double> out(set->v.size());
                                 for (auto _ : st) {
                                   if (!DecodeFloats(probe, out.size(), out.data()).ok())
                                     st.SkipWithError("decode");
                                   benchmark::DoNotOptimize(out.data());
                                 }
                                 if (std::memcmp(out.data(), set->v.data(), out.size() * 8) != 0) {
                                   st.SkipWithError("round trip mismatch");
                                 }
                                 Report(st, probe, set->v.size());
                               });
}

void RegisterTs(const TsSet* set, bool automatic, CodecId id) {
  std::string probe;
  if (automatic) {
    EncodeTimestamps(set->v.data(), set->v.size(), &probe);
  } else if (!EncodeTimestampsWith(id, set->v.data(), set->v.size(), &probe)) {
    return;
  }
  const std::string codec = automatic ? "auto" : std::string(CodecName(id));
  benchmark::RegisterBenchmark(("BM_TsEncode/" + set->name + "/" + codec).c_str(),
                               [set, automatic, id](benchmark::State& st) {
                                 std::string out;
                                 for (auto _ : st) {
                                   out.clear();
                                   if (automatic) {
                                     EncodeTimestamps(set->v.data(), set->v.size(), &out);
                                   } else {
                                     EncodeTimestampsWith(id, set->v.data(), set->v.size(), &out);
                                   }
                                   benchmark::DoNotOptimize(out.data());
                                 }
                                 Report(st, out, set->v.size());
                               });
  benchmark::RegisterBenchmark(("BM_TsDecode/" + set->name + "/" + codec).c_str(),
                               [set, probe](benchmark::State& st) {
                                 std::vector<int64_t> out(set->v.size());
                                 for (auto _ : st) {
                                   if (!DecodeTimestamps(probe, out.size(), out.data()).ok())
                                     st.SkipWithError("decode");
                                   benchmark::DoNotOptimize(out.data());
                                 }
                                 if (out != set->v) st.SkipWithError("round trip mismatch");
                                 Report(st, probe, set->v.size());
                               });
}

void RegisterInt(const IntSet* set) {
  std::string probe;
  EncodeIntegers(set->v.data(), set->v.size(), &probe);
  benchmark::RegisterBenchmark(("BM_IntEncode/" + set->name + "/auto").c_str(), [set](benchmark::State& st) {
    std::string out;
    for (auto _ : st) {
      out.clear();
      EncodeIntegers(set->v.data(), set->v.size(), &out);
      benchmark::DoNotOptimize(out.data());
    }
    Report(st, out, set->v.size());
  });
  benchmark::RegisterBenchmark(("BM_IntDecode/" + set->name + "/auto").c_str(),
                               [set, probe](benchmark::State& st) {
                                 std::vector<int64_t> out(set->v.size());
                                 for (auto _ : st) {
                                   if (!DecodeIntegers(probe, out.size(), out.data()).ok())
                                     st.SkipWithError("decode");
                                   benchmark::DoNotOptimize(out.data());
                                 }
                                 if (out != set->v) st.SkipWithError("round trip mismatch");
                                 Report(st, probe, set->v.size());
                               });
}

// Overall bytes per value of the realistic float series, each value carrying
// its timestamp: values by the automatic choice, by kFloatDecimal alone (no
// zstd pass) or by Gorilla; timestamps regular or with millisecond jitter.
void RegisterFleet(const std::vector<FloatSet>* floats, const std::vector<TsSet>* ts) {
  for (int t : {0, 1}) {
    for (const char* mode : {"auto", "decimal_no_zstd", "gorilla"}) {
      const std::string name = std::string("BM_Fleet/") + (*ts)[t].name + "/" + mode;
      benchmark::RegisterBenchmark(name.c_str(), [floats, ts, t, mode](benchmark::State& st) {
        size_t bytes = 0, ts_bytes = 0, values = 0;
        for (auto _ : st) {
          bytes = ts_bytes = values = 0;
          for (const FloatSet& f : *floats) {
            if (f.name.find("dp") == std::string::npos) continue;
            std::string tcol, vcol;
            EncodeTimestamps((*ts)[t].v.data(), kBlock, &tcol);
            if (mode[0] == 'a') {
              EncodeFloats(f.v.data(), kBlock, &vcol);
            } else if (mode[0] == 'd') {
              EncodeFloatsWith(CodecId::kFloatDecimal, f.v.data(), kBlock, &vcol);
            } else {
              EncodeFloats(f.v.data(), kBlock, &vcol, FloatMode::kGorillaOnly);
            }
            bytes += tcol.size() + vcol.size();
            ts_bytes += tcol.size();
            values += kBlock;
          }
        }
        st.SetItemsProcessed(static_cast<int64_t>(st.iterations() * values));
        st.counters["bytes_per_value"] = static_cast<double>(bytes) / static_cast<double>(values);
        st.counters["ts_bytes_per_value"] = static_cast<double>(ts_bytes) / static_cast<double>(values);
      });
    }
  }
}

}  // namespace
}  // namespace m2mdb::encoding

int main(int argc, char** argv) {
  using namespace m2mdb::encoding;  // NOLINT: benchmark registration only
  static const std::vector<FloatSet> floats = FloatSets();
  for (const FloatSet& f : floats) RegisterDecimalPlain(&f);
  static const std::vector<TsSet> ts = TsSets();
  static const std::vector<IntSet> ints = IntSets();
  for (const FloatSet& f : floats) {
    RegisterFloat(&f, true, CodecId::kRaw);
    for (CodecId id : {CodecId::kFloatDecimal, CodecId::kFloatGorilla, CodecId::kRaw, CodecId::kZstd}) {
      RegisterFloat(&f, false, id);
    }
  }
  for (const TsSet& t : ts) {
    RegisterTs(&t, true, CodecId::kRaw);
    RegisterTs(&t, false, CodecId::kTimestampDoD);
  }
  for (const IntSet& i : ints) RegisterInt(&i);
  RegisterFleet(&floats, &ts);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
