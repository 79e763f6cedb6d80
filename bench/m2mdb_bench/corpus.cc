// The compression corpus; see corpus.h.
#include "bench/m2mdb_bench/corpus.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_split.h"

#include "bench/m2mdb_bench/compress.h"
#include "bench/m2mdb_bench/generate.h"
#include "bench/m2mdb_bench/load.h"
#include "bench/m2mdb_bench/targets.h"
#include "m2mdb/db.h"

namespace m2mdb::bench {
namespace {

// splitmix64 as a generator: tiny, identical everywhere, one stream per
// device (so a device's data does not depend on how many there are).
class Rng {
 public:
  Rng(uint64_t seed, uint64_t stream)
      : x_(seed * 0x9e3779b97f4a7c15ull ^ (stream + 1) * 0xd1b54a32d192ed03ull) {}
  uint64_t Next() {
    uint64_t z = (x_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }
  int64_t Range(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo + 1)));
  }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  // Approximately standard normal (Irwin–Hall of 4 uniforms, rescaled):
  // bounded tails, which is what a sensor's noise looks like after its ADC.
  double Normal() { return (Uniform() + Uniform() + Uniform() + Uniform() - 2.0) * 1.7320508; }
  bool Chance(double p) { return Uniform() < p; }

 private:
  uint64_t x_;
};

constexpr int64_t kSec = 1000000000ll;
constexpr int64_t kStart = 1704067200ll * kSec;  // 2024-01-01T00:00:00Z
constexpr int64_t kPow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000};

void AppendInt(std::string* out, int64_t v) {
  char buf[24];
  out->append(buf, static_cast<size_t>(std::to_chars(buf, buf + sizeof(buf), v).ptr - buf));
}
void AppendTs(std::string* out, int64_t ns) {
  out->push_back(' ');
  AppendInt(out, ns);
  out->push_back('\n');
}
int Devices(int base, double scale) { return std::max(1, static_cast<int>(std::lround(base * scale))); }

// A smooth daily cycle plus slow drift: the part of an analog signal a
// sensor actually follows (°C, %, hPa); noise is added per sample.
struct Analog {
  double base, amplitude, phase, drift = 0;
  double At(int64_t t_s, Rng* rng) {
    drift += rng->Normal() * 0.002;
    return base + drift + amplitude * std::sin(6.283185307 * static_cast<double>(t_s) / 86400.0 + phase);
  }
};

// Integral readings sent as floats ("rpm=1520"): a random walk on integers.
CorpusShape IntegralFloats(uint64_t seed, double scale) {
  CorpusShape s{.name = "integral-floats",
                .description = "engine rpm, battery mV: integers written as floats, 10 s"};
  const int n = Devices(100, scale);
  for (int d = 0; d < n; d++) {
    Rng rng(seed, static_cast<uint64_t>(d));
    int64_t rpm = 1500, mv = 12600;
    std::string tags = "engine,device=e" + std::to_string(d) + " rpm=";
    for (int t = 0; t < 8640; t++) {
      rpm = std::clamp<int64_t>(rpm + rng.Range(-40, 40), 600, 4000);
      mv = std::clamp<int64_t>(mv + rng.Range(-3, 3), 11000, 14400);
      s.lines += tags;
      AppendInt(&s.lines, rpm);
      s.lines += ",battery_mv=";
      AppendInt(&s.lines, mv);
      AppendTs(&s.lines, kStart + t * 10 * kSec);
      s.values += 2;
    }
  }
  return s;
}

// 5-decimal coordinates of moving vehicles: a random walk with a heading
// that turns slowly, stops at random (traffic lights, deliveries), 10 s.
CorpusShape Gps5dp(uint64_t seed, double scale) {
  CorpusShape s{.name = "gps-5dp",
                .description = "latitude/longitude, 5 decimals, vehicles moving and stopping, 10 s"};
  const int n = Devices(50, scale);
  for (int d = 0; d < n; d++) {
    Rng rng(seed, 1000 + d);
    int64_t lat = 4800000 + rng.Range(-200000, 200000), lon = 1150000 + rng.Range(-300000, 300000);
    double heading = rng.Uniform() * 6.283, speed = 0;  // 1e-5 degrees per 10 s
    int stopped = 0;
    std::string tags = "gps,vehicle=v" + std::to_string(d);
    for (int t = 0; t < 8640; t++) {
      if (stopped > 0) {
        stopped--;
        speed = 0;
      } else {
        if (rng.Chance(0.01)) stopped = static_cast<int>(rng.Range(3, 120));
        speed = std::clamp(speed + rng.Normal() * 20, 0.0, 350.0);  // up to ~140 km/h
        heading += rng.Normal() * 0.15;
      }
      lat += std::llround(speed * std::cos(heading) + (speed > 0 ? rng.Normal() * 2 : 0));
      lon += std::llround(speed * std::sin(heading) * 1.5 + (speed > 0 ? rng.Normal() * 2 : 0));
      s.lines += tags + " lat=";
      AppendFixed(&s.lines, lat, 5);
      s.lines += ",lon=";
      AppendFixed(&s.lines, lon, 5);
      AppendTs(&s.lines, kStart + t * 10 * kSec);
      s.values += 2;
    }
  }
  return s;
}

// A noisy 1 Hz analog sensor at `decimals` decimals: daily cycle + drift +
// ADC noise of `noise` units of the last digit (σ).
CorpusShape Analog1Hz(uint64_t seed, double scale, const std::string& name, const std::string& field,
                      int decimals, double base, double amplitude, double noise_units) {
  CorpusShape s{.name = name,
                .description = field + ", " + std::to_string(decimals) + " decimals, noise σ≈" +
                               std::to_string(static_cast<int>(noise_units)) + " last-digit units, 1 Hz"};
  const int n = Devices(25, scale);
  const double pow = static_cast<double>(kPow10[decimals]);
  for (int d = 0; d < n; d++) {
    Rng rng(seed, 2000 + d + decimals * 100);
    Analog a{.base = base + rng.Normal() * amplitude, .amplitude = amplitude, .phase = rng.Uniform() * 6.28};
    std::string tags = "env,sensor=s" + std::to_string(d) + " " + field + "=";
    for (int t = 0; t < 21600; t++) {  // 6 h
      double v = a.At(t, &rng) + rng.Normal() * noise_units / pow;
      s.lines += tags;
      AppendFixed(&s.lines, std::llround(v * pow), decimals);
      AppendTs(&s.lines, kStart + t * kSec);
      s.values++;
    }
  }
  return s;
}

// Energy meters: a monotonically increasing kWh reading with 3 decimals;
// the load (and so the step) varies through the day, 10 s.
CorpusShape Meter3dp(uint64_t seed, double scale) {
  CorpusShape s{.name = "meter-3dp", .description = "energy meter kWh, 3 decimals, monotonic, 10 s"};
  const int n = Devices(100, scale);
  for (int d = 0; d < n; d++) {
    Rng rng(seed, 3000 + d);
    int64_t wh = rng.Range(0, 90000000);  // Wh = kWh with 3 decimals
    std::string tags = "power,meter=m" + std::to_string(d) + " energy_kwh=";
    for (int t = 0; t < 8640; t++) {
      const double load_w = 300 + 2500 * std::max(0.0, std::sin(6.283 * t / 8640.0)) + rng.Uniform() * 400;
      wh += std::llround(load_w * 10 / 3600);
      s.lines += tags;
      AppendFixed(&s.lines, wh, 3);
      AppendTs(&s.lines, kStart + t * 10 * kSec);
      s.values++;
    }
  }
  return s;
}

// Interface counters: int64 bytes (and a float packet counter) growing by a
// bursty rate, reset to 0 when a device reboots (~ once a day), 10 s.
CorpusShape Counters(uint64_t seed, double scale) {
  CorpusShape s{.name = "counters-resets",
                .description = "int bytes counter + float packets counter, bursty, resets on reboot, 10 s"};
  const int n = Devices(100, scale);
  for (int d = 0; d < n; d++) {
    Rng rng(seed, 4000 + d);
    int64_t bytes = rng.Range(0, 1ll << 40), packets = bytes / 900;
    std::string tags = "net,if=eth" + std::to_string(d) + " rx_bytes=";
    for (int t = 0; t < 8640; t++) {
      if (rng.Chance(1.0 / 8640)) bytes = packets = 0;
      const int64_t rate = rng.Chance(0.1) ? rng.Range(100000, 5000000) : rng.Range(0, 20000);
      bytes += rate;
      packets += rate / 900 + rng.Range(0, 3);
      s.lines += tags;
      AppendInt(&s.lines, bytes);
      s.lines += "i,rx_packets=";
      AppendInt(&s.lines, packets);
      AppendTs(&s.lines, kStart + t * 10 * kSec);
      s.values += 2;
    }
  }
  return s;
}

// Mostly-constant status values: an int state machine and a float setpoint
// that change a few times a day, 10 s.
CorpusShape StatusShape(uint64_t seed, double scale) {
  CorpusShape s{.name = "status-constant",
                .description = "int state + float setpoint, change a few times a day, 10 s"};
  const int n = Devices(100, scale);
  for (int d = 0; d < n; d++) {
    Rng rng(seed, 5000 + d);
    int64_t state = 1, setpoint = 215;
    std::string tags = "hvac,unit=u" + std::to_string(d) + " state=";
    for (int t = 0; t < 8640; t++) {
      if (rng.Chance(0.001)) state = rng.Range(0, 5);
      if (rng.Chance(0.0005)) setpoint = rng.Range(180, 240);
      s.lines += tags;
      AppendInt(&s.lines, state);
      s.lines += "i,setpoint=";
      AppendFixed(&s.lines, setpoint, 1);
      AppendTs(&s.lines, kStart + t * 10 * kSec);
      s.values += 2;
    }
  }
  return s;
}

// Booleans: door contacts and alarms, true in rare stretches, 10 s.
CorpusShape Booleans(uint64_t seed, double scale) {
  CorpusShape s{.name = "booleans", .description = "door open / alarm flags, rare stretches of true, 10 s"};
  const int n = Devices(100, scale);
  for (int d = 0; d < n; d++) {
    Rng rng(seed, 6000 + d);
    bool door = false, alarm = false;
    std::string tags = "door,site=d" + std::to_string(d) + " open=";
    for (int t = 0; t < 8640; t++) {
      if (rng.Chance(door ? 0.2 : 0.005)) door = !door;
      if (rng.Chance(alarm ? 0.05 : 0.0005)) alarm = !alarm;
      s.lines += tags;
      s.lines += door ? "true" : "false";
      s.lines += ",alarm=";
      s.lines += alarm ? "true" : "false";
      AppendTs(&s.lines, kStart + t * 10 * kSec);
      s.values += 2;
    }
  }
  return s;
}

// Enum strings: an operating mode; VictoriaMetrics does not store strings.
CorpusShape EnumStrings(uint64_t seed, double scale) {
  CorpusShape s{.name = "enum-strings",
                .description = "operating mode string, 5 values, changes a few times an hour, 10 s",
                .vm_stores_it = false};
  static const char* kModes[] = {"idle", "heating", "cooling", "defrost", "fault"};
  const int n = Devices(100, scale);
  for (int d = 0; d < n; d++) {
    Rng rng(seed, 7000 + d);
    int mode = 0;
    std::string tags = "hvac_mode,unit=u" + std::to_string(d) + " mode=\"";
    for (int t = 0; t < 8640; t++) {
      if (rng.Chance(0.01)) mode = static_cast<int>(rng.Below(5));
      s.lines += tags;
      s.lines += kModes[mode];
      s.lines += '"';
      AppendTs(&s.lines, kStart + t * 10 * kSec);
      s.values++;
    }
  }
  return s;
}

// Sparse fields: a point always carries `temp`; each of 20 diagnostic
// fields appears in ~2 % of points (error codes, events, rare readings).
CorpusShape Sparse(uint64_t seed, double scale) {
  CorpusShape s{.name = "sparse-fields",
                .description = "1 dense field + 20 fields present in ~2% of points each, 10 s"};
  const int n = Devices(100, scale);
  for (int d = 0; d < n; d++) {
    Rng rng(seed, 8000 + d);
    Analog a{.base = 40 + rng.Normal() * 5, .amplitude = 5, .phase = rng.Uniform() * 6.28};
    std::string tags = "plc,machine=p" + std::to_string(d) + " temp=";
    for (int t = 0; t < 8640; t++) {
      s.lines += tags;
      AppendFixed(&s.lines, std::llround(a.At(t * 10, &rng) * 10), 1);
      s.values++;
      for (int f = 0; f < 20; f++) {
        if (!rng.Chance(0.02)) continue;
        s.lines += ",diag" + std::to_string(f) + "=";
        AppendFixed(&s.lines, rng.Range(0, f < 10 ? 100 : 100000), f < 10 ? 0 : 2);
        s.values++;
      }
      AppendTs(&s.lines, kStart + t * 10 * kSec);
    }
  }
  return s;
}

// Very many short series: 100 k devices that each report a few times (a
// fleet of trackers seen once, containers, ephemeral hosts).
CorpusShape ManyShortSeries(uint64_t seed, double scale) {
  CorpusShape s{.name = "many-short-series", .description = "100k series x 5 points, 1 decimal, 60 s"};
  const int n = Devices(100000, scale);
  for (int t = 0; t < 5; t++) {
    for (int d = 0; d < n; d++) {
      Rng rng(seed, 9000000ull + static_cast<uint64_t>(d) * 8 + t);
      s.lines += "tracker,id=t" + std::to_string(d) + ",region=r" + std::to_string(d % 50) + " battery=";
      AppendFixed(&s.lines, 300 + (d % 700) - t * 2 + rng.Range(0, 1), 1);
      AppendTs(&s.lines, kStart + t * 60 * kSec + (d % 60) * kSec);
      s.values++;
    }
  }
  return s;
}

// Irregular timestamps: a millisecond clock with ±jitter around 10 s, lost
// samples (5 %) and outages of minutes to hours; 2-decimal values.
CorpusShape IrregularTs(uint64_t seed, double scale) {
  CorpusShape s{.name = "irregular-ts",
                .description = "10 s nominal, ms clock, jitter ±250 ms, 5% lost, outages; 2 decimals"};
  const int n = Devices(100, scale);
  for (int d = 0; d < n; d++) {
    Rng rng(seed, 10000 + d);
    Analog a{.base = 20 + rng.Normal() * 3, .amplitude = 3, .phase = rng.Uniform() * 6.28};
    std::string tags = "field,node=n" + std::to_string(d) + " moisture=";
    int64_t t_ms = 0;
    while (t_ms < 86400000) {
      t_ms += 10000 + rng.Range(-250, 250);
      if (rng.Chance(0.0005)) t_ms += rng.Range(60, 7200) * 1000;  // outage
      if (rng.Chance(0.05)) continue;                              // lost sample
      s.lines += tags;
      AppendFixed(&s.lines, std::llround((a.At(t_ms / 1000, &rng) + rng.Normal() * 0.02) * 100), 2);
      AppendTs(&s.lines, kStart + t_ms * 1000000);
      s.values++;
    }
  }
  return s;
}

uint64_t AllocatedBytes(const std::string& dir) { return Du(dir).allocated; }

std::string CodecSummary(const StorageReport& r) {
  std::string out;
  for (const FieldStorage& f : r.fields) {
    if (!out.empty()) out += " ";
    out += f.field + "=";
    bool first = true;
    for (const auto& [name, blocks] : f.value_codecs) {
      out += (first ? "" : "+") + name + ":" + std::to_string(blocks);
      first = false;
    }
  }
  return out;
}

}  // namespace

std::vector<CorpusShape> CorpusShapes(uint64_t seed, double scale, const std::string& only) {
  std::set<std::string> want;
  for (absl::string_view p : absl::StrSplit(only, ',', absl::SkipEmpty())) want.insert(std::string(p));
  auto wanted = [&](const char* name) { return want.empty() || want.count(name) > 0; };
  std::vector<CorpusShape> out;
  if (wanted("integral-floats")) out.push_back(IntegralFloats(seed, scale));
  if (wanted("gps-5dp")) out.push_back(Gps5dp(seed, scale));
  if (wanted("analog-1dp"))
    out.push_back(Analog1Hz(seed, scale, "analog-1dp", "pressure_hpa", 1, 1013, 8, 1));
  if (wanted("analog-2dp")) out.push_back(Analog1Hz(seed, scale, "analog-2dp", "temperature", 2, 21, 4, 3));
  if (wanted("analog-3dp")) out.push_back(Analog1Hz(seed, scale, "analog-3dp", "voltage", 3, 3.3, 0.05, 8));
  if (wanted("meter-3dp")) out.push_back(Meter3dp(seed, scale));
  if (wanted("counters-resets")) out.push_back(Counters(seed, scale));
  if (wanted("status-constant")) out.push_back(StatusShape(seed, scale));
  if (wanted("booleans")) out.push_back(Booleans(seed, scale));
  if (wanted("enum-strings")) out.push_back(EnumStrings(seed, scale));
  if (wanted("sparse-fields")) out.push_back(Sparse(seed, scale));
  if (wanted("many-short-series")) out.push_back(ManyShortSeries(seed, scale));
  if (wanted("irregular-ts")) out.push_back(IrregularTs(seed, scale));
  return out;
}

absl::StatusOr<std::vector<CorpusFigure>> RunCorpus(const CorpusOptions& o) {
  namespace fs = std::filesystem;
  std::vector<CorpusFigure> figures;
  std::vector<CorpusShape> shapes = CorpusShapes(o.seed, o.scale, o.only);
  if (shapes.empty()) return absl::InvalidArgumentError("no corpus shape matches --shapes");
  for (CorpusShape& shape : shapes) {
    CorpusFigure f{.shape = shape.name, .values = shape.values};
    const std::string dir = o.work_dir + "/" + shape.name;
    std::error_code ec;
    fs::remove_all(dir, ec);
    fs::create_directories(dir, ec);
    std::fprintf(stderr, "corpus %s: %llu values, %zu bytes of line protocol\n", shape.name.c_str(),
                 static_cast<unsigned long long>(shape.values), shape.lines.size());

    // m2mdb, embedded: the same engine a server runs, without HTTP. The head
    // is flushed at close (as a server's SIGTERM does); no compaction.
    {
      Options opts;
      opts.data_dir = dir + "/m2mdb";
      opts.wal_sync = WalSyncMode::kNone;
      auto db = DB::Open(opts);
      if (!db.ok()) return db.status();
      if (Status s = (*db)->CreateDatabase({.name = "corpus"}); !s.ok()) return s;
      for (const Batch& b : SplitBatches(shape.lines, 5000)) {
        auto w = (*db)->WriteLineProtocol("corpus", b.body, {});
        if (!w.ok()) return w.status();
        if (!w->errors.empty()) return absl::InternalError(shape.name + ": " + w->errors[0].reason);
      }
      if (Status s = (*db)->Close(); !s.ok()) return s;
      db->reset();  // releases the directory lock
      f.m2mdb_segment_bytes = AllocatedBytes(opts.data_dir + "/segments");
      // All files are counted after a restart, while the database is open
      // (its WAL and metadata store as a running server has them).
      auto again = DB::Open(opts);
      if (!again.ok()) return again.status();
      f.m2mdb_total_bytes = AllocatedBytes(opts.data_dir);
      auto rep = (*again)->GetStorageReport();
      if (!rep.ok()) return rep.status();
      f.m2mdb_codecs = CodecSummary(*rep);
      if (Status s = (*again)->Close(); !s.ok()) return s;
    }

    if (o.victoriametrics && shape.vm_stores_it) {
      auto target = Target::Create(TargetKind::kVictoriaMetrics, dir + "/vm", o.m2mdb_binary);
      if (!target.ok()) {
        f.note = std::string(target.status().message());
      } else {
        Target& t = **target;
        absl::Status s = t.Start();
        if (s.ok()) s = t.WaitReady(60).status();
        if (s.ok()) {
          LoadOptions lo{
              .url = t.url(), .workers = 2, .batch_size = 5000, .db = "corpus", .target_kind = "vm"};
          auto load = RunLoad(lo, SplitBatches(shape.lines, 5000));
          if (!load.ok()) {
            s = load.status();
          } else if (load->failed_requests > 0) {
            s = absl::InternalError("VictoriaMetrics refused writes: " +
                                    (load->failures.empty() ? "" : load->failures[0]));
          }
        }
        // Flush waits 2 s for the first merge, as a running server would do.
        if (s.ok()) s = t.Flush();
        if (s.ok()) {
          // VictoriaMetrics 1.79 keeps fresh parts in memory for a while after
          // force_flush; wait until its directory stops changing (≤ 20 s).
          uint64_t last = AllocatedBytes(t.data_dir());
          for (int i = 0; i < 20; i++) {
            std::this_thread::sleep_for(std::chrono::seconds(1));
            const uint64_t now = AllocatedBytes(t.data_dir());
            if (now == last && i >= 2) break;
            last = now;
          }
          f.vm_running_bytes = last;
        }
        auto stopped = t.Stop(60);
        // After a graceful stop everything it acknowledged is in its parts.
        // It also saves its in-memory caches to cache/ then (~0.5 MB even
        // for a few hundred series), which it does not hold while running:
        // left out, in VictoriaMetrics' favour.
        if (s.ok() && stopped.ok()) {
          f.vm_total_bytes = AllocatedBytes(t.data_dir()) - AllocatedBytes(t.data_dir() + "/cache");
        }
        if (!s.ok()) f.note = std::string(s.message());
      }
    } else if (!shape.vm_stores_it) {
      f.note = "VictoriaMetrics does not store string fields";
    }
    std::fprintf(
        stderr, "  m2mdb %.3f B/value (segments %.3f)%s\n",
        static_cast<double>(f.m2mdb_total_bytes) / std::max<uint64_t>(1, f.values),
        static_cast<double>(f.m2mdb_segment_bytes) / std::max<uint64_t>(1, f.values),
        f.vm_total_bytes
            ? (", VictoriaMetrics " +
               std::to_string(static_cast<double>(*f.vm_total_bytes) / std::max<uint64_t>(1, f.values)) +
               " B/value")
                  .c_str()
            : "");
    figures.push_back(std::move(f));
    fs::remove_all(dir, ec);
  }
  return figures;
}

std::string FormatCorpus(const std::vector<CorpusFigure>& figures) {
  std::string out =
      "| shape | values | m2mdb segments | m2mdb all files | VM running | VM after stop | m2mdb ÷ VM | m2mdb "
      "value codecs (blocks) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n";
  char buf[2048];
  for (const CorpusFigure& f : figures) {
    const double v = static_cast<double>(std::max<uint64_t>(1, f.values));
    char vm[64] = "–", vm_running[64] = "–", ratio[64] = "–";
    if (f.vm_running_bytes) std::snprintf(vm_running, sizeof(vm_running), "%.3f", *f.vm_running_bytes / v);
    if (f.vm_total_bytes) {
      std::snprintf(vm, sizeof(vm), "%.3f", *f.vm_total_bytes / v);
      // All files on both sides; VictoriaMetrics' larger (stopped) figure.
      const uint64_t vm_bytes = std::max(*f.vm_total_bytes, f.vm_running_bytes.value_or(0));
      std::snprintf(ratio, sizeof(ratio), "%.2f",
                    static_cast<double>(f.m2mdb_total_bytes) / std::max<uint64_t>(1, vm_bytes));
    }
    std::snprintf(buf, sizeof(buf), "| %s | %llu | %.3f | %.3f | %s | %s | %s | %s%s%s |\n", f.shape.c_str(),
                  static_cast<unsigned long long>(f.values), f.m2mdb_segment_bytes / v,
                  f.m2mdb_total_bytes / v, vm_running, vm, ratio, f.m2mdb_codecs.c_str(),
                  f.note.empty() ? "" : "; ", f.note.c_str());
    out += buf;
  }
  return out;
}

}  // namespace m2mdb::bench
