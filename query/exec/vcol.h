// query/exec/vcol.h — nullable typed columns and the vectorized expression
// evaluator the executor runs over them.
//
// A VCol is one typed vector plus a validity byte per row; expressions are
// evaluated a whole column at a time (one loop per operator), never one row
// at a time through a variant or a virtual call.
#ifndef M2MDB_QUERY_EXEC_VCOL_H_
#define M2MDB_QUERY_EXEC_VCOL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "m2mdb/column.h"
#include "m2mdb/query/ast.h"
#include "m2mdb/query/executor.h"

namespace m2mdb::query::exec {

enum class VType : uint8_t { kNull, kFloat, kInt, kUint, kBool, kString };

struct VCol {
  VType type = VType::kNull;
  std::vector<double> f;
  std::vector<int64_t> i;
  std::vector<uint64_t> u;
  std::vector<uint8_t> b;
  std::vector<std::string> s;
  std::vector<uint8_t> valid;  // one per row; 1 = has a value

  size_t size() const { return valid.size(); }
  // A column of `n` rows of type `t`, all null.
  static VCol Nulls(VType t, size_t n);
  // All rows of an engine column (all valid).
  static VCol FromColumn(const Column& c);
  // From cells; the type is the first non-null cell's (others are converted
  // or become null).
  static VCol FromValues(const std::vector<Value>& v);
  // `n` copies of a constant.
  static VCol Constant(const Value& v, size_t n);

  Value Get(size_t k) const;
  // Appends Get(k) to `row`, constructed in place: building raw rows through
  // Get's returned variant, moved and then destroyed, showed in profiles.
  void AppendCellTo(size_t k, std::vector<Value>* row) const;
  // Appends row k of `src` (same type, or this is kNull and empty).
  void AppendFrom(const VCol& src, size_t k);
  void AppendNull();
  void Reserve(size_t n);
};

VType FromFieldType(FieldType t);

// Resolves names during evaluation. `field` returns the column for a field
// (nullptr: no such field, rows are null); `tag` returns a tag's value for
// the current series ("" if missing). `call` returns the precomputed column
// of a function call (post-aggregation), nullptr if unknown.
struct EvalContext {
  size_t rows = 0;
  const std::vector<int64_t>* times = nullptr;  // the "time" column
  std::function<const VCol*(const VarRef&)> field;
  std::function<std::string(const VarRef&)> tag;
  // If set, used instead of `tag` (a missing tag may be null).
  std::function<Value(const VarRef&)> tag_value;
  std::function<bool(const VarRef&)> is_tag;
  std::function<const VCol*(const Expr&)> call;
};

// Evaluates `e` over ctx.rows rows. Comparisons yield kBool columns where a
// null operand gives false; arithmetic with a null operand gives null.
VCol Eval(const Expr& e, const EvalContext& ctx);

// An output column that needs no evaluation, for the raw projection, which
// would otherwise copy it into a column of its own (SELECT * is all such
// references): for a reference to a field, the column ctx.field gives, in
// *col (not copied); for a tag, or a name that is neither, the one value every
// row has, in *constant, with *col null. What Eval would compute, row for row.
// Returns false, setting nothing, for any other expression ("time" included).
bool RefInPlace(const Expr& e, const EvalContext& ctx, const VCol** col, Value* constant);

// Rows where a boolean condition holds.
std::vector<uint8_t> EvalMask(const Expr& e, const EvalContext& ctx);

// Evaluates an expression that references only tags (no fields) for one
// series: true if it holds.
bool EvalTagCondition(const Expr& e, const std::vector<std::pair<std::string, std::string>>& tags);

}  // namespace m2mdb::query::exec

#endif  // M2MDB_QUERY_EXEC_VCOL_H_
