#include "engine/wal/wal.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "engine/util/file.h"
#include "engine/util/logging.h"

namespace m2mdb::wal {
namespace {

namespace fs = std::filesystem;

struct Rec {
  uint64_t seq;
  std::string payload;
  bool operator==(const Rec& o) const { return seq == o.seq && payload == o.payload; }
};

// Each test gets its own empty directory, removed afterwards; warnings are
// captured so tests can check that a repair was reported.
class WalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/wal_test_", ::getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(RemoveAll(dir_).ok());
    SetLogSink([this](LogLevel level, std::string_view msg) {
      std::lock_guard<std::mutex> l(log_mu_);
      if (level >= LogLevel::kWarning) warnings_.emplace_back(msg);
    });
  }
  void TearDown() override {
    SetLogSink(
        [](LogLevel, std::string_view msg) { fprintf(stderr, "%.*s\n", int(msg.size()), msg.data()); });
    RemoveAll(dir_).IgnoreError();
  }

  WalOptions Opts(WalSyncMode mode = WalSyncMode::kNone, uint64_t segment_bytes = 64 << 20) {
    WalOptions o;
    o.dir = dir_;
    o.sync_mode = mode;
    o.segment_bytes = segment_bytes;
    return o;
  }

  // Opens, collecting what is replayed into `out` (if given).
  std::unique_ptr<Wal> OpenWal(const WalOptions& o, uint64_t replay_from = 0,
                               std::vector<Rec>* out = nullptr) {
    auto w = Wal::Open(o, replay_from, [&](uint64_t seq, std::string_view payload) {
      if (out != nullptr) out->push_back(Rec{seq, std::string(payload)});
      return absl::OkStatus();
    });
    EXPECT_TRUE(w.ok()) << w.status();
    return w.ok() ? std::move(*w) : nullptr;
  }

  std::vector<Rec> ReplayAll(const WalOptions& o, uint64_t replay_from = 0) {
    std::vector<Rec> out;
    auto w = OpenWal(o, replay_from, &out);
    if (w != nullptr) {
      EXPECT_TRUE(w->Close().ok());
    }
    return out;
  }

  std::vector<std::string> Segments() {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) {
      if (e.path().extension() == ".wal") out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::string Path(const std::string& name) { return dir_ + "/" + name; }

  static std::string Payload(uint64_t i, size_t size) {
    std::string s(size, '\0');
    for (size_t j = 0; j < size; ++j) s[j] = static_cast<char>('a' + (i * 7 + j) % 26);
    return s;
  }

  size_t WarningsMentioning(const std::string& needle) {
    std::lock_guard<std::mutex> l(log_mu_);
    return std::count_if(warnings_.begin(), warnings_.end(),
                         [&](const std::string& w) { return w.find(needle) != std::string::npos; });
  }

  std::string dir_;
  std::mutex log_mu_;
  std::vector<std::string> warnings_;
};

std::string ReadAll(const std::string& path) {
  auto s = ReadFileToString(path);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : "";
}

void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), data.size());
}

TEST_F(WalTest, RecordsRoundTripAcrossReopen) {
  std::vector<Rec> want;
  {
    auto w = OpenWal(Opts(WalSyncMode::kAlways));
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(0u, w->last_seq());
    for (uint64_t i = 0; i < 100; ++i) {
      std::string p = Payload(i, i * 13 % 300);
      auto seq = w->Append(p);
      ASSERT_TRUE(seq.ok()) << seq.status();
      EXPECT_EQ(i + 1, *seq);
      want.push_back(Rec{*seq, p});
    }
    ASSERT_TRUE(w->Sync(100).ok());
    EXPECT_EQ(100u, w->last_seq());
    EXPECT_EQ(100u, w->stats().records);
    EXPECT_EQ(w->size_bytes(), w->stats().bytes);
    ASSERT_TRUE(w->Close().ok());
    EXPECT_EQ(absl::StatusCode::kFailedPrecondition, w->Append("x").status().code());
    EXPECT_EQ(absl::StatusCode::kFailedPrecondition, w->Sync(1).code());
    EXPECT_EQ(absl::StatusCode::kFailedPrecondition, w->Close().code());
  }
  std::vector<Rec> got;
  auto w = OpenWal(Opts(WalSyncMode::kAlways), 0, &got);
  EXPECT_EQ(want, got);
  EXPECT_EQ(100u, w->last_seq());
  auto seq = w->Append("after reopen");
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(101u, *seq);
  ASSERT_TRUE(w->Close().ok());
  want.push_back(Rec{101, "after reopen"});
  EXPECT_EQ(want, ReplayAll(Opts()));
}

TEST_F(WalTest, SequenceNumbersStartAtMinNextSeqAndNeverGoBack) {
  WalOptions o = Opts();
  o.min_next_seq = 1000;
  {
    auto w = OpenWal(o);
    EXPECT_EQ(999u, w->last_seq());
    EXPECT_EQ(1000u, *w->Append("a"));
    EXPECT_EQ(1001u, *w->Append("b"));
  }
  o.min_next_seq = 5;  // a stale checkpoint must not rewind the log
  {
    auto w = OpenWal(o);
    EXPECT_EQ(1002u, *w->Append("c"));
  }
  o.min_next_seq = 5000;  // a checkpoint ahead of the log jumps forward
  {
    auto w = OpenWal(o);
    EXPECT_EQ(5000u, *w->Append("d"));
  }
  std::vector<Rec> want = {{1000, "a"}, {1001, "b"}, {1002, "c"}, {5000, "d"}};
  EXPECT_EQ(want, ReplayAll(o, 0));
  EXPECT_EQ(0u, WarningsMentioning("wal"));
}

TEST_F(WalTest, ReplayFromSkipsOlderRecords) {
  {
    auto w = OpenWal(Opts(WalSyncMode::kNone, 200));
    for (uint64_t i = 1; i <= 50; ++i) ASSERT_TRUE(w->Append(Payload(i, 30)).ok());
  }
  ASSERT_GT(Segments().size(), 5u);
  std::vector<Rec> got = ReplayAll(Opts(WalSyncMode::kNone, 200), 23);
  ASSERT_EQ(28u, got.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(23 + i, got[i].seq);
    EXPECT_EQ(Payload(23 + i, 30), got[i].payload);
  }
  EXPECT_TRUE(ReplayAll(Opts(WalSyncMode::kNone, 200), 1000).empty());
}

TEST_F(WalTest, SegmentsWhollyBelowReplayFromAreNotRead) {
  uint64_t second_first = 0;
  {
    auto w = OpenWal(Opts());
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(w->Append("old").ok());
    second_first = *w->Rotate();
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(w->Append("new").ok());
  }
  ASSERT_EQ(11u, second_first);
  // Garble the first segment: it is skipped unread, so nothing is cut.
  std::string first = Path(Segments()[0]);
  std::string data = ReadAll(first);
  for (size_t i = 0; i < data.size(); i += 7) data[i] ^= 0x5a;
  WriteAll(first, data);
  std::vector<Rec> got = ReplayAll(Opts(), second_first);
  ASSERT_EQ(10u, got.size());
  EXPECT_EQ(11u, got.front().seq);
  EXPECT_EQ(0u, WarningsMentioning("dropping"));
  EXPECT_EQ(data.size(), fs::file_size(first));
}

TEST_F(WalTest, SegmentRotatesWhenItWouldPassSegmentBytes) {
  const uint64_t rec = kWalRecordHeaderBytes + 100;
  auto w = OpenWal(Opts(WalSyncMode::kAlways, 3 * rec));
  for (uint64_t i = 1; i <= 10; ++i) ASSERT_TRUE(w->Append(Payload(i, 100)).ok());
  // Three records per segment: 1-3, 4-6, 7-9, 10.
  std::vector<std::string> want = {"00000000000000000001.wal", "00000000000000000004.wal",
                                   "00000000000000000007.wal", "00000000000000000010.wal"};
  EXPECT_EQ(want, Segments());
  EXPECT_EQ(10 * rec, w->size_bytes());
  EXPECT_EQ(3u, w->stats().fsyncs);  // each closed segment was synced
  // A record larger than a segment still goes in, alone.
  ASSERT_TRUE(w->Append(Payload(11, 1000)).ok());
  ASSERT_TRUE(w->Append("x").ok());
  EXPECT_EQ(6u, Segments().size());
  ASSERT_TRUE(w->Close().ok());
  EXPECT_EQ(12u, ReplayAll(Opts()).size());
}

TEST_F(WalTest, RotateClosesTheSegmentAndReturnsTheNextSeq) {
  auto w = OpenWal(Opts(WalSyncMode::kAlways));
  EXPECT_EQ(1u, *w->Rotate());  // nothing to close: a no-op
  EXPECT_EQ(1u, Segments().size());
  ASSERT_TRUE(w->Append("a").ok());
  ASSERT_TRUE(w->Append("b").ok());
  EXPECT_EQ(3u, *w->Rotate());
  EXPECT_EQ(3u, *w->Rotate());
  std::vector<std::string> want = {"00000000000000000001.wal", "00000000000000000003.wal"};
  EXPECT_EQ(want, Segments());
  EXPECT_EQ(3u, *w->Append("c"));
  ASSERT_TRUE(w->Sync(3).ok());
  ASSERT_TRUE(w->Close().ok());
  EXPECT_EQ(3u, ReplayAll(Opts()).size());
}

TEST_F(WalTest, RemoveBeforeDeletesOnlyFullyCoveredClosedSegments) {
  auto w = OpenWal(Opts());
  // Segments: [1,2] [3,4,5] [6] active [7,...]
  ASSERT_TRUE(w->Append("1").ok());
  ASSERT_TRUE(w->Append("2").ok());
  ASSERT_EQ(3u, *w->Rotate());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(w->Append("x").ok());
  ASSERT_EQ(6u, *w->Rotate());
  ASSERT_TRUE(w->Append("6").ok());
  ASSERT_EQ(7u, *w->Rotate());
  ASSERT_TRUE(w->Append("7").ok());
  ASSERT_EQ(4u, Segments().size());
  const uint64_t before = w->size_bytes();

  ASSERT_TRUE(w->RemoveBefore(2).ok());  // seq 2 is still needed
  EXPECT_EQ(4u, Segments().size());
  ASSERT_TRUE(w->RemoveBefore(3).ok());  // [1,2] is wholly below 3
  EXPECT_EQ("00000000000000000003.wal", Segments().front());
  EXPECT_EQ(before - 2 * (kWalRecordHeaderBytes + 1), w->size_bytes());
  ASSERT_TRUE(w->RemoveBefore(5).ok());  // 5 still needed
  EXPECT_EQ(3u, Segments().size());
  ASSERT_TRUE(w->RemoveBefore(1000).ok());  // never the active segment
  std::vector<std::string> want = {"00000000000000000007.wal"};
  EXPECT_EQ(want, Segments());
  EXPECT_EQ(kWalRecordHeaderBytes + 1, w->size_bytes());
  ASSERT_TRUE(w->Append("8").ok());
  ASSERT_TRUE(w->Close().ok());
  std::vector<Rec> got = ReplayAll(Opts(), 7);
  std::vector<Rec> expect = {{7, "7"}, {8, "8"}};
  EXPECT_EQ(expect, got);
}

TEST_F(WalTest, TornTailAtEveryByteIsCutAndLaterAppendsSurvive) {
  const std::string last = Payload(99, 40);
  const uint64_t last_size = kWalRecordHeaderBytes + last.size();
  for (uint64_t keep = 0; keep < last_size; ++keep) {
    SCOPED_TRACE(keep);
    ASSERT_TRUE(RemoveAll(dir_).ok());
    std::string seg;
    {
      auto w = OpenWal(Opts());
      for (uint64_t i = 1; i <= 4; ++i) ASSERT_TRUE(w->Append(Payload(i, 20 + i)).ok());
      ASSERT_TRUE(w->Append(last).ok());
      seg = Segments().back();
    }
    const uint64_t size = fs::file_size(Path(seg));
    ASSERT_TRUE(TruncateFile(Path(seg), size - last_size + keep).ok());
    {
      std::vector<Rec> got;
      auto w = OpenWal(Opts(), 0, &got);
      ASSERT_EQ(4u, got.size());
      for (uint64_t i = 1; i <= 4; ++i) EXPECT_EQ((Rec{i, Payload(i, 20 + i)}), got[i - 1]);
      EXPECT_EQ(size - last_size, fs::file_size(Path(seg)));
      EXPECT_EQ(4u, w->last_seq());
      EXPECT_EQ(5u, *w->Append("replacement"));
      ASSERT_TRUE(w->Close().ok());
    }
    std::vector<Rec> got = ReplayAll(Opts());
    ASSERT_EQ(5u, got.size());
    EXPECT_EQ((Rec{5, "replacement"}), got.back());
    EXPECT_EQ(keep == 0 ? 0u : 1u, WarningsMentioning(seg));
    warnings_.clear();
  }
}

TEST_F(WalTest, CrcCorruptionInTheMiddleCutsThereAndDeletesLaterSegments) {
  std::vector<uint64_t> offsets;  // of records 6.. in the second segment
  {
    auto w = OpenWal(Opts());
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(w->Append(Payload(i, 50)).ok());
    ASSERT_EQ(6u, *w->Rotate());
    for (int i = 5; i < 10; ++i) ASSERT_TRUE(w->Append(Payload(i, 50)).ok());
    ASSERT_EQ(11u, *w->Rotate());
    for (int i = 10; i < 15; ++i) ASSERT_TRUE(w->Append(Payload(i, 50)).ok());
  }
  std::vector<std::string> segs = Segments();
  ASSERT_EQ(3u, segs.size());
  // Flip one payload byte of record 8 (third of the middle segment).
  const uint64_t rec = kWalRecordHeaderBytes + 50;
  std::string data = ReadAll(Path(segs[1]));
  data[2 * rec + kWalRecordHeaderBytes + 10] ^= 1;
  WriteAll(Path(segs[1]), data);

  std::vector<Rec> got;
  auto w = OpenWal(Opts(), 0, &got);
  ASSERT_EQ(7u, got.size());
  EXPECT_EQ(7u, got.back().seq);
  EXPECT_EQ(2 * rec, fs::file_size(Path(segs[1])));
  EXPECT_FALSE(fs::exists(Path(segs[2])));
  EXPECT_EQ(1u, WarningsMentioning(absl::StrCat(segs[1], " at offset ", 2 * rec)));
  EXPECT_EQ(1u, WarningsMentioning(absl::StrCat("dropping ", 3 * rec + 5 * rec, " bytes")));
  EXPECT_EQ(8u, *w->Append("new 8"));
  ASSERT_TRUE(w->Close().ok());
  got = ReplayAll(Opts());
  ASSERT_EQ(8u, got.size());
  EXPECT_EQ("new 8", got.back().payload);
}

TEST_F(WalTest, GarbageAppendedToASegmentIsCut) {
  {
    auto w = OpenWal(Opts());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(w->Append(Payload(i, 10)).ok());
  }
  const std::string seg = Path(Segments().back());
  const uint64_t size = fs::file_size(seg);
  std::string data = ReadAll(seg) + std::string(1000, '\xab');
  WriteAll(seg, data);
  std::vector<Rec> got = ReplayAll(Opts());
  EXPECT_EQ(3u, got.size());
  EXPECT_EQ(size, fs::file_size(seg));
  EXPECT_EQ(1u, WarningsMentioning("dropping 1000 bytes"));
}

TEST_F(WalTest, RecordWithUnexpectedSeqEndsTheLog) {
  {
    auto w = OpenWal(Opts());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(w->Append("abc").ok());
  }
  // Duplicate record 2 (a valid CRC, but a repeated seq) after record 3.
  const std::string seg = Path(Segments().back());
  std::string data = ReadAll(seg);
  const size_t rec = kWalRecordHeaderBytes + 3;
  WriteAll(seg, data + data.substr(rec, rec));
  EXPECT_EQ(3u, ReplayAll(Opts()).size());
  EXPECT_EQ(1u, WarningsMentioning("seq 2 where 4 was expected"));
  EXPECT_EQ(3 * rec, fs::file_size(seg));
}

TEST_F(WalTest, EmptySegmentFilesAreFine) {
  ASSERT_TRUE(CreateDirs(dir_).ok());
  WriteAll(Path("00000000000000000001.wal"), "");
  {
    std::vector<Rec> got;
    auto w = OpenWal(Opts(), 0, &got);
    EXPECT_TRUE(got.empty());
    EXPECT_EQ(1u, *w->Append("a"));
    EXPECT_EQ(2u, *w->Rotate());
  }
  // A crash right after a rotation leaves an empty newest segment.
  WriteAll(Path("00000000000000000002.wal"), "");
  {
    std::vector<Rec> got;
    auto w = OpenWal(Opts(), 2, &got);  // the only segment with records is skipped
    EXPECT_TRUE(got.empty());
    EXPECT_EQ(2u, *w->Append("b"));
  }
  std::vector<Rec> want = {{1, "a"}, {2, "b"}};
  EXPECT_EQ(want, ReplayAll(Opts()));
  EXPECT_EQ(0u, WarningsMentioning("dropping"));
}

TEST_F(WalTest, ConcurrentAppendersReplayExactlyOnceInSeqOrderWithGroupCommit) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 2000;
  {
    WalOptions o = Opts(WalSyncMode::kAlways, 256 << 10);  // rotations race with syncs too
    // A disk whose fsync takes 200 us, whatever /tmp is (on tmpfs fdatasync
    // returns at once and no caller would ever wait behind another).
    o.fsync_hook_for_testing = [] {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      return absl::OkStatus();
    };
    auto w = OpenWal(o);
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          auto seq = w->Append(absl::StrCat(t, ":", i));
          if (!seq.ok() || !w->Sync(*seq).ok()) failures++;
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(0, failures.load());
    WalStats s = w->stats();
    EXPECT_EQ(uint64_t{kThreads * kPerThread}, s.records);
    // One Sync per record; group commit makes one fsync cover many.
    EXPECT_LT(s.fsyncs, uint64_t{kThreads * kPerThread} / 2) << "fsyncs " << s.fsyncs;
    EXPECT_GT(s.fsync_nanos, 0u);
    printf("group commit: %llu records, %llu fsyncs\n", static_cast<unsigned long long>(s.records),
           static_cast<unsigned long long>(s.fsyncs));
    ASSERT_TRUE(w->Close().ok());
  }
  ASSERT_GT(Segments().size(), 1u);
  std::vector<Rec> got = ReplayAll(Opts());
  ASSERT_EQ(size_t{kThreads * kPerThread}, got.size());
  std::vector<int> next(kThreads, 0);  // each thread's records in its own order
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(i + 1, got[i].seq);
    int t = std::stoi(got[i].payload.substr(0, got[i].payload.find(':')));
    ASSERT_EQ(absl::StrCat(t, ":", next[t]), got[i].payload);
    next[t]++;
  }
}

TEST_F(WalTest, BatchModeSyncsInTheBackground) {
  WalOptions o = Opts(WalSyncMode::kBatch);
  o.batch_interval_ms = 5;
  auto w = OpenWal(o);
  auto seq = w->Append("batched");
  ASSERT_TRUE(seq.ok());
  ASSERT_TRUE(w->Sync(*seq).ok());  // returns at once
  for (int i = 0; i < 400 && w->stats().fsyncs == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE(w->stats().fsyncs, 1u);
  // Idle: no new data, no more fsyncs.
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const uint64_t idle = w->stats().fsyncs;
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(idle, w->stats().fsyncs);
  ASSERT_TRUE(w->Close().ok());
}

TEST_F(WalTest, NoneModeNeverFsyncs) {
  auto w = OpenWal(Opts(WalSyncMode::kNone, 100));
  for (int i = 0; i < 20; ++i) {
    auto seq = w->Append(Payload(i, 40));
    ASSERT_TRUE(seq.ok());
    ASSERT_TRUE(w->Sync(*seq).ok());
  }
  ASSERT_TRUE(w->Rotate().ok());
  EXPECT_GT(Segments().size(), 5u);
  ASSERT_TRUE(w->Close().ok());
  EXPECT_EQ(0u, w->stats().fsyncs);
  EXPECT_EQ(20u, ReplayAll(Opts()).size());
}

TEST_F(WalTest, EmptyAndFiveMegabyteRecordsRoundTrip) {
  const std::string big = Payload(5, 5 << 20);
  {
    auto w = OpenWal(Opts(WalSyncMode::kAlways, 1 << 20));
    EXPECT_EQ(1u, *w->Append(""));
    EXPECT_EQ(2u, *w->Append(big));
    EXPECT_EQ(3u, *w->Append(""));
    ASSERT_TRUE(w->Sync(3).ok());
    // Over the 1 GiB limit: rejected before the payload is touched.
    std::string_view huge(big.data(), kMaxWalRecordBytes + 1);
    EXPECT_EQ(absl::StatusCode::kInvalidArgument, w->Append(huge).status().code());
    EXPECT_EQ(3u, w->last_seq());
    EXPECT_EQ(absl::StatusCode::kInvalidArgument, w->Sync(4).code());
  }
  std::vector<Rec> want = {{1, ""}, {2, big}, {3, ""}};
  EXPECT_EQ(want, ReplayAll(Opts()));
}

TEST_F(WalTest, FailedFsyncDropsTheUnsyncedRecordsAndAppendsResume) {
  WalOptions o = Opts(WalSyncMode::kAlways);
  auto fail = std::make_shared<std::atomic<bool>>(false);
  o.fsync_hook_for_testing = [fail]() -> Status {
    if (fail->load()) return absl::InternalError("fdatasync /secret/path/x.wal: Input/output error");
    return absl::OkStatus();
  };
  {
    auto w = OpenWal(o);
    auto s1 = w->Append("ok");
    ASSERT_TRUE(s1.ok());
    ASSERT_TRUE(w->Sync(*s1).ok());
    auto s2 = w->Append("doomed");
    ASSERT_TRUE(s2.ok());
    fail->store(true);
    Status e = w->Sync(*s2);
    EXPECT_FALSE(e.ok());
    EXPECT_EQ(std::string::npos, std::string(e.message()).find("/secret")) << e;  // no paths for clients
    EXPECT_FALSE(w->health().ok());
    EXPECT_EQ(1u, w->failures());
    EXPECT_FALSE(w->Append("while failing").ok());  // recovery's fsync fails too
    fail->store(false);
    // A retry "succeeding" proves nothing for "doomed": it stays failed. The
    // log itself recovers on the next append (past the retry interval).
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    auto s3 = w->Append("later");
    ASSERT_TRUE(s3.ok()) << s3.status();
    EXPECT_TRUE(w->health().ok());
    EXPECT_TRUE(w->Sync(*s3).ok());
    EXPECT_FALSE(w->Sync(*s2).ok());
    ASSERT_TRUE(w->Close().ok());
  }
  std::vector<Rec> got = ReplayAll(Opts());
  ASSERT_EQ(2u, got.size());
  EXPECT_EQ("ok", got[0].payload);
  EXPECT_EQ("later", got[1].payload);
  EXPECT_GT(got[1].seq, got[0].seq);
  for (const std::string& w : warnings_) EXPECT_EQ(std::string::npos, w.find("ends there")) << w;
}

TEST_F(WalTest, TornWriteIsCutAndAppendsResumeInANewSegment) {
  for (WalSyncMode mode : {WalSyncMode::kAlways, WalSyncMode::kBatch, WalSyncMode::kNone}) {
    RemoveAll(dir_).IgnoreError();
    WalOptions o = Opts(mode);
    auto full = std::make_shared<std::atomic<bool>>(false);
    o.append_hook_for_testing = [full]() -> Status {
      if (full->load()) return absl::ResourceExhaustedError("write /secret/x.wal: No space left on device");
      return absl::OkStatus();
    };
    {
      auto w = OpenWal(o);
      auto a = w->Append("acked-1");
      ASSERT_TRUE(a.ok());
      ASSERT_TRUE(w->Sync(*a).ok());
      auto b = w->Append("written-not-synced");
      ASSERT_TRUE(b.ok());
      full->store(true);
      auto c = w->Append("torn");
      ASSERT_FALSE(c.ok());
      EXPECT_TRUE(absl::IsResourceExhausted(c.status())) << c.status();
      EXPECT_EQ(std::string::npos, std::string(c.status().message()).find("/secret")) << c.status();
      if (mode == WalSyncMode::kAlways) {
        EXPECT_FALSE(w->Sync(*b).ok());
      }
      EXPECT_FALSE(w->health().ok());
      std::this_thread::sleep_for(std::chrono::milliseconds(150));
      EXPECT_FALSE(w->Append("still full").ok());
      full->store(false);
      std::this_thread::sleep_for(std::chrono::milliseconds(150));
      auto d = w->Append("acked-2");
      ASSERT_TRUE(d.ok()) << d.status();
      ASSERT_TRUE(w->Sync(*d).ok());
      EXPECT_TRUE(w->health().ok());
      EXPECT_EQ(2u, w->failures());
      ASSERT_TRUE(w->Close().ok());
    }
    // The torn record is gone, nothing behind it was cut: the complete
    // record before it (its writer saw an error, but it was whole) stays.
    std::vector<Rec> got = ReplayAll(Opts());
    ASSERT_EQ(3u, got.size()) << static_cast<int>(mode);
    EXPECT_EQ("acked-1", got[0].payload);
    EXPECT_EQ("written-not-synced", got[1].payload);
    EXPECT_EQ("acked-2", got[2].payload);
    for (const std::string& w : warnings_) EXPECT_EQ(std::string::npos, w.find("ends there")) << w;
    warnings_.clear();
  }
}

TEST_F(WalTest, ScanWalReportsWhereTheLogIsDamaged) {
  {
    auto w = OpenWal(Opts());
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(w->Append("abcd").ok());
  }
  std::vector<uint64_t> seqs;
  auto visit = [&](const WalRecordInfo& info, std::string_view payload) {
    seqs.push_back(info.seq);
    EXPECT_EQ("abcd", payload);
    EXPECT_EQ((info.seq - 1) * (kWalRecordHeaderBytes + 4), info.offset);
    return absl::OkStatus();
  };
  ASSERT_TRUE(ScanWal(dir_, visit).ok());
  EXPECT_EQ((std::vector<uint64_t>{1, 2, 3, 4}), seqs);
  const std::string seg = Segments().back();
  std::string data = ReadAll(Path(seg));
  data[2 * (kWalRecordHeaderBytes + 4) + 8] ^= 1;  // record 3's seq
  WriteAll(Path(seg), data);
  seqs.clear();
  Status s = ScanWal(dir_, visit);
  EXPECT_EQ(absl::StatusCode::kDataLoss, s.code());
  EXPECT_NE(std::string::npos, s.message().find(absl::StrCat(seg, " at offset 40")));
  EXPECT_EQ(2u, seqs.size());
  EXPECT_EQ(data.size(), fs::file_size(Path(seg)));  // read-only
}

TEST_F(WalTest, ReplayErrorAbortsOpen) {
  {
    auto w = OpenWal(Opts());
    ASSERT_TRUE(w->Append("a").ok());
  }
  auto w = Wal::Open(Opts(), 0, [](uint64_t, std::string_view) { return absl::DataLossError("bad batch"); });
  EXPECT_EQ(absl::StatusCode::kDataLoss, w.status().code());
  EXPECT_EQ(1u, ReplayAll(Opts()).size());  // nothing was cut
}

// --- WalReader (durable subscriptions) ---

std::vector<Rec> ReadSome(WalReader* r, uint64_t max_bytes = UINT64_MAX) {
  std::vector<Rec> out;
  auto n = r->Read(max_bytes, [&](uint64_t seq, std::string_view payload) {
    out.push_back(Rec{seq, std::string(payload)});
    return absl::OkStatus();
  });
  EXPECT_TRUE(n.ok()) << n.status();
  return out;
}

TEST_F(WalTest, ReaderSeesRecordsAcrossRotationsWhileAppending) {
  auto w = OpenWal(Opts(WalSyncMode::kAlways, 256));
  auto reader = w->NewReader(1);
  EXPECT_TRUE(ReadSome(reader.get()).empty());
  std::vector<Rec> want;
  for (uint64_t i = 0; i < 50; ++i) {
    auto seq = w->Append(Payload(i, 40));
    ASSERT_TRUE(seq.ok());
    ASSERT_TRUE(w->Sync(*seq).ok());
    want.push_back(Rec{*seq, Payload(i, 40)});
    if (i % 7 == 0) {
      ASSERT_TRUE(w->Rotate().ok());
    }
  }
  EXPECT_GT(Segments().size(), 5u);
  std::vector<Rec> got;
  for (;;) {
    auto part = ReadSome(reader.get(), 100);  // a few records per call
    if (part.empty()) break;
    got.insert(got.end(), part.begin(), part.end());
  }
  EXPECT_EQ(want, got);
  EXPECT_EQ(reader->next_seq(), w->last_seq() + 1);
  // A new record after the reader caught up is seen by the next Read.
  auto seq = w->Append("late");
  ASSERT_TRUE(seq.ok() && w->Sync(*seq).ok());
  EXPECT_EQ(ReadSome(reader.get()), (std::vector<Rec>{{*seq, "late"}}));
}

TEST_F(WalTest, ReaderStopsAtTheDurableSeq) {
  WalOptions o = Opts(WalSyncMode::kAlways);
  auto w = OpenWal(o);
  auto s1 = w->Append("one");
  ASSERT_TRUE(s1.ok() && w->Sync(*s1).ok());
  auto s2 = w->Append("two");  // not yet synced: not acknowledged
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(w->durable_seq(), *s1);
  auto reader = w->NewReader(1);
  EXPECT_EQ(ReadSome(reader.get()).size(), 1u);
  ASSERT_TRUE(w->Sync(*s2).ok());
  EXPECT_EQ(ReadSome(reader.get()), (std::vector<Rec>{{*s2, "two"}}));
}

TEST_F(WalTest, ReaderStartsMidSegmentAndReportsRemovedSegments) {
  auto w = OpenWal(Opts());
  for (uint64_t i = 1; i <= 10; ++i) ASSERT_TRUE(w->Append(Payload(i, 10)).ok());
  auto next = w->Rotate();
  ASSERT_TRUE(next.ok());
  auto mid = w->NewReader(6);
  auto got = ReadSome(mid.get());
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got.front().seq, 6u);
  EXPECT_EQ(w->BytesFrom(6), 10 * (kWalRecordHeaderBytes + 10));
  EXPECT_EQ(mid->backlog_bytes(), 0u);  // read to the end (of a closed segment)
  auto head = w->NewReader(1);
  ASSERT_EQ(ReadSome(head.get(), 1).size(), 1u);  // one record
  EXPECT_EQ(head->backlog_bytes(), 9 * (kWalRecordHeaderBytes + 10));
  EXPECT_EQ(w->BytesFrom(*next), 0u);
  ASSERT_TRUE(w->RemoveBefore(*next).ok());
  EXPECT_EQ(w->first_seq(), *next);
  auto old = w->NewReader(3);
  auto r = old->Read(1, [](uint64_t, std::string_view) { return absl::OkStatus(); });
  EXPECT_TRUE(absl::IsOutOfRange(r.status())) << r.status();
}

TEST_F(WalTest, ReaderSkipsTheSeqGapAfterReopenAtAHigherMinNextSeq) {
  {
    auto w = OpenWal(Opts());
    ASSERT_TRUE(w->Append("a").ok());
    ASSERT_TRUE(w->Close().ok());
  }
  WalOptions o = Opts();
  o.min_next_seq = 100;  // e.g. a checkpoint ahead of the log
  auto w = OpenWal(o);
  auto seq = w->Append("b");
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 100u);
  auto reader = w->NewReader(1);
  EXPECT_EQ(ReadSome(reader.get()), (std::vector<Rec>{{1, "a"}, {100, "b"}}));
}

TEST_F(WalTest, ReaderReportsACorruptRecordAndStaysBeforeIt) {
  auto w = OpenWal(Opts());
  ASSERT_TRUE(w->Append("good").ok());
  ASSERT_TRUE(w->Append("evil").ok());
  ASSERT_TRUE(w->Rotate().ok());
  std::string seg = Path(Segments().front());
  std::string data = ReadAll(seg);
  data[data.size() - 1] ^= 1;  // the last payload byte
  WriteAll(seg, data);
  auto reader = w->NewReader(1);
  std::vector<Rec> got;
  auto r = reader->Read(UINT64_MAX, [&](uint64_t seq, std::string_view p) {
    got.push_back(Rec{seq, std::string(p)});
    return absl::OkStatus();
  });
  EXPECT_TRUE(absl::IsDataLoss(r.status())) << r.status();
  EXPECT_EQ(got, (std::vector<Rec>{{1, "good"}}));
  EXPECT_EQ(reader->next_seq(), 2u);
}

}  // namespace
}  // namespace m2mdb::wal
