// m2mdb-bench: generate | load | query | compress | compare | chart. See
// docs/benchmarks.md. CLI11 throws on bad arguments; that stays inside main.
#include <climits>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

#include "CLI/CLI.hpp"

#include "bench/m2mdb_bench/compare.h"
#include "bench/m2mdb_bench/compress.h"
#include "bench/m2mdb_bench/corpus.h"
#include "bench/m2mdb_bench/generate.h"
#include "bench/m2mdb_bench/load.h"
#include "bench/m2mdb_bench/query_suite.h"
#include "bench/m2mdb_bench/results.h"

namespace {

using m2mdb::bench::GenerateOptions;

struct GenFlags {
  std::string profile = "iot";
  int scale = 100;
  std::string duration = "1d";
  uint64_t seed = 1;
  int64_t start_s = m2mdb::bench::kDefaultStartNs / m2mdb::bench::kNanosPerSecond;
};

void AddGenFlags(CLI::App* app, GenFlags* g) {
  app->add_option("--profile", g->profile, "Data set: iot (TSBS truck fleet) or sensors (1 Hz)")
      ->check(CLI::IsMember({"iot", "sensors"}))
      ->capture_default_str();
  app->add_option("--scale", g->scale, "Trucks (iot) or sensors (sensors)")->capture_default_str();
  app->add_option("--duration", g->duration, "Time span of the data, e.g. 10m, 12h, 1d")
      ->capture_default_str();
  app->add_option("--seed", g->seed, "Random seed (same seed, same bytes)")->capture_default_str();
  app->add_option("--start", g->start_s, "First timestamp, Unix seconds (default 2024-01-01T00:00:00Z)")
      ->capture_default_str();
}

bool ToGenerateOptions(const GenFlags& g, GenerateOptions* o) {
  auto d = m2mdb::bench::ParseDuration(g.duration);
  if (!d.ok()) {
    std::fprintf(stderr, "m2mdb-bench: %s\n", std::string(d.status().message()).c_str());
    return false;
  }
  o->profile = g.profile;
  o->scale = g.scale;
  o->duration_ns = *d;
  o->seed = g.seed;
  o->start_ns = g.start_s * m2mdb::bench::kNanosPerSecond;
  return true;
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "m2mdb-bench: %s\n", std::string(s.message()).c_str());
  return 1;
}

// The m2mdb binary next to this one (both land in build/bin/).
std::string SiblingM2mdb() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "m2mdb";
  std::string self(buf, static_cast<size_t>(n));
  return self.substr(0, self.rfind('/') + 1) + "m2mdb";
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
  f.close();
  return static_cast<bool>(f);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "m2mdb-bench — data sets, load, queries, bytes per value, and comparison with InfluxDB and "
      "VictoriaMetrics"};
  app.require_subcommand(1);

  GenFlags gen_flags;
  std::string out = "-";
  uint64_t file_mb = 64;
  auto* gen_cmd = app.add_subcommand("generate", "Write a deterministic line-protocol data set");
  AddGenFlags(gen_cmd, &gen_flags);
  gen_cmd->add_option("--out", out, "Output directory (data-NNNNN.lp files) or - for stdout")
      ->capture_default_str();
  gen_cmd->add_option("--file-mb", file_mb, "Largest output file (MB)")->capture_default_str();

  m2mdb::bench::LoadOptions load;
  std::string load_data;
  GenFlags load_gen;
  auto* load_cmd = app.add_subcommand("load", "POST line protocol over keep-alive connections and time it");
  load_cmd->add_option("--url", load.url, "Server base URL")->capture_default_str();
  load_cmd->add_option("--workers", load.workers, "Concurrent connections")->capture_default_str();
  load_cmd->add_option("--batch-size", load.batch_size, "Lines per request")->capture_default_str();
  load_cmd->add_option("--db", load.db, "Database (?db=)")->capture_default_str();
  load_cmd->add_flag(
      "--gzip", load.gzip,
      "Send bodies gzip-compressed (Content-Encoding: gzip, level 6), compressed before the clock starts");
  load_cmd->add_option("--target-kind", load.target_kind, "influx | vm | m2mdb")
      ->check(CLI::IsMember({"influx", "vm", "m2mdb"}))
      ->capture_default_str();
  load_cmd->add_option(
      "--data", load_data,
      "Directory of .lp files (from generate) or - for stdin; without it the data is generated "
      "in memory from the generate flags");
  AddGenFlags(load_cmd, &load_gen);

  m2mdb::bench::SuiteOptions suite_opts;
  std::string suite_name;
  GenFlags query_gen;
  auto* query_cmd = app.add_subcommand("query", "Run the query suite; median and p99 per query");
  query_cmd->add_option("--url", suite_opts.url, "Server base URL")->required();
  query_cmd->add_option("--suite", suite_name, "Query suite: iot or sensors (default: the --profile's)")
      ->check(CLI::IsMember({"iot", "sensors"}));
  query_cmd->add_option("--runs", suite_opts.runs, "Measured runs per query")->capture_default_str();
  query_cmd->add_option("--warmup", suite_opts.warmup, "Warm-up runs per query (discarded)")
      ->capture_default_str();
  query_cmd->add_option("--db", suite_opts.db, "Database")->capture_default_str();
  query_cmd->add_option("--target-kind", suite_opts.target_kind, "influx | vm | m2mdb")
      ->check(CLI::IsMember({"influx", "vm", "m2mdb"}))
      ->capture_default_str();
  AddGenFlags(query_cmd, &query_gen);

  std::string compress_dir;
  auto* compress_cmd = app.add_subcommand("compress", "Bytes per stored value of an m2mdb data directory");
  m2mdb::bench::CorpusOptions corpus;
  bool corpus_mode = false, corpus_no_vm = false;
  auto* compress_dir_opt =
      compress_cmd->add_option("--data-dir", compress_dir, "Data directory (no server may have it open)");
  auto* corpus_flag = compress_cmd->add_flag(
      "--corpus", corpus_mode,
      "Instead: load every shape of the compression corpus into m2mdb and VictoriaMetrics, one after the "
      "other, and print bytes per value per shape (docs/benchmarks.md)");
  compress_dir_opt->excludes(corpus_flag);
  compress_cmd->add_option("--shapes", corpus.only, "Corpus shapes to run, comma-separated (default: all)");
  compress_cmd->add_option("--corpus-scale", corpus.scale, "Multiplies the devices of every shape")
      ->capture_default_str();
  compress_cmd->add_option("--seed", corpus.seed, "Corpus random seed")->capture_default_str();
  compress_cmd->add_flag("--no-vm", corpus_no_vm, "Skip VictoriaMetrics");

  m2mdb::bench::CompareOptions cmp;
  GenFlags cmp_gen;
  std::string targets = "m2mdb,influxdb,victoriametrics";
  bool json = false;
  std::string svg, json_out;
  auto* cmp_cmd =
      app.add_subcommand("compare", "Run the same work against m2mdb, InfluxDB and VictoriaMetrics");
  AddGenFlags(cmp_cmd, &cmp_gen);
  cmp_cmd->add_option("--targets", targets, "Comma-separated: m2mdb, influxdb, victoriametrics")
      ->capture_default_str();
  cmp_cmd->add_option("--workers", cmp.workers, "Concurrent write connections")->capture_default_str();
  cmp_cmd->add_option("--batch-size", cmp.batch_size, "Lines per write request")->capture_default_str();
  cmp_cmd->add_flag("--gzip", cmp.gzip,
                    "Send write bodies gzip-compressed (as Telegraf's influxdb_v2 output does)");
  cmp_cmd->add_option("--runs", cmp.query_runs, "Measured runs per query")->capture_default_str();
  cmp_cmd->add_option("--warmup", cmp.query_warmup, "Warm-up runs per query (discarded)")
      ->capture_default_str();
  cmp_cmd->add_option("--m2mdb-bin", cmp.m2mdb_binary, "The m2mdb binary (default: next to m2mdb-bench)");
  cmp_cmd->add_option("--work-dir", cmp.work_dir,
                      "Where the temporary data directories go (default $TMPDIR)");
  cmp_cmd->add_flag("--keep", cmp.keep, "Keep the data directories");
  cmp_cmd
      ->add_option("--state", cmp.state,
                   "as-loaded: query after the load and one restart, nothing forced; compacted: after "
                   "each database's own full compaction (docs/benchmarks.md)")
      ->check(CLI::IsMember({"as-loaded", "compacted"}))
      ->capture_default_str();
  cmp_cmd->add_flag("--json", json, "Print JSON instead of the table");
  cmp_cmd->add_option("--json-out", json_out, "Also write the JSON to this file");
  cmp_cmd->add_option("--svg", svg, "Write the comparison as an SVG bar chart");

  std::string chart_from, chart_svg;
  auto* chart_cmd = app.add_subcommand(
      "chart", "Draw the SVG chart of a recorded compare result (the JSON of compare --json-out)");
  chart_cmd->add_option("--from", chart_from, "The recorded result (JSON)")->required();
  chart_cmd->add_option("--svg", chart_svg, "Where to write the chart")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (*gen_cmd) {
    GenerateOptions g;
    if (!ToGenerateOptions(gen_flags, &g)) return 2;
    absl::Status s = m2mdb::bench::GenerateToOutput(g, out, file_mb << 20);
    return s.ok() ? 0 : Fail(s);
  }
  if (*load_cmd) {
    std::string data;
    if (!load_data.empty()) {
      auto d = m2mdb::bench::ReadData(load_data);
      if (!d.ok()) return Fail(d.status());
      data = std::move(*d);
    } else {
      GenerateOptions g;
      if (!ToGenerateOptions(load_gen, &g)) return 2;
      absl::Status s = m2mdb::bench::GenerateChunks(g, 8 << 20, [&](std::string_view c) {
        data.append(c);
        return absl::OkStatus();
      });
      if (!s.ok()) return Fail(s);
    }
    auto batches = m2mdb::bench::SplitBatches(data, load.batch_size);
    load.progress = true;
    auto r = m2mdb::bench::RunLoad(load, batches);
    if (!r.ok()) return Fail(r.status());
    std::printf("%s", m2mdb::bench::FormatLoadResult(*r).c_str());
    return r->failed_requests == 0 ? 0 : 1;
  }
  if (*query_cmd) {
    GenerateOptions g;
    if (!ToGenerateOptions(query_gen, &g)) return 2;
    if (!suite_name.empty()) g.profile = suite_name;
    auto suite = m2mdb::bench::SuiteFor(g);
    if (suite.empty())
      return Fail(absl::InvalidArgumentError("no query suite for profile '" + g.profile + "'"));
    auto runs = m2mdb::bench::RunSuite(suite_opts, suite);
    std::printf("%s", m2mdb::bench::FormatSuite(suite, runs).c_str());
    bool ok = true;
    for (const auto& r : runs) ok = ok && (r.ok || r.skipped);
    return ok ? 0 : 1;
  }
  if (*compress_cmd && corpus_mode) {
    char tmpl[] = "/tmp/m2mdb-corpus-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return Fail(absl::InternalError("mkdtemp failed"));
    corpus.work_dir = tmpl;
    corpus.m2mdb_binary = SiblingM2mdb();
    corpus.victoriametrics = !corpus_no_vm;
    auto r = m2mdb::bench::RunCorpus(corpus);
    rmdir(tmpl);
    if (!r.ok()) return Fail(r.status());
    std::printf("%s", m2mdb::bench::FormatCorpus(*r).c_str());
    return 0;
  }
  if (*compress_cmd && compress_dir.empty())
    return Fail(absl::InvalidArgumentError("--data-dir or --corpus"));
  if (*compress_cmd) {
    auto r = m2mdb::bench::CompressReport(compress_dir);
    if (!r.ok()) return Fail(r.status());
    std::printf("%s", r->text.c_str());
    return 0;
  }
  if (*chart_cmd) {
    std::ifstream in(chart_from, std::ios::binary);
    if (!in) return Fail(absl::NotFoundError("cannot read " + chart_from));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto r = m2mdb::bench::ParseCompareJson(text);
    if (!r.ok())
      return Fail(absl::InvalidArgumentError(chart_from + ": " + std::string(r.status().message())));
    if (!WriteFile(chart_svg, m2mdb::bench::FormatSvg(*r)))
      return Fail(absl::InternalError("cannot write " + chart_svg));
    return 0;
  }
  if (*cmp_cmd) {
    if (!ToGenerateOptions(cmp_gen, &cmp.gen)) return 2;
    cmp.duration_text = cmp_gen.duration;
    cmp.targets.clear();
    size_t pos = 0;
    while (pos <= targets.size()) {
      size_t comma = targets.find(',', pos);
      if (comma == std::string::npos) comma = targets.size();
      if (comma > pos) cmp.targets.push_back(targets.substr(pos, comma - pos));
      pos = comma + 1;
    }
    if (cmp.m2mdb_binary.empty()) cmp.m2mdb_binary = SiblingM2mdb();
    cmp.command = "m2mdb-bench";
    for (int i = 1; i < argc; i++) cmp.command += std::string(" ") + argv[i];
    auto r = m2mdb::bench::RunCompare(cmp);
    if (!r.ok()) return Fail(r.status());
    std::string js = m2mdb::bench::FormatJson(*r);
    std::printf("%s", json ? js.c_str() : m2mdb::bench::FormatTable(*r).c_str());
    if (!json) {
      for (const auto& t : r->targets) {
        if (!t.compress_report.empty())
          std::printf("\n%s storage (m2mdb-bench compress):\n%s", t.name.c_str(), t.compress_report.c_str());
      }
    }
    if (!json_out.empty() && !WriteFile(json_out, js))
      return Fail(absl::InternalError("cannot write " + json_out));
    if (!svg.empty() && !WriteFile(svg, m2mdb::bench::FormatSvg(*r))) {
      return Fail(absl::InternalError("cannot write " + svg));
    }
    // Exit status: failed writes or wrong answers fail the run; targets
    // that were skipped (not installed) or queries that are not served yet
    // (SKIPPED) do not.
    int rc = 0;
    for (const auto& t : r->targets) {
      if (t.problems.find("WRITES FAILED") != std::string::npos) rc = 1;
      if (t.skipped.empty() && !t.ingest_values_per_s) rc = 1;
      for (const auto& q : t.queries) {
        if (q.status.rfind("WRONG", 0) == 0) rc = 1;
        if (q.status.rfind("SKIPPED", 0) == 0 && t.name == "m2mdb" && &q == &t.queries.front()) {
          std::printf("SKIPPED: m2mdb /query not available\n");
        }
      }
    }
    return rc;
  }
  return 2;
}
