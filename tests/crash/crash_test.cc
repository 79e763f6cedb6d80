// Crash test: a child process writes batches and reports each acknowledged
// one; the test kills it with SIGKILL at random moments (including right
// after it announces a flush or a compaction), reopens the directory and
// checks that every acknowledged point is there, that nothing unacknowledged
// is corrupt, and that every checksum is intact. Rounds continue on the same
// directory, so recovery of recovered state is tested too.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "m2mdb/db.h"
#include "tests/support/test_util.h"

namespace m2mdb {
namespace {

std::string WriterPath() {
  const char* b = std::getenv("M2MDB_BUILD_DIR");
  return std::string(b ? b : "build") + "/tests/crash_writer";
}

struct RoundResult {
  long last_ack = -1;
  long first = 0;
};

// Runs the writer from batch `first` and kills it per `mode`:
// 0 = after a random number of acks, 1 = right after "FLUSH", 2 = right after
// "COMPACT".
RoundResult RunAndKill(const std::string& dir, long first, int mode, std::mt19937_64& rng, const char* sync) {
  RoundResult rr;
  rr.first = first;
  int pipefd[2];
  EXPECT_EQ(0, pipe(pipefd));
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], 1);
    close(pipefd[0]);
    std::string f = std::to_string(first);
    execl(WriterPath().c_str(), "crash_writer", dir.c_str(), f.c_str(), sync, nullptr);
    _exit(127);
  }
  close(pipefd[1]);
  const long target_acks = 5 + static_cast<long>(rng() % 120);
  const int delay_us = static_cast<int>(rng() % 3000);
  std::string buf;
  bool kill_now = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!kill_now && std::chrono::steady_clock::now() < deadline) {
    struct pollfd p {pipefd[0], POLLIN, 0};
    if (poll(&p, 1, 1000) <= 0) continue;
    char tmp[4096];
    ssize_t n = read(pipefd[0], tmp, sizeof(tmp));
    if (n <= 0) break;
    buf.append(tmp, n);
    size_t pos;
    while ((pos = buf.find('\n')) != std::string::npos) {
      std::string line = buf.substr(0, pos);
      buf.erase(0, pos + 1);
      if (line.rfind("ACK ", 0) == 0) {
        rr.last_ack = std::atol(line.c_str() + 4);
        if (mode == 0 && rr.last_ack - first + 1 >= target_acks) kill_now = true;
      } else if ((mode == 1 && line.rfind("FLUSH ", 0) == 0) || (mode == 2 && line.rfind("COMPACT ", 0) == 0)) {
        if (std::atol(line.c_str() + (mode == 1 ? 6 : 8)) - first > 3) kill_now = true;
      }
    }
  }
  if (kill_now && mode != 0) std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
  kill(pid, SIGKILL);
  // Acks printed before the kill landed are acknowledged too: drain them.
  for (;;) {
    char tmp[4096];
    ssize_t n = read(pipefd[0], tmp, sizeof(tmp));
    if (n <= 0) break;
    buf.append(tmp, n);
  }
  size_t pos;
  while ((pos = buf.find('\n')) != std::string::npos) {
    std::string line = buf.substr(0, pos);
    buf.erase(0, pos + 1);
    if (line.rfind("ACK ", 0) == 0) rr.last_ack = std::atol(line.c_str() + 4);
  }
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status)) << "writer exited by itself with status " << status;
  return rr;
}

void RunCrashTest(const char* sync, int rounds, uint64_t seed) {
  testing::TempDir dir;
  std::string data = dir.path() + "/data";
  std::mt19937_64 rng(seed);
  std::vector<RoundResult> acked;
  long next = 0;
  for (int round = 0; round < rounds; round++) {
    int mode = round % 3;
    RoundResult rr = RunAndKill(data, next, mode, rng, sync);
    ASSERT_GE(rr.last_ack, rr.first) << "round " << round << ": no batch acknowledged";
    acked.push_back(rr);
    next = rr.last_ack + 1000;  // unacked batches of this round may exist; skip past them

    Options o;
    o.data_dir = data;
    o.background_work = false;
    auto db = DB::Open(o);
    ASSERT_TRUE(db.ok()) << db.status();
    // Collect every stored point: time -> (v, x).
    std::map<int64_t, std::pair<int64_t, double>> got;
    ScanRequest req{"crash", "m", {}, {"v", "x"}, kMinTime, kMaxTime};
    ASSERT_OK((*db)->Scan(req, [&](const SeriesData& sd) {
      const Column& v = sd.columns[0];
      const Column& x = sd.columns[1];
      EXPECT_EQ(v.size(), x.size()) << sd.key;
      for (size_t i = 0; i < v.size() && i < x.size(); i++) {
        EXPECT_EQ(v.times[i], x.times[i]);
        got[v.times[i]] = {v.ints[i], x.floats[i]};
        // Whatever is stored, acknowledged or not, must be a value the
        // writer wrote for that time: nothing corrupt.
        const int64_t k = v.times[i] / 100;
        EXPECT_EQ(k, v.ints[i]) << "t=" << v.times[i];
        EXPECT_EQ(static_cast<double>(k) + 0.5, x.floats[i]) << "t=" << v.times[i];
        EXPECT_EQ("m,w=w" + std::to_string(k % 7), sd.key);
      }
      return absl::OkStatus();
    }));
    for (const auto& r : acked) {
      for (long k = r.first; k <= r.last_ack; k++) {
        for (int l = 0; l < 50; l++) {
          ASSERT_TRUE(got.count(k * 100 + l)) << "round " << round << " (kill mode " << mode << "): acknowledged batch "
                                              << k << " line " << l << " lost";
        }
      }
    }
    auto problems = (*db)->Check();
    ASSERT_TRUE(problems.ok());
    EXPECT_TRUE(problems->empty()) << (*problems)[0].file << ": " << (*problems)[0].message;
  }
}

TEST(CrashTest, AcknowledgedWritesSurviveSigkillWithDurableSync) { RunCrashTest("always", 9, 1); }

// kNone never fsyncs, but a process kill (not a power cut) loses nothing
// either: every acknowledged record was written to the kernel.
TEST(CrashTest, AcknowledgedWritesSurviveSigkillWithoutFsync) { RunCrashTest("none", 6, 2); }

}  // namespace
}  // namespace m2mdb
