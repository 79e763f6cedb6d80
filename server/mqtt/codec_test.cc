#include "server/mqtt/codec.h"

#include <string>

#include <gtest/gtest.h>

namespace m2mdb::server::mqtt {
namespace {

// Frames `packet` and returns its body (what follows the fixed header).
std::string_view Body(const std::string& packet, FixedHeader* h, uint32_t max = 1 << 20) {
  EXPECT_EQ(ParseFixedHeader(packet, max, h), FrameStatus::kComplete);
  return std::string_view(packet).substr(h->header_bytes);
}

TEST(MqttCodec, RemainingLengthOfFourBytesIsTheMost) {
  FixedHeader h;
  // 268435455 = 0xFF 0xFF 0xFF 0x7F: valid, and too large for any limit we set.
  EXPECT_EQ(ParseFixedHeader(std::string("\x30\xFF\xFF\xFF\x7F", 5), 1 << 20, &h), FrameStatus::kTooLarge);
  EXPECT_EQ(h.remaining, kMaxRemainingLength);
  // A fifth length byte is malformed, whatever follows.
  EXPECT_EQ(ParseFixedHeader(std::string("\x30\xFF\xFF\xFF\xFF\x01", 6), 1u << 31, &h),
            FrameStatus::kMalformed);
  EXPECT_EQ(ParseFixedHeader(std::string("\x30\x80\x80", 3), 1 << 20, &h), FrameStatus::kIncomplete);
  EXPECT_EQ(ParseFixedHeader(std::string("\x00\x00", 2), 1 << 20, &h), FrameStatus::kMalformed);
}

TEST(MqttCodec, OversizePacketIsReportedBeforeItsBytesArrive) {
  std::string big = EncodePublish(kV311, 0, "db/x", 0, std::string(2000, 'a'));
  FixedHeader h;
  EXPECT_EQ(ParseFixedHeader(std::string_view(big).substr(0, 3), 1000, &h), FrameStatus::kTooLarge);
  EXPECT_EQ(ParseFixedHeader(big, 4096, &h), FrameStatus::kComplete);
  EXPECT_EQ(h.total(), big.size());
}

TEST(MqttCodec, ConnectRoundTripsBothVersions) {
  for (uint8_t v : {kV311, kV5}) {
    ConnectOptions o{.version = v,
                     .clean_start = false,
                     .keep_alive = 30,
                     .client_id = "dev-1",
                     .username = "u",
                     .password = "secret"};
    if (v == kV5) {
      o.session_expiry_interval = 3600;
      o.receive_maximum = 500;
      o.maximum_packet_size = 4096;
    }
    std::string pkt = EncodeConnect(o);
    FixedHeader h;
    std::string_view body = Body(pkt, &h);
    EXPECT_EQ(h.type, PacketType::kConnect);
    ConnectPacket c;
    CodecError e = DecodeConnect(h.flags, body, &c);
    ASSERT_TRUE(e.ok()) << e.message;
    EXPECT_EQ(c.version, v);
    EXPECT_FALSE(c.clean_start);
    EXPECT_EQ(c.keep_alive, 30);
    EXPECT_EQ(c.client_id, "dev-1");
    EXPECT_EQ(c.username, "u");
    EXPECT_EQ(c.password, "secret");
    if (v == kV5) {
      EXPECT_EQ(c.properties.session_expiry_interval, 3600u);
      EXPECT_EQ(c.properties.receive_maximum, 500);
      EXPECT_EQ(c.properties.maximum_packet_size, 4096u);
    }
  }
}

TEST(MqttCodec, UnsupportedProtocolLevelIsNamed) {
  std::string pkt = EncodeConnect({.version = 3});
  FixedHeader h;
  ConnectPacket c;
  EXPECT_EQ(DecodeConnect(h.flags, Body(pkt, &h), &c).reason, reason::kUnsupportedProtocolVersion);
}

TEST(MqttCodec, ConnectReservedFlagIsMalformed) {
  std::string pkt = EncodeConnect({});
  pkt[2 + 6 + 1] |= 0x01;  // fixed header, "MQTT" string, level, then the flags
  FixedHeader h;
  ConnectPacket c;
  EXPECT_EQ(DecodeConnect(h.flags, Body(pkt, &h), &c).reason, reason::kMalformed);
}

TEST(MqttCodec, PublishRoundTripsAtEveryQos) {
  for (uint8_t v : {kV311, kV5}) {
    for (uint8_t qos = 0; qos <= 2; qos++) {
      std::string pkt = EncodePublish(v, qos, "db/dev/1", qos ? 7 : 0, "m v=1\nm v=2", qos > 0, true);
      FixedHeader h;
      std::string_view body = Body(pkt, &h);
      PublishPacket p;
      CodecError e = DecodePublish(v, h.flags, body, &p);
      ASSERT_TRUE(e.ok()) << e.message;
      EXPECT_EQ(p.qos, qos);
      EXPECT_EQ(p.topic, "db/dev/1");
      EXPECT_EQ(p.packet_id, qos ? 7 : 0);
      EXPECT_EQ(p.payload, "m v=1\nm v=2");
      EXPECT_TRUE(p.retain);
      EXPECT_EQ(p.dup, qos > 0);
    }
  }
}

TEST(MqttCodec, PublishWithWildcardTopicIsRejected) {
  for (const char* topic : {"db/+/x", "db/#"}) {
    std::string pkt = EncodePublish(kV5, 1, topic, 1, "x");
    FixedHeader h;
    PublishPacket p;
    EXPECT_EQ(DecodePublish(kV5, h.flags, Body(pkt, &h), &p).reason, reason::kTopicNameInvalid) << topic;
  }
}

TEST(MqttCodec, PublishTopicMustBeUtf8) {
  std::string pkt = EncodePublish(kV311, 0, "db/\xC0\xAF", 0, "x");  // overlong '/'
  FixedHeader h;
  PublishPacket p;
  EXPECT_EQ(DecodePublish(kV311, h.flags, Body(pkt, &h), &p).reason, reason::kTopicNameInvalid);
  pkt = EncodePublish(kV311, 0, std::string("db/\0x", 5), 0, "x");
  EXPECT_FALSE(DecodePublish(kV311, h.flags, Body(pkt, &h), &p).ok());
}

TEST(MqttCodec, PacketIdZeroIsRejectedAboveQos0) {
  std::string pkt = EncodePublish(kV311, 1, "db/x", 0, "x");
  FixedHeader h;
  PublishPacket p;
  EXPECT_EQ(DecodePublish(kV311, h.flags, Body(pkt, &h), &p).reason, reason::kProtocolError);
}

TEST(MqttCodec, Qos3AndDupAtQos0AreMalformed) {
  std::string pkt = EncodePublish(kV311, 0, "db/x", 0, "x");
  pkt[0] = 0x36;  // QoS 3
  FixedHeader h;
  PublishPacket p;
  EXPECT_EQ(DecodePublish(kV311, h.flags, Body(pkt, &h), &p).reason, reason::kMalformed);
  pkt[0] = 0x38;  // DUP, QoS 0
  EXPECT_EQ(DecodePublish(kV311, h.flags, Body(pkt, &h), &p).reason, reason::kMalformed);
}

TEST(MqttCodec, UnknownPropertyIsMalformedAndKnownOnesAreSkipped) {
  // PUBLISH v5 with a user property and a content type (skipped), then with
  // property id 0x7F (undefined).
  std::string body;
  body += std::string(
      "\x00\x04"
      "db/x",
      6);
  body += std::string("\x00\x01", 2);  // packet id 1
  std::string props;
  props += std::string("\x26\x00\x01k\x00\x01v", 7);
  props += std::string("\x03\x00\x04text", 7);
  body.push_back(static_cast<char>(props.size()));
  body += props;
  body += "m v=1";
  PublishPacket p;
  CodecError e = DecodePublish(kV5, 0x02, body, &p);
  ASSERT_TRUE(e.ok()) << e.message;
  EXPECT_EQ(p.properties.user_properties, 1);
  EXPECT_EQ(p.payload, "m v=1");

  std::string bad = std::string(
      "\x00\x04"
      "db/x\x00\x01\x02\x7F\x00",
      11);
  EXPECT_EQ(DecodePublish(kV5, 0x02, bad, &p).reason, reason::kMalformed);
}

TEST(MqttCodec, DuplicatePropertyIsAProtocolError) {
  std::string body = std::string(
      "\x00\x04"
      "db/x\x00\x01",
      8);
  body += std::string("\x04\x01\x01\x01\x01", 5);  // payload format indicator twice
  PublishPacket p;
  EXPECT_EQ(DecodePublish(kV5, 0x02, body, &p).reason, reason::kProtocolError);
}

TEST(MqttCodec, PropertyLengthPastThePacketIsMalformed) {
  std::string body = std::string(
      "\x00\x04"
      "db/x\x00\x01\x09\x01",
      10);
  PublishPacket p;
  EXPECT_EQ(DecodePublish(kV5, 0x02, body, &p).reason, reason::kMalformed);
}

TEST(MqttCodec, ReceiveMaximumZeroIsAProtocolError) {
  ConnectOptions o{.version = kV5, .receive_maximum = 0};
  std::string pkt = EncodeConnect(o);
  FixedHeader h;
  ConnectPacket c;
  EXPECT_EQ(DecodeConnect(h.flags, Body(pkt, &h), &c).reason, reason::kProtocolError);
}

TEST(MqttCodec, TopicAliasIsRefusedSinceWeAnnounceNone) {
  std::string body = std::string(
      "\x00\x04"
      "db/x\x00\x01\x03\x23\x00\x01",
      12);
  PublishPacket p;
  EXPECT_EQ(DecodePublish(kV5, 0x02, body, &p).reason, reason::kTopicAliasInvalid);
}

TEST(MqttCodec, AcksRoundTripShortAndLongForms) {
  for (PacketType t : {PacketType::kPuback, PacketType::kPubrec, PacketType::kPubrel, PacketType::kPubcomp}) {
    std::string pkt = EncodeAck(kV5, t, 42, reason::kPayloadFormatInvalid, "bad line 1");
    FixedHeader h;
    std::string_view body = Body(pkt, &h);
    EXPECT_EQ(h.type, t);
    AckPacket a;
    CodecError e = DecodeAck(kV5, t, h.flags, body, &a);
    ASSERT_TRUE(e.ok()) << e.message;
    EXPECT_EQ(a.packet_id, 42);
    EXPECT_EQ(a.reason, reason::kPayloadFormatInvalid);
    EXPECT_EQ(a.properties.reason_string, "bad line 1");
    std::string short_form = EncodeAck(kV5, t, 42);
    EXPECT_EQ(short_form.size(), 4u);
    std::string v3 = EncodeAck(kV311, t, 42, reason::kPayloadFormatInvalid);
    EXPECT_EQ(v3.size(), 4u) << "3.1.1 acknowledgements have no reason code";
  }
}

TEST(MqttCodec, PubrelNeedsFlagsTwo) {
  AckPacket a;
  EXPECT_EQ(DecodeAck(kV311, PacketType::kPubrel, 0, std::string("\x00\x01", 2), &a).reason,
            reason::kMalformed);
  EXPECT_TRUE(DecodeAck(kV311, PacketType::kPubrel, 2, std::string("\x00\x01", 2), &a).ok());
}

TEST(MqttCodec, SubscribeDecodesFiltersAndChecksOptions) {
  std::string pkt = EncodeSubscribe(kV5, 9, {"a/+/c", "d/#"}, 1);
  FixedHeader h;
  std::string_view body = Body(pkt, &h);
  SubscribePacket s;
  CodecError e = DecodeSubscribe(kV5, h.flags, body, &s);
  ASSERT_TRUE(e.ok()) << e.message;
  ASSERT_EQ(s.filters.size(), 2u);
  EXPECT_EQ(s.filters[1], "d/#");
  EXPECT_EQ(s.options[0], 1);
  // 3.1.1: option bits above QoS are reserved.
  std::string v3 = EncodeSubscribe(kV311, 9, {"a"}, 0x04);
  EXPECT_EQ(DecodeSubscribe(kV311, 2, Body(v3, &h), &s).reason, reason::kMalformed);
  // No filter at all.
  EXPECT_EQ(DecodeSubscribe(kV311, 2, std::string("\x00\x01", 2), &s).reason, reason::kProtocolError);
}

TEST(MqttCodec, UnsubscribeRoundTrips) {
  std::string pkt = EncodeUnsubscribe(kV311, 3, {"x/y"});
  FixedHeader h;
  std::string_view body = Body(pkt, &h);
  SubscribePacket s;
  ASSERT_TRUE(DecodeUnsubscribe(kV311, h.flags, body, &s).ok());
  EXPECT_EQ(s.filters[0], "x/y");
}

TEST(MqttCodec, TopicFilterValidation) {
  EXPECT_TRUE(IsValidTopicFilter("a/+/c"));
  EXPECT_TRUE(IsValidTopicFilter("#"));
  EXPECT_TRUE(IsValidTopicFilter("+"));
  EXPECT_FALSE(IsValidTopicFilter("a/b#"));
  EXPECT_FALSE(IsValidTopicFilter("a/#/c"));
  EXPECT_FALSE(IsValidTopicFilter("a+/b"));
  EXPECT_FALSE(IsValidTopicFilter(""));
}

TEST(MqttCodec, Utf8Validation) {
  EXPECT_TRUE(IsValidMqttUtf8("caf\xC3\xA9 \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidMqttUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(IsValidMqttUtf8("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(IsValidMqttUtf8("\xC3"));              // cut short
  EXPECT_FALSE(IsValidMqttUtf8("\xF4\x90\x80\x80"));  // past U+10FFFF
}

TEST(MqttCodec, DisconnectAndPingAreStrict) {
  DisconnectPacket d;
  EXPECT_TRUE(DecodeDisconnect(kV311, 0, "", &d).ok());
  EXPECT_EQ(DecodeDisconnect(kV311, 0, "x", &d).reason, reason::kMalformed);
  std::string v5 = EncodeClientDisconnect(kV5, 0x04, 60);
  FixedHeader h;
  ASSERT_TRUE(DecodeDisconnect(kV5, 0, Body(v5, &h), &d).ok());
  EXPECT_EQ(d.reason, 0x04);
  EXPECT_EQ(d.properties.session_expiry_interval, 60u);
  EXPECT_TRUE(DecodeEmpty(PacketType::kPingreq, 0, "").ok());
  EXPECT_FALSE(DecodeEmpty(PacketType::kPingreq, 1, "").ok());
  EXPECT_FALSE(DecodeEmpty(PacketType::kPingreq, 0, "x").ok());
}

TEST(MqttCodec, ConnackCarriesTheServerLimitsOnV5Only) {
  ConnackProperties p{.receive_maximum = 100, .maximum_packet_size = 1 << 20};
  std::string v3 = EncodeConnack(kV311, true, reason::kNotAuthorized, p);
  EXPECT_EQ(v3, std::string("\x20\x02\x00\x05", 4));
  std::string v5 = EncodeConnack(kV5, false, 0, p);
  EXPECT_EQ(static_cast<uint8_t>(v5[0]), 0x20);
  EXPECT_NE(v5.find(std::string("\x21\x00\x64", 3)), std::string::npos);
  EXPECT_NE(v5.find(std::string("\x27\x00\x10\x00\x00", 5)), std::string::npos);
}

}  // namespace
}  // namespace m2mdb::server::mqtt
