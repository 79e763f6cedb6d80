// tools/cli_common.h — what the client subcommands of `m2mdb` share (query,
// shell, import, export): the choice between a server and a data directory,
// an HTTP client, a small JSON reader for /query answers, time arguments and
// terminal helpers.
//
// Each subcommand lives in its own file and registers itself with
// Register*(app, exit_code): the subcommand's callback runs its work inside
// CLI::App::parse and stores the process exit code in *exit_code. Nothing
// here throws; CLI11 throws only while parsing, and main catches that.
#ifndef M2MDB_TOOLS_CLI_COMMON_H_
#define M2MDB_TOOLS_CLI_COMMON_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "client/http_client.h"
#include "client/json.h"

#include "m2mdb/db.h"
#include "m2mdb/query/executor.h"
#include "m2mdb/status.h"

namespace m2mdb::cli {

// Exit codes of every m2mdb command (docs/cli.md, "Exit codes").
constexpr int kExitOk = 0;
// A statement or data failure: a query error, rejected lines, damage found.
constexpr int kExitFailed = 1;
// Usage, connection or environment: a bad flag, the server unreachable, a
// missing or locked data directory, an unreadable input file.
constexpr int kExitUsage = 2;

// The text of `s` for a person: its message without Abseil's code name
// ("FAILED_PRECONDITION: ...").
std::string Human(const absl::Status& s);

// Registration functions, one per subcommand file.
void RegisterQuery(CLI::App* app, int* exit_code);
void RegisterShell(CLI::App* app, int* exit_code);
void RegisterImport(CLI::App* app, int* exit_code);
void RegisterExport(CLI::App* app, int* exit_code);
void RegisterSubscription(CLI::App* app, int* exit_code);  // cli_subscription.cc

// Where a client command runs: against a server over HTTP, or directly on a
// data directory (embedded mode) when data_dir is set.
struct Target {
  std::string host = "http://127.0.0.1:8086";  // http:// or https:// URL; a bare host:port means http
  std::string token;                           // sent as "Authorization: Token <token>"
  bool insecure = false;                       // https: skip certificate verification
  std::string cacert;                          // https: CA bundle (PEM) to verify the server with
  std::string data_dir;                        // non-empty: embedded mode
  bool embedded() const { return !data_dir.empty(); }
};
// Adds --host, --token (also $M2MDB_TOKEN), --insecure, --cacert and --data-dir.
void AddTargetOptions(CLI::App* cmd, Target* target);

// Opens a data directory for embedded mode. On failure prints
// "m2mdb <cmd>: <reason>" to stderr — explaining the lock when a server (or
// another m2mdb) holds the directory — and returns null.
// skip_damaged_blocks: Options::skip_damaged_blocks (export).
std::unique_ptr<DB> OpenDataDir(const std::string& dir, bool create_if_missing, const char* cmd,
                                bool skip_damaged_blocks = false);

// ---- HTTP (client/http_client.h) ---------------------------------------------
using client::HttpClient;
using client::HttpResponse;
using client::Params;
// A client of the server --host names (http:// assumed), with --token,
// --insecure and --cacert; InvalidArgument naming the bad option.
StatusOr<std::unique_ptr<HttpClient>> ConnectHttp(const Target& target);

// ---- JSON (client/json.h: nlohmann-json under a small tree of ours) ----------
using client::Json;
// client::ParseJson, with "bad JSON from server: " before its error.
StatusOr<Json> ParseJson(std::string_view text);

// The message of an error answer: its JSON "error" member, else the body.
std::string ErrorFromBody(const HttpResponse& r);

// Converts one /query JSON document into results. Numbers become int64 (or
// uint64 when too large) unless they have a fraction or exponent; so ask the
// server for epoch=ns and the "time" column is nanoseconds, as the local
// writers expect. `errors` gets the request error and each statement error.
void ResultsFromJson(const Json& doc, std::vector<query::StatementResult>* results,
                     std::vector<std::string>* errors);

// ---- running statements (query and shell) -------------------------------------
struct RenderOptions {
  std::string database;
  std::string format = "table";  // table | csv | json
  std::string epoch;             // "" = RFC3339, else ns | u | ms | s | m | h
  bool pretty = false;           // json only
};

struct QueryOutcome {
  std::string output;               // for stdout (never holds the errors, except inside json)
  std::vector<std::string> errors;  // request and statement errors, for stderr
  uint64_t rows = 0;
  bool unreachable = false;  // no answer from the server (errors says why): exit kExitUsage
};

// Runs InfluxQL against a server or an open data directory.
class Session {
 public:
  // Opens the directory (embedded) or checks that the server answers
  // (GET /ping); prints why not to stderr and returns null.
  static std::unique_ptr<Session> Open(const Target& target, const char* cmd);
  ~Session();
  QueryOutcome Run(std::string_view text, const RenderOptions& options);
  // Whether SHOW DATABASES lists `name`; an error when it cannot be asked.
  StatusOr<bool> DatabaseExists(const std::string& name);
  bool embedded() const { return db_ != nullptr; }

 private:
  Session() = default;
  std::unique_ptr<DB> db_;
  std::unique_ptr<HttpClient> http_;
};

// Accepts "rfc3339" (-> "") and the epoch units ns|n|u|us|µ|ms|s|m|h.
bool ParseEpoch(std::string_view precision, std::string* epoch);

// ---- time, numbers, terminal --------------------------------------------------
// RFC3339 ("2023-11-14T22:13:20Z", fraction and ±hh:mm offset allowed, also a
// bare date "2023-11-14") or an integer of nanoseconds since the epoch.
StatusOr<int64_t> ParseTimeArg(std::string_view s);

// Shortest text that reads back as exactly `d` (std::to_chars).
void AppendShortestDouble(double d, std::string* out);

// InfluxQL identifier in double quotes, escaped.
std::string QuoteIdent(std::string_view name);

bool IsTerminal(int fd);

// Writes all of `data` to `f`; false on a write error (EPIPE, disk full).
bool WriteAll(std::FILE* f, std::string_view data);

}  // namespace m2mdb::cli

#endif  // M2MDB_TOOLS_CLI_COMMON_H_
