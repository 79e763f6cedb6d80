// Text table and JSON for `compare`. Ratios are always "this target's figure
// divided by m2mdb's"; each row says whether higher or lower is better so
// the reader does not have to guess which way a ratio cuts.
#include "bench/m2mdb_bench/results.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>

#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "client/json.h"

#include "bench/m2mdb_bench/metrics.h"
#include "m2mdb/json.h"

namespace m2mdb::bench {

using client::Json;
using client::ParseJson;

Environment CurrentEnvironment(const std::string& command) {
  Environment e;
  time_t now = time(nullptr);
  struct tm tm;
  gmtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  e.date = buf;
  std::string model = "unknown CPU";
  std::ifstream cpu("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpu, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  double ram_gib = 0;
  std::ifstream mem("/proc/meminfo");
  while (std::getline(mem, line)) {
    if (line.rfind("MemTotal:", 0) == 0) ram_gib = std::strtod(line.c_str() + 9, nullptr) / 1024 / 1024;
  }
  struct utsname u;
  std::string kernel = uname(&u) == 0 ? std::string(u.sysname) + " " + u.release : "";
  std::snprintf(buf, sizeof(buf), "%ld", sysconf(_SC_NPROCESSORS_ONLN));
  char ram[32];
  std::snprintf(ram, sizeof(ram), "%.1f", ram_gib);
  e.machine = std::string(buf) + " CPUs (" + model + "), " + ram + " GiB RAM, " + kernel;
  e.command = command;
  return e;
}

namespace {

std::string Fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

std::string Human(double v) {
  if (v >= 1e6) return Fmt("%.2f M", v / 1e6);
  if (v >= 1e3) return Fmt("%.1f k", v / 1e3);
  return Fmt("%.0f", v);
}

std::string Pad(const std::string& s, size_t w) {
  // Width in characters, counting UTF-8 continuation bytes as nothing.
  size_t len = 0;
  for (unsigned char c : s) len += (c & 0xC0) != 0x80;
  return len >= w ? s : s + std::string(w - len, ' ');
}

}  // namespace

std::vector<Metric> CompareMetrics(const CompareResult& r) {
  int ref = -1;
  for (size_t i = 0; i < r.targets.size(); i++) {
    if (r.targets[i].name == "m2mdb" && r.targets[i].skipped.empty()) ref = static_cast<int>(i);
  }
  std::vector<Metric> out;
  auto add = [&](const std::string& label, const std::string& short_label, bool higher,
                 const std::function<std::optional<double>(const TargetFigures&)>& get,
                 const std::function<std::string(double)>& text) {
    Metric m{.label = label, .short_label = short_label, .higher_is_better = higher};
    for (const auto& t : r.targets) {
      MetricCell c;
      if (t.skipped.empty()) c.value = get(t);
      c.text = c.value ? text(*c.value) : "n/a";
      m.cells.push_back(c);
    }
    if (ref >= 0 && m.cells[ref].value && *m.cells[ref].value > 0) {
      for (size_t i = 0; i < m.cells.size(); i++) {
        if (static_cast<int>(i) != ref && m.cells[i].value)
          m.cells[i].ratio = *m.cells[i].value / *m.cells[ref].value;
      }
    }
    out.push_back(std::move(m));
  };
  add(
      "ingest (field values/s)", "ingest values/s", true,
      [](const TargetFigures& t) { return t.ingest_values_per_s; }, [](double v) { return Human(v); });
  add(
      "write latency p50 (ms)", "write p50", false, [](const TargetFigures& t) { return t.write_p50_ms; },
      [](double v) { return Fmt("%.2f", v); });
  add(
      "write latency p99 (ms)", "write p99", false, [](const TargetFigures& t) { return t.write_p99_ms; },
      [](double v) { return Fmt("%.2f", v); });
  add(
      "bytes per value (du)", "bytes/value", false, [](const TargetFigures& t) { return t.bytes_per_value; },
      [](double v) { return Fmt("%.3f", v); });
  add(
      "peak RSS (MB)", "peak RSS", false, [](const TargetFigures& t) { return t.peak_rss_mb; },
      [](double v) { return Fmt("%.0f", v); });
  add(
      "server CPU per value (µs)", "CPU/value", false,
      [](const TargetFigures& t) { return t.cpu_us_per_value; }, [](double v) { return Fmt("%.3f", v); });
  add(
      "restart to first /ping (s)", "restart→ping", false,
      [](const TargetFigures& t) { return t.restart_ping_s; }, [](double v) { return Fmt("%.3f", v); });
  add(
      "restart to first answer (s)", "restart→answer", false,
      [](const TargetFigures& t) { return t.restart_answer_s; }, [](double v) { return Fmt("%.3f", v); });
  // Query rows: the union of query names, in the order of the first target
  // that has them.
  std::vector<std::string> names;
  for (const auto& t : r.targets) {
    for (const auto& q : t.queries) {
      if (std::find(names.begin(), names.end(), q.name) == names.end()) names.push_back(q.name);
    }
  }
  for (const std::string& name : names) {
    Metric m{.label = "query " + name + " (ms)", .short_label = name, .higher_is_better = false};
    for (const auto& t : r.targets) {
      MetricCell c;
      c.text = "n/a";
      for (const auto& q : t.queries) {
        if (q.name != name || !t.skipped.empty()) continue;
        if (q.median_ms) {
          c.value = q.median_ms;
          c.text = Fmt("%.2f", *q.median_ms) + " [" + Fmt("%.2f", q.min_ms.value_or(0)) + "–" +
                   Fmt("%.2f", q.max_ms.value_or(0)) + "]";
          if (q.status != "ok") c.text += " !";
        } else if (q.status.rfind("SKIPPED", 0) == 0) {
          c.text = "n/a (no /query)";
        }
      }
      m.cells.push_back(c);
    }
    if (ref >= 0 && m.cells[ref].value && *m.cells[ref].value > 0) {
      for (size_t i = 0; i < m.cells.size(); i++) {
        if (static_cast<int>(i) != ref && m.cells[i].value)
          m.cells[i].ratio = *m.cells[i].value / *m.cells[ref].value;
      }
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::string FormatTable(const CompareResult& r) {
  std::vector<Metric> metrics = CompareMetrics(r);
  std::string out;
  out += "m2mdb-bench compare — " + r.env.date + "\n";
  out += "machine: " + r.env.machine + "\n";
  out += "command: " + r.env.command + "\n";
  out += "data: profile " + r.profile + ", scale " + std::to_string(r.scale) + ", duration " + r.duration +
         ", seed " + std::to_string(r.seed) + ": " + std::to_string(r.lines) + " lines, " +
         std::to_string(r.values) + " field values, " + Fmt("%.1f", r.bytes / 1e6) + " MB\n";
  out += "state: " + (r.state.empty() ? std::string("not recorded") : r.state) +
         "; bytes: allocated blocks (du) of every file of the data directory while the server runs\n";
  out += "load: " + std::to_string(r.workers) + " workers, " + std::to_string(r.batch_size) +
         " lines per request" + (r.gzip ? ", gzip-compressed bodies" : "") +
         " (the same for every target); queries: " + std::to_string(r.query_warmup) +
         " warm-up runs discarded, median of " + std::to_string(r.query_runs) + " [min–max]\n";
  for (const auto& t : r.targets) {
    out += "  " + Pad(t.name, 16) + (t.skipped.empty() ? t.version : "SKIPPED: " + t.skipped) + "\n";
  }
  out += "\n";
  const size_t w0 = 38, w = 31;
  out += Pad("metric", w0);
  for (const auto& t : r.targets) out += Pad(t.name + (t.name == "m2mdb" ? "" : " (×m2mdb)"), w);
  out += "\n";
  out += std::string(w0 + w * r.targets.size(), '-') + "\n";
  for (const Metric& m : metrics) {
    out += Pad(m.label + (m.higher_is_better ? " ↑" : " ↓"), w0);
    for (size_t i = 0; i < r.targets.size(); i++) {
      std::string cell = m.cells[i].text;
      if (m.cells[i].ratio) cell += Fmt(" (%.2f×)", *m.cells[i].ratio);
      out += Pad(cell, w);
    }
    out += "\n";
  }
  out += "↑ higher is better, ↓ lower is better; (N×) = this target's figure / m2mdb's.\n\n";
  out += "durability of an acknowledged write:\n";
  for (const auto& t : r.targets) {
    if (t.skipped.empty()) out += "  " + Pad(t.name, 16) + t.durability + "\n";
  }
  bool any = false;
  for (const auto& t : r.targets) {
    std::string notes = t.problems;
    for (const auto& q : t.queries) {
      if (q.status != "ok") notes += "query " + q.name + ": " + q.status + "\n";
      if (q.matches_influxdb == "no") notes += "query " + q.name + ": answer differs from InfluxDB's\n";
    }
    if (!notes.empty()) {
      if (!any) out += "\nproblems and notes:\n";
      any = true;
      out += "  " + t.name + ":\n";
      size_t pos = 0;
      while (pos < notes.size()) {
        size_t nl = notes.find('\n', pos);
        if (nl == std::string::npos) nl = notes.size();
        out += "    " + notes.substr(pos, nl - pos) + "\n";
        pos = nl + 1;
      }
    }
  }
  return out;
}

std::string FormatJson(const CompareResult& r) {
  std::string o = "{\n";
  auto kv = [&](const std::string& k, const std::string& v, bool comma = true) {
    o += "  " + JsonQuote(k) + ": " + v + (comma ? ",\n" : "\n");
  };
  auto num = [](std::optional<double> v) { return v ? Fmt("%.6g", *v) : std::string("null"); };
  kv("date", JsonQuote(r.env.date));
  kv("machine", JsonQuote(r.env.machine));
  kv("command", JsonQuote(r.env.command));
  kv("profile", JsonQuote(r.profile));
  kv("scale", std::to_string(r.scale));
  kv("duration", JsonQuote(r.duration));
  kv("seed", std::to_string(r.seed));
  kv("workers", std::to_string(r.workers));
  kv("batch_size", std::to_string(r.batch_size));
  if (r.gzip) kv("gzip", "true");
  kv("lines", std::to_string(r.lines));
  kv("values", std::to_string(r.values));
  kv("bytes", std::to_string(r.bytes));
  kv("query_warmup", std::to_string(r.query_warmup));
  kv("query_runs", std::to_string(r.query_runs));
  kv("state", JsonQuote(r.state));
  o += "  \"targets\": [\n";
  for (size_t i = 0; i < r.targets.size(); i++) {
    const TargetFigures& t = r.targets[i];
    o += "    {\"name\": " + JsonQuote(t.name) + ", \"version\": " + JsonQuote(t.version) +
         ", \"durability\": " + JsonQuote(t.durability) + ", \"skipped\": " + JsonQuote(t.skipped) +
         ", \"problems\": " + JsonQuote(t.problems) + ",\n";
    o += "     \"ingest_values_per_s\": " + num(t.ingest_values_per_s) +
         ", \"ingest_lines_per_s\": " + num(t.ingest_lines_per_s) +
         ", \"ingest_mb_per_s\": " + num(t.ingest_mb_per_s) + ", \"write_p50_ms\": " + num(t.write_p50_ms) +
         ", \"write_p99_ms\": " + num(t.write_p99_ms) + ", \"write_max_ms\": " + num(t.write_max_ms) + ",\n";
    o += "     \"bytes_per_value\": " + num(t.bytes_per_value) +
         ", \"disk_bytes\": " + (t.disk_bytes ? std::to_string(*t.disk_bytes) : "null") +
         ", \"peak_rss_mb\": " + num(t.peak_rss_mb) + ", \"cpu_us_per_value\": " + num(t.cpu_us_per_value) +
         ", \"restart_ping_s\": " + num(t.restart_ping_s) +
         ", \"restart_answer_s\": " + num(t.restart_answer_s) + ",\n";
    o += "     \"compress_report\": " + JsonQuote(t.compress_report) + ",\n";
    o += "     \"queries\": [";
    for (size_t q = 0; q < t.queries.size(); q++) {
      const QueryFigure& f = t.queries[q];
      o += std::string(q ? ",\n       " : "\n       ") + "{\"name\": " + JsonQuote(f.name) +
           ", \"median_ms\": " + num(f.median_ms) + ", \"min_ms\": " + num(f.min_ms) +
           ", \"max_ms\": " + num(f.max_ms) + ", \"p99_ms\": " + num(f.p99_ms) +
           ", \"status\": " + JsonQuote(f.status) +
           ", \"matches_influxdb\": " + JsonQuote(f.matches_influxdb) + "}";
    }
    o += "]}" + std::string(i + 1 < r.targets.size() ? ",\n" : "\n");
  }
  o += "  ]\n}\n";
  return o;
}

absl::StatusOr<CompareResult> ParseCompareJson(std::string_view text) {
  auto parsed = ParseJson(text);
  if (!parsed.ok()) return parsed.status();
  const Json& j = *parsed;
  if (!j["targets"].is_array())
    return absl::InvalidArgumentError("not a compare result: no \"targets\" array");
  auto str = [](const Json& v) { return v.is_string() ? v.text : std::string(); };
  auto num = [](const Json& v) { return v.is_number() ? std::optional<double>(v.number()) : std::nullopt; };
  // A count outside int64 (a hand-edited or hostile file) reads as 0: the
  // conversion of such a double is undefined behaviour.
  auto integer = [](const Json& v) {
    const double d = v.is_number() ? v.number() : 0;
    return d >= -9.2e18 && d <= 9.2e18 ? static_cast<int64_t>(d) : int64_t{0};
  };
  CompareResult r;
  r.env = {.date = str(j["date"]), .machine = str(j["machine"]), .command = str(j["command"])};
  r.profile = str(j["profile"]);
  r.scale = static_cast<int>(integer(j["scale"]));
  r.duration = str(j["duration"]);
  r.seed = static_cast<uint64_t>(integer(j["seed"]));
  r.workers = static_cast<int>(integer(j["workers"]));
  r.batch_size = static_cast<int>(integer(j["batch_size"]));
  r.gzip = j["gzip"].kind == Json::kBool && j["gzip"].boolean;
  r.lines = static_cast<uint64_t>(integer(j["lines"]));
  r.values = static_cast<uint64_t>(integer(j["values"]));
  r.bytes = static_cast<uint64_t>(integer(j["bytes"]));
  r.query_warmup = static_cast<int>(integer(j["query_warmup"]));
  r.state = str(j["state"]);
  r.query_runs = static_cast<int>(integer(j["query_runs"]));
  for (const Json& t : j["targets"].items) {
    TargetFigures f;
    f.name = str(t["name"]);
    f.version = str(t["version"]);
    f.durability = str(t["durability"]);
    f.skipped = str(t["skipped"]);
    f.problems = str(t["problems"]);
    f.ingest_values_per_s = num(t["ingest_values_per_s"]);
    f.ingest_lines_per_s = num(t["ingest_lines_per_s"]);
    f.ingest_mb_per_s = num(t["ingest_mb_per_s"]);
    f.write_p50_ms = num(t["write_p50_ms"]);
    f.write_p99_ms = num(t["write_p99_ms"]);
    f.write_max_ms = num(t["write_max_ms"]);
    f.bytes_per_value = num(t["bytes_per_value"]);
    if (t["disk_bytes"].is_number())
      f.disk_bytes = static_cast<uint64_t>(std::max<int64_t>(0, integer(t["disk_bytes"])));
    f.peak_rss_mb = num(t["peak_rss_mb"]);
    f.cpu_us_per_value = num(t["cpu_us_per_value"]);
    f.restart_ping_s = num(t["restart_ping_s"]);
    f.restart_answer_s = num(t["restart_answer_s"]);
    f.compress_report = str(t["compress_report"]);
    for (const Json& q : t["queries"].items) {
      f.queries.push_back({.name = str(q["name"]),
                           .median_ms = num(q["median_ms"]),
                           .min_ms = num(q["min_ms"]),
                           .max_ms = num(q["max_ms"]),
                           .p99_ms = num(q["p99_ms"]),
                           .status = str(q["status"]),
                           .matches_influxdb = str(q["matches_influxdb"])});
    }
    r.targets.push_back(std::move(f));
  }
  return r;
}

}  // namespace m2mdb::bench
