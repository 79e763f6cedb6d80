// The databases `compare` runs: m2mdb, InfluxDB 1.x (influxd) and
// VictoriaMetrics, each started by us on 127.0.0.1 on a free port with a fresh
// data directory, and stopped by the PID we started (never by name).
#ifndef M2MDB_BENCH_M2MDB_BENCH_TARGETS_H_
#define M2MDB_BENCH_M2MDB_BENCH_TARGETS_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <sys/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace m2mdb::bench {

enum class TargetKind { kM2mdb, kInfluxDB, kVictoriaMetrics };

// "m2mdb" | "influxdb" | "victoriametrics" (also "influx", "vm").
absl::StatusOr<TargetKind> ParseTargetKind(const std::string& name);
std::string TargetName(TargetKind kind);
// The --target-kind spelling load and query use: "m2mdb" | "influx" | "vm".
std::string LoadKind(TargetKind kind);

// Resource use of a process we started, from wait4() when it exited.
struct ProcessUsage {
  double cpu_seconds = 0;       // user + system
  uint64_t peak_rss_bytes = 0;  // ru_maxrss (= VmHWM at exit)
};

class Target {
 public:
  // `work_dir`: a fresh directory for data, config and logs. `m2mdb_binary`:
  // path of `m2mdb`. `compacted`: configure and drive the server towards
  // its fully compacted state (compare --state compacted); otherwise it runs
  // with its default configuration and nothing is forced. Fails with
  // kNotFound (and how to install it) when the server binary is missing.
  static absl::StatusOr<std::unique_ptr<Target>> Create(TargetKind kind, const std::string& work_dir,
                                                        const std::string& m2mdb_binary,
                                                        bool compacted = false);
  ~Target();  // kills the process if still running (SIGKILL by PID)

  TargetKind kind() const { return kind_; }
  std::string name() const { return TargetName(kind_); }
  const std::string& url() const { return url_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& log_path() const { return log_path_; }
  pid_t pid() const { return pid_; }

  // What an acknowledged write means for this target, in one sentence.
  std::string Durability() const;
  // The version string of the installed binary.
  std::string Version() const;

  // Starts the server (the data directory is kept across restarts).
  absl::Status Start();
  // Polls the health endpoint until it answers 2xx; returns seconds since
  // Start().
  absl::StatusOr<double> WaitReady(double timeout_seconds);
  // Seconds since Start().
  double SinceStart() const;
  // Creates the database (InfluxDB, m2mdb; VictoriaMetrics needs none).
  absl::Status CreateDatabase(const std::string& db);
  // After the load, with the server running. As loaded: nothing (every
  // server makes its acknowledged writes durable when stopped). Compacted:
  // InfluxDB's cache snapshot and full compaction are awaited,
  // VictoriaMetrics is asked to flush and merge (force_flush, force_merge)
  // and awaited; m2mdb's compaction is run by the caller on the stopped
  // data directory (CompactEmbedded), as the server has no endpoint for it.
  absl::Status Flush();
  // SIGTERM, wait up to `timeout_seconds`, then SIGKILL. Usage of the
  // process' whole life is returned.
  absl::StatusOr<ProcessUsage> Stop(double timeout_seconds = 120);
  // Current VmHWM of the running process (0 if unknown).
  uint64_t PeakRssNow() const;

 private:
  Target(TargetKind kind, std::string work_dir, std::string binary);
  absl::Status WriteInfluxConfig();

  TargetKind kind_;
  std::string work_dir_{};
  std::string binary_{};
  std::string data_dir_{};
  std::string log_path_{};
  std::string url_{};
  int port_ = 0;
  int rpc_port_ = 0;  // influxd's backup/restore RPC listener
  bool compacted_ = false;
  pid_t pid_ = -1;
  std::chrono::steady_clock::time_point started_{};
};

// A free TCP port on 127.0.0.1 (bound and released; the tiny race with other
// programs is acceptable for a benchmark).
absl::StatusOr<int> FreePort();

// Waits until the apparent size of the files under `dir` stopped changing
// for `stable_polls` polls one second apart (a background merge finished).
absl::Status WaitDiskStable(const std::string& dir, int stable_polls, double timeout_seconds);

// Bytes the files under `dir` take on disk (st_blocks, as du) and their
// apparent size.
struct DiskUsage {
  uint64_t allocated = 0;
  uint64_t apparent = 0;
};
DiskUsage Du(const std::string& dir);

// Runs a shell command and returns its stdout (trimmed); "" on failure.
std::string CommandOutput(const std::string& command);

}  // namespace m2mdb::bench

#endif  // M2MDB_BENCH_M2MDB_BENCH_TARGETS_H_
