// Every answer is valid JSON, whatever bytes stored names and string values
// hold (old data directories may hold invalid UTF-8): invalid sequences come
// out as U+FFFD and control characters escaped, as Go's encoding/json
// (influxd) writes them. A strict checker validates fuzzed results.
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "m2mdb/query/executor.h"
#include "query/format/format.h"

namespace m2mdb::query {
namespace {

// A strict RFC 8259 checker: one value, no raw control characters in
// strings, only the defined escapes, well-formed UTF-8 (no overlongs,
// surrogates or code points past U+10FFFF).
class JsonChecker {
 public:
  explicit JsonChecker(std::string_view s) : s_(s) {}
  bool Valid() {
    Ws();
    if (!Value()) return false;
    Ws();
    return i_ == s_.size();
  }

 private:
  bool Value() {
    if (i_ >= s_.size()) return false;
    switch (s_[i_]) {
      case '{':
        return Object();
      case '[':
        return Array();
      case '"':
        return String();
      case 't':
        return Lit("true");
      case 'f':
        return Lit("false");
      case 'n':
        return Lit("null");
      default:
        return Number();
    }
  }
  bool Lit(std::string_view l) {
    if (s_.substr(i_, l.size()) != l) return false;
    i_ += l.size();
    return true;
  }
  bool Number() {
    size_t start = i_;
    if (Peek('-')) i_++;
    if (Peek('0')) {
      i_++;
    } else if (!Digits()) {
      return false;
    }
    if (Peek('.')) {
      i_++;
      if (!Digits()) return false;
    }
    if (Peek('e') || Peek('E')) {
      i_++;
      if (Peek('+') || Peek('-')) i_++;
      if (!Digits()) return false;
    }
    return i_ > start;
  }
  bool Digits() {
    size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') i_++;
    return i_ > start;
  }
  bool Peek(char c) const { return i_ < s_.size() && s_[i_] == c; }
  void Ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) i_++;
  }
  bool Object() {
    i_++;
    Ws();
    if (Peek('}')) return ++i_, true;
    while (true) {
      Ws();
      if (!Peek('"') || !String()) return false;
      Ws();
      if (!Peek(':')) return false;
      i_++;
      Ws();
      if (!Value()) return false;
      Ws();
      if (Peek('}')) return ++i_, true;
      if (!Peek(',')) return false;
      i_++;
    }
  }
  bool Array() {
    i_++;
    Ws();
    if (Peek(']')) return ++i_, true;
    while (true) {
      Ws();
      if (!Value()) return false;
      Ws();
      if (Peek(']')) return ++i_, true;
      if (!Peek(',')) return false;
      i_++;
    }
  }
  bool String() {
    i_++;
    while (i_ < s_.size()) {
      const unsigned char c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') return ++i_, true;
      if (c < 0x20) return false;
      if (c == '\\') {
        if (++i_ >= s_.size()) return false;
        const char e = s_[i_];
        if (e == 'u') {
          for (int k = 1; k <= 4; k++) {
            if (i_ + k >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[i_ + k]))) return false;
          }
          i_ += 5;
          continue;
        }
        if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) return false;
        i_++;
        continue;
      }
      if (c < 0x80) {
        i_++;
        continue;
      }
      size_t n;
      uint32_t cp;
      if (c >= 0xC2 && c <= 0xDF) {
        n = 2, cp = c & 0x1F;
      } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, cp = c & 0x0F;
      } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, cp = c & 0x07;
      } else {
        return false;
      }
      if (i_ + n > s_.size()) return false;
      for (size_t k = 1; k < n; k++) {
        const unsigned char d = static_cast<unsigned char>(s_[i_ + k]);
        if ((d & 0xC0) != 0x80) return false;
        cp = (cp << 6) | (d & 0x3F);
      }
      static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
      if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
      i_ += n;
    }
    return false;
  }

  std::string_view s_;
  size_t i_ = 0;
};

std::string Json(std::string_view s) {
  std::string out;
  format::AppendJsonString(s, &out);
  return out;
}

TEST(JsonUtf8, InvalidSequencesBecomeReplacementCharactersAsInGo) {
  EXPECT_EQ(Json("cpu\xff"), R"("cpu\ufffd")");
  EXPECT_EQ(Json("a\xfe"), R"("a\ufffd")");
  // Go replaces each byte that does not start a valid sequence.
  EXPECT_EQ(Json("\xe2\x82"), R"("\ufffd\ufffd")");
  EXPECT_EQ(Json("\xc0\xaf"), R"("\ufffd\ufffd")");                      // overlong '/'
  EXPECT_EQ(Json("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");            // a surrogate
  EXPECT_EQ(Json("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // past U+10FFFF
  // Valid UTF-8 passes through; U+2028/2029 are escaped (Go does).
  EXPECT_EQ(Json("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  EXPECT_EQ(Json("a\xe2\x80\xa8z\xe2\x80\xa9"), R"("a\u2028z\u2029")");
  // Control characters.
  EXPECT_EQ(Json(std::string_view("\x01\b\f\n\r\t\x1f\x7f", 8)),
            "\"\\u0001\\u0008\\u000c\\n\\r\\t\\u001f\x7f\"");
  EXPECT_EQ(Json(std::string_view("\0", 1)), R"("\u0000")");
  EXPECT_EQ(Json("<&>\"\\"), R"("\u003c\u0026\u003e\"\\")");
}

// Fuzzed names, tag keys and values, columns and string cells, in short
// and long strings and through every writer path (the cell cache, pretty,
// chunk-like single series): the answer always parses as strict JSON.
TEST(JsonUtf8, FuzzedStringsAlwaysGiveValidJson) {
  std::mt19937_64 rng(1616);
  const std::string alphabet[] = {"a",
                                  "\xff",
                                  "\xfe",
                                  "\xc3",
                                  "\xa9",
                                  "\xe2\x80",
                                  "\xe2\x80\xa8",
                                  "\xf0\x9f",
                                  "\xf0\x9f\x98\x80",
                                  "\"",
                                  "\\",
                                  "\n",
                                  std::string(1, '\0'),
                                  "\x1f",
                                  "<",
                                  "\xed\xa0\x80",
                                  "\xc3\xa9",
                                  "\x80",
                                  "\xbf",
                                  "z"};
  auto fuzz = [&](size_t max_len) {
    std::string s;
    const size_t n = rng() % (max_len + 1);
    for (size_t k = 0; k < n; k++) {
      if (rng() % 3 == 0) {
        s.push_back(static_cast<char>(rng() & 0xFF));
      } else {
        s += alphabet[rng() % std::size(alphabet)];
      }
    }
    return s;
  };
  for (int iter = 0; iter < 2000; iter++) {
    StatementResult r;
    ResultSeries rs;
    rs.name = fuzz(12);
    rs.tags = {{fuzz(6), fuzz(20)}, {fuzz(6), fuzz(300)}};
    rs.columns = {"time", fuzz(10), fuzz(10)};
    rs.time_first = true;
    for (int row = 0; row < 4; row++) {
      rs.values.push_back({Value(int64_t{row}), Value(fuzz(row == 3 ? 400 : 14)), Value(fuzz(8))});
    }
    r.series.push_back(rs);
    r.messages.push_back(fuzz(10));
    std::vector<StatementResult> results{r};
    for (bool pretty : {false, true}) {
      for (const char* epoch : {"", "ns"}) {
        const std::string json = ToInfluxJson(results, {.epoch = epoch, .pretty = pretty});
        ASSERT_TRUE(JsonChecker(json).Valid()) << json;
      }
    }
    StatementResult err;
    err.error = fuzz(30);
    ASSERT_TRUE(JsonChecker(ToInfluxJson({err}, {})).Valid());
    ASSERT_TRUE(JsonChecker(ErrorJson(fuzz(30))).Valid());
  }
}

}  // namespace
}  // namespace m2mdb::query
