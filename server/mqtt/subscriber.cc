#include "server/mqtt/subscriber.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>

#include <mosquitto.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

#include "m2mdb/log.h"
#include "server/mqtt/codec.h"
#include "server/mqtt/ingest.h"

namespace m2mdb::server::mqtt {

namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool PercentDecode(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); i++) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = HexDigit(in[i + 1]), lo = HexDigit(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

StatusOr<SubscribeUrl> ParseSubscribeUrl(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("bad MQTT URL \"", std::string(url),
                                                   "\": ", std::string(why),
                                                   " (expected mqtt[s]://[user:pass@]HOST:PORT/FILTER)"));
  };
  SubscribeUrl u;
  std::string_view rest = url;
  if (rest.substr(0, 7) == "mqtt://") {
    rest.remove_prefix(7);
  } else if (rest.substr(0, 8) == "mqtts://") {
    u.tls = true;
    rest.remove_prefix(8);
  } else {
    return bad("the scheme must be mqtt:// or mqtts://");
  }
  // The authority ends at the first `/`: credentials with a `/` must be
  // percent-encoded, while the filter after it is taken literally.
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return bad("no topic filter after the host");
  std::string_view authority = rest.substr(0, slash);
  const std::string_view filter = rest.substr(slash + 1);
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    const size_t colon = userinfo.find(':');
    if (!PercentDecode(userinfo.substr(0, colon), &u.username))
      return bad("bad percent-encoding in the user");
    if (u.username.empty()) return bad("empty user name before '@'");
    if (colon != std::string_view::npos) {
      u.has_password = true;
      if (!PercentDecode(userinfo.substr(colon + 1), &u.password)) {
        return bad("bad percent-encoding in the password");
      }
    }
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated '[' in the host");
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("junk after ']'");
      port_text = after.substr(1);
      if (port_text.empty()) return bad("empty port");
    }
  } else {
    const size_t colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return bad("empty port");
    }
  }
  if (u.host.empty()) return bad("no host");
  if (u.host.find_first_of(" @[]/") != std::string::npos) return bad("bad host");
  u.port = u.tls ? 8883 : 1883;
  if (!port_text.empty()) {
    int port = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9' || port > 65535) return bad("the port must be a number 1..65535");
      port = port * 10 + (c - '0');
    }
    if (port < 1 || port > 65535) return bad("the port must be a number 1..65535");
    u.port = port;
  }
  if (filter.empty()) return bad("empty topic filter");
  u.filter = std::string(filter);
  if (mosquitto_validate_utf8(u.filter.data(), static_cast<int>(u.filter.size())) != MOSQ_ERR_SUCCESS) {
    return bad("the topic filter is not valid UTF-8");
  }
  if (mosquitto_sub_topic_check2(u.filter.data(), u.filter.size()) != MOSQ_ERR_SUCCESS) {
    return bad("invalid topic filter ('+' and '#' must stand alone in their level, '#' only last)");
  }
  return u;
}

std::string DefaultClientId(const std::string& data_dir) {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof(host), "host");
  std::string path = data_dir;
  if (char* real = realpath(data_dir.c_str(), nullptr); real != nullptr) {
    path = real;
    std::free(real);
  }
  // FNV-1a: a hash that never changes between builds or library versions.
  uint32_t h = 2166136261u;
  for (unsigned char c : path) {
    h ^= c;
    h *= 16777619u;
  }
  char hex[9];
  std::snprintf(hex, sizeof(hex), "%08x", h);
  return absl::StrCat("m2mdb-", std::string(host).substr(0, 40), "-", hex);
}

class Subscriber::Impl {
 public:
  Impl(DB* db, const SubscriberOptions& options) : db_(db), options_(options) {}
  ~Impl() { Stop(); }

  Status Start() {
    // libmosquitto says only "invalid arguments" for a CA file it cannot read.
    if (!options_.tls_ca_file.empty() && ::access(options_.tls_ca_file.c_str(), R_OK) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read the CA file ", options_.tls_ca_file, ": ", strerror(errno)));
    }
    static std::once_flag init;
    std::call_once(init, [] { mosquitto_lib_init(); });
    // One connection per broker and credentials: two connections with one
    // client id would take each other's session over forever.
    std::map<std::tuple<bool, std::string, int, std::string, std::string>, size_t> index;
    for (const SubscribeUrl& u : options_.urls) {
      auto key = std::make_tuple(u.tls, u.host, u.port, u.username, u.password);
      auto it = index.find(key);
      if (it == index.end()) {
        it = index.emplace(key, brokers_.size()).first;
        brokers_.push_back(std::make_unique<Broker>());
        brokers_.back()->impl = this;
        brokers_.back()->url = u;
        brokers_.back()->name = Name(*brokers_.back());
      }
      brokers_[it->second]->filters.push_back(u.filter);
    }
    for (auto& b : brokers_) {
      b->mosq = mosquitto_new(options_.client_id.c_str(), /*clean_session=*/false, b.get());
      if (b->mosq == nullptr) return absl::InternalError("mosquitto_new failed");
      if (!b->url.username.empty()) {
        mosquitto_username_pw_set(b->mosq, b->url.username.c_str(),
                                  b->url.has_password ? b->url.password.c_str() : nullptr);
      }
      if (b->url.tls) {
        // The given CA file, else the operating system's trust store
        // (ca-certificates).
        int rc = options_.tls_ca_file.empty() ? mosquitto_int_option(b->mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1)
                                              : mosquitto_tls_set(b->mosq, options_.tls_ca_file.c_str(),
                                                                  nullptr, nullptr, nullptr, nullptr);
        if (rc != MOSQ_ERR_SUCCESS) {
          return absl::InvalidArgumentError(
              absl::StrCat("mqtts: ", options_.tls_ca_file, ": ",
                           rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc)));
        }
      }
      mosquitto_connect_callback_set(b->mosq, &Impl::OnConnect);
      mosquitto_message_callback_set(b->mosq, &Impl::OnMessage);
    }
    for (auto& b : brokers_) {
      Broker* raw = b.get();
      b->thread = std::thread([this, raw] { Loop(raw); });
    }
    return absl::OkStatus();
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    stop_ = true;
    cv_.notify_all();
    for (auto& b : brokers_) {
      if (b->thread.joinable()) b->thread.join();
      if (b->mosq != nullptr) mosquitto_destroy(b->mosq);
      b->mosq = nullptr;
    }
  }

  SubscriberStats Stats() const {
    SubscriberStats s;
    s.connects = connects_.load();
    s.connection_failures = failures_.load();
    s.connected = connected_.load();
    s.messages_received = received_.load();
    s.messages_stored = stored_.load();
    s.messages_partial = partial_.load();
    s.messages_rejected = rejected_.load();
    s.points_written = points_.load();
    s.write_failures = write_failures_.load();
    return s;
  }

 private:
  struct Broker {
    Impl* impl = nullptr;
    SubscribeUrl url;
    std::vector<std::string> filters;
    mosquitto* mosq = nullptr;
    std::thread thread;
    std::string name;             // mqtt://host:port for the log
    std::atomic<bool> up{false};  // CONNACK accepted on the current connection
  };

  std::string Name(const Broker& b) const {
    const std::string host =
        b.url.host.find(':') != std::string::npos ? absl::StrCat("[", b.url.host, "]") : b.url.host;
    return absl::StrCat(b.url.tls ? "mqtts://" : "mqtt://", host, ":", b.url.port);
  }

  // Sleeps up to `ms`; false when stopping.
  bool Sleep(int ms) {
    std::unique_lock<std::mutex> l(mu_);
    return !cv_.wait_for(l, std::chrono::milliseconds(ms), [&] { return stop_.load(); });
  }

  // The broker's thread: connect, serve, and after any failure wait and try
  // again with a doubling delay. We drive libmosquitto's loop ourselves
  // rather than mosquitto_loop_forever, which gives up on some errors (a
  // refused CONNECT among them) where a server must keep trying.
  void Loop(Broker* b) {
    int delay = options_.reconnect_min_ms;
    bool first = true;
    while (!stop_) {
      // Asynchronous, so that a broker that never answers (a dropped SYN)
      // keeps no one waiting: the loop below checks stop_ every 200 ms.
      int rc = first ? mosquitto_connect_async(b->mosq, b->url.host.c_str(), b->url.port,
                                               options_.keepalive_seconds)
                     : mosquitto_reconnect_async(b->mosq);
      first = false;
      if (rc == MOSQ_ERR_SUCCESS) {
        while (!stop_) {
          rc = mosquitto_loop(b->mosq, 200, 1);
          if (rc != MOSQ_ERR_SUCCESS) break;
          if (b->up) delay = options_.reconnect_min_ms;
        }
      }
      if (b->up.exchange(false)) connected_--;
      if (stop_) break;
      failures_++;
      LogRateLimited(
          absl::StrCat("mqtt subscriber: ", b->name, ": ",
                       rc == MOSQ_ERR_ERRNO ? std::string(strerror(errno)) : mosquitto_strerror(rc),
                       "; reconnecting in ", delay, " ms"));
      if (!Sleep(delay)) break;
      delay = std::min(delay * 2, options_.reconnect_max_ms);
    }
    // A clean DISCONNECT keeps the session (clean session off): the broker
    // queues QoS 1 messages for us until we are back.
    if (b->up.exchange(false)) connected_--;
    mosquitto_disconnect(b->mosq);
    mosquitto_loop(b->mosq, 100, 1);
  }

  static void OnConnect(mosquitto* mosq, void* obj, int rc) {
    auto* b = static_cast<Broker*>(obj);
    Impl* self = b->impl;
    if (rc != 0) {
      // The connect loop counts the failure when mosquitto_loop returns it.
      self->LogRateLimited(absl::StrCat("mqtt subscriber: ", b->name,
                                        " refused the connection: ", mosquitto_connack_string(rc)));
      return;
    }
    self->connects_++;
    self->connected_++;
    b->up = true;
    for (const std::string& f : b->filters) {
      if (int s = mosquitto_subscribe(mosq, nullptr, f.c_str(), 1); s != MOSQ_ERR_SUCCESS) {
        self->LogRateLimited(
            absl::StrCat("mqtt subscriber: ", b->name, ": subscribing to ", f, ": ", mosquitto_strerror(s)));
      }
    }
    LogInfo("mqtt subscriber: connected to ", b->name, " as ", self->options_.client_id, ", subscribed to ",
            b->filters.size(), " filter(s) at QoS 1");
  }

  // Runs on the broker's thread inside mosquitto_loop, after libmosquitto
  // has sent the PUBACK (see subscriber.h).
  static void OnMessage(mosquitto*, void* obj, const mosquitto_message* m) {
    auto* b = static_cast<Broker*>(obj);
    Impl* self = b->impl;
    self->received_++;
    IngestRequest req;
    req.topic = m->topic != nullptr ? std::string_view(m->topic) : std::string_view();
    req.payload =
        std::string_view(static_cast<const char*>(m->payload), m->payloadlen > 0 ? m->payloadlen : 0);
    req.identity = {b->url.username, self->options_.client_id};
    req.arrival_ns = NowNs();
    req.max_line_bytes = self->options_.max_line_bytes;
    req.rules = self->options_.rules.get();
    IngestOutcome o = IngestMessage(self->db_, req);
    self->points_ += o.points;
    switch (o.kind) {
      case IngestOutcome::kStored:
        self->stored_++;
        break;
      case IngestOutcome::kPartial:
        self->partial_++;
        self->LogRateLimited(absl::StrCat("mqtt subscriber: payload on topic \"", std::string(req.topic),
                                          "\" partly rejected: ", o.why));
        self->DeadLetter(req, m->qos, reason::kSuccess, o);
        break;
      case IngestOutcome::kRejected:
        self->rejected_++;
        self->LogRateLimited(absl::StrCat("mqtt subscriber: payload on topic \"", std::string(req.topic),
                                          "\" rejected: ", o.why));
        self->DeadLetter(req, m->qos, o.reason, o);
        break;
      case IngestOutcome::kFailed:
        self->write_failures_++;
        self->LogRateLimited(absl::StrCat("mqtt subscriber: write to ", o.database,
                                          " failed (message lost: ", "the broker had its PUBACK): ", o.why));
        break;
    }
  }

  void LogRateLimited(const std::string& line) { log_.Warn(line); }

  // The listener's record (ingest.h); client_id is ours, the subscriber's.
  void DeadLetter(const IngestRequest& req, int qos, uint8_t code, const IngestOutcome& o) {
    if (!options_.dead_letters) return;
    DeadLetterWriter::Record r;
    r.time_ns = req.arrival_ns;
    r.client_id = options_.client_id;
    r.topic = req.topic;
    r.qos = qos;
    r.reason_code = code;
    r.reason = o.why;
    r.rejected_lines = &o.rejected_lines;
    r.payload = req.payload;
    options_.dead_letters->Write(r);
  }

  DB* db_;
  const SubscriberOptions options_;
  std::vector<std::unique_ptr<Broker>> brokers_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;  // guarded by mu_
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> connects_{0}, failures_{0}, connected_{0}, received_{0}, stored_{0}, partial_{0},
      rejected_{0}, points_{0}, write_failures_{0};
  RateLimitedLog log_;
};

std::string RenderSubscriberMetrics(const SubscriberStats& s) {
  std::string out;
  auto metric = [&](const char* type, const char* name, const char* help, uint64_t v) {
    absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", name, " ", v, "\n");
  };
  metric("counter", "m2mdb_mqtt_subscriber_connects_total", "Connections to brokers accepted (CONNACK).",
         s.connects);
  metric("counter", "m2mdb_mqtt_subscriber_connection_failures_total",
         "Broker connections that failed, were refused or were lost.", s.connection_failures);
  metric("gauge", "m2mdb_mqtt_subscriber_connected", "Brokers connected now.", s.connected);
  metric("counter", "m2mdb_mqtt_subscriber_messages_received_total", "Messages received from brokers.",
         s.messages_received);
  metric("counter", "m2mdb_mqtt_subscriber_messages_stored_total", "Subscribed messages stored whole.",
         s.messages_stored);
  metric("counter", "m2mdb_mqtt_subscriber_messages_partial_total",
         "Subscribed messages with some lines stored and some rejected.", s.messages_partial);
  metric("counter", "m2mdb_mqtt_subscriber_messages_rejected_total",
         "Subscribed messages of which nothing was stored (payload, database).", s.messages_rejected);
  metric("counter", "m2mdb_mqtt_subscriber_points_written_total", "Points written from subscribed messages.",
         s.points_written);
  metric("counter", "m2mdb_mqtt_subscriber_write_failures_total",
         "Subscribed messages the engine failed to write (already acknowledged to the broker: lost).",
         s.write_failures);
  return out;
}

Subscriber::Subscriber(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Subscriber::~Subscriber() { Stop(); }

StatusOr<std::unique_ptr<Subscriber>> Subscriber::Start(DB* db, const SubscriberOptions& options) {
  auto impl = std::make_unique<Impl>(db, options);
  if (Status s = impl->Start(); !s.ok()) return s;
  return std::unique_ptr<Subscriber>(new Subscriber(std::move(impl)));
}

void Subscriber::Stop() {
  if (impl_) impl_->Stop();
}
SubscriberStats Subscriber::Stats() const { return impl_->Stats(); }

}  // namespace m2mdb::server::mqtt
