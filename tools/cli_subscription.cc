// `m2mdb subscription verify`: checks that a subscription's destination holds
// what the source holds (docs/edge.md, "Verifying a destination"): per
// measurement, series, field and hour, the point counts of both sides over a
// time range; with --resend, the hours that differ are read from the source
// and written to the destination again (same series + time overwrite, so a
// resend is idempotent).
//
// The server does the work (VERIFY SUBSCRIPTION, server/subscriptions/
// verify.h, the same code as the periodic VERIFY EVERY): it reads its own
// engine, reaches the destination with the subscription's credentials, and
// records the result for SHOW SUBSCRIPTIONS and /metrics. This command
// sends the statement and prints the answer.
#include <cinttypes>
#include <cstdio>
#include <string>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

#include "tools/cli_common.h"

namespace m2mdb::cli {
namespace {

struct VerifyArgs {
  Target source;
  std::string name;
  std::string database;
  std::string retention_policy;  // empty: the database's default
  std::string destination;       // as given to CREATE SUBSCRIPTION (or masked); empty: every one
  std::string start, end;        // RFC3339; default: the last 24 hours
  bool resend = false;
};

std::string QuoteIdent(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}
std::string QuoteString(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "'";
}

int64_t Int(const Json& v) { return static_cast<int64_t>(v.number()); }

int Verify(const VerifyArgs& a) {
  auto fail = [](const absl::Status& s) {
    std::fprintf(stderr, "m2mdb subscription verify: %s\n", Human(s).c_str());
    return kExitUsage;
  };
  if (a.source.embedded()) {
    return fail(absl::InvalidArgumentError(
        "runs on the server that holds the subscription: give --host, not --data-dir"));
  }
  std::string q = absl::StrCat("VERIFY SUBSCRIPTION ", QuoteIdent(a.name), " ON ", QuoteIdent(a.database));
  if (!a.retention_policy.empty()) absl::StrAppend(&q, ".", QuoteIdent(a.retention_policy));
  if (!a.destination.empty()) absl::StrAppend(&q, " DESTINATION ", QuoteString(a.destination));
  for (const auto& [flag, kw, value] :
       {std::tuple{"--start", " START ", &a.start}, {"--end", " END ", &a.end}}) {
    if (value->empty()) continue;
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, *value, &t, &err)) {
      return fail(absl::InvalidArgumentError(absl::StrCat(flag, ": ", err)));
    }
    absl::StrAppend(&q, kw, QuoteString(absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone())));
  }
  if (a.resend) absl::StrAppend(&q, " RESEND");
  auto http = ConnectHttp(a.source);
  if (!http.ok()) return fail(http.status());
  auto r = (*http)->PostForm("/query", {{"q", q}});
  if (!r.ok()) return fail(r.status());
  auto j = ParseJson(r->body);
  if (!j.ok()) return fail(j.status());
  if ((*j)["error"].is_string()) return fail(absl::InvalidArgumentError((*j)["error"].text));
  if (r->status != 200) return fail(absl::UnavailableError(absl::StrCat("server answered ", r->status)));
  const Json& res = (*j)["results"].at(0);
  uint64_t differing = 0;
  // The differences first, the summary last (where a reader looks).
  for (size_t n = 0; n < 2 * res["series"].size(); ++n) {
    const Json& s = res["series"].at(n % res["series"].size());
    const Json& rows = s["values"];
    if ((s["name"].text == "differences") != (n < res["series"].size())) continue;
    if (s["name"].text == "differences") {
      // destination, measurement, tags, field, hour, source_points, destination_points
      for (size_t k = 0; k < rows.size(); ++k) {
        const Json& row = rows.at(k);
        std::printf("%s,%s %s hour %s: source %" PRId64 " points, destination %" PRId64 "\n",
                    row.at(1).text.c_str(), row.at(2).text.c_str(), row.at(3).text.c_str(),
                    row.at(4).text.c_str(), Int(row.at(5)), Int(row.at(6)));
      }
      continue;
    }
    // destination, verified_at, start, end, hours_checked, hours_differing,
    // points_missing, hours_resent, error
    for (size_t k = 0; k < rows.size(); ++k) {
      const Json& row = rows.at(k);
      differing += static_cast<uint64_t>(Int(row.at(5)));
      std::printf("%s: %" PRId64 " series-hours compared, %" PRId64 " differ (%" PRId64
                  " points missing) from %s to %s\n",
                  row.at(0).text.c_str(), Int(row.at(4)), Int(row.at(5)), Int(row.at(6)),
                  row.at(2).text.c_str(), row.at(3).text.c_str());
      if (a.resend)
        std::printf("%s: re-sent %" PRId64 " series-hours\n", row.at(0).text.c_str(), Int(row.at(7)));
    }
  }
  if (res["error"].is_string()) return fail(absl::InvalidArgumentError(res["error"].text));
  return differing == 0 || a.resend ? kExitOk : kExitFailed;
}

}  // namespace

void RegisterSubscription(CLI::App* app, int* exit_code) {
  auto* cmd = app->add_subcommand("subscription", "Durable subscriptions (docs/edge.md)");
  cmd->require_subcommand(1);
  auto* verify = cmd->add_subcommand(
      "verify",
      "Compare per-hour point counts of every series between the source and a subscription's destination; "
      "exit 1 if they differ. With --resend, write the hours that differ again");
  static VerifyArgs args;
  verify->add_option("name", args.name, "The subscription")->required();
  AddTargetOptions(verify, &args.source);
  verify->add_option("-d,--db", args.database, "Its database")->required();
  verify->add_option("--rp", args.retention_policy, "Its retention policy; default: the database's default");
  verify->add_option("--destination", args.destination,
                     "One destination, as given to CREATE SUBSCRIPTION or as SHOW SUBSCRIPTIONS shows it; "
                     "default: every destination");
  verify->add_option("--start", args.start, "RFC3339; default: 24 hours ago (rounded down to the hour)");
  verify->add_option("--end", args.end, "RFC3339; default: now");
  verify->add_flag("--resend", args.resend, "Write the differing hours to the destination again");
  verify->callback([exit_code] { *exit_code = Verify(args); });
}

}  // namespace m2mdb::cli
