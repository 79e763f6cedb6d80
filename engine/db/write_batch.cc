#include "engine/db/write_batch.h"

#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "engine/lineproto/lineproto.h"
#include "engine/util/coding.h"

namespace m2mdb {

void EncodeWalWriteRecord(const WalWriteRecord& r, std::string* out) {
  out->clear();
  out->reserve(r.body.size() + r.database.size() + 32 + r.rejected_lines.size() * 2);
  out->push_back(static_cast<char>(kRecordLineProtocol));
  PutLengthPrefixed(out, r.database);
  out->push_back(static_cast<char>(r.precision));
  PutFixed64(out, static_cast<uint64_t>(r.default_time));
  PutVarint64(out, r.rejected_lines.size());
  int prev = 0;
  for (int line : r.rejected_lines) {
    PutVarint64(out, static_cast<uint64_t>(line - prev));
    prev = line;
  }
  out->append(r.body.data(), r.body.size());
}

Status DecodeWalWriteRecord(std::string_view in, WalWriteRecord* r) {
  if (in.empty() || static_cast<uint8_t>(in[0]) != kRecordLineProtocol) {
    return absl::DataLossError("unknown WAL record type");
  }
  in.remove_prefix(1);
  if (!GetLengthPrefixed(&in, &r->database) || in.size() < 9) return absl::DataLossError("truncated WAL record");
  r->precision = static_cast<uint8_t>(in[0]);
  in.remove_prefix(1);
  uint64_t t, n;
  GetFixed64(&in, &t);
  r->default_time = static_cast<int64_t>(t);
  if (!GetVarint64(&in, &n) || n > in.size()) return absl::DataLossError("bad WAL record rejected-line count");
  r->rejected_lines.clear();
  int prev = 0;
  for (uint64_t k = 0; k < n; k++) {
    uint64_t d;
    if (!GetVarint64(&in, &d) || d > INT32_MAX) return absl::DataLossError("bad WAL record line number");
    prev += static_cast<int>(d);
    r->rejected_lines.push_back(prev);
  }
  r->body = in;
  return absl::OkStatus();
}

std::string PointsToLineProtocol(const std::vector<Point>& points) {
  std::string out;
  char num[64];
  for (const Point& p : points) {
    lineproto::AppendEscapedMeasurement(&out, p.measurement);
    for (const auto& [k, v] : p.tags) {
      out.push_back(',');
      lineproto::AppendEscapedKey(&out, k);
      out.push_back('=');
      lineproto::AppendEscapedKey(&out, v);
    }
    char sep = ' ';
    for (const auto& [k, v] : p.fields) {
      out.push_back(sep);
      sep = ',';
      lineproto::AppendEscapedKey(&out, k);
      out.push_back('=');
      switch (v.type) {
        case FieldType::kFloat: {
          auto res = std::to_chars(num, num + sizeof(num), v.f);
          out.append(num, res.ptr - num);
          break;
        }
        case FieldType::kInteger: absl::StrAppend(&out, v.i, "i"); break;
        case FieldType::kUnsigned: absl::StrAppend(&out, v.u, "u"); break;
        case FieldType::kBoolean: out += v.b ? "true" : "false"; break;
        case FieldType::kString:
          out.push_back('"');
          lineproto::AppendEscapedStringValue(&out, v.s);
          out.push_back('"');
          break;
      }
    }
    absl::StrAppend(&out, " ", p.timestamp, "\n");
  }
  return out;
}

}  // namespace m2mdb
