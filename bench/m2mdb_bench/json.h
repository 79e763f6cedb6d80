// A small JSON reader (for the answers of /query) and string escaping for the
// --json report. No dependency: Debian 12 has no JSON library we already use.
#ifndef M2MDB_BENCH_M2MDB_BENCH_JSON_H_
#define M2MDB_BENCH_M2MDB_BENCH_JSON_H_

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace m2mdb::bench {

class Json {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  static absl::StatusOr<Json> Parse(std::string_view text);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  double number() const { return number_; }
  bool boolean() const { return boolean_; }
  const std::string& str() const { return string_; }
  const std::vector<Json>& items() const { return items_; }
  const std::vector<std::pair<std::string, Json>>& members() const { return members_; }
  // The member `key`, or a shared null value.
  const Json& operator[](std::string_view key) const;
  // Element `i` of an array, or a shared null value.
  const Json& at(size_t i) const;
  size_t size() const { return type_ == Type::kArray ? items_.size() : members_.size(); }

 private:
  friend class JsonParser;
  Type type_ = Type::kNull;
  bool boolean_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<Json> items_;
  std::vector<std::pair<std::string, Json>> members_;
};

// `s` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view s);

}  // namespace m2mdb::bench

#endif  // M2MDB_BENCH_M2MDB_BENCH_JSON_H_
