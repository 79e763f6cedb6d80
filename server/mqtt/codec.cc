// MQTT 3.1.1 / 5.0 packet layout (big-endian integers throughout):
//
//   fixed header   byte 0: type << 4 | flags; then the remaining length as a
//                  variable byte integer (7 bits per byte, high bit = more,
//                  at most 4 bytes)
//   strings        uint16 length + bytes (UTF-8 strings must be valid UTF-8
//                  without U+0000; binary data is not checked)
//   properties     (5 only) variable byte integer length + a sequence of
//                  (variable byte integer identifier, typed value)
//
// A decoder never reads past its body and rejects trailing bytes: a packet
// whose parts do not add up to its remaining length is malformed.
#include "server/mqtt/codec.h"

#include <cstring>

namespace m2mdb::server::mqtt {
namespace {

CodecError Malformed(std::string message) { return {reason::kMalformed, std::move(message)}; }
CodecError ProtocolError(std::string message) { return {reason::kProtocolError, std::move(message)}; }

// Bounds-checked big-endian reader over one packet body.
class Reader {
 public:
  explicit Reader(std::string_view s) : p_(reinterpret_cast<const uint8_t*>(s.data())), end_(p_ + s.size()) {}

  size_t left() const { return static_cast<size_t>(end_ - p_); }
  bool Byte(uint8_t* v) {
    if (p_ == end_) return false;
    *v = *p_++;
    return true;
  }
  bool U16(uint16_t* v) {
    if (left() < 2) return false;
    *v = static_cast<uint16_t>(p_[0] << 8 | p_[1]);
    p_ += 2;
    return true;
  }
  bool U32(uint32_t* v) {
    if (left() < 4) return false;
    *v = uint32_t{p_[0]} << 24 | uint32_t{p_[1]} << 16 | uint32_t{p_[2]} << 8 | p_[3];
    p_ += 4;
    return true;
  }
  // A variable byte integer of at most 4 bytes (§1.5.5).
  bool VarInt(uint32_t* v) {
    uint32_t value = 0;
    for (int i = 0; i < 4; i++) {
      uint8_t b;
      if (!Byte(&b)) return false;
      value |= uint32_t{b & 0x7Fu} << (7 * i);
      if ((b & 0x80) == 0) {
        *v = value;
        return true;
      }
    }
    return false;
  }
  bool Binary(std::string_view* v) {
    uint16_t n;
    if (!U16(&n) || left() < n) return false;
    *v = std::string_view(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return true;
  }
  bool Bytes(size_t n, std::string_view* v) {
    if (left() < n) return false;
    *v = std::string_view(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return true;
  }
  std::string_view Rest() {
    std::string_view v(reinterpret_cast<const char*>(p_), left());
    p_ = end_;
    return v;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

// Reads a UTF-8 string; false with *error set on a bad one.
bool ReadString(Reader* r, std::string_view* v, const char* what, CodecError* error) {
  if (!r->Binary(v)) {
    *error = Malformed(std::string(what) + " is cut short");
    return false;
  }
  if (!IsValidMqttUtf8(*v)) {
    *error = Malformed(std::string(what) + " is not valid UTF-8");
    return false;
  }
  return true;
}

// Property value types (§2.2.2.2).
enum class PropType : uint8_t { kNone, kByte, kU16, kU32, kVarInt, kString, kBinary, kPair };

PropType TypeOf(uint32_t id) {
  switch (id) {
    case 0x01:
    case 0x17:
    case 0x19:
    case 0x24:
    case 0x25:
    case 0x28:
    case 0x29:
    case 0x2A:
      return PropType::kByte;
    case 0x13:
    case 0x21:
    case 0x22:
    case 0x23:
      return PropType::kU16;
    case 0x02:
    case 0x11:
    case 0x18:
    case 0x27:
      return PropType::kU32;
    case 0x0B:
      return PropType::kVarInt;
    case 0x03:
    case 0x08:
    case 0x12:
    case 0x15:
    case 0x1A:
    case 0x1C:
    case 0x1F:
      return PropType::kString;
    case 0x09:
    case 0x16:
      return PropType::kBinary;
    case 0x26:
      return PropType::kPair;
    default:
      return PropType::kNone;
  }
}

// Reads a property block (5 only). Single-valued properties may appear once
// (§2.2.2.2: "It is a Protocol Error to include ... more than once").
CodecError ReadProperties(Reader* r, Properties* out) {
  uint32_t length;
  if (!r->VarInt(&length)) return Malformed("properties length is cut short or longer than 4 bytes");
  std::string_view block;
  if (!r->Bytes(length, &block)) return Malformed("properties are longer than the packet");
  Reader pr(block);
  uint64_t seen = 0;  // bit per identifier < 64
  while (pr.left() > 0) {
    uint32_t id;
    if (!pr.VarInt(&id)) return Malformed("property identifier is cut short");
    const PropType type = TypeOf(id);
    if (type == PropType::kNone) return Malformed("unknown property identifier " + std::to_string(id));
    if (id != 0x26 && id != 0x0B) {
      if (seen & (uint64_t{1} << id)) return ProtocolError("property " + std::to_string(id) + " given twice");
      seen |= uint64_t{1} << id;
    }
    uint8_t b = 0;
    uint16_t u16 = 0;
    uint32_t u32 = 0;
    std::string_view s, s2;
    bool ok = true;
    CodecError err;
    switch (type) {
      case PropType::kByte:
        ok = pr.Byte(&b);
        break;
      case PropType::kU16:
        ok = pr.U16(&u16);
        break;
      case PropType::kU32:
        ok = pr.U32(&u32);
        break;
      case PropType::kVarInt:
        ok = pr.VarInt(&u32);
        break;
      case PropType::kBinary:
        ok = pr.Binary(&s);
        break;
      case PropType::kString:
        if (!ReadString(&pr, &s, "a string property", &err)) return err;
        break;
      case PropType::kPair:
        if (!ReadString(&pr, &s, "a user property name", &err)) return err;
        if (!ReadString(&pr, &s2, "a user property value", &err)) return err;
        break;
      case PropType::kNone:
        break;
    }
    if (!ok) return Malformed("property " + std::to_string(id) + " is cut short");
    switch (id) {
      case 0x01:
        if (b > 1) return ProtocolError("payload format indicator must be 0 or 1");
        out->payload_format_indicator = b;
        break;
      case 0x11:
        out->session_expiry_interval = u32;
        break;
      case 0x15:
        out->authentication_method = s;
        break;
      case 0x17:
        if (b > 1) return ProtocolError("request problem information must be 0 or 1");
        out->request_problem_information = b;
        break;
      case 0x19:
        if (b > 1) return ProtocolError("request response information must be 0 or 1");
        break;
      case 0x1F:
        out->reason_string = s;
        break;
      case 0x21:
        if (u16 == 0) return ProtocolError("receive maximum must not be 0");
        out->receive_maximum = u16;
        break;
      case 0x22:
        out->topic_alias_maximum = u16;
        break;
      case 0x23:
        out->topic_alias = u16;
        break;
      case 0x26:
        out->user_properties++;
        break;
      case 0x27:
        if (u32 == 0) return ProtocolError("maximum packet size must not be 0");
        out->maximum_packet_size = u32;
        break;
      case 0x0B:
        if (u32 == 0) return ProtocolError("subscription identifier must not be 0");
        break;
      default:
        break;  // parsed, of no use to a sink
    }
  }
  return {};
}

CodecError CheckFlags(uint8_t flags, uint8_t want, const char* what) {
  if (flags != want) return Malformed(std::string("reserved flags of ") + what + " are not as required");
  return {};
}

void AppendU16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v & 0xFF));
}
void AppendU32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xFF));
}
void AppendString(std::string* out, std::string_view s) {
  AppendU16(out, static_cast<uint16_t>(s.size()));
  out->append(s.data(), s.size());
}
// A packet: fixed header then `body`.
std::string Frame(uint8_t first_byte, std::string_view body) {
  std::string out;
  out.reserve(body.size() + 5);
  out.push_back(static_cast<char>(first_byte));
  AppendVarInt(&out, static_cast<uint32_t>(body.size()));
  out.append(body.data(), body.size());
  return out;
}
// Appends a property block (length + bytes).
void AppendProperties(std::string* out, std::string_view props) {
  AppendVarInt(out, static_cast<uint32_t>(props.size()));
  out->append(props.data(), props.size());
}
// The session limits both CONNECT and CONNACK carry (MQTT 5 properties
// 0x11, 0x21, 0x27), from either side's struct (same member names).
template <typename Limits>
void AppendSessionLimits(std::string* p, const Limits& l) {
  if (l.session_expiry_interval) {
    p->push_back(0x11);
    AppendU32(p, *l.session_expiry_interval);
  }
  if (l.receive_maximum) {
    p->push_back(0x21);
    AppendU16(p, *l.receive_maximum);
  }
  if (l.maximum_packet_size) {
    p->push_back(0x27);
    AppendU32(p, *l.maximum_packet_size);
  }
}
// A reason string no longer than what fits a 16-bit length.
std::string_view Clip(std::string_view s) { return s.substr(0, 1024); }

}  // namespace

uint8_t ConnackCodeV311(uint8_t reason_v5) {
  switch (reason_v5) {
    case reason::kSuccess:
      return 0;
    case reason::kUnsupportedProtocolVersion:
      return 1;
    case reason::kClientIdNotValid:
      return 2;
    case reason::kServerUnavailable:
    case reason::kServerBusy:
    case reason::kServerShuttingDown:
      return 3;
    case reason::kBadUserNameOrPassword:
      return 4;
    case reason::kNotAuthorized:
    case reason::kBadAuthenticationMethod:
      return 5;
    default:
      return 3;  // "server unavailable" is the closest to "refused for a reason of ours"
  }
}

void AppendVarInt(std::string* out, uint32_t v) {
  do {
    uint8_t b = v & 0x7F;
    v >>= 7;
    if (v != 0) b |= 0x80;
    out->push_back(static_cast<char>(b));
  } while (v != 0);
}

FrameStatus ParseFixedHeader(std::string_view data, uint32_t max_packet_size, FixedHeader* header) {
  if (data.empty()) return FrameStatus::kIncomplete;
  const uint8_t first = static_cast<uint8_t>(data[0]);
  if ((first >> 4) == 0) return FrameStatus::kMalformed;
  uint32_t remaining = 0;
  size_t i = 1;
  for (;; i++) {
    if (i > 4) return FrameStatus::kMalformed;
    if (i >= data.size()) return FrameStatus::kIncomplete;
    const uint8_t b = static_cast<uint8_t>(data[i]);
    remaining |= uint32_t{b & 0x7Fu} << (7 * (i - 1));
    if ((b & 0x80) == 0) break;
  }
  // A non-minimal encoding (a trailing 0x80 0x00) is tolerated: the spec
  // asks senders for the minimum but the value is unambiguous.
  header->type = static_cast<PacketType>(first >> 4);
  header->flags = first & 0x0F;
  header->remaining = remaining;
  header->header_bytes = static_cast<uint8_t>(i + 1);
  if (header->total() > max_packet_size) return FrameStatus::kTooLarge;
  if (data.size() < header->total()) return FrameStatus::kIncomplete;
  return FrameStatus::kComplete;
}

bool IsValidMqttUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const uint8_t c = *p;
    if (c < 0x80) {
      if (c == 0) return false;
      p++;
      continue;
    }
    int n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (end - p <= n) return false;
    for (int k = 1; k <= n; k++) {
      if ((p[k] & 0xC0) != 0x80) return false;
      cp = cp << 6 | (p[k] & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return false;
    p += n + 1;
  }
  return true;
}

bool IsValidTopicName(std::string_view s) {
  return !s.empty() && s.find_first_of("+#") == std::string_view::npos && IsValidMqttUtf8(s);
}

bool IsValidTopicFilter(std::string_view s) {
  if (s.empty() || !IsValidMqttUtf8(s)) return false;
  size_t start = 0;
  while (true) {
    const size_t slash = s.find('/', start);
    const std::string_view level = s.substr(start, slash == std::string_view::npos ? s.npos : slash - start);
    if (level.find_first_of("+#") != std::string_view::npos && level.size() != 1) return false;
    if (level == "#" && slash != std::string_view::npos) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

CodecError DecodeConnect(uint8_t flags, std::string_view body, ConnectPacket* out) {
  if (CodecError e = CheckFlags(flags, 0, "CONNECT"); !e.ok()) return e;
  Reader r(body);
  std::string_view name;
  uint8_t level, cflags;
  if (!r.Binary(&name) || !r.Byte(&level)) return Malformed("CONNECT variable header is cut short");
  if (name != "MQTT") {
    // "MQIsdp" is MQTT 3.1, which this server does not speak.
    out->version = kV311;
    if (name == "MQIsdp") return {reason::kUnsupportedProtocolVersion, "MQTT 3.1 is not supported"};
    return ProtocolError("protocol name is not MQTT");
  }
  out->version = level;
  if (level != kV311 && level != kV5) {
    return {reason::kUnsupportedProtocolVersion,
            "protocol level " + std::to_string(level) + " is not supported (4 = 3.1.1, 5 = 5.0)"};
  }
  if (!r.Byte(&cflags) || !r.U16(&out->keep_alive)) return Malformed("CONNECT variable header is cut short");
  if (cflags & 0x01) return Malformed("CONNECT reserved flag is set");
  out->clean_start = (cflags & 0x02) != 0;
  out->will = (cflags & 0x04) != 0;
  out->will_qos = (cflags >> 3) & 0x03;
  out->will_retain = (cflags & 0x20) != 0;
  const bool has_password = (cflags & 0x40) != 0;
  const bool has_username = (cflags & 0x80) != 0;
  if (out->will_qos == 3) return Malformed("will QoS 3");
  if (!out->will && (out->will_qos != 0 || out->will_retain)) {
    return Malformed("will QoS or retain set without a will");
  }
  if (out->version == kV311 && has_password && !has_username) {
    return Malformed("password without a user name (3.1.1)");
  }
  if (out->version == kV5) {
    if (CodecError e = ReadProperties(&r, &out->properties); !e.ok()) return e;
  }
  CodecError err;
  if (!ReadString(&r, &out->client_id, "client identifier", &err)) return err;
  if (out->will) {
    if (out->version == kV5) {
      Properties will_props;
      if (CodecError e = ReadProperties(&r, &will_props); !e.ok()) return e;
    }
    if (!ReadString(&r, &out->will_topic, "will topic", &err)) return err;
    if (!IsValidTopicName(out->will_topic))
      return {reason::kTopicNameInvalid, "will topic is not a topic name"};
    if (!r.Binary(&out->will_payload)) return Malformed("will payload is cut short");
  }
  if (has_username) {
    std::string_view u;
    if (!ReadString(&r, &u, "user name", &err)) return err;
    out->username = u;
  }
  if (has_password) {
    std::string_view p;
    if (!r.Binary(&p)) return Malformed("password is cut short");
    out->password = p;
  }
  if (r.left() != 0) return Malformed("CONNECT has bytes after its payload");
  return {};
}

CodecError DecodePublish(uint8_t version, uint8_t flags, std::string_view body, PublishPacket* out) {
  out->retain = (flags & 0x01) != 0;
  out->qos = (flags >> 1) & 0x03;
  out->dup = (flags & 0x08) != 0;
  if (out->qos == 3) return Malformed("PUBLISH with QoS 3");
  if (out->qos == 0 && out->dup) return Malformed("PUBLISH with QoS 0 and DUP set");
  Reader r(body);
  if (!r.Binary(&out->topic)) return Malformed("topic name is cut short");
  // A topic that is not UTF-8 is a bad topic name to a v5 client (0x90).
  if (!IsValidMqttUtf8(out->topic)) return {reason::kTopicNameInvalid, "topic name is not valid UTF-8"};
  if (out->qos > 0) {
    if (!r.U16(&out->packet_id)) return Malformed("PUBLISH packet identifier is cut short");
    if (out->packet_id == 0) return ProtocolError("PUBLISH at QoS > 0 with packet identifier 0");
  } else {
    out->packet_id = 0;
  }
  if (version == kV5) {
    if (CodecError e = ReadProperties(&r, &out->properties); !e.ok()) return e;
    // The server announces Topic Alias Maximum 0: any alias is invalid.
    if (out->properties.topic_alias) return {reason::kTopicAliasInvalid, "topic aliases are not supported"};
  }
  if (out->topic.find_first_of("+#") != std::string_view::npos) {
    return {reason::kTopicNameInvalid, "PUBLISH topic contains a wildcard"};
  }
  if (out->topic.empty()) return {reason::kTopicNameInvalid, "PUBLISH topic is empty"};
  out->payload = r.Rest();
  return {};
}

CodecError DecodeAck(uint8_t version, PacketType type, uint8_t flags, std::string_view body, AckPacket* out) {
  out->type = type;
  if (CodecError e = CheckFlags(flags, type == PacketType::kPubrel ? 2 : 0, "an acknowledgement"); !e.ok()) {
    return e;
  }
  Reader r(body);
  if (!r.U16(&out->packet_id)) return Malformed("acknowledgement is cut short");
  if (out->packet_id == 0) return ProtocolError("acknowledgement of packet identifier 0");
  out->reason = reason::kSuccess;
  if (version == kV5) {
    if (r.left() > 0) r.Byte(&out->reason);
    if (r.left() > 0) {
      if (CodecError e = ReadProperties(&r, &out->properties); !e.ok()) return e;
    }
  }
  if (r.left() != 0) return Malformed("acknowledgement has trailing bytes");
  return {};
}

namespace {
CodecError DecodeFilters(uint8_t version, uint8_t flags, std::string_view body, bool subscribe,
                         SubscribePacket* out) {
  if (CodecError e = CheckFlags(flags, 2, subscribe ? "SUBSCRIBE" : "UNSUBSCRIBE"); !e.ok()) return e;
  Reader r(body);
  if (!r.U16(&out->packet_id)) return Malformed("packet identifier is cut short");
  if (out->packet_id == 0) return ProtocolError("packet identifier 0");
  if (version == kV5) {
    if (CodecError e = ReadProperties(&r, &out->properties); !e.ok()) return e;
  }
  out->filters.clear();
  out->options.clear();
  CodecError err;
  while (r.left() > 0) {
    std::string_view filter;
    if (!ReadString(&r, &filter, "topic filter", &err)) return err;
    out->filters.push_back(filter);
    if (subscribe) {
      uint8_t o;
      if (!r.Byte(&o)) return Malformed("subscription options are cut short");
      const uint8_t reserved = version == kV5 ? 0xC0 : 0xFC;
      if ((o & reserved) != 0) return Malformed("reserved subscription option bits are set");
      if ((o & 0x03) == 3) return Malformed("subscription with QoS 3");
      if (version == kV5 && ((o >> 4) & 0x03) == 3) return ProtocolError("retain handling 3");
      out->options.push_back(o);
    }
  }
  if (out->filters.empty()) return ProtocolError("no topic filter");
  return {};
}
}  // namespace

CodecError DecodeSubscribe(uint8_t version, uint8_t flags, std::string_view body, SubscribePacket* out) {
  return DecodeFilters(version, flags, body, true, out);
}

CodecError DecodeUnsubscribe(uint8_t version, uint8_t flags, std::string_view body, SubscribePacket* out) {
  return DecodeFilters(version, flags, body, false, out);
}

CodecError DecodeDisconnect(uint8_t version, uint8_t flags, std::string_view body, DisconnectPacket* out) {
  if (CodecError e = CheckFlags(flags, 0, "DISCONNECT"); !e.ok()) return e;
  Reader r(body);
  out->reason = reason::kSuccess;
  if (version == kV5) {
    if (r.left() > 0) r.Byte(&out->reason);
    if (r.left() > 0) {
      if (CodecError e = ReadProperties(&r, &out->properties); !e.ok()) return e;
    }
  }
  if (r.left() != 0) return Malformed("DISCONNECT has trailing bytes");
  return {};
}

CodecError DecodeEmpty(PacketType type, uint8_t flags, std::string_view body) {
  if (CodecError e = CheckFlags(flags, 0, type == PacketType::kPingreq ? "PINGREQ" : "PINGRESP"); !e.ok()) {
    return e;
  }
  if (!body.empty()) return Malformed("a packet without body has one");
  return {};
}

std::string EncodeConnack(uint8_t version, bool session_present, uint8_t reason,
                          const ConnackProperties& properties) {
  std::string body;
  body.push_back(session_present && reason == 0 ? 1 : 0);
  if (version != kV5) {
    body.push_back(static_cast<char>(ConnackCodeV311(reason)));
    return Frame(0x20, body);
  }
  body.push_back(static_cast<char>(reason));
  std::string p;
  AppendSessionLimits(&p, properties);
  if (properties.assigned_client_id) {
    p.push_back(0x12);
    AppendString(&p, *properties.assigned_client_id);
  }
  if (properties.server_keep_alive) {
    p.push_back(0x13);
    AppendU16(&p, *properties.server_keep_alive);
  }
  if (properties.announce_no_subscriptions) {
    for (uint8_t id : {0x28, 0x29, 0x2A}) {  // wildcard, identifiers, shared
      p.push_back(static_cast<char>(id));
      p.push_back(0);
    }
  }
  if (!properties.reason_string.empty()) {
    p.push_back(0x1F);
    AppendString(&p, Clip(properties.reason_string));
  }
  AppendProperties(&body, p);
  return Frame(0x20, body);
}

std::string EncodeAck(uint8_t version, PacketType type, uint16_t packet_id, uint8_t reason,
                      std::string_view reason_string) {
  const uint8_t first =
      static_cast<uint8_t>(static_cast<uint8_t>(type) << 4 | (type == PacketType::kPubrel ? 2 : 0));
  std::string body;
  AppendU16(&body, packet_id);
  if (version == kV5 && (reason != 0 || !reason_string.empty())) {
    body.push_back(static_cast<char>(reason));
    std::string p;
    if (!reason_string.empty()) {
      p.push_back(0x1F);
      AppendString(&p, Clip(reason_string));
    }
    AppendProperties(&body, p);
  }
  return Frame(first, body);
}

std::string EncodeSuback(uint8_t version, uint16_t packet_id, const std::vector<uint8_t>& codes,
                         std::string_view reason_string) {
  std::string body;
  AppendU16(&body, packet_id);
  if (version == kV5) {
    std::string p;
    if (!reason_string.empty()) {
      p.push_back(0x1F);
      AppendString(&p, Clip(reason_string));
    }
    AppendProperties(&body, p);
  }
  for (uint8_t c : codes) body.push_back(static_cast<char>(c));
  return Frame(0x90, body);
}

std::string EncodeUnsuback(uint8_t version, uint16_t packet_id, const std::vector<uint8_t>& codes) {
  std::string body;
  AppendU16(&body, packet_id);
  if (version == kV5) {
    AppendProperties(&body, {});
    for (uint8_t c : codes) body.push_back(static_cast<char>(c));
  }
  return Frame(0xB0, body);
}

std::string EncodePingresp() { return std::string("\xD0\x00", 2); }
std::string EncodePingreq() { return std::string("\xC0\x00", 2); }

std::string EncodeDisconnect(uint8_t reason, std::string_view reason_string) {
  std::string body;
  body.push_back(static_cast<char>(reason));
  std::string p;
  if (!reason_string.empty()) {
    p.push_back(0x1F);
    AppendString(&p, Clip(reason_string));
  }
  AppendProperties(&body, p);
  return Frame(0xE0, body);
}

std::string EncodeConnect(const ConnectOptions& o) {
  std::string body;
  AppendString(&body, "MQTT");
  body.push_back(static_cast<char>(o.version));
  uint8_t flags = o.clean_start ? 0x02 : 0;
  if (o.password) flags |= 0x40;
  if (o.username) flags |= 0x80;
  body.push_back(static_cast<char>(flags));
  AppendU16(&body, o.keep_alive);
  if (o.version == kV5) {
    std::string p;
    AppendSessionLimits(&p, o);
    AppendProperties(&body, p);
  }
  AppendString(&body, o.client_id);
  if (o.username) AppendString(&body, *o.username);
  if (o.password) AppendString(&body, *o.password);
  return Frame(0x10, body);
}

std::string EncodePublish(uint8_t version, uint8_t qos, std::string_view topic, uint16_t packet_id,
                          std::string_view payload, bool dup, bool retain) {
  std::string body;
  AppendString(&body, topic);
  if (qos > 0) AppendU16(&body, packet_id);
  if (version == kV5) AppendProperties(&body, {});
  body.append(payload.data(), payload.size());
  return Frame(static_cast<uint8_t>(0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 1 : 0)), body);
}

std::string EncodeSubscribe(uint8_t version, uint16_t packet_id, const std::vector<std::string>& filters,
                            uint8_t qos) {
  std::string body;
  AppendU16(&body, packet_id);
  if (version == kV5) AppendProperties(&body, {});
  for (const auto& f : filters) {
    AppendString(&body, f);
    body.push_back(static_cast<char>(qos));
  }
  return Frame(0x82, body);
}

std::string EncodeUnsubscribe(uint8_t version, uint16_t packet_id, const std::vector<std::string>& filters) {
  std::string body;
  AppendU16(&body, packet_id);
  if (version == kV5) AppendProperties(&body, {});
  for (const auto& f : filters) AppendString(&body, f);
  return Frame(0xA2, body);
}

std::string EncodeClientDisconnect(uint8_t version, uint8_t reason,
                                   std::optional<uint32_t> session_expiry_interval) {
  if (version != kV5) return std::string("\xE0\x00", 2);
  std::string body;
  body.push_back(static_cast<char>(reason));
  std::string p;
  if (session_expiry_interval) {
    p.push_back(0x11);
    AppendU32(&p, *session_expiry_interval);
  }
  AppendProperties(&body, p);
  return Frame(0xE0, body);
}

}  // namespace m2mdb::server::mqtt
