#include "server/mqtt/subscriber.h"

#include <gtest/gtest.h>

namespace m2mdb::server::mqtt {
namespace {

TEST(SubscribeUrl, FilterAfterThePortIsTakenLiterally) {
  auto u = ParseSubscribeUrl("mqtt://broker.example:1883/plant/+/#");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->host, "broker.example");
  EXPECT_EQ(u->port, 1883);
  EXPECT_EQ(u->filter, "plant/+/#");
  EXPECT_TRUE(u->username.empty());
}

TEST(SubscribeUrl, HashIsNotAFragmentAndQuestionMarkIsNotAQuery) {
  auto u = ParseSubscribeUrl("mqtt://h:1/#");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->filter, "#");
  u = ParseSubscribeUrl("mqtt://h:1/a?b/c");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->filter, "a?b/c");
}

TEST(SubscribeUrl, CredentialsArePercentDecoded) {
  auto u = ParseSubscribeUrl("mqtts://dev%40site:p%2Fa%3Ass@[::1]:8884/t/#");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->username, "dev@site");
  EXPECT_TRUE(u->has_password);
  EXPECT_EQ(u->password, "p/a:ss");
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 8884);
  EXPECT_EQ(u->filter, "t/#");
}

TEST(SubscribeUrl, PortDefaultsBySchemeAndPasswordIsOptional) {
  auto u = ParseSubscribeUrl("mqtts://alice@h/x");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->port, 8883);
  EXPECT_EQ(u->username, "alice");
  EXPECT_FALSE(u->has_password);
  u = ParseSubscribeUrl("mqtt://h/x");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->port, 1883);
}

TEST(SubscribeUrl, BadUrlsAreRejectedWithTheReason) {
  for (const char* bad : {"http://h:1/x", "mqtt://h:1", "mqtt://h:1/", "mqtt://:1/x", "mqtt://h:0/x",
                          "mqtt://h:65536/x", "mqtt://h:12a/x", "mqtt://h:/x", "mqtt://h:1/a/#/b",
                          "mqtt://h:1/a+/b", "mqtt://u:p%zz@h:1/x", "mqtt://[::1:1/x", "mqtt://@h:1/x", ""}) {
    auto u = ParseSubscribeUrl(bad);
    EXPECT_FALSE(u.ok()) << bad;
    if (!u.ok()) {
      EXPECT_NE(std::string(u.status().message()).find("bad MQTT URL"), std::string::npos) << bad;
    }
  }
}

TEST(SubscribeUrl, DefaultClientIdIsStablePerDataDirectory) {
  const std::string a = DefaultClientId("/tmp/m2mdb-a");
  EXPECT_EQ(a, DefaultClientId("/tmp/m2mdb-a"));
  EXPECT_NE(a, DefaultClientId("/tmp/m2mdb-b"));
  EXPECT_EQ(a.rfind("m2mdb-", 0), 0u);
}

}  // namespace
}  // namespace m2mdb::server::mqtt
