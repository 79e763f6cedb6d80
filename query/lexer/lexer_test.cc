// query/lexer/lexer_test.cc — token-level behaviour of the InfluxQL lexer.
#include "query/lexer/lexer.h"

#include <cctype>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace m2mdb::query {
namespace {

// Non-whitespace tokens of `text` as "TYPE:lit" strings.
std::vector<std::string> Tokens(std::string_view text) {
  Lexer lex(text);
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    Token t = lex.Scan(pos);
    if (t.type == TokenType::kEof) break;
    if (t.type != TokenType::kWs && t.type != TokenType::kComment) {
      out.push_back(std::string(TokenName(t.type)) + (t.lit.empty() ? "" : ":" + std::string(t.lit)));
    }
    if (t.end <= pos) break;  // never loop forever on a bug
    pos = t.end;
  }
  return out;
}

using V = std::vector<std::string>;

struct LexCase {
  const char* text;
  V tokens;
};

TEST(Lexer, ScansEveryTokenKind) {
  const LexCase cases[] = {
      {"SELECT select SeLeCt", {"SELECT", "SELECT", "SELECT"}},
      {"foo _bar b4z", {"IDENT:foo", "IDENT:_bar", "IDENT:b4z"}},
      {"\"quoted ident\"", {"IDENT:quoted ident"}},
      {"\"a\\\"b\"", {"IDENT:a\"b"}},
      {"'str'", {"STRING:str"}},
      {"'it\\'s'", {"STRING:it's"}},
      {"'a\\nb'", {"STRING:a\nb"}},
      {"'a\\\\b'", {"STRING:a\\b"}},
      {"'bad\\q", {"BADESCAPE:\\q"}},
      {"'unterminated", {"BADSTRING:unterminated"}},
      {"123", {"INTEGER:123"}},
      {"1.5", {"NUMBER:1.5"}},
      {".5", {"NUMBER:.5"}},
      {"1.", {"NUMBER:1"}},
      {"1.5e3", {"NUMBER:1.5", "IDENT:e3"}},
      {"10s 5m 1h 1d 1w 100ms 10u 5ns",
       {"DURATIONVAL:10s", "DURATIONVAL:5m", "DURATIONVAL:1h", "DURATIONVAL:1d", "DURATIONVAL:1w",
        "DURATIONVAL:100ms", "DURATIONVAL:10u", "DURATIONVAL:5ns"}},
      {"10\xC2\xB5", {"DURATIONVAL:10\xC2\xB5"}},
      {"1h30m", {"DURATIONVAL:1h30m"}},
      {"true FALSE", {"TRUE", "FALSE"}},
      {"+ - * / % & | ^", {"+", "-", "*", "/", "%", "&", "|", "^"}},
      {"= != <> =~ !~ < <= > >=", {"=", "!=", "!=", "=~", "!~", "<", "<=", ">", ">="}},
      {"AND or In", {"AND", "OR", "IN"}},
      {"( ) , ; . : ::", {"(", ")", ",", ";", ".", ":", "::"}},
      {"$param $\"q p\"", {"BOUNDPARAM:$param", "BOUNDPARAM:$q p"}},
      {"a -- comment\nb", {"IDENT:a", "IDENT:b"}},
      {"a /* block */ b", {"IDENT:a", "IDENT:b"}},
      {"a /* open", {"IDENT:a", "ILLEGAL"}},
      {"!", {"ILLEGAL:!"}},
      {"#", {"ILLEGAL:#"}},
      {"\xC3\xA9", {"ILLEGAL:\xC3\xA9"}},
      {"db.rp.m", {"IDENT:db", ".", "IDENT:rp", ".", "IDENT:m"}},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Tokens(c.text), c.tokens) << c.text;
  }
}

TEST(Lexer, RegexIsScannedOnlyOnRequest) {
  Lexer lex("/a\\/b\\d/ rest");
  Token t = lex.ScanRegex(0);
  EXPECT_EQ(t.type, TokenType::kRegex);
  EXPECT_EQ(t.lit, "a/b\\d");
  EXPECT_EQ(t.end, 8u);
  EXPECT_EQ(lex.Scan(0).type, TokenType::kDiv);
}

TEST(Lexer, UnterminatedRegexIsBad) {
  Lexer lex("/abc");
  EXPECT_EQ(lex.ScanRegex(0).type, TokenType::kBadRegex);
  Lexer nl("/ab\nc/");
  EXPECT_EQ(nl.ScanRegex(0).type, TokenType::kBadRegex);
}

TEST(Lexer, StringPositionIsTheRuneBeforeTheQuote) {
  // InfluxDB reports strings one character early; error texts depend on it.
  Lexer lex("a = 'x'");
  Token t = lex.Scan(4);
  EXPECT_EQ(t.type, TokenType::kString);
  EXPECT_EQ(t.pos_offset, 3u);
  Lexer start("'x'");
  EXPECT_EQ(start.Scan(0).pos_offset, 0u);
}

TEST(Lexer, LineAndCharCountRunesAndNewlines) {
  Lexer lex("ab\n\xC3\xA9x\r\ny");
  int line = 0, ch = 0;
  lex.LineChar(0, &line, &ch);
  EXPECT_EQ(line, 1);
  EXPECT_EQ(ch, 1);
  lex.LineChar(5, &line, &ch);  // 'x' after a two-byte rune
  EXPECT_EQ(line, 2);
  EXPECT_EQ(ch, 2);
  lex.LineChar(8, &line, &ch);  // 'y' after \r\n
  EXPECT_EQ(line, 3);
  EXPECT_EQ(ch, 1);
}

TEST(Lexer, KeywordLookupIsCaseInsensitive) {
  EXPECT_EQ(LookupKeyword("measurements"), TokenType::kMeasurements);
  EXPECT_EQ(LookupKeyword("Soffset"), TokenType::kSoffset);
  EXPECT_EQ(LookupKeyword("value"), TokenType::kIdent);
  EXPECT_TRUE(IsKeyword("and"));
  EXPECT_FALSE(IsKeyword("time"));
}

// Every keyword's own name (upper or lower case) finds that keyword.
TEST(Lexer, EveryKeywordIsFound) {
  int found = 0;
  for (int i = 0; i < 256; i++) {
    const auto t = static_cast<TokenType>(i);
    const std::string name(TokenName(t));
    if (name.empty() || LookupKeyword(name) == TokenType::kIdent) continue;
    EXPECT_EQ(LookupKeyword(name), t) << name;
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_EQ(LookupKeyword(lower), t) << lower;
    found++;
  }
  EXPECT_GT(found, 60);
  EXPECT_EQ(LookupKeyword("selectx"), TokenType::kIdent);
  EXPECT_EQ(LookupKeyword("a"), TokenType::kIdent);
  EXPECT_EQ(LookupKeyword("zzzzzzzzzzzzz"), TokenType::kIdent);
  EXPECT_EQ(LookupKeyword(""), TokenType::kIdent);
}

// The bucketed lookup against a plain scan of every keyword, over words
// near the keywords: other cases, one byte changed, cut, extended, and
// bytes that upper-case onto letters only by a careless bit trick.
TEST(Lexer, KeywordLookupMatchesAPlainScan) {
  std::vector<std::pair<std::string, TokenType>> keywords;
  for (int i = 0; i < 256; i++) {
    const auto t = static_cast<TokenType>(i);
    const std::string name(TokenName(t));
    if (!name.empty() && std::isalpha(static_cast<unsigned char>(name[0])) && name != "EOF" && name != "WS" &&
        name != "COMMENT" && name != "IDENT" && name != "BOUNDPARAM" && name != "NUMBER" &&
        name != "INTEGER" && name != "DURATIONVAL" && name != "STRING" && name != "BADSTRING" &&
        name != "BADESCAPE" && name != "REGEX" && name != "BADREGEX" && name != "ILLEGAL") {
      keywords.emplace_back(name, t);
    }
  }
  auto reference = [&](std::string_view w) {
    std::string upper(w);
    for (char& c : upper) {
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    for (const auto& [name, t] : keywords) {
      if (name == upper) return t;
    }
    return TokenType::kIdent;
  };
  std::vector<std::string> words = {"", "a", "_", "x1", "time", "value", "selectt", "selec"};
  for (const auto& [name, t] : keywords) {
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    words.push_back(name);
    words.push_back(lower);
    words.push_back(name + "S");
    words.push_back(name.substr(0, name.size() - 1));
    for (size_t i = 0; i < name.size(); i++) {
      for (char c : {'_', '0', '@', '[', '{', '`', '\x7f', '\xc1', '\xe1', 'Q'}) {
        std::string w = name;
        w[i] = c;
        words.push_back(w);
      }
      std::string mixed = name;
      mixed[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(mixed[i])));
      words.push_back(mixed);
    }
  }
  for (const std::string& w : words) EXPECT_EQ(LookupKeyword(w), reference(w)) << w;
}

// A literal is a view: of the text when it is written out in full, of the
// lexer's own storage when unescaping changed it; either stays valid while
// the lexer lives, however many tokens are scanned after it.
TEST(Lexer, LiteralsStayValidAfterLaterScans) {
  const std::string text = "'a\\'b' \"c\\\"d\" 'plain' $x $\"q\\\"r\" /e\\/f/";
  Lexer lex(text);
  std::vector<Token> tokens;
  size_t pos = 0;
  while (true) {
    if (text[pos] == '/') {
      tokens.push_back(lex.ScanRegex(pos));
    } else {
      tokens.push_back(lex.Scan(pos));
    }
    if (tokens.back().type == TokenType::kEof) break;
    pos = tokens.back().end;
  }
  for (int i = 0; i < 100; i++) lex.Scan(0);  // more escaped literals kept
  std::vector<std::string> lits;
  for (const Token& t : tokens) {
    if (t.type != TokenType::kWs) lits.push_back(std::string(TokenName(t.type)) + ":" + std::string(t.lit));
  }
  EXPECT_EQ(lits, (std::vector<std::string>{"STRING:a'b", "IDENT:c\"d", "STRING:plain", "BOUNDPARAM:$x",
                                            "BOUNDPARAM:$q\"r", "REGEX:e/f", "EOF:"}));
  // Unescaped literals point into the text itself.
  EXPECT_EQ(tokens[4].lit.data(), text.data() + text.find("plain"));
  EXPECT_EQ(tokens[6].lit.data(), text.data() + text.find("$x"));
}

struct DurationCase {
  const char* text;
  bool ok;
  int64_t ns;
  const char* err;
};

TEST(Lexer, ParsesDurations) {
  const DurationCase cases[] = {
      {"1ns", true, 1, ""},
      {"10u", true, 10'000, ""},
      {"10\xC2\xB5", true, 10'000, ""},
      {"100ms", true, 100'000'000, ""},
      {"10s", true, 10'000'000'000, ""},
      {"5m", true, 300'000'000'000, ""},
      {"1h", true, 3'600'000'000'000, ""},
      {"1d", true, 86'400'000'000'000, ""},
      {"1w", true, 604'800'000'000'000, ""},
      {"1h30m", true, 5'400'000'000'000, ""},
      {"-5m", true, -300'000'000'000, ""},
      {"1", false, 0, "invalid duration"},
      {"1x", false, 0, "invalid duration"},
      {"1n", false, 0, "invalid duration"},
      {"1y", false, 0, "invalid duration"},
      {"h", false, 0, "invalid duration"},
      {"99999999999999999h", false, 0,
       "overflowed duration 99999999999999999h: choose a smaller duration or INF"},
  };
  for (const auto& c : cases) {
    int64_t ns = 0;
    std::string err;
    bool ok = ParseDurationLiteral(c.text, &ns, &err);
    EXPECT_EQ(ok, c.ok) << c.text;
    if (ok) {
      EXPECT_EQ(ns, c.ns) << c.text;
    } else {
      EXPECT_EQ(err, c.err) << c.text;
    }
  }
}

}  // namespace
}  // namespace m2mdb::query
