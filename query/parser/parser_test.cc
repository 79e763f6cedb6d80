// query/parser/parser_test.cc — AST shapes, canonical printing, round trips
// and robustness of the InfluxQL parser. Error texts checked against influxd
// live in influxd_compat_test.cc.
#include "query/parser/parser.h"

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"

#include "m2mdb/query/ast.h"

namespace m2mdb::query {
namespace {

Statement MustParse(std::string_view q) {
  auto s = ParseStatement(q);
  EXPECT_TRUE(s.ok()) << q << "\n" << s.status();
  if (!s.ok()) return Statement{0, ShowDatabasesStatement{}};
  return std::move(*s);
}

SelectStatement MustSelect(std::string_view q) {
  Statement s = MustParse(q);
  auto* sel = s.As<SelectStatement>();
  EXPECT_NE(sel, nullptr) << q;
  if (sel == nullptr) return SelectStatement{};
  return std::move(*sel);
}

ExprPtr MustExpr(std::string_view e) {
  auto r = ParseExpr(e);
  EXPECT_TRUE(r.ok()) << e << "\n" << r.status();
  if (!r.ok()) return MakeExpr(0, BooleanLiteral{false});
  return std::move(*r);
}

std::string ErrorOf(std::string_view q) {
  auto r = ParseQuery(q);
  if (r.ok()) return "OK";
  return std::string(r.status().message());
}

// --- Literals keep their kind -------------------------------------------

TEST(Parser, IntegerAndFloatLiteralsStayDistinct) {
  ExprPtr i = MustExpr("42");
  ASSERT_TRUE(i->Is<IntegerLiteral>());
  EXPECT_EQ(i->As<IntegerLiteral>()->value, 42);
  ExprPtr f = MustExpr("42.0");
  ASSERT_TRUE(f->Is<NumberLiteral>());
  EXPECT_EQ(f->As<NumberLiteral>()->value, 42.0);
  ExprPtr u = MustExpr("18446744073709551615");
  ASSERT_TRUE(u->Is<UnsignedLiteral>());
  EXPECT_EQ(u->As<UnsignedLiteral>()->value, 18446744073709551615ull);
  ExprPtr m = MustExpr("-9223372036854775808");
  ASSERT_TRUE(m->Is<IntegerLiteral>());
  EXPECT_EQ(m->As<IntegerLiteral>()->value, INT64_MIN);
}

TEST(Parser, NegativeLiteralsAreFolded) {
  EXPECT_EQ(MustExpr("-5")->As<IntegerLiteral>()->value, -5);
  EXPECT_EQ(MustExpr("-2.5")->As<NumberLiteral>()->value, -2.5);
  EXPECT_EQ(MustExpr("-1h")->As<DurationLiteral>()->ns, -3'600'000'000'000);
  EXPECT_EQ(MustExpr("+5")->As<IntegerLiteral>()->value, 5);
}

TEST(Parser, UnaryMinusOnNonLiteralsIsANode) {
  ExprPtr e = MustExpr("-value");
  ASSERT_TRUE(e->Is<UnaryMinus>());
  EXPECT_EQ(e->As<UnaryMinus>()->expr->As<VarRef>()->name, "value");
  EXPECT_TRUE(MustExpr("-(a + b)")->Is<UnaryMinus>());
  EXPECT_TRUE(MustExpr("+value")->Is<VarRef>());
}

TEST(Parser, DurationsAreNanoseconds) {
  struct Case {
    const char* text;
    int64_t ns;
  } cases[] = {{"5ns", 5},
               {"10u", 10'000},
               {"10\xC2\xB5", 10'000},
               {"100ms", 100'000'000},
               {"10s", 10'000'000'000},
               {"5m", 300'000'000'000},
               {"1h", 3'600'000'000'000},
               {"1d", 86'400'000'000'000},
               {"1w", 604'800'000'000'000}};
  for (const auto& c : cases) {
    ExprPtr e = MustExpr(c.text);
    ASSERT_TRUE(e->Is<DurationLiteral>()) << c.text;
    EXPECT_EQ(e->As<DurationLiteral>()->ns, c.ns) << c.text;
  }
}

TEST(Parser, StringsRegexesAndBooleans) {
  EXPECT_EQ(MustExpr("'it\\'s'")->As<StringLiteral>()->value, "it's");
  ExprPtr re = MustExpr("host =~ /a\\/b.*/");
  const auto* b = re->As<BinaryExpr>();
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->op, BinaryOp::kEqRegex);
  EXPECT_EQ(b->rhs->As<RegexLiteral>()->pattern, "a/b.*");
  EXPECT_TRUE(MustExpr("TRUE")->As<BooleanLiteral>()->value);
  EXPECT_FALSE(MustExpr("false")->As<BooleanLiteral>()->value);
}

// --- Expressions ---------------------------------------------------------

TEST(Parser, PrecedenceBuildsTheExpectedTree) {
  // a + b * c  =>  a + (b * c)
  ExprPtr e = MustExpr("a + b * c");
  const auto* add = e->As<BinaryExpr>();
  ASSERT_NE(add, nullptr);
  EXPECT_EQ(add->op, BinaryOp::kAdd);
  EXPECT_EQ(add->rhs->As<BinaryExpr>()->op, BinaryOp::kMul);
  // a - b - c  =>  (a - b) - c
  e = MustExpr("a - b - c");
  EXPECT_EQ(e->As<BinaryExpr>()->lhs->As<BinaryExpr>()->op, BinaryOp::kSub);
  // a = 1 OR b = 2 AND c = 3  =>  a = 1 OR (b = 2 AND c = 3)
  e = MustExpr("a = 1 OR b = 2 AND c = 3");
  EXPECT_EQ(e->As<BinaryExpr>()->op, BinaryOp::kOr);
  EXPECT_EQ(e->As<BinaryExpr>()->rhs->As<BinaryExpr>()->op, BinaryOp::kAnd);
  // time > now() - 1h
  e = MustExpr("time > now() - 1h");
  const auto* gt = e->As<BinaryExpr>();
  EXPECT_EQ(gt->op, BinaryOp::kGt);
  const auto* sub = gt->rhs->As<BinaryExpr>();
  ASSERT_NE(sub, nullptr);
  EXPECT_TRUE(sub->lhs->Is<NowCall>());
  EXPECT_TRUE(sub->rhs->Is<DurationLiteral>());
}

TEST(Parser, EveryOperatorParses) {
  const std::pair<const char*, BinaryOp> cases[] = {
      {"a + b", BinaryOp::kAdd},   {"a - b", BinaryOp::kSub},        {"a * b", BinaryOp::kMul},
      {"a / b", BinaryOp::kDiv},   {"a % b", BinaryOp::kMod},        {"a & b", BinaryOp::kBitAnd},
      {"a | b", BinaryOp::kBitOr}, {"a ^ b", BinaryOp::kBitXor},     {"a AND b", BinaryOp::kAnd},
      {"a or b", BinaryOp::kOr},   {"a = b", BinaryOp::kEq},         {"a != b", BinaryOp::kNeq},
      {"a <> b", BinaryOp::kNeq},  {"a =~ /b/", BinaryOp::kEqRegex}, {"a !~ /b/", BinaryOp::kNeqRegex},
      {"a < b", BinaryOp::kLt},    {"a <= b", BinaryOp::kLte},       {"a > b", BinaryOp::kGt},
      {"a >= b", BinaryOp::kGte},
  };
  for (const auto& [text, op] : cases) {
    ExprPtr e = MustExpr(text);
    ASSERT_TRUE(e->Is<BinaryExpr>()) << text;
    EXPECT_EQ(e->As<BinaryExpr>()->op, op) << text;
  }
}

TEST(Parser, VarRefTypeHints) {
  const std::pair<const char*, DataType> cases[] = {
      {"v", DataType::kUnknown},          {"v::float", DataType::kFloat},
      {"v::integer", DataType::kInteger}, {"v::unsigned", DataType::kUnsigned},
      {"v::string", DataType::kString},   {"v::boolean", DataType::kBoolean},
      {"v::tag", DataType::kTag},         {"v::field", DataType::kAnyField},
      {"v::FLOAT", DataType::kFloat},
  };
  for (const auto& [text, type] : cases) {
    ExprPtr e = MustExpr(text);
    ASSERT_TRUE(e->Is<VarRef>()) << text;
    EXPECT_EQ(e->As<VarRef>()->type, type) << text;
  }
}

TEST(Parser, CallsAreLowerCasedAndKeepArguments) {
  ExprPtr e = MustExpr("PERCENTILE(value, 95)");
  const auto* c = e->As<Call>();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->name, "percentile");
  ASSERT_EQ(c->args.size(), 2u);
  EXPECT_TRUE(c->args[1]->Is<IntegerLiteral>());
  e = MustExpr("count(distinct(value))");
  EXPECT_EQ(e->As<Call>()->args[0]->As<Call>()->name, "distinct");
  e = MustExpr("mean(derivative(value, 1s))");
  EXPECT_EQ(e->As<Call>()->args[0]->As<Call>()->name, "derivative");
  EXPECT_TRUE(MustExpr("now()")->Is<NowCall>());
}

TEST(Parser, NodesCarryTheirByteOffset) {
  SelectStatement s = MustSelect("SELECT a, abs(b) FROM cpu WHERE x = 'y'");
  EXPECT_EQ(s.fields[0].expr->offset, 7u);
  EXPECT_EQ(s.fields[1].expr->offset, 10u);
  EXPECT_EQ(s.sources[0].offset, 22u);
  EXPECT_EQ(s.condition->offset, 32u);
  EXPECT_EQ(s.condition->As<BinaryExpr>()->rhs->offset, 36u);
}

// --- SELECT clauses -------------------------------------------------------

TEST(Parser, SelectFieldsAliasesAndWildcards) {
  // Parsing only: validation rejects DISTINCT beside other fields, as influxd.
  ParseOptions o;
  o.validate = false;
  auto st = ParseStatement("SELECT *, *::field, *::tag, v AS \"my v\", /re/, DISTINCT host FROM cpu", o);
  ASSERT_TRUE(st.ok()) << st.status();
  ASSERT_NE(st->As<SelectStatement>(), nullptr);
  SelectStatement s = std::move(*st->As<SelectStatement>());
  ASSERT_EQ(s.fields.size(), 6u);
  EXPECT_EQ(s.fields[0].expr->As<Wildcard>()->type, WildcardType::kAll);
  EXPECT_EQ(s.fields[1].expr->As<Wildcard>()->type, WildcardType::kField);
  EXPECT_EQ(s.fields[2].expr->As<Wildcard>()->type, WildcardType::kTag);
  EXPECT_EQ(s.fields[3].alias, "my v");
  EXPECT_EQ(s.fields[4].expr->As<RegexLiteral>()->pattern, "re");
  EXPECT_EQ(s.fields[5].expr->As<Distinct>()->name, "host");
  EXPECT_TRUE(s.is_raw);
  EXPECT_FALSE(MustSelect("SELECT mean(v) FROM cpu").is_raw);
}

TEST(Parser, MeasurementForms) {
  struct Case {
    const char* from;
    const char* db;
    const char* rp;
    const char* name;
    const char* regex;  // nullptr: none
  } cases[] = {
      {"cpu", "", "", "cpu", nullptr},
      {"\"my cpu\"", "", "", "my cpu", nullptr},
      {"rp.cpu", "", "rp", "cpu", nullptr},
      {"db.rp.cpu", "db", "rp", "cpu", nullptr},
      {"\"db\".\"rp\".\"cpu\"", "db", "rp", "cpu", nullptr},
      {"db..cpu", "db", "", "cpu", nullptr},
      {"/cp.*/", "", "", "", "cp.*"},
      {"rp./cp.*/", "", "rp", "", "cp.*"},
      {"db.rp./cp.*/", "db", "rp", "", "cp.*"},
      {"db../cp.*/", "db", "", "", "cp.*"},
  };
  for (const auto& c : cases) {
    SelectStatement s = MustSelect(std::string("SELECT v FROM ") + c.from);
    ASSERT_EQ(s.sources.size(), 1u) << c.from;
    const auto* m = std::get_if<Measurement>(&s.sources[0].node);
    ASSERT_NE(m, nullptr) << c.from;
    EXPECT_EQ(m->database, c.db) << c.from;
    EXPECT_EQ(m->retention_policy, c.rp) << c.from;
    EXPECT_EQ(m->name, c.name) << c.from;
    EXPECT_EQ(m->regex.has_value(), c.regex != nullptr) << c.from;
    if (c.regex != nullptr && m->regex) {
      EXPECT_EQ(m->regex->pattern, c.regex) << c.from;
    }
  }
}

TEST(Parser, SeveralSourcesAndSubqueries) {
  SelectStatement s =
      MustSelect("SELECT max(m) FROM cpu, /mem.*/, (SELECT mean(v) AS m FROM disk GROUP BY time(1m))");
  ASSERT_EQ(s.sources.size(), 3u);
  const auto* sq = std::get_if<SubQuery>(&s.sources[2].node);
  ASSERT_NE(sq, nullptr);
  EXPECT_EQ(sq->statement->fields[0].alias, "m");
  EXPECT_EQ(std::get<TimeDimension>(sq->statement->dimensions[0].node).interval_ns, 60'000'000'000);
}

TEST(Parser, GroupByDimensions) {
  SelectStatement s =
      MustSelect("SELECT mean(v) FROM cpu GROUP BY time(1h, -15m), host, \"region\", /dc.*/, *");
  ASSERT_EQ(s.dimensions.size(), 5u);
  const auto& t = std::get<TimeDimension>(s.dimensions[0].node);
  EXPECT_EQ(t.interval_ns, 3'600'000'000'000);
  EXPECT_EQ(t.offset_ns, -900'000'000'000);
  EXPECT_TRUE(t.has_offset);
  EXPECT_EQ(std::get<TagDimension>(s.dimensions[1].node).name, "host");
  EXPECT_EQ(std::get<TagDimension>(s.dimensions[2].node).name, "region");
  EXPECT_EQ(std::get<RegexDimension>(s.dimensions[3].node).regex.pattern, "dc.*");
  EXPECT_TRUE(std::holds_alternative<WildcardDimension>(s.dimensions[4].node));
  s = MustSelect("SELECT mean(v) FROM cpu GROUP BY time(10s, now())");
  EXPECT_TRUE(std::get<TimeDimension>(s.dimensions[0].node).offset_now);
}

TEST(Parser, FillOptions) {
  struct Case {
    const char* fill;
    FillMode mode;
  } cases[] = {{"fill(null)", FillMode::kNull},         {"fill(none)", FillMode::kNone},
               {"fill(previous)", FillMode::kPrevious}, {"fill(linear)", FillMode::kLinear},
               {"fill(0)", FillMode::kNumber},          {"FILL(-1.5)", FillMode::kNumber}};
  for (const auto& c : cases) {
    SelectStatement s = MustSelect(std::string("SELECT mean(v) FROM cpu GROUP BY time(1m) ") + c.fill);
    EXPECT_EQ(s.fill.mode, c.mode) << c.fill;
    EXPECT_TRUE(s.fill.specified) << c.fill;
  }
  SelectStatement s = MustSelect("SELECT mean(v) FROM cpu GROUP BY time(1m) fill(7)");
  EXPECT_EQ(std::get<int64_t>(s.fill.value), 7);
  s = MustSelect("SELECT mean(v) FROM cpu GROUP BY time(1m) fill(-1.5)");
  EXPECT_EQ(std::get<double>(s.fill.value), -1.5);
}

TEST(Parser, OrderLimitsAndTimezone) {
  SelectStatement s = MustSelect(
      "SELECT mean(v) FROM cpu GROUP BY time(1h) ORDER BY time DESC LIMIT 10 OFFSET 2 SLIMIT 3 SOFFSET 4 "
      "tz('Europe/Berlin')");
  ASSERT_EQ(s.sort.size(), 1u);
  EXPECT_EQ(s.sort[0].name, "time");
  EXPECT_FALSE(s.sort[0].ascending);
  EXPECT_EQ(s.limits.limit, 10);
  EXPECT_EQ(s.limits.offset, 2);
  EXPECT_EQ(s.limits.slimit, 3);
  EXPECT_EQ(s.limits.soffset, 4);
  EXPECT_EQ(s.timezone, "Europe/Berlin");
}

TEST(Parser, SelectIntoTarget) {
  SelectStatement s = MustSelect("SELECT v INTO db.rp.copy FROM cpu");
  ASSERT_TRUE(s.into.has_value());
  EXPECT_EQ(s.into->database, "db");
  EXPECT_EQ(s.into->retention_policy, "rp");
  EXPECT_EQ(s.into->name, "copy");
  s = MustSelect("SELECT mean(v) INTO \"db\".\"rp\".:MEASUREMENT FROM /.*/ GROUP BY time(1h)");
  EXPECT_EQ(s.into->name, "");
  EXPECT_EQ(String(Statement{0, std::move(s)}),
            "SELECT mean(v) INTO db.rp.:MEASUREMENT FROM /.*/ GROUP BY time(1h)");
}

// --- Other statements ----------------------------------------------------

TEST(Parser, ShowStatements) {
  Statement s =
      MustParse("SHOW MEASUREMENTS ON db WITH MEASUREMENT =~ /c.*/ WHERE host = 'a' LIMIT 5 OFFSET 1");
  const auto* sm = s.As<ShowMeasurementsStatement>();
  ASSERT_NE(sm, nullptr);
  EXPECT_EQ(sm->database, "db");
  EXPECT_EQ(sm->with->op, BinaryOp::kEqRegex);
  EXPECT_EQ(sm->with->source.regex->pattern, "c.*");
  EXPECT_NE(sm->condition, nullptr);
  EXPECT_EQ(sm->limits.limit, 5);
  EXPECT_EQ(sm->limits.offset, 1);

  s = MustParse("SHOW TAG VALUES ON db FROM cpu WITH KEY IN (host, \"region\") WHERE a = 'b'");
  const auto* tv = s.As<ShowTagValuesStatement>();
  ASSERT_NE(tv, nullptr);
  EXPECT_EQ(tv->key.op, TagKeyFilter::Op::kIn);
  EXPECT_EQ(tv->key.keys, (std::vector<std::string>{"host", "region"}));
  EXPECT_EQ(tv->sources.size(), 1u);

  s = MustParse("SHOW TAG VALUES WITH KEY = host");
  EXPECT_EQ(s.As<ShowTagValuesStatement>()->key.keys[0], "host");

  EXPECT_NE(MustParse("SHOW DATABASES").As<ShowDatabasesStatement>(), nullptr);
  EXPECT_EQ(MustParse("SHOW TAG KEYS ON db FROM cpu").As<ShowTagKeysStatement>()->database, "db");
  EXPECT_EQ(MustParse("SHOW FIELD KEYS FROM cpu").As<ShowFieldKeysStatement>()->sources.size(), 1u);
  EXPECT_NE(MustParse("SHOW SERIES FROM cpu WHERE a = 'b'").As<ShowSeriesStatement>()->condition, nullptr);
  EXPECT_EQ(MustParse("SHOW RETENTION POLICIES ON db").As<ShowRetentionPoliciesStatement>()->database, "db");

  s = MustParse("SHOW SERIES EXACT CARDINALITY ON db");
  const auto* card = s.As<ShowCardinalityStatement>();
  ASSERT_NE(card, nullptr);
  EXPECT_EQ(card->kind, ShowCardinalityStatement::Kind::kSeries);
  EXPECT_TRUE(card->exact);
  s = MustParse("SHOW MEASUREMENT CARDINALITY");
  EXPECT_EQ(s.As<ShowCardinalityStatement>()->kind, ShowCardinalityStatement::Kind::kMeasurement);
}

TEST(Parser, DatabaseAndRetentionPolicyStatements) {
  Statement s = MustParse("CREATE DATABASE d WITH DURATION 30d REPLICATION 2 SHARD DURATION 1d NAME r");
  const auto* cd = s.As<CreateDatabaseStatement>();
  ASSERT_NE(cd, nullptr);
  EXPECT_EQ(cd->name, "d");
  EXPECT_EQ(*cd->duration_ns, 30 * 86'400'000'000'000);
  EXPECT_EQ(*cd->replication, 2);
  EXPECT_EQ(*cd->shard_duration_ns, 86'400'000'000'000);
  EXPECT_EQ(cd->rp_name, "r");
  EXPECT_EQ(*MustParse("CREATE DATABASE d WITH DURATION INF").As<CreateDatabaseStatement>()->duration_ns, 0);
  EXPECT_EQ(MustParse("DROP DATABASE d").As<DropDatabaseStatement>()->name, "d");
  EXPECT_EQ(MustParse("DROP MEASUREMENT \"m m\"").As<DropMeasurementStatement>()->name, "m m");
  EXPECT_NE(MustParse("DROP SERIES FROM cpu WHERE a = 'b'").As<DropSeriesStatement>()->condition, nullptr);
  EXPECT_EQ(MustParse("DELETE FROM cpu").As<DeleteStatement>()->sources.size(), 1u);

  s = MustParse("CREATE RETENTION POLICY r ON d DURATION 1h REPLICATION 1 SHARD DURATION 10m DEFAULT");
  const auto* cr = s.As<CreateRetentionPolicyStatement>();
  ASSERT_NE(cr, nullptr);
  EXPECT_EQ(cr->duration_ns, 3'600'000'000'000);
  EXPECT_EQ(cr->shard_duration_ns, 600'000'000'000);
  EXPECT_TRUE(cr->is_default);
  s = MustParse("ALTER RETENTION POLICY r ON d REPLICATION 3 DEFAULT");
  EXPECT_EQ(*s.As<AlterRetentionPolicyStatement>()->replication, 3);
  EXPECT_FALSE(s.As<AlterRetentionPolicyStatement>()->duration_ns.has_value());
  EXPECT_EQ(MustParse("DROP RETENTION POLICY r ON d").As<DropRetentionPolicyStatement>()->database, "d");
}

TEST(Parser, SeveralStatementsCommentsAndCase) {
  auto r = ParseQuery("select * from a; -- one\nSHOW databases ;; /* two */ SELECT b FROM c;");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_NE((*r)[1].As<ShowDatabasesStatement>(), nullptr);
  EXPECT_EQ((*r)[2].offset, 52u);
  auto empty = ParseQuery("  -- nothing\n ");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(Parser, UnsupportedStatementsAreUnimplemented) {
  for (const char* q : {"EXPLAIN ANALYZE SELECT * FROM cpu", "GRANT ALL TO bob", "SHOW USERS",
                        "CREATE USER u", "DROP SHARD 1", "KILL QUERY 1", "SHOW QUERIES"}) {
    auto r = ParseQuery(q);
    ASSERT_FALSE(r.ok()) << q;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented) << q;
  }
}

// --- Bound parameters ----------------------------------------------------

TEST(Parser, BoundParametersAreSubstituted) {
  ParseOptions o;
  o.params["host"] = ParamValue::String("a");
  o.params["n"] = ParamValue::Integer(5);
  o.params["x"] = ParamValue::Float(1.5);
  o.params["m"] = ParamValue::Identifier("cpu");
  auto r = ParseStatement("SELECT v FROM $m WHERE host = $host AND v > $n AND w < $x", o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(String(*r), "SELECT v FROM cpu WHERE host = 'a' AND v > 5 AND w < 1.5");
  EXPECT_EQ(ErrorOf("SELECT v FROM cpu WHERE host = $missing"),
            "error parsing query: missing parameter: missing");
}

// --- Printing ------------------------------------------------------------

TEST(Printer, PrintsCanonicalInfluxQL) {
  const std::pair<const char*, const char*> cases[] = {
      {"select * from cpu", "SELECT * FROM cpu"},
      {"SELECT \"value\" FROM \"cpu\"", "SELECT value FROM cpu"},
      {"SELECT \"my value\", \"select\" FROM \"my cpu\"", "SELECT \"my value\", \"select\" FROM \"my cpu\""},
      {"SELECT v AS \"x\" FROM cpu", "SELECT v AS x FROM cpu"},
      {"SELECT MEAN(v) FROM cpu", "SELECT mean(v) FROM cpu"},
      {"SELECT a+b*c FROM m", "SELECT a + b * c FROM m"},
      {"SELECT -a, -(a+b), a*-1, a + -1.50 FROM m", "SELECT -a, -(a + b), a * -1, a + -1.5 FROM m"},
      {"SELECT 1e3 FROM m", "error"},
      {"SELECT v FROM m WHERE x = 1.0 AND y = 2", "SELECT v FROM m WHERE x = 1.0 AND y = 2"},
      {"SELECT v FROM m WHERE t > now() - 90m", "SELECT v FROM m WHERE t > now() - 90m"},
      {"SELECT v FROM m WHERE t > now() - 60m", "SELECT v FROM m WHERE t > now() - 1h"},
      {"SELECT v FROM m WHERE t > now() - 1500ms", "SELECT v FROM m WHERE t > now() - 1500ms"},
      {"SELECT v FROM m WHERE t > now() - 7d", "SELECT v FROM m WHERE t > now() - 1w"},
      {"SELECT v FROM m WHERE t > now() - 1000u", "SELECT v FROM m WHERE t > now() - 1ms"},
      {"SELECT v FROM m WHERE s = 'it\\'s' AND r =~ /a\\/b/",
       "SELECT v FROM m WHERE s = 'it\\'s' AND r =~ /a\\/b/"},
      {"SELECT v FROM m WHERE s <> 'x'", "SELECT v FROM m WHERE s != 'x'"},
      {"SELECT v FROM db..m", "SELECT v FROM db..m"},
      {"SELECT v FROM \"db\".\"rp\".\"m\"", "SELECT v FROM db.rp.m"},
      {"SELECT mean(v) FROM m GROUP BY time(60s, -30s), host fill(none)",
       "SELECT mean(v) FROM m GROUP BY time(1m, -30s), host fill(none)"},
      {"SELECT mean(v) FROM m GROUP BY time(1h) FILL(0.5) ORDER BY time desc LIMIT 1 TZ('UTC')",
       "SELECT mean(v) FROM m GROUP BY time(1h) fill(0.5) ORDER BY time DESC LIMIT 1 tz('UTC')"},
      {"SELECT count(distinct(v)) FROM (SELECT v FROM m)",
       "SELECT count(distinct(v)) FROM (SELECT v FROM m)"},
      {"SHOW TAG VALUES WITH KEY IN (a, \"b c\")", "SHOW TAG VALUES WITH KEY IN (a, \"b c\")"},
      {"create database d with duration inf name r", "CREATE DATABASE d WITH DURATION INF NAME r"},
      {"SELECT v FROM m; SHOW DATABASES", "SELECT v FROM m; SHOW DATABASES"},
  };
  for (const auto& [in, want] : cases) {
    auto r = ParseQuery(in);
    if (std::string_view(want) == "error") {
      EXPECT_FALSE(r.ok()) << in;
      continue;
    }
    ASSERT_TRUE(r.ok()) << in << "\n" << r.status();
    EXPECT_EQ(String(*r), want) << in;
  }
}

TEST(Printer, FloatsAlwaysReparseAsFloats) {
  for (double v : {0.0, -0.0, 1.0, 0.1, 1e-7, 123456789.125, 1e300, 5e-324}) {
    std::string s = String(*MakeExpr(0, NumberLiteral{v}));
    ExprPtr e = MustExpr(s);
    ASSERT_TRUE(e->Is<NumberLiteral>()) << s;
    EXPECT_EQ(e->As<NumberLiteral>()->value, v) << s;
  }
}

TEST(Printer, QuotesIdentifiersOnlyWhenNeeded) {
  EXPECT_EQ(QuoteIdent("cpu"), "cpu");
  EXPECT_EQ(QuoteIdent("_x1"), "_x1");
  EXPECT_EQ(QuoteIdent("1x"), "\"1x\"");
  EXPECT_EQ(QuoteIdent("from"), "\"from\"");
  EXPECT_EQ(QuoteIdent(""), "\"\"");
  EXPECT_EQ(QuoteIdent("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
  EXPECT_EQ(QuoteString("a'b\\c\nd"), "'a\\'b\\\\c\\nd'");
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(1), "1ns");
  EXPECT_EQ(FormatDuration(-3'600'000'000'000), "-1h");
}

TEST(Printer, RoundTripsTheFuzzSeedsExactly) {
  // Re-parsing the printed text gives the same printed text and the same
  // statement kinds (String() is injective on what the parser produces).
  const char* queries[] = {
      "SELECT mean(\"value\") AS m, max(value) FROM \"db\".\"autogen\".\"cpu\" WHERE time > now() - 1h AND "
      "host = 'a' GROUP BY time(5m, -1m), host fill(previous) ORDER BY time DESC LIMIT 10 OFFSET 2 SLIMIT 3 "
      "SOFFSET 4 tz('Europe/Berlin')",
      "SELECT a + b * 2 - -c / (d % 3) & 7 | 1 ^ 2 FROM m",
      "SELECT *::field, host::tag, v::float FROM db..cpu, /^mem.*/ WHERE v =~ /a\\/b/ OR v !~ /x/",
      "SELECT 'it\\'s', \"we\\\"ird\", 1.5, 10u, 100ms, 5ns, 1w, true, FALSE FROM cpu",
      "SHOW SERIES EXACT CARDINALITY ON db FROM cpu; SHOW TAG VALUES CARDINALITY WITH KEY = host",
      "CREATE RETENTION POLICY rp ON db DURATION INF REPLICATION 2 SHARD DURATION 1w DEFAULT",
  };
  ParseOptions o;
  o.validate = false;
  for (const char* q : queries) {
    auto a = ParseQuery(q, o);
    ASSERT_TRUE(a.ok()) << q << "\n" << a.status();
    std::string printed = String(*a);
    auto b = ParseQuery(printed, o);
    ASSERT_TRUE(b.ok()) << printed << "\n" << b.status();
    EXPECT_EQ(String(*b), printed);
    ASSERT_EQ(a->size(), b->size());
    for (size_t i = 0; i < a->size(); i++) EXPECT_EQ((*a)[i].node.index(), (*b)[i].node.index());
  }
}

// --- Robustness ----------------------------------------------------------

TEST(Parser, DeepParenthesesAreAnErrorNotACrash) {
  std::string q = "SELECT " + std::string(100000, '(') + "a" + std::string(100000, ')') + " FROM m";
  auto r = ParseQuery(q);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nested too deeply"), absl::string_view::npos) << r.status();
  // Within the limit is fine.
  std::string ok = "SELECT " + std::string(50, '(') + "a" + std::string(50, ')') + " FROM m";
  EXPECT_TRUE(ParseQuery(ok).ok());
}

TEST(Parser, DeepCallsAndSubqueriesAreAnError) {
  std::string calls = "SELECT ";
  for (int i = 0; i < 5000; i++) calls += "f(";
  calls += "a";
  calls += std::string(5000, ')');
  calls += " FROM m";
  EXPECT_FALSE(ParseQuery(calls).ok());
  std::string sub = "SELECT a FROM ";
  for (int i = 0; i < 5000; i++) sub += "(SELECT a FROM ";
  sub += "m" + std::string(5000, ')');
  EXPECT_FALSE(ParseQuery(sub).ok());
}

TEST(Parser, VeryLongOperatorChainsAreBounded) {
  std::string q = "SELECT a";
  for (int i = 0; i < 100000; i++) q += " + a";
  q += " FROM m";
  auto r = ParseQuery(q);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("too complex"), absl::string_view::npos) << r.status();
  std::string ok = "SELECT a";
  for (int i = 0; i < 500; i++) ok += " + a";
  EXPECT_TRUE(ParseQuery(ok + " FROM m").ok());
}

TEST(Parser, NulByteEndsTheInputAsInInfluxDB) {
  std::string q("SELECT a FROM m\0garbage", 23);
  EXPECT_TRUE(ParseQuery(q).ok());
}

// --- Validation -----------------------------------------------------------

TEST(Validate, CanBeTurnedOff) {
  ParseOptions o;
  o.validate = false;
  EXPECT_TRUE(ParseQuery("SELECT foo(v) FROM cpu GROUP BY 1", o).ok());
  EXPECT_EQ(ErrorOf("SELECT foo(v) FROM cpu"), "undefined function foo()");
}

TEST(Validate, AcceptsTheDesignedFunctionSet) {
  for (const char* q : {
           "SELECT count(v), sum(v), mean(v), median(v), min(v), max(v), first(v), last(v) FROM m",
           "SELECT spread(v), stddev(v), percentile(v, 90), mode(v) FROM m",
           "SELECT distinct(v) FROM m",
           "SELECT top(v, 3) FROM m",
           "SELECT bottom(v, host, 3) FROM m",
           "SELECT derivative(v), derivative(v, 1s), non_negative_derivative(v, 1m) FROM m",
           "SELECT difference(v), moving_average(v, 3), cumulative_sum(v), integral(v), integral(v, 1s) FROM "
           "m",
           "SELECT mean(derivative(v)) FROM m",
           "SELECT count(distinct(v)) FROM m",
       }) {
    auto r = ParseQuery(q);
    EXPECT_TRUE(r.ok()) << q << "\n" << r.status();
  }
}

TEST(Validate, DistinctStandsAlone) {
  const std::string msg = "aggregate function distinct() cannot be combined with other functions or fields";
  EXPECT_EQ(ErrorOf("SELECT distinct(v), host FROM m"), msg);
  EXPECT_EQ(ErrorOf("SELECT distinct(v) AS d, w FROM m"), msg);
  EXPECT_EQ(ErrorOf("SELECT distinct(v), mean(v) FROM m"), msg);
  EXPECT_EQ(ErrorOf("SELECT w, (distinct(v)) FROM m"), msg);
  EXPECT_EQ(ErrorOf("SELECT DISTINCT v, w FROM m"), msg);
  EXPECT_EQ(ErrorOf("SELECT distinct(v), * FROM m"), msg);
  // The time column is no field.
  EXPECT_TRUE(ParseQuery("SELECT time, distinct(v) FROM m").ok());
  EXPECT_TRUE(ParseQuery("SELECT distinct(v), time AS t FROM m").ok());
}

TEST(Validate, TimeFieldIsNotARawField) {
  EXPECT_TRUE(ParseQuery("SELECT time AS t, mean(v) FROM m").ok());
  EXPECT_TRUE(ParseQuery("SELECT time, count(v), time AS t FROM m").ok());
  EXPECT_EQ(ErrorOf("SELECT time AS t, w, mean(v) FROM m"),
            "mixing aggregate and non-aggregate queries is not supported");
}

// --- Node memory -----------------------------------------------------------

// Expr nodes reuse the memory of freed ones (per thread): trees built,
// freed on another thread and built again stay intact.
TEST(Expr, NodeMemoryIsReusedSafelyAcrossThreads) {
  const std::string text = "a + b * 2 > 1 AND host = 'x' OR mean(v) < -3.5";
  auto build = [&](std::vector<ExprPtr>* out, size_t n) {
    for (size_t i = 0; i < n; i++) {
      auto e = ParseExpr(text);
      ASSERT_TRUE(e.ok());
      out->push_back(std::move(*e));
    }
  };
  std::vector<ExprPtr> trees;
  std::thread builder([&] { build(&trees, 500); });
  builder.join();
  for (const ExprPtr& t : trees) ASSERT_EQ(String(*t), String(*trees[0]));
  trees.clear();  // freed here, allocated on the other thread
  std::vector<ExprPtr> again;
  build(&again, 1000);
  std::thread freer([&] { again.resize(10); });
  freer.join();
  for (const ExprPtr& t : again) EXPECT_EQ(String(*t), "a + b * 2 > 1 AND host = 'x' OR mean(v) < -3.5");
}

// --- Every cut of a full SELECT ---------------------------------------------

// The parser reuses tokens after an Unscan, reads a dotted name's first
// segment once, and skips the trailing clauses of a SELECT at the end of the
// text; error positions at EOF depend on exactly how often InfluxDB's reader
// read it. Every prefix of a statement with every clause must parse (or fail,
// at the same place) as the parser that rescanned everything did: these
// answers are that parser's.
TEST(Parser, EveryCutOfAFullSelectParsesAsBefore) {
  const std::string q =
      "SELECT mean(\"v\") AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
      "time(1m), host fill(0) ORDER BY time DESC LIMIT 5 OFFSET 1 SLIMIT 2 SOFFSET 3 tz('UTC');SELECT a FROM "
      "m "
      "WHERE x = 1 ";
  struct Cut {
    size_t len;
    const char* want;
  };
  const Cut cuts[] = {
      {0, "OK "},
      {1,
       "ERR error parsing query: found S, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, "
       "REVOKE, ALTER, SET, KILL at line 1, char 1"},
      {2,
       "ERR error parsing query: found SE, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, "
       "REVOKE, ALTER, SET, KILL at line 1, char 1"},
      {3,
       "ERR error parsing query: found SEL, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, "
       "REVOKE, ALTER, SET, KILL at line 1, char 1"},
      {4,
       "ERR error parsing query: found SELE, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, "
       "REVOKE, ALTER, SET, KILL at line 1, char 1"},
      {5,
       "ERR error parsing query: found SELEC, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, "
       "REVOKE, ALTER, SET, KILL at line 1, char 1"},
      {6, "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 8"},
      {7, "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 9"},
      {8, "ERR error parsing query: found EOF, expected FROM at line 1, char 10"},
      {9, "ERR error parsing query: found EOF, expected FROM at line 1, char 11"},
      {10, "ERR error parsing query: found EOF, expected FROM at line 1, char 12"},
      {11, "ERR error parsing query: found EOF, expected FROM at line 1, char 13"},
      {12,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 14"},
      {13,
       "ERR error parsing query: found BADSTRING, expected identifier, string, number, bool at line 1, char "
       "12"},
      {14, "ERR error parsing query: found v, expected identifier, string, number, bool at line 1, char 12"},
      {15, "ERR error parsing query: found EOF, expected ) at line 1, char 16"},
      {16, "ERR error parsing query: found EOF, expected FROM at line 1, char 17"},
      {17, "ERR error parsing query: found EOF, expected FROM at line 1, char 19"},
      {18, "ERR error parsing query: found A, expected FROM at line 1, char 18"},
      {19, "ERR error parsing query: found EOF, expected identifier at line 1, char 21"},
      {20, "ERR error parsing query: found EOF, expected identifier at line 1, char 22"},
      {21, "ERR error parsing query: found EOF, expected FROM at line 1, char 23"},
      {22,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 24"},
      {23,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 25"},
      {24, "ERR error parsing query: found EOF, expected FROM at line 1, char 26"},
      {25, "ERR error parsing query: found EOF, expected FROM at line 1, char 27"},
      {26, "ERR error parsing query: found F, expected FROM at line 1, char 26"},
      {27, "ERR error parsing query: found FR, expected FROM at line 1, char 26"},
      {28, "ERR error parsing query: found FRO, expected FROM at line 1, char 26"},
      {29, "ERR error parsing query: found EOF, expected identifier at line 1, char 31"},
      {30, "ERR error parsing query: found EOF, expected identifier at line 1, char 32"},
      {31, "OK SELECT mean(v) AS m, b FROM d"},
      {32, "OK SELECT mean(v) AS m, b FROM db"},
      {33, "ERR error parsing query: found EOF, expected identifier at line 1, char 35"},
      {34, "OK SELECT mean(v) AS m, b FROM db.r"},
      {35, "OK SELECT mean(v) AS m, b FROM db.rp"},
      {36, "ERR error parsing query: found EOF, expected identifier at line 1, char 38"},
      {37, "OK SELECT mean(v) AS m, b FROM db.rp.c"},
      {38, "OK SELECT mean(v) AS m, b FROM db.rp.cp"},
      {39, "OK SELECT mean(v) AS m, b FROM db.rp.cpu"},
      {40, "ERR error parsing query: found EOF, expected identifier at line 1, char 41"},
      {41, "ERR error parsing query: found EOF, expected identifier at line 1, char 43"},
      {42, "ERR error parsing query: bad regex:  at line 1, char 41"},
      {43, "ERR error parsing query: bad regex:  at line 1, char 41"},
      {44, "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/"},
      {45, "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/"},
      {46, "ERR error parsing query: found W, expected ; at line 1, char 46"},
      {47, "ERR error parsing query: found WH, expected ; at line 1, char 46"},
      {48, "ERR error parsing query: found WHE, expected ; at line 1, char 46"},
      {49, "ERR error parsing query: found WHER, expected ; at line 1, char 46"},
      {50,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 52"},
      {51,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 53"},
      {52, "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE h"},
      {53, "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE ho"},
      {54, "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE hos"},
      {55, "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host"},
      {56, "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host"},
      {57,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 58"},
      {58,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 60"},
      {59,
       "ERR error parsing query: found BADSTRING, expected identifier, string, number, bool at line 1, char "
       "58"},
      {60, "ERR error parsing query: found a, expected identifier, string, number, bool at line 1, char 58"},
      {61, "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a'"},
      {62, "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a'"},
      {63, "ERR error parsing query: found A, expected ; at line 1, char 63"},
      {64, "ERR error parsing query: found AN, expected ; at line 1, char 63"},
      {65,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 67"},
      {66,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 68"},
      {67, "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND t"},
      {68, "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND ti"},
      {69, "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND tim"},
      {70, "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time"},
      {71, "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time"},
      {72,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 73"},
      {73,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 75"},
      {74, "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > n"},
      {75, "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > no"},
      {76, "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now"},
      {77,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 79"},
      {78, "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now()"},
      {79, "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now()"},
      {80,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 81"},
      {81,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 83"},
      {82, "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1"},
      {83, "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h"},
      {84, "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h"},
      {85, "ERR error parsing query: found G, expected ; at line 1, char 85"},
      {86, "ERR error parsing query: found GR, expected ; at line 1, char 85"},
      {87, "ERR error parsing query: found GRO, expected ; at line 1, char 85"},
      {88, "ERR error parsing query: found GROU, expected ; at line 1, char 85"},
      {89, "ERR error parsing query: found EOF, expected BY at line 1, char 91"},
      {90, "ERR error parsing query: found EOF, expected BY at line 1, char 92"},
      {91, "ERR error parsing query: found B, expected BY at line 1, char 91"},
      {92,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 94"},
      {93,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 95"},
      {94, "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY t"},
      {95,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY ti"},
      {96,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY tim"},
      {97,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY time"},
      {98,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 100"},
      {99, "ERR error parsing query: found EOF, expected ) at line 1, char 100"},
      {100, "ERR error parsing query: found EOF, expected ) at line 1, char 101"},
      {101,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m)"},
      {102,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 104"},
      {103,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 105"},
      {104,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), h"},
      {105,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), ho"},
      {106,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), hos"},
      {107,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host"},
      {108,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host"},
      {109, "ERR error parsing query: found f, expected ; at line 1, char 109"},
      {110, "ERR error parsing query: found fi, expected ; at line 1, char 109"},
      {111, "ERR error parsing query: found fil, expected ; at line 1, char 109"},
      {112, "ERR error parsing query: fill must be a function call"},
      {113,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 115"},
      {114, "ERR error parsing query: found EOF, expected ) at line 1, char 115"},
      {115,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host fill(0)"},
      {116,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host fill(0)"},
      {117, "ERR error parsing query: found O, expected ; at line 1, char 117"},
      {118,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 120"},
      {119, "ERR error parsing query: found ORD, expected ; at line 1, char 117"},
      {120, "ERR error parsing query: found ORDE, expected ; at line 1, char 117"},
      {121, "ERR error parsing query: found EOF, expected BY at line 1, char 123"},
      {122, "ERR error parsing query: found EOF, expected BY at line 1, char 124"},
      {123, "ERR error parsing query: found B, expected BY at line 1, char 123"},
      {124, "ERR error parsing query: found EOF, expected identifier, ASC, DESC at line 1, char 126"},
      {125, "ERR error parsing query: found EOF, expected identifier, ASC, DESC at line 1, char 127"},
      {126, "ERR error parsing query: only ORDER BY time supported at this time"},
      {127, "ERR error parsing query: only ORDER BY time supported at this time"},
      {128, "ERR error parsing query: only ORDER BY time supported at this time"},
      {129,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host fill(0) ORDER BY time ASC"},
      {130,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host fill(0) ORDER BY time ASC"},
      {131, "ERR error parsing query: found D, expected ; at line 1, char 131"},
      {132, "ERR error parsing query: found DE, expected ; at line 1, char 131"},
      {133, "ERR error parsing query: found DES, expected ; at line 1, char 131"},
      {134,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host fill(0) ORDER BY time DESC"},
      {135,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host fill(0) ORDER BY time DESC"},
      {136, "ERR error parsing query: found L, expected ; at line 1, char 136"},
      {137, "ERR error parsing query: found LI, expected ; at line 1, char 136"},
      {138, "ERR error parsing query: found LIM, expected ; at line 1, char 136"},
      {139, "ERR error parsing query: found LIMI, expected ; at line 1, char 136"},
      {140, "ERR error parsing query: found EOF, expected integer at line 1, char 142"},
      {141, "ERR error parsing query: found EOF, expected integer at line 1, char 143"},
      {142,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host fill(0) ORDER BY time DESC LIMIT 5"},
      {143,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host fill(0) ORDER BY time DESC LIMIT 5"},
      {144, "ERR error parsing query: found O, expected ; at line 1, char 144"},
      {145, "ERR error parsing query: found OF, expected ; at line 1, char 144"},
      {146, "ERR error parsing query: found OFF, expected ; at line 1, char 144"},
      {147, "ERR error parsing query: found OFFS, expected ; at line 1, char 144"},
      {148, "ERR error parsing query: found OFFSE, expected ; at line 1, char 144"},
      {149, "ERR error parsing query: found EOF, expected integer at line 1, char 151"},
      {150, "ERR error parsing query: found EOF, expected integer at line 1, char 152"},
      {151,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host fill(0) ORDER BY time DESC LIMIT 5 OFFSET 1"},
      {152,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host fill(0) ORDER BY time DESC LIMIT 5 OFFSET 1"},
      {153, "ERR error parsing query: found S, expected ; at line 1, char 153"},
      {154, "ERR error parsing query: found SL, expected ; at line 1, char 153"},
      {155, "ERR error parsing query: found SLI, expected ; at line 1, char 153"},
      {156, "ERR error parsing query: found SLIM, expected ; at line 1, char 153"},
      {157, "ERR error parsing query: found SLIMI, expected ; at line 1, char 153"},
      {158, "ERR error parsing query: found EOF, expected integer at line 1, char 160"},
      {159, "ERR error parsing query: found EOF, expected integer at line 1, char 161"},
      {160,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host fill(0) ORDER BY time DESC LIMIT 5 OFFSET 1 SLIMIT 2"},
      {161,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host fill(0) ORDER BY time DESC LIMIT 5 OFFSET 1 SLIMIT 2"},
      {162, "ERR error parsing query: found S, expected ; at line 1, char 162"},
      {163, "ERR error parsing query: found SO, expected ; at line 1, char 162"},
      {164, "ERR error parsing query: found SOF, expected ; at line 1, char 162"},
      {165, "ERR error parsing query: found SOFF, expected ; at line 1, char 162"},
      {166, "ERR error parsing query: found SOFFS, expected ; at line 1, char 162"},
      {167, "ERR error parsing query: found SOFFSE, expected ; at line 1, char 162"},
      {168, "ERR error parsing query: found EOF, expected integer at line 1, char 170"},
      {169, "ERR error parsing query: found EOF, expected integer at line 1, char 171"},
      {170,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host fill(0) ORDER BY time DESC LIMIT 5 OFFSET 1 SLIMIT 2 SOFFSET 3"},
      {171,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host fill(0) ORDER BY time DESC LIMIT 5 OFFSET 1 SLIMIT 2 SOFFSET 3"},
      {172, "ERR error parsing query: found t, expected ; at line 1, char 172"},
      {173, "ERR error parsing query: tz must be a function call"},
      {174,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 176"},
      {175,
       "ERR error parsing query: found BADSTRING, expected identifier, string, number, bool at line 1, char "
       "174"},
      {176,
       "ERR error parsing query: found U, expected identifier, string, number, bool at line 1, char 174"},
      {177,
       "ERR error parsing query: found UT, expected identifier, string, number, bool at line 1, char 174"},
      {178,
       "ERR error parsing query: found UTC, expected identifier, string, number, bool at line 1, char 174"},
      {179, "ERR error parsing query: found EOF, expected ) at line 1, char 180"},
      {180,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host fill(0) ORDER BY time DESC LIMIT 5 OFFSET 1 SLIMIT 2 SOFFSET 3 tz('UTC')"},
      {181,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host fill(0) ORDER BY time DESC LIMIT 5 OFFSET 1 SLIMIT 2 SOFFSET 3 tz('UTC')"},
      {182,
       "ERR error parsing query: found S, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, "
       "REVOKE, ALTER, SET, KILL at line 1, char 182"},
      {183,
       "ERR error parsing query: found SE, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, "
       "REVOKE, ALTER, SET, KILL at line 1, char 182"},
      {184,
       "ERR error parsing query: found SEL, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, "
       "REVOKE, ALTER, SET, KILL at line 1, char 182"},
      {185,
       "ERR error parsing query: found SELE, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, "
       "REVOKE, ALTER, SET, KILL at line 1, char 182"},
      {186,
       "ERR error parsing query: found SELEC, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, "
       "REVOKE, ALTER, SET, KILL at line 1, char 182"},
      {187,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 189"},
      {188,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 190"},
      {189, "ERR error parsing query: found EOF, expected FROM at line 1, char 191"},
      {190, "ERR error parsing query: found EOF, expected FROM at line 1, char 192"},
      {191, "ERR error parsing query: found F, expected FROM at line 1, char 191"},
      {192, "ERR error parsing query: found FR, expected FROM at line 1, char 191"},
      {193, "ERR error parsing query: found FRO, expected FROM at line 1, char 191"},
      {194, "ERR error parsing query: found EOF, expected identifier at line 1, char 196"},
      {195, "ERR error parsing query: found EOF, expected identifier at line 1, char 197"},
      {196,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host fill(0) ORDER BY time DESC LIMIT 5 OFFSET 1 SLIMIT 2 SOFFSET 3 tz('UTC'); SELECT a "
       "FROM m"},
      {197,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host fill(0) ORDER BY time DESC LIMIT 5 OFFSET 1 SLIMIT 2 SOFFSET 3 tz('UTC'); SELECT a "
       "FROM m"},
      {198, "ERR error parsing query: found W, expected ; at line 1, char 198"},
      {199, "ERR error parsing query: found WH, expected ; at line 1, char 198"},
      {200, "ERR error parsing query: found WHE, expected ; at line 1, char 198"},
      {201, "ERR error parsing query: found WHER, expected ; at line 1, char 198"},
      {202,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 204"},
      {203,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 205"},
      {204,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host fill(0) ORDER BY time DESC LIMIT 5 OFFSET 1 SLIMIT 2 SOFFSET 3 tz('UTC'); SELECT a "
       "FROM m WHERE x"},
      {205,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host fill(0) ORDER BY time DESC LIMIT 5 OFFSET 1 SLIMIT 2 SOFFSET 3 tz('UTC'); SELECT a "
       "FROM m WHERE x"},
      {206,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 207"},
      {207,
       "ERR error parsing query: found EOF, expected identifier, string, number, bool at line 1, char 209"},
      {208,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host fill(0) ORDER BY time DESC LIMIT 5 OFFSET 1 SLIMIT 2 SOFFSET 3 tz('UTC'); SELECT a "
       "FROM m WHERE x = 1"},
      {209,
       "OK SELECT mean(v) AS m, b FROM db.rp.cpu, /x/ WHERE host = 'a' AND time > now() - 1h GROUP BY "
       "time(1m), host fill(0) ORDER BY time DESC LIMIT 5 OFFSET 1 SLIMIT 2 SOFFSET 3 tz('UTC'); SELECT a "
       "FROM m WHERE x = 1"},
  };
  ASSERT_EQ(std::size(cuts), q.size() + 1);
  for (const Cut& c : cuts) {
    ParseOptions po;
    po.validate = false;
    auto r = ParseQuery(q.substr(0, c.len), po);
    const std::string got = r.ok() ? "OK " + String(*r) : "ERR " + std::string(r.status().message());
    EXPECT_EQ(got, c.want) << c.len;
  }
}

// --- Time strings ----------------------------------------------------------

TEST(ParseTimeString, AcceptsInfluxDBFormats) {
  struct Case {
    const char* text;
    int64_t ns;
  } cases[] = {
      {"1970-01-01T00:00:00Z", 0},
      {"2024-01-01T00:00:00Z", 1704067200000000000},
      {"2024-01-01T00:00:00.5Z", 1704067200500000000},
      {"2024-01-01T00:00:00.123456789Z", 1704067200123456789},
      {"2024-01-01T02:00:00+02:00", 1704067200000000000},
      {"2024-01-01", 1704067200000000000},
      {"2024-01-01 00:00:01", 1704067201000000000},
  };
  for (const auto& c : cases) {
    auto r = ParseTimeString(c.text);
    ASSERT_TRUE(r.ok()) << c.text << " " << r.status();
    EXPECT_EQ(*r, c.ns) << c.text;
  }
  EXPECT_FALSE(ParseTimeString("yesterday").ok());
  EXPECT_FALSE(ParseTimeString("2024-13-01T00:00:00Z").ok());
}

// ParseTimeString reads "YYYY-MM-DDTHH:MM:SS[.f]Z" itself and leaves other
// texts to absl::ParseTime; both must agree everywhere.
int64_t ReferenceTime(const std::string& s, bool* ok) {
  absl::Time t;
  std::string err;
  *ok = absl::ParseTime(absl::RFC3339_full, s, &t, &err) ||
        absl::ParseTime("%Y-%m-%d %H:%M:%E*S", s, absl::UTCTimeZone(), &t, &err) ||
        absl::ParseTime("%Y-%m-%d", s, absl::UTCTimeZone(), &t, &err);
  return *ok ? absl::ToUnixNanos(t) : 0;
}

TEST(ParseTimeString, CommonFormMatchesTheGeneralParser) {
  std::vector<std::string> texts = {
      "2024-02-29T12:34:56Z",           "2023-02-29T00:00:00Z",   "2100-02-29T00:00:00Z",
      "2000-02-29T23:59:59Z",           "2024-04-31T00:00:00Z",   "2024-12-31T23:59:59.999999999Z",
      "2024-01-01T24:00:00Z",           "2024-01-01T23:60:00Z",   "2024-01-01T23:59:60Z",
      "2024-00-01T00:00:00Z",           "2024-01-00T00:00:00Z",   "2024-01-01t00:00:00Z",
      "2024-01-01T00:00:00z",           "2024-01-01T00:00:00.Z",  "2024-01-01T00:00:00.1234567891Z",
      "2024-01-01T00:00:00.000000001Z", "2024-01-01T00:00:00.1Z", "2024-01-01T00:00:00+00:00",
      "2024-01-01T00:00:00Z ",          " 2024-01-01T00:00:00Z",  "2024-1-01T00:00:00Z",
      "1677-09-21T00:12:43Z",           "1678-01-01T00:00:00Z",   "2261-12-31T23:59:59.999999999Z",
      "2262-04-11T23:47:16Z",           "0001-01-01T00:00:00Z",   "9999-12-31T23:59:59Z",
      "1969-12-31T23:59:59.5Z",         "2024-01-01T00:00:0aZ",   "2024-01-01T00:00:00ZZ",
      "+024-01-01T00:00:00Z",           "2024-01-01T00:00:00",    "2024-01-01T00:00:00.5+01:00",
  };
  // Every month's first and last days over the fast path's years and a
  // little beyond, at varied times of day.
  for (int y = 1676; y <= 2263; y += 7) {
    for (int m = 1; m <= 12; m++) {
      for (int d : {1, 28, 29, 30, 31}) {
        char buf[64];
        std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ", y, m, d, (y + d) % 24,
                      (m * 7) % 60, (y * 13) % 60, y * 7919 % 1000000000);
        texts.push_back(buf);
        std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT00:00:00Z", y, m, d);
        texts.push_back(buf);
      }
    }
  }
  for (const std::string& s : texts) {
    bool ok = false;
    const int64_t want = ReferenceTime(s, &ok);
    auto got = ParseTimeString(s);
    ASSERT_EQ(got.ok(), ok) << s;
    if (ok) {
      EXPECT_EQ(*got, want) << s;
    }
  }
}

}  // namespace
}  // namespace m2mdb::query

namespace m2mdb::query {
namespace {

// --- Continuous queries (errors as influxd 1.6 words them) ----------------

TEST(Parser, ContinuousQueryStatements) {
  Statement s = MustParse(
      "create continuous query \"my cq\" on db resample every 10m for 2h begin select mean(v) into "
      "db.autogen.:MEASUREMENT from /c.*/ where host = 'a' group by time(1h, 5m), * fill(0) end");
  const auto* cq = s.As<CreateContinuousQueryStatement>();
  ASSERT_NE(cq, nullptr);
  EXPECT_EQ(cq->name, "my cq");
  EXPECT_EQ(cq->database, "db");
  EXPECT_EQ(cq->resample_every_ns, 600'000'000'000);
  EXPECT_EQ(cq->resample_for_ns, 7'200'000'000'000);
  ASSERT_TRUE(cq->select.into.has_value());
  const std::string printed = String(s);
  EXPECT_EQ(printed,
            "CREATE CONTINUOUS QUERY \"my cq\" ON db RESAMPLE EVERY 10m FOR 2h BEGIN SELECT mean(v) INTO "
            "db.autogen.:MEASUREMENT FROM /c.*/ WHERE host = 'a' GROUP BY time(1h, 5m), * fill(0) END");
  EXPECT_EQ(String(MustParse(printed)), printed);
  EXPECT_EQ(
      String(MustParse("CREATE CONTINUOUS QUERY c ON d RESAMPLE FOR 1h BEGIN SELECT max(v) INTO x FROM m "
                       "GROUP BY time(1h) END")),
      "CREATE CONTINUOUS QUERY c ON d RESAMPLE FOR 1h BEGIN SELECT max(v) INTO x FROM m GROUP BY time(1h) "
      "END");
  EXPECT_EQ(String(MustParse("SHOW CONTINUOUS QUERIES")), "SHOW CONTINUOUS QUERIES");
  EXPECT_EQ(String(MustParse("drop continuous query \"a b\" on db")), "DROP CONTINUOUS QUERY \"a b\" ON db");
  // A raw CQ parses (influxd accepts it; the executor refuses it).
  EXPECT_EQ(ErrorOf("CREATE CONTINUOUS QUERY c ON d BEGIN SELECT v INTO x FROM m END"), "OK");
}

TEST(Parser, ContinuousQueryErrorsAsInfluxd) {
  EXPECT_EQ(ErrorOf("CREATE CONTINUOUS QUERY cq3 ON db0 BEGIN SELECT mean(value) INTO cpu_mean FROM cpu END"),
            "error parsing query: found cpu, expected GROUP BY time(...) at line 1, char 80");
  EXPECT_EQ(
      ErrorOf("CREATE CONTINUOUS QUERY cq3 ON db0 BEGIN SELECT mean(value) FROM cpu GROUP BY time(1h) END"),
      "error parsing query: found FROM, expected INTO at line 1, char 61");
  EXPECT_EQ(
      ErrorOf("CREATE CONTINUOUS QUERY cq3 ON db0 RESAMPLE FOR 30m BEGIN SELECT mean(value) INTO x FROM cpu "
              "GROUP BY time(1h) END"),
      "error parsing query: FOR duration must be >= GROUP BY time duration: must be a minimum of 1h, got "
      "30m");
  EXPECT_EQ(
      ErrorOf("CREATE CONTINUOUS QUERY cq3 ON db0 RESAMPLE BEGIN SELECT mean(value) INTO x FROM cpu GROUP "
              "BY time(1h) END"),
      "error parsing query: found BEGIN, expected EVERY, FOR at line 1, char 45");
  EXPECT_EQ(ErrorOf("CREATE CONTINUOUS QUERY c ON d BEGIN SELECT mean(v) INTO x FROM m GROUP BY time(1h)"),
            "error parsing query: found EOF, expected END at line 1, char 84");
  EXPECT_EQ(ErrorOf("DROP CONTINUOUS QUERY c"),
            "error parsing query: found EOF, expected ON at line 1, char 25");
  EXPECT_EQ(ErrorOf("SHOW CONTINUOUS"),
            "error parsing query: found EOF, expected QUERIES at line 1, char 17");
}

}  // namespace
}  // namespace m2mdb::query
