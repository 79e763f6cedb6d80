// WAL records of the engine. The framing (length, CRC, seq) is the WAL's;
// this is the payload; its first byte is the record type. Layouts are in
// docs/format/wal.md.
//
// Type 1, a line-protocol write (WriteLineProtocol):
//   type (u8: 1)
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
//
// Type 2, typed points (WritePoints): the points that were accepted, already
// validated, in request order, so the write path never renders text:
//   type (u8: 2)
//   database name (varint length + bytes)
//   then until the end, per point:
//     timestamp (fixed64, ns)
//     measurement (varint length + bytes, unescaped)
//     tag count (varint), then key, value (each varint length + bytes),
//       sorted by key
//     field count (varint), then per field: key (varint length + bytes),
//       type (u8, FieldType), value (fixed64 for float bits, int64 and
//       uint64; u8 0/1 for bool; varint length + bytes for string)
#ifndef M2MDB_ENGINE_DB_WRITE_BATCH_H_
#define M2MDB_ENGINE_DB_WRITE_BATCH_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/lineproto/lineproto.h"
#include "m2mdb/db.h"
#include "m2mdb/status.h"

namespace m2mdb {

// Persisted record types: never renumber.
constexpr uint8_t kRecordLineProtocol = 1;
constexpr uint8_t kRecordPoints = 2;
// Types 1 and 2 with the retention policy after the database name (written
// since retention policies exist; 1 and 2 are still read, as the default
// policy at replay).
constexpr uint8_t kRecordLineProtocolRp = 3;
constexpr uint8_t kRecordPointsRp = 4;

struct WalWriteRecord {
  std::string_view database;
  // The policy the write went to, resolved (never "the default"); empty in
  // a type-1 record (written before policies existed: the default).
  std::string_view retention_policy;
  uint8_t precision = 0;
  int64_t default_time = 0;
  std::vector<int> rejected_lines;  // ascending
  std::string_view body;
};

void EncodeWalWriteRecord(const WalWriteRecord& r, std::string* out);
// Views in `r` point into `payload`.
Status DecodeWalWriteRecord(std::string_view payload, WalWriteRecord* r);

// The record type of `payload` (0 if empty).
inline uint8_t WalRecordType(std::string_view payload) {
  return payload.empty() ? 0 : static_cast<uint8_t>(payload[0]);
}

// Type 2 (4 with a non-empty retention_policy): starts a record in `out`
// (cleared); AppendWalPoint adds one point. `p.tags` must be sorted by key.
void BeginWalPointsRecord(std::string_view database, std::string_view retention_policy, std::string* out);
void AppendWalPoint(const lineproto::Point& p, std::string* out);
// The same encoding in two parts, for a writer that remembers a series: its
// measurement and tags as EncodeWalPointSeries writes them (to `series`,
// cleared), then per point AppendWalPointOfSeries with those bytes, which
// ignores p.measurement and p.tags. The record is byte for byte the one
// AppendWalPoint writes.
void EncodeWalPointSeries(const lineproto::Point& p, std::string* series);
void AppendWalPointOfSeries(const lineproto::Point& p, std::string_view series, std::string* out);
// Reads the header of a type-2 or type-4 record: `*database`,
// `*retention_policy` (empty for type 2) and `*rest` (the points) view
// `payload`.
Status DecodeWalPointsHeader(std::string_view payload, std::string_view* database,
                             std::string_view* retention_policy, std::string_view* rest);
// Whether `type` is a typed-points record (2 or 4) / a line-protocol one (1 or 3).
inline bool IsWalPointsRecord(uint8_t type) { return type == kRecordPoints || type == kRecordPointsRp; }
inline bool IsWalLineProtocolRecord(uint8_t type) {
  return type == kRecordLineProtocol || type == kRecordLineProtocolRp;
}
// Decodes the next point of `*rest` into `*p` (views into the payload) and
// advances `*rest`. Sets p->series_raw to a view of `*key`, the canonical
// series key, which it builds.
Status DecodeWalPoint(std::string_view* rest, lineproto::Point* p, std::string* key);

// Renders typed points as line protocol (ns timestamps), for WritePoints.
// Floats use the shortest text that round-trips.
std::string PointsToLineProtocol(const std::vector<Point>& points);
// One point of PointsToLineProtocol, appended to `out`.
void AppendPointAsLineProtocol(const Point& p, std::string* out);
// The same for a parsed (or WAL-decoded) point: one line, ns timestamp. A
// parsed point's key is copied as written (p.series_raw, when set).
void AppendParsedPointAsLineProtocol(const lineproto::Point& p, std::string* out);

}  // namespace m2mdb

#endif  // M2MDB_ENGINE_DB_WRITE_BATCH_H_
