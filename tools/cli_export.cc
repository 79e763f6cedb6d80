// tools/cli_export.cc — `m2mdb export`: writes the points of a database as line
// protocol (exactly re-importable) or CSV, from a data directory (DB::Scan:
// exact, every field type) or from a server (/query SELECT * ... GROUP BY *
// with epoch=ns, chunked; field types from SHOW FIELD KEYS, so an integer
// that JSON prints as "3" goes out as 3i again).
//
// Line protocol output: one line per (series, timestamp) with every field
// that has a value then; names escaped with the Append* helpers of m2mdb/line_protocol.h;
// floats in the shortest form that reads back as the same double
// (std::to_chars), integers with "i", unsigned with "u". Timestamps are
// nanoseconds, so import with the default --precision ns.
//
// CSV output: per measurement a header "name,time,<tag keys>,<field keys>",
// then one row per (series, timestamp); time in nanoseconds; cells quoted as
// RFC 4180 when needed.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"

#include "m2mdb/line_protocol.h"
#include "tools/cli_common.h"

namespace m2mdb::cli {
namespace {

struct ExportArgs {
  Target target;
  std::string database;
  std::vector<std::string> measurements;
  std::string start;
  std::string end;
  std::string format = "lp";
  std::string out;
  bool quiet = false;
};

// Buffered output to a file or stdout that remembers the first write error.
class Output {
 public:
  ~Output() {
    if (f_ != nullptr && f_ != stdout) std::fclose(f_);
  }
  Status Open(const std::string& path) {
    if (path.empty() || path == "-") {
      f_ = stdout;
      return absl::OkStatus();
    }
    f_ = std::fopen(path.c_str(), "wb");
    if (f_ == nullptr) return absl::InternalError(absl::StrCat(path, ": ", std::strerror(errno)));
    path_ = path;
    return absl::OkStatus();
  }
  std::string* buf() { return &buf_; }
  // Call after appending; writes out once enough is buffered.
  void MaybeFlush() {
    if (buf_.size() >= (1u << 20)) Flush();
  }
  Status Finish() {
    Flush();
    if (ok_ && std::fflush(f_) != 0) ok_ = false;
    if (ok_ && f_ != stdout) {
      ok_ = std::fclose(f_) == 0;
      f_ = nullptr;
    }
    if (!ok_) return absl::InternalError(absl::StrCat(path_.empty() ? "stdout" : path_, ": write failed"));
    return absl::OkStatus();
  }
  uint64_t lines = 0;

 private:
  void Flush() {
    if (ok_ && !WriteAll(f_, buf_)) ok_ = false;
    buf_.clear();
  }
  std::FILE* f_ = nullptr;
  std::string path_;
  std::string buf_;
  bool ok_ = true;
};

void AppendCsvCell(std::string_view v, std::string* out) {
  bool quote = v.find_first_of(",\"\r\n") != std::string_view::npos ||
               (!v.empty() && (v.front() == ' ' || v.back() == ' '));
  if (!quote) {
    out->append(v);
    return;
  }
  out->push_back('"');
  for (char c : v) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

void AppendCsvRow(const std::vector<std::string>& cells, std::string* out) {
  for (size_t i = 0; i < cells.size(); i++) {
    if (i > 0) out->push_back(',');
    AppendCsvCell(cells[i], out);
  }
  out->push_back('\n');
}

// The value as line protocol writes it (CSV uses the same text without the
// type suffixes and quotes).
void AppendLpValue(const Column& c, size_t i, bool csv, std::string* out) {
  switch (c.type) {
    case FieldType::kFloat:
      AppendShortestDouble(c.floats[i], out);
      break;
    case FieldType::kInteger:
      absl::StrAppend(out, c.ints[i], csv ? "" : "i");
      break;
    case FieldType::kUnsigned:
      absl::StrAppend(out, c.uints[i], csv ? "" : "u");
      break;
    case FieldType::kBoolean:
      out->append(c.bools[i] ? "true" : "false");
      break;
    case FieldType::kString:
      if (csv) {
        out->append(c.strings[i]);
      } else {
        out->push_back('"');
        AppendLineProtocolString(out, c.strings[i]);
        out->push_back('"');
      }
      break;
  }
}

std::string LpPrefix(std::string_view measurement,
                     const std::vector<std::pair<std::string, std::string>>& tags) {
  std::string p;
  AppendLineProtocolMeasurement(&p, measurement);
  for (const auto& [k, v] : tags) {
    p.push_back(',');
    AppendLineProtocolKey(&p, k);
    p.push_back('=');
    AppendLineProtocolKey(&p, v);
  }
  return p;
}

// CSV header of one measurement: tag keys then field keys, in the order the
// rows use.
struct CsvLayout {
  std::vector<std::string> tag_keys;
  std::vector<std::string> field_keys;
  void WriteHeader(Output* out) const {
    std::vector<std::string> h = {"name", "time"};
    h.insert(h.end(), tag_keys.begin(), tag_keys.end());
    h.insert(h.end(), field_keys.begin(), field_keys.end());
    AppendCsvRow(h, out->buf());
  }
};

// ---- embedded: DB::Scan --------------------------------------------------------------
Status ExportSeries(const SeriesData& s, const ExportArgs& a, const CsvLayout* csv, Output* out) {
  const bool lp = csv == nullptr;
  const std::string prefix = lp ? LpPrefix(s.measurement, s.tags) : std::string();
  std::vector<size_t> field_col;  // CSV: column of each of s's fields
  std::vector<std::string> row;
  if (!lp) {
    for (const std::string& f : s.field_names) {
      field_col.push_back(std::find(csv->field_keys.begin(), csv->field_keys.end(), f) -
                          csv->field_keys.begin());
    }
  }
  const size_t k = s.columns.size();
  std::vector<size_t> idx(k, 0);
  std::string cell;
  while (true) {
    // The next timestamp over all fields (each column is sorted by time).
    bool any = false;
    int64_t t = 0;
    for (size_t c = 0; c < k; c++) {
      if (idx[c] < s.columns[c].size() && (!any || s.columns[c].times[idx[c]] < t)) {
        t = s.columns[c].times[idx[c]];
        any = true;
      }
    }
    if (!any) break;
    std::string* b = out->buf();
    if (lp) {
      b->append(prefix);
      char sep = ' ';
      for (size_t c = 0; c < k; c++) {
        if (idx[c] < s.columns[c].size() && s.columns[c].times[idx[c]] == t) {
          b->push_back(sep);
          sep = ',';
          AppendLineProtocolKey(b, s.field_names[c]);
          b->push_back('=');
          AppendLpValue(s.columns[c], idx[c], false, b);
          idx[c]++;
        }
      }
      absl::StrAppend(b, " ", t, "\n");
    } else {
      row.assign(2 + csv->tag_keys.size() + csv->field_keys.size(), std::string());
      row[0] = s.measurement;
      row[1] = std::to_string(t);
      for (const auto& [tk, tv] : s.tags) {
        auto it = std::find(csv->tag_keys.begin(), csv->tag_keys.end(), tk);
        if (it != csv->tag_keys.end()) row[2 + (it - csv->tag_keys.begin())] = tv;
      }
      for (size_t c = 0; c < k; c++) {
        if (idx[c] < s.columns[c].size() && s.columns[c].times[idx[c]] == t) {
          cell.clear();
          AppendLpValue(s.columns[c], idx[c], true, &cell);
          if (field_col[c] < csv->field_keys.size()) row[2 + csv->tag_keys.size() + field_col[c]] = cell;
          idx[c]++;
        }
      }
      AppendCsvRow(row, b);
    }
    out->lines++;
    out->MaybeFlush();
  }
  (void)a;
  return absl::OkStatus();
}

// Damaged segment blocks are skipped (a warning each, rate-limited, on
// stderr) and counted in *damaged: an export is how an operator gets the
// intact data out of a damaged directory.
Status ExportEmbedded(const ExportArgs& a, int64_t start, int64_t end, Output* out, uint64_t* damaged) {
  std::unique_ptr<DB> db = OpenDataDir(a.target.data_dir, /*create_if_missing=*/false, "export",
                                       /*skip_damaged_blocks=*/true);
  // Already printed; Unavailable makes it exit kExitUsage, as the server down.
  if (db == nullptr) return absl::UnavailableError("");
  Status result;
  std::vector<std::string> measurements = a.measurements;
  if (measurements.empty()) {
    auto ms = db->Measurements(a.database);
    if (!ms.ok()) result = ms.status();
    if (ms.ok()) measurements = *ms;
  }
  for (const std::string& m : measurements) {
    if (!result.ok()) break;
    CsvLayout layout;
    if (a.format == "csv") {
      auto tk = db->TagKeys(a.database, m);
      auto fk = db->FieldKeys(a.database, m);
      if (!tk.ok() || !fk.ok()) {
        result = !tk.ok() ? tk.status() : fk.status();
        break;
      }
      layout.tag_keys = *tk;
      for (const auto& f : *fk) layout.field_keys.push_back(f.name);
      layout.WriteHeader(out);
    }
    ScanRequest req;
    req.database = a.database;
    req.measurement = m;
    req.min_time = start;
    req.max_time = end;
    result = db->Scan(req, [&](const SeriesData& s) {
      return ExportSeries(s, a, a.format == "csv" ? &layout : nullptr, out);
    });
    if (!result.ok()) result = Annotate(result, absl::StrCat("measurement ", m));
  }
  *damaged = db->Stats().damaged_blocks_skipped;
  Status c = db->Close();
  if (result.ok()) result = c;
  return result;
}

// ---- server: /query -----------------------------------------------------------------
// Runs one statement and returns its first result (errors as a Status).
StatusOr<query::StatementResult> QueryOne(HttpClient* http, const std::string& db, const std::string& q) {
  ASSIGN_OR_RETURN(HttpResponse r, http->PostForm("/query", {{"q", q}, {"db", db}, {"epoch", "ns"}}));
  if (r.status != 200) return absl::FailedPreconditionError(absl::StrCat(q, ": ", ErrorFromBody(r)));
  ASSIGN_OR_RETURN(Json doc, ParseJson(r.body));
  std::vector<query::StatementResult> results;
  std::vector<std::string> errors;
  ResultsFromJson(doc, &results, &errors);
  if (!errors.empty()) return absl::FailedPreconditionError(absl::StrCat(q, ": ", errors.front()));
  if (results.empty()) return absl::FailedPreconditionError(absl::StrCat(q, ": empty answer"));
  return std::move(results.front());
}

// First column of every row of every series, as text.
std::vector<std::string> FirstColumn(const query::StatementResult& r, size_t col = 0) {
  std::vector<std::string> out;
  for (const auto& s : r.series) {
    for (const auto& row : s.values) {
      if (col < row.size() && std::holds_alternative<std::string>(row[col]))
        out.push_back(std::get<std::string>(row[col]));
    }
  }
  return out;
}

// One chunk of SELECT * ... GROUP BY * (epoch=ns) into `out`.
Status WriteChunk(const Json& doc, const std::map<std::string, FieldType>& types, const CsvLayout* csv,
                  Output* out) {
  if (const Json* e = doc.Find("error"); e != nullptr) return absl::FailedPreconditionError(e->text);
  const Json* results = doc.Find("results");
  if (results == nullptr) return absl::OkStatus();
  std::string cell;
  std::vector<std::string> row;
  for (const Json& r : results->items) {
    if (const Json* e = r.Find("error"); e != nullptr) return absl::FailedPreconditionError(e->text);
    const Json* series = r.Find("series");
    if (series == nullptr) continue;
    for (const Json& s : series->items) {
      const Json* name = s.Find("name");
      const Json* columns = s.Find("columns");
      const Json* values = s.Find("values");
      if (name == nullptr || columns == nullptr || values == nullptr) continue;
      std::vector<std::pair<std::string, std::string>> tags;
      if (const Json* t = s.Find("tags"); t != nullptr) {
        for (const auto& [k, v] : t->members) {
          // GROUP BY * gives series without a tag an empty value: not a tag.
          if (!v.text.empty()) tags.emplace_back(k, v.text);
        }
      }
      std::sort(tags.begin(), tags.end());
      const std::string prefix = csv == nullptr ? LpPrefix(name->text, tags) : std::string();
      size_t ncols = columns->items.size();
      std::vector<FieldType> col_type(ncols, FieldType::kFloat);
      // Only fields are written: a column SHOW FIELD KEYS does not list (a tag
      // that the server adds to SELECT * despite GROUP BY *) is skipped.
      std::vector<bool> is_field(ncols, false);
      std::vector<size_t> csv_col(ncols, SIZE_MAX);
      for (size_t c = 1; c < ncols; c++) {
        auto it = types.find(columns->items[c].text);
        if (it != types.end()) {
          col_type[c] = it->second;
          is_field[c] = true;
        }
        if (csv != nullptr) {
          auto f = std::find(csv->field_keys.begin(), csv->field_keys.end(), columns->items[c].text);
          if (f != csv->field_keys.end())
            csv_col[c] = 2 + csv->tag_keys.size() + (f - csv->field_keys.begin());
        }
      }
      for (const Json& v : values->items) {
        if (v.items.size() != ncols || ncols < 2) continue;
        std::string* b = out->buf();
        size_t mark = b->size();
        if (csv != nullptr) {
          row.assign(2 + csv->tag_keys.size() + csv->field_keys.size(), std::string());
          row[0] = name->text;
          row[1] = v.items[0].text;
          for (const auto& [tk, tv] : tags) {
            auto it = std::find(csv->tag_keys.begin(), csv->tag_keys.end(), tk);
            if (it != csv->tag_keys.end()) row[2 + (it - csv->tag_keys.begin())] = tv;
          }
        } else {
          b->append(prefix);
        }
        char sep = ' ';
        bool any = false;
        for (size_t c = 1; c < ncols; c++) {
          const Json& x = v.items[c];
          if (x.kind == Json::kNull || !is_field[c]) continue;
          cell.clear();
          switch (col_type[c]) {
            case FieldType::kFloat: {
              double d = 0;
              std::from_chars(x.text.data(), x.text.data() + x.text.size(), d);
              AppendShortestDouble(d, &cell);
              break;
            }
            case FieldType::kInteger:
            case FieldType::kUnsigned:
              if (x.kind != Json::kNumber || x.text.find_first_of(".eE") != std::string::npos) {
                return absl::DataLossError(
                    absl::StrCat("field ", columns->items[c].text, ": integer expected, got ", x.text));
              }
              cell = x.text;
              if (csv == nullptr) cell.push_back(col_type[c] == FieldType::kInteger ? 'i' : 'u');
              break;
            case FieldType::kBoolean:
              cell = x.boolean ? "true" : "false";
              break;
            case FieldType::kString:
              if (csv == nullptr) {
                cell.push_back('"');
                AppendLineProtocolString(&cell, x.text);
                cell.push_back('"');
              } else {
                cell = x.text;
              }
              break;
          }
          any = true;
          if (csv != nullptr) {
            if (csv_col[c] != SIZE_MAX) row[csv_col[c]] = cell;
          } else {
            b->push_back(sep);
            sep = ',';
            AppendLineProtocolKey(b, columns->items[c].text);
            b->push_back('=');
            b->append(cell);
          }
        }
        if (!any) {
          b->resize(mark);
          continue;
        }
        if (csv != nullptr) {
          AppendCsvRow(row, b);
        } else {
          absl::StrAppend(b, " ", v.items[0].text, "\n");
        }
        out->lines++;
      }
      out->MaybeFlush();
    }
  }
  return absl::OkStatus();
}

Status ExportServer(const ExportArgs& a, int64_t start, int64_t end, bool has_range, Output* out) {
  auto connected = ConnectHttp(a.target);
  if (!connected.ok()) return absl::UnavailableError(connected.status().message());  // a usage error: exit 2
  std::unique_ptr<HttpClient> http = std::move(*connected);
  std::vector<std::string> measurements = a.measurements;
  if (measurements.empty()) {
    ASSIGN_OR_RETURN(query::StatementResult r, QueryOne(http.get(), a.database, "SHOW MEASUREMENTS"));
    measurements = FirstColumn(r);
  }
  for (const std::string& m : measurements) {
    ASSIGN_OR_RETURN(query::StatementResult fr,
                     QueryOne(http.get(), a.database, "SHOW FIELD KEYS FROM " + QuoteIdent(m)));
    std::map<std::string, FieldType> types;
    CsvLayout layout;
    std::vector<std::string> names = FirstColumn(fr, 0), kinds = FirstColumn(fr, 1);
    for (size_t i = 0; i < names.size() && i < kinds.size(); i++) {
      FieldType t = FieldType::kFloat;
      if (kinds[i] == "integer") t = FieldType::kInteger;
      if (kinds[i] == "unsigned") t = FieldType::kUnsigned;
      if (kinds[i] == "boolean") t = FieldType::kBoolean;
      if (kinds[i] == "string") t = FieldType::kString;
      types[names[i]] = t;
      layout.field_keys.push_back(names[i]);
    }
    if (a.format == "csv") {
      ASSIGN_OR_RETURN(query::StatementResult tr,
                       QueryOne(http.get(), a.database, "SHOW TAG KEYS FROM " + QuoteIdent(m)));
      layout.tag_keys = FirstColumn(tr);
      layout.WriteHeader(out);
    }
    std::string q = "SELECT * FROM " + QuoteIdent(m);
    if (has_range) absl::StrAppend(&q, " WHERE time >= ", start, " AND time <= ", end);
    q += " GROUP BY *";
    // Chunks arrive as JSON documents, one per line.
    std::string pending;
    Status st;
    auto r = http->GetStream(
        "/query",
        {{"db", a.database}, {"q", q}, {"epoch", "ns"}, {"chunked", "true"}, {"chunk_size", "10000"}},
        [&](std::string_view data) {
          pending.append(data);
          size_t nl;
          while ((nl = pending.find('\n')) != std::string::npos) {
            std::string_view doc_text(pending.data(), nl);
            if (!doc_text.empty()) {
              auto doc = ParseJson(doc_text);
              st = doc.ok() ? WriteChunk(*doc, types, a.format == "csv" ? &layout : nullptr, out)
                            : doc.status();
              if (!st.ok()) return false;
            }
            pending.erase(0, nl + 1);
          }
          return true;
        });
    RETURN_IF_ERROR(st);
    if (!r.ok()) return r.status();
    if (r->status != 200) return absl::FailedPreconditionError(absl::StrCat(q, ": ", ErrorFromBody(*r)));
    if (!pending.empty()) {
      ASSIGN_OR_RETURN(Json doc, ParseJson(pending));
      RETURN_IF_ERROR(WriteChunk(doc, types, a.format == "csv" ? &layout : nullptr, out));
    }
  }
  return absl::OkStatus();
}

int RunExport(const ExportArgs& a) {
  if (a.database.empty()) {
    std::fprintf(stderr, "m2mdb export: --db is required\n");
    return 2;
  }
  int64_t start = kMinTime, end = kMaxTime;
  if (!a.start.empty()) {
    auto t = ParseTimeArg(a.start);
    if (!t.ok()) {
      std::fprintf(stderr, "m2mdb export: --start: %s\n", std::string(t.status().message()).c_str());
      return 2;
    }
    start = *t;
  }
  if (!a.end.empty()) {
    auto t = ParseTimeArg(a.end);
    if (!t.ok()) {
      std::fprintf(stderr, "m2mdb export: --end: %s\n", std::string(t.status().message()).c_str());
      return 2;
    }
    end = *t;
  }
  Output out;
  if (Status s = out.Open(a.out); !s.ok()) {
    std::fprintf(stderr, "m2mdb export: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  auto t0 = std::chrono::steady_clock::now();
  uint64_t damaged = 0;
  Status s = a.target.embedded() ? ExportEmbedded(a, start, end, &out, &damaged)
                                 : ExportServer(a, start, end, !a.start.empty() || !a.end.empty(), &out);
  Status f = out.Finish();
  if (s.ok()) s = f;
  if (!s.ok()) {
    if (!s.message().empty()) std::fprintf(stderr, "m2mdb export: %s\n", std::string(s.message()).c_str());
    // Unavailable: no answer from the server (client/http_client.h) or no
    // data directory; the rest are errors in the answers or the output.
    return s.code() == absl::StatusCode::kUnavailable ? kExitUsage : kExitFailed;
  }
  if (!a.quiet) {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "exported %llu %s in %.1f s\n", static_cast<unsigned long long>(out.lines),
                 a.format == "csv" ? "rows" : "lines", secs);
  }
  if (damaged > 0) {
    // Printed even with --quiet, and a status of its own: the output is
    // complete except for these blocks.
    std::fprintf(
        stderr,
        "m2mdb export: WARNING: skipped %llu damaged segment blocks; their points are missing from the "
        "output (run `m2mdb check`)\n",
        static_cast<unsigned long long>(damaged));
    return 3;
  }
  return 0;
}

}  // namespace

void RegisterExport(CLI::App* app, int* exit_code) {
  auto args = std::make_shared<ExportArgs>();
  CLI::App* cmd = app->add_subcommand("export",
                                      "Write a database's points as line protocol (re-importable exactly "
                                      "with `m2mdb import`) or CSV, from a data "
                                      "directory (--data-dir) or a server");
  AddTargetOptions(cmd, &args->target);
  cmd->add_option("--db,-d", args->database, "Database to export")->required();
  cmd->add_option("--measurement,-m", args->measurements, "Measurement to export (repeatable; default: all)");
  cmd->add_option("--start", args->start, "First time, inclusive: RFC3339 or integer ns");
  cmd->add_option("--end", args->end, "Last time, inclusive: RFC3339 or integer ns");
  cmd->add_option("--format", args->format, "lp (line protocol) or csv")
      ->check(CLI::IsMember({"lp", "csv"}))
      ->capture_default_str();
  cmd->add_option("--out,-o", args->out, "Output file (default: stdout)");
  cmd->add_flag("--quiet,-q", args->quiet, "No summary on stderr");
  cmd->callback([args, exit_code] { *exit_code = RunExport(*args); });
}

}  // namespace m2mdb::cli
