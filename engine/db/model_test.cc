// Model test: random writes (out of order, overwrites, several series and
// types), deletes, drops, flushes, compactions and reopenings against a
// simple in-memory model; every read must equal the model. Deterministic
// seeds; M2MDB_MODEL_SEEDS / M2MDB_MODEL_OPS raise the effort for soak runs.
#include <cstdlib>
#include <map>
#include <random>

#include "engine/db/db_impl.h"
#include "gtest/gtest.h"
#include "m2mdb/db.h"
#include "tests/support/test_util.h"

namespace m2mdb {
namespace {

using Model = std::map<std::string, std::map<std::string, std::map<int64_t, FieldValue>>>;

int EnvInt(const char* name, int def) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : def;
}

class ModelRunner {
 public:
  explicit ModelRunner(uint64_t seed) : rng_(seed) {
    options_.data_dir = dir_.path() + "/data";
    options_.background_work = false;
    options_.max_block_points = 16;  // many blocks per column
    options_.compaction_trigger = 2;  // tiered compaction cascades often
    Reopen();
    EXPECT_TRUE(db_->CreateDatabase({"db", 0, 0}).ok());
  }

  void Reopen() {
    db_.reset();
    auto db = DB::Open(options_);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }

  void Run(int ops) {
    for (int op = 0; op < ops; op++) {
      int r = rng_() % 100;
      if (r < 60) {
        WriteBatch();
      } else if (r < 66) {
        ASSERT_OK(db_->Flush());
      } else if (r < 70) {
        ASSERT_OK(db_->Flush());
        ASSERT_OK(static_cast<DBImpl*>(db_.get())->MaintainForTesting());
      } else if (r < 75) {
        ASSERT_OK(db_->Compact());
      } else if (r < 82) {
        // Half the reopens skip the flush at close, so the WAL is replayed.
        options_.flush_on_close = rng_() % 2;
        Reopen();
      } else if (r < 92) {
        DeleteRange();
      } else if (r < 95) {
        DropSeries();
      }
      if (op % 5 == 0 || op == ops - 1) Verify(op);
      if (::testing::Test::HasFatalFailure() || ::testing::Test::HasNonfatalFailure()) return;
    }
  }

 private:
  std::string SeriesKey(int s) { return "m,host=h" + std::to_string(s) + (s % 2 ? ",rack=r1" : ""); }
  int64_t RandomTime() {
    // Three days so points cross partitions; clustered so overwrites happen.
    const int64_t day = 86400ll * 1000000000ll;
    return static_cast<int64_t>(rng_() % 3) * day + static_cast<int64_t>(rng_() % 50) * 1000;
  }

  void WriteBatch() {
    std::string body;
    int lines = 1 + rng_() % 20;
    struct Pending {
      std::string key;
      std::string field;
      int64_t t;
      FieldValue v;
    };
    std::vector<Pending> pending;
    for (int l = 0; l < lines; l++) {
      int s = rng_() % 5;
      int64_t t = RandomTime();
      std::string line = SeriesKey(s) + " ";
      int nf = 1 + rng_() % 3;
      bool first = true;
      static const char* kFields[] = {"f", "i", "s", "b"};
      int start = rng_() % 4;
      for (int k = 0; k < nf; k++) {
        std::string fname = kFields[(start + k) % 4];
        FieldValue v;
        std::string text;
        if (fname == "f") {
          double d = static_cast<double>(static_cast<int>(rng_() % 20000) - 10000) / 100.0;
          v = FieldValue::Float(d);
          text = std::to_string(d);
          v.f = std::stod(text);
        } else if (fname == "i") {
          int64_t x = static_cast<int64_t>(rng_()) >> (rng_() % 63);
          v = FieldValue::Int(x);
          text = std::to_string(x) + "i";
        } else if (fname == "s") {
          std::string str = "v" + std::to_string(rng_() % 100) + (rng_() % 4 == 0 ? " with \\\"quotes\\\"" : "");
          text = "\"" + str + "\"";
          std::string unescaped;
          for (size_t i = 0; i < str.size(); i++) {
            if (str[i] == '\\' && i + 1 < str.size()) i++;
            unescaped += str[i];
          }
          v = FieldValue::String(unescaped);
        } else {
          bool b = rng_() % 2;
          v = FieldValue::Bool(b);
          text = b ? "true" : "false";
        }
        if (!first) line += ",";
        first = false;
        line += fname + "=" + text;
        pending.push_back({SeriesKey(s), fname, t, v});
      }
      line += " " + std::to_string(t) + "\n";
      body += line;
    }
    auto r = db_->WriteLineProtocol("db", body, {});
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->errors.empty()) << r->errors[0].reason;
    for (auto& p : pending) model_[p.key][p.field][p.t] = p.v;
  }

  void DeleteRange() {
    int s = rng_() % 5;
    int64_t a = RandomTime(), b = RandomTime();
    if (a > b) std::swap(a, b);
    DeleteRequest req{"db", "m", {{"host", TagOp::kEqual, "h" + std::to_string(s)}}, a, b};
    ASSERT_OK(db_->Delete(req));
    auto it = model_.find(SeriesKey(s));
    if (it == model_.end()) return;
    for (auto& [f, pts] : it->second) {
      pts.erase(pts.lower_bound(a), pts.upper_bound(b));
    }
  }

  void DropSeries() {
    int s = rng_() % 5;
    ASSERT_OK(db_->DropSeries("db", "m", {{"host", TagOp::kEqual, "h" + std::to_string(s)}}));
    model_.erase(SeriesKey(s));
  }

  void Verify(int op) {
    Model got;
    int64_t lo = kMinTime, hi = kMaxTime;
    if (rng_() % 2) {
      lo = RandomTime();
      hi = lo + static_cast<int64_t>(rng_() % 2) * 86400ll * 1000000000ll + 20000;
    }
    ScanRequest req{"db", "m", {}, {}, lo, hi};
    ASSERT_OK(db_->Scan(req, [&](const SeriesData& sd) {
      for (size_t k = 0; k < sd.columns.size(); k++) {
        const Column& c = sd.columns[k];
        for (size_t i = 0; i < c.size(); i++) got[sd.key][sd.field_names[k]][c.times[i]] = c.ValueAt(i);
      }
      return absl::OkStatus();
    }));
    Model want;
    for (const auto& [key, fields] : model_) {
      for (const auto& [f, pts] : fields) {
        for (auto it = pts.lower_bound(lo); it != pts.end() && it->first <= hi; ++it) want[key][f][it->first] = it->second;
      }
    }
    ASSERT_EQ(want.size(), got.size()) << "op " << op;
    for (const auto& [key, fields] : want) {
      ASSERT_TRUE(got.count(key)) << key << " op " << op;
      for (const auto& [f, pts] : fields) {
        const auto& g = got[key][f];
        ASSERT_EQ(pts.size(), g.size()) << key << " " << f << " op " << op;
        for (const auto& [t, v] : pts) {
          auto it = g.find(t);
          ASSERT_TRUE(it != g.end()) << key << " " << f << " t=" << t << " op " << op;
          ASSERT_TRUE(it->second == v) << key << " " << f << " t=" << t << " want " << v.DebugString() << " got "
                                       << it->second.DebugString() << " op " << op;
        }
      }
    }
  }

  testing::TempDir dir_;
  Options options_;
  std::unique_ptr<DB> db_;
  std::mt19937_64 rng_;
  Model model_;
};

TEST(ModelTest, RandomOperationsMatchTheModel) {
  const int seeds = EnvInt("M2MDB_MODEL_SEEDS", 4);
  const int ops = EnvInt("M2MDB_MODEL_OPS", 150);
  for (int seed = 1; seed <= seeds; seed++) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    ModelRunner runner(seed);
    runner.Run(ops);
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace m2mdb
