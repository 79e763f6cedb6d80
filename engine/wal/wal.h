// The write-ahead log: segmented files of length + CRC32C framed records.
//
// File layout (docs/format/wal.md): a directory of segment files named
// "%020llu.wal" after the sequence number of their first record. Each record:
//
//   masked crc32c (fixed32) | payload length (fixed32) | seq (fixed64) | payload
//
// The CRC covers seq and payload. Sequence numbers increase by one per record
// across segments.
//
// Thread-safety: Append, Sync, Rotate, RemoveBefore and the accessors are
// thread-safe. Records are written with write(2) during Append, so an appended
// record survives a kill -9 of the process even before it is synced.
#ifndef M2MDB_ENGINE_WAL_WAL_H_
#define M2MDB_ENGINE_WAL_WAL_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "m2mdb/options.h"
#include "m2mdb/status.h"

namespace m2mdb::wal {

struct WalOptions {
  std::string dir;  // created if missing
  WalSyncMode sync_mode = WalSyncMode::kAlways;
  // A segment is closed and a new one started when it grows past this.
  uint64_t segment_bytes = 64ull << 20;
  // kBatch: the background fsync period.
  int batch_interval_ms = 100;
  // The first sequence number to use if the directory holds no records
  // (callers pass checkpoint + 1 so numbers never go backwards).
  uint64_t min_next_seq = 1;
};

struct WalStats {
  uint64_t records = 0;
  uint64_t bytes = 0;
  uint64_t fsyncs = 0;
  uint64_t fsync_nanos = 0;  // total time spent in fdatasync
};

class Wal {
 public:
  // Opens the log in options.dir and replays every record with
  // seq >= replay_from in order, calling `replay` for each (a non-OK return
  // aborts Open with that status). A torn or corrupt record ends the log:
  // its segment is truncated before it, later segments are deleted, and a
  // warning with the bytes dropped is logged; Open still succeeds. After
  // Open, appends go to a fresh segment.
  static StatusOr<std::unique_ptr<Wal>> Open(
      const WalOptions& options, uint64_t replay_from,
      absl::FunctionRef<Status(uint64_t seq, std::string_view payload)> replay);

  virtual ~Wal() = default;

  // Writes one record and returns its sequence number. Does not wait for
  // durability: call Sync(seq) before acknowledging.
  virtual StatusOr<uint64_t> Append(std::string_view payload) = 0;

  // Waits until record `seq` is durable per the sync mode. kAlways: group
  // commit — if no fsync is running, this caller fsyncs everything appended
  // so far; otherwise it waits for the running one and, if that did not cover
  // `seq`, for the next. kBatch, kNone: returns at once (kBatch syncs in the
  // background every batch_interval_ms).
  virtual Status Sync(uint64_t seq) = 0;

  // Closes the current segment (fsynced) and starts a new one. Returns the
  // sequence number the next record will get: every record below it lives in
  // a closed segment.
  virtual StatusOr<uint64_t> Rotate() = 0;

  // Deletes closed segments all of whose records have seq < `seq`.
  virtual Status RemoveBefore(uint64_t seq) = 0;

  // The sequence number of the last appended (or replayed) record; 0 if none.
  virtual uint64_t last_seq() const = 0;
  virtual WalStats stats() const = 0;
  // Total bytes of the segment files.
  virtual uint64_t size_bytes() const = 0;

  // Syncs and closes. Further calls fail with kFailedPrecondition.
  virtual Status Close() = 0;
};

}  // namespace m2mdb::wal

#endif  // M2MDB_ENGINE_WAL_WAL_H_
