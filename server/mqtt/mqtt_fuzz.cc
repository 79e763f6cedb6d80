// libFuzzer target for the MQTT codec: the input is a byte stream as a
// client would send it on one connection. The first byte picks the protocol
// version for packets other than CONNECT (odd: 5, even: 3.1.1); the rest is
// framed packet by packet with a 64 KiB limit and each packet decoded. Every
// PUBLISH, acknowledgement and CONNECT that decodes is encoded again and must
// decode to the same fields: a decoder that accepts what the encoder cannot
// reproduce aborts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/mqtt/codec.h"
#include "server/mqtt/rules.h"

namespace {

using namespace m2mdb::server::mqtt;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "mqtt_fuzz invariant violated: %s\n", what);
    std::abort();
  }
}

// Every accepted PUBLISH also goes through a fixed rule set covering each
// payload format, identity tags and the default mapping.
const Rules& FuzzRules() {
  static const Rules* rules = [] {
    auto r = Rules::Parse(
        "j/+a/+b/# db=x measurement=+b format=json precision=s tag.a=+a tag.u=%username\n"
        "v/+id db=x measurement=m format=value field=f tag.id=+id\n"
        "l/# tag.u=%client_id measurement=lm\n");
    Check(r.ok(), "fuzz rules parse");
    return new Rules(std::move(*r));
  }();
  return *rules;
}

void MapPublish(const PublishPacket& p) {
  MappedMessage m;
  std::string why;
  const uint8_t code = FuzzRules().Map(p.topic, p.payload, {.username = "u", .client_id = "c"}, &m, &why);
  Check(code == 0 || !why.empty(), "a rejection says why");
  if (code == 0) Check(!m.database.empty(), "a mapped message has a database");
}

void RoundTripPublish(uint8_t version, const PublishPacket& p) {
  std::string again = EncodePublish(version, p.qos, p.topic, p.packet_id, p.payload, p.dup, p.retain);
  FixedHeader h;
  Check(ParseFixedHeader(again, kMaxRemainingLength, &h) == FrameStatus::kComplete, "publish reframes");
  PublishPacket q;
  Check(DecodePublish(version, h.flags, std::string_view(again).substr(h.header_bytes), &q).ok(),
        "publish decodes again");
  Check(q.topic == p.topic && q.payload == p.payload && q.qos == p.qos && q.packet_id == p.packet_id &&
            q.dup == p.dup && q.retain == p.retain,
        "publish round trip");
}

void RoundTripConnect(const ConnectPacket& c) {
  if (c.will) return;  // the test encoder has no will
  ConnectOptions o{.version = c.version,
                   .clean_start = c.clean_start,
                   .keep_alive = c.keep_alive,
                   .client_id = std::string(c.client_id)};
  if (c.username) o.username = std::string(*c.username);
  if (c.password) o.password = std::string(*c.password);
  if (c.version == kV5) {
    o.session_expiry_interval = c.properties.session_expiry_interval;
    o.receive_maximum = c.properties.receive_maximum;
    o.maximum_packet_size = c.properties.maximum_packet_size;
  }
  std::string again = EncodeConnect(o);
  FixedHeader h;
  Check(ParseFixedHeader(again, kMaxRemainingLength, &h) == FrameStatus::kComplete, "connect reframes");
  ConnectPacket d;
  Check(DecodeConnect(h.flags, std::string_view(again).substr(h.header_bytes), &d).ok(),
        "connect decodes again");
  Check(d.client_id == c.client_id && d.username == c.username && d.password == c.password &&
            d.keep_alive == c.keep_alive && d.clean_start == c.clean_start,
        "connect round trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  uint8_t version = (data[0] & 1) ? kV5 : kV311;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  while (!in.empty()) {
    FixedHeader h;
    FrameStatus st = ParseFixedHeader(in, 64 << 10, &h);
    if (st != FrameStatus::kComplete) break;
    Check(h.total() <= in.size(), "frame within input");
    std::string_view body = in.substr(h.header_bytes, h.remaining);
    switch (h.type) {
      case PacketType::kConnect: {
        ConnectPacket c;
        if (DecodeConnect(h.flags, body, &c).ok()) {
          version = c.version;
          RoundTripConnect(c);
        }
        break;
      }
      case PacketType::kPublish: {
        PublishPacket p;
        if (DecodePublish(version, h.flags, body, &p).ok()) {
          Check(IsValidTopicName(p.topic), "accepted topic is a topic name");
          Check((p.qos == 0) == (p.packet_id == 0), "packet id iff qos > 0");
          RoundTripPublish(version, p);
          MapPublish(p);
        }
        break;
      }
      case PacketType::kPuback:
      case PacketType::kPubrec:
      case PacketType::kPubrel:
      case PacketType::kPubcomp: {
        AckPacket a;
        if (DecodeAck(version, h.type, h.flags, body, &a).ok()) {
          Check(a.packet_id != 0, "ack packet id");
          std::string again = EncodeAck(version, h.type, a.packet_id, a.reason);
          FixedHeader h2;
          AckPacket b;
          Check(ParseFixedHeader(again, 1 << 20, &h2) == FrameStatus::kComplete, "ack reframes");
          Check(DecodeAck(version, h.type, h2.flags, std::string_view(again).substr(h2.header_bytes), &b)
                        .ok() &&
                    b.packet_id == a.packet_id && (version != kV5 || b.reason == a.reason),
                "ack round trip");
        }
        break;
      }
      case PacketType::kSubscribe:
      case PacketType::kUnsubscribe: {
        SubscribePacket s;
        CodecError e = h.type == PacketType::kSubscribe ? DecodeSubscribe(version, h.flags, body, &s)
                                                        : DecodeUnsubscribe(version, h.flags, body, &s);
        if (e.ok()) {
          Check(!s.filters.empty(), "a subscription has filters");
          for (auto f : s.filters) (void)IsValidTopicFilter(f);
          std::vector<uint8_t> codes(s.filters.size(), 0x80);
          (void)EncodeSuback(version, s.packet_id, codes, "sink");
        }
        break;
      }
      case PacketType::kDisconnect: {
        DisconnectPacket d;
        (void)DecodeDisconnect(version, h.flags, body, &d);
        break;
      }
      default:
        (void)DecodeEmpty(h.type, h.flags, body);
        break;
    }
    in.remove_prefix(h.total());
  }
  return 0;
}
