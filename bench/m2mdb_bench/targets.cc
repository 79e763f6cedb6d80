#include "bench/m2mdb_bench/targets.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/m2mdb_bench/http.h"

namespace m2mdb::bench {
namespace fs = std::filesystem;

absl::StatusOr<TargetKind> ParseTargetKind(const std::string& name) {
  if (name == "m2mdb") return TargetKind::kM2mdb;
  if (name == "influxdb" || name == "influx") return TargetKind::kInfluxDB;
  if (name == "victoriametrics" || name == "vm") return TargetKind::kVictoriaMetrics;
  return absl::InvalidArgumentError("unknown target '" + name + "' (m2mdb, influxdb, victoriametrics)");
}

std::string TargetName(TargetKind kind) {
  switch (kind) {
    case TargetKind::kM2mdb:
      return "m2mdb";
    case TargetKind::kInfluxDB:
      return "influxdb";
    case TargetKind::kVictoriaMetrics:
      return "victoriametrics";
  }
  return "?";
}

std::string LoadKind(TargetKind kind) {
  switch (kind) {
    case TargetKind::kM2mdb:
      return "m2mdb";
    case TargetKind::kInfluxDB:
      return "influx";
    case TargetKind::kVictoriaMetrics:
      return "vm";
  }
  return "?";
}

absl::StatusOr<int> FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return absl::InternalError(std::string("bind: ") + std::strerror(errno));
  }
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

DiskUsage Du(const std::string& dir) {
  DiskUsage u;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    struct stat st;
    if (lstat(it->path().c_str(), &st) == 0) {
      u.allocated += static_cast<uint64_t>(st.st_blocks) * 512;
      if (S_ISREG(st.st_mode)) u.apparent += static_cast<uint64_t>(st.st_size);
    }
  }
  return u;
}

std::string CommandOutput(const std::string& command) {
  std::FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return "";
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

Target::Target(TargetKind kind, std::string work_dir, std::string binary)
    : kind_(kind), work_dir_(std::move(work_dir)), binary_(std::move(binary)) {}

Target::~Target() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

absl::StatusOr<std::unique_ptr<Target>> Target::Create(TargetKind kind, const std::string& work_dir,
                                                       const std::string& m2mdb_binary, bool compacted) {
  std::string binary;
  switch (kind) {
    case TargetKind::kM2mdb:
      binary = m2mdb_binary;
      break;
    case TargetKind::kInfluxDB:
      binary = "/usr/bin/influxd";
      break;
    case TargetKind::kVictoriaMetrics:
      binary = "/usr/bin/victoria-metrics";
      break;
  }
  if (access(binary.c_str(), X_OK) != 0) {
    std::string how = kind == TargetKind::kM2mdb ? "build it: cmake --build build --target m2mdb"
                                                 : "install it: apt-get install influxdb victoria-metrics";
    return absl::NotFoundError(TargetName(kind) + ": " + binary + " not found; " + how);
  }
  std::unique_ptr<Target> t(new Target(kind, work_dir, binary));
  t->compacted_ = compacted;
  std::error_code ec;
  fs::create_directories(work_dir + "/data", ec);
  if (ec) return absl::InternalError("create " + work_dir + ": " + ec.message());
  t->data_dir_ = work_dir + "/data";
  t->log_path_ = work_dir + "/server.log";
  auto port = FreePort();
  if (!port.ok()) return port.status();
  t->port_ = *port;
  t->url_ = "http://127.0.0.1:" + std::to_string(t->port_);
  if (kind == TargetKind::kInfluxDB) {
    auto rpc = FreePort();
    if (!rpc.ok()) return rpc.status();
    t->rpc_port_ = *rpc;
    if (absl::Status s = t->WriteInfluxConfig(); !s.ok()) return s;
  }
  return t;
}

absl::Status Target::WriteInfluxConfig() {
  std::ofstream f(work_dir_ + "/influxdb.conf");
  // wal-fsync-delay 0s: every write is fsynced before the ack, like m2mdb's
  // default. Compacted state only: the cold durations make InfluxDB snapshot
  // its cache and fully compact soon after the load (its defaults, 10 min
  // and 4 h, leave a fresh load in the WAL and cache: the as-loaded state).
  // The _internal monitor database is off: it would add its own bytes.
  f << "reporting-disabled = true\n"
    << "bind-address = \"127.0.0.1:" << rpc_port_ << "\"\n"
    << "[meta]\n  dir = \"" << data_dir_ << "/meta\"\n  logging-enabled = false\n"
    << "[data]\n  dir = \"" << data_dir_ << "/data\"\n  wal-dir = \"" << data_dir_ << "/wal\"\n"
    << "  wal-fsync-delay = \"0s\"\n  query-log-enabled = false\n"
    << (compacted_
            ? "  cache-snapshot-write-cold-duration = \"2s\"\n  compact-full-write-cold-duration = \"5s\"\n"
            : "")
    << "[retention]\n  enabled = false\n"
    << "[shard-precreation]\n  enabled = false\n"
    << "[monitor]\n  store-enabled = false\n"
    << "[continuous_queries]\n  enabled = false\n"
    << "[subscriber]\n  enabled = false\n"
    << "[http]\n  bind-address = \"127.0.0.1:" << port_ << "\"\n  log-enabled = false\n"
    << "  max-body-size = 0\n"
    << "[logging]\n  level = \"warn\"\n";
  f.close();
  if (!f) return absl::InternalError("cannot write " + work_dir_ + "/influxdb.conf");
  return absl::OkStatus();
}

std::string Target::Durability() const {
  switch (kind_) {
    case TargetKind::kM2mdb:
      return "acknowledges after the WAL fdatasync that covers the batch (--wal-sync=always, group commit)";
    case TargetKind::kInfluxDB:
      return "acknowledges after the WAL fsync (wal-fsync-delay = 0s)";
    case TargetKind::kVictoriaMetrics:
      return "acknowledges before the data is on disk: buffers about a second in memory (lost on power "
             "failure or kill -9)";
  }
  return "";
}

std::string Target::Version() const {
  switch (kind_) {
    case TargetKind::kM2mdb:
      return CommandOutput(binary_ + " version 2>/dev/null");
    case TargetKind::kInfluxDB:
      return CommandOutput(binary_ + " version 2>/dev/null");
    case TargetKind::kVictoriaMetrics: {
      std::string v = CommandOutput(binary_ + " -version 2>&1");
      if (v.empty())
        v = "victoria-metrics " + CommandOutput("dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null");
      return v;
    }
  }
  return "";
}

absl::Status Target::Start() {
  if (pid_ > 0) return absl::FailedPreconditionError(name() + " already running");
  std::vector<std::string> args = {binary_};
  const std::string listen = "127.0.0.1:" + std::to_string(port_);
  switch (kind_) {
    case TargetKind::kM2mdb:
      args.insert(args.end(), {"serve", "--data-dir", data_dir_, "--http", listen});
      break;
    case TargetKind::kInfluxDB:
      args.insert(args.end(), {"run", "-config", work_dir_ + "/influxdb.conf"});
      break;
    case TargetKind::kVictoriaMetrics:
      // The generated timestamps start in 2024: a retention of 100 years keeps
      // VictoriaMetrics from rejecting them as too old.
      args.insert(args.end(), {"-storageDataPath=" + data_dir_, "-httpListenAddr=" + listen,
                               "-retentionPeriod=100y", "-loggerLevel=ERROR"});
      break;
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) return absl::InternalError("open " + log_path_ + ": " + std::strerror(errno));
  started_ = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid < 0) {
    close(log);
    return absl::InternalError(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    // Do not leak our sockets (keep-alive connections) into the server.
    for (int fd = 3; fd < 1024; fd++) close(fd);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(log);
  pid_ = pid;
  return absl::OkStatus();
}

double Target::SinceStart() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

absl::StatusOr<double> Target::WaitReady(double timeout_seconds) {
  const std::string path = kind_ == TargetKind::kVictoriaMetrics ? "/health" : "/ping";
  while (SinceStart() < timeout_seconds) {
    int status = 0;
    if (pid_ > 0 && waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError(name() + " exited during start-up; see " + log_path_);
    }
    HttpClient c(url_, 2);
    HttpAnswer a = c.Get(path);
    if (a.ok()) return SinceStart();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return absl::DeadlineExceededError(name() + " not ready after " + std::to_string(timeout_seconds) +
                                     " s; see " + log_path_);
}

absl::Status Target::CreateDatabase(const std::string& db) {
  if (kind_ == TargetKind::kVictoriaMetrics) return absl::OkStatus();
  HttpClient c(url_, 30);
  HttpAnswer a = c.Post("/query?q=" + UrlEncode("CREATE DATABASE \"" + db + "\""), "", "text/plain");
  if (a.ok()) return absl::OkStatus();
  return absl::UnavailableError("CREATE DATABASE on " + name() + ": HTTP " + std::to_string(a.status) + " " +
                                a.body + a.error);
}

absl::Status WaitDiskStable(const std::string& dir, int stable_polls, double timeout_seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  uint64_t last = Du(dir).apparent;
  int stable = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const uint64_t now = Du(dir).apparent;
    stable = now == last ? stable + 1 : 0;
    if (stable >= stable_polls) return absl::OkStatus();
    last = now;
  }
  return absl::DeadlineExceededError(dir + " still changing after " + std::to_string(timeout_seconds) + " s");
}

absl::Status Target::Flush() {
  if (!compacted_) return absl::OkStatus();
  if (kind_ == TargetKind::kVictoriaMetrics) {
    HttpClient c(url_, 120);
    HttpAnswer a = c.Get("/internal/force_flush");
    if (!a.ok()) return absl::UnavailableError("force_flush: HTTP " + std::to_string(a.status) + a.error);
    // force_merge (every partition: empty prefix) starts the merge in the
    // background and answers at once: wait until the parts stop changing.
    a = c.Get("/internal/force_merge?partition_prefix=");
    if (!a.ok()) return absl::UnavailableError("force_merge: HTTP " + std::to_string(a.status) + a.error);
    return WaitDiskStable(data_dir_, 3, 180);
  }
  if (kind_ == TargetKind::kInfluxDB) {
    // Wait until the cache was snapshotted (the WAL is empty) and the full
    // compaction finished (the size of the TSM files stops changing).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
    uint64_t last = 0;
    int stable = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      uint64_t wal = Du(data_dir_ + "/wal").apparent;
      uint64_t data = Du(data_dir_ + "/data").apparent;
      std::error_code ec;
      bool tmp = false;
      for (auto it = fs::recursive_directory_iterator(data_dir_ + "/data", ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->path().extension() == ".tmp") tmp = true;
      }
      if (wal < (64 << 10) && !tmp && data == last) {
        if (++stable >= 4) return absl::OkStatus();
      } else {
        stable = 0;
      }
      last = data;
    }
    return absl::DeadlineExceededError("influxd did not finish its snapshot/compaction in 180 s");
  }
  return absl::OkStatus();  // m2mdb flushes on SIGTERM
}

uint64_t Target::PeakRssNow() const {
  if (pid_ <= 0) return 0;
  std::ifstream f("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

absl::StatusOr<ProcessUsage> Target::Stop(double timeout_seconds) {
  if (pid_ <= 0) return absl::FailedPreconditionError(name() + " is not running");
  kill(pid_, SIGTERM);
  auto t0 = std::chrono::steady_clock::now();
  int status = 0;
  struct rusage ru {};
  bool killed = false;
  while (true) {
    pid_t r = wait4(pid_, &status, WNOHANG, &ru);
    if (r == pid_) break;
    if (r < 0) return absl::InternalError(std::string("wait4: ") + std::strerror(errno));
    if (!killed &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > timeout_seconds) {
      kill(pid_, SIGKILL);
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_ = -1;
  ProcessUsage u;
  u.cpu_seconds =
      ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  u.peak_rss_bytes = static_cast<uint64_t>(ru.ru_maxrss) * 1024;
  if (killed)
    return absl::DeadlineExceededError(name() + " ignored SIGTERM for " + std::to_string(timeout_seconds) +
                                       " s and was killed");
  return u;
}

}  // namespace m2mdb::bench
