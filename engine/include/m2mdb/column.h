// m2mdb/column.h — a run of points of one field of one series.
#ifndef M2MDB_COLUMN_H_
#define M2MDB_COLUMN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "m2mdb/types.h"

namespace m2mdb {

// Timestamps with the values of one field, in the vector matching `type`
// (the other value vectors stay empty). Unless a function says otherwise a
// Column is sorted by time with unique timestamps.
struct Column {
  FieldType type = FieldType::kFloat;
  std::vector<int64_t> times;
  std::vector<double> floats;         // kFloat
  std::vector<int64_t> ints;          // kInteger
  std::vector<uint64_t> uints;        // kUnsigned
  std::vector<uint8_t> bools;         // kBoolean, 0 or 1
  std::vector<std::string> strings;   // kString

  size_t size() const { return times.size(); }
  bool empty() const { return times.empty(); }
  void clear() {
    times.clear(); floats.clear(); ints.clear(); uints.clear(); bools.clear(); strings.clear();
  }
  void reserve(size_t n);
  // Cuts every vector to at most n elements; the space stays (a shrink never
  // reallocates), for reading the next series into the same column.
  void truncate(size_t n);
  // Appends point i of `src` (same type).
  void AppendFrom(const Column& src, size_t i);
  // Appends a typed value; v.type must equal type.
  void Append(int64_t t, const FieldValue& v);
  FieldValue ValueAt(size_t i) const;
};

}  // namespace m2mdb

#endif  // M2MDB_COLUMN_H_
