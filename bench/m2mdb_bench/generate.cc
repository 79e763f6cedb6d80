// Generators for the iot and sensors data sets; see generate.h.
#include "bench/m2mdb_bench/generate.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include <unistd.h>

namespace m2mdb::bench {
namespace {

// splitmix64: expands one seed into the xoshiro state (the authors' advice).
uint64_t SplitMix(uint64_t* x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// xoshiro256**: small, fast and identical everywhere, so a seed names the same
// bytes on every machine (std::uniform_*_distribution does not promise that).
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& s : s_) s = SplitMix(&seed);
  }
  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, n): Lemire's multiply-shift; the bias (n / 2^64) is far
  // below anything a benchmark could notice.
  uint64_t Below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }
  // Uniform in [lo, hi].
  int64_t Range(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo + 1)));
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// One independent stream per device, so a device's values do not depend on
// how many devices there are.
Rng DeviceRng(uint64_t seed, int device) {
  uint64_t x = seed ^ (0xd1b54a32d192ed03ull * static_cast<uint64_t>(device + 1));
  return Rng(SplitMix(&x));
}

constexpr int64_t kPow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000};

inline void AppendInt(std::string* out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, static_cast<size_t>(r.ptr - buf));
}

int64_t Ticks(const GenerateOptions& o, int64_t interval) {
  return std::max<int64_t>(1, o.duration_ns / interval);
}

// ---------------------------------------------------------------- iot ----

constexpr const char* kFleets[] = {"East", "West", "North", "South"};
constexpr const char* kDrivers[] = {"Albert", "Derek", "Andy", "Seth", "Trish", "Rodney"};
constexpr const char* kModels[] = {"F-150", "G-2000", "H-2"};
constexpr const char* kDeviceVersions[] = {"v1.0", "v1.5", "v2.0", "v2.3"};
constexpr int kLoadCapacities[] = {1500, 2000, 5000};
constexpr int kFuelCapacities[] = {150, 200, 300};
constexpr int kNominalFuel[] = {5, 10, 15, 20, 25};
constexpr int64_t kIotInterval = 10 * kNanosPerSecond;

template <typename T, size_t N>
const T& Pick(Rng* rng, const T (&a)[N]) {
  return a[rng->Below(N)];
}

// Trucks are drawn from their own stream, so the tag table is a function of
// (seed, index) alone.
Truck MakeTruck(uint64_t seed, int i) {
  Rng rng = DeviceRng(seed ^ 0x5452554b53ull, i);
  Truck t;
  t.name = "truck_" + std::to_string(i);
  t.fleet = Pick(&rng, kFleets);
  t.driver = Pick(&rng, kDrivers);
  t.model = Pick(&rng, kModels);
  t.device_version = Pick(&rng, kDeviceVersions);
  t.load_capacity = Pick(&rng, kLoadCapacities);
  t.fuel_capacity = Pick(&rng, kFuelCapacities);
  t.nominal_fuel_consumption = Pick(&rng, kNominalFuel);
  return t;
}

// Eight compass directions as (cos, sin) × 1000: integer movement keeps the
// output independent of the libm in use.
constexpr int kCos[] = {1000, 707, 0, -707, -1000, -707, 0, 707};
constexpr int kSin[] = {0, 707, 1000, 707, 0, -707, -1000, -707};

class IotGenerator : public Generator {
 public:
  explicit IotGenerator(const GenerateOptions& o) : options_(o), ticks_(Ticks(o, kIotInterval)) {
    trucks_.reserve(static_cast<size_t>(o.scale));
    for (int i = 0; i < o.scale; i++) {
      Truck t = MakeTruck(o.seed, i);
      State s{.rng = DeviceRng(o.seed, i)};
      std::string tags = ",name=" + t.name + ",fleet=" + t.fleet + ",driver=" + t.driver +
                         ",model=" + t.model + ",device_version=" + t.device_version +
                         ",load_capacity=" + std::to_string(t.load_capacity) +
                         ",fuel_capacity=" + std::to_string(t.fuel_capacity) +
                         ",nominal_fuel_consumption=" + std::to_string(t.nominal_fuel_consumption) + " ";
      s.readings_prefix = "readings" + tags;
      s.diagnostics_prefix = "diagnostics" + tags;
      s.lat = s.rng.Range(-6000000, 7000000);
      s.lon = s.rng.Range(-17999999, 17999999);
      s.elevation = s.rng.Range(0, 2500);
      s.heading = s.rng.Range(0, 3599);
      s.grade = s.rng.Range(0, 20);
      s.velocity = s.rng.Range(200, 900);
      s.fuel_state = s.rng.Range(30, 100);
      s.load = s.rng.Range(0, t.load_capacity);
      // Some drivers stop about every 15 minutes, others drive for hours.
      s.stop_per_million = static_cast<uint32_t>(s.rng.Range(700, 11000));
      s.nominal = t.nominal_fuel_consumption;
      s.load_capacity = t.load_capacity;
      trucks_.push_back(std::move(s));
    }
  }

  int64_t interval_ns() const override { return kIotInterval; }
  int values_per_tick_per_device() const override { return 10; }
  int lines_per_tick_per_device() const override { return 2; }

  bool NextTick(std::string* out) override {
    if (tick_ >= ticks_) {
      if (pending_.empty()) return false;
      // After the last tick the stragglers arrive, in the order they were due.
      for (auto& [due, p] : pending_) Emit(out, p);
      pending_.clear();
      return true;
    }
    const int64_t ts = options_.start_ns + tick_ * kIotInterval;
    for (auto& s : trucks_) {
      Step(&s);
      line_.clear();
      line_.append(s.readings_prefix);
      line_.append("latitude=");
      AppendFixed(&line_, s.lat, 5);
      line_.append(",longitude=");
      AppendFixed(&line_, s.lon, 5);
      line_.append(",elevation=");
      AppendInt(&line_, s.elevation);
      line_.append(",velocity=");
      AppendFixed(&line_, s.velocity, 1);
      line_.append(",heading=");
      AppendFixed(&line_, s.heading, 1);
      line_.append(",grade=");
      AppendInt(&line_, s.grade);
      line_.append(",fuel_consumption=");
      AppendFixed(&line_, s.fuel_consumption, 1);
      line_.push_back(' ');
      AppendInt(&line_, ts);
      line_.push_back('\n');
      Route(out, &s, Pending{std::move(line_), 7});
      line_.clear();
      line_.append(s.diagnostics_prefix);
      line_.append("fuel_state=");
      AppendFixed(&line_, s.fuel_state, 2);
      line_.append(",current_load=");
      AppendInt(&line_, s.load);
      line_.append(",status=");
      AppendInt(&line_, s.status);
      line_.append("i ");
      AppendInt(&line_, ts);
      line_.push_back('\n');
      Route(out, &s, Pending{std::move(line_), 3});
    }
    while (!pending_.empty() && pending_.begin()->first <= tick_) {
      Emit(out, pending_.begin()->second);
      pending_.erase(pending_.begin());
    }
    ++tick_;
    return true;
  }

 private:
  struct State {
    Rng rng;
    std::string readings_prefix{};
    std::string diagnostics_prefix{};
    int64_t lat = 0;               // 1e-5 degree
    int64_t lon = 0;               // 1e-5 degree
    int64_t elevation = 0;         // m
    int64_t velocity = 0;          // 0.1 km/h
    int64_t heading = 0;           // 0.1 degree
    int64_t grade = 0;             // %
    int64_t fuel_consumption = 0;  // 0.1 l/100 km
    int64_t fuel_state = 0;        // 0.01 of the tank
    int64_t load = 0;              // kg
    int64_t status = 0;            // 0 driving, 1 idle, 2..5 faults
    int stopped_ticks = 0;         // > 0: standing still
    uint32_t stop_per_million = 0;
    int nominal = 0;
    int load_capacity = 0;
  };
  struct Pending {
    std::string line{};
    int values = 0;
  };

  void Step(State* s) {
    Rng& r = s->rng;
    if (s->stopped_ticks > 0) {
      // Standing: position, heading, elevation and grade stay put.
      if (--s->stopped_ticks == 0) {
        s->status = 0;
        s->velocity = r.Range(50, 200);
      }
      return;
    }
    if (r.Below(1000000) < s->stop_per_million) {
      s->stopped_ticks = static_cast<int>(r.Range(6, 180));  // 1 to 30 minutes
      s->velocity = 0;
      s->fuel_consumption = 0;
      s->status = 1;
      s->load = r.Range(0, s->load_capacity);  // loading or unloading
      return;
    }
    s->velocity = std::clamp<int64_t>(s->velocity + r.Range(-20, 20), 50, 1000);
    s->heading = (s->heading + r.Range(-50, 50) + 3600) % 3600;
    const int dir = static_cast<int>(((s->heading + 225) / 450) % 8);
    // 0.1 km/h for 10 s ≈ velocity/4 units of 1e-5 degree.
    const int64_t dist = s->velocity / 4;
    s->lat = std::clamp<int64_t>(s->lat + dist * kCos[dir] / 1000, -8999999, 8999999);
    s->lon += dist * kSin[dir] / 1000;
    if (s->lon > 18000000) s->lon -= 36000000;
    if (s->lon < -18000000) s->lon += 36000000;
    s->elevation = std::clamp<int64_t>(s->elevation + r.Range(-3, 3), 0, 5000);
    s->grade = std::clamp<int64_t>(s->grade + r.Range(-1, 1), 0, 100);
    s->fuel_consumption =
        std::clamp<int64_t>(s->nominal * (500 + s->velocity / 2) / 100 + r.Range(-5, 5), 0, 500);
    if (r.Below(4) == 0) s->fuel_state -= 1;
    if (s->fuel_state < 10) s->fuel_state = 100;  // refuelled
    s->status = r.Below(1000) == 0 ? r.Range(2, 5) : 0;
  }

  // About 1% of points arrive late: half by up to a minute (out of order
  // within the stream), half by up to an hour (late for their time window).
  void Route(std::string* out, State* s, Pending p) {
    if (s->rng.Below(1000) < 10) {
      const int64_t delay = s->rng.Below(2) == 0 ? s->rng.Range(1, 6) : s->rng.Range(7, 360);
      ++late_lines_;
      pending_.emplace(tick_ + delay, std::move(p));
      return;
    }
    Emit(out, p);
  }

  void Emit(std::string* out, const Pending& p) {
    out->append(p.line);
    ++lines_;
    values_ += static_cast<uint64_t>(p.values);
  }

  GenerateOptions options_;
  int64_t ticks_;
  int64_t tick_ = 0;
  std::vector<State> trucks_{};
  std::multimap<int64_t, Pending> pending_{};  // due tick → line; equal keys keep insertion order
  std::string line_{};
};

// ------------------------------------------------------------ sensors ----

constexpr const char* kKinds[] = {"hvac", "cold_room", "outdoor", "machine"};
constexpr int64_t kKindTemp[] = {2150, 400, 1000, 4500};  // 0.01 °C
constexpr int kSensorsPerSite = 16;

class SensorsGenerator : public Generator {
 public:
  explicit SensorsGenerator(const GenerateOptions& o) : options_(o), ticks_(Ticks(o, kNanosPerSecond)) {
    for (int i = 0; i < o.scale; i++) {
      State s{.rng = DeviceRng(o.seed, i)};
      const size_t kind = s.rng.Below(4);
      char id[16];
      std::snprintf(id, sizeof(id), "s%05d", i);
      s.prefix = "sensors,site=site_" + std::to_string(i / kSensorsPerSite) + ",sensor_id=" + id +
                 ",kind=" + kKinds[kind] + " ";
      s.temperature = kKindTemp[kind] + s.rng.Range(-300, 300);
      s.humidity = s.rng.Range(2000, 8000);
      s.pressure = s.rng.Range(99000, 103000);
      sensors_.push_back(std::move(s));
    }
  }
  int64_t interval_ns() const override { return kNanosPerSecond; }
  int values_per_tick_per_device() const override { return 3; }
  int lines_per_tick_per_device() const override { return 1; }

  bool NextTick(std::string* out) override {
    if (tick_ >= ticks_) return false;
    const int64_t ts = options_.start_ns + tick_ * kNanosPerSecond;
    for (auto& s : sensors_) {
      Rng& r = s.rng;
      // Physical quantities drift slowly: most seconds read the same value.
      if (r.Below(10) < 3) s.temperature = std::clamp<int64_t>(s.temperature + r.Range(-3, 3), -4000, 9000);
      if (r.Below(10) < 2) s.humidity = std::clamp<int64_t>(s.humidity + r.Range(-5, 5), 0, 10000);
      if (r.Below(10) < 1) s.pressure = std::clamp<int64_t>(s.pressure + r.Range(-2, 2), 95000, 106000);
      out->append(s.prefix);
      out->append("temperature=");
      AppendFixed(out, s.temperature, 2);
      out->append(",humidity=");
      AppendFixed(out, s.humidity, 2);
      out->append(",pressure=");
      AppendFixed(out, s.pressure, 2);
      out->push_back(' ');
      AppendInt(out, ts);
      out->push_back('\n');
    }
    lines_ += sensors_.size();
    values_ += 3 * sensors_.size();
    ++tick_;
    return true;
  }

 private:
  struct State {
    Rng rng;
    std::string prefix{};
    int64_t temperature = 0;  // 0.01 °C
    int64_t humidity = 0;     // 0.01 %
    int64_t pressure = 0;     // 0.01 hPa
  };
  GenerateOptions options_;
  int64_t ticks_;
  int64_t tick_ = 0;
  std::vector<State> sensors_{};
};

}  // namespace

// Appends `units` / 10^decimals as the shortest decimal ("52.1", "1200", "-0.5").
void AppendFixed(std::string* out, int64_t units, int decimals) {
  char buf[40];
  char* p = buf;
  uint64_t u = static_cast<uint64_t>(units);
  if (units < 0) {
    *p++ = '-';
    u = 0 - u;  // INT64_MIN too
  }
  const uint64_t pow = static_cast<uint64_t>(kPow10[decimals]);
  uint64_t ip = u / pow;
  uint64_t fp = u % pow;
  p = std::to_chars(p, buf + sizeof(buf), ip).ptr;
  if (fp != 0) {
    *p++ = '.';
    char d[8];
    for (int k = decimals - 1; k >= 0; --k) {
      d[k] = static_cast<char>('0' + fp % 10);
      fp /= 10;
    }
    int n = decimals;
    while (n > 0 && d[n - 1] == '0') --n;
    std::memcpy(p, d, static_cast<size_t>(n));
    p += n;
  }
  out->append(buf, static_cast<size_t>(p - buf));
}

absl::StatusOr<int64_t> ParseDuration(std::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("empty duration");
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    int64_t n = 0;
    auto r = std::from_chars(text.data() + i, text.data() + text.size(), n);
    if (r.ec != std::errc() || r.ptr == text.data() + text.size()) {
      return absl::InvalidArgumentError("bad duration '" + std::string(text) + "' (want e.g. 10m, 12h, 1d)");
    }
    i = static_cast<size_t>(r.ptr - text.data());
    int64_t unit = 0;
    switch (text[i]) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'w':
        unit = 7 * 86400;
        break;
      default:
        return absl::InvalidArgumentError("bad duration unit in '" + std::string(text) + "' (s, m, h, d, w)");
    }
    ++i;
    total += n * unit * kNanosPerSecond;
  }
  if (total <= 0) return absl::InvalidArgumentError("duration must be positive");
  return total;
}

std::string FormatDuration(int64_t ns) {
  int64_t s = ns / kNanosPerSecond;
  if (s == 0) return "0s";
  std::string out;
  const std::pair<int64_t, char> units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
  for (auto [len, c] : units) {
    if (s >= len) {
      out += std::to_string(s / len);
      out.push_back(c);
      s %= len;
    }
  }
  return out;
}

std::vector<Truck> IotTrucks(const GenerateOptions& options) {
  std::vector<Truck> out;
  for (int i = 0; i < options.scale; i++) out.push_back(MakeTruck(options.seed, i));
  return out;
}

absl::StatusOr<std::unique_ptr<Generator>> Generator::Create(const GenerateOptions& options) {
  if (options.scale <= 0) return absl::InvalidArgumentError("--scale must be positive");
  if (options.duration_ns <= 0) return absl::InvalidArgumentError("--duration must be positive");
  if (options.profile == "iot") return std::unique_ptr<Generator>(new IotGenerator(options));
  if (options.profile == "sensors") return std::unique_ptr<Generator>(new SensorsGenerator(options));
  return absl::InvalidArgumentError("unknown profile '" + options.profile + "' (iot or sensors)");
}

absl::Status GenerateChunks(const GenerateOptions& options, size_t chunk_bytes,
                            const std::function<absl::Status(std::string_view chunk)>& sink) {
  auto gen = Generator::Create(options);
  if (!gen.ok()) return gen.status();
  std::string buf;
  buf.reserve(chunk_bytes + (1 << 16));
  auto drain = [&](bool all) -> absl::Status {
    size_t pos = 0;
    while (buf.size() - pos >= chunk_bytes || (all && pos < buf.size())) {
      size_t len = std::min(chunk_bytes, buf.size() - pos);
      if (pos + len < buf.size()) {
        // Cut after the last whole line that fits (or the first line if it alone is longer).
        size_t nl = buf.rfind('\n', pos + len - 1);
        if (nl == std::string::npos || nl < pos) nl = buf.find('\n', pos);
        len = nl + 1 - pos;
      }
      absl::Status st = sink(std::string_view(buf).substr(pos, len));
      if (!st.ok()) return st;
      pos += len;
    }
    buf.erase(0, pos);
    return absl::OkStatus();
  };
  while ((*gen)->NextTick(&buf)) {
    if (buf.size() >= chunk_bytes) {
      absl::Status st = drain(false);
      if (!st.ok()) return st;
    }
  }
  return drain(true);
}

absl::Status GenerateToOutput(const GenerateOptions& options, const std::string& out, uint64_t file_bytes) {
  uint64_t bytes = 0;
  int files = 0;
  std::FILE* f = nullptr;
  uint64_t in_file = 0;
  const bool to_stdout = out == "-";
  if (!to_stdout) {
    std::error_code ec;
    std::filesystem::create_directories(out, ec);
    if (ec) return absl::InternalError("create " + out + ": " + ec.message());
  }
  const size_t chunk = static_cast<size_t>(std::min<uint64_t>(file_bytes, 4u << 20));
  auto t0 = std::chrono::steady_clock::now();
  absl::Status st = GenerateChunks(options, chunk, [&](std::string_view c) -> absl::Status {
    if (to_stdout) {
      if (std::fwrite(c.data(), 1, c.size(), stdout) != c.size())
        return absl::InternalError("write to stdout failed");
    } else {
      if (f == nullptr || in_file + c.size() > file_bytes) {
        if (f != nullptr && std::fclose(f) != 0) return absl::InternalError("close failed");
        char name[32];
        std::snprintf(name, sizeof(name), "data-%05d.lp", files++);
        std::string path = out + "/" + name;
        f = std::fopen(path.c_str(), "wb");
        if (f == nullptr) return absl::InternalError("open " + path + ": " + std::strerror(errno));
        in_file = 0;
      }
      if (std::fwrite(c.data(), 1, c.size(), f) != c.size()) return absl::InternalError("write failed");
      in_file += c.size();
    }
    bytes += c.size();
    return absl::OkStatus();
  });
  if (f != nullptr && std::fclose(f) != 0 && st.ok()) st = absl::InternalError("close failed");
  if (to_stdout) std::fflush(stdout);
  if (!st.ok()) return st;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "generated %.1f MB of %s line protocol in %.2f s (%.0f MB/s)%s%s\n", bytes / 1e6,
               options.profile.c_str(), secs, bytes / 1e6 / std::max(secs, 1e-9), to_stdout ? "" : " into ",
               to_stdout ? "" : out.c_str());
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadData(const std::string& dir) {
  std::string data;
  if (dir == "-") {
    char buf[1 << 16];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), stdin)) > 0) data.append(buf, n);
    return data;
  }
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  if (std::filesystem::is_regular_file(dir, ec)) {
    files.push_back(dir);
  } else {
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      if (e.path().extension() == ".lp") files.push_back(e.path());
    }
    if (ec) return absl::NotFoundError("read " + dir + ": " + ec.message());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) return absl::NotFoundError("no .lp files in " + dir);
  for (const auto& p : files) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    data += ss.str();
    if (!data.empty() && data.back() != '\n') data.push_back('\n');
  }
  return data;
}

}  // namespace m2mdb::bench
