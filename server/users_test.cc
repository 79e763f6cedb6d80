// UserStore: persistence, influxd's errors, the last-admin rule, the
// credential cache and the failed-login limiter.
#include "server/users.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "m2mdb/db.h"
#include "tests/support/test_util.h"

namespace m2mdb::server {
namespace {

class UsersTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    store_.reset();
    db_.reset();
    Options o;
    o.data_dir = dir_.path();
    o.wal_sync = WalSyncMode::kNone;
    auto db = DB::Open(o);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    auto s = UserStore::Load(db_.get());
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  testing::TempDir dir_;
  std::unique_ptr<DB> db_;
  std::unique_ptr<UserStore> store_;
};

TEST_F(UsersTest, FirstUserMustBeAdmin) {
  Status s = store_->Create("bob", "pw", false);
  EXPECT_EQ(s.message(), "create admin user first or disable authentication");
  ASSERT_TRUE(store_->Create("root", "secret", true).ok());
  EXPECT_TRUE(store_->has_admin());
  EXPECT_TRUE(store_->Create("bob", "pw", false).ok());
}

TEST_F(UsersTest, UsersGrantsAndPasswordsSurviveReopen) {
  ASSERT_TRUE(store_->Create("root", "secret", true).ok());
  ASSERT_TRUE(store_->Create("bob", "pw", false).ok());
  ASSERT_TRUE(db_->CreateDatabase(DatabaseOptions{.name = "d1"}).ok());
  ASSERT_TRUE(store_->SetPrivilege("bob", "d1", Privilege::kRead).ok());
  Open();
  auto bob = store_->Get("bob");
  ASSERT_TRUE(bob.ok());
  EXPECT_FALSE(bob->admin);
  EXPECT_TRUE(bob->MayRead("d1"));
  EXPECT_FALSE(bob->MayWrite("d1"));
  EXPECT_TRUE(store_->Authenticate("bob", "pw").has_value());
  EXPECT_FALSE(store_->Authenticate("bob", "wrong").has_value());
  EXPECT_FALSE(store_->Authenticate("nobody", "pw").has_value());
}

TEST_F(UsersTest, InfluxdErrors) {
  ASSERT_TRUE(store_->Create("root", "secret", true).ok());
  EXPECT_TRUE(store_->Create("root", "secret", true).ok());  // same again: fine, as influxd
  EXPECT_EQ(store_->Create("root", "other", true).message(), "user already exists");
  EXPECT_EQ(store_->Create("", "x", true).message(), "username required");
  EXPECT_EQ(store_->Drop("nobody").message(), "user not found");
  EXPECT_EQ(store_->SetPassword("nobody", "x").message(), "user not found");
  EXPECT_EQ(store_->SetPrivilege("root", "nodb", Privilege::kRead).message(), "database not found: nodb");
}

TEST_F(UsersTest, LastAdminCannotBeDroppedOrDemoted) {
  ASSERT_TRUE(store_->Create("root", "secret", true).ok());
  EXPECT_FALSE(store_->Drop("root").ok());
  EXPECT_FALSE(store_->SetAdmin("root", false).ok());
  ASSERT_TRUE(store_->Create("root2", "secret", true).ok());
  EXPECT_TRUE(store_->SetAdmin("root", false).ok());
  EXPECT_FALSE(store_->Drop("root2").ok());
}

TEST_F(UsersTest, SetPasswordForgetsTheCachedOne) {
  ASSERT_TRUE(store_->Create("root", "secret", true).ok());
  ASSERT_TRUE(store_->Authenticate("root", "secret").has_value());
  ASSERT_TRUE(store_->SetPassword("root", "new").ok());
  EXPECT_FALSE(store_->Authenticate("root", "secret").has_value());
  EXPECT_TRUE(store_->Authenticate("root", "new").has_value());
}

TEST_F(UsersTest, DroppedDatabaseTakesItsGrants) {
  ASSERT_TRUE(store_->Create("root", "secret", true).ok());
  ASSERT_TRUE(store_->Create("bob", "pw", false).ok());
  ASSERT_TRUE(db_->CreateDatabase(DatabaseOptions{.name = "d1"}).ok());
  ASSERT_TRUE(db_->CreateDatabase(DatabaseOptions{.name = "d2"}).ok());
  ASSERT_TRUE(store_->SetPrivilege("bob", "d1", Privilege::kAll).ok());
  ASSERT_TRUE(store_->SetPrivilege("bob", "d2", Privilege::kRead).ok());
  ASSERT_TRUE(store_->DropDatabaseGrants("d1").ok());
  Open();
  auto bob = store_->Get("bob");
  ASSERT_TRUE(bob.ok());
  EXPECT_EQ(bob->grants.count("d1"), 0u);
  EXPECT_EQ(bob->On("d2"), Privilege::kRead);
}

TEST_F(UsersTest, WriteIsNotDelete) {
  UserInfo u;
  u.grants["d"] = Privilege::kWrite;
  EXPECT_TRUE(u.MayWrite("d"));
  EXPECT_FALSE(u.MayDelete("d"));
  EXPECT_FALSE(u.MayRead("d"));
  u.grants["d"] = Privilege::kAll;
  EXPECT_TRUE(u.MayDelete("d"));
  EXPECT_FALSE(u.MayRead("other"));
}

TEST_F(UsersTest, PasswordIsNotStoredInClear) {
  const std::string pw = "Very-Distinct-Password-4711";
  ASSERT_TRUE(store_->Create("root", pw, true).ok());
  store_.reset();
  db_.reset();  // flushes and closes
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path())) {
    if (!e.is_regular_file()) continue;
    std::ifstream f(e.path(), std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    EXPECT_EQ(data.find(pw), std::string::npos) << e.path();
  }
}

TEST(LoginLimiterTest, RefusesAfterFiveFailures) {
  LoginLimiter l;
  for (int i = 0; i < LoginLimiter::kMaxFailures; i++) {
    EXPECT_EQ(l.RetryAfter("1.2.3.4"), 0);
    l.Failed("1.2.3.4");
  }
  EXPECT_GT(l.RetryAfter("1.2.3.4"), 0);
  EXPECT_EQ(l.RetryAfter("5.6.7.8"), 0);
}

}  // namespace
}  // namespace m2mdb::server
