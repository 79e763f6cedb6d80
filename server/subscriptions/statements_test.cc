// The subscription statements' grammar and influxd 1.6.7's error wording
// (each expected message was taken from influxd 1.6.7's answer).
#include "server/subscriptions/statements.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace m2mdb::server {
namespace {

using K = SubscriptionStatement::Kind;

TEST(SubscriptionStatements, CreateShowDropParse) {
  auto s = ParseSubscriptionStatements(
      "CREATE SUBSCRIPTION s ON d.autogen DESTINATIONS ANY 'http://a:1', 'https://u:p@b:2';"
      " show subscriptions; DROP SUBSCRIPTION \"s x\" ON d");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->size(), 3u);
  EXPECT_EQ((*s)[0].kind, K::kCreate);
  EXPECT_EQ((*s)[0].name, "s");
  EXPECT_EQ((*s)[0].database, "d");
  EXPECT_EQ((*s)[0].retention_policy, "autogen");
  EXPECT_TRUE((*s)[0].any);
  EXPECT_EQ((*s)[0].destinations, (std::vector<std::string>{"http://a:1", "https://u:p@b:2"}));
  EXPECT_EQ((*s)[0].limits.max_bytes, 1ull << 30);  // the defaults
  EXPECT_EQ((*s)[0].limits.max_age_seconds, 7 * 86400);
  EXPECT_FALSE((*s)[0].limits.refuse_writes);
  EXPECT_EQ((*s)[1].kind, K::kShow);
  EXPECT_EQ((*s)[2].kind, K::kDrop);
  EXPECT_EQ((*s)[2].name, "s x");
  EXPECT_EQ((*s)[2].retention_policy, "");
}

TEST(SubscriptionStatements, DestinationsAreBounded) {
  // One thread and one copy of the definition per destination: 40 000 of
  // them took more than 6 GB. 64 are enough for any fan-out.
  auto create = [](int n) {
    std::string q = "CREATE SUBSCRIPTION s ON db DESTINATIONS ALL ";
    for (int i = 0; i < n; i++) absl::StrAppend(&q, i ? ", " : "", "'http://127.0.0.1:", 1000 + i, "'");
    return ParseSubscriptionStatements(q);
  };
  auto ok = create(64);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)[0].destinations.size(), 64u);
  auto bad = create(65);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "error parsing query: a subscription has at most 64 destinations");
}

TEST(SubscriptionStatements, BacklogAndWhenFullClauses) {
  auto s = ParseSubscriptionStatements(
      "CREATE SUBSCRIPTION s ON d DESTINATIONS ALL 'http://a:1' BACKLOG 512MiB 12h WHEN FULL REFUSE WRITES");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)[0].limits.max_bytes, 512ull << 20);
  EXPECT_EQ((*s)[0].limits.max_age_seconds, 12 * 3600);
  EXPECT_TRUE((*s)[0].limits.refuse_writes);
  s = ParseSubscriptionStatements(
      "CREATE SUBSCRIPTION s ON d DESTINATIONS ALL 'http://a:1' BACKLOG 4096 WHEN "
      "FULL DROP OLDEST");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)[0].limits.max_bytes, 4096u);
  for (const char* bad : {"BACKLOG 0", "BACKLOG 5XB", "BACKLOG 99999999999999999999", "BACKLOG 16777216T",
                          "BACKLOG 1G 3y", "WHEN FULL PANIC", "BACKLOG"}) {
    auto r = ParseSubscriptionStatements(
        std::string("CREATE SUBSCRIPTION s ON d DESTINATIONS ALL 'http://a:1' ") + bad);
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << bad;
  }
}

TEST(SubscriptionStatements, VerifyEveryClause) {
  auto s = ParseSubscriptionStatements(
      "CREATE SUBSCRIPTION s ON d DESTINATIONS ALL 'http://a:1' BACKLOG 1G WHEN FULL REFUSE WRITES "
      "verify every 30m window 2d resend");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)[0].verify.every_seconds, 1800);
  EXPECT_EQ((*s)[0].verify.window_seconds, 2 * 86400);
  EXPECT_TRUE((*s)[0].verify.resend);
  EXPECT_TRUE((*s)[0].limits.refuse_writes);
  EXPECT_EQ(FormatVerifySchedule((*s)[0].verify), "EVERY 30m WINDOW 2d RESEND");
  s = ParseSubscriptionStatements(
      "CREATE SUBSCRIPTION s ON d DESTINATIONS ALL 'http://a:1' VERIFY EVERY 90s");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)[0].verify.every_seconds, 90);
  EXPECT_EQ((*s)[0].verify.window_seconds, 86400);  // the default
  EXPECT_FALSE((*s)[0].verify.resend);
  // What SHOW prints parses back to the same schedule.
  auto again =
      ParseSubscriptionStatements("CREATE SUBSCRIPTION s ON d DESTINATIONS ALL 'http://a:1' VERIFY " +
                                  FormatVerifySchedule((*s)[0].verify));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)[0].verify.every_seconds, 90);
  EXPECT_EQ((*again)[0].verify.window_seconds, 86400);
  EXPECT_EQ(FormatVerifySchedule({}), "");  // off
  for (const char* bad : {"VERIFY", "VERIFY 1h", "VERIFY EVERY", "VERIFY EVERY 0s",
                          "VERIFY EVERY 1h WINDOW 30m", "VERIFY EVERY 1h WINDOW", "VERIFY EVERY 1y",
                          "VERIFY EVERY 1h RESEND RESEND", "VERIFY EVERY 1h BACKLOG 1G", "VERIFY EVERY 367d",
                          "VERIFY EVERY 1h WINDOW 3661d", "VERIFY EVERY 99999999999999w"}) {
    auto r = ParseSubscriptionStatements(
        std::string("CREATE SUBSCRIPTION s ON d DESTINATIONS ALL 'http://a:1' ") + bad);
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << bad;
  }
  EXPECT_EQ(
      std::string(ParseSubscriptionStatements(
                      "CREATE SUBSCRIPTION s ON d DESTINATIONS ALL 'http://a:1' VERIFY EVERY 0s")
                      .status()
                      .message()),
      "error parsing query: found 0s, expected verify interval (1s to 366d, e.g. 1h) at line 1, char 71");
}

TEST(SubscriptionStatements, VerifySubscriptionParses) {
  EXPECT_TRUE(IsSubscriptionQuery("  verify subscription s ON d"));
  EXPECT_FALSE(IsSubscriptionQuery("VERIFY s"));
  auto s = ParseSubscriptionStatements(
      "VERIFY SUBSCRIPTION \"s\" ON d.rp DESTINATION 'http://u:xxxxx@a:1' START '2023-11-14T00:00:00Z' "
      "END '2023-11-16T00:00:00Z' RESEND");
  ASSERT_TRUE(s.ok()) << s.status();
  const SubscriptionStatement& v = (*s)[0];
  EXPECT_EQ(v.kind, K::kVerify);
  EXPECT_EQ(v.name, "s");
  EXPECT_EQ(v.database, "d");
  EXPECT_EQ(v.retention_policy, "rp");
  EXPECT_EQ(v.destination, "http://u:xxxxx@a:1");
  EXPECT_EQ(v.start_ns, 1699920000LL * 1000000000LL);
  EXPECT_EQ(v.end_ns, 1700092800LL * 1000000000LL);
  EXPECT_TRUE(v.resend);
  s = ParseSubscriptionStatements("VERIFY SUBSCRIPTION s ON d");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)[0].start_ns, 0);
  EXPECT_EQ((*s)[0].end_ns, 0);
  EXPECT_FALSE((*s)[0].resend);
  EXPECT_EQ((*s)[0].destination, "");
  for (const char* bad :
       {"VERIFY SUBSCRIPTION s", "VERIFY SUBSCRIPTION s ON d START 'yesterday'",
        "VERIFY SUBSCRIPTION s ON d START 5",
        "VERIFY SUBSCRIPTION s ON d START '2023-11-16T00:00:00Z' END '2023-11-14T00:00:00Z'",
        "VERIFY SUBSCRIPTION s ON d END '2023-11-16T00:00:00Z' START '2023-11-14T00:00:00Z'",
        "VERIFY SUBSCRIPTION s ON d DESTINATION", "VERIFY SUBSCRIPTIONS"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ParseSubscriptionStatements(bad).status())) << bad;
  }
}

TEST(SubscriptionStatements, ErrorsAreInfluxdsWordForWord) {
  auto err = [](const char* q) { return std::string(ParseSubscriptionStatements(q).status().message()); };
  EXPECT_EQ(err("CREATE SUBSCRIPTION s3 ON d.autogen DESTINATIONS SOME 'http://a:1'"),
            "error parsing query: found SOME, expected ALL, ANY at line 1, char 50");
  EXPECT_EQ(err("CREATE SUBSCRIPTION s5 ON d.autogen DESTINATIONS ALL"),
            "error parsing query: found EOF, expected string at line 1, char 54");
  EXPECT_EQ(err("CREATE SUBSCRIPTION s ON d DESTINATIONS ALL 'http://a:1"),
            "error parsing query: found unterminated string at line 1, char 45");
}

TEST(SubscriptionStatements, IsSubscriptionQueryLooksAtTheFirstTwoWords) {
  EXPECT_TRUE(IsSubscriptionQuery("  show Subscriptions"));
  EXPECT_TRUE(IsSubscriptionQuery("drop subscription s on d"));
  EXPECT_TRUE(IsSubscriptionQuery("CREATE SUBSCRIPTION"));
  EXPECT_FALSE(IsSubscriptionQuery("SHOW DATABASES"));
  EXPECT_FALSE(IsSubscriptionQuery("CREATE DATABASE subscription"));
  EXPECT_FALSE(IsSubscriptionQuery(""));
  EXPECT_FALSE(IsSubscriptionQuery("'unterminated"));
}

TEST(SubscriptionStatements, DestinationsAreCheckedAndMasked) {
  std::string base, user, password;
  ASSERT_TRUE(SplitDestination("https://u:p:q@h:8086", &base, &user, &password));
  EXPECT_EQ(base, "https://h:8086");
  EXPECT_EQ(user, "u");
  EXPECT_EQ(password, "p:q");
  EXPECT_TRUE(SplitDestination("http://[::1]:8086", &base, &user, &password));
  EXPECT_EQ(base, "http://[::1]:8086");
  EXPECT_TRUE(SplitDestination("http://[::1]", &base, &user, &password));
  EXPECT_TRUE(user.empty());
  for (const char* bad :
       {"ftp://x", "nourl", "http://", "http://h:1/write", "http://h:1?db=x", "udp://h:1", "http://:1",
        "http://a b:1", "", "http://h:99999", "http://h:0", "http://h:", "http://h:8o86", "http://[::1",
        "http://[]:1", "http://[::1]x", "http://[::1]8086", "http://h]:1", "http://[zz]:1"}) {
    EXPECT_FALSE(SplitDestination(bad, &base, &user, &password)) << bad;
  }
  EXPECT_EQ(MaskedDestination("http://u:secret@h:1"), "http://u:xxxxx@h:1");
  EXPECT_EQ(MaskedDestination("http://h:1"), "http://h:1");
}

}  // namespace
}  // namespace m2mdb::server
