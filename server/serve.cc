#include "server/serve.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <thread>

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

#include "m2mdb/db.h"
#include "m2mdb/log.h"
#include "m2mdb/query/continuous.h"
#include "server/auth_state.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/mqtt/listener.h"
#include "server/mqtt/subscriber.h"
#include "server/tokens.h"
#include "server/users.h"

namespace m2mdb::server {

namespace {

// Binds the MQTT listener; protected mode as for HTTP. Returns an exit code
// (0 = started).
// `listening` gets "mqtt://host:port" / "mqtts://host:port" for the log.
int StartMqtt(DB* db, const ServeOptions& options, std::shared_ptr<AuthState> auth, bool auth_required,
              std::shared_ptr<mqtt::DeadLetterWriter> dead_letters, std::unique_ptr<mqtt::Listener>* out,
              std::vector<std::string>* listening,
              std::function<std::string(const std::string&)> refuse_writes) {
  struct Address {
    const std::string& text;
    bool tls;
    std::string host = {};
    int port = 0;
  };
  std::vector<Address> addresses;
  if (!options.mqtt.empty()) addresses.push_back({options.mqtt, false});
  if (!options.mqtt_tls.empty()) addresses.push_back({options.mqtt_tls, true});
  for (Address& a : addresses) {
    const char* flag = a.tls ? "--mqtt-tls" : "--mqtt";
    if (Status s = ParseListenAddress(a.text, &a.host, &a.port); !s.ok()) {
      std::fprintf(stderr, "m2mdb serve: %s: %s\n", flag, std::string(s.message()).c_str());
      return 2;
    }
    if (!auth_required && !IsLoopbackHost(a.host) && !options.no_auth) {
      std::fprintf(stderr,
                   "m2mdb serve: refusing to serve MQTT on %s without authentication (protected mode).\n"
                   "  Create a token with --write first, bind to 127.0.0.1, or pass --no-auth.\n",
                   a.text.c_str());
      return 2;
    }
    if (a.tls && (options.tls_cert.empty() || options.tls_key.empty())) {
      std::fprintf(stderr, "m2mdb serve: --mqtt-tls needs --tls-cert and --tls-key\n");
      return 2;
    }
  }
  if (options.mqtt_receive_maximum < 1 || options.mqtt_receive_maximum > 65535 ||
      options.mqtt_max_packet_bytes < 64 || options.mqtt_writers < 1) {
    std::fprintf(stderr,
                 "m2mdb serve: --mqtt-receive-maximum must be 1..65535, --mqtt-max-packet-bytes at least 64, "
                 "--mqtt-writers at least 1\n");
    return 2;
  }
  mqtt::ListenerOptions lo;
  lo.max_packet_bytes = options.mqtt_max_packet_bytes;
  lo.receive_maximum = static_cast<uint16_t>(options.mqtt_receive_maximum);
  lo.writer_threads = options.mqtt_writers;
  lo.max_line_bytes = options.max_line_bytes;
  lo.dead_letters = std::move(dead_letters);
  lo.refuse_writes = std::move(refuse_writes);
  if (!options.mqtt_rules.empty()) {
    auto rules = mqtt::Rules::Load(options.mqtt_rules);
    if (!rules.ok()) {
      std::fprintf(stderr, "m2mdb serve: --mqtt-rules: %s\n", std::string(rules.status().message()).c_str());
      return 2;
    }
    LogInfo("mqtt: ", rules->size(), " topic rule(s) from ", options.mqtt_rules);
    lo.rules = std::make_shared<const mqtt::Rules>(std::move(*rules));
  }
  lo.max_connections_per_address = options.max_connections_per_address;
  if (!options.mqtt_tls.empty()) {
    lo.tls_cert = options.tls_cert;
    lo.tls_key = options.tls_key;
  }
  auto listener = mqtt::Listener::Create(db, lo, std::move(auth));
  if (!listener.ok()) {
    std::fprintf(stderr, "m2mdb serve: %s\n", std::string(listener.status().message()).c_str());
    return 2;
  }
  for (const Address& a : addresses) {
    auto bound = (*listener)->Bind(a.host, a.port, a.tls);
    if (!bound.ok()) {
      std::fprintf(stderr, "m2mdb serve: %s\n", std::string(bound.status().message()).c_str());
      return 2;
    }
    const std::string shown = a.host.find(':') != std::string::npos ? absl::StrCat("[", a.host, "]") : a.host;
    listening->push_back(absl::StrCat(a.tls ? "mqtts://" : "mqtt://", shown, ":", *bound));
  }
  *out = std::move(*listener);
  return 0;
}

}  // namespace

int Serve(const ServeOptions& options) {
  // The exit codes of every m2mdb command (docs/cli.md).
  constexpr int kExitFailed = 1;
  constexpr int kExitCannotStart = 2;
  if (options.log_level == "error") {
    SetLogLevel(LogLevel::kError);
  } else if (options.log_level == "warn") {
    SetLogLevel(LogLevel::kWarning);
  } else if (options.log_level == "info") {
    SetLogLevel(LogLevel::kInfo);
  } else if (options.log_level == "debug") {
    SetLogLevel(LogLevel::kDebug);
  } else {
    std::fprintf(stderr, "m2mdb serve: --log-level must be error, warn, info or debug\n");
    return kExitCannotStart;
  }
  // A bad --mqtt-subscribe URL stops the start before anything is opened.
  std::vector<mqtt::SubscribeUrl> subscribe_urls;
  for (const std::string& url : options.mqtt_subscribe) {
    auto u = mqtt::ParseSubscribeUrl(url);
    if (!u.ok()) {
      std::fprintf(stderr, "m2mdb serve: --mqtt-subscribe: %s\n", std::string(u.status().message()).c_str());
      return kExitCannotStart;
    }
    subscribe_urls.push_back(std::move(*u));
  }
  // glibc gives each thread that allocates its own malloc arena and keeps
  // their free memory: with dozens of HTTP worker threads that held ~70 MB
  // of peak RSS for nothing (bench/http_load: 278 -> 215 MB at equal
  // throughput). Two arenas are enough for two cores.
  mallopt(M_ARENA_MAX, 2);
  // The data directory holds every point and the token hashes: what the
  // server creates there is for its own user only (directories 0700, files
  // 0600). A directory made by an older version keeps its mode; see
  // docs/operations.md, "Security".
  umask(0077);
  Options o;
  o.data_dir = options.data_dir;
  if (options.wal_sync == "always") {
    o.wal_sync = WalSyncMode::kAlways;
  } else if (options.wal_sync == "batch") {
    o.wal_sync = WalSyncMode::kBatch;
  } else if (options.wal_sync == "none") {
    o.wal_sync = WalSyncMode::kNone;
  } else {
    std::fprintf(stderr, "m2mdb serve: --wal-sync must be always, batch or none\n");
    return kExitCannotStart;
  }
  // Idle connections cost a file descriptor each (not a thread): take every
  // descriptor the hard limit allows, so that the soft limit (often 1024)
  // does not turn a thousand idle clients into failed accepts.
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  o.head_memory_bytes = options.head_memory_mb << 20;
  o.max_series_per_database = options.max_series_per_database;
  o.skip_damaged_blocks = options.skip_damaged_blocks;

  std::string host;
  int port;
  if (Status s = ParseListenAddress(options.http, &host, &port); !s.ok()) {
    std::fprintf(stderr, "m2mdb serve: %s\n", std::string(s.message()).c_str());
    return kExitCannotStart;
  }

  // Signals are taken synchronously by this thread (sigwait), so block them
  // before any thread exists: every thread inherits the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  // A client closing mid-response must not kill the server (TLS writes).
  signal(SIGPIPE, SIG_IGN);

  // The continuous queries listen to every write from the WAL replay on
  // (their dirty marks come back with the WAL after a crash); they outlive
  // the DB, whose Close checkpoints them.
  query::ContinuousQueryOptions cqo;
  cqo.poll_interval = std::chrono::milliseconds(std::max(options.cq_poll_ms, 10));
  cqo.refresh_delay = std::chrono::milliseconds(std::max(options.cq_refresh_delay_ms, 0));
  query::ContinuousQueries cqs(cqo);
  o.change_listener = &cqs;
  auto db = DB::Open(o);
  if (!db.ok()) {
    std::fprintf(stderr, "m2mdb serve: %s\n", std::string(db.status().message()).c_str());
    return kExitCannotStart;
  }
  ServeOptions with_cqs = options;
  with_cqs.continuous_queries = &cqs;
  for (const auto& name : options.create_databases) {
    if (Status s = (*db)->CreateDatabase({.name = name}); !s.ok()) {
      std::fprintf(stderr, "m2mdb serve: creating database %s: %s\n", name.c_str(),
                   std::string(s.message()).c_str());
      (void)(*db)->Close();
      return kExitCannotStart;
    }
  }
  auto tokens = TokenStore::Load(db->get());
  if (!tokens.ok()) {
    std::fprintf(stderr, "m2mdb serve: reading tokens: %s\n", std::string(tokens.status().message()).c_str());
    (void)(*db)->Close();
    return kExitCannotStart;
  }
  // Users (users.h): there is an admin whenever there is a user at all (the
  // first must be one, the last cannot go), so any user record means auth.
  auto users = (*db)->ListAppMeta(kUserKeyPrefix);
  if (!users.ok()) {
    std::fprintf(stderr, "m2mdb serve: reading users: %s\n", std::string(users.status().message()).c_str());
    (void)(*db)->Close();
    return kExitCannotStart;
  }
  // Protected mode (like Redis'): without tokens or users the server is
  // open, which is acceptable only where no one else can connect.
  const bool loopback = IsLoopbackHost(host);
  const bool auth_required = !tokens->empty() || !users->empty();
  std::string auth_note;
  if (auth_required) {
    auth_note = absl::StrCat("auth: ", tokens->size(), " token(s), ", users->size(),
                             " user(s), required on every endpoint but /ping and /health");
  } else if (loopback) {
    auth_note = "auth: off (no tokens; loopback only)";
  } else if (options.no_auth) {
    auth_note = "auth: OFF on a non-loopback address (--no-auth): anyone who can connect may read and write";
  } else {
    std::fprintf(stderr,
                 "m2mdb serve: refusing to serve %s without authentication (protected mode).\n"
                 "  Create a token first (with the server stopped):\n"
                 "    m2mdb token create --data-dir %s --read --write\n"
                 "  or create an admin user on 127.0.0.1 first (CREATE USER ... WITH ALL PRIVILEGES),\n"
                 "  or bind to 127.0.0.1, or pass --no-auth to serve this address open.\n",
                 options.http.c_str(), options.data_dir.c_str());
    (void)(*db)->Close();
    return kExitCannotStart;
  }

  // Tokens, users and the login limiter, shared by HTTP and MQTT so that a
  // change over HTTP reaches MQTT at once (auth_state.h).
  auto auth = AuthState::Create(db->get(), std::move(*tokens), auth_required);
  if (!auth.ok()) {
    std::fprintf(stderr, "m2mdb serve: reading users: %s\n", std::string(auth.status().message()).c_str());
    (void)(*db)->Close();
    return kExitCannotStart;
  }
  // One dead-letter file for the listener and the subscriber.
  std::shared_ptr<mqtt::DeadLetterWriter> dead_letters;
  if (!options.mqtt_dead_letter.empty()) {
    dead_letters = std::make_shared<mqtt::DeadLetterWriter>(options.mqtt_dead_letter, 64ull << 20);
  }

  // ---- MQTT listener (server/mqtt/) ----
  std::unique_ptr<mqtt::Listener> mqtt_listener;
  std::vector<std::string> mqtt_listening;
  // The HTTP server (which owns the subscriptions) starts after the
  // listener and outlives it: set once it exists.
  auto http_for_mqtt = std::make_shared<std::atomic<HttpServer*>>(nullptr);
  if (!options.mqtt.empty() || !options.mqtt_tls.empty()) {
    auto refuse = [http_for_mqtt](const std::string& database) {
      HttpServer* h = http_for_mqtt->load();
      Status s = h == nullptr ? Status() : h->CheckWritable(database);
      return s.ok() ? std::string() : std::string(ToStd(s.message()));
    };
    int rc = StartMqtt(db->get(), options, *auth, auth_required, dead_letters, &mqtt_listener,
                       &mqtt_listening, refuse);
    if (rc != 0) {
      (void)(*db)->Close();
      return rc;
    }
  }

  auto server = HttpServer::Create(db->get(), with_cqs, *auth);
  if (!server.ok()) {
    std::fprintf(stderr, "m2mdb serve: %s\n", std::string(server.status().message()).c_str());
    (void)(*db)->Close();
    return kExitCannotStart;
  }
  http_for_mqtt->store(server->get());
  auto bound = (*server)->Bind(host, port);
  if (!bound.ok()) {
    std::fprintf(stderr, "m2mdb serve: %s\n", std::string(bound.status().message()).c_str());
    (void)(*db)->Close();
    return kExitCannotStart;
  }
  DBStats st = (*db)->Stats();
  LogInfo("m2mdb ", "data dir ", options.data_dir, ": ", (*db)->ListDatabases().size(), " databases, ",
          st.series, " series, ", st.segments, " segments, ", st.head_points,
          " points replayed from the WAL");
  const std::string shown_host = host.find(':') != std::string::npos ? absl::StrCat("[", host, "]") : host;
  LogInfo("m2mdb listening on ", (*server)->tls() ? "https" : "http", "://", shown_host, ":", *bound, " (",
          auth_note, ")");
  if (!loopback && !(*server)->tls()) {
    LogWarning(
        "serving plain HTTP on a non-loopback address: tokens travel in clear text (use "
        "--tls-cert/--tls-key)");
  }

  // ---- MQTT subscriber (server/mqtt/subscriber.h) ----
  std::unique_ptr<mqtt::Subscriber> mqtt_subscriber;
  if (!subscribe_urls.empty()) {
    mqtt::SubscriberOptions so;
    so.urls = subscribe_urls;
    so.client_id =
        options.mqtt_client_id.empty() ? mqtt::DefaultClientId(options.data_dir) : options.mqtt_client_id;
    so.max_line_bytes = options.max_line_bytes;
    so.tls_ca_file = options.mqtt_subscribe_ca;
    so.dead_letters = dead_letters;
    if (!options.mqtt_rules.empty()) {
      auto rules = mqtt::Rules::Load(options.mqtt_rules);
      if (!rules.ok()) {
        std::fprintf(stderr, "m2mdb serve: --mqtt-rules: %s\n",
                     std::string(rules.status().message()).c_str());
        (void)(*db)->Close();
        return kExitCannotStart;
      }
      so.rules = std::make_shared<const mqtt::Rules>(std::move(*rules));
    }
    auto sub = mqtt::Subscriber::Start(db->get(), so);
    if (!sub.ok()) {
      std::fprintf(stderr, "m2mdb serve: --mqtt-subscribe: %s\n",
                   std::string(sub.status().message()).c_str());
      (void)(*db)->Close();
      return kExitCannotStart;
    }
    mqtt_subscriber = std::move(*sub);
    for (const auto& u : subscribe_urls) {
      LogInfo("m2mdb mqtt subscribing to ", u.tls ? "mqtts://" : "mqtt://", u.host, ":", u.port, " filter \"",
              u.filter, "\" as client ", so.client_id);
    }
  }

  // The refresher starts last: no early return above leaves it running
  // over a closed DB.
  if (Status s = cqs.Attach(db->get()); !s.ok()) {
    std::fprintf(stderr, "m2mdb serve: continuous queries: %s\n", std::string(s.message()).c_str());
    (void)(*db)->Close();
    return kExitCannotStart;
  }
  std::thread http([&] { (*server)->Run(); });
  std::thread mqtt_thread;
  if (mqtt_listener) {
    for (const auto& l : mqtt_listening) LogInfo("m2mdb mqtt listening on ", l, " (", auth_note, ")");
    mqtt_thread = std::thread([&] { mqtt_listener->Run(); });
  }
  SetExtraMetrics([l = mqtt_listener.get(), sub = mqtt_subscriber.get(), cq = &cqs] {
    std::string out;
    if (l != nullptr) out += mqtt::RenderMetrics(l->Stats());
    if (sub != nullptr) out += mqtt::RenderSubscriberMetrics(sub->Stats());
    const query::ContinuousQueryStats st = cq->Stats();
    absl::StrAppend(
        &out,
        "# HELP m2mdb_cq_queries Continuous queries defined.\n# TYPE m2mdb_cq_queries gauge\n"
        "m2mdb_cq_queries ",
        st.queries,
        "\n# HELP m2mdb_cq_pending_windows Dirty rollup windows not yet refreshed.\n"
        "# TYPE m2mdb_cq_pending_windows gauge\nm2mdb_cq_pending_windows ",
        st.pending_windows,
        "\n# HELP m2mdb_cq_refreshes_total Rollup chunks recomputed.\n"
        "# TYPE m2mdb_cq_refreshes_total counter\nm2mdb_cq_refreshes_total ",
        st.refreshes,
        "\n# HELP m2mdb_cq_refresh_errors_total Rollup chunks that failed (retried).\n"
        "# TYPE m2mdb_cq_refresh_errors_total counter\nm2mdb_cq_refresh_errors_total ",
        st.refresh_errors,
        "\n# HELP m2mdb_cq_refresh_lag_p99_seconds Refresh lag of recent chunks, 99th percentile.\n"
        "# TYPE m2mdb_cq_refresh_lag_p99_seconds gauge\nm2mdb_cq_refresh_lag_p99_seconds ",
        static_cast<double>(st.lag_p99_ns) / 1e9, "\n");
    return out;
  });

  int sig = 0;
  while (sigwait(&sigs, &sig) != 0) {
  }
  LogInfo("received ", sig == SIGTERM ? "SIGTERM" : "SIGINT",
          ": no new connections; finishing requests in flight, then flushing and closing "
          "(a second signal exits at once)");
  std::atomic<bool> done{false};
  std::atomic<int> rc{0};
  std::thread closer([&] {
    (*server)->Stop();
    if (mqtt_listener) mqtt_listener->Stop();
    if (mqtt_subscriber) mqtt_subscriber->Stop();
    http.join();
    if (mqtt_thread.joinable()) mqtt_thread.join();
    cqs.Stop();  // a chunk in flight finishes; its marks are kept otherwise
    Status s = (*db)->Close();
    if (!s.ok()) {
      LogError("close: ", s.message());
      rc = kExitFailed;
    } else {
      LogInfo("closed cleanly");
    }
    done = true;
  });
  while (!done.load()) {
    timespec ts{0, 100 * 1000 * 1000};
    int r = sigtimedwait(&sigs, nullptr, &ts);
    if (r == SIGINT || r == SIGTERM) {
      // Acknowledged writes are in the WAL; the next start replays them.
      const char msg[] = "second signal: exiting without closing (the WAL has every acknowledged write)\n";
      (void)!::write(2, msg, sizeof(msg) - 1);
      ::_exit(130);
    }
  }
  closer.join();
  return rc.load();
}

}  // namespace m2mdb::server
