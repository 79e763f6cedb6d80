// m2mdb/options.h — options for opening a data directory and for writes.
// Every field says what it does and its default.
#ifndef M2MDB_OPTIONS_H_
#define M2MDB_OPTIONS_H_

#include <cstdint>
#include <string>

namespace m2mdb {

class ChangeListener;  // m2mdb/change_listener.h

// When a write is acknowledged. Persisted nowhere; may differ between runs.
enum class WalSyncMode {
  // Acknowledge after an fdatasync covers the write (group commit: one fsync
  // covers every batch waiting). Survives kill -9 and power loss. Default.
  kAlways,
  // Acknowledge after write(2); a background thread fsyncs every
  // wal_batch_interval_ms. Survives kill -9; power loss may lose that window.
  kBatch,
  // Never fsync the WAL. Survives kill -9 (the OS has the data), not power loss.
  kNone,
};

struct Options {
  // The data directory; created if missing. Required.
  std::string data_dir;
  // Default: kAlways.
  WalSyncMode wal_sync = WalSyncMode::kAlways;
  // kBatch fsync period. Default: 100 ms.
  int wal_batch_interval_ms = 100;
  // WAL segment size before rotation. Default: 64 MiB.
  uint64_t wal_segment_bytes = 64ull << 20;
  // Memory budget of the in-memory heads (bytes, estimated): the active head
  // is frozen at half of it and flushed to segment files in the background
  // while a new head takes writes; writers stall only while more than one
  // frozen head waits for the disk. Default: 64 MiB (larger budgets did not
  // ingest faster in bench/http_load runs; they only held more memory).
  uint64_t head_memory_bytes = 64ull << 20;
  // Flush the head at least this often even if it is small (seconds; 0 =
  // only on memory). Default: 600.
  int head_max_age_seconds = 600;
  // Points per segment block at most. Default: 4096.
  uint32_t max_block_points = 4096;
  // Size-tiered compaction: the newest segments of a partition that share a
  // level are merged into one of the next level once there are this many.
  // Default: 4.
  int compaction_trigger = 4;
  // A partition that received no new segment for this long, and of which no
  // in-memory head holds points, has all its segments merged into one by the
  // background thread (one partition per round), so that the data a load
  // left behind ends up in the single-source layout queries are fastest on
  // without anyone calling Compact (seconds; 0 = never). Default: 60.
  int compaction_idle_seconds = 60;
  // Run flushes, compactions and retention in background threads. Tests that
  // drive them by hand set false. Default: true.
  bool background_work = true;
  // Close() writes the head to segment files so the next start replays
  // nothing. Tests set false to exercise WAL replay. Default: true.
  bool flush_on_close = true;
  // Create the directory if missing. Default: true.
  bool create_if_missing = true;
  // Partition length for databases created implicitly (nanoseconds).
  // Default: 1 day.
  int64_t default_partition_ns = 86400ll * 1000000000ll;
  // Max series per database; 0 = unlimited. A write creating more is rejected
  // line by line. Default: 0.
  uint64_t max_series_per_database = 0;
  // Open an existing directory without changing anything in it (for `m2mdb
  // check` and `export` on a stopped server's data): no directories, LOCK,
  // WAL or RocksDB files are created, the WAL is read past the checkpoint
  // into memory without repairing a torn tail, unregistered segment files
  // stay, nothing is flushed at close, and every write fails with
  // kFailedPrecondition. Fails if a server has the directory open.
  // Default: false.
  bool read_only = false;
  // What a read does with a damaged segment block (or a segment whose index
  // cannot be read) that it needs: false fails the read with kDataLoss
  // naming the segment (no server path); true skips the block, logs a
  // warning (rate-limited) and counts it in DBStats::damaged_blocks_skipped.
  // Reads that do not touch damaged data are unaffected either way.
  // Default: false.
  bool skip_damaged_blocks = false;
  // Told of every write, delete and drop, durably with the write (the
  // contract is in m2mdb/change_listener.h); not owned, must outlive the
  // DB. Continuous queries set it. Default: none.
  ChangeListener* change_listener = nullptr;
};

struct WriteOptions {
  // Precision of timestamps in line protocol: "ns" (default), "u", "ms", "s",
  // "m", "h" (InfluxDB spellings accepted).
  std::string precision = "ns";
  // Create the database if it does not exist. Default: false (the server's
  // /write answers 404 for a missing database, as InfluxDB does).
  bool create_database = false;
  // Lines longer than this are rejected; 0 = no limit. Default: 0.
  uint64_t max_line_length = 0;
  // Timestamp for lines without one (ns); 0 = the current time.
  int64_t default_time = 0;
  // Empty = the database's default retention policy.
  std::string retention_policy = {};
};

}  // namespace m2mdb

#endif  // M2MDB_OPTIONS_H_
