// The phases per target: fresh start → create database → load → (compacted
// state only: the server's own full compaction) → stop (CPU and peak RSS of
// that whole life from wait4) → restart (time to /ping and to a first query
// answer) → disk usage while running → query suite → stop.
#include "bench/m2mdb_bench/compare.h"

#include <cstdio>
#include <filesystem>
#include <map>
#include <thread>

#include <stdlib.h>
#include <unistd.h>

#include "bench/m2mdb_bench/compress.h"
#include "bench/m2mdb_bench/http.h"
#include "bench/m2mdb_bench/load.h"
#include "bench/m2mdb_bench/query_suite.h"
#include "bench/m2mdb_bench/targets.h"

namespace m2mdb::bench {
namespace {

void Log(const std::string& s) {
  std::fprintf(stderr, "[compare] %s\n", s.c_str());
  std::fflush(stderr);
}

std::string F(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof(b), f, v);
  return b;
}

// The query that times "restart to first answer": a small one that needs
// the data (so an index or WAL replay must be done before it answers).
QuerySpec ProbeQuery(const GenerateOptions& gen) {
  const int64_t span = std::max<int64_t>(gen.duration_ns, kNanosPerSecond);
  for (QuerySpec& q : SuiteFor(gen)) {
    if (q.name == "count-truck-day" || q.name == "count-sensor-range") return q;
  }
  QuerySpec q{.name = "count-sensor"};
  q.influxql = "SELECT count(\"temperature\") FROM \"sensors\" WHERE \"sensor_id\" = 's00000'";
  q.series = 1, q.rows_per_series = 1;
  q.metricsql = "count_over_time(sensors_temperature{sensor_id=\"s00000\"}[" +
                FormatDuration(span + 3600 * kNanosPerSecond) + "])";
  q.vm_time_s = static_cast<double>(gen.start_ns + span) / 1e9;
  q.vm_series = 1;
  return q;
}

struct Side {
  std::map<std::string, std::string> canonical;  // query → normalised answer
};

void RunTarget(const CompareOptions& o, TargetKind kind, const std::string& dir,
               const std::vector<Batch>& batches, uint64_t values, TargetFigures* fig, Side* side) {
  fig->name = TargetName(kind);
  const bool compacted = o.state == "compacted";
  auto target_or = Target::Create(kind, dir, o.m2mdb_binary, compacted);
  if (!target_or.ok()) {
    fig->skipped = std::string(target_or.status().message());
    Log("SKIPPED " + fig->name + ": " + fig->skipped);
    return;
  }
  Target& t = **target_or;
  fig->version = t.Version();
  fig->durability = t.Durability();
  auto problem = [&](const std::string& p) {
    fig->problems += p + "\n";
    Log(fig->name + ": " + p);
  };
  if (kind == TargetKind::kM2mdb) {
    // Until CREATE DATABASE over /query exists, create it embedded; the
    // HTTP create below then just finds it.
    if (absl::Status s = CreateDatabaseEmbedded(t.data_dir(), o.db); !s.ok()) {
      problem("create database embedded: " + std::string(s.message()));
    }
  }
  Log(fig->name + ": starting at " + t.url() + " (data " + t.data_dir() + ")");
  if (absl::Status s = t.Start(); !s.ok()) return problem(std::string(s.message()));
  if (auto r = t.WaitReady(60); !r.ok()) {
    problem(std::string(r.status().message()));
    (void)t.Stop(10);
    return;
  }
  if (absl::Status s = t.CreateDatabase(o.db); !s.ok() && kind != TargetKind::kM2mdb) {
    problem(std::string(s.message()));
  }

  Log(fig->name + ": loading " + std::to_string(batches.size()) + " batches with " +
      std::to_string(o.workers) + " workers");
  LoadOptions lo{.url = t.url(),
                 .workers = o.workers,
                 .batch_size = o.batch_size,
                 .db = o.db,
                 .target_kind = LoadKind(kind),
                 .progress = true,
                 .gzip = o.gzip};
  auto load = RunLoad(lo, batches);
  if (!load.ok()) return problem(std::string(load.status().message()));
  std::fprintf(stderr, "%s", FormatLoadResult(*load).c_str());
  if (load->failed_requests > 0) {
    problem("WRITES FAILED: " + std::to_string(load->failed_requests) + " of " +
            std::to_string(load->requests) +
            " requests; first: " + (load->failures.empty() ? "" : load->failures[0]));
  }
  fig->ingest_values_per_s = load->values_per_s();
  fig->ingest_lines_per_s = load->lines_per_s();
  fig->ingest_mb_per_s = load->mb_per_s();
  fig->write_p50_ms = load->p50_ms;
  fig->write_p99_ms = load->p99_ms;
  fig->write_max_ms = load->max_ms;

  if (compacted) {
    Log(fig->name + ": compacting");
    if (absl::Status s = t.Flush(); !s.ok()) problem("compact: " + std::string(s.message()));
  }
  // VmHWM now, not wait4's ru_maxrss: Linux carries the high-water mark of
  // the forked copy of this process (which holds the whole data set) across
  // exec, so ru_maxrss would report our size, not the server's.
  const uint64_t hwm = t.PeakRssNow();
  auto usage = t.Stop();
  if (!usage.ok()) {
    problem("stop: " + std::string(usage.status().message()));
  } else {
    fig->cpu_us_per_value = usage->cpu_seconds * 1e6 / std::max<uint64_t>(1, values);
  }
  if (hwm > 0) fig->peak_rss_mb = hwm / 1e6;
  if (kind == TargetKind::kM2mdb) {
    if (compacted) {
      if (absl::Status s = CompactEmbedded(t.data_dir()); !s.ok())
        problem("compact: " + std::string(s.message()));
    }
    // The report flushes and compacts what it opens: in the as-loaded state
    // it reads a copy, so that the queries below see the layout the load left.
    std::string report_dir = t.data_dir();
    std::error_code ec;
    if (!compacted) {
      report_dir = dir + "/report-copy";
      std::filesystem::remove_all(report_dir, ec);
      std::filesystem::copy(t.data_dir(), report_dir, std::filesystem::copy_options::recursive, ec);
      if (ec) problem("copy for the compress report: " + ec.message());
    }
    auto c = CompressReport(report_dir);
    if (c.ok()) {
      fig->compress_report = c->text;
    } else {
      problem("compress report: " + std::string(c.status().message()));
    }
    if (!compacted) std::filesystem::remove_all(report_dir, ec);
  }

  // Restart: time to the first /ping and to the first query answer.
  if (absl::Status s = t.Start(); !s.ok()) return problem("restart: " + std::string(s.message()));
  auto ready = t.WaitReady(300);
  if (!ready.ok()) return problem("restart: " + std::string(ready.status().message()));
  fig->restart_ping_s = *ready;
  // Bytes as a user's disk sees them: allocated blocks (du, not file sizes)
  // of every file of the data directory while the server runs, preallocated
  // WAL and metadata space included.
  DiskUsage du = Du(t.data_dir());
  fig->disk_bytes = du.allocated;
  fig->bytes_per_value = static_cast<double>(du.allocated) / std::max<uint64_t>(1, values);
  Log(fig->name + ": " + std::to_string(du.allocated) + " bytes on disk while running (" +
      F("%.3f", *fig->bytes_per_value) + " B/value, " + o.state + ")");
  const QuerySpec probe = ProbeQuery(o.gen);
  const std::string probe_path = QueryPath(probe, LoadKind(kind), o.db);
  bool query_available = true;
  {
    HttpClient c(t.url(), 60);
    while (t.SinceStart() < 300) {
      HttpAnswer a = c.Get(probe_path);
      if (a.status == 404 || a.status == 501 || a.status == 405) {
        query_available = false;
        break;
      }
      if (a.ok()) {
        fig->restart_answer_s = t.SinceStart();
        break;
      }
      // Retry only while the server is still coming up; any other answer
      // is final (the suite below reports it).
      if (a.status != 0 && a.status != 503) {
        problem("first query after restart: HTTP " + std::to_string(a.status) + " " + a.body.substr(0, 200));
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  Log(fig->name + ": restart " + F("%.3f s to /ping", *fig->restart_ping_s) +
      (fig->restart_answer_s ? F(", %.3f s to first answer", *fig->restart_answer_s) : ", no query answer"));

  if (std::vector<QuerySpec> suite = SuiteFor(o.gen); !suite.empty()) {
    SuiteOptions so{.url = t.url(),
                    .target_kind = LoadKind(kind),
                    .db = o.db,
                    .warmup = o.query_warmup,
                    .runs = o.query_runs};
    std::vector<QueryRun> runs;
    if (query_available) {
      Log(fig->name + ": query suite (" + std::to_string(suite.size()) + " queries × " +
          std::to_string(o.query_warmup + o.query_runs) + " runs)");
      runs = RunSuite(so, suite);
    } else {
      for (const QuerySpec& q : suite) {
        runs.push_back(QueryRun{.name = q.name, .skipped = true, .skip_reason = "/query not available"});
      }
      Log("SKIPPED: " + fig->name + " /query not available");
    }
    for (const QueryRun& r : runs) {
      QueryFigure q{.name = r.name};
      if (r.skipped) {
        q.status = "SKIPPED: " + r.skip_reason;
      } else {
        q.status = r.ok ? "ok" : "WRONG: " + r.check;
        if (!r.ms.empty()) {
          q.median_ms = r.median_ms, q.min_ms = r.min_ms, q.max_ms = r.max_ms, q.p99_ms = r.p99_ms;
        }
        if (!r.canonical.empty()) side->canonical[r.name] = r.canonical;
      }
      fig->queries.push_back(q);
    }
    std::fprintf(stderr, "%s", FormatSuite(suite, runs).c_str());
  }
  if (auto u = t.Stop(); !u.ok()) problem("stop after queries: " + std::string(u.status().message()));
}

}  // namespace

absl::StatusOr<CompareResult> RunCompare(const CompareOptions& o) {
  std::vector<TargetKind> kinds;
  for (const std::string& name : o.targets) {
    auto k = ParseTargetKind(name);
    if (!k.ok()) return k.status();
    kinds.push_back(*k);
  }
  if (o.workers <= 0 || o.batch_size <= 0)
    return absl::InvalidArgumentError("--workers and --batch-size must be > 0");
  if (o.state != "as-loaded" && o.state != "compacted")
    return absl::InvalidArgumentError("--state must be as-loaded or compacted, not '" + o.state + "'");
  CompareResult r;
  r.env = CurrentEnvironment(o.command);
  r.profile = o.gen.profile;
  r.scale = o.gen.scale;
  r.duration = o.duration_text;
  r.seed = o.gen.seed;
  r.workers = o.workers;
  r.batch_size = o.batch_size;
  r.gzip = o.gzip;
  r.query_runs = o.query_runs;
  r.query_warmup = o.query_warmup;
  r.state = o.state;

  // Every target gets the very same bytes, generated once, in the same batches.
  std::string data;
  auto t0 = std::chrono::steady_clock::now();
  absl::Status gs = GenerateChunks(o.gen, 8 << 20, [&](std::string_view c) {
    data.append(c);
    return absl::OkStatus();
  });
  if (!gs.ok()) return gs;
  std::vector<Batch> batches = SplitBatches(data, o.batch_size);
  for (const Batch& b : batches) {
    r.lines += b.lines;
    r.values += b.values;
  }
  r.bytes = data.size();
  Log("generated " + std::to_string(r.lines) + " lines, " + std::to_string(r.values) + " values, " +
      F("%.1f MB", data.size() / 1e6) + " in " +
      F("%.2f s", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()));

  std::string parent = o.work_dir;
  if (parent.empty()) parent = getenv("TMPDIR") != nullptr ? getenv("TMPDIR") : "/tmp";
  std::string tmpl = parent + "/m2mdb-bench-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return absl::InternalError("mkdtemp in " + parent + " failed");
  const std::string root = tmpl;
  Log("work directory " + root);

  std::map<std::string, Side> sides;
  for (TargetKind k : kinds) {
    TargetFigures fig;
    RunTarget(o, k, root + "/" + TargetName(k), batches, r.values, &fig, &sides[TargetName(k)]);
    r.targets.push_back(std::move(fig));
  }
  // Same answers as InfluxDB? (InfluxQL targets only; the comparison is of
  // values printed with 6 significant digits, series sorted.)
  const Side& influx = sides["influxdb"];
  for (auto& fig : r.targets) {
    if (fig.name == "influxdb" || fig.name == "victoriametrics" || influx.canonical.empty()) continue;
    for (auto& q : fig.queries) {
      auto mine = sides[fig.name].canonical.find(q.name);
      auto theirs = influx.canonical.find(q.name);
      if (mine == sides[fig.name].canonical.end() || theirs == influx.canonical.end()) continue;
      q.matches_influxdb = mine->second == theirs->second ? "yes" : "no";
    }
  }
  if (!o.keep) {
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  } else {
    Log("kept " + root);
  }
  return r;
}

}  // namespace m2mdb::bench
