// The m2mdb command: serve | token | check | version here; the client
// subcommands query | shell | import | export live in tools/cli_*.cc, the
// serve configuration (--config, M2MDB_* variables) in tools/cli_config.cc.
//
// Exit codes (docs/cli.md): 0 ok; 1 a statement or data failure; 2 usage,
// connection or environment (a bad flag, the server unreachable, a missing
// or locked data directory).
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"

#include "m2mdb/db.h"
#include "m2mdb/log.h"
#include "server/build_info.h"
#include "server/serve.h"
#include "server/tokens.h"
#include "tools/cli_common.h"
#include "tools/cli_config.h"

namespace {

using m2mdb::cli::Human;
using m2mdb::cli::kExitFailed;
using m2mdb::cli::kExitOk;
using m2mdb::cli::kExitUsage;

std::string VersionText() {
  return absl::StrCat("m2mdb ", m2mdb::server::BuildVersion(), " (commit ", m2mdb::server::BuildCommit(),
                      ")");
}

// Exit status: 0 nothing damaged, 1 damage found, 2 the check could not run
// (missing or locked directory).
int Check(const std::string& data_dir) {
  m2mdb::Options o;
  o.data_dir = data_dir;
  o.create_if_missing = false;
  o.background_work = false;
  // Strictly read-only: no WAL repair, no flush, no RocksDB files written.
  o.read_only = true;
  o.flush_on_close = false;
  auto db = m2mdb::DB::Open(o);
  if (!db.ok()) {
    std::fprintf(stderr, "m2mdb check: %s\n", Human(db.status()).c_str());
    return kExitUsage;
  }
  auto problems = (*db)->Check();
  if (!problems.ok()) {
    std::fprintf(stderr, "m2mdb check: %s\n", Human(problems.status()).c_str());
    return kExitUsage;
  }
  m2mdb::DBStats st = (*db)->Stats();
  for (const auto& p : *problems) std::printf("DAMAGED %s: %s\n", p.file.c_str(), p.message.c_str());
  std::printf("checked %llu segments (%llu bytes): %zu damaged\n",
              static_cast<unsigned long long>(st.segments), static_cast<unsigned long long>(st.segment_bytes),
              problems->size());
  if (!problems->empty())
    std::printf("run `m2mdb check --repair --data-dir %s` to quarantine them\n", data_dir.c_str());
  return problems->empty() ? kExitOk : kExitFailed;
}

// Exit status: 0 repaired (or nothing to repair), 1 the repair failed, 2 the
// directory cannot be opened.
int Repair(const std::string& data_dir) {
  m2mdb::Options o;
  o.data_dir = data_dir;
  o.create_if_missing = false;
  o.background_work = false;
  auto db = m2mdb::DB::Open(o);
  if (!db.ok()) {
    std::fprintf(stderr, "m2mdb check --repair: %s\n", Human(db.status()).c_str());
    return kExitUsage;
  }
  auto repaired = (*db)->Repair();
  if (!repaired.ok()) {
    std::fprintf(stderr, "m2mdb check --repair: %s\n", Human(repaired.status()).c_str());
    return kExitFailed;
  }
  uint64_t lost = 0, kept = 0;
  for (const auto& r : *repaired) {
    std::printf("DAMAGED %s: %s\n", r.file.c_str(), r.problem.c_str());
    std::printf(
        "  moved to quarantine/%s; kept %llu points in %llu blocks%s%s; lost %llu points in %llu blocks\n",
        r.file.c_str(), static_cast<unsigned long long>(r.points_kept),
        static_cast<unsigned long long>(r.blocks_kept), r.salvaged_file.empty() ? "" : " -> ",
        r.salvaged_file.c_str(), static_cast<unsigned long long>(r.points_lost),
        static_cast<unsigned long long>(r.blocks_lost));
    for (const auto& l : r.lost) std::printf("  LOST %s\n", l.c_str());
    lost += r.points_lost;
    kept += r.points_kept;
  }
  if (m2mdb::Status s = (*db)->Close(); !s.ok()) {
    std::fprintf(stderr, "m2mdb check --repair: close: %s\n", Human(s).c_str());
    return kExitFailed;
  }
  std::printf("repaired %zu damaged segments: %llu points kept, %llu points lost\n", repaired->size(),
              static_cast<unsigned long long>(kept), static_cast<unsigned long long>(lost));
  return 0;
}

// ---- token subcommand (server/tokens.h) -------------------------------------
struct TokenArgs {
  std::string data_dir = "./data";
  std::vector<std::string> dbs;
  bool read = false;
  bool write = false;
  bool del = false;
  bool admin = false;
  std::string description;
  std::string id;
  // --host: manage the tokens of a running server over HTTP
  // (/api/m2mdb/tokens) instead of the data directory.
  std::string host;
  std::string auth;  // --token: an admin token or "user:password"
  bool insecure = false;
  std::string cacert;
};

// The server's answer, or an error printed as "m2mdb token CMD: ..." (null).
std::unique_ptr<m2mdb::cli::HttpClient> TokenServer(const TokenArgs& a, const char* cmd) {
  m2mdb::cli::Target t;
  t.host = a.host;
  t.token = a.auth;
  t.insecure = a.insecure;
  t.cacert = a.cacert;
  auto c = m2mdb::cli::ConnectHttp(t);
  if (!c.ok()) {
    std::fprintf(stderr, "m2mdb token %s: %s\n", cmd, Human(c.status()).c_str());
    return nullptr;
  }
  return std::move(*c);
}

// Exit code for an HTTP answer that is not a success; prints its error.
int TokenHttpError(const absl::StatusOr<m2mdb::cli::HttpResponse>& r, const char* cmd) {
  if (!r.ok()) {
    std::fprintf(stderr, "m2mdb token %s: %s\n", cmd, Human(r.status()).c_str());
    return kExitUsage;
  }
  std::string msg = r->body;
  if (auto j = m2mdb::cli::ParseJson(r->body); j.ok() && (*j)["error"].is_string()) msg = (*j)["error"].text;
  std::fprintf(stderr, "m2mdb token %s: server answered %d: %s\n", cmd, r->status, msg.c_str());
  return r->status == 401 || r->status == 403 ? kExitUsage : kExitFailed;
}

int TokenCreateHttp(const TokenArgs& a) {
  auto http = TokenServer(a, "create");
  if (http == nullptr) return kExitUsage;
  m2mdb::cli::Params form = {{"read", a.read ? "1" : "0"},       {"write", a.write ? "1" : "0"},
                             {"delete", a.del ? "1" : "0"},      {"admin", a.admin ? "1" : "0"},
                             {"dbs", absl::StrJoin(a.dbs, ",")}, {"description", a.description}};
  auto r = http->PostForm("/api/m2mdb/tokens", form);
  if (!r.ok() || r->status != 200) return TokenHttpError(r, "create");
  auto j = m2mdb::cli::ParseJson(r->body);
  if (!j.ok() || !(*j)["token"].is_string()) return TokenHttpError(r, "create");
  std::fprintf(stderr, "created token %s (%s on %s); it is shown once, store it now:\n",
               (*j)["id"].text.c_str(), (*j)["scope"].text.c_str(),
               a.dbs.empty() ? "every database" : ("databases " + absl::StrJoin(a.dbs, ",")).c_str());
  std::printf("%s\n", (*j)["token"].text.c_str());
  return 0;
}

int TokenListHttp(const TokenArgs& a) {
  auto http = TokenServer(a, "list");
  if (http == nullptr) return kExitUsage;
  auto r = http->Get("/api/m2mdb/tokens");
  if (!r.ok() || r->status != 200) return TokenHttpError(r, "list");
  auto j = m2mdb::cli::ParseJson(r->body);
  if (!j.ok()) return TokenHttpError(r, "list");
  std::printf("%-12s  %-17s  %-24s  %-20s  %s\n", "ID", "SCOPE", "DATABASES", "CREATED (UTC)", "DESCRIPTION");
  const auto& tokens = (*j)["tokens"];
  for (size_t i = 0; i < tokens.size(); i++) {
    const auto& t = tokens.at(i);
    std::vector<std::string> dbs;
    for (size_t k = 0; k < t["dbs"].size(); k++) dbs.push_back(t["dbs"].at(k).text);
    char created[32] = "?";
    time_t c = static_cast<time_t>(t["created"].number());
    struct tm tm;
    if (gmtime_r(&c, &tm) != nullptr) std::strftime(created, sizeof(created), "%Y-%m-%d %H:%M:%S", &tm);
    std::printf("%-12s  %-17s  %-24s  %-20s  %s\n", t["id"].text.c_str(), t["scope"].text.c_str(),
                dbs.empty() ? "*" : absl::StrJoin(dbs, ",").c_str(), created, t["description"].text.c_str());
  }
  return 0;
}

int TokenRevokeHttp(const TokenArgs& a) {
  auto http = TokenServer(a, "revoke");
  if (http == nullptr) return kExitUsage;
  auto r = http->PostForm("/api/m2mdb/tokens/revoke", {{"id", a.id}});
  if (!r.ok() || r->status != 204) return TokenHttpError(r, "revoke");
  std::fprintf(stderr, "revoked token %s\n", a.id.c_str());
  return 0;
}

// Tokens live in the data directory, which one process at a time may open.
std::unique_ptr<m2mdb::DB> OpenForTokens(const std::string& data_dir, const char* cmd) {
  m2mdb::Options o;
  o.data_dir = data_dir;
  o.create_if_missing = false;
  o.background_work = false;
  o.flush_on_close = false;
  auto db = m2mdb::DB::Open(o);
  if (!db.ok()) {
    std::string msg(db.status().message());
    std::fprintf(stderr, "m2mdb token %s: %s\n", cmd, msg.c_str());
    if (msg.find("in use") != std::string::npos) {
      std::fprintf(stderr,
                   "  A server is running on %s: manage its tokens through it with --host URL --token\n"
                   "  ADMIN_TOKEN (or --token user:password of an admin user).\n",
                   data_dir.c_str());
    }
    return nullptr;
  }
  return std::move(*db);
}

int TokenCreate(const TokenArgs& a) {
  if (!a.host.empty()) return TokenCreateHttp(a);
  auto db = OpenForTokens(a.data_dir, "create");
  if (db == nullptr) return kExitUsage;
  m2mdb::server::TokenInfo info;
  m2mdb::server::TokenScope scope{.read = a.read, .write = a.write, .del = a.del, .admin = a.admin};
  auto token = m2mdb::server::TokenStore::Create(db.get(), a.dbs, scope, a.description, &info);
  if (!token.ok()) {
    std::fprintf(stderr, "m2mdb token create: %s\n", std::string(token.status().message()).c_str());
    return 1;
  }
  (void)db->Close();
  std::fprintf(stderr, "created token %s (%s on %s); it is shown once, store it now:\n", info.id.c_str(),
               info.ScopeString().c_str(),
               a.dbs.empty() ? "every database" : ("databases " + absl::StrJoin(a.dbs, ",")).c_str());
  std::printf("%s\n", token->c_str());
  return 0;
}

int TokenList(const TokenArgs& a) {
  if (!a.host.empty()) return TokenListHttp(a);
  auto db = OpenForTokens(a.data_dir, "list");
  if (db == nullptr) return kExitUsage;
  auto store = db->ListAppMeta(m2mdb::server::kTokenKeyPrefix);
  if (!store.ok()) {
    std::fprintf(stderr, "m2mdb token list: %s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  std::printf("%-12s  %-17s  %-24s  %-20s  %s\n", "ID", "SCOPE", "DATABASES", "CREATED (UTC)", "DESCRIPTION");
  for (const auto& [key, value] : *store) {
    auto t = m2mdb::server::DecodeToken(std::string_view(key).substr(m2mdb::server::kTokenKeyPrefix.size()),
                                        value);
    if (!t.ok()) {
      std::printf("%s: %s\n", key.c_str(), std::string(t.status().message()).c_str());
      continue;
    }
    char created[32] = "?";
    time_t c = static_cast<time_t>(t->created);
    struct tm tm;
    if (gmtime_r(&c, &tm) != nullptr) std::strftime(created, sizeof(created), "%Y-%m-%d %H:%M:%S", &tm);
    std::string scope = t->ScopeString();
    std::printf("%-12s  %-17s  %-24s  %-20s  %s\n", t->id.c_str(), scope.c_str(),
                t->dbs.empty() ? "*" : absl::StrJoin(t->dbs, ",").c_str(), created, t->description.c_str());
  }
  (void)db->Close();
  return 0;
}

int TokenRevoke(const TokenArgs& a) {
  if (!a.host.empty()) return TokenRevokeHttp(a);
  auto db = OpenForTokens(a.data_dir, "revoke");
  if (db == nullptr) return kExitUsage;
  m2mdb::Status s = m2mdb::server::TokenStore::Revoke(db.get(), a.id);
  (void)db->Close();
  if (!s.ok()) {
    std::fprintf(stderr, "m2mdb token revoke: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::fprintf(stderr, "revoked token %s\n", a.id.c_str());
  return 0;
}
// ---- end token subcommand ----------------------------------------------------

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil is built without NDEBUG, so every Mutex lock runs the
  // deadlock detector's bookkeeping (GraphCycles: ~2 % of server CPU under
  // HTTP ingest, perf). The unit and integration test binaries keep the
  // detector on (Abseil aborts on a lock-order cycle there); the shipped
  // binary does not pay for it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  CLI::App app{"m2mdb — a time-series database for machine telemetry", "m2mdb"};
  // At most one; none is a usage error reported below with the usage text,
  // and leaves room for `m2mdb --bogus` to be reported as the unknown flag.
  app.require_subcommand(0, 1);
  // -v and --version work after the subcommand too (m2mdb check -v).
  app.fallthrough();
  app.set_version_flag("--version,-V", VersionText(), "Print the version and git commit, then exit");
  // The engine's INFO lines ("opened ...") are for servers: a command prints
  // its own output and the warnings (a cut WAL tail); -v shows the rest.
  // Flag callbacks run before the subcommands' own, which do the work.
  m2mdb::SetLogLevel(m2mdb::LogLevel::kWarning);
  app.add_flag_function(
      "-v,--verbose",
      [](std::int64_t count) {
        m2mdb::SetLogLevel(count >= 2 ? m2mdb::LogLevel::kDebug : m2mdb::LogLevel::kInfo);
      },
      "Show the engine's log lines (INFO; -vv also DEBUG) on commands other than serve (serve: --log-level)");

  m2mdb::server::ServeOptions serve;
  auto* serve_cmd = app.add_subcommand("serve", "Open a data directory and serve it");
  serve_cmd->add_option("--data-dir", serve.data_dir, "Data directory (created if missing)")
      ->capture_default_str();
  serve_cmd->add_option("--http", serve.http, "HTTP listen address host:port")->capture_default_str();
  serve_cmd->add_option("--wal-sync", serve.wal_sync, "always | batch | none")
      ->check(CLI::IsMember({"always", "batch", "none"}))
      ->capture_default_str();
  serve_cmd->add_option("--head-memory-mb", serve.head_memory_mb, "In-memory head budget (MiB)")
      ->capture_default_str();
  // ---- serve: HTTP server flags (server/serve.h) ----
  serve_cmd->add_option("--create-db", serve.create_databases,
                        "Create this database at start if missing (repeatable)");
  serve_cmd->add_flag(
      "--no-auth", serve.no_auth,
      "Serve a non-loopback address without tokens (protected mode off); no effect once tokens exist");
  serve_cmd->add_option("--tls-cert", serve.tls_cert, "TLS certificate (PEM); with --tls-key serves HTTPS");
  serve_cmd->add_option("--tls-key", serve.tls_key, "TLS private key (PEM)");
  // ---- serve: MQTT listener flags (server/mqtt/listener.h, docs/mqtt.md) ----
  serve_cmd->add_option("--mqtt", serve.mqtt, "MQTT listen address host:port (off when not given)");
  serve_cmd->add_option(
      "--mqtt-tls", serve.mqtt_tls,
      "MQTT over TLS listen address host:port, with --tls-cert/--tls-key (off when not given)");
  serve_cmd
      ->add_option("--mqtt-max-packet-bytes", serve.mqtt_max_packet_bytes,
                   "Largest MQTT packet; larger ones close the connection")
      ->capture_default_str();
  serve_cmd
      ->add_option("--mqtt-receive-maximum", serve.mqtt_receive_maximum,
                   "Unacknowledged QoS 1/2 messages per MQTT connection (in-flight window)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--mqtt-writers", serve.mqtt_writers,
                   "Threads writing MQTT messages (their writes share the WAL group commit)")
      ->capture_default_str();
  serve_cmd->add_option(
      "--mqtt-rules", serve.mqtt_rules,
      "MQTT topic rules file: topic patterns to database, measurement, tags, payload format");
  serve_cmd->add_option("--mqtt-dead-letter", serve.mqtt_dead_letter,
                        "Append rejected MQTT messages to this file (JSON lines; FILE.1 past 64 MiB)");
  serve_cmd->add_option("--mqtt-subscribe", serve.mqtt_subscribe,
                        "Subscribe to a broker at QoS 1 and store what it forwards: "
                        "mqtt[s]://[user:pass@]HOST:PORT/FILTER (repeatable; FILTER taken literally)");
  serve_cmd->add_option(
      "--mqtt-client-id", serve.mqtt_client_id,
      "Client id of the --mqtt-subscribe session (default m2mdb-<host>-<hash of the data dir>)");
  serve_cmd->add_option("--mqtt-subscribe-ca", serve.mqtt_subscribe_ca,
                        "CA certificate file (PEM) verifying mqtts:// brokers (default: the system's)");
  serve_cmd
      ->add_option("--max-body-bytes", serve.max_body_bytes, "Largest request body, also after gzip (413)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--max-line-bytes", serve.max_line_bytes, "Longest line of line protocol (line rejected)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--max-series-per-database", serve.max_series_per_database,
                   "Series per database; lines creating more are rejected (0 = unlimited)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--max-concurrent-queries", serve.max_concurrent_queries,
                   "Queries running at once; more get 429 (0 = unlimited)")
      ->capture_default_str();
  serve_cmd->add_option("--query-timeout-ms", serve.query_timeout_ms, "Statement time limit (0 = none)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--query-max-points", serve.query_max_points,
                   "Decoded points one statement may hold in memory (0 = no limit)")
      ->capture_default_str();
  serve_cmd
      ->add_option(
          "--http-threads", serve.http_threads,
          "Most HTTP worker threads, each serving one connection with bytes ready, started on demand; "
          "idle connections hold none (0 = 1024)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--http-spin-us", serve.http_spin_us,
                   "After an answer, poll for the connection's next request this long before sleeping "
                   "(at most half the CPUs at once; 0 = off)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--keep-alive-seconds", serve.keep_alive_seconds, "Idle keep-alive connection timeout")
      ->capture_default_str();
  serve_cmd
      ->add_option("--read-timeout-seconds", serve.read_timeout_seconds,
                   "Drop a client that sends nothing for this long within a request body (also per send)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--http-header-timeout-seconds", serve.header_timeout_seconds,
                   "A request head (and TLS handshake) must arrive within this of the accept or of its first "
                   "byte; also how long a new connection may stay silent (408, then close)")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  serve_cmd
      ->add_option("--http-body-timeout-seconds", serve.body_timeout_seconds,
                   "A request body must arrive completely within this of its head (0 = no deadline)")
      ->check(CLI::Range(0, 86400))
      ->capture_default_str();
  serve_cmd
      ->add_option("--http-max-conns-per-ip", serve.max_connections_per_address,
                   "Open connections per client address; more are answered 429 and closed (0 = unlimited)")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  serve_cmd->add_flag(
      "--skip-damaged-blocks", serve.skip_damaged_blocks,
      "Answer queries from the intact data when a segment block they need is damaged (logged, "
      "counted); default: such a query fails naming the segment");
  serve_cmd
      ->add_option("--cq-poll-ms", serve.cq_poll_ms,
                   "How often the continuous-query refresher looks for dirty windows (ms)")
      ->check(CLI::Range(10, 3600000))
      ->capture_default_str();
  serve_cmd
      ->add_option("--cq-refresh-delay-ms", serve.cq_refresh_delay_ms,
                   "A continuous query's window is first computed this long after it closes (ms); "
                   "later points dirty it again")
      ->check(CLI::Range(0, 86400000))
      ->capture_default_str();
  // ---- end serve HTTP flags ----
  serve_cmd
      ->add_option("--log-level", serve.log_level,
                   "Least severe log lines shown: error | warn | info | debug")
      ->check(CLI::IsMember({"error", "warn", "info", "debug"}))
      ->capture_default_str();
  // Every option above is also a key of --config and an M2MDB_* variable
  // (tools/cli_config.h); these two are not.
  std::string serve_config;
  bool serve_print_config = false;
  serve_cmd
      ->add_option("--config", serve_config,
                   "TOML file with serve options (keys: flag names with _ for -); also $M2MDB_CONFIG. "
                   "Precedence: flags > M2MDB_* environment > file > defaults")
      ->configurable(false);
  serve_cmd
      ->add_flag("--print-config", serve_print_config,
                 "Print the configuration serve would use (as a TOML config file) and exit")
      ->configurable(false);

  std::string check_dir = "./data";
  bool check_repair = false;
  auto* check_cmd = app.add_subcommand(
      "check",
      "Verify every checksum in a data directory without changing anything in it (stop the server first)");
  check_cmd->add_option("--data-dir", check_dir, "Data directory")->capture_default_str();
  check_cmd->add_flag("--repair", check_repair,
                      "Move damaged segments to DATA_DIR/quarantine/ and keep their intact blocks in new "
                      "segments; prints what was lost");

  auto* version_cmd = app.add_subcommand("version", "Print the version and git commit");

  // ---- token subcommand ----
  TokenArgs token_args;
  auto* token_cmd = app.add_subcommand(
      "token",
      "Create, list and revoke API tokens: on a stopped server's data directory (--data-dir), or on a "
      "running server with --host and an admin --token");
  token_cmd->require_subcommand(1);
  auto* token_create = token_cmd->add_subcommand("create", "Create a token and print it (once) on stdout");
  token_create->add_option("--data-dir", token_args.data_dir, "Data directory")->capture_default_str();
  token_create->add_option("--db", token_args.dbs, "Database the token may use (repeatable; default: all)");
  token_create->add_flag("--read", token_args.read, "Allow reads (/query SELECT and SHOW)");
  token_create->add_flag("--write", token_args.write,
                         "Allow writes (/write, /api/v2/write and SELECT ... INTO)");
  token_create->add_flag("--delete", token_args.del,
                         "Allow DELETE, DROP SERIES and DROP MEASUREMENT on the token's databases");
  token_create->add_flag("--admin", token_args.admin,
                         "Allow everything, CREATE/DROP DATABASE and retention policies included");
  token_create->add_option("--description", token_args.description, "Free text shown by `token list`");
  auto* token_list = token_cmd->add_subcommand("list", "List tokens (never the secrets)");
  token_list->add_option("--data-dir", token_args.data_dir, "Data directory")->capture_default_str();
  auto* token_revoke = token_cmd->add_subcommand("revoke", "Delete a token by id");
  token_revoke->add_option("id", token_args.id, "Token id (from `token list`)")->required();
  token_revoke->add_option("--data-dir", token_args.data_dir, "Data directory")->capture_default_str();
  for (auto* sub : {token_create, token_list, token_revoke}) {
    sub->add_option("--host", token_args.host,
                    "A running server (http[s]://host:port) to manage instead of the data directory");
    sub->add_option("--token", token_args.auth,
                    "With --host: an admin token, or user:password of an admin user")
        ->envname("M2MDB_TOKEN");
    sub->add_flag("--insecure", token_args.insecure, "With --host https: skip certificate verification");
    sub->add_option("--cacert", token_args.cacert, "With --host https: CA bundle (PEM) to verify the server");
  }
  // ---- end token subcommand ----

  // ---- client subcommands (tools/cli_*.cc); each callback sets cli_exit ----
  int cli_exit = -1;
  m2mdb::cli::RegisterQuery(&app, &cli_exit);
  m2mdb::cli::RegisterShell(&app, &cli_exit);
  m2mdb::cli::RegisterImport(&app, &cli_exit);
  m2mdb::cli::RegisterExport(&app, &cli_exit);
  m2mdb::cli::RegisterSubscription(&app, &cli_exit);
  // ---- end client subcommands ----

  if (argc <= 1) {
    std::fputs(app.help().c_str(), stderr);
    return kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every parse error is a usage error (CLI11
    // has its own codes, 105-116, which no one can look up).
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  if (cli_exit >= 0) return cli_exit;
  if (*serve_cmd) {
    if (m2mdb::Status s = m2mdb::cli::ApplyConfig(serve_cmd, serve_config); !s.ok()) {
      std::fprintf(stderr, "m2mdb serve: %s\n", Human(s).c_str());
      return kExitUsage;
    }
    if (serve_print_config) {
      std::fputs(m2mdb::cli::EffectiveConfig(serve_cmd).c_str(), stdout);
      return kExitOk;
    }
    return m2mdb::server::Serve(serve);
  }
  if (*check_cmd) return check_repair ? Repair(check_dir) : Check(check_dir);
  if (*token_create) return TokenCreate(token_args);
  if (*token_list) return TokenList(token_args);
  if (*token_revoke) return TokenRevoke(token_args);
  if (*version_cmd) {
    std::printf("%s\n", VersionText().c_str());
    return kExitOk;
  }
  std::fprintf(stderr, "m2mdb: a command is required\n\n%s", app.help().c_str());
  return kExitUsage;
}
