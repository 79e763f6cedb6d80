#include "bench/m2mdb_bench/generate.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace m2mdb::bench {
namespace {

struct Line {
  std::string measurement;
  std::vector<std::pair<std::string, std::string>> tags;
  std::vector<std::pair<std::string, std::string>> fields;
  int64_t ts = 0;
};

std::vector<std::string> Split(const std::string& s, char c) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t n = s.find(c, pos);
    out.push_back(s.substr(pos, n == std::string::npos ? std::string::npos : n - pos));
    if (n == std::string::npos) break;
    pos = n + 1;
  }
  return out;
}

// The generator never escapes (no spaces or commas in names or tag values),
// so a plain split is a full parse.
Line ParseLine(const std::string& l) {
  Line out;
  auto parts = Split(l, ' ');
  EXPECT_EQ(parts.size(), 3u) << l;
  auto key = Split(parts[0], ',');
  out.measurement = key[0];
  for (size_t i = 1; i < key.size(); i++) {
    auto kv = Split(key[i], '=');
    out.tags.emplace_back(kv[0], kv[1]);
  }
  for (const auto& f : Split(parts[1], ',')) {
    auto kv = Split(f, '=');
    out.fields.emplace_back(kv[0], kv[1]);
  }
  out.ts = std::strtoll(parts[2].c_str(), nullptr, 10);
  return out;
}

std::string Generate(const GenerateOptions& o) {
  std::string out;
  EXPECT_TRUE(GenerateChunks(o, 1 << 20, [&](std::string_view c) {
                out.append(c);
                return absl::OkStatus();
              }).ok());
  return out;
}

std::vector<Line> Lines(const std::string& data) {
  std::vector<Line> out;
  for (const auto& l : Split(data, '\n')) {
    if (!l.empty()) out.push_back(ParseLine(l));
  }
  return out;
}

int Decimals(const std::string& v) {
  size_t dot = v.find('.');
  return dot == std::string::npos ? 0 : static_cast<int>(v.size() - dot - 1);
}

GenerateOptions Iot(int scale, const char* duration, uint64_t seed = 7) {
  GenerateOptions o;
  o.profile = "iot";
  o.scale = scale;
  o.duration_ns = *ParseDuration(duration);
  o.seed = seed;
  return o;
}

TEST(Generate, SameSeedGivesSameBytes) {
  for (const char* profile : {"iot", "sensors"}) {
    GenerateOptions o = Iot(20, "2h");
    o.profile = profile;
    std::string a = Generate(o), b = Generate(o);
    EXPECT_FALSE(a.empty());
    EXPECT_EQ(a, b) << profile;
    o.seed = 8;
    EXPECT_NE(a, Generate(o)) << profile;
  }
}

TEST(Generate, ChunkingDoesNotChangeTheBytesAndCutsAtLineEnds) {
  GenerateOptions o = Iot(7, "30m");
  std::string whole = Generate(o);
  std::string pieces;
  ASSERT_TRUE(GenerateChunks(o, 1000, [&](std::string_view c) {
                EXPECT_LE(c.size(), 1000u);
                EXPECT_EQ(c.back(), '\n');
                pieces.append(c);
                return absl::OkStatus();
              }).ok());
  EXPECT_EQ(whole, pieces);
}

TEST(Generate, IotHasTheTsbsSchemaAndTypes) {
  const std::vector<std::string> kTags = {
      "name",           "fleet",         "driver",        "model",
      "device_version", "load_capacity", "fuel_capacity", "nominal_fuel_consumption"};
  const std::vector<std::string> kReadings = {"latitude", "longitude", "elevation",       "velocity",
                                              "heading",  "grade",     "fuel_consumption"};
  const std::vector<std::string> kDiag = {"fuel_state", "current_load", "status"};
  auto lines = Lines(Generate(Iot(10, "1h")));
  ASSERT_EQ(lines.size(), 10u * 360 * 2);
  int readings = 0;
  for (const Line& l : lines) {
    std::vector<std::string> tags, fields;
    for (auto& t : l.tags) tags.push_back(t.first);
    for (auto& f : l.fields) fields.push_back(f.first);
    EXPECT_EQ(tags, kTags);
    if (l.measurement == "readings") {
      ++readings;
      ASSERT_EQ(fields, kReadings);
      for (auto& [k, v] : l.fields) EXPECT_NE(v.back(), 'i') << k << " must be a float";
    } else {
      ASSERT_EQ(l.measurement, "diagnostics");
      ASSERT_EQ(fields, kDiag);
      EXPECT_EQ(l.fields[2].second.back(), 'i') << "status is an integer field";
      EXPECT_NE(l.fields[0].second.back(), 'i');
    }
  }
  EXPECT_EQ(readings, 3600);
}

TEST(Generate, IotValuesStayInRangeWithSensorPrecision) {
  auto lines = Lines(Generate(Iot(25, "6h")));
  for (const Line& l : lines) {
    std::map<std::string, std::string> f(l.fields.begin(), l.fields.end());
    std::map<std::string, std::string> t(l.tags.begin(), l.tags.end());
    if (l.measurement == "readings") {
      double lat = std::stod(f["latitude"]), lon = std::stod(f["longitude"]);
      EXPECT_GE(lat, -90);
      EXPECT_LE(lat, 90);
      EXPECT_GE(lon, -180);
      EXPECT_LE(lon, 180);
      EXPECT_LE(Decimals(f["latitude"]), 5);
      EXPECT_LE(Decimals(f["longitude"]), 5);
      double v = std::stod(f["velocity"]);
      EXPECT_GE(v, 0);
      EXPECT_LE(v, 100);
      EXPECT_LE(Decimals(f["velocity"]), 1);
      EXPECT_EQ(Decimals(f["elevation"]), 0) << "elevation is integer-valued";
      double e = std::stod(f["elevation"]);
      EXPECT_GE(e, 0);
      EXPECT_LE(e, 5000);
      double h = std::stod(f["heading"]);
      EXPECT_GE(h, 0);
      EXPECT_LT(h, 360);
      double g = std::stod(f["grade"]);
      EXPECT_GE(g, 0);
      EXPECT_LE(g, 100);
      double fc = std::stod(f["fuel_consumption"]);
      EXPECT_GE(fc, 0);
      EXPECT_LE(fc, 50);
    } else {
      double fs = std::stod(f["fuel_state"]);
      EXPECT_GE(fs, 0);
      EXPECT_LE(fs, 1);
      EXPECT_LE(Decimals(f["fuel_state"]), 2);
      double load = std::stod(f["current_load"]);
      EXPECT_GE(load, 0);
      EXPECT_LE(load, std::stod(t["load_capacity"]));
      int status = std::atoi(f["status"].c_str());
      EXPECT_GE(status, 0);
      EXPECT_LE(status, 5);
    }
  }
}

TEST(Generate, EveryTruckHasOnePointPer10sAndAboutOnePercentArriveLate) {
  GenerateOptions o = Iot(50, "4h");
  auto gen = Generator::Create(o);
  ASSERT_TRUE(gen.ok());
  std::string data;
  while ((*gen)->NextTick(&data)) {
  }
  auto lines = Lines(data);
  const int64_t ticks = 4 * 360;
  ASSERT_EQ(lines.size(), static_cast<size_t>(50 * ticks * 2));
  EXPECT_EQ((*gen)->lines(), lines.size());
  EXPECT_EQ((*gen)->values(), static_cast<uint64_t>(50 * ticks * 10));
  std::map<std::string, std::vector<int64_t>> times;  // measurement+truck → timestamps
  int64_t max_seen = 0;
  int out_of_order = 0;
  for (const Line& l : lines) {
    times[l.measurement + l.tags[0].second].push_back(l.ts);
    if (l.ts < max_seen) ++out_of_order;
    max_seen = std::max(max_seen, l.ts);
  }
  ASSERT_EQ(times.size(), 100u);
  for (auto& [k, v] : times) {
    std::sort(v.begin(), v.end());
    ASSERT_EQ(v.size(), static_cast<size_t>(ticks)) << k;
    for (int64_t i = 0; i < ticks; i++) ASSERT_EQ(v[i], o.start_ns + i * 10 * kNanosPerSecond) << k;
  }
  const double late_share = static_cast<double>((*gen)->late_lines()) / lines.size();
  EXPECT_GT(late_share, 0.005);
  EXPECT_LT(late_share, 0.02);
  EXPECT_GT(out_of_order, 0);
  EXPECT_LE(out_of_order, static_cast<int>((*gen)->late_lines()));
}

TEST(Generate, TrucksStandStillSometimes) {
  auto lines = Lines(Generate(Iot(20, "12h")));
  std::map<std::string, std::pair<std::string, std::string>> last_pos;
  int idle_with_same_position = 0, idle = 0;
  for (const Line& l : lines) {
    if (l.measurement != "readings") continue;
    std::map<std::string, std::string> f(l.fields.begin(), l.fields.end());
    auto pos = std::make_pair(f["latitude"], f["longitude"]);
    if (f["velocity"] == "0") {
      ++idle;
      if (last_pos[l.tags[0].second] == pos) ++idle_with_same_position;
    }
    last_pos[l.tags[0].second] = pos;
  }
  EXPECT_GT(idle, 100);
  EXPECT_GT(idle_with_same_position, idle / 2);
  EXPECT_LT(idle, static_cast<int>(lines.size() / 2 / 2)) << "trucks mostly drive";
}

TEST(Generate, SensorsEmitThreeTwoDecimalFieldsEverySecond) {
  GenerateOptions o;
  o.profile = "sensors";
  o.scale = 40;
  o.duration_ns = *ParseDuration("5m");
  auto lines = Lines(Generate(o));
  ASSERT_EQ(lines.size(), 40u * 300);
  std::set<std::string> sites;
  for (size_t i = 0; i < lines.size(); i++) {
    const Line& l = lines[i];
    EXPECT_EQ(l.measurement, "sensors");
    ASSERT_EQ(l.tags.size(), 3u);
    EXPECT_EQ(l.tags[0].first, "site");
    EXPECT_EQ(l.tags[1].first, "sensor_id");
    EXPECT_EQ(l.tags[2].first, "kind");
    sites.insert(l.tags[0].second);
    ASSERT_EQ(l.fields.size(), 3u);
    EXPECT_EQ(l.fields[0].first, "temperature");
    EXPECT_EQ(l.fields[1].first, "humidity");
    EXPECT_EQ(l.fields[2].first, "pressure");
    for (auto& [k, v] : l.fields) EXPECT_LE(Decimals(v), 2) << k << "=" << v;
    double hum = std::stod(l.fields[1].second);
    EXPECT_GE(hum, 0);
    EXPECT_LE(hum, 100);
    EXPECT_EQ(l.ts, o.start_ns + static_cast<int64_t>(i / 40) * kNanosPerSecond);
  }
  EXPECT_EQ(sites.size(), 3u);  // 16 sensors per site
}

TEST(Generate, RejectsBadOptions) {
  GenerateOptions o;
  o.profile = "nope";
  EXPECT_FALSE(Generator::Create(o).ok());
  o.profile = "iot";
  o.scale = 0;
  EXPECT_FALSE(Generator::Create(o).ok());
}

TEST(Duration, ParsesAndFormats) {
  EXPECT_EQ(*ParseDuration("10m"), 600 * kNanosPerSecond);
  EXPECT_EQ(*ParseDuration("1d"), 86400 * kNanosPerSecond);
  EXPECT_EQ(*ParseDuration("1h30m"), 5400 * kNanosPerSecond);
  EXPECT_FALSE(ParseDuration("").ok());
  EXPECT_FALSE(ParseDuration("10").ok());
  EXPECT_FALSE(ParseDuration("5x").ok());
  EXPECT_EQ(FormatDuration(5400 * kNanosPerSecond), "1h30m");
  EXPECT_EQ(FormatDuration(86400 * kNanosPerSecond), "1d");
}

}  // namespace
}  // namespace m2mdb::bench
