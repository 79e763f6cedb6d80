// tests/query/query_driver.cc — runs InfluxQL through an embedded m2mdb.
//
//   query_driver --data-dir DIR --db NAME [--load FILE.lp]... [--flush]
//                [--layers N] [--block-points N] [--no-block-stats] [--query-threads 1|2]
//                [--epoch ms] [--format json|csv|table] [--now NS] [--time] [--no-background]
//                [--columnar]
//
// Loads line protocol files into database NAME (created if missing), then
// reads one query per line on stdin and prints one result per line (JSON is
// one line per query; csv/table print the text then a line "--"). Used by
// the differential test against influxd (differential_test.py) and by hand.
// --flush writes the loaded points to segment files before querying, so
// queries read segments (and aggregates may use block statistics) instead
// of the in-memory head; --block-points sets the segment block size (small
// blocks: many block boundaries inside the test data); --no-block-stats
// makes aggregates decode every block; --query-threads 2 lets a large
// aggregate split its series over two scans (exec::SplitMatchers) on any
// machine, 1 never (default: by the number of CPUs). --columnar runs with
// QueryOptions::columnar_rows, as the server does (raw rows in columns). --layers N (N >= 2)
// loads the data in N parts, each point's part chosen by a hash of its
// series and time (so that an overwrite lands after what it overwrites),
// and flushes after each part but the last: every series then lies in N - 1
// segments that overlap in time plus the in-memory head, the layout a load
// and a restart leave (issue 18), for the read path that merges sources.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "m2mdb/db.h"
#include "m2mdb/query/executor.h"
#include "query/exec/exec.h"

int main(int argc, char** argv) {
  std::string dir, db, epoch, format = "json";
  std::vector<std::string> loads;
  bool flush = false, timing = false;
  int64_t now = 0;
  uint32_t block_points = 0;
  int layers = 0;
  bool background = true;
  bool columnar = false;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--data-dir")
      dir = next();
    else if (a == "--db")
      db = next();
    else if (a == "--load")
      loads.push_back(next());
    else if (a == "--flush")
      flush = true;
    else if (a == "--layers")
      layers = std::stoi(next());
    else if (a == "--block-points")
      block_points = static_cast<uint32_t>(std::stoul(next()));
    else if (a == "--no-block-stats")
      m2mdb::query::exec::SetUseBlockSummaries(false);
    else if (a == "--query-threads")
      m2mdb::query::exec::SetUseSecondQueryThread(next() == "2");
    else if (a == "--time")
      timing = true;
    else if (a == "--no-background")
      background = false;
    else if (a == "--columnar")
      columnar = true;
    else if (a == "--epoch")
      epoch = next();
    else if (a == "--format")
      format = next();
    else if (a == "--now")
      now = std::stoll(next());
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (dir.empty()) {
    std::fprintf(stderr, "--data-dir required\n");
    return 2;
  }
  m2mdb::Options options;
  options.data_dir = dir;
  options.wal_sync = m2mdb::WalSyncMode::kNone;
  // Off for measuring a data directory as it is (no merge mid-measurement).
  options.background_work = background;
  if (block_points > 0) options.max_block_points = block_points;
  auto opened = m2mdb::DB::Open(options);
  if (!opened.ok()) {
    std::fprintf(stderr, "open: %s\n", std::string(opened.status().message()).c_str());
    return 1;
  }
  std::unique_ptr<m2mdb::DB> database = std::move(*opened);
  // As influxd's CREATE DATABASE: autogen, INF, 7-day shards (partitions).
  if (!db.empty()) {
    (void)database->CreateDatabase({.name = db, .partition_ns = m2mdb::DefaultShardDuration(0)});
  }
  std::vector<std::string> bodies;
  for (const std::string& f : loads) {
    std::ifstream in(f);
    std::stringstream ss;
    ss << in.rdbuf();
    bodies.push_back(ss.str());
  }
  if (layers >= 2) {
    // Part of a line: a hash of its series key (up to the first unescaped
    // space) and its last token (the timestamp).
    std::vector<std::string> parts(static_cast<size_t>(layers));
    for (const std::string& body : bodies) {
      std::istringstream lines(body);
      std::string line;
      while (std::getline(lines, line)) {
        size_t key_end = 0;
        while (key_end < line.size() &&
               !(line[key_end] == ' ' && (key_end == 0 || line[key_end - 1] != '\\')))
          key_end++;
        const size_t ts = line.find_last_of(' ');
        const std::string key = line.substr(0, key_end) + (ts == std::string::npos ? "" : line.substr(ts));
        parts[std::hash<std::string>{}(key) % parts.size()] += line + "\n";
      }
    }
    bodies = std::move(parts);
  }
  for (size_t b = 0; b < bodies.size(); b++) {
    auto r = database->WriteLineProtocol(db, bodies[b], {});
    if (!r.ok()) {
      std::fprintf(stderr, "load: %s\n", std::string(r.status().message()).c_str());
      return 1;
    }
    for (const auto& e : r->errors) std::fprintf(stderr, "load line %d: %s\n", e.line, e.reason.c_str());
    if (layers >= 2 && b + 1 < bodies.size()) {
      const auto st = database->Flush();
      if (!st.ok()) {
        std::fprintf(stderr, "flush: %s\n", std::string(st.message()).c_str());
        return 1;
      }
    }
  }
  if (flush) {
    const auto st = database->Flush();
    if (!st.ok()) {
      std::fprintf(stderr, "flush: %s\n", std::string(st.message()).c_str());
      return 1;
    }
  }
  m2mdb::query::Executor exec(database.get());
  m2mdb::query::QueryOptions qo;
  qo.database = db;
  qo.now = now;
  qo.columnar_rows = columnar;
  std::string line;
  while (std::getline(std::cin, line)) {
    auto started = std::chrono::steady_clock::now();
    auto results = exec.Execute(line, qo);
    if (timing) {
      double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
      std::fprintf(stderr, "%8.2f ms  %s\n", ms, line.c_str());
    }
    m2mdb::query::JsonOptions jo{.epoch = epoch};
    if (format == "csv") {
      std::cout << m2mdb::query::ToCsv(results, jo) << "--\n";
    } else if (format == "table") {
      std::cout << m2mdb::query::ToTable(results, jo) << "--\n";
    } else {
      std::cout << m2mdb::query::ToInfluxJson(results, jo) << "\n";
    }
    std::cout.flush();
  }
  (void)database->Close();
  return 0;
}
