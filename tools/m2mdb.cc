// The m2mdb command: serve | check | version (query, shell, import and export
// arrive with the query layer).
#include <cstdio>
#include <string>

#include "CLI/CLI.hpp"
#include "m2mdb/db.h"
#include "server/serve.h"

namespace {

constexpr const char* kVersion = "0.1.0";

int Check(const std::string& data_dir) {
  m2mdb::Options o;
  o.data_dir = data_dir;
  o.create_if_missing = false;
  o.background_work = false;
  auto db = m2mdb::DB::Open(o);
  if (!db.ok()) {
    std::fprintf(stderr, "m2mdb check: %s\n", db.status().ToString().c_str());
    return 1;
  }
  auto problems = (*db)->Check();
  if (!problems.ok()) {
    std::fprintf(stderr, "m2mdb check: %s\n", problems.status().ToString().c_str());
    return 1;
  }
  m2mdb::DBStats st = (*db)->Stats();
  for (const auto& p : *problems) std::printf("DAMAGED %s: %s\n", p.file.c_str(), p.message.c_str());
  std::printf("checked %llu segments (%llu bytes): %zu damaged\n", static_cast<unsigned long long>(st.segments),
              static_cast<unsigned long long>(st.segment_bytes), problems->size());
  return problems->empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"m2mdb — a time-series database for machine telemetry"};
  app.require_subcommand(1);

  m2mdb::server::ServeOptions serve;
  auto* serve_cmd = app.add_subcommand("serve", "Open a data directory and serve it");
  serve_cmd->add_option("--data-dir", serve.data_dir, "Data directory (created if missing)")->capture_default_str();
  serve_cmd->add_option("--http", serve.http, "HTTP listen address host:port")->capture_default_str();
  serve_cmd->add_option("--wal-sync", serve.wal_sync, "always | batch | none")
      ->check(CLI::IsMember({"always", "batch", "none"}))
      ->capture_default_str();
  serve_cmd->add_option("--head-memory-mb", serve.head_memory_mb, "In-memory head budget (MiB)")
      ->capture_default_str();

  std::string check_dir = "./data";
  auto* check_cmd = app.add_subcommand("check", "Verify every checksum in a data directory");
  check_cmd->add_option("--data-dir", check_dir, "Data directory")->capture_default_str();

  auto* version_cmd = app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (*serve_cmd) return m2mdb::server::Serve(serve);
  if (*check_cmd) return Check(check_dir);
  if (*version_cmd) {
    std::printf("m2mdb %s\n", kVersion);
    return 0;
  }
  return 2;
}
