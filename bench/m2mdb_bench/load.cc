#include "bench/m2mdb_bench/load.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include <unistd.h>
#include <zlib.h>

#include "bench/m2mdb_bench/http.h"

namespace m2mdb::bench {

int CountFieldValues(std::string_view line) {
  size_t i = 0;
  // Skip measurement and tags: up to the first unescaped space.
  while (i < line.size() && line[i] != ' ') i += line[i] == '\\' ? 2 : 1;
  int n = 0;
  bool quoted = false;
  for (++i; i < line.size(); ++i) {
    char c = line[i];
    if (c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (!quoted && c == '=') {
      ++n;
    } else if (!quoted && c == ' ') {
      break;
    }
  }
  return n;
}

std::vector<Batch> SplitBatches(std::string_view data, int batch_size) {
  std::vector<Batch> out;
  size_t pos = 0;
  while (pos < data.size()) {
    Batch b;
    size_t start = pos;
    while (pos < data.size() && b.lines < static_cast<uint64_t>(batch_size)) {
      size_t nl = data.find('\n', pos);
      size_t end = nl == std::string_view::npos ? data.size() : nl;
      std::string_view line = data.substr(pos, end - pos);
      if (!line.empty() && line[0] != '#') {
        ++b.lines;
        b.values += static_cast<uint64_t>(CountFieldValues(line));
      }
      pos = nl == std::string_view::npos ? data.size() : nl + 1;
    }
    b.body = data.substr(start, pos - start);
    if (b.lines > 0) out.push_back(b);
  }
  return out;
}

namespace {

// One gzip member of `body` at zlib's level 6; "" on failure.
std::string GzipBody(std::string_view body) {
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return "";
  std::string out(deflateBound(&z, body.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  z.avail_in = static_cast<uInt>(body.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return rc == Z_STREAM_END ? out : "";
}

}  // namespace

absl::StatusOr<LoadResult> RunLoad(const LoadOptions& options, const std::vector<Batch>& batches) {
  if (options.workers <= 0) return absl::InvalidArgumentError("--workers must be positive");
  if (options.target_kind != "influx" && options.target_kind != "vm" && options.target_kind != "m2mdb") {
    return absl::InvalidArgumentError("--target-kind must be influx, vm or m2mdb");
  }
  // All three accept the InfluxDB v1 write API; VictoriaMetrics turns `db`
  // into a label, which costs it nothing measurable.
  const std::string path = "/write?db=" + UrlEncode(options.db) + "&precision=ns";
  const client::Params query = {{"db", options.db}, {"precision", "ns"}};
  std::vector<std::string> gzipped;
  if (options.gzip) {
    gzipped.reserve(batches.size());
    for (const Batch& b : batches) {
      gzipped.push_back(GzipBody(b.body));
      if (gzipped.back().empty()) return absl::InternalError("gzip failed");
    }
  }
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> done_lines{0}, done_values{0}, done_bytes{0};
  std::mutex mu;
  LoadResult result;
  std::vector<double> latencies;
  latencies.reserve(batches.size());

  auto worker = [&]() {
    HttpClient client(options.url);
    std::vector<double> mine;
    std::map<int, uint64_t> statuses;
    std::vector<std::string> failures;
    uint64_t failed = 0;
    for (size_t i = next++; i < batches.size(); i = next++) {
      const Batch& b = batches[i];
      HttpAnswer a = options.gzip ? client.PostGzip("/write", query, gzipped[i], "text/plain; charset=utf-8")
                                  : client.Post(path, b.body, "text/plain; charset=utf-8");
      mine.push_back(a.seconds * 1e3);
      statuses[a.status]++;
      if (!a.ok()) {
        ++failed;
        if (failures.size() < 10) {
          failures.push_back(a.status == 0
                                 ? "no answer: " + a.error
                                 : "HTTP " + std::to_string(a.status) + ": " + a.body.substr(0, 300));
        }
      }
      done_lines += b.lines;
      done_values += b.values;
      done_bytes += b.body.size();
    }
    std::lock_guard<std::mutex> l(mu);
    latencies.insert(latencies.end(), mine.begin(), mine.end());
    for (auto [s, n] : statuses) result.status_counts[s] += n;
    result.failed_requests += failed;
    for (auto& f : failures) {
      if (result.failures.size() < 20) result.failures.push_back(std::move(f));
    }
  };

  const bool live = options.progress && isatty(STDOUT_FILENO);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < options.workers; w++) threads.emplace_back(worker);
  std::atomic<bool> stop{false};
  std::thread progress;
  if (live) {
    progress = std::thread([&]() {
      while (!stop) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("\r  %6.1f s  %5.1f%%  %.2f M lines/s  %.2f M values/s  %.1f MB/s   ", s,
                    100.0 * std::min(next.load(), batches.size()) / std::max<size_t>(1, batches.size()),
                    done_lines / s / 1e6, done_values / s / 1e6, done_bytes / s / 1e6);
        std::fflush(stdout);
      }
    });
  }
  for (auto& t : threads) t.join();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  stop = true;
  if (progress.joinable()) {
    progress.join();
    std::printf("\r%*s\r", 100, "");
    std::fflush(stdout);
  }
  result.requests = batches.size();
  result.lines = done_lines;
  result.values = done_values;
  result.bytes = done_bytes;
  std::sort(latencies.begin(), latencies.end());
  if (!latencies.empty()) {
    auto at = [&](double q) {
      return latencies[std::min(latencies.size() - 1, static_cast<size_t>(q * latencies.size()))];
    };
    result.p50_ms = at(0.5);
    result.p99_ms = at(0.99);
    result.max_ms = latencies.back();
  }
  return result;
}

std::string FormatLoadResult(const LoadResult& r) {
  char buf[512];
  std::snprintf(
      buf, sizeof(buf),
      "loaded %llu lines, %llu field values, %.1f MB in %.2f s: %.0f lines/s, %.0f values/s, %.1f MB/s\n"
      "request latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms over %llu requests\n",
      static_cast<unsigned long long>(r.lines), static_cast<unsigned long long>(r.values), r.bytes / 1e6,
      r.seconds, r.lines_per_s(), r.values_per_s(), r.mb_per_s(), r.p50_ms, r.p99_ms, r.max_ms,
      static_cast<unsigned long long>(r.requests));
  std::string out = buf;
  if (r.failed_requests > 0) {
    out += "FAILED requests: " + std::to_string(r.failed_requests) + " (status:count";
    for (auto [s, n] : r.status_counts) out += " " + std::to_string(s) + ":" + std::to_string(n);
    out += ")\n";
    for (const auto& f : r.failures) out += "  " + f + "\n";
  }
  return out;
}

}  // namespace m2mdb::bench
