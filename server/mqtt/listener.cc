// The MQTT listener: one epoll loop thread owns every connection and every
// session; writer threads own nothing but the job they are writing.
//
//   loop:   accept -> read -> frame -> decode -> PUBLISH: Job into queue_
//                                               (QoS 2 duplicate: PUBREC now)
//   writer: queue_ -> DB::WriteLineProtocol (returns after the fsync)
//             -> Completion into done_, eventfd
//   loop:   done_ -> session state (QoS 2) -> PUBACK/PUBREC onto the
//           connection the session has now (it may have reconnected)
//
// Nothing is acknowledged from the loop for a message that has not been
// through a writer, and a writer's engine error closes the connection
// without an acknowledgement (the client resends after reconnecting).
#include "server/mqtt/listener.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sodium.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

#include "m2mdb/json.h"
#include "m2mdb/log.h"
#include "server/auth_state.h"
#include "server/mqtt/codec.h"
#include "server/mqtt/ingest.h"

namespace m2mdb::server::mqtt {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t WallNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr uint64_t kWakeId = 1;
// Listening sockets are ids kFirstListenId.. (index in listeners_ added);
// connections start at kFirstConnId.
constexpr uint64_t kFirstListenId = 2;
constexpr uint64_t kFirstConnId = 16;
// A connection whose unsent output passes this is not read until the client
// takes its acknowledgements (a client that sends PINGREQs without reading).
constexpr size_t kMaxPendingOutput = 256 << 10;

// Logins waiting for (or in) a password hash; more are refused with 0x89
// server busy. At ~0.1 s a hash, more would not finish within the CONNECT
// deadline anyway.
constexpr size_t kMaxPendingLogins = 64;
// Threads verifying passwords. UserStore runs one Argon2id at a time (64 MiB
// each); the second thread answers pairs verified in the last minute (its
// cache) meanwhile.
constexpr int kAuthThreads = 2;

// Who a connection authenticated as. Kept by the connection and by each of
// its messages; the writer checks it against the credentials as they are
// *now* (AuthState), so that a token revoked or a grant taken away while the
// connection is open stops its next PUBLISH.
struct Principal {
  enum Kind {
    kAnonymous,  // authentication was off at CONNECT
    kToken,      // an API token as the password
    kUser,       // a user name and its password
  } kind = kAnonymous;
  std::string token_hash;  // kToken: TokenInfo::hash (never the secret)
  std::string token_id;    // kToken: for messages
  std::string user;        // kUser
};

// What HandleConnect decoded, owned: the CONNECT packet's views die with
// the input buffer while a password is verified on an auth thread.
struct PendingConnect {
  uint8_t version = kV311;
  bool clean_start = true;
  uint16_t keep_alive = 0;
  std::string client_id;
  std::string username;
  std::optional<uint32_t> session_expiry_interval;
  std::optional<uint32_t> maximum_packet_size;
  std::optional<uint8_t> request_problem_information;
};

// A password to verify (auth thread) and the answer (loop).
struct LoginJob {
  uint64_t conn_id = 0;
  std::string user;
  std::string password;  // wiped once verified
  std::string peer;      // the client address, for the failed-login limiter
};
struct LoginResult {
  uint64_t conn_id = 0;
  bool ok = false;
  std::string user;
};

// What survives a reconnect: the QoS 2 packet ids whose PUBREC went out
// (waiting for PUBREL) and those being written.
struct Session {
  std::string client_id;
  uint64_t conn_id = 0;  // the connection using it; 0 = none
  std::unordered_set<uint16_t> qos2_received;
  std::unordered_set<uint16_t> qos2_writing;
  bool persistent = false;      // kept after the connection ends
  uint32_t expiry_seconds = 0;  // 5: Session Expiry Interval; 0xFFFFFFFF = never
  int64_t disconnected_ms = 0;
  std::list<std::string>::iterator lru;  // position in Impl::idle_sessions_ while disconnected
  bool in_lru = false;
};

struct Conn {
  uint64_t id = 0;
  int fd = -1;
  std::string in;
  std::string out;
  bool connected = false;  // CONNECT accepted
  uint8_t version = kV311;
  std::shared_ptr<Session> session;
  std::shared_ptr<const Principal> principal;  // set by CONNECT
  std::string username;                        // for rules that stamp it
  uint16_t keep_alive = 0;
  uint32_t client_max_packet = kMaxRemainingLength;
  bool problem_info = true;  // 5: Request Problem Information
  int inflight = 0;          // QoS 1/2 messages queued or being written
  int64_t last_rx_ms = 0;
  int64_t accepted_ms = 0;
  bool closing = false;  // send what is in `out`, then close (Reap)
  int64_t closing_since_ms = 0;
  uint32_t events = 0;  // current epoll interest
  std::string address;  // the client's IP address (bytes), for the per-address bound
  std::string peer;     // the same as text, as HTTP names it (the login limiter's key)
  // CONNECT with a user password, waiting for the auth thread: nothing
  // after the CONNECT is read or handled until then.
  std::unique_ptr<PendingConnect> pending;
  SSL* ssl = nullptr;             // TLS connections (--mqtt-tls)
  bool read_wants_write = false;  // SSL_read needs the socket writable (handshake)
};

struct Job {
  uint64_t conn_id = 0;
  std::shared_ptr<Session> session;
  uint8_t version = kV311;
  uint8_t qos = 0;
  uint16_t packet_id = 0;
  std::string topic;
  std::string payload;
  int64_t arrival_ns = 0;
  std::shared_ptr<const Principal> principal;
  std::string username;
};

struct Completion {
  uint64_t conn_id = 0;
  std::shared_ptr<Session> session;
  uint8_t version = kV311;
  uint8_t qos = 0;
  uint16_t packet_id = 0;
  uint8_t reason = reason::kSuccess;
  std::string reason_string;
  bool fatal = false;  // engine error: no acknowledgement, close
  size_t bytes = 0;
};

}  // namespace

class Listener::Impl {
 public:
  Impl(DB* db, const ListenerOptions& options, std::shared_ptr<AuthState> auth)
      : db_(db), options_(options), auth_(std::move(auth)), dead_letters_(options.dead_letters) {
    if (!dead_letters_ && !options_.dead_letter_path.empty()) {
      dead_letters_ =
          std::make_shared<DeadLetterWriter>(options_.dead_letter_path, options_.dead_letter_max_bytes);
    }
  }

  ~Impl() {
    for (auto& [id, c] : conns_) {
      if (c->ssl != nullptr) SSL_free(c->ssl);
      ::close(c->fd);
    }
    for (const auto& l : listeners_) {
      if (l.fd >= 0) ::close(l.fd);
    }
    if (tls_ != nullptr) SSL_CTX_free(tls_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
  }

  Status Init() {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd_ < 0 || wake_fd_ < 0) return absl::InternalError(absl::StrCat("mqtt: ", strerror(errno)));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeId;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
    if (!options_.tls_cert.empty()) {
      tls_ = SSL_CTX_new(TLS_server_method());
      if (tls_ == nullptr || SSL_CTX_set_min_proto_version(tls_, TLS1_2_VERSION) != 1 ||
          SSL_CTX_use_certificate_chain_file(tls_, options_.tls_cert.c_str()) != 1 ||
          SSL_CTX_use_PrivateKey_file(tls_, options_.tls_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
          SSL_CTX_check_private_key(tls_) != 1) {
        char buf[256];
        ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
        return absl::InvalidArgumentError(absl::StrCat("mqtt: TLS certificate or key: ", buf));
      }
      SSL_CTX_set_mode(tls_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }
    return absl::OkStatus();
  }

  StatusOr<int> Bind(const std::string& host, int port, bool tls) {
    if (tls && tls_ == nullptr) return absl::InvalidArgumentError("mqtt: TLS needs a certificate and key");
    if (listeners_.size() >= kFirstConnId - kFirstListenId)
      return absl::InternalError("mqtt: too many listeners");
    int listen_fd = -1;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const std::string port_s = std::to_string(port);
    if (int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port_s.c_str(), &hints, &res); rc != 0) {
      return absl::InvalidArgumentError(absl::StrCat("mqtt: cannot resolve ", host, ": ", gai_strerror(rc)));
    }
    std::string err = "no address";
    for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
      int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) continue;
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 1024) == 0) {
        listen_fd = fd;
        break;
      }
      err = strerror(errno);
      ::close(fd);
    }
    freeaddrinfo(res);
    if (listen_fd < 0) {
      return absl::UnavailableError(absl::StrCat("mqtt: cannot listen on ", host, ":", port, ": ", err));
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    getsockname(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len);
    const int bound = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                               : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kFirstListenId + listeners_.size();
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd, &ev);
    listeners_.push_back({listen_fd, tls});
    return bound;
  }

  void Run() {
    const int writers = options_.writer_threads > 0 ? options_.writer_threads : 1;
    for (int i = 0; i < writers; i++) writers_.emplace_back([this] { WriterLoop(); });
    for (int i = 0; i < kAuthThreads; i++) auth_threads_.emplace_back([this] { AuthLoop(); });
    std::vector<epoll_event> events(256);
    int64_t next_tick = NowMs() + 250;
    while (true) {
      const bool stopping = stop_.load();
      if (stopping && !listeners_closed_) {
        listeners_closed_ = true;
        for (auto& l : listeners_) {
          epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, l.fd, nullptr);
          ::close(l.fd);
          l.fd = -1;
        }
        for (auto& [id, c] : conns_) UpdateInterest(*c);  // no more packets read
      }
      if (stopping && InflightTotal() == 0) break;
      int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 250);
      for (int i = 0; i < n; i++) {
        const uint64_t id = events[i].data.u64;
        if (id >= kFirstListenId && id < kFirstConnId) {
          if (id - kFirstListenId < listeners_.size()) Accept(listeners_[id - kFirstListenId]);
        } else if (id == kWakeId) {
          uint64_t v;
          (void)!::read(wake_fd_, &v, sizeof(v));
        } else {
          auto it = conns_.find(id);
          if (it == conns_.end()) continue;
          Conn& c = *it->second;
          if (events[i].events & (EPOLLERR | EPOLLHUP)) {
            // Read what is left (a DISCONNECT may be in it) before closing.
            if (!(events[i].events & EPOLLIN)) {
              Close(c, false);
              continue;
            }
          }
          if (events[i].events & EPOLLOUT) Flush(c);
          const bool readable =
              (events[i].events & EPOLLIN) || ((events[i].events & EPOLLOUT) && c.read_wants_write);
          if (conns_.count(id) && readable) Read(c);
        }
      }
      Drain();
      const int64_t now = NowMs();
      if (!to_reap_.empty()) Reap(now);
      if (now >= next_tick) {
        next_tick = now + 250;
        Tick(now);
      }
    }
    // Stop: every queued message is written and acknowledged; now close.
    // Logins still waiting are dropped with their connections.
    {
      std::lock_guard<std::mutex> l(mu_);
      writers_stop_ = true;
    }
    {
      std::lock_guard<std::mutex> l(auth_mu_);
      auth_stop_ = true;
      for (auto& j : auth_queue_) sodium_memzero(j.password.data(), j.password.size());
      auth_queue_.clear();
    }
    cv_.notify_all();
    auth_cv_.notify_all();
    for (auto& t : writers_) t.join();
    writers_.clear();
    for (auto& t : auth_threads_) t.join();
    auth_threads_.clear();
    Drain();
    std::vector<uint64_t> ids;
    for (auto& [id, c] : conns_) ids.push_back(id);
    for (uint64_t id : ids) {
      Conn& c = *conns_[id];
      if (c.connected && c.version == kV5) Send(c, EncodeDisconnect(reason::kServerShuttingDown));
      Flush(c);
      Close(c, false);
    }
  }

  void Stop() {
    stop_ = true;
    Wake();
  }

  ListenerStats Stats() const {
    ListenerStats s;
    s.connections_accepted = stats_.accepted.load();
    s.connections_open = stats_.open.load();
    s.connects_refused = stats_.refused.load();
    s.protocol_errors = stats_.protocol_errors.load();
    s.messages_received = stats_.received.load();
    s.messages_stored = stats_.stored.load();
    s.messages_partial = stats_.partial.load();
    s.messages_rejected = stats_.rejected.load();
    s.points_written = stats_.points.load();
    s.write_failures = stats_.failures.load();
    return s;
  }

 private:
  struct AtomicStats {
    std::atomic<uint64_t> accepted{0}, open{0}, refused{0}, protocol_errors{0}, received{0}, stored{0},
        partial{0}, rejected{0}, points{0}, failures{0};
  };

  void Wake() {
    uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
  }

  int InflightTotal() {
    int n = 0;
    for (auto& [id, c] : conns_) n += c->inflight;
    std::lock_guard<std::mutex> l(mu_);
    return n + static_cast<int>(queue_.size()) + writing_ + static_cast<int>(done_.size());
  }

  struct ListenSocket {
    int fd = -1;
    bool tls = false;
  };

  void Accept(const ListenSocket& l) {
    while (true) {
      sockaddr_storage peer{};
      socklen_t peer_len = sizeof(peer);
      int fd = accept4(l.fd, reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) LogWarning("mqtt: accept: ", strerror(errno));
        return;
      }
      std::string address;
      char text[INET6_ADDRSTRLEN] = "";
      if (peer.ss_family == AF_INET) {
        const auto* a = reinterpret_cast<const sockaddr_in*>(&peer);
        address.assign(reinterpret_cast<const char*>(&a->sin_addr), sizeof(a->sin_addr));
        inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text));
      } else if (peer.ss_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(&peer);
        address.assign(reinterpret_cast<const char*>(&a->sin6_addr), sizeof(a->sin6_addr));
        inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof(text));
      }
      int& per_address = conns_per_address_[address];
      if (options_.max_connections_per_address > 0 && per_address >= options_.max_connections_per_address) {
        stats_.refused++;
        LogRateLimited(absl::StrCat("mqtt: connection refused: more than ",
                                    options_.max_connections_per_address,
                                    " from one address (--http-max-conns-per-ip)"));
        ::close(fd);
        continue;
      }
      per_address++;
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      auto c = std::make_unique<Conn>();
      c->address = std::move(address);
      c->peer = text;
      if (l.tls) {
        c->ssl = SSL_new(tls_);
        if (c->ssl == nullptr || SSL_set_fd(c->ssl, fd) != 1) {
          if (c->ssl != nullptr) SSL_free(c->ssl);
          if (--conns_per_address_[c->address] <= 0) conns_per_address_.erase(c->address);
          ::close(fd);
          continue;
        }
        SSL_set_accept_state(c->ssl);
      }
      c->id = next_id_++;
      c->fd = fd;
      c->accepted_ms = c->last_rx_ms = NowMs();
      Conn& ref = *c;
      conns_.emplace(c->id, std::move(c));
      stats_.accepted++;
      stats_.open++;
      UpdateInterest(ref, true);
    }
  }

  // Chooses the epoll interest: read unless back-pressure or closing; write
  // while output waits.
  void UpdateInterest(Conn& c, bool add = false) {
    uint32_t want = 0;
    if (!c.closing && !stop_.load() && !queue_full_ && c.inflight < options_.receive_maximum &&
        c.out.size() < kMaxPendingOutput && !c.pending) {
      want |= EPOLLIN;
    }
    if (!c.out.empty() || c.read_wants_write) want |= EPOLLOUT;
    if (!add && want == c.events) return;
    epoll_event ev{};
    ev.events = want;
    ev.data.u64 = c.id;
    epoll_ctl(epoll_fd_, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd, &ev);
    c.events = want;
  }

  void Read(Conn& c) {
    char buf[16384];
    while (true) {
      ssize_t n;
      if (c.ssl != nullptr) {
        c.read_wants_write = false;
        ERR_clear_error();
        int r = SSL_read(c.ssl, buf, sizeof(buf));
        if (r <= 0) {
          const int err = SSL_get_error(c.ssl, r);
          if (err == SSL_ERROR_WANT_READ) return;
          if (err == SSL_ERROR_WANT_WRITE) {
            c.read_wants_write = true;
            UpdateInterest(c);
            return;
          }
          Close(c, false);  // close_notify, a failed handshake, or an error
          return;
        }
        n = r;
        c.in.append(buf, static_cast<size_t>(n));
        c.last_rx_ms = NowMs();
        if (!Process(c)) return;
        if (!(c.events & EPOLLIN)) return;  // paused; SSL may hold more (see Resume)
        continue;
      }
      n = ::recv(c.fd, buf, sizeof(buf), 0);
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
        c.last_rx_ms = NowMs();
        // Parse as we go so one connection cannot make us hold more than a
        // packet plus a read's worth.
        if (!Process(c)) return;
        if (!(c.events & EPOLLIN)) return;  // paused by back-pressure
        if (static_cast<size_t>(n) < sizeof(buf)) return;
        continue;
      }
      if (n == 0) {
        Close(c, false);
        return;
      }
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) Close(c, false);
      return;
    }
  }

  // Handles every complete packet in c.in while the connection may take
  // more; returns false once the connection is closed.
  bool Process(Conn& c) {
    size_t off = 0;
    bool alive = true;
    while (alive && !c.closing && !stop_.load() && c.inflight < options_.receive_maximum && !queue_full_ &&
           !c.pending) {
      FixedHeader h;
      std::string_view data(c.in);
      data.remove_prefix(off);
      FrameStatus st = ParseFixedHeader(data, options_.max_packet_bytes, &h);
      if (st == FrameStatus::kIncomplete) break;
      if (st == FrameStatus::kMalformed) {
        alive = ProtocolFailure(c, reason::kMalformed, "malformed fixed header");
        break;
      }
      if (st == FrameStatus::kTooLarge) {
        alive = ProtocolFailure(c, reason::kPacketTooLarge,
                                absl::StrCat("packet of ", h.total(), " bytes is over the limit of ",
                                             options_.max_packet_bytes, " (--mqtt-max-packet-bytes)"));
        break;
      }
      std::string_view body = data.substr(h.header_bytes, h.remaining);
      alive = Handle(c, h, body);
      // The CONNECT's password is not left behind in the input buffer's
      // memory (a core dump, a later reuse of the heap block).
      if (alive && h.type == PacketType::kConnect) sodium_memzero(c.in.data() + off, h.total());
      off += h.total();
    }
    if (!alive) return false;
    c.in.erase(0, off);
    UpdateInterest(c);
    return true;
  }

  // Closes for a protocol violation: MQTT 5 gets a DISCONNECT (or CONNACK
  // before CONNECT was accepted) with the reason. Returns false.
  bool ProtocolFailure(Conn& c, uint8_t code, const std::string& why) {
    stats_.protocol_errors++;
    LogRateLimited(absl::StrCat("mqtt: closing connection", c.session ? " of client " : "",
                                c.session ? c.session->client_id : "", ": ", why));
    if (c.connected && c.version == kV5) Send(c, EncodeDisconnect(code, c.problem_info ? why : ""));
    Flush(c);
    Close(c, false);
    return false;
  }

  bool Handle(Conn& c, const FixedHeader& h, std::string_view body) {
    if (!c.connected) {
      if (h.type != PacketType::kConnect)
        return ProtocolFailure(c, reason::kProtocolError, "first packet is not CONNECT");
      return HandleConnect(c, h, body);
    }
    switch (h.type) {
      case PacketType::kPublish:
        return HandlePublish(c, h, body);
      case PacketType::kPubrel: {
        AckPacket a;
        if (CodecError e = DecodeAck(c.version, h.type, h.flags, body, &a); !e.ok()) {
          return ProtocolFailure(c, e.reason, e.message);
        }
        uint8_t code = reason::kSuccess;
        if (c.session->qos2_received.erase(a.packet_id) == 0) code = reason::kPacketIdNotFound;
        Send(c, EncodeAck(c.version, PacketType::kPubcomp, a.packet_id, code));
        return true;
      }
      case PacketType::kPuback:
      case PacketType::kPubrec:
      case PacketType::kPubcomp: {
        // We never publish to clients: nothing awaits these.
        AckPacket a;
        if (CodecError e = DecodeAck(c.version, h.type, h.flags, body, &a); !e.ok()) {
          return ProtocolFailure(c, e.reason, e.message);
        }
        return ProtocolFailure(c, reason::kProtocolError,
                               "acknowledgement of a message the server never sent");
      }
      case PacketType::kSubscribe: {
        SubscribePacket s;
        if (CodecError e = DecodeSubscribe(c.version, h.flags, body, &s); !e.ok()) {
          return ProtocolFailure(c, e.reason, e.message);
        }
        std::vector<uint8_t> codes;
        for (auto f : s.filters) {
          codes.push_back(c.version != kV5         ? 0x80
                          : !IsValidTopicFilter(f) ? reason::kTopicFilterInvalid
                                                   : reason::kNotAuthorized);
        }
        std::string ack = EncodeSuback(
            c.version, s.packet_id, codes,
            c.problem_info ? "m2mdb is a sink: it stores publishes and serves no subscriptions" : "");
        if (ack.size() > c.client_max_packet) ack = EncodeSuback(c.version, s.packet_id, codes);
        Send(c, ack);
        return true;
      }
      case PacketType::kUnsubscribe: {
        SubscribePacket s;
        if (CodecError e = DecodeUnsubscribe(c.version, h.flags, body, &s); !e.ok()) {
          return ProtocolFailure(c, e.reason, e.message);
        }
        Send(c, EncodeUnsuback(c.version, s.packet_id, std::vector<uint8_t>(s.filters.size(), 0x11)));
        return true;
      }
      case PacketType::kPingreq:
        if (CodecError e = DecodeEmpty(h.type, h.flags, body); !e.ok())
          return ProtocolFailure(c, e.reason, e.message);
        Send(c, EncodePingresp());
        return true;
      case PacketType::kDisconnect: {
        DisconnectPacket d;
        if (CodecError e = DecodeDisconnect(c.version, h.flags, body, &d); !e.ok()) {
          return ProtocolFailure(c, e.reason, e.message);
        }
        if (d.properties.session_expiry_interval) {
          // §3.14.2.2.2: raising it from 0 at DISCONNECT is a protocol error.
          if (c.session->expiry_seconds == 0 && *d.properties.session_expiry_interval != 0 &&
              c.version == kV5 && !c.session->persistent) {
            return ProtocolFailure(c, reason::kProtocolError, "session expiry raised from 0 at DISCONNECT");
          }
          c.session->expiry_seconds = *d.properties.session_expiry_interval;
          c.session->persistent = c.session->expiry_seconds != 0;
        }
        Close(c, true);
        return false;
      }
      case PacketType::kConnect:
        return ProtocolFailure(c, reason::kProtocolError, "second CONNECT on a connection");
      default:
        return ProtocolFailure(
            c, reason::kProtocolError,
            absl::StrCat("packet type ", static_cast<int>(h.type), " is not sent by clients"));
    }
  }

  bool RefuseConnect(Conn& c, uint8_t version, uint8_t code, const std::string& why) {
    stats_.refused++;
    LogRateLimited(absl::StrCat("mqtt: CONNECT from ", c.peer, " refused: ", why));
    ConnackProperties p;
    p.announce_no_subscriptions = false;
    if (version == kV5) p.reason_string = why;
    Send(c, EncodeConnack(version, false, code, p));
    Flush(c);
    Close(c, false);
    return false;
  }

  bool HandleConnect(Conn& c, const FixedHeader& h, std::string_view body) {
    ConnectPacket p;
    CodecError e = DecodeConnect(h.flags, body, &p);
    if (e.reason == reason::kUnsupportedProtocolVersion) {
      return RefuseConnect(c, p.version == kV5 ? kV5 : kV311, e.reason, e.message);
    }
    if (!e.ok()) {
      // The version is known once the protocol level was read: answer in it.
      if (p.version == kV5) return RefuseConnect(c, kV5, e.reason, e.message);
      stats_.protocol_errors++;
      LogRateLimited(absl::StrCat("mqtt: bad CONNECT: ", e.message));
      Close(c, false);
      return false;
    }
    c.version = p.version;
    if (p.properties.authentication_method) {
      return RefuseConnect(c, c.version, reason::kBadAuthenticationMethod,
                           "extended authentication is not supported; send a user name and password or a "
                           "token as password");
    }
    if (p.client_id.empty() && c.version == kV311 && !p.clean_start) {
      return RefuseConnect(c, c.version, reason::kClientIdNotValid,
                           "an empty client identifier needs a clean session");
    }
    PendingConnect pc;
    pc.version = p.version;
    pc.clean_start = p.clean_start;
    pc.keep_alive = p.keep_alive;
    pc.client_id = std::string(p.client_id);
    if (p.username) pc.username = std::string(*p.username);
    pc.session_expiry_interval = p.properties.session_expiry_interval;
    pc.maximum_packet_size = p.properties.maximum_packet_size;
    pc.request_problem_information = p.properties.request_problem_information;
    // Protected mode as for HTTP, decided now: on from the start, or since
    // the first token or admin user was created while the server runs.
    if (!auth_->Active()) return FinishConnect(c, pc, anonymous_);
    // A token as the password first: one SHA-256, checked right here.
    if (p.password) {
      std::shared_ptr<const TokenStore> tokens = auth_->Tokens();
      if (const TokenInfo* t = tokens->Authenticate(*p.password); t != nullptr) {
        if (!t->may_write()) {
          return RefuseConnect(c, c.version, reason::kNotAuthorized,
                               absl::StrCat("token \"", t->id, "\" has no write scope"));
        }
        auto who = std::make_shared<Principal>();
        who->kind = Principal::kToken;
        who->token_hash = t->hash;
        who->token_id = t->id;
        return FinishConnect(c, pc, std::move(who));
      }
    }
    if (!p.password || pc.username.empty()) {
      return RefuseConnect(c, c.version, reason::kBadUserNameOrPassword,
                           p.password ? "the password is not a valid API token (no user name given)"
                                      : "this server requires a user name and password, or an API token "
                                        "as the password");
    }
    // Guessing is refused per address before any hashing, sharing HTTP's
    // limiter: a hash costs ~0.1 s and 64 MiB.
    if (int64_t wait = auth_->login_limiter().RetryAfter(c.peer); wait > 0) {
      return RefuseConnect(
          c, c.version, reason::kConnectionRateExceeded,
          absl::StrCat("too many failed authentication attempts from this address; retry in ", wait, " s"));
    }
    // Argon2id takes tens of milliseconds: an auth thread verifies it while
    // this loop serves everyone else; the CONNACK follows (DrainLogins).
    {
      std::lock_guard<std::mutex> l(auth_mu_);
      if (auth_queue_.size() >= kMaxPendingLogins) {
        return RefuseConnect(c, c.version, reason::kServerBusy,
                             "too many logins waiting for their password check; retry later");
      }
      auth_queue_.push_back({c.id, pc.username, std::string(*p.password), c.peer});
    }
    auth_cv_.notify_one();
    c.pending = std::make_unique<PendingConnect>(std::move(pc));
    return true;
  }

  // Auth thread: verifies one password at a time (UserStore::Authenticate,
  // which caches verified pairs for a minute) and counts failures against
  // the address, whether or not the client is still there.
  void AuthLoop() {
    while (true) {
      LoginJob j;
      {
        std::unique_lock<std::mutex> l(auth_mu_);
        auth_cv_.wait(l, [&] { return auth_stop_ || !auth_queue_.empty(); });
        if (auth_stop_) return;
        j = std::move(auth_queue_.front());
        auth_queue_.pop_front();
      }
      if (options_.before_login_for_test) options_.before_login_for_test();
      LoginResult r;
      r.conn_id = j.conn_id;
      r.ok = auth_->users()->Authenticate(j.user, j.password).has_value();
      sodium_memzero(j.password.data(), j.password.size());
      if (!r.ok) auth_->login_limiter().Failed(j.peer);
      r.user = std::move(j.user);
      {
        std::lock_guard<std::mutex> l(auth_mu_);
        auth_done_.push_back(std::move(r));
      }
      Wake();
    }
  }

  // Loop: answers the CONNECTs whose password was verified, then handles
  // what their clients sent after the CONNECT.
  void DrainLogins() {
    std::deque<LoginResult> done;
    {
      std::lock_guard<std::mutex> l(auth_mu_);
      done.swap(auth_done_);
    }
    for (auto& r : done) {
      auto it = conns_.find(r.conn_id);
      if (it == conns_.end() || it->second->closing || !it->second->pending) continue;
      Conn& c = *it->second;
      std::unique_ptr<PendingConnect> pc = std::move(c.pending);
      if (!r.ok) {
        // The user name is not logged (it may be a password typed into
        // the wrong field), as over HTTP.
        RefuseConnect(c, c.version, reason::kBadUserNameOrPassword, "wrong user name or password");
        continue;
      }
      auto who = std::make_shared<Principal>();
      who->kind = Principal::kUser;
      who->user = std::move(r.user);
      if (!FinishConnect(c, *pc, std::move(who))) continue;
      if (!c.in.empty() && !Process(c)) continue;
      UpdateInterest(c);
    }
  }

  // Accepts a CONNECT whose credentials were checked: the session, then
  // the CONNACK.
  bool FinishConnect(Conn& c, const PendingConnect& p, std::shared_ptr<const Principal> who) {
    std::string client_id = p.client_id;
    std::optional<std::string> assigned;
    if (client_id.empty()) {
      client_id = absl::StrCat("m2mdb-auto-", c.id);
      assigned = client_id;
    }
    c.principal = std::move(who);
    c.keep_alive = p.keep_alive;
    c.username = p.username;
    if (p.maximum_packet_size) c.client_max_packet = *p.maximum_packet_size;
    if (p.request_problem_information) c.problem_info = *p.request_problem_information != 0;

    // Session: taken over from another connection, resumed, or new.
    std::shared_ptr<Session> s;
    auto it = sessions_.find(client_id);
    if (it != sessions_.end()) {
      s = it->second;
      if (s->conn_id != 0) {
        auto old = conns_.find(s->conn_id);
        if (old != conns_.end()) {
          Conn& o = *old->second;
          if (o.version == kV5) Send(o, EncodeDisconnect(reason::kSessionTakenOver));
          Flush(o);
          o.session.reset();  // its end must not touch the session
          Close(o, false);
        }
      }
      if (s->in_lru) {
        idle_sessions_.erase(s->lru);
        s->in_lru = false;
      }
    }
    bool present = false;
    if (s && !p.clean_start) {
      present = true;
    } else {
      if (s) sessions_.erase(client_id);
      s = std::make_shared<Session>();
      s->client_id = client_id;
      sessions_[client_id] = s;
    }
    if (c.version == kV5) {
      s->expiry_seconds = p.session_expiry_interval.value_or(0);
      s->persistent = s->expiry_seconds != 0;
    } else {
      s->persistent = !p.clean_start;
      s->expiry_seconds = s->persistent ? 0xFFFFFFFFu : 0;
    }
    s->conn_id = c.id;
    c.session = s;
    c.connected = true;

    ConnackProperties cp;
    cp.receive_maximum = options_.receive_maximum;
    cp.maximum_packet_size = options_.max_packet_bytes;
    cp.assigned_client_id = assigned;
    Send(c, EncodeConnack(c.version, present, reason::kSuccess, cp));
    return true;
  }

  bool HandlePublish(Conn& c, const FixedHeader& h, std::string_view body) {
    PublishPacket p;
    if (CodecError e = DecodePublish(c.version, h.flags, body, &p); !e.ok()) {
      return ProtocolFailure(c, e.reason, e.message);
    }
    stats_.received++;
    Session& s = *c.session;
    if (p.qos == 2) {
      // Exactly once: a resend of a message already stored (PUBREC lost, or
      // sent before a reconnect) is acknowledged without a second write.
      if (s.qos2_received.count(p.packet_id)) {
        Send(c, EncodeAck(c.version, PacketType::kPubrec, p.packet_id));
        return true;
      }
      if (s.qos2_writing.count(p.packet_id)) return true;  // its PUBREC follows the write
      // A QoS 2 message counts against Receive Maximum until its PUBCOMP
      // (§4.9): a client that never sends PUBREL cannot grow the session
      // without bound.
      if (s.qos2_received.size() + s.qos2_writing.size() >= options_.receive_maximum) {
        return ProtocolFailure(c, reason::kReceiveMaximumExceeded,
                               absl::StrCat("more than ", options_.receive_maximum,
                                            " QoS 2 messages without PUBREL (--mqtt-receive-maximum)"));
      }
      s.qos2_writing.insert(p.packet_id);
    }
    Job j;
    j.conn_id = c.id;
    j.session = c.session;
    j.version = c.version;
    j.qos = p.qos;
    j.packet_id = p.packet_id;
    j.topic = std::string(p.topic);
    j.payload = std::string(p.payload);
    j.arrival_ns = WallNs();
    j.principal = c.principal;
    if (options_.rules) j.username = c.username;
    if (p.qos > 0) c.inflight++;
    Enqueue(std::move(j));
    return true;
  }

  void Enqueue(Job j) {
    {
      std::lock_guard<std::mutex> l(mu_);
      queued_bytes_ += j.payload.size();
      if (queued_bytes_ >= options_.max_queued_bytes) queue_full_ = true;
      queue_.push_back(std::move(j));
    }
    cv_.notify_one();
  }

  // Writer thread: one message per engine call; concurrent calls share the
  // WAL group commit. A message's lines without a timestamp get its arrival
  // time, so two messages of one series never collide on a default time.
  void WriterLoop() {
    while (true) {
      Job j;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return writers_stop_ || !queue_.empty(); });
        if (queue_.empty()) return;
        j = std::move(queue_.front());
        queue_.pop_front();
        writing_++;
      }
      Completion d = Write(j);
      bool first;
      {
        std::lock_guard<std::mutex> l(mu_);
        writing_--;
        first = done_.empty();
        done_.push_back(std::move(d));
      }
      // Only the completion that finds done_ empty wakes the loop: the loop
      // drains done_ whole after every wake-up, so the others ride along
      // (a group commit finishes many writes at once; one eventfd write and
      // one loop wake-up instead of one per message).
      if (first) Wake();
    }
  }

  Completion Write(const Job& j) {
    Completion d;
    d.conn_id = j.conn_id;
    d.session = j.session;
    d.version = j.version;
    d.qos = j.qos;
    d.packet_id = j.packet_id;
    d.bytes = j.payload.size();
    IngestRequest req;
    req.topic = j.topic;
    req.payload = j.payload;
    req.identity = {j.username, j.session ? std::string_view(j.session->client_id) : std::string_view()};
    req.arrival_ns = j.arrival_ns;
    req.max_line_bytes = options_.max_line_bytes;
    req.rules = options_.rules.get();
    req.refuse = options_.refuse_writes;
    req.authorize = [&](const std::string& database) -> std::string {
      std::string why = Authorize(*j.principal, database);
      if (why.empty() && options_.before_write_for_test) options_.before_write_for_test();
      return why;
    };
    IngestOutcome o = IngestMessage(db_, req);
    stats_.points += o.points;
    switch (o.kind) {
      case IngestOutcome::kStored:
        stats_.stored++;
        break;
      case IngestOutcome::kRejected:
        stats_.rejected++;
        LogRateLimited(absl::StrCat("mqtt: payload on topic \"", j.topic, "\" rejected: ", o.why));
        DeadLetter(j, o.reason, o.why, {});
        d.reason = o.reason;
        d.reason_string = std::move(o.why);
        break;
      case IngestOutcome::kPartial:
        // The good lines are stored (as over HTTP): acknowledged as a
        // success, with the rejected lines named in the reason string.
        stats_.partial++;
        LogRateLimited(absl::StrCat("mqtt: payload on topic \"", j.topic, "\" partly rejected: ", o.why));
        DeadLetter(j, reason::kSuccess, o.why, o.rejected_lines);
        d.reason_string = absl::StrCat("partial write: ", o.why);
        break;
      case IngestOutcome::kFailed:
        stats_.failures++;
        LogRateLimited(absl::StrCat("mqtt: write to ", o.database, " failed (not acknowledged): ", o.why));
        d.fatal = true;
        break;
    }
    return d;
  }

  // Why `who` may not write to `database` now, or "" if it may. Asked per
  // message against the current credentials (a token lookup or a grant
  // lookup, each under a short lock), so that a change made while the
  // server runs reaches connections already open.
  std::string Authorize(const Principal& who, const std::string& database) const {
    switch (who.kind) {
      case Principal::kAnonymous:
        if (auth_->Active()) {
          return "authentication was switched on after this connection was made: reconnect with "
                 "credentials";
        }
        return {};
      case Principal::kToken: {
        std::shared_ptr<const TokenStore> tokens = auth_->Tokens();
        const TokenInfo* t = tokens->FindByHash(who.token_hash);
        if (t == nullptr) return absl::StrCat("token \"", who.token_id, "\" was revoked");
        if (!t->may_write() || !t->CoversDatabase(database)) {
          return absl::StrCat("token \"", t->id, "\" is not authorized to write to database \"", database,
                              "\"");
        }
        return {};
      }
      case Principal::kUser:
        switch (auth_->users()->CheckWrite(who.user, database)) {
          case UserStore::WriteCheck::kAllowed:
            return {};
          case UserStore::WriteCheck::kNoSuchUser:
            return absl::StrCat("user \"", who.user, "\" was dropped");
          case UserStore::WriteCheck::kNotGranted:
            return absl::StrCat("user \"", who.user, "\" is not authorized to write to database \"", database,
                                "\"");
        }
    }
    return "unknown principal";
  }

  // Appends one JSON line for a rejected message (lines: the rejected line
  // numbers of a partial write; empty = the whole payload was rejected).
  void DeadLetter(const Job& j, uint8_t code, const std::string& why, const std::vector<int>& lines) {
    if (!dead_letters_) return;
    DeadLetterWriter::Record r;
    r.time_ns = j.arrival_ns;
    r.client_id = j.session ? std::string_view(j.session->client_id) : std::string_view();
    r.topic = j.topic;
    r.qos = j.qos;
    r.reason_code = code;
    r.reason = why;
    r.rejected_lines = &lines;
    r.payload = j.payload;
    dead_letters_->Write(r);
  }

  // Takes writer completions: acknowledgements go to the connection the
  // session has now.
  void Drain() {
    DrainLogins();
    std::deque<Completion> done;
    bool resume_all = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      done.swap(done_);
      for (const auto& d : done) queued_bytes_ -= d.bytes;
      if (queue_full_ && queued_bytes_ < options_.max_queued_bytes / 2) {
        queue_full_ = false;
        resume_all = true;
      }
    }
    for (auto& d : done) {
      Session& s = *d.session;
      auto it = conns_.find(d.conn_id);
      Conn* origin = it == conns_.end() ? nullptr : it->second.get();
      if (origin != nullptr && d.qos > 0) origin->inflight--;
      if (d.fatal) {
        if (d.qos == 2) s.qos2_writing.erase(d.packet_id);
        if (origin != nullptr && !origin->closing) {
          if (origin->connected && origin->version == kV5) {
            Send(*origin, EncodeDisconnect(reason::kUnspecified, "the database could not store the message"));
          }
          MarkClosing(*origin);
          Flush(*origin);
        }
        continue;
      }
      if (d.qos == 0) continue;
      // 3.1.1 has no negative acknowledgement: a rejected message is
      // acknowledged so the device does not resend it forever.
      const uint8_t code = d.version == kV5 ? d.reason : reason::kSuccess;
      if (d.qos == 2) {
        s.qos2_writing.erase(d.packet_id);
        // A PUBREC with a failure code ends the exchange (no PUBREL follows).
        if (code < 0x80) s.qos2_received.insert(d.packet_id);
      }
      // A PUBACK goes back on the connection that sent the message (after a
      // reconnect the client resends it and gets the new one acknowledged);
      // a PUBREC goes to the session's connection now, whose resend of the
      // same id waits for this write (qos2_writing).
      auto cur = conns_.find(d.qos == 1 ? d.conn_id : s.conn_id);
      if (cur == conns_.end() || cur->second->session.get() != &s || cur->second->closing) continue;
      Conn& c = *cur->second;
      std::string_view why = c.problem_info ? std::string_view(d.reason_string) : std::string_view();
      std::string ack = EncodeAck(c.version, d.qos == 1 ? PacketType::kPuback : PacketType::kPubrec,
                                  d.packet_id, code, why);
      // Never send more than the client's Maximum Packet Size: drop the
      // reason string first (§3.4.2.2.2).
      if (ack.size() > c.client_max_packet) {
        ack = EncodeAck(c.version, d.qos == 1 ? PacketType::kPuback : PacketType::kPubrec, d.packet_id, code);
      }
      Send(c, ack);
    }
    // Connections paused for their window (or all, for the queue) may go on;
    // bytes they already hold are parsed now.
    std::vector<uint64_t> ids;
    if (resume_all) {
      for (auto& [id, c] : conns_) ids.push_back(id);
    } else {
      for (auto& d : done) {
        ids.push_back(d.conn_id);
        if (d.session) ids.push_back(d.session->conn_id);
      }
    }
    for (uint64_t id : ids) {
      auto it = conns_.find(id);
      if (it == conns_.end()) continue;
      Conn& c = *it->second;
      if (c.closing) continue;
      if (!c.in.empty() && !Process(c)) continue;
      UpdateInterest(c);
      // Bytes TLS already took off the socket raise no epoll event.
      if (c.ssl != nullptr && (c.events & EPOLLIN) && SSL_has_pending(c.ssl)) Read(c);
    }
  }

  void Send(Conn& c, const std::string& bytes) {
    c.out += bytes;
    Flush(c);
  }

  void Flush(Conn& c) {
    while (!c.out.empty()) {
      if (c.ssl != nullptr) {
        ERR_clear_error();
        int w = SSL_write(c.ssl, c.out.data(), static_cast<int>(std::min<size_t>(c.out.size(), 1 << 30)));
        if (w > 0) {
          c.out.erase(0, static_cast<size_t>(w));
          continue;
        }
        const int err = SSL_get_error(c.ssl, w);
        if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) break;
        c.out.clear();
        MarkClosing(c);
        break;
      }
      ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (n > 0) {
        c.out.erase(0, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      // The peer is gone: drop what it will never read.
      c.out.clear();
      MarkClosing(c);
      break;
    }
    UpdateInterest(c);
  }

  // Flush never closes (callers hold references); a connection marked here
  // is closed by Reap, from the loop, once its output is out.
  void MarkClosing(Conn& c) {
    if (!c.closing) {
      c.closing = true;
      c.closing_since_ms = NowMs();
      to_reap_.push_back(c.id);
    }
  }

  void Reap(int64_t now) {
    std::vector<uint64_t> keep;
    for (uint64_t id : to_reap_) {
      auto it = conns_.find(id);
      if (it == conns_.end()) continue;
      Conn& c = *it->second;
      if (c.out.empty() || now - c.closing_since_ms > 5000) {
        Close(c, false);
      } else {
        keep.push_back(id);
      }
    }
    to_reap_.swap(keep);
  }

  // Ends a connection. `clean`: a DISCONNECT was received (no will; the
  // session follows its expiry either way).
  void Close(Conn& c, bool clean) {
    (void)clean;
    const uint64_t id = c.id;
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
    if (c.ssl != nullptr) {
      SSL_free(c.ssl);
      c.ssl = nullptr;
    }
    ::close(c.fd);
    if (c.session && c.session->conn_id == id) {
      std::shared_ptr<Session> s = c.session;
      s->conn_id = 0;
      if (!s->persistent) {
        sessions_.erase(s->client_id);
      } else {
        s->disconnected_ms = NowMs();
        idle_sessions_.push_back(s->client_id);
        s->lru = std::prev(idle_sessions_.end());
        s->in_lru = true;
        while (idle_sessions_.size() > options_.max_sessions) {
          sessions_.erase(idle_sessions_.front());
          idle_sessions_.pop_front();
        }
      }
    }
    if (auto it = conns_per_address_.find(c.address); it != conns_per_address_.end() && --it->second <= 0) {
      conns_per_address_.erase(it);
    }
    stats_.open--;
    conns_.erase(id);  // c is gone from here on
  }

  // Keep-alive (1.5 x the client's interval, §3.1.2.10), the CONNECT
  // deadline, and session expiry.
  void Tick(int64_t now) {
    std::vector<uint64_t> expired;
    for (auto& [id, c] : conns_) {
      if (!c->connected) {
        if (now - c->accepted_ms > int64_t{options_.connect_timeout_seconds} * 1000) expired.push_back(id);
        continue;
      }
      // A connection we stopped reading is not the client's silence.
      if (!(c->events & EPOLLIN)) {
        c->last_rx_ms = now;
        continue;
      }
      if (c->keep_alive != 0 && now - c->last_rx_ms > int64_t{c->keep_alive} * 1500) expired.push_back(id);
    }
    for (uint64_t id : expired) {
      auto it = conns_.find(id);
      if (it == conns_.end()) continue;
      Conn& c = *it->second;
      if (c.connected && c.version == kV5) Send(c, EncodeDisconnect(reason::kKeepAliveTimeout));
      Close(c, false);
    }
    // Idle sessions are in disconnect order; expiry intervals differ, so
    // look at all of them once a second.
    if (now - last_expiry_scan_ms_ >= 1000) {
      last_expiry_scan_ms_ = now;
      for (auto it = idle_sessions_.begin(); it != idle_sessions_.end();) {
        auto sit = sessions_.find(*it);
        if (sit == sessions_.end()) {
          it = idle_sessions_.erase(it);
          continue;
        }
        Session& s = *sit->second;
        if (s.conn_id != 0 || !s.in_lru || s.lru != it) {  // resumed meanwhile: not idle
          if (s.in_lru && s.lru == it) s.in_lru = false;
          it = idle_sessions_.erase(it);
          continue;
        }
        if (s.expiry_seconds != 0xFFFFFFFFu && now - s.disconnected_ms > int64_t{s.expiry_seconds} * 1000) {
          sessions_.erase(sit);
          it = idle_sessions_.erase(it);
        } else {
          ++it;
        }
      }
    }
  }

  void LogRateLimited(const std::string& line) { log_.Warn(line); }

  DB* db_;
  const ListenerOptions options_;
  const std::shared_ptr<AuthState> auth_;
  const std::shared_ptr<const Principal> anonymous_ = std::make_shared<Principal>();
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> stop_{false};
  uint64_t next_id_ = kFirstConnId;
  std::vector<ListenSocket> listeners_;
  bool listeners_closed_ = false;
  SSL_CTX* tls_ = nullptr;
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
  std::unordered_map<std::string, std::shared_ptr<Session>> sessions_;
  std::unordered_map<std::string, int> conns_per_address_;
  std::list<std::string> idle_sessions_;  // persistent sessions without a connection, oldest first
  int64_t last_expiry_scan_ms_ = 0;
  std::vector<uint64_t> to_reap_;
  bool queue_full_ = false;  // read by the loop; set under mu_ by Enqueue (loop thread) too

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  std::deque<Completion> done_;
  uint64_t queued_bytes_ = 0;
  int writing_ = 0;
  bool writers_stop_ = false;
  std::vector<std::thread> writers_;

  AtomicStats stats_;
  RateLimitedLog log_;
  std::shared_ptr<DeadLetterWriter> dead_letters_;  // null: off

  // Password checks (AuthLoop).
  std::mutex auth_mu_;
  std::condition_variable auth_cv_;
  std::deque<LoginJob> auth_queue_;    // guarded by auth_mu_
  std::deque<LoginResult> auth_done_;  // guarded by auth_mu_
  bool auth_stop_ = false;             // guarded by auth_mu_
  std::vector<std::thread> auth_threads_;
};

std::string RenderMetrics(const ListenerStats& s) {
  std::string out;
  auto metric = [&](const char* type, const char* name, const char* help, uint64_t v) {
    absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", name, " ", v, "\n");
  };
  metric("counter", "m2mdb_mqtt_connections_total", "MQTT connections accepted.", s.connections_accepted);
  metric("gauge", "m2mdb_mqtt_connections", "MQTT connections open.", s.connections_open);
  metric("counter", "m2mdb_mqtt_connects_refused_total",
         "MQTT CONNECTs refused (credentials, protocol version, client identifier).", s.connects_refused);
  metric("counter", "m2mdb_mqtt_protocol_errors_total",
         "MQTT connections closed for a malformed or forbidden packet.", s.protocol_errors);
  metric("counter", "m2mdb_mqtt_messages_received_total", "MQTT PUBLISH packets received.",
         s.messages_received);
  metric("counter", "m2mdb_mqtt_messages_stored_total", "MQTT messages stored whole.", s.messages_stored);
  metric("counter", "m2mdb_mqtt_messages_partial_total",
         "MQTT messages with some lines stored and some rejected.", s.messages_partial);
  metric("counter", "m2mdb_mqtt_messages_rejected_total",
         "MQTT messages of which nothing was stored (payload, database, permission).", s.messages_rejected);
  metric("counter", "m2mdb_mqtt_points_written_total", "Points written from MQTT messages.",
         s.points_written);
  metric("counter", "m2mdb_mqtt_write_failures_total",
         "MQTT messages the engine failed to write (not acknowledged).", s.write_failures);
  return out;
}

Listener::Listener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Listener::~Listener() = default;

StatusOr<std::unique_ptr<Listener>> Listener::Create(DB* db, const ListenerOptions& options,
                                                     TokenStore tokens) {
  ASSIGN_OR_RETURN(std::shared_ptr<AuthState> auth,
                   AuthState::Create(db, std::move(tokens), options.auth_required));
  return Create(db, options, std::move(auth));
}

StatusOr<std::unique_ptr<Listener>> Listener::Create(DB* db, const ListenerOptions& options,
                                                     std::shared_ptr<AuthState> auth) {
  auto impl = std::make_unique<Impl>(db, options, std::move(auth));
  if (Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<Listener>(new Listener(std::move(impl)));
}

StatusOr<int> Listener::Bind(const std::string& host, int port, bool tls) {
  return impl_->Bind(host, port, tls);
}
void Listener::Run() { impl_->Run(); }
void Listener::Stop() { impl_->Stop(); }
ListenerStats Listener::Stats() const { return impl_->Stats(); }

}  // namespace m2mdb::server::mqtt
