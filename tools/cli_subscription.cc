// `m2mdb subscription verify`: checks that a subscription's destination holds
// what the source holds (docs/edge.md, "Verifying a destination"): per
// measurement, series, field and hour, the point counts of both sides over a
// time range; with --resend, the hours that differ are read from the source
// and written to the destination again (same series + time overwrite, so a
// resend is idempotent). Both sides are InfluxDB 1.x /query endpoints.
#include <cinttypes>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

#include "server/subscriptions/statements.h"
#include "tools/cli_common.h"

namespace m2mdb::cli {
namespace {

constexpr int64_t kHourNs = 3600LL * 1000000000LL;

struct VerifyArgs {
  Target source;
  std::string name;
  std::string database;
  std::string destination;  // http[s]://[user:pass@]host:port
  std::string start, end;   // RFC3339; default: the last 24 hours
  bool resend = false;
};

// (measurement, tags as "k=v,..." in key order, hour start, field) -> count
using Counts = std::map<std::tuple<std::string, std::string, int64_t, std::string>, int64_t>;
// (measurement, tags) -> the tags, for the WHERE clause of a resend
using SeriesTags =
    std::map<std::pair<std::string, std::string>, std::vector<std::pair<std::string, std::string>>>;

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
// Line-protocol escaping (docs/line-protocol.md).
void Escape(std::string* out, const std::string& s, std::string_view specials) {
  for (char c : s) {
    if (specials.find(c) != std::string_view::npos) out->push_back('\\');
    out->push_back(c);
  }
}

StatusOr<Json> Query(HttpClient* http, const std::string& db, const std::string& q) {
  ASSIGN_OR_RETURN(HttpResponse r, http->PostForm("/query", {{"db", db}, {"q", q}, {"epoch", "ns"}}));
  if (r.status != 200)
    return absl::UnavailableError(absl::StrCat(http->url(), " answered ", r.status, ": ", r.body));
  ASSIGN_OR_RETURN(Json j, ParseJson(r.body));
  const Json& res = j["results"].at(0);
  if (res["error"].is_string())
    return absl::InvalidArgumentError(absl::StrCat(http->url(), ": ", res["error"].text));
  return res;
}

StatusOr<Counts> HourlyCounts(HttpClient* http, const VerifyArgs& a, int64_t start, int64_t end,
                              SeriesTags* tags_out) {
  ASSIGN_OR_RETURN(Json res, Query(http, a.database,
                                   absl::StrCat("SELECT count(*) FROM /.*/ WHERE time >= ", start,
                                                " AND time < ", end, " GROUP BY time(1h), *")));
  Counts out;
  const Json& series = res["series"];
  for (size_t i = 0; i < series.size(); ++i) {
    const Json& s = series.at(i);
    std::string tags;
    std::vector<std::pair<std::string, std::string>> tag_list;
    for (const auto& [k, v] : s["tags"].members) {
      absl::StrAppend(&tags, k, "=", v.text, ",");
      tag_list.emplace_back(k, v.text);
    }
    if (tags_out != nullptr) (*tags_out)[{s["name"].text, tags}] = tag_list;
    const Json& cols = s["columns"];
    const Json& values = s["values"];
    for (size_t r = 0; r < values.size(); ++r) {
      const Json& row = values.at(r);
      const int64_t t = std::stoll(row.at(0).text);
      for (size_t c = 1; c < cols.size(); ++c) {
        if (!row.at(c).is_number() || row.at(c).number() == 0) continue;
        std::string field = cols.at(c).text;
        if (field.rfind("count_", 0) == 0) field = field.substr(6);
        out[{s["name"].text, tags, t, field}] = static_cast<int64_t>(row.at(c).number());
      }
    }
  }
  return out;
}

// Reads one hour of one series from the source and renders it as line protocol.
StatusOr<std::string> ReadHour(HttpClient* src, const VerifyArgs& a, const std::string& measurement,
                               const std::vector<std::pair<std::string, std::string>>& tags, int64_t t) {
  ASSIGN_OR_RETURN(Json fk, Query(src, a.database, "SHOW FIELD KEYS FROM " + QuoteIdent(measurement)));
  std::map<std::string, std::string> types;
  const Json& fks = fk["series"].at(0)["values"];
  for (size_t i = 0; i < fks.size(); ++i) types[fks.at(i).at(0).text] = fks.at(i).at(1).text;
  std::string where;
  for (const auto& [k, v] : tags) absl::StrAppend(&where, QuoteIdent(k), " = ", QuoteString(v), " AND ");
  ASSIGN_OR_RETURN(Json res, Query(src, a.database,
                                   absl::StrCat("SELECT * FROM ", QuoteIdent(measurement), " WHERE ", where,
                                                "time >= ", t, " AND time < ", t + kHourNs)));
  std::string key;
  Escape(&key, measurement, ", ");
  for (const auto& [k, v] : tags) {
    if (v.empty()) continue;
    key.push_back(',');
    Escape(&key, k, ",= ");
    key.push_back('=');
    Escape(&key, v, ",= ");
  }
  std::string out;
  const Json& s = res["series"].at(0);
  const Json& cols = s["columns"];
  const Json& values = s["values"];
  for (size_t r = 0; r < values.size(); ++r) {
    const Json& row = values.at(r);
    std::string fields;
    for (size_t c = 1; c < cols.size(); ++c) {
      auto type = types.find(cols.at(c).text);
      if (type == types.end() || row.at(c).is_null()) continue;  // a tag column, or no value
      if (!fields.empty()) fields.push_back(',');
      Escape(&fields, cols.at(c).text, ",= ");
      fields.push_back('=');
      const Json& v = row.at(c);
      if (type->second == "string") {
        fields.push_back('"');
        Escape(&fields, v.text, "\"\\");
        fields.push_back('"');
      } else if (type->second == "boolean") {
        fields += v.boolean ? "true" : "false";
      } else if (type->second == "integer") {
        absl::StrAppend(&fields, v.text, "i");
      } else if (type->second == "unsigned") {
        absl::StrAppend(&fields, v.text, "u");
      } else {
        fields += v.text;
      }
    }
    if (fields.empty()) continue;
    absl::StrAppend(&out, key, " ", fields, " ", row.at(0).text, "\n");
  }
  return out;
}

int Verify(const VerifyArgs& a) {
  auto fail = [](const absl::Status& s) {
    std::fprintf(stderr, "m2mdb subscription verify: %s\n", Human(s).c_str());
    return kExitUsage;
  };
  int64_t end = absl::ToUnixNanos(absl::Now()), start = end - 24 * kHourNs;
  std::string err;
  absl::Time t;
  if (!a.start.empty()) {
    if (!absl::ParseTime(absl::RFC3339_full, a.start, &t, &err))
      return fail(absl::InvalidArgumentError("--start: " + err));
    start = absl::ToUnixNanos(t);
  }
  if (!a.end.empty()) {
    if (!absl::ParseTime(absl::RFC3339_full, a.end, &t, &err))
      return fail(absl::InvalidArgumentError("--end: " + err));
    end = absl::ToUnixNanos(t);
  }
  start -= ((start % kHourNs) + kHourNs) % kHourNs;  // whole hours
  auto src = ConnectHttp(a.source);
  if (!src.ok()) return fail(src.status());
  // The subscription must exist on the source (a typo would verify nothing).
  auto subs = Query(src->get(), "", "SHOW SUBSCRIPTIONS");
  if (!subs.ok()) return fail(subs.status());
  bool found = false;
  for (size_t i = 0; i < (*subs)["series"].size(); ++i) {
    const Json& s = (*subs)["series"].at(i);
    for (size_t r = 0; r < s["values"].size(); ++r) {
      if (s["name"].text == a.database && s["values"].at(r).at(1).text == a.name) found = true;
    }
  }
  if (!found) return fail(absl::NotFoundError("subscription " + a.name + " on " + a.database + " not found"));
  std::string base, user, password;
  if (!server::SplitDestination(a.destination, &base, &user, &password)) {
    return fail(
        absl::InvalidArgumentError("invalid destination URL: " + server::MaskedDestination(a.destination)));
  }
  client::HttpClientOptions co;
  co.url = base;
  co.basic_user = user;
  co.basic_password = password;
  auto dst = HttpClient::Create(co);
  if (!dst.ok()) return fail(dst.status());

  SeriesTags tags;
  auto sc = HourlyCounts(src->get(), a, start, end, &tags);
  if (!sc.ok()) return fail(sc.status());
  auto dc = HourlyCounts(dst->get(), a, start, end, nullptr);
  if (!dc.ok()) return fail(dc.status());
  // Hours (per series) where any field's count differs.
  std::set<std::tuple<std::string, std::string, int64_t>> differ;
  for (const auto& [k, n] : *sc) {
    auto it = dc->find(k);
    const int64_t m = it == dc->end() ? 0 : it->second;
    if (m != n) {
      differ.insert({std::get<0>(k), std::get<1>(k), std::get<2>(k)});
      std::printf(
          "%s,%s %s hour %s: source %" PRId64 " points, destination %" PRId64 "\n", std::get<0>(k).c_str(),
          std::get<1>(k).c_str(), std::get<3>(k).c_str(),
          absl::FormatTime(absl::RFC3339_full, absl::FromUnixNanos(std::get<2>(k)), absl::UTCTimeZone())
              .c_str(),
          n, m);
    }
  }
  std::printf("%zu series-hours compared, %zu differ\n", sc->size(), differ.size());
  if (differ.empty() || !a.resend) return differ.empty() ? kExitOk : kExitFailed;
  size_t sent = 0;
  for (const auto& [m, tagkey, t] : differ) {
    auto body = ReadHour(src->get(), a, m, tags[{m, tagkey}], t);
    if (!body.ok()) return fail(body.status());
    auto r = (*dst)->PostBody("/write", {{"db", a.database}, {"precision", "ns"}}, *body, "text/plain");
    if (!r.ok()) return fail(r.status());
    if (r->status / 100 != 2)
      return fail(absl::UnavailableError(absl::StrCat("destination answered ", r->status, ": ", r->body)));
    sent++;
  }
  std::printf("re-sent %zu series-hours\n", sent);
  return kExitOk;
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
  verify
      ->add_option("--destination", args.destination,
                   "The destination URL as given to CREATE SUBSCRIPTION (SHOW masks its password)")
      ->required();
  verify->add_option("--start", args.start, "RFC3339; default: 24 hours ago (rounded down to the hour)");
  verify->add_option("--end", args.end, "RFC3339; default: now");
  verify->add_flag("--resend", args.resend, "Write the differing hours to the destination again");
  verify->callback([exit_code] { *exit_code = Verify(args); });
}

}  // namespace m2mdb::cli
