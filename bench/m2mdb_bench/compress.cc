#include "bench/m2mdb_bench/compress.h"

#include <cstdio>
#include <map>
#include <tuple>

#include "engine/encoding/codec.h"

namespace m2mdb::bench {
namespace {

const char* TypeName(FieldType t) {
  switch (t) {
    case FieldType::kFloat:
      return "float";
    case FieldType::kInteger:
      return "int";
    case FieldType::kUnsigned:
      return "uint";
    case FieldType::kBoolean:
      return "bool";
    case FieldType::kString:
      return "string";
  }
  return "?";
}

std::string Codecs(const std::map<std::string, uint64_t>& m) {
  std::string out;
  for (const auto& [name, blocks] : m) {
    if (!out.empty()) out += ",";
    out += name + ":" + std::to_string(blocks);
  }
  return out;
}

}  // namespace

absl::StatusOr<CompressResult> CompressReport(const std::string& data_dir) {
  Options o;
  o.data_dir = data_dir;
  o.create_if_missing = false;
  auto db = DB::Open(o);
  if (!db.ok()) return db.status();
  if (Status s = (*db)->Flush(); !s.ok()) return s;
  if (Status s = (*db)->Compact(); !s.ok()) return s;
  auto report = (*db)->GetStorageReport();
  if (!report.ok()) return report.status();
  // The Gorilla baseline: every float column re-encoded with Gorilla XOR
  // alone, in blocks as the segments cut them (4096 points), values only.
  std::map<std::pair<std::string, std::string>, uint64_t> gorilla_bytes;
  for (const FieldStorage& f : report->fields) {
    if (f.type != FieldType::kFloat) continue;
    ScanRequest req;
    req.database = f.database;
    req.measurement = f.measurement;
    req.fields = {f.field};
    uint64_t bytes = 0;
    std::string buf;
    Status s = (*db)->Scan(req, [&](const SeriesData& sd) {
      const Column& c = sd.columns[0];
      for (size_t i = 0; i < c.size(); i += 4096) {
        buf.clear();
        encoding::EncodeFloatsWith(encoding::CodecId::kFloatGorilla, c.floats.data() + i,
                                   std::min<size_t>(4096, c.size() - i), &buf);
        bytes += buf.size();
      }
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    gorilla_bytes[{f.measurement, f.field}] = bytes;
  }
  if (Status s = (*db)->Close(); !s.ok()) return s;

  CompressResult r;
  r.report = *report;
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%-28s %-8s %12s %12s %12s %8s %9s  %s\n", "measurement.field", "type",
                "points", "ts bytes", "value bytes", "B/value", "gorilla",
                "codecs (value; timestamp) blocks");
  r.text = buf;
  for (const FieldStorage& f : report->fields) {
    r.values += f.points;
    double bpv = f.points ? static_cast<double>(f.timestamp_bytes + f.value_bytes) / f.points : 0;
    // Gorilla column: the same timestamps, values encoded by Gorilla alone.
    char gorilla[32] = "-";
    auto g = gorilla_bytes.find({f.measurement, f.field});
    if (g != gorilla_bytes.end() && f.points > 0) {
      r.gorilla_bytes += f.timestamp_bytes + g->second;
      r.gorilla_values += f.points;
      r.chosen_float_bytes += f.timestamp_bytes + f.value_bytes;
      std::snprintf(gorilla, sizeof(gorilla), "%.3f",
                    static_cast<double>(f.timestamp_bytes + g->second) / f.points);
    }
    std::snprintf(
        buf, sizeof(buf), "%-28s %-8s %12llu %12llu %12llu %8.3f %9s  %s; %s\n",
        (f.measurement + "." + f.field).c_str(), TypeName(f.type), static_cast<unsigned long long>(f.points),
        static_cast<unsigned long long>(f.timestamp_bytes), static_cast<unsigned long long>(f.value_bytes),
        bpv, gorilla, Codecs(f.value_codecs).c_str(), Codecs(f.timestamp_codecs).c_str());
    r.text += buf;
  }
  const double values = static_cast<double>(std::max<uint64_t>(1, r.values));
  r.segment_bytes_per_value = report->segment_bytes / values;
  r.total_bytes_per_value = report->total_bytes / values;
  std::snprintf(
      buf, sizeof(buf),
      "total: %llu values; segment files %llu bytes = %.3f B/value; all files %llu bytes = %.3f B/value "
      "(meta %llu, wal %llu)\n",
      static_cast<unsigned long long>(r.values), static_cast<unsigned long long>(report->segment_bytes),
      r.segment_bytes_per_value, static_cast<unsigned long long>(report->total_bytes),
      r.total_bytes_per_value, static_cast<unsigned long long>(report->meta_bytes),
      static_cast<unsigned long long>(report->wal_bytes));
  r.text += buf;
  if (r.gorilla_values > 0) {
    std::snprintf(buf, sizeof(buf),
                  "float fields: chosen codecs %.3f B/value, Gorilla alone %.3f B/value (%.2fx smaller)\n",
                  static_cast<double>(r.chosen_float_bytes) / r.gorilla_values,
                  static_cast<double>(r.gorilla_bytes) / r.gorilla_values,
                  static_cast<double>(r.gorilla_bytes) / std::max<uint64_t>(1, r.chosen_float_bytes));
    r.text += buf;
  }
  return r;
}

absl::Status CompactEmbedded(const std::string& data_dir) {
  Options o;
  o.data_dir = data_dir;
  o.create_if_missing = false;
  auto db = DB::Open(o);
  if (!db.ok()) return db.status();
  if (Status s = (*db)->Compact(); !s.ok()) return s;
  return (*db)->Close();
}

absl::Status CreateDatabaseEmbedded(const std::string& data_dir, const std::string& database) {
  Options o;
  o.data_dir = data_dir;
  auto db = DB::Open(o);
  if (!db.ok()) return db.status();
  if (Status s = (*db)->CreateDatabase({.name = database}); !s.ok()) return s;
  return (*db)->Close();
}

}  // namespace m2mdb::bench
