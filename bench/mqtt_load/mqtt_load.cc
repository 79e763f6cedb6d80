// mqtt_load: MQTT vs HTTP ingest of one line-protocol file (docs/benchmarks.md,
// "MQTT ingest").
//
//   mqtt_load --file iot.lp --mode mqtt|http --target 127.0.0.1:PORT --db iot
//             [--conns 8] [--lines 50] [--inflight 100] [--pid PID] [--label L]
//
// Cuts the file into messages of `lines` lines, in file order; connection c
// sends messages c, c + conns, ... . mqtt: MQTT 3.1.1 PUBLISH at QoS 1 to
// topic "<db>/load" with up to `inflight` unacknowledged per connection (the
// server's default Receive Maximum), counting PUBACKs. http: POST
// /write?db=<db> of the same bodies over keep-alive HTTP/1.1, one request in
// flight per connection (what an HTTP client can do), counting 204s. Both
// are durable acknowledgements with the server's default --wal-sync=always.
//
// Plain sockets and the project's own MQTT encoder, one thread per
// connection, the messages built before the clock starts: the driver costs a
// small fraction of the server's CPU. With --pid, reports the server's CPU
// (utime+stime from /proc) spent during the run, per field value.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/load_socket.h"
#include "server/mqtt/codec.h"

namespace {

namespace mqtt = m2mdb::server::mqtt;

struct Args {
  std::string file;
  std::string mode = "mqtt";
  std::string target = "127.0.0.1:1883";
  std::string db = "iot";
  std::string label;
  int conns = 8;
  int lines = 50;
  int inflight = 100;
  int pid = 0;
};

int Connect(const std::string& target) { return m2mdb::bench::ConnectTcp(target); }

bool SendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// utime + stime of `pid`, in seconds.
double CpuSeconds(int pid) {
  if (pid <= 0) return 0;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t p = stat.rfind(')');
  if (p == std::string::npos) return 0;
  std::istringstream in(stat.substr(p + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; i++) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Connection `c`'s messages over MQTT; returns the number acknowledged.
size_t RunMqtt(const Args& a, int c, const std::vector<const std::string*>& msgs) {
  int fd = Connect(a.target);
  if (fd < 0) return 0;
  mqtt::ConnectOptions co;
  co.client_id = "mqtt-load-" + std::to_string(c);
  co.keep_alive = 0;
  if (!SendAll(fd, mqtt::EncodeConnect(co))) return 0;
  char ack[4];
  if (recv(fd, ack, 4, MSG_WAITALL) != 4 || ack[3] != 0) {
    std::fprintf(stderr, "mqtt_load: CONNACK refused\n");
    close(fd);
    return 0;
  }
  const std::string topic = a.db + "/load";
  size_t sent = 0, acked = 0;
  int window = 0;
  uint16_t id = 0;
  std::string in;
  char buf[65536];
  while (acked < msgs.size()) {
    std::string out;
    while (window < a.inflight && sent < msgs.size()) {
      id = static_cast<uint16_t>(id % 65535 + 1);
      out += mqtt::EncodePublish(mqtt::kV311, 1, topic, id, *msgs[sent]);
      sent++;
      window++;
    }
    if (!out.empty() && !SendAll(fd, out)) break;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
    const size_t whole = in.size() / 4;  // 3.1.1 PUBACKs are 4 bytes
    for (size_t i = 0; i < whole; i++) {
      if (static_cast<uint8_t>(in[i * 4]) != 0x40) {
        std::fprintf(stderr, "mqtt_load: unexpected packet 0x%02x\n", static_cast<uint8_t>(in[i * 4]));
        close(fd);
        return acked;
      }
    }
    acked += whole;
    window -= static_cast<int>(whole);
    in.erase(0, whole * 4);
  }
  close(fd);
  return acked;
}

// The same over HTTP /write: one request at a time, 2xx counted.
size_t RunHttp(const Args& a, int c, const std::vector<const std::string*>& msgs) {
  (void)c;
  int fd = Connect(a.target);
  if (fd < 0) return 0;
  size_t ok = 0;
  std::string in;
  char buf[16384];
  for (const std::string* m : msgs) {
    std::string req = "POST /write?db=" + a.db +
                      " HTTP/1.1\r\nHost: load\r\nContent-Type: text/plain\r\nContent-Length: " +
                      std::to_string(m->size()) + "\r\n\r\n";
    req += *m;
    if (!SendAll(fd, req)) break;
    // Status line and headers; bodies of 2xx are empty (204).
    size_t end;
    while ((end = in.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) {
        close(fd);
        return ok;
      }
      in.append(buf, static_cast<size_t>(n));
    }
    const int status = std::atoi(in.c_str() + 9);
    size_t body = 0;
    if (size_t cl = in.find("Content-Length: "); cl != std::string::npos && cl < end)
      body = std::strtoul(in.c_str() + cl + 16, nullptr, 10);
    while (in.size() < end + 4 + body) {
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
    }
    if (status / 100 == 2) {
      ok++;
    } else {
      std::fprintf(stderr, "mqtt_load: HTTP %d: %s\n", status, in.substr(end + 4, body).c_str());
    }
    in.erase(0, end + 4 + body);
  }
  close(fd);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--file")
      a.file = v;
    else if (k == "--mode")
      a.mode = v;
    else if (k == "--target")
      a.target = v;
    else if (k == "--db")
      a.db = v;
    else if (k == "--label")
      a.label = v;
    else if (k == "--conns")
      a.conns = std::atoi(v.c_str());
    else if (k == "--lines")
      a.lines = std::atoi(v.c_str());
    else if (k == "--inflight")
      a.inflight = std::atoi(v.c_str());
    else if (k == "--pid")
      a.pid = std::atoi(v.c_str());
    else {
      std::fprintf(stderr, "mqtt_load: unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  if (a.file.empty() || (a.mode != "mqtt" && a.mode != "http") || a.conns < 1 || a.lines < 1 ||
      a.inflight < 1) {
    std::fprintf(stderr,
                 "usage: mqtt_load --file F.lp --mode mqtt|http --target HOST:PORT [--db iot] [--conns 8] "
                 "[--lines 50] [--inflight 100] [--pid PID] [--label L]\n");
    return 2;
  }
  std::ifstream f(a.file);
  if (!f) {
    std::fprintf(stderr, "mqtt_load: cannot read %s\n", a.file.c_str());
    return 2;
  }
  // Messages of `lines` lines; field values counted as '=' outside the
  // measurement and tags (the iot set has no string fields).
  std::vector<std::string> msgs;
  std::string line, cur;
  size_t points = 0, values = 0;
  int in_msg = 0;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.find(' ');
    size_t sp2 = line.rfind(' ');
    if (sp != std::string::npos) {
      for (size_t i = sp; i < sp2; i++) values += line[i] == '=';
    }
    points++;
    cur += line;
    cur += '\n';
    if (++in_msg == a.lines) {
      msgs.push_back(std::move(cur));
      cur.clear();
      in_msg = 0;
    }
  }
  if (!cur.empty()) msgs.push_back(std::move(cur));
  std::vector<std::vector<const std::string*>> per(static_cast<size_t>(a.conns));
  for (size_t i = 0; i < msgs.size(); i++) per[i % static_cast<size_t>(a.conns)].push_back(&msgs[i]);

  std::atomic<size_t> acked{0};
  const double cpu0 = CpuSeconds(a.pid);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < a.conns; c++) {
    threads.emplace_back([&, c] {
      acked += a.mode == "mqtt" ? RunMqtt(a, c, per[static_cast<size_t>(c)])
                                : RunHttp(a, c, per[static_cast<size_t>(c)]);
    });
  }
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = CpuSeconds(a.pid) - cpu0;
  const bool all = acked.load() == msgs.size();
  std::printf(
      "RESULT label=%s mode=%s conns=%d lines_per_msg=%d messages=%zu acked=%zu points=%zu values=%zu "
      "seconds=%.3f points_per_s=%.0f values_per_s=%.0f server_cpu_s=%.3f server_cpu_us_per_value=%.3f%s\n",
      a.label.empty() ? a.mode.c_str() : a.label.c_str(), a.mode.c_str(), a.conns, a.lines, msgs.size(),
      acked.load(), points, values, secs, static_cast<double>(points) / secs,
      static_cast<double>(values) / secs, cpu, a.pid > 0 ? cpu * 1e6 / static_cast<double>(values) : 0.0,
      all ? "" : " INCOMPLETE");
  return all ? 0 : 1;
}
