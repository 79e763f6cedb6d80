// Helpers shared by tests: temp directories and status assertions (Debian's
// GoogleTest/Abseil have no status matchers).
#ifndef M2MDB_TESTS_SUPPORT_TEST_UTIL_H_
#define M2MDB_TESTS_SUPPORT_TEST_UTIL_H_

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "m2mdb/status.h"

#define ASSERT_OK(expr)                                  \
  do {                                                   \
    const ::absl::Status _st = (expr);                   \
    ASSERT_TRUE(_st.ok()) << #expr << ": " << _st.ToString(); \
  } while (0)
#define EXPECT_OK(expr)                                  \
  do {                                                   \
    const ::absl::Status _st = (expr);                   \
    EXPECT_TRUE(_st.ok()) << #expr << ": " << _st.ToString(); \
  } while (0)
#define ASSERT_OK_AND_ASSIGN(lhs, expr)                                   \
  auto M2MDB_STATUS_CONCAT_(_sor_, __LINE__) = (expr);                    \
  ASSERT_TRUE(M2MDB_STATUS_CONCAT_(_sor_, __LINE__).ok())                 \
      << #expr << ": " << M2MDB_STATUS_CONCAT_(_sor_, __LINE__).status().ToString(); \
  lhs = std::move(M2MDB_STATUS_CONCAT_(_sor_, __LINE__)).value()

namespace m2mdb::testing {

// A fresh directory removed at destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    const char* base = std::getenv("TMPDIR");
    path_ = std::string(base ? base : "/tmp") + "/m2mdb_test_" + std::to_string(::getpid()) + "_" +
            std::to_string(counter++);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace m2mdb::testing

#endif  // M2MDB_TESTS_SUPPORT_TEST_UTIL_H_
