// http_load: HTTP line-protocol ingest load driver.
//
//   http_load --target 127.0.0.1:8086 --path '/write?db=bench' --writers 4
//             --batches 240 --lines 5000 --trucks 1000 [--pid PID] [--label m2mdb]
//
// Pre-generates `batches` truck-fleet batches (bench/gen/trucks.h; every
// batch has its own timestamps, so nothing is overwritten), then N writers
// post them over keep-alive HTTP/1.1 connections, each taking the next
// unsent batch, until all are sent. A batch counts when the server answers
// 2xx. Reports points/s, field values/s, request latency p50/p99 and, with
// --pid, the server's peak RSS (VmHWM) and CPU seconds (utime+stime) spent
// during the run per million values. Plain POSIX sockets: no HTTP library,
// so the driver costs little CPU next to the server it measures.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/gen/trucks.h"
#include "bench/load_socket.h"

namespace {

struct Args {
  std::string target = "127.0.0.1:8086";
  std::string path = "/write?db=bench";
  std::string auth;  // Authorization header value
  std::string label = "server";
  int writers = 4;
  int batches = 240;
  int lines = 5000;
  int trucks = 1000;
  int pid = 0;
  uint64_t seed = 42;
};

int Connect(const std::string& target) { return m2mdb::bench::ConnectTcp(target); }

bool SendAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Reads one response; returns the status (0 on error). Handles
// Content-Length and chunked bodies (only to skip them).
int ReadResponse(int fd, std::string* buf, std::string* body_out) {
  auto fill = [&]() {
    char tmp[16384];
    ssize_t r = recv(fd, tmp, sizeof(tmp), 0);
    if (r <= 0) return false;
    buf->append(tmp, static_cast<size_t>(r));
    return true;
  };
  size_t hdr_end;
  while ((hdr_end = buf->find("\r\n\r\n")) == std::string::npos) {
    if (!fill()) return 0;
  }
  std::string headers = buf->substr(0, hdr_end);
  buf->erase(0, hdr_end + 4);
  int status = 0;
  if (sscanf(headers.c_str(), "HTTP/1.%*d %d", &status) != 1) return 0;
  std::string lower = headers;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  size_t cl = lower.find("content-length:");
  if (cl != std::string::npos) {
    size_t len = std::strtoull(lower.c_str() + cl + 15, nullptr, 10);
    while (buf->size() < len) {
      if (!fill()) return 0;
    }
    if (body_out) *body_out = buf->substr(0, len);
    buf->erase(0, len);
  } else if (lower.find("transfer-encoding: chunked") != std::string::npos) {
    for (;;) {
      size_t eol;
      while ((eol = buf->find("\r\n")) == std::string::npos) {
        if (!fill()) return 0;
      }
      size_t n = std::strtoull(buf->c_str(), nullptr, 16);
      while (buf->size() < eol + 2 + n + 2) {
        if (!fill()) return 0;
      }
      if (body_out) body_out->append(*buf, eol + 2, n);
      buf->erase(0, eol + 2 + n + 2);
      if (n == 0) break;
    }
  }
  return status;
}

struct ProcSample {
  double cpu_seconds = 0;
  long hwm_kb = 0;
};

ProcSample Sample(int pid) {
  ProcSample s;
  if (pid <= 0) return s;
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(st, line);
  size_t rp = line.rfind(')');
  if (rp != std::string::npos) {
    std::istringstream in(line.substr(rp + 2));
    std::string f;
    std::vector<std::string> fields;
    while (in >> f) fields.push_back(f);
    // After the comm field: state is field 3; utime 14, stime 15 (1-based).
    if (fields.size() > 13) {
      double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
      s.cpu_seconds =
          (std::strtod(fields[11].c_str(), nullptr) + std::strtod(fields[12].c_str(), nullptr)) / ticks;
    }
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) s.hwm_kb = std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return s;
}

void Usage() {
  std::fprintf(
      stderr,
      "usage: http_load [--target host:port] [--path '/write?db=bench'] [--writers N] [--batches N]\n"
      "                 [--lines N] [--trucks N] [--auth 'Token X'] [--pid PID] [--label NAME]\n");
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; i++) {
    std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        Usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (k == "--target") {
      a.target = next();
    } else if (k == "--path") {
      a.path = next();
    } else if (k == "--auth") {
      a.auth = next();
    } else if (k == "--label") {
      a.label = next();
    } else if (k == "--writers") {
      a.writers = std::atoi(next().c_str());
    } else if (k == "--batches") {
      a.batches = std::atoi(next().c_str());
    } else if (k == "--lines") {
      a.lines = std::atoi(next().c_str());
    } else if (k == "--trucks") {
      a.trucks = std::atoi(next().c_str());
    } else if (k == "--pid") {
      a.pid = std::atoi(next().c_str());
    } else if (k == "--seed") {
      a.seed = std::strtoull(next().c_str(), nullptr, 10);
    } else {
      Usage();
      return 2;
    }
  }
  m2mdb::bench::TruckGenerator gen(a.trucks, a.seed);
  std::vector<std::string> batches = gen.Batches(a.batches, a.lines);
  size_t lines_per_batch = 0, bytes = 0;
  for (char c : batches[0]) lines_per_batch += c == '\n';
  for (const auto& b : batches) bytes += b.size();
  std::string host = a.target.substr(0, a.target.rfind(':'));
  std::string auth = a.auth.empty() ? "" : "Authorization: " + a.auth + "\r\n";

  std::atomic<size_t> next{0};
  std::atomic<size_t> ok_batches{0}, failed{0};
  std::mutex mu;
  std::vector<double> latencies;
  std::string first_error;

  ProcSample before = Sample(a.pid);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < a.writers; w++) {
    threads.emplace_back([&] {
      int fd = Connect(a.target);
      std::string buf;
      std::vector<double> mine;
      for (;;) {
        size_t i = next.fetch_add(1);
        if (i >= batches.size()) break;
        const std::string& body = batches[i];
        std::string head = "POST " + a.path + " HTTP/1.1\r\nHost: " + host + "\r\n" + auth +
                           "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
                           "\r\n\r\n";
        auto s = std::chrono::steady_clock::now();
        int status = 0;
        std::string resp_body;
        for (int attempt = 0; attempt < 2 && status == 0; attempt++) {
          if (fd < 0) fd = Connect(a.target);
          if (fd >= 0 && SendAll(fd, head.data(), head.size()) && SendAll(fd, body.data(), body.size())) {
            status = ReadResponse(fd, &buf, &resp_body);
          }
          if (status == 0 && fd >= 0) {
            close(fd);
            fd = -1;
            buf.clear();
          }
        }
        mine.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count());
        if (status >= 200 && status < 300) {
          ok_batches++;
        } else {
          failed++;
          std::lock_guard<std::mutex> l(mu);
          if (first_error.empty()) first_error = std::to_string(status) + " " + resp_body.substr(0, 300);
        }
      }
      if (fd >= 0) close(fd);
      std::lock_guard<std::mutex> l(mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ProcSample after = Sample(a.pid);

  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    if (latencies.empty()) return 0.0;
    return latencies[std::min(latencies.size() - 1, static_cast<size_t>(p * latencies.size()))] * 1000;
  };
  double points = static_cast<double>(ok_batches.load() * lines_per_batch);
  double values = points * m2mdb::bench::TruckGenerator::kFields;
  double cpu = after.cpu_seconds - before.cpu_seconds;
  std::printf(
      "%s: %zu batches x %zu lines (%.1f MB) by %d writers in %.2f s: %.0f points/s, %.0f values/s, "
      "p50 %.1f ms, p99 %.1f ms, failed %zu",
      a.label.c_str(), ok_batches.load(), lines_per_batch, bytes / 1e6, a.writers, secs, points / secs,
      values / secs, pct(0.5), pct(0.99), failed.load());
  if (a.pid > 0) {
    std::printf(", server CPU %.2f s (%.3f s per million values), peak RSS %.0f MB", cpu,
                values > 0 ? cpu / (values / 1e6) : 0.0, after.hwm_kb / 1024.0);
  }
  std::printf("\n");
  std::printf(
      "RESULT label=%s points_per_s=%.0f values_per_s=%.0f p50_ms=%.2f p99_ms=%.2f cpu_s=%.3f "
      "cpu_s_per_mvalues=%.4f hwm_mb=%.1f failed=%zu\n",
      a.label.c_str(), points / secs, values / secs, pct(0.5), pct(0.99), cpu,
      values > 0 ? cpu / (values / 1e6) : 0.0, after.hwm_kb / 1024.0, failed.load());
  if (!first_error.empty()) std::fprintf(stderr, "first error: %s\n", first_error.c_str());
  return failed.load() == 0 ? 0 : 1;
}
