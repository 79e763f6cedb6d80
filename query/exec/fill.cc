// query/exec/fill.cc — fill(): the nulls of windowed columns, and the
// extra (auxiliary) columns of empty windows.
#include "query/exec/select_stages.h"

namespace m2mdb::query::exec {

// Fill value cast to the column's type.
namespace {

Value FillValue(const Fill& fill, const std::vector<Value>& col) {
  Value num = std::holds_alternative<int64_t>(fill.value) ? Value(std::get<int64_t>(fill.value))
                                                          : Value(std::get<double>(fill.value));
  for (const Value& v : col) {
    if (v.index() == 2) {
      if (num.index() == 1) return static_cast<int64_t>(std::get<double>(num));
      return num;
    }
    if (v.index() == 1) {
      if (num.index() == 2) return static_cast<double>(std::get<int64_t>(num));
      return num;
    }
  }
  return num;
}

}  // namespace

// Fills the nulls of a column of windows (one value per window, in window
// order): count gives 0 under fill(null).
void ApplyFill(const Fill& fill, bool is_count, std::vector<Value>* col) {
  switch (fill.mode) {
    case FillMode::kNone:
      break;
    case FillMode::kNull:
      if (is_count) {
        for (Value& v : *col) {
          if (v.index() == 0) v = int64_t{0};
        }
      }
      break;
    case FillMode::kPrevious: {
      Value prev;
      for (Value& v : *col) {
        if (v.index() == 0) {
          v = prev;
        } else {
          prev = v;
        }
      }
      break;
    }
    case FillMode::kLinear: {
      size_t last = SIZE_MAX;
      for (size_t k = 0; k < col->size(); k++) {
        if ((*col)[k].index() == 0) continue;
        if (last != SIZE_MAX && k > last + 1) {
          const Value a = (*col)[last];
          const Value b = (*col)[k];
          for (size_t j = last + 1; j < k; j++) {
            if (a.index() == 2 && b.index() == 2) {
              int64_t ia = std::get<int64_t>(a), ib = std::get<int64_t>(b);
              (*col)[j] = ia + (ib - ia) * static_cast<int64_t>(j - last) / static_cast<int64_t>(k - last);
            } else if (a.index() == 1 && b.index() == 1) {
              double fa = std::get<double>(a), fb = std::get<double>(b);
              (*col)[j] = fa + (fb - fa) * static_cast<double>(j - last) / static_cast<double>(k - last);
            }
          }
        }
        last = k;
      }
      break;
    }
    case FillMode::kNumber: {
      Value fv = FillValue(fill, *col);
      if (is_count && fv.index() == 1) fv = static_cast<int64_t>(std::get<double>(fv));
      for (Value& v : *col) {
        if (v.index() == 0) v = fv;
      }
      break;
    }
  }
}

void FillExtraColumns(const SelectPlan& plan, const std::vector<uint8_t>& empty_row, ResultSeries* rs) {
  const SelectStatement& s = *plan.statement;
  if (!empty_row.empty() && plan.has_time_group &&
      (s.fill.mode == FillMode::kNumber || s.fill.mode == FillMode::kPrevious)) {
    // influxd fills the extra columns of an empty window like the
    // selector's: fill(N) puts N in each (tags too), fill(previous) repeats
    // the previous row's; fill(linear) leaves them null.
    Value number;
    if (const auto* i = std::get_if<int64_t>(&s.fill.value)) {
      number = *i;
    } else {
      number = std::get<double>(s.fill.value);
    }
    for (size_t fi = 0; fi < plan.fields.size(); fi++) {
      if (ContainsFunctionCall(*plan.fields[fi].expr)) continue;
      for (size_t r = 0; r < rs->values.size(); r++) {
        if (!empty_row[r]) continue;
        if (s.fill.mode == FillMode::kNumber) {
          rs->values[r][fi + 1] = number;
        } else if (r > 0) {
          rs->values[r][fi + 1] = rs->values[r - 1][fi + 1];
        }
      }
    }
  }
}

}  // namespace m2mdb::query::exec
