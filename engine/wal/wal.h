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
#include <functional>
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
  // Testing only: when set, called in place of every fdatasync of a segment
  // (its status is taken as fdatasync's), to simulate I/O errors. Default:
  // unset (the real fdatasync).
  std::function<Status()> fsync_hook_for_testing;
  // Testing only: when set, called before every record write; a non-OK
  // status makes the append write half the record (a torn write, as on a
  // full disk) and fail with that status. Default: unset.
  std::function<Status()> append_hook_for_testing;
};

// The largest payload Append accepts; a header claiming more is corruption.
inline constexpr uint64_t kMaxWalRecordBytes = 1ull << 30;
// Bytes before the payload: masked crc (4), length (4), seq (8).
inline constexpr uint64_t kWalRecordHeaderBytes = 16;

struct WalStats {
  uint64_t records = 0;
  uint64_t bytes = 0;
  uint64_t fsyncs = 0;
  uint64_t fsync_nanos = 0;  // total time spent in fdatasync
};

class WalReader;

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
  // durability: call Sync(seq) before acknowledging. After a write or fsync
  // error the log refuses appends (the error, without file paths, which go
  // to the log) until TryRecover succeeds; Append tries that first.
  virtual StatusOr<uint64_t> Append(std::string_view payload) = 0;

  // After a write or fsync error: cuts the failed segment back to the last
  // record that can be vouched for, fsyncs it and starts a new segment, so
  // appends work again (e.g. once disk space is freed). Records cut off had
  // not been acknowledged: their Sync returned an error and keeps doing so.
  // Rate-limited (every 100 ms at most). Returns OK only when the log is
  // healthy: after a failure that means a write has succeeded since, or
  // the directory's volume has room again (probed here, for health checks).
  virtual Status TryRecover() = 0;
  // OK, or the error of the current failure period (no file paths): from a
  // failure until a write succeeds or TryRecover finds room. On a full disk
  // the log keeps recovering and failing again; this does not flap.
  virtual Status health() const = 0;
  // Write and fsync errors so far.
  virtual uint64_t failures() const = 0;

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
  // Right after Open this is the next seq - 1, i.e. max(min_next_seq - 1, the
  // last record in the log), so it never goes back behind a checkpoint.
  virtual uint64_t last_seq() const = 0;
  virtual WalStats stats() const = 0;
  // Total bytes of the segment files.
  virtual uint64_t size_bytes() const = 0;

  // Syncs and closes. Further calls fail with kFailedPrecondition.
  virtual Status Close() = 0;

  // --- Reading while the log is written (durable subscriptions) ---

  // The highest seq a reader may see: every record <= it was acknowledged
  // or could have been (kAlways: covered by an fsync; kBatch, kNone: written
  // to the kernel). Records above it may still be cut by a recovery.
  virtual uint64_t durable_seq() const = 0;
  // The seq of the oldest record still in the log (the first segment's
  // name); last_seq() + 1 when the log holds no record.
  virtual uint64_t first_seq() const = 0;
  // Bytes of the segments that hold records >= `seq` (the whole segment
  // holding it counts): the disk a reader at `seq` keeps alive.
  virtual uint64_t BytesFrom(uint64_t seq) const = 0;
  // Seconds since the segment holding `seq` was last written (its mtime), a
  // lower bound on the age of the records in it; 0 if `seq` is in the
  // active segment or past the end.
  virtual int64_t AgeSecondsOf(uint64_t seq) const = 0;
  // A reader positioned at `from_seq`; see WalReader.
  virtual std::unique_ptr<WalReader> NewReader(uint64_t from_seq) = 0;
};

// Reads records of a live log from a position on, in seq order, without
// taking the append path's locks for longer than a snapshot of the segment
// list (files are read with pread, never mapped: a recovery may truncate the
// active segment behind durable_seq()).
// Thread-safety: one thread at a time per reader; any number of readers.
// REQUIRES: the Wal outlives its readers.
class WalReader {
 public:
  virtual ~WalReader() = default;
  // Calls `visit` for each record from next_seq() up to durable_seq(), until
  // at least `max_bytes` of payload were visited or the end. Returns the
  // number of records visited. A gap in the seqs (a segment boundary after
  // a recovery) is skipped. kOutOfRange if next_seq() is older than the
  // oldest segment (removed), kDataLoss for a corrupt record (the position
  // stays before it); a non-OK `visit` stops and is returned, the position
  // staying at that record.
  virtual StatusOr<size_t> Read(uint64_t max_bytes,
                                absl::FunctionRef<Status(uint64_t seq, std::string_view payload)> visit) = 0;
  // Moves to next_seq()'s record without reading it (walking headers), so
  // that backlog_bytes() is exact. Errors as Read.
  virtual Status Seek() = 0;
  // The seq the next Read starts at.
  virtual uint64_t next_seq() const = 0;
  // Bytes of the log from next_seq()'s record on (exact once a Read has
  // positioned the reader in its segment, else whole segments as
  // Wal::BytesFrom counts them).
  virtual uint64_t backlog_bytes() const = 0;
};

// One record seen by ScanWal.
struct WalRecordInfo {
  std::string segment;  // file name, e.g. "00000000000000000001.wal"
  uint64_t offset = 0;  // of the record header within the segment
  uint64_t seq = 0;
};

// Reads every record of the log in `dir` in order without modifying anything
// (for `m2mdb check` and debugging), calling `visit` for each (a non-OK return
// stops the scan with that status). Returns kDataLoss naming the segment and
// offset of the first torn or corrupt record; Open would cut the log there.
// Thread-safety: safe to call while no Wal has `dir` open for writing.
Status ScanWal(const std::string& dir,
               absl::FunctionRef<Status(const WalRecordInfo& info, std::string_view payload)> visit);

}  // namespace m2mdb::wal

#endif  // M2MDB_ENGINE_WAL_WAL_H_
