// tools/cli_query.cc — `m2mdb query 'STATEMENT[; ...]'`: runs InfluxQL against
// a server (--host) or a data directory (--data-dir) and prints the answer.
// Exit code 1 when any statement failed (each error on stderr), 2 when the
// server does not answer or the data directory cannot be opened, 0 otherwise.
#include <cstdio>
#include <memory>
#include <string>

#include "tools/cli_common.h"

namespace m2mdb::cli {
namespace {

struct QueryArgs {
  Target target;
  std::string statement;
  std::string database;
  std::string format = "table";
  std::string precision = "rfc3339";
  bool pretty = false;
};

int RunQuery(const QueryArgs& a) {
  RenderOptions ro;
  ro.database = a.database;
  ro.format = a.format;
  ro.pretty = a.pretty;
  if (!ParseEpoch(a.precision, &ro.epoch)) {
    std::fprintf(stderr, "m2mdb query: --precision %s: use rfc3339, ns, u, ms, s, m or h\n",
                 a.precision.c_str());
    return kExitUsage;
  }
  std::unique_ptr<Session> session = Session::Open(a.target, "query");
  if (session == nullptr) return kExitUsage;
  QueryOutcome out = session->Run(a.statement, ro);
  if (!WriteAll(stdout, out.output) || std::fflush(stdout) != 0) {
    std::fprintf(stderr, "m2mdb query: cannot write the output\n");
    return kExitUsage;
  }
  for (const std::string& e : out.errors) std::fprintf(stderr, "ERR: %s\n", e.c_str());
  if (out.unreachable) return kExitUsage;
  return out.errors.empty() ? kExitOk : kExitFailed;
}

}  // namespace

void RegisterQuery(CLI::App* app, int* exit_code) {
  auto args = std::make_shared<QueryArgs>();
  CLI::App* cmd = app->add_subcommand(
      "query",
      "Run InfluxQL statements (separated by ';') against a server, or directly on a data directory with "
      "--data-dir. Exit code 1 if any statement failed, 2 if the server or directory cannot be reached");
  cmd->add_option("statement", args->statement,
                  "The statement(s), e.g. 'SELECT mean(v) FROM cpu GROUP BY time(1m)'")
      ->required();
  AddTargetOptions(cmd, &args->target);
  cmd->add_option("--db,-d", args->database, "Default database (like USE db)");
  cmd->add_option("--format", args->format, "Output format")
      ->check(CLI::IsMember({"table", "csv", "json"}))
      ->capture_default_str();
  cmd->add_option("--precision,--epoch", args->precision, "Times as rfc3339 or integers in ns|u|ms|s|m|h")
      ->capture_default_str();
  cmd->add_flag("--pretty", args->pretty, "Indent JSON output");
  cmd->callback([args, exit_code] { *exit_code = RunQuery(*args); });
}

}  // namespace m2mdb::cli
