#include "engine/segment/segment.h"

#include <bit>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <random>
#include <set>
#include <sstream>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

#include "engine/encoding/codec.h"
#include "engine/util/coding.h"
#include "engine/util/crc32c.h"
#include "engine/util/file.h"

namespace m2mdb::segment {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000'000'000;  // 2023-11, ns
constexpr int64_t kStep = 10'000'000'000;           // 10 s

std::string Slurp(const std::string& path) {
  auto s = ReadFileToString(path);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : std::string();
}

void Spit(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

Column Floats(std::vector<int64_t> t, std::vector<double> v) {
  Column c;
  c.type = FieldType::kFloat;
  c.times = std::move(t);
  c.floats = std::move(v);
  return c;
}
Column Ints(std::vector<int64_t> t, std::vector<int64_t> v) {
  Column c;
  c.type = FieldType::kInteger;
  c.times = std::move(t);
  c.ints = std::move(v);
  return c;
}
Column Uints(std::vector<int64_t> t, std::vector<uint64_t> v) {
  Column c;
  c.type = FieldType::kUnsigned;
  c.times = std::move(t);
  c.uints = std::move(v);
  return c;
}
Column Bools(std::vector<int64_t> t, std::vector<uint8_t> v) {
  Column c;
  c.type = FieldType::kBoolean;
  c.times = std::move(t);
  c.bools = std::move(v);
  return c;
}
Column Strings(std::vector<int64_t> t, std::vector<std::string> v) {
  Column c;
  c.type = FieldType::kString;
  c.times = std::move(t);
  c.strings = std::move(v);
  return c;
}
Column BadType() {
  Column c;
  c.type = static_cast<FieldType>(9);
  c.times = {1};
  return c;
}

bool SameBits(double a, double b) { return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b); }

// Column equality that compares floats bitwise (NaN payloads, -0.0).
void ExpectSameColumn(const Column& want, const Column& got, const std::string& what) {
  ASSERT_EQ(want.type, got.type) << what;
  ASSERT_EQ(want.times, got.times) << what;
  switch (want.type) {
    case FieldType::kFloat:
      ASSERT_EQ(want.floats.size(), got.floats.size()) << what;
      for (size_t i = 0; i < want.floats.size(); i++) {
        ASSERT_TRUE(SameBits(want.floats[i], got.floats[i])) << what << " point " << i;
      }
      break;
    case FieldType::kInteger:
      ASSERT_EQ(want.ints, got.ints) << what;
      break;
    case FieldType::kUnsigned:
      ASSERT_EQ(want.uints, got.uints) << what;
      break;
    case FieldType::kBoolean:
      ASSERT_EQ(want.bools, got.bools) << what;
      break;
    case FieldType::kString:
      ASSERT_EQ(want.strings, got.strings) << what;
      break;
  }
}

Column MakeColumn(FieldType type, size_t n, std::mt19937_64& rng, int64_t t0 = kT0) {
  Column c;
  c.type = type;
  int64_t t = t0;
  for (size_t i = 0; i < n; i++) {
    c.times.push_back(t);
    t += kStep + static_cast<int64_t>(rng() % 3);  // a little jitter
    switch (type) {
      case FieldType::kFloat: {
        static const double kSpecial[] = {
            std::numeric_limits<double>::quiet_NaN(),
            -0.0,
            0.0,
            std::numeric_limits<double>::infinity(),
            -std::numeric_limits<double>::infinity(),
            std::numeric_limits<double>::denorm_min(),
            std::numeric_limits<double>::max(),
            std::bit_cast<double>(uint64_t{0x7ff4000000000123})};  // sNaN payload
        c.floats.push_back(i % 7 == 3 ? kSpecial[rng() % 8] : 20.0 + static_cast<double>(rng() % 1000) / 10);
        break;
      }
      case FieldType::kInteger: {
        static const int64_t kSpecial[] = {INT64_MIN, INT64_MAX, 0, -1, 1};
        c.ints.push_back(i % 5 == 2 ? kSpecial[rng() % 5] : static_cast<int64_t>(rng() % 2000) - 1000);
        break;
      }
      case FieldType::kUnsigned:
        c.uints.push_back(i % 5 == 2 ? (rng() % 2 ? UINT64_MAX : 0) : rng() % 5000);
        break;
      case FieldType::kBoolean:
        c.bools.push_back(rng() % 3 == 0);
        break;
      case FieldType::kString: {
        std::string s;
        switch (rng() % 4) {
          case 0:
            break;  // empty
          case 1:
            s = "ok";
            break;
          case 2:
            s = std::string("\0\xff\x80 bin\n", 8);
            break;
          default:
            s = std::string(rng() % 300, static_cast<char>('a' + rng() % 26));
            break;
        }
        c.strings.push_back(std::move(s));
        break;
      }
    }
  }
  return c;
}

class SegmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "segment_test_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(RemoveAll(dir_).ok());
    ASSERT_TRUE(CreateDirs(dir_).ok());
    path_ = dir_ + "/000001.seg";
  }
  void TearDown() override { RemoveAll(dir_).IgnoreError(); }

  std::unique_ptr<SegmentWriter> NewWriter(uint32_t max_block_points = 4096) {
    SegmentWriterOptions o;
    o.max_block_points = max_block_points;
    auto w = SegmentWriter::Create(path_, o);
    EXPECT_TRUE(w.ok()) << w.status();
    return std::move(*w);
  }

  // Reads engine/segment/testdata/segment_v<version>.seg and checks it
  // holds GoldenColumns().
  void ReadGolden(int version);

  std::unique_ptr<SegmentReader> OpenOk() {
    auto r = SegmentReader::Open(path_);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::move(*r) : nullptr;
  }

  // Reads every block of (series, field) in time order into one column.
  Column ReadAll(const SegmentReader& r, uint64_t series, uint32_t field, FieldType type) {
    std::vector<const BlockHandle*> hs;
    r.FindBlocks(series, field, INT64_MIN, INT64_MAX, &hs);
    Column c;
    c.type = type;
    for (const BlockHandle* h : hs) EXPECT_TRUE(r.ReadBlock(*h, &c).ok());
    return c;
  }

  // A small three-column segment used by the corruption tests.
  void WriteSmall(uint32_t max_block_points = 16) {
    std::mt19937_64 rng(7);
    auto w = NewWriter(max_block_points);
    ASSERT_TRUE(w->Add(1, 1, MakeColumn(FieldType::kFloat, 40, rng)).ok());
    ASSERT_TRUE(w->Add(1, 2, MakeColumn(FieldType::kInteger, 20, rng)).ok());
    ASSERT_TRUE(w->Add(3, 1, MakeColumn(FieldType::kString, 10, rng)).ok());
    ASSERT_TRUE(w->Finish().ok());
  }

  std::string dir_, path_;
};

TEST_F(SegmentTest, RoundTripsEveryFieldTypeAcrossManySeries) {
  std::mt19937_64 rng(42);
  const FieldType kTypes[] = {FieldType::kFloat, FieldType::kInteger, FieldType::kUnsigned,
                              FieldType::kBoolean, FieldType::kString};
  struct Want {
    uint64_t series;
    uint32_t field;
    Column col;
  };
  std::vector<Want> wants;
  auto w = NewWriter(500);
  uint64_t series = 0;
  for (int s = 0; s < 40; s++) {
    series += 1 + rng() % 1000;
    for (uint32_t f = 0; f < 5; f++) {
      const FieldType t = kTypes[(s + f) % 5];
      Column c = MakeColumn(t, 1 + rng() % 1200, rng, kT0 + static_cast<int64_t>(rng() % 1000) * kStep);
      ASSERT_TRUE(w->Add(series, f * 3, c).ok());
      wants.push_back({series, f * 3, std::move(c)});
    }
  }
  auto info = w->Finish();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(FileExists(path_ + ".tmp"));
  ASSERT_EQ(*FileSize(path_), info->file_bytes);

  auto r = OpenOk();
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->info().blocks, info->blocks);
  EXPECT_EQ(r->info().points, info->points);
  EXPECT_EQ(r->info().min_time, info->min_time);
  EXPECT_EQ(r->info().max_time, info->max_time);
  EXPECT_EQ(r->info().file_bytes, info->file_bytes);
  uint64_t points = 0;
  for (const Want& want : wants) {
    points += want.col.size();
    ExpectSameColumn(want.col, ReadAll(*r, want.series, want.field, want.col.type),
                     absl::StrCat("series ", want.series, " field ", want.field));
  }
  EXPECT_EQ(r->info().points, points);
  EXPECT_TRUE(r->Verify().ok()) << r->Verify();
  // Index order is (series, field, min time).
  const auto& bs = r->blocks();
  for (size_t i = 1; i < bs.size(); i++) {
    const auto a = std::make_tuple(bs[i - 1].series_id, bs[i - 1].field_id, bs[i - 1].stats.min_time);
    const auto b = std::make_tuple(bs[i].series_id, bs[i].field_id, bs[i].stats.min_time);
    EXPECT_LT(a, b);
  }
}

TEST_F(SegmentTest, SplitsLongColumnsIntoBalancedBlocks) {
  std::mt19937_64 rng(1);
  Column c = MakeColumn(FieldType::kFloat, 1001, rng);
  auto w = NewWriter(100);
  ASSERT_TRUE(w->Add(9, 4, c).ok());
  ASSERT_TRUE(w->Finish().ok());
  auto r = OpenOk();
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(r->blocks().size(), 11u);
  size_t at = 0;
  for (const BlockHandle& h : r->blocks()) {
    EXPECT_GE(h.stats.count, 91u);
    EXPECT_LE(h.stats.count, 100u);
    EXPECT_EQ(h.stats.min_time, c.times[at]);
    at += h.stats.count;
    EXPECT_EQ(h.stats.max_time, c.times[at - 1]);
  }
  EXPECT_EQ(at, c.size());
  ExpectSameColumn(c, ReadAll(*r, 9, 4, FieldType::kFloat), "split");
}

TEST_F(SegmentTest, ExactMultipleAndSinglePointColumns) {
  std::mt19937_64 rng(2);
  Column a = MakeColumn(FieldType::kInteger, 300, rng);
  Column b = MakeColumn(FieldType::kInteger, 1, rng);
  auto w = NewWriter(100);
  ASSERT_TRUE(w->Add(1, 1, a).ok());
  ASSERT_TRUE(w->Add(1, 2, b).ok());
  ASSERT_TRUE(w->Finish().ok());
  auto r = OpenOk();
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(r->blocks().size(), 4u);
  for (int i = 0; i < 3; i++) EXPECT_EQ(r->blocks()[i].stats.count, 100u);
  ExpectSameColumn(b, ReadAll(*r, 1, 2, FieldType::kInteger), "single");
}

TEST_F(SegmentTest, StatsAreCorrectPerType) {
  auto times = [](size_t n) {
    std::vector<int64_t> t;
    for (size_t i = 0; i < n; i++) t.push_back(kT0 + static_cast<int64_t>(i) * kStep);
    return t;
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Column f = Floats(times(5), {2.5, nan, -1.0, 7.25, 3.0});
  Column fn = Floats(times(2), {nan, nan});
  Column i = Ints(times(4), {INT64_MAX, 1, -7, 5});
  Column u = Uints(times(3), {UINT64_MAX, 2, 9});
  Column b = Bools(times(4), {0, 1, 1, 0});
  Column bt = Bools(times(2), {1, 1});
  Column s = Strings(times(2), {"a", "b"});
  auto w = NewWriter();
  ASSERT_TRUE(w->Add(1, 1, f).ok());
  ASSERT_TRUE(w->Add(1, 2, fn).ok());
  ASSERT_TRUE(w->Add(1, 3, i).ok());
  ASSERT_TRUE(w->Add(1, 4, u).ok());
  ASSERT_TRUE(w->Add(1, 5, b).ok());
  ASSERT_TRUE(w->Add(1, 6, bt).ok());
  ASSERT_TRUE(w->Add(1, 7, s).ok());
  ASSERT_TRUE(w->Finish().ok());
  auto r = OpenOk();
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(r->blocks().size(), 7u);
  const auto& bs = r->blocks();

  const BlockStats& sf = bs[0].stats;
  EXPECT_EQ(sf.count, 5u);
  EXPECT_EQ(sf.min_time, kT0);
  EXPECT_EQ(sf.max_time, kT0 + 4 * kStep);
  EXPECT_EQ(sf.min_f, -1.0);  // NaN skipped
  EXPECT_EQ(sf.max_f, 7.25);
  EXPECT_TRUE(std::isnan(sf.sum_f));  // the sum a query would compute
  EXPECT_EQ(sf.first_f, 2.5);
  EXPECT_EQ(sf.last_f, 3.0);

  const BlockStats& sfn = bs[1].stats;
  EXPECT_TRUE(std::isnan(sfn.min_f) && std::isnan(sfn.max_f) && std::isnan(sfn.first_f));

  const BlockStats& si = bs[2].stats;
  EXPECT_EQ(si.min_i, -7);
  EXPECT_EQ(si.max_i, INT64_MAX);
  EXPECT_EQ(si.sum_i, static_cast<int64_t>(static_cast<uint64_t>(INT64_MAX) + 1 - 7 + 5));  // wraps like Go
  EXPECT_EQ(si.first_i, INT64_MAX);
  EXPECT_EQ(si.last_i, 5);

  const BlockStats& su = bs[3].stats;
  EXPECT_EQ(su.min_u, 2u);
  EXPECT_EQ(su.max_u, UINT64_MAX);
  EXPECT_EQ(su.sum_u, 10u);  // wraps
  EXPECT_EQ(su.first_u, UINT64_MAX);
  EXPECT_EQ(su.last_u, 9u);

  const BlockStats& sb = bs[4].stats;
  EXPECT_EQ(sb.min_i, 0);
  EXPECT_EQ(sb.max_i, 1);
  EXPECT_EQ(sb.sum_i, 2);
  EXPECT_EQ(sb.first_i, 0);
  EXPECT_EQ(sb.last_i, 0);
  EXPECT_EQ(bs[5].stats.min_i, 1);
  EXPECT_EQ(bs[5].stats.sum_i, 2);

  const BlockStats& ss = bs[6].stats;
  EXPECT_EQ(ss.count, 2u);
  EXPECT_EQ(ss.max_time, kT0 + kStep);
  EXPECT_EQ(ss.sum_i, 0);
  EXPECT_EQ(ss.min_f, 0.0);
  EXPECT_TRUE(r->Verify().ok());
}

TEST_F(SegmentTest, FindBlocksPrunesByTime) {
  std::mt19937_64 rng(3);
  Column c;
  c.type = FieldType::kFloat;
  for (int i = 0; i < 1000; i++) {
    c.times.push_back(i * 10);
    c.floats.push_back(i);
  }
  auto w = NewWriter(100);
  ASSERT_TRUE(w->Add(1, 1, MakeColumn(FieldType::kFloat, 50, rng)).ok());
  ASSERT_TRUE(w->Add(2, 1, c).ok());  // blocks cover [0,990], [1000,1990], ...
  ASSERT_TRUE(w->Add(2, 2, MakeColumn(FieldType::kFloat, 50, rng)).ok());
  ASSERT_TRUE(w->Finish().ok());
  auto r = OpenOk();
  ASSERT_NE(r, nullptr);
  auto find = [&](uint64_t s, uint32_t f, int64_t lo, int64_t hi) {
    std::vector<const BlockHandle*> out;
    r->FindBlocks(s, f, lo, hi, &out);
    std::vector<int64_t> mins;
    for (const BlockHandle* h : out) {
      EXPECT_EQ(h->series_id, s);
      EXPECT_EQ(h->field_id, f);
      mins.push_back(h->stats.min_time);
    }
    return mins;
  };
  EXPECT_EQ(find(2, 1, INT64_MIN, INT64_MAX).size(), 10u);
  EXPECT_EQ(find(2, 1, 995, 999), std::vector<int64_t>{});  // in a gap between blocks
  EXPECT_EQ(find(2, 1, 990, 1000), (std::vector<int64_t>{0, 1000}));
  EXPECT_EQ(find(2, 1, 1500, 3500), (std::vector<int64_t>{1000, 2000, 3000}));
  EXPECT_EQ(find(2, 1, 9990, INT64_MAX), std::vector<int64_t>{9000});
  EXPECT_EQ(find(2, 1, 10000, INT64_MAX), std::vector<int64_t>{});
  EXPECT_EQ(find(2, 1, INT64_MIN, -1), std::vector<int64_t>{});
  EXPECT_EQ(find(2, 1, 500, 400), std::vector<int64_t>{});  // empty range
  EXPECT_EQ(find(2, 3, INT64_MIN, INT64_MAX), std::vector<int64_t>{});
  EXPECT_EQ(find(0, 1, INT64_MIN, INT64_MAX), std::vector<int64_t>{});
  EXPECT_EQ(find(1, 1, INT64_MIN, INT64_MAX).size(), 1u);
  EXPECT_EQ(find(2, 2, INT64_MIN, INT64_MAX).size(), 1u);
}

TEST_F(SegmentTest, SameColumnMayContinueInALaterAdd) {
  Column a = Ints({1, 2, 3}, {1, 2, 3});
  Column b = Ints({10, 11}, {4, 5});
  auto w = NewWriter();
  ASSERT_TRUE(w->Add(5, 5, a).ok());
  ASSERT_TRUE(w->Add(5, 5, b).ok());
  ASSERT_TRUE(w->Finish().ok());
  auto r = OpenOk();
  ASSERT_NE(r, nullptr);
  Column got = ReadAll(*r, 5, 5, FieldType::kInteger);
  EXPECT_EQ(got.times, (std::vector<int64_t>{1, 2, 3, 10, 11}));
  EXPECT_EQ(got.ints, (std::vector<int64_t>{1, 2, 3, 4, 5}));
}

TEST_F(SegmentTest, ReopenAndConcurrentReadersSeeTheSameData) {
  std::mt19937_64 rng(4);
  Column c = MakeColumn(FieldType::kUnsigned, 777, rng);
  {
    auto w = NewWriter(128);
    ASSERT_TRUE(w->Add(UINT64_MAX, UINT32_MAX, c).ok());  // extreme ids
    ASSERT_TRUE(w->Finish().ok());
  }
  for (int i = 0; i < 3; i++) {
    auto r = OpenOk();
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->path(), path_);
    ExpectSameColumn(c, ReadAll(*r, UINT64_MAX, UINT32_MAX, FieldType::kUnsigned), "reopen");
  }
}

TEST_F(SegmentTest, ReadBlockAppendsToANonEmptyColumn) {
  Column a = Strings({1, 2}, {"x", ""});
  Column b = Strings({3}, {"zz"});
  auto w = NewWriter();
  ASSERT_TRUE(w->Add(1, 1, a).ok());
  ASSERT_TRUE(w->Add(2, 1, b).ok());
  ASSERT_TRUE(w->Finish().ok());
  auto r = OpenOk();
  ASSERT_NE(r, nullptr);
  Column out;
  out.type = FieldType::kString;
  ASSERT_TRUE(r->ReadBlock(r->blocks()[0], &out).ok());
  ASSERT_TRUE(r->ReadBlock(r->blocks()[1], &out).ok());
  EXPECT_EQ(out.times, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(out.strings, (std::vector<std::string>{"x", "", "zz"}));
  Column wrong;
  wrong.type = FieldType::kFloat;
  EXPECT_EQ(r->ReadBlock(r->blocks()[0], &wrong).code(), absl::StatusCode::kInvalidArgument);
  // A handle pointing outside the file is rejected, not followed.
  BlockHandle bogus = r->blocks()[0];
  bogus.offset = 1ull << 40;
  EXPECT_EQ(r->ReadBlock(bogus, &out).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(out.size(), 3u);
}

TEST_F(SegmentTest, EmptySegment) {
  auto w = NewWriter();
  auto info = w->Finish();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->blocks, 0u);
  auto r = OpenOk();
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->blocks().empty());
  EXPECT_EQ(r->info().points, 0u);
  EXPECT_EQ(r->info().min_time, 0);
  EXPECT_EQ(r->info().max_time, 0);
  EXPECT_EQ(r->info().file_bytes, info->file_bytes);
  EXPECT_TRUE(r->Verify().ok());
  std::vector<const BlockHandle*> out;
  r->FindBlocks(1, 1, INT64_MIN, INT64_MAX, &out);
  EXPECT_TRUE(out.empty());
}

TEST_F(SegmentTest, AddViolatingRequirementsIsInvalidArgument) {
  auto w = NewWriter();
  Column ok = Floats({10, 20}, {1, 2});
  ASSERT_TRUE(w->Add(5, 5, ok).ok());
  auto code = [&](uint64_t s, uint32_t f, const Column& c) { return w->Add(s, f, c).code(); };
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(code(4, 9, ok), kInvalid);  // series goes back
  EXPECT_EQ(code(5, 4, ok), kInvalid);  // field goes back
  EXPECT_EQ(code(5, 5, ok), kInvalid);  // same column, overlapping times
  Column later = Ints({30}, {1});
  EXPECT_EQ(code(5, 5, later), kInvalid);  // same column, type changed
  EXPECT_EQ(code(6, 1, Floats({3, 2}, {1, 2})), kInvalid);
  EXPECT_EQ(code(6, 1, Floats({2, 2}, {1, 2})), kInvalid);
  EXPECT_EQ(code(6, 1, Floats({}, {})), kInvalid);  // empty
  EXPECT_EQ(code(6, 1, Floats({1, 2}, {1})), kInvalid);
  EXPECT_EQ(code(6, 1, Bools({1}, {2})), kInvalid);
  EXPECT_EQ(code(6, 1, BadType()), kInvalid);
  // Rejected calls wrote nothing: the writer still produces a valid file.
  ASSERT_TRUE(w->Add(6, 1, Floats({1}, {3})).ok());
  auto info = w->Finish();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->blocks, 2u);
  EXPECT_EQ(w->Finish().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(w->Add(7, 1, ok).code(), absl::StatusCode::kFailedPrecondition);
  auto r = OpenOk();
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->Verify().ok());
}

TEST_F(SegmentTest, BadOptionsAreRejected) {
  SegmentWriterOptions o;
  o.max_block_points = 0;
  EXPECT_EQ(SegmentWriter::Create(path_, o).status().code(), absl::StatusCode::kInvalidArgument);
  o.max_block_points = (1u << 16) + 1;
  EXPECT_EQ(SegmentWriter::Create(path_, o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SegmentTest, DestructorWithoutFinishDeletesTheTempFile) {
  {
    auto w = NewWriter();
    Column c = Floats({1}, {1});
    ASSERT_TRUE(w->Add(1, 1, c).ok());
    EXPECT_TRUE(FileExists(path_ + ".tmp"));
  }
  EXPECT_FALSE(FileExists(path_ + ".tmp"));
  EXPECT_FALSE(FileExists(path_));
}

TEST_F(SegmentTest, MissingFileIsNotFound) {
  EXPECT_EQ(SegmentReader::Open(path_).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SegmentTest, FlippedBlockByteIsDataLossAndOtherBlocksStillRead) {
  WriteSmall();
  const std::string good = Slurp(path_);
  auto r0 = OpenOk();
  ASSERT_NE(r0, nullptr);
  const std::vector<BlockHandle> blocks = r0->blocks();
  r0.reset();
  ASSERT_GE(blocks.size(), 4u);
  // Damage every byte of block 1 in turn (timestamps, values and crc).
  const BlockHandle& victim = blocks[1];
  const uint64_t len = victim.times_bytes + victim.values_bytes + 4;
  for (uint64_t off = victim.offset; off < victim.offset + len; off++) {
    std::string bad = good;
    bad[off] ^= 0x20;
    Spit(path_, bad);
    auto r = SegmentReader::Open(path_);
    ASSERT_TRUE(r.ok()) << r.status();  // blocks are checked on read, not at open
    Column c;
    c.type = victim.type;
    Status s = (*r)->ReadBlock((*r)->blocks()[1], &c);
    ASSERT_EQ(s.code(), absl::StatusCode::kDataLoss) << "offset " << off;
    EXPECT_NE(s.message().find(path_), absl::string_view::npos) << s;
    EXPECT_NE(s.message().find(absl::StrCat("offset ", victim.offset)), absl::string_view::npos) << s;
    EXPECT_TRUE(c.empty());  // nothing half-appended
    EXPECT_EQ((*r)->Verify().code(), absl::StatusCode::kDataLoss);
    for (size_t i = 0; i < blocks.size(); i++) {
      if (i == 1) continue;
      Column other;
      other.type = blocks[i].type;
      EXPECT_TRUE((*r)->ReadBlock((*r)->blocks()[i], &other).ok()) << "block " << i;
    }
  }
}

// A reader checks each block once: later reads of a block that passed skip
// the checksum, but Verify and handles that are not from blocks() always
// check, and a new reader checks again, so damage done to the file after a
// read is still found by `m2mdb check` and after a restart.
TEST_F(SegmentTest, BlockChecksRunOncePerReaderButVerifyAlwaysChecks) {
  WriteSmall();
  auto r = OpenOk();
  ASSERT_NE(r, nullptr);
  ASSERT_GE(r->blocks().size(), 2u);
  const BlockHandle& h = r->blocks()[1];
  Column first;
  first.type = h.type;
  ASSERT_TRUE(r->ReadBlock(h, &first).ok());
  // Damage the block's checksum in place; the mapping is shared, so the open
  // reader sees the new byte.
  const uint64_t crc_at = h.offset + h.times_bytes + h.values_bytes;
  const std::string bytes = Slurp(path_);
  const char flipped = static_cast<char>(bytes[crc_at] ^ 0x20);
  const int fd = ::open(path_.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, &flipped, 1, static_cast<off_t>(crc_at)), 1);
  ::close(fd);

  Column again;
  again.type = h.type;
  EXPECT_TRUE(r->ReadBlock(h, &again).ok());  // checked already; its data bytes are unchanged
  EXPECT_EQ(again.times, first.times);
  EXPECT_EQ(again.floats, first.floats);
  BlockHandle copy = h;
  Column c;
  c.type = h.type;
  EXPECT_EQ(r->ReadBlock(copy, &c).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(r->Verify().code(), absl::StatusCode::kDataLoss);
  auto fresh = OpenOk();
  ASSERT_NE(fresh, nullptr);
  Column d;
  d.type = h.type;
  EXPECT_EQ(fresh->ReadBlock(fresh->blocks()[1], &d).code(), absl::StatusCode::kDataLoss);
}

// ReadBlockRange appends exactly the points of ReadBlock within the range,
// for every type, every kind of overlap and an empty range, and appends
// after what the column holds; damage is still reported.
TEST_F(SegmentTest, ReadBlockRangeAppendsThePointsInRange) {
  std::mt19937_64 rng(11);
  {
    auto w = NewWriter(64);
    const FieldType types[] = {FieldType::kFloat, FieldType::kInteger, FieldType::kUnsigned,
                               FieldType::kBoolean, FieldType::kString};
    for (uint32_t f = 0; f < 5; f++) ASSERT_TRUE(w->Add(1, f + 1, MakeColumn(types[f], 200, rng)).ok());
    ASSERT_TRUE(w->Finish().ok());
  }
  auto r = OpenOk();
  ASSERT_NE(r, nullptr);
  for (int pass = 0; pass < 2; pass++) {  // the second pass reads verified blocks
    for (const BlockHandle& h : r->blocks()) {
      Column whole;
      whole.type = h.type;
      ASSERT_TRUE(r->ReadBlock(h, &whole).ok());
      const int64_t lo_t = h.stats.min_time, hi_t = h.stats.max_time;
      const std::pair<int64_t, int64_t> ranges[] = {{lo_t, hi_t},
                                                    {lo_t - 5, hi_t + 5},
                                                    {lo_t + 1, hi_t - 1},
                                                    {lo_t, lo_t},
                                                    {hi_t, hi_t},
                                                    {lo_t - 9, lo_t - 1},
                                                    {hi_t + 1, hi_t + 100},
                                                    {whole.times[3], whole.times[9]},
                                                    {hi_t - 1, lo_t + 1},
                                                    {whole.times[5] + 1, whole.times[6] - 1},
                                                    {kMinTime, whole.times[10]}};
      for (const auto& [a, b] : ranges) {
        Column want;
        want.type = h.type;
        want.AppendFrom(whole, 0);  // something already in the column
        for (size_t i = 0; i < whole.size(); i++) {
          if (whole.times[i] >= a && whole.times[i] <= b) want.AppendFrom(whole, i);
        }
        Column got;
        got.type = h.type;
        got.AppendFrom(whole, 0);
        ASSERT_TRUE(r->ReadBlockRange(h, a, b, &got).ok());
        ExpectSameColumn(want, got, absl::StrCat("block at ", h.offset, " range ", a, "..", b));
      }
    }
  }

  // A damaged block is reported by a range read as by ReadBlock.
  const BlockHandle victim = r->blocks()[0];
  r.reset();
  std::string bytes = Slurp(path_);
  bytes[victim.offset + 2] ^= 0x20;
  Spit(path_, bytes);
  auto damaged = OpenOk();
  ASSERT_NE(damaged, nullptr);
  Column c;
  c.type = victim.type;
  EXPECT_EQ(
      damaged->ReadBlockRange(damaged->blocks()[0], victim.stats.min_time + 1, victim.stats.max_time, &c)
          .code(),
      absl::StatusCode::kDataLoss);
  EXPECT_TRUE(c.empty());
}

// ReadBlockRangeAt writes what ReadBlockRange appends, at *size, over
// whatever lies past it: on every codec (value shapes chosen to hit each),
// every type, every kind of overlap, first and later reads of a block,
// into columns longer or shorter than needed and block after block into
// one column as a scan does; damage leaves *size alone.
TEST_F(SegmentTest, ReadBlockRangeAtWritesWhatReadBlockRangeAppends) {
  std::mt19937_64 rng(23);
  // Shapes per numeric type: 0 constant, 1 decimal / small deltas, 2 random
  // bits (Gorilla / raw), 3 long runs (RLE), 4 long compressible columns
  // (zstd over another codec), 5 the MakeColumn mix with specials.
  auto shaped = [&](FieldType type, int shape, size_t n) {
    if (shape == 5) return MakeColumn(type, n, rng);
    Column c;
    c.type = type;
    int64_t t = kT0;
    for (size_t i = 0; i < n; i++) {
      c.times.push_back(t);
      t += shape == 1 ? kStep : kStep + static_cast<int64_t>(rng() % 5);
      uint64_t u = 0;
      switch (shape) {
        case 0:
          u = 42;
          break;
        case 1:
          u = 1000 + rng() % 50;
          break;
        case 2:
          u = rng();
          break;
        case 3:
          u = (i / 37) % 3;
          break;
        default:
          u = (i % 16) * 1000;
          break;
      }
      switch (type) {
        case FieldType::kFloat:
          c.floats.push_back(shape == 2 ? std::bit_cast<double>(u & 0x7fefffffffffffffull)
                                        : static_cast<double>(u) / 10);
          break;
        case FieldType::kInteger:
          c.ints.push_back(static_cast<int64_t>(u) - (shape == 2 ? 0 : 500));
          break;
        case FieldType::kUnsigned:
          c.uints.push_back(u);
          break;
        default:
          break;
      }
    }
    return c;
  };
  const FieldType numeric[] = {FieldType::kFloat, FieldType::kInteger, FieldType::kUnsigned};
  uint32_t field = 1;
  {
    auto w = NewWriter(300);
    for (FieldType type : numeric) {
      for (int shape = 0; shape < 6; shape++) {
        ASSERT_TRUE(w->Add(1, field++, shaped(type, shape, shape == 4 ? 1500 : 700)).ok());
      }
    }
    ASSERT_TRUE(w->Add(1, field++, MakeColumn(FieldType::kBoolean, 700, rng)).ok());
    ASSERT_TRUE(w->Add(1, field++, MakeColumn(FieldType::kString, 700, rng)).ok());
    ASSERT_TRUE(w->Finish().ok());
  }
  auto r = OpenOk();
  ASSERT_NE(r, nullptr);
  std::set<uint8_t> codecs;
  for (const BlockHandle& h : r->blocks()) {
    uint8_t tc = 0, vc = 0;
    ASSERT_TRUE(r->BlockCodecs(h, &tc, &vc).ok());
    codecs.insert(vc);
  }
  for (auto id : {encoding::CodecId::kConstant, encoding::CodecId::kFloatDecimal,
                  encoding::CodecId::kIntDelta, encoding::CodecId::kIntRle}) {
    EXPECT_TRUE(codecs.count(static_cast<uint8_t>(id))) << "codec " << static_cast<int>(id) << " not covered";
  }
  EXPECT_GE(codecs.size(), 6u);

  // Past *size: garbage (longer than needed) or nothing (shorter).
  auto garbage = [](Column* c, size_t at, size_t extra) {
    c->times.resize(at + extra, -7);
    switch (c->type) {
      case FieldType::kFloat:
        c->floats.resize(at + extra, -7.5);
        break;
      case FieldType::kInteger:
        c->ints.resize(at + extra, -7);
        break;
      case FieldType::kUnsigned:
        c->uints.resize(at + extra, 7);
        break;
      case FieldType::kBoolean:
        c->bools.resize(at + extra, 1);
        break;
      case FieldType::kString:
        c->strings.resize(at + extra, "junk");
        break;
    }
  };
  auto trim = [](Column* c, size_t n) {
    c->times.resize(n);
    c->floats.resize(std::min(c->floats.size(), n));
    c->ints.resize(std::min(c->ints.size(), n));
    c->uints.resize(std::min(c->uints.size(), n));
    c->bools.resize(std::min(c->bools.size(), n));
    c->strings.resize(std::min(c->strings.size(), n));
  };
  // `ref` gives the expected points; the first pass reads each block
  // through a fresh reader (its first, checked read), the second through
  // `r`, which has read them all before.
  auto ref = OpenOk();
  ASSERT_NE(ref, nullptr);
  for (const BlockHandle& h : r->blocks()) {
    Column c;
    c.type = h.type;
    ASSERT_TRUE(r->ReadBlock(h, &c).ok());
  }
  for (int pass = 0; pass < 2; pass++) {
    for (size_t bi = 0; bi < ref->blocks().size(); bi++) {
      const BlockHandle& h = ref->blocks()[bi];
      Column whole;
      whole.type = h.type;
      ASSERT_TRUE(ref->ReadBlock(h, &whole).ok());
      const int64_t lo_t = h.stats.min_time, hi_t = h.stats.max_time;
      const std::pair<int64_t, int64_t> ranges[] = {{lo_t, hi_t},
                                                    {lo_t - 5, hi_t + 5},
                                                    {lo_t + 1, hi_t - 1},
                                                    {lo_t, whole.times[whole.size() / 2]},
                                                    {whole.times[whole.size() / 3], hi_t},
                                                    {lo_t, lo_t},
                                                    {hi_t, hi_t},
                                                    {lo_t - 9, lo_t - 1},
                                                    {hi_t + 1, hi_t + 100},
                                                    {whole.times[3], whole.times[9]},
                                                    {hi_t - 1, lo_t + 1},
                                                    {kMinTime, whole.times[10]}};
      for (const auto& [a, b] : ranges) {
        for (size_t extra : {size_t{0}, size_t{5}, size_t{2000}}) {
          Column want;
          want.type = h.type;
          want.AppendFrom(whole, 1);  // something already in the column
          ASSERT_TRUE(ref->ReadBlockRange(h, a, b, &want).ok());
          Column got;
          got.type = h.type;
          got.AppendFrom(whole, 1);
          size_t size = 1;
          garbage(&got, size, extra);
          std::unique_ptr<SegmentReader> fresh;
          const SegmentReader* reader = r.get();
          if (pass == 0) {
            fresh = OpenOk();
            ASSERT_NE(fresh, nullptr);
            reader = fresh.get();
          }
          ASSERT_TRUE(reader->ReadBlockRangeAt(reader->blocks()[bi], a, b, &got, &size).ok());
          ASSERT_GE(got.times.size(), size);
          trim(&got, size);
          ExpectSameColumn(
              want, got,
              absl::StrCat("pass ", pass, " block at ", h.offset, " range ", a, "..", b, " extra ", extra));
        }
      }
    }
  }

  // Block after block of each field into one column reused across fields,
  // as DBImpl's scan does, against ReadBlockRange appending.
  for (int pass = 0; pass < 2; pass++) {
    std::unique_ptr<SegmentReader> fresh = OpenOk();
    ASSERT_NE(fresh, nullptr);
    const SegmentReader* reader = pass == 0 ? fresh.get() : r.get();
    Column got;
    for (uint32_t f = 1; f < field; f++) {
      std::vector<const BlockHandle*> hs;
      reader->FindBlocks(1, f, INT64_MIN, INT64_MAX, &hs);
      ASSERT_FALSE(hs.empty());
      const int64_t a = hs.front()->stats.min_time + 3 * kStep, b = hs.back()->stats.max_time - 2 * kStep;
      Column want;
      want.type = hs.front()->type;
      for (const BlockHandle* h : hs) ASSERT_TRUE(ref->ReadBlockRange(*h, a, b, &want).ok());
      if (got.type != want.type) got.clear();
      got.type = want.type;
      size_t size = 0;
      for (const BlockHandle* h : hs) ASSERT_TRUE(reader->ReadBlockRangeAt(*h, a, b, &got, &size).ok());
      trim(&got, size);
      ExpectSameColumn(want, got, absl::StrCat("pass ", pass, " field ", f));
    }
  }

  // A damaged block fails and leaves *size as it was.
  const BlockHandle victim = r->blocks()[0];
  r.reset();
  ref.reset();
  std::string bytes = Slurp(path_);
  bytes[victim.offset + 2] ^= 0x20;
  Spit(path_, bytes);
  auto damaged = OpenOk();
  ASSERT_NE(damaged, nullptr);
  for (const auto& [a, b] : {std::pair{victim.stats.min_time, victim.stats.max_time},
                             std::pair{victim.stats.min_time + 1, victim.stats.max_time - 1}}) {
    Column c;
    c.type = victim.type;
    garbage(&c, 0, 3);
    size_t size = 2;
    EXPECT_EQ(damaged->ReadBlockRangeAt(damaged->blocks()[0], a, b, &c, &size).code(),
              absl::StatusCode::kDataLoss);
    EXPECT_EQ(size, 2u);
  }
}

// Fields of one series share byte-identical timestamp columns, which reads
// of verified blocks decode once per thread; a column whose times differ
// (same length, other bytes) or whose prefix was decoded for an earlier end
// must never be served from that decode.
TEST_F(SegmentTest, ReadsOfBlocksWithIdenticalTimesGiveEachBlocksOwnPoints) {
  std::mt19937_64 rng(21);
  Column a = MakeColumn(FieldType::kFloat, 600, rng);
  Column b = a;  // same times, other values
  for (double& v : b.floats) v = v * 2 + 1;
  Column c = a;  // times moved by 1 ns: same encoded length, other bytes
  for (int64_t& t : c.times) t += 1;
  Column d = MakeColumn(FieldType::kInteger, 600, rng);
  d.times = a.times;
  {
    auto w = NewWriter(256);
    ASSERT_TRUE(w->Add(1, 1, a).ok());
    ASSERT_TRUE(w->Add(1, 2, b).ok());
    ASSERT_TRUE(w->Add(1, 3, c).ok());
    ASSERT_TRUE(w->Add(1, 4, d).ok());
    ASSERT_TRUE(w->Finish().ok());
  }
  auto r = OpenOk();
  ASSERT_NE(r, nullptr);
  const std::vector<const Column*> cols = {&a, &b, &c, &d};
  auto expect = [&](uint32_t field, int64_t lo, int64_t hi) {
    const Column& src = *cols[field - 1];
    Column want;
    want.type = src.type;
    for (size_t i = 0; i < src.size(); i++) {
      if (src.times[i] >= lo && src.times[i] <= hi) want.AppendFrom(src, i);
    }
    return want;
  };
  for (int round = 0; round < 300; round++) {
    // Random ranges over random fields, interleaved, so cached decodes of
    // one column meet reads of the others.
    const uint32_t field = 1 + static_cast<uint32_t>(rng() % 4);
    int64_t lo = a.times[rng() % a.size()] + static_cast<int64_t>(rng() % 3) - 1;
    int64_t hi = a.times[rng() % a.size()] + static_cast<int64_t>(rng() % 3) - 1;
    if (round % 5 == 0) hi = kMaxTime;
    if (lo > hi) std::swap(lo, hi);
    std::vector<const BlockHandle*> blocks;
    r->FindBlocks(1, field, lo, hi, &blocks);
    Column got;
    got.type = cols[field - 1]->type;
    for (const BlockHandle* h : blocks) {
      if (round % 3 == 0) {
        Column whole;
        whole.type = h->type;
        ASSERT_TRUE(r->ReadBlock(*h, &whole).ok());
        for (size_t i = 0; i < whole.size(); i++) {
          if (whole.times[i] >= lo && whole.times[i] <= hi) got.AppendFrom(whole, i);
        }
      } else {
        ASSERT_TRUE(r->ReadBlockRange(*h, lo, hi, &got).ok());
      }
    }
    ExpectSameColumn(expect(field, lo, hi), got, absl::StrCat("round ", round, " field ", field));
  }
}

TEST_F(SegmentTest, FlippedIndexOrFooterByteFailsOpenWithDataLoss) {
  WriteSmall();
  const std::string good = Slurp(path_);
  const uint64_t index_offset = DecodeFixed64(good.data() + good.size() - 28);
  for (uint64_t off = index_offset; off < good.size(); off++) {
    for (uint8_t bit : {0x01, 0x80}) {
      std::string bad = good;
      bad[off] ^= bit;
      Spit(path_, bad);
      auto r = SegmentReader::Open(path_);
      ASSERT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << "offset " << off;
      EXPECT_NE(r.status().message().find(path_), absl::string_view::npos);
    }
  }
  // The header too.
  for (uint64_t off = 0; off < 9; off++) {
    std::string bad = good;
    bad[off] ^= 0x04;
    Spit(path_, bad);
    EXPECT_EQ(SegmentReader::Open(path_).status().code(), absl::StatusCode::kDataLoss) << "offset " << off;
  }
}

TEST_F(SegmentTest, TruncatedFileFailsOpenCleanlyAtEveryCut) {
  WriteSmall();
  const std::string good = Slurp(path_);
  for (size_t cut = 0; cut < good.size(); cut++) {
    Spit(path_, good.substr(0, cut));
    auto r = SegmentReader::Open(path_);
    ASSERT_FALSE(r.ok()) << "cut " << cut;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << "cut " << cut;
  }
  // Trailing garbage is damage too (the footer is no longer at the end).
  Spit(path_, good + "x");
  EXPECT_EQ(SegmentReader::Open(path_).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(SegmentTest, VerifyCatchesStatsThatDisagreeWithTheData) {
  // Forge a file whose index has a valid checksum but a wrong stat: only
  // Verify (which recomputes stats) can notice.
  auto w = NewWriter();
  Column c = Ints({1, 2}, {5, 6});
  ASSERT_TRUE(w->Add(1, 1, c).ok());
  ASSERT_TRUE(w->Finish().ok());
  std::string file = Slurp(path_);
  const size_t footer = file.size() - 28;
  const uint64_t index_offset = DecodeFixed64(file.data() + footer);
  const uint32_t index_len = DecodeFixed32(file.data() + footer + 8);
  // Entry: series 1, field 1, kind, count 2, time0, span, flags, first, last, ...
  // The `first` varint (zigzag(5) = 10) is at entry byte 7, after the
  // index mode byte (raw: a one-entry index does not compress).
  ASSERT_EQ(file[index_offset], 0);
  ASSERT_EQ(file[index_offset + 1 + 7], 10);
  file[index_offset + 1 + 7] = 12;  // first = 6
  EncodeFixed32(file.data() + footer + 12,
                crc32c::Mask(crc32c::Value(file.data() + index_offset, index_len)));
  Spit(path_, file);
  auto r = OpenOk();
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->blocks()[0].stats.first_i, 6);
  Column out;
  out.type = FieldType::kInteger;
  EXPECT_TRUE(r->ReadBlock(r->blocks()[0], &out).ok());
  EXPECT_EQ(r->Verify().code(), absl::StatusCode::kDataLoss);
}

// Bytes per block outside the codecs: the index entry, the crc, the codec
// id bytes. Printed for the report; bounded so a regression shows.
TEST_F(SegmentTest, IndexOverheadPerBlockIsSmall) {
  std::mt19937_64 rng(5);
  const int kSeries = 200;
  auto w = NewWriter(1000);
  for (int s = 0; s < kSeries; s++) {
    Column c = MakeColumn(FieldType::kFloat, 2880, rng);                          // 8 h at 10 s: 3 blocks
    for (double& v : c.floats) v = 20.0 + static_cast<double>(rng() % 100) / 10;  // no specials
    ASSERT_TRUE(w->Add(static_cast<uint64_t>(s) * 3 + 1, 1, c).ok());
  }
  auto info = w->Finish();
  ASSERT_TRUE(info.ok());
  const std::string file = Slurp(path_);
  const uint32_t index_len = DecodeFixed32(file.data() + file.size() - 20);
  const double per_entry = static_cast<double>(index_len) / static_cast<double>(info->blocks);
  std::printf("float blocks: %llu, index %u bytes, %.1f bytes/entry, fixed file overhead %zu bytes\n",
              static_cast<unsigned long long>(info->blocks), index_len, per_entry, size_t{9 + 28});
  EXPECT_LT(per_entry, 64);  // five distinct float stats are 40 of these bytes

  // Single-point integer columns: the worst case for index overhead.
  ASSERT_TRUE(RemoveFile(path_).ok());
  auto w2 = NewWriter();
  for (int s = 0; s < kSeries; s++) {
    Column c = Ints({kT0 + s}, {s % 7});
    ASSERT_TRUE(w2->Add(static_cast<uint64_t>(s) + 1, 2, c).ok());
  }
  ASSERT_TRUE(w2->Finish().ok());
  const std::string file2 = Slurp(path_);
  const uint32_t index_len2 = DecodeFixed32(file2.data() + file2.size() - 20);
  std::printf("1-point int blocks: %.1f bytes/entry\n", static_cast<double>(index_len2) / kSeries);
  EXPECT_LT(static_cast<double>(index_len2) / kSeries, 12);
}

// The contents of engine/segment/testdata/segment_v1.seg, a file written by
// the version-1 writer (before the entropy-coded int blocks and the
// compressed index): deterministic without <random>'s distributions, so the
// test can rebuild the expected columns on any platform.
std::vector<std::pair<std::pair<uint64_t, uint32_t>, Column>> GoldenColumns() {
  std::vector<std::pair<std::pair<uint64_t, uint32_t>, Column>> out;
  uint64_t x = 0x9e3779b97f4a7c15;
  auto next = [&x] {  // splitmix64
    uint64_t z = (x += 0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    return z ^ (z >> 31);
  };
  Column walk;  // a 3-decimal random walk, long enough for several blocks
  walk.type = FieldType::kFloat;
  int64_t level = 12000;
  for (int i = 0; i < 700; i++) {
    level += static_cast<int64_t>(next() % 81) - 40;
    walk.times.push_back(kT0 + i * kStep + static_cast<int64_t>(next() % 500) * 1'000'000);
    walk.floats.push_back(static_cast<double>(level) / 1000);
  }
  out.push_back({{1, 1}, walk});
  Column counter;
  counter.type = FieldType::kInteger;
  int64_t bytes = 0;
  for (int i = 0; i < 300; i++) {
    bytes = i == 150 ? 0 : bytes + static_cast<int64_t>(next() % 5000);
    counter.times.push_back(kT0 + i * kStep);
    counter.ints.push_back(bytes);
  }
  out.push_back({{1, 2}, counter});
  out.push_back({{2, 1}, Uints({kT0, kT0 + kStep}, {0, UINT64_MAX})});
  out.push_back({{2, 3}, Bools({kT0, kT0 + 1, kT0 + 2}, {1, 0, 1})});
  out.push_back({{3, 1}, Strings({-5, 0, 5}, {"", "idle", "run"})});
  for (uint64_t s = 10; s < 40; s++) {  // many short series
    Column c;
    c.type = FieldType::kFloat;
    for (int i = 0; i < 5; i++) {
      c.times.push_back(kT0 + i * kStep);
      c.floats.push_back(static_cast<double>(next() % 100000) / 100);
    }
    out.push_back({{s, 1}, c});
  }
  Column specials = Floats(
      {INT64_MIN + 2, -1, 0, INT64_MAX - 1},
      {std::numeric_limits<double>::quiet_NaN(), -0.0, -std::numeric_limits<double>::infinity(), 1e300});
  out.push_back({{50, 0}, specials});
  return out;
}

void WriteGolden(SegmentWriter* w) {
  for (const auto& [key, c] : GoldenColumns()) ASSERT_TRUE(w->Add(key.first, key.second, c).ok());
}

void ExpectSameColumn(const Column& a, const Column& b) {
  ASSERT_EQ(a.type, b.type);
  EXPECT_EQ(a.times, b.times);
  ASSERT_EQ(a.floats.size(), b.floats.size());
  for (size_t i = 0; i < a.floats.size(); i++) {
    EXPECT_EQ(std::bit_cast<uint64_t>(a.floats[i]), std::bit_cast<uint64_t>(b.floats[i])) << i;
  }
  EXPECT_EQ(a.ints, b.ints);
  EXPECT_EQ(a.uints, b.uints);
  EXPECT_EQ(a.bools, b.bools);
  EXPECT_EQ(a.strings, b.strings);
}

// Very many short series: the version-2 index is one zstd frame, a
// fraction of the raw entries, and reads back exactly.
TEST_F(SegmentTest, ManyShortSeriesGetACompressedIndex) {
  std::mt19937_64 rng(21);
  std::vector<Column> cols;
  auto w = NewWriter();
  for (uint64_t s = 1; s <= 2000; s++) {
    Column c;
    c.type = FieldType::kFloat;
    for (int i = 0; i < 5; i++) {
      c.times.push_back(kT0 + i * kStep);
      c.floats.push_back(static_cast<double>(3300 + static_cast<int>(rng() % 200)) / 1000);
    }
    ASSERT_TRUE(w->Add(s * 7, 1, c).ok());
    cols.push_back(std::move(c));
  }
  ASSERT_TRUE(w->Finish().ok());
  const std::string file = Slurp(path_);
  EXPECT_EQ(file[8], 3);  // format version (index layout of version 2)
  const size_t footer = file.size() - 28;
  const uint64_t index_offset = DecodeFixed64(file.data() + footer);
  const uint32_t index_len = DecodeFixed32(file.data() + footer + 8);
  ASSERT_EQ(file[index_offset], 1);  // zstd
  std::string_view section(file.data() + index_offset + 1, index_len - 1);
  uint64_t raw_len = 0;
  ASSERT_TRUE(GetVarint64(&section, &raw_len));
  std::printf("2000 five-point blocks: index %u bytes stored, %llu raw (%.1f / %.1f bytes per entry)\n",
              index_len, static_cast<unsigned long long>(raw_len), index_len / 2000.0, raw_len / 2000.0);
  EXPECT_LT(index_len * 2, raw_len);
  auto r = OpenOk();
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(r->blocks().size(), 2000u);
  ASSERT_TRUE(r->Verify().ok());
  for (uint64_t s = 1; s <= 2000; s += 97)
    ExpectSameColumn(ReadAll(*r, s * 7, 1, FieldType::kFloat), cols[s - 1]);

  // A torn footer is salvaged through the compressed index too.
  Spit(path_, file.substr(0, file.size() - 5));
  auto salvaged = SegmentReader::OpenSalvaging(path_);
  ASSERT_TRUE(salvaged.ok()) << salvaged.status();
  EXPECT_EQ((*salvaged)->blocks().size(), 2000u);

  // Hostile index sections with a valid checksum: each is kDataLoss.
  auto forge = [&](std::string section_bytes) {
    std::string f = file.substr(0, index_offset) + section_bytes;
    PutFixed64(&f, index_offset);
    PutFixed32(&f, static_cast<uint32_t>(section_bytes.size()));
    PutFixed32(&f, crc32c::Mask(crc32c::Value(section_bytes)));
    PutFixed32(&f, 2000);
    f += "M2SEGEND";
    return f;
  };
  const std::string good = file.substr(index_offset, index_len);
  ASSERT_TRUE((Spit(path_, forge(good)), SegmentReader::Open(path_).ok()));
  std::string frame = good.substr(1);
  std::string_view fv(frame);
  GetVarint64(&fv, &raw_len);
  const std::string zframe(fv);
  auto with_len = [&](uint64_t len, std::string_view z) {
    std::string b(1, '\x01');
    PutVarint64(&b, len);
    b.append(z);
    return b;
  };
  const std::string bad[] = {
      std::string(),                                           // no mode byte
      "\x02" + good.substr(1),                                 // unknown mode
      with_len(raw_len + 1, zframe),                           // length disagrees with the frame
      with_len(raw_len - 1, zframe),                           //
      with_len(0, zframe),                                     // zero length
      with_len(uint64_t{1} << 40, zframe),                     // absurd length
      with_len(raw_len, zframe.substr(0, zframe.size() - 1)),  // cut frame
      with_len(raw_len, zframe + "x"),                         // trailing bytes
      with_len(raw_len, std::string(zframe.size(), 'z')),      // not a frame
      "\x00" + good.substr(1),                                 // compressed bytes read as raw entries
  };
  for (size_t i = 0; i < std::size(bad); i++) {
    Spit(path_, forge(bad[i]));
    EXPECT_EQ(SegmentReader::Open(path_).status().code(), absl::StatusCode::kDataLoss) << i;
  }
}

// Writes a golden file (the current writer's version) when
// M2MDB_WRITE_GOLDEN_V1 is set: run only with the writer whose version the
// file is to keep (segment_v1.seg: a version-1 writer; segment_v2.seg: 297fef2).
TEST_F(SegmentTest, WritesGoldenV1) {
  const char* out = std::getenv("M2MDB_WRITE_GOLDEN_V1");
  if (out == nullptr) GTEST_SKIP() << "M2MDB_WRITE_GOLDEN_V1 not set";
  auto w = NewWriter(256);
  WriteGolden(w.get());
  ASSERT_TRUE(w->Finish().ok());
  Spit(out, Slurp(path_));
}

// Every reader reads every older version's golden file.
void SegmentTest::ReadGolden(int version) {
  // The source tree is compiled in: gtest_discover_tests keeps only the first
  // entry of a test's ENVIRONMENT list, so M2MDB_SOURCE_DIR may be unset.
  const char* src = std::getenv("M2MDB_SOURCE_DIR");
  if (src == nullptr) src = M2MDB_TEST_SOURCE_DIR;
  const std::string golden = absl::StrCat(src, "/engine/segment/testdata/segment_v", version, ".seg");
  const std::string data = Slurp(golden);
  ASSERT_GT(data.size(), 9u);
  ASSERT_EQ(data[8], version) << "a golden file keeps its version";
  Spit(path_, data);
  auto r = OpenOk();
  ASSERT_NE(r, nullptr);
  ASSERT_TRUE(r->Verify().ok());
  for (const auto& [key, c] : GoldenColumns()) {
    SCOPED_TRACE(absl::StrCat(key.first, "/", key.second));
    ExpectSameColumn(ReadAll(*r, key.first, key.second, c.type), c);
  }
}

TEST_F(SegmentTest, ReadsTheVersion1GoldenFile) { ReadGolden(1); }
TEST_F(SegmentTest, ReadsTheVersion2GoldenFile) { ReadGolden(2); }

// Writes the fuzz seed corpus (small files) when M2MDB_SEGMENT_SEED_DIR is
// set, e.g. M2MDB_SEGMENT_SEED_DIR=engine/segment/segment_fuzz_corpus
// build/tests/m2mdb_segment_tests --gtest_filter='*FuzzSeeds*'.
TEST_F(SegmentTest, WritesFuzzSeeds) {
  const char* out_dir = std::getenv("M2MDB_SEGMENT_SEED_DIR");
  if (out_dir == nullptr) GTEST_SKIP() << "M2MDB_SEGMENT_SEED_DIR not set";
  ASSERT_TRUE(CreateDirs(out_dir).ok());
  auto save = [&](const std::string& name) {
    const std::string data = Slurp(path_);
    EXPECT_LT(data.size(), 4096u) << name;
    Spit(absl::StrCat(out_dir, "/", name), data);
    ASSERT_TRUE(RemoveFile(path_).ok());
  };
  {
    auto w = NewWriter();
    ASSERT_TRUE(w->Finish().ok());
    save("empty.seg");
  }
  {
    std::mt19937_64 rng(11);
    auto w = NewWriter(8);
    ASSERT_TRUE(w->Add(1, 1, MakeColumn(FieldType::kFloat, 20, rng)).ok());
    ASSERT_TRUE(w->Add(1, 2, MakeColumn(FieldType::kInteger, 10, rng)).ok());
    ASSERT_TRUE(w->Add(2, 1, MakeColumn(FieldType::kUnsigned, 6, rng)).ok());
    ASSERT_TRUE(w->Add(2, 3, MakeColumn(FieldType::kBoolean, 12, rng)).ok());
    ASSERT_TRUE(w->Add(7, 1, MakeColumn(FieldType::kString, 5, rng)).ok());
    ASSERT_TRUE(w->Finish().ok());
    save("mixed.seg");
  }
  {
    Column c;
    c.type = FieldType::kFloat;
    for (int i = 0; i < 100; i++) {
      c.times.push_back(kT0 + i * kStep);
      c.floats.push_back(21.5 + (i % 4) * 0.25);
    }
    auto w = NewWriter(40);
    ASSERT_TRUE(w->Add(42, 0, c).ok());
    ASSERT_TRUE(w->Finish().ok());
    save("float_regular.seg");
  }
  {
    auto w = NewWriter();
    Column s = Strings({-5, 0, 5}, {"", std::string("\0\x01", 2), "on"});
    ASSERT_TRUE(w->Add(3, 9, s).ok());
    Column b = Bools({INT64_MIN + 2, INT64_MAX - 1}, {1, 0});
    ASSERT_TRUE(w->Add(4, 0, b).ok());
    ASSERT_TRUE(w->Finish().ok());
    save("strings_bools.seg");
  }
  {
    // Enough short series for a compressed (version-2) index.
    auto w = NewWriter();
    std::mt19937_64 rng(13);
    for (uint64_t s = 1; s <= 60; s++) {
      Column c;
      c.type = FieldType::kFloat;
      for (int i = 0; i < 5; i++) {
        c.times.push_back(kT0 + i * kStep);
        c.floats.push_back(static_cast<double>(rng() % 1000) / 100);
      }
      ASSERT_TRUE(w->Add(s, 1, c).ok());
    }
    ASSERT_TRUE(w->Finish().ok());
    ASSERT_EQ(Slurp(path_)[DecodeFixed64(Slurp(path_).data() + Slurp(path_).size() - 28)], 1);
    save("short_series_zstd_index.seg");
  }
  {
    // A column long enough for entropy-coded int blocks.
    auto w = NewWriter();
    Column c;
    c.type = FieldType::kFloat;
    int64_t level = 3000;
    std::mt19937_64 rng(14);
    for (int i = 0; i < 300; i++) {
      level += static_cast<int64_t>(rng() % 81) - 40;
      c.times.push_back(kT0 + i * kStep + static_cast<int64_t>(rng() % 500) * 1000000);
      c.floats.push_back(static_cast<double>(level));
    }
    ASSERT_TRUE(w->Add(5, 2, c).ok());
    ASSERT_TRUE(w->Finish().ok());
    save("entropy_blocks.seg");
  }
}

}  // namespace
}  // namespace m2mdb::segment
