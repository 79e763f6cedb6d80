// client/json.h — the JSON documents the m2mdb tool and m2mdb-bench read
// (answers of /query and /write, bench reports), parsed by nlohmann-json
// (Debian nlohmann-json3-dev): the project's one JSON reader. The server reads
// its only JSON input (the `params` of /query) with nlohmann-json directly.
//
// A small tree of our own on top keeps two things nlohmann's DOM loses or
// makes awkward: a number's text as written (a nanosecond timestamp stays an
// exact integer; "1.0" stays a float) and members in document order; and it
// gives lookups that return a shared null for a missing member instead of
// asserting.
//
// Thread-safety: values are immutable after ParseJson; share them freely.
#ifndef M2MDB_CLIENT_JSON_H_
#define M2MDB_CLIENT_JSON_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace m2mdb::client {

struct Json {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = kNull;
  bool boolean = false;
  std::string text;  // kString: unescaped; kNumber: the number as written
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;  // in document order

  // The member `key` of an object, or null.
  const Json* Find(std::string_view key) const;
  // The member `key`, or a shared null value (also for a non-object).
  const Json& operator[](std::string_view key) const;
  // Element `i` of an array, or a shared null value.
  const Json& at(size_t i) const;
  size_t size() const { return kind == kArray ? items.size() : members.size(); }
  // A number's value as a double (0 for anything else).
  double number() const;

  bool is_null() const { return kind == kNull; }
  bool is_array() const { return kind == kArray; }
  bool is_object() const { return kind == kObject; }
  bool is_number() const { return kind == kNumber; }
  bool is_string() const { return kind == kString; }
};

// Parses one JSON document (RFC 8259, nesting at most kMaxJsonDepth deep);
// InvalidArgument with nlohmann's description of the error (its position
// included) on malformed text.
inline constexpr int kMaxJsonDepth = 64;
absl::StatusOr<Json> ParseJson(std::string_view text);

}  // namespace m2mdb::client

#endif  // M2MDB_CLIENT_JSON_H_
