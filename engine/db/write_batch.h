// WAL records of the engine. The framing (length, CRC, seq) is the WAL's;
// this is the payload.
//
//   type (u8: 1 = line protocol write)
//   database name (varint length + bytes)
//   precision (u8, lineproto::Precision)
//   default time (fixed64, ns: given to lines without a timestamp)
//   rejected line count (varint), then each rejected line number (varint,
//     ascending, delta-coded)
//   body (the rest: the request's line protocol, byte for byte)
//
// Storing the request body itself makes the acknowledged write path one
// memcpy; replay parses it again with the same precision and default time
// and skips the lines that were rejected when it was written, so it applies
// exactly the points that were acknowledged.
#ifndef M2MDB_ENGINE_DB_WRITE_BATCH_H_
#define M2MDB_ENGINE_DB_WRITE_BATCH_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "m2mdb/db.h"
#include "m2mdb/status.h"

namespace m2mdb {

constexpr uint8_t kRecordLineProtocol = 1;

struct WalWriteRecord {
  std::string_view database;
  uint8_t precision = 0;
  int64_t default_time = 0;
  std::vector<int> rejected_lines;  // ascending
  std::string_view body;
};

void EncodeWalWriteRecord(const WalWriteRecord& r, std::string* out);
// Views in `r` point into `payload`.
Status DecodeWalWriteRecord(std::string_view payload, WalWriteRecord* r);

// Renders typed points as line protocol (ns timestamps), for WritePoints.
// Floats use the shortest text that round-trips.
std::string PointsToLineProtocol(const std::vector<Point>& points);

}  // namespace m2mdb

#endif  // M2MDB_ENGINE_DB_WRITE_BATCH_H_
