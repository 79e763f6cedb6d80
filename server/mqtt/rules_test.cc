#include "server/mqtt/rules.h"

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "server/mqtt/ingest.h"
#include "tests/support/test_util.h"

namespace m2mdb::server::mqtt {
namespace {

Rules MustParse(std::string_view text) {
  auto r = Rules::Parse(text);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? std::move(*r) : Rules();
}

TEST(MqttRules, ParseErrorsNameTheLine) {
  for (const char* bad :
       {"a/b colour=red", "a/+site db=+device", "a/#/b db=x", "a/b format=json",
        "a/b format=xml measurement=m", "a/b tag.u=%password", "a/b precision=m", "a/b+ db=x"}) {
    auto r = Rules::Parse(std::string("# comment\n\n") + bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("line 3"), absl::string_view::npos) << r.status();
    }
  }
}

TEST(MqttRules, JsonWithNamedWildcardsIdentityAndTime) {
  Rules rules = MustParse(
      "sensors/+site/+device/#  db=plant measurement=+device format=json precision=s "
      "tag.site=+site tag.user=%username\n");
  MappedMessage m;
  std::string why;
  ASSERT_EQ(rules.Map("sensors/berlin/pump1/x",
                      R"({"temp":20.5,"a":{"b":true},"s":"hi","n":null,"time":1700000000})",
                      {.username = "alice", .client_id = "c1"}, &m, &why),
            0)
      << why;
  EXPECT_EQ(m.database, "plant");
  EXPECT_EQ(m.body, "pump1,site=berlin,user=alice a.b=true,s=\"hi\",temp=20.5 1700000000000000000\n");
  EXPECT_EQ(m.precision, "ns");
  EXPECT_EQ(rules.Map("sensors/berlin/pump1", "[1,2]", {.username = "alice", .client_id = "c1"}, &m, &why),
            0x99);
  EXPECT_EQ(
      rules.Map("sensors/berlin/pump1", "{\"time\":1}", {.username = "alice", .client_id = "c1"}, &m, &why),
      0x99);
  EXPECT_EQ(rules.Map("sensors/berlin/pump1", "{\"v\":1,\"time\":1e300}",
                      {.username = "alice", .client_id = "c1"}, &m, &why),
            0x99);
}

TEST(MqttRules, IdentityTagsOverridePayloadTags) {
  Rules rules = MustParse("dev/+d tag.device=%client_id\n");
  MappedMessage m;
  std::string why;
  ASSERT_EQ(rules.Map("dev/x", "m,device=other,x=1 v=1 5\n\n# c\nm v=2\nnokey",
                      {.username = "", .client_id = "c1"}, &m, &why),
            0)
      << why;
  EXPECT_EQ(m.database, "dev");
  EXPECT_EQ(m.body, "m,x=1,device=c1 v=1 5\n\n\nm,device=c1 v=2\n\n");
}

TEST(MqttRules, MissingUsernameIsNotAuthorized) {
  Rules rules = MustParse("t/+d tag.user=%username\n");
  MappedMessage m;
  std::string why;
  EXPECT_EQ(rules.Map("t/x", "m v=1", {.username = "", .client_id = "c"}, &m, &why), 0x87);
}

TEST(MqttRules, LineBreaksInNamesCannotInjectPoints) {
  // A client id, user name (free with a token), topic level or JSON key
  // holding a line break became a second line-protocol line: a device
  // could write a point under another device's identity tag.
  MappedMessage m;
  std::string why;
  Rules lp = MustParse("dev/+d tag.device=%client_id\n");
  EXPECT_EQ(lp.Map("dev/x", "m v=1 5", {.username = "", .client_id = "c1 v=1 1\nm,device=c2"}, &m, &why),
            0x99);
  EXPECT_EQ(lp.Map("dev/x", "m v=1 5", {.username = "", .client_id = "c1\r"}, &m, &why), 0x99);
  Rules json = MustParse("j/+d measurement=+d format=json tag.user=%username\n");
  EXPECT_EQ(json.Map("j/pump\nm,user=bob v=1 1\nx", R"({"v":1})", {.username = "alice", .client_id = "c"}, &m,
                     &why),
            0x99);
  EXPECT_EQ(json.Map("j/pump", "{\"v\\nm,user=bob w\":1}", {.username = "alice", .client_id = "c"}, &m, &why),
            0x99);
  ASSERT_EQ(json.Map("j/pump", "{\"s\":\"a\\nb\"}", {.username = "alice", .client_id = "c"}, &m, &why), 0)
      << why;  // a line break in a string value is fine: it is quoted
  EXPECT_EQ(m.body, "pump,user=alice s=\"a\nb\"\n");
  Rules value = MustParse("v/+d measurement=m format=value field=v tag.d=+d\n");
  EXPECT_EQ(value.Map("v/a\nm,d=b", "1", {.username = "", .client_id = "c"}, &m, &why), 0x99);
}

TEST(MqttRules, SingleValuePayloads) {
  Rules rules = MustParse("meter/+id db=energy measurement=power field=watts format=value tag.meter=+id\n");
  MappedMessage m;
  std::string why;
  ASSERT_EQ(rules.Map("meter/m7", " 42.5\n", {}, &m, &why), 0) << why;
  EXPECT_EQ(m.body, "power,meter=m7 watts=42.5\n");
  ASSERT_EQ(rules.Map("meter/m7", "true", {}, &m, &why), 0);
  EXPECT_EQ(m.body, "power,meter=m7 watts=true\n");
  ASSERT_EQ(rules.Map("meter/m 8", "on \"x\"", {}, &m, &why), 0);
  EXPECT_EQ(m.body, "power,meter=m\\ 8 watts=\"on \\\"x\\\"\"\n");
  EXPECT_EQ(rules.Map("meter/m7", "  ", {}, &m, &why), 0x99);
}

TEST(MqttRules, UnmatchedTopicsTakeTheDefaultMapping) {
  Rules rules = MustParse("a/b db=x\n");
  MappedMessage m;
  std::string why;
  ASSERT_EQ(rules.Map("t/a/b", "m v=1", {}, &m, &why), 0);
  EXPECT_EQ(m.database, "t");
  EXPECT_EQ(m.body, "m v=1");
  EXPECT_EQ(rules.Map("/x", "m v=1", {}, &m, &why), 0x90);
  // '#' matches zero or more levels; literal levels must match exactly.
  Rules hash = MustParse("a/# db=h\n");
  ASSERT_EQ(hash.Map("a", "m v=1", {}, &m, &why), 0);
  EXPECT_EQ(m.database, "h");
  ASSERT_EQ(hash.Map("ab", "m v=1", {}, &m, &why), 0);
  EXPECT_EQ(m.database, "ab");
}

TEST(MqttRules, RewriteKeepsEscapesAndTheRestOfTheLine) {
  std::string out;
  ASSERT_TRUE(
      RewriteLineProtocolLine("my\\ m,a\\,b=1\\ 2,host=h v=\"x y\",w=1i 7", "", {{"host", "dev 1"}}, &out));
  EXPECT_EQ(out, "my\\ m,a\\,b=1\\ 2,host=dev\\ 1 v=\"x y\",w=1i 7");
  out.clear();
  EXPECT_FALSE(RewriteLineProtocolLine("nofields", "", {}, &out));
}

// The listener and the subscriber write through one DeadLetterWriter:
// concurrent records stay whole lines, and rotation keeps at most two files
// of about max_bytes.
TEST(MqttDeadLetters, ConcurrentWritersKeepRecordsWholeAcrossRotation) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/dead.jsonl";
  DeadLetterWriter w(path, 4096);
  const std::vector<int> lines = {2, 7};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; i++) {
        DeadLetterWriter::Record r;
        r.time_ns = -9223372036854775806;
        r.client_id = t % 2 ? "sub \"q\"" : "dev\xE2\x98\x83";
        r.topic = "t/x";
        r.qos = 1;
        r.reason_code = t % 2 ? 0 : 153;
        r.reason = "bad\nline";
        r.rejected_lines = t % 2 ? &lines : nullptr;
        const std::string payload(i % 50, 'p');  // outlives r (a view)
        r.payload = payload;
        w.Write(r);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const std::string& f : {path, path + ".1"}) {
    std::ifstream in(f);
    ASSERT_TRUE(in.good()) << f;
    std::string line;
    size_t bytes = 0, n = 0;
    while (std::getline(in, line)) {
      bytes += line.size() + 1;
      n++;
      ASSERT_EQ(line.rfind("{\"time\":-9223372036854775806,\"client_id\":", 0), 0u) << line;
      ASSERT_EQ(line.back(), '}') << line;
      EXPECT_NE(line.find("\"reason\":\"bad\\nline\""), std::string::npos) << line;
    }
    EXPECT_GT(n, 0u);
    EXPECT_LE(bytes, 4096u);
  }
}

}  // namespace
}  // namespace m2mdb::server::mqtt
