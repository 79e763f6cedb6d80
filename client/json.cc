// Implements client/json.h: nlohmann-json's SAX parser builds our tree, so
// numbers keep their text and no nlohmann DOM is built in between.
#include "client/json.h"

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <iterator>

#include <nlohmann/json.hpp>

namespace m2mdb::client {

const Json* Json::Find(std::string_view key) const {
  for (const auto& [k, v] : members) {
    if (k == key) return &v;
  }
  return nullptr;
}

namespace {

const Json& Null() {
  static const Json* const kNull = new Json();
  return *kNull;
}

// Builds a Json tree from nlohmann's SAX events. The parser itself does not
// recurse; this handler keeps its own stack of open containers and refuses
// nesting deeper than kMaxJsonDepth (the tree's destructor recurses).
class Builder : public nlohmann::json_sax<nlohmann::json> {
 public:
  // `text` is the document; `*cursor` is how far nlohmann's lexer has read
  // (see Cursor).
  Builder(Json* root, std::string_view text, const char* const* cursor)
      : root_(root), text_(text), cursor_(cursor) {}

  bool null() override { return Add(Json()) != nullptr; }
  bool boolean(bool v) override {
    Json j;
    j.kind = Json::kBool;
    j.boolean = v;
    return Add(std::move(j)) != nullptr;
  }
  bool number_integer(number_integer_t v) override {
    // "-0" is the one integer whose text differs from its value's (JSON has
    // no leading zeros or '+'); influxd writes a float -0 that way, and
    // `m2mdb export` must write it back as -0.
    return Number(v == 0 && NegativeZero() ? "-0" : std::to_string(v));
  }
  bool number_unsigned(number_unsigned_t v) override { return Number(std::to_string(v)); }
  bool number_float(number_float_t, const string_t& s) override { return Number(s); }
  bool string(string_t& s) override {
    Json j;
    j.kind = Json::kString;
    j.text = std::move(s);
    return Add(std::move(j)) != nullptr;
  }
  bool binary(binary_t&) override { return false; }
  bool start_object(std::size_t) override { return Open(Json::kObject); }
  bool key(string_t& k) override {
    stack_.back()->members.emplace_back(std::move(k), Json());
    return true;
  }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(Json::kArray); }
  bool end_array() override { return Close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error_ = e.what();
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  // Places `j` where the document is: the root, the next array element, or
  // the value of the member whose key came last.
  Json* Add(Json&& j) {
    if (stack_.empty()) {
      *root_ = std::move(j);
      return root_;
    }
    Json* top = stack_.back();
    if (top->kind == Json::kArray) {
      top->items.push_back(std::move(j));
      return &top->items.back();
    }
    top->members.back().second = std::move(j);
    return &top->members.back().second;
  }
  bool Number(std::string text) {
    Json j;
    j.kind = Json::kNumber;
    j.text = std::move(text);
    return Add(std::move(j)) != nullptr;
  }
  bool Open(Json::Kind kind) {
    if (stack_.size() >= static_cast<size_t>(kMaxJsonDepth)) {
      error_ = "nested too deeply";
      return false;
    }
    Json j;
    j.kind = kind;
    // Pointers into the tree stay valid: a container's vector grows only
    // while it is the top of the stack, and nothing below it is touched
    // until it is closed.
    stack_.push_back(Add(std::move(j)));
    return true;
  }
  bool Close() {
    stack_.pop_back();
    return true;
  }

  // Whether the integer just read was written "-0": the lexer has read the
  // number and one character past it (or hit the end), so the number ends at
  // the cursor, or one character before it when that one is not a digit.
  bool NegativeZero() const {
    size_t end = static_cast<size_t>(*cursor_ - text_.data());
    if (end > 0 && (text_[end - 1] < '0' || text_[end - 1] > '9')) end--;
    return end >= 2 && text_.substr(end - 2, 2) == "-0";
  }

  Json* root_;
  std::string_view text_;
  const char* const* cursor_;
  std::vector<Json*> stack_;
  std::string error_;
};

}  // namespace

const Json& Json::operator[](std::string_view key) const {
  const Json* j = Find(key);
  return j != nullptr ? *j : Null();
}

const Json& Json::at(size_t i) const { return kind == kArray && i < items.size() ? items[i] : Null(); }

double Json::number() const {
  if (kind != kNumber) return 0;
  double d = 0;
  std::from_chars(text.data(), text.data() + text.size(), d);
  return d;
}

namespace {

// A char iterator that publishes how far it has been advanced, so that the
// SAX handler can look at the text of the token just read.
class Cursor {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  Cursor(const char* p, const char** shared) : p_(p), shared_(shared) {}
  reference operator*() const { return *p_; }
  Cursor& operator++() {
    *shared_ = ++p_;
    return *this;
  }
  bool operator==(const Cursor& o) const { return p_ == o.p_; }
  bool operator!=(const Cursor& o) const { return p_ != o.p_; }

 private:
  const char* p_;
  const char** shared_;
};

}  // namespace

absl::StatusOr<Json> ParseJson(std::string_view text) {
  Json root;
  const char* cursor = text.data();
  Builder b(&root, text, &cursor);
  if (!nlohmann::json::sax_parse(Cursor(text.data(), &cursor), Cursor(text.data() + text.size(), &cursor),
                                 &b)) {
    return absl::InvalidArgumentError(b.error().empty() ? std::string("parse error") : b.error());
  }
  return root;
}

}  // namespace m2mdb::client
