#include "bench/m2mdb_bench/query_suite.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include <time.h>

#include "client/json.h"

#include "bench/m2mdb_bench/http.h"

namespace m2mdb::bench {

using client::Json;
using client::ParseJson;
namespace {

constexpr int64_t kHour = 3600 * kNanosPerSecond;
constexpr int64_t kMinute = 60 * kNanosPerSecond;
constexpr int64_t kDay = 24 * kHour;
constexpr int64_t kTick = 10 * kNanosPerSecond;

std::string Rfc3339(int64_t ns) {
  time_t s = static_cast<time_t>(ns / kNanosPerSecond);
  struct tm tm;
  gmtime_r(&s, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Range(int64_t from, int64_t to) {
  return "time >= '" + Rfc3339(from) + "' AND time < '" + Rfc3339(to) + "'";
}

int Ceil(int64_t a, int64_t b) { return static_cast<int>((a + b - 1) / b); }
double Sec(int64_t ns) { return static_cast<double>(ns) / 1e9; }

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// VictoriaMetrics windows are (t - w, t]: its times end 1 ms early to match
// InfluxQL's [t0, t0 + w).
constexpr double kVmShift = 0.001;

// A range query over [from, from + len) in steps of `step`, as VictoriaMetrics
// labels each step by its window's end.
void SetVmRange(QuerySpec* q, int64_t from, int64_t len, int64_t step) {
  q->vm_range = true;
  q->vm_step_s = Sec(step);
  q->vm_start_s = Sec(from + step) - kVmShift;
  q->vm_end_s = q->vm_start_s + (Ceil(len, step) - 1) * q->vm_step_s;
}

}  // namespace

std::vector<QuerySpec> IotSuite(const GenerateOptions& gen) {
  const int64_t t0 = gen.start_ns;
  // The data covers [t0, t0 + ticks * 10 s).
  const int64_t span = std::max<int64_t>(1, gen.duration_ns / kTick) * kTick;
  const int64_t day = std::min(span, kDay);
  const int64_t hour = std::min(span, kHour);
  const int64_t half_day = std::min(span, 12 * kHour);
  const int64_t four_hours = std::min(span, 4 * kHour);
  const int64_t ten_min = std::min(span, 10 * kMinute);
  // A window in the middle of the data, on an hour boundary.
  const int64_t mid = t0 + (span >= 2 * kHour ? (span / 2) / kHour * kHour : 0);
  const int n = gen.scale;
  std::set<std::string> fleet_set;
  for (const auto& t : IotTrucks(gen)) fleet_set.insert(t.fleet);
  const int fleets = static_cast<int>(fleet_set.size());
  const int ten = std::min(10, n);
  std::string ten_or, ten_re;
  for (int i = 0; i < ten; i++) {
    ten_or += (i ? " OR " : "") + std::string("\"name\" = 'truck_") + std::to_string(i) + "'";
    ten_re += (i ? "|" : "") + std::to_string(i);
  }
  const double ms = kVmShift;
  auto range = SetVmRange;
  std::vector<QuerySpec> s;
  {
    QuerySpec q{.name = "lastpoint", .description = "last known latitude/longitude of every truck"};
    q.influxql = "SELECT last(\"latitude\"), last(\"longitude\") FROM \"readings\" GROUP BY \"name\"";
    q.series = n, q.rows_per_series = 1;
    q.metricsql =
        "last_over_time({__name__=~\"readings_(latitude|longitude)\"}[" + FormatDuration(span + kHour) + "])";
    q.vm_time_s = Sec(t0 + span);
    q.vm_series = 2 * n;
    s.push_back(q);
  }
  {
    QuerySpec q{.name = "avg-velocity-fleet-1h",
                .description = "mean velocity per fleet per hour over the day"};
    q.influxql = "SELECT mean(\"velocity\") FROM \"readings\" WHERE " + Range(t0, t0 + day) +
                 " GROUP BY time(1h), \"fleet\"";
    q.series = fleets, q.rows_per_series = Ceil(day, kHour);
    q.metricsql =
        "sum by (fleet) (sum_over_time(readings_velocity[1h])) / sum by (fleet) "
        "(count_over_time(readings_velocity[1h]))";
    range(&q, t0, day, kHour);
    q.vm_series = fleets;
    s.push_back(q);
  }
  {
    QuerySpec q{.name = "max-fuel-1h", .description = "max fuel_consumption per truck in a one-hour window"};
    q.influxql = "SELECT max(\"fuel_consumption\") FROM \"readings\" WHERE " + Range(mid, mid + hour) +
                 " GROUP BY \"name\"";
    q.series = n, q.rows_per_series = 1;
    q.metricsql = "max_over_time(readings_fuel_consumption[" + FormatDuration(hour) + "])";
    q.vm_time_s = Sec(mid + hour) - ms;
    q.vm_series = n;
    s.push_back(q);
  }
  {
    QuerySpec q{.name = "count-truck-day", .description = "count of one truck's readings over the day"};
    q.influxql =
        "SELECT count(\"velocity\") FROM \"readings\" WHERE \"name\" = 'truck_0' AND " + Range(t0, t0 + day);
    q.series = 1, q.rows_per_series = 1;
    q.check_value = true, q.value = static_cast<double>(day / kTick);
    q.metricsql = "count_over_time(readings_velocity{name=\"truck_0\"}[" + FormatDuration(day) + "])";
    q.vm_time_s = Sec(t0 + day) - ms;
    q.vm_series = 1;
    s.push_back(q);
  }
  {
    QuerySpec q{.name = "raw-truck-1h", .description = "all of one truck's raw readings over one hour"};
    q.influxql = "SELECT * FROM \"readings\" WHERE \"name\" = 'truck_0' AND " + Range(mid, mid + hour);
    q.series = 1, q.rows_per_series = static_cast<int>(hour / kTick);
    q.metricsql = "{__name__=~\"readings_.*\",name=\"truck_0\"}[" + FormatDuration(hour) + "]";
    q.vm_time_s = Sec(mid + hour) - ms;
    q.vm_series = 7;
    q.vm_samples = 7 * (hour / kTick);
    s.push_back(q);
  }
  {
    QuerySpec q{.name = "10-trucks-10m-12h",
                .description = "mean velocity and fuel_consumption per 10 minutes, 10 trucks, 12 hours"};
    q.influxql = "SELECT mean(\"velocity\"), mean(\"fuel_consumption\") FROM \"readings\" WHERE (" + ten_or +
                 ") AND " + Range(t0, t0 + half_day) + " GROUP BY time(10m), \"name\"";
    q.series = ten, q.rows_per_series = Ceil(half_day, 10 * kMinute);
    q.metricsql = "avg_over_time({__name__=~\"readings_(velocity|fuel_consumption)\",name=~\"truck_(" +
                  ten_re + ")\"}[10m])";
    range(&q, t0, half_day, 10 * kMinute);
    q.vm_series = 2 * ten;
    s.push_back(q);
  }
  // From TSBS's iot queries, without subqueries (the outer filter of TSBS's
  // form is a trivial pass over these answers).
  {
    QuerySpec q{.name = "high-load",
                .description = "TSBS high-load: last current_load per truck and capacity"};
    q.influxql = "SELECT last(\"current_load\") FROM \"diagnostics\" GROUP BY \"name\", \"load_capacity\"";
    q.series = n, q.rows_per_series = 1;
    q.metricsql = "last_over_time(diagnostics_current_load[" + FormatDuration(span + kHour) + "])";
    q.vm_time_s = Sec(t0 + span);
    q.vm_series = n;
    s.push_back(q);
  }
  {
    QuerySpec q{.name = "stationary-trucks",
                .description = "TSBS stationary-trucks: mean velocity per truck, 10 min"};
    q.influxql = "SELECT mean(\"velocity\") FROM \"readings\" WHERE " + Range(mid, mid + ten_min) +
                 " GROUP BY \"name\"";
    q.series = n, q.rows_per_series = 1;
    q.metricsql = "avg_over_time(readings_velocity[" + FormatDuration(ten_min) + "])";
    q.vm_time_s = Sec(mid + ten_min) - ms;
    q.vm_series = n;
    s.push_back(q);
  }
  {
    QuerySpec q{.name = "long-driving-sessions",
                .description = "TSBS long-driving-sessions: mean velocity per truck per 10 min over 4 hours"};
    q.influxql = "SELECT mean(\"velocity\") FROM \"readings\" WHERE " + Range(t0, t0 + four_hours) +
                 " GROUP BY time(10m), \"name\"";
    q.series = n, q.rows_per_series = Ceil(four_hours, 10 * kMinute);
    q.metricsql = "avg_over_time(readings_velocity[10m])";
    range(&q, t0, four_hours, 10 * kMinute);
    q.vm_series = n;
    s.push_back(q);
  }
  {
    QuerySpec q{.name = "avg-daily-load-fleet",
                .description = "TSBS avg-load: daily mean current_load per fleet"};
    q.influxql = "SELECT mean(\"current_load\") FROM \"diagnostics\" WHERE " + Range(t0, t0 + span) +
                 " GROUP BY time(1d), \"fleet\"";
    q.series = fleets, q.rows_per_series = Ceil(span, kDay);
    q.metricsql =
        "sum by (fleet) (sum_over_time(diagnostics_current_load[1d])) / sum by (fleet) "
        "(count_over_time(diagnostics_current_load[1d]))";
    range(&q, t0, span, kDay);
    q.vm_series = fleets;
    s.push_back(q);
  }
  return s;
}

namespace {

// Sensor 0's temperatures (0.01 °C) at [from, to): a device's values do not
// depend on how many devices there are, so a one-sensor generator replays
// them exactly and the filter query's answer size can be checked.
std::vector<int64_t> SensorZeroTemperatures(const GenerateOptions& gen, int64_t from, int64_t to) {
  GenerateOptions one = gen;
  one.scale = 1;
  one.duration_ns = to - gen.start_ns;
  std::vector<int64_t> out;
  auto g = Generator::Create(one);
  if (!g.ok()) return out;
  std::string lines;
  int64_t ts = gen.start_ns;
  while ((*g)->NextTick(&lines)) {
    if (ts >= from) {
      const size_t at = lines.find("temperature=");
      if (at != std::string::npos) {
        out.push_back(std::llround(std::strtod(lines.c_str() + at + 12, nullptr) * 100));
      }
    }
    lines.clear();
    ts += kNanosPerSecond;
  }
  return out;
}

std::string Hundredths(int64_t units) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%s%lld.%02lld", units < 0 ? "-" : "",
                static_cast<long long>(std::llabs(units) / 100),
                static_cast<long long>(std::llabs(units) % 100));
  return buf;
}

}  // namespace

std::vector<QuerySpec> SensorsSuite(const GenerateOptions& gen) {
  const int64_t t0 = gen.start_ns;
  // The data covers [t0, t0 + ticks * 1 s).
  const int64_t span = std::max<int64_t>(1, gen.duration_ns / kNanosPerSecond) * kNanosPerSecond;
  const int64_t hour = std::min(span, kHour);
  const int64_t half_day = std::min(span, 12 * kHour);
  const int64_t mid = t0 + (span >= 2 * kHour ? (span / 2) / kHour * kHour : 0);
  const int n = gen.scale;
  const int sites = (n + 15) / 16;  // the generator puts 16 sensors on a site
  const int ten = std::min(10, n);
  std::string ten_or, ten_re;
  for (int i = 0; i < ten; i++) {
    char id[16];
    std::snprintf(id, sizeof(id), "s%05d", i);
    ten_or += (i ? " OR " : "") + std::string("\"sensor_id\" = '") + id + "'";
    ten_re += (i ? "|" : "") + std::string(id);
  }
  const std::string one = "\"sensor_id\" = 's00000'";
  const std::string one_vm = "sensor_id=\"s00000\"";
  const double ms = kVmShift;
  auto range = SetVmRange;
  std::vector<QuerySpec> s;
  {
    QuerySpec q{.name = "last-all-sensors",
                .description = "last temperature/humidity/pressure of every sensor"};
    q.influxql =
        "SELECT last(\"temperature\"), last(\"humidity\"), last(\"pressure\") FROM \"sensors\" GROUP BY "
        "\"sensor_id\"";
    q.series = n, q.rows_per_series = 1;
    q.metricsql = "last_over_time({__name__=~\"sensors_(temperature|humidity|pressure)\"}[" +
                  FormatDuration(span + kHour) + "])";
    q.vm_time_s = Sec(t0 + span);
    q.vm_series = 3 * n;
    s.push_back(q);
  }
  {
    QuerySpec q{.name = "mean-temp-site-1h",
                .description = "mean temperature per site per hour, whole range"};
    q.influxql = "SELECT mean(\"temperature\") FROM \"sensors\" WHERE " + Range(t0, t0 + span) +
                 " GROUP BY time(1h), \"site\"";
    q.series = sites, q.rows_per_series = Ceil(span, kHour);
    q.metricsql =
        "sum by (site) (sum_over_time(sensors_temperature[1h])) / sum by (site) "
        "(count_over_time(sensors_temperature[1h]))";
    range(&q, t0, span, kHour);
    q.vm_series = sites;
    s.push_back(q);
  }
  {
    QuerySpec q{.name = "max-sensor-10m-12h",
                .description = "max temperature of one sensor per 10 min, 12 hours"};
    q.influxql = "SELECT max(\"temperature\") FROM \"sensors\" WHERE " + one + " AND " +
                 Range(t0, t0 + half_day) + " GROUP BY time(10m)";
    q.series = 1, q.rows_per_series = Ceil(half_day, 10 * kMinute);
    q.metricsql = "max_over_time(sensors_temperature{" + one_vm + "}[10m])";
    range(&q, t0, half_day, 10 * kMinute);
    q.vm_series = 1;
    s.push_back(q);
  }
  {
    QuerySpec q{.name = "raw-sensor-1h", .description = "all raw readings of one sensor over one hour"};
    q.influxql = "SELECT * FROM \"sensors\" WHERE " + one + " AND " + Range(mid, mid + hour);
    q.series = 1, q.rows_per_series = static_cast<int>(hour / kNanosPerSecond);
    q.metricsql = "{__name__=~\"sensors_.*\"," + one_vm + "}[" + FormatDuration(hour) + "]";
    q.vm_time_s = Sec(mid + hour) - ms;
    q.vm_series = 3;
    q.vm_samples = 3 * (hour / kNanosPerSecond);
    s.push_back(q);
  }
  {
    QuerySpec q{.name = "count-sensor-range", .description = "count of one sensor's readings, whole range"};
    q.influxql =
        "SELECT count(\"temperature\") FROM \"sensors\" WHERE " + one + " AND " + Range(t0, t0 + span);
    q.series = 1, q.rows_per_series = 1;
    q.check_value = true, q.value = static_cast<double>(span / kNanosPerSecond);
    q.metricsql = "count_over_time(sensors_temperature{" + one_vm + "}[" + FormatDuration(span) + "])";
    q.vm_time_s = Sec(t0 + span) - ms;
    q.vm_series = 1;
    s.push_back(q);
  }
  {
    QuerySpec q{.name = "minmaxmean-all-1h", .description = "min/max/mean temperature per sensor, one hour"};
    q.influxql =
        "SELECT min(\"temperature\"), max(\"temperature\"), mean(\"temperature\") FROM \"sensors\" WHERE " +
        Range(mid, mid + hour) + " GROUP BY \"sensor_id\"";
    q.series = n, q.rows_per_series = 1;
    // rollup() gives min, max and avg as three series per input series.
    q.metricsql = "rollup(sensors_temperature[" + FormatDuration(hour) + "])";
    q.vm_time_s = Sec(mid + hour) - ms;
    q.vm_series = 3 * n;
    s.push_back(q);
  }
  {
    // The threshold is the median of the hour, so the filter keeps about
    // half of the points and neither a full nor an empty answer passes.
    std::vector<int64_t> temps = SensorZeroTemperatures(gen, mid, mid + hour);
    std::vector<int64_t> sorted = temps;
    std::sort(sorted.begin(), sorted.end());
    const int64_t threshold = sorted.empty() ? 0 : sorted[sorted.size() / 2];
    const int above =
        static_cast<int>(std::count_if(temps.begin(), temps.end(), [&](int64_t t) { return t > threshold; }));
    QuerySpec q{.name = "temp-above-threshold",
                .description = "one sensor's readings above a temperature threshold, one hour"};
    q.influxql = "SELECT \"temperature\" FROM \"sensors\" WHERE " + one + " AND \"temperature\" > " +
                 Hundredths(threshold) + " AND " + Range(mid, mid + hour);
    q.series = above > 0 ? 1 : 0, q.rows_per_series = above;
    // A range query with a 1 s step samples every point once; the comparison
    // drops the steps at or below the threshold.
    q.metricsql = "sensors_temperature{" + one_vm + "} > " + Hundredths(threshold);
    range(&q, mid, hour, kNanosPerSecond);
    q.vm_series = above > 0 ? 1 : 0;
    q.vm_samples = above;
    s.push_back(q);
  }
  {
    QuerySpec q{.name = "10-sensors-1m-1h",
                .description = "mean temperature per minute, 10 sensors, one hour"};
    q.influxql = "SELECT mean(\"temperature\") FROM \"sensors\" WHERE (" + ten_or + ") AND " +
                 Range(mid, mid + hour) + " GROUP BY time(1m), \"sensor_id\"";
    q.series = ten, q.rows_per_series = Ceil(hour, kMinute);
    q.metricsql = "avg_over_time(sensors_temperature{sensor_id=~\"" + ten_re + "\"}[1m])";
    range(&q, mid, hour, kMinute);
    q.vm_series = ten;
    s.push_back(q);
  }
  {
    QuerySpec q{.name = "max-temp-site-1m-1h",
                .description = "max temperature per site per minute, one hour"};
    q.influxql = "SELECT max(\"temperature\") FROM \"sensors\" WHERE " + Range(mid, mid + hour) +
                 " GROUP BY time(1m), \"site\"";
    q.series = sites, q.rows_per_series = Ceil(hour, kMinute);
    q.metricsql = "max by (site) (max_over_time(sensors_temperature[1m]))";
    range(&q, mid, hour, kMinute);
    q.vm_series = sites;
    s.push_back(q);
  }
  {
    QuerySpec q{.name = "mean-humidity-range", .description = "mean humidity per sensor, whole range"};
    q.influxql = "SELECT mean(\"humidity\") FROM \"sensors\" WHERE " + Range(t0, t0 + span) +
                 " GROUP BY \"sensor_id\"";
    q.series = n, q.rows_per_series = 1;
    q.metricsql = "avg_over_time(sensors_humidity[" + FormatDuration(span) + "])";
    q.vm_time_s = Sec(t0 + span) - ms;
    q.vm_series = n;
    s.push_back(q);
  }
  return s;
}

std::vector<QuerySpec> SuiteFor(const GenerateOptions& gen) {
  if (gen.profile == "iot") return IotSuite(gen);
  if (gen.profile == "sensors") return SensorsSuite(gen);
  return {};
}

std::string QueryPath(const QuerySpec& spec, const std::string& target_kind, const std::string& db) {
  char num[64];
  if (target_kind == "vm") {
    // nocache=1: VictoriaMetrics would otherwise answer repeats from its
    // rollup result cache, which the others do not have.
    std::string p = spec.vm_range ? "/api/v1/query_range?nocache=1&query=" : "/api/v1/query?nocache=1&query=";
    p += UrlEncode(spec.metricsql);
    if (spec.vm_range) {
      std::snprintf(num, sizeof(num), "&start=%.3f&end=%.3f&step=%.0fs", spec.vm_start_s, spec.vm_end_s,
                    spec.vm_step_s);
    } else {
      std::snprintf(num, sizeof(num), "&time=%.3f", spec.vm_time_s);
    }
    return p + num;
  }
  return "/query?db=" + UrlEncode(db) + "&epoch=ns&q=" + UrlEncode(spec.influxql);
}

namespace {

void AppendNumber(std::string* out, const Json& v) {
  char buf[40];
  if (v.is_number()) {
    std::snprintf(buf, sizeof(buf), "%.6g", v.number());
    *out += buf;
  } else if (v.is_string()) {
    *out += v.text;
  } else if (v.is_null()) {
    *out += "null";
  } else {
    *out += v.kind == Json::kBool ? (v.boolean ? "true" : "false") : "?";
  }
}

}  // namespace

std::string CheckInfluxAnswer(const QuerySpec& spec, const std::string& body, std::string* canonical) {
  auto j = ParseJson(body);
  if (!j.ok()) return "answer is not JSON: " + std::string(j.status().message());
  const Json& res = (*j)["results"].at(0);
  if (!res["error"].is_null()) return "error: " + res["error"].text;
  if (!(*j)["error"].is_null()) return "error: " + (*j)["error"].text;
  const Json& series = res["series"];
  int nseries = static_cast<int>(series.items.size());
  if (spec.series >= 0 && nseries != spec.series) {
    return "expected " + std::to_string(spec.series) + " series, got " + std::to_string(nseries);
  }
  std::vector<std::string> parts;
  for (const Json& s : series.items) {
    const Json& values = s["values"];
    int rows = static_cast<int>(values.items.size());
    if (spec.rows_per_series >= 0 && rows != spec.rows_per_series) {
      std::string tags;
      for (const auto& [k, v] : s["tags"].members) tags += k + "=" + v.text + " ";
      return "expected " + std::to_string(spec.rows_per_series) + " rows per series, got " +
             std::to_string(rows) + " for " + s["name"].text + " " + tags;
    }
    std::string c = s["name"].text;
    for (const auto& [k, v] : s["tags"].members) c += "," + k + "=" + v.text;
    c += "|";
    for (const Json& col : s["columns"].items) c += col.text + ",";
    for (const Json& row : values.items) {
      c += "\n";
      for (const Json& v : row.items) {
        AppendNumber(&c, v);
        c += " ";
      }
    }
    parts.push_back(std::move(c));
  }
  if (spec.check_value) {
    const Json& v = series.at(0)["values"].at(0).at(1);
    if (!v.is_number() || v.number() != spec.value) {
      std::string got;
      AppendNumber(&got, v);
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%.0f", spec.value);
      return std::string("expected value ") + buf + ", got " + got;
    }
  }
  if (canonical != nullptr) {
    // Series order is by tags in InfluxDB; sort so a different (valid) order
    // does not count as a different answer.
    std::sort(parts.begin(), parts.end());
    canonical->clear();
    for (auto& p : parts) *canonical += p + "\n";
  }
  return "ok";
}

std::string CheckVmAnswer(const QuerySpec& spec, const std::string& body) {
  auto j = ParseJson(body);
  if (!j.ok()) return "answer is not JSON: " + std::string(j.status().message());
  if ((*j)["status"].text != "success") return "error: " + (*j)["error"].text;
  const Json& result = (*j)["data"]["result"];
  int nseries = static_cast<int>(result.items.size());
  if (spec.vm_series >= 0 && nseries != spec.vm_series) {
    return "expected " + std::to_string(spec.vm_series) + " series, got " + std::to_string(nseries);
  }
  int64_t samples = 0;
  for (const Json& s : result.items) samples += s["values"].is_array() ? s["values"].size() : 1;
  if (spec.vm_samples >= 0 && samples != spec.vm_samples) {
    return "expected " + std::to_string(spec.vm_samples) + " samples, got " + std::to_string(samples);
  }
  if (spec.check_value) {
    const Json& v = result.at(0)["value"].at(1);
    double got = v.is_string() ? std::strtod(v.text.c_str(), nullptr) : -1;
    if (got != spec.value) return "expected value " + std::to_string(spec.value) + ", got " + v.text;
  }
  return "ok";
}

std::vector<QueryRun> RunSuite(const SuiteOptions& options, const std::vector<QuerySpec>& suite) {
  HttpClient client(options.url, 120);
  std::vector<QueryRun> out;
  for (const QuerySpec& spec : suite) {
    QueryRun r{.name = spec.name};
    const std::string path = QueryPath(spec, options.target_kind, options.db);
    r.ok = true;
    r.check = "ok";
    for (int i = 0; i < options.warmup + options.runs; i++) {
      HttpAnswer a = client.Get(path);
      if (a.status == 404 || a.status == 501 || a.status == 405) {
        r.skipped = true;
        r.ok = false;
        r.skip_reason = "/query answered HTTP " + std::to_string(a.status);
        break;
      }
      if (!a.ok()) {
        r.ok = false;
        r.check = a.status == 0 ? "no answer: " + a.error
                                : "HTTP " + std::to_string(a.status) + ": " + Trim(a.body.substr(0, 200));
        break;
      }
      if (i == 0) {
        // Shape and values are checked once; later runs only time.
        r.check = options.target_kind == "vm" ? CheckVmAnswer(spec, a.body)
                                              : CheckInfluxAnswer(spec, a.body, &r.canonical);
        if (r.check != "ok") r.ok = false;
      }
      if (i >= options.warmup) r.ms.push_back(a.seconds * 1e3);
    }
    if (!r.ms.empty()) {
      std::vector<double> v = r.ms;
      std::sort(v.begin(), v.end());
      size_t n = v.size();
      r.median_ms = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
      r.p99_ms = v[std::min(n - 1, static_cast<size_t>(std::ceil(0.99 * n)) - 1)];
      r.min_ms = v.front();
      r.max_ms = v.back();
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::string FormatSuite(const std::vector<QuerySpec>& suite, const std::vector<QueryRun>& runs) {
  std::string out;
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%-24s %10s %10s %10s %10s  %s\n", "query", "median ms", "p99 ms", "min ms",
                "max ms", "check");
  out += buf;
  for (size_t i = 0; i < runs.size(); i++) {
    const QueryRun& r = runs[i];
    if (r.skipped) {
      std::snprintf(buf, sizeof(buf), "%-24s %10s %10s %10s %10s  SKIPPED: %s\n", r.name.c_str(), "n/a",
                    "n/a", "n/a", "n/a", r.skip_reason.c_str());
    } else {
      std::snprintf(buf, sizeof(buf), "%-24s %10.2f %10.2f %10.2f %10.2f  %s\n", r.name.c_str(), r.median_ms,
                    r.p99_ms, r.min_ms, r.max_ms, r.ok ? "ok" : ("WRONG: " + r.check).c_str());
    }
    out += buf;
  }
  (void)suite;
  return out;
}

}  // namespace m2mdb::bench
