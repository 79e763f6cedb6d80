// WritePoints writes typed points without rendering them as text (issue 17
// item 8). These tests hold it to the line-protocol path: the same points
// written both ways store the same data, with the same types and the same
// rejections (line numbers and messages), before and after a WAL replay.
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "engine/db/write_batch.h"
#include "m2mdb/db.h"
#include "tests/support/test_util.h"

namespace m2mdb {
namespace {

using testing::TempDir;

class WritePointsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.data_dir = dir_.path() + "/data";
    options_.background_work = false;
    Open();
    ASSERT_OK(db_->CreateDatabase({"typed", 0, 0}));
    ASSERT_OK(db_->CreateDatabase({"text", 0, 0}));
  }
  void Open() {
    auto db = DB::Open(options_);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }
  void Reopen() {
    ASSERT_OK(db_->Close());
    db_.reset();
    Open();
  }

  // Writes `points` to "typed" with WritePoints and, rendered one line per
  // point, to "text" with WriteLineProtocol; expects the same result.
  void WriteBoth(const std::vector<Point>& points) {
    std::string body;
    for (const Point& p : points) AppendPointAsLineProtocol(p, &body);
    auto typed = db_->WritePoints("typed", points, {});
    auto text = db_->WriteLineProtocol("text", body, {});
    ASSERT_TRUE(typed.ok()) << typed.status();
    ASSERT_TRUE(text.ok()) << text.status();
    EXPECT_EQ(typed->points_written, text->points_written);
    EXPECT_EQ(typed->values_written, text->values_written);
    ASSERT_EQ(typed->errors.size(), text->errors.size());
    for (size_t k = 0; k < typed->errors.size(); k++) {
      EXPECT_EQ(typed->errors[k].line, text->errors[k].line);
      EXPECT_EQ(typed->errors[k].reason, text->errors[k].reason);
    }
  }

  // Every point of database `db`: "key field" -> "time:value(type),...".
  std::map<std::string, std::string> Dump(const std::string& db) {
    std::map<std::string, std::string> out;
    auto ms = db_->Measurements(db);
    EXPECT_TRUE(ms.ok()) << ms.status();
    if (!ms.ok()) return out;
    for (const auto& m : *ms) {
      ScanRequest req;
      req.database = db;
      req.measurement = m;
      Status s = db_->Scan(req, [&](const SeriesData& sd) {
        for (size_t k = 0; k < sd.columns.size(); k++) {
          std::string& dst = out[sd.key + " " + sd.field_names[k]];
          for (size_t i = 0; i < sd.columns[k].size(); i++) {
            absl::StrAppend(&dst, sd.columns[k].times[i], ":", sd.columns[k].ValueAt(i).DebugString(), "(",
                            static_cast<int>(sd.columns[k].type), "),");
          }
        }
        return absl::OkStatus();
      });
      EXPECT_TRUE(s.ok()) << s;
    }
    return out;
  }

  void ExpectSameData() {
    auto typed = Dump("typed");
    auto text = Dump("text");
    EXPECT_FALSE(typed.empty());
    EXPECT_EQ(typed, text);
  }

  TempDir dir_;
  Options options_;
  std::unique_ptr<DB> db_;
};

Point P(std::string m, std::vector<std::pair<std::string, std::string>> tags,
        std::vector<std::pair<std::string, FieldValue>> fields, int64_t t) {
  Point p;
  p.measurement = std::move(m);
  p.tags = std::move(tags);
  p.fields = std::move(fields);
  p.timestamp = t;
  return p;
}

TEST_F(WritePointsTest, EdgeCasesMatchLineProtocol) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<Point> points = {
      P("cpu", {{"host", "a"}, {"dc", "eu"}}, {{"u", FieldValue::Float(0.5)}, {"n", FieldValue::Int(3)}}, 10),
      P("cpu", {{"dc", "eu"}, {"host", "a"}}, {{"u", FieldValue::Float(0.25)}}, 20),  // same series
      P("cpu", {{"host", "a"}}, {{"u", FieldValue::Int(1)}}, 30),                     // type conflict
      P("my cpu,x", {{"ho st", "a=b"}, {"k,", "v\\"}}, {{"f \"q\"", FieldValue::Float(1)}}, 40),
      P("#comment", {}, {{"f", FieldValue::Float(1)}}, 50),  // a comment when rendered: dropped silently
      P("", {}, {{"f", FieldValue::Float(1)}}, 60),
      P("m", {}, {}, 70),
      P("m", {{"a", "1"}, {"a", "2"}}, {{"f", FieldValue::Float(1)}}, 80),
      P("m", {{"time", "1"}}, {{"f", FieldValue::Float(1)}}, 90),
      P("m", {}, {{"time", FieldValue::Float(1)}, {"g", FieldValue::Float(2)}}, 100),
      P("m", {}, {{"time", FieldValue::Float(1)}}, 110),
      P("m", {}, {{"f", FieldValue::Float(nan)}}, 120),
      P("m", {}, {{"f", FieldValue::Float(5e-324)}}, 130),
      P("m", {}, {{"i", FieldValue::Int(INT64_MIN)}}, 140),
      P("m", {}, {{"u", FieldValue::Uint(UINT64_MAX)}}, 150),
      P("m", {}, {{"b", FieldValue::Bool(true)}}, 160),
      P("m", {}, {{"s", FieldValue::String("a \"quoted\" \\ value, é")}}, 170),
      P("m", {}, {{"s", FieldValue::String("bad \xff utf8")}}, 180),
      P("m\xff", {}, {{"f", FieldValue::Float(1)}}, 190),
      P("m", {{"t", "\xc3"}}, {{"f", FieldValue::Float(1)}}, 200),
      P("m", {{"t", ""}}, {{"f", FieldValue::Float(1)}}, 210),
      P("m", {}, {{"f", FieldValue::Float(1)}, {"f", FieldValue::Float(2)}}, 220),
      P("m", {}, {{"f", FieldValue::Float(-0.0)}}, 230),
      P("m", {}, {{"f", FieldValue::Float(1e300)}}, 240),
      P("m", {}, {{"f", FieldValue::Float(0.1)}}, kMinTime),
      P("m", {}, {{"f", FieldValue::Float(0.2)}}, kMaxTime),
      P("m", {}, {{"f", FieldValue::Float(0.3)}}, INT64_MIN),
      P("ünïcode", {{"ключ", "値"}}, {{"поле", FieldValue::Float(2.5)}}, 250),
  };
  WriteBoth(points);
  ExpectSameData();
  Reopen();  // replays both kinds of WAL record
  ExpectSameData();
  ASSERT_OK(db_->Flush());
  ExpectSameData();
}

// WritePoints remembers the series and field-key lists whose names it has
// checked. A point whose names differ but spell the same key ("m,k=v,x=y"
// from measurement "m,k=v", or from a tag value "v,x=y") must not pass as
// the remembered series: it is checked (and escaped) on its own. The same
// tags in another order are the same series.
TEST_F(WritePointsTest, RememberedNamesDoNotVouchForLookalikes) {
  const std::vector<Point> first = {
      P("m", {{"k", "v"}, {"x", "y"}}, {{"a", FieldValue::Float(1)}, {"b", FieldValue::Float(2)}}, 10),
  };
  const std::vector<Point> lookalikes = {
      P("m", {{"k", "v"}, {"x", "y"}}, {{"a", FieldValue::Float(3)}, {"b", FieldValue::Float(4)}}, 20),
      P("m", {{"k", "v,x=y"}}, {{"a", FieldValue::Float(5)}, {"b", FieldValue::Float(6)}}, 30),
      P("m,k=v", {{"x", "y"}}, {{"a", FieldValue::Float(7)}, {"b", FieldValue::Float(8)}}, 40),
      P("m", {{"k", "v"}, {"x", "y"}}, {{"a,b", FieldValue::Float(9)}}, 50),
      P("m", {{"k", "v"}, {"x", "y"}}, {{"a", FieldValue::Float(10)}, {"b", FieldValue::Float(11)}}, 60),
      P("m", {{"x", "y"}, {"k", "v"}}, {{"a", FieldValue::Float(12)}, {"b", FieldValue::Float(13)}}, 70),
  };
  WriteBoth(first);
  WriteBoth(lookalikes);  // remembered from the batch before
  std::vector<Point> both = first;
  both.insert(both.end(), lookalikes.begin(), lookalikes.end());
  for (auto& p : both) p.timestamp += 1000;
  WriteBoth(both);  // and within one batch
  auto typed = Dump("typed");
  // Three series of two measurements ("m", "m,k=v"); the fields of "m"
  // (a, b, "a,b") are listed for both of its series.
  EXPECT_EQ(typed.size(), 8u);
  EXPECT_EQ(typed.count("m,k=v\\,x\\=y a"), 1u);
  EXPECT_EQ(typed.count("m\\,k=v,x=y a"), 1u);
  ExpectSameData();
  Reopen();
  ExpectSameData();
}

TEST_F(WritePointsTest, ErrorsCarryThePointIndex) {
  auto r = db_->WritePoints("typed",
                            {P("m", {}, {{"f", FieldValue::Float(1)}}, 1), P("", {}, {}, 2),
                             P("m", {}, {{"f", FieldValue::Int(1)}}, 3)},
                            {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->points_written, 1u);
  ASSERT_EQ(r->errors.size(), 2u);
  EXPECT_EQ(r->errors[0].line, 2);
  EXPECT_EQ(r->errors[1].line, 3);
}

TEST_F(WritePointsTest, LineLengthLimitMatchesLineProtocol) {
  std::vector<Point> points = {P("m", {{"host", std::string(50, 'x')}}, {{"f", FieldValue::Float(1)}}, 1),
                               P("m", {{"host", "y"}}, {{"f", FieldValue::Float(1)}}, 2)};
  std::string body;
  for (const Point& p : points) AppendPointAsLineProtocol(p, &body);
  WriteOptions o;
  o.max_line_length = 40;
  auto typed = db_->WritePoints("typed", points, o);
  auto text = db_->WriteLineProtocol("text", body, o);
  ASSERT_TRUE(typed.ok() && text.ok());
  ASSERT_EQ(typed->errors.size(), 1u);
  ASSERT_EQ(text->errors.size(), 1u);
  EXPECT_EQ(typed->errors[0].reason, text->errors[0].reason);
  ExpectSameData();
}

// influxd's limit on the series key (models.MaxKeyLength), on both paths.
TEST_F(WritePointsTest, SeriesKeyLongerThan65535BytesIsRejected) {
  std::vector<Point> points = {P("m", {{"t", std::string(65531, 'x')}}, {{"f", FieldValue::Float(1)}}, 1),
                               P("m", {{"t", std::string(65532, 'x')}}, {{"f", FieldValue::Float(1)}}, 2)};
  WriteBoth(points);
  std::string body;
  for (const Point& p : points) AppendPointAsLineProtocol(p, &body);
  auto r = db_->WriteLineProtocol("text", body, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->points_written, 1u);  // "m,t=" + 65531 bytes = 65535: the longest allowed
  ASSERT_EQ(r->errors.size(), 1u);
  EXPECT_EQ(r->errors[0].line, 2);
  EXPECT_NE(r->errors[0].reason.find("': max key length exceeded: 65536 > 65535"), std::string::npos)
      << r->errors[0].reason.substr(r->errors[0].reason.size() - 80);
  ExpectSameData();
}

// Random points over an alphabet full of line-protocol delimiters, escapes
// and UTF-8 (valid and not): whichever path a point takes inside
// WritePoints, the outcome is the text path's.
TEST_F(WritePointsTest, RandomPointsMatchLineProtocol) {
  std::mt19937_64 rng(17);
  const std::vector<std::string> atoms = {"a",  "b", "c", " ",    ",",    "=", "\"",
                                          "\\", "#", "é", "\xff", "time", "x"};
  auto name = [&](int max_atoms) {
    std::string s;
    const int n = static_cast<int>(rng() % (max_atoms + 1));
    for (int k = 0; k < n; k++) {
      // Mostly plain letters, so that most points take the fast path.
      s += rng() % 4 != 0 ? atoms[rng() % 3] : atoms[rng() % atoms.size()];
    }
    return s;
  };
  for (int batch = 0; batch < 4; batch++) {
    std::vector<Point> points;
    for (int k = 0; k < 500; k++) {
      Point p;
      p.measurement = rng() % 8 == 0 ? name(3) : "m" + name(1);
      const int ntags = static_cast<int>(rng() % 4);
      for (int t = 0; t < ntags; t++) p.tags.emplace_back(name(2), name(2));
      const int nfields = static_cast<int>(rng() % 4);
      for (int f = 0; f < nfields; f++) {
        FieldValue v;
        switch (rng() % 6) {
          case 0:
            v = FieldValue::Float(static_cast<double>(rng() % 1000) / 8);
            break;
          case 1:
            v = FieldValue::Int(static_cast<int64_t>(rng() % 1000) - 500);
            break;
          case 2:
            v = FieldValue::Uint(rng() % 1000);
            break;
          case 3:
            v = FieldValue::Bool(rng() % 2 == 0);
            break;
          case 4:
            v = FieldValue::String(name(4));
            break;
          default:
            v = FieldValue::Float(rng() % 50 == 0 ? std::nan("") : -1.5);
            break;
        }
        p.fields.emplace_back(rng() % 5 == 0 ? name(2) : absl::StrCat("f", rng() % 3), std::move(v));
      }
      p.timestamp = static_cast<int64_t>(rng() % 100000);
      points.push_back(std::move(p));
    }
    WriteBoth(points);
  }
  ExpectSameData();
  Reopen();
  ExpectSameData();
}

}  // namespace
// A name with a line break cannot be written as line protocol; rendered, it
// used to come back as several points, the parseable ones written (a SELECT
// INTO "x\ny z=1" created measurement "y z=1"). The point is rejected whole.
TEST_F(WritePointsTest, ALineBreakInANameRejectsThePointAndWritesNothingElse) {
  auto point = [](std::string m, std::vector<std::pair<std::string, std::string>> tags, std::string field) {
    Point p;
    p.measurement = std::move(m);
    p.tags = std::move(tags);
    p.fields = {{std::move(field), FieldValue::Float(1.5)}};
    p.timestamp = 60000000000;
    return p;
  };
  std::vector<Point> points = {
      point("x\ny z=1", {}, "v"), point("m", {{"t", "a\nq v=9 5"}}, "v"), point("m", {{"t\r", "a"}}, "v"),
      point("m", {}, "v\nw"),     point("ok", {{"t", "a"}}, "v"),
  };
  auto r = db_->WritePoints("typed", points, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->points_written, 1u);
  ASSERT_EQ(r->errors.size(), 4u);
  for (int k = 0; k < 4; k++) {
    EXPECT_EQ(r->errors[k].line, k + 1);
    EXPECT_NE(r->errors[k].reason.find("line break"), std::string::npos) << r->errors[k].reason;
  }
  auto ms = db_->Measurements("typed");
  ASSERT_TRUE(ms.ok());
  EXPECT_EQ(*ms, std::vector<std::string>{"ok"});
}

}  // namespace m2mdb
