#include "engine/db/write_batch.h"

#include <charconv>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"

#include "engine/lineproto/lineproto.h"
#include "engine/util/coding.h"

namespace m2mdb {

void EncodeWalWriteRecord(const WalWriteRecord& r, std::string* out) {
  out->clear();
  out->reserve(r.body.size() + r.database.size() + r.retention_policy.size() + 32 +
               r.rejected_lines.size() * 2);
  out->push_back(static_cast<char>(r.retention_policy.empty() ? kRecordLineProtocol : kRecordLineProtocolRp));
  PutLengthPrefixed(out, r.database);
  if (!r.retention_policy.empty()) PutLengthPrefixed(out, r.retention_policy);
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
  if (in.empty() || !IsWalLineProtocolRecord(static_cast<uint8_t>(in[0]))) {
    return absl::DataLossError("unknown WAL record type");
  }
  const bool has_rp = static_cast<uint8_t>(in[0]) == kRecordLineProtocolRp;
  in.remove_prefix(1);
  r->retention_policy = {};
  if (!GetLengthPrefixed(&in, &r->database) || (has_rp && !GetLengthPrefixed(&in, &r->retention_policy)) ||
      in.size() < 9)
    return absl::DataLossError("truncated WAL record");
  r->precision = static_cast<uint8_t>(in[0]);
  in.remove_prefix(1);
  uint64_t t, n;
  GetFixed64(&in, &t);
  r->default_time = static_cast<int64_t>(t);
  if (!GetVarint64(&in, &n) || n > in.size())
    return absl::DataLossError("bad WAL record rejected-line count");
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

void BeginWalPointsRecord(std::string_view database, std::string_view retention_policy, std::string* out) {
  out->clear();
  out->push_back(static_cast<char>(retention_policy.empty() ? kRecordPoints : kRecordPointsRp));
  PutLengthPrefixed(out, database);
  if (!retention_policy.empty()) PutLengthPrefixed(out, retention_policy);
}

namespace {

// A varint length and the bytes, at `w`, which has room (10 + size).
char* WriteLengthPrefixed(char* w, std::string_view s) {
  w = EncodeVarint64(w, s.size());
  std::memcpy(w, s.data(), s.size());
  return w + s.size();
}

char* WriteFixed64(char* w, uint64_t v) {
  EncodeFixed64(w, v);
  return w + 8;
}

}  // namespace

namespace {

constexpr size_t kVarint = 10;

size_t MaxSeriesBytes(const lineproto::Point& p) {
  size_t max = kVarint + p.measurement.size() + kVarint;
  for (const auto& t : p.tags) max += 2 * kVarint + t.key.size() + t.value.size();
  return max;
}

size_t MaxFieldsBytes(const lineproto::Point& p) {
  size_t max = kVarint;
  for (const auto& f : p.fields) max += 2 * kVarint + 1 + 8 + f.key.size() + f.s.size();
  return max;
}

char* WriteSeries(char* w, const lineproto::Point& p) {
  w = WriteLengthPrefixed(w, p.measurement);
  w = EncodeVarint64(w, p.tags.size());
  for (const auto& t : p.tags) {
    w = WriteLengthPrefixed(w, t.key);
    w = WriteLengthPrefixed(w, t.value);
  }
  return w;
}

char* WriteFields(char* w, const lineproto::Point& p) {
  w = EncodeVarint64(w, p.fields.size());
  for (const auto& f : p.fields) {
    w = WriteLengthPrefixed(w, f.key);
    *w++ = static_cast<char>(f.type);
    switch (f.type) {
      case FieldType::kFloat: {
        uint64_t bits;
        std::memcpy(&bits, &f.f, sizeof bits);
        w = WriteFixed64(w, bits);
        break;
      }
      case FieldType::kInteger:
        w = WriteFixed64(w, static_cast<uint64_t>(f.i));
        break;
      case FieldType::kUnsigned:
        w = WriteFixed64(w, f.u);
        break;
      case FieldType::kBoolean:
        *w++ = f.b ? 1 : 0;
        break;
      case FieldType::kString:
        w = WriteLengthPrefixed(w, f.s);
        break;
    }
  }
  return w;
}

}  // namespace

// Written through a pointer into space reserved once per point: the
// per-byte-group appends of PutLengthPrefixed cost more than the copies
// (callgrind, typed truck points: ~1400 instructions per point before).
void AppendWalPoint(const lineproto::Point& p, std::string* out) {
  const size_t start = out->size();
  out->resize(start + 8 + MaxSeriesBytes(p) + MaxFieldsBytes(p));
  char* w = out->data() + start;
  w = WriteFixed64(w, static_cast<uint64_t>(p.timestamp));
  w = WriteSeries(w, p);
  w = WriteFields(w, p);
  out->resize(static_cast<size_t>(w - out->data()));
}

void EncodeWalPointSeries(const lineproto::Point& p, std::string* series) {
  series->resize(MaxSeriesBytes(p));
  char* w = WriteSeries(series->data(), p);
  series->resize(static_cast<size_t>(w - series->data()));
}

void AppendWalPointOfSeries(const lineproto::Point& p, std::string_view series, std::string* out) {
  const size_t start = out->size();
  out->resize(start + 8 + series.size() + MaxFieldsBytes(p));
  char* w = out->data() + start;
  w = WriteFixed64(w, static_cast<uint64_t>(p.timestamp));
  std::memcpy(w, series.data(), series.size());
  w += series.size();
  w = WriteFields(w, p);
  out->resize(static_cast<size_t>(w - out->data()));
}

Status DecodeWalPointsHeader(std::string_view payload, std::string_view* database,
                             std::string_view* retention_policy, std::string_view* rest) {
  const uint8_t type = WalRecordType(payload);
  if (!IsWalPointsRecord(type)) return absl::DataLossError("not a typed-points WAL record");
  payload.remove_prefix(1);
  *retention_policy = {};
  if (!GetLengthPrefixed(&payload, database) ||
      (type == kRecordPointsRp && !GetLengthPrefixed(&payload, retention_policy))) {
    return absl::DataLossError("truncated WAL record");
  }
  *rest = payload;
  return absl::OkStatus();
}

Status DecodeWalPoint(std::string_view* in, lineproto::Point* p, std::string* key) {
  auto bad = [] { return absl::DataLossError("truncated typed-points WAL record"); };
  uint64_t v, n;
  if (in->size() < 8) return bad();
  GetFixed64(in, &v);
  p->timestamp = static_cast<int64_t>(v);
  if (!GetLengthPrefixed(in, &p->measurement)) return bad();
  if (!GetVarint64(in, &n) || n > in->size()) return bad();
  p->tags.resize(n);
  for (auto& t : p->tags) {
    if (!GetLengthPrefixed(in, &t.key) || !GetLengthPrefixed(in, &t.value)) return bad();
  }
  if (!GetVarint64(in, &n) || n > in->size()) return bad();
  p->fields.resize(n);
  for (auto& f : p->fields) {
    if (!GetLengthPrefixed(in, &f.key) || in->empty()) return bad();
    const uint8_t type = static_cast<uint8_t>((*in)[0]);
    in->remove_prefix(1);
    f.type = static_cast<FieldType>(type);
    switch (f.type) {
      case FieldType::kFloat:
      case FieldType::kInteger:
      case FieldType::kUnsigned:
        if (in->size() < 8) return bad();
        GetFixed64(in, &v);
        if (f.type == FieldType::kFloat) {
          std::memcpy(&f.f, &v, sizeof v);
        } else if (f.type == FieldType::kInteger) {
          f.i = static_cast<int64_t>(v);
        } else {
          f.u = v;
        }
        break;
      case FieldType::kBoolean:
        if (in->empty()) return bad();
        f.b = (*in)[0] != 0;
        in->remove_prefix(1);
        break;
      case FieldType::kString:
        if (!GetLengthPrefixed(in, &f.s)) return bad();
        break;
      default:
        return absl::DataLossError("unknown field type in WAL record");
    }
  }
  *key = lineproto::SeriesKey(p->measurement, p->tags);
  p->series_raw = *key;
  return absl::OkStatus();
}

namespace {

// A field's value as line protocol, for typed (FieldValue) and parsed
// (lineproto::Field) fields alike. Floats as the shortest text that
// round-trips: a reader stores the same bits.
template <typename F>
void AppendFieldValue(const F& v, std::string* out) {
  switch (v.type) {
    case FieldType::kFloat: {
      char num[64];
      auto res = std::to_chars(num, num + sizeof(num), v.f);
      out->append(num, res.ptr - num);
      break;
    }
    case FieldType::kInteger:
      absl::StrAppend(out, v.i, "i");
      break;
    case FieldType::kUnsigned:
      absl::StrAppend(out, v.u, "u");
      break;
    case FieldType::kBoolean:
      *out += v.b ? "true" : "false";
      break;
    case FieldType::kString:
      out->push_back('"');
      lineproto::AppendEscapedStringValue(out, v.s);
      out->push_back('"');
      break;
  }
}

}  // namespace

void AppendPointAsLineProtocol(const Point& p, std::string* out) {
  lineproto::AppendEscapedMeasurement(out, p.measurement);
  for (const auto& [k, v] : p.tags) {
    out->push_back(',');
    lineproto::AppendEscapedKey(out, k);
    out->push_back('=');
    lineproto::AppendEscapedKey(out, v);
  }
  char sep = ' ';
  for (const auto& [k, v] : p.fields) {
    out->push_back(sep);
    sep = ',';
    lineproto::AppendEscapedKey(out, k);
    out->push_back('=');
    AppendFieldValue(v, out);
  }
  absl::StrAppend(out, " ", p.timestamp, "\n");
}

void AppendParsedPointAsLineProtocol(const lineproto::Point& p, std::string* out) {
  if (!p.series_raw.empty()) {
    // The same series for any parser (tag order aside); escaping the tags
    // again cost the subscription sender as much as parsing the line.
    out->append(p.series_raw);
  } else {
    lineproto::AppendEscapedMeasurement(out, p.measurement);
    for (const lineproto::Tag& t : p.tags) {
      out->push_back(',');
      lineproto::AppendEscapedKey(out, t.key);
      out->push_back('=');
      lineproto::AppendEscapedKey(out, t.value);
    }
  }
  char sep = ' ';
  for (const lineproto::Field& f : p.fields) {
    out->push_back(sep);
    sep = ',';
    lineproto::AppendEscapedKey(out, f.key);
    out->push_back('=');
    AppendFieldValue(f, out);
  }
  absl::StrAppend(out, " ", p.timestamp, "\n");
}

std::string PointsToLineProtocol(const std::vector<Point>& points) {
  std::string out;
  for (const Point& p : points) AppendPointAsLineProtocol(p, &out);
  return out;
}

}  // namespace m2mdb
