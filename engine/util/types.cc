#include <cstddef>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "m2mdb/column.h"
#include "m2mdb/types.h"

namespace m2mdb {

std::string_view FieldTypeName(FieldType t) {
  switch (t) {
    case FieldType::kFloat: return "float";
    case FieldType::kInteger: return "integer";
    case FieldType::kUnsigned: return "unsigned";
    case FieldType::kBoolean: return "boolean";
    case FieldType::kString: return "string";
  }
  return "unknown";
}

bool FieldValue::operator==(const FieldValue& o) const {
  if (type != o.type) return false;
  switch (type) {
    case FieldType::kFloat: return std::memcmp(&f, &o.f, sizeof(double)) == 0;
    case FieldType::kInteger: return i == o.i;
    case FieldType::kUnsigned: return u == o.u;
    case FieldType::kBoolean: return b == o.b;
    case FieldType::kString: return s == o.s;
  }
  return false;
}

std::string FieldValue::DebugString() const {
  switch (type) {
    case FieldType::kFloat: return absl::StrCat(f);
    case FieldType::kInteger: return absl::StrCat(i, "i");
    case FieldType::kUnsigned: return absl::StrCat(u, "u");
    case FieldType::kBoolean: return b ? "true" : "false";
    case FieldType::kString: return absl::StrCat("\"", s, "\"");
  }
  return "?";
}

void Column::reserve(size_t n) {
  times.reserve(n);
  switch (type) {
    case FieldType::kFloat: floats.reserve(n); break;
    case FieldType::kInteger: ints.reserve(n); break;
    case FieldType::kUnsigned: uints.reserve(n); break;
    case FieldType::kBoolean: bools.reserve(n); break;
    case FieldType::kString: strings.reserve(n); break;
  }
}

void Column::truncate(size_t n) {
  auto cut = [n](auto& v) {
    if (v.size() > n) v.erase(v.begin() + static_cast<std::ptrdiff_t>(n), v.end());
  };
  cut(times);
  cut(floats);
  cut(ints);
  cut(uints);
  cut(bools);
  cut(strings);
}

void Column::AppendFrom(const Column& src, size_t i) {
  times.push_back(src.times[i]);
  switch (type) {
    case FieldType::kFloat: floats.push_back(src.floats[i]); break;
    case FieldType::kInteger: ints.push_back(src.ints[i]); break;
    case FieldType::kUnsigned: uints.push_back(src.uints[i]); break;
    case FieldType::kBoolean: bools.push_back(src.bools[i]); break;
    case FieldType::kString: strings.push_back(src.strings[i]); break;
  }
}

void Column::Append(int64_t t, const FieldValue& v) {
  times.push_back(t);
  switch (type) {
    case FieldType::kFloat: floats.push_back(v.f); break;
    case FieldType::kInteger: ints.push_back(v.i); break;
    case FieldType::kUnsigned: uints.push_back(v.u); break;
    case FieldType::kBoolean: bools.push_back(v.b ? 1 : 0); break;
    case FieldType::kString: strings.push_back(v.s); break;
  }
}

FieldValue Column::ValueAt(size_t i) const {
  switch (type) {
    case FieldType::kFloat: return FieldValue::Float(floats[i]);
    case FieldType::kInteger: return FieldValue::Int(ints[i]);
    case FieldType::kUnsigned: return FieldValue::Uint(uints[i]);
    case FieldType::kBoolean: return FieldValue::Bool(bools[i] != 0);
    case FieldType::kString: return FieldValue::String(strings[i]);
  }
  return FieldValue();
}

}  // namespace m2mdb
