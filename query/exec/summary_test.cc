// Aggregates from segment block statistics (ScanRequest::summary_fields)
// must answer exactly what decoding every block answers. Randomized: data is
// written in rounds, flushed, partly overwritten, written out of order and
// deleted, and every query runs with block summaries on and off.
#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "m2mdb/db.h"
#include "m2mdb/query/executor.h"
#include "query/exec/exec.h"

namespace m2mdb::query {
namespace {

constexpr int64_t kSec = 1000000000ll;
constexpr int64_t kBase = 1704067200ll * kSec;  // 2024-01-01T00:00:00Z

class SummaryQueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("m2mdb_summary_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    second_thread_ = exec::UseSecondQueryThread();
  }
  void Open(uint32_t block_points, int64_t partition_ns) {
    Options o;
    o.data_dir = dir_.string();
    o.wal_sync = WalSyncMode::kNone;
    o.background_work = false;
    o.max_block_points = block_points;
    o.compaction_trigger = 1000;  // segments pile up: more overlap between them
    auto db = DB::Open(o);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->CreateDatabase({.name = "t", .partition_ns = partition_ns}).ok());
  }
  void TearDown() override {
    exec::SetUseBlockSummaries(true);
    exec::SetUseSecondQueryThread(second_thread_);
    if (db_) (void)db_->Close();
    std::filesystem::remove_all(dir_);
  }
  std::vector<StatementResult> Run(const std::string& q, bool summaries) {
    exec::SetUseBlockSummaries(summaries);
    QueryOptions o;
    o.database = "t";
    o.now = kBase + 86400 * kSec;
    Executor e(db_.get());
    auto r = e.Execute(q, o);
    exec::SetUseBlockSummaries(true);
    return r;
  }
  // Blocks a one-window scan of `field` returns as summaries (to check the
  // data does exercise both paths).
  size_t SummarisedBlocks(const std::string& field) {
    ScanRequest req;
    req.database = "t";
    req.measurement = "m";
    req.fields = {field};
    req.summary_fields = {field};
    size_t n = 0;
    EXPECT_TRUE(db_->Scan(req,
                          [&](const SeriesData& sd) {
                            n += sd.summaries[0].size();
                            return absl::OkStatus();
                          })
                    .ok());
    return n;
  }
  std::filesystem::path dir_;
  std::unique_ptr<DB> db_;
  bool second_thread_ = false;
};

// Floats within 1e-9 relative, not exact: a block's sum is accumulated over
// the block alone and then added to the window's sum, where decoding adds
// the same values one by one in a single pass; the rounding differs. Values
// are non-negative so no cancellation magnifies it. Everything else
// (integers, unsigned, times, nulls, tags, names) must match exactly.
void ExpectSame(const std::string& q, const std::vector<StatementResult>& a,
                const std::vector<StatementResult>& b) {
  ASSERT_EQ(a.size(), b.size()) << q;
  for (size_t s = 0; s < a.size(); s++) {
    ASSERT_EQ(a[s].error, b[s].error) << q;
    ASSERT_EQ(a[s].series.size(), b[s].series.size()) << q;
    for (size_t k = 0; k < a[s].series.size(); k++) {
      const ResultSeries& x = a[s].series[k];
      const ResultSeries& y = b[s].series[k];
      ASSERT_EQ(x.name, y.name) << q;
      ASSERT_EQ(x.tags, y.tags) << q;
      ASSERT_EQ(x.columns, y.columns) << q;
      ASSERT_EQ(x.values.size(), y.values.size()) << q;
      for (size_t r = 0; r < x.values.size(); r++) {
        ASSERT_EQ(x.values[r].size(), y.values[r].size()) << q;
        for (size_t c = 0; c < x.values[r].size(); c++) {
          const Value& u = x.values[r][c];
          const Value& v = y.values[r][c];
          ASSERT_EQ(u.index(), v.index()) << q << " row " << r << " column " << x.columns[c];
          if (u.index() == 1) {
            const double p = std::get<double>(u), w = std::get<double>(v);
            if (std::isnan(p) || std::isnan(w)) {
              EXPECT_EQ(std::isnan(p), std::isnan(w)) << q;
            } else {
              EXPECT_LE(std::fabs(p - w), 1e-9 * std::max({std::fabs(p), std::fabs(w), 1e-300}))
                  << q << " row " << r << " column " << x.columns[c] << ": " << p << " vs " << w;
            }
            // min/max/first/last return a stored value: bit-exact (-0 vs 0 too).
            const std::string& col = x.columns[c];
            if (col == "min" || col == "max" || col == "first" || col == "last") {
              EXPECT_EQ(std::signbit(p), std::signbit(w)) << q << " row " << r;
              EXPECT_EQ(p, w) << q << " row " << r;
            }
          } else {
            EXPECT_TRUE(u == v) << q << " row " << r << " column " << x.columns[c];
          }
        }
      }
    }
  }
}

std::string Float(std::mt19937_64& rng) {
  const int kind = static_cast<int>(rng() % 20);
  if (kind == 0) return "0";
  if (kind == 1) return "-0";
  return std::to_string(static_cast<double>(rng() % 1000000) / 100.0);
}

std::string Int(std::mt19937_64& rng) {
  // Now and then a huge value: integer sums wrap, the mean's double sum
  // does not, so such blocks must be decoded for a mean.
  if (rng() % 50 == 0) return std::to_string(static_cast<int64_t>(rng() >> 2) - (int64_t{1} << 61)) + "i";
  return std::to_string(static_cast<int64_t>(rng() % 2001) - 1000) + "i";
}

std::string Uint(std::mt19937_64& rng) {
  if (rng() % 50 == 0) return std::to_string(rng() >> 1) + "u";
  return std::to_string(rng() % 1000000) + "u";
}

void WriteRandom(DB* db, std::mt19937_64& rng, int rounds) {
  const char* hosts[] = {"a", "b", "c"};
  std::vector<int64_t> next(3, 0);  // per host: the next in-order tick
  for (int round = 0; round < rounds; round++) {
    std::string body;
    for (int h = 0; h < 3; h++) {
      const int n = 50 + static_cast<int>(rng() % 200);
      for (int k = 0; k < n; k++) {
        int64_t tick;
        const int kind = static_cast<int>(rng() % 20);
        if (kind == 0 && next[h] > 0) {
          tick = static_cast<int64_t>(rng() % static_cast<uint64_t>(next[h]));  // overwrite / fill a gap
        } else {
          tick = next[h];
          next[h] += 1 + (rng() % 8 == 0 ? static_cast<int64_t>(rng() % 30) : 0);  // some gaps
        }
        const int64_t t = kBase + tick * kSec;
        body += std::string("m,host=") + hosts[h] + " f=" + Float(rng) + ",i=" + Int(rng) + ",u=" + Uint(rng);
        if (rng() % 4 == 0) body += std::string(",b=") + (rng() % 2 ? "true" : "false") + ",s=\"x\"";
        body += " " + std::to_string(t) + "\n";
      }
    }
    auto r = db->WriteLineProtocol("t", body, {});
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->errors.empty()) << r->errors[0].reason;
    if (rng() % 6 == 0) {
      const int64_t from = kBase + static_cast<int64_t>(rng() % 3000) * kSec;
      DeleteRequest del{"t",
                        "m",
                        {{"host", TagOp::kEqual, hosts[rng() % 3]}},
                        from,
                        from + static_cast<int64_t>(rng() % 120) * kSec};
      ASSERT_TRUE(db->Delete(del).ok());
    }
    // Most rounds are flushed; the last stays in the head.
    if (round + 1 < rounds && rng() % 4 != 0) {
      ASSERT_TRUE(db->Flush().ok());
    }
  }
}

std::vector<std::string> Queries(std::mt19937_64& rng) {
  const std::vector<std::string> fns = {"count", "sum", "mean", "min", "max", "first", "last", "spread"};
  const std::vector<std::string> fields = {"f", "i", "u"};
  const std::vector<std::string> groups = {"",
                                           " GROUP BY host",
                                           " GROUP BY time(1m)",
                                           " GROUP BY time(1m), host",
                                           " GROUP BY time(5m, 20s)",
                                           " GROUP BY time(7s) fill(none)",
                                           " GROUP BY time(1h), *",
                                           " GROUP BY time(10m, -3m) fill(previous)"};
  std::vector<std::string> out;
  for (int k = 0; k < 120; k++) {
    const std::string& field = fields[rng() % fields.size()];
    std::string sel;
    const int calls = 1 + static_cast<int>(rng() % 3);
    for (int c = 0; c < calls; c++) {
      if (c) sel += ", ";
      sel += fns[rng() % fns.size()] + "(" + field + ")";
    }
    std::string where;
    const std::string& group = groups[rng() % groups.size()];
    const int64_t lo = kBase + static_cast<int64_t>(rng() % 1500) * kSec + static_cast<int64_t>(rng() % 1000);
    const int64_t hi = lo + static_cast<int64_t>(rng() % 4000) * kSec;
    switch (rng() % 3) {
      case 0:
        where =
            " WHERE time >= " + std::to_string(kBase) + " AND time < " + std::to_string(kBase + 86400 * kSec);
        break;
      case 1:
        where = " WHERE time >= " + std::to_string(lo) + " AND time <= " + std::to_string(hi);
        break;
      default:
        where = group.find("time(") == std::string::npos ? "" : " WHERE time >= " + std::to_string(lo);
        break;
    }
    if (rng() % 5 == 0) where += where.empty() ? " WHERE host != 'b'" : " AND host != 'b'";
    out.push_back("SELECT " + sel + " FROM m" + where + group);
  }
  // A lone selector without GROUP BY time returns its point's time.
  for (const std::string& f : fields) {
    for (const char* fn : {"min", "max", "first", "last"}) {
      out.push_back(std::string("SELECT ") + fn + "(" + f + ") FROM m");
      out.push_back(std::string("SELECT ") + fn + "(" + f + ") FROM m GROUP BY host");
    }
  }
  // Boolean and string fields: count alone is accumulated (and summarised),
  // other calls over them need the points.
  out.push_back("SELECT count(b) FROM m");
  out.push_back("SELECT count(s), count(f), mean(f) FROM m WHERE time >= " + std::to_string(kBase) +
                " GROUP BY time(5m), host");
  out.push_back("SELECT count(b), count(s) FROM m WHERE time >= " + std::to_string(kBase) +
                " GROUP BY time(1m)");
  out.push_back("SELECT count(b), count(s), first(s), max(b) FROM m GROUP BY time(1m)");
  // Aggregates that need points.
  out.push_back("SELECT stddev(f), mean(f) FROM m GROUP BY time(1m)");
  out.push_back("SELECT median(i), count(i) FROM m");
  out.push_back("SELECT count(f) FROM m WHERE f > 100 GROUP BY time(1m)");
  return out;
}

TEST_F(SummaryQueryTest, RandomizedSameAnswersWithAndWithoutBlockStatistics) {
  for (uint64_t seed : {1u, 2u, 3u, 4u, 5u, 6u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    TearDown();
    SetUp();
    // Blocks of 16..64 points (16..64+ s) and, for two seeds, partitions of
    // 10 minutes so windows and blocks meet partition edges.
    std::mt19937_64 rng(seed);
    Open(16u << (seed % 3), seed % 3 == 2 ? 600 * kSec : 0);
    WriteRandom(db_.get(), rng, 12);
    ASSERT_GT(SummarisedBlocks("f"), 0u);
    ASSERT_GT(SummarisedBlocks("i"), 0u);
    ASSERT_GT(SummarisedBlocks("s"), 0u);
    size_t answered = 0, total = 0;
    for (const std::string& q : Queries(rng)) {
      auto on = Run(q, true);
      auto off = Run(q, false);
      ExpectSame(q, on, off);
      if (HasFatalFailure()) return;
      total++;
      if (on.size() == 1 && on[0].error.empty() && !on[0].series.empty()) {
        answered++;
      } else if (on.size() == 1 && !on[0].error.empty()) {
        ADD_FAILURE() << q << ": " << on[0].error;
      }
    }
    // Nearly every query has rows (a narrow range may miss a deleted stretch).
    EXPECT_GT(answered, total * 9 / 10);
  }
}

// Splitting a query's series (and its groups) over a second thread gives the
// one-thread answers: 100 series, so the split is taken when allowed.
TEST_F(SummaryQueryTest, SecondThreadAnswersAsOneThread) {
  Open(64, 0);
  std::mt19937_64 rng(5);
  for (int round = 0; round < 3; round++) {
    std::string body;
    for (int h = 0; h < 100; h++) {
      for (int k = 0; k < 40; k++) {
        const int64_t t = kBase + (round * 40 + k) * 10 * kSec + static_cast<int64_t>(h);
        body += "m,host=h" + std::to_string(h) + ",rack=r" + std::to_string(h % 7) + " f=" + Float(rng) +
                ",i=" + Int(rng) + " " + std::to_string(t) + "\n";
      }
    }
    auto r = db_->WriteLineProtocol("t", body, {});
    ASSERT_TRUE(r.ok()) << r.status();
    if (round < 2) {
      ASSERT_TRUE(db_->Flush().ok());
    }
  }
  const std::vector<std::string> queries = {
      "SELECT count(f), mean(f), sum(i), min(f), max(i), first(f), last(i), spread(f) FROM m",
      "SELECT mean(f), max(i) FROM m GROUP BY host",
      "SELECT mean(f), count(i) FROM m GROUP BY time(1m), rack",
      "SELECT sum(f), last(f) FROM m WHERE time >= '2024-01-01T00:05:00Z' GROUP BY time(3m), host fill(0)",
      "SELECT min(f), first(i) FROM m WHERE rack =~ /r[1-4]/ GROUP BY time(2m)",
      "SELECT median(f), percentile(i, 90) FROM m GROUP BY host",
      "SELECT max(f), host FROM m GROUP BY time(5m)",
      "SELECT count(f) FROM m GROUP BY *",
  };
  for (const std::string& q : queries) {
    exec::SetUseSecondQueryThread(false);
    auto one = Run(q, true);
    exec::SetUseSecondQueryThread(true);
    auto two = Run(q, true);
    exec::SetUseSecondQueryThread(false);
    ASSERT_FALSE(one.empty()) << q;
    ASSERT_TRUE(one[0].error.empty()) << q << ": " << one[0].error;
    ASSERT_FALSE(one[0].series.empty()) << q;
    ExpectSame(q, one, two);
  }
}

}  // namespace
}  // namespace m2mdb::query
