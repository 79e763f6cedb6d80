// query/parser/validate.cc — InfluxDB's compile-time checks that need no
// schema: known functions and their arity, GROUP BY forms, fill() and
// GROUP BY without an aggregate, function calls in WHERE. The messages are
// influxd 1.6's, without the "error parsing query: " prefix (influxd reports
// them after parsing succeeded). Type checks that need the schema, and
// nested-aggregate rules, are the planner's.
#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

#include "query/parser/parser.h"

namespace m2mdb::query {
namespace {

struct Arity {
  std::string_view name;
  int min;
  int max;         // -1: unbounded
  bool aggregate;  // false for math functions, which apply row by row
};

constexpr Arity kFunctions[] = {
    // Aggregates.
    {"count", 1, 1, true},
    {"sum", 1, 1, true},
    {"mean", 1, 1, true},
    {"median", 1, 1, true},
    {"mode", 1, 1, true},
    {"spread", 1, 1, true},
    {"stddev", 1, 1, true},
    {"integral", 1, 2, true},
    {"distinct", 1, 1, true},
    // Selectors.
    {"first", 1, 1, true},
    {"last", 1, 1, true},
    {"min", 1, 1, true},
    {"max", 1, 1, true},
    {"percentile", 2, 2, true},
    {"sample", 2, 2, true},
    {"top", 2, -1, true},
    {"bottom", 2, -1, true},
    // Transformations.
    {"derivative", 1, 2, true},
    {"non_negative_derivative", 1, 2, true},
    {"difference", 1, 1, true},
    {"non_negative_difference", 1, 1, true},
    {"moving_average", 2, 2, true},
    {"cumulative_sum", 1, 1, true},
    {"elapsed", 1, 2, true},
    {"holt_winters", 3, 3, true},
    {"holt_winters_with_fit", 3, 3, true},
    {"chande_momentum_oscillator", 2, 4, true},
    {"exponential_moving_average", 2, 4, true},
    {"double_exponential_moving_average", 2, 4, true},
    {"triple_exponential_moving_average", 2, 4, true},
    {"triple_exponential_derivative", 2, 4, true},
    {"relative_strength_index", 2, 4, true},
    {"kaufmans_efficiency_ratio", 2, 3, true},
    {"kaufmans_adaptive_moving_average", 2, 3, true},
    // Math (row by row).
    {"abs", 1, 1, false},
    {"sin", 1, 1, false},
    {"cos", 1, 1, false},
    {"tan", 1, 1, false},
    {"asin", 1, 1, false},
    {"acos", 1, 1, false},
    {"atan", 1, 1, false},
    {"atan2", 2, 2, false},
    {"exp", 1, 1, false},
    {"ln", 1, 1, false},
    {"log", 2, 2, false},
    {"log2", 1, 1, false},
    {"log10", 1, 1, false},
    {"sqrt", 1, 1, false},
    {"pow", 2, 2, false},
    {"ceil", 1, 1, false},
    {"floor", 1, 1, false},
    {"round", 1, 1, false},
};

const Arity* FindFunction(std::string_view name) {
  for (const Arity& a : kFunctions) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

bool IsSelector(std::string_view name) {
  return name == "first" || name == "last" || name == "min" || name == "max" || name == "percentile" ||
         name == "sample" || name == "top" || name == "bottom";
}

Status Invalid(std::string msg) { return absl::InvalidArgumentError(msg); }

// top()/bottom() as influxd's compileTopBottom checks them, in its order
// (the argument count is checked before, with the other functions).
Status CheckTopBottom(const Call& c, int64_t select_limit) {
  const Expr& last = *c.args.back();
  const auto* n = last.As<IntegerLiteral>();
  if (n == nullptr) {
    // Go prints a float literal with three decimals here (%s of the AST).
    const auto* f = last.As<NumberLiteral>();
    return Invalid(absl::StrCat("expected integer as last argument in ", c.name, "(), found ",
                                f != nullptr ? absl::StrFormat("%.3f", f->value) : String(last)));
  }
  if (n->value <= 0) {
    return Invalid(absl::StrCat("limit (", n->value, ") in ", c.name, " function must be at least 1"));
  }
  if (select_limit > 0 && n->value > select_limit) {
    return Invalid(absl::StrCat("limit (", n->value, ") in ", c.name,
                                " function can not be larger than the LIMIT (", select_limit,
                                ") in the select statement"));
  }
  if (!c.args[0]->Is<VarRef>()) {
    return Invalid(
        absl::StrCat("expected first argument to be a field in ", c.name, "(), found ", String(*c.args[0])));
  }
  for (size_t k = 1; k + 1 < c.args.size(); k++) {
    if (!c.args[k]->Is<VarRef>()) {
      return Invalid(
          absl::StrCat("only fields or tags are allowed in ", c.name, "(), found ", String(*c.args[k])));
    }
  }
  return absl::OkStatus();
}

Status CheckCall(const Call& c) {
  const int got = static_cast<int>(c.args.size());
  if (c.name == "distinct") {
    if (got == 0) return Invalid("distinct function requires at least one argument");
    if (got != 1) return Invalid("distinct function can only have one argument");
  }
  const Arity* a = FindFunction(c.name);
  if (a == nullptr) return Invalid(absl::StrCat("undefined function ", c.name, "()"));
  if (a->max == -1) {
    if (got < a->min) {
      return Invalid(absl::StrCat("invalid number of arguments for ", c.name, ", expected at least ", a->min,
                                  ", got ", got));
    }
  } else if (a->min == a->max) {
    if (got != a->min) {
      return Invalid(
          absl::StrCat("invalid number of arguments for ", c.name, ", expected ", a->min, ", got ", got));
    }
  } else if (got < a->min || got > a->max) {
    return Invalid(absl::StrCat("invalid number of arguments for ", c.name, ", expected at least ", a->min,
                                " but no more than ", a->max, ", got ", got));
  }
  // An aggregate over a literal ("count(1)") has nothing to read.
  // (top()/bottom() say it their way: CheckTopBottom.)
  if (a->aggregate && c.name != "top" && c.name != "bottom") {
    const Expr& arg = *c.args[0];
    bool literal = arg.Is<NumberLiteral>() || arg.Is<IntegerLiteral>() || arg.Is<UnsignedLiteral>() ||
                   arg.Is<StringLiteral>() || arg.Is<BooleanLiteral>() || arg.Is<DurationLiteral>();
    if (literal) return Invalid(absl::StrCat("expected field argument in ", c.name, "()"));
  }
  return absl::OkStatus();
}

Status ValidateDimensions(const std::vector<Dimension>& dims) {
  bool seen_time = false;
  for (const Dimension& d : dims) {
    if (std::holds_alternative<TimeDimension>(d.node)) {
      if (seen_time) return Invalid("multiple time dimensions not allowed");
      seen_time = true;
    } else if (const auto* t = std::get_if<TagDimension>(&d.node)) {
      if (absl::AsciiStrToLower(t->name) == "time") {
        return Invalid("time() is a function and expects at least one argument");
      }
    } else if (const auto* x = std::get_if<ExprDimension>(&d.node)) {
      const Expr& e = *x->expr;
      const Call* c = e.As<Call>();
      if (c == nullptr) {
        if (e.Is<NowCall>()) return Invalid("only time() calls allowed in dimensions");
        return Invalid("only time and tag dimensions allowed");
      }
      if (c->name != "time") return Invalid("only time() calls allowed in dimensions");
      if (c->args.empty() || c->args.size() > 2) return Invalid("time dimension expected 1 or 2 arguments");
      if (!c->args[0]->Is<DurationLiteral>()) return Invalid("time dimension must have duration argument");
      if (seen_time) return Invalid("multiple time dimensions not allowed");
      seen_time = true;
      if (c->args.size() < 2) continue;
      const Expr& off = *c->args[1];
      if (const auto* oc = off.As<Call>()) {
        if (oc->name == "now") return Invalid("time dimension offset now() function requires no arguments");
        return Invalid("time dimension offset function must be now()");
      }
      return Invalid("time dimension offset must be duration or now()");
    }
  }
  return absl::OkStatus();
}

Status ValidateSelect(const SelectStatement& s) {
  RETURN_IF_ERROR(ValidateDimensions(s.dimensions));

  Status st = absl::OkStatus();
  bool has_aggregate = false;
  int aggregate_calls = 0;
  bool all_selectors = true;
  bool has_raw_field = false;
  bool has_distinct = false;  // distinct(f) or DISTINCT f as a whole field
  int non_time_fields = 0;
  std::string top_bottom;  // the first top() or bottom() met
  int calls = 0;
  for (const Field& f : s.fields) {
    // The time column is not a field: `SELECT time AS t, mean(v)` is an
    // aggregate query.
    if (IsTimeField(*f.expr)) continue;
    non_time_fields++;
    const Expr* top = f.expr.get();
    while (const auto* p = top->As<ParenExpr>()) top = p->expr.get();
    if (const auto* c = top->As<Call>(); (c != nullptr && c->name == "distinct") || top->Is<Distinct>()) {
      has_distinct = true;
    }
    bool has_var = false;
    bool field_has_aggregate = false;
    WalkExpr(*f.expr, [&](const Expr& e) {
      if (!st.ok()) return false;
      if (e.Is<NowCall>()) {
        st = Invalid("undefined function now()");
        return false;
      }
      if (const auto* c = e.As<Call>()) {
        if (FindFunction(c->name) != nullptr && FindFunction(c->name)->aggregate) calls++;
        if ((c->name == "top" || c->name == "bottom") && !top_bottom.empty()) {
          st = Invalid(
              absl::StrCat("selector function ", top_bottom, "() cannot be combined with other functions"));
          return false;
        }
        st = CheckCall(*c);
        if (st.ok() && (c->name == "top" || c->name == "bottom")) {
          st = CheckTopBottom(*c, s.limits.limit);
          top_bottom = c->name;
        }
        if (!st.ok()) return false;
        const Arity* a = FindFunction(c->name);
        if (a != nullptr && a->aggregate) {
          field_has_aggregate = true;
          aggregate_calls++;
          all_selectors &= IsSelector(c->name);
        }
        // Arguments of calls do not count as raw fields.
        has_var = true;
        return true;
      }
      if (e.Is<VarRef>() || e.Is<Wildcard>() || e.Is<RegexLiteral>() || e.Is<Distinct>()) has_var = true;
      return true;
    });
    RETURN_IF_ERROR(st);
    if (!has_var) return Invalid("field must contain at least one variable");
    if (field_has_aggregate) {
      has_aggregate = true;
    } else if (!f.expr->Is<Distinct>()) {
      has_raw_field = true;
    }
  }
  if (!top_bottom.empty() && calls > 1) {
    return Invalid(
        absl::StrCat("selector function ", top_bottom, "() cannot be combined with other functions"));
  }
  // distinct() makes rows of its own, which nothing else lines up with.
  if (has_distinct && non_time_fields > 1) {
    return Invalid("aggregate function distinct() cannot be combined with other functions or fields");
  }
  // A lone selector may carry other fields along (SELECT max(v), host); they
  // are read at the point it selected, which several selectors do not share.
  if (has_aggregate && has_raw_field) {
    if (!all_selectors) return Invalid("mixing aggregate and non-aggregate queries is not supported");
    if (aggregate_calls > 1) {
      return Invalid("mixing multiple selector functions with tags or fields is not supported");
    }
  }
  bool has_time_dim = false;
  for (const Dimension& d : s.dimensions) has_time_dim |= std::holds_alternative<TimeDimension>(d.node);
  if (!has_aggregate && has_time_dim) return Invalid("GROUP BY requires at least one aggregate function");
  if (!has_aggregate && s.fill.specified && s.fill.mode != FillMode::kNull) {
    std::string arg;
    switch (s.fill.mode) {
      case FillMode::kNone:
        arg = "none";
        break;
      case FillMode::kPrevious:
        arg = "previous";
        break;
      case FillMode::kLinear:
        arg = "linear";
        break;
      default:
        if (const auto* i = std::get_if<int64_t>(&s.fill.value)) {
          arg = std::to_string(*i);
        } else {
          arg = absl::StrCat(std::get<double>(s.fill.value));
        }
    }
    return Invalid(absl::StrCat("fill(", arg, ") must be used with a function"));
  }
  if (s.condition != nullptr) {
    WalkExpr(*s.condition, [&](const Expr& e) {
      if (!st.ok()) return false;
      if (const auto* c = e.As<Call>()) {
        const Arity* a = FindFunction(c->name);
        if (a == nullptr || a->aggregate) {
          st = Invalid(absl::StrCat("invalid function call in condition: ", String(e)));
          return false;
        }
      }
      return true;
    });
    RETURN_IF_ERROR(st);
  }
  for (const Source& src : s.sources) {
    if (const auto* sq = std::get_if<SubQuery>(&src.node)) RETURN_IF_ERROR(ValidateSelect(*sq->statement));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsTimeField(const Expr& e) {
  const Expr* x = &e;
  while (const auto* p = x->As<ParenExpr>()) x = p->expr.get();
  const auto* v = x->As<VarRef>();
  return v != nullptr && v->name == "time";
}

Status Validate(const Statement& statement) {
  if (const auto* s = statement.As<SelectStatement>()) return ValidateSelect(*s);
  if (const auto* s = statement.As<ExplainStatement>()) return ValidateSelect(s->select);
  if (const auto* s = statement.As<CreateContinuousQueryStatement>()) return ValidateSelect(s->select);
  if (const auto* s = statement.As<ShowCardinalityStatement>()) return ValidateDimensions(s->dimensions);
  return absl::OkStatus();
}

}  // namespace m2mdb::query
