// tools/cli_common.cc — see cli_common.h.
#include "tools/cli_common.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <variant>

#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#include "m2mdb/log.h"

namespace m2mdb::cli {

std::string Human(const absl::Status& s) {
  if (s.ok()) return "ok";
  std::string m(s.message());
  return m.empty() ? absl::StatusCodeToString(s.code()) : m;
}

void AddTargetOptions(CLI::App* cmd, Target* t) {
  cmd->add_option("--host", t->host, "Server URL (http:// or https://)")->capture_default_str();
  cmd->add_option("--token", t->token, "API token, sent as 'Authorization: Token X'")->envname("M2MDB_TOKEN");
  cmd->add_flag("--insecure", t->insecure, "https: do not verify the server's certificate");
  cmd->add_option("--cacert", t->cacert, "https: CA certificate bundle (PEM) to verify the server with");
  cmd->add_option("--data-dir", t->data_dir,
                  "Work on this data directory directly (embedded mode) instead of a server; "
                  "only while no server has it open");
}

std::unique_ptr<DB> OpenDataDir(const std::string& dir, bool create_if_missing, const char* cmd,
                                bool skip_damaged_blocks) {
  if (!create_if_missing && ::access(dir.c_str(), F_OK) != 0) {
    std::fprintf(stderr, "m2mdb %s: no data directory at %s\n", cmd, dir.c_str());
    return nullptr;
  }
  Options o;
  o.data_dir = dir;
  o.create_if_missing = create_if_missing;
  o.skip_damaged_blocks = skip_damaged_blocks;
  auto db = DB::Open(o);
  if (!db.ok()) {
    std::string msg(db.status().message());
    std::fprintf(stderr, "m2mdb %s: %s\n", cmd, msg.c_str());
    if (msg.find("in use") != std::string::npos) {
      std::fprintf(stderr,
                   "  --data-dir (embedded mode) works only while no server holds the directory, and a\n"
                   "  server (m2mdb serve) probably has it open. Talk to the server instead, e.g.\n"
                   "  m2mdb %s --host http://127.0.0.1:8086 ..., or stop it first.\n",
                   cmd);
    }
    return nullptr;
  }
  return std::move(*db);
}

// ---- HTTP -------------------------------------------------------------------

StatusOr<std::unique_ptr<HttpClient>> ConnectHttp(const Target& t) {
  std::string url = t.host;
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.find("://") == std::string::npos) url = "http://" + url;
  if (!absl::StartsWith(url, "http://") && !absl::StartsWith(url, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--host ", t.host, ": use http://HOST:PORT or https://HOST:PORT"));
  }
  if (url.find('/', url.find("://") + 3) != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--host ", t.host, ": give the server's address without a path"));
  }
  if (absl::StartsWith(url, "https://") && !t.insecure && !t.cacert.empty() &&
      ::access(t.cacert.c_str(), R_OK) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("--cacert ", t.cacert, ": cannot read it"));
  }
  client::HttpClientOptions o;
  o.url = url;
  o.token = t.token;
  o.insecure = t.insecure;
  o.cacert = t.cacert;
  // Queries over years of data may take minutes; the server bounds them
  // (--query-timeout-ms), so the client waits.
  o.connect_timeout_seconds = 10;
  o.read_timeout_seconds = 3600;
  o.write_timeout_seconds = 600;
  auto c = client::HttpClient::Create(o);
  if (!c.ok()) return absl::InvalidArgumentError(absl::StrCat("--host ", t.host, ": ", c.status().message()));
  return c;
}

// ---- JSON -------------------------------------------------------------------

StatusOr<Json> ParseJson(std::string_view text) {
  auto j = client::ParseJson(text);
  if (!j.ok())
    return absl::InvalidArgumentError(absl::StrCat("bad JSON from server: ", j.status().message()));
  return j;
}

std::string ErrorFromBody(const HttpResponse& r) {
  auto j = ParseJson(r.body);
  if (j.ok() && j->kind == Json::kObject) {
    const Json* e = j->Find("error");
    if (e != nullptr && e->kind == Json::kString) return absl::StrCat(e->text, " (HTTP ", r.status, ")");
  }
  std::string b = r.body;
  while (!b.empty() && (b.back() == '\n' || b.back() == '\r')) b.pop_back();
  if (b.empty()) b = "(empty answer)";
  return absl::StrCat("HTTP ", r.status, ": ", b);
}

namespace {

query::Value CellFromJson(const Json& j) {
  switch (j.kind) {
    case Json::kNull:
      return std::monostate{};
    case Json::kBool:
      return j.boolean;
    case Json::kString:
      return j.text;
    case Json::kNumber: {
      const char* b = j.text.data();
      const char* e = b + j.text.size();
      if (j.text.find_first_of(".eE") == std::string::npos) {
        int64_t i;
        if (std::from_chars(b, e, i).ec == std::errc()) return i;
        uint64_t u;
        if (std::from_chars(b, e, u).ec == std::errc()) return u;
      }
      double d = 0;
      std::from_chars(b, e, d);
      return d;
    }
    default:
      return std::monostate{};
  }
}

}  // namespace

void ResultsFromJson(const Json& doc, std::vector<query::StatementResult>* results,
                     std::vector<std::string>* errors) {
  if (doc.kind != Json::kObject) {
    errors->push_back("unexpected answer from server (not a JSON object)");
    return;
  }
  if (const Json* e = doc.Find("error"); e != nullptr && e->kind == Json::kString) errors->push_back(e->text);
  const Json* rs = doc.Find("results");
  if (rs == nullptr) return;
  for (const Json& r : rs->items) {
    query::StatementResult out;
    if (const Json* id = r.Find("statement_id"); id != nullptr)
      out.statement_id = std::atoi(id->text.c_str());
    if (const Json* e = r.Find("error"); e != nullptr && e->kind == Json::kString) {
      out.error = e->text;
      errors->push_back(e->text);
    }
    if (const Json* ms = r.Find("messages"); ms != nullptr) {
      for (const Json& m : ms->items) {
        if (const Json* t = m.Find("text"); t != nullptr) out.messages.push_back(t->text);
      }
    }
    if (const Json* ss = r.Find("series"); ss != nullptr) {
      for (const Json& s : ss->items) {
        query::ResultSeries series;
        if (const Json* n = s.Find("name"); n != nullptr) series.name = n->text;
        if (const Json* t = s.Find("tags"); t != nullptr) {
          for (const auto& [k, v] : t->members) series.tags.emplace_back(k, v.text);
        }
        if (const Json* c = s.Find("columns"); c != nullptr) {
          for (const Json& col : c->items) series.columns.push_back(col.text);
        }
        if (const Json* vs = s.Find("values"); vs != nullptr) {
          for (const Json& row : vs->items) {
            std::vector<query::Value> cells;
            cells.reserve(row.items.size());
            for (const Json& cell : row.items) cells.push_back(CellFromJson(cell));
            series.values.push_back(std::move(cells));
          }
        }
        if (const Json* p = s.Find("partial"); p != nullptr) series.partial = p->boolean;
        out.series.push_back(std::move(series));
      }
    }
    results->push_back(std::move(out));
  }
}

// ---- Session ------------------------------------------------------------------

bool ParseEpoch(std::string_view p, std::string* epoch) {
  std::string s = absl::AsciiStrToLower(std::string(p));
  if (s == "rfc3339" || s.empty()) {
    epoch->clear();
    return true;
  }
  if (s == "n") s = "ns";
  if (s == "us" || s == "µ") s = "u";
  if (s == "ns" || s == "u" || s == "ms" || s == "s" || s == "m" || s == "h") {
    *epoch = s;
    return true;
  }
  return false;
}

std::unique_ptr<Session> Session::Open(const Target& target, const char* cmd) {
  std::unique_ptr<Session> s(new Session());
  if (target.embedded()) {
    s->db_ = OpenDataDir(target.data_dir, /*create_if_missing=*/false, cmd);
    if (s->db_ == nullptr) return nullptr;
    return s;
  }
  auto http = ConnectHttp(target);
  if (!http.ok()) {
    std::fprintf(stderr, "m2mdb %s: %s\n", cmd, std::string(http.status().message()).c_str());
    return nullptr;
  }
  s->http_ = std::move(*http);
  // A shell would otherwise prompt for statements that cannot run, and
  // `query` would report the failure as a statement error.
  auto ping = s->http_->Get("/ping");
  if (!ping.ok()) {
    std::fprintf(stderr, "m2mdb %s: %s\n", cmd, std::string(ping.status().message()).c_str());
    return nullptr;
  }
  return s;
}

StatusOr<bool> Session::DatabaseExists(const std::string& name) {
  std::vector<query::StatementResult> results;
  std::vector<std::string> errors;
  if (db_ != nullptr) {
    query::Executor exec(db_.get());
    results = exec.Execute("SHOW DATABASES", query::QueryOptions());
    for (const auto& r : results) {
      if (!r.error.empty()) errors.push_back(r.error);
    }
  } else {
    ASSIGN_OR_RETURN(HttpResponse res, http_->PostForm("/query", {{"q", "SHOW DATABASES"}}));
    if (res.status != 200) return absl::UnavailableError(ErrorFromBody(res));
    ASSIGN_OR_RETURN(Json doc, ParseJson(res.body));
    ResultsFromJson(doc, &results, &errors);
  }
  if (!errors.empty()) return absl::UnavailableError(errors.front());
  for (const auto& r : results) {
    for (const auto& series : r.series) {
      for (const auto& row : series.values) {
        if (!row.empty() && std::holds_alternative<std::string>(row[0]) &&
            std::get<std::string>(row[0]) == name)
          return true;
      }
    }
  }
  return false;
}

Session::~Session() {
  if (db_ != nullptr) {
    Status st = db_->Close();
    if (!st.ok()) std::fprintf(stderr, "m2mdb: closing the data directory: %s\n", Human(st).c_str());
  }
}

namespace {

uint64_t CountRows(const std::vector<query::StatementResult>& results) {
  uint64_t n = 0;
  for (const auto& r : results) {
    for (const auto& s : r.series) n += s.values.size();
  }
  return n;
}

// The writers print statement errors inline ("ERR: ..."); the CLI sends them
// to stderr instead, so stdout holds only data.
std::string RenderText(const std::vector<query::StatementResult>& results, const RenderOptions& o) {
  std::vector<query::StatementResult> ok;
  for (const auto& r : results) {
    if (r.error.empty()) ok.push_back(r);
  }
  query::JsonOptions jo;
  jo.epoch = o.epoch;
  jo.pretty = o.pretty;
  if (o.format == "csv") return query::ToCsv(ok, jo);
  if (o.format == "json") return query::ToInfluxJson(results, jo);
  return query::ToTable(ok, jo);
}

}  // namespace

QueryOutcome Session::Run(std::string_view text, const RenderOptions& o) {
  QueryOutcome out;
  if (db_ != nullptr) {
    query::Executor exec(db_.get());
    query::QueryOptions qo;
    qo.database = o.database;
    std::vector<query::StatementResult> results = exec.Execute(text, qo);
    for (const auto& r : results) {
      if (!r.error.empty()) out.errors.push_back(r.error);
    }
    out.rows = CountRows(results);
    out.output = RenderText(results, o);
    if (o.format == "json" && !out.output.empty() && out.output.back() != '\n') out.output.push_back('\n');
    return out;
  }

  // Server mode. The table and CSV writers want nanoseconds in the time
  // column, so those ask for epoch=ns and render here; json is passed through
  // exactly as the server wrote it, in the epoch asked for.
  bool raw_json = o.format == "json";
  Params form = {{"q", std::string(text)}};
  if (!o.database.empty()) form.emplace_back("db", o.database);
  if (raw_json) {
    if (!o.epoch.empty()) form.emplace_back("epoch", o.epoch);
    if (o.pretty) form.emplace_back("pretty", "true");
  } else {
    form.emplace_back("epoch", "ns");
  }
  auto res = http_->PostForm("/query", form);
  if (!res.ok()) {
    out.errors.push_back(std::string(res.status().message()));
    out.unreachable = true;
    return out;
  }
  if (res->status != 200) {
    out.errors.push_back(ErrorFromBody(*res));
    return out;
  }
  auto doc = ParseJson(res->body);
  if (!doc.ok()) {
    out.errors.push_back(std::string(doc.status().message()));
    return out;
  }
  std::vector<query::StatementResult> results;
  ResultsFromJson(*doc, &results, &out.errors);
  out.rows = CountRows(results);
  if (raw_json) {
    out.output = std::move(res->body);
    if (!out.output.empty() && out.output.back() != '\n') out.output.push_back('\n');
    return out;
  }
  out.output = RenderText(results, o);
  return out;
}

// ---- time, numbers, terminal --------------------------------------------------

namespace {

// Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; i++) {
    if (!absl::ascii_isdigit(s[i])) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

StatusOr<int64_t> ParseTimeArg(std::string_view s) {
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("bad time \"", ToAbsl(s),
                     "\": use RFC3339 (2023-11-14T22:13:20Z, 2023-11-14T22:13:20.5+01:00, 2023-11-14) or "
                     "integer nanoseconds"));
  };
  if (s.empty()) return bad();
  if (s.find('-', 1) == std::string_view::npos) {
    int64_t ns;
    auto r = std::from_chars(s.data(), s.data() + s.size(), ns);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return bad();
    return ns;
  }
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (!Digits(s, 0, 4, &y) || s[4] != '-' || !Digits(s, 5, 2, &mo) || s.size() < 10 || s[7] != '-' ||
      !Digits(s, 8, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > 31) {
    return bad();
  }
  size_t p = 10;
  int64_t frac = 0;
  int64_t offset_s = 0;
  if (p < s.size()) {
    if ((s[p] != 'T' && s[p] != 't' && s[p] != ' ') || !Digits(s, p + 1, 2, &h) || s.size() < p + 9 ||
        s[p + 3] != ':' || !Digits(s, p + 4, 2, &mi) || s[p + 6] != ':' || !Digits(s, p + 7, 2, &sec) ||
        h > 23 || mi > 59 || sec > 60) {
      return bad();
    }
    p += 9;
    if (p < s.size() && s[p] == '.') {
      ++p;
      int digits = 0;
      while (p < s.size() && absl::ascii_isdigit(s[p])) {
        if (digits < 9) frac = frac * 10 + (s[p] - '0');
        ++digits;
        ++p;
      }
      if (digits == 0) return bad();
      for (int i = digits; i < 9; i++) frac *= 10;
    }
    if (p == s.size()) return bad();  // RFC3339 requires a zone
    if (s[p] == 'Z' || s[p] == 'z') {
      ++p;
    } else if (s[p] == '+' || s[p] == '-') {
      int oh, om;
      if (!Digits(s, p + 1, 2, &oh) || s.size() < p + 6 || s[p + 3] != ':' || !Digits(s, p + 4, 2, &om))
        return bad();
      offset_s = (oh * 3600 + om * 60) * (s[p] == '-' ? -1 : 1);
      p += 6;
    } else {
      return bad();
    }
    if (p != s.size()) return bad();
  }
  int64_t secs = DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_s;
  // Representable ns: about 1677-09-21 to 2262-04-11.
  if (secs > std::numeric_limits<int64_t>::max() / 1000000000 - 1 ||
      secs < std::numeric_limits<int64_t>::min() / 1000000000 + 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("time \"", ToAbsl(s), "\" is outside 1677..2262 (int64 nanoseconds)"));
  }
  return secs * 1000000000 + frac;
}

void AppendShortestDouble(double d, std::string* out) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), d);
  out->append(buf, r.ptr - buf);
}

std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

bool IsTerminal(int fd) { return ::isatty(fd) == 1; }

bool WriteAll(std::FILE* f, std::string_view data) {
  return data.empty() || std::fwrite(data.data(), 1, data.size(), f) == data.size();
}

}  // namespace m2mdb::cli
