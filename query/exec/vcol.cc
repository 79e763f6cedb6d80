// query/exec/vcol.cc — nullable columns and the column-at-a-time evaluator.
#include "query/exec/vcol.h"

#include <cmath>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "re2/re2.h"

#include "query/parser/parser.h"

namespace m2mdb::query::exec {

VType FromFieldType(FieldType t) {
  switch (t) {
    case FieldType::kFloat:
      return VType::kFloat;
    case FieldType::kInteger:
      return VType::kInt;
    case FieldType::kUnsigned:
      return VType::kUint;
    case FieldType::kBoolean:
      return VType::kBool;
    case FieldType::kString:
      return VType::kString;
  }
  return VType::kNull;
}

VCol VCol::Nulls(VType t, size_t n) {
  VCol c;
  c.type = t;
  c.valid.assign(n, 0);
  switch (t) {
    case VType::kFloat:
      c.f.assign(n, 0);
      break;
    case VType::kInt:
      c.i.assign(n, 0);
      break;
    case VType::kUint:
      c.u.assign(n, 0);
      break;
    case VType::kBool:
      c.b.assign(n, 0);
      break;
    case VType::kString:
      c.s.assign(n, std::string());
      break;
    case VType::kNull:
      break;
  }
  return c;
}

VCol VCol::FromColumn(const Column& col) {
  VCol c;
  c.type = FromFieldType(col.type);
  c.valid.assign(col.size(), 1);
  c.f = col.floats;
  c.i = col.ints;
  c.u = col.uints;
  c.b = col.bools;
  c.s = col.strings;
  return c;
}

void VCol::Reserve(size_t n) {
  valid.reserve(n);
  switch (type) {
    case VType::kFloat:
      f.reserve(n);
      break;
    case VType::kInt:
      i.reserve(n);
      break;
    case VType::kUint:
      u.reserve(n);
      break;
    case VType::kBool:
      b.reserve(n);
      break;
    case VType::kString:
      s.reserve(n);
      break;
    case VType::kNull:
      break;
  }
}

Value VCol::Get(size_t k) const {
  if (k >= valid.size() || !valid[k]) return std::monostate{};
  switch (type) {
    case VType::kFloat:
      return f[k];
    case VType::kInt:
      return i[k];
    case VType::kUint:
      return u[k];
    case VType::kBool:
      return b[k] != 0;
    case VType::kString:
      return s[k];
    case VType::kNull:
      break;
  }
  return std::monostate{};
}

void VCol::AppendCellTo(size_t k, std::vector<Value>* row) const {
  if (k < valid.size() && valid[k]) {
    switch (type) {
      case VType::kFloat:
        row->emplace_back(std::in_place_index<1>, f[k]);
        return;
      case VType::kInt:
        row->emplace_back(std::in_place_index<2>, i[k]);
        return;
      case VType::kUint:
        row->emplace_back(std::in_place_index<3>, u[k]);
        return;
      case VType::kBool:
        row->emplace_back(std::in_place_index<4>, b[k] != 0);
        return;
      case VType::kString:
        row->emplace_back(std::in_place_index<5>, s[k]);
        return;
      case VType::kNull:
        break;
    }
  }
  row->emplace_back();
}

void VCol::AppendNull() {
  valid.push_back(0);
  switch (type) {
    case VType::kFloat:
      f.push_back(0);
      break;
    case VType::kInt:
      i.push_back(0);
      break;
    case VType::kUint:
      u.push_back(0);
      break;
    case VType::kBool:
      b.push_back(0);
      break;
    case VType::kString:
      s.emplace_back();
      break;
    case VType::kNull:
      break;
  }
}

void VCol::AppendFrom(const VCol& src, size_t k) {
  if (type == VType::kNull && valid.empty()) type = src.type;
  if (src.type != type || !src.valid[k]) {
    AppendNull();
    return;
  }
  valid.push_back(1);
  switch (type) {
    case VType::kFloat:
      f.push_back(src.f[k]);
      break;
    case VType::kInt:
      i.push_back(src.i[k]);
      break;
    case VType::kUint:
      u.push_back(src.u[k]);
      break;
    case VType::kBool:
      b.push_back(src.b[k]);
      break;
    case VType::kString:
      s.push_back(src.s[k]);
      break;
    case VType::kNull:
      break;
  }
}

static VType TypeOfValue(const Value& v) {
  switch (v.index()) {
    case 1:
      return VType::kFloat;
    case 2:
      return VType::kInt;
    case 3:
      return VType::kUint;
    case 4:
      return VType::kBool;
    case 5:
      return VType::kString;
    default:
      return VType::kNull;
  }
}

static void AppendValue(VCol* c, const Value& v) {
  VType t = TypeOfValue(v);
  if (t == VType::kNull) {
    c->AppendNull();
    return;
  }
  if (t != c->type) {
    // Numeric conversions; anything else is null.
    if (c->type == VType::kFloat && (t == VType::kInt || t == VType::kUint)) {
      c->valid.push_back(1);
      c->f.push_back(t == VType::kInt ? static_cast<double>(std::get<int64_t>(v))
                                      : static_cast<double>(std::get<uint64_t>(v)));
      return;
    }
    c->AppendNull();
    return;
  }
  c->valid.push_back(1);
  switch (t) {
    case VType::kFloat:
      c->f.push_back(std::get<double>(v));
      break;
    case VType::kInt:
      c->i.push_back(std::get<int64_t>(v));
      break;
    case VType::kUint:
      c->u.push_back(std::get<uint64_t>(v));
      break;
    case VType::kBool:
      c->b.push_back(std::get<bool>(v));
      break;
    case VType::kString:
      c->s.push_back(std::get<std::string>(v));
      break;
    case VType::kNull:
      break;
  }
}

VCol VCol::FromValues(const std::vector<Value>& v) {
  VCol c;
  for (const Value& x : v) {
    VType t = TypeOfValue(x);
    if (t != VType::kNull) {
      c.type = t;
      break;
    }
  }
  c.Reserve(v.size());
  for (const Value& x : v) AppendValue(&c, x);
  return c;
}

VCol VCol::Constant(const Value& v, size_t n) {
  VCol c;
  c.type = TypeOfValue(v);
  // Filled in one go: SELECT * turns every tag into a constant column as
  // long as the answer, and a per-row variant dispatch showed in profiles.
  switch (c.type) {
    case VType::kNull:
      c.valid.assign(n, 0);
      return c;
    case VType::kFloat:
      c.f.assign(n, std::get<double>(v));
      break;
    case VType::kInt:
      c.i.assign(n, std::get<int64_t>(v));
      break;
    case VType::kUint:
      c.u.assign(n, std::get<uint64_t>(v));
      break;
    case VType::kBool:
      c.b.assign(n, std::get<bool>(v) ? 1 : 0);
      break;
    case VType::kString:
      c.s.assign(n, std::get<std::string>(v));
      break;
  }
  c.valid.assign(n, 1);
  return c;
}

namespace {

bool IsNumeric(VType t) { return t == VType::kFloat || t == VType::kInt || t == VType::kUint; }

// Row k of a numeric column as double.
inline double AsDouble(const VCol& c, size_t k) {
  switch (c.type) {
    case VType::kFloat:
      return c.f[k];
    case VType::kInt:
      return static_cast<double>(c.i[k]);
    case VType::kUint:
      return static_cast<double>(c.u[k]);
    default:
      return 0;
  }
}

std::vector<double> ToDoubles(const VCol& c) {
  if (c.type == VType::kFloat) return c.f;
  std::vector<double> out(c.size());
  for (size_t k = 0; k < out.size(); k++) out[k] = AsDouble(c, k);
  return out;
}

VCol BoolCol(size_t n) {
  VCol c;
  c.type = VType::kBool;
  c.b.assign(n, 0);
  c.valid.assign(n, 1);
  return c;
}

template <typename T, typename Cmp>
void CompareLoop(const std::vector<T>& a, const std::vector<T>& b, const VCol& va, const VCol& vb, Cmp cmp,
                 VCol* out) {
  const size_t n = out->size();
  for (size_t k = 0; k < n; k++)
    out->b[k] = va.valid[k] & vb.valid[k] & static_cast<uint8_t>(cmp(a[k], b[k]));
}

template <typename T>
void CompareTyped(BinaryOp op, const std::vector<T>& a, const std::vector<T>& b, const VCol& va,
                  const VCol& vb, VCol* out) {
  switch (op) {
    case BinaryOp::kEq:
      CompareLoop(
          a, b, va, vb, [](const T& x, const T& y) { return x == y; }, out);
      break;
    case BinaryOp::kNeq:
      CompareLoop(
          a, b, va, vb, [](const T& x, const T& y) { return x != y; }, out);
      break;
    case BinaryOp::kLt:
      CompareLoop(
          a, b, va, vb, [](const T& x, const T& y) { return x < y; }, out);
      break;
    case BinaryOp::kLte:
      CompareLoop(
          a, b, va, vb, [](const T& x, const T& y) { return x <= y; }, out);
      break;
    case BinaryOp::kGt:
      CompareLoop(
          a, b, va, vb, [](const T& x, const T& y) { return x > y; }, out);
      break;
    case BinaryOp::kGte:
      CompareLoop(
          a, b, va, vb, [](const T& x, const T& y) { return x >= y; }, out);
      break;
    default:
      break;
  }
}

VCol Compare(BinaryOp op, const VCol& a, const VCol& b) {
  const size_t n = a.size();
  VCol out = BoolCol(n);
  if (a.type == VType::kNull || b.type == VType::kNull) return out;
  if (a.type == VType::kInt && b.type == VType::kInt) {
    CompareTyped(op, a.i, b.i, a, b, &out);
  } else if (a.type == VType::kUint && b.type == VType::kUint) {
    CompareTyped(op, a.u, b.u, a, b, &out);
  } else if (IsNumeric(a.type) && IsNumeric(b.type)) {
    CompareTyped(op, ToDoubles(a), ToDoubles(b), a, b, &out);
  } else if (a.type == VType::kString && b.type == VType::kString) {
    CompareTyped(op, a.s, b.s, a, b, &out);
  } else if (a.type == VType::kBool && b.type == VType::kBool) {
    if (op == BinaryOp::kEq || op == BinaryOp::kNeq) CompareTyped(op, a.b, b.b, a, b, &out);
  }
  return out;
}

VCol Arith(BinaryOp op, const VCol& a, const VCol& b) {
  const size_t n = a.size();
  if (a.type == VType::kInt && b.type == VType::kInt && op != BinaryOp::kDiv) {
    VCol out = VCol::Nulls(VType::kInt, n);
    for (size_t k = 0; k < n; k++) {
      out.valid[k] = a.valid[k] & b.valid[k];
      int64_t x = a.i[k], y = b.i[k];
      uint64_t ux = static_cast<uint64_t>(x), uy = static_cast<uint64_t>(y);
      int64_t r = 0;
      switch (op) {
        case BinaryOp::kAdd:
          r = static_cast<int64_t>(ux + uy);
          break;
        case BinaryOp::kSub:
          r = static_cast<int64_t>(ux - uy);
          break;
        case BinaryOp::kMul:
          r = static_cast<int64_t>(ux * uy);
          break;
        case BinaryOp::kMod:
          r = (y == 0 || (y == -1)) ? 0 : x % y;
          break;
        case BinaryOp::kBitAnd:
          r = x & y;
          break;
        case BinaryOp::kBitOr:
          r = x | y;
          break;
        case BinaryOp::kBitXor:
          r = x ^ y;
          break;
        default:
          out.valid[k] = 0;
      }
      out.i[k] = r;
    }
    return out;
  }
  if (a.type == VType::kUint && b.type == VType::kUint && op != BinaryOp::kDiv) {
    VCol out = VCol::Nulls(VType::kUint, n);
    for (size_t k = 0; k < n; k++) {
      out.valid[k] = a.valid[k] & b.valid[k];
      uint64_t x = a.u[k], y = b.u[k], r = 0;
      switch (op) {
        case BinaryOp::kAdd:
          r = x + y;
          break;
        case BinaryOp::kSub:
          r = x - y;
          break;
        case BinaryOp::kMul:
          r = x * y;
          break;
        case BinaryOp::kMod:
          r = y == 0 ? 0 : x % y;
          break;
        case BinaryOp::kBitAnd:
          r = x & y;
          break;
        case BinaryOp::kBitOr:
          r = x | y;
          break;
        case BinaryOp::kBitXor:
          r = x ^ y;
          break;
        default:
          out.valid[k] = 0;
      }
      out.u[k] = r;
    }
    return out;
  }
  if (a.type == VType::kBool && b.type == VType::kBool &&
      (op == BinaryOp::kBitAnd || op == BinaryOp::kBitOr || op == BinaryOp::kBitXor)) {
    VCol out = VCol::Nulls(VType::kBool, n);
    for (size_t k = 0; k < n; k++) {
      out.valid[k] = a.valid[k] & b.valid[k];
      out.b[k] = op == BinaryOp::kBitAnd  ? (a.b[k] & b.b[k])
                 : op == BinaryOp::kBitOr ? (a.b[k] | b.b[k])
                                          : (a.b[k] ^ b.b[k]);
    }
    return out;
  }
  if (!IsNumeric(a.type) || !IsNumeric(b.type) || op == BinaryOp::kBitAnd || op == BinaryOp::kBitOr ||
      op == BinaryOp::kBitXor) {
    return VCol::Nulls(VType::kFloat, n);
  }
  const std::vector<double> x = ToDoubles(a);
  const std::vector<double> y = ToDoubles(b);
  VCol out = VCol::Nulls(VType::kFloat, n);
  const bool int_div = op == BinaryOp::kDiv && a.type != VType::kFloat && b.type != VType::kFloat;
  for (size_t k = 0; k < n; k++) {
    out.valid[k] = a.valid[k] & b.valid[k];
    double r = 0;
    switch (op) {
      case BinaryOp::kAdd:
        r = x[k] + y[k];
        break;
      case BinaryOp::kSub:
        r = x[k] - y[k];
        break;
      case BinaryOp::kMul:
        r = x[k] * y[k];
        break;
      case BinaryOp::kDiv:
        // InfluxDB: division by zero yields 0.
        r = y[k] == 0 ? 0 : x[k] / y[k];
        break;
      case BinaryOp::kMod:
        r = std::fmod(x[k], y[k]);
        break;
      default:
        break;
    }
    (void)int_div;
    if (std::isnan(r)) out.valid[k] = 0;
    out.f[k] = r;
  }
  return out;
}

VCol Logical(BinaryOp op, const VCol& a, const VCol& b) {
  const size_t n = a.size();
  VCol out = BoolCol(n);
  auto truth = [](const VCol& c, size_t k) -> uint8_t {
    return c.type == VType::kBool ? (c.valid[k] & c.b[k]) : 0;
  };
  for (size_t k = 0; k < n; k++) {
    out.b[k] = op == BinaryOp::kAnd ? (truth(a, k) & truth(b, k)) : (truth(a, k) | truth(b, k));
  }
  return out;
}

const Expr* Unparen(const Expr* e) {
  while (const auto* p = e->As<ParenExpr>()) e = p->expr.get();
  return e;
}

Value LiteralValue(const Expr& e) {
  if (const auto* x = e.As<NumberLiteral>()) return x->value;
  if (const auto* x = e.As<IntegerLiteral>()) return x->value;
  if (const auto* x = e.As<UnsignedLiteral>()) return x->value;
  if (const auto* x = e.As<StringLiteral>()) return x->value;
  if (const auto* x = e.As<BooleanLiteral>()) return x->value;
  if (const auto* x = e.As<DurationLiteral>()) return x->ns;
  if (const auto* x = e.As<TimeLiteral>()) return x->ns;
  return std::monostate{};
}

VCol MathCall(const Call& c, const EvalContext& ctx) {
  const size_t n = ctx.rows;
  std::vector<VCol> args;
  for (const auto& a : c.args) args.push_back(Eval(*a, ctx));
  if (args.empty() || !IsNumeric(args[0].type)) return VCol::Nulls(VType::kFloat, n);
  const std::string& f = c.name;
  // Type-preserving functions on integers.
  if ((f == "abs" || f == "ceil" || f == "floor" || f == "round") && args[0].type == VType::kInt) {
    VCol out = args[0];
    if (f == "abs") {
      for (auto& v : out.i) v = v < 0 ? -v : v;
    }
    return out;
  }
  std::vector<double> x = ToDoubles(args[0]);
  std::vector<double> y;
  if (args.size() > 1) {
    if (!IsNumeric(args[1].type)) return VCol::Nulls(VType::kFloat, n);
    y = ToDoubles(args[1]);
  }
  VCol out = VCol::Nulls(VType::kFloat, n);
  for (size_t k = 0; k < n; k++) {
    out.valid[k] = args[0].valid[k] & (args.size() > 1 ? args[1].valid[k] : 1);
    double v = x[k], r = 0;
    if (f == "abs")
      r = std::fabs(v);
    else if (f == "sin")
      r = std::sin(v);
    else if (f == "cos")
      r = std::cos(v);
    else if (f == "tan")
      r = std::tan(v);
    else if (f == "asin")
      r = std::asin(v);
    else if (f == "acos")
      r = std::acos(v);
    else if (f == "atan")
      r = std::atan(v);
    else if (f == "atan2")
      r = std::atan2(v, y[k]);
    else if (f == "exp")
      r = std::exp(v);
    else if (f == "ln")
      r = std::log(v);
    else if (f == "log")
      r = std::log(v) / std::log(y[k]);
    else if (f == "log2")
      r = std::log2(v);
    else if (f == "log10")
      r = std::log10(v);
    else if (f == "sqrt")
      r = std::sqrt(v);
    else if (f == "pow")
      r = std::pow(v, y[k]);
    else if (f == "ceil")
      r = std::ceil(v);
    else if (f == "floor")
      r = std::floor(v);
    else if (f == "round")
      r = std::round(v);
    else
      out.valid[k] = 0;
    if (std::isnan(r)) out.valid[k] = 0;
    out.f[k] = r;
  }
  return out;
}

}  // namespace

bool RefInPlace(const Expr& expr, const EvalContext& ctx, const VCol** col, Value* constant) {
  // Mirrors the VarRef branch of Eval below.
  const auto* v = Unparen(&expr)->As<VarRef>();
  if (v == nullptr || (absl::EqualsIgnoreCase(v->name, "time") && ctx.times != nullptr)) return false;
  *col = nullptr;
  if (ctx.is_tag && ctx.is_tag(*v)) {
    if (ctx.tag_value) {
      *constant = ctx.tag_value(*v);
    } else {
      *constant = ctx.tag ? Value(ctx.tag(*v)) : Value(std::string());
    }
    return true;
  }
  if (ctx.field) *col = ctx.field(*v);
  if (*col == nullptr) *constant = std::monostate{};
  return true;
}

VCol Eval(const Expr& expr, const EvalContext& ctx) {
  const size_t n = ctx.rows;
  const Expr& e = *Unparen(&expr);
  if (ctx.call && e.Is<Call>()) {
    if (const VCol* c = ctx.call(e)) return *c;
  }
  if (const auto* v = e.As<VarRef>()) {
    if (absl::EqualsIgnoreCase(v->name, "time") && ctx.times != nullptr) {
      VCol c;
      c.type = VType::kInt;
      c.i = *ctx.times;
      c.valid.assign(n, 1);
      return c;
    }
    if (ctx.is_tag && ctx.is_tag(*v)) {
      if (ctx.tag_value) return VCol::Constant(ctx.tag_value(*v), n);
      return VCol::Constant(ctx.tag ? Value(ctx.tag(*v)) : Value(std::string()), n);
    }
    if (ctx.field) {
      if (const VCol* c = ctx.field(*v)) return *c;
    }
    return VCol::Nulls(VType::kNull, n);
  }
  if (const auto* b = e.As<BinaryExpr>()) {
    if (b->op == BinaryOp::kEqRegex || b->op == BinaryOp::kNeqRegex) {
      const Expr* rhs = Unparen(b->rhs.get());
      VCol out = BoolCol(n);
      const auto* re_lit = rhs->As<RegexLiteral>();
      if (re_lit == nullptr) return out;
      RE2 re(re_lit->pattern);
      if (!re.ok()) return out;
      VCol lhs = Eval(*b->lhs, ctx);
      if (lhs.type != VType::kString) return out;
      for (size_t k = 0; k < n; k++) {
        if (!lhs.valid[k]) continue;
        bool m = RE2::PartialMatch(lhs.s[k], re);
        out.b[k] = b->op == BinaryOp::kEqRegex ? m : !m;
      }
      return out;
    }
    VCol lhs = Eval(*b->lhs, ctx);
    VCol rhs = Eval(*b->rhs, ctx);
    switch (b->op) {
      case BinaryOp::kAnd:
      case BinaryOp::kOr:
        return Logical(b->op, lhs, rhs);
      case BinaryOp::kEq:
      case BinaryOp::kNeq:
      case BinaryOp::kLt:
      case BinaryOp::kLte:
      case BinaryOp::kGt:
      case BinaryOp::kGte:
        // A time column compared with a time string.
        if (lhs.type == VType::kInt && rhs.type == VType::kString) {
          auto t = ParseTimeString(rhs.s.empty() ? "" : rhs.s[0]);
          if (t.ok()) rhs = VCol::Constant(Value(*t), n);
        }
        return Compare(b->op, lhs, rhs);
      default:
        return Arith(b->op, lhs, rhs);
    }
  }
  if (const auto* u = e.As<UnaryMinus>()) {
    VCol c = Eval(*u->expr, ctx);
    for (auto& x : c.f) x = -x;
    for (auto& x : c.i) x = static_cast<int64_t>(0 - static_cast<uint64_t>(x));
    if (c.type == VType::kUint || c.type == VType::kBool || c.type == VType::kString) {
      return VCol::Nulls(VType::kFloat, n);
    }
    return c;
  }
  if (const auto* c = e.As<Call>()) return MathCall(*c, ctx);
  if (e.Is<NowCall>()) return VCol::Nulls(VType::kNull, n);
  return VCol::Constant(LiteralValue(e), n);
}

std::vector<uint8_t> EvalMask(const Expr& e, const EvalContext& ctx) {
  VCol c = Eval(e, ctx);
  std::vector<uint8_t> m(ctx.rows, 0);
  if (c.type != VType::kBool) return m;
  for (size_t k = 0; k < ctx.rows; k++) m[k] = c.valid[k] & c.b[k];
  return m;
}

bool EvalTagCondition(const Expr& e, const std::vector<std::pair<std::string, std::string>>& tags) {
  EvalContext ctx;
  ctx.rows = 1;
  ctx.is_tag = [](const VarRef&) { return true; };
  ctx.tag = [&tags](const VarRef& v) -> std::string {
    for (const auto& [k, val] : tags) {
      if (k == v.name) return val;
    }
    return "";
  };
  return EvalMask(e, ctx)[0] != 0;
}

}  // namespace m2mdb::query::exec
