// The MQTT listener in process, spoken to over loopback sockets with the
// codec's client encoders.
#include "server/mqtt/listener.h"

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

#include "server/mqtt/codec.h"
#include "server/users.h"
#include "tests/support/test_util.h"

namespace m2mdb::server::mqtt {
namespace {

class MqttListener : public ::testing::Test {
 protected:
  void Start(ListenerOptions lo = {}, TokenStore tokens = {}) {
    Options o;
    o.data_dir = dir_.path();
    auto db = DB::Open(o);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->CreateDatabase({.name = "t"}).ok());
    if (lo.auth_required && tokens.empty()) {
      TokenInfo info;
      auto w = TokenStore::Create(db_.get(), {"t"}, {.write = true}, "w", &info);
      ASSERT_TRUE(w.ok());
      write_token_ = *w;
      auto r = TokenStore::Create(db_.get(), {"t"}, {.read = true}, "r", &info);
      ASSERT_TRUE(r.ok());
      read_token_ = *r;
      auto loaded = TokenStore::Load(db_.get());
      ASSERT_TRUE(loaded.ok());
      tokens = std::move(*loaded);
    }
    auto auth = AuthState::Create(db_.get(), std::move(tokens), lo.auth_required);
    ASSERT_TRUE(auth.ok()) << auth.status();
    auth_ = *auth;
    auto l = Listener::Create(db_.get(), lo, auth_);
    ASSERT_TRUE(l.ok()) << l.status();
    listener_ = std::move(*l);
    auto port = listener_->Bind("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
    run_ = std::thread([this] { listener_->Run(); });
  }

  void TearDown() override {
    if (listener_) {
      listener_->Stop();
      run_.join();
    }
    if (db_) {
      EXPECT_TRUE(db_->Close().ok());
    }
  }

  int Connect() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    return fd;
  }

  static void SendAll(int fd, const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }

  // Reads one packet (fixed header + body); "" on close or after timeout_ms.
  static std::string ReadPacket(int fd, int timeout_ms = 5000) {
    std::string buf;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
      FixedHeader h;
      if (ParseFixedHeader(buf, kMaxRemainingLength, &h) == FrameStatus::kComplete)
        return buf.substr(0, h.total());
      const int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
              .count());
      if (left <= 0) return "";
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, left) <= 0) return "";
      char c;
      // One byte at a time: never read past this packet.
      if (::recv(fd, &c, 1, 0) != 1) return "";
      buf.push_back(c);
    }
  }

  // True if the server closed the connection within timeout_ms.
  static bool Closed(int fd, int timeout_ms = 5000) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    char buf[256];
    while (true) {
      ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0) return true;
      if (n < 0) return errno != EAGAIN;
    }
  }

  int ConnectMqtt(ConnectOptions o, uint8_t expect_code = 0, bool* session_present = nullptr) {
    int fd = Connect();
    SendAll(fd, EncodeConnect(o));
    std::string ack = ReadPacket(fd);
    EXPECT_GE(ack.size(), 4u);
    if (ack.size() >= 4) {
      EXPECT_EQ(static_cast<uint8_t>(ack[0]), 0x20);
      EXPECT_EQ(static_cast<uint8_t>(ack[3]), expect_code);
      if (session_present) *session_present = ack[2] == 1;
    }
    return fd;
  }

  // Points of measurement m in database t.
  size_t Points(const std::string& m) {
    size_t n = 0;
    ScanRequest req;
    req.database = "t";
    req.measurement = m;
    Status s = db_->Scan(req, [&](const SeriesData& d) {
      for (const auto& c : d.columns) n += c.size();
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return n;
  }

  testing::TempDir dir_;
  std::unique_ptr<DB> db_;
  std::unique_ptr<Listener> listener_;
  std::thread run_;
  int port_ = 0;
  std::string write_token_, read_token_;
  std::shared_ptr<AuthState> auth_;
};

TEST_F(MqttListener, PubackComesOnlyAfterThePointsAreStored) {
  Start();
  for (uint8_t v : {kV311, kV5}) {
    int fd = ConnectMqtt({.version = v, .client_id = "d1"});
    SendAll(fd, EncodePublish(v, 1, "t/dev/1", 7, "m v=1\nm v=2 170000000000000000" + std::to_string(v)));
    std::string ack = ReadPacket(fd);
    EXPECT_EQ(ack, EncodeAck(v, PacketType::kPuback, 7));
    // The acknowledgement follows WriteLineProtocol's return: both points
    // are readable now, no waiting.
    EXPECT_EQ(Points("m"), v == kV311 ? 2u : 4u);
    close(fd);
  }
}

TEST_F(MqttListener, Qos0IsStoredWithoutAcknowledgement) {
  Start();
  int fd = ConnectMqtt({.client_id = "q0"});
  SendAll(fd, EncodePublish(kV311, 0, "t", 0, "q0 v=1"));
  SendAll(fd, EncodePingreq());
  EXPECT_EQ(ReadPacket(fd), EncodePingresp());
  for (int i = 0; i < 100 && Points("q0") == 0; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(Points("q0"), 1u);
  close(fd);
}

TEST_F(MqttListener, Qos2ResendAfterReconnectIsAcknowledgedButNotWrittenTwice) {
  Start();
  bool present = true;
  int fd = ConnectMqtt({.clean_start = false, .client_id = "q2"}, 0, &present);
  EXPECT_FALSE(present);
  // No timestamp: a second write would add a second point (arrival time).
  SendAll(fd, EncodePublish(kV311, 2, "t/x", 5, "q2 v=1"));
  EXPECT_EQ(ReadPacket(fd), EncodeAck(kV311, PacketType::kPubrec, 5));
  close(fd);  // PUBREL never sent
  fd = ConnectMqtt({.clean_start = false, .client_id = "q2"}, 0, &present);
  EXPECT_TRUE(present);
  SendAll(fd, EncodePublish(kV311, 2, "t/x", 5, "q2 v=1", /*dup=*/true));
  EXPECT_EQ(ReadPacket(fd), EncodeAck(kV311, PacketType::kPubrec, 5));
  SendAll(fd, EncodeAck(kV311, PacketType::kPubrel, 5));
  EXPECT_EQ(ReadPacket(fd), EncodeAck(kV311, PacketType::kPubcomp, 5));
  EXPECT_EQ(Points("q2"), 1u);
  // After PUBREL the id is free: the same id is a new message.
  SendAll(fd, EncodePublish(kV311, 2, "t/x", 5, "q2 v=2"));
  EXPECT_EQ(ReadPacket(fd), EncodeAck(kV311, PacketType::kPubrec, 5));
  EXPECT_EQ(Points("q2"), 2u);
  close(fd);
}

TEST_F(MqttListener, CleanSessionForgetsQos2State) {
  Start();
  int fd = ConnectMqtt({.clean_start = false, .client_id = "c"});
  SendAll(fd, EncodePublish(kV311, 2, "t", 9, "cs v=1"));
  EXPECT_EQ(ReadPacket(fd), EncodeAck(kV311, PacketType::kPubrec, 9));
  close(fd);
  bool present = true;
  fd = ConnectMqtt({.clean_start = true, .client_id = "c"}, 0, &present);
  EXPECT_FALSE(present);
  close(fd);
}

TEST_F(MqttListener, V5RejectionsCarryReasonCodesAndPartialPayloadsKeepGoodLines) {
  Start();
  int fd = ConnectMqtt({.version = kV5, .client_id = "r"});
  SendAll(fd, EncodePublish(kV5, 1, "t", 1, "bad line\nalso bad"));
  std::string ack = ReadPacket(fd);
  ASSERT_GE(ack.size(), 5u);
  EXPECT_EQ(static_cast<uint8_t>(ack[4]), reason::kPayloadFormatInvalid);
  SendAll(fd, EncodePublish(kV5, 1, "nosuchdb/x", 2, "m v=1"));
  ack = ReadPacket(fd);
  ASSERT_GE(ack.size(), 5u);
  EXPECT_EQ(static_cast<uint8_t>(ack[4]), reason::kTopicNameInvalid);
  SendAll(fd, EncodePublish(kV5, 1, "t/x", 3, "p v=1\nnot line protocol\np v=2 5"));
  ack = ReadPacket(fd);
  ASSERT_GE(ack.size(), 5u);
  EXPECT_EQ(static_cast<uint8_t>(ack[4]), reason::kSuccess);
  EXPECT_NE(ack.find("partial write"), std::string::npos);
  EXPECT_EQ(Points("p"), 2u);
  close(fd);
  ListenerStats st = listener_->Stats();
  EXPECT_EQ(st.messages_rejected, 2u);
  EXPECT_EQ(st.messages_partial, 1u);
}

TEST_F(MqttListener, RejectedPayloadsGoToTheDeadLetterFile) {
  ListenerOptions lo;
  lo.dead_letter_path = dir_.path() + "/dead.jsonl";
  Start(lo);
  int fd = ConnectMqtt({.version = kV5, .client_id = "dl"});
  SendAll(fd, EncodePublish(kV5, 1, "t/dev", 1, "junk \"x\""));
  ReadPacket(fd);
  SendAll(fd, EncodePublish(kV5, 1, "t/dev", 2, "dl v=1 1\nbad"));
  ReadPacket(fd);
  SendAll(fd, EncodePublish(kV5, 1, "t/dev", 3, "dl v=2 2"));  // stored: no record
  ReadPacket(fd);
  close(fd);
  std::ifstream in(lo.dead_letter_path);
  std::string l1, l2, l3;
  ASSERT_TRUE(std::getline(in, l1));
  ASSERT_TRUE(std::getline(in, l2));
  EXPECT_FALSE(std::getline(in, l3));
  EXPECT_NE(l1.find("\"client_id\":\"dl\",\"topic\":\"t/dev\",\"qos\":1,\"reason_code\":153"),
            std::string::npos)
      << l1;
  EXPECT_NE(l1.find("\"payload\":\"junk \\\"x\\\"\"}"), std::string::npos) << l1;
  EXPECT_NE(l2.find("\"reason_code\":0"), std::string::npos) << l2;
  EXPECT_NE(l2.find("\"rejected_lines\":[2]"), std::string::npos) << l2;
}

TEST_F(MqttListener, V311AcknowledgesRejectedPayloads) {
  Start();
  int fd = ConnectMqtt({.client_id = "r3"});
  SendAll(fd, EncodePublish(kV311, 1, "t", 1, "garbage"));
  EXPECT_EQ(ReadPacket(fd), EncodeAck(kV311, PacketType::kPuback, 1));
  close(fd);
  EXPECT_EQ(listener_->Stats().messages_rejected, 1u);
}

TEST_F(MqttListener, OversizePacketDisconnectsWith0x95OnV5) {
  Start({.max_packet_bytes = 1024});
  int fd = ConnectMqtt({.version = kV5, .client_id = "big"});
  SendAll(fd, EncodePublish(kV5, 1, "t", 1, std::string(2000, 'x')));
  std::string d = ReadPacket(fd);
  ASSERT_GE(d.size(), 3u);
  EXPECT_EQ(static_cast<uint8_t>(d[0]), 0xE0);
  EXPECT_EQ(static_cast<uint8_t>(d[2]), reason::kPacketTooLarge);
  EXPECT_TRUE(Closed(fd));
  close(fd);
}

TEST_F(MqttListener, MalformedPacketsCloseTheConnection) {
  Start();
  // Packet id 0 at QoS 1.
  int fd = ConnectMqtt({.client_id = "m1"});
  SendAll(fd, EncodePublish(kV311, 1, "t", 0, "m v=1"));
  EXPECT_TRUE(Closed(fd));
  close(fd);
  // A wildcard in a PUBLISH topic.
  fd = ConnectMqtt({.client_id = "m2"});
  SendAll(fd, EncodePublish(kV311, 1, "t/+", 1, "m v=1"));
  EXPECT_TRUE(Closed(fd));
  close(fd);
  // A fifth remaining-length byte, before CONNECT.
  fd = Connect();
  SendAll(fd, std::string("\x10\xFF\xFF\xFF\xFF\x01", 6));
  EXPECT_TRUE(Closed(fd));
  close(fd);
  // PUBLISH before CONNECT.
  fd = Connect();
  SendAll(fd, EncodePublish(kV311, 0, "t", 0, "m v=1"));
  EXPECT_TRUE(Closed(fd));
  close(fd);
  EXPECT_EQ(Points("m"), 0u);
}

TEST_F(MqttListener, SubscribeIsAnsweredWithFailureCodes) {
  Start();
  int fd = ConnectMqtt({.client_id = "s3"});
  SendAll(fd, EncodeSubscribe(kV311, 4, {"a/#", "b"}));
  EXPECT_EQ(ReadPacket(fd), std::string("\x90\x04\x00\x04\x80\x80", 6));
  SendAll(fd, EncodeUnsubscribe(kV311, 5, {"a/#"}));
  EXPECT_EQ(ReadPacket(fd), std::string("\xB0\x02\x00\x05", 4));
  close(fd);
  fd = ConnectMqtt({.version = kV5, .client_id = "s5"});
  SendAll(fd, EncodeSubscribe(kV5, 4, {"a/#"}));
  std::string ack = ReadPacket(fd);
  ASSERT_GE(ack.size(), 6u);
  EXPECT_EQ(static_cast<uint8_t>(ack.back()), reason::kNotAuthorized);
  close(fd);
}

TEST_F(MqttListener, ProtectedModeNeedsAWriteToken) {
  Start({.auth_required = true});
  // Not a token, so a user name and password: wrong (3.1.1: 4).
  int fd = ConnectMqtt({.client_id = "a", .username = "dev", .password = "m2m_wrong"}, 4);
  EXPECT_TRUE(Closed(fd));
  close(fd);
  fd = ConnectMqtt({.version = kV5, .client_id = "a"}, reason::kBadUserNameOrPassword);
  close(fd);
  fd = ConnectMqtt({.client_id = "a", .username = "dev", .password = read_token_}, 5);
  close(fd);
  fd = ConnectMqtt({.version = kV5, .client_id = "a", .username = "dev", .password = write_token_});
  SendAll(fd, EncodePublish(kV5, 1, "t", 1, "auth v=1"));
  EXPECT_EQ(ReadPacket(fd), EncodeAck(kV5, PacketType::kPuback, 1));
  // The token covers database t only.
  ASSERT_TRUE(db_->CreateDatabase({.name = "other"}).ok());
  SendAll(fd, EncodePublish(kV5, 1, "other", 2, "auth v=1"));
  std::string ack = ReadPacket(fd);
  ASSERT_GE(ack.size(), 5u);
  EXPECT_EQ(static_cast<uint8_t>(ack[4]), reason::kNotAuthorized);
  close(fd);
  EXPECT_EQ(Points("auth"), 1u);
}

TEST_F(MqttListener, KeepAliveClosesAfterOneAndAHalfIntervals) {
  Start();
  int fd = ConnectMqtt({.version = kV5, .keep_alive = 1, .client_id = "ka"});
  auto t0 = std::chrono::steady_clock::now();
  std::string d = ReadPacket(fd, 5000);
  ASSERT_GE(d.size(), 3u);
  EXPECT_EQ(static_cast<uint8_t>(d[2]), reason::kKeepAliveTimeout);
  // Not before 1.5 s of silence.
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1400));
  close(fd);
}

TEST_F(MqttListener, WindowOfManyInflightMessagesIsAllAcknowledged) {
  Start();
  int fd = ConnectMqtt({.client_id = "w"});
  std::string burst;
  for (int i = 1; i <= 300; i++) {
    burst += EncodePublish(kV311, 1, "t", static_cast<uint16_t>(i), "w,i=" + std::to_string(i) + " v=1 1");
  }
  SendAll(fd, burst);
  int acks = 0;
  for (int i = 0; i < 300; i++) {
    if (ReadPacket(fd).empty()) break;
    acks++;
  }
  EXPECT_EQ(acks, 300);
  EXPECT_EQ(Points("w"), 300u);
  close(fd);
}

// A stalled engine: the connection is not read past its window, so the
// server holds at most `receive_maximum` of its messages; every one is
// acknowledged once writes resume.
TEST_F(MqttListener, FullWindowStopsReadingUntilWritesComplete) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  ListenerOptions lo;
  lo.receive_maximum = 10;
  lo.writer_threads = 2;
  lo.before_write_for_test = [&] {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return release; });
  };
  Start(lo);
  int fd = ConnectMqtt({.client_id = "bp"});
  std::string burst;
  for (int i = 1; i <= 200; i++) {
    burst += EncodePublish(kV311, 1, "t", static_cast<uint16_t>(i), "bp,i=" + std::to_string(i) + " v=1 1");
  }
  std::thread sender([&] { SendAll(fd, burst); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(listener_->Stats().messages_received, 10u);
  EXPECT_TRUE(ReadPacket(fd, 100).empty()) << "nothing is acknowledged before it is written";
  {
    std::lock_guard<std::mutex> l(mu);
    release = true;
  }
  cv.notify_all();
  int acks = 0;
  for (int i = 0; i < 200 && !ReadPacket(fd).empty(); i++) acks++;
  sender.join();
  EXPECT_EQ(acks, 200);
  EXPECT_EQ(Points("bp"), 200u);
  close(fd);
}

// QoS 0 has no window: the queue's byte bound stops the reading instead.
TEST_F(MqttListener, FullQueueStopsReadingQos0) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  ListenerOptions lo;
  lo.max_queued_bytes = 200;
  lo.writer_threads = 1;
  lo.before_write_for_test = [&] {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return release; });
  };
  Start(lo);
  int fd = ConnectMqtt({.client_id = "q"});
  std::string burst;
  for (int i = 1; i <= 200; i++)
    burst += EncodePublish(kV311, 0, "t", 0, "qq,i=" + std::to_string(i) + " v=1 1");
  std::thread sender([&] { SendAll(fd, burst); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // 200 bytes of ~15-byte payloads, plus the one the writer holds.
  EXPECT_LE(listener_->Stats().messages_received, 20u);
  {
    std::lock_guard<std::mutex> l(mu);
    release = true;
  }
  cv.notify_all();
  sender.join();
  SendAll(fd, EncodePingreq());
  EXPECT_EQ(ReadPacket(fd), EncodePingresp());
  for (int i = 0; i < 100 && Points("qq") < 200; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(Points("qq"), 200u);
  close(fd);
}

// QoS 2 ids awaiting PUBREL count against the window: a client that never
// releases them is disconnected instead of growing its session.
TEST_F(MqttListener, Qos2WithoutPubrelIsBoundedByReceiveMaximum) {
  ListenerOptions lo;
  lo.receive_maximum = 5;
  Start(lo);
  int fd = ConnectMqtt({.version = kV5, .client_id = "norel"});
  for (uint16_t id = 1; id <= 5; id++) {
    SendAll(fd, EncodePublish(kV5, 2, "t", id, "nr v=1 " + std::to_string(id)));
    EXPECT_EQ(ReadPacket(fd), EncodeAck(kV5, PacketType::kPubrec, id));
  }
  SendAll(fd, EncodePublish(kV5, 2, "t", 6, "nr v=1 6"));
  std::string d = ReadPacket(fd);
  ASSERT_GE(d.size(), 3u);
  EXPECT_EQ(static_cast<uint8_t>(d[0]), 0xE0);
  EXPECT_EQ(static_cast<uint8_t>(d[2]), reason::kReceiveMaximumExceeded);
  EXPECT_TRUE(Closed(fd));
  close(fd);
  EXPECT_EQ(Points("nr"), 5u);
}

TEST_F(MqttListener, ConnectionsPerAddressAreBounded) {
  ListenerOptions lo;
  lo.max_connections_per_address = 2;
  Start(lo);
  int a = ConnectMqtt({.client_id = "a"});
  int b = ConnectMqtt({.client_id = "b"});
  int c = Connect();
  EXPECT_TRUE(Closed(c));
  close(c);
  close(a);
  // The count goes down when a connection ends.
  for (int i = 0; i < 100 && listener_->Stats().connections_open > 1; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  int d = ConnectMqtt({.client_id = "d"});
  SendAll(d, EncodePingreq());
  EXPECT_EQ(ReadPacket(d), EncodePingresp());
  close(b);
  close(d);
}

// Model test: random reconnects (clean or persistent), publishes at every
// QoS with QoS 2 packet ids drawn from a small pool (so resends and reuse
// after PUBREL are frequent) and PUBRELs, against an in-memory oracle of
// what a session must remember. Every acknowledgement must be the expected
// one and the stored points exactly the messages the oracle says were
// written once.
TEST_F(MqttListener, RandomSessionsMatchTheOracle) {
  Start();
  std::mt19937 rng(20261207);
  struct Oracle {
    bool has_session = false;
    bool persistent = false;
    std::set<uint16_t> received;  // QoS 2 ids awaiting PUBREL
    size_t stored = 0;
  } o;
  int64_t ts = 1;
  uint16_t next_q1 = 1;
  int fd = -1;
  auto reconnect = [&](bool clean) {
    if (fd >= 0) close(fd);
    if (!o.persistent) {
      o.has_session = false;
      o.received.clear();
    }
    if (clean) {
      o.has_session = false;
      o.received.clear();
    }
    bool present = false;
    // The previous connection's end and this CONNECT race in the server
    // only through the loop, which handles the close first (same socket
    // order is not guaranteed): wait until it has.
    for (int i = 0; i < 200 && listener_->Stats().connections_open > 0; i++) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    fd = ConnectMqtt({.clean_start = clean, .client_id = "model"}, 0, &present);
    EXPECT_EQ(present, o.has_session && !clean);
    o.persistent = !clean;
    o.has_session = true;
  };
  reconnect(true);
  for (int step = 0; step < 400 && !HasFailure(); step++) {
    const int op = static_cast<int>(rng() % 10);
    if (op == 0) {
      reconnect(rng() % 3 == 0);
    } else if (op <= 2) {
      SendAll(fd, EncodePublish(kV311, 0, "t", 0, "mdl v=1 " + std::to_string(ts++)));
      o.stored++;
    } else if (op <= 4) {
      const uint16_t id = next_q1++;
      SendAll(fd, EncodePublish(kV311, 1, "t", id, "mdl v=1 " + std::to_string(ts++)));
      EXPECT_EQ(ReadPacket(fd), EncodeAck(kV311, PacketType::kPuback, id)) << "step " << step;
      o.stored++;
    } else if (op <= 7) {
      const uint16_t id = static_cast<uint16_t>(1 + rng() % 5);
      SendAll(fd, EncodePublish(kV311, 2, "t", id, "mdl v=1 " + std::to_string(ts++)));
      EXPECT_EQ(ReadPacket(fd), EncodeAck(kV311, PacketType::kPubrec, id)) << "step " << step;
      if (o.received.insert(id).second) o.stored++;
    } else {
      const uint16_t id = static_cast<uint16_t>(1 + rng() % 5);
      SendAll(fd, EncodeAck(kV311, PacketType::kPubrel, id));
      EXPECT_EQ(ReadPacket(fd), EncodeAck(kV311, PacketType::kPubcomp, id)) << "step " << step;
      o.received.erase(id);
    }
  }
  close(fd);
  // QoS 0 writes have no acknowledgement to wait for.
  for (int i = 0; i < 200 && Points("mdl") < o.stored; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(Points("mdl"), o.stored);
}

// A rule stamps the connection's user name over the payload's tag: a device
// cannot write as another.
TEST_F(MqttListener, RulesMapJsonAndStampIdentityTags) {
  auto rules = Rules::Parse(
      "plant/+device format=json db=t measurement=env tag.device=+device tag.user=%username\n"
      "lp/# db=t tag.user=%username\n");
  ASSERT_TRUE(rules.ok()) << rules.status();
  ListenerOptions lo;
  lo.rules = std::make_shared<const Rules>(std::move(*rules));
  Start(lo);
  int fd = ConnectMqtt({.version = kV5, .client_id = "r", .username = "alice"});
  SendAll(fd,
          EncodePublish(kV5, 1, "plant/p1", 1, R"({"temp": 21.5, "hum": 40, "time": 1700000000000000000})"));
  EXPECT_EQ(ReadPacket(fd), EncodeAck(kV5, PacketType::kPuback, 1));
  SendAll(fd, EncodePublish(kV5, 1, "lp/x", 2, "spoof,user=bob v=1 1"));
  EXPECT_EQ(ReadPacket(fd), EncodeAck(kV5, PacketType::kPuback, 2));
  SendAll(fd, EncodePublish(kV5, 1, "plant/p1", 3, "not json"));
  std::string ack = ReadPacket(fd);
  ASSERT_GE(ack.size(), 5u);
  EXPECT_EQ(static_cast<uint8_t>(ack[4]), reason::kPayloadFormatInvalid);
  close(fd);
  auto series = db_->Series("t", "", {});
  ASSERT_TRUE(series.ok());
  std::vector<std::string> keys;
  for (const auto& k : *series) keys.push_back(k.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"env,device=p1,user=alice", "spoof,user=alice"}));
  EXPECT_EQ(Points("env"), 2u);  // temp and hum
}

// MQTT 5: a session outlives its connection for its Session Expiry
// Interval, no longer; 0 ends it with the connection.
TEST_F(MqttListener, SessionExpiryIntervalIsHonoured) {
  Start();
  auto connect = [&](const char* id, std::optional<uint32_t> expiry) {
    bool present = false;
    ConnectOptions o{.version = kV5, .clean_start = false, .client_id = id};
    o.session_expiry_interval = expiry;
    int fd = ConnectMqtt(o, 0, &present);
    close(fd);
    // Let the loop see the close before the next CONNECT.
    for (int i = 0; i < 200 && listener_->Stats().connections_open > 0; i++) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return present;
  };
  EXPECT_FALSE(connect("short", 1));
  EXPECT_FALSE(connect("long", 600));
  EXPECT_FALSE(connect("none", std::nullopt));
  EXPECT_TRUE(connect("long", 600));
  EXPECT_FALSE(connect("none", std::nullopt)) << "expiry 0: the session ended with the connection";
  std::this_thread::sleep_for(std::chrono::milliseconds(2600));
  EXPECT_FALSE(connect("short", 1)) << "expired after 1 s";
  EXPECT_TRUE(connect("long", 600));
}

TEST_F(MqttListener, SessionTakeoverClosesTheOldConnection) {
  Start();
  int a = ConnectMqtt({.version = kV5, .client_id = "same"});
  int b = ConnectMqtt({.version = kV5, .client_id = "same"});
  std::string d = ReadPacket(a);
  ASSERT_GE(d.size(), 3u);
  EXPECT_EQ(static_cast<uint8_t>(d[2]), reason::kSessionTakenOver);
  EXPECT_TRUE(Closed(a));
  SendAll(b, EncodePingreq());
  EXPECT_EQ(ReadPacket(b), EncodePingresp());
  close(a);
  close(b);
}

// ---- Users (AuthState): passwords verified off the loop, grants per PUBLISH ----

// The first user must be an admin (users.h); `dev` may write t only.
void AddUsers(AuthState* auth) {
  ASSERT_TRUE(auth->users()->Create("root", "root-secret", true).ok());
  ASSERT_TRUE(auth->users()->Create("dev", "dev pässword \"q\"", false).ok());
  ASSERT_TRUE(auth->users()->SetPrivilege("dev", "t", Privilege::kWrite).ok());
}

TEST_F(MqttListener, UserPasswordAuthenticatesAndGrantsAreCheckedPerPublish) {
  Start({.auth_required = true});
  AddUsers(auth_.get());
  ASSERT_TRUE(db_->CreateDatabase({.name = "other"}).ok());
  int fd =
      ConnectMqtt({.version = kV5, .client_id = "u1", .username = "dev", .password = "dev pässword \"q\""});
  SendAll(fd, EncodePublish(kV5, 1, "t", 1, "user v=1 1"));
  EXPECT_EQ(ReadPacket(fd), EncodeAck(kV5, PacketType::kPuback, 1));
  // No grant on `other`: 0x87, nothing stored.
  SendAll(fd, EncodePublish(kV5, 1, "other", 2, "user v=1 1"));
  std::string ack = ReadPacket(fd);
  ASSERT_GE(ack.size(), 5u);
  EXPECT_EQ(static_cast<uint8_t>(ack[4]), reason::kNotAuthorized);
  EXPECT_NE(ack.find("user \"dev\" is not authorized to write to database \"other\""), std::string::npos);
  close(fd);
  // An admin writes anywhere.
  fd = ConnectMqtt({.version = kV5, .client_id = "u2", .username = "root", .password = "root-secret"});
  SendAll(fd, EncodePublish(kV5, 1, "other", 1, "user v=2 2"));
  EXPECT_EQ(ReadPacket(fd), EncodeAck(kV5, PacketType::kPuback, 1));
  close(fd);
  // Wrong password, unknown user, empty user name.
  fd = ConnectMqtt({.version = kV5, .client_id = "u3", .username = "dev", .password = "nope"},
                   reason::kBadUserNameOrPassword);
  EXPECT_TRUE(Closed(fd));
  close(fd);
  fd = ConnectMqtt({.client_id = "u3", .username = "ghost", .password = "x"}, 4);
  close(fd);
  fd = ConnectMqtt({.client_id = "u3", .username = "", .password = "root-secret"}, 4);
  close(fd);
  EXPECT_EQ(Points("user"), 1u);
  EXPECT_EQ(listener_->Stats().connects_refused, 3u);
}

// Argon2id runs on an auth thread: while one login waits there, other
// connections are served, and the waiting client's PUBLISH sent right
// behind its CONNECT is handled only after its CONNACK.
TEST_F(MqttListener, PasswordCheckDoesNotStallTheLoop) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  ListenerOptions lo;
  lo.auth_required = true;
  lo.before_login_for_test = [&] {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return release; });
  };
  Start(lo);
  AddUsers(auth_.get());
  int slow = Connect();
  SendAll(slow,
          EncodeConnect(
              {.version = kV5, .client_id = "slow", .username = "dev", .password = "dev pässword \"q\""}) +
              EncodePublish(kV5, 1, "t", 7, "pipelined v=1 1"));
  // Another device with a token is served meanwhile.
  int fast = ConnectMqtt({.version = kV5, .client_id = "fast", .username = "x", .password = write_token_});
  SendAll(fast, EncodePublish(kV5, 1, "t", 1, "fast v=1 1"));
  EXPECT_EQ(ReadPacket(fast), EncodeAck(kV5, PacketType::kPuback, 1));
  EXPECT_EQ(ReadPacket(slow, 200), "");  // no CONNACK yet
  EXPECT_EQ(Points("pipelined"), 0u);
  {
    std::lock_guard<std::mutex> l(mu);
    release = true;
  }
  cv.notify_all();
  std::string connack = ReadPacket(slow);
  ASSERT_GE(connack.size(), 4u);
  EXPECT_EQ(static_cast<uint8_t>(connack[0]), 0x20);
  EXPECT_EQ(static_cast<uint8_t>(connack[3]), reason::kSuccess);
  EXPECT_EQ(ReadPacket(slow), EncodeAck(kV5, PacketType::kPuback, 7));
  EXPECT_EQ(Points("pipelined"), 1u);
  close(slow);
  close(fast);
}

// Failed logins count per address in the limiter HTTP uses too: after
// LoginLimiter::kMaxFailures, CONNECT is refused (0x9F) before any hashing.
TEST_F(MqttListener, FailedLoginsShareHttpsLimiter) {
  Start({.auth_required = true});
  AddUsers(auth_.get());
  // Failures recorded by HTTP for this address (its text form, as HTTP's).
  for (int i = 0; i < LoginLimiter::kMaxFailures - 1; i++) auth_->login_limiter().Failed("127.0.0.1");
  int fd = ConnectMqtt({.version = kV5, .client_id = "g", .username = "dev", .password = "guess"},
                       reason::kBadUserNameOrPassword);
  close(fd);
  EXPECT_GT(auth_->login_limiter().RetryAfter("127.0.0.1"), 0);  // MQTT's failure counted
  // Even the right password waits now.
  fd = ConnectMqtt({.version = kV5, .client_id = "g", .username = "dev", .password = "dev pässword \"q\""},
                   reason::kConnectionRateExceeded);
  close(fd);
  // A token is not rate-limited (not guessable; one SHA-256).
  fd = ConnectMqtt({.client_id = "g", .username = "dev", .password = write_token_});
  close(fd);
}

// Changes made while the server runs reach connections already open: the
// next PUBLISH is refused (5: 0x87; 3.1.1: acknowledged, counted and
// dead-lettered), and new CONNECTs see them at once.
TEST_F(MqttListener, RevokedGrantsUsersAndTokensStopTheNextPublish) {
  ListenerOptions lo;
  lo.auth_required = true;
  lo.dead_letter_path = dir_.path() + "/dead.jsonl";
  Start(lo);
  AddUsers(auth_.get());
  auto refused = [&](int fd, uint16_t id, const std::string& why) {
    SendAll(fd, EncodePublish(kV5, 1, "t", id, "live v=9 9"));
    std::string ack = ReadPacket(fd);
    ASSERT_GE(ack.size(), 5u);
    EXPECT_EQ(static_cast<uint8_t>(ack[4]), reason::kNotAuthorized);
    EXPECT_NE(ack.find(why), std::string::npos) << ack;
  };
  int v5 =
      ConnectMqtt({.version = kV5, .client_id = "a", .username = "dev", .password = "dev pässword \"q\""});
  int v3 = ConnectMqtt({.client_id = "b", .username = "dev", .password = "dev pässword \"q\""});
  SendAll(v5, EncodePublish(kV5, 1, "t", 1, "live v=1 1"));
  EXPECT_EQ(ReadPacket(v5), EncodeAck(kV5, PacketType::kPuback, 1));
  // REVOKE WRITE.
  ASSERT_TRUE(auth_->users()->SetPrivilege("dev", "t", Privilege::kRead).ok());
  refused(v5, 2, "user \"dev\" is not authorized to write to database \"t\"");
  SendAll(v3, EncodePublish(kV311, 1, "t", 3, "live v=3 3"));
  EXPECT_EQ(ReadPacket(v3), EncodeAck(kV311, PacketType::kPuback, 3));  // 3.1.1: acknowledged anyway
  EXPECT_EQ(listener_->Stats().messages_rejected, 2u);
  // GRANT again, then DROP USER.
  ASSERT_TRUE(auth_->users()->SetPrivilege("dev", "t", Privilege::kAll).ok());
  SendAll(v5, EncodePublish(kV5, 1, "t", 4, "live v=4 4"));
  EXPECT_EQ(ReadPacket(v5), EncodeAck(kV5, PacketType::kPuback, 4));
  ASSERT_TRUE(auth_->users()->Drop("dev").ok());
  refused(v5, 5, "user \"dev\" was dropped");
  close(v5);
  close(v3);
  int fd =
      ConnectMqtt({.version = kV5, .client_id = "a", .username = "dev", .password = "dev pässword \"q\""},
                  reason::kBadUserNameOrPassword);
  close(fd);

  // A token revoked over HTTP (ReloadTokens) stops its connection.
  int tok = ConnectMqtt({.version = kV5, .client_id = "c", .password = write_token_});
  SendAll(tok, EncodePublish(kV5, 1, "t", 1, "live v=6 6"));
  EXPECT_EQ(ReadPacket(tok), EncodeAck(kV5, PacketType::kPuback, 1));
  auto tokens = TokenStore::Load(db_.get());
  ASSERT_TRUE(tokens.ok());
  const TokenInfo* info = tokens->Authenticate(write_token_);
  ASSERT_NE(info, nullptr);
  ASSERT_TRUE(TokenStore::Revoke(db_.get(), info->id).ok());
  ASSERT_TRUE(auth_->ReloadTokens().ok());
  refused(tok, 2, absl::StrCat("token \"", info->id, "\" was revoked"));
  close(tok);
  fd = ConnectMqtt({.version = kV5, .client_id = "c", .password = write_token_},
                   reason::kBadUserNameOrPassword);
  close(fd);
  // A token created while running works at once.
  TokenInfo fresh;
  auto secret = TokenStore::Create(db_.get(), {"t"}, {.write = true}, "new", &fresh);
  ASSERT_TRUE(secret.ok());
  ASSERT_TRUE(auth_->ReloadTokens().ok());
  fd = ConnectMqtt({.version = kV5, .client_id = "d", .password = *secret});
  SendAll(fd, EncodePublish(kV5, 1, "t", 1, "live v=7 7"));
  EXPECT_EQ(ReadPacket(fd), EncodeAck(kV5, PacketType::kPuback, 1));
  close(fd);
  EXPECT_EQ(Points("live"), 4u);  // 1, 4, 6, 7
  // The refused messages are in the dead-letter file, the password nowhere.
  std::ifstream in(lo.dead_letter_path);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(all.find("\"reason_code\":135"), std::string::npos) << all;
  EXPECT_EQ(all.find("pässword"), std::string::npos);
}

// Protected mode switches on for MQTT when the first admin is created while
// the server runs, as for HTTP: anonymous CONNECTs are refused from then on
// and an anonymous connection already open has its next PUBLISH refused.
TEST_F(MqttListener, ProtectedModeSwitchesOnWithTheFirstAdmin) {
  Start();
  int open = ConnectMqtt({.version = kV5, .client_id = "anon"});
  SendAll(open, EncodePublish(kV5, 1, "t", 1, "anon v=1 1"));
  EXPECT_EQ(ReadPacket(open), EncodeAck(kV5, PacketType::kPuback, 1));
  ASSERT_TRUE(auth_->users()->Create("root", "root-secret", true).ok());
  SendAll(open, EncodePublish(kV5, 1, "t", 2, "anon v=2 2"));
  std::string ack = ReadPacket(open);
  ASSERT_GE(ack.size(), 5u);
  EXPECT_EQ(static_cast<uint8_t>(ack[4]), reason::kNotAuthorized);
  close(open);
  int fd = ConnectMqtt({.version = kV5, .client_id = "anon2"}, reason::kBadUserNameOrPassword);
  close(fd);
  fd = ConnectMqtt({.version = kV5, .client_id = "root", .username = "root", .password = "root-secret"});
  SendAll(fd, EncodePublish(kV5, 1, "t", 1, "anon v=3 3"));
  EXPECT_EQ(ReadPacket(fd), EncodeAck(kV5, PacketType::kPuback, 1));
  close(fd);
  EXPECT_EQ(Points("anon"), 2u);
}

// %username in a rule is the authenticated user's name.
TEST_F(MqttListener, IdentityTagIsTheAuthenticatedUser) {
  auto rules = Rules::Parse("lp/# db=t tag.user=%username\n");
  ASSERT_TRUE(rules.ok()) << rules.status();
  ListenerOptions lo;
  lo.auth_required = true;
  lo.rules = std::make_shared<const Rules>(std::move(*rules));
  Start(lo);
  AddUsers(auth_.get());
  int fd =
      ConnectMqtt({.version = kV5, .client_id = "i", .username = "dev", .password = "dev pässword \"q\""});
  SendAll(fd, EncodePublish(kV5, 1, "lp/x", 1, "who,user=root v=1 1"));
  EXPECT_EQ(ReadPacket(fd), EncodeAck(kV5, PacketType::kPuback, 1));
  close(fd);
  auto series = db_->Series("t", "", {});
  ASSERT_TRUE(series.ok());
  ASSERT_EQ(series->size(), 1u);
  EXPECT_EQ((*series)[0].key, "who,user=dev");
}

// Logins waiting for a password check are bounded (0x89 server busy past
// them), and a client that hangs up while its check runs costs nothing more.
TEST_F(MqttListener, WaitingLoginsAreBoundedAndMayHangUp) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  ListenerOptions lo;
  lo.auth_required = true;
  lo.before_login_for_test = [&] {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return release; });
  };
  Start(lo);
  AddUsers(auth_.get());
  const std::string connect =
      EncodeConnect({.version = kV5, .client_id = "", .username = "dev", .password = "dev pässword \"q\""});
  // 64 logins wait in the queue, plus the 0-2 the auth threads have taken
  // (blocked above): of 70, 4 to 6 are refused at once, before any check.
  constexpr int kClients = 70;
  std::vector<int> fds;
  for (int i = 0; i < kClients; i++) {
    fds.push_back(Connect());
    SendAll(fds.back(), connect);
  }
  std::vector<bool> answered(kClients, false);
  int busy = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (busy < 4 && std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < kClients; i++) {
      pollfd p{fds[i], POLLIN, 0};
      if (answered[i] || poll(&p, 1, 0) <= 0) continue;
      std::string ack = ReadPacket(fds[i]);
      // No ASSERT while the auth threads are held: TearDown would wait on them.
      EXPECT_GE(ack.size(), 4u);
      EXPECT_EQ(ack.size() >= 4 ? static_cast<uint8_t>(ack[3]) : 0, reason::kServerBusy);
      answered[i] = true;
      busy++;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(busy, 4);
  // Half the waiting clients hang up before their check is done.
  std::vector<int> left;
  for (int i = 0; i < kClients; i++) {
    if (answered[i]) {
      close(fds[i]);
    } else if (i % 2 == 0) {
      close(fds[i]);
    } else {
      left.push_back(fds[i]);
    }
  }
  {
    std::lock_guard<std::mutex> l(mu);
    release = true;
  }
  cv.notify_all();
  int ok = 0;
  for (int fd : left) {
    std::string ack = ReadPacket(fd, 20000);
    ASSERT_GE(ack.size(), 4u);
    const uint8_t code = static_cast<uint8_t>(ack[3]);
    // A refusal not read above (at most 6 in all).
    if (code == reason::kServerBusy) {
      busy++;
    } else {
      EXPECT_EQ(code, reason::kSuccess);
      ok++;
    }
    close(fd);
  }
  EXPECT_LE(busy, 6);
  EXPECT_GE(ok, static_cast<int>(left.size()) - 2);
}

}  // namespace
}  // namespace m2mdb::server::mqtt
