// Saturating arithmetic on int64 timestamps and time partitions.
//
// Accepted timestamps span −9223372036854775806 … 9223372036854775806
// (kMinTime … kMaxTime), so a partition start, a partition end, `t + 1`,
// `now - retention` or `start + length` can leave int64 at either end. Plain
// arithmetic there is undefined behaviour and, in practice, wraps: a point at
// kMaxTime once got a partition end below its partition start, which made
// every later flush fail (issue 16). Every such computation goes through
// these helpers.
#ifndef M2MDB_ENGINE_UTIL_TIME_MATH_H_
#define M2MDB_ENGINE_UTIL_TIME_MATH_H_

#include <cstdint>
#include <limits>

namespace m2mdb {

constexpr int64_t SaturateToInt64(__int128 v) {
  if (v > std::numeric_limits<int64_t>::max()) return std::numeric_limits<int64_t>::max();
  if (v < std::numeric_limits<int64_t>::min()) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}

constexpr int64_t SatAdd(int64_t a, int64_t b) { return SaturateToInt64(static_cast<__int128>(a) + b); }
constexpr int64_t SatSub(int64_t a, int64_t b) { return SaturateToInt64(static_cast<__int128>(a) - b); }

// The time partition holding `t`: [start, end], both inclusive, for
// partitions of `partition_ns` (> 0) aligned to 0. The partitions at the two
// ends of int64 are cut to int64: `start` of the lowest one is INT64_MIN and
// `end` of the highest one INT64_MAX, so start <= t <= end always holds and
// two distinct partitions never share a start.
struct PartitionBounds {
  int64_t start;
  int64_t end;
};

constexpr PartitionBounds PartitionOf(int64_t t, int64_t partition_ns) {
  __int128 q = t / partition_ns;
  if (t % partition_ns != 0 && t < 0) q--;
  const __int128 start = q * partition_ns;
  return {SaturateToInt64(start), SaturateToInt64(start + partition_ns - 1)};
}

// The inclusive end of the partition that starts at `start` (as returned by
// PartitionOf, so also for the cut lowest partition, whose real start lies
// below INT64_MIN).
constexpr int64_t PartitionEnd(int64_t start, int64_t partition_ns) {
  return PartitionOf(start, partition_ns).end;
}

}  // namespace m2mdb

#endif  // M2MDB_ENGINE_UTIL_TIME_MATH_H_
