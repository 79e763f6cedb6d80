// The MQTT subscriber of `m2mdb serve --mqtt-subscribe URL` (docs/mqtt.md,
// "Subscribing to a broker"): m2mdb connects to an existing broker as a
// client (libmosquitto), subscribes at QoS 1 with a persistent session
// (clean session off, a stable client id) and stores what the broker
// forwards with the listener's mapping (ingest.h).
//
// Durability: libmosquitto sends the PUBACK before it hands the message to
// us (eclipse-mosquitto/mosquitto#118; 2.0.11 has no manual acknowledgement),
// so a crash between that PUBACK and the end of our write loses the message.
// docs/mqtt.md gives the measured figure. Messages the broker queued while
// m2mdb was down are not lost: the session outlives the connection.
//
// Threads: one per broker (URLs naming the same broker and credentials share
// one connection); each connects, subscribes, writes each message in its
// callback, and reconnects with a growing delay (1 s doubling to 30 s) when
// the broker goes away or refuses it.
//
// Thread-safety: Start and Stop from one thread; Stats from any.
#ifndef M2MDB_SERVER_MQTT_SUBSCRIBER_H_
#define M2MDB_SERVER_MQTT_SUBSCRIBER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "m2mdb/db.h"
#include "m2mdb/status.h"
#include "server/mqtt/ingest.h"
#include "server/mqtt/rules.h"

namespace m2mdb::server::mqtt {

// mqtt[s]://[user[:password]@]HOST[:PORT]/FILTER. Parsed by hand: the
// filter is everything after the first `/` past the host and is taken
// literally (`#` is the MQTT wildcard, not a URL fragment; `?` is no query).
// User and password may be percent-encoded (%40 for `@`, %2F for `/`, %3A for
// `:`). PORT defaults to 1883 (mqtt) or 8883 (mqtts); HOST may be an IPv6
// address in brackets.
struct SubscribeUrl {
  bool tls = false;
  std::string username;  // empty: none
  std::string password;
  bool has_password = false;
  std::string host;
  int port = 0;
  std::string filter;
};
StatusOr<SubscribeUrl> ParseSubscribeUrl(std::string_view url);

// "m2mdb-<host name>-<8 hex digits of FNV-1a of the data directory's
// absolute path>": stable across restarts of one data directory, distinct
// for two servers on one machine.
std::string DefaultClientId(const std::string& data_dir);

struct SubscriberOptions {
  std::vector<SubscribeUrl> urls;
  std::string client_id;
  // PEM CA certificate(s) that verify mqtts:// brokers; empty = the
  // system's CA certificates.
  std::string tls_ca_file;
  uint64_t max_line_bytes = 1ull << 20;
  std::shared_ptr<const Rules> rules = {};  // null: the default mapping
  // Rejected and partly rejected messages go here, as the listener's
  // (`--mqtt-dead-letter`, ingest.h); null: off.
  std::shared_ptr<DeadLetterWriter> dead_letters = {};
  int keepalive_seconds = 30;
  // Reconnect delays: the first, doubling up to the last. Default 1 s, 30 s.
  int reconnect_min_ms = 1000;
  int reconnect_max_ms = 30000;
};

struct SubscriberStats {
  uint64_t connects = 0;             // CONNACKs accepted
  uint64_t connection_failures = 0;  // connects failed or refused, connections lost
  uint64_t connected = 0;            // brokers connected now
  uint64_t messages_received = 0;
  uint64_t messages_stored = 0;
  uint64_t messages_partial = 0;
  uint64_t messages_rejected = 0;
  uint64_t points_written = 0;
  uint64_t write_failures = 0;  // engine errors (the broker had its PUBACK: lost)
};

// m2mdb_mqtt_subscriber_* in Prometheus text, for /metrics.
std::string RenderSubscriberMetrics(const SubscriberStats& stats);

class Subscriber {
 public:
  // `db` must outlive the subscriber. Starts the broker threads; the first
  // connect happens on them (a broker down at start is retried like one lost
  // later).
  static StatusOr<std::unique_ptr<Subscriber>> Start(DB* db, const SubscriberOptions& options);
  ~Subscriber();  // Stop()

  // Disconnects from every broker (the session stays on the broker) and
  // joins the threads. The message being written is finished first.
  void Stop();
  SubscriberStats Stats() const;

  class Impl;

 private:
  explicit Subscriber(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace m2mdb::server::mqtt

#endif  // M2MDB_SERVER_MQTT_SUBSCRIBER_H_
