// Recursive-descent JSON reader; depth-limited so a hostile answer cannot
// overflow the stack.
#include "bench/m2mdb_bench/json.h"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>

namespace m2mdb::bench {

class JsonParser {
 public:
  explicit JsonParser(std::string_view s) : s_(s) {}

  absl::StatusOr<Json> Run() {
    Json v;
    if (!Value(&v, 0)) return absl::InvalidArgumentError("bad JSON at offset " + std::to_string(pos_));
    Ws();
    if (pos_ != s_.size())
      return absl::InvalidArgumentError("trailing bytes after JSON at " + std::to_string(pos_));
    return v;
  }

 private:
  void Ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t'))
      ++pos_;
  }
  bool Lit(std::string_view w) {
    if (s_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }
  bool Value(Json* v, int depth) {
    if (depth > 64) return false;
    Ws();
    if (pos_ >= s_.size()) return false;
    char c = s_[pos_];
    if (c == '{') {
      v->type_ = Json::Type::kObject;
      ++pos_;
      Ws();
      if (pos_ < s_.size() && s_[pos_] == '}') return ++pos_, true;
      while (true) {
        Ws();
        std::string key;
        if (!String(&key)) return false;
        Ws();
        if (pos_ >= s_.size() || s_[pos_] != ':') return false;
        ++pos_;
        Json m;
        if (!Value(&m, depth + 1)) return false;
        v->members_.emplace_back(std::move(key), std::move(m));
        Ws();
        if (pos_ < s_.size() && s_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < s_.size() && s_[pos_] == '}') return ++pos_, true;
        return false;
      }
    }
    if (c == '[') {
      v->type_ = Json::Type::kArray;
      ++pos_;
      Ws();
      if (pos_ < s_.size() && s_[pos_] == ']') return ++pos_, true;
      while (true) {
        Json m;
        if (!Value(&m, depth + 1)) return false;
        v->items_.push_back(std::move(m));
        Ws();
        if (pos_ < s_.size() && s_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (pos_ < s_.size() && s_[pos_] == ']') return ++pos_, true;
        return false;
      }
    }
    if (c == '"') {
      v->type_ = Json::Type::kString;
      return String(&v->string_);
    }
    if (Lit("true")) {
      v->type_ = Json::Type::kBool;
      v->boolean_ = true;
      return true;
    }
    if (Lit("false")) {
      v->type_ = Json::Type::kBool;
      return true;
    }
    if (Lit("null")) return true;
    // Number: strtod on a bounded copy (from_chars for double is fine too,
    // but strtod also takes the exponent forms every server emits).
    size_t end = pos_;
    while (end < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[end])) || s_[end] == '-' ||
                               s_[end] == '+' || s_[end] == '.' || s_[end] == 'e' || s_[end] == 'E')) {
      ++end;
    }
    if (end == pos_) return false;
    std::string num(s_.substr(pos_, end - pos_));
    char* stop = nullptr;
    v->number_ = std::strtod(num.c_str(), &stop);
    if (stop != num.c_str() + num.size()) return false;
    v->type_ = Json::Type::kNumber;
    pos_ = end;
    return true;
  }
  bool String(std::string* out) {
    if (pos_ >= s_.size() || s_[pos_] != '"') return false;
    ++pos_;
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '"') return true;
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) return false;
      char e = s_[pos_++];
      switch (e) {
        case '"':
          out->push_back('"');
          break;
        case '\\':
          out->push_back('\\');
          break;
        case '/':
          out->push_back('/');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          if (pos_ + 4 > s_.size()) return false;
          unsigned cp = 0;
          auto r = std::from_chars(s_.data() + pos_, s_.data() + pos_ + 4, cp, 16);
          if (r.ptr != s_.data() + pos_ + 4) return false;
          pos_ += 4;
          // UTF-8 encode (surrogate pairs are kept as two code units; the
          // answers we read are ASCII).
          if (cp < 0x80) {
            out->push_back(static_cast<char>(cp));
          } else if (cp < 0x800) {
            out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
          } else {
            out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
          }
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

absl::StatusOr<Json> Json::Parse(std::string_view text) { return JsonParser(text).Run(); }

namespace {
const Json& Null() {
  static const Json* const kNull = new Json();
  return *kNull;
}
}  // namespace

const Json& Json::operator[](std::string_view key) const {
  for (const auto& [k, v] : members_) {
    if (k == key) return v;
  }
  return Null();
}

const Json& Json::at(size_t i) const { return i < items_.size() ? items_[i] : Null(); }

std::string JsonQuote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace m2mdb::bench
