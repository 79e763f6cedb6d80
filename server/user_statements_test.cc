// The user statements' parser: every form, quoting, and hostile input
// answered with a parse error rather than anything worse.
#include "server/user_statements.h"

#include <string>

#include <gtest/gtest.h>

namespace m2mdb::server {
namespace {

using K = UserStatement::Kind;

TEST(UserStatementsTest, RecognisesOnlyUserStatements) {
  EXPECT_TRUE(IsUserQuery("create user a with password 'x'"));
  EXPECT_TRUE(IsUserQuery("  SHOW GRANTS FOR a"));
  EXPECT_TRUE(IsUserQuery("GRANT READ ON d TO a"));
  EXPECT_TRUE(IsUserQuery("SET PASSWORD FOR a = 'x'"));
  EXPECT_FALSE(IsUserQuery("SHOW DATABASES"));
  EXPECT_FALSE(IsUserQuery("CREATE DATABASE users"));
  EXPECT_FALSE(IsUserQuery("DROP MEASUREMENT users"));
  EXPECT_FALSE(IsUserQuery("SELECT * FROM users"));
  EXPECT_FALSE(IsUserQuery(""));
}

TEST(UserStatementsTest, ParsesEveryForm) {
  auto s = ParseUserStatements(
      "CREATE USER \"we\\\"ird\" WITH PASSWORD 'p\\'w' WITH ALL PRIVILEGES; DROP USER a; "
      "SET PASSWORD FOR a = 'x'; GRANT READ ON d TO a; GRANT ALL PRIVILEGES ON d TO a; GRANT ALL TO a; "
      "REVOKE WRITE ON d FROM a; REVOKE ALL PRIVILEGES FROM a; SHOW USERS; SHOW GRANTS FOR a;");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->size(), 10u);
  EXPECT_EQ((*s)[0].kind, K::kCreateUser);
  EXPECT_EQ((*s)[0].user, "we\"ird");
  EXPECT_EQ((*s)[0].password, "p'w");
  EXPECT_TRUE((*s)[0].admin);
  EXPECT_EQ((*s)[1].kind, K::kDropUser);
  EXPECT_EQ((*s)[2].kind, K::kSetPassword);
  EXPECT_EQ((*s)[3].kind, K::kGrant);
  EXPECT_EQ((*s)[3].privilege, Privilege::kRead);
  EXPECT_EQ((*s)[3].database, "d");
  EXPECT_EQ((*s)[4].privilege, Privilege::kAll);
  EXPECT_EQ((*s)[5].kind, K::kGrantAdmin);
  EXPECT_EQ((*s)[6].kind, K::kRevoke);
  EXPECT_EQ((*s)[7].kind, K::kRevokeAdmin);
  EXPECT_EQ((*s)[8].kind, K::kShowUsers);
  EXPECT_EQ((*s)[9].kind, K::kShowGrants);
}

TEST(UserStatementsTest, BadInputIsAParseError) {
  for (const char* q :
       {"CREATE USER a WITH PASSWORD", "CREATE USER a WITH PASSWORD 'x", "CREATE USER 'a'", "DROP USER",
        "GRANT READ TO a", "GRANT READ ON d", "REVOKE READ ON d TO a", "SET PASSWORD FOR a 'x'",
        "SHOW GRANTS a", "SHOW USERS extra", "GRANT NOTHING ON d TO a", "CREATE USER \"a", "SHOW USERS; DROP",
        "CREATE USER a WITH PASSWORD 'x' WITH ALL"}) {
    auto s = ParseUserStatements(q);
    ASSERT_FALSE(s.ok()) << q;
    EXPECT_EQ(std::string(s.status().message()).rfind("error parsing query: ", 0), 0u) << s.status();
  }
  // Every byte value, including NUL, is only text.
  std::string all;
  for (int c = 0; c < 256; c++) all.push_back(static_cast<char>(c));
  EXPECT_FALSE(ParseUserStatements("CREATE USER " + all).ok());
  auto s = ParseUserStatements("CREATE USER a WITH PASSWORD '" + std::string(1 << 20, 'x') + "'");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)[0].password.size(), size_t{1} << 20);
}

TEST(UserStatementsTest, EscapesAreInfluxds) {
  // \n is a line break in a name or password, as in influxd (it was the
  // letter n, so a password set through influxd's syntax differed).
  auto s = ParseUserStatements("CREATE USER \"a\\nb\" WITH PASSWORD 'p\\nq\\\\'");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)[0].user, "a\nb");
  EXPECT_EQ((*s)[0].password, "p\nq\\");
  // Any other escape, and a raw line break inside quotes, are influxd's
  // parse errors.
  s = ParseUserStatements("CREATE USER \"a\\qb\" WITH PASSWORD 'x'");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "error parsing query: found \\q, expected identifier at line 1, char 16");
  s = ParseUserStatements("CREATE USER u2 WITH PASSWORD 'x\\qy'");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "error parsing query: found \\q, expected string at line 1, char 33");
  s = ParseUserStatements("CREATE USER \"a\nb\" WITH PASSWORD 'x'");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "error parsing query: found a, expected identifier at line 1, char 12");
  s = ParseUserStatements("CREATE USER u4 WITH PASSWORD 'x\ny'");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "error parsing query: found x, expected string at line 1, char 29");
}

}  // namespace
}  // namespace m2mdb::server
