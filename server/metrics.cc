#include "server/metrics.h"

#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

#include "server/build_info.h"

namespace m2mdb::server {

const char* EndpointName(Endpoint e) {
  switch (e) {
    case Endpoint::kWrite:
      return "/write";
    case Endpoint::kWriteV2:
      return "/api/v2/write";
    case Endpoint::kQuery:
      return "/query";
    case Endpoint::kPing:
      return "/ping";
    case Endpoint::kHealth:
      return "/health";
    case Endpoint::kMetrics:
      return "/metrics";
    case Endpoint::kOther:
      break;
  }
  return "other";
}

const char* LimitName(Limit l) {
  switch (l) {
    case Limit::kBodySize:
      return "body_size";
    case Limit::kLineLength:
      return "line_length";
    case Limit::kSeries:
      return "series_per_database";
    case Limit::kConcurrentQueries:
      return "concurrent_queries";
    case Limit::kQueryTimeout:
      return "query_timeout";
    case Limit::kQueryMemory:
      return "query_memory";
    case Limit::kCount:
      break;
  }
  return "unknown";
}

void ServerMetrics::RecordRequest(Endpoint endpoint, int status) {
  std::lock_guard<std::mutex> l(mu_);
  requests_[{endpoint, status}]++;
}

void ServerMetrics::ObserveQuery(double seconds) {
  std::lock_guard<std::mutex> l(mu_);
  for (size_t i = 0; i < kQueryBuckets.size(); i++) {
    if (seconds <= kQueryBuckets[i]) {
      query_buckets_[i]++;
      break;
    }
  }
  query_count_++;
  query_sum_ += seconds;
}

namespace {

void Counter(std::string* out, const char* name, const char* help, uint64_t v) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " counter\n", name, " ", v, "\n");
}

void Gauge(std::string* out, const char* name, const char* help, uint64_t v) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " gauge\n", name, " ", v, "\n");
}

// Reads a small /proc file whole; "" when it cannot.
std::string ReadProcFile(const char* path) {
  std::string out;
  std::FILE* f = std::fopen(path, "re");
  if (f == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  std::fclose(f);
  return out;
}

// Seconds since the epoch at which this process started: its start in clock
// ticks after boot (/proc/self/stat, field 22) plus the boot time
// (/proc/stat "btime"), as Prometheus' own process collector computes it.
double ProcessStartTime() {
  std::string stat = ReadProcFile("/proc/self/stat");
  size_t paren = stat.rfind(')');  // the command name may hold spaces and ')'
  if (paren == std::string::npos) return 0;
  std::vector<absl::string_view> fields = absl::StrSplit(absl::string_view(stat).substr(paren + 2), ' ');
  // fields[0] is field 3 (state), so field 22 is fields[19].
  uint64_t start_ticks = 0;
  if (fields.size() < 20 || !absl::SimpleAtoi(fields[19], &start_ticks)) return 0;
  uint64_t btime = 0;
  const std::string proc_stat = ReadProcFile("/proc/stat");
  for (absl::string_view line : absl::StrSplit(proc_stat, '\n')) {
    if (absl::ConsumePrefix(&line, "btime ")) (void)absl::SimpleAtoi(line, &btime);
  }
  long ticks = sysconf(_SC_CLK_TCK);
  if (btime == 0 || ticks <= 0) return 0;
  return static_cast<double>(btime) + static_cast<double>(start_ticks) / static_cast<double>(ticks);
}

// The process_* series of Prometheus' client libraries, same names, types
// and units, so the usual dashboards and alerts work unchanged.
void AppendProcessMetrics(std::string* out) {
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                 static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    absl::StrAppend(out,
                    "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
                    "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total ",
                    absl::StrFormat("%.6f", cpu), "\n");
  }
  // /proc/self/statm: total program size and resident set, in pages.
  const std::string statm_text = ReadProcFile("/proc/self/statm");
  std::vector<absl::string_view> statm = absl::StrSplit(statm_text, ' ');
  uint64_t vm_pages = 0, rss_pages = 0;
  const long page = sysconf(_SC_PAGESIZE);
  if (statm.size() >= 2 && absl::SimpleAtoi(statm[0], &vm_pages) && absl::SimpleAtoi(statm[1], &rss_pages) &&
      page > 0) {
    Gauge(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
          vm_pages * static_cast<uint64_t>(page));
    Gauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.",
          rss_pages * static_cast<uint64_t>(page));
  }
  if (DIR* d = opendir("/proc/self/fd"); d != nullptr) {
    uint64_t fds = 0;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') fds++;
    }
    closedir(d);
    Gauge(out, "process_open_fds", "Number of open file descriptors.",
          fds > 0 ? fds - 1 : 0);  // minus d's own
  }
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
    Gauge(out, "process_max_fds", "Maximum number of open file descriptors.",
          static_cast<uint64_t>(nofile.rlim_cur));
  }
  if (double start = ProcessStartTime(); start > 0) {
    absl::StrAppend(
        out,
        "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
        "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds ",
        absl::StrFormat("%.2f", start), "\n");
  }
}

}  // namespace

std::string ServerMetrics::Render(const DBStats& st) const {
  std::string out;
  out.reserve(8192);
  absl::StrAppend(&out,
                  "# HELP m2mdb_build_info The version and git commit of this server; always 1.\n"
                  "# TYPE m2mdb_build_info gauge\nm2mdb_build_info{version=\"",
                  BuildVersion(), "\",commit=\"", BuildCommit(), "\"} 1\n");
  AppendProcessMetrics(&out);
  {
    std::lock_guard<std::mutex> l(mu_);
    absl::StrAppend(&out,
                    "# HELP m2mdb_http_requests_total HTTP requests answered, by endpoint and status code.\n"
                    "# TYPE m2mdb_http_requests_total counter\n");
    for (const auto& [k, v] : requests_) {
      absl::StrAppend(&out, "m2mdb_http_requests_total{endpoint=\"", EndpointName(k.first), "\",status=\"",
                      k.second, "\"} ", v, "\n");
    }
    absl::StrAppend(&out,
                    "# HELP m2mdb_query_duration_seconds Time to run and render one /query request.\n"
                    "# TYPE m2mdb_query_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i < kQueryBuckets.size(); i++) {
      cum += query_buckets_[i];
      absl::StrAppend(&out, "m2mdb_query_duration_seconds_bucket{le=\"", kQueryBuckets[i], "\"} ", cum, "\n");
    }
    absl::StrAppend(&out, "m2mdb_query_duration_seconds_bucket{le=\"+Inf\"} ", query_count_, "\n",
                    "m2mdb_query_duration_seconds_sum ", absl::StrFormat("%.9g", query_sum_), "\n",
                    "m2mdb_query_duration_seconds_count ", query_count_, "\n");
  }
  Gauge(&out, "m2mdb_queries_in_flight", "Queries running now.",
        static_cast<uint64_t>(std::max<int64_t>(0, queries_in_flight_.load())));
  absl::StrAppend(
      &out,
      "# HELP m2mdb_limit_rejections_total Requests, lines or queries rejected by a configured limit.\n"
      "# TYPE m2mdb_limit_rejections_total counter\n");
  for (int i = 0; i < static_cast<int>(Limit::kCount); i++) {
    absl::StrAppend(&out, "m2mdb_limit_rejections_total{limit=\"", LimitName(static_cast<Limit>(i)), "\"} ",
                    limits_[i].load(), "\n");
  }
  Counter(&out, "m2mdb_http_write_bytes_total", "Line protocol bytes received by /write (after gzip).",
          write_bytes_.load());
  Counter(&out, "m2mdb_http_points_written_total", "Points written through HTTP.", http_points_.load());
  Counter(&out, "m2mdb_http_values_written_total", "Field values written through HTTP.", http_values_.load());
  Counter(&out, "m2mdb_http_rejected_lines_total", "Lines rejected in HTTP writes (parse, type, limits).",
          rejected_lines_.load());
  Counter(
      &out, "m2mdb_http_looped_back_writes_total",
      "Writes from one of this server's own subscriptions (destination is itself), answered 204 unwritten.",
      looped_back_.load());
  Counter(&out, "m2mdb_points_written_total", "Points written to the engine.", st.points_written);
  Counter(&out, "m2mdb_values_written_total", "Field values written to the engine.", st.values_written);
  Counter(&out, "m2mdb_lines_rejected_total", "Lines the engine rejected.", st.lines_rejected);
  Counter(&out, "m2mdb_wal_fsyncs_total", "WAL fsync calls (one covers every batch waiting: group commit).",
          st.wal_fsyncs);
  absl::StrAppend(&out,
                  "# HELP m2mdb_wal_fsync_seconds_total Time spent in WAL fsync.\n"
                  "# TYPE m2mdb_wal_fsync_seconds_total counter\n"
                  "m2mdb_wal_fsync_seconds_total ",
                  absl::StrFormat("%.9f", static_cast<double>(st.wal_fsync_nanos) / 1e9), "\n");
  Gauge(
      &out, "m2mdb_storage_writable",
      "1 while writes can be made durable, 0 while they cannot (e.g. the data volume is full; see /health).",
      st.storage_writable ? 1 : 0);
  Counter(&out, "m2mdb_storage_write_failures_total",
          "WAL write and fsync errors (each refuses writes until "
          "the log recovers).",
          st.storage_write_failures);
  Counter(&out, "m2mdb_damaged_blocks_skipped_total",
          "Damaged segment blocks skipped by reads (--skip-damaged-blocks).", st.damaged_blocks_skipped);
  Counter(&out, "m2mdb_flushes_total", "Head flushes to segment files.", st.flushes);
  Counter(&out, "m2mdb_compactions_total", "Compactions.", st.compactions);
  Gauge(&out, "m2mdb_series", "Series in every database.", st.series);
  Gauge(&out, "m2mdb_head_bytes", "Estimated bytes in the in-memory head.", st.head_bytes);
  Gauge(&out, "m2mdb_head_points", "Points in the in-memory head.", st.head_points);
  Gauge(&out, "m2mdb_segments", "Segment files.", st.segments);
  Gauge(&out, "m2mdb_segment_bytes", "Bytes in segment files.", st.segment_bytes);
  Gauge(&out, "m2mdb_wal_bytes", "Bytes in WAL files.", st.wal_bytes);
  AppendExtraMetrics(&out);
  return out;
}

namespace {
std::mutex extra_mu;
std::function<std::string()> extra_render;  // guarded by extra_mu
}  // namespace

void SetExtraMetrics(std::function<std::string()> render) {
  std::lock_guard<std::mutex> l(extra_mu);
  extra_render = std::move(render);
}

void AppendExtraMetrics(std::string* out) {
  std::lock_guard<std::mutex> l(extra_mu);
  if (extra_render) *out += extra_render();
}

}  // namespace m2mdb::server
