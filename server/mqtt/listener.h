// The MQTT listener of `m2mdb serve --mqtt HOST:PORT` (docs/mqtt.md): MQTT
// 3.1.1 and 5.0 clients publish line protocol; the first topic level names
// the database.
//
// The contract is HTTP's 204 applied to MQTT: a PUBACK (QoS 1) or PUBREC
// (QoS 2) is sent only after DB::WriteLineProtocol returned OK for the
// message, i.e. after the WAL group commit covering it (with the default
// --wal-sync=always, its fdatasync). Messages of every connection go through
// one queue to a pool of writer threads; the writers' concurrent writes share
// the engine's group commit, so one fsync covers many publishes.
//
// Threads: Run is the event loop (epoll; accepts, reads, parses, sends
// acknowledgements, enforces keep-alive); writer threads call the engine.
// Back-pressure: a connection with `receive_maximum` messages unacknowledged,
// or every connection while the queue holds `max_queued_bytes`, is not read
// until acknowledgements free room, so memory stays bounded when the engine
// stalls (its head over budget) and the client's TCP window closes.
//
// Authentication (docs/mqtt.md, "Authentication"): an API token as the
// password is checked on the loop (one SHA-256); a user's password (Argon2id,
// tens of ms) on an auth thread, the CONNACK following when it is done.
//
// Thread-safety: Create, Bind, Run from one thread; Stop and Stats from any.
#ifndef M2MDB_SERVER_MQTT_LISTENER_H_
#define M2MDB_SERVER_MQTT_LISTENER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "m2mdb/db.h"
#include "m2mdb/status.h"
#include "server/auth_state.h"
#include "server/mqtt/ingest.h"
#include "server/mqtt/rules.h"
#include "server/tokens.h"

namespace m2mdb::server::mqtt {

struct ListenerOptions {
  // Largest packet accepted (fixed header included); larger ones close the
  // connection (MQTT 5: DISCONNECT 0x95 first). Announced in CONNACK (5).
  // Default: 1 MiB.
  uint32_t max_packet_bytes = 1u << 20;
  // Unacknowledged QoS 1 and 2 messages per connection (the in-flight
  // window); announced as Receive Maximum (5). Past it the connection is not
  // read until an acknowledgement goes out. Default: 100.
  uint16_t receive_maximum = 100;
  // Writer threads calling DB::WriteLineProtocol (each blocks until its
  // write is durable; together they share the group commit, so the number
  // of writers bounds the messages per fsync: mostly blocked threads, cheap).
  // Default: 32 (1.2-1.25x the points/s of 8 on the iot set,
  // docs/benchmarks.md "MQTT ingest").
  int writer_threads = 32;
  // Payload bytes queued for the writers across all connections before
  // every socket stops being read. Default: 64 MiB.
  uint64_t max_queued_bytes = 64ull << 20;
  // A connection must send CONNECT within this. Default: 10 s.
  int connect_timeout_seconds = 10;
  // Open connections per client address; more are closed at accept
  // (0 = unlimited). Default: 256 (serve passes --http-max-conns-per-ip).
  int max_connections_per_address = 256;
  // Disconnected persistent sessions kept (oldest dropped first).
  // Default: 100000.
  size_t max_sessions = 100000;
  // As --max-line-bytes for /write; 0 = no limit.
  uint64_t max_line_bytes = 1ull << 20;
  // For Create(db, options, tokens) only: authentication on from the start
  // (AuthState::Create). With it on, CONNECT needs an API token with write
  // scope as the password, or a user name and its password; each PUBLISH
  // then needs the token's database or the user's WRITE grant.
  bool auth_required = false;
  // Rejected and partly rejected messages are appended here, one JSON
  // object per line (docs/mqtt.md, "Dead letters"); empty = off. When the
  // file passes dead_letter_max_bytes it becomes FILE.1 (replacing an older
  // one) and a new file starts. Default: off, 64 MiB.
  std::string dead_letter_path = {};
  uint64_t dead_letter_max_bytes = 64ull << 20;
  // A writer shared with the subscriber (serve.cc); when set, the two
  // fields above are ignored.
  std::shared_ptr<DeadLetterWriter> dead_letters = {};
  // PEM certificate chain and key for Bind(..., tls = true) (the server's
  // --tls-cert/--tls-key). Default: none.
  std::string tls_cert = {};
  std::string tls_key = {};
  // Topic rules (rules.h); null or empty: the default mapping (first topic
  // level = database, line protocol).
  std::shared_ptr<const Rules> rules = {};
  // Non-empty answer: messages to that database are rejected (0x97 quota
  // exceeded, dead-lettered) with it, as a subscription's WHEN FULL REFUSE
  // WRITES refuses HTTP writes (serve.cc). Default: none.
  std::function<std::string(const std::string& database)> refuse_writes = {};
  // For tests: called by a writer thread before each engine write (to hold
  // writes back as a stalled engine would).
  std::function<void()> before_write_for_test = {};
  // For tests: called by an auth thread before it verifies a password (to
  // show the loop goes on meanwhile).
  std::function<void()> before_login_for_test = {};
};

// Counters since start (docs/mqtt.md, "Counters").
struct ListenerStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_open = 0;
  uint64_t connects_refused = 0;  // bad credentials, protocol version, client id
  uint64_t protocol_errors = 0;   // connections closed for a malformed or forbidden packet
  uint64_t messages_received = 0;
  uint64_t messages_stored = 0;    // every line written
  uint64_t messages_partial = 0;   // some lines written, some rejected
  uint64_t messages_rejected = 0;  // nothing written (bad payload, missing database, no permission)
  uint64_t points_written = 0;
  uint64_t write_failures = 0;  // engine errors: not acknowledged, connection closed
};

// The counters in Prometheus text format (m2mdb_mqtt_*), for /metrics.
std::string RenderMetrics(const ListenerStats& stats);

class Listener {
 public:
  // `db` must outlive the listener. Credentials: `tokens` and the users
  // of `db`, fixed at start unless changed through this listener's own
  // AuthState (tests).
  static StatusOr<std::unique_ptr<Listener>> Create(DB* db, const ListenerOptions& options,
                                                    TokenStore tokens);
  // With the credentials the HTTP API changes while the server runs
  // (serve.cc): tokens, users and grants are looked up at every CONNECT
  // and, for the connection's own token or user, at every PUBLISH.
  static StatusOr<std::unique_ptr<Listener>> Create(DB* db, const ListenerOptions& options,
                                                    std::shared_ptr<AuthState> auth);
  ~Listener();

  // Binds host:port (port 0: any free port); returns the bound port. May
  // be called more than once (e.g. a plain and a TLS address); `tls` needs
  // ListenerOptions::tls_cert/tls_key.
  StatusOr<int> Bind(const std::string& host, int port, bool tls = false);
  // Serves until Stop. On Stop: no new connections or packets; messages
  // already queued are written and acknowledged, then every connection is
  // closed (MQTT 5: DISCONNECT 0x8B) and Run returns.
  void Run();
  void Stop();

  ListenerStats Stats() const;

  class Impl;

 private:
  explicit Listener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace m2mdb::server::mqtt

#endif  // M2MDB_SERVER_MQTT_LISTENER_H_
