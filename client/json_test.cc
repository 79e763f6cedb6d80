#include "client/json.h"

#include <string>

#include "gtest/gtest.h"

#include "m2mdb/json.h"

namespace m2mdb::client {
namespace {

TEST(Json, ParsesNestedValuesInDocumentOrder) {
  auto j = ParseJson(R"( {"b": [1, -2.5e3, true, null, "x\"\u00e9\ud83d\ude00"], "a": {}} )");
  ASSERT_TRUE(j.ok()) << j.status();
  ASSERT_EQ(j->members.size(), 2u);
  EXPECT_EQ(j->members[0].first, "b");
  EXPECT_EQ(j->members[1].first, "a");
  const Json& b = (*j)["b"];
  ASSERT_EQ(b.size(), 5u);
  EXPECT_EQ(b.at(0).text, "1");
  EXPECT_EQ(b.at(1).number(), -2500);
  EXPECT_EQ(b.at(1).text, "-2.5e3");
  EXPECT_TRUE(b.at(2).boolean);
  EXPECT_TRUE(b.at(3).is_null());
  EXPECT_EQ(b.at(4).text, "x\"\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_TRUE((*j)["a"].is_object());
  EXPECT_TRUE((*j)["missing"].is_null());
  EXPECT_TRUE(b.at(99).is_null());
}

TEST(Json, KeepsLargeIntegersExact) {
  auto j = ParseJson("[1700000000000000001, 18446744073709551615, -9223372036854775808]");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j->at(0).text, "1700000000000000001");
  EXPECT_EQ(j->at(1).text, "18446744073709551615");
  EXPECT_EQ(j->at(2).text, "-9223372036854775808");
  // A negative zero keeps its sign wherever it stands.
  for (const char* doc : {"-0", "[-0]", "[-0 ]", "[0,-0]", "{\"a\":-0}", "[-0.0]"}) {
    auto z = ParseJson(doc);
    ASSERT_TRUE(z.ok()) << doc;
    const Json& v = z->kind == Json::kNumber ? *z : z->kind == Json::kObject ? (*z)["a"] : z->items.back();
    EXPECT_EQ(v.text.substr(0, 2), "-0") << doc;
  }
  auto zero = ParseJson("[0, 10, -10]");
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->at(0).text, "0");
  EXPECT_EQ(zero->at(1).text, "10");
  EXPECT_EQ(zero->at(2).text, "-10");
}

TEST(Json, RejectsMalformedAndTooDeepDocuments) {
  EXPECT_FALSE(ParseJson("[1,").ok());
  EXPECT_FALSE(ParseJson("{\"a\" 1}").ok());
  EXPECT_FALSE(ParseJson("[1] x").ok());
  EXPECT_FALSE(ParseJson(std::string(100, '[') + std::string(100, ']')).ok());
  EXPECT_TRUE(ParseJson(std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']')).ok());
}

TEST(JsonQuote, EscapesControlsQuotesAndInvalidUtf8) {
  EXPECT_EQ(JsonQuote("a\"b\n"), "\"a\\\"b\\n\"");
  EXPECT_EQ(JsonQuote(std::string("\x01\t\\", 3)), "\"\\u0001\\t\\\\\"");
  EXPECT_EQ(JsonQuote("\xc3\xa9\xff"), "\"\xc3\xa9\\ufffd\"");
  auto back = ParseJson(JsonQuote("x\xc3y"));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->text, "x\xef\xbf\xbdy");
}

}  // namespace
}  // namespace m2mdb::client
