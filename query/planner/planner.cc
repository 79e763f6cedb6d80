// query/planner/planner.cc — see planner.h.
#include "query/planner/planner.h"

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "re2/re2.h"

#include "query/parser/parser.h"

namespace m2mdb::query::planner {

ExprPtr Clone(const Expr& e) {
  Expr::Node node = std::visit(
      [](const auto& n) -> Expr::Node {
        using T = std::decay_t<decltype(n)>;
        if constexpr (std::is_same_v<T, Call>) {
          Call c;
          c.name = n.name;
          for (const auto& a : n.args) c.args.push_back(Clone(*a));
          return c;
        } else if constexpr (std::is_same_v<T, BinaryExpr>) {
          BinaryExpr b;
          b.op = n.op;
          b.lhs = Clone(*n.lhs);
          b.rhs = Clone(*n.rhs);
          return b;
        } else if constexpr (std::is_same_v<T, UnaryMinus>) {
          return UnaryMinus{Clone(*n.expr)};
        } else if constexpr (std::is_same_v<T, ParenExpr>) {
          return ParenExpr{Clone(*n.expr)};
        } else {
          return n;
        }
      },
      e.node);
  return MakeExpr(e.offset, std::move(node));
}

namespace {

const Expr* Unparen(const Expr* e) {
  while (const auto* p = e->As<ParenExpr>()) e = p->expr.get();
  return e;
}

bool IsTimeRef(const Expr& e) {
  const auto* v = Unparen(&e)->As<VarRef>();
  return v != nullptr && absl::EqualsIgnoreCase(v->name, "time");
}

// Evaluates a time value: literal, time string, duration, now() +/- d.
StatusOr<int64_t> TimeValue(const Expr& expr, int64_t now, const absl::TimeZone* zone) {
  const Expr& e = *Unparen(&expr);
  if (const auto* s = e.As<StringLiteral>()) {
    auto t = ParseTimeString(s->value, zone);
    if (!t.ok()) {
      return absl::InvalidArgumentError(
          "invalid operation: time and *influxql.StringLiteral are not compatible");
    }
    return *t;
  }
  if (const auto* i = e.As<IntegerLiteral>()) return i->value;
  if (const auto* d = e.As<DurationLiteral>()) return d->ns;
  if (const auto* t = e.As<TimeLiteral>()) return t->ns;
  if (const auto* n = e.As<NumberLiteral>()) return static_cast<int64_t>(n->value);
  if (e.Is<NowCall>()) return now;
  if (const auto* b = e.As<BinaryExpr>()) {
    if (b->op == BinaryOp::kAdd || b->op == BinaryOp::kSub) {
      ASSIGN_OR_RETURN(int64_t l, TimeValue(*b->lhs, now, zone));
      ASSIGN_OR_RETURN(int64_t r, TimeValue(*b->rhs, now, zone));
      // Saturated: `now() - 300000000d` or a literal near the ends of the
      // range must not wrap around to the other end.
      const __int128 v =
          b->op == BinaryOp::kAdd ? static_cast<__int128>(l) + r : static_cast<__int128>(l) - r;
      if (v > INT64_MAX) return INT64_MAX;
      if (v < INT64_MIN) return INT64_MIN;
      return static_cast<int64_t>(v);
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("invalid time expression: ", String(e)));
}

BinaryOp Flip(BinaryOp op) {
  switch (op) {
    case BinaryOp::kLt:
      return BinaryOp::kGt;
    case BinaryOp::kLte:
      return BinaryOp::kGte;
    case BinaryOp::kGt:
      return BinaryOp::kLt;
    case BinaryOp::kGte:
      return BinaryOp::kLte;
    default:
      return op;
  }
}

void Conjuncts(const Expr* e, std::vector<const Expr*>* out) {
  if (out->capacity() == 0) out->reserve(8);  // one allocation for the usual few
  e = Unparen(e);
  if (const auto* b = e->As<BinaryExpr>(); b != nullptr && b->op == BinaryOp::kAnd) {
    Conjuncts(b->lhs.get(), out);
    Conjuncts(b->rhs.get(), out);
    return;
  }
  out->push_back(e);
}

ExprPtr AndAll(std::vector<ExprPtr> parts) {
  ExprPtr out;
  for (auto& p : parts) {
    if (!out) {
      out = std::move(p);
      continue;
    }
    BinaryExpr b;
    b.op = BinaryOp::kAnd;
    b.lhs = std::move(out);
    b.rhs = std::move(p);
    out = MakeExpr(0, std::move(b));
  }
  return out;
}

}  // namespace

bool ReferencesTime(const Expr& e) {
  bool found = false;
  WalkExpr(e, [&](const Expr& x) {
    if (const auto* v = x.As<VarRef>(); v != nullptr && absl::EqualsIgnoreCase(v->name, "time")) found = true;
    return !found;
  });
  return found;
}

StatusOr<ExprPtr> ExtractTimeRange(const Expr* cond, int64_t now, TimeRange* range) {
  std::vector<const Expr*> parts;
  RETURN_IF_ERROR(ExtractTimeRangeConjuncts(cond, now, range, &parts));
  std::vector<ExprPtr> rest;
  for (const Expr* p : parts) rest.push_back(Clone(*p));
  return AndAll(std::move(rest));
}

Status ExtractTimeRangeConjuncts(const Expr* cond, int64_t now, TimeRange* range,
                                 std::vector<const Expr*>* rest, const absl::TimeZone* zone) {
  if (cond == nullptr) return absl::OkStatus();
  std::vector<const Expr*> parts;
  Conjuncts(cond, &parts);
  for (const Expr* p : parts) {
    const auto* b = p->As<BinaryExpr>();
    bool handled = false;
    if (b != nullptr) {
      BinaryOp op = b->op;
      const Expr* other = nullptr;
      if (IsTimeRef(*b->lhs)) {
        other = b->rhs.get();
      } else if (IsTimeRef(*b->rhs)) {
        other = b->lhs.get();
        op = Flip(op);
      }
      if (other != nullptr && (op == BinaryOp::kLt || op == BinaryOp::kLte || op == BinaryOp::kGt ||
                               op == BinaryOp::kGte || op == BinaryOp::kEq)) {
        ASSIGN_OR_RETURN(int64_t t, TimeValue(*other, now, zone));
        // In 128 bits, then clamped to the storable range: `time > t` at the
        // top of int64 is empty rather than wrapped (`t + 1`), and a bound
        // outside [kMinTime, kMaxTime] is no bound at all on that side.
        const __int128 lo = op == BinaryOp::kGt ? static_cast<__int128>(t) + 1 : t;
        const __int128 hi = op == BinaryOp::kLt ? static_cast<__int128>(t) - 1 : t;
        const bool sets_min = op == BinaryOp::kGt || op == BinaryOp::kGte || op == BinaryOp::kEq;
        const bool sets_max = op == BinaryOp::kLt || op == BinaryOp::kLte || op == BinaryOp::kEq;
        if ((sets_min && lo > kMaxTime) || (sets_max && hi < kMinTime)) {
          range->min = kMaxTime;  // nothing can match
          range->max = kMinTime;
        } else {
          if (sets_min && lo > range->min) range->min = static_cast<int64_t>(lo);
          if (sets_max && hi < range->max) range->max = static_cast<int64_t>(hi);
        }
        handled = true;
      }
    }
    if (!handled) rest->push_back(p);
  }
  return absl::OkStatus();
}

namespace {

bool OnlyTags(const Expr& e, const std::function<bool(const VarRef&)>& is_field) {
  bool ok = true;
  WalkExpr(e, [&](const Expr& x) {
    if (const auto* v = x.As<VarRef>()) {
      if (is_field(*v) || absl::EqualsIgnoreCase(v->name, "time")) ok = false;
    }
    if (x.Is<Call>()) ok = false;
    return ok;
  });
  return ok;
}

bool ToMatcher(const Expr& e, TagMatcher* m) {
  const auto* b = e.As<BinaryExpr>();
  if (b == nullptr) return false;
  const Expr* l = Unparen(b->lhs.get());
  const Expr* r = Unparen(b->rhs.get());
  const VarRef* v = l->As<VarRef>();
  const Expr* lit = r;
  if (v == nullptr && (b->op == BinaryOp::kEq || b->op == BinaryOp::kNeq)) {
    v = r->As<VarRef>();
    lit = l;
  }
  if (v == nullptr) return false;
  m->key = v->name;
  switch (b->op) {
    case BinaryOp::kEq:
    case BinaryOp::kNeq:
      if (const auto* s = lit->As<StringLiteral>()) {
        m->op = b->op == BinaryOp::kEq ? TagOp::kEqual : TagOp::kNotEqual;
        m->value = s->value;
        return true;
      }
      return false;
    case BinaryOp::kEqRegex:
    case BinaryOp::kNeqRegex:
      if (const auto* re = lit->As<RegexLiteral>()) {
        m->op = b->op == BinaryOp::kEqRegex ? TagOp::kRegex : TagOp::kNotRegex;
        m->value = re->pattern;
        return true;
      }
      return false;
    default:
      return false;
  }
}

// Collects the literals of `k = 'a' OR k = 'b' OR ...` (any nesting of OR
// and parentheses) when every disjunct compares the same tag key `k` for
// equality with a string. Only printable ASCII literals: their quoted form
// is a valid RE2 pattern that DBImpl::MatchSeries recognizes as a set of
// literals (non-ASCII bytes could make an invalid UTF-8 pattern).
bool CollectEqualities(const Expr& e, std::string* key, std::vector<std::string>* values) {
  const Expr* x = Unparen(&e);
  if (const auto* b = x->As<BinaryExpr>(); b != nullptr && b->op == BinaryOp::kOr) {
    return CollectEqualities(*b->lhs, key, values) && CollectEqualities(*b->rhs, key, values);
  }
  TagMatcher m;
  if (!ToMatcher(*x, &m) || m.op != TagOp::kEqual) return false;
  if (!values->empty() && m.key != *key) return false;
  for (char c : m.value) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  *key = std::move(m.key);
  values->push_back(std::move(m.value));
  return true;
}

// The anchored regex that matches exactly `values`, as
// TagOp::kRegex matchers are applied (partial match, so ^ and $ anchor it).
std::string ExactAlternation(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  std::string re = "^(?:";
  for (size_t i = 0; i < values.size(); i++) {
    if (i > 0) re += '|';
    re += RE2::QuoteMeta(values[i]);
  }
  re += ")$";
  return re;
}

}  // namespace

ConditionParts SplitCondition(const Expr* cond, const std::function<bool(const VarRef&)>& is_field) {
  if (cond == nullptr) return ConditionParts();
  std::vector<const Expr*> parts;
  Conjuncts(cond, &parts);
  return SplitConjuncts(parts, is_field);
}

ConditionParts SplitConjuncts(const std::vector<const Expr*>& parts,
                              const std::function<bool(const VarRef&)>& is_field) {
  ConditionParts out;
  std::vector<ExprPtr> tag_rest, row_rest;
  for (const Expr* p : parts) {
    if (OnlyTags(*p, is_field)) {
      TagMatcher m;
      std::string key;
      std::vector<std::string> values;
      if (ToMatcher(*p, &m)) {
        out.matchers.push_back(std::move(m));
      } else if (CollectEqualities(*p, &key, &values)) {
        // A disjunction of equalities picks a few series: as an index
        // matcher only those series are read, where a tag filter would see
        // (and read) every series of the measurement first.
        out.matchers.push_back(
            TagMatcher{std::move(key), TagOp::kRegex, ExactAlternation(std::move(values))});
      } else {
        tag_rest.push_back(Clone(*p));
      }
    } else {
      row_rest.push_back(Clone(*p));
    }
  }
  out.tag_filter = AndAll(std::move(tag_rest));
  out.row_filter = AndAll(std::move(row_rest));
  return out;
}

namespace {

void CollectNames(const Expr& e, std::vector<std::string>* names) {
  const Expr& x = *Unparen(&e);
  if (const auto* v = x.As<VarRef>()) {
    names->push_back(v->name);
  } else if (const auto* c = x.As<Call>()) {
    names->push_back(c->name);
  } else if (const auto* b = x.As<BinaryExpr>()) {
    CollectNames(*b->lhs, names);
    CollectNames(*b->rhs, names);
  } else if (const auto* u = x.As<UnaryMinus>()) {
    CollectNames(*u->expr, names);
  }
}

}  // namespace

std::string FieldName(const Expr& e) {
  const Expr& x = *Unparen(&e);
  if (const auto* v = x.As<VarRef>()) return v->name;
  if (const auto* c = x.As<Call>()) return c->name;
  if (x.Is<Distinct>()) return "distinct";
  std::vector<std::string> names;
  CollectNames(x, &names);
  return absl::StrJoin(names, "_");
}

std::vector<std::string> ResolveColumnNames(const std::vector<std::string>& names,
                                            const std::vector<bool>& is_alias) {
  // Names that are all distinct and not "time" come out as they are (most
  // field lists): no map to build.
  if (names.size() <= 8) {
    bool distinct = true;
    for (size_t i = 0; i < names.size() && distinct; i++) {
      distinct = names[i] != "time";
      for (size_t j = 0; j < i && distinct; j++) distinct = names[i] != names[j];
    }
    if (distinct) return names;
  }
  std::vector<std::string> out(names.size());
  std::map<std::string, int> seen;
  seen["time"] = 1;
  for (size_t i = 0; i < names.size(); i++) {
    if (is_alias[i]) {
      out[i] = names[i];
      seen[names[i]] = 1;
    }
  }
  for (size_t i = 0; i < names.size(); i++) {
    if (is_alias[i]) continue;
    std::string name = names[i];
    auto it = seen.find(name);
    if (it != seen.end()) {
      int count = it->second;
      while (true) {
        std::string candidate = absl::StrCat(name, "_", count);
        if (seen.find(candidate) == seen.end()) {
          seen[name] = count + 1;
          name = candidate;
          break;
        }
        count++;
      }
    }
    seen[name]++;
    out[i] = name;
  }
  return out;
}

bool IsSelectorFunction(std::string_view n) {
  return n == "first" || n == "last" || n == "min" || n == "max" || n == "percentile" || n == "sample" ||
         n == "top" || n == "bottom";
}

bool IsAggregateFunction(std::string_view n) {
  return IsSelectorFunction(n) || n == "count" || n == "sum" || n == "mean" || n == "median" || n == "mode" ||
         n == "spread" || n == "stddev" || n == "distinct" || n == "integral";
}

bool IsTransformFunction(std::string_view n) {
  return n == "derivative" || n == "non_negative_derivative" || n == "difference" ||
         n == "non_negative_difference" || n == "moving_average" || n == "cumulative_sum" || n == "elapsed";
}

bool IsMathFunction(std::string_view n) {
  // Every one is 2 to 5 letters, starting with one of these: most calls
  // (count, mean, ...) are rejected at once.
  if (n.size() < 2 || n.size() > 5 || std::string_view("acefilprst").find(n[0]) == std::string_view::npos) {
    return false;
  }
  return n == "abs" || n == "sin" || n == "cos" || n == "tan" || n == "asin" || n == "acos" || n == "atan" ||
         n == "atan2" || n == "exp" || n == "ln" || n == "log" || n == "log2" || n == "log10" ||
         n == "sqrt" || n == "pow" || n == "ceil" || n == "floor" || n == "round";
}

}  // namespace m2mdb::query::planner
