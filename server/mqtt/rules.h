// Topic rules of the MQTT listener (`--mqtt-rules FILE`, docs/mqtt.md
// "Rules"): a topic pattern with named wildcards maps a message to a
// database, measurement, tags and payload format. One rule per line:
//
//   PATTERN key=value ...
//   # comment
//
//   sensors/+site/+device/#  db=plant measurement=+device format=json tag.site=+site tag.user=%username
//
// Pattern levels are literals, `+name` (one level, bound to name) or a last
// `#` (any rest). Values are literals, `+name` (the level bound by the
// pattern), `%username` or `%client_id` (the connection's identity). Keys:
//   db=            database (default: the first topic level)
//   measurement=   measurement (lp: overrides the payload's; json/value: required)
//   format=        lp (default) | json | value
//   field=         the field of a `value` payload (default: value)
//   time_key=      the time member of a `json` payload (default: time)
//   precision=     ns (default) | us | ms | s: of the payload's timestamps
//   tag.KEY=       a tag stamped on every point, replacing a payload tag of the
//                  same key (so a device cannot write as another)
// The first matching rule wins; a topic no rule matches takes the default
// mapping (first level = database, line protocol).
//
// Thread-safety: a Rules is immutable after Parse; Map is const.
#ifndef M2MDB_SERVER_MQTT_RULES_H_
#define M2MDB_SERVER_MQTT_RULES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "m2mdb/status.h"

namespace m2mdb::server::mqtt {

struct Identity {
  std::string_view username;
  std::string_view client_id;
};

struct MappedMessage {
  std::string database;
  std::string body;  // line protocol
  std::string precision = "ns";
};

class Rules {
 public:
  // Parses the rules text; an error names the line.
  static StatusOr<Rules> Parse(std::string_view text);
  static StatusOr<Rules> Load(const std::string& path);

  bool empty() const { return rules_.empty(); }
  size_t size() const { return rules_.size(); }

  // Maps one message. Returns 0 and fills *out, or an MQTT 5 reason code
  // (0x90 topic name invalid, 0x99 payload format invalid) with *error.
  uint8_t Map(std::string_view topic, std::string_view payload, const Identity& identity, MappedMessage* out,
              std::string* error) const;

  // The parts of a rule value: a literal, a pattern binding or an identity.
  struct Value {
    enum Kind { kLiteral, kBinding, kUsername, kClientId } kind = kLiteral;
    std::string text;  // the literal, or the binding's name
  };
  struct Rule {
    std::vector<std::string> levels;  // "+name", "#" or a literal
    bool has_db = false;
    Value db;
    bool has_measurement = false;
    Value measurement;
    enum Format { kLineProtocol, kJson, kValue } format = kLineProtocol;
    std::string field = "value";
    std::string time_key = "time";
    std::string precision = "ns";
    std::vector<std::pair<std::string, Value>> tags;
    int line = 0;
  };

 private:
  std::vector<Rule> rules_;
};

// Rewrites one line of line protocol: replaces the measurement (if not
// empty) and sets `tags` (replacing tags of the same keys). The rest of the
// line is kept byte for byte. False if the line has no series key.
bool RewriteLineProtocolLine(std::string_view line, std::string_view measurement,
                             const std::vector<std::pair<std::string, std::string>>& tags, std::string* out);

}  // namespace m2mdb::server::mqtt

#endif  // M2MDB_SERVER_MQTT_RULES_H_
