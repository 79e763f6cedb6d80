#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

#include "engine/util/coding.h"
#include "engine/util/crc32c.h"
#include "engine/util/file.h"
#include "m2mdb/column.h"
#include "m2mdb/log.h"

namespace m2mdb {
namespace {

TEST(Crc32c, MatchesKnownVectors) {
  // RFC 3720 test vectors.
  char zeros[32] = {0};
  EXPECT_EQ(0x8a9136aau, crc32c::Value(zeros, sizeof(zeros)));
  char ones[32];
  for (auto& c : ones) c = static_cast<char>(0xff);
  EXPECT_EQ(0x62a8ab43u, crc32c::Value(ones, sizeof(ones)));
  EXPECT_EQ(0xe3069283u, crc32c::Value("123456789"));
}

TEST(Crc32c, ExtendEqualsWholeValue) {
  std::string s = "hello world, this is a longer string to cross 8-byte strides";
  for (size_t cut = 0; cut <= s.size(); cut++) {
    uint32_t a = crc32c::Extend(crc32c::Value(s.data(), cut), s.data() + cut, s.size() - cut);
    EXPECT_EQ(crc32c::Value(s), a);
  }
}

TEST(Crc32c, MaskRoundTrips) {
  uint32_t c = crc32c::Value("foo");
  EXPECT_NE(c, crc32c::Mask(c));
  EXPECT_EQ(c, crc32c::Unmask(crc32c::Mask(c)));
}

TEST(Coding, VarintRoundTripsAndRejectsTruncation) {
  std::string buf;
  const uint64_t values[] = {0, 1, 127, 128, 300, 1ull << 35, UINT64_MAX};
  for (uint64_t v : values) PutVarint64(&buf, v);
  std::string_view in = buf;
  for (uint64_t v : values) {
    uint64_t got;
    ASSERT_TRUE(GetVarint64(&in, &got));
    EXPECT_EQ(v, got);
  }
  EXPECT_TRUE(in.empty());
  std::string trunc;
  PutVarint64(&trunc, UINT64_MAX);
  trunc.pop_back();
  std::string_view t = trunc;
  uint64_t x;
  EXPECT_FALSE(GetVarint64(&t, &x));
}

TEST(Coding, ZigZagRoundTrips) {
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1}, INT64_MIN, INT64_MAX}) {
    EXPECT_EQ(v, ZigZagDecode(ZigZagEncode(v)));
  }
  EXPECT_EQ(1u, ZigZagEncode(-1));
  EXPECT_EQ(2u, ZigZagEncode(1));
}

TEST(File, AtomicWriteAndRead) {
  std::string dir = testing::TempDir() + "/m2mdb_file_test";
  ASSERT_TRUE(CreateDirs(dir).ok());
  std::string path = dir + "/x";
  ASSERT_TRUE(WriteFileAtomic(path, "abc").ok());
  auto got = ReadFileToString(path);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ("abc", *got);
  EXPECT_FALSE(FileExists(path + ".tmp"));
  EXPECT_EQ(absl::StatusCode::kNotFound, ReadFileToString(dir + "/missing").status().code());
  ASSERT_TRUE(RemoveAll(dir).ok());
}

TEST(ColumnTest, TruncateCutsEveryVectorAndKeepsTheSpace) {
  Column c;
  c.type = FieldType::kString;
  for (int i = 0; i < 10; i++) c.Append(i, FieldValue::String("s" + std::to_string(i)));
  const size_t cap = c.times.capacity();
  c.truncate(4);
  EXPECT_EQ(4u, c.size());
  EXPECT_EQ(4u, c.strings.size());
  EXPECT_EQ("s3", c.strings.back());
  EXPECT_EQ(cap, c.times.capacity());
  c.truncate(100);  // longer than the column: nothing changes
  EXPECT_EQ(4u, c.size());
  c.truncate(0);
  EXPECT_TRUE(c.empty());
  EXPECT_TRUE(c.strings.empty());
}

// An embedding program takes the log lines (SetLogSink) and silences the
// INFO ones (SetLogLevel); nullptr and kInfo restore the defaults.
TEST(Log, SinkTakesLinesAtOrAboveTheLevel) {
  std::vector<std::pair<LogLevel, std::string>> lines;
  SetLogSink([&](LogLevel level, std::string_view msg) { lines.emplace_back(level, std::string(msg)); });
  LogInfo("opened ", 3, " segments");
  LogMessage(LogLevel::kDebug, "not shown");
  SetLogLevel(LogLevel::kWarning);
  LogInfo("silenced");
  LogWarning("disk ", "full");
  LogError("boom");
  SetLogLevel(LogLevel::kInfo);
  SetLogSink(nullptr);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], std::make_pair(LogLevel::kInfo, std::string("opened 3 segments")));
  EXPECT_EQ(lines[1], std::make_pair(LogLevel::kWarning, std::string("disk full")));
  EXPECT_EQ(lines[2], std::make_pair(LogLevel::kError, std::string("boom")));
}

// The kind travels with the status as a payload, through Annotate too; the
// code and message stay as they were.
TEST(ErrorKind, TravelsWithTheStatus) {
  Status s =
      WithErrorKind(absl::ResourceExhaustedError("query memory limit exceeded"), ErrorKind::kQueryMemory);
  EXPECT_EQ(ErrorKindOf(s), ErrorKind::kQueryMemory);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(), "query memory limit exceeded");
  Status a = Annotate(s, "statement 1");
  EXPECT_EQ(ErrorKindOf(a), ErrorKind::kQueryMemory);
  EXPECT_EQ(a.message(), "statement 1: query memory limit exceeded");
  EXPECT_EQ(ErrorKindOf(absl::InternalError("x")), ErrorKind::kUnspecified);
  EXPECT_TRUE(WithErrorKind(absl::OkStatus(), ErrorKind::kParse).ok());
}

}  // namespace
}  // namespace m2mdb
