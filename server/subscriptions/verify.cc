// Verification of a subscription's destination (verify.h).
#include "server/subscriptions/verify.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <limits>
#include <set>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/http_client.h"
#include "nlohmann/json.hpp"

#include "server/subscriptions/statements.h"

namespace m2mdb::server {
namespace {

using Tags = std::vector<std::pair<std::string, std::string>>;

std::string QuoteIdent(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

std::string QuoteString(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "'";
}

// Line-protocol escaping (docs/line-protocol.md).
void Escape(std::string* out, std::string_view s, std::string_view specials) {
  for (char c : s) {
    if (specials.find(c) != std::string_view::npos) out->push_back('\\');
    out->push_back(c);
  }
}

bool AsInt(const query::Value& v, int64_t* out) {
  if (const auto* i = std::get_if<int64_t>(&v)) {
    *out = *i;
  } else if (const auto* u = std::get_if<uint64_t>(&v)) {
    *out = static_cast<int64_t>(*u);
  } else if (const auto* d = std::get_if<double>(&v)) {
    *out = static_cast<int64_t>(*d);
  } else {
    return false;
  }
  return true;
}

std::string Text(const query::Value& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  int64_t i;
  if (AsInt(v, &i)) return absl::StrCat(i);
  return "";
}

class LocalSide : public VerifySide {
 public:
  explicit LocalSide(DB* db) : db_(db), exec_(db) {}

  StatusOr<std::vector<query::ResultSeries>> Query(const std::string& database,
                                                   const std::string& q) override {
    query::QueryOptions qo;
    qo.database = database;
    std::vector<query::StatementResult> r = exec_.Execute(q, qo);
    if (r.empty()) return absl::InternalError("no answer from the executor");
    if (!r[0].error.empty()) return absl::InvalidArgumentError(absl::StrCat("source: ", r[0].error));
    return std::move(r[0].series);
  }

  Status Write(const std::string& database, const std::string& retention_policy,
               std::string_view lines) override {
    WriteOptions wo;
    wo.retention_policy = retention_policy;
    ASSIGN_OR_RETURN(WriteResult r, db_->WriteLineProtocol(database, lines, wo));
    if (!r.errors.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("line ", r.errors[0].line, ": ", r.errors[0].reason));
    }
    return absl::OkStatus();
  }

 private:
  DB* const db_;
  query::Executor exec_;
};

query::Value FromJson(const nlohmann::json& j) {
  if (j.is_number_unsigned()) {
    const uint64_t u = j.get<uint64_t>();
    if (u <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(u);
    return u;
  }
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_number_float()) return j.get<double>();
  if (j.is_string()) return j.get<std::string>();
  if (j.is_boolean()) return j.get<bool>();
  return std::monostate{};
}

class HttpSide : public VerifySide {
 public:
  HttpSide(std::unique_ptr<client::HttpClient> http, std::string shown)
      : http_(std::move(http)), shown_(std::move(shown)) {}

  StatusOr<std::vector<query::ResultSeries>> Query(const std::string& database,
                                                   const std::string& q) override {
    auto r = http_->PostForm("/query", {{"db", database}, {"q", q}, {"epoch", "ns"}});
    if (!r.ok()) return absl::UnavailableError(absl::StrCat(shown_, ": ", r.status().message()));
    auto j = nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false);
    if (r->status != 200 || j.is_discarded() || !j.is_object()) {
      return absl::UnavailableError(
          absl::StrCat(shown_, " answered ", r->status, ": ", r->body.substr(0, 300)));
    }
    if (!j.contains("results") || !j["results"].is_array() || j["results"].empty()) {
      return absl::UnavailableError(absl::StrCat(shown_, ": an answer without results"));
    }
    const nlohmann::json& res = j["results"][0];
    if (res.contains("error") && res["error"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(shown_, ": ", res["error"].get<std::string>()));
    }
    std::vector<query::ResultSeries> out;
    if (!res.contains("series") || !res["series"].is_array()) return out;
    for (const auto& s : res["series"]) {
      if (!s.is_object()) continue;
      query::ResultSeries rs;
      if (s.contains("name") && s["name"].is_string()) rs.name = s["name"].get<std::string>();
      if (s.contains("tags") && s["tags"].is_object()) {
        for (const auto& [k, v] : s["tags"].items()) {
          rs.tags.emplace_back(k, v.is_string() ? v.get<std::string>() : "");
        }
        std::sort(rs.tags.begin(), rs.tags.end());
      }
      if (s.contains("columns") && s["columns"].is_array()) {
        for (const auto& c : s["columns"]) rs.columns.push_back(c.is_string() ? c.get<std::string>() : "");
      }
      if (s.contains("values") && s["values"].is_array()) {
        for (const auto& row : s["values"]) {
          if (!row.is_array()) continue;
          std::vector<query::Value> vals;
          for (const auto& v : row) vals.push_back(FromJson(v));
          vals.resize(rs.columns.size());
          rs.values.push_back(std::move(vals));
        }
      }
      out.push_back(std::move(rs));
    }
    return out;
  }

  Status Write(const std::string& database, const std::string& retention_policy,
               std::string_view lines) override {
    client::Params q = {{"db", database}, {"precision", "ns"}};
    if (!retention_policy.empty()) q.push_back({"rp", retention_policy});
    auto r = http_->PostBody("/write", q, lines, "text/plain; charset=utf-8");
    if (!r.ok()) return absl::UnavailableError(absl::StrCat(shown_, ": ", r.status().message()));
    if (r->status / 100 != 2) {
      return absl::UnavailableError(
          absl::StrCat(shown_, " answered ", r->status, " to a resend: ", r->body.substr(0, 300)));
    }
    return absl::OkStatus();
  }

 private:
  std::unique_ptr<client::HttpClient> http_;
  const std::string shown_;
};

// (measurement, tags as "k=v,..." in key order, hour) -> field -> count
using SeriesHour = std::tuple<std::string, std::string, int64_t>;
using Counts = std::map<SeriesHour, std::map<std::string, int64_t>>;

// Length-prefixed: as "k=v," text, {a="x,c=y", c=""} and {a="x", c="y,c="}
// were one key, and one of the two series went unchecked.
std::string TagKey(const Tags& tags) {
  std::string out;
  for (const auto& [k, v] : tags) absl::StrAppend(&out, k.size(), ":", k, v.size(), ":", v);
  return out;
}

StatusOr<Counts> HourlyCounts(VerifySide* side, const VerifyRequest& req, int64_t start,
                              std::map<std::pair<std::string, std::string>, Tags>* tags_out) {
  // fill(none): only hours holding points come back (a range of weeks
  // over thousands of series would otherwise be mostly empty rows).
  const std::string q =
      absl::StrCat("SELECT count(*) FROM ", QuoteIdent(req.retention_policy), "./.*/ WHERE time >= ", start,
                   " AND time < ", req.end_ns, " GROUP BY time(1h), * fill(none)");
  auto series = side->Query(req.database, q);
  Counts out;
  if (!series.ok() &&
      absl::StrContains(series.status().message(), "requires at least one aggregate function")) {
    // m2mdb answers count(*) over a database without fields with this
    // error (influxd with nothing): nothing to count then, unless the
    // first points arrived meanwhile.
    ASSIGN_OR_RETURN(auto m, side->Query(req.database, "SHOW MEASUREMENTS"));
    if (m.empty() || m[0].values.empty()) return out;
    series = side->Query(req.database, q);
  }
  if (!series.ok()) return series.status();
  for (const auto& s : *series) {
    const std::string tags = TagKey(s.tags);
    if (tags_out != nullptr) (*tags_out)[{s.name, tags}] = s.tags;
    for (const auto& row : s.values) {
      int64_t t;
      if (row.empty() || !AsInt(row[0], &t)) continue;
      for (size_t c = 1; c < s.columns.size() && c < row.size(); ++c) {
        int64_t n;
        if (!AsInt(row[c], &n) || n == 0) continue;
        std::string field = s.columns[c];
        if (field.rfind("count_", 0) == 0) field = field.substr(6);
        out[{s.name, tags, t}][field] = n;
      }
    }
  }
  return out;
}

// One series-hour of the source as line protocol.
StatusOr<std::string> ReadHour(VerifySide* src, const VerifyRequest& req,
                               std::map<std::string, std::map<std::string, std::string>>* field_types,
                               const std::string& measurement, const Tags& tags, int64_t t) {
  const std::string from = absl::StrCat(QuoteIdent(req.retention_policy), ".", QuoteIdent(measurement));
  auto ft = field_types->find(measurement);
  if (ft == field_types->end()) {
    ASSIGN_OR_RETURN(auto fk, src->Query(req.database, "SHOW FIELD KEYS FROM " + from));
    std::map<std::string, std::string> types;
    for (const auto& s : fk) {
      for (const auto& row : s.values) {
        if (row.size() >= 2) types[Text(row[0])] = Text(row[1]);
      }
    }
    ft = field_types->emplace(measurement, std::move(types)).first;
  }
  std::string where;
  for (const auto& [k, v] : tags) absl::StrAppend(&where, QuoteIdent(k), " = ", QuoteString(v), " AND ");
  ASSIGN_OR_RETURN(auto series,
                   src->Query(req.database, absl::StrCat("SELECT * FROM ", from, " WHERE ", where,
                                                         "time >= ", t, " AND time < ", t + kVerifyHourNs)));
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
  for (const auto& s : series) {
    for (const auto& row : s.values) {
      int64_t ts;
      if (row.empty() || !AsInt(row[0], &ts)) continue;
      std::string fields;
      for (size_t c = 1; c < s.columns.size() && c < row.size(); ++c) {
        auto type = ft->second.find(s.columns[c]);
        // A tag column, or no value for this field at this time.
        if (type == ft->second.end() || std::holds_alternative<std::monostate>(row[c])) continue;
        if (!fields.empty()) fields.push_back(',');
        Escape(&fields, s.columns[c], ",= ");
        fields.push_back('=');
        const query::Value& v = row[c];
        if (const auto* str = std::get_if<std::string>(&v)) {
          fields.push_back('"');
          Escape(&fields, *str, "\"\\");
          fields.push_back('"');
        } else if (const auto* b = std::get_if<bool>(&v)) {
          fields += *b ? "true" : "false";
        } else if (const auto* d = std::get_if<double>(&v); d != nullptr && type->second == "float") {
          // Shortest text that reads back as the same double.
          char buf[64];
          auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), *d);
          fields.append(buf, ec == std::errc() ? end : buf);
        } else if (const auto* u = std::get_if<uint64_t>(&v)) {
          absl::StrAppend(&fields, *u, type->second == "unsigned" ? "u" : "i");
        } else {
          int64_t i = 0;
          AsInt(v, &i);
          if (type->second == "float") {
            absl::StrAppend(&fields, i);
          } else {
            absl::StrAppend(&fields, i, type->second == "unsigned" ? "u" : "i");
          }
        }
      }
      if (fields.empty()) continue;
      absl::StrAppend(&out, key, " ", fields, " ", ts, "\n");
    }
  }
  return out;
}

}  // namespace

std::unique_ptr<VerifySide> LocalVerifySide(DB* db) { return std::make_unique<LocalSide>(db); }

StatusOr<std::unique_ptr<VerifySide>> HttpVerifySide(const std::string& url) {
  std::string base, user, password;
  if (!SplitDestination(url, &base, &user, &password)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid destination URL: ", MaskedDestination(url)));
  }
  client::HttpClientOptions co;
  co.url = base;
  co.basic_user = user;
  co.basic_password = password;
  co.connect_timeout_seconds = 5;
  // A stop (DROP SUBSCRIPTION, shutdown) waits for a request in flight.
  co.read_timeout_seconds = 60;
  co.write_timeout_seconds = 60;
  ASSIGN_OR_RETURN(auto http, client::HttpClient::Create(co));
  return std::unique_ptr<VerifySide>(std::make_unique<HttpSide>(std::move(http), MaskedDestination(url)));
}

VerifyReport Verify(VerifySide* source, VerifySide* destination, const VerifyRequest& req) {
  VerifyReport rep;
  rep.at_ns = absl::ToUnixNanos(absl::Now());
  // START '0001-01-01...' saturates at the int64 minimum: keep the rounding
  // down from overflowing.
  const int64_t start = std::max(req.start_ns, std::numeric_limits<int64_t>::min() + 2 * kVerifyHourNs);
  rep.start_ns = start - ((start % kVerifyHourNs) + kVerifyHourNs) % kVerifyHourNs;
  rep.end_ns = req.end_ns;
  auto cancelled = [&] {
    if (req.cancelled && req.cancelled()) {
      rep.error = "cancelled";
      return true;
    }
    return false;
  };
  if (rep.end_ns <= rep.start_ns) return rep;  // nothing to compare
  std::map<std::pair<std::string, std::string>, Tags> tags;
  auto sc = HourlyCounts(source, req, rep.start_ns, &tags);
  if (!sc.ok()) {
    rep.error = std::string(sc.status().message());
    return rep;
  }
  if (cancelled()) return rep;
  auto dc = HourlyCounts(destination, req, rep.start_ns, nullptr);
  if (!dc.ok()) {
    rep.error = std::string(dc.status().message());
    return rep;
  }
  std::vector<SeriesHour> differ;
  for (const auto& [key, fields] : *sc) {
    rep.hours_checked++;
    auto it = dc->find(key);
    int64_t missing = 0;
    bool differs = false;
    for (const auto& [field, n] : fields) {
      int64_t m = 0;
      if (it != dc->end()) {
        if (auto f = it->second.find(field); f != it->second.end()) m = f->second;
      }
      if (m == n) continue;
      differs = true;
      missing = std::max(missing, n - m);
      rep.differences.push_back(
          {std::get<0>(key), tags[{std::get<0>(key), std::get<1>(key)}], field, std::get<2>(key), n, m});
    }
    if (!differs) continue;
    rep.hours_differing++;
    rep.points_missing += static_cast<uint64_t>(missing);
    differ.push_back(key);
  }
  if (!req.resend) return rep;
  std::map<std::string, std::map<std::string, std::string>> field_types;
  for (const auto& [m, tagkey, t] : differ) {
    if (cancelled()) return rep;
    auto body = ReadHour(source, req, &field_types, m, tags[{m, tagkey}], t);
    if (!body.ok()) {
      rep.error = std::string(body.status().message());
      return rep;
    }
    if (body->empty()) continue;  // deleted at the source meanwhile
    if (Status s = destination->Write(req.database, req.retention_policy, *body); !s.ok()) {
      rep.error = std::string(s.message());
      return rep;
    }
    rep.hours_resent++;
  }
  return rep;
}

void VerifyRecord::Add(const std::string& label, VerifyReport report) {
  report.differences.clear();
  report.differences.shrink_to_fit();
  std::lock_guard<std::mutex> l(mu_);
  Entry& e = entries_[label];
  e.runs++;
  if (!report.error.empty()) e.failures++;
  e.hours_resent += report.hours_resent;
  e.last = std::move(report);
}

std::map<std::string, VerifyRecord::Entry> VerifyRecord::Snapshot() const {
  std::lock_guard<std::mutex> l(mu_);
  return entries_;
}

PeriodicVerifier::PeriodicVerifier(int64_t every_seconds,
                                   std::function<void(const std::function<bool()>& stopping)> run)
    : every_seconds_(every_seconds), run_(std::move(run)) {}

PeriodicVerifier::~PeriodicVerifier() { Stop(); }

void PeriodicVerifier::Start() {
  thread_ = std::thread([this] {
    auto stopping = [this] {
      std::lock_guard<std::mutex> l(mu_);
      return stop_;
    };
    for (;;) {
      {
        std::unique_lock<std::mutex> l(mu_);
        if (cv_.wait_for(l, std::chrono::seconds(every_seconds_), [this] { return stop_; })) return;
      }
      run_(stopping);
    }
  });
}

void PeriodicVerifier::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace m2mdb::server
