// m2mdb/types.h — the data model's value types (InfluxDB 1.x compatible).
#ifndef M2MDB_TYPES_H_
#define M2MDB_TYPES_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace m2mdb {

// A field's type. Persisted in the schema and in segment files:
// never renumber, never reuse a retired value.
enum class FieldType : uint8_t {
  kFloat = 1,     // float64; line protocol "1.5", "1", "1e3"
  kInteger = 2,   // int64; line protocol "1i"
  kUnsigned = 3,  // uint64; line protocol "1u"
  kBoolean = 4,   // line protocol t, T, true, True, TRUE, f, F, false, ...
  kString = 5,    // line protocol "\"text\""
};

// "float", "integer", "unsigned", "boolean", "string" — InfluxDB's names.
std::string_view FieldTypeName(FieldType t);

// Timestamps are int64 nanoseconds since the Unix epoch.
constexpr int64_t kMinTime = INT64_MIN + 2;  // InfluxDB's models.MinNanoTime
constexpr int64_t kMaxTime = INT64_MAX - 1;  // InfluxDB's models.MaxNanoTime

// One typed field value. For kString, `s` owns the text.
struct FieldValue {
  FieldType type = FieldType::kFloat;
  union {
    double f;
    int64_t i;
    uint64_t u;
    bool b;
  };
  std::string s;

  FieldValue() : f(0) {}
  static FieldValue Float(double v) { FieldValue x; x.type = FieldType::kFloat; x.f = v; return x; }
  static FieldValue Int(int64_t v) { FieldValue x; x.type = FieldType::kInteger; x.i = v; return x; }
  static FieldValue Uint(uint64_t v) { FieldValue x; x.type = FieldType::kUnsigned; x.u = v; return x; }
  static FieldValue Bool(bool v) { FieldValue x; x.type = FieldType::kBoolean; x.b = v; return x; }
  static FieldValue String(std::string v) { FieldValue x; x.type = FieldType::kString; x.s = std::move(v); return x; }

  // Bitwise equality for floats (NaN payloads and -0.0 compare exactly).
  bool operator==(const FieldValue& o) const;
  std::string DebugString() const;
};

}  // namespace m2mdb

#endif  // M2MDB_TYPES_H_
