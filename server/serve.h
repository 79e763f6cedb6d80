// `m2mdb serve`: opens the engine on a data directory and serves the HTTP API
// (docs/http-api.md).
#ifndef M2MDB_SERVER_SERVE_H_
#define M2MDB_SERVER_SERVE_H_

#include <cstdint>
#include <string>
#include <vector>

namespace m2mdb::query {
class ContinuousQueries;
}  // namespace m2mdb::query

namespace m2mdb::server {

struct ServeOptions {
  std::string data_dir = "./data";
  // host:port, [v6]:port or :port (all interfaces). Port 0 picks a free port
  // (the "listening on" log line says which).
  std::string http = "127.0.0.1:8086";
  std::string wal_sync = "always";  // always | batch | none
  uint64_t head_memory_mb = 64;
  // Least severe log lines written (m2mdb/log.h): error | warn | info | debug.
  std::string log_level = "info";

  // Databases created at start if missing (InfluxDB's /write never creates
  // one; this saves a CREATE DATABASE round trip for fresh deployments).
  std::vector<std::string> create_databases;

  // Security.
  // Allow serving without tokens on a non-loopback address (protected mode
  // off). Has no effect once tokens exist: then every request needs one.
  bool no_auth = false;
  std::string tls_cert;  // PEM; TLS when both are given
  std::string tls_key;

  // Limits (0 = unlimited where it makes sense).
  uint64_t max_body_bytes = 64ull << 20;       // request body, before and after gzip -> 413
  uint64_t max_line_bytes = 1ull << 20;        // one line of line protocol -> that line rejected
  uint64_t max_series_per_database = 1000000;  // as InfluxDB's default; 0 = unlimited
  int max_concurrent_queries = 8;              // more -> 429
  int query_timeout_ms = 60000;                // 0 = none
  uint64_t query_max_points = 100000000;       // decoded points held by one statement; 0 = none

  // Most HTTP worker threads, each serving one connection whose bytes are
  // ready; started on demand, ended after a keep-alive period idle. Idle
  // connections hold no thread. 0 = 1024. Plain HTTP and TLS alike.
  int http_threads = 0;
  int keep_alive_seconds = 30;
  // After answering, a connection's thread polls for the next request this
  // long before it sleeps (at most half the CPUs at once): a client asking
  // again at once gets a thread that is still running. 0 = off; plain HTTP only.
  int http_spin_us = 50;
  int read_timeout_seconds = 10;  // longest gap within a request body, and per send
  // A request head (request line and headers; the TLS handshake too) must
  // arrive within this of the accept (first request) or of its first byte
  // (later ones): 408 and close otherwise. Also how long a connection that
  // sends nothing stays open.
  int header_timeout_seconds = 10;
  // A request body must arrive completely within this of its head (0 = no
  // deadline; the read timeout per gap still applies).
  int body_timeout_seconds = 300;
  // Open connections per client address; more are answered 429 and closed
  // at once (0 = unlimited).
  int max_connections_per_address = 256;

  // A query needing a damaged segment block: false fails it (kDataLoss, 500,
  // naming the segment file); true skips the block with a log warning and
  // answers from the rest (m2mdb_damaged_blocks_skipped_total counts them).
  bool skip_damaged_blocks = false;

  // Continuous queries (docs/query-language.md): how often the refresher
  // looks for dirty windows, and how long after a window closes it is first
  // computed (points up to that late are in the first computation; later
  // ones dirty it again).
  int cq_poll_ms = 1000;
  int cq_refresh_delay_ms = 0;
  // Not a flag: set by Serve for the HTTP server (null = no CQ statements).
  query::ContinuousQueries* continuous_queries = nullptr;

  // MQTT listener (docs/mqtt.md): host:port like `http`; empty = off. The
  // rest as server/mqtt/listener.h ListenerOptions.
  std::string mqtt;
  std::string mqtt_tls;  // MQTT over TLS with tls_cert/tls_key; empty = off
  uint32_t mqtt_max_packet_bytes = 1u << 20;
  int mqtt_receive_maximum = 100;  // in-flight QoS 1/2 messages per connection (1..65535)
  int mqtt_writers = 32;
  std::string mqtt_dead_letter;  // file for rejected messages (JSON lines); empty = off
  std::string mqtt_rules;        // topic rules file (server/mqtt/rules.h); empty = default mapping
  // MQTT subscriber (server/mqtt/subscriber.h): broker URLs
  // mqtt[s]://[user:pass@]HOST:PORT/FILTER; empty = off. The rules above
  // apply to subscribed messages too.
  std::vector<std::string> mqtt_subscribe;
  std::string mqtt_client_id;     // empty = m2mdb-<host>-<hash of the data dir>
  std::string mqtt_subscribe_ca;  // PEM CA file for mqtts:// brokers; empty = the system's
};

// Runs until SIGINT or SIGTERM: stops accepting, finishes requests in flight,
// then flushes and closes (a second signal exits at once; the WAL keeps every
// acknowledged write). Returns the exit code: 0 closed cleanly, 1 the close
// failed, 2 it could not start (bad option, data directory missing or in
// use, address taken, protected mode).
int Serve(const ServeOptions& options);

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_SERVE_H_
