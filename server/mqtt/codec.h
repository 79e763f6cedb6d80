// MQTT 3.1.1 and 5.0 control packets (OASIS mqtt-v3.1.1 and mqtt-v5.0),
// decoded strictly and encoded for the listener (server/mqtt/listener.h).
// docs/mqtt.md describes what the server does with them.
//
// Framing: a packet is a fixed header (one byte of type and flags, then the
// remaining length as a variable byte integer of at most 4 bytes) followed by
// `remaining length` bytes. ParseFixedHeader frames; the Decode* functions
// take the bytes after the fixed header ("body").
//
// Decoded packets hold string_views into the body: they live as long as the
// caller keeps the body. Nothing here allocates for a PUBLISH.
//
// Errors are CodecError values carrying the MQTT 5 reason code a server
// answers with (0x81 malformed, 0x82 protocol error, 0x90 topic name invalid,
// ...) and a sentence for the log; on 3.1.1 the listener closes the
// connection instead, as that version prescribes.
//
// Thread-safety: pure functions.
#ifndef M2MDB_SERVER_MQTT_CODEC_H_
#define M2MDB_SERVER_MQTT_CODEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace m2mdb::server::mqtt {

// Protocol levels of the CONNECT packet.
inline constexpr uint8_t kV311 = 4;
inline constexpr uint8_t kV5 = 5;

// The largest remaining length a 4-byte variable byte integer can hold.
inline constexpr uint32_t kMaxRemainingLength = 268435455;

enum class PacketType : uint8_t {
  kConnect = 1,
  kConnack = 2,
  kPublish = 3,
  kPuback = 4,
  kPubrec = 5,
  kPubrel = 6,
  kPubcomp = 7,
  kSubscribe = 8,
  kSuback = 9,
  kUnsubscribe = 10,
  kUnsuback = 11,
  kPingreq = 12,
  kPingresp = 13,
  kDisconnect = 14,
  kAuth = 15,
};

// MQTT 5 reason codes (§2.4) the server uses. 3.1.1 has only CONNACK return
// codes (ConnackCodeV311) and the SUBACK failure 0x80.
namespace reason {
inline constexpr uint8_t kSuccess = 0x00;
inline constexpr uint8_t kNoMatchingSubscribers = 0x10;
inline constexpr uint8_t kUnspecified = 0x80;
inline constexpr uint8_t kMalformed = 0x81;
inline constexpr uint8_t kProtocolError = 0x82;
inline constexpr uint8_t kImplementationSpecific = 0x83;
inline constexpr uint8_t kUnsupportedProtocolVersion = 0x84;
inline constexpr uint8_t kClientIdNotValid = 0x85;
inline constexpr uint8_t kBadUserNameOrPassword = 0x86;
inline constexpr uint8_t kNotAuthorized = 0x87;
inline constexpr uint8_t kServerUnavailable = 0x88;
inline constexpr uint8_t kServerBusy = 0x89;
inline constexpr uint8_t kBadAuthenticationMethod = 0x8C;
inline constexpr uint8_t kKeepAliveTimeout = 0x8D;
inline constexpr uint8_t kSessionTakenOver = 0x8E;
inline constexpr uint8_t kTopicFilterInvalid = 0x8F;
inline constexpr uint8_t kTopicNameInvalid = 0x90;
inline constexpr uint8_t kPacketIdNotFound = 0x92;
inline constexpr uint8_t kReceiveMaximumExceeded = 0x93;
inline constexpr uint8_t kTopicAliasInvalid = 0x94;
inline constexpr uint8_t kPacketTooLarge = 0x95;
inline constexpr uint8_t kQuotaExceeded = 0x97;
inline constexpr uint8_t kPayloadFormatInvalid = 0x99;
inline constexpr uint8_t kConnectionRateExceeded = 0x9F;
inline constexpr uint8_t kServerShuttingDown = 0x8B;
}  // namespace reason

// 3.1.1 CONNACK return code for an MQTT 5 CONNACK reason code.
uint8_t ConnackCodeV311(uint8_t reason_v5);

// A decoding failure: `reason` is what an MQTT 5 server answers (in a
// DISCONNECT or CONNACK); 0 means no error.
struct CodecError {
  uint8_t reason = 0;
  std::string message;
  bool ok() const { return reason == 0; }
};

struct FixedHeader {
  PacketType type = PacketType::kConnect;
  uint8_t flags = 0;         // the low four bits of the first byte
  uint32_t remaining = 0;    // bytes after the fixed header
  uint8_t header_bytes = 0;  // 2..5
  size_t total() const { return header_bytes + size_t{remaining}; }
};

enum class FrameStatus {
  kIncomplete,  // more bytes needed to know (or hold) the packet
  kComplete,    // *header is filled and data holds the whole packet
  kMalformed,   // a fifth remaining-length byte, or packet type 0
  kTooLarge,    // header.total() > max_packet_size (header is filled)
};

// Frames the packet at the start of `data`. kTooLarge is reported as soon as
// the remaining length is known, before its bytes arrive, so a reader never
// buffers an oversize packet.
FrameStatus ParseFixedHeader(std::string_view data, uint32_t max_packet_size, FixedHeader* header);

// MQTT 5 properties (§2.2.2). Every property of the specification is parsed
// (and its type checked); the ones the server has no use for are skipped. An
// identifier the specification does not define is a malformed packet.
struct Properties {
  std::optional<uint32_t> session_expiry_interval;
  std::optional<uint16_t> receive_maximum;
  std::optional<uint32_t> maximum_packet_size;
  std::optional<uint16_t> topic_alias_maximum;
  std::optional<uint16_t> topic_alias;
  std::optional<uint8_t> payload_format_indicator;
  std::optional<uint8_t> request_problem_information;
  std::optional<std::string_view> authentication_method;
  std::optional<std::string_view> reason_string;
  int user_properties = 0;
};

struct ConnectPacket {
  uint8_t version = kV311;
  bool clean_start = true;  // 3.1.1: Clean Session
  uint16_t keep_alive = 0;  // seconds; 0 = off
  std::string_view client_id;
  std::optional<std::string_view> username;
  std::optional<std::string_view> password;
  bool will = false;
  uint8_t will_qos = 0;
  bool will_retain = false;
  std::string_view will_topic;
  std::string_view will_payload;
  Properties properties;
};

struct PublishPacket {
  uint8_t qos = 0;
  bool dup = false;
  bool retain = false;
  std::string_view topic;
  uint16_t packet_id = 0;  // nonzero iff qos > 0
  std::string_view payload;
  Properties properties;
};

// PUBACK, PUBREC, PUBREL, PUBCOMP.
struct AckPacket {
  PacketType type = PacketType::kPuback;
  uint16_t packet_id = 0;
  uint8_t reason = reason::kSuccess;
  Properties properties;
};

// SUBSCRIBE (options filled) and UNSUBSCRIBE.
struct SubscribePacket {
  uint16_t packet_id = 0;
  std::vector<std::string_view> filters;
  std::vector<uint8_t> options;  // SUBSCRIBE only, one per filter
  Properties properties;
};

struct DisconnectPacket {
  uint8_t reason = reason::kSuccess;
  Properties properties;
};

// Decoders of each packet's body (the bytes after the fixed header). `flags`
// are the fixed header's low bits, checked against what the type requires.
// CONNECT carries the version; every other decoder takes the connection's.
// An unsupported protocol level is reason::kUnsupportedProtocolVersion (and
// *out->version holds it, so the CONNACK can be sent in the client's level).
CodecError DecodeConnect(uint8_t flags, std::string_view body, ConnectPacket* out);
CodecError DecodePublish(uint8_t version, uint8_t flags, std::string_view body, PublishPacket* out);
CodecError DecodeAck(uint8_t version, PacketType type, uint8_t flags, std::string_view body, AckPacket* out);
CodecError DecodeSubscribe(uint8_t version, uint8_t flags, std::string_view body, SubscribePacket* out);
CodecError DecodeUnsubscribe(uint8_t version, uint8_t flags, std::string_view body, SubscribePacket* out);
CodecError DecodeDisconnect(uint8_t version, uint8_t flags, std::string_view body, DisconnectPacket* out);
// PINGREQ and PINGRESP: no body, flags 0.
CodecError DecodeEmpty(PacketType type, uint8_t flags, std::string_view body);

// True if `s` is well-formed UTF-8 without U+0000 (§1.5.4).
bool IsValidMqttUtf8(std::string_view s);
// A topic name a PUBLISH may carry: non-empty, valid UTF-8, no wildcards.
bool IsValidTopicName(std::string_view s);
// A topic filter: non-empty, valid UTF-8, '+' a whole level, '#' a whole last
// level.
bool IsValidTopicFilter(std::string_view s);

// ---- Encoders ----
// What the server announces in a CONNACK (MQTT 5 only; 3.1.1 has none).
struct ConnackProperties {
  std::optional<uint32_t> session_expiry_interval = {};
  std::optional<uint16_t> receive_maximum = {};
  std::optional<uint32_t> maximum_packet_size = {};
  std::optional<std::string> assigned_client_id = {};
  std::optional<uint16_t> server_keep_alive = {};
  std::string reason_string = {};  // omitted when empty
  // A sink: no wildcard, shared or identified subscriptions are served.
  bool announce_no_subscriptions = true;
};

// `reason` is an MQTT 5 reason code; for 3.1.1 it is mapped by
// ConnackCodeV311.
std::string EncodeConnack(uint8_t version, bool session_present, uint8_t reason,
                          const ConnackProperties& properties);
// PUBACK/PUBREC/PUBREL/PUBCOMP. On 3.1.1 reason and reason_string are
// dropped. On 5 the short form (no reason byte) is used for success without a
// reason string.
std::string EncodeAck(uint8_t version, PacketType type, uint16_t packet_id, uint8_t reason = 0,
                      std::string_view reason_string = {});
std::string EncodeSuback(uint8_t version, uint16_t packet_id, const std::vector<uint8_t>& codes,
                         std::string_view reason_string = {});
// 3.1.1 UNSUBACK has no codes; 5 has one per filter.
std::string EncodeUnsuback(uint8_t version, uint16_t packet_id, const std::vector<uint8_t>& codes);
std::string EncodePingresp();
std::string EncodePingreq();
// MQTT 5 only (3.1.1 servers close without a packet).
std::string EncodeDisconnect(uint8_t reason, std::string_view reason_string = {});

// Client-side encoders, for tests, the fuzz target's seeds and tools.
struct ConnectOptions {
  uint8_t version = kV311;
  bool clean_start = true;
  uint16_t keep_alive = 60;
  std::string client_id = {};
  std::optional<std::string> username = {};
  std::optional<std::string> password = {};
  std::optional<uint32_t> session_expiry_interval = {};  // 5 only
  std::optional<uint16_t> receive_maximum = {};          // 5 only
  std::optional<uint32_t> maximum_packet_size = {};      // 5 only
};
std::string EncodeConnect(const ConnectOptions& options);
std::string EncodePublish(uint8_t version, uint8_t qos, std::string_view topic, uint16_t packet_id,
                          std::string_view payload, bool dup = false, bool retain = false);
std::string EncodeSubscribe(uint8_t version, uint16_t packet_id, const std::vector<std::string>& filters,
                            uint8_t qos = 1);
std::string EncodeUnsubscribe(uint8_t version, uint16_t packet_id, const std::vector<std::string>& filters);
// A DISCONNECT with a reason and properties on 5, empty on 3.1.1.
std::string EncodeClientDisconnect(uint8_t version, uint8_t reason = 0,
                                   std::optional<uint32_t> session_expiry_interval = std::nullopt);

// Appends `v` as a variable byte integer (v <= kMaxRemainingLength).
void AppendVarInt(std::string* out, uint32_t v);

}  // namespace m2mdb::server::mqtt

#endif  // M2MDB_SERVER_MQTT_CODEC_H_
