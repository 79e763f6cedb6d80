// m2mdb/query/executor.h — run InfluxQL against an open m2mdb::DB and render
// the answers as InfluxDB 1.x does.
//
//   m2mdb::query::Executor exec(db.get());
//   auto results = exec.Execute("SELECT mean(v) FROM cpu GROUP BY time(1m)", {.database = "telemetry"});
//   std::string json = m2mdb::query::ToInfluxJson(results, {.epoch = "ms"});
//
// Thread-safety: an Executor may be used by many threads at once.
#ifndef M2MDB_QUERY_EXECUTOR_H_
#define M2MDB_QUERY_EXECUTOR_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "m2mdb/db.h"
#include "m2mdb/query/ast.h"

namespace m2mdb::query {

class ContinuousQueries;  // m2mdb/query/continuous.h

// A result cell. monostate = null. Times are int64 nanoseconds in the
// "time" column and rendered by the writers (RFC3339 or epoch).
using Value = std::variant<std::monostate, double, int64_t, uint64_t, bool, std::string>;

// One column of ColumnarRows.
struct ResultColumn {
  enum class Kind : uint8_t {
    kFloat,     // floats[r], null where !valid[r]
    kConstant,  // `constant` on every row (a tag of a raw SELECT)
    kCells,     // cells[r]
  };
  Kind kind = Kind::kCells;
  std::vector<double> floats;
  std::vector<uint8_t> valid;
  Value constant;
  std::vector<Value> cells;

  Value Get(size_t r) const;
};

// Rows held column by column: row r is (times[r], columns[0].Get(r), ...).
// A raw SELECT answer of thousands of rows comes this way only when
// QueryOptions::columnar_rows asks for it: a heap vector per row was a
// fifth of such a query's time.
struct ColumnarRows {
  std::vector<int64_t> times;
  std::vector<ResultColumn> columns;

  size_t size() const { return times.size(); }
  bool empty() const { return times.empty(); }
  // The rows as ResultSeries::values holds them.
  std::vector<std::vector<Value>> ToRows() const;
};

struct ResultSeries {
  std::string name;                                       // measurement (or "databases", ...)
  std::vector<std::pair<std::string, std::string>> tags;  // GROUP BY tags, sorted by key
  std::vector<std::string> columns;
  // The rows. Empty when they are in `columnar` instead (only with
  // QueryOptions::columnar_rows): see RowCount and MaterializeRows.
  std::vector<std::vector<Value>> values;
  bool partial = false;
  // A SELECT result: columns[0] is the row time whatever it is called
  // (`SELECT time AS t`), and no other column is (`SELECT v AS time`). The
  // formatters print that column, and only that one, as a time. Otherwise a
  // column named "time" is one.
  bool time_first = false;
  // The statement's tz('...') zone (an IANA name): RFC3339 times are printed
  // as local times with that zone's offset, as influxd does. Empty: UTC.
  std::string time_zone;
  // With QueryOptions::columnar_rows, a raw SELECT's rows (then `values` is
  // empty); the formatters print either form the same way.
  ColumnarRows columnar;

  size_t RowCount() const { return values.empty() ? columnar.size() : values.size(); }
  // Moves `columnar`'s rows into `values` (nothing if there are none).
  void MaterializeRows();
};

struct StatementResult {
  int statement_id = 0;
  std::vector<ResultSeries> series;
  std::string error;                  // non-empty: the statement failed with this message
  std::vector<std::string> messages;  // informational messages (rare)
  // The request did not parse (a syntax error): influxd answers the whole
  // request with HTTP 400 and {"error":"error parsing query: ..."}; ToInfluxJson
  // renders a result list holding such a result that way (ErrorJson).
  bool parse_error = false;
  // With `error`: kQueryTimeout or kQueryMemory for a statement stopped by
  // QueryOptions' limits, else kUnspecified (m2mdb/status.h).
  ErrorKind kind = ErrorKind::kUnspecified;
};

struct QueryOptions {
  std::string database;  // the `db` parameter / USE db
  // The `rp` parameter: the retention policy of measurements that name
  // none; empty = the database's default.
  std::string retention_policy;
  int64_t now = 0;  // now() in ns; 0 = the current time
  // A statement that runs longer than this fails with "query timeout"; 0 = no limit.
  std::chrono::milliseconds timeout{0};
  // A statement that would hold more decoded points than this in memory fails
  // with "query memory limit exceeded"; 0 = no limit.
  uint64_t max_points = 0;
  // Also the bound on GROUP BY time windows: a statement whose windows
  // (times its groups) exceed max_points fails with influxd's
  // "max-select-buckets limit exceeded: (N/M)" before they are allocated.

  // Polled wherever the deadline is (between series, every few thousand
  // fields, rows or windows); returning true stops the statement with
  // "query cancelled" (a client that went away). Must be cheap and
  // thread-safe. Default: none.
  std::function<bool()> cancelled = nullptr;
  // Execute may hand a raw SELECT's rows over in ResultSeries::columnar
  // instead of `values`, for a caller that only formats them (ToInfluxJson,
  // ToCsv, ToTable read both). Default: always `values`. ExecuteStreaming
  // ignores it.
  bool columnar_rows = false;
};

class Executor {
 public:
  explicit Executor(DB* db);
  // With continuous queries: CREATE/SHOW/DROP CONTINUOUS QUERY act on `cqs`
  // (not owned; must outlive the Executor). Without, they fail.
  Executor(DB* db, ContinuousQueries* cqs);
  // Parses and runs every statement of `text` (separated by ';'). A parse
  // error yields one StatementResult with the InfluxDB-style error and no
  // statement is run, as InfluxDB does.
  std::vector<StatementResult> Execute(std::string_view text, const QueryOptions& options) const;
  // Runs statements parsed already (ParseQuery with validate = false), as
  // the overload above does after parsing: the server parses a request once,
  // to authorize it, and runs that parse (on small queries the parse is a
  // quarter of the work).
  std::vector<StatementResult> Execute(const std::vector<Statement>& statements,
                                       const QueryOptions& options) const;
  // Execute, handing each statement's result to `emit` instead of returning
  // them: a raw SELECT of one measurement without GROUP BY (`SELECT * FROM
  // m`, the big exports) comes in pieces as it pages through time, each a
  // result holding one series with the next rows (`more` = true, the same
  // series every time), then a result without series (`more` = false, or
  // with the error). Every other statement comes whole (`more` = false).
  // Memory is then bounded by a page (QueryOptions::max_points applies to
  // each page), not by the answer. `emit` returning false stops the run.
  void ExecuteStreaming(const std::vector<Statement>& statements, const QueryOptions& options,
                        const std::function<bool(StatementResult&& piece, bool more)>& emit) const;

 private:
  DB* db_;
  ContinuousQueries* cqs_ = nullptr;
};

struct JsonOptions {
  // "" = RFC3339Nano strings; "ns", "n", "u", "µ", "ms", "s", "m", "h" = integers in that unit.
  std::string epoch;
  bool pretty = false;
};

// {"results":[{"statement_id":0,"series":[{"name":..,"tags":..,"columns":..,"values":..}]}]}
std::string ToInfluxJson(const std::vector<StatementResult>& results, const JsonOptions& options);
// An error for the whole request: {"error":"..."}
std::string ErrorJson(std::string_view message);
// CSV as the influx CLI prints with -format csv: name,tags,col...
std::string ToCsv(const std::vector<StatementResult>& results, const JsonOptions& options);
// Aligned tables for the shell.
std::string ToTable(const std::vector<StatementResult>& results, const JsonOptions& options);

}  // namespace m2mdb::query

#endif  // M2MDB_QUERY_EXECUTOR_H_
